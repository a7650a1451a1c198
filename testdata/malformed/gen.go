//go:build ignore

// gen writes the malformed-binary suite: hostile variants of the fixtures in
// testdata/fixtures/bin, each breaking one thing a loader or disassembler
// relies on, plus MANIFEST.tsv saying what each tests and what kinship must
// do with it. Run it from the module root:
//
//	go run testdata/malformed/gen.go
//
// The output is deterministic (no clock, a fixed pseudo-random seed, no map
// iteration), so the committed files can be checked by regenerating them.
// Files are written without execute bits. The 1 GB sparse file is not made
// here: the test creates it with Truncate so it never reaches the repository.
package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	outDir  = "testdata/malformed"
	binDir  = "testdata/fixtures/bin"
	maxSize = 2 << 20 // the whole suite stays small enough to commit
)

// Expected outcomes, as MANIFEST.tsv spells them.
const (
	expError   = "error"   // refused with an error naming the file and an offset
	expAnomaly = "anomaly" // stored, with the oddity recorded as an anomaly
	// limit: built to exhaust the per-file limits; it must end within
	// them, stored with "decoding stopped" or failed with a timeout.
	expLimit = "limit"
)

type entry struct {
	name   string
	tests  string
	expect string
	data   []byte
}

var (
	out   []entry
	names = map[string]bool{}
	le    = binary.LittleEndian
)

func add(name, expect, tests string, data []byte) {
	if names[name] {
		fatal("duplicate name %s", name)
	}
	names[name] = true
	out = append(out, entry{name, tests, expect, data})
}

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gen: "+format+"\n", args...)
	os.Exit(1)
}

func read(rel string) []byte {
	b, err := os.ReadFile(filepath.Join(binDir, rel))
	if err != nil {
		fatal("%v (run from the module root)", err)
	}
	return b
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// rng is xorshift64*: the same bytes on every run and platform.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

func (r *rng) fill(b []byte) {
	for i := range b {
		b[i] = byte(r.next() >> 56)
	}
}

// trickyCode jumps into the middle of its own instructions and calls into
// the middle of earlier ones: the classic anti-disassembly overlaps. It is
// valid in both 32- and 64-bit mode.
var trickyCode = []byte{
	0xeb, 0xff, // jmp $+1: lands on the 0xff of its own encoding
	0xc0,             // ...which decodes as ff c0, inc eax
	0x74, 0x01, 0xe8, // jz over a lone call opcode byte
	0x31, 0xc0, // xor eax, eax
	0x75, 0xfb, // jnz back into the middle of the jz
	0xe8, 0xf2, 0xff, 0xff, 0xff, // call back into the middle of the first jmp
	0xeb, 0xf8, // jmp into the middle of the call's displacement
	0xff, 0x25, 0xfa, 0xff, 0xff, 0xff, // jmp [rip-6]: reads its own bytes as a target
	0xc3,
}

// ---------------------------------------------------------------- PE

type pe struct {
	b        []byte
	lfanew   int
	coff     int // COFF file header
	opt      int // optional header
	optSize  int
	plus     bool // PE32+
	secTab   int
	nsec     int
	dirs     int // first data directory
	ndirs    int
	firstRaw int // lowest PointerToRawData of any section
}

type peSec struct {
	hdr             int // offset of the section header
	name            string
	vsize, va       uint32
	rawSize, rawOff uint32
	characteristics uint32
}

func parsePE(b []byte) *pe {
	p := &pe{b: b}
	p.lfanew = int(le.Uint32(b[0x3c:]))
	p.coff = p.lfanew + 4
	p.nsec = int(le.Uint16(b[p.coff+2:]))
	p.optSize = int(le.Uint16(b[p.coff+16:]))
	p.opt = p.coff + 20
	p.plus = le.Uint16(b[p.opt:]) == 0x20b
	p.secTab = p.opt + p.optSize
	if p.plus {
		p.ndirs, p.dirs = int(le.Uint32(b[p.opt+108:])), p.opt+112
	} else {
		p.ndirs, p.dirs = int(le.Uint32(b[p.opt+92:])), p.opt+96
	}
	p.firstRaw = len(b)
	for _, s := range p.sections() {
		if s.rawOff != 0 && int(s.rawOff) < p.firstRaw {
			p.firstRaw = int(s.rawOff)
		}
	}
	return p
}

func (p *pe) sections() []peSec {
	var out []peSec
	for i := 0; i < p.nsec; i++ {
		h := p.secTab + 40*i
		b := p.b[h:]
		out = append(out, peSec{
			hdr: h, name: strings.TrimRight(string(b[:8]), "\x00"),
			vsize: le.Uint32(b[8:]), va: le.Uint32(b[12:]), rawSize: le.Uint32(b[16:]), rawOff: le.Uint32(b[20:]),
			characteristics: le.Uint32(b[36:]),
		})
	}
	return out
}

func (p *pe) section(name string) peSec {
	for _, s := range p.sections() {
		if s.name == name {
			return s
		}
	}
	fatal("no section %s", name)
	return peSec{}
}

func (p *pe) dir(i int) (rva, size uint32) {
	o := p.dirs + 8*i
	return le.Uint32(p.b[o:]), le.Uint32(p.b[o+4:])
}

func (p *pe) setDir(i int, rva, size uint32) {
	o := p.dirs + 8*i
	le.PutUint32(p.b[o:], rva)
	le.PutUint32(p.b[o+4:], size)
}

func (p *pe) off(rva uint32) int {
	for _, s := range p.sections() {
		if rva >= s.va && rva < s.va+max(s.vsize, s.rawSize) {
			return int(s.rawOff + rva - s.va)
		}
	}
	fatal("rva %#x not in a section", rva)
	return 0
}

func (p *pe) entry() uint32 { return le.Uint32(p.b[p.opt+16:]) }

func (p *pe) sizeOfImage() int { return p.opt + 56 }

var peDirNames = []string{"export", "import", "resource", "exception", "security", "basereloc", "debug", "architecture",
	"globalptr", "tls", "loadconfig", "boundimport", "iat", "delayimport", "clr"}

// peTruncations cuts a PE at every header boundary and at the start and
// middle of every data directory present.
func peTruncations(tag, rel string) {
	b := read(rel)
	p := parsePE(b)
	cut := func(at int, what, expect string) {
		if at <= 0 || at >= len(b) {
			return
		}
		add(fmt.Sprintf("%s-trunc-%s", tag, what), expect,
			fmt.Sprintf("%s cut to %d bytes: %s", rel, at, strings.ReplaceAll(what, "-", " ")), clone(b[:at]))
	}
	// Up to the first section header nothing can be loaded; after it,
	// what is there loads and the rest is recorded as missing.
	cut(2, "dos-magic", expError)
	cut(0x20, "dos-header", expError)
	cut(0x3c, "before-e_lfanew", expError)
	cut(0x40, "dos-header-end", expError)
	cut(p.lfanew+2, "pe-signature", expError)
	cut(p.coff+10, "coff-header", expError)
	cut(p.opt+p.optSize/2, "optional-header", expError)
	cut(p.dirs+8*p.ndirs-4, "data-directories", expError)
	cut(p.secTab, "optional-header-end", expError)
	cut(p.secTab+20, "first-section-header", expError)
	cut(p.secTab+40*(p.nsec/2), "section-table-half", expAnomaly)
	cut(p.secTab+40*p.nsec-1, "section-table-last", expAnomaly)
	cut(p.firstRaw, "headers-only", expAnomaly)
	for i := 0; i < min(p.ndirs, len(peDirNames)); i++ {
		rva, size := p.dir(i)
		if rva == 0 || size == 0 || i == 4 { // the security directory holds file offsets, not RVAs
			continue
		}
		o := p.off(rva)
		cut(o, peDirNames[i]+"-dir", expAnomaly)
		if size > 1 {
			cut(o+int(size)/2, peDirNames[i]+"-dir-half", expAnomaly)
		}
	}
	ep := p.off(p.entry())
	cut(ep+1, "entry-code", expAnomaly)
}

func peVariants() {
	const hello = "pe64-O2/hello.exe"
	const dll = "pe64-O2/shapes.dll"
	base := read(hello)

	{ // NumberOfSections at its maximum: the table runs past the file.
		b := clone(base)
		p := parsePE(b)
		le.PutUint16(b[p.coff+2:], 0xffff)
		add("pe-nsections-ffff", expAnomaly, "NumberOfSections = 0xffff: the section table runs far past the end of the file", b)
	}
	{ // A section table as large as a loader accepts, each section mapping
		// all of .text again at its own address: the code the disassembler
		// sees is hundreds of times the file.
		const n = 4000
		p := parsePE(base)
		text := p.section(".text")
		newFirst := (p.secTab + 40*(p.nsec+n) + 0x1ff) &^ 0x1ff
		delta := uint32(newFirst - p.firstRaw)
		var b []byte
		b = append(b, base[:p.secTab]...)
		for _, s := range p.sections() {
			h := clone(base[s.hdr : s.hdr+40])
			if s.rawOff != 0 {
				le.PutUint32(h[20:], s.rawOff+delta)
			}
			b = append(b, h...)
		}
		top := uint32(0)
		for _, s := range p.sections() {
			top = max(top, s.va+s.vsize)
		}
		top = (top + 0xfff) &^ 0xfff
		for i := 0; i < n; i++ {
			h := make([]byte, 40)
			copy(h, fmt.Sprintf(".x%04d", i))
			le.PutUint32(h[8:], text.rawSize)
			le.PutUint32(h[12:], top+uint32(i)*0x2000)
			le.PutUint32(h[16:], text.rawSize)
			le.PutUint32(h[20:], text.rawOff+delta)
			le.PutUint32(h[36:], 0x60000020) // code, execute, read
			b = append(b, h...)
		}
		b = append(b, make([]byte, newFirst-len(b))...)
		b = append(b, base[p.firstRaw:]...)
		q := parsePE(b)
		le.PutUint16(b[q.coff+2:], uint16(p.nsec+n))
		le.PutUint32(b[q.opt+60:], uint32(newFirst))            // SizeOfHeaders
		le.PutUint32(b[q.sizeOfImage():], top+uint32(n)*0x2000) // SizeOfImage
		add("pe-sections-4000-overlap-exec", expAnomaly,
			"4000 extra executable sections all mapping the same .text bytes at different addresses: code far larger than the file", b)
	}
	{ // The same trick with a 64 KB run of one-byte instructions appended
		// to the file: every section decodes 64K instructions, so a
		// disassembler without a memory bound would build billions of bytes
		// of instruction records from a 220 KB file.
		const n = 4000
		const sled = 64 << 10
		p := parsePE(base)
		newFirst := (p.secTab + 40*(p.nsec+n) + 0x1ff) &^ 0x1ff
		delta := uint32(newFirst - p.firstRaw)
		var b []byte
		b = append(b, base[:p.secTab]...)
		for _, s := range p.sections() {
			h := clone(base[s.hdr : s.hdr+40])
			if s.rawOff != 0 {
				le.PutUint32(h[20:], s.rawOff+delta)
			}
			b = append(b, h...)
		}
		top := uint32(0)
		for _, s := range p.sections() {
			top = max(top, s.va+s.vsize)
		}
		top = (top + 0xfff) &^ 0xfff
		sledOff := uint32(newFirst + len(base) - p.firstRaw)
		for i := 0; i < n; i++ {
			h := make([]byte, 40)
			copy(h, fmt.Sprintf(".n%04d", i))
			le.PutUint32(h[8:], sled)
			le.PutUint32(h[12:], top+uint32(i)*sled)
			le.PutUint32(h[16:], sled)
			le.PutUint32(h[20:], sledOff)
			le.PutUint32(h[36:], 0x60000020)
			b = append(b, h...)
		}
		b = append(b, make([]byte, newFirst-len(b))...)
		b = append(b, base[p.firstRaw:]...)
		b = append(b, bytes.Repeat([]byte{0x90}, sled)...)
		q := parsePE(b)
		le.PutUint16(b[q.coff+2:], uint16(p.nsec+n))
		le.PutUint32(b[q.opt+60:], uint32(newFirst))
		le.PutUint32(b[q.sizeOfImage():], top+uint32(n)*sled)
		add("pe-sections-4000-nop-sled", expLimit,
			"4000 executable sections each mapping one 64 KB run of nops: 256 MB of code, 262 million instructions, from a 230 KB file", b)
	}
	{ // A symbol table pointer and count at their maximum.
		b := clone(base)
		p := parsePE(b)
		le.PutUint32(b[p.coff+8:], 0x200)
		le.PutUint32(b[p.coff+12:], 0xffffffff)
		add("pe-nsymbols-max", expAnomaly, "PointerToSymbolTable inside the headers and NumberOfSymbols = 0xffffffff", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		le.PutUint32(b[p.coff+8:], 0xfffffff0)
		le.PutUint32(b[p.coff+12:], 0x10000)
		add("pe-symtab-beyond-eof", expAnomaly, "COFF symbol table pointer past the end of the file", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		if p.plus {
			le.PutUint32(b[p.opt+108:], 0xffffffff)
		}
		add("pe-numrva-max", expAnomaly, "NumberOfRvaAndSizes = 0xffffffff: more data directories than the optional header holds", b)
	}
	{ // Import descriptors with no all-zero terminator: copies of the first
		// one fill the rest of the section.
		b := clone(base)
		p := parsePE(b)
		rva, _ := p.dir(1)
		o := p.off(rva)
		sec := p.section(".idata")
		end := int(sec.rawOff + sec.rawSize)
		first := clone(b[o : o+20])
		q := o
		for q+20 <= end && !bytes.Equal(b[q:q+20], make([]byte, 20)) {
			q += 20
		}
		for ; q+20 <= end; q += 20 {
			copy(b[q:], first)
		}
		p.setDir(1, rva, uint32(end-o))
		add("pe-import-noterm", expAnomaly, "import descriptors without a terminator: they run to the end of the section", b)
	}
	{ // Import descriptor fields pointing at the descriptor itself.
		b := clone(base)
		p := parsePE(b)
		rva, _ := p.dir(1)
		o := p.off(rva)
		le.PutUint32(b[o:], rva)    // OriginalFirstThunk
		le.PutUint32(b[o+12:], rva) // Name
		le.PutUint32(b[o+16:], rva) // FirstThunk
		add("pe-import-self", expAnomaly, "import descriptor whose name, lookup table and address table all point at the descriptor itself", b)
	}
	{ // The import lookup table points into code: thunks are instruction
		// bytes, with no terminator for a long way.
		b := clone(base)
		p := parsePE(b)
		rva, _ := p.dir(1)
		o := p.off(rva)
		le.PutUint32(b[o:], p.section(".text").va)
		add("pe-import-thunks-in-code", expAnomaly, "import lookup table pointing into .text: garbage thunks with no terminator", b)
	}
	{ // The import directory points at the PE headers.
		b := clone(base)
		p := parsePE(b)
		p.setDir(1, uint32(p.coff), 0xffffffff)
		add("pe-import-dir-huge", expAnomaly, "import directory at the COFF header with size 0xffffffff", b)
	}

	// Export tables.
	dbase := read(dll)
	{
		b := clone(dbase)
		p := parsePE(b)
		rva, _ := p.dir(0)
		o := p.off(rva)
		le.PutUint32(b[o+12:], rva) // Name
		le.PutUint32(b[o+28:], rva) // AddressOfFunctions
		le.PutUint32(b[o+32:], rva) // AddressOfNames
		le.PutUint32(b[o+36:], rva) // AddressOfNameOrdinals
		add("pe-export-self", expAnomaly, "export directory whose name, address, name and ordinal tables all point at the directory itself", b)
	}
	{
		b := clone(dbase)
		p := parsePE(b)
		rva, _ := p.dir(0)
		o := p.off(rva)
		le.PutUint32(b[o+20:], 0xffffffff) // NumberOfFunctions
		le.PutUint32(b[o+24:], 0xffffffff) // NumberOfNames
		add("pe-export-counts-max", expAnomaly, "export NumberOfFunctions and NumberOfNames = 0xffffffff", b)
	}
	{ // Forwarded exports that loop: a -> b -> a, and c -> c.
		b := clone(dbase)
		p := parsePE(b)
		sec := p.section(".edata")
		rva := sec.va
		o := int(sec.rawOff)
		var t bytes.Buffer
		const n = 3
		fns := 40
		nameTab := fns + 4*n
		ordTab := nameTab + 4*n
		strs := ordTab + 2*n
		dllName := strs
		strOff := []int{}
		pool := []string{"shapes.dll", "loop_a", "loop_b", "self_c", "shapes.loop_b", "shapes.loop_a", "SHAPES.self_c"}
		at := strs
		for _, s := range pool {
			strOff = append(strOff, at)
			at += len(s) + 1
		}
		size := at
		if size > int(sec.rawSize) {
			fatal("export rebuild does not fit .edata")
		}
		hdr := make([]byte, 40)
		le.PutUint32(hdr[12:], rva+uint32(dllName))
		le.PutUint32(hdr[16:], 1)
		le.PutUint32(hdr[20:], n)
		le.PutUint32(hdr[24:], n)
		le.PutUint32(hdr[28:], rva+uint32(fns))
		le.PutUint32(hdr[32:], rva+uint32(nameTab))
		le.PutUint32(hdr[36:], rva+uint32(ordTab))
		t.Write(hdr)
		for i := 0; i < n; i++ { // each function RVA is a forwarder string inside the directory
			binary.Write(&t, le, rva+uint32(strOff[4+i]))
		}
		for i := 0; i < n; i++ {
			binary.Write(&t, le, rva+uint32(strOff[1+i]))
		}
		for i := 0; i < n; i++ {
			binary.Write(&t, le, uint16(i))
		}
		for _, s := range pool {
			t.WriteString(s)
			t.WriteByte(0)
		}
		region := b[o : o+int(sec.rawSize)]
		clear(region)
		copy(region, t.Bytes())
		le.PutUint32(b[sec.hdr+8:], max(sec.vsize, uint32(size)))
		p.setDir(0, rva, uint32(size))
		add("pe-export-forward-loop", expAnomaly, "forwarded exports that loop (loop_a -> loop_b -> loop_a) and one forwarded to itself", b)
	}

	{ // No sections at all.
		b := clone(base)
		p := parsePE(b)
		le.PutUint16(b[p.coff+2:], 0)
		add("pe-no-sections", expAnomaly, "NumberOfSections = 0: headers only, entry point and directories point nowhere", b)
	}
	{ // Every section maps the same file bytes at overlapping addresses.
		b := clone(base)
		p := parsePE(b)
		secs := p.sections()
		for i, s := range secs[1:] {
			le.PutUint32(b[s.hdr+8:], secs[0].vsize)
			le.PutUint32(b[s.hdr+12:], secs[0].va+uint32(i+1)*0x100)
			le.PutUint32(b[s.hdr+16:], secs[0].rawSize)
			le.PutUint32(b[s.hdr+20:], secs[0].rawOff)
		}
		add("pe-overlap-sections", expAnomaly, "every section maps the same raw bytes as .text at addresses overlapping it", b)
	}
	{ // A section overlapping the headers.
		b := clone(base)
		p := parsePE(b)
		s := p.sections()[1]
		le.PutUint32(b[s.hdr+20:], 0)
		le.PutUint32(b[s.hdr+16:], uint32(len(b)))
		add("pe-section-over-headers", expAnomaly, "a section whose raw data starts at offset 0 and spans the whole file", b)
	}
	{ // Raw data beyond the end of the file, and raw data crossing it.
		b := clone(base)
		p := parsePE(b)
		secs := p.sections()
		last := secs[len(secs)-1]
		le.PutUint32(b[last.hdr+20:], 0x7fff0000)
		le.PutUint32(b[last.hdr+16:], 0x10000)
		mid := secs[1]
		le.PutUint32(b[mid.hdr+20:], uint32(len(b)-0x10))
		le.PutUint32(b[mid.hdr+16:], 0x100000)
		add("pe-sections-beyond-eof", expAnomaly, "one section's raw data starts past the end of the file, another's runs 1 MB past it", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		text := p.section(".text")
		le.PutUint32(b[text.hdr+16:], 0xffffffff)
		add("pe-rawsize-max", expAnomaly, ".text SizeOfRawData = 0xffffffff", b)
	}
	{ // Virtual sizes of 4 GB.
		b := clone(base)
		p := parsePE(b)
		for _, s := range p.sections() {
			le.PutUint32(b[s.hdr+8:], 0xffffffff)
		}
		le.PutUint32(b[p.sizeOfImage():], 0xffffffff)
		add("pe-vsize-4g", expAnomaly, "every section's VirtualSize and SizeOfImage = 0xffffffff (4 GB)", b)
	}
	{ // Addresses that wrap around 32 bits.
		b := clone(base)
		p := parsePE(b)
		text := p.section(".text")
		le.PutUint32(b[text.hdr+12:], 0xfffff000)
		le.PutUint32(b[text.hdr+8:], 0x10000)
		le.PutUint32(b[p.opt+16:], 0xfffff010)
		add("pe-va-wrap", expAnomaly, ".text at RVA 0xfffff000 with a size that wraps past 4 GB; entry point inside it", b)
	}
	{
		b := clone(base)
		le.PutUint32(b[0x3c:], 0xfffffff0)
		add("pe-lfanew-beyond-eof", expError, "e_lfanew points 4 GB past the start of a 15 KB file", b)
	}
	{
		b := clone(base)
		le.PutUint32(b[0x3c:], 0)
		add("pe-lfanew-zero", expError, "e_lfanew = 0: the PE signature would overlap the MZ header", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		le.PutUint16(b[p.coff+16:], 0xffff)
		add("pe-optheader-size-max", expError, "SizeOfOptionalHeader = 0xffff: the section table starts past the end of the file", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		le.PutUint32(b[p.opt+16:], 0xffffffff)
		add("pe-entry-outside", expAnomaly, "AddressOfEntryPoint = 0xffffffff, outside every section", b)
	}
	{ // Exception directory entries that are nonsense.
		b := clone(base)
		p := parsePE(b)
		rva, size := p.dir(3)
		o := p.off(rva)
		for q := o; q+12 <= o+int(size); q += 12 {
			le.PutUint32(b[q:], 0xfffffff0)        // begin past everything
			le.PutUint32(b[q+4:], 0x10)            // end before begin
			le.PutUint32(b[q+8:], rva+uint32(q-o)) // unwind info is the entry itself
		}
		add("pe-pdata-garbage", expAnomaly, "exception directory entries with end before begin and unwind info pointing at themselves", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		rva, _ := p.dir(3)
		p.setDir(3, rva, 0xffffffff)
		add("pe-pdata-size-max", expAnomaly, "exception directory size 0xffffffff", b)
	}
	{ // High-entropy code section, as packers leave it.
		b := clone(base)
		p := parsePE(b)
		text := p.section(".text")
		r := rng(0x6b696e73686970)
		r.fill(b[text.rawOff : text.rawOff+text.rawSize])
		add("pe-packed-text", expAnomaly, ".text filled with pseudo-random bytes (8 bits/byte entropy), as a packer leaves it", b)
	}
	{
		b := clone(base)
		p := parsePE(b)
		ep := p.off(p.entry())
		copy(b[ep:], trickyCode)
		add("pe-jump-mid-insn", expAnomaly, "entry point code that jumps and calls into the middle of its own instructions", b)
	}
	{ // The same on 32-bit code.
		b := clone(read("pe32-O2/hello.exe"))
		p := parsePE(b)
		ep := p.off(p.entry())
		copy(b[ep:], trickyCode)
		add("pe32-jump-mid-insn", expAnomaly, "32-bit entry point code that jumps into the middle of its own instructions", b)
	}
}

// ---------------------------------------------------------------- ELF

type elf struct {
	b      []byte
	is64   bool
	shoff  int
	phoff  int
	shnum  int
	phnum  int
	shent  int
	phent  int
	shstrx int
}

type elfSec struct {
	idx             int
	hdr             int
	name            string
	typ             uint32
	addr, off, size uint64
}

func parseELF(b []byte) *elf {
	e := &elf{b: b, is64: b[4] == 2}
	if e.is64 {
		e.phoff, e.shoff = int(le.Uint64(b[0x20:])), int(le.Uint64(b[0x28:]))
		e.phent, e.phnum = int(le.Uint16(b[0x36:])), int(le.Uint16(b[0x38:]))
		e.shent, e.shnum, e.shstrx = int(le.Uint16(b[0x3a:])), int(le.Uint16(b[0x3c:])), int(le.Uint16(b[0x3e:]))
	} else {
		e.phoff, e.shoff = int(le.Uint32(b[0x1c:])), int(le.Uint32(b[0x20:]))
		e.phent, e.phnum = int(le.Uint16(b[0x2a:])), int(le.Uint16(b[0x2c:]))
		e.shent, e.shnum, e.shstrx = int(le.Uint16(b[0x2e:])), int(le.Uint16(b[0x30:])), int(le.Uint16(b[0x32:]))
	}
	return e
}

// pick returns the ELF64 or the ELF32 value of a field offset.
func (e *elf) pick(off64, off32 int) int {
	if e.is64 {
		return off64
	}
	return off32
}

// Header field offsets by class.
func (e *elf) fShnum() int    { return e.pick(0x3c, 0x30) }
func (e *elf) fPhnum() int    { return e.pick(0x38, 0x2c) }
func (e *elf) fShstrndx() int { return e.pick(0x3e, 0x32) }
func (e *elf) ehsize() int    { return e.pick(64, 52) }

func (e *elf) putWord(at int, v uint64) {
	if e.is64 {
		le.PutUint64(e.b[at:], v)
	} else {
		le.PutUint32(e.b[at:], uint32(v))
	}
}

func (e *elf) word(at int) uint64 {
	if e.is64 {
		return le.Uint64(e.b[at:])
	}
	return uint64(le.Uint32(e.b[at:]))
}

// Section header field offsets.
func (e *elf) shAddr() int   { return e.pick(16, 12) }
func (e *elf) shOffset() int { return e.pick(24, 16) }
func (e *elf) shSize() int   { return e.pick(32, 20) }
func (e *elf) shLink() int   { return e.pick(40, 24) }
func (e *elf) shEntsize() int {
	return e.pick(56, 36)
}

// Program header field offsets.
func (e *elf) phMemsz() int { return e.pick(40, 20) }

func (e *elf) sections() []elfSec {
	var out []elfSec
	strHdr := e.shoff + e.shstrx*e.shent
	strOff := int(e.word(strHdr + e.shOffset()))
	for i := 0; i < e.shnum; i++ {
		h := e.shoff + i*e.shent
		nameOff := int(le.Uint32(e.b[h:]))
		name := e.b[strOff+nameOff:]
		name = name[:bytes.IndexByte(name, 0)]
		out = append(out, elfSec{
			idx: i, hdr: h, name: string(name), typ: le.Uint32(e.b[h+4:]),
			addr: e.word(h + e.shAddr()), off: e.word(h + e.shOffset()), size: e.word(h + e.shSize()),
		})
	}
	return out
}

func (e *elf) section(name string) elfSec {
	s, ok := e.lookup(name)
	if !ok {
		fatal("no ELF section %s", name)
	}
	return s
}

func (e *elf) lookup(name string) (elfSec, bool) {
	for _, s := range e.sections() {
		if s.name == name {
			return s, true
		}
	}
	return elfSec{}, false
}

func (e *elf) entryOff() int {
	entry := e.word(0x18)
	for _, s := range e.sections() {
		if s.typ != 8 && entry >= s.addr && entry < s.addr+s.size && s.addr != 0 {
			return int(s.off + entry - s.addr)
		}
	}
	fatal("entry not in a section")
	return 0
}

func elfTruncations(tag, rel string) {
	b := read(rel)
	e := parseELF(b)
	cut := func(at int, what, expect string) {
		if at <= 0 || at >= len(b) {
			return
		}
		add(fmt.Sprintf("%s-trunc-%s", tag, what), expect,
			fmt.Sprintf("%s cut to %d bytes: %s", rel, at, strings.ReplaceAll(what, "-", " ")), clone(b[:at]))
	}
	// Without the whole ELF header nothing can be loaded; after it, the
	// program headers alone are enough to go on, and what is missing is
	// recorded.
	cut(4, "magic", expError)
	cut(16, "ident", expError)
	cut(e.ehsize()/2, "elf-header", expError)
	cut(e.ehsize()-1, "elf-header-end", expError)
	for k := 0; k <= e.phnum; k++ {
		cut(e.phoff+k*e.phent-min(k, 1)*(e.phent/2), fmt.Sprintf("phdr-%02d", k), expAnomaly)
	}
	for _, name := range []string{".dynsym", ".dynstr", ".rela.plt", ".rel.plt", ".text", ".eh_frame", ".dynamic"} {
		s, ok := e.lookup(name)
		if !ok {
			continue
		}
		cut(int(s.off+s.size/2), "section"+strings.ReplaceAll(name, ".", "-")+"-half", expAnomaly)
	}
	cut(e.shoff, "shdrs-missing", expAnomaly)
	cut(e.shoff+e.shent/2, "shdr-first", expAnomaly)
	cut(e.shoff+e.shent*(e.shnum/2), "shdrs-half", expAnomaly)
	cut(e.shoff+e.shent*e.shnum-1, "shdr-last", expAnomaly)
}

func elfVariants() {
	const hello = "elf64-O2/hello"
	base := read(hello)
	{
		b := clone(base)
		e := parseELF(b)
		le.PutUint16(b[e.fShnum():], 0xffff)
		add("elf-shnum-ffff", expAnomaly, "e_shnum = 0xffff: the section header table runs 4 MB past the end of the file", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		le.PutUint16(b[e.fPhnum():], 0xffff)
		add("elf-phnum-ffff", expAnomaly, "e_phnum = 0xffff: the program header table runs past the end of the file", b)
	}
	{ // Extended numbering: e_shnum 0 and the real count in section 0's
		// sh_size, here at its maximum.
		b := clone(base)
		e := parseELF(b)
		le.PutUint16(b[e.fShnum():], 0)
		e.putWord(e.shoff+e.shSize(), 0xffffffff)
		add("elf-shnum-extended-max", expAnomaly, "e_shnum = 0 with section 0's sh_size (the extended count) = 0xffffffff", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		le.PutUint16(b[e.fShstrndx():], 0xfffe)
		add("elf-shstrndx-bad", expAnomaly, "e_shstrndx = 0xfffe, no such section", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		le.PutUint16(b[e.fShstrndx():], 0xffff)
		le.PutUint32(b[e.shoff+e.shLink():], 0xffffffff)
		add("elf-shstrndx-extended-max", expAnomaly, "e_shstrndx = SHN_XINDEX with section 0's sh_link = 0xffffffff", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		s := e.section(".dynsym")
		e.putWord(s.hdr+e.shSize(), 0xffffffffff)
		add("elf-dynsym-size-max", expAnomaly, ".dynsym sh_size = 1 TB: symbol count far past the file", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		s := e.section(".dynsym")
		e.putWord(s.hdr+e.shEntsize(), 0)
		add("elf-dynsym-entsize-zero", expAnomaly, ".dynsym sh_entsize = 0", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		s := e.section(".dynsym")
		le.PutUint32(b[s.hdr+e.shLink():], uint32(s.idx))
		add("elf-dynsym-link-self", expAnomaly, ".dynsym's string table (sh_link) is .dynsym itself", b)
	}
	{ // The dynamic section's tables all point at the dynamic section.
		b := clone(base)
		e := parseELF(b)
		d := e.section(".dynamic")
		ent := 16
		if !e.is64 {
			ent = 8
		}
		for q := int(d.off); q+ent <= int(d.off+d.size); q += ent {
			tag := e.word(q)
			switch tag {
			case 5, 6, 7, 17, 23, 3: // STRTAB SYMTAB RELA REL JMPREL PLTGOT
				e.putWord(q+ent/2, d.addr)
			case 10, 2, 8: // STRSZ PLTRELSZ RELASZ
				e.putWord(q+ent/2, d.size)
			}
		}
		add("elf-dynamic-self", expAnomaly, "DT_STRTAB, DT_SYMTAB, DT_RELA, DT_JMPREL and DT_PLTGOT all point at .dynamic itself", b)
	}
	{ // No DT_NULL: the dynamic array runs off the end of its section.
		b := clone(base)
		e := parseELF(b)
		d := e.section(".dynamic")
		ent := 16
		if !e.is64 {
			ent = 8
		}
		for q := int(d.off); q+ent <= int(d.off+d.size); q += ent {
			if e.word(q) == 0 {
				e.putWord(q, 1) // DT_NEEDED
				e.putWord(q+ent/2, 0xfffffff0)
			}
		}
		add("elf-dynamic-noterm", expAnomaly, "dynamic array without DT_NULL, padded with DT_NEEDED entries naming offset 0xfffffff0", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		text := e.section(".text")
		for _, s := range e.sections()[1:] {
			if s.typ == 8 { // NOBITS
				continue
			}
			e.putWord(s.hdr+e.shOffset(), text.off)
		}
		add("elf-overlap-sections", expAnomaly, "every section's file offset is .text's: all sections overlap", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		for i, name := range []string{".text", ".rodata", ".eh_frame", ".dynsym"} {
			s := e.section(name)
			e.putWord(s.hdr+e.shOffset(), uint64(len(b))+uint64(i)*0x1000)
		}
		e.putWord(e.section(".dynstr").hdr+e.shSize(), 0x100000)
		add("elf-sections-beyond-eof", expAnomaly, ".text, .rodata, .eh_frame and .dynsym start past the end of the file; .dynstr runs 1 MB past it", b)
	}
	{ // Loadable segments of 4 GB.
		b := clone(base)
		e := parseELF(b)
		for k := 0; k < e.phnum; k++ {
			h := e.phoff + k*e.phent
			if le.Uint32(b[h:]) == 1 { // PT_LOAD
				e.putWord(h+e.phMemsz(), 0xffffffff)
			}
		}
		e.putWord(e.section(".bss").hdr+e.shSize(), 0xffffffff)
		e.putWord(e.section(".text").hdr+e.shSize(), 0xffffffff)
		add("elf-memsz-4g", expAnomaly, "every PT_LOAD p_memsz, .bss and .text sizes = 0xffffffff (4 GB)", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		e.putWord(e.pick(0x28, 0x20), 0xfffffffffff0)
		add("elf-shoff-beyond-eof", expAnomaly, "e_shoff points far past the end of the file", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		e.putWord(e.pick(0x20, 0x1c), 0xfffffffffff0)
		add("elf-phoff-beyond-eof", expAnomaly, "e_phoff points far past the end of the file", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		le.PutUint16(b[e.fShnum():], 0)
		e.putWord(e.pick(0x28, 0x20), 0)
		add("elf-no-sections", expAnomaly, "no section headers at all (e_shnum = 0, e_shoff = 0): only program headers remain", b)
	}
	{ // .eh_frame records that point back at themselves.
		b := clone(base)
		e := parseELF(b)
		s := e.section(".eh_frame")
		o := int(s.off)
		end := o + int(s.size)
		first := true
		for o+8 <= end {
			n := int(le.Uint32(b[o:]))
			if n == 0 || n == 0xffffffff {
				break
			}
			if !first {
				le.PutUint32(b[o+4:], 4) // CIE pointer: to this very record
			}
			first = false
			o += 4 + n
		}
		hdr := e.section(".eh_frame_hdr")
		le.PutUint32(b[hdr.off+8:], 0xffffffff) // fde_count
		add("elf-eh-frame-self", expAnomaly, ".eh_frame FDEs whose CIE pointer is the FDE itself; .eh_frame_hdr fde_count = 0xffffffff", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		r := rng(0x656c6670616b)
		for _, s := range e.sections() {
			if s.name == ".text" || s.name == ".init" || s.name == ".fini" || s.name == ".rodata" {
				r.fill(b[s.off : s.off+s.size])
			}
		}
		add("elf-packed-text", expAnomaly, ".init, .text, .fini and .rodata filled with pseudo-random bytes, as a packer leaves them", b)
	}
	{
		b := clone(base)
		e := parseELF(b)
		copy(b[e.entryOff():], trickyCode)
		add("elf-jump-mid-insn", expAnomaly, "entry point code that jumps and calls into the middle of its own instructions", b)
	}
	{
		b := clone(read("elf32-O2/hello"))
		e := parseELF(b)
		le.PutUint16(b[e.fShnum():], 0xffff)
		add("elf32-shnum-ffff", expAnomaly, "ELF32 with e_shnum = 0xffff", b)
	}
	{
		b := clone(read("elf32-O2/hello"))
		e := parseELF(b)
		copy(b[e.entryOff():], trickyCode)
		add("elf32-jump-mid-insn", expAnomaly, "32-bit entry point code that jumps into the middle of its own instructions", b)
	}
}

func tiny() {
	add("empty", expError, "a file of 0 bytes", nil)
	add("mz-only", expError, "the two bytes MZ", []byte("MZ"))
	add("elf-magic-only", expError, "the four bytes \\x7fELF", []byte("\x7fELF"))
	add("zeros-4k", expError, "4096 zero bytes: no known format", make([]byte, 4096))
}

func main() {
	if _, err := os.Stat(binDir); err != nil {
		fatal("%v: run from the module root", err)
	}
	tiny()
	peTruncations("pe64", "pe64-O2/hello.exe")
	peTruncations("pe32", "pe32-O2/hello.exe")
	peTruncations("dll64", "pe64-O2/shapes.dll")
	peVariants()
	elfTruncations("elf64", "elf64-O2/hello")
	elfTruncations("elf32", "elf32-O2/hello")
	elfVariants()

	// Drop truncations that repeat another's bytes (a cut point shared by
	// two boundaries), keeping the first name.
	seen := map[string]string{}
	var kept []entry
	total := 0
	for _, e := range out {
		if _, dup := seen[string(e.data)]; dup && strings.Contains(e.name, "-trunc-") {
			continue
		}
		seen[string(e.data)] = e.name
		kept = append(kept, e)
		total += len(e.data)
	}
	if total > maxSize {
		fatal("suite is %d bytes, more than %d", total, maxSize)
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].name < kept[j].name })

	// Remove files an earlier run wrote, so renamed variants do not linger.
	old, _ := filepath.Glob(filepath.Join(outDir, "*.bin"))
	for _, f := range old {
		os.Remove(f)
	}
	var m bytes.Buffer
	m.WriteString("# file\ttests\texpected: error (refused, the error names the file and an offset), anomaly (stored, oddity recorded), " +
		"limit (ends within the per-file limits: stored with decoding stopped, or timed out)\n")
	for _, e := range kept {
		name := e.name + ".bin"
		// 0644: a sample is never written with an execute bit.
		if err := os.WriteFile(filepath.Join(outDir, name), e.data, 0o644); err != nil {
			fatal("%v", err)
		}
		fmt.Fprintf(&m, "%s\t%s\t%s\n", name, e.tests, e.expect)
	}
	if err := os.WriteFile(filepath.Join(outDir, "MANIFEST.tsv"), m.Bytes(), 0o644); err != nil {
		fatal("%v", err)
	}
	fmt.Printf("wrote %d files, %d bytes, and MANIFEST.tsv\n", len(kept), total)
}
