#include "cost/decimal.h"

#include <gtest/gtest.h>

namespace statehouse::cost {
namespace {

Decimal D(const char* text) { return *Decimal::Parse(text); }

TEST(DecimalTest, ParsesAndPrintsWithoutTrailingZeros) {
  EXPECT_EQ(D("0.0104000000").ToString(), "0.0104");
  EXPECT_EQ(D("730").ToString(), "730");
  EXPECT_EQ(D("-1.50").ToString(), "-1.5");
  EXPECT_EQ(D("1.5e-7").ToString(), "0.00000015");
  EXPECT_EQ(D("2E3").ToString(), "2000");
  EXPECT_EQ(D("0").ToString(), "0");
  EXPECT_EQ(D("-0.000").ToString(), "0");
  EXPECT_FALSE(Decimal::Parse(""));
  EXPECT_FALSE(Decimal::Parse("abc"));
  EXPECT_FALSE(Decimal::Parse("1.2.3"));
  EXPECT_FALSE(Decimal::Parse("1e"));
  EXPECT_FALSE(Decimal::Parse("1e999"));
  EXPECT_FALSE(Decimal::Parse("99999999999999999999999999999999999999999"));
}

TEST(DecimalTest, ArithmeticIsExact) {
  EXPECT_EQ((D("0.0104") * D("730")).ToString(), "7.592");
  EXPECT_EQ((D("0.1") + D("0.2")).ToString(), "0.3");
  EXPECT_EQ((D("5") - D("7.25")).ToString(), "-2.25");
  EXPECT_EQ((D("0.768") * D("730")).ToString(), "560.64");
}

TEST(DecimalTest, DivisionRoundsToSixteenPlacesAsInfracost) {
  // Infracost: 50 GB-months is 0.0684931506849315 GB per hour (shopspring, 16 places).
  EXPECT_EQ((D("50") / D("730")).ToString(), "0.0684931506849315");
  EXPECT_EQ((D("1000") / D("730")).ToString(), "1.3698630136986301");
  EXPECT_EQ((D("800") / D("730")).ToString(), "1.0958904109589041");
  EXPECT_EQ((D("0.1") * (D("50") / D("730"))).ToString(), "0.00684931506849315");
  EXPECT_EQ((D("2") / D("3")).ToString(), "0.6666666666666667");
  EXPECT_EQ((D("-2") / D("3")).ToString(), "-0.6666666666666667");
  EXPECT_EQ((D("1") / D("0")).ToString(), "0");
}

TEST(DecimalTest, ComparesAcrossScales) {
  EXPECT_TRUE(D("1.50") == D("1.5"));
  EXPECT_TRUE(D("0.9999") < D("1"));
  EXPECT_TRUE(D("-3") < D("2"));
  EXPECT_TRUE(D("100.01") > D("100"));
}

TEST(DecimalTest, FromDoubleHasNoBinaryArtefacts) {
  EXPECT_EQ(Decimal::FromDouble(0.1)->ToString(), "0.1");
  EXPECT_EQ(Decimal::FromDouble(0.0416)->ToString(), "0.0416");
  EXPECT_EQ(Decimal::FromDouble(1e-7)->ToString(), "0.0000001");
}

TEST(DecimalTest, LargeProductsDoNotOverflow) {
  Decimal big = D("123456789012345678.123456789");
  Decimal product = big * D("1000000.000000001");
  EXPECT_GT(product, D("123456789012345678000000"));
  EXPECT_EQ(D("0.5").Round(0).ToString(), "1");
  EXPECT_EQ(D("-0.5").Round(0).ToString(), "-1");
  EXPECT_EQ(D("1.2345").Round(2).ToString(), "1.23");
}

}  // namespace
}  // namespace statehouse::cost
