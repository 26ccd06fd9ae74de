// kqueue backend, macOS and the BSDs. Contract: selector.h.
// kqueue watches (fd, filter) pairs: read and write are two knotes, changed one kevent() call each
// so that a failure can be rolled back exactly, and merged back into one entry per fd in wait().
#include <fcntl.h>
#include <sys/event.h>
#include <sys/time.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <unordered_map>
#include <vector>

#include "backends/selector.h"

namespace muxloop {
namespace {

class KqueueSelector final : public Selector {
 public:
  explicit KqueueSelector(int kq) : kq_(kq) {}
  ~KqueueSelector() override { close(); }

  const char* kind() const override { return "kqueue"; }
  int fileno() const override { return kq_; }
  int64_t resolution_ns() const override { return 1; }  // struct timespec
  bool closed() const override { return kq_ < 0; }

  SysResult add(int fd, uint32_t events) override {
    SysResult r = Change(fd, 0, events);
    if (!r.ok()) return r;
    interest_[fd] = events;
    filters_ += Filters(events);
    return r;
  }

  SysResult modify(int fd, uint32_t events) override {
    auto it = interest_.find(fd);
    if (it == interest_.end()) return {-ENOENT, "kevent"};
    SysResult r = Change(fd, it->second, events);
    if (!r.ok()) return r;
    filters_ += Filters(events) - Filters(it->second);
    it->second = events;
    return r;
  }

  void remove(int fd) override {
    auto it = interest_.find(fd);
    if (it == interest_.end()) return;
    // Errors are expected for a closed fd (the kernel dropped its knotes already).
    if (it->second & kRead) Apply(fd, EVFILT_READ, EV_DELETE);
    if (it->second & kWrite) Apply(fd, EVFILT_WRITE, EV_DELETE);
    filters_ -= Filters(it->second);
    interest_.erase(it);
  }

  void close() override {
    if (kq_ >= 0) {
      ::close(kq_);
      kq_ = -1;
    }
    interest_.clear();
    filters_ = 0;
  }

 protected:
  SysResult wait_once(int64_t timeout_ns, ReadyEvent* out, int capacity) override {
    // One kevent per registered filter at most (gh-110038), and at least one so that an empty
    // selector still sleeps for its timeout (bpo-29255).
    int max_events = filters_ < capacity ? filters_ : capacity;
    if (max_events < 1) max_events = 1;
    if (buffer_.size() < static_cast<size_t>(max_events)) buffer_.resize(static_cast<size_t>(max_events));
    struct timespec ts;
    struct timespec* tsp = nullptr;
    if (timeout_ns >= 0) {
      ts.tv_sec = static_cast<time_t>(timeout_ns / 1000000000LL);
      ts.tv_nsec = static_cast<long>(timeout_ns % 1000000000LL);
      tsp = &ts;
    }
    const int n = kevent(kq_, nullptr, 0, buffer_.data(), max_events, tsp);
    if (n < 0) return {-errno, "kevent"};
    slot_.clear();
    int count = 0;
    for (int i = 0; i < n; i++) {
      const struct kevent& ev = buffer_[static_cast<size_t>(i)];
      const int fd = static_cast<int>(ev.ident);
      auto it = interest_.find(fd);
      if (it == interest_.end()) continue;
      uint32_t ready = ev.filter == EVFILT_READ ? kRead : ev.filter == EVFILT_WRITE ? kWrite : 0;
      if (ev.flags & EV_ERROR) ready = kEventMask;
      ready &= it->second;
      if (ready == 0) continue;
      auto seen = slot_.find(fd);
      if (seen != slot_.end()) {
        out[seen->second].events |= ready;
        continue;
      }
      slot_.emplace(fd, count);
      out[count].fd = fd;
      out[count].events = ready;
      count++;
    }
    return {count, nullptr};
  }

 private:
  static int Filters(uint32_t events) { return ((events & kRead) ? 1 : 0) + ((events & kWrite) ? 1 : 0); }

  int Apply(int fd, short filter, unsigned short flags) {
    struct kevent change;
    EV_SET(&change, static_cast<uintptr_t>(fd), filter, flags, 0, 0, nullptr);
    return kevent(kq_, &change, 1, nullptr, 0, nullptr) == 0 ? 0 : -errno;
  }

  // Moves fd's knotes from `from` to `to`; on failure undoes what it did, so the kernel is left
  // exactly as before.
  SysResult Change(int fd, uint32_t from, uint32_t to) {
    const uint32_t added = to & ~from;
    const uint32_t removed = from & ~to;
    if (added & kRead) {
      const int err = Apply(fd, EVFILT_READ, EV_ADD);
      if (err != 0) return {err, "kevent"};
    }
    if (added & kWrite) {
      const int err = Apply(fd, EVFILT_WRITE, EV_ADD);
      if (err != 0) {
        if (added & kRead) Apply(fd, EVFILT_READ, EV_DELETE);
        return {err, "kevent"};
      }
    }
    if (removed & kRead) Apply(fd, EVFILT_READ, EV_DELETE);
    if (removed & kWrite) Apply(fd, EVFILT_WRITE, EV_DELETE);
    return {0, nullptr};
  }

  int kq_;
  int filters_ = 0;
  std::unordered_map<int, uint32_t> interest_;
  std::unordered_map<int, int> slot_;  // fd -> index in out, per wait
  std::vector<struct kevent> buffer_;
};

}  // namespace

std::unique_ptr<Selector> CreateKqueueSelector(SysResult* err) {
  const int kq = kqueue();
  if (kq < 0) {
    *err = {-errno, "kqueue"};
    return nullptr;
  }
  // macOS has no kqueue1(O_CLOEXEC); nothing else runs on this thread between the two calls,
  // but a fork() elsewhere could: set it at once.
  if (fcntl(kq, F_SETFD, FD_CLOEXEC) != 0) {
    const int e = errno;
    ::close(kq);
    *err = {-e, "fcntl"};
    return nullptr;
  }
  return std::unique_ptr<Selector>(new KqueueSelector(kq));
}

}  // namespace muxloop
