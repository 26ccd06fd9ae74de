// poll(2) backend, every POSIX system. Contract: selector.h.
#include <poll.h>

#include <cerrno>
#include <unordered_map>
#include <vector>

#include "backends/selector.h"

namespace muxloop {
namespace {

short ToPoll(uint32_t events) {
  return static_cast<short>(((events & kRead) ? POLLIN : 0) | ((events & kWrite) ? POLLOUT : 0));
}

class PollSelector final : public Selector {
 public:
  ~PollSelector() override { close(); }

  const char* kind() const override { return "poll"; }
  int64_t resolution_ns() const override { return 1000000; }  // poll takes ms
  bool closed() const override { return closed_; }

  // poll has no kernel-side registration, so add never fails in the kernel: a closed fd is
  // accepted here and reported once by wait() (POLLNVAL), as the contract says.
  SysResult add(int fd, uint32_t events) override {
    if (index_.count(fd) != 0) return {-EEXIST, "poll"};
    struct pollfd p = {};
    p.fd = fd;
    p.events = ToPoll(events);
    fds_.push_back(p);
    interest_.push_back(events);
    index_.emplace(fd, fds_.size() - 1);
    return {0, nullptr};
  }

  SysResult modify(int fd, uint32_t events) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return {-ENOENT, "poll"};
    fds_[it->second].events = ToPoll(events);
    interest_[it->second] = events;
    return {0, nullptr};
  }

  void remove(int fd) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return;
    const size_t i = it->second;
    const size_t last = fds_.size() - 1;
    index_.erase(it);
    if (i != last) {
      fds_[i] = fds_[last];
      interest_[i] = interest_[last];
      index_[OriginalFd(fds_[i].fd)] = i;
    }
    fds_.pop_back();
    interest_.pop_back();
  }

  void close() override {
    closed_ = true;
    fds_.clear();
    interest_.clear();
    index_.clear();
  }

 protected:
  SysResult wait_once(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    const int64_t ms = CeilTimeout(timeout_ns, resolution_ns());
    const int n = poll(fds_.data(), static_cast<nfds_t>(fds_.size()), static_cast<int>(ms));
    if (n < 0) return {-errno, "poll"};
    if (n == 0) return {0, nullptr};
    // When more fds are ready than fit, start each scan where the last one stopped so that no
    // fd is starved by those before it.
    const size_t size = fds_.size();
    if (start_ >= size) start_ = 0;
    int count = 0;
    size_t scanned = 0;
    for (; scanned < size && count < capacity; scanned++) {
      struct pollfd& p = fds_[(start_ + scanned) % size];
      if (p.revents == 0) continue;
      const short rev = p.revents;
      const uint32_t interest = interest_[(start_ + scanned) % size];
      uint32_t ready = 0;
      if (rev & (POLLIN | POLLPRI | POLLHUP | POLLERR | POLLNVAL)) ready |= kRead;
      if (rev & (POLLOUT | POLLHUP | POLLERR | POLLNVAL)) ready |= kWrite;
      const int fd = OriginalFd(p.fd);
      if (rev & POLLNVAL) {
        // Closed behind our back: report it once, then park it (a negative fd is skipped by
        // poll) until it is removed, so it cannot turn every wait into a busy loop.
        p.fd = ~p.fd;
      }
      ready &= interest;
      if (ready == 0) continue;
      out[count].fd = fd;
      out[count].events = ready;
      count++;
    }
    start_ = (start_ + scanned) % size;
    return {count, nullptr};
  }

 private:
  static int OriginalFd(int stored) { return stored < 0 ? ~stored : stored; }

  bool closed_ = false;
  size_t start_ = 0;
  std::vector<struct pollfd> fds_;
  std::vector<uint32_t> interest_;     // parallel to fds_
  std::unordered_map<int, size_t> index_;  // fd -> position in fds_
};

}  // namespace

std::unique_ptr<Selector> CreatePollSelector(SysResult*) {
  return std::unique_ptr<Selector>(new PollSelector());
}

}  // namespace muxloop
