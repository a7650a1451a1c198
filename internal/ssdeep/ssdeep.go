// Package ssdeep computes and compares ssdeep context-triggered piecewise
// hashes (CTPH), which kinship uses to score how similar two binaries are.
//
// Signatures have the form "blocksize:hash1:hash2" and are identical to
// what the ssdeep tool (2.14) prints; Compare gives the same 0-100 match
// scores.
package ssdeep

import (
	"errors"
	"io"
	"math/bits"
	"strconv"
)

const (
	rollingWindow  = 7
	minBlockSize   = 3
	spamSumLength  = 64 // maximum length of the first hash part
	numBlockHashes = 31

	// The piecewise hash is FNV-1 reduced to its low 6 bits, because only
	// those select the base64 character that is emitted. Multiplication and
	// XOR never carry information downwards, so the reduction is exact.
	hashInit  = 0x28021967 & 63
	hashPrime = 0x01000193 & 63

	b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
)

// ErrTooLong is returned for inputs so long that no block size can
// summarise them (more than about 192 GiB).
var ErrTooLong = errors.New("ssdeep: input too long")

func blockSize(i int) uint64 { return minBlockSize << uint(i) }

// The piecewise hashes of all block sizes are updated for every byte, so
// they are kept as 16-bit lanes, four to a word, and updated together: a
// lane holds a value below 64, so multiplying the word by the prime never
// carries into the next lane.
const (
	laneOne  = 0x0001000100010001
	laneMask = 0x003f * laneOne
	// Words for 31 lanes, plus two spare words so that three consecutive
	// words from any live one can be updated without a bounds check.
	numWords = (numBlockHashes+3)/4 + 2
)

type lanes [numWords]uint64

func (w *lanes) get(i int) uint8 {
	return uint8(w[i>>2] >> (16 * (i & 3)) & 63)
}

func (w *lanes) set(i int, v uint8) {
	sh := 16 * (i & 3)
	w[i>>2] = w[i>>2]&^(0xffff<<sh) | uint64(v)<<sh
}

func updateLanes(w, cc uint64) uint64 { return (w*hashPrime ^ cc) & laneMask }

// blockHash is the signature being built for one block size.
type blockHash struct {
	digest     [spamSumLength]byte
	dindex     int  // index of the next digest character
	halfdigest byte // last character emitted for the half-length hash
}

// Digest is a streaming ssdeep computation. Signatures for all plausible
// block sizes are built at once, so the input is read only once; memory use
// is constant. The zero value is ready to use.
type Digest struct {
	// Rolling hash over the last rollingWindow bytes. It decides where a
	// piece ends, so piece boundaries depend on content only and survive
	// insertions and deletions elsewhere in the input.
	h1, h2, h3 uint32
	window     uint64 // the last 7 bytes, newest in the low byte

	// Piecewise hash of the current piece for each block size.
	h lanes
	// The half-length signature's piecewise hash stops restarting after
	// 32 pieces. Until then it equals h, so it is only kept, in half, for
	// block sizes with at least 32 pieces: few, and the smallest live ones.
	half lanes

	bh       [numBlockHashes]blockHash
	bhstart  int // block sizes below this are known to be too small
	bhend    int // block sizes from this on have not been started yet
	total    uint64
	lasth    uint8 // piecewise hash for a block size past the last one
	needLast bool
}

// New returns an empty streaming digest.
func New() *Digest {
	d := &Digest{}
	d.Reset()
	return d
}

// Reset discards all written data.
func (d *Digest) Reset() {
	*d = Digest{bhend: 1}
	d.h.set(0, hashInit)
}

// halfHash returns the half-length signature's piecewise hash for block
// size i.
func (d *Digest) halfHash(i int) uint8 {
	if d.bh[i].dindex >= spamSumLength/2 {
		return d.half.get(i)
	}
	return d.h.get(i)
}

// halfEnd returns the first live block size with fewer than 32 pieces;
// block sizes in [bhstart, halfEnd) have their own half hash. Smaller block
// sizes end pieces wherever larger ones do, so they have at least as many.
func (d *Digest) halfEnd() int {
	i := d.bhstart
	for i < d.bhend && d.bh[i].dindex >= spamSumLength/2 {
		i++
	}
	return i
}

// Write adds p to the digest. It never returns an error.
func (d *Digest) Write(p []byte) (int, error) {
	if d.bhend == 0 {
		d.Reset()
	}
	// total is updated first: it only decides when small block sizes are
	// retired, which never changes the final signature.
	d.total += uint64(len(p))
	for rest := p; len(rest) > 0; {
		n, ended := 0, false
		if d.bhend-d.bhstart <= 8 && d.halfEnd() <= d.bhstart+1 && !d.needLast {
			n, ended = d.runFast(rest)
		} else {
			n, ended = d.run(rest)
		}
		if ended {
			d.trigger(d.h1 + d.h2 + d.h3)
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// The run functions hash bytes of p until one ends a piece of the smallest
// live block size, which may change the set of live block sizes. They
// return how many bytes they consumed and whether the last one ended a
// piece.
//
// A piece of block size 3·2^k ends where sum ≡ -1 (mod 3·2^k). They test
// that for the smallest live block size, k = bhstart; larger block sizes
// can only end a piece there too.

// runFast covers the usual case: at most eight live block sizes, none
// but the smallest with a half hash of its own. The smallest one's half
// hash can be left alone: only a block size above the chosen one, and so
// above bhstart, contributes its half hash to a signature. The eight
// piecewise hashes are then packed into two words, kept in registers,
// instead of the up to four words the fixed lane layout would span.
func (d *Digest) runFast(p []byte) (int, bool) {
	k := d.bhstart
	limit := pieceLimits[k]
	ws, sh := k>>2, uint(16*(k&3))
	hw := (*[3]uint64)(d.h[ws : ws+3])
	// Lanes k..k+3 and k+4..k+7. Go's shifts by 64 give 0, so sh == 0
	// needs no special case.
	l0 := hw[0]>>sh | hw[1]<<(64-sh)
	l1 := hw[1]>>sh | hw[2]<<(64-sh)
	// s is h1+h2, which needs fewer operations to update than h2.
	h1, s, h3 := d.h1, d.h1+d.h2, d.h3
	n, ended := len(p), false

	// The byte leaving the window is read from p, except for the first
	// seven, which are still in d.window.
	head := min(len(p), rollingWindow)
	for i, c := range p[:head] {
		out := uint8(d.window >> (8 * (rollingWindow - 1 - i)))
		h1, s, h3 = roll(h1, s, h3, c, out)
		cc := laneBytes[c]
		l0 = updateLanes(l0, cc)
		l1 = updateLanes(l1, cc)
		if endsPiece(s+h3, k, limit) {
			n, ended = i+1, true
			goto done
		}
	}
	if len(p) > rollingWindow {
		var end int
		end, h1, s, h3, l0, l1 = scan(p, k, h1, s, h3, l0, l1)
		if end > 0 {
			n, ended = end, true
		}
	}

done:
	win := d.window
	for _, c := range p[max(0, n-rollingWindow):n] {
		win = win<<8 | uint64(c)
	}
	d.window = win & (1<<(8*rollingWindow) - 1)
	d.h1, d.h2, d.h3 = h1, s-h1, h3
	// Lanes past the live ones receive stale values, which is harmless:
	// fork sets a lane before it is used.
	keep := uint64(1)<<sh - 1
	hw[0] = hw[0]&keep | l0<<sh
	hw[1] = l0>>(64-sh) | l1<<sh
	hw[2] = hw[2]&^keep | l1>>(64-sh)
	return n, ended
}

// scan is runFast's loop from the eighth byte of p on, where the byte
// leaving the window is in p too. It returns the index after the byte
// that ends a piece, or 0. It is a function of its own so that the
// compiler keeps the loop's state in registers.
func scan(p []byte, k int, h1, s, h3 uint32, l0, l1 uint64) (int, uint32, uint32, uint32, uint64, uint64) {
	limit := pieceLimits[k]
	// q[0] leaves the window as q[rollingWindow] enters it.
	q := p
	// Two bytes a round, masking the lanes after the second only: a lane
	// below 64 stays below 2^11 after one step and below 2^16 after two,
	// so nothing carries into the next lane before the mask.
	for len(q) >= rollingWindow+2 {
		c := q[rollingWindow]
		h1, s, h3 = roll(h1, s, h3, c, q[0])
		cc := laneBytes[c]
		l0 = l0*hashPrime ^ cc
		l1 = l1*hashPrime ^ cc
		if endsPiece(s+h3, k, limit) {
			return len(p) - len(q) + rollingWindow + 1, h1, s, h3, l0 & laneMask, l1 & laneMask
		}
		c = q[rollingWindow+1]
		h1, s, h3 = roll(h1, s, h3, c, q[1])
		cc = laneBytes[c]
		l0 = updateLanes(l0, cc)
		l1 = updateLanes(l1, cc)
		if endsPiece(s+h3, k, limit) {
			return len(p) - len(q) + rollingWindow + 2, h1, s, h3, l0, l1
		}
		q = q[2:]
	}
	if len(q) > rollingWindow {
		c := q[rollingWindow]
		h1, s, h3 = roll(h1, s, h3, c, q[0])
		cc := laneBytes[c]
		l0 = updateLanes(l0, cc)
		l1 = updateLanes(l1, cc)
		if endsPiece(s+h3, k, limit) {
			return len(p), h1, s, h3, l0, l1
		}
	}
	return 0, h1, s, h3, l0, l1
}

// roll advances the rolling hash by byte c, with out leaving the window;
// s is h1+h2.
func roll(h1, s, h3 uint32, c, out uint8) (uint32, uint32, uint32) {
	// h2' = h2 - h1 + 7c and h1' = h1 + c - out, so h1'+h2' = h2 + 8c - out.
	s += 8*uint32(c) - uint32(out) - h1
	h1 += uint32(c) - uint32(out)
	return h1, s, h3<<5 ^ uint32(c)
}

// laneBytes holds a byte's low 6 bits in every lane.
var laneBytes = func() (t [256]uint64) {
	for c := range t {
		t[c] = uint64(c&63) * laneOne
	}
	return t
}()

// pieceLimits[k] is the bound endsPiece needs for block size index k.
var pieceLimits = func() (t [numBlockHashes]uint32) {
	for k := range t {
		t[k] = uint32(uint64(^uint32(0)) / blockSize(k))
	}
	return t
}()

// endsPiece reports whether sum ≡ -1 (mod 3·2^k) with one well-predicted
// branch. For x = sum+1 (mod 2^32), x·3⁻¹ (mod 2^32) is x/3 when 3
// divides x and above MaxUint32/3 otherwise; x/3 is a multiple of 2^k
// when rotating it right by k leaves it no larger than MaxUint32/(3·2^k),
// since a set bit rotated out lands in the top k bits. Subtracting 1
// before comparing rejects x = 0, where sum+1 wrapped: 2^32 is no
// multiple of 3.
func endsPiece(sum uint32, k int, limit uint32) bool {
	const inv3 = 0xaaaaaaab // 3·inv3 ≡ 1 (mod 2^32)
	return bits.RotateLeft32((sum+1)*inv3, -k)-1 < limit
}

// run is the general case.
func (d *Digest) run(p []byte) (int, bool) {
	h1, h2, h3, win := d.h1, d.h2, d.h3, d.window
	hs, he := d.bhstart>>2, (d.bhend-1)>>2
	fe := (d.halfEnd() - 1) >> 2
	hw := d.h[hs : he+1]
	fw := d.half[hs : max(fe, hs-1)+1]
	k, limit := d.bhstart, pieceLimits[d.bhstart]
	needLast := d.needLast
	for i, c := range p {
		out := uint32(win >> 48)
		win = (win<<8 | uint64(c)) & (1<<56 - 1)
		h2 = h2 - h1 + rollingWindow*uint32(c)
		h1 = h1 + uint32(c) - out
		h3 = h3<<5 ^ uint32(c)
		sum := h1 + h2 + h3

		cc := uint64(c&63) * laneOne
		for k := range hw {
			hw[k] = updateLanes(hw[k], cc)
		}
		for k := range fw {
			fw[k] = updateLanes(fw[k], cc)
		}
		if needLast {
			d.lasth = (d.lasth*hashPrime ^ c) & 63
		}
		if endsPiece(sum, k, limit) {
			d.h1, d.h2, d.h3, d.window = h1, h2, h3, win
			return i + 1, true
		}
	}
	d.h1, d.h2, d.h3, d.window = h1, h2, h3, win
	return len(p), false
}

// trigger emits a character for every block size whose piece ends here.
func (d *Digest) trigger(sum uint32) {
	for i := d.bhstart; i < d.bhend; i++ {
		// Block sizes double, so the first one that does not end a piece
		// here ends the search.
		bs := blockSize(i)
		if uint64(sum)%bs != bs-1 {
			break
		}
		b := &d.bh[i]
		if b.dindex == 0 {
			d.fork()
		}
		h := d.h.get(i)
		b.digest[b.dindex] = b64[h]
		b.halfdigest = b64[d.halfHash(i)]
		// A full digest is not restarted: the rest of the input is folded
		// into its last character.
		if b.dindex < spamSumLength-1 {
			b.dindex++
			b.digest[b.dindex] = 0
			d.h.set(i, hashInit)
			if b.dindex < spamSumLength/2 {
				b.halfdigest = 0
			} else if b.dindex == spamSumLength/2 {
				// From now on the half hash runs on by itself.
				d.half.set(i, h)
			}
		}
	}
	d.reduce()
}

// fork starts the next larger block size once the largest one has emitted
// its first character. Until then its piecewise hash equals that of the
// largest block size, so it is copied rather than computed all along.
func (d *Digest) fork() {
	last := d.bhend - 1
	if d.bhend < numBlockHashes {
		d.h.set(d.bhend, d.h.get(last))
		nb := &d.bh[d.bhend]
		nb.digest[0] = 0
		nb.halfdigest = 0
		nb.dindex = 0
		d.bhend++
	} else if !d.needLast {
		d.needLast = true
		d.lasth = d.h.get(last)
	}
}

// reduce retires the smallest block sizes once they cannot be chosen any
// more: their signature would already be too long for the input seen so
// far, and the next larger block size has enough pieces to be chosen
// instead. This keeps the per-byte work small on large inputs.
func (d *Digest) reduce() {
	for d.bhend-d.bhstart >= 2 &&
		blockSize(d.bhstart)*spamSumLength < d.total &&
		d.bh[d.bhstart+1].dindex >= spamSumLength/2 {
		d.bhstart++
	}
}

// Len returns the number of bytes written so far.
func (d *Digest) Len() uint64 { return d.total }

// Sum returns the signature of the data written so far. It does not change
// the state, so writing may continue.
func (d *Digest) Sum() (string, error) {
	if d.bhend == 0 {
		return New().Sum()
	}
	var buf [24 + 1 + spamSumLength + 1 + spamSumLength/2]byte
	out := buf[:0]
	h := d.h1 + d.h2 + d.h3

	// Pick the smallest block size that would give at most 64 pieces, then
	// fall back to smaller ones while the signature is too short to be
	// useful.
	bi := d.bhstart
	for blockSize(bi)*spamSumLength < d.total {
		bi++
		if bi >= numBlockHashes {
			return "", ErrTooLong
		}
	}
	for bi >= d.bhend {
		bi--
	}
	for bi > d.bhstart && d.bh[bi].dindex < spamSumLength/2 {
		bi--
	}

	out = strconv.AppendUint(out, blockSize(bi), 10)
	out = append(out, ':')
	b := &d.bh[bi]
	out = append(out, b.digest[:b.dindex]...)
	// The piece in progress contributes a final character, unless the
	// rolling sum is zero (no input, or a final window of zero bytes);
	// then only a character already stored for it counts.
	if h != 0 {
		out = append(out, b64[d.h.get(bi)])
	} else if c := b.digest[b.dindex]; c != 0 {
		out = append(out, c)
	}
	out = append(out, ':')
	if bi < d.bhend-1 {
		bi++
		b = &d.bh[bi]
		n := b.dindex
		if n > spamSumLength/2-1 {
			n = spamSumLength/2 - 1
		}
		out = append(out, b.digest[:n]...)
		if h != 0 {
			out = append(out, b64[d.halfHash(bi)])
		} else if b.halfdigest != 0 {
			out = append(out, b.halfdigest)
		}
	} else if h != 0 {
		if bi == 0 {
			out = append(out, b64[d.h.get(bi)])
		} else {
			out = append(out, b64[d.lasth])
		}
	}
	return string(out), nil
}

// Hash returns the ssdeep signature of data ("blocksize:hash1:hash2").
func Hash(data []byte) (string, error) {
	d := New()
	d.Write(data)
	return d.Sum()
}

// HashReader returns the ssdeep signature of everything read from r.
// Memory use is constant regardless of the input size.
func HashReader(r io.Reader) (string, error) {
	d := New()
	buf := make([]byte, 64*1024)
	if _, err := io.CopyBuffer(d, r, buf); err != nil {
		return "", err
	}
	return d.Sum()
}
