// Loads the addon (a prebuild, or build/Release after a source build) and
// types its surface. Every other module reaches native code through here.
// node:url and node:module stay out of the hot path: each builtin a start
// requires for the first time costs PID 1 ~0.1-0.3 ms (see README).
import { existsSync } from 'node:fs';
import { ReaperError } from './errors.js';

export interface NativeExit {
  pid: number;
  /** The wait status (decodeWaitStatus in src/core/exit-status.ts). */
  status: number;
  comm?: string;
  startTicks?: number;
}

export interface NativeProcStat {
  state: string;
  ppid: number;
  /** Its process group: a fork keeps it, and kill(-pgid) reaches every member at once. */
  pgid: number;
  startTicks: number;
  comm: string;
}

/** struct reaper::Event (native/addon/reaper.h): byte offsets and kinds. */
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

/** The facts block readFacts fills: each fact's slot, and how many there are (size). */
export type FactsLayout = Record<'mainExited' | 'mainStatus' | 'orphansReaped' | 'eventsDropped' | 'termHeld' | 'termHeldMsAgo'
  | 'termHeldSender' | 'stopSignal' | 'drainInterrupt' | 'size', number>;

/** native/addon/addon.cc's kBindingVersion: the export table this file types. */
const BINDING_VERSION = 11;

export interface NativeBinding {
  bindingVersion: number;
  /** Positional at the boundary; call it through spawn(request) below. */
  spawn(file: Buffer | string, args: Array<Buffer | string>, env: Array<Buffer | string>, foreground: boolean,
    ignored: bigint | null, blocked: bigint | null, newSession: boolean): number;
  /** Executes node again without NODE_* / UV_* (native/launcher/launch.h); returns only by throwing. */
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
  /** What the handler keeps in atomics, never lost: fills into, one slot a fact (layout: factsLayout). */
  readFacts(into: Float64Array): void;
  /** The main child's name, read while it was a zombie ("" if missed). */
  mainName(): string;
  /** Signals the main child as the handler forwards (see signalApp in src/wrapper/supervisor/handler.ts); false once it is gone. */
  signalMainChild(signal: number): boolean;
  /** Library mode: reaps pid if it is a zombie child of ours. */
  reapPid(pid: number, describe: boolean): NativeExit | null;
  // The /proc readers below are called by src/core/procfs.ts only, the one reader of /proc.
  procStat(pid: number): NativeProcStat | null;
  readChildren(tgid: number, tid: number): number[];
  ownedProcessPids(): number[];
  /**
   * False when nothing is left, in the kernel's word: with wholeNamespace (as
   * PID 1) no other process of the pid namespace, whether or not reaper may
   * signal it; otherwise reaper has no child, live or zombie.
   */
  anythingLeft(wholeNamespace: boolean): boolean;
  setChildSubreaper(on: boolean): void;
  setParentDeathSignal(signal: number): void;
  signalProcess(pid: number, startTicks: number, signal: number): boolean;
  openNonblockingWriter(fd: number): number;
  writeLog(fd: number, bytes: Uint8Array): number;
  errnoName(errno: number): string;
  /** _exit(code): no atexit handlers (see native/addon/reaper.h). */
  exitNow(code: number): never;
  event: EventLayout;
  /**
   * Slot of each fact readFacts fills (size: how many): mainExited (0/1), mainStatus
   * (wait status), orphansReaped, eventsDropped, termHeld (0/1: --forward-delay held a
   * SIGTERM), termHeldMsAgo, termHeldSender, stopSignal (the first SIGTERM/SIGINT with no
   * app to forward to: --pause ends on it), drainInterrupt (the signal that ended the grace).
   */
  factsLayout: FactsLayout;
  SIGRTMIN: number;
  /** Clock ticks per second, the unit of /proc start times. */
  CLK_TCK: number;
}

/** What the app is started with (native/addon/reaper.h's SpawnRequest). */
export interface SpawnRequest {
  file: Buffer | string;
  args: Array<Buffer | string>;
  env: Array<Buffer | string>;
  /** Make the app's group the terminal's foreground group (if reaper's is). */
  foreground: boolean;
  /** The signal state to hand on (bit N-1 for signal N); null for defaults. */
  ignored: bigint | null;
  blocked: bigint | null;
  /** setsid() for the app (dumb-init's mode), else its own process group. */
  newSession: boolean;
}

/** Starts the app (fork and exec, failures reported back over a pipe); returns its pid. */
export function spawn(request: SpawnRequest): number {
  const { file, args, env, foreground, ignored, blocked, newSession } = request;
  return native().spawn(file, args, env, foreground, ignored, blocked, newSession);
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
  const root = `${import.meta.dirname}/../..`;
  try {
    binding = loadDirect(root) ?? loadWithNodeGypBuild(root);
  } catch (cause) {
    if (process.platform !== 'linux') {
      throw new ReaperError('ERR_REAPER_UNSUPPORTED_PLATFORM',
        `reaper runs on Linux only (this is ${process.platform}); use it inside your Linux container image.`, { cause });
    }
    throw new ReaperError('ERR_REAPER_NATIVE_LOAD',
      `reaper's native addon is missing for linux-${process.arch} (${libc()}, Node ${process.versions.node}, ` +
      `N-API ${process.versions.napi}); build it from source (needs python3, make and g++): ` +
      `"npm approve-scripts reaper-init && npm_config_build_from_source=true npm rebuild reaper-init" ` +
      `(pnpm: "pnpm approve-builds", then "pnpm rebuild reaper-init").`, { cause });
  }
  if (binding.bindingVersion !== BINDING_VERSION) {
    const found = binding.bindingVersion;
    binding = undefined;
    throw new ReaperError('ERR_REAPER_NATIVE_LOAD',
      `reaper's native addon is from another version of reaper (binding ${found ?? 'unversioned'}, this code needs ${BINDING_VERSION}); ` +
      `rebuild it with "npm_config_build_from_source=true npm rebuild reaper-init", or rebuild the prebuilds (npm run prebuilds) before packing.`);
  }
  return binding;
}
