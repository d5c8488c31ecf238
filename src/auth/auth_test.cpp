#include "auth/auth.h"

#include <gtest/gtest.h>

namespace statehouse::auth {
namespace {

TEST(AuthTest, ParsesTokenFormat) {
  auto t = ParseTokenString("pat.acct.tok_1.SECRET");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->account, "acct");
  EXPECT_EQ(t->token_id, "tok_1");
  EXPECT_EQ(t->secret, "SECRET");
  EXPECT_FALSE(ParseTokenString("pat.acct.tok"));
  EXPECT_FALSE(ParseTokenString("sat.acct.tok.s"));
  EXPECT_FALSE(ParseTokenString("pat..tok.s"));
  EXPECT_FALSE(ParseTokenString("pat.a.b.c.d"));
  EXPECT_FALSE(ParseTokenString(""));
}

TEST(AuthTest, HashesAreSaltedAndVerify) {
  SecretHash a = HashSecret("s3cret");
  SecretHash b = HashSecret("s3cret");
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.hash, b.hash);
  EXPECT_TRUE(VerifySecret("s3cret", a.salt, a.hash));
  EXPECT_FALSE(VerifySecret("s3creT", a.salt, a.hash));
  EXPECT_FALSE(VerifySecret("s3cret", b.salt, a.hash));
  EXPECT_FALSE(VerifySecret("s3cret", "", ""));
}

TEST(AuthTest, MintedTokensRoundTrip) {
  MintedSecret m = MintSecret();
  EXPECT_GE(m.secret.size(), 32u);
  auto parsed = ParseTokenString(FormatToken("default", "admin", m.secret));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_TRUE(VerifySecret(parsed->secret, m.stored.salt, m.stored.hash));
}

TEST(AuthTest, ScopesCover) {
  Principal account{"a", "t", Role::kAdmin, "", "", ""};
  Principal org{"a", "t", Role::kEditor, "o1", "", ""};
  Principal project{"a", "t", Role::kViewer, "o1", "p1", ""};
  EXPECT_TRUE(account.Covers("o2", "p9"));
  EXPECT_TRUE(org.Covers("o1", "p9"));
  EXPECT_FALSE(org.Covers("o2", ""));
  EXPECT_FALSE(org.Covers("", ""));
  EXPECT_TRUE(project.Covers("o1", "p1"));
  EXPECT_FALSE(project.Covers("o1", "p2"));
  EXPECT_FALSE(project.Covers("o1", ""));
  EXPECT_TRUE(project.CanSee("o1", ""));
  EXPECT_FALSE(project.CanSee("o2", ""));
  EXPECT_TRUE(org.HasRole(Role::kEditor));
  EXPECT_FALSE(org.HasRole(Role::kAdmin));
}

}  // namespace
}  // namespace statehouse::auth
