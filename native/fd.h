// Syscall wrappers for plain fds. They return -errno on failure and never throw; no N-API here.
// Every fd is created close-on-exec atomically, and non-blocking where asked.
#ifndef MUXLOOP_FD_H_
#define MUXLOOP_FD_H_

#include <sys/types.h>

#include <cstddef>

namespace muxloop {
namespace fd {

// pipe2 with O_CLOEXEC (and O_NONBLOCK when nonblocking). fds[0] reads, fds[1] writes.
int Pipe(int fds[2], bool nonblocking);
// socketpair with SOCK_CLOEXEC (and SOCK_NONBLOCK when nonblocking).
int SocketPair(int domain, int type, int fds[2], bool nonblocking);
// read/write; EINTR is retried (nothing was transferred). Return bytes or -errno.
ssize_t Read(int fd, void* buf, size_t len);
ssize_t Write(int fd, const void* buf, size_t len);
// close exactly once: EINTR is not retried (on Linux the fd is released whatever close returns).
int Close(int fd);
int SetNonBlocking(int fd, bool nonblocking);
// 1 if O_NONBLOCK is set, 0 if not, -errno.
int GetNonBlocking(int fd);

}  // namespace fd
}  // namespace muxloop

#endif  // MUXLOOP_FD_H_
