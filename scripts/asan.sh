#!/usr/bin/env bash
# ASan + UBSan run of the native-facing suites (reliability.md section 3.1, issue 17).
#
# Builds the addon with -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
# in a scratch copy of the project (the checkout's build/ and dist/ are never touched), then runs
# the suites that reach native code under it, with the sanitizer runtimes preloaded into node
# (without LD_PRELOAD node aborts: "ASan runtime does not come first in initial library list").
# Fails on a test failure AND on any sanitizer report found in the logs, since a report in a
# child process that a test spawned does not always fail the test.
#
#   scripts/asan.sh                 the CI set (SUITES below)
#   scripts/asan.sh test/x.test.ts  only those files
#   ASAN_KEEP=1 scripts/asan.sh     keep the scratch copy and print its path
#
# Leak detection is off: V8 keeps allocations alive until exit on purpose, and LeakSanitizer
# then reports them (set ASAN_DETECT_LEAKS=1 to try it anyway).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

SUITES=(
  test/selectors.test.ts test/select.test.ts test/selectors-process.test.ts
  test/socket.test.ts test/socket-native.test.ts test/socket-faults.test.ts test/socket-transfer.test.ts
  test/native-args.test.ts test/loop-backends.test.ts test/transports.test.ts test/servers.test.ts
  test/reliability-selectors.test.ts test/reliability-faults.test.ts
)
if [ $# -gt 0 ]; then SUITES=("$@"); fi

cc=${CC:-gcc}
libasan=$("$cc" -print-file-name=libasan.so)
libubsan=$("$cc" -print-file-name=libubsan.so)
if [ ! -e "$libasan" ] || [ ! -e "$libubsan" ]; then
  echo "asan: $cc has no libasan/libubsan (Debian: apt-get install gcc); skipping"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi

scratch=$(mktemp -d -t muxloop-asan.XXXXXX)
if [ -z "${ASAN_KEEP:-}" ]; then trap 'rm -rf "$scratch"' EXIT; else echo "asan: scratch copy in $scratch"; fi
cp -r binding.gyp package.json tsconfig.json vitest.config.mts lib native test "$scratch"/
[ -d examples ] && cp -r examples "$scratch"/
ln -s "$root/node_modules" "$scratch/node_modules"

start=$(date +%s)
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all"
echo "== asan: building the addon ($flags)"
if ! (cd "$scratch" && CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined,float-cast-overflow" \
      nice -n 10 npx --no-install node-gyp rebuild >"$scratch/build.log" 2>&1); then
  cat "$scratch/build.log"
  echo "0 passed, 1 failed"
  exit 1
fi
# Make sure the sanitizers really are in the binary we are about to test.
if [ "$(nm -D "$scratch/build/Release/muxloop.node" | grep -c __asan_)" = 0 ]; then
  echo "asan: the built addon has no ASan symbols"; echo "0 passed, 1 failed"; exit 1
fi
(cd "$scratch" && nice -n 10 npx --no-install tsc -p tsconfig.json) || { echo "0 passed, 1 failed"; exit 1; }
echo "asan: built in $(( $(date +%s) - start )) s"

logdir="$scratch/sanitizer-logs"
mkdir -p "$logdir"
report="$scratch/vitest.json"
status=0
(
  cd "$scratch"
  export LD_PRELOAD="$libasan:$libubsan"
  # log_path: every process (vitest forks, children that tests spawn) writes its reports to a file
  # of its own, so a report is found even when the process's stderr was captured by a test.
  export ASAN_OPTIONS="detect_leaks=${ASAN_DETECT_LEAKS:-0}:abort_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:log_path=$logdir/asan"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logdir/ubsan"
  export MUXLOOP_SANITIZED=1
  nice -n 10 npx --no-install vitest run --reporter=default --reporter=json --outputFile.json="$report" "${SUITES[@]}"
) || status=$?

echo "asan: build and tests took $(( $(date +%s) - start )) s"
reports=$(ls "$logdir" 2>/dev/null | wc -l)
if [ "$reports" -gt 0 ]; then
  echo "asan: $reports sanitizer report(s):"
  for f in "$logdir"/*; do echo "--- $f"; head -60 "$f"; done
  status=1
fi
if [ ! -s "$report" ]; then echo "asan: vitest wrote no report"; echo "0 passed, 1 failed"; exit 1; fi
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const extra = Number(process.argv[2]);
  console.log(`asan: ${r.numPassedTests} passed, ${r.numFailedTests + extra} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  if (r.numTotalTests === 0) process.exit(1);
' "$report" "$reports" || status=1
exit $status
