#!/usr/bin/env bash
# Regenerates vectors.tsv and pairs.tsv: the digests and distances that the
# reference tlsh tool (Debian package tlsh-tools) gives for the inputs the
# Go tests generate. Run it after changing the inputs in inputs_test.go.
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
pkg=$(dirname "$here")
if ! command -v tlsh >/dev/null; then
	echo "gen.sh: tlsh not found; install it with: apt-get install -y tlsh-tools" >&2
	exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The Go test binary writes the exact input bytes the tests use.
(cd "$pkg" && go test -count=1 -run '^$' . -args -write-inputs "$tmp/in" >/dev/null)

version=$(tlsh -version)
{
	echo "# name	digest (or the reason tlsh gives none); from tlsh $version"
	for f in "$tmp"/in/*; do
		name=$(basename "$f")
		[ "$name" = pairs.list ] && continue
		out=$(tlsh -f "$f" 2>"$tmp/err" | cut -f1)
		if [ -n "$out" ]; then
			printf '%s\t%s\n' "$name" "$out"
		elif grep -q 'too small' "$tmp/err"; then
			printf '%s\ttoo-short\n' "$name"
		elif grep -q 'cannot hash' "$tmp/err"; then
			printf '%s\ttoo-little-variance\n' "$name"
		else
			echo "gen.sh: unexpected tlsh output for $name: $(cat "$tmp/err")" >&2
			exit 1
		fi
	done
} >"$here/vectors.tsv"

{
	echo "# a	b	distance	distance without length (-xlen); from tlsh $version"
	while IFS=$'\t' read -r a b; do
		d=$(tlsh -c "$tmp/in/$a" -f "$tmp/in/$b" | awk '{print $1}')
		x=$(tlsh -c "$tmp/in/$a" -f "$tmp/in/$b" -xlen | awk '{print $1}')
		printf '%s\t%s\t%s\t%s\n' "$a" "$b" "$d" "$x"
	done <"$tmp/in/pairs.list"
} >"$here/pairs.tsv"

echo "gen.sh: $(grep -vc '^#' "$here/vectors.tsv") vectors, $(grep -vc '^#' "$here/pairs.tsv") pairs"
