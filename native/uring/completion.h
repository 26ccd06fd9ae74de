// The completion engine behind the io_uring socket transports (asyncio's proactor idea, on the
// ring core of ring.h). No N-API here: bindings/uring_binding.cc is its JS surface.
//
// Operations, each tagged with the caller's 32-bit id and an op code in user_data:
//  * multishot accept (IORING_ACCEPT_MULTISHOT, 5.19): one SQE, one CQE per connection; the new
//    fds are non-blocking and close-on-exec;
//  * multishot recv (IORING_RECV_MULTISHOT, 6.0) into one provided-buffer ring
//    (IORING_REGISTER_PBUF_RING, 5.19) shared by every socket of the engine: the kernel picks a
//    free buffer per completion and names it in the CQE's flags (bid << IORING_CQE_BUFFER_SHIFT);
//  * send (IORING_OP_SEND) of one piece and sendmsg (IORING_OP_SENDMSG) of several: the bytes are
//    copied into engine-owned memory first, so the JS buffers may change or go right after the call;
//  * shutdown (IORING_OP_SHUTDOWN);
//  * cancel (IORING_OP_ASYNC_CANCEL) of everything in flight on an fd, submitted at once, so that
//    the fd may be closed right after (cancellation by fd looks the file up when it is submitted).
//
// Buffer ownership, the rule the issue states ("never reused while the kernel owns them"): a bid
// is the kernel's from the moment it is in the buffer ring until a CQE names it; it is then the
// caller's, and goes back into the ring only when the caller recycles it (after copying the data
// out). A bid is tracked in owned_: recycling a bid the kernel owns is refused, so a double
// recycle cannot hand the same memory to two receives.
//
// Waking the loop. The loop sleeps in its selector (epoll_wait), not in io_uring_enter, so the
// engine must hand it an fd that becomes readable when there is something to reap:
//  * by default (no DEFER_TASKRUN, no COOP_TASKRUN): completions are posted by task work that
//    interrupts the thread (a task-work signal), the ring fd is readable while the CQ ring is not
//    empty, and fd() is the ring fd; Reap only reads the ring.
//  * with EngineConfig::defer_taskrun (6.1): completions wait as task work until our own
//    io_uring_enter(GETEVENTS) runs it, so nothing interrupts the thread. The ring fd does not
//    become readable when such work is queued (measured in backends/selector_uring.cc), but a
//    registered eventfd is signalled when the first item is queued (io_req_local_work_add): fd()
//    is that eventfd. Reap runs the work (enter with GETEVENTS), then empties the eventfd, then
//    looks at IORING_SQ_TASKRUN (TASKRUN_FLAG); Flush does the same check (WakeIfPending).
//    Not the default, because that eventfd signal is late: on this machine's 6.18 kernel a ring
//    asleep in poll(2) on the eventfd saw a peer's TCP data, a Unix-socket write or a connect
//    12-17 ms after it happened, on 4 ms tick boundaries (the kernel defers the signal through
//    RCU), against 0.2-0.4 ms for the ring fd without it (C, outside Node). A loop that sleeps
//    would add that to every idle connection's first byte. It is for a loop that waits in
//    io_uring_enter itself, where the kernel wakes the waiter directly.
//
// Waiting in the ring (owning mode, CompletionWaiter in backends/selector.h). An owning loop can
// sleep in io_uring_enter instead of epoll_wait: Wait queues a one-shot POLL_ADD of the
// selector's epoll fd (op kOpWake, never handed to JS) and submits it with the iteration's other
// SQEs in the same io_uring_enter(GETEVENTS, min_complete 1, timeout). One system call per
// iteration then submits and sleeps, and epoll_wait runs only when the poll says the epoll set
// has something (libuv's fd, a pipe, a signal). One-shot, re-armed each wait, because a multishot
// poll of an epoll fd fires on wakeups only: a level-triggered fd left readable would be missed;
// arming polls the set's ready list at once. The ring fd itself must not be in that epoll set
// then (each completion would make the set readable: the proactor takes it out). What is queued
// when the owner waits goes in with that wait; what a batch of completions queued is submitted by
// the Flush that ends the batch, as in hosted mode, so a reply leaves as soon as its request is
// handled, not after the rest of the iteration (64 B x 1 connection echo: 0.66-0.70x C epoll
// when replies waited for the wait's enter, 0.92-0.98x before).
#ifndef MUXLOOP_URING_COMPLETION_H_
#define MUXLOOP_URING_COMPLETION_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "uring/ring.h"

namespace muxloop {
namespace uring {

enum OpCode : uint32_t {
  kOpAccept = 1,
  kOpRecv = 2,
  kOpSend = 3,  // send and sendmsg
  kOpShutdown = 4,
  kOpCancel = 5,
  kOpWake = 6,  // Wait's poll of the selector's fd, and its removal: consumed natively
};

// One completion as handed to JS: four int32 per entry.
struct Event {
  int32_t id;
  int32_t op;
  int32_t res;
  uint32_t flags;  // the CQE's: IORING_CQE_F_MORE, IORING_CQE_F_BUFFER, bid in the top 16 bits
};

// The provided buffers' memory. Shared with the JS view of it (an external ArrayBuffer), so that
// it lives until both the ring is closed and JS dropped the view.
struct BufferPool {
  BufferPool(uint8_t* data, size_t bytes) : data(data), bytes(bytes) {}
  ~BufferPool();
  uint8_t* data;
  size_t bytes;
};

struct EngineConfig {
  unsigned sq_entries = 256;
  unsigned cq_entries = 4096;
  bool defer_taskrun = false;  // see "Waking the loop" above
  unsigned buffer_count = 512;  // a power of two, <= 32768
  unsigned buffer_size = 16384;
};

struct Piece {
  const uint8_t* data;
  size_t length;
};

class CompletionEngine final : public CompletionWaiter {
 public:
  static std::unique_ptr<CompletionEngine> Create(const EngineConfig& config, SysResult* err);
  ~CompletionEngine() override;
  CompletionEngine(const CompletionEngine&) = delete;
  CompletionEngine& operator=(const CompletionEngine&) = delete;

  // The fd to watch for readability (see above): the eventfd with DEFER_TASKRUN, else the ring fd.
  int fd() const { return closed() ? -1 : event_fd_ >= 0 ? event_fd_ : ring_->fd(); }
  bool deferred() const { return event_fd_ >= 0; }
  bool closed() const override { return !ring_ || ring_->closed(); }
  const std::shared_ptr<BufferPool>& pool() const { return pool_; }
  unsigned buffer_count() const { return config_.buffer_count; }
  unsigned buffer_size() const { return config_.buffer_size; }

  SysResult Accept(int fd, uint32_t id);
  SysResult Recv(int fd, uint32_t id);
  // Copies the pieces; -EBUSY while a send of this id is in flight (one at a time keeps the byte
  // order: two sends on one socket may complete in either order).
  SysResult Send(int fd, uint32_t id, const std::vector<Piece>& pieces);
  SysResult Shutdown(int fd, uint32_t id, int how);
  // Cancels every request on `fd`, submits at once and (DEFER_TASKRUN) runs the task work that
  // finishes the cancelled requests, so the fd may be closed right after.
  SysResult CancelFd(int fd, uint32_t id);
  // Cancels the requests of (id, op), e.g. a multishot recv when reading pauses; queued.
  SysResult CancelOp(uint32_t id, uint32_t op);
  // Gives bid back to the kernel (published at the next Flush). -EINVAL if the kernel owns it.
  SysResult Recycle(unsigned bid);
  // All of bids[0..n) or none (a bid the kernel owns, out of range, or twice: -EINVAL).
  SysResult RecycleAll(const int32_t* bids, size_t n);
  // Publishes recycled buffers, submits what is queued, then WakeIfPending (no system call when
  // nothing is queued and nothing waits).
  SysResult Flush();
  // CompletionWaiter ("Waiting in the ring" above).
  void SetOwned(bool owned) override;
  SysResult Wait(int fd, uint64_t generation, int64_t timeout_ns, bool* fd_ready) override;
  bool HasCompletions() const override { return !closed() && ring_->Ready() > 0; }
  // Copies up to `capacity` completions to `out` and consumes them; a CQE naming a buffer makes
  // that bid the caller's; a send's completion frees its copy.
  unsigned Reap(Event* out, unsigned capacity);
  bool HasSubmissions() const { return ring_ && !ring_->closed() && ring_->queued() > 0; }
  // Ends every request (the kernel cancels them at ring exit), closes the fds of accept
  // completions never reaped, then frees the send copies. Idempotent.
  void Close();

  uint64_t enters() const { return enters_; }
  uint64_t sqes() const { return sqes_; }
  uint64_t cqes() const { return cqes_; }
  uint64_t recycled() const { return recycled_; }
  uint64_t nobufs() const { return nobufs_; }
  uint64_t short_sends() const { return short_sends_; }
  uint64_t eventfd_reads() const { return eventfd_reads_; }
  uint64_t wakeups() const { return wakeups_; }
  uint64_t owner_waits() const { return owner_waits_; }
  uint64_t owner_polls() const { return owner_polls_; }
  uint64_t owner_rearms() const { return owner_rearms_; }
  unsigned in_flight_sends() const { return static_cast<unsigned>(sends_.size()); }

 private:
  // With the eventfd: makes it readable when completions or task work wait ("Waking the loop").
  void WakeIfPending();
  void PublishBuffers();
  // io_uring_enter for what is queued, if anything (EINTR, EAGAIN, EBUSY: it stays queued).
  SysResult Submit();
  // A kOpWake completion: the poll it ends is no longer armed.
  void NoteWake(uint32_t id);
  // Whether a kOpWake completion waits in the CQ; those leading it are consumed.
  bool TakeWakes();
  explicit CompletionEngine(const EngineConfig& config) : config_(config) {}
  SysResult Setup();
  io_uring_sqe* Sqe(SysResult* err);
  void AddBuffer(unsigned bid);

  struct SendCopy {
    std::unique_ptr<uint8_t[]> bytes;
    size_t total = 0;
    size_t sent = 0;
    int fd = -1;
    std::vector<struct iovec> iov;
    struct msghdr msg;
  };
  // Queues the SQE for what of `copy` is not sent yet (a short send continues natively, so JS
  // sees one completion with the whole count, or an error).
  SysResult QueueSend(uint32_t id, SendCopy& copy);

  EngineConfig config_;
  std::unique_ptr<Ring> ring_;
  int event_fd_ = -1;  // registered eventfd, with DEFER_TASKRUN only
  std::shared_ptr<BufferPool> pool_;
  // The buffer ring: io_uring_buf entries, its tail in the first entry's resv field.
  void* buf_ring_ = nullptr;
  size_t buf_ring_size_ = 0;
  uint16_t buf_tail_ = 0;
  bool buf_dirty_ = false;
  std::vector<uint8_t> owned_;  // 1 while a bid is the caller's
  std::unordered_map<uint32_t, SendCopy> sends_;  // by id
  uint64_t enters_ = 0;
  uint64_t sqes_ = 0;
  uint64_t cqes_ = 0;
  uint64_t recycled_ = 0;
  uint64_t nobufs_ = 0;
  uint64_t short_sends_ = 0;
  uint64_t eventfd_reads_ = 0;
  uint64_t wakeups_ = 0;  // eventfd writes of WakeIfPending
  // Waiting in the ring: while owner_waits_in_ring_ (SetOwned), the eventfd is not used; the armed poll (its id, fd and
  // the selector generation it watches).
  bool owner_waits_in_ring_ = false;
  bool wake_armed_ = false;
  uint32_t wake_id_ = 0;
  int wake_fd_ = -1;
  uint64_t wake_generation_ = 0;
  uint64_t owner_waits_ = 0;  // Wait calls
  uint64_t owner_polls_ = 0;  // of which the selector's fd was seen ready
  uint64_t owner_rearms_ = 0;  // polls replaced because the selector was rebuilt
};

// The buffer group id of the engine's one buffer ring.
constexpr uint16_t kBufferGroup = 0;

}  // namespace uring
}  // namespace muxloop

#endif  // MUXLOOP_URING_COMPLETION_H_
