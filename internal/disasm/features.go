package disasm

import (
	"slices"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// maxFuncConsts bounds Function.Consts.
const maxFuncConsts = 64

// maxDataRefs bounds the data addresses kept per function.
const maxDataRefs = 256

// features walks the function at start, the i-th known, over decoded
// records only and fills fn. It reports false when there is no function there (nothing decodable)
// or the work failed.
func (w *walker) features(i int, start uint64, fn *model.Function) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			w.anomaly(start, "internal error")
			ok = false
		}
	}()
	if testHook != nil {
		testHook(start)
	}
	a := w.a
	s := a.secAt(start)
	if s == nil {
		return false
	}
	var blocks int
	if k, ok := a.keptWalk(s, i); ok && k.start == start {
		w.order = w.order[:0]
		for _, off := range a.walkers[k.w].kept[k.off : k.off+k.n] {
			w.order = append(w.order, start+uint64(off))
		}
		blocks = int(k.blocks)
	} else {
		w.walk(s, start, a.bound(s, start), false)
		if len(w.order) == 0 {
			return false
		}
		n := len(w.order)
		w.order = w.vis.sorted(w.order[:0])
		if len(w.order) != n {
			panic("disasm: visited set and instruction order disagree")
		}
		blocks = w.blocks()
	}

	if s.idx >= len(w.cov) {
		w.cov = append(w.cov, make([][]uint64, s.idx+1-len(w.cov))...)
	}
	if w.cov[s.idx] == nil {
		w.cov[s.idx] = make([]uint64, (len(s.data)+63)/64)
	}
	cov := w.cov[s.idx]

	w.shingles, w.fconsts, w.imps, w.drefs, w.callees = w.shingles[:0], w.fconsts[:0], w.imps[:0], w.drefs[:0], w.callees[:0]
	v2 := a.version == 2
	if v2 {
		w.sig().reset()
	}
	exact := uint64(saltExact)
	var size, hi uint64 // covered bytes, end of the furthest instruction so far
	var t0, t1 uint64   // previous tokens of the current run
	run := 0            // length of the current run of contiguous instructions
	var none insn
	for i, va := range w.order {
		r := &none
		if id := s.rec(va - s.addr); id != 0 {
			r = a.record(id - 1)
		}
		end := va + uint64(r.n)
		if i > 0 && va != hi {
			w.flushRun(run, t0, t1)
			run = 0
		}
		// Overlapping instructions count their bytes once.
		if lo := max(va, hi); end > lo {
			size += end - lo
			setBits(cov, lo-s.addr, end-s.addr)
		}
		hi = max(hi, end)

		if r.kind == kSeq && r.target != 0 && a.opts.DataRefs && a.secAt(r.target) == nil && sectionIn(a.data, r.target) != nil {
			w.drefs = append(w.drefs, r.target)
		}
		if r.kind == kCall && r.target != 0 && r.imp == 0 && a.opts.DataRefs && a.secAt(r.target) != nil {
			w.callees = append(w.callees, r.target)
		}

		tok := r.tok
		imp := r.imp
		if imp == 0 && (r.kind == kCall || r.kind == kJmp) {
			imp = w.thunkImport(r.target)
		}
		if imp != 0 {
			if r.kind == kCall || r.kind == kCallInd {
				tok = a.impCall[imp-1]
			} else {
				tok = a.impJmp[imp-1]
			}
			w.imps = append(w.imps, imp)
			w.shingles = append(w.shingles, tok^saltUni)
		}
		for _, c := range a.constsOf(r) {
			w.fconsts = append(w.fconsts, c)
			// Table hashes stay out of the signature: the 64 bytes behind
			// a reference may include neighbouring, unrelated data.
			if c>>63 == 0 {
				w.shingles = append(w.shingles, c^saltConst)
			}
		}
		exact = sketch.Combine(exact, tok)
		if v2 {
			w.addSig2(s, va, r, tok, imp != 0)
		}
		run++
		if run >= 3 {
			w.shingles = append(w.shingles, gram(t0, t1, tok))
		}
		t0, t1 = t1, tok
	}
	w.flushRun(run, t0, t1)
	// Tiny functions get all their tokens as 1-grams so they still have a
	// signature beyond one n-gram.
	if len(w.order) < 3 {
		for _, va := range w.order {
			var tok uint64
			if r, ok := w.get(s, va, false); ok {
				tok = r.tok
			}
			w.shingles = append(w.shingles, tok^saltUni)
		}
	}

	*fn = model.Function{
		Addr:    start,
		Size:    uint32(min(size, 1<<32-1)),
		Blocks:  uint32(blocks),
		Instrs:  uint32(len(w.order)),
		Exact:   exact,
		Consts:  w.funcConsts(),
		Imports: w.funcImports(),
	}
	if v2 {
		fn.MinHash, w.sig().own = w.sig().finish(fn.Instrs)
	} else {
		fn.MinHash = sketch.MinHash(w.dedupShingles())
	}
	if h := a.hint(start); h != nil {
		fn.Name, fn.Origin = h.Name, h.Origin
	}
	return true
}

// gram hashes a token 3-gram.
func gram(a, b, c uint64) uint64 {
	return sketch.Combine(sketch.Combine(sketch.Combine(saltGram, a), b), c)
}

// flushRun gives a run shorter than three instructions one shingle of its
// own, so that no instruction is left out of the signature.
func (w *walker) flushRun(run int, t0, t1 uint64) {
	switch run {
	case 1:
		w.shingles = append(w.shingles, sketch.Combine(saltGram+1, t1))
	case 2:
		w.shingles = append(w.shingles, sketch.Combine(sketch.Combine(saltGram+2, t0), t1))
	}
}

// thunkImport returns 1+index of the import that a thunk "jmp [slot]" at
// target reaches (MinGW calls imports through such thunks), or 0.
func (w *walker) thunkImport(target uint64) int32 {
	// Features run once discovery has decoded all it will, so the
	// answer for a target never changes; calls repeat their targets.
	m := &w.imps1[(target*0x9e3779b97f4a7c15)>>(64-impMemoBits)]
	if m.set && m.target == target {
		return m.imp
	}
	var imp int32
	if ts := w.a.secAt(target); ts != nil {
		if t, ok := w.get(ts, target, false); ok && t.kind == kJmpInd {
			imp = t.imp
		}
	}
	*m = impAnswer{target: target, imp: imp, set: true}
	return imp
}

const impMemoBits = 9

// impAnswer is one remembered answer of thunkImport.
type impAnswer struct {
	target uint64
	imp    int32
	set    bool
}

// blocks counts basic blocks: leaders that are instructions of the function.
func (w *walker) blocks() int {
	n := 0
	for _, l := range w.lead {
		if w.vis.markLeader(l) {
			n++
		}
	}
	return n
}

// funcConsts keeps the first distinct constants in address order, sorted.
func (w *walker) funcConsts() []uint64 {
	if len(w.fconsts) == 0 {
		return nil
	}
	out := make([]uint64, 0, min(len(w.fconsts), maxFuncConsts))
	for _, c := range w.fconsts {
		if len(out) == maxFuncConsts {
			break
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// dataRefs returns the distinct data addresses of the last function
// features walked, sorted, bounded, in memory of their own.
func (w *walker) dataRefs() []uint64 { return distinctBounded(w.drefs) }

// callTargets returns the distinct direct call targets of the function just
// walked, sorted, at most maxDataRefs.
func (w *walker) callTargets() []uint64 { return distinctBounded(w.callees) }

// distinctBounded sorts the scratch addresses a (in place), and returns
// the first maxDataRefs distinct ones in memory of their own, or nil.
func distinctBounded(a []uint64) []uint64 {
	if len(a) == 0 {
		return nil
	}
	slices.Sort(a)
	d := slices.Compact(a)
	return slices.Clone(d[:min(len(d), maxDataRefs)])
}

func (w *walker) funcImports() []string {
	if len(w.imps) == 0 {
		return nil
	}
	slices.Sort(w.imps)
	w.imps = slices.Compact(w.imps)
	out := make([]string, 0, len(w.imps))
	for _, i := range w.imps {
		out = append(out, w.a.impName[i-1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// setBits sets bits [lo, hi) of b.
func setBits(b []uint64, lo, hi uint64) {
	for lo < hi {
		w := lo >> 6
		bit := lo & 63
		n := min(64-bit, hi-lo)
		var m uint64 = ^uint64(0)
		if n < 64 {
			m = (1<<n - 1)
		}
		b[w] |= m << bit
		lo += n
	}
}

// dedupShingles removes repeated shingles in place (about a quarter of a
// function's are repeats) before MinHash, whose cost is per shingle and
// whose result is that of the set. The table is the walker's and is
// cleared for each function.
func (w *walker) dedupShingles() []uint64 {
	in := w.shingles
	if len(in) < 8 {
		return in
	}
	n := 16
	for n < 2*len(in) {
		n <<= 1
	}
	if cap(w.seen) < n {
		w.seen = make([]uint64, n)
	}
	t := w.seen[:n]
	clear(t)
	mask := uint64(n - 1)
	out := in[:0]
	zero := false // 0 marks an empty slot, so a zero shingle is kept apart
	for _, x := range in {
		if x == 0 {
			if !zero {
				zero = true
				out = append(out, x)
			}
			continue
		}
		i := (x * 0x9e3779b97f4a7c15) >> 32 & mask
		for t[i] != 0 && t[i] != x {
			i = (i + 1) & mask
		}
		if t[i] == 0 {
			t[i] = x
			out = append(out, x)
		}
	}
	return out
}
