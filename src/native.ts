// Loads the addon (a prebuild, or build/Release after a source build) and
// types its surface. Every other module reaches native code through here.
// node:url and node:module stay out of the hot path: each builtin a start
// requires for the first time costs PID 1 ~0.1-0.3 ms (see README).
import { existsSync } from 'node:fs';
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

/** struct reaper::Event (native/reaper.h): byte offsets and kinds. */
export interface EventLayout {
  size: number;
  kind: number;
  signal: number;
  delivered: number;
  pid: number;
  value: number;
  startTicks: number;
  comm: number;
  commSize: number;
  kinds: Record<'wake' | 'forwarded' | 'dropped' | 'noTarget' | 'exited' | 'stopped' | 'continued', number>;
}

/** native/addon.cc's kBindingVersion: the export table this file types. */
const BINDING_VERSION = 9;

export interface NativeBinding {
  bindingVersion: number;
  /**
   * ignored/blocked: the signal state to hand on (bit N-1 for signal N); null for defaults.
   * newSession: setsid() for the app (dumb-init's mode), else its own process group.
   */
  spawn(file: Buffer | string, args: Array<Buffer | string>, env: Array<Buffer | string>, foreground: boolean,
    ignored: bigint | null, blocked: bigint | null, newSession: boolean): number;
  /** Executes node again without NODE_* / UV_* (native/launch.h); returns only by throwing. */
  relaunch(node: string, argv: Buffer[], env: Buffer[], argv0: string): never;
  /** Installs the handler that forwards and reaps; creates the notify pipe. */
  installHandler(rewrite: number[], report: boolean[], toGroup: boolean, describe: boolean, holdTerm: boolean, drainSignal: number): void;
  /** The main child exists: forward to it, reap it, keep its exit in the facts. */
  setMainChild(pid: number): void;
  /** --pause: no main child will come; every child is an orphan. */
  setNoMainChild(): void;
  /** --forward-delay is over: forwards the held SIGTERM; false if none was held any more. */
  releaseHeldTerm(): boolean;
  /** Calls onReadable() when records wait in the notify pipe; keeps the loop alive. */
  watchEvents(onReadable: () => void): void;
  unwatchEvents(): void;
  /** Reads waiting records (layout: event) into `into`; returns the bytes read. */
  readEvents(into: Buffer): number;
  /**
   * What the handler keeps in atomics, never lost: fills into with
   * [mainExited (0/1), mainStatus (wait status), orphansReaped, eventsDropped,
   * termHeld (0/1: --forward-delay held a SIGTERM), termHeldMsAgo, termHeldSender,
   * stopSignal (the first SIGTERM/SIGINT with no app to forward to: --pause ends on it)].
   */
  readFacts(into: Float64Array): void;
  /** The main child's name, read while it was a zombie ("" if missed). */
  mainName(): string;
  /** Signals the main child through the pidfd opened at spawn; false once it is gone. */
  signalMainChild(signal: number): boolean;
  /** Library mode: reaps pid if it is a zombie child of ours. */
  reapPid(pid: number, describe: boolean): NativeExit | null;
  procStat(pid: number): NativeProcStat | null;
  readChildren(tgid: number, tid: number): number[];
  ownedProcessPids(): number[];
  /**
   * False when the drain has nothing to do: as PID 1 (wholeNamespace) no other
   * process is in the pid namespace; otherwise reaper has no child, live or zombie.
   */
  anythingLeft(wholeNamespace: boolean): boolean;
  setChildSubreaper(on: boolean): void;
  setParentDeathSignal(signal: number): void;
  signalProcess(pid: number, startTicks: number, signal: number): boolean;
  openNonblockingWriter(fd: number): number;
  writeLog(fd: number, bytes: Uint8Array): number;
  errnoName(errno: number): string;
  /** _exit(code): no atexit handlers (see native/reaper.h). */
  exitNow(code: number): never;
  event: EventLayout;
  SIGRTMIN: number;
  SIGRTMAX: number;
  /** Clock ticks per second, the unit of /proc start times. */
  CLK_TCK: number;
}

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
    `${root}/build/Release/reaper.node`,
    `${root}/prebuilds/${process.platform}-${process.arch}/reaper.glibc.node`,
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

function loadWithNodeGypBuild(root: string): NativeBinding {
  const { createRequire } = process.getBuiltinModule('node:module');
  return createRequire(`${root}/package.json`)('node-gyp-build')(root) as NativeBinding;
}

export function native(): NativeBinding {
  if (binding) return binding;
  const root = `${import.meta.dirname}/..`;
  try {
    binding = loadDirect(root) ?? loadWithNodeGypBuild(root);
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
