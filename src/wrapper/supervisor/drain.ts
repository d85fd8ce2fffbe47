// Draining: once the main child has exited, every remaining descendant gets
// the drain signal (and SIGCONT, so that a stopped one can act on it), a grace
// period to finish, then SIGKILL; reaper exits only when nothing is left.
// Three parts, read top-down:
// - the scope: who is drained. Named processes from /proc wherever they went
//   (own process group, own session, re-parented to us), each signalled pinned
//   by its start time (src/wrapper/supervisor/pinned-signal.ts), so a pid that was reaped and
//   reused is never hit; or, under a /proc that is not reaper's own, an
//   unnamed kill(-1) or kill(-pgid). A /proc scan is not atomic: a process
//   that forks and exits in a loop can slip through every one, so a named
//   scope ends on the kernel's word (nothingLeft), not on an empty scan, and
//   its SIGKILL also goes where no fork escapes: kill(-1) as PID 1, the
//   process groups of what a scan found below it (a fork keeps its group).
// - the phases: sweep until nothing is left, the grace period, SIGKILL, the
//   wait for what SIGKILL could not end. Nothing here may keep PID 1 from
//   exiting: the SIGKILL deadline is armed before anything that can fail. A
//   SIGINT (^C: reaper took the terminal back when the app exited) or a second
//   SIGTERM ends the grace period at once.
// - the report, and its one log line.
import { isSystemError } from '../../core/errors.js';
import { formatDuration, listed, printable } from '../../core/format.js';
import type { Logger } from '../log.js';
import { native } from '../../core/native.js';
import { PinnedSignaller, processKey } from './pinned-signal.js';
import { ignoresSignal, listDescendants, maySignalEveryone, procIsOurs, procSelf, readProcessTable, type ProcessEntry, type ProcessTable } from '../../core/procfs.js';
import { SIGCONT, SIGKILL, killTarget, signalName } from '../../core/signals.js';

export interface DrainedProcess {
  pid: number;
  comm: string;
  /** Milliseconds from the drain signal to its exit; null if it was killed. */
  exitedAfterMs: number | null;
  /**
   * It exited in the grace period, but not on the drain signal: the signal
   * never reached it (it was going already), or it ignores the signal (a
   * process that forks and exits, for one).
   */
  exitedByItself: boolean;
  /** SIGKILL reached it. */
  killed: boolean;
  /** Why a signal could not be sent to it ("SIGTERM: EPERM"), if one could not. */
  refused?: string;
}

/**
 * What the drain covered: every process of reaper's pid namespace (reaper is
 * its PID 1 and /proc is the namespace's), the tree below reaper, the pid
 * namespace unnamed (PID 1 under a /proc that is not its own: kill(-1)), or
 * the app's process group unnamed (not PID 1, and a /proc that is not its
 * own: kill(-pgid), the one set of processes reaper can prove is its own), or
 * nothing because nothing was left (see nothingLeft: /proc was not read).
 */
export type DrainScope = 'namespace' | 'descendants' | 'namespace-unnamed' | 'group-unnamed' | 'nothing-left';

export interface DrainReport {
  signal: string;
  graceMs: number;
  scope: DrainScope;
  /** Empty when the scope is unnamed. */
  processes: DrainedProcess[];
  /** How many exited on the drain signal within the grace period. */
  exitedOnSignal: number;
  /** How many exited within the grace period by themselves (see exitedByItself). */
  exitedByThemselves: number;
  killed: DrainedProcess[];
  /** Processes a signal could not be sent to (see refused). */
  refused: DrainedProcess[];
  /**
   * Whether SIGKILL (kill(-1), kill(-pgid)) reached processes that are not
   * named: in an unnamed scope, anything left after the grace period; in a
   * named one, processes no scan caught (forking faster than /proc is read).
   */
  killedUnnamed: boolean;
  /** The signal that ended the grace period early (SIGINT, a second SIGTERM), or null. */
  interruptedBy: string | null;
  /** From the start of the drain until nothing was left. */
  durationMs: number;
  /** Processes that outlived even SIGKILL (uninterruptible sleep); null when they cannot be counted. */
  survivors: number | null;
}

export interface DrainContext {
  signal: number;
  graceMs: number;
  log: Logger;
  /** The main child: its process group is drained when nothing else can be proven ours. */
  appPid: number;
  /** Reaps every waiting child of ours. */
  reapAll(): void;
  /** The signal that ends the grace period now (a SIGINT, a second SIGTERM), or 0. */
  interruptedBy(): number;
  /** Subscribes to SIGCHLD wake-ups; returns the unsubscribe function. */
  onChildEvent(listener: () => void): () => void;
}

/** Descendants that are not our children exit without telling us: look again this often. */
const RESCAN_MS = 20;
/** After SIGKILL, how long to wait for processes stuck in the kernel. */
const KILL_WAIT_MS = 2000;

/** Milliseconds on a monotonic clock (node:perf_hooks would load ten modules for this). */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

export async function drain(context: DrainContext): Promise<DrainReport> {
  const start = monotonicMs();
  context.reapAll();
  if (nothingLeft()) return nothingLeftReport(context, monotonicMs() - start);
  const scope = drainScope(context.log, context.appPid);
  const strategy = scope === 'namespace' || scope === 'descendants' ? new NamedScope(scope, context) : new UnnamedScope(scope, context);
  const phases = await runPhases(strategy, context);
  const report = buildReport(context, strategy.scope, strategy.outcome(), phases, monotonicMs() - start);
  if (report.processes.length > 0 || strategy.unnamed || report.killedUnnamed) context.log.notice(summarize(report), { event: 'drain', ...report });
  return report;
}

/**
 * The end, proven in one syscall without reading /proc: as PID 1, no other
 * process is in the pid namespace (kill(-1, 0) finds none, not even one that
 * refuses our signals: that covers processes entered with docker exec, which
 * are not our children); otherwise reaper has no child at all, live or
 * zombie, so it has no descendant either (each descendant's chain of parents
 * ends at one of reaper's children; as a subreaper, orphans below are
 * re-parented to one of them or to reaper). Unlike a scan of /proc, no fork
 * slips through it.
 */
function nothingLeft(): boolean {
  return !native().anythingLeft(process.pid === 1);
}

/**
 * The kernel's word for a named scope: what is left that the drain can act
 * on. kill(-1, 0) counts every process, including another user's that
 * refuses us for good, so a PID 1 asks it only when it may signal every
 * process; otherwise its children (waitid) say what no scan could name, and
 * the scan names the rest (processes entered with docker exec).
 */
function anythingLeftFor(scope: 'namespace' | 'descendants'): () => boolean {
  const wholeNamespace = scope === 'namespace' && maySignalEveryone();
  return () => native().anythingLeft(wholeNamespace);
}

function nothingLeftReport(context: DrainContext, durationMs: number): DrainReport {
  return buildReport(context, 'nothing-left', { processes: [], killedUnnamed: false }, { interruptedBy: null, survivors: 0 }, durationMs);
}

/** Whose /proc this is decides what reaper can prove is its own (see procIsOurs). */
function drainScope(log: Logger, appPid: number): Exclude<DrainScope, 'nothing-left'> {
  if (procIsOurs()) return process.pid === 1 ? 'namespace' : 'descendants';
  const self = procSelf();
  const fix = 'mount a proc of its own pid namespace (unshare --mount-proc, or mount -t proc proc /proc)';
  if (process.pid === 1) {
    log.warn(`/proc is not reaper's own (/proc/self is ${self}, reaper is pid 1): the drain signals every process ` +
      `of its pid namespace with kill(-1), unnamed; ${fix} to have them named.`);
    return 'namespace-unnamed';
  }
  log.warn(`/proc is not reaper's own (/proc/self is ${self}, reaper is pid ${process.pid}), so it cannot tell its ` +
    `descendants from other processes: only the app's process group (${appPid}) is drained, unnamed, and helpers that ` +
    `left it are not; ${fix}, or run reaper as PID 1.`);
  return 'group-unnamed';
}

// --- The scope: who is drained, and how they are signalled. ---

/** How the phases reach what is left: named processes, or one unnamed kill() target. */
export interface ScopeStrategy {
  readonly scope: DrainScope;
  readonly unnamed: boolean;
  /** Signals newcomers (the drain signal, or SIGKILL once killing), notes who left; true when nothing is left. */
  sweep(killing: boolean): boolean;
  /** SIGKILL to everything left. */
  killAll(): void;
  /** What is left, for the interruption's warning: "3 processes", "the pid namespace". */
  describeLeft(): string;
  /** How many outlived SIGKILL (logged as an error); null when they cannot be counted. */
  survivors(killWaitMs: number): number | null;
  outcome(): ScopeOutcome;
}

export interface ScopeOutcome {
  processes: DrainedProcess[];
  /** Whether SIGKILL reached processes it was not sent to by name (see DrainReport.killedUnnamed). */
  killedUnnamed: boolean;
}

interface Tracked extends Omit<DrainedProcess, 'exitedByItself'> {
  startTicks: number;
  signalledAt: number;
  /** The drain signal went out to it, and it does not ignore it. */
  heeds: boolean;
}

export interface ScopeTable extends ProcessTable {
  /** Process groups with a member outside the scope (reaper's own among them): never signalled as a group. */
  foreignGroups: Set<number>;
}

/** What a named scope reads and sends through; tests inject their own. */
export interface NamedScopeIo {
  /** Every process of the namespace (including ones entered with docker exec), or the tree below reaper. */
  table(): ScopeTable;
  /** The addon's signalProcess when absent. */
  signalProcess?(pid: number, startTicks: number, signal: number): boolean;
  /**
   * Whether kill(-1) or kill(-pgid) succeeded: false when none is there, or
   * (kill(-pgid)) none may be signalled; kill(-1) succeeds even when every
   * process it finds refuses. Zombies and dying processes count until reaped.
   */
  kill(target: number, signal: number): boolean;
  /** The kernel's word: whether anything is left (see anythingLeftFor). */
  anythingLeft(): boolean;
  /** Whether pid ignores signal (see procfs ignoresSignal). */
  ignores(pid: number, signal: number): boolean;
  now(): number;
}

function processTableOf(scope: 'namespace' | 'descendants'): ScopeTable {
  const { processes, unreadable } = readProcessTable();
  if (scope === 'namespace') return { processes: processes.filter((p) => p.pid !== process.pid), unreadable, foreignGroups: new Set() };
  const ours = listDescendants(process.pid, processes);
  const pids = new Set(ours.map((p) => p.pid));
  return { processes: ours, unreadable, foreignGroups: new Set(processes.filter((p) => !pids.has(p.pid)).map((p) => p.pgid)) };
}

/** kill() to many at once; EPERM (none of them may be signalled by us: their named members say so themselves) is "reached no one" too. */
function killAtOnce(target: number, signal: number): boolean {
  try {
    return killTarget(target, signal);
  } catch (error) {
    if (isSystemError(error) && error.code === 'EPERM') return false;
    throw error;
  }
}

/** Every process in the scope by name, tracked by its pid and start time from its first sighting to its exit. */
export class NamedScope implements ScopeStrategy {
  readonly unnamed = false;
  readonly #context: Pick<DrainContext, 'signal' | 'log'>;
  readonly #io: NamedScopeIo;
  readonly #tracked = new Map<string, Tracked>();
  readonly #signaller: PinnedSignaller<Tracked>;
  #warnedUnreadable = false;
  #killedUnnamed = false;

  constructor(readonly scope: 'namespace' | 'descendants', context: Pick<DrainContext, 'signal' | 'log'>, io: NamedScopeIo = {
    table: () => processTableOf(scope),
    kill: killAtOnce,
    anythingLeft: anythingLeftFor(scope),
    ignores: ignoresSignal,
    now: monotonicMs,
  }) {
    this.#context = context;
    this.#io = io;
    this.#signaller = new PinnedSignaller<Tracked>({
      log: context.log,
      describe: (target) => `pid ${target.pid} (${printable(target.comm)})`,
      onRefused: (target, reason) => { target.refused = reason; },
      signalProcess: io.signalProcess,
    });
  }

  sweep(killing: boolean): boolean {
    const now = this.#io.now();
    const table = this.#scan();
    if (killing) this.#killRound(table);
    const present = new Set<string>();
    for (const entry of table.processes) {
      const key = processKey(entry);
      present.add(key);
      if (entry.state === 'Z' || this.#tracked.has(key)) continue; // a zombie's parent (or we) will reap it
      const target = this.#track(entry, key);
      // Read first: a process that ignores the signal and then vanishes did not exit on it.
      const ignores = this.#io.ignores(entry.pid, this.#context.signal);
      target.heeds = this.#signaller.sendAndContinue(target, this.#context.signal) && !ignores;
    }
    for (const [key, target] of this.#tracked) {
      if (!present.has(key) && target.exitedAfterMs === null && !target.killed) target.exitedAfterMs = now - target.signalledAt;
    }
    // An empty scan may have missed a process that forked and exited meanwhile: only the kernel can say none is left.
    // One that refused the drain signal (another user's) is left, but out of reach: nothing to wait for.
    return [...present].every((key) => this.#unreachable(key)) && !this.#io.anythingLeft();
  }

  killAll(): void {
    this.#killRound(this.#scan());
  }

  describeLeft(): string {
    const left = this.#live().length;
    return `${left} process${left === 1 ? '' : 'es'}`;
  }

  survivors(killWaitMs: number): number | null {
    const stuck = this.#live().filter((p) => !this.#unreachable(processKey(p)));
    if (stuck.length === 0 && !this.#io.anythingLeft()) return 0;
    if (stuck.length === 0) {
      // The kernel still counts some, but no scan catches them: they fork and exit faster than /proc is read.
      this.#context.log.error(`processes no scan of /proc could name (forking faster than it is read) survived SIGKILL for ${formatDuration(killWaitMs)}; exiting anyway`);
      return null;
    }
    this.#context.log.error(`${stuck.length} processes survived SIGKILL for ${formatDuration(killWaitMs)} (uninterruptible sleep?): ` +
      `${listed(stuck.map((p) => `${p.pid} (${printable(p.comm)})`))}; exiting anyway`);
    return stuck.length;
  }

  outcome(): ScopeOutcome {
    const processes = [...this.#tracked.values()].map(({ pid, comm, exitedAfterMs, heeds, killed, refused }) =>
      ({ pid, comm, exitedAfterMs, exitedByItself: exitedAfterMs !== null && !heeds && !killed && !refused, killed, ...(refused ? { refused } : {}) }));
    return { processes, killedUnnamed: this.#killedUnnamed };
  }

  /**
   * SIGKILL to every live process found, then to what no scan can name: as
   * PID 1 the whole namespace (kill(-1) is atomic against fork), below it the
   * process groups of what was found (so is kill(-pgid); only groups seen in
   * this scan and wholly ours: the ids of emptied groups are soon reused).
   */
  #killRound({ processes, unreadable, foreignGroups }: ScopeTable): void {
    const live = processes.filter((p) => p.state !== 'Z');
    for (const entry of live) {
      const key = processKey(entry);
      const target = this.#tracked.get(key) ?? this.#track(entry, key);
      if (!target.killed) target.killed = this.#signaller.send(target, SIGKILL);
    }
    const groups = new Set(live.map((p) => p.pgid).filter((pgid) => pgid > 0 && !foreignGroups.has(pgid)));
    const reached = this.scope === 'namespace' ? this.#io.kill(-1, SIGKILL) : [...groups].map((pgid) => this.#io.kill(-pgid, SIGKILL)).includes(true);
    // kill() succeeds on whatever the scan showed that is still there: one
    // killed by name (now or on an earlier sweep) and still dying or not yet
    // reaped, one that refused its signal (kill(-1) succeeds when all it finds
    // refuse), an unreadable entry. Only when the scan showed none of those
    // did SIGKILL reach a process no scan named: one forked since. A zombie
    // that exited by itself does not count: after a kill round its parent is
    // one of those or reaper, which reaps it on every sweep, so it exited a
    // moment ago (a link of a fork-and-exit chain, whose live successor the
    // scan missed).
    const accounted = unreadable > 0 || processes.some((p) => {
      const target = this.#tracked.get(processKey(p));
      return target?.killed || target?.refused !== undefined;
    });
    if (reached && !accounted) this.#killedUnnamed = true;
  }

  #scan(): ScopeTable {
    const table = this.#io.table();
    const { unreadable } = table;
    // In our own namespace every process is ours: say once that some were out of reach.
    if (unreadable > 0 && this.scope === 'namespace' && !this.#warnedUnreadable) {
      this.#warnedUnreadable = true;
      const one = unreadable === 1;
      const [them, they] = one ? ['it', 'it gets'] : ['them', 'they get'];
      this.#context.log.warn(`${unreadable} process${one ? '' : 'es'} in /proc could not be read (hidepid, or another ` +
        `user's setuid program): the drain cannot name ${them}, so ${they} no ${signalName(this.#context.signal)}, only SIGKILL: ` +
        `reaper's kill(-1) if the grace period runs out and reaper may signal ${them}, else the kernel's when reaper exits.`);
    }
    return table;
  }

  /** A process whose drain signal was refused: it is left, but nothing the drain does reaches it. */
  #unreachable(key: string): boolean {
    return this.#tracked.get(key)?.refused !== undefined;
  }

  #live(): ProcessEntry[] {
    return this.#scan().processes.filter((p) => p.state !== 'Z');
  }

  #track(entry: ProcessEntry, key: string): Tracked {
    const target: Tracked = { pid: entry.pid, comm: entry.comm, startTicks: entry.startTicks, signalledAt: this.#io.now(), exitedAfterMs: null, killed: false, heeds: false };
    this.#tracked.set(key, target);
    return target;
  }
}

/** One kill() target for all: newcomers forked after the drain signal get only the SIGKILL at the end of the grace period. */
export class UnnamedScope implements ScopeStrategy {
  readonly unnamed = true;
  readonly #context: Pick<DrainContext, 'signal' | 'log' | 'appPid'>;
  readonly #kill: (target: number, signal: number) => boolean;
  /** kill()'s target: -1 (every process of the namespace but us), or the app's process group. */
  readonly #target: number;
  readonly #what: string;
  #signalled = false;
  #killedUnnamed = false;

  constructor(readonly scope: 'namespace-unnamed' | 'group-unnamed', context: Pick<DrainContext, 'signal' | 'log' | 'appPid'>,
    kill: (target: number, signal: number) => boolean = killTarget) {
    this.#context = context;
    this.#kill = kill;
    this.#target = scope === 'namespace-unnamed' ? -1 : -context.appPid;
    this.#what = scope === 'namespace-unnamed' ? 'the pid namespace' : `process group ${context.appPid}`;
  }

  sweep(): boolean {
    if (!this.#signalled) {
      this.#signalled = true;
      const { signal } = this.#context;
      if (this.#kill(this.#target, signal) && signal !== SIGCONT) this.#kill(this.#target, SIGCONT);
    }
    return !this.#kill(this.#target, 0);
  }

  killAll(): void {
    this.#killedUnnamed = this.#kill(this.#target, SIGKILL);
  }

  describeLeft(): string {
    return this.#what;
  }

  survivors(killWaitMs: number): number | null {
    const left = this.#kill(this.#target, 0);
    if (left) this.#context.log.error(`processes of ${this.#what} survived SIGKILL for ${formatDuration(killWaitMs)} (uninterruptible sleep?); exiting anyway`);
    return left ? null : 0;
  }

  outcome(): ScopeOutcome {
    return { processes: [], killedUnnamed: this.#killedUnnamed };
  }
}

// --- The phases: sweep, grace period, SIGKILL, the wait after it. ---

export interface PhaseOutcome {
  /** The signal that ended the grace period early, or null. */
  interruptedBy: string | null;
  /** What outlived SIGKILL: 0 when everything exited in time, null when it cannot be counted. */
  survivors: number | null;
}

export interface PhaseTiming {
  rescanMs: number;
  killWaitMs: number;
}

/** Sweeps on every SIGCHLD and every rescanMs until nothing is left; SIGKILL after the grace period or an interruption. */
export function runPhases(strategy: ScopeStrategy, context: Omit<DrainContext, 'appPid' | 'signal'>,
  timing: PhaseTiming = { rescanMs: RESCAN_MS, killWaitMs: KILL_WAIT_MS }): Promise<PhaseOutcome> {
  return new Promise((resolve) => new Phases(strategy, context, timing, resolve).start());
}

/** The drain's timers: one state machine, sweeping -> killing -> done. */
class Phases {
  #graceTimer: NodeJS.Timeout | undefined;
  #killTimer: NodeJS.Timeout | undefined;
  #rescan: NodeJS.Timeout | undefined;
  #unsubscribe = () => {};
  #killing = false;
  #done = false;
  #interruptedBy: string | null = null;
  #lastFailure = '';
  readonly #tick = () => this.#guard('sweep', () => {
    if (!this.#killing) this.#checkInterrupt();
    this.context.reapAll();
    if (this.strategy.sweep(this.#killing)) this.#finish(0);
  });

  constructor(readonly strategy: ScopeStrategy, readonly context: Omit<DrainContext, 'appPid' | 'signal'>,
    readonly timing: PhaseTiming, readonly resolve: (outcome: PhaseOutcome) => void) {}

  start(): void {
    this.#unsubscribe = this.context.onChildEvent(this.#tick);
    this.#rescan = setInterval(this.#tick, this.timing.rescanMs);
    this.#graceTimer = setTimeout(() => {
      this.#endGrace();
      this.#tick();
    }, this.context.graceMs);
    this.#tick();
  }

  /** Runs one step; a failure is logged (once while it repeats) and the drain goes on. */
  #guard(what: string, step: () => void): void {
    try {
      step();
    } catch (error) {
      const message = `drain ${what} failed, the drain goes on: ${(error as Error).message}`;
      if (message !== this.#lastFailure) this.context.log.error(message);
      this.#lastFailure = message;
    }
  }

  /** A SIGINT or a second SIGTERM (a fact, read on every sweep): the user wants out now. */
  #checkInterrupt(): void {
    const signal = this.context.interruptedBy();
    if (signal === 0 || this.#killing) return;
    const interruptedBy = signalName(signal);
    this.#interruptedBy = interruptedBy;
    this.context.log.warn(`drain interrupted by ${interruptedBy}; sending SIGKILL to ${this.strategy.describeLeft()}`, { event: 'drain-interrupted', signal: interruptedBy });
    this.#endGrace();
  }

  /** The grace period is over (its end, or an interruption): SIGKILL to what is left. */
  #endGrace(): void {
    if (this.#killing) return;
    this.#killing = true;
    clearTimeout(this.#graceTimer);
    // The deadline first: nothing below may keep reaper from exiting.
    this.#killTimer = setTimeout(() => {
      let left: number | null = null;
      this.#guard('final count', () => { left = this.strategy.survivors(this.timing.killWaitMs); });
      this.#finish(left);
    }, this.timing.killWaitMs);
    this.#guard('SIGKILL', () => this.strategy.killAll());
  }

  #finish(survivors: number | null): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#graceTimer);
    clearTimeout(this.#killTimer);
    clearInterval(this.#rescan);
    this.#unsubscribe();
    this.resolve({ interruptedBy: this.#interruptedBy, survivors });
  }
}

// --- The report. ---

export function buildReport(context: Pick<DrainContext, 'signal' | 'graceMs'>, scope: DrainScope, outcome: ScopeOutcome,
  phases: PhaseOutcome, durationMs: number): DrainReport {
  const { processes } = outcome;
  return {
    // A getter: naming a signal loads node:os, which a start with nothing left to drain does not need.
    get signal() { return signalName(context.signal); },
    graceMs: context.graceMs,
    scope,
    processes,
    exitedOnSignal: processes.filter(exitedOnSignal).length,
    exitedByThemselves: processes.filter((p) => p.exitedByItself).length,
    killed: processes.filter((p) => p.killed),
    refused: processes.filter((p) => !p.killed && p.refused),
    killedUnnamed: outcome.killedUnnamed,
    interruptedBy: phases.interruptedBy,
    durationMs,
    survivors: phases.survivors,
  };
}

/** Gone on the drain signal: neither killed, nor refused, nor gone before it could act. */
function exitedOnSignal(p: DrainedProcess): boolean {
  return !p.killed && !p.refused && !p.exitedByItself;
}

export function summarize(report: DrainReport): string {
  const killedWhen = report.interruptedBy ? `when ${report.interruptedBy} interrupted the drain` : `after the ${formatDuration(report.graceMs)} grace period`;
  if (report.scope === 'namespace-unnamed' || report.scope === 'group-unnamed') {
    const what = report.scope === 'namespace-unnamed' ? 'the pid namespace' : "the app's process group";
    return `drained ${what} (unnamed: /proc is not reaper's own) in ${formatDuration(report.durationMs)}` +
      (report.killedUnnamed ? `; SIGKILL sent to what was left ${killedWhen}` : `; all exited on ${report.signal}`);
  }
  const total = report.processes.length;
  const exited = report.processes.filter((p) => exitedOnSignal(p) && p.exitedAfterMs !== null);
  const slowest = Math.max(0, ...exited.map((p) => p.exitedAfterMs!));
  const named = (list: DrainedProcess[], detail = false) => listed(list.map((p) => `${p.pid} (${printable(p.comm)})${detail ? ` ${p.refused}` : ''}`));
  const parts = [`drained ${total} process${total === 1 ? '' : 'es'} in ${formatDuration(report.durationMs)}`];
  if (exited.length > 0) parts.push(`${exited.length} exited on ${report.signal} (slowest after ${formatDuration(slowest)})`);
  const itself = report.exitedByThemselves;
  if (itself > 0) parts.push(`${itself} exited by ${itself === 1 ? 'itself' : 'themselves'} (gone before ${report.signal} reached ${itself === 1 ? 'it' : 'them'}, or ignoring it)`);
  if (report.killed.length > 0 || report.killedUnnamed) {
    const unseen = report.killedUnnamed ? 'processes no scan of /proc could name (forking faster than it is read)' : '';
    const killed = report.killed.length > 0 ? `${report.killed.length} killed ${killedWhen}: ${named(report.killed)}` : `killed ${killedWhen}:`;
    parts.push([killed, unseen].filter(Boolean).join(report.killed.length > 0 ? ' and ' : ' '));
  }
  if (report.refused.length > 0) parts.push(`${report.refused.length} could not be signalled: ${named(report.refused, true)}`);
  return parts.join('; ');
}
