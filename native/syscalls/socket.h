// Socket syscall wrappers. They return -errno on failure and never throw; no N-API here.
//
//  * Every socket is created close-on-exec and non-blocking atomically (SOCK_CLOEXEC|SOCK_NONBLOCK,
//    accept4); on macOS, where there is no MSG_NOSIGNAL, SO_NOSIGPIPE is set at creation.
//  * Blocking and timeout behaviour is emulated over the non-blocking fd, as CPython does for
//    sockets with a timeout: each operation takes `timeout_ns` (< 0 waits forever, 0 never waits,
//    > 0 waits at most that long). When the kernel says EAGAIN and the caller may wait, poll(2)
//    waits for readiness (retrying EINTR with the remaining time, PEP 475) and the call is retried.
//    A timeout that expires returns kTimedOut, which cannot be confused with a kernel ETIMEDOUT.
//    With timeout 0, EAGAIN comes back as -EAGAIN.
//  * connect is never re-issued after EINTR: the connection is in progress (PEP 475), so the
//    result is waited for and read from SO_ERROR.
//  * Addresses are parsed with inet_pton (never inet_addr, which accepts "1.2.3" and truncates),
//    and Unix paths are refused, never truncated, when they do not fit in sun_path.
#ifndef MUXLOOP_SOCKET_H_
#define MUXLOOP_SOCKET_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace muxloop {
namespace sock {

// Returned instead of -errno when a wait with a positive timeout ran out. Not an errno value.
constexpr int kTimedOut = -0x10000;

struct Address {
  struct sockaddr_storage storage;
  socklen_t length;
  const struct sockaddr* sa() const { return reinterpret_cast<const struct sockaddr*>(&storage); }
  struct sockaddr* sa() { return reinterpret_cast<struct sockaddr*>(&storage); }
};

// Address construction. Return 0, or a negative reason the binding turns into an argument error.
constexpr int kBadHost = -1;       // not an IPv4/IPv6 literal of the family
constexpr int kBadScope = -2;      // "%scope" that is neither a number nor an interface name
constexpr int kPathTooLong = -3;   // does not fit in sun_path (with its terminating NUL)
constexpr int kPathHasNul = -4;    // a filesystem path with an embedded NUL
// host: "" (any), "localhost", "<broadcast>" (IPv4) or a numeric literal; IPv6 text may end in
// "%scope". scope_id, when non-zero, overrides a textual scope.
int MakeInet4(const std::string& host, uint16_t port, Address* out);
int MakeInet6(const std::string& host, uint16_t port, uint32_t flowinfo, uint32_t scope_id, Address* out);
// bytes[0] == '\0' is a Linux abstract name; an empty path is the unnamed address (autobind).
int MakeUnix(const uint8_t* bytes, size_t length, Address* out);

// A kernel sockaddr (accept, recvfrom, getsockname, getpeername) taken apart into what JS gets
// (bindings/socket_binding.cc FromAddress builds the values): Python's shapes, as its
// makesockaddr. Only the first `length` bytes are read, a length beyond the storage counting as
// the storage (a kernel reports the whole length of an address it truncated).
struct AddressParts {
  enum Kind {
    kNone,          // no address, an unknown family, or an AF_INET/AF_INET6 one cut short: null
    kInet4,         // [host, port]
    kInet6,         // [host, port, flowinfo, scopeId]
    kUnixPath,      // a path string: sun_path up to its first NUL or the length
    kUnixAbstract,  // a Linux abstract name, its leading NUL included: a Buffer
    kUnixUnnamed,   // '' (an unbound socket, an autobound peer on some systems)
  };
  Kind kind = kNone;
  char host[INET6_ADDRSTRLEN] = {0};  // inet_ntop's text, NUL-terminated
  uint16_t port = 0;                   // host byte order, as are flowinfo and scope_id
  uint32_t flowinfo = 0;
  uint32_t scope_id = 0;
  char path[sizeof(struct sockaddr_un) - offsetof(struct sockaddr_un, sun_path)] = {0};
  size_t path_length = 0;  // bytes of `path` that belong to the name (no terminator counted)
};
// `family` is the socket's: an address too short to hold its family field (AF_UNSPEC) is the
// unnamed Unix address on an AF_UNIX socket and kNone on any other.
AddressParts DescribeAddress(const Address& address, int family);

// socket(2); returns the fd or -errno.
int Socket(int family, int type, int protocol);
int Bind(int fd, const Address& address);
int Listen(int fd, int backlog);
// accept4(CLOEXEC|NONBLOCK); returns the new fd or -errno. ECONNABORTED (a connection that died in
// the queue) is skipped and the next one is taken.
int Accept(int fd, Address* peer, int64_t timeout_ns);
// Returns 0 when connected, a *positive* errno (connect_ex style: EINPROGRESS when timeout_ns == 0
// and the connection is under way, the SO_ERROR value after a wait), or kTimedOut.
int Connect(int fd, const Address& address, int64_t timeout_ns);
// Byte counts, 0 at EOF, or -errno / kTimedOut.
ssize_t Recv(int fd, void* buf, size_t length, int flags, int64_t timeout_ns);
ssize_t RecvFrom(int fd, void* buf, size_t length, int flags, Address* from, int64_t timeout_ns);
ssize_t Send(int fd, const void* buf, size_t length, int flags, int64_t timeout_ns);
ssize_t SendTo(int fd, const void* buf, size_t length, int flags, const Address& to, int64_t timeout_ns);
// Gathers `count` buffers. Above IOV_MAX buffers, a stream socket is written in IOV_MAX-sized
// batches until one is short or would block (the bytes already sent are returned); a datagram
// cannot be split, so it fails with -EMSGSIZE as the kernel would.
ssize_t SendMsg(int fd, const struct iovec* iov, size_t count, int flags, int64_t timeout_ns);
int Shutdown(int fd, int how);
int SetSockOpt(int fd, int level, int name, const void* value, socklen_t length);
int GetSockOpt(int fd, int level, int name, void* value, socklen_t* length);
int GetSockName(int fd, Address* out);
int GetPeerName(int fd, Address* out);

// Waits until fd is readable (events has POLLIN) or writable (POLLOUT), or the deadline passes.
// deadline_ns < 0 waits forever. Returns 1 when ready, 0 on timeout, -errno.
int WaitReady(int fd, short events, int64_t deadline_ns);
// now + timeout, or -1 (forever) for a negative timeout.
int64_t DeadlineFrom(int64_t timeout_ns);

}  // namespace sock
}  // namespace muxloop

#endif  // MUXLOOP_SOCKET_H_
