// The notify pipe's watcher on Node's event loop (notify.cc). Its state lives
// in the addon instance and is torn down by an environment cleanup hook.
#pragma once

#include <napi.h>

namespace reaper {

// Takes the read end of the notify pipe (from install_handler).
void notify_attach(Napi::Env env, int fd);
// Calls on_readable() whenever records are waiting; keeps the loop alive
// while it watches (it is the only thing that does while the app runs).
// Returns 0 or a libuv error.
int notify_watch(Napi::Env env, Napi::Function on_readable);
void notify_unwatch(Napi::Env env);
// Reads waiting records into buf (whole records, at most size bytes).
// Returns the bytes read (0 when none), or -errno.
ssize_t notify_read(Napi::Env env, uint8_t* buf, size_t size);

}  // namespace reaper
