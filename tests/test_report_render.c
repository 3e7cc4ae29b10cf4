/*
 * test_report_render.c -- the JSON and text forms of a diff report.
 *
 * Each test builds a pd_diff_report by hand in an arena, renders it into a
 * file inside a fresh mkdtemp directory, reads the file back and checks
 * substrings, their order and, for JSON, that the output parses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/error.h"
#include "common/json.h"
#include "engine/diffreport.h"
#include "report/report.h"

#define MAX_ENTRIES 64
#define MAX_FIELD_COUNTS 16

typedef struct fixture {
    char dir[64];
    char path[128];
    pd_arena *arena;
    pd_diff_report r;
    pd_diff_entry entries[MAX_ENTRIES];
    pd_field_count counts[MAX_FIELD_COUNTS];
    char *output; /* last rendering, malloc'd */
} fixture;

static const char *default_agents[] = {"claude", "codex"};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;

    strcpy(f->dir, "/tmp/pd_report_XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/report.out", f->dir);

    f->arena = pd_arena_new();
    if (!f->arena) {
        rmdir(f->dir);
        free(f);
        return -1;
    }

    f->r.arena = f->arena;
    strcpy(f->r.generated_at, "2026-03-04T05:06:07Z");
    f->r.data_version = 90;
    f->r.db_path = "/data/archive.db";
    f->r.agents = default_agents;
    f->r.n_agents = 2;
    f->r.sessions = f->entries;
    f->r.field_counts = f->counts;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    unlink(f->path);
    rmdir(f->dir);
    pd_arena_free(f->arena);
    free(f->output);
    free(f);
    return 0;
}

/* Reads the whole file at path into a malloc'd NUL-terminated string. */
static char *read_file(const char *path)
{
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    assert_int_equal(fseek(in, 0, SEEK_END), 0);
    long size = ftell(in);
    assert_true(size >= 0);
    rewind(in);

    char *text = malloc((size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)size, in), (size_t)size);
    text[size] = '\0';
    fclose(in);
    return text;
}

/* Renders the fixture's report into its file and returns the file contents. */
static const char *render_text(fixture *f, bool verbose)
{
    FILE *out = fopen(f->path, "wb");
    assert_non_null(out);
    assert_int_equal(pd_report_write_text(out, &f->r, verbose), PD_OK);
    assert_int_equal(fclose(out), 0);

    free(f->output);
    f->output = read_file(f->path);
    return f->output;
}

static const char *render_json(fixture *f)
{
    FILE *out = fopen(f->path, "wb");
    assert_non_null(out);
    assert_int_equal(pd_report_write_json(out, &f->r), PD_OK);
    assert_int_equal(fclose(out), 0);

    free(f->output);
    f->output = read_file(f->path);
    return f->output;
}

static pd_diff_entry *add_entry(fixture *f, pd_diff_class cls, const char *agent,
                                const char *session_id, const char *file_path, const char *reason)
{
    assert_true(f->r.n_sessions < MAX_ENTRIES);
    pd_diff_entry *e = &f->entries[f->r.n_sessions++];
    memset(e, 0, sizeof(*e));
    e->cls = cls;
    e->agent = pd_arena_strdup(f->arena, agent);
    e->session_id = pd_arena_strdup(f->arena, session_id);
    e->file_path = pd_arena_strdup(f->arena, file_path);
    e->reason = pd_arena_strdup(f->arena, reason);
    e->stored_data_version = 90;
    return e;
}

static void add_field(fixture *f, pd_diff_entry *e, const char *field, const char *stored,
                      const char *parsed, const char *detail, bool informational)
{
    pd_field_diff *grown =
        pd_arena_grow(f->arena, e->fields, e->n_fields, e->n_fields + 1, sizeof(*grown));
    assert_non_null(grown);
    e->fields = grown;

    pd_field_diff *d = &e->fields[e->n_fields++];
    d->field = pd_arena_strdup(f->arena, field);
    d->stored = pd_arena_strdup(f->arena, stored);
    d->parsed = pd_arena_strdup(f->arena, parsed);
    d->detail = pd_arena_strdup(f->arena, detail);
    d->informational = informational;
}

static void add_field_count(fixture *f, const char *field, int64_t count)
{
    assert_true(f->r.n_field_counts < MAX_FIELD_COUNTS);
    f->counts[f->r.n_field_counts].field = field;
    f->counts[f->r.n_field_counts].count = count;
    f->r.n_field_counts++;
}

#define assert_contains(text, needle)                                                              \
    do {                                                                                           \
        if (!strstr((text), (needle)))                                                             \
            fail_msg("expected \"%s\" in output:\n%s", (needle), (text));                          \
    } while (0)

#define assert_not_contains(text, needle)                                                          \
    do {                                                                                           \
        if (strstr((text), (needle)))                                                              \
            fail_msg("did not expect \"%s\" in output:\n%s", (needle), (text));                    \
    } while (0)

/* Asserts that first and second both occur and first comes before second. */
#define assert_before(text, first, second)                                                         \
    do {                                                                                           \
        const char *pos_a_ = strstr((text), (first));                                              \
        const char *pos_b_ = strstr((text), (second));                                             \
        if (!pos_a_ || !pos_b_ || pos_a_ >= pos_b_)                                                \
            fail_msg("expected \"%s\" before \"%s\" in output:\n%s", (first), (second), (text));   \
    } while (0)

/* Number of non-overlapping occurrences of needle in text. */
static size_t count_occurrences(const char *text, const char *needle)
{
    size_t n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(text, needle); p; p = strstr(p + len, needle))
        n++;
    return n;
}

/* Returns the line of text that contains needle, as a malloc'd string. */
static char *line_containing(const char *text, const char *needle)
{
    const char *hit = strstr(text, needle);
    if (!hit)
        fail_msg("expected \"%s\" in output:\n%s", needle, text);
    const char *start = hit;
    while (start > text && start[-1] != '\n')
        start--;
    const char *end = strchr(hit, '\n');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    char *line = malloc(len + 1);
    assert_non_null(line);
    memcpy(line, start, len);
    line[len] = '\0';
    return line;
}

/* ---- text: empty and header ------------------------------------------- */

/* A run that compared nothing reports so on stdout, where a CI log keeps the report. */
static void text_empty_report_warns_nothing_compared(void **state)
{
    fixture *f = *state;
    const char *out = render_text(f, false);

    assert_contains(out, "Parse diff: 0 files re-parsed (all agents) against /data/archive.db "
                         "(data version 90)\n");
    assert_contains(out, "Summary\n");
    assert_contains(out, "  Examined  0");
    assert_contains(out, "0 sessions changed, 0 identical.\n");
    assert_not_contains(out, "Changed fields");
    assert_not_contains(out, "Changed sessions");
    assert_not_contains(out, "Parse errors");
    assert_contains(out, "Warning: no stored session was compared with a transcript, so this "
                         "report cannot show drift.\nCheck --source and --db");
    assert_not_contains(out, "Note:");
    assert_not_contains(out, "Interrupted");

    /* An interrupted run compared nothing because it stopped, and its own line reports that. */
    f->r.interrupted = true;
    out = render_text(f, false);
    assert_not_contains(out, "Warning:");

    /* Sessions found but not compared (a parse error, a needed retry, a
     * parser exclusion) are listed with their own cause instead. */
    f->r.interrupted = false;
    f->r.totals.parse_errors = 1;
    assert_not_contains(render_text(f, false), "Warning: no stored session was compared");
    f->r.totals.parse_errors = 0;
    f->r.totals.transient_needs_retry = 1;
    assert_not_contains(render_text(f, false), "Warning: no stored session was compared");
    f->r.totals.transient_needs_retry = 0;
    f->r.totals.excluded_by_parser = 1;
    assert_not_contains(render_text(f, false), "Warning: no stored session was compared");
}

static void text_empty_report_shows_version(void **state)
{
    fixture *f = *state;
    f->r.data_version = 7;
    f->r.agents = NULL;
    f->r.n_agents = 0;
    const char *out = render_text(f, false);

    assert_contains(out, "(data version 7)\n");
    assert_contains(out, "Examined");
    assert_contains(out, "0 sessions changed, 0 identical.\n");
    assert_not_contains(out, "Changed fields");
    assert_not_contains(out, "Changed sessions");
    assert_not_contains(out, "Raced sessions");
    assert_not_contains(out, "Incremental-skew sessions");

    const char *footer = strstr(out, "0 sessions changed");
    assert_non_null(footer);
    assert_string_equal(footer, "0 sessions changed, 0 identical.\n");
}

static void text_empty_report_exact_layout(void **state)
{
    fixture *f = *state;
    const char *out = render_text(f, false);

    assert_string_equal(out, "Parse diff: 0 files re-parsed (all agents) against /data/archive.db "
                             "(data version 90)\n"
                             "\n"
                             "Warning: no stored session was compared with a transcript, so this "
                             "report cannot show drift.\n"
                             "Check --source and --db; the warnings on stderr name the likely "
                             "cause.\n"
                             "\n"
                             "Summary\n"
                             "  Examined  0  (compared with a stored row)\n"
                             "\n"
                             "0 sessions changed, 0 identical.\n");
}

/* --timings puts the phase times, in seconds, above the final line of the text report. */
static void text_timings_before_footer(void **state)
{
    fixture *f = *state;
    f->r.timings = (pd_diff_timings){.enabled = true,
                                     .snapshot_ms = 12.0,
                                     .discovery_ms = 31.6,
                                     .read_ms = 432.0,
                                     .parse_ms = 3000.25,
                                     .stored_reads_ms = 1543.0,
                                     .compare_ms = 189.0,
                                     .collect_ms = 6.0,
                                     .wait_ms = 2567.0,
                                     .sweeps_ms = 0.75,
                                     .total_ms = 2618.0};
    const char *out = render_text(f, false);

    assert_contains(out, "Timings (s; read to compare summed over workers)\n"
                         "  snapshot 0.012  discovery 0.032  read 0.432  parse 3.000  stored_reads "
                         "1.543\n"
                         "  compare 0.189  collect 0.006  wait 2.567  sweeps 0.001  total 2.618\n"
                         "\n"
                         "0 sessions changed, 0 identical.\n");
    f->r.timings.enabled = false;
    assert_not_contains(render_text(f, false), "Timings");
}

static void text_header_lists_restricted_agents(void **state)
{
    fixture *f = *state;
    f->r.agents_restricted = true;
    f->r.files_examined = 5;
    const char *out = render_text(f, false);

    assert_contains(out, "Parse diff: 5 files re-parsed (claude, codex) against /data/archive.db "
                         "(data version 90)\n");
    assert_not_contains(out, "all agents");
}

static void text_header_missing_db_path(void **state)
{
    fixture *f = *state;
    f->r.db_path = NULL;
    const char *out = render_text(f, false);

    assert_contains(out, "against (unknown archive) (data version 90)\n");
}

/* ---- text: changed sessions and field counts ---------------------------- */

static void text_changed_sessions_listed(void **state)
{
    fixture *f = *state;
    f->r.agents_restricted = true;
    f->r.files_examined = 6;
    f->r.totals.examined = 5;
    f->r.totals.identical = 3;
    f->r.totals.changed = 2;
    f->r.totals.skipped = 1;
    add_field_count(f, "message_count", 2);
    add_field_count(f, "models", 1);

    pd_diff_entry *a = add_entry(f, PD_CLASS_CHANGED, "claude", "laptop~abcdef1234567890",
                                 "/p/a.jsonl", NULL);
    add_field(f, a, "message_count", "4", "5", NULL, false);
    add_field(f, a, "models", "m1", "m2", NULL, false);
    add_field(f, a, "termination_status", "completed", "(null)", NULL, true);
    pd_diff_entry *b =
        add_entry(f, PD_CLASS_CHANGED, "codex", "0123456789abcdef", "/p/b.jsonl", NULL);
    add_field(f, b, "message_count", "1", "2", NULL, false);
    add_entry(f, PD_CLASS_SKIPPED, "claude", "skipped-session-id", "/p/gone.jsonl",
              "source missing");

    const char *out = render_text(f, false);

    assert_contains(out, "Parse diff: 6 files re-parsed (claude, codex) against /data/archive.db "
                         "(data version 90)\n");
    assert_contains(out, "Changed fields (sessions affected)\n");
    assert_contains(out, "Changed sessions\n");
    assert_contains(out, "abcdef1234567");
    assert_not_contains(out, "abcdef12345678");
    assert_not_contains(out, "laptop~");
    assert_contains(out, "message_count, models\n");
    assert_not_contains(out, "termination_status");
    assert_contains(out, "01234567");
    assert_contains(out, "2 sessions changed, 3 identical.\n");
    assert_not_contains(out, "skipped-session-id");
    assert_not_contains(out, "/p/gone.jsonl");
    assert_not_contains(out, "more; use --verbose or --json");
    assert_before(out, "Summary", "Changed fields (sessions affected)");
    assert_before(out, "Changed fields (sessions affected)", "Changed sessions");
    assert_before(out, "Changed sessions", "2 sessions changed");
}

static void text_changed_rows_are_aligned(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 2;
    pd_diff_entry *a = add_entry(f, PD_CLASS_CHANGED, "claude", "aaaaaaaa", NULL, NULL);
    add_field(f, a, "models", "x", "y", NULL, false);
    pd_diff_entry *b = add_entry(f, PD_CLASS_CHANGED, "codex", "bbbbbbbb", NULL, NULL);
    add_field(f, b, "first_message", "x", "y", NULL, false);

    const char *out = render_text(f, false);

    /* "codex" is one character shorter than "claude", so it gets one extra space. */
    assert_contains(out, "  claude  aaaaaaaa  models\n");
    assert_contains(out, "  codex   bbbbbbbb  first_message\n");
}

static void text_summary_counts_right_aligned(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 120;
    f->r.totals.identical = 118;
    f->r.totals.changed = 2;
    const char *out = render_text(f, false);

    assert_contains(out, "  Examined   120  (compared with a stored row)\n");
    assert_contains(out, "  Identical  118\n");
    assert_contains(out, "  Changed      2\n");
}

static void text_field_counts_by_count_then_name(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 9;
    add_field_count(f, "beta_field", 2);
    add_field_count(f, "big_field", 9);
    add_field_count(f, "alpha_field", 2);
    const char *out = render_text(f, false);

    assert_contains(out, "Changed fields (sessions affected)\n");
    assert_before(out, "big_field", "alpha_field");
    assert_before(out, "alpha_field", "beta_field");
    assert_contains(out, "  big_field    9\n");
    assert_contains(out, "  alpha_field  2\n");
}

static void text_informational_summary_suffix(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "s-info", NULL, NULL);
    add_field(f, e, "termination_status", "completed", "(null)", NULL, true);
    add_field(f, e, "session_name", "a", "b", NULL, true);
    const char *out = render_text(f, false);

    assert_contains(out, "termination_status [informational], session_name [informational]\n");
}

/* ---- text: caps and verbose --------------------------------------------- */

static void add_changed_sessions(fixture *f, pd_diff_class cls, int n)
{
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof(id), "sess-%02d", i);
        pd_diff_entry *e = add_entry(f, cls, "claude", id, "/p/s.jsonl", NULL);
        add_field(f, e, "first_message", "old", "new", "lengths 3 vs 3", false);
        add_field(f, e, "termination_status", "completed", "(null)", NULL, true);
    }
}

static void text_compact_caps_at_twenty(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 25;
    f->r.totals.changed = 25;
    add_changed_sessions(f, PD_CLASS_CHANGED, 25);
    const char *out = render_text(f, false);

    for (int i = 0; i < 20; i++) {
        char id[32];
        snprintf(id, sizeof(id), "sess-%02d", i);
        assert_contains(out, id);
    }
    for (int i = 20; i < 25; i++) {
        char id[32];
        snprintf(id, sizeof(id), "sess-%02d", i);
        assert_not_contains(out, id);
    }
    assert_contains(out, "  ... (5 more; use --verbose or --json)\n");
    assert_not_contains(out, "Warning:");
    assert_not_contains(out, "[informational]");
    assert_not_contains(out, "old -> new");
    assert_before(out, "sess-19", "... (5 more");
}

static void text_verbose_lifts_cap(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 25;
    f->r.totals.changed = 25;
    add_changed_sessions(f, PD_CLASS_CHANGED, 25);
    const char *out = render_text(f, true);

    for (int i = 0; i < 25; i++) {
        char id[32];
        snprintf(id, sizeof(id), "  claude  sess-%02d  /p/s.jsonl\n", i);
        assert_contains(out, id);
    }
    assert_contains(out, "    first_message: old -> new (lengths 3 vs 3)\n");
    assert_contains(out, "    termination_status: completed -> (null) [informational]\n");
    assert_int_equal(count_occurrences(out, "first_message: old -> new"), 25);
    assert_not_contains(out, "more; use --verbose or --json");
}

/* Verbose lists identical sessions with informational differences, and compact mode does not. */
static void text_verbose_lists_informational(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 1;
    f->r.totals.identical = 1;
    f->r.totals.informational_only = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_IDENTICAL, "codex", "s-title", "/p/r.jsonl", NULL);
    add_field(f, e, "session_name", "Old title", "New title", NULL, true);

    const char *verbose = render_text(f, true);
    assert_contains(verbose, "Informational differences (identical sessions; never counted as "
                             "drift)\n  codex  s-title  /p/r.jsonl\n");
    assert_contains(verbose, "    session_name: Old title -> New title [informational]\n");

    const char *compact = render_text(f, false);
    assert_not_contains(compact, "Informational differences");
    assert_not_contains(compact, "s-title");
}

static void text_verbose_block_without_path(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "codex", "host~full-session-id", NULL, NULL);
    add_field(f, e, "models", "a", "b", NULL, false);
    const char *out = render_text(f, true);

    /* Verbose blocks show the full ID, host prefix included. */
    assert_contains(out, "  codex  host~full-session-id\n    models: a -> b\n");
}

/* A message-family diff ("see detail" on both sides) shows only its detail in verbose text. */
static void text_verbose_family_shows_detail(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "s-1", "/p/s-1.jsonl", NULL);
    add_field(f, e, "message_content", "see detail", "see detail",
              "1/4 messages differ; first at ordinal 5: 23 -> 111 bytes", false);
    add_field(f, e, "models", "a", "b", "one model added", false);
    const char *out = render_text(f, true);

    assert_contains(out, "    message_content: 1/4 messages differ; first at ordinal 5: 23 -> 111 "
                         "bytes\n");
    assert_not_contains(out, "see detail");
    assert_contains(out, "    models: a -> b (one model added)\n");
}

/* A fingerprint diff has "fingerprint" on both sides, so it too shows only its detail. */
static void text_verbose_same_sides_show_detail(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "s-1", "/p/s-1.jsonl", NULL);
    add_field(f, e, "message_metadata", "fingerprint", "fingerprint",
              "the per-message content fingerprint differs", false);
    const char *out = render_text(f, true);

    assert_contains(out, "    message_metadata: the per-message content fingerprint differs\n");
    assert_not_contains(out, "fingerprint -> fingerprint");
}

/* A line break in a value cannot start a row of its own in the text report. */
static void text_line_break_stays_in_its_row(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    pd_diff_entry *e =
        add_entry(f, PD_CLASS_CHANGED, "claude", "s-1", "/p/a\n  claude  forged-row\n", NULL);
    add_field(f, e, "first_message", "one\ntwo", "one\tthree", NULL, false);
    const char *out = render_text(f, true);

    assert_contains(out, "  claude  s-1  /p/a   claude  forged-row \n");
    assert_contains(out, "    first_message: one two -> one three\n");
    assert_not_contains(out, "\n  claude  forged-row");
}

/* Two long texts cut to the same first characters keep both sides beside the lengths. */
static void text_verbose_equal_cut_texts_keep_sides(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "s-1", "/p/s-1.jsonl", NULL);
    add_field(f, e, "first_message", "Invoices round...", "Invoices round...",
              "stored 90 characters; parsed 90 characters", false);
    const char *out = render_text(f, true);

    assert_contains(out, "    first_message: Invoices round... -> Invoices round... (stored 90 "
                         "characters; parsed 90 characters)\n");
}

static void text_skew_section_caps_and_verbose(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 25;
    f->r.totals.incremental_skew = 25;
    add_changed_sessions(f, PD_CLASS_INCREMENTAL_SKEW, 25);

    const char *out = render_text(f, false);
    assert_contains(out, "Incremental-skew sessions (last written incrementally; not counted as "
                         "drift)\n");
    assert_contains(out, "  ... (5 more; use --verbose or --json)\n");
    char *summary_line = line_containing(out, "  Incremental skew");
    assert_contains(summary_line, "25");
    free(summary_line);
    assert_not_contains(out, "Changed sessions");

    out = render_text(f, true);
    assert_contains(out, "Incremental-skew sessions");
    assert_contains(out, "sess-24");
    assert_contains(out, "    first_message: old -> new (lengths 3 vs 3)\n");
    assert_not_contains(out, "more; use --verbose or --json");
}

static void text_raced_section_listed(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 1;
    f->r.totals.raced = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_RACED, "claude", "raced-01", "/p/r.jsonl",
                                 "source file changed after snapshot (live-write skew)");
    add_field(f, e, "message_count", "1", "3", NULL, false);
    const char *out = render_text(f, false);

    assert_contains(
        out, "Raced sessions (source written after its row was stored; not counted as drift)\n");
    assert_contains(out, "raced-01  message_count\n");
    char *summary_line = line_containing(out, "  Raced");
    assert_contains(summary_line, "1");
    free(summary_line);
    assert_not_contains(out, "Changed sessions");
}

static void text_sections_in_order(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 4;
    f->r.totals.changed = 1;
    f->r.totals.raced = 1;
    f->r.totals.incremental_skew = 1;
    f->r.totals.pending_resync = 1;
    f->r.totals.parse_errors = 1;
    add_field_count(f, "models", 1);

    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "c-1", NULL, NULL);
    add_field(f, e, "models", "a", "b", NULL, false);
    add_entry(f, PD_CLASS_PARSE_ERROR, "codex", NULL, "/p/bad.jsonl", "invalid JSON on line 1");
    e = add_entry(f, PD_CLASS_PENDING_RESYNC, "claude", "p-1", NULL, NULL);
    add_field(f, e, "models", "a", "b", NULL, false);
    e = add_entry(f, PD_CLASS_RACED, "claude", "r-1", NULL, NULL);
    add_field(f, e, "models", "a", "b", NULL, false);
    e = add_entry(f, PD_CLASS_INCREMENTAL_SKEW, "claude", "k-1", NULL, NULL);
    add_field(f, e, "message_metadata", "a", "b", NULL, false);

    const char *out = render_text(f, true);

    assert_before(out, "Parse diff:", "Summary\n");
    assert_before(out, "Summary\n", "Changed fields (sessions affected)\n");
    assert_before(out, "Changed fields (sessions affected)\n", "Parse errors\n");
    assert_before(out, "Parse errors\n", "Changed sessions\n");
    assert_before(out, "Changed sessions\n", "Raced sessions");
    assert_before(out, "Raced sessions", "Incremental-skew sessions");
    assert_before(out, "Incremental-skew sessions", "Pending-resync sessions");
    assert_before(out, "Pending-resync sessions", "Note: 1 session(s)");
    assert_before(out, "Note: 1 session(s)", "1 session changed, 0 identical.");
}

/* ---- text: summary lines ------------------------------------------------ */

static void text_summary_shows_nonzero_totals_only(void **state)
{
    fixture *f = *state;
    f->r.files_limited = true;
    f->r.totals.examined = 10;
    f->r.totals.identical = 8;
    f->r.totals.changed = 2;
    f->r.totals.parse_errors = 1;
    const char *out = render_text(f, false);

    assert_contains(out, "Note: --limit truncated discovery; totals cover a sample.\n");
    assert_contains(out, "  Examined");
    assert_contains(out, "  Identical");
    assert_contains(out, "  Changed ");
    assert_contains(out, "  Parse errors");
    assert_not_contains(out, "Pending resync");
    assert_not_contains(out, "New on disk");
    assert_not_contains(out, "Skipped");
    assert_not_contains(out, "Raced");
    assert_not_contains(out, "Incremental skew");
    assert_not_contains(out, "Excluded by parser");
    assert_not_contains(out, "Needs retry");
    assert_not_contains(out, "Informational only");
}

static void text_summary_notes_on_other_classes(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 9;
    f->r.totals.identical = 1;
    f->r.totals.changed = 1;
    f->r.totals.pending_resync = 1;
    f->r.totals.new_on_disk = 1;
    f->r.totals.skipped = 1;
    f->r.totals.raced = 1;
    f->r.totals.incremental_skew = 1;
    f->r.totals.excluded_by_parser = 1;
    f->r.totals.parse_errors = 1;
    f->r.totals.transient_needs_retry = 1;
    f->r.totals.informational_only = 1;
    const char *out = render_text(f, false);

    static const char *const with_note[] = {
        "Examined",  "Pending resync",     "New on disk",  "Skipped",
        "Raced",     "Incremental skew",   "Excluded by parser",
        "Parse errors", "Needs retry",     "Informational only",
    };
    for (size_t i = 0; i < sizeof(with_note) / sizeof(with_note[0]); i++) {
        char needle[64];
        snprintf(needle, sizeof(needle), "  %s ", with_note[i]);
        char *line = line_containing(out, needle);
        if (!strstr(line, "(") || line[strlen(line) - 1] != ')')
            fail_msg("summary line without a note: \"%s\"", line);
        free(line);
    }

    static const char *const without_note[] = {"  Identical ", "  Changed "};
    for (size_t i = 0; i < 2; i++) {
        char *line = line_containing(out, without_note[i]);
        assert_null(strchr(line, '('));
        free(line);
    }
    assert_before(out, "  Examined", "  Identical");
    assert_before(out, "  Identical", "  Changed ");
    assert_before(out, "  Changed ", "  Pending resync");
    assert_before(out, "  Pending resync", "  New on disk");
    assert_before(out, "  New on disk", "  Skipped");
    assert_before(out, "  Skipped", "  Raced");
    assert_before(out, "  Raced", "  Incremental skew");
    assert_before(out, "  Incremental skew", "  Excluded by parser");
    assert_before(out, "  Excluded by parser", "  Parse errors");
    assert_before(out, "  Parse errors", "  Needs retry");
    assert_before(out, "  Needs retry", "  Informational only");
}

/* ---- text: notes and warnings -------------------------------------------- */

static void text_skew_note_when_skew(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 1;
    f->r.totals.incremental_skew = 1;
    const char *out = render_text(f, false);

    assert_contains(out,
                    "Note: 1 session(s) were last written through the incremental-append path");
    assert_contains(out, "Run a full resync");
    assert_before(out, "incremental-append path", "0 sessions changed, 0 identical.");
}

static void text_no_skew_note_without_skew(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 3;
    f->r.totals.changed = 3;
    const char *out = render_text(f, false);

    assert_not_contains(out, "incremental-append path");
    assert_not_contains(out, "Run a full resync");
}

static void text_vacuous_run_warns(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 5;
    f->r.totals.pending_resync = 5;
    const char *out = render_text(f, false);

    assert_contains(out, "Warning:");
    assert_contains(out, "data version is ahead");
    assert_before(out, "Warning:", "Summary\n");
}

static void text_partly_pending_run_no_warning(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 5;
    f->r.totals.identical = 1;
    f->r.totals.pending_resync = 4;
    const char *out = render_text(f, false);

    assert_not_contains(out, "Warning:");
    assert_not_contains(out, "data version is ahead");
}

static void text_pending_resync_verbose_only(void **state)
{
    fixture *f = *state;
    f->r.totals.examined = 2;
    f->r.totals.pending_resync = 2;
    pd_diff_entry *e = add_entry(f, PD_CLASS_PENDING_RESYNC, "claude", "pending-with-fields",
                                 "/p/pending.jsonl", NULL);
    e->stored_data_version = 80;
    add_field(f, e, "first_message", "old", "new", NULL, false);
    add_entry(f, PD_CLASS_PENDING_RESYNC, "claude", "pending-no-fields", NULL, NULL);

    const char *out = render_text(f, false);
    assert_not_contains(out, "Pending-resync sessions");
    assert_not_contains(out, "pending-with-fields");

    out = render_text(f, true);
    assert_contains(out, "Pending-resync sessions (not counted; resync rewrites these)\n");
    assert_contains(out, "  claude  pending-with-fields  /p/pending.jsonl\n");
    assert_contains(out, "    first_message: old -> new\n");
    assert_not_contains(out, "pending-no-fields");
}

static void text_unlisted_classes_hidden(void **state)
{
    fixture *f = *state;
    f->r.totals.identical = 1;
    f->r.totals.informational_only = 1;
    f->r.totals.new_on_disk = 1;
    f->r.totals.excluded_by_parser = 1;
    f->r.totals.transient_needs_retry = 1;
    f->r.totals.skipped = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_IDENTICAL, "claude", "ident-info", NULL, NULL);
    add_field(f, e, "termination_status", "a", "b", NULL, true);
    add_entry(f, PD_CLASS_NEW_ON_DISK, "claude", "new-one", "/p/new.jsonl", NULL);
    add_entry(f, PD_CLASS_EXCLUDED_BY_PARSER, "claude", "excluded-one", NULL,
              "archive-preserved");
    add_entry(f, PD_CLASS_NEEDS_RETRY, "claude", "retry-one", NULL,
              "transient low-fidelity parse; differences expected");
    add_entry(f, PD_CLASS_SKIPPED, "claude", "skipped-one", NULL, "trashed in archive");

    const char *out = render_text(f, true);
    /* --verbose names the sessions not compared, with their reasons, the new
     * sessions and the informational differences. The compact report names
     * none of them. */
    assert_contains(out, "  claude  ident-info\n    termination_status: a -> b [informational]\n");
    assert_contains(out, "Needs-retry sessions (not compared; a later sync retries them)\n"
                         "  claude  retry-one\n"
                         "    reason: transient low-fidelity parse; differences expected\n");
    assert_contains(out, "Excluded sessions (the parser leaves them out)\n"
                         "  claude  excluded-one\n"
                         "    reason: archive-preserved\n");
    assert_contains(out, "Skipped sessions (not compared)\n"
                         "  claude  skipped-one\n"
                         "    reason: trashed in archive\n");
    assert_contains(out, "New sessions (found on disk, not in the archive)\n"
                         "  claude  new-one  /p/new.jsonl\n");
    out = render_text(f, false);
    assert_not_contains(out, "skipped-one");
    assert_not_contains(out, "new-one");
    assert_not_contains(out, "excluded-one");
    assert_not_contains(out, "retry-one");
    assert_not_contains(out, "ident-info");
}

/* ---- text: parse errors -------------------------------------------------- */

static void text_parse_errors_listed(void **state)
{
    fixture *f = *state;
    f->r.totals.parse_errors = 3;
    add_entry(f, PD_CLASS_PARSE_ERROR, "claude", NULL, "/p/broken.jsonl",
              "/p/broken.jsonl: invalid JSON on line 3");
    add_entry(f, PD_CLASS_PARSE_ERROR, "codex", "c-1", NULL, "no session_meta record");
    add_entry(f, PD_CLASS_PARSE_ERROR, "codex", "c-2", "/p/multi.jsonl",
              "first problem\nsecond problem");
    const char *out = render_text(f, false);

    assert_contains(out, "Parse errors\n");
    /* The path heads the entry, so the reason drops its own "path: " prefix. */
    assert_contains(out, "  claude  /p/broken.jsonl\n    invalid JSON on line 3\n");
    assert_contains(out, "  codex   (unknown file)\n    no session_meta record\n");
    assert_contains(out, "    first problem\n    second problem\n");
    assert_before(out, "Parse errors\n", "0 sessions changed");
}

static void text_parse_errors_not_capped(void **state)
{
    fixture *f = *state;
    f->r.totals.parse_errors = 30;
    for (int i = 0; i < 30; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/p/bad-%02d.jsonl", i);
        add_entry(f, PD_CLASS_PARSE_ERROR, "claude", NULL, path, "unreadable");
    }
    const char *out = render_text(f, false);

    assert_contains(out, "/p/bad-00.jsonl");
    assert_contains(out, "/p/bad-29.jsonl");
    assert_not_contains(out, "more; use --verbose or --json");
}

/* ---- text: terminal safety ------------------------------------------------ */

static void assert_no_terminal_controls(const char *out)
{
    if (strchr(out, '\x1b'))
        fail_msg("ESC in output:\n%s", out);
    if (strchr(out, '\a'))
        fail_msg("BEL in output:\n%s", out);
    if (strchr(out, '\r'))
        fail_msg("CR in output:\n%s", out);
    if (strstr(out, "\xc2\x9b"))
        fail_msg("C1 CSI in output:\n%s", out);
}

static void text_control_sequences_removed(void **state)
{
    fixture *f = *state;
    static const char *agents[] = {"cla\x1b[31mude"};
    f->r.agents = agents;
    f->r.n_agents = 1;
    f->r.agents_restricted = true;
    f->r.db_path = "/data/\x1b]0;title\aarchive.db";
    f->r.totals.examined = 2;
    f->r.totals.changed = 1;
    f->r.totals.parse_errors = 1;
    add_field_count(f, "evil\x1b[2Jfield", 1);

    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "agent\x1b[1m", "host~ab\rcd\x1b[0m",
                                 "/p/\x1b[31mred.jsonl", NULL);
    add_field(f, e, "first\x1b[Kmessage", "old\r\x1b[2Kvalue", "new\x07value",
              "detail\x1b]8;;http://x\a", false);
    add_entry(f, PD_CLASS_PARSE_ERROR, "codex", NULL, "/p/\x1b[33mbad.jsonl",
              "reason\r\x1b[1Agoes here\xc2\x9b" "5m");

    const char *compact = render_text(f, false);
    assert_no_terminal_controls(compact);
    assert_contains(compact, "(cla[31mude)");
    assert_contains(compact, "/data/]0;titlearchive.db");
    assert_contains(compact, "evil[2Jfield");
    assert_contains(compact, "agent[1m");
    /* The short ID "ab\rcd\x1b[0m" fits in 13 bytes and is filtered whole. */
    assert_contains(compact, "  abcd[0m  first[Kmessage\n");
    assert_contains(compact, "first[Kmessage");
    assert_contains(compact, "/p/[33mbad.jsonl");
    assert_contains(compact, "reason[1Agoes here5m");

    const char *verbose = render_text(f, true);
    assert_no_terminal_controls(verbose);
    assert_contains(verbose, "host~abcd[0m");
    assert_contains(verbose, "/p/[31mred.jsonl");
    assert_contains(verbose, "first[Kmessage: old[2Kvalue -> newvalue (detail]8;;http://x)");
}

static void text_short_id_cut_mid_character(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    /* Twelve ASCII bytes and then a two-byte character: the 13-byte cut splits it. */
    pd_diff_entry *e =
        add_entry(f, PD_CLASS_CHANGED, "claude", "m~abcdefghijkl\xc3\xa9xyz", NULL, NULL);
    add_field(f, e, "models", "a", "b", NULL, false);
    const char *out = render_text(f, false);

    assert_contains(out, "  claude  abcdefghijkl  models\n");
    assert_not_contains(out, "\xc3");
}

/* A fork's short id is not its transcript's: it shows the start of both UUIDs. */
static void text_short_id_of_fork(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 2;
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude",
                                 "11111111-2222-4333-8444-555555555555", NULL, NULL);
    add_field(f, e, "models", "a", "b", NULL, false);
    e = add_entry(f, PD_CLASS_CHANGED, "claude",
                  "11111111-2222-4333-8444-555555555555-d9bcff0a-1234-4abc-9def-0123456789ab", NULL,
                  NULL);
    add_field(f, e, "presence", "stored", "(not emitted)", NULL, false);
    const char *out = render_text(f, false);

    assert_contains(out, "  claude  11111111-2222       models\n");
    assert_contains(out, "  claude  11111111..d9bcff0a  presence\n");
}

/* ---- text: interrupted runs and write errors ------------------------------ */

static void text_interrupted_run_marked(void **state)
{
    fixture *f = *state;
    f->r.interrupted = true;
    f->r.totals.examined = 3;
    f->r.totals.identical = 3;
    const char *out = render_text(f, false);

    assert_int_equal(count_occurrences(out, "Interrupted; partial results"), 2);
    assert_before(out, "Parse diff:", "Interrupted; partial results");
    assert_before(out, "Interrupted; partial results", "Summary\n");
    const char *footer = strstr(out, "0 sessions changed, 3 identical.\n");
    assert_non_null(footer);
    assert_non_null(strstr(footer, "Interrupted; partial results"));
}

static void text_write_error_returns_eio(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    FILE *out = fopen("/dev/full", "w");
    assert_non_null(out);
    assert_int_equal(pd_report_write_text(out, &f->r, false), PD_EIO);
    fclose(out);
}

/* ---- JSON ----------------------------------------------------------------- */

/*
 * Fails unless text is valid UTF-8, checked with iconv rather than the
 * report's own decoder so that a shared bug cannot hide itself.
 */
static void assert_valid_utf8(const char *text)
{
    iconv_t cd = iconv_open("UTF-32LE", "UTF-8");
    assert_true(cd != (iconv_t)-1);

    char *in = (char *)text;
    size_t in_left = strlen(text);
    while (in_left > 0) {
        char buf[256];
        char *outp = buf;
        size_t out_left = sizeof(buf);
        if (iconv(cd, &in, &in_left, &outp, &out_left) == (size_t)-1 && errno != E2BIG) {
            iconv_close(cd);
            fail_msg("invalid UTF-8 at byte %zu of output:\n%s", (size_t)(in - text), text);
        }
    }
    iconv_close(cd);
}

/* Parses text with the project's JSON reader and returns the root value. */
static pd_json parse_json(pd_json_parser *parser, const char *text)
{
    pd_json root;
    int rc = pd_json_parse(parser, text, strlen(text), &root);
    if (rc != PD_OK)
        fail_msg("output is not valid JSON (%s):\n%s", pd_strerror_name(rc), text);
    return root;
}

static void json_top_level_keys_in_order(void **state)
{
    fixture *f = *state;
    const char *out = render_json(f);

    static const char *const keys[] = {
        "\"generated_at\": ", "\"data_version\": ", "\"db_path\": ", "\"agents\": ",
        "\"files_examined\": ", "\"files_limited\": ", "\"totals\": ", "\"field_counts\": ",
        "\"sessions\": ",
    };
    for (size_t i = 0; i + 1 < sizeof(keys) / sizeof(keys[0]); i++)
        assert_before(out, keys[i], keys[i + 1]);
    assert_contains(out, "\"generated_at\": \"2026-03-04T05:06:07Z\"");
    assert_not_contains(out, "\"interrupted\"");

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_json(parser, out);
    assert_int_equal(pd_json_type_of(root), PD_JSON_OBJECT);
    size_t n = 0;
    const char *generated = pd_json_str_or_empty(pd_json_get(root, "generated_at"), &n);
    assert_true(n > 0);
    assert_memory_equal(generated, "2026-03-04T05:06:07Z", n);
    assert_int_equal(pd_json_int(pd_json_get(root, "data_version")), 90);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "agents")), PD_JSON_ARRAY);
    assert_int_equal(pd_json_len(pd_json_get(root, "agents")), 2);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "files_examined")), PD_JSON_NUMBER);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "files_limited")), PD_JSON_BOOL);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "totals")), PD_JSON_OBJECT);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "field_counts")), PD_JSON_OBJECT);
    assert_int_equal(pd_json_type_of(pd_json_get(root, "sessions")), PD_JSON_ARRAY);
    pd_json_parser_free(parser);
}

static void json_clean_run_exact_output(void **state)
{
    fixture *f = *state;
    f->r.files_examined = 3;
    f->r.totals.examined = 3;
    f->r.totals.identical = 3;
    const char *out = render_json(f);

    assert_string_equal(out, "{\n"
                             "  \"generated_at\": \"2026-03-04T05:06:07Z\",\n"
                             "  \"data_version\": 90,\n"
                             "  \"db_path\": \"/data/archive.db\",\n"
                             "  \"agents\": [\n"
                             "    \"claude\",\n"
                             "    \"codex\"\n"
                             "  ],\n"
                             "  \"files_examined\": 3,\n"
                             "  \"files_limited\": false,\n"
                             "  \"totals\": {\n"
                             "    \"examined\": 3,\n"
                             "    \"identical\": 3,\n"
                             "    \"changed\": 0,\n"
                             "    \"pending_resync\": 0,\n"
                             "    \"new_on_disk\": 0,\n"
                             "    \"parse_errors\": 0,\n"
                             "    \"excluded_by_parser\": 0,\n"
                             "    \"transient_needs_retry\": 0,\n"
                             "    \"skipped\": 0,\n"
                             "    \"raced\": 0,\n"
                             "    \"incremental_skew\": 0,\n"
                             "    \"informational_only\": 0\n"
                             "  },\n"
                             "  \"field_counts\": {},\n"
                             "  \"sessions\": []\n"
                             "}\n");
}

static void json_db_path_omitted_when_empty(void **state)
{
    fixture *f = *state;

    f->r.db_path = NULL;
    const char *out = render_json(f);
    assert_not_contains(out, "db_path");
    assert_contains(out, "\"data_version\": 90,\n  \"agents\": ");

    f->r.db_path = "";
    out = render_json(f);
    assert_not_contains(out, "db_path");
}

static void json_empty_agents_array(void **state)
{
    fixture *f = *state;
    f->r.agents = NULL;
    f->r.n_agents = 0;
    const char *out = render_json(f);

    assert_contains(out, "\"agents\": [],\n");
}

static void json_session_entry_full(void **state)
{
    fixture *f = *state;
    f->r.totals.changed = 1;
    f->r.totals.examined = 1;
    add_field_count(f, "message_count", 1);
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "host~s1", "/p/s1.jsonl", NULL);
    add_field(f, e, "message_count", "4", "5", "stored 4, parsed 5", false);
    add_field(f, e, "termination_status", "completed", "(null)", NULL, true);
    const char *out = render_json(f);

    assert_contains(out, "  \"field_counts\": {\n    \"message_count\": 1\n  },\n");
    assert_contains(out, "  \"sessions\": [\n"
                         "    {\n"
                         "      \"session_id\": \"host~s1\",\n"
                         "      \"agent\": \"claude\",\n"
                         "      \"file_path\": \"/p/s1.jsonl\",\n"
                         "      \"class\": \"changed\",\n"
                         "      \"stored_data_version\": 90,\n"
                         "      \"fields\": [\n"
                         "        {\n"
                         "          \"field\": \"message_count\",\n"
                         "          \"stored\": \"4\",\n"
                         "          \"parsed\": \"5\",\n"
                         "          \"detail\": \"stored 4, parsed 5\",\n"
                         "          \"informational\": false\n"
                         "        },\n"
                         "        {\n"
                         "          \"field\": \"termination_status\",\n"
                         "          \"stored\": \"completed\",\n"
                         "          \"parsed\": \"(null)\",\n"
                         "          \"informational\": true\n"
                         "        }\n"
                         "      ]\n"
                         "    }\n"
                         "  ]\n"
                         "}\n");
}

static void json_session_optional_keys_omitted(void **state)
{
    fixture *f = *state;
    f->r.totals.parse_errors = 1;
    pd_diff_entry *e = add_entry(f, PD_CLASS_PARSE_ERROR, "codex", NULL, NULL, NULL);
    e->stored_data_version = 0;
    const char *out = render_json(f);

    assert_contains(out, "    {\n"
                         "      \"agent\": \"codex\",\n"
                         "      \"class\": \"parse_error\",\n"
                         "      \"stored_data_version\": 0\n"
                         "    }\n");
    assert_not_contains(out, "session_id");
    assert_not_contains(out, "file_path");
    assert_not_contains(out, "reason");
    assert_not_contains(out, "\"fields\"");
}

static void json_reason_and_class_names(void **state)
{
    fixture *f = *state;
    add_entry(f, PD_CLASS_SKIPPED, "claude", "s", NULL, "not sampled (--limit)");
    add_entry(f, PD_CLASS_NEEDS_RETRY, "claude", "t", NULL,
              "transient low-fidelity parse; differences expected");
    add_entry(f, PD_CLASS_INCREMENTAL_SKEW, "claude", "u", NULL, NULL);
    const char *out = render_json(f);

    assert_contains(out, "\"class\": \"skipped\",\n      \"reason\": \"not sampled (--limit)\",\n");
    assert_contains(out, "\"class\": \"transient_needs_retry\",\n");
    assert_contains(out, "\"class\": \"incremental_skew\",\n");
}

static void json_field_counts_sorted_by_name(void **state)
{
    fixture *f = *state;
    add_field_count(f, "models", 2);
    add_field_count(f, "first_message", 5);
    add_field_count(f, "message_count", 1);
    const char *out = render_json(f);

    assert_contains(out, "  \"field_counts\": {\n"
                         "    \"first_message\": 5,\n"
                         "    \"message_count\": 1,\n"
                         "    \"models\": 2\n"
                         "  },\n");
}

static void json_strings_escaped(void **state)
{
    fixture *f = *state;
    f->r.db_path = "C:\\data\\\"quoted\".db";
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "id\x01\x1f", "/p/x.jsonl", NULL);
    add_field(f, e, "first_message", "line1\nline2\ttab\rcr\b\f", "esc\x1b[31m", NULL, false);
    const char *out = render_json(f);

    assert_contains(out, "\"db_path\": \"C:\\\\data\\\\\\\"quoted\\\".db\"");
    assert_contains(out, "\"session_id\": \"id\\u0001\\u001f\"");
    assert_contains(out, "\"stored\": \"line1\\nline2\\ttab\\rcr\\b\\f\"");
    /* JSON output is not terminal-filtered, so ESC is escaped and "[31m" kept. */
    assert_contains(out, "\"parsed\": \"esc\\u001b[31m\"");

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_json(parser, out);
    size_t n = 0;
    const char *db = pd_json_str_or_empty(pd_json_get(root, "db_path"), &n);
    assert_int_equal(n, strlen(f->r.db_path));
    assert_memory_equal(db, f->r.db_path, n);
    const char *stored =
        pd_json_str_or_empty(pd_json_path(root, "sessions.0.fields.0.stored"), &n);
    assert_int_equal(n, strlen("line1\nline2\ttab\rcr\b\f"));
    assert_memory_equal(stored, "line1\nline2\ttab\rcr\b\f", n);
    pd_json_parser_free(parser);
}

static void json_invalid_utf8_replaced(void **state)
{
    fixture *f = *state;
    /* Lone continuation byte, bad lead byte, truncated sequence, overlong
     * slash, UTF-16 surrogate, and a valid accented letter and emoji. */
    pd_diff_entry *e = add_entry(f, PD_CLASS_CHANGED, "claude", "a\x80" "b\xff" "c", NULL, NULL);
    add_field(f, e, "first_message", "x\xe2\x82" "y", "\xc0\xaf|\xed\xa0\x80|",
              "caf\xc3\xa9 \xf0\x9f\x99\x82", false);
    const char *out = render_json(f);

#define FFFD "\xef\xbf\xbd"
    assert_contains(out, "\"session_id\": \"a" FFFD "b" FFFD "c\"");
    assert_contains(out, "\"stored\": \"x" FFFD FFFD "y\"");
    assert_contains(out, "\"parsed\": \"" FFFD FFFD "|" FFFD FFFD FFFD "|\"");
    assert_contains(out, "\"detail\": \"caf\xc3\xa9 \xf0\x9f\x99\x82\"");
#undef FFFD
    assert_valid_utf8(out);

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_json(parser, out);
    size_t n = 0;
    const char *detail = pd_json_str_or_empty(pd_json_path(root, "sessions.0.fields.0.detail"), &n);
    assert_int_equal(n, strlen("caf\xc3\xa9 \xf0\x9f\x99\x82"));
    assert_memory_equal(detail, "caf\xc3\xa9 \xf0\x9f\x99\x82", n);
    pd_json_parser_free(parser);
}

static void json_many_sessions_parse_back(void **state)
{
    fixture *f = *state;
    add_changed_sessions(f, PD_CLASS_CHANGED, 25);
    add_entry(f, PD_CLASS_PARSE_ERROR, "codex", NULL, NULL, "bad \"quote\"");
    add_field_count(f, "first_message", 25);
    const char *out = render_json(f);

    pd_json_parser *parser = pd_json_parser_new();
    assert_non_null(parser);
    pd_json root = parse_json(parser, out);
    pd_json sessions = pd_json_get(root, "sessions");
    assert_int_equal(pd_json_len(sessions), 26);
    assert_int_equal(pd_json_len(pd_json_path(root, "sessions.24.fields")), 2);
    assert_true(pd_json_bool(pd_json_path(root, "sessions.24.fields.1.informational")));
    assert_false(pd_json_bool(pd_json_path(root, "sessions.24.fields.0.informational")));
    assert_int_equal(pd_json_int(pd_json_path(root, "field_counts.first_message")), 25);
    assert_false(pd_json_exists(pd_json_path(root, "sessions.25.session_id")));
    pd_json_parser_free(parser);
}

static void json_interrupted_flag_last(void **state)
{
    fixture *f = *state;
    f->r.interrupted = true;
    const char *out = render_json(f);

    assert_contains(out, "  \"sessions\": [],\n  \"interrupted\": true\n}\n");
}

static void json_write_error_returns_eio(void **state)
{
    fixture *f = *state;
    add_changed_sessions(f, PD_CLASS_CHANGED, 3);
    FILE *out = fopen("/dev/full", "w");
    assert_non_null(out);
    assert_int_equal(pd_report_write_json(out, &f->r), PD_EIO);
    fclose(out);
}

#define REPORT_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        REPORT_TEST(text_empty_report_warns_nothing_compared),
        REPORT_TEST(text_empty_report_shows_version),
        REPORT_TEST(text_empty_report_exact_layout),
        REPORT_TEST(text_timings_before_footer),
        REPORT_TEST(text_header_lists_restricted_agents),
        REPORT_TEST(text_header_missing_db_path),
        REPORT_TEST(text_changed_sessions_listed),
        REPORT_TEST(text_changed_rows_are_aligned),
        REPORT_TEST(text_summary_counts_right_aligned),
        REPORT_TEST(text_field_counts_by_count_then_name),
        REPORT_TEST(text_informational_summary_suffix),
        REPORT_TEST(text_compact_caps_at_twenty),
        REPORT_TEST(text_verbose_lifts_cap),
        REPORT_TEST(text_verbose_lists_informational),
        REPORT_TEST(text_verbose_block_without_path),
        REPORT_TEST(text_verbose_family_shows_detail),
        REPORT_TEST(text_verbose_same_sides_show_detail),
        REPORT_TEST(text_verbose_equal_cut_texts_keep_sides),
        REPORT_TEST(text_line_break_stays_in_its_row),
        REPORT_TEST(text_skew_section_caps_and_verbose),
        REPORT_TEST(text_raced_section_listed),
        REPORT_TEST(text_sections_in_order),
        REPORT_TEST(text_summary_shows_nonzero_totals_only),
        REPORT_TEST(text_summary_notes_on_other_classes),
        REPORT_TEST(text_skew_note_when_skew),
        REPORT_TEST(text_no_skew_note_without_skew),
        REPORT_TEST(text_vacuous_run_warns),
        REPORT_TEST(text_partly_pending_run_no_warning),
        REPORT_TEST(text_pending_resync_verbose_only),
        REPORT_TEST(text_unlisted_classes_hidden),
        REPORT_TEST(text_parse_errors_listed),
        REPORT_TEST(text_parse_errors_not_capped),
        REPORT_TEST(text_control_sequences_removed),
        REPORT_TEST(text_short_id_cut_mid_character),
        REPORT_TEST(text_short_id_of_fork),
        REPORT_TEST(text_interrupted_run_marked),
        REPORT_TEST(text_write_error_returns_eio),
        REPORT_TEST(json_top_level_keys_in_order),
        REPORT_TEST(json_clean_run_exact_output),
        REPORT_TEST(json_db_path_omitted_when_empty),
        REPORT_TEST(json_empty_agents_array),
        REPORT_TEST(json_session_entry_full),
        REPORT_TEST(json_session_optional_keys_omitted),
        REPORT_TEST(json_reason_and_class_names),
        REPORT_TEST(json_field_counts_sorted_by_name),
        REPORT_TEST(json_strings_escaped),
        REPORT_TEST(json_invalid_utf8_replaced),
        REPORT_TEST(json_many_sessions_parse_back),
        REPORT_TEST(json_interrupted_flag_last),
        REPORT_TEST(json_write_error_returns_eio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
