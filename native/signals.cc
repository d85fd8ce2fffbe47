// The signal handler: the one owner of forwarding and of reaping.
//
// Signals are forwarded inside the handler, on whichever thread the kernel
// interrupts, before any event loop wakes up. Every child is reaped there
// too, the main child included, one waitpid per zombie as tini does: PID 1
// keeps reaping however busy or stalled JavaScript is.
//
// What must never be lost (the main child's exit, the number of orphans
// reaped) lives in atomics that JavaScript reads on every wake-up. The records
// written to the notify pipe only wake JavaScript and carry details for the
// log; when the pipe is full a record is dropped and counted, and at worst an
// orphan's name goes missing from the log.
//
// The state is process-wide because a signal handler has no other place to
// find it; nothing else in the addon is.
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include "reaper.h"

namespace reaper {
namespace {

// Room for 6,553 records: a stalled event loop rarely fills it, and a
// dropped record is only a missing log detail.
constexpr int kNotifyPipeSize = 256 * 1024;

ForwardingConfig g_config;  // written once, before the handler is installed
int g_notify_write = -1;
std::atomic<pid_t> g_main{0};       // 0 until the main child exists
std::atomic<pid_t> g_target{0};     // forwarding target: 0 not yet, -1 reaped (never signal a reused pid)
std::atomic<int> g_main_pidfd{-1};  // opened at spawn, never closed: no later fd can take its number
std::atomic<uint32_t> g_pending[kMaxSignal + 1];  // signals that arrived before the child existed, counted
std::atomic<int> g_main_status{0};
std::atomic<bool> g_main_exited{false};  // set after g_main_status and g_main_comm
char g_main_comm[kCommSize];
std::atomic<uint64_t> g_orphans_reaped{0};
std::atomic<uint64_t> g_events_dropped{0};

void notify(const Event& event) {
  // A full pipe means JavaScript has a wake-up queued already: it reads the
  // facts then, so only this record's details are lost.
  if (write(g_notify_write, &event, sizeof event) != sizeof event) g_events_dropped.fetch_add(1);
}

void notify_signal(uint8_t kind, int signal, int delivered, int error, pid_t sender) {
  Event event = {};
  event.kind = kind;
  event.signal = static_cast<uint8_t>(signal);
  event.delivered = static_cast<uint8_t>(delivered);
  event.pid = sender;
  event.value = error;
  notify(event);
}

void notify_exit(const Exit& exit) {
  Event event = {};
  event.kind = kEventExited;
  event.pid = exit.pid;
  event.value = exit.status;
  event.start_ticks = exit.start_ticks;
  memcpy(event.comm, exit.comm, sizeof event.comm);
  notify(event);
}

void record_main_exit(const Exit& exit) {
  g_target.store(-1);  // stop forwarding first: this pid may be reused from now on
  g_main_status.store(exit.status);
  memcpy(g_main_comm, exit.comm, sizeof g_main_comm);
  g_main_exited.store(true);
  notify_exit(exit);
}

void reap_children() {
  pid_t main = g_main.load();
  // Until the main child is known its exit could pass for an orphan's.
  if (main == 0) return;
  Exit exit;
  // The main child first, by pid, so that its name is read before it goes.
  if (!g_main_exited.load() && reap_one(main, true, &exit) > 0) record_main_exit(exit);
  int reaped = 0;
  while (reap_one(-1, g_config.describe, &exit) > 0) {
    if (exit.pid == main) {
      record_main_exit(exit);  // exited between the two calls: name missed
      continue;
    }
    g_orphans_reaped.fetch_add(1);
    reaped++;
    if (g_config.describe) notify_exit(exit);
  }
  // Counted orphans need one wake-up per burst, not one record each.
  if (reaped > 0 && !g_config.describe) notify_signal(kEventWake, SIGCHLD, 0, 0, 0);
}

int send_to_main(pid_t pid, int signal) {
  if (g_config.to_group) return kill(-pid, signal) < 0 ? -errno : 0;
  int pidfd = g_main_pidfd.load();
  if (pidfd >= 0) return syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) < 0 ? -errno : 0;
  return kill(pid, signal) < 0 ? -errno : 0;  // no pidfd (kernel before 5.3, no fd left)
}

void forward(int signal, pid_t sender);

void flush_pending() {
  for (int s = 1; s <= kMaxSignal; s++) {
    for (uint32_t n = g_pending[s].exchange(0); n > 0; n--) forward(s, 0);
  }
}

void forward(int signal, pid_t sender) {
  int to = g_config.rewrite[signal];
  if (to == 0) {
    notify_signal(kEventDropped, signal, 0, 0, sender);
    return;
  }
  pid_t pid = g_target.load();
  if (pid == 0) {
    // The child is being created. Keep the signal (each real-time one
    // counts); set_main_child sends them. Re-check in case the target was
    // set while we were counting it.
    g_pending[signal].fetch_add(1);
    if (g_target.load() > 0) flush_pending();
    return;
  }
  if (pid < 0) {
    notify_signal(kEventNoTarget, signal, 0, 0, sender);
    return;
  }
  int error = -send_to_main(pid, to);
  if (error != 0 || g_config.report[signal]) notify_signal(kEventForwarded, signal, to, error, sender);
  // Let the woken app run now: on a shared CPU it would otherwise wait for
  // us to finish the event-loop turn the signal interrupted.
  sched_yield();
}

void on_signal(int signal, siginfo_t* info, void*) {
  int saved_errno = errno;
  if (signal == SIGCHLD) {
    reap_children();
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
  // glibc reserves 32 and 33 for its threads (musl 32 to 34).
  return signal >= 1 && signal <= kMaxSignal && (signal < 32 || signal >= SIGRTMIN);
}

// Blocks every signal on this thread while alive, so that code outside the
// handler cannot be interrupted by it halfway.
struct BlockSignals {
  sigset_t previous;
  BlockSignals() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
  }
  ~BlockSignals() { pthread_sigmask(SIG_SETMASK, &previous, nullptr); }
};

}  // namespace

int install_handler(const ForwardingConfig& config, const char** failed_call) {
  int fds[2];
  *failed_call = "pipe2";
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
  *failed_call = "sigaction";
  fcntl(fds[1], F_SETPIPE_SZ, kNotifyPipeSize);  // best effort: 64 kB otherwise
  g_notify_write = fds[1];
  g_config = config;

  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  // A PID 1 that writes a log line to a terminal it gave away must not stop.
  if (sigaction(SIGTTIN, &ignore, nullptr) < 0) return -errno;
  if (sigaction(SIGTTOU, &ignore, nullptr) < 0) return -errno;

  struct sigaction action = {};
  action.sa_sigaction = on_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&action.sa_mask);  // one handler at a time per thread keeps the state simple
  for (int s = 1; s <= kMaxSignal; s++) {
    if (!is_forwardable(s) && s != SIGCHLD) continue;
    if (sigaction(s, &action, nullptr) < 0) return -errno;
  }
  return fds[0];
}

void set_main_child(pid_t pid) {
  // A failed pidfd_open (ENOSYS, EMFILE) leaves -1: forwarding falls back to kill().
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  BlockSignals blocked;
  g_main_pidfd.store(pidfd);
  g_target.store(pid);
  g_main.store(pid);
  flush_pending();
  // It may have exited already: its SIGCHLD found no main child to reap.
  reap_children();
}

void read_facts(Facts* out) {
  out->main_exited = g_main_exited.load();
  out->main_status = out->main_exited ? g_main_status.load() : 0;
  memcpy(out->main_comm, out->main_exited ? g_main_comm : "", out->main_exited ? sizeof g_main_comm : 1);
  out->orphans_reaped = g_orphans_reaped.load();
  out->events_dropped = g_events_dropped.load();
}

int signal_main_child(int signal) {
  pid_t pid = g_main.load();
  if (pid <= 0) return -ESRCH;
  if (g_config.to_group) return send_to_main(pid, signal);
  int pidfd = g_main_pidfd.load();
  if (pidfd >= 0) return syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0) < 0 ? -errno : 0;
  // Without a pidfd, kill only while it is unreaped; the handler cannot reap
  // it on this thread meanwhile.
  BlockSignals blocked;
  if (g_main_exited.load()) return -ESRCH;
  return kill(pid, signal) < 0 ? -errno : 0;
}

}  // namespace reaper
