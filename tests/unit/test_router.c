/* test_router.c - handlers match in file order, against the whole path only, with back-
 * references expanded into scripts and static paths. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "router.h"

static char dir[64];

/* Writes app.yaml (with the given handlers) and the C files they name, then loads it. */
static int load(const char *handlers, das_config_t **cfg, das_router_t **r)
{
    snprintf(dir, sizeof dir, "/tmp/das-router-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char path[128];
    snprintf(path, sizeof path, "%s/app.yaml", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "runtime: c\napi_version: 1\nthreadsafe: true\nhandlers:\n%s", handlers);
    fclose(f);
    const char *files[] = {"main.c", "api.c", NULL};
    for (int i = 0; files[i]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        f = fopen(path, "w");
        fclose(f);
    }
    das_err_t err = {0};
    if (das_config_load(dir, cfg, &err) < 0) {
        printf("# %s\n", err.msg);
        return -1;
    }
    return das_router_create(*cfg, r, &err);
}

static void unload(das_config_t *cfg, das_router_t *r)
{
    das_router_destroy(r);
    das_config_destroy(cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

TEST(test_router_first_matching_handler_wins_in_file_order)
{
    das_config_t *cfg;
    das_router_t *r;
    CHECK_OK(load("- url: /api/.*\n  script: api.app\n- url: /.*\n  script: main.app\n", &cfg,
                  &r));
    das_route_t m;
    CHECK_OK(das_router_match(r, "/api/users", 0, &m));
    CHECK_STR_EQ(m.target, "api.app");
    CHECK_EQ(m.index, 0);
    das_route_dispose(&m);
    CHECK_OK(das_router_match(r, "/apix", 0, &m));
    CHECK_STR_EQ(m.target, "main.app");
    das_route_dispose(&m);
    /* Starting past the first handler finds the next match (require_matching_file). */
    CHECK_OK(das_router_match(r, "/api/users", 1, &m));
    CHECK_STR_EQ(m.target, "main.app");
    das_route_dispose(&m);
    unload(cfg, r);
}

TEST(test_router_url_must_match_the_whole_path)
{
    das_config_t *cfg;
    das_router_t *r;
    CHECK_OK(load("- url: /exact\n  script: main.app\n", &cfg, &r));
    das_route_t m;
    CHECK_OK(das_router_match(r, "/exact", 0, &m));
    das_route_dispose(&m);
    CHECK_EQ(das_router_match(r, "/exact/more", 0, &m), AE_ENOTFOUND);
    CHECK_EQ(das_router_match(r, "/pre/exact", 0, &m), AE_ENOTFOUND);
    unload(cfg, r);
}

TEST(test_router_backreferences_expand_in_script_and_static_files)
{
    das_config_t *cfg;
    das_router_t *r;
    CHECK_OK(load("- url: /(api|main)/run\n  script: \\1.app\n"
                  "- url: /img/(.*)/(.*\\.png)\n  static_files: images/\\2/\\1\n"
                  "  upload: images/.*\n",
                  &cfg, &r));
    das_route_t m;
    CHECK_OK(das_router_match(r, "/api/run", 0, &m));
    CHECK_STR_EQ(m.target, "api.app");
    das_route_dispose(&m);
    CHECK_OK(das_router_match(r, "/img/small/cat.png", 0, &m));
    CHECK_STR_EQ(m.target, "images/cat.png/small");
    CHECK_EQ(m.handler->kind, DAS_HANDLER_STATIC_FILES);
    das_route_dispose(&m);
    unload(cfg, r);
}

TEST(test_router_static_dir_maps_the_rest_of_the_path)
{
    das_config_t *cfg;
    das_router_t *r;
    CHECK_OK(load("- url: /static\n  static_dir: public/files\n", &cfg, &r));
    das_route_t m;
    CHECK_OK(das_router_match(r, "/static/css/site.css", 0, &m));
    CHECK_STR_EQ(m.target, "public/files/css/site.css");
    das_route_dispose(&m);
    /* The directory itself, without a file below it, is not a match. */
    CHECK_EQ(das_router_match(r, "/static", 0, &m), AE_ENOTFOUND);
    CHECK_EQ(das_router_match(r, "/staticx/a", 0, &m), AE_ENOTFOUND);
    unload(cfg, r);
}

TEST(test_router_matches_the_path_not_the_query)
{
    das_config_t *cfg;
    das_router_t *r;
    CHECK_OK(load("- url: /a\\?b\n  script: main.app\n", &cfg, &r));
    das_route_t m;
    /* The front end passes the decoded path without its query: "/a?b" reaches the router only
     * when the client encoded the '?' (/a%3Fb); a query string never makes "/a" match. */
    CHECK_EQ(das_router_match(r, "/a", 0, &m), AE_ENOTFOUND);
    CHECK_OK(das_router_match(r, "/a?b", 0, &m));
    das_route_dispose(&m);
    unload(cfg, r);
}

/* Found by fuzz_router (tests/fuzz/crashes/fuzz_router/): a url verb such as (*ACCEPT) ended
 * the match early: "/a(*ACCEPT)" took every path starting with "/a", and in a static_dir url it
 * left the router's own group unset (pointer arithmetic on PCRE2_UNSET). Config refuses "(*"
 * now; the router also insists on a whole match and a set group whatever the pattern. */
TEST(test_regress_fuzz_router_accept_verbs_are_refused)
{
    das_config_t *cfg = NULL;
    das_router_t *r = NULL;
    CHECK(load("- url: /a(*ACCEPT)\n  script: main.app\n", &cfg, &r) < 0);
    das_config_destroy(cfg);
    cfg = NULL;
    unload(cfg, r);
    r = NULL;
    CHECK(load("- url: (*ACCEPT)\n  static_dir: static\n", &cfg, &r) < 0);
    das_config_destroy(cfg);
    cfg = NULL;
    unload(cfg, r);
    /* An escaped '(' followed by '*' is an ordinary pattern. */
    CHECK_OK(load("- url: /x\\(*y\n  script: main.app\n", &cfg, &r));
    das_route_t route;
    CHECK_OK(das_router_match(r, "/xy", 0, &route));
    das_route_dispose(&route);
    CHECK_OK(das_router_match(r, "/x((y", 0, &route));
    das_route_dispose(&route);
    unload(cfg, r);
}

CHECK_MAIN()
