/*
 * harness_report.c -- prints a bench_result as text tables or as JSON.
 *
 * Entry points: bench_print_text(), bench_print_json(), bench_find(),
 * bench_kind_name(); main thread only.
 *
 * Derived numbers: sessions/s divides the stored session count by the wall
 * time, MB/s divides the transcript bytes (10^6 bytes per MB) by it. Peak
 * RSS is in MiB (2^20 bytes). Ratios
 * compare wall times: diff over floor at the same thread count, the peer
 * workflow over diff at the highest thread count, and diff at 1 thread over
 * diff at t threads (the speed-up). A ratio whose inputs failed is absent.
 */
#include <stdlib.h>
#include <string.h>

#include "bench/harness.h"
#include "common/error.h"
#include "common/json.h"

const char *bench_kind_name(bench_kind kind)
{
    switch (kind) {
    case BENCH_DIFF:
        return "diff";
    case BENCH_FLOOR:
        return "floor";
    case BENCH_PEER_SYNC:
        return "peer sync";
    case BENCH_PEER_DIFF:
        return "sqldiff";
    case BENCH_PEER_TOTAL:
        return "peer total";
    }
    return "?";
}

const bench_run *bench_find(const bench_result *r, bench_kind kind, int threads)
{
    for (size_t i = 0; i < r->n_runs; i++)
        if (r->runs[i].kind == kind && (threads < -1 || r->runs[i].threads == threads))
            return &r->runs[i];
    return NULL;
}

/* Highest thread count among the diff runs, or -1. */
static int max_diff_threads(const bench_result *r)
{
    int max = -1;
    for (size_t i = 0; i < r->n_runs; i++)
        if (r->runs[i].kind == BENCH_DIFF && r->runs[i].threads > max)
            max = r->runs[i].threads;
    return max;
}

/* Wall-time ratio a / b, or a negative number when either run is missing or failed. */
static double ratio(const bench_run *a, const bench_run *b)
{
    if (a == NULL || b == NULL || !a->ok || !b->ok || b->wall_seconds <= 0.0)
        return -1.0;
    return a->wall_seconds / b->wall_seconds;
}

static void threads_label(int threads, char *out, size_t cap)
{
    if (threads < 0)
        snprintf(out, cap, "-");
    else if (threads == 0)
        snprintf(out, cap, "inline");
    else
        snprintf(out, cap, "%d", threads);
}

static double mb(int64_t bytes)
{
    return (double)bytes / 1e6;
}

/* ---- text ---------------------------------------------------------------- */

static void print_run_row(FILE *out, const bench_result *r, const bench_run *run)
{
    char th[16];
    threads_label(run->threads, th, sizeof th);
    if (!run->ok) {
        fprintf(out, "%-11s %7s  %s\n", bench_kind_name(run->kind), th,
                run->note[0] != '\0' ? run->note : "failed");
        return;
    }
    double wall = run->wall_seconds;
    double sessions_per_s = wall > 0 ? (double)r->n_sessions / wall : 0;
    double mb_per_s = wall > 0 ? mb(r->n_bytes) / wall : 0;
    char vs[24] = "";
    if (run->kind == BENCH_DIFF) {
        double x = ratio(run, bench_find(r, BENCH_FLOOR, run->threads));
        if (x >= 0)
            snprintf(vs, sizeof vs, "%.2fx floor", x);
    } else if (run->kind == BENCH_PEER_TOTAL) {
        double x = ratio(run, bench_find(r, BENCH_DIFF, max_diff_threads(r)));
        if (x >= 0)
            snprintf(vs, sizeof vs, "%.2fx diff", x);
    }
    /* sqldiff compares archives, not transcripts, so it has no per-corpus rate. */
    char rate[16] = "-", bytes_rate[16] = "-";
    if (run->kind != BENCH_PEER_DIFF) {
        snprintf(rate, sizeof rate, "%.0f", sessions_per_s);
        snprintf(bytes_rate, sizeof bytes_rate, "%.1f", mb_per_s);
    }
    fprintf(out, "%-11s %7s %9.2f %11s %8s %12.1f %8.2f %8.2f  %s\n", bench_kind_name(run->kind),
            th, wall, rate, bytes_rate, (double)run->max_rss_kb / 1024.0, run->user_seconds,
            run->sys_seconds, vs);
}

static void print_ratios(FILE *out, const bench_result *r)
{
    int n = max_diff_threads(r);
    fprintf(out, "\nratios (wall time)\n");
    fprintf(out, "  diff / floor       ");
    for (size_t i = 0; i < r->n_runs; i++) {
        const bench_run *d = &r->runs[i];
        if (d->kind != BENCH_DIFF)
            continue;
        char th[16];
        threads_label(d->threads, th, sizeof th);
        double x = ratio(d, bench_find(r, BENCH_FLOOR, d->threads));
        if (x >= 0)
            fprintf(out, "  %s: %.2f", th, x);
        else
            fprintf(out, "  %s: n/a", th);
    }
    double peer = ratio(bench_find(r, BENCH_PEER_TOTAL, -1), bench_find(r, BENCH_DIFF, n));
    fprintf(out, "\n  peer / diff         ");
    if (peer >= 0)
        fprintf(out, " %.2f (peer total over diff at %d thread%s)\n", peer, n, n == 1 ? "" : "s");
    else
        fprintf(out, " n/a\n");
    fprintf(out, "  diff speed-up       ");
    const bench_run *one = bench_find(r, BENCH_DIFF, 1);
    bool any_speedup = false;
    for (int t = 2; t <= n; t++) {
        double x = ratio(one, bench_find(r, BENCH_DIFF, t));
        if (x >= 0)
            fprintf(out, " %d threads vs 1: %.2f", t, x);
        any_speedup = any_speedup || x >= 0;
    }
    fprintf(out, "%s\n", any_speedup ? "" : " n/a");
}

void bench_print_text(FILE *out, const bench_result *r)
{
    fprintf(out, "parsediff-bench, %s\n", r->date);
    fprintf(out, "machine     %ld CPUs online; %s; %s; simdjson kernel %s\n", r->n_cpus,
            r->cpu_model, r->kernel, r->simdjson_kernel);
    fprintf(out, "load        1-minute load average %.2f before the runs, %.2f after\n",
            r->load_start, r->load_end);
    fprintf(out, "parsediff   %s\n", r->parsediff);
    fprintf(out, "corpus      %s: profile %s, seed %lld; %lld transcripts, %.1f MB; %lld stored "
                 "sessions\n",
            r->corpus_dir, r->profile[0] != '\0' ? r->profile : "(unknown)", r->seed,
            (long long)r->n_files, mb(r->n_bytes), (long long)r->n_sessions);
    fprintf(out, "archive     %s, %.1f MB\n", r->db_path, mb(r->db_bytes));
    if (r->cold)
        fprintf(out, "page cache  every source and the archive dropped from it before each run "
                     "(file data only).\n"
                     "            diff reads sources ahead and the floor does not, so here the "
                     "floor is no lower bound\n");
    else
        fprintf(out,
                "warm-up     every source and the archive read once in %.2f s before the runs\n",
                r->warmup_seconds);
    fprintf(out, "command     %s\n", r->command);
    if (r->repeat > 1)
        fprintf(out, "repeat      fastest of %d runs per row\n", r->repeat);

    fprintf(out, "\n%-11s %7s %9s %11s %8s %12s %8s %8s  %s\n", "run", "threads", "wall s",
            "sessions/s", "MB/s", "peak RSS MiB", "user s", "sys s", "ratio");
    for (size_t i = 0; i < r->n_runs; i++)
        print_run_row(out, r, &r->runs[i]);

    const bench_run *last_diff = bench_find(r, BENCH_DIFF, max_diff_threads(r));
    if (last_diff != NULL && last_diff->ok) {
        fprintf(out,
                "\ndiff report (%d thread%s): examined %lld, identical %lld, changed %lld, "
                "pending_resync %lld, raced %lld, parse errors %lld\n",
                last_diff->threads, last_diff->threads == 1 ? "" : "s",
                (long long)last_diff->examined, (long long)last_diff->identical,
                (long long)last_diff->changed, (long long)last_diff->pending_resync,
                (long long)last_diff->raced, (long long)last_diff->parse_errors);
        if (last_diff->n_phases > 0) {
            fprintf(out, "diff --timings (%d thread%s, s; read to compare summed over workers):\n ",
                    last_diff->threads, last_diff->threads == 1 ? "" : "s");
            for (size_t p = 0; p < last_diff->n_phases; p++)
                fprintf(out, " %s %.3f%s", last_diff->phases[p].name, last_diff->phases[p].seconds,
                        p + 1 < last_diff->n_phases ? "," : "\n");
        }
    }

    const bench_engine_phases *e = &r->engine;
    if (e->measured && e->ok) {
        fprintf(out,
                "\nin-process diff per phase (%d thread%s, s): open+snapshot %.3f, setup %.3f, "
                "discover+parse+compare %.3f, sweeps+finish %.3f, render JSON %.3f; total "
                "%.3f; peak RSS %.1f MiB; %lld sessions examined\n",
                e->threads, e->threads == 1 ? "" : "s", e->open_snapshot, e->setup, e->compare,
                e->finish, e->render_json, e->total, (double)e->max_rss_kb / 1024.0,
                (long long)e->examined);
    } else if (e->measured) {
        fprintf(out, "\nin-process diff per phase: failed: %s\n", e->note);
    }

    bool any_floor = false;
    for (size_t i = 0; i < r->n_runs; i++) {
        const bench_run *f = &r->runs[i];
        if (f->kind != BENCH_FLOOR || !f->ok || f->n_phases < 3)
            continue;
        if (!any_floor)
            fprintf(out, "\nfloor phases (s)   %8s %11s %12s   %s\n", "walk", "read+parse",
                    "sqlite scan", "work");
        any_floor = true;
        char th[16];
        threads_label(f->threads, th, sizeof th);
        fprintf(out, "  threads %-8s %8.3f %11.3f %12.3f   %s\n", th, f->phases[0].seconds,
                f->phases[1].seconds, f->phases[2].seconds, f->note);
    }

    print_ratios(out, r);

    fprintf(out, "\ncommands\n");
    for (size_t i = 0; i < r->n_runs; i++) {
        const bench_run *run = &r->runs[i];
        if (run->kind == BENCH_PEER_TOTAL || run->command[0] == '\0')
            continue;
        char th[16];
        threads_label(run->threads, th, sizeof th);
        fprintf(out, "  %s %s: %s\n", bench_kind_name(run->kind), th, run->command);
    }
    const bench_run *sq = bench_find(r, BENCH_PEER_DIFF, -1);
    if (sq != NULL && sq->ok)
        fprintf(out, "  sqldiff wrote %lld lines, %.1f MB\n", (long long)sq->output_lines,
                mb(sq->output_bytes));
}

/* ---- JSON ------------------------------------------------------------------ */

static void put_string(FILE *out, const char *s)
{
    char *quoted = NULL;
    size_t n = 0;
    if (pd_json_quote(s, strlen(s), &quoted, &n) == PD_OK) {
        fwrite(quoted, 1, n, out);
        free(quoted);
    } else {
        fputs("\"\"", out);
    }
}

static void put_key(FILE *out, const char *key, bool *first)
{
    if (!*first)
        fputc(',', out);
    *first = false;
    put_string(out, key);
    fputc(':', out);
}

static void put_run(FILE *out, const bench_result *r, const bench_run *run)
{
    bool first = true;
    fputc('{', out);
    put_key(out, "kind", &first);
    put_string(out, bench_kind_name(run->kind));
    put_key(out, "threads", &first);
    fprintf(out, "%d", run->threads);
    put_key(out, "ok", &first);
    fputs(run->ok ? "true" : "false", out);
    put_key(out, "exit_code", &first);
    fprintf(out, "%d", run->exit_code);
    put_key(out, "wall_seconds", &first);
    fprintf(out, "%.4f", run->wall_seconds);
    put_key(out, "user_seconds", &first);
    fprintf(out, "%.4f", run->user_seconds);
    put_key(out, "sys_seconds", &first);
    fprintf(out, "%.4f", run->sys_seconds);
    put_key(out, "max_rss_kb", &first);
    fprintf(out, "%lld", (long long)run->max_rss_kb);
    if (run->ok && run->wall_seconds > 0 && run->kind != BENCH_PEER_DIFF) {
        put_key(out, "sessions_per_second", &first);
        fprintf(out, "%.1f", (double)r->n_sessions / run->wall_seconds);
        put_key(out, "mb_per_second", &first);
        fprintf(out, "%.2f", mb(r->n_bytes) / run->wall_seconds);
    }
    if (run->kind == BENCH_DIFF && run->ok) {
        put_key(out, "totals", &first);
        fprintf(out,
                "{\"examined\":%lld,\"identical\":%lld,\"changed\":%lld,\"pending_resync\":%lld,"
                "\"raced\":%lld,\"parse_errors\":%lld}",
                (long long)run->examined, (long long)run->identical, (long long)run->changed,
                (long long)run->pending_resync, (long long)run->raced,
                (long long)run->parse_errors);
    }
    if (run->n_phases > 0) {
        put_key(out, "phases_seconds", &first);
        fputc('{', out);
        bool pfirst = true;
        for (size_t p = 0; p < run->n_phases; p++) {
            put_key(out, run->phases[p].name, &pfirst);
            fprintf(out, "%.4f", run->phases[p].seconds);
        }
        fputc('}', out);
    }
    if (run->kind == BENCH_PEER_DIFF && run->ok) {
        put_key(out, "output_bytes", &first);
        fprintf(out, "%lld", (long long)run->output_bytes);
        put_key(out, "output_lines", &first);
        fprintf(out, "%lld", (long long)run->output_lines);
    }
    if (run->note[0] != '\0') {
        put_key(out, "note", &first);
        put_string(out, run->note);
    }
    put_key(out, "command", &first);
    put_string(out, run->command);
    fputc('}', out);
}

static void put_ratio(FILE *out, const char *key, double x, bool *first)
{
    put_key(out, key, first);
    if (x >= 0)
        fprintf(out, "%.4f", x);
    else
        fputs("null", out);
}

void bench_print_json(FILE *out, const bench_result *r)
{
    bool first = true;
    fputc('{', out);
    put_key(out, "date", &first);
    put_string(out, r->date);
    put_key(out, "machine", &first);
    fprintf(out, "{\"cpus_online\":%ld,\"cpu_model\":", r->n_cpus);
    put_string(out, r->cpu_model);
    fputs(",\"kernel\":", out);
    put_string(out, r->kernel);
    fputs(",\"simdjson_kernel\":", out);
    put_string(out, r->simdjson_kernel);
    fprintf(out, ",\"load_average_start\":%.2f,\"load_average_end\":%.2f}", r->load_start,
            r->load_end);
    put_key(out, "command", &first);
    put_string(out, r->command);
    put_key(out, "parsediff", &first);
    put_string(out, r->parsediff);
    put_key(out, "corpus", &first);
    fputs("{\"dir\":", out);
    put_string(out, r->corpus_dir);
    fputs(",\"profile\":", out);
    put_string(out, r->profile);
    fprintf(out, ",\"seed\":%lld,\"files\":%lld,\"bytes\":%lld,\"stored_sessions\":%lld}",
            r->seed, (long long)r->n_files, (long long)r->n_bytes, (long long)r->n_sessions);
    put_key(out, "archive", &first);
    fputs("{\"path\":", out);
    put_string(out, r->db_path);
    fprintf(out, ",\"bytes\":%lld}", (long long)r->db_bytes);
    put_key(out, "warmup_seconds", &first);
    fprintf(out, "%.4f", r->warmup_seconds);
    put_key(out, "cold", &first);
    fputs(r->cold ? "true" : "false", out);
    put_key(out, "repeat", &first);
    fprintf(out, "%d", r->repeat);

    put_key(out, "runs", &first);
    fputc('[', out);
    for (size_t i = 0; i < r->n_runs; i++) {
        if (i > 0)
            fputc(',', out);
        put_run(out, r, &r->runs[i]);
    }
    fputc(']', out);

    const bench_engine_phases *e = &r->engine;
    if (e->measured) {
        put_key(out, "engine_phases", &first);
        fprintf(out,
                "{\"ok\":%s,\"threads\":%d,\"open_snapshot_seconds\":%.4f,\"setup_seconds\":%.4f,"
                "\"compare_seconds\":%.4f,\"finish_seconds\":%.4f,\"render_json_seconds\":%.4f,"
                "\"total_seconds\":%.4f,\"max_rss_kb\":%lld,\"examined\":%lld",
                e->ok ? "true" : "false", e->threads, e->open_snapshot, e->setup, e->compare,
                e->finish, e->render_json, e->total, (long long)e->max_rss_kb,
                (long long)e->examined);
        if (e->note[0] != '\0') {
            fputs(",\"note\":", out);
            put_string(out, e->note);
        }
        fputc('}', out);
    }

    int n = max_diff_threads(r);
    put_key(out, "ratios", &first);
    bool rfirst = true;
    fputc('{', out);
    for (size_t i = 0; i < r->n_runs; i++) {
        const bench_run *d = &r->runs[i];
        if (d->kind != BENCH_DIFF)
            continue;
        char key[48];
        snprintf(key, sizeof key, "diff_over_floor_t%d", d->threads);
        put_ratio(out, key, ratio(d, bench_find(r, BENCH_FLOOR, d->threads)), &rfirst);
    }
    put_ratio(out, "peer_over_diff",
              ratio(bench_find(r, BENCH_PEER_TOTAL, -1), bench_find(r, BENCH_DIFF, n)), &rfirst);
    for (int t = 2; t <= n; t++) {
        char key[48];
        snprintf(key, sizeof key, "speedup_t%d_over_t1", t);
        put_ratio(out, key, ratio(bench_find(r, BENCH_DIFF, 1), bench_find(r, BENCH_DIFF, t)),
                  &rfirst);
    }
    fputc('}', out);
    fputs("}\n", out);
}
