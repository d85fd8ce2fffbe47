#!/usr/bin/env bash
# scripts/docker-up.sh: make a real container engine ready for test/docker.ts.
#
#  1. installs docker.io (and busybox-static for the image) with apt when missing;
#  2. builds reaper (addon + TypeScript) and packs it (prepack: the glibc prebuilds,
#     scripts/prebuilds.sh), and installs the tarball on the host as docker/README.md's
#     --init-path recipe has it ($STATE/host, no install script run);
#  3. starts dockerd by hand (no systemd here) with no bridge, no iptables, no
#     forwarding or masquerading: containers run with --network=none only. Its
#     --init-path is that install's static launcher (prebuilds/linux-<arch>/reaper-launcher),
#     so `docker run --init` runs reaper as the recipe gives it to users.
#     The log goes to $STATE/dockerd.log; we wait (bounded) until `docker info` answers;
#  4. imports reaper-node:local, a rootfs made from this host's own node, its ldd
#     libraries and busybox-static (no registry is ever contacted), and builds
#     reaper-test:local from test/fixtures/docker/Dockerfile.test, which COPYs the
#     packed reaper (installed from the tarball, without a compiler) into /app.
#
# Idempotent: a dockerd this script started is reused. scripts/docker-down.sh stops it.
# Environment: REAPER_DOCKER_STATE (default /tmp/reaper-docker), REAPER_DOCKER_TIMEOUT
# (seconds to wait for dockerd, default 120).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${REAPER_DOCKER_STATE:-/tmp/reaper-docker}
TIMEOUT=${REAPER_DOCKER_TIMEOUT:-120}
SOCKET=/var/run/docker.sock
PIDFILE=/var/run/reaper-dockerd.pid
LOG=$STATE/dockerd.log
export DOCKER_HOST=unix://$SOCKET DOCKER_BUILDKIT=0

say() { printf 'docker-up: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
elapsed() { echo $(( $(date +%s) - START )); }
START=$(date +%s)
mkdir -p "$STATE"

# --- 1. packages -----------------------------------------------------------
need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v docker >/dev/null 2>&1 || need+=(docker.io)
# busybox-static's /bin/busybox (a dynamic one would need its libraries in the image)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} with apt"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${need[@]}" >"$STATE/apt.log" 2>&1 \
    || { tail -n 20 "$STATE/apt.log" >&2; die "apt-get install ${need[*]} failed (log: $STATE/apt.log)"; }
fi
command -v dockerd >/dev/null || die "dockerd is not on PATH after installing docker.io"
[ -x /bin/busybox ] || die "/bin/busybox is missing (apt-get install busybox-static)"

# --- 2. reaper: build, prebuild, pack --------------------------------------
# (before dockerd: the init-path launcher needs dist/ for `docker info`.)
cd "$ROOT"
[ -d node_modules/typescript ] || { say "npm ci"; npm ci --no-audit --no-fund >"$STATE/npm-ci.log" 2>&1 || die "npm ci failed (log: $STATE/npm-ci.log)"; }
say "building reaper"
npm run build --silent >"$STATE/build.log" 2>&1 || { tail -n 30 "$STATE/build.log" >&2; die "npm run build failed"; }
# npm pack's prepack builds and verifies the linux-x64 and linux-arm64 prebuilds
# (scripts/prebuilds.sh, in a scratch copy: the work tree's build/ stays as npm run build left it).
rm -f "$STATE"/reaper-*.tgz
npm pack --silent --pack-destination "$STATE" >"$STATE/pack.log" 2>&1 || { tail -n 30 "$STATE/pack.log" >&2; die "npm pack failed"; }
TARBALL=$(ls "$STATE"/reaper-*.tgz)
tar -tzf "$TARBALL" >"$STATE/pack-files.txt"; grep -q "prebuilds/linux-" "$STATE/pack-files.txt" || die "$TARBALL has no prebuilds/"
# The --init-path recipe (docker/README.md): the package installed on the host, its launcher
# for this machine. --ignore-scripts, as npm 12 and pnpm install it by default.
HOST=$STATE/host
rm -rf "$HOST" && mkdir -p "$HOST"
printf '{ "name": "reaper-docker-host", "version": "1.0.0", "private": true }\n' >"$HOST/package.json"
(cd "$HOST" && npm install --ignore-scripts --omit=dev --no-audit --no-fund --prefer-offline --no-package-lock "$TARBALL" >"$STATE/host-install.log" 2>&1) \
  || { tail -n 30 "$STATE/host-install.log" >&2; die "npm install of the tarball on the host failed (log: $STATE/host-install.log)"; }
INIT=$HOST/node_modules/reaper-init/prebuilds/linux-$(node -p process.arch)/reaper-launcher
"$INIT" --version >/dev/null || die "$INIT --version failed: dockerd could not name reaper's version"

# --- 3. dockerd ------------------------------------------------------------
running_pid() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"; }
if pid=$(running_pid); then
  say "reusing dockerd pid $pid"
  [ "$(docker info --format '{{.InitBinary}}' 2>/dev/null)" = "$INIT" ] \
    || say "warning: that dockerd's --init-path is not $INIT; run scripts/docker-down.sh, then this script again"
elif docker info >/dev/null 2>&1; then
  say "warning: a dockerd not started by this script answers on $SOCKET; using it (docker run --init may not be reaper)"
else
  say "starting dockerd (log: $LOG)"
  : >"$LOG"
  setsid nohup dockerd \
    --host="unix://$SOCKET" \
    --pidfile=/var/run/docker.pid \
    --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --init-path="$INIT" \
    </dev/null >>"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  until docker info >/dev/null 2>&1; do
    kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "dockerd exited while starting"; }
    [ "$(elapsed)" -lt "$TIMEOUT" ] || { tail -n 30 "$LOG" >&2; die "dockerd did not answer within ${TIMEOUT}s"; }
    sleep 0.2
  done
  say "dockerd ready after $(elapsed)s"
fi

# --- 4. images -------------------------------------------------------------
ROOTFS=$STATE/rootfs
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,app,data}
chmod 1777 "$ROOTFS/tmp"
NODE=$(readlink -f "$(command -v node)")
cp "$NODE" "$ROOTFS/usr/bin/node"
# The dynamic libraries node needs, at the same paths.
for lib in $(ldd "$NODE" | grep -o '/[^ ]*'); do
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
cp /bin/busybox "$ROOTFS/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ -e "$ROOTFS/bin/$applet" ] || ln -s busybox "$ROOTFS/bin/$applet"
done
ln -sf /bin/busybox "$ROOTFS/usr/bin/env"
[ -x /usr/bin/tini-static ] && cp /usr/bin/tini-static "$ROOTFS/usr/bin/tini"
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/app:/bin/sh\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$ROOTFS/etc/group"
say "importing reaper-node:local"
tar -C "$ROOTFS" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' -c 'WORKDIR /app' \
  - reaper-node:local >/dev/null

CONTEXT=$STATE/context
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT/app"
# Install the packed reaper as a user would (npm 12 and pnpm run no install script): the prebuild must do.
printf '{ "name": "reaper-test-app", "version": "1.0.0", "private": true }\n' >"$CONTEXT/app/package.json"
say "installing $(basename "$TARBALL") into the test image's /app"
(cd "$CONTEXT/app" && npm install --omit=dev --no-audit --no-fund --prefer-offline --no-package-lock "$TARBALL" >"$STATE/install.log" 2>&1) \
  || { tail -n 30 "$STATE/install.log" >&2; die "npm install of the tarball failed (log: $STATE/install.log)"; }
[ ! -d "$CONTEXT/app/node_modules/reaper-init/build" ] || say "warning: the install compiled the addon instead of using the prebuild"
cp -r "$ROOT/test/fixtures/docker/." "$CONTEXT/app/fixtures/"
cp "$ROOT/test/fixtures/make-orphans.sh" "$CONTEXT/app/fixtures/"
say "building reaper-test:local"
docker build -q -t reaper-test:local -f "$ROOT/test/fixtures/docker/Dockerfile.test" "$CONTEXT" >"$STATE/image-build.log" 2>&1 \
  || { cat "$STATE/image-build.log" >&2; die "docker build of reaper-test:local failed"; }
docker run --rm --network=none reaper-test:local sh -c "exit 0" \
  || die "reaper-test:local cannot run a program under reaper"
say "ready in $(elapsed)s: images reaper-node:local, reaper-test:local; dockerd log $LOG"
