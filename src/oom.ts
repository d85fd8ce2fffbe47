// Was it the OOM killer? We read the memory cgroup's own oom_kill counter
// when the child starts and again when it dies: only a rise, together with a
// SIGKILL, is reported as an OOM kill. Nothing is guessed from exit codes.
import { readFileSync } from 'node:fs';
import type { ExitStatus } from './exit-status.js';
import { describeStatus } from './exit-status.js';
import { formatBytes } from './format.js';

export interface MemoryCgroup {
  /** Directory of the cgroup in the mounted hierarchy. */
  path: string;
  version: 1 | 2;
}

export interface MemoryReading {
  oomKills: number | null;
  limitBytes: number | null;
}

export interface MemoryWatch {
  cgroup: MemoryCgroup | null;
  before: MemoryReading;
}

interface Mount {
  root: string;
  point: string;
  type: string;
  options: string[];
}

function mounts(): Mount[] {
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((line) => {
      const [left, right] = line.split(' - ') as [string, string];
      const fields = left.split(' ');
      const [type, , superOptions] = right.split(' ');
      return { root: fields[3]!, point: fields[4]!, type: type!, options: (superOptions ?? '').split(',') };
    });
  } catch {
    return [];
  }
}

/** The memory cgroup a process is in (v2 unified, or v1 memory controller). */
export function findMemoryCgroup(pid: number | 'self' = 'self'): MemoryCgroup | null {
  let lines: string[];
  try {
    lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  } catch {
    return null;
  }
  const all = mounts();
  const join = (mount: Mount, path: string) => {
    const relative = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
    return `${mount.point}${relative === '/' ? '' : relative}`;
  };
  for (const line of lines) {
    const [, controllers, path] = line.split(':', 3) as [string, string, string];
    if (controllers.split(',').includes('memory')) {
      const mount = all.find((m) => m.type === 'cgroup' && m.options.includes('memory'));
      if (mount) return { path: join(mount, path), version: 1 };
    }
  }
  for (const line of lines) {
    if (!line.startsWith('0::')) continue;
    const mount = all.find((m) => m.type === 'cgroup2');
    if (!mount) continue;
    const dir = join(mount, line.slice(3));
    try {
      readFileSync(`${dir}/memory.events`);
      return { path: dir, version: 2 };
    } catch {
      // Hybrid hosts mount a cgroup2 tree without the memory controller.
    }
  }
  return null;
}

function readNumber(file: string): number | null {
  try {
    const text = readFileSync(file, 'utf8').trim();
    if (text === 'max') return null;
    const value = Number(text);
    // v1 reports "unlimited" as a page-aligned LONG_MAX.
    return Number.isFinite(value) && value < 2 ** 62 ? value : null;
  } catch {
    return null;
  }
}

function readKeyed(file: string, key: string): number | null {
  try {
    const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export function readMemory(cgroup: MemoryCgroup | null): MemoryReading {
  if (!cgroup) return { oomKills: null, limitBytes: null };
  return cgroup.version === 2
    ? { oomKills: readKeyed(`${cgroup.path}/memory.events`, 'oom_kill'), limitBytes: readNumber(`${cgroup.path}/memory.max`) }
    : { oomKills: readKeyed(`${cgroup.path}/memory.oom_control`, 'oom_kill'), limitBytes: readNumber(`${cgroup.path}/memory.limit_in_bytes`) };
}

/** Call before the child starts; explainDeath compares against it. */
export function memoryWatch(): MemoryWatch {
  const cgroup = findMemoryCgroup();
  return { cgroup, before: readMemory(cgroup) };
}

export interface DeathExplanation {
  message: string;
  oomKilled: boolean;
  memoryLimitBytes: number | null;
}

/** One sentence on why the child died by a signal; null when it exited. */
export function explainDeath(pid: number, name: string, status: ExitStatus, watch: MemoryWatch): DeathExplanation | null {
  if (status.signal === null) return null;
  const after = readMemory(watch.cgroup);
  const rose = watch.before.oomKills !== null && after.oomKills !== null && after.oomKills > watch.before.oomKills;
  if (status.signal === 9 && rose) {
    const limit = after.limitBytes !== null ? `the memory limit of ${formatBytes(after.limitBytes)}` : 'its memory limit';
    return {
      message: `${name} (pid ${pid}) was killed by the kernel's OOM killer: its cgroup ${watch.cgroup!.path} reached ${limit}; raise the limit or reduce the app's memory use.`,
      oomKilled: true,
      memoryLimitBytes: after.limitBytes,
    };
  }
  return { message: `${name} (pid ${pid}) ${describeStatus(status)}`, oomKilled: false, memoryLimitBytes: after.limitBytes };
}
