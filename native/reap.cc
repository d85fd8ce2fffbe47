// Reaping and the /proc reads it needs. /proc files are read with plain
// open/read: a process can vanish mid-read and that must be an error code,
// never an exception.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reaper.h"

namespace reaper {
namespace {

// read() that retries EINTR. Returns bytes read (0 at the end) or -errno.
ssize_t read_some(int fd, void* buf, size_t size) {
  ssize_t n;
  do n = read(fd, buf, size);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

// Reads a whole small file into buf (NUL-terminated). Returns length or -errno.
ssize_t read_small_file(const char* path, char* buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  size_t used = 0;
  ssize_t n = 0;
  while (used + 1 < size && (n = read_some(fd, buf + used, size - 1 - used)) > 0) used += static_cast<size_t>(n);
  close(fd);
  if (n < 0) return n;
  buf[used] = '\0';
  return static_cast<ssize_t>(used);
}

}  // namespace

void decode_status(pid_t pid, int status, ExitInfo* out) {
  out->pid = pid;
  if (WIFSIGNALED(status)) {
    out->exit_code = -1;
    out->signal = WTERMSIG(status);
    out->core_dumped = WCOREDUMP(status);
  } else {
    out->exit_code = WEXITSTATUS(status);
    out->signal = 0;
    out->core_dumped = false;
  }
}

namespace {

void describe_zombie(pid_t pid, ExitInfo* out) {
  ProcStat stat;
  if (read_proc_stat(pid, &stat) == 0) {
    memcpy(out->comm, stat.comm, sizeof out->comm);
    out->start_ticks = stat.start_ticks;
  }
}

}  // namespace

int read_proc_stat(pid_t pid, ProcStat* out) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  ssize_t n = read_small_file(path, buf, sizeof buf);
  if (n < 0) return static_cast<int>(n);
  // "pid (comm) state ppid ..." where comm may itself contain ") ".
  char* open_paren = strchr(buf, '(');
  char* close_paren = strrchr(buf, ')');
  if (!open_paren || !close_paren || close_paren < open_paren || close_paren[1] == '\0') return -EINVAL;
  size_t comm_len = static_cast<size_t>(close_paren - open_paren - 1);
  if (comm_len >= sizeof out->comm) comm_len = sizeof out->comm - 1;
  memcpy(out->comm, open_paren + 1, comm_len);
  out->comm[comm_len] = '\0';

  char* field = close_paren + 2;  // field 3, the state
  out->state = field[0];
  out->ppid = 0;
  out->start_ticks = 0;
  // Field 4 is ppid, field 22 is starttime.
  int index = 3;
  for (char* p = field; *p; p++) {
    if (*p != ' ') continue;
    index++;
    if (index == 4) out->ppid = static_cast<pid_t>(strtol(p + 1, nullptr, 10));
    if (index == 22) {
      out->start_ticks = strtoull(p + 1, nullptr, 10);
      break;
    }
  }
  return 0;
}

int reap_next(bool describe, ExitInfo* out) {
  memset(out, 0, sizeof *out);
  pid_t pid;
  int status = 0;
  if (describe) {
    // Peek first: once reaped, the zombie's /proc entry is gone.
    siginfo_t info = {};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0) return -errno;
    if (info.si_pid == 0) return 0;
    describe_zombie(info.si_pid, out);
    do pid = waitpid(info.si_pid, &status, WNOHANG | __WALL);
    while (pid < 0 && errno == EINTR);
  } else {
    do pid = waitpid(-1, &status, WNOHANG | __WALL);
    while (pid < 0 && errno == EINTR);
  }
  if (pid < 0) return -errno;
  if (pid == 0) return 0;
  decode_status(pid, status, out);
  return 1;
}

int reap_pid(pid_t pid, bool describe, ExitInfo* out) {
  memset(out, 0, sizeof *out);
  siginfo_t info = {};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0) return -errno;
  if (info.si_pid == 0) return 0;
  if (describe) describe_zombie(pid, out);
  int status = 0;
  pid_t reaped;
  do reaped = waitpid(pid, &status, WNOHANG | __WALL);
  while (reaped < 0 && errno == EINTR);
  if (reaped < 0) return -errno;
  if (reaped == 0) return 0;
  decode_status(reaped, status, out);
  return 1;
}

int read_children(pid_t tgid, pid_t tid, pid_t* pids, int capacity) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", tgid, tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int count = 0;
  pid_t current = 0;
  bool in_number = false;
  char buf[4096];
  ssize_t n;
  while ((n = read_some(fd, buf, sizeof buf)) > 0) {
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c >= '0' && c <= '9') {
        current = current * 10 + (c - '0');
        in_number = true;
      } else if (in_number) {
        if (count < capacity) pids[count++] = current;
        current = 0;
        in_number = false;
      }
    }
  }
  close(fd);
  if (n < 0) return static_cast<int>(n);
  if (in_number && count < capacity) pids[count++] = current;
  return count;
}

}  // namespace reaper
