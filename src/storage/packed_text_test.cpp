#include "storage/packed_text.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "common/error.h"

namespace statehouse::storage {
namespace {

ErrorCode CodeOf(std::string_view packed) {
  try {
    UnpackText(packed);
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInvalidArgument;  // not what any case expects
}

TEST(PackedTextTest, RoundTripsTextOfEverySize) {
  std::mt19937 random(7);
  std::string noise;
  for (int i = 0; i < 70000; ++i) noise += static_cast<char>(random() & 0xFF);
  std::string json;
  while (json.size() < 200000)
    json += R"({"policy":{"identifier":"p)" + std::to_string(json.size()) +
            R"(","rego":"package x"}},)";
  for (const std::string& text :
       {std::string(), std::string("x"), std::string("[]"), std::string(1, '\0'), noise, json,
        std::string(4 << 20, 'z')}) {  // LZ4's best ratio (~255:1): the size check allows it
    std::string packed = PackText(text);
    EXPECT_EQ(UnpackText(packed), text) << text.size() << " bytes";
  }
  EXPECT_LT(PackText(json).size(), json.size() / 4) << "repetitive JSON packs small";
  EXPECT_LE(PackText(noise).size(), noise.size() + noise.size() / 200 + 32)
      << "incompressible bytes grow by LZ4's bound at most";
}

TEST(PackedTextTest, DamagedValuesAreInternalErrorsNotCrashes) {
  std::string good = PackText(std::string(5000, 'a') + "tail");
  EXPECT_EQ(CodeOf(""), ErrorCode::kInternal);
  EXPECT_EQ(CodeOf(good.substr(0, 4)), ErrorCode::kInternal) << "shorter than the header";
  std::string other_format = good;
  other_format[0] = 2;
  EXPECT_EQ(CodeOf(other_format), ErrorCode::kInternal);
  EXPECT_EQ(CodeOf(good.substr(0, good.size() - 3)), ErrorCode::kInternal) << "cut short";
  std::string wrong_size = good;
  wrong_size[1] = static_cast<char>(wrong_size[1] + 1);
  EXPECT_EQ(CodeOf(wrong_size), ErrorCode::kInternal) << "claims one byte more than it holds";
  std::string huge = good;
  huge[4] = '\x7f';  // ~2 GiB: refused before allocating
  EXPECT_EQ(CodeOf(huge), ErrorCode::kInternal);
  std::string inflated = good;  // 1 MiB from a block of a few dozen bytes
  inflated[1] = 0;
  inflated[2] = 0;
  inflated[3] = 0x10;
  inflated[4] = 0;
  EXPECT_EQ(CodeOf(inflated), ErrorCode::kInternal);
  std::string flipped = good;
  for (size_t i = 5; i < flipped.size(); ++i) flipped[i] = static_cast<char>(~flipped[i]);
  EXPECT_EQ(CodeOf(flipped), ErrorCode::kInternal);
}

}  // namespace
}  // namespace statehouse::storage
