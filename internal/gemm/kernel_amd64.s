//go:build amd64 && !purego

#include "textflag.h"

// One k step of the 6×16 tile: two vectors of the B panel at off(DI),
// six broadcasts of A (rows at SI, SI+rsa, SI+2rsa, R12, R12+rsa,
// R12+2rsa; rsa in R13), twelve FMAs into Y4..Y15; then A moves on by csa
// (R14).
#define STEP(off) \
	VMOVUPS      off(DI), Y0             \
	VMOVUPS      off+32(DI), Y1          \
	VBROADCASTSS (SI), Y2                \
	VBROADCASTSS (SI)(R13*1), Y3         \
	VFMADD231PS  Y0, Y2, Y4              \
	VFMADD231PS  Y1, Y2, Y5              \
	VFMADD231PS  Y0, Y3, Y6              \
	VFMADD231PS  Y1, Y3, Y7              \
	VBROADCASTSS (SI)(R13*2), Y2         \
	VBROADCASTSS (R12), Y3               \
	VFMADD231PS  Y0, Y2, Y8              \
	VFMADD231PS  Y1, Y2, Y9              \
	VFMADD231PS  Y0, Y3, Y10             \
	VFMADD231PS  Y1, Y3, Y11             \
	VBROADCASTSS (R12)(R13*1), Y2        \
	VBROADCASTSS (R12)(R13*2), Y3        \
	VFMADD231PS  Y0, Y2, Y12             \
	VFMADD231PS  Y1, Y2, Y13             \
	VFMADD231PS  Y0, Y3, Y14             \
	VFMADD231PS  Y1, Y3, Y15             \
	ADDQ         R14, SI                 \
	ADDQ         R14, R12

// func sgemm6x16(kc int, a *float32, rsa int, csa int, b *float32, c *float32, ldc int, x *float32, ldx int, bias *float32, rows int, cols int)
//
// A full tile (rows == 6, cols == 16) is finished in registers; an edge
// tile goes through the 384-byte frame, masked loads of x and bias and
// scalar stores, so that nothing outside rows×cols of c, x and bias is
// read or written.
TEXT ·sgemm6x16(SB), NOSPLIT, $384-96
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ rsa+16(FP), R13
	SHLQ $2, R13
	MOVQ csa+24(FP), R14
	SHLQ $2, R14
	MOVQ b+32(FP), DI
	LEAQ (SI)(R13*2), R12
	ADDQ R13, R12

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

	// The C tile is written at the end (and read when x is C): fetch it
	// now.
	MOVQ c+40(FP), AX
	MOVQ ldc+48(FP), BX
	SHLQ $2, BX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ BX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ BX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ BX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ BX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)
	ADDQ BX, AX
	PREFETCHT0 (AX)
	PREFETCHT0 60(AX)

	MOVQ CX, DX
	SHRQ $2, DX
	JZ   tail

loop4:
	PREFETCHT0 384(SI)
	STEP(0)
	PREFETCHT0 1024(DI)
	STEP(64)
	STEP(128)
	STEP(192)
	ADDQ $256, DI
	DECQ DX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	STEP(0)
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

store:
	MOVQ rows+80(FP), AX
	CMPQ AX, $6
	JNE  edge
	MOVQ cols+88(FP), AX
	CMPQ AX, $16
	JNE  edge

	MOVQ  bias+72(FP), AX
	TESTQ AX, AX
	JZ    nobias
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VADDPS  Y0, Y4, Y4
	VADDPS  Y1, Y5, Y5
	VADDPS  Y0, Y6, Y6
	VADDPS  Y1, Y7, Y7
	VADDPS  Y0, Y8, Y8
	VADDPS  Y1, Y9, Y9
	VADDPS  Y0, Y10, Y10
	VADDPS  Y1, Y11, Y11
	VADDPS  Y0, Y12, Y12
	VADDPS  Y1, Y13, Y13
	VADDPS  Y0, Y14, Y14
	VADDPS  Y1, Y15, Y15

nobias:
	MOVQ  x+56(FP), AX
	TESTQ AX, AX
	JZ    nox
	MOVQ  ldx+64(FP), BX
	SHLQ  $2, BX
	VADDPS (AX), Y4, Y4
	VADDPS 32(AX), Y5, Y5
	ADDQ   BX, AX
	VADDPS (AX), Y6, Y6
	VADDPS 32(AX), Y7, Y7
	ADDQ   BX, AX
	VADDPS (AX), Y8, Y8
	VADDPS 32(AX), Y9, Y9
	ADDQ   BX, AX
	VADDPS (AX), Y10, Y10
	VADDPS 32(AX), Y11, Y11
	ADDQ   BX, AX
	VADDPS (AX), Y12, Y12
	VADDPS 32(AX), Y13, Y13
	ADDQ   BX, AX
	VADDPS (AX), Y14, Y14
	VADDPS 32(AX), Y15, Y15

nox:
	MOVQ    c+40(FP), AX
	MOVQ    ldc+48(FP), BX
	SHLQ    $2, BX
	VMOVUPS Y4, (AX)
	VMOVUPS Y5, 32(AX)
	ADDQ    BX, AX
	VMOVUPS Y6, (AX)
	VMOVUPS Y7, 32(AX)
	ADDQ    BX, AX
	VMOVUPS Y8, (AX)
	VMOVUPS Y9, 32(AX)
	ADDQ    BX, AX
	VMOVUPS Y10, (AX)
	VMOVUPS Y11, 32(AX)
	ADDQ    BX, AX
	VMOVUPS Y12, (AX)
	VMOVUPS Y13, 32(AX)
	ADDQ    BX, AX
	VMOVUPS Y14, (AX)
	VMOVUPS Y15, 32(AX)
	VZEROUPPER
	RET

edge:
	// Spill the tile to the frame, then row by row: masks for cols in
	// Y0, Y1; v = (acc + bias) + x; store cols floats.
	VMOVUPS Y4, tile-384(SP)
	VMOVUPS Y5, tile-352(SP)
	VMOVUPS Y6, tile-320(SP)
	VMOVUPS Y7, tile-288(SP)
	VMOVUPS Y8, tile-256(SP)
	VMOVUPS Y9, tile-224(SP)
	VMOVUPS Y10, tile-192(SP)
	VMOVUPS Y11, tile-160(SP)
	VMOVUPS Y12, tile-128(SP)
	VMOVUPS Y13, tile-96(SP)
	VMOVUPS Y14, tile-64(SP)
	VMOVUPS Y15, tile-32(SP)
	MOVQ    cols+88(FP), AX
	NEGQ    AX
	LEAQ    edgemask<>+64(SB), BX
	LEAQ    (BX)(AX*4), BX
	VMOVUPS (BX), Y0
	VMOVUPS 32(BX), Y1
	MOVQ    bias+72(FP), SI
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	TESTQ   SI, SI
	JZ      edgerows
	VMASKMOVPS (SI), Y0, Y2
	VMASKMOVPS 32(SI), Y1, Y3

edgerows:
	MOVQ rows+80(FP), CX
	MOVQ c+40(FP), DI
	MOVQ ldc+48(FP), R8
	SHLQ $2, R8
	MOVQ x+56(FP), SI
	MOVQ ldx+64(FP), R9
	SHLQ $2, R9
	LEAQ tile-384(SP), DX

edgerow:
	VMOVUPS (DX), Y4
	VMOVUPS 32(DX), Y5
	MOVQ    bias+72(FP), AX
	TESTQ   AX, AX
	JZ      edgenobias
	VADDPS  Y2, Y4, Y4
	VADDPS  Y3, Y5, Y5

edgenobias:
	TESTQ SI, SI
	JZ    edgenox
	VMASKMOVPS (SI), Y0, Y6
	VMASKMOVPS 32(SI), Y1, Y7
	VADDPS     Y6, Y4, Y4
	VADDPS     Y7, Y5, Y5
	ADDQ       R9, SI

edgenox:
	// Masked stores are slow on some CPUs: put the row back in the
	// frame and copy its cols floats one by one.
	VMOVUPS Y4, (DX)
	VMOVUPS Y5, 32(DX)
	MOVQ    cols+88(FP), R10
	XORQ    R11, R11

edgecol:
	MOVL (DX)(R11*4), AX
	MOVL AX, (DI)(R11*4)
	INCQ R11
	CMPQ R11, R10
	JLT  edgecol
	ADDQ R8, DI
	ADDQ $64, DX
	DECQ CX
	JNZ  edgerow
	VZEROUPPER
	RET

// edgemask<>+64-4*cols holds cols -1s followed by zeros (16 -1s, 16 zeros).
DATA edgemask<>+0(SB)/8, $-1
DATA edgemask<>+8(SB)/8, $-1
DATA edgemask<>+16(SB)/8, $-1
DATA edgemask<>+24(SB)/8, $-1
DATA edgemask<>+32(SB)/8, $-1
DATA edgemask<>+40(SB)/8, $-1
DATA edgemask<>+48(SB)/8, $-1
DATA edgemask<>+56(SB)/8, $-1
DATA edgemask<>+64(SB)/8, $0
DATA edgemask<>+72(SB)/8, $0
DATA edgemask<>+80(SB)/8, $0
DATA edgemask<>+88(SB)/8, $0
DATA edgemask<>+96(SB)/8, $0
DATA edgemask<>+104(SB)/8, $0
DATA edgemask<>+112(SB)/8, $0
DATA edgemask<>+120(SB)/8, $0
GLOBL edgemask<>(SB), RODATA|NOPTR, $128
