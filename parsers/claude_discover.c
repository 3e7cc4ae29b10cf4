/*
 * claude_discover.c -- finding Claude Code transcripts under a projects root.
 *
 * Entry point: claude_discover(), the provider's discover callback, called
 * on the main (or discovery) thread.
 *
 * Layout, with .jsonl.zst accepted wherever .jsonl is:
 *   <root>/<project>/<session>.jsonl                  main transcripts, except
 *                                                     stems starting "agent-"
 *   <root>/<project>/<dir>/subagents/.../agent-*.jsonl subagent transcripts at any
 *                                                     depth below subagents/
 * Sources are emitted in byte-wise sorted path order with the project
 * directory name as project_hint. A missing root yields no sources.
 * Symbolic links to directories are followed for project directories and
 * not followed below subagents/, which bounds the walk together with
 * MAX_SUBAGENT_DEPTH.
 *
 * Thread-safety: no shared state.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/error.h"
#include "common/log.h"
#include "parsers/claude_internal.h"
#include "parsers/jsonl.h"

/* Directory levels walked below a subagents/ directory. */
#define MAX_SUBAGENT_DEPTH 32

typedef struct found {
    char *path;
    char *project;
    int list_errno; /* nonzero: path is a project directory that could not be listed */
} found;

typedef struct found_list {
    pd_arena *arena;
    found *items;
    size_t n;
    size_t cap;
} found_list;

static int add_found(found_list *l, char *path, char *project)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        found *grown = pd_arena_grow(l->arena, l->items, l->n, cap, sizeof *grown);
        if (grown == NULL)
            return PD_ENOMEM;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = (found){.path = path, .project = project, .list_errno = 0};
    return PD_OK;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n > k && strcmp(s + n - k, suffix) == 0;
}

static bool is_transcript_name(const char *name)
{
    return has_suffix(name, ".jsonl") || has_suffix(name, ".jsonl.zst");
}

static bool is_subagent_name(const char *name)
{
    return strncmp(name, "agent-", 6) == 0 && is_transcript_name(name);
}

/*
 * Records dir, which opendir() just failed on with errno, for the receiver
 * to report. A directory removed since its parent was listed, or a path
 * that is no directory, contains nothing to miss.
 */
static int note_unlistable(found_list *l, char *dir, char *project)
{
    int errnum = errno;
    if (errnum == ENOENT || errnum == ENOTDIR)
        return PD_OK;
    int rc = add_found(l, dir, project);
    if (rc == PD_OK)
        l->items[l->n - 1].list_errno = errnum;
    return rc;
}

/* Walks a subagents/ tree without following directory links. */
static int walk_subagents(found_list *l, char *dir, char *project, int depth)
{
    DIR *d;
    struct dirent *ent;
    int rc = PD_OK;

    if (depth > MAX_SUBAGENT_DEPTH)
        return PD_OK;
    d = opendir(dir);
    if (d == NULL)
        return note_unlistable(l, dir, project);
    while (rc == PD_OK && (ent = readdir(d)) != NULL) {
        struct stat st;
        char *path;

        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        path = pd_arena_sprintf(l->arena, "%s/%s", dir, ent->d_name);
        if (path == NULL) {
            rc = PD_ENOMEM;
            break;
        }
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = walk_subagents(l, path, project, depth + 1);
            continue;
        }
        if (!is_subagent_name(ent->d_name))
            continue;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_found(l, path, project);
        else
            pd_source_warn_not_file(path);
    }
    closedir(d);
    return rc;
}

static int walk_project(found_list *l, char *project_dir, char *project)
{
    DIR *d = opendir(project_dir);
    struct dirent *ent;
    int rc = PD_OK;

    if (d == NULL)
        return note_unlistable(l, project_dir, project);
    while (rc == PD_OK && (ent = readdir(d)) != NULL) {
        struct stat st;
        char *path;

        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        path = pd_arena_sprintf(l->arena, "%s/%s", project_dir, ent->d_name);
        if (path == NULL) {
            rc = PD_ENOMEM;
            break;
        }
        pd_entry_kind kind = pd_source_entry_kind(ent->d_type, path);
        bool transcript = is_transcript_name(ent->d_name) && strncmp(ent->d_name, "agent-", 6) != 0;
        if (kind == PD_ENTRY_FILE) {
            if (transcript)
                rc = add_found(l, path, project);
            continue;
        }
        if (transcript)
            pd_source_warn_not_file(path);
        if (kind == PD_ENTRY_DIR) {
            char *subagents = pd_arena_sprintf(l->arena, "%s/subagents", path);
            if (subagents == NULL) {
                rc = PD_ENOMEM;
                break;
            }
            if (lstat(subagents, &st) == 0 && S_ISDIR(st.st_mode))
                rc = walk_subagents(l, subagents, project, 0);
        }
    }
    closedir(d);
    return rc;
}

static int compare_found(const void *a, const void *b)
{
    return strcmp(((const found *)a)->path, ((const found *)b)->path);
}

/* Walks one project directory and emits its transcripts in path order. */
static int emit_project(const char *root, const char *project, pd_discover_fn emit, void *ctx)
{
    /* A scratch arena per project bounds discovery's memory by the largest project. */
    pd_arena *scratch = pd_arena_new();
    if (scratch == NULL)
        return PD_ENOMEM;
    found_list l = {.arena = scratch};
    char *dir = pd_arena_sprintf(scratch, "%s/%s", root, project);
    char *hint = pd_arena_strdup(scratch, project);
    int rc = dir != NULL && hint != NULL ? walk_project(&l, dir, hint) : PD_ENOMEM;

    if (rc == PD_OK && l.n > 1)
        qsort(l.items, l.n, sizeof *l.items, compare_found);
    for (size_t i = 0; i < l.n && rc == PD_OK; i++) {
        pd_source src = {
            .path = l.items[i].path,
            .agent = "claude",
            .root = root,
            .project_hint = l.items[i].project,
            .dedupe_key = NULL,
            .is_dated = false,
            .list_errno = l.items[i].list_errno,
        };
        rc = emit(ctx, &src);
    }
    pd_arena_free(scratch);
    return rc;
}

int claude_discover(const char *root, pd_arena *arena, pd_discover_fn emit, void *ctx, pd_err *err)
{
    if (root == NULL || root[0] == '\0')
        return PD_OK;
    /* The copy outlives discovery in the caller's arena, because sources name it as their root. */
    char *root_copy = pd_arena_strdup(arena, root);
    if (root_copy == NULL)
        return pd_err_set(err, PD_ENOMEM, "%s: listing Claude projects failed: out of memory",
                          root);
    /* Paths are joined with '/', so a trailing slash on the root would double it. */
    for (size_t n = strlen(root_copy); n > 1 && root_copy[n - 1] == '/'; n--)
        root_copy[n - 1] = '\0';

    pd_dir_entry *projects;
    size_t n_projects;
    int rc = pd_dir_list(root_copy, NULL, NULL, &projects, &n_projects);
    if (rc == PD_EIO) {
        if (errno == ENOENT || errno == ENOTDIR)
            return PD_OK;
        return pd_err_set(err, PD_EIO, "%s: cannot list the Claude projects root: %s", root_copy,
                          strerror(errno));
    }
    if (rc != PD_OK)
        return pd_err_set(err, rc, "%s: listing Claude projects failed: %s", root_copy,
                          pd_strerror(rc));

    /* Projects come in path order, so their sources do too. */
    for (size_t i = 0; i < n_projects && rc == PD_OK; i++) {
        if (projects[i].kind == PD_ENTRY_DIR)
            rc = emit_project(root_copy, projects[i].name, emit, ctx);
    }
    pd_dir_list_free(projects, n_projects);
    if (rc == PD_ENOMEM)
        return pd_err_set(err, rc, "%s: listing Claude projects failed: %s", root_copy,
                          pd_strerror(rc));
    return rc;
}
