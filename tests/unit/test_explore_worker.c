/* test_explore_worker.c - explore's worker process on its own: commands go to one forked
 * worker and answers come back; a worker that crashes or stands still past the step timeout
 * is reported by how it ended and the next call forks a new one; and a process with a second
 * thread refuses to fork one (a lock that thread held would stay held in the child).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "explore_worker.h"

/* Commands: "pid" answers the worker's pid; "crash" dies of SIGSEGV; "hang" sleeps without
 * moving the progress; anything else is answered with itself. */
static void serve(void *ctx, const void *cmd, size_t len, das_rpc_buf_t *answer)
{
    (void)ctx;
    if (len == 3 && memcmp(cmd, "pid", 3) == 0) {
        das_rpc_put_u32(answer, (uint32_t)getpid());
    } else if (len == 5 && memcmp(cmd, "crash", 5) == 0) {
        raise(SIGSEGV);
    } else if (len == 4 && memcmp(cmd, "hang", 4) == 0) {
        for (;;)
            pause();
    } else {
        das_rpc_put_raw(answer, cmd, len);
    }
}

static int call(das_xworker_t *w, const char *text, das_rpc_buf_t *answer, int *status)
{
    das_rpc_buf_t cmd = {0};
    das_rpc_put_raw(&cmd, text, strlen(text));
    answer->len = 0;
    int rc = das_xworker_call(w, &cmd, answer, status);
    das_rpc_buf_dispose(&cmd);
    return rc;
}

static pid_t worker_pid(das_xworker_t *w)
{
    das_rpc_buf_t answer = {0};
    int status;
    pid_t pid = -1;
    if (call(w, "pid", &answer, &status) == 0 && answer.len == 4) {
        das_rpc_reader_t r;
        das_rpc_reader_init(&r, answer.data, answer.len);
        pid = (pid_t)das_rpc_get_u32(&r);
    }
    das_rpc_buf_dispose(&answer);
    return pid;
}

TEST(test_worker_answers_commands_from_one_forked_process)
{
    das_xworker_t *w = das_xworker_create(&(das_xworker_options_t){.serve = serve});
    CHECK(!das_xworker_in_worker(w));
    das_rpc_buf_t answer = {0};
    int status;
    CHECK_EQ(call(w, "hello", &answer, &status), 0);
    CHECK_EQ(answer.len, 5);
    CHECK(memcmp(answer.data, "hello", 5) == 0);
    pid_t first = worker_pid(w), second = worker_pid(w);
    CHECK(first > 0 && first != getpid());
    CHECK_EQ(second, first);
    das_rpc_buf_dispose(&answer);
    das_xworker_destroy(w);
    /* destroyed: the worker was reaped, not left behind */
    CHECK(kill(first, 0) < 0 && errno == ESRCH);
}

TEST(test_a_crashed_worker_is_reported_by_its_signal_and_replaced)
{
    das_xworker_t *w = das_xworker_create(&(das_xworker_options_t){.serve = serve});
    pid_t before = worker_pid(w);
    das_rpc_buf_t answer = {0};
    int status = 0;
    CHECK_EQ(call(w, "crash", &answer, &status), -1);
    CHECK(WIFSIGNALED(status));
    CHECK_EQ(WTERMSIG(status), SIGSEGV);
    char how[160];
    CHECK_EQ(das_xworker_describe_end(status, how, sizeof how), DAS_XWORKER_ENDED_CRASH);
    CHECK_STR_EQ(how, "signal 11 (SIGSEGV, Segmentation fault)");
    pid_t after = worker_pid(w);
    CHECK(after > 0 && after != before);
    das_rpc_buf_dispose(&answer);
    das_xworker_destroy(w);
}

TEST(test_a_worker_that_stands_still_past_the_step_timeout_ends_stuck)
{
    das_det_progress_t *progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(progress != MAP_FAILED);
    das_xworker_t *w = das_xworker_create(&(das_xworker_options_t){
        .serve = serve, .progress = progress, .step_timeout_s = 0.3});
    das_rpc_buf_t answer = {0};
    int status = 0;
    CHECK_EQ(call(w, "hang", &answer, &status), -1);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), DAS_XWORKER_STUCK);
    char how[160];
    CHECK_EQ(das_xworker_describe_end(status, how, sizeof how), DAS_XWORKER_ENDED_STUCK);
    /* a command that answers in time is not ended by the watchdog */
    CHECK_EQ(call(w, "quick", &answer, &status), 0);
    das_rpc_buf_dispose(&answer);
    das_xworker_destroy(w);
    munmap(progress, sizeof *progress);
}

TEST(test_a_worker_killed_from_outside_is_not_the_apps_crash)
{
    das_xworker_t *w = das_xworker_create(&(das_xworker_options_t){.serve = serve});
    pid_t pid = worker_pid(w);
    CHECK(pid > 0);
    kill(pid, SIGKILL);
    das_rpc_buf_t answer = {0};
    int status = 0;
    CHECK_EQ(call(w, "hello", &answer, &status), -1);
    char how[160];
    CHECK_EQ(das_xworker_describe_end(status, how, sizeof how), DAS_XWORKER_ENDED_OUTSIDE);
    CHECK_STR_EQ(how, "signal 9 (SIGKILL, Killed)");
    CHECK_EQ(das_xworker_describe_end(3 << 8, how, sizeof how), DAS_XWORKER_ENDED_EXIT);
    CHECK_STR_EQ(how, "status 3");
    das_rpc_buf_dispose(&answer);
    das_xworker_destroy(w);
}

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void *wait_for_gate(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
    return NULL;
}

TEST(test_no_worker_is_forked_while_the_process_has_another_thread)
{
    das_xworker_t *w = das_xworker_create(&(das_xworker_options_t){.serve = serve});
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wait_for_gate, NULL), 0);
    das_rpc_buf_t answer = {0};
    int status;
    errno = 0;
    int rc = call(w, "hello", &answer, &status);
    int err = errno;
    pthread_mutex_lock(&gate_lock);
    gate_open = true;
    pthread_cond_signal(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    pthread_join(t, NULL);
    CHECK_EQ(rc, -2);
    CHECK_EQ(err, EDEADLK);
    /* with the thread gone, the same call forks and answers */
    CHECK_EQ(call(w, "hello", &answer, &status), 0);
    CHECK_EQ(answer.len, 5);
    das_rpc_buf_dispose(&answer);
    das_xworker_destroy(w);
}

CHECK_MAIN()
