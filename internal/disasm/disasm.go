// Package disasm provides function discovery and normalised features for
// x86/x86-64 code.
//
// Analyze finds functions by recursive descent from every start the file
// offers (entry point, exports, exception tables, pclntab, symbols) and from
// every direct call target, so stripped binaries are covered too. Each
// function is reduced to tokens that keep the opcode and the kind of each
// operand but drop register choice and addresses, so the same source code
// compiled into two programs gives the same signature even when it was
// relocated or allocated different registers.
//
// Code is hostile data: it is only decoded, never run, every loop is bounded
// by Options and any panic in per-function work becomes an anomaly.
package disasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Options bound the work done on one file. Zero fields take the defaults.
type Options struct {
	MaxInstrs     int // per file, default 50_000_000 (decoding stops, anomaly recorded)
	MaxFuncInstrs int // per function, default 100_000
	MaxFuncs      int // default 2_000_000
	Workers       int // goroutines for per-function work, default runtime.GOMAXPROCS(0)
	// DataRefs asks for Result.DataRefs. Off by default: only callers that
	// read what functions point at (source paths of non-Go binaries) pay
	// for the memory.
	DataRefs bool
	// Deadline, when not zero, stops the work once passed: Analyze then
	// fails with ErrDeadline. A caller's per-file time limit rests on it.
	Deadline time.Time
	// SigVersion is the signature version to compute (model.SigVersion
	// when 0). A query compared with a collection must be signed with
	// the collection's version.
	SigVersion int

	// noReuse makes features walk every function again, never reusing
	// discovery's walk: tests compare the two.
	noReuse bool
}

// Sig returns the signature version o asks for.
func (o Options) Sig() int {
	if o.SigVersion == 0 {
		return model.SigVersion
	}
	return o.SigVersion
}

// SigVersions are the signature versions Analyze computes.
var SigVersions = []int{1, 2, 3}

// maxRecords keeps record ids inside uint32.
const maxRecords = 1<<31 - 1

// maxChunkShift sizes record chunks for big files (16384 records); small
// files use smaller chunks so that analysing them stays cheap.
const maxChunkShift = 14

func (a *analyzer) record(id uint32) *insn {
	return &a.chunks[id>>a.chunkShift][id&(1<<a.chunkShift-1)]
}

// constsOf returns the constants of a merged record.
func (a *analyzer) constsOf(r *insn) []uint64 {
	if r.nconst == 0 {
		return nil
	}
	return a.consts[r.cidx : r.cidx+uint32(r.nconst)]
}

func (o Options) withDefaults() Options {
	if o.MaxInstrs <= 0 {
		o.MaxInstrs = 50_000_000
	}
	o.MaxInstrs = min(o.MaxInstrs, maxRecords-1<<maxChunkShift*1024)
	if o.MaxFuncInstrs <= 0 {
		o.MaxFuncInstrs = 100_000
	}
	if o.MaxFuncs <= 0 {
		o.MaxFuncs = 2_000_000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	o.Workers = min(o.Workers, 1024)
	return o
}

// Result is what Analyze found in one file.
type Result struct {
	Funcs     []model.Function // sorted by Addr, features filled
	Stats     model.CodeStats
	Anomalies []string
	// DataRefs, with Options.DataRefs, holds for each function of Funcs
	// the data addresses it takes (lea reg, [rip+x]; immediates pointing
	// into loaded non-executable bytes), sorted, distinct, at most
	// maxDataRefs. It is not part of the signature and is not stored.
	DataRefs [][]uint64
	// Callees, with Options.DataRefs, holds for each function of Funcs the
	// addresses it calls directly (imports excluded), sorted, at most
	// maxDataRefs. Not part of the signature; not stored.
	Callees [][]uint64

	// tables are the jump tables discovery resolved, so Result.Listing
	// follows the same switch cases as Analyze did.
	tables map[uint64][]uint64
}

// Line is one instruction of a Listing.
type Line struct {
	Addr  uint64
	Bytes []byte // encoded instruction
	Text  string // Intel syntax with real addresses, imports by name
	Norm  string // Intel syntax with addresses hidden (sub, loc, data, import:name)
}

// ErrUnsupported is returned for files whose code is not x86 or x86-64.
var ErrUnsupported = errors.New("code not supported")

// maxAnomalies bounds the anomaly list: a hostile file can make every
// function odd, and one line each would only cost memory.
const maxAnomalies = 100

// Analyze discovers the functions of f and computes their features.
func Analyze(f *binfmt.File, opts Options) (res *Result, err error) {
	a, err := newAnalyzer(f, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		// Per-function work recovers by itself; this only guards the
		// orchestration so one file can never take down a batch.
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("disasm: internal error: %v", p)
		}
	}()
	a.discover()
	if a.expired() {
		return nil, a.deadlineErr()
	}
	starts := a.allStarts()
	if !a.opts.noReuse {
		a.indexKept(starts)
	}
	fns := make([]model.Function, len(starts))
	ok := make([]bool, len(starts))
	var refs, calls [][]uint64
	if a.opts.DataRefs {
		refs = make([][]uint64, len(starts))
		calls = make([][]uint64, len(starts))
	}
	var sems, sigCalls [][]uint64
	if a.version == 2 {
		sems = make([][]uint64, len(starts))
		sigCalls = make([][]uint64, len(starts))
	}
	a.parallel(len(starts), func(w *walker, i int) {
		ok[i] = w.features(i, starts[i], &fns[i])
		if ok[i] && refs != nil {
			refs[i] = w.dataRefs()
			calls[i] = w.callTargets()
		}
		if ok[i] && sems != nil {
			sc := w.sig()
			sems[i], sigCalls[i] = sc.own, sc.calleeTargets()
		}
	})
	if a.expired() {
		return nil, a.deadlineErr()
	}
	if sems != nil {
		a.addCallees(starts, fns, ok, sems, sigCalls)
		if a.expired() {
			return nil, a.deadlineErr()
		}
	}
	for _, w := range a.walkers {
		a.anoms = append(a.anoms, w.anoms...)
		w.anoms = w.anoms[:0]
	}
	res = &Result{Funcs: make([]model.Function, 0, len(starts))}
	if refs != nil {
		res.DataRefs = make([][]uint64, 0, len(starts))
		res.Callees = make([][]uint64, 0, len(starts))
	}
	bits := model.MinHashBits(a.version)
	for i := range fns {
		if ok[i] {
			sketch.Truncate(&fns[i].MinHash, bits)
			res.Funcs = append(res.Funcs, fns[i])
			if refs != nil {
				res.DataRefs = append(res.DataRefs, refs[i])
				res.Callees = append(res.Callees, calls[i])
			}
			res.Stats.Instructions += int(fns[i].Instrs)
		}
	}
	res.Stats.Functions = len(res.Funcs)
	res.Stats.CodeBytes = f.CodeBytes()
	res.Stats.CoveredBytes = a.covered()
	res.Anomalies = a.anomalies()
	res.tables = a.tables
	return res, nil
}

// Listing returns the normalised disassembly of one function (one line per
// instruction: address, bytes, normalised text) for side-by-side comparison
// in reports. It runs function discovery over the whole file to find where
// the function ends; to list several functions of one file, call
// Result.Listing instead.
func Listing(f *binfmt.File, addr uint64, opts Options) (lines []Line, err error) {
	a, err := newAnalyzer(f, opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			lines, err = nil, fmt.Errorf("disasm: internal error listing 0x%x: %v", addr, p)
		}
	}()
	a.discover()
	a.fixedTables = true
	return a.listing(addr)
}

// Listing is like the package-level Listing but takes function boundaries
// from r, which must be the Result of Analyze on the same file, so only the
// one function is decoded.
func (r *Result) Listing(f *binfmt.File, addr uint64) (lines []Line, err error) {
	a, err := newAnalyzer(f, Options{Workers: 1})
	if err != nil {
		return nil, err
	}
	defer func() {
		if p := recover(); p != nil {
			lines, err = nil, fmt.Errorf("disasm: internal error listing 0x%x: %v", addr, p)
		}
	}()
	starts := make([]uint64, len(r.Funcs))
	for i := range r.Funcs {
		starts[i] = r.Funcs[i].Addr
	}
	slices.Sort(starts)
	a.markStarts(starts, false)
	if r.tables != nil {
		a.tables, a.fixedTables = r.tables, true
	}
	return a.listing(addr)
}

// analyzer holds the state of one Analyze or Listing call.
type analyzer struct {
	f         *binfmt.File
	mode      int
	opts      Options
	codeBytes uint64

	secs    []*xsec           // executable sections by address
	img     []span            // merged ranges of the image: values inside look like addresses
	data    []*binfmt.Section // sections with loaded bytes, by address
	ro      []*binfmt.Section // read-only data sections, by address
	imp     map[uint64]int32  // import slot or stub address -> 1+index
	impName []string          // lowercased import names
	impCall []uint64          // token of "call import:<name>"
	impJmp  []uint64          // token of "jmp import:<name>"
	hints   []binfmt.FuncHint // sorted by Addr
	// hintAddr holds the hints' addresses, searched per function: the
	// hints themselves are large and the search would miss the cache.
	hintAddr []uint64

	// Signature version 2: the version asked for, exported functions by
	// address (1+index into expCall and expJmp, their tokens), and each
	// walker's scratch.
	version int
	exports map[uint64]int32
	expCall []uint64
	expJmp  []uint64
	sigs    map[*walker]*sigScratch

	// Decoded instructions, shared by all functions so that code reached
	// from several starts is decoded once. Written only between rounds.
	chunks     [][]insn // fixed length: walkers fill new entries concurrently
	nchunks    atomic.Int32
	chunkShift uint
	maxDecodes int // MaxInstrs, or less when the chunk table is smaller
	batch      int // decodes a walker reserves at a time
	consts     []uint64
	tables     map[uint64][]uint64 // resolved jump-table targets by jump address
	// fixedTables says tables came from an earlier Analyze and are final.
	fixedTables bool

	nstarts int // known function starts
	decoded atomic.Int64
	budget  atomic.Bool // MaxInstrs reached

	walkers []*walker
	anoms   []anomaly
	// keptAt holds, for each function start in address order, discovery's
	// walk of it.
	keptAt []keptRef
}

// keptRef is a walker's index and a keptWalk; w < 0 when there is no walk
// to reuse: none was kept, or the start was walked more than once.
type keptRef struct {
	keptWalk
	w int
}

// indexKept lines the walks discovery kept up with starts, which are
// sorted, so that features find them without a search.
func (a *analyzer) indexKept(starts []uint64) {
	var all []keptRef
	for i, w := range a.walkers {
		for _, k := range w.keptFns {
			all = append(all, keptRef{k, i})
		}
	}
	slices.SortStableFunc(all, func(x, y keptRef) int { return cmpU64(x.start, y.start) })
	a.keptAt = make([]keptRef, len(starts))
	j := 0
	for i, st := range starts {
		a.keptAt[i] = keptRef{w: -1}
		for j < len(all) && all[j].start < st {
			j++
		}
		n := 0
		for j+n < len(all) && all[j+n].start == st {
			n++
		}
		if n == 1 {
			a.keptAt[i] = all[j]
		}
		j += n
	}
}

// keptWalk returns discovery's walk of the i-th function when a walk now
// would give the same: the walk stops only at returns, at branches out of
// the function, at undecodable bytes and at other starts, and these last
// are all that changes after discovery. So no start found since may lie
// inside it.
func (a *analyzer) keptWalk(s *xsec, i int) (keptRef, bool) {
	if i >= len(a.keptAt) || a.keptAt[i].w < 0 {
		return keptRef{}, false
	}
	k := a.keptAt[i]
	if next, ok := s.starts.next(k.start - s.addr + 1); ok && s.addr+next <= k.last {
		return keptRef{}, false
	}
	return k, true
}

type span struct{ lo, hi uint64 }

type anomaly struct {
	addr uint64
	msg  string
}

func newAnalyzer(f *binfmt.File, opts Options) (*analyzer, error) {
	if f == nil {
		return nil, errors.New("disasm: nil file")
	}
	if f.Unsupported != "" {
		return nil, fmt.Errorf("disasm: %w: %s", ErrUnsupported, f.Unsupported)
	}
	a := &analyzer{f: f, opts: opts.withDefaults(), tables: map[uint64][]uint64{}, version: opts.Sig()}
	if !slices.Contains(SigVersions, a.version) {
		return nil, fmt.Errorf("disasm: unknown signature version %d (known: %v)", a.version, SigVersions)
	}
	switch {
	case f.Bits == 64 || f.Bits == 0 && f.Arch == model.ArchAMD64:
		a.mode = 64
	case f.Bits == 32 || f.Bits == 0 && f.Arch == model.Arch386:
		a.mode = 32
	default:
		return nil, fmt.Errorf("disasm: %w: %d-bit %s", ErrUnsupported, f.Bits, f.Arch)
	}
	if f.Arch != model.ArchAMD64 && f.Arch != model.Arch386 && f.Arch != "" && f.Arch != model.ArchUnknown {
		return nil, fmt.Errorf("disasm: %w: %s", ErrUnsupported, f.Arch)
	}

	var ranges []span
	var imgEnd uint64
	for i := range f.Sections {
		s := &f.Sections[i]
		if hi := s.Addr + max(s.VSize, uint64(len(s.Data))); hi > s.Addr {
			ranges = append(ranges, span{s.Addr, hi})
			imgEnd = max(imgEnd, hi)
		}
		if len(s.Data) == 0 || s.Addr+uint64(len(s.Data)) < s.Addr {
			continue
		}
		a.data = append(a.data, s)
		if s.Exec {
			a.secs = append(a.secs, &xsec{addr: s.Addr, data: s.Data})
		} else if !s.Writable {
			a.ro = append(a.ro, s)
		}
	}
	// ImageBase 0 (position-independent ELF) would make every small
	// constant look like an address; only sections count then.
	if f.ImageBase != 0 && imgEnd > f.ImageBase {
		ranges = append(ranges, span{f.ImageBase, imgEnd})
	}
	a.img = mergeSpans(ranges)
	byAddr := func(x, y *binfmt.Section) int { return cmpU64(x.Addr, y.Addr) }
	slices.SortStableFunc(a.data, byAddr)
	slices.SortStableFunc(a.ro, byAddr)
	slices.SortStableFunc(a.secs, func(x, y *xsec) int { return cmpU64(x.addr, y.addr) })
	for i, s := range a.secs {
		s.idx = i
		s.starts = newStartSet(len(s.data))
	}

	a.imp = make(map[uint64]int32)
	for i := range f.Imports {
		im := &f.Imports[i]
		name := lower(im.Name)
		a.impName = append(a.impName, name)
		a.impCall = append(a.impCall, strToken("call import:"+name))
		a.impJmp = append(a.impJmp, strToken("jmp import:"+name))
		for _, x := range im.Addrs {
			if _, dup := a.imp[x]; !dup {
				a.imp[x] = int32(len(a.impName))
			}
		}
	}

	if a.version == 2 {
		a.exports = make(map[uint64]int32)
		for _, e := range f.Exports {
			if _, dup := a.exports[e.Addr]; e.Addr == 0 || e.Name == "" || dup {
				continue
			}
			name := lower(e.Name)
			a.exports[e.Addr] = int32(len(a.expCall))
			a.expCall = append(a.expCall, strToken("call import:"+name))
			a.expJmp = append(a.expJmp, strToken("jmp import:"+name))
		}
	}

	a.hints = f.Hints
	if !sort.SliceIsSorted(a.hints, func(i, j int) bool { return a.hints[i].Addr < a.hints[j].Addr }) {
		a.hints = slices.Clone(a.hints)
		slices.SortStableFunc(a.hints, func(x, y binfmt.FuncHint) int { return cmpU64(x.Addr, y.Addr) })
	}
	a.hintAddr = make([]uint64, len(a.hints))
	for i := range a.hints {
		a.hintAddr[i] = a.hints[i].Addr
	}

	// Record ids fit uint32 and the chunk table never grows, so walkers
	// can add chunks while others read older ones. Decoding more than 16
	// instructions per code byte only happens when a hostile file makes
	// many functions share code, and is stopped like MaxInstrs.
	code := f.CodeBytes()
	a.codeBytes = code
	a.chunkShift = uint(min(maxChunkShift, max(8, bits.Len64(code/8))))
	a.maxDecodes = int(min(uint64(a.opts.MaxInstrs), 16*code+1<<16))
	a.chunks = make([][]insn, a.maxDecodes>>a.chunkShift+a.opts.Workers+2)
	a.batch = min(maxBatch, max(1, a.maxDecodes/(8*a.opts.Workers)))
	nw := max(1, a.opts.Workers)
	for range nw {
		a.walkers = append(a.walkers, newWalker(a))
	}
	if a.version == 2 {
		a.sigs = make(map[*walker]*sigScratch, nw)
		for _, w := range a.walkers {
			a.sigs[w] = newSigScratch()
		}
	}
	return a, nil
}

func mergeSpans(r []span) []span {
	slices.SortFunc(r, func(x, y span) int { return cmpU64(x.lo, y.lo) })
	var out []span
	for _, s := range r {
		if n := len(out); n > 0 && s.lo <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// hint returns the file's hint at addr, or nil.
func (a *analyzer) hint(addr uint64) *binfmt.FuncHint {
	i, ok := slices.BinarySearch(a.hintAddr, addr)
	if !ok {
		return nil
	}
	return &a.hints[i]
}

// insideHinted reports whether va lies strictly inside a function whose
// start and end the file gives.
func (a *analyzer) insideHinted(va uint64) bool {
	i := sort.Search(len(a.hintAddr), func(i int) bool { return a.hintAddr[i] > va }) - 1
	return i >= 0 && a.hintAddr[i] < va && va < a.hints[i].End
}

// inImage reports whether v looks like an address of the image.
func (a *analyzer) inImage(v uint64) bool {
	i := sort.Search(len(a.img), func(i int) bool { return a.img[i].hi > v })
	return i < len(a.img) && v >= a.img[i].lo
}

// sectionIn returns the section of list holding loaded byte va, or nil.
func sectionIn(list []*binfmt.Section, va uint64) *binfmt.Section {
	i := sort.Search(len(list), func(i int) bool { return list[i].Addr > va }) - 1
	// Sections may overlap in hostile files; look back a little so the
	// answer does not depend on sort order alone.
	for j := i; j >= 0 && j > i-4; j-- {
		s := list[j]
		if va >= s.Addr && va-s.Addr < uint64(len(s.Data)) {
			return s
		}
	}
	return nil
}

// secAt returns the executable section holding va, or nil.
func (a *analyzer) secAt(va uint64) *xsec {
	i := sort.Search(len(a.secs), func(i int) bool { return a.secs[i].addr > va }) - 1
	for j := i; j >= 0 && j > i-4; j-- {
		s := a.secs[j]
		if va >= s.addr && va-s.addr < uint64(len(s.data)) {
			return s
		}
	}
	return nil
}

// initialSeeds returns the entry point and every hint inside executable code.
func (a *analyzer) initialSeeds() []uint64 {
	var seeds []uint64
	if a.f.Entry != 0 {
		if a.secAt(a.f.Entry) != nil {
			seeds = append(seeds, a.f.Entry)
		} else {
			a.anoms = append(a.anoms, anomaly{a.f.Entry, fmt.Sprintf("entry point 0x%x is not in executable code", a.f.Entry)})
		}
	}
	// The first byte of an executable section is code in practice (.init,
	// .fini, the first function of .text), and often has no other
	// reference.
	for _, s := range a.secs {
		seeds = append(seeds, s.addr)
	}
	for _, h := range a.hints {
		if a.secAt(h.Addr) != nil {
			seeds = append(seeds, h.Addr)
		}
	}
	slices.Sort(seeds)
	seeds = slices.Compact(seeds)
	if len(seeds) > a.opts.MaxFuncs {
		seeds = seeds[:a.opts.MaxFuncs]
		a.funcLimit()
	}
	return seeds
}

func (a *analyzer) funcLimit() {
	a.anoms = append(a.anoms, anomaly{0, fmt.Sprintf("more than %d functions; further starts ignored", a.opts.MaxFuncs)})
}

// markStarts records new function starts as known; with check set, only
// those that begin with a decodable instruction.
func (a *analyzer) markStarts(starts []uint64, check bool) {
	for _, va := range starts {
		s := a.secAt(va)
		if s == nil || s.isStart(va) || check && !a.validStart(s, va) {
			continue
		}
		s.starts.add(va - s.addr)
		a.nstarts++
	}
}

// validStart reports whether va begins with a decodable instruction. A
// start that does not would be a function without instructions, yet would
// still bound its neighbours; leaving it out keeps the known starts equal
// to the functions reported, so Result.Listing sees the same boundaries.
func (a *analyzer) validStart(s *xsec, va uint64) bool {
	if i := s.rec(va - s.addr); i != 0 {
		return a.record(i-1).kind != kBad
	}
	var pool [maxInsnConsts]uint64
	p := pool[:0]
	r := a.decodeAt(s, va, &p, nil)
	return r.kind != kBad
}

// allStarts lists every known function start in address order.
func (a *analyzer) allStarts() []uint64 {
	all := make([]uint64, 0, a.nstarts)
	for _, s := range a.secs {
		s.starts.each(func(off uint64) { all = append(all, s.addr+off) })
	}
	// Sections are sorted and their starts too; overlapping sections in a
	// hostile file can still interleave.
	slices.Sort(all)
	return slices.Compact(all)
}

// discover runs recursive descent in rounds: every round walks the starts
// found by the previous one in parallel, with the set of known starts fixed
// for the round, so the result does not depend on scheduling. Call targets
// found in a round become the next round's starts.
//
// When code references are exhausted, pointers stored in data (vtables,
// callback tables, .init_array) that lead to code nothing decoded yet seed
// one more pass: in stripped programs that is the only way to such code.
func (a *analyzer) discover() {
	seeds := a.initialSeeds()
	for pass := 0; pass < 2; pass++ {
		for len(seeds) > 0 && !a.expired() {
			a.markStarts(seeds, true)
			a.parallel(len(seeds), func(w *walker, i int) { w.discoverFunc(seeds[i]) })
			seeds = a.mergeRound()
		}
		if pass == 0 {
			seeds = a.dataPointers()
		}
	}
}

// dataPointers returns aligned pointer-sized values in non-executable
// sections that point at executable bytes no function has decoded.
func (a *analyzer) dataPointers() []uint64 {
	if len(a.secs) == 0 || a.budget.Load() {
		return nil
	}
	lo, hi := a.secs[0].addr, uint64(0)
	for _, s := range a.secs {
		lo, hi = min(lo, s.addr), max(hi, s.addr+uint64(len(s.data)))
	}
	size := a.mode / 8
	var out []uint64
	for _, sec := range a.data {
		if sec.Exec {
			continue
		}
		b := sec.Data
		for off := (size - int(sec.Addr%uint64(size))) % size; off+size <= len(b); off += size {
			var v uint64
			if size == 8 {
				v = binary.LittleEndian.Uint64(b[off:])
			} else {
				v = uint64(binary.LittleEndian.Uint32(b[off:]))
			}
			if v < lo || v >= hi {
				continue
			}
			s := a.secAt(v)
			if s == nil || a.decodedAt(s, v) || s.isStart(v) || a.insideHinted(v) || a.imp[v] != 0 {
				continue
			}
			out = append(out, v)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if room := a.opts.MaxFuncs - a.nstarts; len(out) > room {
		out = out[:max(room, 0)]
		a.funcLimit()
	}
	return out
}

// decodedAt reports whether va starts or lies inside an instruction some
// function decoded: such a pointer is a jump-table entry or a coincidence,
// not a function.
func (a *analyzer) decodedAt(s *xsec, va uint64) bool {
	off := va - s.addr
	for k := uint64(0); k < 16 && k <= off; k++ {
		if i := s.rec(off - k); i != 0 {
			if r := a.record(i - 1); k == 0 || uint64(r.n) > k {
				return true
			}
		}
	}
	return false
}

// mergeRound moves what the walkers decoded into the shared tables and
// returns the new function starts, sorted.
func (a *analyzer) mergeRound() []uint64 {
	var calls []uint64
	for _, w := range a.walkers {
		// Records come mostly in address order: keep the last page.
		lastSec, lastPage, pg := ^uint32(0), ^uint64(0), (*page)(nil)
		w.pending.each(func(p pendingRec) {
			if p.sec != lastSec || p.off>>pageShift != lastPage {
				lastSec, lastPage = p.sec, p.off>>pageShift
				pg = a.secs[p.sec].pageAt(p.off)
			}
			slot := &pg[p.off&(1<<pageShift-1)]
			// Two walkers may have decoded the same bytes; the first wins.
			if *slot != 0 {
				return
			}
			if r := a.record(p.id); r.nconst > 0 {
				base := len(a.consts)
				a.consts = append(a.consts, w.pool[r.cidx:r.cidx+uint32(r.nconst)]...)
				r.cidx = uint32(base)
			}
			*slot = p.id + 1
		})
		w.pending.reset()
		for _, t := range w.newTables {
			a.tables[t.addr] = unionSorted(a.tables[t.addr], t.targets)
		}
		calls = append(calls, w.calls...)
		a.anoms = append(a.anoms, w.anoms...)
		w.pool, w.newTables, w.calls, w.anoms = w.pool[:0], w.newTables[:0], w.calls[:0], w.anoms[:0]
	}
	slices.Sort(calls)
	calls = slices.Compact(calls)
	out := calls[:0]
	for _, c := range calls {
		s := a.secAt(c)
		if s == nil || s.isStart(c) || a.imp[c] != 0 {
			continue
		}
		if a.nstarts+len(out) >= a.opts.MaxFuncs {
			a.funcLimit()
			break
		}
		out = append(out, c)
	}
	return out
}

func unionSorted(x, y []uint64) []uint64 {
	if len(x) == 0 {
		return y
	}
	z := append(slices.Clone(x), y...)
	slices.Sort(z)
	return slices.Compact(z)
}

// chunk is how many functions a worker takes at a time: large enough to
// keep the shared counter cold, small enough to balance big functions.
const chunk = 16

// parallel calls fn for 0..n-1 on the analyzer's walkers.
func (a *analyzer) parallel(n int, fn func(w *walker, i int)) {
	nw := min(len(a.walkers), (n+chunk-1)/chunk)
	if nw <= 1 {
		for i := 0; i < n; i++ {
			if i%chunk == 0 && a.expired() {
				return
			}
			fn(a.walkers[0], i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for k := 0; k < nw; k++ {
		w := a.walkers[k]
		wg.Go(func() {
			for {
				lo := int(next.Add(chunk)) - chunk
				if lo >= n || a.expired() {
					return
				}
				for i := lo; i < min(lo+chunk, n); i++ {
					fn(w, i)
				}
			}
		})
	}
	wg.Wait()
}

// covered counts distinct code bytes inside instructions of the functions.
func (a *analyzer) covered() uint64 {
	var n uint64
	for _, s := range a.secs {
		var acc []uint64
		for _, w := range a.walkers {
			if s.idx >= len(w.cov) || w.cov[s.idx] == nil {
				continue
			}
			if acc == nil {
				acc = w.cov[s.idx]
				continue
			}
			for i, x := range w.cov[s.idx] {
				acc[i] |= x
			}
		}
		for _, x := range acc {
			n += uint64(popcount(x))
		}
	}
	return n
}

// anomalies formats the anomalies, by address, bounded.
func (a *analyzer) anomalies() []string {
	if a.budget.Load() {
		a.anoms = append(a.anoms, anomaly{0, fmt.Sprintf("more than %d instructions; decoding stopped", a.maxDecodes)})
	}
	slices.SortStableFunc(a.anoms, func(x, y anomaly) int { return cmpU64(x.addr, y.addr) })
	var out []string
	for i, an := range a.anoms {
		if i > 0 && an == a.anoms[i-1] {
			continue
		}
		if len(out) == maxAnomalies {
			out = append(out, fmt.Sprintf("%d more anomalies not shown", len(a.anoms)-i))
			break
		}
		out = append(out, an.msg)
	}
	return out
}
