/* See launch.h: the environment the Node that runs reaper gets. */
#include "launch.h"
#include "shared.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int starts_with(const char* s, const char* prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Variables Node (or its libuv) reads at start-up, plus our own namespace. */
static int shapes_node(const char* entry) {
  return starts_with(entry, "NODE_") || starts_with(entry, "UV_") || starts_with(entry, "__REAPER_");
}

static void hex_or_dash(char* out, const uint64_t* mask) {
  if (mask) snprintf(out, 17, "%016llx", (unsigned long long)*mask);
  else strcpy(out, "-");
}

char** reaper_hidden_environment(char* const* envp, const uint64_t* ignored, const uint64_t* blocked,
                                 const char* argv0) {
  size_t count = 0;
  while (envp[count]) count++;
  char** out = calloc(count + 2, sizeof *out);
  if (!out) return NULL;
  const size_t prefix = strlen(REAPER_SAVED_PREFIX);
  for (size_t i = 0; i < count; i++) {
    if (!shapes_node(envp[i])) {
      out[i] = envp[i];
      continue;
    }
    size_t length = strlen(envp[i]);
    out[i] = malloc(prefix + length + 1);
    if (!out[i]) return NULL;
    memcpy(out[i], REAPER_SAVED_PREFIX, prefix);
    memcpy(out[i] + prefix, envp[i], length + 1);
  }
  char ign[17], blk[17];
  hex_or_dash(ign, ignored);
  hex_or_dash(blk, blocked);
  size_t size = strlen(REAPER_MARKER_NAME) + 1 + sizeof ign + sizeof blk + strlen(argv0) + 1;
  out[count] = malloc(size);
  if (!out[count]) return NULL;
  snprintf(out[count], size, "%s=%s:%s:%s", REAPER_MARKER_NAME, ign, blk, argv0);
  return out;
}

int reaper_relaunch(const char* node, char* const* argv, char* const* envp, const char* argv0) {
  char** env = reaper_hidden_environment(envp, NULL, NULL, argv0);
  if (!env) return -ENOMEM;
  reaper_keep_open_on_exec(2);
  execve(node, argv, env);
  return -errno;
}
