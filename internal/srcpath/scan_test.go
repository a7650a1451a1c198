package srcpath

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/model"
)

// image lays out a synthetic executable: code at text, strings and
// records at rdata.
type image struct {
	bits       int
	base, text uint64
	rdata      uint64
	code, data []byte
	hints      []binfmt.FuncHint
}

func newImage(bits int) *image {
	if bits == 32 {
		return &image{bits: 32, base: 0x400000, text: 0x401000, rdata: 0x404000}
	}
	return &image{bits: 64, base: 0x140000000, text: 0x140001000, rdata: 0x140004000}
}

// str places s in .rdata and returns its address.
func (im *image) str(s string) uint64 {
	a := im.rdata + uint64(len(im.data))
	im.data = append(im.data, s...)
	return a
}

// location places a Rust panic Location for path (placed first) and
// returns its address.
func (im *image) location(path string, line, col uint32) uint64 {
	p := im.str(path)
	return im.record(p, uint64(len(path)), line, col)
}

// record places {ptr, len, line, col}, aligned, and returns its address.
func (im *image) record(ptr, n uint64, line, col uint32) uint64 {
	size := im.bits / 8
	for len(im.data)%size != 0 {
		im.data = append(im.data, 0)
	}
	a := im.rdata + uint64(len(im.data))
	if size == 8 {
		im.data = binary.LittleEndian.AppendUint64(im.data, ptr)
		im.data = binary.LittleEndian.AppendUint64(im.data, n)
	} else {
		im.data = binary.LittleEndian.AppendUint32(im.data, uint32(ptr))
		im.data = binary.LittleEndian.AppendUint32(im.data, uint32(n))
	}
	im.data = binary.LittleEndian.AppendUint32(im.data, line)
	im.data = binary.LittleEndian.AppendUint32(im.data, col)
	return a
}

// fn assembles a function that takes the given data addresses and
// returns; each function is a hinted start. 64-bit: lea rcx, [rip+x];
// 32-bit: push x; pop eax.
func (im *image) fn(targets ...uint64) uint64 {
	start := im.text + uint64(len(im.code))
	for _, t := range targets {
		if im.bits == 64 {
			next := im.text + uint64(len(im.code)) + 7
			im.code = append(im.code, 0x48, 0x8d, 0x0d)
			im.code = binary.LittleEndian.AppendUint32(im.code, uint32(t-next))
		} else {
			im.code = append(im.code, 0x68)
			im.code = binary.LittleEndian.AppendUint32(im.code, uint32(t))
			im.code = append(im.code, 0x58)
		}
	}
	im.code = append(im.code, 0xc3, 0xcc, 0xcc, 0xcc)
	im.hints = append(im.hints, binfmt.FuncHint{Addr: start, Source: binfmt.HintPdata})
	return start
}

func (im *image) file() *binfmt.File {
	f := &binfmt.File{
		Format: model.FormatPE, Arch: model.ArchAMD64, Bits: im.bits, ImageBase: im.base,
		Sections: []binfmt.Section{
			{Name: ".text", Addr: im.text, VSize: uint64(len(im.code)), Exec: true, Data: im.code},
			{Name: ".rdata", Addr: im.rdata, VSize: uint64(len(im.data)), Data: im.data},
		},
		Hints: im.hints,
	}
	if im.bits == 32 {
		f.Arch = model.Arch386
	}
	return f
}

// analyse runs discovery with data references and the scan.
func analyse(t *testing.T, f *binfmt.File) (*disasm.Result, *Result) {
	t.Helper()
	d, err := disasm.Analyze(f, disasm.Options{DataRefs: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.DataRefs) != len(d.Funcs) {
		t.Fatalf("%d data ref lists for %d functions", len(d.DataRefs), len(d.Funcs))
	}
	return d, Scan(f, d.DataRefs)
}

func originAt(t *testing.T, d *disasm.Result, r *Result, addr uint64) (model.Origin, string) {
	t.Helper()
	i := slices.IndexFunc(d.Funcs, func(f model.Function) bool { return f.Addr == addr })
	if i < 0 {
		t.Fatalf("no function at %#x", addr)
	}
	return r.Origins[i], r.Crates[i]
}

func TestScan(t *testing.T) {
	for _, bits := range []int{64, 32} {
		im := newImage(bits)
		ownLoc := im.location(`crates/app/src/lib.rs`, 12, 5)
		libLoc := im.location(`C:\Users\runneradmin\.cargo\registry\src\index.crates.io-6f17d22bba15001f\serde_json-1.0.108\src\de.rs`, 300, 9)
		stdLoc := im.location(`/rustc/eeb90cda1969383f56a2637cbd3037bdf598841c/library/core/src/str/pattern.rs`, 1, 1)
		zstdLoc := im.location(`/home/x/.cargo/registry/src/github.com-1ecc6299db9ec823/zstd-safe-4.1.4/src/lib.rs`, 40, 13)
		zstdLoc2 := im.location(`/home/x/.cargo/registry/src/github.com-1ecc6299db9ec823/zstd-safe-4.1.4/src/lib.rs`, 52, 13)
		glibc := im.str("/build/glibc-SzIz7B/glibc-2.31/assert/assert.c\x00")
		wide := im.str("m\x00i\x00n\x00k\x00e\x00r\x00n\x00e\x00l\x00\\\x00c\x00r\x00t\x00s\x00\\\x00u\x00c\x00r\x00t\x00\\\x00a\x00.\x00c\x00p\x00p\x00\x00\x00")
		header := im.str("/usr/include/c++/12/bits/stl_vector.h\x00")
		// A Rust string running into a path and the padding after it is
		// not a path, nor is a record whose line is 0.
		runOn := im.str("AccessErrorlibrary/std/src/thread/local.rs\x00\x00")
		noLine := im.record(im.str("src/other.rs"), 12, 0, 1)
		text := im.str("plain text, nothing to see\x00")

		fOwn := im.fn(ownLoc)
		fLib := im.fn(stdLoc, libLoc)
		fLib2 := im.fn(zstdLoc, libLoc, zstdLoc2)
		fStd := im.fn(stdLoc, text)
		fMixed := im.fn(libLoc, stdLoc, ownLoc)
		fRT := im.fn(glibc)
		fUCRT := im.fn(wide)
		fHeader := im.fn(header)
		fRunOn := im.fn(runOn, noLine)
		fNone := im.fn(text)

		f := im.file()
		d, r := analyse(t, f)
		for _, tc := range []struct {
			name   string
			addr   uint64
			origin model.Origin
			crate  string
		}{
			{"own", fOwn, own, ""},
			{"library over std", fLib, lib, "serde_json"},
			{"most named crate", fLib2, lib, "zstd-safe"},
			{"std", fStd, std, "core"},
			{"own over library", fMixed, own, ""},
			{"C string", fRT, rt, "glibc"},
			{"UTF-16 string", fUCRT, rt, "ucrt"},
			{"header does not vote", fHeader, unknown, ""},
			{"not paths", fRunOn, unknown, ""},
			{"no path", fNone, unknown, ""},
		} {
			if o, c := originAt(t, d, r, tc.addr); o != tc.origin || c != tc.crate {
				t.Errorf("%d-bit %s: %v %q, want %v %q", bits, tc.name, o, c, tc.origin, tc.crate)
			}
		}
		if r.Language != "rust" {
			t.Errorf("%d-bit: language %q", bits, r.Language)
		}
		var paths []string
		for _, p := range r.Paths {
			paths = append(paths, p.Path)
		}
		if len(paths) != 7 {
			t.Errorf("%d-bit: paths %q", bits, paths)
		}

		// Apply fills only unknown origins.
		fns := slices.Clone(d.Funcs)
		i := slices.IndexFunc(fns, func(x model.Function) bool { return x.Addr == fLib })
		fns[i].Origin = model.OriginOwn
		n := r.Apply(fns)
		if fns[i].Origin != model.OriginOwn || n != 6 {
			t.Errorf("%d-bit: Apply changed %d, kept %v", bits, n, fns[i].Origin)
		}
	}
}

// ELF objects linked without addends in place (lld) leave a Location's
// pointer to a RELATIVE relocation.
func TestScanRelocatedELF(t *testing.T) {
	const text, rodata, relro = 0x1000, 0x2000, 0x3000
	path := "src/lib.rs"
	ro := []byte(path)
	rec := make([]byte, 24)
	binary.LittleEndian.PutUint64(rec[8:], uint64(len(path)))
	binary.LittleEndian.PutUint32(rec[16:], 7)
	binary.LittleEndian.PutUint32(rec[20:], 3)
	rela := make([]byte, 48)
	// An unrelated relocation, then the pointer's.
	binary.LittleEndian.PutUint64(rela[0:], relro+64)
	binary.LittleEndian.PutUint64(rela[8:], 8)
	binary.LittleEndian.PutUint64(rela[16:], 0x1234)
	binary.LittleEndian.PutUint64(rela[24:], relro)
	binary.LittleEndian.PutUint64(rela[32:], 8)
	binary.LittleEndian.PutUint64(rela[40:], rodata)
	code := []byte{0x48, 0x8d, 0x0d, 0, 0, 0, 0, 0xc3}
	binary.LittleEndian.PutUint32(code[3:], uint32(relro-(text+7)))
	f := &binfmt.File{
		Format: model.FormatELF, Arch: model.ArchAMD64, Bits: 64, Entry: text,
		Sections: []binfmt.Section{
			{Name: ".rela.dyn", Addr: 0x200, VSize: uint64(len(rela)), Data: rela},
			{Name: ".text", Addr: text, VSize: uint64(len(code)), Exec: true, Data: code},
			{Name: ".rodata", Addr: rodata, VSize: uint64(len(ro)), Data: ro},
			{Name: ".data.rel.ro", Addr: relro, VSize: 24, Writable: true, Data: rec},
		},
	}
	d, r := analyse(t, f)
	if o, _ := originAt(t, d, r, text); o != own {
		t.Errorf("origin %v, want own (paths %v)", o, r.Paths)
	}
}

// Scan only reads: hostile records pointing anywhere, with any length,
// must not panic or read out of bounds.
func TestScanHostile(t *testing.T) {
	im := newImage(64)
	recs := []uint64{
		im.record(0, 0, 1, 1),
		im.record(^uint64(0), 12, 1, 1),
		im.record(im.rdata, 1<<40, 1, 1),
		im.record(im.rdata+0x10000, 20, 1, 1),
	}
	tail := im.str("src/x/y.r")
	recs = append(recs, tail, tail+3, im.rdata+uint64(len(im.data))-1, 0, ^uint64(0), im.text)
	f := im.file()
	r := Scan(f, [][]uint64{recs, nil, {im.rdata}})
	for i, o := range r.Origins {
		if o != unknown {
			t.Errorf("function %d: %v", i, o)
		}
	}
	if r.Language != "" {
		t.Errorf("language %q", r.Language)
	}
}
