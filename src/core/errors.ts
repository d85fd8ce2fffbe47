// Errors reaper raises itself carry an ERR_REAPER_* code; system errors keep
// Node's shape (code 'ECHILD', negative errno, syscall), built in native/addon/addon.cc.

export class ReaperError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true, writable: true });
  }
}

/** A mistake in how reaper was invoked: reported in one line, exit status 2. */
export class UsageError extends ReaperError {
  constructor(message: string) {
    super('ERR_REAPER_USAGE', message);
  }
}

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

export function isSystemError(value: unknown): value is SystemError {
  return value instanceof Error && typeof (value as SystemError).syscall === 'string';
}
