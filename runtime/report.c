/*
 * report.c - what the training driver prints: the progress line on stderr,
 * the final results on stdout (human-readable text with a confusion matrix,
 * or one JSON object) and the rows of the --log CSV file.  Formatting only:
 * every number arrives computed in an nncc_summary_t.
 *
 * Vocabulary: K = n_outputs (classes); confusion[t*K + p] counts samples of
 * true label t predicted as p.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"

#define PROGRESS_TTY_INTERVAL 0.1 /* seconds between live-line updates */
#define PROGRESS_STEPS 10         /* plain lines per run when not a terminal */

void nncc_progress_init(nncc_progress_t *p, FILE *f, int quiet, const char *name,
                        size_t total)
{
	memset(p, 0, sizeof *p);
	p->f = f;
	p->quiet = quiet;
	p->tty = isatty(fileno(f));
	p->name = name;
	p->total = total;
	p->last_shown = -1;
	p->next_tenth = 1;
}

/* "1:02:03" or "2:03". */
static void format_duration(char *buf, size_t len, double s)
{
	unsigned long t = s > 0 && s < 1e9 ? (unsigned long)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
}

/* The first update at or past k tenths of total: ceil(k * total / 10),
 * computed without k * total (which wraps for a huge total). */
static size_t tenth_mark(size_t total, size_t k)
{
	size_t q = total / PROGRESS_STEPS, rest = total % PROGRESS_STEPS;
	return k * q + (k * rest + PROGRESS_STEPS - 1) / PROGRESS_STEPS;
}

int nncc_progress_step(nncc_progress_t *p, const nncc_tick_t *t)
{
	size_t done = t->done;
	double wall_s = t->wall_s;
	char eta[32];
	int due;

	if (p->quiet)
		return 0;
	p->loss_sum += t->loss;
	p->loss_n++;
	if (p->tty) {
		due = done == p->total || wall_s - p->last_shown >= PROGRESS_TTY_INTERVAL;
	} else {
		due = p->next_tenth <= PROGRESS_STEPS && done >= tenth_mark(p->total, p->next_tenth);
		while (p->next_tenth <= PROGRESS_STEPS && done >= tenth_mark(p->total, p->next_tenth))
			p->next_tenth++;
	}
	if (!due)
		return 0;
	format_duration(eta, sizeof eta, wall_s / (double)done * (double)(p->total - done));
	fprintf(p->f, "%s%s: iteration %zu/%zu  epoch %.2f  lr %.4g  loss %.4f  ",
	        p->tty ? "\r" : "", p->name, done, p->total, t->epoch, t->lr,
	        p->loss_sum / (double)p->loss_n);
	if (!isnan(t->val_loss))
		fprintf(p->f, p->regression ? "val loss %.4f  val rmse %.4g  " : "val loss %.4f  val acc %.2f%%  ",
		        t->val_loss, p->regression ? t->val_accuracy : 100 * t->val_accuracy);
	fprintf(p->f, "%.0f samples/s  ETA %s%s",
	        t->train_s > 0 ? (double)t->samples / t->train_s : 0.0, eta,
	        p->tty ? "\033[K" : "\n");
	fflush(p->f);
	p->live = p->tty;
	p->last_shown = wall_s;
	p->loss_sum = 0;
	p->loss_n = 0;
	return 1;
}

void nncc_progress_break(nncc_progress_t *p)
{
	if (p->live) {
		fputc('\n', p->f);
		p->live = 0;
	}
}

static double ratio(size_t a, size_t b)
{
	return b ? (double)a / (double)b : NAN;
}

/* Passes over the training set this run made: in epochs mode a whole
 * number, in iterations mode B * T / N. */
static double epochs_of(const nncc_summary_t *s)
{
	return (double)s->samples / (double)s->n_train;
}

static double samples_per_second(const nncc_summary_t *s)
{
	return s->train_seconds > 0 ? (double)s->samples / s->train_seconds : 0;
}

/* The schedule's horizon as used: t_max, or the run's last update. */
static nncc_schedule_t schedule_used(const nncc_summary_t *s)
{
	nncc_schedule_t sc = s->o->schedule;
	if (sc.type == NNCC_SCHEDULE_COSINE && !sc.t_max)
		sc.t_max = s->step0 + s->planned;
	return sc;
}

/* Key k of schedule sc as text: "0.1", "10", "epochs" (quoted for JSON). */
static void schedule_value(char *buf, size_t len, const nncc_schedule_t *sc, size_t k, int json)
{
	const nncc_schedule_key_t *key = &nncc_schedule_keys[k];
	const char *p = (const char *)sc + key->offset;
	double x;
	uint64_t n;
	int u;
	switch (key->kind) {
	case NNCC_SKEY_NUMBER:
		memcpy(&x, p, sizeof x);
		snprintf(buf, len, "%.10g", x);
		break;
	case NNCC_SKEY_COUNT:
		memcpy(&n, p, sizeof n);
		snprintf(buf, len, "%llu", (unsigned long long)n);
		break;
	default:
		memcpy(&u, p, sizeof u);
		snprintf(buf, len, json ? "\"%s\"" : "%s", nncc_unit_name(u));
		break;
	}
}

double nncc_eval_score(const nncc_model_t *m, const nncc_eval_t *ev)
{
	return m->n_targets ? nncc_eval_rmse(m, ev) : ratio(ev->correct, ev->n);
}

const char *nncc_score_name(const nncc_model_t *m)
{
	return m->n_targets ? "rmse" : "accuracy";
}

/* "accuracy 97.30%" or "RMSE 53.2 MAE 43.1". */
static const char *score_text(char *buf, size_t len, const nncc_model_t *m, const nncc_eval_t *ev)
{
	if (m->n_targets)
		snprintf(buf, len, "RMSE %.6g, MAE %.6g", nncc_eval_rmse(m, ev), nncc_eval_mae(m, ev));
	else
		snprintf(buf, len, "accuracy %.2f%%", 100 * ratio(ev->correct, ev->n));
	return buf;
}

/* The confusion matrix with a per-class accuracy column; each column as wide
 * as the largest count. */
static void report_confusion(FILE *f, const nncc_summary_t *s, const size_t *conf)
{
	const nncc_model_t *m = s->m;
	size_t K = m->n_outputs, max = 0;
	int w;
	for (size_t i = 0; i < K * K; i++)
		if (conf[i] > max)
			max = conf[i];
	w = snprintf(NULL, 0, "%zu", max > K ? max : K);
	if (w < 3)
		w = 3;
	if (s->n_class_names) {
		fprintf(f, "\nclasses       ");
		for (size_t k = 0; k < s->n_class_names; k++)
			fprintf(f, "%s %zu = %s", k ? "," : "", k, s->class_names[k]);
		fputc('\n', f);
	}
	fprintf(f, "\nconfusion matrix (rows: true label, columns: predicted)\n%6s", "");
	for (size_t p = 0; p < K; p++)
		fprintf(f, " %*zu", w, p);
	fprintf(f, "  accuracy\n");
	for (size_t t = 0; t < K; t++) {
		size_t row = 0;
		fprintf(f, "%6zu", t);
		for (size_t p = 0; p < K; p++) {
			fprintf(f, " %*zu", w, conf[t * K + p]);
			row += conf[t * K + p];
		}
		if (row)
			fprintf(f, "  %7.2f%%\n", 100 * ratio(conf[t * K + t], row));
		else
			fprintf(f, "  %8s\n", "-");
	}
}

/* How early stopping ended (or did not end) the run, in one phrase:
 * "stopped after epoch 7: val_loss did not improve by more than 0 for 3
 * epochs; kept the weights of epoch 4". */
static void early_stop_text(char *buf, size_t len, const nncc_summary_t *s)
{
	const nncc_opts_t *o = s->o;
	const nncc_best_t *b = &s->best;
	if (b->stopped)
		snprintf(buf, len, "stopped after epoch %llu: %s did not improve by more than %g for %zu "
		         "epoch%s; kept the weights of epoch %llu", (unsigned long long)b->stop_epoch,
		         nncc_metric_name(o->metric), o->min_delta, o->patience,
		         o->patience == 1 ? "" : "s", (unsigned long long)b->epoch);
	else
		snprintf(buf, len, "did not stop (%llu of %zu epochs without improvement); kept the "
		         "last weights", (unsigned long long)b->wait, o->patience);
}

/* The validation lines of the text report. */
static void report_validation(FILE *f, const nncc_summary_t *s)
{
	const nncc_best_t *b = &s->best;
	char why[256];
	char sc[96];
	fprintf(f, "val loss       %.6f (%s)\n", s->val.loss, score_text(sc, sizeof sc, s->m, &s->val));
	if (b->epoch && s->m->n_targets)
		fprintf(f, "best epoch     %llu by %s: val loss %.6f, RMSE %.6g\n",
		        (unsigned long long)b->epoch, nncc_metric_name(s->o->metric), b->loss,
		        b->accuracy);
	else if (b->epoch)
		fprintf(f, "best epoch     %llu by %s: val loss %.6f, accuracy %.2f%%\n",
		        (unsigned long long)b->epoch, nncc_metric_name(s->o->metric), b->loss,
		        100 * b->accuracy);
	if (s->o->patience) {
		early_stop_text(why, sizeof why, s);
		fprintf(f, "early stopping %s\n", why);
	}
}

/* Pre-training's settings and, per layer, its first and last pass's mean
 * reconstruction loss. */
static void report_pretrain(FILE *f, const nncc_summary_t *s)
{
	const nncc_pretrain_config_t *c = &s->m->config.pretrain;
	size_t width = 0;

	if (!s->n_pretrain)
		return;
	fprintf(f, "pretrain       %zu epoch%s per layer of %zu samples%s, batch %zu, lr %g, ",
	        s->o->pretrain_epochs, s->o->pretrain_epochs == 1 ? "" : "s", s->pretrain_samples,
	        s->pretrain_samples > s->n_train ? " (unlabeled too)" : "", c->batch_size,
	        s->o->pretrain_lr);
	if (c->momentum > 0)
		fprintf(f, "momentum %g", c->momentum);
	else
		fputs("sgd", f);
	fprintf(f, ", noise %g, %s, %s weights\n", c->noise, nncc_recon_name(c->loss),
	        c->tied ? "tied" : "untied");
	for (size_t i = 0; i < s->n_pretrain; i++) {
		size_t len = strlen(s->m->layers[s->pretrain[i].layer].name);
		width = len > width ? len : width;
	}
	for (size_t i = 0; i < s->n_pretrain; i++) {
		const nncc_pretrain_rec_t *p = &s->pretrain[i];
		fprintf(f, "  layer %-*s  reconstruction loss %.6g", (int)width, s->m->layers[p->layer].name,
		        p->epochs ? p->loss[0] : NAN);
		if (p->epochs > 1)
			fprintf(f, " -> %.6g", p->loss[p->epochs - 1]);
		fprintf(f, " per sample (%zu epoch%s, %zu steps, %.3f s)\n", p->epochs,
		        p->epochs == 1 ? "" : "s", p->steps, p->seconds);
	}
}

const char *nncc_mem_text(char *buf, size_t len, size_t bytes)
{
	static const char *const units[] = {"bytes", "KB", "MB", "GB", "TB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.*f %s", u && v < 10 ? 1 : 0, v, units[u]);
	return buf;
}

void nncc_report_text(FILE *f, const nncc_summary_t *s)
{
	char b1[32], b2[32];
	const nncc_model_t *m = s->m;
	const nncc_opts_t *o = s->o;

	fprintf(f, "network        %s", m->name);
	if (m->source)
		fprintf(f, " (%s)", m->source);
	fprintf(f, "\nparameters     %zu (%s)\n", m->n_params, nncc_dtype_abbr(m->dtype));
	fprintf(f, "data           %s: %zu training", s->data_dir, s->n_train);
	if (s->n_val)
		fprintf(f, " + %zu validation (held out: the last of the first %zu)", s->n_val,
		        s->n_train + s->n_val);
	if (s->n_train + s->n_val < s->n_file)
		fprintf(f, " of %zu (--train-limit %zu)", s->n_file, s->n_train + s->n_val);
	fprintf(f, ", %zu test %s\n", s->test.n, m->config.format == NNCC_FORMAT_CSV ? "samples" : "images");
	fprintf(f, "memory         %s of a %s budget", nncc_mem_text(b1, sizeof b1, s->mem_used),
	        nncc_mem_text(b2, sizeof b2, s->mem_budget));
	if (s->window) {
		fprintf(f, "; the training set streamed in %zu window%s of %zu samples", s->n_windows,
		        s->n_windows == 1 ? "" : "s", s->window);
		if (s->gz_points)
			fprintf(f, " (gzip'd: an index of up to %zu access points)", s->gz_points);
		if (s->gz_eval_points || s->gz_test_points)
			fprintf(f, "; the evaluations' gzip'd files indexed (up to %zu + %zu access "
			           "points: training, test)", s->gz_eval_points, s->gz_test_points);
		if (s->sharded)
			fprintf(f, ", sharded: each of the %d ranks reads its part of each window (rank "
			           "0: %zu of a full one) and gets the rest of every batch from the "
			           "others\n", s->ranks, s->shard_samples);
		else
			fprintf(f, "%s\n", s->read_ahead ? ", read ahead on a thread of its own" : "");
	} else if (s->sharded)
		fprintf(f, ", in memory, sharded: each of the %d ranks holds its share of the data "
		           "(rank 0: %zu of the %zu training samples) and gets the rest of every "
		           "batch from the others\n", s->ranks, s->shard_samples, s->n_train);
	else if (s->shared_by > 1)
		fprintf(f, ", in memory; its %s of reals and labels held once for the %d ranks on "
		           "this machine\n", nncc_mem_text(b1, sizeof b1, s->mem_shared), s->shared_by);
	else if (s->mem_shared)
		fprintf(f, ", in memory; each rank holds its own %s of reals and labels: a machine's "
		           "backing directory for shared memory (%s, Open MPI's "
		           "osc_sm_backing_directory) has %s free\n",
		        nncc_mem_text(b1, sizeof b1, s->mem_shared), s->shm_dir,
		        nncc_mem_text(b2, sizeof b2, s->shm_room));
	else
		fprintf(f, ", in memory\n");
	fprintf(f, "training       %zu iterations = %.2f epochs, batch %zu, lr %g, seed %llu, %s, "
	           "%d thread%s",
	        s->iterations, epochs_of(s), s->batch, o->lr, (unsigned long long)o->seed,
	        o->shuffle ? "shuffled" : "file order", s->threads, s->threads == 1 ? "" : "s");
	if (s->chunks)   /* docs/scaling.md */
		fprintf(f, " per rank, %d rank%s, batches in %zu chunks", s->ranks,
		        s->ranks == 1 ? "" : "s", s->chunks);
	else if (s->ranks > 1)   /* --chunks 0: the ranks share each step */
		fprintf(f, " per rank, %d ranks sharing each step", s->ranks);
	fputc('\n', f);
	nncc_schedule_t sc = schedule_used(s);
	const nncc_schedule_info_t *info = &nncc_schedules[sc.type];
	size_t n = 0;
	fprintf(f, "schedule       %s", info->name);
	for (size_t k = 0; k < nncc_schedule_key_count; k++) {
		char v[64];
		if (!(info->keys >> k & 1))
			continue;
		schedule_value(v, sizeof v, &sc, k, 0);
		fprintf(f, "%s%s %s", n++ ? ", " : " (", nncc_schedule_keys[k].name, v);
	}
	fputs(n ? "); " : "; ", f);
	if (isfinite(s->final_lr))
		fprintf(f, "last rate %g\n", s->final_lr);
	else
		fprintf(f, "no update\n");
	if (o->clip_norm > 0)
		fprintf(f, "clip norm      %g (%zu of %zu updates clipped)\n", o->clip_norm, s->clipped,
		        s->iterations);
	if (s->resumed)
		fprintf(f, "resumed        from %s at update %llu (epoch %llu, sample %llu)\n", s->resumed,
		        (unsigned long long)s->step0, (unsigned long long)s->resume_epoch,
		        (unsigned long long)s->resume_sample);
	fprintf(f, "loss           %s\n", m->loss_name ? m->loss_name : "?");
	fprintf(f, "optimizer      %s", m->optimizer ? m->optimizer : "?");
	for (size_t k = 0; k < m->n_hparams && k < NNCC_MAX_HPARAMS; k++) {
		fprintf(f, "%s%s ", k ? ", " : ": ", m->hparams[k].name);
		if (m->hparams[k].flag)
			fputs(o->hparams[k] != 0 ? "on" : "off", f);
		else
			fprintf(f, "%g", o->hparams[k]);
	}
	fputc('\n', f);
	report_pretrain(f, s);
	fprintf(f, "train time     %.3f s, %.0f samples/s", s->train_seconds, samples_per_second(s));
	if (s->eval_seconds > 0)
		fprintf(f, " (periodic evaluation: %.3f s more)", s->eval_seconds);
	char score[96];
	fprintf(f, "\ntrain loss     %.6f (%s)\n", s->train.loss,
	        score_text(score, sizeof score, m, &s->train));
	if (s->n_val)
		report_validation(f, s);
	fprintf(f, "test loss      %.6f\n", s->test.loss);
	if (m->n_targets) {   /* regression: no classes */
		fprintf(f, "test RMSE      %.6g\ntest MAE       %.6g (%zu samples, %zu target%s)\n",
		        nncc_eval_rmse(m, &s->test), nncc_eval_mae(m, &s->test), s->test.n,
		        m->n_targets, m->n_targets == 1 ? "" : "s");
		return;
	}
	fprintf(f, "test accuracy  %.2f%% (%zu/%zu)\n", 100 * ratio(s->test.correct, s->test.n),
	        s->test.correct, s->test.n);
	report_confusion(f, s, s->test.confusion);
}

/* A JSON string literal. */
static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* A JSON number; NaN and infinities have none, so they become null. */
static void json_number(FILE *f, double x)
{
	if (isfinite(x))
		fprintf(f, "%.10g", x);
	else
		fputs("null", f);
}

/* "val_loss", "val_accuracy" (the final weights), "best" and
 * "early_stopping": null where they do not apply. */
static void json_validation(FILE *f, const nncc_summary_t *s)
{
	const nncc_opts_t *o = s->o;
	const nncc_best_t *b = &s->best;
	fputs(", \"val_loss\": ", f);
	json_number(f, s->n_val ? s->val.loss : NAN);
	fputs(", \"val_accuracy\": ", f);
	json_number(f, s->n_val && !s->m->n_targets ? ratio(s->val.correct, s->val.n) : NAN);
	fputs(", \"val_rmse\": ", f);
	json_number(f, s->n_val && s->m->n_targets ? nncc_eval_rmse(s->m, &s->val) : NAN);
	fputs(", \"best\": ", f);
	if (b->epoch) {
		fprintf(f, "{\"epoch\": %llu, \"metric\": \"%s\", \"val_loss\": ",
		        (unsigned long long)b->epoch, nncc_metric_name(o->metric));
		json_number(f, b->loss);
		fprintf(f, ", \"val_%s\": ", nncc_score_name(s->m));
		json_number(f, b->accuracy);
		fputc('}', f);
	} else {
		fputs("null", f);
	}
	fputs(", \"early_stopping\": ", f);
	if (!o->patience || !s->n_val) {
		fputs("null", f);
		return;
	}
	char why[256];
	early_stop_text(why, sizeof why, s);
	fprintf(f, "{\"patience\": %zu, \"metric\": \"%s\", \"min_delta\": ", o->patience,
	        nncc_metric_name(o->metric));
	json_number(f, o->min_delta);
	fprintf(f, ", \"stopped\": %s, \"stopped_epoch\": ", b->stopped ? "true" : "false");
	if (b->stopped)
		fprintf(f, "%llu, \"kept_epoch\": %llu", (unsigned long long)b->stop_epoch,
		        (unsigned long long)b->epoch);
	else
		fputs("null, \"kept_epoch\": null", f);
	fputs(", \"reason\": ", f);
	json_string(f, why);
	fputc('}', f);
}

/* "pretrain": null when nothing was pre-trained in this run, else its
 * settings and a record per layer, every pass's mean loss. */
static void json_pretrain(FILE *f, const nncc_summary_t *s)
{
	const nncc_pretrain_config_t *c = &s->m->config.pretrain;

	fputs(", \"pretrain\": ", f);
	if (!s->n_pretrain) {
		fputs("null", f);
		return;
	}
	fprintf(f, "{\"epochs\": %zu, \"samples\": %zu, \"batch_size\": %zu, \"learning_rate\": ",
	        s->o->pretrain_epochs, s->pretrain_samples, c->batch_size);
	json_number(f, s->o->pretrain_lr);
	fputs(", \"momentum\": ", f);
	json_number(f, c->momentum);
	fputs(", \"noise\": ", f);
	json_number(f, c->noise);
	fputs(", \"loss\": ", f);
	json_string(f, nncc_recon_name(c->loss));
	fprintf(f, ", \"tied\": %s, \"layers\": [", c->tied ? "true" : "false");
	for (size_t i = 0; i < s->n_pretrain; i++) {
		const nncc_pretrain_rec_t *p = &s->pretrain[i];
		fputs(i ? ", {\"layer\": " : "{\"layer\": ", f);
		json_string(f, s->m->layers[p->layer].name);
		fprintf(f, ", \"epochs\": %zu, \"steps\": %zu, \"loss\": [", p->epochs, p->steps);
		for (size_t e = 0; e < p->epochs; e++) {
			fputs(e ? ", " : "", f);
			json_number(f, p->loss[e]);
		}
		fputs("], \"seconds\": ", f);
		json_number(f, p->seconds);
		fputc('}', f);
	}
	fputs("]}", f);
}

void nncc_report_json(FILE *f, const nncc_summary_t *s)
{
	const nncc_model_t *m = s->m;
	const nncc_opts_t *o = s->o;
	size_t K = m->n_outputs;
	const size_t *conf = s->test.confusion;

	fputs("{\"network\": ", f);
	json_string(f, m->name);
	fputs(", \"source\": ", f);
	json_string(f, m->source);
	fprintf(f, ", \"parameters\": %zu, \"dtype\": \"%s\", \"epochs\": ", m->n_params,
	        nncc_dtype_abbr(m->dtype));
	json_number(f, epochs_of(s));
	fprintf(f, ", \"iterations\": %zu, \"batch_size\": %zu, \"learning_rate\": ",
	        s->iterations, s->batch);
	json_number(f, o->lr);
	nncc_schedule_t sc = schedule_used(s);
	const nncc_schedule_info_t *info = &nncc_schedules[sc.type];
	fputs(", \"schedule\": {\"type\": ", f);
	json_string(f, info->name);
	for (size_t k = 0; k < nncc_schedule_key_count; k++) {
		char v[64];
		if (!(info->keys >> k & 1))
			continue;
		schedule_value(v, sizeof v, &sc, k, 1);
		fprintf(f, ", \"%s\": %s", nncc_schedule_keys[k].name, v);
	}
	fputs("}, \"final_lr\": ", f);
	json_number(f, s->final_lr);
	fputs(", \"clip_norm\": ", f);
	json_number(f, o->clip_norm > 0 ? o->clip_norm : NAN);
	fprintf(f, ", \"clipped_updates\": %zu, \"step\": %llu, \"resumed_from\": ", s->clipped,
	        (unsigned long long)(s->step0 + s->iterations));
	if (s->resumed)
		json_string(f, s->resumed);
	else
		fputs("null", f);
	fprintf(f, ", \"seed\": %llu, \"shuffle\": %s, \"loss\": ",
	        (unsigned long long)o->seed, o->shuffle ? "true" : "false");
	json_string(f, m->loss_name);
	fputs(", \"optimizer\": ", f);
	json_string(f, m->optimizer);
	fputs(", \"hparams\": {", f);
	for (size_t k = 0; k < m->n_hparams && k < NNCC_MAX_HPARAMS; k++) {
		fputs(k ? ", " : "", f);
		json_string(f, m->hparams[k].name);
		fputs(": ", f);
		if (m->hparams[k].flag)
			fputs(o->hparams[k] != 0 ? "true" : "false", f);
		else
			json_number(f, o->hparams[k]);
	}
	fputs("}, \"train_loss\": ", f);
	json_number(f, s->train.loss);
	fputs(", \"train_accuracy\": ", f);
	json_number(f, m->n_targets ? NAN : ratio(s->train.correct, s->train.n));
	fputs(", \"test_loss\": ", f);
	json_number(f, s->test.loss);
	fputs(", \"test_accuracy\": ", f);
	json_number(f, m->n_targets ? NAN : ratio(s->test.correct, s->test.n));
	/* regression's figures, null for a classifier */
	fputs(", \"train_rmse\": ", f);
	json_number(f, m->n_targets ? nncc_eval_rmse(m, &s->train) : NAN);
	fputs(", \"train_mae\": ", f);
	json_number(f, m->n_targets ? nncc_eval_mae(m, &s->train) : NAN);
	fputs(", \"test_rmse\": ", f);
	json_number(f, m->n_targets ? nncc_eval_rmse(m, &s->test) : NAN);
	fputs(", \"test_mae\": ", f);
	json_number(f, m->n_targets ? nncc_eval_mae(m, &s->test) : NAN);
	fputs(", \"train_seconds\": ", f);
	json_number(f, s->train_seconds);
	fputs(", \"eval_seconds\": ", f);
	json_number(f, s->eval_seconds);
	fputs(", \"samples_per_second\": ", f);
	json_number(f, samples_per_second(s));
	fprintf(f, ", \"threads\": %d, \"ranks\": %d, \"chunks\": %zu, \"data_dir\": ", s->threads,
	        s->ranks, s->chunks);
	json_string(f, s->data_dir);
	fprintf(f, ", \"train_samples\": %zu, \"train_file_samples\": %zu, \"validation_samples\": "
	        "%zu, \"test_samples\": %zu", s->n_train, s->n_file, s->n_val, s->test.n);
	fprintf(f, ", \"memory\": {\"budget\": %zu, \"estimate\": %zu, \"streamed\": %s, "
	        "\"window\": %zu, \"windows\": %zu, \"shared\": %zu, \"shared_by\": %d, "
	        "\"sharded\": %s, \"shard_samples\": %zu, \"gz_points\": %zu, \"gz_index\": %zu, "
	        "\"eval_gz_points\": %zu, \"eval_gz_index\": %zu, \"test_gz_points\": %zu, "
	        "\"test_gz_index\": %zu}",
	        s->mem_budget, s->mem_used, s->window ? "true" : "false", s->window, s->n_windows,
	        s->shared_by > 1 ? s->mem_shared : 0, s->shared_by > 1 ? s->shared_by : 1,
	        s->sharded ? "true" : "false",
	        s->sharded ? s->shard_samples : s->n_train, s->gz_points,
	        s->gz_points * (size_t)NNCC_GZ_POINT_BYTES, s->gz_eval_points,
	        s->gz_eval_points * (size_t)NNCC_GZ_POINT_BYTES, s->gz_test_points,
	        s->gz_test_points * (size_t)NNCC_GZ_POINT_BYTES);
	fprintf(f, ", \"read_ahead\": %s", s->read_ahead ? "true" : "false");
	json_validation(f, s);
	json_pretrain(f, s);
	if (m->n_targets) {   /* regression: no classes */
		fputs(", \"confusion\": null, \"classes\": [], \"class_accuracy\": null}\n", f);
		return;
	}
	fputs(", \"confusion\": [", f);
	for (size_t t = 0; t < K; t++) {
		fputs(t ? ", [" : "[", f);
		for (size_t p = 0; p < K; p++)
			fprintf(f, p ? ", %zu" : "%zu", conf[t * K + p]);
		fputc(']', f);
	}
	fputs("], \"classes\": [", f);
	for (size_t k = 0; k < s->n_class_names; k++) {
		if (k)
			fputs(", ", f);
		json_string(f, s->class_names[k]);
	}
	fputs("], \"class_accuracy\": [", f);
	for (size_t t = 0; t < K; t++) {
		size_t row = 0;
		for (size_t p = 0; p < K; p++)
			row += conf[t * K + p];
		if (t)
			fputs(", ", f);
		json_number(f, ratio(conf[t * K + t], row));
	}
	fputs("]}\n", f);
}

void nncc_log_header(FILE *f, const nncc_model_t *m, int with_test, int with_val)
{
	const char *sc = nncc_score_name(m);
	fputs("iteration,epoch,lr,train_loss,", f);
	if (with_test)
		fprintf(f, "test_%s,", sc);
	fputs("seconds", f);
	if (with_val)
		fprintf(f, ",val_loss,val_%s", sc);
	fputc('\n', f);
}

/* One CSV number: x with `digits` significant digits, or nan, inf, -inf
 * (printf may write "-nan"). */
static void log_num(FILE *f, const char *sep, int digits, double x)
{
	if (isfinite(x))
		fprintf(f, "%s%.*g", sep, digits, x);
	else
		fprintf(f, "%s%s", sep, isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

/* lr with 17 significant digits: the rate exactly, to replay or check a
 * schedule from the log. */
void nncc_log_row(FILE *f, const nncc_model_t *m, size_t iteration, double epoch, double lr,
                  double train_loss, const double *test_score, double seconds,
                  const nncc_eval_t *val)
{
	fprintf(f, "%zu", iteration);
	log_num(f, ",", 6, epoch);
	log_num(f, ",", 17, lr);
	log_num(f, ",", 9, train_loss);
	if (test_score)
		log_num(f, ",", 6, *test_score);
	fprintf(f, ",%.6f", seconds);
	if (val) {
		log_num(f, ",", 9, val->loss);
		log_num(f, ",", 6, val->n ? nncc_eval_score(m, val) : NAN);
	}
	fputc('\n', f);
}
