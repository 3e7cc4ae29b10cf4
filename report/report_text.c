/*
 * report_text.c -- the human-readable form of a diff report.
 *
 * Entry point: pd_report_write_text() (report.h). Any thread may call it,
 * with one call per stream at a time.
 *
 * The sections come in this order: header (with the --limit note and the
 * interrupted line), vacuous-run warning, Summary, Changed fields, Parse
 * errors, Changed / Raced / Incremental-skew sessions, then in verbose mode
 * only the Pending-resync, Needs-retry, Excluded, Skipped and New sessions,
 * the incremental-skew note, and the footer. Each
 * ends with a blank line. Summary and the footer are always written, and the
 * others are left out when they have nothing to show.
 *
 * Every string taken from the report passes through
 * pd_report_sanitize_terminal() before it is measured or printed, because
 * session files and archive rows may contain escape sequences. The copies
 * live in a scratch arena that is freed before returning.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "report/report.h"
#include "report/report_utf8.h"

/* Rows shown per compact session section before the "... more" line. */
#define COMPACT_ROW_CAP 20
/* Bytes of a session ID shown in compact rows, after the host prefix. */
#define SHORT_ID_BYTES 13
/* A Claude fork's id is the transcript's UUID (36 bytes), '-', and the UUID of its first line. */
#define FORK_STEM_BYTES 36
#define MAX_COLUMNS 3

typedef struct text_ctx {
    FILE *out;
    pd_arena *arena; /* scratch copies, freed by pd_report_write_text */
    bool verbose;
    int rc;          /* first error while building strings, or PD_OK */
} text_ctx;

/*
 * Returns the terminal-safe copy of s ("" for NULL). On allocation failure it
 * records PD_ENOMEM and returns "", so rendering can go on and the caller
 * sees the error at the end.
 */
static const char *clean(text_ctx *ctx, const char *s)
{
    if (!s)
        return "";
    char *copy = pd_report_sanitize_terminal(ctx->arena, s);
    if (!copy) {
        if (ctx->rc == PD_OK)
            ctx->rc = PD_ENOMEM;
        return "";
    }
    return copy;
}

/* Same as clean(), but an empty or NULL s becomes placeholder. */
static const char *clean_or(text_ctx *ctx, const char *s, const char *placeholder)
{
    const char *c = clean(ctx, s);
    return c[0] != '\0' ? c : placeholder;
}

static const char *format_count(text_ctx *ctx, int64_t n)
{
    char *s = pd_arena_sprintf(ctx->arena, "%" PRId64, n);
    if (!s) {
        if (ctx->rc == PD_OK)
            ctx->rc = PD_ENOMEM;
        return "?";
    }
    return s;
}

/* Finishes b, recording PD_ENOMEM and returning "" when an append failed. */
static const char *finish_buf(text_ctx *ctx, pd_buf *b)
{
    char *s = pd_buf_finish(b);
    if (!s) {
        if (ctx->rc == PD_OK)
            ctx->rc = PD_ENOMEM;
        return "";
    }
    return s;
}

/*
 * Display width of sanitised (valid UTF-8) text, counted in code points.
 * NOTE: double-width (CJK, emoji) and zero-width characters count as one
 * column, so rows containing them are misaligned by that difference.
 */
static size_t text_width(const char *s)
{
    const unsigned char *in = (const unsigned char *)s;
    size_t n = strlen(s);
    size_t width = 0;
    size_t i = 0;

    while (i < n) {
        size_t len = pd_report_utf8_seq_len(in + i, n - i, NULL);
        i += len ? len : 1;
        width++;
    }
    return width;
}

static void write_spaces(FILE *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fputc(' ', out);
}

/*
 * Writes each line of s cleaned and indents every line after the first by
 * indent spaces, so a multi-line error message stays inside its section. The
 * filter turns a line break into a space, so s is split first.
 */
static void write_indented(text_ctx *ctx, const char *s, size_t indent)
{
    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t n = nl != NULL ? (size_t)(nl - s) : strlen(s);
        char *line = pd_arena_strndup(ctx->arena, s, n);
        if (line == NULL && ctx->rc == PD_OK)
            ctx->rc = PD_ENOMEM;
        fputs(clean(ctx, line), ctx->out);
        if (nl == NULL)
            return;
        fputc('\n', ctx->out);
        write_spaces(ctx->out, indent);
        s = nl + 1;
    }
}

/* ---- aligned tables ---------------------------------------------------- */

typedef struct table_row {
    const char *cells[MAX_COLUMNS];
} table_row;

/* Rows whose columns are padded to the widest cell; built in the scratch arena. */
typedef struct text_table {
    table_row *rows;
    size_t n_rows;
    size_t cap;
    size_t n_columns;
    unsigned right_aligned; /* bit i set: column i is right-aligned */
} text_table;

static void table_init(text_table *t, size_t n_columns, unsigned right_aligned)
{
    memset(t, 0, sizeof(*t));
    t->n_columns = n_columns;
    t->right_aligned = right_aligned;
}

/* Appends a row; cells beyond the table's column count are ignored. */
static void table_add(text_ctx *ctx, text_table *t, const char *c0, const char *c1,
                      const char *c2)
{
    if (t->n_rows == t->cap) {
        size_t new_cap = t->cap ? t->cap * 2 : 16;
        table_row *grown = pd_arena_grow(ctx->arena, t->rows, t->n_rows, new_cap, sizeof(*grown));
        if (!grown) {
            if (ctx->rc == PD_OK)
                ctx->rc = PD_ENOMEM;
            return;
        }
        t->rows = grown;
        t->cap = new_cap;
    }
    table_row *row = &t->rows[t->n_rows++];
    row->cells[0] = c0;
    row->cells[1] = c1;
    row->cells[2] = c2;
}

/*
 * Writes each row as "  " followed by its cells separated by two spaces.
 * Trailing empty cells and the padding after the last printed cell are left
 * out, so no line ends in spaces.
 */
static void table_write(FILE *out, const text_table *t)
{
    size_t widths[MAX_COLUMNS] = {0};

    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_columns; c++) {
            size_t w = text_width(t->rows[r].cells[c]);
            if (w > widths[c])
                widths[c] = w;
        }
    }

    for (size_t r = 0; r < t->n_rows; r++) {
        const table_row *row = &t->rows[r];
        size_t last = 0;
        for (size_t c = 0; c < t->n_columns; c++) {
            if (row->cells[c][0] != '\0')
                last = c;
        }

        fputs("  ", out);
        for (size_t c = 0; c <= last; c++) {
            size_t pad = widths[c] - text_width(row->cells[c]);
            bool right = (t->right_aligned >> c) & 1u;
            if (c > 0)
                fputs("  ", out);
            if (right)
                write_spaces(out, pad);
            fputs(row->cells[c], out);
            if (!right && c < last)
                write_spaces(out, pad);
        }
        fputc('\n', out);
    }
}

/* ---- header and summary ------------------------------------------------- */

static const char *agents_label(text_ctx *ctx, const pd_diff_report *r)
{
    if (!r->agents_restricted)
        return "all agents";

    pd_buf b;
    pd_buf_init(&b, ctx->arena);
    for (size_t i = 0; i < r->n_agents; i++) {
        if (i > 0)
            pd_buf_puts(&b, ", ");
        pd_buf_puts(&b, clean(ctx, r->agents[i]));
    }
    return finish_buf(ctx, &b);
}

static void write_interrupted_line(FILE *out)
{
    fputs("Interrupted; partial results: the run was cancelled before every file was "
          "re-parsed, so these counts are incomplete.\n",
          out);
}

static void write_header(text_ctx *ctx, const pd_diff_report *r)
{
    fprintf(ctx->out,
            "Parse diff: %" PRId64 " %s re-parsed (%s) against %s (data version %" PRId64 ")\n",
            r->files_examined, r->files_examined == 1 ? "file" : "files", agents_label(ctx, r),
            clean_or(ctx, r->db_path, "(unknown archive)"), r->data_version);
    if (r->interrupted)
        write_interrupted_line(ctx->out);
    if (r->files_limited)
        fputs("Note: --limit truncated discovery; totals cover a sample.\n", ctx->out);
    fputc('\n', ctx->out);

    if (pd_diff_report_is_vacuous(r)) {
        fputs("Warning: this binary's data version is ahead of every examined session, so all "
              "of them are pending resync and no drift can be detected.\n"
              "Re-run with a binary built before the data-version bump, or against a freshly "
              "resynced archive.\n\n",
              ctx->out);
    } else if (r->totals.examined == 0 && r->totals.parse_errors == 0 &&
               r->totals.transient_needs_retry == 0 && r->totals.excluded_by_parser == 0 &&
               !r->interrupted) {
        /* A wrong root or archive passes --fail-on-change alone, and a CI log may keep only stdout.
         */
        fputs("Warning: no stored session was compared with a transcript, so this report cannot "
              "show drift.\nCheck --source and --db; the warnings on stderr name the likely "
              "cause.\n\n",
              ctx->out);
    }
}

typedef struct summary_line {
    const char *label;
    int64_t count;
    const char *note; /* "" for none */
    bool always;      /* shown even when count is 0 */
} summary_line;

static void write_summary(text_ctx *ctx, const pd_diff_report *r)
{
    const pd_diff_totals *t = &r->totals;
    const summary_line lines[] = {
        {"Examined", t->examined, "(compared with a stored row)", true},
        {"Identical", t->identical, "", false},
        {"Changed", t->changed, "", false},
        {"Pending resync", t->pending_resync,
         "(stored by an older data version; not counted as drift)", false},
        {"New on disk", t->new_on_disk, "(found on disk, not in the archive)", false},
        {"Skipped", t->skipped,
         ctx->verbose ? "(not compared; the reasons are listed below)"
                      : "(not compared; --verbose lists the reasons)",
         false},
        {"Raced", t->raced, "(source written after its row was stored; not counted as drift)",
         false},
        {"Incremental skew", t->incremental_skew,
         "(differences left by incremental writes; not counted as drift)", false},
        {"Excluded by parser", t->excluded_by_parser, "(sources the parser does not store)", false},
        {"Parse errors", t->parse_errors, "(the current parser failed on the source)", false},
        {"Needs retry", t->transient_needs_retry,
         "(Codex parent rollout missing, not compared; a later run retries it)", false},
        {"Informational only", t->informational_only,
         "(identical except for informational differences)", false},
    };
    text_table table;

    table_init(&table, 3, 1u << 1);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        if (lines[i].count == 0 && !lines[i].always)
            continue;
        table_add(ctx, &table, lines[i].label, format_count(ctx, lines[i].count), lines[i].note);
    }

    fputs("Summary\n", ctx->out);
    table_write(ctx->out, &table);
    fputc('\n', ctx->out);
}

/* Count descending, then name ascending. */
static int compare_field_counts(const void *pa, const void *pb)
{
    const pd_field_count *a = *(const pd_field_count *const *)pa;
    const pd_field_count *b = *(const pd_field_count *const *)pb;

    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->field ? a->field : "", b->field ? b->field : "");
}

static void write_field_counts(text_ctx *ctx, const pd_diff_report *r)
{
    if (r->n_field_counts == 0)
        return;

    const pd_field_count **sorted =
        pd_arena_calloc(ctx->arena, r->n_field_counts, sizeof(*sorted));
    if (!sorted) {
        if (ctx->rc == PD_OK)
            ctx->rc = PD_ENOMEM;
        return;
    }
    for (size_t i = 0; i < r->n_field_counts; i++)
        sorted[i] = &r->field_counts[i];
    qsort(sorted, r->n_field_counts, sizeof(*sorted), compare_field_counts);

    text_table table;
    table_init(&table, 2, 1u << 1);
    for (size_t i = 0; i < r->n_field_counts; i++)
        table_add(ctx, &table, clean(ctx, sorted[i]->field), format_count(ctx, sorted[i]->count), "");

    fputs("Changed fields (sessions affected)\n", ctx->out);
    table_write(ctx->out, &table);
    fputc('\n', ctx->out);
}

/* ---- session listings --------------------------------------------------- */

static size_t count_class(const pd_diff_report *r, pd_diff_class cls)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].cls == cls)
            n++;
    }
    return n;
}

static void write_parse_errors(text_ctx *ctx, const pd_diff_report *r)
{
    /* Reason lines are indented below their "agent  path" line. */
    static const size_t reason_indent = 4;
    size_t agent_width = 0;

    if (count_class(r, PD_CLASS_PARSE_ERROR) == 0)
        return;

    for (size_t i = 0; i < r->n_sessions; i++) {
        if (r->sessions[i].cls != PD_CLASS_PARSE_ERROR)
            continue;
        size_t w = text_width(clean(ctx, r->sessions[i].agent));
        if (w > agent_width)
            agent_width = w;
    }

    fputs("Parse errors\n", ctx->out);
    for (size_t i = 0; i < r->n_sessions; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls != PD_CLASS_PARSE_ERROR)
            continue;

        const char *agent = clean(ctx, e->agent);
        fputs("  ", ctx->out);
        fputs(agent, ctx->out);
        write_spaces(ctx->out, agent_width - text_width(agent));
        fputs("  ", ctx->out);
        fputs(clean_or(ctx, e->file_path, "(unknown file)"), ctx->out);
        fputc('\n', ctx->out);

        /* Reasons name their file for stderr; the line above already does. */
        const char *reason = e->reason;
        size_t path_len = e->file_path != NULL ? strlen(e->file_path) : 0;
        if (reason != NULL && path_len > 0 && strncmp(reason, e->file_path, path_len) == 0 &&
            reason[path_len] == ':' && reason[path_len + 1] == ' ')
            reason += path_len + 2;
        write_spaces(ctx->out, reason_indent);
        write_indented(ctx, reason != NULL && reason[0] != '\0' ? reason : "(no reason recorded)",
                       reason_indent);
        fputc('\n', ctx->out);
    }
    fputc('\n', ctx->out);
}

/*
 * Text after the last '~' (the host prefix) and after an "agent:" prefix, cut
 * to SHORT_ID_BYTES bytes. The agent column already names the agent, and a
 * UUIDv7 needs its first 12 hex digits (the millisecond time) plus one more
 * to tell sessions apart, so 8 bytes of "codex:01..." would all look alike.
 * A fork's id shows 8 bytes of each of its two UUIDs, so that it does not
 * look like the session it forked from.
 */
static const char *short_id(text_ctx *ctx, const char *id)
{
    /* A file the archive stores no session of: "-" keeps the column readable. */
    if (!id || id[0] == '\0')
        return "-";

    const char *tilde = strrchr(id, '~');
    const char *tail = tilde ? tilde + 1 : id;
    const char *colon = strchr(tail, ':');
    if (colon != NULL && colon[1] != '\0')
        tail = colon + 1;
    char *cut;
    if (strlen(tail) > FORK_STEM_BYTES + 1 && tail[FORK_STEM_BYTES] == '-') {
        /* A Claude fork: the start of the transcript's id, then of the branch's. */
        cut = pd_arena_sprintf(ctx->arena, "%.8s..%.8s", tail, tail + FORK_STEM_BYTES + 1);
    } else {
        cut = pd_arena_strndup(ctx->arena, tail, strnlen(tail, SHORT_ID_BYTES));
    }
    if (!cut) {
        if (ctx->rc == PD_OK)
            ctx->rc = PD_ENOMEM;
        return "";
    }
    /* A multi-byte character cut in half is dropped here as invalid UTF-8. */
    return clean(ctx, cut);
}

/*
 * Non-informational field names in diff order, joined with ", ". When every
 * diff is informational, all names are listed, each with " [informational]".
 */
static const char *field_summary(text_ctx *ctx, const pd_diff_entry *e)
{
    bool any_real = false;
    for (size_t i = 0; i < e->n_fields; i++) {
        if (!e->fields[i].informational)
            any_real = true;
    }

    pd_buf b;
    size_t listed = 0;
    pd_buf_init(&b, ctx->arena);
    for (size_t i = 0; i < e->n_fields; i++) {
        const pd_field_diff *f = &e->fields[i];
        if (any_real && f->informational)
            continue;
        if (listed++ > 0)
            pd_buf_puts(&b, ", ");
        pd_buf_puts(&b, f->field ? f->field : "");
        if (!any_real)
            pd_buf_puts(&b, " [informational]");
    }
    const char *joined = finish_buf(ctx, &b);
    return clean(ctx, joined);
}

/* "  <agent>  <full id>[  <file path>]", then one line per field diff. */
static void write_verbose_block(text_ctx *ctx, const pd_diff_entry *e)
{
    FILE *out = ctx->out;

    fprintf(out, "  %s  %s", clean(ctx, e->agent), clean_or(ctx, e->session_id, "-"));
    if (e->file_path && e->file_path[0] != '\0')
        fprintf(out, "  %s", clean(ctx, e->file_path));
    fputc('\n', out);
    if (e->reason != NULL && e->reason[0] != '\0')
        fprintf(out, "    reason: %s\n", clean(ctx, e->reason));

    for (size_t i = 0; i < e->n_fields; i++) {
        const pd_field_diff *f = &e->fields[i];
        bool has_detail = f->detail && f->detail[0] != '\0';
        /* Message families put "see detail" on both sides, and fingerprint
         * diffs put "fingerprint": for those only the detail is printed. Two
         * long texts cut to the same first characters keep both sides. */
        bool detail_only =
            has_detail && f->stored != NULL && f->parsed != NULL &&
            strcmp(f->stored, f->parsed) == 0 &&
            (strcmp(f->stored, "see detail") == 0 || strcmp(f->stored, "fingerprint") == 0);
        if (detail_only) {
            fprintf(out, "    %s: %s", clean(ctx, f->field), clean(ctx, f->detail));
        } else {
            fprintf(out, "    %s: %s -> %s", clean(ctx, f->field), clean(ctx, f->stored),
                    clean(ctx, f->parsed));
            if (has_detail)
                fprintf(out, " (%s)", clean(ctx, f->detail));
        }
        if (f->informational)
            fputs(" [informational]", out);
        fputc('\n', out);
    }
}

/*
 * Writes one listing section for the entries of class cls. Compact mode
 * prints an aligned row per entry up to COMPACT_ROW_CAP, and verbose mode
 * prints a block per entry without a cap. with_fields_only skips entries
 * that carry no field diffs, as the pending-resync drill-down needs.
 */
static void write_session_section(text_ctx *ctx, const pd_diff_report *r, pd_diff_class cls,
                                  const char *title, bool with_fields_only)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n_sessions; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls == cls && (!with_fields_only || e->n_fields > 0))
            total++;
    }
    if (total == 0)
        return;

    fprintf(ctx->out, "%s\n", title);

    if (ctx->verbose) {
        /* A small --limit sample would otherwise list nearly the whole archive here. */
        size_t not_sampled = 0;
        for (size_t i = 0; i < r->n_sessions; i++) {
            const pd_diff_entry *e = &r->sessions[i];
            if (e->cls != cls || (with_fields_only && e->n_fields == 0))
                continue;
            if (cls == PD_CLASS_SKIPPED && e->reason != NULL &&
                strcmp(e->reason, PD_REASON_NOT_SAMPLED) == 0)
                not_sampled++;
            else
                write_verbose_block(ctx, e);
        }
        if (not_sampled > 0)
            fprintf(ctx->out, "  %zu stored session%s not sampled by --limit (--json lists %s)\n",
                    not_sampled, not_sampled == 1 ? "" : "s", not_sampled == 1 ? "it" : "them");
        fputc('\n', ctx->out);
        return;
    }

    text_table table;
    table_init(&table, 3, 0);
    for (size_t i = 0; i < r->n_sessions && table.n_rows < COMPACT_ROW_CAP; i++) {
        const pd_diff_entry *e = &r->sessions[i];
        if (e->cls != cls || (with_fields_only && e->n_fields == 0))
            continue;
        table_add(ctx, &table, clean(ctx, e->agent), short_id(ctx, e->session_id),
                  field_summary(ctx, e));
    }
    table_write(ctx->out, &table);
    if (total > table.n_rows)
        fprintf(ctx->out, "  ... (%zu more; use --verbose or --json)\n", total - table.n_rows);
    fputc('\n', ctx->out);
}

static void write_skew_note(text_ctx *ctx, const pd_diff_report *r)
{
    if (r->totals.incremental_skew <= 0)
        return;

    fprintf(ctx->out,
            "Note: %" PRId64 " session(s) were last written through the incremental-append path, "
            "and their differences are confined to fields that path is known to leave stale.\n"
            "They do not trip --fail-on-change. Run a full resync (parsediff sync --full) to get a "
            "clean baseline.\n\n",
            r->totals.incremental_skew);
}

/* Writes the per-phase times of --timings, in seconds, as the JSON report gives them in ms. */
static void write_timings(text_ctx *ctx, const pd_diff_report *r)
{
    const pd_diff_timings *t = &r->timings;
    if (!t->enabled)
        return;

    fprintf(ctx->out,
            "Timings (s; read to compare summed over workers)\n"
            "  snapshot %.3f  discovery %.3f  read %.3f  parse %.3f  stored_reads %.3f\n"
            "  compare %.3f  collect %.3f  wait %.3f  sweeps %.3f  total %.3f\n\n",
            t->snapshot_ms / 1e3, t->discovery_ms / 1e3, t->read_ms / 1e3, t->parse_ms / 1e3,
            t->stored_reads_ms / 1e3, t->compare_ms / 1e3, t->collect_ms / 1e3, t->wait_ms / 1e3,
            t->sweeps_ms / 1e3, t->total_ms / 1e3);
}

int pd_report_write_text(FILE *out, const pd_diff_report *r, bool verbose)
{
    text_ctx ctx = {.out = out, .verbose = verbose, .rc = PD_OK};
    int rc = PD_OK;

    ctx.arena = pd_arena_new();
    if (!ctx.arena)
        return PD_ENOMEM;

    write_header(&ctx, r);
    write_summary(&ctx, r);
    write_field_counts(&ctx, r);
    write_parse_errors(&ctx, r);
    write_session_section(&ctx, r, PD_CLASS_CHANGED, "Changed sessions", false);
    write_session_section(
        &ctx, r, PD_CLASS_RACED,
        "Raced sessions (source written after its row was stored; not counted as drift)", false);
    write_session_section(
        &ctx, r, PD_CLASS_INCREMENTAL_SKEW,
        "Incremental-skew sessions (last written incrementally; not counted as drift)", false);
    if (verbose) {
        write_session_section(&ctx, r, PD_CLASS_PENDING_RESYNC,
                              "Pending-resync sessions (not counted; resync rewrites these)", true);
        write_session_section(&ctx, r, PD_CLASS_NEEDS_RETRY,
                              "Needs-retry sessions (not compared; a later sync retries them)",
                              false);
        write_session_section(&ctx, r, PD_CLASS_EXCLUDED_BY_PARSER,
                              "Excluded sessions (the parser leaves them out)", false);
        write_session_section(&ctx, r, PD_CLASS_SKIPPED, "Skipped sessions (not compared)", false);
        write_session_section(&ctx, r, PD_CLASS_NEW_ON_DISK,
                              "New sessions (found on disk, not in the archive)", false);
        write_session_section(
            &ctx, r, PD_CLASS_IDENTICAL,
            "Informational differences (identical sessions; never counted as drift)", true);
    }
    write_skew_note(&ctx, r);
    write_timings(&ctx, r);

    fprintf(out, "%" PRId64 " %s changed, %" PRId64 " identical.\n", r->totals.changed,
            r->totals.changed == 1 ? "session" : "sessions", r->totals.identical);
    if (r->interrupted)
        write_interrupted_line(out);

    rc = ctx.rc;
    if (fflush(out) != 0 || ferror(out)) {
        if (rc == PD_OK)
            rc = PD_EIO;
    }
    pd_arena_free(ctx.arena);
    return rc;
}
