package sketch

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// TestMinHashKernel holds the vector kernel to the portable loop on random
// sets whose lengths straddle the kernel's block of 256 shingles.
func TestMinHashKernel(t *testing.T) {
	t.Logf("useAVX2 = %v", useAVX2)
	r := rand.New(rand.NewPCG(1, 2))
	lengths := []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65,
		100, 200, 255, 256, 257, 511, 512, 513, 1000, 4099}
	for range 200 {
		lengths = append(lengths, r.IntN(600))
	}
	for _, n := range lengths {
		s := make([]uint64, n)
		for j := range s {
			switch r.IntN(4) {
			case 0: // small values, as in the tests above
				s[j] = uint64(r.IntN(1000))
			case 1: // extremes of the range
				s[j] = ^uint64(r.IntN(4))
			default:
				s[j] = r.Uint64()
			}
		}
		if got, want := minHashAVX2(s), minHashGo(s); got != want {
			t.Fatalf("%d shingles: kernel %v, want %v", n, got, want)
		}
	}
}

// FuzzMinHashKernel compares the two paths on arbitrary shingle sets.
func FuzzMinHashKernel(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Add(make([]byte, 8*257))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := make([]uint64, len(data)/8)
		for j := range s {
			s[j] = binary.LittleEndian.Uint64(data[8*j:])
		}
		if got, want := minHashAVX2(s), minHashGo(s); got != want {
			t.Fatalf("%d shingles: kernel %v, want %v", len(s), got, want)
		}
	})
}

// benchSet is a set of n distinct shingles such as the n-gram hashing
// produces.
func benchSet(n int) []uint64 {
	r := rand.New(rand.NewPCG(3, uint64(n)))
	s := make([]uint64, n)
	for j := range s {
		s[j] = r.Uint64()
	}
	return s
}

// BenchmarkMinHashPaths alternates the two paths at each size, so that
// both see the same machine state.
func BenchmarkMinHashPaths(b *testing.B) {
	for _, n := range []int{20, 100, 200, 1000} {
		s := benchSet(n)
		b.Run("n="+itoa(n)+"/go", func(b *testing.B) {
			for b.Loop() {
				minHashGo(s)
			}
		})
		b.Run("n="+itoa(n)+"/avx2", func(b *testing.B) {
			for b.Loop() {
				minHashAVX2(s)
			}
		})
	}
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(buf[i:])
		}
	}
}
