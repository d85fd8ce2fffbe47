// --stop-timeout without /proc (issue 15, item 5): the SIGKILL goes through
// the pidfd opened at spawn, which needs no /proc. Before, it went through a
// /proc start-time check that failed silently, and reaper waited for ever
// with an app that ignores SIGTERM.
import t from 'tap';
import { requirePid1, run, teardown, within } from '../harness/index.js';
import { reaperArgv } from '../harness/stress.js';

// unshare --pid (and the mount namespace whose /proc it unmounts): skipped, with the reason, where it cannot run.
requirePid1(t);

t.test('--stop-timeout kills the app through its pidfd when /proc is not mounted', async (t) => {
  // The app ignores SIGTERM, then asks reaper (its PID 1) to stop it.
  const app = 'trap "echo got TERM" TERM; echo ready; kill -TERM 1; while :; do sleep 0.1; done';
  const command = reaperArgv(['--stop-timeout', '1s', '--', 'sh', '-c', app]).map((word) => `'${word}'`).join(' ');
  const reaper = run(['unshare', '--mount', '--pid', '--fork', '--kill-child', 'sh', '-c', `umount -l /proc && test ! -e /proc/self && exec ${command}`], { pid1: false });
  teardown(t, reaper);
  await within(reaper.waitFor(/^got TERM$/, 'stdout'), 15_000, 'SIGTERM forwarded');
  const done = await within(reaper.finished, 15_000, 'reaper exits');
  t.match(done.stderr, /did not exit within 1\.00s of SIGTERM; sending SIGKILL/);
  t.equal(done.code, 137, 'the app was SIGKILLed: 128+9');
});
