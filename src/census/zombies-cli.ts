#!/usr/bin/env node
// reaper-zombies [--json] [--max N]
// Lists every zombie visible in /proc, grouped by parent, with what to do.
// With --max N it exits 1 when more than N zombies exist (a HEALTHCHECK).
// Usage errors are one line on stderr and exit status 2.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { shown } from '../core/format.js';
import { unknownVariables } from '../wrapper/args.js';
import { census, type CensusReport, type ZombieGroup } from './census.js';
import { UsageError } from '../core/errors.js';
import { formatDuration, listed, printable, toJson } from '../core/format.js';
import { relaunchIfShaped } from '../core/launch.js';

const packageJson = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };

interface Options {
  json: boolean;
  max: number | null;
  action: 'run' | 'help' | 'version';
}

export function helpText(version: string): string {
  return `Usage: reaper-zombies [--json] [--max N]

reaper-zombies ${version} lists every zombie process visible in /proc, grouped by parent:
the parent's pid, command line and cgroup (container id or systemd unit), how many
zombies it holds, how long ago the oldest started, and what to do about them.

Options:
  --json           Print one JSON document (schema version 1, see docs/diagnostics.md).
  --max N          Exit with status 1 when more than N zombies exist, e.g. in a Docker
                   HEALTHCHECK: CMD ["reaper-zombies", "--max", "10"]. (env REAPER_ZOMBIES_MAX)
  -h, --help       Print this help and exit.
  -V, --version    Print the version and exit.

Exit status:
  0 no --max given, or at most N zombies; 1 more than N zombies;
  2 reaper-zombies was invoked wrongly; 3 the census could not run (e.g. no /proc or native addon).

What clears a zombie: only its parent waiting for it. A zombie whose parent is alive stays
until that parent waits (fix it) or exits (restart it); zombies under a PID 1 that is not an
init (node, python...) stay until you run that PID 1 under reaper; zombies under reaper or
another init are transient. The census sees only its own pid namespace and what /proc shows.
`;
}

function parseMax(value: string, source: string): number {
  if (!/^\d+$/.test(value.trim())) {
    throw new UsageError(`${source}: ${shown(value)} is not a number of zombies; use a whole number such as 0 or 10.`);
  }
  return Number(value.trim());
}

export function parseArguments(argv: string[], env: NodeJS.ProcessEnv): Options {
  const options: Options = { json: false, max: null, action: 'run' };
  const fromEnv = env.REAPER_ZOMBIES_MAX;
  if (fromEnv !== undefined && fromEnv !== '') options.max = parseMax(fromEnv, 'REAPER_ZOMBIES_MAX');
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '-h' || word === '--help') return { ...options, action: 'help' };
    if (word === '-V' || word === '--version') return { ...options, action: 'version' };
    if (word === '--json') options.json = true;
    else if (word === '--max') {
      const value = argv[++i];
      if (value === undefined) throw new UsageError('option --max needs a value (N); see reaper-zombies --help.');
      options.max = parseMax(value, '--max');
    } else if (word.startsWith('--max=')) {
      options.max = parseMax(word.slice(6), '--max');
    } else if (word.startsWith('--json=')) {
      throw new UsageError(`option --json takes no value; drop ${shown(word.slice(6))}.`);
    } else if (word.startsWith('-')) {
      throw new UsageError(`unknown option ${shown(word)}; see reaper-zombies --help.`);
    } else {
      throw new UsageError(`unexpected argument ${shown(word)}; reaper-zombies takes only options (see --help).`);
    }
  }
  return options;
}

const MAX_PIDS_SHOWN = 20;
const MAX_COMMAND = 160;

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

function formatGroup(group: ZombieGroup): string {
  const { parent } = group;
  // Every name, command line and cgroup path is escaped: a zombie's argv must not drive the terminal.
  const command = parent.command === null ? '(unknown)' : printable(parent.command, MAX_COMMAND);
  const namespace = parent.namespacePid !== null && parent.namespacePid !== parent.pid ? ` (pid ${parent.namespacePid} in its namespace)` : '';
  const lines = [`parent pid ${parent.pid}${namespace} [${parent.kind}]: ${command}`];
  if (parent.cgroup) lines.push(`  cgroup: ${printable(parent.cgroup.label ?? parent.cgroup.path)}`);
  const names = listed([...new Set(group.comms)].map((comm) => printable(comm)));
  const pids = listed(group.pids.map(String), MAX_PIDS_SHOWN, ' ');
  const age = group.oldestAgeMs !== null ? `, oldest started ${formatDuration(group.oldestAgeMs)} ago` : '';
  lines.push(`  ${plural(group.count, 'zombie')} (${names})${age}: pids ${pids}`);
  lines.push(`  what to do: ${printable(group.advice, Infinity)}`); // it names the parent's comm
  return lines.join('\n');
}

export function formatText(report: CensusReport): string {
  const out: string[] = [];
  if (report.total === 0) {
    out.push(`no zombies (${report.scanned} processes scanned)`);
  } else {
    const parents = plural(report.groups.length, 'parent');
    out.push(`${plural(report.total, 'zombie')} under ${parents} (${report.scanned} processes scanned)`);
    for (const group of report.groups) out.push('', formatGroup(group));
  }
  if (report.exitedLeaders > 0) {
    out.push('', `${report.exitedLeaders} more process(es) show state Z only because their main thread exited while other threads run; not zombies.`);
  }
  for (const note of report.notes) out.push(`note: ${printable(note, Infinity)}`);
  return out.join('\n') + '\n';
}

function main(): number {
  // A HEALTHCHECK runs this in the app's image: NODE_OPTIONS (an inspector, an
  // APM preload) is the app's. Through the launcher (bin/reaper-zombies) it
  // never applies here; started by node directly, node starts again without it.
  // Its warning waits for the census: when the addon is missing, the census's one line says so.
  let relaunchFailed = '';
  relaunchIfShaped((message) => { relaunchFailed = `reaper-zombies: ${message}\n`; });
  let options: Options;
  try {
    options = parseArguments(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`reaper-zombies: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  for (const warning of unknownVariables(process.env)) process.stderr.write(`reaper-zombies: warning: ${warning}\n`);
  if (options.action === 'help') {
    process.stdout.write(helpText(packageJson.version));
    return 0;
  }
  if (options.action === 'version') {
    process.stdout.write(`reaper-zombies ${packageJson.version}\n`);
    return 0;
  }

  let report: CensusReport;
  try {
    report = census();
  } catch (error) {
    // One line naming cause and fix (the errors census throws say both); never "healthy".
    const why = (error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, ' ');
    process.stderr.write(`reaper-zombies: the census could not run: ${why}\n`);
    return 3;
  }
  process.stderr.write(relaunchFailed);
  const exceeded = options.max !== null && report.total > options.max;
  if (options.json) {
    process.stdout.write(toJson({ ...report, max: options.max, exceeded }, 2) + '\n');
  } else {
    let text = formatText(report);
    if (options.max !== null) {
      text += exceeded
        ? `unhealthy: ${report.total} zombies, more than --max ${options.max}\n`
        : `healthy: ${report.total} zombies, at most --max ${options.max}\n`;
    }
    process.stdout.write(text);
  }
  return exceeded ? 1 : 0;
}

process.exitCode = main();
