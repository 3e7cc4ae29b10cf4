/*
 * engine_fixture.h -- helpers for engine, sync and CLI tests: temporary
 * directories, transcript files of our own making, SQL on real archive
 * files, and one-call sync and diff runs.
 *
 * Every helper fails the running cmocka test (fail_msg) instead of
 * returning an error, so tests read as a list of steps.
 */
#ifndef PD_ENGINE_FIXTURE_H
#define PD_ENGINE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "engine/engine.h"

/* A temporary workspace: <dir>/claude (Claude root), <dir>/codex/sessions
 * (Codex root, index at <dir>/codex/session_index.jsonl), <dir>/archive.db. */
typedef struct fx_env {
    char dir[512];
    char claude_root[600];
    char codex_home[600];
    char codex_root[640];
    char db[600];
    pd_agent_root roots[2];
    unsigned threads;
} fx_env;

void fx_env_init(fx_env *env);
/* Removes the workspace recursively. */
void fx_env_cleanup(fx_env *env);

/* Writes content to path, creating parent directories. */
void fx_write(const char *path, const char *content);
void fx_append(const char *path, const char *content);
/* Returns a malloc'd copy of the file's contents (NUL-terminated); *len may be NULL. */
char *fx_read(const char *path, size_t *len);
void fx_set_mtime_ns(const char *path, int64_t ns);
int64_t fx_mtime_ns(const char *path);
int64_t fx_now_ns(void);
/* printf into a malloc'd string. */
char *fx_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Calls fn with the path of every regular file below dir whose name ends in
 * suffix, depth first, skipping names that start with '.'. Returns how many
 * files it passed to fn.
 */
size_t fx_each_file(const char *dir, const char *suffix, void (*fn)(const char *path, void *ctx),
                    void *ctx);

/* Paths of transcripts inside env. Caller frees. */
char *fx_claude_path(const fx_env *env, const char *project, const char *session_uuid);
char *fx_codex_path(const fx_env *env, const char *date_dir, const char *uuid);

/*
 * Transcript content of our own making. fx_claude_rich: user prompt,
 * assistant with thinking and a Read tool call, tool result, assistant text
 * ending the turn, plus a system line. fx_claude_plain: one exchange.
 * fx_codex_basic: session_meta, turn_context, a prompt, a shell call with
 * its output, an answer, a token_count and task_complete. Caller frees.
 */
char *fx_claude_rich(const char *session_uuid, const char *prompt);
char *fx_claude_plain(const char *session_uuid, const char *prompt);
/* One more complete exchange for an append (uuids continue from "p<n>"). */
char *fx_claude_append_exchange(const char *session_uuid, const char *parent_uuid, int n);
char *fx_codex_basic(const char *uuid, const char *prompt);
/*
 * Writes n fx_claude_rich transcripts under project, with session ids
 * "<id_prefix>-aaaa-4aaa-8aaa-<i as 12 digits>" (id_prefix: 8 hex digits).
 */
void fx_write_rich_sessions(const fx_env *env, const char *id_prefix, const char *project, int n,
                            const char *prompt);
/* Flushes every transcript of env to disk, drops it from the page cache and returns the count. */
size_t fx_drop_page_cache(const fx_env *env);
/* Flushes path to disk and drops bytes [offset, offset + len) from the page cache (len 0: all). */
void fx_drop_cached(const char *path, off_t offset, off_t len);
/* Returns how many pages of the first n bytes of path are in the page cache (mincore). */
size_t fx_resident_pages(const char *path, size_t n);
/* A complete user+assistant exchange to append to a Codex rollout. */
char *fx_codex_append_exchange(int n);
/* Sets the title of uuid in the Codex index (appends a row). */
void fx_codex_set_title(const fx_env *env, const char *uuid, const char *title);
char *fx_codex_index_path(const fx_env *env);

/* Runs SQL on the archive; fails the test on error. */
void fx_sql(const char *db, const char *sql);
int64_t fx_sql_int(const char *db, const char *sql);
/* Returns a malloc'd text result, or NULL for SQL NULL / no row. */
char *fx_sql_text(const char *db, const char *sql);

/* Syncs every root of env; fails the test unless the run returns PD_OK. */
/* Returns the engine configuration of env: its archive, its two roots, machine "testbox". */
pd_engine_config fx_engine_config(const fx_env *env);
void fx_sync(const fx_env *env, pd_sync_stats *stats);
void fx_sync_full(const fx_env *env, pd_sync_stats *stats);

/* Runs a diff; agents may be NULL. Fails the test unless PD_OK. Free with pd_diff_report_free. */
pd_diff_report *fx_diff(const fx_env *env, const char *const *agents, size_t n_agents,
                        int64_t limit);

/* Finds the listed entry for session_id (NULL when not listed). */
const pd_diff_entry *fx_entry(const pd_diff_report *r, const char *session_id);
/* Count of field_counts[field], 0 when absent. */
int64_t fx_field_count(const pd_diff_report *r, const char *field);
/* True when entry has a diff on field. */
bool fx_has_field(const pd_diff_entry *e, const char *field);
const pd_field_diff *fx_field(const pd_diff_entry *e, const char *field);

/* The JSON rendering of r with generated_at blanked, malloc'd. */
char *fx_report_json(const pd_diff_report *r);

/* SHA-256 of a file, hex, into out. */
void fx_file_sha256(const char *path, char out[65]);

#endif
