// Draining: once the main child has exited, every remaining descendant gets
// the drain signal, a grace period to finish, then SIGKILL; reaper exits only
// when nothing is left. Descendants are found in /proc wherever they went (own
// process group, own session, re-parented to us), and every signal goes
// through a pidfd check, so a pid that was reaped and reused is never hit.
import { readlinkSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { formatDuration } from './format.js';
import type { Logger } from './log.js';
import { native } from './native.js';
import { listDescendants, listProcesses, type ProcessEntry } from './procfs.js';
import { signalName } from './signals.js';

export interface DrainedProcess {
  pid: number;
  comm: string;
  /** Milliseconds from the drain signal to its exit; null if it was killed. */
  exitedAfterMs: number | null;
  killed: boolean;
}

export interface DrainReport {
  signal: string;
  graceMs: number;
  processes: DrainedProcess[];
  /** How many exited on the drain signal within the grace period. */
  exitedOnSignal: number;
  killed: DrainedProcess[];
  /** From the start of the drain until nothing was left. */
  durationMs: number;
  /** Processes that outlived even SIGKILL (uninterruptible sleep). */
  survivors: number;
}

export interface DrainContext {
  signal: number;
  graceMs: number;
  log: Logger;
  /** Reaps every waiting child of ours. */
  reapAll(): void;
  /** Subscribes to SIGCHLD wake-ups; returns the unsubscribe function. */
  onChildEvent(listener: () => void): () => void;
}

const SIGKILL = 9;
/** Descendants that are not our children exit without telling us: look again this often. */
const RESCAN_MS = 20;
/** After SIGKILL, how long to wait for processes stuck in the kernel. */
const KILL_WAIT_MS = 2000;

/**
 * The processes to drain. As the init of a pid namespace with its own /proc,
 * that is every process in it (including ones entered with docker exec);
 * otherwise the tree below reaper.
 */
function remaining(): ProcessEntry[] {
  const self = process.pid;
  const ownNamespace = self === 1 && readlinkSync('/proc/self') === '1';
  const processes = listProcesses();
  return ownNamespace ? processes.filter((p) => p.pid !== self) : listDescendants(self, processes);
}

export function drain(context: DrainContext): Promise<DrainReport> {
  const { log } = context;
  const addon = native();
  const start = performance.now();
  const tracked = new Map<string, DrainedProcess & { startTicks: number; signalledAt: number }>();
  let killing = false;

  const send = (entry: ProcessEntry, signal: number) => {
    try {
      addon.signalProcess(entry.pid, entry.startTicks, signal);
    } catch (error) {
      log.warn(`could not send ${signalName(signal)} to pid ${entry.pid} (${entry.comm}): ${(error as Error).message}`);
    }
  };

  /** Signals newcomers, notes who is gone; true when nothing is left. */
  const sweep = (): boolean => {
    context.reapAll();
    const now = performance.now();
    const present = new Set<string>();
    for (const entry of remaining()) {
      const key = `${entry.pid}:${entry.startTicks}`;
      present.add(key);
      if (entry.state === 'Z') continue; // its parent (or we) will reap it
      if (!tracked.has(key)) {
        tracked.set(key, { pid: entry.pid, comm: entry.comm, startTicks: entry.startTicks, signalledAt: now, exitedAfterMs: null, killed: killing });
        send(entry, killing ? SIGKILL : context.signal);
      }
    }
    for (const [key, process] of tracked) {
      if (!present.has(key) && process.exitedAfterMs === null && !process.killed) {
        process.exitedAfterMs = now - process.signalledAt;
      }
    }
    return present.size === 0;
  };

  const killAll = () => {
    killing = true;
    for (const entry of remaining()) {
      if (entry.state === 'Z') continue;
      const key = `${entry.pid}:${entry.startTicks}`;
      const process = tracked.get(key);
      if (process) process.killed = true;
      else tracked.set(key, { pid: entry.pid, comm: entry.comm, startTicks: entry.startTicks, signalledAt: performance.now(), exitedAfterMs: null, killed: true });
      send(entry, SIGKILL);
    }
  };

  return new Promise<DrainReport>((resolve) => {
    let graceTimer: NodeJS.Timeout | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let rescan: NodeJS.Timeout | undefined;
    let unsubscribe = () => {};

    const finish = (survivors: number) => {
      clearTimeout(graceTimer);
      clearTimeout(killTimer);
      clearInterval(rescan);
      unsubscribe();
      const processes = [...tracked.values()].map(({ pid, comm, exitedAfterMs, killed }) => ({ pid, comm, exitedAfterMs, killed }));
      const report: DrainReport = {
        signal: signalName(context.signal),
        graceMs: context.graceMs,
        processes,
        exitedOnSignal: processes.filter((p) => !p.killed).length,
        killed: processes.filter((p) => p.killed),
        durationMs: performance.now() - start,
        survivors,
      };
      if (processes.length > 0) log.notice(summarize(report), { event: 'drain', ...report });
      resolve(report);
    };

    const tick = () => {
      try {
        if (sweep()) finish(0);
      } catch (error) {
        log.error(`drain sweep failed, retrying: ${(error as Error).message}`);
      }
    };

    if (sweep()) {
      finish(0);
      return;
    }
    unsubscribe = context.onChildEvent(tick);
    rescan = setInterval(tick, RESCAN_MS);
    graceTimer = setTimeout(() => {
      killAll();
      tick();
      killTimer = setTimeout(() => {
        const stuck = remaining().filter((p) => p.state !== 'Z');
        log.error(`${stuck.length} processes survived SIGKILL for ${formatDuration(KILL_WAIT_MS)} (uninterruptible sleep?): ${stuck.map((p) => `${p.pid} (${p.comm})`).join(', ')}; exiting anyway`);
        finish(stuck.length);
      }, KILL_WAIT_MS);
    }, context.graceMs);
  });
}

export function summarize(report: DrainReport): string {
  const total = report.processes.length;
  const exited = report.processes.filter((p) => p.exitedAfterMs !== null && !p.killed);
  const slowest = Math.max(0, ...exited.map((p) => p.exitedAfterMs!));
  const parts = [`drained ${total} process${total === 1 ? '' : 'es'} in ${formatDuration(report.durationMs)}`];
  if (exited.length > 0) parts.push(`${exited.length} exited on ${report.signal} (slowest after ${formatDuration(slowest)})`);
  if (report.killed.length > 0) {
    const names = report.killed.slice(0, 10).map((p) => `${p.pid} (${p.comm})`).join(', ');
    parts.push(`${report.killed.length} killed after the ${formatDuration(report.graceMs)} grace period: ${names}${report.killed.length > 10 ? ', ...' : ''}`);
  }
  return parts.join('; ');
}
