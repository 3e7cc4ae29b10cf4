/*
 * test_compare.c -- comparator tests for the session-row columns, the diff
 * list helpers and the report verdicts.
 *
 * Each row of field_cases changes one column of a hand-built session (see
 * test_compare_fixture.h) and states the one diff, or none, that the
 * comparator must emit, with its rendered texts and whether it is
 * informational. Every row runs as its own named cmocka test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/model.h"
#include "engine/compare.h"
#include "engine/diffreport.h"
#include "test_compare_fixture.h"

/* ---- one column changed at a time ---- */

typedef void (*mutate_fn)(pd_arena *a, pd_session *stored, pd_session *parsed);

typedef struct field_case {
    const char *name;
    const char *agent;
    mutate_fn mutate;   /* NULL: both sides stay equal */
    const char *field;  /* NULL: no diff expected */
    const char *stored; /* expected rendered stored value */
    const char *parsed; /* expected rendered parsed value */
    const char *detail; /* NULL: no detail expected */
    bool informational;
} field_case;

static void message_count_grows(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->message_count = 4;
}

static void user_message_count_grows(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->user_message_count = 2;
}

static void first_message_null_vs_empty(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->first_message = NULL;
    parsed->first_message = fx_str(a, "");
}

static void first_message_empty_vs_null(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->first_message = fx_str(a, "");
    parsed->first_message = NULL;
}

static void first_message_drifts(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->first_message = fx_str(a, "fix the tests");
}

static void first_message_stored_null(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)parsed;
    stored->first_message = NULL;
}

static void first_message_stored_empty(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    stored->first_message = fx_str(a, "");
}

static void first_message_stored_control_char(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    /* The control character and the invalid byte are removed by sanitising. */
    stored->first_message = fx_str(a, "fix the\x01 build\xff");
}

static void session_name_null_vs_empty(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->session_name = NULL;
    parsed->session_name = fx_str(a, "");
}

static void session_name_renamed(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->session_name = fx_str(a, "Renamed");
}

static void session_name_long_renamed(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    char name[101];
    memset(name, 'n', 100);
    name[100] = '\0';
    parsed->session_name = fx_str(a, name);
}

static void started_at_drifts(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->started_at = fx_str(a, "2024-01-01T09:59:00Z");
}

static void ended_at_drifts(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->ended_at = fx_str(a, "2024-01-01T10:06:00Z");
}

static void ended_at_stored_null(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)parsed;
    stored->ended_at = NULL;
}

static void total_output_value_drifts(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->total_output_tokens = 15;
}

static void total_output_flag_flips(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->has_total_output_tokens = false;
}

static void total_output_both_absent(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a;
    stored->has_total_output_tokens = false;
    parsed->has_total_output_tokens = false;
    parsed->total_output_tokens = 99;
}

static void peak_context_value_drifts(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->peak_context_tokens = 310;
}

static void peak_context_gains_flag(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)parsed;
    stored->has_peak_context_tokens = false;
    stored->peak_context_tokens = 0;
}

static void termination_null_to_clean(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->termination_status = NULL;
    parsed->termination_status = fx_str(a, "clean");
}

static void termination_empty_to_clean(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->termination_status = fx_str(a, "");
    parsed->termination_status = fx_str(a, "clean");
}

static void termination_clean_to_null(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->termination_status = fx_str(a, "clean");
    parsed->termination_status = NULL;
}

static void termination_value_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->termination_status = fx_str(a, "clean");
    parsed->termination_status = fx_str(a, "interrupted");
}

static void termination_empty_vs_null(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->termination_status = fx_str(a, "");
    parsed->termination_status = NULL;
}

static void termination_control_char(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    /* termination_status is compared raw, so a control byte is a difference. */
    stored->termination_status = fx_str(a, "clean\x01");
    parsed->termination_status = fx_str(a, "clean");
}

static void cwd_moves(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->cwd = fx_str(a, "/home/dev/other");
}

static void cwd_long_moves(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    char path[101];
    memset(path, 'p', 100);
    path[0] = '/';
    path[100] = '\0';
    parsed->cwd = fx_str(a, path);
}

static void cwd_invalid_byte(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)parsed;
    stored->cwd = fx_str(a, "/home/dev/\xc3proj");
}

static void git_branch_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->git_branch = fx_str(a, "feature");
}

static void agent_label_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->agent_label = fx_str(a, "Claude Code CLI");
}

static void entrypoint_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->entrypoint = fx_str(a, "sdk");
}

static void session_kind_gains_value(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->session_kind = NULL;
    parsed->session_kind = fx_str(a, "bg");
}

static void relationship_type_gains_value(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->relationship_type = fx_str(a, "continuation");
}

static void source_session_id_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->source_session_id = fx_str(a, "src-2");
}

static void source_version_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->source_version = fx_str(a, "2.2.0");
}

static void transcript_fidelity_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->transcript_fidelity = fx_str(a, "partial");
}

static void transcript_fidelity_equal_copies(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->transcript_fidelity = fx_str(a, "partial");
    parsed->transcript_fidelity = fx_str(a, "partial");
}

static void parent_null_vs_empty(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->parent_session_id = NULL;
    parsed->parent_session_id = fx_str(a, "");
}

static void parent_gains_value(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    stored->parent_session_id = NULL;
    parsed->parent_session_id = fx_str(a, "parent-1");
}

static void malformed_lines_grow(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->parser_malformed_lines = 2;
}

static void is_truncated_flips(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)a, (void)stored;
    parsed->is_truncated = true;
}

static void project_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    (void)stored;
    parsed->project = fx_str(a, "other-project");
}

static void bookkeeping_changes(pd_arena *a, pd_session *stored, pd_session *parsed)
{
    /* Columns the guards and the classifier use, never the comparator. */
    parsed->file_size = 8192;
    parsed->file_mtime = 1700000000000000000;
    parsed->file_hash = fx_str(a, "00ff");
    parsed->next_ordinal = 9;
    parsed->last_entry_uuid = fx_str(a, "u-9");
    parsed->claude_linear_parse = 1;
    parsed->machine = fx_str(a, "remote");
    parsed->session_name_present = true;
    stored->data_version = PD_DATA_VERSION - 1;
    stored->last_write_incremental = true;
    stored->deleted_at = fx_str(a, "2024-02-01T00:00:00Z");
    parsed->needs_retry = true;
}

static const field_case field_cases[] = {
    {"fields identical no diff", "claude", NULL, NULL, NULL, NULL, NULL, false},
    {"message_count drift strict", "claude", message_count_grows, "message_count", "3", "4", NULL,
     false},
    {"user_message_count drift strict", "claude", user_message_count_grows, "user_message_count",
     "1", "2", NULL, false},
    {"first_message null vs empty equal", "claude", first_message_null_vs_empty, NULL, NULL, NULL,
     NULL, false},
    {"first_message empty vs null equal", "claude", first_message_empty_vs_null, NULL, NULL, NULL,
     NULL, false},
    {"first_message drift strict", "claude", first_message_drifts, "first_message", "fix the build",
     "fix the tests", NULL, false},
    {"first_message null renders (null)", "claude", first_message_stored_null, "first_message",
     "(null)", "fix the build", NULL, false},
    {"first_message empty renders empty", "claude", first_message_stored_empty, "first_message", "",
     "fix the build", NULL, false},
    {"first_message compared sanitised", "claude", first_message_stored_control_char, NULL, NULL,
     NULL, NULL, false},
    {"session_name null vs empty equal", "claude", session_name_null_vs_empty, NULL, NULL, NULL,
     NULL, false},
    {"session_name drift claude informational", "claude", session_name_renamed, "session_name",
     "Build fix", "Renamed", "incremental-append history", true},
    {"session_name drift codex informational", "codex", session_name_renamed, "session_name",
     "Build fix", "Renamed", "incremental-append history", true},
    {"session_name drift traex informational", "traex", session_name_renamed, "session_name",
     "Build fix", "Renamed", "incremental-append history", true},
    {"session_name drift gemini strict", "gemini", session_name_renamed, "session_name",
     "Build fix", "Renamed", NULL, false},
    {"session_name long claude keeps rune note", "claude", session_name_long_renamed,
     "session_name", "Build fix",
     "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...",
     "parsed 100 characters (incremental-append history)", true},
    {"started_at drift strict", "claude", started_at_drifts, "started_at", "2024-01-01T10:00:00Z",
     "2024-01-01T09:59:00Z", NULL, false},
    {"ended_at drift strict", "claude", ended_at_drifts, "ended_at", "2024-01-01T10:05:00Z",
     "2024-01-01T10:06:00Z", NULL, false},
    {"ended_at null renders (null)", "claude", ended_at_stored_null, "ended_at", "(null)",
     "2024-01-01T10:05:00Z", NULL, false},
    {"total_output value drift", "claude", total_output_value_drifts, "total_output_tokens", "12",
     "15", NULL, false},
    {"total_output flag flip renders absent", "claude", total_output_flag_flips,
     "total_output_tokens", "12", "absent", NULL, false},
    {"total_output both absent equal", "claude", total_output_both_absent, NULL, NULL, NULL, NULL,
     false},
    {"peak_context value drift", "claude", peak_context_value_drifts, "peak_context_tokens", "300",
     "310", NULL, false},
    {"peak_context gained flag", "claude", peak_context_gains_flag, "peak_context_tokens", "absent",
     "300", NULL, false},
    {"termination null to value claude informational", "claude", termination_null_to_clean,
     "termination_status", "(null)", "clean", "incremental-append history", true},
    {"termination empty to value codex informational", "codex", termination_empty_to_clean,
     "termination_status", "(null)", "clean", "incremental-append history", true},
    {"termination value to null claude strict", "claude", termination_clean_to_null,
     "termination_status", "clean", "(null)", NULL, false},
    {"termination value change claude strict", "claude", termination_value_changes,
     "termination_status", "clean", "interrupted", NULL, false},
    {"termination both null equal", "claude", NULL, NULL, NULL, NULL, NULL, false},
    {"termination empty vs null equal", "claude", termination_empty_vs_null, NULL, NULL, NULL, NULL,
     false},
    {"termination null to value antigravity strict", "antigravity-cli", termination_null_to_clean,
     "termination_status", "(null)", "clean", NULL, false},
    {"termination null to value gemini strict", "gemini", termination_null_to_clean,
     "termination_status", "(null)", "clean", NULL, false},
    {"termination compared raw", "gemini", termination_control_char, "termination_status",
     "clean\x01", "clean", NULL, false},
    {"cwd drift claude informational", "claude", cwd_moves, "cwd", "/home/dev/proj",
     "/home/dev/other", "incremental-append history", true},
    {"cwd drift gemini strict", "gemini", cwd_moves, "cwd", "/home/dev/proj", "/home/dev/other",
     NULL, false},
    {"cwd long value truncated without note", "gemini", cwd_long_moves, "cwd", "/home/dev/proj",
     "/ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp...", NULL,
     false},
    {"cwd compared sanitised", "gemini", cwd_invalid_byte, NULL, NULL, NULL, NULL, false},
    {"git_branch drift gemini strict", "gemini", git_branch_changes, "git_branch", "main",
     "feature", NULL, false},
    {"git_branch drift codex informational", "codex", git_branch_changes, "git_branch", "main",
     "feature", "incremental-append history", true},
    {"agent_label drift claude informational", "claude", agent_label_changes, "agent_label",
     "Claude Code", "Claude Code CLI", "incremental-append history", true},
    {"entrypoint drift gemini strict", "gemini", entrypoint_changes, "entrypoint", "cli", "sdk",
     NULL, false},
    {"session_kind null to bg gemini strict", "gemini", session_kind_gains_value, "session_kind",
     "(null)", "bg", NULL, false},
    {"relationship_type drift gemini strict", "gemini", relationship_type_gains_value,
     "relationship_type", "(null)", "continuation", NULL, false},
    {"source_session_id drift gemini strict", "gemini", source_session_id_changes,
     "source_session_id", "src-1", "src-2", NULL, false},
    {"source_version drift gemini strict", "gemini", source_version_changes, "source_version",
     "2.1.0", "2.2.0", NULL, false},
    {"transcript_fidelity drift gemini strict", "gemini", transcript_fidelity_changes,
     "transcript_fidelity", "full", "partial", NULL, false},
    {"transcript_fidelity equal no diff", "gemini", transcript_fidelity_equal_copies, NULL, NULL,
     NULL, NULL, false},
    {"parent null vs empty equal", "gemini", parent_null_vs_empty, NULL, NULL, NULL, NULL, false},
    {"parent null to value gemini strict", "gemini", parent_gains_value, "parent_session_id",
     "(null)", "parent-1", NULL, false},
    {"parent null to value claude informational", "claude", parent_gains_value, "parent_session_id",
     "(null)", "parent-1", "incremental-append history", true},
    {"malformed_lines drift gemini strict", "gemini", malformed_lines_grow,
     "parser_malformed_lines", "0", "2", NULL, false},
    {"malformed_lines drift claude informational", "claude", malformed_lines_grow,
     "parser_malformed_lines", "0", "2", "incremental-append history", true},
    {"is_truncated flip gemini strict", "gemini", is_truncated_flips, "is_truncated", "false",
     "true", NULL, false},
    {"is_truncated flip claude informational", "claude", is_truncated_flips, "is_truncated",
     "false", "true", "incremental-append history", true},
    {"project drift not compared", "gemini", project_changes, NULL, NULL, NULL, NULL, false},
    {"bookkeeping columns not compared", "gemini", bookkeeping_changes, NULL, NULL, NULL, NULL,
     false},
};

#define N_FIELD_CASES (sizeof field_cases / sizeof field_cases[0])

typedef struct case_state {
    const field_case *fc;
    pd_arena *arena;
} case_state;

static int case_setup(void **state)
{
    case_state *cs = malloc(sizeof *cs);
    if (cs == NULL)
        return -1;
    cs->fc = *state;
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

static void run_field_case(void **state)
{
    const case_state *cs = *state;
    const field_case *fc = cs->fc;
    pd_arena *a = cs->arena;

    pd_session *stored = fixture_session(a, fc->agent);
    pd_session *parsed = fixture_copy(a, stored);
    if (fc->mutate != NULL)
        fc->mutate(a, stored, parsed);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);
    if (fc->field == NULL) {
        assert_int_equal(diffs.n, 0);
        return;
    }
    assert_int_equal(diffs.n, 1);
    const pd_field_diff *d = &diffs.items[0];
    assert_string_equal(d->field, fc->field);
    assert_string_equal(d->stored, fc->stored);
    assert_string_equal(d->parsed, fc->parsed);
    if (fc->detail == NULL)
        assert_null(d->detail);
    else
        assert_string_equal(d->detail, fc->detail);
    assert_int_equal(d->informational, fc->informational);
}

/* ---- rendering of long values ---- */

static char *repeat(pd_arena *a, const char *unit, size_t times)
{
    size_t unit_len = strlen(unit);
    char *s = pd_arena_alloc(a, unit_len * times + 1);
    assert_non_null(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * unit_len, unit, unit_len);
    s[unit_len * times] = '\0';
    return s;
}

static void compare_truncates_long_first_message(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->first_message = repeat(a, "x", 200);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "first_message");
    assert_string_equal(diffs.items[0].stored, "fix the build");
    char *expected = pd_arena_sprintf(a, "%s...", repeat(a, "x", 80));
    assert_string_equal(diffs.items[0].parsed, expected);
    assert_non_null(diffs.items[0].detail);
    assert_non_null(strstr(diffs.items[0].detail, "parsed 200 characters"));
    assert_false(diffs.items[0].informational);
}

static void compare_truncates_by_runes_on_both_sides(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "gemini");
    pd_session *parsed = fixture_copy(a, stored);
    /* "é" is two bytes: the cut must count runes, not bytes. */
    stored->first_message = repeat(a, "\xc3\xa9", 100);
    parsed->first_message = repeat(a, "\xc3\xa9", 120);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    char *expected = pd_arena_sprintf(a, "%s...", repeat(a, "\xc3\xa9", 80));
    assert_string_equal(diffs.items[0].stored, expected);
    assert_string_equal(diffs.items[0].parsed, expected);
    assert_string_equal(diffs.items[0].detail, "stored 100 characters; parsed 120 characters");
}

static void compare_keeps_exactly_80_runes_whole(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "gemini");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->first_message = repeat(a, "y", 80);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].parsed, repeat(a, "y", 80));
    assert_null(diffs.items[0].detail);
}

/* Sanitising must hold wherever the byte sits, including word boundaries of
 * the comparator's eight-byte ASCII scan. */
static void compare_sanitises_at_every_offset(void **state)
{
    pd_arena *a = *state;
    static const char base[] = "abcdefghijklmnopqrstuvwx";
    static const char *const removed[] = {"\x01", "\x1f", "\x7f",    "\x80",
                                          "\xc3", "\xff", "\xc2\x85"};
    static const char *const kept[] = {"\t", "\n", "\r", "\xc3\xa9", "~", " "};
    size_t base_len = sizeof base - 1;

    for (size_t offset = 0; offset <= base_len; offset++) {
        pd_session *stored = fixture_session(a, "gemini");
        pd_session *parsed = fixture_copy(a, stored);
        parsed->first_message = fx_str(a, base);

        for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
            stored->first_message =
                pd_arena_sprintf(a, "%.*s%s%s", (int)offset, base, removed[i], base + offset);
            pd_field_diffs diffs = fixture_compare(a, stored, parsed);
            if (diffs.n != 0)
                print_message("removed byte %zu at offset %zu made a diff\n", i, offset);
            assert_int_equal(diffs.n, 0);
        }

        for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
            stored->first_message =
                pd_arena_sprintf(a, "%.*s%s%s", (int)offset, base, kept[i], base + offset);
            pd_field_diffs diffs = fixture_compare(a, stored, parsed);
            if (diffs.n != 1)
                print_message("kept text %zu at offset %zu made no diff\n", i, offset);
            assert_int_equal(diffs.n, 1);
        }
    }
}

static void compare_termination_detail_exact(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->termination_status = fx_str(a, "clean");

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 1);
    assert_string_equal(diffs.items[0].field, "termination_status");
    assert_string_equal(diffs.items[0].detail, "incremental-append history");
    assert_true(diffs.items[0].informational);
}

/* ---- order, round trip, arguments ---- */

static void compare_emits_session_fields_in_order(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "gemini");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->message_count = 9;
    parsed->user_message_count = 9;
    parsed->first_message = fx_str(a, "other");
    parsed->session_name = fx_str(a, "other");
    parsed->started_at = fx_str(a, "2024-01-02T00:00:00Z");
    parsed->ended_at = fx_str(a, "2024-01-02T00:00:01Z");
    parsed->total_output_tokens = 1;
    parsed->peak_context_tokens = 1;
    parsed->termination_status = fx_str(a, "clean");
    parsed->agent_label = fx_str(a, "other");
    parsed->entrypoint = fx_str(a, "other");
    parsed->session_kind = fx_str(a, "other");
    parsed->cwd = fx_str(a, "/other");
    parsed->git_branch = fx_str(a, "other");
    parsed->relationship_type = fx_str(a, "fork");
    parsed->source_session_id = fx_str(a, "other");
    parsed->source_version = fx_str(a, "other");
    parsed->transcript_fidelity = fx_str(a, "other");
    parsed->parent_session_id = fx_str(a, "other");
    parsed->parser_malformed_lines = 1;
    parsed->is_truncated = true;

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    static const char *const expected[] = {
        "message_count",
        "user_message_count",
        "first_message",
        "session_name",
        "started_at",
        "ended_at",
        "total_output_tokens",
        "peak_context_tokens",
        "termination_status",
        "agent_label",
        "entrypoint",
        "session_kind",
        "cwd",
        "git_branch",
        "relationship_type",
        "source_session_id",
        "source_version",
        "transcript_fidelity",
        "parent_session_id",
        "parser_malformed_lines",
        "is_truncated",
    };
    size_t n_expected = sizeof expected / sizeof expected[0];
    assert_int_equal(diffs.n, n_expected);
    for (size_t i = 0; i < n_expected && i < diffs.n; i++)
        assert_string_equal(diffs.items[i].field, expected[i]);
}

static void compare_round_trip_claude_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "claude");
    stored->termination_status = fx_str(a, "clean");
    stored->parent_session_id = fx_str(a, "parent-1");
    stored->is_truncated = true;
    stored->parser_malformed_lines = 3;
    pd_session *parsed = fixture_copy(a, stored);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void compare_round_trip_gemini_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "gemini");
    pd_session *parsed = fixture_copy(a, stored);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void compare_round_trip_empty_session_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fx_calloc(a, 1, sizeof *stored);
    pd_session_init(stored);
    pd_session *parsed = fixture_copy(a, stored);

    pd_field_diffs diffs = fixture_compare(a, stored, parsed);

    assert_int_equal(diffs.n, 0);
}

static void compare_same_session_pointer_no_diff(void **state)
{
    pd_arena *a = *state;
    pd_session *s = fixture_session(a, "codex");

    pd_field_diffs diffs = fixture_compare(a, s, s);

    assert_int_equal(diffs.n, 0);
}

static void compare_appends_to_existing_list(void **state)
{
    pd_arena *a = *state;
    pd_session *stored = fixture_session(a, "gemini");
    pd_session *parsed = fixture_copy(a, stored);
    parsed->message_count = 4;
    pd_field_diffs diffs = fixture_compare(a, stored, parsed);
    assert_int_equal(diffs.n, 1);

    parsed->user_message_count = 5;
    assert_int_equal(pd_compare_sessions(stored, parsed, a, &diffs), PD_OK);

    assert_int_equal(diffs.n, 3);
    assert_string_equal(diffs.items[0].field, "message_count");
    assert_string_equal(diffs.items[1].field, "message_count");
    assert_string_equal(diffs.items[2].field, "user_message_count");
}

static void compare_rejects_null_arguments(void **state)
{
    pd_arena *a = *state;
    pd_session *s = fixture_session(a, "claude");
    pd_field_diffs diffs = {0};

    assert_int_equal(pd_compare_sessions(NULL, s, a, &diffs), PD_EINVAL);
    assert_int_equal(pd_compare_sessions(s, NULL, a, &diffs), PD_EINVAL);
    assert_int_equal(pd_compare_sessions(s, s, NULL, &diffs), PD_EINVAL);
    assert_int_equal(pd_compare_sessions(s, s, a, NULL), PD_EINVAL);
    assert_int_equal(diffs.n, 0);
}

/* ---- real count and confinement ---- */

static pd_field_diff make_diff(const char *field, bool informational)
{
    pd_field_diff d = {
        .field = field,
        .stored = "a",
        .parsed = "b",
        .detail = NULL,
        .informational = informational,
    };
    return d;
}

static void real_count_skips_informational(void **state)
{
    (void)state;
    pd_field_diff items[] = {
        make_diff("session_name", true),
        make_diff("message_count", false),
        make_diff("cwd", true),
        make_diff("models", false),
    };
    pd_field_diffs none = {0};
    pd_field_diffs informational_only = {items, 1, 1};
    pd_field_diffs mixed = {items, 4, 4};

    assert_int_equal(pd_field_diffs_real_count(NULL), 0);
    assert_int_equal(pd_field_diffs_real_count(&none), 0);
    assert_int_equal(pd_field_diffs_real_count(&informational_only), 0);
    assert_int_equal(pd_field_diffs_real_count(&mixed), 2);
}

typedef struct confinement_case {
    const char *name;
    pd_field_diff items[3];
    size_t n;
    bool confined;
} confinement_case;

static void confinement_follows_allow_list(void **state)
{
    (void)state;
    const confinement_case cases[] = {
        {"metadata alone", {make_diff("message_metadata", false)}, 1, true},
        {"informational others with metadata",
         {make_diff("session_name", true), make_diff("cwd", true),
          make_diff("message_metadata", false)},
         3,
         true},
        {"no diffs", {{0}}, 0, true},
        {"first_message", {make_diff("first_message", false)}, 1, false},
        {"message_content", {make_diff("message_content", false)}, 1, false},
        {"total_output_tokens", {make_diff("total_output_tokens", false)}, 1, false},
        {"metadata and first_message",
         {make_diff("message_metadata", false), make_diff("first_message", false)},
         2,
         false},
        {"tool_calls", {make_diff("tool_calls", false)}, 1, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_field_diffs d = {(pd_field_diff *)cases[i].items, cases[i].n, cases[i].n};
        bool confined = pd_field_diffs_confined_to_incremental_artifacts(&d);
        if (confined != cases[i].confined)
            print_message("confinement case failed: %s\n", cases[i].name);
        assert_int_equal(confined, cases[i].confined);
    }
    assert_true(pd_field_diffs_confined_to_incremental_artifacts(NULL));
}

static void incremental_agents_listed(void **state)
{
    (void)state;
    assert_true(pd_agent_is_incremental("claude"));
    assert_true(pd_agent_is_incremental("codex"));
    assert_true(pd_agent_is_incremental("traex"));
    assert_false(pd_agent_is_incremental("gemini"));
    assert_false(pd_agent_is_incremental("antigravity-cli"));
    assert_false(pd_agent_is_incremental(""));
    assert_false(pd_agent_is_incremental(NULL));
}

/* ---- report verdicts ---- */

typedef struct failure_case {
    const char *name;
    pd_diff_totals totals;
    bool fails;
} failure_case;

static void report_has_failures_only_on_drift(void **state)
{
    (void)state;
    const failure_case cases[] = {
        {"empty", {0}, false},
        {"identical", {.examined = 3, .identical = 3}, false},
        {"pending skipped retry new excluded informational",
         {.examined = 2,
          .identical = 1,
          .pending_resync = 1,
          .skipped = 1,
          .transient_needs_retry = 1,
          .new_on_disk = 1,
          .excluded_by_parser = 1,
          .informational_only = 1},
         false},
        {"raced only", {.examined = 1, .raced = 1}, false},
        {"skew only", {.examined = 1, .incremental_skew = 1}, false},
        {"changed", {.examined = 1, .changed = 1}, true},
        {"parse errors", {.parse_errors = 1}, true},
        {"changed and parse errors", {.examined = 1, .changed = 1, .parse_errors = 2}, true},
        {"changed and raced", {.examined = 2, .changed = 1, .raced = 1}, true},
        {"changed and skew", {.examined = 2, .changed = 1, .incremental_skew = 1}, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pd_diff_report r = {0};
        r.totals = cases[i].totals;
        bool fails = pd_diff_report_has_failures(&r);
        if (fails != cases[i].fails)
            print_message("has_failures case failed: %s\n", cases[i].name);
        assert_int_equal(fails, cases[i].fails);
    }
    assert_false(pd_diff_report_has_failures(NULL));
}

static void report_vacuous_when_all_pending(void **state)
{
    (void)state;
    pd_diff_report r = {0};
    assert_false(pd_diff_report_is_vacuous(&r));

    r.totals.examined = 2;
    r.totals.pending_resync = 2;
    assert_true(pd_diff_report_is_vacuous(&r));

    r.totals.examined = 3;
    r.totals.identical = 1;
    assert_false(pd_diff_report_is_vacuous(&r));

    r.totals = (pd_diff_totals){.pending_resync = 1, .new_on_disk = 4};
    assert_false(pd_diff_report_is_vacuous(&r));
    assert_false(pd_diff_report_is_vacuous(NULL));
}

static void class_names_match_report_values(void **state)
{
    (void)state;
    assert_string_equal(pd_diff_class_name(PD_CLASS_IDENTICAL), "identical");
    assert_string_equal(pd_diff_class_name(PD_CLASS_CHANGED), "changed");
    assert_string_equal(pd_diff_class_name(PD_CLASS_PENDING_RESYNC), "pending_resync");
    assert_string_equal(pd_diff_class_name(PD_CLASS_NEW_ON_DISK), "new_on_disk");
    assert_string_equal(pd_diff_class_name(PD_CLASS_PARSE_ERROR), "parse_error");
    assert_string_equal(pd_diff_class_name(PD_CLASS_EXCLUDED_BY_PARSER), "excluded_by_parser");
    assert_string_equal(pd_diff_class_name(PD_CLASS_NEEDS_RETRY), "transient_needs_retry");
    assert_string_equal(pd_diff_class_name(PD_CLASS_SKIPPED), "skipped");
    assert_string_equal(pd_diff_class_name(PD_CLASS_RACED), "raced");
    assert_string_equal(pd_diff_class_name(PD_CLASS_INCREMENTAL_SKEW), "incremental_skew");
    assert_string_equal(pd_diff_class_name(PD_CLASS_COUNT), "unknown");
}

int main(void)
{
    static const struct CMUnitTest fixed_tests[] = {
        cmocka_unit_test_setup_teardown(compare_truncates_long_first_message, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_truncates_by_runes_on_both_sides,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_keeps_exactly_80_runes_whole, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_sanitises_at_every_offset, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_termination_detail_exact, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_emits_session_fields_in_order, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_round_trip_claude_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_round_trip_gemini_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_round_trip_empty_session_no_diff,
                                        fixture_arena_setup, fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_same_session_pointer_no_diff, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_appends_to_existing_list, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test_setup_teardown(compare_rejects_null_arguments, fixture_arena_setup,
                                        fixture_arena_teardown),
        cmocka_unit_test(real_count_skips_informational),
        cmocka_unit_test(confinement_follows_allow_list),
        cmocka_unit_test(incremental_agents_listed),
        cmocka_unit_test(report_has_failures_only_on_drift),
        cmocka_unit_test(report_vacuous_when_all_pending),
        cmocka_unit_test(class_names_match_report_values),
    };
    size_t n_fixed = sizeof fixed_tests / sizeof fixed_tests[0];

    /* One named test per table row, so a failure names the column and case. */
    struct CMUnitTest tests[sizeof fixed_tests / sizeof fixed_tests[0] + N_FIELD_CASES];
    for (size_t i = 0; i < N_FIELD_CASES; i++) {
        tests[i] = (struct CMUnitTest){
            .name = field_cases[i].name,
            .test_func = run_field_case,
            .setup_func = case_setup,
            .teardown_func = case_teardown,
            .initial_state = (void *)&field_cases[i],
        };
    }
    memcpy(&tests[N_FIELD_CASES], fixed_tests, sizeof fixed_tests);

    return _cmocka_run_group_tests("compare_session_fields", tests, N_FIELD_CASES + n_fixed, NULL,
                                   NULL);
}
