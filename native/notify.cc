// The notify pipe is watched by a uv_poll_t on Node's loop: it wakes
// JavaScript only when a record arrives, with no net.Socket machinery behind
// it. The callback only says "look now"; JavaScript then reads the records
// (notify_read) and the facts, so a record it fails to handle stays in the
// pipe and the poll fires again.
#include "notify.h"

#include <unistd.h>
#include <uv.h>

#include "reaper.h"

namespace reaper {
namespace {

struct Watch {
  uv_poll_t poll;
  napi_env env;
  Napi::FunctionReference on_readable;
};

struct Instance {
  int fd = -1;
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

}  // namespace

void notify_attach(Napi::Env env, int fd) {
  instance(env)->fd = fd;
}

int notify_watch(Napi::Env env, Napi::Function callback) {
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

void notify_unwatch(Napi::Env env) {
  close_watch(instance(env));
}

ssize_t notify_read(Napi::Env env, uint8_t* buf, size_t size) {
  size -= size % sizeof(Event);  // records are written whole (under PIPE_BUF)
  ssize_t n = retry_eintr([&] { return read(instance(env)->fd, buf, size); });
  return n == -EAGAIN ? 0 : n;
}

}  // namespace reaper
