/*
 * codex_internal.h -- declarations shared by the Codex parser's files.
 *
 *   codex.c         provider table, discovery, full and incremental parse,
 *                   session fields
 *   codex_lines.c   line dispatch: what each transcript line contributes
 *   codex_render.c  function-call labels, input_json, Fernet check, text helpers
 *   codex_index.c   shared state: session_index.jsonl titles and the UUID map
 *   codex_gate.c    replay gate for forked and subagent rollouts
 *   codex_map.c     string-keyed hash map in an arena
 *
 * Nothing here is part of the public API (see parsers/codex.h).
 */
#ifndef PD_CODEX_INTERNAL_H
#define PD_CODEX_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "common/model.h"
#include "parsers/provider.h"

/* ---- codex_map.c: string -> pointer hash map --------------------------- */

/*
 * Open-addressing hash map with string keys. Keys are copied into the
 * arena; values are caller pointers. Memory of a grown table stays in the
 * arena until the arena is freed. Not thread-safe while being written;
 * concurrent readers of a map that no longer changes are safe.
 */
typedef struct pd_codex_map {
    pd_arena *arena;
    struct pd_codex_map_slot *slots;
    size_t cap; /* power of two, or 0 before the first put */
    size_t len;
} pd_codex_map;

void pd_codex_map_init(pd_codex_map *m, pd_arena *a);
/* Inserts or replaces key[0..n). Returns PD_OK or PD_ENOMEM. */
int pd_codex_map_put(pd_codex_map *m, const char *key, size_t n, void *value);
/* Returns true and sets *value (may be NULL) when key[0..n) is present. */
bool pd_codex_map_get(const pd_codex_map *m, const char *key, size_t n, void **value);
/* Removes every entry but keeps the table. */
void pd_codex_map_clear(pd_codex_map *m);

/* ---- codex_index.c: shared state --------------------------------------- */

/* One session_index.jsonl file. */
typedef struct pd_codex_index {
    char *path;       /* <parent of sessions|archived_sessions>/session_index.jsonl */
    bool exists;      /* stat succeeded */
    bool read_failed; /* the file exists but could not be read */
    int64_t mtime_ns; /* 0 when missing */
    pd_codex_map titles; /* session UUID -> trimmed, sanitised title ("" clears) */
} pd_codex_index;

/* A rollout found under the roots, for the replay gate's parent lookup. */
typedef struct pd_codex_rollout {
    char *path;
    bool is_dated;
} pd_codex_rollout;

/*
 * The map from session UUID to rollout, built on the first lookup. Only
 * forks and subagents need it, and it costs a few hundred bytes per rollout,
 * so a run without them never builds it.
 */
typedef struct pd_codex_rollout_map {
    pthread_mutex_t lock;  /* held while the map is built */
    atomic_bool ready;     /* set, with release order, once map is complete */
    pd_arena *arena;       /* the map's own memory, written only under lock */
    const char **roots;    /* the roots to walk, copied at open */
    size_t n_roots;
    pd_codex_map map; /* UUID -> pd_codex_rollout*, dated first, then smaller path */
} pd_codex_rollout_map;

/*
 * Run state built by open_shared. After pd_codex_shared_open returns only
 * the rollout map is written (once, under its lock), so parse workers read
 * the rest without locks.
 */
typedef struct pd_codex_shared {
    pd_arena *arena;
    pd_codex_index *indexes; /* distinct index files, in root order */
    size_t n_indexes;
    pd_codex_rollout_map *rollouts;
} pd_codex_shared;

int pd_codex_shared_open(const char *const *roots, size_t n_roots, void **shared, pd_err *err);
void pd_codex_shared_close(void *shared);
int64_t pd_codex_effective_mtime(void *shared, const char *path, int64_t transcript_mtime_ns);

/*
 * Returns the index whose location rule matches the transcript at path
 * (the first ancestor directory named "sessions" or "archived_sessions",
 * then session_index.jsonl beside it), or NULL when there is none or it was
 * not loaded by open_shared.
 */
const pd_codex_index *pd_codex_index_for_path(const pd_codex_shared *sh, const char *path);

/*
 * Looks id[0..n) up in one index. Returns true when the index has a row for
 * it and sets *title to the stored title ("" for a blank title).
 */
bool pd_codex_index_lookup(const pd_codex_index *ix, const char *id, size_t n, const char **title);

/*
 * Returns the rollout path for a session UUID, or NULL when none was found.
 * The first call walks the roots.
 */
const char *pd_codex_rollout_path(const pd_codex_shared *sh, const char *uuid, size_t n);

/*
 * Visits the rollout files of one root in sorted path order: flat
 * <root>/rollout-*.jsonl[.zst] and dated <root>/YYYY/MM/DD/rollout-*.
 * A missing root visits nothing. visit returns PD_OK to continue; path is
 * valid only during the call.
 */
typedef int (*pd_codex_visit_fn)(void *ctx, const char *path, bool is_dated);
/* Receives a directory below the root that could not be listed, with the errno. */
typedef int (*pd_codex_unlistable_fn)(void *ctx, const char *dir, int errnum);
/*
 * unlistable may be NULL: such a directory is then logged and skipped. With
 * warn_not_files, an entry named like a rollout that is not a regular file
 * is logged as skipped. A second walk of a root passes false.
 */
int pd_codex_walk_root(const char *root, pd_codex_visit_fn visit, pd_codex_unlistable_fn unlistable,
                       bool warn_not_files, void *ctx, pd_err *err);

/* Canonical UUID of a rollout name: the trailing 8-4-4-4-12 hex group of the stem. */
bool pd_codex_uuid_from_name(const char *name, size_t n, char out[37]);

/* ---- codex_gate.c: replay gate ------------------------------------------ */

/*
 * A forked rollout (session_meta forked_from_id) or a subagent rollout
 * (a parent thread in session_meta) may begin with a copy of the parent's
 * lines. The gate suppresses that copy. While it is active every line except
 * turn_context is dropped, and so is a turn_context whose turn_id also
 * appears in the parent's transcript. The first turn_context with a new
 * turn_id closes the gate for good.
 */
typedef struct pd_codex_gate {
    bool armed;            /* a parent was named; later metas do not re-arm */
    bool active;           /* lines are being suppressed */
    bool closed;           /* a genuine turn was seen; never re-activates */
    bool is_fork;          /* armed by forked_from_id (active at once) */
    bool parent_resolved;  /* the parent's turn ids were loaded */
    bool needs_retry;      /* a replay exists but the parent could not be read */
    char *parent_id;       /* raw parent thread id; its copied session_meta is dropped */
    pd_codex_map parent_turns; /* turn_id -> NULL */
} pd_codex_gate;

void pd_codex_gate_init(pd_codex_gate *g, pd_arena *a);

/*
 * Arms the gate from a session_meta that was not itself suppressed. fork_id
 * and parent_id may be NULL or empty. Loads the parent's turn ids through
 * the shared UUID map using p (which is re-parsed). Returns PD_OK or
 * PD_ENOMEM; an unreadable parent is not an error (it leaves the gate open).
 */
int pd_codex_gate_arm(pd_codex_gate *g, const pd_codex_shared *sh, pd_json_parser *p,
                      const char *fork_id, size_t fork_n, const char *parent_id, size_t parent_n);

/*
 * Decides whether a valid line is replayed parent history. type is the
 * envelope type; meta_id is payload.id of a session_meta (else NULL);
 * turn_id is payload.turn_id of a turn_context (absent counts as "").
 */
bool pd_codex_gate_suppresses(pd_codex_gate *g, const char *type, const char *meta_id,
                              size_t meta_id_n, const char *turn_id, size_t turn_id_n);

/* ---- codex_render.c: labels and text helpers ------------------------------ */

/* What a function or custom tool call renders to. Strings are arena-owned. */
typedef struct pd_codex_call_render {
    char *content;    /* the message text, e.g. "[Bash]\n$ make test" */
    char *input_json; /* NULL when there are no arguments */
    char *file_path;  /* first non-empty file_path, path, filePath or file of input_json, or NULL */
    const char *category;
    char **wait_ids; /* wait/wait_agent: agent ids named by ids or targets */
    size_t n_wait_ids;
} pd_codex_call_render;

/*
 * Renders a function_call or custom_tool_call. payload is the item object
 * and payload_path its dotted path from the document root ("payload" for
 * the envelope format, "" for legacy bare items), used to read raw JSON
 * text through line_parser. nested is a second parser for JSON held in
 * strings; its previous parse is lost. Returns PD_OK or PD_ENOMEM.
 */
int pd_codex_render_call(pd_arena *a, pd_json_parser *line_parser, pd_json_parser *nested,
                         const char *name, pd_json payload, const char *payload_path,
                         pd_codex_call_render *out);

/* Whether s[0..n) is shaped like a Fernet token (Codex encrypted content). */
bool pd_codex_is_fernet_token(const char *s, size_t n);

/*
 * Keeps s[0..n) when it has at most max_runes runes, else its first
 * max_runes runes plus "...". Returns an arena string or NULL.
 */
char *pd_codex_truncate(pd_arena *a, const char *s, size_t n, size_t max_runes);

/* Trims Unicode whitespace and reports the span (wraps pd_text_trim_span). */
void pd_codex_trim(const char **s, size_t *n);

/* Returns a sanitised arena copy of s[0..n) (never NULL unless out of memory). */
char *pd_codex_clean(pd_arena *a, const char *s, size_t n);

/* True when s[0..n) equals the NUL-terminated lit. Inline, so that the
 * length of a literal is known at compile time. */
static inline bool pd_codex_eq(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* ---- codex_lines.c: the line scan ------------------------------------------ */

/* A subagent notification held until its wait or spawn call is known. */
typedef struct pd_codex_pending {
    char *agent_id;
    char *status;
    char *text;
    char *timestamp; /* NULL when absent */
    int64_t ordinal; /* the message position it reserved */
    bool claimed;
} pd_codex_pending;

/*
 * State of one transcript scan. Messages are built in order with ordinals
 * from `ordinal`. A held notification reserves an ordinal and is placed, or
 * attached to a call, when the scan ends.
 */
typedef struct pd_codex_builder {
    const pd_parse_request *req;
    const pd_codex_shared *shared;
    pd_arena *arena;
    pd_json_parser *nested; /* parses JSON inside strings, since req->json contains the line */

    pd_message *msgs;
    size_t n_msgs;
    size_t cap_msgs;
    int64_t ordinal;

    /* First genuine prompt and the replay guard for it. */
    char *first_user_content; /* full content of the first prompt; NULL before it */
    size_t first_user_len;
    char *first_message; /* first prompt, newlines flattened, at most 300 runes */
    bool saw_user_turn_after_first;
    bool may_replay_first;

    bool have_started;
    bool have_ended;
    int64_t started_ns;
    int64_t ended_ns;

    char *meta_id;      /* payload.id of the last session_meta kept; NULL before one */
    char *cwd;          /* "" when unknown */
    char *project;      /* "unknown" until a cwd names one */
    char *git_branch;   /* from session_meta git.branch, only for the project rule */
    char *model;        /* current model from turn_context; "" when none */
    char *agent_path;   /* this session's agent path, for agent_message recipients */
    char *parent_thread; /* subagent parent thread id; NULL when none */
    bool legacy;        /* the file uses the bare-line format */

    pd_codex_map call_refs;   /* call_id -> message index + 1 (last call wins) */
    pd_codex_map call_names;  /* call_id -> tool name */
    pd_codex_map spawn_calls; /* agent id -> spawn call_id */
    pd_codex_map wait_calls;  /* agent id -> wait call_id */
    pd_codex_pending *pending;
    size_t n_pending;
    size_t cap_pending;

    char *last_usage; /* canonical JSON of the last token_count usage seen */
    const char *last_task_event; /* "task_started", "task_complete", "turn_aborted" or NULL */

    pd_codex_gate gate;

    /* Incremental parse: set while scanning the appended tail. */
    bool tail_mode;
    const char *fallback; /* why the tail needs a full parse; NULL when it does not */
} pd_codex_builder;

/* Prepares b for a scan of req's source. Returns PD_OK or PD_ENOMEM. */
int pd_codex_builder_init(pd_codex_builder *b, const pd_parse_request *req, pd_json_parser *nested);

/*
 * Applies one valid line (root is its parse on req->json). Returns PD_OK,
 * PD_ENOMEM, or PD_EFALLBACK in tail mode when the line needs a full parse,
 * with the reason in b->fallback.
 */
int pd_codex_process_line(pd_codex_builder *b, pd_json root);

/*
 * Ends a full scan: places held notifications (on their wait or spawn call,
 * else as user messages at their reserved position), then sorts messages by
 * ordinal and renumbers them from 0. Returns PD_OK or PD_ENOMEM.
 */
int pd_codex_builder_finish(pd_codex_builder *b);

/* Forgets the messages and call tables of the prefix before a tail scan. */
void pd_codex_builder_start_tail(pd_codex_builder *b, int64_t next_ordinal);

#endif
