// Records the git commit the build came from in dist/commit.json, so that
// `reaper --version` can print "tini version X - git.<commit>" as docker
// info expects, from a tarball as well as from a checkout.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

let commit = null;
try {
  commit = execFileSync('git', ['rev-parse', '--short=7', 'HEAD'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
} catch {
  // Not a checkout (an unpacked tarball): keep whatever stamp the package shipped.
}
if (commit) writeFileSync(new URL('../dist/commit.json', import.meta.url), JSON.stringify({ commit }) + '\n');
