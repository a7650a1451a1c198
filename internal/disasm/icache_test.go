package disasm

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
	"golang.org/x/arch/x86/x86asm"
)

// checkCached decodes every offset of code with the cache and without it
// and fails on any difference. Each offset is decoded twice through the
// cache, so that the second decode is a hit whenever the first stored it.
func checkCached(t testing.TB, c *decodeCache, code []byte, step func(n int) int) {
	t.Helper()
	for off := 0; off < len(code); {
		want, werr := decodeInsn(code[off:], c.mode)
		for range 2 {
			got, tok, gerr := c.decode(code[off:])
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("mode %d offset %#x % x: error %v, cached %v", c.mode, off, code[off:min(len(code), off+maxInsnLen)], werr, gerr)
			}
			if werr != nil {
				continue
			}
			if *got != want {
				t.Fatalf("mode %d offset %#x % x:\n got %+v\nwant %+v", c.mode, off, code[off:off+want.Len], *got, want)
			}
			if wt := token(&want); tok != wt {
				t.Fatalf("mode %d offset %#x: token %x, want %x", c.mode, off, tok, wt)
			}
		}
		n := 1
		if werr == nil && want.Len > 0 {
			n = want.Len
		}
		off += step(n)
	}
}

func codeSections(t testing.TB, path string) (*binfmt.File, [][]byte) {
	f, err := binfmt.LoadFile(path, binfmt.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, s := range f.Sections {
		if s.Exec && len(s.Data) > 0 {
			out = append(out, s.Data)
		}
	}
	return f, out
}

func mode(f *binfmt.File) int {
	if f.Arch == model.Arch386 {
		return 32
	}
	return 64
}

// TestDecodeCacheAgrees checks the cache against the decoder on every
// fixture: along the instruction stream, where hits are frequent, and at
// every byte offset, where the bytes are mostly not instructions at all.
func TestDecodeCacheAgrees(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/fixtures/bin/*/*")
	if home, err := os.UserHomeDir(); err == nil && !testing.Short() {
		// A large real binary when the corpus cache has one.
		paths = append(paths, filepath.Join(home, ".cache/kinship-corpus/turbo/1.0.24/turbo.exe"))
	}
	tested := 0
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		f, secs := codeSections(t, p)
		if f.Arch != model.Arch386 && f.Arch != model.ArchAMD64 {
			continue
		}
		tested++
		m := mode(f)
		stream, every := newDecodeCache(m, 1<<20), newDecodeCache(m, 1<<20)
		for _, code := range secs {
			checkCached(t, stream, code, func(n int) int { return n })
			checkCached(t, every, code[:min(len(code), 1<<16)], func(int) int { return 1 })
		}
		// The cache must be doing its work: most of a compiler's
		// instructions repeat.
		if r := float64(stream.hits) / float64(stream.hits+stream.misses); r < 0.5 {
			t.Errorf("%s: cache hit rate %.2f along the instruction stream", p, r)
		}
	}
	if tested < 10 {
		t.Fatalf("only %d binaries tested", tested)
	}
}

// TestDecodeCacheRandom runs the same check over random bytes, biased to
// the bytes that start instructions with PC-relative fields.
func TestDecodeCacheRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	hot := []byte{0x0f, 0x48, 0x4c, 0x66, 0x67, 0x8b, 0x8d, 0xe8, 0xe9, 0xeb, 0x74, 0x05, 0x15, 0x25, 0x35, 0x3d, 0xc4, 0xc5, 0x62, 0xf3, 0xf2, 0x80, 0x8f, 0xf6, 0xf7, 0xa0, 0xa3}
	for _, m := range []int{32, 64} {
		c := newDecodeCache(m, 1<<20)
		code := make([]byte, 1<<16)
		for round := 0; round < 20; round++ {
			for i := range code {
				if r.IntN(3) == 0 {
					code[i] = hot[r.IntN(len(hot))]
				} else {
					code[i] = byte(r.Uint32())
				}
			}
			checkCached(t, c, code, func(int) int { return 1 })
		}
		if c.hits == 0 {
			t.Errorf("mode %d: no hits", m)
		}
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
		{64, []byte{0xc5, 0xf8, 0x28, 0x05, 1, 2, 3, 4}, 8, 4, 4},           // vmovaps xmm0, [rip+x]
		{64, []byte{0xf7, 0x05, 1, 2, 3, 4, 5, 6, 7, 8}, 10, 2, 4},          // test dword [rip+x], imm32
		{64, []byte{0x66, 0x0f, 0x3a, 0x0f, 0x05, 1, 2, 3, 4, 8}, 10, 5, 4}, // palignr xmm0, [rip+x], 8
	} {
		n, off, length, ok := shape(tc.code, tc.mode)
		if !ok || n != tc.n || off != tc.off || length != tc.length {
			t.Errorf("shape(% x, %d) = %d, %d, %d, %v; want %d, %d, %d", tc.code, tc.mode, n, off, length, ok, tc.n, tc.off, tc.length)
		}
		inst, err := x86asm.Decode(tc.code, tc.mode)
		// x86asm leaves PCRel unset for VEX operands, so the cache decodes
		// such instructions every time.
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

func FuzzDecodeCache(f *testing.F) {
	f.Add([]byte{0xe8, 1, 2, 3, 4, 0x48, 0x8d, 0x05, 1, 2, 3, 4, 0xc3})
	f.Add([]byte{0x62, 0xf1, 0x7c, 0x48, 0x28, 0x05, 1, 2, 3, 4})
	f.Add([]byte{0xc4, 0xe3, 0x79, 0x0f, 0x05, 1, 2, 3, 4, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 4096 {
			return
		}
		for _, m := range []int{32, 64} {
			c := newDecodeCache(m, 0)
			// Twice over, so that the second pass meets what the first stored.
			checkCached(t, c, b, func(int) int { return 1 })
			checkCached(t, c, b, func(int) int { return 1 })
		}
	})
}
