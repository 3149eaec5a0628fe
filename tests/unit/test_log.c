/* test_log.c - the server's log: one line per message, with every control byte a client or an
 * app could put in a message written as \xNN. */
#include <stdlib.h>

#include "check.h"
#include "log.h"

/* Logs `msg` (as a %s argument) at info and returns what was written (malloc'd). */
static char *logged(const char *msg)
{
    das_clock_t *c = das_clock_manual_create(0, 1);
    FILE *f = tmpfile();
    das_log_t *log = das_log_create(DAS_LOG_INFO, f, c);
    das_log_info(log, "got %s", msg);
    fflush(f);
    long n = ftell(f);
    char *text = calloc(1, (size_t)n + 1);
    rewind(f);
    if (fread(text, 1, (size_t)n, f) != (size_t)n)
        abort();
    das_log_destroy(log);
    fclose(f);
    das_clock_manual_destroy(c);
    return text;
}

TEST(test_log_escapes_terminal_escape_sequences_and_newlines)
{
    char *t = logged("\x1b[2J\x1b]0;owned\x07 and\nINFO forged line\r\x7f");
    CHECK_STR_CONTAINS(t, "got \\x1b[2J\\x1b]0;owned\\x07 and\\x0aINFO forged line\\x0d\\x7f\n");
    /* One line: the only newline is the one that ends it. */
    CHECK(strchr(t, '\n') == t + strlen(t) - 1);
    free(t);
}

TEST(test_log_escapes_utf8_c1_controls)
{
    char *t = logged("a\xc2\x9b" "31mred \xc2\xa0nbsp");
    CHECK_STR_CONTAINS(t, "got a\\xc2\\x9b31mred \xc2\xa0nbsp\n");
    free(t);
}

TEST(test_log_leaves_printable_text_and_utf8_alone)
{
    char *t = logged("caf\xc3\xa9 \"quoted\" 100%");
    CHECK_STR_CONTAINS(t, "got caf\xc3\xa9 \"quoted\" 100%\n");
    free(t);
}

TEST(test_log_text_gives_each_line_its_own_log_line)
{
    das_clock_t *c = das_clock_manual_create(0, 1);
    FILE *f = tmpfile();
    das_log_t *log = das_log_create(DAS_LOG_INFO, f, c);
    das_log_text(log, DAS_LOG_ERROR, "compiler output:", "a.c:1: error\nb.c:2: note\n");
    fflush(f);
    char text[512] = "";
    rewind(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    CHECK_STR_CONTAINS(text, "compiler output:\n");
    CHECK_STR_CONTAINS(text, "  a.c:1: error\n");
    CHECK_STR_CONTAINS(text, "  b.c:2: note\n");
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    CHECK_EQ(lines, 3);
    das_log_destroy(log);
    fclose(f);
    das_clock_manual_destroy(c);
}

CHECK_MAIN()
