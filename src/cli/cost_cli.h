// `statehouse cost breakdown` and `statehouse cost diff`: the cost engine on the command line,
// offline (like `infracost breakdown --path plan.json` and `infracost diff`). Prices come from
// the catalog shipped in the binary, with the catalog files of --pricing-dir over it.
#pragma once

#include <boost/json/object.hpp>
#include <iosfwd>
#include <string>

namespace statehouse::cost {
class PriceCatalog;
}

namespace statehouse::cli {

struct CostOptions {
  std::string plan_path;         // --plan: `terraform show -json PLANFILE` output
  std::string usage_path;        // --usage: an Infracost usage file (YAML)
  std::string prior_state_path;  // --prior-state: a v4 state priced as the "before" side
  std::string format = "table";  // table | json
  std::string pricing_dir;       // --pricing-dir: catalog files over the shipped prices
  bool diff = false;             // cost diff (else cost breakdown)
};

// Returns the process exit code: 0, or 1 on bad input (a file that cannot be read, is not JSON,
// is not a plan / usage file / state / catalog), with "statehouse cost: <why>" on `err`.
int CostCommand(const CostOptions& options, std::ostream& out, std::ostream& err);
// The same, priced with `catalog` only (options.pricing_dir is not read). For tests and callers
// that hold a catalog already.
int CostCommand(const CostOptions& options, const cost::PriceCatalog& catalog, std::ostream& out,
                std::ostream& err);

// The tables, from a document of cost::EstimatePlan (exposed for tests).
std::string BreakdownTable(const boost::json::object& document);
std::string DiffTable(const boost::json::object& document);

}  // namespace statehouse::cli
