/* urlfetch_bench.c - the ceiling of URL Fetch's benchmark: a bare libcurl loop fetching one URL
 * for SECONDS, one fetch after another, and printing fetches per second.
 *   urlfetch_bench reuse URL SECONDS   one easy handle for every fetch (connections reused)
 *   urlfetch_bench fresh URL SECONDS   a new easy handle, and so a new connection, per fetch
 */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static CURL *handle(const char *url)
{
    CURL *e = curl_easy_init();
    if (!e)
        abort();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return e;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "reuse") != 0 && strcmp(argv[1], "fresh") != 0)) {
        fprintf(stderr, "usage: urlfetch_bench reuse|fresh URL SECONDS\n");
        return 2;
    }
    bool reuse = strcmp(argv[1], "reuse") == 0;
    double seconds = atof(argv[3]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *e = reuse ? handle(argv[2]) : NULL;
    long n = 0;
    double t0 = now_s(), t;
    do {
        CURL *h = reuse ? e : handle(argv[2]);
        CURLcode rc = curl_easy_perform(h);
        if (!reuse)
            curl_easy_cleanup(h);
        if (rc != CURLE_OK) {
            fprintf(stderr, "urlfetch_bench: %s\n", curl_easy_strerror(rc));
            return 1;
        }
        n++;
        t = now_s() - t0;
    } while (t < seconds);
    if (e)
        curl_easy_cleanup(e);
    printf("%.1f\n", (double)n / t);
    return 0;
}
