//go:build amd64 && !purego

package sketch

import (
	"math/bits"

	"golang.org/x/sys/cpu"
)

// useAVX2 selects the vector kernel; x/sys/cpu also checks that the
// operating system saves the YMM registers.
var useAVX2 = cpu.X86.HasAVX2

// coefs holds the hash coefficients in the layout of minHashKernelAVX2:
// VPMULUDQ reads only the low 32 bits of each 64-bit lane, so a serves as
// its low half al; as has the halves of a swapped, for the cross terms.
var coefs = func() (c coefTable) {
	c.a = mulA
	c.b = addB
	for i := range c.as {
		c.as[i] = bits.RotateLeft64(mulA[i], 32)
	}
	return
}()

// coefTable's field offsets (0, 512, 1024) are fixed in the assembly.
type coefTable struct {
	a, as, b [K]uint64
}

// minHashKernelAVX2 sets sig to the MinHash signature of shingles.
//
//go:noescape
func minHashKernelAVX2(sig *Signature, c *coefTable, shingles []uint64)

// minHashAVX2 is MinHash with 4 hash functions per 256-bit register: AVX2
// has no 64-bit multiply, so each product m*a is built from 32-bit ones.
func minHashAVX2(shingles []uint64) Signature {
	var sig Signature
	minHashKernelAVX2(&sig, &coefs, shingles)
	return sig
}
