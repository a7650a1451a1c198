package disasm

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"golang.org/x/arch/x86/x86asm"
)

// checkCached makes the record of every instruction of code (placed at
// the address of s) through decodeAt with the cache and without it, and
// fails on any difference in the record or its constants. Each offset
// goes through the cache twice, so that the second is a hit whenever the
// first stored it. The constant pools start non-empty, with a length that
// changes from one offset to the next, as a walker's pool does. step says
// how far to move after an instruction of n bytes.
func checkCached(t testing.TB, a *analyzer, c *decodeCache, s *xsec, step func(n int) int) {
	t.Helper()
	junk := []uint64{0xdead, 0xbeef, 0xf00d}
	var wp, gp []uint64
	for off := 0; off < len(s.data); {
		va := s.addr + uint64(off)
		k := off % (len(junk) + 1)
		wp = append(wp[:0], junk[:k]...)
		want := a.decodeAt(s, va, &wp, nil)
		for range 2 {
			gp = append(gp[:0], junk[:k]...)
			got := a.decodeAt(s, va, &gp, c)
			if got != want || !slices.Equal(gp, wp) {
				t.Fatalf("mode %d at %#x % x:\n got %+v %x\nwant %+v %x", c.mode, va, s.data[off:min(len(s.data), off+maxInsnLen)], got, gp, want, wp)
			}
		}
		off += step(int(want.n))
	}
}

// TestDecodeCacheAgrees checks the cache against the decoder on every
// fixture: along the instruction stream, where hits are frequent, and at
// every byte offset, where the bytes are mostly not instructions at all.
// Then over random bytes placed in the fixture's code, biased to the bytes
// that start instructions with PC-relative fields.
func TestDecodeCacheAgrees(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/fixtures/bin/*/*")
	if home, err := os.UserHomeDir(); err == nil && !testing.Short() {
		// A large real binary when the corpus cache has one.
		paths = append(paths, filepath.Join(home, ".cache/kinship-corpus/turbo/1.0.24/turbo.exe"),
			filepath.Join(home, ".cache/kinship-corpus/libsql-js/0.3.10/index.node"))
	}
	r := rand.New(rand.NewPCG(1, 2))
	hot := []byte{0x0f, 0x48, 0x4c, 0x66, 0x67, 0x8b, 0x8d, 0xe8, 0xe9, 0xeb, 0x74, 0x05, 0x15, 0x25, 0x35, 0x3d, 0xc4, 0xc5, 0x62, 0xf3, 0xf2, 0x80, 0x8f, 0xf6, 0xf7, 0xa0, 0xa3, 0xff, 0x68, 0xb8}
	tested, clears := 0, 0
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		f, err := binfmt.LoadFile(p, binfmt.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := newAnalyzer(f, Options{DataRefs: tested%2 == 0})
		if err != nil {
			continue // not x86
		}
		tested++
		stream, every := newDecodeCache(a.mode, 1<<20), newDecodeCache(a.mode, 1<<20)
		// The smallest cache (1024 slots) fills and is emptied many
		// times over a fixture.
		small := newDecodeCache(a.mode, 0)
		for _, s := range a.secs {
			checkCached(t, a, stream, s, func(n int) int { return n })
			checkCached(t, a, small, s, func(n int) int { return n })
			// The same code at another address meets entries stored at
			// the first: records whose targets move must move with it.
			checkCached(t, a, stream, &xsec{addr: s.addr + 0x1230, data: s.data}, func(n int) int { return n })
			head := &xsec{addr: s.addr, data: s.data[:min(len(s.data), 1<<13)]}
			checkCached(t, a, every, head, func(int) int { return 1 })
		}
		clears += small.clears
		// The cache must be doing its work: most of a compiler's
		// instructions repeat.
		if hr := float64(stream.hits) / float64(stream.hits+stream.misses); hr < 0.5 {
			t.Errorf("%s: cache hit rate %.2f along the instruction stream", p, hr)
		}
		if len(a.secs) == 0 {
			continue
		}
		code := make([]byte, 1<<12)
		for range 2 {
			for i := range code {
				if r.IntN(3) == 0 {
					code[i] = hot[r.IntN(len(hot))]
				} else {
					code[i] = byte(r.Uint32())
				}
			}
			checkCached(t, a, every, &xsec{addr: a.secs[0].addr, data: code}, func(int) int { return 1 })
		}
	}
	if tested < 10 {
		t.Fatalf("only %d binaries tested", tested)
	}
	if clears == 0 {
		t.Error("the small cache never filled: its emptying went untested")
	}
}

// TestShapeRel checks shape on encodings whose PC-relative field must be
// found, so that the cache's hit rate does not silently fall.
func TestShapeRel(t *testing.T) {
	for _, tc := range []struct {
		mode           int
		code           []byte
		n, off, length int
	}{
		{64, []byte{0xe8, 1, 2, 3, 4}, 5, 1, 4},                             // call rel32
		{64, []byte{0xeb, 0x10}, 2, 1, 1},                                   // jmp rel8
		{64, []byte{0x0f, 0x84, 1, 2, 3, 4}, 6, 2, 4},                       // je rel32
		{64, []byte{0x48, 0x8d, 0x05, 1, 2, 3, 4}, 7, 3, 4},                 // lea rax, [rip+x]
		{64, []byte{0xff, 0x15, 1, 2, 3, 4}, 6, 2, 4},                       // call [rip+x]
		{64, []byte{0xc7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8}, 10, 2, 4},          // mov dword [rip+x], imm32
		{64, []byte{0xc5, 0xf8, 0x28, 0x05, 1, 2, 3, 4}, 8, 4, 4},           // vmovaps xmm0, [rip+x]
		{64, []byte{0x48, 0x89, 0x44, 0x24, 0x20}, 5, 0, 0},                 // mov [rsp+0x20], rax
		{64, []byte{0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}, 10, 0, 0},          // mov rax, imm64
		{32, []byte{0xa1, 1, 2, 3, 4}, 5, 0, 0},                             // mov eax, [abs]
		{32, []byte{0x66, 0xe8, 1, 2}, 4, 2, 2},                             // call rel16
		{32, []byte{0x8b, 0x05, 1, 2, 3, 4}, 6, 0, 0},                       // mov eax, [abs]: not PC-relative in 32-bit code
		{64, []byte{0xf7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8}, 10, 2, 4},          // test dword [rip+x], imm32
		{64, []byte{0x66, 0x0f, 0x3a, 0x0f, 0x05, 1, 2, 3, 4, 8}, 10, 5, 4}, // palignr xmm0, [rip+x], 8
	} {
		sh, ok := shape(tc.code, tc.mode)
		n, off, length := sh.n, sh.relOff, sh.relLen
		if !ok || n != tc.n || off != tc.off || length != tc.length {
			t.Errorf("shape(% x, %d) = %d, %d, %d, %v; want %d, %d, %d", tc.code, tc.mode, n, off, length, ok, tc.n, tc.off, tc.length)
		}
		inst, err := x86asm.Decode(tc.code, tc.mode)
		// x86asm decodes a VEX [rip+x] as the absolute [x], without
		// PCRel, so the cache decodes such instructions every time.
		if tc.code[0] == 0xc5 {
			if err != nil || inst.Len != tc.n || inst.PCRel != 0 {
				t.Errorf("x86asm on % x: len %d pcrel %d: x86asm now reports VEX PC-relative fields", tc.code, inst.Len, inst.PCRel)
			}
			continue
		}
		if err != nil || inst.Len != tc.n || inst.PCRel != tc.length || (tc.length > 0 && inst.PCRelOff != tc.off) {
			t.Errorf("x86asm on % x: len %d pcrel %d@%d err %v; the table above is wrong", tc.code, inst.Len, inst.PCRel, inst.PCRelOff, err)
		}
	}
}

// TestShapeFields checks where shape finds displacements from a base
// register and immediates, the fields the key keeps only the class of.
func TestShapeFields(t *testing.T) {
	for _, tc := range []struct {
		mode             int
		code             []byte
		dispOff, dispLen int
		immOff, immLen   int
	}{
		{64, []byte{0x48, 0x8b, 0x43, 0x48}, 3, 1, 0, 0},             // mov rax, [rbx+0x48]
		{64, []byte{0x48, 0x89, 0x44, 0x24, 0x20}, 4, 1, 0, 0},       // mov [rsp+0x20], rax
		{64, []byte{0x48, 0x8b, 0x83, 0, 1, 0, 0}, 3, 4, 0, 0},       // mov rax, [rbx+0x100]
		{64, []byte{0xc7, 0x44, 0x24, 0x08, 0, 1, 0, 0}, 3, 1, 4, 4}, // mov dword [rsp+8], 0x100
		{64, []byte{0x48, 0x8b, 0x03}, 0, 0, 0, 0},                   // mov rax, [rbx]
		{64, []byte{0x8b, 0x04, 0x25, 0, 0x10, 0, 0}, 0, 0, 0, 0},    // mov eax, [0x1000]: no base
		{64, []byte{0x48, 0x8b, 0x05, 1, 2, 3, 4}, 0, 0, 0, 0},       // mov rax, [rip+x]
		{64, []byte{0x48, 0xb8, 1, 2, 0, 0, 0, 0, 0, 0}, 0, 0, 2, 8}, // mov rax, imm64
		{64, []byte{0x3d, 0, 2, 0, 0}, 0, 0, 1, 4},                   // cmp eax, 0x200
		{64, []byte{0x66, 0x81, 0x7b, 0x10, 0, 2}, 3, 1, 4, 2},       // cmp word [rbx+0x10], 0x200
		{64, []byte{0xf7, 0x45, 0xf8, 0, 1, 0, 0}, 2, 1, 3, 4},       // test dword [rbp-8], 0x100
		{32, []byte{0x67, 0x8b, 0x47, 0x10}, 3, 1, 0, 0},             // mov eax, [bx+0x10]
		{32, []byte{0xa1, 1, 2, 3, 4}, 0, 0, 0, 0},                   // mov eax, [abs]: an address
		{64, []byte{0x83, 0xc0, 0x10}, 0, 0, 0, 0},                   // add eax, 0x10: imm8 keeps its value
		{64, []byte{0xc8, 0x10, 0, 0}, 0, 0, 0, 0},                   // enter 0x10, 0
	} {
		sh, ok := shape(tc.code, tc.mode)
		if !ok || sh.n != len(tc.code) || sh.dispOff != tc.dispOff || sh.dispLen != tc.dispLen || sh.immOff != tc.immOff || sh.immLen != tc.immLen {
			t.Errorf("shape(% x, %d) = %+v, %v; want disp %d@%d imm %d@%d", tc.code, tc.mode, sh, ok, tc.dispLen, tc.dispOff, tc.immLen, tc.immOff)
		}
	}
}

// TestDecodeCacheClasses checks that instructions differing only in a
// displacement from a base register or a mid-sized immediate share an
// entry when their class is the same, and give the records the decoder
// gives, in 64- and 32-bit code.
func TestDecodeCacheClasses(t *testing.T) {
	code := [][]byte{
		{0x48, 0x8b, 0x43, 0x48},                   // mov rax, [rbx+0x48]
		{0x48, 0x8b, 0x43, 0x50},                   // mov rax, [rbx+0x50]: hit
		{0x48, 0x8b, 0x43, 0x00},                   // mov rax, [rbx+0]: another class
		{0x48, 0x8b, 0x43, 0x00},                   // hit
		{0x48, 0x8b, 0x83, 0, 0x10, 0, 0},          // mov rax, [rbx+0x1000]
		{0x48, 0x8b, 0x83, 0, 0x20, 0, 0},          // mov rax, [rbx+0x2000]: hit
		{0x48, 0x8b, 0x83, 0x45, 0x23, 1, 0},       // mov rax, [rbx+0x12345]: a constant
		{0x48, 0x8b, 0x83, 0x46, 0x23, 1, 0},       // another constant
		{0x48, 0x8b, 0x83, 0x10, 0, 0, 0},          // mov rax, [rbx+0x10] as disp32: small class
		{0x48, 0x8b, 0x83, 0xf0, 0xff, 0xff, 0xff}, // mov rax, [rbx-0x10]: hit
		{0x3d, 0, 2, 0, 0},                         // cmp eax, 0x200
		{0x3d, 0, 3, 0, 0},                         // cmp eax, 0x300: hit
		{0x3d, 0xff, 0, 0, 0},                      // cmp eax, 0xff: keeps its value
		{0x3d, 0xfe, 0, 0, 0},                      // cmp eax, 0xfe
		{0x3d, 0, 0x80, 0, 0},                      // cmp eax, 0x8000: not generalised
		{0x3d, 0x45, 0x23, 1, 0},                   // cmp eax, 0x12345: a constant
		{0xc7, 0x44, 0x24, 0x08, 0, 1, 0, 0},       // mov dword [rsp+8], 0x100
		{0xc7, 0x44, 0x24, 0x10, 0, 2, 0, 0},       // mov dword [rsp+0x10], 0x200: hit
		{0x66, 0x81, 0x7b, 0x10, 0, 2},             // cmp word [rbx+0x10], 0x200
		{0x66, 0x81, 0x7b, 0x18, 0xf0, 0xff},       // cmp word [rbx+0x18], -0x10: keeps its value
	}
	var b []byte
	for _, c := range code {
		b = append(b, c...)
	}
	for _, a := range emberkitAnalyzers(t) {
		c := newDecodeCache(a.mode, 0)
		checkCached(t, a, c, &xsec{addr: a.secs[0].addr, data: b}, func(n int) int { return n })
		if a.mode == 64 && c.hits < len(code)+6 {
			// Each instruction is looked up twice; six hit at their first
			// lookup through an earlier instruction's entry.
			t.Errorf("%d hits, %d misses: displacements or immediates of one class do not share an entry", c.hits, c.misses)
		}
	}
}

// emberkitAnalyzers returns analyzers of the 64- and 32-bit PE fixtures,
// whose addresses, imports and tables are real.
func emberkitAnalyzers(tb testing.TB) []*analyzer {
	tb.Helper()
	var as []*analyzer
	for _, p := range []string{"../../testdata/fixtures/bin/pe64-O2/emberkit-v1.exe", "../../testdata/fixtures/bin/pe32-O2/emberkit-v1.exe"} {
		bf, err := binfmt.LoadFile(p, binfmt.Limits{})
		if err != nil {
			tb.Fatal(err)
		}
		a, err := newAnalyzer(bf, Options{DataRefs: true})
		if err != nil {
			tb.Fatal(err)
		}
		as = append(as, a)
	}
	return as
}

// FuzzDecodeCache places the input in the code of a fixture, so that
// addresses, imports and tables are real, and checks the cache against
// the decoder at every offset.
func FuzzDecodeCache(f *testing.F) {
	f.Add([]byte{0xe8, 1, 2, 3, 4, 0x48, 0x8d, 0x05, 1, 2, 3, 4, 0xc3})
	f.Add([]byte{0x62, 0xf1, 0x7c, 0x48, 0x28, 0x05, 1, 2, 3, 4})
	f.Add([]byte{0xc4, 0xe3, 0x79, 0x0f, 0x05, 1, 2, 3, 4, 8})
	f.Add([]byte{0xff, 0x15, 0, 0x10, 0, 0, 0x48, 0x8b, 0x05, 0, 0, 0, 0})
	as := emberkitAnalyzers(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		for _, a := range as {
			c := newDecodeCache(a.mode, 0)
			s := &xsec{addr: a.secs[0].addr, data: b}
			// Twice over, so that the second pass meets what the first
			// stored at other addresses.
			checkCached(t, a, c, s, func(int) int { return 1 })
			s.addr += 0x1234
			checkCached(t, a, c, s, func(int) int { return 1 })
		}
	})
}

// TestCacheKeyOf checks the word-wise key against the bytes it stands for.
func TestCacheKeyOf(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		n := 1 + r.IntN(maxInsnLen)
		relLen, relOff := 0, 0
		if r.IntN(2) == 0 {
			relLen = []int{1, 2, 4}[r.IntN(3)]
			if relLen > n {
				relLen = 0
			} else {
				relOff = r.IntN(n - relLen + 1)
			}
		}
		code := make([]byte, n+r.IntN(20))
		for i := range code {
			code[i] = byte(r.Uint32())
		}
		var kb [16]byte
		copy(kb[:], code[:n])
		clear(kb[relOff : relOff+relLen])
		kb[maxInsnLen] = byte(n)
		w0, w1 := binary.LittleEndian.Uint64(kb[:8]), binary.LittleEndian.Uint64(kb[8:])
		if k0, k1 := cacheKeyOf(code, n, relOff, relLen); k0 != w0 || k1 != w1 {
			t.Fatalf("% x n=%d rel %d@%d: key %x %x, want %x %x", code, n, relLen, relOff, k0, k1, w0, w1)
		}
	}
}
