#include "fd.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

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

}  // namespace fd
}  // namespace muxloop
