// The pure half of binding_util.h's argument decoders: the range checks and conversions on plain
// C++ values, with no N-API, so that the fuzz harness (fuzz/args_decode.cc) can call exactly the
// code the bindings run without a live napi_env. binding_util.cc does the JS type checks and
// builds the errors; these decide what is accepted and what it becomes.
#ifndef MUXLOOP_ARG_CHECK_H_
#define MUXLOOP_ARG_CHECK_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace muxloop {
namespace arg {

// 2**53 - 1: the largest integer every double up to it represents exactly (JS's MAX_SAFE_INTEGER).
constexpr int64_t kMaxSafeInteger = 9007199254740991LL;

// d is an integer in [min, max]; false for NaN, +-Infinity, fractions and values outside. The
// bounds must be within +-2**53 so that they convert to double exactly.
bool IsIntegerIn(double d, int64_t min, int64_t max);
// d is a file descriptor: an integer in [0, 2**31 - 1].
bool IsFd(double d);
// A timeout in seconds (not NaN) -> nanoseconds: < 0 is -1 (no timeout), 0 is 0, a positive value
// is rounded up to a whole nanosecond and bounded at 1e9 s so that the cast is defined.
int64_t TimeoutNs(double seconds);
// [offset, offset + length) lies within a view of byte_length bytes (to_end: length is "the rest");
// on success *count is the number of bytes. Written so that nothing can overflow.
bool ByteRangeFits(uint64_t offset, bool to_end, uint64_t length, size_t byte_length, size_t* count);
// A number as error messages show it: "NaN", or %.17g (so 2**32 + 1 reads 4294967297).
std::string DescribeNumber(double d);

}  // namespace arg
}  // namespace muxloop

#endif  // MUXLOOP_ARG_CHECK_H_
