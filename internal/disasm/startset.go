package disasm

import "math/bits"

// startSet is a set of byte offsets with fast "next member" queries: a
// bitmap with two summary levels, so a query costs a few word scans
// however sparse the set. Discovery asks for the next known start of every
// function in every round; a sorted list would cost time proportional to
// all starts each round, which a file with a long call chain (one new
// function per round) turns into quadratic time.
type startSet struct {
	l0 []uint64 // bit per offset
	l1 []uint64 // bit per non-zero l0 word
	l2 []uint64 // bit per non-zero l1 word
}

func newStartSet(n int) startSet {
	n0 := (n + 63) / 64
	n1 := (n0 + 63) / 64
	return startSet{l0: make([]uint64, n0), l1: make([]uint64, n1), l2: make([]uint64, (n1+63)/64)}
}

func (s *startSet) has(off uint64) bool {
	i := off >> 6
	return i < uint64(len(s.l0)) && s.l0[i]&(1<<(off&63)) != 0
}

// add inserts off and reports whether it was new.
func (s *startSet) add(off uint64) bool {
	i := off >> 6
	if i >= uint64(len(s.l0)) || s.l0[i]&(1<<(off&63)) != 0 {
		return false
	}
	s.l0[i] |= 1 << (off & 63)
	s.l1[i>>6] |= 1 << (i & 63)
	s.l2[i>>12] |= 1 << ((i >> 6) & 63)
	return true
}

// next returns the smallest member >= off.
func (s *startSet) next(off uint64) (uint64, bool) {
	i := off >> 6
	if i >= uint64(len(s.l0)) {
		return 0, false
	}
	if w := s.l0[i] >> (off & 63); w != 0 {
		return off + uint64(bits.TrailingZeros64(w)), true
	}
	j, ok := s.nextWord(i + 1)
	if !ok {
		return 0, false
	}
	return j<<6 + uint64(bits.TrailingZeros64(s.l0[j])), true
}

// nextWord returns the first non-zero l0 word at index >= i.
func (s *startSet) nextWord(i uint64) (uint64, bool) {
	k := i >> 6
	if k >= uint64(len(s.l1)) {
		return 0, false
	}
	if w := s.l1[k] >> (i & 63); w != 0 {
		return i + uint64(bits.TrailingZeros64(w)), true
	}
	// The first non-zero l1 word after k, through l2.
	k++
	for q := k >> 6; q < uint64(len(s.l2)); q++ {
		w := s.l2[q]
		if q == k>>6 {
			w &= ^uint64(0) << (k & 63)
		}
		if w != 0 {
			m := q<<6 + uint64(bits.TrailingZeros64(w))
			return m<<6 + uint64(bits.TrailingZeros64(s.l1[m])), true
		}
	}
	return 0, false
}

// each calls fn for every member in increasing order.
func (s *startSet) each(fn func(off uint64)) {
	for i, w := range s.l0 {
		for w != 0 {
			fn(uint64(i)<<6 + uint64(bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}
