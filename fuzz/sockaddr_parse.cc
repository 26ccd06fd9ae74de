// libFuzzer target: the socket address parser (native/syscalls/socket.cc MakeInet4, MakeInet6,
// MakeUnix), the code between a JS address and the sockaddr handed to bind/connect/sendto
// (reliability.md B11, B12). Byte 0 picks the family and the next bytes the port, flowinfo and
// scope id; the rest is the host or the path, exactly as the binding passes it (a UTF-8 string
// may hold NULs; an empty Buffer's data pointer may be null). Checked:
//   * a result is 0 or one of the documented refusals, and a refusal says which;
//   * an accepted address has the family, the port, the length of its sockaddr type and never a
//     length beyond sockaddr_storage; a Unix path is copied byte for byte and NUL-terminated
//     inside sun_path; an abstract name is kept exactly, NULs included;
//   * an accepted address survives the round trip through the other direction: DescribeAddress
//     (what FromAddress hands to JS) gives the same port, flowinfo, scope id and path or name, and
//     its host text parses back to the same sockaddr (no truncation such as inet_addr's "1.2.3").
//     fuzz/sockaddr_describe.cc feeds DescribeAddress arbitrary bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "syscalls/socket.h"

namespace sock = muxloop::sock;

namespace {

[[noreturn]] void Fail(const char* what) {
  fprintf(stderr, "sockaddr_parse: %s\n", what);
  abort();
}

void Check(bool ok, const char* what) {
  if (!ok) Fail(what);
}

uint32_t Read32(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                                           (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24); }

void FuzzInet4(const std::string& host, uint16_t port) {
  sock::Address a;
  const int r = sock::MakeInet4(host, port, &a);
  Check(r == 0 || r == sock::kBadHost, "MakeInet4: unexpected result");
  const bool has_nul = host.find('\0') != std::string::npos;
  if (r != 0) {
    in_addr probe;
    // A refusal is right only when inet_pton refuses too (or the text has a NUL in it).
    Check(has_nul || (host != "" && host != "localhost" && host != "<broadcast>" &&
                      inet_pton(AF_INET, host.c_str(), &probe) != 1),
          "MakeInet4 refused an address inet_pton accepts");
    return;
  }
  Check(!has_nul, "MakeInet4 accepted a host with a NUL");
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
  Check(a.length == sizeof(sockaddr_in), "MakeInet4: wrong length");
  Check(sin->sin_family == AF_INET, "MakeInet4: wrong family");
  Check(ntohs(sin->sin_port) == port, "MakeInet4: port changed");
  const sock::AddressParts parts = sock::DescribeAddress(a, AF_INET);
  Check(parts.kind == sock::AddressParts::kInet4 && parts.port == port, "DescribeAddress: not the AF_INET address made");
  sock::Address again;
  Check(sock::MakeInet4(parts.host, parts.port, &again) == 0, "MakeInet4: round trip refused");
  Check(memcmp(&again.storage, &a.storage, sizeof(sockaddr_in)) == 0, "MakeInet4: round trip differs");
}

void FuzzInet6(const std::string& host, uint16_t port, uint32_t flowinfo, uint32_t scope) {
  flowinfo &= 0xFFFFF;  // the binding's range for flowinfo
  sock::Address a;
  const int r = sock::MakeInet6(host, port, flowinfo, scope, &a);
  Check(r == 0 || r == sock::kBadHost || r == sock::kBadScope, "MakeInet6: unexpected result");
  if (r != 0) return;
  Check(host.find('\0') == std::string::npos, "MakeInet6 accepted a host with a NUL");
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
  Check(a.length == sizeof(sockaddr_in6), "MakeInet6: wrong length");
  Check(sin6->sin6_family == AF_INET6, "MakeInet6: wrong family");
  Check(ntohs(sin6->sin6_port) == port, "MakeInet6: port changed");
  Check(ntohl(sin6->sin6_flowinfo) == flowinfo, "MakeInet6: flowinfo changed");
  if (scope != 0) Check(sin6->sin6_scope_id == scope, "MakeInet6: scope id not the one given");
  const size_t percent = host.find('%');
  if (percent == std::string::npos && scope == 0) Check(sin6->sin6_scope_id == 0, "MakeInet6: a scope from nowhere");
  const sock::AddressParts parts = sock::DescribeAddress(a, AF_INET6);
  Check(parts.kind == sock::AddressParts::kInet6 && parts.port == port && parts.flowinfo == flowinfo &&
            parts.scope_id == sin6->sin6_scope_id,
        "DescribeAddress: not the AF_INET6 address made");
  sock::Address again;
  Check(sock::MakeInet6(parts.host, parts.port, parts.flowinfo, parts.scope_id, &again) == 0, "MakeInet6: round trip refused");
  Check(memcmp(&again.storage, &a.storage, sizeof(sockaddr_in6)) == 0, "MakeInet6: round trip differs");
}

void FuzzUnix(const uint8_t* bytes, size_t length) {
  sock::Address a;
  const int r = sock::MakeUnix(length == 0 ? nullptr : bytes, length, &a);
  const size_t base = offsetof(sockaddr_un, sun_path);
  const size_t room = sizeof(reinterpret_cast<sockaddr_un*>(0)->sun_path);
  const bool abstract = length > 0 && bytes[0] == '\0';
  if (r == sock::kPathTooLong) {
    Check(abstract ? length > room : length >= room, "MakeUnix: refused a name that fits");
    return;
  }
  if (r == sock::kPathHasNul) {
    Check(!abstract && memchr(bytes, '\0', length) != nullptr, "MakeUnix: NUL refusal without a NUL");
    return;
  }
  Check(r == 0, "MakeUnix: unexpected result");
  const auto* sun = reinterpret_cast<const sockaddr_un*>(&a.storage);
  Check(sun->sun_family == AF_UNIX, "MakeUnix: wrong family");
  Check(a.length <= sizeof(sockaddr_un) && a.length <= sizeof a.storage, "MakeUnix: length beyond sockaddr_un");
  if (length == 0) {
    Check(a.length == base, "MakeUnix: unnamed address length");
  } else if (abstract) {
    Check(a.length == base + length, "MakeUnix: abstract length");
    Check(memcmp(sun->sun_path, bytes, length) == 0, "MakeUnix: abstract name changed");
  } else {
    Check(length < room, "MakeUnix: accepted a path with no room for its NUL");
    Check(a.length == base + length + 1, "MakeUnix: path length");
    Check(memcmp(sun->sun_path, bytes, length) == 0 && sun->sun_path[length] == '\0', "MakeUnix: path changed");
  }
  const sock::AddressParts parts = sock::DescribeAddress(a, AF_UNIX);
  const sock::AddressParts::Kind kind = length == 0 ? sock::AddressParts::kUnixUnnamed
                                        : abstract  ? sock::AddressParts::kUnixAbstract
                                                    : sock::AddressParts::kUnixPath;
  Check(parts.kind == kind && parts.path_length == length && (length == 0 || memcmp(parts.path, bytes, length) == 0),
        "DescribeAddress: not the AF_UNIX name made");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 11) return 0;
  const uint8_t family = data[0] % 3;
  const uint16_t port = static_cast<uint16_t>(data[1] | (data[2] << 8));
  const uint32_t flowinfo = Read32(data + 3);
  // Mostly 0 (the text's own scope, if any), sometimes a given scope id.
  const uint32_t scope = (data[7] & 0x80) ? Read32(data + 7) & 0x7FFFFFFF : 0;
  const uint8_t* rest = data + 11;
  const size_t n = size - 11;
  switch (family) {
    case 0: FuzzInet4(std::string(reinterpret_cast<const char*>(rest), n), port); break;
    case 1: FuzzInet6(std::string(reinterpret_cast<const char*>(rest), n), port, flowinfo, scope); break;
    case 2: FuzzUnix(rest, n); break;
  }
  return 0;
}
