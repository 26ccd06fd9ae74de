// Module init. Context-aware (NODE_API_MODULE): loads in worker threads, each with its own state.
#include "bindings/addon.h"

#include <new>

#include "bindings/binding_util.h"
#include "syscalls/fd.h"

namespace muxloop {

AddonData::~AddonData() {
  for (auto& weak : selectors) {
    if (auto selector = weak.lock()) selector->close();
  }
  for (int fd : owned_fds) fd::Close(fd);
  if (tls) tls->CloseAll();
}

void AddonData::OwnNew(std::initializer_list<int> fds) {
  size_t owned = 0;
  try {
    for (int fd : fds) {
      owned_fds.insert(fd);
      ++owned;
    }
  } catch (const std::bad_alloc&) {
    size_t i = 0;
    for (int fd : fds) {
      if (i++ < owned) owned_fds.erase(fd);
      fd::Close(fd);
    }
    throw;
  }
}

void AddonData::TrackSelector(const std::shared_ptr<Selector>& selector) {
  // Drop the expired entries now and then so the list stays proportional to live selectors.
  if (selectors.size() >= 64 && selectors.size() == selectors.capacity()) {
    std::vector<std::weak_ptr<Selector>> live;
    for (auto& weak : selectors) {
      if (!weak.expired()) live.push_back(weak);
    }
    selectors.swap(live);
  }
  selectors.push_back(selector);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  SetThreadEnv(env);
  env.SetInstanceData(new AddonData());
  InitSelectorBinding(env, exports);
  InitFdBinding(env, exports);
  InitLoopHostBinding(env, exports);
  InitSocketBinding(env, exports);
  InitTlsBinding(env, exports);
  InitSubprocessBinding(env, exports);
#ifdef __linux__
  InitUringBinding(env, exports);
#endif
  return exports;
}

}  // namespace muxloop

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return muxloop::Init(env, exports); }

NODE_API_MODULE(muxloop, InitModule)
