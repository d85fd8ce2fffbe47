// The package as a user gets it, made as a release is made: `git clone` of this
// repository into a temporary directory, `npm ci`, `npm pack` (its prepack builds
// TypeScript and the linux-x64 and linux-arm64 prebuilds). The tarball is then
// installed into empty projects with a PATH that has node, the package manager and
// sh but no compiler (no cc, g++, make, python3): nothing may be compiled (no build/).
//  - npm 11 (this machine's): every entry point runs: reaper, reaper-init (npx
//    --no-install), reaper-zombies, the register preload (-r and --import), ESM
//    import, CJS require; with the prebuilds removed, one clear line.
//  - the install matrix: npm 11, npm 12 (its default policy blocks the install
//    script), `npm install --ignore-scripts`, pnpm 10 (blocks it too) and a one-off
//    `npm exec` of npm 12, package managers from the npm registry: each install's
//    bin reaches the native launcher with no install step (checks below, each with
//    its control once, on the same installed files).
//  - the launcher in the tarball is static and runs in a root filesystem without
//    glibc; the distroless recipe (docker/README.md) runs in one with node at
//    /nodejs/bin/node and neither a shell nor /usr/bin/env.
// The clone is of HEAD: uncommitted changes are not in it (a comment says so).
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { ROOT } from './harness/index.js';

const work = mkdtempSync(join(tmpdir(), 'reaper-install-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** The environment without npm's run-script variables (npm test sets many) and tap's loader, PATH replaced. */
function cleanEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_|^NODE_OPTIONS$|^TAP|^_TAPJS/i.test(key)) env[key] = value;
  }
  env.PATH = path;
  return env;
}

const ENV = realpathSync(spawnSync('sh', ['-c', 'command -v env'], { encoding: 'utf8' }).stdout.trim());

function sh(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) {
  // tap's process-info hook adds its loader to NODE_OPTIONS of every child this file spawns:
  // `env -u` takes it out again; then the run's own NODE_OPTIONS, if any, is put back. So each
  // command sees exactly the NODE_OPTIONS a user would have set.
  const { NODE_OPTIONS, ...env } = options.env ?? process.env;
  const argv = ['-u', 'NODE_OPTIONS', ...(NODE_OPTIONS === undefined ? [] : [`NODE_OPTIONS=${NODE_OPTIONS}`]), command, ...args];
  // SIGKILL at the timeout: unshare ignores SIGTERM while it waits (--kill-child then ends its PID 1).
  const result = spawnSync(ENV, argv, { encoding: 'utf8', timeout: options.timeout ?? 300_000, killSignal: 'SIGKILL', cwd: options.cwd, env });
  return { code: result.status, signal: result.signal, stdout: result.stdout ?? '', stderr: result.stderr ?? '', error: result.error };
}

const which = (name: string, path: string) => path.split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
const find = (name: string) => realpathSync(spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim());
// --kill-child: a PID 1 that hangs (a control) dies with unshare when spawnSync's timeout ends it.
const UNSHARE = [find('unshare'), '--pid', '--fork', '--mount-proc', '--kill-child'];

/**
 * A PATH directory with node, sh, env and the given tools only (name -> path;
 * a bare name is looked up). pnpm's shims also need dirname, sed and uname.
 */
function minimalPath(name: string, tools: Record<string, string> = { npm: 'npm', npx: 'npx' }): string {
  const bin = join(work, `path-${name}`);
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  for (const tool of ['sh', 'env']) symlinkSync(find(tool), join(bin, tool));
  for (const [tool, path] of Object.entries(tools)) symlinkSync(path.includes('/') ? path : find(path), join(bin, tool));
  return bin;
}

/** git clone + npm ci + npm pack, as README's "Install" promises; returns the tarball. */
const clone = join(work, 'clone');
const cloneEnv = () => ({ ...cleanEnv(process.env.PATH!), npm_config_nodedir: dirname(dirname(realpathSync(process.execPath))) });

function packFromClone(t: { comment(message: string): void }): string {
  const dirty = sh('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT }).stdout.trim();
  if (dirty) t.comment(`uncommitted changes are not in the clone (it is of HEAD):\n${dirty}`);
  const cloned = sh('git', ['clone', '--quiet', ROOT, clone], { cwd: work });
  if (cloned.code !== 0) throw new Error(`git clone failed: ${cloned.stderr}`);
  // Node's own headers for node-gyp: the machine may have no internet to fetch them.
  const env = cloneEnv();
  const ci = sh('npm', ['ci', '--no-audit', '--no-fund'], { cwd: clone, env });
  if (ci.code !== 0) throw new Error(`npm ci in the clone failed: ${ci.stderr.slice(-3000)}`);
  const out = join(work, 'pack');
  mkdirSync(out);
  const packed = sh('npm', ['pack', '--pack-destination', out], { cwd: clone, env });
  if (packed.code !== 0) throw new Error(`npm pack failed (${packed.code}): ${packed.stderr.slice(-3000)}`);
  t.comment(packed.stderr.split('\n').filter((line) => line.startsWith('prebuilds:')).join('\n'));
  return join(out, readdirSync(out).find((name) => name.endsWith('.tgz'))!);
}

let tarball = '';

t.test('from a clean clone: the tarball holds both prebuilds, installs without a compiler, and every entry point runs', async (t) => {
  tarball = packFromClone(t);
  t.match(tarball, /reaper-init-\d+\.\d+\.\d+\.tgz$/, 'named reaper-init-<version>.tgz');
  const listing = sh('tar', ['-tzf', tarball], { cwd: work }).stdout.split('\n');
  for (const arch of ['x64', 'arm64']) {
    // reaper.glibc.node: the name src/core/native.ts loads directly, without node-gyp-build's scans.
    for (const file of ['reaper.glibc.node', 'reaper-launcher']) t.ok(listing.includes(`package/prebuilds/linux-${arch}/${file}`), `prebuilds/linux-${arch}/${file}`);
  }
  for (const path of ['LICENSE', 'README.md', 'dist/cli.cjs', 'dist/cli-main.cjs', 'dist/zombies-cli.cjs', 'bin/reaper', 'bin/reaper-zombies', 'dist/index.js', 'register.cjs']) t.ok(listing.includes(`package/${path}`), path);
  t.notOk(listing.some((path) => /^package\/(build|test|src|\.ci)\//.test(path)), 'no build/, test/, src/ or .ci/');
  t.notOk(listing.some((path) => path.endsWith('.cache')), "no V8 code cache (one made here fits only this machine's node)");

  const bin = minimalPath('npm11');
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make', 'python3']) t.notOk(which(tool, bin), `no ${tool} on the PATH`);
  const project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{ "name": "empty-app", "version": "1.0.0", "private": true }\n');
  const env = cleanEnv(bin);
  const install = sh('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock', tarball], { cwd: project, env });
  t.equal(install.code, 0, 'npm install succeeded', { stderr: install.stderr.slice(-2000) });
  const pkg = join(project, 'node_modules', 'reaper-init');
  t.notOk(existsSync(join(pkg, 'build')), 'nothing was compiled: no build/');
  t.equal(readFileSync(join(pkg, 'LICENSE'), 'utf8'), readFileSync(join(ROOT, 'LICENSE'), 'utf8'), 'LICENSE installed');

  const binPath = (name: string) => join(project, 'node_modules', '.bin', name);
  const inProject = (command: string, args: string[]) => sh(command, args, { cwd: project, env });

  const reaper = inProject(binPath('reaper'), ['--', 'sh', '-c', 'exit 3']);
  t.equal(reaper.code, 3, 'reaper -- sh -c "exit 3" exits 3', { stderr: reaper.stderr });
  const pid1 = inProject(UNSHARE[0]!, [...UNSHARE.slice(1), binPath('reaper'), '--', 'sh', '-c', 'echo "parent $PPID"; exit 5']);
  t.equal(pid1.code, 5, 'and as PID 1 of a new pid namespace', { stderr: pid1.stderr });
  t.equal(pid1.stdout, 'parent 1\n', "the program's parent is PID 1: reaper");
  const npx = inProject('npx', ['--no-install', 'reaper-init', '--', 'sh', '-c', 'exit 4']);
  t.equal(npx.code, 4, 'npx --no-install reaper-init -- sh -c "exit 4" exits 4', { stderr: npx.stderr });
  const license = inProject(binPath('reaper'), ['-l']);
  t.match(license.stdout, /^MIT License/, 'reaper -l prints the LICENSE');

  const zombies = inProject(UNSHARE[0]!, [...UNSHARE.slice(1), binPath('reaper-zombies'), '--max', '0']);
  t.equal(zombies.code, 0, 'reaper-zombies --max 0 in an empty pid namespace', { stderr: zombies.stderr });
  t.match(zombies.stdout, /^healthy: 0 zombies/m);
  // A HEALTHCHECK runs in the app's environment: the installed census bin opens no inspector.
  const inspectedCensus = sh(binPath('reaper-zombies'), ['--max', '1000000'], { cwd: project, env: { ...env, NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
  t.equal(inspectedCensus.code, 0, 'reaper-zombies with --inspect in NODE_OPTIONS', { stderr: inspectedCensus.stderr });
  t.notMatch(inspectedCensus.stderr, /Debugger listening/, 'opens no inspector');

  // One orphan re-parented to node as PID 1: reaped only when the preload runs. (The
  // sleep outlives sh, so sh cannot reap it; its full path, as the PATH has no sleep.)
  writeFileSync(join(project, 'orphan.cjs'), `const { spawnSync } = require('node:child_process');
const { readFileSync } = require('node:fs');
const pid = spawnSync('sh', ['-c', '${find('sleep')} 0.05 >/dev/null & echo $!'], { encoding: 'utf8' }).stdout.trim();
const state = () => { try { const s = readFileSync('/proc/' + pid + '/stat', 'latin1'); return s[s.lastIndexOf(')') + 2]; } catch { return 'gone'; } };
const deadline = Date.now() + 3000;
const timer = setInterval(() => {
  if (state() === 'gone') { console.log('orphan reaped'); process.exit(0); }
  // Only the control, without reaping, gets here: the orphan stays a zombie.
  if (Date.now() > deadline) { console.log('orphan left as ' + state()); process.exit(0); }
}, 20);
`);
  for (const preload of [['-r', 'reaper-init/register'], ['--import', 'reaper-init/register']]) {
    const ran = inProject(UNSHARE[0]!, [...UNSHARE.slice(1), process.execPath, ...preload, 'orphan.cjs']);
    t.equal(ran.stdout, 'orphan reaped\n', `node ${preload.join(' ')}: the orphan is reaped`, { stderr: ran.stderr });
    t.equal(ran.stderr, '', 'no warnings');
  }
  const control = inProject(UNSHARE[0]!, [...UNSHARE.slice(1), process.execPath, 'orphan.cjs']);
  t.equal(control.stdout, 'orphan left as Z\n', 'control: without the preload it stays a zombie');

  const esm = inProject(process.execPath, ['--input-type=module', '-e', "import { startReaper, census, CENSUS_SCHEMA_VERSION } from 'reaper-init'; console.log(typeof startReaper, typeof census, CENSUS_SCHEMA_VERSION)"]);
  t.equal(esm.stdout, 'function function 1\n', 'ESM import', { stderr: esm.stderr });
  t.equal(esm.stderr, '', 'no warnings');
  const cjs = inProject(process.execPath, ['-e', "const reaper = require('reaper-init'); console.log(typeof reaper.startReaper, reaper.census().version)"]);
  t.equal(cjs.stdout, 'function 1\n', 'CJS require (require(esm)), with a census through the prebuild', { stderr: cjs.stderr });
  t.equal(cjs.stderr, '', 'no warnings');

  t.test('without a prebuild for this platform: one clear line, exit 1 (reaper) and 3 (reaper-zombies)', async (t) => {
    renameSync(join(pkg, 'prebuilds'), join(pkg, 'prebuilds.away'));
    t.teardown(() => renameSync(join(pkg, 'prebuilds.away'), join(pkg, 'prebuilds')));
    const failed = inProject(binPath('reaper'), ['--', 'sh', '-c', 'exit 3']);
    t.equal(failed.code, 1, 'reaper exits 1 (it could not start the program)');
    const lines = failed.stderr.trim().split('\n').filter(Boolean);
    t.equal(lines.length, 1, 'exactly one line on stderr', { stderr: failed.stderr });
    t.match(failed.stderr, new RegExp(`linux-${process.arch}`), 'names platform and arch');
    t.match(failed.stderr, /glibc/, 'names the libc');
    t.match(failed.stderr, /npm approve-scripts reaper-init && npm_config_build_from_source=true npm rebuild reaper-init/, 'names the fix');
    t.notMatch(failed.stderr, /^\s+at /m, 'no stack trace');
    const census = inProject(binPath('reaper-zombies'), ['--max', '0']);
    t.equal(census.code, 3, 'reaper-zombies --max 0 exits 3');
    t.equal(census.stdout, '', 'never "healthy"');
    t.match(census.stderr, /^reaper-zombies: the census could not run: .*npm_config_build_from_source=true npm rebuild reaper-init.*\n$/, 'one line naming cause and fix');
  });
});

// --- The install matrix ---------------------------------------------------

/** A package manager from the npm registry, installed once into work/tools/<name>; returns its bin's path. */
function registryTool(name: string, spec: string, bin: string): string {
  const prefix = join(work, 'tools', name);
  const installed = sh('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--prefix', prefix, spec], { cwd: work, env: cleanEnv(process.env.PATH!) });
  if (installed.code !== 0) throw new Error(`npm install ${spec} failed: ${installed.stderr.slice(-2000)}`);
  return join(prefix, 'node_modules', '.bin', bin);
}

interface Installed {
  /** The path of an installed bin (what the package manager linked or shimmed). */
  bin(name: string): string;
  /** The package's own directory. */
  pkg: string;
  env: NodeJS.ProcessEnv;
}

/** An empty project with the tarball installed by argv (run there with the given PATH). */
function installInto(t: Test, name: string, path: string, argv: string[]): Installed {
  const project = join(work, `project-${name}`);
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), '{ "name": "empty-app", "version": "1.0.0", "private": true }\n');
  const env = cleanEnv(path);
  const done = sh(argv[0]!, [...argv.slice(1), tarball], { cwd: project, env });
  t.equal(done.code, 0, `${name}: ${argv.join(' ')} <tarball> succeeded`, { stderr: done.stderr.slice(-2000) });
  const pkg = realpathSync(join(project, 'node_modules', 'reaper-init'));
  return { bin: (bin) => join(project, 'node_modules', '.bin', bin), pkg, env };
}

/** Runs argv with extra environment; as PID 1 of a new pid namespace when pid1. */
function runIn(installed: Installed, argv: string[], extra: NodeJS.ProcessEnv = {}, pid1 = false, timeout = 60_000) {
  const full = pid1 ? [...UNSHARE, ...argv] : argv;
  return sh(full[0]!, full.slice(1), { cwd: work, env: { ...installed.env, ...extra }, timeout });
}

const APP_INSPECTOR = ['node', '-e', "console.log(require('inspector').url())"];
// The app reads its own ignored-signal mask with sh builtins only (node would reset it).
const APP_SIGIGN = ['sh', '-c', 'while read -r line; do case $line in SigIgn:*) echo "$line";; esac; done </proc/self/status'];
const TTOU_BIT = 1n << 21n; // SIGTTOU is signal 22: bit 21 of SigIgn
/** argv started by a parent that ignores SIGTTOU (sh passes ignored signals on through exec). */
const ignoringTTOU = (argv: string[]) => ['sh', '-c', `trap '' TTOU; exec "$@"`, 'sh', ...argv];
const ignoresTTOU = (stdout: string) => {
  const hex = /SigIgn:\s*([0-9a-f]+)/.exec(stdout)?.[1];
  return hex === undefined ? undefined : (BigInt(`0x${hex}`) & TTOU_BIT) !== 0n;
};

/**
 * reaper (argv) as PID 1 under NODE_OPTIONS=--inspect-brk, the app printing a marker: waits for
 * the "Debugger listening" line, then a bounded second for the marker. There is no event for
 * "still waiting", so its absence can only be watched for a while: once the inspector is up,
 * a PID 1 that is not held starts the app within ~30 ms; a second is thirty times that.
 */
async function heldByDebugger(installed: Installed, argv: string[]) {
  const child = spawn(ENV, ['-u', 'NODE_OPTIONS', 'NODE_OPTIONS=--inspect-brk=127.0.0.1:0', ...UNSHARE, ...argv, '--', 'sh', '-c', 'echo app-started; exit 4'],
    { cwd: work, env: installed.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const listening = await new Promise<boolean>((resolve) => {
    const bound = setTimeout(() => resolve(false), 30_000);
    child.stdout.setEncoding('utf8').on('data', (data: string) => { stdout += data; });
    child.stderr.setEncoding('utf8').on('data', (data: string) => {
      stderr += data;
      if (/Debugger listening/.test(stderr)) { clearTimeout(bound); resolve(true); }
    });
    exited.then(() => { clearTimeout(bound); resolve(false); });
  });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const appRan = /app-started/.test(stdout);
  const running = child.exitCode === null && child.signalCode === null;
  // SIGKILL to unshare: --kill-child ends its PID 1 with it.
  child.kill('SIGKILL');
  await exited;
  return { listening, appRan, running, stdout, stderr };
}

/** The preload: one line per process it runs in, naming its pid and main script. */
const preload = join(work, 'preload.cjs');
const appScript = join(work, 'the-app.cjs');

/**
 * The checks of issue 20 on one install: reaper's bin (called as reaper and as
 * reaper-init) and reaper-zombies. Their controls run once, below, on the same files.
 */
function checkInstall(t: Test, installed: Installed) {
  const { bin } = installed;
  for (const [name, code] of [['reaper', 3], ['reaper-init', 5]] as const) {
    const ran = runIn(installed, [bin(name), '--', 'sh', '-c', `exit ${code}`]);
    t.equal(ran.code, code, `${name} -- sh -c 'exit ${code}' exits ${code}`, { stderr: ran.stderr });
  }
  const zero = runIn(installed, [bin('reaper'), '--', 'sh', '-c', 'exit 0']);
  t.equal(zero.code, 0, "and -- sh -c 'exit 0' exits 0 (the status is the app's)", { stderr: zero.stderr });

  const appEnv = runIn(installed, [bin('reaper'), '--', 'env']);
  t.match(appEnv.stdout, /^PATH=/m, "the app's environment");
  t.notMatch(appEnv.stdout, /__REAPER/, "holds nothing of reaper's (the name the sh bin passed is taken out)");

  const inspected = runIn(installed, [bin('reaper'), '--', ...APP_INSPECTOR], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  t.match(inspected.stdout, /^ws:\/\/127\.0\.0\.1:\d+\//, "NODE_OPTIONS=--inspect: the app's inspector", { stderr: inspected.stderr });
  t.equal(inspected.stderr.match(/Debugger listening/g)?.length, 1, 'exactly one "Debugger listening" line', { stderr: inspected.stderr });

  const preloaded = runIn(installed, [bin('reaper'), '--', 'node', appScript], { NODE_OPTIONS: `--require ${preload}` }, true);
  t.equal(preloaded.code, 0, 'a --require preload in NODE_OPTIONS: the app ran', { stderr: preloaded.stderr });
  t.same(preloaded.stderr.match(/^preload in .*$/gm), [`preload in the-app.cjs`], "the preload's log names only the app", { stderr: preloaded.stderr });

  const brk = runIn(installed, [bin('reaper'), '--', 'sh', '-c', 'exit 4'], { NODE_OPTIONS: '--inspect-brk=127.0.0.1:0' }, true, 30_000);
  t.equal(brk.code, 4, "NODE_OPTIONS=--inspect-brk: reaper -- sh -c 'exit 4' as PID 1 exits 4", { stderr: brk.stderr, signal: brk.signal });

  const ttou = runIn(installed, ignoringTTOU([bin('reaper'), '--', ...APP_SIGIGN]));
  t.equal(ignoresTTOU(ttou.stdout), true, 'a SIGTTOU the parent ignored is ignored in the app', { stdout: ttou.stdout, stderr: ttou.stderr });

  const census = runIn(installed, [bin('reaper-zombies'), '--max', '0'], {}, true);
  t.equal(census.code, 0, 'reaper-zombies --max 0 as PID 1 exits 0', { stderr: census.stderr });
  t.match(census.stdout, /^healthy: 0 zombies/m, 'and is the census');
  const inspectedCensus = runIn(installed, [bin('reaper-zombies'), '--max', '1000000'], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  t.equal(inspectedCensus.code, 0, 'reaper-zombies with --inspect in NODE_OPTIONS (a HEALTHCHECK in the app\'s environment)', { stderr: inspectedCensus.stderr });
  t.notMatch(inspectedCensus.stderr, /Debugger listening/, 'opens no inspector');

  // No install step made it: the runs above did, where dist/ is writable.
  t.ok(readdirSync(join(installed.pkg, 'dist')).some((name) => /^cli-main\.[0-9a-f]{16}\..+\.cache$/.test(name)), "V8's code cache for reaper's start was made by its first run");
}

/**
 * pnpm's shim exports NODE_PATH (its virtual store) to every bin it runs. The launcher hides it
 * from reaper's Node with the rest of NODE_* and gives it back: the app gets exactly what the
 * shim exported, as any program pnpm's shim runs would (README, "Install").
 */
function checkPnpmNodePath(t: Test, installed: Installed) {
  const exported = /^\s*export NODE_PATH="([^"$]*)"$/m.exec(readFileSync(installed.bin('reaper'), 'utf8'))?.[1];
  t.match(exported, /\.pnpm/, "pnpm's shim exports NODE_PATH naming its virtual store");
  const app = runIn(installed, [installed.bin('reaper'), '--', 'sh', '-c', 'printf "%s" "$NODE_PATH"'], { NODE_PATH: undefined });
  t.equal(app.stdout, exported, "the app's NODE_PATH is exactly what the shim exported", { stderr: app.stderr });
  const own = runIn(installed, [installed.bin('reaper'), '--', 'sh', '-c', 'printf "%s" "$NODE_PATH"'], { NODE_PATH: '/mine' });
  t.equal(own.stdout, `${exported}:/mine`, "with the user's own NODE_PATH after pnpm's, as the shim puts it");
}

t.test('every install path links a bin that is the full reaper, with no install step', async (t) => {
  t.ok(tarball, 'the tarball of the first test');
  writeFileSync(preload, "process.stderr.write(`preload in ${process.pid === 1 ? 'PID 1 ' : ''}${require('path').basename(process.argv[1] ?? '-')}\\n`);\n");
  writeFileSync(appScript, '');
  const npm12 = registryTool('npm12', 'npm@12', 'npm');
  const pnpm10 = registryTool('pnpm10', 'pnpm@10', 'pnpm');
  const common = ['--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'];
  const installs: Record<string, (t: Test) => Installed> = {
    'npm 11': (t) => installInto(t, 'npm11', minimalPath('m-npm11'), ['npm', 'install', ...common]),
    'npm 12': (t) => installInto(t, 'npm12', minimalPath('m-npm12', { npm: npm12 }), ['npm', 'install', ...common]),
    'npm --ignore-scripts': (t) => installInto(t, 'ignore-scripts', minimalPath('m-ignore'), ['npm', 'install', '--ignore-scripts', ...common]),
    'pnpm 10': (t) => installInto(t, 'pnpm10', minimalPath('m-pnpm10', { pnpm: pnpm10, dirname: 'dirname', sed: 'sed', uname: 'uname' }),
      ['pnpm', 'add', '--store-dir', join(work, 'pnpm-store')]),
    'npm 12 exec (npx)': (t) => {
      // A one-off: npm exec installs into its cache; the bins it runs are there.
      const path = minimalPath('m-npx', { npm: npm12 });
      const cache = join(work, 'npx-cache');
      const env = { ...cleanEnv(path), npm_config_cache: cache };
      const ran = sh('npm', ['exec', '--yes', `--package=${tarball}`, '--', 'reaper', '--', 'sh', '-c', 'exit 6'], { cwd: work, env });
      t.equal(ran.code, 6, "npm exec --package=<tarball> -- reaper -- sh -c 'exit 6' exits 6", { stderr: ran.stderr.slice(-2000) });
      const npx = join(cache, '_npx');
      const dir = readdirSync(npx).map((hash) => join(npx, hash, 'node_modules')).find((modules) => existsSync(join(modules, 'reaper-init')))!;
      return { bin: (bin) => join(dir, '.bin', bin), pkg: realpathSync(join(dir, 'reaper-init')), env };
    },
  };
  for (const [name, install] of Object.entries(installs)) {
    await t.test(name, async (t) => {
      const installed = install(t);
      t.notOk(existsSync(join(installed.pkg, 'build')), 'nothing was compiled: no build/');
      checkInstall(t, installed);
      if (name.startsWith('pnpm')) checkPnpmNodePath(t, installed);
    });
  }

  await t.test('controls, on the installed files: each check fails where NODE_OPTIONS reaches reaper or no launcher runs', async (t) => {
    const installed = installInto(t, 'controls', minimalPath('m-controls'), ['npm', 'install', '--ignore-scripts', ...common]);
    // node on the bundle, marked as launched so it does not start itself again: NODE_OPTIONS applies to reaper.
    const shaped = (entry = 'cli.cjs') => ['env', `__REAPER_LAUNCHER=-:-:${entry === 'cli.cjs' ? 'reaper' : 'reaper-zombies'}`, 'node', join(installed.pkg, 'dist', entry)];
    const inspected = runIn(installed, [...shaped(), '--', ...APP_INSPECTOR], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    t.equal(inspected.stderr.match(/Debugger listening/g)?.length, 2, 'control: two "Debugger listening" lines', { stderr: inspected.stderr });
    const preloaded = runIn(installed, [...shaped(), '--', 'node', appScript], { NODE_OPTIONS: `--require ${preload}` }, true);
    t.match(preloaded.stderr, /^preload in PID 1 cli\.cjs$/m, "control: the preload's log names PID 1 and reaper's bundle", { stderr: preloaded.stderr });
    // The form with no launcher (node on the bundle by hand) waits for a debugger before any of reaper's JavaScript runs (README).
    const brk = await heldByDebugger(installed, ['node', join(installed.pkg, 'dist', 'cli.cjs')]);
    t.ok(brk.listening, 'control: node dist/cli.cjs under --inspect-brk as PID 1 prints "Debugger listening"', { stderr: brk.stderr });
    t.notOk(brk.appRan, 'control: and the app has not started a second later (PID 1 waits for a debugger)', { stdout: brk.stdout, stderr: brk.stderr });
    t.ok(brk.running, 'control: PID 1 was still running then (ended by the test)');
    const ttou = runIn(installed, ignoringTTOU(['node', join(installed.pkg, 'dist', 'cli.cjs'), '--', ...APP_SIGIGN]));
    t.equal(ignoresTTOU(ttou.stdout), false, 'control: through node on the bundle (Node resets signals first) the app does not ignore SIGTTOU', { stdout: ttou.stdout });
    const bare = runIn(installed, ignoringTTOU(APP_SIGIGN));
    t.equal(ignoresTTOU(bare.stdout), true, 'and without reaper the app does ignore it (the parent is right)');
    const census = runIn(installed, [...shaped('zombies-cli.cjs'), '--max', '1000000'], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    t.match(census.stderr, /Debugger listening/, 'control: the census with NODE_OPTIONS applied opens an inspector', { stderr: census.stderr });
    const named = runIn(installed, ['node', join(installed.pkg, 'dist', 'cli.cjs'), '--', 'env'], { __REAPER_ARGV0: 'reaper' });
    t.match(named.stdout, /^__REAPER_ARGV0=reaper$/m, 'control: where the launcher does not take the name out, the app sees it');
    const status = runIn(installed, [join(installed.pkg, 'bin', 'reaper'), '--', 'sh', '-c', 'exit 7']);
    t.equal(status.code, 7, 'bin/reaper passes a different status on as well');
  });
});

/** The ELF program header types of an x64/arm64 (64-bit, little-endian) executable. */
function programHeaders(path: string): number[] {
  const elf = readFileSync(path);
  const offset = Number(elf.readBigUInt64LE(0x20)), size = elf.readUInt16LE(0x36), count = elf.readUInt16LE(0x38);
  return Array.from({ length: count }, (_, i) => elf.readUInt32LE(offset + i * size));
}
const PT_INTERP = 3;

/** A root filesystem at dir holding the given host files at the same paths (libraries for node). */
function rootfsWith(dir: string, files: string[]) {
  for (const dirs of ['proc', 'tmp', 'app']) mkdirSync(join(dir, dirs), { recursive: true });
  for (const file of files) {
    mkdirSync(join(dir, dirname(file)), { recursive: true });
    copyFileSync(file, join(dir, file));
  }
}

t.test('the launcher is static: it runs with no glibc, and the distroless recipe runs as written', async (t) => {
  t.ok(tarball, 'the tarball of the first test');
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  sh('tar', ['-xzf', tarball, '-C', unpacked], { cwd: work });
  const pkg = join(unpacked, 'package');
  for (const arch of ['x64', 'arm64']) {
    t.notOk(programHeaders(join(pkg, 'prebuilds', `linux-${arch}`, 'reaper-launcher')).includes(PT_INTERP), `prebuilds/linux-${arch}/reaper-launcher has no program interpreter: static`);
  }
  const launcher = join(pkg, 'prebuilds', `linux-${process.arch}`, 'reaper-launcher');
  t.ok(programHeaders(find('env')).includes(PT_INTERP), 'control: the check sees a dynamic executable (env)');

  // A root filesystem with no libc at all: the package, nothing else.
  const bare = join(work, 'rootfs-bare');
  rootfsWith(bare, []);
  cpSync(pkg, join(bare, 'app', 'node_modules', 'reaper-init'), { recursive: true });
  copyFileSync(find('env'), join(bare, 'env'));
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin' };
  const noNode = sh(find('chroot'), [bare, '/app/node_modules/reaper-init/prebuilds/linux-' + process.arch + '/reaper-launcher', '--', 'true'], { cwd: work, env });
  t.equal(noNode.code, 127, 'in it the launcher runs: no node, exit 127', { stderr: noNode.stderr });
  t.match(noNode.stderr, /^reaper: node is not on PATH \(nor at \/nodejs\/bin\/node\)/, 'with its own one-line message');
  const dynamic = sh(find('chroot'), [bare, '/env', 'true'], { cwd: work, env });
  t.not(dynamic.code, 0, 'control: a dynamic executable (env) cannot run there', { stderr: dynamic.stderr });

  // distroless: node at /nodejs/bin/node with its libraries, no shell, no /usr/bin/env; the
  // build stage of docker/README.md's recipe copied the launcher for the image's arch to /app/reaper.
  const distroless = join(work, 'rootfs-distroless');
  const libraries = sh(find('ldd'), [process.execPath], { cwd: work }).stdout.match(/\/\S+/g) ?? [];
  rootfsWith(distroless, libraries);
  mkdirSync(join(distroless, 'nodejs', 'bin'), { recursive: true });
  copyFileSync(process.execPath, join(distroless, 'nodejs', 'bin', 'node'));
  cpSync(pkg, join(distroless, 'app', 'node_modules', 'reaper-init'), { recursive: true });
  copyFileSync(launcher, join(distroless, 'app', 'reaper'));
  symlinkSync('reaper', join(distroless, 'app', 'reaper-zombies'));
  for (const absent of ['bin/sh', 'usr/bin/env']) t.notOk(existsSync(join(distroless, absent)), `no /${absent} in the image`);
  const inImage = (argv: string[], extra: NodeJS.ProcessEnv = {}, timeout = 30_000) =>
    sh(UNSHARE[0]!, [...UNSHARE.slice(1, 3), `--mount-proc=${join(distroless, 'proc')}`, '--kill-child', find('chroot'), distroless, ...argv], { cwd: work, env: { ...env, ...extra }, timeout });
  // ENTRYPOINT ["/app/reaper", "--"], CMD ["/nodejs/bin/node", ...], as PID 1.
  // (The image has no program but node to run as the app: the app's own inspector is the one line.)
  const app = inImage(['/app/reaper', '--', '/nodejs/bin/node', '-e', 'console.log("parent", process.ppid); process.exit(4)'], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  t.equal(app.code, 4, 'ENTRYPOINT ["/app/reaper", "--"] as PID 1 with --inspect in NODE_OPTIONS: the app exits 4', { stderr: app.stderr, signal: app.signal });
  t.equal(app.stdout, 'parent 1\n', "the app's parent is PID 1: reaper");
  t.equal(app.stderr.match(/Debugger listening/g)?.length, 1, 'exactly one "Debugger listening" line: the app\'s', { stderr: app.stderr });
  const health = inImage(['/app/reaper-zombies', '--max', '0'], { NODE_OPTIONS: '--inspect=127.0.0.1:0' });
  t.equal(health.code, 0, 'HEALTHCHECK ["/app/reaper-zombies", "--max", "0"] exits 0', { stderr: health.stderr });
  t.match(health.stdout, /^healthy: 0 zombies/m, 'and is the census');
  t.notMatch(health.stderr, /Debugger listening/, 'with no inspector of its own');
  // Control: the bin as npm links it needs a shell, which the image does not have.
  const viaBin = inImage(['/app/node_modules/reaper-init/bin/reaper', '--', '/nodejs/bin/node', '-e', '0']);
  t.not(viaBin.code, 0, 'control: node_modules/.bin/reaper (#!/bin/sh) cannot run there', { stderr: viaBin.stderr });
});

t.test("V8's code cache: never a failure where dist/ is read-only", async (t) => {
  const project = join(work, 'project-controls');
  const pkg = realpathSync(join(project, 'node_modules', 'reaper-init'));
  for (const name of readdirSync(join(pkg, 'dist'))) if (name.endsWith('.cache')) rmSync(join(pkg, 'dist', name));
  // A read-only bind mount over the package, in a mount namespace of its own.
  const ran = sh(UNSHARE[0]!, ['--mount', 'sh', '-c', `mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$0/bin/reaper" -- sh -c 'exit 3'`, pkg],
    { cwd: work, env: cleanEnv(process.env.PATH!) });
  t.equal(ran.code, 3, 'reaper -- sh -c "exit 3" exits 3', { stderr: ran.stderr });
  t.equal(ran.stderr, '', 'nothing on stderr');
  t.same(readdirSync(join(pkg, 'dist')).filter((name) => /cache/.test(name)), [], 'and nothing was written');
  // Control, where dist/ is writable: the run writes it while the app runs, not as PID 1 exits
  // (which would delay a container's stop): this app waits for the file, bounded by the timeout.
  const waitForCache = 'until for f in "$0"/*.cache; do [ -e "$f" ] && break; done; [ -e "$f" ]; do sleep 0.01; done; exit 3';
  const writable = sh(join(pkg, 'bin', 'reaper'), ['--', 'sh', '-c', waitForCache, join(pkg, 'dist')], { cwd: work, env: cleanEnv(process.env.PATH!), timeout: 20_000 });
  t.equal(writable.code, 3, 'control: where it is writable, the cache appears while the app runs', { stderr: writable.stderr, signal: writable.signal });
  t.same(readdirSync(join(pkg, 'dist')).filter((name) => /cache/.test(name)).map((name) => /^cli-main\.[0-9a-f]{16}\..+\.cache$/.test(name)), [true], 'one cache file, no temporary file left');
});

t.test('npm pack refuses to make a tarball when a prebuild cannot be built', async (t) => {
  // The clone of the test above, with a broken arm64 cross compiler first on the PATH.
  t.ok(existsSync(join(clone, 'node_modules', '.bin', 'prebuildify')), 'the clone is installed');
  const stubs = join(work, 'broken-cross');
  mkdirSync(stubs);
  for (const name of ['aarch64-linux-gnu-g++', 'aarch64-linux-gnu-gcc']) writeFileSync(join(stubs, name), '#!/bin/sh\necho "broken cross compiler" >&2; exit 1\n', { mode: 0o755 });
  const env = { ...cloneEnv(), PATH: `${stubs}${delimiter}${process.env.PATH}` };
  const out = join(work, 'refused');
  mkdirSync(out);
  const packed = sh('npm', ['pack', '--pack-destination', out], { cwd: clone, env });
  t.not(packed.code, 0, 'npm pack fails', { stderr: packed.stderr.slice(-3000) });
  t.match(packed.stderr, /prebuilds: error: prebuildify for linux-arm64 failed/, 'names what failed');
  t.match(packed.stderr, /prebuilds: npm pack\/publish stops here: no tarball without the prebuilds for linux-x64 linux-arm64/, 'and that no tarball is made');
  t.same(readdirSync(out), [], 'no tarball was written');
});
