/*
 * report_json.c -- the JSON form of a diff report.
 *
 * Entry point: pd_report_write_json() (report.h). Any thread may call it,
 * with one call per stream at a time.
 *
 * Layout: one member or element per line, indented two spaces per level,
 * empty arrays and objects written as [] and {}, and a newline after the
 * closing brace. Keys have a fixed order so that reports of two runs can be
 * compared with a plain text diff. The writer streams straight to the FILE
 * and allocates nothing.
 */
#include <inttypes.h>
#include <string.h>

#include "common/error.h"
#include "report/report.h"
#include "report/report_utf8.h"

/* UTF-8 encoding of U+FFFD, written in place of each invalid byte. */
static const char replacement_char[] = "\xEF\xBF\xBD";

static void write_indent(FILE *out, int depth)
{
    for (int i = 0; i < depth; i++)
        fputs("  ", out);
}

static void write_string(FILE *out, const char *s)
{
    if (!s)
        s = "";

    const unsigned char *in = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t i = 0;

    fputc('"', out);
    while (i < n) {
        unsigned char b = in[i];

        if (b == '"' || b == '\\') {
            fputc('\\', out);
            fputc(b, out);
            i++;
        } else if (b < 0x20) {
            switch (b) {
            case '\n':
                fputs("\\n", out);
                break;
            case '\r':
                fputs("\\r", out);
                break;
            case '\t':
                fputs("\\t", out);
                break;
            case '\b':
                fputs("\\b", out);
                break;
            case '\f':
                fputs("\\f", out);
                break;
            default:
                fprintf(out, "\\u%04x", (unsigned)b);
                break;
            }
            i++;
        } else if (b < 0x80) {
            fputc(b, out);
            i++;
        } else {
            size_t len = pd_report_utf8_seq_len(in + i, n - i, NULL);
            if (len == 0) {
                fputs(replacement_char, out);
                i++;
            } else {
                fwrite(in + i, 1, len, out);
                i += len;
            }
        }
    }
    fputc('"', out);
}

/*
 * Writes the separator before a member and its key. first is true for the
 * first member of an object, which needs no comma.
 */
static void write_key(FILE *out, int depth, bool *first, const char *key)
{
    fputs(*first ? "\n" : ",\n", out);
    *first = false;
    write_indent(out, depth);
    write_string(out, key);
    fputs(": ", out);
}

static void write_int_member(FILE *out, int depth, bool *first, const char *key, int64_t v)
{
    write_key(out, depth, first, key);
    fprintf(out, "%" PRId64, v);
}

static void write_bool_member(FILE *out, int depth, bool *first, const char *key, bool v)
{
    write_key(out, depth, first, key);
    fputs(v ? "true" : "false", out);
}

static void write_string_member(FILE *out, int depth, bool *first, const char *key,
                                const char *v)
{
    write_key(out, depth, first, key);
    write_string(out, v);
}

/* Writes the closing bracket of a container that had at least one member. */
static void write_close(FILE *out, int depth, char bracket)
{
    fputc('\n', out);
    write_indent(out, depth);
    fputc(bracket, out);
}

static void write_agents(FILE *out, const pd_diff_report *r)
{
    if (r->n_agents == 0) {
        fputs("[]", out);
        return;
    }
    fputc('[', out);
    for (size_t i = 0; i < r->n_agents; i++) {
        fputs(i == 0 ? "\n" : ",\n", out);
        write_indent(out, 2);
        write_string(out, r->agents[i]);
    }
    write_close(out, 1, ']');
}

static void write_totals(FILE *out, const pd_diff_totals *t)
{
    bool first = true;

    fputc('{', out);
    write_int_member(out, 2, &first, "examined", t->examined);
    write_int_member(out, 2, &first, "identical", t->identical);
    write_int_member(out, 2, &first, "changed", t->changed);
    write_int_member(out, 2, &first, "pending_resync", t->pending_resync);
    write_int_member(out, 2, &first, "new_on_disk", t->new_on_disk);
    write_int_member(out, 2, &first, "parse_errors", t->parse_errors);
    write_int_member(out, 2, &first, "excluded_by_parser", t->excluded_by_parser);
    write_int_member(out, 2, &first, "transient_needs_retry", t->transient_needs_retry);
    write_int_member(out, 2, &first, "skipped", t->skipped);
    write_int_member(out, 2, &first, "raced", t->raced);
    write_int_member(out, 2, &first, "incremental_skew", t->incremental_skew);
    write_int_member(out, 2, &first, "informational_only", t->informational_only);
    write_close(out, 1, '}');
}

/* Orders field counts by name, then by position so duplicates keep an order. */
static bool field_count_before(const pd_diff_report *r, size_t a, size_t b)
{
    const char *name_a = r->field_counts[a].field ? r->field_counts[a].field : "";
    const char *name_b = r->field_counts[b].field ? r->field_counts[b].field : "";
    int cmp = strcmp(name_a, name_b);
    return cmp < 0 || (cmp == 0 && a < b);
}

static void write_field_counts(FILE *out, const pd_diff_report *r)
{
    if (r->n_field_counts == 0) {
        fputs("{}", out);
        return;
    }

    /*
     * The engine keeps field_counts sorted, but the sort is repeated here so
     * the output order never depends on the caller. Selecting the next
     * smallest entry on each pass costs O(n^2) but allocates nothing. n is
     * the number of distinct comparator field names, a few dozen at most.
     */
    bool first = true;
    size_t prev = SIZE_MAX;
    fputc('{', out);
    for (size_t emitted = 0; emitted < r->n_field_counts; emitted++) {
        size_t next = SIZE_MAX;
        for (size_t i = 0; i < r->n_field_counts; i++) {
            if (prev != SIZE_MAX && !field_count_before(r, prev, i))
                continue;
            if (next == SIZE_MAX || field_count_before(r, i, next))
                next = i;
        }
        write_int_member(out, 2, &first, r->field_counts[next].field, r->field_counts[next].count);
        prev = next;
    }
    write_close(out, 1, '}');
}

static void write_field_diff(FILE *out, const pd_field_diff *f)
{
    bool first = true;

    fputc('{', out);
    write_string_member(out, 5, &first, "field", f->field);
    write_string_member(out, 5, &first, "stored", f->stored);
    write_string_member(out, 5, &first, "parsed", f->parsed);
    if (f->detail)
        write_string_member(out, 5, &first, "detail", f->detail);
    write_bool_member(out, 5, &first, "informational", f->informational);
    write_close(out, 4, '}');
}

static void write_session(FILE *out, const pd_diff_entry *e)
{
    bool first = true;

    fputc('{', out);
    if (e->session_id)
        write_string_member(out, 3, &first, "session_id", e->session_id);
    write_string_member(out, 3, &first, "agent", e->agent);
    if (e->file_path)
        write_string_member(out, 3, &first, "file_path", e->file_path);
    write_string_member(out, 3, &first, "class", pd_diff_class_name(e->cls));
    if (e->reason)
        write_string_member(out, 3, &first, "reason", e->reason);
    write_int_member(out, 3, &first, "stored_data_version", e->stored_data_version);

    if (e->n_fields > 0) {
        write_key(out, 3, &first, "fields");
        fputc('[', out);
        for (size_t i = 0; i < e->n_fields; i++) {
            fputs(i == 0 ? "\n" : ",\n", out);
            write_indent(out, 4);
            write_field_diff(out, &e->fields[i]);
        }
        write_close(out, 3, ']');
    }
    write_close(out, 2, '}');
}

/* Writes "timings": {...} with each phase in milliseconds, three decimals. */
static void write_timings(FILE *out, bool *first, const pd_diff_timings *t)
{
    const struct {
        const char *name;
        double ms;
    } phases[] = {
        {"snapshot", t->snapshot_ms},     {"discovery", t->discovery_ms},
        {"read", t->read_ms},             {"parse", t->parse_ms},
        {"stored_reads", t->stored_reads_ms}, {"compare", t->compare_ms},
        {"collect", t->collect_ms},       {"wait", t->wait_ms},
        {"sweeps", t->sweeps_ms},
        {"total", t->total_ms},
    };
    write_key(out, 1, first, "timings");
    fputc('{', out);
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        fputs(i == 0 ? "\n" : ",\n", out);
        write_indent(out, 2);
        fprintf(out, "\"%s\": %.3f", phases[i].name, phases[i].ms);
    }
    write_close(out, 1, '}');
}

int pd_report_write_json(FILE *out, const pd_diff_report *r)
{
    bool first = true;

    fputc('{', out);
    write_string_member(out, 1, &first, "generated_at", r->generated_at);
    write_int_member(out, 1, &first, "data_version", r->data_version);
    if (r->db_path && r->db_path[0] != '\0')
        write_string_member(out, 1, &first, "db_path", r->db_path);
    write_key(out, 1, &first, "agents");
    write_agents(out, r);
    write_int_member(out, 1, &first, "files_examined", r->files_examined);
    write_bool_member(out, 1, &first, "files_limited", r->files_limited);
    write_key(out, 1, &first, "totals");
    write_totals(out, &r->totals);
    write_key(out, 1, &first, "field_counts");
    write_field_counts(out, r);

    write_key(out, 1, &first, "sessions");
    if (r->n_sessions == 0) {
        fputs("[]", out);
    } else {
        fputc('[', out);
        for (size_t i = 0; i < r->n_sessions; i++) {
            /* Stop early on a closed pipe or a full disk, because the rest would be lost. */
            if (ferror(out))
                return PD_EIO;
            fputs(i == 0 ? "\n" : ",\n", out);
            write_indent(out, 2);
            write_session(out, &r->sessions[i]);
        }
        write_close(out, 1, ']');
    }

    if (r->interrupted)
        write_bool_member(out, 1, &first, "interrupted", true);
    if (r->timings.enabled)
        write_timings(out, &first, &r->timings);
    fputs("\n}\n", out);

    if (fflush(out) != 0 || ferror(out))
        return PD_EIO;
    return PD_OK;
}
