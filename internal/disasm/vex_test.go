package disasm

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// VZEROUPPER ends most AVX code; a wrong length misaligns what follows.
func TestDecodeVZero(t *testing.T) {
	for _, c := range []struct {
		code []byte
		op   x86asm.Op
		n    int
	}{
		{[]byte{0xc5, 0xf8, 0x77, 0xc3}, x86asm.VZEROUPPER, 3},
		{[]byte{0xc5, 0xfc, 0x77, 0xc3}, x86asm.VZEROALL, 3},
		{[]byte{0xc4, 0xe1, 0x78, 0x77, 0xc3}, x86asm.VZEROUPPER, 4},
	} {
		in, err := decodeInsn(c.code, 64)
		if err != nil || in.Op != c.op || in.Len != c.n {
			t.Errorf("% x: %v len %d err %v, want %v len %d", c.code, in.Op, in.Len, err, c.op, c.n)
			continue
		}
		next, err := decodeInsn(c.code[in.Len:], 64)
		if err != nil || next.Op != x86asm.RET {
			t.Errorf("% x: after it %v %v, want RET", c.code, next.Op, err)
		}
	}
}
