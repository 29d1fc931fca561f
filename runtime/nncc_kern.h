/*
 * nncc_kern.h - the dense-layer kernels of a generated trainer, for ONE
 * instruction set: forward, backward-data, weight gradient with the
 * optimizer's update fused into its epilogue, the elementwise activation
 * derivative, the unfused update and dropout.  Network-independent;
 * shipped with the runtime (found through `nncc --cflags`).  No include
 * guard: a generated file includes it in its kernel section, once per copy
 * of that section (after nncc_vec.h, which sets the copy's instruction set,
 * and the optimizer's opt_vector), and every function here is named per
 * copy (kern_fwd is kern_fwd_avx2 in the avx2 copy; KERN_ISA_NAME).  What
 * the copies share is in nncc_pool.h, the optimizer's contract included:
 *
 *   opt_vector(const OptStep *, int c, int bias, vreal g, vreal *p, vreal *s0,
 *              vreal *s1, vreal *s2): opt_scalar on a vector; only when KERN_SIMD
 *
 * where g is the gradient SUM over the batch, p the parameter and s0..s2
 * its state, updated in place; `bias` is 1 for a bias (decay can skip it);
 * c is the fused update's case (nncc_pool.h: OPT_CASES), a constant there,
 * or KERN_CASE_ANY in the unfused update.
 * The scalar and the vector forms perform the same operations in the same
 * order, so the fused and unfused updates agree bit for bit.
 *
 * Every kernel is always inlined into the per-layer function that calls it
 * with named constant sizes and tiles, so each layer gets a fully
 * specialised copy with compile-time tails and no remainder branches.
 * Compile time: gcc optimises a callee's own body, its callees inlined,
 * before it inlines it into a caller, so every kernel is also compiled once
 * in general form (sizes, tiles and modes unknown).  A choice that only a
 * constant resolves is therefore a call through a table (v_act_fwd_fn,
 * kern_epi) rather than a switch or an if: the general form holds one call
 * per register where it would hold every case's code (the optimizer's step,
 * the exp of sigmoid and tanh), and in a layer's copy the table entry is a
 * constant, so the call is direct and inlined like any other: the same
 * machine code, compiled in about half the time (docs/kernels.md).
 * Floating-point policy: see nncc_simd.h; here, every output element is ONE
 * sequential chain over its sum index, so tiles, vector width, instruction
 * set, thread count and tile size (max_batch) cannot change a result
 * (docs/performance.md).
 * Vocabulary: MR x NB = register tile (rows x vectors), n = rows in the
 * tile, j = input, i = output, d = delta dL/dz, g = dL/da.  Dropout's
 * masks (kern_dropout, at the end) come from a counter-based generator,
 * so they too are the same whatever the threads and tiles.
 */

#ifndef NNCC_POOL_H
#error "include nncc_kern.h after nncc_pool.h and nncc_vec.h"
#endif

/* The names this header defines, per copy. */
#define kern_opt_v KERN_ISA_NAME(kern_opt_v)
#define kern_opt_vg KERN_ISA_NAME(kern_opt_vg)
#define kern_epi_ptr KERN_ISA_NAME(kern_epi_ptr)
#define kern_epi_g_ptr KERN_ISA_NAME(kern_epi_g_ptr)
#define kern_epi_set KERN_ISA_NAME(kern_epi_set)
#define kern_epi_c0 KERN_ISA_NAME(kern_epi_c0)
#define kern_epi_c1 KERN_ISA_NAME(kern_epi_c1)
#define kern_epi_g_set KERN_ISA_NAME(kern_epi_g_set)
#define kern_epi_g_c0 KERN_ISA_NAME(kern_epi_g_c0)
#define kern_epi_g_c1 KERN_ISA_NAME(kern_epi_g_c1)
#define kern_epi KERN_ISA_NAME(kern_epi)
#define kern_epi_g KERN_ISA_NAME(kern_epi_g)
#define kern_update KERN_ISA_NAME(kern_update)
#define kern_deriv KERN_ISA_NAME(kern_deriv)
#define kern_fwd_tile KERN_ISA_NAME(kern_fwd_tile)
#define kern_fwd_block KERN_ISA_NAME(kern_fwd_block)
#define kern_fwd_rows KERN_ISA_NAME(kern_fwd_rows)
#define kern_fwd KERN_ISA_NAME(kern_fwd)
#define kern_dw_tile KERN_ISA_NAME(kern_dw_tile)
#define kern_dw_prefetch KERN_ISA_NAME(kern_dw_prefetch)
#define kern_dw_block KERN_ISA_NAME(kern_dw_block)
#define kern_db_tile KERN_ISA_NAME(kern_db_tile)
#define kern_dwt_tile KERN_ISA_NAME(kern_dwt_tile)
#define kern_dwt_block KERN_ISA_NAME(kern_dwt_block)
#define kern_dw_chunk KERN_ISA_NAME(kern_dw_chunk)
#define kern_dw_mode KERN_ISA_NAME(kern_dw_mode)
#define kern_dw KERN_ISA_NAME(kern_dw)
#define kern_dx_tile KERN_ISA_NAME(kern_dx_tile)
#define kern_dx_block KERN_ISA_NAME(kern_dx_block)
#define kern_dx_chunk KERN_ISA_NAME(kern_dx_chunk)
#define kern_dx KERN_ISA_NAME(kern_dx)
#define kern_mask KERN_ISA_NAME(kern_mask)
#define kern_dropout KERN_ISA_NAME(kern_dropout)
/* ... and those the generated file defines after it (templates/trainer.c):
 * the passes and the entry points, these as function-like macros, which
 * leave members such as u->step alone. */
#define forward_rows KERN_ISA_NAME(forward_rows)
#define backward_rows KERN_ISA_NAME(backward_rows)
#define step_rows KERN_ISA_NAME(step_rows)
#define weight_unit KERN_ISA_NAME(weight_unit)
#define forward(n, x) KERN_ISA_NAME(forward)(n, x)
#define backward(n, x, y, accumulate) KERN_ISA_NAME(backward)(n, x, y, accumulate)
#define update(u) KERN_ISA_NAME(update)(u)
#define step(n, x, y, u) KERN_ISA_NAME(step)(n, x, y, u)
#define step_part(n, x, y, u, p) KERN_ISA_NAME(step_part)(n, x, y, u, p)

#if KERN_SIMD
/* Named accumulators for register tiles of up to KERN_MAXMR rows x
 * KERN_MAXNB vectors: acc<r>_<v>.  Arrays of vectors indexed in unrolled
 * loops are fine for gcc, but clang 14 leaves them on the stack (10x slower),
 * so tiles are spelled with names; the guards `(r) < mr` are compile-time
 * constants after inlining and the unused names vanish.  AVX2's blocks
 * have at most KERN_BMR rows (below): spelling only those keeps its copy's
 * compile time near AVX-512's. */
#undef KERN_MAXMR
#undef KERN_ROWS_OF
#undef KERN_ROWS_LIMIT
#if KERN_ISA == KERN_ISA_AVX2
#define KERN_MAXMR 6
#define KERN_ROWS_OF(n, M) KERN_ROWS_6(M)
#define KERN_ROWS_LIMIT(n) 6
#else
#define KERN_MAXMR 32
#define KERN_ROWS_OF(n, M) KERN_PASTE(KERN_ROWS_, n)(M)
#define KERN_ROWS_LIMIT(n) (n)
#endif
#define KERN_MAXNB 4
#define KERN_VECS(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define KERN_ACC(r, v) acc##r##_##v
#define KERN_ACC_DECL1(r, v) vreal KERN_ACC(r, v) = V_ZERO();
#define KERN_ACC_DECLR(r) KERN_VECS(KERN_ACC_DECL1, r)
#define KERN_ACC_DECL(n) KERN_ROWS_OF(n, KERN_ACC_DECLR)
/* The rows each kernel spells, KERN_ROWS_<kernel>: the generated file
 * defines them (the most rows of any of its tiles, from the plan), so the
 * general form of a kernel that gcc compiles before inlining it (see
 * "Compile time" above) has only the rows some layer uses: its compile
 * time grows with the rows (a 4-3-2 network's trainer compiled in 3.1 s
 * with all 32, 1.1 s with 4).  A tile taller than its kernel's rows would
 * lose rows: KERN_ROWS_CHECK stops the program there (a constant test,
 * folded away once the tile is known). */
#ifndef KERN_ROWS_FWD
#define KERN_ROWS_FWD 32   /* kern_fwd_block: the plan's FWD_MR */
#endif
#ifndef KERN_ROWS_DW
#define KERN_ROWS_DW 32    /* kern_dw_block: DW_MR of the layers with OUT > VL */
#endif
#ifndef KERN_ROWS_DWT
#define KERN_ROWS_DWT 32   /* kern_dwt_block: OUT of the layers with OUT <= VL */
#endif
#ifndef KERN_ROWS_DX
#define KERN_ROWS_DX 32    /* kern_dx_block: DX_MR */
#endif
#define KERN_ROWS_CHECK(mr, n) do { if ((mr) > KERN_ROWS_LIMIT(n)) __builtin_trap(); } while (0)
#ifndef KERN_ROWS_1
#define KERN_ROWS_1(M) M(0)
#define KERN_ROWS_2(M) KERN_ROWS_1(M) M(1)
#define KERN_ROWS_3(M) KERN_ROWS_2(M) M(2)
#define KERN_ROWS_4(M) KERN_ROWS_3(M) M(3)
#define KERN_ROWS_5(M) KERN_ROWS_4(M) M(4)
#define KERN_ROWS_6(M) KERN_ROWS_5(M) M(5)
#define KERN_ROWS_7(M) KERN_ROWS_6(M) M(6)
#define KERN_ROWS_8(M) KERN_ROWS_7(M) M(7)
#define KERN_ROWS_9(M) KERN_ROWS_8(M) M(8)
#define KERN_ROWS_10(M) KERN_ROWS_9(M) M(9)
#define KERN_ROWS_11(M) KERN_ROWS_10(M) M(10)
#define KERN_ROWS_12(M) KERN_ROWS_11(M) M(11)
#define KERN_ROWS_13(M) KERN_ROWS_12(M) M(12)
#define KERN_ROWS_14(M) KERN_ROWS_13(M) M(13)
#define KERN_ROWS_15(M) KERN_ROWS_14(M) M(14)
#define KERN_ROWS_16(M) KERN_ROWS_15(M) M(15)
#define KERN_ROWS_17(M) KERN_ROWS_16(M) M(16)
#define KERN_ROWS_18(M) KERN_ROWS_17(M) M(17)
#define KERN_ROWS_19(M) KERN_ROWS_18(M) M(18)
#define KERN_ROWS_20(M) KERN_ROWS_19(M) M(19)
#define KERN_ROWS_21(M) KERN_ROWS_20(M) M(20)
#define KERN_ROWS_22(M) KERN_ROWS_21(M) M(21)
#define KERN_ROWS_23(M) KERN_ROWS_22(M) M(22)
#define KERN_ROWS_24(M) KERN_ROWS_23(M) M(23)
#define KERN_ROWS_25(M) KERN_ROWS_24(M) M(24)
#define KERN_ROWS_26(M) KERN_ROWS_25(M) M(25)
#define KERN_ROWS_27(M) KERN_ROWS_26(M) M(26)
#define KERN_ROWS_28(M) KERN_ROWS_27(M) M(27)
#define KERN_ROWS_29(M) KERN_ROWS_28(M) M(28)
#define KERN_ROWS_30(M) KERN_ROWS_29(M) M(29)
#define KERN_ROWS_31(M) KERN_ROWS_30(M) M(30)
#define KERN_ROWS_32(M) KERN_ROWS_31(M) M(31)
#endif
/* Lanes of the last vector of a row of `len` reals (a constant). */
#define V_TAIL(len) ((vmask)(((len) % VL) ? ((1u << ((len) % VL)) - 1u) : (vmask)~0u))
#define V_ALL ((vmask)~0u)
#endif
/* Vectors per row of `len` reals, and the mask of vector v of the chunk
 * that starts at vector c0 of such a row. */
#define KERN_NV(len) (((len) + VLW - 1) / VLW)
#define KERN_MASK(len, c0, v) ((c0) + (v) == KERN_NV(len) - 1 ? V_TAIL(len) : V_ALL)
#define KERN_MIN(a, b) ((a) < (b) ? (a) : (b))

#if KERN_SIMD
/* The lanes m of a vector of contiguous parameters at p; c the case. */
KERN_INLINE void kern_opt_v(const OptStep *opt, const int c, const int bias, vreal g, real *p,
                            real *S, size_t q, vmask m)
{
	vreal pv = V_MLOAD(m, p), s0 = V_ZERO(), s1 = V_ZERO(), s2 = V_ZERO();
	if (OPT_STATE > 0) s0 = V_MLOAD(m, S + q);
	if (OPT_STATE > 1) s1 = V_MLOAD(m, S + q + OPT_STRIDE);
	if (OPT_STATE > 2) s2 = V_MLOAD(m, S + q + 2 * OPT_STRIDE);
	opt_vector(opt, c, bias, g, &pv, &s0, &s1, &s2);
	V_MSTORE(p, m, pv);
	if (OPT_STATE > 0) V_MSTORE(S + q, m, s0);
	if (OPT_STATE > 1) V_MSTORE(S + q + OPT_STRIDE, m, s1);
	if (OPT_STATE > 2) V_MSTORE(S + q + 2 * OPT_STRIDE, m, s2);
}

/* The same for weights read with stride idx (the transposed gradient). */
KERN_INLINE void kern_opt_vg(const OptStep *opt, const int c, vreal g, real *p, real *S,
                             size_t q, vmask m, vindex idx)
{
	vreal pv = V_MGATHER(m, idx, p), s0 = V_ZERO(), s1 = V_ZERO(), s2 = V_ZERO();
	if (OPT_STATE > 0) s0 = V_MGATHER(m, idx, S + q);
	if (OPT_STATE > 1) s1 = V_MGATHER(m, idx, S + q + OPT_STRIDE);
	if (OPT_STATE > 2) s2 = V_MGATHER(m, idx, S + q + 2 * OPT_STRIDE);
	opt_vector(opt, c, 0, g, &pv, &s0, &s1, &s2);
	V_MSCATTER(p, m, idx, pv);
	if (OPT_STATE > 0) V_MSCATTER(S + q, m, idx, s0);
	if (OPT_STATE > 1) V_MSCATTER(S + q + OPT_STRIDE, m, idx, s1);
	if (OPT_STATE > 2) V_MSCATTER(S + q + 2 * OPT_STRIDE, m, idx, s2);
}

/* The weight-gradient blocks' epilogues, by kind e = KERN_EPI(mode, c):
 * 0 stores the sums into the gradient (KERN_GRAD_SET/ACC), 1 + c is the
 * fused update's case c.  The blocks call kern_epi[e] (kern_epi_g[e]: W
 * transposed), which a layer's constant mode and case resolve to one
 * direct, inlined call (see "Compile time" above). */
#define KERN_EPI(mode, c) ((mode) == KERN_GRAD_UPDATE ? 1 + (c) : 0)

/* Sums g of the lanes m at q: into G[q..], or the step of W[q..] and S. */
typedef void (*kern_epi_ptr)(const OptStep *opt, int bias, vreal g, real *W, real *G, real *S,
                             size_t q, vmask m);
/* The same for lanes at q + idx (the transposed gradient). */
typedef void (*kern_epi_g_ptr)(const OptStep *opt, vreal g, real *W, real *G, real *S, size_t q,
                               vmask m, vindex idx);

KERN_INLINE void kern_epi_set(const OptStep *opt, int bias, vreal g, real *W, real *G, real *S,
                              size_t q, vmask m)
{
	(void)opt, (void)bias, (void)W, (void)S;
	V_MSTORE(G + q, m, g);
}

KERN_INLINE void kern_epi_c0(const OptStep *opt, int bias, vreal g, real *W, real *G, real *S,
                             size_t q, vmask m)
{
	(void)G;
	kern_opt_v(opt, 0, bias, g, W + q, S, q, m);
}

KERN_INLINE void kern_epi_c1(const OptStep *opt, int bias, vreal g, real *W, real *G, real *S,
                             size_t q, vmask m)
{
	(void)G;
	kern_opt_v(opt, 1, bias, g, W + q, S, q, m);
}

KERN_INLINE void kern_epi_g_set(const OptStep *opt, vreal g, real *W, real *G, real *S, size_t q,
                                vmask m, vindex idx)
{
	(void)opt, (void)W, (void)S;
	V_MSCATTER(G + q, m, idx, g);
}

KERN_INLINE void kern_epi_g_c0(const OptStep *opt, vreal g, real *W, real *G, real *S, size_t q,
                               vmask m, vindex idx)
{
	(void)G;
	kern_opt_vg(opt, 0, g, W + q, S, q, m, idx);
}

KERN_INLINE void kern_epi_g_c1(const OptStep *opt, vreal g, real *W, real *G, real *S, size_t q,
                               vmask m, vindex idx)
{
	(void)G;
	kern_opt_vg(opt, 1, g, W + q, S, q, m, idx);
}

static const kern_epi_ptr kern_epi[3] = {kern_epi_set, kern_epi_c0, kern_epi_c1};
static const kern_epi_g_ptr kern_epi_g[3] = {kern_epi_g_set, kern_epi_g_c0, kern_epi_g_c1};
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
		kern_opt_v(opt, KERN_CASE_ANY, bias, V_MLOAD(m, G + off + k), P + off + k, S,
		           off + k, m);
	}
#endif
	for (; k < n; k++)
		kern_opt_s(opt, bias, G[off + k], P + off + k, S, off + k);
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

/* ---- The register tiles of one instruction set.  The plan's tiles
 * (MR rows x NB vectors, the *_MR and *_NB constants) are sized for
 * AVX-512's 32 registers; with AVX2's 16 registers of half the width, a
 * tile runs as blocks of at most KERN_BMR rows x 1 vector instead: 12
 * accumulator halves, 2 for the row of vectors loaded, 1 broadcast.  The
 * mr rows are shared out evenly (8 = 4 + 4, not 6 + 2): KERN_NBLK(mr)
 * blocks, the first mr % KERN_NBLK(mr) of them one row taller.  A block is
 * the same chains over fewer elements, so the same bits.
 * KERN_BLOCKS(mr, nb, BLOCK) calls BLOCK(r, v, rows, vecs) for each block,
 * r and v its first row and vector in the tile, rows and vecs constants. */
#undef KERN_BMR
#undef KERN_BLOCKS
#if KERN_ISA == KERN_ISA_AVX2
#define KERN_BMR KERN_MAXMR
#define KERN_NBLK(mr) (((mr) + KERN_BMR - 1) / KERN_BMR)
#define KERN_BLOCKS(mr, nb, BLOCK)                                                  \
	do {                                                                            \
		const int n_ = KERN_NBLK(mr), h_ = (mr) / n_, tall_ = (mr) % n_;            \
		int v_, b_;                                                                 \
		for (v_ = 0; v_ < (nb); v_++) {                                             \
			for (b_ = 0; b_ < tall_; b_++)                                          \
				BLOCK(b_ * (h_ + 1), v_, (mr) / KERN_NBLK(mr) + 1, 1);              \
			for (b_ = tall_; b_ < n_; b_++)                                         \
				BLOCK(tall_ * (h_ + 1) + (b_ - tall_) * h_, v_, (mr) / KERN_NBLK(mr), 1); \
		}                                                                           \
	} while (0)
#else
#define KERN_BLOCKS(mr, nb, BLOCK) BLOCK(0, 0, (mr), (nb))
#endif

#if KERN_SIMD
/* Rows [row, row+mr) x vectors [c0, c0+nb) of Y = f(X W + bias). */
KERN_INLINE void kern_fwd_block(real *Y, const real *X, const real *W, const real *bias,
                                const size_t IN, const size_t OUT, const int ACT, size_t row,
                                size_t c0, const int mr, const int nb)
{
	const real *x = X + row * IN, *w = W + c0 * VL, *bp = bias + c0 * VL;
	real *y = Y + row * OUT + c0 * VL;
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	vreal b0 = V_ZERO(), b1 = V_ZERO(), b2 = V_ZERO(), b3 = V_ZERO();
	size_t k;
	KERN_ACC_DECL(KERN_ROWS_FWD)
	KERN_ROWS_CHECK(mr, KERN_ROWS_FWD);
	KERN_OPAQUE(bp);
	if (nb > 0) b0 = V_MLOAD(m0, bp);
	if (nb > 1) b1 = V_MLOAD(m1, bp + VL);
	if (nb > 2) b2 = V_MLOAD(m2, bp + 2 * VL);
	if (nb > 3) b3 = V_MLOAD(m3, bp + 3 * VL);
#define INIT1(r, v) if ((r) < mr && (v) < nb) KERN_ACC(r, v) = b##v;
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS_OF(KERN_ROWS_FWD, INITR)
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
		KERN_ROWS_OF(KERN_ROWS_FWD, FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) \
	V_MSTORE(y + (size_t)(r) * OUT + (v) * VL, m##v, v_act_fwd_fn[ACT](KERN_ACC(r, v)));
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS_OF(KERN_ROWS_FWD, STORER)
#undef STORE1
#undef STORER
}

/* The MR x NB tile at (row, c0) of Y, in blocks (KERN_BLOCKS). */
KERN_INLINE void kern_fwd_tile(real *Y, const real *X, const real *W, const real *bias,
                               const size_t IN, const size_t OUT, const int ACT, size_t row,
                               size_t c0, const int mr, const int nb)
{
#define BLOCK(r, v, rows, vecs) \
	kern_fwd_block(Y, X, W, bias, IN, OUT, ACT, row + (size_t)(r), c0 + (size_t)(v), rows, vecs)
	KERN_BLOCKS(mr, nb, BLOCK);
#undef BLOCK
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
/* The fused update's epilogue reads and writes the tile's weights and
 * optimizer state, mr rows of W apart (rows OUT reals long): too many
 * streams for the hardware prefetcher once OUT is large, so every line of
 * them is asked for here, ahead of their use: the block's rows, the nb
 * vectors to its right (here vectors [c0, c0 + nb) of OUT, those past its
 * end left out), which the pass reaches one column chunk later
 * (kern_dw_mode: a unit's row tiles for one chunk, then the next chunk).
 * MNIST MLP with Adam, one thread: the block's own lines before its loop
 * over the batch saved 3-8% of the epoch; a chunk ahead instead, W4 with
 * Adam on 2 threads took 1.46x SGD's time instead of 1.64x
 * (docs/performance.md).  Only for a W larger than KERN_PREFETCH_BYTES: a
 * smaller one stays in the caches. */
#define KERN_PREFETCH_BYTES (512 * 1024)
KERN_INLINE void kern_dw_prefetch(const real *W, const real *S, size_t j, size_t c0,
                                  const size_t OUT, const int mr, const int nb)
{
	const size_t nv = KERN_NV(OUT);
	int r, v;
	for (r = 0; r < mr; r++)
		for (v = 0; v < nb; v++) {
			const size_t q = (j + (size_t)r) * OUT + (c0 + (size_t)v) * VL;
			if (c0 + (size_t)v >= nv)
				break;
			__builtin_prefetch(W + q, 1, 3);
			if (OPT_STATE > 0) __builtin_prefetch(S + q, 1, 3);
			if (OPT_STATE > 1) __builtin_prefetch(S + q + OPT_STRIDE, 1, 3);
			if (OPT_STATE > 2) __builtin_prefetch(S + q + 2 * OPT_STRIDE, 1, 3);
		}
}

/* Rows j [j, j+mr) x vectors [c0, c0+nb) of X^T D, then the mode's epilogue
 * into G (set/accumulate) or W and its state S (the fused update, the
 * optimizer's case c; 0 in the other modes). */
KERN_INLINE void kern_dw_block(const int mode, const int c, size_t n, real *W, real *G, real *S,
                               const real *X, const real *D, const OptStep *opt, const size_t IN,
                               const size_t OUT, size_t j, size_t c0, const int mr, const int nb)
{
	const vmask m0 = KERN_MASK(OUT, c0, 0), m1 = KERN_MASK(OUT, c0, 1),
	            m2 = KERN_MASK(OUT, c0, 2), m3 = KERN_MASK(OUT, c0, 3);
	const size_t o = j * OUT + c0 * VL;   /* tile origin in W, G and S */
	size_t b;
	KERN_ACC_DECL(KERN_ROWS_DW)
	KERN_ROWS_CHECK(mr, KERN_ROWS_DW);
#define INIT1(r, v) if ((r) < mr && (v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MLOAD(m##v, G + o + (size_t)(r) * OUT + (v) * VL);
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS_OF(KERN_ROWS_DW, INITR)
#undef INIT1
#undef INITR
	if (mode == KERN_GRAD_UPDATE && IN * OUT * sizeof(real) > KERN_PREFETCH_BYTES)
		kern_dw_prefetch(W, S, j, c0 + (size_t)nb, OUT, mr, nb);
	for (b = 0; b < n; b++) {
		const real *x = X + b * IN + j, *db = D + b * OUT + c0 * VL;
		vreal d0 = V_ZERO(), d1 = V_ZERO(), d2 = V_ZERO(), d3 = V_ZERO();
		if (nb > 0) { d0 = V_MLOAD(m0, db); KERN_REG(d0); }
		if (nb > 1) { d1 = V_MLOAD(m1, db + VL); KERN_REG(d1); }
		if (nb > 2) { d2 = V_MLOAD(m2, db + 2 * VL); KERN_REG(d2); }
		if (nb > 3) { d3 = V_MLOAD(m3, db + 3 * VL); KERN_REG(d3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(xb, d##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal xb = V_SET1(x[r]); KERN_VECS(FMA1, r) }
		KERN_ROWS_OF(KERN_ROWS_DW, FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) { \
		const size_t q_ = o + (size_t)(r) * OUT + (v) * VL; \
		kern_epi[KERN_EPI(mode, c)](opt, 0, KERN_ACC(r, v), W, G, S, q_, m##v); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS_OF(KERN_ROWS_DW, STORER)
#undef STORE1
#undef STORER
}

/* The same for the weight gradient's tile at (j, c0). */
KERN_INLINE void kern_dw_tile(const int mode, const int c, size_t n, real *W, real *G, real *S,
                              const real *X, const real *D, const OptStep *opt, const size_t IN,
                              const size_t OUT, size_t j, size_t c0, const int mr, const int nb)
{
#define BLOCK(r, v, rows, vecs) kern_dw_block(mode, c, n, W, G, S, X, D, opt, IN, OUT, \
	j + (size_t)(r), c0 + (size_t)(v), rows, vecs)
	KERN_BLOCKS(mr, nb, BLOCK);
#undef BLOCK
}

/* The bias "row": g = g + d[b][i] (== FMA(1, d, g)), same epilogues. */
KERN_INLINE void kern_db_tile(const int mode, const int c, size_t n, real *bias, real *Gb, real *Sb,
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
		kern_epi[KERN_EPI(mode, c)](opt, 1, KERN_ACC(r, v), bias, Gb, Sb, q_, m##v); }
	KERN_VECS(STORE1, 0)
#undef STORE1
}

/* Layers with OUT <= VL (one vector per row of OUT, e.g. 10 classes):
 * vectorised along j instead, so every lane is used.  Rows i [i0, i0+ni) x
 * vectors [c0, c0+nb) of j: per sample b, nb loads of X[b][j..], OUT
 * broadcasts of D[b][i]; the same chain per element, so the same bits.  G
 * and W are read and written transposed (stride OUT) with gathers and
 * scatters, once per tile. */
KERN_INLINE void kern_dwt_block(const int mode, const int c, size_t n, real *W, real *G, real *S,
                                const real *X, const real *D, const OptStep *opt, const size_t IN,
                                const size_t OUT, size_t i0, const int ni, size_t c0, const int nb)
{
	const vmask m0 = KERN_MASK(IN, c0, 0), m1 = KERN_MASK(IN, c0, 1),
	            m2 = KERN_MASK(IN, c0, 2), m3 = KERN_MASK(IN, c0, 3);
	const vindex idx = VI_IOTA_STRIDE((int)OUT);   /* j -> j * OUT */
	size_t b;
	KERN_ACC_DECL(KERN_ROWS_DWT)
	KERN_ROWS_CHECK(ni, KERN_ROWS_DWT);
#define AT(r, v) ((c0 + (v)) * VL * OUT + i0 + (size_t)(r))   /* W[j0 of vector v][i = i0 + r] */
#define INIT1(r, v) if ((r) < ni && (v) < nb && mode == KERN_GRAD_ACC) \
	KERN_ACC(r, v) = V_MGATHER(m##v, idx, G + AT(r, v));
#define INITR(r) KERN_VECS(INIT1, r)
	KERN_ROWS_OF(KERN_ROWS_DWT, INITR)
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
#define FMAR(r) if ((r) < ni) { const vreal db = V_SET1(d[i0 + (size_t)(r)]); KERN_VECS(FMA1, r) }
		KERN_ROWS_OF(KERN_ROWS_DWT, FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < ni && (v) < nb) { \
		kern_epi_g[KERN_EPI(mode, c)](opt, KERN_ACC(r, v), W, G, S, AT(r, v), m##v, idx); }
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS_OF(KERN_ROWS_DWT, STORER)
#undef STORE1
#undef STORER
#undef AT
}

/* All OUT rows i x vectors [c0, c0+nb) of j, in blocks (rows of i here). */
KERN_INLINE void kern_dwt_tile(const int mode, const int c, size_t n, real *W, real *G, real *S,
                               const real *X, const real *D, const OptStep *opt, const size_t IN,
                               const size_t OUT, size_t c0, const int nb)
{
#define BLOCK(r, v, rows, vecs) kern_dwt_block(mode, c, n, W, G, S, X, D, opt, IN, OUT, \
	(size_t)(r), rows, c0 + (size_t)(v), vecs)
	KERN_BLOCKS((int)OUT, nb, BLOCK);
#undef BLOCK
}

/* j tiles [jt0, jt1) of one column chunk; tile njt-1 is the bias row. */
KERN_INLINE void kern_dw_chunk(const int mode, const int c, size_t n, real *W, real *bias, real *G,
                               real *Gb, real *S, real *Sb, const real *X, const real *D,
                               const OptStep *opt, const size_t IN, const size_t OUT, const int MR,
                               size_t jt0, size_t jt1, size_t c0, const int nb)
{
	const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
	const int lastmr = (int)(IN - (njt - 2) * (size_t)MR);
	size_t jt;
	for (jt = jt0; jt < jt1; jt++) {
		if (jt + 2 < njt || (jt + 2 == njt && lastmr == MR))
			kern_dw_tile(mode, c, n, W, G, S, X, D, opt, IN, OUT, jt * (size_t)MR, c0,
			             MR, nb);
		else if (jt + 2 == njt)
			kern_dw_tile(mode, c, n, W, G, S, X, D, opt, IN, OUT, jt * (size_t)MR, c0,
			             lastmr, nb);
		else
			kern_db_tile(mode, c, n, bias, Gb, Sb, D, opt, OUT, c0, nb);
	}
}

KERN_INLINE void kern_dw_mode(const int mode, const int c, size_t n, real *W, real *bias, real *G,
                              real *Gb, real *S, real *Sb, const real *X, const real *D,
                              const OptStep *opt, const size_t IN, const size_t OUT, const int MR,
                              const int NB, size_t jt0, size_t jt1)
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
				kern_dwt_tile(mode, c, n, W, G, S, X, D, opt, IN, OUT,
				              jt * (size_t)(MR / VL), MR / VL);
			else if (jt + 2 == njt)
				kern_dwt_tile(mode, c, n, W, G, S, X, D, opt, IN, OUT,
				              jt * (size_t)(MR / VL), lastv);
			else
				kern_db_tile(mode, c, n, bias, Gb, Sb, D, opt, OUT, 0, 1);
		}
		return;
	}
	for (ch = 0; ch + 1 < nch; ch++)
		kern_dw_chunk(mode, c, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, jt0, jt1,
		              ch * (size_t)NB, NB);
	kern_dw_chunk(mode, c, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, jt0, jt1,
	              ch * (size_t)NB, lastnb);
}
#endif

/* Weight and bias gradient of the tile (n rows of X and D) for j tiles
 * [jt0, jt1) of MR rows of W (tile ceil(IN/MR) is the bias), all of OUT:
 * mode KERN_GRAD_SET/ACC into G, Gb; KERN_GRAD_UPDATE: the optimizer's
 * step on W, bias and their state S, Sb with the sums as the gradient, in
 * the fused copy opt_case() names (nncc_pool.h), or, when it names none,
 * into G, Gb and then the unfused update of the same rows: the same bits. */
KERN_INLINE void kern_dw(int mode, size_t n, real *W, real *bias, real *G, real *Gb, real *S,
                         real *Sb, const real *X, const real *D, const OptStep *opt,
                         const size_t IN, const size_t OUT, const int MR, const int NB,
                         size_t jt0, size_t jt1)
{
	/* the tiles' rows of W: [j0, j1), j == IN the bias row */
	const size_t njt = (IN + (size_t)MR - 1) / (size_t)MR + 1;
	const size_t j0 = KERN_MIN(jt0 * (size_t)MR, IN);
	const size_t j1 = jt1 >= njt ? IN + 1 : KERN_MIN(jt1 * (size_t)MR, IN);
#if KERN_SIMD
	const int c = mode == KERN_GRAD_UPDATE ? opt_case(opt) : 0;

	if (mode == KERN_GRAD_UPDATE && c == 0)
		kern_dw_mode(KERN_GRAD_UPDATE, 0, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR,
		             NB, jt0, jt1);
	else if (mode == KERN_GRAD_UPDATE && OPT_CASES > 1 && c == 1)
		kern_dw_mode(KERN_GRAD_UPDATE, 1, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR,
		             NB, jt0, jt1);
	else if (mode == KERN_GRAD_ACC)
		kern_dw_mode(KERN_GRAD_ACC, 0, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, NB,
		             jt0, jt1);
	else   /* KERN_GRAD_SET, and an update with no fused copy */
		kern_dw_mode(KERN_GRAD_SET, 0, n, W, bias, G, Gb, S, Sb, X, D, opt, IN, OUT, MR, NB,
		             jt0, jt1);
	if (c == KERN_CASE_ANY) {   /* ... whose unfused update follows */
		kern_update(opt, 0, W, G, S, j0 * OUT, (KERN_MIN(j1, IN) - j0) * OUT);
		if (j1 > IN)
			kern_update(opt, 1, bias, Gb, Sb, 0, OUT);
	}
#else
	/* The chain runs in G's row (a vectorised local row array met a gcc 12
	 * stack-alignment miscompile), so G is scratch in the fused update. */
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
/* Rows [row, row+mr) x vectors [c0, c0+nb) of IN; pk holds W^T for them,
 * in rows of pnb vectors: pk[i*pnb*VL + v*VL + lane] = W[(c0 + v)*VL + lane][i]. */
KERN_INLINE void kern_dx_block(real *Gp, const real *D, const real *pk, const int pnb,
                               const size_t IN, const size_t OUT, size_t row, size_t c0,
                               const int mr, const int nb)
{
	const vmask m0 = KERN_MASK(IN, c0, 0), m1 = KERN_MASK(IN, c0, 1),
	            m2 = KERN_MASK(IN, c0, 2), m3 = KERN_MASK(IN, c0, 3);
	const real *d = D + row * OUT;
	const size_t o = row * IN + c0 * VL;
	size_t i;
	KERN_ACC_DECL(KERN_ROWS_DX)
	KERN_ROWS_CHECK(mr, KERN_ROWS_DX);
	for (i = 0; i < OUT; i++) {
		const real *pi = pk + i * (size_t)pnb * VL;
		vreal w0 = V_ZERO(), w1 = V_ZERO(), w2 = V_ZERO(), w3 = V_ZERO();
		if (nb > 0) { w0 = V_LOAD(pi); KERN_REG(w0); }
		if (nb > 1) { w1 = V_LOAD(pi + VL); KERN_REG(w1); }
		if (nb > 2) { w2 = V_LOAD(pi + 2 * VL); KERN_REG(w2); }
		if (nb > 3) { w3 = V_LOAD(pi + 3 * VL); KERN_REG(w3); }
#define FMA1(r, v) if ((v) < nb) KERN_ACC(r, v) = V_FMA(db, w##v, KERN_ACC(r, v));
#define FMAR(r) if ((r) < mr) { const vreal db = V_SET1(d[(size_t)(r) * OUT + i]); KERN_VECS(FMA1, r) }
		KERN_ROWS_OF(KERN_ROWS_DX, FMAR)
#undef FMA1
#undef FMAR
	}
#define STORE1(r, v) if ((r) < mr && (v) < nb) \
		V_MSTORE(Gp + o + (size_t)(r) * IN + (v) * VL, m##v, KERN_ACC(r, v));
#define STORER(r) KERN_VECS(STORE1, r)
	KERN_ROWS_OF(KERN_ROWS_DX, STORER)
#undef STORE1
#undef STORER
}

/* The same for the input gradient's tile at (row, c0). */
KERN_INLINE void kern_dx_tile(real *Gp, const real *D, const real *pk, const size_t IN,
                              const size_t OUT, size_t row, size_t c0, const int mr,
                              const int nb)
{
#define BLOCK(r, v, rows, vecs) kern_dx_block(Gp, D, pk + (size_t)(v) * VL, nb, IN, OUT, \
	row + (size_t)(r), c0 + (size_t)(v), rows, vecs)
	KERN_BLOCKS(mr, nb, BLOCK);
#undef BLOCK
}

/* Outputs per block of the W^T pack: W's rows are read along in runs of this
 * many reals while the block's lines of pk stay in L1. */
#define KERN_PACK_BLOCK 64

/* One column chunk of IN for rows [r0, r1): pack W^T for it (used by every
 * row), then the tiles.  The pack reads W along its rows, a block of outputs
 * at a time: a gather down W's columns touches a line per lane, and with
 * OUT a multiple of 1024 floats all of them fall in one L1 set. */
KERN_INLINE void kern_dx_chunk(real *Gp, const real *D, const real *W, real *pk, const size_t IN,
                               const size_t OUT, const int MR, size_t r0, size_t r1, size_t c0,
                               const int nb)
{
	const size_t j0 = c0 * VL, nj = (size_t)nb * VL;
	size_t i0, i, l, row = r0;
	for (i0 = 0; i0 < OUT; i0 += KERN_PACK_BLOCK) {
		const size_t i1 = KERN_MIN(i0 + KERN_PACK_BLOCK, OUT);
		for (l = 0; l < nj; l++) {
			real *p = pk + i0 * nj + l;
			if (j0 + l < IN) {
				const real *w = W + (j0 + l) * OUT;
				for (i = i0; i < i1; i++, p += nj)
					*p = w[i];
			} else
				for (i = i0; i < i1; i++, p += nj)
					*p = R(0.0);
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

#undef KERN_MASK_SIMD
#if KERN_ISA == KERN_ISA_AVX512 && (KERN_DISPATCH || defined(__AVX512DQ__))
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
 * layer LAYER for `key` (Y = X when its step is 0); Y may be X.  Dropout's
 * forward pass (Y = a, X = the input) and backward pass (Y = the input's
 * gradient, X = g) are the same product: the mask is generated again, in
 * the same pass that applies it, rather than stored.  Pre-training's
 * denoising masks its inputs with SCALE 1 (kern_job.noise). */
KERN_INLINE void kern_mask(real *Y, const real *X, const size_t W, const uint64_t LAYER,
                           const uint32_t THRESH, const real SCALE, const KernMask *key,
                           size_t r0, size_t r1)
{
	if (key->step == 0) {
		if (Y == X)
			return;
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

/* Dropout: the mask of kern_job.mask. */
KERN_INLINE void kern_dropout(real *Y, const real *X, const size_t W, const uint64_t LAYER,
                              const uint32_t THRESH, const real SCALE, size_t r0, size_t r1)
{
	kern_mask(Y, X, W, LAYER, THRESH, SCALE, &kern_job.mask, r0, r1);
}
