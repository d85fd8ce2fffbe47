// Job control from an interactive shell, on a real pseudo-terminal: bash -i
// (a job-control shell, as in a developer's terminal) starts reaper, and the
// keys a user types (^Z, fg, bg, ^C) go through the terminal driver. Each
// scenario has its negative control: the same keys under plain tini hang.
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { childrenOf, fixture, until, within, REAPER } from './harness/index.js';

const node = process.execPath;
const PROMPT = 'PROMPT> $';
type Step = [string, string];

/** Plays steps against `bash --norc -i` on a new terminal; returns pty-run's status and the screen. */
function shell(steps: Step[], timeoutSeconds = 20) {
  const script: Step[] = [['expect', '[#$] $'], ['send', 'PS1="PROMPT> "\n'], ['expect', PROMPT], ...steps];
  const result = spawnSync('python3', [fixture('pty-run.py'), JSON.stringify(script), '--', 'bash', '--norc', '--noprofile', '-i'], {
    encoding: 'utf8',
    // tap's loader must not reach reaper (it would run inside PID 1's Node).
    env: { ...process.env, NODE_OPTIONS: '', TERM: 'dumb', PTY_RUN_TIMEOUT: String(timeoutSeconds) },
    timeout: 120_000,
    killSignal: 'SIGKILL',
  });
  return { status: result.status, screen: result.stdout.replace(/\r/g, '') };
}

/** A negative control leaves its app behind: end what carries this run's marker (argument or variable), by pid. */
function killMarked(marker: string): void {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const marked = ['cmdline', 'environ'].some((file) => readFileSync(`/proc/${name}/${file}`, 'latin1').includes(marker));
      if (marked) process.kill(Number(name), 'SIGKILL');
    } catch {}
  }
}

const app = (command: string, marker: string) => `${command} -- ${node} ${fixture('tty-app.js')} ${marker}\n`;

// ^Z, the prompt with "Stopped", a command, fg, the app ticks again, ^C ends it, the shell goes on.
const suspendResume = (command: string, marker: string): Step[] => [
  ['send', app(command, marker)], ['expect', 'app ready'], ['expect', 'tick 2'],
  ['send', '\x1a'], ['expect', 'Stopped'], ['expect', PROMPT],
  ['send', 'echo shell-$((6*7))\n'], ['expect', 'shell-42'], ['expect', PROMPT],
  ['send', 'fg\n'], ['expect', 'tick'],
  ['send', '\x03'], ['expect', 'app got INT'], ['expect', PROMPT],
  ['send', 'echo "status $?"\n'], ['expect', 'status 130'], ['send', 'exit\n'],
];

for (const mode of [[], ['-g']]) {
  t.test(`^Z returns the prompt, fg resumes, ^C ends the app (reaper ${mode.join(' ') || 'default'})`, async (t) => {
    const { status, screen } = shell(suspendResume(`${node} ${REAPER} ${mode.join(' ')}`, `reaper-z${mode.join('')}`));
    t.equal(status, 0, `the whole script ran:\n${screen}`);
    t.match(screen, /\[1\]\+\s+Stopped\s/, 'bash reports the job stopped by ^Z (SIGTSTP)');
    t.notMatch(screen, /pty-run: never saw/);
  });
}

t.test('negative control: under tini, ^Z leaves the terminal hanging', async (t) => {
  const marker = 'tini-z-control';
  const { status, screen } = shell(suspendResume('tini', marker), 4);
  killMarked(marker);
  t.equal(status, 99, `the script stalls:\n${screen}`);
  t.match(screen, /never saw 'Stopped'/, 'no prompt after ^Z');
});

t.test('bg lets the app run in the background without stopping; fg and ^C still work', async (t) => {
  const { status, screen } = shell([
    ['send', app(`${node} ${REAPER}`, 'reaper-bg')], ['expect', 'tick 2'],
    ['send', '\x1a'], ['expect', 'Stopped'], ['expect', PROMPT],
    ['send', 'bg\n'], ['expect', 'tick'],
    ['send', 'jobs\n'], ['expect', 'Running'], ['expect', 'tick'],
    ['send', 'fg\n'], ['expect', 'tick'],
    ['send', '\x03'], ['expect', 'app got INT'], ['expect', PROMPT], ['send', 'exit 0\n'],
  ]);
  t.equal(status, 0, `the whole script ran:\n${screen}`);
  t.notMatch(screen, /Stopped.*\n(?:.*\n)*.*Stopped/, 'stopped once (by ^Z), never again after bg');
});

// bash's `wait %1` returns 128+N when the job stops with signal N: an event to wait for.
const killTstp = (command: string): Step[] => [
  ['send', `${command} python3 ${fixture('rt-signals.py')} 20 18 < /dev/null &\n`], ['expect', 'ready'],
  ['send', 'kill -TSTP %1; wait %1; echo "wait $?"\n'], ['expect', 'signal 20'], ['expect', 'wait 148'],
];

t.test('SIGTSTP sent with kill is forwarded, then reaper stops; SIGCONT resumes both', async (t) => {
  // The app handles SIGTSTP (20) and SIGCONT (18): it keeps running, and says so.
  const { status, screen } = shell([
    ...killTstp(`${node} ${REAPER} --`),
    ['send', 'jobs\n'], ['expect', '\\[1\\]\\+\\s+Stopped'],
    // Only a running reaper can forward SIGCONT, and SIGTERM after it.
    ['send', 'kill -CONT %1\n'], ['expect', 'signal 18'],
    ['send', 'kill %1; wait\n'], ['expect', 'Done'], ['expect', PROMPT], ['send', 'exit 0\n'],
  ]);
  t.equal(status, 0, `the whole script ran:\n${screen}`);
});

t.test('negative control: under tini, a SIGTSTP sent with kill leaves tini running', async (t) => {
  const marker = 'tini-tstp-control';
  const { status, screen } = shell(killTstp(`tini -- env ${marker}=1`), 4);
  killMarked(marker);
  t.equal(status, 99, `bash never sees the job stop:\n${screen}`);
  t.match(screen, /signal 20/, 'the app got SIGTSTP');
  t.match(screen, /never saw 'wait 148'/);
});

t.test("under dumb-init's name as session leader, the app's own session takes the terminal (bash -i has job control)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reaper-dumb-'));
  const dumbInit = join(dir, 'dumb-init');
  symlinkSync(REAPER, dumbInit);
  const probe: Step[] = [
    ['expect', '[#$] $'],
    ['send', 'case $- in *m*) echo JOBCTL-$((6*7));; *) echo NOJOBCTL;; esac; echo "session $(($(ps -o sid= -p $$) == $$))"\n'],
    ['expect', 'session [01]'], ['send', 'exit 7\n'],
  ];
  // pty-run makes its command the session leader, as docker run -t does for PID 1.
  const play = (env: NodeJS.ProcessEnv) => spawnSync('python3', [fixture('pty-run.py'), JSON.stringify(probe), '--', node, dumbInit, 'bash', '--norc', '--noprofile', '-i'], {
    encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', TERM: 'dumb', ...env }, timeout: 60_000, killSignal: 'SIGKILL',
  });
  const own = play({});
  t.equal(own.status, 7, own.stdout);
  t.match(own.stdout, /JOBCTL-42/, 'monitor mode: the terminal is the session\'s');
  t.match(own.stdout, /session 1/, 'bash leads a session of its own');
  t.notMatch(own.stdout, /no job control|cannot set terminal process group/);
  // Control: without session mode bash stays in reaper's session.
  const single = play({ DUMB_INIT_SETSID: '0' });
  t.equal(single.status, 7, single.stdout);
  t.match(single.stdout, /session 0/, 'DUMB_INIT_SETSID=0: bash in reaper\'s session');
});

t.test('as PID 1 (docker run -it) ^Z stops the app, never reaper; SIGCONT to reaper resumes the app', async (t) => {
  // ^Z, then the terminal's echo of it; a tick after that comes only from a resumed app.
  const steps: Step[] = [['expect', 'tick 2'], ['send', '\x1a'], ['expect', '\\^Z'], ['expect', 'tick'], ['send', '\x03']];
  const pty = spawn('python3', [fixture('pty-run.py'), JSON.stringify(steps), '--', 'unshare', '--pid', '--fork', '--mount-proc', node, REAPER, '--', node, fixture('tty-app.js')], {
    env: { ...process.env, NODE_OPTIONS: '', TERM: 'dumb' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  let screen = '';
  pty.stdout.setEncoding('utf8').on('data', (d: string) => { screen += d; });
  const ended = new Promise<number | null>((resolve) => pty.on('exit', (code) => resolve(code)));
  t.teardown(() => { try { pty.kill('SIGKILL'); } catch {} });
  const state = (pid: number) => /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.[1];
  const tree = () => {
    const [unshare] = childrenOf(pty.pid!);
    const [reaper] = unshare ? childrenOf(unshare) : [];
    const [app] = reaper ? childrenOf(reaper) : [];
    return { reaper, app };
  };
  const stopped = await until(() => { const { reaper, app } = tree(); return reaper && app && state(app) === 'T' ? { reaper, app } : null; }, 20_000, 'the app stopped by ^Z');
  t.equal(state(stopped.app), 'T', 'the app stopped on ^Z');
  t.not(state(stopped.reaper), 'T', 'PID 1 did not stop');
  process.kill(stopped.reaper, 'SIGCONT');
  t.equal(await within(ended, 30_000, 'pty-run'), 130, `resumed by reaper, then ^C ended it:\n${screen}`);
});

// dumb-init's scenario 13: in session mode the app's group is orphaned, so a
// forwarded SIGTSTP would be dropped by the kernel; it goes on as SIGSTOP.
const sessionStop = (rewrite: string): Step[] => [
  ['send', `${node} ${DUMB_INIT} ${rewrite} sh -c 'echo app-ready; exec sleep 4242.5' < /dev/null &\n`], ['expect', 'app-ready'],
  ['send', 'until P=$(pgrep -xf "sleep 4242.5"); do :; done; kill -TSTP %1; wait %1; echo "wait $?"; echo "state $(ps -o stat= -p $P | cut -c1)"\n'],
  ['expect', 'wait 148'], ['expect', 'state [A-Z]'],
  ['send', 'kill -CONT %1; until [ "$(ps -o stat= -p $P | cut -c1)" = S ]; do :; done; echo "resumed"\n'], ['expect', 'resumed'],
  ['send', 'kill %1; wait %1; echo "ended $?"\n'], ['expect', 'ended 143'], ['send', 'exit 0\n'],
];
const DUMB_INIT = join(mkdtempSync(join(tmpdir(), 'reaper-dumb-stop-')), 'dumb-init');
symlinkSync(REAPER, DUMB_INIT);

t.test("under dumb-init's name SIGTSTP stops the app's new session (as SIGSTOP) and reaper; SIGCONT resumes both", async (t) => {
  const { status, screen } = shell(sessionStop(''));
  t.equal(status, 0, `the whole script ran:\n${screen}`);
  t.match(screen, /state T/, 'the app stopped');
  // Control: forwarded as SIGTSTP, the kernel drops it for the orphaned group.
  const control = shell(sessionStop('-r 20:20'));
  t.equal(control.status, 0, `the control ran:\n${control.screen}`);
  t.match(control.screen, /state S/, '-r 20:20: the app never stopped');
});

// ----- ^C during the drain ------------------------------------------------------
// The app leaves a helper in a session of its own that ignores SIGTERM, then
// exits 3: the drain would wait out its grace period. The terminal's
// foreground group was the app's, now empty: reaper takes it back, so ^C
// reaches reaper, which ends the grace at once. Verified by hand on the build
// without the take-back (commit message): the same ^C did nothing and the
// drain took its whole grace period.
const daemonFile = join(mkdtempSync(join(tmpdir(), 'reaper-drain-tty-')), 'flush.txt');
const leaveHelper = (grace: string) =>
  `IGNORE_TERM=1 EXIT_CODE=3 ${node} ${REAPER} -v --grace ${grace} -- ${fixture('spawn-daemon.sh')} ${daemonFile} setsid`;
const timed = (command: string) => `s=$(date +%s%N); ${command}; echo "reaper status $? after $((($(date +%s%N)-s)/1000000)) ms"\n`;
const gone = (pid: string) => { try { return !readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('slow-flush'); } catch { return true; } };
const afterMs = (screen: string) => Number(/reaper status 3 after (\d+) ms/.exec(screen)?.[1] ?? NaN);

t.test('bash -i: ^C during the drain ends its 30 s grace at once, kills the helper, and the prompt comes back usable', async (t) => {
  const { status, screen } = shell([
    ['send', timed(leaveHelper('30s'))], ['expect', 'flusher ready \\d+'], ['expect', 'exited with code 3'],
    ['send', '\x03'], ['expect', 'reaper status 3'], ['expect', PROMPT],
    ['send', 'echo shell-$((6*7)); jobs; echo "jobs done"\n'], ['expect', 'shell-42'], ['expect', 'jobs done'], ['expect', PROMPT],
    ['send', 'exit 0\n'],
  ]);
  t.equal(status, 0, `the whole script ran:\n${screen}`);
  t.match(screen, /WARN: drain interrupted by SIGINT; sending SIGKILL to 1 process\n/, 'one line says why the drain ended early');
  t.match(screen, /1 killed when SIGINT interrupted the drain/, 'and the report says it');
  t.ok(afterMs(screen) < 10_000, `reaper exited with the app's status far before the 30 s grace (${afterMs(screen)} ms, app start included)`);
  const helper = /flusher ready (\d+)/.exec(screen)![1]!;
  t.ok(gone(helper), `the helper ${helper} was killed`);
  t.notMatch(screen, /Stopped|no job control|cannot set terminal process group/, 'the shell kept its terminal and job control');
});

t.test('control: without ^C the same drain waits out its grace period (the helper survives SIGTERM)', async (t) => {
  const { status, screen } = shell([
    ['send', timed(leaveHelper('2s'))], ['expect', 'reaper status 3'], ['expect', PROMPT], ['send', 'exit 0\n'],
  ]);
  t.equal(status, 0, `the whole script ran:\n${screen}`);
  t.match(screen, /1 killed after the 2\.00s grace period/);
  t.ok(afterMs(screen) >= 2000, `the whole grace period (${afterMs(screen)} ms)`);
});

/** As PID 1 on a terminal: pty-run makes unshare the session leader; with setsid -c, PID 1 leads a session of its own with the terminal, as under docker run -it. */
function pid1OnTerminal(ownSession: boolean, grace: string) {
  const steps: Step[] = [['expect', 'exited with code 3'], ['send', '\x03']];
  const command = ['unshare', '--pid', '--fork', '--mount-proc', ...(ownSession ? ['setsid', '-c'] : []), node, REAPER, '-v', '--grace', grace, '--', fixture('spawn-daemon.sh'), daemonFile, 'setsid'];
  const start = performance.now();
  const result = spawnSync('python3', [fixture('pty-run.py'), JSON.stringify(steps), '--', ...command], {
    encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', TERM: 'dumb', IGNORE_TERM: '1', EXIT_CODE: '3' }, timeout: 60_000, killSignal: 'SIGKILL',
  });
  return { status: result.status, screen: result.stdout.replace(/\r/g, ''), ms: performance.now() - start };
}

t.test('as PID 1 with the terminal (docker run -it): ^C during the drain ends its 30 s grace at once', async (t) => {
  const { status, screen, ms } = pid1OnTerminal(true, '30s');
  t.equal(status, 3, `reaper exited with the app's status:\n${screen}`);
  t.match(screen, /drain interrupted by SIGINT; sending SIGKILL to 1 process/);
  t.ok(ms < 10_000, `far before the grace (${Math.round(ms)} ms, start included)`);
});

t.test('control: as PID 1 whose group lies outside its pid namespace (unshare from a shell) it cannot take the terminal: ^C reaches nobody', async (t) => {
  const { status, screen, ms } = pid1OnTerminal(false, '2s');
  t.equal(status, 3, screen);
  t.notMatch(screen, /drain interrupted/);
  t.match(screen, /1 killed after the 2\.00s grace period/, 'the drain took its whole grace period');
  t.ok(ms >= 2000, `${Math.round(ms)} ms`);
});
