// --orphans terminate: a process re-parented to reaper while the app runs
// (its parent died: a supervisor's crashed worker's children, a double-forked
// helper) gets the drain signal at once and SIGKILL after the grace period.
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
// scans, not fewer. The price of the interval: an adopted orphan runs up to
// SCAN_MS before its signal.
import { readdirSync } from 'node:fs';
import { formatDuration, printable } from './format.js';
import type { Logger } from './log.js';
import { native } from './native.js';
import { commandLine, readStat } from './procfs.js';
import { signalName } from './signals.js';

/** How often reaper's children are listed while the app runs. */
const SCAN_MS = 1000;
const SIGKILL = 9;
const SIGCONT = 18;

/** reaper's children now (every thread's: a child belongs to the thread that forked or adopted it). */
function ownChildren(): number[] {
  const self = process.pid;
  return readdirSync(`/proc/${self}/task`).flatMap((tid) => native().readChildren(self, Number(tid)));
}

/** Starts watching; stop() when the app has exited (the drain takes the rest). */
export function terminateOrphans(appPid: number, signal: number, graceMs: number, log: Logger): { stop(): void } {
  const addon = native();
  const seen = new Set<string>();
  const kills = new Set<NodeJS.Timeout>();

  const send = (pid: number, startTicks: number, what: number): boolean => {
    try {
      return addon.signalProcess(pid, startTicks, what); // false: it is gone (a reused pid is never hit)
    } catch (error) {
      log.warn(`could not send ${signalName(what)} to orphan pid ${pid}: ${(error as Error).message}`);
      return false;
    }
  };

  // Runs on timers in PID 1: a failure is logged and the next scan tries again.
  const scan = () => {
    try {
      scanOnce();
    } catch (error) {
      log.warn(`--orphans terminate could not scan reaper's children: ${(error as Error).message}`);
    }
  };
  const scanOnce = () => {
    for (const pid of ownChildren()) {
      if (pid === appPid) continue;
      // Read after the listing: still ours, not a zombie (the handler reaps it), and pinned by its start time.
      const stat = readStat(pid);
      if (!stat || stat === 'unreadable' || stat.ppid !== process.pid || stat.state === 'Z') continue;
      const key = `${pid}:${stat.startTicks}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const command = commandLine(pid, stat.comm);
      if (!send(pid, stat.startTicks, signal)) continue;
      send(pid, stat.startTicks, SIGCONT); // a stopped process acts on the signal only when continued
      log.warn(`orphan pid ${pid} (${printable(command)}) was re-parented to reaper while the app runs: sent ${signalName(signal)}, SIGKILL in ${formatDuration(graceMs)} (--orphans terminate)`,
        { event: 'orphan-terminate', pid, command, signal: signalName(signal) });
      const timer = setTimeout(() => {
        kills.delete(timer);
        // Pinned by its start time: the SIGKILL never reaches a reused pid (an unreadable entry is not ours).
        const now = readStat(pid);
        if (now && now !== 'unreadable' && now.startTicks === stat.startTicks && now.state !== 'Z' && send(pid, stat.startTicks, SIGKILL)) {
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
