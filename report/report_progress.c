/*
 * report_progress.c -- the progress bar of diff ("Re-parsing files") and
 * sync ("Syncing files").
 *
 * Entry points, in call order: pd_progress_new() (or
 * pd_progress_new_with_clock()), optionally pd_progress_set_label(),
 * pd_progress_set_total() and pd_progress_tick() any number of times,
 * pd_progress_free(). One thread
 * owns a pd_progress. In the engine that is the collector, which ticks after
 * folding each file result.
 *
 * The bar rewrites one terminal line with a leading carriage return. Redraws
 * are limited to about ten per second because a run over millions of small
 * files would otherwise spend measurable time writing to the terminal.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/timefmt.h"
#include "report/report.h"

/* Minimum time between two redraws, in nanoseconds (100 ms). */
#define REDRAW_INTERVAL_NS 100000000LL
#define NS_PER_SEC 1000000000LL
/* No ETA in the first second: the first files also pay for the start (the
 * archive's snapshot), and one file in a third of a second made an ETA of
 * hours. */
#define ETA_SETTLE_NS NS_PER_SEC
/* The rate counts the files of about the last RATE_SAMPLES - 1 seconds, so a
 * fast phase (unchanged files that sync skips) does not inflate it later. */
#define RATE_SAMPLES 11
#define RATE_SAMPLE_INTERVAL_NS NS_PER_SEC

struct pd_progress {
    FILE *out;
    const char *label;
    pd_progress_clock_fn clock;
    void *clock_ctx;
    int64_t total;
    int64_t start_ns;
    int64_t last_draw_ns;
    bool counting;  /* discovery still finds files, so total may grow */
    int64_t expected; /* a guess at the final total while counting, or 0 */
    bool drawn;     /* at least one line has been drawn */
    bool line_open; /* the current line has no newline yet */
    /* done and total of the last finished line, or -1 before one. A repeated
     * final tick with the same values prints nothing. */
    int64_t finished_done;
    int64_t finished_total;
    int last_len; /* characters in the current line after '\r' */
    /* (time, done) once a second, oldest first from sample_head: the rate
     * window. Slot 0 starts as (start_ns, 0). */
    int64_t sample_ns[RATE_SAMPLES];
    int64_t sample_done[RATE_SAMPLES];
    int n_samples;
    int sample_head;
};

static int64_t monotonic_now(void *ctx)
{
    (void)ctx;
    return pd_monotonic_ns();
}

pd_progress *pd_progress_new_with_clock(FILE *out, int64_t total, pd_progress_clock_fn clock,
                                        void *ctx)
{
    pd_progress *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;

    p->out = out;
    p->label = "Re-parsing files";
    p->clock = clock ? clock : monotonic_now;
    p->clock_ctx = ctx;
    p->total = total < 0 ? 0 : total;
    p->start_ns = p->clock(p->clock_ctx);
    p->sample_ns[0] = p->start_ns;
    p->sample_done[0] = 0;
    p->n_samples = 1;
    p->finished_done = -1;
    p->finished_total = -1;
    return p;
}

pd_progress *pd_progress_new(FILE *out, int64_t total)
{
    return pd_progress_new_with_clock(out, total, NULL, NULL);
}

void pd_progress_set_label(pd_progress *p, const char *label)
{
    if (p != NULL && label != NULL)
        p->label = label;
}

void pd_progress_set_counting(pd_progress *p, bool counting, int64_t expected)
{
    if (p == NULL)
        return;
    p->counting = counting;
    p->expected = expected < 0 ? 0 : expected;
}

void pd_progress_set_total(pd_progress *p, int64_t total)
{
    if (!p)
        return;
    p->total = total < 0 ? 0 : total;
}

/* Formats the ETA as m:ss, or "-:--" while no file has completed. */
static void format_eta(char *buf, size_t size, int64_t remaining, double rate)
{
    if (remaining <= 0) {
        snprintf(buf, size, "0:00");
        return;
    }
    if (rate <= 0.0) {
        snprintf(buf, size, "-:--");
        return;
    }

    double seconds_f = (double)remaining / rate;
    /* Cap at 99999 minutes so a nearly stalled run cannot overflow the cast. */
    if (seconds_f > 99999.0 * 60.0)
        seconds_f = 99999.0 * 60.0;
    int64_t seconds = (int64_t)seconds_f;
    if ((double)seconds < seconds_f)
        seconds++; /* round up, so "0:00" appears only once everything is done */
    snprintf(buf, size, "%" PRId64 ":%02" PRId64, seconds / 60, seconds % 60);
}

/* Files per second over the rate window, after recording (now, done) when a
 * second has passed since the newest sample. */
static double window_rate(pd_progress *p, int64_t done, int64_t now)
{
    int newest = (p->sample_head + p->n_samples - 1) % RATE_SAMPLES;
    if (now - p->sample_ns[newest] >= RATE_SAMPLE_INTERVAL_NS) {
        int slot = (p->sample_head + p->n_samples) % RATE_SAMPLES;
        if (p->n_samples == RATE_SAMPLES)
            p->sample_head = (p->sample_head + 1) % RATE_SAMPLES;
        else
            p->n_samples++;
        p->sample_ns[slot] = now;
        p->sample_done[slot] = done;
    }
    /* The newest sample may be now itself, so the oldest one sets the window. */
    int64_t span = now - p->sample_ns[p->sample_head];
    if (span <= 0)
        return 0.0;
    return (double)(done - p->sample_done[p->sample_head]) * (double)NS_PER_SEC / (double)span;
}

static void draw(pd_progress *p, int64_t done, int64_t now, bool finished)
{
    /* A line logged on stderr must not land inside the bar. */
    bool on_stderr = p->out == stderr;
    if (on_stderr)
        pd_log_lock_stderr();
    double rate = window_rate(p, done, now);
    char eta[32];
    /* format_eta() shows "-:--" for a zero rate, and "0:00" when nothing is left. */
    double eta_rate = now - p->start_ns >= ETA_SETTLE_NS ? rate : 0.0;

    int len;
    if (p->counting && p->expected > p->total && p->expected > done) {
        /* The files found so far are too few for an ETA, so the estimate is used, marked "~". */
        format_eta(eta, sizeof(eta), p->expected - done, eta_rate);
        len = fprintf(p->out, "\r%s: %" PRId64 "/~%" PRId64 "  %.1f files/s  ETA %s%s", p->label,
                      done, p->expected, rate, eta[0] == '-' ? "" : "~", eta);
    } else if (p->counting) {
        len = fprintf(p->out, "\r%s: %" PRId64 " done, %" PRId64 " found so far  %.1f files/s",
                      p->label, done, p->total, rate);
    } else {
        format_eta(eta, sizeof(eta), p->total - done, eta_rate);
        len = fprintf(p->out, "\r%s: %" PRId64 "/%" PRId64 "  %.1f files/s  ETA %s", p->label, done,
                      p->total, rate, eta);
    }
    /* fprintf counts the leading '\r', which takes no column. */
    len = len > 0 ? len - 1 : 0;
    if (p->line_open && len < p->last_len) {
        for (int i = len; i < p->last_len; i++)
            fputc(' ', p->out);
    }

    if (finished) {
        fputc('\n', p->out);
        p->line_open = false;
        p->last_len = 0;
        p->finished_done = done;
        p->finished_total = p->total;
    } else {
        p->line_open = true;
        p->last_len = len;
    }
    fflush(p->out);
    if (on_stderr)
        pd_log_unlock_stderr(p->line_open);

    p->drawn = true;
    p->last_draw_ns = now;
}

void pd_progress_tick(pd_progress *p, int64_t done)
{
    if (!p)
        return;

    /* A total of 0 is the start of a run whose files are still being found,
     * so the line stays open until files arrive or pd_progress_free ends it. */
    bool finished = !p->counting && p->total > 0 && done >= p->total;
    if (finished && done == p->finished_done && p->total == p->finished_total)
        return;

    int64_t now = p->clock(p->clock_ctx);
    bool due = !p->drawn || now - p->last_draw_ns >= REDRAW_INTERVAL_NS;
    if (finished || due)
        draw(p, done, now, finished);
}

void pd_progress_free(pd_progress *p)
{
    if (!p)
        return;
    if (p->line_open) {
        /* A line logged since the last drawing has ended the bar's line already. */
        bool on_stderr = p->out == stderr;
        bool still_open = on_stderr ? pd_log_lock_stderr() : true;
        if (still_open) {
            fputc('\n', p->out);
            fflush(p->out);
        }
        if (on_stderr)
            pd_log_unlock_stderr(false);
    }
    free(p);
}
