package disasm

import (
	"encoding/binary"
	"fmt"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
)

// asm assembles hand-encoded machine code with labels, so tests can state
// control flow without computing branch offsets by hand.
type asm struct {
	base   uint64
	buf    []byte
	labels map[string]uint64
	fixups []fixup
}

type fixup struct {
	pos   int    // where the field starts in buf
	size  int    // 1 or 4
	label string // target label, or "" for addr
	addr  uint64
	rel   bool // relative to the end of the field
}

func newAsm(base uint64) *asm { return &asm{base: base, labels: map[string]uint64{}} }

func (a *asm) pc() uint64 { return a.base + uint64(len(a.buf)) }

// L defines a label at the current position.
func (a *asm) L(name string) *asm {
	if _, dup := a.labels[name]; dup {
		panic("duplicate label " + name)
	}
	a.labels[name] = a.pc()
	return a
}

// B emits raw bytes.
func (a *asm) B(b ...byte) *asm { a.buf = append(a.buf, b...); return a }

// Pad emits n copies of b.
func (a *asm) Pad(n int, b byte) *asm {
	for range n {
		a.buf = append(a.buf, b)
	}
	return a
}

func (a *asm) field(size int, label string, addr uint64, rel bool) *asm {
	a.fixups = append(a.fixups, fixup{pos: len(a.buf), size: size, label: label, addr: addr, rel: rel})
	return a.Pad(size, 0)
}

// Call, Jmp: rel32 to a label.
func (a *asm) Call(l string) *asm { return a.B(0xe8).field(4, l, 0, true) }
func (a *asm) Jmp(l string) *asm  { return a.B(0xe9).field(4, l, 0, true) }

// Jmp8 and Jcc8 (op 0x70..0x7f): rel8 to a label.
func (a *asm) Jmp8(l string) *asm          { return a.B(0xeb).field(1, l, 0, true) }
func (a *asm) Jcc8(op byte, l string) *asm { return a.B(op).field(1, l, 0, true) }

// Rip emits op followed by a rip-relative disp32 to addr; the field must
// end the instruction.
func (a *asm) Rip(addr uint64, op ...byte) *asm { return a.B(op...).field(4, "", addr, true) }

// Abs emits op followed by a 32-bit absolute address.
func (a *asm) Abs(addr uint64, op ...byte) *asm { return a.B(op...).field(4, "", addr, false) }

// AbsL emits op followed by the 32-bit absolute address of a label.
func (a *asm) AbsL(l string, op ...byte) *asm { return a.B(op...).field(4, l, 0, false) }

// Code resolves fixups and returns the bytes.
func (a *asm) Code() []byte {
	for _, f := range a.fixups {
		t := f.addr
		if f.label != "" {
			var ok bool
			if t, ok = a.labels[f.label]; !ok {
				panic("undefined label " + f.label)
			}
		}
		v := t
		if f.rel {
			v = t - (a.base + uint64(f.pos+f.size))
		}
		switch f.size {
		case 1:
			if d := int64(v); d < -128 || d > 127 {
				panic(fmt.Sprintf("rel8 out of range to %s", f.label))
			}
			a.buf[f.pos] = byte(v)
		case 4:
			binary.LittleEndian.PutUint32(a.buf[f.pos:], uint32(v))
		}
	}
	return a.buf
}

// Addr returns a label's address.
func (a *asm) Addr(l string) uint64 {
	v, ok := a.labels[l]
	if !ok {
		panic("undefined label " + l)
	}
	return v
}

// image describes a synthetic executable: .text, a read-only .rdata with
// two import slots, a constant table and a string, and a writable .data.
type image struct {
	bits      int
	imageBase uint64
	text      uint64
	rdata     uint64
	data      uint64
}

var (
	img64 = image{bits: 64, imageBase: 0x140000000, text: 0x140001000, rdata: 0x140004000, data: 0x140005000}
	img32 = image{bits: 32, imageBase: 0x400000, text: 0x401000, rdata: 0x404000, data: 0x405000}
)

// Offsets in .rdata.
const (
	slotCreateFile  = 0x00
	slotExitProcess = 0x08
	offTable        = 0x100
	offString       = 0x200
	offJumpTable    = 0x300
	rdataSize       = 0x400
)

func (im image) slot(off uint64) uint64 { return im.rdata + off }

// sbox is a 64-byte table that looks like one (many distinct values).
var sbox = func() []byte {
	b := make([]byte, 64)
	x := uint32(0x12345678)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}()

// rdataBytes lays out .rdata; tableAt moves the constant table.
func rdataBytes(tableAt int, jt []byte) []byte {
	b := make([]byte, rdataSize)
	copy(b[tableAt:], sbox)
	copy(b[offString:], "this is a plain text string, not a table\x00another one\x00")
	copy(b[offJumpTable:], jt)
	return b
}

// file builds a binfmt.File for code at im.text.
func (im image) file(code []byte, entry uint64, hints ...binfmt.FuncHint) *binfmt.File {
	return im.fileWith(code, entry, rdataBytes(offTable, nil), hints...)
}

func (im image) fileWith(code []byte, entry uint64, rdata []byte, hints ...binfmt.FuncHint) *binfmt.File {
	f := &binfmt.File{
		Format:    model.FormatPE,
		Arch:      model.ArchAMD64,
		Bits:      im.bits,
		ImageBase: im.imageBase,
		Entry:     entry,
		Sections: []binfmt.Section{
			{Name: ".text", Addr: im.text, VSize: uint64(len(code)), Exec: true, Data: code},
			{Name: ".rdata", Addr: im.rdata, VSize: uint64(len(rdata)), Data: rdata},
			{Name: ".data", Addr: im.data, VSize: 0x100, Writable: true, Data: make([]byte, 0x100)},
		},
		Imports: []binfmt.Import{
			{Library: "KERNEL32.dll", Name: "CreateFileW", Addrs: []uint64{im.slot(slotCreateFile)}},
			{Library: "KERNEL32.dll", Name: "ExitProcess", Addrs: []uint64{im.slot(slotExitProcess)}},
		},
		Hints: hints,
	}
	if im.bits == 32 {
		f.Arch = model.Arch386
	}
	return f
}
