// --orphans terminate and an orphan still starting up (issue 22): one adopted
// just before a scan, that sets its SIGTERM handler 20 ms after its start,
// must still get a SIGTERM it can handle, and the log must name it by its own
// command line (it execs after adoption), not its parent's. 20 orphans, each
// adopted 5 ms before a scan is due: late-orphan learns when the scans fall
// from the SIGTERM of the orphan before (a probe first).
import t from 'tap';
import { runReaper, requirePid1 } from '../harness/index.js';
import { helper, record } from '../harness/stress.js';
// The fixture aims each adoption just before the next scan.
import { SCAN_MS } from '../../dist/wrapper/supervisor/orphans.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const lateOrphan = helper('late-orphan');
const ORPHANS = 20;
const HANDLER_AFTER_MS = 20;
const LEAD_MS = 5;

t.test(`an orphan that sets its SIGTERM handler ${HANDLER_AFTER_MS} ms after adoption gets a SIGTERM it can handle, ${ORPHANS} of ${ORPHANS}`, async (t) => {
  const reaper = runReaper(['--orphans', 'terminate', '--', lateOrphan, String(ORPHANS), String(HANDLER_AFTER_MS), String(SCAN_MS), String(LEAD_MS)]);
  // Each orphan is signalled one or two scans after its adoption: 20 of them take up to ~45 s.
  const [, handled] = await reaper.waitFor(/^handled (\d+) of \d+$/, { stream: 'stdout', timeoutMs: 90_000 });
  const done = await reaper.finished;
  const outcomes = done.stdout.split('\n').filter((line) => /^orphan \d+ pid \d+ /.test(line));
  const pids = outcomes.map((line) => line.split(' ')[3]);
  const namedOwn = pids.filter((pid) => new RegExp(`orphan pid ${pid} \\(\\S*late-orphan --orphan ${HANDLER_AFTER_MS} \\d+\\) was re-parented`).test(done.stderr));
  t.equal(outcomes.length, ORPHANS, `${ORPHANS} orphans adopted`);
  t.same(outcomes.filter((line) => line.endsWith('killed')), [], 'no orphan was killed by its SIGTERM before its handler was set');
  t.equal(Number(handled), ORPHANS, `${handled} of ${ORPHANS} handled their SIGTERM`);
  t.equal(namedOwn.length, ORPHANS, `${namedOwn.length} of ${ORPHANS} named in the log by their own command line`);
  t.equal(done.code, 0);
  record('orphan-adoption', 'late-handler', { orphans: ORPHANS, handlerAfterMs: HANDLER_AFTER_MS, leadMs: LEAD_MS, handled: Number(handled), namedOwn: namedOwn.length });
});
