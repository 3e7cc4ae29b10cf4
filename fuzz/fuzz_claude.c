/*
 * fuzz_claude.c -- libFuzzer target for the Claude Code transcript parser.
 *
 * Each input is parsed twice through pd_provider_claude.parse: once whole
 * as a transcript's bytes (a full parse), and once as an incremental parse
 * whose stored offset the input's last two bytes choose (see
 * fz_split_offset), against a stored state fixed but for one bit: the
 * parity of the input's last byte decides whether the stored rows end in a
 * queued prompt.
 * The stored start and end lie in 2026, so inputs can time lines before,
 * between and after them. The transcript path
 * lies in a directory of its own, so lookups of persisted tool results
 * next to the transcript find nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz/fuzz_support.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[600];
static char path[700];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = fz_make_run_dir("fuzz-claude");

    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "%s/projects", dir);
    snprintf(path, sizeof path, "%s/-home-fuzz-src-app/7c1e4b7a-2f0d-4c3e-9a55-0d6f1b2c3d4e.jsonl",
             root);
    fz_make_dirs(root);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pd_source_buf src;
    size_t file_len;
    size_t offset = fz_split_offset(data, size, &file_len);
    /* A stored row as a previous sync of a short linear transcript leaves it. */
    pd_incr_state incr = {
        .offset = (int64_t)offset,
        .next_ordinal = 4,
        .message_count = 4,
        .session_id = "7c1e4b7a-2f0d-4c3e-9a55-0d6f1b2c3d4e",
        .last_entry_uuid = "p4",
        .last_claude_message_id = "msg_2",
        .claude_linear_parse = 1,
        .first_message = "Fix the orbit solver",
        .session_name = NULL,
        .agent_label = NULL,
        .entrypoint = "cli",
        .session_kind = NULL,
        .started_at = "2026-03-01T10:00:00.000Z",
        .ended_at_ns = 1772359500000000000, /* 2026-03-01T10:05:00Z */
        .has_ended_at = true,
        .last_message_queued = size > 0 && (data[size - 1] & 1) != 0,
    };

    fz_source_from_bytes(data, size, &src);
    fz_parse_and_check(&pd_provider_claude, NULL, path, root, &src, NULL);
    pd_source_buf_free(&src);

    fz_source_from_bytes(data, file_len, &src);
    fz_parse_and_check(&pd_provider_claude, NULL, path, root, &src, &incr);
    pd_source_buf_free(&src);
    return 0;
}
