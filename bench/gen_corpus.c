/*
 * gen_corpus.c -- writes a whole synthetic corpus: plans each session, runs
 * the writer threads, then writes session_index.jsonl and the
 * parsediff-gen.json summary.
 *
 * Entry points: pd_gen_profile_find(), pd_gen_config_init(),
 * pd_gen_write_corpus(); one calling thread, which starts and joins the
 * writer threads inside pd_gen_write_corpus().
 *
 * Speed matters for the 1,000,000-session profile: every file is built in
 * memory and written with one write() and no fsync, sessions are spread
 * over many project and date directories, and the threads take sessions in
 * blocks from one atomic counter.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/gen_corpus.h"
#include "bench/gen_internal.h"

/*
 * Built-in profiles. "mixed" models a heavy user's archive:
 * median 30 KB, 99th percentile 3 MB, four lines over 10 MB. "small" is a
 * lighter version for `make bench`; "many" is a million short sessions.
 */
static const pd_gen_profile profiles[] = {
    {"small", 10000, 12000.0, 400000.0, 1500, 4 << 20, 0},
    {"mixed", 100000, 30000.0, 3000000.0, 1500, 24 << 20, 4},
    {"many", 1000000, 2000.0, 6400.0, 1200, 64 << 10, 0},
};

/* Start of the generated timeline (2025-01-01T00:00:00Z) and its length (360 days). */
static const int64_t timeline_start_ms = 1735689600000LL;
static const int64_t timeline_span_ms = 360LL * 86400 * 1000;

/* Streams of the per-session random sequence besides the body. */
enum { STREAM_TITLE = 1, STREAMS_PER_SESSION = 4 };

const pd_gen_profile *pd_gen_profile_find(const char *name)
{
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (name != NULL && strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

const char *pd_gen_profile_names(void)
{
    return "small, mixed, many";
}

void pd_gen_config_init(pd_gen_config *cfg, const pd_gen_profile *profile, const char *out_dir)
{
    *cfg = (pd_gen_config){
        .out_dir = out_dir,
        .profile = *profile,
        .seed = 1,
        .codex_share = 0.5,
        .title_share = 0.3,
        .huge_line_bytes = 0,
        .n_threads = 0,
    };
}

/* ---- planning ----------------------------------------------------------- */

typedef struct gen_run {
    const pd_gen_config *cfg;
    double mu;    /* log-normal parameters of the session size */
    double sigma;
    int64_t huge_bytes;
    int64_t n_projects;

    atomic_llong next;        /* next session index to take */
    int64_t *sizes;           /* [i]: file size; written by the one thread that owns i */
    int64_t *longest;         /* [i]: longest line of file i */
    unsigned char *is_codex;  /* [i] */
    pthread_mutex_t err_lock; /* guards err and failed */
    pd_err *err;
    atomic_bool failed;
} gen_run;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* Draws everything about session i except its body; cheap enough to call twice. */
static void plan_session(const gen_run *run, int64_t i, gen_session *s, bool *is_codex)
{
    const pd_gen_config *cfg = run->cfg;
    memset(s, 0, sizeof *s);
    s->index = (uint64_t)i;
    gen_rng_seed(&s->rng, cfg->seed, (uint64_t)i * STREAMS_PER_SESSION);

    *is_codex = gen_rng_unit(&s->rng) < cfg->codex_share;
    double draw = exp(run->mu + run->sigma * gen_rng_normal(&s->rng));
    s->target_bytes = clamp64((int64_t)draw, cfg->profile.min_bytes, cfg->profile.max_bytes);
    s->project = (int)gen_rng_range(&s->rng, 0, run->n_projects - 1);
    snprintf(s->cwd, sizeof s->cwd, "/home/user/src/project-%d", s->project);
    gen_make_uuid(&s->rng, s->id);

    int64_t n = cfg->profile.n_sessions;
    int64_t slot = timeline_span_ms / n;
    s->start_ms = timeline_start_ms + i * slot + gen_rng_range(&s->rng, 0, slot > 1 ? slot - 1 : 0);

    /* Huge lines go to evenly spaced sessions so every run has the same ones. */
    int n_huge = cfg->profile.n_huge_lines;
    for (int k = 0; k < n_huge; k++) {
        if (i == (int64_t)(k + 1) * n / (n_huge + 1)) {
            s->huge_bytes = run->huge_bytes + (int64_t)k * 500000;
            break;
        }
    }
}

/* ---- files ------------------------------------------------------------------ */

/* mkdir -p for an absolute or relative path; EEXIST is success. */
static int make_dirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        char saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return errno;
        tmp[i] = saved;
    }
    return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes data to path, creating the parent directories on the first ENOENT. */
static int write_file(const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash != NULL) {
            *slash = '\0';
            int rc = make_dirs(dir);
            if (rc != 0)
                return rc;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return errno;
    int rc = write_all(fd, data, len);
    if (close(fd) != 0 && rc == 0)
        rc = errno;
    return rc;
}

static void session_path(const gen_run *run, const gen_session *s, bool is_codex, char *out,
                         size_t cap)
{
    if (!is_codex) {
        /* The project directory is the cwd with '/' replaced by '-', as Claude Code names it. */
        snprintf(out, cap, "%s/claude/-home-user-src-project-%d/%s.jsonl", run->cfg->out_dir,
                 s->project, s->id);
        return;
    }
    int y, mo, d, h, mi, sec;
    gen_civil_time(s->start_ms, &y, &mo, &d, &h, &mi, &sec);
    snprintf(out, cap,
             "%s/codex/sessions/%04d/%02d/%02d/rollout-%04d-%02d-%02dT%02d-%02d-%02d-%s.jsonl",
             run->cfg->out_dir, y, mo, d, y, mo, d, h, mi, sec, s->id);
}

static void record_failure(gen_run *run, int code, const char *path, const char *what, int sys)
{
    pthread_mutex_lock(&run->err_lock);
    pd_err_set(run->err, code, "%s: %s: %s", path, what, strerror(sys));
    pthread_mutex_unlock(&run->err_lock);
    atomic_store(&run->failed, true);
}

static int64_t longest_line(const char *data, size_t len)
{
    int64_t longest = 0;
    const char *p = data;
    const char *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl != NULL ? nl : end;
        if (stop - p > longest)
            longest = stop - p;
        p = stop + 1;
    }
    return longest;
}

static void *writer_thread(void *arg)
{
    gen_run *run = arg;
    gen_buf buf = {0};
    char path[4096];
    const int64_t n = run->cfg->profile.n_sessions;
    enum { BLOCK = 32 };

    while (!atomic_load(&run->failed)) {
        int64_t first = atomic_fetch_add(&run->next, BLOCK);
        if (first >= n)
            break;
        for (int64_t i = first; i < first + BLOCK && i < n; i++) {
            gen_session s;
            bool is_codex;
            plan_session(run, i, &s, &is_codex);
            buf.len = 0;
            if (is_codex)
                gen_codex_session(&buf, &s);
            else
                gen_claude_session(&buf, &s);
            session_path(run, &s, is_codex, path, sizeof path);
            if (buf.failed) {
                record_failure(run, PD_ENOMEM, path, "building the file failed", ENOMEM);
                break;
            }
            int rc = write_file(path, buf.data, buf.len);
            if (rc != 0) {
                record_failure(run, PD_EIO, path, "write failed", rc);
                break;
            }
            run->sizes[i] = (int64_t)buf.len;
            run->longest[i] = longest_line(buf.data, buf.len);
            run->is_codex[i] = is_codex;
        }
    }
    gen_buf_free(&buf);
    return NULL;
}

/* ---- index and summary -------------------------------------------------------- */

static int write_session_index(gen_run *run, pd_gen_stats *stats, pd_err *err)
{
    const pd_gen_config *cfg = run->cfg;
    gen_buf buf = {0};
    for (int64_t i = 0; i < cfg->profile.n_sessions; i++) {
        if (!run->is_codex[i])
            continue;
        gen_session s;
        bool is_codex;
        plan_session(run, i, &s, &is_codex);
        gen_rng rng;
        gen_rng_seed(&rng, cfg->seed, (uint64_t)i * STREAMS_PER_SESSION + STREAM_TITLE);
        if (gen_rng_unit(&rng) >= cfg->title_share)
            continue;
        gen_puts(&buf, "{\"id\":\"");
        gen_puts(&buf, s.id);
        gen_puts(&buf, "\",\"thread_name\":\"");
        gen_put_plain(&buf, &rng, (size_t)gen_rng_range(&rng, 12, 48));
        gen_puts(&buf, "\",\"updated_at\":\"");
        gen_put_time(&buf, s.start_ms + 60000);
        gen_puts(&buf, "\"}\n");
        stats->n_index_entries++;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/codex", cfg->out_dir);
    int sys = make_dirs(path);
    snprintf(path, sizeof path, "%s/codex/session_index.jsonl", cfg->out_dir);
    if (sys == 0 && !buf.failed)
        sys = write_file(path, buf.data != NULL ? buf.data : "", buf.len);
    int rc = PD_OK;
    if (buf.failed)
        rc = pd_err_set(err, PD_ENOMEM, "%s: out of memory", path);
    else if (sys != 0)
        rc = pd_err_set(err, PD_EIO, "%s: write failed: %s", path, strerror(sys));
    gen_buf_free(&buf);
    return rc;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static int64_t percentile(const int64_t *sorted, int64_t n, double q)
{
    if (n == 0)
        return 0;
    int64_t rank = (int64_t)ceil(q * (double)n);
    return sorted[clamp64(rank, 1, n) - 1];
}

static int summarise(gen_run *run, pd_gen_stats *stats, pd_err *err)
{
    int64_t n = run->cfg->profile.n_sessions;
    int64_t *sorted = malloc((size_t)n * sizeof *sorted);
    if (sorted == NULL)
        return pd_err_set(err, PD_ENOMEM, "out of memory sorting %lld file sizes", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        sorted[i] = run->sizes[i];
        stats->total_bytes += run->sizes[i];
        if (run->is_codex[i])
            stats->n_codex++;
        else
            stats->n_claude++;
        if (run->longest[i] > stats->longest_line)
            stats->longest_line = run->longest[i];
        if (run->longest[i] > 10 * 1000 * 1000)
            stats->n_lines_over_10mb++;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, compare_int64);
    stats->n_files = n;
    stats->size_p50 = percentile(sorted, n, 0.50);
    stats->size_p90 = percentile(sorted, n, 0.90);
    stats->size_p99 = percentile(sorted, n, 0.99);
    stats->size_max = n > 0 ? sorted[n - 1] : 0;
    free(sorted);
    return PD_OK;
}

static int write_summary(const pd_gen_config *cfg, const pd_gen_stats *st, pd_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/parsediff-gen.json", cfg->out_dir);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return pd_err_set(err, PD_EIO, "%s: cannot create: %s", path, strerror(errno));
    fprintf(f,
            "{\"generator\":\"parsediff-gen\",\"profile\":\"%s\",\"seed\":%llu,"
            "\"sessions\":%lld,\"codex_share\":%.4f,\"claude_root\":\"claude\","
            "\"codex_root\":\"codex/sessions\",\"files\":%lld,\"claude_files\":%lld,"
            "\"codex_files\":%lld,\"index_entries\":%lld,\"bytes\":%lld,\"size_p50\":%lld,"
            "\"size_p90\":%lld,\"size_p99\":%lld,\"size_max\":%lld,\"longest_line\":%lld,"
            "\"lines_over_10mb\":%lld}\n",
            cfg->profile.name, (unsigned long long)cfg->seed, (long long)cfg->profile.n_sessions,
            cfg->codex_share, (long long)st->n_files, (long long)st->n_claude,
            (long long)st->n_codex, (long long)st->n_index_entries, (long long)st->total_bytes,
            (long long)st->size_p50, (long long)st->size_p90, (long long)st->size_p99,
            (long long)st->size_max, (long long)st->longest_line,
            (long long)st->n_lines_over_10mb);
    if (fclose(f) != 0)
        return pd_err_set(err, PD_EIO, "%s: write failed: %s", path, strerror(errno));
    return PD_OK;
}

/* ---- entry point ------------------------------------------------------------------ */

static int check_config(const pd_gen_config *cfg, pd_err *err)
{
    const pd_gen_profile *p = &cfg->profile;
    if (cfg->out_dir == NULL || cfg->out_dir[0] == '\0')
        return pd_err_set(err, PD_EINVAL, "missing output directory");
    if (p->n_sessions < 1 || p->n_sessions > 100000000)
        return pd_err_set(err, PD_EINVAL, "session count %lld is out of range (1..100000000)",
                          (long long)p->n_sessions);
    if (!(cfg->codex_share >= 0.0 && cfg->codex_share <= 1.0))
        return pd_err_set(err, PD_EINVAL, "Codex share %g is out of range (0..1)",
                          cfg->codex_share);
    if (!(cfg->title_share >= 0.0 && cfg->title_share <= 1.0))
        return pd_err_set(err, PD_EINVAL, "title share %g is out of range (0..1)",
                          cfg->title_share);
    if (!(p->median_bytes > 0 && p->p99_bytes >= p->median_bytes && p->min_bytes > 0 &&
          p->max_bytes >= p->min_bytes))
        return pd_err_set(err, PD_EINVAL, "profile %s has an invalid size distribution",
                          p->name != NULL ? p->name : "(unnamed)");
    const char *const subdirs[] = {"claude", "codex"};
    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", cfg->out_dir, subdirs[i]);
        if (stat(path, &st) == 0)
            return pd_err_set(err, PD_EINVAL,
                              "%s already exists; remove it or choose another output directory",
                              path);
    }
    return PD_OK;
}

int pd_gen_write_corpus(const pd_gen_config *cfg, pd_gen_stats *stats, pd_err *err)
{
    memset(stats, 0, sizeof *stats);
    int rc = check_config(cfg, err);
    if (rc != PD_OK)
        return rc;
    int sys = make_dirs(cfg->out_dir);
    if (sys != 0)
        return pd_err_set(err, PD_EIO, "%s: cannot create: %s", cfg->out_dir, strerror(sys));

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gen_text_init();

    int64_t n = cfg->profile.n_sessions;
    gen_run run = {
        .cfg = cfg,
        .mu = log(cfg->profile.median_bytes),
        /* 2.3263 is the 99th percentile of the standard normal distribution. */
        .sigma = log(cfg->profile.p99_bytes / cfg->profile.median_bytes) / 2.3263,
        .huge_bytes = cfg->huge_line_bytes > 0 ? cfg->huge_line_bytes : 10500000,
        /* About a thousand sessions per project directory; at least four projects. */
        .n_projects = n / 1000 > 4 ? n / 1000 : 4,
        .err = err,
    };
    atomic_init(&run.next, 0);
    atomic_init(&run.failed, false);
    pthread_mutex_init(&run.err_lock, NULL);
    pthread_t *threads = NULL;
    unsigned n_started = 0;
    run.sizes = calloc((size_t)n, sizeof *run.sizes);
    run.longest = calloc((size_t)n, sizeof *run.longest);
    run.is_codex = calloc((size_t)n, 1);
    unsigned n_threads = cfg->n_threads;
    if (n_threads == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = online > 0 ? (unsigned)online : 1;
    }
    threads = calloc(n_threads, sizeof *threads);
    if (run.sizes == NULL || run.longest == NULL || run.is_codex == NULL || threads == NULL) {
        rc = pd_err_set(err, PD_ENOMEM, "out of memory planning %lld sessions", (long long)n);
        goto out;
    }

    for (unsigned t = 0; t < n_threads; t++) {
        if (pthread_create(&threads[t], NULL, writer_thread, &run) != 0)
            break;
        n_started++;
    }
    if (n_started == 0)
        writer_thread(&run);
    for (unsigned t = 0; t < n_started; t++)
        pthread_join(threads[t], NULL);
    if (atomic_load(&run.failed)) {
        rc = err != NULL && err->code != PD_OK ? err->code : PD_EIO;
        goto out;
    }

    rc = write_session_index(&run, stats, err);
    if (rc == PD_OK)
        rc = summarise(&run, stats, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    stats->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc == PD_OK)
        rc = write_summary(cfg, stats, err);

out:
    free(threads);
    free(run.is_codex);
    free(run.longest);
    free(run.sizes);
    pthread_mutex_destroy(&run.err_lock);
    return rc;
}
