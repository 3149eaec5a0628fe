/*
 * Kore 4.1 hello-world handler: the "peer a C web developer would pick".
 * Built as a shared object and loaded by the stock `kore` binary
 * (`load .../hello.so` in the generated config), which is how Kore runs
 * a C application without kodev's single-binary build.
 *
 * Besides the page handler, this module works around a shutdown race in
 * Kore 4.1 (harness robustness only; nothing here runs per request):
 * a worker re-installs its signal handlers after fork() and its
 * kore_signal_setup() clears the pending "signal received" flag, so a
 * SIGTERM that reaches a worker between fork() and that point is lost.
 * The parent then waits forever in kore_worker_shutdown() and the workers
 * keep running.  Fix: block SIGTERM/SIGINT/SIGQUIT/SIGHUP across fork() and
 * unblock them in the worker from the kore_worker_configure hook, which
 * Kore calls after the worker's handlers are in place; a signal that came
 * in meanwhile stays pending and is delivered then.  Workers also get
 * PR_SET_PDEATHSIG so they never outlive a parent killed with SIGKILL.
 */
#include <sys/prctl.h>

#include <pthread.h>
#include <signal.h>

#include <kore/kore.h>
#include <kore/http.h>

int	page(struct http_request *);
void	kore_parent_configure(int, char **);
void	kore_worker_configure(void);

static void	fork_prepare(void);
static void	fork_parent(void);
static void	fork_child(void);

static const char	body[] = "Hello, World!\n";
static sigset_t		stop_sigs, saved_mask;
static pid_t		parent_pid;

int
page(struct http_request *req)
{
	if (req->method != HTTP_METHOD_GET && req->method != HTTP_METHOD_HEAD) {
		http_response(req, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL, 0);
		return (KORE_RESULT_OK);
	}

	http_response_header(req, "content-type", "text/plain");
	http_response(req, HTTP_STATUS_OK, body, sizeof(body) - 1);
	return (KORE_RESULT_OK);
}

/* Runs in the parent before the workers are forked. */
void
kore_parent_configure(int argc, char **argv)
{
	(void)argc;
	(void)argv;

	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGQUIT);
	sigaddset(&stop_sigs, SIGHUP);

	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
		fatal("pthread_atfork failed");
}

/* Runs in each worker once Kore's own signal handlers are installed. */
void
kore_worker_configure(void)
{
	sigprocmask(SIG_UNBLOCK, &stop_sigs, NULL);
}

static void
fork_prepare(void)
{
	parent_pid = getpid();
	sigprocmask(SIG_BLOCK, &stop_sigs, &saved_mask);
}

static void
fork_parent(void)
{
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

static void
fork_child(void)
{
	/* Signals stay blocked until kore_worker_configure(). */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent_pid)
		_exit(1);
}
