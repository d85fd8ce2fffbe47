// PID 1 must not die by accident: an exception inside the supervisor after
// the app started is logged, and reaping, forwarding and the exit status go
// on. The fault is injected from outside (test/fixtures/fault-reap.cjs wraps
// the addon so readEvents() throws the first times it is called).
import t from 'tap';
import { fixture, REAPER, run, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

t.test('readEvents() throwing: logged, and the orphans are still reaped and signals forwarded', async (t) => {
  const app = `${fixture('make-orphans.sh')} 10 && exec ${process.execPath} ${fixture('print-signals.js')}`;
  const reaper = run([process.execPath, '-r', fixture('fault-reap.cjs'), REAPER, '-w', '--', 'sh', '-c', app], { env: { FAULTS: '2' } });
  await reaper.waitFor(/^ready/);
  t.ok(await reaper.waitFor(/reaped orphan pid \d+ \(sleep\)/, { count: 10, stream: 'stderr' }), 'all 10 orphans reaped after the faults');
  t.equal((reaper.stderr().match(/ERROR: internal error, reaping and forwarding go on: Error: injected fault in readEvents/g) ?? []).length, 2, 'both faults logged');
  reaper.signal('SIGUSR1');
  await reaper.waitFor(/^signal SIGUSR1$/);
  reaper.signal('SIGTERM');
  const done = await reaper.finished;
  t.equal(done.code, 0, "the app's status (it exits 0 on SIGTERM)");
});

t.test('readEvents() throwing when the app exits: the status still comes through', async (t) => {
  // Every readEvents() throws: the exit comes from the handler's facts alone.
  const done = await run([process.execPath, '-r', fixture('fault-reap.cjs'), REAPER, '--no-drain', '--', 'sh', '-c', 'exit 7'], { env: { FAULTS: '1000' } }).finished;
  t.equal(done.code, 7);
  t.match(done.stderr, /internal error/);
});

t.test('negative control: without the fault there is no error line', async (t) => {
  const done = await run([process.execPath, REAPER, '--', 'sh', '-c', 'exit 7']).finished;
  t.equal(done.code, 7);
  t.equal(done.stderr, '');
});
