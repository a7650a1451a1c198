package disasm

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/arch/x86/x86asm"
)

// listing disassembles the function at addr with the analyzer's known
// starts deciding where it ends.
func (a *analyzer) listing(addr uint64) ([]Line, error) {
	s := a.secAt(addr)
	if s == nil {
		return nil, fmt.Errorf("disasm: 0x%x is not in executable code", addr)
	}
	w := a.walkers[0]
	w.walk(s, addr, a.bound(s, addr), true)
	if len(w.order) == 0 {
		return nil, fmt.Errorf("disasm: no code at 0x%x", addr)
	}
	order := slices.Clone(w.order)
	slices.Sort(order)
	local := func(va uint64) bool { _, ok := slices.BinarySearch(order, va); return ok }

	lines := make([]Line, 0, len(order))
	for _, va := range order {
		code := s.data[va-s.addr:]
		if isEndbr(code) {
			b := slices.Clone(code[:4])
			lines = append(lines, Line{Addr: va, Bytes: b, Text: "endbr", Norm: "endbr"})
			continue
		}
		inst, err := decodeInsn(code, a.mode)
		if err != nil || inst.Op == 0 || inst.Len <= 0 || inst.Len > len(code) {
			continue
		}
		text := x86asm.IntelSyntax(inst, va, func(t uint64) (string, uint64) {
			if name := a.importName(t); name != "" {
				return name, t
			}
			return "", 0
		})
		norm := x86asm.IntelSyntax(inst, va, func(t uint64) (string, uint64) {
			switch {
			case a.importName(t) != "":
				return "import:" + a.importName(t), t
			case local(t):
				return "loc", t
			case a.secAt(t) != nil:
				return "sub", t
			case sectionIn(a.data, t) != nil:
				return "data", t
			}
			return "", 0
		})
		lines = append(lines, Line{Addr: va, Bytes: slices.Clone(code[:inst.Len]), Text: text, Norm: norm})
	}
	return lines, nil
}

// importName names the import reached through t (slot, stub or a thunk
// "jmp [slot]"), or returns "".
func (a *analyzer) importName(t uint64) string {
	if i := a.imp[t]; i != 0 {
		return a.impName[i-1]
	}
	b := a.codeAt(t)
	if b == nil {
		return ""
	}
	inst, err := decodeInsn(b, a.mode)
	if err != nil || inst.Op != x86asm.JMP {
		return ""
	}
	if m, ok := inst.Args[0].(x86asm.Mem); ok {
		if slot, ok := a.slot(m, t+uint64(inst.Len)); ok {
			if i := a.imp[slot]; i != 0 {
				return a.impName[i-1]
			}
		}
	}
	return ""
}

// String formats a line as "address  bytes  text", for debugging and
// golden files.
func (l Line) String() string {
	var hex strings.Builder
	for i, b := range l.Bytes {
		if i > 0 {
			hex.WriteByte(' ')
		}
		fmt.Fprintf(&hex, "%02x", b)
	}
	return fmt.Sprintf("%#x  %-30s %s", l.Addr, hex.String(), l.Norm)
}
