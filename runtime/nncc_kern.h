/*
 * nncc_kern.h - the network-independent part of a generated trainer: the
 * dense-layer kernels (forward, backward-data, weight gradient with the
 * optimizer's update fused into its epilogue), the elementwise activation
 * derivative, the unfused update, and the thread pool that runs a pass's
 * fixed work units.  Shipped with the runtime (found through `nncc
 * --cflags`) and included once by each generated file, after nncc_simd.h
 * and after the file's optimizer, which must define:
 *
 *   OPT_STATE     state slots per parameter, 0..3 (SGD 0, momentum 1, Adam 2)
 *   OPT_STRIDE    reals between one parameter's slots (the parameter count:
 *                 slot k of parameter q is state[k * OPT_STRIDE + q])
 *   OptStep       a step's constants (lr / batch, bias corrections, ...)
 *   opt_scalar(const OptStep *, int bias, real g, real *p, real *s0, real *s1, real *s2)
 *   opt_vector(the same on vreal; only when KERN_SIMD)
 *
 * where g is the gradient SUM over the batch, p the parameter and s0..s2
 * its state, updated in place; `bias` is 1 for a bias (decay can skip it).
 * The scalar and the vector forms perform the same operations in the same
 * order, so the fused and unfused updates agree bit for bit.
 *
 * Every kernel is always inlined into the per-layer function that calls it
 * with named constant sizes and tiles, so each layer gets a fully
 * specialised copy with compile-time tails and no remainder branches.
 * Floating-point policy: see nncc_simd.h; here, every output element is ONE
 * sequential chain over its sum index, so tiles, vector width, thread count
 * and tile size (max_batch) cannot change a result (docs/performance.md).
 * Vocabulary: MR x NB = register tile (rows x vectors), n = rows in the
 * tile, j = input, i = output, d = delta dL/dz, g = dL/da.  Dropout's
 * masks (kern_dropout, at the end) come from a counter-based generator,
 * so they too are the same whatever the threads and tiles.
 */
#ifndef NNCC_KERN_H
#define NNCC_KERN_H

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#ifndef OPT_STATE
#error "include nncc_kern.h after the optimizer (OPT_STATE, OptStep, opt_scalar, opt_vector)"
#endif

#if KERN_SIMD
/* Named accumulators for register tiles of up to KERN_MAXMR rows x
 * KERN_MAXNB vectors: acc<r>_<v>.  Arrays of vectors indexed in unrolled
 * loops are fine for gcc, but clang 14 leaves them on the stack (10x slower),
 * so tiles are spelled with names; the guards `(r) < mr` are compile-time
 * constants after inlining and the unused names vanish. */
#define KERN_MAXMR 32
#define KERN_MAXNB 4
#define KERN_ROWS(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) \
	M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) \
	M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define KERN_VECS(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define KERN_ACC(r, v) acc##r##_##v
#define KERN_ACC_DECL1(r, v) vreal KERN_ACC(r, v) = V_ZERO();
#define KERN_ACC_DECLR(r) KERN_VECS(KERN_ACC_DECL1, r)
#define KERN_ACC_DECL KERN_ROWS(KERN_ACC_DECLR)
/* Lanes of the last vector of a row of `len` reals (a constant). */
#define V_TAIL(len) ((vmask)(((len) % VL) ? ((1u << ((len) % VL)) - 1u) : (vmask)~0u))
#define V_ALL ((vmask)~0u)
#endif
/* Vectors per row of `len` reals, and the mask of vector v of the chunk
 * that starts at vector c0 of such a row. */
#define KERN_NV(len) (((len) + VLW - 1) / VLW)
#define KERN_MASK(len, c0, v) ((c0) + (v) == KERN_NV(len) - 1 ? V_TAIL(len) : V_ALL)
#define KERN_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Modes of the weight gradient (a constant in each inlined copy: a run-time
 * mode makes gcc spill the accumulators). */
#define KERN_GRAD_SET 0    /* G = X^T D */
#define KERN_GRAD_ACC 1    /* G += X^T D: the chain continues from G */
#define KERN_GRAD_UPDATE 2 /* the optimizer's step with the sums X^T D as the
                              gradient: G is not written (scratch in the fallback) */

/* ---- The optimizer's epilogue: load a parameter and its state, step,
 * store.  S is the state block at the tensor (NULL when OPT_STATE is 0),
 * q the element's offset in it; only the slots the optimizer has are read. */
KERN_INLINE void kern_opt_s(const OptStep *opt, const int bias, real g, real *p, real *S,
                            size_t q)
{
	real s0 = R(0.0), s1 = R(0.0), s2 = R(0.0);
	if (OPT_STATE > 0) s0 = S[q];
	if (OPT_STATE > 1) s1 = S[q + OPT_STRIDE];
	if (OPT_STATE > 2) s2 = S[q + 2 * OPT_STRIDE];
	opt_scalar(opt, bias, g, p, &s0, &s1, &s2);
	if (OPT_STATE > 0) S[q] = s0;
	if (OPT_STATE > 1) S[q + OPT_STRIDE] = s1;
	if (OPT_STATE > 2) S[q + 2 * OPT_STRIDE] = s2;
}

#if KERN_SIMD
/* The lanes m of a vector of contiguous parameters at p. */
KERN_INLINE void kern_opt_v(const OptStep *opt, const int bias, vreal g, real *p, real *S,
                            size_t q, vmask m)
{
	vreal pv = V_MLOAD(m, p), s0 = V_ZERO(), s1 = V_ZERO(), s2 = V_ZERO();
	if (OPT_STATE > 0) s0 = V_MLOAD(m, S + q);
	if (OPT_STATE > 1) s1 = V_MLOAD(m, S + q + OPT_STRIDE);
	if (OPT_STATE > 2) s2 = V_MLOAD(m, S + q + 2 * OPT_STRIDE);
	opt_vector(opt, bias, g, &pv, &s0, &s1, &s2);
	V_MSTORE(p, m, pv);
	if (OPT_STATE > 0) V_MSTORE(S + q, m, s0);
	if (OPT_STATE > 1) V_MSTORE(S + q + OPT_STRIDE, m, s1);
	if (OPT_STATE > 2) V_MSTORE(S + q + 2 * OPT_STRIDE, m, s2);
}

/* The same for weights read with stride idx (the transposed gradient). */
KERN_INLINE void kern_opt_vg(const OptStep *opt, vreal g, real *p, real *S, size_t q, vmask m,
                             vindex idx)
{
	vreal pv = V_MGATHER(m, idx, p), s0 = V_ZERO(), s1 = V_ZERO(), s2 = V_ZERO();
	if (OPT_STATE > 0) s0 = V_MGATHER(m, idx, S + q);
	if (OPT_STATE > 1) s1 = V_MGATHER(m, idx, S + q + OPT_STRIDE);
	if (OPT_STATE > 2) s2 = V_MGATHER(m, idx, S + q + 2 * OPT_STRIDE);
	opt_vector(opt, 0, g, &pv, &s0, &s1, &s2);
	V_MSCATTER(p, m, idx, pv);
	if (OPT_STATE > 0) V_MSCATTER(S + q, m, idx, s0);
	if (OPT_STATE > 1) V_MSCATTER(S + q + OPT_STRIDE, m, idx, s1);
	if (OPT_STATE > 2) V_MSCATTER(S + q + 2 * OPT_STRIDE, m, idx, s2);
}
#endif

/* The unfused update of one tensor: P[off .. off+n) with the gradient sums
 * G[off ..] and state S (NULL when OPT_STATE is 0). */
KERN_INLINE void kern_update(const OptStep *opt, const int bias, real *P, const real *G,
                             real *S, size_t off, size_t n)
{
	size_t k = 0;
#if KERN_SIMD
	/* masked accesses throughout: a full-width load of a small array is
	 * never executed, but gcc's -Warray-bounds cannot tell */
	for (; k < n; k += VL) {
		const vmask m = n - k >= VL ? V_ALL : (vmask)((1u << (n - k)) - 1u);
		kern_opt_v(opt, bias, V_MLOAD(m, G + off + k), P + off + k, S, off + k, m);
	}
#endif
	for (; k < n; k++)
		kern_opt_s(opt, bias, G[off + k], P + off + k, S, off + k);
}

/* The step's constants for the driver's update u; defaults (the YAML's
 * hyper-parameters) stand in when u carries none. */
static void kern_prepare(OptStep *opt, const nncc_update_t *u, const double *defaults)
{
	nncc_update_t v = *u;

	if (!v.hparams)
		v.hparams = defaults;
	opt_prepare(opt, &v);
}

/* D = f'(A) * G over rows [r0, r1) of three (n, OUT) arrays: a layer's
 * delta dL/dz from the gradient dL/da of its output, f' in terms of the
 * output A as in act_deriv(). */
KERN_INLINE void kern_deriv(real *D, const real *A, const real *G, const size_t OUT,
                            const int ACT, size_t r0, size_t r1)
{
	size_t k = r0 * OUT;
	const size_t e = r1 * OUT;
#if KERN_SIMD
	for (; k < e; k += VL) {   /* masked throughout, as in kern_update */
		const vmask m = e - k >= VL ? V_ALL : (vmask)((1u << (e - k)) - 1u);
		V_MSTORE(D + k, m, v_act_deriv_mul(ACT, V_MLOAD(m, A + k), V_MLOAD(m, G + k)));
	}
#else
	for (; k < e; k++)
		D[k] = act_deriv(ACT, A[k]) * G[k];
#endif
}

/* ---- Dense-layer kernels.  Layouts are the ABI's: X (n, IN), Y and D (n,
 * OUT) row-major, W (IN, OUT) input-major, bias (OUT).  Arguments in upper
 * case and mr/nb are constants at every call (the per-layer functions pass
 * named sizes and tiles), so after inlining each layer has its own
 * specialised code.  The chains (the FP contract):
 *   forward   y[b][i] = f(z), z = bias[i]; z = FMA(x[b][k], W[k][i], z), k = 0..IN-1
 *   gradient  g = 0 (or G[j][i]); g = FMA(x[b][j], d[b][i], g), b = 0..n-1;
 *             bias: g = g + d[b][i]; fused update: W[j][i] = opt(g, W[j][i], state)
 *   data      g = 0; g = FMA(d[b][i], W[j][i], g), i = 0..OUT-1; gp[b][j] = g
 * Tiles split only the free dimensions, never a chain. */

#if KERN_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of Y = f(X W + bias). */
KERN_INLINE void kern_fwd_tile(real *Y, const real *X, const real *W, const real *bias,
                               const size_t IN, const size_t OUT, const int ACT, size_t row,
                               size_t c0, const int mr, const int nb)
{
	const real *x = X + row * IN, *w = W + c0 * VL;
	real *y = Y + row * OUT + c0 * VL;
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	vreal b0 = V_ZERO(), b1 = V_ZERO(), b2 = V_ZERO(), b3 = V_ZERO();
	size_t k;
	KERN_ACC_DECL
	if (nb > 0) b0 = V_MLOAD(m0, bias + c0 * VL);
	if (nb > 1) b1 = V_MLOAD(m1, bias + c0 * VL + VL);
	if (nb > 2) b2 = V_MLOAD(m2, bias + c0 * VL + 2 * VL);
	if (nb > 3) b3 = V_MLOAD(m3, bias + c0 * VL + 3 * VL);
#define INIT1(r, v) if ((r) < mr && (v) < nb) KERN_ACC(r, v) = b##v;
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS(INITR)
#undef INIT1
#undef INITR
	for (k = 0; k < IN; k++) {
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		const real *wk = w + k * OUT;
		if (nb > 0) { w0 = V_MLOAD(m0, wk); KERN_REG(w0); }
		if (nb > 1) { w1 = V_MLOAD(m1, wk + VL); KERN_REG(w1); }
		if (nb > 2) { w2 = V_MLOAD(m2, wk + 2 * VL); KERN_REG(w2); }
		if (nb > 3) { w3 = V_MLOAD(m3, wk + 3 * VL); KERN_REG(w3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(xb, w##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[(size_t)(r) * IN + k]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) \
	V_MSTORE(y + (size_t)(r) * OUT + (v) * VL, m##v, v_act_fwd(ACT, KERN_ACC(r, v)));
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* Rows [r0, r1) of one column chunk: full MR-row tiles, then the remainder
 * (only when n is not a multiple of MR) in compile-time tiles of 8, 4 and 1
 * rows: few variants keep the code and its compile time small. */
KERN_INLINE void kern_fwd_rows(real *Y, const real *X, const real *W, const real *bias,
                               const size_t IN, const size_t OUT, const int ACT, const int MR,
                               size_t r0, size_t r1, size_t c0, const int nb)
{
	size_t row = r0;
	for (; row + (size_t)MR <= r1; row += (size_t)MR)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, MR, nb);
	for (; MR > 8 && row + 8 <= r1; row += 8)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, 8, nb);
	for (; MR > 4 && row + 4 <= r1; row += 4)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, 4, nb);
	for (; MR > 1 && row < r1; row++)
		kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, row, c0, 1, nb);
}
#endif

/* Y[r] = f(X[r] W + bias) for rows [r0, r1); MR x NB register tiles. */
KERN_INLINE void kern_fwd(real *Y, const real *X, const real *W, const real *bias,
                          const size_t IN, const size_t OUT, const int ACT, const int MR,
                          const int NB, size_t r0, size_t r1)
{
#if KERN_SIMD
	const size_t nch = (KERN_NV(OUT) + (size_t)NB - 1) / (size_t)NB;   /* column chunks */
	const int lastnb = (int)(KERN_NV(OUT) - (nch - 1) * (size_t)NB);
	size_t ch;
	if (KERN_NV(OUT) <= KERN_MAXNB && r1 - r0 < 4) {
		/* A few rows (inference): latency-bound, so all of a row's
		 * vectors at once, as independent chains. */
		for (; r0 < r1; r0++)
			kern_fwd_tile(Y, X, W, bias, IN, OUT, ACT, r0, 0, 1, (int)KERN_NV(OUT));
		return;
	}
	for (ch = 0; ch + 1 < nch; ch++)
		kern_fwd_rows(Y, X, W, bias, IN, OUT, ACT, MR, r0, r1, ch * (size_t)NB, NB);
	kern_fwd_rows(Y, X, W, bias, IN, OUT, ACT, MR, r0, r1, ch * (size_t)NB, lastnb);
#else
	size_t r, k, i;
	(void)MR;
	(void)NB;
	for (r = r0; r < r1; r++) {
		real *y = Y + r * OUT;
		const real *x = X + r * IN;
		for (i = 0; i < OUT; i++)
			y[i] = bias[i];
		for (k = 0; k < IN; k++) {
			const real xk = x[k], *w = W + k * OUT;
			for (i = 0; i < OUT; i++)
				y[i] = FMA(xk, w[i], y[i]);
		}
		for (i = 0; i < OUT; i++)
			y[i] = act_fwd(ACT, y[i]);
	}
#endif
}

#if KERN_SIMD
/* Rows j [j, j+mr) x vectors [c0, c0+nb) of X^T D, then the mode's epilogue
 * into G (set/accumulate) or W and its state S (the fused update). */
KERN_INLINE void kern_dw_tile(const int mode, size_t n, real *W, real *G, real *S, const real *X,
                              const real *D, const OptStep *opt, const size_t IN,
                              const size_t OUT, size_t j, size_t c0, const int mr, const int nb)
{
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	const size_t o = j * OUT + c0 * VL;   /* tile origin in W, G and S */
	size_t b;
	KERN_ACC_DECL
#define INIT1(r, v) if ((r) < mr && (v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MLOAD(m##v, G + o + (size_t)(r) * OUT + (v) * VL);
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS(INITR)
#undef INIT1
#undef INITR
	for (b = 0; b < n; b++) {
		const real *x = X + b * IN + j, *db = D + b * OUT + c0 * VL;
		vreal d0 = V_ZERO(), d1 = V_ZERO(), d2 = V_ZERO(), d3 = V_ZERO();
		if (nb > 0) { d0 = V_MLOAD(m0, db); KERN_REG(d0); }
		if (nb > 1) { d1 = V_MLOAD(m1, db + VL); KERN_REG(d1); }
		if (nb > 2) { d2 = V_MLOAD(m2, db + 2 * VL); KERN_REG(d2); }
		if (nb > 3) { d3 = V_MLOAD(m3, db + 3 * VL); KERN_REG(d3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(xb, d##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[r]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) { \
		const size_t q_ = o + (size_t)(r) * OUT + (v) * VL; \
		if (mode == KERN_GRAD_UPDATE) \
			kern_opt_v(opt, 0, KERN_ACC(r, v), W + q_, S, q_, m##v); \
		else \
			V_MSTORE(G + q_, m##v, KERN_ACC(r, v)); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* The bias "row": g = g + d[b][i] (== FMA(1, d, g)), same epilogues. */
KERN_INLINE void kern_db_tile(const int mode, size_t n, real *bias, real *Gb, real *Sb,
                              const real *D, const OptStep *opt, const size_t OUT, size_t c0,
                              const int nb)
{
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	const size_t o = c0 * VL;
	size_t b;
	vreal acc0_0 = V_ZERO(), acc0_1 = V_ZERO(), acc0_2 = V_ZERO(), acc0_3 = V_ZERO();
#define INIT1(r, v) if ((v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MLOAD(m##v, Gb + o + (v) * VL);
	KERN_VECS(INIT1, 0)
#undef INIT1
	for (b = 0; b < n; b++) {
		const real *db = D + b * OUT + o;
#define ADD1(r, v) if ((v) < nb) \
	KERN_ACC(r, v) = V_ADD(KERN_ACC(r, v), V_MLOAD(m##v, db + (v) * VL));
		KERN_VECS(ADD1, 0)
#undef ADD1
	}
#define STORE1(r, v) if ((v) < nb) { \
		const size_t q_ = o + (v) * VL; \
		if (mode == KERN_GRAD_UPDATE) \
			kern_opt_v(opt, 1, KERN_ACC(r, v), bias + q_, Sb, q_, m##v); \
		else \
			V_MSTORE(Gb + q_, m##v, KERN_ACC(r, v)); }
	KERN_VECS(STORE1, 0)
#undef STORE1
}

/* Layers with OUT <= VL (one vector per row of OUT, e.g. 10 classes):
 * vectorised along j instead, so every lane is used.  Rows i [0, OUT) x
 * vectors [c0, c0+nb) of j: per sample b, nb loads of X[b][j..], OUT
 * broadcasts of D[b][i]; the same chain per element, so the same bits.  G
 * and W are read and written transposed (stride OUT) with gathers and
 * scatters, once per tile. */
KERN_INLINE void kern_dwt_tile(const int mode, size_t n, real *W, real *G, real *S,
                               const real *X, const real *D, const OptStep *opt,
                               const size_t IN, const size_t OUT, size_t c0, const int nb)
{
	const vmask m0 = KERN_MASK(IN, c0, 0), m1 = KERN_MASK(IN, c0, 1),
	            m2 = KERN_MASK(IN, c0, 2), m3 = KERN_MASK(IN, c0, 3);
	const vindex idx = VI_IOTA_STRIDE((int)OUT);   /* j -> j * OUT */
	size_t b;
	KERN_ACC_DECL
#define AT(r, v) ((c0 + (v)) * VL * OUT + (size_t)(r))   /* W[j0 of vector v][i = r] */
#define INIT1(r, v) if ((size_t)(r) < OUT && (v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MGATHER(m##v, idx, G + AT(r, v));
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS(INITR)
#undef INIT1
#undef INITR
	for (b = 0; b < n; b++) {
		const real *x = X + b * IN + c0 * VL, *d = D + b * OUT;
		vreal x0 = V_ZERO(), x1 = V_ZERO(), x2 = V_ZERO(), x3 = V_ZERO();
		if (nb > 0) { x0 = V_MLOAD(m0, x); KERN_REG(x0); }
		if (nb > 1) { x1 = V_MLOAD(m1, x + VL); KERN_REG(x1); }
		if (nb > 2) { x2 = V_MLOAD(m2, x + 2 * VL); KERN_REG(x2); }
		if (nb > 3) { x3 = V_MLOAD(m3, x + 3 * VL); KERN_REG(x3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(x##v, db, KERN_ACC(r, v));
#define FMAR(r) if ((size_t)(r) < OUT) { const vreal db = V_SET1(d[r]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((size_t)(r) < OUT && (v) < nb) { \
		if (mode == KERN_GRAD_UPDATE) \
			kern_opt_vg(opt, KERN_ACC(r, v), W + AT(r, v), S, AT(r, v), m##v, idx); \
		else \
			V_MSCATTER(G + AT(r, v), m##v, idx, KERN_ACC(r, v)); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
#undef AT
}

/* j tiles [jt0, jt1) of one column chunk; tile njt-1 is the bias row. */
KERN_INLINE void kern_dw_chunk(const int mode, size_t n, real *W, real *bias, real *G,
                               real *Gb, real *S, real *Sb, const real *X, const real *D,
                               const OptStep *opt, const size_t IN, const size_t OUT,
                               const int MR, size_t jt0, size_t jt1, size_t c0, const int nb)
{
	const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
	const int lastmr = (int)(IN - (njt - 2) * (size_t)MR);
	size_t jt;
	for (jt = jt0; jt < jt1; jt++) {
		if (jt + 2 < njt || (jt + 2 == njt && lastmr == MR))
			kern_dw_tile(mode, n, W, G, S, X, D, opt, IN, OUT, jt * (size_t)MR, c0, MR, nb);
		else if (jt + 2 == njt)
			kern_dw_tile(mode, n, W, G, S, X, D, opt, IN, OUT, jt * (size_t)MR, c0, lastmr, nb);
		else
			kern_db_tile(mode, n, bias, Gb, Sb, D, opt, OUT, c0, nb);
	}
}

KERN_INLINE void kern_dw_mode(const int mode, size_t n, real *W, real *bias, real *G, real *Gb,
                              real *S, real *Sb, const real *X, const real *D,
                              const OptStep *opt, const size_t IN, const size_t OUT,
                              const int MR, const int NB, size_t jt0, size_t jt1)
{
	const size_t nch = (KERN_NV(OUT) + (size_t)NB - 1) / (size_t)NB;
	const int lastnb = (int)(KERN_NV(OUT) - (nch - 1) * (size_t)NB);
	size_t ch;
	if (KERN_NV(OUT) == 1 && MR % VL == 0 && MR / VL <= KERN_MAXNB) {
		/* one vector of OUT: the j-vectorised tiles, MR = whole vectors of j */
		const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
		const int lastv = (int)(KERN_NV(IN) - (njt - 2) * (size_t)(MR / VL));
		size_t jt;
		for (jt = jt0; jt < jt1; jt++) {
			if (jt + 2 < njt)
				kern_dwt_tile(mode, n, W, G, S, X, D, opt, IN, OUT, jt * (size_t)(MR / VL), MR / VL);
			else if (jt + 2 == njt)
				kern_dwt_tile(mode, n, W, G, S, X, D, opt, IN, OUT, jt * (size_t)(MR / VL), lastv);
			else
				kern_db_tile(mode, n, bias, Gb, Sb, D, opt, OUT, 0, 1);
		}
		return;
	}
	for (ch = 0; ch + 1 < nch; ch++)
		kern_dw_chunk(mode, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, jt0, jt1,
		              ch * (size_t)NB, NB);
	kern_dw_chunk(mode, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, jt0, jt1,
	              ch * (size_t)NB, lastnb);
}
#endif

/* Weight and bias gradient of the tile (n rows of X and D) for j tiles
 * [jt0, jt1) of MR rows of W (tile ceil(IN/MR) is the bias), all of OUT:
 * mode KERN_GRAD_SET/ACC into G, Gb; KERN_GRAD_UPDATE: the optimizer's
 * step on W, bias and their state S, Sb with the sums as the gradient. */
KERN_INLINE void kern_dw(int mode, size_t n, real *W, real *bias, real *G, real *Gb, real *S,
                         real *Sb, const real *X, const real *D, const OptStep *opt,
                         const size_t IN, const size_t OUT, const int MR, const int NB,
                         size_t jt0, size_t jt1)
{
#if KERN_SIMD
	if (mode == KERN_GRAD_UPDATE)
		kern_dw_mode(KERN_GRAD_UPDATE, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, NB,
		             jt0, jt1);
	else if (mode == KERN_GRAD_ACC)
		kern_dw_mode(KERN_GRAD_ACC, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, NB, jt0,
		             jt1);
	else
		kern_dw_mode(KERN_GRAD_SET, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, NB, jt0,
		             jt1);
#else
	/* The chain runs in G's row (a vectorised local row array met a gcc 12
	 * stack-alignment miscompile), so G is scratch in the fused update. */
	const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
	const size_t j0 = KERN_MIN(jt0 * (size_t)MR, IN);
	const size_t j1 = jt1 >= njt ? IN + 1 : KERN_MIN(jt1 * (size_t)MR, IN);
	size_t j, b, i;
	(void)NB;
	for (j = j0; j < j1; j++) {   /* j == IN: the bias row */
		real *g = j == IN ? Gb : G + j * OUT, *w = j == IN ? bias : W + j * OUT;
		if (mode != KERN_GRAD_ACC)
			for (i = 0; i < OUT; i++)
				g[i] = R(0.0);
		for (b = 0; b < n; b++) {
			const real *d = D + b * OUT;
			if (j == IN) {
				for (i = 0; i < OUT; i++)
					g[i] = g[i] + d[i];
			} else {
				const real xb = X[b * IN + j];
				for (i = 0; i < OUT; i++)
					g[i] = FMA(xb, d[i], g[i]);
			}
		}
		if (mode == KERN_GRAD_UPDATE)
			for (i = 0; i < OUT; i++)
				kern_opt_s(opt, j == IN, g[i], w + i, j == IN ? Sb : S,
				           (j == IN ? 0 : j * OUT) + i);
	}
#endif
}

/* Tiles of the weight gradient (the last one is the bias row). */
#define KERN_DW_TILES(IN, MR) (((IN) + (MR) - 1) / (MR) + 1)

#if KERN_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of IN; pk holds W^T for the
 * chunk: pk[i][v*VL + lane] = W[(c0 + v)*VL + lane][i]. */
KERN_INLINE void kern_dx_tile(real *Gp, const real *D, const real *pk, const size_t IN,
                              const size_t OUT, size_t row, size_t c0, const int mr,
                              const int nb)
{
	const vmask m0 = KERN_MASK(IN, c0, 0), m1 = KERN_MASK(IN, c0, 1),
	            m2 = KERN_MASK(IN, c0, 2), m3 = KERN_MASK(IN, c0, 3);
	const real *d = D + row * OUT;
	const size_t o = row * IN + c0 * VL;
	size_t i;
	KERN_ACC_DECL
	for (i = 0; i < OUT; i++) {
		const real *pi = pk + i * (size_t)nb * VL;
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		if (nb > 0) { w0 = V_LOAD(pi); KERN_REG(w0); }
		if (nb > 1) { w1 = V_LOAD(pi + VL); KERN_REG(w1); }
		if (nb > 2) { w2 = V_LOAD(pi + 2 * VL); KERN_REG(w2); }
		if (nb > 3) { w3 = V_LOAD(pi + 3 * VL); KERN_REG(w3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(db, w##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal db = V_SET1(d[(size_t)(r) * OUT + i]); KERN_VECS(FMA1, r) }
		KERN_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) \
		V_MSTORE(Gp + o + (size_t)(r) * IN + (v) * VL, m##v, KERN_ACC(r, v));
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* One column chunk of IN for rows [r0, r1): pack W^T for it (one gather per
 * output and vector, used by every row), then the tiles. */
KERN_INLINE void kern_dx_chunk(real *Gp, const real *D, const real *W, real *pk, const size_t IN,
                               const size_t OUT, const int MR, size_t r0, size_t r1, size_t c0,
                               const int nb)
{
	size_t i, row = r0;
	int v;
	for (i = 0; i < OUT; i++) {
		KERN_UNROLL
		for (v = 0; v < nb; v++) {
			const size_t j = (c0 + (size_t)v) * VL;
			const vmask m = c0 + (size_t)v == KERN_NV(IN) - 1 ? V_TAIL(IN) : V_ALL;
			V_STORE(pk + (i * (size_t)nb + (size_t)v) * VL,
			        V_MGATHER(m, VI_IOTA_STRIDE((int)OUT), W + j * OUT + i));
		}
	}
	for (; row + (size_t)MR <= r1; row += (size_t)MR)
		kern_dx_tile(Gp, D, pk, IN, OUT, row, c0, MR, nb);
	for (; MR > 8 && row + 8 <= r1; row += 8)   /* the tail, as in kern_fwd_rows */
		kern_dx_tile(Gp, D, pk, IN, OUT, row, c0, 8, nb);
	for (; MR > 4 && row + 4 <= r1; row += 4)
		kern_dx_tile(Gp, D, pk, IN, OUT, row, c0, 4, nb);
	for (; MR > 1 && row < r1; row++)
		kern_dx_tile(Gp, D, pk, IN, OUT, row, c0, 1, nb);
}
#endif

/* Gp[r] = D[r] W^T for rows [r0, r1): the gradient with respect to this
 * layer's input (the output of the layer below), from its W (IN, OUT) and
 * delta D (n, OUT); pk is scratch for W^T. */
KERN_INLINE void kern_dx(real *Gp, const real *D, const real *W, real *pk, const size_t IN,
                         const size_t OUT, const int MR, const int NB, size_t r0, size_t r1)
{
#if KERN_SIMD
	const size_t nch = (KERN_NV(IN) + (size_t)NB - 1) / (size_t)NB;
	const int lastnb = (int)(KERN_NV(IN) - (nch - 1) * (size_t)NB);
	size_t ch;
	for (ch = 0; ch + 1 < nch; ch++)
		kern_dx_chunk(Gp, D, W, pk, IN, OUT, MR, r0, r1, ch * (size_t)NB, NB);
	kern_dx_chunk(Gp, D, W, pk, IN, OUT, MR, r0, r1, ch * (size_t)NB, lastnb);
#else
	size_t r, j, i;
	(void)pk;
	(void)MR;
	(void)NB;
	for (r = r0; r < r1; r++) {
		const real *d = D + r * OUT;
		for (j = 0; j < IN; j++) {
			const real *w = W + j * OUT;
			real g = R(0.0);
			for (i = 0; i < OUT; i++)
				g = FMA(d[i], w[i], g);
			Gp[r * IN + j] = g;
		}
	}
#endif
}

/* ---- The thread pool.  kern_pool_run(p, fn, units) calls fn(unit, tid)
 * once for every unit in [0, units): threads CLAIM units from a shared
 * counter, and what a unit computes never depends on the thread that runs
 * it (units are fixed row blocks and weight tiles), so results are
 * bit-identical for any thread count, and a worker the OS has descheduled
 * costs at most the unit it holds.  Workers spin briefly, then sleep on a
 * condition variable.  tid (0 = the caller) only selects scratch memory.
 * GCC/clang builtins for the atomics; elsewhere one thread. */
#define KERN_MAX_THREADS 64
#define KERN_SPIN 20000   /* polls before a worker sleeps */

typedef void (*kern_unit_fn)(size_t unit, int tid);

typedef struct KernPool KernPool;
typedef struct KernStart {
	KernPool *p;
	int tid;
} KernStart;

struct KernPool {
	int n;                       /* threads including the caller; 0 = not started */
	pthread_t th[KERN_MAX_THREADS];
	KernStart start[KERN_MAX_THREADS];
	pthread_mutex_t mu;
	pthread_cond_t cv;
	kern_unit_fn fn;
	uint64_t claim;              /* generation << 32 | next unit */
	uint64_t units;
	uint64_t done;               /* units finished in this generation */
	unsigned gen;
	int quit;
};

#if defined(__GNUC__)
#define KERN_HAVE_THREADS 1
#define KERN_LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define KERN_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static void kern_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Claims and runs units of generation gen until none is left. */
static void kern_pool_drain(KernPool *p, unsigned gen, int tid)
{
	for (;;) {
		uint64_t c = KERN_LOAD(&p->claim), unit = c & 0xffffffffu;
		if ((unsigned)(c >> 32) != gen || unit >= p->units)
			return;
		if (__atomic_compare_exchange_n(&p->claim, &c, c + 1, 0, __ATOMIC_ACQ_REL,
		                                __ATOMIC_ACQUIRE)) {
			p->fn((size_t)unit, tid);
			__atomic_add_fetch(&p->done, 1, __ATOMIC_ACQ_REL);
		}
	}
}

static void *kern_pool_worker(void *arg)
{
	KernStart *ks = arg;
	KernPool *p = ks->p;
	unsigned seen = 0, g;
	for (;;) {
		long spin = 0;
		while ((g = KERN_LOAD(&p->gen)) == seen && spin < KERN_SPIN) {
			kern_pause();
			spin++;
		}
		if (g == seen) {
			pthread_mutex_lock(&p->mu);
			while ((g = KERN_LOAD(&p->gen)) == seen)
				pthread_cond_wait(&p->cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
		}
		seen = g;
		if (KERN_LOAD(&p->quit))
			return NULL;
		kern_pool_drain(p, g, ks->tid);
	}
}

static void kern_pool_kick(KernPool *p, unsigned gen)
{
	pthread_mutex_lock(&p->mu);
	KERN_STORE(&p->gen, gen);
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Starts n threads (the caller is one of them); returns how many run. */
static int kern_pool_start(KernPool *p, int n)
{
	int t;
	n = n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : n;
	p->n = n;
	p->gen = 0;
	p->claim = p->units = p->done = 0;
	p->quit = 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	for (t = 1; t < n; t++) {
		p->start[t].p = p;
		p->start[t].tid = t;
		if (pthread_create(&p->th[t], NULL, kern_pool_worker, &p->start[t]) != 0) {
			p->n = t;
			break;
		}
	}
	return p->n;
}

static void kern_pool_stop(KernPool *p)
{
	int t;
	if (p->n == 0)
		return;
	if (p->n > 1) {
		KERN_STORE(&p->quit, 1);
		kern_pool_kick(p, p->gen + 1);
		for (t = 1; t < p->n; t++)
			pthread_join(p->th[t], NULL);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	p->n = 0;
}

static void kern_pool_run(KernPool *p, kern_unit_fn fn, size_t units)
{
	unsigned gen;
	long spin = 0;
	size_t u;
	if (p->n <= 1 || units <= 1) {
		for (u = 0; u < units; u++)
			fn(u, 0);
		return;
	}
	gen = p->gen + 1;
	p->fn = fn;
	p->units = units;
	KERN_STORE(&p->done, 0);
	KERN_STORE(&p->claim, (uint64_t)gen << 32);
	kern_pool_kick(p, gen);
	kern_pool_drain(p, gen, 0);
	/* Only units that a worker claimed and is still running are left. */
	while (KERN_LOAD(&p->done) != units) {
		if (++spin < KERN_SPIN)
			kern_pause();
		else
			sched_yield();
	}
}
#else
#define KERN_HAVE_THREADS 0
static int kern_pool_start(KernPool *p, int n)
{
	(void)n;
	return p->n = 1;
}

static void kern_pool_stop(KernPool *p)
{
	p->n = 0;
}

static void kern_pool_run(KernPool *p, kern_unit_fn fn, size_t units)
{
	size_t u;
	(void)p;
	for (u = 0; u < units; u++)
		fn(u, 0);
}
#endif

/* Online cores: what threads = 0 means. */
static int kern_cores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > KERN_MAX_THREADS ? KERN_MAX_THREADS : (int)n;
}

/* ---- The pass being run and its pool: one of each per generated file. */

/* Whose dropout masks the row passes draw (nncc_model_t.mask_key): update
 * `step` of the run seeded `seed`, the tile's row 0 being sample `first` of
 * the batch; step 0 = evaluation (dropout is the identity). */
typedef struct KernMask {
	uint64_t seed, step;
	size_t first;
} KernMask;

typedef struct KernJob {
	size_t n;           /* samples in the tile */
	const real *x;      /* (n, N_INPUTS) */
	const void *y;      /* (n) labels (int32_t), or (n, N_OUTPUTS) targets */
	int mode;           /* weight pass: KERN_GRAD_SET, _ACC or _UPDATE */
	OptStep opt;        /* KERN_GRAD_UPDATE: the step's constants */
	KernMask mask;      /* the row passes' dropout masks */
} KernJob;

static KernJob kern_job;

/* Sample s's label, and output i's target for regression, in the tile. */
#define KERN_LABEL(s) (((const int32_t *)kern_job.y)[s])
#define KERN_TARGET(s, i) (((const real *)kern_job.y)[(s) * N_OUTPUTS + (i)])
static KernPool kern_pool;

/* Threads for the pooled passes (0 = all cores); returns the number in use.
 * `pooled` is 0 when no pass of the network is big enough to share.
 * Results do not depend on it: work units are fixed. */
static int kern_set_threads(int n, int pooled)
{
	if (!pooled)
		return 1;
	kern_pool_stop(&kern_pool);
	return kern_pool_start(&kern_pool, n > 0 ? n : kern_cores());
}

/* Runs work units [0, units) of a pass: on the pool when `pooled` (the
 * passes big enough to gain from it), else in order on this thread.  The
 * pool starts on first use with `threads` (training.threads). */
static void kern_run(kern_unit_fn fn, size_t units, int pooled, int threads)
{
	size_t u;
	if (pooled && kern_pool.n == 0)
		kern_set_threads(threads, 1);
	if (pooled) {
		kern_pool_run(&kern_pool, fn, units);
		return;
	}
	for (u = 0; u < units; u++)
		fn(u, 0);
}

/* ---- Dropout (docs/trainer.md#dropout).  Unit i of sample b in layer k
 * is kept when its 32 random bits are >= THRESH = floor(rate * 2^32):
 *   R    = mix(mix(mix(seed + G k) + G step) + G b)   (once per sample)
 *   h    = mix(R + G floor(i / 2))                     (one per 2 units)
 *   bits = the low 32 bits of h for an even i, the high 32 for an odd i
 * with mix = splitmix64's finaliser, G = 0x9e3779b97f4a7c15, arithmetic
 * mod 2^64, b the sample's index in its batch and step the update's number:
 * a mask depends on nothing else, so not on threads, tiles or where a
 * --resume started. */
#define KERN_GOLDEN UINT64_C(0x9e3779b97f4a7c15)
#define KERN_MIX1 UINT64_C(0xbf58476d1ce4e5b9)
#define KERN_MIX2 UINT64_C(0x94d049bb133111eb)

static inline uint64_t kern_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * KERN_MIX1;
	z = (z ^ (z >> 27)) * KERN_MIX2;
	return z ^ (z >> 31);
}

#if KERN_SIMD && defined(__AVX512DQ__)
#define KERN_MASK_SIMD 1
/* kern_mix on 8 lanes (AVX-512DQ's 64-bit multiply). */
static inline __m512i kern_mix_v(__m512i z)
{
	z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 30));
	z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)KERN_MIX1));
	z = _mm512_xor_si512(z, _mm512_srli_epi64(z, 27));
	z = _mm512_mullo_epi64(z, _mm512_set1_epi64((long long)KERN_MIX2));
	return _mm512_xor_si512(z, _mm512_srli_epi64(z, 31));
}

/* Lanes of a block of 16 units from unit i of a row of W (a mask). */
#define KERN_BLOCK16(W, i) ((W) - (i) >= 16 ? 0xffffu : (1u << ((W) - (i))) - 1u)
#else
#define KERN_MASK_SIMD 0
#endif

/* Y = X * M * SCALE over rows [r0, r1) of two (n, W) arrays, M the mask of
 * layer LAYER for the key in kern_job.mask (Y = X when its step is 0).  The
 * forward pass (Y = a, X = the input) and the backward pass (Y = the
 * input's gradient, X = g) are the same product: the mask is generated
 * again, in the same pass that applies it, rather than stored. */
KERN_INLINE void kern_dropout(real *Y, const real *X, const size_t W, const uint64_t LAYER,
                              const uint32_t THRESH, const real SCALE, size_t r0, size_t r1)
{
	const KernMask *key = &kern_job.mask;
	if (key->step == 0) {
		memcpy(Y + r0 * W, X + r0 * W, (r1 - r0) * W * sizeof *Y);
		return;
	}
	const uint64_t k = kern_mix(kern_mix(key->seed + KERN_GOLDEN * LAYER) + KERN_GOLDEN * key->step);
	for (size_t s = r0; s < r1; s++) {
		const uint64_t R = kern_mix(k + KERN_GOLDEN * (uint64_t)(key->first + s));
		const real *x = X + s * W;
		real *y = Y + s * W;
#if KERN_MASK_SIMD
		/* 16 units per block: 8 hashes, whose 32-bit halves are the units'
		 * bits in lane order (low half = even unit). */
		const __m512i lanes = _mm512_setr_epi64(0, (long long)KERN_GOLDEN,
			(long long)(2 * KERN_GOLDEN), (long long)(3 * KERN_GOLDEN),
			(long long)(4 * KERN_GOLDEN), (long long)(5 * KERN_GOLDEN),
			(long long)(6 * KERN_GOLDEN), (long long)(7 * KERN_GOLDEN));
		const __m512i thresh = _mm512_set1_epi32((int)THRESH);
		const vreal scale = V_SET1(SCALE);
		for (size_t i = 0; i < W; i += 16) {
			__m512i h = _mm512_add_epi64(_mm512_set1_epi64((long long)(R + KERN_GOLDEN * (i / 2))),
			                             lanes);
			const unsigned keep = _mm512_cmpge_epu32_mask(kern_mix_v(h), thresh) &
			                      KERN_BLOCK16(W, i);
#if defined(KERN_F32)
			const vmask m = (vmask)KERN_BLOCK16(W, i);
			V_MSTORE(y + i, m, _mm512_maskz_mul_ps((vmask)keep, V_MLOAD(m, x + i), scale));
#else
			const vmask m0 = (vmask)KERN_BLOCK16(W, i), m1 = (vmask)(KERN_BLOCK16(W, i) >> 8);
			V_MSTORE(y + i, m0, _mm512_maskz_mul_pd((vmask)keep, V_MLOAD(m0, x + i), scale));
			if (m1)
				V_MSTORE(y + i + 8, m1, _mm512_maskz_mul_pd((vmask)(keep >> 8),
				                                            V_MLOAD(m1, x + i + 8), scale));
#endif
		}
#else
		uint64_t h = 0;
		for (size_t i = 0; i < W; i++) {
			if (i % 2 == 0)
				h = kern_mix(R + KERN_GOLDEN * (i / 2));
			const uint32_t bits = (uint32_t)(i % 2 ? h >> 32 : h);
			y[i] = bits >= THRESH ? x[i] * SCALE : (real)0;
		}
#endif
	}
}

#if KERN_HAVE_THREADS
/* The workers must be gone before their code is (dlclose, exit). */
static void kern_threads_fini(void) __attribute__((destructor));
static void kern_threads_fini(void)
{
	kern_pool_stop(&kern_pool);
}
#endif

#endif
