/*
 * engine_internal.h -- declarations shared by the engine's own files.
 * Not part of the public API.
 */
#ifndef PD_ENGINE_INTERNAL_H
#define PD_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/arena.h"
#include "common/error.h"
#include "common/timefmt.h"
#include "engine/engine.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

struct pd_engine {
    pd_engine_config cfg;
    pd_engine_mode mode;
    char machine[256];
};

/* A set of strings keyed by XXH3, for dedupe and visited paths. Not thread-safe. */
typedef struct pd_strset {
    uint64_t *hashes; /* 0 marks an empty slot; real hashes are forced non-zero */
    const char **keys;
    size_t cap;
    size_t n;
} pd_strset;

void pd_strset_init(pd_strset *s);
void pd_strset_free(pd_strset *s);
/* Adds key (borrowed; must outlive the set). Returns 1 when added, 0 when present, PD_ENOMEM. */
int pd_strset_add(pd_strset *s, const char *key);
bool pd_strset_has(const pd_strset *s, const char *key);
/* Returns the key stored in s that equals key, or NULL. */
const char *pd_strset_get(const pd_strset *s, const char *key);

/*
 * A set of strings kept as 128-bit XXH3 digests, so that the strings need
 * not outlive the call that adds them: 16 bytes per slot, at most 3/4
 * full. Two distinct keys share a digest with a probability near 2^-128 for
 * each pair, so a false "present" is not a practical concern.
 */
typedef struct pd_keyset {
    uint64_t (*slots)[2]; /* {0, 0} marks an empty slot; real digests are forced non-zero */
    size_t cap;
    size_t n;
} pd_keyset;

void pd_keyset_init(pd_keyset *s);
void pd_keyset_free(pd_keyset *s);
/* Adds key. Returns 1 when added, 0 when present, PD_ENOMEM. */
int pd_keyset_add(pd_keyset *s, const char *key);

/* A discovered source with the provider that owns it. */
typedef struct pd_job_source {
    const pd_provider *provider;
    pd_source src;
    size_t provider_index; /* index into the run's provider list, for shared state */
} pd_job_source;

/*
 * Read-ahead state of one run. cold becomes true when workers find two
 * sources outside the page cache within PD_READ_AHEAD_WINDOW reads of each
 * other. On a warm corpus a single read still finds no cached page now and
 * then (up to 142 of 100,000 in one run on the benchmark machine), and
 * reading ahead does not pay for those. While cold is true, the collector
 * checks each source it queues and requests readahead of those not cached,
 * so disk reads overlap instead of waiting one by one on the workers. After
 * PD_READ_AHEAD_CACHED_RUN sources in a row were found cached, the
 * collector sets cold back to false and stops opening sources until the
 * workers find uncached ones again.
 */
typedef struct pd_read_ahead {
    bool cold;              /* set by workers, cleared by the collector (__atomic builtins) */
    uint64_t reads;         /* sources read by workers (__atomic builtins) */
    uint64_t last_uncached; /* value of reads at the last uncached read, or 0 (__atomic) */
    unsigned cached_run;    /* collector only: sources in a row found cached */
} pd_read_ahead;

/* Reads within which a second uncached source makes the run cold. */
#define PD_READ_AHEAD_WINDOW 64
/* Cached sources in a row after which the collector stops reading ahead. */
#define PD_READ_AHEAD_CACHED_RUN 256

/* Reads a source with pd_source_read and counts the read, and whether it was uncached, in ra. */
int pd_read_ahead_source(pd_read_ahead *ra, const char *path, pd_source_buf *buf, pd_err *err);
/* On the collector: reads path ahead while the run is cold (see pd_read_ahead). */
void pd_read_ahead_queue(pd_read_ahead *ra, const char *path);

/* The providers taking part in one run and their shared state. */
typedef struct pd_run_providers {
    const pd_provider *list[8];
    void *shared[8];
    size_t n;
} pd_run_providers;

/*
 * Opens shared state for every provider named in agents (NULL = all) that
 * has at least one configured root. Agents are kept in registry order.
 */
int pd_run_providers_open(const pd_engine *e, const char *const *agents, size_t n_agents,
                          pd_run_providers *out, pd_err *err);
void pd_run_providers_close(pd_run_providers *rp);
/*
 * Distinct stored file paths under a root of their row's agent, for the
 * agents of rp: a guess at how many sources discovery will find.
 */
/* True when row stores a file hash of exactly len bytes, so a digest of len bytes can match it. */
bool pd_row_hash_covers(const pd_stored_row *row, size_t len);
/*
 * True when bytes of length len whose SHA-256 is digest (hex) are the ones
 * row was written from: the row names a size and hash, and both match.
 */
bool pd_row_written_from(const pd_stored_row *row, const char *digest, size_t len);
int64_t pd_stored_sources(const pd_engine *e, const pd_snapshot *snap, const pd_run_providers *rp);

/*
 * Receives each deduplicated source. The struct and its strings are only
 * valid during the call; pd_job_source_copy() keeps them.
 */
typedef int (*pd_job_source_fn)(void *ctx, const pd_job_source *js);

/* Copies in into *out with its strings in arena (root and agent live as long as the run). */
int pd_job_source_copy(pd_arena *arena, const pd_job_source *in, pd_job_source *out);

/*
 * Codex rollouts that discovery left out because an earlier one of the
 * same layout (dated, or undated) has the same session UUID, so that only
 * the first is read. An undated copy of a dated rollout is not counted:
 * the dated one wins, as in the agent's own layout.
 */
typedef struct pd_discover_drops {
    int64_t n;
    const char *example; /* the first one left out, in the discovery arena */
} pd_discover_drops;

/*
 * Discovers every source of the run's providers in registry order, roots in
 * configuration order, and calls emit once per deduplicated source. Codex
 * sources that share a session UUID are emitted once: the dated layout wins,
 * then the first seen. arena keeps the roots and the few sources held back
 * for deduplication. The emitted strings are transient. drops, when not
 * NULL, counts the rollouts left out (see pd_discover_drops).
 */
int pd_discover_all(const pd_engine *e, const pd_run_providers *rp, pd_arena *arena,
                    pd_job_source_fn emit, void *ctx, pd_discover_drops *drops, pd_err *err);

/* stat() identity of a path; returns PD_OK or PD_EIO with errno kept. */
typedef struct pd_stat_info {
    int64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns; /* inode change: a rename or a write sets it */
    int64_t inode;
    int64_t device;
} pd_stat_info;
int pd_stat_path(const char *path, pd_stat_info *out);

/*
 * A compressor writing a .zst leaves it ending inside a zstd frame until it
 * finishes, and updates its mtime with every write. A file that ends so
 * and was modified during the run, or at most this long before it began,
 * is taken to be still being written. An older one is damaged.
 */
#define PD_ZST_WRITE_WINDOW_NS ((int64_t)60 * 1000000000)

/*
 * True when the .zst at path, found to end inside a frame when read with
 * read_size bytes and read_mtime (ns), is still being written. That is so
 * when its mtime lies between run_start - PD_ZST_WRITE_WINDOW_NS (wall
 * clock) and that long after now. It is also so when the file changed
 * since the read, as it does when a compressor finishes and sets the mtime
 * back to its input's.
 */
bool pd_zst_being_written(const char *path, int64_t read_size, int64_t read_mtime,
                          int64_t run_start);
/* True when the two paths name one file (as through a symbolic link). */
bool pd_same_file(const char *a, const char *b);

/* True when row has a decoded file_hash and hex is the same 64 lower-case hex digits. */
bool pd_row_hash_is(const pd_stored_row *row, const char *hex);

/*
 * True when row is a stored Claude fork of this machine (no '~' in its id)
 * that is not deleted: what sync marks deleted when a full parse of its
 * transcript no longer contains it.
 */
bool pd_row_is_local_fork(const pd_stored_row *row);

/*
 * Per-worker state shared by sync and diff: a JSON parser and a read-only
 * archive connection, created on the worker's own thread by the pool's
 * worker_init and used only by that thread.
 */
typedef struct pd_worker {
    pd_json_parser *json;
    pd_archive *reader;
    int held_loads;        /* loads run in the reader's held read transaction */
    int64_t held_since_ns; /* when it was opened; 0 when none is held */
    int64_t hold_max_ns;   /* how long it may be held (set by pd_worker_open) */
} pd_worker;

/*
 * Creates a pd_worker for db_path and starts the calling thread's
 * repository-root cache; returns PD_OK or the error (logged). Its reader
 * stops waiting for a lock once *cancel is set (cancel may be NULL). Close
 * it on the same thread.
 */
int pd_worker_open(const char *db_path, const atomic_bool *cancel, pd_worker **out);
void pd_worker_close(pd_worker *w);

/*
 * Makes sure the reader has a read transaction open for the next stored
 * session load, and ends and reopens it after a bounded number of loads or
 * time. Diff only, because it writes nothing. A load reads the archive as it
 * was when the transaction began, which is never before the run's snapshot.
 * A sync that commits to a row in between is then not seen by row_moved, so
 * the row is compared as the snapshot recorded it. The raced guard still
 * covers that case through the source's mtime and size. Returns PD_OK or
 * the SQLite error.
 */
int pd_worker_hold_read(pd_worker *w, pd_err *err);
/*
 * Ends the held read transaction, if any. Diff calls it when a worker goes
 * idle.
 */
void pd_worker_release_read(pd_worker *w);
/* Ends the held read transaction before a source of 1 MiB or more is parsed. */
void pd_worker_start_parse(pd_worker *w, size_t source_bytes);
/* Ends the held read transaction at the end of a job if it reached its bound. */
void pd_worker_end_job(pd_worker *w);

/*
 * Drops the sessions of a full parse of src that have no messages. A
 * transcript with no message yet (a rollout Codex has just created, a file
 * cut inside its first line) then produces no session, so its fallback id
 * never reaches the archive. Returns PD_EFORMAT, with err naming the path,
 * when nothing is left and the file had malformed lines: such a file is
 * not a transcript. One malformed line that may be an unterminated last
 * line is an agent still writing the file's first record, not a failure.
 */
int pd_keep_sessions_with_messages(pd_parse_result *res, const char *path, const pd_source_buf *src,
                                   pd_err *err);

/*
 * Refuses an archive stamped by a newer parser (PRAGMA user_version above
 * PD_DATA_VERSION): its rows follow rules this binary does not know.
 */
int pd_check_archive_version(pd_archive *a, pd_err *err);

/* Worker count when the caller asked for the default (online CPUs, at least 1). */
unsigned pd_default_threads(void);

#endif
