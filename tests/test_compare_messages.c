/*
 * test_compare_messages.c -- comparator tests for the message fingerprints
 * and the per-message attribution.
 *
 * Each row of message_cases changes one message or tool-call column of the
 * fixture session and states the one diff the comparator must emit. Other
 * tests pin the fingerprint serialisation byte for byte and drive the
 * attribution step directly (through compare_internal.h) for the cases that
 * only arise when a fingerprint is not consulted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/model.h"
#include "engine/compare.h"
#include "engine/compare_internal.h"
#include "engine/diffreport.h"
#include "test_compare_fixture.h"

/* XXH3-128 of "" and "abc", the fingerprints' row hash. */
#define HASH_EMPTY "99aa06d3014798d86001c324468d497f"
#define HASH_ABC "06b05ab6733a618578af5f94892f3950"
#define FALLBACK_PREFIX                                                                            \
    " fingerprint differs, but no field of the messages paired by ordinal explains it: "
#define FALLBACK_SUFFIX                                                                            \
    FALLBACK_PREFIX "every message pairs up by ordinal, and the fingerprint reads a column the "   \
                    "per-message comparison finds equal, such as a token presence flag"

/* ---- one message column changed at a time ---- */

typedef void (*mutate_fn)(pd_arena *a, pd_session *stored, pd_session *parsed);

typedef struct message_case {
    const char *name;
    mutate_fn mutate;
    const char *field; /* NULL: no diff expected */
    const char *stored;
    const char *parsed;
    const char *detail;
} message_case;

static pd_message *msg(pd_session *s, size_t i)
{
    return &s->messages[i];
}

static pd_tool_call *call(pd_session *s)
{
    return &s->messages[1].tool_calls[0];
}

static void model_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->model = fx_str(a, "model-b");
}

static void model_m0_gains_value(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 0)->model = fx_str(a, "model-z");
}

static void model_sanitised_equal(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    msg(stored, 1)->model = fx_str(a, "model-a\x01");
}

static void context_m1_grows(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 1)->context_tokens = 110;
}

static void usage_m2_payload_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 2)->token_usage = fx_str(a, "{\"input_tokens\":300,\"output_tokens\":8}");
}

static void output_flag_m0_set(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 0)->has_output_tokens = true;
}

static void content_m0_grows(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 0)->content = fx_str(a, "fix the build!");
    msg(parsed, 0)->content_length = 14;
}

static void content_m2_same_length(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 2)->content = fx_str(a, "Fixed!");
}

/* A hand edit of the stored text that left its content_length column as it was. */
static void content_m2_stored_text_edited(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    msg(stored, 2)->content = fx_str(a, "Tampered text");
}

static void content_length_m1_only(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 1)->content_length = 18;
}

static void content_sanitised_equal(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    /* content_length stays 6 on both sides; the invalid byte is removed. */
    msg(stored, 2)->content = fx_str(a, "Fixed.\xff");
}

/* A stored invalid byte is no hand edit: the column counts the sanitised text. */
static void content_m2_differs_with_invalid_byte(pd_arena *a, pd_session *stored,
                                                 pd_session *parsed)
{
    msg(stored, 2)->content = fx_str(a, "Fixed.\xff");
    msg(parsed, 2)->content = fx_str(a, "Fixed!");
}

static void role_m0_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 0)->role = fx_str(a, "assistant");
}

static void role_m0_needs_quoting(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 0)->role = fx_str(a, "us\"er\tné\\");
}

static void timestamp_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->timestamp = fx_str(a, "2024-01-01T10:01:30Z");
}

static void timestamp_m0_stored_null(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)parsed;
    msg(stored, 0)->timestamp = NULL;
}

static void timestamp_m0_null_vs_empty(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    msg(stored, 0)->timestamp = NULL;
    msg(parsed, 0)->timestamp = fx_str(a, "");
}

static void timestamp_m1_raw_control(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    msg(stored, 1)->timestamp = fx_str(a, "2024-01-01T10:01:00Z\x01");
}

static void sidechain_m2_set(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 2)->is_sidechain = true;
}

static void compact_boundary_m2_set(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 2)->is_compact_boundary = true;
}

static void is_system_m0_set(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 0)->is_system = true;
}

static void has_thinking_m1_cleared(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 1)->has_thinking = false;
}

static void has_tool_use_m0_set(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    msg(parsed, 0)->has_tool_use = true;
}

static void thinking_text_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->thinking_text = fx_str(a, "need to look again");
}

static void source_type_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->source_type = fx_str(a, "progress");
}

static void source_subtype_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->source_subtype = fx_str(a, "tool");
}

static void prompt_source_m0_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 0)->prompt_source = fx_str(a, "pasted");
}

static void source_uuid_m2_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 2)->source_uuid = fx_str(a, "u-22");
}

static void source_parent_uuid_m2_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 2)->source_parent_uuid = fx_str(a, "u-0");
}

static void claude_message_id_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->claude_message_id = fx_str(a, "msg_9");
}

static void claude_request_id_m1_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    msg(parsed, 1)->claude_request_id = fx_str(a, "req_9");
}

/* The same bytes split differently between the two ids, across a '|'. */
static void claude_ids_m1_shift_across_bar(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    msg(stored, 1)->claude_message_id = fx_str(a, "msg_1|x");
    msg(stored, 1)->claude_request_id = fx_str(a, "req_1");
    msg(parsed, 1)->claude_message_id = fx_str(a, "msg_1");
    msg(parsed, 1)->claude_request_id = fx_str(a, "x|req_1");
}

static void tool_name_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->tool_name = fx_str(a, "Bash");
}

static void tool_category_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->category = fx_str(a, "Shell");
}

static void tool_use_id_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->tool_use_id = fx_str(a, "toolu_2");
}

static void tool_input_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->input_json = fx_str(a, "{\"file_path\":\"/home/dev/proj/util.c\"}");
}

static void tool_skill_gains_value(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->skill_name = fx_str(a, "pdf");
}

static void tool_subagent_gains_value(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->subagent_session_id = fx_str(a, "agent-7");
}

static void tool_result_length_grows(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    call(parsed)->result_content_length = 250;
}

static void tool_result_length_null_vs_zero(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a;
    call(stored)->result_content_length = PD_INT_NULL;
    call(parsed)->result_content_length = 0;
}

static void tool_file_path_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    call(parsed)->file_path = fx_str(a, "/home/dev/proj/util.c");
}

static void tool_call_added_to_m1(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    pd_message *m = msg(parsed, 1);
    pd_tool_call *calls = fx_calloc(a, 2, sizeof *calls);
    calls[0] = m->tool_calls[0];
    calls[1] = m->tool_calls[0];
    calls[1].tool_use_id = fx_str(a, "toolu_2");
    calls[1].call_index = 1;
    m->tool_calls = calls;
    m->n_tool_calls = 2;
}

static void tool_call_added_to_m2(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    pd_message *m = msg(parsed, 2);
    m->tool_calls = fx_calloc(a, 1, sizeof *m->tool_calls);
    m->tool_calls[0] = msg(parsed, 1)->tool_calls[0];
    m->n_tool_calls = 1;
}

static void uncompared_columns_change(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    /* The result body, call_index, result events, stop_reason and the parser's
     * tool results are not compared. */
    call(parsed)->result_content = fx_str(a, "file body");
    call(parsed)->call_index = 4;
    call(parsed)->events = fx_calloc(a, 1, sizeof(pd_tool_result_event));
    call(parsed)->events[0].content = fx_str(a, "event body");
    call(parsed)->n_events = 1;
    msg(parsed, 2)->stop_reason = fx_str(a, "end_turn");
    msg(parsed, 0)->tool_results = fx_calloc(a, 1, sizeof(pd_tool_result));
    msg(parsed, 0)->n_tool_results = 1;
}

static const message_case message_cases[] = {
    {"models drift names sets", model_m1_changes, "models", "(none), model-a",
     "(none), model-a, model-b", "1/3 messages differ; first at ordinal 1: model-a -> model-b"},
    {"models drift from empty renders null", model_m0_gains_value, "models", "(none), model-a",
     "model-a, model-z", "1/3 messages differ; first at ordinal 0: (null) -> model-z"},
    {"models compared sanitised", model_sanitised_equal, NULL, NULL, NULL, NULL},
    {"message_tokens context drift", context_m1_grows, "message_tokens",
     "context=100 output=5 usage_bytes=38", "context=110 output=5 usage_bytes=38",
     "1/3 messages differ; first at ordinal 1"},
    {"message_tokens payload drift", usage_m2_payload_changes, "message_tokens",
     "context=300 output=7 usage_bytes=38", "context=300 output=7 usage_bytes=38",
     "1/3 messages differ; first at ordinal 2 (usage JSON differs at equal length)"},
    {"message_tokens presence flag flip", output_flag_m0_set, "message_tokens",
     "context=absent output=absent usage_bytes=0", "context=absent output=0 usage_bytes=0",
     "1/3 messages differ; first at ordinal 0"},
    {"message_content length drift", content_m0_grows, "message_content", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 0: 13 -> 14 bytes"},
    {"message_content equal length body", content_m2_same_length, "message_content", "see detail",
     "see detail",
     "1/3 messages differ; first at ordinal 2: body differs at equal length (6 bytes)"},
    {"message_content stored text edited", content_m2_stored_text_edited, "message_content",
     "see detail", "see detail",
     "1/3 messages differ; first at ordinal 2: body differs; the stored text is 13 bytes where "
     "its content_length says 6, and the parsed text is 6 bytes"},
    {"message_content length column only", content_length_m1_only, "message_content", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: 17 -> 18 bytes"},
    {"message_content compared sanitised", content_sanitised_equal, NULL, NULL, NULL, NULL},
    {"message_content invalid byte not an edit", content_m2_differs_with_invalid_byte,
     "message_content", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 2: body differs at equal length (6 bytes)"},
    {"metadata role drift", role_m0_changes, "message_metadata", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 0: role \"user\" -> \"assistant\""},
    {"metadata role quoted with escapes", role_m0_needs_quoting, "message_metadata", "see detail",
     "see detail",
     "1/3 messages differ; first at ordinal 0: role \"user\" -> \"us\\\"er\\tné\\\\\""},
    {"metadata timestamp drift", timestamp_m1_changes, "message_metadata", "see detail",
     "see detail",
     "1/3 messages differ; first at ordinal 1: timestamp \"2024-01-01T10:01:00Z\" -> "
     "\"2024-01-01T10:01:30Z\""},
    {"metadata timestamp null stored", timestamp_m0_stored_null, "message_metadata", "see detail",
     "see detail",
     "1/3 messages differ; first at ordinal 0: timestamp \"\" -> \"2024-01-01T10:00:00Z\""},
    {"metadata timestamp null vs empty equal", timestamp_m0_null_vs_empty, NULL, NULL, NULL, NULL},
    {"metadata timestamp compared raw", timestamp_m1_raw_control, "message_metadata", "see detail",
     "see detail",
     "1/3 messages differ; first at ordinal 1: timestamp \"2024-01-01T10:01:00Z\\x01\" -> "
     "\"2024-01-01T10:01:00Z\""},
    {"metadata is_sidechain flip", sidechain_m2_set, "message_metadata", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 2: is_sidechain false -> true"},
    {"metadata is_compact_boundary flip", compact_boundary_m2_set, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 2: is_compact_boundary false -> true"},
    {"metadata is_system flip", is_system_m0_set, "message_metadata", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 0: is_system false -> true"},
    {"metadata has_thinking flip", has_thinking_m1_cleared, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: has_thinking true -> false"},
    {"metadata has_tool_use flip", has_tool_use_m0_set, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 0: has_tool_use false -> true"},
    {"metadata thinking_text drift", thinking_text_m1_changes, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: thinking_text differs"},
    {"metadata source_type drift", source_type_m1_changes, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: source_type differs"},
    {"metadata source_subtype drift", source_subtype_m1_changes, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: source_subtype differs"},
    {"metadata prompt_source drift", prompt_source_m0_changes, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 0: prompt_source differs"},
    {"metadata source_uuid drift", source_uuid_m2_changes, "message_metadata", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 2: source_uuid differs"},
    {"metadata source_parent_uuid drift", source_parent_uuid_m2_changes, "message_metadata",
     "see detail", "see detail",
     "1/3 messages differ; first at ordinal 2: source_parent_uuid differs"},
    {"metadata claude_message_id drift", claude_message_id_m1_changes, "message_metadata",
     "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: claude_message_id differs"},
    {"metadata claude_request_id drift", claude_request_id_m1_changes, "message_metadata",
     "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: claude_request_id differs"},
    {"metadata claude ids shifted across a bar", claude_ids_m1_shift_across_bar, "message_metadata",
     "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: claude_message_id differs"},
    {"tool_calls tool_name drift", tool_name_changes, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: tool_name \"Read\" -> \"Bash\""},
    {"tool_calls category drift", tool_category_changes, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: category \"Read\" -> \"Shell\""},
    {"tool_calls tool_use_id drift", tool_use_id_changes, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: tool_use_id differs"},
    {"tool_calls input_json drift", tool_input_changes, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: input_json differs"},
    {"tool_calls skill_name drift", tool_skill_gains_value, "tool_calls", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: skill_name \"\" -> \"pdf\""},
    {"tool_calls subagent drift", tool_subagent_gains_value, "tool_calls", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: subagent_session_id differs"},
    {"tool_calls result length drift", tool_result_length_grows, "tool_calls", "see detail",
     "see detail", "1/3 messages differ; first at ordinal 1: result_content_length 100 -> 250"},
    {"tool_calls result length null is zero", tool_result_length_null_vs_zero, NULL, NULL, NULL,
     NULL},
    {"tool_calls file_path drift", tool_file_path_changes, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: file_path \"/home/dev/proj/main.c\" -> "
     "\"/home/dev/proj/util.c\""},
    {"tool_calls count grows", tool_call_added_to_m1, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 1: tool_call count 1 -> 2"},
    {"tool_calls count from zero", tool_call_added_to_m2, "tool_calls", "see detail", "see detail",
     "1/3 messages differ; first at ordinal 2: tool_call count 0 -> 1"},
    {"uncompared message columns no diff", uncompared_columns_change, NULL, NULL, NULL, NULL},
};

#define N_MESSAGE_CASES (sizeof message_cases / sizeof message_cases[0])

typedef struct case_state {
    const message_case *mc;
    pd_arena *arena;
} case_state;

static int case_setup(void **state)
{
    case_state *cs = malloc(sizeof *cs);
    if (cs == NULL)
        return -1;
    cs->mc = *state;
    cs->arena = pd_arena_new();
    if (cs->arena == NULL) {
        free(cs);
        return -1;
    }
    *state = cs;
    return 0;
}

static int case_teardown(void **state)
{
    case_state *cs = *state;
    pd_arena_free(cs->arena);
    free(cs);
    return 0;
}

static void run_message_case(void **state)
{
    const case_state *cs = *state;
    const message_case *mc = cs->mc;
    pd_arena *a = cs->arena;

    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    mc->mutate(a, stored, parsed);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);
    if (mc->field == NULL) {
        assert_int_equal(diffs.n, 0);
        return;
    }
    assert_int_equal(diffs.n, 1);
    const pd_field_diff *d = &diffs.items[0];
    assert_string_equal(d->field, mc->field);
    assert_string_equal(d->stored, mc->stored);
    assert_string_equal(d->parsed, mc->parsed);
    assert_string_equal(d->detail, mc->detail);
    /* Message diffs are never informational, whatever the agent. */
    assert_false(d->informational);
}

/* ---- attribution across several messages ---- */

static void models_drift_two_of_three(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 3);
    for (size_t i = 0; i < 3; i++)
        stored->messages[i].model = fx_str(a, "model-a");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[1].model = fx_str(a, "model-b");
    parsed->messages[2].model = fx_str(a, "model-b");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "models");
    assert_string_equal(diffs.items[0].stored, "model-a");
    assert_string_equal(diffs.items[0].parsed, "model-a, model-b");
    assert_string_equal(diffs.items[0].detail,
                        "2/3 messages differ; first at ordinal 1: model-a -> model-b");
}

static void message_tokens_single_message_context(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 1);
    pd_message *m = &stored->messages[0];
    m->context_tokens = 100;
    m->output_tokens = 5;
    m->has_context_tokens = true;
    m->has_output_tokens = true;
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].context_tokens = 110;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_tokens");
    assert_string_equal(diffs.items[0].stored, "context=100 output=5 usage_bytes=0");
    assert_string_equal(diffs.items[0].parsed, "context=110 output=5 usage_bytes=0");
    assert_string_equal(diffs.items[0].detail, "1/1 messages differ; first at ordinal 0");
}

static void message_tokens_flag_flip_renders_absent(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 1);
    stored->messages[0].has_output_tokens = true;
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].has_output_tokens = false;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_tokens");
    assert_string_equal(diffs.items[0].stored, "context=absent output=0 usage_bytes=0");
    assert_string_equal(diffs.items[0].parsed, "context=absent output=absent usage_bytes=0");
}

static void message_tokens_invalid_payload_uses_flags(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 1);
    stored->messages[0].token_usage = fx_str(a, "not json");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].has_context_tokens = true;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_tokens");
    assert_string_equal(diffs.items[0].stored, "context=absent output=absent usage_bytes=8");
    assert_string_equal(diffs.items[0].parsed, "context=0 output=absent usage_bytes=8");
}

static void families_emitted_in_order(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    pd_message *m = &parsed->messages[1];
    m->model = fx_str(a, "model-b");
    m->context_tokens = 101;
    m->content = fx_str(a, "Reading the files.");
    m->content_length = 18;
    m->role = fx_str(a, "user");
    m->tool_calls[0].tool_name = fx_str(a, "Grep");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 5);
    assert_string_equal(diffs.items[0].field, "models");
    assert_string_equal(diffs.items[1].field, "message_tokens");
    assert_string_equal(diffs.items[2].field, "message_content");
    assert_string_equal(diffs.items[3].field, "message_metadata");
    assert_string_equal(diffs.items[4].field, "tool_calls");
}

static void metadata_reports_first_column_and_count(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    /* Two pairs differ; the first differing column of the lowest ordinal wins. */
    parsed->messages[1].source_uuid = fx_str(a, "u-x");
    parsed->messages[1].is_system = true;
    parsed->messages[2].role = fx_str(a, "user");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_string_equal(diffs.items[0].detail,
                        "2/3 messages differ; first at ordinal 1: is_system false -> true");
}

static void session_field_diffs_precede_message_diffs(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "gemini");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->first_message = fx_str(a, "changed");
    parsed->messages[0].content = fx_str(a, "changed");
    parsed->messages[0].content_length = 7;
    parsed->usage_events[0].output_tokens = 6;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 3);
    assert_string_equal(diffs.items[0].field, "first_message");
    assert_string_equal(diffs.items[1].field, "message_content");
    assert_string_equal(diffs.items[2].field, "usage_event_totals");
}

static void unsorted_messages_align_by_ordinal(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    /* Same rows in a different array order: ordinals, not positions, pair them. */
    pd_message first = parsed->messages[0];
    parsed->messages[0] = parsed->messages[2];
    parsed->messages[2] = first;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

/* ---- fallback ---- */

static void ordinal_shift_emits_fallback(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 2);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[1].ordinal = 2;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_string_equal(diffs.items[0].stored, "fingerprint");
    assert_string_equal(diffs.items[0].parsed, "fingerprint");
    assert_string_equal(diffs.items[0].detail,
                        "the per-message token/metadata" FALLBACK_PREFIX
                        "1 stored message has no parsed message of the same ordinal, at ordinal "
                        "1; 1 parsed message has no stored one, at ordinal 2");
    assert_false(diffs.items[0].informational);
    /* An append never moves an ordinal, so this is never incremental skew. */
    assert_true(diffs.items[0].unpaired);
    assert_false(pd_field_diffs_confined_to_incremental_artifacts(&diffs));
}

static void missing_stored_message_is_named(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 4);
    pd_session *parsed = fixture_copy(a, stored);
    /* Two stored rows lost, the count kept: ordinals 0 and 3 remain. */
    stored->messages[1] = stored->messages[3];
    stored->n_messages = 2;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_string_equal(diffs.items[0].detail,
                        "the per-message token/metadata" FALLBACK_PREFIX
                        "2 parsed messages have no stored one, the first at ordinal 1");
    assert_true(diffs.items[0].unpaired);
}

/* Gives each message of s the source_uuid "m<ordinal>". */
static void name_messages(pd_arena *a, pd_session *s)
{
    for (size_t i = 0; i < s->n_messages; i++) {
        char uuid[32];
        snprintf(uuid, sizeof uuid, "m%lld", (long long)s->messages[i].ordinal);
        s->messages[i].source_uuid = fx_str(a, uuid);
    }
}

static void count_change_names_messages_by_uuid(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 5);
    name_messages(a, stored);
    /* The parse drops the stored message at ordinal 1; the later ones move down. */
    pd_session *parsed = fixture_plain_session(a, "claude", 4);
    for (size_t i = 0; i < 4; i++)
        parsed->messages[i].source_uuid = stored->messages[i < 1 ? i : i + 1].source_uuid;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_true(diffs.n >= 1);
    assert_string_equal(diffs.items[0].field, "message_count");
    assert_string_equal(diffs.items[0].stored, "5");
    assert_string_equal(diffs.items[0].parsed, "4");
    assert_string_equal(diffs.items[0].detail,
                        "by source_uuid, 1 stored message is gone (the first at ordinal 1)");

    /* Two new messages and one gone. */
    parsed = fixture_plain_session(a, "claude", 6);
    name_messages(a, parsed);
    parsed->messages[2].source_uuid = fx_str(a, "new-a");
    parsed->messages[5].source_uuid = fx_str(a, "new-b");
    diffs = fixture_compare(a, stored, parsed);
    assert_string_equal(diffs.items[0].detail,
                        "by source_uuid, 1 stored message is gone (the first at ordinal 2) and 2 "
                        "parsed messages are new (the first at ordinal 2)");

    /* Stored rows without uuids would make every parsed message look new: no detail. */
    pd_session *blank = fixture_plain_session(a, "claude", 5);
    diffs = fixture_compare(a, blank, parsed);
    assert_string_equal(diffs.items[0].field, "message_count");
    assert_null(diffs.items[0].detail);

    /* Without uuids (Codex) the count change has no detail. */
    pd_session *plain = fixture_plain_session(a, "codex", 3);
    diffs = fixture_compare(a, fixture_plain_session(a, "codex", 4), plain);
    assert_string_equal(diffs.items[0].field, "message_count");
    assert_null(diffs.items[0].detail);
}

static void attributed_diff_with_unpaired_messages_is_not_skew(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 3);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].timestamp = fx_str(a, "2026-01-01T00:00:09Z");
    parsed->messages[2].ordinal = 5;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_true(diffs.n >= 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_non_null(strstr(diffs.items[0].detail, "timestamp"));
    assert_true(diffs.items[0].unpaired);
    assert_false(pd_field_diffs_confined_to_incremental_artifacts(&diffs));

    /* The same drift with every message paired is what an append leaves. */
    parsed->messages[2].ordinal = stored->messages[2].ordinal;
    diffs = fixture_compare(a, stored, parsed);
    assert_true(diffs.n >= 1);
    assert_false(diffs.items[0].unpaired);
    assert_true(pd_field_diffs_confined_to_incremental_artifacts(&diffs));
}

static void extra_parsed_message_counts_and_falls_back(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 2);
    pd_session *parsed = fixture_plain_session(a, "claude", 3);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 2);
    assert_string_equal(diffs.items[0].field, "message_count");
    assert_string_equal(diffs.items[0].stored, "2");
    assert_string_equal(diffs.items[0].parsed, "3");
    assert_string_equal(diffs.items[1].field, "message_metadata");
    assert_string_equal(diffs.items[1].detail, "the per-message token/metadata" FALLBACK_PREFIX
                                               "1 parsed message has no stored one, at ordinal 2");
}

static void legacy_presence_inferred_from_payload_keys(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 1);
    stored->messages[0].token_usage = fx_str(a, "{\"input\":0,\"output_tokens\":0}");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].has_context_tokens = true;
    parsed->messages[0].has_output_tokens = true;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    /* The payload names both counts, so the unset flags of the stored row
     * infer the same presence: no family accounts for the token fingerprint. */
    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_string_equal(diffs.items[0].detail, "the per-message token/metadata" FALLBACK_SUFFIX);
}

/* Runs the attribution step alone with the given fingerprint verdicts. */
static pd_field_diffs attribute(pd_arena *a, const pd_session *stored, const pd_session *parsed,
                                const bool differs[PD_FP_COUNT])
{
    pd_field_diffs diffs = {0};
    pd_cmp c = {.arena = a, .scratch = pd_arena_new(), .out = &diffs, .incremental = true};
    assert_non_null(c.scratch);
    int rc = pd_cmp_attribute_messages(&c, stored, parsed, differs);
    pd_arena_free(c.scratch);
    assert_int_equal(rc, PD_OK);
    return diffs;
}

static void attribution_ignores_extra_parsed_message(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 2);
    pd_session *parsed = fixture_plain_session(a, "claude", 3);
    const bool differs[PD_FP_COUNT] = {false};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 0);
}

static void attribution_aligns_by_ordinal_value(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 2);
    stored->messages[1].ordinal = 2;
    stored->messages[1].role = fx_str(a, "user");
    stored->messages[1].content = fx_str(a, "xyz");
    pd_session *parsed = fixture_plain_session(a, "claude", 3);
    parsed->messages[2].content = fx_str(a, "xyz");
    const bool differs[PD_FP_COUNT] = {false};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    /* By index, stored[1] ("xyz") would meet parsed[1] ("abc") and differ. */
    assert_int_equal(diffs.n, 0);
}

static void attribution_infers_legacy_presence(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 1);
    stored->messages[0].token_usage = fx_str(a, "{\"cached\":0,\"output\":0}");
    stored->messages[0].context_tokens = 0;
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].has_context_tokens = true;
    parsed->messages[0].has_output_tokens = true;
    const bool differs[PD_FP_COUNT] = {[PD_FP_TOKEN] = false};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 0);
}

static void attribution_infers_presence_from_values(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_plain_session(a, "claude", 1);
    stored->messages[0].context_tokens = 40;
    stored->messages[0].output_tokens = 3;
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[0].has_context_tokens = true;
    parsed->messages[0].has_output_tokens = true;
    const bool differs[PD_FP_COUNT] = {false};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 0);
}

static void attribution_tool_fallback(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    const bool differs[PD_FP_COUNT] = {[PD_FP_TOOL_CALLS] = true};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "tool_calls");
    assert_string_equal(diffs.items[0].stored, "fingerprint");
    assert_string_equal(diffs.items[0].parsed, "fingerprint");
    assert_non_null(strstr(diffs.items[0].detail, "tool-call fingerprint differs"));
    assert_string_equal(diffs.items[0].detail, "the per-message tool-call" FALLBACK_SUFFIX);
}

static void attribution_content_fallback_is_metadata(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    const bool differs[PD_FP_COUNT] = {[PD_FP_CONTENT] = true, [PD_FP_TOOL_CALLS] = true};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_string_equal(diffs.items[0].detail, "the per-message content" FALLBACK_SUFFIX);
}

static void attribution_metadata_fallback_wins(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    const bool differs[PD_FP_COUNT] = {[PD_FP_FLAGS] = true, [PD_FP_CONTENT] = true};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "message_metadata");
    assert_string_equal(diffs.items[0].detail, "the per-message token/metadata" FALLBACK_SUFFIX);
}

static void attribution_no_fallback_when_attributed(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->messages[1].tool_calls[0].file_path = fx_str(a, "/elsewhere");
    const bool differs[PD_FP_COUNT] = {[PD_FP_TOOL_CALLS] = true, [PD_FP_TOKEN] = true};

    pd_field_diffs diffs = attribute(a, stored, parsed, differs);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "tool_calls");
    assert_non_null(strstr(diffs.items[0].detail, "file_path"));
}

/* Sets every text column of s's messages, tool calls and usage events to NULL. */
static void null_all_message_text(pd_session *s)
{
    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        m->role = m->content = m->thinking_text = m->timestamp = m->model = NULL;
        m->token_usage = m->claude_message_id = m->claude_request_id = NULL;
        m->source_type = m->source_subtype = m->prompt_source = NULL;
        m->source_uuid = m->source_parent_uuid = m->stop_reason = NULL;
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            pd_tool_call *tc = &m->tool_calls[j];
            tc->tool_use_id = tc->tool_name = tc->category = tc->input_json = NULL;
            tc->skill_name = tc->subagent_session_id = tc->file_path = NULL;
            tc->result_content = NULL;
        }
    }
    for (size_t i = 0; i < s->n_usage_events; i++) {
        pd_usage_event *ev = &s->usage_events[i];
        ev->source = ev->model = ev->occurred_at = ev->dedup_key = NULL;
    }
}

/* Sets the same columns to "" instead. */
static void empty_all_message_text(pd_arena *a, pd_session *s)
{
    for (size_t i = 0; i < s->n_messages; i++) {
        pd_message *m = &s->messages[i];
        m->role = m->content = m->thinking_text = m->timestamp = m->model = fx_str(a, "");
        m->token_usage = m->claude_message_id = m->claude_request_id = fx_str(a, "");
        m->source_type = m->source_subtype = m->prompt_source = fx_str(a, "");
        m->source_uuid = m->source_parent_uuid = m->stop_reason = fx_str(a, "");
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            pd_tool_call *tc = &m->tool_calls[j];
            tc->tool_use_id = tc->tool_name = tc->category = fx_str(a, "");
            tc->input_json = tc->skill_name = tc->subagent_session_id = fx_str(a, "");
            tc->file_path = tc->result_content = fx_str(a, "");
        }
    }
    for (size_t i = 0; i < s->n_usage_events; i++) {
        pd_usage_event *ev = &s->usage_events[i];
        ev->source = ev->model = ev->occurred_at = ev->dedup_key = fx_str(a, "");
    }
}

static void null_text_equals_empty_text(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    null_all_message_text(stored);
    empty_all_message_text(a, parsed);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void null_text_against_values_reports(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    null_all_message_text(stored);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    /* Every family differs; content keeps its length column, so it shows as
     * an equal-length body change. */
    assert_int_equal(diffs.n, 6);
    assert_string_equal(diffs.items[0].field, "models");
    assert_string_equal(diffs.items[0].stored, "(none)");
    assert_string_equal(diffs.items[1].field, "message_tokens");
    assert_string_equal(diffs.items[2].field, "message_content");
    assert_string_equal(diffs.items[3].field, "message_metadata");
    assert_string_equal(diffs.items[3].detail,
                        "3/3 messages differ; first at ordinal 0: role \"\" -> \"user\"");
    assert_string_equal(diffs.items[4].field, "tool_calls");
    assert_string_equal(diffs.items[5].field, "usage_event_totals");
}

/* ---- fingerprints ---- */

static pd_session *fingerprint_session(pd_arena *a)
{
    pd_session *s = fixture_plain_session(a, "claude", 1);
    pd_message *m = &s->messages[0];
    m->ordinal = 7;
    m->role = fx_str(a, "usér");
    m->timestamp = fx_str(a, "2024-01-01T10:00:00Z");
    m->model = fx_str(a, "model-a");
    m->token_usage = fx_str(a, "{\"output_tokens\":5}");
    m->context_tokens = 100;
    m->output_tokens = 5;
    m->has_context_tokens = true;
    m->has_output_tokens = true;
    m->claude_message_id = fx_str(a, "msg_1");
    m->claude_request_id = fx_str(a, "req_1");
    m->source_type = fx_str(a, "user");
    m->prompt_source = fx_str(a, "typed");
    m->source_uuid = fx_str(a, "u-0");
    m->is_sidechain = true;
    m->has_thinking = true;

    m->n_tool_calls = 2;
    m->tool_calls = fx_calloc(a, 2, sizeof *m->tool_calls);
    m->tool_calls[0].tool_name = fx_str(a, "Bash");
    m->tool_calls[0].category = fx_str(a, "Shell");
    m->tool_calls[0].subagent_session_id = fx_str(a, "sub-1");
    m->tool_calls[0].result_content_length = PD_INT_NULL;
    m->tool_calls[1].tool_name = fx_str(a, "Read");
    m->tool_calls[1].category = fx_str(a, "Read");
    m->tool_calls[1].tool_use_id = fx_str(a, "t-2");
    m->tool_calls[1].input_json = fx_str(a, "abc");
    m->tool_calls[1].skill_name = fx_str(a, "sk");
    m->tool_calls[1].result_content_length = 42;
    m->tool_calls[1].file_path = fx_str(a, "/a.c");
    return s;
}

static void fingerprint_text_matches_format(void **state)
{
    pd_arena *a = *state;
    pd_session *s = fingerprint_session(a);
    char *text = NULL;

    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_TOKEN, a, &text), PD_OK);
    assert_string_equal(text,
                        "7|7:model-a|19:{\"output_tokens\":5}|100|5|true|true|5:msg_1|5:req_1|"
                        "4:user|0:|5:typed|3:u-0|0:|true|false;");

    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_ROLE_TIME, a, &text), PD_OK);
    assert_string_equal(text, "7|5:usér|20:2024-01-01T10:00:00Z;");

    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_CONTENT, a, &text), PD_OK);
    assert_string_equal(text, "7|3|" HASH_ABC ";");

    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_FLAGS, a, &text), PD_OK);
    assert_string_equal(text, "7|false|true|false|" HASH_EMPTY ";");

    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_TOOL_CALLS, a, &text), PD_OK);
    assert_string_equal(text, "7|4:Bash|5:Shell|0:|" HASH_EMPTY "|0:|5:sub-1|0|0:;"
                              "7|4:Read|4:Read|3:t-2|" HASH_ABC "|2:sk|0:|42|4:/a.c;");
}

static void fingerprint_text_sanitises_except_timestamp(void **state)
{
    pd_arena *a = *state;
    pd_session *clean = fingerprint_session(a);
    pd_session *dirty = fixture_copy(a, clean);
    dirty->messages[0].model = fx_str(a, "model-a\x7f");
    dirty->messages[0].role = fx_str(a, "us\x01ér");
    dirty->messages[0].content = fx_str(a, "a\x02"
                                           "bc");
    dirty->messages[0].tool_calls[1].input_json = fx_str(a, "ab\xff"
                                                            "c");

    pd_fingerprint_kind sanitised[] = {PD_FP_TOKEN, PD_FP_ROLE_TIME, PD_FP_CONTENT,
                                       PD_FP_TOOL_CALLS};
    for (size_t i = 0; i < sizeof sanitised / sizeof sanitised[0]; i++) {
        char *clean_text = NULL, *dirty_text = NULL;
        assert_int_equal(pd_compare_fingerprint_text(clean, sanitised[i], a, &clean_text), PD_OK);
        assert_int_equal(pd_compare_fingerprint_text(dirty, sanitised[i], a, &dirty_text), PD_OK);
        assert_string_equal(dirty_text, clean_text);
    }

    dirty->messages[0].timestamp = fx_str(a, "2024-01-01T10:00:00Z\x01");
    char *text = NULL;
    assert_int_equal(pd_compare_fingerprint_text(dirty, PD_FP_ROLE_TIME, a, &text), PD_OK);
    assert_string_equal(text, "7|5:usér|21:2024-01-01T10:00:00Z\x01;");
}

static void fingerprint_digest_hashes_text(void **state)
{
    pd_arena *a = *state;
    pd_session *s = fixture_session(a, "claude");
    pd_message_fingerprints fp;
    assert_int_equal(pd_compare_fingerprints(s, &fp), PD_OK);

    for (int k = 0; k < PD_FP_COUNT; k++) {
        char *text = NULL;
        char hex[PD_XXH128_HEX_LEN + 1];
        assert_int_equal(pd_compare_fingerprint_text(s, (pd_fingerprint_kind)k, a, &text), PD_OK);
        pd_xxh128_hex(text, strlen(text), hex);
        assert_string_equal(fp.hex[k], hex);
    }
}

static void fingerprint_orders_rows_by_ordinal(void **state)
{
    pd_arena *a = *state;
    pd_session *sorted = fixture_session(a, "claude");
    pd_session *shuffled = fixture_copy(a, sorted);
    pd_message first = shuffled->messages[0];
    shuffled->messages[0] = shuffled->messages[2];
    shuffled->messages[2] = first;

    for (int k = 0; k < PD_FP_COUNT; k++) {
        char *sorted_text = NULL, *shuffled_text = NULL;
        assert_int_equal(
            pd_compare_fingerprint_text(sorted, (pd_fingerprint_kind)k, a, &sorted_text), PD_OK);
        assert_int_equal(
            pd_compare_fingerprint_text(shuffled, (pd_fingerprint_kind)k, a, &shuffled_text),
            PD_OK);
        assert_string_equal(shuffled_text, sorted_text);
    }
}

typedef struct fingerprint_case {
    const char *name;
    mutate_fn mutate;
    pd_fingerprint_kind kind; /* the only fingerprint that must change */
} fingerprint_case;

static void fingerprint_each_column_moves_one_digest(void **state)
{
    pd_arena *a = *state;
    const fingerprint_case cases[] = {
        {"model", model_m1_changes, PD_FP_TOKEN},
        {"token_usage", usage_m2_payload_changes, PD_FP_TOKEN},
        {"context_tokens", context_m1_grows, PD_FP_TOKEN},
        {"has_output_tokens", output_flag_m0_set, PD_FP_TOKEN},
        {"claude_message_id", claude_message_id_m1_changes, PD_FP_TOKEN},
        {"claude_request_id", claude_request_id_m1_changes, PD_FP_TOKEN},
        {"source_type", source_type_m1_changes, PD_FP_TOKEN},
        {"source_subtype", source_subtype_m1_changes, PD_FP_TOKEN},
        {"prompt_source", prompt_source_m0_changes, PD_FP_TOKEN},
        {"source_uuid", source_uuid_m2_changes, PD_FP_TOKEN},
        {"source_parent_uuid", source_parent_uuid_m2_changes, PD_FP_TOKEN},
        {"is_sidechain", sidechain_m2_set, PD_FP_TOKEN},
        {"is_compact_boundary", compact_boundary_m2_set, PD_FP_TOKEN},
        {"role", role_m0_changes, PD_FP_ROLE_TIME},
        {"timestamp", timestamp_m1_changes, PD_FP_ROLE_TIME},
        {"content", content_m2_same_length, PD_FP_CONTENT},
        {"content_length", content_length_m1_only, PD_FP_CONTENT},
        {"is_system", is_system_m0_set, PD_FP_FLAGS},
        {"has_thinking", has_thinking_m1_cleared, PD_FP_FLAGS},
        {"has_tool_use", has_tool_use_m0_set, PD_FP_FLAGS},
        {"thinking_text", thinking_text_m1_changes, PD_FP_FLAGS},
        {"tool_name", tool_name_changes, PD_FP_TOOL_CALLS},
        {"category", tool_category_changes, PD_FP_TOOL_CALLS},
        {"tool_use_id", tool_use_id_changes, PD_FP_TOOL_CALLS},
        {"input_json", tool_input_changes, PD_FP_TOOL_CALLS},
        {"skill_name", tool_skill_gains_value, PD_FP_TOOL_CALLS},
        {"subagent_session_id", tool_subagent_gains_value, PD_FP_TOOL_CALLS},
        {"result_content_length", tool_result_length_grows, PD_FP_TOOL_CALLS},
        {"file_path", tool_file_path_changes, PD_FP_TOOL_CALLS},
        {"tool call count", tool_call_added_to_m2, PD_FP_TOOL_CALLS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_session *stored = fixture_session(a, "claude");
        pd_session *parsed = fixture_copy(a, stored);
        cases[i].mutate(a, stored, parsed);
        pd_message_fingerprints before, after;
        assert_int_equal(pd_compare_fingerprints(stored, &before), PD_OK);
        assert_int_equal(pd_compare_fingerprints(parsed, &after), PD_OK);
        for (int k = 0; k < PD_FP_COUNT; k++) {
            bool moved = strcmp(before.hex[k], after.hex[k]) != 0;
            if (moved != (k == (int)cases[i].kind))
                print_message("fingerprint case %s, kind %d\n", cases[i].name, k);
            assert_int_equal(moved, k == (int)cases[i].kind);
        }
    }
}

static void fingerprint_rejects_bad_arguments(void **state)
{
    pd_arena *a = *state;
    pd_session *s = fixture_session(a, "claude");
    pd_message_fingerprints fp;
    char *text = NULL;

    assert_int_equal(pd_compare_fingerprints(NULL, &fp), PD_EINVAL);
    assert_int_equal(pd_compare_fingerprints(s, NULL), PD_EINVAL);
    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_COUNT, a, &text), PD_EINVAL);
    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_TOKEN, NULL, &text), PD_EINVAL);
}

static void fingerprint_empty_session_is_empty_text(void **state)
{
    pd_arena *a = *state;
    pd_session *s = fixture_plain_session(a, "claude", 0);
    char *text = NULL;

    assert_int_equal(pd_compare_fingerprint_text(s, PD_FP_TOKEN, a, &text), PD_OK);
    assert_string_equal(text, "");

    pd_message_fingerprints fp;
    assert_int_equal(pd_compare_fingerprints(s, &fp), PD_OK);
    assert_string_equal(fp.hex[PD_FP_CONTENT], HASH_EMPTY);
}

int main(void)
{
    static const struct CMUnitTest fixed_tests[] = {
        cmocka_unit_test_setup_teardown(models_drift_two_of_three, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(message_tokens_single_message_context, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(message_tokens_flag_flip_renders_absent,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(message_tokens_invalid_payload_uses_flags,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(families_emitted_in_order, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(metadata_reports_first_column_and_count,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(session_field_diffs_precede_message_diffs,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(unsorted_messages_align_by_ordinal, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(ordinal_shift_emits_fallback, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(missing_stored_message_is_named, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(count_change_names_messages_by_uuid, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attributed_diff_with_unpaired_messages_is_not_skew,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(extra_parsed_message_counts_and_falls_back,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(legacy_presence_inferred_from_payload_keys,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_ignores_extra_parsed_message,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_aligns_by_ordinal_value, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_infers_legacy_presence, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_infers_presence_from_values,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_tool_fallback, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_content_fallback_is_metadata,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_metadata_fallback_wins, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(attribution_no_fallback_when_attributed,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(null_text_equals_empty_text, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(null_text_against_values_reports, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_text_matches_format, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_text_sanitises_except_timestamp,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_digest_hashes_text, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_orders_rows_by_ordinal, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_each_column_moves_one_digest,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_rejects_bad_arguments, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(fingerprint_empty_session_is_empty_text,
                                        fixture_arena_setup, fixture_arena_teardown),
    };
    size_t n_fixed = sizeof fixed_tests / sizeof fixed_tests[0];

    /* One named test per table row, so a failure names the column and case. */
    struct CMUnitTest tests[sizeof fixed_tests / sizeof fixed_tests[0] + N_MESSAGE_CASES];
    for (size_t i = 0; i < N_MESSAGE_CASES; i++) {
        tests[i] = (struct CMUnitTest){
            .name = message_cases[i].name,
            .test_func = run_message_case,
            .setup_func = case_setup,
            .teardown_func = case_teardown,
            .initial_state = (void *)&message_cases[i],
        };
    }
    memcpy(&tests[N_MESSAGE_CASES], fixed_tests, sizeof fixed_tests);

    return _cmocka_run_group_tests("compare_messages", tests, N_MESSAGE_CASES + n_fixed, NULL,
                                   NULL);
}
