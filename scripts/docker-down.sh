#!/usr/bin/env bash
# scripts/docker-down.sh: stops the dockerd that scripts/docker-up.sh started:
# removes the containers left over from tests, then SIGTERM to dockerd (it stops
# its own containerd), waits up to 30 s, SIGKILL as a last resort. Leaves the
# images in /var/lib/docker for the next docker-up. No-op when nothing is running.
set -uo pipefail
PIDFILE=/var/run/reaper-dockerd.pid
export DOCKER_HOST=unix:///var/run/docker.sock
say() { printf 'docker-down: %s\n' "$*" >&2; }

if [ ! -f "$PIDFILE" ] || ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
  say "no dockerd started by docker-up.sh is running"
  rm -f "$PIDFILE"
  exit 0
fi
pid=$(cat "$PIDFILE")
leftovers=$(timeout 20 docker ps -aq --filter label=reaper-test 2>/dev/null)
[ -z "$leftovers" ] || { say "removing leftover test containers"; timeout 30 docker rm -f $leftovers >/dev/null 2>&1; }
timeout 20 docker image prune -f >/dev/null 2>&1
say "stopping dockerd pid $pid"
kill -TERM "$pid"
for _ in $(seq 1 150); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  say "dockerd did not stop within 30 s: SIGKILL"
  kill -KILL "$pid"
fi
# dockerd's own containerd (libcontainerd, under /var/run/docker/containerd) goes with it.
cpid=$(cat /var/run/docker/containerd/containerd.pid 2>/dev/null || true)
if [ -n "$cpid" ] && kill -0 "$cpid" 2>/dev/null; then
  for _ in $(seq 1 50); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$cpid" 2>/dev/null && { say "stopping dockerd's containerd pid $cpid"; kill -TERM "$cpid"; }
fi
rm -f "$PIDFILE"
ip link show docker0 >/dev/null 2>&1 && say "warning: a docker0 bridge exists (not made by docker-up.sh, which uses --bridge=none)"
say "stopped"
