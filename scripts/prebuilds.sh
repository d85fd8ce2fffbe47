#!/usr/bin/env bash
# scripts/prebuilds.sh [--all] [--verify]: builds reaper's prebuilt N-API addon
# (prebuildify --napi --strip --tag-libc) and its native launcher (native/launcher/launcher.c)
# into prebuilds/linux-<arch>/, offline:
# node-gyp uses the installed headers of the running node (nodedir), never a download.
#
#   (default)  linux-<host arch> glibc with the host compiler;
#   --all      every platform the package ships: linux-x64 and linux-arm64 glibc, the
#              foreign one cross-compiled with Debian's g++-<triplet> (apt-installed when missing);
#   --verify   loads each prebuild from a package tree without build/ and runs
#              `reaper -- sh -c 'exit 3'` as PID 1 (unshare): the host arch natively, a
#              foreign one under qemu-user (qemu-user-static) with that arch's official Node
#              from the npm registry (package node-linux-<arch>, same major as ours).
#
# `npm pack` / `npm publish` run `--all --verify` (package.json "prepack"), then check
# that every platform directory holds every artifact, built for the right machine: a
# tarball without them is never made. musl (Alpine) stays a source build.
#
# Builds happen in a scratch copy (package.json, binding.gyp, native/), so the work
# tree's build/ is never touched (other builds and tests may be using it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL=0 VERIFY=0
for arg in "$@"; do
  case "$arg" in
    --all) ALL=1 ;;
    --verify) VERIFY=1 ;;
    *) echo "usage: scripts/prebuilds.sh [--all] [--verify]" >&2; exit 2 ;;
  esac
done
# The platforms the package ships, and how to reach each from another machine.
SHIPPED=(x64 arm64)
declare -A TRIPLET=([x64]=x86_64-linux-gnu [arm64]=aarch64-linux-gnu)
declare -A QEMU=([x64]=qemu-x86_64-static [arm64]=qemu-aarch64-static)
declare -A ELF_MACHINE=([x64]=62 [arm64]=183) # e_machine: EM_X86_64, EM_AARCH64

say() { printf 'prebuilds: %s\n' "$*" >&2; }
die() {
  say "error: $*"
  [ "${npm_lifecycle_event:-}" != prepack ] || say "npm pack/publish stops here: no tarball without the prebuilds for ${SHIPPED[*]/#/linux-}"
  exit 1
}

HOST_ARCH=$(node -p process.arch)
NODE_VERSION=$(node -p process.versions.node)
NODEDIR=$(node -p "require('path').resolve(process.execPath, '../..')")
NODES=${REAPER_NODES:-/tmp/reaper-nodes}
SCRATCH=${REAPER_PREBUILD_SCRATCH:-$(mktemp -d /tmp/reaper-prebuilds.XXXXXX)}
[ -n "${REAPER_PREBUILD_SCRATCH:-}" ] || trap 'rm -rf "$SCRATCH"' EXIT
[ -f "$NODEDIR/include/node/node_api.h" ] || die "no node headers at $NODEDIR/include/node (Debian: apt-get install libnode-dev, or use a node tarball)"
[ -x "$ROOT/node_modules/.bin/prebuildify" ] || die "prebuildify missing: npm ci first"

# Every file a platform directory must hold, and the step that builds them. A second
# artifact (say, a native launcher built beside the addon) adds its file name here and
# its build to build_artifacts; the check, the verification and the tarball follow.
ARTIFACTS=(reaper.glibc.node reaper-launcher)
build_artifacts() { # arch cross-prefix
  build_addon "$@"
  # The launcher (native/launcher/launcher.c, binding.gyp's second target, linked static) comes out
  # of the same build; bin/reaper execs it from here, with no install step.
  "$(command -v "${2}strip")" -o "$ROOT/prebuilds/linux-$1/reaper-launcher" "$SCRATCH/$1/build/Release/reaper-launcher"
}

# The addon is named reaper (reaper.glibc.node, not the package's name): src/core/native.ts
# loads that file directly, without node-gyp-build's scans.
build_addon() { # arch cross-prefix
  local arch=$1 prefix=$2 dir=$SCRATCH/$1
  rm -rf "$dir" && mkdir -p "$dir"
  cp -r "$ROOT/package.json" "$ROOT/binding.gyp" "$ROOT/native" "$dir/"
  ln -s "$ROOT/node_modules" "$dir/node_modules"
  say "building linux-$arch addon (node $NODE_VERSION headers from $NODEDIR, ${prefix:-host }g++)"
  (
    cd "$dir"
    export npm_config_nodedir=$NODEDIR
    if [ -n "$prefix" ]; then
      # Full paths: node-gyp puts node's own directory (often /usr/bin) first on make's PATH.
      local tool
      for tool in gcc g++ ar strip; do command -v "$prefix$tool" >/dev/null || die "$prefix$tool is not installed"; done
      export CC=$(command -v "${prefix}gcc") CXX=$(command -v "${prefix}g++") AR=$(command -v "${prefix}ar") PREBUILD_STRIP_BIN=$(command -v "${prefix}strip")
      export LINK=$CXX
    fi
    ./node_modules/.bin/prebuildify --name reaper --napi --strip --tag-libc --arch "$arch" --target "$NODE_VERSION" >"$dir.log" 2>&1
  ) || { tail -n 30 "$dir.log" >&2; die "prebuildify for linux-$arch failed (log: $dir.log)"; }
  cp "$dir/prebuilds/linux-$arch/"*.node "$ROOT/prebuilds/linux-$arch/"
}

apt_install() { # packages...
  say "installing $* with apt"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$SCRATCH/apt.log" 2>&1 \
    || { tail -n 20 "$SCRATCH/apt.log" >&2; die "apt-get install $* failed"; }
}

# An arch's official Node from the npm registry (node-linux-<arch>@<our major>); prints its path.
foreign_node() { # arch
  local arch=$1 major=${NODE_VERSION%%.*} dir=$NODES/linux-$1-${NODE_VERSION%%.*}
  if [ ! -x "$dir/node_modules/node-linux-$arch/bin/node" ]; then
    say "fetching node-linux-$arch@$major from the npm registry"
    rm -rf "$dir" && mkdir -p "$dir"
    # --force: the package declares its cpu; --ignore-scripts: we only want the binary.
    (cd "$dir" && npm install --no-audit --no-fund --no-package-lock --force --ignore-scripts "node-linux-$arch@$major" >"$dir.log" 2>&1) \
      || die "npm install node-linux-$arch@$major failed (log: $dir.log)"
  fi
  echo "$dir/node_modules/node-linux-$arch/bin/node"
}

# Every artifact present, an ELF file for the right machine.
check() { # arch
  local arch=$1 file machine
  for name in "${ARTIFACTS[@]}"; do
    file=$ROOT/prebuilds/linux-$arch/$name
    [ -s "$file" ] || die "prebuilds/linux-$arch/$name is missing"
    machine=$(od -An -t u2 -j 18 -N 2 "$file" | tr -d ' ')
    [ "$(head -c 4 "$file" | od -An -c | tr -d ' ')" = '177ELF' ] && [ "$machine" = "${ELF_MACHINE[$arch]}" ] \
      || { rm -rf "$ROOT/prebuilds/linux-$arch"; die "prebuilds/linux-$arch/$name is not a linux-$arch ELF file (machine ${machine:-?}, want ${ELF_MACHINE[$arch]}); removed it"; }
  done
  # Static: no program interpreter (ld-linux), so it runs where glibc is absent (Alpine, distroless/static).
  ! readelf -l "$ROOT/prebuilds/linux-$arch/reaper-launcher" | grep -q INTERP \
    || { rm -rf "$ROOT/prebuilds/linux-$arch"; die "prebuilds/linux-$arch/reaper-launcher is dynamically linked (it must be static); removed it"; }
}

# Runs reaper as an install from the tarball has it: a package tree with bin/, dist/ and
# prebuilds/ only (no build/, no install step), as PID 1 of a new pid namespace:
# bin/reaper (sh) -> launcher -> node -> dist/cli.cjs -> addon.
verify() { # arch
  local arch=$1 tree=$SCRATCH/package-$1 out code
  [ -f "$ROOT/dist/cli.cjs" ] || die "dist/cli.cjs missing: npm run build:ts first"
  rm -rf "$tree" && mkdir -p "$tree/node_modules"
  cp -r "$ROOT/package.json" "$ROOT/bin" "$ROOT/dist" "$ROOT/prebuilds" "$tree/"
  cp -r "$ROOT/node_modules/node-gyp-build" "$tree/node_modules/"
  local path=$PATH run=(bin/reaper)
  if [ "$arch" != "$HOST_ARCH" ]; then
    # bin/reaper would pick this machine's launcher: the foreign one runs under qemu-user
    # directly, and the node it finds first on PATH runs that arch's Node there too.
    local qemu=("${QEMU[$arch]}" -L "/usr/${TRIPLET[$arch]}") node
    node=$(foreign_node "$arch") || exit 1
    mkdir -p "$tree/node-$arch"
    printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${qemu[*]}" "$node" >"$tree/node-$arch/node"
    chmod +x "$tree/node-$arch/node"
    path=$tree/node-$arch:$PATH run=("${qemu[@]}" "prebuilds/linux-$arch/reaper-launcher")
  fi
  out=$(cd "$tree" && PATH=$path env -u NODE_OPTIONS unshare --pid --fork --mount-proc "${run[@]}" -- sh -c 'echo "parent $PPID"; exit 3' 2>&1) && code=0 || code=$?
  [ "$code" = 3 ] && [ "$out" = "parent 1" ] || die "linux-$arch: ${run[*]} -- sh -c 'exit 3' as PID 1 gave exit $code: $out"
  say "verified linux-$arch: launcher and addon ran without build/ as PID 1 (the program's parent: pid 1), exit 3 passed through"
}

targets=("$HOST_ARCH")
[ "$ALL" = 0 ] || targets=("${SHIPPED[@]}")
need=()
for arch in "${targets[@]}"; do
  [ "$arch" = "$HOST_ARCH" ] && continue
  [ -n "${TRIPLET[$arch]:-}" ] || die "no cross toolchain known for linux-$arch"
  command -v "${TRIPLET[$arch]}-g++" >/dev/null || need+=("g++-${TRIPLET[$arch]//_/-}")
  [ "$VERIFY" = 0 ] || command -v "${QEMU[$arch]}" >/dev/null || need+=(qemu-user-static)
done
[ ${#need[@]} = 0 ] || apt_install $(printf '%s\n' "${need[@]}" | sort -u)

for arch in "${targets[@]}"; do
  rm -rf "$ROOT/prebuilds/linux-$arch" && mkdir -p "$ROOT/prebuilds/linux-$arch"
  if [ "$arch" = "$HOST_ARCH" ]; then build_artifacts "$arch" ""; else build_artifacts "$arch" "${TRIPLET[$arch]}-"; fi
  check "$arch"
  say "wrote $(cd "$ROOT" && echo prebuilds/linux-"$arch"/*)"
done
if [ "$VERIFY" = 1 ]; then
  for arch in "${targets[@]}"; do verify "$arch"; done
fi
