// The wake-up flood: reaper's main thread stalls for 2 s (a long GC pause,
// slow synchronous work) while 8,000 queued signals overflow the notify pipe,
// and the app exits meanwhile. The handler reaps the app and keeps its status
// where no full pipe can drop it: reaper must exit with the app's status.
// Before the redesign the app's record was dropped with the rest and reaper
// idled for ever with the app gone.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAPER, childrenOf, run, teardown, within, requirePid1 } from '../harness/index.js';
import { parseSignal } from '../../dist/core/signals.js';
import { STRESS_FIXTURES, helper, record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const sigflood = helper('sigflood');
const SIGNALS = 8000;
// Rewritten to 0: every one of them leaves a record on the pipe.
const dropped = 'SIGRTMIN+1';

for (const verbose of [false, true]) {
  // -v: orphans' names are wanted, so the handler also describes what it reaps.
  const mode = verbose ? '-v (children described)' : 'default (children counted)';
  t.test(`${mode}: main thread stalled, ${SIGNALS} queued signals overflow the notify pipe, the app exits: reaper exits with its status`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reaper-flood-'));
    const trigger = join(dir, 'stall-now');
    // The stall is loaded into reaper's own Node with --import (NODE_OPTIONS
    // is the app's, never PID 1's).
    const reaper = run([process.execPath, '--import', join(STRESS_FIXTURES, 'stall.mjs'), REAPER, ...(verbose ? ['-v'] : []),
      '-r', `${dropped}:0`, '--', 'python3', join(STRESS_FIXTURES, 'exit-on-usr1.py')], { env: { STALL_TRIGGER: trigger } });
    teardown(t, reaper);
    await within(reaper.waitFor(/^ready \d+/, 'stdout'), 15_000, 'app ready');
    const [app] = childrenOf(reaper.initPid());
    t.ok(app, "the app's host pid");

    writeFileSync(trigger, '');
    await within(reaper.waitFor(/^stalling$/, 'stderr'), 15_000, 'stall begins');
    const [, queued, failed] = /^queued (\d+) (\d+)/.exec(execFileSync(sigflood, [String(reaper.initPid()), String(SIGNALS), String(parseSignal(dropped, 'test'))], { encoding: 'utf8' }))!.map(Number);
    process.kill(app!, 'SIGUSR1');
    const exitedDuringStall = !/^stall over$/m.test(reaper.stderr());

    const done = await within(reaper.finished, 20_000, 'reaper exits after the stall');
    t.equal(queued, SIGNALS, `${SIGNALS} signals queued at reaper (${failed} refused)`);
    t.ok(exitedDuringStall, 'the signals and the exit came while the main thread was stalled');
    t.equal(done.code, 7, "reaper's status is the app's");
    if (verbose) {
      const lost = /(\d+) notify records were dropped/.exec(done.stderr);
      t.ok(lost && Number(lost[1]) > 0, `the notify pipe overflowed (${lost?.[1] ?? 0} records dropped)`);
    }
    record('wakeup-flood', mode, { signals: queued, exitCode: done.code, droppedRecords: /(\d+) notify records were dropped/.exec(done.stderr)?.[1] ?? null });
  });
}
