// Shared by the addon's source files (tun_tap.cc, raw_socket.cc): errors shaped like Node's system
// errors, the hand-over of exceptions thrown in callbacks from libuv, the JS object that reads a
// non-blocking fd through uv_poll (both files' classes), and each file's export hook.
#pragma once

#include <napi.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <memory>
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

// A JS object that owns a non-blocking fd and reads it through uv_poll (TunDevice, RawSocket): the
// poll handle's life, start(onData, onError) with the object kept alive while it polls, ref/unref,
// close, and a poll or read error handed to onError (reading then stops). T, the class deriving
// from PolledFd<T>, opens fd_ and calls InitPoll, and supplies
//   void OnReadable(Napi::Env env)   reads what is there, calling on_data_ (and Fail on an error);
//   std::string PollLabel() const    what a poll error names (the device, "raw socket");
//   static const char* const kClosedLabel   what a call after close() names.
template <typename T>
class PolledFd : public Napi::ObjectWrap<T> {
 public:
  explicit PolledFd(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {}

  // Collected without close(): nothing can be polling (a started object holds a reference to itself).
  ~PolledFd() override { Release(false); }

 protected:
  // The JS methods every such object has, for T's DefineClass (the overload that takes a pointer
  // to a member of the base at run time: a template argument must name a member of T itself).
  static Napi::ClassPropertyDescriptor<T> StartMethod() {
    return Napi::ObjectWrap<T>::InstanceMethod("start", &PolledFd::Start);
  }
  static Napi::ClassPropertyDescriptor<T> RefMethod() {
    return Napi::ObjectWrap<T>::InstanceMethod("ref", &PolledFd::RefHandle);
  }
  static Napi::ClassPropertyDescriptor<T> UnrefMethod() {
    return Napi::ObjectWrap<T>::InstanceMethod("unref", &PolledFd::UnrefHandle);
  }
  static Napi::ClassPropertyDescriptor<T> HoldMethod() {
    return Napi::ObjectWrap<T>::InstanceMethod("hold", &PolledFd::Hold);
  }
  static Napi::ClassPropertyDescriptor<T> CloseMethod() {
    return Napi::ObjectWrap<T>::InstanceMethod("close", &PolledFd::Close);
  }

  // The poll handle on fd_ (open) and the async context the callbacks run in, named `resource`.
  // On failure fd_ is closed and the error thrown.
  void InitPoll(Napi::Env env, const char* resource) {
    async_ = std::make_unique<Napi::AsyncContext>(env, resource);
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    int rc = uv_poll_init(loop, poll_, fd_);
    if (rc < 0) {
      delete poll_;
      poll_ = nullptr;
      CloseFd();
      throw SystemError(env, -rc, "uv_poll_init");
    }
    poll_->data = static_cast<T*>(this);
  }

  // start(onData, onError): starts (or resumes) reading, the callbacks replaced.
  void Start(const Napi::CallbackInfo& info) {
    CheckOpen(info.Env());
    on_data_ = Napi::Persistent(info[0].As<Napi::Function>());
    on_error_ = Napi::Persistent(info[1].As<Napi::Function>());
    if (polling_) return;
    int rc = uv_poll_start(poll_, UV_READABLE, OnPoll);
    if (rc < 0) throw SystemError(info.Env(), -rc, "uv_poll_start");
    polling_ = true;
    // Keep the JS object alive while the kernel can call us back.
    Napi::ObjectWrap<T>::Ref();
  }

  // hold(on): while reading, stops (true) or restarts (false) the poll alone, keeping the callbacks
  // and the object's reference: a short pause its owner ends itself (the TUN driver's read
  // hold-off), without start()'s new references. A no-op when not reading; stop() ends a hold.
  void Hold(const Napi::CallbackInfo& info) {
    bool on = info[0].As<Napi::Boolean>().Value();
    if (!polling_ || on == held_) return;
    if (on) {
      uv_poll_stop(poll_);
    } else {
      int rc = uv_poll_start(poll_, UV_READABLE, OnPoll);
      if (rc < 0) throw SystemError(info.Env(), -rc, "uv_poll_start");
    }
    held_ = on;
  }

  void RefHandle(const Napi::CallbackInfo&) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(poll_));
  }

  void UnrefHandle(const Napi::CallbackInfo&) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(poll_));
  }

  void Close(const Napi::CallbackInfo&) { Release(true); }

  void CheckOpen(Napi::Env env) {
    if (fd_ < 0) throw SystemError(env, EBADF, T::kClosedLabel, "(closed)");
  }

  // Stops reading and reports a read/poll error to onError.
  void Fail(const Napi::Error& e) {
    Napi::FunctionReference on_error = std::move(on_error_);
    StopPolling();
    if (on_error.IsEmpty()) return;
    try {
      on_error.MakeCallback(this->Value(), {e.Value()}, *async_);
    } catch (const Napi::Error& thrown) {
      ReportUncaught(this->Env(), thrown);
    }
  }

  void StopPolling(bool drop_self_ref = true) {
    if (!polling_) return;
    polling_ = false;
    held_ = false;
    uv_poll_stop(poll_);
    on_data_.Reset();
    on_error_.Reset();
    if (drop_self_ref) Napi::ObjectWrap<T>::Unref();
  }

  // Stops polling, closes the handle (freed by libuv's close callback) and the fd. Idempotent.
  void Release(bool drop_self_ref) {
    StopPolling(drop_self_ref);
    if (poll_ != nullptr) {
      uv_close(reinterpret_cast<uv_handle_t*>(poll_),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    CloseFd();
  }

  void CloseFd() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  bool polling_ = false;
  // Polling stopped for a while by hold(true), still reading.
  bool held_ = false;
  Napi::FunctionReference on_data_;
  std::unique_ptr<Napi::AsyncContext> async_;

 private:
  static void OnPoll(uv_poll_t* handle, int status, int) {
    auto* self = static_cast<T*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    // Holds the JS object for the whole call, even if a callback closes it.
    Napi::Object keep = self->Value();
    (void)keep;
    if (status < 0) {
      self->Fail(SystemError(env, -status, "poll", self->PollLabel()));
      return;
    }
    self->OnReadable(env);
  }

  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference on_error_;
};

// raw_socket.cc: adds RawSocket to the addon's exports.
void InitRawSocket(Napi::Env env, Napi::Object exports);
