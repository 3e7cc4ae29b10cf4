/*
 * harness_main.c -- parsediff-bench: measures `parsediff diff`, the floor
 * and the peer workflow on one corpus and its archive, in one invocation.
 *
 *   parsediff-bench --corpus DIR [--db PATH] [--parsediff BIN] [--max-threads N]
 *                   [--repeat N] [--json] [--no-floor] [--no-phases] [--no-peer]
 *                   [--cold] [--work-dir DIR] [--keep]
 *
 * Steps, in order:
 *   1. warm-up: read every source byte and the archive once, so every run
 *      finds the same page cache (the first read is reported, not compared).
 *      With --cold, drop them from the page cache before each run instead;
 *   2. `parsediff diff --json` at 1..N threads and at 0 (inline), each a
 *      child process timed by wall clock with its peak RSS from wait4();
 *   3. one in-process diff through the engine API at N threads, timed per
 *      phase with the progress and after-snapshot callbacks;
 *   4. the floor (floor.h) at 1..N threads and at 0, each in a forked child;
 *   5. the peer workflow: `parsediff sync` into a fresh archive, then
 *      `sqldiff` between the two archives.
 * The process is single-threaded between steps, which the forks need.
 *
 * Exit codes: 0 when every run completed, 1 when some run failed (the table
 * names it), 2 usage error, 3 when the corpus, archive, work directory or
 * parsediff binary is unusable.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "bench/floor.h"
#include "bench/harness.h"
#include "bench/harness_proc.h"
#include "common/arena.h"
#include "common/json.h"
#include "common/text.h"
#include "engine/engine.h"
#include "report/report.h"

enum { EXIT_SOME_FAILED = 1, EXIT_USAGE = 2, EXIT_UNUSABLE = 3 };

typedef struct bench_options {
    const char *corpus;
    const char *db;
    const char *work_dir;
    char parsediff[4096];
    unsigned max_threads;
    int repeat;
    bool json;
    bool floor;
    bool phases;
    bool peer;
    bool keep;
    bool cold;
    const pd_floor_files *evict; /* --cold: dropped from the page cache before each run */
    char claude_root[4200];
    char codex_root[4200];
} bench_options;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void set_text(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* snprintf that may cut its output short; notes and labels are allowed to be truncated. */
static void set_text(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("parsediff-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nRun 'parsediff-bench --help' for usage.\n", stderr);
    return EXIT_USAGE;
}

static void usage(FILE *out)
{
    fputs(
        "Usage: parsediff-bench --corpus DIR [options]\n"
        "\n"
        "Measures parsediff diff, the floor (raw read + simdjson + SQLite scan) and the\n"
        "peer workflow (full sync into a fresh archive + sqldiff) on one corpus written\n"
        "by parsediff-gen and its synced archive. Prints numbers, not verdicts.\n"
        "\n"
        "  --corpus DIR        corpus root (DIR/claude, DIR/codex/sessions)\n"
        "  --db PATH           archive synced from the corpus (default DIR/archive.db)\n"
        "  --parsediff BIN     binary to measure (default: $PARSEDIFF_BIN, else the build tree's)\n"
        "  --max-threads N     measure 1..N threads and 0 (default: online CPUs)\n"
        "  --repeat N          run each diff and floor setting N times, report the fastest\n"
        "                      (default 1)\n"
        "  --json              print JSON instead of tables\n"
        "  --no-floor          skip the floor runs\n"
        "  --no-phases         skip the in-process diff timed per phase\n"
        "  --no-peer           skip the peer workflow\n"
        "  --cold              drop the transcripts and the archive from the page cache\n"
        "                      before each run (file data only; needs no root)\n"
        "  --work-dir DIR      where reports, logs and the peer archive go, created if\n"
        "                      absent (default: the corpus directory)\n"
        "  --keep              keep the peer archive and the run logs\n"
        "\n"
        "Exit codes: 0 every run completed; 1 some run failed (its row gives the reason); 2 usage\n"
        "error; 3 the corpus, the archive, the work directory or the parsediff binary is\n"
        "unusable, and nothing was measured.\n",
        out);
}

static bool parse_uint(const char *text, unsigned long max, unsigned long *out)
{
    if (text == NULL || text[0] == '\0' || text[0] == '-')
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

/* ---- machine and corpus ------------------------------------------------------ */

static void read_machine(bench_result *r)
{
    r->n_cpus = sysconf(_SC_NPROCESSORS_ONLN);
    set_text(r->cpu_model, sizeof r->cpu_model, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) != 0)
                continue;
            const char *colon = strchr(line, ':');
            if (colon == NULL)
                break;
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            set_text(r->cpu_model, sizeof r->cpu_model, "%s", colon);
            r->cpu_model[strcspn(r->cpu_model, "\n")] = '\0';
            break;
        }
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) == 0)
        set_text(r->kernel, sizeof r->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    r->simdjson_kernel = pd_json_kernel_name();
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(r->date, sizeof r->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double load_average(void)
{
    double load = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &load) != 1)
            load = -1.0;
        fclose(f);
    }
    return load;
}

/* Reads the profile and seed from DIR/parsediff-gen.json when it exists. */
static void read_manifest(bench_result *r, const char *corpus)
{
    r->seed = -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/parsediff-gen.json", corpus);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr,
                "parsediff-bench: warning: %s: %s; the profile and seed are reported as "
                "unknown (a corpus whose generator stopped early has no such file, so "
                "generate it again if that happened)\n",
                path, strerror(errno));
        return;
    }
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    pd_json_parser *p = pd_json_parser_new();
    pd_json root;
    if (p != NULL && pd_json_parse(p, text, n, &root) == PD_OK) {
        size_t len;
        const char *name = pd_json_str_or_empty(pd_json_get(root, "profile"), &len);
        set_text(r->profile, sizeof r->profile, "%.*s", (int)len, name);
        if (pd_json_exists(pd_json_get(root, "seed")))
            r->seed = (long long)pd_json_int(pd_json_get(root, "seed"));
    }
    pd_json_parser_free(p);
}

static int count_sessions(const char *db_path, int64_t *out, pd_err *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = PD_OK;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "SELECT count(*) FROM sessions", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW)
        rc = pd_err_set(err, PD_ESQLITE, "%s: cannot read the sessions table: %s", db_path,
                        db != NULL ? sqlite3_errmsg(db) : "out of memory");
    else
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

/* ---- diff as a child process --------------------------------------------------- */

static bench_run *new_run(bench_result *r, bench_kind kind, int threads)
{
    if (r->n_runs == BENCH_MAX_RUNS)
        return NULL;
    bench_run *run = &r->runs[r->n_runs++];
    memset(run, 0, sizeof *run);
    run->kind = kind;
    run->threads = threads;
    return run;
}

/* Copies the first line of a log file into note, for a failed run. */
static void first_line_of(const char *path, char *note, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[512];
    if (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        set_text(note, cap, "%s", line);
    }
    fclose(f);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *data = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            size_t new_cap = cap != 0 ? cap * 2 : 1 << 16;
            char *grown = realloc(data, new_cap);
            if (grown == NULL) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
            cap = new_cap;
        }
        size_t got = fread(data + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    *len = n;
    return data;
}

/*
 * Reads the totals of a diff report and its per-phase times: the runs pass
 * --timings, which adds a top-level "timings" object of milliseconds.
 */
static void read_diff_report(bench_run *run, const char *path)
{
    size_t len = 0;
    char *text = read_file(path, &len);
    if (text == NULL) {
        set_text(run->note, sizeof run->note, "%s: cannot read the report", path);
        run->ok = false;
        return;
    }
    pd_json_parser *p = pd_json_parser_new();
    pd_json root;
    if (p == NULL || pd_json_parse(p, text, len, &root) != PD_OK) {
        set_text(run->note, sizeof run->note, "%s: the report is not valid JSON", path);
        run->ok = false;
    } else {
        pd_json totals = pd_json_get(root, "totals");
        run->examined = pd_json_int(pd_json_get(totals, "examined"));
        run->identical = pd_json_int(pd_json_get(totals, "identical"));
        run->changed = pd_json_int(pd_json_get(totals, "changed"));
        run->pending_resync = pd_json_int(pd_json_get(totals, "pending_resync"));
        run->raced = pd_json_int(pd_json_get(totals, "raced"));
        run->parse_errors = pd_json_int(pd_json_get(totals, "parse_errors"));

        pd_json timings = pd_json_get(root, "timings");
        pd_json_iter it = pd_json_iter_begin(timings);
        pd_json key, val;
        while (pd_json_type_of(timings) == PD_JSON_OBJECT && run->n_phases < BENCH_MAX_PHASES &&
               pd_json_iter_next(&it, &key, &val)) {
            if (pd_json_type_of(val) != PD_JSON_NUMBER)
                continue;
            size_t n;
            const char *name = pd_json_str_or_empty(key, &n);
            bench_phase *ph = &run->phases[run->n_phases++];
            set_text(ph->name, sizeof ph->name, "%.*s", (int)n, name);
            ph->seconds = pd_json_float(val) / 1000.0;
        }
    }
    pd_json_parser_free(p);
    free(text);
}

/* With --cold, drops the corpus and the archive from the page cache before a run. */
static void before_run(const bench_options *o)
{
    if (o->evict != NULL)
        pd_floor_evict(o->evict, o->db);
}

/*
 * Fails a diff that compared no stored session of a non-empty archive: its
 * roots do not name the paths the archive was synced from, and its time
 * measures nothing.
 */
static void check_examined(bool *ok, char *note, size_t cap, int64_t examined, int64_t stored)
{
    if (!*ok || examined > 0 || stored == 0)
        return;
    *ok = false;
    set_text(note, cap,
             "examined none of the %lld stored sessions: the archive was synced from other "
             "paths than this corpus (sync it again with parsediff-gen sync)",
             (long long)stored);
}

static void run_diff(const bench_options *o, bench_result *r, unsigned threads)
{
    bench_run best = {0};
    for (int rep = 0; rep < o->repeat; rep++) {
        bench_run cur = {.kind = BENCH_DIFF, .threads = (int)threads};
        char threads_arg[16], out_path[4300], err_path[4300];
        snprintf(threads_arg, sizeof threads_arg, "%u", threads);
        snprintf(out_path, sizeof out_path, "%s/bench-diff-t%u.json", o->work_dir, threads);
        snprintf(err_path, sizeof err_path, "%s/bench-diff-t%u.log", o->work_dir, threads);
        char *args[] = {
            (char *)o->parsediff, "diff", "--db", (char *)o->db, "--source",
            (char *)o->claude_root, "--source", (char *)o->codex_root, "--json", "--timings",
            "--progress", "never", "--threads", threads_arg, NULL,
        };
        pd_proc_format_command(args, cur.command, sizeof cur.command);

        pd_proc_result res;
        pd_err err = {0};
        before_run(o);
        if (pd_proc_run(args, out_path, err_path, &res, &err) != PD_OK) {
            set_text(cur.note, sizeof cur.note, "%s", err.msg);
        } else {
            cur.exit_code = res.exit_code;
            cur.wall_seconds = res.wall_seconds;
            cur.user_seconds = res.user_seconds;
            cur.sys_seconds = res.sys_seconds;
            cur.max_rss_kb = res.max_rss_kb;
            /* Exit 1 is drift under --fail-on-change, which this run does not pass. */
            cur.ok = res.exit_code == 0 || res.exit_code == 1;
            if (cur.ok) {
                read_diff_report(&cur, out_path);
                check_examined(&cur.ok, cur.note, sizeof cur.note, cur.examined, r->n_sessions);
            } else {
                set_text(cur.note, sizeof cur.note, "exit %d, signal %d", res.exit_code,
                         res.term_signal);
                first_line_of(err_path, cur.note, sizeof cur.note);
            }
        }
        if (!o->keep) {
            unlink(out_path);
            unlink(err_path);
        }
        if (rep == 0 || (cur.ok && (!best.ok || cur.wall_seconds < best.wall_seconds)))
            best = cur;
    }
    bench_run *slot = new_run(r, BENCH_DIFF, (int)threads);
    if (slot != NULL)
        *slot = best;
}

/* ---- diff in process, per phase --------------------------------------------------- */

typedef struct phase_clock {
    double snapshot_at;
    double first_progress_at;
    double last_progress_at;
} phase_clock;

static void on_after_snapshot(void *ctx)
{
    ((phase_clock *)ctx)->snapshot_at = pd_proc_now();
}

static void on_progress(void *ctx, const pd_progress_info *info)
{
    (void)info;
    phase_clock *clock = ctx;
    double now = pd_proc_now();
    if (clock->first_progress_at == 0.0)
        clock->first_progress_at = now;
    clock->last_progress_at = now;
}

typedef struct phase_job {
    const bench_options *o;
    unsigned threads;
} phase_job;

/* Runs in a forked child: one diff through the engine API. */
static int measure_phases(void *ctx, void *result, size_t size)
{
    const phase_job *job = ctx;
    bench_engine_phases *out = result;
    (void)size;
    memset(out, 0, sizeof *out);
    pd_agent_root roots[2] = {
        {"claude", job->o->claude_root + strlen("claude=")},
        {"codex", job->o->codex_root + strlen("codex=")},
    };
    pd_engine_config cfg = {
        .db_path = job->o->db,
        .roots = roots,
        .n_roots = 2,
        .n_threads = job->threads,
    };
    phase_clock clock = {0};
    pd_diff_options opts = {
        .progress = on_progress,
        .progress_ctx = &clock,
        .after_snapshot = on_after_snapshot,
        .after_snapshot_ctx = &clock,
    };
    pd_engine *engine = NULL;
    pd_diff_report *report = NULL;
    pd_err err = {0};

    double start = pd_proc_now();
    int rc = pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &engine, &err);
    if (rc == PD_OK)
        rc = pd_engine_diff(engine, &opts, &report, &err);
    double diffed = pd_proc_now();
    if (rc == PD_OK) {
        FILE *sink = fopen("/dev/null", "w");
        if (sink != NULL) {
            pd_report_write_json(sink, report);
            fclose(sink);
        }
    }
    double rendered = pd_proc_now();

    if (rc == PD_OK) {
        out->ok = true;
        out->open_snapshot = clock.snapshot_at - start;
        out->setup = clock.first_progress_at - clock.snapshot_at;
        out->compare = clock.last_progress_at - clock.first_progress_at;
        out->finish = diffed - clock.last_progress_at;
        out->render_json = rendered - diffed;
        out->total = rendered - start;
        out->examined = report->totals.examined;
    } else {
        set_text(out->note, sizeof out->note, "%s", err.msg[0] != '\0' ? err.msg : pd_strerror(rc));
    }
    pd_diff_report_free(report);
    pd_engine_free(engine);
    return rc;
}

static void run_phases(const bench_options *o, bench_result *r)
{
    phase_job job = {.o = o, .threads = o->max_threads};
    bench_engine_phases got = {0};
    pd_proc_result res;
    pd_err err = {0};
    before_run(o);
    int rc = pd_proc_run_forked(measure_phases, &job, &got, sizeof got, &res, &err);
    r->engine = got;
    r->engine.measured = true;
    r->engine.threads = (int)o->max_threads;
    r->engine.max_rss_kb = res.max_rss_kb;
    if (rc != PD_OK && r->engine.note[0] == '\0')
        set_text(r->engine.note, sizeof r->engine.note, "%s", err.msg);
    r->engine.ok = rc == PD_OK && got.ok;
    check_examined(&r->engine.ok, r->engine.note, sizeof r->engine.note, got.examined,
                   r->n_sessions);
}

/* ---- floor ------------------------------------------------------------------------ */

typedef struct floor_job {
    const bench_options *o;
    unsigned threads;
} floor_job;

typedef struct floor_result {
    double walk, parse, scan;
    int64_t files, bytes, lines, invalid_lines, rows;
    char note[256];
} floor_result;

/* Runs in a forked child, so its peak RSS is the floor's alone. */
static int measure_floor(void *ctx, void *result, size_t size)
{
    const floor_job *job = ctx;
    floor_result *out = result;
    (void)size;
    memset(out, 0, sizeof *out);
    const char *roots[2] = {job->o->claude_root + strlen("claude="),
                            job->o->codex_root + strlen("codex=")};
    pd_floor_files files;
    pd_floor_parse_stats ps;
    pd_floor_scan_stats ss;
    pd_err err = {0};

    double start = pd_proc_now();
    int rc = pd_floor_walk(roots, 2, &files, &err);
    out->walk = pd_proc_now() - start;
    if (rc == PD_OK) {
        rc = pd_floor_parse(&files, job->threads, &ps, &err);
        pd_floor_files_free(&files);
    }
    if (rc == PD_OK)
        rc = pd_floor_scan(job->o->db, job->threads, &ss, &err);
    if (rc != PD_OK) {
        set_text(out->note, sizeof out->note, "%s", err.msg);
        return rc;
    }
    out->parse = ps.seconds;
    out->scan = ss.seconds;
    out->files = ps.files;
    out->bytes = ps.bytes;
    out->lines = ps.lines;
    out->invalid_lines = ps.invalid_lines;
    out->rows = ss.session_rows + ss.message_rows + ss.tool_call_rows;
    return PD_OK;
}

static void run_floor(const bench_options *o, bench_result *r, unsigned threads)
{
    bench_run best = {0};
    for (int rep = 0; rep < o->repeat; rep++) {
        bench_run cur = {.kind = BENCH_FLOOR, .threads = (int)threads};
        char count[32];
        if (threads == 0)
            snprintf(count, sizeof count, "inline");
        else
            snprintf(count, sizeof count, "%u thread%s", threads, threads == 1 ? "" : "s");
        snprintf(cur.command, sizeof cur.command,
                 "in process: walk, read + pd_json_parse every line, SELECT * of sessions, "
                 "messages, tool_calls; %s",
                 count);
        floor_job job = {.o = o, .threads = threads};
        floor_result got = {0};
        pd_proc_result res;
        pd_err err = {0};
        before_run(o);
        int rc = pd_proc_run_forked(measure_floor, &job, &got, sizeof got, &res, &err);
        cur.max_rss_kb = res.max_rss_kb;
        cur.user_seconds = res.user_seconds;
        cur.sys_seconds = res.sys_seconds;
        if (rc != PD_OK) {
            set_text(cur.note, sizeof cur.note, "%s", got.note[0] != '\0' ? got.note : err.msg);
        } else {
            cur.ok = true;
            cur.wall_seconds = got.walk + got.parse + got.scan;
            const char *names[3] = {"walk", "read_parse", "sqlite_scan"};
            double secs[3] = {got.walk, got.parse, got.scan};
            for (int i = 0; i < 3; i++) {
                snprintf(cur.phases[i].name, sizeof cur.phases[i].name, "%s", names[i]);
                cur.phases[i].seconds = secs[i];
            }
            cur.n_phases = 3;
            snprintf(cur.note, sizeof cur.note,
                     "%lld lines (%lld invalid), %lld stored rows", (long long)got.lines,
                     (long long)got.invalid_lines, (long long)got.rows);
        }
        if (rep == 0 || (cur.ok && (!best.ok || cur.wall_seconds < best.wall_seconds)))
            best = cur;
    }
    bench_run *slot = new_run(r, BENCH_FLOOR, (int)threads);
    if (slot != NULL)
        *slot = best;
}

/* ---- peer workflow ------------------------------------------------------------------- */

static void count_output(const char *path, bench_run *run)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return;
    char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        run->output_bytes += (int64_t)got;
        for (size_t i = 0; i < got; i++)
            run->output_lines += buf[i] == '\n';
    }
    fclose(f);
}

static void fill_from(bench_run *run, const pd_proc_result *res)
{
    run->exit_code = res->exit_code;
    run->wall_seconds = res->wall_seconds;
    run->user_seconds = res->user_seconds;
    run->sys_seconds = res->sys_seconds;
    run->max_rss_kb = res->max_rss_kb;
}

static void run_peer(const bench_options *o, bench_result *r)
{
    char peer_db[4300], sync_log[4300], sqldiff_out[4300], sqldiff_log[4300];
    snprintf(peer_db, sizeof peer_db, "%s/bench-peer-archive.db", o->work_dir);
    snprintf(sync_log, sizeof sync_log, "%s/bench-peer-sync.log", o->work_dir);
    snprintf(sqldiff_out, sizeof sqldiff_out, "%s/bench-peer-sqldiff.sql", o->work_dir);
    snprintf(sqldiff_log, sizeof sqldiff_log, "%s/bench-peer-sqldiff.log", o->work_dir);
    /* A fresh archive: remove what an earlier --keep run left. */
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s%s", peer_db, suffixes[i]);
        unlink(path);
    }

    bench_run *sync = new_run(r, BENCH_PEER_SYNC, (int)o->max_threads);
    bench_run *diff = new_run(r, BENCH_PEER_DIFF, -1);
    bench_run *total = new_run(r, BENCH_PEER_TOTAL, -1);
    if (sync == NULL || diff == NULL || total == NULL)
        return;
    before_run(o);

    char threads_arg[16];
    snprintf(threads_arg, sizeof threads_arg, "%u", o->max_threads);
    char *sync_args[] = {
        (char *)o->parsediff, "sync", "--db", peer_db, "--source", (char *)o->claude_root,
        "--source", (char *)o->codex_root, "--progress", "never", "--threads", threads_arg, NULL,
    };
    pd_proc_format_command(sync_args, sync->command, sizeof sync->command);
    pd_proc_result res;
    pd_err err = {0};
    if (pd_proc_run(sync_args, NULL, sync_log, &res, &err) != PD_OK) {
        set_text(sync->note, sizeof sync->note, "%s", err.msg);
    } else {
        fill_from(sync, &res);
        /* Exit 3 means some files failed to sync, so the peer archive is incomplete. */
        sync->ok = res.exit_code == 0;
        if (!sync->ok)
            first_line_of(sync_log, sync->note, sizeof sync->note);
    }

    char *sqldiff_args[] = {"sqldiff", (char *)o->db, peer_db, NULL};
    pd_proc_format_command(sqldiff_args, diff->command, sizeof diff->command);
    if (sync->ok) {
        pd_err_clear(&err);
        if (pd_proc_run(sqldiff_args, sqldiff_out, sqldiff_log, &res, &err) != PD_OK) {
            set_text(diff->note, sizeof diff->note, "%s (install the sqlite3-tools package)",
                     err.msg);
        } else {
            fill_from(diff, &res);
            diff->ok = res.exit_code == 0;
            if (diff->ok)
                count_output(sqldiff_out, diff);
            else if (res.exit_code == 127)
                snprintf(diff->note, sizeof diff->note,
                         "sqldiff not found (install the sqlite3-tools package)");
            else
                first_line_of(sqldiff_log, diff->note, sizeof diff->note);
        }
    } else {
        set_text(diff->note, sizeof diff->note, "not run: the peer sync failed");
    }

    total->ok = sync->ok && diff->ok;
    total->wall_seconds = sync->wall_seconds + diff->wall_seconds;
    total->user_seconds = sync->user_seconds + diff->user_seconds;
    total->sys_seconds = sync->sys_seconds + diff->sys_seconds;
    total->max_rss_kb = sync->max_rss_kb > diff->max_rss_kb ? sync->max_rss_kb : diff->max_rss_kb;
    set_text(total->command, sizeof total->command, "%s && %s", sync->command, diff->command);

    if (!o->keep) {
        for (size_t i = 0; i < 3; i++) {
            char path[4400];
            snprintf(path, sizeof path, "%s%s", peer_db, suffixes[i]);
            unlink(path);
        }
        unlink(sync_log);
        unlink(sqldiff_out);
        unlink(sqldiff_log);
    }
}

/* ---- main ------------------------------------------------------------------------------ */

static int parse_options(int argc, char **argv, bench_options *o)
{
    static const struct option options[] = {
        {"corpus", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"parsediff", required_argument, NULL, 'p'},
        {"max-threads", required_argument, NULL, 't'},
        {"repeat", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"no-floor", no_argument, NULL, 'F'},
        {"no-phases", no_argument, NULL, 'P'},
        {"no-peer", no_argument, NULL, 'E'},
        {"cold", no_argument, NULL, 'C'},
        {"work-dir", required_argument, NULL, 'w'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    unsigned long v;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->corpus = optarg;
            break;
        case 'd':
            o->db = optarg;
            break;
        case 'p':
            set_text(o->parsediff, sizeof o->parsediff, "%s", optarg);
            break;
        case 't':
            if (!parse_uint(optarg, 256, &v) || v == 0)
                return usage_error("--max-threads must be an integer from 1 to 256, got \"%s\"",
                                   optarg);
            o->max_threads = (unsigned)v;
            break;
        case 'r':
            if (!parse_uint(optarg, 100, &v) || v == 0)
                return usage_error("--repeat must be an integer from 1 to 100, got \"%s\"",
                                   optarg);
            o->repeat = (int)v;
            break;
        case 'j':
            o->json = true;
            break;
        case 'F':
            o->floor = false;
            break;
        case 'P':
            o->phases = false;
            break;
        case 'E':
            o->peer = false;
            break;
        case 'C':
            o->cold = true;
            break;
        case 'w':
            o->work_dir = optarg;
            break;
        case 'k':
            o->keep = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return usage_error("%s", "invalid option");
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (o->corpus == NULL)
        return usage_error("%s", "missing --corpus DIR");
    return 0;
}

/* Creates path and its missing parents, as mkdir -p does. Returns 0, or -1 with errno set. */
static int make_directories(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = n == 0 ? ENOENT : ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(buf, 0755);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    static bench_options o;
    static bench_result r;
    static char default_db[4200];
    /* Before any SQLite call: the floor and the in-process diff run in forks
     * of this process, and with SQLite's memory statistics on, their threads
     * would contend on one mutex that `parsediff diff` never takes. */
    pd_archive_global_init();
    o.repeat = 1;
    o.floor = o.phases = o.peer = true;
    pd_proc_default_parsediff(o.parsediff, sizeof o.parsediff);
    int prc = parse_options(argc, argv, &o);
    if (prc != 0)
        return prc < 0 ? 0 : prc;

    /*
     * Stored file paths are absolute, so the in-process diff and the floor
     * need absolute roots. They are made as the CLI makes them: joined to
     * the working directory and cleaned, with symbolic links kept.
     */
    static char corpus_abs[PATH_MAX];
    struct stat st;
    const char *reason = NULL;
    char cwd[PATH_MAX] = "";
    if (o.corpus[0] != '/' && getcwd(cwd, sizeof cwd) == NULL) {
        fprintf(stderr, "parsediff-bench: error: cannot resolve the relative path %s: %s\n",
                o.corpus, strerror(errno));
        return EXIT_UNUSABLE;
    }
    pd_arena *paths = pd_arena_new();
    char *joined = paths == NULL        ? NULL
                   : o.corpus[0] == '/' ? pd_arena_strdup(paths, o.corpus)
                                        : pd_arena_sprintf(paths, "%s/%s", cwd, o.corpus);
    char *clean = joined == NULL ? NULL : pd_path_clean(paths, joined, strlen(joined));
    if (clean == NULL || strlen(clean) >= sizeof corpus_abs)
        reason = "path too long or out of memory";
    else if (stat(clean, &st) != 0)
        reason = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        reason = "not a directory";
    if (reason == NULL)
        snprintf(corpus_abs, sizeof corpus_abs, "%s", clean);
    pd_arena_free(paths);
    if (reason != NULL) {
        fprintf(stderr,
                "parsediff-bench: error: corpus directory %s: %s (generate one with "
                "parsediff-gen --out %s)\n",
                o.corpus, reason, o.corpus);
        return EXIT_UNUSABLE;
    }
    o.corpus = corpus_abs;
    if (o.db == NULL) {
        snprintf(default_db, sizeof default_db, "%s/archive.db", o.corpus);
        o.db = default_db;
    }
    if (o.work_dir == NULL)
        o.work_dir = o.corpus;
    if (o.max_threads == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        o.max_threads = online > 0 ? (unsigned)online : 1;
    }
    set_text(o.claude_root, sizeof o.claude_root, "claude=%s/claude", o.corpus);
    set_text(o.codex_root, sizeof o.codex_root, "codex=%s/codex/sessions", o.corpus);

    read_machine(&r);
    pd_proc_format_command(argv, r.command, sizeof r.command);
    set_text(r.parsediff, sizeof r.parsediff, "%s", o.parsediff);
    set_text(r.corpus_dir, sizeof r.corpus_dir, "%s", o.corpus);
    set_text(r.db_path, sizeof r.db_path, "%s", o.db);
    r.repeat = o.repeat;
    read_manifest(&r, o.corpus);

    if (stat(o.db, &st) != 0) {
        fprintf(stderr,
                "parsediff-bench: error: archive not found: %s (sync the corpus first: "
                "parsediff-gen sync --corpus %s --db %s)\n",
                o.db, o.corpus, o.db);
        return EXIT_UNUSABLE;
    }
    r.db_bytes = (int64_t)st.st_size;
    if (!pd_proc_executable(o.parsediff)) {
        fprintf(stderr,
                "parsediff-bench: error: no executable parsediff at %s (build it with 'make "
                "build', or give its path with --parsediff or PARSEDIFF_BIN)\n",
                o.parsediff);
        return EXIT_UNUSABLE;
    }
    if (make_directories(o.work_dir) != 0) {
        fprintf(stderr, "parsediff-bench: error: cannot create the work directory %s: %s\n",
                o.work_dir, strerror(errno));
        return EXIT_UNUSABLE;
    }
    if (stat(o.work_dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(o.work_dir, W_OK) != 0) {
        fprintf(stderr,
                "parsediff-bench: error: the work directory %s is not a writable directory "
                "(give another with --work-dir)\n",
                o.work_dir);
        return EXIT_UNUSABLE;
    }
    pd_err err = {0};
    if (count_sessions(o.db, &r.n_sessions, &err) != PD_OK) {
        fprintf(stderr, "parsediff-bench: error: %s\n", err.msg);
        return EXIT_UNUSABLE;
    }

    r.load_start = load_average();

    /* Step 1: list and read every source once, so the page cache contains what fits. */
    const char *roots[2] = {o.claude_root + strlen("claude="), o.codex_root + strlen("codex=")};
    pd_floor_files files;
    if (pd_floor_walk(roots, 2, &files, &err) != PD_OK) {
        fprintf(stderr, "parsediff-bench: error: %s\n", err.msg);
        return EXIT_UNUSABLE;
    }
    r.n_files = (int64_t)files.n;
    r.n_bytes = files.total_bytes;
    if (files.n == 0) {
        fprintf(stderr,
                "parsediff-bench: error: no *.jsonl transcripts under %s or %s (write a corpus "
                "with parsediff-gen --out %s)\n",
                roots[0], roots[1], o.corpus);
        pd_floor_files_free(&files);
        return EXIT_UNUSABLE;
    }
    r.cold = o.cold;
    if (o.cold) {
        o.evict = &files;
    } else {
        double warm_start = pd_proc_now();
        for (size_t i = 0; i <= files.n; i++) {
            /* The archive last: the stored-row loads and the floor's scan read it too. */
            FILE *f = fopen(i < files.n ? files.paths[i] : o.db, "rb");
            static char sink[1 << 16];
            while (f != NULL && fread(sink, 1, sizeof sink, f) > 0) {
            }
            if (f != NULL)
                fclose(f);
        }
        r.warmup_seconds = pd_proc_now() - warm_start;
    }

    /* Steps 2-5. Progress goes to stderr so that stdout contains only the result. */
    for (unsigned t = 1; t <= o.max_threads; t++) {
        fprintf(stderr, "parsediff-bench: diff, %u thread%s\n", t, t == 1 ? "" : "s");
        run_diff(&o, &r, t);
    }
    fprintf(stderr, "parsediff-bench: diff, inline\n");
    run_diff(&o, &r, 0);
    if (o.phases) {
        fprintf(stderr, "parsediff-bench: in-process diff per phase, %u thread%s\n", o.max_threads,
                o.max_threads == 1 ? "" : "s");
        run_phases(&o, &r);
    }
    if (o.floor) {
        for (unsigned t = 1; t <= o.max_threads; t++) {
            fprintf(stderr, "parsediff-bench: floor, %u thread%s\n", t, t == 1 ? "" : "s");
            run_floor(&o, &r, t);
        }
        fprintf(stderr, "parsediff-bench: floor, inline\n");
        run_floor(&o, &r, 0);
    }
    if (o.peer) {
        fprintf(stderr, "parsediff-bench: peer workflow (sync + sqldiff)\n");
        run_peer(&o, &r);
    }

    r.load_end = load_average();
    o.evict = NULL;
    pd_floor_files_free(&files);
    if (o.json)
        bench_print_json(stdout, &r);
    else
        bench_print_text(stdout, &r);

    bool all_ok = true;
    for (size_t i = 0; i < r.n_runs; i++)
        all_ok = all_ok && r.runs[i].ok;
    if (r.engine.measured && !r.engine.ok)
        all_ok = false;
    if (fflush(stdout) != 0)
        return EXIT_UNUSABLE;
    return all_ok ? 0 : EXIT_SOME_FAILED;
}
