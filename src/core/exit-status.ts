// How a process ended, in numbers (the exit code reaper passes on) and in
// words (the line operators read).
import { signalName } from './signals.js';

export interface ExitStatus {
  /** Exit code, or null when a signal killed the process. */
  exitCode: number | null;
  /** Signal number that killed it, or null. */
  signal: number | null;
  coreDumped: boolean;
}

/** The one decoder of a wait status (the handler's facts and records, library mode's reaps). */
export function decodeWaitStatus(status: number): ExitStatus {
  const signal = status & 0x7f;
  if (signal === 0) return { exitCode: (status >> 8) & 0xff, signal: null, coreDumped: false };
  return { exitCode: null, signal, coreDumped: (status & 0x80) !== 0 };
}

/** The shell's convention: the code itself, or 128+N for death by signal N. */
export function exitCodeOf(status: ExitStatus, expected: ReadonlySet<number> = new Set()): number {
  const code = status.signal !== null ? 128 + status.signal : (status.exitCode ?? 0);
  return expected.has(code) ? 0 : code;
}

export function describeStatus(status: ExitStatus): string {
  if (status.signal !== null) {
    return `was killed by ${signalName(status.signal)}${status.coreDumped ? ' (core dumped)' : ''}`;
  }
  return `exited with code ${status.exitCode}`;
}

/** The name of the signal that killed it (SIGTERM), or null when it exited. */
export function signalNameOf(status: ExitStatus): string | null {
  return status.signal === null ? null : signalName(status.signal);
}
