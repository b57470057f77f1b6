//go:build amd64 && !purego

#include "textflag.h"

// Exact GELU(x) = x·Φ(x), Φ(x) = erfc(-x/√2)/2. With z = |x|/√2 and
// t = 1/(1 + z/2), erfc(z) = exp(-z²)·t·R(t), where R is a degree-9
// polynomial fitted (relative error 1.9e-8) to erfc(z)·exp(z²)/t for t in
// [0.17, 1], that is z <= 9.76: beyond z = 9.33 exp(-z²) is below the
// float32 normals and GELU is 0 (or x). With q = x·erfc(z)/2:
//
//	GELU(x) = q        for x <= 0 (x·Φ(x), Φ(x) = erfc(z)/2)
//	GELU(x) = x - q    for x > 0  (x·(1 - Φ(-x)))
//
// exp(-z²) is computed from z² = x²/2 split exactly into h + l with an
// FMA (z itself is rounded and would cost 2·z²·2⁻²⁴ relative error), with
// a Cody–Waite reduction by n·ln 2 (exact for h, since n·ln2hi is exact
// and close to h) and Cephes' expf polynomial; so the result keeps its
// relative accuracy (a few float32 ulps) down to GELU's tail at x ≈ -13.
// Special values: NaN gives NaN, +Inf gives +Inf, -Inf gives 0 (the limit;
// torch's formula gives NaN).
//
// The dependency chain is short (Estrin for exp's polynomial; R by Horner
// runs in parallel with the exp chain), since the loop is bound by
// latency more than by throughput.

// 0: |x| mask
DATA geluc<>+0(SB)/4, $0x7fffffff
DATA geluc<>+4(SB)/4, $0x7fffffff
DATA geluc<>+8(SB)/4, $0x7fffffff
DATA geluc<>+12(SB)/4, $0x7fffffff
DATA geluc<>+16(SB)/4, $0x7fffffff
DATA geluc<>+20(SB)/4, $0x7fffffff
DATA geluc<>+24(SB)/4, $0x7fffffff
DATA geluc<>+28(SB)/4, $0x7fffffff
// 32: 1/(2√2)
DATA geluc<>+32(SB)/4, $0x3eb504f3
DATA geluc<>+36(SB)/4, $0x3eb504f3
DATA geluc<>+40(SB)/4, $0x3eb504f3
DATA geluc<>+44(SB)/4, $0x3eb504f3
DATA geluc<>+48(SB)/4, $0x3eb504f3
DATA geluc<>+52(SB)/4, $0x3eb504f3
DATA geluc<>+56(SB)/4, $0x3eb504f3
DATA geluc<>+60(SB)/4, $0x3eb504f3
// 64: 1
DATA geluc<>+64(SB)/4, $0x3f800000
DATA geluc<>+68(SB)/4, $0x3f800000
DATA geluc<>+72(SB)/4, $0x3f800000
DATA geluc<>+76(SB)/4, $0x3f800000
DATA geluc<>+80(SB)/4, $0x3f800000
DATA geluc<>+84(SB)/4, $0x3f800000
DATA geluc<>+88(SB)/4, $0x3f800000
DATA geluc<>+92(SB)/4, $0x3f800000
// 96: 1/2
DATA geluc<>+96(SB)/4, $0x3f000000
DATA geluc<>+100(SB)/4, $0x3f000000
DATA geluc<>+104(SB)/4, $0x3f000000
DATA geluc<>+108(SB)/4, $0x3f000000
DATA geluc<>+112(SB)/4, $0x3f000000
DATA geluc<>+116(SB)/4, $0x3f000000
DATA geluc<>+120(SB)/4, $0x3f000000
DATA geluc<>+124(SB)/4, $0x3f000000
// 128: R coefficient of t^9 = 0.0130088069
DATA geluc<>+128(SB)/4, $0x3c5522e4
DATA geluc<>+132(SB)/4, $0x3c5522e4
DATA geluc<>+136(SB)/4, $0x3c5522e4
DATA geluc<>+140(SB)/4, $0x3c5522e4
DATA geluc<>+144(SB)/4, $0x3c5522e4
DATA geluc<>+148(SB)/4, $0x3c5522e4
DATA geluc<>+152(SB)/4, $0x3c5522e4
DATA geluc<>+156(SB)/4, $0x3c5522e4
// 160: R coefficient of t^8 = -0.127114162
DATA geluc<>+160(SB)/4, $0xbe022a37
DATA geluc<>+164(SB)/4, $0xbe022a37
DATA geluc<>+168(SB)/4, $0xbe022a37
DATA geluc<>+172(SB)/4, $0xbe022a37
DATA geluc<>+176(SB)/4, $0xbe022a37
DATA geluc<>+180(SB)/4, $0xbe022a37
DATA geluc<>+184(SB)/4, $0xbe022a37
DATA geluc<>+188(SB)/4, $0xbe022a37
// 192: R coefficient of t^7 = 0.43779543
DATA geluc<>+192(SB)/4, $0x3ee026b9
DATA geluc<>+196(SB)/4, $0x3ee026b9
DATA geluc<>+200(SB)/4, $0x3ee026b9
DATA geluc<>+204(SB)/4, $0x3ee026b9
DATA geluc<>+208(SB)/4, $0x3ee026b9
DATA geluc<>+212(SB)/4, $0x3ee026b9
DATA geluc<>+216(SB)/4, $0x3ee026b9
DATA geluc<>+220(SB)/4, $0x3ee026b9
// 224: R coefficient of t^6 = -0.681529641
DATA geluc<>+224(SB)/4, $0xbf2e78ba
DATA geluc<>+228(SB)/4, $0xbf2e78ba
DATA geluc<>+232(SB)/4, $0xbf2e78ba
DATA geluc<>+236(SB)/4, $0xbf2e78ba
DATA geluc<>+240(SB)/4, $0xbf2e78ba
DATA geluc<>+244(SB)/4, $0xbf2e78ba
DATA geluc<>+248(SB)/4, $0xbf2e78ba
DATA geluc<>+252(SB)/4, $0xbf2e78ba
// 256: R coefficient of t^5 = 0.430543453
DATA geluc<>+256(SB)/4, $0x3edc7031
DATA geluc<>+260(SB)/4, $0x3edc7031
DATA geluc<>+264(SB)/4, $0x3edc7031
DATA geluc<>+268(SB)/4, $0x3edc7031
DATA geluc<>+272(SB)/4, $0x3edc7031
DATA geluc<>+276(SB)/4, $0x3edc7031
DATA geluc<>+280(SB)/4, $0x3edc7031
DATA geluc<>+284(SB)/4, $0x3edc7031
// 288: R coefficient of t^4 = -0.103109203
DATA geluc<>+288(SB)/4, $0xbdd32aeb
DATA geluc<>+292(SB)/4, $0xbdd32aeb
DATA geluc<>+296(SB)/4, $0xbdd32aeb
DATA geluc<>+300(SB)/4, $0xbdd32aeb
DATA geluc<>+304(SB)/4, $0xbdd32aeb
DATA geluc<>+308(SB)/4, $0xbdd32aeb
DATA geluc<>+312(SB)/4, $0xbdd32aeb
DATA geluc<>+316(SB)/4, $0xbdd32aeb
// 320: R coefficient of t^3 = 0.227126583
DATA geluc<>+320(SB)/4, $0x3e6893df
DATA geluc<>+324(SB)/4, $0x3e6893df
DATA geluc<>+328(SB)/4, $0x3e6893df
DATA geluc<>+332(SB)/4, $0x3e6893df
DATA geluc<>+336(SB)/4, $0x3e6893df
DATA geluc<>+340(SB)/4, $0x3e6893df
DATA geluc<>+344(SB)/4, $0x3e6893df
DATA geluc<>+348(SB)/4, $0x3e6893df
// 352: R coefficient of t^2 = 0.238322407
DATA geluc<>+352(SB)/4, $0x3e740aca
DATA geluc<>+356(SB)/4, $0x3e740aca
DATA geluc<>+360(SB)/4, $0x3e740aca
DATA geluc<>+364(SB)/4, $0x3e740aca
DATA geluc<>+368(SB)/4, $0x3e740aca
DATA geluc<>+372(SB)/4, $0x3e740aca
DATA geluc<>+376(SB)/4, $0x3e740aca
DATA geluc<>+380(SB)/4, $0x3e740aca
// 384: R coefficient of t^1 = 0.282893568
DATA geluc<>+384(SB)/4, $0x3e90d76d
DATA geluc<>+388(SB)/4, $0x3e90d76d
DATA geluc<>+392(SB)/4, $0x3e90d76d
DATA geluc<>+396(SB)/4, $0x3e90d76d
DATA geluc<>+400(SB)/4, $0x3e90d76d
DATA geluc<>+404(SB)/4, $0x3e90d76d
DATA geluc<>+408(SB)/4, $0x3e90d76d
DATA geluc<>+412(SB)/4, $0x3e90d76d
// 416: R coefficient of t^0 = 0.282062739
DATA geluc<>+416(SB)/4, $0x3e906a87
DATA geluc<>+420(SB)/4, $0x3e906a87
DATA geluc<>+424(SB)/4, $0x3e906a87
DATA geluc<>+428(SB)/4, $0x3e906a87
DATA geluc<>+432(SB)/4, $0x3e906a87
DATA geluc<>+436(SB)/4, $0x3e906a87
DATA geluc<>+440(SB)/4, $0x3e906a87
DATA geluc<>+444(SB)/4, $0x3e906a87
// 448: -log2(e)/2
DATA geluc<>+448(SB)/4, $0xbf38aa3b
DATA geluc<>+452(SB)/4, $0xbf38aa3b
DATA geluc<>+456(SB)/4, $0xbf38aa3b
DATA geluc<>+460(SB)/4, $0xbf38aa3b
DATA geluc<>+464(SB)/4, $0xbf38aa3b
DATA geluc<>+468(SB)/4, $0xbf38aa3b
DATA geluc<>+472(SB)/4, $0xbf38aa3b
DATA geluc<>+476(SB)/4, $0xbf38aa3b
// 480: ln 2, high part (9 bits)
DATA geluc<>+480(SB)/4, $0x3f318000
DATA geluc<>+484(SB)/4, $0x3f318000
DATA geluc<>+488(SB)/4, $0x3f318000
DATA geluc<>+492(SB)/4, $0x3f318000
DATA geluc<>+496(SB)/4, $0x3f318000
DATA geluc<>+500(SB)/4, $0x3f318000
DATA geluc<>+504(SB)/4, $0x3f318000
DATA geluc<>+508(SB)/4, $0x3f318000
// 512: ln 2 - ln2hi
DATA geluc<>+512(SB)/4, $0xb95e8083
DATA geluc<>+516(SB)/4, $0xb95e8083
DATA geluc<>+520(SB)/4, $0xb95e8083
DATA geluc<>+524(SB)/4, $0xb95e8083
DATA geluc<>+528(SB)/4, $0xb95e8083
DATA geluc<>+532(SB)/4, $0xb95e8083
DATA geluc<>+536(SB)/4, $0xb95e8083
DATA geluc<>+540(SB)/4, $0xb95e8083
// 544: exp coefficient e5 = 0.000198756915
DATA geluc<>+544(SB)/4, $0x39506967
DATA geluc<>+548(SB)/4, $0x39506967
DATA geluc<>+552(SB)/4, $0x39506967
DATA geluc<>+556(SB)/4, $0x39506967
DATA geluc<>+560(SB)/4, $0x39506967
DATA geluc<>+564(SB)/4, $0x39506967
DATA geluc<>+568(SB)/4, $0x39506967
DATA geluc<>+572(SB)/4, $0x39506967
// 576: exp coefficient e4 = 0.0013981999507
DATA geluc<>+576(SB)/4, $0x3ab743ce
DATA geluc<>+580(SB)/4, $0x3ab743ce
DATA geluc<>+584(SB)/4, $0x3ab743ce
DATA geluc<>+588(SB)/4, $0x3ab743ce
DATA geluc<>+592(SB)/4, $0x3ab743ce
DATA geluc<>+596(SB)/4, $0x3ab743ce
DATA geluc<>+600(SB)/4, $0x3ab743ce
DATA geluc<>+604(SB)/4, $0x3ab743ce
// 608: exp coefficient e3 = 0.0083334519073
DATA geluc<>+608(SB)/4, $0x3c088908
DATA geluc<>+612(SB)/4, $0x3c088908
DATA geluc<>+616(SB)/4, $0x3c088908
DATA geluc<>+620(SB)/4, $0x3c088908
DATA geluc<>+624(SB)/4, $0x3c088908
DATA geluc<>+628(SB)/4, $0x3c088908
DATA geluc<>+632(SB)/4, $0x3c088908
DATA geluc<>+636(SB)/4, $0x3c088908
// 640: exp coefficient e2 = 0.041665795894
DATA geluc<>+640(SB)/4, $0x3d2aa9c1
DATA geluc<>+644(SB)/4, $0x3d2aa9c1
DATA geluc<>+648(SB)/4, $0x3d2aa9c1
DATA geluc<>+652(SB)/4, $0x3d2aa9c1
DATA geluc<>+656(SB)/4, $0x3d2aa9c1
DATA geluc<>+660(SB)/4, $0x3d2aa9c1
DATA geluc<>+664(SB)/4, $0x3d2aa9c1
DATA geluc<>+668(SB)/4, $0x3d2aa9c1
// 672: exp coefficient e1 = 0.16666665459
DATA geluc<>+672(SB)/4, $0x3e2aaaaa
DATA geluc<>+676(SB)/4, $0x3e2aaaaa
DATA geluc<>+680(SB)/4, $0x3e2aaaaa
DATA geluc<>+684(SB)/4, $0x3e2aaaaa
DATA geluc<>+688(SB)/4, $0x3e2aaaaa
DATA geluc<>+692(SB)/4, $0x3e2aaaaa
DATA geluc<>+696(SB)/4, $0x3e2aaaaa
DATA geluc<>+700(SB)/4, $0x3e2aaaaa
// 704: exp coefficient e0 = 0.50000001201
DATA geluc<>+704(SB)/4, $0x3f000000
DATA geluc<>+708(SB)/4, $0x3f000000
DATA geluc<>+712(SB)/4, $0x3f000000
DATA geluc<>+716(SB)/4, $0x3f000000
DATA geluc<>+720(SB)/4, $0x3f000000
DATA geluc<>+724(SB)/4, $0x3f000000
DATA geluc<>+728(SB)/4, $0x3f000000
DATA geluc<>+732(SB)/4, $0x3f000000
// 736: int32 127, the exponent bias
DATA geluc<>+736(SB)/4, $0x0000007f
DATA geluc<>+740(SB)/4, $0x0000007f
DATA geluc<>+744(SB)/4, $0x0000007f
DATA geluc<>+748(SB)/4, $0x0000007f
DATA geluc<>+752(SB)/4, $0x0000007f
DATA geluc<>+756(SB)/4, $0x0000007f
DATA geluc<>+760(SB)/4, $0x0000007f
DATA geluc<>+764(SB)/4, $0x0000007f
// 768: 87: exp(-87) is the last normal
DATA geluc<>+768(SB)/4, $0x42ae0000
DATA geluc<>+772(SB)/4, $0x42ae0000
DATA geluc<>+776(SB)/4, $0x42ae0000
DATA geluc<>+780(SB)/4, $0x42ae0000
DATA geluc<>+784(SB)/4, $0x42ae0000
DATA geluc<>+788(SB)/4, $0x42ae0000
DATA geluc<>+792(SB)/4, $0x42ae0000
DATA geluc<>+796(SB)/4, $0x42ae0000
GLOBL geluc<>(SB), RODATA|NOPTR, $800

// GELUVEC computes Y0 = GELU(Y0); constants at R10; clobbers Y1..Y14.
#define GELUVEC \
	VANDPS       0(R10), Y0, Y1                  \ // |x|
	VMOVUPS      32(R10), Y2                     \
	VFMADD213PS  64(R10), Y1, Y2                 \ // 1 + z/2, z = |x|/√2
	VMOVUPS      64(R10), Y3                     \
	VDIVPS       Y2, Y3, Y3                      \ // t = 1/(1 + z/2)
	VMOVUPS      128(R10), Y4                    \
	VFMADD213PS  160(R10), Y3, Y4                \
	VFMADD213PS  192(R10), Y3, Y4                \
	VFMADD213PS  224(R10), Y3, Y4                \
	VFMADD213PS  256(R10), Y3, Y4                \
	VFMADD213PS  288(R10), Y3, Y4                \
	VFMADD213PS  320(R10), Y3, Y4                \
	VFMADD213PS  352(R10), Y3, Y4                \
	VFMADD213PS  384(R10), Y3, Y4                \
	VFMADD213PS  416(R10), Y3, Y4                \ // R(t), Horner
	VMULPS       96(R10), Y0, Y5                 \ // x/2
	VMULPS       Y3, Y5, Y5                      \ // x·t/2
	VMULPS       Y4, Y5, Y5                      \ // x·t·R(t)/2 = x·exp(z²)·erfc(z)/2
	VMULPS       Y0, Y0, Y6                      \ // fl(x²)
	VMOVAPS      Y0, Y7                          \
	VFMSUB213PS  Y6, Y0, Y7                      \ // x² - fl(x²), exactly
	VMULPS       448(R10), Y6, Y8                \
	VROUNDPS     $0, Y8, Y8                      \ // n = round(-z²·log2(e))
	VMULPS       96(R10), Y6, Y6                 \ // h = fl(x²)/2
	VMULPS       96(R10), Y7, Y7                 \ // l = z² - h
	VCMPPS       $0x12, 768(R10), Y6, Y9         \ // h <= 87 (false for NaN)
	VMOVAPS      Y6, Y10                         \
	VFNMSUB231PS 480(R10), Y8, Y10               \ // -h - n·ln2hi, exact
	VFNMADD231PS 512(R10), Y8, Y10               \
	VSUBPS       Y7, Y10, Y10                    \ // r = -z² - n·ln 2
	VMULPS       Y10, Y10, Y11                   \ // r²
	VMOVUPS      672(R10), Y12                   \
	VFMADD213PS  704(R10), Y10, Y12              \
	VMOVUPS      608(R10), Y13                   \
	VFMADD213PS  640(R10), Y10, Y13              \
	VMOVUPS      544(R10), Y14                   \
	VFMADD213PS  576(R10), Y10, Y14              \
	VFMADD231PS  Y14, Y11, Y13                   \
	VFMADD231PS  Y13, Y11, Y12                   \ // p(r), Estrin
	VFMADD213PS  Y10, Y11, Y12                   \ // p·r² + r
	VADDPS       64(R10), Y12, Y12               \ // exp(r)
	VCVTPS2DQ    Y8, Y8                          \
	VPADDD       736(R10), Y8, Y8                \
	VPSLLD       $23, Y8, Y8                     \ // 2^n
	VMULPS       Y8, Y12, Y12                    \ // exp(-z²)
	VMULPS       Y12, Y5, Y5                     \ // q = x·erfc(z)/2
	VANDPS       Y9, Y5, Y5                      \ // 0 where exp(-z²) underflows, and for ±Inf, NaN
	VSUBPS       Y5, Y0, Y6                      \ // x - q
	VXORPS       Y7, Y7, Y7                      \
	VCMPPS       $0x06, Y7, Y0, Y7               \ // !(x <= 0): x > 0 or NaN
	VBLENDVPS    Y7, Y6, Y5, Y0

// func geluAVX2(rows, cols int, c *float32, ldc int, res *float32, ldr int)
TEXT ·geluAVX2(SB), NOSPLIT, $0-48
	MOVQ  rows+0(FP), CX
	MOVQ  cols+8(FP), DX
	SHRQ  $3, DX
	MOVQ  c+16(FP), DI
	MOVQ  ldc+24(FP), R8
	SHLQ  $2, R8
	MOVQ  res+32(FP), SI
	MOVQ  ldr+40(FP), R9
	SHLQ  $2, R9
	LEAQ  geluc<>(SB), R10
	TESTQ CX, CX
	JLE   done
	TESTQ DX, DX
	JZ    done

row:
	MOVQ DI, AX
	MOVQ SI, BX
	MOVQ DX, R11

col:
	VMOVUPS (AX), Y0
	GELUVEC
	TESTQ   BX, BX
	JZ      nores
	VADDPS  (BX), Y0, Y0
	ADDQ    $32, BX

nores:
	VMOVUPS Y0, (AX)
	ADDQ    $32, AX
	DECQ    R11
	JNZ     col
	ADDQ    R8, DI
	TESTQ   SI, SI
	JZ      nextrow
	ADDQ    R9, SI

nextrow:
	DECQ CX
	JNZ  row

done:
	VZEROUPPER
	RET
