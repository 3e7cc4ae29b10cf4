/*
 * compare.h -- the comparator: field diffs between a stored session and its
 * re-parse.
 *
 * Both sides are pd_session values of the same model: `stored` as archive/
 * read it back, `parsed` after pd_session_normalize(). The comparator emits
 * diffs in this order:
 *   1. session-row columns (counts, text columns, token aggregates,
 *      termination_status, parser-owned metadata);
 *   2. per-message fields, but only when one of five ordered message
 *      fingerprints differs (token, role/time, content, flags, tool calls).
 *      Messages are then paired by ordinal value and each field family reports
 *      its first differing pair and how many pairs differ;
 *   3. usage events, compared as order-insensitive multisets.
 * A session written and read back unchanged yields no diff.
 *
 * Informational diffs do not count as a change. For the incremental-append
 * agents (pd_agent_is_incremental) the session columns that the incremental
 * write path leaves frozen (session_name, the parser-owned metadata, and a
 * termination_status whose stored value is empty) are informational.
 *
 * Thread-safety: every function is pure and touches only its arguments.
 */
#ifndef PD_COMPARE_H
#define PD_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "common/model.h"
#include "engine/diffreport.h"

/* Field names of the diffs, as the report's `field` and `field_counts` show them. */
#define PD_FIELD_MESSAGE_COUNT "message_count"
#define PD_FIELD_USER_MESSAGE_COUNT "user_message_count"
#define PD_FIELD_FIRST_MESSAGE "first_message"
#define PD_FIELD_SESSION_NAME "session_name"
#define PD_FIELD_STARTED_AT "started_at"
#define PD_FIELD_ENDED_AT "ended_at"
#define PD_FIELD_MODELS "models"
#define PD_FIELD_TOTAL_OUTPUT_TOKENS "total_output_tokens"
#define PD_FIELD_PEAK_CONTEXT_TOKENS "peak_context_tokens"
#define PD_FIELD_MESSAGE_TOKENS "message_tokens"
#define PD_FIELD_MESSAGE_CONTENT "message_content"
#define PD_FIELD_MESSAGE_METADATA "message_metadata"
#define PD_FIELD_TOOL_CALLS "tool_calls"
#define PD_FIELD_USAGE_EVENT_COUNT "usage_event_count"
#define PD_FIELD_USAGE_EVENT_TOTALS "usage_event_totals"
#define PD_FIELD_TERMINATION_STATUS "termination_status"
#define PD_FIELD_AGENT_LABEL "agent_label"
#define PD_FIELD_ENTRYPOINT "entrypoint"
#define PD_FIELD_SESSION_KIND "session_kind"
#define PD_FIELD_CWD "cwd"
#define PD_FIELD_GIT_BRANCH "git_branch"
#define PD_FIELD_PARENT_SESSION_ID "parent_session_id"
#define PD_FIELD_RELATIONSHIP_TYPE "relationship_type"
#define PD_FIELD_SOURCE_SESSION_ID "source_session_id"
#define PD_FIELD_SOURCE_VERSION "source_version"
#define PD_FIELD_TRANSCRIPT_FIDELITY "transcript_fidelity"
#define PD_FIELD_PARSER_MALFORMED_LINES "parser_malformed_lines"
#define PD_FIELD_IS_TRUNCATED "is_truncated"
/* Synthetic field of the presence sweep (engine/), never emitted here. */
#define PD_FIELD_PRESENCE "presence"

/*
 * Compares stored with parsed and appends the diffs to out in the order the
 * file comment gives. parsed->agent decides which diffs are informational.
 * The diff strings and out's array come from arena; out may already hold
 * diffs from the same arena. Returns PD_OK, PD_EINVAL when an argument is
 * NULL, or PD_ENOMEM; after an error out may hold a partial list.
 * Thread-safe.
 */
int pd_compare_sessions(const pd_session *stored, const pd_session *parsed, pd_arena *arena,
                        pd_field_diffs *out);

/* Number of diffs in d that are not informational. d may be NULL. */
size_t pd_field_diffs_real_count(const pd_field_diffs *d);

/*
 * True when every non-informational diff of d is on message_metadata, the
 * only field that an incremental append can leave stale, and none comes
 * from messages that do not pair up by ordinal (an append never moves an
 * ordinal, so a message on one side only is a real change). Also true when
 * d contains no such diff. d may be NULL.
 */
bool pd_field_diffs_confined_to_incremental_artifacts(const pd_field_diffs *d);

/* True for the agents whose sync path appends incrementally: claude, codex, traex. */
bool pd_agent_is_incremental(const char *agent);

/* The five message fingerprints. */
typedef enum pd_fingerprint_kind {
    PD_FP_TOKEN = 0,  /* model, usage, token counts and flags, source ids, sidechain flags */
    PD_FP_ROLE_TIME,  /* role and raw timestamp */
    PD_FP_CONTENT,    /* content_length and hash of the content */
    PD_FP_FLAGS,      /* is_system, has_thinking, has_tool_use, hash of thinking_text */
    PD_FP_TOOL_CALLS, /* the parser-owned tool-call columns */
    PD_FP_COUNT
} pd_fingerprint_kind;

/* XXH3-128 digests (32 lower-case hex digits) of each fingerprint's serialisation. */
typedef struct pd_message_fingerprints {
    char hex[PD_FP_COUNT][65];
} pd_message_fingerprints;

/*
 * Computes the five fingerprint digests of s's messages. Both sides of a
 * comparison use this one function, so equal rows give equal digests.
 * Returns PD_OK or PD_ENOMEM. Thread-safe.
 */
int pd_compare_fingerprints(const pd_session *s, pd_message_fingerprints *out);

/*
 * Writes the full serialisation of one fingerprint of s's messages into *out
 * (an arena string). Rows are in ordinal order and end with ';', fields are
 * separated by '|', and "L:s" is the byte length of s, a colon, then s.
 * Meant for tests and debugging. Returns PD_OK, PD_EINVAL for an unknown
 * kind, or PD_ENOMEM. Thread-safe.
 */
int pd_compare_fingerprint_text(const pd_session *s, pd_fingerprint_kind kind, pd_arena *arena,
                                char **out);

#endif
