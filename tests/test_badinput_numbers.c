/*
 * test_badinput_numbers.c -- token counts outside every integer range,
 * run through sync and diff next to good sessions.
 *
 * JSON numbers have no range, so a transcript can carry token counts such
 * as 1e400 or -1e23. The parsers must store them clamped (per message to
 * [0, 2000000]) and must not overflow while they add them up. These cases
 * live apart from test_badinput.c because an overflow stops the whole
 * program under UBSan, which would hide the results of the other cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "tests/support/engine_fixture.h"
#include "tests/test_badinput_support.h"

static void codex_out_of_range_numbers_clamped(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /* Token counts beyond double, int64 and uint64 range, in both usage objects. */
    bytes_add_line(&t, CODEX_META_LINE);
    bytes_add_line(&t, CODEX_USER_LINE);
    bytes_add_line(&t, CODEX_ASSISTANT_LINE);
    for (int i = 0; i < 2; i++) {
        bytes_add_line(&t, "{'timestamp':'2026-02-01T11:00:03.000Z','type':'event_msg','payload':"
                           "{'type':'token_count','info':{'last_token_usage':{'input_tokens':"
                           "-99999999999999999999999,'cached_input_tokens':9223372036854775808,"
                           "'output_tokens':-99999999999999999999999,'reasoning_output_tokens':"
                           "1e400},'total_token_usage':{'input_tokens':1e400,'output_tokens':"
                           "-1e400}}}}");
    }
    write_bytes(b->bad_codex, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, "codex:" BAD_CODEX, 2, 0, 0);
    char *sql = fx_fmt("SELECT count(*) FROM messages WHERE session_id = 'codex:%s' AND "
                       "(output_tokens < 0 OR output_tokens > 2000000 OR context_tokens < 0 OR "
                       "context_tokens > 2000000)",
                       BAD_CODEX);
    assert_int_equal(fx_sql_int(b->env.db, sql), 0);
    free(sql);
    diff_all_identical(b, 3);
}

static void claude_out_of_range_numbers_clamped(void **state)
{
    batch *b = *state;
    bytes t = {0};

    /* Token counts beyond double, int64 and uint64 range, negative ones and a huge exponent. */
    bytes_add_line(&t, CLAUDE_USER_LINE);
    bytes_add_line(&t,
                   "{'type':'assistant','uuid':'u2','parentUuid':'u1','sessionId':'" BAD_CLAUDE
                   "','requestId':'req_b1','timestamp':'2026-01-07T09:00:03.000Z','message':{"
                   "'id':'msg_b1','type':'message','role':'assistant','model':'claude-sonnet-4-5',"
                   "'content':[{'type':'text','text':'Plotted.'}],'stop_reason':'end_turn',"
                   "'usage':{'input_tokens':1e400,'output_tokens':-99999999999999999999999,"
                   "'cache_read_input_tokens':18446744073709551616,"
                   "'cache_creation_input_tokens':-1e-400}}}");
    bytes_add_line(&t,
                   "{'type':'assistant','uuid':'u3','parentUuid':'u2','sessionId':'" BAD_CLAUDE
                   "','requestId':'req_b2','timestamp':'2026-01-07T09:00:04.000Z','message':{"
                   "'id':'msg_b2','type':'message','role':'assistant','model':'claude-sonnet-4-5',"
                   "'content':[{'type':'text','text':'Again.'}],'stop_reason':'end_turn',"
                   "'usage':{'input_tokens':9223372036854775807,'output_tokens':"
                   "9223372036854775808}}}");
    write_bytes(b->bad_claude, t.data, t.len);
    free(t.data);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 3, 0, 0);
    /* Per-message token counts are clamped to [0, 2000000] before they are stored. */
    char *sql = fx_fmt("SELECT count(*) FROM messages WHERE session_id = '%s' AND "
                       "(output_tokens < 0 OR output_tokens > 2000000 OR context_tokens < 0 OR "
                       "context_tokens > 2000000)",
                       BAD_CLAUDE);
    assert_int_equal(fx_sql_int(b->env.db, sql), 0);
    free(sql);
    diff_all_identical(b, 3);
}

/*
 * The crash input of fuzz_claude, minimized to two lines. Each token count
 * exceeds INT64_MAX and reads as INT64_MIN, because pd_json_int follows
 * Go's float-to-int64 conversion on amd64, so the session total overflows.
 */
static const char fuzz_overflow_input[] = "{\"type\":\"assistant\",\"message\":{\"content\":\"e\","
                                          "\"usage\":{\"output_tokens\":22222222222222220075}}}\n"
                                          "{\"type\":\"assistant\",\"message\":{\"content\":\"e\","
                                          "\"usage\":{\"output_tokens\":22222222222222220075}}}";

static void claude_fuzz_overflow_input(void **state)
{
    batch *b = *state;
    write_bytes(b->bad_claude, fuzz_overflow_input, sizeof fuzz_overflow_input - 1);

    sync_clean(b, 3);
    assert_bad_row(b, BAD_CLAUDE, 2, 0, 0);
    char *sql = fx_fmt("SELECT count(*) FROM messages WHERE session_id = '%s' AND "
                       "(output_tokens < 0 OR output_tokens > 2000000)",
                       BAD_CLAUDE);
    assert_int_equal(fx_sql_int(b->env.db, sql), 0);
    free(sql);
    diff_all_identical(b, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(codex_out_of_range_numbers_clamped, batch_setup,
                                        batch_teardown),
        cmocka_unit_test_setup_teardown(claude_fuzz_overflow_input, batch_setup, batch_teardown),
        cmocka_unit_test_setup_teardown(claude_out_of_range_numbers_clamped, batch_setup,
                                        batch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
