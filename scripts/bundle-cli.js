// Bundles the CLI into one CommonJS file, dist/cli-main.cjs, started by a
// small loader, dist/cli.cjs. Node 20 loads ES modules with asynchronous file
// reads, which start libuv's 4-thread pool and cost ~25 ms per start; one
// require()d file does neither. PID 1 runs for the container's whole life, so
// its threads and memory count.
//
// The loader runs the bundle with V8's code cache when the install step has
// made one with this Node (dist/cli-main.<size>-<mtime>.cache, written by
// `REAPER_CODE_CACHE=write reaper -- true`): compiling the bundle's functions
// is ~2.5 ms of reaper's start that the cache takes off. No cache, a cache of
// another bundle (the name carries its size and mtime) or of another V8 (V8
// rejects it): the bundle is compiled as usual.
import { build } from 'esbuild';
import { chmodSync, readdirSync, rmSync, writeFileSync } from 'node:fs';

// A new bundle: caches of the old one would never match again.
const dist = new URL('../dist/', import.meta.url);
for (const name of readdirSync(dist)) if (/^cli-main\..*\.cache$/.test(name)) rmSync(new URL(name, dist));

await build({
  entryPoints: [new URL('../dist/cli.js', import.meta.url).pathname],
  outfile: new URL('../dist/cli-main.cjs', import.meta.url).pathname,
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
  banner: { js: "const importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

const loader = `#!/usr/bin/env node
// reaper's CLI: runs dist/cli-main.cjs, with V8's code cache when there is one
// for it (see scripts/bundle-cli.js).
'use strict';
const { readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const file = join(__dirname, 'cli-main.cjs');
const { size, mtimeMs } = statSync(file);
const cacheFile = join(__dirname, \`cli-main.\${size}-\${Math.trunc(mtimeMs)}.cache\`);
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {}
const script = new (require('node:vm').Script)(require('node:module').wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.REAPER_CODE_CACHE === 'write') {
  // Called by the CLI just before it exits, when the run's functions are compiled.
  globalThis[Symbol.for('reaper.writeCodeCache')] = () => {
    writeFileSync(\`\${cacheFile}.tmp\`, script.createCachedData());
    renameSync(\`\${cacheFile}.tmp\`, cacheFile);
  };
}
script.runInThisContext()(exports, require, module, file, __dirname);
`;
const out = new URL('../dist/cli.cjs', import.meta.url);
writeFileSync(out, loader);
chmodSync(out, 0o755);
