/*
 * harness_proc.h -- runs a measured child process: a program (fork + exec)
 * or a function in a forked copy of this process, and returns its wall
 * time, CPU time and peak resident set size.
 *
 * Peak RSS comes from wait4()'s rusage (ru_maxrss, in KiB on Linux), so
 * each measurement is of one child alone, not of the harness.
 *
 * Thread-safety: call from a single-threaded process (fork copies only the
 * calling thread, so a fork while other threads hold locks is unsafe).
 */
#ifndef PD_HARNESS_PROC_H
#define PD_HARNESS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct pd_proc_result {
    int exit_code;   /* the child's exit status, or -1 when a signal ended it */
    int term_signal; /* the signal that ended it, else 0 */
    double wall_seconds;
    double user_seconds;
    double sys_seconds;
    int64_t max_rss_kb;
} pd_proc_result;

/*
 * Runs argv[0] (searched in PATH) with argv, stdout redirected to
 * stdout_path and stderr to stderr_path (NULL keeps the harness's own).
 * Returns PD_OK once the child has ended, whatever its exit status (see
 * out->exit_code); PD_EIO when it could not be started or a redirect target
 * could not be opened (err says which).
 */
int pd_proc_run(char *const argv[], const char *stdout_path, const char *stderr_path,
                pd_proc_result *out, pd_err *err);

/*
 * Runs fn(ctx, result, size) in a forked child and copies the size bytes
 * fn wrote to result back to the parent. fn's return value (an error code)
 * is returned; err gets "child failed" when the child ended without
 * reporting. res gets the child's times and peak RSS.
 */
typedef int (*pd_proc_fn)(void *ctx, void *result, size_t size);
int pd_proc_run_forked(pd_proc_fn fn, void *ctx, void *result, size_t size, pd_proc_result *res,
                       pd_err *err);

/* Writes argv joined by spaces into out (truncated to cap - 1 bytes). */
void pd_proc_format_command(char *const argv[], char *out, size_t cap);

/*
 * Picks the parsediff binary to measure: $PARSEDIFF_BIN when set, else
 * "parsediff" next to or one directory above this executable (the build
 * tree puts benchmark programs in bench/), else plain "parsediff" from
 * PATH. Writes the choice into out.
 */
void pd_proc_default_parsediff(char *out, size_t cap);

/*
 * Returns true when name can be started: a path (with a '/') to an
 * executable regular file, or a bare name of such a file in a PATH directory.
 */
bool pd_proc_executable(const char *name);

/* Seconds on the monotonic clock. */
double pd_proc_now(void);

#endif
