// The only file that touches N-API: it converts arguments, calls the plain
// functions of reaper.h and turns their -errno results into errors shaped like
// Node's own (code, errno, syscall).
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <string>
#include <vector>

#include <napi.h>

#include "launch.h"
#include "reaper.h"

namespace {

const char* errno_name(int error) {
  switch (error) {
#define NAME(e) case e: return #e;
    NAME(EPERM) NAME(ENOENT) NAME(ESRCH) NAME(EINTR) NAME(EIO) NAME(ENXIO) NAME(E2BIG)
    NAME(ENOEXEC) NAME(EBADF) NAME(ECHILD) NAME(EAGAIN) NAME(ENOMEM) NAME(EACCES)
    NAME(EFAULT) NAME(EBUSY) NAME(EEXIST) NAME(ENOTDIR) NAME(EISDIR) NAME(EINVAL)
    NAME(ENFILE) NAME(EMFILE) NAME(ENOTTY) NAME(ETXTBSY) NAME(ENOSPC) NAME(EPIPE)
    NAME(ERANGE) NAME(ENAMETOOLONG) NAME(ENOSYS) NAME(ELOOP) NAME(ENOTSOCK)
    NAME(ELIBBAD) NAME(EOVERFLOW)
#undef NAME
    default: return "UNKNOWN";
  }
}

Napi::Error errno_error(Napi::Env env, int error, const std::string& syscall) {
  std::string code = errno_name(error);
  Napi::Error e = Napi::Error::New(env, code + ": " + strerror(error) + ", " + syscall);
  e.Set("code", code);
  e.Set("errno", Napi::Number::New(env, -error));  // negative, as in Node
  e.Set("syscall", syscall);
  return e;
}

// Throws (as a JS exception) when result is -errno; returns result otherwise.
template <typename T>
T check(Napi::Env env, T result, const char* syscall) {
  if (result < 0) errno_error(env, static_cast<int>(-result), syscall).ThrowAsJavaScriptException();
  return result;
}

// A Buffer's bytes as they are (argv and environment need not be UTF-8), or
// a string's UTF-8.
std::string bytes(const Napi::Value& value) {
  if (value.IsBuffer()) {
    Napi::Buffer<char> buffer = value.As<Napi::Buffer<char>>();
    return std::string(buffer.Data(), buffer.Length());
  }
  return value.As<Napi::String>();
}

std::vector<std::string> byte_list(const Napi::Value& value) {
  Napi::Array array = value.As<Napi::Array>();
  std::vector<std::string> out;
  out.reserve(array.Length());
  for (uint32_t i = 0; i < array.Length(); i++) out.push_back(bytes(array.Get(i)));
  return out;
}

// A signal set as a BigInt (bit N-1 for signal N); false when null.
bool signal_bits(const Napi::Value& value, uint64_t* out) {
  if (!value.IsBigInt()) return false;
  bool lossless;
  *out = value.As<Napi::BigInt>().Uint64Value(&lossless);
  return true;
}

std::vector<char*> c_list(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

Napi::Object exit_object(Napi::Env env, const reaper::ExitInfo& info, bool described) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", info.pid);
  o.Set("exitCode", info.signal ? env.Null() : Napi::Number::New(env, info.exit_code));
  o.Set("signal", info.signal ? Napi::Number::New(env, info.signal) : env.Null());
  o.Set("coreDumped", info.core_dumped);
  if (described) {
    o.Set("comm", info.comm);
    o.Set("startTicks", static_cast<double>(info.start_ticks));
  }
  return o;
}

// spawn(file, args, env, foreground, ignored, blocked) -> pid; file, args
// and env are Buffers (or strings); ignored and blocked are BigInts, or null
// to start the app from default signal state.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string file = bytes(info[0]);
  std::vector<std::string> args = byte_list(info[1]);
  std::vector<std::string> environment = byte_list(info[2]);
  std::vector<char*> argv = c_list(args), envp = c_list(environment);
  reaper::SpawnRequest request{file.c_str(), argv.data(), envp.data(), info[3].ToBoolean(), false, 0, 0};
  request.inherit = signal_bits(info[4], &request.ignored) && signal_bits(info[5], &request.blocked);

  int exec_errno = 0;
  pid_t pid = reaper::spawn_child(request, &exec_errno);
  if (pid < 0) {
    errno_error(env, -pid, "clone").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (exec_errno != 0) {
    // Same shape as child_process: syscall 'spawn <file>', path, spawnargs.
    Napi::Error e = errno_error(env, exec_errno, "spawn " + file);
    e.Set("path", info[0].IsBuffer() ? Napi::String::New(env, file) : info[0]);
    e.Set("spawnargs", info[1]);
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, pid);
}

// relaunch(node, argv, env, argv0): executes node again without the
// environment that shapes it (native/launch.h); returns only by throwing.
Napi::Value Relaunch(const Napi::CallbackInfo& info) {
  std::string node = bytes(info[0]), argv0 = bytes(info[3]);
  std::vector<std::string> args = byte_list(info[1]), environment = byte_list(info[2]);
  std::vector<char*> argv = c_list(args), envp = c_list(environment);
  int r = reaper_relaunch(node.c_str(), argv.data(), envp.data(), argv0.c_str());
  errno_error(info.Env(), -r, "execve " + node).ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value OpenNotifyPipe(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), check(info.Env(), reaper::open_notify_pipe(), "pipe2"));
}

// installForwarding(rewrite: number[65], report: boolean[65], toGroup, reapInHandler)
Napi::Value InstallForwarding(const Napi::CallbackInfo& info) {
  reaper::ForwardingConfig config = {};
  Napi::Array rewrite = info[0].As<Napi::Array>(), report = info[1].As<Napi::Array>();
  for (int s = 0; s <= reaper::kMaxSignal; s++) {
    config.rewrite[s] = rewrite.Get(s).ToNumber().Int32Value();
    config.report[s] = report.Get(s).ToBoolean();
  }
  config.to_group = info[2].ToBoolean();
  config.reap_in_handler = info[3].ToBoolean();
  check(info.Env(), reaper::install_forwarding(config), "sigaction");
  return info.Env().Undefined();
}

Napi::Value SetForwardTarget(const Napi::CallbackInfo& info) {
  reaper::set_forward_target(info[0].ToNumber().Int32Value());
  return info.Env().Undefined();
}

Napi::Value TakeReapedCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(reaper::take_reaped_count()));
}

// takeMainExit() -> exit object, or null unless the SIGCHLD handler reaped
// the main child.
Napi::Value TakeMainExit(const Napi::CallbackInfo& info) {
  int status;
  reaper::ExitInfo exit = {};
  if (!reaper::take_main_exit(&status, exit.comm, sizeof exit.comm)) return info.Env().Null();
  char comm[sizeof exit.comm];
  memcpy(comm, exit.comm, sizeof comm);
  reaper::decode_status(0, status, &exit);
  memcpy(exit.comm, comm, sizeof comm);
  return exit_object(info.Env(), exit, true);
}

Napi::Value ClearForwardTarget(const Napi::CallbackInfo& info) {
  reaper::clear_forward_target();
  return info.Env().Undefined();
}

// reap(describe, mainPid) -> {count, exits, main}: reaps every waiting
// child. Orphans are counted; without describe only that number crosses into
// JavaScript (a burst of 10,000 zombies must not become 10,000 objects). The
// main child, if among them, always comes back as `main`.
Napi::Value Reap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool describe = info[0].ToBoolean();
  pid_t main_pid = info[1].ToNumber().Int32Value();
  uint32_t orphans = 0;
  Napi::Array exits = Napi::Array::New(env);
  Napi::Value main = env.Null();
  reaper::ExitInfo exit;
  for (;;) {
    int r = reaper::reap_next(describe, &exit);
    if (r == 0 || r == -ECHILD) break;
    if (r < 0) return check(env, r, "waitpid"), env.Undefined();
    if (exit.pid == main_pid) {
      main = exit_object(env, exit, describe);
    } else {
      if (describe) exits.Set(orphans, exit_object(env, exit, true));
      orphans++;
    }
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("count", orphans);
  out.Set("exits", exits);
  out.Set("main", main);
  return out;
}

// reapPid(pid, describe) -> exit object, or null when it is not a zombie
Napi::Value ReapPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  reaper::ExitInfo exit;
  int r = reaper::reap_pid(info[0].ToNumber().Int32Value(), info[1].ToBoolean(), &exit);
  if (r == 0 || r == -ECHILD) return env.Null();
  if (r < 0) return check(env, r, "waitid"), env.Undefined();
  return exit_object(env, exit, info[1].ToBoolean());
}

// procStat(pid) -> {state, ppid, startTicks, comm}, or null when it is gone
Napi::Value ProcStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  reaper::ProcStat stat;
  int r = reaper::read_proc_stat(info[0].ToNumber().Int32Value(), &stat);
  if (r == -ENOENT || r == -ESRCH) return env.Null();
  if (r < 0) return check(env, r, "read /proc/<pid>/stat"), env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", std::string(1, stat.state));
  o.Set("ppid", stat.ppid);
  o.Set("startTicks", static_cast<double>(stat.start_ticks));
  o.Set("comm", stat.comm);
  return o;
}

// readChildren(tgid, tid) -> pid[]; [] when the thread is gone
Napi::Value ReadChildren(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<pid_t> pids(4096);
  for (;;) {
    int n = reaper::read_children(info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value(),
                                  pids.data(), static_cast<int>(pids.size()));
    if (n == -ENOENT || n == -ESRCH) n = 0;
    if (n < 0) return check(env, n, "read /proc/<pid>/task/<tid>/children"), env.Undefined();
    if (static_cast<size_t>(n) == pids.size()) {
      pids.resize(pids.size() * 4);
      continue;
    }
    Napi::Array out = Napi::Array::New(env, n);
    for (int i = 0; i < n; i++) out.Set(i, pids[i]);
    return out;
  }
}

// ownedProcessPids() -> pids of active libuv process handles on this thread's
// loop: the children that Node (child_process) is waiting for.
Napi::Value OwnedProcessPids(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return Napi::Array::New(env);
  std::vector<int> pids;
  uv_walk(
      loop,
      [](uv_handle_t* handle, void* arg) {
        if (uv_handle_get_type(handle) == UV_PROCESS && uv_is_active(handle)) {
          static_cast<std::vector<int>*>(arg)->push_back(
              uv_process_get_pid(reinterpret_cast<uv_process_t*>(handle)));
        }
      },
      &pids);
  Napi::Array out = Napi::Array::New(env, pids.size());
  for (size_t i = 0; i < pids.size(); i++) out.Set(static_cast<uint32_t>(i), pids[i]);
  return out;
}

// The notify pipe is watched by a uv_poll_t on Node's loop: it keeps the
// loop alive while the app runs and wakes it only when a record arrives, with
// no net.Socket machinery behind it.
struct NotifyWatch {
  uv_poll_t poll;
  int fd;
  napi_env env;
  Napi::FunctionReference callback;
};
NotifyWatch* g_watch = nullptr;

void on_notify_readable(uv_poll_t* handle, int status, int) {
  NotifyWatch* watch = static_cast<NotifyWatch*>(handle->data);
  std::vector<uint8_t> data;
  uint8_t buf[4096];
  for (;;) {
    ssize_t n = read(watch->fd, buf, sizeof buf);
    if (n > 0) {
      data.insert(data.end(), buf, buf + n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: drained (records are written whole, under PIPE_BUF)
  }
  Napi::Env env(watch->env);
  Napi::HandleScope scope(env);
  try {
    Napi::Value error = status < 0 ? Napi::Value(errno_error(env, -status, "uv_poll").Value()) : env.Null();
    watch->callback.MakeCallback(env.Global(), {error, Napi::Buffer<uint8_t>::Copy(env, data.data(), data.size())});
  } catch (const Napi::Error& e) {
    // Hand it to process 'uncaughtException', as Node does for its own callbacks.
    napi_fatal_exception(env, e.Value());
  }
}

// watchNotify(fd, callback(error, buffer))
Napi::Value WatchNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Napi::Error::New(env, "no event loop").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  NotifyWatch* watch = new NotifyWatch{};
  watch->fd = info[0].ToNumber().Int32Value();
  watch->env = env;
  watch->callback = Napi::Persistent(info[1].As<Napi::Function>());
  watch->poll.data = watch;
  int r = uv_poll_init(loop, &watch->poll, watch->fd);
  if (r == 0) r = uv_poll_start(&watch->poll, UV_READABLE, on_notify_readable);
  if (r != 0) {
    delete watch;
    Napi::Error::New(env, std::string("uv_poll: ") + uv_strerror(r)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  g_watch = watch;
  return env.Undefined();
}

Napi::Value UnwatchNotify(const Napi::CallbackInfo& info) {
  if (g_watch) {
    uv_poll_stop(&g_watch->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&g_watch->poll), [](uv_handle_t* handle) {
      delete static_cast<NotifyWatch*>(handle->data);
    });
    g_watch = nullptr;
  }
  return info.Env().Undefined();
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  check(info.Env(), reaper::set_child_subreaper(info[0].ToBoolean()), "prctl");
  return info.Env().Undefined();
}

Napi::Value IsChildSubreaper(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), check(info.Env(), reaper::is_child_subreaper(), "prctl") == 1);
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  check(info.Env(), reaper::set_parent_death_signal(info[0].ToNumber().Int32Value()), "prctl");
  return info.Env().Undefined();
}

// signalProcess(pid, startTicks, signal) -> true, or false when it is gone
Napi::Value SignalProcess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int r = reaper::signal_process(info[0].ToNumber().Int32Value(),
                                 static_cast<uint64_t>(info[1].ToNumber().DoubleValue()),
                                 info[2].ToNumber().Int32Value());
  if (r == -ESRCH) return Napi::Boolean::New(env, false);
  check(env, r, "pidfd_send_signal");
  return Napi::Boolean::New(env, true);
}

Napi::Value OpenNonblockingWriter(const Napi::CallbackInfo& info) {
  return Napi::Number::New(
      info.Env(), check(info.Env(), reaper::open_nonblocking_writer(info[0].ToNumber().Int32Value()), "open"));
}

// writeLog(fd, text) -> bytes written, or -errno (never throws: logging must
// not be able to take PID 1 down)
Napi::Value WriteLog(const Napi::CallbackInfo& info) {
  std::string text = info[1].As<Napi::String>();
  ssize_t n = reaper::write_log(info[0].ToNumber().Int32Value(), text.data(), text.size());
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  reaper::exit_now(info[0].ToNumber().Int32Value());
}

Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), errno_name(info[0].ToNumber().Int32Value()));
}

// Bump with every change to the export table below (src/native.ts checks it):
// a prebuild from another reaper version must fail at load, not mid-run.
constexpr int kBindingVersion = 3;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("bindingVersion", Napi::Number::New(env, kBindingVersion));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("relaunch", Napi::Function::New(env, Relaunch));
  exports.Set("openNotifyPipe", Napi::Function::New(env, OpenNotifyPipe));
  exports.Set("installForwarding", Napi::Function::New(env, InstallForwarding));
  exports.Set("setForwardTarget", Napi::Function::New(env, SetForwardTarget));
  exports.Set("takeReapedCount", Napi::Function::New(env, TakeReapedCount));
  exports.Set("takeMainExit", Napi::Function::New(env, TakeMainExit));
  exports.Set("clearForwardTarget", Napi::Function::New(env, ClearForwardTarget));
  exports.Set("reap", Napi::Function::New(env, Reap));
  exports.Set("watchNotify", Napi::Function::New(env, WatchNotify));
  exports.Set("unwatchNotify", Napi::Function::New(env, UnwatchNotify));
  exports.Set("reapPid", Napi::Function::New(env, ReapPid));
  exports.Set("procStat", Napi::Function::New(env, ProcStat));
  exports.Set("readChildren", Napi::Function::New(env, ReadChildren));
  exports.Set("ownedProcessPids", Napi::Function::New(env, OwnedProcessPids));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("isChildSubreaper", Napi::Function::New(env, IsChildSubreaper));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal));
  exports.Set("signalProcess", Napi::Function::New(env, SignalProcess));
  exports.Set("openNonblockingWriter", Napi::Function::New(env, OpenNonblockingWriter));
  exports.Set("writeLog", Napi::Function::New(env, WriteLog));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoName));
  // Real-time signal numbers differ between C libraries (glibc 34, musl 35).
  exports.Set("SIGRTMIN", Napi::Number::New(env, SIGRTMIN));
  exports.Set("SIGRTMAX", Napi::Number::New(env, SIGRTMAX));
  exports.Set("CLK_TCK", Napi::Number::New(env, static_cast<double>(sysconf(_SC_CLK_TCK))));
  return exports;
}

}  // namespace

NODE_API_MODULE(reaper, Init)
