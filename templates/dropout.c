/*
 * dropout.c - inverted dropout, in the trainer only (inference code skips
 * the layer: it is the identity there).  While training, a = x * m / (1 -
 * rate) with m[s][i] in {0, 1} drawn per sample and unit; the backward pass
 * multiplies by the same m / (1 - rate).  The mask is never stored: both
 * passes generate it again from its key, (seed, layer, step, sample, unit),
 * with nncc_kern.h's counter-based generator (kern_dropout), so it does not
 * depend on threads or tiles and a --resume continues it exactly.  With
 * kern_job.mask.step = 0 (evaluation, nncc_evaluate) a = x.
 * Placeholders: K, NAME, FN, A/X = its output and input buffers, AN/XN
 * their names in formulas, G/GX/GXN = the output's and the input's
 * gradient buffers, IN/OUT and IN_N/OUT_N = sizes (equal), DROP_BELOW and
 * SCALE = its constants' names, RATE/DROP_BELOW_N/SCALE_N their values.
 */

//@ section forward
#define {{DROP_BELOW}} {{DROP_BELOW_N}}u /* floor(rate * 2^32): 32 random bits below it drop a unit */
#define {{SCALE}} ((real){{SCALE_N}}) /* 1 / (1 - rate): a kept unit's factor */

/* layer {{K}} "{{NAME}}" forward, rows [r0, r1) of the tile, rate {{RATE}}:
 *   {{AN}}[s][i] = {{XN}}[s][i] * m[s][i] * {{SCALE}},   m[s][i] = [bits(s, i) >= {{DROP_BELOW}}]
 *   bits(s, i) = the generator's 32 bits for (seed, layer {{K}}, step, sample, unit i)
 *   {{XN}} (B, {{IN_N}}) -> {{AN}} (B, {{OUT_N}}); {{AN}} = {{XN}} when evaluating */
KERN_LAYER void {{FN}}_forward(size_t r0, size_t r1)
{
	kern_dropout(&{{A}}[0][0], {{X}}, {{OUT}}, {{K}}, {{DROP_BELOW}}, {{SCALE}}, r0, r1);
}

//@ section backward
/* layer {{K}} "{{NAME}}" backward, rows [r0, r1): the same mask, generated again
 *   {{GXN}}[s][i] = g{{K}}[s][i] * m[s][i] * {{SCALE}} */
KERN_LAYER void {{FN}}_backward(size_t r0, size_t r1, int tid)
{
	(void)tid;
	kern_dropout(&{{GX}}[0][0], &{{G}}[0][0], {{OUT}}, {{K}}, {{DROP_BELOW}}, {{SCALE}}, r0, r1);
}
