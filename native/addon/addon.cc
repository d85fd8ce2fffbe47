// The only file that touches N-API (and libuv): it converts arguments, calls
// the plain functions of reaper.h, turns their -errno results into errors
// shaped like Node's own (code, errno, syscall) and watches the notify pipe
// on Node's event loop.
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <napi.h>

#include "launcher/launch.h"
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

// A signal's result: true when sent, false when the process is gone (-ESRCH).
Napi::Value sent(Napi::Env env, int result, const char* failed_call) {
  if (result == -ESRCH) return Napi::Boolean::New(env, false);
  check(env, result, failed_call);
  return Napi::Boolean::New(env, true);
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

// The notify pipe is watched by a uv_poll_t on Node's loop: it wakes
// JavaScript only when a record arrives, with no net.Socket machinery behind
// it. The callback only says "look now"; JavaScript then reads the records
// (readEvents) and the facts, so a record it fails to handle stays in the
// pipe and the poll fires again. Its state lives in the addon instance and is
// torn down by an environment cleanup hook.
struct Watch {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference on_readable;
};

struct Instance {
  int fd = -1;  // the notify pipe's read end (installHandler)
  Watch* watch = nullptr;
};

void close_watch(Instance* state) {
  if (!state->watch) return;
  uv_poll_stop(&state->watch->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&state->watch->poll),
           [](uv_handle_t* handle) { delete static_cast<Watch*>(handle->data); });
  state->watch = nullptr;
}

Instance* instance(Napi::Env env) {
  Instance* state = env.GetInstanceData<Instance>();
  if (state) return state;
  state = new Instance();
  env.SetInstanceData(state);  // deleted with the environment
  // Before the loop closes: a live poll handle would keep the worker's or
  // the process's loop from ending, and its callback must not outlive env.
  env.AddCleanupHook([state]() { close_watch(state); });
  return state;
}

void on_readable(uv_poll_t* handle, int, int) {
  // An error status (EBADF) would repeat: the callback's read reports it.
  Watch* watch = static_cast<Watch*>(handle->data);
  Napi::Env env(watch->env);
  Napi::HandleScope scope(env);
  try {
    watch->on_readable.MakeCallback(env.Global(), {});
  } catch (const Napi::Error& e) {
    // Hand it to process 'uncaughtException', as Node does for its own callbacks.
    napi_fatal_exception(env, e.Value());
  }
}

// Calls on_readable() whenever records are waiting; keeps the loop alive
// while it watches (it is the only thing that does while the app runs).
// Returns 0 or a libuv error.
int watch_events(Napi::Env env, Napi::Function callback) {
  Instance* state = instance(env);
  if (state->watch) return UV_EBUSY;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return UV_EINVAL;
  Watch* watch = new Watch{};
  watch->env = env;
  watch->on_readable = Napi::Persistent(callback);
  watch->poll.data = watch;
  int r = uv_poll_init(loop, &watch->poll, state->fd);
  if (r != 0) {
    delete watch;
    return r;
  }
  state->watch = watch;
  r = uv_poll_start(&watch->poll, UV_READABLE, on_readable);
  if (r != 0) close_watch(state);
  return r;
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
  if (pid < 0) return check(env, pid, "clone"), env.Undefined();
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
// environment that shapes it (native/launcher/launch.h); returns only by throwing.
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
  for (int s = 0; s <= REAPER_MAX_SIGNAL; s++) {
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
  if (fd >= 0) instance(info.Env())->fd = fd;
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
  int r = watch_events(info.Env(), info[0].As<Napi::Function>());
  if (r != 0) errno_error(info.Env(), -r, "uv_poll_start").ThrowAsJavaScriptException();
  return info.Env().Undefined();
}

Napi::Value UnwatchEvents(const Napi::CallbackInfo& info) {
  close_watch(instance(info.Env()));
  return info.Env().Undefined();
}

// readEvents(into: Buffer) -> bytes of whole records read into it (0: none
// waiting). Reusing one buffer keeps wake-ups free of allocations.
Napi::Value ReadEvents(const Napi::CallbackInfo& info) {
  Napi::Buffer<uint8_t> into = info[0].As<Napi::Buffer<uint8_t>>();
  ssize_t n = check(info.Env(), reaper::read_events(instance(info.Env())->fd, into.Data(), into.Length()), "read");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// The facts block readFacts fills, slot by slot (exported as factsLayout,
// so that JavaScript reads each by name).
constexpr const char* kFactNames[] = {"mainExited", "mainStatus", "orphansReaped", "eventsDropped", "termHeld",
                                      "termHeldMsAgo", "termHeldSender", "stopSignal", "drainInterrupt"};
constexpr size_t kFactCount = sizeof kFactNames / sizeof *kFactNames;

// readFacts(into: Float64Array) fills the slots into has room for;
// mainName() is the main child's name once it has exited.
Napi::Value ReadFacts(const Napi::CallbackInfo& info) {
  reaper::Facts f;
  reaper::read_facts(&f);
  const double values[] = {f.main_exited ? 1.0 : 0.0, static_cast<double>(f.main_status),
                           static_cast<double>(f.orphans_reaped), static_cast<double>(f.events_dropped),
                           f.term_held ? 1.0 : 0.0, static_cast<double>(f.term_held_ms_ago),
                           static_cast<double>(f.term_held_sender), static_cast<double>(f.stop_signal),
                           static_cast<double>(f.drain_interrupt)};
  static_assert(sizeof values / sizeof *values == kFactCount, "one name per fact");
  Napi::Float64Array into = info[0].As<Napi::Float64Array>();
  for (size_t i = 0; i < kFactCount && i < into.ElementLength(); i++) into[i] = values[i];
  return info.Env().Undefined();
}

Napi::Value MainName(const Napi::CallbackInfo& info) {
  reaper::Facts facts;
  reaper::read_facts(&facts);
  return Napi::String::New(info.Env(), facts.main_comm);
}

// signalMainChild(signal) -> true, or false when it is gone
Napi::Value SignalMainChild(const Napi::CallbackInfo& info) {
  const char* failed_call = "";
  int r = reaper::signal_main_child(int_arg(info, 0), &failed_call);
  return sent(info.Env(), r, failed_call);
}

// reapPid(pid, describe) -> {pid, status[, comm, startTicks]}, or null when it
// is not a zombie (library mode reaps in JavaScript). status is the wait
// status, decoded in JavaScript like the handler's (src/core/exit-status.ts).
Napi::Value ReapPid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool describe = info[1].ToBoolean();
  reaper::Exit exit;
  int r = reaper::reap_one(int_arg(info, 0), describe, &exit);
  if (r == 0 || r == -ECHILD) return env.Null();
  if (r < 0) return check(env, r, "waitid"), env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", exit.pid);
  o.Set("status", exit.status);
  if (describe) {
    o.Set("comm", exit.comm);
    o.Set("startTicks", static_cast<double>(exit.start_ticks));
  }
  return o;
}

// procStat(pid) -> {state, ppid, pgid, startTicks, comm}, or null when it is gone
Napi::Value ProcStat(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  reaper::ProcStat stat;
  int r = reaper::read_proc_stat(int_arg(info, 0), &stat);
  if (r == -ENOENT || r == -ESRCH) return env.Null();
  if (r < 0) return check(env, r, "read /proc/<pid>/stat"), env.Undefined();
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", std::string(1, stat.state));
  o.Set("ppid", stat.ppid);
  o.Set("pgid", stat.pgid);
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
  const char* failed_call = "";
  uint64_t start_ticks = static_cast<uint64_t>(info[1].ToNumber().DoubleValue());
  int r = reaper::signal_process(int_arg(info, 0), start_ticks, int_arg(info, 2), &failed_call);
  return sent(info.Env(), r, failed_call);
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

// Bump with every change to the export table below (src/core/native.ts checks it):
// a prebuild from another reaper version must fail at load, not mid-run.
constexpr int kBindingVersion = 11;

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

Napi::Object facts_layout(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  for (size_t i = 0; i < kFactCount; i++) layout.Set(kFactNames[i], i);
  layout.Set("size", kFactCount);
  return layout;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("bindingVersion", Napi::Number::New(env, kBindingVersion));
  using Binding = Napi::Value (*)(const Napi::CallbackInfo&);
  const std::pair<const char*, Binding> bindings[] = {
      {"spawn", Spawn}, {"relaunch", Relaunch}, {"installHandler", InstallHandler},
      {"setMainChild", SetMainChild}, {"setNoMainChild", SetNoMainChild}, {"releaseHeldTerm", ReleaseHeldTerm},
      {"watchEvents", WatchEvents}, {"unwatchEvents", UnwatchEvents}, {"readEvents", ReadEvents},
      {"readFacts", ReadFacts}, {"mainName", MainName}, {"signalMainChild", SignalMainChild},
      {"reapPid", ReapPid}, {"procStat", ProcStat}, {"readChildren", ReadChildren},
      {"anythingLeft", AnythingLeft}, {"ownedProcessPids", OwnedProcessPids},
      {"setChildSubreaper", SetChildSubreaper}, {"setParentDeathSignal", SetParentDeathSignal},
      {"signalProcess", SignalProcess}, {"openNonblockingWriter", OpenNonblockingWriter},
      {"writeLog", WriteLog}, {"exitNow", ExitNow}, {"errnoName", ErrnoName},
  };
  for (const auto& [name, binding] : bindings) exports.Set(name, Napi::Function::New(env, binding, name));
  exports.Set("event", event_layout(env));
  exports.Set("factsLayout", facts_layout(env));
  // Real-time signal numbers differ between C libraries (glibc 34, musl 35).
  exports.Set("SIGRTMIN", Napi::Number::New(env, SIGRTMIN));
  exports.Set("CLK_TCK", Napi::Number::New(env, static_cast<double>(sysconf(_SC_CLK_TCK))));
  return exports;
}

}  // namespace

NODE_API_MODULE(reaper, Init)
