// The plain syscall layer of reaper. Nothing here knows about N-API: every
// function returns 0 (or a pid / count) on success and -errno on failure, so
// addon.cc is the only file that turns results into JavaScript values.
#pragma once

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

namespace reaper {

// ---------------------------------------------------------------- spawn.cc

struct SpawnRequest {
  const char* file;      // looked up in PATH when it has no slash
  char* const* argv;     // NULL-terminated
  char* const* envp;     // NULL-terminated
  bool foreground;       // make the child's group the terminal's foreground group
  // The signal state reaper's own parent gave (bit N-1 for signal N), handed
  // on as tini does; without inherit (not known) the app starts from defaults.
  bool inherit;
  uint64_t ignored;
  uint64_t blocked;
};

// Starts the program in its own process group with default signal state and
// stdio that survives exec. Returns the pid, or -errno when the process could
// not be created. When exec fails, the child is already reaped, *exec_errno
// holds the reason and the return value is 0.
pid_t spawn_child(const SpawnRequest& request, int* exec_errno);

// ---------------------------------------------------------------- signals.cc

// Highest signal number we handle (SIGRTMAX on Linux).
constexpr int kMaxSignal = 64;

// A record the signal handler writes to the notify pipe so that JavaScript
// learns what happened without being on the forwarding path.
struct SignalEvent {
  uint8_t kind;        // one of the kEvent* values
  uint8_t signal;      // signal received
  uint8_t delivered;   // signal sent on (after rewriting), 0 when dropped
  uint8_t unused;
  int32_t error;       // errno of the forwarding syscall, 0 on success
  int32_t sender;      // si_pid of the received signal (0: from outside our pid namespace)
};
constexpr uint8_t kEventChild = 1;      // SIGCHLD: something can be reaped
constexpr uint8_t kEventForwarded = 2;  // forwarded (or failed to: see error)
constexpr uint8_t kEventDropped = 3;    // rewritten to 0 by the user
constexpr uint8_t kEventNoTarget = 4;   // arrived after the main child was reaped

struct ForwardingConfig {
  int rewrite[kMaxSignal + 1];  // rewrite[s] = signal to send for s; 0 drops it
  bool report[kMaxSignal + 1];  // write a kEventForwarded record for s
  bool to_group;                // kill(-pgid) instead of the child alone
  bool reap_in_handler;         // reap orphans inside the SIGCHLD handler
};

// Creates the notify pipe; returns the read end (non-blocking, close-on-exec).
int open_notify_pipe();
// Installs the forwarding handler for every catchable signal except SIGCHLD's
// sibling set (fault signals, glibc-internal ones); SIGTTIN/SIGTTOU ignored.
int install_forwarding(const ForwardingConfig& config);
// Points forwarding at the main child; signals that arrived before are sent now.
void set_forward_target(pid_t pid);
// After the main child is reaped: stop forwarding (never signal a reused pid).
void clear_forward_target();
// Orphans the SIGCHLD handler reaped since the last call.
uint64_t take_reaped_count();
// The main child's wait status (and name, "" if it was missed) if the SIGCHLD
// handler reaped it; false otherwise.
bool take_main_exit(int* status, char* comm, size_t size);

// ---------------------------------------------------------------- reap.cc

struct ExitInfo {
  pid_t pid;
  int exit_code;  // -1 when killed by a signal
  int signal;     // 0 when it exited
  bool core_dumped;
  char comm[32];  // command name read before reaping ("" when not asked for)
  uint64_t start_ticks;  // start time in clock ticks since boot (0 when unknown)
};

// Fills out from a wait status.
void decode_status(pid_t pid, int status, ExitInfo* out);
// Reaps one exited child of ours (any pid). Returns 1 with *out filled, 0 when
// none is waiting, or -errno (-ECHILD: we have no children at all). With
// describe, the name and start time are read from /proc before the zombie goes.
int reap_next(bool describe, ExitInfo* out);
// Reaps pid if it is a zombie child of ours. Returns 1 if reaped, 0 if it is
// still running or not waitable, -errno otherwise.
int reap_pid(pid_t pid, bool describe, ExitInfo* out);

struct ProcStat {
  char state;
  pid_t ppid;
  uint64_t start_ticks;
  char comm[32];
};
// Parses /proc/<pid>/stat (comm may hold spaces and parentheses).
int read_proc_stat(pid_t pid, ProcStat* out);

// Lists the children of one thread (/proc/<tgid>/task/<tid>/children).
// Returns the number written to pids (at most capacity), or -errno.
int read_children(pid_t tgid, pid_t tid, pid_t* pids, int capacity);

// ---------------------------------------------------------------- process.cc

int set_child_subreaper(bool on);
int is_child_subreaper();  // 1, 0 or -errno
int set_parent_death_signal(int signal);
// Sends signal to pid only if it is still the process that started at
// start_ticks (a pidfd pins it, so a reused pid is never signalled; where
// pidfds are missing or denied, kill() right after the check). -ESRCH: gone.
int signal_process(pid_t pid, uint64_t start_ticks, int signal);
// Returns an fd for log lines that never blocks the caller, even when fd is a
// pipe nobody reads, without changing the flags the app's inherited fd shares.
int open_nonblocking_writer(int fd);
// Ends the process at once, skipping atexit handlers: Node's own exit path
// restores terminal modes and aborts when the terminal was hung up (EIO).
[[noreturn]] void exit_now(int code);
// Writes without blocking and without raising SIGPIPE. Returns bytes or -errno.
ssize_t write_log(int fd, const char* data, size_t length);

}  // namespace reaper
