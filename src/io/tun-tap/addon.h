// Shared by the addon's source files (tun_tap.cc, raw_socket.cc): errors shaped like Node's system
// errors, the hand-over of exceptions thrown in callbacks from libuv, and each file's export hook.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstring>
#include <string>

// An Error shaped like Node's system errors: code ("EPERM"), errno (negative), syscall.
inline Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& what = "") {
  std::string msg = std::string(syscall) + (what.empty() ? "" : " " + what) + ": " + std::strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, uv_err_name(-err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

// Hands an exception thrown by a JS callback called from a libuv callback to Node's
// 'uncaughtException' machinery (there is no JS frame to return it to).
inline void ReportUncaught(Napi::Env env, const Napi::Error& e) {
  napi_fatal_exception(env, e.Value());
}

// raw_socket.cc: adds RawSocket to the addon's exports.
void InitRawSocket(Napi::Env env, Napi::Object exports);
