// npm run demo is a newcomer's first command: it must show the problem (zombies
// under Node as PID 1, counted once the orphans have exited) and the fix (none
// under reaper, and the app's exit status), never 0 and 0.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './harness/index.js';

t.test('npm run demo: zombies without an init, none under reaper, the exit status', async (t) => {
  const { NODE_OPTIONS: _tapLoader, ...env } = process.env; // as a user runs it: no tap loader
  const demo = spawnSync(process.execPath, [join(ROOT, 'demo', 'run-demo.js')], { env, encoding: 'utf8', timeout: 60_000 });
  t.equal(demo.status, 0, 'the demo ran to its end', { stderr: demo.stderr });
  const counts = [...demo.stdout.matchAll(/zombies under PID 1: (\d+)/g)].map((match) => Number(match[1]));
  t.equal(counts.length, 2, 'two counts', { stdout: demo.stdout });
  t.equal(counts[0], 20, 'without an init: all 20 orphans are zombies');
  t.equal(counts[1], 0, 'under reaper: none');
  t.match(demo.stdout, /reaper exited with 143 \(128\+SIGTERM/, 'the exit status');
  t.equal(demo.stderr.match(/reaped orphan pid \d+ \(sleep\)/g)?.length, 20, 'the reap log names each of the 20');
  t.match(demo.stderr, /NOTICE: drained 2 processes/, 'the drain report');
});
