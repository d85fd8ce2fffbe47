// An idle app, for the library-mode memory figure: `node bench/lib-app.js off`
// is a bare idle ESM app, `... on` the same app with reaper's library started.
// Runs as PID 1 (the benchmark starts it through pidns). It announces itself
// on fd 3 with a plain write, so no stdout stream is created for the floor.
import { writeSync } from 'node:fs';

const mode = process.argv[2];
if (mode === 'on') {
  const { startReaper } = await import(new URL('../dist/index.js', import.meta.url).href);
  if (typeof startReaper !== 'function') {
    writeSync(3, 'missing startReaper\n');
    process.exit(1);
  }
  startReaper({ subreaper: true });
}
setInterval(() => {}, 1e9);
writeSync(3, `ready ${mode}\n`);
