// reaper-zombies and zombieCensus(): a parent that never waits is named with
// its command line and count; under reaper as PID 1 its zombies disappear once
// it dies, under node as PID 1 they stay; --json, --max, usage errors, running
// unprivileged and while processes come and go.
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fixture, run, runReaper, teardown, until, requirePid1, type Running } from './harness/index.js';
import { census, parseCgroupPath, zombieCensus, CENSUS_SCHEMA_VERSION, type CensusReport, type ZombieGroup } from '../dist/census/census.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const ZOMBIES = join(ROOT, 'dist', 'census', 'zombies-cli.js');
const node = process.execPath;
const NEVER_WAITS = '$| = 1; for (1..5) { fork or exit 0 } print "forked\\n"; sleep 1000';

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

// tap's NODE_OPTIONS loader writes into .tap/, which an unprivileged census cannot; and tap's
// spawn hook puts it back into any env given to spawn, so env -u takes it out at exec.
const WITHOUT_TAP_LOADER = ['env', '-u', 'NODE_OPTIONS'];

function zombiesCli(args: string[], options: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): Cli {
  const command = [...WITHOUT_TAP_LOADER, ...(options.prefix ?? []), node, ZOMBIES, ...args];
  const result = spawnSync(command[0]!, command.slice(1), { env: { ...process.env, ...options.env }, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const groupOf = (pid: number, groups = zombieCensus()): ZombieGroup | undefined => groups.find((g) => g.parent.pid === pid);

/** Waits until the process run leaks five zombies (NEVER_WAITS); its pid and their group. */
async function fiveZombies(leak: ReturnType<typeof run>, what: string): Promise<{ pid: number; group: ZombieGroup }> {
  await leak.waitFor(/^forked$/, { timeoutMs: 15_000 });
  const pid = leak.child.pid!;
  const group = await until(() => {
    const g = groupOf(pid);
    return g && g.count === 5 ? g : undefined;
  }, 10_000, `five zombies under ${what}`);
  return { pid, group };
}

t.test('a parent that never waits: named with its command line and count', async (t) => {
  const perl = run(['perl', '-e', NEVER_WAITS], { pid1: false });
  teardown(t, perl);
  const { pid, group } = await fiveZombies(perl, 'perl');
  t.equal(group.parent.comm, 'perl');
  t.equal(group.parent.command, `perl -e ${NEVER_WAITS}`, 'the full command line');
  t.equal(group.parent.kind, 'process', 'a live process, not an init');
  t.equal(group.pids.length, 5);
  t.same(new Set(group.comms), new Set(['perl']));
  t.ok(group.oldestAgeMs !== null && group.oldestAgeMs >= 0 && group.oldestAgeMs < 60_000, `oldest age ${group.oldestAgeMs}ms`);
  t.match(group.advice, /is alive and has not waited.*fix it.*restart it/);

  const text = zombiesCli([]);
  t.equal(text.code, 0, 'no --max: exit 0 even with zombies');
  t.match(text.stdout, new RegExp(`parent pid ${pid} \\[process\\]: perl -e \\$\\| = 1; for \\(1\\.\\.5\\)`));
  t.match(text.stdout, /5 zombies \(perl\), oldest started \S+ ago: pids( \d+){5}\n/);
  t.match(text.stdout, /what to do: perl \(pid \d+\) is alive/);

  // Negative control: once the parent is gone, nothing is listed under it.
  perl.child.kill('SIGKILL');
  await perl.finished;
  await until(() => (groupOf(pid) ? undefined : true), 10_000, 'perl group to disappear');
  t.pass('no group under the dead parent');
});

t.test('--max: exit 1 above the threshold, 0 at or below it; env twin; option wins', async (t) => {
  const perl = run(['perl', '-e', NEVER_WAITS], { pid1: false });
  teardown(t, perl);
  await perl.waitFor(/^forked$/, { timeoutMs: 15_000 });
  await until(() => (groupOf(perl.child.pid!)?.count === 5 ? true : undefined), 10_000, 'five zombies');
  // Other tests may add zombies of their own meanwhile: compare to what the census saw.
  const total = census().total;
  const above = zombiesCli(['--max', String(total + 50)]);
  t.equal(above.code, 0, `--max ${total + 50}: healthy`);
  t.match(above.stdout, /^healthy: \d+ zombies, at most --max \d+$/m);
  const below = zombiesCli(['--max', '4']);
  t.equal(below.code, 1, '--max 4 with at least 5 zombies: exit 1');
  t.match(below.stdout, /^unhealthy: \d+ zombies, more than --max 4$/m);
  t.equal(zombiesCli(['--max=4']).code, 1, '--max=4 form');
  t.equal(zombiesCli([], { env: { REAPER_ZOMBIES_MAX: '4' } }).code, 1, 'REAPER_ZOMBIES_MAX=4');
  t.equal(zombiesCli(['--max', String(total + 50)], { env: { REAPER_ZOMBIES_MAX: '0' } }).code, 0, 'the option wins over the variable');
  t.equal(zombiesCli([], { env: { REAPER_ZOMBIES_MAX: '' } }).code, 0, 'an empty variable is unset');
  const json = JSON.parse(zombiesCli(['--json', '--max', '4']).stdout) as CensusReport & { max: number; exceeded: boolean };
  t.equal(json.max, 4);
  t.equal(json.exceeded, true);
});

t.test('--json: valid, versioned, stable schema', async (t) => {
  const perl = run(['perl', '-e', NEVER_WAITS], { pid1: false });
  teardown(t, perl);
  await perl.waitFor(/^forked$/, { timeoutMs: 15_000 });
  await until(() => (groupOf(perl.child.pid!)?.count === 5 ? true : undefined), 10_000, 'five zombies');
  const out = zombiesCli(['--json']);
  t.equal(out.code, 0);
  t.equal(out.stderr, '');
  const report = JSON.parse(out.stdout) as Record<string, unknown> & CensusReport;
  t.same(Object.keys(report).sort(), ['exceeded', 'exitedLeaders', 'groups', 'max', 'notes', 'scanned', 'time', 'total', 'version']);
  t.equal(report.version, CENSUS_SCHEMA_VERSION);
  t.equal(report.version, 1);
  t.equal(report.max, null);
  t.ok(!Number.isNaN(Date.parse(report.time)), 'time is an ISO date');
  t.equal(report.total, report.groups.reduce((sum, g) => sum + g.count, 0), 'total is the sum of the counts');
  const group = report.groups.find((g) => g.parent.pid === perl.child.pid)!;
  t.ok(group, 'the perl group is there');
  t.same(Object.keys(group).sort(), ['advice', 'comms', 'count', 'oldestAgeMs', 'parent', 'pids']);
  t.same(Object.keys(group.parent).sort(), ['cgroup', 'comm', 'command', 'kind', 'namespacePid', 'pid']);
  if (group.parent.cgroup) {
    t.same(Object.keys(group.parent.cgroup).sort(), ['containerId', 'label', 'path', 'podUid', 'runtime', 'unit']);
  }
  for (const g of report.groups) {
    t.equal(g.pids.length, g.count);
    t.equal(g.comms.length, g.count);
    t.ok(['reaper', 'init', 'pid1-not-init', 'process', 'outside', 'gone'].includes(g.parent.kind));
  }
  t.equal(group.parent.command, `perl -e ${NEVER_WAITS}`);
  t.equal(group.count, 5);
});

t.test('under reaper as PID 1: the zombies of a killed parent are reaped (0 left)', async (t) => {
  // sh waits for perl; perl never waits for its five children. When perl is
  // killed they are re-parented to PID 1, which must reap them.
  const reaper = runReaper(['-v', '--', 'sh', '-c', `perl -e '${NEVER_WAITS}'; echo perl-gone; exec sleep 1000`]);
  teardown(t, reaper);
  await reaper.waitFor(/^forked$/, { timeoutMs: 15_000 });
  const init = reaper.initPid();
  const perlGroup = await until(() => zombieCensus().find((g) => g.count === 5 && g.parent.namespacePid !== g.parent.pid &&
    g.parent.command?.startsWith('perl -e')), 10_000, 'five zombies under perl in the namespace');
  t.equal(perlGroup.parent.kind, 'process');
  const perlInside = perlGroup.parent.namespacePid!;
  t.ok(perlInside > 1 && perlInside !== perlGroup.parent.pid, `perl is pid ${perlInside} in the namespace`);

  // The census inside the namespace, as a HEALTHCHECK would run it.
  const enter = ['nsenter', '-t', String(init), '-p', '-m'];
  const inside = zombiesCli(['--json', '--max', '0'], { prefix: enter });
  t.equal(inside.code, 1, 'inside: 5 zombies > --max 0');
  const insideReport = JSON.parse(inside.stdout) as CensusReport;
  t.equal(insideReport.total, 5);
  t.equal(insideReport.groups[0]!.parent.pid, perlInside, 'inside, the parent is named by its namespace pid');
  t.equal(insideReport.groups[0]!.parent.kind, 'process');

  process.kill(perlGroup.parent.pid, 'SIGKILL');
  await reaper.waitFor(/^perl-gone$/, { timeoutMs: 15_000 });
  const reaped = await until(() => {
    const n = reaper.stderr().match(/reaped orphan pid \d+ \(perl\): exited with code 0/g)?.length ?? 0;
    return n === 5 ? n : undefined;
  }, 10_000, 'five reap lines');
  t.equal(reaped, 5, 'reaper logged five reaped perl orphans');
  const after = await until(() => {
    const r = zombiesCli(['--max', '0'], { prefix: enter });
    return r.code === 0 ? r : undefined;
  }, 10_000, 'no zombies inside the namespace');
  t.match(after.stdout, /^no zombies \(\d+ processes scanned\)$/m);
  t.notOk(zombieCensus().some((g) => g.parent.pid === init || g.parent.pid === perlGroup.parent.pid), 'host view: none under reaper or perl');
  reaper.signal('SIGTERM');
  await reaper.finished;
});

t.test('negative control: under node as PID 1 (no init) the orphans stay zombies', async (t) => {
  const app = run([node, fixture('node-as-init.js'), 'sh', '-c', 'sleep 0.05 & sleep 0.05 & sleep 0.05 & echo spawned']);
  teardown(t, app);
  await app.waitFor(/^child exited 0$/, { timeoutMs: 15_000 });
  const init = app.initPid();
  const group = await until(() => {
    const g = groupOf(init);
    return g && g.count === 3 ? g : undefined;
  }, 10_000, 'three zombies under node as PID 1');
  t.equal(group.parent.kind, 'pid1-not-init');
  t.equal(group.parent.namespacePid, 1);
  t.match(group.parent.command, /node-as-init\.js/);
  t.same(group.comms, ['sleep', 'sleep', 'sleep']);
  t.match(group.advice, /PID 1 of its container but not an init.*reaper/);
  const text = zombiesCli([]);
  t.match(text.stdout, new RegExp(`parent pid ${init} \\(pid 1 in its namespace\\) \\[pid1-not-init\\]`));
  app.signal('SIGTERM');
  await app.finished;
});

t.test('usage errors: one line on stderr, exit 2, no stack trace', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--max', 'lots'], {}, /^reaper-zombies: --max: "lots" is not a number of zombies/],
    [['--max', '-1'], {}, /not a number of zombies/],
    [['--max'], {}, /^reaper-zombies: option --max needs a value/],
    [['--bogus'], {}, /^reaper-zombies: unknown option "--bogus"; see reaper-zombies --help/],
    [['extra'], {}, /^reaper-zombies: unexpected argument "extra"/],
    [['--json=yes'], {}, /takes no value/],
    [[], { REAPER_ZOMBIES_MAX: 'x' }, /^reaper-zombies: REAPER_ZOMBIES_MAX: "x" is not a number/],
  ];
  for (const [args, env, pattern] of cases) {
    const out = zombiesCli(args, { env });
    t.equal(out.code, 2, `${args.join(' ') || JSON.stringify(env)}: exit 2`);
    t.match(out.stderr, pattern);
    t.equal(out.stderr.trim().split('\n').length, 1, 'one line');
    t.notMatch(out.stderr, /\n\s+at /, 'no stack trace');
    t.equal(out.stdout, '');
  }
  const help = zombiesCli(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: reaper-zombies \[--json\] \[--max N\]/);
  t.match(help.stdout, /REAPER_ZOMBIES_MAX/);
});

t.test('without privileges: still lists root-owned zombies', async (t) => {
  const perl = run(['perl', '-e', NEVER_WAITS], { pid1: false });
  teardown(t, perl);
  await perl.waitFor(/^forked$/, { timeoutMs: 15_000 });
  await until(() => (groupOf(perl.child.pid!)?.count === 5 ? true : undefined), 10_000, 'five zombies');
  const out = zombiesCli(['--json'], { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] });
  t.equal(out.code, 0, `exit 0 as nobody (stderr: ${out.stderr})`);
  const report = JSON.parse(out.stdout) as CensusReport;
  const group = report.groups.find((g) => g.parent.pid === perl.child.pid);
  t.equal(group?.count, 5);
  t.equal(group?.parent.command, `perl -e ${NEVER_WAITS}`);
});

t.test('hidepid: an unprivileged census says what it cannot see', async (t) => {
  const perl = run(['perl', '-e', NEVER_WAITS], { pid1: false });
  teardown(t, perl);
  await perl.waitFor(/^forked$/, { timeoutMs: 15_000 });
  await until(() => (groupOf(perl.child.pid!)?.count === 5 ? true : undefined), 10_000, 'five zombies');
  const script = `mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid=65534 --regid=65534 --clear-groups "${node}" "${ZOMBIES}" --json`;
  const out = await run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { pid1: false }).finished;
  if (out.code !== 0 && /mount/.test(out.stderr)) {
    t.skip(`cannot mount a hidepid /proc here: ${out.stderr.trim()}`);
    return;
  }
  t.equal(out.code, 0, out.stderr);
  const report = JSON.parse(out.stdout) as CensusReport;
  t.notOk(report.groups.some((g) => g.parent.pid === perl.child.pid), 'root-owned zombies are invisible');
  t.match(report.notes.join('\n'), /hidepid=(2|invisible)/);
});

t.test('processes exiting mid-scan never break the census', async (t) => {
  // Two churners: a shell forking short processes, and perl forking children
  // and reaping each at once, so /proc entries vanish between readdir and read.
  const churn = [
    spawn('sh', ['-c', 'while :; do /bin/true; done'], { stdio: 'ignore' }),
    spawn('perl', ['-e', 'while (1) { my $p = fork // next; if (!$p) { exit 0 } waitpid($p, 0) }'], { stdio: 'ignore' }),
  ];
  t.teardown(() => churn.forEach((c) => c.kill('SIGKILL')));
  let scans = 0;
  let errors = 0;
  for (let i = 0; i < 300; i++) {
    try {
      const report = census();
      if (report.total !== report.groups.reduce((s, g) => s + g.count, 0)) errors++;
      scans++;
    } catch (error) {
      errors++;
      t.fail(`census threw: ${(error as Error).stack}`);
      break;
    }
  }
  t.equal(scans, 300, '300 scans under churn');
  t.equal(errors, 0);
  const runs = await Promise.all(Array.from({ length: 8 }, () => new Promise<Cli>((resolve) => {
    const child = spawn(node, [ZOMBIES, '--json']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  })));
  for (const r of runs) {
    t.equal(r.code, 0);
    t.equal(r.stderr, '');
    t.equal((JSON.parse(r.stdout) as CensusReport).version, 1);
  }
});

t.test('cgroup paths name containers, pods and units', async (t) => {
  const id = 'a'.repeat(12) + '0123456789abcdef'.repeat(3) + 'b'.repeat(4);
  t.equal(id.length, 64);
  const docker = parseCgroupPath(`/docker/${id}`);
  t.equal(docker.containerId, id);
  t.equal(docker.runtime, 'docker');
  t.equal(docker.label, `docker container ${id.slice(0, 12)}`);
  const systemdDocker = parseCgroupPath(`/system.slice/docker-${id}.scope`);
  t.equal(systemdDocker.containerId, id);
  t.equal(systemdDocker.runtime, 'docker');
  t.equal(systemdDocker.unit, `docker-${id}.scope`);
  const kube = parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12345678_abcd_ef01_2345_6789abcdef01.slice/cri-containerd-${id}.scope`);
  t.equal(kube.podUid, '12345678-abcd-ef01-2345-6789abcdef01');
  t.equal(kube.containerId, id);
  t.equal(kube.runtime, 'cri-containerd');
  t.match(kube.label, /^kubernetes pod 12345678-abcd-ef01-2345-6789abcdef01 container aaaaaaaaaaaa$/);
  const kubeFs = parseCgroupPath(`/kubepods/besteffort/pod12345678-abcd-ef01-2345-6789abcdef01/${id}`);
  t.equal(kubeFs.podUid, '12345678-abcd-ef01-2345-6789abcdef01');
  t.equal(kubeFs.runtime, 'kubernetes');
  const unit = parseCgroupPath('/system.slice/nginx.service');
  t.equal(unit.unit, 'nginx.service');
  t.equal(unit.label, 'unit nginx.service');
  t.equal(unit.containerId, null);
  const session = parseCgroupPath('/user.slice/user-1000.slice/session-3.scope');
  t.equal(session.label, 'unit session-3.scope');
  // Negative controls: a 32-hex id is no container, the root names nothing.
  t.equal(parseCgroupPath('/process_api/21eed9432a5f219eb02e4a23ee05b390').label, null);
  t.equal(parseCgroupPath('/').label, null);
});

/** The app makes two zombies while reaper is stopped (so it cannot reap them yet); the census's group for them. */
const STOPPED_REAPER_APP = 'echo ready; read go; (true &); (true &); echo spawned; exec sleep 1000';
async function zombiesUnderStoppedReaper(t: Test, reaper: Running): Promise<{ pid: number; group: ZombieGroup }> {
  t.teardown(() => {
    try {
      process.kill(reaper.initPid(), 'SIGCONT');
    } catch {
      // already gone
    }
    reaper.child.kill('SIGKILL');
  });
  await reaper.waitFor(/^ready$/, { timeoutMs: 15_000 });
  const pid = reaper.initPid();
  process.kill(pid, 'SIGSTOP');
  reaper.child.stdin!.write('go\n');
  await reaper.waitFor(/^spawned$/, { timeoutMs: 15_000 });
  const group = await until(() => {
    const g = groupOf(pid);
    return g && g.count === 2 ? g : undefined;
  }, 10_000, 'two zombies under the stopped reaper');
  return { pid, group };
}

t.test('zombies under reaper itself are called transient (reaper stopped so it cannot reap yet)', async (t) => {
  const reaper = runReaper(['--', 'sh', '-c', STOPPED_REAPER_APP], { pid1: false, stdin: 'pipe' });
  const { pid, group } = await zombiesUnderStoppedReaper(t, reaper);
  t.equal(group.parent.kind, 'reaper', 'recognised as reaper by its bundle');
  t.match(group.advice, /^transient: reaper reaps/);
  process.kill(pid, 'SIGCONT');
  await until(() => (groupOf(pid) ? undefined : true), 10_000, 'reaper to reap them once resumed');
  t.pass('reaped once resumed');
  reaper.signal('SIGTERM');
  t.equal((await reaper.finished).code, 143);
});

t.test('a reaper in its own mount namespace, at a path the host does not have, is recognised from outside', async (t) => {
  // As a container's reaper seen from the host: the package is bind-mounted at
  // pkg/ only inside a private mount namespace (the host's pkg/ is empty), so
  // its bundle's path means something only through /proc/<pid>/root.
  const dir = mkdtempSync(join(tmpdir(), 'reaper-mntns-'));
  const inside = join(dir, 'pkg');
  mkdirSync(inside);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const reaper = run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
    `mount --bind "${ROOT}" "${inside}" && exec "${node}" "${inside}/dist/cli.cjs" -- sh -c '${STOPPED_REAPER_APP}'`], { pid1: false, stdin: 'pipe' });
  const { pid, group } = await zombiesUnderStoppedReaper(t, reaper);
  t.match(group.parent.command, new RegExp(`${inside}/dist/cli\\.cjs`), 'its bundle is at a path the host does not have');
  t.equal(group.parent.kind, 'reaper', 'recognised through its own root (a realpath from the host finds nothing there)');
  process.kill(pid, 'SIGCONT');
  reaper.signal('SIGTERM');
  t.equal((await reaper.finished).code, 143);
});

t.test('without the native addon: exit 3, one line naming cause and fix, never "healthy"', async (t) => {
  // A package tree as an install has it (dist/, package.json, node-gyp-build), with no
  // addon anywhere; the control is the same tree with the addon in build/Release.
  const tree = mkdtempSync(join(tmpdir(), 'reaper-no-addon-'));
  t.teardown(() => rmSync(tree, { recursive: true, force: true }));
  cpSync(join(ROOT, 'dist'), join(tree, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(tree, 'package.json'));
  mkdirSync(join(tree, 'node_modules'));
  symlinkSync(join(ROOT, 'node_modules', 'node-gyp-build'), join(tree, 'node_modules', 'node-gyp-build'));
  const cli = join(tree, 'dist', 'census', 'zombies-cli.js');
  const withoutAddon = (args: string[]) => spawnSync(WITHOUT_TAP_LOADER[0]!, [...WITHOUT_TAP_LOADER.slice(1), node, cli, ...args], { encoding: 'utf8' });

  for (const args of [['--max', '0'], ['--json'], []]) {
    const out = withoutAddon(args);
    t.equal(out.status, 3, `reaper-zombies ${args.join(' ')} exits 3`);
    t.equal(out.stdout, '', 'nothing on stdout (no report, no "healthy")');
    t.equal(out.stderr.trim().split('\n').length, 1, 'one line on stderr', { stderr: out.stderr });
    t.match(out.stderr, /native addon is missing for linux-/, 'names the cause');
    t.match(out.stderr, /npm_config_build_from_source=true npm rebuild reaper-init/, 'names the fix');
  }

  mkdirSync(join(tree, 'build', 'Release'), { recursive: true });
  cpSync(join(ROOT, 'build', 'Release', 'reaper.node'), join(tree, 'build', 'Release', 'reaper.node'));
  const control = await run([node, cli, '--max', '0']).finished;
  t.equal(control.code, 0, 'control: with the addon, the same tree reports', { stderr: control.stderr });
  t.match(control.stdout, /^healthy: 0 zombies/m, 'control: healthy in an empty pid namespace');
});

t.test('/proc not mounted: exit 3, one line naming cause and fix', async (t) => {
  // An empty tmpfs over /proc, in a private mount namespace: what a chroot without /proc shows.
  const script = `mount -t tmpfs none /proc && exec "${node}" "${ZOMBIES}" --max 0`;
  const out = await run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script], { pid1: false }).finished;
  t.equal(out.code, 3, 'exits 3', { stderr: out.stderr });
  t.equal(out.stdout, '', 'never "healthy"');
  t.equal(out.stderr.trim().split('\n').length, 1, 'one line', { stderr: out.stderr });
  t.match(out.stderr, /\/proc .*mount -t proc proc \/proc/, 'names cause and fix');
});

t.test('/proc unreadable for lack of fds (EMFILE): names the fd limit, not a missing /proc', async (t) => {
  // The census's process opens every fd it may first, then asks: readdir of /proc fails with EMFILE.
  const script = `import { openSync } from 'node:fs';
const { census } = await import(${JSON.stringify(join(ROOT, 'dist', 'census', 'census.js'))});
census(); // loads the addon and everything lazy while fds are left
const held = [];
try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (error) { if (error.code !== 'EMFILE') throw error; }
try { census(); console.log('no error'); } catch (error) { console.log(error.code, error.message); }`;
  const out = spawnSync(WITHOUT_TAP_LOADER[0]!, [...WITHOUT_TAP_LOADER.slice(1), 'sh', '-c', `ulimit -n 64 && exec "${node}" --input-type=module -e "$0"`, script], { encoding: 'utf8' });
  t.equal(out.status, 0, 'ran', { stderr: out.stderr });
  t.match(out.stdout, /^ERR_REAPER_PROC \/proc cannot be read \(EMFILE\); this process has too many open files: raise its fd limit \(ulimit -n\)/, 'names the cause and the fix');
  t.notMatch(out.stdout, /mount/, 'no advice to mount procfs');
});

t.test('a program called reaper that is not reaper is named by what it is, not "transient"', async (t) => {
  // The census says "reaper" only when the executable or the script node runs
  // is a file of a reaper-init package, never for an argv word or a comm.
  const dir = mkdtempSync(join(tmpdir(), 'not-reaper-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'reaper');
  writeFileSync(script, `#!/usr/bin/perl\n${NEVER_WAITS}\n`, { mode: 0o755 });
  for (const [how, argv] of [['perl <dir>/reaper (as python3 /srv/app/reaper)', ['perl', script]], ['a script named reaper, run directly (comm "reaper")', [script]]] as const) {
    const leak = run([...argv], { pid1: false });
    teardown(t, leak);
    const { group } = await fiveZombies(leak, how);
    t.equal(group.parent.kind, 'process', `${how}: a live process that never waits`);
    t.match(group.advice, /is alive and has not waited/, `${how}: told to fix it, not "nothing to do"`);
    leak.signal('SIGKILL');
    await leak.finished;
  }
});
