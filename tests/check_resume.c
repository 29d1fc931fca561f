/*
 * check_resume.c - exact resume end to end (nncc, $CC with `nncc --cflags`,
 * the libnncc driver), for every optimizer the compiler has
 * (optimizer_table, read at run time) in float32 and float64: a network
 * big enough for the thread pool trains 240 updates in one run, and 120,
 * then --resume for 120 more; the two weight files must be the same bytes.
 * In file order; shuffled, with the thread count changed at the resume;
 * in epochs mode (2 passes, the last batch of each shorter: 300 samples in
 * batches of 32), also with a validation set and early stopping (its BEST
 * section) and the thread count changed; with a cosine schedule, warmup and
 * clipping; and a network with dropout on the input and the hidden layer.
 * Then the
 * exporter (nncc --infer) must write the same inference code from the
 * checkpoint, from its weights without OPTIM and POSITION, and with an
 * optimizer state of another optimizer: it ignores them.
 * Vocabulary: run = one trainer invocation; whole = the 240-update run,
 * first / rest = its two halves.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "nncc.h"       /* runtime ABI: first on the include path */
#include "testutil.h"
#include "../compiler/nncc.h"   /* optimizer_table */

#define N_TRAIN 300
#define N_TEST 40

static char *dir;   /* the suite's scratch: data in dir/m, one subdirectory per case */

/* Case i: optimizer_table[i / 2], float64 when i is odd; the last two
 * cases train a network with dropout (sgd): its masks must go on where the
 * first run stopped. */
#define N_CASES ((int)(2 * optimizer_count + 2))

static const char *case_optimizer(int i)
{
	return i < N_CASES - 2 ? optimizer_table[i / 2].name : "sgd";
}

static int case_dropout(int i)
{
	return i >= N_CASES - 2;
}

/* The case's YAML and trainer in dir/CASE/; returns that directory. */
static char *build(int i)
{
	char id[96], *out = NULL, yaml[1024];
	snprintf(id, sizeof id, "%s%s_%s", case_dropout(i) ? "dropout_" : "", case_optimizer(i),
	         i % 2 ? "f64" : "f32");
	char *cdir = tu_path(dir, id);
	ck_assert_int_eq(tu_run(NULL, "mkdir -p %s", cdir), 0);
	snprintf(yaml, sizeof yaml,
	         "network: resume_%s\ninput: 784\ndtype: %s\nlayers:\n%s"
	         "  - {type: dense, units: 64, activation: sigmoid}\n%s"
	         "  - {type: dense, units: 10}\n  - {type: softmax}\n"
	         "training:\n  optimizer: %s\n  learning_rate: 0.01\n  batch_size: 32\n"
	         "  iterations: 240\n  seed: 3\n  threads: 1\n"
	         "data: {dir: %s/m, normalize: scale}\n",
	         case_optimizer(i), i % 2 ? "float64" : "float32",
	         case_dropout(i) ? "  - {type: dropout, rate: 0.2}\n" : "",
	         case_dropout(i) ? "  - {type: dropout, rate: 0.5}\n" : "", case_optimizer(i), dir);
	char *ypath = tu_path(cdir, "net.yaml");
	ck_assert_int_eq(tu_write_text(ypath, yaml), 0);
	int st = tu_run(&out, "%s %s -o %s/net.c && %s -O2 %s/net.c $(%s --cflags) -o %s/net $(%s --libs)",
	                tu_nncc(), ypath, cdir, tu_cc(), cdir, tu_nncc(), cdir, tu_nncc());
	ck_assert_msg(st == 0, "%s: building the trainer failed:\n%s", id, out);
	free(out);
	free(ypath);
	return cdir;
}

/* cdir/net --quiet OPTS; fails the test unless it exits 0.  Its stdout and
 * stderr go to *out when out is not NULL. */
static void train(const char *cdir, char **out, const char *fmt, ...)
{
	char opts[1024], *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(opts, sizeof opts, fmt, ap);
	va_end(ap);
	int st = tu_run(&text, "cd %s && ./net --quiet %s", cdir, opts);
	ck_assert_msg(st == 0, "%s: net %s failed (%d):\n%s", cdir, opts, st, text);
	if (out)
		*out = text;
	else
		free(text);
}

/* 240 updates in one run against 120 + --resume 120 (iterations mode), or
 * 2 epochs against 1 + --resume to 2 (epochs mode), `opts` on every run
 * and `rest` on the resumed one; the saved files must be the same bytes. */
static void resume_case(const char *cdir, int epochs, const char *opts, const char *rest,
                        const char *what)
{
	char *a = tu_path(cdir, "whole.w"), *b = tu_path(cdir, "first.w"), *c = tu_path(cdir, "rest.w");
	train(cdir, NULL, "%s %s --save %s", epochs ? "--epochs 2" : "--iterations 240", opts, a);
	train(cdir, NULL, "%s %s --save %s", epochs ? "--epochs 1" : "--iterations 120", opts, b);
	train(cdir, NULL, "%s %s %s --resume %s --save %s", epochs ? "--epochs 2" : "--iterations 120",
	      opts, rest, b, c);
	ck_assert_msg(tu_same_file(a, c), "%s, %s: %s differs from %s", cdir, what, c, a);
	free(a);
	free(b);
	free(c);
}

/* ---- weight files rewritten section by section (docs/weights.md) */

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> 8 * i);
}

/* `from` with its OPTIM and POSITION sections left out, and, when
 * `fake_state` is set, an OPTIM section of an optimizer "other" with two
 * slots of arbitrary reals in their place (after PARAMS, where the order
 * puts OPTIM); written to `to`. */
static void rewrite(const char *from, const char *to, int fake_state)
{
	size_t len;
	unsigned char *in = tu_read_file(from, &len);
	uint32_t dtype = in[12], n = 0;
	uint64_t n_params = get64(in + 24), s = dtype == 2 ? 8 : 4;
	uint64_t n_sect = get64(in + 40) & 0xffffffffu;   /* u32 */
	unsigned char *out = calloc(len + 64 + 2 * s * n_params + 4, 1);
	ck_assert_ptr_nonnull(out);
	memcpy(out, in, 48);
	size_t at = 48, w = 48;
	for (uint64_t k = 0; k < n_sect; k++) {
		uint64_t p = get64(in + at + 8);
		if (memcmp(in + at, "OPTIM", 6) && memcmp(in + at, "POSITION", 8)) {
			memcpy(out + w, in + at, 16 + p);
			w += 16 + p;
			n++;
		}
		if (fake_state && !memcmp(in + at, "PARAMS", 7)) {
			memcpy(out + w, "OPTIM\0\0\0", 8);
			put64(out + w + 8, 48 + 2 * s * n_params);
			memcpy(out + w + 16, "other", 5);
			put64(out + w + 16 + 32, 12345);
			put64(out + w + 16 + 40, 2);
			for (uint64_t j = 0; j < 2 * s * n_params; j++)   /* reals of 0x3f3f...: finite */
				out[w + 64 + j] = 0x3f;
			w += 64 + 2 * s * n_params;
			n++;
		}
		at += 16 + p;
	}
	put32(out + 40, n);
	put32(out + w, (uint32_t)crc32(0, out, (uInt)w));
	ck_assert_int_eq(tu_write(to, out, w + 4), 0);
	free(in);
	free(out);
}

/* nncc --infer from weights file w, without the lines that name the
 * file's hash; malloc'd. */
static char *export_of(const char *cdir, const char *w)
{
	char *out = NULL, *text = NULL;
	int st = tu_run(&out, "%s --infer %s/net.yaml --weights %s -o %s/infer.c", tu_nncc(), cdir, w,
	                cdir);
	ck_assert_msg(st == 0, "nncc --infer --weights %s failed:\n%s", w, out);
	free(out);
	st = tu_run(&text, "cat %s/infer.c %s/infer.h | grep -v sha256", cdir, cdir);
	ck_assert_int_eq(st, 0);
	return text;
}

START_TEST(test_resume)
{
	char *cdir = build(_i), *json = NULL;
	resume_case(cdir, 0, "--no-shuffle", "", "file order");
	resume_case(cdir, 0, "--shuffle --threads 1", "--threads 2", "shuffled, 1 then 2 threads");
	train(cdir, &json, "--shuffle --threads 2 --iterations 1 --json");
	ck_assert_msg(strstr(json, "\"threads\": 2,"), "the pool is not used: %s", json);
	free(json);
	resume_case(cdir, 1, "--shuffle", "", "epochs");
	resume_case(cdir, 1, "--shuffle --validation 0.2 --patience 1 --threads 1", "--threads 2",
	            "epochs with validation and early stopping, 1 then 2 threads");
	resume_case(cdir, 0, "--shuffle --schedule cosine --t-max 240 --warmup 10 --clip-norm 0.5",
	            "", "cosine schedule and clipping");

	/* The exporter reads the weights and the normalisation only. */
	char *ck = tu_path(cdir, "rest.w"), *bare = tu_path(cdir, "bare.w"),
	     *fake = tu_path(cdir, "fake.w"), *w = tu_path(cdir, "w");
	rewrite(ck, bare, 0);
	rewrite(ck, fake, 1);
	const char *files[3] = {ck, bare, fake};
	char *code[3];
	for (int k = 0; k < 3; k++) {   /* the same path, so only the hash could differ */
		ck_assert_int_eq(tu_run(NULL, "cp %s %s", files[k], w), 0);
		code[k] = export_of(cdir, w);
	}
	ck_assert_msg(!strcmp(code[0], code[1]) && !strcmp(code[0], code[2]),
	              "%s: the exported code depends on the optimizer state", cdir);
	nncc_weights_file_t wf;
	nncc_err_t err;
	ck_assert_int_eq(nncc_weights_read(&wf, fake, &err), 0);   /* it is a valid file */
	ck_assert_uint_eq(wf.ck.n_state, 2);
	nncc_weights_file_fini(&wf);
	for (int k = 0; k < 3; k++)
		free(code[k]);
	free(ck);
	free(bare);
	free(fake);
	free(w);
	free(cdir);
}
END_TEST

static Suite *resume_suite(void)
{
	Suite *s = suite_create("resume");
	TCase *tc = tcase_create("every_optimizer");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_resume, 0, N_CASES);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	dir = tu_mkdtemp();
	if (tu_run(NULL, "mkdir -p %s/m", dir) != 0)
		abort();
	char *m = tu_path(dir, "m");
	if (tu_idx_write_banded(m, "train", N_TRAIN, 28, 28, 10, 10, 80, 1) ||
	    tu_idx_write_banded(m, "t10k", N_TEST, 28, 28, 10, 10, 80, 2)) {
		fprintf(stderr, "check_resume: cannot write the data in %s\n", m);
		abort();
	}
	free(m);
	return tu_suite_main(resume_suite(), dir);
}
