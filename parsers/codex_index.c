/*
 * codex_index.c -- Codex run state: thread titles, rollout lookup, discovery walk.
 *
 * Codex keeps user-renameable thread titles in one append-only file,
 * session_index.jsonl, beside the "sessions" (or "archived_sessions")
 * directory: rows {"id": <session uuid>, "thread_name": <title>, ...}, the
 * last row of an id winning. Full parses take session_name from it and fold
 * its mtime into file_mtime, so a rename alone makes a stored row stale.
 *
 * The replay gate needs the transcript of a fork's or subagent's parent,
 * located by session UUID under the same roots. The first such lookup maps
 * every rollout's UUID to its path. The dated copy wins over the flat
 * archived one, then the lexically smaller path.
 *
 * Entry points, in call order:
 *   pd_codex_shared_open     main thread, once per run (provider open_shared)
 *   pd_codex_walk_root       any thread; used by discovery and the rollout map
 *   pd_codex_index_for_path, pd_codex_index_lookup, pd_codex_rollout_path,
 *   pd_codex_effective_mtime, pd_codex_index_title, pd_codex_index_mtime
 *                            any thread, concurrently
 *   pd_codex_shared_close    once, after every parse returned
 *
 * Threading: the shared state is written inside pd_codex_shared_open, and
 * the rollout map once more under its own lock by the first
 * pd_codex_rollout_path. Everything else only reads.
 */
#include "parsers/codex.h"
#include "parsers/codex_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/text.h"
#include "parsers/jsonl.h"

#define INDEX_FILE_NAME "session_index.jsonl"

/* ---- names and paths -------------------------------------------------------- */

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_uuid(const char *s)
{
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

/* Length of name without ".jsonl" or ".jsonl.zst", or 0 when it has neither. */
static size_t rollout_stem_len(const char *name, size_t n)
{
    if (n > 10 && memcmp(name + n - 10, ".jsonl.zst", 10) == 0)
        return n - 10;
    if (n > 6 && memcmp(name + n - 6, ".jsonl", 6) == 0)
        return n - 6;
    return 0;
}

static bool is_rollout_name(const char *name)
{
    size_t n = strlen(name);
    return n > 8 && memcmp(name, "rollout-", 8) == 0 && rollout_stem_len(name, n) > 0;
}

/*
 * The stem must read "rollout-<anything>-<uuid>": the dash before the UUID
 * cannot be the one of the "rollout-" prefix.
 */
bool pd_codex_uuid_from_name(const char *name, size_t n, char out[37])
{
    size_t stem = rollout_stem_len(name, n);

    if (stem == 0)
        stem = n;
    if (stem < 8 + 1 + 36 || memcmp(name, "rollout-", 8) != 0)
        return false;
    if (name[stem - 37] != '-' || !is_uuid(name + stem - 36))
        return false;
    memcpy(out, name + stem - 36, 36);
    out[36] = '\0';
    return true;
}

bool pd_codex_uuid_from_path(const char *path, char out[37])
{
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;

    return pd_codex_uuid_from_name(name, strlen(name), out);
}

/* Length of path without trailing slashes (a lone "/" keeps its slash). */
static size_t trimmed_len(const char *path, size_t n)
{
    while (n > 1 && path[n - 1] == '/')
        n--;
    return n;
}

/*
 * Finds the index file for a directory: the directory itself or its first
 * ancestor named "sessions" or "archived_sessions", then session_index.jsonl
 * in that directory's parent. Returns a malloc'd path or NULL.
 */
static char *index_path_for_dir(const char *dir, size_t n)
{
    n = trimmed_len(dir, n);
    while (n > 0) {
        size_t start = n;
        while (start > 0 && dir[start - 1] != '/')
            start--;
        const char *base = dir + start;
        size_t base_n = n - start;

        if (pd_codex_eq(base, base_n, "sessions") || pd_codex_eq(base, base_n, "archived_sessions")) {
            size_t parent = trimmed_len(dir, start);
            char *out = malloc(parent + sizeof INDEX_FILE_NAME + 2);
            if (out == NULL)
                return NULL;
            if (start == 0) {
                memcpy(out, INDEX_FILE_NAME, sizeof INDEX_FILE_NAME);
            } else if (parent == 1 && dir[0] == '/') {
                memcpy(out, "/" INDEX_FILE_NAME, sizeof INDEX_FILE_NAME + 1);
            } else {
                memcpy(out, dir, parent);
                out[parent] = '/';
                memcpy(out + parent + 1, INDEX_FILE_NAME, sizeof INDEX_FILE_NAME);
            }
            return out;
        }
        if (start == 0)
            break;
        n = trimmed_len(dir, start);
        if (n == 1 && dir[0] == '/')
            break;
    }
    return NULL;
}

/* ---- discovery walk ------------------------------------------------------------ */

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

static char *join(const char *dir, const char *name)
{
    size_t dn = trimmed_len(dir, strlen(dir));
    size_t nn = strlen(name);
    bool slash = !(dn == 1 && dir[0] == '/');
    char *out = malloc(dn + nn + 2);

    if (out == NULL)
        return NULL;
    memcpy(out, dir, dn);
    if (slash)
        out[dn++] = '/';
    memcpy(out + dn, name, nn + 1);
    return out;
}

/* Returns whether the walk keeps an entry: rollout files at depths 0 and 3, digit
 * directories at depths 0 to 2. */
static bool walk_keeps(const char *name, bool is_file, int depth)
{
    if (is_file)
        return (depth == 0 || depth == 3) && is_rollout_name(name);
    return depth < 3 && all_digits(name);
}

/* The pd_dir_list filter, before the entry's kind is known: either rule may apply. */
static bool keep_walk_entry(const char *name, void *ctx)
{
    int depth = *(const int *)ctx;
    return walk_keeps(name, true, depth) || walk_keeps(name, false, depth);
}

/* The callbacks of one walk. */
typedef struct walker {
    pd_codex_visit_fn visit;
    pd_codex_unlistable_fn unlistable;
    bool warn_not_files;
    void *ctx;
} walker;

/*
 * Visits the rollout files below dir in path order, one directory listing
 * at a time. Depth 0 is the root, with flat archived files and year
 * directories. Depths 1 and 2 are month and day directories, and dated
 * files are taken at depth 3.
 */
static int walk_dir(const char *dir, int depth, const walker *w)
{
    pd_dir_entry *entries;
    size_t n;
    int rc = pd_dir_list(dir, keep_walk_entry, &depth, &entries, &n);

    if (rc == PD_EIO) {
        int errnum = errno;
        if (errnum == ENOENT || errnum == ENOTDIR)
            return PD_OK;
        if (w->unlistable != NULL)
            return w->unlistable(w->ctx, dir, errnum);
        PD_LOG(PD_LOG_WARN, "%s: cannot list Codex sessions directory: %s", dir, strerror(errnum));
        return PD_OK;
    }
    if (rc != PD_OK)
        return rc;

    for (size_t i = 0; i < n && rc == PD_OK; i++) {
        const char *name = entries[i].name;
        bool is_file = entries[i].kind == PD_ENTRY_FILE;
        bool rollout_here = walk_keeps(name, true, depth);
        bool walk = is_file ? rollout_here
                            : entries[i].kind == PD_ENTRY_DIR && walk_keeps(name, false, depth);
        /* A rollout's name on an entry that is not a regular file is reported, not passed over. */
        bool not_file = !is_file && !walk && rollout_here;
        if (!walk && !not_file)
            continue;
        char *path = join(dir, name);
        if (path == NULL) {
            rc = PD_ENOMEM;
            break;
        }
        if (!not_file)
            rc = is_file ? w->visit(w->ctx, path, depth == 3) : walk_dir(path, depth + 1, w);
        else if (w->warn_not_files)
            pd_source_warn_not_file(path);
        free(path);
    }
    pd_dir_list_free(entries, n);
    return rc;
}

int pd_codex_walk_root(const char *root, pd_codex_visit_fn visit, pd_codex_unlistable_fn unlistable,
                       bool warn_not_files, void *ctx, pd_err *err)
{
    const walker w = {
        .visit = visit, .unlistable = unlistable, .warn_not_files = warn_not_files, .ctx = ctx};
    int rc = walk_dir(root, 0, &w);

    if (rc == PD_ENOMEM)
        pd_err_set(err, rc, "%s: listing Codex rollouts failed: %s", root, pd_strerror(rc));
    return rc;
}

/* ---- loading ---------------------------------------------------------------------- */

static int load_index(pd_codex_index *ix, pd_json_parser *parser, pd_arena *a)
{
    struct stat st;
    pd_source_buf buf = {0};
    pd_err read_err = {0};

    pd_codex_map_init(&ix->titles, a);
    if (stat(ix->path, &st) != 0 || !S_ISREG(st.st_mode))
        return PD_OK; /* a missing index carries no titles */
    ix->exists = true;
    ix->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;

    int rc = pd_source_read(ix->path, -1, &buf, &read_err);
    if (rc == PD_ENOMEM)
        return rc;
    if (rc != PD_OK) {
        PD_LOG(PD_LOG_WARN, "%s", read_err.msg);
        ix->read_failed = true;
        return PD_OK;
    }

    pd_jsonl_reader reader;
    pd_jsonl_line line;
    pd_jsonl_init(&reader, buf.data, buf.len, 0);
    while (pd_jsonl_next(&reader, &line)) {
        pd_json root;
        rc = pd_json_parse(parser, line.data, line.len, &root);
        if (rc == PD_ENOMEM)
            break;
        rc = PD_OK;
        if (pd_json_type_of(root) != PD_JSON_OBJECT)
            continue;

        const char *id, *title;
        size_t id_n, title_n;
        if (!pd_json_str(pd_json_get(root, "id"), &id, &id_n) || id_n == 0)
            continue;
        if (!pd_json_str(pd_json_get(root, "thread_name"), &title, &title_n))
            continue;

        /* Later rows replace earlier ones, and a blank title is kept as "". */
        pd_codex_trim(&title, &title_n);
        char *clean = pd_codex_clean(a, title, title_n);
        char *clean_id = pd_codex_clean(a, id, id_n);
        if (clean == NULL || clean_id == NULL) {
            rc = PD_ENOMEM;
            break;
        }
        rc = pd_codex_map_put(&ix->titles, clean_id, strlen(clean_id), clean);
        if (rc != PD_OK)
            break;
    }
    pd_source_buf_free(&buf);
    return rc;
}

/*
 * NOTE: indexes are found from the roots only. A transcript whose own
 * sessions ancestor differs from its root's (a root above "sessions") gets
 * no title and no index mtime.
 */
static int add_index_for_root(pd_codex_shared *sh, const char *root, pd_json_parser *parser,
                              size_t *cap)
{
    char *path = index_path_for_dir(root, strlen(root));
    int rc = PD_OK;

    if (path == NULL)
        return PD_OK; /* without a sessions ancestor this root has no index */
    for (size_t i = 0; i < sh->n_indexes; i++) {
        if (strcmp(sh->indexes[i].path, path) == 0)
            goto out;
    }
    if (sh->n_indexes == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 4;
        pd_codex_index *grown =
            pd_arena_grow(sh->arena, sh->indexes, *cap, new_cap, sizeof *grown);
        if (grown == NULL) {
            rc = PD_ENOMEM;
            goto out;
        }
        sh->indexes = grown;
        *cap = new_cap;
    }

    pd_codex_index *ix = &sh->indexes[sh->n_indexes];
    memset(ix, 0, sizeof *ix);
    ix->path = pd_arena_strdup(sh->arena, path);
    if (ix->path == NULL) {
        rc = PD_ENOMEM;
        goto out;
    }
    rc = load_index(ix, parser, sh->arena);
    if (rc == PD_OK)
        sh->n_indexes++;

out:
    free(path);
    return rc;
}

static int remember_rollout(void *ctx, const char *path, bool is_dated)
{
    pd_codex_rollout_map *rm = ctx;
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    char uuid[37];
    void *found;

    if (!pd_codex_uuid_from_name(name, strlen(name), uuid))
        return PD_OK;
    if (pd_codex_map_get(&rm->map, uuid, 36, &found)) {
        const pd_codex_rollout *cur = found;
        bool better = is_dated != cur->is_dated ? is_dated : strcmp(path, cur->path) < 0;
        if (!better)
            return PD_OK;
    }

    pd_codex_rollout *r = pd_arena_alloc(rm->arena, sizeof *r);
    if (r == NULL)
        return PD_ENOMEM;
    r->path = pd_arena_strdup(rm->arena, path);
    r->is_dated = is_dated;
    if (r->path == NULL)
        return PD_ENOMEM;
    return pd_codex_map_put(&rm->map, uuid, 36, r);
}

/* Creates the unbuilt rollout map for roots; NULL when memory runs out. */
static pd_codex_rollout_map *rollout_map_new(const char *const *roots, size_t n_roots)
{
    pd_arena *arena = pd_arena_new();
    pd_codex_rollout_map *rm = arena != NULL ? pd_arena_calloc(arena, 1, sizeof *rm) : NULL;
    const char **copies = rm != NULL ? pd_arena_calloc(arena, n_roots + 1, sizeof *copies) : NULL;

    if (copies == NULL || pthread_mutex_init(&rm->lock, NULL) != 0) {
        pd_arena_free(arena);
        return NULL;
    }
    for (size_t i = 0; i < n_roots; i++) {
        copies[i] = pd_arena_strdup(arena, roots[i]);
        if (copies[i] == NULL) {
            pthread_mutex_destroy(&rm->lock);
            pd_arena_free(arena);
            return NULL;
        }
    }
    rm->arena = arena;
    rm->roots = copies;
    rm->n_roots = n_roots;
    atomic_init(&rm->ready, false);
    pd_codex_map_init(&rm->map, arena);
    return rm;
}

static void rollout_map_free(pd_codex_rollout_map *rm)
{
    if (rm == NULL)
        return;
    pthread_mutex_destroy(&rm->lock);
    pd_arena_free(rm->arena);
}

/*
 * Builds the map on the first call; later calls only read it. A walk that
 * runs out of memory leaves a partial map, logged, whose missing parents
 * read as not found.
 */
static void rollout_map_build(pd_codex_rollout_map *rm)
{
    if (atomic_load_explicit(&rm->ready, memory_order_acquire))
        return;
    pthread_mutex_lock(&rm->lock);
    if (!atomic_load_explicit(&rm->ready, memory_order_relaxed)) {
        for (size_t i = 0; i < rm->n_roots; i++) {
            pd_err err = {0};
            if (pd_codex_walk_root(rm->roots[i], remember_rollout, NULL, false, rm, &err) != PD_OK)
                PD_LOG(PD_LOG_ERROR, "%s; fork and subagent parents under it may not be found",
                       err.msg);
        }
        atomic_store_explicit(&rm->ready, true, memory_order_release);
    }
    pthread_mutex_unlock(&rm->lock);
}

int pd_codex_shared_open(const char *const *roots, size_t n_roots, void **shared, pd_err *err)
{
    pd_arena *arena = pd_arena_new();
    pd_json_parser *parser = pd_json_parser_new();
    pd_codex_shared *sh = NULL;
    size_t cap = 0;
    int rc = PD_OK;

    *shared = NULL;
    if (arena == NULL || parser == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "codex: out of memory building the shared state");
        goto out;
    }
    sh = pd_arena_calloc(arena, 1, sizeof *sh);
    if (sh == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "codex: out of memory building the shared state");
        goto out;
    }
    sh->arena = arena;
    sh->rollouts = rollout_map_new(roots, n_roots);
    if (sh->rollouts == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "codex: out of memory building the shared state");
        goto out;
    }

    for (size_t i = 0; i < n_roots; i++) {
        rc = add_index_for_root(sh, roots[i], parser, &cap);
        if (rc != PD_OK) {
            pd_err_set(err, rc, "%s: loading the Codex title index failed: %s", roots[i],
                       pd_strerror(rc));
            goto out;
        }
    }
    *shared = sh;

out:
    pd_json_parser_free(parser);
    if (rc != PD_OK) {
        if (sh != NULL)
            rollout_map_free(sh->rollouts);
        pd_arena_free(arena);
    }
    return rc;
}

void pd_codex_shared_close(void *shared)
{
    pd_codex_shared *sh = shared;

    if (sh != NULL) {
        rollout_map_free(sh->rollouts);
        pd_arena_free(sh->arena);
    }
}

/* ---- lookups ------------------------------------------------------------------------ */

const pd_codex_index *pd_codex_index_for_path(const pd_codex_shared *sh, const char *path)
{
    if (sh == NULL || sh->n_indexes == 0)
        return NULL;

    const char *slash = strrchr(path, '/');
    char *ix_path = slash != NULL ? index_path_for_dir(path, (size_t)(slash - path)) : NULL;
    const pd_codex_index *found = NULL;

    if (ix_path == NULL)
        return NULL;
    for (size_t i = 0; i < sh->n_indexes; i++) {
        if (strcmp(sh->indexes[i].path, ix_path) == 0) {
            found = &sh->indexes[i];
            break;
        }
    }
    free(ix_path);
    return found;
}

bool pd_codex_index_lookup(const pd_codex_index *ix, const char *id, size_t n, const char **title)
{
    void *value;

    if (ix == NULL || !pd_codex_map_get(&ix->titles, id, n, &value))
        return false;
    *title = value;
    return true;
}

const char *pd_codex_rollout_path(const pd_codex_shared *sh, const char *uuid, size_t n)
{
    void *value;

    if (sh == NULL || sh->rollouts == NULL)
        return NULL;
    rollout_map_build(sh->rollouts);
    if (!pd_codex_map_get(&sh->rollouts->map, uuid, n, &value))
        return NULL;
    return ((const pd_codex_rollout *)value)->path;
}

int64_t pd_codex_effective_mtime(void *shared, const char *path, int64_t transcript_mtime_ns)
{
    const pd_codex_index *ix = pd_codex_index_for_path(shared, path);

    if (ix != NULL && ix->exists && ix->mtime_ns > transcript_mtime_ns)
        return ix->mtime_ns;
    return transcript_mtime_ns;
}

int pd_codex_index_title(void *shared, const char *uuid, const char **title, bool *present)
{
    const pd_codex_shared *sh = shared;
    bool unreadable = false;

    *title = NULL;
    *present = false;
    if (sh == NULL || uuid == NULL)
        return PD_OK;
    for (size_t i = 0; i < sh->n_indexes; i++) {
        if (pd_codex_index_lookup(&sh->indexes[i], uuid, strlen(uuid), title)) {
            *present = true;
            return PD_OK;
        }
        unreadable = unreadable || sh->indexes[i].read_failed;
    }
    return unreadable ? PD_EIO : PD_OK;
}

int64_t pd_codex_index_mtime(void *shared)
{
    const pd_codex_shared *sh = shared;
    int64_t max = 0;

    for (size_t i = 0; sh != NULL && i < sh->n_indexes; i++) {
        if (sh->indexes[i].exists && sh->indexes[i].mtime_ns > max)
            max = sh->indexes[i].mtime_ns;
    }
    return max;
}
