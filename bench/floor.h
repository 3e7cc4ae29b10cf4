/*
 * floor.h -- the floor: the least work any diff of a corpus against its
 * archive must do, measured in process.
 *
 * Three phases, each timed on its own:
 *   walk    list every *.jsonl file under the source roots, with its size;
 *   parse   read every byte of those files and run simdjson (pd_json_parse)
 *           over every non-empty line, extracting no field;
 *   scan    read every stored row of sessions, messages and tool_calls
 *           through SQLite (SELECT *, every column fetched).
 * A diff also extracts fields, normalises, compares and reports, so its
 * time over the floor's is the cost of that work plus any waste.
 *
 * Entry points: pd_floor_walk() -> pd_floor_parse() and pd_floor_scan()
 * (any order) -> pd_floor_files_free(). Call from one thread; parse and
 * scan start and join their own threads (n_threads 0 works on the caller's
 * thread).
 */
#ifndef PD_FLOOR_H
#define PD_FLOOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

typedef struct pd_floor_files {
    char **paths; /* malloc'd, sorted */
    int64_t *sizes;
    size_t n;
    int64_t total_bytes;
} pd_floor_files;

/*
 * Lists every regular file ending in ".jsonl" below each root (recursively;
 * symbolic links are not followed; a missing root has no files). Returns
 * PD_OK, PD_EIO naming a directory that could not be read, or PD_ENOMEM.
 */
int pd_floor_walk(const char *const *roots, size_t n_roots, pd_floor_files *out, pd_err *err);
void pd_floor_files_free(pd_floor_files *f);

/*
 * Drops the data of every file of f, and of the archive at db_path with its
 * "-wal" file, from the page cache (posix_fadvise POSIX_FADV_DONTNEED), so
 * the next run reads them from the disk. Directory entries and inodes stay
 * cached. Needs no privileges, and a file that cannot be opened is
 * skipped. Returns how many files were dropped.
 */
size_t pd_floor_evict(const pd_floor_files *f, const char *db_path);

typedef struct pd_floor_parse_stats {
    int64_t files;
    int64_t bytes;         /* bytes read */
    int64_t lines;         /* non-empty lines parsed */
    int64_t invalid_lines; /* lines simdjson rejected */
    double seconds;
} pd_floor_parse_stats;

/*
 * Reads and parses every file of f on n_threads threads (0: the caller's
 * thread), each with its own pd_json_parser. A file that cannot be read
 * fails the run with PD_EIO naming it.
 */
int pd_floor_parse(const pd_floor_files *f, unsigned n_threads, pd_floor_parse_stats *out,
                   pd_err *err);

typedef struct pd_floor_scan_stats {
    int64_t session_rows;
    int64_t message_rows;
    int64_t tool_call_rows;
    int64_t bytes; /* text and blob bytes fetched */
    double seconds;
} pd_floor_scan_stats;

/*
 * Scans the three tables of the archive at db_path. Each thread opens its
 * own read-only connection and reads one rowid range of each table, so
 * together they read every row once. Returns PD_OK or PD_ESQLITE naming the
 * archive.
 */
int pd_floor_scan(const char *db_path, unsigned n_threads, pd_floor_scan_stats *out, pd_err *err);

#endif
