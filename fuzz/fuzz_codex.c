/*
 * fuzz_codex.c -- libFuzzer target for the Codex rollout parser.
 *
 * Each input is parsed twice through pd_provider_codex.parse: once whole as
 * a rollout's bytes (a full parse), and once as an incremental parse whose
 * stored offset the input's last two bytes choose (see fz_split_offset),
 * against one fixed stored state. The shared state is opened once on a
 * root that contains one small rollout and a title index, so inputs that name
 * that session as their parent reach the replay gate's lookups.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_support.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARENT_UUID "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define FUZZ_UUID "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a6c"

static const char parent_rollout[] =
    "{\"timestamp\":\"2026-02-01T09:00:00.000Z\",\"type\":\"session_meta\",\"payload\":"
    "{\"id\":\"" PARENT_UUID "\",\"timestamp\":\"2026-02-01T09:00:00.000Z\","
    "\"cwd\":\"/home/fuzz/src/app\",\"originator\":\"codex_cli_rs\",\"cli_version\":\"0.60.0\"}}\n"
    "{\"timestamp\":\"2026-02-01T09:00:01.000Z\",\"type\":\"response_item\",\"payload\":"
    "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
    "\"text\":\"List the files\"}]}}\n"
    "{\"timestamp\":\"2026-02-01T09:00:02.000Z\",\"type\":\"response_item\",\"payload\":"
    "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
    "\"text\":\"Done.\"}]}}\n";

static const char index_rows[] = "{\"id\":\"" PARENT_UUID "\",\"thread_name\":\"Parent\"}\n"
                                 "{\"id\":\"" FUZZ_UUID "\",\"thread_name\":\"Fuzzed\"}\n";

static char root[600];
static char path[800];
static void *shared;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = fz_make_run_dir("fuzz-codex");
    const char *roots[1] = {root};
    char file[900];
    pd_err err = {0};

    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "%s/sessions", dir);
    snprintf(file, sizeof file, "%s/2026/02/01", root);
    fz_make_dirs(file);
    snprintf(file, sizeof file, "%s/2026/02/01/rollout-2026-02-01T09-00-00-%s.jsonl", root,
             PARENT_UUID);
    fz_write_file(file, (const uint8_t *)parent_rollout, strlen(parent_rollout));
    snprintf(file, sizeof file, "%s/session_index.jsonl", dir);
    fz_write_file(file, (const uint8_t *)index_rows, strlen(index_rows));
    snprintf(path, sizeof path, "%s/2026/02/01/rollout-2026-02-01T10-00-00-%s.jsonl", root,
             FUZZ_UUID);

    if (pd_provider_codex.open_shared(roots, 1, &shared, &err) != PD_OK) {
        fprintf(stderr, "opening the Codex shared state failed: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pd_source_buf src;
    size_t file_len;
    size_t offset = fz_split_offset(data, size, &file_len);
    /* A stored row as a previous sync of a short rollout leaves it. */
    pd_incr_state incr = {
        .offset = (int64_t)offset,
        .next_ordinal = 3,
        .message_count = 3,
        .session_id = "codex:" FUZZ_UUID,
        .last_entry_uuid = NULL,
        .last_claude_message_id = NULL,
        .claude_linear_parse = PD_INT_NULL,
        .first_message = "List the files",
        .session_name = "Fuzzed",
        .agent_label = NULL,
        .entrypoint = NULL,
        .session_kind = NULL,
    };

    fz_source_from_bytes(data, size, &src);
    fz_parse_and_check(&pd_provider_codex, shared, path, root, &src, NULL);
    pd_source_buf_free(&src);

    fz_source_from_bytes(data, file_len, &src);
    fz_parse_and_check(&pd_provider_codex, shared, path, root, &src, &incr);
    pd_source_buf_free(&src);
    return 0;
}
