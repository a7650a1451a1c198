// Package kinship holds what the whole module shares at its root: the
// embedded demonstration collection used by `kinship demo`.
package kinship

import "embed"

// Fixtures is the small labelled collection of C programs built by
// testdata/fixtures/build.sh (sources in testdata/fixtures/src).
//
//go:embed testdata/fixtures/bin testdata/fixtures/labels.tsv testdata/fixtures/common.txt testdata/fixtures/expected.tsv
var Fixtures embed.FS

// FixturesRoot is the folder inside Fixtures that labels.tsv paths are relative to.
const FixturesRoot = "testdata/fixtures"
