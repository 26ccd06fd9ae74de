// io_uring core on the raw system calls. Layout of the rings and the barriers: io_uring(7) and
// io_uring_setup(2) ("the application must use memory barriers"): the kernel's tail is read with
// acquire, our head and tail are published with release.
#include "uring/ring.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace muxloop {
namespace uring {
namespace {

int SysSetup(unsigned entries, io_uring_params* p) {
  return static_cast<int>(syscall(__NR_io_uring_setup, entries, p));
}

int SysEnter(int fd, unsigned to_submit, unsigned min_complete, unsigned flags, const void* arg, size_t argsz) {
  return static_cast<int>(syscall(__NR_io_uring_enter, fd, to_submit, min_complete, flags, arg, argsz));
}

int SysRegister(int fd, unsigned opcode, void* arg, unsigned nr) {
  return static_cast<int>(syscall(__NR_io_uring_register, fd, opcode, arg, nr));
}

template <typename T>
T* At(void* base, unsigned offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

// Flags to try, best first; each step drops what an older kernel rejects with EINVAL.
constexpr unsigned kFlagSteps[] = {
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
        IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP,
    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE |
        IORING_SETUP_CLAMP,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP,
    IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP,
    0,
};

}  // namespace

std::unique_ptr<Ring> Ring::Create(const Options& options, SysResult* err) {
  std::unique_ptr<Ring> ring(new Ring());
  *err = ring->Setup(options);
  if (!err->ok()) return nullptr;  // ~Ring releases what Setup acquired
  return ring;
}

SysResult Ring::Setup(const Options& options) {
  io_uring_params p;
  int fd = -1;
  for (unsigned flags : kFlagSteps) {
    if (!options.defer_taskrun && (flags & IORING_SETUP_DEFER_TASKRUN)) continue;
    std::memset(&p, 0, sizeof p);
    p.flags = options.coop_taskrun ? flags : flags & ~static_cast<unsigned>(IORING_SETUP_COOP_TASKRUN);
    if (options.taskrun_flag && (p.flags & (IORING_SETUP_COOP_TASKRUN | IORING_SETUP_DEFER_TASKRUN))) {
      p.flags |= IORING_SETUP_TASKRUN_FLAG;
    }
    p.cq_entries = options.cq_entries;
    fd = SysSetup(options.sq_entries, &p);
    if (fd >= 0 || errno != EINVAL) break;
  }
  if (fd < 0) return {-errno, "io_uring_setup"};
  fd_ = fd;
  enter_fd_ = fd;
  setup_flags_ = p.flags;
  features_ = p.features;
  // The selector's timeouts need EXT_ARG (5.11); multishot poll needs 5.13 anyway.
  if (!(features_ & IORING_FEAT_EXT_ARG) || !(features_ & IORING_FEAT_NODROP)) {
    return {-EOPNOTSUPP, "io_uring_setup"};
  }

  ring_size_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cq_size_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  if (features_ & IORING_FEAT_SINGLE_MMAP) {
    if (cq_size_ > ring_size_) ring_size_ = cq_size_;
  }
  void* sq = mmap(nullptr, ring_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) return {-errno, "mmap"};
  ring_mem_ = sq;
  void* cq = sq;
  if (!(features_ & IORING_FEAT_SINGLE_MMAP)) {
    cq = mmap(nullptr, cq_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_CQ_RING);
    if (cq == MAP_FAILED) return {-errno, "mmap"};
    cq_mem_ = cq;
  }
  sqes_size_ = p.sq_entries * sizeof(io_uring_sqe);
  void* sqes = mmap(nullptr, sqes_size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd_, IORING_OFF_SQES);
  if (sqes == MAP_FAILED) return {-errno, "mmap"};
  sqes_ = static_cast<io_uring_sqe*>(sqes);

  sq_head_ = At<unsigned>(sq, p.sq_off.head);
  sq_tail_ = At<unsigned>(sq, p.sq_off.tail);
  sq_mask_ = *At<unsigned>(sq, p.sq_off.ring_mask);
  sq_entries_ = *At<unsigned>(sq, p.sq_off.ring_entries);
  sq_array_ = At<unsigned>(sq, p.sq_off.array);
  sq_flags_ = At<unsigned>(sq, p.sq_off.flags);
  sq_local_tail_ = *sq_tail_;
  cq_head_ = At<unsigned>(cq, p.cq_off.head);
  cq_tail_ = At<unsigned>(cq, p.cq_off.tail);
  cq_mask_ = *At<unsigned>(cq, p.cq_off.ring_mask);
  cqes_ = At<io_uring_cqe>(cq, p.cq_off.cqes);
  cq_seen_ = *cq_head_;

  // Which opcodes this kernel has (5.6). The selector needs POLL_ADD and POLL_REMOVE.
  const size_t probe_size = sizeof(io_uring_probe) + 256 * sizeof(io_uring_probe_op);
  std::unique_ptr<unsigned char[]> buf(new unsigned char[probe_size]());
  io_uring_probe* probe = reinterpret_cast<io_uring_probe*>(buf.get());
  if (SysRegister(fd_, IORING_REGISTER_PROBE, probe, 256) < 0) return {-errno, "io_uring_register"};
  for (unsigned i = 0; i < probe->ops_len && i < 256; i++) {
    if (probe->ops[i].flags & IO_URING_OP_SUPPORTED) probe_[probe->ops[i].op] = 1;
  }

  // Registered ring fd (5.18): optional, EINVAL on older kernels.
  io_uring_rsrc_update reg;
  std::memset(&reg, 0, sizeof reg);
  reg.offset = static_cast<unsigned>(-1);  // any free slot
  reg.data = static_cast<uint64_t>(fd_);
  if (SysRegister(fd_, IORING_REGISTER_RING_FDS, &reg, 1) == 1) {
    enter_fd_ = static_cast<int>(reg.offset);
    enter_flags_ = IORING_ENTER_REGISTERED_RING;
  }
  return {0, nullptr};
}

Ring::~Ring() { Close(); }

void Ring::Close() {
  if (sqes_ != nullptr) munmap(sqes_, sqes_size_);
  if (cq_mem_ != nullptr) munmap(cq_mem_, cq_size_);
  if (ring_mem_ != nullptr) munmap(ring_mem_, ring_size_);
  sqes_ = nullptr;
  cq_mem_ = nullptr;
  ring_mem_ = nullptr;
  // The registered ring fd lives in this thread's io_uring context, not in the ring: left there
  // it would keep the ring (and every file its requests hold) alive until the thread exits.
  if (enter_flags_ & IORING_ENTER_REGISTERED_RING) {
    io_uring_rsrc_update reg;
    std::memset(&reg, 0, sizeof reg);
    reg.offset = static_cast<unsigned>(enter_fd_);
    SysRegister(fd_, IORING_UNREGISTER_RING_FDS, &reg, 1);
    enter_flags_ = 0;
  }
  // Closing the fd ends every request still in flight (the kernel cancels them on ring exit).
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  enter_fd_ = -1;
}

bool Ring::Supports(unsigned opcode) const { return opcode < 256 && probe_[opcode] != 0; }

unsigned Ring::queued() const { return sq_local_tail_ - __atomic_load_n(sq_head_, __ATOMIC_ACQUIRE); }

bool Ring::Reserve(unsigned n, SysResult* err) {
  if (closed() || n > sq_entries_) {
    *err = {-EBADF, "io_uring_enter"};
    return false;
  }
  if (queued() + n > sq_entries_) {
    SysResult r = Enter(false, 0, -1);
    if (!r.ok() && r.value != -EINTR) {
      *err = r;
      return false;
    }
    if (queued() + n > sq_entries_) {
      *err = {-EBUSY, "io_uring_enter"};
      return false;
    }
  }
  return true;
}

io_uring_sqe* Ring::GetSqe(SysResult* err) {
  if (closed()) {
    *err = {-EBADF, "io_uring_enter"};
    return nullptr;
  }
  if (queued() >= sq_entries_) {
    SysResult r = Enter(false, 0, -1);
    if (!r.ok() && r.value != -EINTR) {
      *err = r;
      return nullptr;
    }
    if (queued() >= sq_entries_) {
      *err = {-EBUSY, "io_uring_enter"};
      return nullptr;
    }
  }
  const unsigned index = sq_local_tail_ & sq_mask_;
  io_uring_sqe* sqe = &sqes_[index];
  std::memset(sqe, 0, sizeof *sqe);
  sq_array_[index] = index;
  sq_local_tail_++;
  // Published at once: the kernel only reads up to the tail when we call io_uring_enter.
  __atomic_store_n(sq_tail_, sq_local_tail_, __ATOMIC_RELEASE);
  return sqe;
}

SysResult Ring::Enter(bool wait, unsigned min_complete, int64_t timeout_ns) {
  const unsigned to_submit = queued();
  if (!wait && to_submit == 0) return {0, nullptr};
  unsigned flags = enter_flags_;
  io_uring_getevents_arg arg;
  struct __kernel_timespec ts;
  const void* argp = nullptr;
  size_t argsz = 0;
  if (wait) {
    flags |= IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
    std::memset(&arg, 0, sizeof arg);
    if (timeout_ns >= 0 && min_complete > 0) {
      ts.tv_sec = timeout_ns / 1000000000LL;
      ts.tv_nsec = timeout_ns % 1000000000LL;
      arg.ts = reinterpret_cast<uint64_t>(&ts);
    }
    argp = &arg;
    argsz = sizeof arg;
  }
  const int n = SysEnter(enter_fd_, to_submit, min_complete, flags, argp, argsz);
  if (n < 0) {
    if (errno == ETIME) return {0, nullptr};
    return {-errno, "io_uring_enter"};
  }
  return {n, nullptr};
}

unsigned Ring::Ready() const { return __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE) - cq_seen_; }

bool Ring::Overflowed() const {
  return (__atomic_load_n(sq_flags_, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW) != 0;
}

bool Ring::TaskrunPending() const {
  return (__atomic_load_n(sq_flags_, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN) != 0;
}

unsigned Ring::Reap(Completion* out, unsigned capacity) {
  const unsigned tail = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
  unsigned n = 0;
  while (cq_seen_ != tail && n < capacity) {
    const io_uring_cqe& cqe = cqes_[cq_seen_ & cq_mask_];
    out[n].user_data = cqe.user_data;
    out[n].res = cqe.res;
    out[n].flags = cqe.flags;
    n++;
    cq_seen_++;
  }
  return n;
}

void Ring::Release(bool keep_readable) {
  const unsigned head = __atomic_load_n(cq_head_, __ATOMIC_RELAXED);
  // Holding one back is only possible when there is one consumed entry not yet given back.
  const bool hold = keep_readable && (held_ || cq_seen_ != head);
  __atomic_store_n(cq_head_, hold ? cq_seen_ - 1 : cq_seen_, __ATOMIC_RELEASE);
  held_ = hold;
}

SysResult Probe() {
  Options options;
  options.sq_entries = 1;
  options.cq_entries = 2;
  SysResult err{0, nullptr};
  std::unique_ptr<Ring> ring = Ring::Create(options, &err);
  if (!ring) return err;
  if (!ring->Supports(IORING_OP_POLL_ADD) || !ring->Supports(IORING_OP_POLL_REMOVE)) {
    return {-EOPNOTSUPP, "io_uring_register"};
  }
  return {0, nullptr};
}

}  // namespace uring
}  // namespace muxloop
