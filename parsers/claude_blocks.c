/*
 * claude_blocks.c -- content blocks of a Claude Code message and the text
 * labels of tool calls.
 *
 * Entry points, called from the line scan while the line's JSON is alive:
 * claude_blocks_extract() copies each block of an array message.content into
 * a claude_block, rendering tool calls through claude_tool_label().
 *
 * The labels are part of the stored message content, so their exact shape
 * ("[Bash: Run tests]\n$ make check") is a compatibility contract with
 * archives written by earlier parsers.
 *
 * Thread-safety: works on one request's arena and parser.
 */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/text.h"
#include "parsers/claude_internal.h"
#include "parsers/taxonomy.h"

/* ---- labels ---------------------------------------------------------------- */

/* Returns the sanitised string member key of obj, "" when missing, or NULL when memory runs out. */
static char *member(pd_arena *a, pd_json obj, const char *key)
{
    return claude_json_string(a, pd_json_get(obj, key), NULL);
}

/* Returns the first non-empty string member among keys, or "". */
static char *first_member(pd_arena *a, pd_json obj, const char *const *keys)
{
    char *value = NULL;

    for (size_t i = 0; keys[i] != NULL; i++) {
        value = member(a, obj, keys[i]);
        if (value == NULL || value[0] != '\0')
            return value;
    }
    return value;
}

static const char *const file_path_keys[] = {"file_path", "path", "filePath", "file", NULL};

char *claude_input_file_path(pd_arena *a, pd_json input)
{
    char *path = first_member(a, input, file_path_keys);

    if (path == NULL || path[0] == '\0')
        return NULL;
    return path;
}

static char *label_task(pd_arena *a, pd_json input)
{
    static const char *const desc_keys[] = {"description", "prompt", NULL};
    static const char *const type_keys[] = {"subagent_type", "agent", NULL};
    char *desc = first_member(a, input, desc_keys);
    char *agent_type = first_member(a, input, type_keys);

    if (desc == NULL || agent_type == NULL)
        return NULL;
    if (desc[0] == '\0' && agent_type[0] == '\0')
        return pd_arena_strdup(a, "[Task]");
    if (agent_type[0] == '\0')
        return pd_arena_sprintf(a, "[Task: %s]", desc);
    return pd_arena_sprintf(a, "[Task: %s (%s)]", desc, agent_type);
}

static char *label_bash(pd_arena *a, pd_json input)
{
    char *cmd = member(a, input, "command");
    char *alt_cmd = member(a, input, "cmd");
    char *desc = member(a, input, "description");

    if (cmd == NULL || alt_cmd == NULL || desc == NULL)
        return NULL;
    /* A command under "cmd" alone renders without the description. */
    if (cmd[0] == '\0' && alt_cmd[0] != '\0')
        return pd_arena_sprintf(a, "[Bash]\n$ %s", alt_cmd);
    if (desc[0] != '\0')
        return pd_arena_sprintf(a, "[Bash: %s]\n$ %s", desc, cmd);
    return pd_arena_sprintf(a, "[Bash]\n$ %s", cmd);
}

static char *label_todo_list(pd_arena *a, pd_json input)
{
    pd_json_iter it = pd_json_iter_begin(pd_json_get(input, "todos"));
    pd_json todo;
    pd_buf b;

    pd_buf_init(&b, a);
    pd_buf_puts(&b, "[Todo List]");
    while (pd_json_iter_next(&it, NULL, &todo)) {
        char *status = member(a, todo, "status");
        char *content = member(a, todo, "content");
        const char *icon = "\xE2\x97\x8B"; /* U+25CB WHITE CIRCLE: pending or unknown */

        if (status == NULL || content == NULL)
            return NULL;
        if (strcmp(status, "completed") == 0)
            icon = "\xE2\x9C\x93"; /* U+2713 CHECK MARK */
        else if (strcmp(status, "in_progress") == 0)
            icon = "\xE2\x86\x92"; /* U+2192 RIGHTWARDS ARROW */
        pd_buf_printf(&b, "\n  %s %s", icon, content);
    }
    return pd_buf_finish(&b);
}

static char *label_question(pd_arena *a, const char *name, pd_json input)
{
    pd_json_iter questions = pd_json_iter_begin(pd_json_get(input, "questions"));
    pd_json q;
    pd_buf b;

    pd_buf_init(&b, a);
    pd_buf_printf(&b, "[Question: %s]", name);
    while (pd_json_iter_next(&questions, NULL, &q)) {
        pd_json_iter options = pd_json_iter_begin(pd_json_get(q, "options"));
        pd_json option;
        char *text = member(a, q, "question");

        if (text == NULL)
            return NULL;
        pd_buf_printf(&b, "\n  %s", text);
        while (pd_json_iter_next(&options, NULL, &option)) {
            char *label = member(a, option, "label");
            char *description = member(a, option, "description");
            if (label == NULL || description == NULL)
                return NULL;
            pd_buf_printf(&b, "\n    - %s: %s", label, description);
        }
    }
    return pd_buf_finish(&b);
}

/* Returns "[<tag>: <value>]", or NULL when value is NULL because memory ran out. */
static char *label_simple(pd_arena *a, const char *tag, const char *value)
{
    if (value == NULL)
        return NULL;
    return pd_arena_sprintf(a, "[%s: %s]", tag, value);
}

static char *label_patch(pd_arena *a, pd_json input)
{
    char *path = first_member(a, input, file_path_keys);

    if (path == NULL)
        return NULL;
    if (path[0] == '\0')
        return pd_arena_strdup(a, "[Patch]");
    return pd_arena_sprintf(a, "[Patch: %s]", path);
}

char *claude_tool_label(pd_arena *a, const char *name, pd_json input)
{
    static const char *const read_keys[] = {"file_path", "path", NULL};
    static const char *const find_keys[] = {"pattern", "query", NULL};
    static const char *const skill_keys[] = {"skill", "name", NULL};

    if (strcmp(name, "AskUserQuestion") == 0)
        return label_question(a, name, input);
    if (strcmp(name, "TodoWrite") == 0)
        return label_todo_list(a, input);
    if (strcmp(name, "EnterPlanMode") == 0)
        return pd_arena_strdup(a, "[Entering Plan Mode]");
    if (strcmp(name, "ExitPlanMode") == 0)
        return pd_arena_strdup(a, "[Exiting Plan Mode]");
    if (strcmp(name, "Read") == 0)
        return label_simple(a, "Read", first_member(a, input, read_keys));
    if (strcmp(name, "Glob") == 0) {
        char *pattern = member(a, input, "pattern");
        char *path = member(a, input, "path");
        if (pattern == NULL || path == NULL)
            return NULL;
        return pd_arena_sprintf(a, "[Glob: %s in %s]", pattern, path[0] != '\0' ? path : ".");
    }
    if (strcmp(name, "Grep") == 0)
        return label_simple(a, "Grep", member(a, input, "pattern"));
    if (strcmp(name, "Edit") == 0)
        return label_simple(a, "Edit", member(a, input, "file_path"));
    if (strcmp(name, "Write") == 0)
        return label_simple(a, "Write", member(a, input, "file_path"));
    if (strcmp(name, "Bash") == 0)
        return label_bash(a, input);

    /* Other agents' tool names. A Claude transcript that imports such tools renders them the same
     * way. */
    if (strcmp(name, "edit_file") == 0)
        return label_simple(a, "Edit", member(a, input, "path"));
    if (strcmp(name, "create_file") == 0)
        return label_simple(a, "Write", member(a, input, "path"));
    if (strcmp(name, "shell_command") == 0 || strcmp(name, "run_command") == 0) {
        char *cmd = member(a, input, "command");
        return cmd == NULL ? NULL : pd_arena_sprintf(a, "[Bash]\n$ %s", cmd);
    }
    if (strcmp(name, "glob") == 0)
        return label_simple(a, "Glob", member(a, input, "filePattern"));
    if (strcmp(name, "look_at") == 0)
        return label_simple(a, "Read", member(a, input, "path"));
    if (strcmp(name, "apply_patch") == 0 || strcmp(name, "ApplyPatch") == 0)
        return label_patch(a, input);
    if (strcmp(name, "undo_edit") == 0)
        return label_simple(a, "Undo", member(a, input, "path"));
    if (strcmp(name, "finder") == 0)
        return label_simple(a, "Find", member(a, input, "query"));
    if (strcmp(name, "read_web_page") == 0)
        return label_simple(a, "Web", member(a, input, "url"));
    if (strcmp(name, "read") == 0 || strcmp(name, "read_file") == 0)
        return label_simple(a, "Read", first_member(a, input, file_path_keys));
    if (strcmp(name, "write") == 0)
        return label_simple(a, "Write", first_member(a, input, file_path_keys));
    if (strcmp(name, "edit") == 0 || strcmp(name, "str_replace") == 0)
        return label_simple(a, "Edit", first_member(a, input, file_path_keys));
    if (strcmp(name, "bash") == 0) {
        static const char *const cmd_keys[] = {"command", "cmd", NULL};
        char *cmd = first_member(a, input, cmd_keys);
        char *desc = member(a, input, "description");
        if (cmd == NULL || desc == NULL)
            return NULL;
        if (desc[0] != '\0')
            return pd_arena_sprintf(a, "[Bash: %s]\n$ %s", desc, cmd);
        return pd_arena_sprintf(a, "[Bash]\n$ %s", cmd);
    }
    if (strcmp(name, "find") == 0)
        return label_simple(a, "Find", first_member(a, input, find_keys));
    if (strcmp(name, "skill") == 0)
        return label_simple(a, "Skill", first_member(a, input, skill_keys));

    if (strcmp(name, "Task") == 0 || strcmp(name, "Agent") == 0)
        return label_task(a, input);
    if (strcmp(name, "Skill") == 0)
        return label_simple(a, "Skill", member(a, input, "skill"));
    if (strcmp(name, "TaskCreate") == 0) {
        char *subject = member(a, input, "subject");
        if (subject == NULL)
            return NULL;
        if (subject[0] != '\0')
            return pd_arena_sprintf(a, "[TaskCreate: %s]", subject);
        return pd_arena_strdup(a, "[TaskCreate]");
    }
    if (strcmp(name, "TaskUpdate") == 0) {
        char *task_id = member(a, input, "taskId");
        char *status = member(a, input, "status");
        if (task_id == NULL || status == NULL)
            return NULL;
        if (status[0] != '\0')
            return pd_arena_sprintf(a, "[TaskUpdate: #%s %s]", task_id, status);
        return pd_arena_sprintf(a, "[TaskUpdate: #%s]", task_id);
    }
    if (strcmp(name, "TaskGet") == 0) {
        char *task_id = member(a, input, "taskId");
        return task_id == NULL ? NULL : pd_arena_sprintf(a, "[TaskGet: #%s]", task_id);
    }
    if (strcmp(name, "TaskList") == 0)
        return pd_arena_strdup(a, "[TaskList]");
    if (strcmp(name, "SendMessage") == 0) {
        char *kind = member(a, input, "type");
        char *recipient = member(a, input, "recipient");
        if (kind == NULL || recipient == NULL)
            return NULL;
        if (recipient[0] != '\0')
            return pd_arena_sprintf(a, "[SendMessage: %s to %s]", kind, recipient);
        return pd_arena_sprintf(a, "[SendMessage: %s]", kind);
    }
    if (strstr(name, "subagent") != NULL)
        return label_task(a, input);
    return pd_arena_sprintf(a, "[Tool: %s]", name);
}

/* ---- blocks ------------------------------------------------------------------- */

/* Finds the exact JSON text of message.content.<index>.<member>. Returns false when it is missing.
 */
static bool block_member_raw(claude_scan *sc, size_t index, const char *member_name, const char **s,
                             size_t *n)
{
    char path[96];

    snprintf(path, sizeof path, "message.content.%zu.%s", index, member_name);
    return pd_json_raw_path(sc->json, path, s, n);
}

/*
 * Returns the offset just past the JSON value that starts at text[pos] in
 * valid JSON text. A scalar other than a string ends at the next ',', ']' or
 * '}' at its own level, so it keeps any whitespace before that.
 */
static size_t skip_json_value(const char *text, size_t len, size_t pos)
{
    size_t depth = 0;

    while (pos < len) {
        char c = text[pos];

        if (c == '"') {
            pos++;
            while (pos < len && text[pos] != '"')
                pos += text[pos] == '\\' ? 2 : 1;
            pos = pos < len ? pos + 1 : len;
            if (depth == 0)
                return pos;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
            pos++;
            continue;
        }
        if (c == '}' || c == ']') {
            if (depth == 0)
                return pos;
            depth--;
            pos++;
            if (depth == 0)
                return pos;
            continue;
        }
        if (c == ',' && depth == 0)
            return pos;
        pos++;
    }
    return len;
}

/*
 * Finds the exact JSON text of every element of message.content: from the
 * structural index when the line has one, else in one pass over the text,
 * because looking each element up by path would rescan the line per block.
 * Sets starts[i] and lens[i] for i < count. Returns false when the text does
 * not have count elements.
 */
static bool content_element_spans(claude_scan *sc, pd_json content, size_t count,
                                  const char **starts, size_t *lens)
{
    const char *text;
    size_t len, pos = 1, i = 0;

    if (pd_json_raw_path_indexed(sc->json)) {
        pd_json_iter it = pd_json_iter_begin(content);
        pd_json element;
        while (i < count && pd_json_iter_next(&it, NULL, &element)) {
            if (!pd_json_raw_value(sc->json, element, &starts[i], &lens[i]))
                return false;
            i++;
        }
        return i == count;
    }
    if (!pd_json_raw_path(sc->json, "message.content", &text, &len) || len < 2 || text[0] != '[')
        return false;
    while (i < count) {
        size_t end;
        while (pos < len && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\n' ||
                             text[pos] == '\r' || text[pos] == ','))
            pos++;
        if (pos >= len || text[pos] == ']')
            return false;
        end = skip_json_value(text, len, pos);
        starts[i] = text + pos;
        lens[i] = end - pos;
        pos = end;
        i++;
    }
    return true;
}

static int extract_tool_use(claude_scan *sc, claude_block *b, pd_json block, size_t index)
{
    pd_arena *a = sc->arena;
    pd_json input = pd_json_get(block, "input");
    const char *raw = NULL;
    size_t raw_len = 0;
    bool has_raw = block_member_raw(sc, index, "input", &raw, &raw_len);

    /* Some writers leave "input" empty and put the arguments under "arguments". */
    if (!has_raw || (raw_len == 2 && memcmp(raw, "{}", 2) == 0)) {
        pd_json arguments = pd_json_get(block, "arguments");
        const char *args_raw;
        size_t args_len;
        if (pd_json_exists(arguments) &&
            block_member_raw(sc, index, "arguments", &args_raw, &args_len)) {
            input = arguments;
            raw = args_raw;
            raw_len = args_len;
            has_raw = true;
        }
    }

    b->tool_name = member(a, block, "name");
    b->tool_id = member(a, block, "id");
    if (b->tool_name == NULL || b->tool_id == NULL)
        return PD_ENOMEM;
    b->label = claude_tool_label(a, b->tool_name, input);
    if (b->label == NULL)
        return PD_ENOMEM;
    if (b->tool_name[0] == '\0')
        return PD_OK;

    if (has_raw && raw_len > 0) {
        b->input_json = pd_utf8_sanitize(a, raw, raw_len, NULL);
        if (b->input_json == NULL)
            return PD_ENOMEM;
    }
    if (pd_json_type_of(input) == PD_JSON_OBJECT) {
        b->file_path = claude_input_file_path(a, input);
    }

    if (strcmp(b->tool_name, "Skill") == 0 || strcmp(b->tool_name, "skill") == 0) {
        static const char *const skill_keys[] = {"skill", "name", NULL};
        char *skill = strcmp(b->tool_name, "Skill") == 0 ? member(a, input, "skill")
                                                         : first_member(a, input, skill_keys);
        if (skill == NULL)
            return PD_ENOMEM;
        b->skill_name = skill[0] != '\0' ? skill : NULL;
        return PD_OK;
    }
    return pd_skill_name_infer(a, b->tool_name, input, raw, has_raw ? raw_len : 0, NULL,
                               &b->skill_name);
}

/* True when the line contains "persisted-output" or "persistedOutputPath", found in one pass. */
static bool mentions_persisted_output(const char *s, size_t n)
{
    static const char stem[] = "persisted";
    const size_t stem_len = sizeof stem - 1;
    const char *end = s + n;
    const char *p = s;

    while ((p = pd_text_find(p, (size_t)(end - p), stem)) != NULL) {
        const char *rest = p + stem_len;
        size_t left = (size_t)(end - rest);
        if ((left >= 7 && memcmp(rest, "-output", 7) == 0) ||
            (left >= 10 && memcmp(rest, "OutputPath", 10) == 0))
            return true;
        p = rest;
    }
    return false;
}

/*
 * The format's gate for spilled output is that the raw line mentions it.
 * Scanning a whole result line is costly and the gate matters only when a
 * result names a spill file, so it is evaluated on first need and
 * remembered.
 */
typedef struct persist_gate {
    const char *line;
    size_t len;
    int open; /* -1 until evaluated, then 0 or 1 */
} persist_gate;

static bool gate_open(persist_gate *g)
{
    if (g->open < 0)
        g->open = mentions_persisted_output(g->line, g->len);
    return g->open == 1;
}

static int extract_tool_result(claude_scan *sc, claude_block *b, pd_json block,
                               size_t n_result_blocks, persist_gate *gate,
                               const char *persisted_path)
{
    pd_arena *a = sc->arena;
    pd_json content = pd_json_get(block, "content");
    pd_json_type type = pd_json_type_of(content);
    const char *s;
    size_t n;

    b->result_id = member(a, block, "tool_use_id");
    if (b->result_id == NULL)
        return PD_ENOMEM;

    if (type == PD_JSON_STRING) {
        char *spilled = NULL;
        size_t spilled_len = 0;

        pd_json_str(content, &s, &n);
        /* The result text names the spill file, or the line's toolUseResult does. */
        char *path = claude_persisted_path_in(a, s, n);
        if (path == NULL &&
            (n_result_blocks == 1 || pd_text_find(s, n, "<persisted-output>") != NULL))
            path = (char *)persisted_path;
        if (path != NULL && path[0] != '\0' && gate_open(gate)) {
            int64_t mtime = 0;
            int rc = claude_persisted_read(a, sc->req->path, path, &spilled, &spilled_len, &mtime);
            if (rc != PD_OK)
                return rc;
            if (spilled != NULL && mtime > sc->companion_mtime)
                sc->companion_mtime = mtime;
        }
        if (spilled != NULL) {
            b->result_content = spilled;
            b->result_length = (int64_t)spilled_len;
            return PD_OK;
        }
        b->result_content = pd_utf8_sanitize(a, s, n, &n);
        b->result_length = (int64_t)n;
        return b->result_content == NULL ? PD_ENOMEM : PD_OK;
    }

    if (type == PD_JSON_ARRAY) {
        /* Array results keep only their text blocks, concatenated without separators. */
        pd_json_iter it = pd_json_iter_begin(content);
        pd_json element;
        pd_buf buf;

        pd_buf_init(&buf, a);
        while (pd_json_iter_next(&it, NULL, &element)) {
            char *text = claude_json_string(a, pd_json_get(element, "text"), &n);
            if (text == NULL)
                return PD_ENOMEM;
            pd_buf_append(&buf, text, n);
        }
        b->result_content = pd_buf_finish(&buf);
        if (b->result_content == NULL)
            return PD_ENOMEM;
        b->result_length = (int64_t)buf.len;
        return PD_OK;
    }

    b->result_content = pd_arena_strdup(a, "");
    b->result_length = 0;
    return b->result_content == NULL ? PD_ENOMEM : PD_OK;
}

int claude_blocks_extract(claude_scan *sc, claude_entry *e, pd_json content, const char *line,
                          size_t line_len, const char *persisted_path)
{
    pd_arena *a = sc->arena;
    size_t count = pd_json_len(content);
    size_t n_result_blocks = 0, i = 0;
    const char **raw_starts = NULL;
    size_t *raw_lens = NULL;
    bool have_raw = false;
    pd_json_iter it;
    pd_json block;
    const char *s;
    size_t n;

    if (pd_json_type_of(content) != PD_JSON_ARRAY || count == 0)
        return PD_OK;

    e->blocks = pd_arena_calloc(a, count, sizeof *e->blocks);
    if (e->blocks == NULL)
        return PD_ENOMEM;

    it = pd_json_iter_begin(content);
    while (pd_json_iter_next(&it, NULL, &block)) {
        if (pd_json_str(pd_json_get(block, "type"), &s, &n) && n == 11 &&
            memcmp(s, "tool_result", 11) == 0)
            n_result_blocks++;
    }
    persist_gate gate = {.line = line, .len = line_len, .open = -1};

    /* Chunk merging compares assistant blocks by their exact JSON text. */
    if (e->type == CLAUDE_ENTRY_ASSISTANT) {
        raw_starts = pd_arena_calloc(a, count, sizeof *raw_starts);
        raw_lens = pd_arena_calloc(a, count, sizeof *raw_lens);
        if (raw_starts == NULL || raw_lens == NULL)
            return PD_ENOMEM;
        have_raw = content_element_spans(sc, content, count, raw_starts, raw_lens);
    }

    it = pd_json_iter_begin(content);
    for (i = 0; i < count && pd_json_iter_next(&it, NULL, &block); i++) {
        claude_block *b = &e->blocks[e->n_blocks];
        int rc = PD_OK;

        b->type = member(a, block, "type");
        b->text = pd_arena_strdup(a, "");
        if (b->type == NULL || b->text == NULL)
            return PD_ENOMEM;
        if (have_raw)
            b->raw_hash = pd_xxh3(raw_starts[i], raw_lens[i]);

        if (strcmp(b->type, "text") == 0) {
            b->kind = CLAUDE_BLOCK_TEXT;
            b->text = claude_json_string(a, pd_json_get(block, "text"), &b->text_len);
        } else if (strcmp(b->type, "thinking") == 0) {
            b->kind = CLAUDE_BLOCK_THINKING;
            b->text = claude_json_string(a, pd_json_get(block, "thinking"), &b->text_len);
        } else if (strcmp(b->type, "tool_use") == 0 || strcmp(b->type, "toolCall") == 0) {
            b->kind = CLAUDE_BLOCK_TOOL_USE;
            rc = extract_tool_use(sc, b, block, i);
        } else if (strcmp(b->type, "tool_result") == 0) {
            b->kind = CLAUDE_BLOCK_TOOL_RESULT;
            rc = extract_tool_result(sc, b, block, n_result_blocks, &gate, persisted_path);
        } else {
            b->kind = CLAUDE_BLOCK_OTHER;
        }
        if (rc != PD_OK)
            return rc;
        if (b->text == NULL)
            return PD_ENOMEM;
        e->n_blocks++;
    }
    return PD_OK;
}
