// Descriptor limits (issue 15, item 4): nothing between the spawn and the
// supervision may throw, or the app runs on unsupervised while reaper exits.
// Under every `ulimit -n` from 16 to 32, reaper either never starts the app or
// supervises it to its end and exits with its status. Before, at 20 reaper
// printed "could not start: EMFILE ... read /proc/<pid>/stat" and exited 1
// with the app already running.
import t from 'tap';
import { run, teardown, within, requirePid1 } from '../harness/index.js';
import { reaperArgv, record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const app = "echo app ran; exit 5";

t.test('ulimit -n 16..32: the app is never started, or supervised to its end', async (t) => {
  const outcomes: Record<number, string> = {};
  for (let limit = 16; limit <= 32; limit++) {
    const command = reaperArgv(['--', 'sh', '-c', app]).map((word) => `'${word}'`).join(' ');
    const reaper = run(['bash', '-c', `ulimit -n ${limit} && exec ${command}`]);
    teardown(t, reaper);
    const done = await within(reaper.finished, 20_000, `ulimit -n ${limit}`);
    const ran = /^app ran$/m.test(done.stdout);
    outcomes[limit] = ran ? `supervised, exit ${done.code}` : `not started, exit ${done.code}`;
    if (ran) t.equal(done.code, 5, `ulimit -n ${limit}: the app ran, reaper exits with its status`);
    else t.not(done.code, 0, `ulimit -n ${limit}: the app never ran, reaper fails (${done.stderr.split('\n')[0]})`);
  }
  t.ok(Object.values(outcomes).some((o) => o.startsWith('supervised')), 'some limits leave room to run the app');
  record('fd-limit', 'outcomes', outcomes);
});
