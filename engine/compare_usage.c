/*
 * compare_usage.c -- usage events compared as order-insensitive multisets.
 *
 * Entry point: pd_cmp_usage_events(), called last by pd_compare_sessions().
 * The archive returns events in its own order and the parser in transcript
 * order, so each event is reduced to a key and the two key multisets are
 * compared:
 *   with a dedup key:
 * dedup|<key>|<source>|<model>|<in>|<out>|<cache_creation>|<cache_read>|<reasoning> without one:
 * tuple|<source>|<model>|<in>|<out>|<cache_creation>|<cache_read>|<reasoning>|<occurred_at>|<ordinal
 * or -> A shared dedup key makes occurred_at and the message ordinal irrelevant, while source,
 * model and the counts still count, so an event re-attributed under the same key shows up. Costs
 * are not parser output and are ignored.
 *
 * A count change emits usage_event_count. A change in the per-class token
 * sums emits usage_event_totals, whose detail lists each differing class.
 * With equal counts and sums, differing multisets also emit
 * usage_event_totals, whose detail names the smallest differing key.
 *
 * Thread-safety: pure; see compare.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "engine/compare_internal.h"

/* Per-class token sums. Sums wrap instead of overflowing, so hostile counts
 * cannot trigger undefined behaviour; the clamped counts real sessions carry
 * never come near the limit. */
typedef struct usage_totals {
    uint64_t input;
    uint64_t output;
    uint64_t cache_creation;
    uint64_t cache_read;
    uint64_t reasoning;
} usage_totals;

static usage_totals sum_totals(const pd_usage_event *events, size_t n)
{
    usage_totals t = {0};
    for (size_t i = 0; i < n; i++) {
        t.input += (uint64_t)events[i].input_tokens;
        t.output += (uint64_t)events[i].output_tokens;
        t.cache_creation += (uint64_t)events[i].cache_creation_input_tokens;
        t.cache_read += (uint64_t)events[i].cache_read_input_tokens;
        t.reasoning += (uint64_t)events[i].reasoning_tokens;
    }
    return t;
}

static bool totals_equal(const usage_totals *a, const usage_totals *b)
{
    return a->input == b->input && a->output == b->output &&
           a->cache_creation == b->cache_creation && a->cache_read == b->cache_read &&
           a->reasoning == b->reasoning;
}

static char *render_totals(pd_arena *arena, const usage_totals *t)
{
    return pd_arena_sprintf(arena,
                            "input=%" PRId64 " output=%" PRId64 " cache_creation=%" PRId64
                            " cache_read=%" PRId64 " reasoning=%" PRId64,
                            (int64_t)t->input, (int64_t)t->output, (int64_t)t->cache_creation,
                            (int64_t)t->cache_read, (int64_t)t->reasoning);
}

/* Lists each differing class as "<class> <a> -> <b>", joined by "; ". */
static char *render_totals_detail(pd_arena *arena, const usage_totals *s, const usage_totals *p)
{
    struct token_class {
        const char *name;
        uint64_t stored;
        uint64_t parsed;
    } classes[] = {
        {"input", s->input, p->input},
        {"output", s->output, p->output},
        {"cache_creation", s->cache_creation, p->cache_creation},
        {"cache_read", s->cache_read, p->cache_read},
        {"reasoning", s->reasoning, p->reasoning},
    };
    pd_buf b;
    pd_buf_init(&b, arena);
    bool first = true;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        if (classes[i].stored == classes[i].parsed)
            continue;
        if (!first)
            pd_buf_puts(&b, "; ");
        pd_buf_printf(&b, "%s %" PRId64 " -> %" PRId64, classes[i].name, (int64_t)classes[i].stored,
                      (int64_t)classes[i].parsed);
        first = false;
    }
    return pd_buf_finish(&b);
}

static char *event_key(pd_arena *scratch, const pd_usage_event *ev)
{
    const char *dedup = pd_cmp_deref(ev->dedup_key);
    const char *source = pd_cmp_deref(ev->source);
    const char *model = pd_cmp_deref(ev->model);
    if (dedup[0] != '\0') {
        return pd_arena_sprintf(
            scratch, "dedup|%s|%s|%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64,
            dedup, source, model, ev->input_tokens, ev->output_tokens,
            ev->cache_creation_input_tokens, ev->cache_read_input_tokens, ev->reasoning_tokens);
    }

    char ordinal[24] = "-";
    if (ev->message_ordinal != PD_INT_NULL)
        snprintf(ordinal, sizeof ordinal, "%" PRId64, ev->message_ordinal);
    return pd_arena_sprintf(
        scratch, "tuple|%s|%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%s|%s",
        source, model, ev->input_tokens, ev->output_tokens, ev->cache_creation_input_tokens,
        ev->cache_read_input_tokens, ev->reasoning_tokens, pd_cmp_deref(ev->occurred_at), ordinal);
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sets *out to the keys of the n events, sorted bytewise. */
static int sorted_keys(pd_arena *scratch, const pd_usage_event *events, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return PD_OK;
    char **keys = pd_arena_alloc(scratch, n * sizeof *keys);
    if (keys == NULL)
        return PD_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        keys[i] = event_key(scratch, &events[i]);
        if (keys[i] == NULL)
            return PD_ENOMEM;
    }
    qsort(keys, n, sizeof *keys, compare_keys);
    *out = keys;
    return PD_OK;
}

/* Number of entries equal to keys[*pos], advancing *pos past them. */
static size_t take_run(char **keys, size_t n, size_t *pos, const char *key)
{
    size_t count = 0;
    while (*pos < n && strcmp(keys[*pos], key) == 0) {
        (*pos)++;
        count++;
    }
    return count;
}

/*
 * Returns the smallest key whose multiplicity differs between the two sorted
 * key lists, or NULL when the multisets are equal.
 */
static const char *first_differing_key(char **a, size_t na, char **b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        const char *key;
        if (i == na)
            key = b[j];
        else if (j == nb)
            key = a[i];
        else
            key = strcmp(a[i], b[j]) <= 0 ? a[i] : b[j];
        size_t count_a = take_run(a, na, &i, key);
        size_t count_b = take_run(b, nb, &j, key);
        if (count_a != count_b)
            return key;
    }
    return NULL;
}

int pd_cmp_usage_events(pd_cmp *c, const pd_session *stored, const pd_session *parsed)
{
    size_t ns = stored->n_usage_events;
    size_t np = parsed->n_usage_events;
    if (ns == 0 && np == 0)
        return PD_OK;

    char **stored_keys = NULL;
    char **parsed_keys = NULL;
    int rc = sorted_keys(c->scratch, stored->usage_events, ns, &stored_keys);
    if (rc == PD_OK)
        rc = sorted_keys(c->scratch, parsed->usage_events, np, &parsed_keys);
    if (rc != PD_OK)
        return rc;

    usage_totals stored_totals = sum_totals(stored->usage_events, ns);
    usage_totals parsed_totals = sum_totals(parsed->usage_events, np);
    bool count_differs = ns != np;
    bool totals_differ = !totals_equal(&stored_totals, &parsed_totals);
    const char *differing_key = first_differing_key(stored_keys, ns, parsed_keys, np);

    if (count_differs) {
        pd_field_diff d = {
            .field = PD_FIELD_USAGE_EVENT_COUNT,
            .stored = pd_arena_sprintf(c->arena, "%zu", ns),
            .parsed = pd_arena_sprintf(c->arena, "%zu", np),
        };
        if ((rc = pd_cmp_push(c, d)) != PD_OK)
            return rc;
    }

    if (totals_differ) {
        pd_field_diff d = {
            .field = PD_FIELD_USAGE_EVENT_TOTALS,
            .stored = render_totals(c->arena, &stored_totals),
            .parsed = render_totals(c->arena, &parsed_totals),
            .detail = render_totals_detail(c->arena, &stored_totals, &parsed_totals),
        };
        if (d.detail == NULL)
            return PD_ENOMEM;
        return pd_cmp_push(c, d);
    }

    /* Equal counts and sums: only the composition can differ. With unequal
     * counts the count diff already reports the change. */
    if (!count_differs && differing_key != NULL) {
        pd_field_diff d = {
            .field = PD_FIELD_USAGE_EVENT_TOTALS,
            .stored = render_totals(c->arena, &stored_totals),
            .parsed = render_totals(c->arena, &parsed_totals),
            .detail = pd_arena_sprintf(c->arena,
                                       "event composition differs; token totals are equal; "
                                       "first differing event: %s",
                                       differing_key),
        };
        if (d.detail == NULL)
            return PD_ENOMEM;
        return pd_cmp_push(c, d);
    }
    return PD_OK;
}
