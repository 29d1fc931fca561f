/*
 * dense_layer.h - the three training kernels of one dense layer, instantiated
 * for compile-time sizes: include it once per layer after defining
 *   L            function-name prefix (e.g. l1_)
 *   IN, OUT      layer widths; BMAX the tile batch (rows of X/Y/D buffers)
 *   ACT          this layer's activation (ACT_* from nncc_kern.h)
 *   PACT         activation of the layer that produced X (for backward_data)
 *   FWD_MR, FWD_NB   forward tile: rows x vectors of OUT
 *   DW_MR, DW_NB     weight-gradient tile: input rows j x vectors of OUT
 *   DX_MR, DX_NB     backward-data tile: batch rows x vectors of IN
 *   FORWARD_ONLY     (optional) emit the forward kernel only (inference)
 * This is the shape the code generator emits; it undefines all of them at
 * the end.  Parameter block of the layer: P = W[IN][OUT] (input-major) then
 * bias[OUT]; G has the same layout.  B = rows in the tile (n <= BMAX).
 *
 * Canonical order (the FP contract, see README.md), same in both paths:
 *   forward   z[b][i] = bias[i]; z = fma(x[b][k], W[k][i], z) for k = 0..IN-1
 *   dW        g = 0 (or G when accumulating); g = fma(x[b][j], d[b][i], g)
 *             for b = 0..n-1; db: g = g + d[b][i]; SGD: W = fma(-s, g, W)
 *   dX        g = 0; g = fma(d[b][i], W[j][i], g) for i = 0..OUT-1;
 *             dprev[b][j] = f'(a_prev[b][j]) * g
 * Thread split units: rows, j tiles (DW_MR rows of W) and column chunks
 * (NB*VLW columns); any split gives the same bits.
 */

#define KCAT_(a, b) a##b
#define KCAT(a, b) KCAT_(a, b)
#define FN(x) KCAT(L, x)

#define NV ((OUT + VLW - 1) / VLW)            /* vectors per row of OUT */
#define NVX ((IN + VLW - 1) / VLW)            /* vectors per row of IN */
#define FWD_NCH ((NV + FWD_NB - 1) / FWD_NB)  /* column chunks */
#define FWD_LASTNB (NV - (FWD_NCH - 1) * FWD_NB)
#define DW_NCH ((NV + DW_NB - 1) / DW_NB)
#define DW_LASTNB (NV - (DW_NCH - 1) * DW_NB)
#define DW_NJT ((IN + DW_MR - 1) / DW_MR + 1) /* j tiles; the last is the bias */
#define DW_LASTMR (IN - (DW_NJT - 2) * DW_MR)
#define DX_NCH ((NVX + DX_NB - 1) / DX_NB)
#define DX_LASTNB (NVX - (DX_NCH - 1) * DX_NB)
#define MIN_(a, b) ((a) < (b) ? (a) : (b))
/* Mask of vector v of the chunk starting at vector c0 (constant after inlining
 * except for c0 in full chunks, where it is all ones). */
#define VMASK_OUT(c0, v) ((c0) + (v) == NV - 1 ? V_TAIL(OUT) : V_ALL)
#define VMASK_IN(c0, v) ((c0) + (v) == NVX - 1 ? V_TAIL(IN) : V_ALL)

/* Tiles must fit the named accumulators (nncc_kern.h). */
typedef char FN(tile_fits)[(FWD_MR <= NNCC_MAXMR && DW_MR <= NNCC_MAXMR &&
                            DX_MR <= NNCC_MAXMR && FWD_NB <= NNCC_MAXNB &&
                            DW_NB <= NNCC_MAXNB && DX_NB <= NNCC_MAXNB) ? 1 : -1];

enum { FN(fwd_nch) = FWD_NCH, FN(dw_njt) = DW_NJT, FN(dw_nch) = DW_NCH,
       FN(dx_nch) = DX_NCH, FN(fwd_mr) = FWD_MR, FN(dx_mr) = DX_MR,
       FN(pack_len) = OUT * DX_NB * VLW };

#if NNCC_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of Y = act(X W + b). */
NNCC_INLINE void FN(fwd_tile)(real *Y, const real *X, const real *P, size_t row,
                              size_t c0, const int mr, const int nb)
{
	const real *x = X + row * IN, *w = P + c0 * VL, *bias = P + IN * OUT + c0 * VL;
	real *y = Y + row * OUT + c0 * VL;
	const vmask m0 = VMASK_OUT(c0, 0), m1 = VMASK_OUT(c0, 1), m2 = VMASK_OUT(c0, 2),
	            m3 = VMASK_OUT(c0, 3);
	vreal b0 = V_ZERO(), b1 = V_ZERO(), b2 = V_ZERO(), b3 = V_ZERO();
	size_t k;
	NNCC_ACC_DECL
	if (nb > 0) b0 = V_MLOAD(m0, bias);
	if (nb > 1) b1 = V_MLOAD(m1, bias + VL);
	if (nb > 2) b2 = V_MLOAD(m2, bias + 2 * VL);
	if (nb > 3) b3 = V_MLOAD(m3, bias + 3 * VL);
#define INIT1(r, v) if ((r) < mr && (v) < nb) NNCC_ACC(r, v) = b##v;
#define INITR(r) NNCC_VECS(INIT1, r)
	NNCC_ROWS(INITR)
#undef INIT1
#undef INITR
	for (k = 0; k < IN; k++) {
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		const real *wk = w + k * OUT;
		if (nb > 0) { w0 = V_MLOAD(m0, wk); NNCC_REG(w0); }
		if (nb > 1) { w1 = V_MLOAD(m1, wk + VL); NNCC_REG(w1); }
		if (nb > 2) { w2 = V_MLOAD(m2, wk + 2 * VL); NNCC_REG(w2); }
		if (nb > 3) { w3 = V_MLOAD(m3, wk + 3 * VL); NNCC_REG(w3); }
#define FMA1(r, v) if ((v) < nb) NNCC_ACC(r, v) = V_FMA(xb, w##v, NNCC_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[(size_t)(r) * IN + k]); NNCC_VECS(FMA1, r) }
		NNCC_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) \
	V_MSTORE(y + (size_t)(r) * OUT + (v) * VL, m##v, v_act_fwd(ACT, NNCC_ACC(r, v)));
#define STORER(r) NNCC_VECS(STORE1, r)
	NNCC_ROWS(STORER)
#undef STORE1
#undef STORER
}

NNCC_INLINE void FN(fwd_rows)(real *Y, const real *X, const real *P, size_t r0,
                              size_t r1, size_t c0, const int nb)
{
	size_t row = r0;
	for (; row + FWD_MR <= r1; row += FWD_MR) FN(fwd_tile)(Y, X, P, row, c0, FWD_MR, nb);
	/* Row tail (only when n is not a multiple of FWD_MR): binary pieces, each
	 * a compile-time tile height. */
#define ROWTAIL(h) \
	if (FWD_MR > (h) && (r1 - row) & (h)) { FN(fwd_tile)(Y, X, P, row, c0, h, nb); row += (h); }
	ROWTAIL(16) ROWTAIL(8) ROWTAIL(4) ROWTAIL(2) ROWTAIL(1)
#undef ROWTAIL
}
#endif

/* Y[r][OUT] = act(X[r][IN] W + b) for rows [r0, r1) and column chunks
 * [ch0, ch1). */
static void FN(forward)(real *Y, const real *X, const real *P, size_t r0, size_t r1,
                        size_t ch0, size_t ch1)
{
	size_t ch;
#if NNCC_SIMD
	for (ch = ch0; ch < ch1; ch++) {
		if (ch + 1 < FWD_NCH)
			FN(fwd_rows)(Y, X, P, r0, r1, ch * FWD_NB, FWD_NB);
		else
			FN(fwd_rows)(Y, X, P, r0, r1, ch * FWD_NB, FWD_LASTNB);
	}
#else
	size_t i0 = ch0 * FWD_NB * VLW, i1 = MIN_(ch1 * FWD_NB * VLW, OUT), r, k, i;
	for (r = r0; r < r1; r++) {
		real *y = Y + r * OUT;
		const real *x = X + r * IN;
		for (i = i0; i < i1; i++) y[i] = P[IN * OUT + i];
		for (k = 0; k < IN; k++) {
			const real xk = x[k], *w = P + k * OUT;
			for (i = i0; i < i1; i++) y[i] = FMA(xk, w[i], y[i]);
		}
		for (i = i0; i < i1; i++) y[i] = act_fwd(ACT, y[i]);
	}
	(void)ch;
#endif
}

#if !defined(FORWARD_ONLY)   /* the training sections */
#if NNCC_SIMD
/* Rows j [j, j+mr) x vectors [c0, c0+nb) of X^T D, then the epilogue of mode. */
NNCC_INLINE void FN(dw_tile)(const int mode, size_t n, real *P, real *G, const real *X,
                             const real *D, real s, size_t j, size_t c0, const int mr,
                             const int nb)
{
	const vmask m0 = VMASK_OUT(c0, 0), m1 = VMASK_OUT(c0, 1), m2 = VMASK_OUT(c0, 2),
	            m3 = VMASK_OUT(c0, 3);
	const size_t o = j * OUT + c0 * VL;   /* tile origin in W / G */
	const vreal vs = V_SET1(s);
	size_t b;
	NNCC_ACC_DECL
#define INIT1(r, v) if ((r) < mr && (v) < nb && mode == GRAD_ACC) \
	NNCC_ACC(r, v) = V_MLOAD(m##v, G + o + (size_t)(r) * OUT + (v) * VL);
#define INITR(r) NNCC_VECS(INIT1, r)
	NNCC_ROWS(INITR)
#undef INIT1
#undef INITR
	for (b = 0; b < n; b++) {
		const real *x = X + b * IN + j, *db = D + b * OUT + c0 * VL;
		vreal d0 = V_ZERO(), d1 = V_ZERO(), d2 = V_ZERO(), d3 = V_ZERO();
		if (nb > 0) { d0 = V_MLOAD(m0, db); NNCC_REG(d0); }
		if (nb > 1) { d1 = V_MLOAD(m1, db + VL); NNCC_REG(d1); }
		if (nb > 2) { d2 = V_MLOAD(m2, db + 2 * VL); NNCC_REG(d2); }
		if (nb > 3) { d3 = V_MLOAD(m3, db + 3 * VL); NNCC_REG(d3); }
#define FMA1(r, v) if ((v) < nb) NNCC_ACC(r, v) = V_FMA(xb, d##v, NNCC_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[r]); NNCC_VECS(FMA1, r) }
		NNCC_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) { \
		real *p_ = (mode == GRAD_SGD ? P : G) + o + (size_t)(r) * OUT + (v) * VL; \
		V_MSTORE(p_, m##v, mode == GRAD_SGD \
			? V_FNMA(vs, NNCC_ACC(r, v), V_MLOAD(m##v, p_)) : NNCC_ACC(r, v)); }
#define STORER(r) NNCC_VECS(STORE1, r)
	NNCC_ROWS(STORER)
#undef STORE1
#undef STORER
}

/* The bias "row": g = g + d[b][i] (fma(1, d, g) == g + d exactly). */
NNCC_INLINE void FN(db_tile)(const int mode, size_t n, real *P, real *G, const real *D,
                             real s, size_t c0, const int nb)
{
	const vmask m0 = VMASK_OUT(c0, 0), m1 = VMASK_OUT(c0, 1), m2 = VMASK_OUT(c0, 2),
	            m3 = VMASK_OUT(c0, 3);
	const size_t o = IN * OUT + c0 * VL;
	const vreal vs = V_SET1(s);
	size_t b;
	vreal acc0_0 = V_ZERO(), acc0_1 = V_ZERO(), acc0_2 = V_ZERO(), acc0_3 = V_ZERO();
#define INIT1(r, v) if ((v) < nb && mode == GRAD_ACC) \
	NNCC_ACC(r, v) = V_MLOAD(m##v, G + o + (v) * VL);
	NNCC_VECS(INIT1, 0)
#undef INIT1
	for (b = 0; b < n; b++) {
		const real *db = D + b * OUT + c0 * VL;
#define ADD1(r, v) if ((v) < nb) NNCC_ACC(r, v) = V_ADD(NNCC_ACC(r, v), V_MLOAD(m##v, db + (v) * VL));
		NNCC_VECS(ADD1, 0)
#undef ADD1
	}
#define STORE1(r, v) if ((v) < nb) { \
		real *p_ = (mode == GRAD_SGD ? P : G) + o + (v) * VL; \
		V_MSTORE(p_, m##v, mode == GRAD_SGD \
			? V_FNMA(vs, NNCC_ACC(r, v), V_MLOAD(m##v, p_)) : NNCC_ACC(r, v)); }
	NNCC_VECS(STORE1, 0)
#undef STORE1
}

NNCC_INLINE void FN(dw_chunk)(int mode, size_t n, real *P, real *G, const real *X,
                              const real *D, real s, size_t jt0, size_t jt1, size_t c0,
                              const int nb)
{
	size_t jt;
	for (jt = jt0; jt < jt1; jt++) {
		if (jt + 2 < DW_NJT || (jt + 2 == DW_NJT && DW_LASTMR == DW_MR))
			FN(dw_tile)(mode, n, P, G, X, D, s, jt * DW_MR, c0, DW_MR, nb);
		else if (jt + 2 == DW_NJT)
			FN(dw_tile)(mode, n, P, G, X, D, s, jt * DW_MR, c0, DW_LASTMR, nb);
		else
			FN(db_tile)(mode, n, P, G, D, s, c0, nb);
	}
}
#endif

/* Weight and bias gradient of the tile for j tiles [jt0, jt1) (tile DW_NJT-1
 * is the bias) and column chunks [ch0, ch1); mode GRAD_SET/ACC/SGD;
 * s = lr / batch for GRAD_SGD. */
#if NNCC_SIMD
NNCC_INLINE void FN(dw_mode)(const int mode, size_t n, real *P, real *G, const real *X,
                             const real *D, real s, size_t jt0, size_t jt1, size_t ch0,
                             size_t ch1)
{
	size_t ch;
	for (ch = ch0; ch < ch1; ch++) {
		if (ch + 1 < DW_NCH)
			FN(dw_chunk)(mode, n, P, G, X, D, s, jt0, jt1, ch * DW_NB, DW_NB);
		else
			FN(dw_chunk)(mode, n, P, G, X, D, s, jt0, jt1, ch * DW_NB, DW_LASTNB);
	}
}
#endif

static void FN(backward_weights)(int mode, size_t n, real *P, real *G, const real *X,
                                 const real *D, real s, size_t jt0, size_t jt1,
                                 size_t ch0, size_t ch1)
{
#if NNCC_SIMD
	/* mode as a compile-time constant in each copy: a runtime mode makes gcc
	 * spill the 24-accumulator tile (130 -> 220 GF/s on 784x800). */
	if (mode == GRAD_SGD)
		FN(dw_mode)(GRAD_SGD, n, P, G, X, D, s, jt0, jt1, ch0, ch1);
	else if (mode == GRAD_ACC)
		FN(dw_mode)(GRAD_ACC, n, P, G, X, D, s, jt0, jt1, ch0, ch1);
	else
		FN(dw_mode)(GRAD_SET, n, P, G, X, D, s, jt0, jt1, ch0, ch1);
#else
	size_t ch;
	size_t i0 = ch0 * DW_NB * VLW, i1 = MIN_(ch1 * DW_NB * VLW, OUT);
	size_t j0 = MIN_(jt0 * DW_MR, IN), j1 = jt1 == DW_NJT ? IN + 1 : jt1 * DW_MR, j, b, i;
	/* The chain runs in G's row (no stack array: gcc 12 -O2 misaligns a
	 * vectorised local array here, see README.md), so G is scratch in
	 * GRAD_SGD mode. */
	for (j = j0; j < j1; j++) {   /* j == IN is the bias row */
		real *g = G + j * OUT;
		if (mode != GRAD_ACC)
			for (i = i0; i < i1; i++) g[i] = R(0.0);
		for (b = 0; b < n; b++) {
			const real *d = D + b * OUT;
			if (j == IN) {
				for (i = i0; i < i1; i++) g[i] = g[i] + d[i];
			} else {
				const real xb = X[b * IN + j];
				for (i = i0; i < i1; i++) g[i] = FMA(xb, d[i], g[i]);
			}
		}
		if (mode == GRAD_SGD)
			for (i = i0; i < i1; i++) P[j * OUT + i] = FMA(-s, g[i], P[j * OUT + i]);
	}
	(void)ch;
#endif
}

#if NNCC_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of IN: pk holds W^T for the chunk,
 * pk[i][v] = W[c0*VL + v*VL + lane][i]. */
NNCC_INLINE void FN(dx_tile)(real *Dp, const real *Ap, const real *D, const real *pk,
                             size_t row, size_t c0, const int mr, const int nb)
{
	const vmask m0 = VMASK_IN(c0, 0), m1 = VMASK_IN(c0, 1), m2 = VMASK_IN(c0, 2),
	            m3 = VMASK_IN(c0, 3);
	const real *d = D + row * OUT;
	const size_t o = row * IN + c0 * VL;
	size_t i;
	NNCC_ACC_DECL
	for (i = 0; i < OUT; i++) {
		const real *pi = pk + i * (size_t)nb * VL;
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		if (nb > 0) { w0 = V_LOAD(pi); NNCC_REG(w0); }
		if (nb > 1) { w1 = V_LOAD(pi + VL); NNCC_REG(w1); }
		if (nb > 2) { w2 = V_LOAD(pi + 2 * VL); NNCC_REG(w2); }
		if (nb > 3) { w3 = V_LOAD(pi + 3 * VL); NNCC_REG(w3); }
#define FMA1(r, v) if ((v) < nb) NNCC_ACC(r, v) = V_FMA(db, w##v, NNCC_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal db = V_SET1(d[(size_t)(r) * OUT + i]); NNCC_VECS(FMA1, r) }
		NNCC_ROWS(FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) { \
		const size_t q_ = o + (size_t)(r) * IN + (v) * VL; \
		V_MSTORE(Dp + q_, m##v, v_act_deriv_mul(PACT, V_MLOAD(m##v, Ap + q_), NNCC_ACC(r, v))); }
#define STORER(r) NNCC_VECS(STORE1, r)
	NNCC_ROWS(STORER)
#undef STORE1
#undef STORER
}

NNCC_INLINE void FN(dx_chunk)(size_t r0, size_t r1, real *Dp, const real *Ap, const real *D,
                              const real *P, real *pk, size_t c0, const int nb)
{
	size_t i, row = r0;
	int v;
	/* Pack W^T for this chunk: one gather per (i, vector), used by n rows. */
	for (i = 0; i < OUT; i++) {
		NNCC_UNROLL
		for (v = 0; v < nb; v++) {
			size_t j = (c0 + (size_t)v) * VL;
			vmask m = (c0 + (size_t)v == NVX - 1) ? V_TAIL(IN) : V_ALL;
			V_STORE(pk + (i * (size_t)nb + (size_t)v) * VL,
			        V_MGATHER(m, VI_IOTA_STRIDE(OUT), P + j * OUT + i));
		}
	}
	for (; row + DX_MR <= r1; row += DX_MR) FN(dx_tile)(Dp, Ap, D, pk, row, c0, DX_MR, nb);
#define ROWTAIL(h) \
	if (DX_MR > (h) && (r1 - row) & (h)) { FN(dx_tile)(Dp, Ap, D, pk, row, c0, h, nb); row += (h); }
	ROWTAIL(16) ROWTAIL(8) ROWTAIL(4) ROWTAIL(2) ROWTAIL(1)
#undef ROWTAIL
}
#endif

/* Dp[r][IN] = f'(Ap) * (D[r][OUT] W^T) for rows [r0, r1) and column chunks
 * [ch0, ch1) of IN; pk: scratch of FN(pack_len) reals per thread. */
static void FN(backward_data)(real *Dp, const real *Ap, const real *D, const real *P,
                              real *pk, size_t r0, size_t r1, size_t ch0, size_t ch1)
{
	size_t ch;
#if NNCC_SIMD
	for (ch = ch0; ch < ch1; ch++) {
		if (ch + 1 < DX_NCH)
			FN(dx_chunk)(r0, r1, Dp, Ap, D, P, pk, ch * DX_NB, DX_NB);
		else
			FN(dx_chunk)(r0, r1, Dp, Ap, D, P, pk, ch * DX_NB, DX_LASTNB);
	}
#else
	size_t j0 = ch0 * DX_NB * VLW, j1 = MIN_(ch1 * DX_NB * VLW, IN), r, j, i;
	for (r = r0; r < r1; r++) {
		const real *d = D + r * OUT;
		for (j = j0; j < j1; j++) {
			const real *w = P + j * OUT;
			real g = R(0.0);
			for (i = 0; i < OUT; i++) g = FMA(d[i], w[i], g);
			Dp[r * IN + j] = act_deriv(PACT, Ap[r * IN + j]) * g;
		}
	}
	(void)pk;
	(void)ch;
#endif
}

#endif /* !FORWARD_ONLY */

#undef KCAT_
#undef KCAT
#undef FN
#undef NV
#undef NVX
#undef FWD_NCH
#undef FWD_LASTNB
#undef DW_NCH
#undef DW_LASTNB
#undef DW_NJT
#undef DW_LASTMR
#undef DX_NCH
#undef DX_LASTNB
#undef MIN_
#undef VMASK_OUT
#undef VMASK_IN
#undef L
#undef IN
#undef OUT
#undef BMAX
#undef ACT
#undef PACT
#undef FWD_MR
#undef FWD_NB
#undef DW_MR
#undef DW_NB
#undef DX_MR
#undef DX_NB
#undef FORWARD_ONLY
