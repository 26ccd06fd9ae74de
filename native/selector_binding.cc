// JS surface of a backend: argument checks and conversion only (contract: selector.h).
#include <cmath>
#include <string>

#include "addon.h"
#include "binding_util.h"
#include "selector.h"

namespace muxloop {
namespace {

static_assert(sizeof(ReadyEvent) == 2 * sizeof(int32_t), "ReadyEvent is an (fd, events) int32 pair");

class SelectorWrap : public Napi::ObjectWrap<SelectorWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSelector",
                       {
                           InstanceMethod<&SelectorWrap::Add>("add"),
                           InstanceMethod<&SelectorWrap::Modify>("modify"),
                           InstanceMethod<&SelectorWrap::Remove>("remove"),
                           InstanceMethod<&SelectorWrap::Wait>("wait"),
                           InstanceMethod<&SelectorWrap::Close>("close"),
                           InstanceAccessor<&SelectorWrap::Fileno>("fileno"),
                           InstanceAccessor<&SelectorWrap::Kind>("kind"),
                           InstanceAccessor<&SelectorWrap::MaxFd>("maxFd"),
                           InstanceAccessor<&SelectorWrap::ResolutionNs>("resolutionNs"),
                           InstanceAccessor<&SelectorWrap::Closed>("closed"),
                       });
  }

  explicit SelectorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SelectorWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"kind\" argument must be of type string");
    }
    const std::string kind = info[0].As<Napi::String>().Utf8Value();
    SysResult err{0, nullptr};
    std::unique_ptr<Selector> created = CreateSelector(kind, &err);
    if (!created) {
      if (err.value == -ENOSYS) {
        throw StateError(env, "ERR_SELECTOR_UNAVAILABLE", "selector kind '" + kind + "' is not available here");
      }
      throw ErrnoError(env, err.value, err.syscall);
    }
    selector_ = std::shared_ptr<Selector>(std::move(created));
    AddonData::Get(env)->TrackSelector(selector_);
  }

  ~SelectorWrap() override {
    // Garbage-collected without close(): release the kernel object now.
    if (selector_) selector_->close();
  }

 private:
  Selector& Open(Napi::Env env) {
    if (selector_->closed()) throw StateError(env, "ERR_SELECTOR_CLOSED", "I/O operation on a closed selector");
    return *selector_;
  }

  int32_t CheckedFd(const Napi::CallbackInfo& info) {
    const int32_t fd = ToFd(info[0]);
    if (fd > selector_->max_fd()) {
      throw RangeErrorWithCode(info.Env(), "ERR_OUT_OF_RANGE",
                               "fd " + std::to_string(fd) + " out of range for select() (FD_SETSIZE=" +
                                   std::to_string(selector_->max_fd() + 1) + ")");
    }
    return fd;
  }

  static uint32_t CheckedEvents(const Napi::Value& value) {
    if (!value.IsNumber()) {
      throw TypeErrorWithCode(value.Env(), "ERR_INVALID_ARG_TYPE", "The \"events\" argument must be of type number");
    }
    const double d = value.As<Napi::Number>().DoubleValue();
    if (!(d == 1 || d == 2 || d == 3)) {
      throw RangeErrorWithCode(value.Env(), "ERR_OUT_OF_RANGE", "invalid events mask: " + std::to_string(d));
    }
    return static_cast<uint32_t>(d);
  }

  void Add(const Napi::CallbackInfo& info) {
    Selector& selector = Open(info.Env());
    const int32_t fd = CheckedFd(info);
    const uint32_t events = CheckedEvents(info[1]);
    SysResult r = selector.add(fd, events);
    if (!r.ok()) throw ErrnoError(info.Env(), r.value, r.syscall, "fd " + std::to_string(fd));
  }

  void Modify(const Napi::CallbackInfo& info) {
    Selector& selector = Open(info.Env());
    const int32_t fd = CheckedFd(info);
    const uint32_t events = CheckedEvents(info[1]);
    SysResult r = selector.modify(fd, events);
    if (!r.ok()) throw ErrnoError(info.Env(), r.value, r.syscall, "fd " + std::to_string(fd));
  }

  void Remove(const Napi::CallbackInfo& info) {
    Selector& selector = Open(info.Env());
    selector.remove(ToFd(info[0]));
  }

  // wait(timeoutSeconds, out: Int32Array) -> count. Writes (fd, events) pairs into `out`, which the
  // caller reuses across calls: one boundary crossing and no allocation per event.
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Selector& selector = Open(env);
    const double seconds = ToNumber(info[0], "timeout");
    if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"out\" argument must be an Int32Array");
    }
    Napi::Int32Array out = info[1].As<Napi::Int32Array>();
    if (out.ArrayBuffer().IsDetached()) throw TypeErrorWithCode(env, "ERR_INVALID_STATE", "buffer is detached");
    const size_t capacity = out.ElementLength() / 2;
    if (capacity < 1) throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "out must hold at least one event");
    // Seconds -> ns, clamped before the cast (a double out of int64 range is undefined behaviour).
    int64_t timeout_ns;
    if (seconds < 0) {
      timeout_ns = -1;
    } else if (seconds >= static_cast<double>(kMaxTimeoutNs) / 1e9) {
      timeout_ns = kMaxTimeoutNs;
    } else {
      timeout_ns = static_cast<int64_t>(std::ceil(seconds * 1e9));
    }
    const int cap = capacity > 1u << 20 ? 1 << 20 : static_cast<int>(capacity);
    if (events_.size() < static_cast<size_t>(cap)) events_.resize(static_cast<size_t>(cap));
    SysResult r = selector.wait(timeout_ns, events_.data(), cap);
    if (!r.ok()) throw ErrnoError(env, r.value, r.syscall);
    int32_t* data = out.Data();
    for (int i = 0; i < r.value; i++) {
      data[2 * i] = events_[static_cast<size_t>(i)].fd;
      data[2 * i + 1] = static_cast<int32_t>(events_[static_cast<size_t>(i)].events);
    }
    return Napi::Number::New(env, r.value);
  }

  void Close(const Napi::CallbackInfo&) { selector_->close(); }

  Napi::Value Fileno(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), selector_->fileno()); }
  Napi::Value Kind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), selector_->kind()); }
  Napi::Value MaxFd(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), selector_->max_fd()); }
  Napi::Value ResolutionNs(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(selector_->resolution_ns()));
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), selector_->closed()); }

  std::shared_ptr<Selector> selector_;
  std::vector<ReadyEvent> events_;
};

Napi::Value SelectorKinds(const Napi::CallbackInfo& info) {
  std::vector<std::string> kinds = CompiledSelectorKinds();
  Napi::Array result = Napi::Array::New(info.Env(), kinds.size());
  for (size_t i = 0; i < kinds.size(); i++) result.Set(static_cast<uint32_t>(i), kinds[i]);
  return result;
}

}  // namespace

void InitSelectorBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("Selector", SelectorWrap::Define(env));
  exports.Set("selectorKinds", Napi::Function::New(env, SelectorKinds, "selectorKinds"));
}

}  // namespace muxloop
