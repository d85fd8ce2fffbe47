// --orphans terminate's bookkeeping (src/wrapper/supervisor/orphans.ts OrphanSightings): an
// orphan is due its signal when a second scan still finds it, once; and only
// what the last scan found is remembered, so a long-running app that leaves
// orphans all day does not grow reaper's memory. The real orphans, adopted
// as PID 1, are test/stress/orphan-adoption.ts's.
import t from 'tap';
import { OrphanSightings } from '../dist/wrapper/supervisor/orphans.js';

const orphan = (pid: number, startTicks = 1) => ({ pid, startTicks });

t.test('due on the second sighting, once; a reused pid is a new orphan', async (t) => {
  const sightings = new OrphanSightings();
  t.same(sightings.due([orphan(10)]), [], 'first sighting: it may still be starting');
  t.same(sightings.due([orphan(10), orphan(11)]), [orphan(10)], 'second sighting of 10; first of 11');
  t.same(sightings.due([orphan(10), orphan(11)]), [orphan(11)], '10 was signalled already');
  t.same(sightings.due([orphan(10, 7)]), [], 'pid 10 reused (another start time): first sighting');
  t.same(sightings.due([orphan(10, 7)]), [orphan(10, 7)]);
});

t.test('remembers only what the last scan found', async (t) => {
  const sightings = new OrphanSightings();
  for (let pid = 100; pid < 10_100; pid++) {
    // Each orphan is seen twice (signalled), lingers a scan (ignoring SIGTERM), then is gone.
    sightings.due([orphan(pid), orphan(pid - 1), orphan(pid - 2)].filter((o) => o.pid >= 100));
  }
  t.equal(sightings.size, 3, 'the last scan found 3: nothing else is kept (before: every key signalled since the start)');
  t.same(sightings.due([]), []);
  t.equal(sightings.size, 0);
});
