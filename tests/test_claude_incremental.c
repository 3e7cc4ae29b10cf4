/*
 * test_claude_incremental.c -- parsing only the lines appended to a Claude
 * transcript: ordinals, consumed bytes, partial lines, tool results for
 * stored calls, and every case that must fall back to a full parse.
 *
 * Each test first parses the whole file, normalises the session as the
 * writer would, and builds the stored state an incremental parse starts
 * from. Then it appends lines and parses from the stored size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zstd.h>

#include "common/normalize.h"
#include "common/timefmt.h"
#include "test_claude_helpers.h"

#define PROJECT_DIR "-srv-incr"
#define STEM "grow"

typedef struct env {
    char *root;
    char *path;
} env;

/* The stored row, with strings owned by the test. */
typedef struct stored {
    pd_incr_state state;
    char *strings[9];
    int64_t total_output_tokens;
    int64_t peak_context_tokens;
} stored;

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);

    if (e == NULL)
        return -1;
    e->root = ct_make_temp_dir();
    e->path = ct_join(e->root, PROJECT_DIR "/" STEM ".jsonl");
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;

    ct_remove_tree(e->root);
    free(e->path);
    free(e);
    return 0;
}

static const char *keep(stored *st, size_t slot, const char *s)
{
    st->strings[slot] = s != NULL ? strdup(s) : NULL;
    return st->strings[slot];
}

static void stored_free(stored *st)
{
    for (size_t i = 0; i < sizeof st->strings / sizeof st->strings[0]; i++)
        free(st->strings[i]);
    memset(st, 0, sizeof *st);
}

/* Parses the whole file, normalises it and records what the writer would store. */
static void store_full_parse(const env *e, stored *st)
{
    ct_parse p;
    pd_session *s;
    const pd_message *last;

    memset(st, 0, sizeof *st);
    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, NULL), PD_OK);
    assert_int_equal(p.res.n_sessions, 1);
    s = &p.res.sessions[0];
    assert_int_equal(pd_session_normalize(s, NULL, p.arena), PD_OK);
    assert_true(s->n_messages > 0);
    last = &s->messages[s->n_messages - 1];

    st->state.offset = s->file_size;
    st->state.next_ordinal = s->next_ordinal;
    st->state.message_count = s->message_count;
    st->state.session_id = keep(st, 0, s->id);
    st->state.last_entry_uuid = keep(st, 1, s->last_entry_uuid);
    st->state.last_claude_message_id = keep(st, 2, last->claude_message_id);
    st->state.claude_linear_parse = s->claude_linear_parse;
    st->state.first_message = keep(st, 3, s->first_message);
    st->state.session_name = keep(st, 4, s->session_name);
    st->state.agent_label = keep(st, 5, s->agent_label);
    st->state.entrypoint = keep(st, 6, s->entrypoint);
    st->state.session_kind = keep(st, 7, s->session_kind);
    st->state.started_at = keep(st, 8, s->started_at);
    pd_time_ns end;
    if (s->ended_at != NULL && pd_time_parse(s->ended_at, strlen(s->ended_at), &end)) {
        st->state.ended_at_ns = end;
        st->state.has_ended_at = true;
    }
    st->total_output_tokens = s->total_output_tokens;
    st->peak_context_tokens = s->peak_context_tokens;
    ct_parse_free(&p);
}

static int64_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    return (int64_t)st.st_size;
}

static const char *const base_lines[] = {
    "{'type':'user','uuid':'u1','parentUuid':null,'sessionId':'grow','timestamp':'2025-07-01T09:00:"
    "00Z','message':{'role':'user','content':'start'}}",
    "{'type':'assistant','uuid':'a1','parentUuid':'u1','timestamp':'2025-07-01T09:00:05Z','message'"
    ":{'id':'m1','role':'assistant','content':[{'type':'text','text':'on "
    "it'},{'type':'tool_use','id':'t0','name':'Task','input':{'description':'dig'}}],'usage':{'"
    "input_tokens':300,'output_tokens':120}}}",
    NULL};

static void test_append_returns_new_messages(void **state)
{
    env *e = *state;
    stored st;
    ct_parse p;
    const pd_session *s;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);
    assert_int_equal(st.state.next_ordinal, 2);
    assert_string_equal(st.state.last_entry_uuid, "a1");
    assert_int_equal(st.state.claude_linear_parse, 0);

    ct_append_line(e->path,
                   "{'type':'user','uuid':'u2','parentUuid':'a1','timestamp':'2025-07-01T09:01:00Z'"
                   ",'message':{'role':'user','content':[{'type':'tool_result','tool_use_id':'t0','"
                   "content':'dug'},{'type':'text','text':'and then?'}]}}",
                   true);
    ct_append_line(
        e->path,
        "{'type':'progress','timestamp':'2025-07-01T09:03:00Z','data':{'type':'hook_progress'}}",
        true);
    ct_append_line(e->path,
                   "{'type':'assistant','uuid':'a2','parentUuid':'u2','timestamp':'2025-07-01T09:"
                   "02:00Z','message':{'id':'m2','role':'assistant','content':[{'type':'text','"
                   "text':'done'}],'stop_reason':'end_turn','usage':{'input_tokens':100,'cache_"
                   "read_input_tokens':400,'output_tokens':80}}}",
                   true);

    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    assert_int_equal(p.res.n_sessions, 1);
    s = &p.res.sessions[0];
    assert_string_equal(s->id, STEM);
    assert_int_equal(s->n_messages, 2);
    assert_int_equal(s->messages[0].ordinal, 2);
    assert_int_equal(s->messages[1].ordinal, 3);
    assert_string_equal(s->messages[0].content, "and then?");
    assert_int_equal(s->messages[0].n_tool_results, 1);
    assert_string_equal(s->messages[0].tool_results[0].tool_use_id, "t0");
    assert_int_equal(p.res.consumed, file_size(e->path));
    assert_int_equal(s->file_size, file_size(e->path));
    assert_int_equal(s->message_count, 2);
    assert_int_equal(s->user_message_count, 1);
    assert_int_equal(s->total_output_tokens, 80);
    assert_int_equal(s->peak_context_tokens, 500);
    /* The writer adds the tail to the stored totals. */
    assert_int_equal(st.total_output_tokens + s->total_output_tokens, 200);
    assert_int_equal(s->peak_context_tokens > st.peak_context_tokens ? s->peak_context_tokens
                                                                     : st.peak_context_tokens,
                     500);
    assert_string_equal(s->ended_at, "2025-07-01T09:03:00Z");
    assert_null(s->termination_status);
    assert_string_equal(s->first_message, "start");
    assert_int_equal(s->claude_linear_parse, 0);
    ct_parse_free(&p);
    stored_free(&st);
}

static void test_filtered_tail_advances_next_ordinal(void **state)
{
    env *e = *state;
    stored st;
    ct_parse p;
    pd_session *s;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);
    ct_append_line(e->path,
                   "{'type':'user','uuid':'r1','parentUuid':'a1','message':{'role':'user','content'"
                   ":[{'type':'tool_result','tool_use_id':'t0','content':'found it'}]}}",
                   true);
    ct_append_line(e->path,
                   "{'type':'assistant','uuid':'a2','parentUuid':'r1','message':{'id':'m2','role':'"
                   "assistant','content':[{'type':'text','text':'summary'}]}}",
                   true);

    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    s = &p.res.sessions[0];
    assert_int_equal(s->n_messages, 2);
    assert_int_equal(s->messages[0].ordinal, 2);
    /* The result for the stored call stays on its carrier message for the writer to link. */
    assert_int_equal(s->messages[0].n_tool_results, 1);
    assert_string_equal(s->messages[0].tool_results[0].tool_use_id, "t0");

    assert_int_equal(pd_session_normalize(s, NULL, p.arena), PD_OK);
    assert_int_equal(s->n_messages, 1);
    assert_int_equal(s->messages[0].ordinal, 3);
    assert_int_equal(s->next_ordinal, 4);
    assert_string_equal(s->last_entry_uuid, "a2");
    assert_int_equal(s->n_unlinked_results, 1);
    assert_string_equal(s->unlinked_results[0].tool_use_id, "t0");
    assert_string_equal(s->unlinked_results[0].content, "found it");
    ct_parse_free(&p);
    stored_free(&st);
}

static void test_partial_line_then_completed(void **state)
{
    env *e = *state;
    const char *line =
        "{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'user','content':'later'}}";
    char *json = ct_unquote(line);
    size_t half = strlen(json) / 2;
    stored st;
    ct_parse p;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);

    /* Half a line: nothing complete, nothing consumed. */
    ct_write_bytes(e->path, json, half, "a");
    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.sessions[0].n_messages, 0);
    assert_int_equal(p.res.consumed, st.state.offset);
    assert_null(p.res.sessions[0].ended_at);
    ct_parse_free(&p);

    /* The writer finishes the line. */
    ct_write_bytes(e->path, json + half, strlen(json) - half, "a");
    ct_append(e->path, "\n");
    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    assert_int_equal(p.res.sessions[0].n_messages, 1);
    assert_string_equal(p.res.sessions[0].messages[0].content, "later");
    assert_int_equal(p.res.consumed, file_size(e->path));
    ct_parse_free(&p);
    stored_free(&st);
    free(json);
}

static void test_partial_line_after_complete_line(void **state)
{
    env *e = *state;
    char *complete = ct_unquote("{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'"
                                "user','content':'whole'}}");
    stored st;
    ct_parse p;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);
    ct_append(e->path, complete);
    ct_append(e->path, "\n");
    ct_append_line(e->path, "{'type':'assistant','uuid':'a2','parentUuid':'u2','mess", false);

    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    assert_int_equal(p.res.sessions[0].n_messages, 1);
    assert_int_equal(p.res.consumed, st.state.offset + (int64_t)strlen(complete) + 1);
    assert_int_equal(p.res.malformed_lines, 1);
    ct_parse_free(&p);
    stored_free(&st);
    free(complete);
}

static void test_valid_final_line_without_newline(void **state)
{
    env *e = *state;
    stored st;
    ct_parse p;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);
    ct_append_line(e->path,
                   "{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'user','content'"
                   ":'no newline yet'}}",
                   false);

    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    assert_int_equal(p.res.sessions[0].n_messages, 1);
    assert_int_equal(p.res.consumed, file_size(e->path));
    ct_parse_free(&p);
    stored_free(&st);
}

static void test_chunks_inside_append_merge(void **state)
{
    env *e = *state;
    stored st;
    ct_parse p;
    const pd_session *s;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);
    /* In a file stored as a tree the chunks make a full parse read one chain (a fallback case). */
    st.state.claude_linear_parse = 1;
    ct_append_line(
        e->path,
        "{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'user','content':'next'}}",
        true);
    ct_append_line(e->path,
                   "{'type':'assistant','uuid':'c1','parentUuid':'u2','message':{'id':'m9','role':'"
                   "assistant','content':[{'type':'thinking','thinking':'hmm'}]}}",
                   true);
    ct_append_line(e->path,
                   "{'type':'assistant','uuid':'c2','parentUuid':'c1','message':{'id':'m9','role':'"
                   "assistant','content':[{'type':'text','text':'answer'}]}}",
                   true);

    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    s = &p.res.sessions[0];
    assert_int_equal(s->n_messages, 2);
    assert_string_equal(s->messages[1].content, "[Thinking]\nhmm\n[/Thinking]\nanswer");
    assert_string_equal(s->messages[1].source_uuid, "c2");
    ct_parse_free(&p);
    stored_free(&st);
}

static void test_stored_identity_allows_repeat(void **state)
{
    env *e = *state;
    stored st;
    ct_parse p;

    ct_write_lines(e->path, base_lines);
    ct_append_line(e->path, "{'type':'summary','agentSetting':'reviewer'}", true);
    store_full_parse(e, &st);
    assert_string_equal(st.state.agent_label, "reviewer");
    ct_append_line(e->path,
                   "{'type':'user','uuid':'u2','parentUuid':'a1','agentSetting':'other','message':{"
                   "'role':'user','content':'more'}}",
                   true);

    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_OK);
    assert_string_equal(p.res.sessions[0].agent_label, "reviewer");
    ct_parse_free(&p);
    stored_free(&st);
}

/* ---- fallbacks ------------------------------------------------------------------ */

typedef struct fallback_case {
    const char *name;
    const char *reason; /* part of the error message naming the cause */
    const char *lines[3];
    bool stored_linear;        /* pretend the stored verdict is linear */
    bool stored_without_first; /* pretend no first_message is stored */
} fallback_case;

static const fallback_case fallback_cases[] = {
    {"rename",
     "/rename",
     {"{'type':'system','content':'<command-name>/rename</command-name><command-args>new</"
      "command-args>'}"},
     false,
     false},
    {"new agentSetting",
     "agentSetting",
     {"{'type':'user','uuid':'u2','parentUuid':'a1','agentSetting':'reviewer','message':{'role':'"
      "user','content':'more'}}"},
     false,
     false},
    {"new entrypoint", "entrypoint", {"{'type':'summary','entrypoint':'sdk-cli'}"}, false, false},
    {"new sessionKind", "sessionKind", {"{'type':'summary','sessionKind':'bg'}"}, false, false},
    {"progress link to stored call",
     "subagent link",
     {"{'type':'progress','parentToolUseID':'t0','data':{'type':'agent_progress','agentId':'x1'}}"},
     false,
     false},
    {"queue link to stored call",
     "subagent link",
     {"{'type':'queue-operation','operation':'enqueue','content':'<tool-use-id>t0</"
      "tool-use-id><task-id>x2</task-id>'}"},
     false,
     false},
    {"result agentId for stored call",
     "subagent link",
     {"{'type':'user','uuid':'u2','parentUuid':'a1','toolUseResult':{'agentId':'x3'},'message':{'"
      "role':'user','content':[{'type':'tool_result','tool_use_id':'t0','content':'ok'}]}}"},
     false,
     false},
    {"search count for stored call",
     "web search count",
     {"{'type':'user','uuid':'u2','parentUuid':'a1','toolUseResult':{'searchCount':2},'message':{'"
      "role':'user','content':[{'type':'tool_result','tool_use_id':'t0','content':'ok'}]}}"},
     false,
     false},
    {"parent is not the previous uuid",
     "parentUuid",
     {"{'type':'user','uuid':'u2','parentUuid':'u1','message':{'role':'user','content':'branch'}}"},
     false,
     false},
    {"entry without uuid after uuids",
     "without a uuid",
     {"{'type':'user','message':{'role':'user','content':'no uuid'}}"},
     false,
     false},
    {"response over several lines in a tree",
     "response over several lines",
     {"{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'user','content':'more'}}",
      "{'type':'assistant','uuid':'a2','parentUuid':'u2','message':{'id':'m2','role':'assistant','"
      "content':[{'type':'thinking','thinking':'hm'}]}}",
      "{'type':'assistant','uuid':'a2b','parentUuid':'a2','message':{'id':'m2','role':'assistant','"
      "content':[{'type':'text','text':'done'}]}}"},
     false,
     false},
    {"new root in a linear file",
     "new root",
     {"{'type':'user','uuid':'r2','parentUuid':null,'message':{'role':'user','content':'again'}}"},
     true,
     false},
    {"continues the stored message",
     "continues the stored last message",
     {"{'type':'assistant','uuid':'a1b','parentUuid':'a1','message':{'id':'m1','role':'assistant','"
      "content':[{'type':'text','text':'more of m1'}]}}"},
     false,
     false},
    {"first prompt without stored first message",
     "first real prompt",
     {"{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'user','content':'a real "
      "prompt'}}"},
     false,
     true},
    {"stored uuid used again",
     "repeats a uuid",
     {"{'type':'user','uuid':'u1','parentUuid':'a1','message':{'role':'user','content':'again'}}"},
     false,
     false},
    {"uuid repeated in the tail",
     "repeats a uuid",
     {"{'type':'user','uuid':'u2','parentUuid':'a1','message':{'role':'user','content':'more'}}",
      "{'type':'assistant','uuid':'a2','parentUuid':'u2','message':{'id':'m2','role':'assistant','"
      "content':[{'type':'text','text':'ok'}]}}",
      "{'type':'user','uuid':'u2','parentUuid':'a2','message':{'role':'user','content':'more'}}"},
     false,
     false},
    {"line timed before the stored start",
     "before the stored start",
     {"{'type':'attachment','timestamp':'2025-07-01T08:59:59.999Z','attachment':{'type':'file'}}",
      "{'type':'user','uuid':'u2','parentUuid':'a1','timestamp':'2025-07-01T10:00:00Z','message':{'"
      "role':'user','content':'later'}}"},
     false,
     false},
    {"queued prompt alone before the stored end",
     "before the stored end",
     {"{'type':'attachment','timestamp':'2025-07-01T09:00:03Z','attachment':{'type':'queued_"
      "command','prompt':'meanwhile'}}"},
     false,
     false},
    {"queued prompt before the append",
     "queued prompt",
     {"{'type':'attachment','timestamp':'2025-07-01T09:30:00Z','attachment':{'type':'queued_"
      "command','prompt':'early'}}",
      "{'type':'user','uuid':'u2','parentUuid':'a1','timestamp':'2025-07-01T10:00:00Z','message':{'"
      "role':'user','content':'later'}}"},
     false,
     false},
};

static void test_fallback_cases(void **state)
{
    env *e = *state;

    for (size_t i = 0; i < sizeof fallback_cases / sizeof fallback_cases[0]; i++) {
        const fallback_case *c = &fallback_cases[i];
        stored st;
        ct_parse p;
        int rc;

        ct_write_lines(e->path, base_lines);
        store_full_parse(e, &st);
        if (c->stored_linear)
            st.state.claude_linear_parse = 1;
        if (c->stored_without_first)
            st.state.first_message = NULL;
        for (size_t k = 0; k < 3 && c->lines[k] != NULL; k++)
            ct_append_line(e->path, c->lines[k], true);

        rc = ct_parse_file(&p, e->path, PROJECT_DIR, &st.state);
        if (rc != PD_EFALLBACK)
            fail_msg("case \"%s\": expected PD_EFALLBACK, got %d (%s)", c->name, rc, p.err.msg);
        if (strstr(p.err.msg, c->reason) == NULL)
            fail_msg("case \"%s\": the message \"%s\" does not name \"%s\"", c->name, p.err.msg,
                     c->reason);
        assert_int_equal(p.err.code, PD_EFALLBACK);
        assert_non_null(strstr(p.err.msg, e->path));
        assert_int_equal(p.res.n_sessions, 0);
        ct_parse_free(&p);
        stored_free(&st);
    }
}

static void test_offset_beyond_end_falls_back(void **state)
{
    env *e = *state;
    stored st;
    ct_parse p;

    ct_write_lines(e->path, base_lines);
    store_full_parse(e, &st);
    st.state.offset += 1000;
    assert_int_equal(ct_parse_file(&p, e->path, PROJECT_DIR, &st.state), PD_EFALLBACK);
    ct_parse_free(&p);
    stored_free(&st);
}

static void test_compressed_source_falls_back(void **state)
{
    env *e = *state;
    char *zst_path = ct_join(e->root, PROJECT_DIR "/packed.jsonl.zst");
    char *json = ct_unquote(base_lines[0]);
    size_t bound = ZSTD_compressBound(strlen(json));
    char *packed = malloc(bound);
    size_t packed_len;
    pd_incr_state incr = {.offset = 1, .next_ordinal = 1, .claude_linear_parse = 1};
    ct_parse p;

    assert_non_null(packed);
    packed_len = ZSTD_compress(packed, bound, json, strlen(json), 1);
    assert_false(ZSTD_isError(packed_len));
    ct_write_bytes(zst_path, packed, packed_len, "w");

    /* A full parse reads the compressed file, but an incremental one cannot resume inside it. */
    assert_int_equal(ct_parse_file(&p, zst_path, PROJECT_DIR, NULL), PD_OK);
    assert_string_equal(p.res.sessions[0].id, "packed");
    assert_int_equal(p.res.sessions[0].n_messages, 1);
    ct_parse_free(&p);
    assert_int_equal(ct_parse_file(&p, zst_path, PROJECT_DIR, &incr), PD_EFALLBACK);
    ct_parse_free(&p);
    free(packed);
    free(json);
    free(zst_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_returns_new_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filtered_tail_advances_next_ordinal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_then_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_after_complete_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_final_line_without_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunks_inside_append_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_identity_allows_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fallback_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offset_beyond_end_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_source_falls_back, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
