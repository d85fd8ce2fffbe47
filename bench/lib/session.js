// A session: one init as PID 1 of a fresh pid namespace (bench/out/pidns),
// with bench/out/ctl as its child. Commands go to ctl's stdin and every
// command waits for ctl's one-line answer: no timing is used to synchronise.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

export class Session {
  /**
   * @param {string} pidns path of the pidns helper
   * @param {string[]} argv the init and its arguments, ending with ctl's path
   * @param {{ pinCpu?: number, extraFd?: boolean }} options
   */
  constructor(pidns, argv, options = {}) {
    const command = [pidns, '--', ...argv];
    if (options.pinCpu !== undefined) command.unshift('taskset', '-c', String(options.pinCpu));
    this.child = spawn(command[0], command.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe', ...(options.extraFd ? ['pipe'] : [])],
    });
    this.stderr = '';
    this.lines = [];
    this.waiters = [];
    let buffered = '';
    const onText = (text) => {
      buffered += text;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        this.lines.push(buffered.slice(0, newline));
        buffered = buffered.slice(newline + 1);
      }
      this.flush();
    };
    this.child.stdout.setEncoding('utf8').on('data', onText);
    if (options.extraFd) this.child.stdio[3].setEncoding('utf8').on('data', onText);
    this.child.stderr.setEncoding('utf8').on('data', (text) => { this.stderr += text; });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.closed = true;
        for (const waiter of this.waiters.splice(0)) {
          waiter.reject(new Error(`session ended (${code ?? signal}) while waiting; stderr: ${this.stderr.slice(-500)}`));
        }
        resolve({ code, signal });
      });
    });
    this.child.stdin.on('error', () => {});
  }

  flush() {
    while (this.lines.length && this.waiters.length) {
      const waiter = this.waiters.shift();
      clearTimeout(waiter.timer);
      waiter.resolve(this.lines.shift());
    }
  }

  /** The next line from the workload (ctl's stdout, or fd 3 of a floor app). */
  nextLine(timeoutMs = 120000) {
    if (this.closed && !this.lines.length) return Promise.reject(new Error(`session ended; stderr: ${this.stderr.slice(-500)}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = { resolve, reject, timer };
      this.waiters.push(waiter);
      this.flush();
    });
  }

  /** Sends one command to ctl and resolves with its answer. */
  command(line, timeoutMs) {
    this.child.stdin.write(`${line}\n`);
    return this.nextLine(timeoutMs);
  }

  /** Host pid of the namespace's PID 1 (the only child of pidns). */
  pid1() {
    const pidnsPid = this.child.pid;
    // With taskset in front, taskset execs pidns: same pid.
    const children = readFileSync(`/proc/${pidnsPid}/task/${pidnsPid}/children`, 'utf8').trim().split(/\s+/);
    return Number(children[0]);
  }

  async close() {
    if (!this.closed) {
      this.child.stdin.end('quit\n');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 15000);
      await this.exited;
      clearTimeout(timer);
    }
  }

  /** Ends the whole namespace: SIGKILL to its PID 1 takes everything in it down. */
  kill() {
    if (!this.closed) {
      try {
        process.kill(this.pid1(), 'SIGKILL');
      } catch {
        this.child.kill('SIGKILL');
      }
    }
    return this.exited;
  }
}

/** Memory and threads of pid from /proc (kB, as the kernel reports them). */
export function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (text, name) => Number(text.match(new RegExp(`^${name}:\\s+(\\d+)`, 'm'))?.[1] ?? NaN);
  return {
    rssKb: field(status, 'VmRSS'),
    pssKb: field(rollup, 'Pss'),
    anonKb: field(status, 'RssAnon'),
    threads: field(status, 'Threads'),
  };
}

/** Context switches (voluntary + involuntary) summed over all threads of pid. */
export function contextSwitches(pid) {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let status;
    try {
      status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    } catch {
      continue; // thread ended
    }
    for (const match of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)/gm)) total += Number(match[1]);
  }
  return total;
}

/** Parses "word key=value key=value" into { key: number }. */
export function parseFields(line) {
  const out = {};
  for (const match of line.matchAll(/(\w+)=(-?[\d.]+)/g)) out[match[1]] = Number(match[2]);
  return out;
}
