// Bundles the CLIs into CommonJS files: dist/cli-main.cjs, started by a small
// loader, dist/cli.cjs, and dist/zombies-cli.cjs (reaper-zombies). Node 20
// loads ES modules with asynchronous file reads, which start libuv's 4-thread
// pool and cost ~25 ms per start; one require()d file does neither. PID 1
// runs for the container's whole life, so its threads and memory count.
//
// The loader runs the bundle with V8's code cache when one was made with this
// V8 (dist/cli-main.<hash>.<v8>.cache): compiling the bundle's functions is
// ~3 ms of reaper's ~30 ms start that the cache takes off. No install step
// makes it (npm 12, pnpm and --ignore-scripts run none): the first run that
// finds no usable cache writes one right after it has started the app, when
// the start's functions are compiled, if dist/ is writable; not at exit,
// where it would delay the container's stop. Where dist/ is read-only (an
// image layer, a package owned by another user) nothing is written and
// nothing fails. Containers sharing one node_modules are all PID 1, so the
// temporary file's name is random and created exclusively, then renamed into
// place: a cache file is always one writer's whole file. An image can make
// it at build time: RUN node_modules/.bin/reaper -- true.
// REAPER_CODE_CACHE=write writes it even over a usable one. The cache is
// named by a hash of the bundle the loader was written with, so a cache of
// another bundle never matches, and by V8's version, so Node versions sharing
// one install keep one each; one made with other V8 flags V8 rejects: the
// bundle is then compiled as usual and the cache made again. The loader uses
// nothing but node:fs and node:vm: every builtin module a start loads for the
// first time costs PID 1 ~0.1-0.3 ms (node:module, node:path, node:url are
// not needed here).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative } from 'node:path';

// A new bundle: caches of the old one would never match again.
const dist = new URL('../dist/', import.meta.url);
for (const name of readdirSync(dist)) if (/^cli-main\..*\.cache$/.test(name)) rmSync(new URL(name, dist));

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  // The addon is found relative to the package root at run time.
  external: ['node-gyp-build'],
  // The bundles sit in dist/, the ES modules in its folders (dist/core/native.js):
  // each module's import.meta.dirname stays the folder its ES module sits in.
  plugins: [{
    name: 'module-dirname',
    setup(build) {
      build.onLoad({ filter: /\.js$/ }, ({ path }) => {
        const folder = relative(dist.pathname, dirname(path));
        if (folder.startsWith('..')) return undefined;
        const dirnameHere = folder ? `(__dirname + ${JSON.stringify(`/${folder}`)})` : '__dirname';
        return { contents: readFileSync(path, 'utf8').replaceAll('import.meta.dirname', dirnameHere), loader: 'js' };
      });
    },
  }],
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: [new URL('../dist/wrapper/cli.js', import.meta.url).pathname],
  outfile: new URL('../dist/cli-main.cjs', import.meta.url).pathname,
});
// reaper-zombies: a HEALTHCHECK runs it every few seconds; no code cache (it is not PID 1).
await build({
  ...common,
  entryPoints: [new URL('../dist/census/zombies-cli.js', import.meta.url).pathname],
  outfile: new URL('../dist/zombies-cli.cjs', import.meta.url).pathname,
});

const hash = createHash('sha256').update(readFileSync(new URL('cli-main.cjs', dist))).digest('hex').slice(0, 16);
const loader = `#!/usr/bin/env node
// reaper's CLI: runs dist/cli-main.cjs, with V8's code cache when there is one
// for it (see scripts/bundle-cli.js).
'use strict';
const { accessSync, constants, readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs');
const file = __dirname + '/cli-main.cjs';
const cacheFile = __dirname + '/cli-main.${hash}.' + process.versions.v8 + '.cache';
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {}
// The wrapper require() puts around a CommonJS module (node:module's wrap).
const wrapped = '(function (exports, require, module, __filename, __dirname) { ' + readFileSync(file, 'utf8') + '\\n});';
const script = new (require('node:vm').Script)(wrapped, { filename: file, cachedData });
if (!cachedData || script.cachedDataRejected || process.env.REAPER_CODE_CACHE === 'write') {
  // Called by the CLI once the app is started, when the start's functions are compiled.
  globalThis[Symbol.for('reaper.writeCodeCache')] = () => {
    const temporary = cacheFile + '.' + Math.random().toString(36).slice(2) + '.tmp';
    try {
      accessSync(__dirname, constants.W_OK); // before createCachedData: a read-only dist/ costs no serialising
      writeFileSync(temporary, script.createCachedData(), { flag: 'wx' });
      renameSync(temporary, cacheFile);
    } catch (error) {
      // Read-only or full: the next start compiles as this one did. EEXIST: not ours to remove.
      if (error.code !== 'EEXIST') rmSync(temporary, { force: true });
    }
  };
}
script.runInThisContext()(exports, require, module, file, __dirname);
`;
const out = new URL('../dist/cli.cjs', import.meta.url);
writeFileSync(out, loader);
chmodSync(out, 0o755);
