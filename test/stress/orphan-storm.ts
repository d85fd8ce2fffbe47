// Orphan storm: 100,000 orphans in bursts and as a continuous stream leave 0
// zombies under reaper as PID 1, and reaper's private memory (RssAnon) stays
// flat over as many reaps as fit the time budget (1,000,000 when they do).
import t from 'tap';
import { performance } from 'node:perf_hooks';
import { run, zombieChildren, childrenOf, fixture, teardown, until, within, requirePid1 } from '../fixtures/harness.js';
import { helper, reaperArgv, record, statusKb } from './fixtures/common.js';

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

t.test(`reaper's RssAnon stays flat over up to ${TARGET.toLocaleString('en')} reaps`, async (t) => {
  const reaper = run(reaperArgv(['--', 'sh', '-c', 'echo ready; exec cat']), { stdin: 'pipe' });
  teardown(t, reaper);
  await reaper.waitFor(/^ready$/);
  const init = reaper.initPid();
  const idleKb = statusKb(init, 'RssAnon');
  const samples: Array<{ reaps: number; rssAnonKb: number }> = [];
  // The app (cat) only keeps reaper up; each chunk's helper is started inside
  // the namespace with nsenter, so its orphans are re-parented to reaper.
  let reaps = 0;
  const start = performance.now();
  let baselineKb = -1;
  while (reaps < TARGET && performance.now() - start < BUDGET_MS) {
    const helperRun = run(['nsenter', '-t', String(init), '-p', '-m', '--', orphans, String(CHUNK), '1000'], { pid1: false });
    const line = await within(helperRun.waitFor(/^orphans done (\d+)/), 60_000, 'orphan chunk');
    await helperRun.finished;
    reaps += Number(line[1]);
    await until(() => zombieChildren(init).length === 0, 10_000, 'no zombies left after a chunk');
    const kb = statusKb(init, 'RssAnon');
    samples.push({ reaps, rssAnonKb: kb });
    if (baselineKb < 0) baselineKb = kb; // after the first 100,000: V8's heap has grown to its working size
  }
  const elapsed = (performance.now() - start) / 1000;
  const finalKb = samples.at(-1)!.rssAnonKb;
  const maxKb = Math.max(...samples.map((s) => s.rssAnonKb));
  const measured = reaps - CHUNK;
  const perReapBytes = measured > 0 ? ((finalKb - baselineKb) * 1024) / measured : 0;
  const extrapolatedKb = (perReapBytes * 1_000_000) / 1024;
  t.ok(reaps >= 2 * CHUNK, `ran ${reaps} reaps in ${elapsed.toFixed(1)} s`);
  t.ok(finalKb - baselineKb < 1024, `RssAnon grew ${finalKb - baselineKb} kB from ${CHUNK} to ${reaps} reaps (< 1 MiB)`);
  t.ok(extrapolatedKb < 1024, `extrapolated growth over 1,000,000 reaps: ${extrapolatedKb.toFixed(0)} kB (< 1 MiB)`);
  t.same(zombieChildren(init), [], '0 zombies');
  reaper.child.stdin!.end();
  const finished = await within(reaper.finished, 20_000, 'reaper exit');
  t.equal(finished.code, 0, 'the app ended normally, exit 0');
  record('orphan-storm', 'memory', {
    reaps, seconds: elapsed, reapsPerSecond: Math.round(reaps / elapsed), idleKb, baselineKb, finalKb, maxKb,
    growthKb: finalKb - baselineKb, perReapBytes, extrapolatedKbPer1M: extrapolatedKb, samples,
  });
});
