/*
 * fuzz_options.c - libFuzzer harness: the trainer's option parser
 * (runtime/driver.c, nncc_opts_parse: what nncc_main does with argv before
 * it reads any data).
 *
 * Input: byte 0 picks the model the options are parsed for, the rest is
 * argv (after argv[0]), one word per NUL- or newline-separated piece.  Bits
 * 0-3 of byte 0 pick the optimizer, a row of the compiler's optimizer_table
 * (its hyper-parameters become the descriptor's, as emit.c writes them:
 * --beta1, --amsgrad, ...), bits 4-5 the compiled-in schedule (with its
 * defaults), bit 6 compiles in a validation set with early stopping, bit 7
 * the float64 dtype.  The descriptor has no entry points: nothing is
 * trained.  --help prints to stdout and errors to stderr (run.sh passes
 * -close_fd_mask=3).
 */
#define _GNU_SOURCE
#include <math.h>

#include "fuzzutil.h"
#include "driver.h"
#include "../../compiler/nncc.h"

static nncc_hparam_t hparams[NNCC_MAX_HPARAMS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned flags = data[0];
	const OptimizerInfo *opt = &optimizer_table[(flags & 15) % optimizer_count];
	size_t n_hp = opt->n_hparams < NNCC_MAX_HPARAMS ? opt->n_hparams : NNCC_MAX_HPARAMS;
	for (size_t h = 0; h < n_hp; h++) {
		const HParam *hp = &opt->hparams[h];
		/* as emit.c: a layout switch is fixed, its range is its value */
		hparams[h] = (nncc_hparam_t){hp->key, hp->def, hp->layout ? hp->def : hp->min,
		                             hp->layout ? hp->def : hp->max, hp->min_open,
		                             hp->max_open, hp->flag, hp->help};
	}
	int sched = (int)(flags >> 4 & 3) % (int)nncc_schedule_count;
	nncc_schedule_t schedule = nncc_schedules[sched].defaults;
	schedule.type = sched;
	if (nncc_schedules[sched].required) {
		/* a compiled-in schedule has every key it needs */
		schedule.gamma = 0.5;
		schedule.step_size = 3;
	}
	nncc_model_t m = {
		FUZZ_MODEL_FIELDS,
		.dtype = flags & 128 ? NNCC_F64 : NNCC_F32,
		.optimizer = opt->name,
		.n_hparams = n_hp,
		.hparams = n_hp ? hparams : NULL,
		.loss_name = "cross_entropy",
		.config = {
			.learning_rate = isnan(opt->default_lr) ? 0.1 : opt->default_lr,
			.schedule = schedule,
			.batch_size = 10,
			.epochs = 5,
			.seed = 1,
			.shuffle = 1,
			.validation = flags & 64 ? 0.1 : 0,
			.patience = flags & 64 ? 3 : 0,
			.init = NNCC_INIT_NORMAL,
			.init_scale = 0.1,
			.normalize = NNCC_NORM_STANDARDIZE,
			.threads = 1,
		},
	};

	int argc;
	char **argv = fuzz_words(data + 1, size - 1, "fuzz", &argc);
	nncc_opts_t o;
	int rc = nncc_opts_parse(&o, argc, argv, &m);
	if (rc != -1 && rc != 0 && rc != 2)
		abort();
	if (rc == -1) {
		/* What the driver relies on after a successful parse. */
		if (o.iterations && o.epochs)
			abort();
		if (!(o.lr > 0) || !isfinite(o.lr) || !(o.clip_norm >= 0) || !(o.min_delta >= 0))
			abort();
		if (o.patience && o.validation == 0)
			abort();
	}
	fuzz_words_free(argv, argc);
	return 0;
}
