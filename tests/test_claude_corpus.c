/*
 * test_claude_corpus.c -- the Claude parser on real Claude Code transcripts
 * (content replaced, structure kept) under $PD_SHARED_DIR/corpus/real/claude.
 *
 * Every discovered file must parse without error into at least one session
 * with consistent counts, ordered ordinals, clean strings and time bounds in
 * order. A few structural facts of the corpus are checked by name. The
 * subagent files link to their parents, and the parents' Agent calls link
 * to the subagents. The file whose responses are split over several lines
 * is merged and parsed linearly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/normalize.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "test_claude_helpers.h"

typedef struct source_list {
    char **paths;
    char **hints;
    size_t n;
    size_t cap;
} source_list;

static int collect(void *ctx, const pd_source *src)
{
    source_list *l = ctx;

    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->paths = realloc(l->paths, l->cap * sizeof *l->paths);
        l->hints = realloc(l->hints, l->cap * sizeof *l->hints);
        if (l->paths == NULL || l->hints == NULL)
            return PD_ENOMEM;
    }
    l->paths[l->n] = strdup(src->path);
    l->hints[l->n] = strdup(src->project_hint);
    l->n++;
    return PD_OK;
}

static void source_list_free(source_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->hints[i]);
    }
    free(l->paths);
    free(l->hints);
}

static char *corpus_root(void)
{
    const char *shared = getenv("PD_SHARED_DIR");

    if (shared == NULL)
        fail_msg("PD_SHARED_DIR is not set; run the test through ctest");
    return ct_join(shared, "corpus/real/claude/projects");
}

static void discover_corpus(source_list *l)
{
    char *root = corpus_root();
    pd_arena *arena = pd_arena_new();
    pd_err err = {0};

    assert_non_null(arena);
    memset(l, 0, sizeof *l);
    assert_int_equal(pd_provider_claude.discover(root, arena, collect, l, &err), PD_OK);
    pd_arena_free(arena);
    free(root);
}

static void assert_clean(const char *field, const char *s)
{
    if (s != NULL && !pd_utf8_is_clean(s, strlen(s)))
        fail_msg("%s is not sanitised UTF-8", field);
}

static void check_session(const char *path, const pd_session *s, bool has_messages)
{
    pd_time_ns start, end;

    assert_int_equal(s->message_count, (int64_t)s->n_messages);
    if (has_messages && s->message_count == 0)
        fail_msg("%s: session %s has no messages although the file has user or assistant lines",
                 path, s->id);
    if (s->started_at != NULL || s->ended_at != NULL) {
        assert_non_null(s->started_at);
        assert_non_null(s->ended_at);
        assert_true(pd_time_parse(s->started_at, strlen(s->started_at), &start));
        assert_true(pd_time_parse(s->ended_at, strlen(s->ended_at), &end));
        if (start > end)
            fail_msg("%s: session %s starts at %s after it ends at %s", path, s->id, s->started_at,
                     s->ended_at);
    }
    assert_true(s->user_message_count <= s->message_count);
    assert_int_equal(s->data_version, PD_DATA_VERSION);
    assert_string_equal(s->agent, "claude");
    assert_clean("project", s->project);
    assert_clean("first_message", s->first_message);
    assert_clean("cwd", s->cwd);

    for (size_t i = 0; i < s->n_messages; i++) {
        const pd_message *m = &s->messages[i];
        assert_int_equal(m->ordinal, (int64_t)i);
        assert_int_equal(m->content_length, (int64_t)strlen(m->content));
        assert_clean("content", m->content);
        assert_clean("token_usage", m->token_usage);
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            assert_non_null(m->tool_calls[j].tool_name);
            assert_non_null(m->tool_calls[j].category);
            assert_clean("input_json", m->tool_calls[j].input_json);
        }
        for (size_t j = 0; j < m->n_tool_results; j++)
            assert_int_equal(m->tool_results[j].content_length,
                             (int64_t)strlen(m->tool_results[j].content));
    }
}

static void test_corpus_files_parse(void **state)
{
    source_list l;

    (void)state;
    discover_corpus(&l);
    assert_int_equal(l.n, 9);
    for (size_t i = 0; i < l.n; i++) {
        ct_parse p;
        bool has_messages;
        int rc = ct_parse_file(&p, l.paths[i], l.hints[i], NULL);

        if (rc != PD_OK)
            fail_msg("%s: parse failed: %s", l.paths[i], p.err.msg);
        has_messages = memmem(p.src.data, p.src.len, "\"type\":\"user\"", 13) != NULL ||
                       memmem(p.src.data, p.src.len, "\"type\":\"assistant\"", 18) != NULL;
        if (p.res.n_sessions + p.res.n_excluded == 0)
            fail_msg("%s: no session", l.paths[i]);
        assert_int_equal(p.res.consumed, (int64_t)p.src.len);
        for (size_t k = 0; k < p.res.n_sessions; k++) {
            check_session(l.paths[i], &p.res.sessions[k], has_messages && k == 0);
            assert_int_equal(pd_session_normalize(&p.res.sessions[k], NULL, p.arena), PD_OK);
        }
        ct_parse_free(&p);
    }
    source_list_free(&l);
}

/* Parses the corpus file whose path ends with suffix. */
static void parse_corpus_file(const char *suffix, ct_parse *p)
{
    source_list l;
    bool found = false;

    discover_corpus(&l);
    for (size_t i = 0; i < l.n && !found; i++) {
        size_t n = strlen(l.paths[i]), k = strlen(suffix);
        if (n >= k && strcmp(l.paths[i] + n - k, suffix) == 0) {
            assert_int_equal(ct_parse_file(p, l.paths[i], l.hints[i], NULL), PD_OK);
            found = true;
        }
    }
    source_list_free(&l);
    if (!found)
        fail_msg("corpus file *%s not found", suffix);
}

/* Returns the subagent link of the first call named tool_name, or NULL. */
static const char *first_link(const pd_session *s, const char *tool_name)
{
    for (size_t i = 0; i < s->n_messages; i++) {
        for (size_t j = 0; j < s->messages[i].n_tool_calls; j++) {
            if (strcmp(s->messages[i].tool_calls[j].tool_name, tool_name) == 0)
                return s->messages[i].tool_calls[j].subagent_session_id;
        }
    }
    return NULL;
}

static void test_corpus_subagent_links(void **state)
{
    ct_parse p;

    (void)state;
    /* Linked through toolUseResult.agentId. */
    parse_corpus_file("/a0844c6a-f815-4b7f-ab6f-7c02939f7527.jsonl", &p);
    assert_string_equal(first_link(&p.res.sessions[0], "Agent"), "agent-a3f3317031d88bf96");
    ct_parse_free(&p);

    /* Linked through agent_progress lines. */
    parse_corpus_file("/26b4fe08-8ed9-4aa9-b48a-f36a42bf3a60.jsonl", &p);
    assert_string_equal(first_link(&p.res.sessions[0], "Agent"), "agent-a44d66109e63445b5");
    ct_parse_free(&p);

    parse_corpus_file("/subagents/agent-a3f3317031d88bf96.jsonl", &p);
    assert_string_equal(p.res.sessions[0].id, "agent-a3f3317031d88bf96");
    assert_string_equal(p.res.sessions[0].parent_session_id,
                        "a0844c6a-f815-4b7f-ab6f-7c02939f7527");
    assert_string_equal(p.res.sessions[0].relationship_type, "subagent");
    assert_string_equal(p.res.sessions[0].project, "project_h");
    ct_parse_free(&p);
}

static void test_corpus_split_responses_merge(void **state)
{
    ct_parse p;
    const pd_session *s;
    size_t n_assistant = 0;

    (void)state;
    parse_corpus_file("/b31fea8f-a4da-42ca-bf1d-330a79cae8e4.jsonl", &p);
    s = &p.res.sessions[0];
    assert_int_equal(s->claude_linear_parse, 1);
    for (size_t i = 0; i < s->n_messages; i++) {
        if (strcmp(s->messages[i].role, "assistant") == 0)
            n_assistant++;
        /* Consecutive assistant messages would mean a split response was not merged. */
        if (i > 0 && strcmp(s->messages[i].role, "assistant") == 0)
            assert_string_not_equal(s->messages[i - 1].role, "assistant");
    }
    assert_int_equal(n_assistant, 3);
    assert_string_equal(s->termination_status, "awaiting_user");
    ct_parse_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_files_parse),
        cmocka_unit_test(test_corpus_subagent_links),
        cmocka_unit_test(test_corpus_split_responses_merge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
