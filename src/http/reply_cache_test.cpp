// ReplyCache: entries are served only while the commit counter equals their snapshot; no
// counter, no cache; streamed and large answers are not kept; a full cache starts over.
#include "http/reply_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace statehouse::http {
namespace {

Response Make(int status, std::string body, std::string content_type = "application/json") {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

// "k<n>" (built without operator+, which trips a false -Wrestrict in GCC 12).
std::string Key(int n) {
  std::string k = "k";
  k += std::to_string(n);
  return k;
}

void Advance(storage::CommitClock& clock, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) clock.Tick();
}

std::string BodyOf(ReplyCache& cache, const std::string& key) {
  auto hit = cache.Find(key);
  return hit ? hit->body : "<miss>";
}

void ExpectSame(const Response& got, const Response& want) {
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.headers, want.headers);
  EXPECT_EQ(got.content_type, want.content_type);
  EXPECT_EQ(got.body, want.body);
  EXPECT_EQ(got.body_file, want.body_file);
}

TEST(ReplyCacheTest, HitWhileTheCounterStandsStill) {
  storage::CommitClock commits;
  Advance(commits, 5);
  ReplyCache cache(&commits);
  ASSERT_TRUE(cache.Enabled());
  EXPECT_EQ(cache.Snapshot(), 5u);
  EXPECT_FALSE(cache.Find("k"));
  Response r = Make(200, R"({"a":1})");
  cache.Store("k", r, cache.Snapshot());
  for (int i = 0; i < 3; ++i) {
    auto hit = cache.Find("k");
    ASSERT_TRUE(hit) << "lookup " << i;
    ExpectSame(*hit, r);
  }
}

TEST(ReplyCacheTest, ReturnedResponseEqualsWhatWasStored) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  Response r = Make(201, "name: x\nitems:\n  - 1\n", "application/yaml");
  r.headers.emplace_back("ETag", "\"7\"");
  r.headers.emplace_back("X-Total-Elements", "12");
  r.headers.emplace_back("Link", "</v1/orgs?page=2>; rel=\"next\"");
  cache.Store("key", r, 0);
  auto hit = cache.Find("key");
  ASSERT_TRUE(hit);
  ExpectSame(*hit, r);
  ASSERT_EQ(hit->headers.size(), 3u);
  EXPECT_EQ(hit->headers[0], (std::pair<std::string, std::string>{"ETag", "\"7\""}));
}

TEST(ReplyCacheTest, CallerChangesToAHitDoNotReachTheCache) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  Response r = Make(200, "original");
  r.headers.emplace_back("ETag", "\"1\"");
  cache.Store("k", r, 0);
  auto first = cache.Find("k");
  ASSERT_TRUE(first);
  first->body = "changed";
  first->headers.clear();
  first->status = 500;
  auto second = cache.Find("k");
  ASSERT_TRUE(second);
  ExpectSame(*second, r);
}

TEST(ReplyCacheTest, StoringCopiesTheResponse) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  Response r = Make(200, "original");
  cache.Store("k", r, 0);
  r.body = "changed after store";
  auto hit = cache.Find("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->body, "original");
}

TEST(ReplyCacheTest, MissAfterTheCounterMoves) {
  storage::CommitClock commits;
  Advance(commits, 10);
  ReplyCache cache(&commits);
  cache.Store("k", Make(200, "old"), cache.Snapshot());
  ASSERT_TRUE(cache.Find("k"));
  commits.Tick();
  EXPECT_FALSE(cache.Find("k")) << "a write committed since the answer was rendered";
  EXPECT_FALSE(cache.Find("k"));
  // Stored again at the new count, it is served again.
  cache.Store("k", Make(200, "new"), cache.Snapshot());
  auto hit = cache.Find("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->body, "new");
}

TEST(ReplyCacheTest, EveryKeyGoesStaleWhenTheCounterMoves) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  for (int i = 0; i < 10; ++i) cache.Store(Key(i), Make(200, "x"), 0);
  commits.Tick();
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(cache.Find(Key(i))) << i;
}

TEST(ReplyCacheTest, AnswerStoredWithAnOldSnapshotIsNeverServed) {
  // The handler read at count 3; a write committed (4) before it stored its answer.
  storage::CommitClock commits;
  Advance(commits, 3);
  ReplyCache cache(&commits);
  uint64_t snapshot = *cache.Snapshot();
  commits.Tick();
  cache.Store("k", Make(200, "read before the write"), snapshot);
  EXPECT_FALSE(cache.Find("k"));
  EXPECT_FALSE(cache.Find("k"));
}

TEST(ReplyCacheTest, OldSnapshotStoreDoesNotLetAFreshEntrySurviveAsStale) {
  // A slow reader (old snapshot) stores after a fast one (current snapshot): the key may miss,
  // but must never answer the slow reader's older body.
  storage::CommitClock commits;
  Advance(commits, 1);
  ReplyCache cache(&commits);
  uint64_t slow_snapshot = *cache.Snapshot();
  commits.Tick();
  cache.Store("k", Make(200, "fresh"), cache.Snapshot());
  cache.Store("k", Make(200, "stale"), slow_snapshot);
  auto hit = cache.Find("k");
  if (hit) {
    EXPECT_EQ(hit->body, "fresh");
  }
}

TEST(ReplyCacheTest, SnapshotFromTheFutureIsNotServedEither) {
  storage::CommitClock commits;
  Advance(commits, 3);
  ReplyCache cache(&commits);
  cache.Store("k", Make(200, "x"), 4);
  EXPECT_FALSE(cache.Find("k"));
}

TEST(ReplyCacheTest, KeysAreIndependent) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  cache.Store("/v1/orgs/a\nacct\n\n\n30", Make(200, "a json"), 0);
  cache.Store("/v1/orgs/a\nacct\n\n\n31", Make(200, "a yaml"), 0);
  cache.Store("/v1/orgs/b\nacct\n\n\n30", Make(200, "b json"), 0);
  EXPECT_EQ(BodyOf(cache, "/v1/orgs/a\nacct\n\n\n30"), "a json");
  EXPECT_EQ(BodyOf(cache, "/v1/orgs/a\nacct\n\n\n31"), "a yaml");
  EXPECT_EQ(BodyOf(cache, "/v1/orgs/b\nacct\n\n\n30"), "b json");
  EXPECT_FALSE(cache.Find("/v1/orgs/c\nacct\n\n\n30"));
}

TEST(ReplyCacheTest, StoringTheSameKeyReplacesIt) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  cache.Store("k", Make(200, "one"), 0);
  cache.Store("k", Make(200, "two"), 0);
  EXPECT_EQ(BodyOf(cache, "k"), "two");
}

TEST(ReplyCacheTest, DisabledWithoutACounter) {
  ReplyCache cache(nullptr);
  EXPECT_FALSE(cache.Enabled());
  cache.Store("k", Make(200, "x"), 0);
  EXPECT_FALSE(cache.Find("k"));
  cache.Store("k", Make(200, "x"), 0);
  EXPECT_FALSE(cache.Find("k"));
}

TEST(ReplyCacheTest, BodyFileResponsesAreKeptByName) {
  // Blob files are named by their content and never rewritten: the name is the answer.
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  Response r = Make(200, "", "application/octet-stream");
  r.body_file = "/var/lib/statehouse/blobs/ab/cdef";
  cache.Store("k", r, 0);
  auto hit = cache.Find("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->body_file, r.body_file);
  EXPECT_TRUE(hit->body.empty());
  commits.Tick();
  EXPECT_FALSE(cache.Find("k")) << "a write may have made another version the newest";
}

TEST(ReplyCacheTest, BodyFileResponseReplacesAnEntry) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);
  cache.Store("k", Make(200, "old"), 0);
  Response r = Make(200, "");
  r.body_file = "/tmp/x";
  cache.Store("k", r, 0);
  auto hit = cache.Find("k");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->body_file, "/tmp/x");
  EXPECT_TRUE(hit->body.empty());
}

TEST(ReplyCacheTest, OversizeResponsesAreNotStored) {
  // max_bytes 1600: an entry (key + body + content type + headers) may take at most 100.
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits, 1600);
  std::string ct = "application/json";  // 16
  // key 1 + ct 16 + body 83 = 100: kept.
  cache.Store("a", Make(200, std::string(83, 'x'), ct), 0);
  EXPECT_TRUE(cache.Find("a"));
  // key 1 + ct 16 + body 84 = 101: too large.
  cache.Store("b", Make(200, std::string(84, 'x'), ct), 0);
  EXPECT_FALSE(cache.Find("b"));
  // Headers count: a small body with a big header is too large as well.
  Response h = Make(200, "{}", ct);
  h.headers.emplace_back("X-Big", std::string(100, 'h'));
  cache.Store("c", h, 0);
  EXPECT_FALSE(cache.Find("c"));
  // The key counts too.
  cache.Store(std::string(200, 'k'), Make(200, "{}", ct), 0);
  EXPECT_FALSE(cache.Find(std::string(200, 'k')));
  // Skipping the oversize ones left the rest alone.
  EXPECT_TRUE(cache.Find("a"));
}

TEST(ReplyCacheTest, OversizeWithTheDefaultLimit) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits);  // 8 MiB: at most 512 KiB an entry
  cache.Store("small", Make(200, std::string(100 << 10, 'x')), 0);
  cache.Store("big", Make(200, std::string(1 << 20, 'x')), 0);
  EXPECT_TRUE(cache.Find("small"));
  EXPECT_FALSE(cache.Find("big"));
}

TEST(ReplyCacheTest, FillingPastTheLimitClearsEverything) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits, 1600);
  // Each entry: key 4 + content type 16 + body 80 = 100 bytes; 16 of them take all 1600.
  auto key = [](int i) { return Key(100 + i); };  // 4 characters
  for (int i = 0; i < 16; ++i) cache.Store(key(i), Make(200, std::string(80, 'a' + i)), 0);
  for (int i = 0; i < 16; ++i) {
    auto hit = cache.Find(key(i));
    ASSERT_TRUE(hit) << "entry " << i << " lost before the cache was full";
    EXPECT_EQ(hit->body, std::string(80, 'a' + i));
  }
  // The 17th does not fit: everything goes, then it is stored.
  cache.Store(key(16), Make(200, std::string(80, 'q')), 0);
  for (int i = 0; i < 16; ++i) EXPECT_FALSE(cache.Find(key(i))) << "entry " << i << " survived";
  auto last = cache.Find(key(16));
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body, std::string(80, 'q'));
}

TEST(ReplyCacheTest, ReplacingAKeyDoesNotCountItTwice) {
  // Storing the same key again must release its old size: replacing one entry many times
  // never fills the cache.
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits, 1600);
  cache.Store("keep", Make(200, std::string(80, 'k')), 0);
  for (int i = 0; i < 100; ++i) cache.Store("hot", Make(200, std::string(80, 'h')), 0);
  EXPECT_TRUE(cache.Find("keep")) << "re-storing one key filled the cache";
  EXPECT_TRUE(cache.Find("hot"));
}

TEST(ReplyCacheTest, StaleEntriesDroppedOnLookupFreeTheirSpace) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits, 1600);
  auto key = [](int i) { return Key(100 + i); };  // 4 characters
  for (int i = 0; i < 16; ++i) cache.Store(key(i), Make(200, std::string(80, 'a')), 0);
  commits.Tick();
  for (int i = 0; i < 16; ++i) EXPECT_FALSE(cache.Find(key(i)));  // drops them all
  // The space is free again: 16 fresh entries fit without a clear.
  for (int i = 16; i < 32; ++i) cache.Store(key(i), Make(200, std::string(80, 'b')), 1);
  for (int i = 16; i < 32; ++i) EXPECT_TRUE(cache.Find(key(i))) << "entry " << i;
}

TEST(ReplyCacheTest, ConcurrentUseStaysConsistent) {
  storage::CommitClock commits;
  Advance(commits, 0);
  ReplyCache cache(&commits, 64 << 10);
  std::atomic<bool> wrong{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        std::string k = Key((i * 7 + t) % 50);
        std::optional<uint64_t> snap = cache.Snapshot();
        if (auto hit = cache.Find(k)) {
          if (hit->body != k) wrong = true;
        } else {
          cache.Store(k, Make(200, k), snap);
        }
        if (t == 0 && i % 100 == 0) commits.Tick();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(wrong.load()) << "a key answered another key's body";
}

// A bounded clock (PostgreSQL replicas): nothing is found or kept until the watcher confirms,
// and nothing after the confirmation has aged past the bound.
TEST(ReplyCacheTest, BoundedClockServesOnlyWhileConfirmed) {
  using namespace std::chrono_literals;
  storage::CommitClock commits(200ms);
  ReplyCache cache(&commits);
  EXPECT_FALSE(cache.Snapshot().has_value()) << "never confirmed";
  cache.Store("k", Make(200, "unvouched"), cache.Snapshot());
  EXPECT_EQ(BodyOf(cache, "k"), "<miss>");

  commits.Confirm(storage::CommitClock::Clock::now());
  ASSERT_TRUE(cache.Snapshot().has_value());
  cache.Store("k", Make(200, "v1"), cache.Snapshot());
  EXPECT_EQ(BodyOf(cache, "k"), "v1");
  commits.Tick();  // another replica's commit, as the watcher counts it
  EXPECT_EQ(BodyOf(cache, "k"), "<miss>");

  // A confirmation older than the bound vouches for nothing; confirmations never go back.
  cache.Store("k", Make(200, "v2"), cache.Snapshot());
  EXPECT_EQ(BodyOf(cache, "k"), "v2");
  commits.Confirm(storage::CommitClock::Clock::now() - 1s);
  EXPECT_EQ(BodyOf(cache, "k"), "v2") << "an older confirmation must not replace a newer one";
  storage::CommitClock lapsed(50ms);
  lapsed.Confirm(storage::CommitClock::Clock::now() - 60ms);
  EXPECT_FALSE(lapsed.Now().has_value());
  EXPECT_FALSE(lapsed.Exact());
  EXPECT_TRUE(commits.Now().has_value());
  EXPECT_TRUE(storage::CommitClock().Exact());
}

}  // namespace
}  // namespace statehouse::http
