/*
 * test_parser_claude.c -- the Claude Code parser on transcripts written to
 * disk: the reference cases of the fixtures, session fields, message rules,
 * tool labels, subagent links, web search credit and spilled tool output.
 *
 * DAG and chunk merging, incremental parsing, discovery and project rules,
 * and the real corpus have their own test_claude_*.c files.
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

#include "common/normalize.h"
#include "common/text.h"
#include "common/timefmt.h"
#include "parsers/claude_internal.h"
#include "test_claude_helpers.h"

#define PROJECT_DIR "-Users-alice-code-my-app"

typedef struct env {
    char *root;
    char *project_dir;
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);

    if (e == NULL)
        return -1;
    e->root = ct_make_temp_dir();
    e->project_dir = ct_join(e->root, PROJECT_DIR);
    if (mkdir(e->project_dir, 0755) != 0)
        return -1;
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env *e = *state;

    ct_remove_tree(e->root);
    free(e->project_dir);
    free(e);
    return 0;
}

/* Returns the malloc'd path <project_dir>/<stem>.jsonl. */
static char *session_path(const env *e, const char *stem)
{
    char name[256];

    snprintf(name, sizeof name, "%s.jsonl", stem);
    return ct_join(e->project_dir, name);
}

/* Writes lines (' for ") as <stem>.jsonl and parses it. The parse must succeed. */
static void parse_lines(const env *e, const char *stem, const char *const *lines, ct_parse *p)
{
    char *path = session_path(e, stem);

    ct_write_lines(path, lines);
    assert_int_equal(ct_parse_file(p, path, PROJECT_DIR, NULL), PD_OK);
    free(path);
}

/* Copies a fixture to <stem>.jsonl and parses it. */
static void parse_fixture(const env *e, const char *fixture, const char *stem, ct_parse *p)
{
    char name[256];
    char *path;

    snprintf(name, sizeof name, "%s.jsonl", stem);
    path = ct_install_fixture(e->project_dir, fixture, name);
    assert_int_equal(ct_parse_file(p, path, PROJECT_DIR, NULL), PD_OK);
    free(path);
}

static const pd_session *only_session(const ct_parse *p)
{
    assert_int_equal(p->res.n_sessions, 1);
    return &p->res.sessions[0];
}

/* ---- fixture cases --------------------------------------------------------- */

static void test_valid_session_basic(void **state)
{
    ct_parse p;
    const pd_session *s;

    parse_fixture(*state, "valid_session.jsonl", "test", &p);
    s = only_session(&p);

    assert_string_equal(s->id, "test");
    assert_string_equal(s->project, "my_app");
    assert_string_equal(s->agent, "claude");
    assert_string_equal(s->machine, "test-machine");
    assert_int_equal(s->message_count, 4);
    assert_int_equal(s->n_messages, 4);
    assert_int_equal(s->user_message_count, 2);
    assert_string_equal(s->first_message, "Repair the broken sign-in redirect");
    assert_string_equal(s->messages[0].role, "user");
    assert_string_equal(s->messages[1].role, "assistant");
    assert_string_equal(s->messages[2].role, "user");
    assert_string_equal(s->messages[3].role, "assistant");
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(s->messages[i].ordinal, (int64_t)i);

    assert_true(s->messages[1].has_tool_use);
    assert_string_equal(s->messages[1].content,
                        "Checking the session module first.\n[Read: src/session.ts]");
    assert_int_equal(s->messages[1].content_length, strlen(s->messages[1].content));
    assert_int_equal(s->messages[1].n_tool_calls, 1);
    assert_string_equal(s->messages[1].tool_calls[0].tool_use_id, "toolu_1");
    assert_string_equal(s->messages[1].tool_calls[0].tool_name, "Read");
    assert_string_equal(s->messages[1].tool_calls[0].category, "Read");
    assert_string_equal(s->messages[1].tool_calls[0].input_json,
                        "{\"file_path\":\"src/session.ts\"}");
    assert_string_equal(s->messages[1].tool_calls[0].file_path, "src/session.ts");

    assert_string_equal(s->cwd, "/Users/alice/code/my-app");
    assert_string_equal(s->git_branch, "main");
    assert_string_equal(s->source_version, "1.0.0");
    assert_string_equal(s->started_at, "2024-01-01T10:00:00Z");
    assert_string_equal(s->ended_at, "2024-01-01T10:05:05Z");
    assert_int_equal(s->claude_linear_parse, 1);
    assert_int_equal(s->parser_malformed_lines, 0);
    assert_false(s->is_truncated);
    assert_string_equal(s->termination_status, "clean");
    assert_null(s->parent_session_id);
    assert_string_equal(s->relationship_type, "");
    assert_null(s->file_hash);
    assert_int_equal(s->file_size, (int64_t)p.src.file_size);
    assert_int_equal(s->file_mtime, p.src.mtime_ns);
    assert_int_equal(s->data_version, PD_DATA_VERSION);
    assert_int_equal(p.res.n_excluded, 0);
    assert_int_equal(p.res.consumed, (int64_t)p.src.len);
    ct_parse_free(&p);
}

static void test_valid_session_hyphenated_name(void **state)
{
    ct_parse p;

    parse_fixture(*state, "valid_session.jsonl", "my-test-session", &p);
    assert_string_equal(only_session(&p)->id, "my-test-session");
    ct_parse_free(&p);
}

static void test_valid_session_token_usage(void **state)
{
    ct_parse p;
    const pd_session *s;

    parse_fixture(*state, "valid_session.jsonl", "test", &p);
    s = only_session(&p);

    for (size_t i = 0; i < 4; i += 2) {
        assert_int_equal(s->messages[i].context_tokens, 0);
        assert_int_equal(s->messages[i].output_tokens, 0);
        assert_false(s->messages[i].has_context_tokens);
        assert_false(s->messages[i].has_output_tokens);
        assert_string_equal(s->messages[i].model, "");
        assert_string_equal(s->messages[i].token_usage, "");
    }
    assert_int_equal(s->messages[1].context_tokens, 600);
    assert_int_equal(s->messages[1].output_tokens, 50);
    assert_true(s->messages[1].has_context_tokens);
    assert_true(s->messages[1].has_output_tokens);
    assert_string_equal(s->messages[1].model, "claude-sonnet-4-20250514");
    assert_non_null(strstr(s->messages[1].token_usage, "\"input_tokens\":100"));
    assert_string_equal(s->messages[1].claude_message_id, "msg_a1");
    assert_string_equal(s->messages[1].claude_request_id, "req_a1");
    assert_int_equal(s->messages[3].context_tokens, 650);
    assert_int_equal(s->messages[3].output_tokens, 75);
    assert_non_null(strstr(s->messages[3].token_usage, "\"input_tokens\":150"));

    assert_int_equal(s->total_output_tokens, 125);
    assert_int_equal(s->peak_context_tokens, 650);
    assert_true(s->has_total_output_tokens);
    assert_true(s->has_peak_context_tokens);
    ct_parse_free(&p);
}

static void test_valid_session_normalized_rows(void **state)
{
    ct_parse p;
    pd_session *s;

    parse_fixture(*state, "valid_session.jsonl", "test", &p);
    assert_int_equal(p.res.n_sessions, 1);
    s = &p.res.sessions[0];
    assert_int_equal(pd_session_normalize(s, NULL, p.arena), PD_OK);

    assert_int_equal(s->message_count, 4);
    assert_int_equal(s->user_message_count, 2);
    assert_int_equal(s->next_ordinal, 4);
    assert_null(s->last_entry_uuid);
    assert_int_equal(s->claude_linear_parse, 1);
    assert_null(s->messages[1].tool_calls[0].result_content);
    assert_int_equal(s->messages[1].tool_calls[0].result_content_length, 0);
    ct_parse_free(&p);
}

static void test_tool_call_pending(void **state)
{
    ct_parse p;
    const pd_session *s;

    parse_fixture(*state, "tool_call_pending.jsonl", "pending", &p);
    s = only_session(&p);
    assert_string_equal(s->termination_status, "tool_call_pending");
    assert_int_equal(s->messages[1].context_tokens, 100);
    assert_int_equal(s->messages[1].output_tokens, 50);
    assert_string_equal(s->messages[1].content, "[Bash: Run migrations]\n$ ./migrate.sh");
    assert_string_equal(s->messages[1].stop_reason, "tool_use");
    ct_parse_free(&p);
}

static void test_truncated_fixture(void **state)
{
    ct_parse p;
    const pd_session *s;

    parse_fixture(*state, "truncated.jsonl", "cut", &p);
    s = only_session(&p);
    assert_string_equal(s->termination_status, "truncated");
    assert_int_equal(s->message_count, 2);
    assert_int_equal(s->parser_malformed_lines, 1);
    assert_int_equal(p.res.malformed_lines, 1);
    assert_false(s->is_truncated);
    assert_string_equal(s->ended_at, "2024-03-01T10:00:05Z");
    ct_parse_free(&p);
}

static void test_queued_system_messages(void **state)
{
    ct_parse p;
    const pd_session *s;
    size_t n_system = 0;

    parse_fixture(*state, "queued_system_messages.jsonl", "queued", &p);
    s = only_session(&p);
    assert_int_equal(s->user_message_count, 1);
    assert_string_equal(s->first_message, "Summarise the failing checks for the nightly build");
    assert_int_equal(s->message_count, 3);
    for (size_t i = 0; i < s->n_messages; i++) {
        assert_int_equal(s->messages[i].ordinal, (int64_t)i);
        if (!s->messages[i].is_system)
            continue;
        n_system++;
        assert_string_equal(s->messages[i].role, "user");
        assert_string_equal(s->messages[i].source_type, "system");
        assert_string_equal(s->messages[i].source_subtype, "task_notification");
    }
    assert_int_equal(n_system, 2);
    assert_string_equal(s->termination_status, "clean");
    assert_string_equal(s->ended_at, "2025-01-01T00:00:04Z");
    ct_parse_free(&p);
}

static void test_minimal_example(void **state)
{
    const char *stem = "7d41a9c2-bbbb-4ccc-8ddd-0123456789ef";
    ct_parse p;
    pd_session *s;
    const pd_message *m;

    parse_fixture(*state, "minimal_example.jsonl", stem, &p);
    assert_int_equal(p.res.n_sessions, 1);
    s = &p.res.sessions[0];

    assert_string_equal(s->id, stem);
    assert_int_equal(s->claude_linear_parse, 0);
    assert_int_equal(s->n_messages, 4);
    assert_string_equal(s->messages[0].role, "user");
    assert_string_equal(s->messages[2].role, "user");
    assert_string_equal(s->messages[3].role, "assistant");
    m = &s->messages[1];
    assert_string_equal(m->role, "assistant");
    assert_string_equal(m->content,
                        "[Thinking]\nLocate the option parser.\n[/Thinking]\n[Grep: export]");
    assert_string_equal(m->thinking_text, "Locate the option parser.");
    assert_true(m->has_thinking);
    assert_int_equal(m->n_tool_calls, 1);
    assert_string_equal(m->tool_calls[0].tool_name, "Grep");
    assert_string_equal(m->tool_calls[0].category, "Grep");
    assert_string_equal(m->claude_request_id, "req_01");
    assert_string_equal(s->messages[2].content, "");
    assert_int_equal(s->messages[2].n_tool_results, 1);

    assert_string_equal(s->session_name, "verbose switch");
    assert_string_equal(s->first_message, "Add a --verbose switch to the export command");
    assert_string_equal(s->started_at, "2025-03-02T09:14:03.12Z");
    assert_string_equal(s->ended_at, "2025-03-02T09:15:00Z");
    assert_string_equal(s->termination_status, "awaiting_user");
    assert_int_equal(s->total_output_tokens, 306);
    assert_int_equal(s->peak_context_tokens, 16040);
    assert_null(s->parent_session_id);
    assert_string_equal(s->source_session_id, stem);
    assert_string_equal(s->source_version, "2.0.14");
    assert_string_equal(s->project, "export_tool");

    /* As rows: the result-only user message is dropped and its result fills the call. */
    assert_int_equal(pd_session_normalize(s, NULL, p.arena), PD_OK);
    assert_int_equal(s->n_messages, 3);
    assert_int_equal(s->messages[0].ordinal, 0);
    assert_int_equal(s->messages[1].ordinal, 1);
    assert_int_equal(s->messages[2].ordinal, 3);
    assert_int_equal(s->message_count, 3);
    assert_int_equal(s->user_message_count, 1);
    assert_string_equal(s->messages[1].tool_calls[0].result_content,
                        "cmd/export.go:7: func export()");
    assert_int_equal(s->messages[1].tool_calls[0].result_content_length, 30);
    assert_int_equal(s->next_ordinal, 4);
    assert_string_equal(s->last_entry_uuid, "a2");
    ct_parse_free(&p);
}

/* ---- edge cases ------------------------------------------------------------- */

static void test_empty_file_has_no_messages(void **state)
{
    const char *const lines[] = {NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "empty", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 0);
    assert_int_equal(s->message_count, 0);
    assert_null(s->termination_status);
    assert_null(s->first_message);
    assert_null(s->started_at);
    ct_parse_free(&p);
}

static void test_long_prompt_first_message_truncated(void **state)
{
    env *e = *state;
    char prompt[401];
    char line[600];
    const char *lines[] = {line, NULL};
    ct_parse p;
    const pd_session *s;

    memset(prompt, 'a', 400);
    prompt[400] = '\0';
    snprintf(line, sizeof line, "{'type':'user','message':{'role':'user','content':'%s'}}", prompt);
    parse_lines(e, "long", lines, &p);
    s = only_session(&p);
    assert_int_equal(strlen(s->first_message), 303);
    assert_memory_equal(s->first_message + 300, "...", 3);
    assert_int_equal(s->messages[0].content_length, 400);
    ct_parse_free(&p);
}

static void test_invalid_middle_line_skipped(void **state)
{
    const char *const lines[] = {"{'type':'user','message':{'role':'user','content':'first'}}",
                                 "{'type':'assistant', broken",
                                 "{'type':'assistant','message':{'role':'assistant','content':[{'"
                                 "type':'text','text':'reply'}]}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "middle", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 2);
    assert_int_equal(s->parser_malformed_lines, 1);
    assert_false(s->is_truncated);
    assert_string_equal(s->termination_status, "clean");
    ct_parse_free(&p);
}

static void test_metadata_fields(void **state)
{
    const char *const lines[] = {
        "{'type':'assistant','cwd':'/tmp/"
        "not-this','gitBranch':'nope','message':{'role':'assistant','content':'hi'}}",
        "{'type':'user','cwd':'/srv/app','gitBranch':'feature/"
        "x','sessionId':'meta','version':'2.1.0','message':{'role':'user','content':'go'}}",
        "{'type':'user','cwd':'/srv/"
        "other','gitBranch':'other','version':'9.9.9','message':{'role':'user','content':'again'}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "meta", lines, &p);
    s = only_session(&p);
    assert_string_equal(s->cwd, "/srv/app");
    assert_string_equal(s->git_branch, "feature/x");
    assert_string_equal(s->source_session_id, "meta");
    assert_string_equal(s->source_version, "2.1.0");
    assert_null(s->parent_session_id);
    ct_parse_free(&p);
}

static void test_leading_bad_lines_not_truncated(void **state)
{
    const char *const lines[] = {"not json", "{also not",
                                 "{'type':'user','message':{'role':'user','content':'real'}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "leading", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->parser_malformed_lines, 2);
    assert_false(s->is_truncated);
    assert_string_equal(s->termination_status, "clean");
    ct_parse_free(&p);
}

static void test_unterminated_bad_tail_truncated(void **state)
{
    env *e = *state;
    char *path = session_path(e, "tail");
    ct_parse p;
    const pd_session *s;

    ct_write(path, "");
    ct_append_line(path, "{'type':'user','message':{'role':'user','content':'real'}}", true);
    ct_append_line(path, "{'type':'assistant','message':{'ro", false);
    assert_int_equal(ct_parse_file(&p, path, PROJECT_DIR, NULL), PD_OK);
    s = only_session(&p);
    assert_int_equal(s->parser_malformed_lines, 1);
    assert_true(s->is_truncated);
    assert_string_equal(s->termination_status, "truncated");
    ct_parse_free(&p);
    free(path);
}

static void test_version_from_system_line(void **state)
{
    const char *const lines[] = {
        "{'type':'system','version':'2.0.50','content':'started'}",
        "{'type':'user','version':'2.0.51','message':{'role':'user','content':'hello'}}", NULL};
    ct_parse p;

    parse_lines(*state, "version", lines, &p);
    assert_string_equal(only_session(&p)->source_version, "2.0.50");
    ct_parse_free(&p);
}

static void test_identity_fields_first_nonblank(void **state)
{
    const char *const lines[] = {
        "{'type':'summary','agentSetting':'  ','entrypoint':'cli','sessionKind':''}",
        "{'type':'user','agentSetting':'reviewer','entrypoint':'sdk','sessionKind':'bg','message':{"
        "'role':'user','content':'x'}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "identity", lines, &p);
    s = only_session(&p);
    assert_string_equal(s->agent_label, "reviewer");
    assert_string_equal(s->entrypoint, "cli");
    assert_string_equal(s->session_kind, "bg");
    ct_parse_free(&p);
}

/* ---- /rename --------------------------------------------------------------------- */

static void test_rename_sets_session_name(void **state)
{
    const char *const lines[] = {"{'type':'user','message':{'role':'user','content':'x'}}",
                                 "{'type':'system','content':'<command-name>/rename</"
                                 "command-name>\\n<command-args>  first name </command-args>'}",
                                 NULL};
    ct_parse p;

    parse_lines(*state, "rename", lines, &p);
    assert_string_equal(only_session(&p)->session_name, "first name");
    ct_parse_free(&p);
}

static void test_rename_last_wins(void **state)
{
    const char *const lines[] = {"{'type':'system','content':'<command-name>rename</"
                                 "command-name><command-args>one</command-args>'}",
                                 "{'type':'user','message':{'role':'user','content':'x'}}",
                                 "{'type':'system','content':'<command-name>/rename</"
                                 "command-name><command-args>two</command-args>'}",
                                 "{'type':'system','content':'<command-name>/model</"
                                 "command-name><command-args>opus</command-args>'}",
                                 NULL};
    ct_parse p;

    parse_lines(*state, "rename2", lines, &p);
    assert_string_equal(only_session(&p)->session_name, "two");
    ct_parse_free(&p);
}

static void test_rename_empty_clears(void **state)
{
    const char *const lines[] = {"{'type':'system','content':'<command-name>/rename</"
                                 "command-name><command-args>named</command-args>'}",
                                 "{'type':'user','message':{'role':'user','content':'x'}}",
                                 "{'type':'system','content':'<command-name>/rename</"
                                 "command-name><command-args></command-args>'}",
                                 "{'type':'summary','summary':'A summary is not a name'}",
                                 "{'type':'custom-title','customTitle':'Nor is a custom title'}",
                                 NULL};
    ct_parse p;

    parse_lines(*state, "rename3", lines, &p);
    assert_null(only_session(&p)->session_name);
    ct_parse_free(&p);
}

/* ---- message rules ------------------------------------------------------------------- */

static void test_compact_boundary(void **state)
{
    const char *const lines[] = {
        "{'type':'user','uuid':'c1','parentUuid':'p0','isCompactSummary':true,'promptSource':'auto'"
        ",'message':{'role':'user','content':[{'type':'text','text':'Summary part "
        "one'},{'type':'text','text':'part two'}]}}",
        "{'type':'assistant','isCompactSummary':true,'message':{'role':'assistant','content':'"
        "string summary'}}",
        NULL};
    ct_parse p;
    const pd_session *s;
    const pd_message *m;

    parse_lines(*state, "compact", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 2);
    m = &s->messages[0];
    assert_string_equal(m->role, "assistant");
    assert_true(m->is_system);
    assert_true(m->is_compact_boundary);
    assert_string_equal(m->source_type, "system");
    assert_string_equal(m->source_subtype, "compact_boundary");
    assert_string_equal(m->content, "Summary part one\npart two");
    assert_string_equal(m->source_uuid, "c1");
    assert_string_equal(m->source_parent_uuid, "p0");
    assert_string_equal(m->prompt_source, "auto");
    assert_string_equal(s->messages[1].content, "string summary");
    assert_true(s->messages[1].is_compact_boundary);
    assert_int_equal(s->user_message_count, 0);
    ct_parse_free(&p);
}

static void test_meta_user_lines_dropped(void **state)
{
    const char *const lines[] = {"{'type':'user','isMeta':true,'message':{'role':'user','content':'"
                                 "<local-command-caveat>meta</local-command-caveat>'}}",
                                 "{'type':'user','message':{'role':'user','content':'kept'}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "meta2", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 1);
    assert_string_equal(s->messages[0].content, "kept");
    ct_parse_free(&p);
}

static void test_injected_user_text_subtypes(void **state)
{
    const char *const lines[] = {
        "{'type':'user','message':{'role':'user','content':'This session is being continued from a "
        "previous conversation.'}}",
        "{'type':'user','message':{'role':'user','content':'[Request interrupted by user]'}}",
        "{'type':'user','message':{'role':'user','content':'<local-command-caveat>Caveat "
        "text</local-command-caveat>'}}",
        "{'type':'user','message':{'role':'user','content':'<task-notification><task-id>9</"
        "task-id></task-notification>'}}",
        "{'type':'user','message':{'role':'user','content':'Stop hook feedback: tests failed'}}",
        "{'type':'user','message':{'role':'user','content':'<ide_opened_file>The user opened "
        "a.go</ide_opened_file>'}}",
        "{'type':'user','message':{'role':'user','content':'<ide_selection>lines "
        "1-3</ide_selection>'}}",
        "{'type':'user','message':{'role':'user','content':'<local-command-stdout>output</"
        "local-command-stdout>'}}",
        "{'type':'user','message':{'role':'user','content':'<local-command-result>done</"
        "local-command-result>'}}",
        "{'type':'user','message':{'role':'user','content':'<system-reminder>only a "
        "reminder</system-reminder>'}}",
        NULL};
    static const char *const subtypes[] = {"continuation",      "interrupted",    "resume",
                                           "task_notification", "stop_hook",      "ide_opened_file",
                                           "ide_selection",     "system_reminder"};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "injected", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 8);
    for (size_t i = 0; i < 8; i++) {
        assert_string_equal(s->messages[i].role, "user");
        assert_true(s->messages[i].is_system);
        assert_string_equal(s->messages[i].source_type, "system");
        assert_string_equal(s->messages[i].source_subtype, subtypes[i]);
    }
    assert_int_equal(s->user_message_count, 0);
    assert_null(s->first_message);
    ct_parse_free(&p);
}

static void test_ide_context_split(void **state)
{
    const char *const lines[] = {
        "{'type':'user','uuid':'u9','message':{'role':'user','content':'<ide_opened_file>The user "
        "opened main.go</ide_opened_file>\\nPlease rename the handler'}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "ide", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 2);
    assert_true(s->messages[0].is_system);
    assert_string_equal(s->messages[0].source_subtype, "ide_opened_file");
    assert_string_equal(s->messages[0].content,
                        "<ide_opened_file>The user opened main.go</ide_opened_file>");
    assert_string_equal(s->messages[0].source_uuid, "u9:ide-context");
    assert_false(s->messages[1].is_system);
    assert_string_equal(s->messages[1].content, "Please rename the handler");
    assert_string_equal(s->messages[1].source_uuid, "u9");
    assert_string_equal(s->first_message, "Please rename the handler");
    assert_int_equal(s->user_message_count, 1);
    ct_parse_free(&p);
}

static void test_command_envelopes(void **state)
{
    const char *const lines[] = {
        "{'type':'user','message':{'role':'user','content':'<command-message>roborev-fix is "
        "running</command-message>\\n<command-name>/roborev-fix</"
        "command-name>\\n<command-args>450</command-args>'}}",
        "{'type':'user','message':{'role':'user','content':'<command-name>clear</command-name>'}}",
        "{'type':'user','message':{'role':'user','content':'<command-message>only-message</"
        "command-message>'}}",
        "{'type':'user','message':{'role':'user','content':'<command-name></command-name>'}}",
        "{'type':'user','message':{'role':'user','content':'<command-name>/x</command-name> and "
        "prose'}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "commands", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 4);
    assert_string_equal(s->messages[0].content, "/roborev-fix 450");
    assert_string_equal(s->messages[1].content, "/clear");
    assert_string_equal(s->messages[2].content, "/only-message");
    assert_string_equal(s->messages[3].content, "<command-name>/x</command-name> and prose");
    /* Commands count as user turns but never become the preview, except the prose one. */
    assert_int_equal(s->user_message_count, 4);
    assert_string_equal(s->first_message, "<command-name>/x</command-name> and prose");
    ct_parse_free(&p);
}

static void test_command_only_session_has_no_first_message(void **state)
{
    const char *const lines[] = {"{'type':'user','message':{'role':'user','content':'<command-name>"
                                 "/roborev-fix</command-name><command-args>450</command-args>'}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "roborev", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 1);
    assert_string_equal(s->messages[0].content, "/roborev-fix 450");
    assert_null(s->first_message);
    assert_int_equal(s->user_message_count, 1);
    ct_parse_free(&p);
}

static void test_reminders_stripped_before_prompt(void **state)
{
    const char *const lines[] = {"{'type':'user','message':{'role':'user','content':'<system-"
                                 "reminder>ctx</system-reminder>\\n  Fix the flaky test'}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "reminder", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 1);
    assert_false(s->messages[0].is_system);
    assert_string_equal(s->messages[0].content, "Fix the flaky test");
    assert_string_equal(s->first_message, "Fix the flaky test");
    ct_parse_free(&p);
}

static void test_bare_command_skipped_for_preview(void **state)
{
    const char *const lines[] = {
        "{'type':'user','message':{'role':'user','content':'/clear'}}",
        "{'type':'user','message':{'role':'user','content':'/plugin:skill args'}}", NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "bare", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->user_message_count, 2);
    assert_string_equal(s->first_message, "/plugin:skill args");
    assert_true(claude_is_bare_command("  /clear  ", 10));
    assert_true(claude_is_bare_command("/my_cmd-2 arg", 13));
    assert_false(claude_is_bare_command("/usr/local/bin is missing", 25));
    assert_false(claude_is_bare_command("/", 1));
    ct_parse_free(&p);
}

static void test_blank_messages_dropped(void **state)
{
    const char *const lines[] = {"{'type':'user','message':{'role':'user','content':'   '}}",
                                 "{'type':'assistant','message':{'role':'assistant','content':[{'"
                                 "type':'thinking','thinking':''},{'type':'text','text':''}]}}",
                                 "{'type':'assistant','message':{'role':'assistant','content':[{'"
                                 "type':'image','source':{}}]}}",
                                 "{'type':'user','message':{'role':'user','content':'kept'}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "blank", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 1);
    assert_string_equal(s->messages[0].content, "kept");
    ct_parse_free(&p);
}

static void test_thinking_and_text_parts(void **state)
{
    const char *const lines[] = {
        "{'type':'assistant','message':{'role':'assistant','content':[{'type':'thinking','thinking'"
        ":'one'},{'type':'text','text':'middle'},{'type':'thinking','thinking':'two'}]}}",
        NULL};
    ct_parse p;
    const pd_message *m;

    parse_lines(*state, "thinking", lines, &p);
    m = &only_session(&p)->messages[0];
    assert_string_equal(m->content,
                        "[Thinking]\none\n[/Thinking]\nmiddle\n[Thinking]\ntwo\n[/Thinking]");
    assert_string_equal(m->thinking_text, "one\n\ntwo");
    assert_true(m->has_thinking);
    assert_false(m->has_tool_use);
    ct_parse_free(&p);
}

static void test_tool_result_array_content(void **state)
{
    const char *const lines[] = {
        "{'type':'assistant','message':{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
        "'name':'Bash','input':{'command':'ls'}}]}}",
        "{'type':'user','message':{'role':'user','content':[{'type':'tool_result','tool_use_id':'"
        "t1','content':[{'type':'text','text':'abc'},{'type':'image'},{'type':'text','text':'de'}]}"
        ",{'type':'tool_result','content':'no id'}]}}",
        NULL};
    ct_parse p;
    const pd_message *m;

    parse_lines(*state, "results", lines, &p);
    m = &only_session(&p)->messages[1];
    assert_int_equal(m->n_tool_results, 1);
    assert_string_equal(m->tool_results[0].tool_use_id, "t1");
    assert_string_equal(m->tool_results[0].content, "abcde");
    assert_int_equal(m->tool_results[0].content_length, 5);
    ct_parse_free(&p);
}

static void test_sanitised_content(void **state)
{
    const char *const lines[] = {
        "{'type':'user','message':{'role':'user','content':'a\\u0000b\\u0007c\\td'}}", NULL};
    ct_parse p;
    const pd_message *m;

    parse_lines(*state, "sanitise", lines, &p);
    m = &only_session(&p)->messages[0];
    assert_string_equal(m->content, "abc\td");
    assert_int_equal(m->content_length, 5);
    ct_parse_free(&p);
}

static void test_malformed_lines_never_crash(void **state)
{
    env *e = *state;
    char *path = session_path(e, "hostile");
    static const char nul_block[16] = {0};
    ct_parse p;
    const pd_session *s;

    ct_write(path, "");
    ct_append(path, "   \t \n");
    ct_write_bytes(path, nul_block, sizeof nul_block, "a");
    ct_append(path, "\n");
    ct_append_line(path, "42", true);
    ct_append_line(path, "['type','user']", true);
    ct_append_line(path, "{'type':'user','message':'not an object'}", true);
    ct_append_line(path, "{'type':'user','message':{'content':17}}", true);
    ct_append_line(path,
                   "{'type':'assistant','message':{'content':[1,null,'x',{'type':7},{'type':'tool_"
                   "use','name':3,'input':'str'}],'usage':[1,2]}}",
                   true);
    ct_append_line(path,
                   "{'type':'user','message':{'content':[{'type':'tool_result','tool_use_id':5,'"
                   "content':{'a':1}}]},'toolUseResult':'Error: text'}",
                   true);
    ct_append_line(path, "{'type':'queue-operation','operation':'enqueue','content':7}", true);
    ct_append_line(path, "{'type':'progress','data':'x'}", true);
    ct_append_line(
        path, "{'type':'attachment','attachment':{'type':'queued_command','prompt':['a']}}", true);
    ct_append_line(path, "{'type':'system','content':{'x':1}}", true);
    ct_append_line(path,
                   "{'type':'user','timestamp':12,'snapshot':5,'uuid':3,'parentUuid':[],'message':{"
                   "'role':'user','content':'survivor'}}",
                   true);

    assert_int_equal(ct_parse_file(&p, path, PROJECT_DIR, NULL), PD_OK);
    s = only_session(&p);
    /* The blank line and the NUL block are invalid JSON. The rest parse but carry little. */
    assert_int_equal(s->parser_malformed_lines, 2);
    assert_int_equal(s->messages[s->n_messages - 1].content_length, 8);
    assert_string_equal(s->messages[s->n_messages - 1].content, "survivor");
    ct_parse_free(&p);
    free(path);
}

static void test_timestamps_snapshot_and_offset(void **state)
{
    const char *const lines[] = {
        "{'type':'file-history-snapshot','snapshot':{'timestamp':'2025-05-01T08:00:00Z'}}",
        "{'type':'user','timestamp':'2025-05-01T12:30:00.250+02:00','message':{'role':'user','"
        "content':'x'}}",
        "{'type':'assistant','timestamp':'not a "
        "time','snapshot':{'timestamp':'2025-05-01T10:45:00Z'},'message':{'role':'assistant','"
        "content':'y'}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "times", lines, &p);
    s = only_session(&p);
    assert_string_equal(s->messages[0].timestamp, "2025-05-01T10:30:00.25Z");
    assert_string_equal(s->messages[1].timestamp, "2025-05-01T10:45:00Z");
    assert_string_equal(s->started_at, "2025-05-01T08:00:00Z");
    assert_string_equal(s->ended_at, "2025-05-01T10:45:00Z");
    ct_parse_free(&p);
}

static void test_parent_from_differing_session_id(void **state)
{
    const char *const lines[] = {"{'type':'user','sessionId':'original-session','message':{'role':'"
                                 "user','content':'resumed'}}",
                                 NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "resumed", lines, &p);
    s = only_session(&p);
    assert_string_equal(s->parent_session_id, "original-session");
    assert_string_equal(s->relationship_type, "continuation");
    assert_string_equal(s->source_session_id, "original-session");
    ct_parse_free(&p);
}

static void test_subagent_parent_and_relationship(void **state)
{
    env *e = *state;
    char *path = ct_join(e->project_dir, "sess-1/subagents/agent-abc.jsonl");
    const char *const lines[] = {
        "{'type':'user','isSidechain':true,'message':{'role':'user','content':'explore'}}", NULL};
    ct_parse p;
    const pd_session *s;

    ct_write_lines(path, lines);
    assert_int_equal(ct_parse_file(&p, path, PROJECT_DIR, NULL), PD_OK);
    s = only_session(&p);
    assert_string_equal(s->id, "agent-abc");
    assert_string_equal(s->parent_session_id, "sess-1");
    assert_string_equal(s->relationship_type, "subagent");
    assert_true(s->messages[0].is_sidechain);
    ct_parse_free(&p);

    /* A sessionId overrides the directory name. */
    ct_write(path, "");
    ct_append_line(
        path, "{'type':'user','sessionId':'parent-sess','message':{'role':'user','content':'x'}}",
        true);
    assert_int_equal(ct_parse_file(&p, path, PROJECT_DIR, NULL), PD_OK);
    assert_string_equal(only_session(&p)->parent_session_id, "parent-sess");
    assert_string_equal(only_session(&p)->relationship_type, "subagent");
    ct_parse_free(&p);
    free(path);
}

/* ---- tool labels ---------------------------------------------------------------------- */

static void test_tool_labels(void **state)
{
    const char *const lines[] = {
        "{'type':'assistant','message':{'role':'assistant','content':["
        "{'type':'tool_use','id':'1','name':'Glob','input':{'pattern':'*.go'}},"
        "{'type':'tool_use','id':'2','name':'Glob','input':{'pattern':'*.c','path':'src'}},"
        "{'type':'tool_use','id':'3','name':'Bash','input':{'command':'make'}},"
        "{'type':'tool_use','id':'4','name':'Bash','input':{'cmd':'ls "
        "-la','description':'ignored'}},"
        "{'type':'tool_use','id':'5','name':'Task','input':{'description':'Scan','subagent_type':'"
        "Explore'}},"
        "{'type':'tool_use','id':'6','name':'Agent','input':{'prompt':'Only prompt'}},"
        "{'type':'tool_use','id':'7','name':'Task','input':{}},"
        "{'type':'tool_use','id':'8','name':'TodoWrite','input':{'todos':[{'content':'a','status':'"
        "completed'},{'content':'b','status':'in_progress'},{'content':'c','status':'pending'},{'"
        "content':'d','status':'odd'}]}},"
        "{'type':'tool_use','id':'9','name':'AskUserQuestion','input':{'questions':[{'question':'"
        "Which?','options':[{'label':'A','description':'first'}]}]}},"
        "{'type':'tool_use','id':'10','name':'EnterPlanMode','input':{}},"
        "{'type':'tool_use','id':'11','name':'mcp__srv__lookup','input':{}},"
        "{'type':'tool_use','id':'12','name':'Skill','input':{'skill':'pdf'}},"
        "{'type':'tool_use','id':'13','input':{'x':1}},"
        "{'type':'tool_use','id':'14','name':'mcp__zen__spawn_subagent','input':{'description':'"
        "Zen'}},"
        "{'type':'tool_use','id':'15','name':'TaskUpdate','input':{'taskId':'4','status':'done'}},"
        "{'type':'tool_use','id':'16','name':'SendMessage','input':{'type':'note','recipient':'"
        "lead'}},"
        "{'type':'toolCall','id':'17','name':'Write','input':{},'arguments':{'file_path':'out.txt'}"
        "}"
        "]}}",
        NULL};
    static const char *const expected[] = {
        "[Glob: *.go in .]",
        "[Glob: *.c in src]",
        "[Bash]\n$ make",
        "[Bash]\n$ ls -la",
        "[Task: Scan (Explore)]",
        "[Task: Only prompt]",
        "[Task]",
        "[Todo List]\n  \xE2\x9C\x93 a\n  \xE2\x86\x92 b\n  \xE2\x97\x8B c\n  \xE2\x97\x8B d",
        "[Question: AskUserQuestion]\n  Which?\n    - A: first",
        "[Entering Plan Mode]",
        "[Tool: mcp__srv__lookup]",
        "[Skill: pdf]",
        "[Tool: ]",
        "[Task: Zen]",
        "[TaskUpdate: #4 done]",
        "[SendMessage: note to lead]",
        "[Write: out.txt]",
    };
    ct_parse p;
    const pd_message *m;
    char joined[1024] = "";

    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (i > 0)
            strcat(joined, "\n");
        strcat(joined, expected[i]);
    }
    parse_lines(*state, "labels", lines, &p);
    m = &only_session(&p)->messages[0];
    assert_string_equal(m->content, joined);
    /* The nameless call renders but is not recorded. */
    assert_int_equal(m->n_tool_calls, 16);
    assert_string_equal(m->tool_calls[11].skill_name, "pdf");
    assert_string_equal(m->tool_calls[11].category, "Tool");
    assert_string_equal(m->tool_calls[12].category, "Task");
    assert_string_equal(m->tool_calls[15].input_json, "{\"file_path\":\"out.txt\"}");
    assert_string_equal(m->tool_calls[15].file_path, "out.txt");
    for (size_t i = 0; i < m->n_tool_calls; i++)
        assert_int_equal(m->tool_calls[i].call_index, (int64_t)i);
    ct_parse_free(&p);
}

/* ---- subagent links ---------------------------------------------------------------------- */

static void test_subagent_links(void **state)
{
    const char *const lines[] = {
        "{'type':'assistant','message':{'role':'assistant','content':["
        "{'type':'tool_use','id':'q1','name':'Task','input':{'description':'a'}},"
        "{'type':'tool_use','id':'q2','name':'Task','input':{'description':'b'}},"
        "{'type':'tool_use','id':'p1','name':'Agent','input':{'description':'c'}},"
        "{'type':'tool_use','id':'r1','name':'Agent','input':{'description':'d'}},"
        "{'type':'tool_use','id':'r2','name':'Agent','input':{'description':'e'}},"
        "{'type':'tool_use','id':'b1','name':'Bash','input':{'command':'x'}}]}}",
        "{'type':'queue-operation','operation':'enqueue','content':'{\\'tool_use_id\\':\\'q1\\',\\'"
        "task_id\\':\\'json1\\'}'}",
        "{'type':'queue-operation','operation':'enqueue','content':'<task-notification><tool-use-"
        "id>q2</tool-use-id><task-id>xml2</task-id></task-notification>'}",
        "{'type':'queue-operation','operation':'dequeue','content':'<tool-use-id>b1</"
        "tool-use-id><task-id>nope</task-id>'}",
        "{'type':'progress','parentToolUseID':'p1','data':{'type':'agent_progress','agentId':'"
        "prog1'}}",
        "{'type':'progress','parentToolUseID':'b1','data':{'type':'agent_progress','agentId':'bash-"
        "agent'}}",
        "{'type':'user','toolUseResult':{'agentId':'res1'},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'r1','content':'done'}]}}",
        "{'type':'user','toolUseResult':{'agentId':'agent-res2'},'message':{'role':'user','content'"
        ":[{'type':'tool_result','tool_use_id':'r2','content':'done'}]}}",
        "{'type':'user','toolUseResult':{'agentId':'late'},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'q1','content':'done'}]}}",
        NULL};
    ct_parse p;
    const pd_message *m;

    parse_lines(*state, "links", lines, &p);
    m = &only_session(&p)->messages[0];
    assert_string_equal(m->tool_calls[0].subagent_session_id, "agent-json1");
    assert_string_equal(m->tool_calls[1].subagent_session_id, "agent-xml2");
    assert_string_equal(m->tool_calls[2].subagent_session_id, "agent-prog1");
    assert_string_equal(m->tool_calls[3].subagent_session_id, "agent-res1");
    assert_string_equal(m->tool_calls[4].subagent_session_id, "agent-res2");
    /* Only Task-like calls get a link, even when a line names another call. */
    assert_null(m->tool_calls[5].subagent_session_id);
    ct_parse_free(&p);
}

/* ---- web search credit ---------------------------------------------------------------------- */

static void test_web_search_credit(void **state)
{
    const char *const lines[] = {
        "{'type':'assistant','message':{'id':'m1','role':'assistant','content':[{'type':'tool_use',"
        "'id':'w1','name':'WebSearch','input':{'query':'a'}}],'usage':{'input_tokens':5,'server_"
        "tool_use':{'web_search_requests':0,'web_fetch_requests':1},'output_tokens':2}}}",
        "{'type':'user','toolUseResult':{'searchCount':3},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'w1','content':'r'}]}}",
        "{'type':'assistant','message':{'id':'m2','role':'assistant','content':[{'type':'tool_use',"
        "'id':'w2','name':'WebSearch','input':{'query':'b'}}],'usage':{'input_tokens':5,'server_"
        "tool_use':{'web_fetch_requests':1}}}}",
        "{'type':'user','toolUseResult':{'searchCount':2},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'w2','content':'r'}]}}",
        "{'type':'assistant','message':{'id':'m3','role':'assistant','content':[{'type':'tool_use',"
        "'id':'w3','name':'WebSearch','input':{'query':'c'}}],'usage':{'input_tokens':5}}}",
        "{'type':'user','toolUseResult':{'searchCount':4},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'w3','content':'r'}]}}",
        "{'type':'user','toolUseResult':{'searchCount':9},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'w3','content':'again'}]}}",
        "{'type':'assistant','message':{'id':'m4','role':'assistant','content':[{'type':'tool_use',"
        "'id':'w4','name':'WebSearch','input':{'query':'d'}}],'usage':{'server_tool_use':{'web_"
        "search_requests':7}}}}",
        "{'type':'user','toolUseResult':{'searchCount':5},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'w4','content':'r'}]}}",
        "{'type':'assistant','message':{'id':'m5','role':'assistant','content':[{'type':'tool_use',"
        "'id':'w5','name':'WebSearch','input':{'query':'e'}}],'usage':{}}}",
        "{'type':'user','toolUseResult':{'searchCount':1},'message':{'role':'user','content':[{'"
        "type':'tool_result','tool_use_id':'w5','content':'r'}]}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "websearch", lines, &p);
    s = only_session(&p);
    assert_string_equal(s->messages[0].token_usage,
                        "{\"input_tokens\":5,\"server_tool_use\":{\"web_search_requests\":3,\"web_"
                        "fetch_requests\":1},\"output_tokens\":2}");
    assert_string_equal(s->messages[2].token_usage,
                        "{\"input_tokens\":5,\"server_tool_use\":{\"web_search_requests\":2,\"web_"
                        "fetch_requests\":1}}");
    /* The first count of a call wins over a repeated result line. */
    assert_string_equal(s->messages[4].token_usage,
                        "{\"server_tool_use\":{\"web_search_requests\":4},\"input_tokens\":5}");
    /* A message that already reports searches keeps its own count. */
    assert_string_equal(s->messages[7].token_usage,
                        "{\"server_tool_use\":{\"web_search_requests\":7}}");
    assert_string_equal(s->messages[9].token_usage,
                        "{\"server_tool_use\":{\"web_search_requests\":1}}");
    ct_parse_free(&p);
}

/* ---- queued prompts ----------------------------------------------------------------------------
 */

static void test_queued_prompts_merge_by_time(void **state)
{
    const char *const lines[] = {
        "{'type':'user','timestamp':'2025-01-01T00:00:00Z','message':{'role':'user','content':'"
        "first'}}",
        "{'type':'assistant','timestamp':'2025-01-01T00:00:10Z','message':{'role':'assistant','"
        "content':'working'}}",
        "{'type':'attachment','timestamp':'2025-01-01T00:00:05Z','promptSource':'typed','"
        "attachment':{'type':'queued_command','prompt':'also do this'}}",
        "{'type':'attachment','attachment':{'type':'queued_command','prompt':'no time'}}",
        "{'type':'attachment','timestamp':'2025-01-01T00:00:06Z','attachment':{'type':'queued_"
        "command','prompt':'   '}}",
        "{'type':'attachment','timestamp':'2025-01-01T00:00:07Z','attachment':{'type':'todo_"
        "reminder','prompt':'ignored'}}",
        NULL};
    ct_parse p;
    const pd_session *s;

    parse_lines(*state, "queue", lines, &p);
    s = only_session(&p);
    assert_int_equal(s->n_messages, 4);
    assert_string_equal(s->messages[0].content, "first");
    assert_string_equal(s->messages[1].content, "also do this");
    assert_string_equal(s->messages[1].source_type, "user");
    assert_string_equal(s->messages[1].source_subtype, "queued_command");
    assert_string_equal(s->messages[1].prompt_source, "typed");
    assert_string_equal(s->messages[1].source_uuid, "");
    assert_string_equal(s->messages[2].content, "working");
    assert_string_equal(s->messages[3].content, "no time");
    assert_null(s->messages[3].timestamp);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(s->messages[i].ordinal, (int64_t)i);
    assert_int_equal(s->user_message_count, 3);
    assert_string_equal(s->ended_at, "2025-01-01T00:00:10Z");
    ct_parse_free(&p);
}

/* ---- usage probes
 * -------------------------------------------------------------------------------- */

static void test_usage_probe_excluded(void **state)
{
    const char *const lines[] = {
        "{'type':'user','message':{'role':'user','content':'<command-name>/usage</command-name>'}}",
        "{'type':'user','message':{'role':'user','content':'<local-command-stdout>Plan "
        "usage</local-command-stdout>'}}",
        NULL};
    ct_parse p;

    parse_lines(*state, "probe", lines, &p);
    assert_int_equal(p.res.n_sessions, 0);
    assert_int_equal(p.res.n_excluded, 1);
    assert_string_equal(p.res.excluded_ids[0], "probe");
    ct_parse_free(&p);
}

static void test_usage_with_prompt_kept(void **state)
{
    const char *const lines[] = {
        "{'type':'user','message':{'role':'user','content':'/usage'}}",
        "{'type':'user','message':{'role':'user','content':'now a real question'}}", NULL};
    ct_parse p;

    parse_lines(*state, "notprobe", lines, &p);
    assert_int_equal(p.res.n_sessions, 1);
    assert_int_equal(p.res.n_excluded, 0);
    ct_parse_free(&p);
}

/* ---- skills
 * --------------------------------------------------------------------------------------- */

static void test_skill_names(void **state)
{
    env *e = *state;
    char *skill_file = ct_join(e->root, "skills/pdf-tools/SKILL.md");
    char *other_file = ct_join(e->root, "skills/plain/SKILL.md");
    char read_line[512], bash_line[512];
    const char *lines[] = {read_line, bash_line, NULL};
    ct_parse p;
    const pd_message *m;

    ct_write(skill_file, "---\nname: \"PDF Tools\"\ndescription: x\n---\nbody\n");
    ct_write(other_file, "no front matter\n");
    snprintf(read_line, sizeof read_line,
             "{'type':'assistant','message':{'role':'assistant','content':[{'type':'tool_use','id':"
             "'s1','name':'Read','input':{'file_path':'%s'}}]}}",
             skill_file);
    snprintf(
        bash_line, sizeof bash_line,
        "{'type':'assistant','message':{'role':'assistant','content':[{'type':'tool_use','id':'s2',"
        "'name':'Bash','input':{'command':'cd /x && cat %s | "
        "head'}},{'type':'tool_use','id':'s3','name':'Bash','input':{'command':'cat notes.md'}}]}}",
        other_file);
    parse_lines(e, "skills", lines, &p);
    m = &only_session(&p)->messages[0];
    assert_string_equal(m->tool_calls[0].skill_name, "PDF Tools");
    m = &only_session(&p)->messages[1];
    assert_string_equal(m->tool_calls[0].skill_name, "plain");
    assert_null(m->tool_calls[1].skill_name);
    ct_parse_free(&p);
    free(skill_file);
    free(other_file);
}

/* ---- spilled tool output
 * ------------------------------------------------------------------------- */

static void test_persisted_output_substituted(void **state)
{
    env *e = *state;
    char *inside = ct_join(e->project_dir, "spill/tool-results/t1.txt");
    char *outside = ct_join(e->root, "secret.txt");
    char line_a[1024], line_b[1024], line_c[1024];
    const char *lines[] = {
        "{'type':'assistant','message':{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
        "'name':'Bash','input':{'command':'a'}},{'type':'tool_use','id':'t2','name':'Bash','input':"
        "{'command':'b'}},{'type':'tool_use','id':'t3','name':'Bash','input':{'command':'c'}}]}}",
        line_a, line_b, line_c, NULL};
    ct_parse p;
    const pd_session *s;

    ct_write(inside, "the full output");
    ct_write(outside, "must not be read");
    snprintf(line_a, sizeof line_a,
             "{'type':'user','message':{'role':'user','content':[{'type':'tool_result','tool_use_"
             "id':'t1','content':'<persisted-output>\\nOutput too large. Full output saved to: "
             "%s\\n</persisted-output>'}]}}",
             inside);
    snprintf(line_b, sizeof line_b,
             "{'type':'user','message':{'role':'user','content':[{'type':'tool_result','tool_use_"
             "id':'t2','content':'<persisted-output>Full output saved to: "
             "%s/spill/tool-results/../../../secret.txt</persisted-output>'}]}}",
             e->project_dir);
    snprintf(line_c, sizeof line_c,
             "{'type':'user','toolUseResult':{'persistedOutputPath':'%s'},'message':{'role':'user',"
             "'content':[{'type':'tool_result','tool_use_id':'t3','content':'see file'}]}}",
             inside);
    parse_lines(e, "spill", lines, &p);
    s = only_session(&p);
    assert_string_equal(s->messages[1].tool_results[0].content, "the full output");
    assert_int_equal(s->messages[1].tool_results[0].content_length, 15);
    assert_non_null(strstr(s->messages[2].tool_results[0].content, "<persisted-output>"));
    assert_string_equal(s->messages[3].tool_results[0].content, "the full output");
    /* The raced guard reads the newest mtime of the spill files read. */
    struct stat st;
    assert_int_equal(stat(inside, &st), 0);
    assert_int_equal(s->companion_mtime,
                     (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
    ct_parse_free(&p);
    free(inside);
    free(outside);
}

/* A result that names a spill file is left alone when the line never
 * mentions persisted output, as the format's gate requires. */
static void test_persisted_output_needs_mention(void **state)
{
    env *e = *state;
    char *inside = ct_join(e->project_dir, "gate/tool-results/t1.txt");
    char line_a[1024];
    const char *lines[] = {
        "{'type':'assistant','message':{'role':'assistant','content':[{'type':'tool_use','id':'t1',"
        "'name':'Bash','input':{'command':'a'}}]}}",
        line_a, NULL};
    ct_parse p;

    ct_write(inside, "the full output");
    snprintf(line_a, sizeof line_a,
             "{'type':'user','message':{'role':'user','content':[{'type':'tool_result','tool_use_"
             "id':'t1','content':'Output too large. Full output saved to: %s'}]}}",
             inside);
    assert_null(strstr(line_a, "persisted"));
    parse_lines(e, "gate", lines, &p);
    const pd_tool_result *r = &only_session(&p)->messages[1].tool_results[0];
    assert_non_null(strstr(r->content, "Full output saved to: "));
    ct_parse_free(&p);
    free(inside);
}

static void test_persisted_output_truncated(void **state)
{
    env *e = *state;
    char *inside = ct_join(e->project_dir, "big/tool-results/t1.txt");
    size_t size = CLAUDE_PERSISTED_MAX_BYTES + 100;
    char *data = malloc(size);
    char line[1024];
    const char *lines[] = {line, NULL};
    static const char marker[] = "\n\n[agentsview: persisted tool result truncated at 16 MiB]";
    ct_parse p;
    const pd_tool_result *r;

    assert_non_null(data);
    memset(data, 'z', size);
    ct_write_bytes(inside, data, size, "w");
    free(data);
    snprintf(
        line, sizeof line,
        "{'type':'user','message':{'role':'user','content':[{'type':'tool_result','tool_use_id':'"
        "t1','content':'<persisted-output>Full output saved to: %s\\n</persisted-output>'}]}}",
        inside);
    parse_lines(e, "big", lines, &p);
    r = &only_session(&p)->messages[0].tool_results[0];
    assert_int_equal(r->content_length, (int64_t)(CLAUDE_PERSISTED_MAX_BYTES + sizeof marker - 1));
    assert_int_equal(strlen(r->content), (size_t)r->content_length);
    assert_string_equal(r->content + CLAUDE_PERSISTED_MAX_BYTES, marker);
    ct_parse_free(&p);
    free(inside);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_valid_session_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_session_hyphenated_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_session_token_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_session_normalized_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_call_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_fixture, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_system_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_minimal_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file_has_no_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_prompt_first_message_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_middle_line_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leading_bad_lines_not_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unterminated_bad_tail_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_from_system_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_fields_first_nonblank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_sets_session_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_last_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_empty_clears, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compact_boundary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_user_lines_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_injected_user_text_subtypes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ide_context_split, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_envelopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_only_session_has_no_first_message, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_reminders_stripped_before_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bare_command_skipped_for_preview, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blank_messages_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thinking_and_text_parts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_result_array_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sanitised_content, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_lines_never_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timestamps_snapshot_and_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_from_differing_session_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subagent_parent_and_relationship, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subagent_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_search_credit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queued_prompts_merge_by_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_probe_excluded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_with_prompt_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skill_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_output_substituted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_output_needs_mention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_output_truncated, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
