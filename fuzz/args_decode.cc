// libFuzzer target: the native argument decoders (native/bindings/arg_check.h, the checks behind
// binding_util.h's ToInteger, ToFd, ToTimeoutNs and ToByteRange; reliability.md A1, A11, B1, B12).
// The input is a list of 8-byte doubles (any bit pattern: NaN payloads, +-0, subnormals, +-Inf,
// values just past 2**31, 2**32, 2**53) and 64-bit integers; each check is compared with an
// independent computation in wider arithmetic:
//   * IsIntegerIn / IsFd accept exactly the integers in range, so the cast that follows is
//     defined (UBSan's float-cast-overflow would report it) and never truncates (2**32 + 1 is
//     not fd 1, NaN is not 0);
//   * TimeoutNs is -1 for a negative timeout, 0 for 0 (also -0), otherwise at least one and never
//     shorter than asked, capped at 1e9 s;
//   * ByteRangeFits accepts exactly the ranges inside the view (checked in 128-bit arithmetic) and
//     the count it gives stays inside it;
//   * DescribeNumber parses back to the same number.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "bindings/arg_check.h"

namespace arg = muxloop::arg;

namespace {

[[noreturn]] void Fail(const char* what, double d) {
  fprintf(stderr, "args_decode: %s (%.17g)\n", what, d);
  abort();
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool has(size_t n) const { return size_ - pos_ >= n; }
  uint64_t u64() {
    uint64_t v = 0;
    memcpy(&v, data_ + pos_, 8);
    pos_ += 8;
    return v;
  }
  double f64() {
    const uint64_t bits = u64();
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// The reference: is d an integer in [min, max]? Decided without comparing d to a converted bound.
bool ReferenceInteger(double d, int64_t min, int64_t max) {
  if (!std::isfinite(d) || std::floor(d) != d) return false;
  if (std::fabs(d) > 9007199254740992.0) return false;  // beyond 2**53: the bounds never reach it
  const int64_t v = static_cast<int64_t>(d);
  return v >= min && v <= max;
}

void CheckInteger(double d, int64_t min, int64_t max) {
  const bool ok = arg::IsIntegerIn(d, min, max);
  if (ok != ReferenceInteger(d, min, max)) Fail("IsIntegerIn disagrees with the reference", d);
  if (ok) {
    const int64_t v = static_cast<int64_t>(d);  // what ToInteger returns
    if (v < min || v > max || static_cast<double>(v) != d) Fail("IsIntegerIn: the cast changed the value", d);
  }
}

void CheckFd(double d) {
  const bool ok = arg::IsFd(d);
  if (ok != ReferenceInteger(d, 0, 2147483647)) Fail("IsFd disagrees with the reference", d);
  if (ok && static_cast<double>(static_cast<int32_t>(d)) != d) Fail("IsFd: the cast changed the value", d);
}

void CheckTimeout(double seconds) {
  if (std::isnan(seconds)) return;  // ToNumber refuses NaN before TimeoutNs is reached
  const int64_t ns = arg::TimeoutNs(seconds);
  if (seconds < 0) {
    if (ns != -1) Fail("TimeoutNs: a negative timeout must mean no timeout", seconds);
    return;
  }
  if (seconds == 0) {
    if (ns != 0) Fail("TimeoutNs: 0 must not wait", seconds);
    return;
  }
  if (ns < 1) Fail("TimeoutNs: a positive timeout became a non-blocking one", seconds);
  if (ns > 1000000000LL * 1000000000LL) Fail("TimeoutNs: above the 1e9 s cap", seconds);
  const long double asked = static_cast<long double>(seconds > 1e9 ? 1e9 : seconds) * 1e9L;
  // Never shorter than asked (up to the double rounding of seconds * 1e9), at most 1 ns longer.
  const long double got = static_cast<long double>(ns);
  const long double slack = asked * 1e-15L + 1.0L;
  if (got + slack < asked) Fail("TimeoutNs: shorter than asked", seconds);
  if (got > asked + slack + 1.0L) Fail("TimeoutNs: much longer than asked", seconds);
}

void CheckRange(uint64_t offset, bool to_end, uint64_t length, uint64_t byte_length) {
  // Offsets and lengths come from ToInteger (0 .. 2**53 - 1); views are at most 2**53 bytes.
  offset %= static_cast<uint64_t>(arg::kMaxSafeInteger) + 1;
  length %= static_cast<uint64_t>(arg::kMaxSafeInteger) + 1;
  const size_t size = static_cast<size_t>(byte_length % (static_cast<uint64_t>(arg::kMaxSafeInteger) + 1));
  size_t count = 12345;
  const bool ok = arg::ByteRangeFits(offset, to_end, length, size, &count);
  const unsigned __int128 end = static_cast<unsigned __int128>(offset) + (to_end ? 0 : length);
  const bool expected = offset <= size && end <= size;
  if (ok != expected) Fail("ByteRangeFits disagrees with the reference", static_cast<double>(offset));
  if (!ok) return;
  const size_t want = to_end ? size - offset : length;
  if (count != want || offset + count > size) Fail("ByteRangeFits: count outside the view", static_cast<double>(count));
}

void CheckDescribe(double d) {
  const std::string text = arg::DescribeNumber(d);
  if (std::isnan(d)) {
    if (text != "NaN") Fail("DescribeNumber(NaN)", d);
    return;
  }
  const double back = strtod(text.c_str(), nullptr);
  if (memcmp(&back, &d, sizeof d) != 0 && !(back == 0 && d == 0)) Fail("DescribeNumber does not round-trip", d);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  while (in.has(8)) {
    const double d = in.f64();
    CheckFd(d);
    CheckTimeout(d);
    CheckDescribe(d);
    // Bounds as the bindings use them, and a fuzzed pair within +-2**53.
    CheckInteger(d, 0, 65535);                       // port
    CheckInteger(d, 0, 255);                         // family
    CheckInteger(d, 0, 2147483647);                  // flags, type, backlog
    CheckInteger(d, 0, 0xFFFFFFFFLL);                // scopeId
    CheckInteger(d, 0, arg::kMaxSafeInteger);        // offset, length
    CheckInteger(d, -arg::kMaxSafeInteger, arg::kMaxSafeInteger);
    if (in.has(16)) {
      const int64_t span = arg::kMaxSafeInteger;
      int64_t a = static_cast<int64_t>(in.u64() % (2 * static_cast<uint64_t>(span) + 1)) - span;
      int64_t b = static_cast<int64_t>(in.u64() % (2 * static_cast<uint64_t>(span) + 1)) - span;
      if (a > b) std::swap(a, b);
      CheckInteger(d, a, b);
    }
    if (in.has(24)) {
      const uint64_t offset = in.u64();
      const uint64_t length = in.u64();
      const uint64_t view = in.u64();
      CheckRange(offset, (length & 1) != 0, length >> 1, view);
    }
  }
  return 0;
}
