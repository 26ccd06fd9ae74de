// Linux io_uring backend: the selector contract (selector.h) on IORING_OP_POLL_ADD multishot.
// The ring core is uring/ring.h.
//
// Level-triggered on an edge-like kernel interface. A multishot poll posts one CQE per wakeup of
// the fd's wait queue whose mask matches (io_uring/poll.c, io_poll_check_events); it never posts
// again for data that is simply still there. epoll's level-triggered mode re-checks every ready
// item at each epoll_wait. So this backend keeps the fds that were ready at the last wait
// ("carried": reported, or beyond the batch's capacity) and, on the next wait, re-checks with
// one poll(2) (timeout 0) those that got no fresh CQE: still ready -> reported again, not
// ready -> dropped (the multishot poll stays armed and posts when the next wakeup comes, so no
// edge is lost between the check and the wakeup).
// Without DEFER_TASKRUN a CQE's mask may have been computed before the caller drained the fd (task
// work runs at any return to user space), so then every candidate is re-checked; with it the
// mask is computed inside our own io_uring_enter and is exact.
//
// Hosted mode watches the ring fd with libuv. It is readable while the CQ ring is not empty
// (io_uring_poll), so while fds are carried one consumed CQE is left in the ring (Ring::Release
// keep_readable): the ring fd stays readable exactly while a wait would report something, as an
// epoll fd does.
//
// Stale completions: every poll request's user_data is (generation, fd); a registration (add, and
// each modify, which is POLL_REMOVE + POLL_ADD) gets a new generation, and a CQE whose generation
// is not the fd's current one is dropped. So a CQE of a removed fd, or of the previous file under
// a reused number in the same batch, is never reported.
//
// A multishot poll that the kernel ends (no IORING_CQE_F_MORE: CQ overflow, a file without a wait
// queue such as a regular file, -ECANCELED, ...) is re-armed with the same generation at the next
// wait; an error end (-EBADF ...) is reported once as the registered interest and the fd is then
// ignored until it is removed, as the poll backend does with POLLNVAL.
//
// Closed behind our back: an armed poll holds a reference to the file (io_uring pins req->file),
// so unlike epoll the kernel does not forget it at close(2); it is found when it next completes or
// is re-checked (POLLNVAL), reported once, and its poll removed so that the file is released.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "backends/selector.h"
#include "uring/ring.h"

namespace muxloop {
namespace {

// Whether the selector's ring asks for DEFER_TASKRUN (where the kernel has it).
// DEFER_TASKRUN is off: with it a poll wakeup only queues work for our next io_uring_enter and
// never makes the ring fd readable, so libuv (hosted mode) would never wake us (measured: an
// epoll watching the ring fd saw nothing after the pipe was written; test/selectors-uring.test.ts
// checks the readability this needs).
constexpr bool kUringSelectorDeferTaskrun = false;
// COOP_TASKRUN is off too: with it a completion's task work waits for this thread's next system
// call instead of interrupting it. Suspected in a hosted-mode hang (test/streams-net.test.ts F9
// run after E8 on io_uring; OPEN: dropping it did not cure the full run, see the branch report).
constexpr bool kUringSelectorCoopTaskrun = false;

constexpr uint64_t kOpPoll = 0;
constexpr uint64_t kOpRemove = 1;
constexpr uint32_t kGenMask = (1u << 30) - 1;

uint64_t Tag(uint64_t op, uint32_t gen, int fd) {
  return (op << 62) | (static_cast<uint64_t>(gen & kGenMask) << 32) | static_cast<uint32_t>(fd);
}

uint32_t ToPoll(uint32_t events) {
  return ((events & kRead) ? POLLIN : 0u) | ((events & kWrite) ? POLLOUT : 0u);
}

// Hang-up and error are every interest, as in the epoll backend.
uint32_t FromPoll(uint32_t mask) {
  uint32_t ready = 0;
  if (mask & (POLLIN | POLLPRI | POLLHUP | POLLERR | POLLRDHUP)) ready |= kRead;
  if (mask & (POLLOUT | POLLHUP | POLLERR)) ready |= kWrite;
  return ready;
}

struct FdState {
  uint32_t interest = 0;  // 0: not registered
  uint32_t gen = 0;
  uint32_t mask = 0;      // poll mask from this wait's CQEs
  bool armed = false;     // a multishot poll of this generation is in the kernel
  bool dead = false;      // closed or failed: reported once, ignored until removed
  bool candidate = false; // in candidates_ for this wait
  bool fresh = false;     // a CQE of this wait gave its mask
  bool error = false;     // reported as every interest (error end, POLLNVAL)
  bool carried = false;   // ready at the last wait (reported, or beyond its capacity)
};

class UringSelector final : public Selector {
 public:
  explicit UringSelector(std::unique_ptr<uring::Ring> ring) : ring_(std::move(ring)) {
    exact_cqes_ = (ring_->setup_flags() & IORING_SETUP_DEFER_TASKRUN) != 0;
  }
  ~UringSelector() override { close(); }

  const char* kind() const override { return "io_uring"; }
  int fileno() const override { return ring_->fd(); }
  int64_t resolution_ns() const override { return 1; }  // EXT_ARG takes a timespec
  bool closed() const override { return ring_->closed(); }

  SysResult add(int fd, uint32_t events) override {
    if (fd == ring_->fd()) return {-EINVAL, "io_uring_enter"};  // as epoll refuses itself
    if (fcntl(fd, F_GETFD) < 0) return {-errno, "fcntl"};
    if (static_cast<size_t>(fd) >= fds_.size()) fds_.resize(static_cast<size_t>(fd) + 1);
    FdState& st = fds_[static_cast<size_t>(fd)];
    if (st.interest != 0) return {-EEXIST, "io_uring_enter"};
    const uint32_t gen = NextGen();
    SysResult r = Arm(fd, gen, events);
    if (!r.ok()) return r;
    st = FdState();
    st.interest = events;
    st.gen = gen;
    st.armed = true;
    registered_++;
    Submit();
    return {0, nullptr};
  }

  SysResult modify(int fd, uint32_t events) override {
    if (static_cast<size_t>(fd) >= fds_.size() || fds_[static_cast<size_t>(fd)].interest == 0) {
      return {-ENOENT, "io_uring_enter"};
    }
    // All or nothing, like EPOLL_CTL_MOD: the checks and the SQE come before any change.
    if (fcntl(fd, F_GETFD) < 0) return {-errno, "fcntl"};
    FdState& st = fds_[static_cast<size_t>(fd)];
    if (st.interest == events && !st.dead) return {0, nullptr};
    SysResult err{0, nullptr};
    if (!ring_->Reserve(2, &err)) return err;
    if (st.armed) QueueRemove(fd, st.gen);
    const uint32_t gen = NextGen();
    Arm(fd, gen, events);  // cannot fail: space reserved
    st.interest = events;
    st.gen = gen;
    st.armed = true;
    st.dead = false;
    Submit();
    return {0, nullptr};
  }

  void remove(int fd) override {
    if (static_cast<size_t>(fd) >= fds_.size()) return;
    FdState& st = fds_[static_cast<size_t>(fd)];
    if (st.interest == 0) return;
    // The CQE of the removal and any late CQE of the poll carry the old generation: dropped.
    if (st.armed) QueueRemove(fd, st.gen);
    const bool candidate = st.candidate;
    st = FdState();
    st.candidate = candidate;  // its entry in candidates_ is skipped, not reported
    registered_--;
    Submit();
  }

  void close() override {
    // Every armed poll pins its file (req->file). Closing the ring fd cancels them only later, in
    // the kernel's ring exit work on a workqueue (io_uring/io_uring.c: io_ring_ctx_wait_and_kill
    // queues io_ring_exit_work), so a socket closed right after the selector could stay open for
    // a while and its peer not see the close (fuzz/selector_ops.cc found it; issue 16). Removed
    // here instead, submitted at once: the files go before this returns to the caller.
    if (!ring_->closed()) {
      for (size_t fd = 0; fd < fds_.size(); fd++) {
        if (fds_[fd].interest != 0 && fds_[fd].armed) QueueRemove(static_cast<int>(fd), fds_[fd].gen);
      }
      Submit();
    }
    ring_->Close();
    fds_.clear();
    carried_.clear();
    reported_.clear();
    candidates_.clear();
    fresh_.clear();
    rearm_.clear();
    registered_ = 0;
  }

  void counters(std::vector<std::pair<std::string, double>>* out) const override {
    out->emplace_back("rearms", static_cast<double>(rearms_));
    out->emplace_back("stale", static_cast<double>(stale_));
    out->emplace_back("rechecks", static_cast<double>(rechecks_));
    out->emplace_back("overflows", static_cast<double>(overflows_));
    out->emplace_back("setupFlags", static_cast<double>(ring_->setup_flags()));
    out->emplace_back("registeredRingFd", ring_->registered_fd() ? 1 : 0);
  }

 protected:
  SysResult wait_once(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    for (;;) {
      FlushRearms();
      const bool have_carried = !carried_.empty();
      // A held CQE would make a blocking wait return at once: give it back first.
      if (!have_carried) ring_->Release(false);
      const int64_t t = have_carried ? 0 : timeout_ns;
      SysResult r = ring_->Enter(true, t == 0 ? 0 : 1, t);
      if (!r.ok()) return r;
      const unsigned reaped = ReapAll();
      const int count = Collect(out, capacity);
      ring_->Release(!carried_.empty());
      // Re-arms and removals found while reaping go in now, not at the next wait, which a hosted
      // loop only makes when the ring fd says so.
      FlushRearms();
      Submit();
      if (count > 0 || timeout_ns == 0) return {count, nullptr};
      if (have_carried) continue;  // nothing carried was still ready: now really wait
      // The wait ended on something that reported nothing (a stale or removal CQE, a re-armed
      // poll) or a signal after a submission (io_uring_enter then returns the submitted count):
      // let Selector::wait retry with the time that remains.
      if (r.value > 0 || reaped > 0) return {-EINTR, "io_uring_enter"};
      return {0, nullptr};
    }
  }

 private:
  // Submits what is queued at once (no waiting). A hosted loop waits only when libuv reports the
  // ring fd readable, so a poll still in the SQ would never fire; and a POLL_REMOVE left there
  // would keep the file open after the caller closes its fd (the poll holds a reference).
  // io_uring_enter per change, as epoll_ctl per change. An error leaves the SQE queued for the
  // next call; the ring only refuses a submission when it is being torn down.
  void Submit() {
    if (ring_->queued() > 0) ring_->Enter(false, 0, -1);
  }

  uint32_t NextGen() {
    gen_ = (gen_ + 1) & kGenMask;
    if (gen_ == 0) gen_ = 1;  // 0 is a zeroed SQE's user_data
    return gen_;
  }

  SysResult Arm(int fd, uint32_t gen, uint32_t events) {
    SysResult err{0, nullptr};
    io_uring_sqe* sqe = ring_->GetSqe(&err);
    if (sqe == nullptr) return err;
    sqe->opcode = IORING_OP_POLL_ADD;
    sqe->fd = fd;
    sqe->poll32_events = ToPoll(events);  // little-endian layout; Linux on x86-64/arm64
    sqe->len = IORING_POLL_ADD_MULTI;
    sqe->user_data = Tag(kOpPoll, gen, fd);
    return {0, nullptr};
  }

  void QueueRemove(int fd, uint32_t gen) {
    SysResult err{0, nullptr};
    io_uring_sqe* sqe = ring_->GetSqe(&err);
    if (sqe == nullptr) return;  // the ring is unusable; closing it ends the poll
    sqe->opcode = IORING_OP_POLL_REMOVE;
    sqe->fd = -1;
    sqe->addr = Tag(kOpPoll, gen, fd);
    sqe->user_data = Tag(kOpRemove, gen, fd);
  }

  void FlushRearms() {
    size_t kept = 0;
    for (size_t i = 0; i < rearm_.size(); i++) {
      const int fd = rearm_[i].first;
      FdState* st = Registered(fd, rearm_[i].second);
      if (st == nullptr || st->armed || st->dead) continue;
      if (Arm(fd, st->gen, st->interest).ok()) {
        st->armed = true;
        rearms_++;
      } else {
        rearm_[kept++] = rearm_[i];  // next time
      }
    }
    rearm_.resize(kept);
  }

  FdState* Registered(int fd, uint32_t gen) {
    if (fd < 0 || static_cast<size_t>(fd) >= fds_.size()) return nullptr;
    FdState& st = fds_[static_cast<size_t>(fd)];
    if (st.interest == 0 || st.gen != gen) return nullptr;
    return &st;
  }

  void AddCandidate(int fd, FdState& st) {
    if (!st.candidate) {
      st.candidate = true;
      candidates_.push_back(fd);
    }
  }

  // Everything posted, including what overflowed the CQ ring (more ready fds than CQ entries:
  // the kernel keeps those aside and ends their multishot polls, which are then re-armed).
  unsigned ReapAll() {
    unsigned total = 0;
    for (int round = 0; round < 64; round++) {
      unsigned n;
      do {
        n = ring_->Reap(cqes_, kBatch);
        for (unsigned i = 0; i < n; i++) OnCompletion(cqes_[i]);
        total += n;
      } while (n == kBatch);
      if (!ring_->Overflowed()) break;
      ring_->Release(false);  // room for the overflow list
      if (!ring_->Enter(true, 0, 0).ok()) break;
      overflows_++;
    }
    return total;
  }

  void OnCompletion(const uring::Completion& c) {
    const uint64_t op = c.user_data >> 62;
    const int fd = static_cast<int>(static_cast<uint32_t>(c.user_data));
    const uint32_t gen = static_cast<uint32_t>(c.user_data >> 32) & kGenMask;
    if (op != kOpPoll) return;  // POLL_REMOVE results: nothing to do (ENOENT if already ended)
    FdState* st = Registered(fd, gen);
    if (st == nullptr) {
      if (c.user_data != 0) stale_++;
      return;
    }
    if (st->dead) return;
    const bool more = (c.flags & IORING_CQE_F_MORE) != 0;
    if (!more) st->armed = false;
    if (c.res >= 0) {
      st->mask |= static_cast<uint32_t>(c.res);
      st->fresh = true;
      AddCandidate(fd, *st);
      if (!more) rearm_.emplace_back(fd, gen);
      return;
    }
    if (c.res == -ECANCELED || c.res == -ENOMEM || c.res == -EAGAIN || c.res == -EINTR) {
      rearm_.emplace_back(fd, gen);
      return;
    }
    // EBADF and the like: once as every interest, then ignored (poll backend's POLLNVAL rule).
    st->error = true;
    st->fresh = true;
    AddCandidate(fd, *st);
  }

  // Merges this wait's CQEs and the carried fds into `out`; re-checks what may be stale.
  // Order: the carried fds first (those the last batch had no room for, then those it reported),
  // then the ones only this wait's CQEs named, as epoll keeps its ready list.
  int Collect(ReadyEvent* out, int capacity) {
    fresh_.swap(candidates_);  // this wait's CQEs (their candidate flags are set); fresh_ was empty
    for (const auto& entry : carried_) {
      FdState* st = Registered(entry.first, entry.second);
      if (st != nullptr && !st->dead) {
        st->carried = true;
        st->candidate = true;
        candidates_.push_back(entry.first);
      }
    }
    for (const int fd : fresh_) {
      if (!fds_[static_cast<size_t>(fd)].carried) candidates_.push_back(fd);
    }
    fresh_.clear();
    carried_.clear();
    pollfds_.clear();
    for (const int fd : candidates_) {
      FdState& st = fds_[static_cast<size_t>(fd)];
      if (st.interest == 0 || st.dead || st.error) continue;
      // A CQE's mask is the wakeup's (io_poll_wake's key), which may not name every bit that is
      // ready: trusted only when it covers the whole interest.
      if (st.fresh && exact_cqes_ && (FromPoll(st.mask) & st.interest) == st.interest) continue;
      struct pollfd p;
      p.fd = fd;
      p.events = static_cast<short>(ToPoll(st.interest));
      p.revents = 0;
      pollfds_.push_back(p);
    }
    if (!pollfds_.empty()) {
      rechecks_++;
      int n;
      do {
        n = poll(pollfds_.data(), pollfds_.size(), 0);
      } while (n < 0 && errno == EINTR);
      for (const struct pollfd& p : pollfds_) {
        FdState& st = fds_[static_cast<size_t>(p.fd)];
        if (n < 0) continue;  // cannot happen with valid arguments; keep the CQE's mask
        if (p.revents & POLLNVAL) {
          // Closed behind our back. Reported now only if it was not reported before.
          if (st.carried) {
            st.dead = true;
            if (st.armed) QueueRemove(p.fd, st.gen);
            st.armed = false;
            continue;
          }
          st.error = true;
          continue;
        }
        st.mask = static_cast<uint32_t>(p.revents);
        st.fresh = false;
      }
    }
    int count = 0;
    for (const int fd : candidates_) {
      FdState& st = fds_[static_cast<size_t>(fd)];
      st.candidate = false;
      st.carried = false;
      if (st.interest == 0 || (st.dead && !st.error)) {
        st.mask = 0;
        st.fresh = false;
        continue;
      }
      uint32_t ready = st.error ? st.interest : (FromPoll(st.mask) & st.interest);
      if (st.error) {
        // Reported once: then the poll goes, so that the kernel lets go of the file.
        st.dead = true;
        st.error = false;
        if (st.armed) QueueRemove(fd, st.gen);
        st.armed = false;
      }
      st.mask = 0;
      st.fresh = false;
      if (ready == 0) continue;
      const bool reported = count < capacity;
      if (reported) {
        out[count].fd = fd;
        out[count].events = ready;
        count++;
      }
      // Still ready as far as we know: re-checked next time (level-triggered). Those beyond the
      // capacity come first then, and what was reported goes behind them, as epoll moves a
      // reported item to the tail of its ready list: 5,000 ready fds with a batch of 1,024 are
      // all served within 5 waits, none twice before all once (A16).
      if (!st.dead) (reported ? reported_ : carried_).emplace_back(fd, st.gen);
    }
    candidates_.clear();
    carried_.insert(carried_.end(), reported_.begin(), reported_.end());
    reported_.clear();
    return count;
  }

  static constexpr unsigned kBatch = 256;
  std::unique_ptr<uring::Ring> ring_;
  bool exact_cqes_ = false;
  uint32_t gen_ = 0;
  int registered_ = 0;
  std::vector<FdState> fds_;  // indexed by fd
  std::vector<std::pair<int, uint32_t>> carried_;  // (fd, gen) ready at the last wait, unreported first
  std::vector<std::pair<int, uint32_t>> reported_;  // scratch for Collect: the reported ones
  std::vector<std::pair<int, uint32_t>> rearm_;    // (fd, gen) whose multishot ended
  std::vector<int> candidates_;
  std::vector<int> fresh_;  // scratch for Collect
  std::vector<struct pollfd> pollfds_;
  uring::Completion cqes_[kBatch];
  uint64_t rearms_ = 0;
  uint64_t stale_ = 0;
  uint64_t rechecks_ = 0;
  uint64_t overflows_ = 0;
};

}  // namespace

std::unique_ptr<Selector> CreateUringSelector(SysResult* err) {
  uring::Options options;
  options.defer_taskrun = kUringSelectorDeferTaskrun;
  options.coop_taskrun = kUringSelectorCoopTaskrun;
  std::unique_ptr<uring::Ring> ring = uring::Ring::Create(options, err);
  if (!ring) return nullptr;
  if (!ring->Supports(IORING_OP_POLL_ADD) || !ring->Supports(IORING_OP_POLL_REMOVE)) {
    *err = {-EOPNOTSUPP, "io_uring_register"};
    return nullptr;
  }
  return std::unique_ptr<Selector>(new UringSelector(std::move(ring)));
}

}  // namespace muxloop
