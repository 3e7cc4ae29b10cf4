/*
 * claude_internal.h -- declarations shared by the Claude Code parser files.
 *
 * The parser reads a transcript in one pass (claude.c), turning each valid
 * user or assistant line into a claude_entry that owns sanitised copies of
 * everything later steps need, because JSON handles die at the next line.
 * Later steps work on entries only:
 *   claude_chunks.c    merges assistant lines that share a message.id
 *   claude_messages.c  turns entries into messages
 *   claude_session.c   fills session fields from the messages
 *   claude_dag.c       splits a uuid tree into the main path and forks
 *   claude_project.c   derives the project name
 *   claude_blocks.c    extracts content blocks and renders tool labels
 *   claude_persisted.c reads tool output spilled to tool-results files
 *   claude_incremental.c parses an appended tail
 *   claude_discover.c  walks a projects root
 *   claude_map.c       string-keyed hash map in an arena
 *
 * Thread-safety: everything here works on one parse request's arena and
 * parser, so one request belongs to one thread.
 */
#ifndef PD_CLAUDE_INTERNAL_H
#define PD_CLAUDE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/json.h"
#include "common/model.h"
#include "common/timefmt.h"
#include "parsers/provider.h"

/* Lines longer than this are skipped without counting as malformed, as agentsview's reader skips
 * them. */
#define CLAUDE_MAX_LINE_BYTES ((size_t)64 << 20)
/* Largest spilled tool output substituted into a result, in bytes. */
#define CLAUDE_PERSISTED_MAX_BYTES ((size_t)16 << 20)
/* A branch point whose first child subtree contains more real user turns than this is a fork. */
#define CLAUDE_FORK_THRESHOLD 3

/* ---- string-keyed map ---------------------------------------------------- */

typedef struct claude_map_slot {
    const char *key; /* NULL marks an empty slot */
    uint64_t hash;
    void *value;
    int64_t number;
} claude_map_slot;

/* Open-addressing hash map. Keys are NUL-terminated and must outlive the map. */
typedef struct claude_map {
    pd_arena *arena;
    claude_map_slot *slots;
    size_t cap; /* zero or a power of two */
    size_t count;
} claude_map;

void claude_map_init(claude_map *m, pd_arena *a);
/* Returns the slot of key, or NULL when absent. */
claude_map_slot *claude_map_find(const claude_map *m, const char *key);
/*
 * Inserts key when absent and sets *slot to its slot (new slots have value
 * NULL and number 0). Sets *created when the key was new (created may be
 * NULL). Returns PD_OK or PD_ENOMEM. Slots move when the map grows.
 */
int claude_map_upsert(claude_map *m, const char *key, claude_map_slot **slot, bool *created);

/* ---- entries --------------------------------------------------------------- */

typedef enum claude_entry_type { CLAUDE_ENTRY_USER, CLAUDE_ENTRY_ASSISTANT } claude_entry_type;

typedef enum claude_block_kind {
    CLAUDE_BLOCK_TEXT,
    CLAUDE_BLOCK_THINKING,
    CLAUDE_BLOCK_TOOL_USE,
    CLAUDE_BLOCK_TOOL_RESULT,
    CLAUDE_BLOCK_OTHER
} claude_block_kind;

/* One element of an array message.content, reduced to what messages need. */
typedef struct claude_block {
    claude_block_kind kind;
    char *type;        /* the block's "type" */
    uint64_t raw_hash; /* XXH3 of the block's JSON text, for identity in chunk merging */
    char *text;        /* text or thinking text, "" for other kinds */
    size_t text_len;

    /* tool_use / toolCall */
    char *tool_id;    /* "" when missing */
    char *tool_name;  /* "" when missing: the label is rendered but no call is recorded */
    char *label;      /* rendered text part such as "[Read: a.go]" */
    char *input_json; /* raw input JSON, NULL when missing */
    char *skill_name; /* NULL when none */
    char *file_path;  /* NULL when none */

    /* tool_result */
    char *result_id;       /* tool_use_id, "" when missing */
    char *result_content;  /* decoded text */
    int64_t result_length; /* bytes of result_content */
} claude_block;

/* A user or assistant line (or a merged run of assistant lines). */
typedef struct claude_entry {
    claude_entry_type type;
    char *uuid;        /* "" when missing */
    char *parent_uuid; /* "" when missing */
    pd_time_ns ts;
    bool has_ts;
    bool is_compact_summary;
    bool is_sidechain;
    bool is_meta;
    char *request_id;
    char *prompt_source;
    char *message_id;
    char *stop_reason;
    char *model;
    char *usage; /* raw message.usage JSON, NULL when absent */
    int64_t context_tokens;
    int64_t output_tokens;
    bool has_context_tokens;
    bool has_output_tokens;

    bool content_is_string;
    char *content_string; /* message.content when it is a string */
    size_t content_string_len;
    claude_block *blocks; /* message.content when it is an array */
    size_t n_blocks;

    char *tool_agent_id;  /* toolUseResult.agentId, "" when missing */
    int64_t search_count; /* toolUseResult.searchCount, 0 when missing */
    int64_t line_end;     /* buffer offset just past the line */

    /* Messages the entry produces (filled by claude_entry_messages). */
    pd_message *msgs;
    size_t n_msgs;
} claude_entry;

/* A prompt typed while a tool ran (an attachment of type queued_command). */
typedef struct claude_queued {
    char *prompt;
    size_t prompt_len;
    pd_time_ns ts;
    bool has_ts;
    char *prompt_source;
} claude_queued;

/* State of one pass over a transcript's lines. */
typedef struct claude_scan {
    const pd_parse_request *req;
    pd_arena *arena;
    pd_json_parser *json;
    const char *session_id; /* file stem */
    int64_t companion_mtime; /* ns: newest spilled tool output read, 0 when none */

    claude_entry *entries;
    size_t n_entries;
    size_t cap_entries;
    claude_queued *queued;
    size_t n_queued;
    size_t cap_queued;
    bool has_any_uuid;
    bool all_have_uuid;

    claude_map subagents; /* tool_use_id -> "agent-<id>" (value is the string) */

    char *agent_label; /* first non-blank agentSetting, NULL when none */
    char *entrypoint;
    char *session_kind;
    char *version;
    char *cwd;        /* first user line's non-empty cwd */
    char *git_branch; /* first user line's non-empty gitBranch */
    char *source_session_id;
    char *parent_session_id;
    char *session_name; /* last /rename argument, valid when has_rename */
    bool has_rename;

    pd_time_ns ts_min;
    pd_time_ns ts_max;
    bool has_ts;

    int64_t malformed_lines;
    bool last_line_failed;
    bool last_line_blank;
    bool any_line;
    int64_t consumed; /* offset past the last valid line */
} claude_scan;

/* ---- claude.c ---------------------------------------------------------------- */

/* Returns the file stem: the base name without ".jsonl" or ".jsonl.zst". */
char *claude_session_id_from_path(pd_arena *a, const char *path);
/* Returns the sanitised string value of v, "" for anything else, or NULL when memory runs out. */
char *claude_json_string(pd_arena *a, pd_json v, size_t *len);
/* Formats t for the archive, or returns NULL when absent. Sets *oom when memory runs out. */
char *claude_format_time(pd_arena *a, bool has, pd_time_ns t, bool *oom);
/* Scans buffer lines from start: fills sc. Returns PD_OK or PD_ENOMEM. */
int claude_scan_lines(claude_scan *sc, size_t start);
/* Returns the session project: the project directory rule, overridden by the cwd rule. */
char *claude_derive_project(claude_scan *sc);
/*
 * Fills the fields every session of a transcript shares (identity, file
 * stat, source metadata). Returns PD_OK or PD_ENOMEM.
 */
int claude_session_fill_common(claude_scan *sc, pd_session *s, const char *project,
                               int64_t linear_parse);

/* ---- claude_blocks.c ---------------------------------------------------------- */

/*
 * Fills e's content from the array handle content (message.content of the
 * current line, whose raw text is line[0..line_len)). persisted_path is
 * toolUseResult.persistedOutputPath (may be NULL). Returns PD_OK or
 * PD_ENOMEM.
 */
int claude_blocks_extract(claude_scan *sc, claude_entry *e, pd_json content, const char *line,
                          size_t line_len, const char *persisted_path);
/* Renders the text part of a tool call (input may be absent). Returns NULL when memory runs out. */
char *claude_tool_label(pd_arena *a, const char *name, pd_json input);
/* Returns the first non-empty of file_path, path, filePath and file in input, or NULL. */
char *claude_input_file_path(pd_arena *a, pd_json input);

/* ---- claude_persisted.c --------------------------------------------------------- */

/*
 * Returns the path that a tool result's string content names after "Full
 * output saved to:", trimmed, or NULL when none (or on OOM).
 */
char *claude_persisted_path_in(pd_arena *a, const char *content, size_t len);
/*
 * Reads spilled tool output for the transcript at transcript_path. Sets *out
 * to the output (truncated at CLAUDE_PERSISTED_MAX_BYTES with a marker) or
 * NULL when result_path is not absolute, not strictly inside a tool-results
 * directory of the transcript, or unreadable. Sets *mtime_ns to the file's
 * mtime when it was read. Returns PD_OK or PD_ENOMEM.
 */
int claude_persisted_read(pd_arena *a, const char *transcript_path, const char *result_path,
                          char **out, size_t *out_len, int64_t *mtime_ns);

/* ---- claude_chunks.c ------------------------------------------------------------- */

/* Merges runs of consecutive assistant entries sharing a message.id, in place. */
int claude_merge_chunks(pd_arena *a, claude_entry *entries, size_t *n_entries);

/* ---- claude_messages.c ------------------------------------------------------------ */

/* Builds e->msgs from the entry (ordinals are left 0). Returns PD_OK or PD_ENOMEM. */
int claude_entry_messages(pd_arena *a, claude_entry *e);
/* Builds the message of a queued prompt into *msg. Sets *keep false when the prompt is dropped. */
int claude_queued_message(pd_arena *a, const claude_queued *q, pd_message *msg, bool *keep);
/* True when e produced a non-system user message with non-blank content. */
bool claude_entry_is_real_user_turn(const claude_entry *e);
/*
 * Finds the first "<open>value</close>" in s whose value has no '<' (and at
 * least one byte unless allow_empty), as the regex open([^<]+)close does.
 * Sets *value and *len.
 */
bool claude_find_tagged(const char *s, size_t n, const char *open, const char *close,
                        bool allow_empty, const char **value, size_t *len);
/* True for "/name" followed by the end or whitespace, where name is letters, digits, - or _. */
bool claude_is_bare_command(const char *s, size_t n);
/* Copies into s the messages of the given entries (ordinals from first_ordinal). */
int claude_session_collect(pd_arena *a, pd_session *s, claude_entry *entries, const size_t *indices,
                           size_t n, int64_t first_ordinal);
/* Merges queued prompts into s by timestamp and renumbers from first_ordinal. */
int claude_session_merge_queued(pd_arena *a, pd_session *s, const claude_queued *queued,
                                size_t n_queued, int64_t first_ordinal);
/* Sets subagent_session_id on Task-like calls found in the map. */
void claude_session_annotate_subagents(pd_session *s, const claude_map *subagents);
/* Builds the WebSearch credit map (tool_use_id -> count) from user entries. */
int claude_collect_search_counts(const claude_scan *sc, claude_map *counts);
/* Splices credited web search counts into assistant usage JSON. */
int claude_session_credit_web_searches(pd_arena *a, pd_json_parser *p, pd_session *s,
                                       const claude_map *counts);
/* Recomputes message_count, user_message_count, first_message and token totals. */
int claude_session_summarize(pd_arena *a, pd_session *s);
/* Returns the termination status of s ("truncated", ...) or NULL. */
const char *claude_termination_status(const pd_session *s, bool last_line_failed);
/* True when the scan's last line failed to parse and lacks its newline: a write in progress. */
bool claude_cut_tail(const claude_scan *sc);
/* True when every real user turn of s is exactly "/usage" and there is at least one. */
bool claude_session_is_usage_probe(const pd_session *s);
/* True when a tool call of this category and name is a subagent launch. */
bool claude_is_task_like(const char *category, const char *name);

/* ---- claude_dag.c ---------------------------------------------------------------- */

/* One output session's share of the entries. */
typedef struct claude_branch {
    size_t *indices; /* entry indices in path order */
    size_t n;
    char *session_id;
    char *parent_id; /* owner of the branch point, NULL for the main branch */
    bool is_fork;
} claude_branch;

/*
 * Plans the sessions of a full parse. When every entry has a uuid, the tree
 * has exactly one root and every parent resolves, walks it (is_dag = true);
 * otherwise returns one branch with every entry in file order. The main
 * branch comes first, then the forks. Entries must already have messages.
 * Returns PD_OK or PD_ENOMEM.
 */
int claude_plan_branches(claude_scan *sc, claude_branch **out, size_t *n_out, bool *is_dag);

/* ---- claude_project.c --------------------------------------------------------------- */

/* Returns the project name of an encoded project directory name ("-Users-a-code-x" -> "x"). */
char *claude_project_from_dir_name(pd_arena *a, const char *dir_name);
/* Returns the project name of a working directory and branch, "" when none, or NULL on OOM. */
char *claude_project_from_cwd(pd_arena *a, const char *cwd, const char *git_branch);

/* ---- claude_incremental.c ------------------------------------------------------------ */

int claude_parse_incremental(const pd_parse_request *req, pd_parse_result *out, pd_err *err);

/* ---- claude_discover.c ------------------------------------------------------------------ */

int claude_discover(const char *root, pd_arena *arena, pd_discover_fn emit, void *ctx, pd_err *err);

#endif
