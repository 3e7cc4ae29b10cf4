/*
 * fuzz_codex_index.c -- libFuzzer target for the Codex title index
 * (session_index.jsonl) loader.
 *
 * Each input is written as the session_index.jsonl beside a sessions root
 * that contains one small rollout. The target then opens the provider's shared
 * state on that root, as every run does, parses the rollout fully and
 * incrementally (both read the title from the index), looks titles up
 * directly, and closes the shared state again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz_support.h"
#include "parsers/codex.h"
#include "parsers/jsonl.h"
#include "parsers/provider.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROLLOUT_UUID "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"

/* The first two lines are the stored prefix of the incremental parse. */
static const char rollout_prefix[] =
    "{\"timestamp\":\"2026-02-01T09:00:00.000Z\",\"type\":\"session_meta\",\"payload\":"
    "{\"id\":\"" ROLLOUT_UUID "\",\"timestamp\":\"2026-02-01T09:00:00.000Z\","
    "\"cwd\":\"/home/fuzz/src/app\",\"originator\":\"codex_cli_rs\",\"cli_version\":\"0.60.0\"}}\n"
    "{\"timestamp\":\"2026-02-01T09:00:01.000Z\",\"type\":\"response_item\",\"payload\":"
    "{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
    "\"text\":\"List the files\"}]}}\n";
static const char rollout_tail[] =
    "{\"timestamp\":\"2026-02-01T09:00:02.000Z\",\"type\":\"response_item\",\"payload\":"
    "{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
    "\"text\":\"Done.\"}]}}\n";

static char root[600];
static char index_path[700];
static char rollout_path[800];
static pd_source_buf rollout;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = fz_make_run_dir("fuzz-codex-index");
    char dated[700];
    char text[sizeof rollout_prefix + sizeof rollout_tail];
    pd_err err = {0};

    (void)argc;
    (void)argv;
    snprintf(root, sizeof root, "%s/sessions", dir);
    snprintf(index_path, sizeof index_path, "%s/session_index.jsonl", dir);
    snprintf(dated, sizeof dated, "%s/2026/02/01", root);
    fz_make_dirs(dated);
    snprintf(rollout_path, sizeof rollout_path, "%s/rollout-2026-02-01T09-00-00-%s.jsonl", dated,
             ROLLOUT_UUID);
    snprintf(text, sizeof text, "%s%s", rollout_prefix, rollout_tail);
    fz_write_file(rollout_path, (const uint8_t *)text, strlen(text));

    if (pd_source_read(rollout_path, -1, &rollout, &err) != PD_OK) {
        fprintf(stderr, "reading the rollout failed: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *roots[1] = {root};
    void *shared = NULL;
    pd_err err = {0};
    const char *title = NULL;
    bool present = false;
    int rc;
    /* The stored row after a sync of the two-line prefix under another title. */
    pd_incr_state incr = {
        .offset = (int64_t)strlen(rollout_prefix),
        .next_ordinal = 1,
        .message_count = 1,
        .session_id = "codex:" ROLLOUT_UUID,
        .claude_linear_parse = PD_INT_NULL,
        .first_message = "List the files",
        .session_name = "Stored title",
    };

    fz_write_file(index_path, data, size);

    rc = pd_provider_codex.open_shared(roots, 1, &shared, &err);
    if (rc != PD_OK) {
        /* A bad index must not stop the run: only resource errors may fail here. */
        FZ_CHECK(rc == PD_ENOMEM);
        return 0;
    }

    fz_parse_and_check(&pd_provider_codex, shared, rollout_path, root, &rollout, NULL);
    fz_parse_and_check(&pd_provider_codex, shared, rollout_path, root, &rollout, &incr);

    rc = pd_codex_index_title(shared, ROLLOUT_UUID, &title, &present);
    FZ_CHECK(rc == PD_OK || rc == PD_EIO);
    if (rc == PD_OK && present)
        FZ_CHECK(title != NULL);
    rc = pd_codex_index_title(shared, "00000000-0000-0000-0000-000000000000", &title, &present);
    FZ_CHECK(rc == PD_OK || rc == PD_EIO);
    FZ_CHECK(pd_codex_index_mtime(shared) >= 0);
    (void)pd_provider_codex.effective_mtime(shared, rollout_path, rollout.mtime_ns);

    pd_provider_codex.close_shared(shared);
    return 0;
}
