// select(2) backend, every POSIX system. Contract: selector.h.
// fd_set is a fixed bitmap of FD_SETSIZE bits: FD_SET beyond it writes out of bounds (openssl#9686,
// Mbed-TLS#4173). add() refuses such fds, and every FD_* below is behind that check.
#include <fcntl.h>
#include <sys/select.h>

#include <cerrno>
#include <unordered_map>
#include <vector>

#include "backends/selector.h"

namespace muxloop {
namespace {

class SelectSelector final : public Selector {
 public:
  ~SelectSelector() override { close(); }

  const char* kind() const override { return "select"; }
  int max_fd() const override { return FD_SETSIZE - 1; }
  int64_t resolution_ns() const override { return 1000; }  // struct timeval: microseconds
  bool closed() const override { return closed_; }

  SysResult add(int fd, uint32_t events) override {
    if (fd < 0 || fd >= FD_SETSIZE) return {-ERANGE, "select"};
    if (index_.count(fd) != 0) return {-EEXIST, "select"};
    entries_.push_back({fd, events, false});
    index_.emplace(fd, entries_.size() - 1);
    return {0, nullptr};
  }

  SysResult modify(int fd, uint32_t events) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return {-ENOENT, "select"};
    entries_[it->second].events = events;
    return {0, nullptr};
  }

  void remove(int fd) override {
    auto it = index_.find(fd);
    if (it == index_.end()) return;
    const size_t i = it->second;
    index_.erase(it);
    if (i != entries_.size() - 1) {
      entries_[i] = entries_.back();
      index_[entries_[i].fd] = i;
    }
    entries_.pop_back();
  }

  void close() override {
    closed_ = true;
    entries_.clear();
    index_.clear();
  }

 protected:
  SysResult wait_once(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    int count = 0;
    SysResult r = SelectOnce(timeout_ns, out, capacity, &count);
    if (r.value != -EBADF) return r.ok() ? SysResult{count, nullptr} : r;
    // One closed fd fails the whole select() with EBADF (waitress#506, python/asyncio#419).
    // Find the culprits, report each once for its registered interest, park them, and poll the
    // rest without blocking, since there is already something to report.
    count = 0;
    for (Entry& e : entries_) {
      if (e.dead || fcntl(e.fd, F_GETFD) != -1 || errno != EBADF) continue;
      e.dead = true;
      if (count < capacity) out[count++] = {e.fd, e.events};
    }
    int more = 0;
    r = SelectOnce(0, out + count, capacity - count, &more);
    if (!r.ok()) return r;
    return {count + more, nullptr};
  }

 private:
  struct Entry {
    int fd;
    uint32_t events;
    bool dead;  // closed behind our back and already reported
  };

  SysResult SelectOnce(int64_t timeout_ns, ReadyEvent* out, int capacity, int* count) {
    fd_set rset, wset;
    FD_ZERO(&rset);
    FD_ZERO(&wset);
    int nfds = 0;
    for (const Entry& e : entries_) {
      if (e.dead || e.fd < 0 || e.fd >= FD_SETSIZE) continue;
      if (e.events & kRead) FD_SET(e.fd, &rset);
      if (e.events & kWrite) FD_SET(e.fd, &wset);
      if (e.fd >= nfds) nfds = e.fd + 1;
    }
    struct timeval tv;
    struct timeval* tvp = nullptr;
    const int64_t us = CeilTimeout(timeout_ns, resolution_ns());
    if (us >= 0) {
      tv.tv_sec = static_cast<time_t>(us / 1000000);
      tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
      tvp = &tv;
    }
    const int n = select(nfds, &rset, &wset, nullptr, tvp);
    if (n < 0) return {-errno, "select"};
    *count = 0;
    if (n == 0) return {0, nullptr};
    // When more fds are ready than fit, start each scan where the last one stopped, as the poll
    // backend does, so that no fd is starved by those registered before it (reliability.md A16).
    const size_t size = entries_.size();
    if (start_ >= size) start_ = 0;
    size_t scanned = 0;
    for (; scanned < size && *count < capacity; scanned++) {
      const Entry& e = entries_[(start_ + scanned) % size];
      if (e.dead || e.fd < 0 || e.fd >= FD_SETSIZE) continue;
      uint32_t ready = 0;
      if ((e.events & kRead) && FD_ISSET(e.fd, &rset)) ready |= kRead;
      if ((e.events & kWrite) && FD_ISSET(e.fd, &wset)) ready |= kWrite;
      if (ready == 0) continue;
      out[*count] = {e.fd, ready};
      (*count)++;
    }
    if (size > 0) start_ = (start_ + scanned) % size;
    return {0, nullptr};
  }

  bool closed_ = false;
  size_t start_ = 0;  // where the next scan of a ready set begins
  std::vector<Entry> entries_;
  std::unordered_map<int, size_t> index_;  // fd -> position in entries_
};

}  // namespace

std::unique_ptr<Selector> CreateSelectSelector(SysResult*) {
  return std::unique_ptr<Selector>(new SelectSelector());
}

}  // namespace muxloop
