/*
 * gen_test.c -- tests of the corpus generator and drift planter
 * (gen_corpus.h): determinism, layout, valid lines, sizes, huge lines, and
 * a sync then diff through the parsediff binary named by PD_BINARY.
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

#include "bench/floor.h"
#include "bench/gen_corpus.h"
#include "bench/harness_proc.h"
#include "common/json.h"

static char tmp_root[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/pd-gen-test-XXXXXX");
    return mkdtemp(tmp_root) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    return system(cmd) == 0 ? 0 : -1;
}

/* A small profile so every test writes a few megabytes at most. */
static pd_gen_profile tiny_profile(int64_t n_sessions)
{
    pd_gen_profile p = *pd_gen_profile_find("small");
    p.n_sessions = n_sessions;
    p.median_bytes = 4000;
    p.p99_bytes = 40000;
    p.max_bytes = 200000;
    return p;
}

static void generate(const char *name, pd_gen_profile profile, uint64_t seed, unsigned threads,
                     char *dir, size_t cap, pd_gen_stats *st)
{
    snprintf(dir, cap, "%s/%s", tmp_root, name);
    pd_gen_config cfg;
    pd_gen_config_init(&cfg, &profile, dir);
    cfg.seed = seed;
    cfg.n_threads = threads;
    pd_err err = {0};
    int rc = pd_gen_write_corpus(&cfg, st, &err);
    if (rc != PD_OK)
        fail_msg("pd_gen_write_corpus: %s", err.msg);
}

static pd_floor_files list_corpus(const char *dir)
{
    char claude[400], codex[400];
    snprintf(claude, sizeof claude, "%s/claude", dir);
    snprintf(codex, sizeof codex, "%s/codex/sessions", dir);
    const char *roots[] = {claude, codex};
    pd_floor_files files;
    pd_err err = {0};
    assert_int_equal(pd_floor_walk(roots, 2, &files, &err), PD_OK);
    return files;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    data[size] = '\0';
    *len = (size_t)size;
    return data;
}

static void gen_same_seed_writes_same_bytes(void **state)
{
    (void)state;
    char a[300], b[300], c[300];
    pd_gen_stats sa, sb, sc;
    generate("seed-a", tiny_profile(60), 7, 1, a, sizeof a, &sa);
    generate("seed-b", tiny_profile(60), 7, 3, b, sizeof b, &sb);
    generate("seed-c", tiny_profile(60), 8, 2, c, sizeof c, &sc);
    assert_int_equal(sa.total_bytes, sb.total_bytes);
    assert_int_not_equal(sa.total_bytes, sc.total_bytes);

    pd_floor_files fa = list_corpus(a), fb = list_corpus(b);
    assert_int_equal(fa.n, 60);
    assert_int_equal(fb.n, 60);
    for (size_t i = 0; i < fa.n; i++) {
        /* Same path below the corpus root, same bytes. */
        assert_string_equal(fa.paths[i] + strlen(a), fb.paths[i] + strlen(b));
        size_t la, lb;
        char *da = slurp(fa.paths[i], &la);
        char *db = slurp(fb.paths[i], &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(da, db, la);
        free(da);
        free(db);
    }
    pd_floor_files_free(&fa);
    pd_floor_files_free(&fb);
}

static void gen_layout_matches_agent_formats(void **state)
{
    (void)state;
    char dir[300];
    pd_gen_stats st;
    generate("layout", tiny_profile(80), 3, 2, dir, sizeof dir, &st);
    assert_int_equal(st.n_files, 80);
    assert_int_equal(st.n_claude + st.n_codex, 80);
    assert_true(st.n_claude > 0);
    assert_true(st.n_codex > 0);

    pd_floor_files files = list_corpus(dir);
    assert_int_equal(files.n, 80);
    int64_t codex = 0;
    for (size_t i = 0; i < files.n; i++) {
        const char *rel = files.paths[i] + strlen(dir);
        if (strncmp(rel, "/codex/sessions/", 16) == 0) {
            codex++;
            /* /codex/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDT..: the date appears twice. */
            const char *date_dir = rel + 16;
            const char *name = strstr(rel, "/rollout-");
            assert_non_null(name);
            assert_memory_equal(date_dir, name + 9, 4);
            assert_memory_equal(date_dir + 5, name + 14, 2);
            assert_memory_equal(date_dir + 8, name + 17, 2);
        } else {
            assert_int_equal(strncmp(rel, "/claude/-home-user-src-project-", 31), 0);
        }
    }
    assert_int_equal(codex, st.n_codex);
    pd_floor_files_free(&files);

    char index[400], summary[400];
    struct stat sb;
    snprintf(index, sizeof index, "%s/codex/session_index.jsonl", dir);
    snprintf(summary, sizeof summary, "%s/parsediff-gen.json", dir);
    assert_int_equal(stat(index, &sb), 0);
    assert_int_equal(stat(summary, &sb), 0);
}

/* Fails when the uuid of root repeats one of the file's earlier lines, kept in uuids. */
static void check_uuid_unique(const char *path, pd_json root, char ***uuids, size_t *n)
{
    size_t len;
    const char *uuid = pd_json_str_or_empty(pd_json_get(root, "uuid"), &len);
    if (len == 0)
        return;
    for (size_t k = 0; k < *n; k++) {
        if (strlen((*uuids)[k]) == len && memcmp((*uuids)[k], uuid, len) == 0)
            fail_msg("%s: uuid %.*s appears twice", path, (int)len, uuid);
    }
    *uuids = realloc(*uuids, (*n + 1) * sizeof **uuids);
    assert_non_null(*uuids);
    (*uuids)[*n] = strndup(uuid, len);
    assert_non_null((*uuids)[*n]);
    (*n)++;
}

/*
 * Checks every line of every file parses and carries the agent's envelope
 * keys, and that no uuid appears twice in a Claude transcript.
 */
static void check_lines(const char *dir, int64_t *n_lines)
{
    pd_floor_files files = list_corpus(dir);
    pd_json_parser *p = pd_json_parser_new();
    assert_non_null(p);
    for (size_t i = 0; i < files.n; i++) {
        bool is_codex = strstr(files.paths[i], "/codex/") != NULL;
        char **uuids = NULL;
        size_t n_uuids = 0;
        size_t len;
        char *data = slurp(files.paths[i], &len);
        assert_true(len > 0);
        assert_int_equal(data[len - 1], '\n');
        char *line = data;
        while (line < data + len) {
            char *nl = memchr(line, '\n', (size_t)(data + len - line));
            assert_non_null(nl);
            pd_json root;
            if (pd_json_parse(p, line, (size_t)(nl - line), &root) != PD_OK)
                fail_msg("%s: invalid line: %.120s", files.paths[i], line);
            assert_int_equal(pd_json_type_of(pd_json_get(root, "type")), PD_JSON_STRING);
            if (is_codex) {
                assert_int_equal(pd_json_type_of(pd_json_get(root, "timestamp")), PD_JSON_STRING);
                assert_int_equal(pd_json_type_of(pd_json_get(root, "payload")), PD_JSON_OBJECT);
            } else {
                check_uuid_unique(files.paths[i], root, &uuids, &n_uuids);
            }
            (*n_lines)++;
            line = nl + 1;
        }
        for (size_t k = 0; k < n_uuids; k++)
            free(uuids[k]);
        free(uuids);
        free(data);
    }
    pd_json_parser_free(p);
    pd_floor_files_free(&files);
}

static void gen_every_line_is_valid_json(void **state)
{
    (void)state;
    char dir[300];
    pd_gen_stats st;
    generate("lines", tiny_profile(50), 11, 2, dir, sizeof dir, &st);
    int64_t n_lines = 0;
    check_lines(dir, &n_lines);
    assert_true(n_lines > 50 * 3);
}

static void gen_sizes_follow_the_profile(void **state)
{
    (void)state;
    char dir[300];
    pd_gen_stats st;
    generate("sizes", tiny_profile(1000), 5, 2, dir, sizeof dir, &st);
    /* Median 4000 and 99th percentile 40000 requested; a turn can overshoot a target. */
    assert_in_range(st.size_p50, 3000, 6000);
    assert_in_range(st.size_p99, 25000, 80000);
    assert_true(st.size_max <= 200000 + 20000);
    assert_int_equal(st.n_lines_over_10mb, 0);
}

static void gen_huge_line_lands_in_one_session(void **state)
{
    (void)state;
    char dir[300];
    pd_gen_stats st;
    pd_gen_profile p = tiny_profile(3);
    p.n_huge_lines = 1;
    generate("huge", p, 1, 1, dir, sizeof dir, &st);
    assert_int_equal(st.n_lines_over_10mb, 1);
    assert_true(st.longest_line > 10000000);
    assert_true(st.longest_line < 12000000);
}

static void gen_rejects_a_directory_with_a_corpus(void **state)
{
    (void)state;
    char dir[300];
    pd_gen_stats st;
    generate("twice", tiny_profile(2), 1, 1, dir, sizeof dir, &st);
    pd_gen_profile p = tiny_profile(2);
    pd_gen_config cfg;
    pd_gen_config_init(&cfg, &p, dir);
    pd_err err = {0};
    assert_int_equal(pd_gen_write_corpus(&cfg, &st, &err), PD_EINVAL);
    assert_non_null(strstr(err.msg, "already exists"));
}

/* Syncs the corpus in dir into dir/archive.db with parsediff sync and sets db to that path. */
static void sync_corpus(const char *binary, const char *dir, char *db, size_t cap)
{
    char claude[400], codex[400];
    snprintf(db, cap, "%s/archive.db", dir);
    snprintf(claude, sizeof claude, "claude=%s/claude", dir);
    snprintf(codex, sizeof codex, "codex=%s/codex/sessions", dir);
    char *args[] = {(char *)binary, "sync", "--db",       db,      "--source", claude,
                    "--source",     codex,  "--progress", "never", NULL};
    pd_proc_result res;
    pd_err err = {0};
    assert_int_equal(pd_proc_run(args, NULL, "/dev/null", &res, &err), PD_OK);
    assert_int_equal(res.exit_code, 0);
}

/* Runs parsediff diff --json on the corpus and reads three totals. */
static void diff_totals(const char *binary, const char *dir, const char *db, int64_t *identical,
                        int64_t *changed, int64_t *parse_errors, int64_t *examined)
{
    char claude[400], codex[400], out[400];
    snprintf(claude, sizeof claude, "claude=%s/claude", dir);
    snprintf(codex, sizeof codex, "codex=%s/codex/sessions", dir);
    snprintf(out, sizeof out, "%s/diff.json", tmp_root);
    char *args[] = {(char *)binary, "diff", "--db", (char *)db, "--source", claude, "--source",
                    codex, "--json", "--progress", "never", NULL};
    pd_proc_result res;
    pd_err err = {0};
    assert_int_equal(pd_proc_run(args, out, NULL, &res, &err), PD_OK);
    assert_int_equal(res.exit_code, 0);
    size_t len;
    char *text = slurp(out, &len);
    pd_json_parser *p = pd_json_parser_new();
    pd_json root;
    assert_int_equal(pd_json_parse(p, text, len, &root), PD_OK);
    pd_json totals = pd_json_get(root, "totals");
    *identical = pd_json_int(pd_json_get(totals, "identical"));
    *changed = pd_json_int(pd_json_get(totals, "changed"));
    *parse_errors = pd_json_int(pd_json_get(totals, "parse_errors"));
    *examined = pd_json_int(pd_json_get(totals, "examined"));
    pd_json_parser_free(p);
    free(text);
}

/* An output file that cannot be opened is named as such, not blamed on the binary. */
static void proc_run_names_unopenable_output(void **state)
{
    (void)state;
    char out[400];
    snprintf(out, sizeof out, "%s/no-such-dir/out.json", tmp_root);
    char *args[] = {"true", NULL};
    pd_proc_result res;
    pd_err err = {0};
    assert_int_equal(pd_proc_run(args, out, NULL, &res, &err), PD_EIO);
    assert_non_null(strstr(err.msg, out));
    assert_non_null(strstr(err.msg, "stdout"));
    assert_null(strstr(err.msg, "cannot start"));

    memset(&err, 0, sizeof err);
    assert_int_equal(pd_proc_run(args, NULL, out, &res, &err), PD_EIO);
    assert_non_null(strstr(err.msg, "stderr"));

    /* With both outputs writable the child runs and its exit status is read. */
    snprintf(out, sizeof out, "%s/true.out", tmp_root);
    assert_int_equal(pd_proc_run(args, out, out, &res, &err), PD_OK);
    assert_int_equal(res.exit_code, 0);
}

static void proc_executable_checks_paths_and_path(void **state)
{
    (void)state;
    assert_true(pd_proc_executable("/bin/sh"));
    assert_true(pd_proc_executable("sh"));
    assert_false(pd_proc_executable("/nonexistent/parsediff"));
    assert_false(pd_proc_executable("parsediff-no-such-binary"));
    /* A directory has the execute bit but cannot be started. */
    assert_false(pd_proc_executable(tmp_root));

    char plain[400];
    snprintf(plain, sizeof plain, "%s/not-executable", tmp_root);
    FILE *f = fopen(plain, "w");
    assert_non_null(f);
    fclose(f);
    assert_false(pd_proc_executable(plain));
}

/* Runs parsediff-bench with extra arguments. Returns its exit code, and its stderr in err_text. */
static int run_bench(const char *dir, char *const extra[], char **err_text)
{
    const char *bench = getenv("PD_BENCH_BINARY");
    char corpus_arg[400], err_path[400];
    snprintf(corpus_arg, sizeof corpus_arg, "%s", dir);
    snprintf(err_path, sizeof err_path, "%s/bench.err", tmp_root);
    char *args[24] = {(char *)bench, "--corpus",   corpus_arg,      "--no-peer",
                      "--no-phases", "--no-floor", "--max-threads", "1"};
    size_t n = 8;
    for (size_t i = 0; extra[i] != NULL && n < 23; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    pd_proc_result res;
    pd_err err = {0};
    assert_int_equal(pd_proc_run(args, "/dev/null", err_path, &res, &err), PD_OK);
    size_t len;
    *err_text = slurp(err_path, &len);
    return res.exit_code;
}

/* The harness creates a nested --work-dir and names a missing binary before measuring. */
static void bench_checks_work_dir_and_binary(void **state)
{
    (void)state;
    const char *binary = getenv("PD_BINARY");
    const char *bench = getenv("PD_BENCH_BINARY");
    if (binary == NULL || access(binary, X_OK) != 0 || bench == NULL || access(bench, X_OK) != 0)
        skip();
    char dir[300], db[400];
    pd_gen_stats st;
    generate("benched", tiny_profile(6), 3, 1, dir, sizeof dir, &st);
    sync_corpus(binary, dir, db, sizeof db);

    char work_dir[400];
    snprintf(work_dir, sizeof work_dir, "%s/work/nested/deeper", tmp_root);
    char *text = NULL;
    char *nested[] = {"--parsediff", (char *)binary, "--work-dir", work_dir, NULL};
    assert_int_equal(run_bench(dir, nested, &text), 0);
    free(text);
    struct stat sb;
    assert_int_equal(stat(work_dir, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));

    char *missing[] = {"--parsediff", "/nonexistent/parsediff", NULL};
    assert_int_equal(run_bench(dir, missing, &text), 3);
    assert_non_null(strstr(text, "no executable parsediff at /nonexistent/parsediff"));
    assert_non_null(strstr(text, "--parsediff"));
    free(text);
}

/*
 * The harness keeps symbolic links in the corpus path, as the CLI does, so
 * an archive synced through a link is compared. A diff that compares none
 * of the stored sessions fails its row.
 */
static void bench_keeps_linked_corpus_path(void **state)
{
    (void)state;
    const char *binary = getenv("PD_BINARY");
    const char *bench = getenv("PD_BENCH_BINARY");
    if (binary == NULL || access(binary, X_OK) != 0 || bench == NULL || access(bench, X_OK) != 0)
        skip();
    char real_dir[300], link_dir[300], db[400];
    pd_gen_stats st;
    generate("linked-real", tiny_profile(5), 4, 1, real_dir, sizeof real_dir, &st);
    snprintf(link_dir, sizeof link_dir, "%s/linked", tmp_root);
    assert_int_equal(symlink(real_dir, link_dir), 0);
    sync_corpus(binary, link_dir, db, sizeof db);

    char *text = NULL;
    char *extra[] = {"--parsediff", (char *)binary, NULL};
    assert_int_equal(run_bench(link_dir, extra, &text), 0);
    free(text);
    assert_int_equal(run_bench(real_dir, extra, &text), 1);
    free(text);
}

static void gen_corpus_syncs_and_diffs_clean_then_drifts(void **state)
{
    (void)state;
    const char *binary = getenv("PD_BINARY");
    if (binary == NULL || access(binary, X_OK) != 0)
        skip();
    char dir[300], db[400];
    pd_gen_stats st;
    generate("synced", tiny_profile(40), 9, 2, dir, sizeof dir, &st);
    sync_corpus(binary, dir, db, sizeof db);

    int64_t identical, changed, parse_errors, examined;
    diff_totals(binary, dir, db, &identical, &changed, &parse_errors, &examined);
    assert_int_equal(examined, 40);
    assert_int_equal(identical, 40);
    assert_int_equal(changed, 0);
    assert_int_equal(parse_errors, 0);

    pd_gen_drift_config dc = {
        .corpus_dir = dir, .db_path = db, .seed = 4, .changed_share = 0.4, .appended_share = 0.5};
    pd_gen_drift_stats ds;
    pd_err err = {0};
    assert_int_equal(pd_gen_plant_drift(&dc, &ds, &err), PD_OK);
    int64_t n_changed = ds.changed_first_message + ds.changed_content + ds.changed_model;
    assert_int_equal(ds.sessions_seen, 40);
    assert_true(n_changed > 0);
    assert_true(ds.files_appended > 0);
    assert_true(ds.bytes_appended > 0);

    /* Appended turns are whole valid lines. */
    int64_t n_lines = 0;
    check_lines(dir, &n_lines);

    diff_totals(binary, dir, db, &identical, &changed, &parse_errors, &examined);
    assert_int_equal(parse_errors, 0);
    /* The changed and the appended sessions are apart, so each change shows as changed. */
    assert_int_equal(changed, n_changed);
    assert_int_equal(identical, 40 - n_changed - ds.files_appended);
}

/*
 * The same corpus in two directories drifts alike, and a second drift
 * appends a turn of its own rather than repeating the first, so that a sync
 * after both leaves every session identical.
 */
static void drift_ignores_location_and_repeats(void **state)
{
    (void)state;
    const char *binary = getenv("PD_BINARY");
    if (binary == NULL || access(binary, X_OK) != 0)
        skip();
    char dir_a[300], db_a[400], dir_b[300], db_b[400];
    pd_gen_stats st;
    generate("drift-a", tiny_profile(30), 5, 1, dir_a, sizeof dir_a, &st);
    generate("drift-b", tiny_profile(30), 5, 1, dir_b, sizeof dir_b, &st);
    sync_corpus(binary, dir_a, db_a, sizeof db_a);
    sync_corpus(binary, dir_b, db_b, sizeof db_b);

    pd_gen_drift_config dc = {.seed = 6, .changed_share = 0.0, .appended_share = 0.5};
    pd_gen_drift_stats first_a, first_b, second_a;
    pd_err err = {0};
    dc.corpus_dir = dir_a;
    dc.db_path = db_a;
    assert_int_equal(pd_gen_plant_drift(&dc, &first_a, &err), PD_OK);
    dc.corpus_dir = dir_b;
    dc.db_path = db_b;
    assert_int_equal(pd_gen_plant_drift(&dc, &first_b, &err), PD_OK);
    assert_true(first_a.files_appended > 0);
    assert_int_equal(first_a.files_appended, first_b.files_appended);
    assert_int_equal(first_a.bytes_appended, first_b.bytes_appended);

    dc.corpus_dir = dir_a;
    dc.db_path = db_a;
    assert_int_equal(pd_gen_plant_drift(&dc, &second_a, &err), PD_OK);
    assert_int_equal(second_a.files_appended, first_a.files_appended);
    int64_t n_lines = 0;
    check_lines(dir_a, &n_lines);

    sync_corpus(binary, dir_a, db_a, sizeof db_a);
    int64_t identical, changed, parse_errors, examined;
    diff_totals(binary, dir_a, db_a, &identical, &changed, &parse_errors, &examined);
    assert_int_equal(examined, 30);
    assert_int_equal(identical, 30);
    assert_int_equal(changed, 0);
    assert_int_equal(parse_errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gen_same_seed_writes_same_bytes),
        cmocka_unit_test(gen_layout_matches_agent_formats),
        cmocka_unit_test(gen_every_line_is_valid_json),
        cmocka_unit_test(gen_sizes_follow_the_profile),
        cmocka_unit_test(gen_huge_line_lands_in_one_session),
        cmocka_unit_test(gen_rejects_a_directory_with_a_corpus),
        cmocka_unit_test(proc_run_names_unopenable_output),
        cmocka_unit_test(proc_executable_checks_paths_and_path),
        cmocka_unit_test(bench_checks_work_dir_and_binary),
        cmocka_unit_test(bench_keeps_linked_corpus_path),
        cmocka_unit_test(gen_corpus_syncs_and_diffs_clean_then_drifts),
        cmocka_unit_test(drift_ignores_location_and_repeats),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
