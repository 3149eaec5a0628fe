/* rpc_codec.h - the wire format between the server and its instances.
 *
 * A leaf library with no dependencies, linked by both the server and the instance runtime (and
 * the testbed), so that the framing and the call envelope live in exactly one place. A frame is
 * a 16-byte header (payload length as a little-endian u32, a type byte, three zero bytes, the
 * request id as a little-endian u64) followed by the payload. Payloads are
 * sequences of u32 integers and length-prefixed byte strings; every string is followed by a
 * NUL on the wire so a decoder can hand out pointers into the frame without copying.
 *
 * One Unix stream socket carries one request at a time ("a slot"): the server writes REQUEST,
 * the instance answers RESPONSE. Service calls (CALL/REPLY) travel on the same slot, so the
 * server thread that owns a request sees its start, every service call, and its end.
 *
 * Every service call has the same envelope (das_rpc_call_t / das_rpc_reply_t): the service and
 * method by name, the call's sequence number within its request, and a body whose layout is the
 * method's own (encoded with the put/get helpers below). A reply carries an AE_* status, a
 * detail message and a body. Nothing about a reply's layout is passed out of band.
 */
#ifndef DAS_RPC_CODEC_H
#define DAS_RPC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define DAS_RPC_MAX_FRAME (64u * 1024 * 1024)
/* The largest response body the platform sends (2^25): an instance does not ship a bigger one,
 * it reports its size (das_rpc_response_t.body_dropped) for the front end's 500. */
#define DAS_RPC_MAX_RESPONSE_BODY (32u * 1024 * 1024)

/* An instance's descriptors: slot i is DAS_RPC_FIRST_SLOT_FD + i, and the lifeline (a pipe
 * that reaches end of file when the server goes away) is DAS_RPC_FIRST_SLOT_FD + n_slots. */
#define DAS_RPC_FIRST_SLOT_FD 3

typedef enum {
    DAS_RPC_READY = 1,    /* instance -> server: the slot is loaded and idle; payload: pid */
    DAS_RPC_LOAD_ERROR,   /* instance -> server: the app could not be loaded; payload: message */
    DAS_RPC_REQUEST,      /* server -> instance: das_rpc_request_t */
    DAS_RPC_RESPONSE,     /* instance -> server: das_rpc_response_t */
    DAS_RPC_CALL,         /* instance -> server: a service call (das_rpc_call_t) */
    DAS_RPC_REPLY,        /* server -> instance: the answer to a CALL (das_rpc_reply_t) */
    DAS_RPC_CRASH,        /* instance -> server: this request's handler crashed the instance;
                             payload: the signal as a u32. The instance dies next. */
    DAS_RPC_RESET,        /* server -> instance, on slot 0 with every slot idle: put the app's
                             globals back as they were when it was loaded; READY answers. With
                             the payload u32 1: take them as they are now instead, as the state
                             to put back (after the warmup request) */
} das_rpc_type_t;

/* A growable byte buffer owned by the codec (no dependency on the server's helpers). */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
} das_rpc_buf_t;

void das_rpc_buf_dispose(das_rpc_buf_t *b);
void das_rpc_put_u32(das_rpc_buf_t *b, uint32_t v);
void das_rpc_put_bytes(das_rpc_buf_t *b, const void *data, size_t len);
void das_rpc_put_str(das_rpc_buf_t *b, const char *s); /* NULL is sent as "" */
void das_rpc_put_raw(das_rpc_buf_t *b, const void *data, size_t len); /* no length prefix */
void das_rpc_put_u64(das_rpc_buf_t *b, uint64_t v);    /* two u32, low first */
void das_rpc_put_i64(das_rpc_buf_t *b, int64_t v);     /* two's complement, as u64 */
void das_rpc_put_double(das_rpc_buf_t *b, double v);   /* IEEE 754 bits, as u64 */

/* Reads values back out of a payload. A read past the end sets `bad` and returns 0/"". */
typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    int bad;
} das_rpc_reader_t;

void das_rpc_reader_init(das_rpc_reader_t *r, const void *data, size_t len);
uint32_t das_rpc_get_u32(das_rpc_reader_t *r);
uint64_t das_rpc_get_u64(das_rpc_reader_t *r);
int64_t das_rpc_get_i64(das_rpc_reader_t *r);
double das_rpc_get_double(das_rpc_reader_t *r);
/* Reads a count of items that each take at least `min_bytes` on the wire, refusing (bad) a
 * count over `max` or over what the rest of the payload can hold. */
uint32_t das_rpc_get_count(das_rpc_reader_t *r, size_t min_bytes, uint32_t max);
/* True when the whole payload was read and nothing was malformed. */
int das_rpc_reader_done(const das_rpc_reader_t *r);
/* Borrowed pointer into the payload, NUL-terminated; valid while the payload is. */
const char *das_rpc_get_bytes(das_rpc_reader_t *r, size_t *len);
const char *das_rpc_get_str(das_rpc_reader_t *r);

/* Frames. Both return 0 or -errno (-EPIPE/-ECONNRESET when the peer is gone, -EPROTO for a
 * malformed frame). das_rpc_recv_frame() stores the payload in `payload` (reset first) and the
 * frame's request id in `*id` (when not NULL; set as soon as a header arrived, even when the
 * frame turns out malformed), and returns -ETIMEDOUT when the socket's receive
 * timeout (das_rpc_set_timeout) passes. Every frame carries the id of the request it belongs
 * to (0 for READY and LOAD_ERROR): the server picks one per REQUEST, and CALL, REPLY and
 * RESPONSE repeat it, so a frame written late, or by a process the instance forked, is caught
 * as belonging to another request.
 * The protocol has at most one frame in flight per direction on a socket (each side waits for
 * the answer before sending again), so the receiver reads greedily; bytes beyond one frame
 * are a protocol error. */
int das_rpc_send_frame(int fd, das_rpc_type_t type, uint64_t id, const void *payload, size_t len);
int das_rpc_recv_frame(int fd, das_rpc_type_t *type, uint64_t *id, das_rpc_buf_t *payload);
/* Sets how long das_rpc_recv_frame() waits on `fd`; 0 or less waits forever. 0 or -errno. */
int das_rpc_set_timeout(int fd, int timeout_ms);

/* ---------------------------------------------------------------- messages */

typedef struct {
    const char *name;
    const char *value;
} das_rpc_pair_t;

typedef struct {
    const char *script; /* "FILE.SYMBOL", back-references already expanded */
    const char *method;
    const char *path;
    const char *query; /* without '?', "" when none */
    const das_rpc_pair_t *headers;
    uint32_t n_headers;
    const das_rpc_pair_t *env;
    uint32_t n_env;
    const char *body;
    size_t body_len;
    /* Deterministic dispatch: the virtual wall time at the request's start step, and the
     * stream (seed, stream) its app draws random values from. now_ns 0: real time. */
    int64_t virtual_now_ns;
    uint64_t random_seed;
    uint64_t random_stream;
    void *storage_; /* decoder-owned; freed by das_rpc_request_dispose() */
} das_rpc_request_t;

typedef struct {
    uint32_t status;
    const das_rpc_pair_t *headers;
    uint32_t n_headers;
    const char *body;
    size_t body_len;
    uint64_t body_dropped; /* > 0: the app's body had this many bytes, over the limit; not sent */
    void *storage_;
} das_rpc_response_t;

/* A list of name/value pairs (headers, the environment): a count, then each name and value.
 * The reader's array is malloc'd (the caller frees it), its strings borrowed from the
 * payload; a count the payload cannot hold sets `bad`. */
void das_rpc_put_pairs(das_rpc_buf_t *b, const das_rpc_pair_t *pairs, uint32_t n);
das_rpc_pair_t *das_rpc_get_pairs(das_rpc_reader_t *r, uint32_t *n_out);

void das_rpc_encode_request(das_rpc_buf_t *b, const das_rpc_request_t *rq);
/* Decodes into pointers borrowed from `data`. Returns 0 or -EPROTO. Dispose either way. */
int das_rpc_decode_request(const void *data, size_t len, das_rpc_request_t *rq);
void das_rpc_request_dispose(das_rpc_request_t *rq);

void das_rpc_encode_response(das_rpc_buf_t *b, const das_rpc_response_t *rs);
int das_rpc_decode_response(const void *data, size_t len, das_rpc_response_t *rs);
void das_rpc_response_dispose(das_rpc_response_t *rs);

/* ---------------------------------------------------------------- the call envelope */

#define DAS_RPC_MAX_NAME 64 /* longest service or method name */

/* A service call. Strings and body are borrowed (from the caller, or from the decoded frame). */
typedef struct {
    const char *service; /* "memcache" */
    const char *method;  /* "Get" */
    uint32_t seq;        /* the call's number within its request: 1, 2, ... */
    uint64_t site;       /* where the app made the call: the return address's offset in the
                            app's shared object, plus 1; 0 when unknown */
    const void *body;    /* the method's own layout */
    size_t body_len;
} das_rpc_call_t;

/* The answer to a call. `detail` is "" when there is nothing to say. */
typedef struct {
    int64_t now_ns; /* deterministic dispatch: the virtual wall time the reply is released at;
                       0: real time */
    int32_t status; /* AE_OK or an AE_* code */
    const char *detail;
    const void *body;
    size_t body_len;
} das_rpc_reply_t;

/* A call is encoded in two steps so that the body is written straight into the frame:
 * das_rpc_call_begin() writes the envelope and returns a mark; the caller appends the body
 * (with the put helpers); das_rpc_call_end() seals it. */
size_t das_rpc_call_begin(das_rpc_buf_t *b, const char *service, const char *method,
                          uint32_t seq);
void das_rpc_call_end(das_rpc_buf_t *b, size_t mark);
/* Sets the call site of the call begun at `mark` (0 until set). */
void das_rpc_call_set_site(das_rpc_buf_t *b, size_t mark, uint64_t site);
/* Borrowed pointers into `data`. Returns 0, or -EPROTO when the envelope is malformed: cut
 * short, with bytes after the body, or a name over DAS_RPC_MAX_NAME bytes or holding a NUL (the
 * body is not looked at). */
int das_rpc_decode_call(const void *data, size_t len, das_rpc_call_t *c);

/* The same for a reply: the body is appended after das_rpc_reply_begin(); _end() sets the
 * status and detail, and drops the body when the status is not AE_OK. */
size_t das_rpc_reply_begin(das_rpc_buf_t *b);
void das_rpc_reply_end(das_rpc_buf_t *b, size_t mark, int32_t status, const char *detail);
/* Sets the virtual time of a reply that starts at byte 0 of `b` (0 until set). */
void das_rpc_reply_set_time(das_rpc_buf_t *b, int64_t now_ns);
int das_rpc_decode_reply(const void *data, size_t len, das_rpc_reply_t *r);

#endif
