/*
 * compare.c -- entry point of the comparator and the helpers that render
 * and collect its diffs.
 *
 * Entry points, in the order the engine calls them:
 *   pd_compare_sessions()                 once per compared session, any worker
 *   pd_field_diffs_real_count()           when classifying the result
 *   pd_field_diffs_confined_to_incremental_artifacts()
 *   pd_agent_is_incremental()             also used by the classifier
 * The column rules live in compare_session.c, compare_fingerprint.c,
 * compare_messages.c and compare_usage.c.
 *
 * Thread-safety: pure. Temporaries live in a private arena created and freed
 * by each call, so concurrent calls share nothing.
 */
#include "engine/compare.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/text.h"
#include "engine/compare_internal.h"

bool pd_agent_is_incremental(const char *agent)
{
    if (agent == NULL)
        return false;
    /* TraeX sessions go through the Codex provider and share its append path. */
    return strcmp(agent, "claude") == 0 || strcmp(agent, "codex") == 0 ||
           strcmp(agent, "traex") == 0;
}

int pd_compare_sessions(const pd_session *stored, const pd_session *parsed, pd_arena *arena,
                        pd_field_diffs *out)
{
    if (stored == NULL || parsed == NULL || arena == NULL || out == NULL)
        return PD_EINVAL;

    pd_cmp c = {
        .arena = arena,
        .scratch = pd_arena_new(),
        .out = out,
        .incremental = pd_agent_is_incremental(parsed->agent),
    };
    if (c.scratch == NULL)
        return PD_ENOMEM;

    int rc = pd_cmp_session_fields(&c, stored, parsed);
    if (rc != PD_OK)
        goto out;

    /* Tier 1 proves the message rows equal without pairing them; only a
     * differing fingerprint pays for the per-message attribution. */
    bool differs[PD_FP_COUNT];
    rc = pd_cmp_fingerprints_differ(c.scratch, stored, parsed, differs);
    if (rc != PD_OK)
        goto out;
    bool any_differs = false;
    for (int k = 0; k < PD_FP_COUNT; k++)
        any_differs = any_differs || differs[k];
    if (any_differs) {
        rc = pd_cmp_attribute_messages(&c, stored, parsed, differs);
        if (rc != PD_OK)
            goto out;
    }

    rc = pd_cmp_usage_events(&c, stored, parsed);

out:
    pd_arena_free(c.scratch);
    return rc;
}

size_t pd_field_diffs_real_count(const pd_field_diffs *d)
{
    if (d == NULL)
        return 0;
    size_t count = 0;
    for (size_t i = 0; i < d->n; i++) {
        if (!d->items[i].informational)
            count++;
    }
    return count;
}

bool pd_field_diffs_confined_to_incremental_artifacts(const pd_field_diffs *d)
{
    if (d == NULL)
        return true;
    for (size_t i = 0; i < d->n; i++) {
        const pd_field_diff *diff = &d->items[i];
        if (diff->informational)
            continue;
        if (diff->unpaired)
            return false;
        if (diff->field == NULL || strcmp(diff->field, PD_FIELD_MESSAGE_METADATA) != 0)
            return false;
    }
    return true;
}

/* ---- strings ---- */

const char *pd_cmp_deref(const char *s)
{
    return s != NULL ? s : "";
}

int pd_cmp_clean(pd_arena *scratch, const char *s, pd_cmp_str *out)
{
    s = pd_cmp_deref(s);
    size_t n = strlen(s);
    if (pd_utf8_is_clean(s, n)) {
        out->s = s;
        out->n = n;
        return PD_OK;
    }
    size_t clean_len = 0;
    char *clean = pd_utf8_sanitize(scratch, s, n, &clean_len);
    if (clean == NULL)
        return PD_ENOMEM;
    out->s = clean;
    out->n = clean_len;
    return PD_OK;
}

bool pd_cmp_str_equal(pd_cmp_str a, pd_cmp_str b)
{
    return a.n == b.n && memcmp(a.s, b.s, a.n) == 0;
}

int pd_cmp_clean_equal(pd_arena *scratch, const char *a, const char *b, bool *equal)
{
    pd_cmp_str ca, cb;
    int rc = pd_cmp_clean(scratch, a, &ca);
    if (rc == PD_OK)
        rc = pd_cmp_clean(scratch, b, &cb);
    if (rc != PD_OK)
        return rc;
    *equal = pd_cmp_str_equal(ca, cb);
    return PD_OK;
}

char *pd_cmp_truncate(pd_arena *arena, pd_cmp_str s)
{
    if (pd_utf8_rune_count(s.s, s.n) <= PD_CMP_MAX_RENDERED_RUNES)
        return pd_arena_strndup(arena, s.s, s.n);
    size_t keep = pd_utf8_prefix_bytes(s.s, s.n, PD_CMP_MAX_RENDERED_RUNES);
    return pd_arena_sprintf(arena, "%.*s...", (int)keep, s.s);
}

/*
 * Decodes one UTF-8 sequence at s[0..n). Returns its length and sets *rune,
 * or returns 0 for an invalid, overlong, surrogate or truncated sequence.
 */
static size_t decode_rune(const unsigned char *s, size_t n, uint32_t *rune)
{
    unsigned char b0 = s[0];
    size_t len;
    uint32_t r;
    uint32_t min;
    if (b0 < 0x80) {
        *rune = b0;
        return 1;
    } else if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
        r = b0 & 0x1F;
        min = 0x80;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        r = b0 & 0x0F;
        min = 0x800;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        r = b0 & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF))
        return 0;
    *rune = r;
    return len;
}

/*
 * Whether a quoted literal shows the rune as an escape rather than verbatim.
 * NOTE: Go's strconv.Quote escapes every rune outside unicode.IsPrint. This
 * check covers the control characters, the non-ASCII spaces, the common
 * format characters and the private-use area, but not the whole Unicode
 * table, so a rare unprintable rune may appear verbatim.
 */
static bool rune_needs_escape(uint32_t r)
{
    if (r < 0x20 || r == 0x7F)
        return true;
    if (r < 0x80)
        return false;
    return (r >= 0x80 && r <= 0xA0) || r == 0xAD || r == 0x1680 || (r >= 0x2000 && r <= 0x200F) ||
           (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F) || r == 0x3000 ||
           (r >= 0xE000 && r <= 0xF8FF) || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB);
}

void pd_cmp_buf_quote(pd_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)pd_cmp_deref(s);
    size_t n = strlen((const char *)p);

    pd_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        uint32_t r = 0;
        size_t len = decode_rune(p + i, n - i, &r);
        if (len == 0) {
            pd_buf_printf(b, "\\x%02x", p[i]);
            i++;
            continue;
        }
        switch (r) {
        case '"':
            pd_buf_puts(b, "\\\"");
            break;
        case '\\':
            pd_buf_puts(b, "\\\\");
            break;
        case '\a':
            pd_buf_puts(b, "\\a");
            break;
        case '\b':
            pd_buf_puts(b, "\\b");
            break;
        case '\f':
            pd_buf_puts(b, "\\f");
            break;
        case '\n':
            pd_buf_puts(b, "\\n");
            break;
        case '\r':
            pd_buf_puts(b, "\\r");
            break;
        case '\t':
            pd_buf_puts(b, "\\t");
            break;
        case '\v':
            pd_buf_puts(b, "\\v");
            break;
        default:
            if (!rune_needs_escape(r))
                pd_buf_append(b, (const char *)p + i, len);
            else if (r < 0x80)
                pd_buf_printf(b, "\\x%02x", (unsigned)r);
            else
                pd_buf_printf(b, "\\u%04x", (unsigned)r);
            break;
        }
        i += len;
    }
    pd_buf_putc(b, '"');
}

/* ---- the diff list ---- */

int pd_cmp_mark_incremental(pd_cmp *c, pd_field_diff *d)
{
    if (!c->incremental)
        return PD_OK;
    d->informational = true;
    if (d->detail == NULL || d->detail[0] == '\0')
        d->detail = pd_arena_strdup(c->arena, "incremental-append history");
    else
        d->detail = pd_arena_sprintf(c->arena, "%s (incremental-append history)", d->detail);
    return d->detail != NULL ? PD_OK : PD_ENOMEM;
}

int pd_cmp_push(pd_cmp *c, pd_field_diff d)
{
    if (d.stored == NULL || d.parsed == NULL)
        return PD_ENOMEM;

    pd_field_diffs *list = c->out;
    if (list->n == list->cap) {
        size_t cap = list->cap != 0 ? list->cap * 2 : 8;
        pd_field_diff *items = pd_arena_grow(c->arena, list->items, list->n, cap, sizeof *items);
        if (items == NULL)
            return PD_ENOMEM;
        list->items = items;
        list->cap = cap;
    }
    list->items[list->n++] = d;
    return PD_OK;
}

/* ---- message order ---- */

static int compare_message_ptrs(const void *pa, const void *pb)
{
    const pd_message *a = *(const pd_message *const *)pa;
    const pd_message *b = *(const pd_message *const *)pb;
    if (a->ordinal != b->ordinal)
        return a->ordinal < b->ordinal ? -1 : 1;
    /* The pointers index one array, so their order is the array order and
     * makes the sort stable. */
    return a < b ? -1 : (a > b ? 1 : 0);
}

int pd_cmp_order_messages(pd_arena *scratch, const pd_message *msgs, size_t n,
                          const pd_message ***out)
{
    *out = NULL;
    if (n == 0)
        return PD_OK;
    const pd_message **ordered = pd_arena_alloc(scratch, n * sizeof *ordered);
    if (ordered == NULL)
        return PD_ENOMEM;

    bool sorted = true;
    for (size_t i = 0; i < n; i++) {
        ordered[i] = &msgs[i];
        if (i > 0 && msgs[i].ordinal < msgs[i - 1].ordinal)
            sorted = false;
    }
    if (!sorted)
        qsort(ordered, n, sizeof *ordered, compare_message_ptrs);
    *out = ordered;
    return PD_OK;
}

int pd_cmp_order_both(pd_arena *scratch, const pd_session *stored, const pd_session *parsed,
                      const pd_message ***stored_out, const pd_message ***parsed_out)
{
    *parsed_out = NULL;
    int rc = pd_cmp_order_messages(scratch, stored->messages, stored->n_messages, stored_out);
    if (rc == PD_OK)
        rc = pd_cmp_order_messages(scratch, parsed->messages, parsed->n_messages, parsed_out);
    return rc;
}
