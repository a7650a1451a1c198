// Package yardstick maps probabilities to the estimative terms of the
// probability yardsticks analysts use, and back, so that kinship can state
// how sure it is in words whose meaning is published.
package yardstick

// Term is one band of a yardstick.
type Term struct {
	Word   string
	Lo, Hi float64 // published probability range
}

// PHIA is the UK Professional Head of Intelligence Assessment probability
// yardstick. Its bands leave deliberate gaps (5-10%, 20-25%, ...); a
// probability in a gap takes the nearer band.
var PHIA = []Term{
	{"remote chance", 0, 0.05},
	{"highly unlikely", 0.10, 0.20},
	{"unlikely", 0.25, 0.35},
	{"realistic possibility", 0.40, 0.50},
	{"likely", 0.55, 0.75},
	{"highly likely", 0.80, 0.90},
	{"almost certain", 0.95, 1},
}

// ICD203 is the US Intelligence Community Directive 203 likelihood scale.
var ICD203 = []Term{
	{"almost no chance", 0, 0.05},
	{"very unlikely", 0.05, 0.20},
	{"unlikely", 0.20, 0.45},
	{"roughly even chance", 0.45, 0.55},
	{"likely", 0.55, 0.80},
	{"very likely", 0.80, 0.95},
	{"almost certain", 0.95, 1},
}

// Word returns the term of scale for probability p.
func Word(scale []Term, p float64) string {
	best, bestD := scale[0].Word, 2.0
	for _, t := range scale {
		if p >= t.Lo && p <= t.Hi {
			return t.Word
		}
		d := t.Lo - p
		if p > t.Hi {
			d = p - t.Hi
		}
		if d < bestD {
			best, bestD = t.Word, d
		}
	}
	return best
}

// Lookup returns the band of a term (case-insensitive) and whether it exists.
func Lookup(scale []Term, word string) (Term, bool) {
	for _, t := range scale {
		if equalFold(t.Word, word) {
			return t, true
		}
	}
	return Term{}, false
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 32
		}
		if 'A' <= y && y <= 'Z' {
			y += 32
		}
		if x != y {
			return false
		}
	}
	return true
}
