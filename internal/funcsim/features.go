package funcsim

import (
	"math/bits"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Features is what the experimental extraction keeps of one function: a
// few token streams of different coarseness, the control-flow shape, and
// the things compilers rarely change (called imports, referenced strings,
// constants and structure offsets). Variants (variants.go) turn them into
// MinHash signatures.
type Features struct {
	Fine   []uint64 // kinship's token: opcode, prefixes, operand kinds with register class and size
	Kind   []uint64 // opcode and operand kinds (reg, imm, stack/other/rip memory), no sizes or values
	Op     []uint64 // opcode class only: mov family, jcc, cmovcc, setcc merged
	Move   []bool   // pure data movement (mov family, push, pop, lea, nop, xchg)
	Block  []int32  // basic block of each instruction
	Blocks int
	Edges  int
	Back   int // edges to an earlier address: loops
	Rets   int
	Calls  int      // direct calls to code of the binary
	ICalls int      // indirect calls
	Imps   []uint64 // hashes of "call import:name" and "jmp import:name"
	Strs   []uint64 // hashes of referenced C strings
	Imms   []int64  // immediates that are not addresses
	Offs   []int64  // displacements off non-stack base registers: structure fields

	// Callees are the direct call targets in the binary, and ImpNames the
	// imports called or jumped to: in a shared object these include its
	// own exported functions, reached through the PLT.
	Callees  []uint64
	ImpNames []string
}

// Salts for Features tokens; distinct from one another so a string hash
// never equals an opcode token.
const (
	saltFine = 0x66696e6500000001
	saltKind = 0x6b696e6400000002
	saltOp   = 0x6f70000000000003
	saltImp  = 0x696d700000000004
	saltStr  = 0x7374720000000005
	saltImm  = 0x696d6d0000000006
	saltOff  = 0x6f66660000000007
	saltCFG  = 0x6366670000000008
	saltBlk  = 0x626c6b0000000009
	saltGram = 0x6772616d0000000a
	saltOcc  = 0x6f6363000000000b
)

// Extract computes Features from a function listing. name, when not nil,
// names the exported function a direct call target is (or reaches
// through the PLT): such a call is named like a call to an import, since
// ELF shared objects call their own exports through the PLT while a PE DLL
// calls them directly.
func Extract(f *binfmt.File, lines []disasm.Line, name func(target uint64) string) *Features {
	mode := 64
	if f.Bits == 32 {
		mode = 32
	}
	ft := &Features{}
	n := len(lines)
	insts := make([]x86asm.Inst, n)
	ok := make([]bool, n)
	for i, l := range lines {
		if l.Norm == "endbr" {
			continue
		}
		in, err := x86asm.Decode(l.Bytes, mode)
		if err != nil {
			continue
		}
		insts[i], ok[i] = in, true
	}
	inFunc := make(map[uint64]int, n)
	for i, l := range lines {
		inFunc[l.Addr] = i
	}
	// Leaders: the start, branch targets inside the function, what follows
	// a branch, return or stop, and what follows a gap.
	leader := make([]bool, n)
	if n > 0 {
		leader[0] = true
	}
	target := func(i int) (int, bool) {
		r, isRel := insts[i].Args[0].(x86asm.Rel)
		if !isRel {
			return 0, false
		}
		t := lines[i].Addr + uint64(len(lines[i].Bytes)) + uint64(int64(r))
		j, in := inFunc[t]
		return j, in
	}
	for i := range lines {
		if i > 0 && lines[i-1].Addr+uint64(len(lines[i-1].Bytes)) != lines[i].Addr {
			leader[i] = true
		}
		if !ok[i] {
			continue
		}
		switch cls := flowOf(insts[i].Op); cls {
		case flowJcc, flowJmp:
			if j, in := target(i); in {
				leader[j] = true
				if lines[j].Addr <= lines[i].Addr {
					ft.Back++
				}
				ft.Edges++
			}
			if cls == flowJcc {
				ft.Edges++ // fall-through
			}
			if i+1 < n {
				leader[i+1] = true
			}
		case flowRet, flowStop:
			if cls == flowRet {
				ft.Rets++
			}
			if i+1 < n {
				leader[i+1] = true
			}
		}
	}
	ft.Block = make([]int32, n)
	b := int32(-1)
	for i := range lines {
		if leader[i] {
			b++
			// A block entered by falling through has that edge too.
			if i > 0 && ok[i-1] && flowOf(insts[i-1].Op) == flowSeq {
				ft.Edges++
			}
		}
		ft.Block[i] = b
	}
	ft.Blocks = int(b + 1)

	for i, l := range lines {
		if !ok[i] {
			t := strHash("endbr")
			ft.Fine, ft.Kind, ft.Op, ft.Move = append(ft.Fine, t), append(ft.Kind, t), append(ft.Op, t), append(ft.Move, true)
			continue
		}
		in := &insts[i]
		next := l.Addr + uint64(len(l.Bytes))
		imp := importOf(l.Norm)
		if r, isRel := in.Args[0].(x86asm.Rel); imp == "" && name != nil && isRel && (in.Op == x86asm.CALL || in.Op == x86asm.JMP) {
			imp = name(next + uint64(int64(r)))
		}
		if imp != "" {
			op := "call"
			if in.Op == x86asm.JMP {
				op = "jmp"
			}
			t := strHash(op + " import:" + imp)
			ft.Imps = append(ft.Imps, t)
			ft.ImpNames = append(ft.ImpNames, imp)
			ft.Fine, ft.Kind, ft.Op, ft.Move = append(ft.Fine, t), append(ft.Kind, t), append(ft.Op, t), append(ft.Move, false)
			continue
		}
		switch in.Op {
		case x86asm.CALL:
			if r, isRel := in.Args[0].(x86asm.Rel); isRel {
				ft.Calls++
				ft.Callees = append(ft.Callees, next+uint64(int64(r)))
			} else {
				ft.ICalls++
			}
		case x86asm.LCALL:
			ft.ICalls++
		}
		ft.Fine = append(ft.Fine, fineToken(in))
		ft.Kind = append(ft.Kind, kindToken(in))
		ft.Op = append(ft.Op, sketch.Mix(uint64(opClass(in.Op))^saltOp))
		ft.Move = append(ft.Move, isMove(in.Op))
		// Immediates added to or masked into the stack pointer are frame
		// sizes, which every optimisation level changes.
		frame := false
		if r, isReg := in.Args[0].(x86asm.Reg); isReg && isStack(r) {
			frame = true
		}
		for _, a := range in.Args {
			switch x := a.(type) {
			case x86asm.Imm:
				if frame {
					continue
				}
				v := int64(x)
				if va := uint64(v); mode == 32 {
					va = uint64(uint32(v))
					if f.SectionAt(va) != nil {
						ft.addStr(f, va)
						continue
					}
				} else if f.SectionAt(va) != nil && (v >= 0x10000 || v <= -0x10000) {
					ft.addStr(f, va)
					continue
				}
				ft.Imms = append(ft.Imms, v)
			case x86asm.Mem:
				switch {
				case x.Base == x86asm.RIP || x.Base == x86asm.EIP:
					ft.addStr(f, next+uint64(x.Disp))
				case x.Base == 0 && mode == 32:
					ft.addStr(f, uint64(uint32(x.Disp)))
				case isStack(x.Base) || x.Segment == x86asm.FS || x.Segment == x86asm.GS:
				case x.Base != 0:
					ft.Offs = append(ft.Offs, x.Disp)
				}
			}
		}
	}
	return ft
}

// addStr records a reference to a C string in non-executable data.
func (ft *Features) addStr(f *binfmt.File, va uint64) {
	s := f.SectionAt(va)
	if s == nil || s.Exec {
		return
	}
	b := s.Data[va-s.Addr:]
	end := 0
	for end < len(b) && end < 256 && b[end] != 0 {
		c := b[end]
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c >= 0x7f {
			return
		}
		end++
	}
	if end < 3 || end == len(b) {
		return
	}
	ft.Strs = append(ft.Strs, strHash(string(b[:end])))
}

// importOf returns the import a normalised instruction reaches, or "".
func importOf(norm string) string {
	i := strings.Index(norm, "import:")
	if i < 0 || !(strings.HasPrefix(norm, "call") || strings.HasPrefix(norm, "jmp")) {
		return ""
	}
	s := norm[i+len("import:"):]
	if j := strings.IndexAny(s, " ]+,"); j >= 0 {
		s = s[:j]
	}
	return s
}

type flow uint8

const (
	flowSeq flow = iota
	flowJcc
	flowJmp
	flowCall
	flowRet
	flowStop
)

func flowOf(op x86asm.Op) flow {
	switch op {
	case x86asm.JMP, x86asm.LJMP:
		return flowJmp
	case x86asm.CALL, x86asm.LCALL:
		return flowCall
	case x86asm.RET, x86asm.LRET, x86asm.IRET, x86asm.IRETD, x86asm.IRETQ:
		return flowRet
	case x86asm.HLT, x86asm.UD1, x86asm.UD2, x86asm.INT:
		return flowStop
	case x86asm.JA, x86asm.JAE, x86asm.JB, x86asm.JBE, x86asm.JCXZ, x86asm.JE, x86asm.JECXZ,
		x86asm.JG, x86asm.JGE, x86asm.JL, x86asm.JLE, x86asm.JNE, x86asm.JNO, x86asm.JNP,
		x86asm.JNS, x86asm.JO, x86asm.JP, x86asm.JRCXZ, x86asm.JS,
		x86asm.LOOP, x86asm.LOOPE, x86asm.LOOPNE:
		return flowJcc
	}
	return flowSeq
}

// Opcode classes that merge what compilers swap freely: the mov family,
// condition codes (gcc and clang invert branches differently), and the
// add/sub/lea forms of address arithmetic are kept apart only where the
// operation itself differs.
const (
	clsMov = 10000 + iota
	clsJcc
	clsCmov
	clsSet
	clsNop
)

func opClass(op x86asm.Op) int {
	switch op {
	case x86asm.MOV, x86asm.MOVZX, x86asm.MOVSX, x86asm.MOVSXD, x86asm.MOVD, x86asm.MOVQ,
		x86asm.MOVAPS, x86asm.MOVAPD, x86asm.MOVUPS, x86asm.MOVUPD, x86asm.MOVDQA, x86asm.MOVDQU,
		x86asm.MOVSS, x86asm.MOVSD_XMM:
		return clsMov
	case x86asm.NOP:
		return clsNop
	}
	if flowOf(op) == flowJcc {
		return clsJcc
	}
	name := op.String()
	switch {
	case strings.HasPrefix(name, "CMOV"):
		return clsCmov
	case strings.HasPrefix(name, "SET"):
		return clsSet
	}
	return int(op)
}

func isMove(op x86asm.Op) bool {
	switch opClass(op) {
	case clsMov, clsNop:
		return true
	}
	switch op {
	case x86asm.PUSH, x86asm.POP, x86asm.LEA, x86asm.XCHG:
		return true
	}
	return false
}

func isStack(r x86asm.Reg) bool {
	switch r {
	case x86asm.RSP, x86asm.RBP, x86asm.ESP, x86asm.EBP, x86asm.SP, x86asm.BP:
		return true
	}
	return false
}

func strHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return sketch.Mix(h)
}

// fineToken mirrors internal/disasm's token: opcode, meaningful prefixes,
// and per operand its kind with register class and size, small immediate
// values and memory base kind.
func fineToken(in *x86asm.Inst) uint64 {
	var pre uint64
	for _, p := range in.Prefix {
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
	h := uint64(in.Op) | pre<<32 | saltFine
	for _, a := range in.Args {
		if a == nil {
			break
		}
		var c uint64
		switch x := a.(type) {
		case x86asm.Reg:
			c = 1 | uint64(regClass(x))<<8
		case x86asm.Imm:
			if x > -0x100 && x < 0x100 {
				c = 2 | uint64(x+0x100)<<8
			} else {
				c = 3
			}
		case x86asm.Mem:
			c = 4 | memBase(x)<<4 | uint64(in.MemBytes)<<16
			if x.Index != 0 {
				c |= (1 + uint64(bits.TrailingZeros8(x.Scale))) << 6
			}
			if x.Base != x86asm.RIP && x.Disp != 0 {
				d := uint64(1)
				if x.Disp <= -0x100 || x.Disp >= 0x100 {
					d = 2
				}
				c |= d << 9
			}
		case x86asm.Rel:
			c = 5
		}
		h = sketch.Combine(h, c)
	}
	return sketch.Mix(h)
}

// kindToken keeps the opcode class and the kind of each operand only.
func kindToken(in *x86asm.Inst) uint64 {
	h := uint64(opClass(in.Op)) | saltKind
	for _, a := range in.Args {
		if a == nil {
			break
		}
		var c uint64
		switch x := a.(type) {
		case x86asm.Reg:
			c = 1
			if isStack(x) {
				c = 6
			}
		case x86asm.Imm:
			c = 2
		case x86asm.Mem:
			c = 4 | memBase(x)<<4
		case x86asm.Rel:
			c = 5
		}
		h = sketch.Combine(h, c)
	}
	return sketch.Mix(h)
}

func memBase(m x86asm.Mem) uint64 {
	switch {
	case m.Base == 0:
		return 0
	case isStack(m.Base):
		return 1
	case m.Base == x86asm.RIP || m.Base == x86asm.EIP:
		return 2
	}
	return 3
}

func regClass(r x86asm.Reg) uint8 {
	switch {
	case isStack(r):
		return 20
	case r >= x86asm.AL && r <= x86asm.R15B:
		return 1
	case r >= x86asm.AX && r <= x86asm.R15W:
		return 2
	case r >= x86asm.EAX && r <= x86asm.R15L:
		return 3
	case r >= x86asm.RAX && r <= x86asm.R15:
		return 4
	case r >= x86asm.X0 && r <= x86asm.X31:
		return 5
	}
	return 9
}
