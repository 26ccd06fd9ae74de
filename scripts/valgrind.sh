#!/usr/bin/env bash
# valgrind memcheck of a selected subset of the native-facing tests (reliability.md 3.1). Not in
# CI: node under valgrind starts in about 9 s and runs 20-50 times slower, so the whole subset
# takes minutes. Uses the checkout's plain build (build/ and dist/ must exist: npm ci).
#
#   scripts/valgrind.sh                  the subset below
#   scripts/valgrind.sh test/x.test.ts   those files
#
# Each vitest worker (pool 'forks', one process per file) runs under valgrind through
# --trace-children; --jitless keeps V8's JIT code out of valgrind's way. A report of an invalid
# read/write or a definite leak in the addon fails the run (--error-exitcode); V8's own
# "possibly lost" blocks are not counted. RLIMIT_NOFILE tests skip (valgrind refuses setrlimit).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind missing (Debian: apt-get install valgrind)"; exit 2; }
FILES=(test/selectors.test.ts test/select.test.ts test/native-args.test.ts test/reliability-selectors.test.ts)
[ $# -gt 0 ] && FILES=("$@")
logdir=$(mktemp -d -t muxloop-valgrind.XXXXXX)
echo "valgrind: logs in $logdir"
status=0
for f in "${FILES[@]}"; do
  echo "== $f"
  NODE_OPTIONS="--jitless" MUXLOOP_SANITIZED=1 \
  valgrind --quiet --trace-children=yes --trace-children-skip='*/sh,*/cc,*/gcc' \
    --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no \
    --suppressions=/dev/null --log-file="$logdir/$(basename "$f").%p.log" \
    "$(command -v node)" node_modules/vitest/vitest.mjs run --pool=forks --no-file-parallelism "$f" || status=1
done
# The logs of processes that had errors mention the addon: show those.
if grep -l "muxloop.node" "$logdir"/*.log >/dev/null 2>&1; then
  echo "valgrind: reports involving the addon:"; grep -l "muxloop.node" "$logdir"/*.log; status=1
fi
exit $status
