package disasm

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestStartSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 63, 64, 65, 4096, 4097, 300000} {
		s := newStartSet(n)
		var ref []uint64
		for range min(n, 500) {
			off := uint64(rng.IntN(n))
			if s.add(off) == slices.Contains(ref, off) {
				t.Fatalf("n=%d add(%d) disagrees", n, off)
			}
			if !slices.Contains(ref, off) {
				ref = append(ref, off)
			}
		}
		slices.Sort(ref)
		for range 2000 {
			off := uint64(rng.IntN(n + 100))
			got, ok := s.next(off)
			i, _ := slices.BinarySearch(ref, off)
			if want := i < len(ref); ok != want || ok && got != ref[i] {
				t.Fatalf("n=%d next(%d) = %d,%v", n, off, got, ok)
			}
			if s.has(off) != slices.Contains(ref, off) {
				t.Fatalf("n=%d has(%d)", n, off)
			}
		}
		var all []uint64
		s.each(func(o uint64) { all = append(all, o) })
		if !slices.Equal(all, ref) {
			t.Fatalf("n=%d each", n)
		}
	}
}

// A call chain needs one discovery round per function; the rounds must not
// cost time proportional to all functions each.
func TestLongCallChain(t *testing.T) {
	f := chain(20000)
	t0 := time.Now()
	r, err := Analyze(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Funcs) != 20000 {
		t.Errorf("%d functions", len(r.Funcs))
	}
	t.Logf("20000 rounds in %v", time.Since(t0))
}
