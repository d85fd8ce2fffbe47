// Wrapper mode as a real PID 1 (unshare --pid --fork --mount-proc) and as a
// subreaper: exit status, reaping, signal forwarding, exec failures, stdio.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fixture, run, runReaper, until, zombieChildren, REAPER, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const printSignals = [node, fixture('print-signals.js')];

t.test('exit codes 0..255 pass through', async (t) => {
  const codes = Array.from({ length: 256 }, (_, i) => i);
  const results = new Map<number, number | null>();
  // Not PID 1 here: 256 namespaces would add nothing but time; the PID 1
  // path is covered by the cases below.
  for (let i = 0; i < codes.length; i += 16) {
    await Promise.all(codes.slice(i, i + 16).map(async (code) => {
      const done = await runReaper(['sh', '-c', `exit ${code}`], { pid1: false }).finished;
      results.set(code, done.code);
    }));
  }
  const wrong = codes.filter((code) => results.get(code) !== code);
  t.same(wrong, [], 'every code came back unchanged');
});

t.test('as PID 1: exit code and output pass through', async (t) => {
  const done = await runReaper(['sh', '-c', 'echo "pid=$$ ppid=$PPID"; exit 42']).finished;
  t.equal(done.code, 42);
  t.match(done.stdout, /pid=\d+ ppid=1\n/, 'the app is a child of reaper, PID 1');
  t.equal(done.stderr, '', 'nothing on stderr at the default verbosity');
});

for (const [signal, number] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1], ['SIGQUIT', 3], ['SIGUSR2', 12]] as const) {
  t.test(`${signal} to PID 1 kills a default-disposition child: exit ${128 + number}`, async (t) => {
    const reaper = runReaper(['sh', '-c', 'echo ready; exec sleep 1000']);
    await reaper.waitFor(/^ready$/);
    reaper.signal(signal);
    const done = await reaper.finished;
    t.equal(done.code, 128 + number);
    // "ready" comes from sh just before it execs sleep: the signal may find either.
    t.match(done.stderr, new RegExp(`(sleep|sh) \\(pid \\d+\\) was killed by ${signal}`), 'says how the app died');
  });
}

t.test('-e maps an expected exit code to 0', async (t) => {
  const term = runReaper(['-e', '143', '--', 'sh', '-c', 'echo ready; exec sleep 1000']);
  await term.waitFor(/^ready$/);
  term.signal('SIGTERM');
  t.equal((await term.finished).code, 0, '143 after SIGTERM reported as 0');
  t.equal((await runReaper(['-e', '3', '-e', '4', 'sh', '-c', 'exit 3'], { pid1: false }).finished).code, 0);
  t.equal((await runReaper(['--expect-exit=4', 'sh', '-c', 'exit 3'], { pid1: false }).finished).code, 3, 'other codes untouched');
  t.equal((await runReaper(['sh', '-c', 'exit 3'], { pid1: false, env: { REAPER_EXPECT_EXIT: '1,3' } }).finished).code, 0, 'env twin');
});

t.test('as PID 1: 100 orphans are reaped, 0 zombies remain', async (t) => {
  const reaper = runReaper(['-w', '--', 'sh', '-c', `${fixture('make-orphans.sh')} 100 && exec sleep 1000`]);
  await reaper.waitFor(/orphans ready/);
  // One warning per reaped orphan: wait for the hundredth.
  t.ok(await reaper.waitFor(/reaped orphan pid \d+ \(sleep\): exited with code 0/, { count: 100, stream: 'stderr' }), 'reaper logged 100 reaps');
  t.equal((reaper.stderr().match(/reaped orphan pid \d+ \(sleep\)/g) ?? []).length, 100, '100 reap lines');
  t.same(zombieChildren(reaper.initPid()), [], 'no zombie under PID 1');
  reaper.signal('SIGTERM');
  t.equal((await reaper.finished).code, 143);
});

t.test('negative control: the same orphans under Node as PID 1 stay zombies', async (t) => {
  const init = run([node, fixture('node-as-init.js'), 'sh', '-c', `${fixture('make-orphans.sh')} 100`]);
  await init.waitFor(/child exited 0/);
  await until(() => zombieChildren(init.initPid()).length >= 100, 20_000, '100 zombies');
  t.equal(zombieChildren(init.initPid()).length, 100, 'every orphan is left a zombie under PID 1');
  init.signal('SIGTERM');
  await init.finished;
});

t.test('not PID 1: reaper becomes a subreaper and reaps the orphans', async (t) => {
  const reaper = runReaper(['-w', '--', 'sh', '-c', `${fixture('make-orphans.sh')} 50 && echo "pid=$$" && exec sleep 1000`], { pid1: false });
  const [, pid] = (await reaper.waitFor(/^pid=(\d+)$/))!;
  await reaper.waitFor(/reaped orphan pid/, { count: 50, stream: 'stderr' });
  t.equal((reaper.stderr().match(/reaped orphan pid \d+ \(sleep\)/g) ?? []).length, 50, 'all 50 came to reaper');
  t.same(zombieChildren(reaper.child.pid!), [], 'no zombie under reaper');
  t.notMatch(reaper.stderr(), /not PID 1/, 'no warning when the subreaper bit could be set');
  process.kill(Number(pid), 'SIGTERM');
  t.equal((await reaper.finished).code, 143);
});

t.test('warns when a shell is PID 1 above reaper', async (t) => {
  const done = await run(['sh', '-c', `${node} ${REAPER} -- true; exit $?`]).finished;
  t.equal(done.code, 0);
  t.match(done.stderr, /WARN: PID 1 is "sh -c .*signals sent to the container \(docker stop\) reach it.*ENTRYPOINT \[/);
});

t.test('forwards catchable signals, real-time ones included', async (t) => {
  const reaper = runReaper(['--', ...printSignals]);
  await reaper.waitFor(/^ready/);
  for (const signal of ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGALRM', 'SIGWINCH', 'SIGCONT', 'SIGURG', 'SIGPIPE'] as const) {
    reaper.signal(signal);
    t.ok(await reaper.waitFor(new RegExp(`^signal ${signal}$`)), `${signal} reached the child`);
  }
  reaper.signal('SIGTERM');
  t.equal((await reaper.finished).code, 0, 'the child handled SIGTERM and exited 0');
});

t.test('real-time signals 34 and 64 are forwarded', async (t) => {
  const reaper = runReaper(['--', 'python3', fixture('rt-signals.py'), '34', '40', '64']);
  await reaper.waitFor(/^ready/);
  for (const number of [34, 40, 64]) {
    reaper.signal(number as unknown as NodeJS.Signals);
    t.ok(await reaper.waitFor(new RegExp(`^signal ${number}$`)), `signal ${number} reached the child`);
  }
  reaper.signal('SIGTERM');
  t.equal((await reaper.finished).code, 0);
});

t.test('a hand-sent SIGCHLD is not forwarded', async (t) => {
  const reaper = runReaper(['--', ...printSignals]);
  await reaper.waitFor(/^ready/);
  reaper.signal('SIGCHLD');
  // SIGWINCH (28) is delivered after a pending SIGCHLD (17): once it arrives,
  // the SIGCHLD has been handled.
  reaper.signal('SIGWINCH');
  t.ok(await reaper.waitFor(/^signal SIGWINCH$/), 'SIGWINCH, sent after it, arrived');
  t.notMatch(reaper.stdout(), /signal SIGCHLD/);
  reaper.signal('SIGTERM');
  await reaper.finished;
});

t.test('-g forwards to the whole process group', async (t) => {
  // sh ignores USR1 itself (its children reset it: Node restores defaults)
  // and turns TERM into a clean exit once the group has got it too.
  const script = `trap "" USR1; trap "exit 0" TERM; ${printSignals.join(' ')} & ${printSignals.join(' ')} & wait; wait`;
  const group = runReaper(['-g', '--', 'sh', '-c', script]);
  await group.waitFor(/^ready/, { count: 2 });
  group.signal('SIGUSR1');
  t.ok(await group.waitFor(/^signal SIGUSR1$/, { count: 2 }), 'both background processes got SIGUSR1');
  group.signal('SIGTERM');
  t.equal((await group.finished).code, 0);

  // Negative control: without -g only sh gets it (and ignores it).
  const single = runReaper(['-vv', '--', 'sh', '-c', script]);
  await single.waitFor(/^ready/, { count: 2 });
  single.signal('SIGUSR1');
  await single.waitFor(/forwarded SIGUSR1 to pid/, 'stderr');
  single.signal('SIGTERM');
  const done = await single.finished;
  t.notMatch(done.stdout, /signal SIGUSR1/, 'the group members never saw USR1');
});

t.test('-r rewrites and drops signals', async (t) => {
  const reaper = runReaper(['-vv', '-r', 'USR1:USR2', '--rewrite', 'SIGWINCH:0', '--', ...printSignals]);
  await reaper.waitFor(/^ready/);
  reaper.signal('SIGUSR1');
  await reaper.waitFor(/^signal SIGUSR2$/);
  reaper.signal('SIGWINCH');
  await reaper.waitFor(/dropped SIGWINCH/, 'stderr');
  reaper.signal('SIGTERM');
  const done = await reaper.finished;
  t.notMatch(done.stdout, /signal SIGUSR1|signal SIGWINCH/, 'USR1 arrived as USR2, WINCH never');
  t.match(done.stderr, /forwarded SIGUSR1 as SIGUSR2/);
});

t.test('-p sends a signal when reaper\'s parent dies', async (t) => {
  const parent = run(['sh', '-c', `${node} ${REAPER} -p SIGUSR1 -- ${printSignals.join(' ')} & echo "parent $$"; wait`], { pid1: false });
  const [, childPid] = (await parent.waitFor(/^ready (\d+)/))!;
  const [, shPid] = (await parent.waitFor(/^parent (\d+)/))!;
  process.kill(Number(shPid), 'SIGKILL');
  t.ok(await parent.waitFor(/^signal SIGUSR1$/), 'the child got SIGUSR1 after reaper\'s parent died');
  process.kill(Number(childPid), 'SIGTERM');
  await parent.finished;
});

t.test('exec failures: 127 not found, 126 not executable, with one clear line', async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['no-such-program-xyz'], 127, /cannot run no-such-program-xyz: not found in PATH/],
    [['/nonexistent/dir/prog'], 127, /cannot run \/nonexistent\/dir\/prog: no such file/],
    [['/tmp'], 126, /cannot run \/tmp: it is a directory/],
    [[fixture('print-signals.js')], 126, /permission denied, it is not executable; chmod \+x/],
    [[fixture('missing-interpreter.sh')], 127, /its interpreter \/nonexistent\/interpreter \(from the #! line\) was not found/],
  ];
  for (const [command, code, message] of cases) {
    const done = await runReaper(['--', ...command]).finished;
    t.equal(done.code, code, `${command[0]} -> ${code}`);
    t.match(done.stderr, message);
    t.equal(done.stderr.trim().split('\n').length, 1, 'one line');
    t.notMatch(done.stderr, /\n\s+at /, 'no stack trace');
  }
});

t.test('the child gets stdin, stdout, stderr, default signals, env and cwd', async (t) => {
  const script = 'read line; echo "in=$line"; echo "to-stderr" >&2; echo "cwd=$(pwd)"; echo "env=$FOO"; grep -E "^Sig(Ign|Blk)" /proc/self/status';
  const reaper = runReaper(['--', 'sh', '-c', script], { stdin: 'pipe', cwd: '/tmp', env: { FOO: 'bar' } });
  reaper.child.stdin!.end('hello\n');
  const result = await reaper.finished;
  t.equal(result.code, 0);
  t.match(result.stdout, /^in=hello$/m);
  t.match(result.stdout, /^cwd=\/tmp$/m);
  t.match(result.stdout, /^env=bar$/m);
  t.match(result.stdout, /^SigIgn:\s+0+$/m, 'nothing ignored: SIGPIPE is back to default');
  t.match(result.stdout, /^SigBlk:\s+0+$/m, 'nothing blocked');
  t.equal(result.stderr, 'to-stderr\n');
});

t.test('on a terminal: ^C reaches only the app, bash -i has job control', async (t) => {
  const ctrlC = spawnSync('python3', [fixture('pty-run.py'), JSON.stringify([
    ['expect', 'ready'], ['send', '\x03'], ['expect', 'signal SIGINT'], ['send', '\x1c'], ['expect', 'signal SIGQUIT'], ['send', '\x1a'], ['expect', 'signal SIGTSTP'], ['hangup', ''],
  ]), '--', node, REAPER, '-vv', '--', ...printSignals.slice(0, 1), fixture('print-signals.js')], {
    encoding: 'utf8', env: { ...process.env, SIGNALS: 'SIGINT,SIGQUIT,SIGTSTP' }, timeout: 60_000, killSignal: 'SIGKILL',
  });
  // The app only handles INT/QUIT/TSTP; the script ends by hanging up, and
  // SIGHUP ends the app.
  t.equal(ctrlC.status, 129, 'the hangup ended the app (128+SIGHUP)');
  t.match(ctrlC.stdout, /signal SIGINT/);
  t.equal((ctrlC.stdout.match(/signal SIGINT/g) ?? []).length, 1, 'the app got ^C exactly once');
  t.notMatch(ctrlC.stdout, /forwarded SIGINT|forwarded SIGQUIT|forwarded SIGTSTP/, 'reaper itself received none of them');

  const bash = spawnSync('python3', [fixture('pty-run.py'), JSON.stringify([
    ['expect', '[#$] $'], ['send', 'case $- in *m*) echo JOBCTL-$((6*7));; *) echo NOJOBCTL;; esac\n'], ['expect', 'JOBCTL-42|NOJOBCTL'],
    ['send', 'sleep 1000 &\n'], ['send', 'jobs -l | grep -c Running\n'], ['expect', '[^0-9]1\\r?\\n'], ['send', 'kill %1; exit 7\n'],
  ]), '--', node, REAPER, '--', 'bash', '--norc', '--noprofile', '-i'], {
    encoding: 'utf8', env: { ...process.env, PS1: '$ ' }, timeout: 60_000, killSignal: 'SIGKILL',
  });
  t.match(bash.stdout, /JOBCTL-42/, 'monitor mode is on');
  t.notMatch(bash.stdout, /no job control|cannot set terminal process group/);
  t.equal(bash.status, 7, 'exit status of bash passed through');
});
