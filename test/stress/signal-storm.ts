// Signal storm: 10,000 mixed signals in one second to PID 1, half of them
// real-time. reaper stays alive and responsive (SIGTERM afterwards still ends
// it with 143), and every queued real-time signal reaches the child. Standard
// signals are a pending bit, not a queue: repeats of one coalesce (in reaper
// and again in the child), so only "at least one of each" is asserted.
import t from 'tap';
import { run, teardown, within, requirePid1 } from '../harness/index.js';
import { helper, reaperArgv, record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const sigcount = helper('sigcount');
const sigstorm = helper('sigstorm');
const TOTAL = 10_000;

t.test(`${TOTAL.toLocaleString('en')} mixed signals in 1 s to PID 1`, async (t) => {
  const reaper = run(reaperArgv(['--', sigcount, String(TOTAL / 2)]));
  teardown(t, reaper);
  await reaper.waitFor(/^ready$/);
  const storm = run([sigstorm, String(reaper.initPid()), String(TOTAL), '1000'], { pid1: false });
  const [, rtOk, stdOk, failed, ms] = (await within(storm.waitFor(/^sent (\d+) (\d+) (\d+) ([\d.]+)/), 10_000, 'storm')).map(Number);
  t.equal(failed, 0, 'the kernel queued every signal (no EAGAIN)');
  t.ok(ms! < 1500, `sent in ${ms} ms`);
  const all = await within(reaper.waitFor(/^all rt received$/), 30_000, 'real-time signals at the child').catch(() => null);
  t.ok(all && all.index !== -1, `all ${rtOk} real-time signals reached the child`);
  const out = reaper.stdout();
  const rtCounts = [...out.matchAll(/^rt (\d+): (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  const stdCounts = [...out.matchAll(/^standard (\d+): (\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
  t.equal(rtCounts.length, 8, 'eight real-time numbers seen');
  t.ok(rtCounts.every(([, n]) => n === rtOk! / 8), `each of SIGRTMIN..SIGRTMIN+7 arrived ${rtOk! / 8} times`);
  t.equal(stdCounts.length, 6, 'each of the six standard signals arrived at least once');
  const stdReceived = stdCounts.reduce((sum, [, n]) => sum + n!, 0);
  t.ok(reaper.child.exitCode === null, 'reaper is alive after the storm');
  reaper.signal('SIGTERM');
  await within(reaper.waitFor(/^term$/), 10_000, 'SIGTERM after the storm');
  const done = await within(reaper.finished, 10_000, 'reaper exit');
  t.equal(done.code, 143, 'SIGTERM still ends it properly: the child died of SIGTERM, exit 143');
  record('signal-storm', 'storm', {
    sent: TOTAL, sendMs: ms, rtSent: rtOk, rtReceived: rtCounts.reduce((s, [, n]) => s + n!, 0),
    standardSent: stdOk, standardReceived: stdReceived, exitCode: done.code,
  });
});
