/*
 * diff.c -- `parsediff diff`: re-parse every source in parallel and compare
 * the result with the stored rows, without writing anything.
 *
 * Call order: pd_engine_diff() on the main thread.
 *   1. Open the archive read-only and take one snapshot of `sessions`.
 *   2. Discover sources for the requested agents. Without --limit they
 *      stream straight into the job ring while workers run. With --limit
 *      they are collected, ordered newest mtime first (path ascending on
 *      ties) and cut to N, and the paths cut are remembered for the sweep.
 *   3. Workers (pool/) read and parse one source each, normalise every
 *      session, load its stored rows through their own read-only connection,
 *      check that the stored bookkeeping still matches the snapshot, and run
 *      the comparator.
 *   4. The collector (this thread, collect.c) folds each job: re-stat for the
 *      raced guard, the Codex consumed-boundary check, classification,
 *      totals, field counts and the visited set.
 *   5. Sweeps: stored rows of registered sources that no parse emitted, then
 *      every stored row still unvisited; finally the report is sorted.
 *
 * Threading: workers read the snapshot, the providers' shared state and the
 * run's constant fields, which stay constant during the run. Each job's arena
 * is filled by one worker and handed to the collector through the result
 * ring, whose release/acquire ordering publishes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/normalize.h"
#include "common/timefmt.h"
#include "engine/compare.h"
#include "engine/diff_internal.h"
#include "engine/driver.h"

/* ---- worker side ----------------------------------------------------------- */

static int diff_worker_init(void *user, void **ctx)
{
    pd_diff_run *run = user;
    return pd_worker_open(run->engine->cfg.db_path, run->engine->cfg.cancel, (pd_worker **)ctx);
}

static void diff_worker_fini(void *user, void *ctx)
{
    (void)user;
    pd_worker_close(ctx);
}

/* An idle worker ends its read transaction, so that a slow discovery cannot
 * keep a concurrent sync's checkpoint waiting. */
static void diff_worker_idle(void *user, void *ctx)
{
    (void)user;
    pd_worker_release_read(ctx);
}

/* True when the re-read row no longer matches what the snapshot recorded. */
static bool row_moved(const pd_stored_row *snap, const pd_session *now)
{
    if (snap->file_size != now->file_size || snap->file_mtime != now->file_mtime ||
        snap->data_version != now->data_version)
        return true;
    if (!snap->has_hash)
        return now->file_hash != NULL;
    return !pd_row_hash_is(snap, now->file_hash);
}

static int compare_one(pd_diff_job *job, pd_worker *w, pd_diff_session *ds, pd_err *err)
{
    const pd_stored_row *row = ds->row;
    if (row == NULL || row->is_trashed || ds->parsed->needs_retry)
        return PD_OK;

    pd_session stored;
    bool found = false;
    int64_t t0 = pd_monotonic_ns();
    int rc = pd_worker_hold_read(w, err);
    if (rc == PD_OK)
        rc = pd_archive_load_compared(w->reader, row->id, row->rowid, job->arena, &stored, &found,
                                      err);
    int64_t t1 = pd_monotonic_ns();
    job->stored_ns += t1 - t0;
    if (rc != PD_OK) {
        pd_worker_release_read(w);
        return rc;
    }
    if (!found || row_moved(row, &stored)) {
        /* A sync committed to this row after the snapshot, so the comparison
         * describes neither state reliably. */
        ds->archive_changed = true;
    }
    if (!found)
        return PD_OK;

    rc = pd_compare_sessions(&stored, ds->parsed, job->arena, &ds->diffs);
    job->compare_ns += pd_monotonic_ns() - t1;
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: comparing session %s ran out of memory", job->js.src.path,
                          row->id);
    ds->compared = true;
    ds->real_diffs = pd_field_diffs_real_count(&ds->diffs);
    return PD_OK;
}

/*
 * Moves what the collector reads of a finished job into a new arena and
 * frees the arena of the parsed and stored sessions. The collector reads the
 * source, the error, the excluded ids, and per session its id, agent, path,
 * retry flag, snapshot row and field diffs. A job waiting in the result ring
 * then costs a few hundred bytes, not the size of its transcript. Out of
 * memory leaves the job as it was.
 */
static void job_compact(pd_diff_job *job)
{
    pd_arena *a = pd_arena_new();
    if (a == NULL)
        return;

    pd_job_source js;
    bool oom = pd_job_source_copy(a, &job->js, &js) != PD_OK;
    char *error = pd_diff_dup(a, job->error, &oom);
    char *digest = pd_diff_dup(a, job->digest, &oom);
    char **excluded = NULL;
    if (job->n_excluded > 0) {
        excluded = pd_arena_calloc(a, job->n_excluded, sizeof *excluded);
        oom = oom || excluded == NULL;
    }
    for (size_t i = 0; !oom && i < job->n_excluded; i++)
        excluded[i] = pd_diff_dup(a, job->excluded[i], &oom);

    pd_diff_session *sessions = pd_arena_calloc(a, job->n_sessions + 1, sizeof *sessions);
    pd_session *stubs = pd_arena_calloc(a, job->n_sessions + 1, sizeof *stubs);
    oom = oom || sessions == NULL || stubs == NULL;
    for (size_t i = 0; !oom && i < job->n_sessions; i++) {
        const pd_diff_session *from = &job->sessions[i];
        pd_diff_session *to = &sessions[i];
        pd_session *stub = &stubs[i];

        *to = *from;
        stub->id = pd_diff_dup(a, from->parsed->id, &oom);
        stub->agent = pd_diff_dup(a, from->parsed->agent, &oom);
        stub->file_path = pd_diff_dup(a, from->parsed->file_path, &oom);
        stub->needs_retry = from->parsed->needs_retry;
        stub->companion_mtime = from->parsed->companion_mtime;
        to->parsed = stub;
        to->diffs.items = pd_diff_fields_copy(a, from->diffs.items, from->diffs.n, &oom);
        to->diffs.cap = from->diffs.n;
    }
    if (oom) {
        pd_arena_free(a);
        return;
    }
    pd_arena_free(job->arena);
    job->arena = a;
    job->js = js;
    job->error = error;
    job->digest = digest;
    job->excluded = excluded;
    job->sessions = sessions;
}

/*
 * True when the collector needs the SHA-256 of the bytes parsed (see
 * same_bytes): a session of them has real diffs, or a stored session of the
 * file is no longer emitted, and a row of the file stores a hash of exactly
 * that many bytes. A compressed source is left out, because its stored hash
 * is of other bytes than the ones parsed.
 */
static bool digest_needed(const pd_diff_run *run, const pd_diff_job *job, const pd_source_buf *buf)
{
    if (buf->compressed)
        return false;
    bool real_diffs = false;
    for (size_t i = 0; i < job->n_sessions && !real_diffs; i++)
        real_diffs = job->sessions[i].real_diffs > 0;

    const size_t *idx;
    size_t n = pd_snapshot_find_path(run->snapshot, job->js.src.path, &idx);
    bool covered = false, lost = false;
    for (size_t i = 0; i < n; i++) {
        const pd_stored_row *row = pd_snapshot_row(run->snapshot, idx[i]);
        covered = covered || pd_row_hash_covers(row, buf->len);
        lost = lost || !pd_diff_job_accounts_for(job, row->id);
    }
    return covered && (real_diffs || lost);
}

static void diff_job_run(void *user, void *ctx, void *job_)
{
    pd_diff_run *run = user;
    pd_worker *w = ctx;
    pd_diff_job *job = job_;
    void *shared = run->providers.shared[job->js.provider_index];
    pd_err err = {0};
    pd_source_buf buf = {0};

    int64_t t0 = pd_monotonic_ns();
    int rc = pd_read_ahead_source(&run->read_ahead, job->js.src.path, &buf, &err);
    int64_t t1 = pd_monotonic_ns();
    job->read_ns = t1 - t0;
    if (rc == PD_ENOENT) {
        /* An agent renamed or deleted it after discovery listed it. Its rows
         * are then swept as "source missing", not failed as a parse error. */
        job->vanished = true;
        pd_worker_end_job(w);
        job_compact(job);
        return;
    }
    if (rc != PD_OK) {
        job->cut_zst = rc == PD_EZSTD_CUT;
        job->cut_size = buf.file_size;
        job->parsed_mtime = buf.mtime_ns;
        goto fail;
    }
    job->parsed_mtime = buf.mtime_ns;
    pd_worker_start_parse(w, buf.len);

    pd_parse_request req = {
        .path = job->js.src.path,
        .root = job->js.src.root,
        .machine = run->engine->cfg.machine,
        .project_hint = job->js.src.project_hint,
        .src = &buf,
        .incr = NULL,
        .shared = shared,
        .json = w->json,
        .arena = job->arena,
    };
    pd_parse_result res = {0};
    rc = job->js.provider->parse(&req, &res, &err);
    if (rc == PD_OK)
        rc = pd_keep_sessions_with_messages(&res, job->js.src.path, &buf, &err);
    if (rc != PD_OK)
        goto fail;

    job->parse_ns = pd_monotonic_ns() - t1;
    job->sessions = pd_arena_calloc(job->arena, res.n_sessions + 1, sizeof *job->sessions);
    if (job->sessions == NULL) {
        rc = pd_err_set(&err, PD_ENOMEM, "%s: out of memory", job->js.src.path);
        goto fail;
    }
    job->excluded = res.excluded_ids;
    job->n_excluded = res.n_excluded;

    for (size_t i = 0; i < res.n_sessions; i++) {
        pd_diff_session *ds = &job->sessions[job->n_sessions++];
        ds->parsed = &res.sessions[i];
        int64_t t_norm = pd_monotonic_ns();
        rc = pd_session_normalize(ds->parsed, NULL, job->arena);
        job->parse_ns += pd_monotonic_ns() - t_norm;
        if (rc != PD_OK) {
            rc = pd_err_set(&err, rc, "%s: out of memory normalising a session", job->js.src.path);
            goto fail;
        }
        if (ds->parsed->id != NULL)
            ds->row = pd_snapshot_find_id(run->snapshot, ds->parsed->id);
        rc = compare_one(job, w, ds, &err);
        if (rc != PD_OK)
            goto fail;
    }
    char digest[PD_SHA256_HEX_LEN + 1];
    if (digest_needed(run, job, &buf) && pd_sha256_hex(buf.data, buf.len, digest) == PD_OK) {
        job->digest = pd_arena_strdup(job->arena, digest);
        job->read_len = buf.len;
    }
    pd_source_buf_free(&buf);
    pd_worker_end_job(w);
    job_compact(job);
    return;

fail:
    pd_source_buf_free(&buf);
    pd_worker_end_job(w);
    job->failed = true;
    if (err.msg[0] != '\0')
        job->error = pd_arena_strdup(job->arena, err.msg);
    else
        job->error = pd_arena_sprintf(job->arena, "%s: %s", job->js.src.path, pd_strerror(rc));
    job->n_sessions = 0;
    job_compact(job);
}

/* ---- submission -------------------------------------------------------------- */

static pd_diff_job *job_new(pd_diff_run *run, const pd_job_source *js)
{
    pd_diff_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return NULL;
    job->arena = pd_arena_new();
    if (job->arena == NULL) {
        free(job);
        return NULL;
    }
    job->run = run;
    if (pd_job_source_copy(job->arena, js, &job->js) != PD_OK) {
        pd_arena_free(job->arena);
        free(job);
        return NULL;
    }
    return job;
}

static void job_free(pd_diff_job *job)
{
    pd_arena_free(job->arena);
    free(job);
}

static int submit_job(pd_diff_run *run, const pd_job_source *js)
{
    if (pd_diff_note_disk_name(run, js->src.path) != PD_OK)
        return PD_ENOMEM;
    pd_diff_job *job = job_new(run, js);
    if (job == NULL)
        return PD_ENOMEM;
    pd_read_ahead_queue(&run->read_ahead, js->src.path);
    run->report->files_examined++;
    int rc = pd_driver_submit(&run->driver, job);
    if (rc != PD_OK) {
        run->report->files_examined--;
        job_free(job);
    }
    return rc;
}

static void report_progress(const pd_diff_run *run)
{
    if (run->opts == NULL || run->opts->progress == NULL)
        return;
    pd_progress_info info = {.done = run->report->files_done,
                             .found = run->report->files_examined,
                             .expected = run->expected,
                             .counting = run->counting};
    run->opts->progress(run->opts->progress_ctx, &info);
}

static int diff_fold(void *ctx, void *job_, bool ran)
{
    pd_diff_run *run = ctx;
    pd_diff_job *job = job_;
    int rc = PD_OK;
    int64_t t0 = pd_monotonic_ns();
    if (ran) {
        pd_diff_timings *t = &run->report->timings;
        t->read_ms += (double)job->read_ns / 1e6;
        t->parse_ms += (double)job->parse_ns / 1e6;
        t->stored_reads_ms += (double)job->stored_ns / 1e6;
        t->compare_ms += (double)job->compare_ns / 1e6;
        rc = pd_collect_job(run, job);
        run->report->files_done++;
    }
    run->fold_ns += pd_monotonic_ns() - t0;
    /* A job cancelled by an interrupt was not read, so the bar stops where the reading did. */
    if (ran)
        report_progress(run);
    job_free(job);
    return rc;
}

/*
 * Records and logs a directory that could not be listed. Its stored
 * sessions are then reported as the reference reports sources it does not
 * reach: skipped, as source missing or not discovered. Returns false for
 * any other source, and on out of memory (*rc set).
 */
static bool skip_unlistable(pd_diff_run *run, const pd_job_source *js, int *rc)
{
    *rc = PD_OK;
    if (js->src.list_errno == 0)
        return false;
    PD_LOG(PD_LOG_WARN,
           "%s: cannot list the directory (%s), so its transcripts were not compared; their "
           "stored sessions are reported as skipped",
           js->src.path, strerror(js->src.list_errno));
    pd_diff_report *r = run->report;
    const char **grown = pd_arena_grow(r->arena, r->unlisted_dirs, r->n_unlisted_dirs,
                                       r->n_unlisted_dirs + 1, sizeof *grown);
    const char *dir = pd_arena_strdup(r->arena, js->src.path);
    if (grown == NULL || dir == NULL) {
        *rc = PD_ENOMEM;
        return true;
    }
    grown[r->n_unlisted_dirs++] = dir;
    r->unlisted_dirs = grown;
    return true;
}

static int stream_source(void *ctx, const pd_job_source *js)
{
    int rc;
    if (skip_unlistable(ctx, js, &rc))
        return rc;
    return submit_job(ctx, js);
}

typedef struct gathered {
    pd_job_source *items;
    int64_t *mtimes;
    size_t n;
    size_t cap;
    pd_arena *arena; /* the gathered sources' strings */
    pd_diff_run *run;
} gathered;

static int gather_source(void *ctx, const pd_job_source *js)
{
    gathered *g = ctx;
    int rc;
    if (skip_unlistable(g->run, js, &rc))
        return rc;
    if (g->n == g->cap) {
        size_t cap = g->cap == 0 ? 256 : g->cap * 2;
        pd_job_source *items = realloc(g->items, cap * sizeof *items);
        if (items == NULL)
            return PD_ENOMEM;
        g->items = items;
        int64_t *mtimes = realloc(g->mtimes, cap * sizeof *mtimes);
        if (mtimes == NULL)
            return PD_ENOMEM;
        g->mtimes = mtimes;
        g->cap = cap;
    }
    /* Ordering uses the plain transcript mtime (Codex too); a stat error
     * sorts as oldest. */
    pd_stat_info st;
    g->mtimes[g->n] = pd_stat_path(js->src.path, &st) == PD_OK ? st.mtime_ns : 0;
    if (pd_job_source_copy(g->arena, js, &g->items[g->n]) != PD_OK)
        return PD_ENOMEM;
    g->n++;
    return PD_OK;
}

static const gathered *sort_target;

static int compare_newest_first(const void *a, const void *b)
{
    size_t ia = *(const size_t *)a, ib = *(const size_t *)b;
    int64_t ma = sort_target->mtimes[ia], mb = sort_target->mtimes[ib];
    if (ma != mb)
        return ma > mb ? -1 : 1;
    return strcmp(sort_target->items[ia].src.path, sort_target->items[ib].src.path);
}

/*
 * Runs pd_discover_all() for the run and records in the report the Codex
 * rollouts discovery left out for a shared session UUID.
 */
static int discover_sources(pd_diff_run *run, pd_arena *discovery, pd_job_source_fn emit, void *ctx,
                            pd_err *err)
{
    pd_discover_drops drops = {0};
    int rc = pd_discover_all(run->engine, &run->providers, discovery, emit, ctx, &drops, err);
    if (rc != PD_OK)
        return rc;
    pd_diff_report *r = run->report;
    r->n_shadowed_rollouts = drops.n;
    if (drops.example == NULL)
        return PD_OK;
    r->shadowed_rollout = pd_arena_strdup(r->arena, drops.example);
    return r->shadowed_rollout != NULL ? PD_OK : PD_ENOMEM;
}

/* Discovers everything, keeps the newest `limit` sources and submits them. */
static int submit_limited(pd_diff_run *run, pd_arena *discovery, pd_err *err)
{
    gathered g = {.arena = discovery, .run = run};
    size_t *order = NULL;
    int rc = discover_sources(run, discovery, gather_source, &g, err);
    if (rc != PD_OK)
        goto out;

    order = malloc((g.n + 1) * sizeof *order);
    if (order == NULL) {
        rc = PD_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < g.n; i++)
        order[i] = i;
    /* qsort needs a file-scope comparator context; this thread is the only user. */
    sort_target = &g;
    qsort(order, g.n, sizeof *order, compare_newest_first);
    sort_target = NULL;

    size_t keep = g.n;
    if (run->opts->limit > 0 && (size_t)run->opts->limit < g.n) {
        keep = (size_t)run->opts->limit;
        run->report->files_limited = true;
        for (size_t i = keep; i < g.n; i++) {
            int added = pd_strset_add(&run->cut, g.items[order[i]].src.path);
            if (added >= 0 && pd_diff_note_disk_name(run, g.items[order[i]].src.path) != PD_OK)
                added = PD_ENOMEM;
            if (added < 0) {
                rc = PD_ENOMEM;
                goto out;
            }
        }
    }
    /* The files to read are known now, before the first is submitted. */
    run->expected = (int64_t)keep;
    for (size_t i = 0; i < keep && rc == PD_OK; i++)
        rc = submit_job(run, &g.items[order[i]]);

out:
    free(order);
    free(g.items);
    free(g.mtimes);
    return rc;
}

/* ---- entry point --------------------------------------------------------------- */

int pd_engine_diff(pd_engine *e, const pd_diff_options *opts, pd_diff_report **out, pd_err *err)
{
    *out = NULL;
    pd_diff_options defaults = {0};
    if (opts == NULL)
        opts = &defaults;

    pd_diff_run run = {.engine = e, .opts = opts, .started_wall = pd_time_now()};
    pd_arena *discovery = NULL;
    pd_archive *archive = NULL;
    int64_t t_start = pd_monotonic_ns();
    int rc = pd_diff_report_new(&run.report, err);
    if (rc != PD_OK)
        return rc;
    run.report->timings.enabled = opts->timings;
    rc = pd_diff_report_set_agents(run.report, opts->agents, opts->n_agents);
    if (rc == PD_OK) {
        run.report->db_path = pd_arena_strdup(run.report->arena, e->cfg.db_path);
        if (run.report->db_path == NULL)
            rc = PD_ENOMEM;
    }
    if (rc != PD_OK) {
        pd_err_set(err, rc, "out of memory creating the report");
        goto out;
    }

    rc = pd_archive_open_cancellable(e->cfg.db_path, PD_ARCHIVE_READONLY, e->cfg.cancel, &archive,
                                     err);
    if (rc != PD_OK)
        goto out;
    rc = pd_check_archive_version(archive, err);
    if (rc != PD_OK)
        goto out;
    rc = pd_archive_snapshot(archive, &run.snapshot, err);
    if (rc != PD_OK)
        goto out;
    run.report->timings.snapshot_ms = (double)(pd_monotonic_ns() - t_start) / 1e6;
    if (opts->after_snapshot != NULL)
        opts->after_snapshot(opts->after_snapshot_ctx);
    run.visited = calloc(pd_snapshot_count(run.snapshot) / 8 + 1, 1);
    run.path_parsed = calloc(pd_snapshot_count(run.snapshot) / 8 + 1, 1);
    run.compared = calloc(pd_snapshot_count(run.snapshot) / 8 + 1, 1);
    run.missing = calloc(pd_snapshot_count(run.snapshot) / 8 + 1, 1);
    run.same_bytes = calloc(pd_snapshot_count(run.snapshot) / 8 + 1, 1);
    if (run.visited == NULL || run.path_parsed == NULL || run.compared == NULL ||
        run.missing == NULL || run.same_bytes == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "out of memory for the visited set");
        goto out;
    }
    pd_strset_init(&run.cut);
    pd_strset_init(&run.disk_names);
    run.sets_ready = true;

    rc = pd_run_providers_open(e, opts->agents, opts->n_agents, &run.providers, err);
    if (rc != PD_OK)
        goto out;
    discovery = pd_arena_new();
    if (discovery == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        goto out;
    }

    unsigned threads = e->cfg.n_threads;
    /*
     * 64 queued jobs per worker (at least 32). The collector shares the CPUs
     * with the workers and is woken when the job ring is half empty, so the
     * other half must last until it runs. At 16 per worker, a 2-thread diff
     * of 100,000 small sessions made 7,100 to 7,800 involuntary context
     * switches, at 64 it made 2,500 to 2,800 and ran about 4% faster.
     * Finished jobs are compacted (job_compact), so a full result ring
     * contains ids and diffs, not sessions.
     */
    pd_pool_config pc = {
        .n_threads = threads,
        .ring_capacity = e->cfg.ring_capacity != 0 ? e->cfg.ring_capacity
                                                   : (threads * 64 < 32 ? 32 : threads * 64),
        .worker_init = diff_worker_init,
        .worker_fini = diff_worker_fini,
        .worker_idle = diff_worker_idle,
        .run = diff_job_run,
        .user = &run,
    };
    rc = pd_pool_create(&pc, &run.pool, err);
    if (rc != PD_OK)
        goto out;
    run.driver = (pd_driver){.pool = run.pool,
                             .fold = diff_fold,
                             .ctx = &run,
                             .cancel = e->cfg.cancel,
                             .runs_inline = threads == 0};

    run.counting = true;
    /* With --limit, submit_limited() sets the total once it has sorted the files. */
    if (opts->progress != NULL && opts->limit <= 0)
        run.expected = pd_stored_sources(e, run.snapshot, &run.providers);
    report_progress(&run);
    int src_rc;
    int64_t t_discover = pd_monotonic_ns();
    if (opts->limit > 0)
        src_rc = submit_limited(&run, discovery, err);
    else
        src_rc = discover_sources(&run, discovery, stream_source, &run, err);
    run.report->timings.discovery_ms = (double)(pd_monotonic_ns() - t_discover - run.fold_ns -
                                                run.driver.wait_ns - run.driver.inline_run_ns) /
                                       1e6;
    run.counting = false;
    if (src_rc == PD_OK)
        report_progress(&run);
    rc = pd_driver_finish(&run.driver);
    if (rc == PD_OK && src_rc != PD_OK && src_rc != PD_ECANCELED)
        rc = src_rc;
    if (src_rc == PD_ECANCELED)
        rc = PD_ECANCELED;
    if (rc == PD_ECANCELED) {
        run.report->interrupted = true;
        pd_err_set(err, PD_ECANCELED, "diff interrupted before every source was compared");
        goto out;
    }
    if (rc != PD_OK)
        goto out;

    int64_t t_sweeps = pd_monotonic_ns();
    rc = pd_collect_sweeps(&run);
    if (rc == PD_OK)
        rc = pd_diff_report_finish(run.report);
    run.report->timings.sweeps_ms = (double)(pd_monotonic_ns() - t_sweeps) / 1e6;
    run.report->timings.collect_ms = (double)run.fold_ns / 1e6;
    run.report->timings.wait_ms = (double)run.driver.wait_ns / 1e6;
    run.report->timings.total_ms = (double)(pd_monotonic_ns() - t_start) / 1e6;
    if (rc != PD_OK)
        pd_err_set(err, rc, "out of memory building the report");

out:
    if (run.pool != NULL)
        pd_pool_destroy(run.pool);
    pd_run_providers_close(&run.providers);
    pd_arena_free(discovery);
    if (run.sets_ready) {
        pd_strset_free(&run.cut);
        pd_strset_free(&run.disk_names);
    }
    free(run.visited);
    free(run.path_parsed);
    free(run.compared);
    free(run.missing);
    free(run.same_bytes);
    pd_json_parser_free(run.collector_json);
    pd_snapshot_free(run.snapshot);
    pd_archive_close(archive);
    if (rc == PD_OK || rc == PD_ECANCELED) {
        *out = run.report;
    } else {
        pd_diff_report_free(run.report);
    }
    return rc;
}
