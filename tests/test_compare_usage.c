/*
 * test_compare_usage.c -- comparator tests for usage events.
 *
 * Usage events are compared as multisets of keys, so these tests build
 * sessions that differ only in their events and check the count, totals and
 * composition diffs, with their exact texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/model.h"
#include "engine/compare.h"
#include "engine/diffreport.h"
#include "test_compare_fixture.h"

#define TOTALS_30_6 "input=30 output=6 cache_creation=0 cache_read=0 reasoning=0"

/* A message-less session carrying n events, filled by the caller. */
static pd_session *events_session(pd_arena *a, size_t n)
{
    pd_session *s = fixture_plain_session(a, "claude", 0);
    s->n_usage_events = n;
    if (n > 0)
        s->usage_events = fx_calloc(a, n, sizeof *s->usage_events);
    return s;
}

/* Two keyed events: k1 with input 10 and output 2, k2 with input 20 and output 4. */
static pd_session *two_keyed_events(pd_arena *a)
{
    pd_session *s = events_session(a, 2);
    fixture_usage_event(a, &s->usage_events[0], 0, "k1", 10, 2, "2024-01-01T10:00:00Z");
    fixture_usage_event(a, &s->usage_events[1], 1, "k2", 20, 4, "2024-01-01T10:01:00Z");
    return s;
}

/* Two unkeyed events, compared by their whole tuple. */
static pd_session *two_tuple_events(pd_arena *a)
{
    pd_session *s = events_session(a, 2);
    fixture_usage_event(a, &s->usage_events[0], 0, "", 10, 2, "2024-01-01T10:00:00Z");
    fixture_usage_event(a, &s->usage_events[1], PD_INT_NULL, "", 20, 4, "2024-01-01T10:01:00Z");
    return s;
}

static void usage_both_empty_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = events_session(a, 0);
    pd_session *parsed = events_session(a, 0);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void usage_shuffled_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    pd_usage_event first = parsed->usage_events[0];
    parsed->usage_events[0] = parsed->usage_events[1];
    parsed->usage_events[1] = first;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void usage_shuffled_tuples_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_tuple_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    pd_usage_event first = parsed->usage_events[0];
    parsed->usage_events[0] = parsed->usage_events[1];
    parsed->usage_events[1] = first;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void usage_removed_event_count_then_totals(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->n_usage_events = 1;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 2);
    assert_string_equal(diffs.items[0].field, "usage_event_count");
    assert_string_equal(diffs.items[0].stored, "2");
    assert_string_equal(diffs.items[0].parsed, "1");
    assert_null(diffs.items[0].detail);
    assert_string_equal(diffs.items[1].field, "usage_event_totals");
    assert_string_equal(diffs.items[1].stored, TOTALS_30_6);
    assert_string_equal(diffs.items[1].parsed,
                        "input=10 output=2 cache_creation=0 cache_read=0 reasoning=0");
    assert_string_equal(diffs.items[1].detail, "input 30 -> 10; output 6 -> 2");
}

static void usage_output_drift_totals_only(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[0].output_tokens = 3;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_totals");
    assert_string_equal(diffs.items[0].detail, "output 6 -> 7");
}

static void usage_every_class_in_totals_detail(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[1].input_tokens = 21;
    parsed->usage_events[1].output_tokens = 5;
    parsed->usage_events[1].cache_creation_input_tokens = 7;
    parsed->usage_events[1].cache_read_input_tokens = 8;
    parsed->usage_events[1].reasoning_tokens = 9;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].parsed,
                        "input=31 output=7 cache_creation=7 cache_read=8 reasoning=9");
    assert_string_equal(diffs.items[0].detail, "input 30 -> 31; output 6 -> 7; "
                                               "cache_creation 0 -> 7; cache_read 0 -> 8; "
                                               "reasoning 0 -> 9");
}

static void usage_same_key_other_time_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[0].occurred_at = fx_str(a, "2024-01-01T11:00:00Z");
    parsed->usage_events[0].message_ordinal = 5;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void usage_dedup_key_change_is_composition(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[0].dedup_key = fx_str(a, "k9");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_totals");
    assert_string_equal(diffs.items[0].stored, TOTALS_30_6);
    assert_string_equal(diffs.items[0].parsed, TOTALS_30_6);
    assert_non_null(strstr(diffs.items[0].detail, "dedup|k1"));
    assert_string_equal(diffs.items[0].detail,
                        "event composition differs; token totals are equal; first differing "
                        "event: dedup|k1|message|model-a|10|2|0|0|0");
}

static void usage_model_change_is_composition(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[1].model = fx_str(a, "model-b");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_totals");
    assert_string_equal(diffs.items[0].detail,
                        "event composition differs; token totals are equal; first differing "
                        "event: dedup|k2|message|model-a|20|4|0|0|0");
}

static void usage_source_change_is_composition(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[0].source = fx_str(a, "subagent");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].detail,
                        "event composition differs; token totals are equal; first differing "
                        "event: dedup|k1|message|model-a|10|2|0|0|0");
}

static void usage_redistributed_tokens_is_composition(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    /* Sums stay 30 and 6; only the split between k1 and k2 moves. */
    parsed->usage_events[0].input_tokens = 15;
    parsed->usage_events[1].input_tokens = 15;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_totals");
    assert_non_null(strstr(diffs.items[0].detail, "dedup|k1"));
    assert_non_null(strstr(diffs.items[0].detail, "token totals are equal"));
}

static void usage_tuple_time_drift_is_composition(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_tuple_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[1].occurred_at = fx_str(a, "2024-01-01T10:02:00Z");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_totals");
    assert_string_equal(diffs.items[0].detail,
                        "event composition differs; token totals are equal; first differing "
                        "event: tuple|message|model-a|20|4|0|0|0|2024-01-01T10:01:00Z|-");
}

static void usage_tuple_ordinal_drift_is_composition(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_tuple_events(a);
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[0].message_ordinal = 3;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].detail,
                        "event composition differs; token totals are equal; first differing "
                        "event: tuple|message|model-a|10|2|0|0|0|2024-01-01T10:00:00Z|0");
}

static void usage_same_key_input_drift(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = events_session(a, 1);
    fixture_usage_event(a, &stored->usage_events[0], 0, "k1", 10, 2, "2024-01-01T10:00:00Z");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[0].input_tokens = 99;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_totals");
    assert_string_equal(diffs.items[0].detail, "input 10 -> 99");
}

static void usage_zero_event_added_count_only(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    pd_session *parsed = events_session(a, 3);
    parsed->usage_events[0] = stored->usage_events[0];
    parsed->usage_events[1] = stored->usage_events[1];
    fixture_usage_event(a, &parsed->usage_events[2], 2, "k3", 0, 0, "2024-01-01T10:02:00Z");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "usage_event_count");
    assert_string_equal(diffs.items[0].stored, "2");
    assert_string_equal(diffs.items[0].parsed, "3");
}

static void usage_duplicate_events_counted(void **state)
{
    pd_arena *a = *state;
    /* {A, A, B} against {A, B, B}: same keys, different multiplicities. */
    pd_session *stored = events_session(a, 3);
    fixture_usage_event(a, &stored->usage_events[0], 0, "", 5, 1, "t1");
    fixture_usage_event(a, &stored->usage_events[1], 0, "", 5, 1, "t1");
    fixture_usage_event(a, &stored->usage_events[2], 0, "", 5, 1, "t2");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->usage_events[1].occurred_at = fx_str(a, "t2");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].detail,
                        "event composition differs; token totals are equal; first differing "
                        "event: tuple|message|model-a|5|1|0|0|0|t1|0");
}

static void usage_one_side_empty(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = events_session(a, 0);
    pd_session *parsed = two_keyed_events(a);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 2);
    assert_string_equal(diffs.items[0].field, "usage_event_count");
    assert_string_equal(diffs.items[0].stored, "0");
    assert_string_equal(diffs.items[0].parsed, "2");
    assert_string_equal(diffs.items[1].field, "usage_event_totals");
    assert_string_equal(diffs.items[1].stored,
                        "input=0 output=0 cache_creation=0 cache_read=0 reasoning=0");
    assert_string_equal(diffs.items[1].parsed, TOTALS_30_6);
}

static void usage_diffs_never_informational(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = two_keyed_events(a);
    stored->agent = fx_str(a, "codex");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->n_usage_events = 1;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 2);
    assert_false(diffs.items[0].informational);
    assert_false(diffs.items[1].informational);
    assert_int_equal(pd_field_diffs_real_count(&diffs), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(usage_both_empty_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_shuffled_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_shuffled_tuples_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_removed_event_count_then_totals, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_output_drift_totals_only, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_every_class_in_totals_detail, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_same_key_other_time_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_dedup_key_change_is_composition, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_model_change_is_composition, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_source_change_is_composition, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_redistributed_tokens_is_composition,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_tuple_time_drift_is_composition, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_tuple_ordinal_drift_is_composition,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_same_key_input_drift, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_zero_event_added_count_only, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_duplicate_events_counted, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_one_side_empty, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(usage_diffs_never_informational, fixture_arena_setup,
                                        fixture_arena_teardown),
    };
    return cmocka_run_group_tests_name("compare_usage", tests, NULL, NULL);
}
