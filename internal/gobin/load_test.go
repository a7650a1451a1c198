package gobin

import (
	"debug/elf"
	"debug/pe"
	"errors"
	"fmt"
)

// loadSections maps an ELF or PE file's allocated sections the way a
// loader would, for feeding Parse in tests.
func loadSections(path string) ([]Section, int, error) {
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		ps := 4
		if f.Class == elf.ELFCLASS64 {
			ps = 8
		}
		var secs []Section
		for _, s := range f.Sections {
			if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOBITS {
				continue
			}
			b, err := s.Data()
			if err != nil {
				return nil, 0, fmt.Errorf("%s: section %s: %v", path, s.Name, err)
			}
			secs = append(secs, Section{Name: s.Name, Addr: s.Addr, Data: b})
		}
		return secs, ps, nil
	}
	f, err := pe.Open(path)
	if err != nil {
		return nil, 0, errors.New(path + ": neither ELF nor PE")
	}
	defer f.Close()
	var base uint64
	ps := 4
	switch oh := f.OptionalHeader.(type) {
	case *pe.OptionalHeader32:
		base = uint64(oh.ImageBase)
	case *pe.OptionalHeader64:
		base, ps = oh.ImageBase, 8
	default:
		return nil, 0, errors.New(path + ": PE without optional header")
	}
	var secs []Section
	for _, s := range f.Sections {
		b, err := s.Data()
		if err != nil {
			continue // e.g. uninitialised data without file bytes
		}
		if s.VirtualSize != 0 && uint32(len(b)) > s.VirtualSize {
			b = b[:s.VirtualSize] // drop file-alignment padding
		}
		secs = append(secs, Section{Name: s.Name, Addr: base + uint64(s.VirtualAddress), Data: b})
	}
	return secs, ps, nil
}
