// npm run bench: reaper against tini, dumb-init and catatonit, each as PID 1
// of a fresh pid namespace, interleaved within every repetition, plus a bare
// idle node as the floor. Writes BENCHMARKS.md at the repo root (never edit it
// by hand). BENCH_QUICK=1: one short repetition, written to bench/out/ only.
// Method: /work/shared/research/baseline.md (same tests, same helpers' ideas).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Session, contextSwitches, memoryOf, parseFields } from './lib/session.js';
import { evaluate, formatReport } from './lib/report.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'bench', 'out');
const QUICK = process.env.BENCH_QUICK === '1';
const config = {
  reps: Number(process.env.BENCH_REPS ?? (QUICK ? 1 : 3)),
  startupPairs: QUICK ? 5 : 10,          // per repetition
  idleSettleMs: 1000,                    // then memory is read
  wakeWindowMs: QUICK ? 2000 : 4000,     // context switches counted over this
  steadyAfterMs: QUICK ? 9000 : 10000,   // steady idle: window starts this long after ready
  steadyWindowMs: QUICK ? 3000 : 5000,
  bursts1k: QUICK ? 2 : 3,               // per repetition and init
  bursts10k: QUICK ? 1 : 2,
  ratePerSec: 2000,
  rateSecs: QUICK ? 2 : 5,
  signals: QUICK ? 20 : 50,
  signalWarmup: 5,
  signalIntervalMs: 20,
  libIdleCalls: 2000,
  libOrphans: 1000,
};

const INITS = [
  { name: 'tini', argv: ['tini', '--'], package: 'tini' },
  { name: 'dumb-init', argv: ['dumb-init'], package: 'dumb-init' },
  { name: 'catatonit', argv: ['catatonit', '--'], package: 'catatonit' },
  // The native launcher, which every install's bin execs (installPaths: those bins themselves).
  { name: 'reaper', argv: [join(ROOT, 'build', 'Release', 'reaper-launcher'), '--'] },
];
const ANCHORS = INITS.filter((init) => init.package).map((init) => init.name);
const NODE_IDLE = ['-e', 'require("fs").writeSync(3, "ready\\n"); setInterval(() => {}, 1e9)'];

const log = (message) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
const which = (program) => spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
const firstLine = (command, args) => {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return `${result.stdout}${result.stderr}`.trim().split('\n')[0] ?? '';
};
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function ensureInits() {
  const missing = INITS.filter((init) => init.package && !which(init.argv[0]));
  if (!missing.length) return;
  const packages = missing.map((init) => init.package);
  log(`installing ${packages.join(' ')} from Debian`);
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', ...packages], { stdio: 'inherit' }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit' });
    if (install() !== 0) throw new Error(`apt-get install ${packages.join(' ')} failed`);
  }
}

function compileHelpers() {
  mkdirSync(OUT, { recursive: true });
  for (const name of ['pidns', 'ctl', 'sigsend']) {
    execFileSync('gcc', ['-O2', '-Wall', '-pthread', '-o', join(OUT, name), join(ROOT, 'bench', 'c', `${name}.c`)], { stdio: 'inherit' });
  }
}

/** One timed run as PID 1 of a new namespace; returns wall and CPU ms. */
function timedPid1(argv) {
  const result = spawnSync(join(OUT, 'pidns'), ['-t', '--', ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const wall = result.stderr.match(/wall_ns (\d+)/);
  const cpu = result.stderr.match(/cpu_ns (\d+)/);
  if (result.status !== 0 || !wall || !cpu) throw new Error(`${argv.join(' ')} as PID 1 failed (${result.status}): ${result.stderr}`);
  return { wall: Number(wall[1]) / 1e6, cpu: Number(cpu[1]) / 1e6 };
}

/**
 * Node's environment is the same for every run: reaper's launcher hides
 * NODE_* / UV_* from the Node that runs reaper, so a `node -e 0` started with
 * them would be measured doing work reaper's node never does (a machine with
 * NODE_EXTRA_CA_CERTS makes every node start ~30 ms slower: reaper would look
 * twice as fast as its own floor). They are removed for the whole run.
 */
function sameNodeEnvironment() {
  const removed = Object.keys(process.env).filter((name) => /^(NODE_|UV_)/.test(name));
  for (const name of removed) delete process.env[name];
  return removed;
}

/** Rotates the order of the inits each repetition, so none is always first. */
const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);

const samples = {}; // samples[metric][who] = number[]
const perRep = {};  // perRep[metric][who] = [median of rep 1, ...]
const add = (metric, who, value, rep) => {
  ((samples[metric] ??= {})[who] ??= []).push(value);
  if (rep !== undefined) {
    const list = ((perRep[metric] ??= {})[who] ??= []);
    (list[rep] ??= []).push(value);
  }
};

/**
 * Each install path's bin as users get it: a tarball of this tree, its prebuilds this
 * build's launcher and addon (as prepack makes them), installed with no install script by
 * npm (a link to the sh bin: npm 11, 12 and --ignore-scripts link the same) and by pnpm 10
 * from the registry (its shell shim runs the sh bin; skipped, with a note, when pnpm cannot
 * be fetched); and node on the bundle by hand (no launcher: it starts node again only when
 * NODE_OPTIONS is set, which it is not here). Each bin's first run makes its code cache,
 * as a user's first start does.
 */
function installPaths() {
  const dir = join(OUT, 'install-paths');
  rmSync(dir, { recursive: true, force: true });
  const pkg = join(dir, 'package');
  const prebuilds = join(pkg, 'prebuilds', `linux-${process.arch}`);
  mkdirSync(prebuilds, { recursive: true });
  for (const name of ['package.json', 'bin', 'dist', 'LICENSE']) cpSync(join(ROOT, name), join(pkg, name), { recursive: true, filter: (path) => !path.endsWith('.cache') });
  copyFileSync(join(ROOT, 'build', 'Release', 'reaper-launcher'), join(prebuilds, 'reaper-launcher'));
  copyFileSync(join(ROOT, 'build', 'Release', 'reaper.node'), join(prebuilds, 'reaper.glibc.node'));
  const quiet = { stdio: ['ignore', 'ignore', 'inherit'] };
  execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: pkg, ...quiet });
  const tarball = join(dir, readdirSync(dir).find((name) => name.endsWith('.tgz')));
  const project = (name) => {
    const path = join(dir, name);
    mkdirSync(path);
    writeFileSync(join(path, 'package.json'), '{ "name": "bench-app", "version": "1.0.0", "private": true }\n');
    return path;
  };
  const npm = project('npm');
  execFileSync('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', tarball], { cwd: npm, ...quiet });
  const paths = [{ name: 'npm bin', what: 'node_modules/.bin/reaper: npm\'s link to the sh bin, which execs the launcher', argv: [join(npm, 'node_modules', '.bin', 'reaper'), '--'] }];
  const pnpm = project('pnpm');
  try {
    execFileSync('npx', ['--yes', 'pnpm@10', 'add', '--store-dir', join(dir, 'pnpm-store'), tarball], { cwd: pnpm, ...quiet });
    paths.push({ name: 'pnpm bin', what: 'node_modules/.bin/reaper: pnpm\'s shell shim, then the sh bin, then the launcher', argv: [join(pnpm, 'node_modules', '.bin', 'reaper'), '--'] });
  } catch (error) {
    log(`pnpm 10 could not install the tarball (${error.message.split('\n')[0]}): no pnpm row`);
  }
  paths.push({ name: 'node on the bundle', what: '`node node_modules/reaper-init/dist/cli.cjs`: no launcher', argv: [process.execPath, join(npm, 'node_modules', 'reaper-init', 'dist', 'cli.cjs'), '--'] });
  for (const path of paths) spawnSync(path.argv[0], [...path.argv.slice(1), 'true']);
  return paths;
}

function startupRound(rep, paths) {
  const trueBin = which('true');
  const pair = (who, argv) => {
    const withInit = timedPid1(argv);
    const bare = timedPid1([trueBin]);
    for (const [unit, suffix] of [['wall', ''], ['cpu', '_cpu']]) {
      add(`startup${suffix}_init_ms`, who, withInit[unit], rep);
      add(`startup${suffix}_bare_ms`, who, bare[unit], rep);
      add(`startup${suffix}_overhead_ms`, who, withInit[unit] - bare[unit], rep);
    }
  };
  for (let round = 0; round < config.startupPairs; round++) {
    // node -e 0 takes its turn among the inits, so no one is always first.
    for (const init of rotate([...INITS, ...paths, { name: 'node', argv: [process.execPath, '-e', '0'] }], rep + round)) {
      pair(init.name, init.name === 'node' ? init.argv : [...init.argv, trueBin]);
    }
  }
}

async function idleFigures(session, who, rep) {
  const pid = session.pid1();
  await delay(config.idleSettleMs); // measurement: memory after 1 s idle
  const memory = memoryOf(pid);
  add('rss_kb', who, memory.rssKb, rep);
  add('pss_kb', who, memory.pssKb, rep);
  add('anon_kb', who, memory.anonKb, rep);
  add('threads', who, memory.threads, rep);
  const before = contextSwitches(pid);
  await delay(config.wakeWindowMs); // measurement: switches over the window
  const after = contextSwitches(pid);
  add('wakeups_per_s', who, (after - before) / (config.wakeWindowMs / 1000), rep);
}

async function signalRun(session, who, metric, rep, pinCpu) {
  const fifo = join(OUT, `sig-${process.pid}-${who}.fifo`);
  rmSync(fifo, { force: true });
  execFileSync('mkfifo', [fifo]);
  const args = [join(OUT, 'sigsend'), String(session.pid1()), fifo, String(config.signals), String(config.signalWarmup), String(config.signalIntervalMs)];
  if (pinCpu !== undefined) args.unshift('taskset', '-c', String(pinCpu));
  const sender = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  sender.stdout.setEncoding('utf8').on('data', (text) => { stdout += text; });
  sender.stderr.setEncoding('utf8').on('data', (text) => { stderr += text; });
  const done = new Promise((resolve) => sender.on('close', resolve));
  const answer = await session.command(`sig ${fifo}`);
  if (answer !== 'sig ok') throw new Error(`ctl: ${answer}`);
  const code = await done;
  rmSync(fifo, { force: true });
  if (code !== 0) throw new Error(`sigsend failed (${code}): ${stderr}`);
  let lost = 0;
  for (const line of stdout.trim().split('\n')) {
    if (line === 'lost') lost++;
    else add(metric, who, Number(line) / 1e3, rep);
  }
  add(`${metric}_lost`, who, lost, rep);
  if (lost) log(`${who}: ${lost} of ${config.signals} signals never reached the child (${metric})`);
}

async function initSession(init, rep) {
  const session = new Session(join(OUT, 'pidns'), [...init.argv, join(OUT, 'ctl')]);
  try {
    const ready = await session.nextLine(30000);
    if (!ready.startsWith('ready')) throw new Error(`unexpected first line from ctl: ${ready}`);
    await idleFigures(session, init.name, rep);
    const bursts = [...Array(config.bursts1k).fill(1000), ...Array(config.bursts10k).fill(10000)];
    for (const n of bursts) {
      const result = parseFields(await session.command(`burst ${n}`));
      if (result.reap_ns < 0) throw new Error(`${init.name}: ${result.left} of ${n} zombies never reaped`);
      add(`burst${n}_ms`, init.name, result.reap_ns / 1e6, rep);
      add(`burst${n}_first`, init.name, result.first, rep);
    }
    const rate = parseFields(await session.command(`rate ${config.ratePerSec} ${config.rateSecs}`));
    add('rate_max', init.name, rate.max, rep);
    add('rate_p99', init.name, rate.p99, rep);
    add('rate_mean', init.name, rate.mean, rep);
    add('rate_drain_ms', init.name, rate.drain_ns / 1e6, rep);
    add('rate_late_batches', init.name, rate.late, rep);
    await signalRun(session, init.name, 'signal_us', rep);
    await session.close();
  } catch (error) {
    await session.kill();
    throw error;
  }
  // Everything on one CPU: the init, ctl and the sender.
  const pinned = new Session(join(OUT, 'pidns'), [...init.argv, join(OUT, 'ctl')], { pinCpu: 1 });
  try {
    await pinned.nextLine(30000);
    await signalRun(pinned, init.name, 'signal_cpu1_us', rep, 1);
    await pinned.close();
  } catch (error) {
    await pinned.kill();
    throw error;
  }
}

/**
 * Steady idle: V8 runs a memory-reducer GC ~8 s after node starts (a one-off
 * timer on the main loop), so node-based inits are also watched from 10 s on.
 * All inits and the node floor idle side by side in this test.
 */
async function steadyIdle(rep) {
  const sessions = INITS.map((init) => [init.name, new Session(join(OUT, 'pidns'), [...init.argv, join(OUT, 'ctl')])]);
  sessions.push(['node', new Session(join(OUT, 'pidns'), [process.execPath, ...NODE_IDLE], { extraFd: true })]);
  try {
    for (const [who, session] of sessions) {
      const ready = await session.nextLine(30000);
      if (!ready.startsWith('ready')) throw new Error(`${who}: ${ready}`);
    }
    await delay(config.steadyAfterMs); // measurement: wait into steady state
    const before = sessions.map(([, session]) => contextSwitches(session.pid1()));
    await delay(config.steadyWindowMs); // measurement: switches over the window
    sessions.forEach(([who, session], i) => {
      add('wakeups_steady_per_s', who, (contextSwitches(session.pid1()) - before[i]) / (config.steadyWindowMs / 1000), rep);
    });
  } finally {
    await Promise.all(sessions.map(([, session]) => session.kill()));
  }
}

/** A plain node app as PID 1, idle: the floor (and library mode's memory). */
async function floorSession(who, argv, rep, wake = true) {
  const session = new Session(join(OUT, 'pidns'), argv, { extraFd: true });
  try {
    const ready = await session.nextLine(30000);
    if (!ready.startsWith('ready')) throw new Error(`${who}: ${ready}`);
    if (wake) {
      await idleFigures(session, who, rep);
    } else {
      const pid = session.pid1();
      await delay(config.idleSettleMs); // measurement: memory after 1 s idle
      const memory = memoryOf(pid);
      for (const key of Object.keys(memory)) add(`${key === 'threads' ? 'threads' : key.replace('Kb', '_kb')}`, who, memory[key], rep);
    }
  } finally {
    await session.kill();
  }
}

function libraryPass() {
  const result = spawnSync(process.execPath, [join(ROOT, 'bench', 'lib-pass.js'), String(config.libIdleCalls), String(config.libOrphans), '3'], { encoding: 'utf8' });
  if (result.status !== 0) return { error: result.stderr.trim().split('\n').slice(-3).join(' ') };
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

function environment(loadStart) {
  const dpkg = (name) => spawnSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' }).stdout.trim();
  const git = (args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
  const cpuModel = cpus()[0]?.model ?? 'unknown';
  return {
    date: new Date().toISOString(),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    os: (readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)/m) ?? [])[1] ?? 'unknown',
    cpu: `${cpus().length} vCPU, ${cpuModel}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    node: process.version,
    reaper: `${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version} (git ${git(['rev-parse', '--short', 'HEAD'])}${git(['status', '--porcelain', 'src', 'native']) ? ', src/native modified' : ''})`,
    tini: `${dpkg('tini')} (${firstLine('tini', ['--version'])})`,
    dumbInit: `${dpkg('dumb-init')} (${firstLine('dumb-init', ['--version'])})`,
    catatonit: `${dpkg('catatonit')} (${firstLine('catatonit', ['--version'])})`,
    gcc: firstLine('gcc', ['--version']),
    loadStart,
  };
}

/**
 * The machine is shared. BENCH_WAIT_LOAD=SECONDS waits (up to that long) for
 * the 1-minute load average to drop below BENCH_MAX_LOAD (default 0.7).
 */
async function waitForQuiet() {
  const limit = Number(process.env.BENCH_MAX_LOAD ?? 0.7);
  const deadline = Date.now() + Number(process.env.BENCH_WAIT_LOAD ?? 0) * 1000;
  while (Number(loadavg().split(' ')[0]) >= limit && Date.now() < deadline) {
    log(`load average ${loadavg()} >= ${limit}: waiting`);
    await delay(15000); // polling the load average, not synchronising
  }
}

async function main() {
  const started = Date.now();
  const nodeEnvRemoved = sameNodeEnvironment();
  await waitForQuiet();
  const loadStart = loadavg();
  if (nodeEnvRemoved.length) log(`removed ${nodeEnvRemoved.join(', ')} for every run: node -e 0 starts as reaper's node does`);
  log(`load average at start: ${loadStart}${Number(loadStart.split(' ')[0]) > 0.7 ? ' (busy machine: figures will be noisy)' : ''}`);
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (pid namespaces, apt-get)');
  ensureInits();
  compileHelpers();
  for (const built of ['dist/cli.cjs', 'build/Release/reaper-launcher']) {
    if (!existsSync(join(ROOT, built))) throw new Error(`${built} is missing: npm run build first`);
  }
  // V8's code cache for the bundle, as a first run makes it where dist/ is writable.
  spawnSync(INITS.find((init) => init.name === 'reaper').argv[0], ['--', process.execPath, '-e', '0'],
    { env: { ...process.env, REAPER_CODE_CACHE: 'write' }, stdio: 'inherit' });
  log('install paths: packing this tree and installing it with npm and pnpm');
  const paths = installPaths();

  for (let rep = 0; rep < config.reps; rep++) {
    log(`repetition ${rep + 1}/${config.reps}: startup`);
    startupRound(rep, paths);
    for (const init of rotate(INITS, rep)) {
      log(`repetition ${rep + 1}/${config.reps}: ${init.name}`);
      await initSession(init, rep);
    }
    log(`repetition ${rep + 1}/${config.reps}: steady idle (all side by side)`);
    await steadyIdle(rep);
    log(`repetition ${rep + 1}/${config.reps}: node floor and library app`);
    await floorSession('node', [process.execPath, ...NODE_IDLE], rep);
    await floorSession('lib-off', [process.execPath, join(ROOT, 'bench', 'lib-app.js'), 'off'], rep, false);
    await floorSession('lib-on', [process.execPath, join(ROOT, 'bench', 'lib-app.js'), 'on'], rep, false);
  }
  log('library mode: reap pass cost');
  const library = libraryPass();

  const env = { ...environment(loadStart), nodeEnvRemoved, installPaths: paths.map(({ name, what }) => ({ name, what })), loadEnd: loadavg(), minutes: ((Date.now() - started) / 60000).toFixed(1), quick: QUICK, config };
  const results = evaluate(samples, perRep, ANCHORS);
  const markdown = formatReport(results, library, env, samples);
  const target = QUICK && process.env.BENCH_WRITE !== '1' ? join(OUT, 'BENCHMARKS.md') : join(ROOT, 'BENCHMARKS.md');
  writeFileSync(target, markdown);
  writeFileSync(join(OUT, 'samples.json'), JSON.stringify({ env, samples, perRep, library }, null, 1));
  process.stdout.write(markdown);
  log(`wrote ${target} in ${env.minutes} min`);
}

main().catch((error) => {
  process.stderr.write(`bench failed: ${error.stack ?? error}\n`);
  process.exit(1);
});
