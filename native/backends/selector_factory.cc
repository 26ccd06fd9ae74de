// The only file with platform conditions: which backends this build has, best first.
#include <cerrno>

#include "backends/selector.h"

namespace muxloop {

#if defined(__linux__)
std::unique_ptr<Selector> CreateEpollSelector(SysResult* err);
std::unique_ptr<Selector> CreateUringSelector(SysResult* err);
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || \
    defined(__DragonFly__) || defined(MUXLOOP_KQUEUE_EMULATION)
#define MUXLOOP_HAVE_KQUEUE 1
std::unique_ptr<Selector> CreateKqueueSelector(SysResult* err);
#endif
std::unique_ptr<Selector> CreatePollSelector(SysResult* err);
std::unique_ptr<Selector> CreateSelectSelector(SysResult* err);

std::vector<std::string> CompiledSelectorKinds() {
  std::vector<std::string> kinds;
#ifdef MUXLOOP_KQUEUE_EMULATION
  // Test build on Linux (test/native/kqueue/): kqueue alone, so that the suites iterating the
  // backends run it, and only it.
  kinds.push_back("kqueue");
  return kinds;
#endif
#ifdef MUXLOOP_HAVE_KQUEUE
  kinds.push_back("kqueue");
#endif
#if defined(__linux__)
  kinds.push_back("epoll");
  // After epoll: DefaultSelector stays epoll (issue 16). Listed by availableSelectors() only when
  // the kernel lets this process set up a ring (probed at load).
  kinds.push_back("io_uring");
#endif
  kinds.push_back("poll");
  kinds.push_back("select");
  return kinds;
}

std::unique_ptr<Selector> CreateSelector(const std::string& kind, SysResult* err) {
  *err = {0, nullptr};
#ifdef MUXLOOP_HAVE_KQUEUE
  if (kind == "kqueue") return CreateKqueueSelector(err);
#endif
#if defined(__linux__)
  if (kind == "epoll") return CreateEpollSelector(err);
  if (kind == "io_uring") return CreateUringSelector(err);
#endif
  if (kind == "poll") return CreatePollSelector(err);
  if (kind == "select") return CreateSelectSelector(err);
  *err = {-ENOSYS, "selector"};
  return nullptr;
}

}  // namespace muxloop
