/*
 * taxonomy.c -- tool categories and skill-name inference.
 *
 * Entry points: pd_tool_category(), pd_skill_name_infer() and
 * pd_skill_name_infer_text(), called by the parsers while they build tool
 * calls, from any worker thread.
 *
 * The category table lists the known tool names of the supported agents,
 * grouped by category. Skill inference is a heuristic over paths
 * and shell words. It never runs a command, and it reads at most the first
 * PD_SKILL_FRONTMATTER_MAX bytes of a regular (not symlinked) SKILL.md.
 */
#include "parsers/taxonomy.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/text.h"

typedef struct tool_category {
    const char *name;
    const char *category;
} tool_category;

static const tool_category category_table[] = {
    /* Read */
    {"Read", "Read"},
    {"list_files", "Read"},
    {"read_file", "Read"},
    {"list_directory", "Read"},
    {"view_file", "Read"},
    {"read_url_content", "Read"},
    {"read", "Read"},
    {"view", "Read"},
    {"LS", "Read"},
    {"look_at", "Read"},
    {"read_web_page", "Read"},
    {"find", "Read"},
    {"fetch", "Read"},
    {"vision_analyze", "Read"},
    {"ReadFile", "Read"},
    {"zencoder-rag-mcp__web_search", "Read"},
    {"read_context_file", "Read"},
    {"read_image", "Read"},
    {"read_files", "Read"},
    {"read_shell_command_output", "Read"},

    /* Edit */
    {"Edit", "Edit"},
    {"apply_patch", "Edit"},
    {"edit_file", "Edit"},
    {"replace", "Edit"},
    {"replace_file_content", "Edit"},
    {"multi_replace_file_content", "Edit"},
    {"edit", "Edit"},
    {"ApplyPatch", "Edit"},
    {"StrReplace", "Edit"},
    {"undo_edit", "Edit"},
    {"str_replace", "Edit"},
    {"patch", "Edit"},
    {"multi_patch", "Edit"},
    {"undo", "Edit"},
    {"remove", "Edit"},
    {"EditFile", "Edit"},
    {"apply_file_diff", "Edit"},

    /* Write */
    {"Write", "Write"},
    {"NotebookEdit", "Write"},
    {"write_file", "Write"},
    {"write_to_file", "Write"},
    {"write", "Write"},
    {"create_file", "Write"},
    {"WriteFile", "Write"},

    /* Bash */
    {"Bash", "Bash"},
    {"shell_command", "Bash"},
    {"exec_command", "Bash"},
    {"write_stdin", "Bash"},
    {"shell", "Bash"},
    {"run_command", "Bash"},
    {"execute_command", "Bash"},
    {"run_shell_command", "Bash"},
    {"bash", "Bash"},
    {"Shell", "Bash"},
    {"exec", "Bash"},
    {"process", "Bash"},
    {"terminal", "Bash"},
    {"execute_code", "Bash"},
    {"RunTerminalCommand", "Bash"},
    {"code_interpreter", "Bash"},
    {"write_to_long_running_shell_command", "Bash"},

    /* Grep */
    {"Grep", "Grep"},
    {"search_files", "Grep"},
    {"grep", "Grep"},
    {"grep_search", "Grep"},
    {"finder", "Grep"},
    {"fs_search", "Grep"},
    {"keyword_search", "Grep"},
    {"search_codebase", "Grep"},

    /* Glob */
    {"Glob", "Glob"},
    {"glob", "Glob"},

    /* Task */
    {"Task", "Task"},
    {"Agent", "Task"},
    {"spawn_agent", "Task"},
    {"define_subagent", "Task"},
    {"invoke_subagent", "Task"},
    {"manage_subagents", "Task"},
    {"send_message", "Task"},
    {"manage_task", "Task"},
    {"task", "Task"},
    {"sessions_list", "Task"},
    {"sessions_history", "Task"},
    {"sessions_send", "Task"},
    {"sessions_spawn", "Task"},
    {"subagents", "Task"},
    {"agents_list", "Task"},
    {"session_status", "Task"},
    {"parallel", "Task"},
    {"delegate_task", "Task"},
    {"LaunchSubagent", "Task"},
    {"subagent__ZencoderSubagent", "Task"},

    /* Tool */
    {"Skill", "Tool"},
    {"ask_permission", "Tool"},
    {"ask_question", "Tool"},
    {"schedule", "Tool"},
    {"search_web", "Tool"},
    {"generate_image", "Tool"},
    {"report_intent", "Tool"},
    {"skill", "Tool"},
    {"browser", "Tool"},
    {"web_search", "Tool"},
    {"web_fetch", "Tool"},
    {"image", "Tool"},
    {"canvas", "Tool"},
    {"tts", "Tool"},
    {"message", "Tool"},
    {"nodes", "Tool"},
    {"todo_write", "Tool"},
    {"todo_read", "Tool"},
    {"browser_navigate", "Tool"},
    {"browser_snapshot", "Tool"},
    {"browser_click", "Tool"},
    {"browser_type", "Tool"},
    {"browser_scroll", "Tool"},
    {"browser_press", "Tool"},
    {"browser_back", "Tool"},
    {"browser_close", "Tool"},
    {"browser_vision", "Tool"},
    {"browser_console", "Tool"},
    {"browser_get_images", "Tool"},
    {"todo", "Tool"},
    {"memory", "Tool"},
    {"session_search", "Tool"},
    {"skill_view", "Tool"},
    {"skills_list", "Tool"},
    {"skill_manage", "Tool"},
    {"clarify", "Tool"},
    {"text_to_speech", "Tool"},
    {"cronjob", "Tool"},
    {"WebFetch", "Tool"},
    {"WebSearch", "Tool"},
    {"TodoWrite", "Tool"},
    {"AskUserQuestion", "Tool"},
    {"ProposePlanToUser", "Tool"},
    {"change_dir", "Tool"},
    {"output_iframe", "Tool"},
    {"llm_one_shot", "Tool"},
    {"browser_emulate", "Tool"},
    {"browser_network", "Tool"},
    {"browser_accessibility", "Tool"},
    {"browser_profile", "Tool"},
    {"call_mcp_tool", "Tool"},
    {"read_mcp_resource", "Tool"},
    {"suggest_plan", "Tool"},
    {"suggest_create_plan", "Tool"},
    {"use_computer", "Tool"},
};

/*
 * The table is looked up for every tool call, so it is hashed once into an
 * open-addressing index. A name listed twice keeps its first category, as
 * the linear order of the table gives.
 */
#define CATEGORY_N (sizeof category_table / sizeof category_table[0])
#define CATEGORY_SLOTS 512 /* a power of two, over twice CATEGORY_N */

static uint16_t category_slots[CATEGORY_SLOTS]; /* table index + 1, or 0 for an empty slot */
static pthread_once_t category_once = PTHREAD_ONCE_INIT;

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void build_category_slots(void)
{
    _Static_assert(CATEGORY_SLOTS >= 2 * CATEGORY_N, "category index too small");
    for (size_t i = 0; i < CATEGORY_N; i++) {
        size_t slot = name_hash(category_table[i].name) & (CATEGORY_SLOTS - 1);
        while (category_slots[slot] != 0 &&
               strcmp(category_table[category_slots[slot] - 1].name, category_table[i].name) != 0)
            slot = (slot + 1) & (CATEGORY_SLOTS - 1);
        if (category_slots[slot] == 0)
            category_slots[slot] = (uint16_t)(i + 1);
    }
}

const char *pd_tool_category(const char *name)
{
    if (name == NULL)
        return "Other";
    pthread_once(&category_once, build_category_slots);
    for (size_t slot = name_hash(name) & (CATEGORY_SLOTS - 1); category_slots[slot] != 0;
         slot = (slot + 1) & (CATEGORY_SLOTS - 1)) {
        const tool_category *c = &category_table[category_slots[slot] - 1];
        if (strcmp(c->name, name) == 0)
            return c->category;
    }
    /* MCP servers prefix their tool names, so a spawner keeps "subagent" somewhere inside. */
    if (strstr(name, "subagent") != NULL)
        return "Task";
    return "Other";
}

/* ---- small string helpers ---------------------------------------------- */

/* A string slice that is not NUL-terminated. */
typedef struct span {
    const char *s;
    size_t n;
} span;

static span span_trim(const char *s, size_t n)
{
    size_t start, len;

    pd_text_trim_span(s, n, &start, &len);
    return (span){s + start, len};
}

static bool span_eq(span v, const char *lit)
{
    size_t n = strlen(lit);

    return v.n == n && memcmp(v.s, lit, n) == 0;
}

static bool span_contains(span v, const char *lit)
{
    return pd_text_find(v.s, v.n, lit) != NULL;
}

static bool name_is_one_of(const char *name, const char *const *names)
{
    span trimmed;

    if (name == NULL)
        return false;
    trimmed = span_trim(name, strlen(name));
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t n = strlen(names[i]);
        if (trimmed.n == n && strncasecmp(trimmed.s, names[i], n) == 0)
            return true;
    }
    return false;
}

static const char *const read_tools[] = {"read", "readfile", "read_file", NULL};
static const char *const shell_tools[] = {"exec_command", "shell_command", "shell", "bash", NULL};

/* ---- paths ---------------------------------------------------------------- */

/* Expands a leading "~" or "~/" to $HOME. Other paths, or any path while HOME is unset, stay as
 * they are. */
static char *expand_home(pd_arena *a, const char *s, size_t n)
{
    const char *home = getenv("HOME");

    if (home != NULL && home[0] != '\0' &&
        ((n == 1 && s[0] == '~') || (n >= 2 && s[0] == '~' && s[1] == '/')))
        return pd_arena_sprintf(a, "%s%.*s", home, (int)(n - 1), s + 1);
    return pd_arena_strndup(a, s, n);
}

static bool is_skill_markdown_path(span path)
{
    static const char leaf[] = "SKILL.md";
    size_t n = sizeof leaf - 1;

    if (path.n < n || memcmp(path.s + path.n - n, leaf, n) != 0)
        return false;
    /* Windows separators count as separators here. */
    return path.n == n || path.s[path.n - n - 1] == '/' || path.s[path.n - n - 1] == '\\';
}

static bool path_is_glob(span path)
{
    return memchr(path.s, '*', path.n) != NULL || memchr(path.s, '?', path.n) != NULL ||
           memchr(path.s, '[', path.n) != NULL;
}

static bool path_is_bare(span path)
{
    return memchr(path.s, '/', path.n) == NULL && memchr(path.s, '\\', path.n) == NULL;
}

/*
 * Reads the `name:` value of the YAML front matter at the top of path.
 * Sets *out to NULL when the file is missing, not a regular file, a symlink,
 * or has no front matter name. Returns PD_OK or PD_ENOMEM.
 */
static int read_frontmatter_name(pd_arena *a, const char *path, char **out)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    int fd = -1;
    int rc = PD_OK;
    const char *text, *end, *line;

    *out = NULL;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return PD_OK;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return PD_OK;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto out;
    buf = malloc(PD_SKILL_FRONTMATTER_MAX);
    if (buf == NULL) {
        rc = PD_ENOMEM;
        goto out;
    }
    while (len < PD_SKILL_FRONTMATTER_MAX) {
        ssize_t got = read(fd, buf + len, PD_SKILL_FRONTMATTER_MAX - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }

    text = buf;
    end = buf + len;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        text += 3;
    if (end - text < 3 || memcmp(text, "---", 3) != 0)
        goto out;

    /* The first line only opens the block. Fields follow until a closing "---" or "...". */
    line = memchr(text, '\n', (size_t)(end - text));
    while (line != NULL && line < end) {
        const char *next, *colon;
        span field, key, value;

        line++;
        next = memchr(line, '\n', (size_t)(end - line));
        field = span_trim(line, (size_t)((next != NULL ? next : end) - line));
        line = next;
        if (span_eq(field, "---") || span_eq(field, "..."))
            break;
        colon = memchr(field.s, ':', field.n);
        if (colon == NULL)
            continue;
        key = span_trim(field.s, (size_t)(colon - field.s));
        if (!span_eq(key, "name"))
            continue;
        value = span_trim(colon + 1, (size_t)(field.s + field.n - colon - 1));
        while (value.n > 0 && (value.s[0] == '"' || value.s[0] == '\'')) {
            value.s++;
            value.n--;
        }
        while (value.n > 0 && (value.s[value.n - 1] == '"' || value.s[value.n - 1] == '\''))
            value.n--;
        *out = pd_utf8_sanitize(a, value.s, value.n, NULL);
        if (*out == NULL)
            rc = PD_ENOMEM;
        break;
    }

out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}

/*
 * Names the skill of one SKILL.md path: the front matter name when the path
 * resolves to an absolute readable file, else the directory that contains SKILL.md
 * (nothing for a bare "SKILL.md"). Sets *out to NULL when path is not a
 * SKILL.md path. Returns PD_OK or PD_ENOMEM.
 */
static int skill_name_from_path(pd_arena *a, span path, const char *base_dir, char **out)
{
    char *expanded, *resolved, *slash;
    bool readable = false;
    int rc;

    *out = NULL;
    path = span_trim(path.s, path.n);
    if (path.n == 0 || !is_skill_markdown_path(path) || path_is_glob(path))
        return PD_OK;

    expanded = expand_home(a, path.s, path.n);
    if (expanded == NULL)
        return PD_ENOMEM;
    if (expanded[0] == '/') {
        resolved = pd_path_clean(a, expanded, strlen(expanded));
        readable = true;
    } else {
        char *base = NULL;
        if (base_dir != NULL) {
            span b = span_trim(base_dir, strlen(base_dir));
            base = expand_home(a, b.s, b.n);
            if (base == NULL)
                return PD_ENOMEM;
        }
        if (base != NULL && base[0] == '/') {
            char *joined = pd_arena_sprintf(a, "%s/%s", base, expanded);
            if (joined == NULL)
                return PD_ENOMEM;
            resolved = pd_path_clean(a, joined, strlen(joined));
            readable = true;
        } else {
            resolved = pd_path_clean(a, expanded, strlen(expanded));
        }
    }
    if (resolved == NULL)
        return PD_ENOMEM;

    if (readable) {
        rc = read_frontmatter_name(a, resolved, out);
        if (rc != PD_OK || (*out != NULL && (*out)[0] != '\0'))
            return rc;
        *out = NULL;
    }
    if (path_is_bare(path))
        return PD_OK;

    /* Base(Dir(resolved)): the last element before "/SKILL.md". */
    slash = strrchr(resolved, '/');
    if (slash == NULL) {
        *out = pd_arena_strdup(a, ".");
    } else if (slash == resolved) {
        *out = pd_arena_strdup(a, "/");
    } else {
        const char *dir_end = slash;
        const char *dir_start = dir_end;
        while (dir_start > resolved && dir_start[-1] != '/')
            dir_start--;
        *out = pd_utf8_sanitize(a, dir_start, (size_t)(dir_end - dir_start), NULL);
    }
    return *out == NULL ? PD_ENOMEM : PD_OK;
}

/* ---- input values ----------------------------------------------------------- */

/* Returns the first non-blank string among keys of an object value, trimmed, or an empty span. */
static span first_string_field(pd_json obj, const char *const *keys)
{
    for (size_t i = 0; keys[i] != NULL; i++) {
        const char *s;
        size_t n;
        if (pd_json_str(pd_json_get(obj, keys[i]), &s, &n)) {
            span t = span_trim(s, n);
            if (t.n > 0)
                return t;
        }
    }
    return (span){"", 0};
}

static const char *const base_dir_keys[] = {"workdir", "cwd", "working_directory", NULL};
static const char *const command_keys[] = {"cmd", "command", "script", NULL};

/* Maximum nesting walked inside an input value. Deeper members are not searched. */
#define INPUT_WALK_DEPTH 64

/*
 * Searches every string inside v, in document order, for a SKILL.md path and
 * names the first one that yields a skill.
 */
static int skill_name_from_value(pd_arena *a, pd_json v, const char *base_dir, char **out)
{
    pd_json_iter stack[INPUT_WALK_DEPTH];
    size_t depth = 0;
    pd_json_type type = pd_json_type_of(v);
    int rc;

    *out = NULL;
    if (type == PD_JSON_STRING) {
        const char *s;
        size_t n;
        pd_json_str(v, &s, &n);
        return skill_name_from_path(a, (span){s, n}, base_dir, out);
    }
    if (type != PD_JSON_ARRAY && type != PD_JSON_OBJECT)
        return PD_OK;

    stack[depth++] = pd_json_iter_begin(v);
    while (depth > 0) {
        pd_json key, val;
        if (!pd_json_iter_next(&stack[depth - 1], &key, &val)) {
            depth--;
            continue;
        }
        type = pd_json_type_of(val);
        if (type == PD_JSON_STRING) {
            const char *s;
            size_t n;
            pd_json_str(val, &s, &n);
            rc = skill_name_from_path(a, (span){s, n}, base_dir, out);
            if (rc != PD_OK || *out != NULL)
                return rc;
        } else if ((type == PD_JSON_ARRAY || type == PD_JSON_OBJECT) && depth < INPUT_WALK_DEPTH) {
            stack[depth++] = pd_json_iter_begin(val);
        }
    }
    return PD_OK;
}

/* ---- shell commands ------------------------------------------------------------ */

/* Words of one shell segment. Quotes group characters, and the word after '>' is dropped. */
typedef struct word_list {
    span *words;
    size_t n;
    size_t cap;
    char *storage; /* unquoted word bytes */
    size_t used;
} word_list;

static int words_push(pd_arena *a, word_list *w, size_t start, size_t len)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 8;
        span *grown = pd_arena_grow(a, w->words, w->n, cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        w->words = grown;
        w->cap = cap;
    }
    w->words[w->n++] = (span){w->storage + start, len};
    return PD_OK;
}

static int tokenize_segment(pd_arena *a, const char *s, size_t n, word_list *w)
{
    char quote = 0;
    bool in_word = false, skip_next = false;
    size_t word_start = 0;
    int rc;

    memset(w, 0, sizeof *w);
    w->storage = pd_arena_alloc(a, n + 1);
    if (w->storage == NULL)
        return PD_ENOMEM;

    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : ' ';
        bool flush = false;

        if (quote != 0 && i < n) {
            if (c == quote)
                quote = 0;
            else
                w->storage[w->used++] = c;
            continue;
        }
        if (c == '\'' || c == '"') {
            quote = c;
            if (!in_word)
                word_start = w->used;
            in_word = true;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            flush = true;
        } else if (c == '>') {
            flush = true;
        } else {
            if (!in_word)
                word_start = w->used;
            w->storage[w->used++] = c;
            in_word = true;
        }
        if (flush && in_word) {
            if (skip_next) {
                skip_next = false;
            } else {
                rc = words_push(a, w, word_start, w->used - word_start);
                if (rc != PD_OK)
                    return rc;
            }
            in_word = false;
        }
        if (c == '>' && i < n)
            skip_next = true;
    }
    return PD_OK;
}

static bool search_flag_takes_value(span flag)
{
    static const char *const flags[] = {"-A",
                                        "-B",
                                        "-C",
                                        "-m",
                                        "-e",
                                        "-f",
                                        "-g",
                                        "-t",
                                        "-T",
                                        "--after-context",
                                        "--before-context",
                                        "--context",
                                        "--max-count",
                                        "--regexp",
                                        "--file",
                                        "--glob",
                                        "--type",
                                        "--type-not",
                                        NULL};
    for (size_t i = 0; flags[i] != NULL; i++) {
        if (span_eq(flag, flags[i]))
            return true;
    }
    return false;
}

static bool sed_writes_in_place(const word_list *w)
{
    for (size_t i = 1; i < w->n; i++) {
        span arg = w->words[i];
        if (arg.n >= 10 && memcmp(arg.s, "--in-place", 10) == 0)
            return true;
        if (arg.n >= 1 && arg.s[0] == '-' && !(arg.n >= 2 && arg.s[1] == '-') &&
            memchr(arg.s, 'i', arg.n) != NULL)
            return true;
    }
    return false;
}

static int skill_name_from_file_args(pd_arena *a, const span *args, size_t n, const char *base_dir,
                                     char **out)
{
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (!is_skill_markdown_path(args[i]) || path_is_glob(args[i]))
            continue;
        rc = skill_name_from_path(a, args[i], base_dir, out);
        if (rc != PD_OK || *out != NULL)
            return rc;
    }
    return PD_OK;
}

static int skill_name_from_segment(pd_arena *a, const char *s, size_t n, const char *base_dir,
                                   char **out)
{
    word_list w;
    span verb;
    char lowered[8];
    int rc;

    *out = NULL;
    rc = tokenize_segment(a, s, n, &w);
    if (rc != PD_OK || w.n == 0)
        return rc;

    /* The verb is the last path element of the first word, compared case-insensitively. */
    verb = w.words[0];
    for (size_t i = verb.n; i > 0; i--) {
        if (verb.s[i - 1] == '/' || verb.s[i - 1] == '\\') {
            verb.s += i;
            verb.n -= i;
            break;
        }
    }
    if (verb.n == 0 || verb.n >= sizeof lowered)
        return PD_OK;
    for (size_t i = 0; i < verb.n; i++)
        lowered[i] = (char)tolower((unsigned char)verb.s[i]);
    lowered[verb.n] = '\0';

    if (strcmp(lowered, "cat") == 0 || strcmp(lowered, "head") == 0 ||
        strcmp(lowered, "tail") == 0 || strcmp(lowered, "less") == 0 ||
        strcmp(lowered, "more") == 0)
        return skill_name_from_file_args(a, w.words + 1, w.n - 1, base_dir, out);
    if (strcmp(lowered, "sed") == 0) {
        if (sed_writes_in_place(&w))
            return PD_OK;
        return skill_name_from_file_args(a, w.words + 1, w.n - 1, base_dir, out);
    }
    if (strcmp(lowered, "grep") == 0 || strcmp(lowered, "rg") == 0) {
        /* The first operand is the pattern unless -e or -f supplied it. The rest are files. */
        span *files = pd_arena_calloc(a, w.n, sizeof *files);
        size_t n_files = 0;
        bool pattern_seen = false;

        if (files == NULL)
            return PD_ENOMEM;
        for (size_t i = 1; i < w.n; i++) {
            span arg = w.words[i];
            if (arg.n > 0 && arg.s[0] == '-' && !span_eq(arg, "-")) {
                const char *eq = memchr(arg.s, '=', arg.n);
                span flag = {arg.s, eq != NULL ? (size_t)(eq - arg.s) : arg.n};
                if (span_eq(flag, "-e") || span_eq(flag, "-f") || span_eq(flag, "--regexp") ||
                    span_eq(flag, "--file"))
                    pattern_seen = true;
                if (search_flag_takes_value(flag) && eq == NULL)
                    i++;
                continue;
            }
            if (!pattern_seen) {
                pattern_seen = true;
                continue;
            }
            files[n_files++] = arg;
        }
        return skill_name_from_file_args(a, files, n_files, base_dir, out);
    }
    return PD_OK;
}

/* Splits a command on &&, ||, ;, & and | (quotes are not honoured) and tries each segment. */
static int skill_name_from_command(pd_arena *a, span cmd, const char *base_dir, char **out)
{
    size_t start = 0, i = 0;

    *out = NULL;
    while (i <= cmd.n) {
        size_t sep = 0;
        int rc;

        if (i < cmd.n) {
            char c = cmd.s[i];
            if ((c == '&' || c == '|') && i + 1 < cmd.n && cmd.s[i + 1] == c)
                sep = 2;
            else if (c == ';' || c == '&' || c == '|')
                sep = 1;
        }
        if (i < cmd.n && sep == 0) {
            i++;
            continue;
        }
        rc = skill_name_from_segment(a, cmd.s + start, i - start, base_dir, out);
        if (rc != PD_OK || *out != NULL)
            return rc;
        if (i == cmd.n)
            break;
        i += sep;
        start = i;
    }
    return PD_OK;
}

/* ---- entry points ------------------------------------------------------------------ */

int pd_skill_name_infer(pd_arena *a, const char *tool_name, pd_json input, const char *input_text,
                        size_t input_len, const char *fallback_base_dir, char **out)
{
    bool is_json = pd_json_exists(input);
    span text = span_trim(input_text != NULL ? input_text : "", input_text != NULL ? input_len : 0);
    const char *base_dir = NULL;
    char *base_copy = NULL;
    span cmd;

    *out = NULL;
    if (!name_is_one_of(tool_name, read_tools) && !name_is_one_of(tool_name, shell_tools))
        return PD_OK;

    if (is_json) {
        span b = first_string_field(input, base_dir_keys);
        if (b.n > 0) {
            base_copy = pd_arena_strndup(a, b.s, b.n);
            if (base_copy == NULL)
                return PD_ENOMEM;
            base_dir = base_copy;
        }
    }

    if (name_is_one_of(tool_name, read_tools)) {
        /* Read tools name the file as one of their string arguments. */
        if (is_json)
            return skill_name_from_value(a, input, base_dir, out);
        if (text.n == 0)
            return PD_OK;
        return skill_name_from_path(a, text, NULL, out);
    }

    cmd = is_json ? first_string_field(input, command_keys) : (span){"", 0};
    if (cmd.n == 0)
        cmd = text;
    if (cmd.n == 0 || !span_contains(cmd, "SKILL.md"))
        return PD_OK;
    if (base_dir == NULL)
        base_dir = fallback_base_dir;
    return skill_name_from_command(a, cmd, base_dir, out);
}

int pd_skill_name_infer_text(pd_arena *a, pd_json_parser *scratch, const char *tool_name,
                             const char *input_text, size_t input_len,
                             const char *fallback_base_dir, char **out)
{
    pd_json root = {{0}};
    int rc;

    *out = NULL;
    if (input_text == NULL || pd_text_find(input_text, input_len, "SKILL.md") == NULL)
        return PD_OK;
    if (!name_is_one_of(tool_name, read_tools) && !name_is_one_of(tool_name, shell_tools))
        return PD_OK;
    rc = pd_json_parse(scratch, input_text, input_len, &root);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc != PD_OK)
        root = (pd_json){{0}};
    return pd_skill_name_infer(a, tool_name, root, input_text, input_len, fallback_base_dir, out);
}
