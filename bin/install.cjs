// The install step after node-gyp-build (package.json "install"): puts the
// native launcher, from a source build or the prebuild, in place of the
// JavaScript stubs bin/reaper and docker/reaper-docker-init, as esbuild puts
// its binary in place of its bin stub. It never fails the install: where no
// launcher runs here, the stubs stay and reaper falls back to starting node
// again (src/launch.ts). A git checkout keeps its tracked stubs.
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

if (launcher && process.platform === 'linux' && !existsSync(join(root, '.git'))) {
  install(join(root, 'bin', 'reaper'));
  install(join(root, 'docker', 'reaper-docker-init'));
}
