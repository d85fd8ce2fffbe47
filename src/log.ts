// Diagnostics go to stderr only (stdout belongs to the app), through a
// private non-blocking descriptor: a full pipe or a closed stderr loses log
// lines, never blocks or kills PID 1.
import { writeSync } from 'node:fs';
import { native } from './native.js';

export const LEVEL_NAMES = ['error', 'warn', 'info', 'debug', 'trace'] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];
export type LogFormat = 'text' | 'json';
export type Fields = Record<string, unknown>;

export interface Logger {
  readonly verbosity: number;
  enabled(level: LevelName): boolean;
  error(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  /** Shown at the default verbosity like a warning, but reports a normal event. */
  notice(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  debug(message: string, fields?: Fields): void;
  trace(message: string, fields?: Fields): void;
  /** Lines that could not be written (full pipe), for the final report. */
  readonly dropped: number;
}

const EAGAIN = 11;

export function createLogger(verbosity: number, format: LogFormat = 'text', fd = 2): Logger {
  let out = -1;
  let dropped = 0;
  let broken = false;

  const write = (line: string) => {
    if (broken) return;
    try {
      if (out < 0) out = native().openNonblockingWriter(fd);
      const written = native().writeLog(out, line);
      if (written === -EAGAIN) dropped++;
      else if (written < 0) broken = true; // EPIPE, EBADF: nobody is listening
    } catch {
      // Without the addon (it failed to load: that is what this line says)
      // a plain write is all there is; no child runs yet, so it cannot stall one.
      try {
        writeSync(fd, line);
      } catch {
        broken = true;
      }
    }
  };

  const log = (level: number, name: string = LEVEL_NAMES[level]!) => (message: string, fields?: Fields) => {
    if (level > verbosity) return;
    if (format === 'json') {
      // "pid" is left to the fields (the orphan's, the child's): ours is reaperPid.
      write(JSON.stringify({ time: new Date().toISOString(), level: name, reaperPid: process.pid, msg: message, ...fields }) + '\n');
    } else {
      write(`reaper[${process.pid}] ${name.toUpperCase()}: ${message}\n`);
    }
  };

  return {
    verbosity,
    enabled: (level) => LEVEL_NAMES.indexOf(level) <= verbosity,
    error: log(0),
    warn: log(1),
    notice: log(1, 'notice'),
    info: log(2),
    debug: log(3),
    trace: log(4),
    get dropped() {
      return dropped;
    },
  };
}
