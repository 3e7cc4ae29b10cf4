/*
 * harness.h -- the results of one parsediff-bench invocation, shared by the
 * measuring code (harness_main.c) and the text and JSON writers
 * (harness_report.c).
 *
 * Thread-safety: filled and printed by the harness's main thread only.
 */
#ifndef PD_HARNESS_H
#define PD_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { BENCH_MAX_RUNS = 160, BENCH_MAX_PHASES = 12 };

typedef enum bench_kind {
    BENCH_DIFF,       /* parsediff diff --json as a child process */
    BENCH_FLOOR,      /* floor.h phases in a forked child */
    BENCH_PEER_SYNC,  /* parsediff sync into a fresh archive */
    BENCH_PEER_DIFF,  /* sqldiff between the two archives */
    BENCH_PEER_TOTAL, /* the two above, added */
} bench_kind;

/* One named phase time, in seconds. */
typedef struct bench_phase {
    char name[32];
    double seconds;
} bench_phase;

typedef struct bench_run {
    bench_kind kind;
    int threads; /* -1 where the run has no thread setting */
    bool ok;
    char note[256]; /* why the run failed, or a detail worth printing */
    int exit_code;
    double wall_seconds;
    double user_seconds;
    double sys_seconds;
    int64_t max_rss_kb;
    /* Diff runs: totals from the report. */
    int64_t examined;
    int64_t identical;
    int64_t changed;
    int64_t pending_resync;
    int64_t raced;
    int64_t parse_errors;
    /* Phase times: the floor's own, or those a diff report carries in "timings". */
    bench_phase phases[BENCH_MAX_PHASES];
    size_t n_phases;
    /* Peer diff: size of sqldiff's output. */
    int64_t output_bytes;
    int64_t output_lines;
    char command[2048];
} bench_run;

/* Phase times of one in-process diff through the engine API, in seconds. */
typedef struct bench_engine_phases {
    bool measured;
    bool ok;
    char note[256];
    int threads;
    double open_snapshot; /* engine created, archive opened, sessions snapshot read */
    double setup;         /* providers' shared state and the worker pool */
    double compare;       /* discovery, read, parse, stored rows, compare, collect */
    double finish;        /* sweeps and report finish, after the last result */
    double render_json;   /* pd_report_write_json to /dev/null */
    double total;
    int64_t max_rss_kb;
    int64_t examined;
} bench_engine_phases;

typedef struct bench_result {
    /* Machine. */
    long n_cpus;
    char cpu_model[128];
    char kernel[128];
    const char *simdjson_kernel;
    char date[32]; /* UTC, RFC 3339 */
    /* 1-minute load average before the first run and after the last; other
     * processes on the machine inflate wall times but not user/sys times. */
    double load_start;
    double load_end;
    /* What was measured. */
    char command[4096];
    char parsediff[4096];
    char corpus_dir[4096];
    char profile[32]; /* from parsediff-gen.json; "" when unknown */
    long long seed;   /* -1 when unknown */
    char db_path[4096];
    int64_t db_bytes;
    int64_t n_files;
    int64_t n_bytes;
    int64_t n_sessions; /* rows of the sessions table */
    double warmup_seconds;
    bool cold; /* --cold: the page cache was dropped before each run, with no warm-up */
    int repeat;
    bench_run runs[BENCH_MAX_RUNS];
    size_t n_runs;
    bench_engine_phases engine;
} bench_result;

/* Writes the result as aligned text tables. */
void bench_print_text(FILE *out, const bench_result *r);
/* Writes the result as one JSON object followed by a newline. */
void bench_print_json(FILE *out, const bench_result *r);

/* The run of kind with this thread count, or NULL. */
const bench_run *bench_find(const bench_result *r, bench_kind kind, int threads);
/* "diff", "floor", "peer sync", "sqldiff", "peer total". */
const char *bench_kind_name(bench_kind kind);

#endif
