/*
 * nncc_exp.h - the constants of nncc's exp and tanh, one definition for
 * the trainer's kern_exp and kern_tanh (nncc_simd.h, and their vector
 * forms in nncc_vec.h) and for the exp and tanh that exported inference code
 * carries (compiler/export.c, templates/export.c sections `exp_reduce`,
 * `exp`, `tanh`), so that both compute the same bits on
 * every machine without libm.  The algorithm (kern_exp): x clamped to
 * [LO, HI], n = round(x / ln 2) by adding MAGIC, r = x - n ln 2 in two FMAs
 * (LN2HI + LN2LO), exp(r) by the Taylor polynomial POLY in Horner form
 * (NPOLY coefficients, highest degree first), times 2^n built from the bits
 * of the rounded sum: ((bits(t) - bits(MAGIC) + BIAS) << SHIFT).  tanh
 * (kern_tanh) is built from the same pieces, with its own clamp TANH_HI.
 * X(name, float value, double value); the float column is float literals,
 * so that a divided coefficient is rounded once, in float.
 */
#ifndef NNCC_EXP_H
#define NNCC_EXP_H

#define NNCC_EXP_CONSTANTS(X)                                                         \
	X(LO, -87.0f, -708.0)               /* exp(LO) is normal */                      \
	X(HI, 88.0f, 709.0)                 /* exp(HI) is finite */                      \
	X(MAGIC, 0x1.8p23f, 0x1.8p52)       /* adding it rounds to an integer */         \
	X(LOG2E, 0x1.715476p0f, 0x1.71547652b82fep0)                                     \
	X(LN2HI, 0x1.62e4p-1f, 0x1.62e42fefa39efp-1) /* float: n * LN2HI is exact */     \
	X(LN2LO, 0x1.7f7d1cp-20f, 0x1.abc9e3b39803fp-56)                                \
	X(TANH_HI, 40.0f, 40.0)            /* tanh's 2|x| clamp: e / (e + 2) rounds to 1 */

#define NNCC_EXP_SHIFT_F32 23
#define NNCC_EXP_BIAS_F32 127
#define NNCC_EXP_SHIFT_F64 52
#define NNCC_EXP_BIAS_F64 1023

#define NNCC_EXP_NPOLY_F32 8
#define NNCC_EXP_POLY_F32                                                              \
	{1.0f / 5040.0f, 1.0f / 720.0f, 1.0f / 120.0f, 1.0f / 24.0f, 1.0f / 6.0f, 0.5f, 1.0f, 1.0f}
#define NNCC_EXP_NPOLY_F64 14
#define NNCC_EXP_POLY_F64                                                              \
	{1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,     \
	 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,         \
	 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0}

#endif
