// Shared parts of the backend contract (selector.h): the EINTR retry and timeout arithmetic.
#include "backends/selector.h"

#include <cerrno>
#include <climits>
#include <ctime>

namespace muxloop {

int Selector::max_fd() const { return INT_MAX; }

int64_t MonotonicNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

int64_t CeilTimeout(int64_t timeout_ns, int64_t unit_ns) {
  if (timeout_ns < 0) return -1;
  if (timeout_ns > kMaxTimeoutNs) timeout_ns = kMaxTimeoutNs;
  // Round up, like CPython's ceil(timeout * 1e3) and mio's + 999_999 ns: never wake early, and a
  // sub-unit timeout becomes one unit rather than a zero-timeout spin.
  return (timeout_ns + unit_ns - 1) / unit_ns;
}

SysResult Selector::wait(int64_t timeout_ns, ReadyEvent* out, int capacity) {
  if (timeout_ns > kMaxTimeoutNs) timeout_ns = kMaxTimeoutNs;
  const int64_t deadline = timeout_ns > 0 ? MonotonicNs() + timeout_ns : 0;
  for (;;) {
    SysResult r = wait_once(timeout_ns, out, capacity);
    if (r.value != -EINTR) return r;
    // PEP 475: a signal whose handler returned is not a reason to return early. JS signal
    // handlers run later on Node's loop, so there is nothing to raise here: wait out the rest.
    if (timeout_ns > 0) {
      timeout_ns = deadline - MonotonicNs();
      // Past the deadline: one last non-blocking pass, never stale results (bpo-35310).
      if (timeout_ns < 0) timeout_ns = 0;
    }
  }
}

}  // namespace muxloop
