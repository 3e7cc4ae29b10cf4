/*
 * gen_claude.c -- writes synthetic Claude Code transcripts (one JSONL file
 * per session) in the line shapes of Claude Code 2.1.
 *
 * Entry points: gen_claude_session() for a whole transcript and
 * gen_claude_append_turn() for drift; any thread, each on its own buffer.
 *
 * A session is a file-history-snapshot line, then turns until the file
 * reaches its target size, then a last-prompt line. A turn is a user prompt,
 * zero to four tool calls (an assistant response with the tool_use, then a
 * user line carrying the tool_result, whose text Claude Code also stores in
 * toolUseResult), a final assistant reply that ends the turn, and sometimes
 * a system turn_duration line. In about half of the sessions each assistant
 * response is split over several lines that share message.id and requestId,
 * one content block per line, as Claude Code streams it; the other half keep
 * one line per response, so both the DAG and the linear parse paths run.
 */
#include <string.h>

#include "bench/gen_internal.h"

/* Per-line JSON without content blocks is about this long; used to size text. */
enum { LINE_OVERHEAD = 520, TOOL_OVERHEAD = 1500 };

typedef struct claude_writer {
    gen_buf *b;
    gen_rng *rng;
    const char *session_id;
    const char *cwd; /* NULL: lines carry no cwd */
    const char *model;
    char last_uuid[37];      /* uuid of the last user or assistant line */
    bool has_last;
    bool split_chunks;
    int64_t now_ms;
    char prompt_id[37];
} claude_writer;

static const char *const models[] = {
    "claude-sonnet-4-5-20250929",
    "claude-opus-4-1-20250805",
    "claude-haiku-4-5-20251001",
};

static void advance(claude_writer *w, int64_t lo_ms, int64_t hi_ms)
{
    w->now_ms += gen_rng_range(w->rng, lo_ms, hi_ms);
}

static void put_parent(claude_writer *w)
{
    if (w->has_last) {
        gen_puts(w->b, "{\"parentUuid\":\"");
        gen_puts(w->b, w->last_uuid);
        gen_puts(w->b, "\"");
    } else {
        gen_puts(w->b, "{\"parentUuid\":null");
    }
    gen_puts(w->b, ",\"isSidechain\":false");
}

/* Writes ,"uuid":"…","timestamp":"…" with a fresh uuid that becomes the chain's last. */
static void put_uuid_and_time(claude_writer *w)
{
    gen_make_uuid(w->rng, w->last_uuid);
    w->has_last = true;
    gen_puts(w->b, ",\"uuid\":\"");
    gen_puts(w->b, w->last_uuid);
    gen_puts(w->b, "\",\"timestamp\":\"");
    gen_put_time(w->b, w->now_ms);
    gen_puts(w->b, "\"");
}

static void put_line_tail(claude_writer *w)
{
    gen_puts(w->b, ",\"userType\":\"external\",\"entrypoint\":\"cli\"");
    if (w->cwd != NULL) {
        gen_puts(w->b, ",\"cwd\":\"");
        gen_puts(w->b, w->cwd);
        gen_puts(w->b, "\"");
    }
    gen_puts(w->b, ",\"sessionId\":\"");
    gen_puts(w->b, w->session_id);
    gen_puts(w->b, "\",\"version\":\"2.1.88\",\"gitBranch\":\"main\"}\n");
}

static void put_prompt(claude_writer *w, size_t text_bytes)
{
    advance(w, 5000, 180000);
    gen_make_uuid(w->rng, w->prompt_id);
    put_parent(w);
    gen_puts(w->b, ",\"promptId\":\"");
    gen_puts(w->b, w->prompt_id);
    gen_puts(w->b, "\",\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"");
    /* A capital first letter keeps the prompt from reading as a slash command. */
    gen_puts(w->b, "Please ");
    gen_put_text(w->b, w->rng, text_bytes);
    gen_puts(w->b, "\"}");
    put_uuid_and_time(w);
    gen_puts(w->b, ",\"permissionMode\":\"default\"");
    put_line_tail(w);
}

/* ---- assistant responses ------------------------------------------------- */

typedef enum block_kind { BLOCK_THINKING, BLOCK_TEXT, BLOCK_TOOL_USE } block_kind;

typedef struct block {
    block_kind kind;
    size_t text_bytes;
    const char *tool_name;
    char tool_id[40];
} block;

static const char *const tool_names[] = {"Bash", "Read", "Edit", "Grep", "Glob", "Write"};

static void put_tool_input(claude_writer *w, const block *blk)
{
    gen_buf *b = w->b;
    const char *name = blk->tool_name;
    if (strcmp(name, "Bash") == 0) {
        gen_puts(b, "{\"command\":\"");
        gen_put_plain(b, w->rng, (size_t)gen_rng_range(w->rng, 8, 120));
        gen_puts(b, "\",\"description\":\"");
        gen_put_plain(b, w->rng, (size_t)gen_rng_range(w->rng, 12, 60));
        gen_puts(b, "\"}");
    } else if (strcmp(name, "Grep") == 0) {
        gen_puts(b, "{\"pattern\":\"");
        gen_put_plain(b, w->rng, (size_t)gen_rng_range(w->rng, 4, 24));
        gen_puts(b, "\",\"path\":\"");
        gen_puts(b, w->cwd != NULL ? w->cwd : "/home/user");
        gen_puts(b, "\",\"output_mode\":\"content\"}");
    } else if (strcmp(name, "Glob") == 0) {
        gen_puts(b, "{\"pattern\":\"**/*.");
        gen_puts(b, gen_rng_unit(w->rng) < 0.5 ? "c" : "py");
        gen_puts(b, "\"}");
    } else {
        gen_puts(b, "{\"file_path\":\"");
        gen_puts(b, w->cwd != NULL ? w->cwd : "/home/user");
        gen_puts(b, "/src/file-");
        gen_put_int(b, gen_rng_range(w->rng, 1, 400));
        gen_puts(b, ".c\"");
        if (strcmp(name, "Edit") == 0) {
            gen_puts(b, ",\"old_string\":\"");
            gen_put_text(b, w->rng, (size_t)gen_rng_range(w->rng, 20, 400));
            gen_puts(b, "\",\"new_string\":\"");
            gen_put_text(b, w->rng, (size_t)gen_rng_range(w->rng, 20, 400));
            gen_puts(b, "\"");
        } else if (strcmp(name, "Write") == 0) {
            gen_puts(b, ",\"content\":\"");
            gen_put_text(b, w->rng, (size_t)gen_rng_range(w->rng, 100, 2000));
            gen_puts(b, "\"");
        }
        gen_puts(b, "}");
    }
}

static void put_block(claude_writer *w, const block *blk)
{
    gen_buf *b = w->b;
    switch (blk->kind) {
    case BLOCK_THINKING:
        gen_puts(b, "{\"type\":\"thinking\",\"thinking\":\"");
        gen_put_text(b, w->rng, blk->text_bytes);
        gen_puts(b, "\",\"signature\":\"");
        gen_put_fill(b, 'A', (size_t)gen_rng_range(w->rng, 200, 600));
        gen_puts(b, "\"}");
        break;
    case BLOCK_TEXT:
        gen_puts(b, "{\"type\":\"text\",\"text\":\"");
        gen_put_text(b, w->rng, blk->text_bytes);
        gen_puts(b, "\"}");
        break;
    case BLOCK_TOOL_USE:
        gen_puts(b, "{\"type\":\"tool_use\",\"id\":\"");
        gen_puts(b, blk->tool_id);
        gen_puts(b, "\",\"name\":\"");
        gen_puts(b, blk->tool_name);
        gen_puts(b, "\",\"input\":");
        put_tool_input(w, blk);
        gen_puts(b, "}");
        break;
    }
}

/* Writes the assistant line(s) of one API response; stop_reason on the last. */
static void put_response(claude_writer *w, const block *blocks, size_t n_blocks,
                         const char *stop_reason)
{
    char msg_id[40] = "msg_01";
    char req_id[40] = "req_011";
    gen_buf idb = {0};
    gen_put_hex(&idb, w->rng, 22);
    gen_put_hex(&idb, w->rng, 20);
    if (!idb.failed) {
        memcpy(msg_id + 6, idb.data, 22);
        msg_id[28] = '\0';
        memcpy(req_id + 7, idb.data + 22, 20);
        req_id[27] = '\0';
    }
    gen_buf_free(&idb);

    advance(w, 1500, 40000);
    int64_t input = gen_rng_range(w->rng, 2, 80);
    int64_t cache_create = gen_rng_range(w->rng, 0, 4000);
    int64_t cache_read = gen_rng_range(w->rng, 10000, 160000);
    int64_t output = gen_rng_range(w->rng, 20, 3000);

    size_t per_line = w->split_chunks ? 1 : n_blocks;
    for (size_t first = 0; first < n_blocks; first += per_line) {
        bool is_last = first + per_line >= n_blocks;
        put_parent(w);
        gen_puts(w->b, ",\"message\":{\"id\":\"");
        gen_puts(w->b, msg_id);
        gen_puts(w->b, "\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"");
        gen_puts(w->b, w->model);
        gen_puts(w->b, "\",\"content\":[");
        for (size_t i = first; i < first + per_line && i < n_blocks; i++) {
            if (i > first)
                gen_puts(w->b, ",");
            put_block(w, &blocks[i]);
        }
        gen_puts(w->b, "],\"stop_reason\":");
        if (is_last && stop_reason != NULL) {
            gen_puts(w->b, "\"");
            gen_puts(w->b, stop_reason);
            gen_puts(w->b, "\"");
        } else {
            gen_puts(w->b, "null");
        }
        gen_puts(w->b, ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":");
        gen_put_int(w->b, input);
        gen_puts(w->b, ",\"cache_creation_input_tokens\":");
        gen_put_int(w->b, cache_create);
        gen_puts(w->b, ",\"cache_read_input_tokens\":");
        gen_put_int(w->b, cache_read);
        gen_puts(w->b, ",\"output_tokens\":");
        gen_put_int(w->b, output);
        gen_puts(w->b, ",\"service_tier\":\"standard\"}},\"requestId\":\"");
        gen_puts(w->b, req_id);
        gen_puts(w->b, "\",\"type\":\"assistant\"");
        put_uuid_and_time(w);
        put_line_tail(w);
    }
}

/* The user line that returns a tool's output; the text is stored twice, as Claude Code does. */
static void put_tool_result(claude_writer *w, const block *call, size_t output_bytes)
{
    gen_buf *b = w->b;
    char assistant_uuid[37];
    memcpy(assistant_uuid, w->last_uuid, sizeof assistant_uuid);
    advance(w, 50, 20000);

    put_parent(w);
    gen_puts(b, ",\"promptId\":\"");
    gen_puts(b, w->prompt_id);
    gen_puts(b, "\",\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":[{\"tool_use_id\":\"");
    gen_puts(b, call->tool_id);
    gen_puts(b, "\",\"type\":\"tool_result\",\"content\":\"");
    size_t text_at = b->len;
    gen_put_text(b, w->rng, output_bytes);
    size_t text_len = b->failed ? 0 : b->len - text_at;
    gen_puts(b, "\",\"is_error\":false}]}");
    put_uuid_and_time(w);
    if (strcmp(call->tool_name, "Read") == 0) {
        gen_puts(b, ",\"toolUseResult\":{\"type\":\"text\",\"file\":{\"filePath\":\"");
        gen_puts(b, w->cwd != NULL ? w->cwd : "/home/user");
        gen_puts(b, "/src/file.c\",\"content\":\"");
        gen_put_again(b, text_at, text_len);
        gen_puts(b, "\",\"numLines\":40,\"startLine\":1,\"totalLines\":40}}");
    } else {
        gen_puts(b, ",\"toolUseResult\":{\"stdout\":\"");
        gen_put_again(b, text_at, text_len);
        gen_puts(b, "\",\"stderr\":\"\",\"interrupted\":false,\"isImage\":false}");
    }
    gen_puts(b, ",\"sourceToolAssistantUUID\":\"");
    gen_puts(b, assistant_uuid);
    gen_puts(b, "\"");
    put_line_tail(w);
}

static void put_turn_duration(claude_writer *w, int64_t turn_ms)
{
    /* The system line hangs off the last reply; the next prompt does not chain to it. */
    char keep[37];
    memcpy(keep, w->last_uuid, sizeof keep);
    put_parent(w);
    gen_puts(w->b, ",\"type\":\"system\",\"subtype\":\"turn_duration\",\"durationMs\":");
    gen_put_int(w->b, turn_ms);
    put_uuid_and_time(w);
    gen_puts(w->b, ",\"isMeta\":false");
    put_line_tail(w);
    memcpy(w->last_uuid, keep, sizeof keep);
}

static void make_tool_block(claude_writer *w, block *blk, const char *name)
{
    blk->kind = BLOCK_TOOL_USE;
    blk->text_bytes = 0;
    blk->tool_name = name != NULL ? name : tool_names[gen_rng_next(w->rng) % 6];
    gen_buf idb = {0};
    gen_puts(&idb, "toolu_01");
    gen_put_hex(&idb, w->rng, 24);
    size_t n = idb.failed ? 0 : idb.len;
    memcpy(blk->tool_id, n > 0 ? idb.data : "toolu_01", n > 0 ? n : 8);
    blk->tool_id[n > 0 ? n : 8] = '\0';
    gen_buf_free(&idb);
}

/*
 * Writes one turn that spends about budget bytes. huge_output, when not 0,
 * makes the turn one Bash call whose output line is about that long.
 */
static void put_turn(claude_writer *w, int64_t budget, int64_t huge_output)
{
    int64_t turn_start = w->now_ms;
    int n_tools = 0;
    if (huge_output > 0)
        n_tools = 1;
    else if (budget > 6000)
        n_tools = (int)gen_rng_range(w->rng, 1, 4);
    else if (budget > 3500)
        n_tools = (int)gen_rng_range(w->rng, 0, 1);

    int64_t text = budget - 2 * LINE_OVERHEAD - (int64_t)n_tools * TOOL_OVERHEAD;
    if (text < 120)
        text = 120;
    size_t prompt_bytes = (size_t)(text * 8 / 100 + gen_rng_range(w->rng, 10, 60));
    size_t thinking_bytes = (size_t)(text * 12 / 100 + gen_rng_range(w->rng, 20, 200));
    size_t reply_bytes = (size_t)(text * 10 / 100 + gen_rng_range(w->rng, 20, 200));
    /* Each tool output is written twice (content and toolUseResult). */
    size_t output_bytes = n_tools > 0 ? (size_t)(text * 70 / 100 / n_tools / 2) : 0;

    put_prompt(w, prompt_bytes);
    for (int k = 0; k < n_tools; k++) {
        block blocks[3];
        size_t n = 0;
        if (k == 0 || gen_rng_unit(w->rng) < 0.3)
            blocks[n++] = (block){.kind = BLOCK_THINKING, .text_bytes = thinking_bytes / 2 + 1};
        if (gen_rng_unit(w->rng) < 0.3)
            blocks[n++] = (block){.kind = BLOCK_TEXT, .text_bytes = 40 + reply_bytes / 4};
        make_tool_block(w, &blocks[n], huge_output > 0 ? "Bash" : NULL);
        const block *call = &blocks[n++];
        put_response(w, blocks, n, "tool_use");
        put_tool_result(w, call, huge_output > 0 ? (size_t)huge_output / 2 : output_bytes);
    }

    block final[2];
    size_t n = 0;
    if (n_tools == 0)
        final[n++] = (block){.kind = BLOCK_THINKING, .text_bytes = thinking_bytes};
    final[n++] = (block){.kind = BLOCK_TEXT, .text_bytes = reply_bytes};
    put_response(w, final, n, "end_turn");
    if (gen_rng_unit(w->rng) < 0.5)
        put_turn_duration(w, w->now_ms - turn_start);
}

void gen_claude_session(gen_buf *b, gen_session *s)
{
    claude_writer w = {
        .b = b,
        .rng = &s->rng,
        .session_id = s->id,
        .cwd = s->cwd,
        .model = models[gen_rng_next(&s->rng) % 3],
        .split_chunks = gen_rng_unit(&s->rng) < 0.5,
        .now_ms = s->start_ms,
    };

    char snapshot_id[37];
    gen_make_uuid(w.rng, snapshot_id);
    gen_puts(b, "{\"type\":\"file-history-snapshot\",\"messageId\":\"");
    gen_puts(b, snapshot_id);
    gen_puts(b, "\",\"snapshot\":{\"messageId\":\"");
    gen_puts(b, snapshot_id);
    gen_puts(b, "\",\"trackedFileBackups\":{},\"timestamp\":\"");
    gen_put_time(b, w.now_ms);
    gen_puts(b, "\"},\"isSnapshotUpdate\":false}\n");

    /* Turns of about 10 KB each, so big sessions have many turns, not giant ones. */
    int64_t n_turns = s->target_bytes / 10000;
    if (n_turns < 1)
        n_turns = 1;
    int64_t budget = s->target_bytes / n_turns;
    int64_t huge_at = s->huge_bytes > 0 ? gen_rng_range(w.rng, 0, n_turns - 1) : -1;
    int64_t turn = 0;
    while (!b->failed) {
        if (turn == huge_at)
            put_turn(&w, budget, s->huge_bytes);
        put_turn(&w, budget, 0);
        turn++;
        if ((int64_t)b->len >= s->target_bytes - 300 && turn > huge_at)
            break;
    }

    gen_puts(b, "{\"type\":\"last-prompt\",\"lastPrompt\":\"Please ");
    gen_put_plain(b, w.rng, 24);
    gen_puts(b, "\",\"sessionId\":\"");
    gen_puts(b, s->id);
    gen_puts(b, "\"}\n");
}

void gen_claude_append_turn(gen_buf *b, gen_rng *rng, const char *session_id,
                            const char *parent_uuid, int64_t unix_ms)
{
    claude_writer w = {
        .b = b,
        .rng = rng,
        .session_id = session_id,
        .cwd = NULL,
        .model = models[0],
        .now_ms = unix_ms,
    };
    if (parent_uuid != NULL && strlen(parent_uuid) < sizeof w.last_uuid) {
        strcpy(w.last_uuid, parent_uuid);
        w.has_last = true;
    }
    put_turn(&w, 2000, 0);
}
