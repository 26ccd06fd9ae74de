#!/usr/bin/env bash
# valgrind memcheck of the addon's native surface (reliability.md 3.1). Not in CI: node under
# valgrind starts in seconds and runs 20-50 times slower.
#
#   scripts/valgrind.sh                 test/native/valgrind-smoke.cjs (selectors on every backend,
#                                       sockets, sendmsg, select(2), pipes, a hosted loop echo)
#   scripts/valgrind.sh other.cjs ...   plain node scripts of your own
#
# vitest cannot run here: it needs WebAssembly, which --jitless removes, and --jitless is what
# keeps V8's JIT code out of valgrind's way. Uses the checkout's plain build and dist/ (npm ci).
# An invalid read/write, a use of uninitialised memory or a definite leak whose stack passes
# through the addon fails the run; V8's own "possibly lost" blocks are not counted. Any other
# error fails it too (valgrind's exit code), except the Node-internal ones listed, with their
# reasons, in scripts/valgrind-node.supp.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind missing (Debian: apt-get install valgrind)"; exit 2; }
SCRIPTS=(test/native/valgrind-smoke.cjs)
[ $# -gt 0 ] && SCRIPTS=("$@")
logdir=$(mktemp -d -t muxloop-valgrind.XXXXXX)
echo "valgrind: logs in $logdir"
status=0
for s in "${SCRIPTS[@]}"; do
  echo "== $s"
  start=$(date +%s)
  log="$logdir/$(basename "$s").log"
  nice -n 10 valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --track-fds=yes --suppressions=scripts/valgrind-node.supp --log-file="$log" \
    node --jitless --expose-gc "$s" || status=1
  echo "valgrind: $s took $(( $(date +%s) - start )) s"
  # Errors (not the fd summary) whose stack mentions the addon.
  if grep -B2 -A30 -E "Invalid (read|write)|uninitialised|definitely lost" "$log" | grep -q "muxloop.node"; then
    echo "valgrind: errors involving the addon in $log:"
    grep -E -A25 "Invalid (read|write)|uninitialised|definitely lost" "$log" | head -80
    status=1
  fi
  grep -E "ERROR SUMMARY|definitely lost" "$log" | tail -2
done
exit $status
