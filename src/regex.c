/* regex.c - a PCRE2 match block per thread, created on first use, freed at thread exit. */
#include "regex.h"

#include <pthread.h>
#include <stdlib.h>

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void free_block(void *md)
{
    pcre2_match_data_free(md);
}

static void make_key(void)
{
    if (pthread_key_create(&key, free_block) != 0)
        abort();
}

pcre2_match_data *das_regex_thread_match_data(void)
{
    pthread_once(&once, make_key);
    pcre2_match_data *md = pthread_getspecific(key);
    if (!md) {
        md = pcre2_match_data_create(DAS_REGEX_MAX_GROUPS, NULL);
        if (!md || pthread_setspecific(key, md) != 0)
            abort();
    }
    return md;
}
