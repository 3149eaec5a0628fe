/* runtime.c - the instance role: dlopen the app, then serve requests on slot sockets.
 *
 * Design: the server hands the instance N connected Unix stream sockets (descriptors 3..3+N-1),
 * one per request it may run at once (1 for serial dispatch, max_concurrent_requests for
 * concurrent). Each slot has its own handler thread that reads a REQUEST frame, runs the
 * handler the script names, and writes the RESPONSE frame; the thread owns its request, its
 * response and its arena, so nothing here is shared between threads but the loaded app. When
 * the server closes a slot its thread ends; when all have ended the process exits. A handler
 * that crashes takes the whole process down, which is how the server learns of it.
 *
 * Descriptor 3+N is the lifeline, a pipe the server never writes to: when it reads end of file
 * the server is gone and the instance exits at once. (PR_SET_PDEATHSIG would not do: it fires
 * when the server *thread* that spawned the instance ends, and HTTP connection threads do.)
 *
 * The same serving code also runs instances inside another process (das_runtime_inprocess, for
 * explore's in-process backend): each loads a private copy of the app's shared object, so each
 * has its own globals, and serves a request on the caller's thread, its service calls handed
 * to the caller's function instead of written to a socket.
 */
#include "runtime.h"

#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <appengine/log.h>

#include "app_symbol.h"
#include "sdk_internal.h"

/* The app's writable data as it was when loaded, or after the warmup request (.data, .bss;
 * not RELRO, which is read-only by then), for RESET: explore makes an instance fresh between
 * schedules by copying it back. */
typedef struct {
    uintptr_t start;
    size_t len;
    unsigned char *copy;
} region_t;

typedef struct {
    const void *base;
    const void *end; /* past the last of its segments: its code lies in [base, end) */
    region_t regions[8];
    int n;
} snapshot_t;

typedef struct {
    void *dl;
    int fd;
    snapshot_t *snapshot; /* also where the app is loaded: call sites are offsets from it */
} slot_t;

/* The request this thread is serving, for the crash handler: its slot's descriptor and its
 * id (an in-process instance has no descriptor: -1). */
static _Thread_local int current_fd = -1;
static _Thread_local uint64_t current_id;
/* The request this thread serves and its slot, for the deterministic build's wrappers. */
static _Thread_local ae_request_t *current_rq;
static _Thread_local int current_slot = -1;
/* Where das_runtime_abandon() jumps to: set while an in-process instance serves a request. */
static _Thread_local sigjmp_buf *current_escape;

ae_request_t *das_runtime_request(int *slot)
{
    if (slot)
        *slot = current_rq ? current_slot : -1;
    return current_rq;
}

/* The transport's context for one request: its slot and the id every frame of it carries. */
typedef struct {
    int fd;
    uint64_t id;
} slot_request_t;

static bool route_matches(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, path, n - 1) == 0;
    return strcmp(pattern, path) == 0;
}

/* Runs the handler for one decoded request, filling `rs`. */
static void run_handler(void *dl, ae_request_t *rq, ae_response_t *rs)
{
    char symbol[512];
    const char *script = rq->wire.script;
    if (das_app_symbol_name(script, symbol, sizeof symbol) < 0) {
        ae_response_error(rs, 500, "script '%s' is not of the form FILE.NAME\n", script);
        return;
    }
    const ae_app_t *app = dlsym(dl, symbol);
    if (!app) {
        const char *dot = strrchr(script, '.');
        ae_response_error(rs, 500,
                          "script '%s': %.*s.c declares no AE_APP(%s, ...) table (no symbol "
                          "%s in the app)\n",
                          script, (int)(dot - script), script, dot + 1, symbol);
        return;
    }
    for (size_t i = 0; i < app->n_routes; i++) {
        const ae_route_t *r = &app->routes[i];
        if (r->handler && (!r->path || route_matches(r->path, rq->wire.path))) {
            r->handler(rq, rs);
            return;
        }
    }
    ae_response_error(rs, 404, "Not Found\n");
}

/* The instance's transport: CALL and REPLY frames on the slot descriptor in call_ctx. */
static int slot_call(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply)
{
    const slot_request_t *sr = rq->call_ctx;
    das_rpc_type_t type;
    uint64_t id;
    if (das_rpc_send_frame(sr->fd, DAS_RPC_CALL, sr->id, call->data, call->len) < 0 ||
        das_rpc_recv_frame(sr->fd, &type, &id, reply) < 0 || type != DAS_RPC_REPLY ||
        id != sr->id)
        return AE_EUNAVAILABLE; /* the server is going away; it will end this instance */
    return AE_OK;
}

/* Serves one encoded request as `slot` (the app loaded at `dl`, where `snap` says), with `call`
 * as the transport of its service calls, and encodes its response into `out`. */
static void serve_request(void *dl, const snapshot_t *snap, int slot, const void *frame,
                          size_t len,
                          int (*call)(ae_request_t *, const das_rpc_buf_t *, das_rpc_buf_t *),
                          void *call_ctx, das_rpc_buf_t *out)
{
    ae_request_t rq;
    memset(&rq, 0, sizeof rq);
    rq.call = call;
    rq.call_ctx = call_ctx;
    ae_response_t rs;
    ae__response_init(&rs, &rq.arena);
    if (das_rpc_decode_request(frame, len, &rq.wire) < 0) {
        ae_response_error(&rs, 500, "devappserver: malformed request frame\n");
    } else {
        if (rq.wire.virtual_now_ns) { /* deterministic dispatch */
            ae__request_virtual(&rq);
            rq.app_base = snap->base;
            rq.app_end = snap->end;
        }
        current_rq = &rq;
        current_slot = slot;
        run_handler(dl, &rq, &rs);
    }
    ae_log_flush(&rq);
    current_rq = NULL;
    current_slot = -1;
    das_rpc_response_t wire = {
        .status = (uint32_t)rs.status,
        .headers = rs.headers,
        .n_headers = (uint32_t)rs.n_headers,
        .body = rs.body ? rs.body : "",
        .body_len = rs.len,
    };
    if (rs.len > DAS_RPC_MAX_RESPONSE_BODY) { /* the front end answers 500 naming the size */
        wire.body = "";
        wire.body_len = 0;
        wire.body_dropped = rs.len;
    }
    out->len = 0;
    das_rpc_encode_response(out, &wire);
    if (out->len > DAS_RPC_MAX_FRAME) { /* headers no frame can carry: say so, promptly */
        static const char msg[] = "Internal Server Error: the response's headers are too large "
                                  "to send.\n";
        das_rpc_response_t small = {.status = 500, .body = msg, .body_len = sizeof msg - 1};
        out->len = 0;
        das_rpc_encode_response(out, &small);
    }
    ae__response_dispose(&rs);
    das_rpc_request_dispose(&rq.wire);
    ae__request_dispose(&rq);
}

static void serve_one(const slot_t *slot, uint64_t id, das_rpc_buf_t *frame,
                      das_rpc_buf_t *out)
{
    slot_request_t sr = {slot->fd, id};
    current_fd = slot->fd; /* a crash from here on is this request's */
    current_id = id;
    serve_request(slot->dl, slot->snapshot, slot->fd - DAS_RPC_FIRST_SLOT_FD, frame->data,
                  frame->len, slot_call, &sr, out);
    current_fd = -1; /* its answer goes next: a CRASH frame must never follow it */
    das_rpc_send_frame(slot->fd, DAS_RPC_RESPONSE, id, out->data, out->len);
}

static int snapshot_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    snapshot_t *snap = arg;
    if ((const void *)info->dlpi_addr != snap->base || snap->n)
        return 0;
    uintptr_t relro_start = 0, relro_end = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_GNU_RELRO) {
            relro_start = info->dlpi_addr + ph->p_vaddr;
            relro_end = relro_start + ph->p_memsz;
        }
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t end = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
        if (ph->p_type == PT_LOAD && end > (uintptr_t)snap->end)
            snap->end = (const void *)end;
    }
    for (int i = 0; i < info->dlpi_phnum && snap->n < 8; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
        if (start < relro_end && end > relro_start) /* skip the RELRO part */
            start = relro_end > start ? relro_end : start;
        if (start >= end)
            continue;
        region_t *r = &snap->regions[snap->n++];
        r->start = start;
        r->len = end - start;
        r->copy = malloc(r->len);
        if (!r->copy)
            abort();
        memcpy(r->copy, (void *)start, r->len);
    }
    return 1;
}

/* Where the app loaded at `dl` lies, and a copy of its writable data as it is now. */
static void snapshot_take(void *dl, snapshot_t *snap)
{
    struct link_map *map = NULL;
    memset(snap, 0, sizeof *snap);
    snap->base = dlinfo(dl, RTLD_DI_LINKMAP, &map) == 0 && map ? (void *)map->l_addr : NULL;
    dl_iterate_phdr(snapshot_object, snap);
}

static void snapshot_dispose(snapshot_t *snap)
{
    for (int i = 0; i < snap->n; i++)
        free(snap->regions[i].copy);
}

/* RESET: the app's globals as they were when it was loaded, and no mutex bookkeeping. The
 * other slots' threads are idle (the server sends RESET only then): nothing else touches them. */
static void reset_app(const snapshot_t *snap)
{
    for (int i = 0; i < snap->n; i++)
        memcpy((void *)snap->regions[i].start, snap->regions[i].copy, snap->regions[i].len);
    das_runtime_wrap_reset();
}

/* RESET with "take": the app's globals as they are now become what RESET puts back. */
static void retake(const snapshot_t *snap)
{
    for (int i = 0; i < snap->n; i++)
        memcpy(snap->regions[i].copy, (const void *)snap->regions[i].start, snap->regions[i].len);
}

static void *slot_main(void *arg)
{
    slot_t *slot = arg;
    /* A stack overflow in a handler must still reach the crash handler: it runs on a stack
     * of its own. */
    stack_t alt = {.ss_size = 64 * 1024};
    alt.ss_sp = malloc(alt.ss_size);
    if (alt.ss_sp)
        sigaltstack(&alt, NULL);
    das_rpc_buf_t frame = {0}, out = {0};
    if (das_rpc_send_frame(slot->fd, DAS_RPC_READY, 0, NULL, 0) == 0) {
        for (;;) {
            das_rpc_type_t type;
            uint64_t id;
            if (das_rpc_recv_frame(slot->fd, &type, &id, &frame) < 0)
                break;
            if (type == DAS_RPC_REQUEST) {
                serve_one(slot, id, &frame, &out);
            } else if (type == DAS_RPC_RESET && slot->snapshot) {
                das_rpc_reader_t r;
                das_rpc_reader_init(&r, frame.data, frame.len);
                if (frame.len && das_rpc_get_u32(&r) == 1)
                    retake(slot->snapshot); /* after the warmup */
                else
                    reset_app(slot->snapshot);
                if (das_rpc_send_frame(slot->fd, DAS_RPC_READY, 0, NULL, 0) < 0)
                    break;
            }
        }
    }
    das_rpc_buf_dispose(&frame);
    das_rpc_buf_dispose(&out);
    close(slot->fd);
    if (alt.ss_sp) {
        stack_t off = {.ss_flags = SS_DISABLE};
        sigaltstack(&off, NULL);
        free(alt.ss_sp);
    }
    return NULL;
}

/* A process the app forks is not serving the request: its crash is its own. */
static void forget_request_in_child(void)
{
    current_fd = -1;
}

/* A fatal signal in a handler: tell the server which request it was (a CRASH frame on that
 * request's slot; das_rpc_send_frame only builds a header on the stack and calls sendmsg(),
 * which a signal handler may call), so the log can say which request crashed the instance and
 * which were only on it; then die of the signal. */
static void on_fatal_signal(int sig)
{
    if (current_fd >= 0) {
        uint8_t payload[4] = {(uint8_t)sig}; /* the signal, as a little-endian u32 */
        das_rpc_send_frame(current_fd, DAS_RPC_CRASH, current_id, payload, sizeof payload);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Waits on the lifeline: the server holds its other end and never writes, so read() returns
 * only when the server has closed it or died, however it died. Then the instance goes too,
 * even if a handler is stuck in a loop. */
static void *lifeline_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char c;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
    /* The server is gone: so is everything in this instance's process group (what the app
     * started, popen or fork), and the instance with it. */
    kill(0, SIGKILL);
    _exit(0);
}

int das_runtime_main(const char *so_path, int n_slots)
{
    signal(SIGPIPE, SIG_IGN);
    /* Programs the app starts (system(), popen()) must not hold the slots or the lifeline:
     * the server would not see this instance end while they live. */
    for (int fd = DAS_RPC_FIRST_SLOT_FD; fd <= DAS_RPC_FIRST_SLOT_FD + n_slots; fd++)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    pthread_t lifeline;
    if (pthread_create(&lifeline, NULL, lifeline_main,
                       (void *)(intptr_t)(DAS_RPC_FIRST_SLOT_FD + n_slots)) != 0)
        return 1;
    pthread_detach(lifeline);
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        struct sigaction sa = {.sa_handler = on_fatal_signal, .sa_flags = SA_NODEFER | SA_ONSTACK};
        sigemptyset(&sa.sa_mask);
        sigaction(fatal[i], &sa, NULL);
    }
    pthread_atfork(NULL, NULL, forget_request_in_child);

    void *dl = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        for (int i = 0; i < n_slots; i++)
            das_rpc_send_frame(DAS_RPC_FIRST_SLOT_FD + i, DAS_RPC_LOAD_ERROR, 0, why,
                               strlen(why));
        return 1;
    }
    slot_t *slots = calloc((size_t)n_slots, sizeof *slots);
    pthread_t *threads = calloc((size_t)n_slots, sizeof *threads);
    if (!slots || !threads)
        abort();
    snapshot_t snapshot;
    snapshot_take(dl, &snapshot);
    for (int i = 0; i < n_slots; i++) {
        slots[i].dl = dl;
        slots[i].snapshot = &snapshot;
        slots[i].fd = DAS_RPC_FIRST_SLOT_FD + i;
        if (pthread_create(&threads[i], NULL, slot_main, &slots[i]) != 0) {
            fprintf(stderr, "devappserver instance: cannot start handler thread: %s\n",
                    strerror(errno));
            _exit(1);
        }
    }
    for (int i = 0; i < n_slots; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    free(slots);
    snapshot_dispose(&snapshot);
    /* No dlclose(): an app may have started threads or registered destructors we cannot
     * unwind safely; the process is about to exit anyway. */
    return 0;
}

/* ---------------------------------------------------------------- in-process instances */

struct das_inprocess_app {
    void *dl;
    snapshot_t snapshot;
};

typedef struct {
    das_inprocess_call_fn fn;
    void *ctx;
} inprocess_call_t;

static int inprocess_call(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply)
{
    const inprocess_call_t *c = rq->call_ctx;
    reply->len = 0;
    c->fn(c->ctx, call->data, call->len, reply);
    return AE_OK;
}

/* Copies `from` to a new file under `dir`; its path goes into `path`. */
static int copy_file(const char *from, const char *dir, char *path, size_t cap)
{
    snprintf(path, cap, "%s/app-copy-XXXXXX.so", dir);
    int out = mkstemps(path, 3);
    if (out < 0)
        return -1;
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int rc = in < 0 ? -1 : 0;
    char buf[65536];
    ssize_t n;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n)
            rc = -1;
    }
    if (in >= 0)
        close(in);
    if (close(out) < 0)
        rc = -1;
    if (rc < 0)
        unlink(path);
    return rc;
}

static das_inprocess_app_t *inprocess_load(const char *so_path, const char *tmp_dir, int n_slots,
                                           char *err, size_t cap)
{
    (void)n_slots; /* slots are threads of the caller's */
    char path[4096];
    /* dlopen of a path already loaded returns the same object: a copy has globals of its own. */
    if (copy_file(so_path, tmp_dir, path, sizeof path) < 0) {
        snprintf(err, cap, "cannot copy %s under %s: %s", so_path, tmp_dir, strerror(errno));
        return NULL;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    unlink(path); /* the mapping stays */
    if (!dl) {
        snprintf(err, cap, "%s", dlerror());
        return NULL;
    }
    das_inprocess_app_t *app = calloc(1, sizeof *app);
    if (!app)
        abort();
    app->dl = dl;
    snapshot_take(dl, &app->snapshot);
    return app;
}

void das_runtime_abandon(void)
{
    if (current_escape)
        siglongjmp(*current_escape, 1);
}

static int inprocess_serve(das_inprocess_app_t *app, int slot, const void *request, size_t len,
                           das_rpc_buf_t *response, das_inprocess_call_fn call, void *ctx)
{
    inprocess_call_t c = {call, ctx};
    sigjmp_buf escape;
    if (sigsetjmp(escape, 0)) {
        /* Given up at a point (das_runtime_abandon): the request's memory is lost with the
         * frames the jump left, and the instance is replaced. */
        current_escape = NULL;
        current_rq = NULL;
        current_slot = -1;
        return -1;
    }
    current_escape = &escape;
    serve_request(app->dl, &app->snapshot, slot, request, len, inprocess_call, &c, response);
    current_escape = NULL;
    return 0;
}

static void inprocess_reset(das_inprocess_app_t *app)
{
    reset_app(&app->snapshot);
}

static void inprocess_snapshot(das_inprocess_app_t *app)
{
    retake(&app->snapshot);
}

static void inprocess_unload(das_inprocess_app_t *app)
{
    if (!app)
        return;
    snapshot_dispose(&app->snapshot);
    free(app);
}

const das_inprocess_runtime_t das_runtime_inprocess = {
    inprocess_load, inprocess_serve, inprocess_reset, inprocess_snapshot, inprocess_unload,
};
