/* gen_ds_seeds.c - writes the seed corpus of fuzz_rpc_datastore: real encoded datastore bodies
 * (each method's request and reply), its pieces alone, and URL-safe key strings, so the fuzzer
 * starts from well-formed messages. Not part of any build; regenerate with (from the top of
 * the tree):
 *
 *   cc -D_GNU_SOURCE -Icommon tests/fuzz/tools/gen_ds_seeds.c common/rpc_codec.c \
 *      common/rpc_datastore.c -lcrypto -o /tmp/gen_ds_seeds &&
 *   /tmp/gen_ds_seeds tests/fuzz/corpus/fuzz_rpc_datastore
 *
 * Every seed starts with the byte fuzz_rpc_datastore reads the method from (op - 1); the rest is
 * the body. A key string is given twice: as its text, and as the Reference protobuf bytes it
 * encodes (which the target base64-encodes itself).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_codec.h"
#include "rpc_datastore.h"

static const char *dir;

static void save(const char *name, uint32_t op, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    uint8_t sel = (uint8_t)(op - 1);
    if (!f || fwrite(&sel, 1, 1, f) != 1 || (len && fwrite(data, 1, len, f) != len) ||
        fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void save_buf(const char *name, uint32_t op, das_rpc_buf_t *b)
{
    save(name, op, b->data, b->len);
    das_rpc_buf_dispose(b);
}

/* ---------------------------------------------------------------- the messages */

static das_rpc_ds_elem_t book_path[] = {{"Guestbook", 0, "default"}, {"Greeting", 42, NULL}};
static das_rpc_ds_key_t greeting = {NULL, "", 2, book_path};
static das_rpc_ds_key_t book = {NULL, "", 1, book_path};
static das_rpc_ds_elem_t ns_path[] = {{"Store", 0, "na\xc3\xafve"}, {"Shelf", 7, NULL},
                                      {"Book", 0, "isbn"}};
static das_rpc_ds_key_t in_ns = {"dev~app", "shop-1", 3, ns_path};
static das_rpc_ds_elem_t incomplete_path[] = {{"Guestbook", 0, "default"}, {"Greeting", 0, NULL}};
static das_rpc_ds_key_t incomplete = {NULL, "", 2, incomplete_path};

/* An entity with one property of every type, lists, and an embedded entity. */
static das_rpc_ds_entity_t *every_type(void)
{
    static das_rpc_ds_value_t inner_v[] = {{.type = DAS_RPC_DS_INT, .u.i = 2}};
    static das_rpc_ds_prop_t inner_p[] = {{"depth", true, false, 1, inner_v}};
    static das_rpc_ds_entity_t inner = {{NULL, "", 0, NULL}, 1, inner_p};
    static das_rpc_ds_value_t v[14];
    static das_rpc_ds_value_t list[3];
    static das_rpc_ds_prop_t p[15];
    static das_rpc_ds_entity_t e;
    static const char *names[] = {"null", "int", "time", "bool", "s", "sb", "text", "blob",
                                  "d", "geo", "user", "ref", "emb", "neg"};
    v[0] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_NULL};
    v[1] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_INT, .u.i = -7};
    v[2] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_TIME, .u.i = 1234567890123456LL};
    v[3] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_BOOL, .u.b = true};
    v[4] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_STRING, .u.s = {"hello", 5}};
    v[5] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_BYTES, .u.s = {"a\0b", 3}};
    v[6] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_TEXT, .u.s = {"long text", 9}};
    v[7] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_BLOB, .u.s = {"\0\1\2", 3}};
    v[8] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_DOUBLE, .u.d = -0.125};
    v[9] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_GEOPT, .u.geo = {52.5, -13.25}};
    v[10] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_USER,
                                 .u.user = {"ann@example.com", "gmail.com", "1234"}};
    v[11] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_KEY, .u.key = &in_ns};
    v[12] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_ENTITY, .u.entity = &inner};
    v[13] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_INT, .u.i = INT64_MIN};
    for (int i = 0; i < 14; i++)
        p[i] = (das_rpc_ds_prop_t){names[i], i != 6 && i != 7 && i != 12, false, 1, &v[i]};
    list[0] = v[1];
    list[1] = v[4];
    list[2] = v[11];
    p[14] = (das_rpc_ds_prop_t){"tags", true, true, 3, list};
    e = (das_rpc_ds_entity_t){greeting, 15, p};
    return &e;
}

static das_rpc_ds_query_t *a_query(void)
{
    static das_rpc_ds_value_t eq = {.type = DAS_RPC_DS_STRING, .u.s = {"ann", 3}};
    static das_rpc_ds_value_t ge = {.type = DAS_RPC_DS_TIME, .u.i = 1000};
    static das_rpc_ds_value_t in[] = {{.type = DAS_RPC_DS_INT, .u.i = 1},
                                      {.type = DAS_RPC_DS_INT, .u.i = 3}};
    static das_rpc_ds_value_t key = {.type = DAS_RPC_DS_KEY, .u.key = &greeting};
    static das_rpc_ds_filter_t filters[] = {{"author", DAS_RPC_DS_EQ, 1, &eq},
                                            {"date", DAS_RPC_DS_GE, 1, &ge},
                                            {"x", DAS_RPC_DS_IN, 2, in},
                                            {"__key__", DAS_RPC_DS_NE, 1, &key}};
    static das_rpc_ds_order_t orders[] = {{"date", true}, {"__key__", false}};
    static const char *projection[] = {"date", "x"};
    static das_rpc_ds_query_t q;
    q = (das_rpc_ds_query_t){.ns = "ns", .kind = "Greeting", .ancestor = &book,
                             .n_filters = 4, .filters = filters, .n_orders = 2,
                             .orders = orders, .n_projection = 2, .projection = projection,
                             .distinct = true, .limit = 10, .offset = 2,
                             .start_cursor = "CjQSLmoMdGVzdGJlZC10ZXN0", .end_cursor = NULL};
    return &q;
}

/* A Put of one entity holding an embedded entity `depth` levels deep. */
static void save_nested_put(const char *name, int depth)
{
    das_rpc_ds_entity_t *levels = calloc((size_t)depth + 1, sizeof *levels);
    das_rpc_ds_prop_t *props = calloc((size_t)depth, sizeof *props);
    das_rpc_ds_value_t *vals = calloc((size_t)depth, sizeof *vals);
    for (int d = depth; d >= 0; d--) {
        levels[d] = (das_rpc_ds_entity_t){{NULL, "", 0, NULL}, 0, NULL};
        if (d < depth) {
            vals[d] = (das_rpc_ds_value_t){.type = DAS_RPC_DS_ENTITY, .u.entity = &levels[d + 1]};
            props[d] = (das_rpc_ds_prop_t){"e", false, false, 1, &vals[d]};
            levels[d].n = 1;
            levels[d].props = &props[d];
        }
    }
    levels[0].key = greeting;
    das_rpc_ds_request_t rq = {.op = DAS_RPC_DS_PUT, .n = 1, .entities = levels};
    das_rpc_buf_t b = {0};
    das_rpc_ds_encode_request(&b, &rq);
    save_buf(name, DAS_RPC_DS_PUT, &b);
    free(levels);
    free(props);
    free(vals);
}

/* ---------------------------------------------------------------- URL-safe keys */

static void save_key_string(const char *name, const das_rpc_ds_key_t *k)
{
    das_rpc_buf_t text = {0};
    if (das_rpc_ds_key_to_urlsafe(k, "testbed-test", &text) != 0) {
        fprintf(stderr, "cannot encode %s\n", name);
        exit(1);
    }
    char file[256];
    snprintf(file, sizeof file, "urlsafe-%s", name);
    save(file, DAS_RPC_DS_GET, text.data, text.len);
    /* The protobuf bytes: back to standard base64, padded, decoded. */
    size_t n = text.len, full = (n + 3) / 4 * 4;
    char *std = calloc(1, full + 1);
    for (size_t i = 0; i < n; i++)
        std[i] = text.data[i] == '-' ? '+' : text.data[i] == '_' ? '/' : (char)text.data[i];
    for (size_t i = n; i < full; i++)
        std[i] = '=';
    unsigned char *raw = malloc(full / 4 * 3 + 1);
    int len = EVP_DecodeBlock(raw, (unsigned char *)std, (int)full);
    snprintf(file, sizeof file, "reference-%s", name);
    save(file, DAS_RPC_DS_GET, raw, (size_t)len - (full - n));
    free(raw);
    free(std);
    das_rpc_buf_dispose(&text);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    das_rpc_buf_t b = {0};
    char name[64];

    /* Requests, one per method. */
    das_rpc_ds_key_t keys[] = {greeting, in_ns, book};
    das_rpc_ds_entity_t ents[2];
    ents[0] = *every_type();
    ents[1] = (das_rpc_ds_entity_t){incomplete, 0, NULL};
    for (uint32_t op = DAS_RPC_DS_GET; op <= DAS_RPC_DS_ALLOCATE_IDS; op++) {
        das_rpc_ds_request_t rq = {.op = op, .txn = op == DAS_RPC_DS_GET ? 0 : 7, .n = 3,
                                   .keys = keys, .xg = true, .model = incomplete, .size = 10,
                                   .max = 0};
        if (op == DAS_RPC_DS_PUT) {
            rq.n = 2;
            rq.entities = ents;
        }
        if (op == DAS_RPC_DS_RUN_QUERY)
            rq.query = *a_query();
        das_rpc_ds_encode_request(&b, &rq);
        snprintf(name, sizeof name, "request-%s", das_rpc_ds_method_name(op));
        save_buf(name, op, &b);
    }
    /* A plain query: kind only, no limit. */
    das_rpc_ds_request_t plain = {.op = DAS_RPC_DS_RUN_QUERY,
                                  .query = {.ns = "", .kind = "Greeting", .limit = -1,
                                            .count_only = true}};
    das_rpc_ds_encode_request(&b, &plain);
    save_buf("request-RunQuery-count", DAS_RPC_DS_RUN_QUERY, &b);

    /* Replies, one per method. */
    das_rpc_ds_entity_t *found[] = {every_type(), NULL, &ents[1]};
    das_rpc_ds_key_t done[] = {greeting, in_ns};
    for (uint32_t op = DAS_RPC_DS_GET; op <= DAS_RPC_DS_ALLOCATE_IDS; op++) {
        das_rpc_ds_reply_t rp = {.n = op == DAS_RPC_DS_PUT ? 2 : 3, .entities = found,
                                 .keys = done, .cursor = "CjQSLmoMdGVzdGJlZC10ZXN0",
                                 .more = true, .count = 3, .skipped = 1, .handle = 9,
                                 .start = 100, .end = 109};
        if (op == DAS_RPC_DS_RUN_QUERY)
            found[1] = &ents[1];
        das_rpc_ds_encode_reply(&b, &rp, op);
        found[1] = NULL;
        snprintf(name, sizeof name, "reply-%s", das_rpc_ds_method_name(op));
        save_buf(name, op, &b);
    }

    /* Pieces alone (the target decodes every piece from the body's start). */
    das_rpc_ds_put_key(&b, &in_ns);
    save_buf("piece-key", DAS_RPC_DS_GET, &b);
    das_rpc_ds_value_t emb = {.type = DAS_RPC_DS_ENTITY, .u.entity = every_type()};
    das_rpc_ds_put_value(&b, &emb);
    save_buf("piece-value", DAS_RPC_DS_GET, &b);
    das_rpc_ds_put_entity(&b, every_type());
    save_buf("piece-entity", DAS_RPC_DS_GET, &b);
    das_rpc_ds_put_query(&b, a_query());
    save_buf("piece-query", DAS_RPC_DS_GET, &b);

    /* A Put of an entity whose embedded entities nest as deep as the wire allows (100 below the
     * top-level entity), and one level deeper, which is refused. */
    save_nested_put("request-Put-nested", DAS_RPC_DS_MAX_DEPTH);
    save_nested_put("request-Put-too-deep", DAS_RPC_DS_MAX_DEPTH + 1);

    /* Key strings. */
    save_key_string("greeting", &greeting);
    save_key_string("namespace", &in_ns);
    das_rpc_ds_elem_t deep_path[] = {{"A", 1, NULL}, {"B", 0, "b"}, {"C", 3, NULL},
                                     {"D", 0, "d"}, {"E", 5, NULL}, {"F", 0, "f"}};
    das_rpc_ds_key_t deep = {NULL, "", 6, deep_path};
    save_key_string("six-elements", &deep);
    return 0;
}
