// Linux epoll backend. Contract: selector.h.
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "backends/selector.h"

namespace muxloop {
namespace {

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

  SysResult add(int fd, uint32_t events) override {
    struct epoll_event ev = {};
    ev.events = ToEpoll(events);
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return {-errno, "epoll_ctl"};
    // Only now does the fd exist for certain, so this never grows the table for a bogus number.
    if (static_cast<size_t>(fd) >= interest_.size()) interest_.resize(static_cast<size_t>(fd) + 1, 0);
    interest_[static_cast<size_t>(fd)] = events;
    ++registered_;
    return {0, nullptr};
  }

  SysResult modify(int fd, uint32_t events) override {
    struct epoll_event ev = {};
    ev.events = ToEpoll(events);
    ev.data.fd = fd;
    // EPOLL_CTL_MOD is all or nothing: on failure the kernel keeps the old interest, and so do we.
    if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0) return {-errno, "epoll_ctl"};
    interest_[static_cast<size_t>(fd)] = events;
    return {0, nullptr};
  }

  void remove(int fd) override {
    // EBADF (closed) and ENOENT (number reused by another file) are expected here; either way the
    // kernel no longer holds this registration under this number.
    epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    if (static_cast<size_t>(fd) < interest_.size() && interest_[static_cast<size_t>(fd)] != 0) {
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
    registered_ = 0;
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
    for (int i = 0; i < n; i++) {
      const int fd = buffer_[static_cast<size_t>(i)].data.fd;
      const uint32_t ev = buffer_[static_cast<size_t>(i)].events;
      const uint32_t interest =
          static_cast<size_t>(fd) < interest_.size() ? interest_[static_cast<size_t>(fd)] : 0;
      if (interest == 0) continue;  // removed earlier; nothing of ours
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
    return {count, nullptr};
  }

 private:
  int epfd_;
  int registered_ = 0;
  std::vector<uint32_t> interest_;  // indexed by fd; 0 = not registered
  std::vector<struct epoll_event> buffer_;
};

}  // namespace

std::unique_ptr<Selector> CreateEpollSelector(SysResult* err) {
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    *err = {-errno, "epoll_create1"};
    return nullptr;
  }
  return std::unique_ptr<Selector>(new EpollSelector(epfd));
}

}  // namespace muxloop
