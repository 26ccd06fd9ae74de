// A small io_uring core on the raw system calls (no liburing): ring setup with the features the
// kernel reports, SQE allocation, submission, and reaping completions into a caller's buffer.
// Users: backends/selector_uring.cc now; the completion transports later (README.md here).
// No N-API here.
//
// Setup asks for the cheapest flags first and drops them one at a time while io_uring_setup(2)
// answers EINVAL (an older kernel): SINGLE_ISSUER + DEFER_TASKRUN (6.1), COOP_TASKRUN (5.19),
// SUBMIT_ALL (5.18), CQSIZE + CLAMP (5.5). Any other error (EPERM from a seccomp filter or
// kernel.io_uring_disabled=2, ENOSYS, ENOMEM) is returned as is: the ring is refused, not degraded.
// The ring fd is registered (IORING_REGISTER_RING_FDS, 5.18) where possible, so that
// io_uring_enter(2) skips the fd table lookup (io_uring_register(2) man page).
#ifndef MUXLOOP_URING_RING_H_
#define MUXLOOP_URING_RING_H_

#include <linux/io_uring.h>

#include <cstdint>
#include <memory>

#include "backends/selector.h"

namespace muxloop {
namespace uring {

struct Options {
  unsigned sq_entries = 256;
  unsigned cq_entries = 4096;
  // DEFER_TASKRUN: completions are posted only inside io_uring_enter(GETEVENTS) on the ring's
  // thread. Exact and cheap, but see selector_uring.cc for how it interacts with hosting.
  bool defer_taskrun = true;
  // COOP_TASKRUN: no interrupt of the ring's thread when a completion is ready; its task work
  // waits for the thread's next system call. See selector_uring.cc for why the selector drops it.
  bool coop_taskrun = true;
  // TASKRUN_FLAG (5.19, with COOP or DEFER_TASKRUN): the kernel sets IORING_SQ_TASKRUN in the SQ
  // ring's flags while task work waits for us (TaskrunPending), so a user can tell without a
  // system call that an io_uring_enter(GETEVENTS) would post something.
  bool taskrun_flag = false;
};

// One completion, as copied out of the CQ ring.
struct Completion {
  uint64_t user_data;
  int32_t res;
  uint32_t flags;
};

class Ring {
 public:
  // Sets up a ring; on failure returns nullptr with *err = {-errno, syscall}. Every resource
  // acquired before the failure is released.
  static std::unique_ptr<Ring> Create(const Options& options, SysResult* err);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  int fd() const { return fd_; }
  bool closed() const { return fd_ < 0; }
  unsigned setup_flags() const { return setup_flags_; }
  unsigned features() const { return features_; }
  bool registered_fd() const { return enter_fd_ != fd_; }
  // From IORING_REGISTER_PROBE.
  bool Supports(unsigned opcode) const;

  // A zeroed SQE to fill, queued for the next Enter(). When the SQ is full, the queued ones are
  // submitted first (io_uring_enter without waiting); nullptr with *err if that fails.
  io_uring_sqe* GetSqe(SysResult* err);
  unsigned queued() const;
  // Makes room for n SQEs (submitting what is queued if needed); false with *err if impossible.
  bool Reserve(unsigned n, SysResult* err);

  // Submits what is queued and, with wait, waits for at least min_complete completions or the
  // timeout (ns, < 0 none; needs IORING_FEAT_EXT_ARG). Returns the kernel's value (submitted
  // count) or -errno; -ETIME from a timeout is returned as 0.
  SysResult Enter(bool wait, unsigned min_complete, int64_t timeout_ns);

  // Copies up to `capacity` completions out of the CQ ring and consumes them. With keep_readable,
  // the last consumed entry is left in the ring as far as the kernel can see, so that the ring fd
  // stays readable (poll(2) on it reports EPOLLIN while the CQ is not empty): the selector uses
  // it to stay level-triggered in hosted mode. A later Reap/Release gives it back.
  unsigned Reap(Completion* out, unsigned capacity);
  // Publishes the consumed head; keep_readable as above.
  void Release(bool keep_readable);
  // Completions posted and not yet reaped.
  unsigned Ready() const;
  // The i-th of those (i < Ready()), left in the ring; Consume(n) takes the first n and gives
  // their slots back to the kernel.
  const io_uring_cqe& Peek(unsigned i) const { return cqes_[(cq_seen_ + i) & cq_mask_]; }
  void Consume(unsigned n) {
    cq_seen_ += n;
    Release(false);
  }
  // The kernel holds completions that did not fit in the CQ ring (IORING_SQ_CQ_OVERFLOW); an
  // Enter(wait, 0) after reaping moves them in (FEAT_NODROP: none is lost).
  bool Overflowed() const;
  // IORING_SQ_TASKRUN is set (only with Options::taskrun_flag).
  bool TaskrunPending() const;

  void Close();

 private:
  Ring() = default;
  SysResult Setup(const Options& options);

  int fd_ = -1;
  int enter_fd_ = -1;      // the registered index, or fd_
  unsigned enter_flags_ = 0;  // IORING_ENTER_REGISTERED_RING when registered
  unsigned setup_flags_ = 0;
  unsigned features_ = 0;
  uint8_t probe_[256] = {};

  void* ring_mem_ = nullptr;  // SQ ring (and CQ ring with FEAT_SINGLE_MMAP)
  size_t ring_size_ = 0;
  void* cq_mem_ = nullptr;    // CQ ring without FEAT_SINGLE_MMAP
  size_t cq_size_ = 0;
  io_uring_sqe* sqes_ = nullptr;
  size_t sqes_size_ = 0;

  unsigned* sq_head_ = nullptr;
  unsigned* sq_tail_ = nullptr;
  unsigned sq_mask_ = 0;
  unsigned sq_entries_ = 0;
  unsigned* sq_array_ = nullptr;
  unsigned* sq_flags_ = nullptr;
  unsigned sq_local_tail_ = 0;

  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned cq_mask_ = 0;
  io_uring_cqe* cqes_ = nullptr;
  unsigned cq_seen_ = 0;  // our consumption index; the kernel's head is this, or this - 1 when held
  bool held_ = false;
};

// Whether this kernel lets this process set up a ring at all (one tiny ring, closed at once).
// Returns {0, nullptr} or the refusal {-errno, syscall}.
SysResult Probe();

}  // namespace uring
}  // namespace muxloop

#endif  // MUXLOOP_URING_RING_H_
