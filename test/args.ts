// The command line and its environment twins, in-process (no child needed).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration, parseInvocation, unknownVariables, type RunOptions } from '../dist/wrapper/args.js';
import { ROOT } from './harness/index.js';
import { UsageError } from '../dist/core/errors.js';

const run = (argv: string[], env: NodeJS.ProcessEnv = {}, flavour?: 'reaper' | 'tini' | 'dumb-init'): RunOptions => {
  const invocation = parseInvocation(argv, env, flavour);
  if (invocation.action !== 'run') throw new Error(`expected run, got ${invocation.action}`);
  return invocation.options;
};

t.test('parsing stops at the program: its own flags are left alone', async (t) => {
  t.same(run(['node', 'app.js', '--port', '8080', '-v']).command, ['node', 'app.js', '--port', '8080', '-v']);
  t.same(run(['-v', '--', '-weird-name', '-x']).command, ['-weird-name', '-x'], '-- lets a program start with -');
  const options = run(['-vvw', '-e143', '--expect-exit=2', '-r', 'USR1:USR2', '--grace', '250ms', 'sleep', '1']);
  t.equal(options.verbosity, 3, 'clustered -vv');
  t.ok(options.warnOnReap);
  t.same([...options.expectExit].sort(), [143, 2].sort());
  t.same([...options.rewrite], [[10, 12]]);
  t.equal(options.graceMs, 250);
});

t.test('help, version and license are actions', async (t) => {
  for (const [argv, action] of [[['-h'], 'help'], [['--version'], 'version'], [['-V'], 'version'], [['-l'], 'license']] as const) {
    t.equal(parseInvocation([...argv], {}).action, action);
  }
});

t.test('environment twins, and the command line wins', async (t) => {
  const env = { REAPER_PROCESS_GROUP: '1', REAPER_GRACE: '2s', REAPER_VERBOSITY: 'debug', REAPER_REWRITE: '15:3,28:0', REAPER_DRAIN: '0' };
  const options = run(['true'], env);
  t.ok(options.processGroup);
  t.equal(options.graceMs, 2000);
  t.equal(options.verbosity, 3);
  t.same([...options.rewrite], [[15, 3], [28, 0]]);
  t.notOk(options.drain);
  t.equal(run(['-c', '--grace', '1s', 'true'], env).graceMs, 1000, 'flag over variable');
  t.notOk(run(['-c', 'true'], env).processGroup, '-c over REAPER_PROCESS_GROUP');
});

t.test("tini's and dumb-init's variables, and their defaults under their names", async (t) => {
  t.ok(run(['true'], { TINI_SUBREAPER: '' }).requireSubreaper, 'TINI_SUBREAPER: presence is enough');
  t.ok(run(['true'], { TINI_KILL_PROCESS_GROUP: '' }).processGroup);
  t.equal(run(['true'], { TINI_VERBOSITY: '3' }).verbosity, 3);
  t.equal(run(['true'], { DUMB_INIT_DEBUG: '1' }).verbosity, 3);
  t.ok(run(['true'], {}, 'dumb-init').processGroup, 'dumb-init forwards to the group by default');
  t.notOk(run(['true'], { DUMB_INIT_SETSID: '0' }, 'dumb-init').processGroup, 'DUMB_INIT_SETSID=0 turns it off');
  t.ok(run(['true'], { DUMB_INIT_SETSID: '' }, 'dumb-init').processGroup, 'DUMB_INIT_SETSID= (empty) is unset');
  t.equal(run(['-v', 'true'], {}, 'dumb-init').verbosity, 3, "dumb-init's -v is debug");
  t.notOk(run(['true'], {}, 'tini').drain, 'as tini: exit at once, no drain');
  t.ok(run(['true']).drain, 'as reaper: drain');
});

t.test('signals by name, number, and real-time offset', async (t) => {
  t.equal(run(['-p', 'SIGUSR1', 'true']).parentDeathSignal, 10);
  t.equal(run(['-p', 'usr1', 'true']).parentDeathSignal, 10);
  t.equal(run(['-p', '9', 'true']).parentDeathSignal, 9);
  t.equal(run(['--drain-signal', 'SIGRTMIN+2', 'true']).drainSignal, 36);
  t.equal(run(['--drain-signal', 'RTMAX-1', 'true']).drainSignal, 63);
});

t.test('bad input: a UsageError that names the problem and the fix', async (t) => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [[], {}, /no program to run; name it after the options/],
    [['--'], {}, /no program to run/],
    [[''], {}, /program name is empty/],
    [["--bogus", "x"], {}, /unknown option "--bogus"; see reaper --help/],
    [['-z', 'x'], {}, /unknown option "-z"/],
    [['-e'], {}, /option -e needs a value/],
    [['-e', '256', 'x'], {}, /"256" is not an exit code; use a number from 0 to 255/],
    [['-p', 'SIGNOPE', 'x'], {}, /unknown signal "SIGNOPE"; use a name such as SIGTERM/],
    [['-p', '65', 'x'], {}, /signal number 65 is out of range/],
    [['-r', '15', 'x'], {}, /"15" is not a rewrite; use FROM:TO/],
    [['--grace', 'soon', 'x'], {}, /"soon" is not a duration; use e\.g\. 500ms, 1\.5s, 1m30s or 1h/],
    [['--log-format', 'xml', 'x'], {}, /"xml" is not a log format; use text or json/],
    [['--no-drain=1', 'x'], {}, /--no-drain takes no value/],
    [['x'], { REAPER_GRACE: 'forever' }, /REAPER_GRACE: "forever" is not a duration/],
    [['x'], { REAPER_PROCESS_GROUP: 'maybe' }, /REAPER_PROCESS_GROUP="maybe" is not a switch value; use 1 or 0/],
    [['x'], { TINI_VERBOSITY: 'loud' }, /TINI_VERBOSITY: "loud" is not a verbosity/],
    // Accepted once and silently ignored (issue 22): each is now refused, naming why.
    [['-e', '', 'x'], {}, /^-e: "" has an empty exit code; give one or more, separated by commas/],
    [['-e', '143,,2', 'x'], {}, /^-e: "143,,2" has an empty exit code/],
    [['x'], { REAPER_EXPECT_EXIT: ',,' }, /^REAPER_EXPECT_EXIT: ",," has an empty exit code/],
    [['-r', 'CHLD:TERM', 'x'], {}, /^-r: "CHLD:TERM" would never apply: reaper keeps SIGCHLD for itself/],
    [['-r', 'KILL:TERM', 'x'], {}, /^-r: "KILL:TERM" would never apply: SIGKILL cannot be caught, so reaper never receives it; rewrite a signal reaper forwards/],
    [['-r', 'USR1:USR2,SIGSTOP:0', 'x'], {}, /"SIGSTOP:0" would never apply: SIGSTOP cannot be caught/],
    [['x'], { REAPER_REWRITE: '17:15' }, /^REAPER_REWRITE: "17:15" would never apply/],
    [['x'], { DUMB_INIT_SETSID: '2' }, /^DUMB_INIT_SETSID="2" is neither 1 \(session mode\) nor 0 \(single child\)/],
  ];
  for (const [argv, env, message] of cases) {
    t.throws(() => parseInvocation(argv, env), message, `reaper ${argv.join(' ')} ${Object.keys(env).join(' ')}`);
    try {
      parseInvocation(argv, env);
    } catch (error) {
      t.ok(error instanceof UsageError, 'a UsageError (exit 2)');
      t.notMatch((error as Error).message, /\n/, 'one line');
    }
  }
});

t.test('durations', async (t) => {
  t.equal(parseDuration('500ms', 'x'), 500);
  t.equal(parseDuration('1.5s', 'x'), 1500);
  t.equal(parseDuration('2m', 'x'), 120000);
  t.equal(parseDuration('3', 'x'), 3000, 'a bare number is seconds');
  t.throws(() => parseDuration('-1s', 'x'));
  t.throws(() => parseDuration('2d', 'x'));
  // Go / docker compose style, as in a compose file's stop_grace_period.
  t.equal(parseDuration('1h', 'x'), 3600_000);
  t.equal(parseDuration('1m30s', 'x'), 90_000);
  t.equal(parseDuration('1h2m3.5s', 'x'), 3723_500);
  t.equal(parseDuration('1s500ms', 'x'), 1500);
  t.equal(parseDuration(' 2m ', 'x'), 120000, 'spaces around are trimmed');
  for (const bad of ['1m30', 'm', '1.s', '.5s', '1 m', '1m-30s', '25h']) t.throws(() => parseDuration(bad, 'x'), UsageError, `${bad} refused`);
  for (const [flag, env] of [['--grace', 'REAPER_GRACE'], ['--stop-timeout', 'REAPER_STOP_TIMEOUT']] as const) {
    const key = flag === '--grace' ? 'graceMs' : 'stopTimeoutMs';
    t.equal(run([flag, '1m30s', 'x'])[key], 90_000, `${flag} 1m30s`);
    t.equal(run(['x'], { [env]: '1h' })[key], 3600_000, `${env}=1h`);
  }
});

t.test('an unknown REAPER_* variable: one warning naming the closest valid one', async (t) => {
  t.same(unknownVariables({ REAPER_GARCE: '1s', HOME: '/root', REAPER_GRACE: '2s' }), [
    '"REAPER_GARCE" is not a reaper variable and is ignored; did you mean REAPER_GRACE? (reaper --help lists them)',
  ]);
  t.match(unknownVariables({ REAPER_ZOMBIE_MAX: '3' })[0], /did you mean REAPER_ZOMBIES_MAX\?/);
  t.match(unknownVariables({ REAPER_VERBOSE: '3' })[0], /did you mean REAPER_VERBOSITY\?/);
  t.equal(unknownVariables({ REAPER_STOP_TIMOUT: '3', REAPER_LOGFORMAT: 'json' }).length, 2, 'one warning each');
  // Read elsewhere: reaper-zombies, the library, the launcher (REAPER_CLI), the project's scripts and tests.
  const known = { REAPER_ZOMBIES_MAX: '1', REAPER_HANDLE_SIGNALS: '0', REAPER_CLI: '/x', REAPER_DOCKER_STATE: '/s', REAPER_DOCKER_TIMEOUT: '9',
    REAPER_REQUIRE_DOCKER: '1', REAPER_NODES: '/n', REAPER_STRESS_REAPS: '5', REAPER_PREBUILD_SCRATCH: '/p', REAPER_RACE_MARKER: '/m', REAPER_TEST_IMAGE: 'i' };
  t.same(unknownVariables({ ...known, REAPER_GRACE: '1s', REAPER_SUBREAPER: '1', REAPER_DRAIN: '0' }), [], 'no warning for a variable someone reads');

  const cli = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.cjs'), '--', 'sh', '-c', 'exit 4'], { env: { PATH: process.env.PATH, REAPER_GARCE: '1s' }, encoding: 'utf8' });
  t.equal(cli.status, 4, 'reaper still runs the program');
  t.match(cli.stderr, /^reaper\[\d+\] WARN: "REAPER_GARCE" is not a reaper variable and is ignored; did you mean REAPER_GRACE\?/m, 'reaper warns at the default verbosity');
  t.equal(cli.stderr.match(/REAPER_GARCE/g)?.length, 1, 'once');
  const zombies = spawnSync(process.execPath, [join(ROOT, 'dist', 'census', 'zombies-cli.js'), '--help'], { env: { PATH: process.env.PATH, REAPER_ZOMBIE_MAX: '0' }, encoding: 'utf8' });
  t.match(zombies.stderr, /^reaper-zombies: warning: "REAPER_ZOMBIE_MAX" .*did you mean REAPER_ZOMBIES_MAX\?/m, 'reaper-zombies warns too');
});

t.test('-l prints the package\'s LICENSE file', async (t) => {
  const out = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.cjs'), '-l'], { encoding: 'utf8' });
  t.equal(out.status, 0);
  t.equal(out.stdout, readFileSync(join(ROOT, 'LICENSE'), 'utf8'), 'the file, verbatim');
  t.match(out.stdout, /^MIT License/);
});

t.test('production shutdown: --forward-delay, --orphans, --pause and their twins', async (t) => {
  t.equal(run(['--forward-delay', '1m30s', 'app']).forwardDelayMs, 90_000, 'Go duration syntax');
  t.equal(run(['app'], { REAPER_FORWARD_DELAY: '5s' }).forwardDelayMs, 5000, 'env twin');
  t.equal(run(['app']).forwardDelayMs, 0, 'off by default');
  t.equal(run(['--orphans', 'terminate', 'app']).orphans, 'terminate');
  t.equal(run(['app'], { REAPER_ORPHANS: 'terminate' }).orphans, 'terminate', 'env twin');
  t.equal(run(['app']).orphans, 'reap', 'reap by default');
  t.throws(() => run(['--orphans', 'kill', 'app']), new UsageError('--orphans: "kill" is not an orphan policy; use reap or terminate.'));
  t.same(run(['-P']).command, [], '-P needs no program');
  t.ok(run(['--pause']).pause && run([], { REAPER_PAUSE: '1' }).pause, '--pause and REAPER_PAUSE');
  t.throws(() => run(['-P', 'sleep', '1']), /--pause runs no program, but "sleep" was given/);
  t.equal(run(['--forward-delay', '4s', '--stop-timeout', '5s', 'app']).stopTimeoutMs, 5000, 'a delay shorter than the stop timeout');
  t.throws(() => run(['--forward-delay', '5s', '--stop-timeout', '5s', 'app']), /is not shorter than --stop-timeout/);
  // README: "SIGKILL the app this long after reaper received SIGTERM/SIGINT"; 0 is at once, and no forward delay was given.
  t.equal(run(['--stop-timeout', '0', 'app']).stopTimeoutMs, 0, '--stop-timeout 0 is accepted');
  t.equal(run(['app'], { REAPER_STOP_TIMEOUT: '0' }).stopTimeoutMs, 0, 'REAPER_STOP_TIMEOUT=0 too');
  t.throws(() => run(['--forward-delay', '1s', '--stop-timeout', '0', 'app']), /--forward-delay \(1000 ms\) is not shorter than --stop-timeout \(0 ms\)/, 'a delay with it is still refused');
});
