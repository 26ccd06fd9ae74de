#!/usr/bin/env bash
# libFuzzer targets of fuzz/ (issue 17): build with clang (plain CMake), then ctest runs every
# target on its committed corpus (fuzz/corpus/<target>/, read only) and replays the inputs that
# once crashed (fuzz/regressions/<target>/).
#
#   scripts/fuzz.sh --short          ~20 s per target (CI; three run in parallel)
#   scripts/fuzz.sh                  600 s per target (the long run)
#   scripts/fuzz.sh --seconds N      N s per target
#   scripts/fuzz.sh --merge          after a run, fold its new inputs into fuzz/corpus/ (-merge=1
#                                    keeps only inputs that add coverage, so the corpus stays small)
#
# Without clang it tries `apt-get install clang` (Debian), and if that fails it prints why and
# skips (exit 0, "0 passed, 0 failed, 1 skipped"). A crash leaves the input in the build
# directory as crash-<target>-<hash>; put a minimized copy (-minimize_crash=1) in
# fuzz/regressions/<target>/ with the fix. Ends with the line "fuzz: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=600
merge=0
while [ $# -gt 0 ]; do
  case "$1" in
    --short) seconds=20 ;;
    --seconds) seconds=$2; shift ;;
    --merge) merge=1 ;;
    *) echo "fuzz: unknown option $1"; exit 2 ;;
  esac
  shift
done

cxx=${FUZZ_CXX:-clang++}
if ! command -v "$cxx" >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo "== fuzz: apt-get install clang"
  (apt-get install -y -qq clang >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq clang >/dev/null 2>&1; }) || true
fi
if ! command -v "$cxx" >/dev/null 2>&1 || ! command -v cmake >/dev/null 2>&1; then
  echo "fuzz: skipped: clang++ or cmake is missing and could not be installed (Debian: apt-get install clang cmake)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 0
fi

build=${FUZZ_BUILD:-$root/build-fuzz}
echo "== fuzz: building the targets in $build"
if ! nice -n 10 cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DFUZZ_SECONDS="$seconds" >"$build.configure.log" 2>&1 \
   || ! nice -n 10 cmake --build "$build" -j2 >"$build.build.log" 2>&1; then
  cat "$build.configure.log" "$build.build.log" 2>/dev/null | tail -40
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
rm -rf "$build"/new-*/*
echo "== fuzz: ctest, $seconds s per target"
nice -n 10 ctest --test-dir "$build" -j3 --output-on-failure >"$build/ctest.log" 2>&1
status=$?
grep -E "Test +#|tests passed|tests failed" "$build/ctest.log"
grep -E "^[0-9]+: (Done|stat::number_of_executed_units|#[0-9]+.*DONE)" "$build/ctest.log" | sed 's/^/  /' | head -12
if [ $status != 0 ]; then
  grep -E "==ERROR|runtime error|selector_ops:|sockaddr_parse:|sockaddr_describe:|args_decode:|Test unit written" "$build/ctest.log" | head -20
fi
if [ $merge = 1 ]; then
  for t in sockaddr sockaddr_describe args selector; do
    mkdir -p "fuzz/corpus/$t"
    "$build/fuzz_$t" -merge=1 "fuzz/corpus/$t" "$build/new-$t" >"$build/merge-$t.log" 2>&1
    echo "fuzz: corpus/$t now $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sk "fuzz/corpus/$t" | cut -f1) KiB"
  done
fi
passed=$(grep -cE "Test +#[0-9]+: .* Passed" "$build/ctest.log")
failed=$(grep -cE "Test +#[0-9]+: .*(Failed|Exception|Timeout)" "$build/ctest.log")
[ "$passed" -gt 0 ] || status=1
echo "fuzz: $passed passed, $failed failed"
exit $status
