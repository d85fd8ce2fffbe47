// The wrapper: spawn the app, forward signals, reap everything, drain what is
// left when the app exits, and report its status. Signals are forwarded by the
// addon's handler before JavaScript hears of them; this file only reacts to
// the records the handler leaves on the notify pipe.
import type { RunOptions } from './args.js';
import type { DrainReport } from './drain.js';
import { isSystemError } from './errors.js';
import { describeStatus, exitCodeOf, type ExitStatus } from './exit-status.js';
import type { Logger } from './log.js';
import {
  EVENT_CHILD, EVENT_DROPPED, EVENT_FORWARDED, EVENT_NO_TARGET, SIGNAL_EVENT_SIZE,
  native, type NativeExit,
} from './native.js';
import { explainDeath, memoryWatch, type DeathExplanation } from './oom.js';
import { formatDuration } from './format.js';
import { ageMs, commandLine } from './procfs.js';
import { setRealtimeRange, signalName } from './signals.js';
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
  const addon = native();
  setRealtimeRange({ min: addon.SIGRTMIN, max: addon.SIGRTMAX });
  checkReapingPosition(options, log);

  const notifyFd = addon.openNotifyPipe();
  const rewrite: number[] = [];
  const report: boolean[] = [];
  for (let s = 0; s <= addon.SIGRTMAX; s++) {
    rewrite[s] = options.rewrite.get(s) ?? s;
    // TERM and INT arm --stop-timeout; the rest are only reported when someone
    // reads the debug log, so the forwarding path stays free of wake-ups.
    report[s] = s === SIGTERM || s === SIGINT || log.enabled('debug');
  }
  // Orphans are reaped inside the SIGCHLD handler unless their names are
  // wanted in the log (read from /proc before the zombie goes).
  const describe = options.warnOnReap || log.enabled('info');
  addon.installForwarding(rewrite, report, options.processGroup, !describe);
  if (options.parentDeathSignal !== null) addon.setParentDeathSignal(options.parentDeathSignal);

  const memory = memoryWatch();
  const [file, ...args] = options.command as [string, ...string[]];
  // Raw bytes, not the decoded strings: argv and environment need not be UTF-8.
  const command = rawArguments(options.command);
  const handedOver = launch();
  let pid: number;
  try {
    pid = addon.spawn(command[0]!, command, appEnvironment(), true, handedOver?.ignored ?? null, handedOver?.blocked ?? null);
  } catch (error) {
    const { describeSpawnFailure } = await import('./spawn-failure.js');
    const failure = describeSpawnFailure(error, file);
    log.error(failure.message);
    return { exitCode: failure.exitCode, status: null, death: null, failure: failure.message, drain: null, orphansReaped: 0 };
  }
  addon.setForwardTarget(pid);
  // Pins the child's identity for --stop-timeout: signalProcess checks it.
  const startTicks = addon.procStat(pid)?.startTicks ?? 0;
  log.info(`started ${JSON.stringify(file).slice(1, -1)} (pid ${pid})`, { event: 'start', pid, args });

  // From here on PID 1 must not die: anything unexpected is logged and the
  // loop goes on reaping and forwarding.
  const onInternalError = (error: unknown) =>
    log.error(`internal error, reaping and forwarding go on: ${error instanceof Error ? error.stack : String(error)}`);
  process.on('uncaughtException', onInternalError);
  process.on('unhandledRejection', onInternalError);

  return new Promise<SupervisorResult>((resolve) => {
    let mainStatus: ExitStatus | null = null;
    let mainName = file;
    let orphansReaped = 0;
    let stopTimer: NodeJS.Timeout | undefined;
    let leftover: Buffer = Buffer.alloc(0);
    const childListeners = new Set<() => void>();

    const onOrphan = (exit: NativeExit) => {
      const level = options.warnOnReap ? 'warn' : 'info';
      if (!log.enabled(level)) return;
      const age = exit.startTicks ? ageMs(exit.startTicks) : null;
      const name = exit.comm ? ` (${exit.comm})` : '';
      log[level](`reaped orphan pid ${exit.pid}${name}: ${describeStatus(exit)}${age !== null ? ` after ${formatDuration(age)}` : ''}`, {
        event: 'reap', pid: exit.pid, comm: exit.comm, exitCode: exit.exitCode,
        signal: exit.signal === null ? null : signalName(exit.signal), ageMs: age,
      });
    };

    const setMain = (exit: NativeExit | null) => {
      if (!exit || mainStatus) return;
      addon.clearForwardTarget(); // never signal a pid we have reaped
      mainStatus = exit;
      mainName = exit.comm || file;
    };

    const reapAll = () => {
      // The main child first: the SIGCHLD handler may have reaped it already;
      // if not, by pid, so that its name is read before it goes.
      if (!mainStatus) {
        const handled = addon.takeMainExit();
        setMain(handled ? { ...handled, pid } : addon.reapPid(pid, true));
      }
      // Everything else: orphans (and the main child, should it have exited
      // since). Without a log line to write, only their number comes back.
      const { count, exits, main } = addon.reap(describe, pid);
      setMain(main);
      for (const exit of exits) onOrphan(exit);
      orphansReaped += count + addon.takeReapedCount();
    };

    const onSignalEvent = (kind: number, signal: number, delivered: number, error: number, sender: number) => {
      const from = sender > 0 ? ` from pid ${sender}` : '';
      if (kind === EVENT_FORWARDED && error !== 0) {
        log.warn(`could not forward ${signalName(signal)} to pid ${pid}: ${addon.errnoName(error)}`);
      } else if (kind === EVENT_FORWARDED) {
        const as = delivered !== signal ? ` as ${signalName(delivered)}` : '';
        log.debug(`forwarded ${signalName(signal)}${from}${as} to ${options.processGroup ? 'process group' : 'pid'} ${pid}`);
        if ((signal === SIGTERM || signal === SIGINT) && options.stopTimeoutMs !== null && !stopTimer) {
          stopTimer = setTimeout(() => {
            try {
              escalate(signal);
            } catch (error) {
              onInternalError(error);
            }
          }, options.stopTimeoutMs);
        }
      } else if (kind === EVENT_DROPPED) {
        log.debug(`dropped ${signalName(signal)}${from} (rewritten to 0)`);
      } else if (kind === EVENT_NO_TARGET) {
        log.info(`received ${signalName(signal)}${from} after the app exited; the drain goes on`);
      }
    };

    const escalate = (signal: number) => {
      // The SIGCHLD handler may have reaped the child a moment ago.
      reapAll();
      if (mainStatus) return;
      log.warn(`${commandLine(pid)} (pid ${pid}) did not exit within ${formatDuration(options.stopTimeoutMs!)} of ${signalName(signal)}; sending SIGKILL`);
      try {
        // Through a pidfd checked against its start time: never a reused pid.
        if (options.processGroup) process.kill(-pid, SIGKILL);
        else addon.signalProcess(pid, startTicks, SIGKILL);
      } catch (error) {
        log.warn(`could not SIGKILL pid ${pid}: ${isSystemError(error) ? error.code : String(error)}`);
      }
    };

    let finishing = false;
    const onMainExit = async (status: ExitStatus) => {
      finishing = true;
      clearTimeout(stopTimer);
      let death: DeathExplanation | null = null;
      let report: DrainReport | null = null;
      try {
        death = explainDeath(pid, mainName, status, memory);
        const fields = {
          event: 'exit', pid, comm: mainName, exitCode: status.exitCode,
          signal: status.signal === null ? null : signalName(status.signal),
          oomKilled: death?.oomKilled ?? false, memoryLimitBytes: death?.memoryLimitBytes ?? null,
        };
        if (death) log.notice(death.message, fields);
        else log.info(`${mainName} (pid ${pid}) ${describeStatus(status)}`, fields);

        if (options.drain) {
          const { drain } = await import('./drain.js');
          report = await drain({
            signal: options.drainSignal,
            graceMs: options.graceMs,
            log,
            reapAll: () => reapAll(),
            onChildEvent: (listener) => {
              childListeners.add(listener);
              return () => childListeners.delete(listener);
            },
          });
        } else {
          reapAll();
        }
      } catch (error) {
        // Whatever failed, the app's status is known: report it and exit.
        onInternalError(error);
      }
      addon.unwatchNotify();
      process.off('uncaughtException', onInternalError);
      process.off('unhandledRejection', onInternalError);
      resolve({ exitCode: exitCodeOf(status, options.expectExit), status, death, drain: report, orphansReaped });
    };

    const onData = (error: Error | null, chunk: Buffer) => {
      try {
        if (error) log.error(`notify pipe failed: ${error.message}; reaping may stall`);
        const data = leftover.length ? Buffer.concat([leftover, chunk]) : chunk;
        let childEvent = false;
        let offset = 0;
        for (; offset + SIGNAL_EVENT_SIZE <= data.length; offset += SIGNAL_EVENT_SIZE) {
          const kind = data[offset]!;
          if (kind === EVENT_CHILD) childEvent = true;
          else onSignalEvent(kind, data[offset + 1]!, data[offset + 2]!, data.readInt32LE(offset + 4), data.readInt32LE(offset + 8));
        }
        leftover = data.subarray(offset);
        if (childEvent) {
          reapAll();
          for (const listener of childListeners) listener();
        }
      } catch (error) {
        // Logged; the next SIGCHLD reaps again (zombies wait, they are not lost).
        onInternalError(error);
      }
      if (mainStatus && !finishing) void onMainExit(mainStatus);
    };

    // The notify pipe is the only thing that keeps the loop alive (and wakes
    // it): no timer runs while the app does.
    addon.watchNotify(notifyFd, onData);

    // The child may have exited before the pipe was watched.
    onData(null, Buffer.from([EVENT_CHILD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
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
    log.warn(`PID 1 is "${init.slice(0, 60)}", not reaper: signals sent to the container (docker stop) reach it, ` +
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
