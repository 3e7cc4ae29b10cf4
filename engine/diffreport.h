/*
 * diffreport.h -- the result of a diff run: per-session entries and totals.
 *
 * The collector (engine/) is the only writer of a pd_diff_report; report/
 * renders it as JSON or text and never recomputes anything. All strings are
 * owned by the report's arena.
 *
 * Thread-safety: built by one thread; read-only afterwards.
 */
#ifndef PD_DIFFREPORT_H
#define PD_DIFFREPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

/* Session classes; the strings are the report's `class` values. */
typedef enum pd_diff_class {
    PD_CLASS_IDENTICAL = 0,
    PD_CLASS_CHANGED,
    PD_CLASS_PENDING_RESYNC,
    PD_CLASS_NEW_ON_DISK,
    PD_CLASS_PARSE_ERROR,
    PD_CLASS_EXCLUDED_BY_PARSER,
    PD_CLASS_NEEDS_RETRY,
    PD_CLASS_SKIPPED,
    PD_CLASS_RACED,
    PD_CLASS_INCREMENTAL_SKEW,
    PD_CLASS_COUNT
} pd_diff_class;

/* "identical", "changed", ..., "transient_needs_retry". */
const char *pd_diff_class_name(pd_diff_class c);

/* One field difference between the stored row and the re-parse. */
typedef struct pd_field_diff {
    const char *field;  /* e.g. "message_count"; constant or arena string */
    char *stored;       /* rendered stored value */
    char *parsed;       /* rendered parsed value */
    char *detail;       /* NULL when none */
    bool informational; /* does not count as a change */
    bool unpaired;      /* the messages of the two sides do not pair up one to one by
                         * ordinal, so the diff is never put down to an incremental append */
} pd_field_diff;

/* A growable list of field diffs, in emission order. */
typedef struct pd_field_diffs {
    pd_field_diff *items;
    size_t n;
    size_t cap;
} pd_field_diffs;

/* The reason of a stored session that --limit left out of the sample. */
#define PD_REASON_NOT_SAMPLED "not sampled (--limit)"

typedef struct pd_diff_entry {
    char *session_id; /* NULL for an unattributed parse error */
    char *agent;
    char *file_path; /* NULL when none */
    pd_diff_class cls;
    char *reason;                /* NULL when none */
    int64_t stored_data_version; /* 0 when there is no stored row */
    pd_field_diff *fields;
    size_t n_fields;
    /* Set when skipped because the stored row was written from another file, a copy of this one
     * or another name of it (other_copy_alias), whose path is other_copy_path. */
    bool other_copy;
    bool other_copy_alias;
    char *other_copy_path;
    /* Set with other_copy when this run compared the stored row from the file it names, or
     * reported that the file no longer gives the session. */
    bool other_copy_compared;
    /* Set with other_copy on each copy of a session after the first in report order, so that
     * counts are of sessions. */
    bool other_copy_repeat;
    /* Set with other_copy_compared when the file the row names no longer gives the session
     * (a presence change), so the copy is the only file that has it. */
    bool other_copy_missing;
    /* Set with other_copy when --limit left out the file the row names. */
    bool other_copy_cut;
} pd_diff_entry;

typedef struct pd_diff_totals {
    int64_t examined;
    int64_t identical;
    int64_t changed;
    int64_t pending_resync;
    int64_t new_on_disk;
    int64_t parse_errors;
    int64_t excluded_by_parser;
    int64_t transient_needs_retry;
    int64_t skipped;
    int64_t raced;
    int64_t incremental_skew;
    int64_t informational_only;
} pd_diff_totals;

typedef struct pd_field_count {
    const char *field;
    int64_t count;
} pd_field_count;

/*
 * Per-phase times of one run, in milliseconds. Worker phases (read, parse,
 * stored_reads, compare) are summed over all worker threads, so with N
 * threads they can add up to N times the wall time. Rendered in JSON only
 * when enabled.
 */
typedef struct pd_diff_timings {
    bool enabled;
    double snapshot_ms;     /* open the archive and read the sessions table */
    double discovery_ms;    /* walk the roots and submit jobs (not folds, waits or inline jobs) */
    double read_ms;         /* workers: read source bytes */
    double parse_ms;        /* workers: parse and normalise */
    double stored_reads_ms; /* workers: load stored rows */
    double compare_ms;      /* workers: run the comparator */
    double collect_ms;      /* collector: fold finished jobs (re-stat, classify) */
    double wait_ms;         /* collector: blocked on workers (0 in inline mode) */
    double sweeps_ms;       /* presence and stored sweeps, sorting */
    double total_ms;        /* the whole run */
} pd_diff_timings;

typedef struct pd_diff_report {
    pd_arena *arena;
    char generated_at[40]; /* RFC 3339 UTC, seconds */
    int64_t data_version;
    const char *db_path;
    const char **agents; /* resolved agents, registry order */
    size_t n_agents;
    bool agents_restricted; /* --agent was given */
    int64_t files_examined;
    int64_t files_done; /* sources parsed and folded; less than files_examined when interrupted */
    bool files_limited;
    pd_diff_totals totals;
    pd_field_count *field_counts; /* sorted by field name */
    size_t n_field_counts;
    pd_diff_entry *sessions; /* sorted: class name, agent, file_path, session_id */
    size_t n_sessions;
    bool interrupted; /* the run was cancelled; never rendered as complete */
    pd_diff_timings timings;
    /* Directories under the roots that could not be listed (arena strings),
     * in discovery order. Their stored sessions were not compared. */
    const char **unlisted_dirs;
    size_t n_unlisted_dirs;
    /* Codex rollouts not read because an earlier one has the same session
     * UUID, and the first of them (arena string, NULL when none). */
    int64_t n_shadowed_rollouts;
    const char *shadowed_rollout;
    /* Compared sessions whose row a newer parser wrote (data version above
     * this binary's), and the highest such version (0 when none). */
    int64_t n_newer_rows;
    int64_t newest_data_version;
} pd_diff_report;

/* changed > 0 or parse_errors > 0. */
bool pd_diff_report_has_failures(const pd_diff_report *r);
/* examined > 0 and every examined session is pending_resync. */
bool pd_diff_report_is_vacuous(const pd_diff_report *r);

#endif
