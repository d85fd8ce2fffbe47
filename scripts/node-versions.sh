#!/usr/bin/env bash
# scripts/node-versions.sh [MAJOR...]: runs reaper's wrapper, drain, library (test/library*.ts),
# install, internal-error and anchor-behaviour (reaper's own faults chain to Node's SIGSEGV
# handler) tests, and a smoke run of the addon as PID 1, on other Node majors
# (default: 22 24 26, the LTS lines and the current one) with the SAME N-API addon
# built for the system node (no rebuild; the install test packs and installs its own).
# Node binaries come from the npm registry: package node-linux-<arch>@MAJOR (the official
# build, shipped inside the npm package; installed with --ignore-scripts, nothing downloaded
# at install time) into $REAPER_NODES (default /tmp/reaper-nodes).
# Prints one result line per version, then "node-versions: N passed, N failed, N skipped"
# (tap assertions of every version, plus one per smoke run), which .ci/run adds to its
# own count. Exits non-zero if any version fails.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NODES=${REAPER_NODES:-/tmp/reaper-nodes}
ARCH=$(node -p process.arch)
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24 26)
say() { printf 'node-versions: %s\n' "$*" >&2; }

cd "$ROOT"
[ -f dist/cli.cjs ] && { [ -f build/Release/reaper.node ] || ls prebuilds/linux-"$ARCH"/*.node >/dev/null 2>&1; } \
  || { say "build first: npm run build"; exit 1; }
tests=()
for file in test/wrapper.ts test/drain.ts test/library*.ts test/install.ts test/internal-errors.ts test/anchor-behaviour.ts; do
  [ -f "$file" ] && tests+=("$file")
done

failed=0
results=()
passed=0 fails=0 skipped=0
count() { sed -nE "s/.*$1: ([0-9]+).*/\\1/p" <<<"$summary"; } # from tap's "# { total: N, pass: N, fail: N }"
for major in "${majors[@]}"; do
  dir=$NODES/$major
  bin=$dir/node_modules/node-linux-$ARCH/bin
  if [ ! -x "$bin/node" ]; then
    say "fetching node-linux-$ARCH@$major"
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --no-package-lock --ignore-scripts "node-linux-$ARCH@$major" >"$dir.log" 2>&1) \
      || { results+=("node $major: could not install node-linux-$ARCH@$major (log: $dir.log)"); failed=1; fails=$((fails + 1)); continue; }
  fi
  version=$("$bin/node" --version)
  # The smoke run: the N-API addon loads and reaper runs as PID 1, exit code passes through.
  smoke=$(PATH=$bin:$PATH unshare --pid --fork --mount-proc "$bin/node" dist/cli.cjs -- sh -c 'exit 3' 2>&1); code=$?
  line="node $version: smoke (reaper -- sh -c 'exit 3' as PID 1) -> $code"
  if [ "$code" = 3 ]; then passed=$((passed + 1)); else failed=1; fails=$((fails + 1)); line="$line FAILED: $smoke"; fi
  if [ ${#tests[@]} -gt 0 ]; then
    log=$NODES/tap-$major.log
    start=$(date +%s)
    # tap and the harness spawn process.execPath; #!/usr/bin/env node finds $bin first.
    PATH=$bin:$PATH "$bin/node" node_modules/.bin/tap --disable-coverage "${tests[@]}" >"$log" 2>&1; tcode=$?
    summary=$(grep -E '^# \{ total' "$log" | tail -1)
    line="$line; tap ${tests[*]}: exit $tcode ${summary#\# } in $(( $(date +%s) - start ))s"
    p=$(count pass) f=$(count fail) s=$(count skip)
    # No summary: tap broke before it could report; that is a failure too.
    [ -n "$summary" ] || f=1
    [ "$tcode" = 0 ] || [ "${f:-0}" -gt 0 ] || f=1
    passed=$((passed + ${p:-0})) fails=$((fails + ${f:-0})) skipped=$((skipped + ${s:-0}))
    [ "$tcode" = 0 ] || { failed=1; line="$line FAILED (log: $log)"; }
  fi
  results+=("$line")
done
printf '%s\n' "${results[@]}"
echo "node-versions: $passed passed, $fails failed, $skipped skipped"
exit $failed
