/*
 * output.c - output files written whole or not at all, and the signals that
 * stop a run (docs/trainer.md#what-a-failed-run-leaves, #ctrl-c-and-sigterm).
 *
 * An output goes to PATH.tmp.XXXXXX in PATH's directory (mkstemp), and
 * only once it is complete (flushed, mode 0644, fsync'd, closed) is it
 * renamed over PATH, which until then keeps what it held; on failure the
 * temporary file is removed.  Weight files (weights.c), the --log CSV and
 * the --plot SVG (driver.c) are all written this way.
 *
 * SIGINT and SIGTERM, while caught: the first sets a flag that the
 * training loop polls (it stops after the update under way, writes --save's
 * checkpoint and exits with 128 + the signal's number); a second one
 * removes the temporary files that exist and _exit()s at once.  The
 * handler only reads a flag, unlinks and writes (async-signal-safe); the
 * temporary files are listed for it here, each added and removed with the
 * signals blocked, so that it never sees half of an update.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckd.h"
#include "driver.h"

#define TMP_SUFFIX ".tmp.XXXXXX"
#define MAX_LIVE 8         /* temporary files at once: the log, the plot, a weight file */
#define EXIT_SIGNAL 128    /* + the signal's number, as a shell reports it */

/* ---- signals ------------------------------------------------------------ */

static const int caught[] = {SIGINT, SIGTERM};
#define N_CAUGHT (sizeof caught / sizeof caught[0])

static volatile sig_atomic_t first_signal;    /* 0, or the first one's number */
static char *volatile live[MAX_LIVE];         /* the temporary files that exist */
static struct sigaction previous[N_CAUGHT];
static int catching;
static char again_msg[160];                   /* "NAME: interrupted again..." */
static size_t again_len;

static void on_signal(int sig)
{
	if (!first_signal) {
		first_signal = sig;
		return;
	}
	for (size_t i = 0; i < MAX_LIVE; i++) {
		char *tmp = live[i];
		if (tmp)
			unlink(tmp);
	}
	if (again_len && write(STDERR_FILENO, again_msg, again_len) < 0)
		again_len = 0;
	_exit(EXIT_SIGNAL + sig);
}

/* Blocks (block 1) the caught signals in the calling thread, or restores
 * the mask *old that blocking saved. */
static void mask(int block, sigset_t *old)
{
	sigset_t set;
	if (!block) {
		pthread_sigmask(SIG_SETMASK, old, NULL);
		return;
	}
	sigemptyset(&set);
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaddset(&set, caught[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

void nncc_signals_catch(const char *name)
{
	struct sigaction sa;
	int n;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaddset(&sa.sa_mask, caught[i]);
	n = snprintf(again_msg, sizeof again_msg, "\n%s: interrupted again: stopped at once, "
	             "nothing more written\n", name);
	again_len = n > 0 && (size_t)n < sizeof again_msg ? (size_t)n : 0;
	first_signal = 0;
	for (size_t i = 0; i < N_CAUGHT; i++) {
		/* A signal ignored when the program started (nohup, a
		 * background job) stays ignored. */
		if (sigaction(caught[i], NULL, &previous[i]) == 0 && previous[i].sa_handler != SIG_IGN)
			sigaction(caught[i], &sa, NULL);
	}
	catching = 1;
}

void nncc_signals_release(void)
{
	if (!catching)
		return;
	for (size_t i = 0; i < N_CAUGHT; i++)
		sigaction(caught[i], &previous[i], NULL);
	catching = 0;
	first_signal = 0;
}

int nncc_signal_pending(void)
{
	return first_signal;
}

const char *nncc_signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

int nncc_signal_status(int sig)
{
	return EXIT_SIGNAL + sig;
}

void nncc_signals_hold(int hold)
{
	static sigset_t old;
	mask(hold, &old);
}

/* ---- output files ------------------------------------------------------- */

/* Lists tmp for the handler (the signals blocked around it); -1 when the
 * list is full (the file is then only not removed by a second signal). */
static int live_add(char *tmp)
{
	for (int i = 0; i < MAX_LIVE; i++)
		if (!live[i]) {
			live[i] = tmp;
			return i;
		}
	return -1;
}

/* Best effort: makes a rename durable by syncing the directory that holds
 * path.  Failure is ignored: the new file is complete either way. */
static void sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;
	int fd;

	if (!slash) {
		fd = open(".", O_RDONLY);
	} else {
		size_t n = slash == path ? 1 : (size_t)(slash - path);
		d = malloc(n + 1);
		if (!d)
			return;
		memcpy(d, path, n);
		d[n] = 0;
		fd = open(d, O_RDONLY);
		free(d);
	}
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int nncc_outfile_open(nncc_outfile_t *o, const char *path, const char *what, nncc_err_t *err)
{
	size_t plen = strlen(path), n;
	sigset_t old;
	int fd, e;

	memset(o, 0, sizeof *o);
	o->path = path;
	o->what = what;
	o->slot = -1;
	if (!ckd_add_size(&n, plen, sizeof TMP_SUFFIX) || !(o->tmp = malloc(n))) {
		nncc_err_set(err, "%s %s: out of memory", what, path);
		return -1;
	}
	memcpy(o->tmp, path, plen);
	memcpy(o->tmp + plen, TMP_SUFFIX, sizeof TMP_SUFFIX);
	mask(1, &old);
	fd = mkstemp(o->tmp);
	e = errno;
	if (fd >= 0)
		o->slot = live_add(o->tmp);
	mask(0, &old);
	if (fd < 0) {
		nncc_err_set(err, "%s %s: cannot create %s: %s", what, path, o->tmp, strerror(e));
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	o->f = fdopen(fd, "wb");
	if (!o->f) {
		nncc_err_set(err, "%s %s: %s: %s", what, path, o->tmp, strerror(errno));
		close(fd);
		nncc_outfile_abort(o);
		return -1;
	}
	return 0;
}

int nncc_outfile_finish(nncc_outfile_t *o, nncc_err_t *err)
{
	int fd, bad;

	if (!o->f)
		return 0;
	errno = 0;
	fd = fileno(o->f);
	bad = fflush(o->f) != 0 || ferror(o->f);
	if (bad) {
		nncc_err_set(err, "%s %s: write to %s failed: %s", o->what, o->path, o->tmp,
		             errno ? strerror(errno) : "write error");
	} else if (fchmod(fd, 0644) < 0 || fsync(fd) < 0) {   /* mkstemp creates 0600 */
		nncc_err_set(err, "%s %s: %s: %s", o->what, o->path, o->tmp, strerror(errno));
		bad = 1;
	}
	if (fclose(o->f) != 0 && !bad) {
		nncc_err_set(err, "%s %s: closing %s: %s", o->what, o->path, o->tmp, strerror(errno));
		bad = 1;
	}
	o->f = NULL;
	if (bad) {
		nncc_outfile_abort(o);
		return -1;
	}
	return 0;
}

int nncc_outfile_commit(nncc_outfile_t *o, nncc_err_t *err)
{
	sigset_t old;
	int rc, e;

	if (!o->tmp)
		return 0;
	if (nncc_outfile_finish(o, err) < 0)
		return -1;
	mask(1, &old);
	rc = rename(o->tmp, o->path);
	e = errno;
	if (rc == 0 && o->slot >= 0)
		live[o->slot] = NULL;
	mask(0, &old);
	if (rc < 0) {
		nncc_err_set(err, "%s %s: rename from %s: %s", o->what, o->path, o->tmp, strerror(e));
		nncc_outfile_abort(o);
		return -1;
	}
	sync_dir(o->path);
	free(o->tmp);
	o->tmp = NULL;
	return 0;
}

void nncc_outfile_abort(nncc_outfile_t *o)
{
	sigset_t old;

	if (o->f)
		fclose(o->f);
	o->f = NULL;
	if (!o->tmp)
		return;
	mask(1, &old);
	unlink(o->tmp);
	if (o->slot >= 0)
		live[o->slot] = NULL;
	mask(0, &old);
	free(o->tmp);
	o->tmp = NULL;
}

int nncc_write_whole(const char *path, const char *what, const void *buf, size_t len,
                     nncc_err_t *err)
{
	nncc_outfile_t o;
	if (nncc_outfile_open(&o, path, what, err) < 0)
		return -1;
	if (len && fwrite(buf, 1, len, o.f) != len) {
		nncc_err_set(err, "%s %s: write to %s failed: %s", what, path, o.tmp, strerror(errno));
		nncc_outfile_abort(&o);
		return -1;
	}
	return nncc_outfile_commit(&o, err);
}
