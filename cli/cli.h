/*
 * cli.h -- declarations shared by the command-line files. cli/ is the only
 * part of parsediff that prints to stdout/stderr or exits.
 */
#ifndef PD_CLI_H
#define PD_CLI_H

#include <getopt.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/engine.h"

/* Exit codes. */
enum {
    PD_EXIT_OK = 0,
    PD_EXIT_DRIFT = 1,         /* --fail-on-change found drift, parse errors or a vacuous run */
    PD_EXIT_USAGE = 2,         /* bad command line */
    PD_EXIT_RUNTIME = 3,       /* archive unreadable, I/O failure, a file that failed */
    PD_EXIT_INTERRUPTED = 130, /* 128 + SIGINT; SIGTERM gives 143 */
};

/* Set by the SIGINT and SIGTERM handler; engines poll it. */
extern atomic_bool pd_cli_cancel;
void pd_cli_install_signals(void);
/* 128 + the signal that cancelled the run: 130 for SIGINT, 143 for SIGTERM. */
int pd_cli_interrupted_exit_code(void);
/* "interrupted by SIGINT" or "stopped by SIGTERM", after the signal that cancelled the run. */
const char *pd_cli_stop_reason(void);

/*
 * Copies s (or "?" for NULL) into buf, cut to cap bytes, with its control
 * characters replaced by '?', and returns buf: a file name to print on stderr.
 */
const char *pd_cli_scrubbed(char *buf, size_t cap, const char *s);

/*
 * Warns that n Codex rollouts, such as path (already scrubbed), were not
 * read because an earlier rollout has the same session UUID.
 */
void pd_cli_warn_shadowed(int64_t n, const char *path);
/* Progress callback of sync and diff: draws info on the pd_progress bar given as ctx. */
void pd_cli_show_progress(void *bar, const pd_progress_info *info);

/* Prints "parsediff: error: ..." to stderr. */
void pd_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error plus a hint to run --help; returns PD_EXIT_USAGE. */
int pd_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * Reports the unknown option arg as a usage error, naming the closest long
 * option when it is a near miss (two edits or fewer). Returns PD_EXIT_USAGE.
 */
int pd_cli_unknown_option(const char *command, const char *arg, const struct option *longopts);
/*
 * Reports what getopt_long() just returned ':' or '?' for (what), naming the
 * option as the user wrote it: "-x" for a short option, even inside a group
 * such as "-xyz", or the long option. Returns PD_EXIT_USAGE.
 */
int pd_cli_bad_option(const char *command, int what, char *const argv[],
                      const struct option *longopts);

/* Source roots and archive path shared by sync and diff. */
typedef struct pd_cli_sources {
    pd_agent_root roots[64];
    size_t n_roots;
    char *owned[64]; /* strings to free */
    size_t n_owned;
    const char *db_path;
    char *db_owned;
} pd_cli_sources;

/* Adds "AGENT=DIR" from --source; returns false with a message on stderr when invalid. */
bool pd_cli_sources_add(pd_cli_sources *s, const char *command, const char *spec);
/* Drops roots that repeat the directory of another root of the same agent (with a warning),
 * fills the default roots and archive path from the environment where none were given, and
 * expands a leading "~/" of the archive path. */
bool pd_cli_sources_defaults(pd_cli_sources *s);
/* False, with a usage error naming the path, when the archive path db
 * ends in "/", "." or "..", so that it can only name a directory. */
bool pd_cli_db_is_file_path(const char *command, const char *db);
void pd_cli_sources_free(pd_cli_sources *s);
/*
 * Returns path as an absolute, lexically cleaned path in a new malloc'd
 * string and frees path, or prints the reason and returns NULL. Symbolic
 * links stay as given.
 */
char *pd_cli_absolute_path(char *path);

/*
 * Creates the missing directories above path (like mkdir -p on its dirname).
 * Returns false after printing an error that names the directory.
 */
bool pd_cli_make_parent_dirs(const char *path);

/* Parses a non-negative integer option; false on junk or overflow. */
bool pd_cli_parse_count(const char *text, long long *out);

int pd_cmd_parse(int argc, char **argv);
int pd_cmd_sync(int argc, char **argv);
int pd_cmd_diff(int argc, char **argv);

#endif
