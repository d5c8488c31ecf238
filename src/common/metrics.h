// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). The registry is an object the application owns and hands
// to the parts it measures; updates are lock-free once a label set has been seen.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace statehouse::metrics {

class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double value);
  // Cumulative counts per bound (the last is +Inf), the count and the sum.
  void Snapshot(std::vector<uint64_t>& cumulative, uint64_t& count, double& sum) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};  // the sum in millionths, to stay an integer atomic
};

// Seconds from 100 us to 30 s: requests, transactions, lock hold times.
const std::vector<double>& LatencyBuckets();

enum class Type { kCounter, kGauge, kHistogram };

// One metric name with its label names; one child per label value set.
template <typename Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> labels, Type type,
         const std::vector<double>* bounds = nullptr)
      : name_(std::move(name)),
        help_(std::move(help)),
        labels_(std::move(labels)),
        type_(type),
        bounds_(bounds) {}

  // The child for these label values (in label order); created on first use.
  Metric& With(std::initializer_list<std::string_view> values);
  void Render(std::string& out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  Type type_;
  const std::vector<double>* bounds_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::unique_ptr<Metric>, std::less<>> children_;  // key: rendered labels
};

class Registry {
 public:
  Family<Counter>& AddCounter(std::string name, std::string help, std::vector<std::string> labels);
  Family<Gauge>& AddGauge(std::string name, std::string help, std::vector<std::string> labels);
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> labels,
                                  const std::vector<double>& bounds = LatencyBuckets());
  // Appends lines computed at scrape time (process figures, database totals). The function
  // writes whole metric families (# HELP, # TYPE and samples).
  void AddCollector(std::function<void(std::string& out)> collector);

  std::string Render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Family<Counter>>> counters_;
  std::vector<std::unique_ptr<Family<Gauge>>> gauges_;
  std::vector<std::unique_ptr<Family<Histogram>>> histograms_;
  std::vector<std::function<void(std::string&)>> collectors_;
};

// Helpers for collectors: one family of one sample each.
void WriteHeader(std::string& out, std::string_view name, std::string_view help, Type type);
void WriteSample(std::string& out, std::string_view name, std::string_view labels, double value);
// {a="x",b="y"} with Prometheus escaping; "" for no labels.
std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs);

}  // namespace statehouse::metrics
