/*
 * fuzz_jsonl.c -- libFuzzer target for the JSONL line reader and the
 * consumed boundary (parsers/jsonl.c).
 *
 * The input is the whole source buffer. The target walks it with
 * pd_jsonl_next() from offset 0 and from an offset chosen by the input,
 * checks every line against the reader's contract in parsers/jsonl.h, and
 * checks that pd_jsonl_consumed_boundary() returns the end of the last
 * terminated line that parses, computed here from the same lines.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "fuzz/fuzz_support.h"
#include "parsers/jsonl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static pd_json_parser *parser;

static bool has_bom(const char *buf, size_t len)
{
    return len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0;
}

/* Walks buf from start, checking each line; returns the expected consumed boundary. */
static int64_t walk_lines(const char *buf, size_t len, size_t start)
{
    pd_jsonl_reader reader;
    pd_jsonl_line line;
    size_t first = start < len ? start : len;
    int64_t prev_end;
    int64_t expected;
    bool saw_unterminated = false;
    pd_json root;

    if (start == 0 && has_bom(buf, len))
        first = 3;
    prev_end = (int64_t)first;
    expected = (int64_t)(start < len ? start : len);

    pd_jsonl_init(&reader, buf, len, start);
    while (pd_jsonl_next(&reader, &line)) {
        /* Nothing follows an unterminated line: it ends the buffer. */
        FZ_CHECK(!saw_unterminated);
        FZ_CHECK(line.len > 0);
        FZ_CHECK(line.offset >= prev_end);
        FZ_CHECK(line.data == buf + line.offset);
        FZ_CHECK(line.end <= (int64_t)len);
        FZ_CHECK(line.offset + (int64_t)line.len <= line.end);
        FZ_CHECK(memchr(line.data, '\n', line.len) == NULL);

        /* Only empty lines may sit between two returned lines. */
        for (int64_t i = prev_end; i < line.offset; i++)
            FZ_CHECK(buf[i] == '\n' ||
                     (buf[i] == '\r' && i + 1 < line.offset && buf[i + 1] == '\n'));

        if (line.terminated) {
            size_t span = (size_t)(line.end - line.offset);
            FZ_CHECK(buf[line.end - 1] == '\n');
            FZ_CHECK(line.len == span - 1 || (line.len == span - 2 && buf[line.end - 2] == '\r'));
            if (pd_json_parse(parser, line.data, line.len, &root) == PD_OK)
                expected = line.end;
        } else {
            FZ_CHECK(line.end == (int64_t)len);
            FZ_CHECK(line.offset + (int64_t)line.len == line.end);
            saw_unterminated = true;
        }
        (void)pd_jsonl_is_blank(&line);
        prev_end = line.end;
    }
    return expected;
}

static void check_boundary(const char *buf, size_t len, size_t start)
{
    int64_t expected = walk_lines(buf, len, start);
    int64_t boundary = pd_jsonl_consumed_boundary(parser, buf, len, start);

    FZ_CHECK(boundary == expected);
    FZ_CHECK(boundary >= (int64_t)(start < len ? start : len));
    FZ_CHECK(boundary <= (int64_t)len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;
    size_t start;
    size_t file_len;

    if (parser == NULL) {
        parser = pd_json_parser_new();
        if (parser == NULL)
            abort();
    }

    /* An exact-size copy, so that reading one byte past the end is an ASan report. */
    buf = malloc(size > 0 ? size : 1);
    if (buf == NULL)
        abort();
    if (size > 0)
        memcpy(buf, data, size);

    check_boundary(buf, size, 0);
    start = fz_split_offset(data, size, &file_len);
    check_boundary(buf, size, start);
    /* A start past the end is clamped to the end. */
    check_boundary(buf, size, size + 1);

    free(buf);
    return 0;
}
