#!/usr/bin/env bash
# install_test.sh - `cmake --install` gives a working devappserver: the binary, the SDK headers
# and devappserver.pc land under the prefix, and the installed binary (which must find the SDK
# headers next to itself, not in this source tree) builds and serves samples/helloworld. The
# testbed is installed too: a tiny app test builds against the installed tree with pkg-config
# alone, and passes.
#   install_test.sh BUILD_DIR HELLOWORLD_TEST_BINARY
set -euo pipefail
build="$1"; hello_test="$2"
prefix="$(mktemp -d "${TMPDIR:-/tmp}/das-install-XXXXXX")"
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/devappserver include/appengine/appengine.h include/appengine/status.h; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
pc="$(find "$prefix" -name devappserver.pc | head -n1)"
[ -n "$pc" ] || { echo "not installed: devappserver.pc"; exit 1; }
flags="$(PKG_CONFIG_PATH="$(dirname "$pc")" pkg-config --cflags devappserver)"
inc="$(realpath -m "$(echo "$flags" | sed 's/^-I//; s/ *$//')")"
[ "$inc" = "$(realpath "$prefix/include")" ] || { echo "pkg-config --cflags gave '$flags'"; exit 1; }
# An app's own test, built with nothing but the installed tree and pkg-config.
tpc="$(find "$prefix" -name ae_testbed.pc | head -n1)"
[ -n "$tpc" ] || { echo "not installed: ae_testbed.pc"; exit 1; }
cat > "$prefix/app_test.c" <<'C'
#include <appengine/log.h>
#include <appengine/memcache.h>
#include <appengine/testbed.h>
#include <stdio.h>
#include <string.h>

static void count(ae_request_t *rq, ae_response_t *rs)
{
    uint64_t zero = 0, n = 0;
    ae_memcache_incr(rq, "hits", 1, &zero, &n);
    ae_log_info(rq, "count is %llu", (unsigned long long)n);
    ae_response_printf(rs, "%llu", (unsigned long long)n);
}

int main(void)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_testbed_response_t r;
    ae_testbed_run(tb, count, "GET", "/", NULL, 0, &r);
    ae_testbed_response_dispose(&r);
    ae_testbed_run(tb, count, "GET", "/", NULL, 0, &r);
    const ae_testbed_log_t *lines;
    size_t n = ae_testbed_logs(tb, &lines);
    int ok = r.status == 200 && strcmp(r.body, "2") == 0 && n == 2 &&
             strcmp(lines[1].message, "count is 2") == 0;
    ae_testbed_response_dispose(&r);
    ae_testbed_destroy(tb);
    if (!ok)
        fprintf(stderr, "app_test: the installed testbed gave the wrong answer\n");
    return ok ? 0 : 1;
}
C
# shellcheck disable=SC2046,SC2086
cc -o "$prefix/app_test" "$prefix/app_test.c" ${DAS_APP_LDFLAGS:-} \
   $(PKG_CONFIG_PATH="$(dirname "$tpc")" pkg-config --cflags --libs ae_testbed)
"$prefix/app_test" || { echo "the app test built against the installed testbed failed"; exit 1; }

# The installed binary finds PREFIX/include next to PREFIX/bin before the source tree.
unset DAS_SDK_INCLUDE
DAS_BIN="$prefix/bin/devappserver" "$hello_test"
