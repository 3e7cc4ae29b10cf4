/*
 * claude_project.c -- the project name of a Claude Code session.
 *
 * Entry points: claude_project_from_dir_name() decodes the project
 * directory name Claude Code derives from the working directory
 * ("-Users-alice-code-my-app" -> "my_app"), and claude_project_from_cwd()
 * derives a name from the first user line's cwd and git branch, which wins
 * when it yields one.
 *
 * claude_project_from_cwd() applies, first match wins:
 *   1. worktree layouts of known tools (.superset/worktrees/<P>/...,
 *      conductor/workspaces/<P>/..., .codex/worktrees/<id>/<P>/...,
 *      .roborev/ci-worktrees/<P>/...) -> P;
 *   2. for an absolute POSIX path, the nearest ancestor (on this machine's
 *      file system) holding a .git directory or file -> the repository root's
 *      name, following linked worktrees through gitdir and commondir;
 *   3. .../worktrees/github.com/<owner>/<repo>/... -> repo;
 *   4. the last path element without a -<branch> or _<branch> suffix.
 * Names then have '-' replaced by '_'.
 *
 * Thread-safety: reads the file system; the repository-root cache is per
 * thread.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/text.h"
#include "parsers/claude_internal.h"

/* Largest .git file, commondir or config read while resolving a repository root. */
#define GIT_META_MAX_BYTES ((size_t)64 << 10)

/* Replaces '-' with '_' in place and returns s. */
static char *normalize_name(char *s)
{
    for (char *p = s; p != NULL && *p != '\0'; p++) {
        if (*p == '-')
            *p = '_';
    }
    return s;
}

static char *normalized_copy(pd_arena *a, const char *s, size_t n)
{
    char *copy = pd_utf8_sanitize(a, s, n, NULL);

    return copy == NULL ? NULL : normalize_name(copy);
}

char *claude_project_from_dir_name(pd_arena *a, const char *dir_name)
{
    static const char *const markers[] = {"code", "projects", "repos", "src", "work", "dev", NULL};
    static const char *const system_dirs[] = {"users", "home", "var", "tmp", "private", NULL};
    size_t n = strlen(dir_name);
    const char *end = dir_name + n;

    if (n == 0 || dir_name[0] != '-')
        return normalized_copy(a, dir_name, n);

    /* Everything after the first marker element that is not the last element. */
    for (size_t m = 0; markers[m] != NULL; m++) {
        size_t marker_len = strlen(markers[m]);
        const char *part = dir_name;
        for (;;) {
            const char *dash = memchr(part, '-', (size_t)(end - part));
            size_t part_len = (size_t)((dash != NULL ? dash : end) - part);
            if (dash == NULL)
                break;
            if (part_len == marker_len && strncasecmp(part, markers[m], marker_len) == 0 &&
                dash + 1 < end)
                return normalized_copy(a, dash + 1, (size_t)(end - dash - 1));
            part = dash + 1;
        }
    }

    /* Otherwise the last element that is not a generic system directory. */
    for (const char *part_end = end; part_end > dir_name;) {
        const char *part = part_end;
        size_t part_len;
        bool generic = false;
        while (part > dir_name && part[-1] != '-')
            part--;
        part_len = (size_t)(part_end - part);
        for (size_t s = 0; system_dirs[s] != NULL; s++) {
            if (part_len == strlen(system_dirs[s]) &&
                strncasecmp(part, system_dirs[s], part_len) == 0)
                generic = true;
        }
        if (part_len > 0 && !generic)
            return normalized_copy(a, part, part_len);
        part_end = part > dir_name ? part - 1 : dir_name;
    }
    return normalized_copy(a, dir_name, n);
}

/* True for ".", "..", "/" and anything containing a separator. */
static bool invalid_base(const char *s, size_t n)
{
    if (n == 0)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return true;
    return memchr(s, '/', n) != NULL || memchr(s, '\\', n) != NULL;
}

/* Returns the last element of a cleaned path ("/" for the root). */
static const char *base_of(const char *path, size_t *len)
{
    size_t n = strlen(path);
    const char *slash;

    if (n == 1 && path[0] == '/') {
        *len = 1;
        return path;
    }
    slash = strrchr(path, '/');
    if (slash == NULL) {
        *len = n;
        return path;
    }
    *len = n - (size_t)(slash + 1 - path);
    return slash + 1;
}

/* Returns the directory part of a cleaned path, as filepath.Dir does. */
static char *dir_of(pd_arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return pd_arena_strdup(a, ".");
    if (slash == path)
        return pd_arena_strdup(a, "/");
    return pd_path_clean(a, path, (size_t)(slash - path));
}

static char *join_path(pd_arena *a, const char *dir, const char *name)
{
    char *joined = pd_arena_sprintf(a, "%s/%s", dir, name);

    return joined == NULL ? NULL : pd_path_clean(a, joined, strlen(joined));
}

/* ---- worktree layouts ------------------------------------------------------- */

typedef struct layout {
    const char *marker;
    size_t project_part; /* element after the marker that names the project */
    size_t min_parts;
} layout;

static const layout tool_layouts[] = {
    {"/.superset/worktrees/", 0, 2},
    {"/conductor/workspaces/", 0, 2},
    {"/.codex/worktrees/", 1, 2},
    {"/.roborev/ci-worktrees/", 0, 2},
};

static const layout hosting_layouts[] = {
    {"/worktrees/github/github.com/", 1, 3},
    {"/worktrees/github.com/", 1, 3},
};

/* Returns the project element of the first matching layout, or NULL with *len 0. */
static const char *project_from_layouts(const char *path, const layout *layouts, size_t n_layouts,
                                        size_t *len)
{
    for (size_t i = 0; i < n_layouts; i++) {
        const char *rest = strstr(path, layouts[i].marker);
        const char *parts[4] = {NULL};
        size_t part_lens[4] = {0};
        size_t n_parts = 0;

        if (rest == NULL)
            continue;
        rest += strlen(layouts[i].marker);
        /* Split the rest on '/', keeping only the elements the layouts look at. */
        for (const char *p = rest;; n_parts++) {
            const char *slash = strchr(p, '/');
            if (n_parts < 4) {
                parts[n_parts] = p;
                part_lens[n_parts] = slash != NULL ? (size_t)(slash - p) : strlen(p);
            }
            if (slash == NULL) {
                n_parts++;
                break;
            }
            p = slash + 1;
        }
        if (n_parts < layouts[i].min_parts)
            continue;
        if (invalid_base(parts[layouts[i].project_part], part_lens[layouts[i].project_part]))
            continue;
        *len = part_lens[layouts[i].project_part];
        return parts[layouts[i].project_part];
    }
    *len = 0;
    return NULL;
}

/* ---- git repository roots ------------------------------------------------------ */

/* Reads a small text file into the arena. Returns NULL when it cannot be read. */
static char *read_small_file(pd_arena *a, const char *path)
{
    char *buf;
    size_t len = 0;
    /* O_NONBLOCK and the regular-file check keep a FIFO from blocking the parse. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    buf = pd_arena_alloc(a, GIT_META_MAX_BYTES + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    while (len < GIT_META_MAX_BYTES) {
        ssize_t got = read(fd, buf + len, GIT_META_MAX_BYTES - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* The trimmed value of the "gitdir:" line of a .git file, or NULL. */
static char *read_gitdir(pd_arena *a, const char *git_file)
{
    char *text = read_small_file(a, git_file);

    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        size_t start, trimmed;
        pd_text_trim_span(line, len, &start, &trimmed);
        if (trimmed >= 7 && strncasecmp(line + start, "gitdir:", 7) == 0)
            return pd_text_trim(a, line + start + 7, trimmed - 7);
        line = nl != NULL ? nl + 1 : NULL;
    }
    return NULL;
}

/* True when the [core] section of <git_dir>/config sets bare. */
static bool config_is_bare(pd_arena *a, const char *git_dir)
{
    char *path = join_path(a, git_dir, "config");
    char *text = path != NULL ? read_small_file(a, path) : NULL;
    bool in_core = false;

    for (char *line = text; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        size_t start, trimmed;
        const char *s;

        pd_text_trim_span(line, len, &start, &trimmed);
        s = line + start;
        line = nl != NULL ? nl + 1 : NULL;
        if (trimmed == 0 || s[0] == '#' || s[0] == ';')
            continue;
        if (s[0] == '[') {
            const char *close = memchr(s, ']', trimmed);
            size_t name_start, name_len;
            if (close == NULL) {
                in_core = false;
                continue;
            }
            pd_text_trim_span(s + 1, (size_t)(close - s - 1), &name_start, &name_len);
            /* A subsection such as [core "x"] still names the core section. */
            for (size_t k = 0; k < name_len; k++) {
                if (s[1 + name_start + k] == ' ') {
                    name_len = k;
                    break;
                }
            }
            in_core = name_len == 4 && strncasecmp(s + 1 + name_start, "core", 4) == 0;
            continue;
        }
        if (!in_core)
            continue;
        {
            const char *eq = memchr(s, '=', trimmed);
            size_t key_start, key_len, value_start, value_len;
            pd_text_trim_span(s, eq != NULL ? (size_t)(eq - s) : trimmed, &key_start, &key_len);
            if (key_len != 4 || strncasecmp(s + key_start, "bare", 4) != 0)
                continue;
            if (eq == NULL)
                return true;
            pd_text_trim_span(eq + 1, trimmed - (size_t)(eq + 1 - s), &value_start, &value_len);
            return (value_len == 4 && strncasecmp(eq + 1 + value_start, "true", 4) == 0) ||
                   (value_len == 3 && strncasecmp(eq + 1 + value_start, "yes", 3) == 0) ||
                   (value_len == 2 && strncasecmp(eq + 1 + value_start, "on", 2) == 0) ||
                   (value_len == 1 && eq[1 + value_start] == '1');
        }
    }
    return false;
}

/* Resolves the repository root a .git file points to, or returns repo_dir when it cannot. */
static char *root_from_git_file(pd_arena *a, const char *repo_dir, const char *git_file)
{
    char *git_dir = read_gitdir(a, git_file);
    char *common = NULL;
    const char *worktrees;

    if (git_dir == NULL || git_dir[0] == '\0')
        return (char *)repo_dir;
    if (git_dir[0] != '/')
        git_dir = join_path(a, repo_dir, git_dir);
    else
        git_dir = pd_path_clean(a, git_dir, strlen(git_dir));
    if (git_dir == NULL)
        return (char *)repo_dir;

    /* A linked worktree's gitdir names the main repository through commondir. */
    {
        char *commondir_path = join_path(a, git_dir, "commondir");
        char *text = commondir_path != NULL ? read_small_file(a, commondir_path) : NULL;
        if (text != NULL) {
            char *value = pd_text_trim(a, text, strlen(text));
            if (value != NULL && value[0] != '\0')
                common = value[0] == '/' ? pd_path_clean(a, value, strlen(value))
                                         : join_path(a, git_dir, value);
        }
    }
    if (common != NULL) {
        size_t base_len;
        const char *base = base_of(common, &base_len);
        if (base_len == 4 && memcmp(base, ".git", 4) == 0)
            return dir_of(a, common);
        if (config_is_bare(a, common)) {
            /* A bare repository has no checkout, so its name stands for the root. */
            size_t name_len = base_len;
            if (name_len > 4 && memcmp(base + name_len - 4, ".git", 4) == 0)
                name_len -= 4;
            if (!invalid_base(base, name_len) && name_len > 0) {
                char *dir = dir_of(a, common);
                char *name = pd_arena_strndup(a, base, name_len);
                if (dir != NULL && name != NULL)
                    return join_path(a, dir, name);
            }
        }
    }

    worktrees = strstr(git_dir, "/.git/worktrees/");
    if (worktrees != NULL && worktrees > git_dir)
        return pd_path_clean(a, git_dir, (size_t)(worktrees - git_dir));
    return (char *)repo_dir;
}

/* ---- per-thread cache of repository roots ---------------------------------------- */

/*
 * Each walk up to a .git entry costs one stat() per ancestor, and a batch
 * run meets the same few working directories in thousands of sessions.
 * Between pd_project_cache_begin() and pd_project_cache_end() a thread
 * stores each walk's result and reuses it. Outside that window every call
 * walks the file system.
 */
#define ROOT_CACHE_SLOTS 4096 /* a power of two; the cache empties when half full */

typedef struct root_cache_entry {
    char *cwd;  /* cleaned working directory; NULL marks a free slot */
    char *root; /* repository root, or NULL when the walk found none */
} root_cache_entry;

typedef struct root_cache {
    root_cache_entry slots[ROOT_CACHE_SLOTS];
    size_t used;
} root_cache;

static _Thread_local root_cache *thread_root_cache;

static void root_cache_clear(root_cache *c)
{
    for (size_t i = 0; i < ROOT_CACHE_SLOTS; i++) {
        free(c->slots[i].cwd);
        free(c->slots[i].root);
        c->slots[i] = (root_cache_entry){0};
    }
    c->used = 0;
}

void pd_project_cache_begin(void)
{
    if (thread_root_cache != NULL)
        root_cache_clear(thread_root_cache);
    else
        thread_root_cache = calloc(1, sizeof *thread_root_cache);
    /* Without memory the cache stays off and every call walks the file system. */
}

void pd_project_cache_end(void)
{
    if (thread_root_cache == NULL)
        return;
    root_cache_clear(thread_root_cache);
    free(thread_root_cache);
    thread_root_cache = NULL;
}

/* Returns the slot of cwd: its entry, or the free slot where it belongs. */
static root_cache_entry *root_cache_slot(root_cache *c, const char *cwd)
{
    size_t i = (size_t)pd_xxh3(cwd, strlen(cwd)) & (ROOT_CACHE_SLOTS - 1);
    while (c->slots[i].cwd != NULL && strcmp(c->slots[i].cwd, cwd) != 0)
        i = (i + 1) & (ROOT_CACHE_SLOTS - 1);
    return &c->slots[i];
}

/* Stores one walk's result. A full cache or a failed allocation only costs a later walk. */
static void root_cache_put(root_cache *c, const char *cwd, const char *root)
{
    if (c->used >= ROOT_CACHE_SLOTS / 2)
        root_cache_clear(c);
    root_cache_entry *e = root_cache_slot(c, cwd);
    char *key = strdup(cwd);
    char *value = root != NULL ? strdup(root) : NULL;
    if (key == NULL || (root != NULL && value == NULL)) {
        free(key);
        free(value);
        return;
    }
    e->cwd = key;
    e->root = value;
    c->used++;
}

static char *find_git_root_uncached(pd_arena *a, const char *cwd);

/* Returns the repository root of cwd (an arena string) or NULL, through the thread's cache. */
static char *find_git_root(pd_arena *a, const char *cwd)
{
    root_cache *c = thread_root_cache;
    if (c == NULL)
        return find_git_root_uncached(a, cwd);

    root_cache_entry *e = root_cache_slot(c, cwd);
    if (e->cwd != NULL)
        return e->root != NULL ? pd_arena_strdup(a, e->root) : NULL;
    char *root = find_git_root_uncached(a, cwd);
    root_cache_put(c, cwd, root);
    return root;
}

/* Walks up from cwd to the nearest .git entry. Returns the repository root or NULL. */
static char *find_git_root_uncached(pd_arena *a, const char *cwd)
{
    struct stat st;
    char *dir;

    if (stat(cwd, &st) == 0) {
        dir = S_ISDIR(st.st_mode) ? pd_arena_strdup(a, cwd) : dir_of(a, cwd);
    } else {
        /*
         * NOTE: for a deleted cwd the walk starts at its parent. Sibling
         * linked worktrees are not inspected, so a deleted worktree outside
         * its repository falls back to the path rules below.
         */
        if (strchr(cwd, '/') == NULL)
            return NULL;
        dir = dir_of(a, cwd);
    }

    while (dir != NULL) {
        char *git_path = join_path(a, dir, ".git");
        char *parent;

        if (git_path == NULL)
            return NULL;
        if (stat(git_path, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                return dir;
            if (S_ISREG(st.st_mode))
                return root_from_git_file(a, dir, git_path);
        }
        parent = dir_of(a, dir);
        if (parent == NULL || strcmp(parent, dir) == 0)
            return NULL;
        dir = parent;
    }
    return NULL;
}

/* ---- branch suffixes ------------------------------------------------------------- */

/* Lower-cases letters and digits and turns every run of other characters into one '-'. */
static char *branch_token(pd_arena *a, const char *branch, size_t n)
{
    char *out = pd_arena_alloc(a, n + 1);
    size_t o = 0;
    bool last_dash = false;

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)branch[i];
        /* NOTE: non-ASCII bytes pass through as letters without case folding. */
        if (isalnum(c) || c >= 0x80) {
            out[o++] = (char)tolower(c);
            last_dash = false;
        } else if (!last_dash) {
            out[o++] = '-';
            last_dash = true;
        }
    }
    while (o > 0 && out[o - 1] == '-')
        o--;
    out[o] = '\0';
    return out[0] == '-' ? out + 1 : out;
}

static bool is_default_branch(const char *token)
{
    static const char *const names[] = {"main", "master", "trunk", "develop", "dev", NULL};

    for (size_t i = 0; names[i] != NULL; i++) {
        if (strcasecmp(token, names[i]) == 0)
            return true;
    }
    return false;
}

/* Returns the length of name without a "-<branch>" or "_<branch>" suffix. */
static size_t trim_branch_suffix(pd_arena *a, const char *name, size_t n, const char *git_branch)
{
    size_t start, len, token_len;
    const char *branch;
    char *token;

    if (n == 0 || git_branch == NULL)
        return n;
    pd_text_trim_span(git_branch, strlen(git_branch), &start, &len);
    branch = git_branch + start;
    if (len == 0)
        return n;
    if (len >= 11 && memcmp(branch, "refs/heads/", 11) == 0) {
        branch += 11;
        len -= 11;
    }
    token = branch_token(a, branch, len);
    if (token == NULL || token[0] == '\0' || is_default_branch(token))
        return n;
    token_len = strlen(token);

    for (const char *sep = "-_"; *sep != '\0'; sep++) {
        size_t suffix_len = token_len + 1;
        size_t base;
        if (n < suffix_len || name[n - suffix_len] != *sep ||
            strncasecmp(name + n - token_len, token, token_len) != 0)
            continue;
        base = n - suffix_len;
        while (base > 0 && (name[base - 1] == '-' || name[base - 1] == '_'))
            base--;
        if (base > 0)
            return base;
    }
    return n;
}

/* ---- the cwd rule ----------------------------------------------------------------- */

static bool looks_like_windows_path(const char *cwd)
{
    if (strlen(cwd) >= 3 && cwd[1] == ':' && cwd[2] == '\\' && isalpha((unsigned char)cwd[0]))
        return true;
    return strncmp(cwd, "\\\\", 2) == 0;
}

char *claude_project_from_cwd(pd_arena *a, const char *cwd, const char *git_branch)
{
    bool windows;
    char *norm, *cleaned, *root;
    const char *project, *base;
    size_t len;

    if (cwd == NULL || cwd[0] == '\0')
        return pd_arena_strdup(a, "");
    windows = looks_like_windows_path(cwd);
    norm = pd_arena_strdup(a, cwd);
    if (norm == NULL)
        return NULL;
    if (windows) {
        for (char *p = norm; *p != '\0'; p++) {
            if (*p == '\\')
                *p = '/';
        }
    }
    cleaned = pd_path_clean(a, norm, strlen(norm));
    if (cleaned == NULL)
        return NULL;

    project = project_from_layouts(cleaned, tool_layouts,
                                   sizeof tool_layouts / sizeof tool_layouts[0], &len);
    if (project != NULL)
        return normalized_copy(a, project, len);

    /* Only a path of this machine's kind can be probed for a repository. */
    if (!windows && cleaned[0] == '/') {
        root = find_git_root(a, cleaned);
        if (root != NULL) {
            base = base_of(root, &len);
            if (invalid_base(base, len))
                return pd_arena_strdup(a, "");
            return normalized_copy(a, base, len);
        }
    }

    project = project_from_layouts(cleaned, hosting_layouts,
                                   sizeof hosting_layouts / sizeof hosting_layouts[0], &len);
    if (project != NULL)
        return normalized_copy(a, project, len);

    base = base_of(cleaned, &len);
    if (invalid_base(base, len) || (len == 1 && base[0] == '/'))
        return pd_arena_strdup(a, "");
    len = trim_branch_suffix(a, base, len, git_branch);
    if (invalid_base(base, len))
        return pd_arena_strdup(a, "");
    return normalized_copy(a, base, len);
}
