// Why the app died: a real OOM kill in a memory cgroup with a 128 MiB limit
// (v1 memory controller or v2 memory.max, chosen at runtime) is named as the
// OOM killer's, with the limit; a plain SIGKILL in the same cgroup is not; an
// OOM kill of a grandchild is mentioned beside the app's own exit code; the
// limit of an ancestor cgroup is found when the app's own has none.
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REAPER, run, until, type Running, requirePid1 } from './harness/index.js';
import { explainDeath, readMemory, resolveMemoryCgroup, type MemoryCgroup } from '../dist/wrapper/supervisor/oom.js';
import { parseMountinfo } from '../dist/core/procfs.js';

// These tests run reaper as a real PID 1 (unshare --pid).
requirePid1(t);

const node = process.execPath;
const LIMIT = 128 * 1024 * 1024;
// The allocator volunteers as the OOM killer's victim (oom_score_adj 1000) so
// that the kernel never picks reaper, which shares the cgroup with it.
const ALLOCATE = "require('fs').writeFileSync('/proc/self/oom_score_adj', '1000'); console.log('allocating'); " +
  'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));';

interface TestCgroup {
  version: 1 | 2;
  path: string;
  oomKills(): number;
  remove(): Promise<void>;
}

function mountOf(type: 'cgroup' | 'cgroup2', option?: string): string | null {
  const mount = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .find((m) => m.type === type && (!option || m.options.includes(option)));
  return mount ? mount.point : null;
}

/** A fresh memory cgroup with the limit (and no swap), v1 if mounted, else v2; null if neither is usable. */
function createCgroup(name: string, limit: number | null, under?: string): TestCgroup | null {
  const v1 = mountOf('cgroup', 'memory');
  const v2 = mountOf('cgroup2');
  let version: 1 | 2;
  let base: string;
  if (v1) {
    version = 1;
    base = under ?? v1;
  } else if (v2 && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) {
    version = 2;
    base = under ?? v2;
    try {
      writeFileSync(join(base, 'cgroup.subtree_control'), '+memory');
    } catch {
      return null;
    }
  } else {
    return null;
  }
  const path = join(base, name);
  try {
    mkdirSync(path);
  } catch {
    return null;
  }
  if (limit !== null) {
    if (version === 1) {
      writeFileSync(join(path, 'memory.limit_in_bytes'), String(limit));
      // Without swap accounting the app could swap instead of being killed.
      if (existsSync(join(path, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(path, 'memory.memsw.limit_in_bytes'), String(limit));
    } else {
      writeFileSync(join(path, 'memory.max'), String(limit));
      if (existsSync(join(path, 'memory.swap.max'))) writeFileSync(join(path, 'memory.swap.max'), '0');
    }
  }
  const events = version === 1 ? join(path, 'memory.oom_control') : join(path, 'memory.events');
  return {
    version,
    path,
    oomKills: () => Number(/^oom_kill (\d+)$/m.exec(readFileSync(events, 'utf8'))?.[1] ?? NaN),
    async remove() {
      // A cgroup can be removed once its last process has gone.
      await until(() => {
        try {
          rmdirSync(path);
          return true;
        } catch {
          return false;
        }
      }, 10_000, `rmdir ${path}`);
    },
  };
}

/** Runs reaper (args) inside cgroup: the shell joins it, then execs reaper. */
function reaperIn(cgroup: TestCgroup, args: string[], pid1 = false): Running {
  const join = 'echo $$ > "$1" && shift && exec "$@"';
  const reaper = pid1 ? ['unshare', '--pid', '--fork', '--mount-proc', node, REAPER] : [node, REAPER];
  return run(['sh', '-c', join, 'sh', `${cgroup.path}/cgroup.procs`, ...reaper, ...args], { pid1: false });
}

const isRoot = process.getuid?.() === 0;
const probe = isRoot ? createCgroup(`reaper-probe-${process.pid}`, null) : null;
if (probe) await probe.remove();

t.test('real OOM kills in a memory cgroup', { skip: probe ? false : 'needs root and a memory cgroup controller (v1 or v2)' }, async (t) => {
  const cgroup = createCgroup(`reaper-test-${process.pid}`, LIMIT)!;
  t.teardown(() => cgroup.remove());
  t.comment(`cgroup v${cgroup.version}: ${cgroup.path}`);

  for (const pid1 of [false, true]) {
    t.test(`the app is OOM-killed: the NOTICE names the OOM killer and the limit (${pid1 ? 'PID 1' : 'not PID 1'})`, async (t) => {
      const before = cgroup.oomKills();
      const done = await reaperIn(cgroup, ['--', node, '-e', ALLOCATE], pid1).finished;
      t.equal(done.code, 137, 'exit status 128+SIGKILL');
      t.match(done.stdout, /^allocating$/m, 'the app ran');
      t.match(done.stderr, new RegExp(`^reaper\\[\\d+\\] NOTICE: node \\(pid \\d+\\) was killed by the kernel's OOM killer: ` +
        `its cgroup ${cgroup.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} reached the memory limit of 128 MiB; ` +
        `raise the limit or reduce the app's memory use\\.$`, 'm'));
      t.ok(cgroup.oomKills() > before, `the cgroup's oom_kill counter rose (${before} -> ${cgroup.oomKills()})`);
    });
  }

  t.test('JSON: the exit event says oomKilled', async (t) => {
    const done = await reaperIn(cgroup, ['--log-format', 'json', '--', node, '-e', ALLOCATE]).finished;
    t.equal(done.code, 137);
    const exit = done.stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.event === 'exit');
    t.match(exit, { level: 'notice', oomKilled: true, msg: /OOM killer.*128 MiB/ });
  });

  t.test('control: a plain SIGKILL in the same cgroup is no OOM kill', async (t) => {
    const before = cgroup.oomKills();
    t.ok(before > 0, 'the counter is already non-zero from the OOM kills above');
    const done = await reaperIn(cgroup, ['--', 'sh', '-c', 'kill -KILL $$']).finished;
    t.equal(done.code, 137);
    t.match(done.stderr, /NOTICE: sh \(pid \d+\) was killed by SIGKILL$/m);
    t.notMatch(done.stderr, /OOM|memory limit/, 'no OOM claim');
    t.equal(cgroup.oomKills(), before, 'the counter did not move');
  });

  t.test('control: a normal exit in the same cgroup says nothing at the default verbosity', async (t) => {
    const done = await reaperIn(cgroup, ['--', 'sh', '-c', 'exit 3']).finished;
    t.equal(done.code, 3);
    t.equal(done.stderr, '');
  });

  t.test('a grandchild is OOM-killed, the app exits with a code: both are said', async (t) => {
    const script = `"${node}" -e "${ALLOCATE.replace(/"/g, '\\"')}"; exit 3`;
    const done = await reaperIn(cgroup, ['--', 'sh', '-c', script]).finished;
    t.equal(done.code, 3, "the app's own exit code");
    t.match(done.stderr, /NOTICE: sh \(pid \d+\) exited with code 3; meanwhile the kernel's OOM killer killed a process in its cgroup \S+, which reached the memory limit of 128 MiB$/m);
  });
});

t.test('the limit of an ancestor cgroup is named when the app\'s own cgroup has none', { skip: probe ? false : 'needs root and a memory cgroup controller' }, async (t) => {
  const outer = createCgroup(`reaper-test-outer-${process.pid}`, LIMIT)!;
  const inner = createCgroup('app', null, outer.path)!;
  t.teardown(async () => {
    await inner.remove();
    await outer.remove();
  });
  const done = await reaperIn(inner, ['--', node, '-e', ALLOCATE]).finished;
  t.equal(done.code, 137);
  t.match(done.stderr, /NOTICE: node \(pid \d+\) was killed by the kernel's OOM killer: its cgroup \S+\/app reached the memory limit of 128 MiB;/);
});

t.test('cgroup choice at runtime: v1, hybrid and v2-only layouts', async (t) => {
  const mountinfo = (lines: string[]) => parseMountinfo(lines.join('\n'));
  const v1Mount = '34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory';
  const v2Hybrid = '40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw';
  const v2Only = '30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';
  const hybridCgroup = '4:memory:/docker/abc\n0::/docker/abc\n';
  const none = () => false;
  const all = () => true;
  t.same(resolveMemoryCgroup(hybridCgroup, mountinfo([v1Mount, v2Hybrid]), none), { path: '/sys/fs/cgroup/memory/docker/abc', version: 1 }, 'hybrid: v1 memory');
  t.same(resolveMemoryCgroup('0::/system.slice/app.service\n', mountinfo([v2Only]), all), { path: '/sys/fs/cgroup/system.slice/app.service', version: 2 }, 'v2 only');
  t.same(resolveMemoryCgroup('0::/\n', mountinfo([v2Only]), all), { path: '/sys/fs/cgroup', version: 2 }, 'v2 inside a cgroup namespace');
  t.equal(resolveMemoryCgroup('0::/x\n', mountinfo([v2Hybrid]), none), null, 'v2 tree without the memory controller: none');
  t.same(resolveMemoryCgroup('4:memory:/docker/abc\n', mountinfo(['34 30 0:31 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory'])),
    { path: '/sys/fs/cgroup/memory', version: 1 }, 'v1 with the container\'s cgroup mounted as root');
});

t.test('v2 files: oom_kill from memory.events, the tightest memory.max up the tree', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'reaper-oom-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const outer = join(root, 'outer');
  const inner = join(outer, 'inner');
  mkdirSync(inner, { recursive: true });
  writeFileSync(join(outer, 'memory.max'), String(LIMIT));
  writeFileSync(join(inner, 'memory.max'), 'max');
  const events = (kills: number) => writeFileSync(join(inner, 'memory.events'), `low 0\nhigh 0\nmax 12\noom 1\noom_kill ${kills}\noom_group_kill 0\n`);
  events(2);
  const cgroup: MemoryCgroup = { path: inner, version: 2 };
  const before = readMemory(cgroup);
  t.same(before, { oomKills: 2, limitBytes: LIMIT });
  const watch = { cgroup, before };
  const killed = { exitCode: null, signal: 9, coreDumped: false };
  t.equal(explainDeath(7, 'node', killed, watch)?.oomKilled, false, 'SIGKILL without a rise: no OOM claim');
  t.equal(explainDeath(7, 'node', { exitCode: 0, signal: null, coreDumped: false }, watch), null, 'a normal exit: nothing to say');
  events(3);
  const death = explainDeath(7, 'node', killed, watch)!;
  t.equal(death.oomKilled, true);
  t.equal(death.memoryLimitBytes, LIMIT);
  t.equal(death.message, `node (pid 7) was killed by the kernel's OOM killer: its cgroup ${inner} reached the memory limit of 128 MiB; raise the limit or reduce the app's memory use.`);
  const other = explainDeath(7, 'node', { exitCode: null, signal: 15, coreDumped: false }, watch)!;
  t.equal(other.oomKilled, false, 'SIGTERM is never an OOM kill');
  t.match(other.message, /^node \(pid 7\) was killed by SIGTERM; meanwhile the kernel's OOM killer killed a process/);
  t.equal(explainDeath(7, 'node', killed, { cgroup: null, before: { oomKills: null, limitBytes: null } })!.message,
    'node (pid 7) was killed by SIGKILL', 'no memory cgroup: just the signal');
});
