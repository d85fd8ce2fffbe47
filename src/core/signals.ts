// Signal names and numbers. Node's os.constants.signals covers 1-31; the
// real-time range starts where the C library says (glibc 34, musl 35), so it
// is asked of the addon, built against that C library, when a name needs it.
import { isSystemError, UsageError } from './errors.js';
import { native } from './native.js';

// node:os is loaded when a signal is first named, not on every start (a
// plain `reaper -- app` that exits 0 names none).
const signals = () => process.getBuiltinModule('node:os').constants.signals as Record<string, number>;
let names: Map<number, string> | undefined;
function byNumber(): Map<number, string> {
  if (names) return names;
  names = new Map();
  for (const [name, number] of Object.entries(signals())) {
    // Aliases (SIGIOT = SIGABRT, SIGPOLL = SIGIO): keep the first, usual, name.
    if (!names.has(number)) names.set(number, name);
  }
  return names;
}

// The numbers reaper itself sends or decides on: Linux's, the same on every
// architecture Node runs on (x86, arm, ppc, s390x). Every other file takes
// them from here.
export const SIGHUP = 1;
export const SIGINT = 2;
export const SIGKILL = 9;
export const SIGTERM = 15;
export const SIGCHLD = 17;
export const SIGCONT = 18;
export const SIGSTOP = 19;
export const SIGTSTP = 20;
export const SIGTTIN = 21;
export const SIGTTOU = 22;
/** The kernel's last signal, whatever the C library. */
export const SIGRTMAX = 64;

const rtmin = () => native().SIGRTMIN;

export function signalName(signal: number): string {
  const name = byNumber().get(signal);
  if (name) return name;
  if (signal > 31 && signal <= SIGRTMAX && signal >= rtmin()) {
    const fromMin = signal - rtmin();
    const fromMax = SIGRTMAX - signal;
    return fromMin <= fromMax ? (fromMin === 0 ? 'SIGRTMIN' : `SIGRTMIN+${fromMin}`) : (fromMax === 0 ? 'SIGRTMAX' : `SIGRTMAX-${fromMax}`);
  }
  return `signal ${signal}`;
}

/**
 * Parses "TERM", "SIGTERM", "sigterm", "15", "SIGRTMIN+2", "RTMAX-1".
 * With allowZero, "0" means "none" (dumb-init's rewrite-to-drop).
 */
export function parseSignal(text: string, what: string, allowZero = false): number {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const number = Number(trimmed);
    if ((number === 0 && allowZero) || (number >= 1 && number <= SIGRTMAX)) return number;
    throw new UsageError(`${what}: signal number ${trimmed} is out of range; use 1-${SIGRTMAX}${allowZero ? ' (or 0 to drop)' : ''} or a name such as SIGTERM.`);
  }
  const upper = trimmed.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const offset = rt[3] ? Number(rt[3]) * (rt[2] === '-' ? -1 : 1) : 0;
    const min = rtmin();
    const number = (rt[1] === 'MIN' ? min : SIGRTMAX) + offset;
    if (number >= min && number <= SIGRTMAX) return number;
  } else {
    const number = signals()[name];
    if (number !== undefined) return number;
  }
  throw new UsageError(`${what}: unknown signal "${text}"; use a name such as SIGTERM, TERM, SIGRTMIN+2, or a number 1-${SIGRTMAX}.`);
}

/**
 * kill() to many at once, unnamed: -1 (as PID 1, every process of its pid
 * namespace but itself) or -pgid (a process group: its id lives as long as a
 * member does). False when there is none (ESRCH); other errors throw.
 */
export function killTarget(target: number, signal: number): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch (error) {
    if (isSystemError(error) && error.code === 'ESRCH') return false;
    throw error;
  }
}
