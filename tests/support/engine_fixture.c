/*
 * engine_fixture.c -- see engine_fixture.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/support/engine_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "report/report.h"

size_t fx_each_file(const char *dir, const char *suffix, void (*fn)(const char *path, void *ctx),
                    void *ctx)
{
    DIR *d = opendir(dir);
    struct dirent *entry;
    size_t suffix_len = strlen(suffix), files = 0;

    if (d == NULL)
        fail_msg("cannot open directory %s", dir);
    while ((entry = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        size_t name_len = strlen(entry->d_name);

        if (entry->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        if (stat(path, &st) != 0)
            fail_msg("cannot stat %s", path);
        if (S_ISDIR(st.st_mode)) {
            files += fx_each_file(path, suffix, fn, ctx);
        } else if (S_ISREG(st.st_mode) && name_len >= suffix_len &&
                   strcmp(entry->d_name + name_len - suffix_len, suffix) == 0) {
            fn(path, ctx);
            files++;
        }
    }
    closedir(d);
    return files;
}

char *fx_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        fail_msg("out of memory formatting a string");
    return s;
}

static void mkdir_p(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                fail_msg("mkdir %s: %s", buf, strerror(errno));
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", buf, strerror(errno));
}

static void mkdir_parent(const char *path)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", path);
    char *slash = strrchr(buf, '/');
    if (slash != NULL && slash != buf) {
        *slash = '\0';
        mkdir_p(buf);
    }
}

void fx_env_init(fx_env *env)
{
    memset(env, 0, sizeof *env);
    const char *tmp = getenv("TMPDIR");
    snprintf(env->dir, sizeof env->dir, "%s/pd-test.XXXXXX", tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(env->dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    snprintf(env->claude_root, sizeof env->claude_root, "%s/claude", env->dir);
    snprintf(env->codex_home, sizeof env->codex_home, "%s/codex", env->dir);
    snprintf(env->codex_root, sizeof env->codex_root, "%s/sessions", env->codex_home);
    snprintf(env->db, sizeof env->db, "%s/archive.db", env->dir);
    mkdir_p(env->claude_root);
    mkdir_p(env->codex_root);
    env->roots[0] = (pd_agent_root){.agent = "claude", .root = env->claude_root};
    env->roots[1] = (pd_agent_root){.agent = "codex", .root = env->codex_root};
    env->threads = 2;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fx_env_cleanup(fx_env *env)
{
    if (env->dir[0] != '\0')
        nftw(env->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void fx_write(const char *path, const char *content)
{
    mkdir_parent(path);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    fwrite(content, 1, strlen(content), f);
    if (fclose(f) != 0)
        fail_msg("close %s: %s", path, strerror(errno));
}

void fx_append(const char *path, const char *content)
{
    FILE *f = fopen(path, "ab");
    if (f == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    fwrite(content, 1, strlen(content), f);
    if (fclose(f) != 0)
        fail_msg("close %s: %s", path, strerror(errno));
}

char *fx_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        fail_msg("read %s failed", path);
    buf[n] = '\0';
    fclose(f);
    if (len != NULL)
        *len = (size_t)n;
    return buf;
}

void fx_set_mtime_ns(const char *path, int64_t ns)
{
    struct timespec ts[2];
    ts[0].tv_sec = ns / 1000000000LL;
    ts[0].tv_nsec = ns % 1000000000LL;
    ts[1] = ts[0];
    if (utimensat(AT_FDCWD, path, ts, 0) != 0)
        fail_msg("utimensat %s: %s", path, strerror(errno));
}

int64_t fx_mtime_ns(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        fail_msg("stat %s: %s", path, strerror(errno));
    return (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

int64_t fx_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *fx_claude_path(const fx_env *env, const char *project, const char *session_uuid)
{
    return fx_fmt("%s/%s/%s.jsonl", env->claude_root, project, session_uuid);
}

char *fx_codex_path(const fx_env *env, const char *date_dir, const char *uuid)
{
    return fx_fmt("%s/%s/rollout-2026-02-01T09-00-00-%s.jsonl", env->codex_root, date_dir, uuid);
}

char *fx_codex_index_path(const fx_env *env)
{
    return fx_fmt("%s/session_index.jsonl", env->codex_home);
}

#define CLAUDE_COMMON                                                                              \
    "\"sessionId\":\"%s\",\"version\":\"2.1.50\",\"cwd\":\"/home/tess/src/orbit\","               \
    "\"gitBranch\":\"main\",\"isSidechain\":false,\"userType\":\"external\""

char *fx_claude_rich(const char *s, const char *prompt)
{
    return fx_fmt(
        "{\"type\":\"user\",\"uuid\":\"p1\",\"parentUuid\":null," CLAUDE_COMMON
        ",\"timestamp\":\"2026-01-05T10:00:00.000Z\",\"message\":{\"role\":\"user\",\"content\":\"%s\"}}\n"
        "{\"type\":\"assistant\",\"uuid\":\"p2\",\"parentUuid\":\"p1\"," CLAUDE_COMMON
        ",\"requestId\":\"req_1\",\"timestamp\":\"2026-01-05T10:00:04.250Z\",\"message\":{\"id\":"
        "\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
        "\"content\":[{\"type\":\"thinking\",\"thinking\":\"Check the orbit math.\"},{\"type\":"
        "\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Read\",\"input\":{\"file_path\":\"/home/tess/"
        "src/orbit/kepler.py\"}}],\"stop_reason\":\"tool_use\",\"usage\":{\"input_tokens\":20,"
        "\"cache_creation_input_tokens\":500,\"cache_read_input_tokens\":3000,\"output_tokens\":80}}}\n"
        "{\"type\":\"user\",\"uuid\":\"p3\",\"parentUuid\":\"p2\"," CLAUDE_COMMON
        ",\"timestamp\":\"2026-01-05T10:00:05.000Z\",\"message\":{\"role\":\"user\",\"content\":[{"
        "\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":\"def solve(e, m):\\n    "
        "return m\"}]}}\n"
        "{\"type\":\"assistant\",\"uuid\":\"p4\",\"parentUuid\":\"p3\"," CLAUDE_COMMON
        ",\"requestId\":\"req_2\",\"timestamp\":\"2026-01-05T10:00:09.000Z\",\"message\":{\"id\":"
        "\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
        "\"content\":[{\"type\":\"text\",\"text\":\"The solver diverges near e = 1; I added a damped "
        "step.\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":30,"
        "\"cache_read_input_tokens\":3500,\"output_tokens\":40}}}\n"
        "{\"type\":\"system\",\"subtype\":\"turn_duration\",\"uuid\":\"p5\",\"parentUuid\":\"p4\","
        "\"durationMs\":9000,\"timestamp\":\"2026-01-05T10:00:10.000Z\"," CLAUDE_COMMON "}\n",
        s, prompt, s, s, s, s);
}

char *fx_claude_plain(const char *s, const char *prompt)
{
    return fx_fmt(
        "{\"type\":\"user\",\"uuid\":\"p1\",\"parentUuid\":null," CLAUDE_COMMON
        ",\"timestamp\":\"2026-01-06T08:00:00.000Z\",\"message\":{\"role\":\"user\",\"content\":\"%s\"}}\n"
        "{\"type\":\"assistant\",\"uuid\":\"p2\",\"parentUuid\":\"p1\"," CLAUDE_COMMON
        ",\"requestId\":\"req_9\",\"timestamp\":\"2026-01-06T08:00:03.000Z\",\"message\":{\"id\":"
        "\"msg_9\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Done.\"}],\"stop_reason\":\"end_turn\","
        "\"usage\":{\"input_tokens\":5,\"output_tokens\":2}}}\n",
        s, prompt, s);
}

char *fx_claude_append_exchange(const char *s, const char *parent_uuid, int n)
{
    return fx_fmt(
        "{\"type\":\"user\",\"uuid\":\"p%d\",\"parentUuid\":\"%s\"," CLAUDE_COMMON
        ",\"timestamp\":\"2026-01-05T11:%02d:00.000Z\",\"message\":{\"role\":\"user\",\"content\":"
        "\"Follow-up question %d\"}}\n"
        "{\"type\":\"assistant\",\"uuid\":\"p%d\",\"parentUuid\":\"p%d\"," CLAUDE_COMMON
        ",\"requestId\":\"req_a%d\",\"timestamp\":\"2026-01-05T11:%02d:05.000Z\",\"message\":{\"id\":"
        "\"msg_a%d\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
        "\"content\":[{\"type\":\"text\",\"text\":\"Answer %d.\"}],\"stop_reason\":\"end_turn\","
        "\"usage\":{\"input_tokens\":11,\"cache_read_input_tokens\":4000,\"output_tokens\":%d}}}\n",
        n, parent_uuid, s, n % 60, n, n + 1, n, s, n, n % 60, n, n, 10 + n);
}

char *fx_codex_basic(const char *uuid, const char *prompt)
{
    return fx_fmt(
        "{\"timestamp\":\"2026-02-01T09:00:00.000Z\",\"type\":\"session_meta\",\"payload\":{\"id\":"
        "\"%s\",\"timestamp\":\"2026-02-01T09:00:00.000Z\",\"cwd\":\"/home/tess/src/orbit\","
        "\"originator\":\"codex_cli_rs\",\"cli_version\":\"0.60.0\",\"git\":{\"branch\":\"main\"}}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:00.100Z\",\"type\":\"turn_context\",\"payload\":{\"cwd\":"
        "\"/home/tess/src/orbit\",\"model\":\"gpt-5-codex\",\"turn_id\":\"t1\"}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:01.000Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
        "\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"%s\"}]}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:01.100Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
        "\"task_started\"}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:03.000Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
        "\"function_call\",\"name\":\"exec_command\",\"arguments\":\"{\\\"cmd\\\":\\\"pytest -q\\\"}\","
        "\"call_id\":\"call_1\"}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:04.000Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
        "\"function_call_output\",\"call_id\":\"call_1\",\"output\":\"3 passed\"}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:06.000Z\",\"type\":\"response_item\",\"payload\":{\"type\":"
        "\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"All "
        "tests pass.\"}]}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:06.100Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
        "\"token_count\",\"info\":{\"last_token_usage\":{\"input_tokens\":1000,"
        "\"cached_input_tokens\":600,\"output_tokens\":50}}}}\n"
        "{\"timestamp\":\"2026-02-01T09:00:06.200Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
        "\"task_complete\"}}\n",
        uuid, prompt);
}

char *fx_codex_append_exchange(int n)
{
    return fx_fmt(
        "{\"timestamp\":\"2026-02-01T10:%02d:00.000Z\",\"type\":\"response_item\",\"payload\":{"
        "\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
        "\"Next step %d\"}]}}\n"
        "{\"timestamp\":\"2026-02-01T10:%02d:00.100Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
        "\"task_started\"}}\n"
        "{\"timestamp\":\"2026-02-01T10:%02d:02.000Z\",\"type\":\"response_item\",\"payload\":{"
        "\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\","
        "\"text\":\"Step %d done.\"}]}}\n"
        "{\"timestamp\":\"2026-02-01T10:%02d:02.100Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
        "\"token_count\",\"info\":{\"last_token_usage\":{\"input_tokens\":%d,"
        "\"cached_input_tokens\":700,\"output_tokens\":%d}}}}\n"
        "{\"timestamp\":\"2026-02-01T10:%02d:02.200Z\",\"type\":\"event_msg\",\"payload\":{\"type\":"
        "\"task_complete\"}}\n",
        n % 60, n, n % 60, n % 60, n, n % 60, 1200 + n, 20 + n, n % 60);
}

void fx_codex_set_title(const fx_env *env, const char *uuid, const char *title)
{
    char *path = fx_codex_index_path(env);
    char *line = fx_fmt("{\"id\":\"%s\",\"thread_name\":\"%s\",\"updated_at\":\"2026-02-01T12:00:00Z\"}\n",
                        uuid, title);
    mkdir_parent(path);
    fx_append(path, line);
    free(line);
    free(path);
}

/* ---- SQL ----------------------------------------------------------------------- */

static sqlite3 *open_db(const char *db)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        fail_msg("open %s: %s", db, h != NULL ? sqlite3_errmsg(h) : "out of memory");
    sqlite3_busy_timeout(h, 5000);
    return h;
}

void fx_sql(const char *db, const char *sql)
{
    sqlite3 *h = open_db(db);
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        char copy[512];
        snprintf(copy, sizeof copy, "%s", msg != NULL ? msg : "?");
        sqlite3_free(msg);
        sqlite3_close(h);
        fail_msg("SQL failed: %s: %s", sql, copy);
    }
    sqlite3_close(h);
}

int64_t fx_sql_int(const char *db, const char *sql)
{
    sqlite3 *h = open_db(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(h));
    int64_t v = INT64_MIN;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

char *fx_sql_text(const char *db, const char *sql)
{
    sqlite3 *h = open_db(db);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("prepare %s: %s", sql, sqlite3_errmsg(h));
    char *v = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return v;
}

/* ---- runs ----------------------------------------------------------------------- */

pd_engine_config fx_engine_config(const fx_env *env)
{
    return (pd_engine_config){.db_path = env->db,
                              .roots = env->roots,
                              .n_roots = 2,
                              .n_threads = env->threads,
                              .machine = "testbox"};
}

static void run_sync(const fx_env *env, pd_sync_stats *stats, bool full)
{
    pd_engine_config cfg = fx_engine_config(env);
    pd_engine *e = NULL;
    pd_err err = {0};
    if (pd_engine_new(&cfg, PD_ENGINE_WRITER, &e, &err) != PD_OK)
        fail_msg("engine: %s", err.msg);
    pd_sync_options opts = {.force_full = full};
    int rc = pd_engine_sync(e, &opts, stats, &err);
    pd_engine_free(e);
    if (rc != PD_OK)
        fail_msg("sync failed: %s", err.msg);
}

void fx_sync(const fx_env *env, pd_sync_stats *stats)
{
    run_sync(env, stats, false);
}

void fx_sync_full(const fx_env *env, pd_sync_stats *stats)
{
    run_sync(env, stats, true);
}

pd_diff_report *fx_diff(const fx_env *env, const char *const *agents, size_t n_agents, int64_t limit)
{
    pd_engine_config cfg = fx_engine_config(env);
    pd_engine *e = NULL;
    pd_err err = {0};
    if (pd_engine_new(&cfg, PD_ENGINE_REPORT_ONLY, &e, &err) != PD_OK)
        fail_msg("engine: %s", err.msg);
    pd_diff_options opts = {.agents = agents, .n_agents = n_agents, .limit = limit};
    pd_diff_report *r = NULL;
    int rc = pd_engine_diff(e, &opts, &r, &err);
    pd_engine_free(e);
    if (rc != PD_OK)
        fail_msg("diff failed: %s", err.msg);
    return r;
}

const pd_diff_entry *fx_entry(const pd_diff_report *r, const char *session_id)
{
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].session_id != NULL && strcmp(r->sessions[i].session_id, session_id) == 0)
            return &r->sessions[i];
    }
    return NULL;
}

int64_t fx_field_count(const pd_diff_report *r, const char *field)
{
    for (size_t i = 0; i < r->n_field_counts; i++) {
        if (strcmp(r->field_counts[i].field, field) == 0)
            return r->field_counts[i].count;
    }
    return 0;
}

const pd_field_diff *fx_field(const pd_diff_entry *e, const char *field)
{
    if (e == NULL)
        return NULL;
    for (size_t i = 0; i < e->n_fields; i++) {
        if (strcmp(e->fields[i].field, field) == 0)
            return &e->fields[i];
    }
    return NULL;
}

bool fx_has_field(const pd_diff_entry *e, const char *field)
{
    return fx_field(e, field) != NULL;
}

char *fx_report_json(const pd_diff_report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        fail_msg("open_memstream failed");
    pd_diff_report copy = *r;
    memset(copy.generated_at, 0, sizeof copy.generated_at);
    if (pd_report_write_json(f, &copy) != PD_OK)
        fail_msg("rendering JSON failed");
    fclose(f);
    return buf;
}

void fx_file_sha256(const char *path, char out[65])
{
    if (pd_sha256_file(path, -1, out) != PD_OK)
        fail_msg("hashing %s failed", path);
}

void fx_write_rich_sessions(const fx_env *env, const char *id_prefix, const char *project, int n,
                            const char *prompt)
{
    for (int i = 0; i < n; i++) {
        char id[48];
        snprintf(id, sizeof id, "%s-aaaa-4aaa-8aaa-%012d", id_prefix, i);
        char *p = fx_claude_path(env, project, id);
        char *c = fx_claude_rich(id, prompt);
        fx_write(p, c);
        free(p);
        free(c);
    }
}

void fx_drop_cached(const char *path, off_t offset, off_t len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail_msg("cannot open %s", path);
    if (fsync(fd) != 0 || posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED) != 0)
        fail_msg("cannot drop %s from the page cache", path);
    close(fd);
}

static void drop_file_cache(const char *path, void *ctx)
{
    (void)ctx;
    fx_drop_cached(path, 0, 0);
}

size_t fx_resident_pages(const char *path, size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (n + page - 1) / page, resident = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        fail_msg("cannot open %s", path);
    void *map = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = calloc(pages, 1);
    if (map == MAP_FAILED || vec == NULL || mincore(map, n, vec) != 0)
        fail_msg("cannot read the page cache state of %s", path);
    for (size_t i = 0; i < pages; i++)
        resident += vec[i] & 1;
    free(vec);
    munmap(map, n);
    close(fd);
    return resident;
}

size_t fx_drop_page_cache(const fx_env *env)
{
    return fx_each_file(env->claude_root, ".jsonl", drop_file_cache, NULL) +
           fx_each_file(env->codex_root, ".jsonl", drop_file_cache, NULL);
}
