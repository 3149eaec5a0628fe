/* fuzz_scenario.c - explore's scenario files (src/scenario.c): any bytes are refused with a
 * file:line:col message or give a scenario that keeps the rules: 1 to 64 requests, known
 * methods, targets starting with '/', statuses of 0 or 100-599, at most 6 requests with the
 * serializable oracle. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "scenario.h"

static void check_request(const das_scenario_request_t *r)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH",
                                          "OPTIONS"};
    bool known = false;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        known |= strcmp(r->method, methods[i]) == 0;
    FUZZ_CHECK(known);
    FUZZ_CHECK(r->target[0] == '/');
    FUZZ_CHECK(r->expect.status == 0 || (r->expect.status >= 100 && r->expect.status <= 599));
    FUZZ_CHECK(r->user != NULL && r->body != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0)
        return 0;
    das_scenario_t *s = NULL;
    das_err_t err = {0};
    int rc = das_scenario_load(path, &s, &err);
    close(fd);
    if (rc < 0) {
        FUZZ_CHECK(rc == AE_EINVAL || rc == AE_EIO);
        FUZZ_CHECK(strncmp(err.msg, path, strlen(path)) == 0 || strstr(err.msg, path));
        return 0;
    }
    FUZZ_CHECK(s->n_requests >= 1 && s->n_requests <= DAS_SCENARIO_MAX_REQUESTS);
    FUZZ_CHECK(!s->serializable || s->n_requests <= 6);
    for (size_t i = 0; i < s->n_requests; i++)
        check_request(&s->requests[i]);
    for (size_t i = 0; i < s->n_setup; i++)
        check_request(&s->setup[i]);
    for (size_t i = 0; i < s->n_checks; i++)
        check_request(&s->checks[i]);
    das_scenario_destroy(s);
    return 0;
}
