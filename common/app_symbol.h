/* app_symbol.h - how `script: FILE.NAME` becomes a symbol, shared by the builder (which
 * compiles FILE.c with -DAE_MODULE=<module>) and the instance runtime (which looks the symbol
 * up with dlsym). A module name is the file's path relative to APPDIR without ".c", with every
 * character that cannot appear in a C identifier replaced by '_'.
 */
#ifndef DAS_APP_SYMBOL_H
#define DAS_APP_SYMBOL_H

#include <stdio.h>
#include <string.h>

/* Writes the module name for `file` (e.g. "api/v1-users" or "api/v1-users.c") into `out`. */
static inline void das_app_module_name(const char *file, size_t file_len, char *out, size_t cap)
{
    if (file_len >= 2 && file[file_len - 2] == '.' && file[file_len - 1] == 'c')
        file_len -= 2;
    size_t n = 0;
    for (size_t i = 0; i < file_len && n + 1 < cap; i++) {
        char c = file[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (c >= '0' && c <= '9');
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
}

/* Writes the symbol that `script` ("FILE.NAME") names into `out`. Returns 0, or -1 when
 * `script` has no '.'. */
static inline int das_app_symbol_name(const char *script, char *out, size_t cap)
{
    const char *dot = strrchr(script, '.');
    if (!dot || dot == script || dot[1] == '\0')
        return -1;
    char module[256];
    das_app_module_name(script, (size_t)(dot - script), module, sizeof module);
    snprintf(out, cap, "ae_app__%s__%s", module, dot + 1);
    return 0;
}

#endif
