// NODE_OPTIONS belongs to the app: reaper's launcher (build/Release/reaper-launcher,
// which the bin, bin/reaper, execs) hides it from the Node that runs
// reaper, and `node dist/cli.cjs` (the fallback) starts Node again without it.
// Bytes reach the app exact; the parent's signal state is handed on; 60,000
// arguments to a script without #! start. Every run sets NODE_OPTIONS itself
// after the harness's `env -u NODE_OPTIONS` (which keeps tap's loader out).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, REAPER, run, within, requirePid1 } from './harness/index.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const LAUNCHER = join(ROOT, 'build', 'Release', 'reaper-launcher');
const work = mkdtempSync(join(tmpdir(), 'reaper-node-options-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** The ways of starting reaper under test. */
const forms = {
  launcher: [LAUNCHER],
  fallback: [node, REAPER],
  // The bin every package manager installs: a sh script that execs the launcher (test/install.ts: each install path).
  'sh bin': [join(ROOT, 'bin', 'reaper')],
} as const;
// Marks the process as launched, so dist/cli.cjs does not start node again:
// reaper as it was before the launcher, with NODE_OPTIONS applied to PID 1.
const withoutTheFix = ['env', '__REAPER_LAUNCHER=-:-:reaper', node, REAPER];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const appInspector = [node, '-e', "console.log('url', require('inspector').url())"];

t.test('--inspect in NODE_OPTIONS: one debugger, the app\'s', async (t) => {
  const port = await freePort();
  const done = await run(['env', `NODE_OPTIONS=--inspect=127.0.0.1:${port}`, ...forms.launcher, '--', ...appInspector]).finished;
  t.equal(done.code, 0, 'the app ran', { stderr: done.stderr });
  t.match(done.stdout, new RegExp(`^url ws://127\\.0\\.0\\.1:${port}/`, 'm'), "the app's inspector URL");
  t.equal(done.stderr.match(/Debugger listening/g)?.length, 1, 'exactly one "Debugger listening" line', { stderr: done.stderr });

  // Control: reaper with NODE_OPTIONS applied opens the port first; the app cannot.
  const control = await run(['env', `NODE_OPTIONS=--inspect=127.0.0.1:${port}`, ...withoutTheFix, '--', ...appInspector]).finished;
  t.match(control.stderr, /address already in use/, 'control: without the launcher PID 1 takes the port', { stderr: control.stderr });
  t.match(control.stdout, /^url undefined$/m, 'control: and the app has no inspector');

  // The fallback starts node again at once: its own inspector opened for that moment (documented).
  const fallback = await run(['env', `NODE_OPTIONS=--inspect=127.0.0.1:${port}`, ...forms.fallback, '--', ...appInspector]).finished;
  t.equal(fallback.code, 0, 'fallback: the app ran', { stderr: fallback.stderr });
  t.match(fallback.stdout, new RegExp(`^url ws://127\\.0\\.0\\.1:${port}/`, 'm'), "fallback: the app has the inspector");
});

t.test('reaper-zombies (a HEALTHCHECK, in the app\'s environment): no inspector opens in it', async (t) => {
  const port = await freePort();
  const inspect = ['env', `NODE_OPTIONS=--inspect=127.0.0.1:${port}`];
  // The launcher, called by the name reaper-zombies (as bin/reaper-zombies execs it).
  const zombies = join(work, 'reaper-zombies');
  symlinkSync(LAUNCHER, zombies);
  const done = await run([...inspect, zombies, '--max', '0']).finished;
  t.equal(done.code, 0, 'the census ran', { stderr: done.stderr });
  t.match(done.stdout, /^healthy: 0 zombies/m, 'and is the census (not reaper)');
  t.notMatch(done.stderr, /Debugger listening/, 'no inspector opened', { stderr: done.stderr });
  // Control: the census as it was (node on it, as #!/usr/bin/env node ran it) opens the inspector.
  const control = await run([...inspect, 'env', '__REAPER_LAUNCHER=-:-:reaper-zombies', node, join(ROOT, 'dist', 'zombies-cli.cjs'), '--max', '0']).finished;
  t.match(control.stderr, /Debugger listening on ws:\/\/127\.0\.0\.1:\d+\//, 'control: with NODE_OPTIONS applied it opens the inspector', { stderr: control.stderr });
  // The sh bin, which passes the name on to the launcher.
  const bin = await run([...inspect, join(ROOT, 'bin', 'reaper-zombies'), '--max', '0']).finished;
  t.equal(bin.code, 0, 'sh bin: the census ran', { stderr: bin.stderr });
  t.match(bin.stdout, /^healthy: 0 zombies/m, 'sh bin: healthy');
  t.notMatch(bin.stderr, /Debugger listening/, 'sh bin: no inspector opened', { stderr: bin.stderr });
});

t.test('a preload that runs a child process 100 ms after start', async (t) => {
  const preload = join(work, 'spawns-later.cjs');
  writeFileSync(preload, "setTimeout(() => require('child_process').execFile('true'), 100);\n");
  for (const [name, form] of Object.entries(forms)) {
    const done = await within(run(['env', `NODE_OPTIONS=--require ${preload}`, ...form, '--', 'sh', '-c', 'sleep 1; exit 3']).finished, 20_000, name);
    t.equal(done.code, 3, `${name}: reaper -- sh -c 'sleep 1; exit 3' exits 3`, { stderr: done.stderr });
  }
  // Control: the preload in PID 1 replaces reaper's SIGCHLD handling; it never exits.
  const control = run(['env', `NODE_OPTIONS=--require ${preload}`, ...withoutTheFix, '--', 'sh', '-c', 'sleep 1; exit 3']);
  const outcome = await Promise.race([control.finished, new Promise((resolve) => setTimeout(() => resolve('running'), 5000))]);
  t.equal(outcome, 'running', 'control: with the preload in PID 1, reaper is still running 4 s after the app exited');
  process.kill(control.initPid(), 'SIGKILL');
  await control.finished;
});

t.test('--max-old-space-size reaches the app, not PID 1; NODE_OPTIONS arrives exact', async (t) => {
  // The app reads its own heap limit and PID 1's environment block.
  const app = [node, '-e', `
    const env = require('fs').readFileSync('/proc/1/environ', 'latin1').split('\\0');
    console.log('limit', require('v8').getHeapStatistics().heap_size_limit >> 20);
    console.log('pid1', env.some((e) => e.startsWith('NODE_OPTIONS=')) ? 'has NODE_OPTIONS' : 'clean');
    console.log('mine', JSON.stringify(process.env.NODE_OPTIONS));`];
  for (const [name, form] of Object.entries(forms)) {
    const done = await run(['env', 'NODE_OPTIONS=--max-old-space-size=24', ...form, '--', ...app]).finished;
    t.equal(done.code, 0, `${name}: ran`, { stderr: done.stderr });
    t.ok(Number(done.stdout.match(/^limit (\d+)/m)?.[1]) < 100, `${name}: the app's heap limit is the small one`, { stdout: done.stdout });
    t.match(done.stdout, /^pid1 clean$/m, `${name}: PID 1 runs without NODE_OPTIONS`);
    t.match(done.stdout, /^mine "--max-old-space-size=24"$/m, `${name}: the app has it as given`);
  }
  const control = await run(['env', 'NODE_OPTIONS=--max-old-space-size=24', ...withoutTheFix, '--', ...app]).finished;
  t.match(control.stdout, /^pid1 has NODE_OPTIONS$/m, 'control: the check sees NODE_OPTIONS in PID 1 when it is there');

  // Absent stays absent, empty stays empty, and other NODE_* / UV_* come back too.
  const show = ['sh', '-c', 'echo "options=${NODE_OPTIONS-absent} uv=$UV_THREADPOOL_SIZE debug=$NODE_DEBUG"; env | grep -c __REAPER || true'];
  const absent = await run(['env', ...forms.launcher, '--', ...show], { pid1: false }).finished;
  t.match(absent.stdout, /^options=absent uv= debug=\n0\n$/, 'absent: absent, and no private variable reaches the app');
  const empty = await run(['env', 'NODE_OPTIONS=', 'UV_THREADPOOL_SIZE=2', 'NODE_DEBUG=x', ...forms.launcher, '--', ...show], { pid1: false }).finished;
  t.match(empty.stdout, /^options= uv=2 debug=x\n0\n$/, 'empty: empty; UV_THREADPOOL_SIZE and NODE_DEBUG as given');
});

t.test('invalid UTF-8 in argv, environment and program path arrives exact', async (t) => {
  // Node's child_process would decode Buffers as UTF-8: sh makes the bytes (a \377 \376 b) itself.
  const bytes = `B=$(printf 'a\\377\\376b'); P="${work}/$(printf 'd\\377\\376')/show"`;
  spawnSync('sh', ['-c', `${bytes}; mkdir -p "\${P%/show}" && printf '#!/bin/sh\\nprintf %%s "$1" | od -An -tx1; printf %%s "$X" | od -An -tx1\\n' > "$P" && chmod +x "$P"`]);
  const viaSh = (command: string) => spawnSync('sh', ['-c', `${bytes}; exec env -u NODE_OPTIONS "X=$B" ${command}`], { encoding: 'latin1' });
  const expected = /^ 61 ff fe 62\n 61 ff fe 62\n$/;
  for (const [name, form] of Object.entries(forms)) {
    const result = viaSh(`${form.join(' ')} -- "$P" "$B"`);
    t.equal(result.status, 0, `${name}: the program with a non-UTF-8 path ran`, { stderr: result.stderr });
    t.match(result.stdout, expected, `${name}: argv and environment bytes exact`);
  }
  // Control: a Node wrapper that passes process.argv and process.env on, as reaper did, changes the bytes.
  const lossy = viaSh(`${node} -e "require('child_process').spawnSync(process.argv[1], [process.argv[2]], { stdio: 'inherit' })" "$P" "$B"`);
  t.notMatch(lossy.stdout, expected, 'control: through process.argv and process.env the bytes change', { stdout: lossy.stdout, stderr: lossy.stderr });
});

t.test('60,000 arguments to a script without #!', async (t) => {
  const script = join(work, 'no-shebang');
  writeFileSync(script, 'echo "args: $#"\n');
  chmodSync(script, 0o755);
  const many = Array.from({ length: 60_000 }, (_, i) => String(i % 10));
  for (const [name, form] of Object.entries(forms)) {
    // -u NODE_OPTIONS keeps tap's --import loader out; not about the user's NODE_OPTIONS (the tests above are).
    const result = spawnSync('env', ['-u', 'NODE_OPTIONS', ...form, '--', script, ...many], { encoding: 'utf8' });
    t.equal(result.status, 0, `${name}: exit 0`, { stderr: result.stderr.slice(0, 500) });
    t.equal(result.stdout, 'args: 60000\n', `${name}: /bin/sh ran it with every argument`);
  }
  // PATH lookup too, with the longest argument list this kernel takes for it (a quarter of the stack limit).
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'no-shebang-on-path'), 'echo "args: $#"\n');
  chmodSync(join(bin, 'no-shebang-on-path'), 0o755);
  const more = Array.from({ length: 150_000 }, () => '1');
  // -u NODE_OPTIONS keeps tap's --import loader out; not about the user's NODE_OPTIONS (the tests above are).
  const result = spawnSync('env', ['-u', 'NODE_OPTIONS', `PATH=${bin}:${process.env.PATH}`, LAUNCHER, '--', 'no-shebang-on-path', ...more], { encoding: 'utf8' });
  t.equal(result.stdout, 'args: 150000\n', '150,000 arguments through a PATH lookup', { stderr: result.stderr.slice(0, 500) });
});

t.test("signals the parent ignored or blocked are handed to the app (launcher only)", async (t) => {
  // python3 sets SIGHUP ignored and SIGUSR2 blocked, then execs reaper (as nohup or a supervisor would).
  const py = (form: readonly string[]) => ['python3', '-c',
    // (python leaves SIGPIPE and SIGXFSZ ignored: put them back first)
    'import os, signal as s, sys; [s.signal(n, s.SIG_DFL) for n in (s.SIGPIPE, s.SIGXFSZ)]; s.signal(s.SIGHUP, s.SIG_IGN); s.pthread_sigmask(s.SIG_BLOCK, {s.SIGUSR2}); os.execvp(sys.argv[1], sys.argv[1:])',
    ...form, '--', 'grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status'];
  const launched = await run(py(forms.launcher)).finished;
  t.match(launched.stdout, /^SigBlk:\s+0000000000000800$/m, 'SIGUSR2 stays blocked in the app');
  t.match(launched.stdout, /^SigIgn:\s+0000000000000001$/m, 'SIGHUP stays ignored in the app (and nothing else is)');
  const fallback = await run(py(forms.fallback)).finished;
  t.match(fallback.stdout, /^SigIgn:\s+0000000000000000$/m, 'the fallback cannot: Node reset them before reaper ran');
  t.match(fallback.stdout, /^SigBlk:\s+0000000000000000$/m, 'the fallback: empty mask');
});

t.test('the launcher: one line and 127 when node or the bundle cannot be found', async (t) => {
  // -u NODE_OPTIONS keeps tap's --import loader out; not about the user's NODE_OPTIONS (the tests above are).
  const noNode = spawnSync('env', ['-u', 'NODE_OPTIONS', 'PATH=/nonexistent', LAUNCHER, '--', 'true'], { encoding: 'utf8' });
  t.equal(noNode.status, 127);
  t.match(noNode.stderr, /^reaper: node is not on PATH \(nor at \/nodejs\/bin\/node\); put node on PATH, or run reaper as: node \S+dist\/cli\.cjs -- <program> \.\.\.\n$/);
  const noCli = spawnSync('env', ['-u', 'NODE_OPTIONS', 'REAPER_CLI=/nonexistent/cli.cjs', LAUNCHER, '--', 'true'], { encoding: 'utf8' });
  t.equal(noCli.status, 127);
  t.match(noCli.stderr, /^reaper: \/nonexistent\/cli\.cjs \(from REAPER_CLI\) is not a readable file; point REAPER_CLI at reaper-init's dist\/cli\.cjs\.\n$/);
});

t.test('reaper-zombies under any name: a link to bin/reaper-zombies runs the census', async (t) => {
  // bin/reaper-zombies says which program it is; the name of a link to it does not decide.
  const link = join(work, 'rz');
  symlinkSync(join(ROOT, 'bin', 'reaper-zombies'), link);
  const help = await run([link, '--help'], { pid1: false }).finished;
  t.equal(help.code, 0, 'rz --help exits 0', { stderr: help.stderr });
  t.match(help.stdout, /^Usage: reaper-zombies /, "and prints the census's usage, not reaper's");
  // The name aliasing through bin/reaper stays: a link named tini answers as tini.
  const tini = join(work, 'tini');
  symlinkSync(join(ROOT, 'bin', 'reaper'), tini);
  const version = await run([tini, '--version'], { pid1: false }).finished;
  t.match(version.stdout, /^tini version /, 'a link to bin/reaper named tini answers as tini');
  const wrong = await run([tini, '--bogus'], { pid1: false }).finished;
  t.equal(wrong.code, 1, "and exits with tini's usage status, 1");
});

t.test('no launcher for this machine: the sh bin hides NODE_OPTIONS itself', async (t) => {
  // The package as installed on a machine with no prebuilt launcher: bin/, dist/ and the
  // addon (which a source build gives), but neither build/Release/reaper-launcher nor prebuilds/.
  const pkg = join(work, 'no-launcher');
  for (const dir of ['bin', 'dist']) cpSync(join(ROOT, dir), join(pkg, dir), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(ROOT, 'build', 'Release', 'reaper.node'), join(pkg, 'build', 'Release', 'reaper.node'));
  const bin = join(pkg, 'bin', 'reaper');

  // Bounded: without the fix PID 1 waits for a debugger forever (the control in test/install.ts).
  const brk = await within(run(['env', 'NODE_OPTIONS=--inspect-brk=127.0.0.1:0', bin, '--', 'sh', '-c', 'exit 4']).finished, 30_000, 'reaper under --inspect-brk');
  t.equal(brk.code, 4, "--inspect-brk in NODE_OPTIONS: reaper -- sh -c 'exit 4' as PID 1 exits 4", { stderr: brk.stderr });
  t.notMatch(brk.stderr, /Debugger listening/, 'PID 1 opened no inspector');

  // Hidden and given back byte for byte: a newline and bytes that are not UTF-8 in a value
  // (sh makes them: Node's child_process would encode them as UTF-8), the app prints them in hex.
  const app = spawnSync('sh', ['-c', `U=$(printf 'a\\n\\377\\376b'); exec env -u NODE_OPTIONS NODE_OPTIONS=--max-old-space-size=99 "UV_THREADPOOL_SIZE=$U" arch=kept "$0" -- sh -c 'printf %s "$UV_THREADPOOL_SIZE" | od -An -tx1; env'`, bin], { encoding: 'latin1' });
  t.equal(app.status, 0, 'the app ran', { stderr: app.stderr });
  const entries = app.stdout;
  t.match(entries, /^ 61 0a ff fe 62\n/, 'a value with a newline and non-UTF-8 bytes arrives exact');
  t.match(entries, /^NODE_OPTIONS=--max-old-space-size=99$/m, 'NODE_OPTIONS reaches the app');
  t.notMatch(entries, /__REAPER/, "nothing of reaper's in the app's environment");
  t.match(entries, /^arch=kept$/m, "a variable named like one of the bin's own keeps its value");

  const link = join(work, 'rz-no-launcher');
  symlinkSync(join(pkg, 'bin', 'reaper-zombies'), link);
  const census = await run(['env', 'NODE_OPTIONS=--inspect=127.0.0.1:0', link, '--max', '0']).finished;
  t.equal(census.code, 0, 'a link to reaper-zombies runs the census', { stderr: census.stderr });
  t.match(census.stdout, /^healthy: 0 zombies/m, 'healthy');
  t.notMatch(census.stderr, /Debugger listening/, 'with no inspector of its own');
});
