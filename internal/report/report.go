// Package report writes verdicts and sample information for people and
// programs: one file per output format (text, JSON, TSV).
package report

import (
	"fmt"
	"strings"
)

func pct(x, total float64) string {
	if total <= 0 {
		return "0%"
	}
	return fmt.Sprintf("%.0f%%", 100*x/total)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// sanitize keeps hostile strings (names from binaries, labels from
// partners) from writing terminal escapes or breaking line-based formats.
func Sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}
