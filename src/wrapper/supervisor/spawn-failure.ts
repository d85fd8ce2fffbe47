// Turns a failed spawn into the exit code and the one line a user needs:
// what went wrong with which program, and what to do about it.
import { accessSync, constants, existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { needsEscape, shown } from '../../core/format.js';
import { isSystemError } from '../../core/errors.js';

export interface SpawnFailure {
  exitCode: number;
  message: string;
}

/** Where execvp would find file, or null. */
function resolveProgram(file: string): string | null {
  if (file.includes('/')) return existsSync(file) ? file : null;
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const candidate = join(dir || '.', file);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

function interpreterOf(path: string): string | null {
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(256);
      const n = readSync(fd, head, 0, head.length, 0);
      const line = head.subarray(0, n).toString('latin1').split('\n')[0]!;
      return line.startsWith('#!') ? line.slice(2).trim().split(/\s+/)[0] ?? null : null;
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

/** A path as it appears in the message: plain, unless a control character or its length would break the one line. */
function display(path: string): string {
  return needsEscape(path) || path.length > 200 ? shown(path, 200) : path;
}

export function describeSpawnFailure(error: unknown, rawFile: string): SpawnFailure {
  const file = display(rawFile);
  if (!isSystemError(error)) return { exitCode: 1, message: `could not start ${file}: ${String(error)}` };
  if (error.syscall === 'clone') {
    return {
      exitCode: 1,
      message: `could not create a process for ${file} (${error.code}): the process limit (pids.max or ulimit -u) or memory is exhausted; raise the limit or stop other processes.`,
    };
  }
  const resolved = resolveProgram(rawFile);
  const found = resolved === null ? null : display(resolved);
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR': {
      if (!resolved) {
        return {
          exitCode: 127,
          message: rawFile.includes('/')
            ? `cannot run ${file}: no such file; check the path.`
            : `cannot run ${file}: not found in PATH (${process.env.PATH ?? ''}); install it or give its full path.`,
        };
      }
      const interpreter = interpreterOf(resolved);
      return {
        exitCode: 127,
        message: interpreter
          ? `cannot run ${found}: its interpreter ${display(interpreter)} (from the #! line) was not found; install it or fix the #! line.`
          : `cannot run ${found}: a file it needs (its interpreter or dynamic loader) was not found; check that it was built for this system.`,
      };
    }
    case 'EACCES': {
      if (resolved && statSync(resolved).isDirectory()) {
        return { exitCode: 126, message: `cannot run ${found}: it is a directory; name the program inside it.` };
      }
      let executable = false;
      try {
        if (resolved) accessSync(resolved, constants.X_OK);
        executable = Boolean(resolved);
      } catch {}
      return {
        exitCode: 126,
        message: executable
          ? `cannot run ${found}: permission denied (a noexec mount, or its interpreter is not executable); check the mount options and the #! line.`
          : `cannot run ${found ?? file}: permission denied, it is not executable; chmod +x it or run it through its interpreter.`,
      };
    }
    case 'ENOEXEC':
      return { exitCode: 126, message: `cannot run ${found ?? file}: not an executable format for this system; check that it was built for this architecture.` };
    default:
      return { exitCode: 126, message: `cannot run ${found ?? file}: ${error.message.replace(/, spawn .*$/, '')}.` };
  }
}
