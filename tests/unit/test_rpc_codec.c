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

CHECK_MAIN()
