/* ds.c - the datastore test app:
 *   /incr?txn=1   increments Counter:c in a transaction (200 "committed", 409 on contention)
 *   /incr?txn=0   the same read-modify-write without one (updates may be lost)
 *   /count        the counter's value
 *   /additem?cat=C&price=N   stores an Item
 *   /items?cat=C  the items of a category, most expensive first (a composite index)
 *   /pid          the instance's process id (a reload starts new instances)
 * A datastore failure answers 500 with the code's name and the detail. */
#include <appengine/appengine.h>
#include <appengine/datastore.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void fail(ae_request_t *rq, ae_response_t *rs, int rc)
{
    ae_response_error(rs, rc == AE_ECONTENTION ? 409 : 500, "%s: %s\n", ae_strerror(rc),
                      ae_request_last_error(rq));
}

static int bump(ae_request_t *rq, void *ctx)
{
    (void)ctx;
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "Counter", "c");
    ae_datastore_entity_t *e;
    int rc = ae_datastore_get(rq, k, &e);
    if (rc == AE_ENOTFOUND) {
        e = ae_datastore_entity(rq, k);
        rc = AE_OK;
    }
    if (rc != AE_OK)
        return rc;
    int64_t n = ae_datastore_get_int(e, "n", 0);
    usleep(2000); /* widen the window another request may slip into */
    ae_datastore_set(e, "n", ae_datastore_int(n + 1));
    return ae_datastore_put(rq, e);
}

static void incr(ae_request_t *rq, ae_response_t *rs)
{
    const char *txn = ae_request_param(rq, "txn");
    int rc = txn && strcmp(txn, "1") == 0 ? ae_datastore_run_in_transaction(rq, NULL, bump, NULL)
                                          : bump(rq, NULL);
    if (rc != AE_OK)
        return fail(rq, rs, rc);
    ae_response_puts(rs, "committed\n");
}

static void count(ae_request_t *rq, ae_response_t *rs)
{
    ae_datastore_entity_t *e;
    int rc = ae_datastore_get(rq, ae_datastore_key_named(rq, NULL, "Counter", "c"), &e);
    if (rc == AE_ENOTFOUND) {
        ae_response_puts(rs, "0\n");
        return;
    }
    if (rc != AE_OK)
        return fail(rq, rs, rc);
    ae_response_printf(rs, "%lld\n", (long long)ae_datastore_get_int(e, "n", 0));
}

static void additem(ae_request_t *rq, ae_response_t *rs)
{
    const char *cat = ae_request_param(rq, "cat"), *price = ae_request_param(rq, "price");
    ae_datastore_entity_t *e = ae_datastore_entity(rq, ae_datastore_key(rq, NULL, "Item", 0));
    ae_datastore_set(e, "category", ae_datastore_string(cat ? cat : ""));
    ae_datastore_set(e, "price", ae_datastore_int(price ? atoll(price) : 0));
    int rc = ae_datastore_put(rq, e);
    if (rc != AE_OK)
        return fail(rq, rs, rc);
    ae_response_puts(rs, "stored\n");
}

static void items(ae_request_t *rq, ae_response_t *rs)
{
    const char *cat = ae_request_param(rq, "cat");
    ae_datastore_query_t *q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter(q, "category", AE_DATASTORE_EQ, ae_datastore_string(cat ? cat : ""));
    ae_datastore_query_order(q, "price", AE_DATASTORE_DESC);
    ae_datastore_page_t page;
    int rc = ae_datastore_fetch(rq, q, 100, NULL, &page);
    if (rc != AE_OK)
        return fail(rq, rs, rc);
    for (size_t i = 0; i < page.n; i++)
        ae_response_printf(rs, "%lld\n", (long long)ae_datastore_get_int(page.entities[i], "price", -1));
}

static void pid(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%d\n", (int)getpid());
}

AE_APP(app, {"/incr", incr}, {"/count", count}, {"/additem", additem}, {"/items", items},
       {"/pid", pid});
