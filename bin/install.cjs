// The install step after node-gyp-build (package.json "install"): puts the
// native launcher, from a source build or the prebuild, in place of the
// JavaScript stubs bin/reaper, bin/reaper-zombies (the launcher runs the census
// when called by that name) and docker/reaper-docker-init, as esbuild puts
// its binary in place of its bin stub. It never fails the install: where no
// launcher runs here, the stubs stay and reaper falls back to starting node
// again (src/launch.ts). A git checkout keeps its tracked stubs. Then it
// makes V8's code cache for the bundle.
const { copyFileSync, existsSync, renameSync, rmSync } = require('node:fs');
const { spawnSync } = require('node:child_process');
const { join } = require('node:path');

const root = join(__dirname, '..');
const launcher = [
  join(root, 'build', 'Release', 'reaper-launcher'),
  join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'reaper-launcher'),
].find((path) => existsSync(path));

function install(target) {
  const temporary = `${target}.launcher`;
  try {
    copyFileSync(launcher, temporary);
    // Proof it runs on this machine (libc, architecture) and finds the bundle from there.
    const check = spawnSync(temporary, ['--version'], { encoding: 'utf8', timeout: 30000 });
    if (check.status !== 0 || !/reaper/.test(check.stdout)) throw new Error(check.error?.message ?? check.stderr.trim());
    renameSync(temporary, target);
  } catch (error) {
    rmSync(temporary, { force: true });
    process.stderr.write(`reaper-init: kept the JavaScript ${target} (the native launcher did not run here: ${error.message})\n`);
  }
}

// V8's code cache for the bundle (scripts/bundle-cli.js), made by one run of
// the bin as users run it, so the cache fits the node and flags it runs with.
function writeCodeCache() {
  const { NODE_OPTIONS, ...env } = process.env;
  const run = spawnSync(join(root, 'bin', 'reaper'), ['--', process.execPath, '-e', '0'],
    { encoding: 'utf8', timeout: 30000, env: { ...env, REAPER_CODE_CACHE: 'write' } });
  if (run.status !== 0) process.stderr.write(`reaper-init: no code cache for reaper's start (${run.error?.message ?? run.stderr.trim()})\n`);
}

if (process.platform === 'linux' && !existsSync(join(root, '.git'))) {
  if (launcher) {
    install(join(root, 'bin', 'reaper'));
    install(join(root, 'bin', 'reaper-zombies'));
    install(join(root, 'docker', 'reaper-docker-init'));
  }
  writeCodeCache();
}
