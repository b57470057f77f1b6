//go:build amd64 && !purego

#include "textflag.h"

// func packT8(n8 int, r0, r1, r2, r3, r4, r5, r6, r7 *float32, dst *float32, ldd int)
//
// Transposes 8 rows of 8*n8 floats: for p < 8*n8, the 8 floats
// r0[p], ..., r7[p] are stored at dst[p*ldd:], in increasing p (so with
// ldd < 8 each store overwrites the tail of the one before; the last one
// writes 8 floats).
TEXT ·packT8(SB), NOSPLIT, $0-88
	MOVQ  n8+0(FP), SI
	MOVQ  r0+8(FP), AX
	MOVQ  r1+16(FP), BX
	MOVQ  r2+24(FP), CX
	MOVQ  r3+32(FP), DX
	MOVQ  r4+40(FP), R8
	MOVQ  r5+48(FP), R9
	MOVQ  r6+56(FP), R10
	MOVQ  r7+64(FP), R11
	MOVQ  dst+72(FP), DI
	MOVQ  ldd+80(FP), R13
	SHLQ  $2, R13
	XORQ  R14, R14
	TESTQ SI, SI
	JLE   done

loop:
	// Y0..Y3: columns 0..3 of rows (0,4), (1,5), (2,6), (3,7), one row
	// per 128-bit lane; Y4..Y7: columns 4..7.
	VMOVUPS     (AX)(R14*1), X0
	VINSERTF128 $1, (R8)(R14*1), Y0, Y0
	VMOVUPS     (BX)(R14*1), X1
	VINSERTF128 $1, (R9)(R14*1), Y1, Y1
	VMOVUPS     (CX)(R14*1), X2
	VINSERTF128 $1, (R10)(R14*1), Y2, Y2
	VMOVUPS     (DX)(R14*1), X3
	VINSERTF128 $1, (R11)(R14*1), Y3, Y3
	VMOVUPS     16(AX)(R14*1), X4
	VINSERTF128 $1, 16(R8)(R14*1), Y4, Y4
	VMOVUPS     16(BX)(R14*1), X5
	VINSERTF128 $1, 16(R9)(R14*1), Y5, Y5
	VMOVUPS     16(CX)(R14*1), X6
	VINSERTF128 $1, 16(R10)(R14*1), Y6, Y6
	VMOVUPS     16(DX)(R14*1), X7
	VINSERTF128 $1, 16(R11)(R14*1), Y7, Y7

	// 4×4 transposes within each lane.
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VSHUFPS   $0x44, Y10, Y8, Y12
	VSHUFPS   $0xEE, Y10, Y8, Y13
	VSHUFPS   $0x44, Y11, Y9, Y14
	VSHUFPS   $0xEE, Y11, Y9, Y15
	VMOVUPS   Y12, (DI)
	VMOVUPS   Y13, (DI)(R13*1)
	LEAQ      (DI)(R13*2), R12
	VMOVUPS   Y14, (R12)
	VMOVUPS   Y15, (R12)(R13*1)
	LEAQ      (R12)(R13*2), R12

	VUNPCKLPS Y5, Y4, Y8
	VUNPCKHPS Y5, Y4, Y9
	VUNPCKLPS Y7, Y6, Y10
	VUNPCKHPS Y7, Y6, Y11
	VSHUFPS   $0x44, Y10, Y8, Y12
	VSHUFPS   $0xEE, Y10, Y8, Y13
	VSHUFPS   $0x44, Y11, Y9, Y14
	VSHUFPS   $0xEE, Y11, Y9, Y15
	VMOVUPS   Y12, (R12)
	VMOVUPS   Y13, (R12)(R13*1)
	LEAQ      (R12)(R13*2), DI
	VMOVUPS   Y14, (DI)
	VMOVUPS   Y15, (DI)(R13*1)
	LEAQ      (DI)(R13*2), DI

	ADDQ $32, R14
	DECQ SI
	JNZ  loop

done:
	VZEROUPPER
	RET
