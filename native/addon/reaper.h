// The plain syscall layer of reaper. Nothing here knows about N-API: every
// function returns 0 (or a pid / count) on success and -errno on failure, so
// addon.cc is the only file that turns results into JavaScript values.
#pragma once

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "shared.h"

namespace reaper {

// Calls a syscall wrapper until it is not interrupted; returns its result, or
// -errno when it fails. Async-signal-safe: the signal handler uses it too.
template <typename Call>
auto retry_eintr(Call call) -> decltype(call()) {
  decltype(call()) result;
  do result = call();
  while (result < 0 && errno == EINTR);
  return result < 0 ? -errno : result;
}

// Blocks every signal on this thread while alive: code outside the handler
// cannot be interrupted by it halfway, and a child cloned meanwhile runs none
// of our handlers. Leaves errno alone.
struct BlockSignals {
  sigset_t previous;
  BlockSignals() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
  }
  ~BlockSignals() { pthread_sigmask(SIG_SETMASK, &previous, nullptr); }
};

// Sets signal's action to SIG_DFL or SIG_IGN. Async-signal-safe.
inline void set_disposition(int signal, void (*handler)(int)) {
  struct sigaction action = {};
  action.sa_handler = handler;
  sigaction(signal, &action, nullptr);
}

// ---------------------------------------------------------------- spawn.cc

struct SpawnRequest {
  const char* file;      // looked up in PATH when it has no slash
  char* const* argv;     // NULL-terminated
  char* const* envp;     // NULL-terminated
  bool foreground;       // make the child's group the terminal's foreground group (if reaper's is)
  // The signal state reaper's own parent gave (bit N-1 for signal N), handed
  // on as tini does; without inherit (not known) the app starts from defaults.
  bool inherit;
  uint64_t ignored;
  uint64_t blocked;
  bool new_session;      // setsid() instead of a process group (dumb-init's default)
};

// Starts the program in its own process group (with new_session, its own
// session, with the terminal reaper gave up for it), with the signal state of
// inherit (else every disposition at its default and nothing blocked), and
// with stdio (and LISTEN_FDS sockets meant for it) kept open across exec.
// Returns the pid, or -errno when the process could not be created. When exec fails, the child is already reaped, *exec_errno
// holds the reason and the return value is 0.
pid_t spawn_child(const SpawnRequest& request, int* exec_errno);

// ---------------------------------------------------------------- reap.cc

// Size of a command name in /proc (TASK_COMM_LEN), NUL included.
constexpr size_t kCommSize = 16;

struct Exit {
  pid_t pid;
  int status;            // wait status
  uint64_t start_ticks;  // start time in clock ticks since boot (0 when unknown)
  char comm[kCommSize];  // command name ("" when not asked for or unreadable)
};

// The one way reaper collects a child: with describe, peek at the next
// waitable child (only `which` when it is > 0) without reaping it, read its
// name and start time while its /proc entry exists, then reap exactly it.
// Returns 1 with *out filled, 0 when none is waiting, or -errno (-ECHILD: no
// such child). Async-signal-safe.
int reap_one(pid_t which, bool describe, Exit* out);

struct ProcStat {
  char state;
  pid_t ppid;
  pid_t pgid;
  uint64_t start_ticks;
  char comm[kCommSize];
};
// Parses /proc/<pid>/stat (comm may hold spaces and parentheses) with
// nothing but open/read/close: the SIGCHLD handler calls it.
int read_proc_stat(pid_t pid, ProcStat* out);

// Lists the children of one thread (/proc/<tgid>/task/<tid>/children).
// Returns the number written to pids (at most capacity), or -errno.
int read_children(pid_t tgid, pid_t tid, pid_t* pids, int capacity);

// Whether anything is left below reaper, in the kernel's word (a /proc scan
// is not atomic: a process that forks and exits can slip through it): with
// whole_namespace (reaper is PID 1), any other process of its pid namespace
// (kill(-1, 0), which finds processes that refuse reaper's signals too: ask
// it only when reaper may signal every process); otherwise any child, live
// or zombie (waitid with WNOWAIT: nothing is reaped; a subreaper's
// descendants all descend from its children).
// Returns 1 or 0, or -errno.
int anything_left(bool whole_namespace);

// ---------------------------------------------------------------- signals.cc

// A record the signal handler writes to the notify pipe. Records are hints
// for the log and wake-ups for JavaScript: a full pipe drops them, so no fact
// travels only here (see Facts).
struct Event {
  uint8_t kind;          // one of the kEvent* values
  uint8_t signal;        // signal received (signal events)
  uint8_t delivered;     // signal sent on after rewriting (kEventForwarded)
  uint8_t unused;
  int32_t pid;           // sender (signal events; 0: outside our pid namespace) or child
  int32_t value;         // errno of the forwarding syscall, or the child's wait status
  uint32_t unused2;
  uint64_t start_ticks;  // child events, when described
  char comm[kCommSize];  // child events, when described
};
constexpr uint8_t kEventWake = 1;       // SIGCHLD: children were reaped (count only)
constexpr uint8_t kEventForwarded = 2;  // forwarded (or failed to: see value)
constexpr uint8_t kEventDropped = 3;    // rewritten to 0 by the user
constexpr uint8_t kEventNoTarget = 4;   // arrived with no main child: --pause, or reaped
constexpr uint8_t kEventExited = 5;     // a child was reaped (main child, or a described orphan)
constexpr uint8_t kEventStopped = 6;    // the main child stopped (signal: the stop signal)
constexpr uint8_t kEventContinued = 7;  // the main child continued

struct ForwardingConfig {
  int rewrite[REAPER_MAX_SIGNAL + 1];  // rewrite[s] = signal to send for s; 0 drops it
  bool report[REAPER_MAX_SIGNAL + 1];  // write a kEventForwarded record for s
  bool to_group;                // -g: signal the app's process group, not the app alone
  bool describe;                // read orphans' names before reaping them
  bool hold_term;               // --forward-delay: hold the first SIGTERM (release_held_term)
  int drain_signal;             // --drain-signal: a second one after the app exited ends the drain
};

// What must never be lost, kept in atomics by the handler and read by
// JavaScript on every wake-up.
struct Facts {
  bool main_exited;
  int main_status;            // valid when main_exited
  char main_comm[kCommSize];  // its name, read while it was a zombie ("" if missed)
  uint64_t orphans_reaped;    // since the start, never reset
  uint64_t events_dropped;    // records the notify pipe had no room for
  bool term_held;             // a SIGTERM was held (--forward-delay), released or not
  int64_t term_held_ms_ago;   // when it arrived (valid when term_held)
  pid_t term_held_sender;     // who sent it (0: outside our pid namespace)
  int stop_signal;            // first SIGTERM/SIGINT with no app to forward to, or 0
  int drain_interrupt;        // the signal that ended the drain's grace period, or 0
};

// Creates the notify pipe and installs the handler for every catchable
// signal but SIGCHLD's forwarding (and glibc's internal ones). Fault-named
// signals another process sends are forwarded like the rest; reaper's own
// faults end it as they would without the handler. Below PID 1 reaper also
// stops and continues with its app (job control). Returns the pipe's read
// end (non-blocking), or -errno with *failed_call naming the call that failed.
int install_handler(const ForwardingConfig& config, const char** failed_call);
// The main child exists: forward to it (signals that arrived before are sent
// now, as many times as they arrived) and reap it when it exits.
void set_main_child(pid_t pid);
// --pause: there is no main child; every child is an orphan, and a SIGTERM
// or SIGINT becomes Facts.stop_signal.
void set_no_main_child();
// --forward-delay is over: forwards the held SIGTERM. False when there was
// none held (none arrived, or a second SIGTERM or a SIGINT released it).
bool release_held_term();
void read_facts(Facts* out);
// Reads waiting records from the notify pipe (fd: install_handler's result)
// into buf, whole records only. Returns the bytes read (0: none), or -errno.
ssize_t read_events(int fd, uint8_t* buf, size_t size);
// Sends signal to the main child (its group with to_group), as the handler
// forwards (send_pinned). Returns 0, -ESRCH once it is gone, or -errno with
// *failed_call naming the call that failed.
int signal_main_child(int signal, const char** failed_call);

// ---------------------------------------------------------------- process.cc

int set_child_subreaper(bool on);
int set_parent_death_signal(int signal);
// The one way reaper signals a process it has pinned (the main child, from
// the handler or JavaScript, and every signal_process): through pidfd (-1:
// none). Where pidfds are missing or denied (EPERM, ENOSYS: kernels before
// 5.3, seccomp profiles), and for its process group (group: kill(-pid), which
// no pidfd reaches), kill() right after checking that pid is still that
// process: its pidfd has not exited, or without one /proc still shows
// start_ticks (0: unknown, not checked). The window between check and kill is
// the best they allow. Returns 0, -ESRCH when it is gone, or -errno with
// *failed_call naming the call that failed. Async-signal-safe.
int send_pinned(int pidfd, pid_t pid, uint64_t start_ticks, int signal, bool group, const char** failed_call);
// Sends signal to pid only if it is still the process that started at
// start_ticks (pidfd_open pins it, so a reused pid is never signalled), as
// send_pinned does. -ESRCH: gone.
int signal_process(pid_t pid, uint64_t start_ticks, int signal, const char** failed_call);
// Returns an fd for log lines that never blocks the caller, even when fd is a
// pipe nobody reads, without changing the flags the app's inherited fd shares.
int open_nonblocking_writer(int fd);
// Ends the process at once, skipping atexit handlers: Node's own exit path
// restores terminal modes and aborts when the terminal was hung up (EIO).
[[noreturn]] void exit_now(int code);
// Writes without blocking and without raising SIGPIPE. Returns bytes or -errno.
ssize_t write_log(int fd, const char* data, size_t length);

}  // namespace reaper
