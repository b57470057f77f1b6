//go:build amd64 && !purego

#include "textflag.h"

// func statsPass1(p *float32, n int, out *pass1)
//
// Groups of 4 values: lane k of the float64 sum Y0 takes value 4i+k, in
// increasing i (two groups per iteration of 8, one after the other, then
// a last group of 4); Y1, Y2 keep lane-wise float32 minima and maxima;
// Y3 ORs the lanes that held an exponent of all ones (NaN, Inf) or a
// zero. The last group of 4 is loaded twice into both halves, which
// leaves minima, maxima and flags unchanged.
TEXT ·statsPass1(SB), NOSPLIT, $0-24
	MOVQ p+0(FP), SI
	MOVQ n+8(FP), CX
	MOVQ out+16(FP), DI
	VMOVUPD (DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVDQU 96(DI), Y3
	VPBROADCASTD expmask<>(SB), Y4
	VPBROADCASTD absmask<>(SB), Y5
	VPXOR   Y9, Y9, Y9
	CMPQ    CX, $8
	JLT     four

loop8:
	VMOVUPS   (SI), Y6
	VPAND     Y6, Y4, Y7
	VPCMPEQD  Y7, Y4, Y7
	VPOR      Y7, Y3, Y3
	VPAND     Y6, Y5, Y8
	VPCMPEQD  Y8, Y9, Y8
	VPOR      Y8, Y3, Y3
	VCVTPS2PD (SI), Y10
	VADDPD    Y10, Y0, Y0
	VCVTPS2PD 16(SI), Y11
	VADDPD    Y11, Y0, Y0
	VMINPS    Y6, Y1, Y1
	VMAXPS    Y6, Y2, Y2
	ADDQ      $32, SI
	SUBQ      $8, CX
	CMPQ      CX, $8
	JGE       loop8

four:
	CMPQ CX, $4
	JLT  done
	VBROADCASTF128 (SI), Y6
	VPAND          Y6, Y4, Y7
	VPCMPEQD       Y7, Y4, Y7
	VPOR           Y7, Y3, Y3
	VPAND          Y6, Y5, Y8
	VPCMPEQD       Y8, Y9, Y8
	VPOR           Y8, Y3, Y3
	VCVTPS2PD      (SI), Y10
	VADDPD         Y10, Y0, Y0
	VMINPS         Y6, Y1, Y1
	VMAXPS         Y6, Y2, Y2

done:
	VMOVUPD Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	VZEROUPPER
	RET

// func statsPass2(p *float32, n int, mean float64, out *pass2)
//
// Groups of 4 values as in statsPass1: d = float64(x) - mean; lane k of
// Y0 adds d*d (a product, then a sum: no FMA, as the Go code) and lane k
// of Y1 adds d.
TEXT ·statsPass2(SB), NOSPLIT, $0-32
	MOVQ         p+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD mean+16(FP), Y2
	MOVQ         out+24(FP), DI
	VMOVUPD      (DI), Y0
	VMOVUPD      32(DI), Y1
	CMPQ         CX, $4
	JLT          done2

loop4:
	VCVTPS2PD (SI), Y3
	VSUBPD    Y2, Y3, Y3
	VMULPD    Y3, Y3, Y4
	VADDPD    Y4, Y0, Y0
	VADDPD    Y3, Y1, Y1
	ADDQ      $16, SI
	SUBQ      $4, CX
	CMPQ      CX, $4
	JGE       loop4

done2:
	VMOVUPD Y0, (DI)
	VMOVUPD Y1, 32(DI)
	VZEROUPPER
	RET

DATA expmask<>+0(SB)/4, $0x7f800000
GLOBL expmask<>(SB), RODATA|NOPTR, $4
DATA absmask<>+0(SB)/4, $0x7fffffff
GLOBL absmask<>(SB), RODATA|NOPTR, $4
