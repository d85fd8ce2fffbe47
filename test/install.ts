// Installing the packed package as a user would: `npm pack`, then `npm install
// <tarball>` into an empty project with a PATH that has node, npm and sh but no
// compiler (no cc, g++, make, python3), and no build/ directory: the prebuild
// must do. Then the same install with the prebuild removed must fail with one
// clear line naming platform, arch, libc and the fix.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync, cpSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import { ROOT } from './fixtures/harness.js';

const work = mkdtempSync(join(tmpdir(), 'reaper-install-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** The environment without npm's run-script variables (npm test sets many), PATH replaced. */
function cleanEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^npm_|^NODE_OPTIONS$|^TAP|^_TAPJS/i.test(key)) env[key] = value;
  }
  env.PATH = path;
  return env;
}

function sh(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: options.timeout ?? 120000, cwd: options.cwd, env: options.env ?? process.env });
  return { code: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', error: result.error };
}

const which = (name: string, path: string) => path.split(delimiter).some((dir) => dir && existsSync(join(dir, name)));

/** A PATH directory with node, npm, sh and env only. */
function minimalPath(): string {
  const bin = join(work, 'bin');
  mkdirSync(bin);
  const find = (name: string) => {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    return realpathSync(r.stdout.trim());
  };
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(find('npm'), join(bin, 'npm'));
  for (const name of ['sh', 'env']) symlinkSync(find(name), join(bin, name));
  return bin;
}

/** npm pack (without lifecycle scripts: dist/ is built by npm test), with a linux-x64 prebuild. */
function pack(t: { comment(message: string): void }): string {
  const out = join(work, 'pack');
  mkdirSync(out);
  const packed = sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', out], { cwd: ROOT });
  if (packed.code !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
  const tarball = join(out, readdirSync(out).find((name) => name.endsWith('.tgz'))!);
  const listing = sh('tar', ['-tzf', tarball], { cwd: out }).stdout;
  const prebuild = `package/prebuilds/linux-${process.arch}/reaper.glibc.node`;
  if (listing.includes(prebuild)) {
    t.comment(`${tarball} carries ${prebuild}`);
    return tarball;
  }
  // No `npm run prebuilds` (or scripts/docker-up.sh) has run here: put the addon built
  // by `npm run build` in the prebuild's place rather than rebuilding under other tests' feet.
  const built = join(ROOT, 'build', 'Release', 'reaper.node');
  if (!existsSync(built)) throw new Error('no prebuilds/ and no build/Release/reaper.node: run npm run build (or npm run prebuilds) first');
  const tree = join(out, 'tree');
  mkdirSync(tree);
  sh('tar', ['-xzf', tarball, '-C', tree], { cwd: out });
  mkdirSync(join(tree, 'package', 'prebuilds', `linux-${process.arch}`), { recursive: true });
  cpSync(built, join(tree, prebuild));
  cpSync(join(ROOT, 'build', 'Release', 'reaper-launcher'), join(tree, 'package', 'prebuilds', `linux-${process.arch}`, 'reaper-launcher'));
  const repacked = join(out, 'reaper-with-prebuild.tgz');
  const tar = sh('tar', ['-czf', repacked, '-C', tree, 'package'], { cwd: out });
  if (tar.code !== 0) throw new Error(`tar: ${tar.stderr}`);
  t.comment(`the packed tarball had no prebuild; added build/Release/reaper.node as ${prebuild}`);
  return repacked;
}

t.test('npm pack + npm install without a compiler: reaper runs from its prebuild', async (t) => {
  const tarball = pack(t);
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
  t.ok(existsSync(join(pkg, 'prebuilds', `linux-${process.arch}`, 'reaper.glibc.node')), 'the prebuild was installed');

  const reaper = join(project, 'node_modules', '.bin', 'reaper');
  // The install step put the native launcher (native/launcher.c) in place of the JS stub.
  t.equal(readFileSync(reaper).subarray(0, 4).toString('latin1'), '\x7fELF', 'node_modules/.bin/reaper is the native launcher');
  t.equal(readFileSync(join(pkg, 'docker', 'reaper-docker-init')).subarray(0, 4).toString('latin1'), '\x7fELF', 'so is docker/reaper-docker-init');
  const ran = sh(reaper, ['--', 'sh', '-c', 'exit 3'], { cwd: project, env });
  t.equal(ran.code, 3, 'node_modules/.bin/reaper -- sh -c "exit 3" exits 3', { stderr: ran.stderr });

  t.test('without a prebuild for this platform: one clear line, exit 1', async (t) => {
    renameSync(join(pkg, 'prebuilds'), join(pkg, 'prebuilds.away'));
    t.teardown(() => renameSync(join(pkg, 'prebuilds.away'), join(pkg, 'prebuilds')));
    const failed = sh(reaper, ['--', 'sh', '-c', 'exit 3'], { cwd: project, env });
    t.equal(failed.code, 1, 'reaper exits 1 (it could not start the program)');
    const lines = failed.stderr.trim().split('\n').filter(Boolean);
    t.equal(lines.length, 1, 'exactly one line on stderr', { stderr: failed.stderr });
    t.match(failed.stderr, new RegExp(`linux-${process.arch}`), 'names platform and arch');
    t.match(failed.stderr, /glibc/, 'names the libc');
    t.match(failed.stderr, /npm rebuild reaper-init --build-from-source/, 'names the fix');
    t.notMatch(failed.stderr, /^\s+at /m, 'no stack trace');
  });
});
