#include "bindings/binding_util.h"

#include <uv.h>

#include "bindings/arg_check.h"

#include <cmath>
#include <cstring>

namespace muxloop {

namespace {

Napi::Error WithCode(Napi::Error error, const char* code) {
  error.Set("code", Napi::String::New(error.Env(), code));
  return error;
}

std::string Describe(const Napi::Value& value) {
  if (value.IsNumber()) return arg::DescribeNumber(value.As<Napi::Number>().DoubleValue());
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "type boolean";
    case napi_string: return "type string";
    case napi_symbol: return "type symbol";
    case napi_bigint: return "type bigint";
    case napi_function: return "type function";
    default: return "an object";
  }
}

}  // namespace

Napi::Error TypeErrorWithCode(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::TypeError::New(env, message), code);
}

Napi::Error RangeErrorWithCode(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::RangeError::New(env, message), code);
}

Napi::Error StateError(Napi::Env env, const char* code, const std::string& message) {
  return WithCode(Napi::Error::New(env, message), code);
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string& detail) {
  // libuv's names are the errno names on Unix (UV_EBADF == -EBADF), as in Node's own errors. The _r
  // form does not leak for errnos libuv has no name for (EINPROGRESS, EISCONN, ...); glibc names
  // those.
  char name[64];
  uv_err_name_r(err, name, sizeof name);
  const char* code = name;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (strncmp(name, "Unknown", 7) == 0 && strerrorname_np(-err) != nullptr) code = strerrorname_np(-err);
#endif
  std::string message = std::string(syscall) + " " + code + ": " + strerror(-err);
  if (!detail.empty()) message += " (" + detail + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, -err));
  error.Set("syscall", Napi::String::New(env, syscall));
  return error;
}

bool ToBool(const Napi::Value& value, const char* name) {
  if (!value.IsBoolean()) {
    throw TypeErrorWithCode(value.Env(), "ERR_INVALID_ARG_TYPE",
                            std::string("The \"") + name + "\" argument must be of type boolean");
  }
  return value.As<Napi::Boolean>().Value();
}

bool ToBool(const Napi::Value& value, const char* name, bool fallback) {
  return value.IsUndefined() ? fallback : ToBool(value, name);
}

int64_t ToInteger(const Napi::Value& value, const char* name, int64_t min, int64_t max) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE",
                            std::string("The \"") + name + "\" argument must be of type number. Received " +
                                Describe(value));
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!arg::IsIntegerIn(d, min, max)) {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE",
                             std::string("The value of \"") + name + "\" is out of range. It must be an integer >= " +
                                 std::to_string(min) + " and <= " + std::to_string(max) + ". Received " +
                                 Describe(value));
  }
  return static_cast<int64_t>(d);
}

int32_t ToFd(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE",
                            std::string("The \"") + name + "\" argument must be of type number. Received " +
                                Describe(value));
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (!arg::IsFd(d)) {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", "invalid file descriptor: " + Describe(value));
  }
  return static_cast<int32_t>(d);
}

double ToNumber(const Napi::Value& value, const char* name) {
  Napi::Env env = value.Env();
  if (!value.IsNumber()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE",
                            std::string("The \"") + name + "\" argument must be of type number. Received " +
                                Describe(value));
  }
  const double d = value.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE", std::string("The value of \"") + name + "\" must not be NaN");
  }
  return d;
}

int64_t ToTimeoutNs(const Napi::Value& value) {
  if (value.IsUndefined()) return -1;
  return arg::TimeoutNs(ToNumber(value, "timeout"));
}

ByteRange ToByteRange(const Napi::Value& view, const Napi::Value& offset, const Napi::Value& length,
                      const char* name) {
  Napi::Env env = view.Env();
  if (!view.IsTypedArray() && !view.IsDataView()) {
    throw TypeErrorWithCode(env, "ERR_INVALID_ARG_TYPE",
                            std::string("The \"") + name + "\" argument must be a Buffer, TypedArray or DataView. Received " +
                                Describe(view));
  }
  // Numbers first: napi_get_value_double never calls valueOf, and non-numbers are refused, so no
  // user code can run (and detach the buffer) between these checks and taking the pointer.
  const int64_t max = arg::kMaxSafeInteger;
  const int64_t off = offset.IsUndefined() ? 0 : ToInteger(offset, "offset", 0, max);
  const bool to_end = length.IsUndefined();
  const int64_t len = to_end ? 0 : ToInteger(length, "length", 0, max);
  Napi::ArrayBuffer buffer;
  size_t byte_offset = 0;
  size_t byte_length = 0;
  if (view.IsTypedArray()) {
    Napi::TypedArray typed = view.As<Napi::TypedArray>();
    buffer = typed.ArrayBuffer();
    byte_offset = typed.ByteOffset();
    byte_length = typed.ByteLength();
  } else {
    Napi::DataView dv = view.As<Napi::DataView>();
    buffer = dv.ArrayBuffer();
    byte_offset = dv.ByteOffset();
    byte_length = dv.ByteLength();
  }
  if (buffer.IsDetached()) throw TypeErrorWithCode(env, "ERR_INVALID_STATE", std::string(name) + " is detached");
  const uint64_t uoff = static_cast<uint64_t>(off);
  size_t n = 0;
  if (!arg::ByteRangeFits(uoff, to_end, static_cast<uint64_t>(len), byte_length, &n)) {
    throw RangeErrorWithCode(env, "ERR_OUT_OF_RANGE",
                             "offset/length out of bounds (byteLength=" + std::to_string(byte_length) +
                                 ", offset=" + std::to_string(off) + ", length=" + std::to_string(len) + ")");
  }
  uint8_t* base = static_cast<uint8_t*>(buffer.Data());
  return {base == nullptr ? nullptr : base + byte_offset + uoff, n};
}

namespace {
thread_local napi_env thread_env = nullptr;
}  // namespace

void SetThreadEnv(napi_env env) { thread_env = env; }

void* EnomemNew::operator new(size_t size) {
  void* p = ::operator new(size, std::nothrow);
  if (p == nullptr) {
    if (thread_env == nullptr) throw std::bad_alloc();
    throw ErrnoError(Napi::Env(thread_env), -ENOMEM, "malloc", "native allocation failed");
  }
  return p;
}

void EnomemNew::operator delete(void* p) noexcept { ::operator delete(p); }

}  // namespace muxloop
