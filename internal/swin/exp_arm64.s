//go:build arm64 && !purego

#include "textflag.h"

// e^x for 4 float32 lanes at a time, 8 values a loop: the steps of
// exp_amd64.s (and of expf in ops.go) in the same order with the same
// fused multiply-adds, so that the results and the sum have the same bits
// as the AVX2 code: x clamped below at -87, x = n·ln2 + r (n rounded to
// nearest, ln2 in two parts), e^r by Cephes' expf polynomial, times 2^n
// built in the exponent bits.

// Vector instructions the Go assembler does not have, as instruction
// words on .4S lanes; arguments are register numbers, d the destination,
// n and m the sources in the order of the Arm mnemonic, i a lane of m.
#define FADD4(d, n, m) WORD $(0x4E20D400|((m)<<16)|((n)<<5)|(d))
#define FSUB4(d, n, m) WORD $(0x4EA0D400|((m)<<16)|((n)<<5)|(d))
#define FMUL4(d, n, m) WORD $(0x6E20DC00|((m)<<16)|((n)<<5)|(d))
#define FMLA4(d, n, m) WORD $(0x4E20CC00|((m)<<16)|((n)<<5)|(d))
#define FMAX4(d, n, m) WORD $(0x4E20F400|((m)<<16)|((n)<<5)|(d))
#define FMAXNM4(d, n, m) WORD $(0x4E20C400|((m)<<16)|((n)<<5)|(d))
#define FMLAE(d, n, m, i) WORD $(0x4F801000|(((i)&1)<<21)|(((i)>>1)<<11)|((m)<<16)|((n)<<5)|(d))
#define FMLSE(d, n, m, i) WORD $(0x4F805000|(((i)&1)<<21)|(((i)>>1)<<11)|((m)<<16)|((n)<<5)|(d))
#define FMULE(d, n, m, i) WORD $(0x4F809000|(((i)&1)<<21)|(((i)>>1)<<11)|((m)<<16)|((n)<<5)|(d))
#define FRINTN4(d, n) WORD $(0x4E218800|((n)<<5)|(d))
#define FCVTZS4(d, n) WORD $(0x4EA1B800|((n)<<5)|(d))
// Sd = Vn[0] + Vn[1] (FADDP, scalar); Sd = the largest of Vn's lanes (FMAXV)
#define FADDP2(d, n) WORD $(0x7E30D800|((n)<<5)|(d))
#define FMAXV4(d, n) WORD $(0x6E30F800|((n)<<5)|(d))

// V16: log2(e), ln 2 high part, ln 2 - ln2hi, e5; V17: e4, e3, e2, e1;
// V18: e0, -87, 1, and the bits of 1.0 (2^0 as an int32).
DATA expc<>+0(SB)/4, $0x3fb8aa3b
DATA expc<>+4(SB)/4, $0x3f318000
DATA expc<>+8(SB)/4, $0xb95e8083
DATA expc<>+12(SB)/4, $0x39506967
DATA expc<>+16(SB)/4, $0x3ab743ce
DATA expc<>+20(SB)/4, $0x3c088908
DATA expc<>+24(SB)/4, $0x3d2aa9c1
DATA expc<>+28(SB)/4, $0x3e2aaaaa
DATA expc<>+32(SB)/4, $0x3f000000
DATA expc<>+36(SB)/4, $0xc2ae0000
DATA expc<>+40(SB)/4, $0x3f800000
DATA expc<>+44(SB)/4, $0x3f800000
GLOBL expc<>(SB), RODATA|NOPTR, $48

// func expSubSumNEON(x *float32, n int, mx float32) float32
// x[i] = e^(x[i]-mx) for i < n (n a multiple of 8); returns the sum of the
// results: lanes 0..3 and 4..7 of each 8 summed in V13 and V14, added in
// the order of the AVX2 code's reduction.
TEXT ·expSubSumNEON(SB), NOSPLIT, $0-28
	MOVD  x+0(FP), R0
	MOVD  n+8(FP), R1
	FMOVS mx+16(FP), F22
	VDUP  V22.S[0], V22.S4
	MOVD  $expc<>(SB), R2
	VLD1  (R2), [V16.S4, V17.S4, V18.S4]
	VDUP  V18.S[1], V19.S4
	VDUP  V18.S[2], V20.S4
	VDUP  V18.S[3], V21.S4
	VEOR  V13.B16, V13.B16, V13.B16
	VEOR  V14.B16, V14.B16, V14.B16
	LSR   $3, R1
	CBZ   R1, done

loop:
	VLD1 (R0), [V0.S4, V1.S4]
	// lanes 0..3 in V0
	FSUB4(0, 0, 22)
	FMAXNM4(0, 0, 19)         // max(x, -87); -87 for NaN, as VMAXPS
	FMULE(2, 0, 16, 0)
	FRINTN4(2, 2)              // n = round(x·log2(e))
	FMLSE(0, 2, 16, 1)
	FMLSE(0, 2, 16, 2)          // r = x - n·ln2hi - n·ln2lo
	VDUP V17.S[0], V3.S4
	FMLAE(3, 0, 16, 3)          // e5·r + e4
	VDUP V17.S[1], V4.S4
	FMLA4(4, 3, 0)
	VDUP V17.S[2], V3.S4
	FMLA4(3, 4, 0)
	VDUP V17.S[3], V4.S4
	FMLA4(4, 3, 0)
	VDUP V18.S[0], V3.S4
	FMLA4(3, 4, 0)
	FMUL4(4, 0, 0)            // r²
	FMLA4(0, 3, 4)            // p·r² + r
	FADD4(0, 0, 20)             // e^r
	FCVTZS4(2, 2)
	VSHL $23, V2.S4, V2.S4
	VADD V21.S4, V2.S4, V2.S4  // 2^n
	FMUL4(0, 0, 2)
	// lanes 4..7 in V1
	FSUB4(1, 1, 22)
	FMAXNM4(1, 1, 19)         // max(x, -87); -87 for NaN, as VMAXPS
	FMULE(5, 1, 16, 0)
	FRINTN4(5, 5)              // n = round(x·log2(e))
	FMLSE(1, 5, 16, 1)
	FMLSE(1, 5, 16, 2)          // r = x - n·ln2hi - n·ln2lo
	VDUP V17.S[0], V6.S4
	FMLAE(6, 1, 16, 3)          // e5·r + e4
	VDUP V17.S[1], V7.S4
	FMLA4(7, 6, 1)
	VDUP V17.S[2], V6.S4
	FMLA4(6, 7, 1)
	VDUP V17.S[3], V7.S4
	FMLA4(7, 6, 1)
	VDUP V18.S[0], V6.S4
	FMLA4(6, 7, 1)
	FMUL4(7, 1, 1)            // r²
	FMLA4(1, 6, 7)            // p·r² + r
	FADD4(1, 1, 20)             // e^r
	FCVTZS4(5, 5)
	VSHL $23, V5.S4, V5.S4
	VADD V21.S4, V5.S4, V5.S4  // 2^n
	FMUL4(1, 1, 5)
	VST1.P [V0.S4, V1.S4], 32(R0)
	FADD4(13, 13, 0)
	FADD4(14, 14, 1)
	SUBS $1, R1, R1
	BNE  loop

done:
	FADD4(0, 13, 14)                 // s0+s4, s1+s5, s2+s6, s3+s7
	VEXT  $8, V0.B16, V0.B16, V1.B16
	FADD4(0, 0, 1)                   // (s0+s4)+(s2+s6), (s1+s5)+(s3+s7)
	FADDP2(0, 0)
	FMOVS F0, ret+24(FP)
	RET

// func scaleBiasMaxNEON(row, bias, mask *float32, n int, scale float32) float32
// row[i] = row[i]*scale + bias[i] (one rounding, as VFMADD) (+ mask[i]
// unless mask is nil) for i < n (a multiple of 8); returns the largest
// result (-Inf for n = 0).
TEXT ·scaleBiasMaxNEON(SB), NOSPLIT, $0-44
	MOVD  row+0(FP), R0
	MOVD  bias+8(FP), R1
	MOVD  mask+16(FP), R2
	MOVD  n+24(FP), R3
	FMOVS scale+32(FP), F15
	MOVW  $0xff800000, R4
	VDUP  R4, V14.S4
	VMOV  V14.B16, V13.B16
	LSR   $3, R3
	CBZ   R3, reduce
	CBZ   R2, nomask

masked:
	VLD1   (R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V2.S4, V3.S4]
	VLD1.P 32(R2), [V4.S4, V5.S4]
	FMLAE(2, 0, 15, 0)
	FMLAE(3, 1, 15, 0)
	FADD4(2, 2, 4)
	FADD4(3, 3, 5)
	FMAX4(13, 13, 2)
	FMAX4(14, 14, 3)
	VST1.P [V2.S4, V3.S4], 32(R0)
	SUBS   $1, R3, R3
	BNE    masked
	B      reduce

nomask:
	VLD1   (R0), [V0.S4, V1.S4]
	VLD1.P 32(R1), [V2.S4, V3.S4]
	FMLAE(2, 0, 15, 0)
	FMLAE(3, 1, 15, 0)
	FMAX4(13, 13, 2)
	FMAX4(14, 14, 3)
	VST1.P [V2.S4, V3.S4], 32(R0)
	SUBS   $1, R3, R3
	BNE    nomask

reduce:
	FMAX4(13, 13, 14)
	FMAXV4(0, 13)
	FMOVS F0, ret+40(FP)
	RET
