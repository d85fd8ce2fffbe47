// In-process reaping for a Node app that is its own PID 1 (or that wants its
// orphans back as a subreaper). libuv waits for the children it spawned one
// pid at a time and silently loses an exit status someone else collected, so
// we never call waitpid(-1): we list the main thread's children, skip every
// pid an active libuv process handle owns, and reap only zombies that have
// stayed zombies for a grace period (another addon may be about to wait for
// its own child from a thread of its own, as node-pty does).
//
// One reaper runs per process; every startReaper() call gets a handle on it
// (the register preload holds one, the app may hold more). The reaper stops
// when its last handle is stopped, disposed or aborted.
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import { decodeWaitStatus, describeStatus, exitCodeOf, signalNameOf, type ExitStatus } from '../core/exit-status.js';
import { ReaperError } from '../core/errors.js';
import { native, type NativeExit } from '../core/native.js';
import { ageMs, childrenOf, hasChildrenFiles, listProcesses, procIsOurs, readStat } from '../core/procfs.js';
import { SIGHUP, SIGINT, SIGTERM } from '../core/signals.js';

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
  /** Stops this handle when aborted (an already aborted signal makes startReaper throw its reason). */
  signal?: AbortSignal;
}

/** The configuration of the running reaper: the options with their defaults filled in. */
export interface ReaperConfig {
  readonly subreaper: boolean;
  readonly handleTerminationSignals: boolean;
  readonly graceMs: number;
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

/** The events of a Reaper: `error` without a listener becomes a process warning. */
export interface ReaperEvents {
  reap: [ReapEvent];
  error: [Error];
}

export interface Reaper extends EventEmitter<ReaperEvents> {
  /** Shared by every handle on the running reaper. */
  readonly stats: ReaperStats;
  /** Whether orphans come to this process (PID 1, or the subreaper bit set). */
  readonly subreaper: boolean;
  readonly config: ReaperConfig;
  /** True once this handle was stopped (by stop(), dispose or its signal). */
  readonly stopped: boolean;
  /** Runs one reap pass now; returns how many orphans it reaped. */
  reapNow(): number;
  /**
   * Releases this handle; the last one removes every listener and timer the
   * reaper added (the subreaper bit stays). Idempotent.
   */
  stop(): void;
  /** `using reaper = startReaper()` (Node 20.4+). */
  [Symbol.dispose](): void;
  /** `await using reaper = startReaper()` (Node 20.4+). */
  [Symbol.asyncDispose](): Promise<void>;
}

const SIGNAL_NUMBERS = { SIGTERM, SIGINT, SIGHUP } as const;
const TERMINATION_SIGNALS = Object.keys(SIGNAL_NUMBERS) as (keyof typeof SIGNAL_NUMBERS)[];
const DEFAULTS: ReaperConfig = { subreaper: true, handleTerminationSignals: true, graceMs: 250 };
/** setTimeout's limit: a longer delay fires at once. */
const MAX_GRACE_MS = 2 ** 31 - 1;

/**
 * How many copies of signal-exit have their signal listeners installed. Many
 * CLIs, loggers and test runners use it; it listens to SIGTERM/SIGINT/SIGHUP
 * but acts only when all listeners are its own, then re-raises the signal:
 * next to ours it would wait for us as we wait for it. It is an exit hook, not
 * the app taking control (its hooks run through process.exit). Each loaded
 * copy adds one listener per signal and counts itself in a global emitter it
 * publishes: v4 under Symbol.for('signal-exit emitter'), v3 as
 * process.__signal_exit_emitter__. signal-exit itself trusts these counts;
 * bundling and minifying keep them (its source text does not survive).
 */
function signalExitListeners(): number {
  const count = (emitter: unknown) => {
    const value = (emitter as { count?: unknown } | null | undefined)?.count;
    return typeof value === 'number' && value > 0 ? value : 0;
  };
  return count((globalThis as Record<symbol, unknown>)[Symbol.for('signal-exit emitter')]) +
    count((process as unknown as Record<string, unknown>).__signal_exit_emitter__);
}

const show = (value: unknown) => inspect(value, { depth: 0, breakLength: Infinity, maxStringLength: 40 });

function invalid(kind: typeof TypeError | typeof RangeError, code: string, message: string): Error {
  return Object.assign(new kind(`startReaper: ${message}`), { code });
}

/** Checks startReaper's argument; returns the options given explicitly. */
function parseOptions(options: unknown): { given: Partial<ReaperConfig>; signal?: AbortSignal } {
  if (options === undefined) return { given: {} };
  if (options === null || typeof options !== 'object') {
    throw invalid(TypeError, 'ERR_INVALID_ARG_TYPE', `options must be an object or undefined, got ${show(options)}.`);
  }
  const given: { -readonly [K in keyof ReaperConfig]?: ReaperConfig[K] } = {};
  let signal: AbortSignal | undefined;
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    switch (key) {
      case 'subreaper':
      case 'handleTerminationSignals':
        if (typeof value !== 'boolean') throw invalid(TypeError, 'ERR_INVALID_ARG_TYPE', `options.${key} must be true or false, got ${show(value)}.`);
        given[key] = value;
        break;
      case 'graceMs':
        if (typeof value !== 'number' || !(value >= 0 && value <= MAX_GRACE_MS)) {
          throw invalid(typeof value === 'number' ? RangeError : TypeError, typeof value === 'number' ? 'ERR_OUT_OF_RANGE' : 'ERR_INVALID_ARG_TYPE',
            `options.graceMs must be a number of milliseconds from 0 to ${MAX_GRACE_MS}, got ${show(value)}.`);
        }
        given.graceMs = value;
        break;
      case 'signal':
        if (!(value instanceof AbortSignal)) throw invalid(TypeError, 'ERR_INVALID_ARG_TYPE', `options.signal must be an AbortSignal, got ${show(value)}.`);
        signal = value;
        break;
      default:
        throw invalid(TypeError, 'ERR_INVALID_ARG_VALUE',
          `unknown option ${JSON.stringify(key)}; the options are subreaper, handleTerminationSignals, graceMs and signal.`);
    }
  }
  return { given, signal };
}

let active: Core | null = null;

/**
 * Lists the zombies among our children. The main thread's children file is
 * exact and cheap; without it (kernels without CONFIG_PROC_CHILDREN, a masked
 * /proc) we scan every process's parent pid. A /proc of another pid
 * namespace names other processes: then reaping is impossible.
 */
function zombieLister(): (() => number[]) | ReaperError {
  if (!procIsOurs()) {
    return new ReaperError('ERR_REAPER_NO_PROC',
      `reaper cannot reap orphans here: /proc is not mounted or belongs to another pid namespace (/proc/self is not pid ${process.pid}); ` +
      `mount this namespace's /proc, or run the app under the reaper-init CLI.`);
  }
  const pid = process.pid;
  const isZombie = (child: number) => {
    const stat = readStat(child);
    return stat !== null && stat !== 'unreadable' && stat.state === 'Z';
  };
  if (hasChildrenFiles()) {
    // Only the main thread's children: a worker's children are its own
    // libuv loop's business, and orphans are re-parented to the main thread.
    return () => childrenOf(pid).filter(isZombie);
  }
  // A parent pid names the process, not the thread: this also lists worker
  // threads' children, which the grace period leaves to their own loops.
  return () => listProcesses().filter((entry) => entry.ppid === pid && entry.state === 'Z').map((entry) => entry.pid);
}

function toReapEvent(exit: NativeExit): ReapEvent {
  const status = decodeWaitStatus(exit.status);
  return {
    pid: exit.pid,
    ...status,
    comm: exit.comm ?? '',
    signalName: signalNameOf(status),
    ageMs: exit.startTicks ? ageMs(exit.startTicks) : null,
    description: describeStatus(status),
  };
}

/**
 * As PID 1: what the default action of SIGTERM, SIGINT and SIGHUP would do
 * outside a container, which the kernel refuses to do to PID 1: exit hooks
 * run, status 128+N. The app's own listeners keep full control.
 */
function terminationListeners(config: ReaperConfig): Map<string, () => void> {
  const listeners = new Map<string, () => void>();
  if (process.pid !== 1 || !config.handleTerminationSignals) return listeners;
  for (const name of TERMINATION_SIGNALS) {
    const listener = () => {
      // signal-exit's listeners do not count as the app's.
      const others = process.listeners(name).filter((other) => other !== listener).length;
      if (others > signalExitListeners()) return;
      process.exit(exitCodeOf({ exitCode: null, signal: SIGNAL_NUMBERS[name], coreDumped: false }));
    };
    listeners.set(name, listener);
  }
  return listeners;
}

/** The running reaper, shared by its handles. */
class Core {
  readonly stats: ReaperStats = { reaped: 0, lastReaped: null, passes: 0, skippedOwned: 0 };
  readonly subreaper: boolean;
  /** Why this process cannot reap (no usable /proc), reported to each new handle. */
  readonly unusable: Error | null;
  readonly #addon = native();
  readonly #handles = new Set<Handle>();
  readonly #zombies: () => number[];
  /** Zombie pid -> when we first saw it (ms, performance clock). */
  readonly #firstSeen = new Map<number, number>();
  /** Messages already turned into process warnings: a repeating failure warns once. */
  readonly #warned = new Set<string>();
  readonly #terminationListeners: Map<string, () => void>;
  #recheck: NodeJS.Timeout | undefined;
  // A listener that throws would be an uncaught exception in a signal
  // callback: it becomes an 'error' event (or a warning) instead.
  readonly #safePass = () => {
    try {
      this.reapNow();
    } catch (error) {
      this.report(error instanceof Error ? error : new Error(String(error)));
    }
  };

  constructor(readonly config: ReaperConfig) {
    this.subreaper = process.pid === 1;
    if (!this.subreaper && config.subreaper) {
      this.#addon.setChildSubreaper(true);
      this.subreaper = true;
    }
    const lister = zombieLister();
    this.unusable = lister instanceof Error ? lister : null;
    this.#zombies = lister instanceof Error ? () => [] : lister;
    this.#terminationListeners = terminationListeners(config);
    // Node's SIGCHLD listener is unref'd: it never keeps the app alive.
    process.on('SIGCHLD', this.#safePass);
    for (const [name, listener] of this.#terminationListeners) process.on(name, listener);
    // Orphans that exited before we started have sent their SIGCHLD already.
    this.#safePass();
  }

  reapNow(): number {
    this.stats.passes++;
    if (this.unusable) return 0;
    const owned = new Set(this.#addon.ownedProcessPids());
    const now = performance.now();
    const { graceMs } = this.config;
    let reaped = 0;
    let nextDue = Infinity;
    const stillZombie = new Set<number>();
    for (const pid of this.#zombies()) {
      if (owned.has(pid)) {
        this.stats.skippedOwned++;
        continue;
      }
      stillZombie.add(pid);
      const seen = this.#firstSeen.get(pid) ?? now;
      this.#firstSeen.set(pid, seen);
      if (now - seen < graceMs) {
        nextDue = Math.min(nextDue, seen + graceMs);
        continue;
      }
      if (!this.#reap(pid)) continue;
      stillZombie.delete(pid);
      reaped++;
    }
    for (const pid of this.#firstSeen.keys()) if (!stillZombie.has(pid)) this.#firstSeen.delete(pid);
    if (nextDue !== Infinity && !this.#recheck) {
      this.#recheck = setTimeout(() => {
        this.#recheck = undefined;
        this.#safePass();
      }, Math.max(1, nextDue - now)).unref();
    }
    return reaped;
  }

  /** Reaps one zombie whose grace period is over and tells the handles; false if it was not ours to reap after all. */
  #reap(pid: number): boolean {
    // Name and age cost three /proc reads: only for someone who listens.
    const describe = [...this.#handles].some((handle) => handle.listenerCount('reap') > 0);
    const exit = this.#addon.reapPid(pid, describe);
    if (!exit) return false;
    this.#firstSeen.delete(pid);
    const event = toReapEvent(exit);
    this.stats.reaped++;
    this.stats.lastReaped = event;
    for (const handle of this.#handles) handle.emit('reap', event);
    return true;
  }

  /** To the handle's (or every handle's) `error` listeners, else a process warning. */
  report(error: Error, only?: Handle): void {
    let heard = false;
    for (const handle of only ? [only] : this.#handles) {
      if (handle.listenerCount('error') === 0) continue;
      handle.emit('error', error);
      heard = true;
    }
    if (heard || this.#warned.has(error.message)) return;
    this.#warned.add(error.message);
    process.emitWarning(error);
  }

  attach(handle: Handle): void {
    this.#handles.add(handle);
    // Told on the next tick, so listeners added right after startReaper() hear it.
    const { unusable } = this;
    if (unusable) process.nextTick(() => !handle.stopped && this.report(unusable, handle));
  }

  detach(handle: Handle): void {
    this.#handles.delete(handle);
    if (this.#handles.size > 0) return;
    process.off('SIGCHLD', this.#safePass);
    for (const [name, listener] of this.#terminationListeners) process.off(name, listener);
    clearTimeout(this.#recheck);
    this.#recheck = undefined;
    if (active === this) active = null;
  }
}

class Handle extends EventEmitter<ReaperEvents> implements Reaper {
  readonly #core: Core;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.stop();
  #stopped = false;

  constructor(core: Core, signal: AbortSignal | undefined) {
    super();
    this.#core = core;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    core.attach(this);
  }

  get stats() { return this.#core.stats; }
  get subreaper() { return this.#core.subreaper; }
  get config() { return this.#core.config; }
  get stopped() { return this.#stopped; }

  reapNow(): number {
    if (this.#stopped) throw new ReaperError('ERR_REAPER_STOPPED', 'reapNow: this reaper handle was stopped; call startReaper() again for a new one.');
    return this.#core.reapNow();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#core.detach(this);
  }

  // Defined below where the Node version has the symbols (20.4+).
  declare [Symbol.dispose]: () => void;
  declare [Symbol.asyncDispose]: () => Promise<void>;
}
if (typeof Symbol.dispose === 'symbol') {
  Handle.prototype[Symbol.dispose] = function (this: Handle) {
    this.stop();
  };
}
if (typeof Symbol.asyncDispose === 'symbol') {
  Handle.prototype[Symbol.asyncDispose] = async function (this: Handle) {
    this.stop();
  };
}

/**
 * Starts reaping orphans in this process, or joins the reaper already running
 * (the options given must match its configuration; options left out take its
 * values). Returns a handle: the reaper stops when every handle is stopped.
 * Throws TypeError/RangeError for bad options, ReaperError
 * ERR_REAPER_ALREADY_STARTED for options that contradict the running reaper.
 */
export function startReaper(options?: ReaperOptions): Reaper {
  const { given, signal } = parseOptions(options);
  signal?.throwIfAborted();
  if (active) {
    for (const key of Object.keys(given) as Array<keyof ReaperConfig>) {
      if (given[key] === active.config[key]) continue;
      throw new ReaperError('ERR_REAPER_ALREADY_STARTED',
        `startReaper: a reaper is already running with ${key} ${active.config[key]}, not ${given[key]}; ` +
        `leave ${key} out (or pass the same value) to share it, or stop() its handles first.`);
    }
  } else {
    active = new Core({ ...DEFAULTS, ...given });
  }
  return new Handle(active, signal);
}
