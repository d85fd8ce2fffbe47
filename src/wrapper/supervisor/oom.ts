// Was it the OOM killer? We read the memory cgroup's own oom_kill counter
// (v1 memory.oom_control, v2 memory.events) when the child starts and again
// when it dies: only a rise, together with a SIGKILL, is reported as an OOM
// kill. A rise with any other ending is reported as the OOM killer having hit
// another process in the cgroup. Nothing is guessed from exit codes.
import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExitStatus } from '../../core/exit-status.js';
import { describeStatus } from '../../core/exit-status.js';
import { formatBytes, printable } from '../../core/format.js';
import { readCgroup, readMounts, type Mount } from '../../core/procfs.js';
import { SIGKILL } from '../../core/signals.js';

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

/** The cgroup mounts: only their lines are parsed (this runs before every app starts). */
const cgroupMounts = () => readMounts('cgroup');

/**
 * Chooses the memory cgroup from /proc/<pid>/cgroup text and the mounts, at
 * runtime: the v1 memory controller when it is mounted (hybrid hosts keep a
 * controller-less cgroup2 tree beside it), else the v2 unified hierarchy when
 * its directory has memory.events (the memory controller is enabled there).
 */
export function resolveMemoryCgroup(cgroupText: string, all: Mount[], exists: (path: string) => boolean = existsSync): MemoryCgroup | null {
  const lines = cgroupText.trim().split('\n');
  const join = (mount: Mount, path: string) => {
    const relative = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
    return `${mount.point}${relative === '/' ? '' : relative}`;
  };
  for (const line of lines) {
    const [, controllers, path] = line.split(':', 3) as [string, string, string];
    if (controllers !== undefined && controllers.split(',').includes('memory')) {
      const mount = all.find((m) => m.type === 'cgroup' && m.options.includes('memory'));
      if (mount) return { path: join(mount, path), version: 1 };
    }
  }
  for (const line of lines) {
    if (!line.startsWith('0::')) continue;
    for (const mount of all.filter((m) => m.type === 'cgroup2')) {
      const dir = join(mount, line.slice(3));
      // Hybrid hosts mount a cgroup2 tree without the memory controller.
      if (exists(`${dir}/memory.events`)) return { path: dir, version: 2 };
    }
  }
  return null;
}

/** The memory cgroup a process is in (v2 unified, or v1 memory controller). */
export function findMemoryCgroup(pid: number | 'self' = 'self'): MemoryCgroup | null {
  const text = readCgroup(pid);
  return text === null ? null : resolveMemoryCgroup(text, cgroupMounts());
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

function readKeyed(file: string, key: string, limit = false): number | null {
  try {
    const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    if (!match) return null;
    const value = Number(match[1]);
    return limit && value >= 2 ** 62 ? null : value;
  } catch {
    return null;
  }
}

/**
 * The limit that applies to the cgroup: its own, or when it has none, the
 * tightest of its ancestors' (a container's limit is often set one level up).
 */
function effectiveLimit(cgroup: MemoryCgroup): number | null {
  if (cgroup.version === 1) {
    return readNumber(`${cgroup.path}/memory.limit_in_bytes`) ??
      readKeyed(`${cgroup.path}/memory.stat`, 'hierarchical_memory_limit', true);
  }
  let limit: number | null = null;
  // The root cgroup has no memory.max: the walk stops there.
  for (let dir = cgroup.path, hops = 0; hops < 64; dir = dirname(dir), hops++) {
    if (!existsSync(`${dir}/memory.max`)) break;
    const value = readNumber(`${dir}/memory.max`);
    if (value !== null && (limit === null || value < limit)) limit = value;
    if (dir === '/' || dirname(dir) === dir) break;
  }
  return limit;
}

function readOomKills(cgroup: MemoryCgroup | null): number | null {
  if (!cgroup) return null;
  return readKeyed(cgroup.version === 2 ? `${cgroup.path}/memory.events` : `${cgroup.path}/memory.oom_control`, 'oom_kill');
}

export function readMemory(cgroup: MemoryCgroup | null): MemoryReading {
  return { oomKills: readOomKills(cgroup), limitBytes: cgroup ? effectiveLimit(cgroup) : null };
}

/**
 * Call before the child starts; explainDeath compares against it. Only the
 * counter is read here: the limit is read when there is a death to explain.
 */
export function memoryWatch(): MemoryWatch {
  const cgroup = findMemoryCgroup();
  return { cgroup, before: { oomKills: readOomKills(cgroup), limitBytes: null } };
}

export interface DeathExplanation {
  message: string;
  oomKilled: boolean;
  memoryLimitBytes: number | null;
}

/**
 * One sentence on why the child died: by a signal, by the OOM killer (a
 * SIGKILL while the cgroup's oom_kill counter rose), or, when it exited with a
 * code, whether the OOM killer killed something else in its cgroup meanwhile.
 * Null when it exited normally and the OOM killer did nothing.
 */
export function explainDeath(pid: number, name: string, status: ExitStatus, watch: MemoryWatch): DeathExplanation | null {
  const oomKills = readOomKills(watch.cgroup);
  const kills = watch.before.oomKills !== null && oomKills !== null ? oomKills - watch.before.oomKills : 0;
  if (status.signal === null && kills <= 0) return null;
  const after = { oomKills, limitBytes: watch.cgroup ? effectiveLimit(watch.cgroup) : null };
  const limit = after.limitBytes !== null ? `the memory limit of ${formatBytes(after.limitBytes)}` : 'its memory limit';
  if (status.signal === SIGKILL && kills > 0) {
    return {
      message: `${name} (pid ${pid}) was killed by the kernel's OOM killer: its cgroup ${printable(watch.cgroup!.path)} reached ${limit}; raise the limit or reduce the app's memory use.`,
      oomKilled: true,
      memoryLimitBytes: after.limitBytes,
    };
  }
  const others = kills > 0
    ? `; meanwhile the kernel's OOM killer killed ${kills === 1 ? 'a process' : `${kills} processes`} in its cgroup ${printable(watch.cgroup!.path)}, which reached ${limit}`
    : '';
  return { message: `${name} (pid ${pid}) ${describeStatus(status)}${others}`, oomKilled: false, memoryLimitBytes: after.limitBytes };
}
