/*
 * provider.h -- the interface every agent parser implements.
 *
 * A provider discovers the sources of one agent under its roots and parses
 * one source into sessions of the common model (common/model.h). The engine
 * calls, in order:
 *   1. shared = open_shared(roots)   once per run, main thread (may be NULL op)
 *   2. discover(roots, emit)         main thread (or the discovery thread)
 *   3. parse(request, result)        any worker thread, concurrently
 *   4. close_shared(shared)          once, after every parse returned
 * Shared state (for Codex: the session_index.jsonl titles and the UUID map of
 * rollouts) is read-only between open_shared and close_shared, so parse may
 * read it from any thread without locks.
 *
 * A parse never writes files and never touches SQLite. A malformed line is
 * counted, not fatal; a source that cannot be read or yields nothing usable
 * returns an error code with the path and reason in err, and the batch goes on.
 */
#ifndef PD_PROVIDER_H
#define PD_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "common/model.h"
#include "parsers/jsonl.h"

/* Which live-mtime rule the raced guard applies to this agent's sources. */
typedef enum pd_live_mtime_rule {
    PD_LIVE_MTIME_FLOORED = 0,  /* re-stat, floored by the parse-time mtime */
    PD_LIVE_MTIME_TRANSCRIPT,   /* plain transcript stat, never folded (Codex) */
} pd_live_mtime_rule;

/*
 * One discovered source. Its strings are valid only during the pd_discover_fn
 * call that receives it; the receiver copies what it keeps.
 */
typedef struct pd_source {
    const char *path;         /* absolute path of the transcript */
    const char *agent;        /* provider name */
    const char *root;         /* the root it was found under */
    const char *project_hint; /* Claude: project directory name; may be NULL */
    const char *dedupe_key;   /* Codex: agent + session UUID; else NULL (path is the key) */
    bool is_dated;            /* Codex: found under YYYY/MM/DD (wins dedupe) */
    int list_errno;           /* nonzero: path is a directory that could not be listed (the
                                 errno), so the transcripts in it were not found */
} pd_source;

/* Receives each discovered source; return PD_OK to continue or an error to stop. */
typedef int (*pd_discover_fn)(void *ctx, const pd_source *src);

/*
 * Stored state an incremental parse starts from (one stored session row).
 * Every string may be NULL.
 */
typedef struct pd_incr_state {
    int64_t offset;          /* stored file_size: first byte of the appended data */
    int64_t next_ordinal;    /* stored next_ordinal */
    int64_t message_count;   /* stored message_count */
    const char *session_id;
    const char *last_entry_uuid;
    const char *last_claude_message_id; /* claude_message_id of the last stored message */
    int64_t claude_linear_parse;        /* 1, 0, or PD_INT_NULL */
    const char *first_message;
    const char *session_name;
    const char *agent_label;
    const char *entrypoint;
    const char *session_kind;
    const char *started_at; /* stored started_at, NULL when none */
    /* The stored ended_at in ns since the epoch: the latest time of any stored line. */
    int64_t ended_at_ns;
    bool has_ended_at;
    /* The last stored message looks like a queued prompt (see fill_incr_state in sync.c). */
    bool last_message_queued;
} pd_incr_state;

typedef struct pd_parse_request {
    const char *path;           /* source path as discovered */
    const char *root;           /* discovery root the source came from */
    const char *machine;        /* machine name stamped on sessions */
    const char *project_hint;   /* from discovery; may be NULL */
    const pd_source_buf *src;   /* the source bytes, read by the caller */
    const pd_incr_state *incr;  /* NULL for a full parse */
    void *shared;               /* the provider's shared state */
    pd_json_parser *json;       /* the calling thread's parser */
    pd_arena *arena;            /* owns everything the result points to */
} pd_parse_request;

typedef struct pd_parse_result {
    /*
     * Full parse: every session of the source, main session first.
     * Incremental parse: exactly one session holding only the appended
     * messages (ordinals from incr->next_ordinal) and the tail's values for
     * ended_at and termination_status; tool results whose call is not in the
     * append are left on the messages for the writer to link to stored calls.
     */
    pd_session *sessions;
    size_t n_sessions;
    char **excluded_ids; /* sessions the parser deliberately does not emit; arena strings */
    size_t n_excluded;
    /*
     * Offset just after the last consumed line. A full parse consumes the
     * whole buffer except, for Codex, a trailing partial line; an
     * incremental parse consumes the appended complete lines.
     */
    int64_t consumed;
    int64_t malformed_lines;
    /* Of malformed_lines, the last line of the buffer, which lacks its newline:
     * an agent in the middle of a write leaves one. */
    bool malformed_cut_tail;
} pd_parse_result;

typedef struct pd_provider {
    const char *name; /* "claude", "codex" */
    bool file_based;
    bool incremental; /* supports parse with req->incr != NULL */
    pd_live_mtime_rule live_mtime_rule;
    /* The parse ignores an unfinished last line (Codex), so bytes after the
     * last complete line cannot change what it yields. */
    bool ignores_partial_tail;

    /* Optional; builds read-only state for a run. Returns PD_OK and sets *shared. */
    int (*open_shared)(const char *const *roots, size_t n_roots, void **shared, pd_err *err);
    void (*close_shared)(void *shared);

    /*
     * Walks one root and calls emit for each source, in a deterministic
     * order (sorted paths). A missing root is not an error (no sources).
     * arena lives for the whole run, so it takes per-root data only and
     * never per-source strings.
     */
    int (*discover)(const char *root, pd_arena *arena, pd_discover_fn emit, void *ctx,
                    pd_err *err);

    /*
     * Parses one source. Returns PD_OK and fills *out; PD_EFALLBACK when an
     * incremental request must be redone as a full parse; any other code
     * (with err naming the path and reason) when the source is unusable.
     * Leaves file_hash NULL: the caller hashes the bytes it read.
     */
    int (*parse)(const pd_parse_request *req, pd_parse_result *out, pd_err *err);

    /*
     * Optional; the effective mtime a full write stores for this source
     * (Codex folds session_index.jsonl in). NULL means the transcript mtime.
     */
    int64_t (*effective_mtime)(void *shared, const char *path, int64_t transcript_mtime_ns);

    /*
     * Optional. True when the two paths share a dedupe key (for Codex, the
     * session UUID in the file name), so discovery reads at most one of
     * them in a run. NULL means that every path is read.
     */
    bool (*same_dedupe_key)(const char *a, const char *b);
} pd_provider;

/* Registry in fixed order (claude, codex). Returns the count and sets *out. */
size_t pd_providers(const pd_provider *const **out);
/* Looks a provider up by name; NULL when unknown. */
const pd_provider *pd_provider_find(const char *name);

/*
 * Start and end the calling thread's cache of repository roots, which the
 * Claude and Codex parsers use for project names. Outside the cache window
 * every parse walks the file system.
 */
void pd_project_cache_begin(void);
void pd_project_cache_end(void);

extern const pd_provider pd_provider_claude;
extern const pd_provider pd_provider_codex;

#endif
