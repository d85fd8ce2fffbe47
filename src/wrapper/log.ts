// Diagnostics go to stderr only (stdout belongs to the app), through a
// private non-blocking descriptor: a full pipe or a closed stderr loses log
// lines, never blocks or kills PID 1.
//
// A line is written whole or not at all, and is always one line:
// - The text of a line has no control character (format.ts's printable), so
//   no value can end it early or start another.
// - A line is at most LINE_MAX bytes: long values are shortened with a count
//   ("… 1,480 more"). To a pipe (docker's stdio) the kernel writes a write this
//   small all at once or not at all, so a full pipe drops the line whole.
// - A terminal, a socket or a file may take part of a line. The rest is kept,
//   ahead of any later line, and written when the descriptor takes it: before
//   the next line, on a retry timer, and at exit (flush). Exit waits a bounded
//   time: lines are started for FLUSH_MS, then only a started line is finished,
//   for up to FINISH_MS more; only a reader stalled that long sees a line cut.
import { writeSync } from 'node:fs';
import { formatCount, printable, toJson, truncated } from '../core/format.js';
import { native } from '../core/native.js';

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
  /** Before exit: lets a slow reader take the rest of a line already started (bounded wait), then says how many lines were dropped. */
  close(): void;
}

/** PIPE_BUF on Linux: a pipe takes a write of at most this many bytes whole or not at all. */
export const LINE_MAX = 4096;
/** The unwritten rest of a started line and the lines queued behind it, up to this many bytes: small, so that at exit a slow reader takes the last lines (the drain report) within FLUSH_MS. */
const QUEUE_MAX = 16 * 1024;
const RETRY_MS = 20;
/** At exit: how long queued lines are still started, then how much longer a started one may take to finish. */
const FLUSH_MS = 250;
const FINISH_MS = 1000;
const EAGAIN = 11;

export function createLogger(verbosity: number, format: LogFormat = 'text', fd = 2): Logger {
  const out = new LineWriter(fd);
  const log = (level: number, name: string = LEVEL_NAMES[level]!) => (message: string, fields?: Fields) => {
    if (level > verbosity) return;
    if (format === 'json') {
      // "pid" is left to the fields (the orphan's, the child's): ours is reaperPid.
      out.write(jsonLine({ time: new Date().toISOString(), level: name, reaperPid: process.pid, msg: message, ...fields }));
    } else {
      out.write(textLine(`reaper[${process.pid}] ${name.toUpperCase()}: `, message));
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
    close() {
      out.flush();
      // Said last, when the reader may have caught up; flushed again, so that it too is whole or not at all.
      if (out.dropped === 0) return;
      log(1)(`${out.dropped} log line${out.dropped === 1 ? ' was' : 's were'} dropped: nothing read reaper's stderr fast enough`);
      out.flush();
    },
  };
}

/** Whole lines to one descriptor, never blocking: a line goes out whole, is finished later, or is dropped whole (see the top of this file). */
class LineWriter {
  #dropped = 0;
  #out = -1;
  #broken = false;
  readonly #queue: Buffer[] = [];
  #queued = 0;
  /** #queue[0] is the rest of a line already partly written: it must be finished, never dropped. */
  #started = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(readonly fd: number) {}

  get dropped(): number {
    return this.#dropped;
  }

  write(line: string): void {
    if (this.#broken) return;
    try {
      if (this.#out < 0) this.#out = native().openNonblockingWriter(this.fd);
      const bytes = Buffer.from(line);
      if (this.#queue.length > 0) return this.#enqueue(bytes);
      const written = native().writeLog(this.#out, bytes);
      if (written === bytes.length) return;
      if (written === -EAGAIN) this.#dropped++; // not started: dropped whole
      else if (written < 0) this.#broken = true;
      else {
        this.#queue.push(bytes.subarray(written));
        this.#queued = bytes.length - written;
        this.#started = written > 0;
        this.#writeQueue();
      }
    } catch {
      // Without the addon (it failed to load: that is what this line says)
      // a plain write is all there is; no child runs yet, so it cannot stall one.
      try {
        writeSync(this.fd, line);
      } catch {
        this.#broken = true;
      }
    }
  }

  /** Before exit: lines are started for FLUSH_MS, then only a started one is finished, for up to FINISH_MS more. */
  flush(): void {
    const pause = new Int32Array(new SharedArrayBuffer(4));
    const startUntil = Date.now() + FLUSH_MS;
    const finishUntil = startUntil + FINISH_MS;
    for (;;) {
      const startNew = Date.now() < startUntil;
      this.#writeQueue(startNew);
      if (this.#queue.length === 0 || this.#broken || (!this.#started && !startNew) || Date.now() >= finishUntil) break;
      Atomics.wait(pause, 0, 0, 5); // a few ms for the reader; PID 1 has nothing else to do now
    }
    clearTimeout(this.#retry);
    // What was never started is dropped now, and taken out: a later line must not write it after all.
    for (const line of this.#queue.splice(this.#started ? 1 : 0)) {
      this.#queued -= line.length;
      this.#dropped++;
    }
  }

  /**
   * Behind the rest of a started line, which must come first. When the queue
   * is full the oldest lines not yet started make room: the last lines (the
   * drain report, how the app ended) matter most at exit.
   */
  #enqueue(bytes: Buffer): void {
    const first = this.#started ? 1 : 0;
    while (this.#queue.length > first && this.#queued + bytes.length > QUEUE_MAX) {
      this.#queued -= this.#queue.splice(first, 1)[0]!.length;
      this.#dropped++;
    }
    if (this.#queued + bytes.length > QUEUE_MAX) this.#dropped++;
    else {
      this.#queue.push(bytes);
      this.#queued += bytes.length;
    }
    this.#writeQueue();
  }

  /** Writes the queue, oldest first, as far as the descriptor takes it now (only the started line when startNew is false). */
  #writeQueue(startNew = true): void {
    const queue = this.#queue;
    while (queue.length > 0 && !this.#broken && (this.#started || startNew)) {
      const head = queue[0]!;
      const written = native().writeLog(this.#out, head);
      if (written === head.length) {
        queue.shift();
        this.#queued -= written;
        this.#started = false;
      } else if (written >= 0) {
        queue[0] = head.subarray(written);
        this.#queued -= written;
        this.#started ||= written > 0;
        break;
      } else if (written === -EAGAIN) {
        break;
      } else {
        this.#broken = true; // EPIPE, EBADF: nobody is listening
      }
    }
    if (this.#broken) queue.length = this.#queued = 0;
    if (queue.length > 0 && !this.#retry) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        this.#writeQueue();
      }, RETRY_MS).unref();
    }
  }
}

const encoder = new TextEncoder();

/** head + message + newline in at most LINE_MAX bytes, the message escaped and, when too long, cut whole characters short with a count. */
export function textLine(head: string, message: string): string {
  const text = printable(message, Infinity);
  const line = `${head}${text}\n`;
  if (Buffer.byteLength(line) <= LINE_MAX) return line;
  const room = new Uint8Array(LINE_MAX - Buffer.byteLength(head) - 48); // 48: the marker and the newline
  const { read } = encoder.encodeInto(text, room); // whole characters only
  return `${head}${text.slice(0, read)}… ${formatCount(text.length - read)} more characters\n`;
}

/** Shortening steps for a JSON line: characters per string, items per list. */
const JSON_STEPS = [[1000, 20], [200, 10], [40, 3]] as const;

/** One JSON object and a newline in at most LINE_MAX bytes: long strings and lists are shortened, step by step, until it fits. */
export function jsonLine(record: Fields): string {
  for (const [chars, items] of JSON_STEPS) {
    const line = `${toJson(shortened(record, chars, items))}\n`;
    if (Buffer.byteLength(line) <= LINE_MAX) return line;
  }
  // Still too long (very many fields): the message alone, and how many fields were left out.
  const { time, level, reaperPid, msg, event, ...rest } = record;
  return `${toJson(shortened({ time, level, reaperPid, msg, event, fieldsOmitted: Object.keys(rest).length }, 200, 0))}\n`;
}

/**
 * A copy of value with strings past chars characters cut (".… 99,000 more
 * characters") and lists past items items cut, the count of the rest beside
 * the list ("processes": [...20], "processesOmitted": 1480).
 */
function shortened(value: unknown, chars: number, items: number): unknown {
  if (typeof value === 'string') return truncated(value, chars);
  if (Array.isArray(value)) return value.slice(0, items).map((item) => shortened(item, chars, items));
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Fields = {};
  for (const [key, field] of Object.entries(value)) {
    out[key] = shortened(field, chars, items);
    if (Array.isArray(field) && field.length > items) out[`${key}Omitted`] = field.length - items;
  }
  return out;
}
