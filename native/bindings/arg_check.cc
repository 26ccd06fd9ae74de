// Pure argument checks. Contract: arg_check.h.
#include "bindings/arg_check.h"

#include <cmath>
#include <cstdio>

namespace muxloop {
namespace arg {

bool IsIntegerIn(double d, int64_t min, int64_t max) {
  // The negated form is false for NaN, which compares false with everything.
  return d >= static_cast<double>(min) && d <= static_cast<double>(max) && std::trunc(d) == d;
}

bool IsFd(double d) { return d >= 0 && d <= 2147483647.0 && std::trunc(d) == d; }

int64_t TimeoutNs(double seconds) {
  if (seconds < 0) return -1;
  if (seconds == 0) return 0;
  const double ns = (seconds > 1e9 ? 1e9 : seconds) * 1e9;
  int64_t whole = static_cast<int64_t>(ns);
  if (static_cast<double>(whole) < ns) whole++;
  return whole;
}

bool ByteRangeFits(uint64_t offset, bool to_end, uint64_t length, size_t byte_length, size_t* count) {
  // off <= size first, then len <= size - off: neither side can wrap.
  if (offset > byte_length || (!to_end && length > byte_length - offset)) return false;
  *count = to_end ? byte_length - static_cast<size_t>(offset) : static_cast<size_t>(length);
  return true;
}

std::string DescribeNumber(double d) {
  if (std::isnan(d)) return "NaN";
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

}  // namespace arg
}  // namespace muxloop
