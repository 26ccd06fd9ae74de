// TEST ONLY: kqueue(2)/kevent(2) for Linux, over epoll, so that the real
// native/backends/selector_kqueue.cc is compiled with -Werror and run by the selector and loop
// suites in `npm test` (test/native/kqueue/build.cjs links it into a separate test build of the
// addon; the package never contains it).
//
// Semantics follow FreeBSD's kevent(2) man page and sys/kern/kern_event.c:
//  * The changelist is applied, in order, before any event is collected. A change that fails is
//    reported as an EV_ERROR entry (data = errno) when the eventlist has room, else kevent()
//    returns -1 with that errno (the changes before it stay applied). EV_RECEIPT makes every
//    change report such an entry, data 0 on success. When any entry was reported that way, the
//    call returns them without collecting events (kern_event.c, kern_kevent_generic: "nerrors").
//  * A knote is an (fd, filter) pair: EVFILT_READ and EVFILT_WRITE are separate registrations;
//    the epoll set holds, per fd, the union of the enabled filters' interests.
//  * EV_ADD adds or modifies (udata, EV_ONESHOT, EV_CLEAR; a re-added knote keeps its enabled
//    state); EV_ADD|EV_DISABLE adds disabled;
//    EV_DELETE / EV_ENABLE / EV_DISABLE on a missing knote fail with ENOENT; an fd that is not
//    open fails with EBADF; a filter other than the two fails with EINVAL.
//  * EV_EOF is set on hang-up (EPOLLHUP/EPOLLRDHUP for read, EPOLLHUP/EPOLLERR for write); data
//    is the bytes available for read (FIONREAD); 0 for write (the man page's "space remaining in
//    the write buffer" is not emulated).
//  * Closing an fd drops its knotes (kqueue does this in close(2)). We cannot hook close(2), so an
//    fd whose file identity (st_dev, st_ino) changed since registration is treated as a new fd,
//    and events for it are not reported. Regular files and directories (epoll refuses them with
//    EPERM) behave as FreeBSD's vnode filters: read ready while the offset is before the end
//    (data = bytes to the end), write always ready. They do not make the kqueue fd itself
//    readable (a known gap: a uv_poll on the kqueue fd does not see them).
//  * EV_CLEAR maps to EPOLLET when every enabled filter of the fd has it; EV_ONESHOT deletes the
//    knote when its event is returned.
//  * An event is returned only if the file the fd names now still reports it (poll(2) at
//    collection, Current below), as kqueue runs the filter when it collects an event: neither an
//    epoll ghost under the same number nor a kevent kept from an earlier call is taken on trust
//    (found by fuzz/selector_ops.cc: a pipe's read end registered for write on a reused number
//    was reported writable, the readiness of the socket closed under that number before).
// The state of each kqueue lives in a table keyed by its fd (the epoll fd), guarded by a mutex
// (worker threads each run their own loops); a table entry left by a kqueue fd that was closed is
// replaced when kqueue() returns the same number again.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

struct Knote {
  bool present = false;
  bool enabled = false;
  unsigned short flags = 0;  // EV_ONESHOT | EV_CLEAR as given
  void* udata = nullptr;
};

struct FdEntry {
  dev_t dev = 0;
  ino_t ino = 0;
  bool vnode = false;     // regular file or directory: no epoll registration
  bool in_epoll = false;
  Knote read;
  Knote write;
};

struct Queue {
  std::mutex mutex;
  int epfd = -1;
  ino_t ino = 0;
  std::unordered_map<int, FdEntry> fds;
  std::deque<struct kevent> pending;  // events that did not fit in the last eventlist
};

std::mutex g_table_mutex;
std::unordered_map<int, std::shared_ptr<Queue>> g_table;

std::shared_ptr<Queue> Lookup(int kq) {
  std::lock_guard<std::mutex> lock(g_table_mutex);
  auto it = g_table.find(kq);
  if (it == g_table.end()) return nullptr;
  struct stat st;
  if (fstat(kq, &st) != 0 || st.st_ino != it->second->ino) {
    g_table.erase(it);  // the kqueue fd was closed (and perhaps reused)
    return nullptr;
  }
  return it->second;
}

Knote& KnoteOf(FdEntry& entry, short filter) { return filter == EVFILT_READ ? entry.read : entry.write; }

// Brings the epoll registration of fd in line with its enabled knotes; 0 or -errno.
int Sync(Queue& q, int fd, FdEntry& entry) {
  if (entry.vnode) return 0;
  uint32_t mask = 0;
  bool all_clear = true;
  if (entry.read.present && entry.read.enabled) {
    mask |= EPOLLIN | EPOLLRDHUP;
    all_clear = all_clear && (entry.read.flags & EV_CLEAR);
  }
  if (entry.write.present && entry.write.enabled) {
    mask |= EPOLLOUT;
    all_clear = all_clear && (entry.write.flags & EV_CLEAR);
  }
  if (mask == 0) {
    if (entry.in_epoll) epoll_ctl(q.epfd, EPOLL_CTL_DEL, fd, nullptr);  // may be closed already
    entry.in_epoll = false;
    return 0;
  }
  if (all_clear) mask |= EPOLLET;
  struct epoll_event ev = {};
  ev.events = mask;
  ev.data.fd = fd;
  int op = entry.in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  int rc = epoll_ctl(q.epfd, op, fd, &ev);
  if (rc != 0 && errno == ENOENT && op == EPOLL_CTL_MOD) rc = epoll_ctl(q.epfd, op = EPOLL_CTL_ADD, fd, &ev);
  if (rc != 0 && errno == EEXIST && op == EPOLL_CTL_ADD) rc = epoll_ctl(q.epfd, EPOLL_CTL_MOD, fd, &ev);
  if (rc != 0) {
    const int err = errno;
    struct stat st;
    if (err == EPERM && fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
      entry.vnode = true;
      entry.in_epoll = false;
      return 0;
    }
    return -err;
  }
  entry.in_epoll = true;
  return 0;
}

// Applies one change; 0 or a positive errno.
int Apply(Queue& q, const struct kevent& change) {
  if (change.filter != EVFILT_READ && change.filter != EVFILT_WRITE) return EINVAL;
  if (change.ident > static_cast<uintptr_t>(INT_MAX)) return EBADF;
  const int fd = static_cast<int>(change.ident);
  struct stat st;
  if (fstat(fd, &st) != 0) return EBADF;
  auto it = q.fds.find(fd);
  if (it != q.fds.end() && (it->second.dev != st.st_dev || it->second.ino != st.st_ino)) {
    // The fd was closed and its number reused: its knotes died with the close.
    if (it->second.in_epoll) epoll_ctl(q.epfd, EPOLL_CTL_DEL, fd, nullptr);
    q.fds.erase(it);
    it = q.fds.end();
  }
  if (it == q.fds.end()) {
    if (!(change.flags & EV_ADD)) return ENOENT;
    FdEntry fresh;
    fresh.dev = st.st_dev;
    fresh.ino = st.st_ino;
    it = q.fds.emplace(fd, fresh).first;
  }
  FdEntry& entry = it->second;
  Knote& knote = KnoteOf(entry, change.filter);
  const FdEntry before = entry;
  if (change.flags & EV_ADD) {
    // A new knote starts enabled unless EV_DISABLE; re-adding one keeps its state unless
    // EV_ENABLE/EV_DISABLE say otherwise (kern_event.c, kqueue_register).
    if (!knote.present) knote.enabled = !(change.flags & EV_DISABLE);
    else if (change.flags & EV_DISABLE) knote.enabled = false;
    knote.present = true;
    knote.udata = change.udata;
    knote.flags = change.flags & (EV_ONESHOT | EV_CLEAR);
  } else if (!knote.present) {
    return ENOENT;
  } else if (change.flags & EV_DELETE) {
    knote = Knote();
  } else if (change.flags & EV_DISABLE) {
    knote.enabled = false;
  } else if (change.flags & EV_ENABLE) {
    knote.enabled = true;
  }
  if (change.flags & EV_ADD && change.flags & EV_ENABLE) knote.enabled = true;
  const int rc = Sync(q, fd, entry);
  if (rc != 0) {
    entry = before;  // the kernel refused: nothing changed
    if (!entry.read.present && !entry.write.present) q.fds.erase(fd);
    return -rc;
  }
  if (!entry.read.present && !entry.write.present) q.fds.erase(fd);
  return 0;
}

int64_t BytesReadable(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

// The vnode filters (FreeBSD vfs_subr.c filt_vfsread/filt_vfswrite).
void CollectVnodes(Queue& q, std::vector<struct kevent>* out) {
  for (auto& [fd, entry] : q.fds) {
    if (!entry.vnode) continue;
    if (entry.read.present && entry.read.enabled) {
      struct stat st;
      const off_t at = lseek(fd, 0, SEEK_CUR);
      if (fstat(fd, &st) == 0 && at >= 0 && st.st_size != at) {
        struct kevent ev;
        EV_SET(&ev, static_cast<uintptr_t>(fd), EVFILT_READ, 0, 0, st.st_size - at, entry.read.udata);
        out->push_back(ev);
      }
    }
    if (entry.write.present && entry.write.enabled) {
      struct kevent ev;
      EV_SET(&ev, static_cast<uintptr_t>(fd), EVFILT_WRITE, 0, 0, 0, entry.write.udata);
      out->push_back(ev);
    }
  }
}

// Whether (fd, filter) is still an enabled knote of a file that is still open as registered.
bool Live(Queue& q, int fd, short filter) {
  auto it = q.fds.find(fd);
  if (it == q.fds.end()) return false;
  const Knote& knote = KnoteOf(it->second, filter);
  if (!knote.present || !knote.enabled) return false;
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == it->second.dev && st.st_ino == it->second.ino;
}

// What the file the number names now reports (poll(2) revents; on Linux the POLL* and EPOLL*
// bits have the same values). kqueue evaluates a filter on the fd's own file when it collects the
// event (f_event in kern_event.c, kqueue_scan), while this epoll set may hold a ghost under the
// number: a file registered there before that was closed under it but lives on in a dup (epoll
// keys by file and number; Apply's EPOLL_CTL_DEL reaches the number's new file only), whose events
// come tagged with the number. A kevent kept in `pending` may also have gone stale since.
uint32_t Current(int fd) {
  struct pollfd p = {};
  p.fd = fd;
  p.events = POLLIN | POLLOUT | POLLRDHUP;
  return poll(&p, 1, 0) == 1 ? static_cast<uint32_t>(p.revents) : 0;
}

bool StillReady(Queue& q, const struct kevent& ev) {
  auto it = q.fds.find(static_cast<int>(ev.ident));
  if (it == q.fds.end() || it->second.vnode) return true;  // vnode events are collected afresh
  const uint32_t now = Current(static_cast<int>(ev.ident));
  return (now & (ev.filter == EVFILT_READ ? EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR : EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0;
}

void AfterDelivery(Queue& q, const struct kevent& ev) {
  const int fd = static_cast<int>(ev.ident);
  auto it = q.fds.find(fd);
  if (it == q.fds.end()) return;
  Knote& knote = KnoteOf(it->second, ev.filter);
  if (!(knote.flags & EV_ONESHOT)) return;
  knote = Knote();
  Sync(q, fd, it->second);
  if (!it->second.read.present && !it->second.write.present) q.fds.erase(it);
}

}  // namespace

extern "C" int kqueue(void) {
  // FreeBSD's kqueue() is not close-on-exec (kqueuex(KQUEUE_CLOEXEC) is); callers set it.
  const int epfd = epoll_create1(0);
  if (epfd < 0) return -1;
  struct stat st;
  if (fstat(epfd, &st) != 0) {
    const int err = errno;
    close(epfd);
    errno = err;
    return -1;
  }
  auto q = std::make_shared<Queue>();
  q->epfd = epfd;
  q->ino = st.st_ino;
  std::lock_guard<std::mutex> lock(g_table_mutex);
  g_table[epfd] = std::move(q);
  return epfd;
}

extern "C" int kevent(int kq, const struct kevent* changelist, int nchanges, struct kevent* eventlist, int nevents,
                      const struct timespec* timeout) {
  if (nchanges < 0 || nevents < 0 || (nchanges > 0 && changelist == nullptr) ||
      (nevents > 0 && eventlist == nullptr)) {
    errno = EINVAL;
    return -1;
  }
  std::shared_ptr<Queue> q = Lookup(kq);
  if (q == nullptr) {
    errno = EBADF;
    return -1;
  }
  // The two lists may be the same array (the man page allows it): read all changes first.
  const std::vector<struct kevent> changes(changelist, changelist + nchanges);
  std::unique_lock<std::mutex> lock(q->mutex);
  int reported = 0;
  for (const struct kevent& change : changes) {
    const int err = Apply(*q, change);
    if (err == 0 && !(change.flags & EV_RECEIPT)) continue;
    if (reported >= nevents) {
      if (err == 0) continue;  // a receipt with no room is simply not returned
      errno = err;
      return -1;
    }
    struct kevent& slot = eventlist[reported++];
    slot = change;
    slot.flags = EV_ERROR;  // kern_event.c sets exactly this
    slot.data = err;
  }
  if (reported > 0 || nevents == 0) return reported;

  int wait_ms = -1;
  if (timeout != nullptr) {
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L) {
      errno = EINVAL;
      return -1;
    }
    // epoll_wait has millisecond resolution: round up so that a wait never ends early.
    const int64_t ms = static_cast<int64_t>(timeout->tv_sec) * 1000 + (timeout->tv_nsec + 999999) / 1000000;
    wait_ms = ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }

  std::vector<struct kevent> ready;
  while (!q->pending.empty()) {
    const struct kevent ev = q->pending.front();
    q->pending.pop_front();
    if (Live(*q, static_cast<int>(ev.ident), ev.filter) && StillReady(*q, ev)) ready.push_back(ev);
  }
  CollectVnodes(*q, &ready);
  if (!ready.empty()) wait_ms = 0;

  std::vector<struct epoll_event> batch(static_cast<size_t>(nevents));
  const int epfd = q->epfd;
  lock.unlock();  // other threads may change the queue while this one sleeps, as with kqueue
  const int n = epoll_wait(epfd, batch.data(), nevents, wait_ms);
  const int wait_errno = errno;
  lock.lock();
  if (n < 0 && ready.empty()) {
    errno = wait_errno;  // EINTR included: the caller retries (all changes were applied)
    return -1;
  }
  auto seen = [&ready](int fd, short filter) {
    for (const struct kevent& ev : ready)
      if (static_cast<int>(ev.ident) == fd && ev.filter == filter) return true;
    return false;
  };
  for (int i = 0; i < n; i++) {
    const int fd = batch[static_cast<size_t>(i)].data.fd;
    const uint32_t got = batch[static_cast<size_t>(i)].events & Current(fd);
    auto it = q->fds.find(fd);
    if (it == q->fds.end()) continue;
    if ((got & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) && Live(*q, fd, EVFILT_READ) && !seen(fd, EVFILT_READ)) {
      struct kevent ev;
      const unsigned short flags = (got & (EPOLLHUP | EPOLLRDHUP)) ? EV_EOF : 0;
      EV_SET(&ev, static_cast<uintptr_t>(fd), EVFILT_READ, flags, 0, BytesReadable(fd), it->second.read.udata);
      ready.push_back(ev);
    }
    if ((got & (EPOLLOUT | EPOLLHUP | EPOLLERR)) && Live(*q, fd, EVFILT_WRITE) && !seen(fd, EVFILT_WRITE)) {
      struct kevent ev;
      const unsigned short flags = (got & (EPOLLHUP | EPOLLERR)) ? EV_EOF : 0;
      EV_SET(&ev, static_cast<uintptr_t>(fd), EVFILT_WRITE, flags, 0, 0, it->second.write.udata);
      ready.push_back(ev);
    }
  }
  int count = 0;
  for (const struct kevent& ev : ready) {
    if (count < nevents) {
      eventlist[count++] = ev;
      AfterDelivery(*q, ev);
    } else {
      q->pending.push_back(ev);  // one epoll event can be two kevents; keep the second
    }
  }
  return count;
}
