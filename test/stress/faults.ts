// Faults: broken stderr, fork failure at the pids limit, internal errors,
// a zombie flood during the drain, and the security guarantees (no signal
// outside our descendants, no network surface).
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAPER, fixture, run, zombieChildren, teardown, until, within, requirePid1 } from '../harness/index.js';
import { helper, KEEP_NODE_OPTIONS, reaperArgv, record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const orphans = helper('orphans');
const sigcount = helper('sigcount');
const dir = mkdtempSync(join(tmpdir(), 'reaper-faults-'));

// ----- broken output ---------------------------------------------------------

// 3,000 orphans logged at -vv (~250 kB of log lines, four 64 kB pipes' worth),
// then 2,000 lines of app output and exit 7.
const noisyApp = `${orphans} 3000 100 >/dev/null; i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; exit 7`;
const stderrModes: Array<[string, string]> = [
  ['stderr closed', '2>&-'],
  ['stderr a full pipe nobody reads', '2> >(exec sleep 3600 >/dev/null 2>&1)'],
  ['stderr a pipe whose reader has gone (EPIPE)', '2> >(exec true)'],
];
for (const [name, redirect] of stderrModes) {
  t.test(`${name}: reaper never blocks or dies logging, the app is unaffected`, async (t) => {
    const start = Date.now();
    const reaper = run(['bash', '-c', `unset NODE_OPTIONS; exec ${node} ${REAPER} -vv -- sh -c '${noisyApp}' ${redirect}`]);
    teardown(t, reaper);
    const done = await within(reaper.finished, 60_000, name);
    const lines = done.stdout.split('\n').filter((l) => /^line \d+$/.test(l));
    t.equal(done.code, 7, "the app's exit code");
    t.equal(lines.length, 2000, "all 2,000 lines of the app's output");
    t.equal(lines.at(-1), 'line 1999');
    record('faults', `output-${name}`, { mode: name, exitCode: done.code, appLines: lines.length, seconds: (Date.now() - start) / 1000 });
  });
}

t.test('control: the same run with a stderr that is read logs far more than a pipe holds', async (t) => {
  const done = await within(run(['sh', '-c', `unset NODE_OPTIONS; exec ${node} ${REAPER} -vv -- sh -c '${noisyApp}'`]).finished, 60_000, 'control');
  t.equal(done.code, 7);
  t.ok(done.stderr.length > 3 * 65536, `${done.stderr.length} bytes of log lines (a pipe holds 65,536)`);
});

// ----- fork failure at the pids limit ----------------------------------------

const PIDS = '/sys/fs/cgroup/pids';
const cgroups: string[] = [];
function newCgroup(name: string): string {
  const path = join(PIDS, `reaper-stress-${process.pid}-${name}`);
  mkdirSync(path);
  cgroups.push(path);
  return path;
}
t.teardown(async () => {
  for (const path of cgroups) {
    try {
      await until(() => readFileSync(join(path, 'cgroup.procs'), 'utf8').trim() === '', 10_000, `${path} empty`);
      rmdirSync(path);
    } catch {}
  }
});

t.test('pids.max reached before the app starts: exit 1, one clear line, no hang', { skip: !existsSync(join(PIDS, 'cgroup.procs')) && 'no pids cgroup' }, async (t) => {
  const cg = newCgroup('full');
  // Loaded before reaper's own code: fills the limit with reaper's threads.
  const preload = join(dir, 'fill-limit.mjs');
  writeFileSync(preload, `import { readFileSync, writeFileSync } from 'node:fs';
writeFileSync('${cg}/pids.max', readFileSync('${cg}/pids.current', 'utf8').trim());\n`);
  const reaper = run(['sh', '-c', `echo $$ > ${cg}/cgroup.procs && exec unshare --pid --fork --mount-proc env -u NODE_OPTIONS NODE_OPTIONS=--import=${preload} ${KEEP_NODE_OPTIONS} ${node} ${REAPER} -- true`],
    { pid1: false });
  teardown(t, reaper);
  const done = await within(reaper.finished, 20_000, 'reaper at the limit');
  t.equal(done.code, 1, 'exit status 1');
  const lines = done.stderr.split('\n').filter(Boolean);
  t.equal(lines.length, 1, 'one line');
  t.match(lines[0], /could not create a process for true \(EAGAIN\): the process limit \(pids\.max or ulimit -u\)/);
  t.match(readFileSync(join(cg, 'pids.events'), 'utf8'), /max [1-9]/, 'the kernel counted the refused fork');
  record('faults', 'fork-failure', { exitCode: done.code, message: lines[0] });
});

t.test('orphans made while at the pids limit are still reaped', { skip: !existsSync(join(PIDS, 'cgroup.procs')) && 'no pids cgroup' }, async (t) => {
  const cg = newCgroup('tight');
  const reaper = run(['sh', '-c', `echo $$ > ${cg}/cgroup.procs && exec unshare --pid --fork --mount-proc env -u NODE_OPTIONS ${node} ${REAPER} -- sh -c 'echo ready; read go; ${orphans} 3000 100; exec cat'`],
    { pid1: false, stdin: 'pipe' });
  teardown(t, reaper);
  await reaper.waitFor(/^ready$/);
  const current = Number(readFileSync(join(cg, 'pids.current'), 'utf8'));
  writeFileSync(join(cg, 'pids.max'), String(current + 20));
  reaper.child.stdin!.write('go\n');
  const [, made, , failed] = (await within(reaper.waitFor(/^orphans done (\d+) in ([\d.]+) s \((\d+) failed forks\)/), 60_000, 'orphans at the limit')).map(Number);
  t.ok(failed! > 0, `the limit was hit: ${failed} forks refused`);
  t.equal(made, 3000, 'yet all 3,000 orphans were made, as reaper freed the slots');
  const init = reaper.initPid();
  t.ok(await until(() => zombieChildren(init).length === 0, 10_000, '0 zombies'), '0 zombies');
  reaper.child.stdin!.end();
  t.equal((await within(reaper.finished, 20_000, 'exit')).code, 0);
  record('faults', 'orphans-at-limit', { limit: current + 20, orphans: made, refusedForks: failed });
});

// ----- internal errors -------------------------------------------------------

function throwingPreload(when: 'supervising' | 'at once'): string {
  const file = join(dir, `throw-${when.replace(' ', '-')}.mjs`);
  writeFileSync(file, when === 'at once'
    ? `setTimeout(() => { throw new Error('injected fault'); }, 0);\n`
    : `const timer = setInterval(() => {
  if (process.listenerCount('uncaughtException') === 0) return;
  clearInterval(timer);
  setTimeout(() => { throw new Error('injected fault'); }, 0);
  Promise.reject(new Error('injected rejection'));
}, 5);\n`);
  return file;
}

t.test('an exception thrown in reaper after the child started: logged, reaping and forwarding go on', async (t) => {
  const reaper = run(reaperArgv(['--', 'sh', '-c', `echo ready; read go; ${orphans} 500 100; exec ${sigcount} 0`], `--import=${throwingPreload('supervising')}`), { stdin: 'pipe' });
  teardown(t, reaper);
  await reaper.waitFor(/^ready$/);
  // The preload throws as soon as reaper supervises (its error handlers are in place).
  await within(reaper.waitFor(/internal error, reaping and forwarding go on: Error: injected/, 'stderr'), 10_000, 'internal error line');
  reaper.child.stdin!.write('go\n');
  await within(reaper.waitFor(/^orphans done 500/), 30_000, 'orphans');
  const init = reaper.initPid();
  t.ok(await until(() => zombieChildren(init).length === 0, 10_000, 'the 500 orphans reaped'), 'the 500 orphans made after the error were reaped');
  await reaper.waitFor(/^ready$/, { count: 2 }); // the second "ready" is sigcount's (the first was sh's)
  reaper.signal('SIGTERM');
  await within(reaper.waitFor(/^term$/), 10_000, 'SIGTERM forwarded after the error');
  const done = await within(reaper.finished, 10_000, 'exit');
  t.equal(done.code, 143, 'and the exit status is still right');
  t.match(done.stderr, /internal error, reaping and forwarding go on: Error: injected/);
  t.match(done.stderr, /internal error, reaping and forwarding go on: Error: injected rejection/, 'an unhandled rejection too');
  record('faults', 'internal-error', { injection: 'preload throw after spawn', exitCode: done.code });
});

t.test('negative control: the same exception kills a Node process without reaper\'s guard', async (t) => {
  // reaper's bundle installs its guard synchronously before any timer can
  // fire, so the control runs the same fault in a plain waiting node.
  const done = await within(run(['env', `NODE_OPTIONS=--import=${throwingPreload('at once')}`, process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'], { pid1: false }).finished, 10_000, 'exit');
  t.not(done.code, 0);
  t.match(done.stderr, /Error: injected fault/);
});

// ----- drain under load ------------------------------------------------------

t.test('a zombie flood during the drain: 0 zombies, the right exit status', async (t) => {
  // The app leaves a flooder that ignores SIGTERM and exits 5; the drain then
  // runs while 20,000 orphans arrive, until the flood ends or the grace SIGKILL.
  const reaper = run(reaperArgv(['--grace', '20s', '--', 'sh', '-c',
    `(trap '' TERM; ${orphans} 20000 100; echo flood over) & echo app exits; exit 5`]), { pid1: false });
  teardown(t, reaper);
  await reaper.waitFor(/^app exits$/);
  let maxZombies = 0;
  const sampler = setInterval(() => { maxZombies = Math.max(maxZombies, zombieChildren(reaper.initPid()).length); }, 20);
  const done = await within(reaper.finished, 60_000, 'drain');
  clearInterval(sampler);
  t.equal(done.code, 5, "the app's exit status");
  t.match(done.stdout, /orphans done 20000/, 'the flood ran to its end during the drain');
  t.match(done.stderr, /drained \d+ process/, 'the drain report');
  t.same(zombieChildren(process.pid).filter((pid) => pid === reaper.child.pid), [], 'reaper itself was reaped');
  record('faults', 'drain-flood', { orphans: 20000, exitCode: done.code, maxZombiesSampled: maxZombies, drain: /NOTICE: (drained.*)/.exec(done.stderr)?.[1] });
});

// ----- security --------------------------------------------------------------

t.test('security: the drain never signals a process outside reaper\'s descendants', async (t) => {
  const sibling = run(['python3', fixture('rt-signals.py'), '1', '2', '10', '12'], { pid1: false });
  teardown(t, sibling);
  await sibling.waitFor(/^ready/);
  for (const drainSignal of ['SIGTERM', 'SIGUSR1']) {
    const reaper = run(reaperArgv(['--drain-signal', drainSignal, '--grace', '1s', '--', 'sh', '-c', 'sleep 1000 & echo left; exit 0']), { pid1: false });
    const done = await within(reaper.finished, 20_000, 'drain');
    t.equal(done.code, 0);
    t.match(done.stderr, /drained 1 process/, `the drain (${drainSignal}) signalled the daemon left behind`);
  }
  t.equal(sibling.child.exitCode, null, 'the sibling (same process group, not a descendant) is alive');
  t.notMatch(sibling.stdout(), /signal/, 'and received no signal');
  sibling.signal('SIGUSR1');
  t.ok((await sibling.waitFor(/^signal 10$/)).index !== -1, 'control: a signal sent to the sibling is seen');
  sibling.signal('SIGTERM');
  await sibling.finished;
});

/**
 * Sockets reaper opened itself: fds 0-2 are the harness's stdio socketpairs,
 * and the log writer's private copy of stderr is the same socket.
 */
function socketsOf(pid: number): string[] {
  const link = (fd: string) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } };
  const stdio = new Set(['0', '1', '2'].map(link));
  return readdirSync(`/proc/${pid}/fd`).map(link).filter((l) => l.startsWith('socket:') && !stdio.has(l));
}
/** Any socket of pid (stdio included) that is an internet socket. */
function inetSocketsOf(pid: number): string[] {
  const inodes = readdirSync(`/proc/${pid}/fd`).map((fd) => { try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; } })
    .map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1]).filter(Boolean) as string[];
  const tables = ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6'].map((f) => { try { return readFileSync(`/proc/${pid}/net/${f}`, 'utf8'); } catch { return ''; } });
  return inodes.filter((inode) => tables.some((table) => table.split('\n').some((line) => line.trim().split(/\s+/)[9] === inode)));
}
const listening9229 = () => ['tcp', 'tcp6'].some((file) => readFileSync(`/proc/net/${file}`, 'utf8').split('\n')
  .some((line) => / [0-9A-F]+:240D [0-9A-F]+:0000 0A /.test(line)));

t.test('security: no network surface, and SIGUSR1 does not open the inspector', async (t) => {
  t.equal(listening9229(), false, 'nothing listens on 9229 before');
  const reaper = run(reaperArgv(['--', sigcount, '0']));
  teardown(t, reaper);
  await reaper.waitFor(/^ready$/);
  const init = reaper.initPid();
  t.same(socketsOf(init), [], 'reaper opened no socket');
  t.same(inetSocketsOf(init), [], 'none of its descriptors is a TCP/UDP/raw socket');
  reaper.signal('SIGUSR1');
  reaper.signal('SIGTERM');
  await within(reaper.waitFor(/^term$/), 10_000, 'forwarded');
  t.same(socketsOf(init), [], 'still no socket after SIGUSR1');
  t.equal(listening9229(), false, 'nothing listens on 9229 after SIGUSR1');
  t.equal((await within(reaper.finished, 10_000, 'exit')).code, 143);
  const control = run([node, '-e', 'console.log("up"); setInterval(() => {}, 1000)'], { pid1: false });
  teardown(t, control);
  await control.waitFor(/^up$/);
  control.signal('SIGUSR1');
  t.ok(await until(listening9229, 5000, 'control: inspector on 9229'), 'control: a plain node process opens the inspector on 9229 on SIGUSR1');
  control.child.kill('SIGKILL');
});
