// In-process reaping for a Node app that is its own PID 1 (or that wants its
// orphans back as a subreaper). libuv waits for the children it spawned one
// pid at a time and silently loses an exit status someone else collected, so
// we never call waitpid(-1): we list the main thread's children, skip every
// pid an active libuv process handle owns, and reap only zombies that have
// stayed zombies for a grace period (another addon may be about to wait for
// its own child from a thread of its own, as node-pty does).
import { EventEmitter } from 'node:events';
import { describeStatus, type ExitStatus } from './exit-status.js';
import { native, type NativeExit } from './native.js';
import { ageMs } from './procfs.js';
import { setRealtimeRange, signalName } from './signals.js';

export interface ReaperOptions {
  /** Become a child subreaper when not PID 1, so orphans come to this process (default true). */
  subreaper?: boolean;
  /**
   * As PID 1, end the process on SIGTERM, SIGINT and SIGHUP (exit hooks run,
   * exit status 128+N) unless the app has listeners of its own (default true).
   */
  handleTerminationSignals?: boolean;
  /** How long a zombie that libuv does not own stays before we reap it, ms (default 250). */
  graceMs?: number;
}

export interface ReapEvent extends ExitStatus {
  pid: number;
  /** Command name, read before the zombie was reaped. */
  comm: string;
  /** Signal name when a signal killed it. */
  signalName: string | null;
  /** Lifetime in ms, from /proc start time (10 ms resolution). */
  ageMs: number | null;
  /** "exited with code 0", "was killed by SIGKILL". */
  description: string;
}

export interface ReaperStats {
  /** Orphans reaped so far. */
  reaped: number;
  lastReaped: ReapEvent | null;
  /** Reap passes run (one per SIGCHLD, plus grace re-checks). */
  passes: number;
  /** Zombies seen but left alone because libuv owns them. */
  skippedOwned: number;
}

export interface Reaper extends EventEmitter<{ reap: [ReapEvent]; error: [Error] }> {
  readonly stats: ReaperStats;
  readonly subreaper: boolean;
  /** Runs one reap pass now; returns how many orphans it reaped. */
  reapNow(): number;
  /** Removes the listeners and timers (the subreaper bit stays). */
  stop(): void;
}

const TERMINATION_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

let active: Reaper | null = null;

/**
 * signal-exit (used by many CLIs, test runners and loggers) listens to
 * SIGTERM/SIGINT/SIGHUP but acts only when it is the sole listener, then
 * re-raises the signal: next to ours it would wait for us as we wait for
 * it. It is an exit hook, not the app taking control; its hooks still run
 * through process.exit.
 */
function isExitHookListener(listener: object): boolean {
  const source = Function.prototype.toString.call(listener);
  return source.includes('an exit is coming') || source.includes('emitter.count');
}

/** Starts reaping orphans in this process. Calling it again returns the running reaper. */
export function startReaper(options: ReaperOptions = {}): Reaper {
  if (active) return active;
  const addon = native();
  setRealtimeRange({ min: addon.SIGRTMIN, max: addon.SIGRTMAX });
  const graceMs = options.graceMs ?? 250;
  const emitter = new EventEmitter<{ reap: [ReapEvent]; error: [Error] }>();
  const stats: ReaperStats = { reaped: 0, lastReaped: null, passes: 0, skippedOwned: 0 };
  /** Zombie pid -> when we first saw it (ms, performance clock). */
  const firstSeen = new Map<number, number>();
  let recheck: NodeJS.Timeout | undefined;

  let subreaper = process.pid === 1;
  if (process.pid !== 1 && options.subreaper !== false) {
    addon.setChildSubreaper(true);
    subreaper = true;
  }

  const toEvent = (exit: NativeExit): ReapEvent => ({
    pid: exit.pid,
    exitCode: exit.exitCode,
    signal: exit.signal,
    coreDumped: exit.coreDumped,
    comm: exit.comm ?? '',
    signalName: exit.signal === null ? null : signalName(exit.signal),
    ageMs: exit.startTicks ? ageMs(exit.startTicks) : null,
    description: describeStatus(exit),
  });

  const reapNow = (): number => {
    stats.passes++;
    const owned = new Set(addon.ownedProcessPids());
    // Only the main thread's children: a worker's children are its own
    // libuv loop's business, and orphans are re-parented to the main thread.
    const children = addon.readChildren(process.pid, process.pid);
    const now = performance.now();
    let reaped = 0;
    let nextDue = Infinity;
    const stillZombie = new Set<number>();
    for (const pid of children) {
      if (owned.has(pid)) continue;
      const stat = addon.procStat(pid);
      if (!stat || stat.state !== 'Z') continue;
      stillZombie.add(pid);
      const seen = firstSeen.get(pid) ?? now;
      firstSeen.set(pid, seen);
      if (now - seen < graceMs) {
        nextDue = Math.min(nextDue, seen + graceMs);
        continue;
      }
      // Name and age cost three /proc reads: only for someone who listens.
      const exit = addon.reapPid(pid, emitter.listenerCount('reap') > 0);
      if (!exit) continue;
      firstSeen.delete(pid);
      stillZombie.delete(pid);
      reaped++;
      const event = toEvent(exit);
      stats.reaped++;
      stats.lastReaped = event;
      emitter.emit('reap', event);
    }
    for (const pid of firstSeen.keys()) if (!stillZombie.has(pid)) firstSeen.delete(pid);
    if (nextDue !== Infinity && !recheck) {
      recheck = setTimeout(() => {
        recheck = undefined;
        safePass();
      }, Math.max(1, nextDue - now)).unref();
    }
    return reaped;
  };

  // A listener that throws would be an uncaught exception in a signal
  // callback; report it as an 'error' event if anyone listens, else drop it.
  const safePass = () => {
    try {
      reapNow();
    } catch (error) {
      if (emitter.listenerCount('error') > 0) emitter.emit('error', error as Error);
    }
  };

  // Node's SIGCHLD listener is unref'd: it never keeps the app alive.
  process.on('SIGCHLD', safePass);

  const terminationListeners = new Map<string, () => void>();
  if (process.pid === 1 && options.handleTerminationSignals !== false) {
    for (const name of TERMINATION_SIGNALS) {
      const listener = () => {
        // The app's own listeners keep full control.
        if (process.listeners(name).some((other) => other !== listener && !isExitHookListener(other))) return;
        // What the default action would do outside a container, which the
        // kernel refuses to do to PID 1: exit hooks run, status 128+N.
        process.exit(128 + SIGNAL_NUMBERS[name]);
      };
      terminationListeners.set(name, listener);
      process.on(name, listener);
    }
  }

  const reaper = Object.assign(emitter, {
    stats,
    subreaper,
    reapNow,
    stop() {
      process.off('SIGCHLD', safePass);
      for (const [name, listener] of terminationListeners) process.off(name, listener);
      clearTimeout(recheck);
      active = null;
    },
  }) as Reaper;
  active = reaper;
  // Orphans that exited before we started have sent their SIGCHLD already.
  safePass();
  return reaper;
}
