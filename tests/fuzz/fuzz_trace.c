/* fuzz_trace.c - the trace reader (src/trace.c, what `replay` reads): any bytes are refused
 * with a message naming the file (and for a bad line, its number) or give a trace whose parts
 * agree: requests numbered in order, steps numbered from 0 with a known action and a task
 * name, one decision per step marked so. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path);
    if (fd < 0)
        return 0;
    das_trace_file_t tf;
    das_err_t err = {0};
    int rc = das_trace_load(path, &tf, &err);
    close(fd);
    if (rc < 0) {
        FUZZ_CHECK(rc == AE_EINVAL || rc == AE_EIO);
        FUZZ_CHECK(strstr(err.msg, path) != NULL);
        return 0;
    }
    FUZZ_CHECK(tf.format == DAS_TRACE_FORMAT);
    for (size_t i = 0; i < tf.n_requests; i++)
        FUZZ_CHECK(tf.requests[i].task == (int)i && tf.requests[i].method &&
                   tf.requests[i].target && tf.requests[i].body);
    size_t decisions = 0;
    for (size_t i = 0; i < tf.n_steps; i++) {
        const das_sched_step_t *st = &tf.steps[i];
        FUZZ_CHECK(st->task >= 0);
        FUZZ_CHECK(st->action.kind >= DAS_SCHED_START && st->action.kind <= DAS_SCHED_END);
        if (st->action.kind == DAS_SCHED_CALL)
            FUZZ_CHECK(st->action.service && st->action.op &&
                       (st->action.n_keys == 0 || st->action.keys));
        decisions += st->decision;
    }
    FUZZ_CHECK(decisions == tf.n_decisions);
    das_trace_file_dispose(&tf);
    return 0;
}
