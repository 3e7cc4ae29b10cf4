/*
 * test_normalize.c -- pd_session_normalize(): pairing, blocked categories,
 * carrier-row dropping, sanitising and derived session fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/normalize.h"
#include "tests/support/archive_fixture.h"

static int setup_arena(void **state)
{
    *state = pd_arena_new();
    return *state == NULL ? -1 : 0;
}

static int teardown_arena(void **state)
{
    pd_arena_free(*state);
    return 0;
}

/* An empty session with an id, for tests that add their own rows. */
static pd_session *new_session(pd_arena *arena)
{
    pd_session *s = pd_arena_calloc(arena, 1, sizeof *s);
    assert_non_null(s);
    pd_session_init(s);
    s->id = "sess-1";
    s->agent = "claude";
    return s;
}

static void normalize(pd_session *s, pd_arena *arena)
{
    assert_int_equal(pd_session_normalize(s, NULL, arena), PD_OK);
}

static void test_pairing_last_call_with_id_wins(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *first = afx_add_message(arena, s, 0, "assistant", "first");
    pd_tool_call *early = afx_add_call(arena, first, "dup", "Bash", "Bash");
    pd_message *second = afx_add_message(arena, s, 1, "assistant", "second");
    pd_tool_call *late = afx_add_call(arena, second, "dup", "Bash", "Bash");
    pd_message *carrier = afx_add_message(arena, s, 2, "user", "");
    afx_add_result(arena, carrier, "dup", "hello");

    normalize(s, arena);

    assert_null(early->result_content);
    assert_int_equal(early->result_content_length, 0);
    assert_non_null(late->result_content);
    assert_string_equal(late->result_content, "hello");
    assert_int_equal(late->result_content_length, 5);
    assert_int_equal(s->n_unlinked_results, 0);
}

static void test_pairing_result_before_call(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *note = afx_add_message(arena, s, 0, "user", "look");
    afx_add_result(arena, note, "later", "early output");
    pd_message *reply = afx_add_message(arena, s, 1, "assistant", "ok");
    pd_tool_call *tc = afx_add_call(arena, reply, "later", "Grep", "Grep");

    normalize(s, arena);

    assert_non_null(tc->result_content);
    assert_string_equal(tc->result_content, "early output");
    assert_int_equal(tc->result_content_length, 12);
}

static void test_pairing_length_from_parser(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    pd_tool_call *tc = afx_add_call(arena, reply, "t1", "Bash", "Bash");
    pd_message *carrier = afx_add_message(arena, s, 1, "user", "");
    pd_tool_result *r = afx_add_result(arena, carrier, "t1", "ab");
    /* Array results count the text blocks' bytes, which the parser computed. */
    r->content_length = 42;

    normalize(s, arena);

    assert_int_equal(tc->result_content_length, 42);
    assert_string_equal(tc->result_content, "ab");
}

static void test_unlinked_results_collected(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 5, "assistant", "ok");
    afx_add_call(arena, reply, "known", "Bash", "Bash");
    pd_message *carrier = afx_add_message(arena, s, 6, "user", " ");
    afx_add_result(arena, carrier, "stored-elsewhere", "old call output");
    afx_add_result(arena, carrier, "known", "new call output");

    normalize(s, arena);

    assert_int_equal(s->n_unlinked_results, 1);
    assert_string_equal(s->unlinked_results[0].tool_use_id, "stored-elsewhere");
    assert_string_equal(s->unlinked_results[0].content, "old call output");
    assert_int_equal(s->unlinked_results[0].content_length, 15);
    /* The carrier row is dropped, but its unlinked result survives. */
    assert_int_equal(s->n_messages, 1);
}

static void test_event_summary_one_agent(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    pd_tool_call *tc = afx_add_call(arena, reply, "w1", "wait", "Task");
    afx_add_event(arena, tc, "agent-a", "first");
    afx_add_event(arena, tc, "agent-a", "   ");
    afx_add_event(arena, tc, NULL, "anonymous 1");
    afx_add_event(arena, tc, "agent-a", "latest");
    afx_add_event(arena, tc, "", "anonymous 2");

    normalize(s, arena);

    assert_non_null(tc->result_content);
    assert_string_equal(tc->result_content, "latest\n\nanonymous 2");
    assert_int_equal(tc->result_content_length, (int64_t)strlen("latest\n\nanonymous 2"));
}

static void test_event_summary_several_agents(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    pd_tool_call *tc = afx_add_call(arena, reply, "w1", "wait", "Task");
    afx_add_event(arena, tc, "beta", "b1");
    afx_add_event(arena, tc, " alpha ", "a1");
    afx_add_event(arena, tc, "beta", "b2");
    afx_add_event(arena, tc, NULL, "note");

    normalize(s, arena);

    assert_string_equal(tc->result_content, "beta:\nb2\n\nalpha:\na1\n\nnote");
}

static void test_event_summary_no_agent(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    pd_tool_call *tc = afx_add_call(arena, reply, "c1", "shell", "Bash");
    afx_add_event(arena, tc, NULL, "out 1");
    afx_add_event(arena, tc, NULL, "out 2");
    /* A paired result is replaced by the summary of the events. */
    pd_message *carrier = afx_add_message(arena, s, 1, "user", "");
    afx_add_result(arena, carrier, "c1", "raw result");

    normalize(s, arena);

    assert_string_equal(tc->result_content, "out 2");
    assert_int_equal(tc->result_content_length, 5);
}

static void test_blocked_category_keeps_length(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    afx_add_call(arena, reply, "r1", "Read", "Read");
    afx_add_call(arena, reply, "g1", "Glob", "Glob");
    afx_add_call(arena, reply, "b1", "Bash", "Bash");
    pd_tool_call *read = &reply->tool_calls[0];
    pd_tool_call *glob = &reply->tool_calls[1];
    pd_tool_call *bash = &reply->tool_calls[2];
    pd_message *carrier = afx_add_message(arena, s, 1, "user", "");
    afx_add_result(arena, carrier, "r1", "file text");
    afx_add_result(arena, carrier, "g1", "a.c b.c");
    afx_add_result(arena, carrier, "b1", "ran");

    normalize(s, arena);

    assert_null(read->result_content);
    assert_int_equal(read->result_content_length, 9);
    assert_null(glob->result_content);
    assert_int_equal(glob->result_content_length, 7);
    assert_non_null(bash->result_content);
    assert_string_equal(bash->result_content, "ran");
}

static void test_blocked_category_blanks_events(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    pd_tool_call *tc = afx_add_call(arena, reply, "r1", "read_file", "Read");
    afx_add_event(arena, tc, NULL, "secret text");

    normalize(s, arena);

    assert_null(tc->result_content);
    assert_int_equal(tc->result_content_length, 11);
    assert_string_equal(tc->events[0].content, "");
    assert_int_equal(tc->events[0].content_length, 11);
}

static void test_custom_blocked_categories(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 0, "assistant", "ok");
    afx_add_call(arena, reply, "r1", "Read", "Read");
    afx_add_call(arena, reply, "b1", "Bash", "Bash");
    pd_tool_call *read = &reply->tool_calls[0];
    pd_tool_call *bash = &reply->tool_calls[1];
    pd_message *carrier = afx_add_message(arena, s, 1, "user", "");
    afx_add_result(arena, carrier, "r1", "file text");
    afx_add_result(arena, carrier, "b1", "ran");
    static const char *const only_bash[] = {"Bash"};
    pd_normalize_opts opts = {.blocked_categories = only_bash, .n_blocked_categories = 1};

    assert_int_equal(pd_session_normalize(s, &opts, arena), PD_OK);

    assert_non_null(read->result_content);
    assert_string_equal(read->result_content, "file text");
    assert_null(bash->result_content);
    assert_int_equal(bash->result_content_length, 3);
}

static void test_drop_carrier_rows_keeps_gaps(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    afx_add_message(arena, s, 0, "user", "please list");
    pd_message *reply = afx_add_message(arena, s, 1, "assistant", "listing");
    afx_add_call(arena, reply, "t1", "Bash", "Bash");
    pd_message *carrier = afx_add_message(arena, s, 2, "user", " \n\t");
    afx_add_result(arena, carrier, "t1", "a b c");
    afx_add_message(arena, s, 3, "assistant", "done");

    normalize(s, arena);

    assert_int_equal(s->n_messages, 3);
    assert_int_equal(s->messages[0].ordinal, 0);
    assert_int_equal(s->messages[1].ordinal, 1);
    assert_int_equal(s->messages[2].ordinal, 3);
    assert_int_equal(s->message_count, 3);
    assert_int_equal(s->user_message_count, 1);
    assert_int_equal(s->next_ordinal, 4);
    /* The dropped row still paired its result first. */
    assert_string_equal(s->messages[1].tool_calls[0].result_content, "a b c");
}

static void test_drop_only_user_carriers(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    afx_add_message(arena, s, 0, "user", "");                      /* blank, no results */
    pd_message *a = afx_add_message(arena, s, 1, "assistant", ""); /* not a user row */
    afx_add_result(arena, a, "x", "y");
    pd_message *u = afx_add_message(arena, s, 2, "user", "text and a result");
    afx_add_result(arena, u, "x2", "y2");

    normalize(s, arena);

    assert_int_equal(s->n_messages, 3);
}

static void test_next_ordinal_counts_dropped_tail(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *reply = afx_add_message(arena, s, 7, "assistant", "running");
    afx_add_call(arena, reply, "t1", "Bash", "Bash");
    pd_message *carrier = afx_add_message(arena, s, 8, "user", "");
    carrier->source_uuid = "uuid-tail";
    afx_add_result(arena, carrier, "t1", "out");

    normalize(s, arena);

    assert_int_equal(s->n_messages, 1);
    assert_int_equal(s->next_ordinal, 9);
    assert_non_null(s->last_entry_uuid);
    assert_string_equal(s->last_entry_uuid, "uuid-tail");
}

static void test_no_messages_gives_zero_counters(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    s->last_entry_uuid = "stale";

    normalize(s, arena);

    assert_int_equal(s->next_ordinal, 0);
    assert_int_equal(s->message_count, 0);
    assert_int_equal(s->user_message_count, 0);
    assert_null(s->last_entry_uuid);
}

static void test_last_entry_uuid_skips_empty(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *m0 = afx_add_message(arena, s, 0, "user", "a");
    m0->source_uuid = "u0";
    afx_add_message(arena, s, 1, "assistant", "b"); /* source_uuid "" */

    normalize(s, arena);

    assert_string_equal(s->last_entry_uuid, "u0");
}

static void test_clamps_row_tokens(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *low = afx_add_message(arena, s, 0, "assistant", "a");
    low->context_tokens = -5;
    low->output_tokens = -1;
    low->has_context_tokens = true;
    low->has_output_tokens = true;
    pd_message *high = afx_add_message(arena, s, 1, "assistant", "b");
    high->context_tokens = 3000000;
    high->output_tokens = 2000001;
    high->has_context_tokens = true;
    high->has_output_tokens = true;

    normalize(s, arena);

    assert_int_equal(s->messages[0].context_tokens, 0);
    assert_int_equal(s->messages[0].output_tokens, 0);
    assert_int_equal(s->messages[1].context_tokens, 2000000);
    assert_int_equal(s->messages[1].output_tokens, 2000000);
    assert_int_equal(s->total_output_tokens, 2000000);
    assert_int_equal(s->peak_context_tokens, 2000000);
}

static void test_blanks_implausible_years(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    static const struct {
        const char *timestamp;
        bool kept;
    } cases[] = {
        {"1999-12-31T23:59:59Z", false},  {"2000-01-01T00:00:00Z", true},
        {"2100-12-31T23:59:59.9Z", true}, {"2101-01-01T00:00:00Z", false},
        {"9999-01-01T00:00:00Z", false},  {"1970-01-01T00:00:00Z", false},
    };
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        pd_message *m = afx_add_message(arena, s, (int64_t)i, "user", "x");
        m->timestamp = (char *)cases[i].timestamp;
    }
    s->started_at = "1969-07-20T20:17:00Z";
    s->ended_at = "2200-01-01T00:00:00Z";

    normalize(s, arena);

    for (size_t i = 0; i < n; i++) {
        if (cases[i].kept) {
            assert_non_null(s->messages[i].timestamp);
            assert_string_equal(s->messages[i].timestamp, cases[i].timestamp);
        } else {
            assert_null(s->messages[i].timestamp);
        }
    }
    assert_null(s->started_at);
    assert_null(s->ended_at);
}

static void test_keeps_plausible_session_times(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    s->started_at = "2024-01-01T10:00:00Z";
    s->ended_at = "2024-01-01T10:05:05Z";

    normalize(s, arena);

    assert_string_equal(s->started_at, "2024-01-01T10:00:00Z");
    assert_string_equal(s->ended_at, "2024-01-01T10:05:05Z");
}

static void test_totals_and_presence_flags(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *counted = afx_add_message(arena, s, 0, "assistant", "a");
    counted->output_tokens = 30;
    counted->has_output_tokens = true;
    pd_message *ignored = afx_add_message(arena, s, 1, "assistant", "b");
    ignored->output_tokens = 70; /* no presence flag: not summed */
    ignored->context_tokens = 900;
    pd_message *peak = afx_add_message(arena, s, 2, "assistant", "c");
    peak->context_tokens = 400;
    peak->has_context_tokens = true;
    s->total_output_tokens = 12345; /* recomputed from the rows */

    normalize(s, arena);

    assert_int_equal(s->total_output_tokens, 30);
    assert_true(s->has_total_output_tokens);
    assert_int_equal(s->peak_context_tokens, 400);
    assert_true(s->has_peak_context_tokens);
}

static void test_session_presence_flag_kept(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    afx_add_message(arena, s, 0, "assistant", "a");
    s->has_total_output_tokens = true;

    normalize(s, arena);

    assert_true(s->has_total_output_tokens);
    assert_int_equal(s->total_output_tokens, 0);
    assert_false(s->has_peak_context_tokens);
}

static void test_cuts_model_to_128_bytes(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    char ascii[201];
    memset(ascii, 'm', 200);
    ascii[200] = '\0';
    /* 127 ASCII bytes, then a 2-byte é that straddles the 128-byte limit. */
    char straddle[140];
    memset(straddle, 'a', 127);
    memcpy(straddle + 127, "\xc3\xa9zz", 5);
    pd_message *m0 = afx_add_message(arena, s, 0, "assistant", "x");
    m0->model = ascii;
    pd_message *m1 = afx_add_message(arena, s, 1, "assistant", "y");
    m1->model = straddle;
    pd_message *m2 = afx_add_message(arena, s, 2, "assistant", "z");
    m2->model = "claude-opus-4";

    normalize(s, arena);

    assert_int_equal(strlen(s->messages[0].model), 128);
    assert_int_equal(strlen(s->messages[1].model), 127);
    assert_string_equal(s->messages[2].model, "claude-opus-4");
}

static void test_drops_self_parent(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    s->parent_session_id = "sess-1";

    normalize(s, arena);

    assert_null(s->parent_session_id);
}

static void test_keeps_other_parent(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    s->parent_session_id = "sess-0";

    normalize(s, arena);

    assert_string_equal(s->parent_session_id, "sess-0");
}

static void test_call_index_is_position(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    pd_message *m = afx_add_message(arena, s, 0, "assistant", "three calls");
    for (int i = 0; i < 3; i++) {
        pd_tool_call *tc = afx_add_call(arena, m, "", "Bash", "Bash");
        tc->call_index = 99;
    }

    normalize(s, arena);

    for (size_t i = 0; i < 3; i++)
        assert_int_equal(s->messages[0].tool_calls[i].call_index, (int64_t)i);
}

static void test_user_count_excludes_system(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = new_session(arena);
    afx_add_message(arena, s, 0, "user", "real");
    pd_message *sys = afx_add_message(arena, s, 1, "user", "<task-notification>");
    sys->is_system = true;
    afx_add_message(arena, s, 2, "assistant", "reply");

    normalize(s, arena);

    assert_int_equal(s->message_count, 3);
    assert_int_equal(s->user_message_count, 1);
}

static void test_fixture_session_normalizes(void **state)
{
    pd_arena *arena = *state;
    pd_session *s = afx_session(arena, "fx", "claude", 2);

    normalize(s, arena);

    assert_int_equal(s->n_messages, 4);
    assert_int_equal(s->messages[2].ordinal, 3);
    assert_int_equal(s->next_ordinal, 6);
    assert_string_equal(s->messages[1].tool_calls[0].result_content, "output of fx 0");
    assert_null(s->messages[3].tool_calls[0].result_content); /* Read is blocked */
    assert_int_equal(s->messages[3].tool_calls[0].result_content_length, 14);
    assert_int_equal(s->total_output_tokens, 100);
    assert_int_equal(s->peak_context_tokens, 101);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pairing_last_call_with_id_wins, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_pairing_result_before_call, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_pairing_length_from_parser, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_unlinked_results_collected, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_event_summary_one_agent, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_event_summary_several_agents, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_event_summary_no_agent, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_blocked_category_keeps_length, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_blocked_category_blanks_events, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_custom_blocked_categories, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_drop_carrier_rows_keeps_gaps, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_drop_only_user_carriers, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_next_ordinal_counts_dropped_tail, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_no_messages_gives_zero_counters, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_last_entry_uuid_skips_empty, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_clamps_row_tokens, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_blanks_implausible_years, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_keeps_plausible_session_times, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_totals_and_presence_flags, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_session_presence_flag_kept, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_cuts_model_to_128_bytes, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_drops_self_parent, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_keeps_other_parent, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_call_index_is_position, setup_arena, teardown_arena),
        cmocka_unit_test_setup_teardown(test_user_count_excludes_system, setup_arena,
                                        teardown_arena),
        cmocka_unit_test_setup_teardown(test_fixture_session_normalizes, setup_arena,
                                        teardown_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
