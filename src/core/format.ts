// Human-readable figures for log lines.

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)}s`;
  return `${Math.round(ms / 60_000)}min`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

/** 1480 -> "1,480". */
export function formatCount(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+$)/g, ',');
}

// What must not reach a line of text or a terminal raw: C0 and C1 controls
// and DEL (a newline starts a forged line, ESC and CSI drive the terminal),
// the Unicode line and paragraph separators, and the bidirectional overrides
// (they reorder what is shown). A backslash is left alone, so escaping twice
// changes nothing (the logger escapes every whole line again); a name that
// spells an escape ("\\x1b") still cannot produce the byte. Invalid UTF-8
// arrives here as U+FFFD, shown as is: /proc text is decoded as UTF-8
// (procfs, census, the notify record), as N-API decodes the addon's strings.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** Whether value holds a character printable() would escape. */
export function needsEscape(value: string): boolean {
  return new RegExp(UNSAFE.source).test(value);
}
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const hex = (char: string, digits: number) => char.charCodeAt(0).toString(16).padStart(digits, '0');
const escapeOne = (char: string) => NAMED[char] ?? (char.charCodeAt(0) < 0x100 ? `\\x${hex(char, 2)}` : `\\u${hex(char, 4)}`);

/** value, or its first max characters (never half a surrogate pair) and "… 99,480 more characters". */
export function truncated(value: string, max: number): string {
  if (value.length <= max) return value;
  const code = value.charCodeAt(max - 1);
  const end = code >= 0xd800 && code < 0xdc00 ? max - 1 : max;
  return `${value.slice(0, end)}… ${formatCount(value.length - end)} more characters`;
}

/**
 * A value from outside (read from /proc: comm, command line, cgroup; or given
 * on the command line) as it may appear in text output: every control
 * character escaped visibly (\n, \x1b, \u2028), so no value can start a line
 * or reach a terminal raw, and past max characters shortened with a count.
 */
export function printable(value: string, max = 200): string {
  return truncated(value, max).replace(UNSAFE, escapeOne);
}

/** The first max items, joined, then "… 1,480 more" for the rest. */
export function listed(items: readonly string[], max = 10, separator = ', '): string {
  const shown = items.slice(0, max).join(separator);
  return items.length > max ? `${shown}${separator}… ${formatCount(items.length - max)} more` : shown;
}

// JSON.stringify escapes C0 controls but passes DEL, the C1 controls and the
// line separators through raw; a JSON line on a terminal must not carry them either.
const JSON_UNSAFE = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** JSON.stringify, with every control character escaped (still valid JSON, the same value). */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(JSON_UNSAFE, (char) => `\\u${hex(char, 4)}`);
}

/**
 * A value as it appears in an error message: quoted, control characters
 * escaped (a newline must not split the one line), and cut short when huge.
 */
export function shown(value: string, max = 40): string {
  return `"${printable(value, max)}"`;
}
