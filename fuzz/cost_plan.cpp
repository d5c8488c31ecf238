// The cost engine on untrusted plans: the bytes are parsed as the server parses a stored plan
// (domain::tfstate::ParseState: nesting up to 1000, finite numbers) and, when they parse, priced
// with the shipped catalog by cost::EstimatePlan (also with the same document as the prior state);
// the same bytes are read as an Infracost usage file (UsageFile::Parse; JSON is YAML) and, when
// both parse, the plan is priced with that usage too. The CLI's tables are rendered from each
// document. statehouse::Error (kInvalidArgument) is the only allowed failure. Properties: the
// document is JSON that parses back to itself; its totals are decimal strings that TotalsOf
// reads; estimating twice gives the same document; DiffDocument drops the breakdowns only.
#include <boost/json.hpp>

#include "cli/cost_cli.h"
#include "cost/catalog.h"
#include "cost/decimal.h"
#include "cost/estimate.h"
#include "domain/terraform_state.h"
#include "fuzz_common.h"

using namespace statehouse;
namespace json = boost::json;

namespace {

const cost::PriceCatalog& Catalog() {
  static const cost::PriceCatalog catalog = cost::PriceCatalog::Shipped();
  return catalog;
}

bool IsDecimal(const json::value* v) {
  return v && v->is_string() && cost::Decimal::Parse(v->get_string()).has_value();
}

// Runs the engine; nullopt when it refused the input (with kInvalidArgument only).
std::optional<json::object> Estimate(const json::value& plan,
                                     const cost::EstimateOptions& options) {
  try {
    return cost::EstimatePlan(plan, Catalog(), options);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    return std::nullopt;
  }
}

void Check(const json::object& doc, const json::value& plan, const cost::EstimateOptions& options) {
  std::string text = json::serialize(doc);
  boost::system::error_code ec;
  json::parse_options deep;
  deep.max_depth = 64;
  json::value again = json::parse(text, ec, {}, deep);
  FUZZ_CHECK(!ec, "the document is not JSON (" + ec.message() + "):\n" + text);
  FUZZ_CHECK(again == json::value(doc), text);
  for (const char* key : {"totalHourlyCost", "totalMonthlyCost", "pastTotalHourlyCost",
                          "pastTotalMonthlyCost", "diffTotalHourlyCost", "diffTotalMonthlyCost"})
    FUZZ_CHECK(IsDecimal(doc.if_contains(key)), std::string(key) + " in " + text);
  cost::CostTotals totals = cost::TotalsOf(doc);
  FUZZ_CHECK(totals.total_monthly == doc.at("totalMonthlyCost").get_string(), text);

  std::optional<json::object> second = Estimate(plan, options);
  FUZZ_CHECK(second && json::value(*second) == json::value(doc),
             text + "\n--- second:\n" + (second ? json::serialize(*second) : "refused"));

  json::object diff = cost::DiffDocument(doc);
  const json::array& projects = diff.at("projects").get_array();
  FUZZ_CHECK(!projects.empty(), text);
  for (const json::value& p : projects) {
    FUZZ_CHECK(!p.get_object().contains("breakdown") && p.get_object().contains("diff"), text);
  }
  (void)cli::BreakdownTable(doc);
  (void)cli::DiffTable(doc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  std::string_view text = fuzz::AsText(data, size);

  std::optional<cost::UsageFile> usage;
  try {
    usage = cost::UsageFile::Parse(text);
    // Lookups of a few address shapes (exact, indexed, pattern).
    for (const char* address :
         {"aws_instance.web", "aws_instance.web[0]", "module.a[\"k\"].x.y[3]"})
      (void)usage->For(address);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
  }

  json::value plan;
  try {
    plan = domain::tfstate::ParseState(text);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    return 0;
  }

  cost::EstimateOptions options;
  if (std::optional<json::object> doc = Estimate(plan, options)) Check(*doc, plan, options);

  // The same document as the prior state (a v4 state's "resources"), and a budget.
  cost::EstimateOptions prior;
  prior.prior_state = &plan;
  prior.monthly_budget = cost::Decimal::FromInt(100);
  if (std::optional<json::object> doc = Estimate(plan, prior)) {
    FUZZ_CHECK(doc->contains("budget"), json::serialize(*doc));
    Check(*doc, plan, prior);
  }

  if (usage && !usage->empty()) {
    cost::EstimateOptions with_usage;
    with_usage.usage = &*usage;
    if (std::optional<json::object> doc = Estimate(plan, with_usage)) Check(*doc, plan, with_usage);
  }
  return 0;
}
