#include "common/util.h"

#include <gtest/gtest.h>

namespace statehouse {
namespace {

TEST(Rfc3339UtcTest, FormatsUnixMillisecondsInUtc) {
  EXPECT_EQ(Rfc3339Utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(Rfc3339Utc(0, true), "1970-01-01T00:00:00.000Z");
  // 2026-12-07T23:05:09.042Z
  EXPECT_EQ(Rfc3339Utc(1796684709042), "2026-12-07T23:05:09Z");
  EXPECT_EQ(Rfc3339Utc(1796684709042, true), "2026-12-07T23:05:09.042Z");
  // Leap day, and the last millisecond of a year.
  EXPECT_EQ(Rfc3339Utc(951782400000, true), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(Rfc3339Utc(1704067199999, true), "2023-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace statehouse
