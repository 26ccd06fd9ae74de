// JS surface of loop_host.h: LoopHost (hosted mode) and LoopOwner (owning mode). Argument checks,
// conversion, and the one JS call per wakeup, made through a Node-API callback scope
// (MakeCallback with an async context) so that process.nextTick and promise jobs drain after it.
#include <string>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "host/loop_host.h"
#include "bindings/selector_wrap.h"

namespace muxloop {
namespace {

SelectorWrap* ToOpenSelector(const Napi::Value& value) {
  SelectorWrap* wrap = SelectorWrap::FromValue(value);
  if (wrap == nullptr) {
    throw TypeErrorWithCode(value.Env(), "ERR_INVALID_ARG_TYPE",
                            "The \"selector\" argument must be a native muxloop selector");
  }
  if (wrap->selector()->closed()) {
    throw StateError(value.Env(), "ERR_SELECTOR_CLOSED", "I/O operation on a closed selector");
  }
  if (wrap->guard() != nullptr) {
    throw StateError(value.Env(), "ERR_SELECTOR_IN_USE", "the selector is already hosted by a running loop");
  }
  return wrap;
}

// An Int32Array for (fd, events) pairs holding between 1 and 2**20 of them; returns its capacity.
size_t ToEventArray(const Napi::Value& value) {
  Napi::Env env = value.Env();
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"out\" argument must be an Int32Array");
  }
  const size_t capacity = value.As<Napi::Int32Array>().ElementLength() / 2;
  if (capacity < 1 || capacity > (1u << 20)) {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "out must hold between 1 and 2**20 events");
  }
  return capacity;
}

// LoopOwner.wait()'s result bit for "the engine has completions" (lib/loop/base_loop.ts reads
// it); counts stay below it (ToEventArray: at most 2**20).
constexpr int kCompletionsFlag = 1 << 30;

uv_loop_t* UvLoop(Napi::Env env) {
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    throw StateError(env, "ERR_LOOP_HOST", "no libuv loop in this environment");
  }
  return loop;
}

class LoopHostWrap : public Napi::ObjectWrap<LoopHostWrap>, public EnomemNew {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LoopHost",
                       {
                           InstanceMethod<&LoopHostWrap::Arm>("arm"),
                           InstanceMethod<&LoopHostWrap::Close>("close"),
                           InstanceAccessor<&LoopHostWrap::Mode>("mode"),
                       });
  }

  // new LoopHost(selector, onWake(count), out: Int32Array)
  // std::bad_alloc anywhere in the construction is ENOMEM (reliability.md F10).
  explicit LoopHostWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoopHostWrap>(info) {
    OrEnomem(info.Env(), [&] { Construct(info); });
  }
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SelectorWrap* selector = ToOpenSelector(info[0]);
    if (!info[1].IsFunction()) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"onWake\" argument must be a function");
    }
    const size_t capacity = ToEventArray(info[2]);
    Napi::Int32Array out = info[2].As<Napi::Int32Array>();
    uv_loop_t* loop = UvLoop(env);
    SysResult err{0, nullptr};
    // Allocated before the host: a failure after LoopHost::Create would leave its libuv handles open.
    context_ = std::make_unique<Napi::AsyncContext>(env, "muxloop.EventLoop");
    host_ = LoopHost::Create(loop, selector->selector(), static_cast<int>(capacity),
                             [this](int count) { OnWake(count); }, &err);
    if (host_ == nullptr) throw ErrnoError(env, err.value, err.syscall);
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    out_ = Napi::Persistent(out);
    selector_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    selector_ = selector;
    selector_->set_guard(host_);
    host_->set_on_detach([this] {
      host_ = nullptr;
      cleanup_ = nullptr;
      if (selector_ != nullptr) selector_->set_guard(nullptr);
      selector_ = nullptr;
    });
    // If the environment goes away (a worker terminated) while the loop runs, close the handles
    // and let Node wait for their close callbacks (libuv handles need an asynchronous close). The
    // hook's argument is the host, which lives until the hook is removed in its last close
    // callback, whichever of JS and the teardown closes it.
    if (napi_add_async_cleanup_hook(env, OnTeardown, host_, &cleanup_) != napi_ok) cleanup_ = nullptr;
  }

  ~LoopHostWrap() override { Shutdown(); }

 private:
  void Arm(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int64_t timeout_ns = ToTimeoutNs(info[0]);
    const bool keep_alive = ToBool(info[1], "keepAlive");
    const bool watch_io = ToBool(info[2], "watchIo");
    if (host_ == nullptr) throw StateError(env, "ERR_LOOP_HOST_CLOSED", "the loop host is closed");
    host_->Arm(timeout_ns, keep_alive, watch_io);
  }

  void Close(const Napi::CallbackInfo&) {
    Shutdown();
    callback_.Reset();
    out_.Reset();
    selector_ref_.Reset();
    context_.reset();
  }

  Napi::Value Mode(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), host_ != nullptr && host_->threaded() ? "thread" : "poll");
  }

  // Closes the host (its memory goes in the last libuv close callback) and drops the teardown hook.
  void Shutdown() {
    LoopHost* host = host_;
    if (host == nullptr) return;
    host_ = nullptr;
    host->set_on_detach(nullptr);
    if (selector_ != nullptr) selector_->set_guard(nullptr);
    selector_ = nullptr;
    napi_async_cleanup_hook_handle cleanup = cleanup_;
    cleanup_ = nullptr;
    host->Close([cleanup] {
      if (cleanup != nullptr) napi_remove_async_cleanup_hook(cleanup);
    });
  }

  static void OnTeardown(napi_async_cleanup_hook_handle handle, void* arg) {
    LoopHost* host = static_cast<LoopHost*>(arg);
    // Already closing (JS closed it): its last close callback removes this hook.
    if (host->closing()) return;
    host->Detach();
    host->Close([handle] { napi_remove_async_cleanup_hook(handle); });
  }

  // Raw Node-API with status checks, never throwing: this runs from a libuv callback, possibly while
  // a worker is being terminated, when no call into JS can succeed (and building an Error to throw
  // would itself fail fatally).
  void OnWake(int count) {
    napi_env env = Env();
    napi_handle_scope scope;
    if (quiet_ || napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value out_value = nullptr;
    napi_value fn = nullptr;
    napi_value self = nullptr;
    napi_get_reference_value(env, static_cast<napi_ref>(out_), &out_value);
    napi_get_reference_value(env, static_cast<napi_ref>(callback_), &fn);
    napi_get_reference_value(env, static_cast<napi_ref>(*this), &self);
    void* data = nullptr;
    size_t length = 0;
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    if (out_value != nullptr &&
        napi_get_typedarray_info(env, out_value, &type, &length, &data, &buffer, &offset) == napi_ok &&
        type == napi_int32_array && data != nullptr) {
      const ReadyEvent* events = host_->events();
      int32_t* pairs = static_cast<int32_t*>(data);
      if (static_cast<size_t>(count) > length / 2) count = static_cast<int>(length / 2);
      for (int i = 0; i < count; i++) {
        pairs[2 * i] = events[i].fd;
        pairs[2 * i + 1] = static_cast<int32_t>(events[i].events);
      }
    } else {
      count = 0;
    }
    // The callback returns true when it would like another iteration at once and no poll could
    // report anything (only callbacks queued, no fd watched; base_loop.ts #onHostWake). Up to
    // kSpinCalls calls, for at most kSpinNs, are then made from here, each its own outermost
    // callback scope (so Node drains process.nextTick and promise jobs after each, as after any
    // wakeup, and handles what they throw), without the libuv turn in between: an uv_idle_t, a
    // zero-timeout epoll_wait and the re-arm, about half a microsecond per iteration. The host
    // stays armed for at once, so libuv takes over when the budget is spent.
    constexpr int kSpinCalls = 128;
    constexpr uint64_t kSpinNs = 1000 * 1000;
    const uint64_t start = uv_hrtime();
    for (int call = 0; call < kSpinCalls; call++) {
      napi_value arg;
      napi_value result;
      if (fn == nullptr || self == nullptr || napi_create_int32(env, count, &arg) != napi_ok) break;
      if (napi_make_callback(env, *context_, self, fn, 1, &arg, &result) != napi_ok) {
        // The loop's JS catches everything its callbacks throw, so an exception here was thrown
        // after the iteration, by a process.nextTick callback or promise job drained as the
        // callback scope closed (the iteration had re-armed the host by then): it is reported as
        // uncaught, as Node reports any throwing tick, and the host keeps calling, so a program
        // with an 'uncaughtException' handler keeps its loop. No exception at all means the
        // environment is going away: the host stops calling.
        bool pending = false;
        napi_value exception;
        if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
            napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
          napi_fatal_exception(env, exception);
        } else {
          quiet_ = true;
        }
        break;
      }
      bool again = false;
      if (napi_get_value_bool(env, result, &again) != napi_ok || !again) break;
      if (quiet_ || host_ == nullptr || host_->closing() || uv_hrtime() - start > kSpinNs) break;
      count = 0;
    }
    napi_close_handle_scope(env, scope);
  }

  LoopHost* host_ = nullptr;
  bool quiet_ = false;
  SelectorWrap* selector_ = nullptr;
  napi_async_cleanup_hook_handle cleanup_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::Reference<Napi::Int32Array> out_;
  Napi::ObjectReference selector_ref_;  // keeps the SelectorWrap (and its guard slot) alive
  std::unique_ptr<Napi::AsyncContext> context_;
};

class LoopOwnerWrap : public Napi::ObjectWrap<LoopOwnerWrap>, public EnomemNew {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "LoopOwner",
                       {
                           InstanceMethod<&LoopOwnerWrap::Wait>("wait"),
                           InstanceMethod<&LoopOwnerWrap::LibuvAlive>("libuvAlive"),
                           InstanceAccessor<&LoopOwnerWrap::WaitsInRing>("waitsInRing"),
                           InstanceMethod<&LoopOwnerWrap::Close>("close"),
                       });
  }

  // new LoopOwner(selector, engine?): engine, a UringEngine, to wait in (loop_host.h)
  // std::bad_alloc anywhere in the construction is ENOMEM (reliability.md F10).
  explicit LoopOwnerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoopOwnerWrap>(info) {
    OrEnomem(info.Env(), [&] { Construct(info); });
  }
  void Construct(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SelectorWrap* selector = ToOpenSelector(info[0]);
    std::shared_ptr<CompletionWaiter> waiter;
    if (!info[1].IsUndefined()) {
#ifdef __linux__
      waiter = ToCompletionWaiter(info[1]);
#else
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "io_uring engines exist on Linux only");
#endif
    }
    SysResult err{0, nullptr};
    owner_ = LoopOwner::Create(UvLoop(env), selector->selector(), std::move(waiter), &err);
    if (!owner_) throw ErrnoError(env, err.value, err.syscall, "libuv backend fd");
    selector_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    if (owner_->waits_in_ring()) engine_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  }

 private:
  // wait(timeoutSeconds, out: Int32Array) -> count, plus kCompletionsFlag when the engine has
  // completions to reap (one call per iteration, not two)
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int64_t timeout_ns = ToTimeoutNs(info[0]);
    const size_t capacity = ToEventArray(info[1]);
    if (!owner_) throw StateError(env, "ERR_LOOP_HOST_CLOSED", "the loop owner is closed");
    if (events_.size() < capacity) events_.resize(capacity);
    bool completions = false;
    SysResult r = owner_->Wait(timeout_ns, events_.data(), static_cast<int>(capacity), &completions);
    if (!r.ok()) throw ErrnoError(env, r.value, r.syscall);
    // Take the pointer only now: libuv callbacks ran JS inside Wait().
    Napi::Int32Array fresh = info[1].As<Napi::Int32Array>();
    if (fresh.ArrayBuffer().IsDetached() || fresh.ElementLength() / 2 < static_cast<size_t>(r.value)) {
      throw TypeErrorWithCode(env, "ERR_INVALID_STATE", "out was detached or shrunk during the wait");
    }
    int32_t* data = fresh.Data();
    for (int i = 0; i < r.value; i++) {
      data[2 * i] = events_[static_cast<size_t>(i)].fd;
      data[2 * i + 1] = static_cast<int32_t>(events_[static_cast<size_t>(i)].events);
    }
    return Napi::Number::New(env, r.value | (completions ? kCompletionsFlag : 0));
  }

  Napi::Value WaitsInRing(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), owner_ && owner_->waits_in_ring());
  }

  Napi::Value LibuvAlive(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), owner_ && owner_->LibuvAlive());
  }

  void Close(const Napi::CallbackInfo&) {
    if (owner_) owner_->Close();
    owner_.reset();
    selector_ref_.Reset();
    engine_ref_.Reset();
  }

  std::unique_ptr<LoopOwner> owner_;
  std::vector<ReadyEvent> events_;
  Napi::ObjectReference selector_ref_;
  Napi::ObjectReference engine_ref_;
};

}  // namespace

void InitLoopHostBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("LoopHost", LoopHostWrap::Define(env));
  exports.Set("LoopOwner", LoopOwnerWrap::Define(env));
}

}  // namespace muxloop
