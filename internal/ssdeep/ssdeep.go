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
		ws := d.bhstart >> 2
		if (d.bhend-1)>>2 < ws+3 && (d.halfEnd()-1)>>2 <= ws && !d.needLast {
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
// A piece ends where sum ≡ -1 (mod 3·2^k). For the smallest live block
// size 3·2^bhstart that means sum ≡ 2 (mod 3) with the low bhstart bits of
// sum/3 all ones; larger block sizes can only end a piece there too.

// runFast covers the usual case: the live block sizes span at most three
// words and those with a half hash of their own are in the first one. The
// words are then kept in registers.
func (d *Digest) runFast(p []byte) (int, bool) {
	h1, h2, h3, win := d.h1, d.h2, d.h3, d.window
	ws := d.bhstart >> 2
	hw := (*[3]uint64)(d.h[ws : ws+3])
	w0, w1, w2, f0 := hw[0], hw[1], hw[2], d.half[ws]
	startMask := uint32(1)<<uint(d.bhstart) - 1
	n, ended := len(p), false
	for i, c := range p {
		out := uint32(win >> 48)
		win = (win<<8 | uint64(c)) & (1<<56 - 1)
		h2 = h2 - h1 + rollingWindow*uint32(c)
		h1 = h1 + uint32(c) - out
		h3 = h3<<5 ^ uint32(c)
		sum := h1 + h2 + h3

		cc := uint64(c&63) * laneOne
		w0 = updateLanes(w0, cc)
		w1 = updateLanes(w1, cc)
		w2 = updateLanes(w2, cc)
		f0 = updateLanes(f0, cc)
		if sum%minBlockSize == minBlockSize-1 && (sum/minBlockSize)&startMask == startMask {
			n, ended = i+1, true
			break
		}
	}
	d.h1, d.h2, d.h3, d.window = h1, h2, h3, win
	hw[0], hw[1], hw[2], d.half[ws] = w0, w1, w2, f0
	return n, ended
}

// run is the general case.
func (d *Digest) run(p []byte) (int, bool) {
	h1, h2, h3, win := d.h1, d.h2, d.h3, d.window
	hs, he := d.bhstart>>2, (d.bhend-1)>>2
	fe := (d.halfEnd() - 1) >> 2
	hw := d.h[hs : he+1]
	fw := d.half[hs : max(fe, hs-1)+1]
	startMask := uint32(1)<<uint(d.bhstart) - 1
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
		if sum%minBlockSize == minBlockSize-1 && (sum/minBlockSize)&startMask == startMask {
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
