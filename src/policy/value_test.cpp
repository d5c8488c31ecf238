// The value representation: strings ordered by their six-byte prefix and then their bytes,
// objects kept in their node (sorted, last duplicate key wins), and bindings that point at the
// values they are bound to while `with` swaps the input.
#include "policy/value.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "policy/engine.h"

namespace statehouse::policy {
namespace {

Value S(const std::string& s) { return Value::String(s); }

TEST(PolicyValue, IsSixteenBytes) { EXPECT_EQ(sizeof(Value), 16u); }

TEST(PolicyValue, StringsOrderAsTheirBytesAcrossThePrefix) {
  // Pairs that the six-byte prefix decides, and pairs it cannot: equal prefixes, a NUL inside
  // the prefix, bytes above 0x7f, and the empty string.
  std::vector<std::string> sorted = {"",
                                     std::string("\0", 1),
                                     std::string("a\0", 2),
                                     "a",
                                     "ab",
                                     "abcdef",
                                     "abcdefa",
                                     "abcdefb",
                                     "abcdefb\xff",
                                     "abcdeg",
                                     "b",
                                     "\x7f",
                                     "\x80",
                                     "\xff\xff"};
  std::sort(sorted.begin(), sorted.end());  // std::string's order is the one OPA uses
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (size_t j = 0; j < sorted.size(); ++j) {
      int expected = i < j ? -1 : (i > j ? 1 : 0);
      EXPECT_EQ(S(sorted[i]).Compare(S(sorted[j])), expected)
          << "'" << sorted[i] << "' vs '" << sorted[j] << "'";
    }
  }
}

TEST(PolicyValue, CopiesKeepKindFlagAndPrefix) {
  Value t = Value::Bool(true), n = Value::Int(-7), d = Value::Double(1.5), s = S("prefixed key");
  Value t2 = t, n2 = n, d2 = d, s2 = s;
  EXPECT_TRUE(t2.IsTrue());
  EXPECT_EQ(n2.AsNumber().AsInt(), -7);
  EXPECT_FALSE(d2.AsNumber().is_int);
  EXPECT_EQ(d2.AsNumber().d, 1.5);
  EXPECT_EQ(s2.AsString(), "prefixed key");
  EXPECT_EQ(s2.PrefixOrder(), s.PrefixOrder());
  Value moved = std::move(s2);
  EXPECT_TRUE(s2.IsNull());  // NOLINT: the moved-from value is null by design
  EXPECT_EQ(moved, s);
  EXPECT_EQ(Value::Bool(false).Compare(Value::Bool(true)), -1);
  EXPECT_EQ(Value::Int(2).Compare(Value::Double(2.0)), 0);
}

TEST(PolicyValue, ObjectsFromJsonAreSortedAndTheLastDuplicateWins) {
  Value o = ParseJson(R"({"b":1,"a":2,"b":3,"abcdefz":4,"abcdefa":5,"":6})");
  ASSERT_TRUE(o.IsObject());
  EXPECT_EQ(o.ToJson(), R"({"":6,"a":2,"abcdefa":5,"abcdefz":4,"b":3})");
  EXPECT_EQ(o.Find("b")->AsNumber().AsInt(), 3);
  EXPECT_EQ(o.Find(S("abcdefz"))->AsNumber().AsInt(), 4);
  EXPECT_EQ(o.Find(""), o.Find(S("")));
  EXPECT_EQ(o.Find("abcdef"), nullptr);
  EXPECT_EQ(o.Find(S("c")), nullptr);
}

TEST(PolicyValue, LargeUnsortedObjectsSortStably) {
  // More keys than the insertion sort takes, in reverse order, with duplicates.
  std::string text = "{";
  for (int i = 99; i >= 0; --i)
    text += "\"key_" + std::to_string(i % 60) + "\":" + std::to_string(i) + ",";
  text.back() = '}';
  Value o = ParseJson(text);
  ASSERT_EQ(o.AsObject().size(), 60u);
  for (size_t i = 1; i < o.AsObject().size(); ++i) {
    EXPECT_LT(o.AsObject()[i - 1].first.Compare(o.AsObject()[i].first), 0);
  }
  // Keys 0..39 appear twice (i and i + 60, larger first): the later one, i, wins.
  EXPECT_EQ(o.Find("key_5")->AsNumber().AsInt(), 5);
  EXPECT_EQ(o.Find("key_45")->AsNumber().AsInt(), 45);
  Value built = Value::MakeObject(o.AsObject().Entries());
  EXPECT_EQ(built, o);
}

TEST(PolicyValue, MixedKeyKindsFollowOpasOrder) {
  Value o = Value::MakeObject(
      {{S("s"), Value::Int(1)}, {Value::Int(2), Value::Int(2)}, {Value::Null(), Value::Int(3)}});
  ASSERT_EQ(o.AsObject().size(), 3u);
  EXPECT_TRUE(o.AsObject()[0].first.IsNull());
  EXPECT_TRUE(o.AsObject()[1].first.IsNumber());
  EXPECT_EQ(o.Find(S("s"))->AsNumber().AsInt(), 1);
  EXPECT_EQ(o.Find(Value::Int(2))->AsNumber().AsInt(), 2);
  EXPECT_EQ(o.Find(S("t")), nullptr);
}

TEST(PolicyValue, AVariableBoundToInputKeepsItsValueUnderWith) {
  // x is bound to the input; `with` swaps the input for one expression. x must keep the
  // original, as in OPA.
  auto compiled = Engine::Compile({{"p.rego", R"(package p
import rego.v1
x := input.a
y := v if {
  v := input.a with input as {"a": 2}
}
both := [x, y, input.a]
inner := r if {
  v := input
  r := [v.a, w] with input as {"a": 3}
}
w := input.a
)"}});
  Value in = ParseJson(R"({"a": 1})");
  auto both = compiled->Evaluate({"p", "both"}, in);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->ToJson(), "[1,2,1]");
  auto inner = compiled->Evaluate({"p", "inner"}, in);
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->ToJson(), "[1,3]");
}

}  // namespace
}  // namespace statehouse::policy
