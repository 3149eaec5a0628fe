/* test_clock.c - the manual clock (seeded randomness, time that moves when told) and request
 * deadlines that pause. */
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

CHECK_MAIN()
