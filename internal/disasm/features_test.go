package disasm

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/kinship-dev/kinship/internal/sketch"
)

func TestDedupShingles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := &walker{}
	for _, n := range []int{0, 1, 7, 8, 9, 100, 1000, 5000} {
		in := make([]uint64, n)
		for i := range in {
			in[i] = r.Uint64N(uint64(n/2 + 1)) // many repeats, and zeros
		}
		want := slices.Clone(in)
		slices.Sort(want)
		want = slices.Compact(want)
		w.shingles = slices.Clone(in)
		got := slices.Clone(w.dedupShingles())
		if n >= 8 {
			if len(got) != len(want) {
				t.Fatalf("n=%d: %d distinct, want %d", n, len(got), len(want))
			}
		}
		sg := sketch.MinHash(got)
		if sw := sketch.MinHash(in); sg != sw {
			t.Fatalf("n=%d: signature changed by deduplication", n)
		}
		slices.Sort(got)
		if n >= 8 && !slices.Equal(got, want) {
			t.Fatalf("n=%d: different set", n)
		}
	}
}
