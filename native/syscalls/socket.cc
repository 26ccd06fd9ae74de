// Socket syscall wrappers. Contract: socket.h.
#include "syscalls/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "syscalls/fd.h"
#include "backends/selector.h"  // MonotonicNs, CeilTimeout

namespace muxloop {
namespace sock {

namespace {

#if defined(MSG_NOSIGNAL)
constexpr int kNoSignal = MSG_NOSIGNAL;
#else
constexpr int kNoSignal = 0;  // macOS: SO_NOSIGPIPE is set on every socket instead
#endif

#if defined(IOV_MAX)
constexpr size_t kIovMax = IOV_MAX;
#else
constexpr size_t kIovMax = 1024;  // Linux UIO_MAXIOV
#endif

// Per-socket setup after creation: flags where they could not be given atomically, and
// SO_NOSIGPIPE where MSG_NOSIGNAL does not exist.
int Prepare(int fd) {
#if !defined(SOCK_CLOEXEC)
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -errno;
  int err = fd::SetNonBlocking(fd, true);
  if (err != 0) return err;
#endif
#if defined(SO_NOSIGPIPE)
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) != 0) return -errno;
#endif
  (void)fd;
  return 0;
}

int64_t Remaining(int64_t deadline_ns) {
  if (deadline_ns < 0) return -1;
  const int64_t left = deadline_ns - MonotonicNs();
  return left > 0 ? left : 0;
}

// The retry loop shared by every operation that may block: try, and on EAGAIN wait for `events`
// until the deadline. `attempt` returns a value >= 0 or -errno.
template <typename Attempt>
ssize_t WithWait(int fd, short events, int64_t timeout_ns, Attempt attempt) {
  int64_t deadline = -2;  // computed on the first EAGAIN only: the fast path takes no clock reading
  for (;;) {
    ssize_t r;
    do {
      r = attempt();
    } while (r == -EINTR);
    if (r != -EAGAIN && r != -EWOULDBLOCK) return r;
    if (timeout_ns == 0) return -EAGAIN;
    if (deadline == -2) deadline = DeadlineFrom(timeout_ns);
    const int ready = WaitReady(fd, events, deadline);
    if (ready < 0) return ready;
    if (ready == 0) return kTimedOut;
  }
}

}  // namespace

int64_t DeadlineFrom(int64_t timeout_ns) {
  if (timeout_ns < 0) return -1;
  return MonotonicNs() + timeout_ns;
}

int WaitReady(int fd, short events, int64_t deadline_ns) {
  for (;;) {
    const int64_t left = Remaining(deadline_ns);
    // CeilTimeout rounds up to whole ms (never wakes early) and caps a single wait at 24 h; a
    // longer deadline simply takes several waits.
    const int64_t ms = CeilTimeout(left, 1000000);
    struct pollfd p = {};
    p.fd = fd;
    p.events = events;
    const int n = poll(&p, 1, static_cast<int>(ms));
    if (n < 0) {
      if (errno == EINTR) continue;  // PEP 475: wait out the remaining time
      return -errno;
    }
    if (n > 0) {
      if (p.revents & POLLNVAL) return -EBADF;
      return 1;  // readable/writable, or an error/hang-up the retried call will report
    }
    if (deadline_ns >= 0 && MonotonicNs() >= deadline_ns) return 0;
  }
}

int MakeInet4(const std::string& host, uint16_t port, Address* out) {
  std::memset(out, 0, sizeof *out);
  struct sockaddr_in* sin = reinterpret_cast<struct sockaddr_in*>(&out->storage);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(port);
  if (host.empty()) {
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (host == "localhost") {
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (host == "<broadcast>") {
    sin->sin_addr.s_addr = htonl(INADDR_BROADCAST);
  } else if (host.size() != std::strlen(host.c_str()) || inet_pton(AF_INET, host.c_str(), &sin->sin_addr) != 1) {
    return kBadHost;
  }
  out->length = sizeof(struct sockaddr_in);
  return 0;
}

int MakeInet6(const std::string& host, uint16_t port, uint32_t flowinfo, uint32_t scope_id, Address* out) {
  std::memset(out, 0, sizeof *out);
  struct sockaddr_in6* sin6 = reinterpret_cast<struct sockaddr_in6*>(&out->storage);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  sin6->sin6_flowinfo = htonl(flowinfo);
  if (host.size() != std::strlen(host.c_str())) return kBadHost;
  std::string literal = host;
  uint32_t text_scope = 0;
  const size_t percent = host.find('%');
  if (percent != std::string::npos) {
    literal = host.substr(0, percent);
    const std::string scope = host.substr(percent + 1);
    if (scope.empty()) return kBadScope;
    char* end = nullptr;
    errno = 0;
    const unsigned long numeric = std::strtoul(scope.c_str(), &end, 10);
    if (scope[0] >= '0' && scope[0] <= '9' && *end == '\0' && errno == 0 && numeric <= UINT32_MAX) {
      text_scope = static_cast<uint32_t>(numeric);
    } else {
      text_scope = if_nametoindex(scope.c_str());
      if (text_scope == 0) return kBadScope;
    }
  }
  if (literal.empty()) {
    if (percent != std::string::npos) return kBadHost;
    sin6->sin6_addr = in6addr_any;
  } else if (literal == "localhost") {
    sin6->sin6_addr = in6addr_loopback;
  } else if (inet_pton(AF_INET6, literal.c_str(), &sin6->sin6_addr) != 1) {
    return kBadHost;
  }
  sin6->sin6_scope_id = scope_id != 0 ? scope_id : text_scope;
  out->length = sizeof(struct sockaddr_in6);
  return 0;
}

int MakeUnix(const uint8_t* bytes, size_t length, Address* out) {
  std::memset(out, 0, sizeof *out);
  struct sockaddr_un* sun = reinterpret_cast<struct sockaddr_un*>(&out->storage);
  sun->sun_family = AF_UNIX;
  const size_t base = offsetof(struct sockaddr_un, sun_path);
  if (length > 0 && bytes[0] == '\0') {
    // Linux abstract namespace: the name is exactly `length` bytes, NULs included, no terminator.
    if (length > sizeof sun->sun_path) return kPathTooLong;
    std::memcpy(sun->sun_path, bytes, length);
    out->length = static_cast<socklen_t>(base + length);
    return 0;
  }
  // An empty Buffer's data pointer may be null, and memchr's first argument must not be, even for
  // a length of 0 (UBSan's nonnull-attribute; found by fuzz/sockaddr_parse.cc).
  if (length > 0 && std::memchr(bytes, '\0', length) != nullptr) return kPathHasNul;
  // A path needs its NUL inside sun_path: 108 bytes on Linux leaves room for 107 characters.
  if (length >= sizeof sun->sun_path) return kPathTooLong;
  if (length > 0) std::memcpy(sun->sun_path, bytes, length);
  out->length = static_cast<socklen_t>(length == 0 ? base : base + length + 1);
  return 0;
}

AddressParts DescribeAddress(const Address& address, int family) {
  AddressParts parts;
  const size_t length = address.length < sizeof address.storage ? address.length : sizeof address.storage;
  const int actual = length >= offsetof(struct sockaddr, sa_family) + sizeof(sa_family_t) ? address.storage.ss_family : AF_UNSPEC;
  if (actual == AF_INET || actual == AF_INET6) {
    // The kernel fills the whole sockaddr_in(6); fewer bytes would leave the host, port or scope
    // to whatever the buffer held before.
    if (actual == AF_INET && length >= sizeof(struct sockaddr_in)) {
      const auto* sin = reinterpret_cast<const struct sockaddr_in*>(&address.storage);
      inet_ntop(AF_INET, &sin->sin_addr, parts.host, sizeof parts.host);
      parts.port = ntohs(sin->sin_port);
      parts.kind = AddressParts::kInet4;
    } else if (actual == AF_INET6 && length >= sizeof(struct sockaddr_in6)) {
      const auto* sin6 = reinterpret_cast<const struct sockaddr_in6*>(&address.storage);
      inet_ntop(AF_INET6, &sin6->sin6_addr, parts.host, sizeof parts.host);
      parts.port = ntohs(sin6->sin6_port);
      parts.flowinfo = ntohl(sin6->sin6_flowinfo);
      parts.scope_id = sin6->sin6_scope_id;
      parts.kind = AddressParts::kInet6;
    }
    return parts;
  }
  if (actual != AF_UNIX && !(actual == AF_UNSPEC && family == AF_UNIX)) return parts;
  const size_t base = offsetof(struct sockaddr_un, sun_path);
  if (length <= base) {
    parts.kind = AddressParts::kUnixUnnamed;
    return parts;
  }
  // At most sun_path: Linux reports base + 109 for a 108-byte path bound without a NUL (it writes
  // the NUL past sun_path, unix_mkname_bsd), and the name is still those 108 bytes.
  const size_t room = (length < sizeof(struct sockaddr_un) ? length : sizeof(struct sockaddr_un)) - base;
  const auto* sun = reinterpret_cast<const struct sockaddr_un*>(&address.storage);
  if (sun->sun_path[0] == '\0') {
    parts.kind = AddressParts::kUnixAbstract;
    parts.path_length = room;
  } else {
    parts.kind = AddressParts::kUnixPath;
    parts.path_length = strnlen(sun->sun_path, room);
  }
  std::memcpy(parts.path, sun->sun_path, parts.path_length);
  return parts;
}

int Socket(int family, int type, int protocol) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  const int fd = ::socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
#else
  const int fd = ::socket(family, type, protocol);
#endif
  if (fd < 0) return -errno;
  const int err = Prepare(fd);
  if (err != 0) {
    ::close(fd);
    return err;
  }
  return fd;
}

int Bind(int fd, const Address& address) {
  if (::bind(fd, address.sa(), address.length) != 0) return -errno;
  return 0;
}

int Listen(int fd, int backlog) {
  if (::listen(fd, backlog) != 0) return -errno;
  return 0;
}

int Accept(int fd, Address* peer, int64_t timeout_ns) {
  const ssize_t r = WithWait(fd, POLLIN, timeout_ns, [&]() -> ssize_t {
    for (;;) {
      peer->length = sizeof peer->storage;
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
      const int client = accept4(fd, peer->sa(), &peer->length, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
      const int client = ::accept(fd, peer->sa(), &peer->length);
#endif
      if (client < 0) {
        // The peer reset the connection while it waited in the queue: take the next one
        // (asyncio's accept loop and libuv do the same).
        if (errno == ECONNABORTED) continue;
        return -errno;
      }
      const int err = Prepare(client);
      if (err != 0) {
        ::close(client);
        return err;
      }
      return client;
    }
  });
  return static_cast<int>(r);
}

int Connect(int fd, const Address& address, int64_t timeout_ns) {
  if (::connect(fd, address.sa(), address.length) == 0) return 0;
  const int err = errno;
  // EINTR: the connection continues in the background; re-issuing connect would fail with
  // EALREADY or EISCONN (PEP 475), so treat it as in progress. Unix sockets say EAGAIN when the
  // listener's backlog is full; that is not "in progress" and is returned as is.
  if (err != EINPROGRESS && err != EINTR) return err;
  if (timeout_ns == 0) return EINPROGRESS;
  const int ready = WaitReady(fd, POLLOUT, DeadlineFrom(timeout_ns));
  if (ready < 0) return -ready;
  if (ready == 0) return kTimedOut;
  int so_error = 0;
  socklen_t len = sizeof so_error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0) return errno;
  return so_error;
}

ssize_t Recv(int fd, void* buf, size_t length, int flags, int64_t timeout_ns) {
  return WithWait(fd, POLLIN, timeout_ns, [&]() -> ssize_t {
    const ssize_t n = ::recv(fd, buf, length, flags);
    return n < 0 ? -errno : n;
  });
}

ssize_t RecvFrom(int fd, void* buf, size_t length, int flags, Address* from, int64_t timeout_ns) {
  return WithWait(fd, POLLIN, timeout_ns, [&]() -> ssize_t {
    from->length = sizeof from->storage;
    std::memset(&from->storage, 0, sizeof from->storage);
    const ssize_t n = ::recvfrom(fd, buf, length, flags, from->sa(), &from->length);
    return n < 0 ? -errno : n;
  });
}

ssize_t Send(int fd, const void* buf, size_t length, int flags, int64_t timeout_ns) {
  return WithWait(fd, POLLOUT, timeout_ns, [&]() -> ssize_t {
    const ssize_t n = ::send(fd, buf, length, flags | kNoSignal);
    return n < 0 ? -errno : n;
  });
}

ssize_t SendTo(int fd, const void* buf, size_t length, int flags, const Address& to, int64_t timeout_ns) {
  return WithWait(fd, POLLOUT, timeout_ns, [&]() -> ssize_t {
    const ssize_t n = ::sendto(fd, buf, length, flags | kNoSignal, to.sa(), to.length);
    return n < 0 ? -errno : n;
  });
}

ssize_t SendMsg(int fd, const struct iovec* iov, size_t count, int flags, int64_t timeout_ns) {
  if (count > kIovMax) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return -errno;
    if (type != SOCK_STREAM) return -EMSGSIZE;
  }
  ssize_t total = 0;
  for (size_t start = 0; start < count || (count == 0 && start == 0);) {
    const size_t batch = count - start < kIovMax ? count - start : kIovMax;
    size_t wanted = 0;
    for (size_t i = 0; i < batch; i++) wanted += iov[start + i].iov_len;
    struct msghdr msg = {};
    msg.msg_iov = const_cast<struct iovec*>(iov + start);
    msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(batch);
    // Only the first batch may wait: once bytes are out, return them rather than block again.
    const ssize_t n = WithWait(fd, POLLOUT, total == 0 ? timeout_ns : 0, [&]() -> ssize_t {
      const ssize_t r = ::sendmsg(fd, &msg, flags | kNoSignal);
      return r < 0 ? -errno : r;
    });
    if (n < 0) return total > 0 ? total : n;
    total += n;
    if (static_cast<size_t>(n) < wanted || count == 0) break;
    start += batch;
  }
  return total;
}

int Shutdown(int fd, int how) {
  if (::shutdown(fd, how) != 0) return -errno;
  return 0;
}

int SetSockOpt(int fd, int level, int name, const void* value, socklen_t length) {
  if (::setsockopt(fd, level, name, value, length) != 0) return -errno;
  return 0;
}

int GetSockOpt(int fd, int level, int name, void* value, socklen_t* length) {
  if (::getsockopt(fd, level, name, value, length) != 0) return -errno;
  return 0;
}

int GetSockName(int fd, Address* out) {
  std::memset(out, 0, sizeof *out);
  out->length = sizeof out->storage;
  if (::getsockname(fd, out->sa(), &out->length) != 0) return -errno;
  return 0;
}

int GetPeerName(int fd, Address* out) {
  std::memset(out, 0, sizeof *out);
  out->length = sizeof out->storage;
  if (::getpeername(fd, out->sa(), &out->length) != 0) return -errno;
  return 0;
}

}  // namespace sock
}  // namespace muxloop
