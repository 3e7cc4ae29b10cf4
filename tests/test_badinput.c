/*
 * test_badinput.c -- malformed and hostile transcript files, run through
 * sync and diff next to good ones.
 *
 * Every batch test writes two good sessions (one Claude, one Codex) and one
 * bad file into a temporary workspace, syncs it into a real SQLite archive
 * and runs a diff over it. Each test checks the exact outcome for the bad
 * file (a session with its malformed lines counted, or an error naming the
 * file and the reason) and that the good sessions were written in full and
 * compare identical. Files that change between discovery and read are
 * produced from the progress callback of an inline engine (0 threads, ring
 * capacity 1), which runs after the first source is folded and before the
 * second one is read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "common/model.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"
#include "tests/support/engine_fixture.h"
#include "tests/test_badinput_support.h"

/* ---- empty and blank files -------------------------------------------------------- */

/*
 * A transcript without messages (a file an agent has only just created)
 * stores no session and is no error.
 */
static void empty_files_store_nothing(void **state)
{
    batch *b = *state;
    write_bytes(b->bad_claude, "", 0);
    write_bytes(b->bad_codex, "", 0);

    sync_clean(b, 4);
    assert_int_equal(count_sessions(b), 2);
    diff_all_identical(b, 2);
}

/* Lines of only blanks are malformed, and a file of nothing else is not a transcript. */
static void whitespace_lines_not_transcript(void **state)
{
    batch *b = *state;
    /* Two blank lines and one empty line, which is skipped without counting. */
    const char text[] = "   \n\t \n\n";
    write_bytes(b->bad_claude, text, sizeof text - 1);
    write_bytes(b->bad_codex, text, sizeof text - 1);
    const char *const paths[] = {b->bad_claude, b->bad_codex};

    sync_expect_failures(b, 4, paths, 2, "no transcript records: 2 malformed lines");
    assert_int_equal(count_sessions(b), 2);
    diff_expect_unstored_errors(b, paths, 2, "no transcript records: 2 malformed lines");
}

/* ---- NUL bytes and truncated lines ------------------------------------------------------ */

static void nul_blocks_count_malformed(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /* A NUL block as a whole line, and one as the unterminated tail a crash leaves. */
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_nul_block(&t, 4096);
    bytes_add_str(&t, "\n");
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    bytes_add_nul_block(&t, 4096);
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    memset(&t, 0, sizeof t);
    bytes_add_line(&t, CODEX_META_LINE);
    bytes_add_line(&t, CODEX_USER_LINE);
    bytes_add_nul_block(&t, 4096);
    bytes_add_str(&t, "\n");
    bytes_add_line(&t, CODEX_ASSISTANT_LINE);
    bytes_add_nul_block(&t, 4096);
    write_bytes(b->bad_codex, t.data, t.len);
    free(t.data);

    sync_clean(b, 4);
    /* Claude counts the unterminated tail and marks the session truncated. */
    assert_bad_row(b, BAD_CLAUDE, 2, 2, 1);
    /* Codex leaves an unterminated tail for a later run and does not count it. */
    assert_bad_row(b, "codex:" BAD_CODEX, 2, 1, 0);
    diff_all_identical(b, 4);
}

/*
 * A file of nothing but NUL bytes, as a crash can leave one, is damage and
 * not a first line still being written, so sync and diff report it.
 */
static void nul_only_file_is_damage(void **state)
{
    batch *b = *state;
    bytes t = {0};
    bytes_add_nul_block(&t, 4096);
    write_bytes(b->bad_claude, t.data, t.len);
    write_bytes(b->bad_codex, t.data, t.len);
    free(t.data);
    const char *const paths[] = {b->bad_claude, b->bad_codex};

    sync_expect_failures(b, 4, paths, 2, "no message: its unfinished last line contains NUL bytes");
    assert_int_equal(count_sessions(b), 2);
    diff_expect_unstored_errors(b, paths, 2,
                                "no message: its unfinished last line contains NUL bytes");
}

/* An unfinished first line of JSON text is a write in progress, and no error. */
static void unfinished_first_line_waits(void **state)
{
    batch *b = *state;
    const char text[] = "{\"type\":\"user\",\"message\":{\"role\":";
    write_bytes(b->bad_claude, text, sizeof text - 1);
    write_bytes(b->bad_codex, text, sizeof text - 1);

    sync_clean(b, 4);
    assert_int_equal(count_sessions(b), 2);
}

static void line_cut_mid_escape(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /* The file ends inside a \u escape of the third line, as a torn write leaves it. */
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    char *partial = jl(CLAUDE_FOLLOWUP_PREFIX "caf\\u00");
    bytes_add_str(&t, partial);
    free(partial);
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    memset(&t, 0, sizeof t);
    bytes_add_line(&t, CODEX_META_LINE);
    bytes_add_line(&t, CODEX_USER_LINE);
    bytes_add_line(&t, CODEX_ASSISTANT_LINE);
    bytes_add_str(&t, "{\"timestamp\":\"2026-02-01T11:00:03.000Z\",\"type\":\"response_item\","
                      "\"payload\":{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":"
                      "\"input_text\",\"text\":\"caf\\u00");
    write_bytes(b->bad_codex, t.data, t.len);
    free(t.data);

    sync_clean(b, 4);
    assert_bad_row(b, BAD_CLAUDE, 2, 1, 1);
    assert_bad_row(b, "codex:" BAD_CODEX, 2, 0, 0);
    diff_all_identical(b, 4);
}

static void terminated_line_cut_mid_escape(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /* The same cut line, but followed by LF and a valid line: malformed, not truncated. */
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_FOLLOWUP_PREFIX "caf\\u00");
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 2, 1, 0);
    diff_all_identical(b, 3);
}

/* ---- encodings and line endings ---------------------------------------------------------- */

static void invalid_utf8_in_values_dropped(void **state)
{
    batch *b = *state;
    bytes t = {0};

    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    char *prefix = jl(CLAUDE_FOLLOWUP_PREFIX);
    bytes_add_str(&t, prefix);
    free(prefix);
    /* A lead byte without its continuation, then two bytes that never occur in UTF-8. */
    bytes_add_str(&t, "caf\xC3 \xFF\xFE ok\"}}\n");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 3, 0, 0);
    char *text = message_text(b, BAD_CLAUDE, 2);
    assert_non_null(text);
    assert_string_equal(text, "caf  ok");
    free(text);
    diff_all_identical(b, 3);
}

static void invalid_utf8_in_key_no_match(void **state)
{
    batch *b = *state;
    bytes t = {0};

    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    /*
     * Keys are compared byte for byte, so "mess\xFFage" is not "message" and
     * the line carries no message. Dropping the invalid byte before the
     * lookup would turn it into a third message.
     */
    bytes_add_str(
        &t, "{\"type\":\"user\",\"uuid\":\"u3\",\"parentUuid\":\"u2\",\"sessionId\":\"" BAD_CLAUDE
            "\",\"timestamp\":\"2026-01-07T09:01:00.000Z\",\"mess\xFF"
            "age\":{\"role\":\"user\",\"content\":\"hidden\"}}\n");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    diff_all_identical(b, 3);
}

static void bom_and_crlf_read_as_plain(void **state)
{
    batch *b = *state;
    bytes t = {0};

    bytes_add_str(&t, "\xEF\xBB\xBF");
    char *line = jl(CLAUDE_USER_LINE);
    bytes_add_str(&t, line);
    free(line);
    bytes_add_str(&t, "\r\n");
    line = jl(CLAUDE_ASSISTANT_LINE);
    bytes_add_str(&t, line);
    free(line);
    bytes_add_str(&t, "\r\n");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    memset(&t, 0, sizeof t);
    bytes_add_str(&t, "\xEF\xBB\xBF");
    const char *const codex_lines[] = {CODEX_META_LINE, CODEX_USER_LINE, CODEX_ASSISTANT_LINE};
    for (size_t i = 0; i < 3; i++) {
        line = jl(codex_lines[i]);
        bytes_add_str(&t, line);
        bytes_add_str(&t, "\r\n");
        free(line);
    }
    write_bytes(b->bad_codex, t.data, t.len);
    size_t codex_len = t.len;
    free(t.data);

    sync_clean(b, 4);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    assert_bad_row(b, "codex:" BAD_CODEX, 2, 0, 0);
    /* The CR of each CRLF belongs to the line ending, not to the text. */
    char *text = message_text(b, BAD_CLAUDE, 1);
    assert_non_null(text);
    assert_string_equal(text, "Plotted.");
    free(text);
    /* Every CRLF line is complete, so the whole rollout is consumed. */
    assert_int_equal(row_int(b, "file_size", "codex:" BAD_CODEX), (int64_t)codex_len);
    diff_all_identical(b, 4);
}

static void lone_cr_splits_nothing(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /*
     * A CR that is not followed by LF is data, so the two objects form one
     * invalid line, and the file has no message left.
     */
    char *line = jl(CLAUDE_USER_LINE);
    bytes_add_str(&t, line);
    free(line);
    bytes_add_str(&t, "\r");
    line = jl(CLAUDE_ASSISTANT_LINE);
    bytes_add_str(&t, line);
    free(line);
    bytes_add_str(&t, "\n");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);
    const char *const paths[] = {b->bad_claude};

    sync_expect_failures(b, 3, paths, 1, "no transcript records: 1 malformed line and");
    diff_expect_unstored_errors(b, paths, 1, "no transcript records: 1 malformed line and");

    /* With a valid line after it, the file is a transcript with one malformed line. */
    line = jl(CLAUDE_FOLLOWUP_PREFIX "Plot it again'}}\n");
    fx_append(b->bad_claude, line);
    free(line);
    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 1, 1, 0);
    diff_all_identical(b, 3);
}

static void raw_line_separators_kept(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /* U+2028 and U+2029 are valid raw inside JSON strings and are not line breaks here. */
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    char *prefix = jl(CLAUDE_FOLLOWUP_PREFIX);
    bytes_add_str(&t, prefix);
    free(prefix);
    bytes_add_str(&t, "one\xE2\x80\xA8two\xE2\x80\xA9three\"}}\n");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 3, 0, 0);
    char *text = message_text(b, BAD_CLAUDE, 2);
    assert_non_null(text);
    assert_string_equal(text, "one\xE2\x80\xA8two\xE2\x80\xA9three");
    free(text);
    diff_all_identical(b, 3);
}

/* ---- size, depth, keys and numbers -------------------------------------------------------- */

#define HUGE_LINE_BYTES ((size_t)100 << 20)

/*
 * Writes the leading line (when not NULL), the line template with its first
 * occurrence of marker replaced by HUGE_LINE_BYTES letters, and the closing
 * line, each ending with LF. The letters go out in 1 MiB pieces, so the
 * test never keeps the long line in memory itself.
 */
static void write_huge_line(const char *path, const char *leading_line, const char *line_template,
                            const char *marker, const char *closing_line)
{
    size_t chunk_len = (size_t)1 << 20;
    char *chunk = malloc(chunk_len);
    assert_non_null(chunk);
    memset(chunk, 'a', chunk_len);

    char *line = jl(line_template);
    char *cut = strstr(line, marker);
    assert_non_null(cut);
    *cut = '\0';
    const char *rest = cut + strlen(marker);

    fx_write(path, "");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (leading_line != NULL) {
        char *leading = jl(leading_line);
        assert_true(fputs(leading, f) >= 0);
        assert_true(fputs("\n", f) >= 0);
        free(leading);
    }
    assert_true(fputs(line, f) >= 0);
    for (size_t done = 0; done < HUGE_LINE_BYTES; done += chunk_len)
        assert_int_equal(fwrite(chunk, 1, chunk_len, f), chunk_len);
    assert_true(fputs(rest, f) >= 0);
    assert_true(fputs("\n", f) >= 0);
    char *closing = jl(closing_line);
    assert_true(fputs(closing, f) >= 0);
    assert_true(fputs("\n", f) >= 0);
    assert_int_equal(fclose(f), 0);

    free(closing);
    free(line);
    free(chunk);
}

static void huge_single_line(void **state)
{
    batch *b = *state;
    write_huge_line(b->bad_claude, NULL, CLAUDE_USER_LINE, "Plot the orbit", CLAUDE_ASSISTANT_LINE);
    write_huge_line(b->bad_codex, CODEX_META_LINE, CODEX_USER_LINE, "List the files",
                    CODEX_ASSISTANT_LINE);

    sync_clean(b, 4);
    /*
     * Claude skips a line longer than 64 MiB (CLAUDE_MAX_LINE_BYTES)
     * without counting it as malformed, so only the assistant line remains.
     */
    assert_bad_row(b, BAD_CLAUDE, 1, 0, 0);
    /* The Codex parser has no line limit and stores the whole prompt. */
    assert_bad_row(b, "codex:" BAD_CODEX, 2, 0, 0);
    char *sql = fx_fmt("SELECT length(content) FROM messages WHERE session_id = 'codex:%s' AND "
                       "ordinal = 0",
                       BAD_CODEX);
    assert_int_equal(fx_sql_int(b->env.db, sql), (int64_t)HUGE_LINE_BYTES);
    free(sql);
    /* The preview keeps 300 characters and appends "...". */
    sql = fx_fmt("SELECT length(first_message) FROM sessions WHERE id = 'codex:%s'", BAD_CODEX);
    assert_int_equal(fx_sql_int(b->env.db, sql), 303);
    free(sql);
    diff_all_identical(b, 4);
}

static void deep_nesting_counts_malformed(void **state)
{
    batch *b = *state;
    bytes t = {0};
    enum { DEPTH = 10000 };

    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    char *prefix = jl(CLAUDE_FOLLOWUP_PREFIX);
    /* Replace the opening quote of the content with 10,000 nested arrays. */
    prefix[strlen(prefix) - 1] = '\0';
    bytes_add_str(&t, prefix);
    free(prefix);
    for (int i = 0; i < DEPTH; i++)
        bytes_add_str(&t, "[");
    for (int i = 0; i < DEPTH; i++)
        bytes_add_str(&t, "]");
    bytes_add_str(&t, "}}\n");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    /*
     * NOTE: simdjson rejects documents nested deeper than its default
     * maximum depth of 1024, so the line counts as malformed here, while a
     * reader without a depth limit would accept the line and find no text.
     */
    assert_bad_row(b, BAD_CLAUDE, 2, 1, 0);
    diff_all_identical(b, 3);
}

static void duplicate_keys_first_wins(void **state)
{
    batch *b = *state;
    bytes t = {0};

    bytes_add_line(
        &t,
        "{'type':'user','type':'assistant','uuid':'u1','parentUuid':null,'sessionId':'" BAD_CLAUDE
        "','timestamp':'2026-01-07T09:00:00.000Z','message':{'role':'user',"
        "'content':'first','content':'second'}}");
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    char *sql =
        fx_fmt("SELECT role FROM messages WHERE session_id = '%s' AND ordinal = 0", BAD_CLAUDE);
    char *role = fx_sql_text(b->env.db, sql);
    free(sql);
    assert_non_null(role);
    assert_string_equal(role, "user");
    free(role);
    char *text = message_text(b, BAD_CLAUDE, 0);
    assert_non_null(text);
    assert_string_equal(text, "first");
    free(text);
    diff_all_identical(b, 3);
}

/* ---- entries that are not regular files ------------------------------------------------- */

static void directory_named_jsonl_skipped(void **state)
{
    batch *b = *state;
    assert_int_equal(mkdir(b->bad_claude, 0755), 0);
    fx_write(b->bad_codex, "");
    assert_int_equal(unlink(b->bad_codex), 0);
    assert_int_equal(mkdir(b->bad_codex, 0755), 0);

    /* Neither directory is a transcript: discovery lists only the good files. */
    sync_clean(b, 2);
    assert_int_equal(row_int(b, "count(*)", BAD_CLAUDE), 0);
    diff_all_identical(b, 2);
}

static void symlink_loop_skipped(void **state)
{
    batch *b = *state;
    char *other = fx_claude_path(&b->env, PROJECT, "c0000000-1111-4222-8333-444444444403");
    assert_int_equal(symlink(other, b->bad_claude), 0);
    assert_int_equal(symlink(b->bad_claude, other), 0);

    sync_clean(b, 2);
    diff_all_identical(b, 2);

    /* Read directly, the loop is an error that names the file. */
    pd_source_buf src;
    pd_err err = {0};
    assert_int_equal(pd_source_read(b->bad_claude, -1, &src, &err), PD_EIO);
    assert_non_null(strstr(err.msg, b->bad_claude));
    assert_non_null(strstr(err.msg, strerror(ELOOP)));
    free(other);
}

static void fifo_named_jsonl_skipped(void **state)
{
    batch *b = *state;
    assert_int_equal(mkfifo(b->bad_claude, 0644), 0);

    /* No writer ever opens the FIFO: a reader that opened it would wait forever. */
    sync_clean(b, 2);
    diff_all_identical(b, 2);

    pd_source_buf src;
    pd_err err = {0};
    assert_int_equal(pd_source_read(b->bad_claude, -1, &src, &err), PD_EIO);
    assert_non_null(strstr(err.msg, b->bad_claude));
    assert_non_null(strstr(err.msg, "not a regular file"));
}

/* ---- files that change between discovery and read --------------------------------- */

typedef enum victim_action {
    VICTIM_TO_DIRECTORY, /* replaced by a directory of the same name */
    VICTIM_DELETED,      /* unlinked */
    VICTIM_TO_FIFO,      /* replaced by a FIFO that no writer ever opens */
    VICTIM_RENAMED_BACK, /* renamed away and back, as a compress and decompress leave it */
} victim_action;

typedef struct victim_hook {
    const char *path;
    victim_action action;
    bool fired;
} victim_hook;

/* Progress callback: changes the victim once, right after the first source is folded. */
static void change_victim(void *ctx, const pd_progress_info *info)
{
    victim_hook *h = ctx;
    if (info->done < 1 || h->fired)
        return;
    h->fired = true;

    if (h->action == VICTIM_RENAMED_BACK) {
        /* File timestamps come from a clock that may lag the wall clock by a
         * tick, so let one pass since the run began before the rename. */
        struct timespec tick = {0, 50 * 1000 * 1000};
        nanosleep(&tick, NULL);
        char *aside = fx_fmt("%s.aside", h->path);
        if (rename(h->path, aside) != 0 || rename(aside, h->path) != 0)
            fail_msg("rename %s: %s", h->path, strerror(errno));
        free(aside);
        return;
    }
    if (unlink(h->path) != 0)
        fail_msg("unlink %s: %s", h->path, strerror(errno));
    if (h->action == VICTIM_TO_DIRECTORY && mkdir(h->path, 0755) != 0)
        fail_msg("mkdir %s: %s", h->path, strerror(errno));
    if (h->action == VICTIM_TO_FIFO && mkfifo(h->path, 0644) != 0)
        fail_msg("mkfifo %s: %s", h->path, strerror(errno));
}

/*
 * An engine that runs every job on the calling thread with one result slot,
 * so the progress callback for source 1 runs before source 2 is read.
 */
static pd_engine *inline_engine(const batch *b, pd_engine_mode mode)
{
    pd_engine_config cfg = fx_engine_config(&b->env);
    cfg.n_threads = 0;
    cfg.ring_capacity = 1;
    pd_engine *e = NULL;
    pd_err err = {0};
    if (pd_engine_new(&cfg, mode, &e, &err) != PD_OK)
        fail_msg("creating the engine failed: %s", err.msg);
    return e;
}

static void sync_with_victim(const batch *b, victim_hook *hook, pd_sync_stats *stats)
{
    pd_engine *e = inline_engine(b, PD_ENGINE_WRITER);
    pd_sync_options opts = {.progress = change_victim, .progress_ctx = hook};
    pd_err err = {0};
    int rc = pd_engine_sync(e, &opts, stats, &err);
    pd_engine_free(e);
    if (rc != PD_OK)
        fail_msg("sync failed: %s", err.msg);
    assert_true(hook->fired);
}

static pd_diff_report *diff_with_victim(const batch *b, victim_hook *hook)
{
    pd_engine *e = inline_engine(b, PD_ENGINE_REPORT_ONLY);
    pd_diff_options opts = {.progress = change_victim, .progress_ctx = hook};
    pd_diff_report *r = NULL;
    pd_err err = {0};
    int rc = pd_engine_diff(e, &opts, &r, &err);
    pd_engine_free(e);
    if (rc != PD_OK)
        fail_msg("diff failed: %s", err.msg);
    assert_true(hook->fired);
    return r;
}

/* Checks a sync in which the victim failed: one error naming it and the reason. */
static void assert_sync_failed_on(const batch *b, const pd_sync_stats *st, const char *path,
                                  const char *reason)
{
    assert_int_equal(st->files_discovered, 3);
    assert_int_equal(st->files_failed, 1);
    assert_int_equal(st->n_errors, 1);
    assert_string_equal(st->errors[0].path, path);
    assert_non_null(strstr(st->errors[0].message, path));
    assert_non_null(strstr(st->errors[0].message, reason));
    assert_good_written(b);
}

/* Checks a diff in which the stored victim failed to parse, while the rest stayed identical. */
static void assert_diff_parse_error_on(const pd_diff_report *r, const char *path,
                                       const char *reason)
{
    assert_int_equal(r->totals.parse_errors, 1);
    assert_int_equal(r->totals.identical, 2);
    assert_int_equal(r->totals.changed, 0);
    const pd_diff_entry *e = fx_entry(r, BAD_CLAUDE);
    assert_non_null(e);
    assert_string_equal(pd_diff_class_name(e->cls), "parse_error");
    assert_non_null(e->file_path);
    assert_string_equal(e->file_path, path);
    assert_non_null(e->reason);
    assert_non_null(strstr(e->reason, path));
    assert_non_null(strstr(e->reason, reason));
    assert_good_identical(r);
}

static void replaced_by_directory_before_read(void **state)
{
    batch *b = *state;
    write_claude_pair(b->bad_claude);
    victim_hook hook = {.path = b->bad_claude, .action = VICTIM_TO_DIRECTORY};

    pd_sync_stats st;
    sync_with_victim(b, &hook, &st);
    assert_sync_failed_on(b, &st, b->bad_claude, "is a directory");
    pd_sync_stats_free(&st);

    /* Store the session, then make it unreadable during a diff. */
    assert_int_equal(rmdir(b->bad_claude), 0);
    write_claude_pair(b->bad_claude);
    sync_clean(b, 3);
    hook = (victim_hook){.path = b->bad_claude, .action = VICTIM_TO_DIRECTORY};
    pd_diff_report *r = diff_with_victim(b, &hook);
    assert_diff_parse_error_on(r, b->bad_claude, "is a directory");
    pd_diff_report_free(r);
}

/*
 * A stored transcript that discovery missed because it was moved away and
 * back during the run is a live change, which --fail-on-uncompared does not
 * count. Left alone, the same row is "not discovered" (outside the roots).
 */
static void renamed_during_run_not_uncompared(void **state)
{
    batch *b = *state;
    write_claude_pair(b->bad_claude);
    sync_clean(b, 3);
    /* Where discovery does not look: outside the roots, with the row pointing there. */
    char *outside = fx_fmt("%s/outside-the-roots.jsonl", b->env.dir);
    assert_int_equal(rename(b->bad_claude, outside), 0);
    char *sql = fx_fmt("UPDATE sessions SET file_path = '%s' WHERE id = '%s'", outside, BAD_CLAUDE);
    fx_sql(b->env.db, sql);

    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    const pd_diff_entry *e = fx_entry(r, BAD_CLAUDE);
    assert_non_null(e);
    assert_string_equal(pd_diff_class_name(e->cls), "skipped");
    assert_string_equal(e->reason, "not discovered");
    pd_diff_report_free(r);

    /* The victim hook needs a second source after the first: the good files are two. */
    victim_hook hook = {.path = outside, .action = VICTIM_RENAMED_BACK};
    r = diff_with_victim(b, &hook);
    e = fx_entry(r, BAD_CLAUDE);
    assert_non_null(e);
    assert_string_equal(pd_diff_class_name(e->cls), "skipped");
    assert_string_equal(e->reason, "source renamed or written during the run");
    pd_diff_report_free(r);
    free(sql);
    free(outside);
}

static void deleted_before_read(void **state)
{
    batch *b = *state;
    write_claude_pair(b->bad_claude);
    victim_hook hook = {.path = b->bad_claude, .action = VICTIM_DELETED};

    /* Gone before its read, as after an agent's rename: neither read nor failed. */
    pd_sync_stats st;
    sync_with_victim(b, &hook, &st);
    assert_int_equal(st.files_discovered, 3);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.n_errors, 0);
    assert_int_equal(st.files_vanished, 1);
    assert_good_written(b);
    pd_sync_stats_free(&st);

    write_claude_pair(b->bad_claude);
    sync_clean(b, 3);
    hook = (victim_hook){.path = b->bad_claude, .action = VICTIM_DELETED};
    pd_diff_report *r = diff_with_victim(b, &hook);
    /* A file an agent removed after discovery is a live change, not a parse error. */
    assert_int_equal(r->totals.parse_errors, 0);
    assert_int_equal(r->totals.identical, 2);
    assert_int_equal(r->totals.skipped, 1);
    const pd_diff_entry *e = fx_entry(r, BAD_CLAUDE);
    assert_non_null(e);
    assert_string_equal(pd_diff_class_name(e->cls), "skipped");
    assert_string_equal(e->reason, "source missing");
    assert_false(pd_diff_report_has_failures(r));
    assert_good_identical(r);
    pd_diff_report_free(r);
}

static void replaced_by_fifo_before_read(void **state)
{
    batch *b = *state;
    write_claude_pair(b->bad_claude);
    victim_hook hook = {.path = b->bad_claude, .action = VICTIM_TO_FIFO};

    /* No process writes to the FIFO, so a blocking open would never return. */
    pd_sync_stats st;
    sync_with_victim(b, &hook, &st);
    assert_sync_failed_on(b, &st, b->bad_claude, "not a regular file");
    pd_sync_stats_free(&st);

    assert_int_equal(unlink(b->bad_claude), 0);
    write_claude_pair(b->bad_claude);
    sync_clean(b, 3);
    hook = (victim_hook){.path = b->bad_claude, .action = VICTIM_TO_FIFO};
    pd_diff_report *r = diff_with_victim(b, &hook);
    assert_diff_parse_error_on(r, b->bad_claude, "not a regular file");
    pd_diff_report_free(r);
}

/* ---- compressed transcripts ------------------------------------------------------------- */

static char *zst_path(const batch *b)
{
    return fx_fmt("%s.zst", b->bad_claude);
}

/* Compresses the bad Claude pair into one .zst frame. The caller frees *out. */
static void compress_claude_pair(char **out, size_t *out_len)
{
    bytes t = {0};
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    size_t cap = ZSTD_compressBound(t.len);
    char *z = malloc(cap);
    assert_non_null(z);
    size_t n = ZSTD_compress(z, cap, t.data, t.len, 3);
    assert_false(ZSTD_isError(n));
    free(t.data);
    *out = z;
    *out_len = n;
}

static void corrupt_zst_reported(void **state)
{
    batch *b = *state;
    char *path = zst_path(b);
    const char garbage[] = "this is not zstd data\n";
    write_bytes(path, garbage, sizeof garbage - 1);

    pd_sync_stats st;
    fx_sync(&b->env, &st);
    assert_sync_failed_on(b, &st, path, "invalid zstd data");
    /* The message gives the fix for a file that is not zstd at all. */
    assert_sync_failed_on(b, &st, path, "does not start with a zstd frame; compress it with zstd");
    pd_sync_stats_free(&st);

    /* The file was never stored, so the diff lists it without a session id. */
    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    assert_int_equal(r->totals.parse_errors, 1);
    assert_int_equal(r->totals.identical, 2);
    const pd_diff_entry *bad = NULL;
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].cls == PD_CLASS_PARSE_ERROR)
            bad = &r->sessions[i];
    }
    assert_non_null(bad);
    assert_null(bad->session_id);
    assert_string_equal(bad->file_path, path);
    assert_non_null(bad->reason);
    assert_non_null(strstr(bad->reason, "invalid zstd data"));
    assert_good_identical(r);
    pd_diff_report_free(r);
    free(path);
}

/*
 * A .zst written by `zstd --long=28` from a pipe declares a 256 MiB window,
 * over the decoder's default limit, and is read like any other.
 */
static void long_window_zst_reads(void **state)
{
    batch *b = *state;
    bytes t = {0};
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, CLAUDE_ASSISTANT_LINE);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    assert_non_null(cctx);
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_windowLog, 28)));
    assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_enableLongDistanceMatching, 1)));
    /* Fed in two calls, as from a pipe, so the frame does not size its window to the text. */
    size_t cap = ZSTD_compressBound(t.len) + 64;
    char *z = malloc(cap);
    assert_non_null(z);
    ZSTD_outBuffer out = {z, cap, 0};
    ZSTD_inBuffer in = {t.data, t.len, 0};
    assert_false(ZSTD_isError(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue)));
    ZSTD_inBuffer none = {NULL, 0, 0};
    assert_int_equal(ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end), 0);
    ZSTD_freeCCtx(cctx);

    /* The premise: zstd's default decoder refuses the frame. */
    char plain[4096];
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    assert_non_null(dctx);
    ZSTD_outBuffer dout = {plain, sizeof plain, 0};
    ZSTD_inBuffer din = {z, out.pos, 0};
    size_t ret = ZSTD_decompressStream(dctx, &dout, &din);
    assert_true(ZSTD_isError(ret));
    ZSTD_freeDCtx(dctx);

    char *path = zst_path(b);
    write_bytes(path, z, out.pos);
    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    free(path);
    free(z);
    free(t.data);
}

/* Sets the mtime of path to seconds ago. */
static void set_mtime_ago(const char *path, time_t seconds)
{
    struct timespec times[2] = {{.tv_nsec = UTIME_OMIT}, {.tv_sec = time(NULL) - seconds}};
    assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
}

static void truncated_zst_reported(void **state)
{
    batch *b = *state;
    char *path = zst_path(b);
    char *z;
    size_t n;
    compress_claude_pair(&z, &n);
    write_bytes(path, z, n);

    /* Stored whole first, then cut short as an interrupted copy leaves it,
     * ten minutes ago: no compressor is writing it now. */
    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    write_bytes(path, z, n - 6);
    set_mtime_ago(path, 600);

    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    assert_diff_parse_error_on(r, path, "zstd data");
    /* The reason explains why no writer accounts for the cut. */
    assert_diff_parse_error_on(r, path, "last modified more than a minute before the run");
    pd_diff_report_free(r);

    /* An mtime two hours ahead is no writer's either, and the reason names that instead. */
    set_mtime_ago(path, -7200);
    r = fx_diff(&b->env, NULL, 0, 0);
    assert_diff_parse_error_on(r, path, "its mtime lies more than a minute in the future");
    pd_diff_report_free(r);
    set_mtime_ago(path, 600);

    pd_sync_stats st;
    fx_sync(&b->env, &st);
    assert_sync_failed_on(b, &st, path, "zstd data");
    pd_sync_stats_free(&st);
    /* The failed file leaves its stored rows as they were. */
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    free(z);
    free(path);
}

/*
 * A .zst cut short and modified a moment ago is what a reader sees while
 * zstd still writes it. diff calls it raced, which fails no gate, and sync
 * leaves it (and the stored rows) for the next run, failing nothing.
 */
static void zst_being_written_is_raced(void **state)
{
    batch *b = *state;
    char *path = zst_path(b);
    char *z;
    size_t n;
    compress_claude_pair(&z, &n);
    write_bytes(path, z, n);
    sync_clean(b, 3);
    write_bytes(path, z, n / 2);
    /* A second one, never stored, as zstd writes a compressed copy of a transcript. */
    char *plain = fx_claude_path(&b->env, PROJECT, "5a1f0c3e-77d2-4c1b-9e8a-0b6d2f4e9a11");
    char *copy = fx_fmt("%s.zst", plain);
    free(plain);
    write_bytes(copy, z, n / 2);

    pd_diff_report *r = fx_diff(&b->env, NULL, 0, 0);
    assert_int_equal(r->totals.parse_errors, 0);
    assert_int_equal(r->totals.changed, 0);
    assert_int_equal(r->totals.raced, 1);
    assert_int_equal(r->totals.skipped, 1);
    assert_int_equal(r->totals.identical, 2);
    /* The file without a row is no compared session. */
    assert_int_equal(r->totals.examined, 3);
    const pd_diff_entry *stored = fx_entry(r, BAD_CLAUDE);
    assert_non_null(stored);
    assert_string_equal(pd_diff_class_name(stored->cls), "raced");
    assert_string_equal(stored->file_path, path);
    assert_non_null(strstr(stored->reason, "ends inside a zstd frame"));
    const pd_diff_entry *unstored = NULL;
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].file_path != NULL && strcmp(r->sessions[i].file_path, copy) == 0)
            unstored = &r->sessions[i];
    }
    assert_non_null(unstored);
    assert_null(unstored->session_id);
    assert_string_equal(pd_diff_class_name(unstored->cls), "skipped");
    assert_non_null(strstr(unstored->reason, "has no stored row yet"));
    pd_diff_report_free(r);

    /* With the transcript it compresses beside it, the copy is skipped: the
     * transcript's own entry counts the session. */
    char *original = strndup(copy, strlen(copy) - 4);
    fx_write(original, "");
    r = fx_diff(&b->env, NULL, 0, 0);
    assert_int_equal(r->totals.raced, 1);
    assert_int_equal(r->totals.skipped, 1);
    unstored = NULL;
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].file_path != NULL && strcmp(r->sessions[i].file_path, copy) == 0)
            unstored = &r->sessions[i];
    }
    assert_non_null(unstored);
    assert_string_equal(pd_diff_class_name(unstored->cls), "skipped");
    char *expected = fx_fmt("compressed copy of %s, still being written", original);
    assert_string_equal(unstored->reason, expected);
    free(expected);
    pd_diff_report_free(r);
    unlink(original);
    free(original);

    pd_sync_stats st;
    fx_sync(&b->env, &st);
    assert_int_equal(st.files_discovered, 4);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.files_being_written, 2);
    pd_sync_stats_free(&st);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);

    /* Once the compressor has finished, both are read. */
    write_bytes(path, z, n);
    write_bytes(copy, z, n);
    fx_sync(&b->env, &st);
    assert_int_equal(st.files_failed, 0);
    assert_int_equal(st.files_being_written, 0);
    pd_sync_stats_free(&st);
    free(copy);
    free(z);
    free(path);
}

/* ---- persisted tool output that is a FIFO ------------------------------------------------ */

/* Child process: parses the transcript and exits 0 when the placeholder text stayed in place. */
static void parse_in_child(const char *transcript)
{
    pd_source_buf src;
    pd_err err = {0};
    if (pd_source_read(transcript, -1, &src, &err) != PD_OK)
        _exit(10);
    pd_arena *arena = pd_arena_new();
    pd_json_parser *json = pd_json_parser_new();
    pd_parse_request req = {.path = transcript,
                            .root = "",
                            .machine = "testbox",
                            .src = &src,
                            .json = json,
                            .arena = arena};
    pd_parse_result res;
    if (pd_provider_claude.parse(&req, &res, &err) != PD_OK)
        _exit(11);
    for (size_t i = 0; i < res.n_sessions; i++) {
        const pd_session *s = &res.sessions[i];
        for (size_t m = 0; m < s->n_messages; m++) {
            for (size_t t = 0; t < s->messages[m].n_tool_results; t++) {
                const char *content = s->messages[m].tool_results[t].content;
                if (content != NULL && strstr(content, "<persisted-output>") != NULL)
                    _exit(0);
            }
        }
    }
    _exit(12);
}

/* Returns the kernel function pid sleeps in ("0" while running), or "" when unreadable. */
static void read_wchan(pid_t pid, char *out, size_t n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    if (fgets(out, (int)n, f) == NULL)
        out[0] = '\0';
    fclose(f);
}

static void persisted_output_fifo_not_blocking(void **state)
{
    batch *b = *state;
    char *fifo = fx_fmt("%s/%s/%s/tool-results/out.txt", b->env.claude_root, PROJECT, BAD_CLAUDE);
    fx_write(fifo, "");
    assert_int_equal(unlink(fifo), 0);
    assert_int_equal(mkfifo(fifo, 0644), 0);

    bytes t = {0};
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t, "{'type':'assistant','uuid':'u2','parentUuid':'u1','sessionId':'" BAD_CLAUDE
                       "','timestamp':'2026-01-07T09:00:03.000Z','message':{'id':'msg_b1','role':"
                       "'assistant','model':'claude-sonnet-4-5','content':[{'type':'tool_use','id':"
                       "'toolu_b1','name':'Bash','input':{'command':'make'}}]}}");
    char *result = fx_fmt("{'type':'user','uuid':'u3','parentUuid':'u2','sessionId':'" BAD_CLAUDE
                          "','timestamp':'2026-01-07T09:00:05.000Z','message':{'role':'user',"
                          "'content':[{'type':'tool_result','tool_use_id':'toolu_b1','content':"
                          "'<persisted-output>Full output saved to: %s\\n</persisted-output>'}]}}",
                          fifo);
    bytes_add_line(&t, result);
    free(result);
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    char wchan[128];
    read_wchan(getpid(), wchan, sizeof wchan);
    if (wchan[0] == '\0')
        skip();

    /*
     * The parse runs in a child, and no process writes to the FIFO. A blocking
     * open() of the FIFO would wait forever in the kernel's
     * wait_for_partner(). This loop ends when the child exits, or when it is
     * found waiting there; then a writer is opened so the child can finish.
     */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        parse_in_child(b->bad_claude);

    bool blocked = false;
    int status = 0;
    for (;;) {
        pid_t done = waitpid(child, &status, WNOHANG);
        assert_true(done >= 0);
        if (done == child)
            break;
        read_wchan(child, wchan, sizeof wchan);
        if (!blocked && strcmp(wchan, "wait_for_partner") == 0) {
            blocked = true;
            int wfd = open(fifo, O_WRONLY);
            assert_true(wfd >= 0);
            close(wfd);
        }
        sched_yield();
    }
    free(fifo);

    assert_false(blocked);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(empty_files_store_nothing, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(whitespace_lines_not_transcript, batch_setup,
                                        batch_teardown),
        cmocka_unit_test_setup_teardown(nul_blocks_count_malformed, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(nul_only_file_is_damage, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(unfinished_first_line_waits, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(line_cut_mid_escape, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(terminated_line_cut_mid_escape, batch_setup,
                                        batch_teardown),
        cmocka_unit_test_setup_teardown(invalid_utf8_in_values_dropped, batch_setup,
                                        batch_teardown),
        cmocka_unit_test_setup_teardown(invalid_utf8_in_key_no_match, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(bom_and_crlf_read_as_plain, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(lone_cr_splits_nothing, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(raw_line_separators_kept, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(huge_single_line, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(deep_nesting_counts_malformed, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(duplicate_keys_first_wins, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(directory_named_jsonl_skipped, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(symlink_loop_skipped, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(fifo_named_jsonl_skipped, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(replaced_by_directory_before_read, batch_setup,
                                        batch_teardown),
        cmocka_unit_test_setup_teardown(deleted_before_read, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(replaced_by_fifo_before_read, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(corrupt_zst_reported, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(long_window_zst_reads, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(truncated_zst_reported, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(zst_being_written_is_raced, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(renamed_during_run_not_uncompared, batch_setup,
                                        batch_teardown),
        cmocka_unit_test_setup_teardown(persisted_output_fifo_not_blocking, batch_setup,
                                        batch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
