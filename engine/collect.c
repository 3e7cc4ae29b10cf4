/*
 * collect.c -- the diff collector: classification, the raced guard, sweeps
 * and report construction.
 *
 * Entry points, all on the collector (main) thread:
 *   pd_diff_report_new, pd_diff_report_set_agents  -- before the run
 *   pd_collect_job                                 -- once per finished job
 *   pd_collect_sweeps, pd_diff_report_finish       -- after the last job
 *
 * Classification of a parsed session, first match wins:
 *   needs retry -> transient_needs_retry; no stored row -> new_on_disk;
 *   stored row trashed -> skipped; stored data version older than this
 *   binary's -> pending_resync; real diffs and a live write detected ->
 *   raced; real diffs confined to message_metadata on a row last written
 *   incrementally -> incremental_skew; real diffs -> changed; else identical.
 *
 * The raced guard runs here, after the worker's read has finished, so a
 * write that lands while the source is being read is seen by the re-stat,
 * unless the worker found that the bytes it parsed are the ones the row was
 * written from (then no write explains a difference).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/log.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "engine/compare.h"
#include "engine/diff_internal.h"
#include "parsers/jsonl.h"

#define REASON_RETRY                                                                               \
    "parent rollout not found or unreadable: the turns this Codex session replays from it "        \
    "cannot be told apart, so it is not compared until a run can read the parent"
#define REASON_TRASHED_IN_ARCHIVE "trashed in archive"
#define REASON_EXCLUDED_IN_ARCHIVE                                                                 \
    "excluded in archive (deleted by the user; sync never imports it)"
#define REASON_RACED "source file changed after snapshot (live-write skew)"
#define REASON_ARCHIVE_RACED "archive changed during run"
#define REASON_SKEW "stored row last written incrementally (incremental-append skew)"
#define REASON_EXCLUDED "parser exclusion (sync keeps the stored rows)"
#define REASON_STALE_PRESENCE "stale row; parser no longer emits this ID"
#define REASON_LOST_FORK "member source missing (would tombstone)"
#define REASON_WRITTEN_DURING_RUN "source renamed or written during the run"
#define REASON_ZST_WRITING                                                                         \
    "source is being written: it ends inside a zstd frame and was modified during the run or "     \
    "the minute before"
/* The same for a file the archive stores no row of. */
#define REASON_ZST_NEW_WRITING                                                                     \
    "new compressed transcript still being written: it ends inside a zstd frame and has no "       \
    "stored row yet; a sync after the compressor finishes stores it"

/* The report plus the capacities of its growable arrays. */
typedef struct report_impl {
    pd_diff_report r; /* first member: a pd_diff_report * is a report_impl * */
    size_t cap_sessions;
    size_t cap_counts;
} report_impl;

int pd_diff_report_new(pd_diff_report **out, pd_err *err)
{
    report_impl *impl = calloc(1, sizeof *impl);
    if (impl == NULL)
        return pd_err_set(err, PD_ENOMEM, "out of memory creating the report");
    impl->r.arena = pd_arena_new();
    if (impl->r.arena == NULL) {
        free(impl);
        return pd_err_set(err, PD_ENOMEM, "out of memory creating the report");
    }
    impl->r.data_version = PD_DATA_VERSION;
    pd_time_format_seconds(pd_time_now(), impl->r.generated_at);
    *out = &impl->r;
    return PD_OK;
}

void pd_diff_report_free(pd_diff_report *r)
{
    if (r == NULL)
        return;
    free(r->sessions);
    free(r->field_counts);
    pd_arena_free(r->arena);
    free(r);
}

int pd_diff_report_set_agents(pd_diff_report *r, const char *const *agents, size_t n_agents)
{
    const char *const *all;
    size_t n_all = pd_engine_supported_agents(&all);
    r->agents = pd_arena_calloc(r->arena, n_all + 1, sizeof *r->agents);
    if (r->agents == NULL)
        return PD_ENOMEM;
    r->agents_restricted = agents != NULL && n_agents > 0;
    for (size_t i = 0; i < n_all; i++) {
        bool keep = !r->agents_restricted;
        for (size_t j = 0; j < n_agents && !keep; j++)
            keep = strcmp(all[i], agents[j]) == 0;
        if (keep)
            r->agents[r->n_agents++] = all[i];
    }
    return PD_OK;
}

static bool agent_in_report(const pd_diff_report *r, const char *agent)
{
    for (size_t i = 0; i < r->n_agents; i++) {
        if (strcmp(r->agents[i], agent) == 0)
            return true;
    }
    return false;
}

/* ---- entries and counts ----------------------------------------------------- */

char *pd_diff_dup(pd_arena *a, const char *s, bool *oom)
{
    if (s == NULL)
        return NULL;
    char *d = pd_arena_strdup(a, s);
    if (d == NULL)
        *oom = true;
    return d;
}

pd_field_diff *pd_diff_fields_copy(pd_arena *a, const pd_field_diff *in, size_t n, bool *oom)
{
    if (n == 0)
        return NULL;
    pd_field_diff *out = pd_arena_calloc(a, n, sizeof *out);
    if (out == NULL) {
        *oom = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        out[i].field = pd_diff_dup(a, in[i].field, oom);
        out[i].stored = pd_diff_dup(a, in[i].stored, oom);
        out[i].parsed = pd_diff_dup(a, in[i].parsed, oom);
        out[i].detail = pd_diff_dup(a, in[i].detail, oom);
        out[i].informational = in[i].informational;
        out[i].unpaired = in[i].unpaired;
    }
    return out;
}

/* Appends an entry whose strings are copied into the report's arena. */
static int add_entry(pd_diff_report *r, const char *session_id, const char *agent,
                     const char *file_path, pd_diff_class cls, const char *reason,
                     int64_t stored_dv, const pd_field_diff *fields, size_t n_fields)
{
    report_impl *impl = (report_impl *)r;
    if (r->n_sessions == impl->cap_sessions) {
        size_t cap = impl->cap_sessions == 0 ? 64 : impl->cap_sessions * 2;
        pd_diff_entry *grown = realloc(r->sessions, cap * sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        r->sessions = grown;
        impl->cap_sessions = cap;
    }

    bool oom = false;
    pd_diff_entry e = {
        .session_id = pd_diff_dup(r->arena, session_id, &oom),
        .agent = pd_diff_dup(r->arena, agent != NULL ? agent : "", &oom),
        .file_path = (file_path != NULL && file_path[0] != '\0')
                         ? pd_diff_dup(r->arena, file_path, &oom)
                         : NULL,
        .cls = cls,
        .reason = pd_diff_dup(r->arena, reason, &oom),
        .stored_data_version = stored_dv,
    };
    e.fields = pd_diff_fields_copy(r->arena, fields, n_fields, &oom);
    e.n_fields = n_fields;
    if (oom)
        return PD_ENOMEM;
    r->sessions[r->n_sessions++] = e;
    return PD_OK;
}

static int bump_field_count(pd_diff_report *r, const char *field)
{
    report_impl *impl = (report_impl *)r;
    for (size_t i = 0; i < r->n_field_counts; i++) {
        if (strcmp(r->field_counts[i].field, field) == 0) {
            r->field_counts[i].count++;
            return PD_OK;
        }
    }
    if (r->n_field_counts == impl->cap_counts) {
        size_t cap = impl->cap_counts == 0 ? 16 : impl->cap_counts * 2;
        pd_field_count *grown = realloc(r->field_counts, cap * sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        r->field_counts = grown;
        impl->cap_counts = cap;
    }
    const char *name = pd_arena_strdup(r->arena, field);
    if (name == NULL)
        return PD_ENOMEM;
    r->field_counts[r->n_field_counts++] = (pd_field_count){.field = name, .count = 1};
    return PD_OK;
}

/* +1 for each distinct non-informational field of one changed session. */
static int count_changed_fields(pd_diff_report *r, const pd_field_diffs *d)
{
    for (size_t i = 0; i < d->n; i++) {
        if (d->items[i].informational)
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !d->items[j].informational && strcmp(d->items[j].field, d->items[i].field) == 0;
        if (seen)
            continue;
        int rc = bump_field_count(r, d->items[i].field);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/* ---- visited set --------------------------------------------------------------- */

static size_t row_index(const pd_diff_run *run, const pd_stored_row *row)
{
    /* Rows live in one array inside the snapshot, in snapshot order. */
    return (size_t)(row - pd_snapshot_row(run->snapshot, 0));
}

static void bit_set(uint8_t *bits, size_t i)
{
    bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

static bool bit_test(const uint8_t *bits, size_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1u;
}

static void mark_visited(pd_diff_run *run, const pd_stored_row *row)
{
    bit_set(run->visited, row_index(run, row));
}

static bool is_visited(const pd_diff_run *run, size_t i)
{
    return bit_test(run->visited, i);
}

/* ---- raced guard ----------------------------------------------------------------- */

bool pd_source_raced(int64_t stored_mtime, int64_t live_mtime, bool live_ok)
{
    if (!live_ok)
        return true;
    if (stored_mtime == PD_INT_NULL)
        return true;
    return live_mtime > stored_mtime;
}

/* A path of the form "<container>#<member>" names one member of a shared store. */
static bool is_virtual_path(const char *path)
{
    const char *hash = strrchr(path, '#');
    return hash != NULL && hash != path && hash[1] != '\0';
}

/*
 * True when the transcript on disk no longer matches the bytes the stored row
 * was written from: its size differs from the stored file_size, and, where
 * an unfinished last line cannot change what is compared (see below), so
 * does its consumed JSONL boundary. A full write stores the raw size and an
 * incremental write the boundary, so either match means "same bytes" there.
 * The parser's captured size is not trusted; both are re-read now.
 *
 * Codex needs this because its stored mtime is folded with the title index,
 * so a transcript write can hide below it. Every other agent needs it because
 * file timestamps advance in clock ticks: a write landing in the same tick as
 * the sync's read leaves the mtime equal while the content grew.
 *
 * A hash difference alone proves nothing (incremental writes hash only the
 * consumed prefix, and older rows may keep the hash of an earlier full
 * parse), so this check never reads the hash: an equal-size rewrite that
 * keeps the mtime stays changed. A hash match is used before it is called
 * (see same_bytes).
 */
static bool transcript_changed_since_write(pd_diff_run *run, const pd_provider *p, const char *path,
                                           const pd_stored_row *row)
{
    if (row->file_size == PD_INT_NULL)
        return false;
    pd_stat_info st;
    if (pd_stat_path(path, &st) != PD_OK)
        return true;
    if (st.size == row->file_size)
        return false;
    /*
     * A Claude parse reads an unfinished last line too (the session ends as
     * truncated), so on a row written in full, which stored the whole size,
     * any new byte is a write after the sync. A row written incrementally
     * stored the consumed boundary and keeps no termination status, so an
     * unfinished line changes nothing it is compared on.
     */
    if ((!p->ignores_partial_tail && !row->last_write_incremental) || pd_source_is_zst(path))
        return true;
    if (run->collector_json == NULL) {
        run->collector_json = pd_json_parser_new();
        if (run->collector_json == NULL)
            return true;
    }
    int64_t boundary = 0;
    bool tail_record = false;
    pd_err err = {0};
    if (pd_jsonl_file_tail(path, run->collector_json, &boundary, &tail_record, &err) != PD_OK)
        return true;
    /* A last line whose LF is not written yet is read by the parse all the same. */
    return boundary != row->file_size || tail_record;
}

int pd_diff_note_disk_name(pd_diff_run *run, const char *path)
{
    size_t len = strlen(path);
    if (pd_utf8_is_clean(path, len))
        return PD_OK;
    pd_arena *a = run->report->arena;
    size_t clean_len = 0;
    char *clean = pd_utf8_sanitize(a, path, len, &clean_len);
    if (clean == NULL)
        return PD_ENOMEM;
    char *entry = pd_arena_alloc(a, clean_len + 1 + len + 1);
    if (entry == NULL)
        return PD_ENOMEM;
    memcpy(entry, clean, clean_len + 1);
    memcpy(entry + clean_len + 1, path, len + 1);
    /* NOTE: two names on disk that sanitise alike keep the first one found. */
    return pd_strset_add(&run->disk_names, entry) < 0 ? PD_ENOMEM : PD_OK;
}

const char *pd_diff_disk_path(const pd_diff_run *run, const char *stored)
{
    if (stored == NULL || run->disk_names.n == 0)
        return stored;
    const char *key = pd_strset_get(&run->disk_names, stored);
    return key != NULL ? key + strlen(key) + 1 : stored;
}

/* True when the stored file_path names path, a discovered file, as written
 * or in its sanitised form. */
static bool row_names_path(const pd_diff_run *run, const char *stored, const char *path)
{
    return stored != NULL &&
           (strcmp(stored, path) == 0 || strcmp(pd_diff_disk_path(run, stored), path) == 0);
}

/*
 * The reference skips the guard where one file holds several sessions,
 * because a shared store (a database of many unrelated sessions) changes
 * its mtime whenever any one of them does. Claude and Codex write one
 * transcript per file: several sessions in one file are forks of that
 * transcript, and a write after the sync is a live write for all of them.
 * So the guard applies whatever the file's session count, and a write to
 * a forked transcript after the sync makes its sessions raced, not changed.
 */
static bool guard_raced(pd_diff_run *run, const pd_diff_job *job, const pd_diff_session *ds)
{
    if (!ds->compared || ds->real_diffs == 0)
        return false;
    /* The file is stat'ed under its name on disk: the parsed file_path went
     * through the archive's sanitiser, which may have changed it. */
    const char *path = job->js.src.path;
    const pd_provider *p = job->js.provider;
    if ((ds->parsed->file_path != NULL && is_virtual_path(ds->parsed->file_path)) ||
        is_virtual_path(path) || !p->file_based)
        return false;

    /* The parse read the very bytes the row was written from, so only a
     * companion file written after the row can explain the difference. A
     * transcript whose mtime moved without a write (copied, restored or
     * checked out anew) thus cannot hide a real change. */
    if (row_names_path(run, ds->row->file_path, job->js.src.path) &&
        bit_test(run->same_bytes, row_index(run, ds->row)))
        return ds->parsed->companion_mtime > 0 &&
               pd_source_raced(ds->row->file_mtime, ds->parsed->companion_mtime, true);

    pd_stat_info st;
    bool live_ok = pd_stat_path(path, &st) == PD_OK;
    int64_t live = live_ok ? st.mtime_ns : 0;
    /* A rewrite during the run can carry an older mtime; the mtime seen when
     * the worker opened the file is then the better witness. Codex skips this
     * because its parsed mtime is folded with the title index. */
    if (p->live_mtime_rule == PD_LIVE_MTIME_FLOORED && live_ok && job->parsed_mtime > live)
        live = job->parsed_mtime;
    /* The session's text also came from companion files (Claude's spilled tool
     * output), and one written after the row was stored is a write too. */
    if (live_ok && ds->parsed->companion_mtime > live)
        live = ds->parsed->companion_mtime;

    if (pd_source_raced(ds->row->file_mtime, live, live_ok))
        return true;
    return transcript_changed_since_write(run, p, path, ds->row);
}

/*
 * Returns true when the transcript is newer than every row stored from it.
 * A session it no longer contains may then have been lost to that write, as
 * when a new line turns a forked transcript linear. The reference does not
 * guard the presence sweep. Once a sync stores the transcript as it is, its
 * newest row matches the file again, and a lost session is a change.
 */
static bool presence_raced(pd_diff_run *run, const pd_stored_row *row)
{
    /* The file was parsed with the bytes this row was written from, so no
     * write explains why the parse no longer emits the session. */
    if (bit_test(run->same_bytes, row_index(run, row)))
        return false;
    const pd_provider *provider = row->agent != NULL ? pd_provider_find(row->agent) : NULL;
    if (provider == NULL || !provider->file_based || is_virtual_path(row->file_path))
        return false;

    const size_t *idx;
    size_t n = pd_snapshot_find_path(run->snapshot, row->file_path, &idx);
    const pd_stored_row *newest = NULL;
    for (size_t i = 0; i < n; i++) {
        const pd_stored_row *other = pd_snapshot_row(run->snapshot, idx[i]);
        if (other->file_mtime == PD_INT_NULL)
            continue;
        if (newest == NULL || other->file_mtime > newest->file_mtime ||
            (other->file_mtime == newest->file_mtime && other->file_size > newest->file_size))
            newest = other;
    }
    if (newest == NULL)
        return false; /* without a stored mtime no write can be shown */

    const char *path = pd_diff_disk_path(run, row->file_path);
    pd_stat_info st;
    bool live_ok = pd_stat_path(path, &st) == PD_OK;
    if (pd_source_raced(newest->file_mtime, live_ok ? st.mtime_ns : 0, live_ok))
        return true;
    return transcript_changed_since_write(run, provider, path, newest);
}

/* ---- folding one job ---------------------------------------------------------------- */

/* Marks the stored rows idx[0..n) of a parsed source for the presence sweep. */
static void register_presence(pd_diff_run *run, const size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        bit_set(run->path_parsed, idx[i]);
}

/* Marks those of the stored rows idx[0..n) of job's file that were written from the
 * bytes the job parsed. */
static void mark_same_bytes(pd_diff_run *run, const pd_diff_job *job, const size_t *idx, size_t n)
{
    if (job->digest == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        if (pd_row_written_from(pd_snapshot_row(run->snapshot, idx[i]), job->digest, job->read_len))
            bit_set(run->same_bytes, idx[i]);
    }
}

/* Returns the path without its ".zst" when that file exists, else NULL. */
static const char *uncompressed_original(pd_arena *a, const char *zst_path)
{
    char *plain = pd_arena_strndup(a, zst_path, strlen(zst_path) - 4);
    pd_stat_info st;
    if (plain == NULL || pd_stat_path(plain, &st) != PD_OK)
        return NULL;
    return plain;
}

static int collect_source_error(pd_diff_run *run, const pd_diff_job *job)
{
    pd_diff_report *r = run->report;
    /* A compressor still writing the .zst is a live write, not a damaged file. */
    bool live = job->cut_zst && pd_zst_being_written(job->js.src.path, job->cut_size,
                                                     job->parsed_mtime, run->started_wall);
    pd_diff_class cls = live ? PD_CLASS_RACED : PD_CLASS_PARSE_ERROR;
    const char *reason = live ? REASON_ZST_WRITING : job->error;
    if (job->cut_zst && !live) {
        /* Say why no writer explains the cut, or the error reads like a live write. */
        bool future = job->parsed_mtime > pd_time_now() + PD_ZST_WRITE_WINDOW_NS;
        reason = pd_arena_sprintf(r->arena, "%s; %s, so it is taken for a damaged file",
                                  job->error != NULL ? job->error : "truncated zstd data",
                                  future ? "its mtime lies more than a minute in the future"
                                         : "it was last modified more than a minute before the "
                                           "run");
        if (reason == NULL)
            return PD_ENOMEM;
    }
    int64_t *count = live ? &r->totals.raced : &r->totals.parse_errors;
    const size_t *idx;
    size_t n = pd_snapshot_find_path(run->snapshot, job->js.src.path, &idx);
    if (n == 0) {
        /* zstd keeps the transcript it compresses until the .zst is complete,
         * and the run counts the transcript's sessions from that file. */
        const char *original = live ? uncompressed_original(r->arena, job->js.src.path) : NULL;
        if (original != NULL) {
            const char *reason_copy =
                pd_arena_sprintf(r->arena, "compressed copy of %s, still being written", original);
            if (reason_copy == NULL)
                return PD_ENOMEM;
            r->totals.skipped++;
            return add_entry(r, NULL, job->js.provider->name, job->js.src.path, PD_CLASS_SKIPPED,
                             reason_copy, 0, NULL, 0);
        }
        /* Raced means written after its row was stored, and this file has no row:
         * it is a new session, read once the compressor is done. */
        if (live) {
            r->totals.skipped++;
            return add_entry(r, NULL, job->js.provider->name, job->js.src.path, PD_CLASS_SKIPPED,
                             REASON_ZST_NEW_WRITING, 0, NULL, 0);
        }
        (*count)++;
        return add_entry(r, NULL, job->js.provider->name, job->js.src.path, cls, reason, 0, NULL,
                         0);
    }
    for (size_t i = 0; i < n; i++) {
        const pd_stored_row *row = pd_snapshot_row(run->snapshot, idx[i]);
        mark_visited(run, row);
        (*count)++;
        int rc = add_entry(r, row->id, row->agent, job->js.src.path, cls, reason, row->data_version,
                           NULL, 0);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

static bool stored_from_other_present_file(const pd_diff_run *run, const pd_stored_row *row,
                                           const char *path)
{
    if (row->file_path == NULL || strcmp(row->file_path, path) == 0)
        return false;
    pd_stat_info st;
    return pd_stat_path(pd_diff_disk_path(run, row->file_path), &st) == PD_OK;
}

/* Counts a compared row that a parser newer than this binary wrote. */
static void note_newer_row(pd_diff_report *r, const pd_stored_row *row)
{
    if (row->data_version <= PD_DATA_VERSION)
        return;
    r->n_newer_rows++;
    if (row->data_version > r->newest_data_version)
        r->newest_data_version = row->data_version;
}

static int collect_session(pd_diff_run *run, const pd_diff_job *job, const pd_diff_session *ds)
{
    pd_diff_report *r = run->report;
    const pd_session *s = ds->parsed;
    const pd_stored_row *row = ds->row;
    const char *agent = s->agent != NULL ? s->agent : job->js.provider->name;
    const char *path = s->file_path != NULL ? s->file_path : job->js.src.path;
    int64_t stored_dv = row != NULL ? row->data_version : 0;
    const char *reason = NULL;
    pd_diff_class cls;

    /* A copy's row is settled in pd_collect_sweeps, once it is known whether
     * the file the row names was parsed too. */
    bool copy = row != NULL && !s->needs_retry && !row->is_trashed &&
                stored_from_other_present_file(run, row, path);
    if (row != NULL && !copy)
        mark_visited(run, row);
    if (row != NULL && !copy && !s->needs_retry && !row->is_trashed) {
        bit_set(run->compared, row_index(run, row));
        note_newer_row(r, row);
    }

    if (s->needs_retry) {
        cls = PD_CLASS_NEEDS_RETRY;
        reason = REASON_RETRY;
        r->totals.transient_needs_retry++;
    } else if (row == NULL && pd_snapshot_is_excluded(run->snapshot, s->id)) {
        cls = PD_CLASS_SKIPPED;
        reason = REASON_EXCLUDED_IN_ARCHIVE;
        r->totals.skipped++;
    } else if (row == NULL) {
        cls = PD_CLASS_NEW_ON_DISK;
        r->totals.new_on_disk++;
    } else if (row->is_trashed) {
        cls = PD_CLASS_SKIPPED;
        reason = REASON_TRASHED_IN_ARCHIVE;
        r->totals.skipped++;
    } else if (copy) {
        /* Two files carry this session id (a backup copy of a project
         * folder, say) and the row was written from the other one, which is
         * compared on its own. A moved file, whose old path is gone, is
         * compared as usual so that a relocated archive cannot hide drift. */
        cls = PD_CLASS_SKIPPED;
        bool alias = pd_same_file(path, row->file_path);
        reason = pd_arena_sprintf(r->arena,
                                  alias ? "another name of the stored file %s"
                                        : "duplicate session id; the stored row comes from %s",
                                  row->file_path);
        if (reason == NULL)
            return PD_ENOMEM;
        r->totals.skipped++;
        int rc = add_entry(r, s->id, agent, path, cls, reason, stored_dv, NULL, 0);
        if (rc != PD_OK)
            return rc;
        pd_diff_entry *e = &r->sessions[r->n_sessions - 1];
        bool oom = false;
        e->other_copy = true;
        e->other_copy_alias = alias;
        e->other_copy_path = pd_diff_dup(r->arena, row->file_path, &oom);
        return oom ? PD_ENOMEM : PD_OK;
    } else if (row->data_version < PD_DATA_VERSION) {
        cls = PD_CLASS_PENDING_RESYNC;
        r->totals.pending_resync++;
    } else if (ds->archive_changed && (!ds->compared || ds->real_diffs > 0)) {
        cls = PD_CLASS_RACED;
        reason = REASON_ARCHIVE_RACED;
        r->totals.raced++;
    } else if (ds->real_diffs > 0 && guard_raced(run, job, ds)) {
        cls = PD_CLASS_RACED;
        reason = REASON_RACED;
        r->totals.raced++;
    } else if (ds->real_diffs > 0 && row->last_write_incremental &&
               pd_field_diffs_confined_to_incremental_artifacts(&ds->diffs)) {
        cls = PD_CLASS_INCREMENTAL_SKEW;
        reason = REASON_SKEW;
        r->totals.incremental_skew++;
    } else if (ds->real_diffs > 0) {
        cls = PD_CLASS_CHANGED;
        r->totals.changed++;
        int rc = count_changed_fields(r, &ds->diffs);
        if (rc != PD_OK)
            return rc;
    } else {
        cls = PD_CLASS_IDENTICAL;
        r->totals.identical++;
        if (ds->diffs.n == 0)
            return PD_OK; /* identical sessions are listed only with informational diffs */
        r->totals.informational_only++;
    }

    return add_entry(r, s->id, agent, path, cls, reason, stored_dv, ds->diffs.items, ds->diffs.n);
}

/* True when the job emitted or excluded a session with this id. */
bool pd_diff_job_accounts_for(const pd_diff_job *job, const char *id)
{
    for (size_t i = 0; i < job->n_sessions; i++) {
        const char *emitted = job->sessions[i].parsed->id;
        if (emitted != NULL && strcmp(emitted, id) == 0)
            return true;
    }
    for (size_t i = 0; i < job->n_excluded; i++) {
        if (job->excluded[i] != NULL && strcmp(job->excluded[i], id) == 0)
            return true;
    }
    return false;
}

/*
 * Reports as excluded_by_parser the stored Claude forks of an older data
 * version, among the rows idx[0..n) of job's file, that the transcript no
 * longer contains, because sync marks them
 * deleted on its next full write. Forks of the current version are left to
 * the presence sweep, where their loss is a change (or raced).
 */
static int collect_lost_forks(pd_diff_run *run, const pd_diff_job *job, const size_t *idx, size_t n)
{
    if (job->n_sessions == 0 || strcmp(job->js.provider->name, "claude") != 0)
        return PD_OK;
    for (size_t i = 0; i < n; i++) {
        const pd_stored_row *row = pd_snapshot_row(run->snapshot, idx[i]);
        if (!pd_row_is_local_fork(row) || row->data_version >= PD_DATA_VERSION ||
            is_visited(run, idx[i]) || pd_diff_job_accounts_for(job, row->id))
            continue;
        mark_visited(run, row);
        run->report->totals.excluded_by_parser++;
        int rc =
            add_entry(run->report, row->id, row->agent, row->file_path, PD_CLASS_EXCLUDED_BY_PARSER,
                      REASON_LOST_FORK, row->data_version, NULL, 0);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

int pd_collect_job(pd_diff_run *run, pd_diff_job *job)
{
    if (job->vanished)
        return PD_OK; /* its rows reach the final sweep, which finds the file gone */
    if (job->failed)
        return collect_source_error(run, job);

    /* The stored rows of the job's file, looked up once for the steps below. */
    const size_t *rows;
    size_t n_rows = pd_snapshot_find_path(run->snapshot, job->js.src.path, &rows);
    mark_same_bytes(run, job, rows, n_rows);
    for (size_t i = 0; i < job->n_sessions; i++) {
        int rc = collect_session(run, job, &job->sessions[i]);
        if (rc != PD_OK)
            return rc;
    }

    for (size_t i = 0; i < job->n_excluded; i++) {
        const pd_stored_row *row = pd_snapshot_find_id(run->snapshot, job->excluded[i]);
        if (row == NULL)
            continue;
        mark_visited(run, row);
        run->report->totals.excluded_by_parser++;
        int rc = add_entry(run->report, row->id, row->agent, job->js.src.path,
                           PD_CLASS_EXCLUDED_BY_PARSER, REASON_EXCLUDED, row->data_version, NULL, 0);
        if (rc != PD_OK)
            return rc;
    }

    int rc = collect_lost_forks(run, job, rows, n_rows);
    if (rc != PD_OK)
        return rc;
    register_presence(run, rows, n_rows);
    return PD_OK;
}

/* ---- sweeps ------------------------------------------------------------------------ */

/* Agent named by a session id: "codex:<uuid>" is codex, a colon-free id is claude. */
static const char *agent_of_id(pd_arena *a, const char *id)
{
    const char *tilde = strrchr(id, '~');
    if (tilde != NULL)
        id = tilde + 1;
    const char *colon = strchr(id, ':');
    if (colon == NULL)
        return "claude";
    return pd_arena_strndup(a, id, (size_t)(colon - id));
}

static bool agent_supported(const char *agent)
{
    return pd_provider_find(agent) != NULL;
}

static const char *final_sweep_reason(const pd_diff_run *run, const pd_stored_row *row,
                                      const char *agent)
{
    if (strchr(row->id, '~') != NULL)
        return "remote session";
    if (row->is_trashed)
        return "trashed";
    if (!agent_supported(agent))
        return "agent not supported by parsediff";
    if (row->file_path == NULL || row->file_path[0] == '\0')
        return "source missing";
    /* NOTE: a file that discovery did not reach and whose name the archive
     * stored sanitised is not found here, so it reads as "source missing"
     * where "not discovered" is true (a wrong root, say). */
    const char *path = pd_diff_disk_path(run, row->file_path);
    if (pd_strset_has(&run->cut, path))
        return PD_REASON_NOT_SAMPLED;
    pd_stat_info st;
    if (pd_stat_path(path, &st) != PD_OK)
        return "source missing";
    /* Renamed or written into place after discovery passed it, as a
     * compressor's output or an agent's rename is: a live change. */
    if (st.ctime_ns >= run->started_wall)
        return REASON_WRITTEN_DURING_RUN;
    return "not discovered";
}

int pd_collect_sweeps(pd_diff_run *run)
{
    pd_diff_report *r = run->report;
    size_t n = pd_snapshot_count(run->snapshot);
    static const pd_field_diff presence = {
        .field = "presence", .stored = "stored", .parsed = "(not emitted)"};

    /* Presence: a stored row of a parsed source that the parse did not emit. */
    for (size_t i = 0; i < n; i++) {
        const pd_stored_row *row = pd_snapshot_row(run->snapshot, i);
        if (is_visited(run, i) || row->is_trashed || row->file_path == NULL ||
            !bit_test(run->path_parsed, i))
            continue;
        mark_visited(run, row);
        int rc;
        if (row->data_version < PD_DATA_VERSION) {
            r->totals.pending_resync++;
            rc = add_entry(r, row->id, row->agent, row->file_path, PD_CLASS_PENDING_RESYNC,
                           REASON_STALE_PRESENCE, row->data_version, &presence, 1);
        } else if (presence_raced(run, row)) {
            note_newer_row(r, row);
            r->totals.raced++;
            rc = add_entry(r, row->id, row->agent, row->file_path, PD_CLASS_RACED, REASON_RACED,
                           row->data_version, &presence, 1);
        } else {
            note_newer_row(r, row);
            r->totals.changed++;
            rc = bump_field_count(r, "presence");
            if (rc == PD_OK)
                rc = add_entry(r, row->id, row->agent, row->file_path, PD_CLASS_CHANGED, NULL,
                               row->data_version, &presence, 1);
        }
        if (rc != PD_OK)
            return rc;
        bit_set(run->compared, i);
        bit_set(run->missing, i);
    }

    /*
     * Skipped copies. When the file the row names was parsed too, the row
     * was compared from it or reported above as not emitted. Otherwise the
     * copy's entry accounts for the row, unless --limit left the stored
     * file out. Later copies of a session are marked once the report is
     * sorted (pd_diff_report_finish).
     */
    for (size_t i = 0; i < r->n_sessions; i++) {
        pd_diff_entry *e = &r->sessions[i];
        if (!e->other_copy)
            continue;
        const pd_stored_row *row = pd_snapshot_find_id(run->snapshot, e->session_id);
        if (row == NULL)
            continue;
        size_t idx = row_index(run, row);
        if (bit_test(run->path_parsed, idx)) {
            e->other_copy_compared = bit_test(run->compared, idx);
            e->other_copy_missing = bit_test(run->missing, idx);
        } else if (row->file_path != NULL &&
                   pd_strset_has(&run->cut, pd_diff_disk_path(run, row->file_path))) {
            /* --limit left the stored file out: the final sweep reports the row as such. */
            e->other_copy_cut = true;
        } else {
            mark_visited(run, row);
        }
    }

    /* Every stored row still unvisited is accounted for as skipped. */
    for (size_t i = 0; i < n; i++) {
        if (is_visited(run, i))
            continue;
        const pd_stored_row *row = pd_snapshot_row(run->snapshot, i);
        const char *agent = agent_of_id(r->arena, row->id);
        if (agent == NULL)
            return PD_ENOMEM;
        if (r->agents_restricted && !agent_in_report(r, agent))
            continue;
        r->totals.skipped++;
        int rc = add_entry(r, row->id, row->agent, row->file_path, PD_CLASS_SKIPPED,
                           final_sweep_reason(run, row, agent), row->data_version, NULL, 0);
        if (rc != PD_OK)
            return rc;
    }
    return PD_OK;
}

/* ---- finishing ------------------------------------------------------------------------ */

static int cmp_str(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int compare_entries(const void *a_, const void *b_)
{
    const pd_diff_entry *a = a_, *b = b_;
    int c = strcmp(pd_diff_class_name(a->cls), pd_diff_class_name(b->cls));
    if (c == 0)
        c = cmp_str(a->agent, b->agent);
    if (c == 0)
        c = cmp_str(a->file_path, b->file_path);
    if (c == 0)
        c = cmp_str(a->session_id, b->session_id);
    return c;
}

static int compare_counts(const void *a_, const void *b_)
{
    const pd_field_count *a = a_, *b = b_;
    return strcmp(a->field, b->field);
}

int pd_diff_report_finish(pd_diff_report *r)
{
    pd_diff_totals *t = &r->totals;
    t->examined = t->identical + t->changed + t->pending_resync + t->raced + t->incremental_skew;
    if (r->n_sessions > 1)
        qsort(r->sessions, r->n_sessions, sizeof *r->sessions, compare_entries);
    /* The first copy of a session in report order is the one counted, at any thread count. */
    pd_keyset copies;
    pd_keyset_init(&copies);
    for (size_t i = 0; i < r->n_sessions; i++) {
        pd_diff_entry *e = &r->sessions[i];
        if (!e->other_copy || e->session_id == NULL)
            continue;
        int added = pd_keyset_add(&copies, e->session_id);
        if (added < 0) {
            pd_keyset_free(&copies);
            return PD_ENOMEM;
        }
        e->other_copy_repeat = added == 0;
    }
    pd_keyset_free(&copies);
    if (r->n_field_counts > 1)
        qsort(r->field_counts, r->n_field_counts, sizeof *r->field_counts, compare_counts);
    return PD_OK;
}
