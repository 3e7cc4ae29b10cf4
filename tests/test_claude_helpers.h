/*
 * test_claude_helpers.h -- helpers shared by the Claude parser tests:
 * temporary directory layouts on disk and a wrapper that reads a file and
 * runs pd_provider_claude.parse on it.
 *
 * Every helper is static inline so a test file that uses only some of them
 * compiles without unused-function warnings. Failures inside helpers fail
 * the calling test through cmocka's fail_msg().
 */
#ifndef PD_TEST_CLAUDE_HELPERS_H
#define PD_TEST_CLAUDE_HELPERS_H

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "common/model.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

/* Creates a fresh temporary directory and returns its malloc'd path. */
static inline char *ct_make_temp_dir(void)
{
    char template_path[] = "/tmp/pd-claude-XXXXXX";
    char *dir = mkdtemp(template_path);

    if (dir == NULL)
        fail_msg("mkdtemp failed: %s", strerror(errno));
    return strdup(dir);
}

static inline int ct_remove_entry(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory tree created by a test. */
static inline void ct_remove_tree(char *dir)
{
    if (dir == NULL)
        return;
    nftw(dir, ct_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Creates every missing directory of path's parent. */
static inline void ct_make_parents(const char *path)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            fail_msg("mkdir %s failed: %s", buf, strerror(errno));
        *p = '/';
    }
}

/* Writes n bytes to path, creating parent directories. mode is "w" or "a". */
static inline void ct_write_bytes(const char *path, const char *data, size_t n, const char *mode)
{
    FILE *f;

    ct_make_parents(path);
    f = fopen(path, mode);
    if (f == NULL)
        fail_msg("fopen %s failed: %s", path, strerror(errno));
    if (n > 0 && fwrite(data, 1, n, f) != n)
        fail_msg("writing %s failed", path);
    fclose(f);
}

static inline void ct_write(const char *path, const char *text)
{
    ct_write_bytes(path, text, strlen(text), "w");
}

static inline void ct_append(const char *path, const char *text)
{
    ct_write_bytes(path, text, strlen(text), "a");
}

/* Returns a malloc'd "<dir>/<name>". */
static inline char *ct_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *out = malloc(n);

    if (out == NULL) {
        fail_msg("out of memory");
        return NULL; /* not reached; fail_msg is not marked noreturn */
    }
    snprintf(out, n, "%s/%s", dir, name);
    return out;
}

/* Reads a file under tests/fixtures/claude into a malloc'd NUL-terminated string. */
static inline char *ct_read_fixture(const char *name)
{
    const char *source_dir = getenv("PD_SOURCE_DIR");
    char path[PATH_MAX];
    FILE *f;
    long size;
    char *text;

    if (source_dir == NULL)
        fail_msg("PD_SOURCE_DIR is not set; run the test through ctest");
    snprintf(path, sizeof path, "%s/tests/fixtures/claude/%s", source_dir, name);
    f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("fixture %s not found: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size)
        fail_msg("reading fixture %s failed", path);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* Copies a fixture to <dir>/<relative path> and returns the malloc'd destination. */
static inline char *ct_install_fixture(const char *dir, const char *fixture, const char *relative)
{
    char *text = ct_read_fixture(fixture);
    char *path = ct_join(dir, relative);

    ct_write(path, text);
    free(text);
    return path;
}

/* One parse: the arena, parser and source buffer that the result points into. */
typedef struct ct_parse {
    pd_arena *arena;
    pd_json_parser *json;
    pd_source_buf src;
    pd_parse_result res;
    pd_err err;
    int rc;
} ct_parse;

/*
 * Reads path and parses it with project_hint (may be NULL) and incr (NULL for
 * a full parse). Returns the parse's error code. A read failure fails the test.
 */
static inline int ct_parse_file(ct_parse *p, const char *path, const char *project_hint,
                                const pd_incr_state *incr)
{
    pd_parse_request req;
    pd_err read_err = {0};

    memset(p, 0, sizeof *p);
    p->arena = pd_arena_new();
    p->json = pd_json_parser_new();
    if (p->arena == NULL || p->json == NULL)
        fail_msg("out of memory");
    if (pd_source_read(path, -1, &p->src, &read_err) != PD_OK)
        fail_msg("reading %s failed: %s", path, read_err.msg);
    memset(&req, 0, sizeof req);
    req.path = path;
    req.root = "";
    req.machine = "test-machine";
    req.project_hint = project_hint;
    req.src = &p->src;
    req.incr = incr;
    req.json = p->json;
    req.arena = p->arena;
    p->rc = pd_provider_claude.parse(&req, &p->res, &p->err);
    return p->rc;
}

static inline void ct_parse_free(ct_parse *p)
{
    pd_source_buf_free(&p->src);
    pd_json_parser_free(p->json);
    pd_arena_free(p->arena);
    memset(p, 0, sizeof *p);
}

/* Returns the session with the given id, or NULL. */
static inline const pd_session *ct_find_session(const ct_parse *p, const char *id)
{
    for (size_t i = 0; i < p->res.n_sessions; i++) {
        if (strcmp(p->res.sessions[i].id, id) == 0)
            return &p->res.sessions[i];
    }
    return NULL;
}

/* Returns a malloc'd copy of text with every ' turned into ", so tests can write JSON without
 * escapes. */
static inline char *ct_unquote(const char *text)
{
    char *copy = strdup(text);

    if (copy == NULL)
        fail_msg("out of memory");
    for (char *p = copy; *p != '\0'; p++) {
        if (*p == '\'')
            *p = '"';
    }
    return copy;
}

/* Appends one line (with ' for ") and, when terminate is set, a newline. */
static inline void ct_append_line(const char *path, const char *line, bool terminate)
{
    char *json = ct_unquote(line);

    ct_append(path, json);
    if (terminate)
        ct_append(path, "\n");
    free(json);
}

/* Writes a JSONL file from NULL-terminated lines written with ' for ", each ending in '\n'. */
static inline void ct_write_lines(const char *path, const char *const *lines)
{
    ct_write(path, "");
    for (size_t i = 0; lines[i] != NULL; i++)
        ct_append_line(path, lines[i], true);
}

#endif
