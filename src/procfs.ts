// Reading the process table. Processes come and go while we look: a vanished
// entry is skipped, never an error.
import { readdirSync, readFileSync } from 'node:fs';
import { native, type NativeProcStat } from './native.js';

export interface ProcessEntry extends NativeProcStat {
  pid: number;
}

export function listProcesses(): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = native().procStat(pid);
    if (stat) entries.push({ pid, ...stat });
  }
  return entries;
}

/** Every process below root in the tree (not root itself), parents first. */
export function listDescendants(root: number, processes = listProcesses()): ProcessEntry[] {
  const children = new Map<number, ProcessEntry[]>();
  for (const entry of processes) {
    const siblings = children.get(entry.ppid);
    if (siblings) siblings.push(entry);
    else children.set(entry.ppid, [entry]);
  }
  const out: ProcessEntry[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      if (child.pid === root) continue;
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** The command line, or the bracketed name when it has none (kernel threads, zombies). */
export function commandLine(pid: number, fallback = ''): string {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    const line = raw.replace(/\0+$/, '').split('\0').join(' ');
    return line || `[${fallback}]`;
  } catch {
    return `[${fallback}]`;
  }
}

/** Milliseconds since the process started, from its start time in clock ticks. */
export function ageMs(startTicks: number): number | null {
  try {
    const uptime = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
    return Math.max(0, Math.round(uptime * 1000 - (startTicks * 1000) / native().CLK_TCK));
  } catch {
    return null;
  }
}
