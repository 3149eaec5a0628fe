/* counter.c - a visit counter entity (Counter/visits, property n): /visit reads and writes it
 * outside a transaction, /visit_txn inside one, /visits shows it. */
#include <appengine/datastore.h>
#include <stdio.h>

static ae_datastore_key_t *counter_key(ae_request_t *rq)
{
    return ae_datastore_key_named(rq, NULL, "Counter", "visits");
}

/* Adds one to the counter: read, then write. Returns the new count, or an AE_* code. */
static int64_t add_visit(ae_request_t *rq)
{
    ae_datastore_key_t *key = counter_key(rq);
    ae_datastore_entity_t *e = NULL;
    int rc = ae_datastore_get(rq, key, &e);
    if (rc == AE_ENOTFOUND)
        e = ae_datastore_entity(rq, key);
    else if (rc != AE_OK)
        return rc;
    int64_t n = ae_datastore_get_int(e, "n", 0) + 1;
    ae_datastore_set(e, "n", ae_datastore_int(n));
    rc = ae_datastore_put(rq, e);
    return rc == AE_OK ? n : rc;
}

static void reply(ae_request_t *rq, ae_response_t *rs, int64_t n)
{
    if (n < 0)
        return ae_response_error(rs, 500, "datastore: %s\n", ae_request_last_error(rq));
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%lld", (long long)n);
}

/* The bug: another request's write can fall between this read and this write. */
static void visit(ae_request_t *rq, ae_response_t *rs)
{
    reply(rq, rs, add_visit(rq));
}

static int visit_in_txn(ae_request_t *rq, void *ctx)
{
    int64_t n = add_visit(rq);
    if (n < 0)
        return (int)n;
    *(int64_t *)ctx = n;
    return AE_OK;
}

/* The fix: the same read and write in a transaction, retried on contention. */
static void visit_txn(ae_request_t *rq, ae_response_t *rs)
{
    int64_t n = 0;
    int rc = ae_datastore_run_in_transaction(rq, NULL, visit_in_txn, &n);
    reply(rq, rs, rc == AE_OK ? n : rc);
}

static void visits(ae_request_t *rq, ae_response_t *rs)
{
    ae_datastore_entity_t *e = NULL;
    int rc = ae_datastore_get(rq, counter_key(rq), &e);
    reply(rq, rs, rc == AE_OK ? ae_datastore_get_int(e, "n", 0) : rc == AE_ENOTFOUND ? 0 : rc);
}

AE_APP(app, {"/visit", visit}, {"/visit_txn", visit_txn}, {"/visits", visits});
