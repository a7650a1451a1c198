package sketch

import (
	"math"
	"testing"
)

func set(lo, hi uint64) []uint64 {
	var s []uint64
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

// The estimate must track true Jaccard within MinHash's sampling error.
func TestSimilarityTracksJaccard(t *testing.T) {
	cases := []struct {
		a, b []uint64
		want float64
	}{
		{set(0, 1000), set(0, 1000), 1},
		{set(0, 1000), set(500, 1500), 500.0 / 1500},
		{set(0, 1000), set(100, 1100), 900.0 / 1100},
		{set(0, 1000), set(5000, 6000), 0},
	}
	for _, c := range cases {
		a, b := MinHash(c.a), MinHash(c.b)
		got := Similarity(&a, &b)
		if math.Abs(got-c.want) > 0.15 {
			t.Errorf("similarity = %.3f, want %.3f", got, c.want)
		}
	}
}

func TestDeterministicAndOrderFree(t *testing.T) {
	a := MinHash([]uint64{1, 2, 3, 4, 5})
	b := MinHash([]uint64{5, 4, 3, 2, 1, 1})
	if a != b {
		t.Fatal("MinHash depends on order or duplicates")
	}
	// Golden value: a change here changes model.SigVersion.
	if a[0] != MinHash([]uint64{3, 1, 2, 5, 4})[0] {
		t.Fatal("not deterministic")
	}
}

func TestBandKeysShareOnEqualBand(t *testing.T) {
	a := MinHash(set(0, 50))
	b := a
	b[0]++ // disturb band 0 only
	ka, kb := BandKeys(&a), BandKeys(&b)
	if ka[0] == kb[0] {
		t.Error("band 0 should differ")
	}
	for i := 1; i < Bands; i++ {
		if ka[i] != kb[i] {
			t.Errorf("band %d differs", i)
		}
	}
}

func TestProb(t *testing.T) {
	if p := Prob(0.5); math.Abs(p-0.644) > 0.01 {
		t.Errorf("Prob(0.5) = %.3f", p)
	}
}

func BenchmarkMinHash200(b *testing.B) {
	s := set(0, 200)
	for i := 0; i < b.N; i++ {
		MinHash(s)
	}
}

func TestTruncateUnion(t *testing.T) {
	a := MinHash([]uint64{1, 2, 3})
	b := MinHash([]uint64{3, 4, 5})
	u := a
	Union(&u, &b)
	if u != MinHash([]uint64{1, 2, 3, 4, 5}) {
		t.Error("Union is not the signature of the union")
	}
	Truncate(&u, 16)
	for _, v := range u {
		if v > 0xffff {
			t.Fatalf("value %#x after Truncate(16)", v)
		}
	}
	c := a
	Truncate(&c, 32)
	if c != a {
		t.Error("Truncate(32) changed values")
	}
}

// TestMinHashReference holds MinHash to its definition, so that a faster
// loop never changes a stored signature.
func TestMinHashReference(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 255, 256, 257, 1000} {
		s := set(uint64(n)*7, uint64(n)*8)
		var want Signature
		for i := range want {
			want[i] = ^uint32(0)
		}
		for _, x := range s {
			x = Mix(x)
			for i := range want {
				want[i] = min(want[i], uint32((x*mulA[i]+addB[i])>>32))
			}
		}
		if got := MinHash(s); got != want {
			t.Fatalf("%d shingles: signature differs from the definition", n)
		}
	}
}
