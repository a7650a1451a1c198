package binfmt

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// ELF constants used here, from the System V gABI and the x86 psABIs.
const (
	em386    = 3
	emARM    = 40
	emX86_64 = 62
	emARM64  = 183

	etRel = 1

	shtSymtab  = 2
	shtStrtab  = 3
	shtRela    = 4
	shtNobits  = 8
	shtRel     = 9
	shtDynsym  = 11
	shtVerneed = 0x6ffffffe
	shtVersym  = 0x6fffffff

	shfWrite = 0x1
	shfAlloc = 0x2
	shfExec  = 0x4

	shnUndef     = 0
	shnLoReserve = 0xff00
	shnXindex    = 0xffff

	ptLoad       = 1
	ptGnuEhFrame = 0x6474e550
	pfX          = 1
	pfW          = 2

	sttFunc  = 2
	sttIfunc = 10

	rGlobDat  = 6 // R_386_GLOB_DAT and R_X86_64_GLOB_DAT
	rJumpSlot = 7 // R_386_JMP_SLOT and R_X86_64_JUMP_SLOT
)

type elfSec struct {
	name                   string
	nameOff                uint32
	typ                    uint32
	flags, addr, off, size uint64
	link, info             uint32
	entsize                uint64
	hdrOff                 uint64 // file offset of the header; 0 for sections made up from PT_DYNAMIC
	data                   []byte // loaded file bytes; nil for NOBITS
}

type elfProg struct {
	typ, flags                uint32
	off, vaddr, filesz, memsz uint64
}

type elfSym struct {
	name  string
	value uint64
	size  uint64
	info  uint8
	shndx uint16
}

func (s *elfSym) isFunc() bool { t := s.info & 0xf; return t == sttFunc || t == sttIfunc }

// elfFile is the state of one ELF load.
type elfFile struct {
	l       *loader
	bo      binary.ByteOrder
	is64    bool
	machine uint16
	secs    []elfSec // every section header, by index; nil when unusable
	progs   []elfProg
	// synthetic is set when the dynamic tables were found through
	// PT_DYNAMIC because the file has no usable section headers.
	synthetic bool
	// fromSegments is set when the sections are the PT_LOAD segments.
	fromSegments bool
}

func (e *elfFile) u16(b []byte) uint16 { return e.bo.Uint16(b) }
func (e *elfFile) u32(b []byte) uint32 { return e.bo.Uint32(b) }
func (e *elfFile) u64(b []byte) uint64 { return e.bo.Uint64(b) }

// word reads an address-sized field.
func (e *elfFile) word(b []byte) uint64 {
	if e.is64 {
		return e.bo.Uint64(b)
	}
	return uint64(e.bo.Uint32(b))
}

// pick returns a64 in a 64-bit file, else a32.
func (e *elfFile) pick(a64, a32 int) int {
	if e.is64 {
		return a64
	}
	return a32
}

func (e *elfFile) ptrSize() int {
	if e.is64 {
		return 8
	}
	return 4
}

func (l *loader) loadELF() error {
	f := l.f
	f.Format = model.FormatELF
	e := &elfFile{l: l}
	h := l.fileBytes(0, 64)
	if len(h) < 16 {
		return &FormatError{Off: 0, Msg: "truncated ELF identification"}
	}
	switch h[4] {
	case 1:
		f.Bits = 32
	case 2:
		f.Bits, e.is64 = 64, true
	default:
		return &FormatError{Off: 4, Msg: fmt.Sprintf("bad ELF class %d", h[4])}
	}
	switch h[5] {
	case 1:
		e.bo = binary.LittleEndian
	case 2:
		e.bo = binary.BigEndian
	default:
		return &FormatError{Off: 5, Msg: fmt.Sprintf("bad ELF data encoding %d", h[5])}
	}
	hsize := 52
	if e.is64 {
		hsize = 64
	}
	if len(h) < hsize {
		return &FormatError{Off: int64(len(h)), Msg: "truncated ELF header"}
	}
	etype := e.u16(h[16:])
	e.machine = e.u16(h[18:])
	var phoff, shoff uint64
	var phentsize, phnum, shentsize, shnum, shstrndx int
	if e.is64 {
		f.Entry = e.u64(h[24:])
		phoff, shoff = e.u64(h[32:]), e.u64(h[40:])
		phentsize, phnum = int(e.u16(h[54:])), int(e.u16(h[56:]))
		shentsize, shnum, shstrndx = int(e.u16(h[58:])), int(e.u16(h[60:])), int(e.u16(h[62:]))
	} else {
		f.Entry = uint64(e.u32(h[24:]))
		phoff, shoff = uint64(e.u32(h[28:])), uint64(e.u32(h[32:]))
		phentsize, phnum = int(e.u16(h[42:])), int(e.u16(h[44:]))
		shentsize, shnum, shstrndx = int(e.u16(h[46:])), int(e.u16(h[48:])), int(e.u16(h[50:]))
	}

	switch e.machine {
	case em386:
		f.Arch = model.Arch386
	case emX86_64:
		f.Arch = model.ArchAMD64
	case emARM:
		f.Arch = model.ArchARM
	case emARM64:
		f.Arch = model.ArchARM64
	}
	switch {
	case f.Arch == model.Arch386 || f.Arch == model.ArchAMD64:
		if f.Arch == model.Arch386 && e.is64 {
			l.anomaly("EM_386 in a 64-bit ELF file")
		}
	case f.Arch != model.ArchUnknown:
		f.Unsupported = fmt.Sprintf("architecture %s: code analysis not supported", f.Arch)
	default:
		f.Unsupported = fmt.Sprintf("architecture %s: code analysis not supported", elf.Machine(e.machine))
	}

	// Section 0 holds the real counts when they overflow the header fields.
	shdrSize := 40
	if e.is64 {
		shdrSize = 64
	}
	if shoff != 0 && (shnum == 0 || shstrndx == shnXindex || phnum == 0xffff) && shentsize >= shdrSize {
		if s0 := l.fileBytes(int64(shoff), uint64(shentsize)); len(s0) == shentsize && shoff < uint64(l.size) {
			s := e.parseShdr(s0)
			if shnum == 0 {
				shnum = int(min(s.size, 1<<31))
			}
			if shstrndx == shnXindex {
				shstrndx = int(s.link)
			}
			if phnum == 0xffff {
				phnum = int(s.info)
				if phnum == 0 {
					// PN_XNUM says the count is in section 0's sh_info.
					l.anomaly("e_phnum is PN_XNUM (0xffff) but section 0's sh_info (file offset 0x%x) holds no program header count; program headers ignored", shoff+uint64(e.pick(44, 28)))
				}
			}
		}
	}

	e.readProgs(phoff, phentsize, phnum)
	e.readSecs(shoff, shentsize, shnum)

	end := int64(0)
	for _, s := range e.secs {
		if s.typ != shtNobits && s.typ != 0 && s.off < uint64(l.size) {
			end = max(end, int64(s.off+min(s.size, uint64(l.size))))
		}
	}
	for _, p := range e.progs {
		if p.off < uint64(l.size) {
			end = max(end, int64(p.off+min(p.filesz, uint64(l.size))))
		}
	}
	if err := l.readBuf(end); err != nil {
		return err
	}
	e.nameSecs(shstrndx)
	for i := range e.secs {
		s := &e.secs[i]
		if s.typ == shtNobits || s.typ == 0 || s.size == 0 {
			continue
		}
		s.data = e.fileData(s.off, s.size, "section "+quote(s.name))
	}

	if etype == etRel {
		l.anomaly("relocatable object: section addresses are not assigned")
	}
	f.ImageBase = ^uint64(0)
	for _, p := range e.progs {
		if p.typ == ptLoad {
			f.ImageBase = min(f.ImageBase, p.vaddr)
		}
	}
	if f.ImageBase == ^uint64(0) {
		f.ImageBase = 0
	}

	for _, s := range e.secs {
		if s.flags&shfAlloc == 0 || s.typ == 0 || s.size == 0 {
			continue
		}
		f.Sections = append(f.Sections, Section{
			Name: s.name, Addr: s.addr, VSize: s.size, Offset: s.off,
			Exec: s.flags&shfExec != 0, Writable: s.flags&shfWrite != 0, Data: s.data,
		})
	}
	if f.CodeBytes() == 0 && e.hasExecSegment() {
		if len(e.secs) > 0 {
			l.anomaly("section headers describe no code; using program headers")
		} else {
			l.anomaly("no section headers; using program headers")
		}
		e.segmentsAsSections()
	}

	if f.Entry != 0 {
		l.addHint(FuncHint{Addr: f.Entry, Source: HintEntry})
	}
	if f.Unsupported == "" {
		l.loadGo() // first, so merged hints keep pclntab as their source
	}
	e.synthDynamic()
	e.checkDynamic()
	e.dynamic()
	e.symtab()
	e.ehFrame()
	return nil
}

// fileData returns a range's file bytes, cut at the end of the file.
func (e *elfFile) fileData(off, size uint64, what string) []byte {
	l := e.l
	if off >= uint64(len(l.buf)) {
		l.anomaly("%s starts beyond end of file", what)
		return nil
	}
	if size > uint64(len(l.buf))-off {
		l.anomaly("%s extends beyond end of file", what)
		size = uint64(len(l.buf)) - off
	}
	return l.buf[off : off+size : off+size]
}

func (e *elfFile) readProgs(phoff uint64, entsize, n int) {
	l := e.l
	if phoff == 0 || n == 0 {
		return
	}
	min := 32
	if e.is64 {
		min = 56
	}
	if entsize < min {
		l.anomaly("program header size %d too small", entsize)
		return
	}
	if n > l.lim.MaxSections {
		l.anomaly("%d program headers; only %d are read", n, l.lim.MaxSections)
		n = l.lim.MaxSections
	}
	b := l.fileBytes(int64(min64(phoff, 1<<62)), uint64(entsize)*uint64(n))
	if len(b) < entsize*n {
		l.anomaly("program header table truncated")
	}
	for i := 0; (i+1)*entsize <= len(b); i++ {
		p := b[i*entsize:]
		var ph elfProg
		if e.is64 {
			ph = elfProg{typ: e.u32(p), flags: e.u32(p[4:]), off: e.u64(p[8:]), vaddr: e.u64(p[16:]), filesz: e.u64(p[32:]), memsz: e.u64(p[40:])}
		} else {
			ph = elfProg{typ: e.u32(p), off: uint64(e.u32(p[4:])), vaddr: uint64(e.u32(p[8:])), filesz: uint64(e.u32(p[16:])), memsz: uint64(e.u32(p[20:])), flags: e.u32(p[24:])}
		}
		e.progs = append(e.progs, ph)
	}
}

func min64(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

func (e *elfFile) parseShdr(p []byte) elfSec {
	if e.is64 {
		return elfSec{
			nameOff: e.u32(p), typ: e.u32(p[4:]), flags: e.u64(p[8:]), addr: e.u64(p[16:]), off: e.u64(p[24:]), size: e.u64(p[32:]),
			link: e.u32(p[40:]), info: e.u32(p[44:]), entsize: e.u64(p[56:]),
		}
	}
	return elfSec{
		nameOff: e.u32(p), typ: e.u32(p[4:]), flags: uint64(e.u32(p[8:])), addr: uint64(e.u32(p[12:])), off: uint64(e.u32(p[16:])), size: uint64(e.u32(p[20:])),
		link: e.u32(p[24:]), info: e.u32(p[28:]), entsize: uint64(e.u32(p[36:])),
	}
}

func (e *elfFile) readSecs(shoff uint64, entsize, n int) {
	l := e.l
	if shoff == 0 || n == 0 {
		return
	}
	min := 40
	if e.is64 {
		min = 64
	}
	switch {
	case entsize < min:
		l.anomaly("section header size %d too small; section headers ignored", entsize)
		return
	case n > l.lim.MaxSections:
		l.anomaly("%d section headers; section headers ignored", n)
		return
	case shoff >= uint64(l.size) || uint64(entsize)*uint64(n) > uint64(l.size)-shoff:
		l.anomaly("section header table beyond end of file; section headers ignored")
		return
	}
	b, err := l.readAt(int64(shoff), entsize*n)
	if err != nil {
		l.anomaly("cannot read section headers: %v", err)
		return
	}
	e.secs = make([]elfSec, n)
	for i := 1; i < n; i++ { // section 0 holds only extended counts
		e.secs[i] = e.parseShdr(b[i*entsize:])
		e.secs[i].hdrOff = shoff + uint64(i*entsize)
	}
}

func (e *elfFile) nameSecs(strndx int) {
	if strndx <= 0 || strndx >= len(e.secs) {
		if len(e.secs) > 0 {
			e.l.anomaly("section name table index %d invalid", strndx)
		}
		return
	}
	st := &e.secs[strndx]
	if st.typ == shtNobits {
		return
	}
	tab := e.fileData(st.off, st.size, "section name table")
	for i := 1; i < len(e.secs); i++ {
		if s := &e.secs[i]; uint64(s.nameOff) < uint64(len(tab)) {
			s.name, _ = cstring(tab[s.nameOff:], 256)
		}
	}
}

func (e *elfFile) hasExecSegment() bool {
	for _, p := range e.progs {
		if p.typ == ptLoad && p.flags&pfX != 0 && p.filesz > 0 {
			return true
		}
	}
	return false
}

// segmentsAsSections describes the image by its PT_LOAD segments, for files
// whose section headers are missing or unusable (sstrip, packers).
func (e *elfFile) segmentsAsSections() {
	f := e.l.f
	e.fromSegments = true
	f.Sections = f.Sections[:0]
	for i, p := range e.progs {
		if p.typ != ptLoad || p.memsz == 0 {
			continue
		}
		name := fmt.Sprintf("LOAD%d", i)
		n := min(p.filesz, p.memsz)
		var data []byte
		if n > 0 {
			data = e.fileData(p.off, n, "segment "+name)
		}
		f.Sections = append(f.Sections, Section{
			Name: name, Addr: p.vaddr, VSize: p.memsz, Offset: p.off,
			Exec: p.flags&pfX != 0, Writable: p.flags&pfW != 0, Data: data,
		})
	}
}

// secByName returns the first section called name, or nil.
func (e *elfFile) secByName(name string) *elfSec {
	for i := range e.secs {
		if e.secs[i].name == name {
			return &e.secs[i]
		}
	}
	return nil
}

// link returns the section a section's sh_link names, or nil.
func (e *elfFile) link(s *elfSec) *elfSec {
	if s.link == 0 || int(s.link) >= len(e.secs) {
		return nil
	}
	return &e.secs[s.link]
}

// syms decodes the symbol table in section idx, at most limit entries.
func (e *elfFile) syms(idx int, limit int, what string) []elfSym {
	l := e.l
	s := &e.secs[idx]
	size := e.pick(24, 16)
	n := len(s.data) / size
	if n > limit {
		l.anomaly("%s has %d symbols; only %d are read", what, n, limit)
		n = limit
	}
	st := e.link(s)
	if s.hdrOff != 0 { // a real header, not one made up from PT_DYNAMIC
		if s.entsize != uint64(size) {
			l.anomaly("%s (section header at file offset 0x%x) has sh_entsize %d, not %d", what, s.hdrOff, s.entsize, size)
		}
		switch {
		case int(s.link) == idx:
			l.anomaly("%s (section header at file offset 0x%x) names itself as its string table (sh_link %d)", what, s.hdrOff, s.link)
		case st != nil && st.typ != shtStrtab:
			l.anomaly("%s (section header at file offset 0x%x) names section %d, %s of type %d, as its string table", what, s.hdrOff, s.link, quote(st.name), st.typ)
		}
	}
	var strtab []byte
	if st != nil {
		strtab = st.data
	}
	out := make([]elfSym, n)
	for i := range out {
		b := s.data[i*size:]
		var sym elfSym
		var nameOff uint32
		if e.is64 {
			nameOff = e.u32(b)
			sym = elfSym{info: b[4], shndx: e.u16(b[6:]), value: e.u64(b[8:]), size: e.u64(b[16:])}
		} else {
			nameOff = e.u32(b)
			sym = elfSym{value: uint64(e.u32(b[4:])), size: uint64(e.u32(b[8:])), info: b[12], shndx: e.u16(b[14:])}
		}
		if uint64(nameOff) < uint64(len(strtab)) {
			sym.name, _ = cstring(strtab[nameOff:], 4096)
		}
		out[i] = sym
	}
	return out
}

type elfReloc struct {
	off uint64
	sym uint32
	typ uint32
}

// relocs decodes a REL or RELA section.
func (e *elfFile) relocs(s *elfSec) []elfReloc {
	size := 8
	if e.is64 {
		size = 16
	}
	if s.typ == shtRela {
		size += size / 2
	}
	n := len(s.data) / size
	if n > e.l.lim.MaxImports*4 {
		e.l.anomaly("section %s has %d relocations; only %d are read", quote(s.name), n, e.l.lim.MaxImports*4)
		n = e.l.lim.MaxImports * 4
	}
	out := make([]elfReloc, n)
	for i := range out {
		b := s.data[i*size:]
		if e.is64 {
			info := e.u64(b[8:])
			out[i] = elfReloc{off: e.u64(b), sym: uint32(info >> 32), typ: uint32(info)}
		} else {
			info := e.u32(b[4:])
			out[i] = elfReloc{off: uint64(e.u32(b)), sym: info >> 8, typ: info & 0xff}
		}
	}
	return out
}

// dynamic reads .dynsym: undefined functions are imports, reached through
// their GOT slots and PLT stubs; defined functions are exports.
func (e *elfFile) dynamic() {
	l, f := e.l, e.l.f
	dynIdx := -1
	for i := range e.secs {
		if e.secs[i].typ == shtDynsym {
			dynIdx = i
			break
		}
	}
	if dynIdx < 0 {
		return
	}
	syms := e.syms(dynIdx, l.lim.MaxSymbols, ".dynsym")
	libOf := e.versionLibs(dynIdx, len(syms))

	// GOT slots per symbol, and the JUMP_SLOT order that lays out the PLT.
	slots := make(map[uint32][]uint64)
	gotSym := make(map[uint64]uint32)
	var jumpSlots []elfReloc
	x86 := e.machine == em386 || e.machine == emX86_64
	for i := range e.secs {
		s := &e.secs[i]
		if (s.typ != shtRela && s.typ != shtRel) || int(s.link) != dynIdx {
			continue
		}
		for _, r := range e.relocs(s) {
			if !x86 || r.sym == 0 || int(r.sym) >= len(syms) || (r.typ != rJumpSlot && r.typ != rGlobDat) {
				continue
			}
			if r.typ == rJumpSlot {
				jumpSlots = append(jumpSlots, r)
			}
			if _, dup := gotSym[r.off]; !dup {
				slots[r.sym] = append(slots[r.sym], r.off)
				gotSym[r.off] = r.sym
			}
		}
	}

	impOf := make(map[uint32]int)
	for i := 1; i < len(syms); i++ {
		s := &syms[i]
		if s.name == "" {
			continue
		}
		if s.shndx == shnUndef {
			// Weak references (__cxa_finalize, __gmon_start__) are often
			// NOTYPE yet called through their GOT slot.
			if !s.isFunc() && !(s.info&0xf == 0 && len(slots[uint32(i)]) > 0) {
				continue
			}
			if len(f.Imports) >= l.lim.MaxImports {
				l.anomaly("more than %d imports; the rest are ignored", l.lim.MaxImports)
				break
			}
			impOf[uint32(i)] = len(f.Imports)
			f.Imports = append(f.Imports, Import{Library: libOf(i), Name: s.name, Addrs: append([]uint64(nil), slots[uint32(i)]...)})
			continue
		}
		if s.isFunc() && s.shndx != shnUndef {
			if len(f.Exports) >= l.lim.MaxExports {
				continue
			}
			f.Exports = append(f.Exports, Export{Name: s.name, Addr: s.value})
			l.addHint(FuncHint{Addr: s.value, End: endOf(s), Name: s.name, Source: HintExport})
		}
	}
	if len(f.Exports) >= l.lim.MaxExports {
		l.anomaly("more than %d exports; the rest are ignored", l.lim.MaxExports)
	}
	if x86 {
		e.pltStubs(gotSym, impOf, jumpSlots)
	}
}

func endOf(s *elfSym) uint64 {
	if s.size == 0 {
		return 0
	}
	return s.value + s.size
}

// pltStubs finds the PLT entry of each import by decoding the entry's
// indirect jump (jmp *slot(%rip), jmp *slot, jmp *slot(%ebx)) and matching
// the slot. That covers lazy .plt, IBT .plt.sec and .plt.got alike; when no
// entry decodes, the stubs are placed by relocation order instead.
func (e *elfFile) pltStubs(gotSym map[uint64]uint32, impOf map[uint32]int, jumpSlots []elfReloc) {
	f := e.l.f
	var gotBase uint64 // %ebx in i386 PIC stubs: start of .got.plt
	if s := e.secByName(".got.plt"); s != nil {
		gotBase = s.addr
	} else if s := e.secByName(".got"); s != nil {
		gotBase = s.addr
	}
	add := func(sym uint32, stub uint64) {
		if k, ok := impOf[sym]; ok {
			f.Imports[k].Addrs = append(f.Imports[k].Addrs, stub)
		}
	}
	found := 0
	scan := func(data []byte, addr, ent uint64) {
		for k := (ent - addr%ent) % ent; k < uint64(len(data)); k += ent {
			t, ok := e.jmpTarget(data[k:], addr+k, gotBase)
			if !ok {
				continue
			}
			if sym, ok := gotSym[t]; ok {
				add(sym, addr+k)
				found++
			}
		}
	}
	plts := 0
	for i := range e.secs {
		s := &e.secs[i]
		if s.flags&shfExec == 0 || !strings.HasPrefix(s.name, ".plt") || len(s.data) == 0 {
			continue
		}
		plts++
		ent := uint64(16)
		if s.name == ".plt.got" && (s.entsize == 8 || s.entsize == 16) {
			ent = s.entsize
		}
		scan(s.data, s.addr, ent)
	}
	if plts == 0 && e.synthetic {
		// No section names to go by: every 8-byte aligned spot in code that
		// starts with a PLT-style jump through a known slot is a stub.
		for _, s := range f.Sections {
			if s.Exec {
				scan(s.Data, s.Addr, 8)
			}
		}
	}
	if found > 0 || len(jumpSlots) == 0 {
		return
	}
	if s := e.secByName(".plt.sec"); s != nil {
		for i, r := range jumpSlots {
			add(r.sym, s.addr+16*uint64(i))
		}
	} else if s := e.secByName(".plt"); s != nil {
		for i, r := range jumpSlots {
			add(r.sym, s.addr+16*uint64(i+1))
		}
	}
}

// jmpTarget decodes a PLT entry's indirect jump, optionally after endbr
// and a bnd prefix, and returns the address of the slot it jumps through:
// jmp *slot(%rip) on x86-64, jmp *slot or jmp *off(%ebx) on i386.
func (e *elfFile) jmpTarget(b []byte, addr, gotBase uint64) (uint64, bool) {
	p := 0
	if len(b) >= 4 && b[0] == 0xf3 && b[1] == 0x0f && b[2] == 0x1e && (b[3] == 0xfa || b[3] == 0xfb) {
		p = 4
	}
	if len(b) > p && b[p] == 0xf2 {
		p++
	}
	if len(b) < p+6 || b[p] != 0xff {
		return 0, false
	}
	d := int64(int32(binary.LittleEndian.Uint32(b[p+2:])))
	switch {
	case b[p+1] == 0x25 && e.machine == emX86_64:
		return addr + uint64(p) + 6 + uint64(d), true
	case b[p+1] == 0x25:
		return uint64(uint32(d)), true
	case b[p+1] == 0xa3 && e.machine == em386 && gotBase != 0:
		return uint64(uint32(gotBase + uint64(d))), true
	}
	return 0, false
}

// versionLibs maps dynamic symbols to the library whose version they need
// (.gnu.version and .gnu.version_r), the only place ELF names the library
// of an import.
func (e *elfFile) versionLibs(dynIdx, nsyms int) func(int) string {
	none := func(int) string { return "" }
	var versym, verneed *elfSec
	for i := range e.secs {
		s := &e.secs[i]
		switch {
		case s.typ == shtVersym && int(s.link) == dynIdx:
			versym = s
		case s.typ == shtVerneed:
			verneed = s
		}
	}
	if versym == nil || verneed == nil {
		return none
	}
	st := e.link(verneed)
	if st == nil {
		return none
	}
	libs := make(map[uint16]string)
	d := verneed.data
	// Every Verneed and Vernaux entry is 16 bytes, so a well-formed table
	// has fewer entries than len/16; the budget stops tables that loop.
	budget := len(d)/16 + 1
	off := uint64(0)
	for budget > 0 && off+16 <= uint64(len(d)) {
		budget--
		cnt, file, aux, next := e.u16(d[off+2:]), e.u32(d[off+4:]), e.u32(d[off+8:]), e.u32(d[off+12:])
		var lib string
		if uint64(file) < uint64(len(st.data)) {
			lib, _ = cstring(st.data[file:], 4096)
		}
		a := off + uint64(aux)
		for j := 0; j < int(cnt) && budget > 0 && a+16 <= uint64(len(d)); j++ {
			budget--
			libs[e.u16(d[a+6:])&0x7fff] = lib
			an := e.u32(d[a+12:])
			if an == 0 {
				break
			}
			a += uint64(an)
		}
		if next == 0 {
			break
		}
		off += uint64(next)
	}
	return func(i int) string {
		if 2*i+2 > len(versym.data) {
			return ""
		}
		return libs[e.u16(versym.data[2*i:])&0x7fff]
	}
}

// symtab reads .symtab function symbols, left in unstripped binaries.
func (e *elfFile) symtab() {
	l, f := e.l, e.l.f
	for i := range e.secs {
		s := &e.secs[i]
		if s.typ != shtSymtab {
			continue
		}
		for _, sym := range e.syms(i, l.lim.MaxSymbols, ".symtab") {
			if !sym.isFunc() || sym.shndx == shnUndef || (sym.shndx >= shnLoReserve && sym.shndx != shnXindex) || sym.value == 0 {
				continue
			}
			if len(f.Symbols) >= l.lim.MaxSymbols {
				l.anomaly("more than %d symbols; the rest are ignored", l.lim.MaxSymbols)
				return
			}
			f.Symbols = append(f.Symbols, Symbol{Name: sym.name, Addr: sym.value, Size: sym.size})
			l.addHint(FuncHint{Addr: sym.value, End: endOf(&sym), Name: sym.name, Source: HintSymbol})
		}
	}
}
