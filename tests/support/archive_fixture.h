/*
 * archive_fixture.h -- helpers for tests that use a real archive file:
 * temporary directories, archives created in them, SQL run through a
 * separate connection, and small sessions built in an arena.
 *
 * Every helper fails the running cmocka test (fail_msg) instead of
 * returning an error, so tests read as a list of steps.
 */
#ifndef PD_ARCHIVE_FIXTURE_H
#define PD_ARCHIVE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "common/arena.h"
#include "common/model.h"

/* Creates a new directory under $TMPDIR (default /tmp). Returns a malloc'd path. */
char *afx_tmpdir(void);
/* Removes dir and everything below it. */
void afx_rmtree(const char *dir);
/* Returns malloc'd "dir/name". */
char *afx_path(const char *dir, const char *name);

/* Creates an archive file at path (PD_ARCHIVE_CREATE) and returns it open. */
pd_archive *afx_create_archive(const char *path);

/* Runs SQL (one or more statements) on the file at path through its own connection. */
void afx_sql(const char *path, const char *sql);
/* The integer value of a one-row, one-column query; fails on no row or NULL. */
int64_t afx_sql_int(const char *path, const char *sql);
/* The text of a one-row, one-column query, malloc'd; NULL for SQL NULL. */
char *afx_sql_text(const char *path, const char *sql);
/* True when the one-row, one-column query yields SQL NULL. */
bool afx_sql_is_null(const char *path, const char *sql);

/*
 * Builds a session of n_exchanges exchanges in arena, ready for
 * pd_session_normalize(). Exchange k has three rows with ordinals 3k, 3k+1
 * and 3k+2. The first is a user prompt. The second is an assistant reply
 * with token usage and one tool call ("toolu_<id>_<k>", Bash for even k,
 * Read for odd k). The third is a user row with blank content that carries
 * the call's result, which normalisation drops. Text fields get distinct
 * values derived from id and the position, so a column swap shows up in a
 * round trip.
 */
pd_session *afx_session(pd_arena *arena, const char *id, const char *agent, size_t n_exchanges);

/* Adds a message with the given ordinal and role to s (arrays grow in arena). */
pd_message *afx_add_message(pd_arena *arena, pd_session *s, int64_t ordinal, const char *role,
                            const char *content);
/*
 * Adds a tool call to m. The array may move, so a pointer returned for an
 * earlier call of the same message is stale after the next one.
 */
pd_tool_call *afx_add_call(pd_arena *arena, pd_message *m, const char *tool_use_id,
                           const char *tool_name, const char *category);
/* Adds a tool result to m; content_length is the byte length of content. */
pd_tool_result *afx_add_result(pd_arena *arena, pd_message *m, const char *tool_use_id,
                               const char *content);
/* Adds a result event to tc. */
pd_tool_result_event *afx_add_event(pd_arena *arena, pd_tool_call *tc, const char *agent_id,
                                    const char *content);

#endif
