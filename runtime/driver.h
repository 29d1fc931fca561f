/*
 * driver.h - internal interface between the training driver (driver.c), its
 * reports (report.c: progress line, final text/JSON report, CSV log) and the
 * SVG chart (plot.c).  Not part of the runtime ABI: generated code only ever
 * calls nncc_main().  Symbols keep the nncc_ prefix because libnncc.a is
 * linked into user programs.
 *
 * Vocabulary: N = training samples, B = batch size, T = total iterations,
 * K = n_outputs (classes).
 */
#ifndef NNCC_DRIVER_H
#define NNCC_DRIVER_H

#include "nncc.h"

/* The driver's options after parsing (defaults from model->config). */
typedef struct nncc_opts {
	const char *data_dir;
	size_t iterations, epochs;   /* at most one is non-zero; both 0 = no training */
	double lr;
	size_t batch;                /* 0 = full batch */
	uint64_t seed;
	int shuffle;
	int threads;                 /* 0 = all cores */
	const char *save, *load, *log, *plot;
	int json, quiet, eval_test;
	size_t eval_every;           /* 0 = no periodic evaluation */
	double hparams[NNCC_MAX_HPARAMS]; /* the optimizer's, model->hparams' order */
} nncc_opts_t;

/* Everything the final report prints. */
typedef struct nncc_summary {
	const nncc_model_t *m;
	const nncc_opts_t *o;
	const char *data_dir;        /* as used */
	size_t n_train, batch;       /* batch resolved (full = n_train) */
	size_t iterations;           /* T actually run */
	int threads;                 /* in use */
	double train_seconds, eval_seconds;
	nncc_eval_t train, test;     /* test.confusion is set */
} nncc_summary_t;

/* ---- report.c */

/* Progress on stderr: a live \r line on a terminal (<= 10 per second),
 * otherwise one plain line per ~10% of the run. */
typedef struct nncc_progress {
	FILE *f;
	int tty, quiet;
	const char *name;
	size_t total, batch, n_train;
	double last_shown;           /* wall time of the last line */
	size_t next_tenth;           /* non-tty: next 10% mark (1..10) */
	double loss_sum;             /* losses since the last line */
	size_t loss_n;
	int live;                    /* a \r line is on screen */
} nncc_progress_t;

void nncc_progress_init(nncc_progress_t *p, FILE *f, int quiet, const char *name,
                        size_t total, size_t batch, size_t n_train);
/* After iteration `done` (1-based) with mean loss `loss`; `train_s` is the
 * training time so far, `wall_s` the elapsed wall time.  Returns 1 if it
 * printed (the caller excludes that time from training). */
int nncc_progress_step(nncc_progress_t *p, size_t done, double loss, double train_s,
                       double wall_s);
/* Ends a live line so other stderr output starts on its own line. */
void nncc_progress_break(nncc_progress_t *p);

void nncc_report_text(FILE *f, const nncc_summary_t *s);
/* One line: a JSON object. */
void nncc_report_json(FILE *f, const nncc_summary_t *s);

/* CSV log: "iteration,epoch,train_loss[,test_accuracy],seconds". */
void nncc_log_header(FILE *f, int with_test);
void nncc_log_row(FILE *f, size_t iteration, double epoch, double train_loss,
                  const double *test_accuracy, double seconds);

/* ---- plot.c */

/* "Nice" axis ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of
 * ten, at most max_ticks of them.  Writes the first tick, the step and the
 * count; the ticks span at least [lo, hi]. */
void nncc_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step,
                     int *count);
/* An SVG line chart of y against x (n points, x ascending). */
int nncc_plot_svg(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                  const double *x, const double *y, size_t n);

#endif
