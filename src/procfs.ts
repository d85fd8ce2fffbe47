// Reading the process table. Processes come and go while we look, and some
// are not ours to read: a vanished or forbidden entry is skipped, never an error.
import { readdirSync, readFileSync } from 'node:fs';
import { isSystemError } from './errors.js';
import { native, type NativeProcStat } from './native.js';

export interface ProcessEntry extends NativeProcStat {
  pid: number;
}

export interface ProcessTable {
  processes: ProcessEntry[];
  /** Entries that exist but may not be read (hidepid, another user's setuid program) or are malformed. */
  unreadable: number;
}

/** Errors that say this entry is not ours to read; any other (EMFILE, ENOMEM) is about us and is thrown. */
const UNREADABLE = new Set(['EACCES', 'EPERM', 'EINVAL']);

/**
 * Every process we may read; one we may not is skipped and counted. A
 * transient failure is thrown rather than skipped: a scan that missed
 * processes must not read as "none left".
 */
export function readProcessTable(): ProcessTable {
  const processes: ProcessEntry[] = [];
  let unreadable = 0;
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const stat = readStat(pid);
    if (stat === 'unreadable') unreadable++;
    else if (stat) processes.push({ pid, ...stat });
  }
  return { processes, unreadable };
}

/**
 * One process's stat: null when it is gone, 'unreadable' when it is not ours
 * to read. A transient failure (EMFILE) is thrown, as for the whole table.
 */
export function readStat(pid: number): NativeProcStat | null | 'unreadable' {
  try {
    return native().procStat(pid);
  } catch (error) {
    if (!isSystemError(error) || !UNREADABLE.has(error.code)) throw error;
    return 'unreadable';
  }
}

export function listProcesses(): ProcessEntry[] {
  return readProcessTable().processes;
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

/** The arguments (argv, as UTF-8 like any /proc text); null when unreadable or gone. */
export function processArgs(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.replace(/\0+$/, '').split('\0') : [];
  } catch {
    return null;
  }
}

/** The command line, or the bracketed name when it has none (kernel threads, zombies). */
export function commandLine(pid: number, fallback = ''): string {
  return processArgs(pid)?.join(' ') || `[${fallback}]`;
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
