// Package sketch turns a function's normalised token n-grams into compact
// signatures: a MinHash vector whose agreement estimates Jaccard similarity,
// and LSH band keys that retrieve candidates without comparing every pair.
//
// The parameters here are part of model.SigVersion: changing a seed, K, the
// band layout or the n-gram hashing makes stored signatures incomparable.
// Signature versions 2 and later keep only the low 16 bits of each value
// (Truncate; b-bit minwise hashing, model.MinHashBits): signatures are
// truncated once finished, so that Similarity and BandKeys, which compare
// values, work on those 16 bits everywhere.
package sketch

import (
	"math/bits"

	"github.com/kinship-dev/kinship/internal/model"
)

// K is the number of MinHash values per function.
const K = model.MinHashK

// Bands and Rows define LSH banding: K = Bands*Rows. With 16 bands of 4
// rows a pair at Jaccard 0.5 is retrieved with probability 0.64, at 0.7
// with 0.98 and at 0.3 with 0.12 (1-(1-s^4)^16); see docs/benchmarks.md for
// the measurement behind the choice.
const (
	Bands = 16
	Rows  = K / Bands
)

// Signature is a MinHash vector.
type Signature = [K]uint32

// coefficients for K multiply-add hash functions, derived once from a fixed
// seed with splitmix64 so they never change between builds.
var mulA, addB = func() (a, b [K]uint64) {
	s := uint64(0x6b696e7368697031) // "kinship1"
	for i := 0; i < K; i++ {
		a[i] = splitmix(&s) | 1
		b[i] = splitmix(&s)
	}
	return
}()

func splitmix(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Mix is a strong 64-bit finaliser used to hash tokens and n-grams.
func Mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// Combine folds v into the running hash h (order-sensitive).
func Combine(h, v uint64) uint64 {
	return Mix(h ^ (v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)))
}

// MinHash computes the MinHash signature of a set of shingle hashes.
// Duplicates are harmless. An empty set gives all-ones values, which match
// nothing but another empty set.
func MinHash(shingles []uint64) Signature {
	if useAVX2 {
		return minHashAVX2(shingles)
	}
	return minHashGo(shingles)
}

// minHashGo is the portable MinHash, and the reference that the vector
// kernel is tested against.
func minHashGo(shingles []uint64) Signature {
	var sig Signature
	for i := range sig {
		sig[i] = ^uint32(0)
	}
	// Hash functions in the outer loop: each minimum then stays in a
	// register across the shingles, where the other order loads and
	// stores all K of them for every shingle. Shingles are mixed once,
	// in blocks that stay in the processor's nearest cache.
	var mixed [256]uint64
	for len(shingles) > 0 {
		m := mixed[:min(len(shingles), len(mixed))]
		for j := range m {
			m[j] = Mix(shingles[j])
		}
		shingles = shingles[len(m):]
		for i := range sig {
			// Four running minima break the dependency from one
			// shingle's minimum to the next.
			a, b := mulA[i], addB[i]
			v0, v1, v2, v3 := sig[i], sig[i], sig[i], sig[i]
			j := 0
			for ; j+3 < len(m); j += 4 {
				v0 = min(v0, uint32((m[j]*a+b)>>32))
				v1 = min(v1, uint32((m[j+1]*a+b)>>32))
				v2 = min(v2, uint32((m[j+2]*a+b)>>32))
				v3 = min(v3, uint32((m[j+3]*a+b)>>32))
			}
			for ; j < len(m); j++ {
				v0 = min(v0, uint32((m[j]*a+b)>>32))
			}
			sig[i] = min(v0, v1, v2, v3)
		}
	}
	return sig
}

// Union makes a the signature of the union of the sets behind a and b:
// each value is a minimum, so the union's is the smaller of the two.
func Union(a, b *Signature) {
	for i := range a {
		a[i] = min(a[i], b[i])
	}
}

// Truncate keeps the low bits of each value of sig (b-bit minwise hashing:
// model.MinHashBits of the signature version). It is applied to finished
// signatures only: the low bits of a minimum are not the minimum of the
// low bits, so unions (Union) are taken before.
func Truncate(sig *Signature, bits int) {
	if bits >= 32 {
		return
	}
	mask := uint32(1)<<bits - 1
	for i := range sig {
		sig[i] &= mask
	}
}

// Similarity estimates the Jaccard similarity of the sets behind a and b.
func Similarity(a, b *Signature) float64 {
	n := 0
	for i := 0; i < K; i++ {
		if a[i] == b[i] {
			n++
		}
	}
	return float64(n) / K
}

// BandKeys returns one 64-bit key per band. The band index is mixed in so
// equal values in different bands do not collide.
func BandKeys(sig *Signature) [Bands]uint64 {
	var keys [Bands]uint64
	for b := 0; b < Bands; b++ {
		h := uint64(b) * 0x9e3779b97f4a7c15
		for r := 0; r < Rows; r++ {
			h = Combine(h, uint64(sig[b*Rows+r]))
		}
		keys[b] = h
	}
	return keys
}

// Prob is the chance that a pair at Jaccard s shares at least one band.
func Prob(s float64) float64 {
	p := 1.0
	for r := 0; r < Rows; r++ {
		p *= s
	}
	q := 1.0
	for b := 0; b < Bands; b++ {
		q *= 1 - p
	}
	return 1 - q
}

// Hamming counts differing bits; used for cheap diagnostics.
func Hamming(a, b uint64) int { return bits.OnesCount64(a ^ b) }
