/*
 * nncc_dispatch.h - the entry points of a generated trainer built for run-time
 * dispatch (KERN_DISPATCH, nncc_simd.h): forward, backward, update, step and
 * step_part call the copy of the kernel section that kern_isa_pick() chose
 * when the file was loaded (nncc_pool.h).  Network-independent: the copies' entry
 * points have fixed names (forward_avx2, ...; nncc_kern.h).  Included once
 * by each generated file, after its kernel section; without dispatch it
 * defines nothing (the one copy's entry points are the file's).
 */
#ifndef NNCC_DISPATCH_H
#define NNCC_DISPATCH_H

#if KERN_DISPATCH
#undef forward
#undef backward
#undef update
#undef step
#undef step_part

/* By instruction set (KERN_ISA_*). */
static const KernEntries kern_entries[KERN_N_ISAS] = {
	{forward_generic, backward_generic, update_generic, step_generic, step_part_generic},
	{forward_fma, backward_fma, update_fma, step_fma, step_part_fma},
	{forward_avx2, backward_avx2, update_avx2, step_avx2, step_part_avx2},
	{forward_avx512, backward_avx512, update_avx512, step_avx512, step_part_avx512},
};

static void forward(size_t n, const void *x)
{
	kern_entries[kern_isa].forward(n, x);
}

static void backward(size_t n, const void *x, const void *y, int accumulate)
{
	kern_entries[kern_isa].backward(n, x, y, accumulate);
}

static void update(const nncc_update_t *u)
{
	kern_entries[kern_isa].update(u);
}

static double step(size_t n, const void *x, const void *y, const nncc_update_t *u)
{
	return kern_entries[kern_isa].step(n, x, y, u);
}

static double step_part(size_t n, const void *x, const void *y, const nncc_update_t *u,
                        const nncc_part_t *p)
{
	return kern_entries[kern_isa].step_part(n, x, y, u, p);
}
#endif

#endif
