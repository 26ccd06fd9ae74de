// Linux epoll backend. Contract: selector.h.
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <vector>

#include "backends/selector.h"

namespace muxloop {
namespace {

// epoll_event.data carries the fd and the generation of its registration: an event whose
// generation is not the current one belongs to a registration we no longer have (a ghost, A8/A21).
uint64_t Tag(int fd, uint32_t gen) { return (static_cast<uint64_t>(gen) << 32) | static_cast<uint32_t>(fd); }

// Which open file an fd number names, as far as a rebuild needs to tell (see Rebuild): the inode,
// and for a pipe, whose two ends share one inode, the end.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  int end = 0;
  bool operator==(const FileId& o) const { return dev == o.dev && ino == o.ino && end == o.end; }
};

bool IdentifyFile(int fd, FileId* id) {
  struct stat st;
  if (fstat(fd, &st) != 0) return false;
  id->dev = st.st_dev;
  id->ino = st.st_ino;
  id->end = 0;
  if (S_ISFIFO(st.st_mode)) {
    const int flags = fcntl(fd, F_GETFL);
    if (flags < 0) return false;
    id->end = (flags & O_ACCMODE) + 1;
  }
  return true;
}

uint32_t ToEpoll(uint32_t events) {
  return ((events & kRead) ? EPOLLIN : 0u) | ((events & kWrite) ? EPOLLOUT : 0u);
}

class EpollSelector final : public Selector {
 public:
  explicit EpollSelector(int epfd) : epfd_(epfd) {}
  ~EpollSelector() override { close(); }

  const char* kind() const override { return "epoll"; }
  int fileno() const override { return epfd_; }
  int64_t resolution_ns() const override { return 1000000; }  // epoll_wait takes ms
  bool closed() const override { return epfd_ < 0; }

  uint64_t rebuilds() const override { return rebuilds_; }
  void counters(std::vector<std::pair<std::string, double>>* out) const override {
    out->emplace_back("rebuilds", static_cast<double>(rebuilds_));
  }

  SysResult add(int fd, uint32_t events) override {
    struct epoll_event ev = {};
    ev.events = ToEpoll(events);
    const uint32_t gen = ++generation_ == 0 ? ++generation_ : generation_;
    ev.data.u64 = Tag(fd, gen);
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      // EEXIST for an fd we do not hold: a ghost of the same file under the same number (it was
      // registered, closed while a dup lived on, unregistered, and the number came back naming
      // that file again, by dup or SCM_RIGHTS). The kernel's registration is exactly the one
      // asked for, so take it over with this interest and generation (fuzz/selector_ops.cc).
      const bool ours = static_cast<size_t>(fd) < interest_.size() && interest_[static_cast<size_t>(fd)] != 0;
      if (errno != EEXIST || ours || epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) return {-errno, "epoll_ctl"};
    }
    // Only now does the fd exist for certain, so this never grows the table for a bogus number.
    if (static_cast<size_t>(fd) >= interest_.size()) {
      const size_t old = interest_.size();
      try {
        interest_.resize(static_cast<size_t>(fd) + 1, 0);
        gens_.resize(static_cast<size_t>(fd) + 1, 0);
        files_.resize(static_cast<size_t>(fd) + 1);
      } catch (const std::bad_alloc&) {
        // F10: undo the registration and keep the three tables the same length (shrinking does
        // not allocate). Before this, a failed gens_ or files_ resize left them shorter than
        // interest_, and the next add of that fd wrote past their end (SIGSEGV in the sweep).
        epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        interest_.resize(old);
        gens_.resize(old);
        files_.resize(old);
        throw;
      }
    }
    interest_[static_cast<size_t>(fd)] = events;
    gens_[static_cast<size_t>(fd)] = gen;
    // One fstat per register, read only by a rebuild (the fd is open: epoll_ctl just took it).
    IdentifyFile(fd, &files_[static_cast<size_t>(fd)]);
    ++registered_;
    return {0, nullptr};
  }

  SysResult modify(int fd, uint32_t events) override {
    struct epoll_event ev = {};
    ev.events = ToEpoll(events);
    ev.data.u64 = Tag(fd, static_cast<size_t>(fd) < gens_.size() ? gens_[static_cast<size_t>(fd)] : 0);
    // After an unregister the kernel could not carry out, a ghost of some file may sit under this
    // number; if the number now names that file again, EPOLL_CTL_MOD would succeed on the ghost
    // and hand its events to this (stale) registration. Only then is the file compared with the
    // one registered; without possible ghosts modify stays one syscall (fuzz/selector_ops.cc).
    if (ghosts_possible_ && static_cast<size_t>(fd) < files_.size()) {
      FileId now;
      if (!IdentifyFile(fd, &now)) return {-errno, "epoll_ctl"};
      if (!(now == files_[static_cast<size_t>(fd)])) return {-ENOENT, "epoll_ctl"};
    }
    // EPOLL_CTL_MOD is all or nothing: on failure the kernel keeps the old interest, and so do we.
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) return {-errno, "epoll_ctl"};
    interest_[static_cast<size_t>(fd)] = events;
    return {0, nullptr};
  }

  void remove(int fd) override {
    // EBADF (closed) and ENOENT (number reused by another file) are expected here; either way the
    // kernel no longer holds this registration under this number.
    const bool removed = epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr) == 0;
    if (static_cast<size_t>(fd) < interest_.size() && interest_[static_cast<size_t>(fd)] != 0) {
      // Not removed: the file may live on under a dup, still in the kernel set (a ghost).
      if (!removed) ghosts_possible_ = true;
      interest_[static_cast<size_t>(fd)] = 0;
      --registered_;
    }
  }

  void close() override {
    if (epfd_ >= 0) {
      ::close(epfd_);  // not retried on EINTR: on Linux the fd is gone either way
      epfd_ = -1;
    }
    interest_.clear();
    gens_.clear();
    files_.clear();
    registered_ = 0;
    ghosts_possible_ = false;
  }

 protected:
  SysResult wait_once(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    // maxevents must be >= 1 even with nothing registered, so the timeout is still honoured
    // (bpo-23009). Events beyond it stay queued; epoll hands them out round-robin next time.
    int max_events = registered_ < capacity ? registered_ : capacity;
    if (max_events < 1) max_events = 1;
    if (buffer_.size() < static_cast<size_t>(max_events)) buffer_.resize(static_cast<size_t>(max_events));
    const int64_t ms = CeilTimeout(timeout_ns, resolution_ns());
    const int n = epoll_wait(epfd_, buffer_.data(), max_events, static_cast<int>(ms));
    if (n < 0) return {-errno, "epoll_wait"};
    int count = 0;
    bool ghost = false;
    for (int i = 0; i < n; i++) {
      const uint64_t tag = buffer_[static_cast<size_t>(i)].data.u64;
      const int fd = static_cast<int>(static_cast<uint32_t>(tag));
      const uint32_t gen = static_cast<uint32_t>(tag >> 32);
      const uint32_t ev = buffer_[static_cast<size_t>(i)].events;
      const bool known = static_cast<size_t>(fd) < interest_.size() && interest_[static_cast<size_t>(fd)] != 0;
      if (!known || gens_[static_cast<size_t>(fd)] != gen) {
        // A registration we removed (or replaced) whose file is still open elsewhere: never
        // reported to the fd's current owner, and removed from the kernel below (A8, A21).
        ghost = true;
        continue;
      }
      const uint32_t interest = interest_[static_cast<size_t>(fd)];
      uint32_t ready = 0;
      // EPOLLHUP and EPOLLERR are reported whatever was asked; report them as every registered
      // interest so a reader sees EOF and a writer sees its error (CPython does the same).
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP | EPOLLPRI)) ready |= kRead;
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) ready |= kWrite;
      ready &= interest;
      if (ready == 0) continue;
      out[count].fd = fd;
      out[count].events = ready;
      count++;
    }
    if (ghost) Rebuild();
    return {count, nullptr};
  }

 private:
  // Replaces the kernel set by a fresh one holding exactly our registrations, at the same fd
  // number (dup3), so fileno() does not change; the ghosts go with the old set. libuv's
  // uv__platform_invalidate_fd has the same aim for a batch; it cannot reach a ghost either.
  // On failure (no fd left for the new set) the old set stays and the next ghost event retries.
  void Rebuild() {
    const int fresh = epoll_create1(EPOLL_CLOEXEC);
    if (fresh < 0) return;
    int registered = 0;
    for (size_t fd = 0; fd < interest_.size(); fd++) {
      if (interest_[fd] == 0) continue;
      struct epoll_event ev = {};
      ev.events = ToEpoll(interest_[fd]);
      ev.data.u64 = Tag(static_cast<int>(fd), gens_[fd]);
      // Is the number still the file we registered? EPOLL_CTL_MOD on the old set finds the
      // registration by (current file of fd, fd), so it fails when the number was closed (EBADF)
      // or now names another file (ENOENT: closed or dup2'd over behind our back, and reused).
      // Such a registration is forgotten, as the contract says epoll does; adding it again by
      // number would watch the new file and report it to the stale key (fuzz/selector_ops.cc
      // found this: a pipe end dup2'd over a registered fd was reported to that fd's old key).
      // The MOD alone is not enough: a ghost of the number's current file passes it, so the
      // file is also compared with the one identified at register time.
      FileId now;
      if (!IdentifyFile(static_cast<int>(fd), &now) || !(now == files_[fd]) ||
          epoll_ctl(epfd_, EPOLL_CTL_MOD, static_cast<int>(fd), &ev) != 0 ||
          epoll_ctl(fresh, EPOLL_CTL_ADD, static_cast<int>(fd), &ev) != 0) {
        interest_[fd] = 0;
        continue;
      }
      registered++;
    }
    registered_ = registered;
    if (dup3(fresh, epfd_, O_CLOEXEC) < 0) {
      ::close(fresh);
      return;
    }
    ::close(fresh);
    rebuilds_++;
    ghosts_possible_ = false;
  }

  int epfd_;
  int registered_ = 0;
  uint32_t generation_ = 0;
  uint64_t rebuilds_ = 0;
  bool ghosts_possible_ = false;  // an EPOLL_CTL_DEL failed since the last rebuild
  std::vector<uint32_t> gens_;      // indexed by fd: generation of the current registration
  std::vector<uint32_t> interest_;  // indexed by fd; 0 = not registered
  std::vector<FileId> files_;       // indexed by fd: the file registered under it
  std::vector<struct epoll_event> buffer_;
};

}  // namespace

std::unique_ptr<Selector> CreateEpollSelector(SysResult* err) {
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    *err = {-errno, "epoll_create1"};
    return nullptr;
  }
  try {
    return std::unique_ptr<Selector>(new EpollSelector(epfd));
  } catch (const std::bad_alloc&) {
    ::close(epfd);  // F10: the binding reports ENOMEM; the epoll fd must not outlive that
    throw;
  }
}

}  // namespace muxloop
