// Argument checks and error construction shared by the *_binding.cc files. Every number from JS is
// checked as an integer in range before use (napi_get_value_int32 would turn 2**32 + 1 into 1 and
// NaN into 0), and OS errors reach JS once, here, as Error{code, errno, syscall}.
#ifndef MUXLOOP_BINDING_UTIL_H_
#define MUXLOOP_BINDING_UTIL_H_

#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <new>
#include <string>
#include <type_traits>

namespace muxloop {

// TypeError / RangeError carrying Node's codes (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, ...).
Napi::Error TypeErrorWithCode(Napi::Env env, const char* code, const std::string& message);
Napi::Error RangeErrorWithCode(Napi::Env env, const char* code, const std::string& message);
// Error with a library state code such as ERR_SELECTOR_CLOSED.
Napi::Error StateError(Napi::Env env, const char* code, const std::string& message);
// OS error: code 'EBADF', errno 9 (positive, as Python's OSError.errno), syscall 'epoll_ctl';
// message "epoll_ctl EBADF: Bad file descriptor (fd 7)". err is -errno.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail = "");

// Runs a step that allocates memory sized by the caller (event arrays, iovec lists):
// std::bad_alloc becomes Error{code 'ENOMEM', syscall 'malloc'} (reliability.md F10). Without
// this, node-addon-api would turn it into a plain Error "std::bad_alloc" with no code.
template <typename Step>
auto OrEnomem(Napi::Env env, Step&& step) -> decltype(step()) {
  try {
    return step();
  } catch (const std::bad_alloc&) {
    throw ErrnoError(env, -ENOMEM, "malloc", "native allocation failed");
  }
}

// A JS function calling binding function F (Value or void F(const CallbackInfo&)) with OrEnomem
// around all of it: an allocation that fails anywhere (the fd table, an address, and
// node-addon-api's own CallbackInfo, which allocates for more than 6 arguments before F runs) is
// ENOMEM too (reliability.md F10; test/reliability-enomem.test.ts). Other exceptions are handled
// as node-addon-api does (NODE_ADDON_API_CPP_EXCEPTIONS_ALL).
template <auto F>
napi_value EnomemCallback(napi_env raw_env, napi_callback_info raw_info) {
  Napi::Env env(raw_env);
  try {
    return OrEnomem(env, [&]() -> napi_value {
      Napi::CallbackInfo info(raw_env, raw_info);
      if constexpr (std::is_void_v<decltype(F(info))>) {
        F(info);
        return nullptr;
      } else {
        return F(info);
      }
    });
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
  }
  return nullptr;
}
template <auto F>
Napi::Function NativeFunction(Napi::Env env, const char* name) {
  napi_value fn = nullptr;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, EnomemCallback<F>, nullptr, &fn), Napi::Function());
  return Napi::Function(env, fn);
}

// node-addon-api allocates an ObjectWrap with `new T(info)` before T's constructor runs, where
// OrEnomem cannot see a failure: the wrap classes inherit this allocation function, which throws
// the ENOMEM error itself (a Napi::Error, passed on to JS as it is). Its env is this thread's
// (SetThreadEnv at module init): Node runs one environment per thread, main or worker.
struct EnomemNew {
  static void* operator new(size_t size);
  static void operator delete(void* p) noexcept;
};
void SetThreadEnv(napi_env env);

// A file descriptor: an integer Number in [0, 2**31 - 1].
int32_t ToFd(const Napi::Value& value, const char* name = "fd");
// An integer Number in [min, max] (both within 2**53).
int64_t ToInteger(const Napi::Value& value, const char* name, int64_t min, int64_t max);
// A Boolean; with a fallback, undefined gives it (an optional argument).
bool ToBool(const Napi::Value& value, const char* name);
bool ToBool(const Napi::Value& value, const char* name, bool fallback);
// Any Number but NaN.
double ToNumber(const Napi::Value& value, const char* name);
// A timeout in seconds -> nanoseconds for a wait: undefined or < 0 means no timeout (-1), 0 means
// do not wait; a positive value is rounded up to a whole nanosecond (never shorter than asked) and
// bounded at 1e9 s so the cast is defined. Backends cap it further (selector.h: 24 h).
int64_t ToTimeoutNs(const Napi::Value& value);

// A byte range of an ArrayBufferView argument. Offset and length are converted (and checked
// against the view's size without overflow) before the data pointer is taken, and the view must
// not be detached. `length` undefined means "to the end".
struct ByteRange {
  uint8_t* data;
  size_t length;
};
ByteRange ToByteRange(const Napi::Value& view, const Napi::Value& offset, const Napi::Value& length,
                      const char* name = "buffer");

}  // namespace muxloop

#endif  // MUXLOOP_BINDING_UTIL_H_
