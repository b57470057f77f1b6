//go:build arm64 && !purego

#include "textflag.h"
#include "neon_arm64.h"

// Exact GELU on four lanes: the algorithm and the order of operations of
// gelu_amd64.s (see there), instruction for instruction where it matters
// for the result: the same FMAs (FMLA/FMLS with one rounding where the
// AVX2 code has VFMADD/VFNMSUB/VFNMADD), the same products, sums, the
// division and the round to nearest even, so that the two give the same
// bits on every input except NaN payloads.

// Constants, four to a vector, used by lane (V16..V21); V22 = 1, V23 = 87,
// V24 = int32 127 in every lane.
// V16: 1/(2√2), 1, 1/2, -log2(e)/2
DATA geluc<>+0(SB)/4, $0x3eb504f3
DATA geluc<>+4(SB)/4, $0x3f800000
DATA geluc<>+8(SB)/4, $0x3f000000
DATA geluc<>+12(SB)/4, $0xbf38aa3b
// V17: R's coefficients of t^9, t^8, t^7, t^6
DATA geluc<>+16(SB)/4, $0x3c5522e4
DATA geluc<>+20(SB)/4, $0xbe022a37
DATA geluc<>+24(SB)/4, $0x3ee026b9
DATA geluc<>+28(SB)/4, $0xbf2e78ba
// V18: t^5, t^4, t^3, t^2
DATA geluc<>+32(SB)/4, $0x3edc7031
DATA geluc<>+36(SB)/4, $0xbdd32aeb
DATA geluc<>+40(SB)/4, $0x3e6893df
DATA geluc<>+44(SB)/4, $0x3e740aca
// V19: t^1, t^0, ln 2 high part (9 bits), ln 2 - ln2hi
DATA geluc<>+48(SB)/4, $0x3e90d76d
DATA geluc<>+52(SB)/4, $0x3e906a87
DATA geluc<>+56(SB)/4, $0x3f318000
DATA geluc<>+60(SB)/4, $0xb95e8083
// V20: exp coefficients e5, e4, e3, e2
DATA geluc<>+64(SB)/4, $0x39506967
DATA geluc<>+68(SB)/4, $0x3ab743ce
DATA geluc<>+72(SB)/4, $0x3c088908
DATA geluc<>+76(SB)/4, $0x3d2aa9c1
// V21: e1, e0, 87 (exp(-87) is the last normal), int32 127
DATA geluc<>+80(SB)/4, $0x3e2aaaaa
DATA geluc<>+84(SB)/4, $0x3f000000
DATA geluc<>+88(SB)/4, $0x42ae0000
DATA geluc<>+92(SB)/4, $0x0000007f
GLOBL geluc<>(SB), RODATA|NOPTR, $96

// GELUVEC computes V6 = GELU(V0); constants in V16..V24; clobbers
// V1..V15.
#define GELUVEC \
	FABS4(1, 0)                     \ // |x|
	VMOV    V22.B16, V2.B16         \
	FMLAE(2, 1, 16, 0)              \ // 1 + z/2, z = |x|/√2
	FDIV4(3, 22, 2)                 \ // t = 1/(1 + z/2)
	VDUP    V17.S[1], V4.S4         \
	FMLAE(4, 3, 17, 0)              \ // c9·t + c8
	VDUP    V17.S[2], V5.S4         \
	FMLA4(5, 4, 3)                  \
	VDUP    V17.S[3], V4.S4         \
	FMLA4(4, 5, 3)                  \
	VDUP    V18.S[0], V5.S4         \
	FMLA4(5, 4, 3)                  \
	VDUP    V18.S[1], V4.S4         \
	FMLA4(4, 5, 3)                  \
	VDUP    V18.S[2], V5.S4         \
	FMLA4(5, 4, 3)                  \
	VDUP    V18.S[3], V4.S4         \
	FMLA4(4, 5, 3)                  \
	VDUP    V19.S[0], V5.S4         \
	FMLA4(5, 4, 3)                  \
	VDUP    V19.S[1], V4.S4         \
	FMLA4(4, 5, 3)                  \ // R(t), Horner
	FMULE(5, 0, 16, 2)              \ // x/2
	FMUL4(5, 5, 3)                  \ // x·t/2
	FMUL4(5, 5, 4)                  \ // x·t·R(t)/2 = x·exp(z²)·erfc(z)/2
	FMUL4(6, 0, 0)                  \ // fl(x²)
	FNEG4(7, 6)                     \
	FMLA4(7, 0, 0)                  \ // x² - fl(x²), exactly
	FMULE(8, 6, 16, 3)              \
	FRINTN4(8, 8)                   \ // n = round(-z²·log2(e))
	FMULE(6, 6, 16, 2)              \ // h = fl(x²)/2
	FMULE(7, 7, 16, 2)              \ // l = z² - h
	FCMGE4(9, 23, 6)                \ // h <= 87 (false for NaN)
	FNEG4(10, 6)                    \
	FMLSE(10, 8, 19, 2)             \ // -h - n·ln2hi, exact
	FMLSE(10, 8, 19, 3)             \
	FSUB4(10, 10, 7)                \ // r = -z² - n·ln 2
	FMUL4(11, 10, 10)               \ // r²
	VDUP    V21.S[1], V12.S4        \
	FMLAE(12, 10, 21, 0)            \ // e1·r + e0
	VDUP    V20.S[3], V13.S4        \
	FMLAE(13, 10, 20, 2)            \ // e3·r + e2
	VDUP    V20.S[1], V14.S4        \
	FMLAE(14, 10, 20, 0)            \ // e5·r + e4
	FMLA4(13, 11, 14)               \
	FMLA4(12, 11, 13)               \ // p(r), Estrin
	FMLA4(10, 12, 11)               \ // p·r² + r
	FADD4(10, 10, 22)               \ // exp(r)
	FCVTZS4(8, 8)                   \
	VADD    V24.S4, V8.S4, V8.S4    \
	VSHL    $23, V8.S4, V8.S4       \ // 2^n
	FMUL4(10, 10, 8)                \ // exp(-z²)
	FMUL4(5, 5, 10)                 \ // q = x·erfc(z)/2
	VAND    V9.B16, V5.B16, V5.B16  \ // 0 where exp(-z²) underflows, and for ±Inf, NaN
	FSUB4(6, 0, 5)                  \ // x - q
	FCMLEZ4(7, 0)                   \ // x <= 0
	VBIT    V7.B16, V5.B16, V6.B16    // q where x <= 0, else x - q (also for NaN)

// func geluNEON(rows, cols int, c *float32, ldc int, res *float32, ldr int)
//
// cols is a multiple of 4.
TEXT ·geluNEON(SB), NOSPLIT, $0-48
	MOVD rows+0(FP), R0
	MOVD cols+8(FP), R1
	LSR  $2, R1
	MOVD c+16(FP), R2
	MOVD ldc+24(FP), R3
	LSL  $2, R3
	MOVD res+32(FP), R4
	MOVD ldr+40(FP), R5
	LSL  $2, R5
	CMP  $0, R0
	BLE  done
	CBZ  R1, done
	MOVD $geluc<>(SB), R10
	VLD1.P 64(R10), [V16.S4, V17.S4, V18.S4, V19.S4]
	VLD1 (R10), [V20.S4, V21.S4]
	VDUP V16.S[1], V22.S4
	VDUP V21.S[2], V23.S4
	VDUP V21.S[3], V24.S4

row:
	MOVD R2, R6
	MOVD R4, R7
	MOVD R1, R8

col:
	VLD1 (R6), [V0.S4]
	GELUVEC
	CBZ  R7, nores
	VLD1.P 16(R7), [V1.S4]
	FADD4(6, 6, 1)

nores:
	VST1.P [V6.S4], 16(R6)
	SUBS $1, R8, R8
	BNE  col
	ADD  R3, R2
	CBZ  R4, nextrow
	ADD  R5, R4

nextrow:
	SUBS $1, R0, R0
	BNE  row

done:
	RET
