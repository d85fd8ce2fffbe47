// The wrapper: PID 1's whole life, in five phases that read top-down in
// supervise(): prepare, start, run until the app exits, drain, report.
// --pause has a phase of its own instead of the last four: no app, reap
// until told to stop.
// Signals are forwarded and every child is reaped by the addon's handler
// (native/signals.cc) before JavaScript hears of it; this file reacts to the
// handler's event stream (src/events.ts) and decides the exit.
import type { RunOptions } from './args.js';
import type { DrainReport } from './drain.js';
import { isSystemError } from './errors.js';
import { EventStream, type HandlerConfig, type SupervisionEvent } from './events.js';
import { describeStatus, exitCodeOf, type ExitStatus } from './exit-status.js';
import { formatDuration, printable } from './format.js';
import type { Logger } from './log.js';
import { native } from './native.js';
import { explainDeath, memoryWatch, type DeathExplanation } from './oom.js';
import { terminateOrphans } from './orphans.js';
import { ageMs, commandLine } from './procfs.js';
import { signalName } from './signals.js';
import { appEnvironment, launch, rawArguments } from './launch.js';

export interface SupervisorResult {
  exitCode: number;
  /** How the main child ended; null when it could not be started. */
  status: ExitStatus | null;
  /** Why the child died, when a signal killed it (or the OOM killer acted in its cgroup meanwhile). */
  death: DeathExplanation | null;
  /** The spawn failure, when the program could not be started. */
  failure?: string;
  drain: DrainReport | null;
  orphansReaped: number;
}

const SIGINT = 2;
const SIGKILL = 9;
const SIGTERM = 15;

/** Runs options.command under supervision; resolves once everything is reaped. */
export async function supervise(options: RunOptions, log: Logger): Promise<SupervisorResult> {
  // 1. Prepare. Whatever can fail fails here, before the app exists.
  checkReapingPosition(options, log);
  const onInternalError = (error: unknown) =>
    log.error(`internal error, reaping and forwarding go on: ${error instanceof Error ? error.stack : String(error)}`);
  const events = new EventStream(handlerConfig(options, log), onInternalError);
  if (options.parentDeathSignal !== null) native().setParentDeathSignal(options.parentDeathSignal);
  if (options.pause) return pause(options, log, events, onInternalError);
  const memory = memoryWatch();

  // 2. Start. From the spawn on nothing may throw: the app would be abandoned.
  const [file, ...args] = options.command as [string, ...string[]];
  // Raw bytes, not the decoded strings: argv and environment need not be UTF-8.
  const command = rawArguments(options.command);
  const handedOver = launch();
  let pid: number;
  try {
    pid = native().spawn(command[0]!, command, appEnvironment(), true, handedOver?.ignored ?? null, handedOver?.blocked ?? null, options.newSession);
  } catch (error) {
    const { describeSpawnFailure } = await import('./spawn-failure.js');
    const failure = describeSpawnFailure(error, file);
    log.error(failure.message);
    return { exitCode: failure.exitCode, status: null, death: null, failure: failure.message, drain: null, orphansReaped: 0 };
  }
  events.setMainChild(pid);
  // Release the start directory, as dumb-init does: PID 1 must not keep a
  // mount busy. The app started in it already; nothing below reads a relative path.
  process.chdir('/');
  log.info(`started ${printable(file)} (pid ${pid})`, { event: 'start', pid, args });
  // PID 1 must not die: anything unexpected is logged and the loop goes on.
  process.on('uncaughtException', onInternalError);
  process.on('unhandledRejection', onInternalError);

  // 3. Run until the app exits. The handler forwards and reaps; we log.
  const app = new AppWatch(pid, file, options, log, events);
  events.listen((event) => app.handle(event));
  const orphans = options.orphans === 'terminate' ? terminateOrphans(pid, options.drainSignal, options.graceMs, log) : null;
  const exit = await app.exited;
  orphans?.stop(); // from here the drain takes every remaining process
  if (options.newSession) signalSession(pid, options, log);

  // 4. Drain: say how the app ended, then end what it left behind.
  let death: DeathExplanation | null = null;
  let drained: DrainReport | null = null;
  try {
    death = reportExit(pid, exit.name, exit.status, memory, log);
    drained = options.drain ? await drainDescendants(pid, options, log, events) : null;
    events.poll();
    if (events.dropped > 0) {
      log.info(`${events.dropped} notify records were dropped while the event loop was busy: some orphans' names are missing from the log; counts and the exit status are exact`);
    }
  } catch (error) {
    // Whatever failed, the app's status is known: report it and exit.
    onInternalError(error);
  }

  // 5. Report: stop watching and hand the app's status to the caller.
  events.close();
  process.off('uncaughtException', onInternalError);
  process.off('unhandledRejection', onInternalError);
  return { exitCode: exitCodeOf(exit.status, options.expectExit), status: exit.status, death, drain: drained, orphansReaped: app.orphansReaped };
}

function handlerConfig(options: RunOptions, log: Logger): HandlerConfig {
  const rewrite: number[] = [];
  const report: boolean[] = [];
  for (let s = 0; s <= 64; s++) {
    rewrite[s] = options.rewrite.get(s) ?? s;
    // TERM and INT arm --stop-timeout; the rest are only reported when someone
    // reads the debug log, so the forwarding path stays free of wake-ups.
    report[s] = s === SIGTERM || s === SIGINT || log.enabled('debug');
  }
  // Orphans' names (read from /proc before the zombie goes) only when logged.
  return {
    rewrite, report, toGroup: options.processGroup, describe: options.warnOnReap || log.enabled('info'),
    holdTerm: options.forwardDelayMs > 0 && !options.pause, // --pause has no app to hold it for
    drainSignal: options.drainSignal,
  };
}

/** --pause: no app. The handler reaps whatever comes; we wait for SIGTERM or SIGINT and exit 0. */
async function pause(options: RunOptions, log: Logger, events: EventStream, onInternalError: (error: unknown) => void): Promise<SupervisorResult> {
  events.setNoMainChild();
  process.chdir('/'); // as catatonit does: PID 1 must not keep a mount busy
  process.on('uncaughtException', onInternalError);
  process.on('unhandledRejection', onInternalError);
  log.info('no program (--pause): reaping orphans until SIGTERM or SIGINT', { event: 'pause' });
  let orphansReaped = 0;
  const signal = await new Promise<number>((resolve) => {
    events.listen((event) => {
      if (event.kind === 'orphans-reaped') orphansReaped += event.count;
      else if (event.kind === 'orphan-exited') logOrphan(event, options, log);
      else if (event.kind === 'stop-requested') resolve(event.signal);
    });
  });
  events.close();
  log.info(`received ${signalName(signal)}: exiting 0 (${orphansReaped} orphans reaped)`, { event: 'exit', signal: signalName(signal), orphansReaped });
  return { exitCode: 0, status: null, death: null, drain: null, orphansReaped };
}

/** The run phase: logs what the handler did, arms --stop-timeout, notes the app's exit. */
class AppWatch {
  orphansReaped = 0;
  readonly exited: Promise<{ status: ExitStatus; name: string }>;
  #resolve!: (exit: { status: ExitStatus; name: string }) => void;
  #stopTimer: NodeJS.Timeout | undefined;
  #delayTimer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(
    readonly pid: number,
    readonly file: string,
    readonly options: RunOptions,
    readonly log: Logger,
    readonly events: EventStream,
  ) {
    this.exited = new Promise((resolve) => (this.#resolve = resolve));
  }

  handle(event: SupervisionEvent): void {
    const { log, pid } = this;
    const from = 'sender' in event && event.sender > 0 ? ` from pid ${event.sender}` : '';
    switch (event.kind) {
      case 'app-exited':
        this.#done = true;
        clearTimeout(this.#stopTimer);
        clearTimeout(this.#delayTimer);
        this.#resolve({ status: event.status, name: event.comm || this.file });
        break;
      case 'orphans-reaped':
        this.orphansReaped += event.count;
        break;
      case 'orphan-exited':
        logOrphan(event, this.options, log);
        break;
      case 'term-held':
        this.#holdTerm(event.msAgo, from);
        break;
      case 'forwarded':
        if (event.error !== 0) {
          log.warn(`could not forward ${signalName(event.signal)} to pid ${pid}: ${native().errnoName(event.error)}`);
          break;
        }
        log.debug(`forwarded ${signalName(event.signal)}${from}${event.delivered !== event.signal ? ` as ${signalName(event.delivered)}` : ''} to ${this.options.processGroup ? 'process group' : 'pid'} ${pid}`);
        if (event.signal === SIGTERM || event.signal === SIGINT) this.#armStopTimeout(event.signal);
        break;
      case 'dropped':
        log.debug(`dropped ${signalName(event.signal)}${from} (rewritten to 0)`);
        break;
      case 'after-exit':
        // The drain logs the interruption itself, from the fact.
        if (!event.endsDrain) log.info(`received ${signalName(event.signal)}${from} after the app exited; the drain goes on (a SIGINT or a second SIGTERM ends it at once)`);
        break;
      case 'stopped':
        log.debug(`pid ${pid} stopped by ${signalName(event.signal)}`);
        break;
      case 'continued':
        log.debug(`pid ${pid} continued`);
        break;
    }
  }

  /**
   * --forward-delay: the handler holds the SIGTERM (a fact, so it is never
   * lost); we time the rest of the delay and have the addon forward it. The
   * delay counts toward --stop-timeout.
   */
  #holdTerm(msAgo: number, from: string): void {
    if (this.#done) return;
    const delayMs = this.options.forwardDelayMs;
    this.log.notice(`holding SIGTERM${from} for ${formatDuration(delayMs)} (--forward-delay) before forwarding it to pid ${this.pid}; a second SIGTERM or a SIGINT forwards it at once`,
      { event: 'forward-delay', pid: this.pid, delayMs });
    this.#armStopTimeout(SIGTERM, msAgo);
    this.#delayTimer = setTimeout(() => this.events.releaseHeldTerm(), Math.max(0, delayMs - msAgo));
  }

  /** --stop-timeout: SIGKILL through the pidfd opened at spawn if TERM/INT did not end the app. */
  #armStopTimeout(signal: number, elapsedMs = 0): void {
    const timeoutMs = this.options.stopTimeoutMs;
    if (timeoutMs === null || this.#stopTimer || this.#done) return;
    this.#stopTimer = setTimeout(() => {
      this.events.poll(); // the handler may have reaped it a moment ago
      if (this.#done) return;
      this.log.warn(`${printable(commandLine(this.pid))} (pid ${this.pid}) did not exit within ${formatDuration(timeoutMs)} of ${signalName(signal)}; sending SIGKILL`);
      try {
        native().signalMainChild(SIGKILL);
      } catch (error) {
        this.log.warn(`could not SIGKILL pid ${this.pid}: ${isSystemError(error) ? error.code : String(error)}`);
      }
    }, Math.max(0, timeoutMs - elapsedMs));
  }
}

/**
 * dumb-init's mode: when the app (a session leader) exits, its group gets
 * SIGTERM (rewritten as -r says), so background jobs of a shell script are
 * told to stop. The kernel keeps the group id while any member lives.
 */
function signalSession(pid: number, options: RunOptions, log: Logger): void {
  const signal = options.rewrite.get(SIGTERM) ?? SIGTERM;
  if (signal === 0) return;
  try {
    process.kill(-pid, signal);
    log.debug(`sent ${signalName(signal)} to the app's session (process group ${pid})`);
  } catch (error) {
    if (!isSystemError(error) || error.code !== 'ESRCH') log.warn(`could not signal process group ${pid}: ${String(error)}`);
  }
}

function logOrphan(exit: Extract<SupervisionEvent, { kind: 'orphan-exited' }>, options: RunOptions, log: Logger): void {
  const level = options.warnOnReap ? 'warn' : 'info';
  if (!log.enabled(level)) return;
  const age = exit.startTicks ? ageMs(exit.startTicks) : null;
  const name = exit.comm ? ` (${printable(exit.comm)})` : '';
  log[level](`reaped orphan pid ${exit.pid}${name}: ${describeStatus(exit.status)}${age !== null ? ` after ${formatDuration(age)}` : ''}`, {
    event: 'reap', pid: exit.pid, comm: exit.comm, exitCode: exit.status.exitCode,
    signal: exit.status.signal === null ? null : signalName(exit.status.signal), ageMs: age,
  });
}

/** Logs how the app ended, and why when it was killed. */
function reportExit(pid: number, name: string, status: ExitStatus, memory: ReturnType<typeof memoryWatch>, log: Logger): DeathExplanation | null {
  const death = explainDeath(pid, printable(name), status, memory);
  const fields = {
    event: 'exit', pid, comm: name, exitCode: status.exitCode,
    signal: status.signal === null ? null : signalName(status.signal),
    oomKilled: death?.oomKilled ?? false, memoryLimitBytes: death?.memoryLimitBytes ?? null,
  };
  if (death) log.notice(death.message, fields);
  else log.info(`${printable(name)} (pid ${pid}) ${describeStatus(status)}`, fields);
  return death;
}

async function drainDescendants(pid: number, options: RunOptions, log: Logger, events: EventStream): Promise<DrainReport> {
  const { drain } = await import('./drain.js');
  return drain({
    signal: options.drainSignal,
    graceMs: options.graceMs,
    log,
    reapAll: () => events.poll(),
    interruptedBy: () => events.drainInterrupt,
    appPid: pid,
    onChildEvent: (listener) => events.onWake(listener),
  });
}

/**
 * Outside PID 1, orphans only come to reaper as a child subreaper. Also warn
 * when a package manager or shell sits at PID 1 above us: signals sent to the
 * container then stop there.
 */
function checkReapingPosition(options: RunOptions, log: Logger): void {
  if (process.pid === 1) return;
  const addon = native();
  try {
    addon.setChildSubreaper(true);
  } catch (error) {
    const reason = isSystemError(error) ? error.code : String(error);
    const message = `reaper is not PID 1 and could not register as a child subreaper (${reason}), ` +
      'so orphans will go to the real PID 1 and reaper cannot reap them; run reaper as PID 1 ' +
      '(exec-form ENTRYPOINT ["reaper", "--", ...]) or allow prctl(PR_SET_CHILD_SUBREAPER).';
    if (options.requireSubreaper) throw Object.assign(new Error(message), { exitCode: 1 });
    log.warn(message);
  }

  const init = commandLine(1, '');
  const initName = init.split(' ').map((word) => word.split('/').pop() ?? '');
  const isWrapper = initName.some((word) => /^(npm|npx|npm-cli\.js|npx-cli\.js|yarn|pnpm)$/.test(word)) ||
    /^(sh|bash|dash|ash|zsh)$/.test(initName[0] ?? '');
  if (isWrapper && isAncestor(1)) {
    log.warn(`PID 1 is "${printable(init, 60)}", not reaper: signals sent to the container (docker stop) reach it, ` +
      'not reaper, and may never reach your app; use the exec form with the bin path instead, e.g. ' +
      'ENTRYPOINT ["/app/node_modules/.bin/reaper", "--", "node", "app.js"].');
  }
}

function isAncestor(target: number): boolean {
  let pid = process.pid;
  for (let hops = 0; hops < 64 && pid > 1; hops++) {
    const stat = native().procStat(pid);
    if (!stat) return false;
    if (stat.ppid === target) return true;
    pid = stat.ppid;
  }
  return false;
}
