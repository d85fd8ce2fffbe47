/* The hand-over from whatever starts reaper to the Node that runs it. Shared
 * by the launcher (native/launcher/launcher.c, which bin/reaper execs) and the addon (the
 * fallback re-execution when node was started on the bundle by hand).
 *
 * Node reads NODE_OPTIONS and other NODE_* / UV_* variables before any of
 * reaper's code runs: a preload, an inspector or a heap limit meant for the
 * app would shape PID 1. So the Node that runs reaper never sees them: each
 * such entry is renamed by prefixing REAPER_SAVED_PREFIX, in place, and one
 * marker entry is appended. reaper undoes both, byte for byte, for the app
 * (src/core/launch.ts). Entries that already start with "__REAPER_" are renamed
 * too, so the marker is always the launcher's own. */
#ifndef REAPER_LAUNCH_H
#define REAPER_LAUNCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REAPER_SAVED_PREFIX "__REAPER_SAVED_"
/* __REAPER_LAUNCHER=<ignored>:<blocked>:<argv0>: the signals the launcher's
 * parent left ignored and blocked, as /proc/<pid>/status prints them (16 hex
 * digits, bit N-1 for signal N), or "-" when unknown (the fallback runs after
 * Node has reset them); argv0 is the name reaper was called by. */
#define REAPER_MARKER_NAME "__REAPER_LAUNCHER"

/* Returns a new NULL-terminated environment (malloc'd; the entries it does
 * not rename are shared with envp) for the Node that runs reaper, or NULL
 * when out of memory. ignored/blocked are NULL when unknown. */
char** reaper_hidden_environment(char* const* envp, const uint64_t* ignored, const uint64_t* blocked,
                                 const char* argv0);

/* The fallback, for Node started on the bundle by hand with NODE_OPTIONS
 * set: executes node again with argv and the hidden environment of envp,
 * stdio kept open (Node marks fds 0-2 close-on-exec). Returns -errno. */
int reaper_relaunch(const char* node, char* const* argv, char* const* envp, const char* argv0);

#ifdef __cplusplus
}
#endif

#endif
