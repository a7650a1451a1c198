package disasm

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
)

// overlapping is the anti-disassembly sequence of
// testdata/malformed/gen.go: jumps and a call into the middle of
// instructions already decoded.
var overlapping = []byte{
	0xeb, 0xff, // jmp $+1: lands on the 0xff of its own encoding
	0xc0,             // ...which decodes as ff c0, inc eax
	0x74, 0x01, 0xe8, // jz over a lone call opcode byte
	0x31, 0xc0, // xor eax, eax
	0x75, 0xfb, // jnz back into the middle of the jz
	0xe8, 0xf2, 0xff, 0xff, 0xff, // call back into the middle of the first jmp
	0xeb, 0xf8, // jmp into the middle of the call's displacement
	0xc3,
}

func overlapAnomalies(t *testing.T, im image, code []byte) []string {
	t.Helper()
	r, err := Analyze(im.file(code, im.text), Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range r.Anomalies {
		if strings.Contains(a, "overlapping instructions") {
			out = append(out, a)
		}
	}
	return out
}

func TestOverlappingInstructions(t *testing.T) {
	for _, im := range []image{img64, img32} {
		got := overlapAnomalies(t, im, overlapping)
		if len(got) == 0 {
			t.Fatalf("%d-bit: no overlap recorded", im.bits)
		}
		want := fmt.Sprintf("function at 0x%x: jump at 0x%[1]x lands at 0x%x, inside the instruction at 0x%[1]x: overlapping instructions", im.text, im.text+1)
		if !strings.HasPrefix(got[0], want) {
			t.Errorf("%d-bit: %q, want prefix %q", im.bits, got[0], want)
		}
	}
}

// Compilers jump over prefixes (a lock taken only when threaded, rep ret
// for old AMD branch predictors) and past their own code in ways that are
// not overlaps.
func TestNoOverlapForCompilerIdioms(t *testing.T) {
	cases := []struct {
		name string
		code []byte
	}{
		{"jump over lock", []byte{
			0x85, 0xc0, // test eax, eax
			0x74, 0x01, // je over the lock prefix
			0xf0, 0x0f, 0xb1, 0x0a, // lock cmpxchg [rdx], ecx
			0xc3,
		}},
		{"jump into rep ret", []byte{
			0x85, 0xc0, // test eax, eax
			0x75, 0x01, // jne to the ret of rep ret
			0xf3, 0xc3, // rep ret
		}},
		{"loop", []byte{
			0x31, 0xc0, // xor eax, eax
			0xff, 0xc0, // inc eax
			0x83, 0xf8, 0x10, // cmp eax, 16
			0x75, 0xf9, // jne back to inc
			0xc3,
		}},
	}
	for _, c := range cases {
		for _, im := range []image{img64, img32} {
			if got := overlapAnomalies(t, im, c.code); len(got) > 0 {
				t.Errorf("%s, %d-bit: %q", c.name, im.bits, got)
			}
		}
	}
}

// The malformed suite's entry points that jump and call into their own
// instructions (testdata/malformed) are recorded.
func TestOverlappingMalformedSuite(t *testing.T) {
	for _, name := range []string{"elf-jump-mid-insn", "elf32-jump-mid-insn", "pe-jump-mid-insn", "pe32-jump-mid-insn"} {
		f, err := binfmt.LoadFile(filepath.Join("..", "..", "testdata", "malformed", name+".bin"), binfmt.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := Analyze(f, Options{Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("function at 0x%x: jump at 0x%[1]x lands at 0x%x, inside the instruction at 0x%[1]x: overlapping instructions", f.Entry, f.Entry+1)
		if !slices.ContainsFunc(r.Anomalies, func(a string) bool { return strings.HasPrefix(a, want) }) {
			t.Errorf("%s: anomalies %q lack %q", name, r.Anomalies, want)
		}
	}
}
