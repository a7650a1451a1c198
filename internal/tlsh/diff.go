package tlsh

import "strings"

// hash is a decoded digest.
type hash struct {
	checksum byte
	lvalue   byte
	q1, q2   byte // 4-bit quartile ratios
	code     [codeSize]byte
}

const hexDigits = "0123456789ABCDEF"

// swapNibbles exists because the tlsh tool prints the header bytes with
// their nibbles exchanged; matching it keeps digests interchangeable.
func swapNibbles(b byte) byte { return b<<4 | b>>4 }

// String renders h as the tlsh tool prints it: header bytes with swapped
// nibbles, then the code bytes from last to first.
func (h hash) String() string {
	var raw [DigestLength / 2]byte
	raw[0] = swapNibbles(h.checksum)
	raw[1] = swapNibbles(h.lvalue)
	raw[2] = h.q1<<4 | h.q2
	for i := 0; i < codeSize; i++ {
		raw[3+i] = h.code[codeSize-1-i]
	}
	var out [DigestLength]byte
	for i, b := range raw {
		out[2*i] = hexDigits[b>>4]
		out[2*i+1] = hexDigits[b&15]
	}
	return string(out[:])
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// parse decodes a digest with or without the "T1" prefix.
func parse(s string) (hash, error) {
	if len(s) == DigestLength+len(VersionPrefix) && strings.EqualFold(s[:2], VersionPrefix) {
		s = s[2:]
	}
	if len(s) != DigestLength {
		return hash{}, ErrInvalidDigest
	}
	var raw [DigestLength / 2]byte
	for i := range raw {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return hash{}, ErrInvalidDigest
		}
		raw[i] = hi<<4 | lo
	}
	var h hash
	h.checksum = swapNibbles(raw[0])
	h.lvalue = swapNibbles(raw[1])
	h.q1 = raw[2] >> 4
	h.q2 = raw[2] & 15
	for i := 0; i < codeSize; i++ {
		h.code[i] = raw[3+codeSize-1-i]
	}
	return h, nil
}

// Valid reports whether s is a well-formed digest (with or without prefix).
func Valid(s string) bool {
	_, err := parse(s)
	return err == nil
}

// Diff returns the TLSH distance between two digests, including the length
// component, as the tlsh tool reports it. 0 means identical digests; larger
// is less similar, with no fixed upper bound.
func Diff(a, b string) (int, error) {
	return diff(a, b, true)
}

// DiffNoLength is Diff without the length component (tlsh -xlen). It suits
// comparing a fragment against a whole file.
func DiffNoLength(a, b string) (int, error) {
	return diff(a, b, false)
}

func diff(a, b string, withLength bool) (int, error) {
	ha, err := parse(a)
	if err != nil {
		return 0, err
	}
	hb, err := parse(b)
	if err != nil {
		return 0, err
	}
	return distance(&ha, &hb, withLength), nil
}

// modDiff is the distance between x and y on a circle of size r, so values
// that wrapped around (e.g. 4-bit ratios) are still close.
func modDiff(x, y, r int) int {
	d := x - y
	if d < 0 {
		d = -d
	}
	if r-d < d {
		return r - d
	}
	return d
}

// pairDist[x][y] is the distance of two code bytes: per 2-bit quartile
// symbol the absolute difference, with opposite extremes (0 vs 3) weighted
// double so they dominate small shifts.
var pairDist = func() (t [256][256]uint8) {
	for x := 0; x < 256; x++ {
		for y := 0; y < 256; y++ {
			var d uint8
			for j := 0; j < 8; j += 2 {
				a, b := int(x>>j&3), int(y>>j&3)
				e := a - b
				if e < 0 {
					e = -e
				}
				if e == 3 {
					e = 6
				}
				d += uint8(e)
			}
			t[x][y] = d
		}
	}
	return t
}()

func distance(a, b *hash, withLength bool) int {
	d := 0
	if withLength {
		l := modDiff(int(a.lvalue), int(b.lvalue), 256)
		if l > 1 {
			l *= 12
		}
		d += l
	}
	for _, q := range [2][2]byte{{a.q1, b.q1}, {a.q2, b.q2}} {
		x := modDiff(int(q[0]), int(q[1]), 16)
		if x > 1 {
			x = (x - 1) * 12
		}
		d += x
	}
	if a.checksum != b.checksum {
		d++
	}
	for i := range a.code {
		d += int(pairDist[a.code[i]][b.code[i]])
	}
	return d
}
