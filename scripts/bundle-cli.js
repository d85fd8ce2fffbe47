// Bundles the CLI into one CommonJS file, dist/cli.cjs. Node 20 loads ES
// modules with asynchronous file reads, which start libuv's 4-thread pool and
// cost ~25 ms per start; one require()d file does neither. PID 1 runs for the
// container's whole life, so its threads and memory count.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/cli.js', import.meta.url).pathname],
  outfile: new URL('../dist/cli.cjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  // The loader finds the addon relative to the package root at run time.
  external: ['node-gyp-build'],
  // import.meta.url has no CommonJS meaning; the bundle sits where cli.js does.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: "#!/usr/bin/env node\nconst importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/cli.cjs', import.meta.url), 0o755);
