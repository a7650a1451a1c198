package gobin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// pclnVersion is the pclntab layout generation, identified by the magic.
type pclnVersion int

const (
	ver12  pclnVersion = iota + 1 // Go 1.2 – 1.15
	ver116                        // Go 1.16 – 1.17
	ver118                        // Go 1.18 – 1.19
	ver120                        // Go 1.20 and later
)

var pclnMagics = [...]struct {
	magic uint32
	ver   pclnVersion
}{
	{0xfffffffb, ver12},
	{0xfffffffa, ver116},
	{0xfffffff0, ver118},
	{0xfffffff1, ver120},
}

// class is the Go version range a pclntab layout implies; used only when
// the build info (which has the exact version) is missing.
func (v pclnVersion) class() string {
	switch v {
	case ver12:
		return "go1.2-1.15"
	case ver116:
		return "go1.16-1.17"
	case ver118:
		return "go1.18-1.19"
	case ver120:
		return "go1.20+"
	}
	return ""
}

const (
	// maxNameLen bounds the NUL search for one function name. Real names,
	// even with long generic instantiations, are far shorter.
	maxNameLen = 64 << 10
	// maxDeepCandidates bounds how many header-valid candidates get an
	// O(nfunc) body check; together with a budget of functab entries
	// (twice MaxFuncs) it stops a file stuffed with fake headers, each
	// pointing at a large functab that fails late, from making the scan
	// quadratic. Real binaries have exactly one candidate.
	maxDeepCandidates = 256
)

type pclntab struct {
	ver   pclnVersion
	funcs []Func
}

// pclnHeader is the decoded, bounds-checked header of a candidate table.
// All offsets are relative to the start of data.
type pclnHeader struct {
	ver                    pclnVersion
	ptrSize                int
	nfunc                  int
	textStart              uint64 // 1.18+: added to every functab entry
	names                  []byte // region holding NUL-terminated function names
	namesOff               int    // offset of names within data
	namesEnd               int
	functab                []byte // (2*nfunc+1) fields
	functabOff, functabLen int
	field                  int // functab field size
	funcBase               int // funcoff values are relative to this offset in data
	data                   []byte
}

type rng struct{ lo, hi uint64 }

// textRanges returns the address ranges of sections that look like code.
// Section flags are not part of Section, so names are the only hint.
func textRanges(secs []Section) []rng {
	var rs []rng
	for _, s := range secs {
		if isTextName(s.Name) && len(s.Data) > 0 {
			hi := s.Addr + uint64(len(s.Data))
			if hi < s.Addr {
				hi = ^uint64(0)
			}
			rs = append(rs, rng{s.Addr, hi})
		}
	}
	return rs
}

func isTextName(n string) bool {
	return n == ".text" || strings.HasPrefix(n, ".text.") || n == "__text" || n == "text" || n == "CODE"
}

// scanOrder lists section indexes in the order pclntab is most likely to
// be found: the dedicated ELF section, then the usual read-only data
// sections, then everything else (code last).
func scanOrder(secs []Section) []int {
	rank := func(n string) int {
		switch {
		case n == ".gopclntab" || n == "__gopclntab":
			return 0
		case n == ".rdata" || n == ".data.rel.ro" || n == ".rodata" || n == "__rodata" || n == "__data_rel_ro":
			return 1
		case isTextName(n):
			return 3
		}
		return 2
	}
	var order []int
	for r := 0; r <= 3; r++ {
		for i, s := range secs {
			if rank(s.Name) == r {
				order = append(order, i)
			}
		}
	}
	return order
}

// findPclntab locates and decodes the pclntab. It returns (nil, nil) when
// nothing resembling one exists, and an error when a candidate with a
// plausible header failed the body checks and no other candidate worked.
func findPclntab(secs []Section, ptrSize int, opts Options) (*pclntab, error) {
	text := textRanges(secs)
	var firstErr error
	deep := 0
	budget := 2 * int64(opts.MaxFuncs)
	try := func(si, off int) *pclntab {
		s := &secs[si]
		addr := s.Addr + uint64(off)
		h, err := parsePclnHeader(s.Data[off:], addr, ptrSize, opts)
		if h == nil {
			if err != nil && firstErr == nil {
				firstErr = err
			}
			return nil
		}
		if deep >= maxDeepCandidates || budget < int64(h.nfunc) {
			if firstErr == nil {
				firstErr = fmt.Errorf("gobin: pclntab at 0x%x: too many candidate tables, giving up", addr)
			}
			return nil
		}
		deep++
		budget -= int64(h.nfunc)
		if h.ver >= ver118 {
			h.textStart = resolveTextStart(secs, h, addr, text)
		}
		t, err := h.decode(addr, text)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		return t
	}
	for _, si := range scanOrder(secs) {
		s := secs[si]
		named := s.Name == ".gopclntab" || s.Name == "__gopclntab"
		if named {
			if t := try(si, 0); t != nil {
				return t, nil
			}
		}
		for _, m := range pclnMagics {
			var pat [6]byte
			binary.LittleEndian.PutUint32(pat[:], m.magic)
			for base := 0; base < len(s.Data); {
				i := bytes.Index(s.Data[base:], pat[:])
				if i < 0 {
					break
				}
				off := base + i
				base = off + 1
				if named && off == 0 {
					continue // already tried
				}
				if t := try(si, off); t != nil {
					return t, nil
				}
			}
		}
	}
	return nil, firstErr
}

// parsePclnHeader checks everything that can be checked in O(1): magic,
// quantum, pointer size, function count, and that all region offsets are
// ordered and inside the data. It returns (nil, nil) for "not a pclntab",
// and an error only for a plausible table that exceeds the limits in opts.
func parsePclnHeader(d []byte, addr uint64, ptrSize int, opts Options) (*pclnHeader, error) {
	if len(d) < 16 || d[4] != 0 || d[5] != 0 {
		return nil, nil
	}
	var ver pclnVersion
	magic := binary.LittleEndian.Uint32(d)
	for _, m := range pclnMagics {
		if m.magic == magic {
			ver = m.ver
		}
	}
	if ver == 0 {
		return nil, nil
	}
	if q := d[6]; q != 1 && q != 2 && q != 4 {
		return nil, nil
	}
	ps := int(d[7])
	if ps != 4 && ps != 8 {
		return nil, nil
	}
	if ptrSize != 0 && ps != ptrSize {
		return nil, nil
	}
	size := uint64(len(d))
	word := func(i int) (uint64, bool) {
		o := 8 + i*ps
		if o+ps > len(d) {
			return 0, false
		}
		if ps == 4 {
			return uint64(binary.LittleEndian.Uint32(d[o:])), true
		}
		return binary.LittleEndian.Uint64(d[o:]), true
	}
	nf, ok := word(0)
	if !ok || nf == 0 || nf > size {
		return nil, nil
	}
	h := &pclnHeader{ver: ver, ptrSize: ps, nfunc: int(nf)}

	// extent is how far into d the header says the table reaches (at
	// least); it is checked against MaxPclntab once the header is known
	// to be plausible.
	var extent uint64
	switch ver {
	case ver12:
		h.field = ps
		ftOff := uint64(8 + ps)
		need := (nf*2 + 1) * uint64(ps) // functab, then a uint32 filetab offset
		if ftOff+need+4 > size {
			return nil, nil
		}
		fileOff := uint64(binary.LittleEndian.Uint32(d[ftOff+need:]))
		if fileOff < ftOff+need+4 || fileOff >= size {
			return nil, nil
		}
		extent = ftOff + need + 4
		h.functabOff, h.functabLen = int(ftOff), int(need)
		h.funcBase = 0
	default:
		// Region offsets in header order; the linker lays the regions out
		// in this same order, so they must be non-decreasing.
		first := 2 // 1.16: funcname, cu, filetab, pctab, pcln
		if ver >= ver118 {
			first = 3 // 1.18+: a textStart word precedes them
		}
		const nwords = 5
		var offs [nwords]uint64
		prev := uint64(8 + (first+nwords)*ps)
		for k := range offs {
			v, ok := word(first + k)
			if !ok || v < prev || v >= size {
				return nil, nil
			}
			offs[k] = v
			prev = v
		}
		if nfiles, _ := word(1); nfiles > size {
			return nil, nil
		}
		h.field = ps
		if ver >= ver118 {
			h.textStart, _ = word(2)
			h.field = 4
		}
		nameOff, cuOff, pclnOff := offs[0], offs[1], offs[4]
		if cuOff <= nameOff {
			return nil, nil // no room for a single name
		}
		need := (nf*2 + 1) * uint64(h.field)
		if pclnOff+need > size {
			return nil, nil
		}
		extent = pclnOff + need
		h.namesOff, h.namesEnd = int(nameOff), int(cuOff)
		h.functabOff, h.functabLen = int(pclnOff), int(need)
		h.funcBase = int(pclnOff)
	}
	if nf > uint64(opts.MaxFuncs) {
		return nil, fmt.Errorf("gobin: pclntab at 0x%x: %d functions exceed the limit of %d", addr, nf, opts.MaxFuncs)
	}
	if extent > uint64(opts.MaxPclntab) {
		return nil, fmt.Errorf("gobin: pclntab at 0x%x: table of at least %d bytes exceeds the limit of %d", addr, extent, opts.MaxPclntab)
	}
	if len(d) > opts.MaxPclntab {
		d = d[:opts.MaxPclntab]
	}
	h.data = d
	h.functab = d[h.functabOff : h.functabOff+h.functabLen]
	if ver == ver12 {
		h.names = d // 1.2 name offsets are relative to the table start
	} else {
		h.names = d[h.namesOff:h.namesEnd]
	}
	return h, nil
}

func (h *pclnHeader) fieldAt(i int) uint64 {
	b := h.functab[i*h.field:]
	if h.field == 4 {
		return uint64(binary.LittleEndian.Uint32(b))
	}
	return binary.LittleEndian.Uint64(b)
}

// decode checks the body of the table (every functab entry and the _func
// record it points to) and, if all is consistent, returns the functions.
// The checks are what separates a real pclntab from bytes that happen to
// start with a magic: entries sorted, each _func repeating its own entry,
// each name offset landing on a NUL-terminated string.
func (h *pclnHeader) decode(addr uint64, text []rng) (*pclntab, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("gobin: pclntab at 0x%x: "+format, append([]any{addr}, args...)...)
	}
	// Size of the _func prefix we read: entry (uintptr before 1.18,
	// uint32 offset after) and the int32 name offset.
	entrySize := h.ptrSize
	if h.ver >= ver118 {
		entrySize = 4
	}
	prefix := entrySize + 4

	abs := func(raw uint64) uint64 {
		if h.ver >= ver118 {
			return h.textStart + raw
		}
		return raw
	}

	n := h.nfunc
	end := abs(h.fieldAt(2 * n))
	first := abs(h.fieldAt(0))
	if len(text) > 0 {
		if !inRanges(text, first) {
			return nil, errf("first function entry 0x%x is outside the code sections", first)
		}
		// The end sentinel may sit exactly at the end of the code.
		if !inRanges(text, end) && !inRanges(text, end-1) {
			return nil, errf("function table end 0x%x is outside the code sections", end)
		}
	}
	if end < first {
		return nil, errf("function table end 0x%x precedes first entry 0x%x", end, first)
	}
	if h.ver >= ver118 && end < h.textStart {
		return nil, errf("text base 0x%x plus end offset 0x%x overflows", h.textStart, h.fieldAt(2*n))
	}

	// Pass 1 validates without allocating, so a bogus candidate costs
	// nothing but time.
	//
	// Name scanning is budgeted: real functions have distinct names, so
	// the bytes scanned stay near the size of the name region, while a
	// doctored table pointing every function at one long name would
	// otherwise cost nfunc × maxNameLen.
	var prev uint64
	budget := 2*int64(len(h.names)) + 1<<20
	for i := 0; i < n; i++ {
		raw := h.fieldAt(2 * i)
		if i > 0 && raw < prev {
			return nil, errf("functab entry %d (0x%x) is out of order", i, abs(raw))
		}
		prev = raw
		_, nl, err := h.funcRecord(i, raw, entrySize, prefix)
		if err != nil {
			return nil, errf("%v", err)
		}
		if budget -= int64(nl) + 1; budget < 0 {
			return nil, errf("function names overlap implausibly (at function %d)", i)
		}
	}
	if last := h.fieldAt(2 * (n - 1)); h.fieldAt(2*n) < last {
		return nil, errf("functab end sentinel 0x%x precedes last entry 0x%x", end, abs(last))
	}

	// Pass 2 builds the result. For 1.16+ all names live in one region,
	// copied once so each name is a substring of it rather than its own
	// allocation; 1.2 tables have no separate region, so names are copied
	// one at a time.
	var names string
	if h.ver >= ver116 {
		names = string(h.names)
	}
	funcs := make([]Func, n)
	for i := 0; i < n; i++ {
		raw := h.fieldAt(2 * i)
		nameOff, nl, _ := h.funcRecord(i, raw, entrySize, prefix)
		f := &funcs[i]
		f.Entry = abs(raw)
		f.End = abs(h.fieldAt(2 * (i + 1)))
		if names != "" {
			f.Name = names[nameOff : nameOff+nl]
		} else {
			f.Name = string(h.names[nameOff : nameOff+nl])
		}
	}
	return &pclntab{ver: h.ver, funcs: funcs}, nil
}

// funcRecord checks function i's _func record and returns the offset and
// length of its name within h.names.
func (h *pclnHeader) funcRecord(i int, raw uint64, entrySize, prefix int) (int, int, error) {
	fo := h.fieldAt(2*i + 1)
	d := h.data
	rec := uint64(h.funcBase) + fo
	if fo > uint64(len(d)) || rec+uint64(prefix) > uint64(len(d)) {
		return 0, 0, fmt.Errorf("function %d: _func offset 0x%x outside the table", i, fo)
	}
	r := d[rec:]
	var entry uint64
	if entrySize == 4 {
		entry = uint64(binary.LittleEndian.Uint32(r))
	} else {
		entry = binary.LittleEndian.Uint64(r)
	}
	if entry != raw {
		return 0, 0, fmt.Errorf("function %d: _func at table offset 0x%x has entry 0x%x, functab says 0x%x", i, rec, entry, raw)
	}
	no := int32(binary.LittleEndian.Uint32(r[entrySize:]))
	if no < 0 || int64(no) >= int64(len(h.names)) {
		return 0, 0, fmt.Errorf("function %d: name offset 0x%x outside the name table", i, no)
	}
	nl := bytes.IndexByte(boundName(h.names[no:]), 0)
	if nl <= 0 {
		return 0, 0, fmt.Errorf("function %d: name at table offset 0x%x is empty or unterminated", i, h.namesOff+int(no))
	}
	return int(no), nl, nil
}

func boundName(b []byte) []byte {
	if len(b) > maxNameLen {
		return b[:maxNameLen]
	}
	return b
}

func inRanges(rs []rng, a uint64) bool {
	for _, r := range rs {
		if a >= r.lo && a < r.hi {
			return true
		}
	}
	return false
}

// resolveTextStart finds the base that Go 1.18+ functab entries are
// relative to. The header used to carry it, but recent linkers leave that
// field zero (it needed a relocation), and PIE binaries leave it zero in
// the file anyway. The runtime's moduledata, which points at the pclntab,
// carries it as its text field; failing that, the first code section is
// where the Go linker puts runtime.text.
func resolveTextStart(secs []Section, h *pclnHeader, addr uint64, text []rng) uint64 {
	if h.textStart != 0 {
		return h.textStart
	}
	if t, ok := moduledataText(secs, h, addr); ok {
		return t
	}
	if len(text) > 0 {
		lo := text[0].lo
		for _, r := range text[1:] {
			if r.lo < lo {
				lo = r.lo
			}
		}
		return lo
	}
	return 0
}

// maxModuledataHits bounds how many pointer-value matches are examined.
const maxModuledataHits = 1024

// moduledataText looks for runtime.firstmoduledata: a pointer to the
// pclntab followed by the funcnametab slice, then (at fixed word offsets)
// ftab, minpc and text. Its layout has been stable since Go 1.16.
func moduledataText(secs []Section, h *pclnHeader, addr uint64) (uint64, bool) {
	ps := h.ptrSize
	put := func(b []byte, v uint64) {
		if ps == 4 {
			binary.LittleEndian.PutUint32(b, uint32(v))
		} else {
			binary.LittleEndian.PutUint64(b, v)
		}
	}
	get := func(b []byte, w int) uint64 {
		if ps == 4 {
			return uint64(binary.LittleEndian.Uint32(b[w*ps:]))
		}
		return binary.LittleEndian.Uint64(b[w*ps:])
	}
	// Pattern: pcHeader pointer, then funcnametab.ptr.
	pat := make([]byte, 2*ps)
	put(pat, addr)
	put(pat[ps:], addr+uint64(h.namesOff))
	const (
		wFtab  = 16 // ftab slice: words 16,17,18
		wMinpc = 20
		wText  = 22
		words  = 24
	)
	hits := 0
	for _, s := range secs {
		if isTextName(s.Name) {
			continue
		}
		for base := 0; base < len(s.Data); {
			i := bytes.Index(s.Data[base:], pat)
			if i < 0 {
				break
			}
			off := base + i
			base = off + 1
			if hits++; hits > maxModuledataHits {
				return 0, false
			}
			if (s.Addr+uint64(off))%uint64(ps) != 0 || off+words*ps > len(s.Data) {
				continue
			}
			md := s.Data[off:]
			if get(md, wFtab) != addr+uint64(h.funcBase) || get(md, wFtab+1) != uint64(h.nfunc)+1 {
				continue
			}
			text, minpc := get(md, wText), get(md, wMinpc)
			if text == 0 || minpc != text+h.fieldAt(0) {
				continue
			}
			return text, true
		}
	}
	return 0, false
}
