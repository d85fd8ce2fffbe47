// Library mode in apps as they ship: an app that uses signal-exit's onExit
// (many loggers, CLIs and frameworks do) and loads reaper-init/register runs
// as PID 1 of a pid namespace. SIGTERM must run its exit hook and end it with
// 143 at once, for signal-exit 3 and 4, CommonJS and ESM, from source or
// bundled by esbuild (minified or not), and the orphan it left is reaped.
import t, { type Test } from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { childrenOf, run, until, within, zombieChildren, requirePid1 } from './harness/index.js';
import { bundle, makeProject, sourceOf, type Format, type Version } from './fixtures/exit-hook/build.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const VERSIONS: Version[] = [3, 4];
const FORMATS: Format[] = ['cjs', 'esm'];
const projects = new Map<Version, string>(VERSIONS.map((version) => [version, makeProject(version)]));
t.teardown(() => {
  for (const dir of projects.values()) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs argv as PID 1 (cwd: the project, for --import/-r resolution), waits
 * for readiness and for the orphan to be reaped, sends SIGTERM; returns the
 * result and how long the app took to end after the signal.
 */
async function terminate(t: Test, argv: string[], cwd: string) {
  // The harness runs the app without tap's NODE_OPTIONS loader: it would
  // load a signal-exit of its own into the app (@tapjs/processinfo), adding a
  // listener and a count that the app under test does not have.
  const app = run(argv, { cwd });
  await app.waitFor(/^app ready$/);
  const init = app.initPid();
  t.ok(await until(() => childrenOf(init).length === 0, 5000, 'the orphan it left reaped'), `the orphan it left was reaped (children left: [${childrenOf(init)}], zombies: ${zombieChildren(init).length})`);
  const sent = performance.now();
  app.signal('SIGTERM');
  // Bounded: the failure this guards against is an app that never ends.
  const done = await within(app.finished, 5000, 'the app ending after SIGTERM');
  return { done, ms: performance.now() - sent };
}

for (const version of VERSIONS) {
  const dir = projects.get(version)!;
  for (const format of FORMATS) {
    for (const build of ['source', 'bundle', 'minified'] as const) {
      t.test(`signal-exit ${version}, ${format}, ${build}: SIGTERM runs the exit hook, 143 within a second`, async (t) => {
        const file = build === 'source' ? sourceOf(dir, version, format) : await bundle(dir, version, format, { minify: build === 'minified' });
        if (build !== 'source') {
          // The text the library once looked for does not survive bundling.
          t.notMatch(readFileSync(file, 'utf8'), /an exit is coming/, 'the bundle has no signal-exit comments');
        }
        const { done, ms } = await terminate(t, [node, file], dir);
        t.equal(done.code, 143, 'exit status 128+15');
        t.match(done.stdout, /^exit hook 143 null$/m, "signal-exit's exit hook ran");
        t.ok(ms < 1000, `ended ${Math.round(ms)} ms after SIGTERM (< 1000)`);
      });
    }
  }
}

t.test('the register module as a preload (--import, -r) of a minified bundle', async (t) => {
  for (const [format, flag] of [['esm', '--import'], ['cjs', '-r']] as const) {
    const dir = projects.get(4)!;
    const file = await bundle(dir, 4, format, { minify: true, register: false });
    const { done, ms } = await terminate(t, [node, flag, 'reaper-init/register', file], dir);
    t.equal(done.code, 143, `${flag}: exit status 143`);
    t.match(done.stdout, /^exit hook 143 null$/m, `${flag}: the exit hook ran`);
    t.ok(ms < 1000, `${flag}: ended ${Math.round(ms)} ms after SIGTERM`);
  }
});

t.test("signal-exit next to the app's own SIGTERM listener: the app's handler decides", async (t) => {
  for (const version of VERSIONS) {
    const dir = projects.get(version)!;
    // ESM: reaper-init/register runs before the app, so our listener is the
    // first to hear SIGTERM and must stand aside.
    const file = await bundle(dir, version, 'esm', { minify: true });
    const app = run([node, file], { cwd: dir, env: { OWN_TERM: '1' } });
    await app.waitFor(/^app ready$/);
    app.signal('SIGTERM');
    const done = await within(app.finished, 5000, 'the app ending after SIGTERM');
    t.equal(done.code, 7, `signal-exit ${version}: the app's handler chose exit 7`);
    t.match(done.stdout, /^own handler$/m);
    t.match(done.stdout, /^exit hook 7 null$/m, 'and the exit hook ran');
  }
});

t.test('negative control: the same minified bundle without reaper-init/register survives SIGTERM', async (t) => {
  for (const version of VERSIONS) {
    const dir = projects.get(version)!;
    const file = await bundle(dir, version, 'esm', { minify: true, register: false });
    const app = run([node, file], { cwd: dir });
    await app.waitFor(/^app ready$/);
    app.signal('SIGTERM');
    // signal-exit runs the hooks and re-raises SIGTERM, which the kernel
    // drops for PID 1: in a container, docker stop waits for its SIGKILL.
    await app.waitFor(/^exit hook null SIGTERM$/);
    app.signal('SIGWINCH');
    await app.waitFor(/^still alive$/);
    app.signal('SIGKILL');
    const done = await app.finished;
    t.not(done.code, 143, `signal-exit ${version}: still alive after SIGTERM and its exit hook; only SIGKILL ended it`);
  }
});
