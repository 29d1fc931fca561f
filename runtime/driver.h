/*
 * driver.h - internal interface between the training driver (driver.c), its
 * reports (report.c: progress line, final text/JSON report, CSV log), the
 * SVG chart (plot.c) and the output files and signals (output.c, also
 * weights.c's writer).  Not part of the runtime ABI: generated code only ever
 * calls nncc_main().  Symbols keep the nncc_ prefix because libnncc.a is
 * linked into user programs.
 *
 * Vocabulary: N = training samples, B = batch size, T = total iterations,
 * K = n_outputs (classes).
 */
#ifndef NNCC_DRIVER_H
#define NNCC_DRIVER_H

#include "nncc.h"

#define NNCC_CHUNKS_DEFAULT SIZE_MAX

/* The driver's options after parsing (defaults from model->config). */
typedef struct nncc_opts {
	const char *data_dir;
	size_t iterations, epochs;   /* at most one is non-zero; both 0 = no training */
	double lr;
	size_t batch;                /* 0 = full batch */
	uint64_t seed;
	int shuffle;
	int threads;                 /* 0 = all cores */
	size_t chunks;               /* a batch's chunks (group.c); NNCC_CHUNKS_DEFAULT: the
	                                library's (0 = off: one chain over the batch) */
	double mpi_timeout;          /* seconds; 0 = wait for ever (nncc_comm_t.timeout) */
	int shard;                   /* --shard 1, --no-shard 0, else -1: shard when the ranks
	                                span several machines (docs/scaling.md#shards) */
	const char *save, *load, *resume, *log, *plot;
	const char *predict, *output; /* predict mode: images in, CSV rows out */
	const char *optimizer;       /* --optimizer: must name model->optimizer */
	int json, quiet, eval_test;
	size_t eval_every;           /* 0 = no periodic evaluation */
	size_t checkpoint_every;     /* 0 = --save only at the end */
	double clip_norm;            /* 0 = no clipping */
	size_t train_limit;          /* 0 = every sample of the training file */
	double validation;           /* held out: 0 = none, >= 1 a count, (0, 1) a fraction */
	size_t patience;             /* early stopping: 0 = off */
	int metric;                  /* nncc_metric_t of early stopping and "best" */
	double min_delta;            /* >= 0 */
	nncc_schedule_t schedule;    /* the compiled one, or --schedule's, with the options' keys */
	size_t pretrain_epochs;      /* pre-training's passes per layer; 0 = none */
	double pretrain_lr;
	int pretrain_unlabeled;      /* also the samples --train-limit leaves out */
	size_t max_memory;           /* bytes the run may use; 0: half the physical memory */
	double hparams[NNCC_MAX_HPARAMS]; /* the optimizer's, model->hparams' order */
} nncc_opts_t;

/* ---- idx.c: any data file read as bytes (csv.c), raw or gzip'd: the path
 * as given or with ".gz" appended, gzip told by its magic and checked (CRC,
 * nothing after the last member), as for IDX files. */
typedef struct nncc_rfile nncc_rfile_t;
int nncc_rfile_open(nncc_rfile_t **r, const char *path, nncc_err_t *err);
/* Up to len bytes: the count, 0 at the end of the data, -1 with err set. */
long long nncc_rfile_read(nncc_rfile_t *r, void *buf, size_t len, nncc_err_t *err);
const char *nncc_rfile_path(const nncc_rfile_t *r);   /* the name opened */
/* To byte `off` of the data (gzip: of the inflated bytes, reached by
 * inflating from the last access point before it, nncc_rfile_index, or
 * from the start when it is behind); 0 or -1 with err set. */
int nncc_rfile_seek(nncc_rfile_t *r, unsigned long long off, nncc_err_t *err);
int nncc_rfile_seekable(const nncc_rfile_t *r);   /* not gzip'd, or indexed */
void nncc_rfile_close(nncc_rfile_t *r);
/* A gzip'd file's index of access points (docs/trainer.md#a-gzipd-training-file;
 * nothing for a raw file): from then on inflating stops at deflate block
 * boundaries, every `span` bytes of data or more, and keeps there the
 * 32 KiB window inflating needs to start again (at most `points` of them,
 * >= 2; when they are all held, every other one goes and the span doubles:
 * at most points * NNCC_GZ_POINT_BYTES).  A seek then inflates from the
 * last point before its byte (behind, or 64 KiB or more ahead), not from
 * the start or from where the stream is; the members' CRC-32 and lengths
 * are still checked.  The file can seek (nncc_rfile_seekable). */
#define NNCC_GZ_POINT_BYTES (32768u + 64u)
int nncc_rfile_index(nncc_rfile_t *r, unsigned long long span, size_t points, nncc_err_t *err);
/* r reads through src's access points too, and adds to them (src: the same
 * file opened before; both gzip'd, src indexed, r not yet: else nothing).
 * The points are freed with the last handle. */
void nncc_rfile_index_share(nncc_rfile_t *r, const nncc_rfile_t *src);
/* The bytes inflated so far, skipped and inflated again included (0 raw). */
unsigned long long nncc_rfile_inflated(const nncc_rfile_t *r);

/* ---- norm.c: nncc_norm_fit over a training set read in chunks (streamed):
 * begin, then for each of the kind's passes every chunk in file order
 * (add) and end_pass with the samples' count: the same bits as
 * nncc_norm_fit on the whole set.  end_pass frees st on failure. */
int nncc_norm_fit_begin(nncc_norm_stats_t *st, int kind, size_t dim, nncc_err_t *err);
int nncc_norm_fit_passes(int kind);
void nncc_norm_fit_add(nncc_norm_stats_t *st, int pass, const nncc_dataset_t *chunk);
int nncc_norm_fit_end_pass(nncc_norm_stats_t *st, int pass, size_t n, nncc_err_t *err);
/* Pixels without standardisation: an input depends on the pixel's value
 * alone, so the 256 inputs are a table.  nncc_norm_lut fills t for st and
 * dtype, or returns -1 when st standardises; nncc_norm_apply_lut converts
 * `count` pixels, the bits of nncc_norm_apply: through the table, or in
 * float32 on a CPU with AVX2 and FMA by a division on the FMA units that
 * gives every entry (checked, all 256). */
typedef struct nncc_norm_lut {
	int dtype;
	int fma;         /* 1: the FMA path (p * r corrected by one residual) */
	float r, div;    /* 1 / div rounded, and div: 255 (scale) or 1 (none) */
	float f[256];
	double d[256];
} nncc_norm_lut_t;
int nncc_norm_lut(nncc_norm_lut_t *t, const nncc_norm_stats_t *st, int dtype);
void nncc_norm_apply_lut(const nncc_norm_lut_t *t, void *out, const uint8_t *pixels,
                         size_t count);

/* ---- csv.c: predict mode's input, streamed: the features of a CSV file
 * whose label (or target) columns may be absent (when there, they are not
 * read).  nncc_csv_read gives up to k rows of dim doubles, *got = 0 at the
 * end (a file without rows is an error).  And one field written as RFC 4180
 * wants it (quoted when it holds a comma, a quote or a line break). */
typedef struct nncc_csv_in nncc_csv_in_t;
int nncc_csv_open(nncc_csv_in_t **in, const char *path, const nncc_csv_spec_t *spec,
                  size_t dim, nncc_err_t *err);
int nncc_csv_read(nncc_csv_in_t *in, double *values, size_t k, size_t *got, nncc_err_t *err);
void nncc_csv_close(nncc_csv_in_t *in);
void nncc_csv_write_field(FILE *f, const char *s);

/* ---- csv.c: a training set streamed (docs/scaling.md#larger-than-memory).
 * nncc_csv_scan reads the file once, as nncc_csv_load would (the same
 * checks and FILE:LINE:COL errors, the same classes): ds gets n, dim,
 * n_classes, class_names and n_targets; it records where every tile-th
 * row starts.  When the rows as parsed (and the arrays they grow in) take
 * at most `keep` bytes, ds gets them too, its values and labels or
 * targets as nncc_csv_train_rows would read them (the caller then need
 * not read the file again); else none (keep 0: never).
 * nncc_csv_train_rows reads rows first .. first + k - 1: their features,
 * and their labels (classification) or targets (regression).  Reading on
 * from the last row read continues; else the reader seeks to the start of
 * the tile at or before `first` (a gzip'd file: inflated from its last
 * access point before it, nncc_csv_train_index, or from its start when
 * that is behind).  nncc_csv_train_twin opens a second reader of t's
 * file with its own position (t's columns, classes and row starts shared:
 * close it before t), so that reading the whole set does not move t's
 * (it shares t's access points: nncc_rfile_index_share). */
typedef struct nncc_csv_train nncc_csv_train_t;
int nncc_csv_scan(nncc_csv_train_t **t, nncc_dataset_t *ds, const char *path,
                  const nncc_csv_spec_t *spec, size_t dim, const char *const *classes,
                  size_t n_classes, size_t tile, size_t keep, nncc_err_t *err);
int nncc_csv_train_rows(nncc_csv_train_t *t, size_t first, size_t k, double *values,
                        int32_t *labels, double *targets, nncc_err_t *err);
int nncc_csv_train_twin(nncc_csv_train_t **twin, const nncc_csv_train_t *t, nncc_err_t *err);
/* A scan's findings (the row count, columns, classes and row starts: not
 * the rows) as bytes, malloc'd, for nncc_csv_scanned: a data-parallel run's
 * rank 0 scans the file and the others open it from these (one scan, not
 * one a rank).  nncc_csv_scanned is nncc_csv_scan without the scan (keep
 * 0): the same arguments, the findings of the same file; -1 when they are
 * not whole. */
int nncc_csv_scan_pack(const nncc_csv_train_t *t, const nncc_dataset_t *ds, void **buf,
                       size_t *len, nncc_err_t *err);
int nncc_csv_scanned(nncc_csv_train_t **t, nncc_dataset_t *ds, const char *path,
                     const nncc_csv_spec_t *spec, size_t dim, const char *const *classes,
                     size_t n_classes, size_t tile, const void *buf, size_t len,
                     nncc_err_t *err);
int nncc_csv_train_seekable(const nncc_csv_train_t *t);
/* The file's bytes of data (gzip'd: inflated), as its scan found them; an
 * index of access points for t's reader (nncc_rfile_index), and the bytes
 * it has inflated. */
unsigned long long nncc_csv_train_bytes(const nncc_csv_train_t *t);
int nncc_csv_train_index(nncc_csv_train_t *t, unsigned long long span, size_t points,
                         nncc_err_t *err);
unsigned long long nncc_csv_train_inflated(const nncc_csv_train_t *t);
const char *nncc_csv_train_path(const nncc_csv_train_t *t);
void nncc_csv_train_close(nncc_csv_train_t *t);

/* ---- comm.c (one process: libnncc.a) or mpi.c (Open MPI: libnncc_mpi.a,
 * make MPI=1): the processes of one training run, ranks 0 .. size - 1
 * (docs/scaling.md).  Every function but init and fini is collective:
 * every rank calls it, in the same order.  Elements are reals of `dtype`
 * (NNCC_F32, NNCC_F64) or bytes (NNCC_BYTES); counts and offsets count
 * elements. */
#define NNCC_BYTES 0
typedef struct nncc_comm {
	int rank, size;
	int local;               /* ranks on this machine, this one included */
	int local_rank;          /* this one's place among them: 0 .. local - 1 */
	double timeout;          /* seconds an exchange may wait for the ranks; 0: for ever */
	size_t default_chunks;   /* --chunks when not given: 0 (off), or NNCC_MPI_CHUNKS */
} nncc_comm_t;

/* The number of chunks of a batch under MPI when --chunks is not given:
 * 12 divides evenly among 1, 2, 3, 4, 6 and 12 ranks. */
#define NNCC_MPI_CHUNKS 12
/* --mpi-timeout's default, seconds: far more than an update or a
 * checkpoint should take. */
#define NNCC_MPI_TIMEOUT 600

int nncc_comm_init(nncc_comm_t *c, nncc_err_t *err);
/* The run ends with exit status `status`: 0, or 128 + a signal's number
 * (every rank stops after the same update: driver.c's run_signal), ends it
 * together with the other ranks (MPI_Finalize); anything else, with more
 * than one rank, ends every rank's (MPI_Abort): the others may be waiting
 * for this one. */
void nncc_comm_fini(const nncc_comm_t *c, int status);
/* Rank d gets scount[d] elements at sdispl[d] of send; rank r's rcount[r]
 * arrive at rdispl[r] of recv (MPI_Alltoallv). */
int nncc_comm_alltoall(const nncc_comm_t *c, int dtype, const void *send, const size_t *scount,
                       const size_t *sdispl, void *recv, const size_t *rcount,
                       const size_t *rdispl, nncc_err_t *err);
/* In place: rank r's count[r] elements at displ[r] of buf reach every rank
 * (MPI_Allgatherv). */
int nncc_comm_allgather(const nncc_comm_t *c, int dtype, void *buf, const size_t *count,
                        const size_t *displ, nncc_err_t *err);
/* *out = the largest v of all ranks (MPI_Allreduce, MPI_MAX). */
int nncc_comm_max(const nncc_comm_t *c, int v, int *out, nncc_err_t *err);
/* *out = the smallest v of all ranks (MPI_Allreduce, MPI_MIN). */
int nncc_comm_min_size(const nncc_comm_t *c, size_t v, size_t *out, nncc_err_t *err);

/* Memory that the ranks on this machine share (MPI_Win_allocate_shared):
 * *p = `bytes` bytes, the same on every rank here; *fill = 1 on the one rank
 * that writes them (the machine's first), 0 on the others, which only read
 * them after nncc_comm_shared_ready (the writer is local_rank 0).  Alone on
 * a machine, and without MPI, plain malloc'd memory (*fill = 1).
 * Collective: every rank of the job calls it, alone on its machine or not. */
int nncc_comm_shared(const nncc_comm_t *c, size_t bytes, void **p, int *fill, nncc_err_t *err);
/* Whether a block of `bytes` that this machine's ranks would share fits
 * where Open MPI backs it (its osc_sm_backing_directory, /dev/shm by
 * default; a container's is often 64 MB): *room = the smallest free bytes
 * of a machine whose directory lacks the room, SIZE_MAX when none does or
 * none can tell (no MPI, ranks alone on their machines, a directory
 * statvfs() cannot read: nncc_comm_shared then fails with MPI's message).
 * dir gets this machine's directory (dirlen bytes).  Collective. */
int nncc_comm_shared_room(const nncc_comm_t *c, size_t bytes, size_t *room, char *dir,
                          size_t dirlen, nncc_err_t *err);
/* After the writer has filled p: every rank waits for every other (a
 * barrier under --mpi-timeout) and then sees the writer's bytes.
 * Collective. */
int nncc_comm_shared_ready(const nncc_comm_t *c, void *p, nncc_err_t *err);
/* Not collective: free()s plain memory; a shared block stays mapped until
 * nncc_comm_fini, whose MPI_Win_free is collective. */
void nncc_comm_shared_free(const nncc_comm_t *c, void *p);

/* ---- group.c: one optimizer step of a batch cut into C chunks, the same
 * bits whatever the number of ranks (docs/scaling.md).  Chunk c is samples
 * floor(B c / C) .. floor(B (c+1) / C) - 1 of the batch; rank r computes the
 * gradient sums of chunks floor(C r / size) .. floor(C (r+1) / size) - 1,
 * each on its own (a chain from zero), and adds them up along the tree's
 * subtrees that lie in its chunks; the ranks exchange those so that rank r
 * holds every subtree's part of parameter slice r and completes the tree,
 * and the slices are gathered: every rank has the same sums, then clips and
 * updates as one process does. */

/* The tree: chunks lo .. hi-1 (hi - lo >= 2) are the sum of lo .. mid-1
 * and mid .. hi-1, mid = lo + the largest power of two below hi - lo (so
 * the chunks 0 .. 11 are ((0..3 + 4..7) + 8..11), each aligned block of 2^k
 * a perfect subtree). */
size_t nncc_tree_mid(size_t lo, size_t hi);
/* The subtrees of the tree over lo .. hi-1 that cover chunks a .. b-1 with
 * the fewest nodes, left to right, as (lo, hi) pairs at nodes[2 n] on (not
 * written when nodes is NULL); returns n plus their number. */
size_t nncc_tree_nodes(size_t lo, size_t hi, size_t a, size_t b, size_t *nodes, size_t n);
/* A subtree's sum from its chunks' sums as they come, left to right (a
 * binary counter): the pending subtrees' sums in stack, [sp][n] reals;
 * nncc_tree_depth(leaves) slots are enough for a subtree of that many. */
typedef struct nncc_fold {
	char *stack;
	size_t *sizes;               /* [slot] the chunks in it */
	size_t sp;                   /* slots in use */
} nncc_fold_t;
size_t nncc_tree_depth(size_t leaves);
/* One chunk's n sums (leaf, overwritten by the caller afterwards) into the
 * fold; last: the subtree's last chunk, after which leaf holds the
 * subtree's sum and the fold is empty again. */
void nncc_tree_fold(int dtype, size_t n, void *leaf, int last, nncc_fold_t *f);
/* The sum of chunks lo .. hi-1 from the sums of `count` subtrees that
 * cover them (nodes as nncc_tree_nodes gives; rows: their n reals each, in
 * that order, added into in place): a pointer into rows. */
void *nncc_tree_combine(int dtype, size_t n, void *rows, const size_t *nodes, size_t count,
                        size_t lo, size_t hi);

/* Samples as a sharded rank holds them (docs/scaling.md#shards): `bytes`
 * a sample at x, which convert(ctx, raw, k, reals) turns into the model's
 * reals (NULL: x holds the reals), and their labels (int32) or targets
 * (reals) at y. */
typedef struct nncc_held {
	const void *x, *y;
	size_t bytes;
	void (*convert)(void *ctx, const void *raw, size_t k, void *x);
	void *ctx;
} nncc_held_t;

typedef struct nncc_group {
	const nncc_comm_t *comm;
	size_t chunks;               /* C */
	size_t P;                    /* the gradient's reals: m->n_params, or pre-training's */
	/* Pre-training's step (nncc_group_init_pretrain), else vec is NULL:
	 * autoencoder `pretrain`'s gradient, its n_seg tensors (offset, size)
	 * in m->grads gathered into vec, P reals. */
	size_t pretrain, n_seg;
	size_t (*seg)[2];
	void *vec;
	size_t *c0;                  /* [size + 1] rank r's chunks are c0[r] .. c0[r+1]-1 */
	size_t *lo;                  /* [size + 1] rank r's parameters lo[r] .. lo[r+1]-1 */
	size_t *n0;                  /* [size + 1] rank r's subtrees are n0[r] .. n0[r+1]-1 */
	size_t *nodes;               /* [n0[size]][2] every rank's subtrees, (lo, hi) */
	size_t *cnt;                 /* [5][size]: scount, sdispl, rcount, rdispl, len */
	nncc_fold_t fold;            /* [depth][P] reals: this rank's subtrees as they grow */
	void *send;                  /* [size][own subtrees][slice d] reals, slice-major;
	                                NULL with one rank or one subtree per rank (m->grads
	                                holds it and is sent) */
	void *rows;                  /* [n0[size]][own slice] reals; NULL with one rank */
	double *loss;                /* [C] the chunks' loss sums */
	/* A sharded run (nncc_group_shard, nncc_group_shard_stream;
	 * docs/scaling.md#shards), else NULL. */
	size_t *first;               /* [size + 1] in memory: rank r holds training samples
	                                first[r] .. first[r+1]-1; streamed: NULL */
	int stream_shared;           /* streamed: each rank reads its part of each window */
	nncc_held_t held;            /* this rank's (streamed: x, y unused) */
	int *from;                   /* [own] the rank each of this rank's positions' comes from */
	void *out, *in;              /* samples sent, received: [.][held.bytes + y] bytes */
	void *braw;                  /* [own] this rank's positions' samples as held, in order
	                                (with held.convert; else bx itself) */
	void *bx, *by;               /* [own] ... as reals, and their labels or targets */
	void *tile;                  /* [max_batch] reals: a held tile converted, to evaluate */
	size_t max_out, max_own;     /* the samples out and in (braw, bx, by) hold */
	nncc_stream_t local;         /* over bx and by: what own chunks read */
} nncc_group_t;

/* ---- One step shared by the ranks of one machine (share.c; --chunks 0
 * under MPI, docs/scaling.md#one-step-shared-by-the-ranks). */
#define NNCC_SHARE_MAX_RANKS 256
typedef struct nncc_share {
	const nncc_model_t *m;       /* NULL: no shared step */
	const nncc_comm_t *comm;
	int fd;                      /* the shared-memory object (unlinked) */
	size_t *off;                 /* [m->n_shared] each region's offset in it */
	struct nncc_share_ctl *ctl;  /* its first page: the meeting point, the counters */
	int sense, failed;           /* the barrier's, and whether its last meeting failed */
	unsigned long long meetings; /* this rank's so far */
	size_t steps;                /* shared steps done */
	nncc_part_t part;            /* this rank's, for step_part */
	char msg[256];               /* why the set-up or a meeting failed */
} nncc_share_t;

/* Why the ranks cannot share a step (a phrase), or NULL when they can. */
const char *nncc_share_unfit(const nncc_comm_t *c, const nncc_model_t *m);
/* Maps m's shared regions on every rank (rank 0's bytes); collective.
 * -1 with *err when a rank could not. */
int nncc_share_init(nncc_share_t *s, const nncc_comm_t *c, const nncc_model_t *m,
                    nncc_err_t *err);
/* One update of u->batch <= m->max_batch samples drawn from st (every rank
 * draws the whole batch), *loss its loss sum; -1 with *err when a rank's
 * batch could not be read (every rank stops) or a rank did not come. */
int nncc_share_step(nncc_share_t *s, nncc_stream_t *st, const nncc_update_t *u, double *loss,
                    nncc_err_t *err);
/* The layer buffers shared again (1) or private (0: an evaluation of this
 * rank's own, while the parameters stay shared and unchanged). */
int nncc_share_layers(nncc_share_t *s, int shared);
/* Everything private again, the parameters' and state's bytes kept (after
 * the last shared step); fini also frees. */
int nncc_share_end(nncc_share_t *s);
void nncc_share_fini(nncc_share_t *s);
/* meet() and the weight units' counter, for nncc_part_t. */
int nncc_share_meet(void *ctx);
size_t nncc_share_next(void *ctx);

/* -1 (out of memory, C < size, counts MPI cannot take) or 0. */
int nncc_group_init(nncc_group_t *g, const nncc_comm_t *c, const nncc_model_t *m, size_t chunks,
                    nncc_err_t *err);
/* The same for pre-training's steps of autoencoder i (nncc_group_pretrain):
 * the gradient is its encoder's and decoder's tensors. */
int nncc_group_init_pretrain(nncc_group_t *g, const nncc_comm_t *c, const nncc_model_t *m,
                             size_t i, size_t chunks, nncc_err_t *err);
/* A group for the split evaluations alone (nncc_group_evaluate*), of
 * ranks that share each step (share.c) and add no gradients: no chunks.
 * -1 (out of memory) or 0. */
int nncc_group_init_eval(nncc_group_t *g, const nncc_comm_t *c, nncc_err_t *err);
void nncc_group_fini(nncc_group_t *g);
/* The most reals the fold, send and rows of a gradient of P reals in C
 * chunks take on any rank of any rank count R <= C (group_init's buffers):
 * the memory plan counts them whatever R is, so that it decides alike for
 * every R.  Exact up to 256 chunks (nncc_group_reals_exact), a bound
 * beyond. */
size_t nncc_group_reals(size_t C, size_t P);
size_t nncc_group_reals_exact(size_t C, size_t P);
/* The bytes a run's groups take at most (0 when C is 0): the training
 * step's and, with `pretrain`, the largest autoencoder's beside it (its
 * gradient gathered, P more reals), and their small arrays. */
size_t nncc_group_bytes(const nncc_model_t *m, size_t C, int pretrain);
/* The most samples of a batch of B <= n any of `ranks` ranks trains on
 * with C chunks (a bound; B when C is 0 or fewer than the ranks). */
size_t nncc_group_own_max(size_t B, size_t C, size_t ranks);
/* Shards the training set (n samples, batches of at most B <= n): this rank
 * holds only the samples of its tiles of it (nncc_tiles_held), as h says,
 * and every batch it gets the samples of its chunks from the ranks that
 * hold them (nncc_group_batch): as held, converted on arrival.  Not
 * collective; -1 when out of memory. */
int nncc_group_shard(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h, size_t n,
                     size_t B, nncc_err_t *err);
/* The same for a shuffled training stream shared by the ranks
 * (nncc_stream_share): each holds its part of the current window, and a
 * batch's samples (h->bytes a sample as read, converted on arrival by
 * h->convert) travel as with nncc_group_shard; the stream nncc_group_batch
 * is given must be that shared stream.  Not collective; -1 when out of
 * memory. */
int nncc_group_shard_stream(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h,
                            size_t B, nncc_err_t *err);
/* nncc_evaluate's figures, the same bits, computed by the ranks together:
 * each forwards its share of the tiles.  -1 when the exchange fails. */
int nncc_group_evaluate(nncc_group_t *g, const nncc_model_t *m, const void *x, const void *y,
                        size_t n, nncc_eval_t *ev, nncc_err_t *err);
/* The same for a sharded run's set of n samples, of which this rank holds
 * its tiles (nncc_tiles_held) as h says; after nncc_group_shard. */
int nncc_group_evaluate_held(nncc_group_t *g, const nncc_model_t *m, const nncc_held_t *h,
                             size_t n, nncc_eval_t *ev, nncc_err_t *err);
/* The same over n samples that are not in memory: tiles(ctx, t0, t1,
 * tile_loss, part, err) does nncc_evaluate_tiles's work on tiles t0 .. t1-1
 * (this rank's share), reading their samples as it likes; 0, or -1 with
 * err set (this rank's run then fails, which ends the others': MPI_Abort). */
typedef int (*nncc_tiles_fn)(void *ctx, size_t t0, size_t t1, double *tile_loss,
                             nncc_eval_t *part, nncc_err_t *err);
int nncc_group_evaluate_by(nncc_group_t *g, const nncc_model_t *m, size_t n,
                           nncc_tiles_fn tiles, void *ctx, nncc_eval_t *ev, nncc_err_t *err);
/* nncc_train_batch_clip's step, chunked: *loss the batch's loss sum (the
 * chunks' loss sums, doubles, added in chunk order), *norm as there.
 * Sharded, s (in memory, over no samples) only draws the batch's order
 * (nncc_stream_indices).  -1 when the exchange fails. */
int nncc_group_batch(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                     const nncc_update_t *u, double max_norm, double *loss, double *norm,
                     nncc_err_t *err);
/* m->pretrain_step's step of the autoencoder g was made for, chunked:
 * pretrain_grad on this rank's chunks (row s of chunk c being sample
 * floor(B c / C) + s of the batch: its noise), the sums exchanged as
 * nncc_group_batch's, then pretrain_update; *loss the chunks' loss sums
 * added in chunk order.  Sharded (nncc_group_shard on g), s only draws the
 * batch's order, as there.  -1 when the exchange fails. */
int nncc_group_pretrain(nncc_group_t *g, const nncc_model_t *m, nncc_stream_t *s,
                        const nncc_update_t *u, double *loss, nncc_err_t *err);

/* ---- driver.c */

/* nncc_main's option parsing alone (tests/fuzz/fuzz_options.c): fills o
 * from argv over m's defaults, prints --help to stdout and usage errors to
 * stderr.  Returns -1 to go on, or nncc_main's exit status (0 after --help,
 * 2 on bad usage). */
int nncc_opts_parse(nncc_opts_t *o, int argc, char **argv, const nncc_model_t *m);

/* Validation's record over the passes: the best one and early stopping's
 * state (a checkpoint's BEST section). */
typedef struct nncc_best {
	uint64_t epoch;              /* the best pass (1-based), 0 = none yet */
	double loss, accuracy;       /* its validation loss and accuracy */
	uint64_t wait;               /* passes since it without improvement */
	int stopped;                 /* early stopping ended the training */
	uint64_t stop_epoch;         /* the pass it stopped after */
} nncc_best_t;

/* One autoencoder's pre-training (docs/trainer.md#pre-training). */
typedef struct nncc_pretrain_rec {
	size_t layer;                /* its encoder (0-based) */
	size_t epochs, steps;
	double *loss;                /* epochs mean reconstruction losses, per sample */
	double seconds;
} nncc_pretrain_rec_t;

/* Everything the final report prints. */
typedef struct nncc_summary {
	const nncc_model_t *m;
	const nncc_opts_t *o;
	const char *data_dir;        /* as used */
	size_t n_train, batch;       /* trained on (the file's first); batch resolved (full = n_train) */
	size_t n_file;               /* samples in the training file */
	size_t n_val;                /* held out for validation: the n_val after n_train */
	size_t iterations;           /* T actually run */
	size_t planned;              /* T planned (more than run when early stopping ended it) */
	uint64_t samples;            /* trained on in this run: epochs = samples / n_train */
	uint64_t step0;              /* the optimizer's step counter before the run */
	const char *resumed;         /* --resume's file, or NULL */
	uint64_t resume_epoch, resume_sample; /* where it resumed */
	double final_lr;             /* the rate of the last update (NaN: none) */
	size_t clipped;              /* updates whose gradient was clipped */
	int threads;                 /* in use */
	int ranks;                   /* processes training together (MPI), 1 without */
	size_t chunks;               /* a batch's chunks, 0: one chain */
	double train_seconds, eval_seconds;
	nncc_eval_t train, test;     /* test.confusion is set */
	nncc_eval_t val;             /* the final weights on the held-out samples (n_val > 0) */
	nncc_best_t best;            /* validation's best pass and early stopping's outcome */
	size_t n_class_names;        /* CSV string labels: class k's name; else 0 */
	char *const *class_names;
	size_t n_pretrain;           /* autoencoders pre-trained in this run (0: none) */
	size_t pretrain_samples;     /* the samples of each pre-training pass */
	const nncc_pretrain_rec_t *pretrain;
	size_t mem_budget, mem_used; /* --max-memory (resolved), the run's estimate within it */
	size_t window, n_windows;    /* streamed: W and the training set's windows; else 0 */
	int read_ahead;              /* streamed: read a piece ahead on a thread of its own */
	size_t gz_points;            /* streamed, shuffled, gzip'd: the training file's index
	                                of access points (at most; else 0) */
	size_t gz_eval_points;       /* streamed under MPI: the evaluations' indexes of access
	                                points (at most; else 0): a gzip'd training file's
	                                when the stream has none, a gzip'd test file's not
	                                held */
	size_t gz_test_points;
	size_t mem_shared;           /* in memory under MPI: the bytes of reals and labels */
	int shared_by;               /* that shared_by (> 1) ranks on this machine hold once;
	                              * else 0 and 0 */
	size_t shm_room;             /* in memory, every rank holding its own copy, because
	                              * a machine's backing directory shm_dir had only
	                              * shm_room bytes free for mem_shared; else 0 */
	char shm_dir[256];
	size_t shard_samples;        /* sharded: the training samples rank 0 holds (streamed:
	                                of a full window); else 0 */
	int sharded;
} nncc_summary_t;

/* ---- report.c */

/* Progress on stderr: a live \r line on a terminal (<= 10 per second),
 * otherwise one plain line per ~10% of the run. */
typedef struct nncc_progress {
	FILE *f;
	int tty, quiet;
	int regression;              /* the validation figure is the RMSE, not the accuracy */
	const char *name;
	size_t total;
	double last_shown;           /* wall time of the last line */
	size_t next_tenth;           /* non-tty: next 10% mark (1..10) */
	double loss_sum;             /* losses since the last line */
	size_t loss_n;
	int live;                    /* a \r line is on screen */
} nncc_progress_t;

void nncc_progress_init(nncc_progress_t *p, FILE *f, int quiet, const char *name,
                        size_t total);
/* Where a run stands after an update, for the progress line. */
typedef struct nncc_tick {
	size_t done;                 /* updates so far (1-based) */
	double loss;                 /* the update's mean loss */
	double epoch;                /* samples so far / training samples */
	double lr;                   /* the update's learning rate */
	uint64_t samples;            /* samples so far */
	double train_s, wall_s;      /* training time so far, elapsed wall time */
	double val_loss, val_accuracy; /* the latest pass's validation, NaN before one
	                                  (val_accuracy: nncc_eval_score's, the RMSE for
	                                  regression) */
} nncc_tick_t;
/* Returns 1 if it printed (the caller excludes that time from training). */
int nncc_progress_step(nncc_progress_t *p, const nncc_tick_t *t);
/* Ends a live line so other stderr output starts on its own line. */
void nncc_progress_break(nncc_progress_t *p);

/* What evaluations are judged by: the accuracy (a fraction) or, for
 * regression, the RMSE; its name in logs and JSON ("accuracy", "rmse"). */
double nncc_eval_score(const nncc_model_t *m, const nncc_eval_t *ev);
const char *nncc_score_name(const nncc_model_t *m);

void nncc_report_text(FILE *f, const nncc_summary_t *s);
/* "412 MB": bytes in units of 1024 (--max-memory's K, M, G, T); buf gets
 * it, and is returned. */
const char *nncc_mem_text(char *buf, size_t len, size_t bytes);
/* One line: a JSON object. */
void nncc_report_json(FILE *f, const nncc_summary_t *s);

/* CSV log: "iteration,epoch,lr,train_loss[,test_accuracy],seconds
 * [,val_loss,val_accuracy]" (the validation columns last, so the others
 * keep their places; a regression's are test_rmse and val_rmse). */
void nncc_log_header(FILE *f, const nncc_model_t *m, int with_test, int with_val);
/* test_score: the test set's nncc_eval_score, or NULL; val NULL: no
 * validation columns. */
void nncc_log_row(FILE *f, const nncc_model_t *m, size_t iteration, double epoch, double lr,
                  double train_loss, const double *test_score, double seconds,
                  const nncc_eval_t *val);

/* ---- output.c: output files written whole or not at all (PATH.tmp.XXXXXX,
 * then rename), and SIGINT/SIGTERM while training. */

typedef struct nncc_outfile {
	const char *path;
	const char *what;            /* its messages' start: "cannot write" */
	char *tmp;                   /* PATH.tmp.XXXXXX while it exists, else NULL */
	FILE *f;                     /* open on tmp until finished */
	int slot;                    /* in the signal handler's list, or -1 */
	int in_place;                /* PATH is a device or FIFO: f writes to it directly */
} nncc_outfile_t;

/* Creates the temporary file (o->f writes to it); PATH is not touched.
 * Messages read "WHAT PATH: cannot create TMP: reason".  A PATH that exists
 * and is not a regular file (/dev/null, a FIFO) is opened in place instead
 * (no temporary file: commit only flushes and closes); a directory is an
 * error. */
int nncc_outfile_open(nncc_outfile_t *o, const char *path, const char *what, nncc_err_t *err);
/* Flushes, sets mode 0644, fsyncs and closes: complete, not yet in place.
 * On failure the temporary file is removed. */
int nncc_outfile_finish(nncc_outfile_t *o, nncc_err_t *err);
/* Finishes (when not yet) and renames over PATH in one step; on failure
 * the temporary file is removed and PATH keeps what it held. */
int nncc_outfile_commit(nncc_outfile_t *o, nncc_err_t *err);
/* Closes and removes the temporary file; nothing after a commit or a
 * failure, or on a zeroed struct. */
void nncc_outfile_abort(nncc_outfile_t *o);
/* len bytes of buf as PATH, whole or not at all. */
int nncc_write_whole(const char *path, const char *what, const void *buf, size_t len,
                     nncc_err_t *err);

/* 1 when a and b name the same file through any spelling or link (one
 * that does not exist yet: the same directory and name). */
int nncc_same_file(const char *a, const char *b);

/* SIGINT and SIGTERM from now on (unless ignored when the program
 * started): the first is only recorded (nncc_signal_pending), a second
 * removes the temporary files of the outputs in progress and _exit()s
 * with 128 + its number, saying so on stderr after "NAME: ". */
void nncc_signals_catch(const char *name);
/* The dispositions from before nncc_signals_catch. */
void nncc_signals_release(void);
/* The first caught signal's number, or 0. */
int nncc_signal_pending(void);
/* "SIGINT", "SIGTERM"; the exit status for it, 128 + its number. */
const char *nncc_signal_name(int sig);
int nncc_signal_status(int sig);
/* hold 1: blocks them in the calling thread (threads it creates inherit
 * that: the thread pool's workers never run the handler); hold 0: the mask
 * from before. */
void nncc_signals_hold(int hold);

/* ---- idx.c: an image file read a few images at a time (predict mode) */
typedef struct nncc_images nncc_images_t;
/* Opens path (or path".gz") and reads its header: n images of rows x cols. */
int nncc_images_open(nncc_images_t **s, const char *path, size_t *n, size_t *rows,
                     size_t *cols, nncc_err_t *err);
/* The next k images (k * rows * cols bytes); after the last one, also
 * checks that nothing follows (as a whole load does). */
int nncc_images_read(nncc_images_t *s, uint8_t *pixels, size_t k, nncc_err_t *err);
void nncc_images_close(nncc_images_t *s);
/* Streaming a training set: whether the file can seek (raw, or gzip'd
 * with an index), and the next read starting at image `first` (a raw file
 * seeks, after checking once that its length is the header's; a gzip'd
 * one reads on, or inflates again from its last access point before
 * `first` or from the start).  _index, _index_share and _inflated as
 * nncc_rfile_'s. */
int nncc_images_seekable(const nncc_images_t *s);
const char *nncc_images_path(const nncc_images_t *s);   /* the name opened (maybe .gz) */
int nncc_images_seek(nncc_images_t *s, size_t first, nncc_err_t *err);
int nncc_images_index(nncc_images_t *s, unsigned long long span, size_t points,
                      nncc_err_t *err);
void nncc_images_index_share(nncc_images_t *s, const nncc_images_t *src);
unsigned long long nncc_images_inflated(const nncc_images_t *s);
/* The label file of ds's ds->n images (the file `images`) into ds->labels
 * and ds->n_classes, checked as nncc_dataset_load checks it. */
int nncc_labels_load(nncc_dataset_t *ds, const char *labels, const char *images,
                     nncc_err_t *err);

/* ---- predict.c */

/* --predict: the network of --load's weights over o->predict's images, one
 * CSV row per image (docs/trainer.md#predict); returns the exit status. */
int nncc_predict_main(const nncc_model_t *m, const nncc_opts_t *o);

/* ---- plot.c */

/* "Nice" axis ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of
 * ten, at most max_ticks of them.  Writes the first tick, the step and the
 * count; the ticks span at least [lo, hi]. */
void nncc_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step,
                     int *count);
/* One curve of a chart: y against x (n points, x ascending; points with a
 * NaN are left out), named in the legend. */
typedef struct nncc_series {
	const char *label;
	const double *x, *y;
	size_t n;
} nncc_series_t;

/* An SVG line chart of n_series curves on one pair of axes, with a legend
 * when there is more than one. */
int nncc_plot_svg(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                  const nncc_series_t *series, size_t n_series);

#endif
