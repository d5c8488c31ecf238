// The cost engine: a Terraform plan JSON (`terraform show -json` of a saved plan) in, a cost
// document in Infracost's JSON format out: the breakdown of the planned resources, the past
// breakdown (of the resources before the plan, or of a given prior state) and their diff.
// Conventions are Infracost's: 730 hours a month, costs as decimal strings, usage-based
// components without usage are null. Pure: no network, no storage.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "cost/catalog.h"
#include "cost/decimal.h"

namespace statehouse::cost {

// An Infracost usage file (YAML): `resource_usage` maps resource addresses (or address patterns
// with `[*]`) to usage values, e.g. aws_lambda_function.api: {monthly_requests: 1000000}.
class UsageFile {
 public:
  // Throws statehouse::Error (kInvalidArgument) on text that is not a usage file.
  static UsageFile Parse(std::string_view yaml_text);
  // The usage object of a resource address ("aws_instance.web[3]" also matches
  // "aws_instance.web[*]"), or nullptr.
  const boost::json::object* For(std::string_view address) const;
  bool empty() const { return usage_.empty(); }

 private:
  boost::json::object usage_;
};

struct EstimateOptions {
  const UsageFile* usage = nullptr;
  // A Terraform state (v4 JSON) whose resources make the past breakdown instead of the plan's
  // "before" values.
  const boost::json::value* prior_state = nullptr;
  std::string project_name = "main";
  // The workspace's monthly budget: when set, the document says whether totalMonthlyCost
  // exceeds it ("budget": {"monthlyBudget", "totalMonthlyCost", "exceeded"}).
  std::optional<Decimal> monthly_budget;
  // RFC 3339 time written as timeGenerated; empty leaves it out (reproducible output).
  std::string time_generated;
};

// Throws statehouse::Error (kInvalidArgument) when `plan` is not a Terraform plan document.
// Everything inside a plan that cannot be priced (unknown region, instance type, ...) is reported
// per resource, never guessed.
boost::json::object EstimatePlan(const boost::json::value& plan, const PriceCatalog& catalog,
                                 const EstimateOptions& options = {});

// The figures the server records about an estimate (events, workspace, budget flag).
struct CostTotals {
  std::string currency = "USD";
  std::string total_monthly;  // "742.64"
  std::string past_total_monthly;
  std::string diff_total_monthly;
  bool over_budget = false;
};
CostTotals TotalsOf(const boost::json::object& document);

// The document with only the diff of each project (stored as the workspace's cost_diff_json).
boost::json::object DiffDocument(const boost::json::object& document);

}  // namespace statehouse::cost
