/*
 * diff_internal.h -- state shared by diff.c (jobs, workers) and collect.c
 * (classification, sweeps, report building). Not part of the public API.
 */
#ifndef PD_DIFF_INTERNAL_H
#define PD_DIFF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "engine/diffreport.h"
#include "engine/driver.h"
#include "engine/engine_internal.h"

/* One parsed session of a job and what the worker found out about it. */
typedef struct pd_diff_session {
    pd_session *parsed;        /* normalised re-parse */
    const pd_stored_row *row;  /* snapshot row with the same id, or NULL */
    pd_field_diffs diffs;      /* comparator output (compared only) */
    size_t real_diffs;         /* non-informational diffs */
    bool compared;
    bool archive_changed; /* the stored row changed after the snapshot */
} pd_diff_session;

typedef struct pd_diff_run pd_diff_run;

/* One source: filled by a worker, folded and freed by the collector. */
typedef struct pd_diff_job {
    pd_diff_run *run;
    pd_job_source js;
    pd_arena *arena;
    bool failed;
    bool vanished;         /* removed between discovery and the read: a live change */
    bool cut_zst;          /* failed because the .zst ends inside a zstd frame */
    int64_t cut_size;      /* cut_zst: its size as read (its mtime is parsed_mtime) */
    char *error;           /* whole-source error text */
    int64_t parsed_mtime;  /* transcript mtime when the worker opened it */
    pd_diff_session *sessions;
    size_t n_sessions;
    char **excluded;
    size_t n_excluded;
    /* SHA-256 (hex) and length of the bytes parsed, or NULL when not taken:
     * taken when a session has real diffs or a stored session of the file
     * is no longer emitted (the presence sweep). */
    char *digest;
    size_t read_len;
    /* Worker phase times of this job, in nanoseconds. */
    int64_t read_ns, parse_ns, stored_ns, compare_ns;
} pd_diff_job;

/* True when job's parse emitted or excluded a session with this id. */
bool pd_diff_job_accounts_for(const pd_diff_job *job, const char *id);

struct pd_diff_run {
    pd_engine *engine;
    const pd_diff_options *opts;
    int64_t started_wall; /* wall clock (ns) when the run began */
    pd_snapshot *snapshot;
    pd_run_providers providers;
    pd_pool *pool;
    pd_driver driver;
    pd_diff_report *report;
    pd_read_ahead read_ahead;

    /* Collector-only state. */
    uint8_t *visited;     /* one bit per snapshot row */
    uint8_t *path_parsed; /* one bit per snapshot row: its file_path was parsed (presence sweep) */
    uint8_t *compared;    /* one bit per snapshot row: compared from the file it names, or found
                             missing from it by the presence sweep */
    uint8_t *missing;     /* one bit per snapshot row: found missing by the presence sweep */
    uint8_t *same_bytes;  /* one bit per snapshot row: its file was parsed with the size and
                             SHA-256 the row was written from, so no write to the transcript
                             explains a difference (set when the job is folded) */
    pd_strset cut;        /* paths dropped by --limit (keys in the discovery arena) */
    /* Discovered paths that the archive's sanitiser changes, keyed by the
     * sanitised form that rows store. Each key is followed by its NUL and
     * the name on disk, in the report's arena. */
    pd_strset disk_names;
    bool sets_ready;
    bool counting;    /* discovery is still finding sources (for the progress callback) */
    int64_t expected; /* stored sources of the run's agents, for the progress callback */
    pd_json_parser *collector_json; /* for the Codex consumed-boundary check */
    int64_t fold_ns; /* time spent folding jobs so far */
};

/* collect.c */
int pd_collect_job(pd_diff_run *run, pd_diff_job *job);
/* Records path, a discovered file, when the archive would store it under another name. */
int pd_diff_note_disk_name(pd_diff_run *run, const char *path);
/* Returns the name on disk of stored, a row's file_path, when discovery found the file under
 * a name the archive stores sanitised; else stored itself. */
const char *pd_diff_disk_path(const pd_diff_run *run, const char *stored);
int pd_collect_sweeps(pd_diff_run *run);

/* Report construction (collect.c). */
int pd_diff_report_new(pd_diff_report **out, pd_err *err);
int pd_diff_report_set_agents(pd_diff_report *r, const char *const *agents, size_t n_agents);
/* Sorts sessions and field counts and computes examined. */
int pd_diff_report_finish(pd_diff_report *r);
/* Returns a copy of s in a (NULL for NULL), and sets *oom when memory runs out. */
char *pd_diff_dup(pd_arena *a, const char *s, bool *oom);
/* Returns a copy of the n field diffs and their strings in a (NULL for none), and sets *oom. */
pd_field_diff *pd_diff_fields_copy(pd_arena *a, const pd_field_diff *in, size_t n, bool *oom);

/* The raced verdict from the stored and live mtimes (exposed for tests). */
bool pd_source_raced(int64_t stored_mtime, int64_t live_mtime, bool live_ok);

#endif
