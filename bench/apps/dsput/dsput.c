/* dsput.c - the datastore put bench app: each /put request stores one Greeting under the
 * Guestbook "bench" ancestor, as the guestbook sample signs; / answers "ok" (readiness). */
#include <appengine/appengine.h>
#include <appengine/datastore.h>
#include <string.h>

static const char TEXT[] = "a greeting of some sixty bytes, as a guestbook would store it.";

static void put(ae_request_t *rq, ae_response_t *rs)
{
    ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "bench");
    ae_datastore_entity_t *e = ae_datastore_entity(rq, ae_datastore_key(rq, book, "Greeting", 0));
    ae_datastore_set(e, "author", ae_datastore_string("bench@example.com"));
    ae_datastore_set_unindexed(e, "content", ae_datastore_text(TEXT, sizeof TEXT - 1));
    ae_datastore_set(e, "date", ae_datastore_time(1700000000000000));
    if (ae_datastore_put(rq, e) != AE_OK) {
        ae_response_error(rs, 500, "put: %s\n", ae_request_last_error(rq));
        return;
    }
    ae_response_puts(rs, "ok\n");
}

static void ready(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_puts(rs, "ok\n");
}

AE_APP(app, {"/put", put}, {"*", ready});
