package funcsim

import (
	"debug/elf"
	"encoding/binary"
	"strings"

	"golang.org/x/arch/x86/x86asm"

	"github.com/kinship-dev/kinship/internal/binfmt"
)

// ownSlots maps the GOT slots of a shared object's own exported functions
// to their lowercased names. gcc and clang call a -fPIC library's exported
// functions through the PLT (they may be interposed), so the call goes to
// a stub "jmp [slot]" whose relocation names a symbol the file defines;
// binfmt reports only undefined symbols as imports, so without this such
// calls are anonymous while a DLL's direct calls to its exports are not.
// Relocations live in the dynamic section and survive strip.
func ownSlots(path string) map[uint64]string {
	ef, err := elf.Open(path)
	if err != nil {
		return nil
	}
	defer ef.Close()
	syms, err := ef.DynamicSymbols()
	if err != nil || ef.Class != elf.ELFCLASS64 {
		return nil
	}
	out := map[uint64]string{}
	for _, s := range ef.Sections {
		if s.Type != elf.SHT_RELA || s.Link == 0 || int(s.Link) >= len(ef.Sections) || ef.Sections[s.Link].Type != elf.SHT_DYNSYM {
			continue
		}
		b, err := s.Data()
		if err != nil {
			continue
		}
		for ; len(b) >= 24; b = b[24:] {
			off, info := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
			typ, sym := elf.R_X86_64(info&0xffffffff), int(info>>32)
			if typ != elf.R_X86_64_JMP_SLOT && typ != elf.R_X86_64_GLOB_DAT || sym == 0 || sym > len(syms) {
				continue
			}
			ds := syms[sym-1]
			if ds.Section == elf.SHN_UNDEF || elf.ST_TYPE(ds.Info) != elf.STT_FUNC {
				continue
			}
			out[off] = strings.ToLower(ds.Name)
		}
	}
	return out
}

// calleeName returns the exported function a direct call to t reaches:
// t itself when exported, or the function behind a PLT stub "jmp [slot]"
// whose slot is one of the file's own.
func calleeName(f *binfmt.File, t uint64, exports map[uint64]string, slots map[uint64]string) string {
	if n := exports[t]; n != "" {
		return n
	}
	if len(slots) == 0 {
		return ""
	}
	b := f.BytesAt(t)
	if len(b) >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && b[3] == 0xfa {
		b, t = b[4:], t+4 // endbr64
	}
	in, err := x86asm.Decode(b, 64)
	if err != nil || in.Op != x86asm.JMP {
		return ""
	}
	m, ok := in.Args[0].(x86asm.Mem)
	if !ok || m.Base != x86asm.RIP {
		return ""
	}
	return slots[t+uint64(in.Len)+uint64(m.Disp)]
}
