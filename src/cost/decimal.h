// Exact decimal numbers for prices and quantities. Infracost's JSON carries costs as decimal
// strings ("7.592"), computed without binary floating point; so does Statehouse. A value is a
// 128-bit integer mantissa scaled by 10^-scale.
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace statehouse::cost {

class Decimal {
 public:
  Decimal() = default;
  static Decimal FromInt(long long value) { return Decimal(value, 0); }
  // "12", "-0.0104", "1.5e-7", "+3." -- nullopt for anything else (or when out of range).
  static std::optional<Decimal> Parse(std::string_view text);
  // The shortest decimal text that reads back as `value` (no binary artefacts: 0.1 is 0.1).
  static std::optional<Decimal> FromDouble(double value);

  Decimal operator+(const Decimal& other) const;
  Decimal operator-(const Decimal& other) const;
  Decimal operator*(const Decimal& other) const;
  // Rounded half away from zero to kDivisionPrecision fractional digits (shopspring/decimal's
  // default, which Infracost uses). Division by zero gives zero.
  Decimal operator/(const Decimal& other) const;
  Decimal& operator+=(const Decimal& other) { return *this = *this + other; }

  std::strong_ordering operator<=>(const Decimal& other) const;
  bool operator==(const Decimal& other) const { return (*this <=> other) == 0; }

  bool IsZero() const { return mantissa_ == 0; }
  bool IsNegative() const { return mantissa_ < 0; }
  // Rounded half away from zero to `places` fractional digits.
  Decimal Round(int places) const;
  // Plain notation without trailing zeros: "730", "0.0104", "-1.5", "0".
  std::string ToString() const;
  double ToDouble() const;

  static constexpr int kDivisionPrecision = 16;
  static constexpr int kMaxScale = 30;

 private:
  Decimal(__int128 mantissa, int scale) : mantissa_(mantissa), scale_(scale) {}
  Decimal Normalized() const;          // trailing zeros stripped
  Decimal WithScale(int scale) const;  // exact when scale >= scale_, else rounded

  __int128 mantissa_ = 0;
  int scale_ = 0;
};

}  // namespace statehouse::cost
