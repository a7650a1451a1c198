#!/usr/bin/env bash
# Regenerates vectors.tsv, pairs.tsv and crafted.tsv: the signatures and
# match scores that the reference ssdeep tool (Debian package ssdeep) gives
# for the inputs the Go tests generate. Run it after changing the inputs in
# inputs_test.go.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
pkg=$(dirname "$here")
if ! command -v ssdeep >/dev/null; then
	echo "gen.sh: ssdeep not found; install it with: apt-get install -y ssdeep" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The Go test binary writes the exact input bytes the tests use.
(cd "$pkg" && go test -count=1 -run '^$' . -args -write-inputs "$tmp" >/dev/null)

version=$(ssdeep -V)
cd "$tmp/in"
# -b: bare names, -c: CSV; the first line is ssdeep's header.
ssdeep -s -b -c -- * >"$tmp/all.sig"
{
	echo "# name	signature; from ssdeep $version"
	tail -n +2 "$tmp/all.sig" | sed -E 's/^([^,]*),"(.*)"$/\2\t\1/' | sort
} >"$here/vectors.tsv"

# match scores: "X matches Y (N)" lines, kept for the listed pairs only.
scores() {
	ssdeep -a -k "$1" "$1" | sed -nE 's/^[^:]*:(.*) matches [^:]*:(.*) \(([0-9]+)\)$/\1\t\2\t\3/p'
}
{
	echo "# a	b	score; from ssdeep $version"
	awk -F'\t' 'NR==FNR {want[$1 FS $2]=1; next} ($1 FS $2) in want' \
		"$tmp/pairs.list" <(scores "$tmp/all.sig")
} >"$here/pairs.tsv"

{
	echo "# signature a	signature b	score; from ssdeep $version"
	awk -F'\t' '
		FILENAME==ARGV[1] {want[$1 FS $2]=1; next}
		FILENAME==ARGV[2] {if (FNR > 1) {s=$0; sub(/,"[^"]*"$/, "", s); n=$0; sub(/^.*,"/, "", n); sub(/"$/, "", n); sig[n]=s}; next}
		($1 FS $2) in want {print sig[$1] FS sig[$2] FS $3}
	' "$tmp/crafted.list" "$tmp/crafted.sig" <(scores "$tmp/crafted.sig")
} >"$here/crafted.tsv"

echo "gen.sh: $(grep -vc '^#' "$here/vectors.tsv") vectors, $(grep -vc '^#' "$here/pairs.tsv") pairs, $(grep -vc '^#' "$here/crafted.tsv") crafted pairs"
