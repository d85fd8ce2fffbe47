// Process-level knobs: subreaper, parent-death signal, pid-safe signalling and
// a log writer that cannot block PID 1.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "reaper.h"

namespace reaper {

int set_child_subreaper(bool on) {
  return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0) < 0 ? -errno : 0;
}

int set_parent_death_signal(int signal) {
  return prctl(PR_SET_PDEATHSIG, signal, 0, 0, 0) < 0 ? -errno : 0;
}

// 0 if pid is still the process that started at start_ticks, -ESRCH if not.
static int check_start_time(pid_t pid, uint64_t start_ticks) {
  ProcStat stat;
  int r = read_proc_stat(pid, &stat);
  if (r < 0) return r == -ENOENT ? -ESRCH : r;
  return stat.start_ticks == start_ticks ? 0 : -ESRCH;
}

int send_pinned(int pidfd, pid_t pid, uint64_t start_ticks, int signal, bool group, const char** failed_call) {
  if (pidfd >= 0 && !group) {
    *failed_call = "pidfd_send_signal";
    int r = syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) < 0 ? -errno : 0;
    if (r != -EPERM && r != -ENOSYS) return r;
  }
  if (pidfd >= 0) {
    // Readable once the process has exited: until then its pid is its own.
    struct pollfd exited = {pidfd, POLLIN, 0};
    *failed_call = "poll";
    int r = poll(&exited, 1, 0);
    if (r != 0) return r < 0 ? -errno : -ESRCH;
  } else if (start_ticks != 0) {
    *failed_call = "read /proc/<pid>/stat";
    int r = check_start_time(pid, start_ticks);
    if (r < 0) return r;
  }
  *failed_call = "kill";
  return kill(group ? -pid : pid, signal) < 0 ? -errno : 0;
}

int signal_process(pid_t pid, uint64_t start_ticks, int signal, const char** failed_call) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0 && errno == ESRCH) return -ESRCH;
  *failed_call = "read /proc/<pid>/stat";
  // Opened on a reused pid? /proc still showing the same start time now
  // means the pidfd holds that process, even if the pid is reused later.
  int r = pidfd >= 0 ? check_start_time(pid, start_ticks) : 0;
  if (r == 0) r = send_pinned(pidfd, pid, start_ticks, signal, false, failed_call);
  if (pidfd >= 0) close(pidfd);
  return r;
}

int open_nonblocking_writer(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    // Opening /proc/self/fd/N gives a new open file description for the same
    // pipe or terminal, so O_NONBLOCK here leaves the app's stdio untouched.
    char path[64] = "/proc/self/fd/";
    *reaper_append_number(path + 14, static_cast<unsigned long>(fd)) = '\0';  // fd >= 0: fstat took it
    int own = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (own >= 0) return own;
  }
  // Regular files never block; sockets are written with MSG_DONTWAIT by
  // write_log. Either way a private duplicate is enough.
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  return copy < 0 ? -errno : copy;
}

ssize_t write_log(int fd, const char* data, size_t length) {
  ssize_t n = retry_eintr([&] { return send(fd, data, length, MSG_DONTWAIT | MSG_NOSIGNAL); });
  if (n != -ENOTSOCK) return n;
  return retry_eintr([&] { return write(fd, data, length); });
}

void exit_now(int code) {
  _exit(code);
}

}  // namespace reaper
