// Turns the samples into the table of BENCHMARKS.md: medians (min–max) per
// init, reaper's ratio to the best anchor (lowest median of tini, dumb-init,
// catatonit) and to the node floor, and whether reaper meets its target.

const ROWS = [
  { key: 'startup_overhead_ms', label: 'startup overhead: `INIT true` − bare `true` as PID 1, wall ms (floor: `node -e 0` − `true`)', digits: 3,
    target: { kind: 'floor', factor: 1.15, text: '≤ 1.15× `node -e 0`' } },
  { key: 'startup_cpu_overhead_ms', label: 'startup overhead, CPU ms (user + system of PID 1 and what it reaped; least disturbed by a busy machine)', digits: 3,
    target: { kind: 'floor', factor: 1.15, text: '≤ 1.15× `node -e 0`' } },
  { key: 'rss_kb', label: 'idle VmRSS of PID 1, kB', digits: 0 },
  { key: 'pss_kb', label: 'idle PSS of PID 1, kB', digits: 0 },
  { key: 'anon_kb', label: 'idle private anonymous memory (RssAnon) of PID 1, kB', digits: 0,
    target: { kind: 'floorPlus', plus: 1024, text: '≤ idle node + 1024 kB' } },
  { key: 'threads', label: 'threads of PID 1', digits: 0, target: { kind: 'floor', factor: 1, text: '≤ idle node' } },
  { key: 'wakeups_per_s', label: 'idle wake-ups of PID 1 per second (ctxt switches of all threads, window from 1 s after start)', digits: 2,
    target: { kind: 'zero', text: '0' } },
  { key: 'wakeups_steady_per_s', label: 'steady idle wake-ups per second (window 10–15 s after start, all side by side)', digits: 2,
    target: { kind: 'zero', text: '0' } },
  { key: 'burst1000_ms', label: 'reap burst of 1,000 orphan zombies, ms', digits: 2, target: { kind: 'anchor', factor: 1, text: '≤ 1.0× best anchor' } },
  { key: 'burst10000_ms', label: 'reap burst of 10,000 orphan zombies, ms', digits: 1, target: { kind: 'anchor', factor: 1, text: '≤ 1.0× best anchor' } },
  { key: 'rate_max', label: '2,000 orphans/s: max zombies outstanding (median of runs)', digits: 0, target: { kind: 'anchor', factor: 1, text: '≤ best anchor' } },
  { key: 'rate_p99', label: '2,000 orphans/s: p99 zombies outstanding (~200 µs samples)', digits: 0, target: { kind: 'anchor', factor: 1, text: '≤ best anchor' } },
  { key: 'rate_mean', label: '2,000 orphans/s: mean zombies outstanding', digits: 3 },
  { key: 'signal_us', label: 'SIGUSR1 → PID 1 → child handler, µs', digits: 0, target: { kind: 'anchor', factor: 1, text: '≤ 1.0× best anchor' } },
  { key: 'signal_cpu1_us', label: 'same, everything on CPU 1 (taskset -c 1), µs', digits: 0, target: { kind: 'anchor', factor: 1, text: '≤ 1.0× best anchor' } },
];

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function summary(values) {
  if (!values?.length) return null;
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length };
}

export function evaluate(samples, perRep, anchors) {
  const rows = [];
  for (const row of ROWS) {
    const stats = {};
    for (const who of [...anchors, 'reaper', 'node']) {
      stats[who] = summary(samples[row.key]?.[who]);
    }
    if (row.key === 'startup_overhead_ms' || row.key === 'startup_cpu_overhead_ms') {
      // Overhead = difference of the medians; min–max are of the paired differences.
      const unit = row.key === 'startup_overhead_ms' ? '' : '_cpu';
      for (const who of Object.keys(stats)) {
        const init = samples[`startup${unit}_init_ms`]?.[who];
        const bare = samples[`startup${unit}_bare_ms`]?.[who];
        if (init && bare && stats[who]) stats[who].median = median(init) - median(bare);
      }
    }
    const reaper = stats.reaper?.median;
    const anchorMedians = anchors.map((who) => stats[who]?.median).filter((value) => value !== undefined);
    const best = anchorMedians.length ? Math.min(...anchorMedians) : undefined;
    const floor = stats.node?.median;
    const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? null : a / b);
    let pass = null;
    const target = row.target;
    if (target && reaper !== undefined) {
      if (target.kind === 'anchor' && best !== undefined) pass = reaper <= best * target.factor;
      if (target.kind === 'floor' && floor !== undefined) pass = reaper <= floor * target.factor;
      if (target.kind === 'floorPlus' && floor !== undefined) pass = reaper <= floor + target.plus;
      if (target.kind === 'zero') pass = reaper === 0;
    }
    const reps = Object.fromEntries(Object.entries(perRep[row.key] ?? {}).map(([who, list]) => [who, list.map((values) => (values?.length ? median(values) : null))]));
    rows.push({ ...row, stats, best, floor, vsAnchor: ratio(reaper, best), vsFloor: ratio(reaper, floor), pass, reps });
  }
  return { rows, anchors };
}

function number(value, digits) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  if (digits === 0 || Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(digits);
}

function cell(stat, digits) {
  if (!stat) return '–';
  const mid = number(stat.median, digits);
  if (stat.n === 1 || stat.min === stat.max) return mid;
  return `${mid} (${number(stat.min, digits)}–${number(stat.max, digits)})`;
}

const ratioText = (value) => (value === null ? '–' : `${value.toFixed(2)}×`);

export function formatReport(results, library, env, samples) {
  const { rows, anchors } = results;
  const who = [...anchors, 'reaper', 'node'];
  const lines = [];
  lines.push('# Benchmarks');
  lines.push('');
  lines.push('<!-- Generated by `npm run bench` (bench/run.js). Do not edit by hand: re-run the benchmark. -->');
  lines.push('');
  lines.push(`Run ${env.date}${env.quick ? ' (BENCH_QUICK smoke run: few samples)' : ''}, ${env.config.reps} repetitions, ${env.minutes} min.`);
  lines.push('');
  lines.push(`- Machine: ${env.os}, kernel ${env.kernel}, ${env.cpu}, ${env.memory}`);
  lines.push(`- Load average (1/5/15 min) at start: ${env.loadStart}; at end: ${env.loadEnd}. The machine is shared: compare columns within this run, not across runs.`);
  lines.push(`- node ${env.node}; reaper ${env.reaper}`);
  lines.push(`- Node's environment is the same for every run: ${env.nodeEnvRemoved?.length ? `${env.nodeEnvRemoved.join(', ')} removed for the whole run` : 'no NODE_* / UV_* variable was set'}. reaper's launcher hides them from reaper's own node, so a \`node -e 0\` started with them (NODE_EXTRA_CA_CERTS: ~30 ms of certificate loading) would flatter reaper.`);
  lines.push(`- tini ${env.tini}; dumb-init ${env.dumbInit}; catatonit ${env.catatonit} (Debian packages)`);
  lines.push(`- helpers: ${env.gcc}`);
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push('Median (min–max) over all samples of all repetitions. Ratio columns: reaper ÷ best anchor (the lowest median of tini, dumb-init, catatonit) and reaper ÷ the idle-node floor. Lower is better everywhere.');
  lines.push('');
  lines.push(`| metric | ${who.map((name) => (name === 'node' ? 'node floor' : name)).join(' | ')} | reaper / best anchor | reaper / node | target | result |`);
  lines.push(`|---|${who.map(() => '---|').join('')}---|---|---|---|`);
  for (const row of rows) {
    const result = row.pass === null ? '' : row.pass ? 'pass' : '**miss**';
    lines.push(`| ${row.label} | ${who.map((name) => cell(row.stats[name], row.digits)).join(' | ')} | ${ratioText(row.vsAnchor)} | ${ratioText(row.vsFloor)} | ${row.target?.text ?? ''} | ${result} |`);
  }
  lines.push('');
  const targets = rows.filter((row) => row.pass !== null);
  lines.push(`Targets met: ${targets.filter((row) => row.pass).length} of ${targets.length}${targets.some((row) => !row.pass) ? ` (missed: ${targets.filter((row) => !row.pass).map((row) => row.key).join(', ')})` : ''}.`);
  lines.push('');
  const lost = ['signal_us_lost', 'signal_cpu1_us_lost'].map((key) => who.filter((name) => samples[key]?.[name])
    .map((name) => `${name} ${samples[key][name].reduce((a, b) => a + b, 0)}`).join(', ')).join('; pinned: ');
  lines.push(`Forwarded signals that never reached the child within 2 s (sum over all runs, unpinned; pinned): ${lost}.`);
  lines.push('');
  lines.push('### Per repetition (median of each repetition)');
  lines.push('');
  lines.push(`| metric | ${who.map((name) => (name === 'node' ? 'node floor' : name)).join(' | ')} |`);
  lines.push(`|---|${who.map(() => '---|').join('')}`);
  for (const row of rows) {
    if (row.key === 'startup_overhead_ms' || row.key === 'startup_cpu_overhead_ms') continue;
    lines.push(`| ${row.key} | ${who.map((name) => (row.reps[name] ?? []).map((value) => number(value, row.digits)).join(' / ') || '–').join(' | ')} |`);
  }
  lines.push('');
  const paths = env.installPaths ?? [];
  if (paths.length) {
    lines.push('### Start-up per install path');
    lines.push('');
    lines.push('The same tarball of this tree installed as users get it (bench/run.js `installPaths`), each bin started as PID 1 with `-- true`, in turn with `node -e 0` and the inits above (same runs, same environment). Ratio: median of the whole start ÷ median of `node -e 0`\'s. Target ≤ 1.2× on every path, ≤ 1.15× through the launcher.');
    lines.push('');
    lines.push('| install path | what starts | wall ms | × `node -e 0` | CPU ms | × `node -e 0` (CPU) | target | result |');
    lines.push('|---|---|---|---|---|---|---|---|');
    const total = (unit, name) => summary(samples[`startup${unit}_init_ms`]?.[name]);
    const node = { wall: total('', 'node'), cpu: total('_cpu', 'node') };
    for (const path of [{ name: 'reaper', what: 'the launcher itself (npm 11\'s bin before this release; dockerd\'s --init-path; distroless)' }, ...paths]) {
      const wall = total('', path.name), cpu = total('_cpu', path.name);
      const factor = path.name === 'reaper' ? 1.15 : 1.2;
      const ratio = wall && node.wall ? wall.median / node.wall.median : null;
      const cpuRatio = cpu && node.cpu ? cpu.median / node.cpu.median : null;
      const result = ratio === null ? '' : ratio <= factor ? 'pass' : '**miss**';
      lines.push(`| ${path.name} | ${path.what} | ${cell(wall, 2)} | ${ratioText(ratio)} | ${cell(cpu, 2)} | ${ratioText(cpuRatio)} | ≤ ${factor}× | ${result} |`);
    }
    lines.push(`| node | \`node -e 0\` | ${cell(node.wall, 2)} | 1.00× | ${cell(node.cpu, 2)} | 1.00× | | |`);
    lines.push('');
  }
  lines.push('## Library mode');
  lines.push('');
  if (library.missing) {
    lines.push('dist/index.js does not export `startReaper` yet: not measured.');
  } else if (library.error) {
    lines.push(`The library benchmark failed: ${library.error}`);
  } else {
    lines.push('| metric | value |');
    lines.push('|---|---|');
    lines.push(`| \`reapNow()\` with nothing to reap, µs per pass | ${number(library.idlePassUs, 2)} (${number(library.idlePassMinUs, 2)}–${number(library.idlePassMaxUs, 2)}), ${env.config.libIdleCalls} passes |`);
    lines.push(`| \`reapNow()\` with ${library.orphans} orphan zombies (graceMs 0), ms for all | ${library.passMs.map((value) => number(value, 1)).join(' / ')} |`);
    lines.push(`| …µs per zombie reaped | ${library.perZombieUs.map((value) => number(value, 1)).join(' / ')} |`);
  }
  lines.push('');
  const off = (key) => samples[key]?.['lib-off'];
  const on = (key) => samples[key]?.['lib-on'];
  if (on('anon_kb')?.length && off('anon_kb')?.length) {
    lines.push('Idle ESM app as PID 1 (bench/lib-app.js), without and with `startReaper()`:');
    lines.push('');
    lines.push('| metric | app | app + startReaper() | extra (difference of medians) |');
    lines.push('|---|---|---|---|');
    for (const [key, label] of [['rss_kb', 'VmRSS, kB'], ['pss_kb', 'PSS, kB'], ['anon_kb', 'RssAnon, kB'], ['threads', 'threads']]) {
      const a = summary(off(key));
      const b = summary(on(key));
      lines.push(`| ${label} | ${cell(a, 0)} | ${cell(b, 0)} | ${a && b ? number(b.median - a.median, 0) : '–'} |`);
    }
    lines.push('');
  }
  lines.push('## Method');
  lines.push('');
  lines.push('Each init runs as PID 1 of a fresh pid + mount namespace with its own /proc (bench/c/pidns.c: `clone(CLONE_NEWPID|CLONE_NEWNS)`, like `unshare --pid --fork --mount-proc`), with bench/c/ctl.c as its child. Every repetition runs all inits in turn (rotated order).');
  lines.push('');
  lines.push(`- **startup**: ${env.config.startupPairs} interleaved pairs per repetition of \`INIT true\` and bare \`true\`, both as PID 1, timed from before clone() to the reap of PID 1 (wall), and PID 1's CPU time with what it reaped (wait4's rusage); \`node -e 0\` the same way, in turn with the inits. Overhead = difference of the medians (min–max of the paired differences). NODE_* / UV_* are removed from the environment of every run (see Environment).`);
  lines.push(`- **idle**: ${env.config.idleSettleMs / 1000} s after ctl is up (sleeping in read()), \`/proc/<pid1>/status\` (VmRSS, RssAnon, Threads) and \`smaps_rollup\` (Pss); then voluntary + involuntary context switches of all PID 1's threads over ${env.config.wakeWindowMs / 1000} s. Node floor: \`node -e 'setInterval(()=>{},1e9)'\` as PID 1.`);
  lines.push(`- **steady idle**: all inits and the node floor started side by side; context switches of PID 1 counted from ${env.config.steadyAfterMs / 1000} s to ${(env.config.steadyAfterMs + env.config.steadyWindowMs) / 1000} s after they are up (V8's memory reducer runs a one-off GC in every node process ~8 s after start).`);
  lines.push(`- **reap burst**: ctl vforks P, P vforks N children that \`_exit(0)\`, waits until all are zombies (waitid WNOWAIT), stamps CLOCK_MONOTONIC and exits: N zombies re-parented to PID 1 at once. ctl polls \`/proc/1/task/1/children\` every ~50 µs until none is left. ${env.config.bursts1k}×1,000 and ${env.config.bursts10k}×10,000 per repetition.`);
  lines.push(`- **continuous**: ${env.config.ratePerSec} orphans/s for ${env.config.rateSecs} s in batches of 2; a sampler thread counts PID 1's zombie children every ~200 µs.`);
  lines.push(`- **signal**: bench/c/sigsend.c stamps CLOCK_MONOTONIC and sends SIGUSR1 from the parent namespace to PID 1; ctl's handler stamps on arrival (same clock in every namespace). ${env.config.signals} signals (+${env.config.signalWarmup} warm-up) ${env.config.signalIntervalMs} ms apart; then again with the whole namespace and the sender on CPU 1.`);
  lines.push('- **library**: bench/lib-pass.js (not PID 1, child subreaper) times `reapNow()`; bench/lib-app.js is an idle ESM app as PID 1 without and with `startReaper()`.');
  lines.push('');
  return lines.join('\n');
}
