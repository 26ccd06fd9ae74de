#!/usr/bin/env bash
# Builds the addon with cmake-js (CMakeLists.txt) into build-cmake/Release/muxloop.node, from the
# same sources as node-gyp. cmake-js would otherwise download Node's headers into ~/.cmake-js; it
# is pointed at headers already on this machine instead, through npm_config_nodedir (cmake-js
# reads npm's config variables like node-gyp does). Where they are looked for, in order:
#   $MUXLOOP_NODEDIR                      if set
#   the running node's own prefix         <prefix>/include/node/node.h (official tarballs, nvm,
#                                         Debian's nodejs with libnode-dev)
#   node-gyp's cache                      ~/.cache/node-gyp/<version>/include/node/node.h (what
#                                         `npx node-gyp rebuild` already unpacked)
# If none has node.h the build stops and says so; it never downloads. Extra arguments go to
# cmake-js (e.g. --debug).
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(node -p 'process.versions.node')
candidates=()
[ -n "${MUXLOOP_NODEDIR:-}" ] && candidates+=("$MUXLOOP_NODEDIR")
candidates+=("$(node -p 'require("path").resolve(process.execPath, "..", "..")')")
candidates+=("${XDG_CACHE_HOME:-$HOME/.cache}/node-gyp/$version")
nodedir=""
for dir in "${candidates[@]}"; do
  if [ -f "$dir/include/node/node.h" ]; then nodedir=$dir; break; fi
done
if [ -z "$nodedir" ]; then
  echo "cmake-build: no Node $version headers found (looked in: ${candidates[*]});" >&2
  echo "cmake-build: set MUXLOOP_NODEDIR to a directory with include/node/node.h" >&2
  exit 2
fi
echo "cmake-build: Node headers from $nodedir"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
npm_config_nodedir="$nodedir" npx --no-install cmake-js build --out build-cmake "$@" 2>&1 | tee "$log" || status=$?
# cmake-js logs "Downloading distribution files" when it fetches headers: that must not happen.
if grep -q "Downloading" "$log"; then
  echo "cmake-build: cmake-js tried to download headers" >&2
  exit 1
fi
exit $status
