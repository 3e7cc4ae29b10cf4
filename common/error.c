/*
 * error.c -- names and messages of the parsediff error codes, and pd_err.
 *
 * Entry points: pd_strerror_name(), pd_strerror(), pd_err_set_at() (through
 * the pd_err_set macro), pd_err_clear().
 *
 * Threading: the tables are constant, so any thread may call the lookups. A
 * pd_err is written only by the thread that owns it.
 */
#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pd_strerror_name(int code)
{
    switch (code) {
#define PD_ERROR_NAME_CASE(name, value, message)                                                   \
    case value:                                                                                    \
        return #name;
        PD_ERROR_TABLE(PD_ERROR_NAME_CASE)
#undef PD_ERROR_NAME_CASE
    default:
        return "PD_E?";
    }
}

const char *pd_strerror(int code)
{
    switch (code) {
#define PD_ERROR_MESSAGE_CASE(name, value, message)                                                \
    case value:                                                                                    \
        return message;
        PD_ERROR_TABLE(PD_ERROR_MESSAGE_CASE)
#undef PD_ERROR_MESSAGE_CASE
    default:
        return "unknown error";
    }
}

int pd_err_set_at(pd_err *err, int code, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    /* The first error wins, so a cleanup path cannot hide the original cause. */
    if (err == NULL || err->code != PD_OK)
        return code;

    err->code = code;
    err->origin_file = file;
    err->origin_line = line;
    err->msg[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    if (err->msg[0] == '\0')
        snprintf(err->msg, sizeof err->msg, "%s", pd_strerror(code));
    return code;
}

void pd_err_clear(pd_err *err)
{
    if (err == NULL)
        return;
    memset(err, 0, sizeof *err);
}
