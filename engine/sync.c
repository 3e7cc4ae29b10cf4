/*
 * sync.c -- `parsediff sync`: parse every source and write the archive.
 *
 * Call order: pd_engine_sync() on the main thread. It opens the archive for
 * writing, takes one snapshot of the sessions table, opens the providers'
 * shared state, and streams discovered sources to the worker pool. Each
 * worker decides what a source needs (nothing, an incremental append, or a
 * full parse), does the reading, hashing, parsing and normalising, and hands
 * the job back. The main thread is the only writer. It writes many sources
 * per transaction (see "batches" below) and each source's rows in full or
 * not at all, so an interrupted run leaves every session either at its old
 * state or at its new one.
 *
 * Decisions, per source (rows = stored rows of this agent with this path):
 *   - unchanged: every row has the current size, mtime (Codex: the
 *     index-folded mtime, or a transcript mtime not newer than stored),
 *     inode and device, data version >= PD_DATA_VERSION, and the stored
 *     SHA-256 equals the file's; for Codex also the index title equals the
 *     stored session_name. Nothing is parsed or written.
 *   - incremental: exactly one row, the file only grew, and the SHA-256 of
 *     the bytes [0, stored file_size) equals the stored hash. Only complete
 *     appended lines are parsed and appended. The provider may still ask for
 *     a full parse (PD_EFALLBACK).
 *   - full: everything else. Every row of each parsed session is replaced.
 *
 * Threading: workers read the snapshot and the providers' shared state, which
 * stay constant during the run, and load stored rows through their own
 * read-only archive connection. Only the main thread writes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/archive.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/normalize.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "engine/driver.h"
#include "engine/engine_internal.h"
#include "parsers/codex.h"
#include "parsers/jsonl.h"

typedef enum sync_action {
    SYNC_FAILED = 0,
    SYNC_UNCHANGED,
    SYNC_NOTHING_NEW, /* incremental candidate with no complete appended line */
    SYNC_FULL,
    SYNC_INCREMENTAL,
    SYNC_VANISHED,      /* gone between discovery and the read */
    SYNC_BEING_WRITTEN, /* a .zst that a compressor is still writing (see job_fail()) */
} sync_action;

typedef struct sync_run sync_run;

typedef struct sync_job {
    sync_run *run;
    pd_job_source js;
    pd_arena *arena;

    sync_action action;
    bool title_refresh;
    bool shrunk; /* the file is shorter than its stored file_size */
    size_t n_kept_out; /* of the sessions, those the archive keeps out (trashed, excluded) */
    int64_t pins_dropped; /* agentsview pins the write could not put back */
    /* Offset of the unfinished last line when it contains NUL bytes (damage), else -1. */
    int64_t nul_tail;
    /* Offset of the first NUL byte of a fully parsed file with malformed lines, else -1. */
    int64_t first_nul;
    int64_t stored_size, now_size;
    char *error; /* SYNC_FAILED: "path: reason" */

    pd_session *sessions; /* SYNC_FULL: normalised sessions */
    size_t n_sessions;
    char **excluded; /* SYNC_FULL: ids the parser excludes */
    size_t n_excluded;
    size_t n_tombstoned;  /* SYNC_FULL: fork rows marked deleted by the write */
    pd_session *delta;    /* SYNC_INCREMENTAL */
    pd_incr_update upd;
} sync_job;

/*
 * Written jobs whose transaction is still open. Their counts and warnings
 * wait for the commit, so the summary speaks only of committed writes.
 */
typedef struct sync_batch {
    bool open;          /* the writer's transaction is open */
    int64_t started_ns; /* when it began */
    sync_job **jobs;
    size_t n, cap;
    size_t bytes; /* arena bytes of the jobs held */
} sync_batch;

struct sync_run {
    pd_engine *engine;
    const pd_sync_options *opts;
    int64_t started_wall; /* wall clock (ns) when the run began */
    pd_archive *writer;
    pd_snapshot *snapshot;
    pd_run_providers providers;
    pd_sync_stats *stats;
    pd_driver driver;
    pd_pool *pool;
    pd_err *err;
    int64_t done;
    bool counting;    /* discovery is still finding sources (for the progress callback) */
    int64_t expected; /* stored sources of the run's agents, for the progress callback */
    pd_read_ahead read_ahead;
    bool stopped; /* the archive cannot be written: later jobs are not written */
    pd_keyset ids_written; /* ids of the full writes of this run */
    pd_keyset copy_ids;    /* ids counted as written from another copy */
    pd_keyset alias_ids;   /* ids counted as written from another name of the same file */
    pd_keyset differing_ids; /* of those, ids counted as having copies that differ */
    bool copies_unchecked; /* set when ids_written ran out of memory, which ends the check */
    sync_batch batch;
};

static int sync_worker_init(void *user, void **ctx)
{
    sync_run *run = user;
    return pd_worker_open(run->engine->cfg.db_path, run->engine->cfg.cancel, (pd_worker **)ctx);
}

static void sync_worker_fini(void *user, void *ctx)
{
    (void)user;
    pd_worker_close(ctx);
}

/* read is the source as read, for a failed read, or NULL. */
static void job_fail(sync_job *job, const pd_err *err, int rc, const char *what,
                     const pd_source_buf *read)
{
    /* An agent that renames or deletes a transcript after discovery is no failure. */
    if (rc == PD_ENOENT) {
        job->action = SYNC_VANISHED;
        return;
    }
    /* Its stored rows stay as they are, and the next sync reads the finished file. */
    if (rc == PD_EZSTD_CUT && read != NULL &&
        pd_zst_being_written(job->js.src.path, read->file_size, read->mtime_ns,
                             job->run->started_wall)) {
        job->action = SYNC_BEING_WRITTEN;
        return;
    }
    job->action = SYNC_FAILED;
    if (err != NULL && err->code != PD_OK && err->msg[0] != '\0')
        job->error = pd_arena_strdup(job->arena, err->msg);
    else
        job->error = pd_arena_sprintf(job->arena, "%s: %s: %s", job->js.src.path, what,
                                      pd_strerror(rc));
}

static bool same_identity(int64_t stored, int64_t now)
{
    /* Unknown (NULL) identity never forces a rewrite by itself. */
    return stored == PD_INT_NULL || now == 0 || stored == now;
}

/* SHA-256 of the bytes the hash columns describe: raw on-disk bytes. */
static int hash_source(const sync_job *job, const pd_source_buf *buf, int64_t limit,
                       char hex[PD_SHA256_HEX_LEN + 1])
{
    if (buf->compressed)
        return pd_sha256_file(job->js.src.path, limit, hex);
    size_t n = limit < 0 || (size_t)limit > buf->len ? buf->len : (size_t)limit;
    return pd_sha256_hex(buf->data, n, hex);
}

/* Codex only: true when the title index names a title other than the stored one. */
static bool codex_title_changed(const sync_job *job, void *shared, const pd_stored_row *row)
{
    if (strcmp(job->js.provider->name, "codex") != 0)
        return false;
    char uuid[37];
    if (!pd_codex_uuid_from_path(job->js.src.path, uuid))
        return false;
    const char *title = NULL;
    bool present = false;
    if (pd_codex_index_title(shared, uuid, &title, &present) != PD_OK || !present)
        return false;
    size_t start, len;
    pd_text_trim_span(title, strlen(title), &start, &len);
    const char *stored = row->session_name != NULL ? row->session_name : "";
    return strlen(stored) != len || memcmp(stored, title + start, len) != 0;
}

static int64_t effective_mtime(const sync_job *job, void *shared, int64_t transcript_mtime)
{
    const pd_provider *p = job->js.provider;
    if (p->effective_mtime == NULL)
        return transcript_mtime;
    return p->effective_mtime(shared, job->js.src.path, transcript_mtime);
}

static int parse_full(sync_job *job, pd_worker *w, void *shared, const pd_source_buf *buf,
                      pd_err *err)
{
    char hex[PD_SHA256_HEX_LEN + 1];
    int rc = hash_source(job, buf, -1, hex);
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: cannot hash the file", job->js.src.path);

    pd_parse_request req = {
        .path = job->js.src.path,
        .root = job->js.src.root,
        .machine = job->run->engine->cfg.machine,
        .project_hint = job->js.src.project_hint,
        .src = buf,
        .incr = NULL,
        .shared = shared,
        .json = w->json,
        .arena = job->arena,
    };
    pd_parse_result res = {0};
    rc = job->js.provider->parse(&req, &res, err);
    if (rc == PD_OK)
        rc = pd_keep_sessions_with_messages(&res, job->js.src.path, buf, err);
    if (rc != PD_OK)
        return rc;
    job->nul_tail = pd_source_nul_tail(buf);
    if (res.malformed_lines > 0)
        job->first_nul = pd_source_first_nul(buf);

    char *hash = pd_arena_strdup(job->arena, hex);
    if (hash == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", job->js.src.path);
    for (size_t i = 0; i < res.n_sessions; i++) {
        pd_session *s = &res.sessions[i];
        rc = pd_session_normalize(s, NULL, job->arena);
        if (rc != PD_OK)
            return pd_err_set(err, rc, "%s: cannot normalise session %s", job->js.src.path,
                              s->id != NULL ? s->id : "(no id)");
        s->file_hash = hash;
    }
    /* NOTE: sync does not delete the stored rows of sessions the parser
     * excludes (job->excluded). Such a row stays, and diff reports it as
     * excluded_by_parser. */
    job->sessions = res.sessions;
    job->n_sessions = res.n_sessions;
    job->excluded = res.excluded_ids;
    job->n_excluded = res.n_excluded;
    job->action = SYNC_FULL;
    return PD_OK;
}

static void fill_incr_state(pd_incr_state *st, const pd_stored_row *row, const pd_session *stored)
{
    memset(st, 0, sizeof *st);
    st->offset = row->file_size;
    st->next_ordinal = stored->next_ordinal;
    st->message_count = stored->message_count;
    st->session_id = stored->id;
    st->last_entry_uuid = stored->last_entry_uuid;
    st->claude_linear_parse = stored->claude_linear_parse;
    st->first_message = stored->first_message;
    st->session_name = stored->session_name;
    st->agent_label = stored->agent_label;
    st->entrypoint = stored->entrypoint;
    st->session_kind = stored->session_kind;
    st->started_at = stored->started_at;
    pd_time_ns end;
    if (stored->ended_at != NULL &&
        pd_time_parse(stored->ended_at, strlen(stored->ended_at), &end)) {
        st->ended_at_ns = end;
        st->has_ended_at = true;
    }
    /* A queued prompt's row has no uuid, and a typed one is also marked by its
     * subtype. A row without a uuid counts too when the file's rows have uuids. */
    if (stored->n_messages > 0) {
        const pd_message *last = &stored->messages[stored->n_messages - 1];
        bool file_has_uuids = stored->last_entry_uuid != NULL && stored->last_entry_uuid[0] != '\0';
        bool no_uuid = last->source_uuid == NULL || last->source_uuid[0] == '\0';
        st->last_message_queued =
            no_uuid && ((last->source_subtype != NULL &&
                         strcmp(last->source_subtype, "queued_command") == 0) ||
                        file_has_uuids);
    }
    for (size_t i = stored->n_messages; i > 0; i--) {
        const pd_message *m = &stored->messages[i - 1];
        if (m->claude_message_id != NULL && m->claude_message_id[0] != '\0') {
            st->last_claude_message_id = m->claude_message_id;
            break;
        }
    }
}

/*
 * Claude's ended_at is the latest timestamp of the whole transcript, and
 * timestamps can step backwards, so the tail's latest only wins when it is
 * later than the stored one. Codex's is the last timestamp in file order,
 * which is the tail's.
 */
static const char *incremental_ended_at(const sync_job *job, const pd_session *stored,
                                        const pd_session *delta)
{
    if (strcmp(job->js.provider->name, "claude") != 0 || stored->ended_at == NULL ||
        delta->ended_at == NULL)
        return delta->ended_at;
    pd_time_ns old_t, new_t;
    if (!pd_time_parse(stored->ended_at, strlen(stored->ended_at), &old_t) ||
        !pd_time_parse(delta->ended_at, strlen(delta->ended_at), &new_t))
        return delta->ended_at;
    return new_t > old_t ? delta->ended_at : stored->ended_at;
}

/*
 * Returns true when a Claude append would store what a full write would
 * not. A stored row without a start or end time lost a timestamp outside
 * the archive's years (or its lines had none), and only the whole file
 * gives the bound. An appended call that reuses a stored call's id takes
 * over that call's results, which only a full write can move. *oom is set
 * when memory runs out.
 */
static bool claude_append_diverges(const pd_session *stored, const pd_session *delta, bool *oom)
{
    if (stored->n_messages > 0 && (stored->started_at == NULL || stored->ended_at == NULL))
        return true;

    bool any_id = false;
    for (size_t i = 0; i < delta->n_messages && !any_id; i++)
        for (size_t c = 0; c < delta->messages[i].n_tool_calls; c++)
            any_id = any_id || delta->messages[i].tool_calls[c].tool_use_id != NULL;
    if (!any_id)
        return false;

    pd_strset ids;
    pd_strset_init(&ids);
    bool clash = false;
    for (size_t i = 0; i < stored->n_messages && !*oom; i++) {
        const pd_message *m = &stored->messages[i];
        for (size_t c = 0; c < m->n_tool_calls; c++) {
            const char *id = m->tool_calls[c].tool_use_id;
            if (id != NULL && id[0] != '\0' && pd_strset_add(&ids, id) < 0)
                *oom = true;
        }
    }
    for (size_t i = 0; i < delta->n_messages && !clash && !*oom; i++) {
        const pd_message *m = &delta->messages[i];
        for (size_t c = 0; c < m->n_tool_calls; c++) {
            const char *id = m->tool_calls[c].tool_use_id;
            clash = clash || (id != NULL && id[0] != '\0' && pd_strset_has(&ids, id));
        }
    }
    pd_strset_free(&ids);
    return clash;
}

/*
 * Tries the incremental path. Returns PD_OK with job->action set, PD_EFALLBACK
 * when a full parse is needed, or an error.
 */
static int parse_incremental(sync_job *job, pd_worker *w, void *shared, const pd_source_buf *buf,
                             const pd_stored_row *row, pd_err *err)
{
    /* The stored size must end a line: a full write of a file whose last line
     * was still being written stores the raw size, and parsing from there
     * would start inside that line and lose it. */
    if ((size_t)row->file_size > buf->len || buf->data[row->file_size - 1] != '\n')
        return PD_EFALLBACK;

    char prefix[PD_SHA256_HEX_LEN + 1], stored_hex[PD_SHA256_HEX_LEN + 1];
    int rc = hash_source(job, buf, row->file_size, prefix);
    if (rc != PD_OK)
        return PD_EFALLBACK;
    pd_sha256_raw_hex(row->file_hash, stored_hex);
    if (strcmp(prefix, stored_hex) != 0)
        return PD_EFALLBACK;

    pd_session stored;
    bool found = false;
    rc = pd_archive_load_session(w->reader, row->id, row->rowid, job->arena, &stored, &found, err);
    if (rc != PD_OK)
        return rc;
    /* Another sync may have written the row since the snapshot. */
    if (!found || stored.file_size != row->file_size)
        return PD_EFALLBACK;

    pd_incr_state st;
    fill_incr_state(&st, row, &stored);
    pd_parse_request req = {
        .path = job->js.src.path,
        .root = job->js.src.root,
        .machine = job->run->engine->cfg.machine,
        .project_hint = job->js.src.project_hint,
        .src = buf,
        .incr = &st,
        .shared = shared,
        .json = w->json,
        .arena = job->arena,
    };
    pd_parse_result res = {0};
    pd_err perr = {0};
    rc = job->js.provider->parse(&req, &res, &perr);
    if (rc == PD_EFALLBACK)
        return PD_EFALLBACK;
    if (rc != PD_OK) {
        /* The full parse reports the problem with its own context. */
        PD_LOG(PD_LOG_DEBUG, "%s: incremental parse failed (%s); trying a full parse",
               job->js.src.path, perr.msg);
        return PD_EFALLBACK;
    }
    /* Appended lines that are complete but not JSON records are damage. A full
     * parse counts them in parser_malformed_lines and names the file. An
     * unfinished last line is a write in progress. */
    bool claude = strcmp(job->js.provider->name, "claude") == 0;
    if (res.malformed_lines - (res.malformed_cut_tail ? 1 : 0) > 0)
        return PD_EFALLBACK;
    if (res.consumed <= row->file_size || res.n_sessions == 0) {
        /* A Claude transcript is stored to its end, so a full write takes a
         * damaged tail in and reports it once. A Codex rollout is stored to
         * its last complete line, so the tail is reported on every run. */
        job->nul_tail = pd_source_nul_tail(buf);
        if (job->nul_tail >= 0 && claude)
            return PD_EFALLBACK;
        job->action = SYNC_NOTHING_NEW;
        return PD_OK;
    }

    pd_session *delta = &res.sessions[0];
    /* The append keeps the stored end time where a full write would blank it. */
    if (pd_timestamp_blanked(delta->ended_at))
        return PD_EFALLBACK;
    rc = pd_session_normalize(delta, NULL, job->arena);
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: cannot normalise the appended messages", job->js.src.path);
    if (strcmp(job->js.provider->name, "claude") == 0) {
        bool oom = false;
        if (claude_append_diverges(&stored, delta, &oom))
            return PD_EFALLBACK;
        if (oom)
            return pd_err_set(err, PD_ENOMEM, "%s: out of memory", job->js.src.path);
    }

    char hex[PD_SHA256_HEX_LEN + 1];
    rc = hash_source(job, buf, res.consumed, hex);
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: cannot hash the consumed prefix", job->js.src.path);

    job->delta = delta;
    job->upd.session_id = row->id;
    job->upd.base_file_size = row->file_size;
    job->upd.base_next_ordinal = stored.next_ordinal;
    job->upd.base_file_path = row->file_path;
    job->upd.base_file_hash = pd_arena_strdup(job->arena, stored_hex);
    job->upd.file_size = res.consumed;
    job->upd.file_mtime = effective_mtime(job, shared, buf->mtime_ns);
    job->upd.file_hash = pd_arena_strdup(job->arena, hex);
    job->upd.ended_at = incremental_ended_at(job, &stored, delta);
    /* Claude's incremental writes always store an unknown termination status;
     * the next full parse computes it from the whole transcript. */
    job->upd.termination_status =
        strcmp(job->js.provider->name, "claude") == 0 ? NULL : delta->termination_status;
    if (job->upd.file_hash == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: out of memory", job->js.src.path);
    job->action = SYNC_INCREMENTAL;
    return PD_OK;
}

static void sync_job_run(void *user, void *ctx, void *job_)
{
    sync_run *run = user;
    pd_worker *w = ctx;
    sync_job *job = job_;
    void *shared = run->providers.shared[job->js.provider_index];
    const char *path = job->js.src.path;
    pd_err err = {0};
    pd_source_buf buf = {0};
    int rc;

    pd_stat_info st;
    if (pd_stat_path(path, &st) != PD_OK) {
        int code = errno == ENOENT ? PD_ENOENT : PD_EIO;
        pd_err_set(&err, code, "%s: cannot stat: %s", path, strerror(errno));
        job_fail(job, &err, code, "cannot stat", NULL);
        return;
    }

    /* Stored rows of this agent for this path. */
    const size_t *idx = NULL;
    size_t n_idx = pd_snapshot_find_path(run->snapshot, path, &idx);
    const pd_stored_row *rows[64];
    size_t n_rows = 0;
    for (size_t i = 0; i < n_idx && n_rows < 64; i++) {
        const pd_stored_row *r = pd_snapshot_row(run->snapshot, idx[i]);
        if (r->agent != NULL && strcmp(r->agent, job->js.provider->name) == 0 && !r->is_trashed)
            rows[n_rows++] = r;
    }

    bool force = run->opts != NULL && run->opts->force_full;
    int64_t eff_mtime = effective_mtime(job, shared, st.mtime_ns);
    if (n_rows > 0 && rows[0]->file_size != PD_INT_NULL && st.size < rows[0]->file_size) {
        job->shrunk = true;
        job->stored_size = rows[0]->file_size;
        job->now_size = st.size;
    }

    if (!force && n_rows > 0) {
        bool stat_fresh = true;
        for (size_t i = 0; i < n_rows && stat_fresh; i++) {
            const pd_stored_row *r = rows[i];
            bool mtime_ok = r->file_mtime == eff_mtime ||
                            (job->js.provider->live_mtime_rule == PD_LIVE_MTIME_TRANSCRIPT &&
                             r->file_mtime != PD_INT_NULL && st.mtime_ns <= r->file_mtime);
            stat_fresh = r->file_size == st.size && mtime_ok && r->has_hash &&
                         r->data_version >= PD_DATA_VERSION &&
                         same_identity(r->file_inode, st.inode) &&
                         same_identity(r->file_device, st.device);
        }
        if (stat_fresh) {
            rc = pd_read_ahead_source(&run->read_ahead, path, &buf, &err);
            if (rc != PD_OK) {
                job_fail(job, &err, rc, "cannot read", &buf);
                return;
            }
            char hex[PD_SHA256_HEX_LEN + 1], stored_hex[PD_SHA256_HEX_LEN + 1];
            bool same = hash_source(job, &buf, -1, hex) == PD_OK;
            for (size_t i = 0; i < n_rows && same; i++) {
                pd_sha256_raw_hex(rows[i]->file_hash, stored_hex);
                same = strcmp(hex, stored_hex) == 0;
            }
            if (same && n_rows == 1 && codex_title_changed(job, shared, rows[0])) {
                job->title_refresh = true;
                same = false;
            }
            if (same) {
                job->action = SYNC_UNCHANGED;
                pd_source_buf_free(&buf);
                return;
            }
        }

        const pd_stored_row *r = rows[0];
        bool incr_candidate = job->js.provider->incremental && n_rows == 1 && r->file_size > 0 &&
                              r->file_size != PD_INT_NULL && r->message_count > 0 && r->has_hash &&
                              r->data_version >= PD_DATA_VERSION && st.size > r->file_size &&
                              same_identity(r->file_inode, st.inode) &&
                              same_identity(r->file_device, st.device) &&
                              !pd_source_is_zst(path) && !job->title_refresh &&
                              !codex_title_changed(job, shared, r);
        if (incr_candidate) {
            if (buf.data == NULL) {
                rc = pd_read_ahead_source(&run->read_ahead, path, &buf, &err);
                if (rc != PD_OK) {
                    job_fail(job, &err, rc, "cannot read", &buf);
                    return;
                }
            }
            rc = parse_incremental(job, w, shared, &buf, r, &err);
            if (rc == PD_OK) {
                pd_source_buf_free(&buf);
                return;
            }
            if (rc != PD_EFALLBACK) {
                job_fail(job, &err, rc, "incremental parse failed", NULL);
                pd_source_buf_free(&buf);
                return;
            }
            pd_err_clear(&err);
        }
    }

    if (buf.data == NULL) {
        rc = pd_read_ahead_source(&run->read_ahead, path, &buf, &err);
        if (rc != PD_OK) {
            job_fail(job, &err, rc, "cannot read", &buf);
            return;
        }
    }
    rc = parse_full(job, w, shared, &buf, &err);
    if (rc != PD_OK)
        job_fail(job, &err, rc, "parse failed", NULL);
    pd_source_buf_free(&buf);
}

/* ---- writer side (main thread) ---------------------------------------------- */

/* Counts a failed file and keeps its message for the summary. */
static void record_error_quietly(sync_run *run, const char *path, const char *message)
{
    pd_sync_stats *stats = run->stats;
    stats->files_failed++;
    pd_sync_error *grown = realloc(stats->errors, (stats->n_errors + 1) * sizeof *grown);
    if (grown == NULL)
        return;
    stats->errors = grown;
    grown[stats->n_errors].path = strdup(path);
    grown[stats->n_errors].message = strdup(message != NULL ? message : "unknown error");
    stats->n_errors++;
}

/*
 * Records a failed file like record_error_quietly() and warns at once. The
 * summary lists the failure again, but a run killed before its summary
 * (a CI timeout's SIGKILL) leaves only this line.
 */
static void record_error(sync_run *run, const char *path, const char *message)
{
    record_error_quietly(run, path, message);
    PD_LOG(PD_LOG_WARN, "%s", message != NULL ? message : path);
}

/* True when job's parse emitted or excluded a session with this id. */
static bool job_accounts_for(const sync_job *job, const char *id)
{
    for (size_t i = 0; i < job->n_sessions; i++) {
        if (job->sessions[i].id != NULL && strcmp(job->sessions[i].id, id) == 0)
            return true;
    }
    for (size_t i = 0; i < job->n_excluded; i++) {
        if (job->excluded[i] != NULL && strcmp(job->excluded[i], id) == 0)
            return true;
    }
    return false;
}

/*
 * Marks deleted (source_missing) the stored Claude forks of job's transcript
 * that its full parse no longer finds: a later line turned the transcript
 * linear, or it was cut back. The reference marks only forks of an older
 * data version this way and keeps the rest for good, so diff would report
 * them as changed after every sync. A transcript without any session keeps
 * its rows, as sync writes nothing for it.
 */
static int tombstone_lost_forks(sync_run *run, sync_job *job, pd_err *err)
{
    /* NOTE: a fork whose row names this file is marked even when an unchanged
     * copy of the transcript elsewhere still contains it, because sync does
     * not read that copy again until it changes. diff then skips the fork. */
    job->n_tombstoned = 0;
    if (job->n_sessions == 0 || strcmp(job->js.provider->name, "claude") != 0)
        return PD_OK;
    const size_t *idx;
    size_t n = pd_snapshot_find_path(run->snapshot, job->js.src.path, &idx);
    for (size_t i = 0; i < n; i++) {
        const pd_stored_row *row = pd_snapshot_row(run->snapshot, idx[i]);
        if (!pd_row_is_local_fork(row) || job_accounts_for(job, row->id))
            continue;
        bool marked = false;
        /* The row's own file_path, which the archive stores sanitised. */
        int rc = pd_archive_tombstone(run->writer, row->id, row->file_path, &marked, err);
        if (rc != PD_OK)
            return rc;
        if (marked)
            job->n_tombstoned++;
    }
    return PD_OK;
}

/* Writes the rows of job inside the caller's transaction. */
static int write_rows(sync_run *run, sync_job *job, pd_err *err)
{
    int rc = PD_OK;
    if (job->action == SYNC_FULL) {
        /* A batch that failed writes its jobs again, so the count starts over. */
        job->n_kept_out = 0;
        job->pins_dropped = 0;
        for (size_t i = 0; i < job->n_sessions && rc == PD_OK; i++) {
            pd_write_outcome outcome = PD_WRITE_DONE;
            rc = pd_archive_write_session(run->writer, &job->sessions[i], &outcome, err);
            if (rc == PD_OK && outcome != PD_WRITE_DONE)
                job->n_kept_out++;
            job->pins_dropped += pd_archive_pins_dropped(run->writer);
        }
        if (rc == PD_OK)
            rc = tombstone_lost_forks(run, job, err);
    } else {
        rc = pd_archive_write_incremental(run->writer, &job->upd, job->delta, err);
    }
    return rc;
}

/* Writes job in a transaction of its own. */
static int write_job(sync_run *run, sync_job *job, pd_err *err)
{
    int rc = pd_archive_begin(run->writer, err);
    if (rc != PD_OK)
        return rc;
    rc = write_rows(run, job, err);
    if (rc == PD_OK)
        rc = pd_archive_commit(run->writer, err);
    if (rc != PD_OK)
        pd_archive_rollback(run->writer);
    return rc;
}

/*
 * True when the file row names and the file s was written from are known
 * to differ now: their sizes differ, or the row still has its file's size
 * and a hash other than the written one. A row older than its file (the
 * transcript grew since) proves nothing about equal sizes.
 */
static bool copies_differ(const pd_stored_row *row, const pd_session *s)
{
    /* A compressed copy is compared by its text (zstd keeps FILE beside FILE.zst). */
    if (pd_source_is_zst(row->file_path) || pd_source_is_zst(s->file_path))
        return pd_source_texts_differ(row->file_path, s->file_path);
    pd_stat_info st;
    if (pd_stat_path(row->file_path, &st) != PD_OK || s->file_size == PD_INT_NULL)
        return false;
    if (st.size != s->file_size)
        return true;
    if (row->file_size != st.size || !row->has_hash || s->file_hash == NULL ||
        strlen(s->file_hash) != 64)
        return false;
    return !pd_row_hash_is(row, s->file_hash);
}

/* Replaces the malloc'd string in *slot with a copy of s, or keeps it when memory runs out. */
static void replace_string(char **slot, const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        return;
    free(*slot);
    *slot = copy;
}

/* Adds path to the two smallest distinct paths in *first and *second (either may be NULL). */
static void keep_smallest_paths(char **first, char **second, const char *path)
{
    if (*first != NULL && strcmp(path, *first) == 0)
        return;
    if (*second != NULL && strcmp(path, *second) == 0)
        return;
    if (*first == NULL || strcmp(path, *first) < 0) {
        if (*first != NULL) {
            free(*second);
            *second = *first;
            *first = NULL;
        }
        replace_string(first, path);
    } else if (*second == NULL || strcmp(path, *second) < 0) {
        replace_string(second, path);
    }
}

static void example_free(pd_sync_example *ex)
{
    free(ex->id);
    free(ex->first_path);
    free(ex->second_path);
    *ex = (pd_sync_example){0};
}

/*
 * Records files a and b of session id in ex (see pd_sync_example). Every
 * file of the session a warning names is seen in some pair, so the two
 * smallest paths kept are the same at any thread count.
 */
static void keep_example(pd_sync_example *ex, const char *id, const char *a, const char *b)
{
    int order = ex->id != NULL ? strcmp(id, ex->id) : -1;
    if (order > 0)
        return;
    if (order < 0) {
        example_free(ex);
        ex->id = strdup(id);
        if (ex->id == NULL)
            return;
    }
    keep_smallest_paths(&ex->first_path, &ex->second_path, a);
    keep_smallest_paths(&ex->first_path, &ex->second_path, b);
}

/*
 * Records the pair (a, b) of session id in ex when it sorts before the pair
 * kept, so that the example is a pair that was compared. Unlike
 * keep_example(), paths of different pairs are never mixed.
 */
static void keep_pair_example(pd_sync_example *ex, const char *id, const char *a, const char *b)
{
    const char *low = strcmp(a, b) <= 0 ? a : b;
    const char *high = low == a ? b : a;
    if (ex->id != NULL) {
        int order = strcmp(id, ex->id);
        if (order == 0 && ex->first_path != NULL && ex->second_path != NULL) {
            order = strcmp(low, ex->first_path);
            if (order == 0)
                order = strcmp(high, ex->second_path);
        }
        if (order >= 0)
            return;
    }
    pd_sync_example candidate = {strdup(id), strdup(low), strdup(high)};
    if (candidate.id == NULL || candidate.first_path == NULL || candidate.second_path == NULL) {
        example_free(&candidate);
        return;
    }
    example_free(ex);
    *ex = candidate;
}

/* Counts session s once, written from its file while the row's file, another copy, exists. */
static void count_other_copy(sync_run *run, const pd_provider *p, const pd_stored_row *row,
                             const pd_session *s)
{
    struct stat other;
    /* An emptied file gives no session, so it is no copy. */
    if (row->file_path == NULL || strcmp(row->file_path, s->file_path) == 0 ||
        stat(row->file_path, &other) != 0 || !S_ISREG(other.st_mode) || other.st_size == 0)
        return;
    pd_sync_stats *stats = run->stats;
    /* Each set counts a session once. A keyset out of memory only drops the count. */
    if (pd_same_file(row->file_path, s->file_path)) {
        /* One file under two names, as through a root given through a link. This comes
         * before the dedupe key, which two names of one Codex rollout share. */
        if (pd_keyset_add(&run->alias_ids, s->id) == 1)
            stats->sessions_under_two_names++;
        keep_example(&stats->alias_example, s->id, row->file_path, s->file_path);
        return;
    }
    /* Discovery left the stored file out for this one, and warns about that itself. The
     * row then stays with this file, so it does not move from copy to copy. */
    if (p->same_dedupe_key != NULL && p->same_dedupe_key(row->file_path, s->file_path))
        return;
    /* Each pair is compared: with three copies, the pair counted first may be equal. */
    if (copies_differ(row, s)) {
        if (pd_keyset_add(&run->differing_ids, s->id) == 1)
            stats->copies_differing++;
        keep_pair_example(&stats->differing_example, s->id, s->file_path, row->file_path);
    }
    if (pd_keyset_add(&run->copy_ids, s->id) == 1)
        stats->sessions_from_other_copy++;
    keep_example(&stats->copy_example, s->id, row->file_path, s->file_path);
}

/*
 * Counts the sessions of a full write whose row names another file that
 * still exists: the stored row when the run began, or the row an earlier
 * job of this run wrote. With two copies of a transcript under the roots,
 * the row moves to the other copy on every sync. Runs before the write,
 * while the row still names the other copy. The check is best effort: out
 * of memory ends it, not the sync.
 */
static void note_other_copies(sync_run *run, sync_job *job)
{
    for (size_t i = 0; i < job->n_sessions && !run->copies_unchecked; i++) {
        const pd_session *s = &job->sessions[i];
        if (s->id == NULL || s->file_path == NULL)
            continue;
        int added = pd_keyset_add(&run->ids_written, s->id);
        if (added < 0) {
            run->copies_unchecked = true;
            return;
        }
        if (added == 1) {
            const pd_stored_row *row = pd_snapshot_find_id(run->snapshot, s->id);
            if (row != NULL)
                count_other_copy(run, job->js.provider, row, s);
            continue;
        }
        /* An earlier job of this run wrote this id: read the row it left. */
        pd_stored_row row;
        bool found = false;
        pd_err ignored = {0};
        if (pd_archive_load_row(run->writer, s->id, &row, job->arena, &found, &ignored) == PD_OK &&
            found)
            count_other_copy(run, job->js.provider, &row, s);
    }
}

/*
 * Warns about a transcript shorter than when it was stored (a crash or a
 * full disk cut it, or it was emptied). The full write that follows stores
 * what is left, or, when nothing is left, keeps the stored sessions.
 */
static void warn_shrunk(const sync_job *job)
{
    if (!job->shrunk)
        return;
    if (job->n_sessions > 0)
        PD_LOG(PD_LOG_WARN,
               "%s: the file is shorter than when it was stored (%lld bytes, now %lld), so its "
               "sessions were rewritten from what is left",
               job->js.src.path, (long long)job->stored_size, (long long)job->now_size);
    else
        PD_LOG(PD_LOG_WARN,
               "%s: the file is shorter than when it was stored (%lld bytes, now %lld) and holds "
               "no session now, so the archive keeps the stored ones",
               job->js.src.path, (long long)job->stored_size, (long long)job->now_size);
}

/* Warns about a file whose unfinished last line contains NUL bytes, and counts it. */
static void warn_nul_tail(sync_run *run, const sync_job *job)
{
    run->stats->files_with_malformed_lines++;
    /* The offset is one of the decompressed text, which a cut of the file would not match. */
    if (pd_source_is_zst(job->js.src.path)) {
        PD_LOG(
            PD_LOG_WARN,
            "%s: its text, once decompressed, ends in an unfinished line that contains NUL bytes "
            "from byte %lld on, which no agent writes (a crash can leave them); the sessions "
            "were stored from the lines before it. Restore the file from a copy",
            job->js.src.path, (long long)job->nul_tail);
        return;
    }
    PD_LOG(PD_LOG_WARN,
           "%s: its unfinished last line, from byte %lld on, contains NUL bytes, which no agent "
           "writes (a crash can leave them); the sessions were stored from the lines before it. "
           "Cut the file there (truncate -s %lld FILE) or restore it from a copy",
           job->js.src.path, (long long)job->nul_tail, (long long)job->nul_tail);
}

/*
 * Warns about a fully parsed file whose sessions left out malformed lines,
 * and counts it. A cut last line alone (a truncated session) is not
 * counted, because a live agent leaves one in the middle of a write,
 * unless it contains NUL bytes.
 */
static void warn_malformed(sync_run *run, const sync_job *job)
{
    if (job->nul_tail >= 0) {
        warn_nul_tail(run, job);
        return;
    }
    int64_t damaged = 0;
    for (size_t i = 0; i < job->n_sessions; i++) {
        const pd_session *s = &job->sessions[i];
        int64_t beyond_cut = s->parser_malformed_lines - (s->is_truncated ? 1 : 0);
        if (beyond_cut > damaged)
            damaged = beyond_cut;
    }
    if (damaged <= 0)
        return;
    run->stats->files_with_malformed_lines++;
    if (job->first_nul >= 0 && !pd_source_is_zst(job->js.src.path))
        PD_LOG(
            PD_LOG_WARN,
            "%s: %lld malformed line%s left out, and the sessions were stored from the other "
            "lines. The file contains NUL bytes from byte %lld on, which no agent writes (a crash "
            "can leave them), so a record written after them on the same line was lost too: "
            "remove them (tr -d '\\000' < FILE > FIXED, then replace FILE with FIXED) or "
            "restore the file from a copy",
            job->js.src.path, (long long)damaged, damaged == 1 ? "" : "s",
            (long long)job->first_nul);
    else
        PD_LOG(PD_LOG_WARN,
               "%s: %lld malformed line%s left out (not a JSON record: a line cut short or "
               "overwritten); the sessions were stored from the other lines",
               job->js.src.path, (long long)damaged, damaged == 1 ? "" : "s");
}

static void job_free(sync_job *job)
{
    pd_arena_free(job->arena);
    free(job);
}

/* Counts a job whose rows were committed. */
static void count_written(sync_run *run, const sync_job *job)
{
    pd_sync_stats *stats = run->stats;
    stats->files_parsed++;
    if (job->action == SYNC_FULL) {
        stats->sessions_full += (int64_t)(job->n_sessions - job->n_kept_out);
        stats->sessions_kept_out += (int64_t)job->n_kept_out;
        /* Warned here, after the commit, because a failed batch writes its jobs again. */
        if (job->pins_dropped > 0)
            PD_LOG(PD_LOG_WARN,
                   "%s: %lld pinned message%s no longer in the transcript, so %s pin%s dropped",
                   job->js.src.path, (long long)job->pins_dropped,
                   job->pins_dropped == 1 ? " is" : "s are",
                   job->pins_dropped == 1 ? "its" : "their",
                   job->pins_dropped == 1 ? " was" : "s were");
        stats->forks_tombstoned += (int64_t)job->n_tombstoned;
        for (size_t i = 0; i < job->n_sessions; i++)
            stats->sessions_needing_retry += job->sessions[i].needs_retry;
        warn_shrunk(job);
        warn_malformed(run, job);
    } else {
        stats->sessions_incremental++;
    }
    if (job->title_refresh)
        stats->titles_refreshed++;
}

/*
 * Counts the outcome wrc of writing job. Once a write fails in a way that
 * every later write would share (a full disk, a read-only archive), the
 * run stops: the error goes to run->err and is returned, and later jobs
 * are counted as not written.
 */
static int count_outcome(sync_run *run, sync_job *job, int wrc, const pd_err *werr)
{
    if (wrc == PD_ESTALE) {
        /* Another sync appended to this session since this one read it.
         * Its write is kept, and the next sync continues from there. */
        PD_LOG(PD_LOG_INFO, "%s", werr->msg);
        run->stats->files_written_meanwhile++;
        return PD_OK;
    }
    if (wrc == PD_ECANCELED) {
        /* An interrupt ended a wait for another writer's lock. Nothing of
         * this job was written, and the run stops as interrupted. */
        PD_LOG(PD_LOG_INFO, "%s", werr->msg);
        run->stopped = true;
        run->stats->files_not_written++;
        return PD_OK;
    }
    if (wrc != PD_OK) {
        char *msg =
            pd_arena_sprintf(job->arena, "%s: not written: %s", job->js.src.path, werr->msg);
        /* A full disk or a read-only archive fails every later write
         * too: stop with one error, not a warning per remaining file. */
        run->stopped = pd_archive_cannot_write(run->writer);
        if (run->stopped)
            record_error_quietly(run, job->js.src.path, msg != NULL ? msg : werr->msg);
        else
            record_error(run, job->js.src.path, msg != NULL ? msg : werr->msg);
        if (run->stopped)
            return pd_err_set(run->err, werr->code != PD_OK ? werr->code : PD_ESQLITE,
                              "%s; sync stopped there, because every later write would fail the "
                              "same way. %s",
                              werr->msg,
                              run->stats->files_parsed > 0 ? "The files written before are complete"
                                                           : "No file was written");
        return PD_OK;
    }
    count_written(run, job);
    return PD_OK;
}

/* Writes job in a transaction of its own and counts the outcome. */
static int write_alone(sync_run *run, sync_job *job)
{
    if (run->stopped) {
        run->stats->files_not_written++;
        return PD_OK;
    }
    pd_err werr = {0};
    int wrc = write_job(run, job, &werr);
    return count_outcome(run, job, wrc, &werr);
}

/* ---- batches ---------------------------------------------------------------
 *
 * Each transaction writes the WAL frames of every page it changed, and the
 * rows of one transcript touch leaf pages of several indexes keyed by
 * random session ids, so a transaction per source wrote many times the
 * archive's size. A batch is one transaction of up to BATCH_MAX_JOBS
 * sources, committed early once their parsed rows pass BATCH_MAX_BYTES,
 * once the transaction has been open for BATCH_MAX_NS when a job is
 * folded, and whenever the writer would wait for the workers. So a batch
 * grows only while finished jobs are waiting to be written, which is when
 * the writer is the bottleneck, and no lock is held during a long parse.
 *
 * When anything in a batch fails (a write, the commit, or memory), the
 * batch is rolled back and its jobs are written again one transaction
 * each, with the counts, messages and stop of that path. A failure thus
 * costs one source, as it did before batches, and a process killed during
 * a batch loses only writes that the next sync redoes.
 */
#define BATCH_MAX_JOBS 256
#define BATCH_MAX_BYTES ((size_t)32 << 20)
#define BATCH_MAX_NS ((int64_t)1000000000)

/*
 * The writer's page cache keeps the index pages that random session ids
 * touch from one batch to the next, and the larger checkpoint interval
 * copies each page to the database file once for several batches. On a
 * first sync of 100,000 small sessions the two cut the wall time by about a
 * quarter and the bytes written by about a third (BENCHMARKS.md, tenth
 * round). The WAL grows to about 64 MB at 4 KiB pages before a checkpoint.
 */
#define WRITER_CACHE_KIB (64 * 1024)
#define WRITER_CHECKPOINT_PAGES 16000

/* Rolls the batch back and writes its jobs, then extra (may be NULL), one transaction each. */
static int batch_replay(sync_run *run, sync_job *extra)
{
    sync_batch *b = &run->batch;
    if (b->open)
        pd_archive_rollback(run->writer);
    b->open = false;
    int result = PD_OK;
    for (size_t i = 0; i < b->n; i++) {
        int rc = write_alone(run, b->jobs[i]);
        if (result == PD_OK)
            result = rc;
        job_free(b->jobs[i]);
    }
    b->n = 0;
    b->bytes = 0;
    if (extra != NULL) {
        int rc = write_alone(run, extra);
        if (result == PD_OK)
            result = rc;
    }
    return result;
}

/* Commits the open batch and counts its jobs, or replays them when the commit fails. */
static int batch_commit(sync_run *run)
{
    sync_batch *b = &run->batch;
    if (!b->open)
        return PD_OK;
    pd_err ignored = {0};
    if (pd_archive_commit(run->writer, &ignored) != PD_OK)
        return batch_replay(run, NULL);
    b->open = false;
    for (size_t i = 0; i < b->n; i++) {
        count_written(run, b->jobs[i]);
        job_free(b->jobs[i]);
    }
    b->n = 0;
    b->bytes = 0;
    return PD_OK;
}

/* Rolls back and frees a batch left open by a run that failed before its end. */
static void batch_discard(sync_run *run)
{
    sync_batch *b = &run->batch;
    if (b->open)
        pd_archive_rollback(run->writer);
    b->open = false;
    for (size_t i = 0; i < b->n; i++)
        job_free(b->jobs[i]);
    free(b->jobs);
    *b = (sync_batch){0};
}

/* Appends job to the batch's list; false when memory runs out. */
static bool batch_hold(sync_batch *b, sync_job *job)
{
    if (b->n == b->cap) {
        size_t cap = b->cap != 0 ? b->cap * 2 : 64;
        sync_job **grown = realloc(b->jobs, cap * sizeof *grown);
        if (grown == NULL)
            return false;
        b->jobs = grown;
        b->cap = cap;
    }
    b->jobs[b->n++] = job;
    b->bytes += pd_arena_bytes(job->arena);
    return true;
}

/*
 * Writes job in the open batch, beginning one if none is open, and commits
 * the batch once it is full (sync_fold() commits it once it is old). Returns
 * true when the batch contains the job,
 * which is freed at the commit; false when the caller still owns it.
 * *result receives the stop error of count_outcome(), if any.
 */
static bool batch_write(sync_run *run, sync_job *job, int *result)
{
    sync_batch *b = &run->batch;
    if (run->stopped) {
        run->stats->files_not_written++;
        return false;
    }
    pd_err werr = {0};
    if (!b->open) {
        int rc = pd_archive_begin(run->writer, &werr);
        if (rc != PD_OK) {
            /* Nothing is written, and a retry would wait out the busy timeout again. */
            *result = count_outcome(run, job, rc, &werr);
            return false;
        }
        b->open = true;
        b->started_ns = pd_monotonic_ns();
    }
    int rc = write_rows(run, job, &werr);
    if (rc == PD_ESTALE) {
        /* Found before anything was written, and undone by the write's own
         * savepoint, so the batch goes on. */
        *result = count_outcome(run, job, rc, &werr);
        return false;
    }
    if (rc == PD_OK && batch_hold(b, job)) {
        if (b->n >= BATCH_MAX_JOBS || b->bytes >= BATCH_MAX_BYTES)
            *result = batch_commit(run);
        return true;
    }
    *result = batch_replay(run, job);
    return false;
}

static void report_progress(const sync_run *run)
{
    if (run->opts == NULL || run->opts->progress == NULL)
        return;
    pd_progress_info info = {.done = run->done,
                             .found = run->stats->files_discovered,
                             .expected = run->expected,
                             .counting = run->counting};
    run->opts->progress(run->opts->progress_ctx, &info);
}

static int sync_fold(void *ctx, void *job_, bool ran)
{
    sync_run *run = ctx;
    sync_job *job = job_;
    int result = PD_OK;
    bool in_batch = false;

    if (ran) {
        switch (job->action) {
        case SYNC_FAILED:
            record_error(run, job->js.src.path, job->error);
            break;
        case SYNC_VANISHED:
            run->stats->files_vanished++;
            break;
        case SYNC_BEING_WRITTEN:
            run->stats->files_being_written++;
            break;
        case SYNC_UNCHANGED:
            run->stats->files_unchanged++;
            break;
        case SYNC_NOTHING_NEW:
            run->stats->files_unchanged++;
            if (job->nul_tail >= 0)
                warn_nul_tail(run, job);
            break;
        case SYNC_FULL:
        case SYNC_INCREMENTAL: {
            if (job->action == SYNC_FULL)
                note_other_copies(run, job);
            in_batch = batch_write(run, job, &result);
            break;
        }
        }
    }

    /* A job cancelled by an interrupt was not read, so the bar stops where the reading did. */
    if (ran) {
        run->done++;
        report_progress(run);
    }
    if (!in_batch)
        job_free(job);
    /* Every fold commits a batch open too long, so jobs that write nothing (unchanged files,
     * say) cannot keep it open either. */
    if (result == PD_OK && run->batch.open &&
        pd_monotonic_ns() - run->batch.started_ns >= BATCH_MAX_NS)
        result = batch_commit(run);
    return result;
}

/* The driver is about to wait for the workers: commit, so that no lock is held meanwhile. */
static int sync_before_wait(void *ctx)
{
    return batch_commit(ctx);
}

/* Adds delta to the files discovered for agent. */
static void count_discovered(pd_sync_stats *stats, const char *agent, int64_t delta)
{
    const size_t cap = sizeof stats->discovered_by_agent / sizeof stats->discovered_by_agent[0];
    for (size_t i = 0; i < stats->n_agents_discovered; i++) {
        if (strcmp(stats->discovered_by_agent[i].agent, agent) == 0) {
            stats->discovered_by_agent[i].files += delta;
            return;
        }
    }
    if (delta > 0 && stats->n_agents_discovered < cap) {
        stats->discovered_by_agent[stats->n_agents_discovered].agent = agent;
        stats->discovered_by_agent[stats->n_agents_discovered].files = 1;
        stats->n_agents_discovered++;
    }
}

static int sync_submit_source(void *ctx, const pd_job_source *js)
{
    sync_run *run = ctx;
    if (js->src.list_errno != 0) {
        /* Its transcripts cannot be read, so it fails like an unreadable file. */
        char message[PD_ERR_MSG_MAX];
        snprintf(message, sizeof message,
                 "%s: cannot list the directory (%s), so none of its transcripts was read",
                 js->src.path, strerror(js->src.list_errno));
        record_error(run, js->src.path, message);
        return PD_OK;
    }
    run->stats->files_discovered++;
    count_discovered(run->stats, js->provider->name, 1);

    sync_job *job = calloc(1, sizeof *job);
    if (job == NULL)
        return PD_ENOMEM;
    job->arena = pd_arena_new();
    if (job->arena == NULL) {
        free(job);
        return PD_ENOMEM;
    }
    job->run = run;
    job->nul_tail = -1;
    job->first_nul = -1;
    if (pd_job_source_copy(job->arena, js, &job->js) != PD_OK) {
        pd_arena_free(job->arena);
        free(job);
        return PD_ENOMEM;
    }

    pd_read_ahead_queue(&run->read_ahead, js->src.path);
    int rc = pd_driver_submit(&run->driver, job);
    if (rc != PD_OK) {
        /* Not submitted (the run stopped or was cancelled): not counted. */
        run->stats->files_discovered--;
        count_discovered(run->stats, js->provider->name, -1);
        pd_arena_free(job->arena);
        free(job);
    }
    return rc;
}

int pd_engine_sync(pd_engine *e, const pd_sync_options *opts, pd_sync_stats *stats, pd_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (e->mode == PD_ENGINE_REPORT_ONLY) {
        PD_LOG(PD_LOG_WARN, "refusing sync on a report-only engine");
        return pd_err_set(err, PD_EREADONLY, "sync refused: this engine is report-only and never writes");
    }

    sync_run run = {
        .engine = e, .opts = opts, .started_wall = pd_time_now(), .stats = stats, .err = err};
    pd_keyset_init(&run.ids_written);
    pd_keyset_init(&run.copy_ids);
    pd_keyset_init(&run.alias_ids);
    pd_keyset_init(&run.differing_ids);
    pd_arena *discovery = NULL;
    int rc = pd_archive_open_cancellable(e->cfg.db_path, PD_ARCHIVE_CREATE, e->cfg.cancel,
                                         &run.writer, err);
    if (rc != PD_OK)
        goto out;
    rc = pd_check_archive_version(run.writer, err);
    if (rc == PD_OK)
        rc = pd_archive_set_cache_kib(run.writer, WRITER_CACHE_KIB, err);
    if (rc == PD_OK)
        rc = pd_archive_set_autocheckpoint(run.writer, WRITER_CHECKPOINT_PAGES, err);
    if (rc != PD_OK)
        goto out;
    rc = pd_archive_snapshot(run.writer, &run.snapshot, err);
    if (rc != PD_OK)
        goto out;
    rc = pd_run_providers_open(e, NULL, 0, &run.providers, err);
    if (rc != PD_OK)
        goto out;
    discovery = pd_arena_new();
    if (discovery == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "out of memory");
        goto out;
    }

    unsigned threads = e->cfg.n_threads;
    pd_pool_config pc = {
        .n_threads = threads,
        .ring_capacity = e->cfg.ring_capacity != 0 ? e->cfg.ring_capacity
                                                   : (threads * 4 < 8 ? 8 : threads * 4),
        .worker_init = sync_worker_init,
        .worker_fini = sync_worker_fini,
        .run = sync_job_run,
        .user = &run,
    };
    rc = pd_pool_create(&pc, &run.pool, err);
    if (rc != PD_OK)
        goto out;
    run.driver = (pd_driver){.pool = run.pool,
                             .fold = sync_fold,
                             .before_wait = sync_before_wait,
                             .ctx = &run,
                             .cancel = e->cfg.cancel,
                             .runs_inline = threads == 0};

    pd_discover_drops drops = {0};
    run.counting = true;
    if (opts != NULL && opts->progress != NULL)
        run.expected = pd_stored_sources(e, run.snapshot, &run.providers);
    int drc = pd_discover_all(e, &run.providers, discovery, sync_submit_source, &run, &drops, err);
    run.counting = false;
    if (drc == PD_OK)
        report_progress(&run);
    stats->shadowed_rollouts = drops.n;
    if (drops.example != NULL)
        stats->shadowed_rollout = strdup(drops.example);
    rc = pd_driver_finish(&run.driver);
    /* Every job that ran has been folded, an interrupted run's too. */
    int brc = batch_commit(&run);
    if (rc == PD_OK)
        rc = brc;
    if (drc != PD_OK && drc != PD_ECANCELED)
        rc = drc;
    if (rc == PD_ECANCELED) {
        stats->interrupted = true;
        pd_err_set(err, PD_ECANCELED, "sync interrupted; every source written so far is complete");
    }

out:
    if (run.pool != NULL)
        pd_pool_destroy(run.pool);
    batch_discard(&run);
    pd_run_providers_close(&run.providers);
    pd_arena_free(discovery);
    pd_snapshot_free(run.snapshot);
    pd_keyset_free(&run.ids_written);
    pd_keyset_free(&run.copy_ids);
    pd_keyset_free(&run.alias_ids);
    pd_keyset_free(&run.differing_ids);
    pd_archive_close(run.writer);
    return rc;
}

void pd_sync_stats_free(pd_sync_stats *stats)
{
    example_free(&stats->copy_example);
    example_free(&stats->differing_example);
    example_free(&stats->alias_example);
    free(stats->shadowed_rollout);
    stats->shadowed_rollout = NULL;
    for (size_t i = 0; i < stats->n_errors; i++) {
        free(stats->errors[i].path);
        free(stats->errors[i].message);
    }
    free(stats->errors);
    stats->errors = NULL;
    stats->n_errors = 0;
}

int pd_engine_resync(pd_engine *e, pd_sync_stats *stats, pd_err *err)
{
    pd_sync_options opts = {.force_full = true};
    return pd_engine_sync(e, &opts, stats, err);
}

int pd_engine_write_session(pd_engine *e, pd_session *s, pd_arena *arena, pd_err *err)
{
    if (e->mode == PD_ENGINE_REPORT_ONLY) {
        PD_LOG(PD_LOG_WARN, "refusing write_session on a report-only engine");
        return pd_err_set(err, PD_EREADONLY,
                          "cannot write session %s: this engine is report-only and never writes",
                          s != NULL && s->id != NULL ? s->id : "(no id)");
    }
    pd_archive *a = NULL;
    int rc = pd_session_normalize(s, NULL, arena);
    if (rc == PD_OK)
        rc = pd_archive_open(e->cfg.db_path, PD_ARCHIVE_CREATE, &a, err);
    if (rc == PD_OK)
        rc = pd_archive_begin(a, err);
    if (rc == PD_OK) {
        rc = pd_archive_write_full(a, s, err);
        if (rc == PD_OK)
            rc = pd_archive_commit(a, err);
        if (rc != PD_OK)
            pd_archive_rollback(a);
    }
    pd_archive_close(a);
    return rc;
}
