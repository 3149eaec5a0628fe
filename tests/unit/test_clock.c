/* test_clock.c - the manual clock (seeded randomness, time that moves when told), the virtual
 * clock (1 ms a step, a random stream per task) and request deadlines that pause. */
#include "check.h"
#include "clock.h"

TEST(test_manual_clock_moves_only_when_advanced)
{
    das_clock_t *c = das_clock_manual_create(1700000000ll * 1000000000, 7);
    int64_t m0 = das_clock_monotonic_ns(c);
    CHECK_EQ(das_clock_wall_ns(c), 1700000000ll * 1000000000);
    CHECK_EQ(das_clock_monotonic_ns(c), m0);
    das_clock_manual_advance(c, 2500000000ll);
    CHECK_EQ(das_clock_monotonic_ns(c) - m0, 2500000000ll);
    CHECK_EQ(das_clock_wall_ns(c), 1700000002500000000ll);
    das_clock_manual_destroy(c);
}

TEST(test_manual_clock_same_seed_gives_same_random_bytes)
{
    das_clock_t *a = das_clock_manual_create(0, 42), *b = das_clock_manual_create(0, 42);
    das_clock_t *other = das_clock_manual_create(0, 43);
    char ha[41], hb[41], ho[41];
    das_clock_random_hex(a, ha, 40);
    das_clock_random_hex(b, hb, 40);
    das_clock_random_hex(other, ho, 40);
    CHECK_STR_EQ(ha, hb);
    CHECK(strcmp(ha, ho) != 0);
    das_clock_manual_destroy(a);
    das_clock_manual_destroy(b);
    das_clock_manual_destroy(other);
}

TEST(test_deadline_counts_down_and_a_pause_is_not_counted)
{
    das_clock_t *c = das_clock_manual_create(0, 1);
    das_deadline_t d;
    das_deadline_start(&d, c, 1000);
    CHECK_EQ(das_deadline_left_ms(&d), 1000);
    das_clock_manual_advance(c, 300 * 1000000ll);
    CHECK_EQ(das_deadline_left_ms(&d), 700);
    das_deadline_pause(&d);
    das_clock_manual_advance(c, 5000 * 1000000ll); /* the server holds a reply for 5 s */
    CHECK_EQ(das_deadline_left_ms(&d), 700);
    das_deadline_resume(&d);
    CHECK_EQ(das_deadline_left_ms(&d), 700);
    das_clock_manual_advance(c, 700 * 1000000ll);
    CHECK(das_deadline_left_ms(&d) <= 0);
    das_clock_manual_destroy(c);
}

TEST(test_virtual_clock_moves_a_millisecond_a_step_and_a_sleep_s_length)
{
    das_clock_t *c = das_clock_virtual_create(1700000000ll * 1000000000, 9);
    das_clock_t *a = das_clock_virtual_task(c, 0);
    CHECK_EQ(das_clock_wall_ns(a), 1700000000ll * 1000000000);
    das_clock_virtual_step(c);
    das_clock_virtual_step(c);
    CHECK_EQ(das_clock_wall_ns(c), 1700000000ll * 1000000000 + 2000000);
    CHECK_EQ(das_clock_wall_ns(a), das_clock_wall_ns(c)); /* a view shows the same time */
    int64_t m = das_clock_monotonic_ns(a);
    das_clock_virtual_advance(c, 1500000000ll); /* a task slept 1.5 s */
    CHECK_EQ(das_clock_monotonic_ns(a) - m, 1500000000ll);
    das_clock_virtual_destroy(c);
}

/* What task i draws depends on (seed, i) only: not on the order tasks draw in, nor on how much
 * another task drew. */
TEST(test_virtual_clock_gives_each_task_its_own_stream)
{
    das_clock_t *c1 = das_clock_virtual_create(0, 42), *c2 = das_clock_virtual_create(0, 42);
    char a1[33], b1[33], a2[33], b2[33], extra[33];
    das_clock_random_hex(das_clock_virtual_task(c1, 0), a1, 32);
    das_clock_random_hex(das_clock_virtual_task(c1, 1), b1, 32);
    /* the other order, with more drawn by the clock itself and by task 1 first */
    das_clock_random_hex(c2, extra, 32);
    das_clock_random_hex(das_clock_virtual_task(c2, 1), b2, 32);
    das_clock_random_hex(das_clock_virtual_task(c2, 0), a2, 32);
    CHECK_STR_EQ(a1, a2);
    CHECK_STR_EQ(b1, b2);
    CHECK(strcmp(a1, b1) != 0);
    CHECK(strcmp(extra, a1) != 0 && strcmp(extra, b1) != 0);
    CHECK(das_clock_virtual_task(c1, 0) == das_clock_virtual_task(c1, 0));
    das_clock_t *other = das_clock_virtual_create(0, 43);
    char o[33];
    das_clock_random_hex(das_clock_virtual_task(other, 0), o, 32);
    CHECK(strcmp(o, a1) != 0); /* another seed, another stream */
    das_clock_random_hex(das_clock_virtual_task(c1, 100), o, 32); /* a high task number */
    CHECK(strlen(o) == 32);
    das_clock_virtual_destroy(c1);
    das_clock_virtual_destroy(c2);
    das_clock_virtual_destroy(other);
}

CHECK_MAIN()
