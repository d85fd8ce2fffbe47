// startReaper at its boundary: bad options throw one-sentence errors, a
// second call never silently gets another configuration, stop()/abort/dispose
// release everything the reaper added, errors without a listener become
// warnings; and reaping without /proc/<pid>/task/<tid>/children.
import t from 'tap';
import { childrenOf, fixture, ROOT, run, within, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;

t.test('bad options throw a TypeError or RangeError naming the option and the accepted values', async (t) => {
  // Nothing starts before the options are checked: safe in the test process.
  const { startReaper } = await import(`${ROOT}/dist/index.js`);
  const cases: Array<[unknown, string, string, RegExp]> = [
    [{ graceMs: 'abc' }, 'TypeError', 'ERR_INVALID_ARG_TYPE', /options\.graceMs must be a number of milliseconds from 0 to 2147483647, got 'abc'\.$/],
    [{ graceMs: -5 }, 'RangeError', 'ERR_OUT_OF_RANGE', /options\.graceMs .* got -5\.$/],
    [{ graceMs: NaN }, 'RangeError', 'ERR_OUT_OF_RANGE', /options\.graceMs .* got NaN\.$/],
    [{ graceMs: Infinity }, 'RangeError', 'ERR_OUT_OF_RANGE', /options\.graceMs .* got Infinity\.$/],
    [{ subreaper: 'yes' }, 'TypeError', 'ERR_INVALID_ARG_TYPE', /options\.subreaper must be true or false, got 'yes'\.$/],
    [{ handleTerminationSignals: 0 }, 'TypeError', 'ERR_INVALID_ARG_TYPE', /options\.handleTerminationSignals must be true or false, got 0\.$/],
    [{ signal: {} }, 'TypeError', 'ERR_INVALID_ARG_TYPE', /options\.signal must be an AbortSignal, got \{\}\.$/],
    [{ graceMS: 100 }, 'TypeError', 'ERR_INVALID_ARG_VALUE', /unknown option "graceMS"; the options are subreaper, handleTerminationSignals, graceMs and signal\.$/],
    [5, 'TypeError', 'ERR_INVALID_ARG_TYPE', /options must be an object or undefined, got 5\.$/],
    [null, 'TypeError', 'ERR_INVALID_ARG_TYPE', /got null\.$/],
  ];
  for (const [options, name, code, message] of cases) {
    let error: (Error & { code?: string }) | undefined;
    try {
      startReaper(options);
    } catch (caught) {
      error = caught as Error;
    }
    t.equal(error?.name, name, `${JSON.stringify(options) ?? String(options)}: ${name}`);
    t.equal(error?.code, code, `  code ${code}`);
    t.match(error?.message, message, '  names the option and what it accepts');
    // One sentence: no full stop before the end, no stack in the message.
    t.match(error?.message, /^startReaper: [^\n]*[^.]\.$/, '  one line, one sentence');
    t.notMatch(error?.message.slice(0, -1), /\.\s/, '  one sentence');
  }
  t.throws(() => startReaper({ signal: AbortSignal.abort() }), { name: 'AbortError' }, 'an aborted signal: its reason is thrown, nothing starts');
});

t.test('lifecycle: shared handles, conflicts, abort, dispose; stop releases every listener, timer and signal handle', async (t) => {
  const done = await run([node, fixture('library-lifecycle.mjs')]).finished;
  t.equal(done.code, 0, done.stderr);
  const found = JSON.parse(done.stdout.trim().split('\n').at(-1)!);
  t.same(found.running.resources, ['SIGNALWRAP', 'SIGNALWRAP', 'SIGNALWRAP', 'SIGNALWRAP', 'Timeout'],
    'while running: SIGCHLD, SIGTERM, SIGINT, SIGHUP handles and the grace timer (so the check below can fail)');
  t.same(found.stopped.leftResources, [], 'after the last handle stopped: every one destroyed');
  t.same(found.stopped.listeners, found.baseline, 'process listeners are back to what they were');
  t.equal(found.conflict, 'ERR_REAPER_ALREADY_STARTED', 'a second call with another graceMs throws');
  t.match(found.conflictMessage, /^startReaper: a reaper is already running with subreaper true, not false; leave subreaper out \(or pass the same value\) to share it, or stop\(\) its handles first\.$/);
  t.ok(found.shared, 'matching or omitted options share the running reaper and its stats');
  t.equal(found.abortListeners, 1, "a handle with a signal listens for 'abort'");
  t.same(found.afterTwoStops, { sigchld: 1, stopped: [true, false, true] }, 'stopping two of three handles (one twice) keeps the reaper running');
  t.same(found.afterAbort, { stopped: true, abortListeners: 0 }, 'abort stops the last handle and removes its abort listener');
  t.equal(found.reapNowAfterStop, 'ERR_REAPER_STOPPED', 'a stopped handle does not reap');
  t.equal(found.aborted, 'AbortError', 'an already aborted signal throws its reason');
  t.ok(found.hasDispose, `Node ${process.version} has Symbol.dispose`);
  t.same(found.disposed, { stopped: true, listeners: found.baseline }, 'Symbol.dispose and Symbol.asyncDispose stop the handle');
  t.equal(found.restarted, 0, 'after the last handle, a new reaper takes new options');
  t.same(found.warnings, ['listener failed'], "an error with no 'error' listener becomes a process warning");
  t.same(found.errors, ['listener failed'], "with a listener, an 'error' event");
  t.equal(found.warningsAfterListener, 1, 'and no more warnings');
  t.match(done.stderr, /\(node:1\) Error: listener failed/, 'the warning is printed on stderr');
});

// Kernels without CONFIG_PROC_CHILDREN have no children file; container
// runtimes mask /proc files by bind-mounting /dev/null over them. We mount
// over the file (or its directory) in the namespace's own mount namespace,
// then exec the app as PID 1.
const masks: Array<[string, string]> = [
  ['the children file masked with /dev/null', 'mount --bind /dev/null /proc/1/task/1/children'],
  ['no children file (its task directory hidden)', 'mount -t tmpfs none /proc/1/task/1'],
];
for (const [what, mount] of masks) {
  t.test(`${what}: orphans are still reaped, found by their parent pid`, async (t) => {
    const app = run(['sh', '-c', `${mount} && exec "$0" "$@"`, node, fixture('library-app.js')], { env: { APP_MODE: 'tree', APP_ON_ERROR: '1' } });
    await app.waitFor(/^tree ready/);
    const [top] = childrenOf(app.initPid());
    process.kill(top!, 'SIGKILL');
    t.ok(await app.waitFor(/^reaped \d+ sh exited with code 0$/, { count: 5 }), 'all 5 orphaned helpers reaped');
    t.match(app.stdout(), /tree exited SIGKILL/, "Node's own 'exit' event for the top process still fired");
    t.equal(childrenOf(app.initPid()).length, 0, 'no child (zombie or not) left');
    app.signal('SIGTERM');
    const done = await within(app.finished, 5000, 'exit after SIGTERM');
    t.equal(done.code, 143);
    t.notMatch(done.stdout, /reaper error/, 'no error reported');
  });
}

t.test("no usable /proc: an 'error' event, or a warning without a listener", async (t) => {
  const argv = ['sh', '-c', 'mount -t tmpfs none /proc && exec "$0" "$@"', node, fixture('library-app.js')];
  const heard = await run(argv, { env: { APP_ON_ERROR: '1' } }).finished;
  t.equal(heard.code, 0, 'the app runs on');
  t.match(heard.stdout, /^reaper error ERR_REAPER_NO_PROC$/m, "an 'error' event");
  t.notMatch(heard.stderr, /Warning|ReaperError/, 'and no warning');
  const unheard = await run(argv).finished;
  t.equal(unheard.code, 0, 'without a listener the app runs on');
  t.match(unheard.stderr, /^\(node:1\) \[ERR_REAPER_NO_PROC\] ReaperError: reaper cannot reap orphans here: \/proc is not mounted or belongs to another pid namespace \(\/proc\/self is not pid 1\); mount this namespace's \/proc, or run the app under the reaper-init CLI\.$/m,
    'one warning on stderr naming the problem and the fix');
});

t.test('reaper-init/register after an app reaper with other options: a warning, never a crash', async (t) => {
  // An earlier --import starts the app's reaper first (as a -r app can).
  const first = `data:text/javascript,import { startReaper } from ${JSON.stringify(`file://${ROOT}/dist/index.js`)}; startReaper({ subreaper: false });`;
  const script = 'import(process.env.INDEX).then(({ startReaper }) => console.log("subreaper option " + startReaper().config.subreaper))';
  const argv = [node, '--import', first, '--import', `${ROOT}/dist/register.js`, '-e', script];
  const withEnv = (value: string | undefined) => run(argv, { pid1: false, env: { INDEX: `${ROOT}/dist/index.js`, REAPER_SUBREAPER: value } }).finished;
  const agreeing = await withEnv(undefined);
  t.equal(agreeing.code, 0);
  t.match(agreeing.stdout, /^subreaper option false$/m, "without REAPER_SUBREAPER, register leaves the app's choice alone");
  t.equal(agreeing.stderr, '', 'and says nothing');
  const contradicting = await withEnv('1');
  t.equal(contradicting.code, 0, 'the app runs on');
  t.match(contradicting.stdout, /^subreaper option false$/m, "the app's reaper runs");
  t.match(contradicting.stderr, /^\(node:\d+\) Warning: reaper-init\/register: startReaper: a reaper is already running with subreaper false, not true; .*\.$/m, 'one warning line');
  const unclear = await withEnv('maybe');
  t.match(unclear.stderr, /^\(node:\d+\) Warning: REAPER_SUBREAPER="maybe" is neither 1 nor 0; reaper-init\/register uses the default\.$/m, 'an unclear value is named');
});
