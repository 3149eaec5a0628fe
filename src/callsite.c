/* callsite.c - offsets in an app build to file:line with libdw (see callsite.h). */
#include "callsite.h"

#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define CACHE_SIZE 256 /* direct-mapped: an app has few call sites */

typedef struct {
    uint64_t site; /* 0: empty */
    char text[160];
} entry_t;

struct das_callsites {
    pthread_mutex_t lock;
    Dwfl *dwfl;
    Dwfl_Module *mod;
    Dwarf_Addr low;
    char *appdir; /* with a trailing '/' */
    entry_t cache[CACHE_SIZE];
};

static const Dwfl_Callbacks callbacks = {
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
};

das_callsites_t *das_callsites_open(const char *so_path, const char *appdir)
{
    Dwfl *dwfl = dwfl_begin(&callbacks);
    if (!dwfl)
        return NULL;
    dwfl_report_begin(dwfl);
    Dwfl_Module *mod = dwfl_report_offline(dwfl, "app", so_path, -1);
    dwfl_report_end(dwfl, NULL, NULL);
    if (!mod) {
        dwfl_end(dwfl);
        return NULL;
    }
    das_callsites_t *cs = das_xcalloc(1, sizeof *cs);
    pthread_mutex_init(&cs->lock, NULL);
    cs->dwfl = dwfl;
    cs->mod = mod;
    dwfl_module_info(mod, NULL, &cs->low, NULL, NULL, NULL, NULL, NULL);
    /* Parse every line table now, on the caller's stack: the parse is deep (libdw allocates on
     * the stack), and lookups later run on request threads with small stacks. */
    Dwarf_Die *cu = NULL;
    Dwarf_Addr bias;
    while ((cu = dwfl_module_nextcu(mod, cu, &bias))) {
        Dwarf_Lines *lines;
        size_t n;
        dwarf_getsrclines(cu, &lines, &n);
    }
    size_t n = strlen(appdir);
    cs->appdir = das_xasprintf("%s%s", appdir, n && appdir[n - 1] == '/' ? "" : "/");
    return cs;
}

void das_callsites_close(das_callsites_t *cs)
{
    if (!cs)
        return;
    dwfl_end(cs->dwfl);
    pthread_mutex_destroy(&cs->lock);
    free(cs->appdir);
    free(cs);
}

static void lookup(das_callsites_t *cs, uint64_t site, char *out, size_t cap)
{
    out[0] = '\0';
    Dwfl_Line *line = dwfl_module_getsrc(cs->mod, cs->low + site - 1);
    int lineno = 0;
    const char *file = line ? dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL) : NULL;
    if (!file)
        return;
    size_t n = strlen(cs->appdir);
    if (strncmp(file, cs->appdir, n) == 0)
        file += n;
    snprintf(out, cap, "%s:%d", file, lineno);
}

void das_callsites_resolve(das_callsites_t *cs, uint64_t site, char *out, size_t cap)
{
    if (!cs || site == 0) {
        if (cap)
            out[0] = '\0';
        return;
    }
    pthread_mutex_lock(&cs->lock);
    entry_t *e = &cs->cache[site % CACHE_SIZE];
    if (e->site != site) {
        lookup(cs, site, e->text, sizeof e->text);
        e->site = site;
    }
    snprintf(out, cap, "%s", e->text);
    pthread_mutex_unlock(&cs->lock);
}
