// JS surface of a backend: argument checks and conversion only (contract: selector.h).
#include <string>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "backends/selector.h"
#include "bindings/selector_wrap.h"

namespace muxloop {

static_assert(sizeof(ReadyEvent) == 2 * sizeof(int32_t), "ReadyEvent is an (fd, events) int32 pair");

namespace {

// Brackets one use of the selector from JS while a loop host shares it (selector_wrap.h).
class GuardedUse {
 public:
  explicit GuardedUse(SelectorGuard* guard) : guard_(guard) {
    if (guard_ != nullptr) guard_->BeforeSelectorUse();
  }
  ~GuardedUse() {
    if (guard_ != nullptr) guard_->AfterSelectorUse();
  }
  GuardedUse(const GuardedUse&) = delete;
  GuardedUse& operator=(const GuardedUse&) = delete;

 private:
  SelectorGuard* guard_;
};

}  // namespace

Napi::Function SelectorWrap::Define(Napi::Env env) {
  Napi::Function cls = DefineClass(env, "NativeSelector",
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
                                       InstanceAccessor<&SelectorWrap::Counters>("counters"),
                                   });
  AddonData::Get(env)->selector_class = Napi::Persistent(cls);
  return cls;
}

SelectorWrap* SelectorWrap::FromValue(const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  AddonData* data = AddonData::Get(value.Env());
  if (data->selector_class.IsEmpty() || !value.As<Napi::Object>().InstanceOf(data->selector_class.Value())) {
    return nullptr;
  }
  return Napi::ObjectWrap<SelectorWrap>::Unwrap(value.As<Napi::Object>());
}

// std::bad_alloc anywhere in the construction is ENOMEM (reliability.md F10).
SelectorWrap::SelectorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SelectorWrap>(info) {
  OrEnomem(info.Env(), [&] { Construct(info); });
}

void SelectorWrap::Construct(const Napi::CallbackInfo& info) {
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

SelectorWrap::~SelectorWrap() {
  // Garbage-collected without close(): release the kernel object now. (A loop host holds a strong
  // reference to this object while it runs, so no guard can be set here.)
  if (selector_) selector_->close();
}

Selector& SelectorWrap::Open(Napi::Env env) {
  if (selector_->closed()) throw StateError(env, "ERR_SELECTOR_CLOSED", "I/O operation on a closed selector");
  return *selector_;
}

int32_t SelectorWrap::CheckedFd(const Napi::CallbackInfo& info) {
  const int32_t fd = ToFd(info[0]);
  if (fd > selector_->max_fd()) {
    throw RangeErrorWithCode(info.Env(), "ERR_OUT_OF_RANGE",
                             "fd " + std::to_string(fd) + " out of range for select() (FD_SETSIZE=" +
                                 std::to_string(selector_->max_fd() + 1) + ")");
  }
  return fd;
}

uint32_t SelectorWrap::CheckedEvents(const Napi::Value& value) {
  if (!value.IsNumber()) {
    throw TypeErrorWithCode(value.Env(), "ERR_INVALID_ARG_TYPE", "The \"events\" argument must be of type number");
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!(d == 1 || d == 2 || d == 3)) {
    throw RangeErrorWithCode(value.Env(), "ERR_OUT_OF_RANGE", "invalid events mask: " + std::to_string(d));
  }
  return static_cast<uint32_t>(d);
}

void SelectorWrap::SetInterest(const Napi::CallbackInfo& info, SysResult (Selector::*change)(int, uint32_t)) {
  Selector& selector = Open(info.Env());
  const int32_t fd = CheckedFd(info);
  const uint32_t events = CheckedEvents(info[1]);
  SysResult r{0, nullptr};
  {
    GuardedUse use(guard_);
    r = OrEnomem(info.Env(), [&] { return (selector.*change)(fd, events); });
  }
  if (!r.ok()) throw ErrnoError(info.Env(), r.value, r.syscall, "fd " + std::to_string(fd));
}

void SelectorWrap::Add(const Napi::CallbackInfo& info) { SetInterest(info, &Selector::add); }

void SelectorWrap::Modify(const Napi::CallbackInfo& info) { SetInterest(info, &Selector::modify); }

void SelectorWrap::Remove(const Napi::CallbackInfo& info) {
  Selector& selector = Open(info.Env());
  const int32_t fd = ToFd(info[0]);
  GuardedUse use(guard_);
  selector.remove(fd);
}

// wait(timeoutSeconds, out: Int32Array) -> count. Writes (fd, events) pairs into `out`, which the
// caller reuses across calls: one boundary crossing and no allocation per event.
Napi::Value SelectorWrap::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Selector& selector = Open(env);
  const int64_t timeout_ns = ToTimeoutNs(info[0]);
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"out\" argument must be an Int32Array");
  }
  Napi::Int32Array out = info[1].As<Napi::Int32Array>();
  if (out.ArrayBuffer().IsDetached()) throw TypeErrorWithCode(env, "ERR_INVALID_STATE", "buffer is detached");
  const size_t capacity = out.ElementLength() / 2;
  if (capacity < 1) throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "out must hold at least one event");
  const int cap = capacity > 1u << 20 ? 1 << 20 : static_cast<int>(capacity);
  if (events_.size() < static_cast<size_t>(cap)) OrEnomem(env, [&] { events_.resize(static_cast<size_t>(cap)); });
  SysResult r{0, nullptr};
  {
    GuardedUse use(guard_);
    r = selector.wait(timeout_ns, events_.data(), cap);
  }
  if (!r.ok()) throw ErrnoError(env, r.value, r.syscall);
  int32_t* data = out.Data();
  for (int i = 0; i < r.value; i++) {
    data[2 * i] = events_[static_cast<size_t>(i)].fd;
    data[2 * i + 1] = static_cast<int32_t>(events_[static_cast<size_t>(i)].events);
  }
  return Napi::Number::New(env, r.value);
}

void SelectorWrap::Close(const Napi::CallbackInfo&) {
  if (guard_ != nullptr && !selector_->closed()) guard_->BeforeSelectorClose();
  selector_->close();
}

Napi::Value SelectorWrap::Fileno(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), selector_->fileno());
}
Napi::Value SelectorWrap::Kind(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), selector_->kind()); }
Napi::Value SelectorWrap::MaxFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), selector_->max_fd());
}
Napi::Value SelectorWrap::ResolutionNs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(selector_->resolution_ns()));
}
Napi::Value SelectorWrap::Closed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), selector_->closed());
}

Napi::Value SelectorWrap::Counters(const Napi::CallbackInfo& info) {
  std::vector<std::pair<std::string, double>> counters;
  if (!selector_->closed()) selector_->counters(&counters);
  Napi::Object result = Napi::Object::New(info.Env());
  for (const auto& counter : counters) result.Set(counter.first, counter.second);
  return result;
}

namespace {

Napi::Value SelectorKinds(const Napi::CallbackInfo& info) {
  std::vector<std::string> kinds = CompiledSelectorKinds();
  Napi::Array result = Napi::Array::New(info.Env(), kinds.size());
  for (size_t i = 0; i < kinds.size(); i++) result.Set(static_cast<uint32_t>(i), kinds[i]);
  return result;
}

}  // namespace

void InitSelectorBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("Selector", SelectorWrap::Define(env));
  exports.Set("selectorKinds", NativeFunction<SelectorKinds>(env, "selectorKinds"));
}

}  // namespace muxloop
