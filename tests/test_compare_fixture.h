/*
 * test_compare_fixture.h -- sessions built by hand for the comparator tests.
 *
 * fixture_session() returns a three-message session with tokens, one tool
 * call and two usage events, shaped like a normalised Claude session.
 * fixture_copy() deep-copies a session so that a test can change one side
 * alone. Everything is allocated from the caller's arena. The helpers are
 * static inline so that each test program may use any subset of them.
 */
#ifndef PD_TEST_COMPARE_FIXTURE_H
#define PD_TEST_COMPARE_FIXTURE_H

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

/* Token payloads of the fixture's assistant messages. */
#define FIXTURE_USAGE_1 "{\"input_tokens\":100,\"output_tokens\":5}"
#define FIXTURE_USAGE_2 "{\"input_tokens\":300,\"output_tokens\":7}"

static inline char *fx_str(pd_arena *a, const char *s)
{
    if (s == NULL)
        return NULL;
    char *copy = pd_arena_strdup(a, s);
    assert_non_null(copy);
    return copy;
}

static inline void *fx_calloc(pd_arena *a, size_t count, size_t size)
{
    void *p = pd_arena_calloc(a, count, size);
    assert_non_null(p);
    return p;
}

/* A message with every text column set to "" and the given ordinal, role and content. */
static inline void fixture_message(pd_arena *a, pd_message *m, int64_t ordinal, const char *role,
                                   const char *content)
{
    memset(m, 0, sizeof *m);
    m->ordinal = ordinal;
    m->role = fx_str(a, role);
    m->content = fx_str(a, content);
    m->content_length = (int64_t)strlen(content);
    m->thinking_text = fx_str(a, "");
    m->timestamp = NULL;
    m->model = fx_str(a, "");
    m->token_usage = fx_str(a, "");
    m->claude_message_id = fx_str(a, "");
    m->claude_request_id = fx_str(a, "");
    m->source_type = fx_str(a, "");
    m->source_subtype = fx_str(a, "");
    m->prompt_source = fx_str(a, "");
    m->source_uuid = fx_str(a, "");
    m->source_parent_uuid = fx_str(a, "");
    m->stop_reason = fx_str(a, "");
}

/* A session of n plain messages with ordinals 0..n-1 and no session columns set. */
static inline pd_session *fixture_plain_session(pd_arena *a, const char *agent, size_t n)
{
    pd_session *s = fx_calloc(a, 1, sizeof *s);
    pd_session_init(s);
    s->id = fx_str(a, "plain-1");
    s->agent = fx_str(a, agent);
    s->message_count = (int64_t)n;
    if (n > 0)
        s->messages = fx_calloc(a, n, sizeof *s->messages);
    s->n_messages = n;
    for (size_t i = 0; i < n; i++)
        fixture_message(a, &s->messages[i], (int64_t)i, i % 2 == 0 ? "user" : "assistant", "abc");
    return s;
}

static inline void fixture_usage_event(pd_arena *a, pd_usage_event *ev, int64_t ordinal,
                                       const char *dedup_key, int64_t input, int64_t output,
                                       const char *occurred_at)
{
    memset(ev, 0, sizeof *ev);
    ev->message_ordinal = ordinal;
    ev->source = fx_str(a, "message");
    ev->model = fx_str(a, "model-a");
    ev->input_tokens = input;
    ev->output_tokens = output;
    ev->occurred_at = fx_str(a, occurred_at);
    ev->dedup_key = fx_str(a, dedup_key);
}

static inline pd_session *fixture_session(pd_arena *a, const char *agent)
{
    pd_session *s = fx_calloc(a, 1, sizeof *s);
    pd_session_init(s);

    s->id = fx_str(a, "sess-1");
    s->project = fx_str(a, "proj");
    s->machine = fx_str(a, "local");
    s->agent = fx_str(a, agent);
    s->agent_label = fx_str(a, "Claude Code");
    s->entrypoint = fx_str(a, "cli");
    s->session_kind = fx_str(a, "interactive");
    s->first_message = fx_str(a, "fix the build");
    s->session_name = fx_str(a, "Build fix");
    s->started_at = fx_str(a, "2024-01-01T10:00:00Z");
    s->ended_at = fx_str(a, "2024-01-01T10:05:00Z");
    s->message_count = 3;
    s->user_message_count = 1;
    s->file_path = fx_str(a, "/data/sess-1.jsonl");
    s->file_size = 4096;
    s->next_ordinal = 3;
    s->relationship_type = fx_str(a, "");
    s->total_output_tokens = 12;
    s->has_total_output_tokens = true;
    s->peak_context_tokens = 300;
    s->has_peak_context_tokens = true;
    s->cwd = fx_str(a, "/home/dev/proj");
    s->git_branch = fx_str(a, "main");
    s->source_session_id = fx_str(a, "src-1");
    s->source_version = fx_str(a, "2.1.0");
    s->transcript_fidelity = fx_str(a, "full");
    s->data_version = PD_DATA_VERSION;

    s->n_messages = 3;
    s->messages = fx_calloc(a, 3, sizeof *s->messages);

    pd_message *m0 = &s->messages[0];
    fixture_message(a, m0, 0, "user", "fix the build");
    m0->timestamp = fx_str(a, "2024-01-01T10:00:00Z");
    m0->source_type = fx_str(a, "user");
    m0->prompt_source = fx_str(a, "typed");
    m0->source_uuid = fx_str(a, "u-0");

    pd_message *m1 = &s->messages[1];
    fixture_message(a, m1, 1, "assistant", "Reading the file.");
    m1->timestamp = fx_str(a, "2024-01-01T10:01:00Z");
    m1->thinking_text = fx_str(a, "need to look");
    m1->has_thinking = true;
    m1->has_tool_use = true;
    m1->model = fx_str(a, "model-a");
    m1->token_usage = fx_str(a, FIXTURE_USAGE_1);
    m1->context_tokens = 100;
    m1->output_tokens = 5;
    m1->has_context_tokens = true;
    m1->has_output_tokens = true;
    m1->claude_message_id = fx_str(a, "msg_1");
    m1->claude_request_id = fx_str(a, "req_1");
    m1->source_type = fx_str(a, "assistant");
    m1->source_uuid = fx_str(a, "u-1");
    m1->source_parent_uuid = fx_str(a, "u-0");
    m1->n_tool_calls = 1;
    m1->tool_calls = fx_calloc(a, 1, sizeof *m1->tool_calls);
    pd_tool_call *tc = &m1->tool_calls[0];
    tc->tool_use_id = fx_str(a, "toolu_1");
    tc->tool_name = fx_str(a, "Read");
    tc->category = fx_str(a, "Read");
    tc->input_json = fx_str(a, "{\"file_path\":\"/home/dev/proj/main.c\"}");
    tc->file_path = fx_str(a, "/home/dev/proj/main.c");
    tc->result_content_length = 100;

    pd_message *m2 = &s->messages[2];
    fixture_message(a, m2, 2, "assistant", "Fixed.");
    m2->timestamp = fx_str(a, "2024-01-01T10:02:00Z");
    m2->model = fx_str(a, "model-a");
    m2->token_usage = fx_str(a, FIXTURE_USAGE_2);
    m2->context_tokens = 300;
    m2->output_tokens = 7;
    m2->has_context_tokens = true;
    m2->has_output_tokens = true;
    m2->claude_message_id = fx_str(a, "msg_2");
    m2->claude_request_id = fx_str(a, "req_2");
    m2->source_type = fx_str(a, "assistant");
    m2->source_uuid = fx_str(a, "u-2");
    m2->source_parent_uuid = fx_str(a, "u-1");

    s->n_usage_events = 2;
    s->usage_events = fx_calloc(a, 2, sizeof *s->usage_events);
    fixture_usage_event(a, &s->usage_events[0], 1, "msg_1", 100, 5, "2024-01-01T10:01:00Z");
    fixture_usage_event(a, &s->usage_events[1], 2, "msg_2", 300, 7, "2024-01-01T10:02:00Z");
    return s;
}

static inline pd_tool_call fx_copy_tool_call(pd_arena *a, const pd_tool_call *src)
{
    pd_tool_call tc = *src;
    tc.tool_use_id = fx_str(a, src->tool_use_id);
    tc.tool_name = fx_str(a, src->tool_name);
    tc.category = fx_str(a, src->category);
    tc.input_json = fx_str(a, src->input_json);
    tc.skill_name = fx_str(a, src->skill_name);
    tc.subagent_session_id = fx_str(a, src->subagent_session_id);
    tc.file_path = fx_str(a, src->file_path);
    tc.result_content = fx_str(a, src->result_content);
    tc.events = NULL;
    tc.n_events = 0;
    if (src->n_events > 0) {
        tc.events = fx_calloc(a, src->n_events, sizeof *tc.events);
        tc.n_events = src->n_events;
        for (size_t i = 0; i < src->n_events; i++) {
            const pd_tool_result_event *e = &src->events[i];
            tc.events[i] = *e;
            tc.events[i].tool_use_id = fx_str(a, e->tool_use_id);
            tc.events[i].agent_id = fx_str(a, e->agent_id);
            tc.events[i].subagent_session_id = fx_str(a, e->subagent_session_id);
            tc.events[i].source = fx_str(a, e->source);
            tc.events[i].status = fx_str(a, e->status);
            tc.events[i].content = fx_str(a, e->content);
            tc.events[i].timestamp = fx_str(a, e->timestamp);
        }
    }
    return tc;
}

static inline pd_message fx_copy_message(pd_arena *a, const pd_message *src)
{
    pd_message m = *src;
    m.role = fx_str(a, src->role);
    m.content = fx_str(a, src->content);
    m.thinking_text = fx_str(a, src->thinking_text);
    m.timestamp = fx_str(a, src->timestamp);
    m.model = fx_str(a, src->model);
    m.token_usage = fx_str(a, src->token_usage);
    m.claude_message_id = fx_str(a, src->claude_message_id);
    m.claude_request_id = fx_str(a, src->claude_request_id);
    m.source_type = fx_str(a, src->source_type);
    m.source_subtype = fx_str(a, src->source_subtype);
    m.prompt_source = fx_str(a, src->prompt_source);
    m.source_uuid = fx_str(a, src->source_uuid);
    m.source_parent_uuid = fx_str(a, src->source_parent_uuid);
    m.stop_reason = fx_str(a, src->stop_reason);
    m.tool_calls = NULL;
    if (src->n_tool_calls > 0) {
        m.tool_calls = fx_calloc(a, src->n_tool_calls, sizeof *m.tool_calls);
        for (size_t i = 0; i < src->n_tool_calls; i++)
            m.tool_calls[i] = fx_copy_tool_call(a, &src->tool_calls[i]);
    }
    /* Tool results are parser-side input to normalisation and never compared. */
    m.tool_results = NULL;
    m.n_tool_results = 0;
    return m;
}

/* Returns a deep copy of src whose every pointer is a new allocation from a. */
static inline pd_session *fixture_copy(pd_arena *a, const pd_session *src)
{
    pd_session *s = fx_calloc(a, 1, sizeof *s);
    *s = *src;
    s->id = fx_str(a, src->id);
    s->project = fx_str(a, src->project);
    s->machine = fx_str(a, src->machine);
    s->agent = fx_str(a, src->agent);
    s->agent_label = fx_str(a, src->agent_label);
    s->entrypoint = fx_str(a, src->entrypoint);
    s->session_kind = fx_str(a, src->session_kind);
    s->first_message = fx_str(a, src->first_message);
    s->session_name = fx_str(a, src->session_name);
    s->started_at = fx_str(a, src->started_at);
    s->ended_at = fx_str(a, src->ended_at);
    s->file_path = fx_str(a, src->file_path);
    s->file_hash = fx_str(a, src->file_hash);
    s->last_entry_uuid = fx_str(a, src->last_entry_uuid);
    s->parent_session_id = fx_str(a, src->parent_session_id);
    s->relationship_type = fx_str(a, src->relationship_type);
    s->cwd = fx_str(a, src->cwd);
    s->git_branch = fx_str(a, src->git_branch);
    s->source_session_id = fx_str(a, src->source_session_id);
    s->source_version = fx_str(a, src->source_version);
    s->transcript_fidelity = fx_str(a, src->transcript_fidelity);
    s->termination_status = fx_str(a, src->termination_status);
    s->deleted_at = fx_str(a, src->deleted_at);

    s->messages = NULL;
    if (src->n_messages > 0) {
        s->messages = fx_calloc(a, src->n_messages, sizeof *s->messages);
        for (size_t i = 0; i < src->n_messages; i++)
            s->messages[i] = fx_copy_message(a, &src->messages[i]);
    }

    s->usage_events = NULL;
    if (src->n_usage_events > 0) {
        s->usage_events = fx_calloc(a, src->n_usage_events, sizeof *s->usage_events);
        for (size_t i = 0; i < src->n_usage_events; i++) {
            const pd_usage_event *e = &src->usage_events[i];
            s->usage_events[i] = *e;
            s->usage_events[i].source = fx_str(a, e->source);
            s->usage_events[i].model = fx_str(a, e->model);
            s->usage_events[i].occurred_at = fx_str(a, e->occurred_at);
            s->usage_events[i].dedup_key = fx_str(a, e->dedup_key);
        }
    }

    s->unlinked_results = NULL;
    s->n_unlinked_results = 0;
    return s;
}

/* Runs the comparator and fails the test unless it returns PD_OK. */
static inline pd_field_diffs fixture_compare(pd_arena *a, const pd_session *stored,
                                             const pd_session *parsed)
{
    pd_field_diffs diffs = {0};
    assert_int_equal(pd_compare_sessions(stored, parsed, a, &diffs), PD_OK);
    return diffs;
}

/* Returns the first diff on field, or NULL. */
static inline const pd_field_diff *fixture_find(const pd_field_diffs *d, const char *field)
{
    for (size_t i = 0; i < d->n; i++) {
        if (strcmp(d->items[i].field, field) == 0)
            return &d->items[i];
    }
    return NULL;
}

/* Arena fixture for cmocka setup/teardown. */
static inline int fixture_arena_setup(void **state)
{
    pd_arena *a = pd_arena_new();
    if (a == NULL)
        return -1;
    *state = a;
    return 0;
}

static inline int fixture_arena_teardown(void **state)
{
    pd_arena_free(*state);
    return 0;
}

#endif
