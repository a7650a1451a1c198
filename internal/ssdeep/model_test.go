package ssdeep

import "strconv"

// modelDigest is a direct, unoptimised statement of the algorithm: one
// piecewise hash per block size, updated byte by byte, and small block
// sizes retired only when their signature is full. Tests check Digest
// against it on inputs the reference vectors do not cover.

var modelTable = func() (t [64][64]uint8) {
	for h := 0; h < 64; h++ {
		for c := 0; c < 64; c++ {
			t[h][c] = uint8((h*hashPrime)^c) & 63
		}
	}
	return t
}()

func modelBlockSize(i int) uint64 { return minBlockSize << uint(i) }

type modelRoll struct {
	window     [rollingWindow]byte
	h1, h2, h3 uint32
	n          int
}

type modelBlockHash struct {
	h, halfh   uint8
	digest     [spamSumLength]byte
	dindex     int
	halfdigest byte
}

type modelDigest struct {
	roll     modelRoll
	bh       [numBlockHashes]modelBlockHash
	bhstart  int
	bhend    int
	total    uint64
	lasth    uint8
	needLast bool
}

func newModel() *modelDigest {
	d := &modelDigest{}
	d.Reset()
	return d
}

func (d *modelDigest) Reset() {
	*d = modelDigest{bhend: 1}
	d.bh[0].h = hashInit
	d.bh[0].halfh = hashInit
}

func (d *modelDigest) Write(p []byte) (int, error) {
	if d.bhend == 0 {
		d.Reset()
	}
	d.total += uint64(len(p))
	r := d.roll
	for _, c := range p {
		r.h2 -= r.h1
		r.h2 += rollingWindow * uint32(c)
		r.h1 += uint32(c)
		r.h1 -= uint32(r.window[r.n])
		r.window[r.n] = c
		r.n++
		if r.n == rollingWindow {
			r.n = 0
		}
		r.h3 = r.h3<<5 ^ uint32(c)
		sum := r.h1 + r.h2 + r.h3

		c6 := c & 63
		for i := d.bhstart; i < d.bhend; i++ {
			b := &d.bh[i]
			b.h = modelTable[b.h&63][c6]
			b.halfh = modelTable[b.halfh&63][c6]
		}
		if d.needLast {
			d.lasth = modelTable[d.lasth&63][c6]
		}
		if sum%minBlockSize == minBlockSize-1 {
			d.trigger(sum)
		}
	}
	d.roll = r
	return len(p), nil
}

func (d *modelDigest) trigger(sum uint32) {
	for i := d.bhstart; i < d.bhend; i++ {
		bs := modelBlockSize(i)
		if uint64(sum)%bs != bs-1 {
			break
		}
		b := &d.bh[i]
		if b.dindex == 0 {
			d.fork()
		}
		b.digest[b.dindex] = b64[b.h&63]
		b.halfdigest = b64[b.halfh&63]
		if b.dindex < spamSumLength-1 {
			b.dindex++
			b.digest[b.dindex] = 0
			b.h = hashInit
			if b.dindex < spamSumLength/2 {
				b.halfh = hashInit
				b.halfdigest = 0
			}
		} else {
			d.reduce()
		}
	}
}

func (d *modelDigest) fork() {
	last := &d.bh[d.bhend-1]
	if d.bhend < numBlockHashes {
		nb := &d.bh[d.bhend]
		nb.h = last.h
		nb.halfh = last.halfh
		nb.digest[0] = 0
		nb.halfdigest = 0
		nb.dindex = 0
		d.bhend++
	} else if !d.needLast {
		d.needLast = true
		d.lasth = last.h
	}
}

func (d *modelDigest) reduce() {
	if d.bhend-d.bhstart < 2 {
		return
	}
	if modelBlockSize(d.bhstart)*spamSumLength >= d.total {
		return
	}
	if d.bh[d.bhstart+1].dindex < spamSumLength/2 {
		return
	}
	d.bhstart++
}

func (d *modelDigest) Sum() (string, error) {
	if d.bhend == 0 {
		return newModel().Sum()
	}
	var buf [24 + 1 + spamSumLength + 1 + spamSumLength/2]byte
	out := buf[:0]
	h := d.roll.h1 + d.roll.h2 + d.roll.h3

	bi := d.bhstart
	for modelBlockSize(bi)*spamSumLength < d.total {
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

	out = strconv.AppendUint(out, modelBlockSize(bi), 10)
	out = append(out, ':')
	b := &d.bh[bi]
	out = append(out, b.digest[:b.dindex]...)
	if h != 0 {
		out = append(out, b64[b.h&63])
	} else if c := b.digest[b.dindex]; c != 0 {
		out = append(out, c)
	}
	out = append(out, ':')
	if bi < d.bhend-1 {
		b = &d.bh[bi+1]
		n := b.dindex
		if n > spamSumLength/2-1 {
			n = spamSumLength/2 - 1
		}
		out = append(out, b.digest[:n]...)
		if h != 0 {
			out = append(out, b64[b.halfh&63])
		} else if b.halfdigest != 0 {
			out = append(out, b.halfdigest)
		}
	} else if h != 0 {
		if bi == 0 {
			out = append(out, b64[b.h&63])
		} else {
			out = append(out, b64[d.lasth&63])
		}
	}
	return string(out), nil
}

// modelEditDistance is the textbook dynamic programme for the weighted
// Levenshtein distance that editDistance computes.
func modelEditDistance(s1, s2 []byte) int {
	var rowBuf [2][spamSumLength + 1]int
	prev, cur := rowBuf[0][:len(s2)+1], rowBuf[1][:len(s2)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(s1); i++ {
		cur[0] = i
		for j := 1; j <= len(s2); j++ {
			cost := 2
			if s1[i-1] == s2[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(s2)]
}
