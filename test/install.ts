// The package as a user gets it, made as a release is made: `git clone` of this
// repository into a temporary directory, `npm ci`, `npm pack` (its prepack builds
// TypeScript and the linux-x64 and linux-arm64 prebuilds). The tarball is then
// installed into an empty project with a PATH that has node, npm, npx and sh but
// no compiler (no cc, g++, make, python3): nothing may be compiled (no build/),
// and every entry point must run from there: reaper, reaper-init (npx --no-install),
// reaper-zombies, the register preload (-r and --import), ESM import, CJS require.
// Then the same install with the prebuilds removed must fail with one clear line.
// The clone is of HEAD: uncommitted changes are not in it (a comment says so).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

function sh(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 300_000, cwd: options.cwd, env: options.env ?? process.env });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', error: result.error };
}

const which = (name: string, path: string) => path.split(delimiter).some((dir) => dir && existsSync(join(dir, name)));
const find = (name: string) => realpathSync(spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim());
const UNSHARE = [find('unshare'), '--pid', '--fork', '--mount-proc'];

/** A PATH directory with node, npm, npx, sh and env only. */
function minimalPath(): string {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  for (const name of ['npm', 'npx', 'sh', 'env']) symlinkSync(find(name), join(bin, name));
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

t.test('from a clean clone: the tarball holds both prebuilds, installs without a compiler, and every entry point runs', async (t) => {
  const tarball = packFromClone(t);
  t.match(tarball, /reaper-init-\d+\.\d+\.\d+\.tgz$/, 'named reaper-init-<version>.tgz');
  const listing = sh('tar', ['-tzf', tarball], { cwd: work }).stdout.split('\n');
  for (const arch of ['x64', 'arm64']) {
    // reaper.glibc.node: the name src/native.ts loads directly, without node-gyp-build's scans.
    for (const file of ['reaper.glibc.node', 'reaper-launcher']) t.ok(listing.includes(`package/prebuilds/linux-${arch}/${file}`), `prebuilds/linux-${arch}/${file}`);
  }
  for (const path of ['LICENSE', 'README.md', 'dist/cli.cjs', 'dist/cli-main.cjs', 'dist/zombies-cli.cjs', 'bin/reaper-zombies', 'dist/index.js', 'register.cjs']) t.ok(listing.includes(`package/${path}`), path);
  t.notOk(listing.some((path) => /^package\/(build|test|src|\.ci)\//.test(path)), 'no build/, test/, src/ or .ci/');

  const bin = minimalPath();
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
  // The install step put the native launcher (native/launcher.c) in place of the JS stubs.
  const elf = (path: string) => readFileSync(path).subarray(0, 4).toString('latin1') === '\x7fELF';
  t.ok(elf(binPath('reaper')), 'node_modules/.bin/reaper is the native launcher');
  t.ok(elf(binPath('reaper-zombies')), 'so is node_modules/.bin/reaper-zombies (it runs the census by that name)');
  t.ok(elf(join(pkg, 'docker', 'reaper-docker-init')), 'so is docker/reaper-docker-init');
  t.ok(readdirSync(join(pkg, 'dist')).some((name) => /^cli-main\.[0-9a-f]{16}\.cache$/.test(name)), "and V8's code cache for the bundle was made");
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

  // The installed bin keeps NODE_OPTIONS out of reaper: one inspector, the app's (port 0: any free one).
  const inspected = sh(binPath('reaper'), ['--', 'node', '-e', "console.log(require('inspector').url())"],
    { cwd: project, env: { ...env, NODE_OPTIONS: '--inspect=127.0.0.1:0' } });
  t.match(inspected.stdout, /^ws:\/\/127\.0\.0\.1:\d+\//, "the app's inspector URL", { stderr: inspected.stderr });
  t.equal(inspected.stderr.match(/Debugger listening/g)?.length, 1, 'exactly one "Debugger listening" line', { stderr: inspected.stderr });

  t.test('without a prebuild for this platform: one clear line, exit 1 (reaper) and 3 (reaper-zombies)', async (t) => {
    renameSync(join(pkg, 'prebuilds'), join(pkg, 'prebuilds.away'));
    t.teardown(() => renameSync(join(pkg, 'prebuilds.away'), join(pkg, 'prebuilds')));
    const failed = inProject(binPath('reaper'), ['--', 'sh', '-c', 'exit 3']);
    t.equal(failed.code, 1, 'reaper exits 1 (it could not start the program)');
    const lines = failed.stderr.trim().split('\n').filter(Boolean);
    t.equal(lines.length, 1, 'exactly one line on stderr', { stderr: failed.stderr });
    t.match(failed.stderr, new RegExp(`linux-${process.arch}`), 'names platform and arch');
    t.match(failed.stderr, /glibc/, 'names the libc');
    t.match(failed.stderr, /npm rebuild reaper-init --build-from-source/, 'names the fix');
    t.notMatch(failed.stderr, /^\s+at /m, 'no stack trace');
    const census = inProject(binPath('reaper-zombies'), ['--max', '0']);
    t.equal(census.code, 3, 'reaper-zombies --max 0 exits 3');
    t.equal(census.stdout, '', 'never "healthy"');
    t.match(census.stderr, /^reaper-zombies: the census could not run: .*npm rebuild reaper-init --build-from-source.*\n$/, 'one line naming cause and fix');
  });
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
