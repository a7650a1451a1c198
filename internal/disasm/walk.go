package disasm

import (
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/arch/x86/x86asm"
)

// walker is one worker's reusable state: nothing in the per-function loops
// allocates once its buffers have grown.
type walker struct {
	a      *analyzer
	dcache *decodeCache
	vis    visitSet
	stack  []uint64
	from   []pathSrc // per stack entry: how the walk got there
	order  []uint64  // instruction addresses of the current function, in visit order
	lead   []uint64  // basic block leader candidates

	// run holds the last instructions of the current straight-line run
	// and leas the registers lea loaded anywhere in the function, for
	// jump-table recognition.
	run  [runLen]uint64
	nrun int
	leas [16]leaVal

	// Output of discovery, merged between rounds. Records are written
	// straight into the shared chunks; pending says where they go.
	chunk     []insn
	chunkBase uint32 // record id of chunk[0]
	chunkN    int
	budget    int // decodes reserved from analyzer.decoded and not yet used
	pending   pendingList
	pool      []uint64 // constants of pending records
	calls     []uint64
	newTables []table
	anoms     []anomaly

	// Discovery's walk of each function: instruction offsets from the
	// start, sorted, back to back in kept, and where each function's are.
	// Features reuse a walk when nothing it depended on changed since,
	// instead of walking the function a second time.
	kept    []uint32
	keptFns []keptWalk
	// What the current walk depended on beyond the records: an indirect
	// jump that may go through a table (tables found later may add
	// targets), or the decoding budget, which cut a path.
	usedTable, cut bool

	// Feature scratch.
	imps1    [1 << impMemoBits]impAnswer // thunkImport's answers by target
	shingles []uint64
	seen     []uint64 // dedupShingles' table
	fconsts  []uint64
	imps     []int32
	drefs    []uint64   // data addresses taken, with Options.DataRefs
	callees  []uint64   // direct call targets in code, with Options.DataRefs
	cov      [][]uint64 // covered bytes by section, one bit per byte
}

const runLen = 8

// keptWalk locates one function's kept walk.
type keptWalk struct {
	start, last uint64 // the function start and its last instruction
	off, n      uint32 // its offsets are kept[off : off+n]
	blocks      uint32
}

// leaVal is what lea reg, [rip+x] put in a register anywhere in the
// function so far: one value, or several (then nothing is assumed).
type leaVal struct {
	val      uint64
	set, bad bool
}

func (w *walker) noteLea(reg int, v uint64) {
	l := &w.leas[reg]
	if l.set && l.val != v {
		l.bad = true
	}
	l.val, l.set = v, true
}

// testHook, when set by tests, runs before each function's work so that
// tests can make it fail.
var testHook func(start uint64)

type pendingRec struct {
	off uint64 // offset in the section
	sec uint32 // index of the section in analyzer.secs
	id  uint32 // record id
}

// pendingList is a list in fixed blocks: one round can decode millions of
// records, and a growing slice would copy them again at every doubling.
type pendingList struct {
	blocks [][]pendingRec
	n      int // blocks in use; the last may be partly filled
}

const pendingBlock = 1 << 14

func (l *pendingList) add(p pendingRec) {
	if l.n == 0 || len(l.blocks[l.n-1]) == pendingBlock {
		if l.n == len(l.blocks) {
			l.blocks = append(l.blocks, make([]pendingRec, 0, pendingBlock))
		}
		l.blocks[l.n] = l.blocks[l.n][:0]
		l.n++
	}
	l.blocks[l.n-1] = append(l.blocks[l.n-1], p)
}

// each calls f for every record in the order added.
func (l *pendingList) each(f func(p pendingRec)) {
	for _, b := range l.blocks[:l.n] {
		for _, p := range b {
			f(p)
		}
	}
}

func (l *pendingList) reset() { l.n = 0 }

type table struct {
	addr    uint64
	targets []uint64
}

func newWalker(a *analyzer) *walker {
	return &walker{a: a, dcache: newDecodeCache(a.mode, a.codeBytes)}
}

func (w *walker) anomaly(addr uint64, format string, args ...any) {
	w.anoms = append(w.anoms, anomaly{addr, fmt.Sprintf("function at 0x%x: ", addr) + fmt.Sprintf(format, args...)})
}

// bound returns the end of the function at start: the hint's end when the
// file gives one, else the next known start (code past it belongs to that
// function), never past the section.
func (a *analyzer) bound(s *xsec, start uint64) uint64 {
	end := s.addr + uint64(len(s.data))
	if h := a.hint(start); h != nil && h.End > start && h.End < end {
		return h.End
	}
	return min(s.nextStart(start), end)
}

// discoverFunc walks the function at start, decoding what no earlier
// round decoded, and records call targets as new starts.
func (w *walker) discoverFunc(start uint64) {
	defer func() {
		if p := recover(); p != nil {
			w.anomaly(start, "internal error")
		}
	}()
	if testHook != nil {
		testHook(start)
	}
	s := w.a.secAt(start)
	if s == nil {
		return
	}
	w.walk(s, start, w.a.bound(s, start), true)
	w.keep(start)
}

// keep records the walk just made of the function at start, unless it
// depended on more than the records and the starts inside it.
func (w *walker) keep(start uint64) {
	if w.usedTable || w.cut || len(w.order) == 0 || len(w.kept)+len(w.order) >= 1<<32 {
		return
	}
	if w.kept == nil {
		// About one instruction per four code bytes: growing by doubling
		// from nothing copied the list many times over.
		w.kept = make([]uint32, 0, min(uint64(w.a.maxDecodes), w.a.codeBytes/4/uint64(len(w.a.walkers))+1024))
	}
	n0 := len(w.kept)
	w.order = w.vis.sorted(w.order[:0])
	last := w.order[len(w.order)-1]
	if last-start >= 1<<32 {
		return
	}
	for _, va := range w.order {
		w.kept = append(w.kept, uint32(va-start))
	}
	w.keptFns = append(w.keptFns, keptWalk{start: start, last: last, off: uint32(n0), n: uint32(len(w.order)), blocks: uint32(w.blocks())})
}

// maxBatch is how many decodes a walker reserves at a time from the shared
// budget, whose counter would otherwise bounce between cores.
const maxBatch = 1024

// get returns the record at va, decoding it when allowed. The record is
// shared and must not be changed.
func (w *walker) get(s *xsec, va uint64, decode bool) (*insn, bool) {
	a := w.a
	off := va - s.addr
	var slot *uint32 // where a walker alone publishes the record
	if decode && len(a.walkers) == 1 {
		slot = &s.pageAt(off)[off&(1<<pageShift-1)]
		if i := *slot; i != 0 {
			return a.record(i - 1), true
		}
	} else if i := s.rec(off); i != 0 {
		return a.record(i - 1), true
	}
	if !decode {
		return nil, false
	}
	if w.budget == 0 {
		if a.budget.Load() || a.expired() || a.decoded.Add(int64(a.batch)) > int64(a.maxDecodes) {
			a.budget.Store(true)
			w.cut = true
			return nil, false
		}
		w.budget = a.batch
	}
	if w.chunkN == len(w.chunk) {
		id := int(a.nchunks.Add(1)) - 1
		if id >= len(a.chunks) {
			a.budget.Store(true)
			w.cut = true
			return nil, false
		}
		w.chunk = make([]insn, 1<<a.chunkShift)
		a.chunks[id] = w.chunk
		w.chunkBase, w.chunkN = uint32(id)<<a.chunkShift, 0
	}
	w.budget--
	r := &w.chunk[w.chunkN]
	id := w.chunkBase + uint32(w.chunkN)
	if slot != nil {
		// A walker alone publishes each record at once, with its
		// constants in the shared pool: nobody else reads the index
		// meanwhile, and a record depends only on its bytes, so what it
		// finds earlier is what it would decode again.
		a.decodeInto(s, va, &a.consts, w.dcache, r)
		*slot = id + 1
	} else {
		a.decodeInto(s, va, &w.pool, w.dcache, r)
		w.pending.add(pendingRec{va - s.addr, uint32(s.idx), id})
	}
	w.chunkN++
	return r, true
}

// pathSrc says how a walk reached a path: by a direct branch, and
// whether through a jump table on the way. Jump tables read without a
// bound can yield entries that are not targets; what is decoded after
// them may be misaligned and is never reported as overlapping.
type pathSrc struct {
	branch uint64 // address of the direct branch leading here, or noBranch
	table  bool
}

// noBranch marks a path that no direct branch leads to.
const noBranch = ^uint64(0)

// lenTable marks, in visitSet lengths, instructions decoded after a jump
// table.
const lenTable = 0x80

// lenLeader marks, in visitSet lengths, instructions counted as the first
// of a basic block.
const lenLeader = 0x40

// overlaps counts the branches of one function walk that land strictly
// inside an instruction the walk decoded before: the classic
// anti-disassembly trick, where the same bytes run as two instruction
// streams. The first is kept for the anomaly.
type overlaps struct {
	n                    int
	call                 bool
	branch, target, insn uint64
	bad                  bool // the walk met undecodable bytes
}

// inside returns the start of the instruction of the current walk that
// t lies strictly inside, if any. Landing just past prefix bytes (a jump
// over a lock prefix, into rep ret) is how compilers share code, not an
// overlap.
func (w *walker) inside(s *xsec, t uint64) (uint64, bool) {
	for k := uint64(1); k < 15 && k <= t-s.addr; k++ {
		v := w.vis.lenAt(t - k)
		if v == 0 {
			continue
		}
		// The nearest instruction before t decides.
		n := uint64(v &^ (lenTable | lenLeader))
		if n <= k || v&lenTable != 0 || onlyPrefixes(s.data[t-k-s.addr:t-s.addr], w.a.mode) {
			return 0, false
		}
		return t - k, true
	}
	return 0, false
}

// isVEX reports whether the instruction at the start of b is VEX, EVEX or
// XOP encoded. In 32-bit mode c4, c5 and 62 are LES, LDS and BOUND unless
// the next byte has both top bits set.
func isVEX(b []byte, mode int) bool {
	b = opcode(b, 32) // REX before VEX is invalid
	if len(b) < 2 {
		return false
	}
	switch b[0] {
	case 0xc4, 0xc5, 0x62:
		return mode == 64 || b[1] >= 0xc0
	case 0x8f:
		return b[1]&0x38 != 0 // XOP; pop r/m has reg field 0
	}
	return false
}

// onlyPrefixes reports whether every byte of b is an instruction prefix.
func onlyPrefixes(b []byte, mode int) bool {
	for _, c := range b {
		switch {
		case c == 0xf0 || c == 0xf2 || c == 0xf3 || c == 0x26 || c == 0x2e || c == 0x36 || c == 0x3e ||
			c == 0x64 || c == 0x65 || c == 0x66 || c == 0x67:
		case mode == 64 && c >= 0x40 && c <= 0x4f: // REX
		default:
			return false
		}
	}
	return true
}

func (o *overlaps) add(call bool, branch, target, insn uint64) {
	if o.n == 0 {
		o.call, o.branch, o.target, o.insn = call, branch, target, insn
	}
	o.n++
}

// report records the overlaps of the function at start, once, unless the
// function looks like data decoded as code rather than code written to
// overlap:
//   - x86asm gets the length of some VEX instructions wrong (vzeroupper
//     takes 5 bytes) and the misaligned stream after one looks like
//     overlapping code, so functions with VEX, EVEX or XOP instructions
//     are left out;
//   - a start found in code (a call or an address taken) that lies inside
//     a function the file bounds is a misaligned guess;
//   - other starts found in code may be tables or text in a code section
//     (OpenSSL keeps both there): they are left out when the walk met
//     undecodable bytes or port I/O, which compilers never emit for user
//     programs and text decodes into.
func (w *walker) report(o *overlaps, s *xsec, start uint64) {
	if o.n == 0 {
		return
	}
	a := w.a
	stated := start == a.f.Entry || a.hint(start) != nil
	if !stated && (o.bad || a.insideHinted(start)) {
		return
	}
	for _, va := range w.order {
		if va < s.addr || va-s.addr >= uint64(len(s.data)) {
			continue
		}
		b := s.data[va-s.addr:]
		if isVEX(b, a.mode) || !stated && isPortIO(b, a.mode) {
			return
		}
	}
	what := "jump"
	if o.call {
		what = "call"
	}
	more := ""
	switch {
	case o.n == 2:
		more = " (and 1 more such branch)"
	case o.n > 2:
		more = fmt.Sprintf(" (and %d more such branches)", o.n-1)
	}
	w.anomaly(start, "%s at 0x%x lands at 0x%x, inside the instruction at 0x%x: overlapping instructions%s", what, o.branch, o.target, o.insn, more)
}

// opcode returns the instruction bytes of b after its prefixes.
func opcode(b []byte, mode int) []byte {
	for len(b) > 0 && onlyPrefixes(b[:1], mode) {
		b = b[1:]
	}
	return b
}

// isPortIO reports in, out, ins and outs.
func isPortIO(b []byte, mode int) bool {
	b = opcode(b, mode)
	return len(b) > 0 && (b[0] >= 0x6c && b[0] <= 0x6f || b[0] >= 0xe4 && b[0] <= 0xe7 || b[0] >= 0xec && b[0] <= 0xef)
}

// walk follows control flow from start within [start, end), stopping paths
// at returns, stops, undecodable bytes, other functions' starts and jumps
// that leave the function (tail calls). It fills w.order and w.lead.
// With decode set it decodes missing instructions and collects call
// targets and jump tables; without it, it uses only decoded records.
func (w *walker) walk(s *xsec, start, end uint64, decode bool) {
	a := w.a
	w.vis.reset(start)
	w.order, w.lead = w.order[:0], append(w.lead[:0], start)
	w.stack = append(w.stack[:0], start)
	w.from = append(w.from[:0], pathSrc{branch: noBranch})
	w.leas = [16]leaVal{}
	w.usedTable, w.cut = false, false
	var over overlaps
	limit := a.opts.MaxFuncInstrs
	inFunc := func(t uint64) bool {
		return t >= start && t < end && (t == start || !s.isStart(t))
	}
	for len(w.stack) > 0 {
		va := w.stack[len(w.stack)-1]
		src := w.from[len(w.from)-1]
		w.stack = w.stack[:len(w.stack)-1]
		w.from = w.from[:len(w.from)-1]
		w.nrun = 0
	path:
		for {
			if va < start || va >= end || (va != start && s.isStart(va)) || w.vis.has(va) {
				break
			}
			if src.branch != noBranch && !src.table && decode {
				if p, ok := w.inside(s, va); ok {
					over.add(false, src.branch, va, p)
				}
			}
			src.branch = noBranch
			r, ok := w.get(s, va, decode)
			if ok && r.kind == kBad {
				over.bad = true
			}
			if !ok || r.kind == kBad {
				break
			}
			if len(w.order) >= limit {
				if decode {
					w.anomaly(start, "more than %d instructions; truncated", limit)
				}
				w.stack, w.from = w.stack[:0], w.from[:0]
				break
			}
			if src.table {
				w.vis.add(va, r.n|lenTable)
			} else {
				w.vis.add(va, r.n)
			}
			w.order = append(w.order, va)
			w.run[w.nrun%runLen] = va
			w.nrun++
			next := va + uint64(r.n)
			switch r.kind {
			case kSeq:
				if decode && r.target != 0 {
					if !inFunc(r.target) {
						w.tailCall(r, start)
					}
					if r.lea != 0 {
						w.noteLea(int(r.lea-1), r.target)
					}
				}
			case kCallInd:
			case kCall:
				// A call to the next instruction only reads the PC.
				if decode && r.imp == 0 && r.target != next && a.secAt(r.target) != nil {
					w.calls = append(w.calls, r.target)
					if r.target >= start && r.target < end && !src.table {
						if p, ok := w.inside(s, r.target); ok {
							over.add(true, va, r.target, p)
						}
					}
				}
			case kJcc:
				if r.imp == 0 && inFunc(r.target) {
					w.stack = append(w.stack, r.target)
					w.from = append(w.from, pathSrc{va, src.table})
					w.lead = append(w.lead, r.target)
				} else if decode {
					w.tailCall(r, start)
				}
				w.lead = append(w.lead, next)
			case kJmp:
				w.lead = append(w.lead, next)
				if r.imp == 0 && inFunc(r.target) {
					w.lead = append(w.lead, r.target)
					va, src.branch = r.target, va
					continue
				}
				if decode {
					w.tailCall(r, start)
				}
				break path
			case kJmpInd:
				w.lead = append(w.lead, next)
				if r.imp == 0 {
					// Even a table that gives nothing here may give targets
					// once another walker's reading of it is merged.
					w.usedTable = true
					for _, t := range w.jumpTable(s, va, start, end, decode) {
						if inFunc(t) {
							w.stack = append(w.stack, t)
							w.from = append(w.from, pathSrc{noBranch, true})
							w.lead = append(w.lead, t)
						}
					}
				}
				break path
			default: // kRet, kStop
				w.lead = append(w.lead, next)
				break path
			}
			va = next
		}
	}
	if decode {
		w.report(&over, s, start)
	}
}

// tailCall makes the target of a jump that leaves the function, or a code
// address the function takes, a function start: in stripped code that may
// be the only reference to it.
// Targets inside a function whose extent the file states are not starts
// but jumps into its body (shared epilogues, cold parts).
func (w *walker) tailCall(r *insn, start uint64) {
	t := r.target
	if r.imp != 0 || t == start || w.a.secAt(t) == nil || w.a.insideHinted(t) {
		return
	}
	w.calls = append(w.calls, t)
}

// visitSet is a set of instruction addresses near a function start, with
// their lengths: a bitmap relative to the start, cleared word by word,
// with a map for far addresses.
type visitSet struct {
	base    uint64
	bits    []uint64
	lens    []uint8 // instruction length by offset, 64 per bitmap word
	touched []uint32
	far     map[uint64]uint8
}

// maxVisitWords bounds the bitmap to a 4 MiB span.
const maxVisitWords = 1 << 16

func (v *visitSet) reset(base uint64) {
	for _, i := range v.touched {
		v.bits[i] = 0
		clear(v.lens[64*i : 64*i+64])
	}
	v.touched = v.touched[:0]
	v.base = base
	if len(v.far) > 0 {
		v.far = nil
	}
}

func (v *visitSet) has(va uint64) bool {
	off := va - v.base
	if w := off >> 6; va >= v.base && w < uint64(len(v.bits)) {
		return v.bits[w]&(1<<(off&63)) != 0
	}
	_, ok := v.far[va]
	return ok
}

// sorted appends the addresses in the set to out in increasing order. The
// bitmap gives them in order for the price of its words, where sorting
// a function's addresses cost as much as building its signature.
func (v *visitSet) sorted(out []uint64) []uint64 {
	slices.Sort(v.touched)
	n0 := len(out)
	for _, i := range v.touched {
		base := v.base + 64*uint64(i)
		for x := v.bits[i]; x != 0; x &= x - 1 {
			out = append(out, base+uint64(bits.TrailingZeros64(x)))
		}
	}
	if len(v.far) > 0 {
		for va := range v.far {
			out = append(out, va)
		}
		// Far addresses lie past the bitmap, unless a caller added some
		// below its base.
		slices.Sort(out[n0:])
	}
	return out
}

// lenAt returns the length of the instruction visited at va, with the
// flags add was given, or 0.
func (v *visitSet) lenAt(va uint64) uint8 {
	off := va - v.base
	if va >= v.base && off < uint64(len(v.lens)) {
		return v.lens[off]
	}
	return v.far[va]
}

// markLeader marks the instruction at va as a block leader and reports
// whether it is an instruction of the set not marked before.
func (v *visitSet) markLeader(va uint64) bool {
	off := va - v.base
	if va >= v.base && off < uint64(len(v.lens)) {
		if l := v.lens[off]; l != 0 && l&lenLeader == 0 && v.bits[off>>6]&(1<<(off&63)) != 0 {
			v.lens[off] = l | lenLeader
			return true
		}
		return false
	}
	if l, ok := v.far[va]; ok && l&lenLeader == 0 {
		v.far[va] = l | lenLeader
		return true
	}
	return false
}

// add records the instruction of n bytes at va; n may carry lenTable.
func (v *visitSet) add(va uint64, n uint8) {
	n = max(n, 1)
	off := va - v.base
	w := off >> 6
	if va < v.base || w >= maxVisitWords {
		if v.far == nil {
			v.far = make(map[uint64]uint8)
		}
		v.far[va] = n
		return
	}
	if w >= uint64(len(v.bits)) {
		nw := min(max(int(w)+1, 2*len(v.bits), 64), maxVisitWords)
		v.bits = append(v.bits, make([]uint64, nw-len(v.bits))...)
		v.lens = append(v.lens, make([]uint8, 64*nw-len(v.lens))...)
	}
	if v.bits[w] == 0 {
		v.touched = append(v.touched, uint32(w))
	}
	v.bits[w] |= 1 << (off & 63)
	v.lens[off] = n
}

// maxTable bounds the entries read from one jump table.
const maxTable = 1024

// jumpTable returns the targets of the indirect jump at va when it
// dispatches through a recognisable switch table, or nil. Discovery
// resolves it from the instructions just before the jump; later walks
// reuse the answer.
func (w *walker) jumpTable(s *xsec, va, start, end uint64, decode bool) []uint64 {
	if t, ok := w.a.tables[va]; ok || !decode || w.a.fixedTables {
		return t
	}
	targets := w.resolveTable(s, va, start, end)
	if len(targets) > 0 {
		w.newTables = append(w.newTables, table{va, targets})
	}
	return targets
}

// tabState is what is known about a register while scanning the
// instructions before an indirect jump.
type tabState struct {
	val    uint64 // known address (lea rip / image base)
	hasVal bool
	tab    uint64 // address of the table its value was loaded from
	size   int    // entry size, 0 when not loaded from a table
	signed bool
	add    uint64 // added to each entry (relative tables)
	abs    bool   // entries are absolute addresses
}

// resolveTable recognises the common switch dispatch sequences:
//
//	jmp [table + idx*4]                       (32-bit, absolute entries)
//	jmp [table + idx*8]                       (64-bit, non-PIE)
//	lea rB,[rip+T]; jmp [rB + idx*8]          (Go)
//	lea rB,[rip+T]; mov rX,[rB+idx*8]; jmp rX (Go)
//	lea rB,[rip+T]; movsxd rX,[rB+idx*4]; add rX,rB; jmp rX   (GCC/Clang PIC)
//	lea rB,[rip+base]; mov eX,[rB+idx*4+rva]; add rX,rB; jmp rX (MSVC)
//
// The entry count comes from a preceding "cmp reg, imm" when there is one,
// else entries are read while they point into the function.
func (w *walker) resolveTable(s *xsec, va, start, end uint64) []uint64 {
	a := w.a
	n := min(w.nrun, runLen)
	var insts [runLen]x86asm.Inst
	var addrs [runLen]uint64
	for i := 0; i < n; i++ {
		addrs[i] = w.run[(w.nrun-n+i)%runLen]
		b := a.codeAt(addrs[i])
		if b == nil {
			return nil
		}
		in, err := decodeInsn(b, a.mode)
		if err != nil {
			return nil
		}
		insts[i] = in
	}
	if n == 0 || addrs[n-1] != va {
		return nil
	}
	// A table address the compiler loaded once, before a loop, is still
	// in its register: every path to the jump passed the lea, which is
	// why discovery (depth first from the start) has already seen it.
	var regs [16]tabState
	for i, l := range w.leas {
		if l.set && !l.bad {
			regs[i] = tabState{val: l.val, hasVal: true}
		}
	}
	count := 0
	for i := 0; i < n-1; i++ {
		in := &insts[i]
		next := addrs[i] + uint64(in.Len)
		dst, dstOK := in.Args[0].(x86asm.Reg)
		d := gprNum(dst)
		switch in.Op {
		case x86asm.CMP:
			if imm, ok := in.Args[1].(x86asm.Imm); ok && imm >= 0 && imm < maxTable {
				count = int(imm) + 1
			}
			continue
		case x86asm.LEA:
			if m, ok := in.Args[1].(x86asm.Mem); ok && d >= 0 && isIPReg(m.Base) && m.Index == 0 {
				regs[d] = tabState{val: a.wrap(next + uint64(m.Disp)), hasVal: true}
				continue
			}
		case x86asm.MOV, x86asm.MOVSXD:
			if m, ok := in.Args[1].(x86asm.Mem); ok && d >= 0 && m.Index != 0 && (m.Scale == 4 || m.Scale == 8) {
				var base uint64
				if m.Base != 0 {
					b := gprNum(m.Base)
					if b < 0 || !regs[b].hasVal {
						regs[d] = tabState{}
						continue
					}
					base = regs[b].val
				}
				regs[d] = tabState{
					tab:    a.wrap(base + uint64(m.Disp)),
					size:   in.MemBytes,
					signed: in.Op == x86asm.MOVSXD,
					abs:    in.MemBytes == a.mode/8,
				}
				continue
			}
		case x86asm.ADD:
			if src, ok := in.Args[1].(x86asm.Reg); ok && d >= 0 {
				sn := gprNum(src)
				if sn >= 0 && regs[d].size == 4 && !regs[d].abs && regs[sn].hasVal {
					regs[d].add = regs[sn].val
					regs[d].abs = true
					continue
				}
			}
		}
		// Anything else writing a register forgets what was known of it.
		if dstOK && d >= 0 {
			regs[d] = tabState{}
		}
	}
	jmp := &insts[n-1]
	var tab uint64
	var st tabState
	switch x := jmp.Args[0].(type) {
	case x86asm.Mem:
		if x.Index == 0 || x.Scale != uint8(a.mode/8) {
			return nil
		}
		var base uint64
		if x.Base != 0 {
			b := gprNum(x.Base)
			if b < 0 || !regs[b].hasVal {
				return nil
			}
			base = regs[b].val
		}
		tab = a.wrap(base + uint64(x.Disp))
		st = tabState{size: a.mode / 8, abs: true}
	case x86asm.Reg:
		d := gprNum(x)
		if d < 0 || regs[d].size == 0 || !regs[d].abs {
			return nil
		}
		st = regs[d]
		tab = st.tab
	default:
		return nil
	}
	return a.readTable(tab, st, count, start, end)
}

// readTable reads up to count entries (or, without a count, while they
// point into the function [start, end)) and returns those that do.
func (a *analyzer) readTable(tab uint64, st tabState, count int, start, end uint64) []uint64 {
	sec := sectionIn(a.data, tab)
	if sec == nil || st.size != 4 && st.size != 8 {
		return nil
	}
	b := sec.Data[tab-sec.Addr:]
	limit := count
	if limit == 0 {
		limit = maxTable
	}
	var out []uint64
	for i := 0; i < limit && (i+1)*st.size <= len(b); i++ {
		var e uint64
		if st.size == 4 {
			v := uint32(b[i*4]) | uint32(b[i*4+1])<<8 | uint32(b[i*4+2])<<16 | uint32(b[i*4+3])<<24
			e = uint64(v)
			if st.signed {
				e = uint64(int64(int32(v)))
			}
		} else {
			e = uint64(b[i*8]) | uint64(b[i*8+1])<<8 | uint64(b[i*8+2])<<16 | uint64(b[i*8+3])<<24 |
				uint64(b[i*8+4])<<32 | uint64(b[i*8+5])<<40 | uint64(b[i*8+6])<<48 | uint64(b[i*8+7])<<56
		}
		t := a.wrap(st.add + e)
		if t < start || t >= end {
			if count == 0 {
				break
			}
			continue
		}
		out = append(out, t)
	}
	return out
}

// codeAt returns the loaded executable bytes from va, or nil.
func (a *analyzer) codeAt(va uint64) []byte {
	s := a.secAt(va)
	if s == nil {
		return nil
	}
	return s.data[va-s.addr:]
}

// gprNum maps a general register of any size to 0..15, or -1.
func gprNum(r x86asm.Reg) int {
	switch {
	case r >= x86asm.AL && r <= x86asm.BL:
		return int(r - x86asm.AL)
	case r >= x86asm.SPB && r <= x86asm.R15B:
		return int(r-x86asm.SPB) + 4
	case r >= x86asm.AX && r <= x86asm.R15W:
		return int(r - x86asm.AX)
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return int(r - x86asm.EAX)
	case r >= x86asm.RAX && r <= x86asm.R15:
		return int(r - x86asm.RAX)
	}
	return -1
}
