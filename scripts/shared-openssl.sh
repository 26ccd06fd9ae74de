#!/usr/bin/env bash
# The "shared libssl" route of binding.gyp (a Node built with --shared-openssl: the addon links
# -lssl -lcrypto), checked on this machine's Node, which bundles OpenSSL (issue 14).
#
# Builds the addon with -Dmuxloop_system_openssl=true in a scratch copy (the checkout's build/
# is not touched), checks that it is linked to the system libssl/libcrypto (ldd; Debian:
# apt-get install libssl-dev), reports which copy the dynamic linker binds the OpenSSL symbols to
# (LD_DEBUG=bindings), and runs the TLS suites against that build (MUXLOOP_TEST_ADDON).
#
# What it can and cannot show: on a Node that bundles OpenSSL, the node executable exports every
# SSL_*/CRYPTO_* symbol and comes first in the global lookup scope, so the addon's references
# (and even libssl.so.3's own) bind to Node's copy: the system library is loaded but not used.
# The script therefore proves that the -lssl build compiles, links, loads and passes the suites,
# not that muxloop works on a Node whose OpenSSL IS the system's; that needs such a Node (a
# distribution's nodejs package built with --shared-openssl), which this machine does not have.
# It also shows why the default build must not link -lssl on a bundled Node: two OpenSSL copies
# in one process, kept apart only by symbol interposition.
#
#   scripts/shared-openssl.sh            build, check, run test/tls-*.test.ts
#   KEEP=1 scripts/shared-openssl.sh     keep the scratch copy
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
if [ ! -e /usr/include/openssl/ssl.h ]; then
  echo "shared-openssl: no system OpenSSL headers (Debian: apt-get install libssl-dev); skipping"
  exit 0
fi
scratch=$(mktemp -d -t muxloop-sharedssl.XXXXXX)
if [ -z "${KEEP:-}" ]; then trap 'rm -rf "$scratch"' EXIT; else echo "shared-openssl: scratch copy in $scratch"; fi
cp -r binding.gyp package.json tsconfig.json vitest.config.mts lib native test examples "$scratch"/
ln -s "$root/node_modules" "$scratch/node_modules"
addon="$scratch/build/Release/muxloop.node"

echo "== building with -Dmuxloop_system_openssl=true"
if ! (cd "$scratch" && nice -n 10 npx --no-install node-gyp rebuild -- -Dmuxloop_system_openssl=true >"$scratch/build.log" 2>&1); then
  tail -30 "$scratch/build.log"; echo "shared-openssl: FAILED to build"; exit 1
fi
echo "== linked to:"
ldd "$addon" | grep -E 'libssl|libcrypto' || { echo "shared-openssl: FAILED: not linked to the system libssl"; exit 1; }
node_bundled=$(node -p "process.config.variables.node_shared_openssl ? 'shared' : 'bundled'")
echo "== Node's OpenSSL: $(node -p process.versions.openssl) ($node_bundled); system: $(openssl version 2>/dev/null)"
echo "== where the addon's OpenSSL symbols bind (LD_DEBUG=bindings, LD_BIND_NOW=1):"
LD_BIND_NOW=1 LD_DEBUG=bindings node -e "require(process.argv[1])" "$addon" 2>&1 \
  | grep -E "muxloop.node .* symbol \`(SSL_new|SSL_CTX_new|SSL_read_ex|OpenSSL_version)'" \
  | sed -E 's/^ *[0-9]+: *//; s#'"$scratch"'/##'
echo "== TLS suites against this build"
(cd "$scratch" && nice -n 10 npx --no-install tsc -p tsconfig.json >/dev/null) || { echo "tsc failed"; exit 1; }
(cd "$scratch" && MUXLOOP_TEST_ADDON="$addon" nice -n 10 npx --no-install vitest run test/tls-*.test.ts 2>&1 | grep -E 'Test Files|Tests|FAIL|✗|×')
status=${PIPESTATUS[0]}
if [ "$node_bundled" = bundled ]; then
  echo "shared-openssl: NOTE this Node bundles OpenSSL: the symbols above bind to 'node', not to libssl.so.3,"
  echo "  so the suites ran on Node's copy; the route itself needs a Node built with --shared-openssl."
fi
exit "$status"
