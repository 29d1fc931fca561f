/*
 * main.c - the nncc command line, and nothing else: parses options, loads
 * the model (model.c), asks emit.c for the trainer (or plan.c for its plan,
 * export.c for --infer) and writes the files atomically (temporary files in
 * the outputs' directories, renamed once all are written), so a failed run
 * leaves no output file and an existing one untouched.  An output that is
 * an input is refused; a device or FIFO (/dev/null) is written in place.
 * Also answers --cflags/--libs for the runtime next to this binary (a build
 * tree or an installed prefix).
 * Every error is "nncc: error: ..." on stderr and exit status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nncc.h"

/* Extra link flags of this build (the sanitizer flag for SAN=1 builds). */
#ifndef NNCC_LIB_EXTRA
#define NNCC_LIB_EXTRA ""
#endif

typedef enum Mode {
	MODE_COMPILE, MODE_CHECK, MODE_PLAN, MODE_CFLAGS, MODE_LIBS, MODE_VERSION, MODE_HELP
} Mode;

typedef struct Options {
	Mode mode;
	const char *input;         /* NET.yaml */
	const char *output;        /* NULL = default name, "-" = stdout */
	/* Inference export (nncc --infer). */
	bool infer;
	const char *weights;
	bool header_only;
	const char *quantize;      /* --quantize SCHEME (int8), or NULL */
	const char *calibrate;     /* --calibrate N as given, or NULL */
	size_t n_calibrate;
	bool no_float;
	bool mpi;                  /* --libs --mpi: the MPI runtime, libnncc_mpi.a */
	const char *data_dir;      /* --data DIR */
	const char *trainable;     /* --trainable MODE, or NULL */
	const char *command_line;  /* for the generated header comment */
} Options;

/* --calibrate's default: training images the ranges are measured on. */
#define DEFAULT_CALIBRATE 1000

static const char usage[] =
	"usage: nncc [options] NET.yaml\n"
	"\n"
	"Compiles a network described in YAML into one C file: a trainer (forward and\n"
	"backward passes, the optimizer's update) to build against the nncc runtime:\n"
	"  nncc net.yaml -o net.c\n"
	"  cc -O2 net.c $(nncc --cflags) $(nncc --libs) -o net && ./net --data DIR\n"
	"\n"
	"options:\n"
	"  -o FILE          output file, '-' = stdout (default: NET.c, or NET.h with\n"
	"                   --header-only, in the current directory)\n"
	"  --check          validate NET.yaml only, write nothing\n"
	"  --plan           print the trainer's plan (names, register tiles, work\n"
	"                   units, threads) instead of writing it\n"
	"  --infer          export inference C from trained weights: -o NAME.c writes\n"
	"                   NAME.c and NAME.h (needs --weights)\n"
	"  --weights FILE   weight file saved by the trainer's --save (with --infer)\n"
	"  --header-only    with --infer: everything in one header, -o NAME.h\n"
	"  --quantize int8  with --infer: int8 weights, uint8 activations, int32\n"
	"                   accumulators; prints the float and int8 test accuracy\n"
	"  --calibrate N    with --quantize: measure the activations' ranges on the\n"
	"                   first N training images (default 1000)\n"
	"  --data DIR       with --quantize: the data directory (default: the YAML's\n"
	"                   data.dir)\n"
	"  --no-float       with --quantize: no floating point at run time (only\n"
	"                   NAME_predict_u8 and NAME_logits_u8; no libm)\n"
	"  --trainable MODE with --infer: add NAME_train_step (on-device SGD or\n"
	"                   momentum; a batch form with -DNAME_TRAIN_BATCH)\n"
	"                   for MODE = all (every parameter), last (the last dense\n"
	"                   layer) or bias (every dense layer's bias); those live in\n"
	"                   RAM, the rest stays const\n"
	"  --cflags         print the compiler flags a generated file needs\n"
	"  --libs           print the linker flags a generated trainer needs\n"
	"  --mpi            with --cflags or --libs: for a data-parallel trainer on\n"
	"                   Open MPI (libnncc_mpi.a, from make MPI=1), built with\n"
	"                   mpicc (docs/scaling.md)\n"
	"  --version        print the version\n"
	"  --help           print this help\n";

/* Shell-quotes s when it needs it, so the command line reads back. */
static void put_arg(Buf *b, const char *s)
{
	bool plain = *s != 0;
	for (const char *p = s; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./=+:,@%-", *p))
			plain = false;
	if (plain) {
		buf_puts(b, s);
		return;
	}
	buf_puts(b, "'");
	for (const char *p = s; *p; p++)
		buf_puts(b, *p == '\'' ? "'\\''" : (char[]){*p, 0});
	buf_puts(b, "'");
}

/* "nncc ARGS...": argv[0] is left out (it may be an absolute path). */
static const char *command_line(Ctx *ctx, int argc, char **argv)
{
	Buf b;
	buf_init(&b);
	buf_puts(&b, "nncc");
	for (int i = 1; i < argc; i++) {
		buf_puts(&b, " ");
		put_arg(&b, argv[i]);
	}
	char *s = arena_strdup(ctx->arena, b.data);
	buf_fini(&b);
	return s;
}

/* --quantize and the options that go with it. */
static int check_quantize(Ctx *ctx, Options *o)
{
	const char *dep = o->calibrate ? "--calibrate" : o->data_dir ? "--data"
	                  : o->no_float ? "--no-float" : NULL;
	if (o->quantize && !o->infer) {
		diag_fatal(ctx, "--quantize needs --infer (it quantises an exported network)");
		return -1;
	}
	if (dep && !o->quantize) {
		diag_fatal(ctx, "%s needs --quantize int8", dep);
		return -1;
	}
	if (o->quantize && strcmp(o->quantize, "int8") != 0) {
		diag_fatal(ctx, "--quantize: unknown scheme '%s' (expected: int8)", o->quantize);
		return -1;
	}
	o->n_calibrate = DEFAULT_CALIBRATE;
	if (o->calibrate) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(o->calibrate, &end, 10);
		if (o->calibrate[0] < '0' || o->calibrate[0] > '9' || *end || errno || v == 0 ||
		    v > SIZE_MAX) {
			diag_fatal(ctx, "--calibrate: expected a number of training images >= 1, got '%s'",
			           o->calibrate);
			return -1;
		}
		o->n_calibrate = (size_t)v;
	}
	return 0;
}

/* The options that take a value: where it goes in Options. */
typedef struct Valued {
	const char *name;
	size_t offset;             /* of a const char * */
} Valued;

static const Valued *valued_find(const char *a)
{
	static const Valued valued[] = {
		{"-o", offsetof(Options, output)},         {"--weights", offsetof(Options, weights)},
		{"--quantize", offsetof(Options, quantize)}, {"--calibrate", offsetof(Options, calibrate)},
		{"--data", offsetof(Options, data_dir)},   {"--trainable", offsetof(Options, trainable)},
	};
	for (size_t k = 0; k < sizeof valued / sizeof valued[0]; k++)
		if (strcmp(a, valued[k].name) == 0)
			return &valued[k];
	return NULL;
}

/* Fills o from argv; -1 after a diagnostic. */
static int parse_args(Ctx *ctx, Options *o, int argc, char **argv)
{
	static const struct {
		const char *name;
		Mode mode;
	} modes[] = {
		{"--check", MODE_CHECK},     {"--plan", MODE_PLAN},     {"--cflags", MODE_CFLAGS},
		{"--libs", MODE_LIBS},       {"--version", MODE_VERSION}, {"--help", MODE_HELP},
		{"-h", MODE_HELP},
	};
	bool options_done = false;

	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const Valued *v;
		size_t k = 0;
		if (options_done || a[0] != '-' || strcmp(a, "-") == 0) {
			if (o->input) {
				diag_fatal(ctx, "more than one input file ('%s' and '%s')", o->input, a);
				return -1;
			}
			o->input = a;
			continue;
		}
		while (k < sizeof modes / sizeof modes[0] && strcmp(a, modes[k].name) != 0)
			k++;
		if (k < sizeof modes / sizeof modes[0]) {
			if (o->mode != MODE_COMPILE && o->mode != modes[k].mode) {
				diag_fatal(ctx, "%s cannot be combined with other modes", a);
				return -1;
			}
			o->mode = modes[k].mode;
		} else if (strcmp(a, "--") == 0) {
			options_done = true;
		} else if ((v = valued_find(a)) != NULL) {
			if (i + 1 >= argc) {
				diag_fatal(ctx, "%s needs an argument", a);
				return -1;
			}
			*(const char **)((char *)o + v->offset) = argv[++i];
		} else if (strcmp(a, "--no-float") == 0) {
			o->no_float = true;
		} else if (strcmp(a, "--mpi") == 0) {
			o->mpi = true;
		} else if (strncmp(a, "-o", 2) == 0) {
			o->output = a + 2;
		} else if (strcmp(a, "--infer") == 0) {
			o->infer = true;
		} else if (strcmp(a, "--header-only") == 0) {
			o->header_only = true;
		} else {
			diag_fatal(ctx, "unknown option '%s' (nncc --help lists them)", a);
			return -1;
		}
	}
	if (o->infer && o->mode == MODE_PLAN) {
		diag_fatal(ctx, "--plan is the trainer's plan: it cannot be combined with --infer");
		return -1;
	}
	if ((o->weights || o->header_only || o->trainable) && !o->infer) {
		diag_fatal(ctx, "%s needs --infer",
		           o->weights ? "--weights" : o->header_only ? "--header-only" : "--trainable");
		return -1;
	}
	if (o->trainable && export_train_mode(o->trainable) == TRAIN_NONE) {
		diag_fatal(ctx, "unknown --trainable mode '%s' (expected: all, last, bias)",
		           o->trainable);
		return -1;
	}
	if (o->mpi && o->mode != MODE_CFLAGS && o->mode != MODE_LIBS) {
		diag_fatal(ctx, "--mpi goes with --cflags or --libs (the generated C is the same "
		                "with or without MPI)");
		return -1;
	}
	if (check_quantize(ctx, o) < 0)
		return -1;
	if (o->trainable && o->quantize) {
		diag_fatal(ctx, "--trainable and --quantize cannot be combined: on-device training "
		                "runs in float (export twice for both)");
		return -1;
	}
	bool needs_input = o->mode == MODE_COMPILE || o->mode == MODE_CHECK || o->mode == MODE_PLAN;
	if (needs_input && !o->input) {
		diag_fatal(ctx, "no input file (usage: nncc [options] NET.yaml)");
		return -1;
	}
	if (!needs_input && o->input) {
		diag_fatal(ctx, "unexpected input file '%s' with %s", o->input,
		           o->mode == MODE_CFLAGS ? "--cflags" : o->mode == MODE_LIBS ? "--libs"
		                                               : o->mode == MODE_VERSION ? "--version"
		                                                                         : "--help");
		return -1;
	}
	o->command_line = command_line(ctx, argc, argv);
	return 0;
}

/* Where the runtime this binary belongs to is: its headers' directory and
 * its library, found from the binary's own path (so a tree moved as a whole,
 * or staged under DESTDIR, still works).  Two layouts:
 *   build tree  TOP/build/nncc   TOP/runtime/nncc.h   TOP/build/libnncc.a
 *   installed   PREFIX/bin/nncc  PREFIX/include/nncc/nncc.h  PREFIX/lib/libnncc.a */
static int locate_runtime(Ctx *ctx, const char **inc, const char **lib)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n < 0 || (size_t)n >= sizeof exe - 1) {
		diag_fatal(ctx, "cannot find this program's path (/proc/self/exe): %s",
		           n < 0 ? strerror(errno) : "too long");
		return -1;
	}
	exe[n] = 0;
	char *bin = arena_strdup(ctx->arena, exe);
	char *slash = strrchr(bin, '/');
	if (!slash || slash == bin)
		goto bad;
	*slash = 0;                  /* bin = TOP/build or PREFIX/bin */
	char *top = arena_strdup(ctx->arena, bin);
	slash = strrchr(top, '/');
	if (!slash)
		goto bad;
	*slash = 0;                  /* top = TOP or PREFIX ("" for the root) */
	struct {
		const char *inc, *lib;
	} at[] = {
		{arena_printf(ctx->arena, "%s/runtime", top),
		 arena_printf(ctx->arena, "%s/libnncc.a", bin)},
		{arena_printf(ctx->arena, "%s/include/nncc", top),
		 arena_printf(ctx->arena, "%s/lib/libnncc.a", top)},
	};
	for (size_t k = 0; k < sizeof at / sizeof at[0]; k++)
		if (access(arena_printf(ctx->arena, "%s/nncc.h", at[k].inc), R_OK) == 0 &&
		    access(at[k].lib, R_OK) == 0) {
			*inc = at[k].inc;
			*lib = at[k].lib;
			return 0;
		}
bad:
	diag_fatal(ctx, "cannot find the nncc runtime for %s (expected TOP/build/nncc next to "
	                "TOP/build/libnncc.a and TOP/runtime/nncc.h, or PREFIX/bin/nncc with "
	                "PREFIX/lib/libnncc.a and PREFIX/include/nncc/nncc.h)", exe);
	return -1;
}

/* The MPI runtime next to libnncc.a (lib): libnncc_mpi.a, which make MPI=1
 * builds (and installs). */
static int mpi_library(Ctx *ctx, const char **lib)
{
	const char *slash = strrchr(*lib, '/');
	const char *mpi = arena_printf(ctx->arena, "%.*s/libnncc_mpi.a", (int)(slash - *lib), *lib);
	if (access(mpi, R_OK) != 0) {
		diag_fatal(ctx, "no MPI runtime %s: build it with 'make MPI=1' (needs Open MPI's "
		                "mpicc: apt-get install libopenmpi-dev openmpi-bin)", mpi);
		return -1;
	}
	*lib = mpi;
	return 0;
}

/* "dir/net.yaml" -> "net" + ext (in the current directory). */
static const char *default_output(Ctx *ctx, const char *input, const char *ext)
{
	const char *base = strrchr(input, '/');
	base = base ? base + 1 : input;
	size_t n = strlen(base);
	static const char *const yaml_exts[] = {".yaml", ".yml"};
	for (size_t k = 0; k < 2; k++) {
		size_t e = strlen(yaml_exts[k]);
		if (n > e && strcmp(base + n - e, yaml_exts[k]) == 0) {
			n -= e;
			break;
		}
	}
	return arena_printf(ctx->arena, "%.*s%s", (int)n, base, ext);
}

/* One output file on its way: written to tmp, then renamed to path; or,
 * when path exists and is not a regular file (a device, a FIFO), written to
 * in place: renaming over /dev/full would replace the device. */
typedef struct Output {
	const char *path;          /* "-" = stdout */
	const Buf *text;
	char *tmp;                 /* mkstemp template, then the file until renamed */
	bool created;              /* tmp exists */
	bool in_place;
} Output;

/* Writes text to fd; 0 or the errno. */
static int write_all(int fd, const Buf *text)
{
	for (size_t done = 0; done < text->len;) {
		ssize_t w = write(fd, text->data + done, text->len - done);
		if (w < 0 && errno != EINTR)
			return errno;
		done += w > 0 ? (size_t)w : 0;
	}
	return 0;
}

/* Writes o->text to a new temporary file o->tmp (named beforehand). */
static int output_write_temp(Ctx *ctx, Output *o)
{
	int fd = mkstemp(o->tmp);
	if (fd < 0) {
		diag_fatal(ctx, "cannot write '%s': %s", o->path, strerror(errno));
		return -1;
	}
	o->created = true;
	/* mkstemp makes the file 0600; a generated source gets the usual mode. */
	mode_t mask = umask(0);
	umask(mask);
	int err = fchmod(fd, 0666 & ~mask) != 0 ? errno : 0;
	if (!err)
		err = write_all(fd, o->text);
	if (close(fd) != 0 && !err)
		err = errno;
	if (err) {
		diag_fatal(ctx, "cannot write '%s': %s", o->path, strerror(err));
		return -1;
	}
	return 0;
}

/* Writes o->text into the existing non-regular file o->path. */
static int output_write_in_place(Ctx *ctx, const Output *o)
{
	int fd = open(o->path, O_WRONLY | O_TRUNC);
	int err = fd < 0 ? errno : write_all(fd, o->text);
	if (fd >= 0 && close(fd) != 0 && !err)
		err = errno;
	if (err) {
		diag_fatal(ctx, "cannot write '%s': %s", o->path, strerror(err));
		return -1;
	}
	return 0;
}

/* True when a and b name the same existing file (through any path, symbolic
 * or hard link). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Refuses an output that is one of the inputs (the YAML, the weights) or
 * another output, or a directory; marks the outputs written in place and
 * names the temporary files of the others.  Before anything is written, so
 * that nothing needs undoing (not even after running out of memory). */
static int prepare_outputs(Ctx *ctx, const Options *o, Output *outs, size_t n)
{
	const char *inputs[] = {o->input, o->weights};
	const char *what[] = {"the network file", "the weight file"};
	for (size_t i = 0; i < n; i++) {
		if (strcmp(outs[i].path, "-") == 0)
			continue;
		for (size_t k = 0; k < 2; k++)
			if (inputs[k] && strcmp(inputs[k], "-") != 0 &&
			    same_file(outs[i].path, inputs[k])) {
				diag_fatal(ctx, "output '%s' is %s '%s': refusing to overwrite it "
				                "(name another output with -o)",
				           outs[i].path, what[k], inputs[k]);
				return -1;
			}
		for (size_t j = 0; j < i; j++)
			if (strcmp(outs[i].path, outs[j].path) == 0 ||
			    same_file(outs[i].path, outs[j].path)) {
				diag_fatal(ctx, "outputs '%s' and '%s' are the same file", outs[j].path,
				           outs[i].path);
				return -1;
			}
		struct stat st;
		if (stat(outs[i].path, &st) == 0 && S_ISDIR(st.st_mode)) {
			diag_fatal(ctx, "cannot write '%s': it is a directory", outs[i].path);
			return -1;
		}
		outs[i].in_place = stat(outs[i].path, &st) == 0 && !S_ISREG(st.st_mode);
		if (!outs[i].in_place) {
			const char *slash = strrchr(outs[i].path, '/');
			const char *dir = slash ? arena_strndup(ctx->arena, outs[i].path,
			                                        (size_t)(slash - outs[i].path + 1))
			                        : "";
			outs[i].tmp = arena_printf(ctx->arena, "%s.%s.XXXXXX", dir,
			                           slash ? slash + 1 : outs[i].path);
		}
	}
	return 0;
}

/* Writes every output, all or nothing: each goes to a temporary file in its
 * own directory first, and only when all are written are they renamed into
 * place (a rename within a directory is atomic).  "-" (stdout) and outputs
 * written in place come last, once the files are in place. */
static int write_outputs(Ctx *ctx, const Options *o, Output *outs, size_t n)
{
	if (prepare_outputs(ctx, o, outs, n) != 0)
		return -1;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		if (outs[i].tmp)
			rc = output_write_temp(ctx, &outs[i]);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!outs[i].created)
			continue;
		if (rename(outs[i].tmp, outs[i].path) != 0) {
			diag_fatal(ctx, "cannot write '%s': %s", outs[i].path, strerror(errno));
			rc = -1;
		} else {
			outs[i].created = false;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (outs[i].created)
			unlink(outs[i].tmp);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (outs[i].in_place)
			rc = output_write_in_place(ctx, &outs[i]);
	for (size_t i = 0; i < n && rc == 0; i++)
		if (strcmp(outs[i].path, "-") == 0 &&
		    (fwrite(outs[i].text->data, 1, outs[i].text->len, stdout) != outs[i].text->len ||
		     fflush(stdout) != 0)) {
			diag_fatal(ctx, "cannot write to stdout: %s", strerror(errno));
			rc = -1;
		}
	return rc;
}

static int write_trainer(Ctx *ctx, const Options *o, const Model *m)
{
	EmitOptions eo = {.command_line = o->command_line, .test_accuracy = NAN};
	Buf c;
	buf_init(&c);
	int rc = emit_trainer(ctx, m, &eo, &c);
	if (rc == 0) {
		Output out = {.path = o->output ? o->output : default_output(ctx, o->input, ".c"),
		              .text = &c};
		rc = write_outputs(ctx, o, &out, 1);
	}
	buf_fini(&c);
	return rc;
}

/* --infer: NAME.c and NAME.h from -o NAME.c, or one header (--header-only). */
static int write_infer(Ctx *ctx, const Options *o, const Model *m)
{
	const char *out = o->output ? o->output
	                            : default_output(ctx, o->input, o->header_only ? ".h" : ".c");
	const char *h_path = out;
	if (!o->header_only && strcmp(out, "-") == 0) {
		diag_fatal(ctx, "--infer writes two files: -o must name the .c file, not stdout "
		                "(or add --header-only)");
		return -1;
	}
	if (!o->header_only) {
		size_t n = strlen(out);
		if (n < 3 || strcmp(out + n - 2, ".c") != 0) {
			diag_fatal(ctx, "--infer: -o '%s' must end in .c (the header is named after it)",
			           out);
			return -1;
		}
		h_path = arena_printf(ctx->arena, "%.*s.h", (int)(n - 2), out);
	}
	const char *slash = strrchr(h_path, '/');
	const char *h_name = slash ? slash + 1 : h_path;
	/* The .c file says #include "NAME.h": no escape can spell a quote there,
	 * and a quote, backslash or comment start in it is undefined behaviour
	 * (C11 6.4.7). */
	if (!o->header_only) {
		const char *bad = NULL;
		for (const char *q = h_name; *q && !bad; q++)
			if (*q == '"' || *q == '\\' || *q == '\'' || (unsigned char)*q < 0x20 ||
			    (unsigned char)*q >= 0x7f || (q[0] == '/' && (q[1] == '/' || q[1] == '*')))
				bad = q;
		if (bad) {
			diag_fatal(ctx, "--infer: the header name '%s' cannot be written in "
			                "#include \"...\" (it holds '%c'): choose another -o",
			           h_name, (unsigned char)*bad >= 0x20 && (unsigned char)*bad < 0x7f
			                           ? *bad : '?');
			return -1;
		}
	}
	EmitOptions eo = {
		.command_line = o->command_line,
		.weights_path = o->weights,
		.test_accuracy = NAN,
		.header_only = o->header_only,
		.header_name = h_name,
		.quantize = o->quantize != NULL,
		.calibrate = o->n_calibrate,
		.no_float = o->no_float,
		.data_dir = o->data_dir,
		.trainable = o->trainable ? export_train_mode(o->trainable) : TRAIN_NONE,
	};
	Buf h, c, report;
	buf_init(&h);
	buf_init(&c);
	buf_init(&report);
	eo.report = &report;
	int rc = export_infer(ctx, m, &eo, &h, &c);
	if (rc == 0) {
		Output outs[2] = {{.path = h_path, .text = &h}, {.path = out, .text = &c}};
		rc = write_outputs(ctx, o, outs, o->header_only ? 1 : 2);
	}
	/* The measurements go to stdout, or to stderr when the code does. */
	if (rc == 0 && report.len)
		fputs(report.data, strcmp(out, "-") == 0 ? stderr : stdout);
	buf_fini(&h);
	buf_fini(&c);
	buf_fini(&report);
	return rc;
}

static int compile(Ctx *ctx, const Options *o)
{
	const Model *m = model_load(ctx, o->input);
	if (!m)
		return -1;
	if (o->mode == MODE_CHECK)
		return 0;
	if (o->mode == MODE_PLAN) {
		const Plan *p = plan_build(ctx, m);
		if (!p)
			return -1;
		Buf b;
		buf_init(&b);
		plan_print(p, &b);
		fputs(b.data, stdout);
		buf_fini(&b);
		return fflush(stdout) == 0 ? 0 : -1;
	}
	return o->infer ? write_infer(ctx, o, m) : write_trainer(ctx, o, m);
}

static int run(Ctx *ctx, int argc, char **argv)
{
	Options o;
	const char *inc, *lib;

	if (parse_args(ctx, &o, argc, argv) != 0)
		return -1;
	switch (o.mode) {
	case MODE_HELP:
		fputs(usage, stdout);
		return 0;
	case MODE_VERSION:
		printf("nncc %s\n", NNCC_VERSION);
		return 0;
	case MODE_CFLAGS:
		if (locate_runtime(ctx, &inc, &lib) != 0)
			return -1;
		/* -ffp-contract=off: the generated code spells every multiply-add as an
		 * explicit FMA and must not get others.  No -march: a trainer built
		 * without one picks its kernels (AVX-512, AVX2, FMA or portable) at
		 * run time; -march=native is optional (docs/kernels.md). */
		printf("-I%s -ffp-contract=off\n", inc);
		return 0;
	case MODE_LIBS:
		if (locate_runtime(ctx, &inc, &lib) != 0)
			return -1;
		if (o.mpi && mpi_library(ctx, &lib) != 0)
			return -1;
		printf("%s -lcsv -lz -lm -lpthread%s%s\n", lib, *NNCC_LIB_EXTRA ? " " : "",
		       NNCC_LIB_EXTRA);
		return 0;
	case MODE_COMPILE:
	case MODE_CHECK:
	case MODE_PLAN:
		return compile(ctx, &o);
	}
	NNCC_UNREACHABLE();
}

int main(int argc, char **argv)
{
	Ctx ctx;
	ctx_init(&ctx, stderr);
	int rc = run(&ctx, argc, argv);
	if (rc == 0 && fflush(stdout) != 0) {
		diag_fatal(&ctx, "cannot write to stdout: %s", strerror(errno));
		rc = -1;
	}
	diag_summary(&ctx);
	ctx_fini(&ctx);
	return rc == 0 ? 0 : 1;
}
