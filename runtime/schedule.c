/*
 * schedule.c - the learning-rate schedules: their rows (name, keys, the
 * keys' defaults), the keys' table (YAML key = option = field of
 * nncc_schedule_t, its kind and range), and the rate of one update.  The
 * compiler parses `training.schedule` from these rows and the driver makes
 * its options from them, so a schedule or a key is spelt here only.
 * Vocabulary: t = the update's 1-based number (the optimizer's step
 * counter), W = warmup, i = what the schedule counts (t - 1 - W updates
 * after the warmup, or the epoch).
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "nncc.h"

#define PI 3.14159265358979323846
#define COUNT_MAX 4294967295.0 /* as the YAML's other counts */

/* Bit k of a row's `keys` is nncc_schedule_keys[k]. */
enum { K_GAMMA = 1u << 0, K_STEP_SIZE = 1u << 1, K_UNIT = 1u << 2, K_MIN_LR = 1u << 3,
       K_T_MAX = 1u << 4, K_WARMUP = 1u << 5 };

#define KEY(name, kind, min, max, min_open, max_open, help) \
	{#name, kind, offsetof(nncc_schedule_t, name), min, max, min_open, max_open, help}

const nncc_schedule_key_t nncc_schedule_keys[] = {
	KEY(gamma, NNCC_SKEY_NUMBER, 0, 1, 1, 0, "step, exponential: the decay factor"),
	KEY(step_size, NNCC_SKEY_COUNT, 1, COUNT_MAX, 0, 0,
	    "step: decay every N units (epochs or\niterations, see --unit)"),
	KEY(unit, NNCC_SKEY_UNIT, 0, 0, 0, 0,
	    "step, exponential: decay per epoch or per\niteration"),
	KEY(min_lr, NNCC_SKEY_NUMBER, 0, HUGE_VAL, 0, 1, "cosine: the rate it anneals to"),
	KEY(t_max, NNCC_SKEY_COUNT, 0, COUNT_MAX, 0, 0,
	    "cosine: the update that reaches min_lr (0 =\nthis run's last one)"),
	KEY(warmup, NNCC_SKEY_COUNT, 0, COUNT_MAX, 0, 0,
	    "updates of linear warmup: lr = base * t / N\nfor t <= N (0 = none)"),
};
const size_t nncc_schedule_key_count = sizeof nncc_schedule_keys / sizeof nncc_schedule_keys[0];

const nncc_schedule_info_t nncc_schedules[] = {
	[NNCC_SCHEDULE_CONSTANT] = {"constant", K_WARMUP, 0, {.type = NNCC_SCHEDULE_CONSTANT},
	                            "lr = base"},
	[NNCC_SCHEDULE_STEP] = {"step", K_GAMMA | K_STEP_SIZE | K_UNIT | K_WARMUP, K_STEP_SIZE,
	                        {.type = NNCC_SCHEDULE_STEP, .gamma = 0.1},
	                        "lr = base * gamma^floor(i / step_size)"},
	[NNCC_SCHEDULE_EXPONENTIAL] = {"exponential", K_GAMMA | K_UNIT | K_WARMUP, K_GAMMA,
	                               {.type = NNCC_SCHEDULE_EXPONENTIAL}, "lr = base * gamma^i"},
	[NNCC_SCHEDULE_COSINE] = {"cosine", K_MIN_LR | K_T_MAX | K_WARMUP, 0,
	                          {.type = NNCC_SCHEDULE_COSINE},
	                          "lr = min_lr + (base - min_lr) (1 + cos(pi i / (t_max - W))) / 2"},
};
const size_t nncc_schedule_count = sizeof nncc_schedules / sizeof nncc_schedules[0];

const nncc_schedule_info_t *nncc_schedule_find(const char *name)
{
	for (size_t k = 0; k < nncc_schedule_count; k++)
		if (strcmp(nncc_schedules[k].name, name) == 0)
			return &nncc_schedules[k];
	return NULL;
}

const char *nncc_schedule_name(int type)
{
	switch (type) {
#define NNCC_X(ID, v, name) case v: return #name;
	NNCC_SCHEDULES(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

const char *nncc_unit_name(int unit)
{
	switch (unit) {
#define NNCC_X(ID, v, name) case v: return #name;
	NNCC_UNITS(NNCC_X)
#undef NNCC_X
	}
	return "?";
}

/* The formulas are nncc.h's.  Without warmup they are the closed forms of
 * PyTorch 1.13's StepLR, ExponentialLR and CosineAnnealingLR at
 * last_epoch = i (whose get_lr() multiplies recursively: the same values
 * up to rounding); with warmup, iterations counted, SequentialLR of
 * LinearLR(1/W, 1, W - 1) and the schedule from update W + 1 on. */
double nncc_schedule_lr(const nncc_schedule_t *s, double base_lr, uint64_t step,
                        uint64_t epoch, uint64_t total)
{
	uint64_t t = step ? step : 1, W = s->warmup, T, i;

	if (t <= W)
		return base_lr * (double)t / (double)W;
	i = s->unit == NNCC_UNIT_ITERATIONS ? t - 1 - W : epoch;
	switch (s->type) {
	case NNCC_SCHEDULE_STEP:
		return s->step_size ? base_lr * pow(s->gamma, (double)(i / s->step_size)) : base_lr;
	case NNCC_SCHEDULE_EXPONENTIAL:
		return base_lr * pow(s->gamma, (double)i);
	case NNCC_SCHEDULE_COSINE:
		T = s->t_max ? s->t_max : total;
		if (T <= W)
			return s->min_lr;
		return s->min_lr + (base_lr - s->min_lr) *
		                       (1 + cos(PI * (double)(t - 1 - W) / (double)(T - W))) / 2;
	}
	return base_lr;
}
