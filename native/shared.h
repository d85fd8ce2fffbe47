/* What the addon (C++) and the launcher (launcher.c, launch.c; C) share:
 * small helpers that are async-signal-safe (the SIGCHLD handler and the
 * child between clone and exec call them). */
#ifndef REAPER_SHARED_H
#define REAPER_SHARED_H

#include <fcntl.h>

/* Highest signal number reaper handles (SIGRTMAX on Linux): signal sets are
 * 64-bit masks, bit N-1 for signal N. */
#define REAPER_MAX_SIGNAL 64

/* Appends the decimal digits of value at out; returns the end. */
static inline char* reaper_append_number(char* out, unsigned long value) {
  char digits[24];
  int n = 0;
  do digits[n++] = (char)('0' + value % 10);
  while ((value /= 10) > 0);
  while (n > 0) *out++ = digits[--n];
  return out;
}

/* Node marks every inherited fd close-on-exec, 0-2 included: keeps fds 0 to
 * last open across the next exec. */
static inline void reaper_keep_open_on_exec(int last) {
  for (int fd = 0; fd <= last; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
}

#endif
