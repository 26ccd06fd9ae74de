// Per-environment state (main thread and each worker has its own), kept with SetInstanceData so
// that nothing is static. Its destructor runs at environment teardown and releases what JS left
// open.
#ifndef MUXLOOP_ADDON_H_
#define MUXLOOP_ADDON_H_

#include <napi.h>

#include <initializer_list>
#include <memory>
#include <unordered_set>
#include <vector>

#include "backends/selector.h"

namespace muxloop {

namespace tls {
class Context;
class Engine;
}  // namespace tls

// TLS objects alive in this environment (bindings/tls_binding.cc). Shared with each wrap so that
// whichever is destroyed first, the environment or the wrap, the other never sees a dangling
// pointer; teardown frees every SSL and SSL_CTX JS left open.
struct TlsRegistry {
  ~TlsRegistry();
  void CloseAll();
  std::unordered_set<tls::Engine*> engines;
  std::unordered_set<tls::Context*> contexts;
};

struct AddonData {
  ~AddonData();

  // Selectors created in this environment; closed at teardown if JS did not.
  std::vector<std::weak_ptr<Selector>> selectors;
  void TrackSelector(const std::shared_ptr<Selector>& selector);

  // fds created through the addon (pipes, sockets) and not yet closed or detached through it;
  // closed at teardown so a terminated worker leaks nothing (reliability.md B18).
  std::unordered_set<int> owned_fds;
  void Own(int fd) { owned_fds.insert(fd); }
  // Owns fds a call has just created. When the table cannot grow (std::bad_alloc, reliability.md
  // F10), closes them all, owns none and rethrows (Enomem makes it ENOMEM): no fd outlives a
  // failed call.
  void OwnNew(std::initializer_list<int> fds);
  void Disown(int fd) { owned_fds.erase(fd); }

  // The NativeSelector class, to recognise its instances (SelectorWrap::FromValue).
  Napi::FunctionReference selector_class;

  // TLS engines and contexts; the TlsContext class, to recognise its instances.
  std::shared_ptr<TlsRegistry> tls;
  Napi::FunctionReference tls_context_class;

  // The UringEngine class (Linux), to recognise its instances (ToCompletionWaiter).
  Napi::FunctionReference uring_engine_class;

  static AddonData* Get(Napi::Env env) { return env.GetInstanceData<AddonData>(); }
};

// Module parts; each adds its exports.
void InitSelectorBinding(Napi::Env env, Napi::Object exports);
void InitFdBinding(Napi::Env env, Napi::Object exports);
void InitLoopHostBinding(Napi::Env env, Napi::Object exports);
void InitSocketBinding(Napi::Env env, Napi::Object exports);
void InitTlsBinding(Napi::Env env, Napi::Object exports);
void InitSubprocessBinding(Napi::Env env, Napi::Object exports);
// Linux only (uring_binding.cc): the io_uring completion engine.
void InitUringBinding(Napi::Env env, Napi::Object exports);
// Linux only (uring_binding.cc): the open engine of a UringEngine object, for the owning loop to
// wait in; throws ERR_INVALID_ARG_TYPE for anything else and ERR_URING_CLOSED for a closed one.
std::shared_ptr<CompletionWaiter> ToCompletionWaiter(const Napi::Value& value);

}  // namespace muxloop

#endif  // MUXLOOP_ADDON_H_
