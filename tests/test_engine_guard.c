/*
 * test_engine_guard.c -- the raced verdict from stored and live mtimes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/model.h"
#include "engine/diff_internal.h"

static void raced_when_live_is_newer(void **state)
{
    (void)state;
    assert_true(pd_source_raced(1000, 2000, true));
}

static void not_raced_when_equal(void **state)
{
    (void)state;
    assert_false(pd_source_raced(2000, 2000, true));
}

static void not_raced_when_live_is_older(void **state)
{
    (void)state;
    assert_false(pd_source_raced(2000, 1000, true));
}

static void raced_by_one_nanosecond(void **state)
{
    (void)state;
    assert_true(pd_source_raced(1000, 1001, true));
}

static void raced_when_live_stat_failed(void **state)
{
    (void)state;
    assert_true(pd_source_raced(2000, 1000, false));
}

static void raced_when_stored_mtime_is_null(void **state)
{
    (void)state;
    assert_true(pd_source_raced(PD_INT_NULL, 1000, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raced_when_live_is_newer),
        cmocka_unit_test(not_raced_when_equal),
        cmocka_unit_test(not_raced_when_live_is_older),
        cmocka_unit_test(raced_by_one_nanosecond),
        cmocka_unit_test(raced_when_live_stat_failed),
        cmocka_unit_test(raced_when_stored_mtime_is_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
