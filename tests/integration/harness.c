/* harness.c - starting, stopping and talking to a real devappserver in integration tests. */
#include "harness.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void harness_tmpdir(char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/das-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(out)) {
        perror("mkdtemp");
        abort();
    }
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *harness_app(const char *name)
{
    static __thread char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", env_or("DAS_TEST_APPS", "tests/apps"), name);
    return buf;
}

const char *harness_sample(const char *name)
{
    static __thread char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", env_or("DAS_SAMPLES", "samples"), name);
    return buf;
}

void harness_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) < 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char child[1024];
                snprintf(child, sizeof child, "%s/%s", path, e->d_name);
                harness_remove_tree(child);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

char *harness_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    fclose(m);
    return buf;
}

char *harness_log(const harness_server_t *s)
{
    char *log = harness_read_file(s->log_path);
    return log ? log : strdup("");
}

/* ---------------------------------------------------------------- servers left running */

/* Every server harness_start() started and harness_stop() has not stopped yet (pid > 0), so
 * that one a failed check left running is stopped at exit instead of outliving the test. */
enum { MAX_RUNNING = 32 };
static harness_server_t running[MAX_RUNNING];

static void stop_leftovers(void)
{
    for (int i = 0; i < MAX_RUNNING; i++) {
        if (running[i].pid > 0) {
            harness_server_t s = running[i]; /* harness_stop() clears the slot */
            char *log = harness_log(&s);
            printf("# a failed test left server %d running; its log:\n%s\n", (int)s.pid, log);
            free(log);
            harness_stop(&s);
        }
    }
}

static void remember(const harness_server_t *s)
{
    static bool registered;
    if (!registered)
        atexit(stop_leftovers);
    registered = true;
    for (int i = 0; i < MAX_RUNNING; i++) {
        if (running[i].pid <= 0) {
            running[i] = *s;
            return;
        }
    }
}

static void forget(pid_t pid)
{
    for (int i = 0; i < MAX_RUNNING; i++)
        if (running[i].pid == pid)
            running[i].pid = -1;
}

/* ---------------------------------------------------------------- processes */

/* Forks and runs `argv`, its stdout and stderr going to `out_path`. Returns the PID, or -1. */
static pid_t spawn(const char *const *argv, const char *out_path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        perror("execv");
        _exit(127);
    }
    return pid;
}

/* Waits up to `timeout_ms` for `pid` to exit (then kills it with SIGKILL). Returns its exit
 * status, or -1 when it died by a signal or had to be killed. With a `port_file`, it stops
 * waiting as soon as that file holds something (the server is listening): the process is
 * then stopped with SIGTERM and the result is -2. */
static int wait_exit(pid_t pid, long timeout_ms, const char *port_file)
{
    long long until = harness_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        struct stat sb;
        if (port_file && stat(port_file, &sb) == 0 && sb.st_size > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, &st, 0);
            return -2;
        }
        if (harness_now_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        harness_sleep_ms(10);
    }
}

int harness_start(harness_server_t *s, const char *appdir, const char *const *args)
{
    memset(s, 0, sizeof *s);
    s->pid = -1;
    const char *ext = getenv("DAS_TEST_SERVER");
    if (ext && *ext) {
        const char *colon = strrchr(ext, ':');
        snprintf(s->host, sizeof s->host, "%.*s", colon ? (int)(colon - ext) : 0, ext);
        s->port = colon ? atoi(colon + 1) : 8080;
        return 0;
    }
    snprintf(s->host, sizeof s->host, "127.0.0.1");
    harness_tmpdir(s->dir, sizeof s->dir);
    snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
    char port_file[320], storage[320];
    snprintf(port_file, sizeof port_file, "%s/port", s->dir);
    snprintf(storage, sizeof storage, "%s/storage", s->dir);

    const char *argv[64];
    int n = 0;
    bool own_storage = false;
    argv[n++] = env_or("DAS_BIN", "devappserver");
    for (int i = 0; args && args[i] && n < 50; i++) {
        own_storage |= strcmp(args[i], "--storage-path") == 0;
        argv[n++] = args[i];
    }
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--port-file";
    argv[n++] = port_file;
    if (!own_storage) {
        argv[n++] = "--storage-path";
        argv[n++] = storage;
    }
    argv[n++] = appdir;
    argv[n] = NULL;

    pid_t pid = spawn(argv, s->log_path);
    if (pid < 0)
        return -1;
    s->pid = pid;
    long long until = harness_now_ms() + 120000;
    while (harness_now_ms() < until) {
        FILE *f = fopen(port_file, "r");
        if (f) {
            int port = 0;
            if (fscanf(f, "%d", &port) == 1 && port > 0) {
                fclose(f);
                s->port = port;
                remember(s);
                return 0;
            }
            fclose(f);
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = -1;
            break;
        }
        harness_sleep_ms(20);
    }
    char *log = harness_log(s);
    fprintf(stdout, "# server did not start; its log:\n%s\n", log);
    free(log);
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
    }
    harness_remove_tree(s->dir);
    return -1;
}

int harness_stop(harness_server_t *s)
{
    return harness_stop_with_signal(s, SIGTERM);
}

int harness_stop_with_signal(harness_server_t *s, int sig)
{
    if (s->pid <= 0)
        return s->dir[0] ? -1 : 0;
    pid_t pid = s->pid;
    forget(pid);
    kill(pid, sig);
    int rc = wait_exit(pid, 30000, NULL);
    if (rc != 0) {
        char *log = harness_log(s);
        fprintf(stdout, "# server exit status %d after signal %d; its log:\n%s\n", rc, sig, log);
        free(log);
    }
    s->pid = -1;
    harness_remove_tree(s->dir);
    return rc;
}

/* Runs the binary with `args` to its end (see harness_run), or, with `until_listening`, with
 * `--port-file F` first and only until it writes F. */
static int run(const char *const *args, bool until_listening, long timeout_ms, char **output)
{
    char dir[256], out_path[300], port_file[300];
    harness_tmpdir(dir, sizeof dir);
    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(port_file, sizeof port_file, "%s/port", dir);
    const char *argv[64];
    int n = 0;
    argv[n++] = env_or("DAS_BIN", "devappserver");
    if (until_listening) {
        argv[n++] = "--port-file";
        argv[n++] = port_file;
    }
    for (int i = 0; args && args[i] && n < 60; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t pid = spawn(argv, out_path);
    int rc = pid < 0 ? -1 : wait_exit(pid, timeout_ms, until_listening ? port_file : NULL);
    *output = harness_read_file(out_path);
    if (!*output)
        *output = strdup("");
    harness_remove_tree(dir);
    return rc;
}

int harness_run(const char *const *args, char **output)
{
    return run(args, false, 60000, output);
}

int harness_run_until_listening(const char *const *args, char **output)
{
    return run(args, true, 120000, output);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    FILE *f = ud;
    return fwrite(p, size, n, f);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    FILE *f = ud;
    /* Keep only the last response's header block (after redirects or 100-continue). */
    if (n * size >= 5 && strncmp(p, "HTTP/", 5) == 0)
        rewind(f);
    return fwrite(p, size, n, f);
}

int harness_request(const harness_server_t *s, const char *method, const char *path,
                    const char *const *headers, const char *body, size_t body_len,
                    harness_response_t *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    char url[2048];
    snprintf(url, sizeof url, "http://%s:%d%s", s->host, s->port, path);
    char *hbuf = NULL, *bbuf = NULL;
    size_t hlen = 0, blen = 0;
    FILE *hf = open_memstream(&hbuf, &hlen);
    FILE *bf = open_memstream(&bbuf, &blen);
    struct curl_slist *list = NULL;
    for (int i = 0; headers && headers[i]; i++)
        list = curl_slist_append(list, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, bf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hf);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    fclose(hf);
    fclose(bf);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(list);
    curl_easy_cleanup(c);
    r->body = bbuf;
    r->len = blen;
    r->headers = hbuf;
    if (cc != CURLE_OK) {
        fprintf(stdout, "# %s %s: %s\n", method, path, curl_easy_strerror(cc));
        return -1;
    }
    return 0;
}

int harness_get(const harness_server_t *s, const char *path, harness_response_t *r)
{
    return harness_request(s, "GET", path, NULL, NULL, 0, r);
}

long harness_get_text(const harness_server_t *s, const char *path, char *out, size_t cap)
{
    harness_response_t r;
    long status = harness_get(s, path, &r) == 0 ? r.status : -1;
    snprintf(out, cap, "%s", r.body ? r.body : "");
    harness_response_dispose(&r);
    return status;
}

void harness_response_dispose(harness_response_t *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

bool harness_header(const harness_response_t *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(len - (size_t)(v - line)), v);
            return true;
        }
        if (!eol)
            break;
        line = eol + 2;
    }
    return false;
}

int harness_copy_tree(const char *src, const char *dst)
{
    mkdir(dst, 0755);
    DIR *d = opendir(src);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/%s", src, e->d_name);
        snprintf(b, sizeof b, "%s/%s", dst, e->d_name);
        struct stat sb;
        if (lstat(a, &sb) < 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            rc |= harness_copy_tree(a, b);
        } else if (S_ISREG(sb.st_mode)) {
            FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
            if (!in || !out) {
                rc = -1;
            } else {
                char buf[8192];
                size_t n;
                while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                    fwrite(buf, 1, n, out);
            }
            if (in)
                fclose(in);
            if (out)
                fclose(out);
        }
    }
    closedir(d);
    return rc;
}

int harness_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}
