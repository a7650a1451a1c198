package disasm

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

var update = flag.Bool("update", false, "rewrite golden files")

// snippet is one hand-assembled program and what Analyze must find in it.
type snippet struct {
	name  string
	build func() *binfmt.File
	// want maps function start (as a label's address) to its expected
	// instruction count; functions not listed must not exist.
	want  func(f *binfmt.File) map[uint64]uint32
	check func(t *testing.T, f *binfmt.File, r *Result)
}

// labelsOf keeps the assembler of the last build so want/check can name
// labels instead of addresses.
var labelsOf = map[string]*asm{}

func snippets() []snippet {
	at := func(name string, pairs ...any) map[uint64]uint32 {
		m := map[uint64]uint32{}
		a := labelsOf[name]
		for i := 0; i < len(pairs); i += 2 {
			m[a.Addr(pairs[i].(string))] = uint32(pairs[i+1].(int))
		}
		return m
	}
	return []snippet{
		{
			// Calls discover f1 and f2; f2 tail-calls the hinted f3 and
			// f2b tail-calls f4, which nothing else reaches; bytes after a
			// ret are never decoded; the import is called through its
			// IAT slot.
			name: "discovery64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("main")
				a.B(0x55)             // push rbp
				a.B(0x48, 0x89, 0xe5) // mov rbp, rsp
				a.Call("f1")
				a.B(0x85, 0xc0)                            // test eax, eax
				a.Jcc8(0x74, "l1")                         // je l1
				a.Rip(im.slot(slotCreateFile), 0xff, 0x15) // call [rip+CreateFileW]
				a.L("l1").Call("f2").Call("f2b")
				a.B(0x5d, 0xc3).Pad(3, 0xcc)                            // pop rbp; ret; padding
				a.L("f4").B(0x31, 0xc0, 0xc3).Pad(1, 0xcc)              // xor eax, eax; ret
				a.L("f1").B(0x31, 0xc0, 0xc3).B(0xff, 0xff, 0xff, 0xff) // xor eax, eax; ret; garbage
				a.L("f2").B(0xb8, 1, 0, 0, 0).Jmp("f3")                 // mov eax, 1; jmp f3
				a.L("f2b").B(0xb8, 2, 0, 0, 0).Jmp("f4")                // mov eax, 2; jmp f4
				a.L("f3").B(0x83, 0xff, 0x00).Jcc8(0x75, "f3b").B(0xc3) // cmp edi, 0; jne f3b; ret
				a.L("f3b").B(0xcc)                                      // int3
				code := a.Code()
				labelsOf["discovery64"] = a
				return im.file(code, a.Addr("main"), binfmt.FuncHint{Addr: a.Addr("f3"), Name: "f3", Origin: model.OriginOwn, Source: binfmt.HintSymbol})
			},
			want: func(*binfmt.File) map[uint64]uint32 {
				return at("discovery64", "main", 10, "f4", 2, "f1", 2, "f2", 2, "f2b", 2, "f3", 4)
			},
			check: func(t *testing.T, f *binfmt.File, r *Result) {
				a := labelsOf["discovery64"]
				main := fn(t, r, a.Addr("main"))
				if !reflect.DeepEqual(main.Imports, []string{"createfilew"}) {
					t.Errorf("main imports = %v", main.Imports)
				}
				if main.Blocks != 3 {
					t.Errorf("main blocks = %d, want 3", main.Blocks)
				}
				f3 := fn(t, r, a.Addr("f3"))
				if f3.Name != "f3" || f3.Origin != model.OriginOwn {
					t.Errorf("f3 name/origin = %q/%v", f3.Name, f3.Origin)
				}
				if f3.Blocks != 3 {
					t.Errorf("f3 blocks = %d, want 3", f3.Blocks)
				}
			},
		},
		{
			// Each path stops at its terminator: hlt, ud2, int3, ret.
			name: "stops64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("main").Call("h").Call("u").Call("i").B(0xc3)
				a.L("h").B(0x90, 0xf4).B(0x90, 0x90)  // nop; hlt; (not code)
				a.L("u").B(0x90, 0x0f, 0x0b).B(0x90)  // nop; ud2
				a.L("i").B(0x90, 0xcc).B(0x90, 0x90)  // nop; int3
				a.L("fastfail").B(0xcd, 0x29).B(0x90) // int 0x29
				code := a.Code()
				labelsOf["stops64"] = a
				return im.file(code, a.Addr("main"), binfmt.FuncHint{Addr: a.Addr("fastfail")})
			},
			want: func(*binfmt.File) map[uint64]uint32 {
				return at("stops64", "main", 4, "h", 2, "u", 2, "i", 2, "fastfail", 1)
			},
		},
		{
			// A jump into the middle of itself decodes overlapping
			// instructions; a jump to itself loops. Both end.
			name: "overlap64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("main").B(0xeb, 0xff, 0xc0, 0xc3) // jmp -1 -> "ff c0" inc eax; ret
				a.L("spin").B(0xeb, 0xfe)             // jmp spin
				code := a.Code()
				labelsOf["overlap64"] = a
				return im.file(code, a.Addr("main"), binfmt.FuncHint{Addr: a.Addr("spin")})
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("overlap64", "main", 3, "spin", 1) },
			check: func(t *testing.T, f *binfmt.File, r *Result) {
				main := fn(t, r, labelsOf["overlap64"].Addr("main"))
				if main.Size != 4 {
					t.Errorf("size = %d, want 4 (overlapping bytes counted once)", main.Size)
				}
			},
		},
		{
			// Undecodable bytes end a path or leave no function at all;
			// a truncated instruction at the section end too.
			name: "invalid64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("main").B(0x90).Call("bad").Call("trunc").B(0x06) // push es: invalid in 64-bit
				a.L("bad").B(0xff, 0xff)
				a.L("trunc").B(0x48, 0xb8, 1, 2) // mov rax, imm64 cut short
				code := a.Code()
				labelsOf["invalid64"] = a
				return im.file(code, a.Addr("main"))
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("invalid64", "main", 3) },
		},
		{
			// call/pop reads the PC and is no function start; the import
			// is reached through [abs] and through a jmp [abs] thunk.
			name: "getpc32",
			build: func() *binfmt.File {
				im := img32
				a := newAsm(im.text)
				a.L("main")
				a.B(0x55, 0x89, 0xe5)                      // push ebp; mov ebp, esp
				a.Call("next").L("next").B(0x58)           // call next; pop eax
				a.B(0x6a, 0x00)                            // push 0
				a.Abs(im.slot(slotCreateFile), 0xff, 0x15) // call [CreateFileW]
				a.Call("thunk")
				a.B(0x5d, 0xc3) // pop ebp; ret
				a.L("thunk").Abs(im.slot(slotExitProcess), 0xff, 0x25)
				code := a.Code()
				labelsOf["getpc32"] = a
				return im.file(code, a.Addr("main"))
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("getpc32", "main", 9, "thunk", 1) },
			check: func(t *testing.T, f *binfmt.File, r *Result) {
				main := fn(t, r, labelsOf["getpc32"].Addr("main"))
				if want := []string{"createfilew", "exitprocess"}; !reflect.DeepEqual(main.Imports, want) {
					t.Errorf("imports = %v, want %v", main.Imports, want)
				}
			},
		},
		{
			// jmp [eax*4 + table] with a bound check: every case is found.
			name: "jumptable32",
			build: func() *binfmt.File {
				im := img32
				a := newAsm(im.text)
				a.L("main")
				a.B(0x8b, 0x44, 0x24, 0x04)                    // mov eax, [esp+4]
				a.B(0x83, 0xf8, 0x03).Jcc8(0x77, "def")        // cmp eax, 3; ja def
				a.Abs(im.rdata+offJumpTable, 0xff, 0x24, 0x85) // jmp [eax*4+table]
				for i := range 4 {
					a.L(fmt.Sprint("case", i)).B(0xb8, byte(i+10), 0, 0, 0, 0xc3)
				}
				a.L("def").B(0x31, 0xc0, 0xc3)
				code := a.Code()
				var jt []byte
				for i := range 4 {
					jt = binaryLE32(jt, uint32(a.Addr(fmt.Sprint("case", i))))
				}
				jt = binaryLE32(jt, uint32(a.Addr("main"))) // past the bound: not read
				labelsOf["jumptable32"] = a
				return im.fileWith(code, a.Addr("main"), rdataBytes(offTable, jt))
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("jumptable32", "main", 14) },
			check: func(t *testing.T, f *binfmt.File, r *Result) {
				if m := fn(t, r, labelsOf["jumptable32"].Addr("main")); m.Blocks != 7 {
					t.Errorf("blocks = %d, want 7", m.Blocks)
				}
			},
		},
		{
			// lea rdx,[rip+T]; movsxd rax,[rdx+rax*4]; add rax,rdx; jmp rax
			// with entries relative to the table (GCC/Clang PIC).
			name: "jumptable64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("main")
				a.B(0x89, 0xf8)                                // mov eax, edi
				a.B(0x83, 0xf8, 0x02).Jcc8(0x77, "def")        // cmp eax, 2; ja def
				a.Rip(im.rdata+offJumpTable, 0x48, 0x8d, 0x15) // lea rdx, [rip+T]
				a.B(0x48, 0x63, 0x04, 0x82)                    // movsxd rax, dword [rdx+rax*4]
				a.B(0x48, 0x01, 0xd0)                          // add rax, rdx
				a.B(0xff, 0xe0)                                // jmp rax
				for i := range 3 {
					a.L(fmt.Sprint("case", i)).B(0xb8, byte(i+10), 0, 0, 0, 0xc3)
				}
				a.L("def").B(0x31, 0xc0, 0xc3)
				code := a.Code()
				var jt []byte
				for i := range 3 {
					jt = binaryLE32(jt, uint32(a.Addr(fmt.Sprint("case", i))-(im.rdata+offJumpTable)))
				}
				labelsOf["jumptable64"] = a
				return im.fileWith(code, a.Addr("main"), rdataBytes(offTable, jt))
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("jumptable64", "main", 15) },
		},
		{
			// ELF style: calls and a tail jump to PLT stubs are imports,
			// and the stubs are not functions.
			name: "plt64",
			build: func() *binfmt.File {
				im := img64
				plt := im.text + 0x800
				a := newAsm(im.text)
				a.L("main")
				a.B(0x48, 0x83, 0xec, 0x08) // sub rsp, 8
				a.Call("stub0")
				a.B(0x48, 0x83, 0xc4, 0x08) // add rsp, 8
				a.Jmp("stub1")
				a.buf = append(a.buf, make([]byte, int(plt-a.pc()))...)
				a.L("stub0").Rip(im.data, 0xff, 0x25).L("stub1").Rip(im.data+8, 0xff, 0x25)
				code := a.Code()
				labelsOf["plt64"] = a
				f := im.file(code, a.Addr("main"))
				f.Format = model.FormatELF
				f.Imports = []binfmt.Import{
					{Library: "libc.so.6", Name: "Malloc", Addrs: []uint64{im.data, a.Addr("stub0")}},
					{Library: "libc.so.6", Name: "free", Addrs: []uint64{im.data + 8, a.Addr("stub1")}},
				}
				return f
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("plt64", "main", 4) },
			check: func(t *testing.T, f *binfmt.File, r *Result) {
				m := fn(t, r, labelsOf["plt64"].Addr("main"))
				if want := []string{"free", "malloc"}; !reflect.DeepEqual(m.Imports, want) {
					t.Errorf("imports = %v, want %v", m.Imports, want)
				}
			},
		},
		{
			// Distinctive constants are kept; masks, powers of two,
			// division magic and addresses are not; a reference to a
			// read-only table adds its hash, one to text does not.
			name: "consts64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("main")
				a.B(0xb8, 0xb9, 0x79, 0x37, 0x9e)           // mov eax, 0x9e3779b9
				a.B(0x81, 0xc1, 0x78, 0x56, 0x34, 0x12)     // add ecx, 0x12345678
				a.B(0xb9, 0xff, 0xff, 0xff, 0xff)           // mov ecx, 0xffffffff
				a.B(0xba, 0x00, 0x00, 0x01, 0x00)           // mov edx, 0x10000
				a.B(0xba, 0xab, 0xaa, 0xaa, 0xaa)           // mov edx, 0xaaaaaaab
				a.B(0x48, 0xba).B(le64(im.rdata + 0x10)...) // mov rdx, address (not a table)
				a.Rip(im.rdata+offTable, 0x48, 0x8d, 0x35)  // lea rsi, [rip+table]
				a.Rip(im.rdata+offString, 0x48, 0x8d, 0x3d) // lea rdi, [rip+string]
				a.B(0xc3)
				code := a.Code()
				labelsOf["consts64"] = a
				return im.file(code, a.Addr("main"))
			},
			want: func(*binfmt.File) map[uint64]uint32 { return at("consts64", "main", 9) },
			check: func(t *testing.T, f *binfmt.File, r *Result) {
				m := fn(t, r, labelsOf["consts64"].Addr("main"))
				if len(m.Consts) != 3 || m.Consts[0] != 0x12345678 || m.Consts[1] != 0x9e3779b9 || m.Consts[2]>>63 != 1 {
					t.Errorf("consts = %x, want [12345678 9e3779b9 <table hash>]", m.Consts)
				}
			},
		},
		{
			// A hint's end bounds its function; falling through into the
			// next hinted function splits there.
			name: "bounds64",
			build: func() *binfmt.File {
				im := img64
				a := newAsm(im.text)
				a.L("f").B(0x90, 0x90).L("fend").B(0x90, 0xc3)
				a.L("g").B(0x90, 0x90).L("h").B(0x90, 0xc3)
				code := a.Code()
				labelsOf["bounds64"] = a
				return im.file(code, 0,
					binfmt.FuncHint{Addr: a.Addr("f"), End: a.Addr("fend")},
					binfmt.FuncHint{Addr: a.Addr("g")},
					binfmt.FuncHint{Addr: a.Addr("h")})
			},
			// The bytes from fend to g belong to no function.
			want: func(*binfmt.File) map[uint64]uint32 { return at("bounds64", "f", 2, "g", 2, "h", 2) },
		},
	}
}

func binaryLE32(b []byte, v uint32) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
}

func le64(v uint64) []byte {
	var b []byte
	for i := range 8 {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// fn returns the function at addr or fails.
func fn(t *testing.T, r *Result, addr uint64) model.Function {
	t.Helper()
	for _, f := range r.Funcs {
		if f.Addr == addr {
			return f
		}
	}
	t.Fatalf("no function at %#x", addr)
	return model.Function{}
}

func TestSnippets(t *testing.T) {
	for _, sn := range snippets() {
		t.Run(sn.name, func(t *testing.T) {
			f := sn.build()
			r, err := Analyze(f, Options{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			got := map[uint64]uint32{}
			for _, x := range r.Funcs {
				got[x.Addr] = x.Instrs
			}
			if want := sn.want(f); !reflect.DeepEqual(got, want) {
				t.Errorf("functions (addr: instrs) = %s, want %s", fmtMap(got), fmtMap(want))
			}
			if !slices.IsSortedFunc(r.Funcs, func(a, b model.Function) int { return cmpU64(a.Addr, b.Addr) }) {
				t.Error("functions not sorted")
			}
			if r.Stats.CoveredBytes > r.Stats.CodeBytes || r.Stats.Functions != len(r.Funcs) {
				t.Errorf("stats %+v", r.Stats)
			}
			for _, an := range r.Anomalies {
				if sn.name == "overlap64" && strings.Contains(an, "overlapping instructions") {
					continue // the jump into itself is recorded
				}
				t.Errorf("anomaly: %s", an)
			}
			if sn.check != nil {
				sn.check(t, f, r)
			}
			golden(t, sn.name, dump(t, f, r))
		})
	}
}

func fmtMap(m map[uint64]uint32) string {
	keys := make([]uint64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%#x:%d ", k, m[k])
	}
	return b.String()
}

// dump renders a result with listings. Exact hashes are part of it on
// purpose: a change of token normalisation shows up here and must come
// with a model.SigVersion bump.
func dump(t *testing.T, f *binfmt.File, r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "functions=%d instructions=%d code=%d covered=%d\n", r.Stats.Functions, r.Stats.Instructions, r.Stats.CodeBytes, r.Stats.CoveredBytes)
	for _, x := range r.Funcs {
		fmt.Fprintf(&b, "\nfunc %#x name=%q instrs=%d blocks=%d size=%d exact=%016x imports=%v consts=%x\n",
			x.Addr, x.Name, x.Instrs, x.Blocks, x.Size, x.Exact, x.Imports, x.Consts)
		lines, err := r.Listing(f, x.Addr)
		if err != nil {
			t.Fatalf("listing %#x: %v", x.Addr, err)
		}
		if len(lines) != int(x.Instrs) {
			t.Errorf("listing %#x has %d lines, function %d instructions", x.Addr, len(lines), x.Instrs)
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The package Listing, which rediscovers functions, agrees with
// Result.Listing, which reuses Analyze's boundaries.
func TestListingAgrees(t *testing.T) {
	for _, sn := range snippets() {
		f := sn.build()
		r, err := Analyze(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range r.Funcs {
			a, err1 := Listing(f, x.Addr, Options{})
			b, err2 := r.Listing(f, x.Addr)
			if err1 != nil || err2 != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("%s %#x: listings differ (%v, %v)", sn.name, x.Addr, err1, err2)
			}
		}
	}
	f := snippets()[0].build()
	if _, err := Listing(f, 0x10, Options{}); err == nil {
		t.Error("listing outside code: no error")
	}
}

func TestListingNames(t *testing.T) {
	sn := snippets()[0]
	f := sn.build()
	lines, err := Listing(f, labelsOf["discovery64"].Addr("main"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var norm, text []string
	for _, l := range lines {
		norm = append(norm, l.Norm)
		text = append(text, l.Text)
	}
	n, x := strings.Join(norm, "\n"), strings.Join(text, "\n")
	for _, want := range []string{"call sub", "jz loc", "call qword ptr [import:createfilew]"} {
		if !strings.Contains(n, want) {
			t.Errorf("normalised listing lacks %q:\n%s", want, n)
		}
	}
	if !strings.Contains(x, "[createfilew]") || !strings.Contains(x, "0x1400010") {
		t.Errorf("text listing lacks import name or real addresses:\n%s", x)
	}
}

// regFunc assembles the same function with a chosen register (0 = rax,
// 3 = rbx) at a chosen address; the constant keeps it non-trivial.
func regFunc(base uint64, reg byte, edit bool) *binfmt.File {
	im := img64
	im.text = base
	a := newAsm(base)
	a.Pad(0x40, 0xcc) // move the function off the section start
	a.L("f")
	a.B(0x48, 0x8b, 0x47|reg<<3, 0x08)     // mov r, [rdi+8]
	a.B(0x48, 0x83, 0xc0|reg, 0x10)        // add r, 0x10
	a.B(0x48, 0x0f, 0xaf, 0xc0|reg<<3|reg) // imul r, r
	for i := range 12 {
		if edit && i == 6 {
			a.B(0x48, 0x83, 0xe8|reg, byte(i)) // sub r, i
		} else {
			a.B(0x48, 0x83, 0xc0|reg, byte(i)) // add r, i
		}
		a.B(0x48, 0x31, 0xc6|reg<<3) // xor rsi, r
		a.B(0x48, 0xc1, 0xe0|reg, 3) // shl r, 3
	}
	a.B(0x48, 0x89, 0xc0|reg<<3).B(0xc3) // mov rax, r; ret
	code := a.Code()
	return im.file(code, a.Addr("f"))
}

func only(t *testing.T, f *binfmt.File, opts Options) model.Function {
	t.Helper()
	r, err := Analyze(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The padding before the function is its own (int3) function.
	for _, x := range r.Funcs {
		if x.Instrs > 10 {
			return x
		}
	}
	t.Fatal("function not found")
	return model.Function{}
}

// Register choice and address do not change a signature; a small edit
// lowers similarity without destroying it. Version 2 signs the set of
// tokens, where a one-instruction edit is one element of about fifty: the
// estimate may then read 1.
func TestTokenInvariance(t *testing.T) {
	for _, v := range SigVersions {
		opts := Options{SigVersion: v}
		a := only(t, regFunc(0x140001000, 0, false), opts)
		b := only(t, regFunc(0x180042000, 3, false), opts)
		if a.Exact != b.Exact || a.MinHash != b.MinHash {
			t.Errorf("v%d: rax/rbx versions at different addresses differ: exact %x/%x sim %.2f",
				v, a.Exact, b.Exact, sketch.Similarity(&a.MinHash, &b.MinHash))
		}
		c := only(t, regFunc(0x140001000, 0, true), opts)
		sim := sketch.Similarity(&a.MinHash, &c.MinHash)
		if a.Exact == c.Exact || sim >= 1 && v == 1 || sim < 0.6 {
			t.Errorf("v%d: small edit: exact equal=%v similarity %.2f, want different and in [0.6, 1)", v, a.Exact == c.Exact, sim)
		}
		t.Logf("v%d: similarity after a one-instruction edit: %.2f", v, sim)
	}
}

// The same code and table at other addresses give the same constants,
// including the table hash.
func TestTableHashRelocation(t *testing.T) {
	build := func(im image, tableAt int) model.Function {
		a := newAsm(im.text)
		a.L("f")
		a.Rip(im.rdata+uint64(tableAt), 0x48, 0x8d, 0x35) // lea rsi, [rip+table]
		a.B(0x0f, 0xb6, 0x04, 0x06)                       // movzx eax, byte [rsi+rax]
		a.B(0xc3)
		f := im.fileWith(a.Code(), a.Addr("f"), rdataBytes(tableAt, nil))
		r, err := Analyze(f, Options{})
		if err != nil || len(r.Funcs) != 1 {
			t.Fatalf("%v %v", err, r)
		}
		return r.Funcs[0]
	}
	im2 := img64
	im2.text, im2.rdata = 0x180010000, 0x180020000
	x, y := build(img64, offTable), build(im2, 0x40)
	if len(x.Consts) != 1 || x.Consts[0]>>63 != 1 || !reflect.DeepEqual(x.Consts, y.Consts) || x.Exact != y.Exact {
		t.Errorf("consts %x vs %x, exact %x vs %x", x.Consts, y.Consts, x.Exact, y.Exact)
	}
}

// chain builds n functions, each calling the next, so discovery needs n
// rounds, with a loop and a constant in each.
func chain(n int) *binfmt.File {
	im := img64
	a := newAsm(im.text)
	for i := range n {
		a.L(fmt.Sprint("f", i))
		a.B(0x53)                                                    // push rbx
		a.B(0xbb).B(binaryLE32(nil, uint32(0x10000*i+0x1234567))...) // mov ebx, imm32
		a.L(fmt.Sprint("loop", i))
		a.B(0xff, 0xcb)                     // dec ebx
		a.Jcc8(0x75, fmt.Sprint("loop", i)) // jnz loop
		if i+1 < n {
			a.Call(fmt.Sprint("f", i+1))
		}
		a.B(0x5b, 0xc3) // pop rbx; ret
	}
	return im.file(a.Code(), im.text)
}

func TestDeterministicAcrossWorkers(t *testing.T) {
	f := chain(300)
	r1, err := Analyze(f, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	r4, err := Analyze(f, Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Funcs) != 300 || !reflect.DeepEqual(r1, r4) {
		t.Errorf("workers change the result (%d vs %d functions)", len(r1.Funcs), len(r4.Funcs))
	}
	if r1.Stats.CoveredBytes != r1.Stats.CodeBytes {
		t.Errorf("covered %d of %d bytes", r1.Stats.CoveredBytes, r1.Stats.CodeBytes)
	}
}

// TestKeptWalks checks that features reusing discovery's walks give what
// walking every function again gives: on every fixture, on a real
// binary when the corpus cache has one, and on a program where a start
// found late lies inside a function walked before it was known.
func TestKeptWalks(t *testing.T) {
	im := img64
	a := newAsm(im.text)
	a.L("f0")
	a.B(0x53)             // push rbx
	a.B(0x85, 0xc0)       // test eax, eax
	a.Jcc8(0x74, "inner") // jz inner
	a.Call("g")
	a.B(0x5b, 0xc3) // pop rbx; ret
	a.L("inner")
	a.B(0xb8, 1, 0, 0, 0) // mov eax, 1
	a.B(0x5b, 0xc3)       // pop rbx; ret
	a.L("g")
	a.Call("inner")
	a.B(0xc3)
	late := im.file(a.Code(), a.Addr("f0"))
	files := map[string]*binfmt.File{"late start": late}
	paths, _ := filepath.Glob("../../testdata/fixtures/bin/*/*")
	real := ""
	if home, err := os.UserHomeDir(); err == nil && !testing.Short() {
		real = filepath.Join(home, ".cache/kinship-corpus/libsql-js/0.3.10/index.node")
		paths = append(paths, real)
	}
	for _, p := range paths {
		if f, err := binfmt.LoadFile(p, binfmt.Limits{}); err == nil {
			files[p] = f
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d binaries", len(files))
	}
	for name, f := range files {
		for _, v := range SigVersions {
			if name == real && v != model.SigVersion {
				continue // one version is enough for a large file
			}
			got, err1 := Analyze(f, Options{SigVersion: v, DataRefs: true})
			want, err2 := Analyze(f, Options{SigVersion: v, DataRefs: true, noReuse: true})
			if errors.Is(err1, ErrUnsupported) && errors.Is(err2, ErrUnsupported) {
				continue
			}
			if err1 != nil || err2 != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("%s, version %d: reusing walks changes the result (%v, %v)", name, v, err1, err2)
			}
		}
	}
	an, err := newAnalyzer(late, Options{})
	if err != nil {
		t.Fatal(err)
	}
	an.discover()
	starts := an.allStarts()
	an.indexKept(starts)
	f0 := a.Addr("f0")
	i := slices.Index(starts, f0)
	if i < 0 || an.keptAt[i].w < 0 {
		t.Fatal("discovery kept no walk of f0")
	}
	if _, ok := an.keptWalk(an.secAt(f0), i); ok {
		t.Error("f0's walk, which ran through a start found later, was reused")
	}
	res, err := Analyze(late, Options{})
	if err != nil || len(res.Funcs) != 3 || res.Funcs[0].Instrs != 6 {
		t.Errorf("late start: %v, %+v", err, res)
	}
}

func TestLimits(t *testing.T) {
	cases := []struct {
		name  string
		opts  Options
		funcs int
		want  string
	}{
		{"funcs", Options{MaxFuncs: 10}, 10, "more than 10 functions"},
		{"func instrs", Options{MaxFuncInstrs: 3}, 1, "more than 3 instructions; truncated"},
		{"file instrs", Options{MaxInstrs: 100}, -1, "more than 100 instructions; decoding stopped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Analyze(chain(300), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.funcs >= 0 && len(r.Funcs) != c.funcs {
				t.Errorf("%d functions, want %d", len(r.Funcs), c.funcs)
			}
			if !slices.ContainsFunc(r.Anomalies, func(s string) bool { return strings.Contains(s, c.want) }) {
				t.Errorf("anomalies %q lack %q", r.Anomalies, c.want)
			}
			if len(r.Anomalies) > maxAnomalies+1 {
				t.Errorf("%d anomalies", len(r.Anomalies))
			}
		})
	}
}

// A panic in one function's work becomes an anomaly, not a crash.
func TestPanicBecomesAnomaly(t *testing.T) {
	f := chain(5)
	victim := f.Entry
	testHook = func(start uint64) {
		if start == victim {
			panic("boom")
		}
	}
	defer func() { testHook = nil }()
	r, err := Analyze(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("function at %#x: internal error", victim)
	if !slices.Contains(r.Anomalies, want) {
		t.Errorf("anomalies %q lack %q", r.Anomalies, want)
	}
}

func TestUnsupported(t *testing.T) {
	if _, err := Analyze(nil, Options{}); err == nil {
		t.Error("nil file: no error")
	}
	f := chain(1)
	f.Arch, f.Bits = model.ArchARM64, 64
	if _, err := Analyze(f, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("arm64: %v", err)
	}
	f = chain(1)
	f.Unsupported = ".NET IL only"
	if _, err := Analyze(f, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unsupported file: %v", err)
	}
	f = chain(1)
	f.Bits = 16
	f.Arch = ""
	if _, err := Analyze(f, Options{}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("16-bit: %v", err)
	}
}

// Entry outside code is an anomaly; data pointers seed code nothing calls.
func TestEntryAndDataPointers(t *testing.T) {
	im := img64
	a := newAsm(im.text)
	a.L("main").B(0xc3).Pad(15, 0xcc)
	a.L("callback").B(0x31, 0xc0, 0xc3)
	f := im.file(a.Code(), 0x10)
	binaryPut64(f.Sections[2].Data, a.Addr("callback"))
	r, err := Analyze(f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Anomalies, "entry point 0x10 is not in executable code") {
		t.Errorf("anomalies %q", r.Anomalies)
	}
	if fn(t, r, a.Addr("callback")).Instrs != 2 {
		t.Error("callback not found through the data pointer")
	}
}

func binaryPut64(b []byte, v uint64) { copy(b, le64(v)) }
