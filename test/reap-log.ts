// The reap log: with -w (WARN) or -v (INFO) every reaped orphan is logged with
// its pid, command name, exit status or signal, and age; --log-format json
// gives event "reap" lines. Two orphans: orphan-code.sh exits with code 7,
// orphan-kill.sh is killed by SIGUSR1 (their comm is the script's name).
import t, { type Test } from 'tap';
import { childrenOf, fixture, runReaper, teardown, until, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const SPAWN = fixture('census/spawn-orphans.sh');

interface ReapLine {
  time: string;
  level: string;
  pid: number;
  msg: string;
  event: string;
  comm: string;
  exitCode: number | null;
  signal: string | null;
  ageMs: number | null;
}

/** Runs spawn-orphans.sh under reaper, waits for both reap lines, stops the app. */
async function withOrphans(t: Test, args: string[], pid1: boolean, lines: Array<[RegExp, string]>) {
  const reaper = runReaper([...args, '--', SPAWN], { pid1 });
  teardown(t, reaper);
  await reaper.waitFor(/^spawned$/, { timeoutMs: 15_000 });
  const matches: RegExpMatchArray[] = [];
  for (const [pattern] of lines) matches.push(await reaper.waitFor(pattern, { timeoutMs: 15_000 }));
  reaper.signal('SIGTERM');
  const done = await reaper.finished;
  t.equal(done.code, 143, 'the app (sleep) was stopped by the forwarded SIGTERM');
  return { matches, done };
}

for (const pid1 of [true, false]) {
  const where = pid1 ? 'as PID 1' : 'as a subreaper';

  t.test(`text, -w, ${where}: WARN lines with comm and status`, async (t) => {
    const { matches } = await withOrphans(t, ['-w'], pid1, [
      [/^reaper\[(\d+)\] WARN: reaped orphan pid (\d+) \(orphan-code\.sh\): exited with code 7 after (\d+(?:\.\d+)?)(ms|s)$/, 'code-7 reap line'],
      [/^reaper\[(\d+)\] WARN: reaped orphan pid (\d+) \(orphan-kill\.sh\): was killed by SIGUSR1 after (\d+(?:\.\d+)?)(ms|s)$/, 'SIGUSR1 reap line'],
    ]);
    for (const match of matches) {
      if (pid1) t.equal(match[1], '1', 'logged by PID 1');
      t.not(match[2], match[1], 'the orphan pid is not reaper');
    }
    t.not(matches[0]![2], matches[1]![2], 'two different orphans');
  });
}

t.test('text, -v: INFO lines (not WARN)', async (t) => {
  const { done } = await withOrphans(t, ['-v'], true, [
    [/^reaper\[1\] INFO: reaped orphan pid \d+ \(orphan-code\.sh\): exited with code 7 after \S+$/, 'code-7 INFO line'],
    [/^reaper\[1\] INFO: reaped orphan pid \d+ \(orphan-kill\.sh\): was killed by SIGUSR1 after \S+$/, 'SIGUSR1 INFO line'],
  ]);
  t.notMatch(done.stderr, /WARN: reaped orphan/, 'no WARN reap lines without -w');
});

for (const [flag, level] of [['-w', 'warn'], ['-v', 'info']] as const) {
  t.test(`--log-format json ${flag}: event "reap" lines at level ${level}`, async (t) => {
    const { done } = await withOrphans(t, [flag, '--log-format', 'json'], true, [
      [/"event":"reap".*"comm":"orphan-code\.sh"/, 'code-7 JSON line'],
      [/"event":"reap".*"comm":"orphan-kill\.sh"/, 'SIGUSR1 JSON line'],
    ]);
    const lines = done.stderr.trim().split('\n').map((line) => {
      try {
        return JSON.parse(line) as ReapLine;
      } catch {
        t.fail(`not a JSON line: ${line}`);
        return null;
      }
    });
    t.ok(lines.every(Boolean), 'every stderr line is JSON');
    const reaps = lines.filter((line): line is ReapLine => line?.event === 'reap');
    const code = reaps.find((line) => line.comm === 'orphan-code.sh')!;
    const killed = reaps.find((line) => line.comm === 'orphan-kill.sh')!;
    t.match(code, { level, exitCode: 7, signal: null });
    t.match(killed, { level, exitCode: null, signal: 'SIGUSR1' });
    for (const line of [code, killed]) {
      t.ok(!Number.isNaN(Date.parse(line.time)), 'ISO time');
      t.ok(typeof line.ageMs === 'number' && line.ageMs >= 0 && line.ageMs < 60_000, `ageMs ${line.ageMs}`);
      const inMessage = /reaped orphan pid (\d+) \(/.exec(line.msg);
      t.ok(inMessage, 'the message names the orphan pid');
      t.match(line.msg, line.signal ? /was killed by SIGUSR1/ : /exited with code 7/);
    }
    t.notMatch(done.stderr, /reaper\[\d+\]/, 'no text lines mixed in');
  });
}

t.test('negative control: no reap lines at the default verbosity, or with -q -w', async (t) => {
  for (const args of [[], ['-q', '-w']]) {
    const reaper = runReaper([...args, '--', SPAWN]);
    teardown(t, reaper);
    await reaper.waitFor(/^spawned$/, { timeoutMs: 15_000 });
    // The orphans are gone once nothing but the app is left below reaper.
    const init = reaper.initPid();
    await until(() => childrenOf(init).length === 1, 10_000, 'the orphans exited and were reaped');
    reaper.signal('SIGTERM');
    const done = await reaper.finished;
    t.equal(done.code, 143);
    t.notMatch(done.stderr, /reaped orphan/, `${args.join(' ') || 'default'}: no reap lines`);
  }
});
