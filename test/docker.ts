// reaper in a real container engine (docker.io, dockerd started by
// scripts/docker-up.sh with --init-path at the static launcher of the package
// installed on the host, as docker/README.md's recipe has it): zombies,
// docker stop, exit codes, ^C on a tty, drain, a pod (reaper --pause, shared pid
// namespace, --forward-delay), docker run --init, docker info.
// Images: reaper-test:local (ENTRYPOINT reaper --, reaper installed from its npm
// pack tarball; fixtures in /app/fixtures). Containers use --network=none.
// Without docker this file skips, or fails when REAPER_REQUIRE_DOCKER=1 (CI).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync, statSync, openSync, readSync, closeSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, fixture, type Finished } from './harness/index.js';
import { bundle, makeProject } from './fixtures/exit-hook/build.js';

// REAPER_TEST_IMAGE: an image built otherwise (a work tree's dist on top of reaper-test:local).
const IMAGE = process.env.REAPER_TEST_IMAGE ?? 'reaper-test:local';
const LABEL = 'reaper-test';
const STATE = process.env.REAPER_DOCKER_STATE ?? '/tmp/reaper-docker';
const DOCKERD_LOG = join(STATE, 'dockerd.log');
const REAPER_BIN = '/app/node_modules/.bin/reaper';
const APP = '/app/fixtures/app.mjs';
const env = { DOCKER_HOST: process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock', DOCKER_BUILDKIT: '0' };

function unavailable(): string | undefined {
  const info = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env } });
  if (info.error) return `docker CLI not usable (${info.error.message})`;
  if (info.status !== 0) return `dockerd not reachable: ${(info.stderr || info.stdout).trim().split('\n')[0]}; run scripts/docker-up.sh`;
  const image = spawnSync('docker', ['image', 'inspect', IMAGE], { encoding: 'utf8', timeout: 20000, env: { ...process.env, ...env } });
  if (image.status !== 0) return `image ${IMAGE} missing; run scripts/docker-up.sh`;
  return undefined;
}

let serial = 0;
const names: string[] = [];
function nameOf(what: string): string {
  const name = `reaper-t-${process.pid}-${++serial}-${what}`;
  names.push(name);
  return name;
}

/** docker ARGS..., resolved when it exits, with how long it took. */
async function docker(args: string[]): Promise<Finished & { ms: number }> {
  const started = performance.now();
  const done = await run(['docker', ...args], { pid1: false, env }).finished;
  return { ...done, ms: performance.now() - started };
}

/** Common flags of every container here. */
const base = (name: string) => ['--name', name, '--label', LABEL, '--network=none'];

/** docker run (attached, not --rm: the caller removes it) and wait for the app's readiness line. */
async function startApp(name: string, runArgs: string[], command: string[], ready = /app ready/) {
  const running = run(['docker', 'run', ...base(name), ...runArgs, IMAGE, ...command], { pid1: false, env });
  await running.waitFor(ready); // rejects with the output if the container exits first
  return running;
}

/** "zombies=N alive=M" from inside the container: zombies, and sleeps still running. */
async function census(name: string): Promise<{ zombies: number; alive: number }> {
  const done = await docker(['exec', name, 'sh', '/app/fixtures/zombies.sh']);
  const match = /zombies=(\d+) alive=(\d+)/.exec(done.stdout);
  if (!match) throw new Error(`zombies.sh in ${name}: ${done.code} ${done.stdout}${done.stderr}`);
  return { zombies: Number(match[1]), alive: Number(match[2]) };
}

/** Waits (bounded) until every orphaned sleep has exited, then returns the census. */
async function censusWhenSettled(name: string) {
  const deadline = performance.now() + 15000;
  for (;;) {
    const counts = await census(name);
    if (counts.alive === 0 || performance.now() > deadline) return counts;
  }
}

function suite() {
  t.teardown(() => {
    spawnSync('docker', ['rm', '-f', ...names], { env: { ...process.env, ...env }, stdio: 'ignore', timeout: 60000 });
  });

  t.test('reaper as ENTRYPOINT reaps a burst of orphans; node as PID 1 does not', async (t) => {
    const withReaper = nameOf('orphans');
    const control = nameOf('orphans-control');
    const [a, b] = await Promise.all([
      startApp(withReaper, [], ['node', APP, 'orphans', '100']),
      startApp(control, ['--entrypoint', 'node'], [APP, 'orphans', '100']),
    ]);
    const [reaped, leaked] = await Promise.all([censusWhenSettled(withReaper), censusWhenSettled(control)]);
    t.equal(reaped.alive, 0, 'all 100 orphans have exited (reaper)');
    t.equal(reaped.zombies, 0, 'no zombie left in the container under reaper');
    t.equal(leaked.alive, 0, 'all 100 orphans have exited (control)');
    t.ok(leaked.zombies >= 100, `control: node as PID 1 leaves them as zombies (${leaked.zombies})`);
    // The HEALTHCHECK the docker/ Dockerfiles use.
    const health = (name: string) => docker(['exec', name, '/app/node_modules/.bin/reaper-zombies', '--max', '20']);
    const [healthy, unhealthy] = await Promise.all([health(withReaper), health(control)]);
    t.equal(healthy.code, 0, 'reaper-zombies --max 20: healthy under reaper');
    t.equal(unhealthy.code, 1, `reaper-zombies --max 20: unhealthy in the control (${unhealthy.stdout.trim().split('\n').pop()})`);
    await Promise.all([docker(['rm', '-f', withReaper, control]), a.finished, b.finished]);
  });

  t.test('docker stop of a default app: fast under reaper, the full timeout without', async (t) => {
    const name = nameOf('stop');
    const app = await startApp(name, [], ['node', APP]);
    const stop = await docker(['stop', name]);
    const done = await app.finished;
    t.equal(stop.code, 0, 'docker stop succeeded');
    t.ok(stop.ms < 2000, `docker stop returned in ${Math.round(stop.ms)} ms (< 2000)`);
    t.equal(done.code, 143, 'the app died of the forwarded SIGTERM: 128+15');
    t.comment(`docker stop with reaper: ${Math.round(stop.ms)} ms`);

    const controlName = nameOf('stop-control');
    const control = await startApp(controlName, ['--entrypoint', 'node'], [APP]);
    const controlStop = await docker(['stop', '-t', '3', controlName]);
    const controlDone = await control.finished;
    t.ok(controlStop.ms >= 3000, `node as PID 1 ignores SIGTERM: docker stop -t 3 took ${Math.round(controlStop.ms)} ms (>= 3000)`);
    t.equal(controlDone.code, 137, 'and it was SIGKILLed: 137');
    t.comment(`docker stop -t 3 without reaper: ${Math.round(controlStop.ms)} ms`);
    await docker(['rm', '-f', name, controlName]);
  });

  t.test('docker run passes exit codes through', async (t) => {
    const cases: Array<[string, number]> = [
      ['exit 0', 0],
      ['exit 3', 3],
      ['kill -KILL $$', 137],
      ['kill -TERM $$', 143],
    ];
    const results = await Promise.all(cases.map(([script]) =>
      docker(['run', '--rm', '--label', LABEL, '--network=none', IMAGE, 'sh', '-c', script])));
    cases.forEach(([script, code], i) => t.equal(results[i]!.code, code, `sh -c '${script}' -> ${code}`));
  });

  t.test('docker run -t: ^C reaches the app once and stops only the app', async (t) => {
    const name = nameOf('tty');
    const pty = (args: string[]) => run(['python3', fixture('pty-run.py'), JSON.stringify([['expect', 'app ready'], ['send', '\x03']]), '--',
      'docker', 'run', '-t', '-i', ...base(`${name}${args.length}`), IMAGE, 'node', APP, ...args], { pid1: false, env }).finished;
    names.push(`${name}1`, `${name}0`);
    const handled = await pty(['sigint']);
    t.equal(handled.code, 0, 'the app handled one SIGINT and exited 0; reaper exited with its status');
    t.match(handled.stdout, /app got SIGINT 1/);
    t.notMatch(handled.stdout, /app got SIGINT 2/, 'not delivered twice (tty and forwarding)');
    const killed = await pty([]);
    t.equal(killed.code, 130, 'an app without a handler dies of SIGINT: 130, reported by reaper');
    t.match(killed.stdout, /killed by SIGINT/, 'reaper says why');
    await docker(['rm', '-f', `${name}1`, `${name}0`]);
  });

  t.test('drain: a helper daemon flushes its file on docker stop; without drain or reaper it is lost', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reaper-drain-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const volume = ['-v', `${dir}:/data`];
    const cases = [
      { what: 'drain', runArgs: volume, command: ['node', APP, 'helper', '/data/drain'], file: 'drain', kept: true },
      { what: 'no-drain', runArgs: [...volume, '--entrypoint', REAPER_BIN], command: ['--no-drain', '--', 'node', APP, 'helper', '/data/no-drain'], file: 'no-drain', kept: false },
      { what: 'no-reaper', runArgs: [...volume, '--entrypoint', 'node'], command: [APP, 'helper', '/data/no-reaper'], file: 'no-reaper', kept: false },
    ];
    await Promise.all(cases.map(async (c) => {
      const name = nameOf(c.what);
      const app = await startApp(name, c.runArgs, c.command);
      const stop = await docker(['stop', '-t', '3', name]);
      await app.finished;
      await docker(['rm', '-f', name]);
      const path = join(dir, c.file);
      if (c.kept) {
        t.ok(existsSync(path) && /^flushed \d+/.test(readFileSync(path, 'utf8')), `${c.what}: the helper got SIGTERM and flushed`);
        t.ok(stop.ms < 2000, `${c.what}: docker stop took ${Math.round(stop.ms)} ms`);
      } else {
        t.notOk(existsSync(path), `${c.what}: the helper was SIGKILLed, its data lost`);
      }
    }));
  });

  t.test("a pod: reaper --pause shares its pid namespace (Kubernetes' shareProcessNamespace); app containers join it", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reaper-pod-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // The pause container: reaper as PID 1 of the pod's pid namespace, no program.
    const pauseName = nameOf('pod-pause');
    const pause = await startApp(pauseName, ['--entrypoint', REAPER_BIN], ['-v', '--pause'], /no program \(--pause\)/);
    const joined = ['--pid', `container:${pauseName}`];

    // 1. Plain node as the app's entrypoint: its orphans go to the pod's PID 1.
    const plainName = nameOf('pod-node');
    const plain = await startApp(plainName, [...joined, '--entrypoint', 'node'], [APP, 'orphans', '20']);
    await pause.waitFor(/reaped orphan pid \d+ \(sleep\)/, { stream: 'stderr', count: 20, timeoutMs: 30_000 });
    t.same(await censusWhenSettled(plainName), { zombies: 0, alive: 0 }, 'the pause reaper reaped all 20 orphans of the node app');

    // 2. reaper as the app's entrypoint: a subreaper there, not PID 1.
    const appName = nameOf('pod-reaper');
    const app = await startApp(appName, [...joined, '-v', `${dir}:/data`, '-e', 'REAPER_FORWARD_DELAY=1s'],
      ['node', APP, 'term', 'helper', '/data/pod-helper']);
    const stopAt = Date.now();
    const stop = await docker(['stop', '-t', '10', appName]);
    const done = await app.finished;
    const termAt = Number(/app got SIGTERM (\d+)/.exec(done.stdout)?.[1]);
    t.match(done.stderr, /holding SIGTERM for 1\.00s \(--forward-delay\)/, 'docker stop: the SIGTERM was held');
    t.ok(termAt - stopAt >= 1000 && termAt - stopAt < 9000, `the app got its SIGTERM ${termAt - stopAt} ms after docker stop (the delay is 1 s)`);
    t.ok(existsSync(join(dir, 'pod-helper')), 'the helper the app left was drained: it got SIGTERM and flushed');
    t.ok(stop.ms < 9000, `docker stop returned in ${Math.round(stop.ms)} ms, before its SIGKILL`);
    t.equal(done.code, 0, "the container exited with the app's status");

    await docker(['stop', plainName]);
    await plain.finished;
    // 3. The pod ends: the pause container exits 0 on docker stop's SIGTERM.
    const pauseStop = await docker(['stop', '-t', '10', pauseName]);
    const pauseDone = await pause.finished;
    t.equal(pauseDone.code, 0, 'docker stop of the pause container: exit 0');
    t.ok(pauseStop.ms < 9000, `at once (${Math.round(pauseStop.ms)} ms), not by SIGKILL`);
    t.match(pauseDone.stderr, /received SIGTERM: exiting 0/);
    await docker(['rm', '-f', pauseName, plainName, appName]);
  });

  t.test('pod control: a pause container that does not reap leaves the node app\'s orphans as zombies', async (t) => {
    const pauseName = nameOf('pod-control-pause');
    const pause = await startApp(pauseName, ['--entrypoint', 'sh'], ['-c', 'echo paused; exec tail -f /dev/null'], /paused/);
    const plainName = nameOf('pod-control-node');
    const plain = await startApp(plainName, ['--pid', `container:${pauseName}`, '--entrypoint', 'node'], [APP, 'orphans', '20']);
    const counts = await censusWhenSettled(plainName);
    t.equal(counts.alive, 0, 'the orphans have exited');
    t.ok(counts.zombies >= 20, `and stay zombies under a PID 1 that does not reap (${counts.zombies})`);
    await docker(['rm', '-f', pauseName, plainName]);
    await Promise.all([pause.finished, plain.finished]);
  });

  t.test('docker run --init runs reaper (dockerd --init-path=<package>/prebuilds/linux-<arch>/reaper-launcher)', async (t) => {
    const done = await docker(['run', '--rm', '--init', '--label', LABEL, '--network=none', '--entrypoint', 'sh', IMAGE,
      '-c', 'tr "\\0" " " </proc/1/cmdline; echo; exit 3']);
    // The launcher, bind-mounted as /sbin/docker-init, started node on the image's reaper with tini's defaults.
    t.match(done.stdout, /^\/usr\/bin\/node \/app\/node_modules\/reaper-init\/dist\/cli\.cjs -- sh/,
      "PID 1 is node on the image's reaper, started by the launcher as /sbin/docker-init (if not: start dockerd with scripts/docker-up.sh)");
    t.equal(done.code, 3, 'exit code passes through');

    const name = nameOf('init-orphans');
    const app = await startApp(name, ['--init', '--entrypoint', 'node'], [APP, 'orphans', '100']);
    const counts = await censusWhenSettled(name);
    t.equal(counts.alive, 0, 'all orphans have exited');
    t.equal(counts.zombies, 0, 'no zombie left under --init');
    const stop = await docker(['stop', name]);
    t.ok(stop.ms < 2000, `docker stop of a default app under --init: ${Math.round(stop.ms)} ms`);
    t.equal((await app.finished).code, 143);
    await docker(['rm', '-f', name]);
  });

  t.test('library mode: a minified esbuild bundle using signal-exit, with reaper-init/register, as PID 1', async (t) => {
    // Bundled on the host (signal-exit 4 inside, reaper-init external) and
    // mounted at /app/bundled, where reaper-init resolves to the image's
    // /app/node_modules/reaper-init, installed from the packed tarball.
    const project = makeProject(4);
    const out = mkdtempSync(join(tmpdir(), 'reaper-docker-bundle-'));
    t.teardown(() => rmSync(project, { recursive: true, force: true }));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    chmodSync(out, 0o755);
    const app = await bundle(project, 4, 'esm', { minify: true, outDir: out });
    const control = await bundle(project, 4, 'esm', { minify: true, register: false, outDir: out });
    const runArgs = ['-v', `${out}:/app/bundled:ro`, '--entrypoint', 'node'];
    const file = (path: string) => `/app/bundled/${path.slice(out.length + 1)}`;

    const name = nameOf('signal-exit');
    const running = await startApp(name, runArgs, [file(app)], /^app ready$/);
    // The orphan sleeps 0.1 s, then stays a zombie for the 250 ms grace period.
    let counts = await census(name);
    for (const deadline = performance.now() + 10000; (counts.alive > 0 || counts.zombies > 0) && performance.now() < deadline;) counts = await census(name);
    t.same(counts, { zombies: 0, alive: 0 }, 'the orphan it left has exited and was reaped');
    const stop = await docker(['stop', name]);
    const done = await running.finished;
    t.equal(stop.code, 0, 'docker stop succeeded');
    t.equal(done.code, 143, 'the app ended with 143');
    t.match(done.stdout, /^exit hook 143 null$/m, "signal-exit's exit hook ran");
    t.ok(stop.ms < 1000, `docker stop returned in ${Math.round(stop.ms)} ms (< 1000)`);
    t.comment(`docker stop of the bundled app: ${Math.round(stop.ms)} ms`);

    const controlName = nameOf('signal-exit-control');
    const controlRun = await startApp(controlName, runArgs, [file(control)], /^app ready$/);
    const controlStop = await docker(['stop', '-t', '2', controlName]);
    const controlDone = await controlRun.finished;
    t.match(controlDone.stdout, /^exit hook null SIGTERM$/m, 'control without register: signal-exit ran its hook and re-raised SIGTERM');
    t.ok(controlStop.ms >= 2000, `the kernel dropped it for PID 1: docker stop -t 2 took ${Math.round(controlStop.ms)} ms`);
    t.equal(controlDone.code, 137, 'and SIGKILL ended it: 137');
    await docker(['rm', '-f', name, controlName]);
  });

  t.test('docker info: reaper answers the init version without a parse warning', async (t) => {
    const before = existsSync(DOCKERD_LOG) ? statSync(DOCKERD_LOG).size : -1;
    const info = await docker(['info', '--format', '{{.InitBinary}} {{json .InitCommit}}']);
    t.equal(info.code, 0);
    t.match(info.stdout, /\/prebuilds\/linux-[a-z0-9]+\/reaper-launcher /, `init binary: ${info.stdout.trim()}`);
    // `docker info` prints InitCommit.ID as "init version"; "N/A" when the --version answer did not parse.
    const commit = JSON.parse(info.stdout.slice(info.stdout.indexOf('{'))) as { ID: string; Expected: string };
    t.match(commit.ID, /^[0-9a-f]{7,}$/, `docker info's init version is reaper's commit (${commit.ID})`);
    if (before < 0) {
      t.fail(`no dockerd log at ${DOCKERD_LOG} (start dockerd with scripts/docker-up.sh)`);
      return;
    }
    const size = statSync(DOCKERD_LOG).size;
    const buffer = Buffer.alloc(size - before);
    const fd = openSync(DOCKERD_LOG, 'r');
    readSync(fd, buffer, 0, buffer.length, before);
    closeSync(fd);
    const lines = buffer.toString('utf8').split('\n').filter((line) => /init/i.test(line) && /version|parse|retrieve/i.test(line));
    t.same(lines, [], 'dockerd logged no init-version warning while answering docker info');
  });
}

const reason = unavailable();
if (reason) {
  if (process.env.REAPER_REQUIRE_DOCKER === '1') {
    t.fail(`REAPER_REQUIRE_DOCKER=1 but ${reason}`);
  } else {
    t.plan(0, `skipped: ${reason}`);
  }
} else {
  suite();
}
