/*
 * test_claude_sources.c -- where Claude transcripts are found and what they
 * are called.
 *
 * Covers discovery under a projects root and project names from directory
 * names and working directories, with real git layouts on disk. Also covers
 * the shared tool taxonomy, skill-name inference and small path helpers.
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
#include <unistd.h>

#include "common/text.h"
#include "parsers/claude_internal.h"
#include "parsers/taxonomy.h"
#include "test_claude_helpers.h"

typedef struct env {
    char *root;
    pd_arena *arena;
} env;

static int setup(void **state)
{
    env *e = calloc(1, sizeof *e);

    if (e == NULL)
        return -1;
    e->root = ct_make_temp_dir();
    e->arena = pd_arena_new();
    *state = e;
    return e->arena == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    env *e = *state;

    ct_remove_tree(e->root);
    pd_arena_free(e->arena);
    free(e);
    return 0;
}

/* Creates an empty file at <root>/<relative>. */
static void touch(const env *e, const char *relative)
{
    char *path = ct_join(e->root, relative);

    ct_write(path, "");
    free(path);
}

static void make_dir(const env *e, const char *relative)
{
    char *path = ct_join(e->root, relative);
    char *probe = ct_join(path, "x");

    ct_make_parents(probe);
    free(probe);
    free(path);
}

/* ---- discovery --------------------------------------------------------------- */

typedef struct collected {
    char paths[16][512];
    char hints[16][128];
    char roots[16][512];
    size_t n;
    int stop_after; /* sources after which collect returns an error, 0 for never */
} collected;

static int collect(void *ctx, const pd_source *src)
{
    collected *c = ctx;

    if (c->n >= 16)
        return PD_EINTERNAL;
    snprintf(c->paths[c->n], sizeof c->paths[0], "%s", src->path);
    snprintf(c->hints[c->n], sizeof c->hints[0], "%s", src->project_hint);
    snprintf(c->roots[c->n], sizeof c->roots[0], "%s", src->root);
    assert_string_equal(src->agent, "claude");
    assert_null(src->dedupe_key);
    c->n++;
    if (c->stop_after > 0 && (int)c->n == c->stop_after)
        return PD_ECANCELED;
    return PD_OK;
}

static void test_discover_layout(void **state)
{
    env *e = *state;
    static const char *const expected[] = {
        "-proj-a/s1.jsonl",
        "-proj-a/s1/subagents/agent-x.jsonl",
        "-proj-a/s1/subagents/workflows/wf1/agent-y.jsonl.zst",
        "-proj-a/s2.jsonl.zst",
        "-proj-b/s3.jsonl",
    };
    collected c = {0};
    pd_err err = {0};

    touch(e, "-proj-b/s3.jsonl");
    touch(e, "-proj-a/s2.jsonl.zst");
    touch(e, "-proj-a/s1.jsonl");
    touch(e, "-proj-a/agent-top.jsonl");
    touch(e, "-proj-a/notes.txt");
    touch(e, "-proj-a/s1/subagents/agent-x.jsonl");
    touch(e, "-proj-a/s1/subagents/agent-x.meta.json");
    touch(e, "-proj-a/s1/subagents/helper.jsonl");
    touch(e, "-proj-a/s1/subagents/workflows/wf1/agent-y.jsonl.zst");
    touch(e, "-proj-a/s1/tool-results/agent-z.jsonl");
    touch(e, "-proj-a/s1/agent-w.jsonl");
    touch(e, "stray.jsonl");

    assert_int_equal(pd_provider_claude.discover(e->root, e->arena, collect, &c, &err), PD_OK);
    assert_int_equal(c.n, 5);
    for (size_t i = 0; i < 5; i++) {
        char *want = ct_join(e->root, expected[i]);
        assert_string_equal(c.paths[i], want);
        assert_string_equal(c.roots[i], e->root);
        free(want);
    }
    assert_string_equal(c.hints[0], "-proj-a");
    assert_string_equal(c.hints[1], "-proj-a");
    assert_string_equal(c.hints[4], "-proj-b");
}

/* Projects stream one at a time, yet sources still come in byte order of their full paths. */
static void test_discover_path_order(void **state)
{
    env *e = *state;
    static const char *const expected[] = {"p-x/s.jsonl", "p/s.jsonl", "p0/s.jsonl"};
    collected c = {0};
    pd_err err = {0};

    touch(e, "p0/s.jsonl");
    touch(e, "p/s.jsonl");
    touch(e, "p-x/s.jsonl");

    assert_int_equal(pd_provider_claude.discover(e->root, e->arena, collect, &c, &err), PD_OK);
    assert_int_equal(c.n, 3);
    for (size_t i = 0; i < 3; i++) {
        char *want = ct_join(e->root, expected[i]);
        assert_string_equal(c.paths[i], want);
        free(want);
    }
}

/* Links to transcripts and to project directories are followed; links to nothing are skipped. */
static void test_discover_follows_links(void **state)
{
    env *e = *state;
    collected c = {0};
    pd_err err = {0};
    char *outside = ct_join(e->root, "elsewhere");
    char *real_file = ct_join(e->root, "elsewhere/real.jsonl");
    char *projects = ct_join(e->root, "projects");
    char *file_link = ct_join(e->root, "projects/-proj-a/linked.jsonl");
    char *dead_link = ct_join(e->root, "projects/-proj-a/dead.jsonl");
    char *dir_link = ct_join(e->root, "projects/-proj-linked");

    touch(e, "elsewhere/real.jsonl");
    touch(e, "projects/-proj-a/s1.jsonl");
    assert_int_equal(symlink(real_file, file_link), 0);
    assert_int_equal(symlink("no-such-target.jsonl", dead_link), 0);
    assert_int_equal(symlink(outside, dir_link), 0);

    assert_int_equal(pd_provider_claude.discover(projects, e->arena, collect, &c, &err), PD_OK);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.paths[0], file_link);
    assert_true(strstr(c.paths[1], "/projects/-proj-a/s1.jsonl") != NULL);
    assert_true(strstr(c.paths[2], "/projects/-proj-linked/real.jsonl") != NULL);
    free(outside);
    free(real_file);
    free(projects);
    free(file_link);
    free(dead_link);
    free(dir_link);
}

static void test_discover_missing_root(void **state)
{
    env *e = *state;
    char *missing = ct_join(e->root, "nope");
    collected c = {0};
    pd_err err = {0};

    assert_int_equal(pd_provider_claude.discover(missing, e->arena, collect, &c, &err), PD_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(err.code, PD_OK);
    free(missing);
}

static void test_discover_trailing_slash_and_stop(void **state)
{
    env *e = *state;
    char root_slash[600];
    char *want;
    collected c = {.stop_after = 1};
    pd_err err = {0};

    touch(e, "-p/a.jsonl");
    touch(e, "-p/b.jsonl");
    snprintf(root_slash, sizeof root_slash, "%s/", e->root);
    assert_int_equal(pd_provider_claude.discover(root_slash, e->arena, collect, &c, &err),
                     PD_ECANCELED);
    assert_int_equal(c.n, 1);
    want = ct_join(e->root, "-p/a.jsonl");
    assert_string_equal(c.paths[0], want);
    free(want);
}

static void test_provider_identity(void **state)
{
    (void)state;
    assert_string_equal(pd_provider_claude.name, "claude");
    assert_true(pd_provider_claude.file_based);
    assert_true(pd_provider_claude.incremental);
    assert_int_equal(pd_provider_claude.live_mtime_rule, PD_LIVE_MTIME_FLOORED);
    assert_null(pd_provider_claude.open_shared);
    assert_null(pd_provider_claude.effective_mtime);
    assert_ptr_equal(pd_provider_find("claude"), &pd_provider_claude);
}

/* ---- project names --------------------------------------------------------------- */

static void test_project_from_dir_name(void **state)
{
    env *e = *state;
    static const char *const cases[][2] = {
        {"-Users-alice-code-my-app", "my_app"},
        {"-home-bob-projects-api-server", "api_server"},
        {"-Users-alice-Documents-thing", "thing"},
        {"-home-user", "user"},
        {"-tmp", "_tmp"},
        {"plain-name", "plain_name"},
        {"-Users-alice-code", "code"},
        {"-Users-x-Code-Proj", "Proj"},
        {"-src-work-app", "work_app"},
        {"-var-tmp-", "_var_tmp_"},
        {"", ""},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = claude_project_from_dir_name(e->arena, cases[i][0]);
        assert_non_null(got);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("dir name \"%s\": expected \"%s\", got \"%s\"", cases[i][0], cases[i][1], got);
    }
}

static void test_project_from_cwd_lexical(void **state)
{
    env *e = *state;
    static const char *const cases[][3] = {
        {"/Users/alice/code/my-api", "", "my_api"},
        {"/nonexistent-root/.superset/worktrees/proj-one/branch", "", "proj_one"},
        {"/nonexistent-root/conductor/workspaces/app/br/sub", "", "app"},
        {"/nonexistent-root/.codex/worktrees/abc123/repo-name/src", "", "repo_name"},
        {"/nonexistent-root/.roborev/ci-worktrees/svc/job-1", "", "svc"},
        {"/nonexistent-root/worktrees/github.com/owner/repo-x/wt", "", "repo_x"},
        {"/nonexistent-root/dir/my-app-feature-login", "feature/login", "my_app"},
        {"/nonexistent-root/dir/my-app_Fix-Bug", "refs/heads/fix-bug", "my_app"},
        {"/nonexistent-root/dir/my-app-main", "main", "my_app_main"},
        {"/nonexistent-root/dir/feature-login", "feature/login", "feature_login"},
        {"/", "", ""},
        {"C:\\Users\\bob\\proj", "", "proj"},
        {".", "", ""},
        {"", "", ""},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = claude_project_from_cwd(e->arena, cases[i][0], cases[i][1]);
        assert_non_null(got);
        if (strcmp(got, cases[i][2]) != 0)
            fail_msg("cwd \"%s\" (branch \"%s\"): expected \"%s\", got \"%s\"", cases[i][0],
                     cases[i][1], cases[i][2], got);
    }
}

static void test_project_from_git_checkout(void **state)
{
    env *e = *state;
    char *cwd = ct_join(e->root, "repos/shop/sub/dir");
    char *missing = ct_join(e->root, "repos/shop/missing/deeper");
    char *got;

    make_dir(e, "repos/shop/.git");
    make_dir(e, "repos/shop/sub/dir");
    got = claude_project_from_cwd(e->arena, cwd, "feature/x");
    assert_string_equal(got, "shop");
    got = claude_project_from_cwd(e->arena, missing, "");
    assert_string_equal(got, "shop");
    free(cwd);
    free(missing);
}

/*
 * Inside a cache window a working directory keeps its first result, so a
 * .git made later is not seen. After pd_project_cache_end() it is.
 */
static void test_project_cache_window(void **state)
{
    env *e = *state;
    char *cwd = ct_join(e->root, "late/app-x");

    make_dir(e, "late/app-x");
    pd_project_cache_begin();
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "app_x");
    make_dir(e, "late/.git");
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "app_x");

    pd_project_cache_end();
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "late");

    /* A new window starts empty. */
    pd_project_cache_begin();
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "late");
    pd_project_cache_end();
    free(cwd);
}

static void test_project_from_linked_worktree(void **state)
{
    env *e = *state;
    char *git_file = ct_join(e->root, "wt-feature/.git");
    char *commondir = ct_join(e->root, "main-repo/.git/worktrees/wt1/commondir");
    char *cwd = ct_join(e->root, "wt-feature");
    char text[1024];

    make_dir(e, "main-repo/.git/worktrees/wt1");
    ct_write(commondir, "../..\n");
    snprintf(text, sizeof text, "gitdir: %s/main-repo/.git/worktrees/wt1\n", e->root);
    ct_write(git_file, text);
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "main_repo");

    /* Without commondir the gitdir path itself names the main repository. */
    remove(commondir);
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "main_repo");
    free(git_file);
    free(commondir);
    free(cwd);
}

static void test_project_from_bare_repository(void **state)
{
    env *e = *state;
    char *git_file = ct_join(e->root, "w-dir/.git");
    char *commondir = ct_join(e->root, "store.git/worktrees/w/commondir");
    char *config = ct_join(e->root, "store.git/config");
    char *cwd = ct_join(e->root, "w-dir");
    char text[1024];

    make_dir(e, "store.git/worktrees/w");
    ct_write(commondir, "../..\n");
    ct_write(config, "[core]\n\trepositoryformatversion = 0\n\tbare = true\n");
    snprintf(text, sizeof text, "gitdir: %s/store.git/worktrees/w\n", e->root);
    ct_write(git_file, text);
    assert_string_equal(claude_project_from_cwd(e->arena, cwd, ""), "store");
    free(git_file);
    free(commondir);
    free(config);
    free(cwd);
}

static void test_project_of_parsed_session(void **state)
{
    env *e = *state;
    char *path = ct_join(e->root, "-Users-alice-code-my-app/s.jsonl");
    const char *const with_cwd[] = {"{'type':'user','cwd':'/Users/alice/code/"
                                    "other-api','message':{'role':'user','content':'x'}}",
                                    NULL};
    const char *const without_cwd[] = {"{'type':'user','message':{'role':'user','content':'x'}}",
                                       NULL};
    ct_parse p;

    ct_write_lines(path, with_cwd);
    assert_int_equal(ct_parse_file(&p, path, "-Users-alice-code-my-app", NULL), PD_OK);
    assert_string_equal(p.res.sessions[0].project, "other_api");
    ct_parse_free(&p);

    /* Without a cwd the directory name decides, also when discovery gave no hint. */
    ct_write_lines(path, without_cwd);
    assert_int_equal(ct_parse_file(&p, path, NULL, NULL), PD_OK);
    assert_string_equal(p.res.sessions[0].project, "my_app");
    ct_parse_free(&p);
    free(path);
}

/* ---- taxonomy ------------------------------------------------------------------------ */

static void test_tool_categories(void **state)
{
    static const char *const cases[][2] = {
        {"Read", "Read"},          {"Edit", "Edit"},
        {"Write", "Write"},        {"NotebookEdit", "Write"},
        {"Bash", "Bash"},          {"Grep", "Grep"},
        {"Glob", "Glob"},          {"Task", "Task"},
        {"Agent", "Task"},         {"Skill", "Tool"},
        {"TodoWrite", "Tool"},     {"WebSearch", "Tool"},
        {"WebFetch", "Tool"},      {"AskUserQuestion", "Tool"},
        {"exec_command", "Bash"},  {"shell_command", "Bash"},
        {"apply_patch", "Edit"},   {"spawn_agent", "Task"},
        {"read_file", "Read"},     {"mcp__zen__spawn_subagent", "Task"},
        {"ExitPlanMode", "Other"}, {"Mystery", "Other"},
        {"read", "Read"},          {"", "Other"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strcmp(pd_tool_category(cases[i][0]), cases[i][1]) != 0)
            fail_msg("tool \"%s\": expected %s, got %s", cases[i][0], cases[i][1],
                     pd_tool_category(cases[i][0]));
    }
    assert_string_equal(pd_tool_category(NULL), "Other");
}

/* ---- skill inference ------------------------------------------------------------------------ */

static char *infer(env *e, pd_json_parser *scratch, const char *tool, const char *input)
{
    char *json = ct_unquote(input);
    char *out = NULL;

    assert_int_equal(
        pd_skill_name_infer_text(e->arena, scratch, tool, json, strlen(json), NULL, &out), PD_OK);
    free(json);
    return out;
}

static void test_skill_inference(void **state)
{
    env *e = *state;
    pd_json_parser *scratch = pd_json_parser_new();
    char *named = ct_join(e->root, "skills/fancy/SKILL.md");
    char input[1024];
    char *got;

    assert_non_null(scratch);
    ct_write(named, "\xEF\xBB\xBF---\nname: 'Fancy Skill'\n---\n");

    snprintf(input, sizeof input, "{'file_path':'%s'}", named);
    assert_string_equal(infer(e, scratch, "Read", input), "Fancy Skill");
    assert_string_equal(infer(e, scratch, "Read", "{'file_path':'/nowhere/skills/lint/SKILL.md'}"),
                        "lint");
    assert_string_equal(
        infer(e, scratch, "read_file", "{'paths':['x.md','/nowhere/s/deep/SKILL.md']}"), "deep");
    assert_string_equal(
        infer(e, scratch, "READFILE", "{'path':'rel/dir/SKILL.md','cwd':'/nowhere/base'}"), "dir");
    assert_null(infer(e, scratch, "Read", "{'file_path':'SKILL.md'}"));
    assert_null(infer(e, scratch, "Read", "{'file_path':'skills/*/SKILL.md'}"));
    assert_null(infer(e, scratch, "Write", "{'file_path':'/nowhere/skills/lint/SKILL.md'}"));

    assert_string_equal(infer(e, scratch, "exec_command",
                              "{'cmd':'sed -n 1,5p skills/foo/SKILL.md','workdir':'/nowhere/w'}"),
                        "foo");
    assert_null(infer(e, scratch, "exec_command", "{'cmd':'sed -i s/a/b/ skills/foo/SKILL.md'}"));
    assert_string_equal(infer(e, scratch, "Bash", "{'command':'rg -n name skills/bar/SKILL.md'}"),
                        "bar");
    assert_string_equal(
        infer(e, scratch, "bash", "{'command':'grep -e pat -A 2 skills/baz/SKILL.md'}"), "baz");
    assert_null(infer(e, scratch, "bash", "{'command':'grep skills/only-pattern/SKILL.md'}"));
    assert_string_equal(
        infer(e, scratch, "shell", "{'command':'cat skills/a/SKILL.md > out/SKILL.md'}"), "a");
    assert_string_equal(
        infer(e, scratch, "shell", "{'command':'ls && head -3 \\'skills/q q/SKILL.md\\''}"), "q q");
    assert_null(infer(e, scratch, "shell", "{'command':'echo skills/x/SKILL.md'}"));
    assert_null(infer(e, scratch, "shell", "{'command':'cat notes.md'}"));

    /* Plain text input: the text is the command, and ~ is the home directory. */
    snprintf(input, sizeof input, "cat %s", named);
    got = NULL;
    assert_int_equal(pd_skill_name_infer_text(e->arena, scratch, "shell_command", input,
                                              strlen(input), NULL, &got),
                     PD_OK);
    assert_string_equal(got, "Fancy Skill");
    assert_int_equal(pd_skill_name_infer_text(e->arena, scratch, "shell_command",
                                              "cat ~/kit/SKILL.md", 18, NULL, &got),
                     PD_OK);
    assert_string_equal(got, "kit");

    pd_json_parser_free(scratch);
    free(named);
}

/* ---- helpers ----------------------------------------------------------------------------------
 */

static void test_clean_path(void **state)
{
    env *e = *state;
    static const char *const cases[][2] = {
        {"/a/b/../c", "/a/c"},
        {"/a//b/./c/", "/a/b/c"},
        {"/../x", "/x"},
        {"a/../..", ".."},
        {"../a/..", ".."},
        {"", "."},
        {"/", "/"},
        {"./", "."},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(pd_path_clean(e->arena, cases[i][0], strlen(cases[i][0])),
                            cases[i][1]);
}

static void test_persisted_path_in_result(void **state)
{
    env *e = *state;
    const char *text =
        "<persisted-output>\nOutput too large. Full output saved to:\n   /a/b.txt  \nPreview\n";

    assert_string_equal(claude_persisted_path_in(e->arena, text, strlen(text)), "/a/b.txt");
    assert_null(claude_persisted_path_in(e->arena, "no marker", 9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discover_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_follows_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_path_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_missing_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discover_trailing_slash_and_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_provider_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_from_dir_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_from_cwd_lexical, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_from_git_checkout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_cache_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_from_linked_worktree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_from_bare_repository, setup, teardown),
        cmocka_unit_test_setup_teardown(test_project_of_parsed_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_categories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_skill_inference, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clean_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persisted_path_in_result, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
