// Bad input: generated argv/environment combinations either run or fail with
// status 2 and ONE line that names the problem and the fix; never a stack
// trace, never a hang. 10,000+ in-process through parseInvocation, a few
// hundred through the real CLI, and the exec failures (126/127) as PID 1.
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseInvocation } from '../../dist/wrapper/args.js';
import { UsageError } from '../../dist/core/errors.js';
import { REAPER, run, within, requirePid1 } from '../harness/index.js';
import { reaperArgv, record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

// A seeded generator: a failure names its case index, and reruns repeat it.
let seed = 0x5eed;
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const HUGE = 'x'.repeat(200_000);
const signals = ['TERM', 'SIGTERM', 'sigusr1', '15', '0', '65', '99999999999999999999', '-1', 'SIGRTMIN+2', 'RTMAX-1',
  'SIGRTMIN+40', 'RTMIN-1', 'SIGFOO', '', ' ', 'SIG', '1.5', 'TERM\nKILL', '\u00ff\u00fe', '\ufffd', 'KILL', 'SIGKILL', HUGE];
const durations = ['5s', '250ms', '1.5s', '2m', '0', '10', '-1s', '5h', '1e3', '.5s', 'abc', '', '25h', '1441m',
  '99999999999999999999999', '5 s', 'NaN', 'Infinity', '5s\n', '\ufffd', HUGE];
const codes = ['0', '143', '255', '256', '-1', 'abc', '', '1,2,3', '1,,2', ',,', '0x10', '007', '1000', HUGE];
const rewrites = ['15:3', 'TERM:QUIT', '15:0', 'CHLD:TERM', 'KILL:TERM', 'a:b', '15', '15:3:4', ':', ',', '15:3,2:0', '0:15', '65:1', '1:65', HUGE];
const switches = ['1', '0', 'yes', 'no', 'on', 'off', 'true', 'false', 'maybe', '', '2', ' TRUE ', '\ufffd'];
const levels = ['0', '4', '9', 'debug', 'DEBUG', 'loud', '-1', '', HUGE];
const formats = ['text', 'json', 'JSON', 'xml', ''];
const optionWords = (): string[] => {
  switch (Math.floor(random() * 22)) {
    case 0: return ['-r', pick(rewrites)];
    case 1: return [`--rewrite=${pick(rewrites)}`];
    case 2: return ['-p', pick(signals)];
    case 3: return [`-p${pick(signals)}`];
    case 4: return ['-e', pick(codes)];
    case 5: return ['--drain-signal', pick(signals)];
    case 6: return [`--grace=${pick(durations)}`];
    case 7: return ['--stop-timeout', pick(durations)];
    case 8: return [pick(['-v', '-vv', '-vvv', '-vvvvvvv', '-q', '-w', '-g', '-c', '-s', '--no-drain', '-gvw'])];
    case 9: return [pick(['--unknown', '-x', '-Z', '--', '--=', '---', '--grace', '--no-drain=1', '--verbose=3', '-', '--log-format'])];
    case 10: return ['--log-format', pick(formats)];
    case 11: return [`--${pick(['gr\nace', 'grace\u0000', '\ufffd', HUGE.slice(0, 5000)])}`];
    case 12: return ['-e'];
    case 13: return ['-r'];
    case 14: return ['-' + pick(['vq', 'ge143', 'r15:3', 'pTERM', 'e', 'wz'])];
    default: return [];
  }
};
const programs = (): string[] => pick([[], [''], ['true'], ['--', 'true'], ['--', ''], ['--'], ['-', 'x'], ['node', '--inspect'],
  ['--', '-weird-name'], [HUGE], ['\ufffd\ufffd'], ['true', HUGE, '\u0000'], ['sh', '-c', 'exit 3']]);
const environment = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {};
  const n = Math.floor(random() * 3);
  for (let i = 0; i < n; i++) {
    switch (Math.floor(random() * 14)) {
      case 0: env.REAPER_VERBOSITY = pick(levels); break;
      case 1: env.REAPER_REWRITE = pick(rewrites); break;
      case 2: env.REAPER_EXPECT_EXIT = pick(codes); break;
      case 3: env.REAPER_GRACE = pick(durations); break;
      case 4: env.REAPER_STOP_TIMEOUT = pick(durations); break;
      case 5: env.REAPER_DRAIN_SIGNAL = pick(signals); break;
      case 6: env.REAPER_PARENT_DEATH_SIGNAL = pick(signals); break;
      case 7: env.REAPER_DRAIN = pick(switches); break;
      case 8: env.REAPER_WARN_ON_REAP = pick(switches); break;
      case 9: env.REAPER_LOG_FORMAT = pick(formats); break;
      case 10: env.TINI_VERBOSITY = pick(levels); break;
      case 11: env.REAPER_SUBREAPER = pick(switches); break;
      case 12: env.DUMB_INIT_SETSID = pick(switches); break;
      default: env.REAPER_PROCESS_GROUP = pick(switches);
    }
  }
  return env;
};

interface Case { argv: string[]; env: NodeJS.ProcessEnv }
const generate = (): Case => {
  const argv: string[] = [];
  const n = Math.floor(random() * 4);
  for (let i = 0; i < n; i++) argv.push(...optionWords());
  argv.push(...programs());
  return { argv, env: environment() };
};
const show = (c: Case) => JSON.stringify({ argv: c.argv.map((a) => (a.length > 80 ? `${a.slice(0, 20)}…(${a.length})` : a)), env: c.env }).slice(0, 400);

/** The one-line rule: no newline, not a novel, and a fix after the semicolon. */
const MAX_LINE = 300;
function badMessage(message: string): string | null {
  if (/[\n\r]/.test(message)) return 'has a line break';
  if (message.length > MAX_LINE) return `is ${message.length} characters long`;
  if (!/;/.test(message)) return 'names no fix (no "; do this")';
  return null;
}

const CASES = 12_000;
t.test(`${CASES.toLocaleString('en')} generated invocations parse or fail with one clear line`, async (t) => {
  let runs = 0;
  let usage = 0;
  const failures: string[] = [];
  const firstWords = new Map<string, number>();
  for (let i = 0; i < CASES; i++) {
    const c = generate();
    try {
      const invocation = parseInvocation(c.argv, c.env);
      if (invocation.action === 'run' && (invocation.options.command.length === 0 || invocation.options.command[0] === '')) {
        failures.push(`#${i} runs with no program: ${show(c)}`);
      }
      runs++;
    } catch (error) {
      if (!(error instanceof UsageError)) {
        failures.push(`#${i} threw ${error instanceof Error ? error.stack?.split('\n')[0] : String(error)}: ${show(c)}`);
        continue;
      }
      usage++;
      const problem = badMessage(error.message);
      if (problem) failures.push(`#${i} message ${problem}: ${JSON.stringify(error.message.slice(0, 200))} for ${show(c)}`);
      const word = error.message.split(/[ :]/)[0]!;
      firstWords.set(word, (firstWords.get(word) ?? 0) + 1);
    }
  }
  t.same(failures.slice(0, 20), [], `no case breaks the rules (${failures.length} did)`);
  t.ok(runs > 500 && usage > 500, `both outcomes are exercised: ${runs} run, ${usage} usage errors`);
  record('bad-input', 'parser', { cases: CASES, run: runs, usageErrors: usage, violations: failures.length });
});

t.test('negative control: the one-line rule catches a multi-line or huge message', async (t) => {
  t.equal(badMessage('unknown signal "TERM\nKILL"; use ...'), 'has a line break');
  t.match(badMessage(`unknown signal "${HUGE}"; use ...`), /characters long/);
  t.equal(badMessage('bad value'), 'names no fix (no "; do this")');
});

// ----- the real CLI (not PID 1), ~8 at a time --------------------------------

interface CliResult { code: number | null; signal: string | null; stderr: string; ms: number }
function cli(argv: Array<string | Buffer>, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  // Without tap's loader (its --import in NODE_OPTIONS): these runs are about reaper's parsing.
  const { NODE_OPTIONS: _, ...base } = process.env;
  // Buffer words go through sh as raw bytes (printf), since spawn decodes its args as UTF-8.
  const raw = argv.some((a) => Buffer.isBuffer(a));
  const command = raw
    ? ['env', '-u', 'NODE_OPTIONS', 'sh', '-c', `exec "$@"`, 'sh', process.execPath, REAPER, ...argv.map((a) => (Buffer.isBuffer(a) ? a.toString('latin1') : a))]
    : ['env', '-u', 'NODE_OPTIONS', process.execPath, REAPER, ...(argv as string[])];
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command[0]!, command.slice(1), { env: { ...base, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('latin1').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr, ms: Date.now() - started });
    });
  });
}

t.test('a few hundred generated invocations through the real CLI', async (t) => {
  seed = 0xc11;
  const cases: Case[] = [];
  while (cases.length < 200) {
    const c = generate();
    // Only quick programs: the generated ones that would run stay "true".
    // One argument or variable over 128 kB is E2BIG for exec itself.
    c.argv = c.argv.map((a) => (a.length > 100_000 ? a.slice(0, 50_000) : a));
    for (const [key, value] of Object.entries(c.env)) if (value!.length > 100_000) c.env[key] = value!.slice(0, 50_000);
    if (c.argv.includes('node')) continue;
    // exec cannot carry a NUL byte in an argument; the parser cases cover it.
    if (c.argv.some((a) => a.includes('\u0000'))) continue;
    cases.push(c);
  }
  const failures: string[] = [];
  let exits2 = 0;
  let ran = 0;
  let slowest = 0;
  for (let i = 0; i < cases.length; i += 8) {
    await Promise.all(cases.slice(i, i + 8).map(async (c, j) => {
      const result = await cli(c.argv, c.env);
      slowest = Math.max(slowest, result.ms);
      const lines = result.stderr.split('\n').filter(Boolean);
      let expected: number | 'usage';
      try {
        const invocation = parseInvocation(c.argv, c.env);
        expected = invocation.action === 'run' ? -1 : 0;
      } catch {
        expected = 'usage';
      }
      if (result.signal) failures.push(`#${i + j} killed by ${result.signal} (hang?): ${show(c)}`);
      else if (/\n\s+at /.test(result.stderr) || /internal error/.test(result.stderr)) failures.push(`#${i + j} stack trace: ${result.stderr.slice(0, 300)}`);
      else if (expected === 'usage') {
        exits2++;
        if (result.code !== 2) failures.push(`#${i + j} usage error exited ${result.code}: ${show(c)}`);
        if (lines.length !== 1 || !lines[0]!.startsWith('reaper: ')) failures.push(`#${i + j} ${lines.length} stderr lines: ${JSON.stringify(result.stderr.slice(0, 300))}`);
      } else {
        ran++;
      }
    }));
  }
  t.same(failures.slice(0, 20), [], `every CLI case ran or exited 2 with one line (${failures.length} failures)`);
  t.ok(exits2 > 50 && ran > 20, `${exits2} usage errors, ${ran} ran`);
  record('bad-input', 'cli', { cases: cases.length, usageErrors: exits2, ran, slowestMs: slowest, violations: failures.length });
});

t.test('options once accepted and ignored are refused by the real CLI; --stop-timeout 0 runs (issue 22)', async (t) => {
  const refused: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['-e', '', 'true'], {}, /^reaper: -e: "" has an empty exit code/],
    [['true'], { REAPER_EXPECT_EXIT: ',,' }, /^reaper: REAPER_EXPECT_EXIT: ",," has an empty exit code/],
    [['-r', 'CHLD:TERM', 'true'], {}, /^reaper: -r: "CHLD:TERM" would never apply/],
    [['-r', 'KILL:TERM', 'true'], {}, /^reaper: -r: "KILL:TERM" would never apply/],
    [['true'], { DUMB_INIT_SETSID: '2' }, /^reaper: DUMB_INIT_SETSID="2" is neither 1/],
  ];
  let refusedWell = 0;
  for (const [argv, env, message] of refused) {
    const result = await cli(argv, env);
    const what = `${Object.entries(env).map(([k, v]) => `${k}=${v} `).join('')}reaper ${argv.join(' ')}`;
    t.equal(result.code, 2, `${what}: exit 2`);
    t.match(result.stderr, message, `${what}: names what is wrong`);
    t.equal(result.stderr.split('\n').filter(Boolean).length, 1, `${what}: one line`);
    if (result.code === 2 && message.test(result.stderr) && result.stderr.split('\n').filter(Boolean).length === 1) refusedWell++;
  }
  let ran = 0;
  for (const [argv, env] of [[['--stop-timeout', '0', 'true'], {}], [['true'], { REAPER_STOP_TIMEOUT: '0' }]] as const) {
    const result = await cli([...argv], env);
    t.equal(result.code, 0, `${argv.join(' ')} ${JSON.stringify(env)}: runs (README: SIGKILL at once after SIGTERM), not a --forward-delay error`);
    if (result.code === 0) ran++;
  }
  record('bad-input', 'ignored-options', { invocations: refused.length, refused: refusedWell, stopTimeoutZero: 2, stopTimeoutZeroRan: ran });
});

t.test('non-UTF-8 bytes in argv and environment', async (t) => {
  const bad = Buffer.from([0xff, 0xfe, 0x80]);
  const signal = await cli([Buffer.concat([Buffer.from('--drain-signal=SIG'), bad]), 'true']);
  t.equal(signal.code, 2);
  t.equal(signal.stderr.split('\n').filter(Boolean).length, 1, 'one line');
  t.match(signal.stderr, /^reaper: --drain-signal: unknown signal .*; use a name such as SIGTERM/);
  const option = await cli([Buffer.concat([Buffer.from('--'), bad]), 'true']);
  t.equal(option.code, 2);
  t.match(option.stderr, /^reaper: unknown option "--.*"; see reaper --help/);
  const program = await cli(['--', Buffer.concat([Buffer.from('/nonexistent/'), bad])]);
  t.equal(program.code, 127, 'a non-UTF-8 program path that does not exist: 127');
  t.equal(program.stderr.split('\n').filter(Boolean).length, 1);
  const arg = await cli(['--', 'sh', '-c', 'printf %s "$1" | od -An -tx1', 'sh', bad]);
  t.equal(arg.code, 0, 'non-UTF-8 bytes in the app\'s arguments run');
  const env = await cli(['true'], { REAPER_GRACE: bad.toString('latin1') });
  t.equal(env.code, 2);
  t.match(env.stderr, /^reaper: REAPER_GRACE: .* is not a duration; use e\.g\. 500ms/);
});

t.test('huge arguments: a 100 kB option value and 1,000 program arguments', async (t) => {
  const huge = await cli(['--grace', 'x'.repeat(100_000), 'true']);
  t.equal(huge.code, 2);
  t.ok(huge.stderr.length < 400, `the error line stays short (${huge.stderr.length} bytes)`);
  const many = await cli(['--', 'sh', '-c', 'echo $#', 'sh', ...Array.from({ length: 1000 }, (_, i) => `arg${i}`.repeat(20))]);
  t.equal(many.code, 0, 'a long argv runs');
});

// ----- exec failures as PID 1 ------------------------------------------------

t.test('exec failures as PID 1: 126/127 with a message naming which', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reaper-exec-'));
  const noExec = join(dir, 'no-exec.sh');
  writeFileSync(noExec, '#!/bin/sh\necho never\n');
  const missingInterp = join(dir, 'missing-interp.sh');
  writeFileSync(missingInterp, '#!/no/such/interpreter -x\necho never\n');
  chmodSync(missingInterp, 0o755);
  const interpNoExec = join(dir, 'interp-not-exec.sh');
  writeFileSync(interpNoExec, `#!${noExec}\necho never\n`);
  chmodSync(interpNoExec, 0o755);
  // (ENOEXEC cannot be reached: execvp hands a file it cannot load to /bin/sh.)
  const subdir = join(dir, 'a-directory');
  mkdirSync(subdir);
  const inPath = join(dir, 'bin');
  mkdirSync(inPath);
  writeFileSync(join(inPath, 'tool'), '#!/no/such/node\n');
  chmodSync(join(inPath, 'tool'), 0o755);
  const cases: Array<[string[], number, RegExp, NodeJS.ProcessEnv?]> = [
    [[subdir], 126, /cannot run .*a-directory: it is a directory; name the program inside it/],
    [[noExec], 126, /cannot run .*no-exec\.sh: permission denied, it is not executable; chmod \+x it/],
    [[missingInterp], 127, /cannot run .*missing-interp\.sh: its interpreter \/no\/such\/interpreter \(from the #! line\) was not found/],
    [[interpNoExec], 126, /cannot run .*interp-not-exec\.sh: permission denied/],
    [['tool'], 127, /cannot run .*bin\/tool: its interpreter \/no\/such\/node/, { PATH: `${inPath}:/usr/bin:/bin` }],
    [['no-such-tool-xyz'], 127, /not found in PATH .*; install it or give its full path/],
  ];
  for (const [argv, code, pattern, env] of cases) {
    const done = await within(run(reaperArgv(['--', ...argv]), { env }).finished, 20_000, argv[0]!);
    t.equal(done.code, code, `${argv[0]}: exit ${code}`);
    t.match(done.stderr, pattern, `${argv[0]}: names the cause`);
    t.equal(done.stderr.split('\n').filter(Boolean).length, 1, `${argv[0]}: one line`);
  }
});
