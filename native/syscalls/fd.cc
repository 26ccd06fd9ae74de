#include "syscalls/fd.h"

#include <fcntl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "backends/selector.h"  // MonotonicNs, kMaxTimeoutNs

namespace muxloop {
namespace fd {

namespace {

// Platforms without pipe2/SOCK_CLOEXEC (macOS) set the flags right after creation.
[[maybe_unused]] int SetFlags(int fd, bool nonblocking) {
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) return -errno;
  if (nonblocking) return SetNonBlocking(fd, true);
  return 0;
}

}  // namespace

int Pipe(int fds[2], bool nonblocking) {
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
  if (pipe2(fds, O_CLOEXEC | (nonblocking ? O_NONBLOCK : 0)) != 0) return -errno;
  return 0;
#else
  if (pipe(fds) != 0) return -errno;
  int err = SetFlags(fds[0], nonblocking);
  if (err == 0) err = SetFlags(fds[1], nonblocking);
  if (err != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  return err;
#endif
}

int SocketPair(int domain, int type, int fds[2], bool nonblocking) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  if (socketpair(domain, type | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0, fds) != 0) return -errno;
  return 0;
#else
  if (socketpair(domain, type, 0, fds) != 0) return -errno;
  int err = SetFlags(fds[0], nonblocking);
  if (err == 0) err = SetFlags(fds[1], nonblocking);
  if (err != 0) {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  return err;
#endif
}

ssize_t Read(int fd, void* buf, size_t len) {
  ssize_t n;
  do {
    n = ::read(fd, buf, len);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

ssize_t Write(int fd, const void* buf, size_t len) {
  ssize_t n;
  do {
    n = ::write(fd, buf, len);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

int Close(int fd) {
  if (::close(fd) != 0 && errno != EINTR) return -errno;
  return 0;
}

int SetNonBlocking(int fd, bool nonblocking) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  const int wanted = nonblocking ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) != 0) return -errno;
  return 0;
}

int GetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  return (flags & O_NONBLOCK) ? 1 : 0;
}

int SelectSetSize() { return FD_SETSIZE; }

namespace {

bool FillSet(const int* fds, size_t n, fd_set* set, int* max_fd) {
  FD_ZERO(set);
  for (size_t i = 0; i < n; i++) {
    if (fds[i] < 0 || fds[i] >= FD_SETSIZE) return false;
    FD_SET(fds[i], set);
    if (fds[i] > *max_fd) *max_fd = fds[i];
  }
  return true;
}

int Collect(int* fds, size_t n, const fd_set* set) {
  int ready = 0;
  for (size_t i = 0; i < n; i++) {
    if (FD_ISSET(fds[i], set)) {
      ready++;
    } else {
      fds[i] = -1;
    }
  }
  return ready;
}

}  // namespace

int Select(int* read_fds, size_t nread, int* write_fds, size_t nwrite, int* except_fds, size_t nexcept,
           int64_t timeout_ns) {
  if (timeout_ns > kMaxTimeoutNs) timeout_ns = kMaxTimeoutNs;
  const int64_t deadline = timeout_ns > 0 ? MonotonicNs() + timeout_ns : 0;
  fd_set rset, wset, xset;
  for (;;) {
    int max_fd = -1;
    // Every fd is range-checked (in FillSet) before it touches a set.
    if (!FillSet(read_fds, nread, &rset, &max_fd) || !FillSet(write_fds, nwrite, &wset, &max_fd) ||
        !FillSet(except_fds, nexcept, &xset, &max_fd)) {
      return -EINVAL;
    }
    struct timeval tv;
    struct timeval* tvp = nullptr;
    if (timeout_ns >= 0) {
      // Round up to whole microseconds: never wake early.
      const int64_t us = (timeout_ns + 999) / 1000;
      tv.tv_sec = static_cast<time_t>(us / 1000000);
      tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
      tvp = &tv;
    }
    const int n = ::select(max_fd + 1, &rset, &wset, &xset, tvp);
    if (n < 0) {
      if (errno != EINTR) return -errno;
      // PEP 475: retry with the time that remains (a last zero-timeout pass once it is gone).
      if (timeout_ns > 0) {
        timeout_ns = deadline - MonotonicNs();
        if (timeout_ns < 0) timeout_ns = 0;
      }
      continue;
    }
    if (n == 0) {
      FD_ZERO(&rset);
      FD_ZERO(&wset);
      FD_ZERO(&xset);
    }
    return Collect(read_fds, nread, &rset) + Collect(write_fds, nwrite, &wset) +
           Collect(except_fds, nexcept, &xset);
  }
}

}  // namespace fd
}  // namespace muxloop
