// Command line and environment. Parsing stops at the first word that is not
// an option (or after "--"), so `reaper node app.js --port 8080` never reads
// the app's flags. Every option has a REAPER_* twin; tini's and dumb-init's
// flags and variables are accepted too, so reaper drops in for either.
import { UsageError } from '../core/errors.js';
import { needsEscape, shown } from '../core/format.js';
import { native } from '../core/native.js';
import { parseSignal, SIGCHLD, SIGKILL, SIGSTOP, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, signalName } from '../core/signals.js';
import { LEVEL_NAMES, type LogFormat } from './log.js';

export interface RunOptions {
  /** Program and its arguments. */
  command: string[];
  /** -s: fail when reaper cannot become a child subreaper (it always tries). */
  requireSubreaper: boolean;
  /** -g: forward signals to the child's whole process group. */
  processGroup: boolean;
  /**
   * dumb-init's default mode (under its name; -c or DUMB_INIT_SETSID=0 turn it
   * off): the child starts a session of its own, and its group gets SIGTERM
   * when the child exits.
   */
  newSession: boolean;
  /** -e: exit codes reported as 0. */
  expectExit: Set<number>;
  /** 0 error, 1 warn, 2 info, 3 debug, 4 trace. */
  verbosity: number;
  /** -w: log every reaped orphan as a warning. */
  warnOnReap: boolean;
  /** -p: signal reaper receives when its parent dies (forwarded like any other). */
  parentDeathSignal: number | null;
  /** -r: rewrite signal s to r before forwarding; r = 0 drops it. */
  rewrite: Map<number, number>;
  logFormat: LogFormat;
  /** Signal every remaining descendant when the main child exits. */
  drain: boolean;
  graceMs: number;
  drainSignal: number;
  /** SIGKILL the main child this long after a SIGTERM/SIGINT arrived (held or forwarded). */
  stopTimeoutMs: number | null;
  /** Hold a received SIGTERM this long before forwarding it (0: forward at once). */
  forwardDelayMs: number;
  /** -P: run no program; stay up as PID 1, reap, exit 0 on SIGTERM/SIGINT. */
  pause: boolean;
  /** What happens to a process re-parented to reaper while the app runs. */
  orphans: 'reap' | 'terminate';
}

export type Invocation =
  | { action: 'run'; options: RunOptions }
  | { action: 'help' | 'version' | 'license' };

/** reaper answers to its own name, and takes an anchor's defaults under its name. */
export type Flavour = 'reaper' | 'tini' | 'dumb-init';

interface OptionSpec {
  short?: string;
  long: string;
  /** Placeholder for the value; options without one are switches. */
  value?: string;
  env?: string;
  help: string;
  apply(options: RunOptions, value: string, source: string): void;
}

export function defaults(flavour: Flavour = 'reaper'): RunOptions {
  return {
    command: [],
    requireSubreaper: false,
    processGroup: flavour === 'dumb-init',
    newSession: flavour === 'dumb-init',
    expectExit: new Set(),
    verbosity: 1,
    warnOnReap: false,
    parentDeathSignal: null,
    rewrite: new Map(),
    logFormat: 'text',
    drain: flavour === 'reaper',
    graceMs: 5000,
    drainSignal: SIGTERM,
    stopTimeoutMs: null,
    forwardDelayMs: 0,
    pause: false,
    orphans: 'reap',
  };
}

/** parseSignal, with the value made safe to show before it can appear in a message. */
function signalArg(value: string, source: string, allowZero = false): number {
  if (value.length > 32 || needsEscape(value)) {
    throw new UsageError(`${source}: unknown signal ${shown(value)}; use a name such as SIGTERM, TERM, SIGRTMIN+2, or a number.`);
  }
  return parseSignal(value, source, allowZero);
}

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off']);

/** value, when it is one of choices; otherwise a usage error naming them. */
function oneOf<T extends string>(value: string, source: string, what: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${source}: ${shown(value)} is not ${what}; use ${choices.join(' or ')}.`);
}

function parseSwitch(value: string, source: string): boolean {
  const word = value.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  throw new UsageError(`${source}=${shown(value)} is not a switch value; use 1 or 0.`);
}

function parseExitCode(value: string, source: string): number {
  if (!/^\d{1,3}$/.test(value.trim()) || Number(value) > 255) {
    throw new UsageError(`${source}: ${shown(value)} is not an exit code; use a number from 0 to 255.`);
  }
  return Number(value);
}

const UNIT_MS: Record<string, number> = { h: 3600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * Go's (and docker compose's) duration syntax: "250ms", "1.5s", "1m30s", "1h";
 * a bare number is seconds, as tini users and `docker stop -t` expect.
 */
export function parseDuration(value: string, source: string): number {
  const text = value.trim();
  let ms = 0;
  if (/^\d+(?:\.\d+)?$/.test(text)) ms = Number(text) * 1000;
  else if (/^(?:\d+(?:\.\d+)?(?:ms|h|m|s))+$/.test(text)) {
    for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) ms += Number(amount) * UNIT_MS[unit!]!;
  } else {
    throw new UsageError(`${source}: ${shown(value)} is not a duration; use e.g. 500ms, 1.5s, 1m30s or 1h (units h, m, s, ms).`);
  }
  if (ms > 24 * 3600 * 1000) throw new UsageError(`${source}: ${shown(value)} is longer than a day; use a shorter duration.`);
  return Math.round(ms);
}

function parseVerbosity(value: string, source: string): number {
  const word = value.trim().toLowerCase();
  const named = LEVEL_NAMES.indexOf(word as (typeof LEVEL_NAMES)[number]);
  if (named >= 0) return named;
  if (/^\d+$/.test(word)) return Math.min(Number(word), LEVEL_NAMES.length - 1);
  throw new UsageError(`${source}: ${shown(value)} is not a verbosity; use 0-4 or one of ${LEVEL_NAMES.join(', ')}.`);
}

function parseRewrite(value: string, source: string, options: RunOptions): void {
  for (const pair of value.split(',')) {
    const match = /^([^:]+):([^:]+)$/.exec(pair.trim());
    if (!match) throw new UsageError(`${source}: ${shown(pair)} is not a rewrite; use FROM:TO, e.g. 15:3 or TERM:QUIT (TO 0 drops FROM).`);
    const from = signalArg(match[1]!, source);
    const unseen = neverForwarded(from);
    if (unseen) throw new UsageError(`${source}: ${shown(pair)} would never apply: ${unseen}; rewrite a signal reaper forwards, such as TERM, INT or USR1.`);
    options.rewrite.set(from, signalArg(match[2]!, source, true));
  }
}

/** Why reaper never forwards this signal (native/addon/signals.cc's is_forwardable), or null when it does. */
function neverForwarded(signal: number): string | null {
  if (signal === SIGKILL || signal === SIGSTOP) return `${signalName(signal)} cannot be caught, so reaper never receives it`;
  if (signal === SIGCHLD) return 'reaper keeps SIGCHLD for itself (it drives reaping) and does not forward it';
  if (signal > 31 && signal < native().SIGRTMIN) return `signal ${signal} is reserved by the C library for its threads`;
  return null;
}

/** A comma list in which every item must be there: "143,,2" or "" is a typo, not "nothing". */
function list(value: string, source: string, what: string): string[] {
  const items = value.split(',').map((part) => part.trim());
  if (items.some((item) => item === '')) {
    throw new UsageError(`${source}: ${shown(value)} has an empty ${what}; give one or more, separated by commas, e.g. 143 or 143,2.`);
  }
  return items;
}

export const OPTIONS: OptionSpec[] = [
  { short: 'h', long: 'help', help: 'Print this help and exit.', apply() {} },
  { short: 'V', long: 'version', help: 'Print the version (in the format docker info parses) and exit.', apply() {} },
  { short: 'l', long: 'license', help: 'Print the license and exit.', apply() {} },
  {
    short: 'v', long: 'verbose', env: 'REAPER_VERBOSITY',
    help: 'Log more (repeat: -vv debug, -vvv trace). The variable takes 0-4 or error|warn|info|debug|trace. NOTICE lines (how the program ended, the drain report) show with warn, the default.',
    apply(o, value, source) { o.verbosity = source.startsWith('-') ? Math.min(o.verbosity + 1, 4) : parseVerbosity(value, source); },
  },
  { short: 'q', long: 'quiet', help: 'Log errors only.', apply(o) { o.verbosity = 0; } },
  {
    short: 'w', long: 'warn-on-reap', env: 'REAPER_WARN_ON_REAP',
    help: 'Log each reaped orphan (pid, name, status, age) as a warning.',
    apply(o, value, source) { o.warnOnReap = source.startsWith('-') || parseSwitch(value, source); },
  },
  {
    long: 'log-format', value: 'FORMAT', env: 'REAPER_LOG_FORMAT',
    help: 'text (default) or json: one JSON object per line, for log shippers.',
    apply(o, value, source) { o.logFormat = oneOf(value, source, 'a log format', ['text', 'json']); },
  },
  {
    short: 'g', long: 'process-group', env: 'REAPER_PROCESS_GROUP',
    help: "Forward signals to the child's whole process group, not the child alone.",
    apply(o, value, source) { o.processGroup = source.startsWith('-') || parseSwitch(value, source); },
  },
  {
    short: 'c', long: 'single-child',
    help: 'Forward signals to the child alone (the default; for dumb-init compatibility).',
    apply(o) { o.processGroup = false; o.newSession = false; },
  },
  {
    short: 'r', long: 'rewrite', value: 'FROM:TO', env: 'REAPER_REWRITE',
    help: 'Forward signal FROM as TO; TO 0 drops it. Repeatable; the variable takes a comma list.',
    apply(o, value, source) { parseRewrite(value, source, o); },
  },
  {
    short: 'e', long: 'expect-exit', value: 'CODE', env: 'REAPER_EXPECT_EXIT',
    help: "Report the child's exit code CODE as 0 (e.g. 143 after docker stop). Repeatable.",
    apply(o, value, source) { for (const code of list(value, source, 'exit code')) o.expectExit.add(parseExitCode(code, source)); },
  },
  {
    short: 's', long: 'subreaper', env: 'REAPER_SUBREAPER',
    help: 'Fail (exit 1) if reaper is not PID 1 and cannot register as child subreaper. Without it, reaper tries and warns.',
    apply(o, value, source) { o.requireSubreaper = source.startsWith('-') || parseSwitch(value, source); },
  },
  {
    short: 'p', long: 'parent-death-signal', value: 'SIGNAL', env: 'REAPER_PARENT_DEATH_SIGNAL',
    help: "Have the kernel send SIGNAL to reaper (and so to the child) when reaper's parent dies.",
    apply(o, value, source) { o.parentDeathSignal = signalArg(value, source); },
  },
  {
    long: 'grace', value: 'DURATION', env: 'REAPER_GRACE',
    help: 'When the child has exited, how long remaining processes get to exit after the drain signal before SIGKILL (default 5s).',
    apply(o, value, source) { o.graceMs = parseDuration(value, source); },
  },
  {
    long: 'drain-signal', value: 'SIGNAL', env: 'REAPER_DRAIN_SIGNAL',
    help: 'Signal sent to remaining processes when the child has exited (default SIGTERM).',
    apply(o, value, source) { o.drainSignal = signalArg(value, source); },
  },
  {
    long: 'no-drain', env: 'REAPER_DRAIN',
    help: "Exit as soon as the child has exited, as tini does (the kernel then SIGKILLs the rest). REAPER_DRAIN=0 is the same.",
    apply(o, value, source) { o.drain = source.startsWith('-') ? false : parseSwitch(value, source); },
  },
  {
    long: 'stop-timeout', value: 'DURATION', env: 'REAPER_STOP_TIMEOUT',
    help: 'SIGKILL the child if it is still running this long after reaper received SIGTERM or SIGINT (off by default; 0 is at once; counts the forward delay).',
    apply(o, value, source) { o.stopTimeoutMs = parseDuration(value, source); },
  },
  {
    long: 'forward-delay', value: 'DURATION', env: 'REAPER_FORWARD_DELAY',
    help: 'Hold a received SIGTERM this long before forwarding it, so the load balancer drops the pod while the app still serves. A second SIGTERM or a SIGINT forwards it at once.',
    apply(o, value, source) { o.forwardDelayMs = parseDuration(value, source); },
  },
  {
    long: 'orphans', value: 'POLICY', env: 'REAPER_ORPHANS',
    help: 'reap (default), or terminate: a process re-parented to reaper while the child runs gets the drain signal when a second scan (once a second) still finds it, so it has started up, and SIGKILL after the grace period.',
    apply(o, value, source) { o.orphans = oneOf(value, source, 'an orphan policy', ['reap', 'terminate']); },
  },
  {
    short: 'P', long: 'pause', env: 'REAPER_PAUSE',
    help: "Run no program: stay up as the pid namespace's PID 1 (a pod's pause container), reap every orphan, exit 0 on SIGTERM or SIGINT.",
    apply(o, value, source) { o.pause = source.startsWith('-') || parseSwitch(value, source); },
  },
];

/**
 * REAPER_* variables read outside the option table: reaper-zombies' --max, the
 * library's signal switch, the launcher's path to the CLI (native/launcher/launcher.c), and the
 * project's own scripts and tests (docker-up.sh, node-versions.sh, prebuilds.sh,
 * .ci/run, the stress suite, drain and docker tests), which pass through reaper's environment.
 */
const OTHER_VARIABLES = ['REAPER_ZOMBIES_MAX', 'REAPER_HANDLE_SIGNALS', 'REAPER_CLI', 'REAPER_CODE_CACHE'];
const PROJECT_VARIABLES = /^REAPER_(DOCKER_\w+|STRESS_\w+|TEST_\w+|REQUIRE_DOCKER|NODES|PREBUILD_SCRATCH|RACE_MARKER)$/;

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/** One warning per REAPER_* variable nobody reads (a typo would be ignored silently), naming the closest one. */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const known = [...OPTIONS.flatMap((spec) => (spec.env ? [spec.env] : [])), ...OTHER_VARIABLES];
  return Object.keys(env)
    .filter((name) => name.startsWith('REAPER_') && !known.includes(name) && !PROJECT_VARIABLES.test(name))
    .map((name) => {
      const closest = known.reduce((best, candidate) => (editDistance(name, candidate) < editDistance(name, best) ? candidate : best));
      return `${shown(name)} is not a reaper variable and is ignored; did you mean ${closest}? (reaper --help lists them)`;
    });
}

const byLong = new Map(OPTIONS.map((spec) => [spec.long, spec]));
const byShort = new Map(OPTIONS.filter((spec) => spec.short).map((spec) => [spec.short!, spec]));

/** The anchors' variables, mapped onto ours; applied before REAPER_* ones. */
function applyAnchorEnvironment(options: RunOptions, env: NodeJS.ProcessEnv): void {
  // tini treats these as set/unset, whatever the value.
  if (env.TINI_SUBREAPER !== undefined) options.requireSubreaper = true;
  if (env.TINI_KILL_PROCESS_GROUP !== undefined) options.processGroup = true;
  if (env.TINI_VERBOSITY !== undefined) options.verbosity = parseVerbosity(env.TINI_VERBOSITY, 'TINI_VERBOSITY');
  if (env.DUMB_INIT_DEBUG === '1') options.verbosity = 3;
  if (env.DUMB_INIT_SETSID === '0') options.processGroup = options.newSession = false;
  else if (env.DUMB_INIT_SETSID === '1') options.processGroup = options.newSession = true;
  else if (env.DUMB_INIT_SETSID) { // empty is unset, as for REAPER_* variables
    throw new UsageError(`DUMB_INIT_SETSID=${shown(env.DUMB_INIT_SETSID)} is neither 1 (session mode) nor 0 (single child); set one of them or unset it.`);
  }
}

export function parseInvocation(argv: string[], env: NodeJS.ProcessEnv, flavour: Flavour = 'reaper'): Invocation {
  const options = defaults(flavour);
  applyAnchorEnvironment(options, env);
  for (const spec of OPTIONS) {
    const value = spec.env ? env[spec.env] : undefined;
    if (value !== undefined && value !== '') spec.apply(options, value, spec.env!);
  }
  const parsed = parseOptions(argv, options, flavour);
  if ('action' in parsed) return parsed;
  options.command = argv.slice(parsed.programAt);
  checkCommand(options);
  if (options.newSession && !options.pause) stopsAsSigstop(options);
  return { action: 'run', options };
}

type Answer = Exclude<Invocation, { action: 'run' }>;

/** Applies the options before the program; returns where the program starts, or the answer asked for (--help ...). */
function parseOptions(argv: string[], options: RunOptions, flavour: Flavour): Answer | { programAt: number } {
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return { programAt: i + 1 };
    if (!word.startsWith('-') || word === '-') break;

    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = word.slice(2, eq < 0 ? undefined : eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown option ${shown(`--${name}`)}; see reaper --help for the options, and put -- before a program whose name starts with -.`);
      let value = eq < 0 ? undefined : word.slice(eq + 1);
      if (spec.value && value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`option --${name} needs a value (${spec.value}); see reaper --help.`);
      } else if (!spec.value && value !== undefined) {
        throw new UsageError(`option --${name} takes no value; drop ${shown(`=${value}`)}.`);
      }
      const action = applyOption(spec, options, value ?? '', `--${name}`, flavour);
      if (action) return { action };
      continue;
    }

    for (let j = 1; j < word.length; j++) {
      const letter = word[j]!;
      const spec = byShort.get(letter);
      if (!spec) throw new UsageError(`unknown option ${shown(`-${letter}`)}; see reaper --help for the options, and put -- before a program whose name starts with -.`);
      let value = '';
      if (spec.value) {
        value = j + 1 < word.length ? word.slice(j + 1) : argv[++i]!;
        if (value === undefined) throw new UsageError(`option -${letter} needs a value (${spec.value}); see reaper --help.`);
        j = word.length;
      }
      const action = applyOption(spec, options, value, `-${letter}`, flavour);
      if (action) return { action };
    }
  }
  return { programAt: i };
}

/** What only the whole invocation can get wrong: the program, and options that contradict each other. */
function checkCommand(options: RunOptions): void {
  if (options.pause) {
    if (options.command.length > 0) throw new UsageError(`--pause runs no program, but ${shown(options.command[0]!)} was given; drop the program or --pause.`);
    return;
  }
  // --stop-timeout 0 alone is valid: SIGKILL as soon as the SIGTERM is forwarded.
  if (options.stopTimeoutMs !== null && options.forwardDelayMs > 0 && options.forwardDelayMs >= options.stopTimeoutMs) {
    throw new UsageError(`--forward-delay (${options.forwardDelayMs} ms) is not shorter than --stop-timeout (${options.stopTimeoutMs} ms): the app would be killed before its SIGTERM; make the delay shorter.`);
  }
  if (options.command.length === 0) throw new UsageError('no program to run; name it after the options, e.g. reaper -- node app.js.');
  if (options.command[0] === '') throw new UsageError('the program name is empty; name the program to run, e.g. reaper -- node app.js.');
}

/**
 * dumb-init's session mode: the app's group is orphaned (its parent is in
 * another session), and the kernel drops SIGTSTP/SIGTTIN/SIGTTOU for such a
 * group, so, as dumb-init does, they are sent on as SIGSTOP unless the user
 * rewrote them.
 */
function stopsAsSigstop(options: RunOptions): void {
  for (const stop of [SIGTSTP, SIGTTIN, SIGTTOU]) if (!options.rewrite.has(stop)) options.rewrite.set(stop, SIGSTOP);
}

function applyOption(spec: OptionSpec, options: RunOptions, value: string, source: string, flavour: Flavour) {
  if (spec.long === 'help' || spec.long === 'version' || spec.long === 'license') return spec.long;
  // dumb-init's -v is its (only) debug switch.
  if (spec.long === 'verbose' && flavour === 'dumb-init') options.verbosity = 3;
  else spec.apply(options, value, source);
  return undefined;
}

export function helpText(version: string): string {
  const rows = OPTIONS.map((spec) => {
    const names = `${spec.short ? `-${spec.short}, ` : '    '}--${spec.long}${spec.value ? ` ${spec.value}` : ''}`;
    const env = spec.env ? ` (env ${spec.env})` : '';
    return `  ${names.padEnd(32)} ${spec.help}${env}`;
  });
  return `Usage: reaper [options] [--] <program> [args...]
       reaper --pause [options]

reaper ${version} runs a program as the init of a container: it forwards signals to it,
reaps every zombie, drains the remaining processes when it exits, and exits with its status.

Options:
${rows.join('\n')}

Exit status:
  the program's exit code, or 128+N when signal N killed it (0 for codes given to -e);
  126 the program could not be executed, 127 it was not found;
  2 reaper was invoked wrongly (1 when called as tini, docker-init or dumb-init);
  1 reaper could not start the program (e.g. fork failed).

Durations: 500ms, 1.5s, 1m30s, 1h (Go and docker compose syntax), or a number of seconds.

Environment:
  Each REAPER_* variable above sets its option; a command-line option wins over it.
  An unknown REAPER_* variable gets a warning naming the closest one.
  tini's TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP, TINI_VERBOSITY and dumb-init's
  DUMB_INIT_SETSID, DUMB_INIT_DEBUG are honoured too. Called as "tini" or "dumb-init"
  (a link with that name), reaper starts from that tool's defaults.

Zombie census: reaper-zombies --help.
`;
}
