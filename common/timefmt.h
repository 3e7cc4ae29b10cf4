/*
 * timefmt.h -- RFC 3339 timestamps as the archive reads and writes them.
 *
 * Parsing accepts, first match wins: RFC 3339 with or without a fraction
 * (any number of fraction digits, zone Z or +hh:mm/-hh:mm),
 * "YYYY-MM-DDTHH:MM:SS[.ffffff]" without a zone (taken as UTC), and
 * "YYYY-MM-DD HH:MM:SS" (UTC). Anything else is "absent".
 * Formatting is UTC with the fraction's trailing zeros removed, no fraction
 * when it is zero, and the suffix Z: "2024-01-01T10:00:00Z",
 * "2026-05-02T12:33:24.669Z".
 *
 * pd_monotonic_ns() reads the monotonic clock that times run phases.
 *
 * Thread-safety: pure functions, apart from the two clock reads.
 */
#ifndef PD_TIMEFMT_H
#define PD_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Nanoseconds since the Unix epoch, UTC. */
typedef int64_t pd_time_ns;

/* Parses s[0..n); returns true and sets *out on success. */
bool pd_time_parse(const char *s, size_t n, pd_time_ns *out);

/* Longest formatted timestamp, with the NUL. */
#define PD_TIME_FMT_MAX 40

/* Formats t into buf (PD_TIME_FMT_MAX bytes) as the archive stores it; returns buf. */
char *pd_time_format(pd_time_ns t, char buf[PD_TIME_FMT_MAX]);
/* Formats t with second precision ("2026-12-04T19:59:57Z"), for report headers. */
char *pd_time_format_seconds(pd_time_ns t, char buf[PD_TIME_FMT_MAX]);

/* Calendar year of t in UTC. */
int pd_time_year(pd_time_ns t);

/* Current wall-clock time. */
pd_time_ns pd_time_now(void);

/* Monotonic clock in nanoseconds, for timing phases and timeouts. */
int64_t pd_monotonic_ns(void);

#endif
