package disasm

import (
	"slices"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Signature version 2 (see model.SigVersion) is one 64-value MinHash over
// one set:
//
//   - the function's normalised tokens, each once, with calls and jumps to
//     imports and to the file's own exported functions named;
//   - its semantic elements, each under three salts (so that they weigh
//     as much as the tokens do): imports and exported functions called,
//     C strings referenced, immediates other than 0 and ±1 that are not
//     stack-pointer arithmetic or addresses, and displacements off
//     non-stack base registers (structure fields);
//   - the semantic elements of each distinct callee of at most
//     maxCalleeInstrs instructions, likewise: what one build inlines,
//     another calls.
//
// Token order is gone, so a different instruction schedule, block layout or
// optimisation level changes the set far less than it changes token
// n-grams; the semantic part is what compilers keep whatever they do.
// bench/funcsim measures it against version 1.

// Bounds of the callee part. Compilers inline only small functions, and a
// large callee (a statically linked printf) would swamp its callers; the
// caps keep the work per function constant whatever a hostile file holds.
const (
	maxCalleeInstrs = 80  // callees larger than this add nothing
	maxCallees      = 64  // distinct callees counted per function
	maxSemElems     = 128 // semantic elements kept per function (the smallest hashes)
	maxTokCache     = 1 << 16
)

// Salts of the semantic elements, apart from one another and from tokens.
const (
	saltSemImp = 0x73656d696d700011
	saltSemStr = 0x73656d7374720012
	saltSemImm = 0x73656d696d6d0013
	saltSemOff = 0x73656d6f66660014
	saltSemRep = 0x73656d7265700015
)

// strLimit is the longest C string prefix hashed.
const strLimit = 256

// tokClass says what the semantic elements of every instruction with one
// token are: fixed by the token (small immediates and zero displacements
// are part of it), or dependent on values only decoding shows.
type tokClass struct {
	decode bool
	elems  []uint64
}

// sigScratch is one walker's state for version 2.
type sigScratch struct {
	toks    []uint64
	sem     []uint64
	callees []uint64
	set     []uint64
	classes map[uint64]tokClass
	// own is the last function's result for the callee part: its
	// semantic elements when it is small enough to count as a callee.
	own []uint64

	// 32-bit position-independent code: thunk is the register the
	// instruction just added loaded with its own address (a call to
	// __x86.get_pc_thunk.*), pic the GOT address the function then
	// computed, 0 when none.
	thunk x86asm.Reg
	pic   uint64
}

func newSigScratch() *sigScratch {
	return &sigScratch{classes: make(map[uint64]tokClass)}
}

// sig returns w's version 2 scratch.
func (w *walker) sig() *sigScratch { return w.a.sigs[w] }

// reset empties the per-function buffers.
func (sc *sigScratch) reset() {
	sc.toks, sc.sem, sc.callees = sc.toks[:0], sc.sem[:0], sc.callees[:0]
	sc.thunk, sc.pic = 0, 0
}

// pcThunk returns the register a call to t loads with the return address
// when t is a "mov reg, [esp]; ret" thunk (__x86.get_pc_thunk.*), which
// 32-bit position-independent code calls to find the GOT.
func (a *analyzer) pcThunk(t uint64) x86asm.Reg {
	b := a.codeAt(t)
	if a.mode != 32 || len(b) < 4 || b[0] != 0x8b || b[1]&0xc7 != 0x04 || b[2] != 0x24 || b[3] != 0xc3 {
		return 0
	}
	r := b[1] >> 3 & 7
	if r == 4 { // esp
		return 0
	}
	return x86asm.EAX + x86asm.Reg(r)
}

// picBase recognises "add reg, imm" right after a pc thunk loaded reg:
// reg then holds the GOT address, and imm is an address offset that moves
// with the layout of the program, not a constant of its code.
func (w *walker) picBase(s *xsec, va uint64, r *insn) bool {
	sc := w.sig()
	reg := sc.thunk
	sc.thunk = 0
	if reg == 0 || r.kind != kSeq {
		return false
	}
	code := s.data[va-s.addr:]
	inst, err := decodeInsn(code[:min(len(code), int(r.n))], w.a.mode)
	if err != nil || inst.Op != x86asm.ADD {
		return false
	}
	if d, ok := inst.Args[0].(x86asm.Reg); !ok || d != reg {
		return false
	}
	imm, ok := inst.Args[1].(x86asm.Imm)
	if !ok {
		return false
	}
	sc.pic = w.a.wrap(va + uint64(imm))
	return true
}

// exportTok returns the tokens of a call to and a jump to the exported
// function at t, when t is one.
func (a *analyzer) exportTok(t uint64) (call, jmp uint64, ok bool) {
	i, ok := a.exports[t]
	if !ok {
		return 0, 0, false
	}
	return a.expCall[i], a.expJmp[i], true
}

// addSig2 adds one instruction of the function being signed: tok is its
// token with imports already named, imp whether it reaches an import.
func (w *walker) addSig2(s *xsec, va uint64, r *insn, tok uint64, imp bool) {
	a, sc := w.a, w.sig()
	if !imp && (r.kind == kCall || r.kind == kJmp) && r.target != 0 {
		if c, j, ok := a.exportTok(r.target); ok {
			tok, imp = c, true
			if r.kind == kJmp {
				tok = j
			}
		}
	}
	if r.kind == kCall && r.target != 0 && r.imp == 0 && a.secAt(r.target) != nil {
		sc.callees = append(sc.callees, r.target)
	}
	sc.toks = append(sc.toks, tok)
	switch {
	case imp:
		sc.sem = append(sc.sem, sketch.Mix(tok^saltSemImp))
		sc.thunk = 0
	case r.tok == tokEndbr:
	case w.picBase(s, va, r):
	default:
		sc.sem = w.operandElems(s, va, r, sc.sem)
	}
	if r.kind == kCall && r.target != 0 {
		sc.thunk = a.pcThunk(r.target)
	}
}

// operandElems appends the semantic elements of an instruction's operands,
// decoding it again only when its token does not fix them.
func (w *walker) operandElems(s *xsec, va uint64, r *insn, out []uint64) []uint64 {
	sc := w.sig()
	if c, ok := sc.classes[r.tok]; ok && !c.decode {
		return append(out, c.elems...)
	}
	code := s.data[va-s.addr:]
	code = code[:min(len(code), int(r.n))]
	inst, err := decodeInsn(code, w.a.mode)
	if err != nil || inst.Op == 0 {
		return out
	}
	if _, ok := sc.classes[r.tok]; !ok && len(sc.classes) < maxTokCache {
		var c tokClass
		c.elems, c.decode = w.a.semElems(&inst, va+uint64(inst.Len), 0, nil, true)
		if c.decode {
			c.elems = nil
		}
		sc.classes[r.tok] = c
	}
	elems, _ := w.a.semElems(&inst, va+uint64(inst.Len), sc.pic, out, false)
	return elems
}

// semElems appends the semantic elements of inst's operands. With static
// set it appends only those the token determines and reports whether
// others need the operand values. pic is the GOT address of 32-bit
// position-independent code (0 for none): a displacement that leads from
// it into data is an address, not a structure offset.
func (a *analyzer) semElems(inst *x86asm.Inst, next, pic uint64, out []uint64, static bool) (_ []uint64, needValues bool) {
	// Immediates moved into, added to or masked into the stack or frame
	// pointer are frame sizes, which every optimisation level changes.
	frame := false
	if r, ok := inst.Args[0].(x86asm.Reg); ok && isStackReg(r) {
		frame = true
	}
	for _, arg := range inst.Args {
		if arg == nil {
			break
		}
		switch x := arg.(type) {
		case x86asm.Imm:
			if frame {
				continue
			}
			v := int64(x)
			if v > -smallImm && v < smallImm {
				// The token holds the value.
				if v < -1 || v > 1 {
					out = append(out, sketch.Mix(uint64(v)^saltSemImm))
				}
				continue
			}
			if static {
				needValues = true
				continue
			}
			if v >= 0x10000 || v <= -0x10000 {
				if sec := sectionIn(a.data, a.wrap(uint64(v))); sec != nil {
					out = a.appendString(out, sec, a.wrap(uint64(v)))
					continue
				}
			}
			out = append(out, sketch.Mix(uint64(v)^saltSemImm))
		case x86asm.Mem:
			var addr uint64
			switch {
			case x.Segment == x86asm.FS || x.Segment == x86asm.GS:
				continue
			case isIPReg(x.Base):
				addr = a.wrap(next + uint64(x.Disp))
			case x.Base == 0:
				if a.mode != 32 {
					continue
				}
				addr = a.wrap(uint64(x.Disp))
			case isStackReg(x.Base):
				continue
			default:
				switch {
				case x.Disp == 0:
					out = append(out, sketch.Mix(saltSemOff))
				case static:
					needValues = true
				case pic != 0 && a.dataAt(a.wrap(pic+uint64(x.Disp))) != nil:
					out = a.appendString(out, a.dataAt(a.wrap(pic+uint64(x.Disp))), a.wrap(pic+uint64(x.Disp)))
				default:
					out = append(out, sketch.Mix(uint64(x.Disp)^saltSemOff))
				}
				continue
			}
			if static {
				needValues = true
			} else if sec := sectionIn(a.data, addr); sec != nil {
				out = a.appendString(out, sec, addr)
			}
		}
	}
	return out, needValues
}

// dataAt returns the non-executable section with loaded bytes at va, or nil.
func (a *analyzer) dataAt(va uint64) *binfmt.Section {
	if sec := sectionIn(a.data, va); sec != nil && !sec.Exec {
		return sec
	}
	return nil
}

// appendString appends the hash of the C string at va, when va holds one
// in non-executable data: at least three printable characters and a NUL
// within strLimit bytes (or a longer string, of which strLimit are hashed).
func (a *analyzer) appendString(out []uint64, sec *binfmt.Section, va uint64) []uint64 {
	if sec.Exec {
		return out
	}
	b := sec.Data[va-sec.Addr:]
	h := uint64(14695981039346656037)
	n := 0
	for ; n < len(b) && n < strLimit && b[n] != 0; n++ {
		c := b[n]
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c >= 0x7f {
			return out
		}
		h ^= uint64(c)
		h *= 1099511628211
	}
	if n < 3 || n == len(b) {
		return out
	}
	return append(out, sketch.Mix(h^saltSemStr))
}

// finish returns the function's own signature (tokens and semantic
// elements) and, for a callee candidate, its semantic elements, distinct,
// sorted and bounded, in memory of their own.
func (sc *sigScratch) finish(instrs uint32) (sig sketch.Signature, sem []uint64) {
	slices.Sort(sc.sem)
	sc.sem = slices.Compact(sc.sem)
	if len(sc.sem) > maxSemElems {
		sc.sem = sc.sem[:maxSemElems]
	}
	slices.Sort(sc.toks)
	set := append(sc.set[:0], slices.Compact(sc.toks)...)
	for _, e := range sc.sem {
		set = appendRepeated(set, e)
	}
	sc.set = set
	sig = sketch.MinHash(set)
	if instrs <= maxCalleeInstrs && len(sc.sem) > 0 {
		sem = slices.Clone(sc.sem)
	}
	return sig, sem
}

// appendRepeated adds element e under its three salts.
func appendRepeated(set []uint64, e uint64) []uint64 {
	for k := uint64(1); k <= 3; k++ {
		set = append(set, sketch.Combine(e^saltSemRep, k))
	}
	return set
}

// calleeTargets returns the distinct direct call targets of the function
// just walked, sorted, at most maxDataRefs.
func (sc *sigScratch) calleeTargets() []uint64 { return distinctBounded(sc.callees) }

// addCallees joins into each function's signature the semantic elements of
// its distinct callees of at most maxCalleeInstrs instructions (the first
// maxCallees by address), once every function is known. starts are the
// function addresses, sorted, fns their results where ok, sems their
// semantic elements (nil for large functions) and calls their direct call
// targets. MinHash of a union is the element-wise minimum of the parts'
// MinHashes, so each callee's part is hashed once however many call it.
func (a *analyzer) addCallees(starts []uint64, fns []model.Function, ok []bool, sems, calls [][]uint64) {
	callee := func(i int, t uint64) int {
		j, found := slices.BinarySearch(starts, t)
		if !found || j == i || !ok[j] || sems[j] == nil {
			return -1
		}
		return j
	}
	each := func(i int, fn func(j int)) {
		n := 0
		for _, t := range calls[i] {
			if n == maxCallees {
				return
			}
			if j := callee(i, t); j >= 0 {
				n++
				fn(j)
			}
		}
	}
	slot := make([]int32, len(starts)) // 1+index into parts
	var order []int
	for i := range calls {
		each(i, func(j int) {
			if slot[j] == 0 {
				order = append(order, j)
				slot[j] = int32(len(order))
			}
		})
	}
	if len(order) == 0 {
		return
	}
	parts := make([]sketch.Signature, len(order))
	a.parallel(len(order), func(w *walker, k int) {
		sc := w.sig()
		sc.set = sc.set[:0]
		for _, e := range sems[order[k]] {
			sc.set = appendRepeated(sc.set, e)
		}
		parts[k] = sketch.MinHash(sc.set)
	})
	a.parallel(len(calls), func(w *walker, i int) {
		each(i, func(j int) { sketch.Union(&fns[i].MinHash, &parts[slot[j]-1]) })
	})
}
