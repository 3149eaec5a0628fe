/* guestbook.c - the guestbook sample: GET / lists the entries, POST /sign adds one. */
#include <appengine/appengine.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 100

/* Shared by every request on this instance: guarded by `lock`. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *entries[MAX_ENTRIES];
static int n_entries;

static void html_escape(ae_response_t *rs, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': ae_response_puts(rs, "&lt;"); break;
        case '>': ae_response_puts(rs, "&gt;"); break;
        case '&': ae_response_puts(rs, "&amp;"); break;
        case '"': ae_response_puts(rs, "&quot;"); break;
        default: ae_response_write(rs, s, 1);
        }
    }
}

static void list(ae_request_t *rq, ae_response_t *rs)
{
    const char *user = ae_request_user_email(rq);
    ae_response_set_header(rs, "Content-Type", "text/html; charset=utf-8");
    ae_response_puts(rs, "<!DOCTYPE html>\n<html><head><title>Guestbook</title>"
                         "<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body>\n"
                         "<h1>Guestbook</h1>\n<ul>\n");
    pthread_mutex_lock(&lock);
    for (int i = 0; i < n_entries; i++) {
        ae_response_puts(rs, "<li>");
        html_escape(rs, entries[i]);
        ae_response_puts(rs, "</li>\n");
    }
    pthread_mutex_unlock(&lock);
    ae_response_puts(rs, "</ul>\n<form method=\"post\" action=\"/sign\">"
                         "<input name=\"content\"> <input type=\"submit\" value=\"Sign\">"
                         "</form>\n<p>");
    if (user) {
        ae_response_puts(rs, "Signed in as ");
        html_escape(rs, user);
        ae_response_puts(rs, " (<a href=\"/_ah/logout?continue=/\">sign out</a>)");
    } else {
        ae_response_puts(rs, "<a href=\"/_ah/login?continue=/\">Sign in</a>");
    }
    ae_response_puts(rs, "</p>\n</body></html>\n");
}

static void sign(ae_request_t *rq, ae_response_t *rs)
{
    if (strcmp(ae_request_method(rq), "POST") != 0) {
        ae_response_error(rs, 405, "use POST to sign the guestbook\n");
        ae_response_set_header(rs, "Allow", "POST");
        return;
    }
    const char *content = ae_request_param(rq, "content");
    if (!content || !*content) {
        ae_response_error(rs, 400, "an entry needs some content\n");
        return;
    }
    const char *user = ae_request_user_email(rq);
    char *entry = malloc(strlen(content) + (user ? strlen(user) : 9) + 4);
    if (!entry)
        abort();
    strcpy(entry, user ? user : "anonymous");
    strcat(entry, ": ");
    strcat(entry, content);
    pthread_mutex_lock(&lock);
    if (n_entries == MAX_ENTRIES) {
        free(entries[0]);
        memmove(entries, entries + 1, (MAX_ENTRIES - 1) * sizeof *entries);
        n_entries--;
    }
    entries[n_entries++] = entry;
    pthread_mutex_unlock(&lock);
    ae_response_set_status(rs, 303);
    ae_response_set_header(rs, "Location", "/");
}

AE_APP(app, {"/sign", sign}, {"*", list});
