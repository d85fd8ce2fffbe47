// Signal forwarding happens inside the signal handler itself: the kill is
// sent on whichever thread the kernel interrupts, before any event loop wakes
// up. JavaScript only hears about it afterwards, through the notify pipe, and
// only for the signals it asked to hear about (and every failure).
//
// Children are reaped there too (unless someone wants orphans' names logged,
// which needs /proc reads first): PID 1 keeps reaping however busy or stuck
// the JavaScript side is, one waitpid per zombie as tini does. The main
// child's status (and name, when it was a zombie already) is kept for
// JavaScript, which decides the exit.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include "reaper.h"

namespace reaper {
namespace {

ForwardingConfig g_config;
int g_notify_write = -1;
std::atomic<pid_t> g_target{0};     // 0: not started yet, -1: reaped, else pid
std::atomic<int> g_target_pidfd{-1};
std::atomic<uint64_t> g_pending{0};  // signals that arrived before the child existed
std::atomic<pid_t> g_main{0};        // main child; 0 until known (then nothing is reaped here)
std::atomic<uint64_t> g_reaped{0};   // orphans reaped by the handler, not yet reported
std::atomic<bool> g_main_reaped{false};
int g_main_status = 0;               // valid once g_main_reaped
char g_main_comm[32];                // its name, read while it was a zombie ("" if missed)

// /proc/<pid>/comm into out, with nothing but async-signal-safe calls.
void read_comm(pid_t pid, char* out, size_t size) {
  char path[32] = "/proc/";
  char digits[16];
  int n = 0;
  for (pid_t v = pid; v > 0 && n < 15; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  size_t at = 6;
  while (n > 0) path[at++] = digits[--n];
  memcpy(path + at, "/comm", 6);
  out[0] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t got = read(fd, out, size - 1);
  close(fd);
  if (got <= 0) return;
  if (out[got - 1] == '\n') got--;
  out[got] = '\0';
}

void reap_orphans() {
  pid_t main = g_main.load();
  if (main <= 0 || g_main_reaped.load()) return;
  // If the main child is already a zombie, note its name before the loop
  // below collects it (its /proc entry goes with it).
  char comm[sizeof g_main_comm] = "";
  siginfo_t info = {};
  if (waitid(P_PID, static_cast<id_t>(main), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0 && info.si_pid == main) {
    read_comm(main, comm, sizeof comm);
  }
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0) {
    if (pid != main) {
      g_reaped.fetch_add(1);
      continue;
    }
    g_main_status = status;
    memcpy(g_main_comm, comm, sizeof comm);
    g_target.store(-1);  // stop forwarding: this pid may be reused from now on
    g_main_reaped.store(true);
  }
}

void notify(uint8_t kind, int signal, int delivered, int error, pid_t sender) {
  if (g_notify_write < 0) return;
  SignalEvent event{kind, static_cast<uint8_t>(signal), static_cast<uint8_t>(delivered), 0,
                    error, sender};
  // A full pipe means JavaScript has wake-ups queued already; the record is
  // lost but the reap that follows every wake-up is not.
  ssize_t ignored = write(g_notify_write, &event, sizeof event);
  (void)ignored;
}

int send_to_target(pid_t pid, int signal) {
  if (g_config.to_group) return kill(-pid, signal);
  int pidfd = g_target_pidfd.load();
  if (pidfd >= 0) return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0));
  return kill(pid, signal);
}

void forward(int signal, pid_t sender);

void flush_pending() {
  uint64_t bits = g_pending.exchange(0);
  for (int s = 1; s <= kMaxSignal; s++) {
    if (bits & (uint64_t{1} << (s - 1))) forward(s, 0);
  }
}

void forward(int signal, pid_t sender) {
  int to = g_config.rewrite[signal];
  if (to == 0) {
    notify(kEventDropped, signal, 0, 0, sender);
    return;
  }
  pid_t pid = g_target.load();
  if (pid == 0) {
    // The child is being created. Keep the signal; set_forward_target sends
    // it. Re-check in case the target was set while we were marking it.
    g_pending.fetch_or(uint64_t{1} << (signal - 1));
    if (g_target.load() > 0) flush_pending();
    return;
  }
  if (pid < 0) {
    notify(kEventNoTarget, signal, 0, 0, sender);
    return;
  }
  int error = send_to_target(pid, to) < 0 ? errno : 0;
  if (error != 0 || g_config.report[signal]) notify(kEventForwarded, signal, to, error, sender);
  // Let the woken app run now: on a shared CPU it would otherwise wait for
  // us to finish the event-loop turn the signal interrupted.
  sched_yield();
}

void on_signal(int signal, siginfo_t* info, void*) {
  int saved_errno = errno;
  if (signal == SIGCHLD) {
    if (g_config.reap_in_handler) reap_orphans();
    notify(kEventChild, signal, 0, 0, 0);
  } else if (info->si_code <= 0 && info->si_pid == getpid()) {
    // Sent by reaper to itself (a thread's tgkill, V8's SIGPROF sampler) or
    // raised by the kernel for our own act (SIGPIPE on a broken log pipe,
    // SIGXFSZ): it is about reaper, not for the app.
  } else {
    forward(signal, info->si_code == SI_USER || info->si_code == SI_QUEUE ? info->si_pid : 0);
  }
  errno = saved_errno;
}

// Which signals are forwarded (true) and which reaper leaves alone.
bool is_forwardable(int signal) {
  switch (signal) {
    case SIGKILL: case SIGSTOP:                 // cannot be caught
    case SIGCHLD:                                // ours: it drives reaping
    case SIGSEGV: case SIGBUS: case SIGFPE:      // synchronous faults belong
    case SIGILL: case SIGABRT: case SIGTRAP:     // to the thread that caused
    case SIGSYS:                                 // them (and V8's trap handler)
    case SIGTTIN: case SIGTTOU:                  // ignored, as tini does
      return false;
  }
  // glibc reserves 32 and 33 for its threads.
  return signal >= 1 && signal <= kMaxSignal && (signal < 32 || signal >= SIGRTMIN);
}

}  // namespace

int open_notify_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
  if (g_notify_write >= 0) close(g_notify_write);
  g_notify_write = fds[1];
  return fds[0];
}

int install_forwarding(const ForwardingConfig& config) {
  g_config = config;

  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  // A PID 1 that writes a log line to a terminal it gave away must not stop.
  if (sigaction(SIGTTIN, &ignore, nullptr) < 0) return -errno;
  if (sigaction(SIGTTOU, &ignore, nullptr) < 0) return -errno;

  struct sigaction action = {};
  action.sa_sigaction = on_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&action.sa_mask);  // one handler at a time keeps the state simple
  for (int s = 1; s <= kMaxSignal; s++) {
    if (!is_forwardable(s) && s != SIGCHLD) continue;
    if (sigaction(s, &action, nullptr) < 0) return -errno;
  }
  return 0;
}

void set_forward_target(pid_t pid) {
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  g_target_pidfd.store(pidfd);  // -1 on kernels before 5.3: plain kill()
  g_target.store(pid);
  g_main.store(pid);
  flush_pending();
}

uint64_t take_reaped_count() {
  return g_reaped.exchange(0);
}

bool take_main_exit(int* status, char* comm, size_t size) {
  if (!g_main_reaped.load()) return false;
  *status = g_main_status;
  memcpy(comm, g_main_comm, size < sizeof g_main_comm ? size : sizeof g_main_comm);
  comm[size - 1] = '\0';
  return true;
}

void clear_forward_target() {
  g_target.store(-1);
  int pidfd = g_target_pidfd.exchange(-1);
  if (pidfd >= 0) close(pidfd);
}

}  // namespace reaper
