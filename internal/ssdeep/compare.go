package ssdeep

import (
	"errors"
	"math"
	"math/bits"
	"strings"
)

// ErrInvalidDigest is returned by Compare for malformed signatures.
var ErrInvalidDigest = errors.New("ssdeep: invalid signature")

// signature is a parsed "blocksize:hash1:hash2" string whose hash parts have
// had runs of more than three identical characters cut to three.
type signature struct {
	blockSize uint64
	h1, h2    [spamSumLength]byte
	n1, n2    int // lengths of h1 and h2
}

// parse accepts "blocksize:hash1:hash2" optionally followed by
// ",filename" as in ssdeep's own output files.
func parse(s string, sig *signature) error {
	if i := strings.IndexByte(s, ','); i >= 0 {
		s = s[:i]
	}
	bs, rest, ok := strings.Cut(s, ":")
	if !ok || bs == "" || len(bs) > 20 {
		return ErrInvalidDigest
	}
	for i := 0; i < len(bs); i++ {
		c := bs[i]
		if c < '0' || c > '9' {
			return ErrInvalidDigest
		}
		d := uint64(c - '0')
		if sig.blockSize > (math.MaxUint64-d)/10 {
			return ErrInvalidDigest
		}
		sig.blockSize = sig.blockSize*10 + d
	}
	p1, p2, ok := strings.Cut(rest, ":")
	if !ok || !validPart(p1) || !validPart(p2) {
		return ErrInvalidDigest
	}
	sig.n1 = eliminateSequences(&sig.h1, p1)
	sig.n2 = eliminateSequences(&sig.h2, p2)
	return nil
}

func validPart(p string) bool {
	if len(p) > spamSumLength {
		return false
	}
	for i := 0; i < len(p); i++ {
		if b64Index[p[i]] == invalidChar {
			return false
		}
	}
	return true
}

// eliminateSequences copies p to out with runs of a repeated character cut
// to three, and returns the resulting length. Long runs come from
// repetitive input such as padding and would otherwise make unrelated
// inputs look alike.
func eliminateSequences(out *[spamSumLength]byte, p string) int {
	n := 0
	for i := 0; i < len(p) && n < len(out); i++ {
		if i >= 3 && p[i] == p[i-1] && p[i] == p[i-2] && p[i] == p[i-3] {
			continue
		}
		out[n] = p[i]
		n++
	}
	return n
}

// Valid reports whether s is a well-formed signature.
func Valid(s string) bool {
	var sig signature
	return parse(s, &sig) == nil
}

// Compare returns the match score of two signatures, from 0 (no
// similarity) to 100 (identical or nearly so), as ssdeep reports it.
// Signatures whose block sizes are neither equal nor a factor of two apart
// cannot be compared and score 0.
func Compare(a, b string) (int, error) {
	var s1, s2 signature
	if err := parse(a, &s1); err != nil {
		return 0, err
	}
	if err := parse(b, &s2); err != nil {
		return 0, err
	}
	return compare(&s1, &s2), nil
}

func compare(s1, s2 *signature) int {
	b1, b2 := s1.blockSize, s2.blockSize
	if b1 != b2 &&
		(b1 > math.MaxUint64/2 || b1*2 != b2) &&
		(b1%2 == 1 || b1/2 != b2) {
		return 0
	}
	p11, p12 := s1.h1[:s1.n1], s1.h2[:s1.n2]
	p21, p22 := s2.h1[:s2.n1], s2.h2[:s2.n2]
	if b1 == b2 && string(p11) == string(p21) && string(p12) == string(p22) {
		return 100
	}
	// Each signature covers its block size and twice that; compare the
	// parts that share a block size.
	if b1 <= math.MaxUint64/2 {
		switch {
		case b1 == b2:
			return max(scoreStrings(p11, p21, b1), scoreStrings(p12, p22, b1*2))
		case b1*2 == b2:
			return scoreStrings(p21, p12, b2)
		default:
			return scoreStrings(p11, p22, b1)
		}
	}
	switch {
	case b1 == b2:
		return scoreStrings(p11, p21, b1)
	case b1%2 == 0 && b1/2 == b2:
		return scoreStrings(p11, p22, b1)
	}
	return 0
}

// scoreStrings scores two hash parts made with the same block size.
func scoreStrings(s1, s2 []byte, blockSize uint64) int {
	// Without a common run as long as the rolling window the inputs share
	// no trigger context, and any edit-distance similarity is chance.
	if !hasCommonSubstring(s1, s2) {
		return 0
	}
	// Scale the edit distance by the lengths so the score measures the
	// proportion that changed, then map it onto 0-100 (100 = identical).
	score := uint64(editDistance(s1, s2)) * spamSumLength / uint64(len(s1)+len(s2))
	score = 100 * score / spamSumLength
	if score >= 100 {
		return 0
	}
	score = 100 - score
	// Small block sizes give few, short pieces; cap the score so short
	// inputs do not claim more similarity than they can support.
	if blockSize < (99+rollingWindow)/rollingWindow*minBlockSize {
		limit := blockSize / minBlockSize * uint64(min(len(s1), len(s2)))
		if score > limit {
			score = limit
		}
	}
	return int(score)
}

// b64Index maps each signature character to its 6-bit value, and other
// bytes to invalidChar.
var b64Index = func() (t [256]byte) {
	for i := range t {
		t[i] = invalidChar
	}
	for i := 0; i < len(b64); i++ {
		t[b64[i]] = byte(i)
	}
	return t
}()

const invalidChar = 0xff

// hasCommonSubstring reports whether s1 and s2 share a substring of
// rollingWindow characters. Each window is packed into a 42-bit key; a
// 4096-bit filter of the keys of s1 spares most key comparisons.
func hasCommonSubstring(s1, s2 []byte) bool {
	if len(s1) < rollingWindow || len(s2) < rollingWindow {
		return false
	}
	const keyMask = 1<<(6*rollingWindow) - 1
	slot := func(k uint64) uint64 { return k * 0x9e3779b97f4a7c15 >> 52 }
	var keys [spamSumLength]uint64
	var filter [64]uint64
	n := 0
	var k uint64
	for i, c := range s1 {
		k = (k<<6 | uint64(b64Index[c])) & keyMask
		if i >= rollingWindow-1 && n < len(keys) {
			keys[n] = k
			n++
			f := slot(k)
			filter[f>>6&63] |= 1 << (f & 63)
		}
	}
	k = 0
	for j, c := range s2 {
		k = (k<<6 | uint64(b64Index[c])) & keyMask
		if j < rollingWindow-1 {
			continue
		}
		if f := slot(k); filter[f>>6&63]&(1<<(f&63)) == 0 {
			continue
		}
		for _, x := range keys[:n] {
			if x == k {
				return true
			}
		}
	}
	return false
}

// editDistance is the Levenshtein distance with insertions and deletions
// costing 1 and substitutions 2. A substitution then costs as much as a
// deletion plus an insertion, so the distance is len(s1)+len(s2) minus twice
// the longest common subsequence, which is computed bit-parallel: s1 has
// at most 64 characters, so one machine word holds a row of the table.
func editDistance(s1, s2 []byte) int {
	var match [64]uint64 // match[c]: bit i set where s1[i] is character c
	for i, c := range s1 {
		match[b64Index[c]&63] |= 1 << uint(i)
	}
	v := ^uint64(0)
	for _, c := range s2 {
		u := v & match[b64Index[c]&63]
		v = (v + u) | (v - u)
	}
	lcs := 0
	if len(s1) > 0 {
		lcs = bits.OnesCount64(^v & (^uint64(0) >> uint(64-len(s1))))
	}
	return len(s1) + len(s2) - 2*lcs
}
