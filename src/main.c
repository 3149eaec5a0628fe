/* main.c - the command line: parses arguments into server options and runs the server; runs
 * `replay` and `explore`; or, when started by the server with --instance-role (or the race
 * detector's --instance-role-tsan trampoline), runs an instance.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <unistd.h>

#include "datastore_service.h"
#include "explore.h"
#include "memcache_service.h"
#include "urlfetch_service.h"
#include "replay.h"
#include "runtime.h"
#include "server.h"

#ifndef DAS_VERSION
#define DAS_VERSION "0"
#endif

#define EXIT_USAGE 2

static const char usage_text[] =
    "usage: devappserver [serve] [OPTIONS] APPDIR\n"
    "       devappserver replay [--quiet] [--json] TRACE [APPDIR]\n"
    "       devappserver explore [--strategy S] [--schedules N] [--seed S] [...] APPDIR "
    "SCENARIO\n"
    "\n"
    "Serves the App Engine app in APPDIR (a directory holding app.yaml, or the path of an\n"
    "app.yaml) on this machine, the way the App Engine standard platform would. `replay` runs\n"
    "a trace of deterministic dispatch again; `explore` runs a scenario under many request\n"
    "interleavings and reports the first that fails (options in the README).\n"
    "\n"
    "options:\n"
    "  --host HOST                   address to listen on (default 127.0.0.1)\n"
    "  --allow-host NAME             also accept requests whose Host header is NAME\n"
    "                                (repeatable); '*' accepts any Host, which lets any web\n"
    "                                page you visit reach this server by DNS rebinding\n"
    "  --port PORT                   port to listen on (default 8080; 0 picks a free one)\n"
    "  --port-file FILE              write the port to FILE once listening\n"
    "  --storage-path DIR            where builds and data live (default: a folder per app\n"
    "                                under $XDG_DATA_HOME/devappserver or\n"
    "                                ~/.local/share/devappserver)\n"
    "  --dispatch POLICY             serial, concurrent or deterministic (default: concurrent\n"
    "                                when app.yaml says threadsafe: true, else serial)\n"
    "  --max-instances N             most instances to run at once (default 10)\n"
    "  --max-concurrent-requests N   requests per instance under concurrent dispatch\n"
    "                                (default: automatic_scaling.max_concurrent_requests, or 8)\n"
    "  --request-deadline SECONDS    a longer request gets a 500 and its instance is\n"
    "                                replaced (default 60)\n"
    "  --no-reload                   do not rebuild and reload when sources change\n"
    "  --memcache-max-bytes N        memcache's size cap (key + value bytes; least recently\n"
    "                                used items are evicted beyond it; default 256 MiB)\n"
    "  --datastore-path FILE         the datastore's SQLite file (default:\n"
    "                                STORAGE/datastore.db, in the storage path)\n"
    "  --clear-datastore             start with an empty datastore\n"
    "  --datastore-sync MODE         normal (a power loss may drop the last commits) or full\n"
    "                                (it drops none; slower) (default normal)\n"
    "  --auto-id-policy POLICY       ids for incomplete keys: scattered or sequential\n"
    "                                (default scattered)\n"
    "  --datastore-consistency-policy POLICY\n"
    "                                when a commit shows in non-ancestor queries: time (after\n"
    "                                a drawn delay, mostly 100 ms), random (p = 0.5 at each\n"
    "                                query) or consistent (at once) (default time)\n"
    "  --datastore-seed N            seeds the datastore's draws (default 0)\n"
    "  --require-indexes             a query whose composite index is not in index.yaml\n"
    "                                fails, as in production (default: it runs and the index\n"
    "                                is added to index.yaml)\n"
    "  --urlfetch-record FILE        append every URL fetch and its answer to FILE (JSON lines)\n"
    "  --urlfetch-replay FILE        answer URL fetches from FILE, with no network; a fetch\n"
    "                                it has no answer for fails\n"
    "\n"
    "deterministic dispatch (--dispatch deterministic): one request runs at a time, and a\n"
    "seeded scheduler picks which goes on at each service call, so an interleaving can be\n"
    "replayed with 'devappserver replay TRACE':\n"
    "  --seed N                      the scheduler's seed (default: drawn at start, and shown)\n"
    "  --strategy random|pct         uniform among the requests that can go on, or PCT\n"
    "                                (default random)\n"
    "  --pct-depth D                 PCT's depth (default 3)\n"
    "  --gather-ms N                 requests arriving within N ms of the first are fired\n"
    "                                together (default 20)\n"
    "  --trace FILE                  where the trace goes (default:\n"
    "                                STORAGE/traces/serve-NNNN.jsonl)\n"
    "\n"
    "  --race-detector               run the instances under GCC's ThreadSanitizer, for races\n"
    "                                on the app's own memory (concurrent dispatch; needs GCC\n"
    "                                and libtsan2)\n"
    "  --log-level LEVEL             debug, info, warning, error or critical (default info)\n"
    "  -h, --help                    show this help\n"
    "  --version                     show the version\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "devappserver: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'devappserver --help' for more information.\n");
    return EXIT_USAGE;
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

/* The race detector's instances start here: address-space randomisation off (as setarch -R:
 * ThreadSanitizer needs it where mmap randomisation has 32 bits), then the instance role again
 * with GCC's ThreadSanitizer runtime preloaded. Returns only on failure. */
static int tsan_trampoline(char **argv)
{
    const char *runtime = getenv("DAS_TSAN_RUNTIME");
    int persona = personality(0xffffffff);
    if (!runtime || persona < 0 || personality((unsigned long)persona | ADDR_NO_RANDOMIZE) < 0) {
        fprintf(stderr, "devappserver instance: cannot start under ThreadSanitizer: %s\n",
                runtime ? strerror(errno) : "DAS_TSAN_RUNTIME is not set");
        return 1;
    }
    setenv("LD_PRELOAD", runtime, 1);
    unsetenv("DAS_TSAN_RUNTIME");
    char *args[] = {argv[0], "--instance-role", argv[2], argv[3], NULL};
    execv("/proc/self/exe", args);
    fprintf(stderr, "devappserver instance: cannot start itself again: %s\n", strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--instance-role") == 0) {
        int slots;
        if (!parse_int(argv[3], 1, 4096, &slots))
            return EXIT_USAGE;
        return das_runtime_main(argv[2], slots);
    }
    if (argc == 4 && strcmp(argv[1], "--instance-role-tsan") == 0)
        return tsan_trampoline(argv);

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "devappserver: cannot find its own binary in /proc/self/exe\n");
        return 1;
    }
    exe[n] = '\0';
    if (argc > 1 && strcmp(argv[1], "replay") == 0)
        return das_replay_main(argc - 1, argv + 1, exe, &das_runtime_inprocess);
    if (argc > 1 && strcmp(argv[1], "explore") == 0)
        return das_explore_main(argc - 1, argv + 1, exe, &das_runtime_inprocess);

    enum { OPT_HOST = 256, OPT_ALLOW_HOST, OPT_PORT, OPT_PORT_FILE, OPT_STORAGE, OPT_DISPATCH, OPT_MAX_INST,
           OPT_MAX_CONC, OPT_DEADLINE, OPT_LOG_LEVEL, OPT_NO_RELOAD, OPT_VERSION, OPT_MEMCACHE_MAX,
           OPT_DS_PATH, OPT_DS_CLEAR, OPT_DS_SYNC, OPT_DS_IDS, OPT_DS_CONSISTENCY, OPT_DS_SEED,
           OPT_DS_REQUIRE_INDEXES, OPT_SEED, OPT_STRATEGY, OPT_PCT_DEPTH, OPT_GATHER_MS,
           OPT_TRACE, OPT_RACE_DETECTOR, OPT_UF_RECORD, OPT_UF_REPLAY };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"allow-host", required_argument, NULL, OPT_ALLOW_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"storage-path", required_argument, NULL, OPT_STORAGE},
        {"dispatch", required_argument, NULL, OPT_DISPATCH},
        {"max-instances", required_argument, NULL, OPT_MAX_INST},
        {"max-concurrent-requests", required_argument, NULL, OPT_MAX_CONC},
        {"request-deadline", required_argument, NULL, OPT_DEADLINE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"no-reload", no_argument, NULL, OPT_NO_RELOAD},
        {"memcache-max-bytes", required_argument, NULL, OPT_MEMCACHE_MAX},
        {"datastore-path", required_argument, NULL, OPT_DS_PATH},
        {"clear-datastore", no_argument, NULL, OPT_DS_CLEAR},
        {"datastore-sync", required_argument, NULL, OPT_DS_SYNC},
        {"auto-id-policy", required_argument, NULL, OPT_DS_IDS},
        {"datastore-consistency-policy", required_argument, NULL, OPT_DS_CONSISTENCY},
        {"datastore-seed", required_argument, NULL, OPT_DS_SEED},
        {"require-indexes", no_argument, NULL, OPT_DS_REQUIRE_INDEXES},
        {"urlfetch-record", required_argument, NULL, OPT_UF_RECORD},
        {"urlfetch-replay", required_argument, NULL, OPT_UF_REPLAY},
        {"seed", required_argument, NULL, OPT_SEED},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"pct-depth", required_argument, NULL, OPT_PCT_DEPTH},
        {"gather-ms", required_argument, NULL, OPT_GATHER_MS},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"race-detector", no_argument, NULL, OPT_RACE_DETECTOR},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    das_server_options_t o = {
        .host = "127.0.0.1",
        .port = 8080,
        .dispatch = -1,
        .max_instances = 10,
        .request_deadline_s = 60,
        .log_level = DAS_LOG_INFO,
        .watch = true,
        .gather_ms = -1,
    };
    const char *det_only = NULL; /* the first option that needs --dispatch deterministic */
    das_memcache_service_options_t memcache = {0};
    /* The app id, the default file (STORAGE/datastore.db) and index.yaml's folder (APPDIR)
     * come from the server, which knows them once app.yaml is read. */
    das_datastore_service_options_t datastore = {.background_apply = true};
    das_urlfetch_service_options_t urlfetch = {0};
    const char *allow_hosts[64];
    size_t n_allow_hosts = 0;
    int first = 1;
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        first = 2;
    optind = first;
    opterr = 0;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_HOST: o.host = optarg; break;
        case OPT_ALLOW_HOST:
            if (n_allow_hosts == sizeof allow_hosts / sizeof allow_hosts[0])
                return usage_error("%s", "--allow-host may be given at most 64 times");
            if (!*optarg)
                return usage_error("%s", "--allow-host needs a host name");
            allow_hosts[n_allow_hosts++] = optarg;
            break;
        case OPT_PORT:
            if (!parse_int(optarg, 0, 65535, &o.port))
                return usage_error("--port must be a number from 0 to 65535, not '%s'", optarg);
            break;
        case OPT_PORT_FILE: o.port_file = optarg; break;
        case OPT_STORAGE: o.storage_path = optarg; break;
        case OPT_DISPATCH:
            if (strcmp(optarg, "serial") == 0)
                o.dispatch = DAS_DISPATCH_SERIAL;
            else if (strcmp(optarg, "concurrent") == 0)
                o.dispatch = DAS_DISPATCH_CONCURRENT;
            else if (strcmp(optarg, "deterministic") == 0)
                o.dispatch = DAS_DISPATCH_DETERMINISTIC;
            else
                return usage_error("--dispatch must be serial, concurrent or deterministic, not "
                                   "'%s'",
                                   optarg);
            break;
        case OPT_MAX_INST:
            if (!parse_int(optarg, 1, 1000, &o.max_instances))
                return usage_error("--max-instances must be a number from 1 to 1000, not '%s'",
                                   optarg);
            break;
        case OPT_MAX_CONC:
            if (!parse_int(optarg, 1, 1000, &o.max_concurrent))
                return usage_error("--max-concurrent-requests must be a number from 1 to 1000, "
                                   "not '%s'",
                                   optarg);
            break;
        case OPT_DEADLINE:
            o.request_deadline_s = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !(o.request_deadline_s > 0) ||
                o.request_deadline_s > 86400)
                return usage_error("--request-deadline must be a number of seconds above 0, "
                                   "not '%s'",
                                   optarg);
            break;
        case OPT_LOG_LEVEL:
            if (das_log_parse_level(optarg, &o.log_level) < 0)
                return usage_error("--log-level must be debug, info, warning, error or "
                                   "critical, not '%s'",
                                   optarg);
            break;
        case OPT_NO_RELOAD: o.watch = false; break;
        case OPT_MEMCACHE_MAX:
            memcache.max_bytes = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *optarg == '-' || *end != '\0' || memcache.max_bytes == 0)
                return usage_error("--memcache-max-bytes must be a positive number of bytes, not "
                                   "'%s'",
                                   optarg);
            break;
        case OPT_DS_PATH:
            if (!*optarg)
                return usage_error("%s", "--datastore-path needs a file name");
            datastore.path = optarg;
            break;
        case OPT_DS_CLEAR: datastore.clear = true; break;
        case OPT_DS_SYNC:
            if (strcmp(optarg, "normal") == 0)
                datastore.sync_full = false;
            else if (strcmp(optarg, "full") == 0)
                datastore.sync_full = true;
            else
                return usage_error("--datastore-sync must be normal or full, not '%s'", optarg);
            break;
        case OPT_DS_IDS:
            if (strcmp(optarg, "scattered") == 0)
                datastore.ids = DAS_DATASTORE_IDS_SCATTERED;
            else if (strcmp(optarg, "sequential") == 0)
                datastore.ids = DAS_DATASTORE_IDS_SEQUENTIAL;
            else
                return usage_error("--auto-id-policy must be scattered or sequential, not '%s'",
                                   optarg);
            break;
        case OPT_DS_CONSISTENCY:
            if (strcmp(optarg, "time") == 0)
                datastore.consistency = DAS_DATASTORE_CONSISTENCY_TIME;
            else if (strcmp(optarg, "random") == 0)
                datastore.consistency = DAS_DATASTORE_CONSISTENCY_RANDOM;
            else if (strcmp(optarg, "consistent") == 0)
                datastore.consistency = DAS_DATASTORE_CONSISTENCY_CONSISTENT;
            else
                return usage_error("--datastore-consistency-policy must be time, random or "
                                   "consistent, not '%s'",
                                   optarg);
            break;
        case OPT_DS_SEED:
            errno = 0;
            datastore.seed = strtoull(optarg, &end, 10);
            if (!(*optarg >= '0' && *optarg <= '9') || *end != '\0' || errno == ERANGE)
                return usage_error("--datastore-seed must be a number from 0 to 2^64 - 1, not "
                                   "'%s'",
                                   optarg);
            break;
        case OPT_DS_REQUIRE_INDEXES: datastore.require_indexes = true; break;
        case OPT_UF_RECORD:
            if (!*optarg)
                return usage_error("%s", "--urlfetch-record needs a file name");
            urlfetch.record_path = optarg;
            break;
        case OPT_UF_REPLAY:
            if (!*optarg)
                return usage_error("%s", "--urlfetch-replay needs a file name");
            urlfetch.replay_path = optarg;
            break;
        case OPT_SEED:
            errno = 0;
            o.seed = strtoull(optarg, &end, 10);
            if (!(*optarg >= '0' && *optarg <= '9') || *end != '\0' || errno == ERANGE)
                return usage_error("--seed must be a number from 0 to 2^64 - 1, not '%s'",
                                   optarg);
            o.has_seed = true;
            det_only = det_only ? det_only : "--seed";
            break;
        case OPT_STRATEGY:
            if (strcmp(optarg, "exhaustive") == 0)
                return usage_error("%s", "--strategy exhaustive is for 'devappserver explore'; "
                                         "serve takes random or pct");
            if (strcmp(optarg, "random") != 0 && strcmp(optarg, "pct") != 0)
                return usage_error("--strategy must be random or pct, not '%s'", optarg);
            o.strategy = optarg;
            det_only = det_only ? det_only : "--strategy";
            break;
        case OPT_PCT_DEPTH:
            if (!parse_int(optarg, 1, 100, &o.pct_depth))
                return usage_error("--pct-depth must be a number from 1 to 100, not '%s'",
                                   optarg);
            det_only = det_only ? det_only : "--pct-depth";
            break;
        case OPT_GATHER_MS:
            if (!parse_int(optarg, 0, 60000, &o.gather_ms))
                return usage_error("--gather-ms must be a number from 0 to 60000, not '%s'",
                                   optarg);
            det_only = det_only ? det_only : "--gather-ms";
            break;
        case OPT_RACE_DETECTOR: o.race_detector = true; break;
        case OPT_TRACE:
            if (!*optarg)
                return usage_error("%s", "--trace needs a file name");
            o.trace_path = optarg;
            det_only = det_only ? det_only : "--trace";
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        case OPT_VERSION: printf("devappserver %s\n", DAS_VERSION); return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("%s", "missing APPDIR (the directory that holds app.yaml)");
    if (optind + 1 < argc)
        return usage_error("unexpected argument '%s' (only one APPDIR)", argv[optind + 1]);
    o.app_path = argv[optind];
    if (o.race_detector && o.dispatch >= 0 && o.dispatch != DAS_DISPATCH_CONCURRENT)
        return usage_error("%s", "--race-detector works under concurrent dispatch only (it "
                                 "needs requests running at once on an instance's threads)");
    if (o.race_detector)
        o.dispatch = DAS_DISPATCH_CONCURRENT;
    if (det_only && o.dispatch != DAS_DISPATCH_DETERMINISTIC)
        return usage_error("%s is an option of deterministic dispatch: add --dispatch "
                           "deterministic",
                           det_only);
    /* Deterministic: commits are applied to queries at steps, not by a thread at wall-clock
     * moments the schedule does not see. */
    if (o.dispatch == DAS_DISPATCH_DETERMINISTIC)
        datastore.background_apply = false;

    o.exe = exe;
    o.allow_hosts = allow_hosts;
    o.n_allow_hosts = n_allow_hosts;
    /* Each service's options, in its own struct, handed on by the registry. */
    const das_service_config_t services[] = {{"memcache", &memcache},
                                             {"datastore_v3", &datastore},
                                             {"urlfetch", &urlfetch}};
    o.services = services;
    o.n_services = sizeof services / sizeof services[0];
    return das_server_run(&o);
}
