/*
 * model.h -- the session model shared by parsers, archive and comparator.
 *
 * Parsers fill it from a transcript; archive/ fills it from stored rows; the
 * comparator compares two values of the same type, so normalisation rules
 * live in one place (pd_session_normalize, common/normalize.c).
 *
 * Conventions for every field:
 *   - Strings are NUL-terminated, sanitised UTF-8 (no NUL, no invalid bytes,
 *     no control characters other than \n \t \r; see pd_utf8_sanitize) and
 *     allocated from the arena that owns the session. NULL means SQL NULL /
 *     "absent"; "" is a present empty string. Writers store NULL or '' as
 *     each column's rule says (see archive/).
 *   - Timestamps are RFC 3339 UTC strings as the archive stores them
 *     (pd_time_format), or NULL when absent.
 *   - Times in nanoseconds since the Unix epoch are int64_t.
 *   - Booleans are bool; nullable integers use PD_INT_NULL.
 *
 * Ownership: every pointer inside a pd_session is owned by one pd_arena; the
 * structs carry no free functions.
 */
#ifndef PD_MODEL_H
#define PD_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nullable integer columns use this value for SQL NULL. */
#define PD_INT_NULL INT64_MIN

/* Data version stamped by this binary into sessions.data_version. */
#define PD_DATA_VERSION 90
/* Data version stamped on a write whose parse needs a retry. */
#define PD_DATA_VERSION_RETRY 89

/* One result event attached to a tool call (Codex outputs, wait results). */
typedef struct pd_tool_result_event {
    char *tool_use_id;         /* NULL when empty */
    char *agent_id;            /* NULL when empty */
    char *subagent_session_id; /* NULL when empty */
    char *source;              /* "function_call_output", "custom_tool_call_output", "wait_output", ... */
    char *status;              /* "" when none */
    char *content;
    int64_t content_length; /* bytes of content */
    char *timestamp;        /* NULL when absent */
    int64_t event_index;    /* position among the call's events, from 0 */
} pd_tool_result_event;

typedef struct pd_tool_call {
    char *tool_use_id; /* NULL when empty */
    char *tool_name;
    char *category;
    char *input_json;          /* raw JSON text, NULL when empty */
    char *skill_name;          /* NULL when empty */
    char *subagent_session_id; /* NULL when empty */
    char *file_path;           /* NULL when empty */
    char *result_content;      /* NULL when none or blocked */
    int64_t result_content_length; /* 0 when none; stored as NULL when 0 */
    int64_t call_index;            /* position of the call inside its message, from 0 */
    pd_tool_result_event *events;
    size_t n_events;
} pd_tool_call;

/*
 * A tool result carried by a message as the parser saw it; consumed by
 * pd_session_normalize() to fill the matching call's result columns. Not stored.
 */
typedef struct pd_tool_result {
    char *tool_use_id;
    char *content;          /* decoded text (string content, or the concatenated text blocks) */
    int64_t content_length; /* bytes, as the rule for result_content_length says */
} pd_tool_result;

typedef struct pd_message {
    int64_t ordinal;
    char *role; /* "user" or "assistant" */
    char *content;
    int64_t content_length; /* bytes of content */
    char *thinking_text;    /* "" when none */
    char *timestamp;        /* NULL when absent; stored as '' */
    bool has_thinking;
    bool has_tool_use;
    bool is_system;
    char *model;       /* "" when none */
    char *token_usage; /* raw usage JSON text, "" when none */
    int64_t context_tokens;
    int64_t output_tokens;
    bool has_context_tokens;
    bool has_output_tokens;
    char *claude_message_id; /* "" when none */
    char *claude_request_id;
    char *source_type;
    char *source_subtype;
    char *prompt_source;
    char *source_uuid;
    char *source_parent_uuid;
    bool is_sidechain;
    bool is_compact_boundary;

    pd_tool_call *tool_calls;
    size_t n_tool_calls;

    /* Parser side only. */
    pd_tool_result *tool_results;
    size_t n_tool_results;
    char *stop_reason; /* "" when none */
} pd_message;

typedef struct pd_usage_event {
    int64_t message_ordinal; /* PD_INT_NULL when none */
    char *source;
    char *model;
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_creation_input_tokens;
    int64_t cache_read_input_tokens;
    int64_t reasoning_tokens;
    char *occurred_at; /* NULL when absent */
    char *dedup_key;   /* "" when none */
} pd_usage_event;

typedef struct pd_session {
    char *id;
    char *project;
    char *machine;
    char *agent; /* "claude", "codex" */
    char *agent_label;
    char *entrypoint;
    char *session_kind;
    char *first_message; /* NULL when empty */
    char *session_name;  /* NULL when empty */
    bool session_name_present; /* Codex: the title index had an entry (possibly blank) */
    char *started_at;          /* NULL when absent */
    char *ended_at;
    int64_t message_count;
    int64_t user_message_count;

    char *file_path;
    int64_t file_size;   /* PD_INT_NULL when unknown */
    int64_t file_mtime;  /* ns; PD_INT_NULL when unknown */
    int64_t file_inode;  /* PD_INT_NULL when 0 */
    int64_t file_device; /* PD_INT_NULL when 0 */
    char *file_hash;     /* lower-case hex SHA-256, NULL when unknown */
    /* ns: the newest mtime of the other files the parse read (Claude's
     * spilled tool output), 0 when none. Not stored; the raced guard reads it. */
    int64_t companion_mtime;

    int64_t next_ordinal;
    char *last_entry_uuid;       /* NULL when none */
    int64_t claude_linear_parse; /* 1, 0, or PD_INT_NULL */
    char *parent_session_id;     /* NULL when none */
    char *relationship_type;     /* "", "continuation", "subagent", "fork" */

    int64_t total_output_tokens;
    int64_t peak_context_tokens;
    bool has_total_output_tokens;
    bool has_peak_context_tokens;

    char *cwd;
    char *git_branch;
    char *source_session_id;
    char *source_version;
    char *transcript_fidelity;
    int64_t parser_malformed_lines;
    bool is_truncated;
    char *termination_status; /* NULL when unknown */

    /* Archive side only (read from stored rows). */
    int64_t data_version;
    bool last_write_incremental;
    char *deleted_at; /* NULL unless trashed */

    /* Parser side only. */
    bool needs_retry; /* stamp PD_DATA_VERSION_RETRY on write; diff: transient_needs_retry */

    pd_message *messages;
    size_t n_messages;
    pd_usage_event *usage_events;
    size_t n_usage_events;

    /*
     * Set by pd_session_normalize(): the tool results whose tool_use_id
     * matches no call among messages, in message order. An incremental write
     * links them to calls already stored; a full write ignores them.
     */
    pd_tool_result *unlinked_results;
    size_t n_unlinked_results;
} pd_session;

/* Sets every nullable integer of s to PD_INT_NULL and every other field to zero. */
void pd_session_init(pd_session *s);

#endif
