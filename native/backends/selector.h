// The backend contract. Every backend (epoll, kqueue, poll, select) implements these few virtual
// operations; the semantics below are the same for all of them, and a difference is a bug.
//
//  * Interest is level-triggered, in the generic bits kRead (1) and kWrite (2).
//  * add(fd, events): starts watching. Fails with -errno from the kernel (EBADF for a closed fd on
//    epoll/kqueue, EPERM for a regular file on epoll, EINVAL for an epoll set added to itself);
//    on failure nothing is left registered.
//  * modify(fd, events): changes the interest. On failure the previous interest is intact, in the
//    kernel and here (DESIGN.md section 5; CPython instead unregisters, bpo-30014).
//  * remove(fd): stops watching. Never fails: a kernel error for an fd that was closed (EBADF) or
//    whose number was reused (ENOENT) is swallowed, as CPython does, so a stale registration can
//    always be dropped.
//  * wait(timeout, out, capacity): one readiness batch, merged per fd (one entry per fd, so kqueue's
//    separate read and write filters become one entry). Hang-up and error conditions are reported
//    as every interest the fd was registered for, never dropped. A registered fd that was closed
//    behind our back never fails the call: epoll and kqueue forget it in the kernel; poll and select
//    report it once as ready for its registered interests, then ignore it until it is removed.
//    The timeout is in nanoseconds, < 0 blocks; it is rounded up to the backend's resolution so a
//    wait never ends early, and EINTR is retried with the time that remains (PEP 475).
//    With nothing registered the call still sleeps for the timeout.
//  * Ghosts (epoll): epoll watches open file descriptions, not fd numbers, so a registered fd that
//    is closed while a dup of it lives on (another fd, a child process, an SCM_RIGHTS message in
//    flight) stays in the kernel set, and EPOLL_CTL_DEL by number can no longer reach it. Events
//    for such a registration (an fd we do not hold, or an older generation of a reused number)
//    are never reported; the set is rebuilt instead, at the same fd number, so that a level-
//    triggered ghost cannot make every wait return at once (a spin).
//  * close(): releases the kernel object; idempotent; never closes watched fds.
//
// Bookkeeping of the fd -> key map lives above, in lib/selectors.ts; a backend keeps only what its
// kernel interface needs. No N-API here.
#ifndef MUXLOOP_SELECTOR_H_
#define MUXLOOP_SELECTOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace muxloop {

constexpr uint32_t kRead = 1;
constexpr uint32_t kWrite = 2;
constexpr uint32_t kEventMask = kRead | kWrite;

// asyncio's MAXIMUM_SELECT_TIMEOUT: longer waits are capped (and simply repeated by a loop).
constexpr int64_t kMaxTimeoutNs = 24LL * 3600 * 1000 * 1000 * 1000;

struct ReadyEvent {
  int32_t fd;
  uint32_t events;
};

// Result of a kernel call: value >= 0 on success, -errno on failure, with the failing syscall named.
struct SysResult {
  int value;
  const char* syscall;
  bool ok() const { return value >= 0; }
};

class Selector {
 public:
  virtual ~Selector() = default;
  Selector(const Selector&) = delete;
  Selector& operator=(const Selector&) = delete;

  virtual const char* kind() const = 0;
  // The kernel object's fd (epoll, kqueue), -1 where there is none.
  virtual int fileno() const { return -1; }
  // Largest fd the backend accepts (select: FD_SETSIZE - 1).
  virtual int max_fd() const;
  // Nanoseconds a timeout is rounded up to.
  virtual int64_t resolution_ns() const = 0;

  virtual SysResult add(int fd, uint32_t events) = 0;
  virtual SysResult modify(int fd, uint32_t events) = 0;
  virtual void remove(int fd) = 0;
  // Retries EINTR with the remaining time; returns the number of entries written to out.
  SysResult wait(int64_t timeout_ns, ReadyEvent* out, int capacity);
  virtual void close() = 0;
  virtual bool closed() const = 0;
  // How many times the kernel object was rebuilt behind the same fileno() (epoll, after a ghost
  // registration it could not remove: reliability.md A8). Whoever watches fileno() from another
  // poller (the loop host's uv_poll) must re-arm that watch when this changes.
  virtual uint64_t rebuilds() const { return 0; }
  // Backend-specific counters for tests and benchmarks (io_uring: re-arms, stale CQEs dropped).
  virtual void counters(std::vector<std::pair<std::string, double>>* out) const { (void)out; }

 protected:
  Selector() = default;
  // One kernel wait, timeout already capped (< 0 blocks). -EINTR is handled by wait().
  virtual SysResult wait_once(int64_t timeout_ns, ReadyEvent* out, int capacity) = 0;
};

// A wait an owning loop can use instead of Selector::wait (host/loop_host.h, LoopOwner): a
// completion ring (uring/completion.h) that also polls the selector's fileno(), so that one
// system call submits the iteration's work and sleeps until a completion or a ready fd. The ring's
// completions are reaped by its own user (the JS proactor); the owner only waits in it.
class CompletionWaiter {
 public:
  virtual ~CompletionWaiter() = default;
  virtual bool closed() const = 0;
  // An owner waits in it from now on (true) or no more (false): a doorbell kept for a loop that
  // sleeps elsewhere (io_uring's eventfd) can rest meanwhile.
  virtual void SetOwned(bool owned) = 0;
  // Submits what is queued, then waits at most timeout_ns (< 0: no bound; 0: no wait) until a
  // completion is posted or `fd` is readable. `generation` is the selector's rebuilds(): when it
  // changes, the kernel object behind `fd` is another one, and the poll of the old one is replaced.
  // *fd_ready: the fd's events are to be collected (it was seen readable). {0} or -errno.
  virtual SysResult Wait(int fd, uint64_t generation, int64_t timeout_ns, bool* fd_ready) = 0;
  // Completions wait to be reaped.
  virtual bool HasCompletions() const = 0;
};

// The only place with platform conditions: selector_factory.cc.
// Creates a backend of the given kind ("epoll", "kqueue", "poll", "select"); on failure returns
// nullptr with *err set to -errno (-ENOSYS for a kind this build does not have).
std::unique_ptr<Selector> CreateSelector(const std::string& kind, SysResult* err);
// Kinds compiled into this build, best first (kqueue > epoll > poll > select).
std::vector<std::string> CompiledSelectorKinds();

// Monotonic clock in nanoseconds.
int64_t MonotonicNs();

// Converts a timeout to whole units of `unit_ns`, rounding up, for a wait that blocks at most
// `timeout_ns` (< 0: forever, returned as -1).
int64_t CeilTimeout(int64_t timeout_ns, int64_t unit_ns);

}  // namespace muxloop

#endif  // MUXLOOP_SELECTOR_H_
