/* build.h - compiling the app's C sources into the shared object its instances load.
 *
 * Every non-skipped *.c file under APPDIR is compiled on its own (with -DAE_MODULE=<module>, see
 * sdk/src/app_symbol.h) and the objects are linked into STORAGE/build/app-<sha1>.so. The SHA-1
 * covers the sources, the headers, the SDK headers, the compiler and its flags, so an unchanged
 * app starts from the cached build without compiling. Runs on the caller's thread; two builds
 * of the same app may not run at once (the server's reload thread is the only caller).
 */
#ifndef DAS_BUILD_H
#define DAS_BUILD_H

#include <stdbool.h>

#include "util.h"

typedef struct {
    const char *appdir;      /* canonical */
    const char *build_dir;   /* where builds are kept (created when missing) */
    const char *cc;          /* the compiler: $CC or "cc" */
    const char *sdk_include; /* the directory holding appengine/appengine.h */
    /* The deterministic variant: the app's time, random, sleep, mutex, condition and thread
     * calls go to the instance's wrappers (-Wl,--wrap); its own cache key. */
    bool deterministic;
    /* The race detector's variant: compiled and linked with -fsanitize=thread (GCC); its own
     * cache key. */
    bool race_detector;
    /* Returns true for a path (relative to APPDIR) that skip_files excludes. */
    bool (*is_skipped)(void *ctx, const char *relpath);
    void *ctx;
} das_build_options_t;

typedef struct {
    char *so_path; /* NULL when the app has no C sources */
    char *output;  /* the compiler's own output (warnings, or the errors), never NULL */
    bool cached;   /* true when an existing build was reused */
} das_build_result_t;

/* Builds (or finds) the app. Returns 0 and fills `res`; on a compile error returns AE_EINVAL
 * with res->output holding the compiler's messages; other failures set `err`. Free `res` with
 * das_build_result_dispose() in every case. */
int das_build_app(const das_build_options_t *o, das_build_result_t *res, das_err_t *err);
void das_build_result_dispose(das_build_result_t *res);

/* Runs argv (argv[0] looked up in PATH), appending its combined stdout and stderr to `out`.
 * Returns the exit status (0 ok), or a negative errno when it could not start. */
int das_build_run_tool(char *const argv[], das_buf_t *out);

/* The SDK include directory: $DAS_SDK_INCLUDE, then next to the installed binary, then the
 * source tree this binary was built from. Returns a malloc'd path. */
char *das_build_find_sdk_include(const char *exe);

#endif
