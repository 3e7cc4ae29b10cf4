/*
 * test_jsonl.c -- tests of source reading (plain, .zst, rejected file
 * types), line splitting and the consumed boundary, against files written to
 * a temporary directory and the real transcript corpus.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "common/error.h"
#include "common/json.h"
#include "parsers/jsonl.h"
#include "tests/support/engine_fixture.h"

typedef struct fixture {
    char dir[64];
    char path[512];
    pd_json_parser *json;
} fixture;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/pd_jsonl_XXXXXX");
    f->json = pd_json_parser_new();
    if (mkdtemp(f->dir) == NULL || f->json == NULL) {
        pd_json_parser_free(f->json);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown_dir(void **state)
{
    fixture *f = *state;
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    pd_json_parser_free(f->json);
    free(f);
    return 0;
}

/* Writes data to dir/name and leaves the full path in f->path. */
static const char *write_file(fixture *f, const char *name, const void *data, size_t n)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    if (n > 0)
        assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
    return f->path;
}

/* Reads path, failing the test unless pd_source_read succeeds. */
static void read_ok(const char *path, pd_source_buf *out)
{
    pd_err err;
    memset(&err, 0, sizeof err);

    int rc = pd_source_read(path, -1, out, &err);
    if (rc != PD_OK)
        fail_msg("pd_source_read(%s) failed: %s", path, err.msg);
}

static void read_plain_file(void **state)
{
    fixture *f = *state;
    struct stat st;
    pd_source_buf src;

    write_file(f, "a.jsonl", "{\"a\":1}\n", 8);
    read_ok(f->path, &src);
    assert_int_equal(src.len, 8);
    assert_memory_equal(src.data, "{\"a\":1}\n", 8);
    assert_int_equal(src.file_size, 8);
    assert_false(src.compressed);

    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(src.inode, (int64_t)st.st_ino);
    assert_int_equal(src.device, (int64_t)st.st_dev);
    assert_int_equal(src.mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    pd_source_buf_free(&src);
    assert_null(src.data);
    assert_int_equal(src.len, 0);
}

static void read_empty_file(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_jsonl_reader reader;
    pd_jsonl_line line;

    write_file(f, "empty.jsonl", "", 0);
    read_ok(f->path, &src);
    assert_int_equal(src.len, 0);
    assert_int_equal(src.file_size, 0);

    pd_jsonl_init(&reader, src.data, src.len, 0);
    assert_false(pd_jsonl_next(&reader, &line));
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, src.data, src.len, 0), 0);
    pd_source_buf_free(&src);
}

static void read_max_bytes_cap(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_err err;
    memset(&err, 0, sizeof err);

    write_file(f, "cap.jsonl", "abc\ndef\n", 8);
    assert_int_equal(pd_source_read(f->path, 4, &src, &err), PD_OK);
    assert_int_equal(src.len, 4);
    assert_int_equal(src.file_size, 4);
    assert_memory_equal(src.data, "abc\n", 4);
    pd_source_buf_free(&src);

    /* A cap beyond the file size reads only what fstat reported. */
    assert_int_equal(pd_source_read(f->path, 1000, &src, &err), PD_OK);
    assert_int_equal(src.len, 8);
    pd_source_buf_free(&src);
}

static void read_missing_file(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_err err;
    char expected[600];
    memset(&err, 0, sizeof err);

    snprintf(f->path, sizeof f->path, "%s/missing.jsonl", f->dir);
    assert_int_equal(pd_source_read(f->path, -1, &src, &err), PD_ENOENT);
    assert_int_equal(err.code, PD_ENOENT);
    snprintf(expected, sizeof expected, "%s: cannot open: No such file or directory", f->path);
    assert_string_equal(err.msg, expected);
    assert_null(src.data);
    assert_int_equal(src.len, 0);
}

static void read_permission_denied(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_err err;
    char expected[600];
    memset(&err, 0, sizeof err);

    /* root (CAP_DAC_OVERRIDE) opens files regardless of mode bits, so the case cannot arise. */
    if (geteuid() == 0)
        skip();
    write_file(f, "secret.jsonl", "{}\n", 3);
    assert_int_equal(chmod(f->path, 0), 0);
    assert_int_equal(pd_source_read(f->path, -1, &src, &err), PD_EIO);
    snprintf(expected, sizeof expected,
             "%s: cannot open: Permission denied; make it readable for this user (its mode or "
             "owner)",
             f->path);
    assert_string_equal(err.msg, expected);
}

static void read_directory_rejected(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_err err;
    memset(&err, 0, sizeof err);

    assert_int_equal(pd_source_read(f->dir, -1, &src, &err), PD_EIO);
    assert_true(strncmp(err.msg, f->dir, strlen(f->dir)) == 0);
    assert_non_null(strstr(err.msg, "directory"));
    assert_null(src.data);
}

static void read_fifo_rejected(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_err err;
    memset(&err, 0, sizeof err);

    /* With no writer, a blocking open would hang here; the read must return at once. */
    snprintf(f->path, sizeof f->path, "%s/pipe.jsonl", f->dir);
    assert_int_equal(mkfifo(f->path, 0600), 0);
    assert_int_equal(pd_source_read(f->path, -1, &src, &err), PD_EIO);
    assert_true(strncmp(err.msg, f->path, strlen(f->path)) == 0);
    assert_non_null(strstr(err.msg, "not a regular file"));
}

/* A file of n bytes in which each 4 KiB page differs from its neighbours. */
static char *patterned(size_t n)
{
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + (i / 4096 + i) % 26);
    return data;
}

/*
 * A source read from the disk reports that it was not cached, and a second
 * read does not. Where the file system keeps the pages (tmpfs), only the
 * second read is checked.
 */
static void read_reports_uncached(void **state)
{
    fixture *f = *state;
    const size_t n = 64 * 1024;
    char *data = patterned(n);
    pd_source_buf src;

    write_file(f, "cold.jsonl", data, n);
    fx_drop_cached(f->path, 0, 0);
    bool dropped = fx_resident_pages(f->path, n) == 0;
    read_ok(f->path, &src);
    assert_int_equal(src.len, n);
    assert_memory_equal(src.data, data, n);
    if (dropped)
        assert_true(src.uncached);
    pd_source_buf_free(&src);

    read_ok(f->path, &src);
    assert_false(src.uncached);
    assert_memory_equal(src.data, data, n);
    pd_source_buf_free(&src);
    free(data);
}

/* A file whose first half is cached and second half is not reads whole. */
static void read_partly_cached(void **state)
{
    fixture *f = *state;
    const size_t n = 1024 * 1024;
    char *data = patterned(n);
    pd_source_buf src;

    write_file(f, "half.jsonl", data, n);
    fx_drop_cached(f->path, (off_t)(n / 2), (off_t)(n / 2));
    read_ok(f->path, &src);
    assert_int_equal(src.len, n);
    assert_memory_equal(src.data, data, n);
    assert_false(src.uncached);
    pd_source_buf_free(&src);
    free(data);
}

/*
 * Prefetching a FIFO, a directory or a missing path returns at once and
 * requests nothing. An empty or cached file is reported cached; a file
 * dropped from the page cache gets readahead and then reads whole.
 */
static void prefetch_any_path(void **state)
{
    fixture *f = *state;
    const size_t n = 300 * 1024;
    char *data = patterned(n);
    pd_source_buf src;

    snprintf(f->path, sizeof f->path, "%s/pipe.jsonl", f->dir);
    assert_int_equal(mkfifo(f->path, 0600), 0);
    assert_int_equal(pd_source_prefetch(f->path), PD_PREFETCH_NONE);
    assert_int_equal(pd_source_prefetch(f->dir), PD_PREFETCH_NONE);
    snprintf(f->path, sizeof f->path, "%s/missing.jsonl", f->dir);
    assert_int_equal(pd_source_prefetch(f->path), PD_PREFETCH_NONE);
    write_file(f, "empty.jsonl", "", 0);
    assert_int_equal(pd_source_prefetch(f->path), PD_PREFETCH_CACHED);

    write_file(f, "ahead.jsonl", data, n);
    fx_drop_cached(f->path, 0, 0);
    bool dropped = fx_resident_pages(f->path, n) == 0;
    pd_prefetch found = pd_source_prefetch(f->path);
    if (dropped)
        assert_int_equal(found, PD_PREFETCH_STARTED);
    read_ok(f->path, &src);
    assert_int_equal(src.len, n);
    assert_memory_equal(src.data, data, n);
    pd_source_buf_free(&src);
    assert_int_equal(pd_source_prefetch(f->path), PD_PREFETCH_CACHED);
    free(data);
}

static void source_is_zst_suffix(void **state)
{
    (void)state;
    assert_true(pd_source_is_zst("a.jsonl.zst"));
    assert_true(pd_source_is_zst(".zst"));
    assert_false(pd_source_is_zst("a.jsonl"));
    assert_false(pd_source_is_zst("a.zstd"));
    assert_false(pd_source_is_zst("zst"));
}

static void zst_round_trip(void **state)
{
    fixture *f = *state;
    const char *text = "{\"a\":1}\n{\"b\":\"two\"}\n";
    size_t text_len = strlen(text);
    size_t bound = ZSTD_compressBound(text_len);
    char *frame = malloc(bound);
    pd_source_buf src;
    assert_non_null(frame);

    size_t frame_len = ZSTD_compress(frame, bound, text, text_len, 3);
    assert_false(ZSTD_isError(frame_len));
    write_file(f, "s.jsonl.zst", frame, frame_len);

    read_ok(f->path, &src);
    assert_true(src.compressed);
    assert_int_equal(src.len, text_len);
    assert_memory_equal(src.data, text, text_len);
    assert_int_equal(src.file_size, (int64_t)frame_len);
    pd_source_buf_free(&src);
    free(frame);
}

/* Compresses text with the streaming API, so the frame does not declare its size. */
static size_t compress_streaming(const char *text, size_t n, char *out, size_t cap)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_inBuffer in = {text, n, 0};
    ZSTD_outBuffer ob = {out, cap, 0};
    size_t left;

    assert_non_null(cctx);
    while (in.pos < in.size)
        assert_false(ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &in, ZSTD_e_continue)));
    do {
        left = ZSTD_compressStream2(cctx, &ob, &in, ZSTD_e_end);
        assert_false(ZSTD_isError(left));
    } while (left != 0);
    ZSTD_freeCCtx(cctx);
    return ob.pos;
}

/* A .zst copy is compared by its text, however zstd framed it. */
static void texts_differ_across_compression(void **state)
{
    fixture *f = *state;
    const char *text = "{\"a\":1}\n{\"b\":\"two\"}\n";
    size_t text_len = strlen(text);
    size_t cap = ZSTD_compressBound(text_len) * 2 + 64;
    char *frame = malloc(cap);
    assert_non_null(frame);
    char plain[sizeof f->path], other[sizeof f->path];

    snprintf(plain, sizeof plain, "%s", write_file(f, "s.jsonl", text, text_len));
    snprintf(other, sizeof other, "%s", write_file(f, "t.jsonl", "{\"a\":2}\n", 8));

    /* One frame that declares its size, as `zstd FILE` writes. */
    size_t n = ZSTD_compress(frame, cap, text, text_len, 3);
    assert_false(ZSTD_isError(n));
    assert_false(pd_source_texts_differ(plain, write_file(f, "s.jsonl.zst", frame, n)));
    assert_true(pd_source_texts_differ(other, f->path));

    /* A frame without its size, as zstd writes from a pipe. */
    n = compress_streaming(text, text_len, frame, cap);
    assert_false(pd_source_texts_differ(plain, write_file(f, "piped.jsonl.zst", frame, n)));

    /* Two frames, as `cat a.zst b.zst` gives. */
    size_t first = ZSTD_compress(frame, cap, text, 8, 1);
    assert_false(ZSTD_isError(first));
    size_t second = ZSTD_compress(frame + first, cap - first, text + 8, text_len - 8, 1);
    assert_false(ZSTD_isError(second));
    assert_false(
        pd_source_texts_differ(write_file(f, "two.jsonl.zst", frame, first + second), plain));

    /* Nothing is known of a file that cannot be read. */
    assert_false(pd_source_texts_differ(plain, write_file(f, "bad.jsonl.zst", "not zstd", 8)));
    snprintf(other, sizeof other, "%s/missing.jsonl", f->dir);
    assert_false(pd_source_texts_differ(plain, other));
    free(frame);
}

static void zst_unknown_size_large(void **state)
{
    fixture *f = *state;
    const size_t n = (size_t)5 << 20;
    char *text = malloc(n);
    char *frame = malloc(ZSTD_compressBound(n));
    pd_source_buf src;
    assert_non_null(text);
    assert_non_null(frame);

    /* 5 MB that compresses to a few KB, so the output buffer must grow many times. */
    for (size_t i = 0; i < n; i++)
        text[i] = i % 100 == 99 ? '\n' : (char)('a' + i % 26);
    size_t frame_len = compress_streaming(text, n, frame, ZSTD_compressBound(n));
    assert_true(ZSTD_getFrameContentSize(frame, frame_len) == ZSTD_CONTENTSIZE_UNKNOWN);
    write_file(f, "big.jsonl.zst", frame, frame_len);

    read_ok(f->path, &src);
    assert_int_equal(src.len, n);
    assert_memory_equal(src.data, text, n);
    pd_source_buf_free(&src);
    free(text);
    free(frame);
}

static void zst_two_frames(void **state)
{
    fixture *f = *state;
    char frames[512];
    pd_source_buf src;

    size_t first = ZSTD_compress(frames, sizeof frames, "{\"a\":1}\n", 8, 1);
    assert_false(ZSTD_isError(first));
    size_t second = ZSTD_compress(frames + first, sizeof frames - first, "{\"b\":2}\n", 8, 1);
    assert_false(ZSTD_isError(second));
    write_file(f, "two.jsonl.zst", frames, first + second);

    read_ok(f->path, &src);
    assert_int_equal(src.len, 16);
    assert_memory_equal(src.data, "{\"a\":1}\n{\"b\":2}\n", 16);
    pd_source_buf_free(&src);
}

static void zst_corrupt_rejected(void **state)
{
    fixture *f = *state;
    pd_source_buf src;
    pd_err err;
    memset(&err, 0, sizeof err);

    write_file(f, "bad.jsonl.zst", "this is not zstd data at all\n", 29);
    assert_int_equal(pd_source_read(f->path, -1, &src, &err), PD_EZSTD);
    assert_int_equal(err.code, PD_EZSTD);
    assert_true(strncmp(err.msg, f->path, strlen(f->path)) == 0);
    assert_null(src.data);
}

static void zst_truncated_rejected(void **state)
{
    fixture *f = *state;
    char text[4096], frame[8192];
    pd_source_buf src;
    pd_err err;
    memset(&err, 0, sizeof err);

    for (size_t i = 0; i < sizeof text; i++)
        text[i] = (char)('a' + (i * 7) % 26);
    size_t frame_len = ZSTD_compress(frame, sizeof frame, text, sizeof text, 3);
    assert_false(ZSTD_isError(frame_len));

    /* Cutting the frame short is what a reader sees while zstd is still writing. */
    write_file(f, "cut.jsonl.zst", frame, frame_len - 4);
    assert_int_equal(pd_source_read(f->path, -1, &src, &err), PD_EZSTD_CUT);
    assert_true(strncmp(err.msg, f->path, strlen(f->path)) == 0);
    assert_non_null(strstr(err.msg, "truncated"));
}

static void zst_empty_file(void **state)
{
    fixture *f = *state;
    pd_source_buf src;

    write_file(f, "none.jsonl.zst", "", 0);
    read_ok(f->path, &src);
    assert_int_equal(src.len, 0);
    assert_true(src.compressed);
    pd_source_buf_free(&src);
}

/* Collects every line of buf into lines (at most max); returns the count. */
static size_t collect_lines(const char *buf, size_t len, size_t start, pd_jsonl_line *lines,
                            size_t max)
{
    pd_jsonl_reader reader;
    size_t count = 0;

    pd_jsonl_init(&reader, buf, len, start);
    while (count < max && pd_jsonl_next(&reader, &lines[count]))
        count++;
    return count;
}

static void lines_skip_bom(void **state)
{
    (void)state;
    const char text[] = "\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}\n";
    pd_jsonl_line lines[4];

    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 2);
    assert_int_equal(lines[0].len, 7);
    assert_memory_equal(lines[0].data, "{\"a\":1}", 7);
    assert_int_equal(lines[0].offset, 3);
    assert_int_equal(lines[0].end, 11);
}

static void lines_bom_only_at_start(void **state)
{
    (void)state;
    const char text[] = "{}\n\xEF\xBB\xBF{}\n";
    pd_jsonl_line lines[4];

    /* Starting mid-buffer, a BOM is ordinary data of the line. */
    size_t count = collect_lines(text, sizeof text - 1, 3, lines, 4);
    assert_int_equal(count, 1);
    assert_int_equal(lines[0].len, 5);
    assert_int_equal(lines[0].offset, 3);
}

static void lines_crlf_stripped(void **state)
{
    (void)state;
    const char text[] = "{\"a\":1}\r\n{\"b\":2}\r\n";
    pd_jsonl_line lines[4];

    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 2);
    assert_int_equal(lines[0].len, 7);
    assert_int_equal(lines[0].end, 9);
    assert_int_equal(lines[1].offset, 9);
    assert_int_equal(lines[1].len, 7);
    assert_int_equal(lines[1].end, 18);
    assert_true(lines[1].terminated);
}

static void lines_lone_cr_kept(void **state)
{
    (void)state;
    const char text[] = "a\rb\n\rc\n\r\r\n";
    pd_jsonl_line lines[4];

    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 3);
    assert_int_equal(lines[0].len, 3);
    assert_memory_equal(lines[0].data, "a\rb", 3);
    assert_int_equal(lines[1].len, 2);
    assert_memory_equal(lines[1].data, "\rc", 2);
    /* Only the CR right before the LF is removed. */
    assert_int_equal(lines[2].len, 1);
    assert_memory_equal(lines[2].data, "\r", 1);
}

static void lines_partial_tail(void **state)
{
    (void)state;
    const char text[] = "{\"a\":1}\n{\"b\":";
    pd_jsonl_line lines[4];

    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 2);
    assert_true(lines[0].terminated);
    assert_false(lines[1].terminated);
    assert_int_equal(lines[1].offset, 8);
    assert_int_equal(lines[1].len, 5);
    assert_int_equal(lines[1].end, 13);
}

static void lines_tail_cr_kept(void **state)
{
    (void)state;
    const char text[] = "{}\n{}\r";
    pd_jsonl_line lines[4];

    /* Without the LF the CR may be the first half of a CRLF still being written. */
    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 2);
    assert_false(lines[1].terminated);
    assert_int_equal(lines[1].len, 3);
}

static void lines_empty_skipped(void **state)
{
    (void)state;
    const char text[] = "\n\n{}\n\r\n\n[]\n\n";
    pd_jsonl_line lines[4];

    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 2);
    assert_int_equal(lines[0].offset, 2);
    assert_int_equal(lines[1].offset, 8);
}

static void lines_nul_block(void **state)
{
    fixture *f = *state;
    const char text[] = "\0\0\0\0\0\0\0\0\n{\"a\":1}\n\0\0\0\0";
    pd_jsonl_line lines[4];
    pd_json root;

    /* A block of NUL bytes, as left by a crash, is one malformed line, not a separator. */
    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 3);
    assert_int_equal(lines[0].len, 8);
    assert_false(pd_jsonl_is_blank(&lines[0]));
    assert_int_equal(pd_json_parse(f->json, lines[0].data, lines[0].len, &root), PD_EJSON);
    assert_int_equal(pd_json_parse(f->json, lines[1].data, lines[1].len, &root), PD_OK);
    assert_int_equal(lines[2].len, 4);
    assert_false(lines[2].terminated);
}

static void lines_blank_detection(void **state)
{
    (void)state;
    pd_jsonl_line line = {" \t\v\f\r", 5, 0, 5, true};

    assert_true(pd_jsonl_is_blank(&line));
    line.data = " x ";
    line.len = 3;
    assert_false(pd_jsonl_is_blank(&line));
}

static void lines_start_past_end(void **state)
{
    (void)state;
    pd_jsonl_reader reader;
    pd_jsonl_line line;

    pd_jsonl_init(&reader, "{}\n", 3, 10);
    assert_false(pd_jsonl_next(&reader, &line));
}

static void line_of_50_megabytes(void **state)
{
    fixture *f = *state;
    const size_t payload = (size_t)50 << 20;
    const char head[] = "{\"type\":\"big\",\"s\":\"";
    const char tail[] = "\"}\n{\"type\":\"after\"}\n";
    size_t n = sizeof head - 1 + payload + sizeof tail - 1;
    char *text = malloc(n);
    pd_source_buf src;
    pd_jsonl_reader reader;
    pd_jsonl_line line;
    pd_json root;
    assert_non_null(text);

    memcpy(text, head, sizeof head - 1);
    memset(text + sizeof head - 1, 'z', payload);
    memcpy(text + sizeof head - 1 + payload, tail, sizeof tail - 1);
    write_file(f, "huge.jsonl", text, n);
    free(text);

    read_ok(f->path, &src);
    assert_int_equal(src.len, n);
    pd_jsonl_init(&reader, src.data, src.len, 0);
    assert_true(pd_jsonl_next(&reader, &line));
    assert_int_equal(line.len, sizeof head - 1 + payload + 2);
    assert_true(line.terminated);

    assert_int_equal(pd_json_parse(f->json, line.data, line.len, &root), PD_OK);
    size_t s_len;
    pd_json_str_or_empty(pd_json_get(root, "s"), &s_len);
    assert_int_equal(s_len, payload);

    assert_true(pd_jsonl_next(&reader, &line));
    assert_int_equal(pd_json_parse(f->json, line.data, line.len, &root), PD_OK);
    assert_false(pd_jsonl_next(&reader, &line));
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, src.data, src.len, 0), (int64_t)n);
    pd_source_buf_free(&src);
}

static void line_with_raw_u2028(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"s\":\"a\xE2\x80\xA8"
                        "b\"}\n{\"t\":1}\n";
    pd_jsonl_line lines[4];
    pd_json root;

    /* U+2028 is a line terminator in JavaScript but not in JSONL. */
    size_t count = collect_lines(text, sizeof text - 1, 0, lines, 4);
    assert_int_equal(count, 2);
    assert_int_equal(pd_json_parse(f->json, lines[0].data, lines[0].len, &root), PD_OK);
    size_t n;
    const char *s = pd_json_str_or_empty(pd_json_get(root, "s"), &n);
    assert_int_equal(n, 5);
    assert_memory_equal(s,
                        "a\xE2\x80\xA8"
                        "b",
                        5);
}

static void line_with_invalid_utf8(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"s\":\"bad\xC3(\xFF\"}\n";
    pd_source_buf src;
    pd_jsonl_reader reader;
    pd_jsonl_line line;
    pd_json root;

    write_file(f, "utf8.jsonl", text, sizeof text - 1);
    read_ok(f->path, &src);
    pd_jsonl_init(&reader, src.data, src.len, 0);
    assert_true(pd_jsonl_next(&reader, &line));
    assert_int_equal(pd_json_parse(f->json, line.data, line.len, &root), PD_OK);
    size_t n;
    const char *s = pd_json_str_or_empty(pd_json_get(root, "s"), &n);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "bad(", 4);
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, src.data, src.len, 0),
                     (int64_t)(sizeof text - 1));
    pd_source_buf_free(&src);
}

static void boundary_invalid_middle_line(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"a\":1}\n{broken\n{\"b\":2}\n{\"c\":";

    /* The invalid middle line does not stop a later valid line from moving the boundary. */
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 0), 24);
}

static void boundary_invalid_last_line(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"a\":1}\n{\"b\":2}\n{broken\n";

    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 0), 16);
}

static void boundary_partial_tail_only(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"a\":1}\n{\"b\":2}";

    /* A complete document without its LF is still partial. */
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 8), 8);
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 0), 8);
}

static void boundary_from_offset(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n";

    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 8), 26);
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 26), 26);
    /* Blank and whitespace-only lines never move the boundary. */
    const char blanks[] = "{}\n   \n\n";
    assert_int_equal(pd_jsonl_consumed_boundary(f->json, blanks, sizeof blanks - 1, 0), 3);
}

static void boundary_bom_file(void **state)
{
    fixture *f = *state;
    const char text[] = "\xEF\xBB\xBF{\"a\":1}\n";

    assert_int_equal(pd_jsonl_consumed_boundary(f->json, text, sizeof text - 1, 0), 11);
}

static void boundary_of_file(void **state)
{
    fixture *f = *state;
    const char text[] = "{\"a\":1}\n{\"b\":2}\n{\"c\"";
    int64_t boundary = -1;
    pd_err err;
    memset(&err, 0, sizeof err);

    write_file(f, "rollout.jsonl", text, sizeof text - 1);
    assert_int_equal(pd_jsonl_file_consumed_boundary(f->path, f->json, &boundary, &err), PD_OK);
    assert_int_equal(boundary, 16);

    snprintf(f->path, sizeof f->path, "%s/absent.jsonl", f->dir);
    assert_int_equal(pd_jsonl_file_consumed_boundary(f->path, f->json, &boundary, &err), PD_ENOENT);
    assert_true(strncmp(err.msg, f->path, strlen(f->path)) == 0);
}

/* The tail after the boundary: a record only when its last line lacks an LF and parses. */
static void tail_record_of_file(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *text;
        int64_t boundary;
        bool tail_record;
    } cases[] = {
        {"{\"a\":1}\n", 8, false},
        {"{\"a\":1}\n{\"b\":2}", 8, true},
        {"{\"a\":1}\n{\"b\"", 8, false},
        {"{\"a\":1}\n   ", 8, false},
        {"{\"a\":1}\nnot json\n{\"c\":3}", 8, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t boundary = -1;
        bool tail_record = !cases[i].tail_record;
        pd_err err;
        memset(&err, 0, sizeof err);
        write_file(f, "rollout.jsonl", cases[i].text, strlen(cases[i].text));
        assert_int_equal(pd_jsonl_file_tail(f->path, f->json, &boundary, &tail_record, &err),
                         PD_OK);
        assert_int_equal(boundary, cases[i].boundary);
        assert_int_equal(tail_record, cases[i].tail_record);
    }
}

typedef struct line_counts {
    pd_json_parser *json;
    size_t lines;
    size_t bad;
} line_counts;

/* Parses every line of the .jsonl file at path and adds to the line and failure counts. */
static void parse_file_lines(const char *path, void *ctx)
{
    line_counts *counts = ctx;
    pd_source_buf src;
    pd_jsonl_reader reader;
    pd_jsonl_line line;

    read_ok(path, &src);
    pd_jsonl_init(&reader, src.data, src.len, 0);
    while (pd_jsonl_next(&reader, &line)) {
        pd_json root;
        counts->lines++;
        if (pd_json_parse(counts->json, line.data, line.len, &root) != PD_OK) {
            counts->bad++;
            print_error("invalid line at %s:%lld\n", path, (long long)line.offset);
        }
    }
    pd_source_buf_free(&src);
}

static void real_corpus_lines_valid(void **state)
{
    fixture *f = *state;
    const char *shared = getenv("PD_SHARED_DIR");
    char root[4096];

    if (shared == NULL)
        skip();
    snprintf(root, sizeof root, "%s/corpus/real", shared);

    /* Every line of the real transcripts is complete, valid JSON. */
    line_counts counts = {.json = f->json};
    assert_true(fx_each_file(root, ".jsonl", parse_file_lines, &counts) > 0);
    assert_true(counts.lines > 0);
    assert_int_equal(counts.bad, 0);
}

#define DIR_TEST(name) cmocka_unit_test_setup_teardown(name, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DIR_TEST(read_plain_file),
        DIR_TEST(read_empty_file),
        DIR_TEST(read_max_bytes_cap),
        DIR_TEST(read_missing_file),
        DIR_TEST(read_permission_denied),
        DIR_TEST(read_directory_rejected),
        DIR_TEST(read_fifo_rejected),
        DIR_TEST(read_reports_uncached),
        DIR_TEST(read_partly_cached),
        DIR_TEST(prefetch_any_path),
        cmocka_unit_test(source_is_zst_suffix),
        DIR_TEST(zst_round_trip),
        DIR_TEST(zst_unknown_size_large),
        DIR_TEST(texts_differ_across_compression),
        DIR_TEST(zst_two_frames),
        DIR_TEST(zst_corrupt_rejected),
        DIR_TEST(zst_truncated_rejected),
        DIR_TEST(zst_empty_file),
        cmocka_unit_test(lines_skip_bom),
        cmocka_unit_test(lines_bom_only_at_start),
        cmocka_unit_test(lines_crlf_stripped),
        cmocka_unit_test(lines_lone_cr_kept),
        cmocka_unit_test(lines_partial_tail),
        cmocka_unit_test(lines_tail_cr_kept),
        cmocka_unit_test(lines_empty_skipped),
        DIR_TEST(lines_nul_block),
        cmocka_unit_test(lines_blank_detection),
        cmocka_unit_test(lines_start_past_end),
        DIR_TEST(line_of_50_megabytes),
        DIR_TEST(line_with_raw_u2028),
        DIR_TEST(line_with_invalid_utf8),
        DIR_TEST(boundary_invalid_middle_line),
        DIR_TEST(boundary_invalid_last_line),
        DIR_TEST(boundary_partial_tail_only),
        DIR_TEST(boundary_from_offset),
        DIR_TEST(boundary_bom_file),
        DIR_TEST(boundary_of_file),
        DIR_TEST(tail_record_of_file),
        DIR_TEST(real_corpus_lines_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
