// --orphans terminate: a process re-parented to reaper while the app runs
// (its parent died: a supervisor's crashed worker's children, a double-forked
// helper) gets the drain signal and SIGKILL after the grace period. Not at
// once: an orphan is signalled when a second scan still finds it, so that
// every orphan has had at least SCAN_MS to exec and set up its handlers (a
// process still starting has no handler yet: a SIGTERM would be a kill, not
// a request, and whether it got one would depend on where the scan fell).
// Never the app, and never a process still attached below it: only reaper's
// own children other than the app qualify, and reaper starts no other child.
//
// Linux tells no one when it re-parents a process: the dying parent's
// SIGCHLD goes to its own parent, somewhere below the app, and a subreaper
// gets nothing. So we look, every SCAN_MS, at reaper's children
// (/proc/<reaper>/task/<tid>/children): one small read per reaper thread a
// second, and only with --orphans terminate (the default, reap, wakes no one).
// Watching the app's descendants through pidfds instead would wake us exactly
// when a parent dies, but new descendants can only be found by scanning too
// (a fork is announced only through the proc connector, which needs
// CAP_NET_ADMIN in the initial network namespace), so it would cost more
// scans, not fewer. The price of the interval, and of the second look: an
// adopted orphan runs between SCAN_MS and twice that before its signal.
import { formatDuration, printable } from '../../core/format.js';
import type { Logger } from '../log.js';
import { PinnedSignaller, processKey, type PinnedProcess } from './pinned-signal.js';
import { allChildrenOf, commandLine, readStat } from '../../core/procfs.js';
import { SIGKILL, signalName } from '../../core/signals.js';

/** How often reaper's children are listed while the app runs. */
export const SCAN_MS = 1000;

/**
 * Which orphans are due their signal: those the scan before found too, each
 * once. It remembers only what the last scan found (a process that is gone
 * never comes back: a reused pid has another start time), so a long-running
 * app's stream of orphans leaves nothing behind.
 */
export class OrphanSightings {
  /** Found by the last scan, not signalled yet. */
  #pending = new Set<string>();
  /** Signalled, and still found by the last scan. */
  #signalled = new Set<string>();

  /** This scan's orphans in, those due now out (marked signalled). */
  due<T extends PinnedProcess>(found: T[]): T[] {
    const pending = new Set<string>();
    const signalled = new Set<string>();
    const due: T[] = [];
    for (const orphan of found) {
      const key = processKey(orphan);
      if (this.#signalled.has(key) || this.#pending.has(key)) {
        signalled.add(key);
        if (!this.#signalled.has(key)) due.push(orphan);
      } else {
        pending.add(key); // first sighting: it may still be starting
      }
    }
    this.#pending = pending;
    this.#signalled = signalled;
    return due;
  }

  /** How many processes it remembers. */
  get size(): number {
    return this.#pending.size + this.#signalled.size;
  }
}

/** Starts watching; stop() when the app has exited (the drain takes the rest). */
export function terminateOrphans(appPid: number, signal: number, graceMs: number, log: Logger): { stop(): void } {
  const sightings = new OrphanSightings();
  const kills = new Set<NodeJS.Timeout>();
  const signaller = new PinnedSignaller<PinnedProcess>({ log, describe: (orphan) => `orphan pid ${orphan.pid}` });

  // Runs on timers in PID 1: a failure is logged and the next scan tries again.
  const scan = () => {
    try {
      scanOnce();
    } catch (error) {
      log.warn(`--orphans terminate could not scan reaper's children: ${(error as Error).message}`);
    }
  };
  const scanOnce = () => {
    const found: Array<PinnedProcess & { comm: string }> = [];
    for (const pid of allChildrenOf(process.pid)) {
      if (pid === appPid) continue;
      // Read after the listing: still ours, not a zombie (the handler reaps it), and pinned by its start time.
      const stat = readStat(pid);
      if (!stat || stat === 'unreadable' || stat.ppid !== process.pid || stat.state === 'Z') continue;
      found.push({ pid, startTicks: stat.startTicks, comm: stat.comm });
    }
    for (const orphan of sightings.due(found)) {
      const { pid } = orphan;
      // Read now, not at the first sighting: by now it has exec'd, and this is its own command line.
      const command = commandLine(pid, orphan.comm);
      if (!signaller.sendAndContinue(orphan, signal)) continue;
      log.warn(`orphan pid ${pid} (${printable(command)}) was re-parented to reaper while the app runs: sent ${signalName(signal)}, SIGKILL in ${formatDuration(graceMs)} (--orphans terminate)`,
        { event: 'orphan-terminate', pid, command, signal: signalName(signal) });
      const timer = setTimeout(() => {
        kills.delete(timer);
        // A zombie is not "outliving" anything: the handler reaps it. A reused
        // pid is never hit: the signal is pinned by the start time.
        const now = readStat(pid);
        if (now && now !== 'unreadable' && now.state !== 'Z' && signaller.send(orphan, SIGKILL)) {
          log.warn(`orphan pid ${pid} (${printable(command)}) outlived the grace period of ${formatDuration(graceMs)}: sent SIGKILL`, { event: 'orphan-kill', pid, command });
        }
      }, graceMs);
      kills.add(timer);
    }
  };

  const interval = setInterval(scan, SCAN_MS);
  scan();
  return {
    stop() {
      clearInterval(interval);
      for (const timer of kills) clearTimeout(timer);
    },
  };
}
