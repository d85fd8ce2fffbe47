// Loads the addon (a prebuild, or build/Release after a source build) and
// types its surface. Every other module reaches native code through here.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ReaperError } from './errors.js';

export interface NativeExit {
  pid: number;
  exitCode: number | null;
  signal: number | null;
  coreDumped: boolean;
  comm?: string;
  startTicks?: number;
}

export interface NativeProcStat {
  state: string;
  ppid: number;
  startTicks: number;
  comm: string;
}

/** native/addon.cc's kBindingVersion: the export table this file types. */
const BINDING_VERSION = 3;

export interface NativeBinding {
  bindingVersion: number;
  /** ignored/blocked: the signal state to hand on (bit N-1 for signal N); null for defaults. */
  spawn(file: Buffer | string, args: Array<Buffer | string>, env: Array<Buffer | string>, foreground: boolean,
    ignored: bigint | null, blocked: bigint | null): number;
  /** Executes node again without NODE_* / UV_* (native/launch.h); returns only by throwing. */
  relaunch(node: string, argv: Buffer[], env: Buffer[], argv0: string): never;
  openNotifyPipe(): number;
  installForwarding(rewrite: number[], report: boolean[], toGroup: boolean, reapInHandler: boolean): void;
  /** Orphans the SIGCHLD handler reaped since the last call. */
  takeReapedCount(): number;
  /** The main child's exit if the SIGCHLD handler reaped it (pid 0, comm may be ""). */
  takeMainExit(): NativeExit | null;
  setForwardTarget(pid: number): void;
  clearForwardTarget(): void;
  /** Reaps every waiting child: orphans are counted (listed with describe); mainPid's exit comes back as main. */
  reap(describe: boolean, mainPid: number): { count: number; exits: NativeExit[]; main: NativeExit | null };
  /** Watches the notify pipe on Node's loop; the callback gets the records read. */
  watchNotify(fd: number, callback: (error: Error | null, records: Buffer) => void): void;
  unwatchNotify(): void;
  reapPid(pid: number, describe: boolean): NativeExit | null;
  procStat(pid: number): NativeProcStat | null;
  readChildren(tgid: number, tid: number): number[];
  ownedProcessPids(): number[];
  setChildSubreaper(on: boolean): void;
  isChildSubreaper(): boolean;
  setParentDeathSignal(signal: number): void;
  signalProcess(pid: number, startTicks: number, signal: number): boolean;
  openNonblockingWriter(fd: number): number;
  writeLog(fd: number, text: string): number;
  errnoName(errno: number): string;
  /** _exit(code): no atexit handlers (see native/reaper.h). */
  exitNow(code: number): never;
  SIGRTMIN: number;
  SIGRTMAX: number;
  /** Clock ticks per second, the unit of /proc start times. */
  CLK_TCK: number;
}

/** Size of one record on the notify pipe (struct SignalEvent in native/reaper.h). */
export const SIGNAL_EVENT_SIZE = 12;
export const EVENT_CHILD = 1;
export const EVENT_FORWARDED = 2;
export const EVENT_DROPPED = 3;
export const EVENT_NO_TARGET = 4;

let binding: NativeBinding | undefined;

function libc(): string {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return report?.header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/**
 * The two files node-gyp-build would pick on glibc, loaded without it: its
 * directory scans and tag matching cost ~3 ms of PID 1's start, ten times the
 * dlopen. Anything unusual (musl, another arch, a stale file) goes to it.
 */
function loadDirect(root: string): NativeBinding | null {
  const candidates = [
    join(root, 'build', 'Release', 'reaper.node'),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'reaper.glibc.node'),
  ];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      const module = { exports: {} as NativeBinding };
      process.dlopen(module, path);
      if (module.exports.bindingVersion === BINDING_VERSION) return module.exports;
    } catch {
      // Not loadable here: node-gyp-build decides and explains.
    }
  }
  return null;
}

export function native(): NativeBinding {
  if (binding) return binding;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const require = createRequire(import.meta.url);
  try {
    binding = loadDirect(root) ?? require('node-gyp-build')(root) as NativeBinding;
  } catch (cause) {
    if (process.platform !== 'linux') {
      throw new ReaperError('ERR_REAPER_UNSUPPORTED_PLATFORM',
        `reaper runs on Linux only (this is ${process.platform}); use it inside your Linux container image.`, { cause });
    }
    throw new ReaperError('ERR_REAPER_NATIVE_LOAD',
      `reaper's native addon is missing for linux-${process.arch} (${libc()}, Node ${process.versions.node}, ` +
      `N-API ${process.versions.napi}); build it with "npm rebuild reaper-init --build-from-source" ` +
      `(needs python3, make and a C++ compiler).`, { cause });
  }
  if (binding.bindingVersion !== BINDING_VERSION) {
    const found = binding.bindingVersion;
    binding = undefined;
    throw new ReaperError('ERR_REAPER_NATIVE_LOAD',
      `reaper's native addon is from another version of reaper (binding ${found ?? 'unversioned'}, this code needs ${BINDING_VERSION}); ` +
      `rebuild it with "npm rebuild reaper-init --build-from-source", or rebuild the prebuilds (npm run prebuilds) before packing.`);
  }
  return binding;
}
