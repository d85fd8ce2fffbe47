// The drain on hosts that make PID 1's life hard (issue 15): a seccomp profile
// that denies pidfds with EPERM, a daemon stopped with SIGSTOP, /proc mounted
// hidepid=1 under an unprivileged reaper, and a /proc that is not reaper's own
// (unshare --pid without --mount-proc). Each case is a daemon that must get its
// SIGTERM to flush: slow-flush.js writes 20 lines and "done" on SIGTERM.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REAPER, ROOT, childrenOf, fixture, run, type Running, teardown, within, requirePid1 } from '../harness/index.js';
import { helper, record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const denyPidfd = helper('deny-pidfd');
// Readable and writable by the unprivileged reaper of the hidepid cases.
const dir = mkdtempSync(join(tmpdir(), 'reaper-hostile-'));
chmodSync(dir, 0o777);
let files = 0;
const newFile = () => join(dir, `flush-${++files}.txt`);
const flushed = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const script = (name: string, body: string) => {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return path;
};
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
const drainLine = (stderr: string) => /NOTICE: (drained.*)/.exec(stderr)?.[1];

/** A fifo the unprivileged app reads its go from: the test sends it once a root process is in place. */
function goFifo(name: string): string {
  const path = join(dir, name);
  const made = spawnSync('mkfifo', ['-m', '666', path]);
  if (made.status !== 0) throw new Error(`mkfifo ${path}: ${made.stderr}`);
  return path;
}

/**
 * A root process entered into the pid namespace of init (host pid), as
 * `docker exec -u 0` does: not reaper's child, and an unprivileged reaper may
 * not signal it. It dies with the namespace.
 */
async function enterAsRoot(t: { teardown(fn: () => void): void }, init: number): Promise<number> {
  const entered = run(['nsenter', '-t', String(init), '--pid', 'sh', '-c', 'echo entered $$; exec sleep 1000'], { pid1: false });
  teardown(t, entered);
  const [, pid] = await within(entered.waitFor(/^entered (\d+)$/), 20_000, 'root process entered');
  return Number(pid);
}

/** Kills the namespace's PID 1 of an unshare run by hand (the harness only knows its own --mount-proc runs). */
function killNamespaceOnTeardown(t: { teardown(fn: () => void): void }, running: Running) {
  t.teardown(() => {
    if (running.child.exitCode !== null) return;
    for (const init of childrenOf(running.child.pid!)) try { process.kill(init, 'SIGKILL'); } catch {}
    try { running.child.kill('SIGKILL'); } catch {}
  });
}

// ----- 1. pidfds denied by seccomp -------------------------------------------

t.test('seccomp denies pidfd_open and pidfd_send_signal with EPERM: the drain falls back to kill and the daemon flushes', async (t) => {
  const file = newFile();
  // The flusher, 20 sleeps that die on SIGTERM and 20 that ignore it (for
  // SIGKILL; ignored when forked, so no SIGTERM can come before the trap).
  const app = script('seccomp-app.sh', `${fixture('spawn-daemon.sh')} ${file}
i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done
trap '' TERM
i=0; while [ $i -lt 20 ]; do sleep 1000 & i=$((i+1)); done
echo app exits`);
  const reaper = run([denyPidfd, '1', node, REAPER, '--grace', '1s', '--', app]);
  teardown(t, reaper);
  await within(reaper.waitFor(/^app exits$/), 20_000, 'app');
  const done = await within(reaper.finished, 20_000, 'drain');
  t.equal(done.code, 0, "the app's status (deny-pidfd exits 1 if the filter did not deny pidfd_open)");
  t.same(flushed(file).slice(-1), ['done'], 'the daemon got its SIGTERM and flushed all 20 lines');
  t.notMatch(done.stderr, /could not send/, 'no signal was refused');
  t.match(done.stderr, /drained 41 processes in [\d.]+m?s; 21 exited on SIGTERM \(slowest after [\d.]+m?s\); 20 killed after the 1\.00s grace period/,
    'the report counts what really happened');
  record('hostile-hosts', 'seccomp-eperm', { processes: 41, flushedLines: flushed(file).length, drain: drainLine(done.stderr), exitCode: done.code });
});

t.test('seccomp denies pidfds and kill() is refused too (another user\'s process): the error names kill, the call that failed', async (t) => {
  // An unprivileged process asks the addon to signal a root process (this test's own), or itself.
  // Checked by hand on the build before the fix: the error named pidfd_send_signal.
  const probe = (target: string) => `const { native } = await import(${JSON.stringify(join(ROOT, 'dist', 'core', 'native.js'))});
const addon = native();
const target = ${target};
try { addon.signalProcess(target, addon.procStat(target).startTicks, 0); console.log('sent'); }
catch (error) { console.log('refused', error.code, error.syscall); }`;
  // env -u: tap's hook puts its loader back into NODE_OPTIONS, and nobody may not write its files.
  const probeWith = (target: string) => spawnSync('env', ['-u', 'NODE_OPTIONS', denyPidfd, '1', ...NOBODY, node, '--input-type=module', '-e', probe(target)],
    { encoding: 'utf8' });
  const denied = probeWith(String(process.pid));
  t.equal(denied.stdout.trim(), 'refused EPERM kill', `the fallback's kill failed and is named\n${denied.stderr}`);
  const own = probeWith('process.pid');
  t.equal(own.stdout.trim(), 'sent', `control: its own process, through the same fallback, is signalled\n${own.stderr}`);
});

// The main child's pidfd opens, or not; either way every send through it
// fails with EPERM, so forwarding (the handler) and the SIGKILL (JavaScript)
// must both fall back to a checked kill(): after its pidfd says it has not
// exited, or without one after its start time in /proc. Before the fix, with
// pidfd_open allowed, both failed: the SIGUSR1 never arrived.
for (const [mode, filter] of [['allows pidfd_open but denies pidfd_send_signal', ['--send-only']], ['denies both pidfd calls', []]] as const) {
  t.test(`seccomp ${mode}: signals reach the app, and --stop-timeout kills it`, async (t) => {
    const reaper = run([denyPidfd, ...filter, '1', node, REAPER, '--stop-timeout', '1s', '--', node, fixture('print-signals.js')],
      { env: { KEEP_ON_TERM: '1' } });
    teardown(t, reaper);
    await within(reaper.waitFor(/^ready \d+$/), 20_000, 'app ready');
    reaper.signal('SIGUSR1');
    await within(reaper.waitFor(/^signal SIGUSR1$/), 10_000, 'SIGUSR1 forwarded');
    reaper.signal('SIGTERM');
    await within(reaper.waitFor(/^signal SIGTERM$/), 10_000, 'SIGTERM forwarded');
    const done = await within(reaper.finished, 20_000, 'the app is killed after --stop-timeout');
    t.match(done.stderr, /did not exit within 1\.00s of SIGTERM; sending SIGKILL/);
    t.equal(done.code, 137, 'the app was SIGKILLed: 128+9 (deny-pidfd exits 1 if the filter was not as asked)');
    t.notMatch(done.stderr, /could not/, 'no signal was refused');
  });
}

// ----- 2. a stopped daemon ---------------------------------------------------

t.test('a SIGSTOPped daemon that traps SIGTERM gets SIGCONT after it and flushes', async (t) => {
  const file = newFile();
  // Waits until the kernel shows the daemon stopped before the app exits.
  const app = script('stopped-app.sh', `line=$(${fixture('spawn-daemon.sh')} ${file}); pid=\${line##* }
kill -STOP $pid
until grep -q '^State:.T' /proc/$pid/status; do :; done
echo stopped $pid`);
  const reaper = run([node, REAPER, '--grace', '5s', '--', app]);
  teardown(t, reaper);
  await within(reaper.waitFor(/^stopped \d+$/), 20_000, 'stopped');
  const start = performance.now();
  const done = await within(reaper.finished, 20_000, 'drain');
  const ms = performance.now() - start;
  t.equal(done.code, 0);
  t.same(flushed(file).slice(-1), ['done'], 'the stopped daemon flushed all 20 lines');
  t.match(done.stderr, /drained 1 process in [\d.]+m?s; 1 exited on SIGTERM/);
  t.ok(ms < 5000, `without waiting out the 5 s grace period (${Math.round(ms)} ms)`);
  record('hostile-hosts', 'stopped', { flushedLines: flushed(file).length, drainMs: Math.round(ms), drain: drainLine(done.stderr) });
});

// ----- 3. hidepid and an unprivileged reaper ----------------------------------

t.test('hidepid=1, reaper unprivileged, not PID 1: root\'s processes are unreadable, the drain still completes', async (t) => {
  const file = newFile();
  // A private mount namespace gets its own proc of the host's pid namespace, mounted hidepid=1.
  const reaper = run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    `mount -t proc -o hidepid=1 proc /proc && exec ${NOBODY.join(' ')} ${node} ${REAPER} -- ${fixture('spawn-daemon.sh')} ${file}`], { pid1: false });
  teardown(t, reaper);
  const [, daemon] = await within(reaper.waitFor(/^flusher ready (\d+)$/), 20_000, 'daemon');
  t.teardown(() => {
    // Without the fix it is left running, orphaned to the host's init.
    try { if (readFileSync(`/proc/${daemon}/cmdline`, 'utf8').includes(file)) process.kill(Number(daemon), 'SIGKILL'); } catch {}
  });
  // Without the fix reaper exits at once and the orphaned daemon keeps the output pipe open: no result.
  const done = await within(reaper.finished, 20_000, 'drain');
  t.equal(done.code, 0);
  t.notMatch(done.stderr, /error/i, 'no error: unreadable entries are skipped');
  t.same(flushed(file).slice(-1), ['done'], 'its own daemon flushed before reaper exited');
  t.match(done.stderr, /drained 1 process in [\d.]+m?s; 1 exited on SIGTERM/);
  record('hostile-hosts', 'hidepid-subreaper', { flushedLines: flushed(file).length, drain: drainLine(done.stderr) });
});

t.test('hidepid=1, unprivileged PID 1: a setuid program started during the drain does not stop it, nor does a root process it cannot signal', async (t) => {
  const file = newFile();
  const go = goFifo('setuid-go');
  const setuidSleep = join(dir, 'setuid-sleep');
  copyFileSync('/bin/sleep', setuidSleep);
  chmodSync(setuidSleep, 0o4755); // owned by root: unprivileged reaper may not read its /proc entry
  // A shell that ignores SIGTERM but starts the setuid program when it gets it
  // (its sleep is forked before the trap is set, so SIGTERM ends the sleep; the
  // app waits until the trap is armed).
  const app = script('setuid-app.sh', `${fixture('spawn-daemon.sh')} ${file}
fifo=$(mktemp -u); mkfifo $fifo
(sleep 1000 & trap "${setuidSleep} 1000 & echo setuid started" TERM; echo armed > $fifo; while :; do wait; done) &
read armed < $fifo; rm -f $fifo
echo app armed; read go < ${go}
echo app exits`);
  const reaper = run(['unshare', '--pid', '--fork', '--mount', '--propagation', 'private', 'sh', '-c',
    `mount -t proc -o hidepid=1 proc /proc && exec ${NOBODY.join(' ')} ${node} ${REAPER} --grace 1s -- ${app}`], { pid1: false });
  killNamespaceOnTeardown(t, reaper);
  await within(reaper.waitFor(/^app armed$/), 20_000, 'app armed');
  // Before the fix (issue 22 review) kill(-1, 0) counted it as left: reaper
  // waited out the grace and the SIGKILL wait, and said it "survived SIGKILL".
  await enterAsRoot(t, childrenOf(reaper.child.pid!)[0]!);
  writeFileSync(go, 'go\n');
  await within(reaper.waitFor(/^app exits$/), 20_000, 'app');
  const start = performance.now();
  const done = await within(reaper.finished, 15_000, 'drain (hangs without the fix: the SIGKILL deadline was never armed)');
  const ms = performance.now() - start;
  t.match(done.stdout, /^setuid started$/m, 'the setuid program was started during the drain');
  t.equal(done.stderr.match(/\d+ process(es)? in \/proc could not be read \(hidepid/g)?.length, 1, 'reaper could not read it or the root process (said once)');
  t.notMatch(done.stderr, /survived SIGKILL|no scan of \/proc/, 'nothing is said to outlive SIGKILL, nor to be unnamed');
  t.equal(done.code, 0);
  t.same(flushed(file).slice(-1), ['done'], 'the daemon flushed');
  t.match(done.stderr, /drained 3 processes in [\d.]+m?s; 2 exited on SIGTERM \(slowest after [\d.]+m?s\); 1 killed after the 1\.00s grace period/);
  t.notMatch(done.stderr, /failed/, 'no drain step failed');
  t.ok(ms < 1000 + 2000, `done within grace + SIGKILL wait (${Math.round(ms)} ms)`);
  record('hostile-hosts', 'hidepid-setuid', { drainMs: Math.round(ms), flushedLines: flushed(file).length, drain: drainLine(done.stderr) });
});

t.test('unprivileged PID 1: a root process entered with nsenter (docker exec -u 0) is left out of reach, the drain does not wait for it', async (t) => {
  const go = goFifo('root-go');
  // A 30 s grace period: the drain ends on what is left, so waiting for it would time the test out.
  const reaper = run([...NOBODY, node, REAPER, '--grace', '30s', '--', 'sh', '-c', `echo app ready; read go < ${go}; echo app exits`]);
  teardown(t, reaper);
  await within(reaper.waitFor(/^app ready$/), 20_000, 'app ready');
  const root = await enterAsRoot(t, reaper.initPid());
  writeFileSync(go, 'go\n');
  await within(reaper.waitFor(/^app exits$/), 20_000, 'app');
  const done = await within(reaper.finished, 15_000, 'drain (before the fix: grace, SIGKILL wait, and "survived SIGKILL")');
  t.equal(done.code, 0);
  t.match(done.stderr, new RegExp(`could not send SIGTERM to pid ${root} \\(sleep\\): EPERM`), 'its SIGTERM was refused, and said so');
  t.match(done.stderr, new RegExp(`NOTICE: drained 1 process in [\\d.]+m?s; 1 could not be signalled: ${root} \\(sleep\\) SIGTERM: EPERM$`, 'm'),
    'the report names it as out of reach; no grace period ran out');
  t.notMatch(done.stderr, /survived SIGKILL|no scan of \/proc|ERROR/, 'nothing is said to outlive SIGKILL, nor to be unnamed');
  record('hostile-hosts', 'unprivileged-root-entered', { drain: drainLine(done.stderr) });
});

// ----- 6. a /proc that is not reaper's own -------------------------------------

t.test('PID 1 under the host\'s /proc (unshare --pid without --mount-proc): its own processes are drained, no host process is', async (t) => {
  const sibling = run(['python3', fixture('rt-signals.py'), '1', '2', '10', '12'], { pid1: false });
  teardown(t, sibling);
  await sibling.waitFor(/^ready/);
  const file = newFile();
  const app = script('foreign-proc-app.sh', `${fixture('spawn-daemon.sh')} ${file}
sleep 1000 &
trap '' TERM; sleep 1000 &
echo app exits`);
  const reaper = run(['unshare', '--pid', '--fork', node, REAPER, '--grace', '1s', '--', app], { pid1: false });
  killNamespaceOnTeardown(t, reaper);
  await within(reaper.waitFor(/^app exits$/), 20_000, 'app');
  const start = performance.now();
  const done = await within(reaper.finished, 20_000, 'drain');
  const ms = performance.now() - start;
  t.equal(done.code, 0);
  t.same(flushed(file).slice(-1), ['done'], 'its daemon got SIGTERM and flushed');
  t.equal(done.stderr.match(/\/proc is not reaper's own \(\/proc\/self is \d+, reaper is pid 1\)/g)?.length, 1, 'warned once');
  t.match(done.stderr, /drained the pid namespace \(unnamed: \/proc is not reaper's own\) in [\d.]+m?s; SIGKILL sent to what was left after the 1\.00s grace period/);
  t.notMatch(done.stderr, /drained \d+ process/, 'no host process is named as drained');
  t.ok(ms < 1000 + 2000, `done within grace + SIGKILL wait (${Math.round(ms)} ms)`);
  t.equal(sibling.child.exitCode, null, 'a host process is alive (SIGTERM or SIGKILL would have ended it)');
  t.notMatch(sibling.stdout(), /signal/, 'and received no signal');
  sibling.signal('SIGUSR1');
  await within(sibling.waitFor(/^signal 10$/), 5000, 'control: a signal sent to the sibling is seen');
  sibling.signal('SIGTERM');
  record('hostile-hosts', 'foreign-proc', { drainMs: Math.round(ms), flushedLines: flushed(file).length, drain: drainLine(done.stderr) });
});

t.test("not PID 1 under a /proc that is not its own: the app's process group is drained, unnamed, and it says so once", async (t) => {
  const file = newFile();
  // A flushing daemon and a TERM-ignoring sleep, both left in the app's group.
  const app = script('foreign-proc-group.sh', `${fixture('spawn-daemon.sh')} ${file}
mkfifo ${file}.ready
# The app exits only once the sleep ignores TERM (the drain's TERM must not find the subshell before its trap).
(trap '' TERM; echo > ${file}.ready; exec sleep 1000) &
read _ < ${file}.ready
echo app exits`);
  const reaper = run(['unshare', '--pid', '--fork', 'sh', '-c', `${node} ${REAPER} --grace 1s -- ${app}; echo reaper exited $?`], { pid1: false });
  killNamespaceOnTeardown(t, reaper);
  const done = await within(reaper.finished, 20_000, 'exit');
  t.match(done.stdout, /^reaper exited 0$/m);
  t.equal(done.stderr.match(/\/proc is not reaper's own \(\/proc\/self is \d+, reaper is pid \d+\), so it cannot tell its descendants from other processes: only the app's process group \(\d+\) is drained/g)?.length, 1, 'warned once');
  t.same(flushed(file).slice(-1), ['done'], 'the daemon in the app\'s group got SIGTERM and flushed (without the fix: nothing was drained)');
  t.match(done.stderr, /drained the app's process group \(unnamed: \/proc is not reaper's own\) in [\d.]+m?s; SIGKILL sent to what was left after the 1\.00s grace period/,
    'the TERM-ignoring sleep got SIGKILL');
  t.notMatch(done.stderr, /drained \d+ process|could not send/, 'no host process was named or signalled');
});
