package binfmt

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kinship-dev/kinship/internal/model"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestMain(m *testing.M) {
	catchPanics = false // a panic in a test is a bug to see, not to hide
	os.Exit(m.Run())
}

// fixture describes what one binary built by testdata/build.sh must show.
type fixture struct {
	name    string
	format  model.Format
	arch    model.Arch
	bits    int
	imports []string // names that must be imported
	called  []string // imports that code must reach through an import address
	exports []string // "name@ordinal" or "name" (ELF), "#ordinal" for unnamed
	fwd     map[string]string
	symbols bool // a symbol table is expected
	pdata   bool
	ehframe bool
	delayed []string
}

var fixtures = []fixture{
	{name: "elf64-pie", format: model.FormatELF, arch: model.ArchAMD64, bits: 64,
		imports: []string{"getenv", "strdup", "free", "printf", "__cxa_finalize"},
		called:  []string{"getenv", "strdup", "free", "printf"}, symbols: true, ehframe: true},
	{name: "elf64-nopie-now", format: model.FormatELF, arch: model.ArchAMD64, bits: 64,
		imports: []string{"getenv", "strdup", "free", "printf"},
		called:  []string{"getenv", "strdup", "printf"}, ehframe: true},
	{name: "elf64-ibt", format: model.FormatELF, arch: model.ArchAMD64, bits: 64,
		imports: []string{"getenv", "strdup", "free", "printf"},
		called:  []string{"getenv", "strdup", "free", "printf"}, ehframe: true},
	{name: "elf64-noshdr", format: model.FormatELF, arch: model.ArchAMD64, bits: 64,
		imports: []string{"getenv", "strdup", "free", "printf"},
		called:  []string{"getenv", "strdup", "free", "printf"}, ehframe: true},
	{name: "elf64-lib.so", format: model.FormatELF, arch: model.ArchAMD64, bits: 64,
		imports: []string{"__cxa_finalize"},
		exports: []string{"kin_add", "kin_mul", "kin_secret"}, ehframe: true},
	{name: "elf32-pie", format: model.FormatELF, arch: model.Arch386, bits: 32,
		imports: []string{"getenv", "strdup", "free", "printf"},
		called:  []string{"getenv", "strdup", "free", "printf"}, symbols: true, ehframe: true},
	{name: "elf32-nopie", format: model.FormatELF, arch: model.Arch386, bits: 32,
		imports: []string{"getenv", "strdup", "free", "printf"},
		called:  []string{"getenv", "strdup", "printf"}, ehframe: true},
	{name: "kinlib64.dll", format: model.FormatPE, arch: model.ArchAMD64, bits: 64,
		imports: []string{"Sleep", "calloc"},
		exports: []string{"kin_add@1", "kin_mul@2", "kin_version@3", "#7", "kin_sleep@9"},
		fwd:     map[string]string{"kin_sleep": "kernel32.Sleep"}, symbols: true, pdata: true},
	{name: "kinlib32.dll", format: model.FormatPE, arch: model.Arch386, bits: 32,
		imports: []string{"Sleep", "calloc"},
		exports: []string{"kin_add@1", "kin_mul@2", "kin_version@3", "#7", "kin_sleep@9"},
		fwd:     map[string]string{"kin_sleep": "kernel32.Sleep"}, symbols: true},
	{name: "pe64.exe", format: model.FormatPE, arch: model.ArchAMD64, bits: 64,
		imports: []string{"GetTickCount", "getenv", "kin_add", "#7", "#9", "#111"},
		called:  []string{"GetTickCount", "getenv", "kin_add", "#7"},
		delayed: []string{"MessageBeep"}, symbols: true, pdata: true},
	{name: "pe64-stripped.exe", format: model.FormatPE, arch: model.ArchAMD64, bits: 64,
		imports: []string{"GetTickCount", "getenv", "kin_add", "#7", "#9", "#111"},
		called:  []string{"GetTickCount", "getenv", "kin_add", "#7"},
		delayed: []string{"MessageBeep"}, pdata: true},
	{name: "pe32.exe", format: model.FormatPE, arch: model.Arch386, bits: 32,
		imports: []string{"GetTickCount", "getenv", "kin_add", "#7", "#9", "#111"},
		called:  []string{"GetTickCount", "getenv", "kin_add", "#7"},
		delayed: []string{"MessageBeep"}, symbols: true},
	{name: "pe32-stripped.exe", format: model.FormatPE, arch: model.Arch386, bits: 32,
		imports: []string{"GetTickCount", "getenv", "kin_add", "#7", "#9", "#111"},
		called:  []string{"GetTickCount", "getenv", "kin_add", "#7"},
		delayed: []string{"MessageBeep"}},
}

// expectations reads testdata/expect.txt: "fixture key value" lines that
// build.sh took from binutils and pefile.
func expectations(t testing.TB) map[string]string {
	t.Helper()
	fh, err := os.Open("testdata/expect.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	m := make(map[string]string)
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 3 && !strings.HasPrefix(fs[0], "#") {
			m[fs[0]+" "+fs[1]] = fs[2]
		}
	}
	return m
}

func loadFixture(t testing.TB, name string) (*loader, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	l, err := load(bytes.NewReader(data), int64(len(data)), Limits{}, nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return l, data
}

func TestFixtures(t *testing.T) {
	want := expectations(t)
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			l, _ := loadFixture(t, fx.name)
			f := l.f
			if f.Format != fx.format || f.Arch != fx.arch || f.Bits != fx.bits {
				t.Errorf("got %s/%s/%d, want %s/%s/%d", f.Format, f.Arch, f.Bits, fx.format, fx.arch, fx.bits)
			}
			if f.Unsupported != "" {
				t.Errorf("unsupported: %s", f.Unsupported)
			}
			if f.CodeBytes() == 0 {
				t.Error("no code")
			}
			if !strings.HasSuffix(fx.name, ".so") && !strings.HasSuffix(fx.name, ".dll") {
				if !f.IsExec(f.Entry) {
					t.Errorf("entry 0x%x not in code", f.Entry)
				}
			}
			checkSections(t, f)

			names := map[string]*Import{}
			for i := range f.Imports {
				imp := &f.Imports[i]
				names[imp.Name] = imp
				if len(imp.Addrs) == 0 {
					t.Errorf("import %s has no address", imp.Name)
				}
			}
			for _, n := range fx.imports {
				if imp := names[n]; imp == nil || imp.Delayed {
					t.Errorf("import %s missing", n)
				}
			}
			for _, n := range fx.delayed {
				if imp := names[n]; imp == nil || !imp.Delayed {
					t.Errorf("delay-load import %s missing", n)
				}
			}
			reached := importsCalled(f)
			for _, n := range fx.called {
				if !reached[n] {
					t.Errorf("no call reaches import %s through its addresses (reached: %v)", n, keys(reached))
				}
			}

			if fx.exports != nil {
				var got []string
				for _, e := range f.Exports {
					s := e.Name
					switch {
					case e.Name == "":
						s = fmt.Sprintf("#%d", e.Ordinal)
					case f.Format == model.FormatPE:
						s = fmt.Sprintf("%s@%d", e.Name, e.Ordinal)
					}
					got = append(got, s)
					if fw, ok := fx.fwd[e.Name]; ok {
						if e.Forwarder != fw || e.Addr != 0 {
							t.Errorf("export %s: forwarder %q addr 0x%x, want %q", e.Name, e.Forwarder, e.Addr, fw)
						}
					} else if e.Forwarder != "" || f.SectionAt(e.Addr) == nil {
						t.Errorf("export %s: forwarder %q addr 0x%x", e.Name, e.Forwarder, e.Addr)
					}
				}
				sort.Strings(got)
				w := append([]string(nil), fx.exports...)
				sort.Strings(w)
				if strings.Join(got, " ") != strings.Join(w, " ") {
					t.Errorf("exports %v, want %v", got, w)
				}
			}

			count := map[HintSource]int{}
			for i, h := range f.Hints {
				count[h.Source]++
				if !f.IsExec(h.Addr) {
					t.Errorf("hint 0x%x outside code", h.Addr)
				}
				if i > 0 && f.Hints[i-1].Addr >= h.Addr {
					t.Errorf("hints not sorted and unique at 0x%x", h.Addr)
				}
				if h.End != 0 && h.End <= h.Addr {
					t.Errorf("hint 0x%x ends at 0x%x", h.Addr, h.End)
				}
			}
			if fx.symbols != (len(f.Symbols) > 0) {
				t.Errorf("%d symbols, want some: %v", len(f.Symbols), fx.symbols)
			}
			for _, s := range f.Symbols {
				if s.Name == "main" && !f.IsExec(s.Addr) {
					t.Errorf("main at 0x%x not in code", s.Addr)
				}
			}

			if fx.pdata {
				n, err := strconv.Atoi(want[fx.name+" pdata"])
				if err != nil {
					t.Fatalf("no pdata expectation: %v", err)
				}
				if l.pdataEntries != n {
					t.Errorf("%d exception entries, objdump says %d", l.pdataEntries, n)
				}
			}
			if fx.ehframe {
				n, err := strconv.Atoi(want[fx.name+" fde"])
				if err != nil {
					t.Fatalf("no fde expectation: %v", err)
				}
				if l.fdes != n {
					t.Errorf("%d FDEs, readelf says %d", l.fdes, n)
				}
			}
			if f.Format == model.FormatPE {
				if got, w := Imphash(f), want[fx.name+" imphash"]; got != w {
					t.Errorf("imphash %s, pefile says %s", got, w)
				}
			} else if Imphash(f) != "" {
				t.Error("imphash of an ELF file")
			}
			checkGolden(t, fx.name, summary(f))
		})
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func checkSections(t *testing.T, f *File) {
	t.Helper()
	for _, s := range f.Sections {
		if uint64(len(s.Data)) > s.VSize {
			t.Errorf("section %s: %d bytes of data, size 0x%x", s.Name, len(s.Data), s.VSize)
		}
	}
}

// importsCalled finds the imports that code reaches through one of their
// addresses: call rel32 to a PLT stub, and call/jmp through a slot (rip-
// relative on x86-64, absolute on i386). Scanning bytes can misread, but a
// misread that lands exactly on an import address is unlikely.
func importsCalled(f *File) map[string]bool {
	out := map[string]bool{}
	for _, s := range f.Sections {
		if !s.Exec {
			continue
		}
		d := s.Data
		for i := 0; i+6 <= len(d); i++ {
			var targets []uint64
			switch {
			case d[i] == 0xe8 || d[i] == 0xe9:
				targets = append(targets, s.Addr+uint64(i)+5+uint64(int64(int32(binary.LittleEndian.Uint32(d[i+1:])))))
			case d[i] == 0xff && (d[i+1] == 0x15 || d[i+1] == 0x25):
				v := binary.LittleEndian.Uint32(d[i+2:])
				if f.Bits == 64 {
					targets = append(targets, s.Addr+uint64(i)+6+uint64(int64(int32(v))))
				} else {
					targets = append(targets, uint64(v))
				}
			}
			for _, a := range targets {
				if imp := f.ImportAt(a); imp != nil {
					out[imp.Name] = true
				}
			}
		}
	}
	return out
}

// summary is the golden text form of a loaded file.
func summary(f *File) string {
	var b strings.Builder
	fmt.Fprintf(&b, "format %s arch %s bits %d\n", f.Format, f.Arch, f.Bits)
	fmt.Fprintf(&b, "imagebase 0x%x entry 0x%x code 0x%x\n", f.ImageBase, f.Entry, f.CodeBytes())
	if f.Unsupported != "" {
		fmt.Fprintf(&b, "unsupported %q\n", f.Unsupported)
	}
	if h := Imphash(f); h != "" {
		fmt.Fprintf(&b, "imphash %s\n", h)
	}
	fmt.Fprintf(&b, "sections %d\n", len(f.Sections))
	for _, s := range f.Sections {
		flags := ""
		if s.Exec {
			flags += " exec"
		}
		if s.Writable {
			flags += " write"
		}
		fmt.Fprintf(&b, "  %-20q addr 0x%x vsize 0x%x off 0x%x data 0x%x%s\n", s.Name, s.Addr, s.VSize, s.Offset, len(s.Data), flags)
	}
	fmt.Fprintf(&b, "imports %d\n", len(f.Imports))
	for _, imp := range f.Imports {
		d := ""
		if imp.Delayed {
			d = " delayed"
		}
		fmt.Fprintf(&b, "  %s!%s%s", imp.Library, imp.Name, d)
		for _, a := range imp.Addrs {
			fmt.Fprintf(&b, " 0x%x", a)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "exports %d\n", len(f.Exports))
	for _, e := range f.Exports {
		fmt.Fprintf(&b, "  %q ord %d addr 0x%x", e.Name, e.Ordinal, e.Addr)
		if e.Forwarder != "" {
			fmt.Fprintf(&b, " -> %s", e.Forwarder)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "symbols %d\n", len(f.Symbols))
	for _, s := range f.Symbols {
		fmt.Fprintf(&b, "  0x%x %d %s\n", s.Addr, s.Size, s.Name)
	}
	fmt.Fprintf(&b, "hints %d\n", len(f.Hints))
	for _, h := range f.Hints {
		fmt.Fprintf(&b, "  0x%x-0x%x %s %s\n", h.Addr, h.End, h.Source, h.Name)
	}
	fmt.Fprintf(&b, "anomalies %d\n", len(f.Anomalies))
	for _, a := range f.Anomalies {
		fmt.Fprintf(&b, "  %s\n", a)
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if got != string(want) {
		t.Errorf("summary differs from %s (go test -update rewrites it):\n%s", path, diffLines(string(want), got))
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, a, c)
			if b.Len() > 2000 {
				break
			}
		}
	}
	return b.String()
}

// Every prefix of a fixture ending at or near a structure boundary must
// load or fail cleanly.
func TestTruncated(t *testing.T) {
	for _, fx := range fixtures {
		l, data := loadFixture(t, fx.name)
		cuts := map[int]bool{}
		for i := 0; i <= 1024 && i <= len(data); i++ {
			cuts[i] = true
		}
		for i := 0; i < len(data); i += 61 {
			cuts[i] = true
		}
		for _, s := range l.f.Sections {
			for _, o := range []int{int(s.Offset), int(s.Offset) + len(s.Data)} {
				for d := -2; d <= 2; d++ {
					cuts[o+d] = true
				}
			}
		}
		n := 0
		for c := range cuts {
			if c < 0 || c > len(data) {
				continue
			}
			n++
			f, err := Load(bytes.NewReader(data[:c]), int64(c), Limits{})
			if (f == nil) == (err == nil) {
				t.Fatalf("%s[:%d]: file %v, error %v", fx.name, c, f != nil, err)
			}
			if f != nil {
				for _, h := range f.Hints {
					if !f.IsExec(h.Addr) {
						t.Fatalf("%s[:%d]: hint 0x%x outside code", fx.name, c, h.Addr)
					}
				}
			}
		}
		if n < 1000 {
			t.Errorf("%s: only %d cuts", fx.name, n)
		}
	}
}

// Fixtures with bytes overwritten in their headers and tables must load or
// fail cleanly. It is a fixed sample of what FuzzLoad explores.
func TestMutated(t *testing.T) {
	seed := uint64(1)
	next := func() uint64 { // xorshift: reproducible without math/rand
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		return seed
	}
	values := []uint32{0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff}
	for _, fx := range fixtures {
		_, data := loadFixture(t, fx.name)
		for i := 0; i < 300; i++ {
			m := append([]byte(nil), data...)
			for k := 0; k < 1+int(next()%4); k++ {
				span := len(m)
				if next()%2 == 0 {
					span = min(span, 1024) // headers
				}
				off := int(next() % uint64(span-4))
				binary.LittleEndian.PutUint32(m[off:], values[next()%uint64(len(values))])
			}
			f, err := Load(bytes.NewReader(m), int64(len(m)), Limits{})
			if (f == nil) == (err == nil) {
				t.Fatalf("%s mutation %d: file %v, error %v", fx.name, i, f != nil, err)
			}
		}
	}
}

func TestFormats(t *testing.T) {
	_, pe := loadFixture(t, "pe32.exe")
	_, elf := loadFixture(t, "elf64-pie")
	lfanew := int(binary.LittleEndian.Uint32(pe[0x3c:]))

	withMachine := func(machine uint16) []byte {
		m := append([]byte(nil), pe...)
		binary.LittleEndian.PutUint16(m[lfanew+4:], machine)
		return m
	}
	withEM := func(em uint16) []byte {
		m := append([]byte(nil), elf...)
		binary.LittleEndian.PutUint16(m[18:], em)
		return m
	}
	macho := func(magic uint32, cpu uint32) []byte {
		m := make([]byte, 64)
		binary.LittleEndian.PutUint32(m, magic)
		binary.LittleEndian.PutUint32(m[4:], cpu)
		return m
	}
	mz := append([]byte("MZ"), make([]byte, 126)...)
	binary.LittleEndian.PutUint32(mz[0x3c:], 0x40)

	cases := []struct {
		name        string
		data        []byte
		format      model.Format
		arch        model.Arch
		unsupported string
		err         string
	}{
		{"pe arm64", withMachine(0xaa64), model.FormatPE, model.ArchARM64, "architecture arm64: code analysis not supported", ""},
		{"pe armnt", withMachine(0x1c4), model.FormatPE, model.ArchARM, "architecture arm: code analysis not supported", ""},
		{"pe other", withMachine(0x5064), model.FormatPE, model.ArchUnknown, "architecture machine 0x5064: code analysis not supported", ""},
		{"elf arm", withEM(40), model.FormatELF, model.ArchARM, "architecture arm: code analysis not supported", ""},
		{"elf arm64", withEM(183), model.FormatELF, model.ArchARM64, "architecture arm64: code analysis not supported", ""},
		{"elf mips", withEM(8), model.FormatELF, model.ArchUnknown, "architecture EM_MIPS: code analysis not supported", ""},
		{"macho 64", macho(0xfeedfacf, 0x01000007), model.FormatMachO, model.ArchAMD64, "Mach-O code analysis is not supported", ""},
		{"macho 32", macho(0xfeedface, 7), model.FormatMachO, model.Arch386, "Mach-O code analysis is not supported", ""},
		{"macho be", []byte{0xfe, 0xed, 0xfa, 0xce, 0, 0, 0, 18, 0, 0, 0, 0}, model.FormatMachO, model.ArchUnknown, "Mach-O code analysis is not supported", ""},
		{"macho fat", []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2, 0, 0, 0, 0}, model.FormatMachO, model.ArchUnknown, "Mach-O code analysis is not supported", ""},
		{"java class", []byte{0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52, 0, 0, 0, 0}, "", "", "", "unrecognised file format"},
		{"dos", mz, "", "", "", "unrecognised file format"},
		{"text", []byte("#!/bin/sh\necho hi\n"), "", "", "", "unrecognised file format"},
		{"empty", nil, "", "", "", "unrecognised file format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := Load(bytes.NewReader(c.data), int64(len(c.data)), Limits{})
			if c.err != "" {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Msg != c.err || fe.Off != 0 {
					t.Fatalf("error %v, want FormatError at 0: %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Format != c.format || f.Arch != c.arch || f.Unsupported != c.unsupported {
				t.Errorf("got %s %s %q", f.Format, f.Arch, f.Unsupported)
			}
		})
	}
}

// A CLR header with COMIMAGE_FLAGS_ILONLY makes the file unsupported, with
// sections and imports still read.
func TestDotNetILOnly(t *testing.T) {
	l, pe := loadFixture(t, "pe32.exe")
	m := append([]byte(nil), pe...)
	lfanew := int(binary.LittleEndian.Uint32(m[0x3c:]))
	dirs := lfanew + 24 + 96
	// Put a COR20 header over the start of .rdata.
	var rdata *Section
	for i := range l.f.Sections {
		if l.f.Sections[i].Name == ".rdata" {
			rdata = &l.f.Sections[i]
		}
	}
	if rdata == nil {
		t.Fatal("no .rdata")
	}
	rva := uint32(rdata.Addr - l.f.ImageBase)
	binary.LittleEndian.PutUint32(m[dirs+14*8:], rva)
	binary.LittleEndian.PutUint32(m[dirs+14*8+4:], 72)
	cor := m[rdata.Offset:]
	binary.LittleEndian.PutUint32(cor, 72)
	binary.LittleEndian.PutUint32(cor[16:], 1)

	f, err := Load(bytes.NewReader(m), int64(len(m)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Unsupported != ".NET IL-only assembly: code analysis not supported" {
		t.Errorf("unsupported %q", f.Unsupported)
	}
	if len(f.Sections) != len(l.f.Sections) || len(f.Imports) != len(l.f.Imports) {
		t.Errorf("sections %d imports %d, want %d and %d", len(f.Sections), len(f.Imports), len(l.f.Sections), len(l.f.Imports))
	}

	binary.LittleEndian.PutUint32(cor[16:], 2) // 32BITREQUIRED only: mixed-mode code
	f, err = Load(bytes.NewReader(m), int64(len(m)), Limits{})
	if err != nil || f.Unsupported != "" {
		t.Errorf("mixed-mode assembly: %v %q", err, f.Unsupported)
	}
}

func TestLimits(t *testing.T) {
	_, pe := loadFixture(t, "pe64.exe")
	f, err := Load(bytes.NewReader(pe), int64(len(pe)), Limits{MaxImports: 5, MaxFuncHints: 10, MaxSymbols: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Imports) != 5 || len(f.Hints) > 10 || len(f.Symbols) > 3 {
		t.Errorf("imports %d hints %d symbols %d beyond limits", len(f.Imports), len(f.Hints), len(f.Symbols))
	}
	if !containsPrefix(f.Anomalies, "more than 5 imports") || !containsPrefix(f.Anomalies, "more than 10 function hints") {
		t.Errorf("limits not recorded: %q", f.Anomalies)
	}

	f, err = Load(bytes.NewReader(pe), int64(len(pe)), Limits{MaxFileSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if !containsPrefix(f.Anomalies, fmt.Sprintf("file is %d bytes; only the first 4096", len(pe))) {
		t.Errorf("size limit not recorded: %q", f.Anomalies)
	}
	for _, s := range f.Sections {
		if len(s.Data) > 0 && s.Offset+uint64(len(s.Data)) > 4096 {
			t.Errorf("section %s read beyond the size limit", s.Name)
		}
	}
}

func containsPrefix(list []string, p string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func TestLoadFile(t *testing.T) {
	f, err := LoadFile("testdata/elf64-pie", Limits{})
	if err != nil || f.Format != model.FormatELF {
		t.Fatalf("%v %v", f, err)
	}
	_, err = LoadFile("testdata/expect.txt", Limits{})
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "testdata/expect.txt: ") {
		t.Errorf("error %v does not wrap a FormatError with the path", err)
	}
	if _, err := LoadFile("testdata/missing", Limits{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestImphashOrdinals(t *testing.T) {
	f := &File{Format: model.FormatPE, Imports: []Import{
		{Library: "WS2_32.dll", Name: "#9"},
		{Library: "wsock32.DLL", Name: "#1000"},
		{Library: "oleaut32.dll", Name: "#2"},
		{Library: "kinlib.dll", Name: "#7"},
		{Library: "kernel32.dll", Name: "Sleep"},
		{Library: "kernel32.dll", Name: "bad name"}, // pefile drops invalid names
		{Library: "user32.dll", Name: "MessageBeep", Delayed: true},
		{Library: "driver.sys", Name: "X"},
		{Library: "noext", Name: "Y"},
	}}
	joined := "ws2_32.htons,wsock32.ord1000,oleaut32.sysallocstring,kinlib.ord7,kernel32.sleep,driver.x,noext.y"
	if got, want := Imphash(f), md5hex(joined); got != want {
		t.Errorf("imphash %s, want md5(%q) = %s", got, joined, want)
	}
	if Imphash(&File{Format: model.FormatPE}) != "" {
		t.Error("imphash without imports")
	}
}

// Oddities that do not stop analysis become anomalies.
func TestAnomalies(t *testing.T) {
	_, pe := loadFixture(t, "pe64.exe")
	_, elf := loadFixture(t, "elf64-pie")
	lfanew := int(binary.LittleEndian.Uint32(pe[0x3c:]))
	peDirs := lfanew + 24 + 112
	pl, _ := loadFixture(t, "pe64.exe")
	fileOff := func(va uint64) int { // file offset of a virtual address
		for _, s := range pl.f.Sections {
			if va >= s.Addr && va-s.Addr < uint64(len(s.Data)) {
				return int(s.Offset + va - s.Addr)
			}
		}
		t.Fatalf("0x%x not in file", va)
		return 0
	}
	base := pl.f.ImageBase
	var rdataOff uint64
	for _, s := range pl.f.Sections {
		if s.Name == ".rdata" {
			rdataOff = s.Offset
		}
	}

	cases := []struct {
		name string
		data func() []byte
		want string
	}{
		{"section beyond end", func() []byte { return pe[:rdataOff+16] }, `section ".rdata" extends beyond end of file`},
		{"import name outside image", func() []byte {
			m := append([]byte(nil), pe...)
			desc := fileOff(base + uint64(binary.LittleEndian.Uint32(m[peDirs+8:])))
			ilt := fileOff(base + uint64(binary.LittleEndian.Uint32(m[desc:])))
			binary.LittleEndian.PutUint64(m[ilt:], 0x7ffffff0)
			return m
		}, "import name RVA 0x7ffffff0 outside image"},
		{"absurd section count", func() []byte {
			m := append([]byte(nil), elf...)
			binary.LittleEndian.PutUint16(m[60:], 0xfff0)
			return m
		}, "65520 section headers; section headers ignored"},
		{"section table beyond end", func() []byte {
			m := append([]byte(nil), elf...)
			binary.LittleEndian.PutUint64(m[40:], 1<<40)
			return m
		}, "section header table beyond end of file; section headers ignored"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := c.data()
			f, err := Load(bytes.NewReader(d), int64(len(d)), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !containsPrefix(f.Anomalies, c.want) {
				t.Errorf("anomalies %q, want %q", f.Anomalies, c.want)
			}
			if f.CodeBytes() == 0 {
				t.Error("no code left to analyse")
			}
		})
	}
}

// Names from the file reach messages quoted, with control bytes and
// terminal escape sequences escaped: a sample must not be able to clear
// the analyst's screen or forge log lines.
func TestNamesEscapedInMessages(t *testing.T) {
	hostile := "\x1b[2J\x00\x1b]0;pwned\x07\r\nfake line\u202e"
	if got, want := quote(hostile), `"\x1b[2J\x00\x1b]0;pwned\a\r\nfake line\u202e"`; got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
	long := strings.Repeat("é", 40) // 80 bytes
	if got := quote(long); !strings.HasSuffix(got, `"…`) || len(got) > maxQuoted+8 || !utf8.ValidString(got) {
		t.Errorf("quote of 80 bytes = %s", got)
	}

	// A section name holding ESC[2J, BEL and a NUL, in a file cut inside
	// that section so that an anomaly names it.
	_, pe := loadFixture(t, "pe64.exe")
	lfanew := int(binary.LittleEndian.Uint32(pe[0x3c:]))
	optSize := int(binary.LittleEndian.Uint16(pe[lfanew+20:]))
	secTab := lfanew + 24 + optSize
	m := append([]byte(nil), pe...)
	hdr := secTab + 40 // the second section
	copy(m[hdr:hdr+8], "\x1b[2J\x07\x00x\x1b")
	raw := binary.LittleEndian.Uint32(m[hdr+20:])
	m = m[:raw+16]
	f, err := Load(bytes.NewReader(m), int64(len(m)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Sections[1].Name != "\x1b[2J\x07" {
		t.Errorf("stored name %q: names must be kept as the file has them", f.Sections[1].Name)
	}
	want := `section "\x1b[2J\a" extends beyond end of file`
	if !slices.Contains(f.Anomalies, want) {
		t.Errorf("anomalies %q lack %q", f.Anomalies, want)
	}
	l := &loader{f: &File{}}
	l.anomaly("unquoted %s by mistake", hostile)
	e := &FormatError{Off: 1, Msg: "bad name " + hostile}
	for _, msg := range append(f.Anomalies, l.f.Anomalies[0], e.Error()) {
		for _, r := range msg {
			if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x202e {
				t.Errorf("control character %U in %q", r, msg)
			}
		}
	}
}

// Structural failures carry the offset where they were found.
func TestFormatErrors(t *testing.T) {
	_, pe := loadFixture(t, "pe64.exe")
	_, elf := loadFixture(t, "elf64-pie")
	lfanew := int(binary.LittleEndian.Uint32(pe[0x3c:]))
	cases := []struct {
		name string
		data []byte
		off  int64
		msg  string
	}{
		{"coff header cut", pe[:lfanew+10], int64(lfanew + 4), "truncated COFF file header"},
		{"optional magic", func() []byte {
			m := append([]byte(nil), pe...)
			binary.LittleEndian.PutUint16(m[lfanew+24:], 0x999)
			return m
		}(), int64(lfanew + 24), "unknown optional header magic 0x999"},
		{"elf class", func() []byte {
			m := append([]byte(nil), elf...)
			m[4] = 9
			return m
		}(), 4, "bad ELF class 9"},
		{"elf header cut", elf[:40], 40, "truncated ELF header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(bytes.NewReader(c.data), int64(len(c.data)), Limits{})
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Off != c.off || fe.Msg != c.msg {
				t.Errorf("error %v, want offset 0x%x: %s", err, c.off, c.msg)
			}
		})
	}
}
