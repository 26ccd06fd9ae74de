#!/usr/bin/env bash
# The package as a user gets it: npm pack (prepack cleans and rebuilds dist/), with the prebuild
# of this platform (npm run prebuilds) inside; then, each in a fresh project:
#   1. installed with no compiler on PATH (only node, npm and sh): must install and load from the
#      prebuild; CJS, ESM and TypeScript (node10, node16, bundler) smoke tests;
#   2. installed with npm_config_build_from_source=true: must compile and load its own build;
#   3. the prebuild removed and nothing built: the load error names the requirements;
# then publint and @arethetypeswrong/cli on the tarball. Downloads nothing but npm packages
# (the tarball's dependencies and @types/node, usually from npm's cache).
# Ends with "N passed, N failed" (the checks above).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0
failed=0
now_ms() { node -p "Date.now()"; }  # BSD date has no %N
check() {  # check NAME COMMAND...: runs it, counts it, prints its output on failure
  local name=$1
  shift
  if "$@" >"$scratch/out.log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name$(tail -n 1 "$scratch/out.log" | sed -n 's/^\(.*\)$/: \1/p' | head -c 200)"
  else
    failed=$((failed + 1))
    echo "FAIL $name"
    cat "$scratch/out.log"
  fi
}

echo "== prebuild and pack"
npm run --silent prebuilds >"$scratch/prebuild.log" 2>&1 || { cat "$scratch/prebuild.log"; exit 1; }
tarball=$(npm pack --silent --pack-destination "$scratch" 2>"$scratch/pack.log" | tail -n 1)
tarball="$scratch/$tarball"
[ -f "$tarball" ] || { cat "$scratch/pack.log"; exit 1; }
tar -tzf "$tarball" | grep -E 'prebuilds/|LICENSE|CHANGELOG' | sed 's/^/  /'
if tar -tzf "$tarball" | grep -qE '^package/(build|test)/'; then
  echo "the tarball holds build/ or test/"
  exit 1
fi

# A PATH with node, npm and sh only: no g++, cc, make or python3.
bare="$scratch/bare-bin"
mkdir -p "$bare"
for tool in node npm npx sh; do ln -s "$(command -v "$tool")" "$bare/$tool"; done
bare_path="$bare"
no_compiler() { ! PATH="$bare_path" command -v g++ cc c++ make python3 >/dev/null 2>&1; }
check "the bare PATH has no compiler, make or python3" no_compiler

fresh() {  # fresh DIR: an empty project
  mkdir -p "$1"
  printf '{ "name": "%s", "version": "1.0.0", "private": true }\n' "$(basename "$1")" >"$1/package.json"
}
npm_install() {  # npm_install DIR PATH ARGS...
  local dir=$1 path=$2
  shift 2
  (cd "$dir" && PATH="$path" npm install --no-audit --no-fund --prefer-offline "$@")
}

echo "== 1. install from the prebuild, no compiler on PATH"
app="$scratch/app"
fresh "$app"
started=$(now_ms)
check "npm install <tarball> with no compiler" npm_install "$app" "$bare_path" "$tarball"
echo "     install took $(( $(now_ms) - started )) ms"
loaded_from() {  # loaded_from DIR: the addon file node-gyp-build picks in DIR's muxloop
  (cd "$1" && node -p "require('node-gyp-build').path(require('path').dirname(require.resolve('muxloop/package.json')))")
}
check "loads the prebuild (not a local build)" bash -c "$(declare -f loaded_from); loaded_from '$app' | grep /prebuilds/"
cp scripts/smoke/* "$app/"
check "CommonJS: README's first example, every specifier, a loop" bash -c "cd '$app' && PATH='$bare_path' node cjs.cjs"
check "ES module: named imports, run()" bash -c "cd '$app' && PATH='$bare_path' node esm.mjs"
check "@types/node for the TypeScript checks" npm_install "$app" "$PATH" --save-dev "@types/node@^20.17.0"
for resolution in node10 node16 bundler; do
  check "TypeScript, moduleResolution $resolution" node "$root/node_modules/typescript/bin/tsc" -p "$app/tsconfig.$resolution.json"
done

echo "== 2. npm_config_build_from_source=true compiles"
src_app="$scratch/from-source"
fresh "$src_app"
started=$(now_ms)
check "npm install <tarball> --build-from-source" bash -c "cd '$src_app' && npm_config_build_from_source=true npm install --no-audit --no-fund --prefer-offline '$tarball'"
echo "     install took $(( $(now_ms) - started )) ms"
check "loads its own build/Release" bash -c "$(declare -f loaded_from); loaded_from '$src_app' | grep /build/Release/"
cp scripts/smoke/cjs.cjs "$src_app/"
check "CommonJS smoke test on the source build" bash -c "cd '$src_app' && node cjs.cjs"

echo "== 3. neither: the load error says what to do"
broken="$scratch/broken"
fresh "$broken"
check "npm install <tarball> --ignore-scripts" npm_install "$broken" "$bare_path" --ignore-scripts "$tarball"
rm -rf "$broken/node_modules/muxloop/prebuilds"
load_error() {
  cd "$broken" && node -e "
    try { require('muxloop'); process.exit(1); } catch (e) {
      const want = ['python3', 'make', 'C++17', 'npm rebuild muxloop'];
      const missing = want.filter((w) => !e.message.includes(w));
      if (e.code !== 'ERR_MUXLOOP_ADDON_NOT_FOUND' || missing.length) { console.log(e.code, e.message); process.exit(1); }
      console.log(e.message.split('\n')[0]);
    }"
}
check "require('muxloop') names python3, make, a C++17 compiler and npm rebuild" load_error

echo "== publint and @arethetypeswrong/cli"
check "publint (strict)" node "$root/node_modules/publint/src/cli.js" --strict "$app/node_modules/muxloop"
check "attw (node10, node16 from CJS and ESM, bundler)" node "$root/node_modules/@arethetypeswrong/cli/dist/index.js" "$tarball" --format ascii

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
