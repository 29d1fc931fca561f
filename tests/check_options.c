/*
 * check_options.c - what nncc_main() (driver.c) settles before it trains,
 * on the "blobs" model and its data (driverutil.h): the command line
 * (--epochs against --iterations, --threads, --load, --help with its
 * defaults, every bad option exiting 2 with its message), where the data
 * comes from (--data, config.data_dir, absolute file names) and whether it
 * fits the network, and the model descriptors it refuses (ABI version,
 * init kind, missing output tensor, zero sizes).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "driverutil.h"
#include "nncc.h"
#include "testutil.h"

START_TEST(epochs_and_iterations_override_each_other)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	/* ceil(300 / 7) = 43 iterations per epoch. */
	result_t a = run_net(&blob_model, dir, "--json", "--batch", "7", "--epochs", "2", NULL);
	result_t b = run_net(&blob_model, dir, "--json", "--epochs", "2", "--iterations", "5", NULL);
	result_t c = run_net(&blob_model, dir, "--json", "--iterations", "5", "--epochs", "1", NULL);
	result_t d = run_net(&blob_model, dir, "--json", "--batch", "full", "--iterations", "3", NULL);
	ck_assert_double_eq(json_num(a.out, "iterations"), 86);
	ck_assert_double_eq(json_num(a.out, "epochs"), 2);   /* the last batch of a pass: 6 */
	ck_assert_double_eq(json_num(a.out, "batch_size"), 7);
	ck_assert_double_eq(json_num(b.out, "iterations"), 5);
	ck_assert_double_eq(json_num(c.out, "iterations"), 30);
	ck_assert_double_eq(json_num(d.out, "batch_size"), N_TRAIN);
	ck_assert_double_eq(json_num(d.out, "epochs"), 3);
	result_free(&a);
	result_free(&b);
	result_free(&c);
	result_free(&d);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(load_error_is_reported)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--load", "/nonexistent/w.bin", NULL);
	ck_assert_int_eq(r.rc, 1);
	ASSERT_HAS(r.err, "blobs: error: ");
	ASSERT_HAS(r.err, "/nonexistent/w.bin");
	ck_assert_str_eq(r.out, "");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(missing_data_names_the_file)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *nowhere = tu_path(dir, "nowhere");
	result_t r = run_net(&blob_model, dir, "--data", nowhere, NULL); /* the last --data wins */
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(strncmp(r.err, "blobs: error: ", 14) == 0, "%s", r.err);
	ASSERT_HAS(r.err, "nowhere/train-images-idx3-ubyte");
	result_free(&r);
	free(nowhere);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(config_data_dir_and_absolute_names)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	char *abs = tu_path(dir, "t10k-labels-idx1-ubyte");
	nncc_model_t m = blob_model;
	m.config.data_dir = "/nonexistent";
	m.config.files[NNCC_FILE_TEST_LABELS] = abs;
	/* --data overrides config.data_dir; an absolute name ignores both. */
	result_t r = run_net(&m, dir, "--iterations", "1", NULL);
	ck_assert_int_eq(r.rc, 0);
	result_free(&r);
	m.config.data_dir = dir;
	char *argv[] = {"net", "--iterations", "1", "--quiet", NULL};
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(99);
		exit(nncc_main(4, argv, &m));
	}
	int st;
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	free(abs);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(inputs_mismatch)
{
	char *dir = make_data(9, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, NULL);
	char want[4300];
	ck_assert_int_eq(r.rc, 1);
	snprintf(want, sizeof want,
	         "blobs: error: %s/train-images-idx3-ubyte has 9 pixels per image but network "
	         "'blobs' expects 4 inputs\n",
	         dir);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(labels_beyond_outputs)
{
	char *dir = make_data(IN, 4, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, NULL);
	char want[4300];
	ck_assert_int_eq(r.rc, 1);
	snprintf(want, sizeof want,
	         "blobs: error: %s/train-labels-idx1-ubyte has label 3 but network 'blobs' has 3 "
	         "outputs (labels 0..2)\n",
	         dir);
	ck_assert_str_eq(r.err, want);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

static int blob_set_threads(int n)
{
	return n ? n : 2;
}

START_TEST(threads_option)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blob_model;
	m.set_threads = blob_set_threads;
	result_t r = run_net(&m, dir, "--json", "--threads", "0", "--iterations", "1", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_double_eq(json_num(r.out, "threads"), 2);
	result_free(&r);
	r = run_net(&blob_model, dir, "--json", "--threads", "4", "--iterations", "1", NULL);
	ck_assert_double_eq(json_num(r.out, "threads"), 1); /* no set_threads: one */
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

START_TEST(bad_options_exit_2)
{
	static const char *const bad[][3] = {
		{"--epochs", "abc", "invalid value 'abc' for --epochs (expected an integer >= 0)"},
		{"--epochs", "-1", "invalid value '-1' for --epochs"},
		{"--iterations", "1x", "invalid value '1x' for --iterations"},
		{"--lr", "0", "invalid value '0' for --lr (expected a number > 0)"},
		{"--lr", "nan", "invalid value 'nan' for --lr"},
		{"--batch", "0", "invalid value '0' for --batch (expected an integer >= 1 or 'full')"},
		{"--batch", "half", "invalid value 'half' for --batch"},
		{"--eval-every", "0", "invalid value '0' for --eval-every (expected an integer >= 1)"},
		{"--threads", "-2", "invalid value '-2' for --threads"},
		{"--seed", "", "invalid value '' for --seed"},
		{"--bogus", NULL, "unknown option '--bogus'"},
		{"-x", NULL, "unknown option '-x'"},
		{"stray", NULL, "unexpected argument 'stray'"},
		{"--lr", NULL, "option '--lr' needs a value"},
		/* the model's optimizer hyper-parameter, range [0, 1) */
		{"--beta-test", "1", "invalid value '1' for --beta-test (expected a number in [0, 1))"},
		{"--beta-test", "-0.1", "invalid value '-0.1' for --beta-test"},
		{"--beta_test", "0.2", "unknown option '--beta_test'"},
		{"--switch-test", "maybe", "invalid value 'maybe' for --switch-test (expected on or "
		 "off)"},
		{"--layout-switch-test", "on", "invalid value 'on' for --layout-switch-test (expected off: "
		 "fixed when nncc generated the trainer, as it lays out the optimizer's state; "
		 "regenerate with 'layout_switch_test: true' in the YAML)"},
		/* the schedule and clipping */
		{"--schedule", "linear",
		 "invalid value 'linear' for --schedule (expected constant, step, exponential or cosine)"},
		{"--gamma", "0", "invalid value '0' for --gamma (expected a number in (0, 1])"},
		{"--gamma", "1.5", "invalid value '1.5' for --gamma"},
		{"--step-size", "0", "invalid value '0' for --step-size (expected an integer in [1, "
		                      "4294967295])"},
		{"--unit", "weeks", "invalid value 'weeks' for --unit (expected epochs or iterations)"},
		{"--min-lr", "-1", "invalid value '-1' for --min-lr (expected a number >= 0)"},
		{"--warmup", "1.5", "invalid value '1.5' for --warmup"},
		{"--gamma", "0.5", "--gamma is not a key of the constant schedule (this run's; another "
		                   "with --schedule NAME)"},
		{"--schedule", "step", "--schedule step needs --step-size"},
		{"--clip-norm", "-1", "invalid value '-1' for --clip-norm (expected a number >= 0 (0 = off))"},
		{"--clip-norm", "inf", "invalid value 'inf' for --clip-norm"},
		/* the optimizer is compiled in; checkpoints */
		{"--optimizer", "adam", "this trainer's optimizer is blobsgd: the optimizer is fixed when "
		                        "nncc generates the trainer (its state is laid out for it); to "
		                        "train with adam, regenerate it with 'optimizer: adam' in the YAML"},
		{"--checkpoint-every", "10", "--checkpoint-every needs --save FILE (the file it writes)"},
		{"--checkpoint-every", "0", "invalid value '0' for --checkpoint-every"},
		/* pre-training's options on a model without `pretrain:` */
		{"--pretrain-lr", "0.1", "this trainer has no pre-training: --pretrain-lr needs a "
		                         "`pretrain:` section in the YAML (docs/format.md#pretrain)"},
		{"--pretrain-epochs", "3", "this trainer has no pre-training: --pretrain-epochs needs"},
		{"--pretrain-unlabeled", NULL, "this trainer has no pre-training: --pretrain-unlabeled"},
		{"--pretrain-epochs", "x", "invalid value 'x' for --pretrain-epochs"},
	};
	char *dir = make_data(IN, K, DATA_BLOBS);
	/* Usage errors that take two options. */
	static const char *const pairs[][5] = {
		{"--schedule", "cosine", "--t-max", "5",
		 "the cosine schedule's t_max (5) must be larger than its warmup (5)"},
		{"--resume", "w", "--load", "w",
		 "--resume and --load exclude each other (--resume continues a training exactly, "
		 "--load starts a fresh optimizer on a file's weights)"},
		{"--schedule", "cosine", "--step-size", "3",
		 "--step-size is not a key of the cosine schedule"},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		result_t r = run_net(&blob_model, dir, pairs[i][0], pairs[i][1], pairs[i][2],
		                     pairs[i][3], "--warmup", "5", NULL);
		char want[512];
		ck_assert_int_eq(r.rc, 2);
		snprintf(want, sizeof want, "blobs: error: %s", pairs[i][4]);
		ASSERT_HAS(r.err, want);
		ck_assert_str_eq(r.out, "");
		result_free(&r);
	}
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		result_t r = run_net(&blob_model, dir, bad[i][0], bad[i][1], NULL);
		char want[512];
		ck_assert_int_eq(r.rc, 2);
		snprintf(want, sizeof want, "blobs: error: %s", bad[i][2]);
		ASSERT_HAS(r.err, want);
		ASSERT_HAS(r.err, "Try 'net --help' for the options.\n");
		ck_assert_str_eq(r.out, "");
		result_free(&r);
	}
	tu_scratch_free(dir);
}
END_TEST

START_TEST(help_shows_defaults)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--help", NULL);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_str_eq(r.err, "");
	ASSERT_HAS(r.out, "usage: net [options]");
	ASSERT_HAS(r.out, "--lr X");
	ASSERT_HAS(r.out, "[default: 0.5]");
	ASSERT_HAS(r.out, "[default: 10]");
	ASSERT_HAS(r.out, "[default: 5]");
	ASSERT_HAS(r.out, "consecutive tiles");
	ASSERT_HAS(r.out, "around at the end [default]");
	ASSERT_HAS(r.out, "blobsgd hyper-parameters");
	ASSERT_HAS(r.out, "--beta-test X");
	ASSERT_HAS(r.out, "a hyper-parameter in [0, 1) [default: 0.5]");
	ASSERT_HAS(r.out, "a switch [default: off]");
	/* an option too wide for the column gets a line of its own */
	ASSERT_HAS(r.out, "\n  --layout-switch-test on|off\n                       a switch fixed at "
	                  "generation [fixed at generation: off]\n");
	ASSERT_HAS(r.out, "\nlearning-rate schedule ");
	ASSERT_HAS(r.out, "constant, step, exponential or cosine [default: constant]");
	ASSERT_HAS(r.out, "(0 = none) [default: 0]");   /* --warmup, the constant's one key */
	ASSERT_HAS(r.out, "norm X before each update (0 = off) [default: off]");
	ASSERT_HAS(r.out, "only its own name is accepted [default: blobsgd]");
	for (const char *const *o = (const char *const[]){"--data", "--epochs", "--iterations",
	                                                    "--batch", "--seed", "--shuffle",
	                                                    "--no-shuffle", "--threads", "--save",
	                                                    "--load", "--json", "--quiet",
	                                                    "--eval-every", "--eval-test", "--log",
	                                                    "--plot", "--no-train", "--resume",
	                                                    "--checkpoint-every", "--clip-norm",
	                                                    "--optimizer", "--schedule NAME",
	                                                    "--gamma X", "--step-size N",
	                                                    "--unit epochs|iterations", "--min-lr X",
	                                                    "--t-max N", "--warmup N", NULL};
	     *o; o++)
		ASSERT_HAS(r.out, *o);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

/* --optimizer naming the compiled optimizer is accepted. */
START_TEST(optimizer_option_names_its_own)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	result_t r = run_net(&blob_model, dir, "--optimizer", "blobsgd", "--iterations", "2",
	                     "--json", NULL);
	ck_assert_int_eq(r.rc, 0);
	ASSERT_HAS(r.out, "\"optimizer\": \"blobsgd\"");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

/* The optimizer's hyper-parameters reach update() as the descriptor lists
 * them, overridden by --NAME; the step counter counts updates from 1. */
START_TEST(hparams_and_step_reach_update)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	static const char *const opts[][2] = {{"--iterations", "3"}, {"--beta-test", "0.25"}};
	for (int k = 0; k < 2; k++) {
		fflush(NULL);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			char *argv[] = {"net", "--data", dir, "--iterations", "3", "--quiet",
			                (char *)opts[k][0], (char *)opts[k][1], NULL};
			if (!freopen("/dev/null", "w", stdout))
				_exit(99);
			int rc = nncc_main(8, argv, &blob_model);
			double want = k ? 0.25 : 0.5;
			exit(rc == 0 && updates == 3 && last_update_step == 3 && last_beta == want ? 0 : 1);
		}
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run %d: update() saw the wrong "
		              "step counter or hyper-parameter", k);
	}
	tu_scratch_free(dir);
}
END_TEST

START_TEST(abi_mismatch)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blob_model;
	m.abi_version = NNCC_ABI_VERSION + 1;
	result_t r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	char want[128];
	snprintf(want, sizeof want, "blobs: error: generated for runtime ABI %d but this libnncc "
	         "implements %d", NNCC_ABI_VERSION + 1, NNCC_ABI_VERSION);
	ASSERT_HAS(r.err, want);
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

static void *no_tensor(int which, size_t layer)
{
	(void)which;
	(void)layer;
	return NULL;
}

START_TEST(broken_model)
{
	char *dir = make_data(IN, K, DATA_BLOBS);
	nncc_model_t m = blob_model;
	m.config.init = 0;
	result_t r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has an unknown init kind 0\n");
	result_free(&r);
	m = blob_model;
	m.tensor = no_tensor;
	r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has no output tensor (layer 1)\n");
	result_free(&r);
	m = blob_model;
	m.config.schedule.type = 9;
	r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has an unknown learning-rate schedule 9\n");
	result_free(&r);
	m = blob_model;
	m.config.clip_norm = -1;
	r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has an invalid clip_norm -1\n");
	result_free(&r);
	m = blob_model;
	m.max_batch = 0;
	r = run_net(&m, dir, NULL);
	ck_assert_int_eq(r.rc, 1);
	ck_assert_str_eq(r.err, "blobs: error: model has a zero size (max_batch 0, inputs 4, "
	                        "outputs 3)\n");
	result_free(&r);
	tu_scratch_free(dir);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("before_training");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, epochs_and_iterations_override_each_other);
	tcase_add_test(tc, load_error_is_reported);
	tcase_add_test(tc, missing_data_names_the_file);
	tcase_add_test(tc, config_data_dir_and_absolute_names);
	tcase_add_test(tc, inputs_mismatch);
	tcase_add_test(tc, labels_beyond_outputs);
	tcase_add_test(tc, threads_option);
	tcase_add_test(tc, bad_options_exit_2);
	tcase_add_test(tc, help_shows_defaults);
	tcase_add_test(tc, hparams_and_step_reach_update);
	tcase_add_test(tc, optimizer_option_names_its_own);
	tcase_add_test(tc, abi_mismatch);
	tcase_add_test(tc, broken_model);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(options_suite(), NULL);
}
