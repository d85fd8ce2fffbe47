// The zombie census: every zombie visible in /proc, grouped by parent, with
// what the parent is (reaper, another init, a PID 1 that is no init, or a
// live process that never waits) and what to do about it. Processes come and
// go while we look: anything that vanishes mid-scan is skipped, never thrown.
import { dirname, join } from 'node:path';
import { ReaperError } from '../core/errors.js';
import { native } from '../core/native.js';
import {
  ageMs, commandLine, executableOf, listProcesses, namespacePid, processArgs, procHasSelf, readCgroup, readFileOfProcess, readMounts, readStat,
  threadsOf, type ProcessEntry,
} from '../core/procfs.js';

/** Bumped only when a field is removed or changes meaning; new fields may appear. */
export const CENSUS_SCHEMA_VERSION = 1;

/**
 * What a parent is, which decides what can clear its zombies:
 * - reaper: reaper itself; it reaps adopted orphans as they exit (transient).
 * - init: another init (tini, dumb-init, catatonit, systemd...) that reaps (transient).
 * - pid1-not-init: PID 1 of its pid namespace but no init (node, python...):
 *   it never waits for adopted orphans; run it under reaper.
 * - process: a live process that has not waited for its own children: only
 *   it can clear them (fix it, or restart it).
 * - outside: the parent is in an ancestor pid namespace we cannot see (ppid 0).
 * - gone: the parent exited during the scan; the zombies now belong to an init.
 */
export type ParentKind = 'reaper' | 'init' | 'pid1-not-init' | 'process' | 'outside' | 'gone';

export interface CgroupOwner {
  /** The cgroup path the owner was read from (v2 line, else name=systemd, else memory). */
  path: string;
  /** A 64-hex container id (docker, containerd, cri-o, podman), when the path holds one. */
  containerId: string | null;
  /** docker, cri-containerd, crio, libpod or null, from the path's naming. */
  runtime: string | null;
  /** The Kubernetes pod uid when the path is under kubepods. */
  podUid: string | null;
  /** The innermost systemd *.service or *.scope unit, when there is one. */
  unit: string | null;
  /** One short phrase for people: "docker container 0123456789ab", "unit nginx.service". */
  label: string | null;
}

export interface ZombieParent {
  /** Pid as seen from our /proc (0 when the parent is outside our pid namespace). */
  pid: number;
  /** The pid the parent has in its own (innermost) pid namespace; 1 for a container's init. */
  namespacePid: number | null;
  comm: string | null;
  /** Full command line; "[comm]" when it is unreadable (hidepid, kernel thread, exited). */
  command: string | null;
  kind: ParentKind;
  cgroup: CgroupOwner | null;
}

export interface ZombieGroup {
  parent: ZombieParent;
  count: number;
  /** The zombies' pids, oldest first. */
  pids: number[];
  /** Their command names (comm), in pids' order. */
  comms: string[];
  /**
   * Age of the oldest zombie, from its start time (the kernel keeps no time of
   * death, so this is how long ago it started, not how long it has been dead).
   */
  oldestAgeMs: number | null;
  /** What to do, in one sentence. */
  advice: string;
}

export interface CensusReport {
  version: number;
  /** ISO time of the scan. */
  time: string;
  /** Processes visible in /proc during the scan. */
  scanned: number;
  /** Zombies found (sum of the groups' counts). */
  total: number;
  /** Exited thread-group leaders whose other threads still run: shown as Z, but not zombies. */
  exitedLeaders: number;
  groups: ZombieGroup[];
  /** What limits this scan (e.g. /proc mounted with hidepid). */
  notes: string[];
}

/** Known inits: their zombies are reaped promptly. */
const INITS = new Set([
  'init', 'systemd', 'tini', 'tini-static', 'docker-init', 'dumb-init', 'catatonit', 'runit', 'runsvdir',
  's6-svscan', 's6-supervise', 'supervisord', 'openrc-init', 'busybox-init', 'pid1', 'containerd-shim',
  'containerd-shim-runc-v2', 'conmon', 'podman-init', 'crun', 'runc',
]);

/**
 * Every process we may read (listProcesses skips unreadable entries). What
 * would make the census blind (no addon, no /proc) throws instead: a census
 * that saw nothing must never read as "no zombies", a HEALTHCHECK would call
 * that healthy.
 */
function scan(): ProcessEntry[] {
  native(); // its load error names the platform and the fix
  let entries: ProcessEntry[];
  try {
    entries = listProcesses();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Only a missing /proc calls for a mount; the rest are this process's own limits or rights.
    const fix = code === 'ENOENT' || code === 'ENOTDIR' ? 'mount procfs there (mount -t proc proc /proc, or unshare --mount-proc)'
      : code === 'EMFILE' ? 'this process has too many open files: raise its fd limit (ulimit -n) or close some'
      : code === 'ENFILE' ? 'the system has too many open files: close some or raise fs.file-max'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied: run as a user allowed to read /proc'
      : 'retry; if it persists, check that /proc is a procfs mount';
    throw new ReaperError('ERR_REAPER_PROC', `/proc cannot be read (${code}); ${fix}.`, { cause: error });
  }
  // We are a process too: without /proc/self this is no procfs we can see ourselves in.
  if (!procHasSelf()) {
    throw new ReaperError('ERR_REAPER_PROC',
      `/proc is not a procfs of this pid namespace (no /proc/self); mount one there (mount -t proc proc /proc, or unshare --mount-proc).`);
  }
  return entries;
}

const HEX64 = /(?:^|[/-])([0-9a-f]{64})(?:\.scope)?$/;

/** Parses one cgroup path (from /proc/<pid>/cgroup) into its owner. */
export function parseCgroupPath(path: string): CgroupOwner {
  const segments = path.split('/').filter(Boolean);
  let containerId: string | null = null;
  let runtime: string | null = null;
  let unit: string | null = null;
  let podUid: string | null = null;
  for (const segment of segments) {
    const id = HEX64.exec(segment);
    if (id) {
      containerId = id[1]!;
      const prefix = /^([a-z][a-z-]*?)-[0-9a-f]{64}/.exec(segment);
      runtime = prefix ? prefix[1]! : null;
    }
    if (/\.(service|scope)$/.test(segment)) unit = segment;
    // kubepods/burstable/pod<uid> (cgroupfs) or kubepods-burstable-pod<uid_with_underscores>.slice (systemd)
    const pod = /(?:^|-)pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/.exec(segment);
    if (pod) podUid = pod[1]!.replace(/_/g, '-');
  }
  // Plain cgroupfs docker: /docker/<id>.
  if (containerId && runtime === null) {
    const parent = segments[segments.length - 2];
    if (parent === 'docker' || parent === 'libpod_parent' || parent === 'lxc') runtime = parent === 'libpod_parent' ? 'libpod' : parent;
    else if (podUid) runtime = 'kubernetes';
  }
  let label: string | null = null;
  if (podUid) label = `kubernetes pod ${podUid}${containerId ? ` container ${containerId.slice(0, 12)}` : ''}`;
  else if (containerId) label = `${runtime ?? 'container'}${runtime ? ' container' : ''} ${containerId.slice(0, 12)}`;
  else if (unit) label = `unit ${unit}`;
  return { path, containerId, runtime, podUid, unit, label };
}

/** The owner of a process's cgroup, or null when it is the root or unreadable. */
export function cgroupOwner(pid: number): CgroupOwner | null {
  const text = readCgroup(pid);
  if (!text) return null;
  const paths = new Map<string, string>();
  for (const line of text.trim().split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    paths.set(controllers, line.slice(second + 1));
  }
  const ordered = [paths.get(''), paths.get('name=systemd'), paths.get('memory'), ...paths.values()];
  // The first path that names something wins; otherwise the first non-root one.
  let fallback: string | null = null;
  for (const path of ordered) {
    if (!path || path === '/') continue;
    const owner = parseCgroupPath(path);
    if (owner.label) return owner;
    fallback ??= path;
  }
  return fallback ? parseCgroupPath(fallback) : null;
}

function baseName(word: string): string {
  return word.split('/').pop() ?? word;
}

/**
 * Whether pid runs reaper, by what proves it: its executable, or the script
 * node runs (argv[1], the bundle or the bin stub), is a file of a reaper-init
 * package. A word in argv or the comm proves nothing: any program may be
 * called reaper (python3 /srv/app/reaper, or a script of that name). Paths
 * are read through /proc/<pid>/root and cwd, so a container's reaper is
 * recognised from the host.
 */
function isReaper(pid: number, args: string[]): boolean {
  const exe = executableOf(pid);
  if (exe === null) return false;
  const files = [exe];
  if (/^node(js)?[\d.]*$/.test(baseName(exe)) && args[1] && !args[1].startsWith('-')) files.push(args[1]);
  return files.some((file) => isReaperFile(pid, file));
}

function isReaperFile(pid: number, file: string): boolean {
  // <package>/dist/cli.cjs: the launcher and the sh bin exec node on it (by its real path), so no other file of the package runs as reaper.
  const packageJson = readFileOfProcess(pid, join(dirname(dirname(file)), 'package.json'));
  try {
    return packageJson !== null && (JSON.parse(packageJson) as { name?: unknown }).name === 'reaper-init';
  } catch {
    return false;
  }
}

function isInit(command: string, comm: string): boolean {
  const first = baseName(command.startsWith('[') ? comm : command.split(' ')[0] ?? '');
  return INITS.has(first) || INITS.has(comm) || /^containerd-shim/.test(comm);
}

function describe(parent: ZombieParent, count: number): string {
  const them = count === 1 ? 'it' : 'them';
  const who = `${parent.comm ?? 'the parent'} (pid ${parent.pid})`;
  switch (parent.kind) {
    case 'reaper':
      return `transient: reaper reaps adopted orphans as soon as they exit; nothing to do.`;
    case 'init':
      return `transient: ${who} is an init and reaps ${them}; nothing to do unless they persist.`;
    case 'pid1-not-init':
      return `${who} is PID 1 of its container but not an init: it never waits for adopted orphans. ` +
        `Run it under reaper (ENTRYPOINT ["reaper", "--", ...] or docker run --init); restarting the container clears ${them}.`;
    case 'process':
      return `${who} is alive and has not waited for ${count === 1 ? 'this child' : 'these children'}; only it can clear ${them}: ` +
        `fix it to wait for its children (waitpid, a SIGCHLD handler, child.on('exit')), or restart it ` +
        `(the zombies then pass to the init, which reaps ${them} if it is one).`;
    case 'outside':
      return `their parent is outside this pid namespace; run the census there (e.g. on the host).`;
    case 'gone':
      return `the parent exited during the scan; the zombies now belong to an init: run the census again.`;
  }
}

/** The zombies visible in /proc, grouped by parent, most zombies first. */
export function zombieCensus(): ZombieGroup[] {
  return census().groups;
}

/** The zombies by parent pid; exited thread-group leaders are counted apart. */
function groupZombies(processes: ProcessEntry[]): { zombiesByParent: Map<number, ProcessEntry[]>; exitedLeaders: number } {
  const zombiesByParent = new Map<number, ProcessEntry[]>();
  let exitedLeaders = 0;
  for (const entry of processes) {
    if (entry.state !== 'Z') continue;
    // A thread-group leader that called pthread_exit shows Z while its other
    // threads run: it is not waiting to be reaped. ([] when it is gone, or a
    // zombie whose task list is already empty.)
    if (threadsOf(entry.pid).length > 1) {
      exitedLeaders++;
      continue;
    }
    const list = zombiesByParent.get(entry.ppid);
    if (list) list.push(entry);
    else zombiesByParent.set(entry.ppid, [entry]);
  }
  return { zombiesByParent, exitedLeaders };
}

/** The census with its context (scan size, notes), as reaper-zombies --json prints it. */
export function census(): CensusReport {
  const processes = scan();
  const byPid = new Map(processes.map((entry) => [entry.pid, entry]));
  const { zombiesByParent, exitedLeaders } = groupZombies(processes);

  const groups: ZombieGroup[] = [];
  for (const [ppid, zombies] of zombiesByParent) {
    zombies.sort((a, b) => a.startTicks - b.startTicks || a.pid - b.pid);
    const parentStat = ppid > 0 ? (byPid.get(ppid) ?? safeStat(ppid)) : null;
    const alive = parentStat !== null && parentStat.state !== 'Z' && parentStat.state !== 'X' && safeStat(ppid) !== null;
    const comm = parentStat?.comm ?? null;
    const command = ppid > 0 && parentStat ? commandLine(ppid, comm ?? '') : null;
    const nsPid = ppid > 0 ? namespacePid(ppid) : null;
    let kind: ParentKind;
    if (ppid === 0) kind = 'outside';
    else if (!alive) kind = 'gone';
    else if (isReaper(ppid, processArgs(ppid) ?? [])) kind = 'reaper';
    else if (isInit(command ?? '', comm ?? '')) kind = 'init';
    else if (ppid === 1 || nsPid === 1) kind = 'pid1-not-init';
    else kind = 'process';
    const parent: ZombieParent = {
      pid: ppid,
      namespacePid: nsPid,
      comm,
      command,
      kind,
      cgroup: ppid > 0 ? cgroupOwner(ppid) : null,
    };
    groups.push({
      parent,
      count: zombies.length,
      pids: zombies.map((z) => z.pid),
      comms: zombies.map((z) => z.comm),
      oldestAgeMs: ageMs(zombies[0]!.startTicks),
      advice: describe(parent, zombies.length),
    });
  }
  groups.sort((a, b) => b.count - a.count || a.parent.pid - b.parent.pid);

  return {
    version: CENSUS_SCHEMA_VERSION,
    time: new Date().toISOString(),
    scanned: processes.length,
    total: groups.reduce((sum, group) => sum + group.count, 0),
    exitedLeaders,
    groups,
    notes: limits(),
  };
}

function safeStat(pid: number) {
  try {
    const stat = readStat(pid);
    return stat === 'unreadable' ? null : stat;
  } catch {
    return null;
  }
}

/** What this scan cannot see, from the way /proc is mounted and who we are. */
function limits(): string[] {
  const notes: string[] = [];
  for (const mount of readMounts('proc ')) {
    if (mount.point !== '/proc') continue;
    const hidepid = mount.options.find((option) => option.startsWith('hidepid='))?.slice('hidepid='.length);
    if (hidepid && hidepid !== '0' && hidepid !== 'off' && process.getuid?.() !== 0) {
      notes.push(`/proc is mounted with hidepid=${hidepid}: processes of other users are invisible to this census.`);
    }
  }
  return notes;
}
