#include "common/metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace statehouse::metrics {
namespace {

TEST(MetricsTest, RendersCountersGaugesAndHistogramsInTextFormat) {
  Registry r;
  auto& requests = r.AddCounter("app_requests_total", "Requests", {"route", "method"});
  requests.With({"/v1/orgs", "GET"}).Inc(3);
  requests.With({"/a\"b\\c\nd", "POST"}).Inc();
  r.AddGauge("app_in_flight", "In flight", {}).With({}).Set(2);
  static const std::vector<double> kBounds = {0.1, 1};
  auto& h = r.AddHistogram("app_seconds", "Latency", {"kind"}, kBounds).With({"read"});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  r.AddCollector([](std::string& out) {
    WriteHeader(out, "app_extra", "Extra", Type::kGauge);
    WriteSample(out, "app_extra", Labels({{"k", "v"}}), 1.5);
  });
  std::string text = r.Render();
  EXPECT_NE(text.find("# HELP app_requests_total Requests\n# TYPE app_requests_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("app_requests_total{route=\"/v1/orgs\",method=\"GET\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("app_requests_total{route=\"/a\\\"b\\\\c\\nd\",method=\"POST\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("app_in_flight 2\n"), std::string::npos);
  EXPECT_NE(text.find("app_seconds_bucket{kind=\"read\",le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("app_seconds_bucket{kind=\"read\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("app_seconds_bucket{kind=\"read\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("app_seconds_sum{kind=\"read\"} 5.55\n"), std::string::npos) << text;
  EXPECT_NE(text.find("app_seconds_count{kind=\"read\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("app_extra{k=\"v\"} 1.5\n"), std::string::npos);
}

TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& c = r.AddCounter("c_total", "C", {"t"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 10000; ++i) c.With({t % 2 ? "odd" : "even"}).Inc();
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.With({"odd"}).Value() + c.With({"even"}).Value(), 40000u);
}

}  // namespace
}  // namespace statehouse::metrics
