// JS surface of socket.h and fd::Select: argument checks and conversion only.
//
// Calls that may block take a timeout in seconds (< 0 forever, 0 never, > 0 at most that long) and
// return sentinels instead of throwing for the two outcomes a caller must branch on cheaply:
// -1 "would block" (EAGAIN with timeout 0) and -2 "timed out". OS errors throw
// Error{code, errno, syscall}; bad arguments throw TypeError/RangeError before any syscall. Every
// number is converted (without calling valueOf, see binding_util.h) before a buffer's data pointer
// is taken, and no JS runs between taking a pointer and the syscall that uses it.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "syscalls/fd.h"
#include "syscalls/socket.h"

namespace muxloop {
namespace {

constexpr int kWouldBlock = -1;
constexpr int kTimedOutSentinel = -2;
constexpr int64_t kMaxInt32 = 2147483647;

int ToFamily(const Napi::Value& value) { return static_cast<int>(ToInteger(value, "family", 0, 255)); }

int ToFlags(const Napi::Value& value) {
  if (value.IsUndefined()) return 0;
  return static_cast<int>(ToInteger(value, "flags", 0, kMaxInt32));
}

std::string Join(const char* a, int b) { return std::string(a) + std::to_string(b); }

// A readable form of an address for error messages ("127.0.0.1:80", "[::1]:80", "/tmp/x").
std::string Describe(const sock::Address& address) {
  const sock::AddressParts parts = sock::DescribeAddress(address, address.storage.ss_family);
  switch (parts.kind) {
    case sock::AddressParts::kInet4:
      return std::string(parts.host) + ":" + std::to_string(parts.port);
    case sock::AddressParts::kInet6:
      return "[" + std::string(parts.host) + "]:" + std::to_string(parts.port);
    case sock::AddressParts::kUnixPath:
      return std::string(parts.path, parts.path_length);
    case sock::AddressParts::kUnixAbstract:
      return "@" + std::string(parts.path + 1, parts.path_length - 1);
    case sock::AddressParts::kUnixUnnamed:
      return "unnamed unix socket";
    case sock::AddressParts::kNone:
      break;
  }
  return "address family " + std::to_string(address.storage.ss_family);
}

std::string ToHost(const Napi::Value& value) {
  if (!value.IsString()) {
    throw TypeErrorWithCode(value.Env(), "ERR_INVALID_ARG_TYPE", "The host must be of type string");
  }
  return value.As<Napi::String>().Utf8Value();
}

// A JS address in Python's shape for `family` -> sockaddr. Refuses, never truncates.
sock::Address ToAddress(const Napi::Value& value, int family) {
  Napi::Env env = value.Env();
  sock::Address address;
  int err = 0;
  std::string shown;
  if (family == AF_INET || family == AF_INET6) {
    if (!value.IsArray()) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE",
                              family == AF_INET ? "An AF_INET address must be an array [host, port]"
                                                : "An AF_INET6 address must be an array [host, port, flowinfo?, scopeId?]");
    }
    Napi::Array array = value.As<Napi::Array>();
    const uint32_t n = array.Length();
    if ((family == AF_INET && n != 2) || (family == AF_INET6 && (n < 2 || n > 4))) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_VALUE",
                              "Wrong number of address fields: " + std::to_string(n));
    }
    // Take every element before converting any, so getters cannot observe a half-built address.
    Napi::Value host_value = array.Get(0u);
    Napi::Value port_value = array.Get(1u);
    Napi::Value flow_value = n > 2 ? array.Get(2u) : Napi::Value();
    Napi::Value scope_value = n > 3 ? array.Get(3u) : Napi::Value();
    shown = ToHost(host_value);
    const uint16_t port = static_cast<uint16_t>(ToInteger(port_value, "port", 0, 65535));
    if (family == AF_INET) {
      err = sock::MakeInet4(shown, port, &address);
    } else {
      const uint32_t flowinfo = n > 2 ? static_cast<uint32_t>(ToInteger(flow_value, "flowinfo", 0, 0xFFFFF)) : 0;
      const uint32_t scope = n > 3 ? static_cast<uint32_t>(ToInteger(scope_value, "scopeId", 0, 0xFFFFFFFFLL)) : 0;
      err = sock::MakeInet6(shown, port, flowinfo, scope, &address);
    }
  } else if (family == AF_UNIX) {
    if (value.IsString()) {
      shown = value.As<Napi::String>().Utf8Value();
      err = sock::MakeUnix(reinterpret_cast<const uint8_t*>(shown.data()), shown.size(), &address);
    } else if (value.IsTypedArray() || value.IsDataView()) {
      ByteRange bytes = ToByteRange(value, env.Undefined(), env.Undefined(), "address");
      err = sock::MakeUnix(bytes.data, bytes.length, &address);
      shown = "<bytes>";
    } else {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "An AF_UNIX address must be a string or a Buffer");
    }
  } else {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "Unsupported address family " + std::to_string(family));
  }
  switch (err) {
    case 0:
      return address;
    case sock::kBadHost:
      throw TypeErrorWithCode(env, "ERR_INVALID_IP_ADDRESS",
                              "Invalid " + std::string(family == AF_INET ? "IPv4" : "IPv6") + " address: '" + shown +
                                  "' (numeric addresses, '' and 'localhost' only; resolve names first)");
    case sock::kBadScope:
      throw TypeErrorWithCode(env, "ERR_INVALID_IP_ADDRESS", "Invalid IPv6 scope in '" + shown + "'");
    case sock::kPathTooLong:
      throw RangeErrorWithCode(env, "ENAMETOOLONG",
                               "AF_UNIX path too long (at most " +
                                   std::to_string(sizeof(((struct sockaddr_un*)nullptr)->sun_path) - 1) + " bytes)");
    case sock::kPathHasNul:
      throw RangeErrorWithCode(env, "ERR_INVALID_ARG_VALUE", "AF_UNIX path must not contain NUL bytes");
    default:
      throw RangeErrorWithCode(env, "ERR_INVALID_ARG_VALUE", "Invalid address");
  }
}

// sockaddr -> Python's shapes (sock::DescribeAddress takes it apart): [host, port],
// [host, port, flowinfo, scopeId], a path string, a Buffer for a Linux abstract name, '' for an
// unnamed Unix socket, null when there is no address. The host goes in as const char*: a
// Napi::String would be copied through a std::string by Object::Set (tls_binding.cc, Info).
Napi::Value FromAddress(Napi::Env env, const sock::Address& address, int family) {
  const sock::AddressParts parts = sock::DescribeAddress(address, family);
  switch (parts.kind) {
    case sock::AddressParts::kInet4: {
      Napi::Array result = Napi::Array::New(env, 2);
      result.Set(0u, static_cast<const char*>(parts.host));
      result.Set(1u, Napi::Number::New(env, parts.port));
      return result;
    }
    case sock::AddressParts::kInet6: {
      Napi::Array result = Napi::Array::New(env, 4);
      result.Set(0u, static_cast<const char*>(parts.host));
      result.Set(1u, Napi::Number::New(env, parts.port));
      result.Set(2u, Napi::Number::New(env, parts.flowinfo));
      result.Set(3u, Napi::Number::New(env, parts.scope_id));
      return result;
    }
    case sock::AddressParts::kUnixPath:
      return Napi::String::New(env, parts.path, parts.path_length);
    case sock::AddressParts::kUnixAbstract:
      return Napi::Buffer<char>::Copy(env, parts.path, parts.path_length);
    case sock::AddressParts::kUnixUnnamed:
      return Napi::String::New(env, "");
    case sock::AddressParts::kNone:
      break;
  }
  return env.Null();
}

// Receiving into zero bytes would return 0, which every caller reads as EOF (reliability.md B3).
void RequireRoom(Napi::Env env, const ByteRange& range) {
  if (range.length == 0) {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "cannot receive into 0 bytes: 0 is reserved for EOF");
  }
}

// Result of a call that may block: count, or a sentinel; anything else throws.
Napi::Value Transferred(Napi::Env env, ssize_t n, const char* syscall, int fd) {
  if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
  if (n == -EAGAIN || n == -EWOULDBLOCK) return Napi::Number::New(env, kWouldBlock);
  if (n == sock::kTimedOut) return Napi::Number::New(env, kTimedOutSentinel);
  throw ErrnoError(env, static_cast<int>(n), syscall, Join("fd ", fd));
}

// socket(family, type, protocol) -> fd, close-on-exec and non-blocking.
Napi::Value SocketFn(const Napi::CallbackInfo& info) {
  const int family = ToFamily(info[0]);
  const int type = static_cast<int>(ToInteger(info[1], "type", 0, kMaxInt32));
  const int protocol = info[2].IsUndefined() ? 0 : static_cast<int>(ToInteger(info[2], "protocol", 0, kMaxInt32));
  const int fd = sock::Socket(family, type, protocol);
  if (fd < 0) throw ErrnoError(info.Env(), fd, "socket");
  AddonData::Get(info.Env())->OwnNew({fd});
  return Napi::Number::New(info.Env(), fd);
}

// adopt(fd): the addon now owns an fd it did not create (closed at environment teardown).
void AdoptFn(const Napi::CallbackInfo& info) { AddonData::Get(info.Env())->Own(ToFd(info[0])); }

void BindFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const sock::Address address = ToAddress(info[2], ToFamily(info[1]));
  const int err = sock::Bind(fd, address);
  if (err != 0) throw ErrnoError(info.Env(), err, "bind", Describe(address));
}

void ListenFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const int backlog = static_cast<int>(ToInteger(info[1], "backlog", 0, kMaxInt32));
  const int err = sock::Listen(fd, backlog);
  if (err != 0) throw ErrnoError(info.Env(), err, "listen", Join("fd ", fd));
}

// accept(fd, family, timeout) -> [fd, address] | -1 | -2
Napi::Value AcceptFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0]);
  const int family = ToFamily(info[1]);
  const int64_t timeout = ToTimeoutNs(info[2]);
  sock::Address peer;
  const int client = sock::Accept(fd, &peer, timeout);
  if (client < 0) return Transferred(env, client, "accept", fd);
  // The address first: if it cannot be built (F10), the new connection is closed, not leaked.
  Napi::Value address;
  try {
    address = FromAddress(env, peer, family);
  } catch (...) {
    fd::Close(client);
    throw;
  }
  AddonData::Get(env)->OwnNew({client});
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, client));
  result.Set(1u, address);
  return result;
}

// connect(fd, family, address, timeout) -> 0, a positive errno, or -2 when the wait ran out.
Napi::Value ConnectFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const sock::Address address = ToAddress(info[2], ToFamily(info[1]));
  const int64_t timeout = ToTimeoutNs(info[3]);
  const int r = sock::Connect(fd, address, timeout);
  return Napi::Number::New(info.Env(), r == sock::kTimedOut ? kTimedOutSentinel : r);
}

// recv(fd, view, offset?, length?, flags?, timeout?) -> bytes, 0 at EOF, -1, -2
Napi::Value RecvFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const int flags = ToFlags(info[4]);
  const int64_t timeout = ToTimeoutNs(info[5]);
  ByteRange range = ToByteRange(info[1], info[2], info[3]);
  RequireRoom(info.Env(), range);
  return Transferred(info.Env(), sock::Recv(fd, range.data, range.length, flags, timeout), "recv", fd);
}

// recvfrom(fd, family, view, offset?, length?, flags?, timeout?) -> [bytes, address] | -1 | -2
Napi::Value RecvFromFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0]);
  const int family = ToFamily(info[1]);
  const int flags = ToFlags(info[5]);
  const int64_t timeout = ToTimeoutNs(info[6]);
  ByteRange range = ToByteRange(info[2], info[3], info[4]);
  RequireRoom(env, range);
  sock::Address from;
  const ssize_t n = sock::RecvFrom(fd, range.data, range.length, flags, &from, timeout);
  if (n < 0) return Transferred(env, n, "recvfrom", fd);
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(n)));
  result.Set(1u, FromAddress(env, from, family));
  return result;
}

// send(fd, view, offset?, length?, flags?, timeout?) -> bytes sent, -1, -2
Napi::Value SendFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const int flags = ToFlags(info[4]);
  const int64_t timeout = ToTimeoutNs(info[5]);
  ByteRange range = ToByteRange(info[1], info[2], info[3]);
  return Transferred(info.Env(), sock::Send(fd, range.data, range.length, flags, timeout), "send", fd);
}

// sendto(fd, family, address, view, offset?, length?, flags?, timeout?) -> bytes sent, -1, -2
Napi::Value SendToFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const sock::Address to = ToAddress(info[2], ToFamily(info[1]));
  const int flags = ToFlags(info[6]);
  const int64_t timeout = ToTimeoutNs(info[7]);
  ByteRange range = ToByteRange(info[3], info[4], info[5]);
  return Transferred(info.Env(), sock::SendTo(fd, range.data, range.length, flags, to, timeout), "sendto", fd);
}

// sendmsg(fd, views[], flags?, timeout?) -> bytes sent, -1, -2
Napi::Value SendMsgFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0]);
  if (!info[1].IsArray()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The \"buffers\" argument must be an array of buffers");
  }
  const int flags = ToFlags(info[2]);
  const int64_t timeout = ToTimeoutNs(info[3]);
  Napi::Array array = info[1].As<Napi::Array>();
  const uint32_t count = array.Length();
  // Two passes: every element is fetched first (an index getter can run JS, which could detach a
  // buffer whose pointer we already hold), then the pointers are taken with no JS in between.
  std::vector<Napi::Value> views;
  std::vector<struct iovec> iov;
  OrEnomem(env, [&] {
    views.reserve(count);
    iov.resize(count);
  });
  for (uint32_t i = 0; i < count; i++) views.push_back(array.Get(i));
  for (uint32_t i = 0; i < count; i++) {
    ByteRange range = ToByteRange(views[i], env.Undefined(), env.Undefined(), "buffers[i]");
    iov[i].iov_base = range.data;
    iov[i].iov_len = range.length;
  }
  return Transferred(env, sock::SendMsg(fd, iov.data(), iov.size(), flags, timeout), "sendmsg", fd);
}

void ShutdownFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const int how = static_cast<int>(ToInteger(info[1], "how", 0, 2));
  const int err = sock::Shutdown(fd, how);
  if (err != 0) throw ErrnoError(info.Env(), err, "shutdown", Join("fd ", fd));
}

// setsockopt(fd, level, name, value): value is an integer, a boolean, [onoff, seconds] for
// SO_LINGER, or raw bytes.
void SetSockOptFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0]);
  const int level = static_cast<int>(ToInteger(info[1], "level", 0, kMaxInt32));
  const int name = static_cast<int>(ToInteger(info[2], "option", 0, kMaxInt32));
  const Napi::Value value = info[3];
  int err;
  if (value.IsNumber() || value.IsBoolean()) {
    const int integer = value.IsBoolean() ? (value.As<Napi::Boolean>().Value() ? 1 : 0)
                                          : static_cast<int>(ToInteger(value, "value", -kMaxInt32 - 1, kMaxInt32));
    err = sock::SetSockOpt(fd, level, name, &integer, sizeof integer);
  } else if (value.IsArray() && level == SOL_SOCKET && name == SO_LINGER) {
    Napi::Array pair = value.As<Napi::Array>();
    if (pair.Length() != 2) {
      throw TypeErrorWithCode(env, "ERR_INVALID_ARG_VALUE", "SO_LINGER takes [onoff, seconds]");
    }
    Napi::Value on_value = pair.Get(0u);
    Napi::Value seconds_value = pair.Get(1u);
    struct linger linger = {};
    linger.l_onoff = static_cast<int>(ToInteger(on_value, "onoff", 0, 1));
    linger.l_linger = static_cast<int>(ToInteger(seconds_value, "seconds", 0, 65535));
    err = sock::SetSockOpt(fd, level, name, &linger, sizeof linger);
  } else if (value.IsTypedArray() || value.IsDataView()) {
    ByteRange bytes = ToByteRange(value, env.Undefined(), env.Undefined(), "value");
    if (bytes.length > 1024) throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "option value too long");
    err = sock::SetSockOpt(fd, level, name, bytes.data, static_cast<socklen_t>(bytes.length));
  } else {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE", "The option value must be a number, a boolean or a Buffer");
  }
  if (err != 0) throw ErrnoError(env, err, "setsockopt", Join("fd ", fd));
}

// getsockopt(fd, level, name, buflen?) -> integer, [onoff, seconds] for SO_LINGER, or a Buffer of
// at most buflen bytes when buflen is given.
Napi::Value GetSockOptFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int fd = ToFd(info[0]);
  const int level = static_cast<int>(ToInteger(info[1], "level", 0, kMaxInt32));
  const int name = static_cast<int>(ToInteger(info[2], "option", 0, kMaxInt32));
  if (!info[3].IsUndefined()) {
    const int64_t buflen = ToInteger(info[3], "buflen", 0, 1024);
    std::vector<uint8_t> bytes(static_cast<size_t>(buflen) + 1);
    socklen_t len = static_cast<socklen_t>(buflen);
    const int err = sock::GetSockOpt(fd, level, name, bytes.data(), &len);
    if (err != 0) throw ErrnoError(env, err, "getsockopt", Join("fd ", fd));
    return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), len);
  }
  if (level == SOL_SOCKET && name == SO_LINGER) {
    struct linger linger = {};
    socklen_t len = sizeof linger;
    const int err = sock::GetSockOpt(fd, level, name, &linger, &len);
    if (err != 0) throw ErrnoError(env, err, "getsockopt", Join("fd ", fd));
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, Napi::Number::New(env, linger.l_onoff));
    pair.Set(1u, Napi::Number::New(env, linger.l_linger));
    return pair;
  }
  int value = 0;
  socklen_t len = sizeof value;
  const int err = sock::GetSockOpt(fd, level, name, &value, &len);
  if (err != 0) throw ErrnoError(env, err, "getsockopt", Join("fd ", fd));
  return Napi::Number::New(env, value);
}

Napi::Value GetSockNameFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const int family = ToFamily(info[1]);
  sock::Address address;
  const int err = sock::GetSockName(fd, &address);
  if (err != 0) throw ErrnoError(info.Env(), err, "getsockname", Join("fd ", fd));
  return FromAddress(info.Env(), address, family);
}

Napi::Value GetPeerNameFn(const Napi::CallbackInfo& info) {
  const int fd = ToFd(info[0]);
  const int family = ToFamily(info[1]);
  sock::Address address;
  const int err = sock::GetPeerName(fd, &address);
  if (err != 0) throw ErrnoError(info.Env(), err, "getpeername", Join("fd ", fd));
  return FromAddress(info.Env(), address, family);
}

Napi::Int32Array AsFdList(const Napi::Value& value, const char* name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw TypeErrorWithCode(value.Env(), "ERR_INVALID_ARG_TYPE",
                            std::string("The \"") + name + "\" argument must be an Int32Array");
  }
  return value.As<Napi::Int32Array>();
}

// select(readFds, writeFds, exceptFds, timeout?) -> ready count; entries not ready become -1.
Napi::Value SelectFn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Int32Array lists[3] = {AsFdList(info[0], "rlist"), AsFdList(info[1], "wlist"), AsFdList(info[2], "xlist")};
  const int64_t timeout = ToTimeoutNs(info[3]);
  for (auto& list : lists) {
    if (list.ArrayBuffer().IsDetached()) throw TypeErrorWithCode(env, "ERR_INVALID_STATE", "fd list is detached");
    for (size_t i = 0; i < list.ElementLength(); i++) {
      const int32_t fd = list[i];
      if (fd < 0 || fd >= fd::SelectSetSize()) {
        throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE",
                                 "filedescriptor out of range in select(): " + std::to_string(fd) +
                                     " (FD_SETSIZE is " + std::to_string(fd::SelectSetSize()) + ")");
      }
    }
  }
  const int n = fd::Select(lists[0].Data(), lists[0].ElementLength(), lists[1].Data(), lists[1].ElementLength(),
                           lists[2].Data(), lists[2].ElementLength(), timeout);
  if (n < 0) throw ErrnoError(env, n, "select");
  return Napi::Number::New(env, n);
}

}  // namespace

void InitSocketBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("socket", NativeFunction<SocketFn>(env, "socket"));
  exports.Set("adopt", NativeFunction<AdoptFn>(env, "adopt"));
  exports.Set("bind", NativeFunction<BindFn>(env, "bind"));
  exports.Set("listen", NativeFunction<ListenFn>(env, "listen"));
  exports.Set("accept", NativeFunction<AcceptFn>(env, "accept"));
  exports.Set("connect", NativeFunction<ConnectFn>(env, "connect"));
  exports.Set("recv", NativeFunction<RecvFn>(env, "recv"));
  exports.Set("recvfrom", NativeFunction<RecvFromFn>(env, "recvfrom"));
  exports.Set("send", NativeFunction<SendFn>(env, "send"));
  exports.Set("sendto", NativeFunction<SendToFn>(env, "sendto"));
  exports.Set("sendmsg", NativeFunction<SendMsgFn>(env, "sendmsg"));
  exports.Set("shutdown", NativeFunction<ShutdownFn>(env, "shutdown"));
  exports.Set("setsockopt", NativeFunction<SetSockOptFn>(env, "setsockopt"));
  exports.Set("getsockopt", NativeFunction<GetSockOptFn>(env, "getsockopt"));
  exports.Set("getsockname", NativeFunction<GetSockNameFn>(env, "getsockname"));
  exports.Set("getpeername", NativeFunction<GetPeerNameFn>(env, "getpeername"));
  exports.Set("select", NativeFunction<SelectFn>(env, "select"));

  Napi::Object c = Napi::Object::New(env);
  c.Set("SOL_SOCKET", SOL_SOCKET);
  c.Set("SO_REUSEADDR", SO_REUSEADDR);
#if defined(SO_REUSEPORT)
  c.Set("SO_REUSEPORT", SO_REUSEPORT);
#endif
  c.Set("SO_KEEPALIVE", SO_KEEPALIVE);
  c.Set("SO_RCVBUF", SO_RCVBUF);
  c.Set("SO_SNDBUF", SO_SNDBUF);
  c.Set("SO_ERROR", SO_ERROR);
  c.Set("SO_LINGER", SO_LINGER);
  c.Set("SO_TYPE", SO_TYPE);
#if defined(SO_DOMAIN)
  c.Set("SO_DOMAIN", SO_DOMAIN);
#endif
  c.Set("SO_BROADCAST", SO_BROADCAST);
  c.Set("IPPROTO_IP", static_cast<int>(IPPROTO_IP));
  c.Set("IPPROTO_TCP", static_cast<int>(IPPROTO_TCP));
  c.Set("IPPROTO_UDP", static_cast<int>(IPPROTO_UDP));
  c.Set("IPPROTO_IPV6", static_cast<int>(IPPROTO_IPV6));
  c.Set("TCP_NODELAY", TCP_NODELAY);
  c.Set("IPV6_V6ONLY", IPV6_V6ONLY);
  c.Set("SHUT_RD", static_cast<int>(SHUT_RD));
  c.Set("SHUT_WR", static_cast<int>(SHUT_WR));
  c.Set("SHUT_RDWR", static_cast<int>(SHUT_RDWR));
  c.Set("MSG_PEEK", static_cast<int>(MSG_PEEK));
  c.Set("MSG_OOB", static_cast<int>(MSG_OOB));
  c.Set("MSG_WAITALL", static_cast<int>(MSG_WAITALL));
  c.Set("SOMAXCONN", SOMAXCONN);
  c.Set("FD_SETSIZE", fd::SelectSetSize());
  exports.Set("socketConstants", c);
}

}  // namespace muxloop
