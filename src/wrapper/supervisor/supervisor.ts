// The wrapper: PID 1's whole life, in five phases that read top-down in
// supervise(): prepare, start, run until the app exits, drain, report. Each
// is a function whose typed result the next one takes.
// --pause is an entry of its own (pause(), chosen in cli.ts): prepare, then
// no app, reap until told to stop.
// Signals are forwarded and every child is reaped by the addon's handler
// (src/wrapper/supervisor/handler.ts) before JavaScript hears of it; this file reacts to the
// handler's event stream (src/wrapper/supervisor/events.ts) and decides the exit.
import type { RunOptions } from '../args.js';
import type { DrainReport } from './drain.js';
import { isSystemError } from '../../core/errors.js';
import { EventStream } from './events.js';
import { describeStatus, exitCodeOf, signalNameOf, type ExitStatus } from '../../core/exit-status.js';
import { formatDuration, printable } from '../../core/format.js';
import { installHandler, releaseHeldTerm, setMainChild, setNoMainChild, signalApp, type HandlerConfig, type SupervisionEvent } from './handler.js';
import type { Logger } from '../log.js';
import { native, spawn } from '../../core/native.js';
import { explainDeath, memoryWatch, type DeathExplanation, type MemoryWatch } from './oom.js';
import { terminateOrphans } from './orphans.js';
import { ageMs, commandLine, readStat } from '../../core/procfs.js';
import { killTarget, SIGINT, SIGKILL, SIGRTMAX, SIGTERM, signalName } from '../../core/signals.js';
import { appEnvironment, launch, rawArguments } from '../../core/launch.js';

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

/** The one constructor of a result: what a run did not reach stays null (or 0). */
function supervisorResult(exitCode: number, reached: Partial<Omit<SupervisorResult, 'exitCode'>> = {}): SupervisorResult {
  return { exitCode, status: null, death: null, drain: null, orphansReaped: 0, ...reached };
}

/**
 * Runs options.command under supervision; resolves once everything is reaped.
 * afterStart runs once the app is started: work PID 1 can put off until then
 * (V8's code cache) delays neither the app's start nor PID 1's exit.
 */
export async function supervise(options: RunOptions, log: Logger, afterStart?: () => void): Promise<SupervisorResult> {
  const prepared = prepare(options, log);
  const app = await start(prepared);
  if ('exitCode' in app) return app; // the program could not be started
  afterStart?.();
  const exit = await run(prepared, app);
  const drained = await drain(prepared, app);
  return report(prepared, app, exit, drained);
}

/** --pause: no app. The handler reaps whatever comes; we wait for SIGTERM or SIGINT and exit 0. */
export async function pause(options: RunOptions, log: Logger): Promise<SupervisorResult> {
  const prepared = prepare(options, log);
  setNoMainChild();
  const events = new EventStream({ appPid: 0, holdTerm: false, onError: prepared.onInternalError });
  enterMainLoop(prepared);
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
  leaveMainLoop(prepared);
  log.info(`received ${signalName(signal)}: exiting 0 (${orphansReaped} orphans reaped)`, { event: 'exit', signal: signalName(signal), orphansReaped });
  return supervisorResult(0, { orphansReaped });
}

/** What prepare leaves for the rest. */
interface Prepared {
  options: RunOptions;
  log: Logger;
  /** PID 1 must not die: anything unexpected after the spawn is logged and the loop goes on. */
  onInternalError(error: unknown): void;
}

/** 1. Prepare. Whatever can fail fails here, before the app exists. */
function prepare(options: RunOptions, log: Logger): Prepared {
  checkReapingPosition(options, log);
  installHandler(handlerConfig(options, log));
  if (options.parentDeathSignal !== null) native().setParentDeathSignal(options.parentDeathSignal);
  const onInternalError = (error: unknown) =>
    log.error(`internal error, reaping and forwarding go on: ${error instanceof Error ? error.stack : String(error)}`);
  return { options, log, onInternalError };
}

/** The app, once started. */
interface App {
  pid: number;
  /** The program as given (for the log; the app's own name comes from the kernel when it exits). */
  file: string;
  /** The memory cgroup's OOM counter before the start: explainDeath compares against it. */
  memory: MemoryWatch;
  events: EventStream;
}

/** 2. Start. From the spawn on nothing may throw: the app would be abandoned. A failed start is the result. */
async function start(prepared: Prepared): Promise<App | SupervisorResult> {
  const { options, log } = prepared;
  const memory = memoryWatch();
  const [file, ...args] = options.command as [string, ...string[]];
  // Raw bytes, not the decoded strings: argv and environment need not be UTF-8.
  const command = rawArguments(options.command);
  const handedOver = launch();
  let pid: number;
  try {
    pid = spawn({
      file: command[0]!, args: command, env: appEnvironment(), foreground: true,
      ignored: handedOver?.ignored ?? null, blocked: handedOver?.blocked ?? null, newSession: options.newSession,
    });
  } catch (error) {
    const { describeSpawnFailure } = await import('./spawn-failure.js');
    const failure = describeSpawnFailure(error, file);
    log.error(failure.message);
    return supervisorResult(failure.exitCode, { failure: failure.message });
  }
  setMainChild(pid);
  const events = new EventStream({ appPid: pid, holdTerm: options.forwardDelayMs > 0, onError: prepared.onInternalError });
  enterMainLoop(prepared);
  log.info(`started ${printable(file)} (pid ${pid})`, { event: 'start', pid, args });
  return { pid, file, memory, events };
}

/**
 * Release the start directory, as dumb-init and catatonit do: PID 1 must not
 * keep a mount busy (the app started in it already; nothing below reads a
 * relative path). From here PID 1 must not die.
 */
function enterMainLoop({ onInternalError }: Prepared): void {
  process.chdir('/');
  process.on('uncaughtException', onInternalError);
  process.on('unhandledRejection', onInternalError);
}

function leaveMainLoop({ onInternalError }: Prepared): void {
  process.off('uncaughtException', onInternalError);
  process.off('unhandledRejection', onInternalError);
}

/** How the app ended; orphansReaped counts on until the report (the drain reaps too). */
interface AppExit {
  status: ExitStatus;
  death: DeathExplanation | null;
  orphansReaped(): number;
}

/** 3. Run until the app exits, then say how it ended. The handler forwards and reaps; we log. */
async function run(prepared: Prepared, app: App): Promise<AppExit> {
  const { options, log } = prepared;
  const stop = new StopTimers(app, options, log);
  let orphansReaped = 0;
  const exited = new Promise<{ status: ExitStatus; name: string }>((resolve) => app.events.listen((event) => {
    if (event.kind === 'app-exited') {
      stop.cancel();
      resolve({ status: event.status, name: event.comm || app.file });
    } else if (event.kind === 'orphans-reaped') {
      orphansReaped += event.count;
    } else {
      stop.onEvent(event);
      logEvent(event, app, options, log);
    }
  }));
  const orphans = options.orphans === 'terminate' ? terminateOrphans(app.pid, options.drainSignal, options.graceMs, log) : null;
  const { status, name } = await exited;
  orphans?.stop(); // from here the drain takes every remaining process
  let death: DeathExplanation | null = null;
  try {
    death = reportExit(app, name, status, log);
  } catch (error) {
    prepared.onInternalError(error); // the status is known: the drain and the exit go on
  }
  return { status, death, orphansReaped: () => orphansReaped };
}

/** 4. Drain: end what the app left behind. */
async function drain({ options, log, onInternalError }: Prepared, app: App): Promise<DrainReport | null> {
  if (options.newSession) signalSession(app.pid, options, log);
  let drained: DrainReport | null = null;
  try {
    drained = options.drain ? await drainDescendants(app, options, log) : null;
    app.events.poll();
    if (app.events.dropped > 0) {
      log.info(`${app.events.dropped} notify records were dropped while the event loop was busy: some orphans' names are missing from the log; counts and the exit status are exact`);
    }
  } catch (error) {
    // Whatever failed, the app's status is known: report it and exit.
    onInternalError(error);
  }
  return drained;
}

/** 5. Report: stop watching and hand the app's status to the caller. */
function report(prepared: Prepared, app: App, exit: AppExit, drained: DrainReport | null): SupervisorResult {
  app.events.close();
  leaveMainLoop(prepared);
  return supervisorResult(exitCodeOf(exit.status, prepared.options.expectExit),
    { status: exit.status, death: exit.death, drain: drained, orphansReaped: exit.orphansReaped() });
}

function handlerConfig(options: RunOptions, log: Logger): HandlerConfig {
  const rewrite: number[] = [];
  const report: boolean[] = [];
  for (let s = 0; s <= SIGRTMAX; s++) {
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

/** What the run phase logs of the handler's work (the app's exit and the orphan count are run's own). */
function logEvent(event: SupervisionEvent, app: App, options: RunOptions, log: Logger): void {
  const from = 'sender' in event && event.sender > 0 ? ` from pid ${event.sender}` : '';
  switch (event.kind) {
    case 'orphan-exited':
      logOrphan(event, options, log);
      break;
    case 'forwarded':
      if (event.error !== 0) log.warn(`could not forward ${signalName(event.signal)} to pid ${app.pid}: ${native().errnoName(event.error)}`);
      else log.debug(`forwarded ${signalName(event.signal)}${from}${event.delivered !== event.signal ? ` as ${signalName(event.delivered)}` : ''} to ${options.processGroup ? 'process group' : 'pid'} ${app.pid}`);
      break;
    case 'dropped':
      log.debug(`dropped ${signalName(event.signal)}${from} (rewritten to 0)`);
      break;
    case 'after-exit':
      // The drain logs the interruption itself, from the fact.
      if (!event.endsDrain) log.info(`received ${signalName(event.signal)}${from} after the app exited; the drain goes on (a SIGINT or a second SIGTERM ends it at once)`);
      break;
    case 'stopped':
      log.debug(`pid ${app.pid} stopped by ${signalName(event.signal)}`);
      break;
    case 'continued':
      log.debug(`pid ${app.pid} continued`);
      break;
  }
}

/** --forward-delay and --stop-timeout: the run phase's two timers, both ended by the app's exit. */
class StopTimers {
  #stopTimer: NodeJS.Timeout | undefined;
  #delayTimer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(readonly app: App, readonly options: RunOptions, readonly log: Logger) {}

  onEvent(event: SupervisionEvent): void {
    if (event.kind === 'term-held') this.#holdTerm(event.msAgo, event.sender > 0 ? ` from pid ${event.sender}` : '');
    else if (event.kind === 'forwarded' && event.error === 0 && (event.signal === SIGTERM || event.signal === SIGINT)) this.#armStopTimeout(event.signal);
  }

  cancel(): void {
    this.#done = true;
    clearTimeout(this.#stopTimer);
    clearTimeout(this.#delayTimer);
  }

  /**
   * --forward-delay: the handler holds the SIGTERM (a fact, so it is never
   * lost); we time the rest of the delay and have the addon forward it. The
   * delay counts toward --stop-timeout.
   */
  #holdTerm(msAgo: number, from: string): void {
    if (this.#done) return;
    const delayMs = this.options.forwardDelayMs;
    const { pid } = this.app;
    this.log.notice(`holding SIGTERM${from} for ${formatDuration(delayMs)} (--forward-delay) before forwarding it to pid ${pid}; a second SIGTERM or a SIGINT forwards it at once`,
      { event: 'forward-delay', pid, delayMs });
    this.#armStopTimeout(SIGTERM, msAgo);
    this.#delayTimer = setTimeout(() => releaseHeldTerm(), Math.max(0, delayMs - msAgo));
  }

  /** --stop-timeout: SIGKILL to the app (signalApp) if TERM/INT did not end it. */
  #armStopTimeout(signal: number, elapsedMs = 0): void {
    const timeoutMs = this.options.stopTimeoutMs;
    if (timeoutMs === null || this.#stopTimer || this.#done) return;
    this.#stopTimer = setTimeout(() => {
      this.app.events.poll(); // the handler may have reaped it a moment ago
      if (this.#done) return;
      const { pid } = this.app;
      this.log.warn(`${printable(commandLine(pid))} (pid ${pid}) did not exit within ${formatDuration(timeoutMs)} of ${signalName(signal)}; sending SIGKILL`);
      try {
        signalApp(SIGKILL);
      } catch (error) {
        this.log.warn(`could not SIGKILL pid ${pid}: ${isSystemError(error) ? error.code : String(error)}`);
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
    if (killTarget(-pid, signal)) log.debug(`sent ${signalName(signal)} to the app's session (process group ${pid})`);
  } catch (error) {
    log.warn(`could not signal process group ${pid}: ${String(error)}`);
  }
}

function logOrphan(exit: Extract<SupervisionEvent, { kind: 'orphan-exited' }>, options: RunOptions, log: Logger): void {
  const level = options.warnOnReap ? 'warn' : 'info';
  if (!log.enabled(level)) return;
  const age = exit.startTicks ? ageMs(exit.startTicks) : null;
  const name = exit.comm ? ` (${printable(exit.comm)})` : '';
  log[level](`reaped orphan pid ${exit.pid}${name}: ${describeStatus(exit.status)}${age !== null ? ` after ${formatDuration(age)}` : ''}`, {
    event: 'reap', pid: exit.pid, comm: exit.comm, exitCode: exit.status.exitCode,
    signal: signalNameOf(exit.status), ageMs: age,
  });
}

/** Logs how the app ended, and why when it was killed. */
function reportExit({ pid, memory }: App, name: string, status: ExitStatus, log: Logger): DeathExplanation | null {
  const death = explainDeath(pid, printable(name), status, memory);
  const fields = {
    event: 'exit', pid, comm: name, exitCode: status.exitCode,
    signal: signalNameOf(status),
    oomKilled: death?.oomKilled ?? false, memoryLimitBytes: death?.memoryLimitBytes ?? null,
  };
  if (death) log.notice(death.message, fields);
  else log.info(`${printable(name)} (pid ${pid}) ${describeStatus(status)}`, fields);
  return death;
}

async function drainDescendants({ pid, events }: App, options: RunOptions, log: Logger): Promise<DrainReport> {
  const drainer = await import('./drain.js');
  return drainer.drain({
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

  const init = commandLine(1);
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
    const stat = readStat(pid);
    if (!stat || stat === 'unreadable') return false;
    if (stat.ppid === target) return true;
    pid = stat.ppid;
  }
  return false;
}
