/* reaper's launcher (bin/reaper execs it): starts Node on reaper's CLI bundle (dist/cli.cjs) with none of
 * the environment that shapes Node, so NODE_OPTIONS and its kin reach the app
 * and never PID 1 (see launch.h), and records the signal dispositions and mask
 * its parent gave (Node resets them before any JavaScript runs) so reaper can
 * hand them to the app, as tini does. Built static (binding.gyp): one file per
 * architecture runs on glibc and musl alike, shipped as
 * prebuilds/linux-<arch>/reaper-launcher. bin/reaper (POSIX sh, linked by every
 * package manager) execs it with no install step; it is also dockerd's
 * --init-path program, bind-mounted into images that may have no shell.
 *
 *   name:   $__REAPER_ARGV0 (the sh bin's $0: dash has no exec -a), taken out
 *           of the environment here, else argv[0]. reaper-zombies runs the
 *           census (dist/zombies-cli.cjs: a HEALTHCHECK must not get the app's
 *           NODE_OPTIONS either); tini's and dumb-init's names pick their
 *           defaults (src/wrapper/cli.ts).
 *   node:   the first "node" on PATH (what #!/usr/bin/env node runs), then
 *           /nodejs/bin/node (distroless images keep it there, off PATH);
 *   bundle: $REAPER_CLI (the census beside it), then dist/ one or two
 *           directories above this executable (bin/, build/Release/,
 *           prebuilds/<platform>/), then the usual install places inside an
 *           image (as docker-init it is bind-mounted to /sbin). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"
#include "shared.h"

extern char** environ;

static int is_file(const char* path) {
  return access(path, R_OK) == 0;
}

static int find_node(char* out, size_t size) {
  const char* path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char* dir = path; dir; dir = strchr(dir, ':') ? strchr(dir, ':') + 1 : NULL) {
    int length = (int)strcspn(dir, ":");
    /* An empty entry means the current directory, as for execvp. */
    int n = length ? snprintf(out, size, "%.*s/node", length, dir) : snprintf(out, size, "./node");
    if (n > 0 && (size_t)n < size && access(out, X_OK) == 0) return 1;
  }
  snprintf(out, size, "/nodejs/bin/node");
  return access(out, X_OK) == 0;
}

/* entry: the file in dist/ to run ("cli.cjs" or "zombies-cli.cjs"). */
static int find_cli(const char* argv0, const char* entry, char* out, size_t size) {
  const char* explicit_cli = getenv("REAPER_CLI");
  if (explicit_cli && *explicit_cli) {
    const char* slash = strrchr(explicit_cli, '/');
    if (strcmp(entry, "cli.cjs") == 0 || !slash) snprintf(out, size, "%s", explicit_cli);
    else snprintf(out, size, "%.*s/%s", (int)(slash - explicit_cli), explicit_cli, entry);
    return is_file(out);
  }
  char self[PATH_MAX];
  if (realpath("/proc/self/exe", self) || realpath(argv0, self)) {
    char* slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    static const char* const up[] = {"/../dist/", "/../../dist/"};
    for (size_t i = 0; i < sizeof up / sizeof *up; i++) {
      if ((size_t)snprintf(out, size, "%s%s%s", self, up[i], entry) < size && is_file(out)) return 1;
    }
  }
  static const char* const installed[] = {
      "/app/node_modules/reaper-init/dist/",
      "/usr/src/app/node_modules/reaper-init/dist/",
      "/usr/local/lib/node_modules/reaper-init/dist/",
      "/usr/lib/node_modules/reaper-init/dist/",
  };
  for (size_t i = 0; i < sizeof installed / sizeof *installed; i++) {
    snprintf(out, size, "%s%s", installed[i], entry);
    if (is_file(out)) return 1;
  }
  return 0;
}

#define CALLED_AS "__REAPER_ARGV0"

static int out_of_memory(void) {
  fputs("reaper: out of memory while starting node\n", stderr);
  return 1;
}

int main(int argc, char** argv) {
  const char* argv0 = argc > 0 ? argv[0] : "reaper";
  /* The sh bin's $0 (see above), copied before it leaves the environment. */
  const char* called_as = getenv(CALLED_AS);
  called_as = called_as && *called_as ? strdup(called_as) : argv0;
  if (!called_as) {
    /* Not argv0 instead: that would run reaper where the census was asked for. */
    return out_of_memory();
  }
  unsetenv(CALLED_AS);

  /* What the parent gave: read before anything can change it. */
  uint64_t ignored = 0, blocked = 0;
  sigset_t mask;
  sigprocmask(SIG_BLOCK, NULL, &mask);
  for (int s = 1; s <= REAPER_MAX_SIGNAL; s++) {
    struct sigaction action;
    if (sigaction(s, NULL, &action) == 0 && action.sa_handler == SIG_IGN) ignored |= 1ULL << (s - 1);
    if (sigismember(&mask, s) == 1) blocked |= 1ULL << (s - 1);
  }

  const char* name = strrchr(called_as, '/') ? strrchr(called_as, '/') + 1 : called_as;
  const char* entry = strcmp(name, "reaper-zombies") == 0 ? "zombies-cli.cjs" : "cli.cjs";
  char found[PATH_MAX], cli[PATH_MAX];
  if (!find_cli(argv0, entry, found, sizeof found)) {
    const char* explicit_cli = getenv("REAPER_CLI");
    if (explicit_cli && *explicit_cli) {
      /* found: REAPER_CLI itself, or the census bundle beside it. */
      fprintf(stderr, "reaper: %s (from REAPER_CLI) is not a readable file; point REAPER_CLI at reaper-init's dist/cli.cjs.\n", found);
    } else {
      fprintf(stderr, "reaper: cannot find reaper's dist/%s (looked beside %s and in the usual install places); "
                      "install reaper-init in the image or set REAPER_CLI to its dist/cli.cjs.\n", entry, argv0);
    }
    return 127;
  }
  if (!realpath(found, cli)) snprintf(cli, sizeof cli, "%s", found);
  char node[PATH_MAX];
  if (!find_node(node, sizeof node)) {
    fprintf(stderr, "reaper: node is not on PATH (nor at /nodejs/bin/node); put node on PATH, "
                    "or run reaper as: node %s -- <program> ...\n", cli);
    return 127;
  }

  char** args = calloc((size_t)argc + 2, sizeof *args);
  char** env = reaper_hidden_environment(environ, &ignored, &blocked, called_as);
  if (!args || !env) {
    return out_of_memory();
  }
  args[0] = node;
  args[1] = cli;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  execve(node, args, env);
  int error = errno;  /* before fprintf can change it */
  fprintf(stderr, "reaper: cannot run %s: %s; check that it is an executable node binary for this machine.\n",
          node, strerror(error));
  return error == ENOENT ? 127 : 126;
}
