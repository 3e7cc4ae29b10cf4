/*
 * test_claude_dag.c -- how the Claude parser splits a uuid tree into a main
 * session and fork sessions, when it falls back to file order, and how it
 * merges assistant lines that share a message.id.
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

#include "test_claude_helpers.h"

#define PROJECT_DIR "-srv-dag"
#define STEM "tree"

typedef struct env {
    char *root;
    char *path;
    int minute; /* next timestamp, one minute apart */
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);

    if (e == NULL)
        return -1;
    e->root = ct_make_temp_dir();
    e->path = ct_join(e->root, PROJECT_DIR "/" STEM ".jsonl");
    ct_write(e->path, "");
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

/* Appends a user or assistant line. A NULL parent is written as null, and a NULL uuid is left out.
 */
static void add(env *e, const char *type, const char *uuid, const char *parent, const char *text)
{
    char line[1024], uuid_field[128] = "", parent_field[128] = "";
    int hour = 10 + e->minute / 60, minute = e->minute % 60;

    e->minute++;
    if (uuid != NULL)
        snprintf(uuid_field, sizeof uuid_field, "'uuid':'%s',", uuid);
    if (parent != NULL)
        snprintf(parent_field, sizeof parent_field, "'parentUuid':'%s',", parent);
    else
        snprintf(parent_field, sizeof parent_field, "'parentUuid':null,");
    if (strcmp(type, "user") == 0)
        snprintf(line, sizeof line,
                 "{'type':'user',%s%s'timestamp':'2025-06-01T%02d:%02d:00Z','message':{'role':'"
                 "user','content':'%s'}}",
                 uuid_field, parent_field, hour, minute, text);
    else
        snprintf(line, sizeof line,
                 "{'type':'assistant',%s%s'timestamp':'2025-06-01T%02d:%02d:00Z','message':{'role':"
                 "'assistant','content':[{'type':'text','text':'%s'}]}}",
                 uuid_field, parent_field, hour, minute, text);
    ct_append_line(e->path, line, true);
}

static void parse(env *e, ct_parse *p)
{
    assert_int_equal(ct_parse_file(p, e->path, PROJECT_DIR, NULL), PD_OK);
}

/* Adds n prompt and reply pairs below parent with ids <prefix>u<i> and <prefix>a<i>. Returns the
 * last id. */
static const char *add_turns(env *e, const char *prefix, const char *parent, int n, char ids[][32])
{
    const char *last = parent;

    for (int i = 0; i < n; i++) {
        snprintf(ids[2 * i], 32, "%su%d", prefix, i);
        snprintf(ids[2 * i + 1], 32, "%sa%d", prefix, i);
        add(e, "user", ids[2 * i], last, ids[2 * i]);
        add(e, "assistant", ids[2 * i + 1], ids[2 * i], ids[2 * i + 1]);
        last = ids[2 * i + 1];
    }
    return last;
}

static void assert_contents(const pd_session *s, const char *const *expected, size_t n)
{
    assert_int_equal(s->n_messages, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(s->messages[i].content, expected[i]);
        assert_int_equal(s->messages[i].ordinal, (int64_t)i);
    }
}

static void test_chain_is_dag_session(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"q1", "r1", "q2", "r2"};
    ct_parse p;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add(e, "user", "u2", "a1", "q2");
    add(e, "assistant", "a2", "u2", "r2");
    parse(e, &p);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 0);
    assert_contents(&p.res.sessions[0], expected, 4);
    ct_parse_free(&p);
}

static void test_retry_follows_last_child(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"q1", "r1", "edited", "r3"};
    ct_parse p;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add(e, "user", "u2", "a1", "first try");
    add(e, "assistant", "a2", "u2", "r2");
    add(e, "user", "u3", "a1", "edited");
    add(e, "assistant", "a3", "u3", "r3");
    parse(e, &p);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 0);
    assert_contents(&p.res.sessions[0], expected, 4);
    assert_int_equal(p.res.sessions[0].user_message_count, 2);
    ct_parse_free(&p);
}

static void test_fork_becomes_own_session(void **state)
{
    env *e = *state;
    char main_ids[8][32];
    ct_parse p;
    const pd_session *main_session, *fork;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add_turns(e, "x", "a1", 4, main_ids);
    add(e, "user", "y1", "a1", "other direction");
    add(e, "assistant", "ya1", "y1", "other reply");
    parse(e, &p);

    assert_int_equal(p.res.n_sessions, 2);
    main_session = &p.res.sessions[0];
    fork = &p.res.sessions[1];
    assert_string_equal(main_session->id, STEM);
    assert_int_equal(main_session->n_messages, 10);
    assert_string_equal(main_session->messages[9].content, "xa3");
    assert_null(main_session->parent_session_id);
    assert_string_equal(main_session->relationship_type, "");

    assert_string_equal(fork->id, STEM "-y1");
    assert_string_equal(fork->parent_session_id, STEM);
    assert_string_equal(fork->relationship_type, "fork");
    assert_int_equal(fork->claude_linear_parse, 0);
    assert_int_equal(fork->n_messages, 2);
    assert_string_equal(fork->messages[0].content, "other direction");
    assert_int_equal(fork->messages[0].ordinal, 0);
    assert_string_equal(fork->first_message, "other direction");
    assert_string_equal(fork->project, main_session->project);

    /* The main session spans every line, and the fork only its own entries. */
    assert_string_equal(main_session->started_at, "2025-06-01T10:00:00Z");
    assert_string_equal(main_session->ended_at, "2025-06-01T10:11:00Z");
    assert_string_equal(fork->started_at, "2025-06-01T10:10:00Z");
    assert_string_equal(fork->ended_at, "2025-06-01T10:11:00Z");
    ct_parse_free(&p);
}

static void test_nested_fork_comes_first(void **state)
{
    env *e = *state;
    char main_ids[8][32], fork_ids[8][32];
    ct_parse p;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add_turns(e, "x", "a1", 4, main_ids);
    add(e, "user", "y1", "a1", "fork y");
    add(e, "assistant", "ya1", "y1", "fork y reply");
    add_turns(e, "w", "ya1", 4, fork_ids);
    add(e, "user", "z1", "ya1", "fork z");
    add(e, "assistant", "za1", "z1", "fork z reply");
    parse(e, &p);

    assert_int_equal(p.res.n_sessions, 3);
    assert_string_equal(p.res.sessions[0].id, STEM);
    assert_string_equal(p.res.sessions[1].id, STEM "-z1");
    assert_string_equal(p.res.sessions[1].parent_session_id, STEM "-y1");
    assert_string_equal(p.res.sessions[2].id, STEM "-y1");
    assert_string_equal(p.res.sessions[2].parent_session_id, STEM);
    assert_int_equal(p.res.sessions[2].n_messages, 10);
    assert_int_equal(p.res.sessions[1].n_messages, 2);
    ct_parse_free(&p);
}

static void test_two_roots_fall_back_to_file_order(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"q1", "r1", "q2", "r2"};
    ct_parse p;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add(e, "user", "u2", NULL, "q2");
    add(e, "assistant", "a2", "u2", "r2");
    parse(e, &p);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 1);
    assert_contents(&p.res.sessions[0], expected, 4);
    ct_parse_free(&p);
}

static void test_unresolved_parent_falls_back(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"q1", "r1", "q2"};
    ct_parse p;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add(e, "user", "u2", "gone", "q2");
    parse(e, &p);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 1);
    assert_contents(&p.res.sessions[0], expected, 3);
    ct_parse_free(&p);
}

static void test_uuidless_entry_falls_back(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"q1", "r1", "q2"};
    ct_parse p;

    add(e, "user", "u1", NULL, "q1");
    add(e, "assistant", "a1", "u1", "r1");
    add(e, "user", NULL, "a1", "q2");
    parse(e, &p);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 1);
    assert_contents(&p.res.sessions[0], expected, 3);
    ct_parse_free(&p);
}

static void test_parent_cycle_terminates(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"root", "x first", "y", "x again"};
    ct_parse p;

    add(e, "user", "r", NULL, "root");
    add(e, "assistant", "x", "r", "x first");
    add(e, "user", "y", "x", "y");
    add(e, "assistant", "x", "y", "x again");
    parse(e, &p);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 0);
    assert_contents(&p.res.sessions[0], expected, 4);
    ct_parse_free(&p);
}

static void test_long_chain_does_not_overflow(void **state)
{
    env *e = *state;
    enum { N = 100000 };
    FILE *f = fopen(e->path, "w");
    ct_parse p;

    assert_non_null(f);
    /* Each node also gets a one-turn retry leaf first, so every node is a branch point. */
    fprintf(f, "{\"type\":\"user\",\"uuid\":\"n0\",\"parentUuid\":null,\"message\":{\"content\":"
               "\"start\"}}\n");
    for (int i = 1; i < N; i++) {
        fprintf(f,
                "{\"type\":\"user\",\"uuid\":\"leaf%d\",\"parentUuid\":\"n%d\",\"message\":{"
                "\"content\":\"old\"}}\n",
                i, i - 1);
        fprintf(f,
                "{\"type\":\"%s\",\"uuid\":\"n%d\",\"parentUuid\":\"n%d\",\"message\":{\"content\":"
                "\"m%d\"}}\n",
                i % 2 ? "assistant" : "user", i, i - 1, i);
    }
    fclose(f);

    parse(e, &p);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.sessions[0].claude_linear_parse, 0);
    assert_int_equal(p.res.sessions[0].n_messages, N);
    assert_string_equal(p.res.sessions[0].messages[N - 1].content, "m99999");
    ct_parse_free(&p);
}

/* ---- chunk merging ----------------------------------------------------------------- */

static void test_cumulative_chunks_merge(void **state)
{
    env *e = *state;
    const char *const lines[] = {
        "{'type':'user','uuid':'u1','parentUuid':null,'message':{'role':'user','content':'go'}}",
        "{'type':'assistant','uuid':'c1','parentUuid':'u1','requestId':'r-1','message':{'id':'m1','"
        "role':'assistant','content':[{'type':'text','text':'Hel'}],'usage':{'output_tokens':1}}}",
        "{'type':'assistant','uuid':'c2','parentUuid':'c1','requestId':'r-1','message':{'id':'m1','"
        "role':'assistant','content':[{'type':'text','text':'Hello "
        "wor'}],'usage':{'output_tokens':2}}}",
        "{'type':'assistant','uuid':'c3','parentUuid':'c2','requestId':'r-2','timestamp':'2025-06-"
        "01T10:00:00Z','message':{'id':'m1','role':'assistant','content':[{'type':'text','text':'"
        "Hello "
        "world'},{'type':'tool_use','id':'t1','name':'Bash','input':{'command':'ls'}}],'stop_"
        "reason':'tool_use','usage':{'output_tokens':9}}}",
        NULL};
    ct_parse p;
    const pd_session *s;
    const pd_message *m;

    ct_write_lines(e->path, lines);
    parse(e, &p);
    s = &p.res.sessions[0];
    assert_int_equal(s->n_messages, 2);
    /* The merged entry's parent is a swallowed chunk, so the tree check fails. */
    assert_int_equal(s->claude_linear_parse, 1);
    m = &s->messages[1];
    assert_string_equal(m->content, "Hello world\n[Bash]\n$ ls");
    assert_int_equal(m->n_tool_calls, 1);
    assert_int_equal(m->output_tokens, 9);
    assert_string_equal(m->source_uuid, "c3");
    assert_string_equal(m->source_parent_uuid, "c2");
    assert_string_equal(m->claude_request_id, "r-2");
    assert_string_equal(m->stop_reason, "tool_use");
    assert_string_equal(m->timestamp, "2025-06-01T10:00:00Z");
    ct_parse_free(&p);
}

static void test_additive_chunks_merge(void **state)
{
    env *e = *state;
    const char *const lines[] = {
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'thinking',"
        "'thinking':'plan'}]}}",
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'text','"
        "text':'answer'}]}}",
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'tool_use',"
        "'id':'t1','name':'Read','input':{'file_path':'a.c'}}]}}",
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'tool_use',"
        "'id':'t1','name':'Read','input':{'file_path':'a.c'}}]}}",
        "{'type':'assistant','message':{'id':'m2','role':'assistant','content':[{'type':'text','"
        "text':'next'}]}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    ct_write_lines(e->path, lines);
    parse(e, &p);
    s = &p.res.sessions[0];
    assert_int_equal(s->n_messages, 2);
    assert_string_equal(s->messages[0].content,
                        "[Thinking]\nplan\n[/Thinking]\nanswer\n[Read: a.c]");
    assert_int_equal(s->messages[0].n_tool_calls, 1);
    assert_string_equal(s->messages[1].content, "next");
    ct_parse_free(&p);
}

static void test_chunks_after_end_turn_are_additive(void **state)
{
    env *e = *state;
    const char *const lines[] = {
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'text','"
        "text':'Done.'}],'stop_reason':'end_turn'}}",
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'text','"
        "text':'Done. Extra'}]}}",
        NULL};
    ct_parse p;

    ct_write_lines(e->path, lines);
    parse(e, &p);
    assert_int_equal(p.res.sessions[0].n_messages, 1);
    assert_string_equal(p.res.sessions[0].messages[0].content, "Done.\nDone. Extra");
    ct_parse_free(&p);
}

static void test_string_content_chunk_keeps_last(void **state)
{
    env *e = *state;
    const char *const lines[] = {
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':'first'}}",
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':'second'}}", NULL};
    ct_parse p;

    ct_write_lines(e->path, lines);
    parse(e, &p);
    assert_int_equal(p.res.sessions[0].n_messages, 1);
    assert_string_equal(p.res.sessions[0].messages[0].content, "second");
    ct_parse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_chain_is_dag_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_follows_last_child, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fork_becomes_own_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_fork_comes_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_roots_fall_back_to_file_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unresolved_parent_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uuidless_entry_falls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_cycle_terminates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_chain_does_not_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cumulative_chunks_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_additive_chunks_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunks_after_end_turn_are_additive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_string_content_chunk_keeps_last, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
