/* test_explore.c - `devappserver explore`, end to end: every buggy memcache sample scenario
 * fails under each strategy and every fixed one passes exhaustively with its exact count; the
 * report names the racing pair by file:line and the minimal schedule, proven, and its replay
 * command reproduces the failure; the same seed gives the same trace; each oracle fails a
 * schedule when it should and only then; scenario errors name file:line:col. The in-process
 * backend (the default) reports what the instances backend reports, survives crashes and
 * stuck steps of the app, and hands over to instances when state outside the app's globals
 * survived its reset.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static char scenario_path[512];

static const char *sample_scenario(const char *name)
{
    snprintf(scenario_path, sizeof scenario_path, "%s/scenarios/%s.yaml",
             harness_sample("memcache_counter"), name);
    return scenario_path;
}

/* Runs explore with `args` (NULL-terminated, after "explore"); returns the exit status, and
 * the output in *out (caller frees). */
static int explore(const char *const *args, char **out)
{
    const char *argv[32] = {"explore"};
    size_t n = 1;
    for (size_t i = 0; args[i] && n < 30; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return harness_run(argv, out);
}

#define CHECK_EXPLORE(status, needle, ...)                                                     \
    do {                                                                                       \
        const char *const a_[] = {__VA_ARGS__, NULL};                                          \
        char *o_ = NULL;                                                                       \
        int rc_ = explore(a_, &o_);                                                            \
        if (rc_ != (status) || !strstr(o_, (needle)))                                          \
            fprintf(stdout, "#   exit %d, output:\n%s\n", rc_, o_);                            \
        CHECK_EQ(rc_, (status));                                                               \
        CHECK_STR_CONTAINS(o_, (needle));                                                      \
        free(o_);                                                                              \
    } while (0)

/* Runs the "replay: devappserver replay TRACE" line of explore's report `out`: the replay's
 * exit status (-1 when the report has no such line), its output in `*rout`. */
static int run_reported_replay(const char *out, char **rout)
{
    const char *line = strstr(out, "\nreplay: devappserver replay ");
    char trace[400];
    if (!line || sscanf(line, "\nreplay: devappserver replay %399s", trace) != 1) {
        *rout = strdup("(no replay line in the report)");
        return -1;
    }
    const char *const replay[] = {"replay", trace, NULL};
    return harness_run(replay, rout);
}

/* A scenario of the test's own, written to `dir`. */
static const char *write_scenario(const char *dir, const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.yaml", dir, name);
    harness_write_file(path, text);
    return path;
}

TEST(test_explore_the_get_then_set_race_with_its_racing_pair_and_minimal_schedule)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_sample("memcache_counter");
    const char *const args[] = {"--trace-dir", dir, app, sample_scenario("racy"), NULL};
    char *out = NULL;
    int rc = explore(args, &out);
    if (rc != 1)
        fprintf(stdout, "# output:\n%s\n", out);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, "FAIL racy counter loses an update  strategy=portfolio seed=0  "
                            "schedule 4 of 20 (exhaustive)");
    CHECK_STR_CONTAINS(out, "check GET /get?key=racy: expected 200 \"2\", got 200 \"1\"");
    CHECK_STR_CONTAINS(out, "racing pair: B memcache.set \"racy\" (counter.c:44) came between");
    CHECK_STR_CONTAINS(out, "A memcache.get \"racy\" (counter.c:41) and A memcache.set \"racy\" "
                            "(counter.c:44)");
    CHECK_STR_CONTAINS(out, "minimal: 1 preemption (proven)   schedule s1.2.AABBB");
    CHECK_STR_CONTAINS(out, "~~ preempted ~~");
    CHECK_STR_CONTAINS(out, "stats: 4 schedules, 1 failing, 6 steps each");
    /* The replay command, on one line, reproduces the failure. */
    char *rout = NULL;
    rc = run_reported_replay(out, &rout);
    if (rc != 1)
        fprintf(stdout, "# replay output:\n%s\n", rout);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(rout, "check GET /get?key=racy: expected 200 \"2\", got 200 \"1\"");
    CHECK_STR_CONTAINS(rout, "trace: identical to the recorded one");
    free(rout);
    free(out);
    harness_remove_tree(dir);
}

/* A request made as a signed-in user is replayed as that user (its login cookie is in the
 * recorded headers). */
TEST(test_explore_replay_keeps_the_requests_user)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *scenario = write_scenario(dir, "user", "requests:\n"
                                                       "- request: GET /whoami\n"
                                                       "  user: alice@example.com\n"
                                                       "  expect: {body: nobody}\n");
    const char *const args[] = {"--trace-dir", dir, harness_app("echo"), scenario, NULL};
    char *out = NULL;
    CHECK_EQ(explore(args, &out), 1);
    CHECK_STR_CONTAINS(out, "alice@example.com user");
    char *rout = NULL;
    int rc = run_reported_replay(out, &rout);
    if (rc != 0)
        fprintf(stdout, "# replay output:\n%s\n", rout);
    CHECK_EQ(rc, 0); /* replay judges by status and checks, not by explore's expect */
    CHECK_STR_CONTAINS(rout, "alice@example.com user");
    CHECK_STR_CONTAINS(rout, "trace: identical to the recorded one");
    free(rout);
    free(out);
    harness_remove_tree(dir);
}

/* Requests the front end answers itself (a static file, a redirect, a login redirect, a 404)
 * are tasks too: a scenario of them runs its schedules, judges their responses and replays. */
TEST(test_explore_requests_no_script_answers_are_tasks_too)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_app("echo");
    const char *pass = write_scenario(dir, "answered", "requests:\n"
                                                      "- request: GET /static/hello.txt\n"
                                                      "  expect: {status: 200}\n"
                                                      "- request: GET /a/../env\n"
                                                      "  expect: {status: 302}\n"
                                                      "- request: GET /required/x\n"
                                                      "  expect: {status: 302}\n"
                                                      "- GET /env\n"
                                                      "check:\n"
                                                      "- request: GET /static/missing.txt\n"
                                                      "  status: 404\n");
    CHECK_EXPLORE(0, "all 24 schedules passed", "--trace-dir", dir, "--strategy", "exhaustive",
                  app, pass);
    const char *fail = write_scenario(dir, "static_body", "requests:\n"
                                                          "- GET /env\n"
                                                          "- request: GET /static/hello.txt\n"
                                                          "  expect: {body: nope}\n");
    const char *const args[] = {"--trace-dir", dir, app, fail, NULL};
    char *out = NULL;
    CHECK_EQ(explore(args, &out), 1);
    CHECK_STR_CONTAINS(out, "B GET /static/hello.txt: expected any status \"nope\", got 200 \"static hello");
    CHECK_STR_CONTAINS(out, "racing pair: none: the schedule fails with no preemption");
    char *rout = NULL;
    int rc = run_reported_replay(out, &rout);
    if (rc != 0)
        fprintf(stdout, "# replay output:\n%s\n", rout);
    CHECK_EQ(rc, 0);
    CHECK_STR_CONTAINS(rout, "trace: identical to the recorded one");
    free(rout);
    free(out);
    harness_remove_tree(dir);
}

TEST(test_explore_each_strategy_finds_each_buggy_sample)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_sample("memcache_counter");
    static const char *const buggy[] = {"racy", "first_visitor", "lazy"};
    static const char *const strategies[] = {"exhaustive", "random", "pct", "portfolio"};
    for (size_t b = 0; b < 3; b++)
        for (size_t s = 0; s < 4; s++)
            CHECK_EXPLORE(1, "FAIL ", "--trace-dir", dir, "--strategy", strategies[s],
                          "--schedules", "50", app, sample_scenario(buggy[b]));
    harness_remove_tree(dir);
}

TEST(test_explore_the_fixed_samples_pass_exhaustively_with_their_counts)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_sample("memcache_counter");
    CHECK_EXPLORE(0, "PASS incr counts every request: all 6 schedules passed (exhaustive)",
                  "--trace-dir", dir, app, sample_scenario("incr"));
    CHECK_EXPLORE(0, "all 4 schedules with at most 1 preemption passed", "--trace-dir", dir,
                  "--strategy", "exhaustive", "--preemptions", "1", app,
                  sample_scenario("incr"));
    CHECK_EXPLORE(0, "passed (exhaustive)", "--trace-dir", dir, app, sample_scenario("cas"));
    CHECK_EXPLORE(0, "passed (exhaustive)", "--trace-dir", dir, app,
                  sample_scenario("first_visitor_fixed"));
    CHECK_EXPLORE(0, "passed (exhaustive)", "--trace-dir", dir, app,
                  sample_scenario("lazy_locked"));
    /* The same on a new instance per schedule: the reset of globals is what lazy_locked
     * needs to pass above (a global built in one schedule would be there in the next). */
    CHECK_EXPLORE(0, "all 4 schedules passed (exhaustive)", "--trace-dir", dir, "--fresh",
                  "process", app, sample_scenario("lazy_locked"));
    CHECK_EXPLORE(1, "FAIL the settings are built once per instance", "--trace-dir", dir,
                  "--fresh", "process", app, sample_scenario("lazy"));
    harness_remove_tree(dir);
}

TEST(test_explore_fresh_globals_are_those_the_warmup_left)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    /* Every schedule starts from the state after /_ah/warmup: ready, and never bumped. The
     * schedule runs twice at the start, the second time after a reset: the two agree. */
    const char *const args[] = {"--trace-dir", dir, harness_app("warm"),
                                write_scenario(dir, "warm", "requests:\n- request: GET /warm\n"
                                                            "  expect: {body: ready=1 bumps=0}\n"),
                                NULL};
    char *out = NULL;
    CHECK_EQ(explore(args, &out), 0);
    CHECK_STR_CONTAINS(out, "PASS");
    if (strstr(out, "differ"))
        CHECK_FAIL_("schedule 0's two runs differ:\n%s", out);
    free(out);
    harness_remove_tree(dir);
}

TEST(test_explore_a_datastore_read_modify_write_fails_and_its_transaction_passes)
{
    char dir[256], scenario[512];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_sample("datastore_counter");
    snprintf(scenario, sizeof scenario, "%s/scenarios/rmw.yaml", app);
    CHECK_EXPLORE(1, "racing pair: B datastore_v3.put \"Counter:visits\"", "--trace-dir", dir,
                  app, scenario);
    snprintf(scenario, sizeof scenario, "%s/scenarios/rmw_txn.yaml", app);
    CHECK_EXPLORE(0, "passed (exhaustive)", "--trace-dir", dir, app, scenario);
    harness_remove_tree(dir);
}

TEST(test_explore_the_same_seed_gives_the_same_trace)
{
    char dir[256], first[512] = "";
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_sample("memcache_counter");
    for (int run = 0; run < 5; run++) {
        const char *const args[] = {"--trace-dir", dir, "--strategy", "random", "--seed", "7",
                                    app, sample_scenario("racy"), NULL};
        char *out = NULL;
        CHECK_EQ(explore(args, &out), 1);
        char *line = strstr(out, "\nreplay: devappserver replay ");
        CHECK(line != NULL);
        char trace[400];
        sscanf(line, "\nreplay: devappserver replay %399s", trace);
        char *bytes = harness_read_file(trace);
        CHECK(bytes != NULL);
        if (run == 0)
            snprintf(first, sizeof first, "%s", trace);
        char *want = harness_read_file(first);
        CHECK_STR_EQ(bytes, want);
        free(want);
        free(bytes);
        free(out);
    }
    harness_remove_tree(dir);
}

TEST(test_explore_oracles_fail_a_schedule_when_they_should_and_only_then)
{
    char dir[256], traces[300];
    harness_tmpdir(dir, sizeof dir);
    snprintf(traces, sizeof traces, "%s/traces", dir);
    const char *app = harness_app("det");
    /* status: a 500 fails unless the request's expect names it. */
    CHECK_EXPLORE(1, "A GET /fail500 got 500", "--trace-dir", traces, app,
                  write_scenario(dir, "s1", "requests:\n- GET /fail500\n- GET /hello\n"));
    CHECK_EXPLORE(0, "PASS", "--trace-dir", traces, app,
                  write_scenario(dir, "s2", "requests:\n- request: GET /fail500\n"
                                            "  expect: {status: 500}\n- GET /hello\n"));
    /* body and body_regex */
    CHECK_EXPLORE(1, "B GET /hello: expected 200 \"bye\", got 200 \"hello\"", "--trace-dir",
                  traces, app,
                  write_scenario(dir, "s3", "requests:\n- GET /hello\n- request: GET /hello\n"
                                            "  expect: {status: 200, body: bye}\n"));
    CHECK_EXPLORE(0, "PASS", "--trace-dir", traces, app,
                  write_scenario(dir, "s4", "requests:\n- GET /hello\n- request: GET /hello\n"
                                            "  expect: {body_regex: '^hel+o$'}\n"));
    /* a crash, named by its signal; --keep-going runs every schedule */
    CHECK_EXPLORE(1, "instance crash while A GET /crash ran", "--trace-dir", traces, app,
                  write_scenario(dir, "s5", "requests:\n- GET /crash\n- GET /hello\n"));
    CHECK_EXPLORE(1, "SIGSEGV", "--trace-dir", traces, app,
                  write_scenario(dir, "s5", "requests:\n- GET /crash\n- GET /hello\n"));
    CHECK_EXPLORE(1, "stats: 3 schedules, 3 failing", "--trace-dir", traces, "--keep-going",
                  "--strategy", "exhaustive", app,
                  write_scenario(dir, "s5", "requests:\n- GET /crash\n- GET /hello\n"));
    /* AE_CHECK */
    CHECK_EXPLORE(1, "AE_CHECK failed in A: AE_CHECK(n == 42) failed (det.c:", "--trace-dir",
                  traces, app, write_scenario(dir, "s6", "requests:\n- GET /check\n"));
    CHECK_EXPLORE(0, "PASS", "--trace-dir", traces, app,
                  write_scenario(dir, "s7", "setup:\n- GET /racy?key=checked\n"
                                            "requests:\n- GET /hello\n"));
    /* deadlock */
    CHECK_EXPLORE(1, "deadlock under deterministic dispatch: ", "--trace-dir", traces, app,
                  write_scenario(dir, "s8", "requests:\n- GET /deadlock?first=1\n"
                                            "- GET /deadlock?first=2\n"));
    /* the step bound, and the step timeout */
    CHECK_EXPLORE(1, "the schedule passed --max-steps (50 steps)", "--trace-dir", traces,
                  "--max-steps", "50", app,
                  write_scenario(dir, "s9", "requests:\n- GET /yields\n"));
    {
        /* Its confirmation and its replay stop at the same bound: the failure reproduced. */
        const char *const args[] = {"--trace-dir", traces, "--max-steps", "50", app,
                                    write_scenario(dir, "s9r", "requests:\n- GET /yields\n"),
                                    NULL};
        char *out = NULL, *rout = NULL;
        CHECK_EQ(explore(args, &out), 1);
        CHECK(strstr(out, "did not fail again") == NULL);
        CHECK_EQ(run_reported_replay(out, &rout), 1);
        CHECK_STR_CONTAINS(rout, "trace: identical to the recorded one");
        CHECK_STR_CONTAINS(rout, "failed: the run passed its step bound (50 steps)");
        free(out);
        free(rout);
    }
    CHECK_EXPLORE(1, "A GET /spin ran past --step-timeout (1 s) without reaching a point; its "
                     "last call site was det.c:",
                  "--trace-dir", traces, "--step-timeout", "1", "--schedules", "1", app,
                  write_scenario(dir, "s10", "requests:\n- GET /spin\n"));
    /* It bounds each step, not the whole request: three steps of 0.7 s pass a 1 s bound. */
    CHECK_EXPLORE(0, "PASS", "--trace-dir", traces, "--step-timeout", "1", "--schedules", "1",
                  app, write_scenario(dir, "s10b", "requests:\n- GET /slowsteps\n"));
    /* serializable: a lost update is no serial order's outcome; a locked counter is */
    CHECK_EXPLORE(1, "the outcome matches no serial order of the 2 requests", "--trace-dir",
                  traces, app,
                  write_scenario(dir, "s11", "requests:\n- GET /racy?key=z\n- GET /racy?key=z\n"
                                             "check:\n- GET /get?key=z\noracle: serializable\n"));
    CHECK_EXPLORE(0, "PASS", "--trace-dir", traces, app,
                  write_scenario(dir, "s12", "requests:\n- GET /locked\n- GET /locked\n"
                                             "check:\n- GET /get?key=locked\n"
                                             "oracle: serializable\n"));
    harness_remove_tree(dir);
}

/* The report without its statistics line (times differ from run to run). */
static void strip_stats(char *out)
{
    char *stats = strstr(out, "stats: ");
    if (stats)
        *stats = '\0';
}

TEST(test_explore_both_backends_report_the_same)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_sample("memcache_counter");
    static const char *const scenarios[] = {"racy", "first_visitor", "lazy", "incr"};
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        char *out[2] = {NULL, NULL};
        int rc[2];
        for (int b = 0; b < 2; b++) {
            const char *const args[] = {"--trace-dir", dir, "--backend",
                                        b ? "instances" : "inprocess", "--strategy", "random",
                                        "--seed", "3", app, sample_scenario(scenarios[i]), NULL};
            rc[b] = explore(args, &out[b]);
        }
        /* In process, a failure is confirmed on a real instance: it must be found there. */
        CHECK(strstr(out[0], "failed in process") == NULL);
        CHECK_EQ(rc[0], rc[1]);
        strip_stats(out[0]);
        strip_stats(out[1]);
        CHECK_STR_EQ(out[0], out[1]);
        free(out[0]);
        free(out[1]);
    }
    /* Every schedule of a longer search: the same failures, schedule by schedule. */
    char *out[2] = {NULL, NULL};
    for (int b = 0; b < 2; b++) {
        const char *const args[] = {"--trace-dir", dir, "--backend", b ? "instances" : "inprocess",
                                    "--strategy", "random", "--keep-going", "--schedules", "300",
                                    app, sample_scenario("racy"), NULL};
        CHECK_EQ(explore(args, &out[b]), 1);
    }
    int runs[2] = {0, 0}, failing[2] = {-1, -2};
    for (int b = 0; b < 2; b++) {
        const char *stats = strstr(out[b], "stats: ");
        CHECK(stats && sscanf(stats, "stats: %d schedules, %d failing", &runs[b],
                              &failing[b]) == 2);
    }
    CHECK_EQ(runs[0], 300);
    CHECK_EQ(runs[1], 300);
    CHECK_EQ(failing[0], failing[1]);
    CHECK(failing[0] > 0 && failing[0] < 300);
    free(out[0]);
    free(out[1]);
    harness_remove_tree(dir);
}

TEST(test_explore_in_process_a_crash_or_a_stuck_step_ends_only_the_worker)
{
    char dir[256], traces[300];
    harness_tmpdir(dir, sizeof dir);
    snprintf(traces, sizeof traces, "%s/traces", dir);
    const char *app = harness_app("det");
    /* Every schedule crashes its worker; a new one takes each next schedule. */
    CHECK_EXPLORE(1, "stats: 20 schedules, 20 failing", "--trace-dir", traces, "--backend",
                  "inprocess", "--keep-going", "--strategy", "random", "--schedules", "20", app,
                  write_scenario(dir, "c1", "requests:\n- GET /crash\n- GET /hello\n"));
    CHECK_EXPLORE(1, "instance crash while A GET /crash ran", "--trace-dir", traces, "--backend",
                  "inprocess", app,
                  write_scenario(dir, "c2", "requests:\n- GET /crash\n- GET /hello\n"));
    /* In process, instances see the environment app.yaml gives them, as processes do. */
    CHECK_EXPLORE(0, "PASS", "--trace-dir", traces, "--backend", "inprocess", app,
                  write_scenario(dir, "c0", "requests:\n- request: GET /appenv\n"
                                            "  expect: {body: from app.yaml UTC}\n"));
    /* A deadlock is one in process too (the two requests give up; their instance goes), and
     * its trace replays identically on both backends. */
    {
        const char *const args[] = {"--trace-dir", traces, "--backend", "inprocess", app,
                                    write_scenario(dir, "c4", "requests:\n- GET /deadlock?first=1\n"
                                                              "- GET /deadlock?first=2\n"),
                                    NULL};
        char *out = NULL;
        CHECK_EQ(explore(args, &out), 1);
        CHECK_STR_CONTAINS(out, "deadlock under deterministic dispatch: A holds mutex");
        CHECK(strstr(out, "failed in process") == NULL);
        CHECK(strstr(out, "traces differ") == NULL);
        const char *line = strstr(out, "\nreplay: devappserver replay ");
        char trace[400] = "";
        CHECK(line && sscanf(line, "\nreplay: devappserver replay %399s", trace) == 1);
        for (int b = 0; b < 2; b++) {
            const char *const replay[] = {"replay", "--backend", b ? "instances" : "inprocess",
                                          trace, NULL};
            char *rout = NULL;
            CHECK_EQ(harness_run(replay, &rout), 1);
            CHECK_STR_CONTAINS(rout, "trace: identical to the recorded one");
            free(rout);
        }
        free(out);
    }
    /* A loop with no point: the worker's watchdog ends it; the report comes from a real
     * instance, which names the last call site. */
    CHECK_EXPLORE(1, "A GET /spin ran past --step-timeout (1 s) without reaching a point",
                  "--trace-dir", traces, "--backend", "inprocess", "--step-timeout", "1",
                  "--schedules", "1", app, write_scenario(dir, "c3", "requests:\n- GET /spin\n"));
    harness_remove_tree(dir);
}

TEST(test_explore_state_the_reset_misses_hands_over_to_instances)
{
    char dir[256], traces[300];
    harness_tmpdir(dir, sizeof dir);
    snprintf(traces, sizeof traces, "%s/traces", dir);
    const char *app = harness_app("det");
    /* /env leaves its mark in the process's environment: the second schedule in the worker
     * fails, and a fresh instance does not. */
    CHECK_EXPLORE(1, "but not when run again on a fresh real instance: state outside the app's "
                     "globals survived the reset between schedules; going on with --backend "
                     "instances",
                  "--trace-dir", traces, "--backend", "inprocess", "--strategy", "random",
                  "--schedules", "5", app, write_scenario(dir, "env", "requests:\n- GET /env\n"));
    harness_remove_tree(dir);
}

TEST(test_replay_in_process_gives_the_same_trace_and_survives_a_crash)
{
    char dir[256], traces[300];
    harness_tmpdir(dir, sizeof dir);
    snprintf(traces, sizeof traces, "%s/traces", dir);
    struct {
        const char *app, *scenario, *expect;
    } cases[] = {
        {harness_sample("memcache_counter"), sample_scenario("racy"),
         "trace: identical to the recorded one"},
        {harness_app("det"), write_scenario(dir, "crash", "requests:\n- GET /crash\n"),
         "failed: A crashed the in-process replay, signal 11 (SIGSEGV"},
    };
    for (size_t i = 0; i < 2; i++) {
        char *app = strdup(cases[i].app), *scenario = strdup(cases[i].scenario);
        const char *const args[] = {"--trace-dir", traces, app, scenario, NULL};
        char *out = NULL;
        CHECK_EQ(explore(args, &out), 1);
        const char *line = strstr(out, "\nreplay: devappserver replay ");
        char trace[400] = "";
        CHECK(line && sscanf(line, "\nreplay: devappserver replay %399s", trace) == 1);
        const char *const replay[] = {"replay", "--backend", "inprocess", trace, NULL};
        char *rout = NULL;
        CHECK_EQ(harness_run(replay, &rout), 1);
        CHECK_STR_CONTAINS(rout, cases[i].expect);
        free(rout);
        free(out);
        free(app);
        free(scenario);
    }
    harness_remove_tree(dir);
}

TEST(test_explore_scenario_errors_name_file_line_and_column)
{
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *app = harness_app("det");
    CHECK_EXPLORE(2, "e1.yaml:2:1: unknown field 'request' in a scenario (did you mean "
                     "'requests'?)",
                  app, write_scenario(dir, "e1", "name: x\nrequest:\n- GET /hello\n"));
    CHECK_EXPLORE(2, "e2.yaml:2:3: request 'GET' has no target", app,
                  write_scenario(dir, "e2", "requests:\n- GET\n"));
    CHECK_EXPLORE(2, "e3.yaml:2:3: unknown method 'FETCH'", app,
                  write_scenario(dir, "e3", "requests:\n- FETCH /hello\n"));
    CHECK_EXPLORE(2, "e4.yaml:3:20: a status is a number from 100 to 599, not '700'", app,
                  write_scenario(dir, "e4", "requests:\n- request: GET /hello\n"
                                            "  expect: {status: 700}\n"));
    CHECK_EXPLORE(2, "e5.yaml:3:24: body_regex '(' is not a valid regular expression", app,
                  write_scenario(dir, "e5", "requests:\n- request: GET /hello\n"
                                            "  expect: {body_regex: '('}\n"));
    CHECK_EXPLORE(2, "e6.yaml:1:11: requests is empty", app,
                  write_scenario(dir, "e6", "requests: []\n"));
    CHECK_EXPLORE(2, "e7.yaml:4:3: more than 64 requests (repeat counted)", app,
                  write_scenario(dir, "e7", "requests:\n- request: GET /hello\n  repeat: 40\n"
                                            "- request: GET /hello\n  repeat: 40\n"));
    CHECK_EXPLORE(2, "e8.yaml:3:12: unknown field 'stauts' in expect (did you mean 'status'?)",
                  app, write_scenario(dir, "e8", "requests:\n- request: GET /hello\n"
                                                 "  expect: {stauts: 200}\n"));
    CHECK_EXPLORE(2, "--schedules must be a number of schedules above 0, not '0'",
                  "--schedules", "0", app, write_scenario(dir, "ok", "requests:\n- GET /x\n"));
    harness_remove_tree(dir);
}

CHECK_MAIN()
