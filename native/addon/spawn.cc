// Starting the main child. We use clone(CLONE_VM | CLONE_VFORK) as
// posix_spawn does: a fork() of a 40 MB Node process costs milliseconds, and
// posix_spawn itself cannot make the child the terminal's foreground group.
// Between clone and exec the child shares our memory, so it only makes
// async-signal-safe system calls and writes nothing but its own stack and the
// shared result slot.
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "reaper.h"

namespace reaper {
namespace {

struct ChildArgs {
  const SpawnRequest* request;
  int listen_pid_index;     // envp entry to rewrite (see listen_pid_entry), or -1
  int listen_fds;           // LISTEN_FDS: fds 3.. the app inherits with it
  size_t envc;
  volatile int exec_errno;  // written by the child only when exec fails
  bool take_terminal;       // new_session: reaper gave up its terminal for the app
};

// "LISTEN_PID=<pid>" into out (32 bytes), with nothing but stores: the
// child calls it between clone and exec.
void listen_pid_text(char* out, pid_t pid) {
  *reaper_append_number(stpcpy(out, "LISTEN_PID="), pid) = '\0';
}

// systemd socket activation: LISTEN_PID names the process the passed sockets
// are for. When it names reaper, the app must find its own pid there (as
// under catatonit), and that pid exists only after clone. Returns the index
// of the entry the child rewrites, or -1.
int listen_pid_entry(char* const* envp) {
  char own[32];
  listen_pid_text(own, getpid());
  for (int i = 0; envp[i]; i++) {
    if (strcmp(envp[i], own) == 0) return i;
  }
  return -1;
}

// LISTEN_FDS=<n> from envp (0 when absent or not a number below 4096).
int listen_fds(char* const* envp) {
  const char prefix[] = "LISTEN_FDS=";
  for (int i = 0; envp[i]; i++) {
    if (strncmp(envp[i], prefix, sizeof prefix - 1) != 0) continue;
    char* end = nullptr;
    long n = strtol(envp[i] + sizeof prefix - 1, &end, 10);
    return *end == '\0' && n > 0 && n < 4096 ? static_cast<int>(n) : 0;
  }
  return 0;
}

int child_main(void* raw) {
  ChildArgs* args = static_cast<ChildArgs*>(raw);
  const SpawnRequest& request = *args->request;
  const bool take_terminal = args->take_terminal;

  if (request.new_session) {
    // dumb-init's mode: a session of its own, with the terminal reaper gave
    // up (spawn_child); without it (reaper was not the session leader) the
    // app has no controlling terminal, as under dumb-init.
    setsid();
    if (take_terminal) ioctl(STDIN_FILENO, TIOCSCTTY, 0);
  } else {
    // The terminal goes to the app only if reaper's group has it: a reaper
    // started in the background (`reaper -- app &`) must not take it from
    // the shell (tini's open TODO).
    bool foreground = request.foreground && isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) == getpgrp();
    // Own process group: signals for the group (-g, the terminal's ^C) then
    // reach the app and its helpers, never reaper.
    setpgid(0, 0);
    // All signals are blocked here, so SIGTTOU cannot stop a background
    // caller. ENOTTY/ENXIO (no controlling terminal) are not errors.
    if (foreground) tcsetpgrp(STDIN_FILENO, getpgrp());
  }

  // Node leaves SIGPIPE and SIGXFSZ ignored and reaper catches the rest:
  // the app starts with every disposition at its default, or with the ones
  // reaper's parent gave (what it ignored stays ignored, as under tini).
  for (int s = 1; s <= REAPER_MAX_SIGNAL; s++) {
    bool ignored = request.inherit && (request.ignored >> (s - 1)) & 1;
    if (s != SIGKILL && s != SIGSTOP) set_disposition(s, ignored ? SIG_IGN : SIG_DFL);
  }

  // The app's stdio, and with socket activation the passed sockets (fds 3
  // to 3 + LISTEN_FDS - 1).
  reaper_keep_open_on_exec(2 + args->listen_fds);

  sigset_t mask;
  sigemptyset(&mask);
  for (int s = 1; request.inherit && s <= REAPER_MAX_SIGNAL; s++) {
    if ((request.blocked >> (s - 1)) & 1) sigaddset(&mask, s);
  }
  sigprocmask(SIG_SETMASK, &mask, nullptr);

  // LISTEN_PID: a copy of envp on our own stack (the array is shared with
  // reaper) with the entry pointing at our pid.
  char* const* envp = request.envp;
  char listen_pid[32];
  if (args->listen_pid_index >= 0) {
    char** copy = static_cast<char**>(__builtin_alloca((args->envc + 1) * sizeof(char*)));
    memcpy(copy, request.envp, (args->envc + 1) * sizeof(char*));
    listen_pid_text(listen_pid, getpid());
    copy[args->listen_pid_index] = listen_pid;
    envp = copy;
  }

  execvpe(request.file, request.argv, envp);
  args->exec_errno = errno;
  _exit(errno == ENOENT ? 127 : 126);
}

// The child's stack. glibc's execvpe puts a copy of PATH's longest candidate
// on it and, for a script without #!, a new argv of argc + 2 pointers (its
// fallback to /bin/sh): 60,000 arguments need 480 KB. So the stack grows with
// argc and PATH, and a PROT_NONE guard page below it turns any overflow into
// a fault in the child instead of a write into reaper's memory. env_copy:
// the bytes of the LISTEN_PID copy of envp.
size_t child_stack_size(const SpawnRequest& request, size_t env_copy) {
  size_t argc = 0;
  while (request.argv[argc]) argc++;
  const char* path = getenv("PATH");
  size_t need = 256 * 1024 + (argc + 2) * sizeof(char*) + strlen(request.file) + (path ? strlen(path) : 0) + env_copy;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return (need + page - 1) / page * page;
}

}  // namespace

pid_t spawn_child(const SpawnRequest& request, int* exec_errno) {
  size_t envc = 0;
  while (request.envp[envc]) envc++;
  int listen_pid_index = listen_pid_entry(request.envp);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t stack_size = child_stack_size(request, listen_pid_index >= 0 ? (envc + 1) * sizeof(char*) : 0);
  char* mapping = static_cast<char*>(mmap(nullptr, page + stack_size, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0));
  if (mapping == MAP_FAILED) return -errno;
  if (mprotect(mapping, page, PROT_NONE) != 0) {
    int error = errno;
    munmap(mapping, page + stack_size);
    return -error;
  }
  char* stack = mapping + page;

  // Only for a LISTEN_PID that names us: otherwise the sockets are not ours to pass.
  ChildArgs args{&request, listen_pid_index, listen_pid_index >= 0 ? listen_fds(request.envp) : 0, envc, 0, false};
  if (request.new_session && isatty(STDIN_FILENO) && getsid(0) == getpid() && tcgetsid(STDIN_FILENO) == getpid()) {
    // The session leader gives its terminal up so that the app's new session
    // can take it (dumb-init does the same). The kernel sends SIGHUP and
    // SIGCONT to the foreground group, reaper's own: sent by reaper itself,
    // the handler does not forward them.
    args.take_terminal = ioctl(STDIN_FILENO, TIOCNOTTY) == 0;
  }

  // Block everything across the clone so that no handler of ours (or Node's)
  // runs in the child before it has reset them.
  pid_t pid = [&] {
    BlockSignals blocked;
    return clone(child_main, stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  }();
  int clone_errno = errno;
  munmap(mapping, page + stack_size);

  if (pid < 0) return -clone_errno;
  *exec_errno = args.exec_errno;
  if (args.exec_errno != 0) {
    // The child has already _exit()ed; collect it here so the exec failure
    // is reported once, as an error, and not also as an exit status.
    int status;
    retry_eintr([&] { return waitpid(pid, &status, __WALL); });
    return 0;
  }
  return pid;
}

}  // namespace reaper
