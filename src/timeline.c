/* timeline.c - renders a trace as a timeline (see timeline.h). */
#include "timeline.h"

#include <string.h>

#define COLUMN 34   /* characters per request's column */
#define VALUE_MAX 32 /* bytes of a value or body shown */

void das_timeline_quote(das_buf_t *out, const char *data, size_t len, size_t max)
{
    das_buf_puts(out, "\"");
    for (size_t i = 0; i < len && i < max; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == '"' || c == '\\')
            das_buf_printf(out, "\\%c", c);
        else if (c == '\n')
            das_buf_puts(out, "\\n");
        else if (c < 0x20 || c >= 0x7f)
            das_buf_printf(out, "\\x%02x", c);
        else
            das_buf_append(out, (const char *)&c, 1);
    }
    das_buf_puts(out, len > max ? "\"..." : "\"");
}

static void pad_to(das_buf_t *b, size_t line_start, size_t col)
{
    while (b->len - line_start < col)
        das_buf_append(b, " ", 1);
}

/* The text of one step. */
static void step_text(const das_trace_file_t *f, size_t i, das_buf_t *t)
{
    const das_sched_step_t *st = &f->steps[i];
    const das_sched_action_t *a = &st->action;
    const das_trace_file_result_t *r = &f->results[i];
    switch (a->kind) {
    case DAS_SCHED_START: das_buf_puts(t, "start"); break;
    case DAS_SCHED_CALL:
        das_buf_printf(t, "%s.%s", a->service, a->op);
        for (size_t k = 0; k < a->n_keys; k++) {
            const char *key = a->keys[k].data;
            size_t len = a->keys[k].len;
            if (len && key[0] == '/') { /* the default namespace */
                key++;
                len--;
            }
            das_buf_puts(t, k ? ", " : " ");
            das_timeline_quote(t, key, len, VALUE_MAX);
        }
        if (a->write && r->value) {
            das_buf_puts(t, " = ");
            das_timeline_quote(t, r->value, r->value_len, VALUE_MAX);
        }
        das_buf_puts(t, " -> ");
        if (!a->write && r->value && r->status && strcmp(r->status, "ok") == 0)
            das_timeline_quote(t, r->value, r->value_len, VALUE_MAX);
        else
            das_buf_puts(t, r->status ? r->status : "?");
        break;
    case DAS_SCHED_LOCK: das_buf_printf(t, "lock mutex %llu", (unsigned long long)a->lock); break;
    case DAS_SCHED_WAIT:
        das_buf_printf(t, "wait on cond %llu (mutex %llu)%s", (unsigned long long)a->cond,
                       (unsigned long long)a->lock, st->timed_out ? " -> timed out" : "");
        break;
    case DAS_SCHED_SLEEP:
        if (a->sleep_ns == 0)
            das_buf_puts(t, "yield");
        else
            das_buf_printf(t, "sleep %.3f s", (double)a->sleep_ns / 1e9);
        break;
    case DAS_SCHED_END: das_buf_puts(t, "end"); break;
    }
    if (a->site && a->site[0])
        das_buf_printf(t, "  %s", a->site);
}

/* One line: the step number (or blanks) and `text` in `task`'s column. */
static void put_row(das_buf_t *out, long step, int task, const char *text)
{
    size_t start = out->len;
    if (step >= 0)
        das_buf_printf(out, "%4ld  ", step);
    else
        das_buf_puts(out, "      ");
    pad_to(out, start, 6 + (size_t)task * COLUMN);
    das_buf_printf(out, "%s\n", text);
}

void das_timeline_render(const das_trace_file_t *f, das_buf_t *out)
{
    /* The heading: each request's name and line. */
    size_t start = out->len;
    das_buf_puts(out, "      ");
    for (size_t i = 0; i < f->n_requests; i++) {
        const das_trace_file_request_t *r = &f->requests[i];
        char name[16];
        das_sched_task_name((int)i, name);
        pad_to(out, start, 6 + i * COLUMN);
        das_buf_t what = {0};
        das_buf_printf(&what, "%s  %s %s", name, r->method, r->target);
        if (what.len > COLUMN - 2)
            what.len = COLUMN - 2;
        das_buf_append(out, what.data, what.len);
        das_buf_dispose(&what);
    }
    das_buf_puts(out, "\n");

    das_buf_t t = {0};
    for (size_t i = 0; i < f->n_steps; i++) {
        const das_sched_step_t *st = &f->steps[i];
        if (st->preemption && i > 0)
            put_row(out, -1, f->steps[i - 1].task, "~~ preempted ~~");
        das_buf_reset(&t);
        step_text(f, i, &t);
        for (size_t e = 0; e < f->n_ends; e++) { /* the task's last step: its response */
            const das_trace_file_end_t *end = &f->ends[e];
            if (end->task == st->task && end->step == i + 1) {
                das_buf_printf(&t, "   (%d ", end->status);
                das_timeline_quote(&t, end->body, end->body_len, VALUE_MAX);
                das_buf_puts(&t, ")");
                if (strcmp(end->how, "returned") != 0)
                    das_buf_printf(&t, " %s", end->how);
            }
        }
        put_row(out, (long)i + 1, st->task, t.data ? t.data : "");
        for (size_t c = 0; c < f->n_checks; c++) {
            const das_trace_file_check_t *ck = &f->checks[c];
            if (ck->task == st->task && ck->step == i + 1) {
                das_buf_reset(&t);
                das_buf_printf(&t, "!! %s", ck->message);
                if (ck->site && ck->site[0])
                    das_buf_printf(&t, "  %s", ck->site);
                put_row(out, -1, ck->task, t.data);
            }
        }
    }
    /* Requests that ended with no step (refused before their start). */
    for (size_t e = 0; e < f->n_ends; e++) {
        const das_trace_file_end_t *end = &f->ends[e];
        bool stepped = false;
        for (size_t i = 0; i < f->n_steps && !stepped; i++)
            stepped = f->steps[i].task == end->task;
        if (!stepped) {
            das_buf_reset(&t);
            das_buf_printf(&t, "(%s, %d)", end->how, end->status);
            put_row(out, -1, end->task, t.data);
        }
    }
    das_buf_dispose(&t);
}
