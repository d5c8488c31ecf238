#include "cost/decimal.h"

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <limits>

namespace statehouse::cost {
namespace {

constexpr __int128 kMaxMantissa = static_cast<__int128>(std::numeric_limits<long long>::max()) *
                                  static_cast<__int128>(1000000000000000000LL);  // ~9.2e36

__int128 Pow10(int n) {
  __int128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

// Divides with rounding half away from zero.
__int128 DivRound(__int128 value, __int128 divisor) {
  __int128 quotient = value / divisor;
  __int128 remainder = value % divisor;
  if (remainder < 0) remainder = -remainder;
  if (remainder * 2 >= (divisor < 0 ? -divisor : divisor))
    quotient += (value < 0) == (divisor < 0) ? 1 : -1;
  return quotient;
}

}  // namespace

std::optional<Decimal> Decimal::Parse(std::string_view text) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  __int128 mantissa = 0;
  int scale = 0;
  bool digits = false, point = false;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits = true;
      // Digits beyond what the mantissa holds are dropped only when they are fractional zeros.
      if (mantissa > kMaxMantissa / 10) {
        if (point && c == '0') continue;
        return std::nullopt;
      }
      mantissa = mantissa * 10 + (c - '0');
      if (point) ++scale;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (!digits) return std::nullopt;
  if (i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') return std::nullopt;
    int exponent = 0;
    const char* begin = text.data() + i + 1;
    const char* end = text.data() + text.size();
    if (begin < end && *begin == '+') ++begin;
    auto [ptr, ec] = std::from_chars(begin, end, exponent);
    if (ec != std::errc() || ptr != end || exponent < -60 || exponent > 36) return std::nullopt;
    scale -= exponent;
  }
  if (negative) mantissa = -mantissa;
  Decimal result(mantissa, 0);
  if (scale < 0) {
    for (int k = 0; k < -scale; ++k) {
      if (result.mantissa_ > kMaxMantissa / 10 || result.mantissa_ < -kMaxMantissa / 10)
        return std::nullopt;
      result.mantissa_ *= 10;
    }
    return result.Normalized();
  }
  result.scale_ = scale;
  if (scale > kMaxScale) result = result.WithScale(kMaxScale);
  return result.Normalized();
}

std::optional<Decimal> Decimal::FromDouble(double value) {
  char buffer[64];
  auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (ec != std::errc()) return std::nullopt;
  return Parse(std::string_view(buffer, ptr - buffer));
}

Decimal Decimal::WithScale(int scale) const {
  if (scale == scale_) return *this;
  if (scale > scale_) {
    __int128 m = mantissa_;
    for (int k = scale_; k < scale; ++k) {
      if (m > kMaxMantissa / 10 || m < -kMaxMantissa / 10) return *this;  // cannot widen: keep
      m *= 10;
    }
    return Decimal(m, scale);
  }
  return Decimal(DivRound(mantissa_, Pow10(scale_ - scale)), scale);
}

Decimal Decimal::Normalized() const {
  Decimal d = *this;
  if (d.mantissa_ == 0) return Decimal();
  // Most values fit 64 bits, where division is several times cheaper than on 128.
  if (d.mantissa_ > -static_cast<__int128>(INT64_MAX) && d.mantissa_ < INT64_MAX) {
    int64_t m = static_cast<int64_t>(d.mantissa_);
    while (d.scale_ > 0 && m % 10 == 0) {
      m /= 10;
      --d.scale_;
    }
    d.mantissa_ = m;
    return d;
  }
  while (d.scale_ > 0 && d.mantissa_ % 10 == 0) {
    d.mantissa_ /= 10;
    --d.scale_;
  }
  return d;
}

Decimal Decimal::operator+(const Decimal& other) const {
  int scale = std::max(scale_, other.scale_);
  Decimal a = WithScale(scale), b = other.WithScale(scale);
  if (a.scale_ != scale || b.scale_ != scale) {  // too large to widen: add at the coarser scale
    scale = std::min(scale_, other.scale_);
    a = WithScale(scale);
    b = other.WithScale(scale);
  }
  return Decimal(a.mantissa_ + b.mantissa_, scale).Normalized();
}

Decimal Decimal::operator-(const Decimal& other) const {
  return *this + Decimal(-other.mantissa_, other.scale_);
}

Decimal Decimal::operator*(const Decimal& other) const {
  Decimal a = Normalized(), b = other.Normalized();
  __int128 product;
  // Rounds away fractional digits of the finer operand until the product fits.
  while (__builtin_mul_overflow(a.mantissa_, b.mantissa_, &product) || product > kMaxMantissa ||
         product < -kMaxMantissa) {
    if (a.scale_ == 0 && b.scale_ == 0)
      return Decimal(product > 0 ? kMaxMantissa : -kMaxMantissa, 0);
    if (a.scale_ >= b.scale_)
      a = a.WithScale(a.scale_ - 1);
    else
      b = b.WithScale(b.scale_ - 1);
  }
  Decimal result(product, a.scale_ + b.scale_);
  if (result.scale_ > kMaxScale) result = result.WithScale(kMaxScale);
  return result.Normalized();
}

Decimal Decimal::operator/(const Decimal& other) const {
  if (other.mantissa_ == 0) return Decimal();
  // value = (a / 10^sa) / (b / 10^sb) = (a * 10^(sb + P + 1 - sa) / b) / 10^(P+1), then rounded.
  Decimal a = Normalized(), b = other.Normalized();
  int shift = b.scale_ + kDivisionPrecision + 1 - a.scale_;
  __int128 numerator = a.mantissa_;
  int result_scale = kDivisionPrecision + 1;
  for (int k = 0; k < shift; ++k) {
    if (numerator > kMaxMantissa / 10 || numerator < -kMaxMantissa / 10) {
      --result_scale;  // fewer digits rather than overflow
      continue;
    }
    numerator *= 10;
  }
  __int128 denominator = b.mantissa_;
  for (int k = shift; k < 0; ++k) denominator *= 10;
  Decimal result(numerator / denominator, result_scale);
  // The extra digit rounds the result to kDivisionPrecision places.
  return result.Round(kDivisionPrecision);
}

Decimal Decimal::Round(int places) const {
  if (places >= scale_) return Normalized();
  return WithScale(places).Normalized();
}

std::strong_ordering Decimal::operator<=>(const Decimal& other) const {
  Decimal difference = *this - other;
  if (difference.mantissa_ < 0) return std::strong_ordering::less;
  if (difference.mantissa_ > 0) return std::strong_ordering::greater;
  return std::strong_ordering::equal;
}

std::string Decimal::ToString() const {
  Decimal d = Normalized();
  __int128 m = d.mantissa_ < 0 ? -d.mantissa_ : d.mantissa_;
  char reversed[64];  // least significant digit first; 39 digits, a point and a sign at most
  size_t n = 0;
  int position = 0;
  auto digits = [&](auto value) {
    do {
      if (d.scale_ > 0 && position == d.scale_) reversed[n++] = '.';
      reversed[n++] = static_cast<char>('0' + static_cast<int>(value % 10));
      value /= 10;
      ++position;
    } while (value != 0 || position <= d.scale_);
  };
  if (m <= static_cast<__int128>(UINT64_MAX))
    digits(static_cast<uint64_t>(m));
  else
    digits(m);
  if (d.mantissa_ < 0) reversed[n++] = '-';
  return std::string(std::make_reverse_iterator(reversed + n),
                     std::make_reverse_iterator(reversed));
}

double Decimal::ToDouble() const { return std::strtod(ToString().c_str(), nullptr); }

}  // namespace statehouse::cost
