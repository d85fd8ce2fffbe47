// npm run demo: an app that leaves orphans, first under Node as PID 1 (no
// init), then under reaper as PID 1, each in a new pid namespace. Shows the
// zombie count once every orphan has exited, reaper's reap log and drain
// report, and the exit status. Needs pid namespaces: root, or (without root)
// unprivileged user namespaces; test/demo.ts checks both counts.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childrenOf, zombieChildren } from '../test/harness/proc.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const reaper = `${root}dist/cli.cjs`;
const orphans = `${root}test/fixtures/make-orphans.sh`;
const nodeAsInit = `${root}test/fixtures/node-as-init.js`;
const ORPHANS = 20;

// A new pid namespace as root, else inside a user namespace where we are root.
const unshare = [['unshare', '--pid', '--fork', '--mount-proc'], ['unshare', '--user', '--map-root-user', '--pid', '--fork', '--mount-proc']]
  .find((argv) => spawnSync(argv[0], [...argv.slice(1), 'true']).status === 0);
if (!unshare) {
  process.stderr.write('demo: cannot create a pid namespace here (needs root, or unprivileged user namespaces); run it as root, e.g. in a container: docker run --rm -it -v "$PWD":/src -w /src node:22 npm run demo\n');
  process.exit(1);
}
const wrap = (argv) => [...unshare, ...argv];


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
      process.stdout.write(`${chunk}`.replace(/^(?=.)/gm, '    app| '));
      if (ready.test(out)) {
        ready = /$^/;
        const init = childrenOf(child.pid)[0];
        resolve({ child, init });
      }
    });
  });
}

/**
 * The zombie count under pid once every child of it has exited: the orphans
 * sleep 0.2 s, so counting before that would show 0 and prove nothing.
 */
async function zombiesOnceExited(pid) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const children = childrenOf(pid);
    const zombies = zombieChildren(pid).length;
    if (children.length >= ORPHANS && zombies === children.length) return zombies;
    if (Date.now() > deadline) throw new Error(`demo: after 10 s, ${children.length - zombies} of pid ${pid}'s ${children.length} children still run`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const exitOf = (child) => new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? 128)));

console.log(`reaper demo: each part is PID 1 of a new pid namespace${unshare.includes('--user') ? ' (inside a user namespace)' : ''}\n`);

console.log(`1. Without an init: node is PID 1, the app leaves ${ORPHANS} orphans`);
const bare = await start(wrap([process.execPath, nodeAsInit, 'sh', '-c', `${orphans} ${ORPHANS}`]), /child exited/);
console.log(`   all ${ORPHANS} orphans have exited; zombies under PID 1: ${await zombiesOnceExited(bare.init)}  <- nobody reaps them: they stay until the container dies`);
process.kill(bare.init, 'SIGTERM');
await exitOf(bare.child);

console.log('\n2. With reaper as PID 1: the same app, then a helper daemon, then docker stop (SIGTERM)');
const app = `${orphans} ${ORPHANS}; (trap 'echo "   daemon: flushing on SIGTERM"; exit 0' TERM; while :; do sleep 1; done) & echo "app running"; exec sleep 1000`;
const run = await start(wrap([process.execPath, reaper, '--warn-on-reap', '--', 'sh', '-c', app]), /app running/);
while (run.child.reaped < ORPHANS) await new Promise((resolve) => run.child.once('reaped', resolve));
console.log(`   all ${ORPHANS} orphans have exited and were reaped; zombies under PID 1: ${zombieChildren(run.init).length}`);
process.kill(run.init, 'SIGTERM');
const code = await exitOf(run.child);
console.log(`   reaper exited with ${code} (128+SIGTERM: the app's own status) after draining the daemon`);
