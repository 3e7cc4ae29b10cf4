/*
 * fuzz_support.c -- see fuzz_support.h.
 */
#include "fuzz/fuzz_support.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/normalize.h"

static char run_dir[512];

void fz_check(int cond, const char *expr, const char *file, int line)
{
    if (cond)
        return;
    fprintf(stderr, "%s:%d: contract violated: %s\n", file, line, expr);
    abort();
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_run_dir(void)
{
    if (run_dir[0] != '\0')
        nftw(run_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_make_run_dir(const char *name)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(run_dir, sizeof run_dir, "%s/pd-%s.XXXXXX", tmp != NULL ? tmp : "/tmp", name);
    if (mkdtemp(run_dir) == NULL) {
        fprintf(stderr, "creating a directory from the template %s failed: %s\n", run_dir,
                strerror(errno));
        abort();
    }
    atexit(remove_run_dir);
    return run_dir;
}

void fz_write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    if (f == NULL) {
        fprintf(stderr, "creating %s failed: %s\n", path, strerror(errno));
        abort();
    }
    if (n > 0 && fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "writing %s failed\n", path);
        abort();
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "closing %s failed: %s\n", path, strerror(errno));
        abort();
    }
}

void fz_make_dirs(const char *path)
{
    char buf[1024];

    snprintf(buf, sizeof buf, "%s/", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "creating %s failed: %s\n", buf, strerror(errno));
            abort();
        }
        *p = '/';
    }
}

void fz_source_from_bytes(const uint8_t *data, size_t n, pd_source_buf *out)
{
    memset(out, 0, sizeof *out);
    /* malloc(0) may return NULL; one byte keeps data non-NULL as pd_source_read does. */
    out->data = malloc(n > 0 ? n : 1);
    if (out->data == NULL)
        abort();
    if (n > 0)
        memcpy(out->data, data, n);
    out->len = n;
    out->file_size = (int64_t)n;
    out->mtime_ns = 1767225600LL * 1000000000LL; /* 2026-01-01T00:00:00Z */
    out->inode = 1;
    out->device = 1;
}

size_t fz_split_offset(const uint8_t *data, size_t n, size_t *file_len)
{
    size_t selector;

    if (n < 3) {
        *file_len = n;
        return 0;
    }
    *file_len = n - 2;
    selector = (size_t)data[n - 2] | ((size_t)data[n - 1] << 8);
    return selector % (*file_len + 1);
}

/* One parser for the whole run, as a worker thread keeps one across jobs. */
static pd_json_parser *run_parser;

static void check_session(const pd_session *s)
{
    FZ_CHECK(s->id != NULL);
    FZ_CHECK(s->message_count >= 0);
    for (size_t i = 0; i < s->n_messages; i++) {
        const pd_message *m = &s->messages[i];
        FZ_CHECK(m->role != NULL);
        FZ_CHECK(m->content != NULL);
        FZ_CHECK(m->content_length >= 0);
        FZ_CHECK(m->n_tool_calls == 0 || m->tool_calls != NULL);
    }
}

int fz_parse_and_check(const pd_provider *provider, void *shared, const char *path,
                       const char *root, const pd_source_buf *src, const pd_incr_state *incr)
{
    pd_parse_request req;
    pd_parse_result res;
    pd_err err = {0};
    pd_arena *arena = pd_arena_new();
    int rc;

    if (run_parser == NULL)
        run_parser = pd_json_parser_new();
    if (arena == NULL || run_parser == NULL)
        abort();

    memset(&req, 0, sizeof req);
    req.path = path;
    req.root = root;
    req.machine = "fuzz";
    req.src = src;
    req.incr = incr;
    req.shared = shared;
    req.json = run_parser;
    req.arena = arena;
    rc = provider->parse(&req, &res, &err);

    if (rc == PD_OK) {
        FZ_CHECK(res.consumed >= 0);
        FZ_CHECK(res.consumed <= (int64_t)src->len);
        FZ_CHECK(res.malformed_lines >= 0);
        FZ_CHECK(res.n_sessions == 0 || res.sessions != NULL);
        /* An incremental parse returns exactly one session. */
        if (incr != NULL)
            FZ_CHECK(res.n_sessions == 1);
        for (size_t i = 0; i < res.n_sessions; i++) {
            check_session(&res.sessions[i]);
            FZ_CHECK(pd_session_normalize(&res.sessions[i], NULL, arena) == PD_OK);
        }
    } else {
        /* A failed parse names the file in its message. */
        FZ_CHECK(err.code == rc);
        FZ_CHECK(strstr(err.msg, path) != NULL || strlen(err.msg) + 1 >= sizeof err.msg);
    }

    pd_arena_free(arena);
    return rc;
}
