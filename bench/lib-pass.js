// Cost of one library-mode reap pass, in a plain process that registered as
// child subreaper: `reapNow()` with nothing to reap, and with N orphan zombies
// (made by `ctl orphans N`, re-parented to us). Prints one JSON line.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ctl = fileURLToPath(new URL('out/ctl', import.meta.url));
const idleCalls = Number(process.argv[2] ?? 2000);
const orphans = Number(process.argv[3] ?? 1000);
const rounds = Number(process.argv[4] ?? 3);

const library = await import(new URL('../dist/index.js', import.meta.url).href);
if (typeof library.startReaper !== 'function') {
  console.log(JSON.stringify({ missing: true }));
  process.exit(0);
}
// graceMs 0: the pass reaps what it finds, so one pass is the whole cost.
const reaper = library.startReaper({ subreaper: true, graceMs: 0 });
const ns = (start) => Number(process.hrtime.bigint() - start);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

for (let i = 0; i < 50; i++) reaper.reapNow(); // warm-up
const idle = [];
for (let i = 0; i < idleCalls; i++) {
  const start = process.hrtime.bigint();
  reaper.reapNow();
  idle.push(ns(start));
}

const perZombie = [];
const passMs = [];
for (let round = 0; round < rounds; round++) {
  const made = spawnSync(ctl, ['orphans', String(orphans)], { stdio: 'ignore' });
  if (made.status !== 0) throw new Error(`ctl orphans failed: ${made.status}`);
  // The orphans are zombies before ctl exits, and re-parented before spawnSync
  // returns; count until all are reaped (a pass may take only part of them).
  let reaped = 0;
  const start = process.hrtime.bigint();
  let passes = 0;
  while (reaped < orphans && passes < 1000) {
    reaped += reaper.reapNow();
    passes++;
  }
  const took = ns(start);
  passMs.push(took / 1e6);
  perZombie.push(took / 1e3 / Math.max(reaped, 1));
  if (reaped < orphans) throw new Error(`reaped only ${reaped} of ${orphans}`);
}
reaper.stop();
console.log(JSON.stringify({
  idlePassUs: median(idle) / 1e3,
  idlePassMinUs: Math.min(...idle) / 1e3,
  idlePassMaxUs: Math.max(...idle) / 1e3,
  orphans,
  passMs,
  perZombieUs: perZombie,
  reaped: reaper.stats.reaped,
}));
