/*
 * gen_corpus.h -- synthetic transcript corpora for benchmarks, and drift
 * planted into an archive synced from them.
 *
 * A corpus is a directory with the layouts that Claude Code and Codex write:
 *   <out>/claude/<project>/<session uuid>.jsonl
 *   <out>/codex/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl
 *   <out>/codex/session_index.jsonl
 *   <out>/parsediff-gen.json          (what was generated, for the harness)
 * The source roots to pass to parsediff are <out>/claude and
 * <out>/codex/sessions.
 *
 * Output is a pure function of the configuration: session i draws from a
 * random stream seeded by (seed, i), so the bytes do not depend on the
 * number of writer threads or on scheduling.
 *
 * Entry points: pd_gen_profile_find() -> pd_gen_write_corpus(); later, on a
 * synced archive, pd_gen_plant_drift(). Each is called from one thread;
 * pd_gen_write_corpus() runs its own writer threads inside the call.
 */
#ifndef PD_GEN_CORPUS_H
#define PD_GEN_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* Size distribution and count of one named corpus profile. */
typedef struct pd_gen_profile {
    const char *name;
    int64_t n_sessions;
    /* Session file sizes are log-normal with this median and 99th percentile, in bytes. */
    double median_bytes;
    double p99_bytes;
    int64_t min_bytes; /* draws below are raised to this */
    int64_t max_bytes; /* draws above are cut to this */
    /* Sessions that also get one line of about huge_line_bytes (a large tool output). */
    int n_huge_lines;
} pd_gen_profile;

/* The built-in profiles "small", "mixed" and "many"; NULL for another name. */
const pd_gen_profile *pd_gen_profile_find(const char *name);
/* Names of the built-in profiles, for help text: "small, mixed, many". */
const char *pd_gen_profile_names(void);

typedef struct pd_gen_config {
    const char *out_dir;    /* created when absent; must not already hold a corpus */
    pd_gen_profile profile; /* a copy, so a caller may override the count */
    uint64_t seed;
    double codex_share;      /* share of sessions written as Codex rollouts, 0..1 */
    double title_share;      /* share of Codex sessions listed in session_index.jsonl */
    int64_t huge_line_bytes; /* target size of each huge line; 0 picks 10.5 MB */
    unsigned n_threads;      /* writer threads; 0 picks the online CPUs */
} pd_gen_config;

/* Fills cfg with the defaults for profile (seed 1, codex share 0.5). */
void pd_gen_config_init(pd_gen_config *cfg, const pd_gen_profile *profile, const char *out_dir);

typedef struct pd_gen_stats {
    int64_t n_files; /* transcripts, not counting session_index.jsonl */
    int64_t n_claude;
    int64_t n_codex;
    int64_t n_index_entries;
    int64_t total_bytes; /* transcript bytes */
    int64_t size_p50;    /* percentiles of transcript file sizes, bytes */
    int64_t size_p90;
    int64_t size_p99;
    int64_t size_max;
    int64_t longest_line; /* bytes, without the newline */
    int64_t n_lines_over_10mb;
    double seconds;
} pd_gen_stats;

/*
 * Writes the corpus described by cfg under cfg->out_dir, then its
 * parsediff-gen.json summary. Returns PD_OK; PD_EINVAL when the
 * configuration is out of range or out_dir already holds claude/ or codex/;
 * PD_EIO when a file cannot be written (err names it); PD_ENOMEM. Files are
 * not fsync'ed: a crash can leave a partial corpus.
 */
int pd_gen_write_corpus(const pd_gen_config *cfg, pd_gen_stats *stats, pd_err *err);

/* ---- drift -------------------------------------------------------------- */

typedef struct pd_gen_drift_config {
    const char *corpus_dir; /* the corpus the archive was synced from */
    const char *db_path;    /* archive written by `parsediff sync` */
    uint64_t seed;
    /*
     * Share of stored sessions that get one changed stored value, cycling
     * through first_message, one message's content and one message's model.
     */
    double changed_share;
    /*
     * Share of the other transcripts (those of unchanged sessions) that get
     * complete lines appended after the sync.
     */
    double appended_share;
} pd_gen_drift_config;

typedef struct pd_gen_drift_stats {
    int64_t sessions_seen;
    int64_t changed_first_message;
    int64_t changed_content;
    int64_t changed_model;
    int64_t files_appended;
    int64_t bytes_appended;
} pd_gen_drift_stats;

/*
 * Plants drift: updates the chosen stored rows in one transaction, then
 * appends one complete turn to each chosen transcript. The choice is a
 * function of the seed and the session id or path. Returns PD_OK,
 * PD_ESQLITE (err names the archive), PD_EIO (err names the file) or
 * PD_ENOMEM.
 */
int pd_gen_plant_drift(const pd_gen_drift_config *cfg, pd_gen_drift_stats *stats, pd_err *err);

#endif
