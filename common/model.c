/*
 * model.c -- initialisation of the session model.
 *
 * Entry point: pd_session_init(), called by parsers and archive/ before they
 * fill a pd_session. Pure; any thread may call it on a session it owns.
 */
#include "common/model.h"

#include <string.h>

void pd_session_init(pd_session *s)
{
    memset(s, 0, sizeof *s);

    /* Nullable integer columns start as SQL NULL rather than 0. */
    s->file_size = PD_INT_NULL;
    s->file_mtime = PD_INT_NULL;
    s->file_inode = PD_INT_NULL;
    s->file_device = PD_INT_NULL;
    s->claude_linear_parse = PD_INT_NULL;
}
