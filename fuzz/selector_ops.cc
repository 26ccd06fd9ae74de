// libFuzzer target: the selector backends (epoll, poll, select, io_uring) as a state machine,
// checked against a model (reliability.md 3.1 "Fuzzing the selector state machine"; issue 17).
//
// The input is a program: byte 0 picks the backend (0x55 'U': io_uring; 0x4B 'K': kqueue, over
// the Linux emulation of test/native/kqueue/; any other value v: epoll, poll, select by v % 3, as
// before io_uring was added, so the corpus entries of the other backends keep their meaning: none
// of them starts with 0x55 or 0x4B), then each op is one byte (the op) followed by its operands.
// Ops run on a pool of real pipes and Unix socketpairs: open a pair, register, modify, unregister,
// close an fd (also while registered), dup, dup2 over another fd, write to / drain / shut down the
// peer, select(0) with a batch size, and close the selector. The model keeps
// the keys as lib/selectors.ts would (register refused for a number that has a key; modify and
// unregister only for keys; unregister after close always allowed), the files behind every fd and
// what each file must and may report. Checked after every select:
//   * only fds that have a key are reported, once per batch, with events within the key's interest
//     (no event for an fd after unregister or after the selector was closed);
//   * a live key (its number still names the file it was registered with) is reported exactly as
//     the file's readiness says, when the batch has room for every key: what must be ready is,
//     what cannot be is not (epoll may lose one batch to a ghost, then it must rebuild);
//   * a stale key (its fd was closed or dup2'd over behind the selector's back): epoll never
//     reports it once its file is closed everywhere; poll and select report a closed number at
//     most once (then it is parked until unregistered);
//   * io_uring (selector_uring.cc's header): its poll request pins the file, not the number, but
//     every report is re-checked with poll(2) on the number (DEFER_TASKRUN is off, so no CQE mask
//     is trusted alone). So a stale key whose number is open again reports at most what the file
//     that number names now may report; a closed number is reported once, as exactly the key's
//     interest (POLLNVAL or an error CQE), and then never again until a modify re-arms it;
//   * kqueue: a live key as on epoll, but complete batches only with room for every filter and no
//     ghost in the emulation's epoll set (KqueueBatchComplete); a stale key never while its number
//     is closed, else within what its file or the number's file may report;
// and after every op: the fds the pool owns are all still open (the selector never closes a
// watched fd), and at the end of a program no fd is left over (the lowest free number is back).
// Issue 16 (a peer that never saw the close): once every fd of a file is closed and no selector
// state may still hold it, the peer end sees the close at once in a plain poll(2) (timeout 0):
// POLLHUP on a socketpair peer or a pipe's read end, POLLERR on a pipe's write end. Nothing holds a
// file on epoll (the kernel drops a closed file's epitems), poll or select; on io_uring a key's
// poll request holds every file its number named while it was armed, until the key is
// unregistered, the selector is closed, or its closed number was reported (the backend removes the
// poll then, "so that the file is released"); remove() and close() submit at once.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "backends/selector.h"

using muxloop::kRead;
using muxloop::kWrite;

namespace {

[[noreturn]] void Fail(const char* what, int fd, uint32_t a, uint32_t b) {
  fprintf(stderr, "selector_ops: %s (fd %d, %u vs %u)\n", what, fd, a, b);
  abort();
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

enum class Kind { kPipeRead, kPipeWrite, kStream };

// One open file description of the pool.
struct File {
  Kind kind;
  int peer;            // id of the other end
  int refs = 0;        // fds of ours that name it
  size_t pending = 0;  // bytes readable from this end
  int writes = 0;      // writes those bytes came in (each is one skb, ~1 KiB of send buffer)
  bool shut_wr = false;  // this end did shutdown(SHUT_WR) (streams)
  bool reset = false;    // the peer closed with bytes it never read: one read gives ECONNRESET
  bool released = false;  // closed everywhere and not pinned by an io_uring poll: the kernel let go
  bool maybe_released = false;  // io_uring: closed everywhere, and its pin may have gone (see Key)
};

struct Key {
  int file;             // the file the number named at register time
  uint32_t interest;
  bool stale = false;   // the number was closed or dup2'd over since
  bool nval_seen = false;  // poll/select/io_uring: reported once while the number was closed
  int pin = -1;         // io_uring: the file this key's armed poll certainly holds (-1: none)
  std::set<int> maybe;  // io_uring: files its poll may still hold (it may have been removed unseen)
};

enum class Backend { kEpoll, kPoll, kSelect, kUring, kKqueue };

class Model {
 public:
  Model(const char* kind, Backend backend) : kind_(kind), backend_(backend) { Open(); }
  ~Model() { Teardown(); }

  void Run(Input* in) {
    while (!in->empty() && steps_++ < 400) {
      const uint8_t op = in->byte();
      if (trace_) Trace(op % 12);
      switch (op % 12) {
        case 0: OpenPair(in->byte() & 1); break;
        case 1: Register(in->byte(), in->byte()); break;
        case 2: Modify(in->byte(), in->byte()); break;
        case 3: Unregister(in->byte()); break;
        case 4: CloseFd(in->byte()); break;
        case 5: Dup(in->byte()); break;
        case 6: Dup2(in->byte(), in->byte()); break;
        case 7: Write(in->byte(), in->byte()); break;
        case 8: Drain(in->byte()); break;
        case 9: ShutdownWr(in->byte()); break;
        case 10: Select(in->byte()); break;
        case 11: ReopenSelector(); break;
      }
      CheckFdsOpen();
      UpdateReleases();
      if (stop_) return;
    }
    Select(255);
    UpdateReleases();
  }

 private:
  // MUXLOOP_FUZZ_TRACE=1: print each op and the pool, to read a crashing program.
  void Trace(int op) const {
    static const char* const kNames[] = {"open", "register", "modify", "unregister", "close", "dup",
                                         "dup2", "write", "drain", "shutdown", "select", "reopen"};
    fprintf(stderr, "fds:");
    for (const auto& [fd, file] : fds_) fprintf(stderr, " %d->f%d", fd, file);
    fprintf(stderr, "  keys:");
    for (const auto& [fd, key] : keys_) fprintf(stderr, " %d(f%d,%u%s)", fd, key.file, key.interest, key.stale ? ",stale" : "");
    fprintf(stderr, "\n%s\n", kNames[op]);
  }

  // --- the pool -------------------------------------------------------------------------------
  int NewFile(Kind kind) {
    files_.push_back(File{kind, -1});
    return static_cast<int>(files_.size()) - 1;
  }

  void Adopt(int fd, int file) {
    fds_[fd] = file;
    files_[static_cast<size_t>(file)].refs++;
  }

  // The fd number leaves the pool: a key on it becomes stale.
  void Forget(int fd) {
    auto it = fds_.find(fd);
    if (it == fds_.end()) return;
    files_[static_cast<size_t>(it->second)].refs--;  // released (maybe) by UpdateReleases()
    const int named = it->second;
    fds_.erase(it);
    auto k = keys_.find(fd);
    if (k != keys_.end()) {
      k->second.stale = true;
      // The key's file, and the one the number named now: a modify of a stale key registers the
      // number's new file (EV_ADD), which becomes a ghost in turn.
      if (backend_ == Backend::kKqueue) {
        ghosts_.push_back(k->second.file);
        ghosts_.push_back(named);
      }
    }
  }

  void OpenPair(bool stream) {
    if (fds_.size() >= 24) return;
    int p[2];
    if (stream) {
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p) != 0) Fail("socketpair", -1, errno, 0);
    } else if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
      Fail("pipe2", -1, errno, 0);
    }
    // A number that still has a (stale) key may come back here: that is the reuse case.
    const int a = NewFile(stream ? Kind::kStream : Kind::kPipeRead);
    const int b = NewFile(stream ? Kind::kStream : Kind::kPipeWrite);
    files_[static_cast<size_t>(a)].peer = b;
    files_[static_cast<size_t>(b)].peer = a;
    Adopt(p[0], a);
    Adopt(p[1], b);
  }

  // The n-th fd of the pool (in number order), or -1.
  int PickFd(uint8_t n) const {
    if (fds_.empty()) return -1;
    auto it = fds_.begin();
    std::advance(it, n % fds_.size());
    return it->first;
  }
  int PickKey(uint8_t n) const {
    if (keys_.empty()) return -1;
    auto it = keys_.begin();
    std::advance(it, n % keys_.size());
    return it->first;
  }

  // --- selector ops, with lib/selectors.ts's bookkeeping ------------------------------------------
  void Register(uint8_t which, uint8_t mask) {
    const int fd = PickFd(which);
    const uint32_t events = 1u + mask % 3u;
    if (fd < 0 || keys_.count(fd) != 0) return;  // ERR_FD_ALREADY_REGISTERED above the backend
    muxloop::SysResult r = sel_->add(fd, events);
    if (!r.ok()) Fail("add failed for an open pipe/socket", fd, static_cast<uint32_t>(-r.value), 0);
    keys_[fd] = Key{fds_[fd], events, false, false, backend_ == Backend::kUring ? fds_[fd] : -1, {}};
  }

  void Modify(uint8_t which, uint8_t mask) {
    const int fd = PickKey(which);
    if (fd < 0) return;
    const uint32_t events = 1u + mask % 3u;
    Key& key = keys_[fd];
    muxloop::SysResult r = sel_->modify(fd, events);
    if (r.ok()) {
      if (backend_ == Backend::kUring) {
        // io_uring re-arms (POLL_REMOVE + POLL_ADD by number, submitted at once) when the interest
        // changes or the key is dead, and then its poll holds the file the number names; the same
        // interest on a live poll is a no-op, which keeps the poll on the file it had.
        if (events != key.interest || key.nval_seen) {
          key.pin = fds_[fd];
          key.maybe.clear();
        } else if (key.pin < 0 && !key.maybe.empty()) {
          key.maybe.insert(fds_[fd]);  // dead unseen (re-armed now) or not (no-op)
        }
      }
      key.interest = events;
      key.nval_seen = false;
    } else if (!key.stale) {
      // Only a registration whose fd is gone may fail (EBADF/ENOENT on epoll).
      Fail("modify failed on a live key", fd, static_cast<uint32_t>(-r.value), 0);
    }
  }

  void Unregister(uint8_t which) {
    const int fd = PickKey(which);
    if (fd < 0) return;
    sel_->remove(fd);
    keys_.erase(fd);
  }

  void ReopenSelector() {
    sel_->close();
    if (!sel_->closed()) Fail("closed() after close()", -1, 0, 0);
    sel_->close();  // idempotent
    keys_.clear();
    ghosts_.clear();  // the emulated kqueue's epoll set went with it
    Open();
  }

  // --- fd ops ---------------------------------------------------------------------------------------
  void CloseFd(uint8_t which) {
    const int fd = PickFd(which);
    if (fd < 0) return;
    if (close(fd) != 0) Fail("close of a pool fd", fd, errno, 0);
    Forget(fd);
  }

  void Dup(uint8_t which) {
    const int fd = PickFd(which);
    if (fd < 0 || fds_.size() >= 24) return;
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) Fail("dup", fd, errno, 0);
    Forget(copy);  // a stale key may sit on the number it got
    Adopt(copy, fds_[fd]);
  }

  void Dup2(uint8_t from_which, uint8_t to_which) {
    const int from = PickFd(from_which);
    const int to = PickFd(to_which);
    if (from < 0 || to < 0 || from == to) return;
    if (dup3(from, to, O_CLOEXEC) != to) Fail("dup3", to, errno, 0);
    const int file = fds_[from];
    Forget(to);
    Adopt(to, file);
  }

  // Writes from the file of a pool fd into its peer. Kept few and small, so nothing fills up.
  void Write(uint8_t which, uint8_t len) {
    const int fd = PickFd(which);
    if (fd < 0) return;
    File& f = files_[static_cast<size_t>(fds_[fd])];
    if (f.kind == Kind::kPipeRead || f.shut_wr) return;
    File& peer = files_[static_cast<size_t>(f.peer)];
    // A Unix stream is writable while its queued skbs' truesize is at most a quarter of SO_SNDBUF
    // (unix_writable), about 50 small writes with the default 208 KiB; a pipe has 16 slots.
    // 16 writes stay clear of both, so "writable" stays certain.
    if (peer.refs == 0 || peer.writes >= 16) return;
    const size_t n = 1 + len % 64;
    char buf[64];
    memset(buf, 'x', sizeof buf);
    const ssize_t w = send_or_write(fd, f.kind, buf, n);
    if (w != static_cast<ssize_t>(n)) Fail("short write", fd, static_cast<uint32_t>(w), static_cast<uint32_t>(n));
    peer.pending += n;
    peer.writes++;
  }

  static ssize_t send_or_write(int fd, Kind kind, const void* buf, size_t n) {
    if (kind == Kind::kStream) return send(fd, buf, n, MSG_NOSIGNAL);
    return write(fd, buf, n);
  }

  void Drain(uint8_t which) {
    const int fd = PickFd(which);
    if (fd < 0) return;
    File& f = files_[static_cast<size_t>(fds_[fd])];
    if (f.kind == Kind::kPipeWrite) return;
    char buf[4096];
    size_t got = 0;
    for (;;) {
      const ssize_t r = read(fd, buf, sizeof buf);
      if (r > 0) {
        got += static_cast<size_t>(r);
        continue;
      }
      if (r == 0 || errno == EAGAIN) break;
      if (errno == ECONNRESET && f.reset) {
        f.reset = false;  // reported once; the bytes queued before it are still read after
        continue;
      }
      Fail("read", fd, errno, 0);
    }
    if (got != f.pending) Fail("drained a different byte count", fd, static_cast<uint32_t>(got), static_cast<uint32_t>(f.pending));
    f.pending = 0;
    f.writes = 0;
  }

  void ShutdownWr(uint8_t which) {
    const int fd = PickFd(which);
    if (fd < 0) return;
    File& f = files_[static_cast<size_t>(fds_[fd])];
    if (f.kind != Kind::kStream) return;
    if (shutdown(fd, SHUT_WR) != 0) Fail("shutdown", fd, errno, 0);
    f.shut_wr = true;
  }

  // --- readiness ------------------------------------------------------------------------------------
  // What a file must report (certainly ready) and may report (a hang-up or error condition, which
  // backends report as every registered interest, selector.h).
  void Readiness(int file, uint32_t* must, uint32_t* may) const {
    const File& f = files_[static_cast<size_t>(file)];
    const File& peer = files_[static_cast<size_t>(f.peer)];
    const bool peer_gone = peer.released;
    const bool peer_may_be_gone = peer.released || peer.maybe_released;
    *must = 0;
    *may = 0;
    switch (f.kind) {
      case Kind::kPipeRead:
        if (f.pending > 0 || peer_gone) *must |= kRead;
        // EPOLLHUP/POLLHUP once the writer is gone: epoll and poll report it as both interests,
        // select(2) as readable only.
        *may = *must | (peer_may_be_gone ? kRead | kWrite : 0u);
        break;
      case Kind::kPipeWrite:
        *must = kWrite;
        // The reader gone is EPOLLERR: both interests on epoll/poll, both fd sets on select.
        *may = kWrite | (peer_may_be_gone ? kRead : 0u);
        break;
      case Kind::kStream:
        if (f.pending > 0 || peer_gone || peer.shut_wr) *must |= kRead;
        *must |= kWrite;  // a few KiB in a Unix socket's send buffer never fill it
        *may = *must | (peer_may_be_gone ? kRead : 0u);
        break;
    }
  }

  // --- select and the checks --------------------------------------------------------------------
  void Select(uint8_t room) {
    const int capacity = 1 + room % 32;
    const uint64_t rebuilds_before = sel_->rebuilds();
    std::vector<muxloop::ReadyEvent> out(static_cast<size_t>(capacity));
    muxloop::SysResult r = sel_->wait(0, out.data(), capacity);
    if (!r.ok()) Fail("wait failed", -1, static_cast<uint32_t>(-r.value), 0);
    if (r.value > capacity) Fail("more events than room", -1, static_cast<uint32_t>(r.value), static_cast<uint32_t>(capacity));
    const bool complete = CheckBatch(out.data(), r.value, capacity);
    if (backend_ == Backend::kUring) {
      // A closed number that was carried from the last wait (reported, or ready beyond the
      // batch) is made dead without a report, and its poll removed: its pin may be gone now.
      for (auto& [fd, key] : keys_) {
        if (fds_.count(fd) == 0 && key.pin >= 0) {
          key.maybe.insert(key.pin);
          key.pin = -1;
        }
      }
    }
    if (complete) return;
    // epoll: a ghost registration (one we removed whose file lives on under a dup) can take a
    // slot of the batch once; the set is then rebuilt, and the next batch must be complete.
    if (backend_ != Backend::kEpoll || sel_->rebuilds() == rebuilds_before) {
      Fail("a ready live key was not reported", missing_fd_, missing_must_, 0);
    }
    r = sel_->wait(0, out.data(), capacity);
    if (!r.ok()) Fail("wait failed", -1, static_cast<uint32_t>(-r.value), 0);
    if (!CheckBatch(out.data(), r.value, capacity)) {
      Fail("a ready live key was not reported after the rebuild", missing_fd_, missing_must_, 0);
    }
  }

  // Checks one batch; returns false if a live key that must be ready is missing although the batch
  // had room for every key (the caller decides whether that is allowed once).
  bool CheckBatch(const muxloop::ReadyEvent* ev, int n, int capacity) {
    std::set<int> seen;
    for (int i = 0; i < n; i++) {
      const int fd = ev[i].fd;
      const uint32_t events = ev[i].events;
      auto k = keys_.find(fd);
      if (k == keys_.end()) Fail("event for an fd without a key", fd, events, 0);
      if (!seen.insert(fd).second) Fail("fd reported twice in one batch", fd, events, 0);
      Key& key = k->second;
      if (events == 0 || (events & ~key.interest) != 0) Fail("events outside the interest", fd, events, key.interest);
      if (backend_ == Backend::kUring && key.nval_seen) {
        // Dead after its one report (FdState::dead): CQEs and carried entries are ignored.
        Fail("io_uring reported a closed key again", fd, events, 0);
      }
      if (!key.stale) {
        uint32_t must, may;
        Readiness(key.file, &must, &may);
        if ((events & ~may) != 0) Fail("reported ready but cannot be", fd, events, may);
        continue;
      }
      // A stale key.
      if (backend_ == Backend::kEpoll) {
        // epoll watches the file, not the number: once the file is closed everywhere it is gone.
        if (files_[static_cast<size_t>(key.file)].refs == 0) Fail("epoll reported a key whose file is closed", fd, events, 0);
      } else if (backend_ == Backend::kUring) {
        auto now = fds_.find(fd);
        if (now == fds_.end()) {
          // POLLNVAL from the re-check, or an error CQE: every interest, once; the poll is removed.
          if (events != key.interest) Fail("io_uring reported a closed key as less than its interest", fd, events, key.interest);
          key.nval_seen = true;
          key.pin = -1;
          key.maybe.clear();
        } else {
          // Re-checked by number: the readiness of the file the number names now.
          uint32_t must, may;
          Readiness(now->second, &must, &may);
          if ((events & ~may) != 0) Fail("io_uring reported a stale key beyond its number's file", fd, events, may);
        }
      } else if (backend_ == Backend::kKqueue) {
        // kqueue drops a number's knotes in close(2). The emulation cannot see a close and goes by
        // file identity (st_dev, st_ino) instead, so a stale key is reported while its number
        // names a file of the key's identity again (a dup of it, or the other end of its pipe:
        // one inode; the emulated epoll set may still watch the key's own file), and real kqueue
        // too reports a number whose new file a modify added (EV_ADD). Never a closed number, and
        // never more than the number's file or the key's may report.
        auto now = fds_.find(fd);
        if (now == fds_.end()) Fail("kqueue reported a key whose number is closed", fd, events, 0);
        uint32_t must, may, must_then, may_then;
        Readiness(now->second, &must, &may);
        Readiness(key.file, &must_then, &may_then);
        if ((events & ~(may | may_then)) != 0) Fail("kqueue reported a stale key beyond its files", fd, events, may | may_then);
      } else if (fds_.count(fd) == 0) {
        // The number is closed: POLLNVAL / EBADF, reported once, then parked.
        if (key.nval_seen) Fail("closed fd reported twice", fd, events, 0);
        key.nval_seen = true;
      }
    }
    if (static_cast<size_t>(capacity) < keys_.size()) return true;
    if (backend_ == Backend::kKqueue && !KqueueBatchComplete(capacity)) return true;
    for (auto& [fd, key] : keys_) {
      if (key.stale) continue;
      uint32_t must, may;
      Readiness(key.file, &must, &may);
      const uint32_t expected = must & key.interest;
      if (expected == 0) continue;
      uint32_t got = 0;
      for (int i = 0; i < n; i++) {
        if (ev[i].fd == fd) got = ev[i].events;
      }
      if ((got & expected) != expected) {
        missing_fd_ = fd;
        missing_must_ = expected;
        return false;
      }
    }
    return true;
  }

  // Whether a kqueue batch must hold every ready live key. selector_kqueue.cc asks for one kevent
  // per filter (at most `capacity`), so the batch needs room for every filter; and the emulation's
  // epoll set may keep a ghost (a file registered under a number that no longer names it, until
  // the file is closed everywhere: epoll keys by file and number), whose events take slots of the
  // epoll batch and are then dropped, and a knote whose number was closed lives on while the number
  // names a file of the same identity. So only while no key is stale and no ghost's file (nor,
  // for a pipe, its other end) is open.
  bool KqueueBatchComplete(int capacity) const {
    size_t filters = 0;
    for (const auto& [fd, key] : keys_) {
      (void)fd;
      if (key.stale) return false;
      filters += ((key.interest & kRead) ? 1 : 0) + ((key.interest & kWrite) ? 1 : 0);
    }
    if (static_cast<size_t>(capacity) < filters) return false;
    for (int file : ghosts_) {
      const File& f = files_[static_cast<size_t>(file)];
      if (f.refs > 0) return false;
      // The two ends of a pipe are one inode: the emulation takes a number that names the other
      // end now for the file it knew (a knote of the closed end lives on, and takes a slot).
      if (f.kind != Kind::kStream && files_[static_cast<size_t>(f.peer)].refs > 0) return false;
    }
    return true;
  }

  // A file closed everywhere that no io_uring poll pins is released by the kernel: a Unix stream
  // closed with unread bytes resets its peer then (unix_release_sock: ECONNRESET), and (issue 16)
  // the peer sees the close at once. Checked once per file, right after the op that released it.
  void UpdateReleases() {
    if (backend_ == Backend::kUring) {
      // The pins assume the kernel never ended a multishot poll: a re-arm goes by number and may
      // land on another file. It needs a CQ overflow (4,096 entries, at most 24 fds here), so it
      // is not expected; if it happens the program stops here rather than guess.
      std::vector<std::pair<std::string, double>> c;
      sel_->counters(&c);
      for (const auto& [name, value] : c) {
        if (name == "rearms" && value > 0) stop_ = true;
      }
      if (stop_) return;
    }
    for (size_t id = 0; id < files_.size(); id++) {
      File& f = files_[id];
      if (f.refs > 0 || f.released) continue;
      bool pinned = false, maybe = false;
      for (const auto& [fd, key] : keys_) {
        (void)fd;
        if (key.pin == static_cast<int>(id)) pinned = true;
        if (key.maybe.count(static_cast<int>(id)) != 0) maybe = true;
      }
      if (pinned) continue;
      // The reset is allowed (Drain accepts one ECONNRESET), not required.
      if (f.kind == Kind::kStream && f.pending > 0) files_[static_cast<size_t>(f.peer)].reset = true;
      if (maybe) {
        f.maybe_released = true;
        continue;
      }
      f.released = true;
      const File& peer = files_[static_cast<size_t>(f.peer)];
      if (peer.refs == 0) continue;
      int peer_fd = -1;
      for (const auto& [fd, file] : fds_) {
        if (file == f.peer) peer_fd = fd;
      }
      struct pollfd p;
      p.fd = peer_fd;
      p.events = peer.kind == Kind::kPipeWrite ? POLLOUT : POLLIN;
      p.revents = 0;
      if (poll(&p, 1, 0) < 0) Fail("poll on the peer", peer_fd, errno, 0);
      const short want = peer.kind == Kind::kPipeWrite ? POLLERR : POLLHUP;
      if ((p.revents & want) == 0) {
        Fail("the peer did not see the close of a released file", peer_fd, static_cast<uint32_t>(p.revents), static_cast<uint32_t>(want));
      }
    }
  }

  void CheckFdsOpen() const {
    for (const auto& [fd, file] : fds_) {
      (void)file;
      if (fcntl(fd, F_GETFD) < 0) Fail("a pool fd was closed by the selector", fd, errno, 0);
    }
  }

  void Open() {
    muxloop::SysResult err;
    sel_ = muxloop::CreateSelector(kind_, &err);
    if (!sel_) Fail("CreateSelector", -1, static_cast<uint32_t>(-err.value), 0);
  }

  void Teardown() {
    if (sel_) sel_->close();
    sel_.reset();
    for (const auto& [fd, file] : fds_) {
      (void)file;
      close(fd);
    }
    fds_.clear();
  }

  const char* kind_;
  const Backend backend_;
  std::unique_ptr<muxloop::Selector> sel_;
  std::vector<File> files_;
  std::map<int, int> fds_;   // fd number -> file id, the pool's own fds
  std::map<int, Key> keys_;  // fd number -> key, as lib/selectors.ts keeps them
  std::vector<int> ghosts_;  // kqueue: files whose key went stale (see KqueueBatchComplete)
  int steps_ = 0;
  const bool trace_ = getenv("MUXLOOP_FUZZ_TRACE") != nullptr;
  bool stop_ = false;
  int missing_fd_ = -1;
  uint32_t missing_must_ = 0;
};

int LowestFreeFd() {
  const int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (fd >= 0) close(fd);
  return fd;
}

// Whether this kernel lets us set up the io_uring selector (a seccomp filter, an old kernel or
// kernel.io_uring_disabled may refuse it): asked once, as CreateSelector reports it.
bool UringAvailable() {
  static const bool available = [] {
    muxloop::SysResult err;
    std::unique_ptr<muxloop::Selector> sel = muxloop::CreateSelector("io_uring", &err);
    if (!sel) {
      fprintf(stderr, "selector_ops: io_uring refused (%s: errno %d): its programs are skipped\n",
              err.syscall != nullptr ? err.syscall : "?", -err.value);
      return false;
    }
    sel->close();
    return true;
  }();
  return available;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kKinds[] = {"epoll", "poll", "select"};
  static const Backend kBackends[] = {Backend::kEpoll, Backend::kPoll, Backend::kSelect};
  constexpr uint8_t kUringByte = 0x55;
  constexpr uint8_t kKqueueByte = 0x4B;
  if (size == 0) return 0;
  if (data[0] == kUringByte && !UringAvailable()) return 0;
  const int before = LowestFreeFd();
  {
    Input in(data, size);
    const uint8_t b = in.byte();
    if (b == kUringByte) {
      Model model("io_uring", Backend::kUring);
      model.Run(&in);
    } else if (b == kKqueueByte) {
      Model model("kqueue", Backend::kKqueue);
      model.Run(&in);
    } else {
      Model model(kKinds[b % 3], kBackends[b % 3]);
      model.Run(&in);
    }
  }
  const int after = LowestFreeFd();
  if (after != before) Fail("an fd was left open after the program", after, static_cast<uint32_t>(before), 0);
  return 0;
}
