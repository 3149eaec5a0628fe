/* trace.c - writing and reading the JSON-lines trace of a deterministic run (see trace.h).
 *
 * Design: each line is a jansson object built in order (JSON_PRESERVE_ORDER) and dumped
 * compactly, so the bytes depend only on what is recorded. Reading keeps every parsed line
 * alive in the file's storage and points into it; what had to be decoded (base64) is kept in
 * a list of allocations freed with the file.
 */
#include "trace.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

struct das_trace {
    FILE *f;
    char *path;
    bool held;  /* in memory until it is closed (das_trace_create's `held`) */
    char *mem;  /* held: the lines so far (open_memstream) */
    size_t mem_len;
    int write_errno; /* the first write that failed (a full disk, a file size limit); 0: none */
};

static void note_write(das_trace_t *t, bool ok)
{
    if (!ok && !t->write_errno)
        t->write_errno = errno ? errno : EIO;
}

/* ---------------------------------------------------------------- values */

/* A string when the bytes are UTF-8 with no NUL, else {"base64": ".."}. */
static json_t *bytes_value(const char *data, size_t len)
{
    if (!memchr(data, 0, len)) {
        json_t *s = json_stringn(data, len);
        if (s)
            return s;
    }
    size_t cap = 4 * ((len + 2) / 3) + 1;
    unsigned char *out = das_xmalloc(cap);
    int n = EVP_EncodeBlock(out, (const unsigned char *)data, (int)len);
    json_t *o = json_object();
    json_object_set_new(o, "base64", json_stringn((const char *)out, (size_t)n));
    free(out);
    return o;
}

static void digest_hex(const void *data, size_t len, char out[17])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha1(), NULL);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static char *dump(json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    return text;
}

void das_trace_put_line(das_trace_t *t, const char *line)
{
    note_write(t, fputs(line, t->f) != EOF && fputc('\n', t->f) != EOF);
    if (!t->held)
        note_write(t, fflush(t->f) == 0);
}

static void put_line(das_trace_t *t, json_t *o)
{
    char *text = dump(o);
    if (text)
        das_trace_put_line(t, text);
    free(text);
}

static const char *task_name(int task, char buf[16])
{
    das_sched_task_name(task, buf);
    return buf;
}

/* ---------------------------------------------------------------- writing */

/* Makes the folder `path` goes in. */
static int make_folder(const char *path, das_err_t *err)
{
    char *dir = das_xstrdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;
    if (slash && slash != dir) {
        *slash = '\0';
        int mk = das_mkdirs(dir, 0755);
        if (mk < 0)
            rc = das_err_set(err, AE_EIO, "cannot create the trace folder %s: %s", dir,
                             strerror(-mk));
    }
    free(dir);
    return rc;
}

/* Opens `path` to write: a new file rather than an old regular file truncated, since ext4
 * writes a file truncated and rewritten out to disk when it is closed (auto_da_alloc), which
 * cost explore a disk write per schedule. Anything else at `path` (a device such as
 * /dev/null, a pipe) is written to, never removed. */
static FILE *create_file(const char *path, das_err_t *err)
{
    if (make_folder(path, err) < 0)
        return NULL;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
        unlink(path);
    FILE *f = fopen(path, "we");
    if (!f)
        das_err_set(err, AE_EIO, "cannot write the trace %s: %s", path, strerror(errno));
    return f;
}

int das_trace_create(const char *path, const das_trace_header_t *h, bool held, das_trace_t **out,
                     das_err_t *err)
{
    das_trace_t *t = das_xcalloc(1, sizeof *t);
    t->held = held;
    t->f = held ? open_memstream(&t->mem, &t->mem_len) : create_file(path, err);
    if (!t->f) {
        int rc = held ? das_err_set(err, AE_ENOMEM, "cannot hold a trace in memory")
                      : err->code;
        free(t);
        return rc ? rc : AE_EIO;
    }
    t->path = das_xstrdup(path);
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)h->seed);
    json_t *o = json_object();
    json_object_set_new(o, "trace", json_string("devappserver"));
    json_object_set_new(o, "format", json_integer(DAS_TRACE_FORMAT));
    json_object_set_new(o, "version", json_string(DAS_VERSION));
    json_object_set_new(o, "build", json_string(h->build ? h->build : ""));
    json_object_set_new(o, "appdir", json_string(h->appdir ? h->appdir : ""));
    json_object_set_new(o, "threadsafe", json_boolean(h->threadsafe));
    json_object_set_new(o, "slots", json_integer(h->slots));
    json_object_set_new(o, "max_instances", json_integer(h->max_instances));
    json_object_set_new(o, "strategy", json_string(h->strategy ? h->strategy : ""));
    json_object_set_new(o, "seed", json_string(seed));
    json_object_set_new(o, "pct_depth", json_integer(h->pct_depth));
    json_object_set_new(o, "gather_ms", json_integer(h->gather_ms));
    json_object_set_new(o, "start_ns", json_integer(h->start_ns));
    json_object_set_new(o, "max_steps", json_integer((json_int_t)h->max_steps));
    put_line(t, o);
    *out = t;
    return 0;
}

const char *das_trace_path(const das_trace_t *t)
{
    return t->path;
}

static void put_request_fields(json_t *o, const das_trace_request_t *rq)
{
    json_object_set_new(o, "method", bytes_value(rq->method, strlen(rq->method)));
    json_object_set_new(o, "target", bytes_value(rq->target, strlen(rq->target)));
    json_t *headers = json_array();
    for (size_t i = 0; i < rq->n_headers; i++) {
        json_t *pair = json_array();
        json_array_append_new(pair, bytes_value(rq->headers[i].name,
                                                strlen(rq->headers[i].name)));
        json_array_append_new(pair, bytes_value(rq->headers[i].value,
                                                strlen(rq->headers[i].value)));
        json_array_append_new(headers, pair);
    }
    json_object_set_new(o, "headers", headers);
    json_object_set_new(o, "body", bytes_value(rq->body ? rq->body : "", rq->body_len));
    json_object_set_new(o, "user", json_string(rq->user ? rq->user : ""));
    json_object_set_new(o, "admin", json_boolean(rq->admin));
}

static char *dump_line(json_t *o)
{
    char *text = dump(o);
    return text ? text : das_xstrdup("{}");
}

char *das_trace_request_line(int task, uint64_t arrival, const das_trace_request_t *rq)
{
    char name[16];
    json_t *o = json_object();
    json_object_set_new(o, "request", json_integer(task));
    json_object_set_new(o, "task", json_string(task_name(task, name)));
    json_object_set_new(o, "arrival", json_integer((json_int_t)arrival));
    put_request_fields(o, rq);
    return dump_line(o);
}

char *das_trace_setup_line(int index, const das_trace_request_t *rq)
{
    json_t *o = json_object();
    json_object_set_new(o, "setup", json_integer(index));
    put_request_fields(o, rq);
    return dump_line(o);
}

char *das_trace_check_line(int index, const das_trace_request_t *rq, int expect_status,
                           const char *expect_body, const char *expect_regex, int status,
                           const char *body, size_t len)
{
    json_t *o = json_object();
    json_object_set_new(o, "check", json_integer(index));
    put_request_fields(o, rq);
    json_t *e = json_object();
    if (expect_status)
        json_object_set_new(e, "status", json_integer(expect_status));
    if (expect_body)
        json_object_set_new(e, "body", bytes_value(expect_body, strlen(expect_body)));
    if (expect_regex)
        json_object_set_new(e, "body_regex", json_string(expect_regex));
    json_object_set_new(o, "expect", e);
    json_t *r = json_object();
    json_object_set_new(r, "status", json_integer(status));
    json_object_set_new(r, "body", bytes_value(body ? body : "", len));
    json_object_set_new(o, "response", r);
    return dump_line(o);
}

void das_trace_step(das_trace_t *t, const das_trace_step_t *s)
{
    const das_sched_step_t *st = s->st;
    const das_sched_action_t *a = &st->action;
    char name[16];
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer((json_int_t)s->step));
    json_object_set_new(o, "task", json_string(task_name(st->task, name)));
    json_object_set_new(o, "action", json_string(das_sched_kind_name(a->kind)));
    json_object_set_new(o, "could", json_integer(st->could));
    json_object_set_new(o, "decision", json_boolean(st->decision));
    json_object_set_new(o, "preemption", json_boolean(st->preemption));
    if (a->kind == DAS_SCHED_CALL) {
        json_object_set_new(o, "service", json_string(a->service ? a->service : ""));
        json_object_set_new(o, "op", json_string(a->op ? a->op : ""));
        json_t *keys = json_array();
        for (size_t i = 0; i < a->n_keys; i++)
            json_array_append_new(keys, bytes_value(a->keys[i].data, a->keys[i].len));
        json_object_set_new(o, "keys", keys);
        json_object_set_new(o, "access", json_string(a->write ? "write" : "read"));
        json_object_set_new(o, "status", json_string(s->status == 0 ? "ok"
                                                                    : ae_strerror(s->status)));
        if (s->has_value) {
            char d[17];
            digest_hex(s->value, s->value_len, d);
            json_object_set_new(o, "value", bytes_value(s->value, s->value_len));
            json_object_set_new(o, "digest", json_string(d));
        }
    } else if (a->kind == DAS_SCHED_LOCK || a->kind == DAS_SCHED_WAIT) {
        json_object_set_new(o, "lock", json_integer((json_int_t)a->lock));
        if (a->kind == DAS_SCHED_WAIT) {
            json_object_set_new(o, "cond", json_integer((json_int_t)a->cond));
            json_object_set_new(o, "timed_out", json_boolean(st->timed_out));
        }
    } else if (a->kind == DAS_SCHED_SLEEP) {
        json_object_set_new(o, "sleep_ns", json_integer(a->sleep_ns));
    }
    if (a->site && a->site[0])
        json_object_set_new(o, "site", json_string(a->site));
    if (s->external)
        json_object_set_new(o, "external", bytes_value(s->external, s->external_len));
    put_line(t, o);
}

void das_trace_end(das_trace_t *t, int task, uint64_t step, const char *how, int status,
                   const char *body, size_t len)
{
    char name[16], d[17];
    json_t *o = json_object();
    json_object_set_new(o, "end", json_string(task_name(task, name)));
    json_object_set_new(o, "step", json_integer((json_int_t)step));
    json_object_set_new(o, "how", json_string(how));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "body", bytes_value(body ? body : "", len));
    digest_hex(body ? body : "", len, d);
    json_object_set_new(o, "digest", json_string(d));
    put_line(t, o);
}

void das_trace_check_failed(das_trace_t *t, int task, uint64_t step, const char *message,
                            const char *site)
{
    char name[16];
    json_t *o = json_object();
    json_object_set_new(o, "check_failed", json_string(task_name(task, name)));
    json_object_set_new(o, "step", json_integer((json_int_t)step));
    json_object_set_new(o, "message", bytes_value(message, strlen(message)));
    if (site && site[0])
        json_object_set_new(o, "site", json_string(site));
    put_line(t, o);
}

int das_trace_close(das_trace_t *t, const das_sched_t *s, das_err_t *err)
{
    if (!t)
        return 0;
    if (s) {
        char *schedule = das_sched_schedule_string(s);
        json_t *o = json_object();
        json_object_set_new(o, "close", json_true());
        json_object_set_new(o, "schedule", json_string(schedule));
        json_object_set_new(o, "steps", json_integer((json_int_t)das_sched_steps(s)));
        json_object_set_new(o, "preemptions", json_integer(das_sched_preemptions(s)));
        put_line(t, o);
        free(schedule);
    }
    note_write(t, fclose(t->f) == 0);
    int rc = 0;
    if (t->held) { /* now it goes to its file */
        FILE *f = create_file(t->path, err);
        if (f) {
            note_write(t, fwrite(t->mem, 1, t->mem_len, f) == t->mem_len);
            note_write(t, fclose(f) == 0);
        } else {
            rc = -1; /* create_file said why */
        }
        free(t->mem);
    }
    if (rc == 0 && t->write_errno) {
        das_err_set(err, AE_EIO, "the trace %s was not written whole: %s", t->path,
                    strerror(t->write_errno));
        rc = -1;
    }
    free(t->path);
    free(t);
    return rc;
}

char *das_trace_next_path(const char *dir, const char *prefix)
{
    for (unsigned n = 1;; n++) {
        char *path = das_xasprintf("%s/%s-%04u.jsonl", dir, prefix, n);
        if (access(path, F_OK) != 0)
            return path;
        free(path);
    }
}

size_t das_trace_first_difference(const char *recorded, const char *replayed,
                                  bool recorded_closed)
{
    FILE *a = fopen(recorded, "re"), *b = fopen(replayed, "re");
    size_t diff = 0, line = 0;
    char *la = NULL, *lb = NULL;
    size_t ca = 0, cb = 0;
    if (!a || !b) {
        diff = 1;
        goto out;
    }
    for (;;) {
        line++;
        ssize_t na = getline(&la, &ca, a), nb = getline(&lb, &cb, b);
        if (na < 0 && nb < 0)
            break;
        if (na < 0 && !recorded_closed && strncmp(lb, "{\"close\":", 9) == 0)
            break;
        if (na != nb || memcmp(la, lb, (size_t)na) != 0) {
            diff = line;
            break;
        }
    }
out:
    free(la);
    free(lb);
    if (a)
        fclose(a);
    if (b)
        fclose(b);
    return diff;
}

/* ---------------------------------------------------------------- reading */

typedef struct {
    json_t **lines;
    size_t n_lines, cap_lines;
    void **allocs;
    size_t n_allocs, cap_allocs;
} storage_t;

static void *keep(storage_t *st, void *p)
{
    if (st->n_allocs == st->cap_allocs) {
        st->cap_allocs = st->cap_allocs ? 2 * st->cap_allocs : 16;
        st->allocs = das_xrealloc(st->allocs, st->cap_allocs * sizeof *st->allocs);
    }
    st->allocs[st->n_allocs++] = p;
    return p;
}

/* A string or {"base64": ..} back to bytes (NUL-terminated). NULL when it is neither. */
static const char *get_bytes(storage_t *st, json_t *v, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    json_t *b = json_is_object(v) ? json_object_get(v, "base64") : NULL;
    if (!json_is_string(b))
        return NULL;
    size_t in = json_string_length(b);
    unsigned char *out = keep(st, das_xmalloc(in / 4 * 3 + 4));
    int n = EVP_DecodeBlock(out, (const unsigned char *)json_string_value(b), (int)in);
    if (n < 0)
        return NULL;
    /* EVP_DecodeBlock counts the padding's zero bytes: take them off. */
    for (size_t i = in; i > 0 && json_string_value(b)[i - 1] == '='; i--)
        n--;
    out[n] = '\0';
    *len = (size_t)n;
    return (const char *)out;
}

static const char *get_str(json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int task_number(const char *name)
{
    if (!name)
        return -1;
    if (name[0] >= 'A' && name[0] <= 'Z' && name[1] == '\0')
        return name[0] - 'A';
    if (name[0] == 'T') {
        char *end;
        long n = strtol(name + 1, &end, 10);
        if (*end == '\0' && n >= 27 && n < 1000000)
            return (int)n - 1;
    }
    return -1;
}

static int kind_of(const char *name)
{
    for (int k = DAS_SCHED_START; k <= DAS_SCHED_END; k++)
        if (name && strcmp(name, das_sched_kind_name((das_sched_kind_t)k)) == 0)
            return k;
    return -1;
}

static int bad_line(das_err_t *err, const char *path, size_t line, const char *why)
{
    return das_err_set(err, AE_EINVAL, "%s:%zu: %s", path, line, why);
}

static int read_request(storage_t *st, json_t *o, das_trace_file_request_t *r)
{
    size_t len;
    r->task = (int)json_integer_value(json_object_get(o, "request"));
    json_t *e = json_object_get(o, "expect"), *got = json_object_get(o, "response");
    if (json_is_object(e)) {
        r->expect_status = (int)json_integer_value(json_object_get(e, "status"));
        r->expect_body = json_object_get(e, "body")
                             ? get_bytes(st, json_object_get(e, "body"), &len)
                             : NULL;
        r->expect_regex = get_str(e, "body_regex");
    }
    if (json_is_object(got)) {
        r->got_status = (int)json_integer_value(json_object_get(got, "status"));
        r->got_body = get_bytes(st, json_object_get(got, "body"), &r->got_len);
    }
    r->arrival = (uint64_t)json_integer_value(json_object_get(o, "arrival"));
    r->method = (char *)get_bytes(st, json_object_get(o, "method"), &len);
    r->target = (char *)get_bytes(st, json_object_get(o, "target"), &len);
    r->body = (char *)get_bytes(st, json_object_get(o, "body"), &r->body_len);
    r->user = (char *)get_str(o, "user");
    r->admin = json_is_true(json_object_get(o, "admin"));
    json_t *h = json_object_get(o, "headers");
    if (!r->method || !r->target || !r->body || !json_is_array(h))
        return -1;
    r->n_headers = json_array_size(h);
    r->headers = keep(st, das_xcalloc(r->n_headers + 1, sizeof *r->headers));
    for (size_t i = 0; i < r->n_headers; i++) {
        json_t *pair = json_array_get(h, i);
        r->headers[i].name = get_bytes(st, json_array_get(pair, 0), &len);
        r->headers[i].value = get_bytes(st, json_array_get(pair, 1), &len);
        if (!r->headers[i].name || !r->headers[i].value)
            return -1;
    }
    if (!r->user)
        r->user = "";
    return 0;
}

static int read_step(storage_t *st, json_t *o, das_sched_step_t *s)
{
    memset(s, 0, sizeof *s);
    s->task = task_number(get_str(o, "task"));
    int kind = kind_of(get_str(o, "action"));
    if (s->task < 0 || kind < 0)
        return -1;
    das_sched_action_t *a = &s->action;
    a->kind = (das_sched_kind_t)kind;
    s->could = (int)json_integer_value(json_object_get(o, "could"));
    s->decision = json_is_true(json_object_get(o, "decision"));
    s->preemption = json_is_true(json_object_get(o, "preemption"));
    s->timed_out = json_is_true(json_object_get(o, "timed_out"));
    a->site = get_str(o, "site");
    if (kind == DAS_SCHED_CALL) {
        a->service = get_str(o, "service");
        a->op = get_str(o, "op");
        const char *access = get_str(o, "access");
        a->write = access && strcmp(access, "write") == 0;
        json_t *keys = json_object_get(o, "keys");
        if (!a->service || !a->op || !json_is_array(keys))
            return -1;
        a->n_keys = json_array_size(keys);
        das_sched_key_t *k = keep(st, das_xcalloc(a->n_keys + 1, sizeof *k));
        for (size_t i = 0; i < a->n_keys; i++) {
            k[i].data = get_bytes(st, json_array_get(keys, i), &k[i].len);
            if (!k[i].data)
                return -1;
        }
        a->keys = k;
    } else if (kind == DAS_SCHED_LOCK || kind == DAS_SCHED_WAIT) {
        a->lock = (uint64_t)json_integer_value(json_object_get(o, "lock"));
        a->cond = (uint64_t)json_integer_value(json_object_get(o, "cond"));
    } else if (kind == DAS_SCHED_SLEEP) {
        a->sleep_ns = json_integer_value(json_object_get(o, "sleep_ns"));
    }
    return 0;
}

static int read_header(json_t *o, das_trace_file_t *f)
{
    const char *magic = get_str(o, "trace");
    if (!magic || strcmp(magic, "devappserver") != 0)
        return -1;
    f->format = (int)json_integer_value(json_object_get(o, "format"));
    das_trace_header_t *h = &f->header;
    f->version = (char *)get_str(o, "version");
    h->build = get_str(o, "build");
    h->appdir = get_str(o, "appdir");
    h->threadsafe = json_is_true(json_object_get(o, "threadsafe"));
    h->slots = (int)json_integer_value(json_object_get(o, "slots"));
    h->max_instances = (int)json_integer_value(json_object_get(o, "max_instances"));
    h->strategy = get_str(o, "strategy");
    const char *seed = get_str(o, "seed");
    h->seed = seed ? strtoull(seed, NULL, 10) : 0;
    h->pct_depth = (int)json_integer_value(json_object_get(o, "pct_depth"));
    h->gather_ms = (int)json_integer_value(json_object_get(o, "gather_ms"));
    h->start_ns = json_integer_value(json_object_get(o, "start_ns"));
    json_int_t max_steps = json_integer_value(json_object_get(o, "max_steps")); /* 0 if none */
    h->max_steps = max_steps > 0 ? (uint64_t)max_steps : 0;
    return 0;
}

int das_trace_load(const char *path, das_trace_file_t *out, das_err_t *err)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "re");
    if (!fp)
        return das_err_set(err, AE_EIO, "cannot read the trace %s: %s", path, strerror(errno));
    storage_t *st = das_xcalloc(1, sizeof *st);
    out->storage_ = st;
    size_t cap_req = 0, cap_steps = 0, cap_dec = 0, cap_ends = 0, cap_checks = 0;
    size_t cap_setup = 0, cap_run = 0;
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    bool have_header = false;
    while ((n = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (n == 0 || (n == 1 && line[0] == '\n'))
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        if (!o || !json_is_object(o)) {
            json_decref(o);
            rc = bad_line(err, path, lineno, "not a JSON object; a trace has one per line");
            break;
        }
        if (st->n_lines == st->cap_lines) {
            st->cap_lines = st->cap_lines ? 2 * st->cap_lines : 64;
            st->lines = das_xrealloc(st->lines, st->cap_lines * sizeof *st->lines);
        }
        st->lines[st->n_lines++] = o;
        if (!have_header) {
            if (read_header(o, out) < 0) {
                rc = bad_line(err, path, lineno, "the first line is not a devappserver trace "
                                                 "header");
                break;
            }
            if (out->format != DAS_TRACE_FORMAT) {
                rc = das_err_set(err, AE_EINVAL,
                                 "%s: trace format %d is not one this devappserver reads "
                                 "(format %d)",
                                 path, out->format, DAS_TRACE_FORMAT);
                break;
            }
            have_header = true;
        } else if (json_object_get(o, "request")) {
            if (out->n_requests == cap_req) {
                cap_req = cap_req ? 2 * cap_req : 8;
                out->requests = das_xrealloc(out->requests, cap_req * sizeof *out->requests);
            }
            das_trace_file_request_t *r = &out->requests[out->n_requests];
            memset(r, 0, sizeof *r);
            if (read_request(st, o, r) < 0 || r->task != (int)out->n_requests) {
                rc = bad_line(err, path, lineno, "a malformed request line");
                break;
            }
            out->n_requests++;
        } else if (json_object_get(o, "step") && !json_object_get(o, "end") &&
                   !json_object_get(o, "check_failed")) {
            if (out->n_steps == cap_steps) {
                cap_steps = cap_steps ? 2 * cap_steps : 32;
                out->steps = das_xrealloc(out->steps, cap_steps * sizeof *out->steps);
                out->results = das_xrealloc(out->results, cap_steps * sizeof *out->results);
            }
            das_trace_file_result_t *res = &out->results[out->n_steps];
            res->status = get_str(o, "status");
            res->value = json_object_get(o, "value")
                             ? get_bytes(st, json_object_get(o, "value"), &res->value_len)
                             : NULL;
            res->external = json_object_get(o, "external")
                                ? get_bytes(st, json_object_get(o, "external"),
                                            &res->external_len)
                                : NULL;
            das_sched_step_t *s = &out->steps[out->n_steps];
            if (read_step(st, o, s) < 0 ||
                json_integer_value(json_object_get(o, "step")) != (json_int_t)out->n_steps) {
                rc = bad_line(err, path, lineno, "a malformed step line");
                break;
            }
            out->n_steps++;
            if (s->decision) {
                if (out->n_decisions == cap_dec) {
                    cap_dec = cap_dec ? 2 * cap_dec : 32;
                    out->decisions = das_xrealloc(out->decisions,
                                                  cap_dec * sizeof *out->decisions);
                }
                out->decisions[out->n_decisions++] = s->task;
            }
        } else if (json_object_get(o, "setup") || json_object_get(o, "check")) {
            bool setup = json_object_get(o, "setup") != NULL;
            das_trace_file_request_t **list = setup ? &out->setup : &out->checks_run;
            size_t *count = setup ? &out->n_setup : &out->n_checks_run;
            size_t *cap_list = setup ? &cap_setup : &cap_run;
            if (*count == *cap_list) {
                *cap_list = *cap_list ? 2 * *cap_list : 8;
                *list = das_xrealloc(*list, *cap_list * sizeof **list);
            }
            das_trace_file_request_t *r = &(*list)[*count];
            memset(r, 0, sizeof *r);
            if (read_request(st, o, r) < 0) {
                rc = bad_line(err, path, lineno, setup ? "a malformed setup line"
                                                       : "a malformed check line");
                break;
            }
            (*count)++;
        } else if (json_object_get(o, "end")) {
            if (out->n_ends == cap_ends) {
                cap_ends = cap_ends ? 2 * cap_ends : 8;
                out->ends = das_xrealloc(out->ends, cap_ends * sizeof *out->ends);
            }
            das_trace_file_end_t *e = &out->ends[out->n_ends];
            e->task = task_number(get_str(o, "end"));
            e->step = (uint64_t)json_integer_value(json_object_get(o, "step"));
            e->how = get_str(o, "how");
            e->status = (int)json_integer_value(json_object_get(o, "status"));
            e->body = get_bytes(st, json_object_get(o, "body"), &e->body_len);
            if (e->task < 0 || !e->how || !e->body) {
                rc = bad_line(err, path, lineno, "a malformed end line");
                break;
            }
            out->n_ends++;
        } else if (json_object_get(o, "check_failed")) {
            if (out->n_checks == cap_checks) {
                cap_checks = cap_checks ? 2 * cap_checks : 8;
                out->checks = das_xrealloc(out->checks, cap_checks * sizeof *out->checks);
            }
            das_trace_file_check_t *c = &out->checks[out->n_checks];
            size_t len;
            c->task = task_number(get_str(o, "check_failed"));
            c->step = (uint64_t)json_integer_value(json_object_get(o, "step"));
            c->message = get_bytes(st, json_object_get(o, "message"), &len);
            c->site = get_str(o, "site");
            if (c->task < 0 || !c->message) {
                rc = bad_line(err, path, lineno, "a malformed check_failed line");
                break;
            }
            out->n_checks++;
        } else if (json_object_get(o, "close")) {
            out->closed = true;
        } else {
            rc = bad_line(err, path, lineno, "a line of no kind this trace format has");
            break;
        }
    }
    free(line);
    fclose(fp);
    if (rc == 0 && !have_header)
        rc = das_err_set(err, AE_EINVAL, "%s: empty; a trace starts with its header line", path);
    if (rc < 0)
        das_trace_file_dispose(out);
    return rc;
}

void das_trace_file_dispose(das_trace_file_t *f)
{
    storage_t *st = f->storage_;
    if (st) {
        for (size_t i = 0; i < st->n_lines; i++)
            json_decref(st->lines[i]);
        for (size_t i = 0; i < st->n_allocs; i++)
            free(st->allocs[i]);
        free(st->lines);
        free(st->allocs);
        free(st);
    }
    free(f->requests);
    free(f->setup);
    free(f->checks_run);
    free(f->steps);
    free(f->results);
    free(f->ends);
    free(f->checks);
    free(f->decisions);
    memset(f, 0, sizeof *f);
}
