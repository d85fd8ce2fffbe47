// Orphan storm: 100,000 orphans in bursts and as a continuous stream leave 0
// zombies under reaper as PID 1, and reaper's private memory (RssAnon) stays
// flat over as many reaps as fit the time budget (1,000,000 when they do):
// what it retains, outside V8's young generation (see below).
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { run, zombieChildren, childrenOf, fixture, teardown, until, within, requirePid1 } from '../harness/index.js';
import { join } from 'node:path';
import { helper, reaperArgv, record, statusKb, STRESS_FIXTURES } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const orphans = helper('orphans');
const node = process.execPath;

/** Zombies anywhere under pid (the orphans are PID 1's children, but check all). */
function zombiesUnder(pid: number): number {
  let count = zombieChildren(pid).length;
  for (const child of childrenOf(pid)) count += zombieChildren(child).length;
  return count;
}

for (const [mode, batch, pauseUs] of [['bursts of 1,000', 1000, 0], ['continuous, batches of 100', 100, 0]] as const) {
  t.test(`100,000 orphans (${mode}): 0 zombies under reaper as PID 1`, async (t) => {
    const reaper = run(reaperArgv(['--', 'sh', '-c', `${orphans} 100000 ${batch} ${pauseUs} && echo storm over && exec sleep 1000`]));
    teardown(t, reaper);
    const start = performance.now();
    const done = await within(reaper.waitFor(/^orphans done (\d+) in ([\d.]+) s/), 120_000, 'orphan storm');
    await reaper.waitFor(/^storm over$/);
    const made = Number(done[1]);
    t.equal(made, 100000, 'the helper made 100,000 orphans');
    const init = reaper.initPid();
    const zombies = await until(() => zombiesUnder(init) === 0, 10_000, `0 zombies left (found ${zombiesUnder(init)})`);
    const settledMs = performance.now() - start;
    t.ok(zombies, `0 zombies left (found ${zombiesUnder(init)})`);
    reaper.signal('SIGTERM');
    const finished = await within(reaper.finished, 20_000, 'reaper exit');
    t.equal(finished.code, 143, 'SIGTERM after the storm: the app was killed by SIGTERM, exit 143');
    record('orphan-storm', `storm-${batch}`, {
      mode, orphans: made, createSeconds: Number(done[2]), settledSeconds: settledMs / 1000,
      orphansPerSecond: Math.round(made / Number(done[2])), zombiesLeft: zombiesUnder(init),
    });
  });
}

t.test('negative control: 2,000 orphans under a PID 1 that does not reap stay zombies', async (t) => {
  const init = run([node, fixture('node-as-init.js'), orphans, '2000', '1000']);
  teardown(t, init);
  await init.waitFor(/child exited 0/);
  const zombies = await until(() => zombieChildren(init.initPid()).length >= 2000, 20_000, '2,000 zombies under the non-reaping PID 1');
  t.ok(zombies, `2,000 zombies under the non-reaping PID 1 (found ${zombieChildren(init.initPid()).length})`);
  init.signal('SIGKILL');
  await init.finished;
});

// 1,000,000 reaps take 70-130 s here (2 vCPU, shared); run chunks of
// 100,000 until that or the time budget, and record the count actually run.
const TARGET = Number(process.env.REAPER_STRESS_REAPS ?? 1_000_000);
const BUDGET_MS = Number(process.env.REAPER_STRESS_BUDGET_MS ?? 50_000);
const CHUNK = 100_000;
/** Memory reaper may keep per 1,000,000 reaps; a leak of 16 bytes per reap is 15,625 kB. */
const RETAINED_LIMIT_KB = 1024;

// What must stay flat is the memory reaper retains, not its RssAnon alone:
// the garbage of each wake-up (about one per 1,000 reaps in bursts) is
// bump-allocated into V8's young generation, whose pages become resident as
// the allocation reaches them and stay so until V8's memory reducer shrinks
// the space. Measured on Node 20 (smaps, --trace-gc): 1,100,000 reaps with
// no GC at all, RssAnon +744 kB, of which 510 kB in three 256 kB V8 pages and
// 140 kB a V8 worker thread's malloc arena; with a probe that adds garbage,
// 3,000,000 reaps: a scavenge doubled the semi-space (RssAnon +350 kB at
// once), RssAnon rose 1.5 MiB and fell back to its start (7,200 kB) when the
// reducer ran, and old space stayed at 2.9 MiB throughout. So RssAnon alone
// grows in steps over a million reaps with nothing retained, and a fixed limit
// on it flakes (1,022 and 1,080 kB measured against 1,024). The preload below
// reads, in the same turn, RssAnon and what the young generation holds
// resident (V8's physical_space_size, counted per allocation area, at most one
// 256 kB page ahead of the pages actually touched); their difference is
// everything else: old space, code, native (malloc) memory. Its growth is
// asserted under 1 MiB with that page and a worker thread's malloc arena
// (140 kB seen in smaps) as the headroom; a leak of 16 bytes per reap breaks
// it 14 times over (checked with a deliberate leak: ~14 MB).
t.test(`reaper's retained memory stays flat over up to ${TARGET.toLocaleString('en')} reaps`, async (t) => {
  // NODE_OPTIONS is kept in PID 1 for the probe only: it reads, it reaps nothing.
  const probe = `--require=${join(STRESS_FIXTURES, 'memory-probe.cjs')}`;
  const reaper = run(reaperArgv(['--', 'sh', '-c', 'echo ready; exec cat'], probe), { stdin: 'pipe' });
  teardown(t, reaper);
  await reaper.waitFor(/^ready$/);
  const init = reaper.initPid();
  const idleKb = statusKb(init, 'RssAnon');
  const samples: Array<{ reaps: number; rssAnonKb: number; youngKb: number; retainedKb: number }> = [];
  // The app (cat) only keeps reaper up; each chunk's helper is started inside
  // the namespace with nsenter, so its orphans are re-parented to reaper.
  let reaps = 0;
  const start = performance.now();
  while (reaps < TARGET && performance.now() - start < BUDGET_MS) {
    const helperRun = run(['nsenter', '-t', String(init), '-p', '-m', '--', orphans, String(CHUNK), '1000'], { pid1: false });
    const line = await within(helperRun.waitFor(/^orphans done (\d+)/), 60_000, 'orphan chunk');
    await helperRun.finished;
    if (Number(line[1]) !== CHUNK) t.fail(`a chunk made ${line[1]} orphans, not ${CHUNK}`);
    reaps += Number(line[1]);
    // The probe prints once the count of reaps crosses each multiple of CHUNK.
    const [, counted, anon, young] = await reaper.waitFor(/^memory (\d+) (\d+) (\d+)$/, { stream: 'stderr', count: samples.length + 1, timeoutMs: 20_000 });
    const rssAnonKb = Number(anon), youngKb = Number(young);
    samples.push({ reaps: Number(counted), rssAnonKb, youngKb, retainedKb: rssAnonKb - youngKb });
    await until(() => zombieChildren(init).length === 0, 10_000, 'no zombies left after a chunk');
  }
  const elapsed = (performance.now() - start) / 1000;
  // From the first sample: by then the old space has its working size.
  const [first, last] = [samples[0]!, samples.at(-1)!];
  const retainedGrowthKb = last.retainedKb - first.retainedKb;
  const measured = last.reaps - first.reaps;
  const perReapBytes = measured > 0 ? (retainedGrowthKb * 1024) / measured : 0;
  const extrapolatedKb = (perReapBytes * 1_000_000) / 1024;
  t.ok(samples.length >= 2, `ran ${reaps} reaps in ${elapsed.toFixed(1)} s`);
  t.ok(retainedGrowthKb < RETAINED_LIMIT_KB, `retained memory (RssAnon ${first.rssAnonKb} -> ${last.rssAnonKb} kB, less the young generation ${first.youngKb} -> ${last.youngKb} kB) grew ${retainedGrowthKb} kB from ${first.reaps} to ${last.reaps} reaps (< 1 MiB)`);
  // The young generation's reading may be a page (256 kB) ahead of the touch:
  // scaled up from a short run, that alone would exceed the limit.
  if (measured >= 4 * CHUNK) t.ok(extrapolatedKb < RETAINED_LIMIT_KB, `extrapolated growth over 1,000,000 reaps: ${extrapolatedKb.toFixed(0)} kB (< 1 MiB)`);
  else t.skip(`extrapolated growth over 1,000,000 reaps: ${extrapolatedKb.toFixed(0)} kB; only ${measured} reaps measured, too few to scale a 256 kB reading step`);
  t.same(zombieChildren(init), [], '0 zombies');
  reaper.child.stdin!.end();
  const finished = await within(reaper.finished, 20_000, 'reaper exit');
  t.equal(finished.code, 0, 'the app ended normally, exit 0');
  record('orphan-storm', 'memory', {
    reaps, seconds: elapsed, reapsPerSecond: Math.round(reaps / elapsed), idleKb,
    baselineKb: first.rssAnonKb, finalKb: last.rssAnonKb, maxKb: Math.max(...samples.map((s) => s.rssAnonKb)),
    growthKb: last.rssAnonKb - first.rssAnonKb, youngBaselineKb: first.youngKb, youngFinalKb: last.youngKb,
    retainedGrowthKb, perReapBytes, extrapolatedKbPer1M: extrapolatedKb, samples,
  });
});
