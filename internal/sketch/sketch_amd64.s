//go:build amd64 && !purego

#include "textflag.h"

// Offsets of the fields of coefTable.
#define TAB_A 0
#define TAB_AS 512
#define TAB_B 1024

// STORE8 writes 8 minima in order at off(DI): the high dwords of the
// accumulators lo and hi. VSHUFPS interleaves them per 128-bit half,
// VPERMQ restores the order.
#define STORE8(lo, hi, off) \
	VSHUFPS $0xDD, hi, lo, lo; \
	VPERMQ  $0xD8, lo, lo; \
	VMOVDQU lo, off(DI)

// GROUP lowers acc, the minima of 4 hash functions in the high dwords of
// its lanes, by the hashes of the mixed shingle m = mh:ml broadcast in Y8.
// With a = ah:al the high 32 bits of m*a+b are those of ml*al+b (a
// 64-bit add, so the carry out of the low half is exact) plus the low 32
// bits of mh*al + ml*ah. One VPMULLD against as = al:ah gives both of
// those terms, one per dword; the shift moves the low one up to be added.
// The low dwords of acc collect junk and are never read.
#define GROUP(off, acc, p, x, y) \
	VPMULUDQ (TAB_A+off)(DX), Y8, p; \
	VPADDQ   (TAB_B+off)(DX), p, p; \
	VPMULLD  (TAB_AS+off)(DX), Y8, x; \
	VPSLLQ   $32, x, y; \
	VPADDD   x, p, p; \
	VPADDD   y, p, p; \
	VPMINUD  p, acc, acc

// func minHashKernelAVX2(sig *Signature, c *coefTable, shingles []uint64)
//
// Two passes of 32 hash functions: the 8 accumulators of a pass stay in
// registers across all shingles, and the coefficients are memory operands
// (registers are too few to hold them, and loads are not the bottleneck;
// the multiplies are). Each pass mixes the shingles again: the scalar Mix
// runs on the integer units alongside the vector work, which is cheaper
// than a buffer of mixed shingles.
TEXT ·minHashKernelAVX2(SB), NOSPLIT, $0-40
	MOVQ sig+0(FP), DI
	MOVQ c+8(FP), DX
	MOVQ shingles_base+16(FP), SI
	MOVQ shingles_len+24(FP), CX
	MOVQ $0xff51afd7ed558ccd, R11
	MOVQ $0xc4ceb9fe1a85ec53, R12
	MOVQ $2, R8

pass:
	// All ones: the minimum of no hashes.
	VPCMPEQD Y0, Y0, Y0
	VMOVDQA  Y0, Y1
	VMOVDQA  Y0, Y2
	VMOVDQA  Y0, Y3
	VMOVDQA  Y0, Y4
	VMOVDQA  Y0, Y5
	VMOVDQA  Y0, Y6
	VMOVDQA  Y0, Y7
	MOVQ     SI, AX
	MOVQ     CX, BX
	TESTQ    BX, BX
	JZ       store

loop:
	// Mix(x), as in Go.
	MOVQ         (AX), R9
	MOVQ         R9, R10
	SHRQ         $33, R10
	XORQ         R10, R9
	IMULQ        R11, R9
	MOVQ         R9, R10
	SHRQ         $33, R10
	XORQ         R10, R9
	IMULQ        R12, R9
	MOVQ         R9, R10
	SHRQ         $33, R10
	XORQ         R10, R9
	VMOVQ        R9, X8
	VPBROADCASTQ X8, Y8
	GROUP(0, Y0, Y10, Y11, Y12)
	GROUP(32, Y1, Y13, Y14, Y15)
	GROUP(64, Y2, Y10, Y11, Y12)
	GROUP(96, Y3, Y13, Y14, Y15)
	GROUP(128, Y4, Y10, Y11, Y12)
	GROUP(160, Y5, Y13, Y14, Y15)
	GROUP(192, Y6, Y10, Y11, Y12)
	GROUP(224, Y7, Y13, Y14, Y15)
	ADDQ         $8, AX
	DECQ         BX
	JNZ          loop

store:
	STORE8(Y0, Y1, 0)
	STORE8(Y2, Y3, 32)
	STORE8(Y4, Y5, 64)
	STORE8(Y6, Y7, 96)
	ADDQ    $128, DI
	ADDQ    $256, DX
	DECQ    R8
	JNZ     pass
	VZEROUPPER
	RET
