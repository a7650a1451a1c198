package disasm

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Version 1 signatures must not change: stores written with them keep
// attributing queries signed now. The digests were computed by the last
// kinship that knew only version 1.
func TestSigV1Unchanged(t *testing.T) {
	want := map[string]string{
		"pe64-O2/emberkit-v1.exe": "4b031b5eb040ac46",
		"elf32-O2/ashdrop-v1":     "94d21d7943c86619",
		"elf64-O0/emberkit-v1":    "5e945480c4e22434",
		"pe32-O2/emberkit-v1.exe": "c027811861f87425",
	}
	for name, w := range want {
		f := loadFixture(t, name)
		r, err := Analyze(f, Options{SigVersion: 1})
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		for _, fn := range r.Funcs {
			binary.Write(h, binary.LittleEndian, fn.Addr)
			binary.Write(h, binary.LittleEndian, fn.Exact)
			binary.Write(h, binary.LittleEndian, fn.MinHash)
		}
		if got := fmt.Sprintf("%x", h.Sum(nil)[:8]); got != w {
			t.Errorf("%s: version 1 digest %s, want %s", name, got, w)
		}
	}
}

func TestSigVersionOption(t *testing.T) {
	f := regFunc(0x140001000, 0, false)
	if _, err := Analyze(f, Options{SigVersion: 4}); err == nil {
		t.Error("unknown signature version: no error")
	}
	if (Options{}).Sig() != model.SigVersion {
		t.Error("zero Options do not ask for model.SigVersion")
	}
	a := only(t, f, Options{SigVersion: 1})
	b := only(t, f, Options{SigVersion: 2})
	if a.Exact != b.Exact {
		t.Error("the exact hash depends on the signature version")
	}
	if a.MinHash == b.MinHash {
		t.Error("versions 1 and 2 give the same MinHash")
	}
	wide := false
	for i := range a.MinHash {
		wide = wide || a.MinHash[i] > 0xffff
		if b.MinHash[i] > 0xffff {
			t.Fatalf("version 2 value %#x has more than 16 bits", b.MinHash[i])
		}
	}
	if !wide {
		t.Error("version 1 values all fit 16 bits")
	}
	// Version 3 is version 1's set with version 2's 16-bit values.
	c := only(t, f, Options{SigVersion: 3})
	if c.Exact != a.Exact {
		t.Error("version 3 changes the exact hash")
	}
	for i := range a.MinHash {
		if c.MinHash[i] != a.MinHash[i]&0xffff {
			t.Fatalf("version 3 value %d is %#x, want version 1's low bits %#x", i, c.MinHash[i], a.MinHash[i]&0xffff)
		}
	}
}

// callers assembles f, which calls n small functions g0..g(n-1) and one
// large function big; gi holds the immediate imm(i), big holds bigImm.
func callers(n int, imm func(i int) uint32, bigImm uint32) (*binfmt.File, uint64) {
	im := img64
	a := newAsm(im.text)
	a.L("f")
	a.B(0x48, 0x8b, 0x47, 0x08) // mov rax, [rdi+8]
	for i := range n {
		a.Call(fmt.Sprintf("g%d", i))
	}
	a.Call("big")
	a.B(0xc3)
	for i := range n {
		a.L(fmt.Sprintf("g%d", i))
		a.B(0xb8).B(binary.LittleEndian.AppendUint32(nil, imm(i))...) // mov eax, imm
		a.B(0xc3)
	}
	a.L("big")
	a.B(0xb8).B(binary.LittleEndian.AppendUint32(nil, bigImm)...)
	for range maxCalleeInstrs {
		a.B(0x48, 0x01, 0xc0) // add rax, rax
	}
	a.B(0xc3)
	code := a.Code()
	return im.file(code, a.Addr("f")), a.Addr("f")
}

func sigAt(t *testing.T, f *binfmt.File, addr uint64, v int) model.Function {
	t.Helper()
	r, err := Analyze(f, Options{SigVersion: v})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range r.Funcs {
		if x.Addr == addr {
			return x
		}
	}
	t.Fatalf("no function at %#x", addr)
	return model.Function{}
}

// A caller's version 2 signature holds what its small callees do, and
// nothing of its large ones.
func TestSig2Callees(t *testing.T) {
	base := func(i int) uint32 { return 0x1000 + uint32(i) }
	f0, at := callers(3, base, 0x7777)
	ref := sigAt(t, f0, at, 2)

	f1, _ := callers(3, func(i int) uint32 { return 0x5000 + uint32(i) }, 0x7777)
	if s := sigAt(t, f1, at, 2); s.MinHash == ref.MinHash {
		t.Error("v2: other small callees, same caller signature")
	}
	if a, b := sigAt(t, f0, at, 1), sigAt(t, f1, at, 1); a.MinHash != b.MinHash {
		t.Error("v1: the caller's signature depends on its callees")
	}
	f2, _ := callers(3, base, 0x8888)
	if s := sigAt(t, f2, at, 2); s.MinHash != ref.MinHash {
		t.Error("v2: a callee of more than maxCalleeInstrs instructions changed the caller's signature")
	}
}

// A function with ten thousand callees costs no more than one with
// maxCallees: only the first maxCallees (by address) count.
func TestSig2ManyCallees(t *testing.T) {
	const n = 10_000
	base := func(i int) uint32 { return 0x10000 + uint32(i) }
	f0, at := callers(n, base, 0x7777)
	t0 := time.Now()
	ref := sigAt(t, f0, at, 2)
	t.Logf("%d callees: analysed in %v", n, time.Since(t0))
	late, _ := callers(n, func(i int) uint32 {
		if i >= maxCallees {
			return 0x900000 + uint32(i)
		}
		return base(i)
	}, 0x7777)
	if s := sigAt(t, late, at, 2); s.MinHash != ref.MinHash {
		t.Error("callees past maxCallees changed the signature")
	}
	early, _ := callers(n, func(i int) uint32 {
		if i < maxCallees {
			return 0x900000 + uint32(i)
		}
		return base(i)
	}, 0x7777)
	if s := sigAt(t, early, at, 2); sketch.Similarity(&s.MinHash, &ref.MinHash) > 0.9 {
		t.Error("the first maxCallees callees barely count")
	}
}

// 32-bit position-independent code finds the GOT with a pc thunk and
// reaches data at offsets from it: both move with the program's layout and
// must not change the signature; a string reached that way counts as a
// string.
func TestSig2PIC(t *testing.T) {
	build := func(text uint64, str string) (*binfmt.File, uint64) {
		im := img32
		im.text = text
		got := im.data // the GOT stands for any address the offsets start from
		a := newAsm(text)
		a.L("f")
		a.Call("thunk")
		ret := a.pc()   // what the thunk loads: the address of the add
		a.B(0x81, 0xc3) // add ebx, got - ret
		a.B(binary.LittleEndian.AppendUint32(nil, uint32(got-ret))...)
		a.B(0x8d, 0x83) // lea eax, [ebx + string - got]
		a.B(binary.LittleEndian.AppendUint32(nil, uint32(im.rdata+offString-got))...)
		a.B(0x8b, 0x4b, 0x10)                   // mov ecx, [ebx+0x10]
		a.B(0x69, 0xc0, 0x4d, 0x3c, 0x2b, 0x1a) // imul eax, eax, 0x1a2b3c4d
		a.B(0xc3)
		a.L("thunk")
		a.B(0x8b, 0x1c, 0x24, 0xc3) // mov ebx, [esp]; ret
		code := a.Code()
		rd := rdataBytes(offTable, nil)
		copy(rd[offString:], str+"\x00")
		return im.fileWith(code, a.Addr("f"), rd), a.Addr("f")
	}
	fa, at := build(0x401000, "first string")
	fb, bt := build(0x402300, "first string")
	fc, ct := build(0x401000, "other string")
	a, b, c := sigAt(t, fa, at, 2), sigAt(t, fb, bt, 2), sigAt(t, fc, ct, 2)
	if a.MinHash != b.MinHash {
		t.Errorf("moved code: similarity %.2f, want identical", sketch.Similarity(&a.MinHash, &b.MinHash))
	}
	if a.MinHash == c.MinHash {
		t.Error("another string reached through the GOT: same signature")
	}
}

// Calls to the file's own exported functions are named like imports, so
// that a library calling its exports directly (PE) and one going through
// its PLT sign alike, and differently named exports differ.
func TestSig2Exports(t *testing.T) {
	build := func(name string) (*binfmt.File, uint64) {
		a := newAsm(img64.text)
		a.L("f")
		a.B(0x48, 0x8b, 0x47, 0x08)
		a.Call("g")
		a.B(0xc3)
		a.L("g")
		a.B(0x31, 0xc0, 0xc3) // xor eax, eax; ret
		code := a.Code()
		f := img64.file(code, a.Addr("f"))
		f.Exports = []binfmt.Export{{Name: name, Addr: a.Addr("g")}}
		return f, a.Addr("f")
	}
	fa, at := build("Alpha")
	fb, _ := build("beta")
	if sigAt(t, fa, at, 2).MinHash == sigAt(t, fb, at, 2).MinHash {
		t.Error("v2: calls to differently named exports sign alike")
	}
	if sigAt(t, fa, at, 1).MinHash != sigAt(t, fb, at, 1).MinHash {
		t.Error("v1: export names changed the signature")
	}
}
