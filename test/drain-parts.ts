// The drain's parts, through the dependencies they take: the named scope
// over a process table the test scripts (pid reuse, zombies, a refusal,
// unreadable entries), the unnamed scope over a kill() the test answers, the
// phase runner over a scope the test drives, and the report's one line. The
// whole drain of real processes, as PID 1 and below it, is test/drain.ts's.
import t from 'tap';
import { buildReport, NamedScope, runPhases, summarize, UnnamedScope, type ScopeStrategy } from '../dist/wrapper/supervisor/drain.js';
import type { Logger } from '../dist/wrapper/log.js';
import type { ProcessEntry } from '../dist/core/procfs.js';

const SIGTERM = 15;
const SIGKILL = 9;
const SIGCONT = 18;

function recordingLog() {
  const lines: Array<[string, string]> = [];
  const at = (level: string) => (message: string) => { lines.push([level, message]); };
  const log = {
    enabled: () => true, error: at('error'), warn: at('warn'), notice: at('notice'), info: at('info'), debug: at('debug'), trace: at('trace'),
  } as unknown as Logger;
  return { log, lines };
}

const entry = (pid: number, startTicks: number, comm = 'sleep', state = 'S', pgid = 0): ProcessEntry => ({ pid, startTicks, comm, state, ppid: 1, pgid });

/** A named scope over a table the test sets, recording every signal sent. */
function scripted(scope: 'namespace' | 'descendants' = 'descendants') {
  const { log, lines } = recordingLog();
  let table: ProcessEntry[] = [];
  let unreadable = 0;
  let clock = 0;
  const sent: string[] = [];
  const refuse = new Set<string>();
  /** The kernel's word (kill(-1, 0), waitid): by default, whatever the table shows. */
  let kernelLeft: boolean | null = null;
  /** kill(-1) and kill(-pgid) calls. */
  const kills: string[] = [];
  /** Processes the kernel has but no scan shows: links a fork-and-exit chain made after the scan. */
  const unseen: ProcessEntry[] = [];
  const foreignGroups = new Set<number>();
  const ignoring = new Set<number>();
  /** Pids that are gone (reaped) by the time a signal is sent to them. */
  const gone = new Set<number>();
  const strategy = new NamedScope(scope, { signal: SIGTERM, log }, {
    table: () => ({ processes: table, unreadable, foreignGroups }),
    // As the kernel answers: kill(-1) succeeds when any process but us is
    // there, even one it may not signal (all EPERM is still success); kill(-pgid)
    // when a member it may signal is. Zombies and dying processes count: kill()
    // succeeds on them until they are reaped.
    kill(target, signal) {
      kills.push(`${target}:${signal}`);
      const there = [...table.filter((p) => !gone.has(p.pid)), ...unseen];
      if (target === -1) return there.length > 0 || unreadable > 0;
      return there.some((p) => p.pgid === -target && !refuse.has(`${p.pid}:${signal}`));
    },
    anythingLeft: () => kernelLeft ?? table.length > 0,
    ignores: (pid) => ignoring.has(pid),
    signalProcess(pid, startTicks, signal) {
      if (refuse.has(`${pid}:${signal}`)) throw Object.assign(new Error(`EPERM: operation not permitted, kill`), { code: 'EPERM', errno: -1, syscall: 'kill' });
      sent.push(`${pid}:${startTicks}:${signal}`);
      return !gone.has(pid) && table.some((p) => p.pid === pid && p.startTicks === startTicks);
    },
    now: () => clock,
  });
  return {
    strategy, lines, sent, refuse, kills, unseen, foreignGroups, ignoring, gone,
    set(processes: ProcessEntry[], hidden = 0) { table = processes; unreadable = hidden; },
    kernelSays(left: boolean | null) { kernelLeft = left; },
    advance(ms: number) { clock += ms; },
  };
}

t.test('named: each process gets the drain signal and SIGCONT once; its exit is timed from that', async (t) => {
  const s = scripted();
  s.set([entry(10, 1), entry(11, 1, 'worker')]);
  t.equal(s.strategy.sweep(false), false, 'two are left');
  s.advance(30);
  s.set([entry(11, 1, 'worker')]);
  t.equal(s.strategy.sweep(false), false, 'one is left');
  s.set([]);
  s.advance(20);
  t.equal(s.strategy.sweep(false), true, 'nothing is left');
  t.same(s.sent, ['10:1:15', '10:1:18', '11:1:15', '11:1:18'], 'no process was signalled twice');
  t.same(s.strategy.outcome().processes, [
    { pid: 10, comm: 'sleep', exitedAfterMs: 30, exitedByItself: false, killed: false },
    { pid: 11, comm: 'worker', exitedAfterMs: 50, exitedByItself: false, killed: false },
  ]);
});

t.test('named: a reused pid is another process (new start time); a zombie is left to its parent', async (t) => {
  const s = scripted();
  s.set([entry(10, 1), entry(12, 5, 'defunct', 'Z')]);
  s.strategy.sweep(false);
  s.set([entry(10, 2, 'newcomer'), entry(12, 5, 'defunct', 'Z')]);
  t.equal(s.strategy.sweep(false), false, 'a zombie still counts as present');
  t.same(s.sent, ['10:1:15', '10:1:18', '10:2:15', '10:2:18'], 'the zombie got nothing; the newcomer got its own signal');
  t.same(s.strategy.outcome().processes.map((p) => [p.pid, p.comm, p.exitedAfterMs]), [[10, 'sleep', 0], [10, 'newcomer', null]]);
});

t.test('named: after the grace period, SIGKILL to what is left and to newcomers; counted as killed', async (t) => {
  const s = scripted();
  s.set([entry(10, 1), entry(11, 1)]);
  s.strategy.sweep(false);
  s.set([entry(11, 1), entry(13, 4, 'late')]);
  s.strategy.killAll();
  s.set([entry(14, 9, 'later')]);
  s.strategy.sweep(true);
  t.same(s.sent.filter((line) => line.endsWith(`:${SIGKILL}`)), ['11:1:9', '13:4:9', '14:9:9']);
  const report = buildReport({ signal: SIGTERM, graceMs: 500 }, 'descendants', s.strategy.outcome(), { interruptedBy: null, survivors: 0 }, 600);
  t.same(report.killed.map((p) => p.pid), [11, 13, 14]);
  t.equal(report.exitedOnSignal, 1, 'only pid 10 exited on SIGTERM');
  t.match(summarize(report), /^drained 4 processes in 600ms; 1 exited on SIGTERM \(slowest after 0ms\); 3 killed after the 500ms grace period: 11 \(sleep\), 13 \(late\), 14 \(later\)$/);
});

t.test('named: an empty scan ends nothing while the kernel still counts a process (one that forks and exits slips through scans)', async (t) => {
  const s = scripted();
  s.set([entry(10, 1, 'chain', 'S', 7)]);
  s.strategy.sweep(false);
  s.set([]);
  s.kernelSays(true);
  t.equal(s.strategy.sweep(false), false, 'the scan found none, the kernel counts one: not over');
  s.kernelSays(false);
  t.equal(s.strategy.sweep(false), true, 'over when the kernel says so');
});

t.test('named: SIGKILL also goes to the process groups found (never one with a member outside), or kill(-1) as PID 1', async (t) => {
  const below = scripted('descendants');
  below.set([entry(10, 1, 'chain', 'S', 7), entry(11, 1, 'joined', 'S', 3), entry(12, 1, 'zombie', 'Z', 8)]);
  below.foreignGroups.add(3); // a group reaper's own shell job shares, say
  below.strategy.sweep(false);
  below.strategy.killAll();
  t.same(below.kills, ['-7:9'], 'only the group wholly ours with a live member');
  const pid1 = scripted('namespace');
  pid1.set([entry(10, 1, 'chain', 'S', 7)]);
  pid1.strategy.sweep(false);
  pid1.strategy.killAll();
  t.same(pid1.kills, ['-1:9'], 'the whole namespace at once');
  t.notOk(pid1.strategy.outcome().killedUnnamed, 'SIGKILL reached no one it was not sent to by name');
});

// Before the fix, 16 of 20 real drains as PID 1 (5 of 10 below it) said so of
// TERM-ignoring sleeps killed by name: every sweep after the grace repeats the
// kill round, and kill() succeeds on a process still dying or a zombie.
t.test('named: processes killed by name and still in the table (dying, zombies) are no "unnamed" processes on later sweeps', async (t) => {
  for (const scope of ['namespace', 'descendants'] as const) {
    const s = scripted(scope);
    const sleeps = [10, 11, 12].map((pid) => entry(pid, 1, 'sleep', 'S', pid));
    s.ignoring.add(10).add(11).add(12);
    s.set(sleeps);
    s.strategy.sweep(false);
    s.strategy.killAll();
    t.equal(s.strategy.sweep(true), false, `${scope}: still dying`);
    s.set(sleeps.map((p) => ({ ...p, state: 'Z' })));
    t.equal(s.strategy.sweep(true), false, `${scope}: zombies not yet reaped`);
    s.set([sleeps[0]!]);
    t.equal(s.strategy.sweep(true), false, `${scope}: one still dying`);
    t.ok(s.kills.length >= 3, `${scope}: kill(-1) or kill(-pgid) went out on every sweep and reached them`);
    s.set([]);
    t.equal(s.strategy.sweep(true), true);
    const report = buildReport({ signal: SIGTERM, graceMs: 200 }, scope, s.strategy.outcome(), { interruptedBy: null, survivors: 0 }, 250);
    t.notOk(report.killedUnnamed, `${scope}: no unnamed process was there`);
    t.equal(summarize(report), 'drained 3 processes in 250ms; 3 killed after the 200ms grace period: 10 (sleep), 11 (sleep), 12 (sleep)', scope);
  }
});

t.test('named: SIGKILL that reached a process no scan showed is said, even while killed ones are still dying', async (t) => {
  const s = scripted('descendants');
  s.ignoring.add(10);
  s.set([entry(10, 1, 'sleep', 'S', 7)]);
  s.strategy.sweep(false);
  s.strategy.killAll();
  t.notOk(s.strategy.outcome().killedUnnamed, 'killed by name');
  s.set([]);
  s.unseen.push(entry(20, 2, 'chain', 'S', 7));
  s.strategy.sweep(true);
  t.same(s.kills, ['-7:9'], 'no group is known from an empty scan');
  // A link that exited by itself a moment ago (a zombie), and one that is gone by its SIGKILL.
  s.set([entry(22, 3, 'chain', 'Z', 7), entry(21, 3, 'chain', 'S', 7)]);
  s.gone.add(21);
  s.strategy.sweep(true);
  t.ok(s.strategy.outcome().killedUnnamed, 'the group took a link no scan named (a fresh zombie hides nothing)');
});

t.test('named: a link of a fork-and-exit chain that vanished exited by itself; a SIGKILL only its group took is said', async (t) => {
  const s = scripted('descendants');
  s.ignoring.add(10).add(11);
  s.set([entry(10, 1, 'chain', 'S', 7), entry(20, 1, 'polite', 'S', 20)]);
  s.strategy.sweep(false);
  s.set([entry(11, 2, 'chain', 'S', 7)]); // 10 forked 11 and exited; 20 exited on its SIGTERM
  s.strategy.sweep(false);
  s.set([]);
  s.kernelSays(true); // the grace ends while no scan sees the chain
  s.strategy.killAll();
  t.same(s.kills, [], 'no group is known from an empty scan');
  s.kernelSays(null);
  s.set([entry(12, 3, 'chain', 'S', 7)]);
  s.gone.add(12); // forked and exited (and was reaped) before its SIGKILL by name
  s.unseen.push(entry(13, 4, 'chain', 'S', 7)); // the link it forked, after the scan
  t.equal(s.strategy.sweep(true), false);
  t.same(s.kills, ['-7:9'], 'the group took it');
  s.unseen.length = 0;
  s.set([]);
  t.equal(s.strategy.sweep(true), true);
  const report = buildReport({ signal: SIGTERM, graceMs: 300 }, 'descendants', s.strategy.outcome(), { interruptedBy: null, survivors: 0 }, 320);
  t.equal(report.exitedOnSignal, 1, 'only "polite" exited on SIGTERM');
  t.equal(report.exitedByThemselves, 3, 'the links that ignore SIGTERM (10, 11) and the one found after the grace (12) exited by themselves');
  t.ok(report.killedUnnamed, 'SIGKILL reached what no name did');
  t.equal(summarize(report), 'drained 4 processes in 320ms; 1 exited on SIGTERM (slowest after 0ms); 3 exited by themselves (gone before SIGTERM ' +
    'reached them, or ignoring it); killed after the 300ms grace period: processes no scan of /proc could name (forking faster than it is read)');
});

t.test('named: a refused signal is noted on the process and warned once per process and signal', async (t) => {
  const s = scripted();
  s.refuse.add(`10:${SIGTERM}`);
  s.refuse.add(`10:${SIGKILL}`);
  s.set([entry(10, 1, 'setuid')]);
  s.strategy.sweep(false);
  s.strategy.sweep(false);
  t.notOk(s.sent.includes(`10:1:${SIGCONT}`), 'no SIGCONT after a refused drain signal');
  s.strategy.killAll();
  const warnings = s.lines.filter(([level]) => level === 'warn').map(([, message]) => message);
  t.same(warnings, [
    'could not send SIGTERM to pid 10 (setuid): EPERM: operation not permitted, kill',
    'could not send SIGKILL to pid 10 (setuid): EPERM: operation not permitted, kill',
  ]);
  const report = buildReport({ signal: SIGTERM, graceMs: 1000 }, 'descendants', s.strategy.outcome(), { interruptedBy: null, survivors: 1 }, 3000);
  t.same(report.refused.map((p) => [p.pid, p.refused]), [[10, 'SIGKILL: EPERM']]);
  t.match(summarize(report), /1 could not be signalled: 10 \(setuid\) SIGKILL: EPERM/);
});

// An unprivileged PID 1 with a root process entered by docker exec -u 0:
// before the fix it waited out the grace period and the SIGKILL wait for it,
// then said it "survived SIGKILL" and named "processes no scan could name".
t.test('named: a process that refuses the drain signal is left but out of reach: nothing to wait for, no survivor', async (t) => {
  const s = scripted('namespace');
  s.refuse.add(`10:${SIGTERM}`).add(`10:${SIGKILL}`);
  s.set([entry(10, 1, 'rootsleep', 'S', 10), entry(11, 1, 'sleep', 'S', 11)]);
  s.kernelSays(true); // our child 11
  t.equal(s.strategy.sweep(false), false, 'our own child is still there');
  s.set([entry(10, 1, 'rootsleep', 'S', 10)]);
  s.kernelSays(false); // no child of ours is left (waitid)
  t.equal(s.strategy.sweep(false), true, 'only the one that refused is left: the drain is over');
  s.strategy.killAll();
  t.notOk(s.strategy.outcome().killedUnnamed, 'kill(-1) "succeeds" on a process that refuses it: not an unnamed one');
  t.equal(s.strategy.survivors(2000), 0, 'it did not survive SIGKILL: it never got one');
  t.notOk(s.lines.some(([level]) => level === 'error'), 'no error');
});

t.test('named: unreadable entries are warned about once, and only for the whole namespace', async (t) => {
  for (const scope of ['namespace', 'descendants'] as const) {
    const s = scripted(scope);
    s.set([entry(10, 1)], 2);
    s.strategy.sweep(false);
    s.strategy.sweep(false);
    const warned = s.lines.filter(([, message]) => /2 processes in \/proc could not be read/.test(message)).length;
    t.equal(warned, scope === 'namespace' ? 1 : 0, scope);
  }
});

t.test('unnamed: one kill() target; the drain signal and SIGCONT once, then probes; SIGKILL counted', async (t) => {
  const { log, lines } = recordingLog();
  const calls: string[] = [];
  let alive = true;
  const strategy: ScopeStrategy = new UnnamedScope('group-unnamed', { signal: SIGTERM, log, appPid: 42 }, (target, signal) => {
    calls.push(`${target}:${signal}`);
    return alive;
  });
  t.equal(strategy.sweep(false), false);
  t.equal(strategy.sweep(false), false);
  strategy.killAll();
  t.equal(strategy.survivors(2000), null, 'what outlived SIGKILL cannot be counted');
  alive = false;
  t.equal(strategy.sweep(true), true);
  t.same(calls, ['-42:15', '-42:18', '-42:0', '-42:0', '-42:9', '-42:0', '-42:0']);
  t.equal(strategy.describeLeft(), 'process group 42');
  t.match(lines, [['error', /^processes of process group 42 survived SIGKILL for 2.00s/]]);
  const report = buildReport({ signal: SIGTERM, graceMs: 1000 }, strategy.scope, strategy.outcome(), { interruptedBy: null, survivors: null }, 1200);
  t.equal(summarize(report), "drained the app's process group (unnamed: /proc is not reaper's own) in 1.20s; SIGKILL sent to what was left after the 1.00s grace period");
});

/** A scope the test empties after `left` sweeps; records the phases' calls. */
function drivenScope(left: number): ScopeStrategy & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls, scope: 'descendants', unnamed: false,
    sweep(killing) { calls.push(killing ? 'sweep-killing' : 'sweep'); return --left <= 0; },
    killAll() { calls.push('killAll'); },
    describeLeft: () => '3 processes',
    survivors() { calls.push('survivors'); return 1; },
    outcome: () => ({ processes: [], killedUnnamed: false }),
  };
}

function phaseContext(graceMs: number, interruptAfter = Infinity) {
  const { log, lines } = recordingLog();
  let reaps = 0;
  let listener: (() => void) | null = null;
  const context = {
    graceMs, log,
    reapAll: () => { reaps++; },
    interruptedBy: () => (reaps > interruptAfter ? 2 : 0),
    onChildEvent(l: () => void) { listener = l; return () => { listener = null; }; },
  };
  return { context, lines, reaps: () => reaps, subscribed: () => listener !== null };
}

t.test('phases: the drain ends at the first sweep that finds nothing left; no SIGKILL, no survivors', async (t) => {
  const scope = drivenScope(3);
  const p = phaseContext(60_000);
  const outcome = await runPhases(scope, p.context, { rescanMs: 1, killWaitMs: 60_000 });
  t.same(outcome, { interruptedBy: null, survivors: 0 });
  t.same(scope.calls, ['sweep', 'sweep', 'sweep']);
  t.equal(p.reaps(), 3, 'every sweep reaps first');
  t.notOk(p.subscribed(), 'the SIGCHLD subscription is gone');
});

t.test('phases: after the grace period, SIGKILL; then the final count after the kill wait', async (t) => {
  const scope = drivenScope(Infinity);
  const p = phaseContext(20);
  const outcome = await runPhases(scope, p.context, { rescanMs: 5, killWaitMs: 20 });
  t.same(outcome, { interruptedBy: null, survivors: 1 });
  t.equal(scope.calls.filter((c) => c === 'killAll').length, 1, 'SIGKILL once');
  t.ok(scope.calls.indexOf('killAll') < scope.calls.indexOf('sweep-killing'), 'sweeps after it signal newcomers with SIGKILL');
  t.equal(scope.calls.at(-1), 'survivors');
});

t.test('phases: a SIGINT during the grace period ends it at once, named in the warning and the outcome', async (t) => {
  const scope = drivenScope(Infinity);
  const p = phaseContext(60_000, 2);
  const outcome = await runPhases(scope, p.context, { rescanMs: 1, killWaitMs: 10 });
  t.same(outcome, { interruptedBy: 'SIGINT', survivors: 1 });
  t.match(p.lines, [['warn', 'drain interrupted by SIGINT; sending SIGKILL to 3 processes']]);
});

t.test('phases: a failing step is logged once while it repeats, and the drain still ends', async (t) => {
  const scope = drivenScope(Infinity);
  scope.sweep = () => { throw new Error('EMFILE: too many open files'); };
  const p = phaseContext(20);
  const outcome = await runPhases(scope, p.context, { rescanMs: 1, killWaitMs: 10 });
  t.same(outcome, { interruptedBy: null, survivors: 1 });
  t.same(p.lines.filter(([level]) => level === 'error').map(([, m]) => m), ['drain sweep failed, the drain goes on: EMFILE: too many open files']);
});

t.test('pinned signalling: a refusal is warned once per process and signal; a gone process is no warning', async (t) => {
  const { PinnedSignaller, processKey } = await import('../dist/wrapper/supervisor/pinned-signal.js');
  const { log, lines } = recordingLog();
  const refused: string[] = [];
  const signaller = new PinnedSignaller<{ pid: number; startTicks: number }>({
    log,
    describe: (target) => `orphan pid ${target.pid}`,
    onRefused: (target, reason) => refused.push(`${processKey(target)} ${reason}`),
    signalProcess(pid, _startTicks, signal) {
      if (pid === 1) throw Object.assign(new Error('EPERM: operation not permitted, kill'), { code: 'EPERM', errno: -1, syscall: 'kill' });
      return signal !== SIGCONT; // pid 2 is gone by the time SIGCONT follows
    },
  });
  t.equal(signaller.send({ pid: 1, startTicks: 7 }, SIGTERM), false);
  t.equal(signaller.send({ pid: 1, startTicks: 7 }, SIGTERM), false);
  t.equal(signaller.send({ pid: 1, startTicks: 7 }, SIGKILL), false);
  t.equal(signaller.sendAndContinue({ pid: 2, startTicks: 3 }, SIGTERM), true, 'the drain signal went out');
  t.same(lines, [
    ['warn', 'could not send SIGTERM to orphan pid 1: EPERM: operation not permitted, kill'],
    ['warn', 'could not send SIGKILL to orphan pid 1: EPERM: operation not permitted, kill'],
  ]);
  t.same(refused, ['1:7 SIGTERM: EPERM', '1:7 SIGTERM: EPERM', '1:7 SIGKILL: EPERM'], 'every refusal is noted');
});
