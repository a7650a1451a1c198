package binfmt

import "strings"

// Dynamic-section tags (gABI and GNU extensions).
const (
	ptDynamic  = 2
	shtDynamic = 6

	dtNull       = 0
	dtNeeded     = 1
	dtPltRelSz   = 2
	dtPltGot     = 3
	dtHash       = 4
	dtStrTab     = 5
	dtSymTab     = 6
	dtRela       = 7
	dtRelaSz     = 8
	dtStrSz      = 10
	dtRel        = 17
	dtRelSz      = 18
	dtPltRel     = 20
	dtJmpRel     = 23
	dtGnuHash    = 0x6ffffef5
	dtVerSym     = 0x6ffffff0
	dtVerNeed    = 0x6ffffffe
	dtVerNeedNum = 0x6fffffff

	maxDynEntries = 4096
)

// synthDynamic rebuilds the sections the dynamic linker uses (.dynsym,
// .dynstr, relocations, symbol versions) from PT_DYNAMIC when the file has
// no section headers to name them: the loader does not need those headers,
// so stripping them hides nothing from the program, and should hide
// nothing from analysis either.
func (e *elfFile) synthDynamic() {
	l, f := e.l, e.l.f
	if !e.fromSegments {
		return
	}
	for i := range e.secs {
		if e.secs[i].typ == shtDynsym {
			return
		}
	}
	var dyn []byte
	for _, p := range e.progs {
		if p.typ == ptDynamic {
			dyn = f.BytesAt(p.vaddr)
			if uint64(len(dyn)) > p.filesz {
				dyn = dyn[:p.filesz]
			}
			break
		}
	}
	if len(dyn) == 0 {
		return
	}
	ent := 2 * e.ptrSize()
	tags := make(map[int64]uint64)
	for i := 0; i+ent <= len(dyn) && i/ent < maxDynEntries; i += ent {
		tag := int64(e.word(dyn[i:]))
		if e.ptrSize() == 4 {
			tag = int64(int32(tag))
		}
		if tag == dtNull {
			break
		}
		if _, seen := tags[tag]; !seen { // DT_NEEDED repeats; the rest do not
			tags[tag] = e.word(dyn[i+ent/2:])
		}
	}
	symtab, ok := tags[dtSymTab]
	if !ok {
		return
	}
	symSize := uint64(16)
	if e.is64 {
		symSize = 24
	}
	nsyms := e.dynSymCount(tags)
	if nsyms == 0 {
		// Without a hash table, the string table usually follows the
		// symbol table directly.
		if st, ok := tags[dtStrTab]; ok && st > symtab {
			nsyms = (st - symtab) / symSize
		}
	}
	bytesAt := func(addr, size uint64) []byte {
		b := f.BytesAt(addr)
		if uint64(len(b)) > size {
			b = b[:size]
		}
		return b
	}
	if len(e.secs) == 0 {
		e.secs = append(e.secs, elfSec{})
	}
	add := func(s elfSec) uint32 {
		e.secs = append(e.secs, s)
		return uint32(len(e.secs) - 1)
	}
	l.anomaly("dynamic symbols read through PT_DYNAMIC")
	e.synthetic = true
	str := add(elfSec{name: ".dynstr", addr: tags[dtStrTab], data: bytesAt(tags[dtStrTab], tags[dtStrSz])})
	dsym := add(elfSec{name: ".dynsym", typ: shtDynsym, addr: symtab, link: str, data: bytesAt(symtab, nsyms*symSize)})
	if a, ok := tags[dtJmpRel]; ok {
		typ := uint32(shtRel)
		if tags[dtPltRel] == dtRela {
			typ = shtRela
		}
		add(elfSec{name: ".rel.plt", typ: typ, addr: a, link: dsym, data: bytesAt(a, tags[dtPltRelSz])})
	}
	if a, ok := tags[dtRela]; ok {
		add(elfSec{name: ".rela.dyn", typ: shtRela, addr: a, link: dsym, data: bytesAt(a, tags[dtRelaSz])})
	}
	if a, ok := tags[dtRel]; ok {
		add(elfSec{name: ".rel.dyn", typ: shtRel, addr: a, link: dsym, data: bytesAt(a, tags[dtRelSz])})
	}
	if a, ok := tags[dtVerSym]; ok {
		add(elfSec{name: ".gnu.version", typ: shtVersym, addr: a, link: dsym, data: bytesAt(a, 2*nsyms)})
	}
	if a, ok := tags[dtVerNeed]; ok {
		add(elfSec{name: ".gnu.version_r", typ: shtVerneed, addr: a, link: str, info: uint32(tags[dtVerNeedNum]), data: f.BytesAt(a)})
	}
	if a, ok := tags[dtPltGot]; ok {
		add(elfSec{name: ".got.plt", addr: a})
	}
}

// dynTableTags are the tags whose value is the address of a table the
// dynamic linker reads, with their names for messages.
var dynTableTags = []struct {
	tag  int64
	name string
}{
	{dtPltGot, "DT_PLTGOT"}, {dtHash, "DT_HASH"}, {dtStrTab, "DT_STRTAB"}, {dtSymTab, "DT_SYMTAB"},
	{dtRela, "DT_RELA"}, {dtRel, "DT_REL"}, {dtJmpRel, "DT_JMPREL"}, {dtGnuHash, "DT_GNU_HASH"},
	{dtVerSym, "DT_VERSYM"}, {dtVerNeed, "DT_VERNEED"},
}

// checkDynamic records oddities of the dynamic array (the .dynamic
// section, else PT_DYNAMIC) that the rest of the load would pass over
// silently: no DT_NULL to end it, tables that point back into the array,
// library names outside the string table.
func (e *elfFile) checkDynamic() {
	l, f := e.l, e.l.f
	var dyn []byte
	var addr, off uint64
	for i := range e.secs {
		if s := &e.secs[i]; s.typ == shtDynamic && s.hdrOff != 0 && len(s.data) > 0 {
			dyn, addr, off = s.data, s.addr, s.off
			break
		}
	}
	if dyn == nil {
		for _, p := range e.progs {
			if p.typ == ptDynamic {
				dyn, addr, off = f.BytesAt(p.vaddr), p.vaddr, p.off
				dyn = dyn[:min(uint64(len(dyn)), p.filesz)]
				break
			}
		}
	}
	ent := 2 * e.ptrSize()
	if len(dyn) < ent {
		return
	}
	size := uint64(len(dyn))
	terminated := false
	var self []string
	seen := make(map[int64]bool)
	var strsz uint64
	var needed []uint64
	i := 0
	for ; i+ent <= len(dyn) && i/ent < maxDynEntries; i += ent {
		tag := int64(e.word(dyn[i:]))
		if e.ptrSize() == 4 {
			tag = int64(int32(tag))
		}
		if tag == dtNull {
			terminated = true
			break
		}
		v := e.word(dyn[i+ent/2:])
		switch tag {
		case dtStrSz:
			strsz = v
		case dtNeeded:
			if len(needed) < maxDynEntries {
				needed = append(needed, v)
			}
		}
		for _, t := range dynTableTags {
			if t.tag == tag && !seen[tag] && v >= addr && v-addr < size {
				seen[tag] = true
				self = append(self, t.name)
			}
		}
	}
	if !terminated {
		if i/ent >= maxDynEntries {
			l.anomaly("dynamic array at file offset 0x%x: no DT_NULL in its first %d entries", off, maxDynEntries)
		} else {
			l.anomaly("dynamic array at file offset 0x%x (%d entries) has no DT_NULL terminator", off, i/ent)
		}
	}
	if len(self) > 0 {
		l.anomaly("dynamic array at file offset 0x%x: %s point into the dynamic array itself (0x%x)", off, strings.Join(self, ", "), addr)
	}
	if strsz > 0 {
		var t tally
		for _, n := range needed {
			if n >= strsz {
				t.add("DT_NEEDED names string table offset 0x%x, past DT_STRSZ 0x%x", n, strsz)
			}
		}
		l.flush(&t, "entries")
	}
}

// dynSymCount is the number of dynamic symbols, which only the hash
// tables tell: DT_HASH's chain count, or one past the last symbol in a
// DT_GNU_HASH chain.
func (e *elfFile) dynSymCount(tags map[int64]uint64) uint64 {
	f := e.l.f
	if a, ok := tags[dtHash]; ok {
		if b := f.BytesAt(a); len(b) >= 8 {
			return uint64(e.u32(b[4:]))
		}
	}
	a, ok := tags[dtGnuHash]
	if !ok {
		return 0
	}
	b := f.BytesAt(a)
	if len(b) < 16 {
		return 0
	}
	nbuckets, symoff, bloom := uint64(e.u32(b)), uint64(e.u32(b[4:])), uint64(e.u32(b[8:]))
	buckets := 16 + bloom*uint64(e.ptrSize())
	if bloom > uint64(len(b)) || nbuckets > uint64(len(b)) || buckets+4*nbuckets > uint64(len(b)) {
		return 0
	}
	last := uint64(0)
	for i := uint64(0); i < nbuckets; i++ {
		last = max(last, uint64(e.u32(b[buckets+4*i:])))
	}
	if last < symoff {
		return symoff
	}
	chains := buckets + 4*nbuckets
	for i := last; ; i++ {
		off := chains + 4*(i-symoff)
		if off+4 > uint64(len(b)) {
			return i
		}
		if e.u32(b[off:])&1 != 0 {
			return i + 1
		}
	}
}
