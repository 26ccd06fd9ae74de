// JS surface of fd.h: argument checks and conversion only. read/write return -1 for EAGAIN (the
// loop's hot path wants a sentinel, not an exception) and throw Error{code, errno, syscall} for
// anything else.
#include <sys/socket.h>

#include <cerrno>

#include "bindings/addon.h"
#include "bindings/binding_util.h"
#include "syscalls/fd.h"

namespace muxloop {
namespace {

Napi::Value Pair(Napi::Env env, const int fds[2]) {
  AddonData* data = AddonData::Get(env);
  data->OwnNew({fds[0], fds[1]});
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(0u, fds[0]);
  result.Set(1u, fds[1]);
  return result;
}

// pipe(nonblocking?) -> [readFd, writeFd]
Napi::Value PipeFn(const Napi::CallbackInfo& info) {
  const bool nonblocking = ToBool(info[0], "nonblocking", false);
  int fds[2];
  const int err = fd::Pipe(fds, nonblocking);
  if (err != 0) throw ErrnoError(info.Env(), err, "pipe2");
  return Pair(info.Env(), fds);
}

// socketpair(family, type, nonblocking?) -> [fd, fd]
Napi::Value SocketPairFn(const Napi::CallbackInfo& info) {
  const int domain = static_cast<int>(ToInteger(info[0], "family", 0, 255));
  const int type = static_cast<int>(ToInteger(info[1], "type", 0, 255));
  const bool nonblocking = ToBool(info[2], "nonblocking", false);
  int fds[2];
  const int err = fd::SocketPair(domain, type, fds, nonblocking);
  if (err != 0) throw ErrnoError(info.Env(), err, "socketpair");
  return Pair(info.Env(), fds);
}

// read(fd, view, offset?, length?) -> bytes read, 0 at EOF, -1 when it would block
Napi::Value ReadFn(const Napi::CallbackInfo& info) {
  const int32_t fd = ToFd(info[0]);
  ByteRange range = ToByteRange(info[1], info[2], info[3]);
  // Reading into zero bytes returns 0, which every caller reads as EOF (reliability.md B3).
  if (range.length == 0) {
    throw RangeErrorWithCode(info.Env(), "ERR_OUT_OF_RANGE", "cannot read into 0 bytes: 0 is reserved for EOF");
  }
  const ssize_t n = fd::Read(fd, range.data, range.length);
  if (n == -EAGAIN || n == -EWOULDBLOCK) return Napi::Number::New(info.Env(), -1);
  if (n < 0) throw ErrnoError(info.Env(), static_cast<int>(n), "read", "fd " + std::to_string(fd));
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// write(fd, view, offset?, length?) -> bytes written, -1 when it would block
Napi::Value WriteFn(const Napi::CallbackInfo& info) {
  const int32_t fd = ToFd(info[0]);
  ByteRange range = ToByteRange(info[1], info[2], info[3]);
  const ssize_t n = fd::Write(fd, range.data, range.length);
  if (n == -EAGAIN || n == -EWOULDBLOCK) return Napi::Number::New(info.Env(), -1);
  if (n < 0) throw ErrnoError(info.Env(), static_cast<int>(n), "write", "fd " + std::to_string(fd));
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// close(fd): the fd is released even when close reports an error.
void CloseFn(const Napi::CallbackInfo& info) {
  const int32_t fd = ToFd(info[0]);
  AddonData::Get(info.Env())->Disown(fd);
  const int err = fd::Close(fd);
  if (err != 0) throw ErrnoError(info.Env(), err, "close", "fd " + std::to_string(fd));
}

// forget(fd): the fd now belongs to someone else (detach); teardown must not close it.
void ForgetFn(const Napi::CallbackInfo& info) { AddonData::Get(info.Env())->Disown(ToFd(info[0])); }

void SetNonBlockingFn(const Napi::CallbackInfo& info) {
  const int32_t fd = ToFd(info[0]);
  const int err = fd::SetNonBlocking(fd, ToBool(info[1], "nonblocking", false));
  if (err != 0) throw ErrnoError(info.Env(), err, "fcntl", "fd " + std::to_string(fd));
}

Napi::Value GetNonBlockingFn(const Napi::CallbackInfo& info) {
  const int32_t fd = ToFd(info[0]);
  const int r = fd::GetNonBlocking(fd);
  if (r < 0) throw ErrnoError(info.Env(), r, "fcntl", "fd " + std::to_string(fd));
  return Napi::Boolean::New(info.Env(), r == 1);
}

}  // namespace

void InitFdBinding(Napi::Env env, Napi::Object exports) {
  exports.Set("pipe", NativeFunction<PipeFn>(env, "pipe"));
  exports.Set("socketpair", NativeFunction<SocketPairFn>(env, "socketpair"));
  exports.Set("read", NativeFunction<ReadFn>(env, "read"));
  exports.Set("write", NativeFunction<WriteFn>(env, "write"));
  exports.Set("close", NativeFunction<CloseFn>(env, "close"));
  exports.Set("forget", NativeFunction<ForgetFn>(env, "forget"));
  exports.Set("setNonBlocking", NativeFunction<SetNonBlockingFn>(env, "setNonBlocking"));
  exports.Set("getNonBlocking", NativeFunction<GetNonBlockingFn>(env, "getNonBlocking"));
  Napi::Object c = Napi::Object::New(env);
  c.Set("AF_UNIX", AF_UNIX);
  c.Set("AF_INET", AF_INET);
  c.Set("AF_INET6", AF_INET6);
  c.Set("SOCK_STREAM", static_cast<int>(SOCK_STREAM));
  c.Set("SOCK_DGRAM", static_cast<int>(SOCK_DGRAM));
  exports.Set("constants", c);
}

}  // namespace muxloop
