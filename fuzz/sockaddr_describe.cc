// libFuzzer target: the sockaddr -> JS direction, sock::DescribeAddress (native/syscalls/socket.cc),
// what accept, recvfrom, getsockname and getpeername hand to bindings/socket_binding.cc
// FromAddress. The kernel writes those bytes and their length; here they are arbitrary. Byte 0
// picks the socket's family (AF_INET, AF_INET6, AF_UNIX or another), bytes 1-2 the reported
// length (also beyond the storage: a kernel reports the whole length of an address it truncated),
// byte 3 the family field unless it is 0xFF (then the input's own bytes), the rest the storage.
// Checked:
//   * nothing past the reported length (or the storage) is read: those bytes are poisoned (ASan);
//   * the kind follows from the family field and the length alone, as documented in socket.h;
//   * an Internet address is what its bytes say: the host text parses back (inet_pton) to the same
//     16 or 4 bytes, and port, flowinfo and scope id are the fields in host order; the parser
//     (MakeInet4/MakeInet6) builds the same sockaddr again from them;
//   * a path is sun_path up to its first NUL or the length, never longer than sun_path and never
//     holding a NUL; an abstract name is exactly the bytes within the length, its leading NUL
//     included; MakeUnix takes either back to the same name (a path that fills sun_path with no
//     room for a NUL is the one refusal: kPathTooLong).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sanitizer/asan_interface.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "syscalls/socket.h"

namespace sock = muxloop::sock;
using Parts = sock::AddressParts;

namespace {

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "sockaddr_describe: %s\n", what);
  abort();
}

void Check(bool ok, const char* what) {
  if (!ok) Fail(what);
}

constexpr size_t kBase = offsetof(sockaddr_un, sun_path);
constexpr size_t kRoom = sizeof(sockaddr_un) - kBase;

void CheckInet(const sock::Address& a, const Parts& p, size_t used) {
  if (a.storage.ss_family == AF_INET) {
    Check(p.kind == (used >= sizeof(sockaddr_in) ? Parts::kInet4 : Parts::kNone), "AF_INET: wrong kind for the length");
    if (p.kind == Parts::kNone) return;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
    in_addr back;
    Check(inet_pton(AF_INET, p.host, &back) == 1 && back.s_addr == sin->sin_addr.s_addr, "AF_INET: host text is not the address");
    Check(p.port == ntohs(sin->sin_port), "AF_INET: port");
    sock::Address again;
    Check(sock::MakeInet4(p.host, p.port, &again) == 0, "AF_INET: the parser refused the described host");
    const auto* sin2 = reinterpret_cast<const sockaddr_in*>(&again.storage);
    Check(sin2->sin_addr.s_addr == sin->sin_addr.s_addr && sin2->sin_port == sin->sin_port, "AF_INET: round trip differs");
    return;
  }
  Check(p.kind == (used >= sizeof(sockaddr_in6) ? Parts::kInet6 : Parts::kNone), "AF_INET6: wrong kind for the length");
  if (p.kind == Parts::kNone) return;
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
  in6_addr back;
  Check(inet_pton(AF_INET6, p.host, &back) == 1 && memcmp(&back, &sin6->sin6_addr, sizeof back) == 0,
        "AF_INET6: host text is not the address");
  Check(p.port == ntohs(sin6->sin6_port), "AF_INET6: port");
  Check(p.flowinfo == ntohl(sin6->sin6_flowinfo), "AF_INET6: flowinfo");
  Check(p.scope_id == sin6->sin6_scope_id, "AF_INET6: scope id");
  // JS may pass back a flowinfo in [0, 0xFFFFF] only (the 20-bit flow label, CPython's range too);
  // a kernel's traffic-class bits above it come out but cannot go back in.
  if (p.flowinfo > 0xFFFFF) return;
  sock::Address again;
  Check(sock::MakeInet6(p.host, p.port, p.flowinfo, p.scope_id, &again) == 0, "AF_INET6: the parser refused the described host");
  const auto* back6 = reinterpret_cast<const sockaddr_in6*>(&again.storage);
  Check(memcmp(&back6->sin6_addr, &sin6->sin6_addr, sizeof back6->sin6_addr) == 0 && back6->sin6_port == sin6->sin6_port &&
            back6->sin6_flowinfo == sin6->sin6_flowinfo && back6->sin6_scope_id == sin6->sin6_scope_id,
        "AF_INET6: round trip differs");
}

void CheckUnix(const sock::Address& a, const Parts& p, size_t used) {
  if (used <= kBase) {
    Check(p.kind == Parts::kUnixUnnamed && p.path_length == 0, "AF_UNIX: short address is not the unnamed one");
    return;
  }
  const auto* sun = reinterpret_cast<const sockaddr_un*>(&a.storage);
  const size_t room = (used < sizeof(sockaddr_un) ? used : sizeof(sockaddr_un)) - kBase;
  Check(p.path_length <= kRoom, "AF_UNIX: name longer than sun_path");
  sock::Address again;
  if (sun->sun_path[0] == '\0') {
    Check(p.kind == Parts::kUnixAbstract, "AF_UNIX: a leading NUL is not an abstract name");
    Check(p.path_length == room && memcmp(p.path, sun->sun_path, room) == 0, "AF_UNIX: abstract name is not the bytes given");
    Check(sock::MakeUnix(reinterpret_cast<const uint8_t*>(p.path), p.path_length, &again) == 0, "AF_UNIX: abstract name refused");
    const auto* back = reinterpret_cast<const sockaddr_un*>(&again.storage);
    Check(again.length == kBase + p.path_length && memcmp(back->sun_path, p.path, p.path_length) == 0,
          "AF_UNIX: abstract round trip differs");
    return;
  }
  Check(p.kind == Parts::kUnixPath, "AF_UNIX: not a path");
  Check(p.path_length >= 1 && p.path_length <= room && memcmp(p.path, sun->sun_path, p.path_length) == 0, "AF_UNIX: path is not the bytes given");
  Check(memchr(p.path, '\0', p.path_length) == nullptr, "AF_UNIX: NUL inside the path");
  Check(p.path_length == room || sun->sun_path[p.path_length] == '\0', "AF_UNIX: path cut before its NUL or the length");
  const int r = sock::MakeUnix(reinterpret_cast<const uint8_t*>(p.path), p.path_length, &again);
  if (p.path_length == kRoom) {
    Check(r == sock::kPathTooLong, "AF_UNIX: a path with no room for its NUL was accepted back");
    return;
  }
  Check(r == 0, "AF_UNIX: path refused");
  const Parts twice = sock::DescribeAddress(again, AF_UNIX);
  Check(twice.kind == Parts::kUnixPath && twice.path_length == p.path_length && memcmp(twice.path, p.path, p.path_length) == 0,
        "AF_UNIX: path round trip differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  static const int kFamilies[] = {AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC};
  const int family = kFamilies[data[0] % 4];
  // On the heap, so that the poisoned tail is never a stack slot reused after this call.
  auto* a = new sock::Address;
  memset(a, 0, sizeof *a);
  const size_t n = size - 4 < sizeof a->storage ? size - 4 : sizeof a->storage;
  memcpy(&a->storage, data + 4, n);
  if (data[3] != 0xFF) a->storage.ss_family = static_cast<sa_family_t>(kFamilies[data[3] % 4]);
  a->length = static_cast<socklen_t>(data[1] | (data[2] << 8));
  const size_t used = a->length < sizeof a->storage ? a->length : sizeof a->storage;
  const sa_family_t field = a->storage.ss_family;
  auto* tail = reinterpret_cast<char*>(&a->storage) + used;
  ASAN_POISON_MEMORY_REGION(tail, sizeof a->storage - used);
  const Parts p = sock::DescribeAddress(*a, family);
  ASAN_UNPOISON_MEMORY_REGION(tail, sizeof a->storage - used);
  Check(p.host[sizeof p.host - 1] == '\0', "host text not terminated");
  const int actual = used >= sizeof(sa_family_t) ? field : AF_UNSPEC;
  if (actual == AF_INET || actual == AF_INET6) {
    CheckInet(*a, p, used);
  } else if (actual == AF_UNIX || (actual == AF_UNSPEC && family == AF_UNIX)) {
    CheckUnix(*a, p, used);
  } else {
    Check(p.kind == Parts::kNone, "an address of no known family");
  }
  delete a;
  return 0;
}
