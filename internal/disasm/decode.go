package disasm

import (
	"encoding/binary"
	"math"
	"math/bits"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kinship-dev/kinship/internal/sketch"
)

// kind is an instruction's effect on control flow.
type kind uint8

const (
	kSeq     kind = iota // falls through
	kJcc                 // conditional branch to target, or falls through
	kJmp                 // direct jump to target
	kJmpInd              // indirect jump; target is the memory slot when absolute
	kCall                // direct call to target
	kCallInd             // indirect call; target is the memory slot when absolute
	kRet                 // return
	kStop                // int3, hlt, ud2, fastfail: the path ends
	kBad                 // undecodable bytes
)

// insn is the compact record kept for every decoded instruction, so that
// later passes never decode again.
type insn struct {
	tok    uint64 // normalised token
	target uint64 // branch target, slot address of [rip+x] / [abs], or address taken (kSeq, see codeRef)
	cidx   uint32 // first constant in the constant pool
	imp    int32  // 1+import index when the call or jump reaches an import
	n      uint8  // length in bytes
	kind   kind
	nconst uint8
	lea    uint8 // 1+register loaded by lea reg, [rip+target]
}

// pageShift sizes the pages of the per-byte record index: pages are
// allocated only where code was decoded, so data inside executable
// sections costs nothing.
const pageShift = 12

type page [1 << pageShift]uint32

// xsec is an executable section with its decoding state.
type xsec struct {
	idx    int
	addr   uint64
	data   []byte
	pages  []*page  // 1+record index by byte offset
	starts startSet // known function starts by byte offset
}

func (s *xsec) rec(off uint64) uint32 {
	p := off >> pageShift
	if p >= uint64(len(s.pages)) || s.pages[p] == nil {
		return 0
	}
	return s.pages[p][off&(1<<pageShift-1)]
}

// pageAt returns the page of the record index holding off, allocating it.
func (s *xsec) pageAt(off uint64) *page {
	if s.pages == nil {
		s.pages = make([]*page, (uint64(len(s.data))+1<<pageShift-1)>>pageShift)
	}
	p := off >> pageShift
	if s.pages[p] == nil {
		s.pages[p] = new(page)
	}
	return s.pages[p]
}

func (s *xsec) isStart(va uint64) bool { return s.starts.has(va - s.addr) }

// nextStart returns the first known start after va, or the section end.
func (s *xsec) nextStart(va uint64) uint64 {
	if off, ok := s.starts.next(va - s.addr + 1); ok {
		return s.addr + off
	}
	return s.addr + uint64(len(s.data))
}

// Token salts keep the different kinds of hashed things apart.
const (
	saltTok   = 0x746f6b656e000001
	saltStr   = 0x737472696e670002
	saltGram  = 0x6772616d00000003
	saltUni   = 0x756e690000000004
	saltConst = 0x636f6e7374000005
	saltExact = 0x6578616374000006
	saltTable = 0x7461626c65000007
)

// Operand kinds in an operand code.
const (
	argReg = iota + 1
	argImm
	argImmLarge
	argMem
	argRel
)

// Register classes. Only the class and size survive normalisation, so
// that a different register allocation gives the same token; the stack
// and frame pointers keep a class of their own because stack access is
// a different thing from data access.
const (
	rcGPR8 = iota + 1
	rcGPR16
	rcGPR32
	rcGPR64
	rcStack16
	rcStack32
	rcStack64
	rcIP
	rcX87
	rcMMX
	rcXMM
	rcYMM
	rcZMM
	rcMask
	rcSeg
	rcSys
)

var regClass = func() (t [256]uint8) {
	set := func(lo, hi x86asm.Reg, c uint8) {
		for r := lo; r <= hi; r++ {
			t[r] = c
		}
	}
	set(x86asm.AL, x86asm.R15B, rcGPR8)
	set(x86asm.AX, x86asm.R15W, rcGPR16)
	set(x86asm.EAX, x86asm.R15L, rcGPR32)
	set(x86asm.RAX, x86asm.R15, rcGPR64)
	t[x86asm.SP], t[x86asm.BP] = rcStack16, rcStack16
	t[x86asm.ESP], t[x86asm.EBP] = rcStack32, rcStack32
	t[x86asm.RSP], t[x86asm.RBP] = rcStack64, rcStack64
	set(x86asm.IP, x86asm.RIP, rcIP)
	set(x86asm.F0, x86asm.F7, rcX87)
	set(x86asm.M0, x86asm.M7, rcMMX)
	set(x86asm.X0, x86asm.X31, rcXMM)
	set(x86asm.Y0, x86asm.Y31, rcYMM)
	set(x86asm.Z0, x86asm.Z31, rcZMM)
	set(x86asm.K0, x86asm.K7, rcMask)
	set(x86asm.ES, x86asm.GS, rcSeg)
	set(x86asm.GDTR, x86asm.TR7, rcSys)
	return
}()

func isStackReg(r x86asm.Reg) bool {
	c := regClass[r]
	return c >= rcStack16 && c <= rcStack64
}

func isIPReg(r x86asm.Reg) bool { return r == x86asm.RIP || r == x86asm.EIP || r == x86asm.IP }

// Memory base kinds.
const (
	baseAbs   = iota // no base register: an absolute address (possibly indexed)
	baseStack        // rsp/rbp/esp/ebp
	baseRIP          // rip-relative
	baseOther
)

// smallImm is the bound below which immediates keep their value: small
// values are structure (shift counts, field sizes, characters), large ones
// are addresses or data and are kept as constants instead.
const smallImm = 0x100

// memCode encodes a memory operand without its registers or address.
func memCode(m x86asm.Mem, size int) uint64 {
	var base, disp uint64
	switch {
	case m.Base == 0:
		base = baseAbs
	case isStackReg(m.Base):
		base = baseStack
	case isIPReg(m.Base):
		base = baseRIP
	default:
		base = baseOther
	}
	if base != baseRIP && m.Disp != 0 {
		disp = 1
		if m.Disp <= -smallImm || m.Disp >= smallImm {
			disp = 2
		}
	}
	var index, seg uint64
	if m.Index != 0 {
		index = 1 + uint64(bits.TrailingZeros8(m.Scale))
	}
	if m.Segment == x86asm.FS || m.Segment == x86asm.GS {
		seg = uint64(m.Segment-x86asm.FS) + 1
	}
	return argMem | base<<4 | index<<6 | disp<<9 | seg<<11 | uint64(size)<<16
}

// token hashes the normalised form of inst: opcode, the prefixes that
// change meaning, and the kind of every operand.
func token(inst *x86asm.Inst) uint64 {
	var pre uint64
	for _, p := range inst.Prefix {
		if p == 0 {
			break
		}
		if p&x86asm.PrefixIgnored != 0 {
			continue
		}
		switch p & 0xff {
		case 0xf0:
			pre |= 1
		case 0xf3:
			pre |= 2
		case 0xf2:
			pre |= 4
		}
	}
	if inst.Broadcast {
		pre |= 8
	}
	if inst.Zeroing {
		pre |= 16
	}
	h := uint64(inst.Op) | pre<<32 | saltTok
	for _, arg := range inst.Args {
		if arg == nil {
			break
		}
		var c uint64
		switch x := arg.(type) {
		case x86asm.Reg:
			c = argReg | uint64(regClass[x])<<8
		case x86asm.Imm:
			if x > -smallImm && x < smallImm {
				c = argImm | uint64(x+smallImm)<<8
			} else {
				c = argImmLarge
			}
		case x86asm.Mem:
			c = memCode(x, inst.MemBytes)
		case x86asm.Rel:
			c = argRel
		}
		h = sketch.Combine(h, c)
	}
	return sketch.Mix(h)
}

// strToken hashes a textual token such as "call import:createfilew".
func strToken(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return sketch.Mix(h ^ saltStr)
}

var tokEndbr = strToken("endbr")

// isEndbr reports the CET landing pads endbr64/endbr32, which x86asm does
// not know and which start most functions built with -fcf-protection.
func isEndbr(b []byte) bool {
	return len(b) >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && (b[3] == 0xfa || b[3] == 0xfb)
}

// decodeAt decodes the instruction at va of s into a record; constants go
// to *pool and the record points at them. dc, when not nil, is the
// calling walker's decode cache, which gives the same records faster.
func (a *analyzer) decodeAt(s *xsec, va uint64, pool *[]uint64, dc *decodeCache) insn {
	var r insn
	a.decodeInto(s, va, pool, dc, &r)
	return r
}

// decodeInto is decodeAt writing the record in *r.
func (a *analyzer) decodeInto(s *xsec, va uint64, pool *[]uint64, dc *decodeCache, r *insn) {
	code := s.data[va-s.addr:]
	if isEndbr(code) {
		*r = insn{tok: tokEndbr, n: 4, kind: kSeq}
		return
	}
	if dc != nil {
		dc.record(a, code, va, pool, r)
		return
	}
	inst, err := decodeInsn(code, a.mode)
	if badInsn(&inst, err, code) {
		*r = insn{n: 1, kind: kBad}
		return
	}
	*r = a.fromInst(&inst, token(&inst), va, pool)
}

// badInsn reports a decoding that is no instruction. Op 0 is x86asm's way
// to report a lone prefix before garbage.
func badInsn(inst *x86asm.Inst, err error, code []byte) bool {
	return err != nil || inst.Op == 0 || inst.Len <= 0 || inst.Len > len(code)
}

// fromInst makes the record of inst, decoded at va, with token tok.
func (a *analyzer) fromInst(inst *x86asm.Inst, tok uint64, va uint64, pool *[]uint64) insn {
	r := insn{n: uint8(inst.Len), tok: tok}
	next := va + uint64(inst.Len)
	switch inst.Op {
	case x86asm.JMP, x86asm.CALL:
		jmp := inst.Op == x86asm.JMP
		switch x := inst.Args[0].(type) {
		case x86asm.Rel:
			r.target = a.wrap(next + uint64(int64(x)))
			r.kind = kCall
			if jmp {
				r.kind = kJmp
			}
			r.imp = a.imp[r.target] // PLT stub
		case x86asm.Mem:
			r.kind = kCallInd
			if jmp {
				r.kind = kJmpInd
			}
			if slot, ok := a.slot(x, next); ok {
				r.target = slot
				r.imp = a.imp[slot]
			}
		default:
			r.kind = kCallInd
			if jmp {
				r.kind = kJmpInd
			}
		}
	case x86asm.LJMP:
		r.kind = kJmpInd
	case x86asm.LCALL:
		r.kind = kCallInd
	case x86asm.RET, x86asm.LRET, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ, x86asm.SYSRET, x86asm.SYSEXIT:
		r.kind = kRet
	case x86asm.HLT, x86asm.UD0, x86asm.UD1, x86asm.UD2:
		r.kind = kStop
	case x86asm.INT:
		// int3 and int 0x29 (__fastfail) never return.
		if v, ok := inst.Args[0].(x86asm.Imm); ok && (v == 3 || v == 0x29) {
			r.kind = kStop
		}
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE, x86asm.XBEGIN:
		if x, ok := inst.Args[0].(x86asm.Rel); ok {
			r.kind = kJcc
			r.target = a.wrap(next + uint64(int64(x)))
		}
	}
	if r.kind == kSeq {
		r.cidx = uint32(len(*pool))
		*pool = a.appendConsts(*pool, inst, next)
		r.nconst = uint8(len(*pool) - int(r.cidx))
		if r.nconst == 0 {
			r.cidx = 0
		}
		r.target, r.lea = a.codeRef(inst, next)
	}
	return r
}

// codeRef returns the address inst takes, when it takes one: lea reg,
// [rip+x] (any address) or mov/push of an immediate that points into code
// (or, with Options.DataRefs, into loaded data).
// Callbacks, thread routines and window procedures are reached only this
// way; lea targets also let jump tables be found when the compiler
// hoisted the table address out of a loop. leaReg is 1+the register a lea
// writes, or 0.
func (a *analyzer) codeRef(inst *x86asm.Inst, next uint64) (t uint64, leaReg uint8) {
	switch inst.Op {
	case x86asm.LEA:
		if m, ok := inst.Args[1].(x86asm.Mem); ok && isIPReg(m.Base) && m.Index == 0 {
			if d, ok := inst.Args[0].(x86asm.Reg); ok && gprNum(d) >= 0 {
				leaReg = uint8(gprNum(d) + 1)
			}
			return a.wrap(next + uint64(m.Disp)), leaReg
		}
	case x86asm.MOV, x86asm.PUSH:
		for _, arg := range inst.Args {
			if v, ok := arg.(x86asm.Imm); ok && (v >= 0x10000 || v <= -0x10000) {
				t = a.wrap(uint64(v))
			}
		}
	}
	if t != 0 && a.secAt(t) != nil {
		return t, 0
	}
	// 32-bit code passes data by absolute address (push offset x); kept
	// only when asked for, so discovery sees exactly what it did before
	// (a target outside code never becomes a start).
	if t != 0 && a.opts.DataRefs && sectionIn(a.data, t) != nil {
		return t, 0
	}
	return 0, 0
}

// wrap truncates an address to the mode's address size.
func (a *analyzer) wrap(v uint64) uint64 {
	if a.mode == 32 {
		return uint64(uint32(v))
	}
	return v
}

// slot returns the address a memory operand names when it does not depend
// on registers: [rip+x] in 64-bit code, [abs] in 32-bit code.
func (a *analyzer) slot(m x86asm.Mem, next uint64) (uint64, bool) {
	if m.Index != 0 || m.Segment == x86asm.FS || m.Segment == x86asm.GS {
		return 0, false
	}
	switch {
	case isIPReg(m.Base):
		return a.wrap(next + uint64(m.Disp)), true
	case m.Base == 0:
		return a.wrap(uint64(m.Disp)), true
	}
	return 0, false
}

// maxInsnConsts bounds constants kept per instruction (it fits nconst).
const maxInsnConsts = 8

// appendConsts adds the distinctive constants of inst: large immediates
// and displacements that are not addresses or masks, and hashes of the
// read-only tables its operands point at.
func (a *analyzer) appendConsts(out []uint64, inst *x86asm.Inst, next uint64) []uint64 {
	n0 := len(out)
	for _, arg := range inst.Args {
		if arg == nil || len(out)-n0 >= maxInsnConsts {
			break
		}
		switch x := arg.(type) {
		case x86asm.Imm:
			v := int64(x)
			if v > -0x10000 && v < 0x10000 {
				continue
			}
			if h, ok := a.tableRef(a.wrap(uint64(v))); ok {
				out = append(out, h)
			} else if c, ok := a.distinctive(v); ok {
				out = append(out, c)
			}
		case x86asm.Mem:
			if x.Segment == x86asm.FS || x.Segment == x86asm.GS {
				continue
			}
			if isIPReg(x.Base) {
				if h, ok := a.tableRef(a.wrap(next + uint64(x.Disp))); ok {
					out = append(out, h)
				}
				continue
			}
			if isStackReg(x.Base) || (x.Disp > -0x10000 && x.Disp < 0x10000) {
				continue
			}
			if h, ok := a.tableRef(a.wrap(uint64(x.Disp))); ok {
				out = append(out, h)
			} else if c, ok := a.distinctive(x.Disp); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// distinctive reports whether v is a constant worth matching on, and the
// canonical form it is kept in: 32-bit patterns as unsigned 32-bit values
// so "mov eax, 0x9e3779b9" matches across modes and sign extensions.
func (a *analyzer) distinctive(v int64) (uint64, bool) {
	if v > -0x10000 && v < 0x10000 {
		return 0, false
	}
	u := uint64(v)
	if v >= math.MinInt32 && v <= math.MaxUint32 {
		u = uint64(uint32(v))
		if maskLike(uint64(uint32(v)), 32) {
			return 0, false
		}
	} else if maskLike(u, 64) {
		return 0, false
	}
	if a.inImage(u) || a.inImage(uint64(v)) {
		return 0, false
	}
	return u, true
}

// maskLike reports values common to all code and so no evidence of shared
// code: powers of two and their complements, contiguous low or high bit
// masks (0xffff, 0xffffffff, 0xffff0000...), and repeated-byte patterns,
// which include the compiler's division magic (0x55555556, 0xaaaaaaab,
// 0xcccccccd, 0x66666667).
func maskLike(u uint64, width int) bool {
	if width == 32 {
		x := uint32(u)
		if pow2(uint64(x)) || pow2(uint64(^x)) || x == math.MaxUint32 || pow2(uint64(x+1)) || pow2(uint64(-x)) {
			return true
		}
		return repeatedBytes(u, 4)
	}
	return pow2(u) || pow2(^u) || u == math.MaxUint64 || pow2(u+1) || pow2(-u) || repeatedBytes(u, 8)
}

// repeatedBytes reports whether the n low bytes of u repeat one byte,
// allowing the lowest byte to differ by up to 3 (rounded magic numbers).
func repeatedBytes(u uint64, n int) bool {
	b := byte(u >> 8)
	for i := 2; i < n; i++ {
		if byte(u>>(8*i)) != b {
			return false
		}
	}
	d := int(byte(u)) - int(b)
	return d >= -3 && d <= 3
}

func pow2(x uint64) bool { return x != 0 && x&(x-1) == 0 }

// tableWindow is how many bytes of a referenced table are hashed.
const tableWindow = 64

// tableRef hashes the read-only bytes at va when they look like a table
// (not zeros, not text, at least 8 distinct byte values): shared S-boxes
// and constant tables are strong evidence of shared code, and their
// contents do not move with relocation. The top bit separates the hash
// from immediates.
func (a *analyzer) tableRef(va uint64) (uint64, bool) {
	s := sectionIn(a.ro, va)
	if s == nil {
		return 0, false
	}
	b := s.Data[va-s.Addr:]
	if len(b) > tableWindow {
		b = b[:tableWindow]
	}
	if !looksLikeTable(b) {
		return 0, false
	}
	h := uint64(len(b)) ^ saltTable
	for len(b) >= 8 {
		h = sketch.Combine(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	if len(b) > 0 {
		var tail [8]byte
		copy(tail[:], b)
		h = sketch.Combine(h, binary.LittleEndian.Uint64(tail[:]))
	}
	return h | 1<<63, true
}

func looksLikeTable(b []byte) bool {
	if len(b) < 8 {
		return false
	}
	var seen [4]uint64
	distinct, text := 0, 0
	printable := true
	for _, c := range b {
		if seen[c>>6]&(1<<(c&63)) == 0 {
			seen[c>>6] |= 1 << (c & 63)
			distinct++
		}
		switch {
		case c >= 0x20 && c < 0x7f, c == '\t', c == '\n', c == '\r':
			text++
		case c == 0:
		default:
			printable = false
		}
	}
	// Strings, possibly several separated by NULs, are not tables.
	if printable && text*4 >= len(b)*3 {
		return false
	}
	return distinct >= 8
}

func popcount(x uint64) int { return bits.OnesCount64(x) }

// decodeInsn decodes one instruction. golang.org/x/arch's decoder gives
// VZEROUPPER and VZEROALL (VEX opcode 0x77, no operands) one byte too
// many, which would misalign every instruction after them; their length is
// the VEX prefix plus the opcode byte.
func decodeInsn(code []byte, mode int) (x86asm.Inst, error) {
	inst, err := x86asm.Decode(code, mode)
	if err == nil && (inst.Op == x86asm.VZEROUPPER || inst.Op == x86asm.VZEROALL) {
		switch {
		case len(code) >= 3 && code[0] == 0xc5 && code[2] == 0x77:
			inst.Len = 3
		case len(code) >= 4 && code[0] == 0xc4 && code[3] == 0x77:
			inst.Len = 4
		}
	}
	return inst, err
}
