#include "common/metrics.h"

#include <charconv>
#include <cmath>

namespace statehouse::metrics {
namespace {

void AppendEscaped(std::string& out, std::string_view value) {
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void AppendNumber(std::string& out, double value) {
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  char buffer[64];
  auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ptr);
}

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string RenderLabels(const std::vector<std::string>& names,
                         std::initializer_list<std::string_view> values) {
  std::string out;
  size_t i = 0;
  for (std::string_view v : values) {
    if (i >= names.size()) break;
    out += i ? "," : "";
    out += names[i++];
    out += "=\"";
    AppendEscaped(out, v);
    out += '"';
  }
  return out;
}

// {labels} or {labels,extra} or {extra} or "".
std::string Braced(std::string_view labels, std::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return {};
  std::string out = "{";
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
  return out;
}

}  // namespace

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  if (value > 0)
    sum_micros_.fetch_add(static_cast<uint64_t>(std::llround(value * 1e6)),
                          std::memory_order_relaxed);
}

void Histogram::Snapshot(std::vector<uint64_t>& cumulative, uint64_t& count, double& sum) const {
  cumulative.assign(bounds_.size() + 1, 0);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    cumulative[i] = running;
  }
  count = running;  // consistent with the buckets even while observations arrive
  sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1,      2.5,     5,      10,    30};
  return kBounds;
}

template <typename Metric>
Metric& Family<Metric>::With(std::initializer_list<std::string_view> values) {
  std::string key = RenderLabels(labels_, values);
  {
    std::shared_lock lock(mutex_);
    auto it = children_.find(key);
    if (it != children_.end()) return *it->second;
  }
  std::unique_lock lock(mutex_);
  auto it = children_.find(key);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<Metric> child;
  if constexpr (std::is_same_v<Metric, Histogram>)
    child = std::make_unique<Histogram>(*bounds_);
  else
    child = std::make_unique<Metric>();
  Metric& ref = *child;
  children_.emplace(std::move(key), std::move(child));
  return ref;
}

template <typename Metric>
void Family<Metric>::Render(std::string& out) const {
  WriteHeader(out, name_, help_, type_);
  std::shared_lock lock(mutex_);
  for (const auto& [labels, child] : children_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      std::vector<uint64_t> cumulative;
      uint64_t count = 0;
      double sum = 0;
      child->Snapshot(cumulative, count, sum);
      const std::vector<double>& bounds = child->bounds();
      for (size_t i = 0; i <= bounds.size(); ++i) {
        std::string le = "le=\"";
        if (i < bounds.size())
          AppendNumber(le, bounds[i]);
        else
          le += "+Inf";
        le += '"';
        out += name_;
        out += "_bucket";
        out += Braced(labels, le);
        out += ' ';
        AppendNumber(out, static_cast<double>(cumulative[i]));
        out += '\n';
      }
      WriteSample(out, name_ + "_sum", labels, sum);
      WriteSample(out, name_ + "_count", labels, static_cast<double>(count));
    } else {
      WriteSample(out, name_, labels, static_cast<double>(child->Value()));
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  counters_.push_back(std::make_unique<Family<Counter>>(std::move(name), std::move(help),
                                                        std::move(labels), Type::kCounter));
  return *counters_.back();
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> labels) {
  std::lock_guard lock(mutex_);
  gauges_.push_back(std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                                    std::move(labels), Type::kGauge));
  return *gauges_.back();
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> labels,
                                          const std::vector<double>& bounds) {
  std::lock_guard lock(mutex_);
  histograms_.push_back(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(labels), Type::kHistogram, &bounds));
  return *histograms_.back();
}

void Registry::AddCollector(std::function<void(std::string&)> collector) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  std::string out;
  out.reserve(16384);
  std::vector<std::function<void(std::string&)>> collectors;
  {
    std::lock_guard lock(mutex_);
    for (const auto& f : counters_) f->Render(out);
    for (const auto& f : gauges_) f->Render(out);
    for (const auto& f : histograms_) f->Render(out);
    collectors = collectors_;
  }
  for (const auto& c : collectors) c(out);
  return out;
}

void WriteHeader(std::string& out, std::string_view name, std::string_view help, Type type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += TypeName(type);
  out += '\n';
}

void WriteSample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  out += Braced(labels);
  out += ' ';
  AppendNumber(out, value);
  out += '\n';
}

std::string Labels(std::initializer_list<std::pair<std::string_view, std::string_view>> pairs) {
  std::string out;
  for (const auto& [k, v] : pairs) {
    out += out.empty() ? "" : ",";
    out += k;
    out += "=\"";
    AppendEscaped(out, v);
    out += '"';
  }
  return out;
}

}  // namespace statehouse::metrics
