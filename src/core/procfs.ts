// /proc, and only here: the process table, one process's stat, children,
// cgroup, mounts, and whether this /proc is ours at all. Processes come and go
// while we look, and some are not ours to read: a vanished or forbidden entry
// is skipped, never an error.
import { existsSync, readdirSync, readFileSync, readlinkSync, statfsSync } from 'node:fs';
import { normalize } from 'node:path';
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

/** The executable a process runs (its exe link); null when unreadable or gone. */
export function executableOf(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return null;
  }
}

/**
 * A file as a process names it (absolute: under its root; relative: under its
 * cwd), read through /proc so that a container's path works from the host;
 * null when unreadable. The kernel walks the path inside the process's root:
 * a realpath() here would follow /proc/<pid>/root to our own root instead.
 */
export function readFileOfProcess(pid: number, file: string): string | null {
  const path = normalize(file);
  return readText(path.startsWith('/') ? `/proc/${pid}/root${path}` : `/proc/${pid}/cwd/${path}`);
}

/** The command line, or the bracketed name when it has none (kernel threads, zombies). */
export function commandLine(pid: number, fallback = ''): string {
  return processArgs(pid)?.join(' ') || `[${fallback}]`;
}

/**
 * Whether the process ignores signal (SigIgn in /proc/<pid>/status): one that
 * does and then vanishes did not exit on it. False when it cannot be read.
 */
export function ignoresSignal(pid: number, signal: number): boolean {
  return maskHas(statusField(pid, 'SigIgn'), signal - 1);
}

/** CAP_KILL's bit in the capability sets of /proc/<pid>/status. */
const CAP_KILL = 5;

/**
 * Whether reaper may signal every process of its namespace (CAP_KILL in its
 * effective set: root's by default, unless dropped). Without it, processes of
 * other users refuse its signals. False when it cannot be read.
 */
export function maySignalEveryone(): boolean {
  return maskHas(statusField('self', 'CapEff'), CAP_KILL);
}

/** One field of /proc/<pid>/status (SigIgn, CapEff, NSpid...), trimmed; null when unreadable or absent. */
function statusField(pid: number | 'self', name: string): string | null {
  return readText(`/proc/${pid}/status`)?.match(new RegExp(`^${name}:(.*)$`, 'm'))?.[1]?.trim() ?? null;
}

/** Whether bit is set in a hexadecimal mask as /proc/<pid>/status prints it (false for null). */
function maskHas(hex: string | null, bit: number): boolean {
  return hex !== null && /^[0-9a-f]+$/.test(hex) && ((BigInt(`0x${hex}`) >> BigInt(bit)) & 1n) === 1n;
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

/** What /proc/self names ("nothing (no /proc)" without one). */
export function procSelf(): string {
  try {
    return readlinkSync('/proc/self');
  } catch {
    return 'nothing (no /proc)';
  }
}

/**
 * Whether /proc is ours: /proc/self names our pid only in a proc of our pid
 * namespace; under the host's (unshare --pid without --mount-proc) every pid
 * in it is a stranger's.
 */
export function procIsOurs(): boolean {
  return procSelf() === String(process.pid) && isProcfs('/proc/self');
}

/** A directory entry present in our own /proc (no /proc/self: not a procfs that shows us). */
export function procHasSelf(): boolean {
  return existsSync('/proc/self/stat');
}

const PROC_SUPER_MAGIC = 0x9fa0;

function isProcfs(path: string): boolean {
  try {
    return statfsSync(path).type === PROC_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** Whether the kernel keeps children files (CONFIG_PROC_CHILDREN, and a /proc that does not mask them). */
export function hasChildrenFiles(): boolean {
  return isProcfs(`/proc/${process.pid}/task/${process.pid}/children`);
}

/**
 * One thread's children (/proc/<pid>/task/<tid>/children); [] when the
 * thread is gone. Read by the addon: library mode reads it on every reap
 * pass, and Node's readFileSync costs ~25 µs more a call than the addon's
 * open/read (an idle pass would take ~4 times as long).
 */
export function childrenOf(pid: number, tid = pid): number[] {
  return native().readChildren(pid, tid);
}

/**
 * A process's children: every thread's (a child belongs to the thread that
 * forked or adopted it). Throws when its task list cannot be read (no /proc).
 */
export function allChildrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => childrenOf(pid, Number(tid)));
}

/** A process's thread ids; [] when it is gone. */
export function threadsOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

/** /proc/<pid>/cgroup's text, null when unreadable. */
export function readCgroup(pid: number | 'self'): string | null {
  return readText(`/proc/${pid}/cgroup`);
}

export interface Mount {
  root: string;
  point: string;
  type: string;
  /** The superblock's options (hidepid=, a v1 cgroup's controllers). */
  options: string[];
}

/** Parses /proc/<pid>/mountinfo text (exported for tests). */
export function parseMountinfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.trim().split('\n')) {
    // Spaces in paths are escaped (\040): " - " only separates the fields, and the type follows it.
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [type, , superOptions] = right.split(' ');
    out.push({ root: fields[3]!, point: fields[4]!, type: type!, options: (superOptions ?? '').split(',') });
  }
  return out;
}

/** Our mounts whose type starts with typePrefix: only their lines are parsed. [] when unreadable. */
export function readMounts(typePrefix: string): Mount[] {
  const text = readText('/proc/self/mountinfo') ?? '';
  return parseMountinfo(text.split('\n').filter((line) => line.includes(` - ${typePrefix}`)).join('\n'));
}

/** The process's pid in its innermost pid namespace (NSpid's last field). */
export function namespacePid(pid: number): number | null {
  const pids = statusField(pid, 'NSpid')?.split(/\s+/);
  return pids ? Number(pids[pids.length - 1]) : null;
}

/** Our own command line as the kernel holds it, raw bytes; null without /proc. */
export function ownCommandLine(): Buffer[] | null {
  return nulSeparated('/proc/self/cmdline');
}

/** Our own environment block as the kernel gave it, raw bytes; null without /proc. */
export function ownEnvironment(): Buffer[] | null {
  return nulSeparated('/proc/self/environ');
}

function nulSeparated(path: string): Buffer[] | null {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch {
    return null;
  }
  const out: Buffer[] = [];
  for (let start = 0; start < data.length;) {
    let end = data.indexOf(0, start);
    if (end < 0) end = data.length;
    out.push(data.subarray(start, end));
    start = end + 1;
  }
  return out;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
