// Draining: once the main child has exited, every remaining descendant gets
// the drain signal (and SIGCONT, so that a stopped one can act on it), a grace
// period to finish, then SIGKILL; reaper exits only when nothing is left.
// Descendants are found in /proc wherever they went (own process group, own
// session, re-parented to us), and every signal goes through a pidfd check, so
// a pid that was reaped and reused is never hit. Nothing here may keep PID 1
// from exiting: the SIGKILL deadline is armed before anything that can fail.
// A SIGINT (^C: reaper took the terminal back when the app exited) or a
// second SIGTERM ends the grace period at once.
import { readlinkSync } from 'node:fs';
import { isSystemError } from './errors.js';
import { formatDuration, listed, printable } from './format.js';
import type { Logger } from './log.js';
import { native } from './native.js';
import { listDescendants, readProcessTable, type ProcessEntry } from './procfs.js';
import { signalName } from './signals.js';

export interface DrainedProcess {
  pid: number;
  comm: string;
  /** Milliseconds from the drain signal to its exit; null if it was killed. */
  exitedAfterMs: number | null;
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
  killed: DrainedProcess[];
  /** Processes a signal could not be sent to (see refused). */
  refused: DrainedProcess[];
  /** Unnamed scopes only: whether anything was left for SIGKILL after the grace period. */
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

const SIGKILL = 9;
const SIGCONT = 18;
/** Descendants that are not our children exit without telling us: look again this often. */
const RESCAN_MS = 20;
/** After SIGKILL, how long to wait for processes stuck in the kernel. */
const KILL_WAIT_MS = 2000;

/** Milliseconds on a monotonic clock (node:perf_hooks would load ten modules for this). */
const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;

/**
 * The usual end, proven in one syscall without reading /proc: as PID 1, no
 * other process is in the pid namespace (kill(-1, 0) finds none: that covers
 * processes entered with docker exec, which are not our children); otherwise
 * reaper has no child at all, live or zombie, so it has no descendant either
 * (each descendant's chain of parents ends at one of reaper's children; as a
 * subreaper, orphans below are re-parented to one of them or to reaper).
 */
function nothingLeft(addon: ReturnType<typeof native>): boolean {
  return !addon.anythingLeft(process.pid === 1);
}

/**
 * Whose /proc this is decides what reaper can prove is its own. /proc/self
 * names reaper's pid only in a proc of reaper's pid namespace; under the
 * host's (unshare --pid without --mount-proc) every pid in it is a stranger's.
 */
function drainScope(log: Logger, appPid: number): DrainScope {
  let self = 'nothing (no /proc)';
  try {
    self = readlinkSync('/proc/self');
  } catch {}
  if (self === String(process.pid)) return process.pid === 1 ? 'namespace' : 'descendants';
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

/** Every process of the namespace (including ones entered with docker exec), or the tree below reaper. */
function remaining(scope: DrainScope): { entries: ProcessEntry[]; unreadable: number } {
  const { processes, unreadable } = readProcessTable();
  const entries = scope === 'namespace' ? processes.filter((p) => p.pid !== process.pid) : listDescendants(process.pid, processes);
  return { entries, unreadable };
}

/**
 * kill(-1) as PID 1: every process of its pid namespace but itself; kill(-pgid):
 * the app's group (its id lives as long as a member does). False when there is none.
 */
function signalUnnamed(target: number, signal: number): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch (error) {
    if (isSystemError(error) && error.code === 'ESRCH') return false;
    throw error;
  }
}

interface Tracked extends DrainedProcess {
  startTicks: number;
  signalledAt: number;
}

export function drain(context: DrainContext): Promise<DrainReport> {
  const { log } = context;
  const addon = native();
  const start = monotonicMs();
  context.reapAll();
  if (nothingLeft(addon)) {
    return Promise.resolve({
      // A getter: naming a signal loads node:os, which this end of a start does not need.
      get signal() { return signalName(context.signal); },
      graceMs: context.graceMs, scope: 'nothing-left', processes: [],
      exitedOnSignal: 0, killed: [], refused: [], killedUnnamed: false, interruptedBy: null, durationMs: monotonicMs() - start, survivors: 0,
    });
  }
  const scope = drainScope(log, context.appPid);
  /** The kill() target of an unnamed scope, 0 when the processes are named. */
  const unnamed = scope === 'namespace-unnamed' ? -1 : scope === 'group-unnamed' ? -context.appPid : 0;
  const signalAll = (signal: number) => signalUnnamed(unnamed, signal);
  const tracked = new Map<string, Tracked>();
  let killing = false;
  let unnamedSignalled = false;
  let killedUnnamed = false;
  let interruptedBy: string | null = null;
  let warnedUnreadable = false;

  /** True only when the signal went out; false when the process is gone or refused it (logged, noted). */
  const send = (target: Tracked, signal: number): boolean => {
    try {
      return addon.signalProcess(target.pid, target.startTicks, signal);
    } catch (error) {
      const reason = isSystemError(error) ? error.code : String(error);
      target.refused = `${signalName(signal)}: ${reason}`;
      log.warn(`could not send ${signalName(signal)} to pid ${target.pid} (${printable(target.comm)}): ${(error as Error).message}`);
      return false;
    }
  };

  const list = (): ProcessEntry[] => {
    const { entries, unreadable } = remaining(scope);
    // In our own namespace every process is ours: say once that some were out of reach.
    if (unreadable > 0 && scope === 'namespace' && !warnedUnreadable) {
      warnedUnreadable = true;
      log.warn(`${unreadable} process${unreadable === 1 ? '' : 'es'} in /proc could not be read (hidepid, or another ` +
        `user's setuid program) and ${unreadable === 1 ? 'is' : 'are'} not drained; the kernel kills ${unreadable === 1 ? 'it' : 'them'} when reaper exits.`);
    }
    return entries;
  };

  const track = (entry: ProcessEntry, key: string, now: number): Tracked => {
    const target: Tracked = { pid: entry.pid, comm: entry.comm, startTicks: entry.startTicks, signalledAt: now, exitedAfterMs: null, killed: false };
    tracked.set(key, target);
    return target;
  };

  /** Signals newcomers, notes who is gone; true when nothing is left. */
  const sweep = (): boolean => {
    context.reapAll();
    if (unnamed) {
      // Newcomers forked after this get only the SIGKILL at the end of the grace period.
      if (!unnamedSignalled) {
        unnamedSignalled = true;
        if (signalAll(context.signal)) signalAll(SIGCONT);
      }
      return !signalAll(0);
    }
    const now = monotonicMs();
    const present = new Set<string>();
    for (const entry of list()) {
      const key = `${entry.pid}:${entry.startTicks}`;
      present.add(key);
      if (entry.state === 'Z') continue; // its parent (or we) will reap it
      if (tracked.has(key)) continue;
      const target = track(entry, key, now);
      if (killing) target.killed = send(target, SIGKILL);
      // A stopped process would only see the drain signal after the SIGKILL.
      else if (send(target, context.signal) && context.signal !== SIGCONT) send(target, SIGCONT);
    }
    for (const [key, target] of tracked) {
      if (!present.has(key) && target.exitedAfterMs === null && !target.killed) {
        target.exitedAfterMs = now - target.signalledAt;
      }
    }
    return present.size === 0;
  };

  const killAll = () => {
    killing = true;
    if (unnamed) {
      killedUnnamed = signalAll(SIGKILL);
      return;
    }
    for (const entry of list()) {
      if (entry.state === 'Z') continue;
      const key = `${entry.pid}:${entry.startTicks}`;
      const target = tracked.get(key) ?? track(entry, key, monotonicMs());
      target.killed = send(target, SIGKILL);
    }
  };

  /** How many are left after SIGKILL; null when they cannot be counted. */
  const survivors = (): number | null => {
    if (unnamed) {
      const left = signalAll(0);
      if (left) log.error(`processes of ${scope === 'namespace-unnamed' ? 'the pid namespace' : `process group ${context.appPid}`} survived SIGKILL for ${formatDuration(KILL_WAIT_MS)} (uninterruptible sleep?); exiting anyway`);
      return left ? null : 0;
    }
    const stuck = list().filter((p) => p.state !== 'Z');
    log.error(`${stuck.length} processes survived SIGKILL for ${formatDuration(KILL_WAIT_MS)} (uninterruptible sleep?): ${listed(stuck.map((p) => `${p.pid} (${printable(p.comm)})`))}; exiting anyway`);
    return stuck.length;
  };

  return new Promise<DrainReport>((resolve) => {
    let graceTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let rescan: NodeJS.Timeout | undefined;
    let unsubscribe = () => {};
    let done = false;
    let lastFailure = '';

    /** Runs one step; a failure is logged (once while it repeats) and the drain goes on. */
    const guard = (what: string, step: () => void) => {
      try {
        step();
      } catch (error) {
        const message = `drain ${what} failed, the drain goes on: ${(error as Error).message}`;
        if (message !== lastFailure) log.error(message);
        lastFailure = message;
      }
    };

    const finish = (left: number | null) => {
      if (done) return;
      done = true;
      clearTimeout(graceTimer);
      clearTimeout(killTimer);
      clearInterval(rescan);
      unsubscribe();
      const processes = [...tracked.values()].map(({ pid, comm, exitedAfterMs, killed, refused }) =>
        ({ pid, comm, exitedAfterMs, killed, ...(refused ? { refused } : {}) }));
      const report: DrainReport = {
        signal: signalName(context.signal),
        graceMs: context.graceMs,
        scope,
        processes,
        exitedOnSignal: processes.filter((p) => !p.killed && !p.refused).length,
        killed: processes.filter((p) => p.killed),
        refused: processes.filter((p) => !p.killed && p.refused),
        killedUnnamed,
        interruptedBy,
        durationMs: monotonicMs() - start,
        survivors: left,
      };
      if (processes.length > 0 || unnamed) log.notice(summarize(report), { event: 'drain', ...report });
      resolve(report);
    };

    /** The grace period is over (its end, or an interruption): SIGKILL to what is left. */
    const endGrace = () => {
      if (killing) return;
      clearTimeout(graceTimer);
      // The deadline first: nothing below may keep reaper from exiting.
      killTimer = setTimeout(() => {
        let left: number | null = null;
        guard('final count', () => { left = survivors(); });
        finish(left);
      }, KILL_WAIT_MS);
      guard('SIGKILL', killAll);
    };

    /** A SIGINT or a second SIGTERM (a fact, read on every sweep): the user wants out now. */
    const checkInterrupt = () => {
      const signal = context.interruptedBy();
      if (signal === 0 || killing) return;
      interruptedBy = signalName(signal);
      const left = unnamed ? null : list().filter((p) => p.state !== 'Z').length;
      const what = left === null ? (scope === 'namespace-unnamed' ? 'the pid namespace' : `process group ${context.appPid}`) :
        `${left} process${left === 1 ? '' : 'es'}`;
      log.warn(`drain interrupted by ${interruptedBy}; sending SIGKILL to ${what}`, { event: 'drain-interrupted', signal: interruptedBy });
      endGrace();
    };

    const tick = () => guard('sweep', () => {
      if (!killing) checkInterrupt();
      if (sweep()) finish(0);
    });

    unsubscribe = context.onChildEvent(tick);
    rescan = setInterval(tick, RESCAN_MS);
    graceTimer = setTimeout(() => {
      endGrace();
      tick();
    }, context.graceMs);
    tick();
  });
}

function summarize(report: DrainReport): string {
  const killedWhen = report.interruptedBy ? `when ${report.interruptedBy} interrupted the drain` : `after the ${formatDuration(report.graceMs)} grace period`;
  if (report.scope === 'namespace-unnamed' || report.scope === 'group-unnamed') {
    const what = report.scope === 'namespace-unnamed' ? 'the pid namespace' : "the app's process group";
    return `drained ${what} (unnamed: /proc is not reaper's own) in ${formatDuration(report.durationMs)}` +
      (report.killedUnnamed ? `; SIGKILL sent to what was left ${killedWhen}` : `; all exited on ${report.signal}`);
  }
  const total = report.processes.length;
  const exited = report.processes.filter((p) => p.exitedAfterMs !== null && !p.killed && !p.refused);
  const slowest = Math.max(0, ...exited.map((p) => p.exitedAfterMs!));
  const named = (list: DrainedProcess[], detail = false) => listed(list.map((p) => `${p.pid} (${printable(p.comm)})${detail ? ` ${p.refused}` : ''}`));
  const parts = [`drained ${total} process${total === 1 ? '' : 'es'} in ${formatDuration(report.durationMs)}`];
  if (exited.length > 0) parts.push(`${exited.length} exited on ${report.signal} (slowest after ${formatDuration(slowest)})`);
  if (report.killed.length > 0) {
    parts.push(`${report.killed.length} killed ${killedWhen}: ${named(report.killed)}`);
  }
  if (report.refused.length > 0) parts.push(`${report.refused.length} could not be signalled: ${named(report.refused, true)}`);
  return parts.join('; ');
}
