/* gen_rpc_seeds.c - writes the seed corpus of fuzz_rpc_codec: real encoded payloads of every
 * message, so the fuzzer starts from well-formed frames. Not part of any build; regenerate
 * with (from the top of the tree):
 *
 *   cc -D_GNU_SOURCE -Icommon tests/fuzz/tools/gen_rpc_seeds.c common/rpc_codec.c \
 *      common/rpc_memcache.c -o /tmp/gen_rpc_seeds && /tmp/gen_rpc_seeds tests/fuzz/corpus/fuzz_rpc_codec
 *
 * The memcache seeds start with the byte fuzz_rpc_codec reads the method from (op - 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_codec.h"
#include "rpc_memcache.h"

static const char *dir;

static void save(const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void save_buf(const char *name, das_rpc_buf_t *b)
{
    save(name, b->data, b->len);
    das_rpc_buf_dispose(b);
}

/* A memcache body, preceded by the byte that selects `op` in the fuzz target. */
static void save_mc(const char *name, uint32_t op, das_rpc_buf_t *body)
{
    das_rpc_buf_t b = {0};
    uint8_t sel = (uint8_t)(op - 1);
    das_rpc_put_raw(&b, &sel, 1);
    das_rpc_put_raw(&b, body->data, body->len);
    das_rpc_buf_dispose(body);
    save_buf(name, &b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    das_rpc_buf_t b = {0};

    das_rpc_pair_t headers[] = {{"Host", "localhost:8080"}, {"Cookie", "a=1; b=\"2\""}};
    das_rpc_pair_t env[] = {{"APPLICATION_ID", "dev~app"}, {"USER_EMAIL", "a@example.com"}};
    das_rpc_request_t rq = {.script = "main.app", .method = "POST", .path = "/sign",
                            .query = "x=1&y=%20", .headers = headers, .n_headers = 2,
                            .env = env, .n_env = 2, .body = "content=hi", .body_len = 10};
    das_rpc_encode_request(&b, &rq);
    save_buf("request", &b);
    das_rpc_request_t empty_rq = {0};
    das_rpc_encode_request(&b, &empty_rq);
    save_buf("request-empty", &b);

    das_rpc_pair_t rh[] = {{"Content-Type", "text/html"}, {"Set-Cookie", "s=1; Path=/"}};
    das_rpc_response_t rs = {.status = 200, .headers = rh, .n_headers = 2,
                             .body = "<p>hello</p>\n", .body_len = 13};
    das_rpc_encode_response(&b, &rs);
    save_buf("response", &b);

    size_t mark = das_rpc_call_begin(&b, "memcache", "Get", 1);
    das_rpc_mc_item_t get_items[] = {{.key = "k1", .key_len = 2}, {.key = "k\0b", .key_len = 3}};
    das_rpc_mc_request_t get = {.op = DAS_RPC_MC_GET, .ns = "", .n = 2, .items = get_items};
    das_rpc_mc_encode_request(&b, &get);
    das_rpc_call_end(&b, mark);
    save_buf("call-memcache-get", &b);
    mark = das_rpc_call_begin(&b, "logservice", "Flush", 7);
    das_rpc_put_str(&b, "line");
    das_rpc_call_end(&b, mark);
    save_buf("call-other", &b);

    mark = das_rpc_reply_begin(&b);
    das_rpc_put_u32(&b, 1);
    das_rpc_put_bytes(&b, "value", 5);
    das_rpc_reply_end(&b, mark, 0, "");
    save_buf("reply-ok", &b);
    mark = das_rpc_reply_begin(&b);
    das_rpc_reply_end(&b, mark, -1006, "service unavailable");
    save_buf("reply-error", &b);

    /* Memcache request bodies, one per method. */
    das_rpc_mc_item_t items[] = {
        {.key = "counter", .key_len = 7, .value = "41", .value_len = 2, .flags = 3,
         .expiration = 60, .cas = 9, .delta = -2},
        {.key = "bin\0key", .key_len = 7, .value = "\0\1\2", .value_len = 3},
    };
    for (uint32_t op = DAS_RPC_MC_GET; op <= DAS_RPC_MC_STATS; op++) {
        das_rpc_mc_request_t mrq = {.op = op, .ns = "ns", .mode = 1, .lock_seconds = 5,
                                    .has_initial = 1, .initial = 100,
                                    .n = op <= DAS_RPC_MC_OFFSET ? 2 : 0, .items = items};
        das_rpc_mc_encode_request(&b, &mrq);
        char name[64];
        snprintf(name, sizeof name, "mc-request-%s", das_rpc_mc_method_name(op));
        save_mc(name, op, &b);
    }

    /* Memcache reply bodies, one per method. */
    das_rpc_mc_item_t ritems[] = {
        {.status = 0, .value = "41", .value_len = 2, .flags = 3, .cas = 9, .new_value = 39},
        {.status = -1002},
    };
    for (uint32_t op = DAS_RPC_MC_GET; op <= DAS_RPC_MC_STATS; op++) {
        das_rpc_mc_reply_t rp = {.n = op <= DAS_RPC_MC_OFFSET ? 2 : 0, .items = ritems,
                                 .hits = 1, .misses = 2, .byte_hits = 3, .items_count = 4,
                                 .bytes = 5, .oldest_item_age = 6};
        das_rpc_mc_encode_reply(&b, &rp, op);
        char name[64];
        snprintf(name, sizeof name, "mc-reply-%s", das_rpc_mc_method_name(op));
        save_mc(name, op, &b);
    }
    return 0;
}
