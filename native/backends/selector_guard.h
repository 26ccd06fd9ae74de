// SelectorGuard: how a loop host that shares a Selector with its JS object hears about JS using it.
// No N-API here.
#ifndef MUXLOOP_SELECTOR_GUARD_H_
#define MUXLOOP_SELECTOR_GUARD_H_

namespace muxloop {

// Someone else (a hosted loop's helper thread, its uv_poll) is using the Selector: every JS call on
// the selector brackets its work with these, so that the helper thread never waits in the selector
// while the JS thread changes it, and the uv_poll never watches a closed fd.
class SelectorGuard {
 public:
  virtual ~SelectorGuard() = default;
  // The JS thread is about to use the selector: stop waiting in it (returns once nobody does).
  virtual void BeforeSelectorUse() = 0;
  // The JS thread is done with it: resume waiting if that was interrupted.
  virtual void AfterSelectorUse() = 0;
  // The selector is about to be closed.
  virtual void BeforeSelectorClose() = 0;
};

}  // namespace muxloop

#endif  // MUXLOOP_SELECTOR_GUARD_H_
