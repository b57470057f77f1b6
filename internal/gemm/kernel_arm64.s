//go:build arm64 && !purego

#include "textflag.h"
#include "neon_arm64.h"

// The 8×12 tile lives in V8..V31: row r, columns 4q..4q+3 in V(8+3r+q),
// so the accumulators are the tile in row-major order. A k step loads the
// 12 floats of the B panel into V0..V2 and multiplies them by the 8 A
// values of that k, one FMLA per accumulator: acc += a·b with one
// rounding, in increasing k, as the x86-64 kernels' FMAs.

// PSTEP: one k step on a packed A panel (the 8 values of one k are
// contiguous): they are loaded into V3 (rows 0..3) and V4 (rows 4..7) and
// used by lane.
#define PSTEP \
	VLD1.P 48(R10), [V0.S4, V1.S4, V2.S4] \
	VLD1.P 32(R1), [V3.S4, V4.S4] \
	FMLAE(8, 0, 3, 0) \
	FMLAE(9, 1, 3, 0) \
	FMLAE(10, 2, 3, 0) \
	FMLAE(11, 0, 3, 1) \
	FMLAE(12, 1, 3, 1) \
	FMLAE(13, 2, 3, 1) \
	FMLAE(14, 0, 3, 2) \
	FMLAE(15, 1, 3, 2) \
	FMLAE(16, 2, 3, 2) \
	FMLAE(17, 0, 3, 3) \
	FMLAE(18, 1, 3, 3) \
	FMLAE(19, 2, 3, 3) \
	FMLAE(20, 0, 4, 0) \
	FMLAE(21, 1, 4, 0) \
	FMLAE(22, 2, 4, 0) \
	FMLAE(23, 0, 4, 1) \
	FMLAE(24, 1, 4, 1) \
	FMLAE(25, 2, 4, 1) \
	FMLAE(26, 0, 4, 2) \
	FMLAE(27, 1, 4, 2) \
	FMLAE(28, 2, 4, 2) \
	FMLAE(29, 0, 4, 3) \
	FMLAE(30, 1, 4, 3) \
	FMLAE(31, 2, 4, 3)

// GSTEP: one k step on A read in place (row r at R1+r·rsa, the next k
// csa further): each of the 8 values is broadcast with a load.
#define GSTEP \
	VLD1.P 48(R10), [V0.S4, V1.S4, V2.S4] \
	VLD1R.P (R1)(R9), [V3.S4] \
	FMLA4(8, 0, 3) \
	FMLA4(9, 1, 3) \
	FMLA4(10, 2, 3) \
	VLD1R.P (R2)(R9), [V4.S4] \
	FMLA4(11, 0, 4) \
	FMLA4(12, 1, 4) \
	FMLA4(13, 2, 4) \
	VLD1R.P (R3)(R9), [V5.S4] \
	FMLA4(14, 0, 5) \
	FMLA4(15, 1, 5) \
	FMLA4(16, 2, 5) \
	VLD1R.P (R4)(R9), [V6.S4] \
	FMLA4(17, 0, 6) \
	FMLA4(18, 1, 6) \
	FMLA4(19, 2, 6) \
	VLD1R.P (R5)(R9), [V7.S4] \
	FMLA4(20, 0, 7) \
	FMLA4(21, 1, 7) \
	FMLA4(22, 2, 7) \
	VLD1R.P (R6)(R9), [V3.S4] \
	FMLA4(23, 0, 3) \
	FMLA4(24, 1, 3) \
	FMLA4(25, 2, 3) \
	VLD1R.P (R7)(R9), [V4.S4] \
	FMLA4(26, 0, 4) \
	FMLA4(27, 1, 4) \
	FMLA4(28, 2, 4) \
	VLD1R.P (R8)(R9), [V5.S4] \
	FMLA4(29, 0, 5) \
	FMLA4(30, 1, 5) \
	FMLA4(31, 2, 5)

// func sgemm8x12(kc int, a *float32, rsa int, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows int, cols int)
//
// A full tile (rows == 8, cols == 12) is finished in registers:
// (acc + bias) + x, stored a row at a time. An edge tile is spilled to
// the 384-byte frame and finished one float at a time, so that nothing
// outside rows×cols of c, x and bias is read or written.
TEXT ·sgemm8x12(SB), NOSPLIT, $384-96
	MOVD kc+0(FP), R0
	MOVD a+8(FP), R1
	MOVD rsa+16(FP), R11
	MOVD csa+24(FP), R9
	MOVD b+32(FP), R10

	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16
	VEOR V24.B16, V24.B16, V24.B16
	VEOR V25.B16, V25.B16, V25.B16
	VEOR V26.B16, V26.B16, V26.B16
	VEOR V27.B16, V27.B16, V27.B16
	VEOR V28.B16, V28.B16, V28.B16
	VEOR V29.B16, V29.B16, V29.B16
	VEOR V30.B16, V30.B16, V30.B16
	VEOR V31.B16, V31.B16, V31.B16
	CBZ  R0, store

	// Packed A (rsa 1, csa 8)?
	CMP  $1, R11
	BNE  general
	CMP  $8, R9
	BNE  general

packed:
	PSTEP
	SUBS $1, R0, R0
	BNE  packed
	B    store

general:
	LSL  $2, R11
	LSL  $2, R9
	ADD  R11, R1, R2
	ADD  R11, R2, R3
	ADD  R11, R3, R4
	ADD  R11, R4, R5
	ADD  R11, R5, R6
	ADD  R11, R6, R7
	ADD  R11, R7, R8

gloop:
	GSTEP
	SUBS $1, R0, R0
	BNE  gloop

store:
	MOVD rows+80(FP), R0
	CMP  $8, R0
	BNE  edge
	MOVD cols+88(FP), R0
	CMP  $12, R0
	BNE  edge

	MOVD bias+72(FP), R0
	CBZ  R0, nobias
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(8, 8, 0)
	FADD4(9, 9, 1)
	FADD4(10, 10, 2)
	FADD4(11, 11, 0)
	FADD4(12, 12, 1)
	FADD4(13, 13, 2)
	FADD4(14, 14, 0)
	FADD4(15, 15, 1)
	FADD4(16, 16, 2)
	FADD4(17, 17, 0)
	FADD4(18, 18, 1)
	FADD4(19, 19, 2)
	FADD4(20, 20, 0)
	FADD4(21, 21, 1)
	FADD4(22, 22, 2)
	FADD4(23, 23, 0)
	FADD4(24, 24, 1)
	FADD4(25, 25, 2)
	FADD4(26, 26, 0)
	FADD4(27, 27, 1)
	FADD4(28, 28, 2)
	FADD4(29, 29, 0)
	FADD4(30, 30, 1)
	FADD4(31, 31, 2)

nobias:
	MOVD x+56(FP), R0
	CBZ  R0, nox
	MOVD ldx+64(FP), R1
	LSL  $2, R1
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(8, 8, 0)
	FADD4(9, 9, 1)
	FADD4(10, 10, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(11, 11, 0)
	FADD4(12, 12, 1)
	FADD4(13, 13, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(14, 14, 0)
	FADD4(15, 15, 1)
	FADD4(16, 16, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(17, 17, 0)
	FADD4(18, 18, 1)
	FADD4(19, 19, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(20, 20, 0)
	FADD4(21, 21, 1)
	FADD4(22, 22, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(23, 23, 0)
	FADD4(24, 24, 1)
	FADD4(25, 25, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(26, 26, 0)
	FADD4(27, 27, 1)
	FADD4(28, 28, 2)
	ADD  R1, R0
	VLD1 (R0), [V0.S4, V1.S4, V2.S4]
	FADD4(29, 29, 0)
	FADD4(30, 30, 1)
	FADD4(31, 31, 2)

nox:
	MOVD c+40(FP), R0
	MOVD ldc+48(FP), R1
	LSL  $2, R1
	VST1 [V8.S4, V9.S4, V10.S4], (R0)
	ADD  R1, R0
	VST1 [V11.S4, V12.S4, V13.S4], (R0)
	ADD  R1, R0
	VST1 [V14.S4, V15.S4, V16.S4], (R0)
	ADD  R1, R0
	VST1 [V17.S4, V18.S4, V19.S4], (R0)
	ADD  R1, R0
	VST1 [V20.S4, V21.S4, V22.S4], (R0)
	ADD  R1, R0
	VST1 [V23.S4, V24.S4, V25.S4], (R0)
	ADD  R1, R0
	VST1 [V26.S4, V27.S4, V28.S4], (R0)
	ADD  R1, R0
	VST1 [V29.S4, V30.S4, V31.S4], (R0)
	RET

edge:
	// Spill the tile (48 bytes a row), then row by row, float by float:
	// v = (acc + bias) + x, stored to c.
	MOVD $tile-384(SP), R7
	MOVD R7, R0
	VST1.P [V8.S4, V9.S4, V10.S4, V11.S4], 64(R0)
	VST1.P [V12.S4, V13.S4, V14.S4, V15.S4], 64(R0)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R0)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R0)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R0)
	VST1.P [V28.S4, V29.S4, V30.S4, V31.S4], 64(R0)
	MOVD rows+80(FP), R0
	MOVD cols+88(FP), R1
	MOVD c+40(FP), R2
	MOVD ldc+48(FP), R3
	LSL  $2, R3
	MOVD x+56(FP), R4
	MOVD ldx+64(FP), R5
	LSL  $2, R5
	MOVD bias+72(FP), R6

edgerow:
	MOVD $0, R8

edgecol:
	FMOVS (R7)(R8<<2), F0
	CBZ   R6, edgenobias
	FMOVS (R6)(R8<<2), F1
	FADDS F1, F0, F0

edgenobias:
	CBZ   R4, edgenox
	FMOVS (R4)(R8<<2), F1
	FADDS F1, F0, F0

edgenox:
	FMOVS F0, (R2)(R8<<2)
	ADD   $1, R8
	CMP   R1, R8
	BLT   edgecol
	ADD   $48, R7
	ADD   R3, R2
	CBZ   R4, edgenext
	ADD   R5, R4

edgenext:
	SUBS $1, R0, R0
	BNE  edgerow
	RET
