// SelectorWrap: the JS object of a native selector (selector_binding.cc), declared here so that
// the loop host can reach the Selector behind a JS selector object.
#ifndef MUXLOOP_SELECTOR_WRAP_H_
#define MUXLOOP_SELECTOR_WRAP_H_

#include <napi.h>

#include <memory>
#include <vector>

#include "backends/selector.h"
#include "backends/selector_guard.h"
#include "bindings/binding_util.h"

namespace muxloop {

class SelectorWrap : public Napi::ObjectWrap<SelectorWrap>, public EnomemNew {
 public:
  static Napi::Function Define(Napi::Env env);
  // The SelectorWrap behind `value`, or nullptr if it is not a native selector object.
  static SelectorWrap* FromValue(const Napi::Value& value);

  explicit SelectorWrap(const Napi::CallbackInfo& info);
  void Construct(const Napi::CallbackInfo& info);
  ~SelectorWrap() override;

  const std::shared_ptr<Selector>& selector() const { return selector_; }
  // At most one guard; nullptr clears it.
  void set_guard(SelectorGuard* guard) { guard_ = guard; }
  SelectorGuard* guard() const { return guard_; }

 private:
  Selector& Open(Napi::Env env);
  int32_t CheckedFd(const Napi::CallbackInfo& info);
  static uint32_t CheckedEvents(const Napi::Value& value);
  // add() and modify(): (fd, events) checked, the kernel call made under the guard, errors thrown.
  void SetInterest(const Napi::CallbackInfo& info, SysResult (Selector::*change)(int, uint32_t));

  void Add(const Napi::CallbackInfo& info);
  void Modify(const Napi::CallbackInfo& info);
  void Remove(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);
  Napi::Value Fileno(const Napi::CallbackInfo& info);
  Napi::Value Kind(const Napi::CallbackInfo& info);
  Napi::Value MaxFd(const Napi::CallbackInfo& info);
  Napi::Value ResolutionNs(const Napi::CallbackInfo& info);
  Napi::Value Closed(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);

  std::shared_ptr<Selector> selector_;
  std::vector<ReadyEvent> events_;
  SelectorGuard* guard_ = nullptr;
};

}  // namespace muxloop

#endif  // MUXLOOP_SELECTOR_WRAP_H_
