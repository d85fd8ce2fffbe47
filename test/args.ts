// The command line and its environment twins, in-process (no child needed).
import t from 'tap';
import { parseDuration, parseInvocation, type RunOptions } from '../src/args.js';
import { UsageError } from '../src/errors.js';

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
    [['--grace', 'soon', 'x'], {}, /"soon" is not a duration; use e\.g\. 500ms, 5s or 2m/],
    [['--log-format', 'xml', 'x'], {}, /"xml" is not a log format; use text or json/],
    [['--no-drain=1', 'x'], {}, /--no-drain takes no value/],
    [['x'], { REAPER_GRACE: 'forever' }, /REAPER_GRACE: "forever" is not a duration/],
    [['x'], { REAPER_PROCESS_GROUP: 'maybe' }, /REAPER_PROCESS_GROUP="maybe" is not a switch value; use 1 or 0/],
    [['x'], { TINI_VERBOSITY: 'loud' }, /TINI_VERBOSITY: "loud" is not a verbosity/],
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
});
