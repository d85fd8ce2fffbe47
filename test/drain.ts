// Draining: when the main child exits, every remaining descendant gets
// SIGTERM, a grace period, then SIGKILL; reaper exits last, with the main
// child's status. As PID 1 (unshare) and as subreaper.
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fixture, runReaper, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const dir = mkdtempSync(join(tmpdir(), 'reaper-drain-'));
let files = 0;
const newFile = () => join(dir, `flush-${++files}.txt`);
const lines = (file: string) => readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);

for (const pid1 of [true, false]) {
  const mode = pid1 ? 'as PID 1' : 'as subreaper';

  t.test(`${mode}: a daemon left behind finishes its shutdown work`, async (t) => {
    const file = newFile();
    const reaper = runReaper(['--', fixture('spawn-daemon.sh'), file], { pid1 });
    await reaper.waitFor(/flusher ready/);
    const done = await reaper.finished;
    t.equal(done.code, 0, "the main child's status");
    t.equal(lines(file).at(-1), 'done', 'the daemon wrote all 20 lines and "done" before reaper exited');
    t.equal(lines(file).length, 21);
    t.match(done.stderr, /NOTICE: drained 1 process in \d+m?s; 1 exited on SIGTERM \(slowest after \d+m?s\)/);
  });

  t.test(`${mode}: a daemon in its own session (setsid) is drained too`, async (t) => {
    const file = newFile();
    const reaper = runReaper(['--', fixture('spawn-daemon.sh'), file, 'setsid'], { pid1, env: { EXIT_CODE: '3' } });
    await reaper.waitFor(/flusher ready/);
    const done = await reaper.finished;
    t.equal(done.code, 3, "still the main child's status");
    t.equal(lines(file).at(-1), 'done');
  });
}

t.test('negative control: with --no-drain the daemon is cut short', async (t) => {
  const file = newFile();
  const reaper = runReaper(['--no-drain', '--', fixture('spawn-daemon.sh'), file]);
  await reaper.waitFor(/flusher ready/);
  const done = await reaper.finished;
  t.equal(done.code, 0);
  // PID 1 exited at once and the kernel SIGKILLed the namespace: no SIGTERM,
  // so not one line of shutdown work.
  t.same(lines(file), [], 'nothing was flushed');
  t.notMatch(done.stderr, /drained/);
});

t.test('a process that ignores SIGTERM is killed after the grace period', async (t) => {
  const file = newFile();
  const reaper = runReaper(['--grace', '500ms', '--', fixture('spawn-daemon.sh'), file], { env: { IGNORE_TERM: '1', EXIT_CODE: '4' } });
  await reaper.waitFor(/flusher ready/);
  const start = performance.now();
  const done = await reaper.finished;
  const elapsed = performance.now() - start;
  t.equal(done.code, 4, "the main child's status, not the killed daemon's");
  t.match(done.stderr, /drained 1 process in [\d.]+m?s; 1 killed after the 500ms grace period: \d+ \((node|MainThread|node-MainThread)\)/); // Node 24 names its main thread MainThread, Node 26 node-MainThread
  t.ok(elapsed >= 500, `waited out the grace period (${Math.round(elapsed)} ms)`);
  t.ok(elapsed < 500 + 2000, `then stopped promptly (${Math.round(elapsed)} ms, grace 500 ms)`);
});

t.test('--drain-signal and REAPER_GRACE choose the signal and the grace period', async (t) => {
  const file = newFile();
  // slow-flush does its work on SIGTERM only: drained with SIGINT, it dies
  // at once (default action) and writes nothing.
  const reaper = runReaper(['--drain-signal', 'SIGINT', '--', fixture('spawn-daemon.sh'), file], { env: { REAPER_GRACE: '2s' } });
  await reaper.waitFor(/flusher ready/);
  const done = await reaper.finished;
  t.same(lines(file), []);
  t.match(done.stderr, /1 exited on SIGINT/);
});

t.test('race: 1,500 processes exiting around SIGTERM and SIGKILL leave nothing behind', async (t) => {
  const marker = `reaper-race-${process.pid}`;
  // Background sleeps of random length; a third ignore SIGTERM so that the
  // SIGKILL phase also races with processes exiting by themselves.
  const script = `
    i=0
    while [ $i -lt 1500 ]; do
      r=$(( (i * 7919) % 60 ))
      if [ $((i % 3)) -eq 0 ]; then (trap '' TERM; exec sleep 0.$r) & else sleep 0.$r & fi
      i=$((i + 1))
    done
    echo started; exit 0`;
  for (const pid1 of [true, false]) {
    const reaper = runReaper(['--grace', '300ms', '--', 'sh', '-c', script], { pid1, env: { REAPER_RACE_MARKER: marker } });
    await reaper.waitFor(/^started$/);
    const done = await reaper.finished;
    t.equal(done.code, 0, `${pid1 ? 'PID 1' : 'subreaper'}: the main child's status`);
    t.notMatch(done.stderr, /ERROR|could not/, 'no error lines');
    t.match(done.stderr, /drained \d+ processes/, 'drain summary');
    if (!pid1) {
      // Outside a namespace nothing kills leftovers for us: look for any
      // process still carrying the marker.
      const left = readdirSync('/proc').filter((name) => /^\d+$/.test(name)).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, 'latin1').includes(marker);
        } catch {
          return false;
        }
      });
      t.same(left, [], 'no process (or zombie) of the run is left');
    }
  }
});

t.test('--stop-timeout escalates to SIGKILL when the child ignores SIGTERM', async (t) => {
  const reaper = runReaper(['--stop-timeout', '300ms', '--', process.execPath, fixture('print-signals.js')], { env: { KEEP_ON_TERM: '1' } });
  await reaper.waitFor(/^ready/);
  reaper.signal('SIGTERM');
  await reaper.waitFor(/^signal SIGTERM$/);
  const done = await reaper.finished;
  t.equal(done.code, 137, 'killed: 128+SIGKILL');
  t.match(done.stderr, /WARN: .*print-signals\.js \(pid \d+\) did not exit within 300ms of SIGTERM; sending SIGKILL/);

  // Without it the child keeps running after SIGTERM (and still answers).
  const plain = runReaper(['--', process.execPath, fixture('print-signals.js')], { env: { KEEP_ON_TERM: '1' } });
  await plain.waitFor(/^ready/);
  plain.signal('SIGTERM');
  await plain.waitFor(/^signal SIGTERM$/);
  plain.signal('SIGUSR1');
  await plain.waitFor(/^signal SIGUSR1$/);
  plain.signal(35); // SIGRTMIN+1: the child has no handler for it
  t.equal((await plain.finished).code, 128 + 35, 'ended only by the next, unhandled, signal');
});

// A SIGINT, or a second SIGTERM, during the drain ends the grace at once:
// SIGKILL to what is left, one line saying so, the app's status. The helper
// ignores SIGTERM, so only SIGKILL ends it.
const ignoring = { EXIT_CODE: '3', IGNORE_TERM: '1' };
async function interrupt(grace: string, signals: NodeJS.Signals[], pid1 = true) {
  const file = newFile();
  const reaper = runReaper(['-v', '--grace', grace, '--', fixture('spawn-daemon.sh'), file, 'setsid'], { pid1, env: ignoring });
  await reaper.waitFor(/exited with code 3/, 'stderr');
  const start = performance.now();
  for (const [i, signal] of signals.entries()) {
    reaper.signal(signal);
    // Each one seen before the next is sent (a fact, but the log line shows it arrived).
    if (i < signals.length - 1) await reaper.waitFor(/after the app exited; the drain goes on/, { stream: 'stderr', count: i + 1 });
  }
  const done = await reaper.finished;
  return { done, ms: performance.now() - start };
}

for (const pid1 of [true, false]) {
  const mode = pid1 ? 'as PID 1' : 'as subreaper';
  t.test(`${mode}: SIGINT during the drain ends the 30 s grace at once`, async (t) => {
    const { done, ms } = await interrupt('30s', ['SIGINT'], pid1);
    t.equal(done.code, 3, "the app's status");
    t.equal(done.stderr.match(/WARN: drain interrupted by SIGINT; sending SIGKILL to 1 process\n/g)?.length, 1, 'said once', { stderr: done.stderr });
    t.match(done.stderr, /drained 1 process in [\d.]+m?s; 1 killed when SIGINT interrupted the drain/);
    t.ok(ms < 5000, `exited ${Math.round(ms)} ms after the SIGINT`);
  });
}

t.test('as PID 1: a first SIGTERM after the app exited lets the drain go on; a second ends it', async (t) => {
  const { done, ms } = await interrupt('30s', ['SIGTERM', 'SIGTERM']);
  t.equal(done.code, 3);
  t.match(done.stderr, /received SIGTERM(?: from pid \d+)? after the app exited; the drain goes on \(a SIGINT or a second SIGTERM ends it at once\)/);
  t.match(done.stderr, /drain interrupted by SIGTERM; sending SIGKILL to 1 process/);
  t.ok(ms < 5000, `${Math.round(ms)} ms`);
});

t.test('control: another signal (SIGUSR1) during the drain changes nothing: the whole grace period', async (t) => {
  const { done, ms } = await interrupt('2s', ['SIGUSR1']);
  t.equal(done.code, 3);
  t.notMatch(done.stderr, /drain interrupted/);
  t.match(done.stderr, /1 killed after the 2\.00s grace period/);
  t.ok(ms >= 1900, `${Math.round(ms)} ms`);
});
