// The only file that binds N-API functions: it converts arguments, calls
// the plain functions of reaper.h and turns their -errno results into errors
// shaped like Node's own (code, errno, syscall). The notify pipe's watcher is
// in notify.cc.
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>
#include <string>
#include <vector>

#include <napi.h>

#include "launch.h"
#include "notify.h"
#include "reaper.h"

namespace {

// libuv's error codes are -errno on Unix: its names are Node's.
std::string errno_name(int error) {
  char name[64];
  return uv_err_name_r(-error, name, sizeof name);
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

int int_arg(const Napi::CallbackInfo& info, size_t i) {
  return info[i].ToNumber().Int32Value();
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

// {exitCode, signal, coreDumped} from a wait status.
Napi::Object status_object(Napi::Env env, int status) {
  Napi::Object o = Napi::Object::New(env);
  bool killed = WIFSIGNALED(status);
  o.Set("exitCode", killed ? env.Null() : Napi::Number::New(env, WEXITSTATUS(status)));
  o.Set("signal", killed ? Napi::Number::New(env, WTERMSIG(status)) : env.Null());
  o.Set("coreDumped", Napi::Boolean::New(env, killed && WCOREDUMP(status)));
  return o;
}

// spawn(file, args, env, foreground, ignored, blocked, newSession) -> pid;
// file, args and env are Buffers (or strings); ignored and blocked are
// BigInts, or null to start the app from default signal state.
Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string file = bytes(info[0]);
  std::vector<std::string> args = byte_list(info[1]);
  std::vector<std::string> environment = byte_list(info[2]);
  std::vector<char*> argv = c_list(args), envp = c_list(environment);
  reaper::SpawnRequest request{file.c_str(), argv.data(), envp.data(), info[3].ToBoolean(), false, 0, 0, info[6].ToBoolean()};
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

// installHandler(rewrite: number[65], report: boolean[65], toGroup, describe, holdTerm, drainSignal)
Napi::Value InstallHandler(const Napi::CallbackInfo& info) {
  reaper::ForwardingConfig config = {};
  Napi::Array rewrite = info[0].As<Napi::Array>(), report = info[1].As<Napi::Array>();
  for (int s = 0; s <= reaper::kMaxSignal; s++) {
    config.rewrite[s] = rewrite.Get(s).ToNumber().Int32Value();
    config.report[s] = report.Get(s).ToBoolean();
  }
  config.to_group = info[2].ToBoolean();
  config.describe = info[3].ToBoolean();
  config.hold_term = info[4].ToBoolean();
  config.drain_signal = info[5].ToNumber().Int32Value();
  const char* failed_call = "";
  int fd = reaper::install_handler(config, &failed_call);
  check(info.Env(), fd, failed_call);
  if (fd >= 0) reaper::notify_attach(info.Env(), fd);
  return info.Env().Undefined();
}

Napi::Value SetMainChild(const Napi::CallbackInfo& info) {
  reaper::set_main_child(int_arg(info, 0));
  return info.Env().Undefined();
}

Napi::Value SetNoMainChild(const Napi::CallbackInfo& info) {
  reaper::set_no_main_child();
  return info.Env().Undefined();
}

Napi::Value ReleaseHeldTerm(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), reaper::release_held_term());
}

// watchEvents(onReadable())
Napi::Value WatchEvents(const Napi::CallbackInfo& info) {
  int r = reaper::notify_watch(info.Env(), info[0].As<Napi::Function>());
  if (r != 0) errno_error(info.Env(), -r, "uv_poll_start").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value UnwatchEvents(const Napi::CallbackInfo& info) {
  reaper::notify_unwatch(info.Env());
  return info.Env().Undefined();
}

// readEvents(into: Buffer) -> bytes of whole records read into it (0: none
// waiting). Reusing one buffer keeps wake-ups free of allocations.
Napi::Value ReadEvents(const Napi::CallbackInfo& info) {
  Napi::Buffer<uint8_t> into = info[0].As<Napi::Buffer<uint8_t>>();
  ssize_t n = check(info.Env(), reaper::notify_read(info.Env(), into.Data(), into.Length()), "read");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// readFacts(into: Float64Array) fills [mainExited, mainStatus, orphansReaped,
// eventsDropped, termHeld, termHeldMsAgo, termHeldSender, stopSignal,
// drainInterrupt]; mainName() is the main child's name once it has exited.
Napi::Value ReadFacts(const Napi::CallbackInfo& info) {
  reaper::Facts facts;
  reaper::read_facts(&facts);
  Napi::Float64Array into = info[0].As<Napi::Float64Array>();
  if (into.ElementLength() >= 4) {
    into[0] = facts.main_exited ? 1 : 0;
    into[1] = facts.main_status;
    into[2] = static_cast<double>(facts.orphans_reaped);
    into[3] = static_cast<double>(facts.events_dropped);
  }
  if (into.ElementLength() >= 8) {
    into[4] = facts.term_held ? 1 : 0;
    into[5] = static_cast<double>(facts.term_held_ms_ago);
    into[6] = facts.term_held_sender;
    into[7] = facts.stop_signal;
  }
  if (into.ElementLength() >= 9) into[8] = facts.drain_interrupt;
  return info.Env().Undefined();
}

Napi::Value MainName(const Napi::CallbackInfo& info) {
  reaper::Facts facts;
  reaper::read_facts(&facts);
  return Napi::String::New(info.Env(), facts.main_comm);
}

// signalMainChild(signal) -> true, or false when it is gone
Napi::Value SignalMainChild(const Napi::CallbackInfo& info) {
  int r = reaper::signal_main_child(int_arg(info, 0));
  if (r == -ESRCH) return Napi::Boolean::New(info.Env(), false);
  check(info.Env(), r, "pidfd_send_signal");
  return Napi::Boolean::New(info.Env(), true);
}

// reapPid(pid, describe) -> {pid, exitCode, signal, coreDumped[, comm, startTicks]},
// or null when it is not a zombie (library mode reaps in JavaScript)
Napi::Value ReapPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool describe = info[1].ToBoolean();
  reaper::Exit exit;
  int r = reaper::reap_one(int_arg(info, 0), describe, &exit);
  if (r == 0 || r == -ECHILD) return env.Null();
  if (r < 0) return check(env, r, "waitid"), env.Undefined();
  Napi::Object o = status_object(env, exit.status);
  o.Set("pid", exit.pid);
  if (describe) {
    o.Set("comm", exit.comm);
    o.Set("startTicks", static_cast<double>(exit.start_ticks));
  }
  return o;
}

// procStat(pid) -> {state, ppid, startTicks, comm}, or null when it is gone
Napi::Value ProcStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  reaper::ProcStat stat;
  int r = reaper::read_proc_stat(int_arg(info, 0), &stat);
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
    int n = reaper::read_children(int_arg(info, 0), int_arg(info, 1),
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

// anythingLeft(wholeNamespace) -> false when the drain has nothing to do
Napi::Value AnythingLeft(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool whole_namespace = info[0].ToBoolean();
  int result = reaper::anything_left(whole_namespace);
  if (result < 0) return check(env, result, whole_namespace ? "kill" : "waitid"), env.Undefined();
  return Napi::Boolean::New(env, result == 1);
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo& info) {
  check(info.Env(), reaper::set_child_subreaper(info[0].ToBoolean()), "prctl");
  return info.Env().Undefined();
}

Napi::Value SetParentDeathSignal(const Napi::CallbackInfo& info) {
  check(info.Env(), reaper::set_parent_death_signal(int_arg(info, 0)), "prctl");
  return info.Env().Undefined();
}

// signalProcess(pid, startTicks, signal) -> true, or false when it is gone
Napi::Value SignalProcess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* failed_call = "";
  int r = reaper::signal_process(int_arg(info, 0),
                                 static_cast<uint64_t>(info[1].ToNumber().DoubleValue()),
                                 int_arg(info, 2), &failed_call);
  if (r == -ESRCH) return Napi::Boolean::New(env, false);
  check(env, r, failed_call);
  return Napi::Boolean::New(env, true);
}

Napi::Value OpenNonblockingWriter(const Napi::CallbackInfo& info) {
  return Napi::Number::New(
      info.Env(), check(info.Env(), reaper::open_nonblocking_writer(int_arg(info, 0)), "open"));
}

// writeLog(fd, bytes) -> bytes written, or -errno (never throws: logging must
// not be able to take PID 1 down). Bytes, not a string: after a partial write
// the caller goes on from the exact byte, which may be inside a character.
Napi::Value WriteLog(const Napi::CallbackInfo& info) {
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  ssize_t n = reaper::write_log(int_arg(info, 0), reinterpret_cast<const char*>(bytes.Data()), bytes.ByteLength());
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value ExitNow(const Napi::CallbackInfo& info) {
  reaper::exit_now(int_arg(info, 0));
}

Napi::Value ErrnoName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), errno_name(int_arg(info, 0)));
}

// Bump with every change to the export table below (src/native.ts checks it):
// a prebuild from another reaper version must fail at load, not mid-run.
constexpr int kBindingVersion = 9;

// The notify pipe's record layout (struct reaper::Event), so that JavaScript
// decodes it from the one definition.
Napi::Object event_layout(Napi::Env env) {
  Napi::Object kinds = Napi::Object::New(env);
  kinds.Set("wake", reaper::kEventWake);
  kinds.Set("forwarded", reaper::kEventForwarded);
  kinds.Set("dropped", reaper::kEventDropped);
  kinds.Set("noTarget", reaper::kEventNoTarget);
  kinds.Set("exited", reaper::kEventExited);
  kinds.Set("stopped", reaper::kEventStopped);
  kinds.Set("continued", reaper::kEventContinued);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", sizeof(reaper::Event));
  layout.Set("kind", offsetof(reaper::Event, kind));
  layout.Set("signal", offsetof(reaper::Event, signal));
  layout.Set("delivered", offsetof(reaper::Event, delivered));
  layout.Set("pid", offsetof(reaper::Event, pid));
  layout.Set("value", offsetof(reaper::Event, value));
  layout.Set("startTicks", offsetof(reaper::Event, start_ticks));
  layout.Set("comm", offsetof(reaper::Event, comm));
  layout.Set("commSize", reaper::kCommSize);
  layout.Set("kinds", kinds);
  return layout;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("bindingVersion", Napi::Number::New(env, kBindingVersion));
  exports.Set("spawn", Napi::Function::New(env, Spawn));
  exports.Set("relaunch", Napi::Function::New(env, Relaunch));
  exports.Set("installHandler", Napi::Function::New(env, InstallHandler));
  exports.Set("setMainChild", Napi::Function::New(env, SetMainChild));
  exports.Set("setNoMainChild", Napi::Function::New(env, SetNoMainChild));
  exports.Set("releaseHeldTerm", Napi::Function::New(env, ReleaseHeldTerm));
  exports.Set("watchEvents", Napi::Function::New(env, WatchEvents));
  exports.Set("unwatchEvents", Napi::Function::New(env, UnwatchEvents));
  exports.Set("readEvents", Napi::Function::New(env, ReadEvents));
  exports.Set("readFacts", Napi::Function::New(env, ReadFacts));
  exports.Set("mainName", Napi::Function::New(env, MainName));
  exports.Set("signalMainChild", Napi::Function::New(env, SignalMainChild));
  exports.Set("reapPid", Napi::Function::New(env, ReapPid));
  exports.Set("procStat", Napi::Function::New(env, ProcStat));
  exports.Set("readChildren", Napi::Function::New(env, ReadChildren));
  exports.Set("anythingLeft", Napi::Function::New(env, AnythingLeft));
  exports.Set("ownedProcessPids", Napi::Function::New(env, OwnedProcessPids));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("setParentDeathSignal", Napi::Function::New(env, SetParentDeathSignal));
  exports.Set("signalProcess", Napi::Function::New(env, SignalProcess));
  exports.Set("openNonblockingWriter", Napi::Function::New(env, OpenNonblockingWriter));
  exports.Set("writeLog", Napi::Function::New(env, WriteLog));
  exports.Set("exitNow", Napi::Function::New(env, ExitNow));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoName));
  exports.Set("event", event_layout(env));
  // Real-time signal numbers differ between C libraries (glibc 34, musl 35).
  exports.Set("SIGRTMIN", Napi::Number::New(env, SIGRTMIN));
  exports.Set("SIGRTMAX", Napi::Number::New(env, SIGRTMAX));
  exports.Set("CLK_TCK", Napi::Number::New(env, static_cast<double>(sysconf(_SC_CLK_TCK))));
  return exports;
}

}  // namespace

NODE_API_MODULE(reaper, Init)
