// Reaping and the /proc reads it needs. Everything here may run inside the
// SIGCHLD handler, so it uses only async-signal-safe calls (open, read,
// waitid, waitpid: no stdio, no malloc, no strtol). A process can vanish
// mid-read: that is an error code, never an exception.
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reaper.h"

namespace reaper {
namespace {

// "/proc/<pid>/<tail>" into path (at least 64 bytes).
void proc_path(char* path, pid_t pid, const char* tail) {
  strcpy(reaper_append_number(stpcpy(path, "/proc/"), pid), tail);
}

uint64_t parse_number(const char* p) {
  uint64_t value = 0;
  while (*p >= '0' && *p <= '9') value = value * 10 + static_cast<uint64_t>(*p++ - '0');
  return value;
}

}  // namespace

int reap_one(pid_t which, bool describe, Exit* out) {
  out->comm[0] = '\0';
  out->start_ticks = 0;
  pid_t target = which > 0 ? which : -1;
  if (describe) {
    // Peek first: once reaped, the zombie's /proc entry is gone.
    siginfo_t info = {};
    int r = retry_eintr([&] {
      return waitid(which > 0 ? P_PID : P_ALL, which > 0 ? static_cast<id_t>(which) : 0, &info,
                    WEXITED | WNOHANG | WNOWAIT | __WALL);
    });
    if (r < 0) return r;
    if (info.si_pid == 0) return 0;
    target = info.si_pid;
    ProcStat stat;
    if (read_proc_stat(target, &stat) == 0) {
      memcpy(out->comm, stat.comm, sizeof out->comm);
      out->start_ticks = stat.start_ticks;
    }
  }
  int status = 0;
  pid_t pid = retry_eintr([&] { return waitpid(target, &status, WNOHANG | __WALL); });
  if (pid <= 0) return pid;  // 0: not waitable (yet), or -errno
  out->pid = pid;
  out->status = status;
  return 1;
}

int read_proc_stat(pid_t pid, ProcStat* out) {
  char path[64], buf[1024];
  proc_path(path, pid, "/stat");
  int fd = retry_eintr([&] { return open(path, O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return fd;
  ssize_t n = retry_eintr([&] { return read(fd, buf, sizeof buf - 1); });
  close(fd);
  if (n < 0) return static_cast<int>(n);
  buf[n] = '\0';
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
  out->pgid = 0;
  out->start_ticks = 0;
  // Field 4 is ppid, field 5 the process group, field 22 is starttime.
  int index = 3;
  for (char* p = field; *p; p++) {
    if (*p != ' ') continue;
    index++;
    if (index == 4) out->ppid = static_cast<pid_t>(parse_number(p + 1));
    if (index == 5) out->pgid = static_cast<pid_t>(parse_number(p + 1));
    if (index == 22) {
      out->start_ticks = parse_number(p + 1);
      break;
    }
  }
  return 0;
}

int read_children(pid_t tgid, pid_t tid, pid_t* pids, int capacity) {
  char path[96];
  proc_path(path, tgid, "/task/");
  strcpy(reaper_append_number(path + strlen(path), tid), "/children");
  int fd = retry_eintr([&] { return open(path, O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return fd;
  int count = 0;
  pid_t current = 0;
  bool in_number = false;
  char buf[4096];
  ssize_t n;
  while ((n = retry_eintr([&] { return read(fd, buf, sizeof buf); })) > 0) {
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

int anything_left(bool whole_namespace) {
  if (whole_namespace) {
    // Succeeds when any other process is there, even one that refuses us:
    // Linux counts a process that answers EPERM as found (ESRCH: none is).
    int result = kill(-1, 0);
    if (result < 0 && errno == ESRCH) return 0;
    return result < 0 ? -errno : 1;
  }
  siginfo_t info;
  int result = retry_eintr([&] { return waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT | __WALL); });
  if (result == -ECHILD) return 0;
  return result < 0 ? result : 1;
}

}  // namespace reaper
