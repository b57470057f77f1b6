//go:build amd64 && !purego

#include "textflag.h"

// e^x for 8 float32 lanes at a time: x clamped below at -87, x = n·ln2 + r
// (n rounded to nearest, ln2 in two parts), e^r by Cephes' expf
// polynomial, times 2^n built in the exponent bits. The same steps as
// expf in softmax.go, with FMAs.

DATA expc<>+0(SB)/4, $0xc2ae0000
DATA expc<>+4(SB)/4, $0xc2ae0000
DATA expc<>+8(SB)/4, $0xc2ae0000
DATA expc<>+12(SB)/4, $0xc2ae0000
DATA expc<>+16(SB)/4, $0xc2ae0000
DATA expc<>+20(SB)/4, $0xc2ae0000
DATA expc<>+24(SB)/4, $0xc2ae0000
DATA expc<>+28(SB)/4, $0xc2ae0000
DATA expc<>+32(SB)/4, $0x3fb8aa3b
DATA expc<>+36(SB)/4, $0x3fb8aa3b
DATA expc<>+40(SB)/4, $0x3fb8aa3b
DATA expc<>+44(SB)/4, $0x3fb8aa3b
DATA expc<>+48(SB)/4, $0x3fb8aa3b
DATA expc<>+52(SB)/4, $0x3fb8aa3b
DATA expc<>+56(SB)/4, $0x3fb8aa3b
DATA expc<>+60(SB)/4, $0x3fb8aa3b
DATA expc<>+64(SB)/4, $0x3f318000
DATA expc<>+68(SB)/4, $0x3f318000
DATA expc<>+72(SB)/4, $0x3f318000
DATA expc<>+76(SB)/4, $0x3f318000
DATA expc<>+80(SB)/4, $0x3f318000
DATA expc<>+84(SB)/4, $0x3f318000
DATA expc<>+88(SB)/4, $0x3f318000
DATA expc<>+92(SB)/4, $0x3f318000
DATA expc<>+96(SB)/4, $0xb95e8083
DATA expc<>+100(SB)/4, $0xb95e8083
DATA expc<>+104(SB)/4, $0xb95e8083
DATA expc<>+108(SB)/4, $0xb95e8083
DATA expc<>+112(SB)/4, $0xb95e8083
DATA expc<>+116(SB)/4, $0xb95e8083
DATA expc<>+120(SB)/4, $0xb95e8083
DATA expc<>+124(SB)/4, $0xb95e8083
DATA expc<>+128(SB)/4, $0x39506967
DATA expc<>+132(SB)/4, $0x39506967
DATA expc<>+136(SB)/4, $0x39506967
DATA expc<>+140(SB)/4, $0x39506967
DATA expc<>+144(SB)/4, $0x39506967
DATA expc<>+148(SB)/4, $0x39506967
DATA expc<>+152(SB)/4, $0x39506967
DATA expc<>+156(SB)/4, $0x39506967
DATA expc<>+160(SB)/4, $0x3ab743ce
DATA expc<>+164(SB)/4, $0x3ab743ce
DATA expc<>+168(SB)/4, $0x3ab743ce
DATA expc<>+172(SB)/4, $0x3ab743ce
DATA expc<>+176(SB)/4, $0x3ab743ce
DATA expc<>+180(SB)/4, $0x3ab743ce
DATA expc<>+184(SB)/4, $0x3ab743ce
DATA expc<>+188(SB)/4, $0x3ab743ce
DATA expc<>+192(SB)/4, $0x3c088908
DATA expc<>+196(SB)/4, $0x3c088908
DATA expc<>+200(SB)/4, $0x3c088908
DATA expc<>+204(SB)/4, $0x3c088908
DATA expc<>+208(SB)/4, $0x3c088908
DATA expc<>+212(SB)/4, $0x3c088908
DATA expc<>+216(SB)/4, $0x3c088908
DATA expc<>+220(SB)/4, $0x3c088908
DATA expc<>+224(SB)/4, $0x3d2aa9c1
DATA expc<>+228(SB)/4, $0x3d2aa9c1
DATA expc<>+232(SB)/4, $0x3d2aa9c1
DATA expc<>+236(SB)/4, $0x3d2aa9c1
DATA expc<>+240(SB)/4, $0x3d2aa9c1
DATA expc<>+244(SB)/4, $0x3d2aa9c1
DATA expc<>+248(SB)/4, $0x3d2aa9c1
DATA expc<>+252(SB)/4, $0x3d2aa9c1
DATA expc<>+256(SB)/4, $0x3e2aaaaa
DATA expc<>+260(SB)/4, $0x3e2aaaaa
DATA expc<>+264(SB)/4, $0x3e2aaaaa
DATA expc<>+268(SB)/4, $0x3e2aaaaa
DATA expc<>+272(SB)/4, $0x3e2aaaaa
DATA expc<>+276(SB)/4, $0x3e2aaaaa
DATA expc<>+280(SB)/4, $0x3e2aaaaa
DATA expc<>+284(SB)/4, $0x3e2aaaaa
DATA expc<>+288(SB)/4, $0x3f000000
DATA expc<>+292(SB)/4, $0x3f000000
DATA expc<>+296(SB)/4, $0x3f000000
DATA expc<>+300(SB)/4, $0x3f000000
DATA expc<>+304(SB)/4, $0x3f000000
DATA expc<>+308(SB)/4, $0x3f000000
DATA expc<>+312(SB)/4, $0x3f000000
DATA expc<>+316(SB)/4, $0x3f000000
DATA expc<>+320(SB)/4, $0x3f800000
DATA expc<>+324(SB)/4, $0x3f800000
DATA expc<>+328(SB)/4, $0x3f800000
DATA expc<>+332(SB)/4, $0x3f800000
DATA expc<>+336(SB)/4, $0x3f800000
DATA expc<>+340(SB)/4, $0x3f800000
DATA expc<>+344(SB)/4, $0x3f800000
DATA expc<>+348(SB)/4, $0x3f800000
DATA expc<>+352(SB)/4, $0x3f800000
DATA expc<>+356(SB)/4, $0x3f800000
DATA expc<>+360(SB)/4, $0x3f800000
DATA expc<>+364(SB)/4, $0x3f800000
DATA expc<>+368(SB)/4, $0x3f800000
DATA expc<>+372(SB)/4, $0x3f800000
DATA expc<>+376(SB)/4, $0x3f800000
DATA expc<>+380(SB)/4, $0x3f800000
GLOBL expc<>(SB), RODATA|NOPTR, $384

// EXP8 replaces Y0 by e^(Y0-Y14) lane by lane (the loop body of
// expSubSumAVX2); it uses Y1-Y4.
#define EXP8 \
	VSUBPS Y14, Y0, Y0; \
	VMAXPS expc<>+0(SB), Y0, Y0; \
	VMULPS expc<>+32(SB), Y0, Y1; \
	VROUNDPS $0, Y1, Y1; \
	VFNMADD231PS expc<>+64(SB), Y1, Y0; \
	VFNMADD231PS expc<>+96(SB), Y1, Y0; \
	VMOVUPS expc<>+128(SB), Y2; \
	VFMADD213PS expc<>+160(SB), Y0, Y2; \
	VFMADD213PS expc<>+192(SB), Y0, Y2; \
	VFMADD213PS expc<>+224(SB), Y0, Y2; \
	VFMADD213PS expc<>+256(SB), Y0, Y2; \
	VFMADD213PS expc<>+288(SB), Y0, Y2; \
	VMULPS Y0, Y0, Y3; \
	VFMADD213PS Y0, Y3, Y2; \
	VADDPS expc<>+320(SB), Y2, Y2; \
	VCVTPS2DQ Y1, Y4; \
	VPSLLD $23, Y4, Y4; \
	VPADDD expc<>+352(SB), Y4, Y4; \
	VMULPS Y4, Y2, Y0

// SCALEBIAS8(row, bias) sets 8 values of row to row·scale + bias (one
// FMA, scale in Y15) and folds them into the running maxima Y14;
// SCALEBIASMASK8(row, bias, mask) adds mask too. Both use Y0.
#define SCALEBIAS8(row, bias) \
	VMOVUPS (row), Y0; \
	VFMADD213PS (bias), Y15, Y0; \
	VMAXPS Y0, Y14, Y14; \
	VMOVUPS Y0, (row)

#define SCALEBIASMASK8(row, bias, mask) \
	VMOVUPS (row), Y0; \
	VFMADD213PS (bias), Y15, Y0; \
	VADDPS (mask), Y0, Y0; \
	VMAXPS Y0, Y14, Y14; \
	VMOVUPS Y0, (row)

// MAXLANES leaves in X0 the largest of the 8 lanes of Y14; SUMLANES(dst)
// the sum of the 8 lanes of Y13 (halves, then pairs, then the two left),
// in dst. Both use X0 and X1.
#define MAXLANES \
	VEXTRACTF128 $1, Y14, X1; \
	VMAXPS X1, X14, X0; \
	VMOVHLPS X0, X0, X1; \
	VMAXPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VMAXSS X1, X0, X0

#define SUMLANES(dst) \
	VEXTRACTF128 $1, Y13, X1; \
	VADDPS X1, X13, X0; \
	VMOVHLPS X0, X0, X1; \
	VADDPS X1, X0, X0; \
	VMOVSHDUP X0, X1; \
	VADDSS X1, X0, dst

// func expSubSumAVX2(x *float32, n int, mx float32) float32
// x[i] = e^(x[i]-mx) for i < n (n a multiple of 8); returns the sum of the
// results, lane sums added in a fixed order.
TEXT ·expSubSumAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS mx+16(FP), Y14
	VXORPS Y13, Y13, Y13
	SHRQ $3, CX
	JZ done
loop:
	VMOVUPS (DI), Y0
	EXP8
	VMOVUPS Y0, (DI)
	VADDPS Y0, Y13, Y13
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	SUMLANES(X0)
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func scaleBiasMaxAVX2(row, bias, mask *float32, n int, scale float32) float32
// row[i] = row[i]*scale + bias[i] (+ mask[i] unless mask is nil) for i < n
// (a multiple of 8); returns the largest result (-Inf for n = 0).
TEXT ·scaleBiasMaxAVX2(SB), NOSPLIT, $0-44
	MOVQ row+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ mask+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS scale+32(FP), Y15
	MOVL $0xff800000, AX
	VMOVD AX, X14
	VBROADCASTSS X14, Y14
	SHRQ $3, CX
	JZ reduce
	TESTQ DX, DX
	JZ nomask
masked:
	SCALEBIASMASK8(DI, SI, DX)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ masked
	JMP reduce
nomask:
	SCALEBIAS8(DI, SI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNZ nomask
reduce:
	MAXLANES
	VMOVSS X0, ret+40(FP)
	VZEROUPPER
	RET

// tailmask<>+4·(8-t) is a vector whose first t lanes are all ones.
DATA tailmask<>+0(SB)/4, $0xffffffff
DATA tailmask<>+4(SB)/4, $0xffffffff
DATA tailmask<>+8(SB)/4, $0xffffffff
DATA tailmask<>+12(SB)/4, $0xffffffff
DATA tailmask<>+16(SB)/4, $0xffffffff
DATA tailmask<>+20(SB)/4, $0xffffffff
DATA tailmask<>+24(SB)/4, $0xffffffff
DATA tailmask<>+28(SB)/4, $0xffffffff
DATA tailmask<>+32(SB)/8, $0
DATA tailmask<>+40(SB)/8, $0
DATA tailmask<>+48(SB)/8, $0
DATA tailmask<>+56(SB)/8, $0
GLOBL tailmask<>(SB), RODATA|NOPTR, $64

// softc<>: -Inf, 2^64, 2^-62, 2^-64 (one float32 each).
DATA softc<>+0(SB)/4, $0xff800000
DATA softc<>+4(SB)/4, $0x5f800000
DATA softc<>+8(SB)/4, $0x20800000
DATA softc<>+12(SB)/4, $0x1f800000
GLOBL softc<>(SB), RODATA|NOPTR, $16

// func softmaxRowAVX2(row, bias, mask *float32, n int, scale float32)
// softmaxRow in one call, with the operations and the order of the
// composition it replaces (scaleBiasMax, expSubSum, the normalisation):
// the first n&^7 values as in scaleBiasMaxAVX2 and expSubSumAVX2; the last
// n&7 through masked loads and stores, scaled and biased without FMA (as
// the Go code of scaleBiasMax does), their exponentials added to the sum
// one by one after the lane sums; then every value times 2^64/sum, 0 where
// that is below 2^-62, times 2^-64.
TEXT ·softmaxRowAVX2(SB), NOSPLIT, $32-36
	MOVQ row+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ mask+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS scale+32(FP), Y15
	VBROADCASTSS softc<>+0(SB), Y14
	MOVQ CX, R8
	ANDQ $7, R8 // tail length t
	LEAQ tailmask<>+32(SB), R9
	SHLQ $2, R8
	SUBQ R8, R9
	SHRQ $2, R8
	VMOVUPS (R9), Y12 // the tail's lane mask
	SHRQ $3, CX // CX = vector chunks

	// Pass 1: row = row*scale + bias (+ mask), Y14 = the largest.
	MOVQ DI, R10
	MOVQ SI, R11
	MOVQ DX, R12
	MOVQ CX, BX
	TESTQ BX, BX
	JZ p1tail
	TESTQ DX, DX
	JZ p1nomask
p1masked:
	SCALEBIASMASK8(R10, R11, R12)
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	DECQ BX
	JNZ p1masked
	JMP p1tail
p1nomask:
	SCALEBIAS8(R10, R11)
	ADDQ $32, R10
	ADDQ $32, R11
	DECQ BX
	JNZ p1nomask
p1tail:
	TESTQ R8, R8
	JZ p1reduce
	VMASKMOVPS (R10), Y12, Y0
	VMULPS Y15, Y0, Y0
	VMASKMOVPS (R11), Y12, Y1
	VADDPS Y1, Y0, Y0
	TESTQ DX, DX
	JZ p1tailstore
	VMASKMOVPS (R12), Y12, Y1
	VADDPS Y1, Y0, Y0
p1tailstore:
	VMASKMOVPS Y0, Y12, (R10)
	VBLENDVPS Y12, Y0, Y14, Y1 // the tail's values, -Inf elsewhere
	VMAXPS Y1, Y14, Y14
p1reduce:
	MAXLANES
	VBROADCASTSS X0, Y14

	// Pass 2: row = e^(row-max), Y13 = lane sums, then X13 = the sum.
	VXORPS Y13, Y13, Y13
	MOVQ DI, R10
	MOVQ CX, BX
	TESTQ BX, BX
	JZ p2reduce
p2loop:
	VMOVUPS (R10), Y0
	EXP8
	VMOVUPS Y0, (R10)
	VADDPS Y0, Y13, Y13
	ADDQ $32, R10
	DECQ BX
	JNZ p2loop
p2reduce:
	SUMLANES(X13)
	TESTQ R8, R8
	JZ p3
	VMASKMOVPS (R10), Y12, Y0
	EXP8
	VMASKMOVPS Y0, Y12, (R10)
	VMOVUPS Y0, 0(SP)
	XORQ BX, BX
p2tailsum:
	VADDSS (SP)(BX*4), X13, X13
	INCQ BX
	CMPQ BX, R8
	JLT p2tailsum

p3:
	// Pass 3: row = row·(2^64/sum), 0 below 2^-62, ·2^-64.
	VMOVSS softc<>+4(SB), X0
	VDIVSS X13, X0, X0
	VBROADCASTSS X0, Y13
	VBROADCASTSS softc<>+8(SB), Y11
	VBROADCASTSS softc<>+12(SB), Y10
	MOVQ DI, R10
	MOVQ CX, BX
	TESTQ BX, BX
	JZ p3tail
p3loop:
	VMULPS (R10), Y13, Y0
	VCMPPS $0x05, Y11, Y0, Y1 // !(v < 2^-62)
	VANDPS Y1, Y0, Y0
	VMULPS Y10, Y0, Y0
	VMOVUPS Y0, (R10)
	ADDQ $32, R10
	DECQ BX
	JNZ p3loop
p3tail:
	TESTQ R8, R8
	JZ done
	VMASKMOVPS (R10), Y12, Y0
	VMULPS Y0, Y13, Y0
	VCMPPS $0x05, Y11, Y0, Y1
	VANDPS Y1, Y0, Y0
	VMULPS Y10, Y0, Y0
	VMASKMOVPS Y0, Y12, (R10)
done:
	VZEROUPPER
	RET

// func layerNormSumsAVX2(x *float32, n int) (s, q float64)
// The sum and the sum of squares of x[0:n] (n a multiple of 8) in float64:
// lane k of 8 accumulates x[8i+k] (and its square, exact in float64, by
// FMA), then s = ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), the same for q.
TEXT ·layerNormSumsAVX2(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VXORPD Y0, Y0, Y0 // s, lanes 0-3
	VXORPD Y1, Y1, Y1 // s, lanes 4-7
	VXORPD Y2, Y2, Y2 // q, lanes 0-3
	VXORPD Y3, Y3, Y3 // q, lanes 4-7
	SHRQ $3, CX
	JZ lnsreduce
lnsloop:
	VCVTPS2PD (DI), Y4
	VCVTPS2PD 16(DI), Y5
	VADDPD Y4, Y0, Y0
	VADDPD Y5, Y1, Y1
	VFMADD231PD Y4, Y4, Y2
	VFMADD231PD Y5, Y5, Y3
	ADDQ $32, DI
	DECQ CX
	JNZ lnsloop
lnsreduce:
	VADDPD Y1, Y0, Y0 // l0+l4, l1+l5, l2+l6, l3+l7
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0 // (l0+l4)+(l2+l6), (l1+l5)+(l3+l7)
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0
	VMOVSD X0, s+16(FP)
	VADDPD Y3, Y2, Y2
	VEXTRACTF128 $1, Y2, X3
	VADDPD X3, X2, X2
	VPERMILPD $1, X2, X3
	VADDSD X3, X2, X2
	VMOVSD X2, q+24(FP)
	VZEROUPPER
	RET

// func layerNormApplyAVX2(dst, src, w, b *float32, n int, m, inv float32)
// dst[i] = (src[i]-m)·inv·w[i] + b[i] for i < n (a multiple of 8), every
// operation rounded on its own (no FMA); without w (nil), (src[i]-m)·inv.
TEXT ·layerNormApplyAVX2(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ w+16(FP), DX
	MOVQ b+24(FP), R8
	MOVQ n+32(FP), CX
	VBROADCASTSS m+40(FP), Y14
	VBROADCASTSS inv+44(FP), Y15
	SHRQ $3, CX
	JZ lnadone
	TESTQ DX, DX
	JZ lnaplain
lnaaffine:
	VMOVUPS (SI), Y0
	VSUBPS Y14, Y0, Y0
	VMULPS Y15, Y0, Y0
	VMULPS (DX), Y0, Y0
	VADDPS (R8), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ lnaaffine
	JMP lnadone
lnaplain:
	VMOVUPS (SI), Y0
	VSUBPS Y14, Y0, Y0
	VMULPS Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ lnaplain
lnadone:
	VZEROUPPER
	RET
