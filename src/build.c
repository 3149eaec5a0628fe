/* build.c - finds the app's sources, hashes them, and runs the C compiler.
 *
 * The compiler runs as a child process (posix_spawnp) whose stdout and stderr go to one pipe,
 * so its own messages can be printed and shown on the 500 page unchanged.
 */
#include "build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app_symbol.h"

#ifndef DAS_VERSION
#define DAS_VERSION "0"
#endif
#ifndef DAS_SOURCE_SDK_INCLUDE
#define DAS_SOURCE_SDK_INCLUDE ""
#endif

extern char **environ;

typedef struct {
    char **paths; /* relative to APPDIR */
    size_t n, cap;
} path_list_t;

static void list_add(path_list_t *l, const char *p)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->paths = das_xrealloc(l->paths, l->cap * sizeof *l->paths);
    }
    l->paths[l->n++] = das_xstrdup(p);
}

static void list_dispose(path_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects *.c and *.h below APPDIR/rel, skipping what skip_files excludes. */
static void scan(const das_build_options_t *o, const char *rel, path_list_t *sources,
                 path_list_t *headers, int depth)
{
    if (depth > 16)
        return;
    char *dir = rel[0] ? das_xasprintf("%s/%s", o->appdir, rel) : das_xstrdup(o->appdir);
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *child = rel[0] ? das_xasprintf("%s/%s", rel, e->d_name) : das_xstrdup(e->d_name);
        if (o->is_skipped && o->is_skipped(o->ctx, child)) {
            free(child);
            continue;
        }
        char *full = das_xasprintf("%s/%s", o->appdir, child);
        struct stat sb;
        if (lstat(full, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                scan(o, child, sources, headers, depth + 1);
            else if (S_ISREG(sb.st_mode) && das_str_has_suffix(child, ".c"))
                list_add(sources, child);
            else if (S_ISREG(sb.st_mode) && das_str_has_suffix(child, ".h"))
                list_add(headers, child);
        }
        free(full);
        free(child);
    }
    closedir(d);
}

static void hash_str(EVP_MD_CTX *md, const char *s)
{
    EVP_DigestUpdate(md, s, strlen(s) + 1);
}

static void hash_file(EVP_MD_CTX *md, const char *path)
{
    char *data;
    size_t len;
    hash_str(md, path);
    if (das_file_read(path, &data, &len) == 0) {
        EVP_DigestUpdate(md, data, len);
        free(data);
    }
}

/* A call to an undeclared function (a misspelt SDK call) is an error, not a warning: it would
 * only fail later, when an instance loads the build. */
static const char *const cflags[] = {"-std=gnu11", "-O2", "-g", "-fPIC", "-fvisibility=hidden",
                                     "-Wall", "-Werror=implicit-function-declaration"};
#define N_CFLAGS (sizeof cflags / sizeof cflags[0])

/* The deterministic variant's link flags: these calls of the app's own objects go to the
 * instance binary's __wrap_* (sdk/runtime/wrap.c); nothing else is touched. */
static const char *const wrap_flags[] = {
    "-Wl,--wrap=time", "-Wl,--wrap=gettimeofday", "-Wl,--wrap=clock_gettime",
    "-Wl,--wrap=rand", "-Wl,--wrap=srand", "-Wl,--wrap=random", "-Wl,--wrap=srandom",
    "-Wl,--wrap=getrandom", "-Wl,--wrap=sleep", "-Wl,--wrap=usleep", "-Wl,--wrap=nanosleep",
    "-Wl,--wrap=sched_yield", "-Wl,--wrap=pthread_mutex_lock",
    "-Wl,--wrap=pthread_mutex_trylock", "-Wl,--wrap=pthread_mutex_unlock",
    "-Wl,--wrap=pthread_cond_wait", "-Wl,--wrap=pthread_cond_timedwait",
    "-Wl,--wrap=pthread_cond_signal", "-Wl,--wrap=pthread_cond_broadcast"};
#define N_WRAP_FLAGS (sizeof wrap_flags / sizeof wrap_flags[0])
/* pthread_create cannot be --wrap'ed: libgcc.a defines a __wrap_pthread_create of its own (for
 * -fsplit-stack) that the link would pull in. The deterministic variant renames the app's calls
 * at compile time instead. */
static const char det_cflag[] = "-Dpthread_create=das__wrap_pthread_create";
/* The race detector's variant (compile and link). */
static const char tsan_flag[] = "-fsanitize=thread";

int das_build_run_tool(char *const argv[], das_buf_t *out)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid;
    int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (e != 0) {
        close(p[0]);
        das_buf_printf(out, "cannot run %s: %s\n", argv[0], strerror(e));
        return -e;
    }
    char chunk[4096];
    ssize_t n;
    while ((n = read(p[0], chunk, sizeof chunk)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        das_buf_append(out, chunk, (size_t)n);
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Keeps the build just made or chosen (`keep`, made the newest) and the one used before it;
 * removes every older app-*.so in `build_dir`, so edits do not pile builds up. Instances still
 * running an older build keep it mapped; nothing starts on it again. */
typedef struct {
    char *path;
    struct timespec mtime;
} so_t;

static int newest_first(const void *a, const void *b)
{
    const struct timespec *x = &((const so_t *)a)->mtime, *y = &((const so_t *)b)->mtime;
    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? 1 : -1;
    return x->tv_nsec < y->tv_nsec ? 1 : x->tv_nsec > y->tv_nsec ? -1 : 0;
}

static void prune_builds(const char *build_dir, const char *keep)
{
    utimensat(AT_FDCWD, keep, NULL, 0); /* a cached build chosen again is the newest */
    DIR *d = opendir(build_dir);
    if (!d)
        return;
    so_t *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "app-", 4) != 0 || !das_str_has_suffix(e->d_name, ".so"))
            continue;
        char *p = das_xasprintf("%s/%s", build_dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) < 0) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            list = das_xrealloc(list, cap * sizeof *list);
        }
        list[n++] = (so_t){p, sb.st_mtim};
    }
    closedir(d);
    /* The newest two stay: `keep`, and the one before it. */
    qsort(list, n, sizeof *list, newest_first);
    for (size_t i = 0; i < n; i++) {
        if (i >= 2 && strcmp(list[i].path, keep) != 0)
            unlink(list[i].path);
        free(list[i].path);
    }
    free(list);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *p = das_xasprintf("%s/%s", dir, e->d_name);
            unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

int das_build_app(const das_build_options_t *o, das_build_result_t *res, das_err_t *err)
{
    memset(res, 0, sizeof *res);
    path_list_t sources = {0}, headers = {0};
    das_buf_t out = {0};
    char *tmp = NULL;
    int rc = 0;
    scan(o, "", &sources, &headers, 0);
    if (sources.n == 0)
        goto done;
    /* Sorted, so the hash and the link order do not depend on readdir() order. */
    qsort(sources.paths, sources.n, sizeof *sources.paths, cmp_str);
    if (headers.n)
        qsort(headers.paths, headers.n, sizeof *headers.paths, cmp_str);

    /* The cache key. */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        abort();
    EVP_DigestInit_ex(md, EVP_sha1(), NULL);
    hash_str(md, DAS_VERSION);
    hash_str(md, o->cc);
    for (size_t i = 0; i < N_CFLAGS; i++)
        hash_str(md, cflags[i]);
    if (o->deterministic) {
        for (size_t i = 0; i < N_WRAP_FLAGS; i++)
            hash_str(md, wrap_flags[i]);
        hash_str(md, det_cflag);
    }
    if (o->race_detector)
        hash_str(md, tsan_flag);
    for (const char *const *h = (const char *const[]){"appengine/appengine.h",
                                                       "appengine/status.h", NULL};
         *h; h++) {
        char *p = das_xasprintf("%s/%s", o->sdk_include, *h);
        hash_file(md, p);
        free(p);
    }
    for (size_t i = 0; i < headers.n + sources.n; i++) {
        const char *rel = i < headers.n ? headers.paths[i] : sources.paths[i - headers.n];
        char *p = das_xasprintf("%s/%s", o->appdir, rel);
        hash_str(md, rel);
        hash_file(md, p);
        free(p);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    EVP_MD_CTX_free(md);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned int i = 0; i < dlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);

    if (das_mkdirs(o->build_dir, 0755) < 0) {
        rc = das_err_set(err, AE_EIO, "cannot create %s: %s", o->build_dir, strerror(errno));
        goto done;
    }
    res->so_path = das_xasprintf("%s/app-%s.so", o->build_dir, hex);
    if (access(res->so_path, R_OK) == 0) {
        res->cached = true;
        prune_builds(o->build_dir, res->so_path);
        goto done;
    }

    tmp = das_xasprintf("%s/tmp-%s-%ld", o->build_dir, hex, (long)getpid());
    remove_tree(tmp);
    if (mkdir(tmp, 0755) < 0) {
        rc = das_err_set(err, AE_EIO, "cannot create %s: %s", tmp, strerror(errno));
        goto done;
    }
    /* Compile each file on its own, so each gets its AE_MODULE. */
    char **link = das_xcalloc(sources.n + N_WRAP_FLAGS + 9, sizeof *link);
    size_t nl = 0;
    link[nl++] = (char *)o->cc;
    link[nl++] = "-shared";
    link[nl++] = "-o";
    char *so_tmp = das_xasprintf("%s/app.so", tmp);
    link[nl++] = so_tmp;
    bool failed = false;
    for (size_t i = 0; i < sources.n; i++) {
        char module[256];
        das_app_module_name(sources.paths[i], strlen(sources.paths[i]), module, sizeof module);
        char *def = das_xasprintf("-DAE_MODULE=%s", module);
        char *inc_sdk = das_xasprintf("-I%s", o->sdk_include);
        char *inc_app = das_xasprintf("-I%s", o->appdir);
        char *src = das_xasprintf("%s/%s", o->appdir, sources.paths[i]);
        char *obj = das_xasprintf("%s/%zu.o", tmp, i);
        char *argv[N_CFLAGS + 12];
        size_t n = 0;
        argv[n++] = (char *)o->cc;
        for (size_t f = 0; f < N_CFLAGS; f++)
            argv[n++] = (char *)cflags[f];
        if (o->deterministic)
            argv[n++] = (char *)det_cflag;
        if (o->race_detector)
            argv[n++] = (char *)tsan_flag;
        argv[n++] = inc_sdk;
        argv[n++] = inc_app;
        argv[n++] = def;
        argv[n++] = "-c";
        argv[n++] = src;
        argv[n++] = "-o";
        argv[n++] = obj;
        argv[n] = NULL;
        if (das_build_run_tool(argv, &out) != 0)
            failed = true;
        link[nl++] = obj;
        free(def);
        free(inc_sdk);
        free(inc_app);
        free(src);
    }
    if (o->deterministic)
        for (size_t i = 0; i < N_WRAP_FLAGS; i++)
            link[nl++] = (char *)wrap_flags[i];
    if (o->race_detector)
        link[nl++] = (char *)tsan_flag;
    link[nl++] = "-lm";
    link[nl++] = "-lpthread";
    link[nl] = NULL;
    if (!failed && das_build_run_tool(link, &out) != 0)
        failed = true;
    if (!failed && rename(so_tmp, res->so_path) < 0) {
        rc = das_err_set(err, AE_EIO, "cannot move the build into place: %s", strerror(errno));
        failed = true;
    }
    if (!failed)
        prune_builds(o->build_dir, res->so_path);
    for (size_t i = 4; i < 4 + sources.n; i++)
        free(link[i]);
    free(link);
    free(so_tmp);
    if (failed && rc == 0)
        rc = AE_EINVAL;
done:
    if (rc < 0) {
        free(res->so_path);
        res->so_path = NULL;
    }
    if (tmp) {
        remove_tree(tmp);
        free(tmp);
    }
    res->output = das_buf_steal(&out);
    list_dispose(&sources);
    list_dispose(&headers);
    return rc;
}

void das_build_result_dispose(das_build_result_t *res)
{
    free(res->so_path);
    free(res->output);
    res->so_path = res->output = NULL;
}

char *das_build_find_sdk_include(const char *exe)
{
    const char *env = getenv("DAS_SDK_INCLUDE");
    if (env && *env)
        return das_xstrdup(env);
    /* Installed: PREFIX/bin/devappserver next to PREFIX/include/appengine. */
    char *copy = das_xstrdup(exe);
    char *slash = strrchr(copy, '/');
    if (slash) {
        *slash = '\0';
        char *p = das_xasprintf("%s/../include", copy);
        char *probe = das_xasprintf("%s/appengine/appengine.h", p);
        bool ok = access(probe, R_OK) == 0;
        free(probe);
        if (ok) {
            char real[PATH_MAX];
            free(copy);
            if (realpath(p, real)) {
                free(p);
                return das_xstrdup(real);
            }
            return p;
        }
        free(p);
    }
    free(copy);
    return das_xstrdup(DAS_SOURCE_SDK_INCLUDE);
}
