// Vector floating-point instructions on four float32 lanes (.4S) that
// the Go assembler does not have, as instruction words. Arguments are
// register numbers (8 for V8): d is the destination, n and m the sources
// in the order of the Arm mnemonic, i a lane of m (0..3).

// Vd = Vn + Vm, Vn - Vm, Vn · Vm, Vn / Vm (FADD, FSUB, FMUL, FDIV)
#define FADD4(d, n, m) WORD $(0x4E20D400|((m)<<16)|((n)<<5)|(d))
#define FSUB4(d, n, m) WORD $(0x4EA0D400|((m)<<16)|((n)<<5)|(d))
#define FMUL4(d, n, m) WORD $(0x6E20DC00|((m)<<16)|((n)<<5)|(d))
#define FDIV4(d, n, m) WORD $(0x6E20FC00|((m)<<16)|((n)<<5)|(d))

// Vd = Vd + Vn·Vm, Vd - Vn·Vm, one rounding (FMLA, FMLS)
#define FMLA4(d, n, m) WORD $(0x4E20CC00|((m)<<16)|((n)<<5)|(d))
#define FMLS4(d, n, m) WORD $(0x4EA0CC00|((m)<<16)|((n)<<5)|(d))

// By element: Vd = Vd + Vn·Vm[i], Vd - Vn·Vm[i], Vn·Vm[i] (FMLA, FMLS,
// FMUL (by element))
#define FMLAE(d, n, m, i) WORD $(0x4F801000|(((i)&1)<<21)|(((i)>>1)<<11)|((m)<<16)|((n)<<5)|(d))
#define FMLSE(d, n, m, i) WORD $(0x4F805000|(((i)&1)<<21)|(((i)>>1)<<11)|((m)<<16)|((n)<<5)|(d))
#define FMULE(d, n, m, i) WORD $(0x4F809000|(((i)&1)<<21)|(((i)>>1)<<11)|((m)<<16)|((n)<<5)|(d))

// Vd = |Vn|, -Vn, Vn rounded to the nearest integer (ties to even),
// Vn converted to int32 toward zero (FABS, FNEG, FRINTN, FCVTZS)
#define FABS4(d, n) WORD $(0x4EA0F800|((n)<<5)|(d))
#define FNEG4(d, n) WORD $(0x6EA0F800|((n)<<5)|(d))
#define FRINTN4(d, n) WORD $(0x4E218800|((n)<<5)|(d))
#define FCVTZS4(d, n) WORD $(0x4EA1B800|((n)<<5)|(d))

// Vd = all ones where Vn >= Vm (FCMGE), where Vn <= 0 (FCMLE #0), else
// zero; false when a lane is NaN.
#define FCMGE4(d, n, m) WORD $(0x6E20E400|((m)<<16)|((n)<<5)|(d))
#define FCMLEZ4(d, n) WORD $(0x6EA0D800|((n)<<5)|(d))
