// --forward-delay under a flood: reaper's main thread stalls for 2 s while
// 8,000 queued signals overflow the notify pipe, and docker stop's SIGTERM
// comes last, so its wake-up record is dropped with the others. The handler
// holds the SIGTERM in an atomic (a fact, not a record): after the stall the
// app must still get it, not before the delay, and reaper must exit with the
// app's status.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAPER, fixture, run, teardown, requirePid1 } from '../harness/index.js';
import { parseSignal } from '../../dist/core/signals.js';
import { STRESS_FIXTURES, helper, record } from '../harness/stress.js';

requirePid1(t);

const sigflood = helper('sigflood');
const SIGNALS = 8000;
const dropped = 'SIGRTMIN+1'; // rewritten to 0: every one leaves a record on the pipe

t.test(`a SIGTERM held for --forward-delay survives a full notify pipe (${SIGNALS} signals while the main thread stalls)`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reaper-held-'));
  const trigger = join(dir, 'stall-now');
  const reaper = run([process.execPath, '--import', join(STRESS_FIXTURES, 'stall.mjs'), REAPER, '-v', '--forward-delay', '1s',
    '-r', `${dropped}:0`, '--', process.execPath, fixture('shutdown-app.js')], { env: { STALL_TRIGGER: trigger } });
  teardown(t, reaper);
  await reaper.waitFor(/^ready \d+/, { stream: 'stdout', timeoutMs: 15_000 });

  writeFileSync(trigger, '');
  await reaper.waitFor(/^stalling$/, { stream: 'stderr', timeoutMs: 15_000 });
  const [, queued] = /^queued (\d+) (\d+)/.exec(execFileSync(sigflood, [String(reaper.initPid()), String(SIGNALS), String(parseSignal(dropped, 'test'))], { encoding: 'utf8' }))!.map(Number);
  const sent = Date.now();
  reaper.signal('SIGTERM');
  const duringStall = !/^stall over$/m.test(reaper.stderr());

  const [, at] = await reaper.waitFor(/^signal SIGTERM (\d+)$/, { stream: 'stdout', timeoutMs: 20_000 });
  const done = await reaper.finished;
  const lost = Number(/(\d+) notify records were dropped/.exec(done.stderr)?.[1] ?? 0);
  t.equal(queued, SIGNALS, `${SIGNALS} signals queued at reaper`);
  t.ok(duringStall, 'the flood and the SIGTERM came while the main thread was stalled');
  t.ok(lost > SIGNALS - 6553, `the pipe overflowed: ${lost} records dropped (room for 6,553), the SIGTERM's among them`);
  t.ok(Number(at) - sent >= 1000, `the app got the SIGTERM ${Number(at) - sent} ms after it was sent, not before the delay`);
  t.match(done.stderr, /holding SIGTERM for 1\.00s/, 'the delay was logged from the fact');
  t.equal(done.code, 0, "reaper's status is the app's (it exits 0 on SIGTERM)");
  record('held-term', 'flood', { signals: queued, droppedRecords: lost, termAfterMs: Number(at) - sent });
});
