package attribute

import (
	"math/bits"
	"sync"

	"github.com/kinship-dev/kinship/internal/sketch"
)

// buildClusters groups the indexed functions by exact hash. Occurrences
// keep the order of samples and, within a sample, of functions, which is
// the order scoring meets them in.
func (ix *Index) buildClusters() {
	n := 0
	for _, rs := range ix.samples {
		for fi := range rs.funcs {
			if rs.funcs[fi].Instrs >= ix.opts.MinInstrs {
				n++
			}
		}
	}
	ix.exact = make(map[uint64]int32, n)
	ids := make([]int32, 0, n) // cluster of each indexed function, in order
	var count []int32
	for _, rs := range ix.samples {
		for fi := range rs.funcs {
			f := &rs.funcs[fi]
			if f.Instrs < ix.opts.MinInstrs {
				continue
			}
			id, ok := ix.exact[f.Exact]
			if !ok {
				id = int32(len(count))
				ix.exact[f.Exact] = id
				count = append(count, 0)
			}
			count[id]++
			ids = append(ids, id)
		}
	}
	nc := len(count)
	ix.sigs = make([]sketch.Signature, nc)
	ix.occStart = make([]int32, nc+1)
	for id, c := range count {
		ix.occStart[id+1] = ix.occStart[id] + c
	}
	next := count // reused as each cluster's next free slot
	copy(next, ix.occStart[:nc])
	ix.occs = make([]occ, n)
	k := 0
	for si, rs := range ix.samples {
		for fi := range rs.funcs {
			f := &rs.funcs[fi]
			if f.Instrs < ix.opts.MinInstrs {
				continue
			}
			id := ids[k]
			k++
			if next[id] == ix.occStart[id] {
				ix.sigs[id] = f.MinHash
			}
			ix.occs[next[id]] = occ{int32(si), int32(fi), float32(OriginWeight(f.Origin))}
			next[id]++
		}
	}
}

// buildBands fills the LSH band arrays, each sorted by key and then
// cluster id, one band per worker at a time.
func (ix *Index) buildBands() {
	n := len(ix.sigs)
	for b := range ix.bands {
		ix.bands[b].keys = make([]uint64, n)
		ix.bands[b].ids = make([]int32, n)
	}
	ix.codes = make([]codes, n)
	for id := range ix.sigs {
		sig := &ix.sigs[id]
		ix.codes[id] = digest(sig)
		keys := sketch.BandKeys(sig)
		for b, k := range keys {
			ix.bands[b].keys[id] = k
			ix.bands[b].ids[id] = int32(id)
		}
	}
	ix.need = sketch.K + 1
	for n := 0; n <= sketch.K; n++ {
		if float64(n)/sketch.K >= ix.opts.MinSim { // as Similarity is compared
			ix.need = n
			break
		}
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(1, ix.opts.Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tmp band
			for b := range jobs {
				radixSort(&ix.bands[b], &tmp)
				ix.bands[b].buildDir()
			}
		}()
	}
	for b := range ix.bands {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
}

// radixSort sorts bd by key, stably, so that ids, given in increasing
// order, stay increasing among equal keys. An LSD radix sort of 16-bit
// digits: comparison sorts of ten million entries per band dominated the
// time to open a large index.
func radixSort(bd, tmp *band) {
	n := len(bd.keys)
	if n < 2 {
		return
	}
	if cap(tmp.keys) < n {
		tmp.keys = make([]uint64, n)
		tmp.ids = make([]int32, n)
	}
	tmp.keys, tmp.ids = tmp.keys[:n], tmp.ids[:n]
	src, dst := bd, tmp
	var count [1 << 16]int
	for shift := uint(0); shift < 64; shift += 16 {
		clear(count[:])
		for _, k := range src.keys {
			count[(k>>shift)&0xffff]++
		}
		sum := 0
		for i, c := range count {
			count[i] = sum
			sum += c
		}
		for i, k := range src.keys {
			d := (k >> shift) & 0xffff
			p := count[d]
			count[d]++
			dst.keys[p] = k
			dst.ids[p] = src.ids[i]
		}
		src, dst = dst, src
	}
	// Four passes: the result is back in bd.
}

// buildDir fills the band's directory, about four entries per slot.
func (bd *band) buildDir() {
	bits := 1
	for bits < 30 && 1<<(bits+2) < len(bd.keys) {
		bits++
	}
	bd.shift = uint8(64 - bits)
	bd.dir = make([]int32, 1<<bits+1)
	p := 0
	for i, k := range bd.keys {
		for top := int(k >> bd.shift); p <= top; p++ {
			bd.dir[p] = int32(i)
		}
	}
	for ; p < len(bd.dir); p++ {
		bd.dir[p] = int32(len(bd.keys))
	}
}

// codes hold two bits of each of a signature's 64 values, mixed so that
// any difference between two values shows in their codes three times in
// four.
type codes [2]uint64

func digest(sig *sketch.Signature) codes {
	var c codes
	for i, v := range sig {
		c[i/32] |= (uint64(v) * 0x9e3779b97f4a7c15 >> 62) << (2 * (i % 32))
	}
	return c
}

// differ counts the values whose codes differ: a lower bound on the
// values that differ.
func (a *codes) differ(b *codes) int {
	const lanes = 0x5555555555555555
	x, y := a[0]^b[0], a[1]^b[1]
	return bits.OnesCount64((x|x>>1)&lanes) + bits.OnesCount64((y|y>>1)&lanes)
}

// idSet is the set of clusters one lookup has met, emptied in constant
// time by moving to a new generation. Its size follows the candidates of
// one lookup (at most Bands*MaxBucket), not the index.
type idSet struct {
	slots []uint64 // generation<<32 | id+1; another generation means empty
	shift uint32   // 32 - log2(len(slots))
	gen   uint64
	n     int
}

func (s *idSet) reset() {
	if s.slots == nil {
		s.slots, s.shift = make([]uint64, 1024), 32-10
	}
	s.gen++
	s.n = 0
	if s.gen == 1<<32 {
		clear(s.slots)
		s.gen = 1
	}
}

// add inserts id and reports whether it was absent.
func (s *idSet) add(id int32) bool {
	if 2*(s.n+1) > len(s.slots) {
		s.grow()
	}
	v := s.gen<<32 | uint64(uint32(id)+1)
	mask := uint32(len(s.slots) - 1)
	for i := (uint32(id) * 0x9e3779b1) >> s.shift; ; i = (i + 1) & mask {
		switch x := s.slots[i]; {
		case x == v:
			return false
		case x>>32 != s.gen:
			s.slots[i] = v
			s.n++
			return true
		}
	}
}

func (s *idSet) grow() {
	old, gen := s.slots, s.gen
	s.slots = make([]uint64, 2*len(old))
	s.shift--
	s.n = 0
	for _, x := range old {
		if x>>32 == gen {
			s.add(int32(uint32(x) - 1))
		}
	}
}
