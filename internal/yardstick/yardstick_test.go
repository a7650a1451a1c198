package yardstick

import "testing"

func TestWord(t *testing.T) {
	cases := []struct {
		p         float64
		phia, icd string
	}{
		{0.01, "remote chance", "almost no chance"},
		{0.07, "remote chance", "very unlikely"},
		{0.5, "realistic possibility", "roughly even chance"},
		{0.6, "likely", "likely"},
		{0.78, "highly likely", "likely"},
		{0.85, "highly likely", "very likely"},
		{0.93, "almost certain", "very likely"},
		{0.99, "almost certain", "almost certain"},
	}
	for _, c := range cases {
		if got := Word(PHIA, c.p); got != c.phia {
			t.Errorf("PHIA(%v) = %q, want %q", c.p, got, c.phia)
		}
		if got := Word(ICD203, c.p); got != c.icd {
			t.Errorf("ICD203(%v) = %q, want %q", c.p, got, c.icd)
		}
	}
	// "highly likely" and "almost certain" must never be the same band.
	hl, _ := Lookup(PHIA, "Highly Likely")
	ac, _ := Lookup(PHIA, "almost certain")
	if hl.Hi >= ac.Lo {
		t.Error("PHIA bands overlap")
	}
}
