/* test_rpc_codec.c - the wire format round-trips every field, frames survive a socket, and a
 * malformed or truncated payload is refused rather than read past its end. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>


#include "check.h"
#include "rpc_codec.h"
#include "rpc_datastore.h"
#include "rpc_memcache.h"

TEST(test_rpc_request_round_trips_every_field)
{
    das_rpc_pair_t headers[] = {{"Host", "example"}, {"X-Empty", ""}};
    das_rpc_pair_t env[] = {{"APPLICATION_ID", "dev~a"}};
    const char body[] = {'a', 0, 'b'};
    das_rpc_request_t rq = {.script = "hello.app", .method = "POST", .path = "/p",
                            .query = "x=1", .headers = headers, .n_headers = 2, .env = env,
                            .n_env = 1, .body = body, .body_len = 3};
    das_rpc_buf_t b = {0};
    das_rpc_encode_request(&b, &rq);
    das_rpc_request_t out;
    CHECK_OK(das_rpc_decode_request(b.data, b.len, &out));
    CHECK_STR_EQ(out.script, "hello.app");
    CHECK_STR_EQ(out.method, "POST");
    CHECK_STR_EQ(out.path, "/p");
    CHECK_STR_EQ(out.query, "x=1");
    CHECK_EQ(out.n_headers, 2);
    CHECK_STR_EQ(out.headers[1].name, "X-Empty");
    CHECK_STR_EQ(out.headers[1].value, "");
    CHECK_EQ(out.n_env, 1);
    CHECK_STR_EQ(out.env[0].value, "dev~a");
    CHECK_EQ(out.body_len, 3);
    CHECK(memcmp(out.body, body, 3) == 0);
    das_rpc_request_dispose(&out);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_truncated_payload_is_refused_at_every_length)
{
    das_rpc_pair_t headers[] = {{"A", "b"}};
    das_rpc_response_t rs = {.status = 201, .headers = headers, .n_headers = 1, .body = "xyz",
                             .body_len = 3};
    das_rpc_buf_t b = {0};
    das_rpc_encode_response(&b, &rs);
    for (size_t cut = 0; cut < b.len; cut++) {
        /* A copy of exactly `cut` bytes, so ASan sees any read past it. */
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        das_rpc_response_t out;
        CHECK_EQ(das_rpc_decode_response(copy, cut, &out), -EPROTO);
        das_rpc_response_dispose(&out);
        free(copy);
    }
    das_rpc_response_t out;
    CHECK_OK(das_rpc_decode_response(b.data, b.len, &out));
    CHECK_EQ(out.status, 201);
    CHECK_STR_EQ(out.body, "xyz");
    das_rpc_response_dispose(&out);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_huge_pair_count_is_refused_without_allocating_it)
{
    das_rpc_buf_t b = {0};
    das_rpc_put_u32(&b, 200);
    das_rpc_put_u32(&b, 0xFFFFFFFFu); /* claims four billion headers */
    das_rpc_response_t out;
    CHECK_EQ(das_rpc_decode_response(b.data, b.len, &out), -EPROTO);
    das_rpc_response_dispose(&out);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_frames_cross_a_socket_and_eof_is_reported)
{
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    das_rpc_buf_t p = {0};
    das_rpc_type_t t;
    CHECK_OK(das_rpc_send_frame(sv[0], DAS_RPC_READY, 0, NULL, 0));
    CHECK_OK(das_rpc_recv_frame(sv[1], &t, NULL, &p));
    CHECK_EQ(t, DAS_RPC_READY);
    CHECK_EQ(p.len, 0);
    CHECK_OK(das_rpc_send_frame(sv[0], DAS_RPC_LOAD_ERROR, 0, "boom", 4));
    CHECK_OK(das_rpc_recv_frame(sv[1], &t, NULL, &p));
    CHECK_EQ(t, DAS_RPC_LOAD_ERROR);
    CHECK_EQ(p.len, 4);
    CHECK(memcmp(p.data, "boom", 4) == 0);
    CHECK_OK(das_rpc_set_timeout(sv[1], 10));
    CHECK_EQ(das_rpc_recv_frame(sv[1], &t, NULL, &p), -ETIMEDOUT);
    close(sv[0]);
    CHECK_EQ(das_rpc_recv_frame(sv[1], &t, NULL, &p), -ECONNRESET);
    close(sv[1]);
    das_rpc_buf_dispose(&p);
}

TEST(test_rpc_large_frame_arrives_whole_across_many_reads)
{
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    size_t n = 3 * 1024 * 1024;
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    pid_t pid = fork();
    if (pid == 0) {
        das_rpc_send_frame(sv[0], DAS_RPC_RESPONSE, 0, big, n);
        _exit(0);
    }
    das_rpc_buf_t p = {0};
    das_rpc_type_t t;
    CHECK_OK(das_rpc_recv_frame(sv[1], &t, NULL, &p));
    CHECK_EQ(t, DAS_RPC_RESPONSE);
    CHECK_EQ(p.len, n);
    CHECK(memcmp(p.data, big, n) == 0);
    waitpid(pid, NULL, 0);
    free(big);
    das_rpc_buf_dispose(&p);
    close(sv[0]);
    close(sv[1]);
}

TEST(test_rpc_bytes_beyond_one_frame_are_a_protocol_error)
{
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_OK(das_rpc_send_frame(sv[0], DAS_RPC_READY, 0, NULL, 0));
    CHECK_OK(das_rpc_send_frame(sv[0], DAS_RPC_READY, 0, NULL, 0));
    das_rpc_buf_t p = {0};
    das_rpc_type_t t;
    CHECK_EQ(das_rpc_recv_frame(sv[1], &t, NULL, &p), -EPROTO);
    das_rpc_buf_dispose(&p);
    close(sv[0]);
    close(sv[1]);
}

TEST(test_rpc_frames_carry_their_request_id)
{
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_OK(das_rpc_send_frame(sv[0], DAS_RPC_RESPONSE, 0x1122334455667788ull, "x", 1));
    das_rpc_buf_t p = {0};
    das_rpc_type_t t;
    uint64_t id = 0;
    CHECK_OK(das_rpc_recv_frame(sv[1], &t, &id, &p));
    CHECK(id == 0x1122334455667788ull);
    CHECK_EQ(t, DAS_RPC_RESPONSE);
    CHECK_EQ(p.len, 1);
    das_rpc_buf_dispose(&p);
    close(sv[0]);
    close(sv[1]);
}

TEST(test_rpc_bad_frame_type_is_a_protocol_error)
{
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    unsigned char hdr[16] = {0, 0, 0, 0, 99, 0, 0, 0};
    CHECK_EQ(write(sv[0], hdr, 16), 16);
    das_rpc_buf_t p = {0};
    das_rpc_type_t t;
    CHECK_EQ(das_rpc_recv_frame(sv[1], &t, NULL, &p), -EPROTO);
    close(sv[0]);
    close(sv[1]);
    das_rpc_buf_dispose(&p);
}

TEST(test_rpc_memcache_request_and_reply_round_trip)
{
    das_rpc_mc_item_t items[2] = {
        {.key = "a", .key_len = 1, .value = "xyz", .value_len = 3, .flags = 9,
         .expiration = -5, .cas = 1ull << 40},
        {.key = "bb", .key_len = 2, .value = "", .value_len = 0},
    };
    das_rpc_mc_request_t rq = {.op = DAS_RPC_MC_STORE, .ns = "ns", .mode = 3, .n = 2,
                               .items = items};
    das_rpc_buf_t b = {0};
    das_rpc_mc_encode_request(&b, &rq);
    das_rpc_mc_request_t out;
    CHECK_OK(das_rpc_mc_decode_request(b.data, b.len, DAS_RPC_MC_STORE, &out));
    CHECK_EQ(out.n, 2);
    CHECK_STR_EQ(out.ns, "ns");
    CHECK_EQ(out.mode, 3);
    CHECK_STR_EQ(out.items[0].value, "xyz");
    CHECK_EQ(out.items[0].expiration, -5);
    CHECK(out.items[0].cas == 1ull << 40);
    CHECK_EQ(out.items[1].key_len, 2);
    das_rpc_mc_request_dispose(&out);

    das_rpc_mc_item_t got[1] = {{.value = "v", .value_len = 1, .flags = 2, .cas = 7,
                                 .status = 0}};
    das_rpc_mc_reply_t rp = {.n = 1, .items = got};
    b.len = 0;
    das_rpc_mc_encode_reply(&b, &rp, DAS_RPC_MC_GET);
    das_rpc_mc_reply_t back;
    CHECK_OK(das_rpc_mc_decode_reply(b.data, b.len, DAS_RPC_MC_GET, &back));
    CHECK_EQ(back.n, 1);
    CHECK_STR_EQ(back.items[0].value, "v");
    CHECK_EQ(back.items[0].cas, 7);
    das_rpc_mc_reply_dispose(&back);
    /* Every truncation is refused. */
    for (size_t cut = 0; cut < b.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        CHECK_EQ(das_rpc_mc_decode_reply(copy, cut, DAS_RPC_MC_GET, &back), -EPROTO);
        das_rpc_mc_reply_dispose(&back);
        free(copy);
    }
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_memcache_method_names_are_the_platforms)
{
    CHECK_STR_EQ(das_rpc_mc_method_name(DAS_RPC_MC_GET), "Get");
    CHECK_STR_EQ(das_rpc_mc_method_name(DAS_RPC_MC_OFFSET), "Increment");
    CHECK_EQ(das_rpc_mc_method_op("FlushAll"), DAS_RPC_MC_FLUSH);
    CHECK_EQ(das_rpc_mc_method_op("Frobnicate"), 0);
    CHECK(das_rpc_mc_method_name(99) == NULL);
    /* A body for one method is not a body for another. */
    das_rpc_mc_request_t rq = {.op = DAS_RPC_MC_GET, .ns = "", .n = 0};
    das_rpc_buf_t b = {0};
    das_rpc_mc_encode_request(&b, &rq);
    das_rpc_mc_request_t out;
    CHECK_EQ(das_rpc_mc_decode_request(b.data, b.len, 0, &out), -EPROTO);
    das_rpc_mc_request_dispose(&out);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_integer_helpers_round_trip_edge_values)
{
    das_rpc_buf_t b = {0};
    das_rpc_put_u64(&b, UINT64_MAX);
    das_rpc_put_i64(&b, INT64_MIN);
    das_rpc_put_i64(&b, -1);
    das_rpc_put_double(&b, -0.5);
    das_rpc_put_double(&b, 1e300);
    das_rpc_put_u32(&b, 3); /* a count of 3 items of at least 4 bytes, with 0 bytes left */
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, b.data, b.len);
    CHECK(das_rpc_get_u64(&r) == UINT64_MAX);
    CHECK(das_rpc_get_i64(&r) == INT64_MIN);
    CHECK_EQ(das_rpc_get_i64(&r), -1);
    CHECK(das_rpc_get_double(&r) == -0.5);
    CHECK(das_rpc_get_double(&r) == 1e300);
    CHECK_EQ(das_rpc_get_count(&r, 4, 100), 0);
    CHECK(r.bad);
    CHECK(!das_rpc_reader_done(&r));
    /* A count over the maximum is refused even when the bytes are there. */
    b.len = 0;
    das_rpc_put_u32(&b, 5);
    das_rpc_put_raw(&b, "0123456789", 10);
    das_rpc_reader_init(&r, b.data, b.len);
    CHECK_EQ(das_rpc_get_count(&r, 1, 4), 0);
    CHECK(r.bad);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_call_envelope_round_trips_and_refuses_every_truncation)
{
    das_rpc_buf_t b = {0};
    size_t mark = das_rpc_call_begin(&b, "memcache", "Get", 42);
    das_rpc_put_str(&b, "body-part");
    das_rpc_put_u32(&b, 7);
    das_rpc_call_end(&b, mark);
    das_rpc_call_t c;
    CHECK_OK(das_rpc_decode_call(b.data, b.len, &c));
    CHECK_STR_EQ(c.service, "memcache");
    CHECK_STR_EQ(c.method, "Get");
    CHECK_EQ(c.seq, 42);
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, c.body, c.body_len);
    CHECK_STR_EQ(das_rpc_get_str(&r), "body-part");
    CHECK_EQ(das_rpc_get_u32(&r), 7);
    CHECK(das_rpc_reader_done(&r));
    for (size_t cut = 0; cut < b.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        CHECK_EQ(das_rpc_decode_call(copy, cut, &c), -EPROTO);
        CHECK_STR_EQ(c.service, "");
        free(copy);
    }
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_reply_envelope_carries_status_detail_and_body)
{
    das_rpc_buf_t b = {0};
    size_t mark = das_rpc_reply_begin(&b);
    das_rpc_put_str(&b, "answer");
    das_rpc_reply_end(&b, mark, 0, "");
    das_rpc_reply_t rp;
    CHECK_OK(das_rpc_decode_reply(b.data, b.len, &rp));
    CHECK_EQ(rp.status, 0);
    CHECK_STR_EQ(rp.detail, "");
    CHECK(rp.body_len > 0);
    /* A failure drops the body it had started and keeps the detail. */
    b.len = 0;
    mark = das_rpc_reply_begin(&b);
    das_rpc_put_str(&b, "half a body");
    das_rpc_reply_end(&b, mark, -1001, "The API package 'x' or call 'Y()' was not found.");
    CHECK_OK(das_rpc_decode_reply(b.data, b.len, &rp));
    CHECK_EQ(rp.status, -1001);
    CHECK_EQ(rp.body_len, 0);
    CHECK_STR_EQ(rp.detail, "The API package 'x' or call 'Y()' was not found.");
    for (size_t cut = 0; cut < b.len; cut++)
        CHECK_EQ(das_rpc_decode_reply(b.data, cut, &rp), -EPROTO);
    das_rpc_buf_dispose(&b);
}

/* ---------------------------------------------------------------- datastore */

/* An entity holding one property of every type (and a list, an unindexed one, and an embedded
 * entity that has a key value of its own). Everything points into `store`. */
typedef struct {
    das_rpc_ds_elem_t path[2], ref_path[1];
    das_rpc_ds_key_t ref;
    das_rpc_ds_value_t values[DAS_RPC_DS_TYPE_COUNT + 1];
    das_rpc_ds_prop_t props[DAS_RPC_DS_TYPE_COUNT + 1];
    das_rpc_ds_value_t inner_value;
    das_rpc_ds_prop_t inner_prop;
    das_rpc_ds_entity_t inner;
    das_rpc_ds_entity_t e;
} sample_entity_t;

static const char *const type_names[] = {"null", "int", "time", "bool", "string", "bytes",
                                         "text", "blob", "double", "geopt", "user", "key",
                                         "entity"};

static void sample_entity(sample_entity_t *s)
{
    memset(s, 0, sizeof *s);
    s->path[0] = (das_rpc_ds_elem_t){"Guestbook", 0, "default"};
    s->path[1] = (das_rpc_ds_elem_t){"Greeting", 42, NULL};
    s->ref_path[0] = (das_rpc_ds_elem_t){"Other", 7, NULL};
    s->ref = (das_rpc_ds_key_t){"dev~other", "ns", 1, s->ref_path};
    s->inner_value = (das_rpc_ds_value_t){.type = DAS_RPC_DS_KEY, .u.key = &s->ref};
    s->inner_prop = (das_rpc_ds_prop_t){"ref", true, false, 1, &s->inner_value};
    s->inner = (das_rpc_ds_entity_t){.key = {.ns = ""}, .n = 1, .props = &s->inner_prop};
    das_rpc_ds_value_t *v = s->values;
    v[DAS_RPC_DS_NULL].type = DAS_RPC_DS_NULL;
    v[DAS_RPC_DS_INT] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_INT, .u.i = INT64_MIN};
    v[DAS_RPC_DS_TIME] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_TIME, .u.i = 1700000000123456};
    v[DAS_RPC_DS_BOOL] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_BOOL, .u.b = true};
    v[DAS_RPC_DS_STRING] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_STRING,
                                                .u.s = {"h\xc3\xa9llo", 6}};
    v[DAS_RPC_DS_BYTES] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_BYTES, .u.s = {"a\0b", 3}};
    v[DAS_RPC_DS_TEXT] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_TEXT, .u.s = {"", 0}};
    v[DAS_RPC_DS_BLOB] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_BLOB, .u.s = {"\xff\x00", 2}};
    v[DAS_RPC_DS_DOUBLE] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_DOUBLE, .u.d = -0.25};
    v[DAS_RPC_DS_GEOPT] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_GEOPT,
                                               .u.geo = {52.5, -13.25}};
    v[DAS_RPC_DS_USER] = (das_rpc_ds_value_t){
        .type = DAS_RPC_DS_USER, .u.user = {"a@example.com", "gmail.com", ""}};
    v[DAS_RPC_DS_KEY] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_KEY, .u.key = &s->ref};
    v[DAS_RPC_DS_ENTITY] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_ENTITY, .u.entity = &s->inner};
    v[DAS_RPC_DS_TYPE_COUNT] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_INT, .u.i = 5};
    for (int t = 0; t < DAS_RPC_DS_TYPE_COUNT; t++)
        s->props[t] = (das_rpc_ds_prop_t){type_names[t], t != DAS_RPC_DS_TEXT, false, 1, &v[t]};
    /* A list of two ints: the INT value and the extra one after the last type. */
    s->props[DAS_RPC_DS_TYPE_COUNT] = (das_rpc_ds_prop_t){"list", true, true, 1,
                                                          &v[DAS_RPC_DS_TYPE_COUNT]};
    s->e = (das_rpc_ds_entity_t){.key = {NULL, "", 2, s->path}, .n = DAS_RPC_DS_TYPE_COUNT + 1,
                                 .props = s->props};
}

/* Checks that `got` is the sample entity. Returns 0 when it is. */
static int same_as_sample(const das_rpc_ds_entity_t *got)
{
    sample_entity_t s;
    sample_entity(&s);
    if (got->key.app != NULL || strcmp(got->key.ns, "") != 0 || got->key.n != 2 ||
        strcmp(got->key.path[0].name, "default") != 0 || got->key.path[0].id != 0 ||
        strcmp(got->key.path[1].kind, "Greeting") != 0 || got->key.path[1].id != 42 ||
        got->key.path[1].name != NULL || got->n != s.e.n)
        return 1;
    for (uint32_t i = 0; i < got->n; i++) {
        const das_rpc_ds_prop_t *p = &got->props[i], *w = &s.props[i];
        if (strcmp(p->name, w->name) != 0 || p->indexed != w->indexed ||
            p->multiple != w->multiple || p->n != 1 || p->values[0].type != w->values[0].type)
            return 10 + (int)i;
        const das_rpc_ds_value_t *a = &p->values[0], *b = &w->values[0];
        switch (a->type) {
        case DAS_RPC_DS_INT:
        case DAS_RPC_DS_TIME:
            if (a->u.i != b->u.i)
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_BOOL:
            if (a->u.b != b->u.b)
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_DOUBLE:
            if (a->u.d != b->u.d)
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_STRING:
        case DAS_RPC_DS_BYTES:
        case DAS_RPC_DS_TEXT:
        case DAS_RPC_DS_BLOB:
            if (a->u.s.n != b->u.s.n || memcmp(a->u.s.p, b->u.s.p, a->u.s.n) != 0 ||
                a->u.s.p[a->u.s.n] != '\0')
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_GEOPT:
            if (a->u.geo.lat != b->u.geo.lat || a->u.geo.lng != b->u.geo.lng)
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_USER:
            if (strcmp(a->u.user.email, b->u.user.email) != 0 ||
                strcmp(a->u.user.auth_domain, b->u.user.auth_domain) != 0 ||
                strcmp(a->u.user.user_id, "") != 0)
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_KEY:
            if (strcmp(a->u.key->app, "dev~other") != 0 || strcmp(a->u.key->ns, "ns") != 0 ||
                a->u.key->n != 1 || a->u.key->path[0].id != 7)
                return 100 + (int)i;
            break;
        case DAS_RPC_DS_ENTITY: {
            const das_rpc_ds_entity_t *in = a->u.entity;
            if (in->key.n != 0 || in->n != 1 || strcmp(in->props[0].name, "ref") != 0 ||
                in->props[0].values[0].type != DAS_RPC_DS_KEY ||
                in->props[0].values[0].u.key->path[0].id != 7)
                return 100 + (int)i;
            break;
        }
        }
    }
    return 0;
}

TEST(test_rpc_datastore_put_and_get_round_trip_every_type)
{
    sample_entity_t s;
    sample_entity(&s);
    das_rpc_ds_request_t rq = {.op = DAS_RPC_DS_PUT, .txn = UINT64_MAX - 1, .n = 1,
                               .entities = &s.e};
    das_rpc_buf_t b = {0};
    das_rpc_ds_encode_request(&b, &rq);
    das_rpc_ds_request_t out;
    CHECK_OK(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_PUT, &out));
    CHECK(out.txn == UINT64_MAX - 1);
    CHECK_EQ(out.n, 1);
    CHECK_EQ(same_as_sample(&out.entities[0]), 0);
    das_rpc_ds_request_dispose(&out);
    /* Every truncation is refused (the copy is exact, so ASan sees a read past it). */
    for (size_t cut = 0; cut < b.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        CHECK_EQ(das_rpc_ds_decode_request(copy, cut, DAS_RPC_DS_PUT, &out), -EPROTO);
        das_rpc_ds_request_dispose(&out);
        free(copy);
    }

    /* Get's reply: one found, one missing. */
    das_rpc_ds_entity_t *found[2] = {&s.e, NULL};
    das_rpc_ds_reply_t rp = {.n = 2, .entities = found};
    b.len = 0;
    das_rpc_ds_encode_reply(&b, &rp, DAS_RPC_DS_GET);
    das_rpc_ds_reply_t back;
    CHECK_OK(das_rpc_ds_decode_reply(b.data, b.len, DAS_RPC_DS_GET, &back));
    CHECK_EQ(back.n, 2);
    CHECK(back.entities[0] != NULL);
    CHECK(back.entities[1] == NULL);
    CHECK_EQ(same_as_sample(back.entities[0]), 0);
    das_rpc_ds_reply_dispose(&back);
    for (size_t cut = 0; cut < b.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        CHECK_EQ(das_rpc_ds_decode_reply(copy, cut, DAS_RPC_DS_GET, &back), -EPROTO);
        das_rpc_ds_reply_dispose(&back);
        free(copy);
    }
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_datastore_query_and_results_round_trip)
{
    das_rpc_ds_elem_t anc_path[] = {{"Guestbook", 0, "default"}};
    das_rpc_ds_key_t anc = {NULL, "ns1", 1, anc_path};
    das_rpc_ds_value_t in_values[] = {{.type = DAS_RPC_DS_INT, .u.i = 1},
                                      {.type = DAS_RPC_DS_STRING, .u.s = {"x", 1}}};
    das_rpc_ds_value_t ge = {.type = DAS_RPC_DS_TIME, .u.i = 99};
    das_rpc_ds_filter_t filters[] = {{"tag", DAS_RPC_DS_IN, 2, in_values},
                                     {"date", DAS_RPC_DS_GE, 1, &ge}};
    das_rpc_ds_order_t orders[] = {{"date", true}, {"__key__", false}};
    const char *proj[] = {"date", "tag"};
    das_rpc_ds_query_t q = {.ns = "ns1", .kind = "Greeting", .ancestor = &anc, .n_filters = 2,
                            .filters = filters, .n_orders = 2, .orders = orders,
                            .n_projection = 2, .projection = proj, .distinct = true,
                            .limit = 10, .offset = 3, .start_cursor = "abc",
                            .end_cursor = NULL, .count_only = false};
    das_rpc_ds_request_t rq = {.op = DAS_RPC_DS_RUN_QUERY, .txn = 5, .query = q};
    das_rpc_buf_t b = {0};
    das_rpc_ds_encode_request(&b, &rq);
    das_rpc_ds_request_t out;
    CHECK_OK(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_RUN_QUERY, &out));
    const das_rpc_ds_query_t *g = &out.query;
    CHECK_EQ(out.txn, 5);
    CHECK_STR_EQ(g->ns, "ns1");
    CHECK_STR_EQ(g->kind, "Greeting");
    CHECK(g->ancestor != NULL);
    CHECK_STR_EQ(g->ancestor->path[0].name, "default");
    CHECK_STR_EQ(g->ancestor->ns, "ns1");
    CHECK_EQ(g->n_filters, 2);
    CHECK_EQ(g->filters[0].op, DAS_RPC_DS_IN);
    CHECK_EQ(g->filters[0].n, 2);
    CHECK_STR_EQ(g->filters[0].values[1].u.s.p, "x");
    CHECK_EQ(g->filters[1].values[0].type, DAS_RPC_DS_TIME);
    CHECK_EQ(g->filters[1].values[0].u.i, 99);
    CHECK_EQ(g->n_orders, 2);
    CHECK(g->orders[0].desc && !g->orders[1].desc);
    CHECK_STR_EQ(g->orders[1].prop, "__key__");
    CHECK(!g->keys_only && g->distinct && !g->count_only);
    CHECK_EQ(g->n_projection, 2);
    CHECK_STR_EQ(g->projection[1], "tag");
    CHECK_EQ(g->limit, 10);
    CHECK_EQ(g->offset, 3);
    CHECK_STR_EQ(g->start_cursor, "abc");
    CHECK(g->end_cursor == NULL);
    das_rpc_ds_request_dispose(&out);
    for (size_t cut = 0; cut < b.len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, b.data, cut);
        CHECK_EQ(das_rpc_ds_decode_request(copy, cut, DAS_RPC_DS_RUN_QUERY, &out), -EPROTO);
        das_rpc_ds_request_dispose(&out);
        free(copy);
    }

    /* A kindless query without an ancestor. */
    das_rpc_ds_request_t kl = {.op = DAS_RPC_DS_RUN_QUERY, .query = {.ns = "", .limit = -1}};
    b.len = 0;
    das_rpc_ds_encode_request(&b, &kl);
    CHECK_OK(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_RUN_QUERY, &out));
    CHECK(out.query.kind == NULL && out.query.ancestor == NULL);
    CHECK_EQ(out.query.limit, -1);
    das_rpc_ds_request_dispose(&out);

    /* Results. */
    sample_entity_t s;
    sample_entity(&s);
    das_rpc_ds_entity_t *res[] = {&s.e, &s.e};
    das_rpc_ds_reply_t rp = {.n = 2, .entities = res, .cursor = "CUR", .more = true,
                             .count = 2, .skipped = 3};
    b.len = 0;
    das_rpc_ds_encode_reply(&b, &rp, DAS_RPC_DS_RUN_QUERY);
    das_rpc_ds_reply_t back;
    CHECK_OK(das_rpc_ds_decode_reply(b.data, b.len, DAS_RPC_DS_RUN_QUERY, &back));
    CHECK_EQ(back.n, 2);
    CHECK_EQ(same_as_sample(back.entities[1]), 0);
    CHECK_STR_EQ(back.cursor, "CUR");
    CHECK(back.more);
    CHECK_EQ(back.count, 2);
    CHECK_EQ(back.skipped, 3);
    das_rpc_ds_reply_dispose(&back);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_datastore_small_methods_round_trip)
{
    das_rpc_buf_t b = {0};
    das_rpc_ds_request_t rq = {.op = DAS_RPC_DS_BEGIN, .xg = true, .read_only = false}, out;
    das_rpc_ds_encode_request(&b, &rq);
    CHECK_OK(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_BEGIN, &out));
    CHECK(out.xg && !out.read_only);
    das_rpc_ds_request_dispose(&out);

    das_rpc_ds_reply_t rp = {.handle = 1ull << 63}, back;
    b.len = 0;
    das_rpc_ds_encode_reply(&b, &rp, DAS_RPC_DS_BEGIN);
    CHECK_OK(das_rpc_ds_decode_reply(b.data, b.len, DAS_RPC_DS_BEGIN, &back));
    CHECK(back.handle == 1ull << 63);
    das_rpc_ds_reply_dispose(&back);

    das_rpc_ds_elem_t path[] = {{"Greeting", 0, NULL}};
    rq = (das_rpc_ds_request_t){.op = DAS_RPC_DS_ALLOCATE_IDS,
                                .model = {NULL, "", 1, path}, .size = 10, .max = 0};
    b.len = 0;
    das_rpc_ds_encode_request(&b, &rq);
    CHECK_OK(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_ALLOCATE_IDS, &out));
    CHECK_STR_EQ(out.model.path[0].kind, "Greeting");
    CHECK_EQ(out.model.path[0].id, 0);
    CHECK(out.model.path[0].name == NULL);
    CHECK_EQ(out.size, 10);
    das_rpc_ds_request_dispose(&out);
    rp = (das_rpc_ds_reply_t){.start = 1, .end = 10};
    b.len = 0;
    das_rpc_ds_encode_reply(&b, &rp, DAS_RPC_DS_ALLOCATE_IDS);
    CHECK_OK(das_rpc_ds_decode_reply(b.data, b.len, DAS_RPC_DS_ALLOCATE_IDS, &back));
    CHECK_EQ(back.start, 1);
    CHECK_EQ(back.end, 10);
    das_rpc_ds_reply_dispose(&back);

    /* Put's reply carries the completed keys. */
    das_rpc_ds_elem_t done[] = {{"Greeting", 1ll << 52, NULL}};
    das_rpc_ds_key_t k = {"dev~app", "", 1, done};
    rp = (das_rpc_ds_reply_t){.n = 1, .keys = &k};
    b.len = 0;
    das_rpc_ds_encode_reply(&b, &rp, DAS_RPC_DS_PUT);
    CHECK_OK(das_rpc_ds_decode_reply(b.data, b.len, DAS_RPC_DS_PUT, &back));
    CHECK_EQ(back.n, 1);
    CHECK_STR_EQ(back.keys[0].app, "dev~app");
    CHECK(back.keys[0].path[0].id == 1ll << 52);
    das_rpc_ds_reply_dispose(&back);

    /* Empty bodies are empty; bytes after them are refused. */
    b.len = 0;
    das_rpc_ds_encode_reply(&b, &rp, DAS_RPC_DS_COMMIT);
    CHECK_EQ(b.len, 0);
    CHECK_OK(das_rpc_ds_decode_reply(b.data, 0, DAS_RPC_DS_COMMIT, &back));
    das_rpc_ds_reply_dispose(&back);
    CHECK_EQ(das_rpc_ds_decode_reply("x", 1, DAS_RPC_DS_DELETE, &back), -EPROTO);
    das_rpc_ds_reply_dispose(&back);

    CHECK_STR_EQ(das_rpc_ds_method_name(DAS_RPC_DS_BEGIN), "BeginTransaction");
    CHECK_EQ(das_rpc_ds_method_op("AllocateIds"), DAS_RPC_DS_ALLOCATE_IDS);
    CHECK_EQ(das_rpc_ds_method_op("Next"), 0);
    CHECK_EQ(das_rpc_ds_decode_request(NULL, 0, 0, &out), -EPROTO);
    das_rpc_ds_request_dispose(&out);
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_datastore_refuses_unknown_types_bad_flags_and_deep_nesting)
{
    das_rpc_buf_t b = {0};
    das_rpc_ds_request_t out;
    /* A value of type 13. */
    das_rpc_put_u64(&b, 0);
    das_rpc_put_u32(&b, 1);
    das_rpc_put_str(&b, "");
    das_rpc_put_str(&b, "");
    das_rpc_put_u32(&b, 0);
    das_rpc_put_u32(&b, 1);
    das_rpc_put_str(&b, "p");
    size_t flags_at = b.len;
    das_rpc_put_u32(&b, 1);
    das_rpc_put_u32(&b, 1);
    size_t type_at = b.len;
    das_rpc_put_u32(&b, DAS_RPC_DS_TYPE_COUNT);
    CHECK_EQ(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_PUT, &out), -EPROTO);
    das_rpc_ds_request_dispose(&out);
    b.data[type_at] = DAS_RPC_DS_NULL;
    CHECK_OK(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_PUT, &out));
    das_rpc_ds_request_dispose(&out);
    b.data[flags_at] = 4; /* an unknown property flag */
    CHECK_EQ(das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_PUT, &out), -EPROTO);
    das_rpc_ds_request_dispose(&out);

    /* Embedded entities nested one deeper than the limit. */
    for (int depth = DAS_RPC_DS_MAX_DEPTH; depth <= DAS_RPC_DS_MAX_DEPTH + 1; depth++) {
        b.len = 0;
        das_rpc_put_u64(&b, 0);
        das_rpc_put_u32(&b, 1);
        for (int i = 0; i <= depth; i++) {
            das_rpc_put_str(&b, ""); /* the entity's key: app, ns, no path */
            das_rpc_put_str(&b, "");
            das_rpc_put_u32(&b, 0);
            das_rpc_put_u32(&b, 1); /* one property */
            das_rpc_put_str(&b, "e");
            das_rpc_put_u32(&b, 0);
            das_rpc_put_u32(&b, 1);
            das_rpc_put_u32(&b, i < depth ? DAS_RPC_DS_ENTITY : DAS_RPC_DS_NULL);
        }
        int rc = das_rpc_ds_decode_request(b.data, b.len, DAS_RPC_DS_PUT, &out);
        CHECK_EQ(rc, depth <= DAS_RPC_DS_MAX_DEPTH ? 0 : -EPROTO);
        das_rpc_ds_request_dispose(&out);
    }
    das_rpc_buf_dispose(&b);
}

TEST(test_rpc_datastore_urlsafe_known_answer_and_round_trip)
{
    das_rpc_ds_elem_t path[] = {{"Guestbook", 0, "default_guestbook"}, {"Greeting", 42, NULL}};
    das_rpc_ds_key_t k = {"dev~guestbook", "", 1, path};
    das_rpc_buf_t b = {0};
    /* By hand: 6a 0d "dev~guestbook" 72 20 (0b 12 09 "Guestbook" 22 11 "default_guestbook"
     * 0c), base64 with - and _, no padding. */
    CHECK_OK(das_rpc_ds_key_to_urlsafe(&k, NULL, &b));
    CHECK_STR_EQ((char *)b.data, "ag1kZXZ-Z3Vlc3Rib29rciALEglHdWVzdGJvb2siEWRlZmF1bHRfZ3Vlc3Rib29rDA");
    CHECK_EQ(b.len, strlen((char *)b.data));
    /* A child with an id, in a namespace; the app comes from the argument. */
    k = (das_rpc_ds_key_t){NULL, "ns1", 2, path};
    b.len = 0;
    CHECK_OK(das_rpc_ds_key_to_urlsafe(&k, "dev~guestbook", &b));
    CHECK_STR_EQ((char *)b.data, "ag1kZXZ-Z3Vlc3Rib29rci4LEglHdWVzdGJvb2siEWRlZmF1bHRfZ3Vlc3Rib29rDA"
                                 "sSCEdyZWV0aW5nGCoMogEDbnMx");
    das_arena_t a = {0};
    das_rpc_ds_key_t back;
    const char *why = NULL;
    CHECK_OK(das_rpc_ds_key_from_urlsafe((char *)b.data, &a, &back, &why));
    CHECK_STR_EQ(back.app, "dev~guestbook");
    CHECK_STR_EQ(back.ns, "ns1");
    CHECK_EQ(back.n, 2);
    CHECK_STR_EQ(back.path[0].kind, "Guestbook");
    CHECK_STR_EQ(back.path[0].name, "default_guestbook");
    CHECK_EQ(back.path[0].id, 0);
    CHECK_STR_EQ(back.path[1].kind, "Greeting");
    CHECK_EQ(back.path[1].id, 42);
    CHECK(back.path[1].name == NULL);
    /* Padding is accepted. */
    CHECK_OK(das_rpc_ds_key_from_urlsafe(
        "ag1kZXZ-Z3Vlc3Rib29rciALEglHdWVzdGJvb2siEWRlZmF1bHRfZ3Vlc3Rib29rDA==", &a, &back, &why));
    CHECK_EQ(back.n, 1);
    CHECK_STR_EQ(back.ns, "");
    /* Ids at the ends of the range, and a deep path, survive the trip. */
    das_rpc_ds_elem_t deep[40];
    for (int i = 0; i < 40; i++)
        deep[i] = (das_rpc_ds_elem_t){"K", i % 2 ? INT64_MAX - i : 1 + i, NULL};
    deep[7].id = 0;
    deep[7].name = "seven";
    k = (das_rpc_ds_key_t){"s~x", "", 40, deep};
    b.len = 0;
    CHECK_OK(das_rpc_ds_key_to_urlsafe(&k, NULL, &b));
    CHECK_OK(das_rpc_ds_key_from_urlsafe((char *)b.data, &a, &back, &why));
    CHECK_EQ(back.n, 40);
    CHECK(back.path[39].id == INT64_MAX - 39);
    CHECK_EQ(back.path[0].id, 1);
    CHECK_STR_EQ(back.path[7].name, "seven");
    /* What cannot be encoded. */
    das_rpc_ds_elem_t incomplete[] = {{"Greeting", 0, NULL}};
    k = (das_rpc_ds_key_t){"dev~a", "", 1, incomplete};
    CHECK_EQ(das_rpc_ds_key_to_urlsafe(&k, NULL, &b), -EINVAL);
    k = (das_rpc_ds_key_t){NULL, "", 1, path};
    CHECK_EQ(das_rpc_ds_key_to_urlsafe(&k, NULL, &b), -EINVAL);
    k = (das_rpc_ds_key_t){"dev~a", "", 0, path};
    CHECK_EQ(das_rpc_ds_key_to_urlsafe(&k, NULL, &b), -EINVAL);
    das_arena_dispose(&a);
    das_rpc_buf_dispose(&b);
}

/* Base64 (URL-safe, unpadded) of `n` bytes, into `out`. */
static const char *b64(const unsigned char *p, size_t n, char *out)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = abc[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = abc[v & 63];
    }
    out[o] = '\0';
    return out;
}

#define PB(s) s, sizeof s - 1 /* a literal and its length (NULs included) */

TEST(test_rpc_datastore_urlsafe_refuses_malformed_strings)
{
    das_arena_t a = {0};
    das_rpc_ds_key_t k;
    const char *why;
    static const char *const bad_text[] = {
        "", "a", "ag1kZXZ+Z3Vlc3Rib29r", "ag1kZXZ/Z3Vlc3Rib29r", "ag1k ZXZ", "ag1kZXZ-Z3Vlc3Rib29rci===",
        "ag1kZXZ-Z3Vlc3Rib29rc=", "ag1kZXZ-Z3Vlc3Rib29r\xc3\xa9",
    };
    for (size_t i = 0; i < sizeof bad_text / sizeof bad_text[0]; i++) {
        why = NULL;
        CHECK_EQ(das_rpc_ds_key_from_urlsafe(bad_text[i], &a, &k, &why), -EINVAL);
        CHECK(why != NULL);
        CHECK(k.n == 0 && k.app == NULL);
    }
    /* Well-formed base64 of broken protobufs. */
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
    } bad[] = {
        {PB("\x6a\x01" "a"), "no path"},
        {PB("\x72\x06\x0b\x12\x01K\x18\x01\x0c"), "cut short"},
        {PB("\x72\x07\x0b\x12\x01K\x18\x01\x0c"), "no app"},
        {PB("\x6a\x01" "a\x72\x00"), "the path is empty"},
        {PB("\x6a\x01" "a\x72\x05\x0b\x12\x01K\x0c"), "neither an id nor a name"},
        {PB("\x6a\x01" "a\x72\x07\x0b\x12\x01K\x18\x00\x0c"), "an id of 0 or less"},
        {PB("\x6a\x01" "a\x72\x10\x0b\x12\x01K\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff"
            "\x01\x0c"),
         "an id of 0 or less"},
        {PB("\x6a\x01" "a\x72\x0a\x0b\x12\x01K\x18\x01\x22\x01n\x0c"), "both an id and a name"},
        {PB("\x6a\x01" "a\x72\x04\x0b\x18\x01\x0c"), "no kind"},
        {PB("\x6a\x01" "a\x72\x07\x0b\x12\x01K\x18\x01"), "cut short"},
        {PB("\x6a\x01" "a\x72\x07\x0b\x12\x01K\x28\x01\x0c"), "unknown field"},
        {PB("\x6a\x01" "a\x72\x07\x13\x12\x01K\x18\x01\x0c"), "unknown field"},
        {PB("\x6a\x01" "a\x72\x07\x0b\x12\x01K\x18\x01\x0c\x08\x01"), "unknown field"},
        {PB("\x6a\x01" "a\x6a\x01" "b\x72\x07\x0b\x12\x01K\x18\x01\x0c"), "twice"},
        {PB("\x6a\x02" "a"), "cut short"},
        {PB("\x6a\x01" "\0\x72\x07\x0b\x12\x01K\x18\x01\x0c"), "NUL"},
        {PB("\x6a\x01" "a\x72\x07\x0b\x12\x01K\x22\x00\x0c"), "empty name"},
        {PB("\x6a\x01" "a\x72\x0b\x0b\x12\x01K\x18\xff\xff\xff\xff\x0c"), "cut short"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[64];
        b64((const unsigned char *)bad[i].bytes, bad[i].len, text);
        why = NULL;
        CHECK_EQ(das_rpc_ds_key_from_urlsafe(text, &a, &k, &why), -EINVAL);
        CHECK_STR_CONTAINS(why, bad[i].why);
    }
    /* The smallest good one, for contrast. */
    static const char good[] = "\x6a\x01" "a\x72\x07\x0b\x12\x01K\x18\x01\x0c";
    char text[64];
    CHECK_OK(das_rpc_ds_key_from_urlsafe(b64((const unsigned char *)good, sizeof good - 1, text),
                                         &a, &k, &why));
    CHECK_STR_EQ(k.app, "a");
    CHECK_EQ(k.path[0].id, 1);
    das_arena_dispose(&a);
}

CHECK_MAIN()
