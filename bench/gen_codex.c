/*
 * gen_codex.c -- writes synthetic Codex CLI rollouts in the
 * {timestamp, type, payload} envelope of Codex 0.4x-0.11x.
 *
 * Entry points: gen_codex_session() for a whole rollout and
 * gen_codex_append_turn() for drift; any thread, each on its own buffer.
 *
 * A rollout is a session_meta line and an <environment_context> user item,
 * then turns until the file reaches its target size. A turn is
 * task_started, turn_context, the user message (as a response_item and as
 * an event_msg), zero to four tool calls (agent_reasoning, an encrypted
 * reasoning item, function_call, token_count, function_call_output), the
 * assistant reply (response_item and agent_message), a token_count and
 * task_complete.
 */
#include <string.h>

#include "bench/gen_internal.h"

enum { TURN_OVERHEAD = 2400, TOOL_OVERHEAD = 1400 };

typedef struct codex_writer {
    gen_buf *b;
    gen_rng *rng;
    const char *cwd; /* NULL in appended turns */
    const char *model;
    int64_t now_ms;
    int64_t total_input;
    int64_t total_cached;
    int64_t total_output;
} codex_writer;

static const char *const models[] = {"gpt-5-codex", "gpt-5.1-codex", "gpt-5.4"};

static void begin_line(codex_writer *w, const char *type, int64_t lo_ms, int64_t hi_ms)
{
    w->now_ms += gen_rng_range(w->rng, lo_ms, hi_ms);
    gen_puts(w->b, "{\"timestamp\":\"");
    gen_put_time(w->b, w->now_ms);
    gen_puts(w->b, "\",\"type\":\"");
    gen_puts(w->b, type);
    gen_puts(w->b, "\",\"payload\":{");
}

static void end_line(codex_writer *w)
{
    gen_puts(w->b, "}}\n");
}

static void put_message(codex_writer *w, const char *role, const char *block_type,
                        const char *prefix, size_t text_bytes)
{
    begin_line(w, "response_item", 1, 3000);
    gen_puts(w->b, "\"type\":\"message\",\"role\":\"");
    gen_puts(w->b, role);
    gen_puts(w->b, "\",\"content\":[{\"type\":\"");
    gen_puts(w->b, block_type);
    gen_puts(w->b, "\",\"text\":\"");
    gen_puts(w->b, prefix);
    gen_put_text(w->b, w->rng, text_bytes);
    gen_puts(w->b, "\"}]");
    end_line(w);
}

static void put_token_count(codex_writer *w)
{
    int64_t input = gen_rng_range(w->rng, 4000, 120000);
    int64_t cached = gen_rng_range(w->rng, 0, input);
    int64_t output = gen_rng_range(w->rng, 10, 4000);
    int64_t reasoning = gen_rng_range(w->rng, 0, output);
    w->total_input += input;
    w->total_cached += cached;
    w->total_output += output;

    begin_line(w, "event_msg", 1, 400);
    gen_puts(w->b, "\"type\":\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":");
    gen_put_int(w->b, w->total_input);
    gen_puts(w->b, ",\"cached_input_tokens\":");
    gen_put_int(w->b, w->total_cached);
    gen_puts(w->b, ",\"output_tokens\":");
    gen_put_int(w->b, w->total_output);
    gen_puts(w->b, ",\"reasoning_output_tokens\":0,\"total_tokens\":");
    gen_put_int(w->b, w->total_input + w->total_output);
    gen_puts(w->b, "},\"last_token_usage\":{\"input_tokens\":");
    gen_put_int(w->b, input);
    gen_puts(w->b, ",\"cached_input_tokens\":");
    gen_put_int(w->b, cached);
    gen_puts(w->b, ",\"output_tokens\":");
    gen_put_int(w->b, output);
    gen_puts(w->b, ",\"reasoning_output_tokens\":");
    gen_put_int(w->b, reasoning);
    gen_puts(w->b, ",\"total_tokens\":");
    gen_put_int(w->b, input + output);
    gen_puts(w->b, "},\"model_context_window\":272000},\"rate_limits\":null");
    end_line(w);
}

static void put_tool_call(codex_writer *w, size_t reasoning_bytes, size_t output_bytes)
{
    char call_id[40] = "call_";
    gen_buf idb = {0};
    gen_put_hex(&idb, w->rng, 24);
    if (!idb.failed) {
        memcpy(call_id + 5, idb.data, 24);
        call_id[29] = '\0';
    }
    gen_buf_free(&idb);

    begin_line(w, "event_msg", 500, 20000);
    gen_puts(w->b, "\"type\":\"agent_reasoning\",\"text\":\"**");
    gen_put_plain(w->b, w->rng, 24);
    gen_puts(w->b, "**\\n\\n");
    gen_put_text(w->b, w->rng, reasoning_bytes);
    gen_puts(w->b, "\"");
    end_line(w);

    begin_line(w, "response_item", 0, 5);
    gen_puts(w->b, "\"type\":\"reasoning\",\"summary\":[],\"content\":null,"
                   "\"encrypted_content\":\"gAAAAA");
    gen_put_fill(w->b, 'A', (size_t)gen_rng_range(w->rng, 400, 2400));
    gen_puts(w->b, "\"");
    end_line(w);

    bool is_patch = gen_rng_unit(w->rng) < 0.15;
    begin_line(w, "response_item", 0, 5);
    if (is_patch) {
        gen_puts(w->b, "\"type\":\"custom_tool_call\",\"status\":\"completed\",\"call_id\":\"");
        gen_puts(w->b, call_id);
        gen_puts(w->b, "\",\"name\":\"apply_patch\",\"input\":\"*** Begin Patch\\n*** Update "
                       "File: src/file-");
        gen_put_int(w->b, gen_rng_range(w->rng, 1, 400));
        gen_puts(w->b, ".py\\n@@\\n-");
        gen_put_plain(w->b, w->rng, (size_t)gen_rng_range(w->rng, 20, 200));
        gen_puts(w->b, "\\n+");
        gen_put_plain(w->b, w->rng, (size_t)gen_rng_range(w->rng, 20, 200));
        gen_puts(w->b, "\\n*** End Patch\\n\"");
    } else {
        /* arguments is a JSON document inside a JSON string, so its quotes are escaped. */
        gen_puts(w->b, "\"type\":\"function_call\",\"name\":\"shell\",\"arguments\":"
                       "\"{\\\"command\\\":[\\\"bash\\\",\\\"-lc\\\",\\\"");
        gen_put_plain(w->b, w->rng, (size_t)gen_rng_range(w->rng, 8, 160));
        gen_puts(w->b, "\\\"],\\\"workdir\\\":\\\"");
        gen_puts(w->b, w->cwd != NULL ? w->cwd : "/home/user");
        gen_puts(w->b, "\\\",\\\"timeout_ms\\\":120000}\",\"call_id\":\"");
        gen_puts(w->b, call_id);
        gen_puts(w->b, "\"");
    }
    end_line(w);

    put_token_count(w);

    begin_line(w, "response_item", 100, 30000);
    gen_puts(w->b, is_patch ? "\"type\":\"custom_tool_call_output\",\"call_id\":\""
                            : "\"type\":\"function_call_output\",\"call_id\":\"");
    gen_puts(w->b, call_id);
    gen_puts(w->b, "\",\"output\":\"Exit code: 0\\nWall time: 0.4 seconds\\nOutput:\\n");
    gen_put_text(w->b, w->rng, output_bytes);
    gen_puts(w->b, "\"");
    end_line(w);
}

/* Writes one turn of about budget bytes; huge_output, when not 0, is one call's output size. */
static void put_turn(codex_writer *w, int64_t budget, int64_t huge_output)
{
    char turn_id[37];
    gen_make_uuid(w->rng, turn_id);
    int n_tools = 0;
    if (huge_output > 0)
        n_tools = 1;
    else if (budget > 7000)
        n_tools = (int)gen_rng_range(w->rng, 1, 4);
    else if (budget > 4500)
        n_tools = (int)gen_rng_range(w->rng, 0, 1);

    int64_t text = budget - TURN_OVERHEAD - (int64_t)n_tools * TOOL_OVERHEAD;
    if (text < 120)
        text = 120;
    /* The prompt and the reply are each stored twice (response_item and event_msg). */
    size_t prompt_bytes = (size_t)(text * 5 / 100 + gen_rng_range(w->rng, 10, 60));
    size_t reply_bytes = (size_t)(text * 6 / 100 + gen_rng_range(w->rng, 20, 200));
    size_t reasoning_bytes = n_tools > 0 ? (size_t)(text * 14 / 100 / n_tools) : 0;
    size_t output_bytes = n_tools > 0 ? (size_t)(text * 64 / 100 / n_tools) : 0;
    if (huge_output > 0)
        output_bytes = (size_t)huge_output;

    begin_line(w, "event_msg", 5000, 180000);
    gen_puts(w->b, "\"type\":\"task_started\",\"turn_id\":\"");
    gen_puts(w->b, turn_id);
    gen_puts(w->b, "\",\"model_context_window\":272000");
    end_line(w);

    begin_line(w, "turn_context", 0, 3);
    gen_puts(w->b, "\"turn_id\":\"");
    gen_puts(w->b, turn_id);
    gen_puts(w->b, "\",\"cwd\":\"");
    gen_puts(w->b, w->cwd != NULL ? w->cwd : "/home/user");
    gen_puts(w->b, "\",\"approval_policy\":\"on-request\",\"sandbox_policy\":{\"type\":"
                   "\"workspace-write\",\"network_access\":false,\"exclude_tmpdir_env_var\":"
                   "false,\"exclude_slash_tmp\":false},\"model\":\"");
    gen_puts(w->b, w->model);
    gen_puts(w->b, "\",\"effort\":\"medium\",\"summary\":\"auto\"");
    end_line(w);

    put_message(w, "user", "input_text", "Please ", prompt_bytes);
    begin_line(w, "event_msg", 0, 2);
    gen_puts(w->b, "\"type\":\"user_message\",\"message\":\"Please ");
    gen_put_text(w->b, w->rng, prompt_bytes);
    gen_puts(w->b, "\",\"images\":[]");
    end_line(w);

    for (int k = 0; k < n_tools; k++)
        put_tool_call(w, reasoning_bytes, output_bytes);

    begin_line(w, "event_msg", 500, 30000);
    gen_puts(w->b, "\"type\":\"agent_message\",\"message\":\"");
    size_t reply_at = w->b->len;
    gen_put_text(w->b, w->rng, reply_bytes);
    size_t reply_len = w->b->failed ? 0 : w->b->len - reply_at;
    gen_puts(w->b, "\"");
    end_line(w);

    begin_line(w, "response_item", 0, 3);
    gen_puts(w->b, "\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
                   "\"output_text\",\"text\":\"");
    gen_put_again(w->b, reply_at, reply_len);
    gen_puts(w->b, "\"}]");
    end_line(w);

    put_token_count(w);

    begin_line(w, "event_msg", 1, 300);
    gen_puts(w->b, "\"type\":\"task_complete\",\"turn_id\":\"");
    gen_puts(w->b, turn_id);
    gen_puts(w->b, "\",\"last_agent_message\":\"");
    gen_put_plain(w->b, w->rng, 40);
    gen_puts(w->b, "\"");
    end_line(w);
}

void gen_codex_session(gen_buf *b, gen_session *s)
{
    codex_writer w = {
        .b = b,
        .rng = &s->rng,
        .cwd = s->cwd,
        .model = models[gen_rng_next(&s->rng) % 3],
        .now_ms = s->start_ms,
    };

    begin_line(&w, "session_meta", 0, 0);
    gen_puts(b, "\"id\":\"");
    gen_puts(b, s->id);
    gen_puts(b, "\",\"timestamp\":\"");
    gen_put_time(b, w.now_ms);
    gen_puts(b, "\",\"cwd\":\"");
    gen_puts(b, s->cwd);
    gen_puts(b, "\",\"originator\":\"codex_cli_rs\",\"cli_version\":\"0.46.0\","
                "\"instructions\":null,\"source\":\"cli\",\"model_provider\":\"openai\","
                "\"git\":{\"commit_hash\":\"");
    gen_put_hex(b, w.rng, 40);
    gen_puts(b, "\",\"branch\":\"main\",\"repository_url\":\"git@git.example.org:team/project-");
    gen_put_int(b, s->project);
    gen_puts(b, ".git\"}");
    end_line(&w);

    begin_line(&w, "response_item", 5, 200);
    gen_puts(b, "\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\","
                "\"text\":\"<environment_context>\\n  <cwd>");
    gen_puts(b, s->cwd);
    gen_puts(b, "</cwd>\\n  <approval_policy>on-request</approval_policy>\\n  <sandbox_mode>"
                "workspace-write</sandbox_mode>\\n  <network_access>restricted</network_access>"
                "\\n  <shell>bash</shell>\\n</environment_context>\"}]");
    end_line(&w);

    int64_t n_turns = s->target_bytes / 12000;
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
}

void gen_codex_append_turn(gen_buf *b, gen_rng *rng, int64_t unix_ms)
{
    codex_writer w = {.b = b, .rng = rng, .model = models[0], .now_ms = unix_ms};
    put_turn(&w, 3000, 0);
}
