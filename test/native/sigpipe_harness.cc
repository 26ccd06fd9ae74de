// Standalone harness for what Node cannot test (reliability.md B6, B7): the native socket layer with
// SIGPIPE at SIG_DFL, as in an embedder built with NODE_SHARED_MODE. Linked without V8 against
// native/syscalls/socket.cc, syscalls/fd.cc and backends/selector.cc; run by test/socket-native.test.ts. Exit 0 and "ok" on
// success; a failed check prints it and exits 1; a SIGPIPE kills the process (the test sees that).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "syscalls/fd.h"
#include "syscalls/socket.h"

using namespace muxloop;

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::printf("FAILED line %d: %s\n", __LINE__, #cond);           \
      failures++;                                                     \
    }                                                                 \
  } while (0)

int main() {
  signal(SIGPIPE, SIG_DFL);

  // B6: send/sendmsg to a socket whose peer has gone: EPIPE, and the process lives (MSG_NOSIGNAL).
  int sv[2];
  CHECK(fd::SocketPair(AF_UNIX, SOCK_STREAM, sv, true) == 0);
  close(sv[1]);
  CHECK(sock::Send(sv[0], "x", 1, 0, 0) == -EPIPE);
  struct iovec iov[2] = {{const_cast<char*>("a"), 1}, {const_cast<char*>("b"), 1}};
  CHECK(sock::SendMsg(sv[0], iov, 2, 0, 0) == -EPIPE);
  close(sv[0]);

  // The same over TCP loopback after the peer closed: EPIPE or ECONNRESET, never a signal.
  const int listener = sock::Socket(AF_INET, SOCK_STREAM, 0);
  sock::Address any;
  CHECK(sock::MakeInet4("127.0.0.1", 0, &any) == 0);
  CHECK(sock::Bind(listener, any) == 0);
  CHECK(sock::Listen(listener, 1) == 0);
  sock::Address bound;
  CHECK(sock::GetSockName(listener, &bound) == 0);
  const int client = sock::Socket(AF_INET, SOCK_STREAM, 0);
  CHECK(sock::Connect(client, bound, 5000000000LL) == 0);
  sock::Address peer;
  const int server = sock::Accept(listener, &peer, 5000000000LL);
  CHECK(server >= 0);
  close(server);
  ssize_t last = 0;
  for (int i = 0; i < 100 && last >= 0; i++) last = sock::Send(client, "data", 4, 0, 1000000000LL);
  CHECK(last == -EPIPE || last == -ECONNRESET);
  close(client);
  close(listener);

  // B7: write() on a pipe has no MSG_NOSIGNAL. The documented requirement for embedders is to ignore
  // or block SIGPIPE; with it blocked, EPIPE is surfaced.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  CHECK(sigprocmask(SIG_BLOCK, &set, nullptr) == 0);
  int p[2];
  CHECK(fd::Pipe(p, false) == 0);
  close(p[0]);
  CHECK(fd::Write(p[1], "x", 1) == -EPIPE);
  close(p[1]);

  // Address decoders refuse, never truncate (B11, B12), without V8 in the way.
  sock::Address a;
  CHECK(sock::MakeInet4("1.2.3", 0, &a) == sock::kBadHost);
  CHECK(sock::MakeInet4("256.1.1.1", 0, &a) == sock::kBadHost);
  CHECK(sock::MakeInet4(std::string("127.0.0.1\0x", 11), 0, &a) == sock::kBadHost);
  CHECK(sock::MakeInet6("fe80::1%", 0, 0, 0, &a) == sock::kBadScope);
  CHECK(sock::MakeInet6("fe80::1%7", 0, 0, 0, &a) == 0);
  CHECK(reinterpret_cast<struct sockaddr_in6*>(&a.storage)->sin6_scope_id == 7);
  const std::string long_path(108, 'a');
  CHECK(sock::MakeUnix(reinterpret_cast<const uint8_t*>(long_path.data()), 108, &a) == sock::kPathTooLong);
  CHECK(sock::MakeUnix(reinterpret_cast<const uint8_t*>(long_path.data()), 107, &a) == 0);
  const uint8_t with_nul[] = {'a', 0, 'b'};
  CHECK(sock::MakeUnix(with_nul, 3, &a) == sock::kPathHasNul);

  if (failures == 0) std::printf("ok\n");
  return failures == 0 ? 0 : 1;
}
