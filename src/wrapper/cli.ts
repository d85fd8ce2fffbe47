// reaper [options] [--] <program> [args...]
// Parses the command line, hands over to the supervisor and exits with the
// child's status. Usage errors are one line on stderr and exit status 2, or 1
// under tini's and dumb-init's names, as those tools exit.
import { basename, join } from 'node:path';
import { readFileSync } from 'node:fs';
import { helpText, parseInvocation, unknownVariables, type Flavour } from './args.js';
import { isSystemError, ReaperError, UsageError } from '../core/errors.js';
import { createLogger } from './log.js';
import { native } from '../core/native.js';
import { pause, supervise } from './supervisor/supervisor.js';
import { launch, relaunchIfShaped } from '../core/launch.js';

/** Read only for --help and --version: the start path of PID 1 stays short. */
const packageJson = () => JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string; gitHead?: string };

function flavourOf(argv1: string | undefined): Flavour {
  const name = basename(argv1 ?? '');
  if (name === 'tini' || name === 'docker-init') return 'tini';
  if (name === 'dumb-init') return 'dumb-init';
  return 'reaper';
}

/**
 * docker info runs `docker-init --version` and accepts "tini version X - git.Y";
 * catatonit answers the same way, so we do too, naming ourselves in X.
 */
function versionLine(): string {
  const { version, gitHead } = packageJson();
  let commit = gitHead?.slice(0, 7);
  try {
    commit = (JSON.parse(readFileSync(join(import.meta.dirname, '..', 'commit.json'), 'utf8')) as { commit: string }).commit;
  } catch {
    // Built outside a git checkout: no commit to name.
  }
  return `tini version ${version}_reaper${commit ? ` - git.${commit}` : ''}\n`;
}

/** --help, --version, --license: the answer and its exit status. */
function answer(action: 'help' | 'version' | 'license', flavour: Flavour): number {
  // dumb-init prints its help and version on stderr; tini and reaper on stdout.
  // A function: touching process.stdout makes the fd the app shares non-blocking.
  const out = () => (flavour === 'dumb-init' ? process.stderr : process.stdout);
  if (action === 'help') {
    out().write(helpText(packageJson().version));
    return 0;
  }
  if (action === 'version') {
    out().write(versionLine());
    return 0;
  }
  if (action === 'license') {
    // The package's LICENSE file is the one owner of the text (npm ships it in every tarball).
    try {
      process.stdout.write(readFileSync(join(import.meta.dirname, '..', '..', 'LICENSE'), 'utf8'));
      return 0;
    } catch (error) {
      process.stderr.write(`reaper: the package's LICENSE file cannot be read (${(error as NodeJS.ErrnoException).code}); reaper-init is MIT licensed, reinstall it to restore the file.\n`);
      return 1;
    }
  }
  return 0;
}

async function main(): Promise<number> {
  relaunchIfShaped((message) => process.stderr.write(`reaper: ${message}\n`));
  // Through the launcher, argv[1] is the bundle: the name called is in its marker.
  const flavour = flavourOf(launch()?.argv0 ?? process.argv[1]);
  let invocation;
  try {
    invocation = parseInvocation(process.argv.slice(2), process.env, flavour);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`reaper: ${error.message}\n`);
      return flavour === 'reaper' ? 2 : 1;
    }
    // A real-time signal name needs the addon (the C library's SIGRTMIN).
    if (error instanceof ReaperError) {
      process.stderr.write(`reaper: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (invocation.action !== 'run') return answer(invocation.action, flavour);

  const { options } = invocation;
  const log = createLogger(options.verbosity, options.logFormat);
  for (const warning of unknownVariables(process.env)) log.warn(warning);
  try {
    // Set by dist/cli.cjs when it found no usable V8 code cache: it writes one for the next
    // starts (scripts/bundle-cli.js). --pause starts no app and leaves it to a run that does.
    const writeCodeCache = (globalThis as { [key: symbol]: (() => void) | undefined })[Symbol.for('reaper.writeCodeCache')];
    const result = await (options.pause ? pause(options, log) : supervise(options, log, writeCodeCache));
    // Everything is reaped and logged; close() finishes a line a slow reader
    // took only part of. Node's exit path would restore terminal modes and
    // abort on a hung-up terminal, hence exitNow.
    log.close();
    return native().exitNow(result.exitCode);
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode ?? 1;
    // Before the app exists. A system error (EMFILE, a refused sigaction) is
    // one line; anything unexpected is a bug and gets its stack.
    const message = (error as Error).message;
    if (error instanceof ReaperError || exitCode !== 1) log.error(message);
    else log.error(`could not start: ${isSystemError(error) ? message : (error as Error).stack}`);
    log.close();
    return exitCode;
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`reaper: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
