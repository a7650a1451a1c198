package disasm

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"golang.org/x/arch/x86/x86asm"
)

// The decode cache. Full decoding costs about 400 ns per instruction and
// was half of all analysis time, yet most instructions of a binary are
// byte-for-byte repeats of others (mov rcx, rbx; add rsp, 0x28), and most
// of the rest differ only in a PC-relative field (call rel32, lea rax,
// [rip+x]), a displacement from a base register ([rbx+0x48]) or a
// mid-sized immediate. The cache keys an instruction by its bytes with the
// PC-relative field zeroed, and the displacement and immediate replaced by
// their class (the record sees only that); a hit makes the record from
// what the first instance left and the instruction's own PC-relative
// field. Over the 44 PE references of the development corpus 97% of 44
// million decodes hit.
//
// Correctness rests on three facts, checked by TestDecodeCacheAgrees,
// TestDecodeCacheClasses and FuzzDecodeCache against the uncached decoder:
//   - the layout decoder (shape) and x86asm both decide from the bytes they
//     consume, never from bytes after them, and neither branches on the
//     value of a displacement, immediate or relative offset. x86asm's VEX
//     decoder breaks the first for VZEROUPPER and VZEROALL (it reads a
//     ModRM they do not have), so those are never cached;
//   - an entry is stored only when x86asm agrees with shape on the length,
//     on where the PC-relative field is, and on the values of the
//     displacement and immediate the key keeps only the class of;
//   - fromSlot makes, for each template, the record fromInst makes.
// So two instructions with the same key decode the same except for the
// PC-relative field. Where shape and x86asm disagree, or shape does not
// know the encoding, the instruction is decoded every time. That includes
// VEX and EVEX operands [rip+x], which x86asm decodes as absolute [x].

// maxInsnLen is the architectural bound on an x86 instruction.
const maxInsnLen = 15

// A slot holds an instruction's key (its bytes with the PC-relative field,
// and a generalised displacement or immediate, zeroed, as two words; the
// top byte of the second holds the length, an instruction has at most 15
// bytes, and the classes) and what its record needs. Most hits
// read the slot alone.
type cacheSlot struct {
	k0, k1 uint64
	tok    uint64
	e      int32 // 1+index in recs or insts, by tmpl; 0 when there is none
	n      uint8 // 0 marks an empty slot
	tmpl   uint8
	kind   kind
	lea    uint8 // tmplRIPLea: 1+register the lea loads, or 0
}

// How a cached instruction's record is made.
const (
	// tmplRecord: no PC-relative field, so the record depends on the
	// bytes alone. It is the slot's n, tok and kind, and recs[e-1] when
	// e > 0.
	tmplRecord = iota + 1
	// tmplRel: a direct branch; its target is the end plus the field.
	tmplRel
	// tmplSlot: jmp/call [rip+x]; the field addresses the slot.
	tmplSlot
	// tmplRIPData: an instruction that falls through and whose only
	// operand of note is rip-relative (a load or a store); tmplRIPLea: lea
	// reg, [rip+x], which also takes the address.
	tmplRIPData
	tmplRIPLea
	// tmplInst: anything else; insts[e-1] is its decoding.
	tmplInst
)

// cachedRec is the part of a position-independent record beyond the slot.
type cachedRec struct {
	target uint64
	imp    int32
	lea    uint8
	consts []uint64
}

// maxCacheSlots bounds one walker's table (32 bytes and a tag byte a slot,
// 4.1 MB); it holds half as many entries, enough for a 15 MB binary's
// distinct instructions. A full cache is emptied and refilled, which
// keeps what the current part of the binary uses.
const maxCacheSlots = 1 << 17

// decodeCache is an open-addressing table, as Go's map hashing was a
// third of the cost of a hit. It belongs to one walker.
type decodeCache struct {
	mode int
	// near is a small direct-mapped table in front of slots: a few
	// thousand instructions make up most of any binary's code, and
	// near keeps them in the processor's cache, where slots, spread over
	// megabytes, cost a memory access per lookup. At 8192 entries (256
	// KB, within the second-level cache) 92% of decodes hit it, against
	// 85% at 2048.
	near  [nearSlots]cacheSlot
	slots []cacheSlot
	// tags holds a byte of each slot's hash, 0 when the slot is empty:
	// a lookup that misses, most of those that reach slots, then scans
	// bytes in the processor's cache instead of slots spread over
	// megabytes.
	tags         []uint8
	shift        uint // 64 - log2(len(slots))
	used         int
	recs         []cachedRec
	insts        []x86asm.Inst
	hits, misses int
	clears       int
	// refs remembers tableRef's answers by address: rip-relative loads
	// of one binary read the same few thousand globals over and over.
	refs [refSlots]tableAnswer
}

const (
	refBits  = 10
	refSlots = 1 << refBits
)

type tableAnswer struct {
	va, h   uint64
	set, ok bool
}

// tableRef is analyzer.tableRef through the cache of answers.
func (c *decodeCache) tableRef(a *analyzer, va uint64) (uint64, bool) {
	e := &c.refs[(va*0x9e3779b97f4a7c15)>>(64-refBits)]
	if e.set && e.va == va {
		return e.h, e.ok
	}
	h, ok := a.tableRef(va)
	*e = tableAnswer{va: va, h: h, set: true, ok: ok}
	return h, ok
}

const (
	nearBits  = 13
	nearSlots = 1 << nearBits
)

// newDecodeCache sizes the table for codeBytes of code: a binary has at
// most one distinct instruction per few bytes.
func newDecodeCache(mode int, codeBytes uint64) *decodeCache {
	n := uint64(1 << 10)
	for n < maxCacheSlots && n < codeBytes/4 {
		n <<= 1
	}
	return &decodeCache{mode: mode, slots: make([]cacheSlot, n), tags: make([]uint8, n), shift: uint(64 - bits.TrailingZeros64(n))}
}

// record makes in *r what analyzer.decodeAt returns without a cache for
// the instruction at the start of code, at va. Records are written in
// place: copying them from one call to the next cost as much as making
// them.
func (c *decodeCache) record(a *analyzer, code []byte, va uint64, pool *[]uint64, r *insn) {
	sh, ok := shape(code, c.mode)
	if !ok {
		inst, err := decodeInsn(code, c.mode)
		if badInsn(&inst, err, code) {
			*r = insn{n: 1, kind: kBad}
			return
		}
		*r = a.fromInst(&inst, token(&inst), va, pool)
		return
	}
	n := sh.n
	var rel int64
	if sh.relLen > 0 {
		rel = relValue(code[sh.relOff : sh.relOff+sh.relLen])
	}
	k0, k1 := cacheKeyOf(code, n, sh.relOff, sh.relLen)
	// A displacement from a base register and a mid-sized immediate
	// reach the record only through their class, so the key keeps the
	// class instead of the value.
	var disp, imm int64
	dispCls, immGen := 0, false
	if sh.dispLen > 0 {
		disp = relValue(code[sh.dispOff : sh.dispOff+sh.dispLen])
		if dispCls = dispClass(disp); dispCls != 0 {
			k0, k1 = zeroField(k0, k1, sh.dispOff, sh.dispLen)
			k1 |= uint64(dispCls) << 60
		}
	}
	if sh.immLen > 0 {
		imm = immValue(code[sh.immOff : sh.immOff+sh.immLen])
		if imm >= minGenImm && imm < maxGenImm {
			immGen = true
			k0, k1 = zeroField(k0, k1, sh.immOff, sh.immLen)
			k1 |= 1 << 62
		}
	}
	h := (k0 ^ bits.RotateLeft64(k1, 31)) * 0x9e3779b97f4a7c15
	near := &c.near[h>>(64-nearBits)]
	if near.k0 == k0 && near.k1 == k1 && near.n != 0 {
		c.hits++
		c.fromSlot(a, near, rel, va, pool, r)
		return
	}
	mask := uint64(len(c.slots) - 1)
	i := h >> c.shift
	tag := uint8(h>>24) | 1
	for ; c.tags[i] != 0; i = (i + 1) & mask {
		if sl := &c.slots[i]; c.tags[i] == tag && sl.k0 == k0 && sl.k1 == k1 {
			c.hits++
			*near = *sl
			c.fromSlot(a, sl, rel, va, pool, r)
			return
		}
	}
	c.misses++
	inst, err := decodeInsn(code, c.mode)
	if badInsn(&inst, err, code) {
		*r = insn{n: 1, kind: kBad}
		return
	}
	tok := token(&inst)
	p0 := len(*pool)
	*r = a.fromInst(&inst, tok, va, pool)
	if inst.Len != n || inst.Op == x86asm.VZEROUPPER || inst.Op == x86asm.VZEROALL ||
		inst.PCRel != sh.relLen || (sh.relLen > 0 && inst.PCRelOff != sh.relOff) ||
		dispCls != 0 && !hasBasedDisp(&inst, disp) || immGen && !hasImm(&inst, imm) {
		return
	}
	if c.used >= len(c.slots)/2 {
		// Full: empty it before classify adds an entry for this one.
		clear(c.slots)
		clear(c.tags)
		clear(c.near[:])
		c.used, c.recs, c.insts = 0, c.recs[:0], c.insts[:0]
		c.clears++
		i = h >> c.shift
	}
	sl := cacheSlot{k0: k0, k1: k1, tok: tok, n: uint8(n), kind: r.kind}
	if !c.classify(&sl, &inst, *r, (*pool)[p0:]) {
		return
	}
	c.slots[i], c.tags[i] = sl, tag
	*near = sl
	c.used++
}

// Immediates from minGenImm up to maxGenImm are too large for the token
// to keep their value and too small to be constants or addresses; below
// 0x8000 they read the same sign- or zero-extended.
const (
	minGenImm = smallImm
	maxGenImm = 0x8000
)

// dispClass returns the class of a displacement from a base register as
// the record sees it (1: none, 2: small, 3: large but not a constant), or
// 0 when the value itself matters.
func dispClass(d int64) int {
	switch {
	case d == 0:
		return 1
	case d > -smallImm && d < smallImm:
		return 2
	case d > -0x10000 && d < 0x10000:
		return 3
	}
	return 0
}

// hasBasedDisp reports whether x86asm decoded inst with a memory operand
// based on a register other than the instruction pointer, displaced by d:
// the field shape found is that displacement.
func hasBasedDisp(inst *x86asm.Inst, d int64) bool {
	for _, arg := range inst.Args {
		if m, ok := arg.(x86asm.Mem); ok {
			return m.Base != 0 && !isIPReg(m.Base) && m.Disp == d
		}
	}
	return false
}

// hasImm reports whether x86asm decoded inst with exactly one immediate
// operand, of value v.
func hasImm(inst *x86asm.Inst, v int64) bool {
	found := 0
	for _, arg := range inst.Args {
		if x, ok := arg.(x86asm.Imm); ok {
			if int64(x) != v {
				return false
			}
			found++
		}
	}
	return found == 1
}

// classify chooses how sl's records will be made, from the first
// instance's decoding and record (consts are its constants), adding the
// entry it needs. It returns false when the instruction is to be decoded
// every time.
func (c *decodeCache) classify(sl *cacheSlot, inst *x86asm.Inst, r insn, consts []uint64) bool {
	// A rip-relative operand, a relative one, and any operand that yields
	// constants or addresses otherwise.
	var ripMem, relArg, other bool
	for _, arg := range inst.Args {
		switch x := arg.(type) {
		case nil:
		case x86asm.Rel:
			relArg = true
		case x86asm.Mem:
			if isIPReg(x.Base) {
				ripMem = true
				if x.Index != 0 || x.Segment == x86asm.FS || x.Segment == x86asm.GS {
					other = true
				}
			}
		case x86asm.Imm:
			if x <= -0x10000 || x >= 0x10000 {
				other = true
			}
		}
	}
	if inst.PCRel == 0 {
		if ripMem || relArg {
			return false // a PC-relative operand x86asm did not report
		}
		sl.tmpl = tmplRecord
		if r.target != 0 || r.imp != 0 || r.lea != 0 || r.nconst != 0 {
			c.recs = append(c.recs, cachedRec{target: r.target, imp: r.imp, lea: r.lea, consts: slices.Clone(consts)})
			sl.e = int32(len(c.recs))
		}
		return true
	}
	switch {
	case r.kind == kJcc || r.kind == kJmp || r.kind == kCall:
		if _, ok := inst.Args[0].(x86asm.Rel); !ok || inst.Args[1] != nil || ripMem {
			break
		}
		sl.tmpl = tmplRel
		return true
	case r.kind == kJmpInd || r.kind == kCallInd:
		if m, ok := inst.Args[0].(x86asm.Mem); !ok || !isIPReg(m.Base) || other || inst.Args[1] != nil || (inst.Op != x86asm.JMP && inst.Op != x86asm.CALL) {
			break
		}
		sl.tmpl = tmplSlot
		return true
	case r.kind == kSeq && ripMem && !relArg && !other:
		sl.tmpl = tmplRIPData
		if inst.Op == x86asm.LEA {
			sl.tmpl = tmplRIPLea
			if d, ok := inst.Args[0].(x86asm.Reg); ok && gprNum(d) >= 0 {
				sl.lea = uint8(gprNum(d) + 1)
			}
		}
		return true
	}
	sl.tmpl = tmplInst
	c.insts = append(c.insts, *inst)
	sl.e = int32(len(c.insts))
	return true
}

// fromSlot makes, in *r, the record of a cached instruction at va whose
// PC-relative field holds rel. Each case repeats what fromInst does for
// such instructions; TestDecodeCacheAgrees holds them together.
func (c *decodeCache) fromSlot(a *analyzer, sl *cacheSlot, rel int64, va uint64, pool *[]uint64, r *insn) {
	*r = insn{n: sl.n, tok: sl.tok, kind: sl.kind}
	next := va + uint64(sl.n)
	switch sl.tmpl {
	case tmplRecord:
		if sl.e > 0 {
			e := &c.recs[sl.e-1]
			r.target, r.imp, r.lea = e.target, e.imp, e.lea
			if len(e.consts) > 0 {
				r.cidx, r.nconst = uint32(len(*pool)), uint8(len(e.consts))
				*pool = append(*pool, e.consts...)
			}
		}
	case tmplRel:
		r.target = a.wrap(next + uint64(rel))
		if r.kind != kJcc {
			r.imp = a.imp[r.target]
		}
	case tmplSlot:
		r.target = a.wrap(next + uint64(rel))
		r.imp = a.imp[r.target]
	case tmplRIPData, tmplRIPLea:
		t := a.wrap(next + uint64(rel))
		if h, ok := c.tableRef(a, t); ok {
			r.cidx, r.nconst = uint32(len(*pool)), 1
			*pool = append(*pool, h)
		}
		if sl.tmpl == tmplRIPLea {
			r.target, r.lea = t, sl.lea
		}
	default:
		inst := c.insts[sl.e-1]
		patchRel(&inst, rel)
		*r = a.fromInst(&inst, sl.tok, va, pool)
	}
}

// cacheKeyOf returns the key of the n-byte instruction at the start of
// code whose PC-relative field is relLen bytes at relOff. Where 16 bytes
// can be read, the key is made in registers: bytes copied through memory
// and read back as words stall the processor.
func cacheKeyOf(code []byte, n, relOff, relLen int) (k0, k1 uint64) {
	if len(code) < 16 {
		var kb [16]byte
		copy(kb[:], code[:n])
		code = kb[:]
	}
	k0, k1 = binary.LittleEndian.Uint64(code), binary.LittleEndian.Uint64(code[8:16])
	// Keep the instruction's n bytes.
	if n >= 8 {
		k1 &= 1<<(8*(n-8)) - 1
	} else {
		k0 &= 1<<(8*n) - 1
		k1 = 0
	}
	k0, k1 = zeroField(k0, k1, relOff, relLen)
	return k0, k1 | uint64(n)<<56
}

// zeroField clears the field of size bytes at off (at most 8, so it spans
// at most the two words' boundary) in the key k0, k1.
func zeroField(k0, k1 uint64, off, size int) (uint64, uint64) {
	if size == 0 {
		return k0, k1
	}
	f := ^uint64(0) >> (64 - 8*size)
	if off >= 8 {
		k1 &^= f << (8 * (off - 8))
	} else {
		k0 &^= f << (8 * off)
		if off+size > 8 {
			k1 &^= f >> (8 * (8 - off))
		}
	}
	return k0, k1
}

// immValue reads an immediate of 2, 4 or 8 bytes, unsigned.
func immValue(b []byte) int64 {
	switch len(b) {
	case 2:
		return int64(binary.LittleEndian.Uint16(b))
	case 4:
		return int64(binary.LittleEndian.Uint32(b))
	default:
		return int64(binary.LittleEndian.Uint64(b))
	}
}

func relValue(b []byte) int64 {
	switch len(b) {
	case 1:
		return int64(int8(b[0]))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(b)))
	default:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	}
}

// patchRel puts v in the operand that holds the PC-relative field.
func patchRel(inst *x86asm.Inst, v int64) {
	for i, arg := range inst.Args {
		switch x := arg.(type) {
		case x86asm.Rel:
			inst.Args[i] = x86asm.Rel(v)
			return
		case x86asm.Mem:
			if isIPReg(x.Base) {
				x.Disp = v
				inst.Args[i] = x
				return
			}
		case nil:
			return
		}
	}
}

// Operand layouts of the one- and two-byte opcode maps.
const (
	lNone    = iota
	lModRM   // ModRM, no immediate
	lModI8   // ModRM and imm8
	lModIz   // ModRM and imm16/32
	lI8      // imm8
	lIz      // imm16/32 (imm64 for B8-BF with REX.W)
	lI16     // imm16
	lRel8    // rel8
	lRelZ    // rel16/32
	lMoffs   // address-size offset
	lGroup3  // ModRM; F6/F7 /0 and /1 take an immediate
	lEnter   // imm16, imm8
	lUnknown // shape does not decide: decode every time
)

var oneByte = func() (t [256]uint8) {
	for b := 0; b < 0x40; b++ {
		switch b & 7 {
		case 0, 1, 2, 3:
			t[b] = lModRM
		case 4:
			t[b] = lI8
		case 5:
			t[b] = lIz
		}
	}
	t[0x0f] = lUnknown // handled apart
	for _, b := range []int{0x62, 0x63, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
		0xc4, 0xc5, 0xd0, 0xd1, 0xd2, 0xd3, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xfe, 0xff} {
		t[b] = lModRM
	}
	for _, b := range []int{0x69, 0x81, 0xc7} {
		t[b] = lModIz
	}
	for _, b := range []int{0x6b, 0x80, 0x82, 0x83, 0xc0, 0xc1, 0xc6} {
		t[b] = lModI8
	}
	for _, b := range []int{0x6a, 0xa8, 0xcd, 0xd4, 0xd5, 0xe4, 0xe5, 0xe6, 0xe7} {
		t[b] = lI8
	}
	for b := 0xb0; b <= 0xb7; b++ {
		t[b] = lI8
	}
	for b := 0xb8; b <= 0xbf; b++ {
		t[b] = lIz
	}
	t[0x68], t[0xa9] = lIz, lIz
	for b := 0x70; b <= 0x7f; b++ {
		t[b] = lRel8
	}
	for _, b := range []int{0xe0, 0xe1, 0xe2, 0xe3, 0xeb} {
		t[b] = lRel8
	}
	t[0xe8], t[0xe9] = lRelZ, lRelZ
	for b := 0xa0; b <= 0xa3; b++ {
		t[b] = lMoffs
	}
	t[0xc2], t[0xca] = lI16, lI16
	t[0xc8] = lEnter
	t[0xf6], t[0xf7] = lGroup3, lGroup3
	// Far pointers and prefixes (prefixes never reach the table).
	t[0x9a], t[0xea] = lUnknown, lUnknown
	return
}()

var twoByte = func() (t [256]uint8) {
	for b := range t {
		t[b] = lModRM
	}
	for _, b := range []int{0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
		0x77, 0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa} {
		t[b] = lNone
	}
	for b := 0xc8; b <= 0xcf; b++ {
		t[b] = lNone
	}
	for b := 0x80; b <= 0x8f; b++ {
		t[b] = lRelZ
	}
	for _, b := range []int{0x70, 0x71, 0x72, 0x73, 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6} {
		t[b] = lModI8
	}
	// 0F 0F (3DNow!) has an imm8 opcode suffix; 0F 38 and 0F 3A are maps
	// of their own; 0F 78/79 mean extrq/insertq with immediates after 66
	// or F2.
	t[0x0f], t[0x38], t[0x3a], t[0x78], t[0x79] = lUnknown, lUnknown, lUnknown, lUnknown, lUnknown
	return
}()

// insnShape is an instruction's layout as shape finds it.
type insnShape struct {
	n int
	// The PC-relative field: a branch's relative target or the
	// displacement of a rip-relative operand; relLen is 0 when there is
	// none.
	relOff, relLen int
	// The displacement of a memory operand with a base register (ModRM
	// mod 1 or 2), and an immediate of 2, 4 or 8 bytes; 0 lengths when
	// there is none.
	dispOff, dispLen int
	immOff, immLen   int
}

// shape decodes the layout of the instruction at the start of code: its
// length and where its PC-relative field, displacement and immediate
// are. ok is false when code is truncated or shape does not know the
// encoding; then the caller decodes without the cache.
func shape(code []byte, mode int) (sh insnShape, ok bool) {
	lim := min(len(code), maxInsnLen)
	i := 0
	var opsize, adsize, rexW, rep bool
prefixes:
	for ; i < lim; i++ {
		b := code[i]
		switch b {
		case 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf0:
		case 0xf2, 0xf3:
			rep = true
		case 0x66:
			opsize = true
		case 0x67:
			adsize = true
		default:
			if mode == 64 && b&0xf0 == 0x40 {
				rexW = b&8 != 0
				continue
			}
			break prefixes
		}
		rexW = false // a legacy prefix after REX cancels it
	}
	if i >= lim {
		return insnShape{}, false
	}
	op := code[i]
	i++
	layout := oneByte[op]
	imm8Map := false // VEX/EVEX map: which opcodes take imm8
	vexMap := 0
	switch {
	case op == 0x0f:
		if i >= lim {
			return insnShape{}, false
		}
		op2 := code[i]
		i++
		switch op2 {
		case 0x38:
			i++ // third opcode byte
			layout = lModRM
		case 0x3a:
			i++
			layout = lModI8
		default:
			layout = twoByte[op2]
			if (op2 == 0x78 || op2 == 0x79) && !opsize && !rep {
				layout = lModRM // vmread/vmwrite
			}
		}
	case op == 0xc4 || op == 0xc5 || op == 0x62:
		if mode != 64 && (i >= lim || code[i] < 0xc0) {
			break // LES, LDS, BOUND
		}
		// VEX (C5: 1 byte, C4: 2 bytes) or EVEX (62: 3 bytes), then the
		// opcode and a ModRM.
		if i >= lim {
			return insnShape{}, false
		}
		switch op {
		case 0xc5:
			vexMap = 1
			i++
		case 0xc4:
			vexMap = int(code[i] & 0x1f)
			i += 2
		case 0x62:
			vexMap = int(code[i] & 7)
			i += 3
		}
		if i >= lim {
			return insnShape{}, false
		}
		vop := code[i]
		i++
		switch vexMap {
		case 1:
			if vop == 0x77 {
				return insnShape{}, false // vzeroupper/vzeroall: see decodeInsn
			}
			imm8Map = (vop >= 0x70 && vop <= 0x73) || vop == 0xc2 || (vop >= 0xc4 && vop <= 0xc6)
		case 2, 5, 6:
		case 3:
			imm8Map = true
		default:
			return insnShape{}, false
		}
		layout = lModRM
		if imm8Map {
			layout = lModI8
		}
	case op == 0x8f:
		if i < lim && code[i]&0x38 != 0 {
			return insnShape{}, false // XOP
		}
	}
	if layout == lUnknown {
		return insnShape{}, false
	}
	zsize := 4
	if opsize && !rexW {
		zsize = 2
	}
	imm := 0
	switch layout {
	case lModI8, lI8, lRel8:
		imm = 1
	case lModIz, lIz, lRelZ:
		imm = zsize
		if layout == lIz && op >= 0xb8 && op <= 0xbf && rexW {
			imm = 8
		}
		if layout == lRelZ && mode == 64 && opsize {
			return insnShape{}, false // vendors disagree on 66 before a 64-bit branch
		}
	case lI16:
		imm = 2
	case lEnter:
		imm = 3
	case lMoffs:
		switch {
		case mode == 64 && adsize:
			imm = 4
		case mode == 64:
			imm = 8
		case adsize:
			imm = 2
		default:
			imm = 4
		}
	}
	switch layout {
	case lModRM, lModI8, lModIz, lGroup3:
		if i >= lim {
			return insnShape{}, false
		}
		modrm := code[i]
		i++
		mod, reg, rm := modrm>>6, modrm>>3&7, modrm&7
		if layout == lGroup3 && reg <= 1 {
			imm = 1
			if op == 0xf7 {
				imm = zsize
			}
		}
		if op == 0xc7 && modrm == 0xf8 && vexMap == 0 {
			return insnShape{}, false // xbegin rel
		}
		disp := 0
		if mod != 3 {
			if mode == 32 && adsize {
				switch {
				case mod == 0 && rm == 6, mod == 2:
					disp = 2
				case mod == 1:
					disp = 1
				}
			} else {
				base := rm
				if rm == 4 {
					if i >= lim {
						return insnShape{}, false
					}
					base = code[i] & 7
					i++
				}
				switch {
				case mod == 0 && rm == 5:
					disp = 4
					if mode == 64 {
						if adsize {
							return insnShape{}, false // eip-relative
						}
						sh.relOff, sh.relLen = i, 4
					}
				case mod == 0 && base == 5:
					disp = 4
				case mod == 1:
					disp = 1
				case mod == 2:
					disp = 4
				}
			}
		}
		if mod == 1 || mod == 2 {
			// Both forms always have a base register.
			sh.dispOff, sh.dispLen = i, disp
		}
		i += disp
	case lRel8, lRelZ:
		sh.relOff, sh.relLen = i, imm
	}
	if imm == 2 || imm == 4 || imm == 8 {
		switch layout {
		case lModIz, lIz, lI16, lGroup3:
			sh.immOff, sh.immLen = i, imm
		}
	}
	i += imm
	if i > lim {
		return insnShape{}, false
	}
	sh.n = i
	return sh, true
}
