// npm run demo: an app that leaves orphans, first under Node as PID 1 (no
// init), then under reaper as PID 1, each in a new pid namespace. Shows the
// zombie count, reaper's reap log and drain report, and the exit status.
// Without root (no unshare), reaper runs as a child subreaper instead.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childrenOf, zombieChildren } from '../test/fixtures/proc.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const reaper = `${root}dist/cli.cjs`;
const orphans = `${root}test/fixtures/make-orphans.sh`;
const nodeAsInit = `${root}test/fixtures/node-as-init.js`;
const canUnshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status === 0;
const wrap = (argv) => (canUnshare ? ['unshare', '--pid', '--fork', '--mount-proc', ...argv] : argv);

const zombiesUnder = (pid) => zombieChildren(pid).length;

/** Runs argv; resolves when `ready` matched on stdout, with the pid of its init. */
function start(argv, ready) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.reaped = 0;
  child.stderr.on('data', (chunk) => {
    process.stderr.write(`${chunk}`.replace(/^/gm, '    ').replace(/ {4}$/, ''));
    child.reaped += (`${chunk}`.match(/reaped orphan/g) ?? []).length;
    child.emit('reaped');
  });
  return new Promise((resolve) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(`    app| ${chunk}`);
      if (ready.test(out)) {
        ready = /$^/;
        const init = canUnshare ? childrenOf(child.pid)[0] : child.pid;
        resolve({ child, init });
      }
    });
  });
}

/** Samples the zombie count under pid until it stops changing (or 3 s pass). */
async function settle(pid) {
  let last = -1;
  let count = zombiesUnder(pid);
  for (let i = 0; i < 30 && count !== last; i++) {
    last = count;
    await new Promise((resolve) => setTimeout(resolve, 100));
    count = zombiesUnder(pid);
  }
  return count;
}

const exitOf = (child) => new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128)));

console.log(`reaper demo (${canUnshare ? 'as PID 1 of new pid namespaces' : 'no unshare here: as child subreaper'})\n`);

console.log('1. Without an init: node is PID 1, the app leaves 20 orphans');
const bare = await start(wrap([process.execPath, nodeAsInit, 'sh', '-c', `${orphans} 20`]), /child exited/);
console.log(`   zombies under PID 1: ${await settle(bare.init)}  <- they stay until the container dies`);
process.kill(bare.init, 'SIGTERM');
await exitOf(bare.child);

console.log('\n2. With reaper as PID 1: the same app, then a helper daemon, then docker stop (SIGTERM)');
const app = `${orphans} 20; (trap 'echo "   daemon: flushing on SIGTERM"; exit 0' TERM; while :; do sleep 1; done) & echo "app running"; exec sleep 1000`;
const run = await start(wrap([process.execPath, reaper, '--warn-on-reap', '--', 'sh', '-c', app]), /app running/);
while (run.child.reaped < 20) await new Promise((resolve) => run.child.once('reaped', resolve));
console.log(`   all 20 orphans reaped; zombies under PID 1: ${zombiesUnder(run.init)}`);
process.kill(run.init, 'SIGTERM');
const code = await exitOf(run.child);
console.log(`   reaper exited with ${code} (128+SIGTERM: the app's own status) after draining the daemon`);
