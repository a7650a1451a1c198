//go:build !amd64 || purego

package sketch

// useAVX2 is false where there is no vector kernel.
const useAVX2 = false

// minHashAVX2 stands in for the vector kernel so that tests comparing the
// two paths build everywhere.
func minHashAVX2(shingles []uint64) Signature { return minHashGo(shingles) }
