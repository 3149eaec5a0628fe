#!/usr/bin/env bash
# install_test.sh - `cmake --install` gives a working devappserver: the binary, the SDK headers
# and devappserver.pc land under the prefix, and the installed binary (which must find the SDK
# headers next to itself, not in this source tree) builds and serves samples/helloworld.
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
# The installed binary finds PREFIX/include next to PREFIX/bin before the source tree.
unset DAS_SDK_INCLUDE
DAS_BIN="$prefix/bin/devappserver" "$hello_test"
