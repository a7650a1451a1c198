// Package tlsh computes and compares TLSH (Trend Micro Locality Sensitive
// Hash) digests, which kinship uses to score how similar two binaries are.
//
// Digests use the 128-bucket, 1-byte-checksum variant and are printed the way
// Debian's tlsh tool (TLSH 3.4.4) prints them: 70 upper-case hex digits with
// no version prefix. [WithVersion] adds the "T1" prefix that newer TLSH
// releases print; [Diff] accepts either form.
package tlsh

import (
	"errors"
	"io"
	"math"
	"slices"
)

const (
	// MinLength is the smallest input that yields a digest. Shorter inputs
	// give too few triplets for the bucket quartiles to mean anything.
	MinLength = 256

	// MaxLength is the largest input that yields a digest: the length is
	// kept as a 32-bit value when it is folded into the digest.
	MaxLength = math.MaxUint32

	// DigestLength is the length of a digest string without version prefix.
	DigestLength = 2 * (1 + 1 + 1 + codeSize)

	// VersionPrefix marks a digest as the current TLSH version in the form
	// newer TLSH tools print.
	VersionPrefix = "T1"

	windowSize = 5
	buckets    = 128 // effective buckets; the rest of the 256 are ignored
	codeSize   = buckets / 4
)

var (
	// ErrTooShort is returned for inputs shorter than MinLength.
	ErrTooShort = errors.New("tlsh: input shorter than 256 bytes")
	// ErrTooLong is returned for inputs longer than MaxLength.
	ErrTooLong = errors.New("tlsh: input longer than 4 GiB")
	// ErrTooLittleVariance is returned when too few buckets are populated
	// for the quartile encoding to carry information (e.g. runs of one byte).
	ErrTooLittleVariance = errors.New("tlsh: input has too little variance")
	// ErrInvalidDigest is returned by Diff for malformed digest strings.
	ErrInvalidDigest = errors.New("tlsh: invalid digest")
)

// salted[s][x] holds the first two Pearson rounds, pearson[pearson[salt]^x],
// for each salt, which saves a lookup per triplet.
var salted [6][256]byte

// Indices into salted of the salts 2, 3, 5, 7, 11 and 13: one for each of
// the six triplets taken from every 5-byte window.
const (
	iSalt2 = iota
	iSalt3
	iSalt5
	iSalt7
	iSalt11
	iSalt13
)

var checksumFirst [256]byte // the same for the checksum, whose salt is 0

func init() {
	salts := [6]byte{2, 3, 5, 7, 11, 13}
	for i, s := range salts {
		for x := 0; x < 256; x++ {
			salted[i][x] = pearson[pearson[s]^byte(x)]
		}
	}
	for x := 0; x < 256; x++ {
		checksumFirst[x] = pearson[pearson[0]^byte(x)]
	}
}

// Digest is a streaming TLSH computation. The zero value is ready to use.
type Digest struct {
	// counts[x] counts the triplets whose last Pearson round is
	// pearson[x]. Write skips that last lookup, one per triplet; sum applies
	// it once per bucket instead.
	counts   [256]uint32
	n        uint64 // bytes written
	w        [4]byte
	checksum byte
}

// New returns an empty streaming digest.
func New() *Digest { return &Digest{} }

// Reset discards all written data.
func (d *Digest) Reset() { *d = Digest{} }

// Write adds p to the digest. It never returns an error.
func (d *Digest) Write(p []byte) (int, error) {
	written := len(p)
	// The first four bytes only fill the window.
	for d.n < windowSize-1 && len(p) > 0 {
		d.w[3], d.w[2], d.w[1], d.w[0] = d.w[2], d.w[1], d.w[0], p[0]
		d.n++
		p = p[1:]
	}
	if len(p) == 0 {
		return written, nil
	}
	// w1 is the byte before the current one, w4 the one four back. They and
	// cs are held as uint so the compiler neither re-zero-extends the
	// results of XORs nor bounds-checks indices built from them; XORs of
	// values below 256 stay below 256.
	w1, w2, w3, w4 := uint(d.w[0]), uint(d.w[1]), uint(d.w[2]), uint(d.w[3])
	cs := uint(d.checksum)
	c := &d.counts
	for _, b := range p {
		a := uint(b)
		cs = uint(pearson[uint(pearson[uint(checksumFirst[a])^w1])^cs])
		c[uint(pearson[uint(salted[iSalt2][a])^w1])^w2]++
		c[uint(pearson[uint(salted[iSalt3][a])^w1])^w3]++
		c[uint(pearson[uint(salted[iSalt5][a])^w2])^w3]++
		c[uint(pearson[uint(salted[iSalt7][a])^w2])^w4]++
		c[uint(pearson[uint(salted[iSalt11][a])^w1])^w4]++
		c[uint(pearson[uint(salted[iSalt13][a])^w3])^w4]++
		// The compiler cannot see through the loop that the older window
		// bytes stay below 256; the conversions tell it and cost nothing.
		w4, w3, w2, w1 = uint(byte(w3)), uint(byte(w2)), uint(byte(w1)), a
	}
	d.w = [4]byte{byte(w1), byte(w2), byte(w3), byte(w4)}
	d.checksum = byte(cs)
	d.n += uint64(len(p))
	return written, nil
}

// Len returns the number of bytes written so far.
func (d *Digest) Len() uint64 { return d.n }

// Sum returns the digest of the data written so far, in the form the tlsh
// tool prints. It does not change the state, so writing may continue.
func (d *Digest) Sum() (string, error) {
	h, err := d.sum()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (d *Digest) sum() (hash, error) {
	if d.n < MinLength {
		return hash{}, ErrTooShort
	}
	if d.n > MaxLength {
		return hash{}, ErrTooLong
	}
	var counts [256]uint32
	for x, n := range d.counts {
		counts[pearson[x]] = n
	}
	var sorted [buckets]uint32
	copy(sorted[:], counts[:buckets])
	slices.Sort(sorted[:])
	q1, q2, q3 := sorted[buckets/4-1], sorted[buckets/2-1], sorted[buckets-buckets/4-1]
	// More than half the buckets must be populated, otherwise the code is
	// dominated by ties and similarity scores become meaningless.
	nonzero := 0
	for _, v := range counts[:buckets] {
		if v > 0 {
			nonzero++
		}
	}
	if nonzero <= buckets/2 || q3 == 0 {
		return hash{}, ErrTooLittleVariance
	}
	var h hash
	for i := 0; i < codeSize; i++ {
		var b byte
		for j := 0; j < 4; j++ {
			k := counts[4*i+j]
			switch {
			case k > q3:
				b |= 3 << (2 * j)
			case k > q2:
				b |= 2 << (2 * j)
			case k > q1:
				b |= 1 << (2 * j)
			}
		}
		h.code[i] = b
	}
	h.checksum = d.checksum
	h.lvalue = lvalue(uint32(d.n))
	h.q1 = qratio(q1, q3)
	h.q2 = qratio(q2, q3)
	return h, nil
}

// qratio encodes a quartile relative to the third quartile in 4 bits. The
// single-precision arithmetic and 32-bit product are kept as they are so
// that digests of large inputs agree with other TLSH producers.
func qratio(q, q3 uint32) byte {
	r := float32(q*100) / float32(q3)
	return byte(uint32(r) % 16)
}

// lvalue encodes the input length on a logarithmic scale in one byte, with
// finer steps for larger inputs.
func lvalue(n uint32) byte {
	const (
		log15 = 0.4054651
		log13 = 0.26236426
		log11 = 0.095310180
	)
	// The logarithm is taken in single precision; near step boundaries
	// double precision would pick a different step.
	l := float64(float32(math.Log(float64(float32(n)))))
	var i int
	switch {
	case n <= 656:
		i = int(math.Floor(l / log15))
	case n <= 3199:
		i = int(math.Floor(l/log13 - 8.72777))
	default:
		i = int(math.Floor(l/log11 - 62.5472))
	}
	return byte(i)
}

// Hash returns the TLSH digest of data as the tlsh tool prints it.
func Hash(data []byte) (string, error) {
	var d Digest
	d.Write(data)
	return d.Sum()
}

// HashReader returns the TLSH digest of everything read from r. Memory use
// is constant regardless of the input size.
func HashReader(r io.Reader) (string, error) {
	var d Digest
	buf := make([]byte, 64*1024)
	if _, err := io.CopyBuffer(&d, r, buf); err != nil {
		return "", err
	}
	return d.Sum()
}

// WithVersion returns digest with the "T1" version prefix that newer TLSH
// tools print. A digest that already has it is returned unchanged.
func WithVersion(digest string) string {
	if len(digest) >= 2 && (digest[0] == 'T' || digest[0] == 't') {
		return digest // hex digits never start with T
	}
	return VersionPrefix + digest
}
