/*
 * diffreport.c -- class names and the verdicts derived from a report's totals.
 *
 * Entry points: pd_diff_class_name() while building and rendering entries,
 * pd_diff_report_has_failures() and pd_diff_report_is_vacuous() when cli/
 * picks the exit code.
 *
 * Thread-safety: pure functions over constant data or a finished report.
 */
#include "engine/diffreport.h"

#include <stddef.h>
#include <string.h>

const char *pd_diff_class_name(pd_diff_class c)
{
    static const char *const names[PD_CLASS_COUNT] = {
        [PD_CLASS_IDENTICAL] = "identical",
        [PD_CLASS_CHANGED] = "changed",
        [PD_CLASS_PENDING_RESYNC] = "pending_resync",
        [PD_CLASS_NEW_ON_DISK] = "new_on_disk",
        [PD_CLASS_PARSE_ERROR] = "parse_error",
        [PD_CLASS_EXCLUDED_BY_PARSER] = "excluded_by_parser",
        [PD_CLASS_NEEDS_RETRY] = "transient_needs_retry",
        [PD_CLASS_SKIPPED] = "skipped",
        [PD_CLASS_RACED] = "raced",
        [PD_CLASS_INCREMENTAL_SKEW] = "incremental_skew",
    };
    if ((int)c < 0 || c >= PD_CLASS_COUNT)
        return "unknown";
    return names[c];
}

/* Only drift fails a run: raced, skewed, pending, skipped, new, excluded,
 * retried and informational-only sessions never do. */
bool pd_diff_report_has_failures(const pd_diff_report *r)
{
    if (r == NULL)
        return false;
    return r->totals.changed > 0 || r->totals.parse_errors > 0;
}

/* A run where every compared session was pending a resync compared nothing
 * against the current parser, so a clean result would prove nothing. */
bool pd_diff_report_is_vacuous(const pd_diff_report *r)
{
    if (r == NULL)
        return false;
    return r->totals.examined > 0 && r->totals.examined == r->totals.pending_resync;
}
