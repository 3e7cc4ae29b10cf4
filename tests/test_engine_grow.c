/*
 * test_engine_grow.c -- the append path on real transcripts.
 *
 * Each file of the real corpus ($PD_SHARED_DIR/corpus/real) grows a line at
 * a time in a workspace of its own, with a sync and a diff after every line,
 * like a nightly job that runs while an agent writes. Every diff must find
 * the stored rows identical to a full parse of the file so far.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/engine_fixture.h"

/* The corpus roots, and counts of what the test grew. */
typedef struct grow_ctx {
    const char *claude_src;
    const char *codex_src;
    size_t files;
    size_t lines;
    int64_t incremental_rows;
} grow_ctx;

/* Syncs env and fails unless a diff then finds every session identical. */
static void expect_identical(const fx_env *env, const char *src, size_t line_no)
{
    pd_sync_stats st;
    fx_sync(env, &st);
    if (st.files_failed != 0)
        fail_msg("%s after line %zu: sync failed: %s", src, line_no,
                 st.n_errors > 0 ? st.errors[0].message : "");
    pd_sync_stats_free(&st);

    pd_diff_report *r = fx_diff(env, NULL, 0, 0);
    if (r->totals.changed != 0 || pd_diff_report_has_failures(r)) {
        const pd_diff_entry *e = r->n_sessions > 0 ? &r->sessions[0] : NULL;
        fail_msg("%s after line %zu: %s %s", src, line_no,
                 e != NULL ? pd_diff_class_name(e->cls) : "-",
                 e != NULL && e->n_fields > 0 ? e->fields[0].field : "");
    }
    pd_diff_report_free(r);
}

/* Copies src into a new workspace a line at a time (see the file comment). */
static void grow_line_by_line(const char *src, void *ctx_)
{
    grow_ctx *ctx = ctx_;
    fx_env env;
    fx_env_init(&env);
    size_t claude_len = strlen(ctx->claude_src);
    char *dst;
    if (strncmp(src, ctx->claude_src, claude_len) == 0)
        dst = fx_fmt("%s%s", env.claude_root, src + claude_len);
    else
        dst = fx_fmt("%s%s", env.codex_root, src + strlen(ctx->codex_src));

    size_t len;
    char *data = fx_read(src, &len);
    fx_write(dst, "");
    size_t line_no = 0;
    for (char *line = data; line < data + len;) {
        char *nl = memchr(line, '\n', (size_t)(data + len - line));
        char *next = nl != NULL ? nl + 1 : data + len;
        char saved = *next;
        *next = '\0';
        fx_append(dst, line);
        *next = saved;
        line = next;
        line_no++;
        expect_identical(&env, src, line_no);
    }
    ctx->files++;
    ctx->lines += line_no;
    ctx->incremental_rows +=
        fx_sql_int(env.db, "SELECT count(*) FROM sessions WHERE last_write_incremental = 1");
    free(data);
    free(dst);
    fx_env_cleanup(&env);
}

static void real_transcripts_grown_line_by_line(void **state)
{
    (void)state;
    const char *shared = getenv("PD_SHARED_DIR");
    assert_non_null(shared);
    grow_ctx ctx = {
        .claude_src = fx_fmt("%s/corpus/real/claude/projects", shared),
        .codex_src = fx_fmt("%s/corpus/real/codex/sessions", shared),
    };
    if (access(ctx.claude_src, R_OK) != 0)
        fail_msg("the real corpus is missing at %s", ctx.claude_src);

    fx_each_file(ctx.claude_src, ".jsonl", grow_line_by_line, &ctx);
    fx_each_file(ctx.codex_src, ".jsonl", grow_line_by_line, &ctx);
    assert_true(ctx.files >= 10);
    assert_true(ctx.lines > ctx.files);
    /* Some appends took the incremental path, which is what the test is for. */
    assert_true(ctx.incremental_rows > 0);
    free((char *)ctx.claude_src);
    free((char *)ctx.codex_src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(real_transcripts_grown_line_by_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
