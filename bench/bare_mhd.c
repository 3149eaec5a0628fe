/* bare_mhd.c - the HTTP ceiling for the benchmarks: the least a libmicrohttpd server can do to
 * answer "Hello, World!" with keep-alive. Same threading mode as devappserver's front end
 * unless --mode is given, so a ratio against it measures our own work.
 *   bare_mhd --port-file F [--body-size N] [--delay-ms N] [--mode thread-per-connection|pool|epoll]
 * --body-size answers N bytes instead of "Hello, World!\n" (the ceiling for static files);
 * --delay-ms waits N ms before each answer (a slow origin for URL Fetch's async benchmark).
 * It answers on the second call of a request: libmicrohttpd 0.9.75 closes a keep-alive
 * connection whose response is queued on the first call.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct MHD_Response *hello;
static unsigned delay_ms;

static enum MHD_Result on_access(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    (void)cls; (void)url; (void)method; (void)version; (void)upload_data;
    static int first_call_marker;
    /* The first call only sees the headers; answering there would cost keep-alive. */
    if (*req_cls == NULL) {
        *req_cls = &first_call_marker;
        return MHD_YES;
    }
    *upload_data_size = 0;
    if (delay_ms)
        usleep(delay_ms * 1000u);
    return MHD_queue_response(con, MHD_HTTP_OK, hello);
}

int main(int argc, char **argv)
{
    const char *port_file = NULL, *mode = "thread-per-connection";
    size_t body_size = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else if (strcmp(argv[i], "--mode") == 0)
            mode = argv[i + 1];
        else if (strcmp(argv[i], "--body-size") == 0)
            body_size = strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--delay-ms") == 0)
            delay_ms = (unsigned)strtoul(argv[i + 1], NULL, 10);
    }
    static const char hello_body[] = "Hello, World!\n";
    char *body = (char *)hello_body;
    size_t len = sizeof hello_body - 1;
    if (body_size) {
        body = malloc(body_size);
        memset(body, 'x', body_size);
        len = body_size;
    }
    hello = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(hello, "Content-Type", "text/plain");
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    unsigned int pool = 0;
    if (strcmp(mode, "thread-per-connection") == 0)
        flags |= MHD_USE_THREAD_PER_CONNECTION;
    else if (strcmp(mode, "pool") == 0)
        flags |= MHD_USE_EPOLL, pool = 2;
    else
        flags |= MHD_USE_EPOLL;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d =
        pool ? MHD_start_daemon(flags, 0, NULL, NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_THREAD_POOL_SIZE, pool, MHD_OPTION_CONNECTION_LIMIT,
                                (unsigned int)1024, MHD_OPTION_END)
             : MHD_start_daemon(flags, 0, NULL, NULL, on_access, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned int)1024, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bare_mhd: cannot start\n");
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (port_file) {
        FILE *f = fopen(port_file, "w");
        fprintf(f, "%d\n", di->port);
        fclose(f);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(hello);
    return 0;
}
