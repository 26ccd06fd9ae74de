// Syscall wrappers for plain fds. They return -errno on failure and never throw; no N-API here.
// Every fd is created close-on-exec atomically, and non-blocking where asked.
#ifndef MUXLOOP_FD_H_
#define MUXLOOP_FD_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

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

// select(2) over three fd lists, like Python's select.select. On return, each entry that is not
// ready is replaced by -1; the result is the number of ready entries, or -errno. Every fd must be in
// [0, FD_SETSIZE): the caller checks, and an fd outside gives -EINVAL before any FD_SET (an FD_SET
// past the set is an out-of-bounds write, reliability.md 1.4). timeout_ns < 0 blocks; EINTR is
// retried with the remaining time.
int Select(int* read_fds, size_t nread, int* write_fds, size_t nwrite, int* except_fds, size_t nexcept,
           int64_t timeout_ns);
// FD_SETSIZE of this build.
int SelectSetSize();

}  // namespace fd
}  // namespace muxloop

#endif  // MUXLOOP_FD_H_
