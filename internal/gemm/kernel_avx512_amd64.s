//go:build amd64 && !purego

#include "textflag.h"

// One k step of the 14×32 tile: two zmm vectors of the B panel at
// off(DI), fourteen broadcasts of A (row r at SI + r*rsa, addressed from
// the bases SI, R12 = SI+3rsa, R11 = SI+6rsa, R10 = SI+9rsa and
// R9 = SI+12rsa with rsa in R13), 28 FMAs into Z4..Z31 (row r in
// Z(4+2r), Z(5+2r)); then A moves on by csa (R14).
#define STEP(off) \
	VMOVUPS      off(DI), Z0 \
	VMOVUPS      off+64(DI), Z1 \
	VBROADCASTSS (SI), Z2 \
	VFMADD231PS  Z0, Z2, Z4 \
	VFMADD231PS  Z1, Z2, Z5 \
	VBROADCASTSS (SI)(R13*1), Z3 \
	VFMADD231PS  Z0, Z3, Z6 \
	VFMADD231PS  Z1, Z3, Z7 \
	VBROADCASTSS (SI)(R13*2), Z2 \
	VFMADD231PS  Z0, Z2, Z8 \
	VFMADD231PS  Z1, Z2, Z9 \
	VBROADCASTSS (R12), Z3 \
	VFMADD231PS  Z0, Z3, Z10 \
	VFMADD231PS  Z1, Z3, Z11 \
	VBROADCASTSS (SI)(R13*4), Z2 \
	VFMADD231PS  Z0, Z2, Z12 \
	VFMADD231PS  Z1, Z2, Z13 \
	VBROADCASTSS (R12)(R13*2), Z3 \
	VFMADD231PS  Z0, Z3, Z14 \
	VFMADD231PS  Z1, Z3, Z15 \
	VBROADCASTSS (R11), Z2 \
	VFMADD231PS  Z0, Z2, Z16 \
	VFMADD231PS  Z1, Z2, Z17 \
	VBROADCASTSS (R12)(R13*4), Z3 \
	VFMADD231PS  Z0, Z3, Z18 \
	VFMADD231PS  Z1, Z3, Z19 \
	VBROADCASTSS (SI)(R13*8), Z2 \
	VFMADD231PS  Z0, Z2, Z20 \
	VFMADD231PS  Z1, Z2, Z21 \
	VBROADCASTSS (R10), Z3 \
	VFMADD231PS  Z0, Z3, Z22 \
	VFMADD231PS  Z1, Z3, Z23 \
	VBROADCASTSS (R11)(R13*4), Z2 \
	VFMADD231PS  Z0, Z2, Z24 \
	VFMADD231PS  Z1, Z2, Z25 \
	VBROADCASTSS (R12)(R13*8), Z3 \
	VFMADD231PS  Z0, Z3, Z26 \
	VFMADD231PS  Z1, Z3, Z27 \
	VBROADCASTSS (R9), Z2 \
	VFMADD231PS  Z0, Z2, Z28 \
	VFMADD231PS  Z1, Z2, Z29 \
	VBROADCASTSS (R9)(R13*1), Z3 \
	VFMADD231PS  Z0, Z3, Z30 \
	VFMADD231PS  Z1, Z3, Z31 \
	ADDQ         R14, SI \
	ADDQ         R14, R12 \
	ADDQ         R14, R11 \
	ADDQ         R14, R10 \
	ADDQ         R14, R9

// func sgemm14x32(kc int, a *float32, rsa int, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows int, cols int)
//
// AVX-512F. The tile is stored row by row with the column masks K1 (cols
// 0-15) and K2 (16-31): masked loads of bias and x and masked stores of
// c, so that nothing outside rows×cols is read or written, and every row
// computes (acc + bias) + x in the same order as sgemm6x16 (the sums
// are bit-identical to it for the same kc).
TEXT ·sgemm14x32(SB), NOSPLIT, $0-96
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsa+16(FP), R13
	SHLQ $2, R13
	MOVQ csa+24(FP), R14
	SHLQ $2, R14
	MOVQ b+32(FP), DI
	LEAQ (SI)(R13*2), R12
	ADDQ R13, R12
	LEAQ (R12)(R13*2), R11
	ADDQ R13, R11
	LEAQ (R11)(R13*2), R10
	ADDQ R13, R10
	LEAQ (R10)(R13*2), R9
	ADDQ R13, R9

	VPXORD Z4, Z4, Z4
	VPXORD Z5, Z5, Z5
	VPXORD Z6, Z6, Z6
	VPXORD Z7, Z7, Z7
	VPXORD Z8, Z8, Z8
	VPXORD Z9, Z9, Z9
	VPXORD Z10, Z10, Z10
	VPXORD Z11, Z11, Z11
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	VPXORD Z18, Z18, Z18
	VPXORD Z19, Z19, Z19
	VPXORD Z20, Z20, Z20
	VPXORD Z21, Z21, Z21
	VPXORD Z22, Z22, Z22
	VPXORD Z23, Z23, Z23
	VPXORD Z24, Z24, Z24
	VPXORD Z25, Z25, Z25
	VPXORD Z26, Z26, Z26
	VPXORD Z27, Z27, Z27
	VPXORD Z28, Z28, Z28
	VPXORD Z29, Z29, Z29
	VPXORD Z30, Z30, Z30
	VPXORD Z31, Z31, Z31

	// The C tile is written at the end (and read when x is C): fetch its
	// first rows now.
	MOVQ c+40(FP), AX
	MOVQ ldc+48(FP), BX
	SHLQ $2, BX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)
	ADDQ BX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 64(AX)

	MOVQ CX, DX
	SHRQ $2, DX
	JZ   tail

loop4:
	STEP(0)
	PREFETCHT0 1024(DI)
	STEP(128)
	PREFETCHT0 1152(DI)
	STEP(256)
	PREFETCHT0 1280(DI)
	STEP(384)
	PREFETCHT0 1408(DI)
	ADDQ $512, DI
	DECQ DX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	STEP(0)
	ADDQ $128, DI
	DECQ CX
	JNZ  loop1

store:
	// K1, K2: the low and high 16 bits of (1<<cols)-1.
	MOVQ  cols+88(FP), CX
	MOVQ  $1, AX
	SHLQ  CX, AX
	DECQ  AX
	KMOVW AX, K1
	SHRQ  $16, AX
	KMOVW AX, K2

	MOVQ  bias+72(FP), AX
	TESTQ AX, AX
	JZ    nobias
	VMOVUPS.Z (AX), K1, Z0
	VMOVUPS.Z 64(AX), K2, Z1
	VADDPS    Z0, Z4, Z4
	VADDPS    Z1, Z5, Z5
	VADDPS    Z0, Z6, Z6
	VADDPS    Z1, Z7, Z7
	VADDPS    Z0, Z8, Z8
	VADDPS    Z1, Z9, Z9
	VADDPS    Z0, Z10, Z10
	VADDPS    Z1, Z11, Z11
	VADDPS    Z0, Z12, Z12
	VADDPS    Z1, Z13, Z13
	VADDPS    Z0, Z14, Z14
	VADDPS    Z1, Z15, Z15
	VADDPS    Z0, Z16, Z16
	VADDPS    Z1, Z17, Z17
	VADDPS    Z0, Z18, Z18
	VADDPS    Z1, Z19, Z19
	VADDPS    Z0, Z20, Z20
	VADDPS    Z1, Z21, Z21
	VADDPS    Z0, Z22, Z22
	VADDPS    Z1, Z23, Z23
	VADDPS    Z0, Z24, Z24
	VADDPS    Z1, Z25, Z25
	VADDPS    Z0, Z26, Z26
	VADDPS    Z1, Z27, Z27
	VADDPS    Z0, Z28, Z28
	VADDPS    Z1, Z29, Z29
	VADDPS    Z0, Z30, Z30
	VADDPS    Z1, Z31, Z31

nobias:
	MOVQ rows+80(FP), CX
	MOVQ c+40(FP), DX
	MOVQ ldc+48(FP), BX
	SHLQ $2, BX
	MOVQ x+56(FP), R8
	MOVQ ldx+64(FP), R10
	SHLQ $2, R10
	TESTQ R8, R8
	JNZ  withx

	VMOVUPS   Z4, K1, (DX)
	VMOVUPS   Z5, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z6, K1, (DX)
	VMOVUPS   Z7, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z8, K1, (DX)
	VMOVUPS   Z9, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z10, K1, (DX)
	VMOVUPS   Z11, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z12, K1, (DX)
	VMOVUPS   Z13, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z14, K1, (DX)
	VMOVUPS   Z15, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z16, K1, (DX)
	VMOVUPS   Z17, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z18, K1, (DX)
	VMOVUPS   Z19, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z20, K1, (DX)
	VMOVUPS   Z21, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z22, K1, (DX)
	VMOVUPS   Z23, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z24, K1, (DX)
	VMOVUPS   Z25, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z26, K1, (DX)
	VMOVUPS   Z27, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z28, K1, (DX)
	VMOVUPS   Z29, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	VMOVUPS   Z30, K1, (DX)
	VMOVUPS   Z31, K2, 64(DX)
	JMP       done

withx:
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z4, Z4
	VADDPS    Z1, Z5, Z5
	VMOVUPS   Z4, K1, (DX)
	VMOVUPS   Z5, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z6, Z6
	VADDPS    Z1, Z7, Z7
	VMOVUPS   Z6, K1, (DX)
	VMOVUPS   Z7, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z8, Z8
	VADDPS    Z1, Z9, Z9
	VMOVUPS   Z8, K1, (DX)
	VMOVUPS   Z9, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z10, Z10
	VADDPS    Z1, Z11, Z11
	VMOVUPS   Z10, K1, (DX)
	VMOVUPS   Z11, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z12, Z12
	VADDPS    Z1, Z13, Z13
	VMOVUPS   Z12, K1, (DX)
	VMOVUPS   Z13, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z14, Z14
	VADDPS    Z1, Z15, Z15
	VMOVUPS   Z14, K1, (DX)
	VMOVUPS   Z15, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z16, Z16
	VADDPS    Z1, Z17, Z17
	VMOVUPS   Z16, K1, (DX)
	VMOVUPS   Z17, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z18, Z18
	VADDPS    Z1, Z19, Z19
	VMOVUPS   Z18, K1, (DX)
	VMOVUPS   Z19, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z20, Z20
	VADDPS    Z1, Z21, Z21
	VMOVUPS   Z20, K1, (DX)
	VMOVUPS   Z21, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z22, Z22
	VADDPS    Z1, Z23, Z23
	VMOVUPS   Z22, K1, (DX)
	VMOVUPS   Z23, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z24, Z24
	VADDPS    Z1, Z25, Z25
	VMOVUPS   Z24, K1, (DX)
	VMOVUPS   Z25, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z26, Z26
	VADDPS    Z1, Z27, Z27
	VMOVUPS   Z26, K1, (DX)
	VMOVUPS   Z27, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z28, Z28
	VADDPS    Z1, Z29, Z29
	VMOVUPS   Z28, K1, (DX)
	VMOVUPS   Z29, K2, 64(DX)
	DECQ      CX
	JZ        done
	ADDQ      BX, DX
	ADDQ      R10, R8
	VMOVUPS.Z (R8), K1, Z0
	VMOVUPS.Z 64(R8), K2, Z1
	VADDPS    Z0, Z30, Z30
	VADDPS    Z1, Z31, Z31
	VMOVUPS   Z30, K1, (DX)
	VMOVUPS   Z31, K2, 64(DX)

done:
	VZEROUPPER
	RET
