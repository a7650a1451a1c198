package binfmt

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// PE/COFF constants used here, from the Microsoft PE format specification.
const (
	peMachine386   = 0x14c
	peMachineAMD64 = 0x8664

	peScnCntCode    = 0x20
	peScnMemExecute = 0x20000000
	peScnMemWrite   = 0x80000000

	peDirExport    = 0
	peDirImport    = 1
	peDirException = 3
	peDirDelay     = 13
	peDirCLR       = 14

	peNameMax = 512 // DLL and function names longer than this are cut (pefile's limit too)
)

var le = binary.LittleEndian

var peMachineNames = map[uint16]model.Arch{
	peMachine386:   model.Arch386,
	peMachineAMD64: model.ArchAMD64,
	0x1c0:          model.ArchARM, // ARM
	0x1c2:          model.ArchARM, // Thumb
	0x1c4:          model.ArchARM, // ARMv7 Thumb-2
	0xaa64:         model.ArchARM64,
}

type peSec struct {
	name string
	rva  uint64
	off  uint64 // file offset of data
	data []byte
}

type peDir struct{ rva, size uint32 }

// peFile is the state of one PE load: addresses inside are RVAs.
type peFile struct {
	l       *loader
	base    uint64
	ptrSize int
	machine uint16
	secs    []peSec
	hdr     []byte // headers, mapped at RVA 0
	dirs    [16]peDir
	last    int   // index of the section that answered the last lookup
	byRVA   []int // section indexes sorted by RVA
	// thunkBudget bounds the import table entries examined, including
	// those skipped as bad, so descriptors sharing one huge table of
	// junk cannot make the work quadratic.
	thunkBudget int
}

// peSignature returns the offset of "PE\0\0" that e_lfanew names, or 0.
func (l *loader) peSignature() int64 {
	b, err := l.readAt(0x3c, 4)
	if err != nil {
		return 0
	}
	off := int64(le.Uint32(b))
	if off < 4 {
		return 0
	}
	sig, err := l.readAt(off, 4)
	if err != nil || string(sig) != "PE\x00\x00" {
		return 0
	}
	return off
}

// at returns exactly n bytes at rva, or nil when they are not all loaded.
func (p *peFile) at(rva uint64, n uint64) []byte {
	b := p.rest(rva)
	if uint64(len(b)) < n {
		return nil
	}
	return b[:n:n]
}

// rest returns the loaded bytes from rva to the end of what holds it.
func (p *peFile) rest(rva uint64) []byte {
	if p.last < len(p.secs) {
		if s := &p.secs[p.last]; rva >= s.rva && rva-s.rva < uint64(len(s.data)) {
			return s.data[rva-s.rva:]
		}
	}
	// The last section starting at or below rva, or one of the few
	// before it when sections overlap.
	k := sort.Search(len(p.byRVA), func(k int) bool { return p.secs[p.byRVA[k]].rva > rva })
	for j := k - 1; j >= 0 && j >= k-8; j-- {
		i := p.byRVA[j]
		s := &p.secs[i]
		if rva-s.rva < uint64(len(s.data)) {
			p.last = i
			return s.data[rva-s.rva:]
		}
	}
	if rva < uint64(len(p.hdr)) {
		return p.hdr[rva:]
	}
	return nil
}

// where describes rva for a message: with its file offset when loaded.
func (p *peFile) where(rva uint64) string {
	if p.rest(rva) != nil {
		if p.last < len(p.secs) {
			if s := &p.secs[p.last]; rva >= s.rva && rva-s.rva < uint64(len(s.data)) {
				return fmt.Sprintf("RVA 0x%x (file offset 0x%x)", rva, s.off+rva-s.rva)
			}
		}
		if rva < uint64(len(p.hdr)) {
			return fmt.Sprintf("RVA 0x%x (file offset 0x%x)", rva, rva)
		}
	}
	return fmt.Sprintf("RVA 0x%x", rva)
}

func (p *peFile) str(rva uint64) (string, bool) {
	b := p.rest(rva)
	if b == nil {
		return "", false
	}
	return cstring(b, peNameMax)
}

func (p *peFile) ptr(rva uint64) (uint64, bool) {
	b := p.at(rva, uint64(p.ptrSize))
	if b == nil {
		return 0, false
	}
	if p.ptrSize == 8 {
		return le.Uint64(b), true
	}
	return uint64(le.Uint32(b)), true
}

func (p *peFile) u32(rva uint64) (uint32, bool) {
	b := p.at(rva, 4)
	if b == nil {
		return 0, false
	}
	return le.Uint32(b), true
}

func (l *loader) loadPE(sigOff int64) error {
	f := l.f
	f.Format = model.FormatPE
	p := &peFile{l: l}

	coffOff := sigOff + 4
	coff, err := l.readAt(coffOff, 20)
	if err != nil {
		return &FormatError{Off: coffOff, Msg: "truncated COFF file header"}
	}
	p.machine = le.Uint16(coff[0:])
	nsec := int(le.Uint16(coff[2:]))
	symPtr := le.Uint32(coff[8:])
	nsym := le.Uint32(coff[12:])
	optSize := int(le.Uint16(coff[16:]))
	optOff := coffOff + 20

	if optSize < 2 {
		return &FormatError{Off: coffOff + 16, Msg: "no optional header: not an image"}
	}
	opt := l.fileBytes(optOff, uint64(optSize))
	if len(opt) < 2 {
		return &FormatError{Off: optOff, Msg: "truncated optional header"}
	}
	fixed := 0
	switch magic := le.Uint16(opt); magic {
	case 0x10b:
		f.Bits, p.ptrSize, fixed = 32, 4, 96
	case 0x20b:
		f.Bits, p.ptrSize, fixed = 64, 8, 112
	default:
		return &FormatError{Off: optOff, Msg: fmt.Sprintf("unknown optional header magic 0x%x", magic)}
	}
	if optSize < fixed {
		return &FormatError{Off: coffOff + 16, Msg: fmt.Sprintf("optional header of %d bytes is too small", optSize)}
	}
	if len(opt) < fixed {
		return &FormatError{Off: optOff, Msg: "truncated optional header"}
	}
	entryRVA := le.Uint32(opt[16:])
	if f.Bits == 32 {
		p.base = uint64(le.Uint32(opt[28:]))
	} else {
		p.base = le.Uint64(opt[24:])
	}
	fileAlign := le.Uint32(opt[36:])
	sizeOfHeaders := le.Uint32(opt[60:])
	nRVA := le.Uint32(opt[fixed-4:])
	nDirs := int(min(nRVA, 16))
	if nRVA > 16 {
		l.anomaly("NumberOfRvaAndSizes is 0x%x (file offset 0x%x); only 16 data directories exist", nRVA, optOff+int64(fixed-4))
	}
	if fits := (len(opt) - fixed) / 8; nDirs > fits {
		l.anomaly("only %d of %d data directories fit in the optional header at file offset 0x%x", fits, nDirs, optOff)
	}
	for i := 0; i < nDirs && fixed+8*i+8 <= len(opt); i++ {
		d := opt[fixed+8*i:]
		p.dirs[i] = peDir{rva: le.Uint32(d), size: le.Uint32(d[4:])}
	}
	f.ImageBase = p.base

	if a, ok := peMachineNames[p.machine]; ok {
		f.Arch = a
	}
	switch {
	case f.Arch == model.Arch386 || f.Arch == model.ArchAMD64:
		if (f.Arch == model.ArchAMD64) != (f.Bits == 64) {
			l.anomaly("machine %s with a PE%s optional header", f.Arch, map[int]string{32: "32", 64: "32+"}[f.Bits])
		}
	case f.Arch != model.ArchUnknown:
		f.Unsupported = fmt.Sprintf("architecture %s: code analysis not supported", f.Arch)
	default:
		f.Unsupported = fmt.Sprintf("architecture machine 0x%x: code analysis not supported", p.machine)
	}

	// COFF string table: long section names ("/4") and symbol names.
	var strtab []byte
	if symPtr != 0 && nsym != 0 {
		strOff := int64(symPtr) + int64(nsym)*18
		if b := l.fileBytes(strOff, 4); len(b) == 4 {
			n := le.Uint32(b)
			if n >= 4 {
				strtab = l.fileBytes(strOff, uint64(n))
				if uint32(len(strtab)) < n {
					l.anomaly("COFF string table extends beyond end of file")
				}
			}
		}
	}

	// Section table.
	secOff := optOff + int64(optSize)
	if nsec > l.lim.MaxSections {
		l.anomaly("%d sections; only the first %d are loaded", nsec, l.lim.MaxSections)
		nsec = l.lim.MaxSections
	}
	if avail := (l.size - secOff) / 40; int64(nsec) > avail {
		if avail < 0 {
			avail = 0
		}
		if avail == 0 && nsec > 0 {
			return &FormatError{Off: secOff, Msg: "section table beyond end of file"}
		}
		l.anomaly("section table truncated: %d of %d entries in the file", avail, nsec)
		nsec = int(avail)
	}
	tbl, err := l.readAt(secOff, nsec*40)
	if err != nil {
		return &FormatError{Off: secOff, Msg: "cannot read section table"}
	}
	type rawSec struct {
		name            string
		hdr             int64 // file offset of the section header
		va, vsize       uint32
		rawPtr, rawSize uint32
		chars           uint32
	}
	raws := make([]rawSec, nsec)
	end := int64(sizeOfHeaders)
	for i := range raws {
		e := tbl[i*40:]
		rs := rawSec{
			hdr: secOff + 40*int64(i),
			va:  le.Uint32(e[12:]), vsize: le.Uint32(e[8:]),
			rawSize: le.Uint32(e[16:]), rawPtr: le.Uint32(e[20:]),
			chars: le.Uint32(e[36:]),
		}
		rs.name, _ = cstring(e[:8], 8)
		if len(rs.name) > 1 && rs.name[0] == '/' {
			if off, err := strconv.ParseUint(rs.name[1:], 10, 32); err == nil && off < uint64(len(strtab)) {
				rs.name, _ = cstring(strtab[off:], 256)
			}
		}
		// The loader rounds the raw pointer down to 512 bytes.
		if fileAlign >= 0x200 && rs.rawPtr&0x1ff != 0 {
			l.anomaly("section %s raw data pointer 0x%x is not aligned", quote(rs.name), rs.rawPtr)
			rs.rawPtr &^= 0x1ff
		}
		if rs.rawPtr != 0 && rs.rawSize != 0 {
			end = max(end, int64(rs.rawPtr)+int64(rs.rawSize))
		}
		raws[i] = rs
	}
	if err := l.readBuf(end); err != nil {
		return err
	}
	p.hdr = l.buf[:min(int64(sizeOfHeaders), int64(len(l.buf)))]

	f.Sections = make([]Section, 0, nsec)
	p.secs = make([]peSec, 0, nsec)
	var overHeaders, pastEOF, past4G tally
	for _, rs := range raws {
		n := rs.rawSize
		if rs.vsize != 0 && rs.vsize < n {
			n = rs.vsize
		}
		vsize := rs.vsize
		if vsize == 0 {
			vsize = rs.rawSize
		}
		if uint64(rs.va)+uint64(vsize) > 1<<32 {
			past4G.add("section %s (header at file offset 0x%x) at RVA 0x%x with VirtualSize 0x%x ends past 4 GB", quote(rs.name), rs.hdr, rs.va, vsize)
		}
		var data []byte
		switch {
		case rs.rawPtr == 0 && rs.rawSize != 0:
			overHeaders.add("section %s (header at file offset 0x%x) has 0x%x bytes of raw data at file offset 0, over the headers; not loaded", quote(rs.name), rs.hdr, rs.rawSize)
		case rs.rawPtr == 0 || n == 0:
		case int64(rs.rawPtr) >= l.size:
			l.anomaly("section %s starts beyond end of file", quote(rs.name))
		default:
			if int64(rs.rawPtr) < int64(sizeOfHeaders) {
				overHeaders.add("section %s raw data at file offset 0x%x overlaps the headers (SizeOfHeaders 0x%x)", quote(rs.name), rs.rawPtr, sizeOfHeaders)
			}
			if int64(rs.rawPtr)+int64(n) > l.size {
				l.anomaly("section %s extends beyond end of file", quote(rs.name))
				n = uint32(l.size - int64(rs.rawPtr))
			} else if int64(rs.rawPtr)+int64(rs.rawSize) > l.size {
				pastEOF.add("section %s (header at file offset 0x%x) has SizeOfRawData 0x%x: its raw data at file offset 0x%x would run past the end of the 0x%x-byte file", quote(rs.name), rs.hdr, rs.rawSize, rs.rawPtr, l.size)
			}
			data = l.buf[rs.rawPtr : rs.rawPtr+n : rs.rawPtr+n]
		}
		f.Sections = append(f.Sections, Section{
			Name:     rs.name,
			Addr:     p.base + uint64(rs.va),
			VSize:    uint64(vsize),
			Offset:   uint64(rs.rawPtr),
			Exec:     rs.chars&(peScnMemExecute|peScnCntCode) != 0,
			Writable: rs.chars&peScnMemWrite != 0,
			Data:     data,
		})
		p.secs = append(p.secs, peSec{name: rs.name, rva: uint64(rs.va), off: uint64(rs.rawPtr), data: data})
	}
	l.flush(&overHeaders, "sections")
	l.flush(&pastEOF, "sections")
	l.flush(&past4G, "sections")
	if len(f.Sections) == 0 {
		l.anomaly("no sections")
	}
	p.overlaps()
	p.byRVA = make([]int, len(p.secs))
	for i := range p.byRVA {
		p.byRVA[i] = i
	}
	sort.SliceStable(p.byRVA, func(a, b int) bool { return p.secs[p.byRVA[a]].rva < p.secs[p.byRVA[b]].rva })
	p.thunkBudget = 4*l.lim.MaxImports + 1024

	if entryRVA != 0 {
		f.Entry = p.base + uint64(entryRVA)
		l.addHint(FuncHint{Addr: f.Entry, Source: HintEntry})
	}
	p.clr()
	if f.Unsupported == "" {
		l.loadGo() // first, so merged hints keep pclntab as their source
	}
	p.exports()
	p.imports()
	p.delayImports()
	if p.machine == peMachineAMD64 {
		p.pdata()
	}
	if symPtr != 0 && nsym != 0 {
		p.symbols(int64(symPtr), nsym, strtab)
	}
	return nil
}

// overlaps records sections whose raw data share file bytes: compilers
// give every section its own bytes, while packers and hostile files map
// the same code many times.
func (p *peFile) overlaps() {
	idx := make([]int, 0, len(p.secs))
	for i, s := range p.secs {
		if len(s.data) > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return p.secs[idx[a]].off < p.secs[idx[b]].off })
	var t tally
	far := -1 // the section reaching furthest so far
	for _, i := range idx {
		s := &p.secs[i]
		if far >= 0 {
			o := &p.secs[far]
			if end := o.off + uint64(len(o.data)); s.off < end {
				t.add("section %s raw data at file offset 0x%x overlaps section %s (file offset 0x%x-0x%x)", quote(s.name), s.off, quote(o.name), o.off, end)
				if s.off+uint64(len(s.data)) <= end {
					continue
				}
			}
		}
		far = i
	}
	p.l.flush(&t, "sections")
}

// dir returns a data directory that is present, or ok false.
func (p *peFile) dir(i int) (peDir, bool) {
	d := p.dirs[i]
	return d, d.rva != 0 && d.size != 0
}

func (p *peFile) exports() {
	l, f := p.l, p.l.f
	d, ok := p.dir(peDirExport)
	if !ok {
		return
	}
	h := p.at(uint64(d.rva), 40)
	if h == nil {
		l.anomaly("export directory RVA 0x%x outside image", d.rva)
		return
	}
	dllName := uint64(le.Uint32(h[12:]))
	ordBase := le.Uint32(h[16:])
	nFuncs := le.Uint32(h[20:])
	nNames := le.Uint32(h[24:])
	aFuncs, aNames, aOrds := uint64(le.Uint32(h[28:])), uint64(le.Uint32(h[32:])), uint64(le.Uint32(h[36:]))
	// The tables follow the 40-byte header; none may overlap it.
	var self []string
	for _, x := range []struct {
		field string
		rva   uint64
	}{{"Name", dllName}, {"AddressOfFunctions", aFuncs}, {"AddressOfNames", aNames}, {"AddressOfNameOrdinals", aOrds}} {
		if x.rva >= uint64(d.rva) && x.rva < uint64(d.rva)+40 {
			self = append(self, x.field)
		}
	}
	if len(self) > 0 {
		l.anomaly("export directory at %s: %s point into the directory's own header", p.where(uint64(d.rva)), strings.Join(self, ", "))
	}
	if nFuncs > uint32(l.lim.MaxExports) {
		l.anomaly("%d exported functions; only %d are read", nFuncs, l.lim.MaxExports)
		nFuncs = uint32(l.lim.MaxExports)
	}
	if nNames > uint32(l.lim.MaxExports) {
		l.anomaly("%d export names; only %d are read", nNames, l.lim.MaxExports)
		nNames = uint32(l.lim.MaxExports)
	}
	funcs := p.rest(aFuncs)
	if uint64(len(funcs)) < 4*uint64(nFuncs) {
		l.anomaly("export address table at RVA 0x%x truncated", aFuncs)
		nFuncs = uint32(len(funcs) / 4)
	}
	names := p.rest(aNames)
	ords := p.rest(aOrds)
	if uint64(len(names)) < 4*uint64(nNames) || uint64(len(ords)) < 2*uint64(nNames) {
		l.anomaly("export name tables truncated")
		nNames = uint32(min(len(names)/4, len(ords)/2))
	}
	// Names per function index; most have one, a few have none or several.
	byIdx := make(map[uint32][]string, nNames)
	for i := uint32(0); i < nNames; i++ {
		idx := uint32(le.Uint16(ords[2*i:]))
		nameRVA := le.Uint32(names[4*i:])
		name, ok := p.str(uint64(nameRVA))
		if !ok {
			l.anomaly("export name RVA 0x%x outside image", nameRVA)
			continue
		}
		if idx >= nFuncs {
			l.anomaly("export %s names function index %d of %d", quote(name), idx, nFuncs)
			continue
		}
		byIdx[idx] = append(byIdx[idx], name)
	}
	for i := uint32(0); i < nFuncs; i++ {
		rva := le.Uint32(funcs[4*i:])
		if rva == 0 {
			continue
		}
		e := Export{Ordinal: ordBase + i}
		if rva >= d.rva && rva-d.rva < d.size {
			fw, ok := p.str(uint64(rva))
			if !ok {
				l.anomaly("export forwarder at RVA 0x%x unterminated", rva)
			}
			e.Forwarder = fw
		} else {
			e.Addr = p.base + uint64(rva)
			if f.IsExec(e.Addr) { // others export data
				for _, n := range byIdx[i] {
					l.addHint(FuncHint{Addr: e.Addr, Name: n, Source: HintExport})
				}
				if len(byIdx[i]) == 0 {
					l.addHint(FuncHint{Addr: e.Addr, Source: HintExport})
				}
			}
		}
		if len(byIdx[i]) == 0 {
			f.Exports = append(f.Exports, e)
		}
		for _, n := range byIdx[i] {
			e.Name = n
			f.Exports = append(f.Exports, e)
		}
	}
	if own, ok := p.str(dllName); ok {
		p.forwardLoops(own, f.Exports)
	}
}

// forwardLoops records forwarded exports that lead back to themselves
// through the DLL's own exports ("SELF.a" -> "SELF.b" -> "SELF.a"): the
// Windows loader fails on them, so no real DLL has one.
func (p *peFile) forwardLoops(own string, exps []Export) {
	own = strings.ToLower(own)
	own = strings.TrimSuffix(own, ".dll")
	// next maps an export, by name and by "#ordinal", to the export its
	// forwarder names in this same DLL.
	key := func(e *Export) []string {
		k := []string{"#" + strconv.FormatUint(uint64(e.Ordinal), 10)}
		if e.Name != "" {
			k = append(k, e.Name)
		}
		return k
	}
	next := make(map[string]string)
	for i := range exps {
		e := &exps[i]
		dot := strings.LastIndexByte(e.Forwarder, '.')
		if dot < 0 || strings.ToLower(e.Forwarder[:dot]) != own {
			continue
		}
		for _, k := range key(e) {
			next[k] = e.Forwarder[dot+1:]
		}
	}
	if len(next) == 0 {
		return
	}
	// Walk each chain once: 1 = on the current chain, 2 = done.
	state := make(map[string]uint8, len(next))
	for i := range exps {
		e := &exps[i]
		if e.Forwarder == "" || e.Name == "" || state[e.Name] != 0 {
			continue
		}
		var chain []string
		k := e.Name
		for {
			if state[k] == 2 {
				break
			}
			if state[k] == 1 {
				p.loopAnomaly(chain, k)
				break
			}
			t, ok := next[k]
			if !ok {
				break
			}
			state[k] = 1
			chain = append(chain, k)
			k = t
		}
		for _, c := range chain {
			state[c] = 2
		}
	}
}

// loopAnomaly records the loop of chain that starts at k.
func (p *peFile) loopAnomaly(chain []string, k string) {
	i := 0
	for i < len(chain) && chain[i] != k {
		i++
	}
	loop := chain[i:]
	if len(loop) == 1 {
		p.l.anomaly("export %s is forwarded to itself", quote(loop[0]))
		return
	}
	const show = 4
	var b strings.Builder
	for j, n := range loop {
		if j == show {
			fmt.Fprintf(&b, " -> … (%d more)", len(loop)-show)
			break
		}
		if j > 0 {
			b.WriteString(" -> ")
		}
		b.WriteString(quote(n))
	}
	if len(loop) <= show {
		b.WriteString(" -> " + quote(k))
	}
	p.l.anomaly("forwarded exports loop: %s", b.String())
}

// imports reads the import directory: an array of 20-byte descriptors,
// each naming a DLL, its lookup table (names or ordinals) and its IAT.
func (p *peFile) imports() {
	l := p.l
	d, ok := p.dir(peDirImport)
	if !ok {
		return
	}
	for i := uint64(0); ; i++ {
		if i >= uint64(l.lim.MaxImports) {
			l.anomaly("more than %d import descriptors", l.lim.MaxImports)
			return
		}
		rva := uint64(d.rva) + 20*i
		e := p.at(rva, 20)
		if e == nil {
			l.anomaly("import directory at RVA 0x%x runs out of the image", d.rva)
			return
		}
		ilt, nameRVA, iat := le.Uint32(e[0:]), le.Uint32(e[12:]), le.Uint32(e[16:])
		if ilt == 0 && nameRVA == 0 && iat == 0 {
			return // terminator (timestamp and forwarder chain are ignored)
		}
		var self []string
		for _, x := range []struct {
			field string
			rva   uint32
		}{{"OriginalFirstThunk", ilt}, {"Name", nameRVA}, {"FirstThunk", iat}} {
			if uint64(x.rva) >= rva && uint64(x.rva) < rva+20 {
				self = append(self, x.field)
			}
		}
		if len(self) > 0 {
			l.anomaly("import descriptor %d at %s: %s point at the descriptor itself", i, p.where(rva), strings.Join(self, ", "))
		}
		lib, ok := p.str(uint64(nameRVA))
		if !ok {
			l.anomaly("import DLL name RVA 0x%x outside image", nameRVA)
		}
		table := uint64(ilt)
		if table == 0 || p.at(table, uint64(p.ptrSize)) == nil {
			table = uint64(iat)
		}
		if !p.thunks(lib, table, uint64(iat), false) {
			return
		}
	}
}

// thunks reads one import lookup table; slots are the matching IAT entries.
// It reports false once the import limit is reached.
func (p *peFile) thunks(lib string, table, iat uint64, delayed bool) bool {
	l, f := p.l, p.l.f
	ps := uint64(p.ptrSize)
	ordFlag := uint64(1) << (8*ps - 1)
	for j := uint64(0); ; j++ {
		v, ok := p.ptr(table + j*ps)
		if !ok {
			l.anomaly("import table of %s at RVA 0x%x runs out of the image", quote(lib), table)
			return true
		}
		if v == 0 {
			return true
		}
		if p.thunkBudget--; p.thunkBudget < 0 {
			l.anomaly("import tables hold too many bad entries; the rest are ignored")
			return false
		}
		if len(f.Imports) >= l.lim.MaxImports {
			l.anomaly("more than %d imports; the rest are ignored", l.lim.MaxImports)
			return false
		}
		imp := Import{Library: lib, Delayed: delayed, Addrs: []uint64{p.base + iat + j*ps}}
		if v&ordFlag != 0 {
			imp.Name = "#" + strconv.FormatUint(v&0xffff, 10)
		} else {
			hint := v & 0x7fffffff
			name, ok := p.str(hint + 2)
			if !ok {
				if name == "" {
					l.anomaly("import name RVA 0x%x outside image", hint)
					continue
				}
				l.anomaly("import name at RVA 0x%x unterminated", hint)
			}
			imp.Name = name
		}
		f.Imports = append(f.Imports, imp)
	}
}

// delayImports reads delay-load descriptors (32 bytes each), up to an
// all-zero one or the end of the directory. Linkers before Visual C++ 6
// wrote VAs instead of RVAs (i386 only), which attribute bit 0 tells apart.
func (p *peFile) delayImports() {
	l := p.l
	d, ok := p.dir(peDirDelay)
	if !ok {
		return
	}
	for i := uint64(0); ; i++ {
		if i >= uint64(l.lim.MaxImports) {
			l.anomaly("more than %d delay-load descriptors", l.lim.MaxImports)
			return
		}
		if 32*i >= uint64(d.size) && d.size >= 32 {
			return
		}
		e := p.at(uint64(d.rva)+32*i, 32)
		if e == nil {
			l.anomaly("delay-load directory at RVA 0x%x runs out of the image", d.rva)
			return
		}
		attrs, nameRVA, iat, int_ := le.Uint32(e[0:]), uint64(le.Uint32(e[4:])), uint64(le.Uint32(e[12:])), uint64(le.Uint32(e[16:]))
		if nameRVA == 0 && iat == 0 && int_ == 0 {
			return
		}
		if attrs&1 == 0 && p.machine == peMachine386 {
			nameRVA, iat, int_ = nameRVA-p.base, iat-p.base, int_-p.base
			nameRVA, iat, int_ = nameRVA&0xffffffff, iat&0xffffffff, int_&0xffffffff
		}
		lib, ok := p.str(nameRVA)
		if !ok {
			l.anomaly("delay-load DLL name RVA 0x%x outside image", nameRVA)
		}
		table := int_
		if table == 0 {
			table = iat
		}
		if !p.thunks(lib, table, iat, true) {
			return
		}
	}
}

// pdata reads the amd64 exception directory: RUNTIME_FUNCTION entries of
// 12 bytes (begin, end, unwind info RVAs).
func (p *peFile) pdata() {
	l := p.l
	for _, rf := range p.runtimeFunctions() {
		l.addHint(FuncHint{Addr: p.base + uint64(rf[0]), End: p.base + uint64(rf[1]), Source: HintPdata})
	}
}

// runtimeFunctions returns [begin, end) of the function starts in the
// exception directory. Entries whose unwind information chains to another
// entry describe a later part of a function, not a start: they are left
// out, as are entries that point at another RUNTIME_FUNCTION.
func (p *peFile) runtimeFunctions() [][2]uint32 {
	l := p.l
	d, ok := p.dir(peDirException)
	if !ok {
		return nil
	}
	b := p.rest(uint64(d.rva))
	if uint64(len(b)) < uint64(d.size) {
		l.anomaly("exception directory at RVA 0x%x runs out of the image", d.rva)
	} else {
		b = b[:d.size]
	}
	n := len(b) / 12
	if n > l.lim.MaxFuncHints {
		n = l.lim.MaxFuncHints
	}
	out := make([][2]uint32, 0, n)
	var backwards, selfUnwind tally
	for i := 0; i < n; i++ {
		e := b[12*i:]
		begin, end, unwind := le.Uint32(e), le.Uint32(e[4:]), le.Uint32(e[8:])
		if begin == 0 && end == 0 && unwind == 0 {
			continue
		}
		l.pdataEntries++
		if end <= begin {
			backwards.add("exception entry %d at %s has end 0x%x before begin 0x%x", i, p.where(uint64(d.rva)+12*uint64(i)), end, begin)
			end = begin
		}
		if unwind&1 != 0 {
			continue // points at another RUNTIME_FUNCTION
		}
		if unwind >= d.rva && unwind-d.rva < uint32(len(b)) {
			// UNWIND_INFO never lives among the RUNTIME_FUNCTIONs.
			selfUnwind.add("exception entry %d at %s has its unwind information inside the exception directory, at RVA 0x%x", i, p.where(uint64(d.rva)+12*uint64(i)), unwind)
			continue
		}
		if u := p.at(uint64(unwind), 1); u != nil && (u[0]>>3)&0x4 != 0 {
			continue // UNW_FLAG_CHAININFO
		}
		out = append(out, [2]uint32{begin, end})
	}
	l.flush(&backwards, "entries")
	l.flush(&selfUnwind, "entries")
	return out
}

// symbols reads the COFF symbol table, which mingw and Go leave in images
// unless stripped. Entries are 18 bytes, followed by their aux entries.
func (p *peFile) symbols(off int64, nsym uint32, strtab []byte) {
	l, f := p.l, p.l.f
	if avail := (l.size - off) / 18; off >= l.size || int64(nsym) > avail {
		l.anomaly("COFF symbol table extends beyond end of file")
		if off >= l.size {
			return
		}
		nsym = uint32(avail)
	}
	if nsym > uint32(l.lim.MaxSymbols) {
		l.anomaly("%d COFF symbols; only %d are read", nsym, l.lim.MaxSymbols)
		nsym = uint32(l.lim.MaxSymbols)
	}
	tab, err := l.readAt(off, int(nsym)*18)
	if err != nil {
		l.anomaly("cannot read COFF symbol table: %v", err)
		return
	}
	for i := uint32(0); i < nsym; i++ {
		e := tab[18*i : 18*i+18]
		naux := uint32(e[17])
		secNum := int16(le.Uint16(e[12:]))
		typ := le.Uint16(e[14:])
		class := e[16]
		i += naux
		if (typ>>4)&3 != 2 || secNum <= 0 || int(secNum) > len(p.secs) {
			continue // not a function, or undefined/absolute
		}
		if class != 2 && class != 3 && class != 105 { // external, static, weak external
			continue
		}
		var name string
		if le.Uint32(e) == 0 {
			if so := le.Uint32(e[4:]); uint64(so) < uint64(len(strtab)) {
				name, _ = cstring(strtab[so:], peNameMax)
			}
		} else {
			name, _ = cstring(e[:8], 8)
		}
		addr := p.base + p.secs[secNum-1].rva + uint64(le.Uint32(e[8:]))
		f.Symbols = append(f.Symbols, Symbol{Name: name, Addr: addr})
		l.addHint(FuncHint{Addr: addr, Name: name, Source: HintSymbol})
	}
}

// clr marks IL-only .NET assemblies: their code is CIL, not machine code.
func (p *peFile) clr() {
	d, ok := p.dir(peDirCLR)
	if !ok {
		return
	}
	h := p.at(uint64(d.rva), 20)
	if h == nil {
		p.l.anomaly("CLR runtime header RVA 0x%x outside image", d.rva)
		return
	}
	if le.Uint32(h[16:])&1 != 0 && p.l.f.Unsupported == "" { // COMIMAGE_FLAGS_ILONLY
		p.l.f.Unsupported = ".NET IL-only assembly: code analysis not supported"
	}
}
