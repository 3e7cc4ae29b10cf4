/*
 * codex_render.c -- the message text and input_json of Codex tool calls.
 *
 * A Codex function_call or custom_tool_call becomes one assistant message
 * whose content is a short label: "[Label: detail]" or "[Label]", then an
 * optional body line. Shell tools show "$ <first command line>", write_stdin
 * the typed characters in Go-style ASCII quoting, apply_patch the edited
 * files, spawn_agent the first prompt line, and every other tool a
 * whitespace-collapsed preview of its arguments (at most 220 runes).
 *
 * Arguments come from "arguments", else "input": a string holding valid
 * JSON is parsed, any other string is kept as raw text, and an empty
 * object or array is skipped.
 *
 * Entry points: pd_codex_render_call and the small text helpers declared in
 * codex_internal.h. Thread-safety: pure apart from the caller's arena and
 * parsers.
 */
#include "parsers/codex_internal.h"

#include <stdio.h>
#include <string.h>

#include "common/text.h"
#include "parsers/taxonomy.h"

#define PREVIEW_MAX_RUNES 220
#define PATCH_FILES_SHOWN 6

/* ---- text helpers ------------------------------------------------------- */

void pd_codex_trim(const char **s, size_t *n)
{
    size_t start = 0;
    size_t len = 0;

    pd_text_trim_span(*s, *n, &start, &len);
    *s += start;
    *n = len;
}

char *pd_codex_clean(pd_arena *a, const char *s, size_t n)
{
    return pd_utf8_sanitize(a, s, n, NULL);
}

char *pd_codex_truncate(pd_arena *a, const char *s, size_t n, size_t max_runes)
{
    if (n <= max_runes || pd_utf8_rune_count(s, n) <= max_runes)
        return pd_arena_strndup(a, s, n);

    size_t keep = pd_utf8_prefix_bytes(s, n, max_runes);
    return pd_arena_sprintf(a, "%.*s...", (int)keep, s);
}

/*
 * Decodes one UTF-8 sequence at s[0..n). Sets *rune (0xFFFD when invalid)
 * and *valid, and returns the sequence's byte length (1 for an invalid byte).
 */
static size_t decode_rune(const unsigned char *s, size_t n, uint32_t *rune, bool *valid)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t r;
    uint32_t min;

    *valid = false;
    *rune = 0xFFFD;
    if (c < 0x80) {
        *rune = c;
        *valid = true;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        r = c & 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        r = c & 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        r = c & 0x07;
        min = 0x10000;
    } else {
        return 1;
    }
    if (len > n)
        return 1;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 1;
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return 1;
    *rune = r;
    *valid = true;
    return len;
}

/* The whitespace set of Go's unicode.IsSpace, which the label rules use. */
static bool is_unicode_space(uint32_t r)
{
    switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return true;
    default:
        return r >= 0x2000 && r <= 0x200A;
    }
}

/* Joins the whitespace-separated fields of s[0..n) with single spaces. */
static void append_collapsed(pd_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    bool in_field = false;
    bool wrote_field = false;
    size_t i = 0;

    while (i < n) {
        uint32_t r;
        bool valid;
        size_t len = decode_rune(u + i, n - i, &r, &valid);

        if (valid && is_unicode_space(r)) {
            in_field = false;
        } else {
            if (!in_field && wrote_field)
                pd_buf_putc(b, ' ');
            pd_buf_append(b, s + i, len);
            in_field = true;
            wrote_field = true;
        }
        i += len;
    }
}

/*
 * Returns s[0..n), or an arena copy of it when it contains a NUL byte (a
 * JSON "\u0000"), with each NUL replaced by U+0001. A NUL would end the C
 * strings that rendering builds. The two are alike for every later rule
 * but write_stdin's quoting, which reads its text unchanged: neither is
 * whitespace, and the archive's sanitiser drops both.
 */
static const char *without_nul(pd_arena *a, const char *s, size_t n)
{
    if (n == 0 || memchr(s, '\0', n) == NULL)
        return s;
    char *copy = pd_arena_strndup(a, s, n);
    if (copy == NULL)
        return s;
    for (size_t i = 0; i < n; i++) {
        if (copy[i] == '\0')
            copy[i] = '\x01';
    }
    return copy;
}

/* Trimmed, ']' replaced by ')', whitespace collapsed; "" when blank. */
static char *sanitize_label(pd_arena *a, const char *s, size_t n)
{
    char *copy = pd_arena_strndup(a, s, n);
    pd_buf b;

    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (copy[i] == ']')
            copy[i] = ')';
        else if (copy[i] == '\0')
            copy[i] = '\x01'; /* as in without_nul() */
    }
    pd_buf_init(&b, a);
    pd_buf_puts(&b, "");
    append_collapsed(&b, copy, n);
    return pd_buf_finish(&b);
}

static void append_header(pd_buf *b, const char *label, const char *detail)
{
    pd_buf_putc(b, '[');
    pd_buf_puts(b, label[0] != '\0' ? label : "Tool");
    if (detail != NULL && detail[0] != '\0') {
        pd_buf_puts(b, ": ");
        pd_buf_puts(b, detail);
    }
    pd_buf_putc(b, ']');
}

/* ---- arguments ---------------------------------------------------------- */

/* Parsed tool arguments: a JSON value, or raw text that is not JSON. */
typedef struct call_args {
    pd_json value;        /* absent when there are none or they are raw text */
    pd_json_parser *parser; /* parser that owns value */
    char *base_path;      /* dotted path of value from that parser's root ("" = root) */
    const char *raw;      /* trimmed text that is not JSON; NULL when none */
    size_t raw_n;
} call_args;

static char *join_path(pd_arena *a, const char *base, const char *key)
{
    if (base[0] == '\0')
        return pd_arena_strdup(a, key);
    return pd_arena_sprintf(a, "%s.%s", base, key);
}

static bool is_json_text(pd_json_parser *p, const char *s, size_t n, int *rc)
{
    pd_json root;
    int r = pd_json_parse(p, s, n, &root);

    *rc = r == PD_ENOMEM ? PD_ENOMEM : PD_OK;
    return r == PD_OK;
}

/*
 * Picks input_json from "arguments", else "input". A string is trimmed and
 * skipped when it is empty or the JSON "{}" or "[]". A string that is not
 * JSON is kept untrimmed. Other values keep their raw JSON unless they are
 * empty, "{}" or "[]".
 */
static int extract_input_json(pd_arena *a, pd_json_parser *line_parser, pd_json_parser *nested,
                              pd_json payload, const char *payload_path, char **out)
{
    static const char *const keys[] = {"arguments", "input"};
    int rc = PD_OK;

    *out = NULL;
    for (size_t k = 0; k < 2; k++) {
        pd_json arg = pd_json_get(payload, keys[k]);
        pd_json_type type = pd_json_type_of(arg);

        if (type == PD_JSON_ABSENT)
            continue;
        if (type == PD_JSON_STRING) {
            const char *s;
            size_t n;
            pd_json_str(arg, &s, &n);
            const char *t = s;
            size_t tn = n;
            pd_codex_trim(&t, &tn);
            if (tn == 0)
                continue;
            if (is_json_text(nested, t, tn, &rc)) {
                if (pd_codex_eq(t, tn, "{}") || pd_codex_eq(t, tn, "[]"))
                    continue;
                *out = pd_codex_clean(a, t, tn);
            } else {
                if (rc != PD_OK)
                    return rc;
                *out = pd_codex_clean(a, s, n);
            }
            return *out == NULL ? PD_ENOMEM : PD_OK;
        }

        const char *raw;
        size_t raw_n;
        char *path = join_path(a, payload_path, keys[k]);
        if (path == NULL)
            return PD_ENOMEM;
        if (!pd_json_raw_path(line_parser, path, &raw, &raw_n))
            continue;
        const char *t = raw;
        size_t tn = raw_n;
        pd_codex_trim(&t, &tn);
        if (tn == 0 || pd_codex_eq(t, tn, "{}") || pd_codex_eq(t, tn, "[]"))
            continue;
        *out = pd_codex_clean(a, raw, raw_n);
        return *out == NULL ? PD_ENOMEM : PD_OK;
    }
    return PD_OK;
}

/*
 * Picks the arguments used for rendering: the first of "arguments" and
 * "input" that is a non-blank string (parsed when it is JSON, else raw
 * text), a non-empty object or array, or another non-blank value. A string
 * holding an empty object or array counts as empty.
 */
static int parse_args(pd_arena *a, pd_json_parser *line_parser, pd_json_parser *nested,
                      pd_json payload, const char *payload_path, call_args *out)
{
    static const char *const keys[] = {"arguments", "input"};

    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < 2; k++) {
        pd_json arg = pd_json_get(payload, keys[k]);
        pd_json_type type = pd_json_type_of(arg);

        if (type == PD_JSON_ABSENT)
            continue;
        if (type == PD_JSON_STRING) {
            const char *s;
            size_t n;
            pd_json_str(arg, &s, &n);
            pd_codex_trim(&s, &n);
            if (n == 0)
                continue;
            pd_json root;
            int rc = pd_json_parse(nested, s, n, &root);
            if (rc == PD_ENOMEM)
                return rc;
            pd_json_type root_type = pd_json_type_of(root);
            if (rc == PD_OK && (root_type == PD_JSON_OBJECT || root_type == PD_JSON_ARRAY) &&
                pd_json_len(root) == 0)
                continue; /* "{}" and "[]" count as empty, like an empty object or array */
            if (rc == PD_OK) {
                out->value = root;
                out->parser = nested;
                out->base_path = "";
            } else {
                out->raw = without_nul(a, s, n);
                out->raw_n = n;
            }
            return PD_OK;
        }
        if ((type == PD_JSON_OBJECT || type == PD_JSON_ARRAY) && pd_json_len(arg) == 0)
            continue;
        out->value = arg;
        out->parser = line_parser;
        out->base_path = join_path(a, payload_path, keys[k]);
        if (out->base_path == NULL)
            return PD_ENOMEM;
        return PD_OK;
    }
    return PD_OK;
}

/* Raw JSON text of the whole argument value. */
static bool args_raw(const call_args *args, const char **s, size_t *n)
{
    if (!pd_json_exists(args->value))
        return false;
    if (args->base_path[0] == '\0') {
        pd_json_raw_root(args->parser, s, n);
        return true;
    }
    return pd_json_raw_path(args->parser, args->base_path, s, n);
}

/*
 * String member `key` of the arguments: the string itself, or the trimmed
 * raw JSON of a non-string value ("" for null or when absent).
 */
static bool arg_string(pd_arena *a, const call_args *args, const char *key, const char **s,
                       size_t *n)
{
    *s = "";
    *n = 0;
    pd_json v = pd_json_get(args->value, key);
    pd_json_type type = pd_json_type_of(v);

    if (type == PD_JSON_ABSENT || type == PD_JSON_NULL)
        return false;
    if (type == PD_JSON_STRING) {
        pd_json_str(v, s, n);
        *s = without_nul(a, *s, *n);
        return true;
    }
    char *path = join_path(a, args->base_path, key);
    if (path == NULL || !pd_json_raw_path(args->parser, path, s, n))
        return false;
    pd_codex_trim(s, n);
    return true;
}

/* The first of keys whose arg_string is non-blank after trimming. */
static bool arg_value(pd_arena *a, const call_args *args, const char *const *keys, size_t n_keys,
                      const char **s, size_t *n)
{
    for (size_t i = 0; i < n_keys; i++) {
        if (!arg_string(a, args, keys[i], s, n))
            continue;
        pd_codex_trim(s, n);
        if (*n > 0)
            return true;
    }
    *s = "";
    *n = 0;
    return false;
}

/* Appends "\n" + a collapsed, truncated preview of the arguments, if any. */
static void append_preview(pd_buf *b, pd_arena *a, const call_args *args, bool *appended)
{
    const char *src;
    size_t src_n;

    *appended = false;
    if (args->raw != NULL) {
        src = args->raw;
        src_n = args->raw_n;
    } else if (!args_raw(args, &src, &src_n)) {
        return;
    }

    pd_buf flat;
    pd_buf_init(&flat, a);
    pd_buf_puts(&flat, "");
    append_collapsed(&flat, src, src_n);
    char *collapsed = pd_buf_finish(&flat);
    if (collapsed == NULL) {
        b->failed = 1;
        return;
    }
    if (collapsed[0] == '\0')
        return;
    char *cut = pd_codex_truncate(a, collapsed, strlen(collapsed), PREVIEW_MAX_RUNES);
    if (cut == NULL) {
        b->failed = 1;
        return;
    }
    pd_buf_putc(b, '\n');
    pd_buf_puts(b, cut);
    *appended = true;
}

/* ---- per-tool renderers --------------------------------------------------- */

static void render_shell(pd_buf *b, pd_arena *a, const char *summary, const call_args *args)
{
    static const char *const keys[] = {"cmd", "command"};
    const char *cmd;
    size_t cmd_n;

    arg_value(a, args, keys, 2, &cmd, &cmd_n);
    if (cmd_n == 0 && args->raw != NULL) {
        cmd = args->raw;
        cmd_n = args->raw_n;
    }
    if (cmd_n == 0 && pd_json_type_of(args->value) == PD_JSON_STRING) {
        pd_json_str(args->value, &cmd, &cmd_n);
        pd_codex_trim(&cmd, &cmd_n);
    }

    append_header(b, "Bash", summary);
    if (cmd_n > 0) {
        const char *nl = memchr(cmd, '\n', cmd_n);
        pd_buf_puts(b, "\n$ ");
        pd_buf_append(b, cmd, nl != NULL ? (size_t)(nl - cmd) : cmd_n);
        return;
    }
    bool appended;
    append_preview(b, a, args, &appended);
}

/* Go's strconv.QuoteToASCII without the surrounding quotes. */
static void append_ascii_quoted(pd_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        uint32_t r;
        bool valid;
        size_t len = decode_rune(u + i, n - i, &r, &valid);
        char esc[12];

        if (!valid) {
            pd_buf_printf(b, "\\x%c%c", hex[u[i] >> 4], hex[u[i] & 0xF]);
            i += len;
            continue;
        }
        i += len;
        switch (r) {
        case '\a': pd_buf_puts(b, "\\a"); continue;
        case '\b': pd_buf_puts(b, "\\b"); continue;
        case '\f': pd_buf_puts(b, "\\f"); continue;
        case '\n': pd_buf_puts(b, "\\n"); continue;
        case '\r': pd_buf_puts(b, "\\r"); continue;
        case '\t': pd_buf_puts(b, "\\t"); continue;
        case '\v': pd_buf_puts(b, "\\v"); continue;
        case '\\': pd_buf_puts(b, "\\\\"); continue;
        case '"': pd_buf_puts(b, "\\\""); continue;
        default: break;
        }
        if (r < 0x20 || r == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02x", (unsigned)r);
        } else if (r < 0x80) {
            pd_buf_putc(b, (char)r);
            continue;
        } else if (r < 0x10000) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)r);
        } else {
            snprintf(esc, sizeof esc, "\\U%08x", (unsigned)r);
        }
        pd_buf_puts(b, esc);
    }
}

static int render_write_stdin(pd_buf *b, pd_arena *a, const char *summary, const call_args *args)
{
    static const char *const sid_key[] = {"session_id"};
    const char *label = summary;

    if (label[0] == '\0') {
        const char *sid;
        size_t sid_n;
        if (arg_value(a, args, sid_key, 1, &sid, &sid_n)) {
            char *raw = pd_arena_sprintf(a, "stdin -> %.*s", (int)sid_n, sid);
            label = raw != NULL ? sanitize_label(a, raw, strlen(raw)) : NULL;
        } else {
            label = "stdin";
        }
        if (label == NULL)
            return PD_ENOMEM;
    }
    append_header(b, "Bash", label);

    const char *chars;
    size_t chars_n;
    arg_string(a, args, "chars", &chars, &chars_n);
    /* The quoting shows a NUL as \x00, so it reads the string as it is. */
    pd_json chars_value = pd_json_get(args->value, "chars");
    if (pd_json_type_of(chars_value) == PD_JSON_STRING)
        pd_json_str(chars_value, &chars, &chars_n);
    if (chars_n > 0) {
        pd_buf quoted;
        pd_buf_init(&quoted, a);
        pd_buf_puts(&quoted, "");
        append_ascii_quoted(&quoted, chars, chars_n);
        char *q = pd_buf_finish(&quoted);
        char *cut = q != NULL ? pd_codex_truncate(a, q, strlen(q), PREVIEW_MAX_RUNES) : NULL;
        if (cut == NULL)
            return PD_ENOMEM;
        pd_buf_putc(b, '\n');
        pd_buf_puts(b, cut);
        return PD_OK;
    }
    bool appended;
    append_preview(b, a, args, &appended);
    return PD_OK;
}

/* File names of "*** Add File: ", "*** Update File: ", ... lines, deduplicated. */
static int patched_files(pd_arena *a, const char *patch, size_t n, char ***files, size_t *n_files)
{
    static const char *const prefixes[] = {"*** Add File: ", "*** Update File: ",
                                           "*** Delete File: ", "*** Move to: "};
    pd_codex_map seen;
    size_t cap = 0;

    *files = NULL;
    *n_files = 0;
    pd_codex_map_init(&seen, a);
    for (size_t i = 0; i < n;) {
        const char *line = patch + i;
        const char *nl = memchr(line, '\n', n - i);
        size_t len = nl != NULL ? (size_t)(nl - line) : n - i;
        i += len + 1;

        for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
            size_t pn = strlen(prefixes[p]);
            if (len < pn || memcmp(line, prefixes[p], pn) != 0)
                continue;
            const char *name = line + pn;
            size_t name_n = len - pn;
            pd_codex_trim(&name, &name_n);
            if (name_n == 0 || pd_codex_map_get(&seen, name, name_n, NULL))
                break;
            if (pd_codex_map_put(&seen, name, name_n, NULL) != PD_OK)
                return PD_ENOMEM;
            if (*n_files == cap) {
                size_t new_cap = cap ? cap * 2 : 8;
                char **grown = pd_arena_grow(a, *files, cap, new_cap, sizeof *grown);
                if (grown == NULL)
                    return PD_ENOMEM;
                *files = grown;
                cap = new_cap;
            }
            (*files)[*n_files] = pd_arena_strndup(a, name, name_n);
            if ((*files)[*n_files] == NULL)
                return PD_ENOMEM;
            (*n_files)++;
            break;
        }
    }
    return PD_OK;
}

static int render_apply_patch(pd_buf *b, pd_arena *a, const char *summary, const call_args *args)
{
    const char *patch;
    size_t patch_n;
    char **files;
    size_t n_files;

    arg_string(a, args, "patch", &patch, &patch_n);
    if (patch_n == 0 && args->raw != NULL &&
        pd_text_find(args->raw, args->raw_n, "*** Begin Patch") != NULL) {
        patch = args->raw;
        patch_n = args->raw_n;
    }
    if (patched_files(a, patch, patch_n, &files, &n_files) != PD_OK)
        return PD_ENOMEM;

    const char *label = summary;
    if (label[0] == '\0' && n_files == 1) {
        label = sanitize_label(a, files[0], strlen(files[0]));
    } else if (label[0] == '\0' && n_files > 1) {
        char *raw = pd_arena_sprintf(a, "%s (+%zu more)", files[0], n_files - 1);
        label = raw != NULL ? sanitize_label(a, raw, strlen(raw)) : NULL;
    }
    if (label == NULL)
        return PD_ENOMEM;
    append_header(b, "Edit", label);

    if (n_files > 1) {
        size_t shown = n_files < PATCH_FILES_SHOWN ? n_files : PATCH_FILES_SHOWN;
        for (size_t i = 0; i < shown; i++) {
            pd_buf_putc(b, '\n');
            pd_buf_puts(b, files[i]);
        }
        if (n_files > shown)
            pd_buf_printf(b, "\n+%zu more files", n_files - shown);
        return PD_OK;
    }
    if (n_files == 0) {
        bool appended;
        append_preview(b, a, args, &appended);
    }
    return PD_OK;
}

static int render_spawn_agent(pd_buf *b, pd_arena *a, const char *summary, const call_args *args)
{
    static const char *const type_keys[] = {"agent_type", "subagent_type"};
    static const char *const prompt_keys[] = {"description", "message", "prompt"};
    const char *label = summary;

    if (label[0] == '\0') {
        const char *v;
        size_t vn;
        if (arg_value(a, args, type_keys, 2, &v, &vn))
            label = sanitize_label(a, v, vn);
        else
            label = "spawn_agent";
        if (label == NULL)
            return PD_ENOMEM;
    }
    append_header(b, "Task", label);

    const char *prompt;
    size_t prompt_n;
    if (arg_value(a, args, prompt_keys, 3, &prompt, &prompt_n)) {
        const char *nl = memchr(prompt, '\n', prompt_n);
        size_t first = nl != NULL ? (size_t)(nl - prompt) : prompt_n;
        char *cut = pd_codex_truncate(a, prompt, first, PREVIEW_MAX_RUNES);
        if (cut == NULL)
            return PD_ENOMEM;
        pd_buf_putc(b, '\n');
        pd_buf_puts(b, cut);
        return PD_OK;
    }
    bool appended;
    append_preview(b, a, args, &appended);
    return PD_OK;
}

/* The detail a category shows when the call has no summary. */
static char *category_detail(pd_arena *a, const char *category, const call_args *args)
{
    static const char *const path_keys[] = {"file_path", "path"};
    static const char *const pattern_key[] = {"pattern"};
    static const char *const path_key[] = {"path"};
    static const char *const desc_key[] = {"description"};
    static const char *const agent_key[] = {"subagent_type"};
    const char *x, *y;
    size_t xn, yn;

    if (strcmp(category, "Read") == 0 || strcmp(category, "Write") == 0 ||
        strcmp(category, "Edit") == 0) {
        arg_value(a, args, path_keys, 2, &x, &xn);
        return pd_arena_strndup(a, x, xn);
    }
    if (strcmp(category, "Grep") == 0) {
        arg_value(a, args, pattern_key, 1, &x, &xn);
        return pd_arena_strndup(a, x, xn);
    }
    if (strcmp(category, "Glob") == 0) {
        arg_value(a, args, pattern_key, 1, &x, &xn);
        arg_value(a, args, path_key, 1, &y, &yn);
        if (xn > 0 && yn > 0)
            return pd_arena_sprintf(a, "%.*s in %.*s", (int)xn, x, (int)yn, y);
        return xn > 0 ? pd_arena_strndup(a, x, xn) : pd_arena_strndup(a, y, yn);
    }
    if (strcmp(category, "Task") == 0 || strcmp(category, "Agent") == 0) {
        arg_value(a, args, desc_key, 1, &x, &xn);
        arg_value(a, args, agent_key, 1, &y, &yn);
        if (xn > 0 && yn > 0)
            return pd_arena_sprintf(a, "%.*s (%.*s)", (int)xn, x, (int)yn, y);
        return xn > 0 ? pd_arena_strndup(a, x, xn) : pd_arena_strndup(a, y, yn);
    }
    return pd_arena_strdup(a, "");
}

static int render_generic(pd_buf *b, pd_arena *a, const char *name, const char *category,
                          const char *summary, const call_args *args)
{
    bool appended;

    if (strcmp(category, "Other") == 0) {
        char *label = sanitize_label(a, name, strlen(name));
        if (label == NULL)
            return PD_ENOMEM;
        append_header(b, "Tool", label);
        if (summary[0] != '\0') {
            pd_buf_putc(b, '\n');
            pd_buf_puts(b, summary);
            return PD_OK;
        }
        append_preview(b, a, args, &appended);
        return PD_OK;
    }

    const char *detail = summary;
    if (detail[0] == '\0') {
        char *raw = category_detail(a, category, args);
        detail = raw != NULL ? sanitize_label(a, raw, strlen(raw)) : NULL;
        if (detail == NULL)
            return PD_ENOMEM;
    }
    char *label = sanitize_label(a, category, strlen(category));
    if (label == NULL)
        return PD_ENOMEM;
    append_header(b, label, detail);
    append_preview(b, a, args, &appended);
    return PD_OK;
}

/* The agent ids a wait/wait_agent call names in "ids" (else "targets"). */
static int wait_ids(pd_arena *a, const call_args *args, pd_codex_call_render *out)
{
    pd_json ids = pd_json_get(args->value, "ids");

    if (!pd_json_exists(ids))
        ids = pd_json_get(args->value, "targets");
    if (pd_json_type_of(ids) != PD_JSON_ARRAY)
        return PD_OK;

    size_t n = pd_json_len(ids);
    out->wait_ids = pd_arena_calloc(a, n ? n : 1, sizeof *out->wait_ids);
    if (out->wait_ids == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *s;
        size_t sn;
        if (!pd_json_str(pd_json_at(ids, i), &s, &sn))
            continue;
        pd_codex_trim(&s, &sn);
        if (sn == 0)
            continue;
        out->wait_ids[out->n_wait_ids] = pd_codex_clean(a, s, sn);
        if (out->wait_ids[out->n_wait_ids] == NULL)
            return PD_ENOMEM;
        out->n_wait_ids++;
    }
    return PD_OK;
}

/*
 * The file a call names, as the archive stores it for every tool call: the
 * first non-empty string among file_path, path, filePath and file of the
 * input object. *out is NULL when there is none.
 */
static int input_file_path(pd_arena *a, pd_json_parser *nested, const char *input_json, char **out)
{
    static const char *const keys[] = {"file_path", "path", "filePath", "file"};
    pd_json root;

    *out = NULL;
    /* Most inputs (a shell command) name no such key, so they are not parsed.
     * NOTE: a key spelled with a JSON escape ("pat\u0068") is missed. */
    if (input_json == NULL ||
        (strstr(input_json, "path\"") == NULL && strstr(input_json, "Path\"") == NULL &&
         strstr(input_json, "file\"") == NULL))
        return PD_OK;
    int rc = pd_json_parse(nested, input_json, strlen(input_json), &root);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc != PD_OK)
        return PD_OK;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *s;
        size_t n;
        if (pd_json_str(pd_json_get(root, keys[i]), &s, &n) && n > 0) {
            *out = pd_codex_clean(a, s, n);
            if (*out == NULL)
                return PD_ENOMEM;
            if ((*out)[0] == '\0')
                *out = NULL; /* only characters the archive drops */
            return PD_OK;
        }
    }
    return PD_OK;
}

int pd_codex_render_call(pd_arena *a, pd_json_parser *line_parser, pd_json_parser *nested,
                         const char *name, pd_json payload, const char *payload_path,
                         pd_codex_call_render *out)
{
    call_args args;
    pd_buf b;
    int rc;

    memset(out, 0, sizeof *out);
    out->category = pd_tool_category(name);

    /* input_json first: its validity checks reuse the nested parser. */
    rc = extract_input_json(a, line_parser, nested, payload, payload_path, &out->input_json);
    if (rc == PD_OK)
        rc = input_file_path(a, nested, out->input_json, &out->file_path);
    if (rc != PD_OK)
        return rc;
    rc = parse_args(a, line_parser, nested, payload, payload_path, &args);
    if (rc != PD_OK)
        return rc;

    const char *summary_raw;
    size_t summary_n;
    summary_raw = pd_json_str_or_empty(pd_json_get(payload, "summary"), &summary_n);
    char *summary = sanitize_label(a, summary_raw, summary_n);
    if (summary == NULL)
        return PD_ENOMEM;

    pd_buf_init(&b, a);
    pd_buf_puts(&b, "");
    if (strcmp(name, "exec_command") == 0 || strcmp(name, "shell_command") == 0 ||
        strcmp(name, "shell") == 0) {
        render_shell(&b, a, summary, &args);
    } else if (strcmp(name, "write_stdin") == 0) {
        rc = render_write_stdin(&b, a, summary, &args);
    } else if (strcmp(name, "apply_patch") == 0) {
        rc = render_apply_patch(&b, a, summary, &args);
    } else if (strcmp(name, "spawn_agent") == 0) {
        rc = render_spawn_agent(&b, a, summary, &args);
    } else {
        rc = render_generic(&b, a, name, out->category, summary, &args);
    }
    if (rc != PD_OK)
        return rc;

    if (strcmp(name, "wait") == 0 || strcmp(name, "wait_agent") == 0) {
        rc = wait_ids(a, &args, out);
        if (rc != PD_OK)
            return rc;
    }

    char *text = pd_buf_finish(&b);
    if (text == NULL)
        return PD_ENOMEM;
    out->content = pd_codex_clean(a, text, b.len);
    return out->content == NULL ? PD_ENOMEM : PD_OK;
}

/* ---- Fernet tokens ---------------------------------------------------------- */

static int base64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/*
 * A Fernet token is URL-safe base64 of: version byte 0x80, an 8-byte
 * timestamp, a 16-byte IV, AES-CBC ciphertext (a multiple of 16 bytes, at
 * least one block) and a 32-byte HMAC, so at least 73 bytes. Encoded, it
 * starts with "gAAAAA".
 */
bool pd_codex_is_fernet_token(const char *s, size_t n)
{
    /* "gAAAAA" decodes to the version byte 0x80 followed by zero bits. */
    if (n < 6 || memcmp(s, "gAAAAA", 6) != 0)
        return false;

    size_t core = n;
    while (core > 0 && s[core - 1] == '=')
        core--;
    if (n - core > 2 || core % 4 == 1)
        return false;
    for (size_t i = 0; i < core; i++) {
        if (base64url_value((unsigned char)s[i]) < 0)
            return false;
    }

    size_t n_bytes = core * 6 / 8;
    return n_bytes >= 73 && (n_bytes - 57) % 16 == 0;
}
