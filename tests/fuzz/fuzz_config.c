/* fuzz_config.c - the app.yaml loader (src/config.h) and the YAML tree under it
 * (src/yaml_tree.h) on arbitrary input.
 *
 * The input is parsed by das_yaml_tree_parse() directly (a tree that parses must be well
 * formed: positions from 1, scalars without NUL, mapping keys unique scalars), then written as
 * APPDIR/app.yaml and loaded with das_config_load(). APPDIR is a scratch directory made once,
 * holding the C files the samples' scripts name, a static/ folder, an error page, and two
 * files an `includes:` can name (inc.yaml, and incdir/ with include.yaml). A load either fails
 * with a message or gives a config whose handlers are complete; the router then compiles it
 * (or refuses too many groups) and matches a few paths.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fuzz_util.h"
#include "router.h"
#include "yaml_tree.h"

static char appdir[4096], app_yaml[4200];

static void setup(void)
{
    const char *dir = fuzz_scratch_dir("config");
    snprintf(appdir, sizeof appdir, "%s/app", dir);
    snprintf(app_yaml, sizeof app_yaml, "%s/app.yaml", appdir);
    char p[4400];
    mkdir(appdir, 0755);
    const char *c_files[] = {"a", "hello", "main", "echo", "guestbook", "counter", "maxconc",
                             "errpage", "scope", "slow", "api", NULL};
    for (int i = 0; c_files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s.c", appdir, c_files[i]);
        fuzz_write_file(p, "", 0);
    }
    snprintf(p, sizeof p, "%s/static", appdir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/static/a.txt", appdir);
    fuzz_write_file(p, "a\n", 2);
    snprintf(p, sizeof p, "%s/oops.html", appdir);
    fuzz_write_file(p, "<p>oops</p>\n", 12);
    static const char inc[] = "handlers:\n- url: /inc/.*\n  script: a.app\n  position: head\n"
                              "env_variables:\n  FROM_INCLUDE: 'yes'\n";
    snprintf(p, sizeof p, "%s/inc.yaml", appdir);
    fuzz_write_file(p, inc, sizeof inc - 1);
    snprintf(p, sizeof p, "%s/incdir", appdir);
    mkdir(p, 0755);
    static const char inc2[] = "includes:\n- inc.yaml\nhandlers:\n- url: /tail/.*\n  script: "
                               "main.app\n  position: tail\n";
    snprintf(p, sizeof p, "%s/incdir/include.yaml", appdir);
    fuzz_write_file(p, inc2, sizeof inc2 - 1);
}

/* A parsed tree is well formed. */
static void check_tree(const das_yaml_node_t *n, size_t depth)
{
    FUZZ_CHECK(n != NULL);
    FUZZ_CHECK(depth <= DAS_YAML_MAX_DEPTH + 1);
    FUZZ_CHECK(n->line >= 1 && n->col >= 1);
    switch (n->kind) {
    case DAS_YAML_SCALAR:
        FUZZ_CHECK(n->text != NULL && strlen(n->text) == n->len);
        FUZZ_CHECK(n->n_items == 0 && n->n_pairs == 0);
        break;
    case DAS_YAML_SEQUENCE:
        FUZZ_CHECK(n->text == NULL && n->n_pairs == 0);
        for (size_t i = 0; i < n->n_items; i++)
            check_tree(n->items[i], depth + 1);
        break;
    case DAS_YAML_MAPPING:
        FUZZ_CHECK(n->text == NULL && n->n_items == 0);
        for (size_t i = 0; i < n->n_pairs; i++) {
            const das_yaml_node_t *k = n->pairs[i].key;
            FUZZ_CHECK(k != NULL && k->kind == DAS_YAML_SCALAR);
            check_tree(k, depth + 1);
            check_tree(n->pairs[i].value, depth + 1);
            for (size_t j = 0; j < i; j++)
                FUZZ_CHECK(strcmp(n->pairs[j].key->text, k->text) != 0);
            FUZZ_CHECK(das_yaml_tree_get(n, k->text) != NULL);
        }
        break;
    default:
        FUZZ_CHECK(!"a node of no known kind");
    }
}

static void fuzz_yaml_tree(const uint8_t *data, size_t size)
{
    das_yaml_node_t *root = NULL;
    das_err_t err = {0};
    int rc = das_yaml_tree_parse((const char *)data, size, "fuzz.yaml", &root, &err);
    if (rc < 0) {
        FUZZ_CHECK(root == NULL && err.code == rc && err.msg[0] != '\0');
        return;
    }
    FUZZ_CHECK(rc == 0 && root != NULL);
    check_tree(root, 0);
    das_yaml_tree_destroy(root);
}

static void check_config(const das_config_t *cfg)
{
    FUZZ_CHECK(cfg->path && cfg->appdir && cfg->application && cfg->version && cfg->runtime &&
               cfg->api_version && cfg->skip_files);
    FUZZ_CHECK(strcmp(cfg->runtime, "c") == 0);
    FUZZ_CHECK(cfg->n_handlers <= DAS_CONFIG_MAX_HANDLERS);
    for (size_t i = 0; i < cfg->n_handlers; i++) {
        const das_config_handler_t *h = &cfg->handlers[i];
        FUZZ_CHECK(h->url != NULL && h->file != NULL);
        switch (h->kind) {
        case DAS_HANDLER_SCRIPT:
            FUZZ_CHECK(h->script != NULL);
            break;
        case DAS_HANDLER_STATIC_DIR:
            FUZZ_CHECK(h->static_dir != NULL);
            break;
        case DAS_HANDLER_STATIC_FILES:
            FUZZ_CHECK(h->static_files != NULL && h->upload != NULL);
            break;
        default:
            FUZZ_CHECK(!"a handler of no known kind");
        }
        for (size_t j = 0; j < h->n_http_headers; j++)
            FUZZ_CHECK(h->http_headers[j].name && h->http_headers[j].value);
    }
    for (size_t i = 0; i < cfg->n_env_variables; i++)
        FUZZ_CHECK(cfg->env_variables[i].name && cfg->env_variables[i].value);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        FUZZ_CHECK(cfg->warnings[i] != NULL);
}

static void route_some(const das_config_t *cfg)
{
    das_router_t *r = NULL;
    das_err_t err = {0};
    int rc = das_router_create(cfg, &r, &err);
    if (rc < 0) {
        FUZZ_CHECK(rc == AE_EINVAL && err.msg[0] != '\0');
        return;
    }
    static const char *const paths[] = {"/", "/a", "/static/a.txt", "/inc/x", "/tail/a.txt",
                                        "/x/y/../z", ""};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        das_route_t route;
        if (das_router_match(r, paths[i], 0, &route) == 0) {
            FUZZ_CHECK(route.handler != NULL && route.index < cfg->n_handlers);
            FUZZ_CHECK(route.target != NULL);
            das_route_dispose(&route);
        }
    }
    das_router_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!appdir[0])
        setup();
    fuzz_yaml_tree(data, size);

    fuzz_write_file(app_yaml, data, size);
    das_config_t *cfg = NULL;
    das_err_t err = {0};
    int rc = das_config_load(appdir, &cfg, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "das_config_load: %d %s\n", rc, rc < 0 ? err.msg : "");
    if (rc < 0) {
        FUZZ_CHECK(cfg == NULL); /* nothing handed out */
        FUZZ_CHECK(err.code == rc && err.msg[0] != '\0');
        return 0;
    }
    FUZZ_CHECK(rc == 0 && cfg != NULL);
    check_config(cfg);
    route_some(cfg);
    das_config_destroy(cfg);
    return 0;
}
