// Production shutdown (issue 17): --forward-delay, --pause, --orphans
// terminate and LISTEN_PID, with reaper as a real PID 1 (unshare) or as a
// subreaper. Each behaviour has its negative control. The delay tests measure
// time, necessarily: the app prints when its SIGTERM arrived (epoch ms) and
// the assertions are "not before the delay" with a generous upper bound.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fixture, requirePid1, run, runReaper, until, zombieChildren, REAPER } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const app = [node, fixture('shutdown-app.js')];
/** waitFor, failing after 20 s (the line is expected long before). */
const termAt = (stdout: string) => Number(/^signal SIGTERM (\d+)$/m.exec(stdout)?.[1]);

t.test('--forward-delay 1s: SIGTERM reaches the app after 1 s, not before; one log line', async (t) => {
  const reaper = runReaper(['--forward-delay', '1s', '--', ...app]);
  await reaper.waitFor(/^ready /);
  const sent = Date.now();
  reaper.signal('SIGTERM');
  const [, at] = await reaper.waitFor(/^signal SIGTERM (\d+)$/);
  const done = await reaper.finished;
  const waited = Number(at) - sent;
  t.ok(waited >= 1000, `held for ${waited} ms, not less than 1000`);
  t.ok(waited < 6000, `but not much longer (${waited} ms)`);
  t.equal(done.code, 0, 'the app ended on its SIGTERM');
  t.equal(done.stderr.match(/holding SIGTERM for 1\.00s \(--forward-delay\)/g)?.length, 1, 'one log line when the delay starts');
});

t.test('control: without --forward-delay the SIGTERM arrives at once', async (t) => {
  const reaper = runReaper(['--', ...app]);
  await reaper.waitFor(/^ready /);
  const sent = Date.now();
  reaper.signal('SIGTERM');
  const [, at] = await reaper.waitFor(/^signal SIGTERM (\d+)$/);
  t.ok(Number(at) - sent < 1000, `arrived after ${Number(at) - sent} ms (the delay test's bound would fail)`);
  t.notMatch((await reaper.finished).stderr, /holding/);
});

for (const second of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`--forward-delay 60s: a ${second} during the delay forwards the SIGTERM at once`, async (t) => {
    const reaper = runReaper(['--forward-delay', '60s', '--', ...app], { env: { KEEP_ON_TERM: '1' } });
    await reaper.waitFor(/^ready /);
    reaper.signal('SIGTERM');
    await reaper.waitFor(/holding SIGTERM/, 'stderr');
    t.notMatch(reaper.stdout(), /signal SIGTERM/, 'held so far');
    const sent = Date.now();
    reaper.signal(second);
    await reaper.waitFor(/^signal SIGTERM \d+$/);
    t.ok(termAt(reaper.stdout()) - sent < 20_000, 'long before the 60 s delay');
    if (second === 'SIGINT') {
      // Both are sent at once; when both are pending in the app, the kernel
      // delivers the lower number (SIGINT) first, so their order is not asserted.
      await reaper.waitFor(/^signal SIGINT \d+$/);
      t.pass('the SIGINT reached the app too');
    }
    // Exactly one SIGTERM: the second stands for the held one.
    reaper.signal('SIGUSR1');
    await reaper.waitFor(/^signal SIGUSR1/);
    t.equal(reaper.stdout().match(/^signal SIGTERM/gm)?.length, 1, 'the app got one SIGTERM');
    reaper.signal('SIGKILL');
    await reaper.finished;
  });
}

t.test('--forward-delay: other signals are forwarded as usual meanwhile', async (t) => {
  const reaper = runReaper(['--forward-delay', '60s', '--', ...app], { env: { KEEP_ON_TERM: '1' } });
  await reaper.waitFor(/^ready /);
  reaper.signal('SIGTERM');
  await reaper.waitFor(/holding SIGTERM/, 'stderr');
  reaper.signal('SIGHUP');
  await reaper.waitFor(/^signal SIGHUP/);
  t.notMatch(reaper.stdout(), /signal SIGTERM/, 'the SIGTERM is still held');
  reaper.signal('SIGKILL');
  await reaper.finished;
});

t.test('--forward-delay counts toward --stop-timeout', async (t) => {
  // Delay 2 s, stop timeout 3 s: SIGKILL 3 s after the SIGTERM arrived, not 2 + 3.
  const reaper = runReaper(['--forward-delay', '2s', '--stop-timeout', '3s', '--', ...app], { env: { KEEP_ON_TERM: '1' } });
  await reaper.waitFor(/^ready /);
  const sent = Date.now();
  reaper.signal('SIGTERM');
  await reaper.waitFor(/^signal SIGTERM/);
  const done = await reaper.finished;
  const took = Date.now() - sent;
  t.equal(done.code, 137, 'the app was killed');
  t.match(done.stderr, /did not exit within 3\.00s of SIGTERM; sending SIGKILL/);
  t.ok(termAt(done.stdout) - sent >= 2000, 'the SIGTERM came after the delay');
  t.ok(took >= 3000 && took < 4800, `killed ${took} ms after the SIGTERM arrived (5000 if the delay did not count)`);
});

t.test('--forward-delay not shorter than --stop-timeout is a usage error', async (t) => {
  const done = await runReaper(['--forward-delay', '5s', '--stop-timeout', '5s', '--', 'true'], { pid1: false }).finished;
  t.equal(done.code, 2);
  t.match(done.stderr, /^reaper: --forward-delay \(5000 ms\) is not shorter than --stop-timeout \(5000 ms\)/);
  t.equal(done.stderr.split('\n').length, 2, 'one line');
});

for (const [how, argv, env] of [['--stop-timeout 0', ['--stop-timeout', '0'], {}], ['REAPER_STOP_TIMEOUT=0', [], { REAPER_STOP_TIMEOUT: '0' }]] as const) {
  t.test(`${how}: SIGKILL as soon as the SIGTERM is forwarded (README: "this long after"), not a --forward-delay error`, async (t) => {
    const reaper = runReaper([...argv, '--', ...app], { env: { KEEP_ON_TERM: '1', ...env } });
    await reaper.waitFor(/^ready /);
    reaper.signal('SIGTERM');
    const done = await reaper.finished;
    t.equal(done.code, 137, 'the app, which keeps running on SIGTERM, was killed');
    t.match(done.stderr, /did not exit within 0ms of SIGTERM; sending SIGKILL/);
    t.notMatch(done.stderr, /forward-delay/);
  });
}

/** Context switches of every thread of pid (each is one wake-up). */
function contextSwitches(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    for (const [, n] of status.matchAll(/ctxt_switches:\s+(\d+)/g)) total += Number(n);
  }
  return total;
}

/** Every thread of pid asleep: the switch into the sleep is counted by then. */
function asleep(pid: number): boolean {
  return readdirSync(`/proc/${pid}/task`).every((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'S';
  });
}

async function wakeUps(pid: number, ms: number): Promise<number> {
  await until(() => asleep(pid), 10_000, 'every thread asleep');
  const before = contextSwitches(pid);
  await new Promise((resolve) => setTimeout(resolve, ms)); // the measurement window itself
  return contextSwitches(pid) - before;
}

t.test('--pause as PID 1: 0 wake-ups, reaps every orphan, exits 0 on SIGTERM', async (t) => {
  const reaper = runReaper(['-v', '--pause']);
  await reaper.waitFor(/no program \(--pause\)/, 'stderr');
  const init = reaper.initPid();
  const woke = await wakeUps(init, 3000);
  t.equal(woke, 0, `no thread of reaper woke up in 3 s (${woke})`);
  // Orphans made inside its pid namespace come to it.
  const made = spawnSync('nsenter', ['-t', String(init), '-p', 'sh', fixture('make-orphans.sh'), '20'], { encoding: 'utf8' });
  t.match(made.stdout, /orphans ready/);
  await reaper.waitFor(/reaped orphan pid \d+ \(sleep\)/, { stream: 'stderr', count: 20 });
  t.same(zombieChildren(init), [], 'no zombie left');
  reaper.signal('SIGTERM');
  const done = await reaper.finished;
  t.equal(done.code, 0);
  t.match(done.stderr, /received SIGTERM: exiting 0 \(20 orphans reaped\)/);
});

t.test('--pause exits 0 on SIGINT; -P and REAPER_PAUSE are its twins; a program is a usage error', async (t) => {
  for (const [args, env] of [[['-P'], {}], [[], { REAPER_PAUSE: '1' }]] as const) {
    const reaper = runReaper(['-v', ...args], { env });
    await reaper.waitFor(/no program \(--pause\)/, 'stderr');
    reaper.signal('SIGINT');
    t.equal((await reaper.finished).code, 0, `${args.join('') || 'REAPER_PAUSE=1'}: exit 0`);
  }
  const withProgram = await runReaper(['--pause', '--', 'sleep', '1'], { pid1: false }).finished;
  t.equal(withProgram.code, 2);
  t.match(withProgram.stderr, /--pause runs no program, but "sleep" was given/);
  const control = await runReaper([], { pid1: false }).finished;
  t.equal(control.code, 2, 'control: without --pause, no program is a usage error');
});

t.test('control: the wake-up meter sees a process that wakes', async (t) => {
  const ticking = run([node, '-e', 'console.log("ready"); setInterval(() => {}, 50)']);
  await ticking.waitFor(/^ready$/);
  t.ok(await wakeUps(ticking.initPid(), 1000) >= 10, 'a 50 ms timer counts');
  ticking.signal('SIGKILL');
  await ticking.finished;
});

t.test('--orphans terminate: an orphan adopted while the app runs is signalled; the attached helper and the app are not', async (t) => {
  const reaper = runReaper(['--orphans', 'terminate', '--', ...app], { env: { HELPERS: '1', KEEP_ON_TERM: '1' } });
  const [, orphan] = await reaper.waitFor(/^orphan ready (\d+)$/);
  await reaper.waitFor(/^ready /);
  await reaper.waitFor(/^orphan got SIGTERM$/);
  // The app still runs: it answers.
  reaper.signal('SIGUSR1');
  await reaper.waitFor(/^signal SIGUSR1/);
  const log = reaper.stderr();
  t.match(log, new RegExp(`orphan pid ${orphan} \\(\\S*node -e .*\\) was re-parented to reaper while the app runs: sent SIGTERM, SIGKILL in 5\\.00s`), 'logged with pid and command');
  t.equal(log.match(/was re-parented/g)?.length, 1, 'only the orphan');
  t.notMatch(reaper.stdout(), /attached got SIGTERM/, 'the helper attached below the app was left alone');
  reaper.signal('SIGKILL');
  await reaper.finished;
});

t.test('--orphans terminate: SIGKILL after the grace period', async (t) => {
  // The subshell exits at once, orphaning a sleep that ignores SIGTERM from its start; sh then becomes the app.
  const reaper = runReaper(['-v', '--orphans', 'terminate', '--grace', '500ms', '--', 'sh', '-c',
    '(trap "" TERM; sleep 1000 &); echo started; exec sleep 1001']);
  // Signalled on the second scan that finds it, long after its exec of sleep: named by its own command line, not the sh -c one.
  const [, pid] = await reaper.waitFor(/orphan pid (\d+) \(sleep 1000\) was re-parented to reaper while the app runs: sent SIGTERM, SIGKILL in 500ms/, 'stderr');
  await reaper.waitFor(new RegExp(`orphan pid ${pid} \\(.*\\) outlived the grace period of 500ms: sent SIGKILL`), 'stderr');
  await reaper.waitFor(new RegExp(`reaped orphan pid ${pid} \\(sleep\\): was killed by SIGKILL`), 'stderr');
  reaper.signal('SIGTERM');
  t.equal((await reaper.finished).code, 143, 'the app (sleep 1001) was never touched by the policy: SIGTERM ended it');
});

t.test('control: without --orphans terminate the orphan lives while the app runs', async (t) => {
  const reaper = runReaper(['--', ...app], { env: { HELPERS: '1', KEEP_ON_TERM: '1' } });
  await reaper.waitFor(/^orphan ready \d+$/);
  await reaper.waitFor(/^ready /);
  // Two scan intervals of the terminate policy: nothing may happen in them.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  t.notMatch(reaper.stdout(), /got SIGTERM/, 'no helper was signalled');
  t.notMatch(reaper.stderr(), /re-parented/);
  reaper.signal('SIGTERM');
  await reaper.waitFor(/^signal SIGTERM/);
  reaper.signal('SIGKILL');
  await reaper.finished;
});

t.test('LISTEN_PID naming reaper reaches the app as the app\'s own pid', async (t) => {
  const reaper = runReaper(['--', ...app], { env: { LISTEN_PID: '1' } });
  const pid1 = await reaper.waitFor(/^ready (\d+) LISTEN_PID=(\d*)$/);
  t.equal(pid1[2], pid1[1], `as PID 1: LISTEN_PID=1 became ${pid1[2]}`);
  t.not(pid1[1], '1');
  reaper.signal('SIGTERM');
  await reaper.finished;
  // Not PID 1: the shell's pid becomes reaper's through exec.
  const sub = run(['sh', '-c', `LISTEN_PID=$$ exec ${node} ${REAPER} -- ${app.join(' ')}`], { pid1: false });
  const [, pid, listen] = await sub.waitFor(/^ready (\d+) LISTEN_PID=(\d*)$/);
  t.equal(listen, pid, 'as a subreaper too');
  t.not(listen, String(sub.child.pid));
  sub.signal('SIGTERM');
  await sub.finished;
});

t.test('socket activation: the LISTEN_FDS sockets reach the app with LISTEN_PID; control: not for another LISTEN_PID', async (t) => {
  // The probe opens nothing itself before it looks (node would: its epoll fd is 3).
  const probe = `sh -c 'if [ -e /proc/$$/fd/3 ]; then read -r line <&3; else line=none; fi; echo "fd3=$line pid=$$ LISTEN_PID=$LISTEN_PID"'`;
  const activated = (listenPid: string) =>
    run(['sh', '-c', `exec 3</etc/hostname; LISTEN_PID=${listenPid} LISTEN_FDS=1 exec ${node} ${REAPER} -- ${probe}`], { pid1: false }).finished;
  const passed = await activated('$$');
  const hostname = readFileSync('/etc/hostname', 'utf8').split('\n')[0];
  t.match(passed.stdout, new RegExp(`^fd3=${hostname} pid=(\\d+) LISTEN_PID=\\1$`, 'm'), 'fd 3 and LISTEN_PID=<its pid> reached the app');
  const other = await activated('4242');
  t.match(other.stdout, /^fd3=none pid=\d+ LISTEN_PID=4242$/m, 'sockets for another process stay with reaper (close-on-exec)');
});

t.test('control: LISTEN_PID naming another process is passed unchanged', async (t) => {
  const reaper = runReaper(['--', ...app], { env: { LISTEN_PID: '4242' } });
  const [, , listen] = await reaper.waitFor(/^ready (\d+) LISTEN_PID=(\d*)$/);
  t.equal(listen, '4242');
  reaper.signal('SIGTERM');
  await reaper.finished;
  const unset = runReaper(['--', ...app]);
  t.equal((await unset.waitFor(/^ready (\d+) LISTEN_PID=(\d*)$/))[2], '', 'absent stays absent');
  unset.signal('SIGTERM');
  await unset.finished;
});
