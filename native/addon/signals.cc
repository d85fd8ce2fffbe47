// The wrapper's signal handler: it forwards signals to the app and reaps.
//
// Signals are forwarded inside the handler, on whichever thread the kernel
// interrupts, before any event loop wakes up; what JavaScript sends the app
// (--stop-timeout's SIGKILL) goes through the same send_to_main. Every child
// of the wrapper is reaped here too, the main child included, one waitpid per
// zombie as tini does: PID 1 keeps reaping however busy or stalled JavaScript
// is. (Library mode installs no handler: it reaps from JavaScript, reap_one.)
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
#include <time.h>
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
// The main child: 0 until it exists, its pid while it is unreaped, -1 when
// there is none (--pause) or no more (reaped: never signal a reused pid).
std::atomic<pid_t> g_main{0};
// Its pins, written once before g_main publishes the pid: the pidfd (-1 when
// pidfds are missing; never closed, so no later fd can take its number), or
// else its start time (0 when /proc could not tell).
int g_main_pidfd = -1;
uint64_t g_main_start_ticks = 0;
std::atomic<uint32_t> g_pending[REAPER_MAX_SIGNAL + 1];  // signals that arrived before the child existed, counted
std::atomic<int> g_main_status{0};
std::atomic<bool> g_main_exited{false};  // set after g_main_status and g_main_comm
char g_main_comm[kCommSize];
std::atomic<uint64_t> g_orphans_reaped{0};
std::atomic<uint64_t> g_events_dropped{0};
std::atomic<bool> g_main_stopped{false};  // the main child is stopped (its last stop/continue record)
std::atomic<int> g_suspended_with{0};     // a stop signal left at SIG_DFL while reaper suspends itself
bool g_job_control = false;               // below PID 1: reaper stops and continues with its app
struct sigaction g_action;                // ours, to put back after a suspension
struct sigaction g_previous[REAPER_MAX_SIGNAL + 1];  // what was there before ours (Node's SIGSEGV handler)
// --forward-delay: the first SIGTERM is held, not forwarded, and JavaScript
// times the delay (release_held_term). A fact, so that a dropped record cannot
// lose the TERM: kHoldNone until one arrives, kHoldHeld while it waits,
// kHoldReleased once it was sent (every later SIGTERM goes at once).
constexpr int kHoldNone = 0, kHoldHeld = 1, kHoldReleased = 2;
std::atomic<int> g_hold{kHoldNone};
std::atomic<int64_t> g_held_at_ns{0};  // CLOCK_MONOTONIC when it arrived
std::atomic<pid_t> g_held_sender{0};
// The first SIGTERM or SIGINT that found no app to forward to (--pause, or
// after the app exited): --pause ends on it.
std::atomic<int> g_stop_signal{0};
// Shutdown requests (SIGINT, SIGTERM, the drain signal) from outside, and the
// one that ended the drain's grace period: after the app exited, a SIGINT
// (the ^C the terminal now delivers to reaper) or a second request. A fact,
// read by the drain on every sweep.
std::atomic<uint32_t> g_stop_requests{0};
std::atomic<int> g_drain_interrupt{0};

int64_t monotonic_ns() {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
}

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

// The app had the terminal (spawn gave it its group): take it back for
// reaper's group, as a shell does when its foreground job ends, so that a ^C
// during the drain reaches reaper instead of an empty group. Only from the
// app's group, never from a group the app handed it to, nor from the shell
// (reaper in the background never gave it away). Every signal is blocked
// here (handler mask, or BlockSignals), so the background tcsetpgrp raises no
// SIGTTOU. Reaper's group is the one the shell made foreground (or the
// container's session): when reaper exits, the shell takes it back as usual.
void reclaim_terminal(pid_t main) {
  if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == main) tcsetpgrp(STDIN_FILENO, getpgrp());
}

void record_main_exit(const Exit& exit) {
  g_main.store(-1);  // stop forwarding first: this pid may be reused from now on
  reclaim_terminal(exit.pid);
  g_main_status.store(exit.status);
  memcpy(g_main_comm, exit.comm, sizeof g_main_comm);
  g_main_exited.store(true);
  notify_exit(exit);
}

bool is_terminal_stop(int signal) {
  return signal == SIGTSTP || signal == SIGTTIN || signal == SIGTTOU;
}

// Job control, as a shell does for its jobs: reaper stops with the signal
// that stopped (or was sent for) its app, so that the shell above sees its
// job stopped and prints its prompt, after taking the terminal back from the
// app (reclaim_terminal). The stop signal is sent with its default action for
// the moment: the kernel then applies its own rules (an orphaned group is not
// stopped) and the shell's wait sees the app's signal (128+SIGTSTP). The next
// handler call puts ours back.
void suspend_self(int stop_signal) {
  if (!g_job_control) return;
  pid_t main = g_main.load();
  if (main > 0) reclaim_terminal(main);
  set_disposition(stop_signal, SIG_DFL);
  g_suspended_with.store(stop_signal);
  kill(getpid(), stop_signal);
}

void end_suspension() {
  int signal = g_suspended_with.exchange(0);
  if (signal != 0) sigaction(signal, &g_action, nullptr);
}

// Stopped and continued records of the main child (waitid without WEXITED
// leaves its exit to reap_one).
void check_main_stopped(pid_t main, bool may_suspend) {
  for (int i = 0; i < 2; i++) {
    siginfo_t info = {};
    if (waitid(P_PID, static_cast<id_t>(main), &info, WSTOPPED | WCONTINUED | WNOHANG | __WALL) < 0 || info.si_pid == 0) return;
    bool stopped = info.si_code == CLD_STOPPED || info.si_code == CLD_TRAPPED;
    g_main_stopped.store(stopped);
    notify_signal(stopped ? kEventStopped : kEventContinued, stopped ? info.si_status : SIGCONT, 0, 0, main);
    if (stopped && may_suspend && is_terminal_stop(info.si_status)) suspend_self(info.si_status);
  }
}

void reap_children() {
  pid_t main = g_main.load();
  // Until the main child is known its exit could pass for an orphan's.
  // (-1: there is none, --pause, or no more: every child is an orphan.)
  if (main == 0) return;
  if (main > 0) check_main_stopped(main, true);
  Exit exit;
  // The main child first, by pid, so that its name is read before it goes.
  if (main > 0 && reap_one(main, true, &exit) > 0) record_main_exit(exit);
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

// Every signal to the app: pid is g_main's, group its process group (-g,
// or the SIGCONT that resumes what the terminal stopped).
int send_to_main(pid_t pid, int signal, bool group, const char** failed_call) {
  return send_pinned(g_main_pidfd, pid, g_main_start_ticks, signal, group || g_config.to_group, failed_call);
}

void forward(int signal, pid_t sender);

void flush_pending() {
  for (int s = 1; s <= REAPER_MAX_SIGNAL; s++) {
    for (uint32_t n = g_pending[s].exchange(0); n > 0; n--) forward(s, 0);
  }
}

// --forward-delay. Returns true when signal was held (not to be forwarded
// now). A second SIGTERM, or a SIGINT, ends the hold: the SIGTERM goes at
// once (the second one stands for the held one: the app gets one), and a
// SIGINT is forwarded after it.
bool hold(int signal, pid_t sender) {
  if (signal == SIGTERM) {
    int none = kHoldNone;
    if (g_hold.compare_exchange_strong(none, kHoldHeld)) {
      g_held_at_ns.store(monotonic_ns());
      g_held_sender.store(sender);
      notify_signal(kEventWake, signal, 0, 0, sender);  // JavaScript reads the fact
      return true;
    }
    int held = kHoldHeld;
    g_hold.compare_exchange_strong(held, kHoldReleased);
    return false;
  }
  int held = kHoldHeld;
  if (signal == SIGINT && g_hold.compare_exchange_strong(held, kHoldReleased)) forward(SIGTERM, 0);
  return false;
}

void forward(int signal, pid_t sender) {
  int to = g_config.rewrite[signal];
  if (to == 0) {
    notify_signal(kEventDropped, signal, 0, 0, sender);
    return;
  }
  pid_t pid = g_main.load();
  if (g_config.hold_term && pid >= 0 && hold(signal, sender)) return;
  if (pid == 0) {
    // The child is being created. Keep the signal (each real-time one
    // counts); set_main_child sends them. Re-check in case the main child
    // was set while we were counting it.
    g_pending[signal].fetch_add(1);
    if (g_main.load() > 0) flush_pending();
    return;
  }
  if (pid < 0) {
    int none = 0;
    if (signal == SIGTERM || signal == SIGINT) g_stop_signal.compare_exchange_strong(none, signal);
    // delivered: 1 when the drain's grace period ends on it (or already did).
    notify_signal(kEventNoTarget, signal, g_drain_interrupt.load() != 0, 0, sender);
    return;
  }
  // A SIGCONT for a stopped app resumes the whole group the terminal
  // stopped (a shell and its children), the app with them.
  const char* failed_call;
  int error = -send_to_main(pid, to, signal == SIGCONT && g_main_stopped.load(), &failed_call);
  if (error != 0 || g_config.report[signal]) notify_signal(kEventForwarded, signal, to, error, sender);
  // Let the woken app run now: on a shared CPU it would otherwise wait for
  // us to finish the event-loop turn the signal interrupted.
  sched_yield();
}

bool is_fault_named(int signal) {
  switch (signal) {
    case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS: case SIGFPE: case SIGSEGV: case SIGSYS:
      return true;
  }
  return false;
}

// A fault of reaper's own: the kernel raised it (si_code > 0) for an
// instruction of ours, or reaper aborted itself. It ends reaper as it would
// without us: through the handler that was there before (Node's WebAssembly
// trap handler on SIGSEGV, which resumes a trapped wasm instruction and
// otherwise crashes the process itself), or with the default action, raised
// again: pending until we return, then fatal. A re-executed faulting
// instruction faults again with the default action, which the kernel forces
// even on a namespace's PID 1.
void end_with_fault(int signal, siginfo_t* info, void* context) {
  const struct sigaction& previous = g_previous[signal];
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction) return previous.sa_sigaction(signal, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    return previous.sa_handler(signal);
  }
  set_disposition(signal, SIG_DFL);
  raise(signal);
}

void note_stop_request(int signal) {
  if (signal != SIGINT && signal != SIGTERM && signal != g_config.drain_signal) return;
  uint32_t earlier = g_stop_requests.fetch_add(1);
  int none = 0;
  if (g_main_exited.load() && (signal == SIGINT || earlier > 0)) g_drain_interrupt.compare_exchange_strong(none, signal);
}

void on_signal(int signal, siginfo_t* info, void* context) {
  int saved_errno = errno;
  end_suspension();
  // Sent by reaper to itself (a thread's tgkill, V8's SIGPROF sampler,
  // abort()) or raised by the kernel for our own act (SIGPIPE on a broken log
  // pipe, SIGXFSZ): it is about reaper, not for the app.
  bool own = info->si_code <= 0 && info->si_pid == getpid();
  if (is_fault_named(signal) && (info->si_code > 0 || own)) {
    end_with_fault(signal, info, context);
  } else if (signal == SIGCHLD) {
    reap_children();
  } else if (own) {
    // Our own suspension, delivered to the handler because another signal
    // put ours back first: suspend again.
    if (is_terminal_stop(signal)) suspend_self(signal);
  } else if ((signal == SIGTTIN || signal == SIGTTOU) && info->si_code == SI_KERNEL) {
    // The terminal's answer to reaper's own access from the background (a
    // log line with TOSTOP): ignore these from now on, as tini always does,
    // so the access goes through instead of being restarted in a loop.
    set_disposition(signal, SIG_IGN);
  } else {
    if (signal == SIGCONT && g_job_control) {
      // A shell's fg or bg. Take the news about the app first, then give it
      // the terminal back if the shell gave it to us (fg), never otherwise.
      pid_t main = g_main.load();
      if (main > 0) check_main_stopped(main, false);
      if (main > 0 && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp()) tcsetpgrp(STDIN_FILENO, main);
    }
    note_stop_request(signal);
    forward(signal, info->si_code == SI_USER || info->si_code == SI_QUEUE ? info->si_pid : 0);
    // Sent by kill or typed (^Z while reaper has the terminal): reaper
    // suspends itself after its app, as a shell's job would.
    if (is_terminal_stop(signal)) suspend_self(signal);
  }
  errno = saved_errno;
}

// Which signals are forwarded (true) and which reaper leaves alone.
bool is_forwardable(int signal) {
  switch (signal) {
    case SIGKILL: case SIGSTOP:                 // cannot be caught
    case SIGCHLD:                                // ours: it drives reaping
      return false;
  }
  // glibc reserves 32 and 33 for its threads (musl 32 to 34).
  return signal >= 1 && signal <= REAPER_MAX_SIGNAL && (signal < 32 || signal >= SIGRTMIN);
}

}  // namespace

int install_handler(const ForwardingConfig& config, const char** failed_call) {
  int fds[2];
  *failed_call = "pipe2";
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return -errno;
  *failed_call = "sigaction";
  fcntl(fds[1], F_SETPIPE_SZ, kNotifyPipeSize);  // best effort: 64 kB otherwise
  g_notify_write = fds[1];
  g_config = config;

  // A namespace's PID 1 cannot stop, and keeps the terminal with its app.
  g_job_control = getpid() != 1;

  struct sigaction& action = g_action;
  action = {};
  action.sa_sigaction = on_signal;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&action.sa_mask);  // one handler at a time per thread keeps the state simple
  for (int s = 1; s <= REAPER_MAX_SIGNAL; s++) {
    if (!is_forwardable(s) && s != SIGCHLD) continue;
    if (sigaction(s, &action, &g_previous[s]) < 0) return -errno;
  }
  return fds[0];
}

void set_main_child(pid_t pid) {
  // A failed pidfd_open (ENOSYS, EPERM, EMFILE) leaves -1: send_pinned then
  // checks the start time before kill().
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // close-on-exec, always
  ProcStat stat;
  uint64_t start_ticks = pidfd < 0 && read_proc_stat(pid, &stat) == 0 ? stat.start_ticks : 0;
  BlockSignals blocked;
  g_main_pidfd = pidfd;
  g_main_start_ticks = start_ticks;
  g_main.store(pid);
  flush_pending();
  // It may have exited already: its SIGCHLD found no main child to reap.
  reap_children();
}

void set_no_main_child() {
  BlockSignals blocked;
  g_main.store(-1);
  flush_pending();  // what arrived before: a SIGTERM is a stop request now
  reap_children();
}

bool release_held_term() {
  BlockSignals blocked;  // the handler may run on another thread: the CAS decides
  int held = kHoldHeld;
  if (!g_hold.compare_exchange_strong(held, kHoldReleased)) return false;
  forward(SIGTERM, 0);
  return true;
}

void read_facts(Facts* out) {
  out->main_exited = g_main_exited.load();
  out->main_status = out->main_exited ? g_main_status.load() : 0;
  memcpy(out->main_comm, out->main_exited ? g_main_comm : "", out->main_exited ? sizeof g_main_comm : 1);
  out->orphans_reaped = g_orphans_reaped.load();
  out->events_dropped = g_events_dropped.load();
  int hold = g_hold.load();
  out->term_held = hold != kHoldNone;
  out->term_held_ms_ago = out->term_held ? (monotonic_ns() - g_held_at_ns.load()) / 1000000 : 0;
  out->term_held_sender = g_held_sender.load();
  out->stop_signal = g_stop_signal.load();
  out->drain_interrupt = g_drain_interrupt.load();
}

ssize_t read_events(int fd, uint8_t* buf, size_t size) {
  size -= size % sizeof(Event);  // records are written whole (under PIPE_BUF)
  ssize_t n = retry_eintr([&] { return read(fd, buf, size); });
  return n == -EAGAIN ? 0 : n;
}

int signal_main_child(int signal, const char** failed_call) {
  // The handler cannot reap it on this thread meanwhile.
  BlockSignals blocked;
  pid_t pid = g_main.load();
  return pid > 0 ? send_to_main(pid, signal, false, failed_call) : -ESRCH;
}

}  // namespace reaper
