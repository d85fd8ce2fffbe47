// The other half of native/launcher/launch.h: what the launcher hid from the Node that
// runs reaper is given back to the app, byte for byte, and the command line
// and environment reach the app as raw bytes (process.argv and process.env
// are decoded as UTF-8, which replaces invalid bytes with U+FFFD).
import { native } from './native.js';
import { ownCommandLine, ownEnvironment } from './procfs.js';

const SAVED_PREFIX = Buffer.from('__REAPER_SAVED_');
const MARKER = '__REAPER_LAUNCHER';
const MARKER_ENTRY = Buffer.from(`${MARKER}=`);

export interface Launch {
  /** Signals the launcher's parent left ignored / blocked (bit N-1 for signal N); null when unknown. */
  ignored: bigint | null;
  blocked: bigint | null;
  /** The name reaper was called by (a link named tini or docker-init picks tini's defaults). */
  argv0: string;
}

/** How this process was launched; null when node was started on the bundle directly. */
export function launch(): Launch | null {
  const value = process.env[MARKER];
  if (value === undefined) return null;
  const [ignored, blocked, ...name] = value.split(':');
  const mask = (hex: string | undefined) => (hex && /^[0-9a-f]{16}$/.test(hex) ? BigInt(`0x${hex}`) : null);
  return { ignored: mask(ignored), blocked: mask(blocked), argv0: name.join(':') };
}

/**
 * The environment for the app: this process's own, as raw bytes, with the
 * launcher's renames undone and its marker dropped.
 */
export function appEnvironment(): Buffer[] {
  // /proc/self/environ is the block the kernel gave us: reaper never changes process.env.
  const raw = rawEnvironment();
  const out: Buffer[] = [];
  // Both prefixes start with "__": most entries are passed on after one byte compare.
  const startsWith = (entry: Buffer, prefix: Buffer) => entry[0] === prefix[0] && entry[1] === prefix[1] &&
    prefix.compare(entry, 0, prefix.length) === 0;
  for (const entry of raw) {
    if (startsWith(entry, MARKER_ENTRY)) continue;
    out.push(startsWith(entry, SAVED_PREFIX) ? entry.subarray(SAVED_PREFIX.length) : entry);
  }
  return out;
}

/** The last count command-line arguments as raw bytes (the command reaper runs is a suffix of its argv). */
export function rawArguments(decoded: string[]): Buffer[] {
  const raw = ownCommandLine();
  if (raw && raw.length >= decoded.length) return raw.slice(raw.length - decoded.length);
  return decoded.map((arg) => Buffer.from(arg));
}

/**
 * Variables the fallback lets through: Node never reads NODE_ENV or
 * NODE_VERSION (the node images set it), and NODE_EXTRA_CA_CERTS only costs
 * a certificate read at start-up, less than starting Node again.
 */
const INERT = new Set(['NODE_ENV', 'NODE_VERSION', 'NODE_EXTRA_CA_CERTS']);

/**
 * The fallback for `node path/to/dist/cli.cjs` (no launcher in front): Node
 * has applied NODE_OPTIONS and its kin to this process before reaper's first
 * line. Executes node again at once on the same command line with them
 * hidden, so nothing of them stays in PID 1; the app gets them back. Returns
 * (with a warning) only if that fails.
 */
export function relaunchIfShaped(warn: (message: string) => void): void {
  if (launch()) return;
  const shaping = Object.keys(process.env).filter((name) => /^(NODE_|UV_)/.test(name) && !INERT.has(name));
  if (shaping.length === 0) return;
  const argv = ownCommandLine() ??
    [process.execPath, ...process.execArgv, ...process.argv.slice(1)].map((arg) => Buffer.from(arg));
  const env = rawEnvironment();
  try {
    native().relaunch(process.execPath, argv, env, process.argv[1] ?? 'reaper');
  } catch (error) {
    warn(`could not start node again without ${shaping.join(', ')} (${(error as Error).message}); ` +
      'they apply to reaper too: run reaper through its bin (node_modules/.bin/reaper) instead.');
  }
}

/** The environment block the kernel gave us, raw; Node's decoded copy without /proc. */
function rawEnvironment(): Buffer[] {
  return ownEnvironment() ?? Object.entries(process.env).map(([key, value]) => Buffer.from(`${key}=${value}`));
}
