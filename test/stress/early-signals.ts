// Signals that arrive before the app exists (issue 15, item 8): reaper's
// handler is installed before the spawn and keeps them until the app is
// there. Real-time signals are queued, one per send, so each must be kept:
// five SIGRTMIN+2 sent in that window reach the app five times. Before, they
// were kept as one pending bit and the app got one.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSignal } from '../../dist/core/signals.js';
import { REAPER, requirePid1, run, teardown, within } from '../harness/index.js';
import { STRESS_FIXTURES, helper } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const sigflood = helper('sigflood');
const SENT = 5;

t.test(`${SENT} SIGRTMIN+2 sent before the app exists all reach it`, async (t) => {
  const early = parseSignal('SIGRTMIN+2', 'test');
  const done = parseSignal('SIGRTMAX', 'test');
  // The app starts with both blocked (handed on from reaper's parent, as the
  // launcher records it), so none is lost to a default action before it
  // counts: it waits for SIGRTMAX (sent last), then counts the queued ones.
  const blocked = ((1n << BigInt(early - 1)) | (1n << BigInt(done - 1))).toString(16).padStart(16, '0');
  const app = `import signal, sys
print("ready", flush=True)
signal.sigwait([${done}])
n = 0
while signal.sigtimedwait([${early}], 0):
    n += 1
print("received", n, flush=True)`;
  const trigger = join(mkdtempSync(join(tmpdir(), 'reaper-early-')), 'go');
  const reaper = teardown(t, run([process.execPath, '-r', join(STRESS_FIXTURES, 'pause-spawn.cjs'), REAPER, '--', 'python3', '-c', app], {
    env: { PAUSE_TRIGGER: trigger, __REAPER_LAUNCHER: `0000000000000000:${blocked}:reaper` },
  }));
  await within(reaper.waitFor(/^spawn paused$/, 'stderr'), 15_000, 'reaper paused before the spawn');
  const [, queued] = /^queued (\d+)/.exec(execFileSync(sigflood, [String(reaper.initPid()), String(SENT), String(early)], { encoding: 'utf8' }))!;
  t.equal(Number(queued), SENT, `${SENT} signals queued at reaper before the app exists`);
  writeFileSync(trigger, '');
  await reaper.waitFor(/^ready$/, 'stdout');
  reaper.signal(done);
  const [, received] = (await reaper.waitFor(/^received (\d+)$/, 'stdout'))!;
  t.equal(Number(received), SENT, `the app received all ${SENT}`);
  t.equal((await within(reaper.finished, 15_000, 'reaper exits')).code, 0);
});
