// Every log line is whole and cannot be forged (issue 22), with reaper as a
// real PID 1: a line longer than the pipe's free space is never cut and glued
// to the next (1,500 leftovers in JSON, a 100 KB command line in text, read
// slowly through a pipe and a stream socket); names and command lines holding
// a newline and a forged "reaper[1] ERROR" line, ESC/OSC/C1 sequences, ")"
// and bytes that are not UTF-8 are escaped in every line that shows them
// (orphans under -w and --orphans terminate, the drain summary, the app's
// exit line, reaper-zombies and its usage errors); UTF-8 is shown as UTF-8.
// Figures go to out/log-lines.json for RELIABILITY.md (fixtures/report.js).
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAPER, ROOT, fixture, requirePid1, run, teardown, until } from '../harness/index.js';
import { zombieCensus } from '../../dist/census/census.js';
import { record } from '../harness/stress.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const HOSTILE = fixture('hostile-names.sh');
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * reaper as PID 1, to completion; stdout and stderr as bytes. env -u keeps
 * tap's NODE_OPTIONS loader out (the harness does the same); user
 * NODE_OPTIONS are test/node-options.ts's subject.
 */
function reaperRun(args: string[], options: { reader?: 'after-exit' | 'pipe' | 'socket' | 'pty'; env?: NodeJS.ProcessEnv } = {}) {
  // --kill-child: should the run time out, its namespace goes with it.
  const command = ['env', '-u', 'NODE_OPTIONS', 'unshare', '--pid', '--fork', '--mount-proc', '--kill-child', node, REAPER, ...args];
  const argv = options.reader ? [fixture('slow-reader.py'), options.reader, ...command] : command;
  const done = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ...options.env }, timeout: 120_000, maxBuffer: 64 << 20 });
  return { code: done.status, out: Buffer.concat([done.stdout, done.stderr]) };
}

/** For RELIABILITY.md: what the hostile names produced, over every output checked. */
const names = { outputs: 0, lines: 0, foreignLines: 0, controlCharacters: 0, invalidUtf8: 0 };

/** Output that can go to a terminal: valid UTF-8 with no ESC, BEL or C1 control. */
function assertTerminalSafe(t: Test, out: Buffer, what: string): string {
  let text = '';
  t.doesNotThrow(() => { text = strictUtf8.decode(out); }, `${what}: valid UTF-8 (invalid bytes are shown as U+FFFD)`);
  if (!text) {
    names.invalidUtf8++;
    text = out.toString('utf8');
  }
  const controls = text.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g)?.length ?? 0;
  t.equal(controls, 0, `${what}: no control character but the newlines between lines`);
  names.outputs++;
  names.controlCharacters += controls;
  record('log-lines', 'names', names);
  return text;
}

/** Every line of reaper's text output is its own: none was started by a name. */
function assertOwnLines(t: Test, text: string, what: string): string[] {
  const lines = text.split('\n').filter(Boolean);
  t.ok(lines.length > 0, `${what}: reaper said something`);
  const foreign = lines.filter((line) => !/^reaper\[1\] (ERROR|WARN|NOTICE|INFO|DEBUG|TRACE): /.test(line));
  if (what !== 'long-command') {
    names.lines += lines.length;
    names.foreignLines += foreign.length;
    record('log-lines', 'names', names);
  }
  t.same(foreign, [], `${what}: every line is a whole reaper line (${lines.length} lines)`);
  return lines;
}

t.test('1,500 leftovers, --log-format json, to a pipe read only after exit: the drain report is one line that parses, its lists shortened', async (t) => {
  const { code, out } = reaperRun(['--log-format', 'json', '--', 'sh', '-c', 'i=0; while [ $i -lt 1500 ]; do sleep 100 & i=$((i+1)); done; exit 3'],
    { reader: 'after-exit' });
  t.equal(code, 3, "the app's status");
  const text = out.toString('utf8');
  t.ok(text.endsWith('\n'), 'the output ends with a whole line');
  const lines = text.split('\n').filter(Boolean);
  const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  t.pass(`all ${lines.length} lines parse`);
  const drain = records.find((r) => r.event === 'drain');
  t.ok(drain, 'the drain report is there');
  t.ok(Math.max(...lines.map((l) => Buffer.byteLength(l) + 1)) <= 4096, 'no line is longer than PIPE_BUF (4096 bytes)');
  t.equal((drain!.processes as unknown[]).length, 20, 'the process list is shortened');
  t.equal(drain!.processesOmitted, 1480, 'and says how many more there were');
  t.match(drain!.msg, /^drained 1500 processes in /);
  record('log-lines', 'json-1500', { lines: lines.length, drainReportBytes: Buffer.byteLength(lines[records.indexOf(drain!)]!) + 1, shown: 20, omitted: drain!.processesOmitted });
});

// A pipe takes a line (at most PIPE_BUF bytes) whole or not at all; a socket
// or a terminal takes part of one, and reaper finishes it (test/fixtures/slow-reader.py).
for (const reader of ['pipe', 'socket', 'pty'] as const) {
  t.test(`1,500 reap lines and the drain report in JSON, to a ${reader} read slowly: every line that arrives parses`, async (t) => {
    const { code, out } = reaperRun(['-w', '--log-format', 'json', '--', 'sh', '-c', 'i=0; while [ $i -lt 1500 ]; do sleep 100 & i=$((i+1)); done; exit 3'],
      { reader });
    t.equal(code, 3, "the app's status");
    const lines = out.toString('utf8').split('\n');
    t.equal(lines.pop(), '', 'the output ends with a whole line');
    t.ok(lines.some((line) => line.includes('"event":"reap"')), 'reap lines arrived (an empty output would pass the rest)');
    const broken = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    t.same(broken.map((line) => line.slice(0, 200)), [], `all ${lines.length} lines parse (of 1,501 written; the rest were dropped whole)`);
    // Whether the last line (the drain report) arrived depends on the reader's speed: a figure, not an assertion.
    record('log-lines', `slow-${reader}`, { written: 1501, arrived: lines.length, broken: broken.length, drainReport: lines.some((line) => line.includes('"event":"drain"')) });
  });
}

/**
 * sh -c text that leaves an orphan running `sh -c SCRIPT x "$BIG"` and waits
 * until it is gone. The orphan's parent exits only once the orphan has
 * exec'd (it touches $DIR/ready first): the scan of --orphans terminate then
 * reads the orphan's own command line, not its parent's.
 */
const leaveOrphan = (script: string) => `( READY="$DIR/ready" sh -c ': > "$READY"; ${script}' x "$BIG" & echo $! > "$DIR/pid"; ` +
  'while [ ! -e "$DIR/ready" ]; do sleep 0.01; done ); while kill -0 "$(cat "$DIR/pid")" 2>/dev/null; do sleep 0.01; done';

t.test('a 100 KB command line under --orphans terminate: shortened with a count, not cut and glued to the next line', async (t) => {
  const big = 'a'.repeat(100_000);
  const { code, out } = reaperRun(['--orphans', 'terminate', '--', 'sh', '-c', leaveOrphan('sleep 30; :')], { env: { BIG: big, DIR: scratch(t) } });
  t.equal(code, 0);
  const lines = assertOwnLines(t, out.toString('utf8'), 'long-command');
  const orphan = lines.find((line) => /orphan pid \d+ \(sh -c : > "\$READY"; sleep 30; : x a+… 99,\d{3} more characters\) was re-parented to reaper/.test(line));
  t.ok(orphan, 'the orphan line names the command line, shortened with the count of the rest');
  const longest = Math.max(...lines.map((l) => Buffer.byteLength(l) + 1));
  t.ok(longest <= 4096, 'no line is longer than PIPE_BUF (4096 bytes)');
  record('log-lines', 'long-command', { commandBytes: 100_000, longestLineBytes: longest, foreignLines: lines.filter((l) => !l.startsWith('reaper[1] ')).length });
});

t.test('a 100 KB command line in text to a pipe read only after exit: the next line starts a line', async (t) => {
  const big = 'a'.repeat(100_000);
  const { out } = reaperRun(['--orphans', 'terminate', '--grace', '100ms', '--', 'sh', '-c', leaveOrphan('trap "" TERM; sleep 30; :')],
    { env: { BIG: big, DIR: scratch(t) }, reader: 'after-exit' });
  const lines = assertOwnLines(t, out.toString('utf8'), 'long-command');
  t.ok(lines.some((line) => / more characters\) outlived the grace period/.test(line)), 'the SIGKILL line is whole');
});

t.test('names under -w: an orphan named "\\nreaper[1]\\e\\x9b)\\xff" is one escaped line', async (t) => {
  const { code, out } = reaperRun(['-w', '--', HOSTILE, 'orphan-exits', scratch(t)]);
  t.equal(code, 0);
  const text = assertTerminalSafe(t, out, '-w');
  const lines = assertOwnLines(t, text, '-w');
  t.ok(lines.some((line) => line.includes('reaped orphan pid') && line.includes('(\\nreaper[1]\\x1b\\x9b)\ufffd): exited with code 0')),
    'the name, escaped, in the reap line');
});

t.test('command lines under --orphans terminate: a forged ERROR line, OSC and BEL, ")" and UTF-8 in argv', async (t) => {
  const { code, out } = reaperRun(['--orphans', 'terminate', '--', HOSTILE, 'orphan-runs', scratch(t)]);
  t.equal(code, 0);
  const text = assertTerminalSafe(t, out, '--orphans terminate');
  const lines = assertOwnLines(t, text, '--orphans terminate');
  t.notOk(lines.some((line) => line.startsWith('reaper[1] ERROR: forged')), 'no forged ERROR line');
  t.ok(lines.some((line) => line.includes('(sh -c : > "$READY"; sleep 30; : x\\nreaper[1] ERROR: forged line, app was OOM-killed\\x1b]0;pwned\\x07 ) café \ufffd\ufffd) was re-parented')),
    'the command line escaped, café as UTF-8 (not cafÃ©), the invalid bytes as U+FFFD');
});

t.test('the drain summary and the app-exit line escape names', async (t) => {
  const drain = reaperRun(['--grace', '100ms', '--', HOSTILE, 'leftover', scratch(t)]);
  t.equal(drain.code, 0);
  const lines = assertOwnLines(t, assertTerminalSafe(t, drain.out, 'drain'), 'drain');
  t.ok(lines.some((line) => /^reaper\[1\] NOTICE: drained .*killed after the 100ms grace period: .*\d+ \(\\nreaper\[1\]\\x1b\\x9b\)\ufffd\)/.test(line)),
    'the killed leftover named, escaped, in the summary');

  const killed = reaperRun(['--', HOSTILE, 'app-killed', scratch(t)]);
  t.equal(killed.code, 137);
  const exit = assertOwnLines(t, assertTerminalSafe(t, killed.out, 'app exit'), 'app exit');
  t.ok(exit.some((line) => line.startsWith('reaper[1] NOTICE: \\nreaper[1]\\x1b\\x9b)\ufffd (pid ') && line.includes('SIGKILL')), 'the app-exit line, its name escaped');
});

t.test('JSON lines keep names exact: the newline and the ESC are in the value, escaped by JSON', async (t) => {
  const { out } = reaperRun(['-w', '--log-format', 'json', '--', HOSTILE, 'orphan-exits', scratch(t)]);
  const text = assertTerminalSafe(t, out, 'json');
  const reap = text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { event?: string; comm?: string }).find((r) => r.event === 'reap');
  t.equal(reap?.comm, '\nreaper[1]\u001b\u009b)\ufffd', 'the comm as the kernel has it (the invalid byte as U+FFFD)');
});

t.test('reaper-zombies: a zombie named with ESC and a parent whose argv forges a census line are shown escaped', async (t) => {
  const arg = 'x\nparent pid 1 [reaper]: healthy\u001b]0;pwned\u0007 café';
  const zombieName = '\u001b[2J\u001b[Hz)';
  // Short: reaper-zombies shows 160 characters of a command line.
  const perl = run(['perl', '-e', 'fork or do { open F, ">/proc/self/comm"; print F $ARGV[1]; exit 0 }; $|=1; print "forked\\n"; sleep 1000', arg, zombieName], { pid1: false });
  teardown(t, perl);
  await perl.waitFor(/^forked$/, { timeoutMs: 15_000 });
  await until(() => zombieCensus().find((g) => g.parent.pid === perl.child.pid), 10_000, 'the zombie under perl');
  // tap's NODE_OPTIONS loader is left out as in test/census.ts (it writes into .tap/); tap's
  // spawn hook puts it back into any env given, so env -u takes it out at exec.
  const zombies = (...args: string[]) => spawnSync('env', ['-u', 'NODE_OPTIONS', node, join(ROOT, 'dist', 'census', 'zombies-cli.js'), ...args]);
  const census = zombies();
  const text = assertTerminalSafe(t, census.stdout, 'reaper-zombies');
  t.notMatch(text, /^parent pid 1 \[reaper\]: healthy/m, 'no forged census line');
  t.match(text, 'perl -e fork or do', 'the parent is listed');
  t.ok(text.includes('x\\nparent pid 1 [reaper]: healthy\\x1b]0;pwned\\x07 café'), 'its argv escaped, café as UTF-8');
  t.ok(text.includes('(\\x1b[2J\\x1b[Hz))'), "the zombie's name escaped");
  const json = zombies('--json');
  assertTerminalSafe(t, json.stdout, 'reaper-zombies --json');
  t.ok((JSON.parse(json.stdout.toString()) as { groups: Array<{ comms: string[] }> }).groups.some((g) => g.comms.includes(zombieName)), '--json keeps the exact name');

  const usage = zombies('--max', '1\nreaper-zombies: healthy\u001b[2J');
  t.equal(usage.status, 2);
  const error = assertTerminalSafe(t, usage.stderr, 'usage error');
  t.equal(error, 'reaper-zombies: --max: "1\\nreaper-zombies: healthy\\x1b[2J" is not a number of zombies; use a whole number such as 0 or 10.\n', 'one line, the value escaped');
  perl.signal('SIGKILL');
  await perl.finished;
});

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'reaper-log-lines-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
