// Library mode: a Node app that is its own PID 1 reaps its orphans
// in-process without ever stealing an exit status Node is waiting for.
import t from 'tap';
import { childrenOf, fixture, ROOT, run, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;

interface Workload {
  mode: string;
  pid: number;
  exitEvents: number;
  wrongCodes: number;
  spawnSyncStatus: number | null;
  exec: string;
  workerExits: number;
  reaped: number;
  zombies: number;
}

async function workload(mode: 'reaper' | 'naive', pid1: boolean): Promise<Workload> {
  // The naive run loses events for good: 3 s is plenty to show it.
  const app = run([node, fixture('library-workload.js')], { pid1, env: { MODE: mode, DEADLINE_MS: mode === 'naive' ? '3000' : '30000' } });
  const done = await app.finished;
  const line = done.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as Workload;
  } catch {
    throw new Error(`workload printed no result (exit ${done.code}): ${done.stdout}\n${done.stderr}`);
  }
}

for (const pid1 of [true, false]) {
  t.test(`${pid1 ? 'as PID 1' : 'as subreaper'}: every exit event fires and every orphan is reaped`, async (t) => {
    const result = await workload('reaper', pid1);
    t.equal(result.pid === 1, pid1, pid1 ? 'the app is PID 1' : 'the app is not PID 1');
    t.equal(result.exitEvents, 200, "all 200 child_process 'exit' events fired");
    t.equal(result.wrongCodes, 0, 'each with its exit code');
    t.equal(result.spawnSyncStatus, 5, 'spawnSync returned its status');
    t.equal(result.exec, 'exec-ok', 'execSync returned its output');
    t.equal(result.workerExits, 20, "the worker thread's 20 children reported exit code 3");
    t.equal(result.reaped, 202, '200 double-forked orphans + 2 left by spawnSync/execSync reaped');
    t.equal(result.zombies, 0, 'no zombie left');
  });
}

t.test('negative control: a naive waitpid(-1) reaper steals exit events', async (t) => {
  const result = await workload('naive', true);
  // The blunt loop reaps whatever exits first, libuv's children included;
  // libuv then gets ECHILD and never fires their 'exit' events.
  t.ok(result.exitEvents < 200, `only ${result.exitEvents} of 200 'exit' events fired`);
});

t.test('a process tree whose top is SIGKILLed leaves no zombie', async (t) => {
  const app = run([node, fixture('library-app.js')], { env: { APP_MODE: 'tree' } });
  await app.waitFor(/^tree ready/);
  // The app's only child is the tree's top (its printed pid is the namespace's).
  const [top] = childrenOf(app.initPid());
  process.kill(top!, 'SIGKILL');
  t.ok(await app.waitFor(/^reaped \d+ sh exited with code 0$/, { count: 5 }), 'all 5 orphaned helpers reaped');
  t.match(app.stdout(), /tree exited SIGKILL/, "Node's own 'exit' event for the top process still fired");
  app.signal('SIGTERM');
  t.equal((await app.finished).code, 143);
});

t.test('an app with only the reaper started exits on its own', async (t) => {
  for (const pid1 of [true, false]) {
    const done = await run([node, fixture('library-app.js')], { pid1 }).finished;
    t.equal(done.code, 0, pid1 ? 'as PID 1' : 'not PID 1');
    t.match(done.stdout, /app ready/);
  }
});

t.test('as PID 1, SIGTERM/SIGINT/SIGHUP end the app with 128+N and run its exit hooks', async (t) => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    const app = run([node, fixture('library-app.js')], { env: { APP_MODE: 'wait' } });
    await app.waitFor(/^app ready/);
    app.signal(signal);
    const done = await app.finished;
    t.equal(done.code, code, `${signal} -> ${code}`);
    t.match(done.stdout, new RegExp(`exit hook ${code}`), 'exit hooks ran');
  }
});

t.test("an app's own SIGTERM listener keeps full control", async (t) => {
  const app = run([node, fixture('library-app.js')], { env: { APP_MODE: 'own-term' } });
  await app.waitFor(/^app ready/);
  app.signal('SIGTERM');
  const done = await app.finished;
  t.equal(done.code, 7);
  t.match(done.stdout, /own handler/);
});

t.test('negative control: Node as PID 1 without the library ignores SIGTERM', async (t) => {
  const app = run([node, '-e', 'process.on("SIGWINCH", () => console.log("still alive")); console.log("ready"); setInterval(() => {}, 1 << 30)']);
  await app.waitFor(/^ready$/);
  app.signal('SIGTERM');
  // SIGWINCH (28) is delivered after a pending SIGTERM (15): an answer proves
  // the process lived through SIGTERM.
  app.signal('SIGWINCH');
  await app.waitFor(/^still alive$/);
  app.signal('SIGKILL');
  const done = await app.finished;
  t.not(done.code, 143, 'SIGTERM did not end it; only SIGKILL from outside did');
});

t.test('preloads: --import and -r start the reaper before the app', async (t) => {
  // The app asks for the reaper (startReaper returns the running one), checks
  // the preload already ran a pass, leaves an orphan and waits for its reap.
  const script = `import(${JSON.stringify(`${ROOT}/dist/index.js`)}).then(({ startReaper }) => {
    const reaper = startReaper();
    console.log("preloaded passes=" + reaper.stats.passes);
    reaper.on("reap", (event) => { console.log("reaped " + event.comm); process.exit(0); });
    require("node:child_process").spawn("sh", ["-c", "(sleep 0.05 &); exit 0"]);
    setInterval(() => {}, 1 << 30);
  })`;
  for (const flag of [['--import', `${ROOT}/dist/register.js`], ['-r', `${ROOT}/register.cjs`]]) {
    const done = await run([node, ...flag, '-e', script], { pid1: false }).finished;
    t.equal(done.code, 0, flag[0]);
    t.match(done.stdout, /^preloaded passes=[1-9]/m, `${flag[0]}: the reaper was running before the app`);
    t.match(done.stdout, /^reaped sleep$/m, `${flag[0]}: the orphaned sleep was reaped`);
  }
});
