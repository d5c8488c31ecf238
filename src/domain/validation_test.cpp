#include "domain/validation.h"

#include <gtest/gtest.h>

#include <string>

#include "common/error.h"

namespace statehouse::domain {
namespace {

template <typename Fn>
std::string InvalidMessage(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kInvalidArgument";
  return "";
}

bool StartsWith(const std::string& s, std::string_view prefix) { return s.rfind(prefix, 0) == 0; }

// --- identifiers: ^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$ ------------------------------------------

TEST(ValidateIdentifierTest, AcceptsValid) {
  for (const char* ok : {"a", "Z", "_", "_x", "org1", "my_org", "a$b", "a$", "A1_$z", "__"}) {
    SCOPED_TRACE(ok);
    EXPECT_NO_THROW(ValidateIdentifier("identifier", ok));
  }
}

TEST(ValidateIdentifierTest, LengthLimit) {
  EXPECT_NO_THROW(ValidateIdentifier("identifier", std::string(128, 'a')));
  EXPECT_NO_THROW(ValidateIdentifier("identifier", "_" + std::string(127, '9')));
  std::string msg = InvalidMessage([] { ValidateIdentifier("identifier", std::string(129, 'a')); });
  EXPECT_TRUE(StartsWith(msg, "identifier:")) << msg;
  EXPECT_NE(msg.find("128"), std::string::npos) << msg;
}

TEST(ValidateIdentifierTest, EmptyFails) {
  std::string msg = InvalidMessage([] { ValidateIdentifier("org.identifier", ""); });
  EXPECT_TRUE(StartsWith(msg, "org.identifier:")) << msg;
}

TEST(ValidateIdentifierTest, LeadingDigitFails) {
  InvalidMessage([] { ValidateIdentifier("identifier", "1abc"); });
  InvalidMessage([] { ValidateIdentifier("identifier", "0"); });
}

TEST(ValidateIdentifierTest, LeadingDollarFails) {
  InvalidMessage([] { ValidateIdentifier("identifier", "$abc"); });
}

TEST(ValidateIdentifierTest, DashFails) {
  std::string msg = InvalidMessage([] { ValidateIdentifier("project.identifier", "my-project"); });
  EXPECT_TRUE(StartsWith(msg, "project.identifier:")) << msg;
  EXPECT_NE(msg.find("^[a-zA-Z_]"), std::string::npos) << msg;  // tells the pattern
}

TEST(ValidateIdentifierTest, OtherCharactersFail) {
  for (const char* bad : {"a b", "a.b", "a/b", "ä", "a\n", "a%", "-a", " a", "a-"}) {
    SCOPED_TRACE(bad);
    InvalidMessage([&] { ValidateIdentifier("identifier", bad); });
  }
  InvalidMessage([] { ValidateIdentifier("identifier", std::string("a\0b", 3)); });
}

// --- names: ^[a-zA-Z_][0-9a-zA-Z-_ ]{0,127}$ -----------------------------------------------

TEST(ValidateNameTest, AcceptsValid) {
  for (const char* ok : {"Platform", "My Org", "net-work", "a_b", "_x", "A 1-2_3", "a  b", "x "}) {
    SCOPED_TRACE(ok);
    EXPECT_NO_THROW(ValidateName("name", ok));
  }
}

TEST(ValidateNameTest, LengthLimit) {
  EXPECT_NO_THROW(ValidateName("name", "N" + std::string(127, ' ')));
  EXPECT_NO_THROW(ValidateName("name", std::string(128, 'n')));
  std::string msg = InvalidMessage([] { ValidateName("org.name", std::string(129, 'n')); });
  EXPECT_TRUE(StartsWith(msg, "org.name:")) << msg;
}

TEST(ValidateNameTest, Rejects) {
  for (const char* bad : {"", "1st", "-lead", " lead", "a$b", "a.b", "a/b", "é", "a\tb"}) {
    SCOPED_TRACE(bad);
    std::string msg = InvalidMessage([&] { ValidateName("org.name", bad); });
    EXPECT_TRUE(StartsWith(msg, "org.name:")) << msg;
  }
}

// --- labels ------------------------------------------------------------------------------------

TEST(ValidateLabelTest, FreeTextButNoControlCharacters) {
  EXPECT_NO_THROW(ValidateLabel("name", "Token for CI (prod) #1 — ü"));
  EXPECT_NO_THROW(ValidateLabel("name", std::string(128, 'x')));
  InvalidMessage([] { ValidateLabel("name", ""); });
  InvalidMessage([] { ValidateLabel("name", std::string(129, 'x')); });
  InvalidMessage([] { ValidateLabel("name", "a\nb"); });
  InvalidMessage([] { ValidateLabel("name", "a\x7f"); });
  std::string msg = InvalidMessage([] { ValidateLabel("token.name", "\t"); });
  EXPECT_TRUE(StartsWith(msg, "token.name:")) << msg;
}

TEST(ValidateMaxLengthTest, Boundary) {
  EXPECT_NO_THROW(ValidateMaxLength("description", std::string(1024, 'd'), 1024));
  std::string msg =
      InvalidMessage([] { ValidateMaxLength("description", std::string(1025, 'd'), 1024); });
  EXPECT_TRUE(StartsWith(msg, "description:")) << msg;
  EXPECT_NE(msg.find("1024"), std::string::npos) << msg;
}

// --- tags --------------------------------------------------------------------------------------

storage::Tags ManyTags(size_t n) {
  storage::Tags t;
  for (size_t i = 0; i < n; ++i) t.emplace_back("k" + std::to_string(i), "v");
  return t;
}

TEST(ValidateTagsTest, CountLimit) {
  EXPECT_NO_THROW(ValidateTags("tags", {}));
  EXPECT_NO_THROW(ValidateTags("tags", ManyTags(128)));
  std::string msg = InvalidMessage([] { ValidateTags("org.tags", ManyTags(129)); });
  EXPECT_TRUE(StartsWith(msg, "org.tags")) << msg;
  EXPECT_NE(msg.find("128"), std::string::npos) << msg;
}

TEST(ValidateTagsTest, KeyLength) {
  EXPECT_NO_THROW(ValidateTags("tags", {{std::string(128, 'k'), "v"}}));
  std::string msg = InvalidMessage([] {
    ValidateTags("org.tags", {{std::string(129, 'k'), "v"}});
  });
  EXPECT_TRUE(StartsWith(msg, "org.tags")) << msg;
  msg = InvalidMessage([] { ValidateTags("org.tags", {{"", "v"}}); });
  EXPECT_TRUE(StartsWith(msg, "org.tags")) << msg;
}

TEST(ValidateTagsTest, ValueLengthNamesTheKey) {
  EXPECT_NO_THROW(ValidateTags("tags", {{"team", std::string(1024, 'v')}}));
  EXPECT_NO_THROW(ValidateTags("tags", {{"team", ""}}));
  std::string msg = InvalidMessage([] {
    ValidateTags("org.tags", {{"ok", "x"}, {"team", std::string(1025, 'v')}});
  });
  EXPECT_TRUE(StartsWith(msg, "org.tags.team:")) << msg;
  EXPECT_NE(msg.find("1024"), std::string::npos) << msg;
}

}  // namespace
}  // namespace statehouse::domain
