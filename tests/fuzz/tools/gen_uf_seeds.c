/* gen_uf_seeds.c - writes the seed corpus of fuzz_rpc_urlfetch: an encoded fetch request, a
 * response and a wait, each after the byte that picks its decoder. Not part of any build;
 * regenerate with (from the top of the tree):
 *
 *   cc -D_GNU_SOURCE -Icommon tests/fuzz/tools/gen_uf_seeds.c common/rpc_codec.c \
 *      common/rpc_urlfetch.c -o /tmp/gen_uf_seeds && /tmp/gen_uf_seeds
 */
#include <stdbool.h>
#include <stdio.h>
#include "rpc_urlfetch.h"
static void put(const char *path, int kind, das_rpc_buf_t *b)
{
    FILE *f = fopen(path, "wb");
    fputc(kind, f);
    fwrite(b->data, 1, b->len, f);
    fclose(f);
}
int main(void)
{
    das_rpc_pair_t h[] = {{"Content-Type", "text/plain"}, {"X-A", ""}};
    das_rpc_uf_request_t rq = {.method = "POST", .url = "http://127.0.0.1:8080/x?y=1", .headers = h,
                               .n_headers = 2, .payload = "a=1", .payload_len = 3,
                               .follow_redirects = true, .deadline_ms = 5000};
    das_rpc_buf_t b = {0};
    das_rpc_uf_encode_request(&b, &rq);
    put("tests/fuzz/corpus/fuzz_rpc_urlfetch/request", 0, &b);
    b.len = 0;
    das_rpc_uf_response_t rs = {.status = 200, .final_url = "http://x/y", .headers = h, .n_headers = 2,
                                .body = "hello", .body_len = 5};
    das_rpc_uf_encode_response(&b, &rs);
    put("tests/fuzz/corpus/fuzz_rpc_urlfetch/response", 1, &b);
    b.len = 0;
    das_rpc_uf_encode_wait(&b, 7, "https://example.com/");
    put("tests/fuzz/corpus/fuzz_rpc_urlfetch/wait", 2, &b);
    das_rpc_buf_dispose(&b);
    return 0;
}
