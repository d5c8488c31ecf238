// AuditTrail over a fake store: batching, Sync, retries, a full queue, stop, who may list.
#include "domain/audit.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"

namespace statehouse::domain {
namespace {

using namespace std::chrono_literals;

class FakeAuditStore : public storage::AuditStore {
 public:
  void Append(const std::vector<storage::AuditRecord>& records) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++attempts_;
    if (failures_left_ > 0) {
      --failures_left_;
      Fail(ErrorCode::kUnavailable, "database down");
    }
    ++appends_;
    for (const auto& r : records) stored_.push_back(r);
  }
  storage::Page<storage::AuditRecord> List(std::string_view account,
                                           const storage::AuditListQuery&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    storage::Page<storage::AuditRecord> page;
    for (const auto& r : stored_)
      if (r.account == account) page.items.push_back(r);
    page.total = static_cast<int64_t>(page.items.size());
    return page;
  }
  void FailNext(int n) {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_left_ = n;
  }
  std::vector<std::string> Stored() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& r : stored_) out.push_back(r.request_id);
    return out;
  }
  int Appends() {
    std::lock_guard<std::mutex> lock(mutex_);
    return appends_;
  }
  int Attempts() {
    std::lock_guard<std::mutex> lock(mutex_);
    return attempts_;
  }

 private:
  std::mutex mutex_;
  std::vector<storage::AuditRecord> stored_;
  int failures_left_ = 0;
  int appends_ = 0;
  int attempts_ = 0;
};

storage::AuditRecord Rec(int n, const std::string& account = "acct") {
  storage::AuditRecord r;
  r.account = account;
  r.time = n;
  r.action = "org.update";
  r.request_id = "r" + std::to_string(n);
  r.outcome = "success";
  r.status = 200;
  return r;
}

std::vector<std::string> Ids(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) out.push_back("r" + std::to_string(i));
  return out;
}

// Waits (bounded) for a condition another thread makes true.
bool Eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(AuditTrailTest, RecordsGatherIntoFewCommits) {
  FakeAuditStore store;
  AuditTrail::Options o;
  o.flush_interval = 200ms;
  AuditTrail trail(store, o);
  for (int i = 1; i <= 500; ++i) trail.Record(Rec(i));
  trail.Sync();
  EXPECT_EQ(store.Stored(), Ids(1, 500));
  EXPECT_LE(store.Appends(), 2) << "one batch, or two if the writer woke up in between";
}

TEST(AuditTrailTest, BatchesAreBounded) {
  FakeAuditStore store;
  AuditTrail::Options o;
  o.max_batch = 10;
  AuditTrail trail(store, o);
  for (int i = 1; i <= 95; ++i) trail.Record(Rec(i));
  trail.Sync();
  EXPECT_EQ(store.Stored(), Ids(1, 95));
  EXPECT_GE(store.Appends(), 10);
}

TEST(AuditTrailTest, SyncDoesNotWaitForTheFlushInterval) {
  FakeAuditStore store;
  AuditTrail::Options o;
  o.flush_interval = 30s;
  AuditTrail trail(store, o);
  trail.Record(Rec(1));
  auto started = std::chrono::steady_clock::now();
  trail.Sync();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_EQ(store.Stored(), Ids(1, 1));
  trail.Sync();  // nothing queued: returns at once
}

TEST(AuditTrailTest, AFailedAppendIsRetriedInOrder) {
  FakeAuditStore store;
  store.FailNext(2);
  AuditTrail::Options o;
  o.flush_interval = 1ms;
  o.retry_interval = 5ms;
  AuditTrail trail(store, o);
  for (int i = 1; i <= 3; ++i) trail.Record(Rec(i));
  ASSERT_TRUE(Eventually([&] { return store.Stored().size() >= 3; }));
  trail.Record(Rec(4));
  trail.Sync();
  EXPECT_EQ(store.Stored(), Ids(1, 4)) << "no loss, no duplicate, same order";
  EXPECT_GE(store.Attempts(), 3);
  EXPECT_EQ(trail.Dropped(), 0u);
}

TEST(AuditTrailTest, AFullQueueDropsTheOldest) {
  FakeAuditStore store;
  store.FailNext(1000000);
  AuditTrail::Options o;
  o.flush_interval = 1ms;
  o.retry_interval = 2ms;
  o.max_queued = 5;
  AuditTrail trail(store, o);
  for (int i = 1; i <= 12; ++i) trail.Record(Rec(i));
  ASSERT_TRUE(Eventually([&] { return store.Attempts() >= 2; }));
  store.FailNext(0);
  trail.Sync();
  ASSERT_TRUE(Eventually([&] { return store.Stored().size() >= 5; }));
  EXPECT_EQ(store.Stored(), Ids(8, 12)) << "the newest are kept";
  EXPECT_EQ(trail.Dropped(), 7u);
}

TEST(AuditTrailTest, StopStoresWhatIsQueued) {
  FakeAuditStore store;
  AuditTrail::Options o;
  o.flush_interval = 30s;
  auto started = std::chrono::steady_clock::now();
  {
    AuditTrail trail(store, o);
    for (int i = 1; i <= 3; ++i) trail.Record(Rec(i));
    trail.Stop();
    EXPECT_EQ(store.Stored(), Ids(1, 3));
    trail.Stop();  // idempotent
    trail.Record(Rec(4));
  }  // the destructor stores a record that came after Stop
  EXPECT_EQ(store.Stored(), Ids(1, 4));
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(AuditTrailTest, OnlyAnAccountWideAdminListsAndOnlyItsAccount) {
  FakeAuditStore store;
  AuditTrail trail(store);
  trail.Record(Rec(1, "acct"));
  trail.Record(Rec(2, "other"));
  auth::Principal admin{"acct", "t", auth::Role::kAdmin, "", "", ""};
  auto page = trail.List(admin, {});  // synced: no wait for the flush interval
  ASSERT_EQ(page.items.size(), 1u);
  EXPECT_EQ(page.items[0].request_id, "r1");
  for (auth::Principal p : {auth::Principal{"acct", "t", auth::Role::kEditor, "", "", ""},
                            auth::Principal{"acct", "t", auth::Role::kAdmin, "o1", "", ""},
                            auth::Principal{"acct", "t", auth::Role::kAdmin, "o1", "p1", ""}}) {
    try {
      trail.List(p, {});
      ADD_FAILURE() << "listed with role " << auth::RoleName(p.role) << " org " << p.org;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kPermissionDenied);
    }
  }
}

}  // namespace
}  // namespace statehouse::domain
