#include "cli/cost_cli.h"

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <ostream>
#include <sstream>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "common/error.h"
#include "cost/catalog.h"
#include "cost/decimal.h"
#include "cost/estimate.h"

namespace statehouse::cli {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using cost::Decimal;

// Bad input of the command: the message is printed after "statehouse cost: ".
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string ReadFile(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw InputError(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::string why = fs::exists(path, ec) ? "cannot read file" : "no such file";
    throw InputError(path + ": " + why);
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw InputError(path + ": cannot read file");
  return buf.str();
}

// The server's depth limit for stored plans and states (tfstate::StateScanner::kMaxDepth):
// Boost's default of 32 refuses deep but valid plans.
constexpr std::size_t kMaxJsonDepth = 1000;

json::value ParseJsonFile(const std::string& path) {
  std::string text = ReadFile(path);
  json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  json::stream_parser parser({}, options);
  boost::system::error_code ec;
  std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (ec) {
    std::size_t at = std::min(consumed, text.size());
    std::size_t line =
        1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + at, '\n'));
    std::size_t line_start = text.rfind('\n', at == 0 ? 0 : at - 1);
    std::size_t column = line_start == std::string::npos || at == 0 ? at + 1 : at - line_start;
    throw InputError(path + ": not JSON (" + ec.message() + " at line " + std::to_string(line) +
                     ", column " + std::to_string(column) + ")");
  }
  return parser.release();
}

// ---- formatting numbers ----------------------------------------------------------------------

std::optional<Decimal> DecimalOf(const json::value* v) {
  if (!v || !v->is_string()) return std::nullopt;
  return Decimal::Parse(v->get_string());
}

std::optional<Decimal> DecimalAt(const json::object& o, std::string_view key) {
  return DecimalOf(o.if_contains(key));
}

Decimal Abs(const Decimal& d) { return d.IsNegative() ? Decimal() - d : d; }

// "1234567.5" -> "1,234,567.5" (the text of a non-negative decimal).
std::string GroupThousands(const std::string& plain) {
  std::size_t dot = plain.find('.');
  std::string whole = plain.substr(0, dot);
  std::string rest = dot == std::string::npos ? "" : plain.substr(dot);
  std::string grouped;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    if (i > 0 && (whole.size() - i) % 3 == 0) grouped += ',';
    grouped += whole[i];
  }
  return grouped + rest;
}

// At least `min_places` fractional digits: "5" -> "5.00", "0.0000166667" stays.
std::string WithMinPlaces(std::string plain, std::size_t min_places) {
  std::size_t dot = plain.find('.');
  std::size_t places = dot == std::string::npos ? 0 : plain.size() - dot - 1;
  if (places >= min_places) return plain;
  if (dot == std::string::npos) plain += '.';
  return plain + std::string(min_places - places, '0');
}

// $1,234.56 (-$7.59 when negative).
std::string Money(const Decimal& d) {
  Decimal r = d.Round(2);
  std::string text = "$" + GroupThousands(WithMinPlaces(Abs(r).ToString(), 2));
  return r.IsNegative() ? "-" + text : text;
}

// +$62.49 / -$70.88 / $0.00.
std::string SignedMoney(const Decimal& d) {
  Decimal r = d.Round(2);
  if (r.IsZero()) return "$0.00";
  return r.IsNegative() ? Money(r) : "+" + Money(r);
}

// A unit price as published: at least 2 decimals, all of them when there are more.
std::string UnitPrice(const Decimal& d) {
  std::string text = "$" + GroupThousands(WithMinPlaces(Abs(d).ToString(), 2));
  return d.IsNegative() ? "-" + text : text;
}

// Thousands separators, up to 4 decimals; a small non-zero quantity keeps 4 significant digits
// instead of turning into 0.
std::string Quantity(const Decimal& q) {
  Decimal r = q.Round(4);
  if (r.IsZero() && !q.IsZero()) {
    std::string plain = Abs(q).ToString();  // "0.0000123456"
    std::size_t dot = plain.find('.');
    std::size_t first = plain.find_first_not_of('0', dot + 1);
    int places = static_cast<int>(first - dot - 1) + 4;
    r = q.Round(std::min(places, Decimal::kMaxScale));
  }
  std::string text = GroupThousands(Abs(r).ToString());
  return r.IsNegative() ? "-" + text : text;
}

// ---- layout ------------------------------------------------------------------------------------

// Display columns of UTF-8 text (box-drawing characters and arrows are one column each).
std::size_t Width(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string PadRight(const std::string& s, std::size_t width) {
  std::size_t w = Width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

std::string PadLeft(const std::string& s, std::size_t width) {
  std::size_t w = Width(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

// Control characters of plan strings (names, reasons) would move the terminal's cursor or
// colour it: each is shown as '?'.
std::string Printable(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

std::string TrimRight(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// One line of a table: cells left or right aligned in computed columns; `span` (when set)
// replaces every cell after the first and may run past the last column.
struct Line {
  std::vector<std::string> cells;
  std::optional<std::string> span;
  bool blank = false;
};

class Table {
 public:
  explicit Table(std::vector<bool> right_aligned) : right_(std::move(right_aligned)) {}

  void Add(std::vector<std::string> cells) { lines_.push_back({std::move(cells), std::nullopt}); }
  void AddSpan(std::string first, std::string span) {
    lines_.push_back({{std::move(first)}, std::move(span)});
  }
  void AddBlank() {
    if (!lines_.empty() && !lines_.back().blank) lines_.push_back({{}, std::nullopt, true});
  }

  void Print(std::ostream& out) const {
    std::vector<std::size_t> widths(right_.size(), 0);
    for (const Line& line : lines_)
      for (std::size_t i = 0; i < line.cells.size() && i < widths.size(); ++i)
        if (!line.span || i == 0) widths[i] = std::max(widths[i], Width(line.cells[i]));
    for (const Line& line : lines_) {
      if (line.blank) {
        out << "\n";
        continue;
      }
      std::string text = " ";
      for (std::size_t i = 0; i < widths.size(); ++i) {
        if (i > 0) text += "  ";
        if (line.span && i == 1) {
          text += Printable(*line.span);
          break;
        }
        const std::string cell = Printable(i < line.cells.size() ? line.cells[i] : std::string());
        text += right_[i] ? PadLeft(cell, widths[i]) : PadRight(cell, widths[i]);
      }
      out << TrimRight(text) << "\n";
    }
  }

 private:
  std::vector<bool> right_;
  std::vector<Line> lines_;
};

const char* kSeparator = "──────────────────────────────────";

const json::array* ArrayAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}
const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}
std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}
long long IntAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_int64() ? v->get_int64() : 0;
}

std::vector<const json::object*> Objects(const json::object& o, std::string_view key) {
  std::vector<const json::object*> list;
  if (const json::array* a = ArrayAt(o, key))
    for (const json::value& v : *a)
      if (v.is_object()) list.push_back(&v.get_object());
  return list;
}

// ---- the summary below a table -----------------------------------------------------------------

std::string Plural(long long n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "aws_vpc" or "aws_subnet ×3, aws_vpc".
std::string TypeCounts(const json::object* counts) {
  std::string text;
  if (!counts) return text;
  for (const auto& [type, n] : *counts) {
    if (!text.empty()) text += ", ";
    text += Printable(std::string(type));
    if (n.is_int64() && n.get_int64() != 1) text += " ×" + std::to_string(n.get_int64());
  }
  return text;
}

void PrintSummary(const json::object& document, std::ostream& out) {
  const json::object* summary = ObjectAt(document, "summary");
  if (!summary) return;
  long long detected = IntAt(*summary, "totalDetectedResources");
  if (detected == 0) {
    out << "No cloud resources were detected.\n";
    return;
  }
  out << Plural(detected, "cloud resource was", "cloud resources were") << " detected:\n";
  if (long long n = IntAt(*summary, "totalSupportedResources")) {
    out << "∙ " << n << (n == 1 ? " was" : " were") << " estimated";
    if (long long usage = IntAt(*summary, "totalUsageBasedResources"))
      out << ", " << usage << " of which " << (usage == 1 ? "includes" : "include")
          << " usage-based costs";
    out << "\n";
  }
  if (long long n = IntAt(*summary, "totalFreeResources"))
    out << "∙ " << n << (n == 1 ? " is" : " are") << " free ("
        << TypeCounts(ObjectAt(*summary, "freeResourceCounts")) << ")\n";
  if (long long n = IntAt(*summary, "totalUnsupportedResources"))
    out << "∙ " << n << (n == 1 ? " is" : " are") << " not supported yet ("
        << TypeCounts(ObjectAt(*summary, "unsupportedResourceCounts")) << ")\n";
  // Each no-price reason of each resource: what is missing from the catalog, or unknown.
  std::vector<std::string> reasons;
  if (const json::array* projects = ArrayAt(document, "projects"))
    for (const json::value& p : *projects)
      if (p.is_object())
        if (const json::object* breakdown = ObjectAt(p.get_object(), "breakdown"))
          for (const json::object* r : Objects(*breakdown, "resources"))
            if (const json::object* metadata = ObjectAt(*r, "metadata"))
              if (const json::array* no_price = ArrayAt(*metadata, "noPrice"))
                for (const json::value& why : *no_price)
                  if (why.is_string())
                    reasons.push_back(
                        Printable(StringAt(*r, "name") + ": " + std::string(why.get_string())));
  if (long long n = IntAt(*summary, "totalNoPriceResources")) {
    out << "∙ " << n << (n == 1 ? " has" : " have") << " no price";
    if (reasons.size() == 1) {
      out << ": " << reasons[0] << "\n";
    } else {
      out << ":\n";
      for (const std::string& r : reasons) out << "    " << r << "\n";
    }
  }
}

void PrintBudget(const json::object& document, std::ostream& out, const char* indent) {
  const json::object* budget = ObjectAt(document, "budget");
  if (!budget) return;
  std::optional<Decimal> limit = DecimalAt(*budget, "monthlyBudget");
  std::optional<Decimal> total = DecimalAt(*budget, "totalMonthlyCost");
  if (!limit || !total) return;
  out << indent << "Monthly budget " << Money(*limit) << ": ";
  if (*total > *limit)
    out << "exceeded by " << Money(*total - *limit) << "\n";
  else
    out << "within budget (" << Money(*limit - *total) << " left)\n";
}

// ---- breakdown ---------------------------------------------------------------------------------

// The tree lines of one resource's components, then its subresources (Infracost's order).
void AddChildren(Table& table, const json::object& resource, const std::string& prefix) {
  std::vector<const json::object*> components = Objects(resource, "costComponents");
  std::vector<const json::object*> subresources = Objects(resource, "subresources");
  std::size_t count = components.size() + subresources.size(), index = 0;
  for (const json::object* c : components) {
    bool last = ++index == count;
    std::string name = prefix + (last ? "└─ " : "├─ ") + StringAt(*c, "name");
    std::string unit = StringAt(*c, "unit");
    std::optional<Decimal> quantity = DecimalAt(*c, "monthlyQuantity");
    std::optional<Decimal> price = DecimalAt(*c, "price");
    std::optional<Decimal> cost = DecimalAt(*c, "monthlyCost");
    if (cost) {
      table.Add({name, quantity ? Quantity(*quantity) : "", unit, Money(*cost)});
    } else if (!price) {
      table.Add({name, quantity ? Quantity(*quantity) : "", quantity ? unit : "", "no price"});
    } else {
      table.AddSpan(
          name, "Monthly cost depends on usage: " +
                    (price->IsZero() ? std::string("free") : UnitPrice(*price) + " per " + unit));
    }
  }
  for (const json::object* s : subresources) {
    bool last = ++index == count;
    table.Add({prefix + (last ? "└─ " : "├─ ") + StringAt(*s, "name")});
    AddChildren(table, *s, prefix + (last ? "   " : "│  "));
  }
}

// ---- diff --------------------------------------------------------------------------------------

std::string_view NameOf(const json::object& o) {
  const json::value* v = o.if_contains("name");
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

// The objects of parent[key] by name (the first of each name). Hashed: a resource may have
// thousands of subresources (ebs_block_device entries) and a plan thousands of resources.
class ByName {
 public:
  ByName(const json::object* parent, std::string_view key) {
    if (!parent) return;
    if (const json::array* a = ArrayAt(*parent, key))
      for (const json::value& v : *a)
        if (v.is_object()) index_.emplace(NameOf(v.get_object()), &v.get_object());
  }
  const json::object* Find(std::string_view name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<std::string_view, const json::object*> index_;
};

const char* Marker(const void* now, const void* past) {
  if (now && past) return "~";
  return now ? "+" : "-";
}

// Whether a component at or below this diff resource changes the monthly cost by a cent or more.
bool ChangesCost(const json::object& diff) {
  for (const json::object* c : Objects(diff, "costComponents")) {
    std::optional<Decimal> change = DecimalAt(*c, "monthlyCost");
    if (change && !change->Round(2).IsZero()) return true;
  }
  for (const json::object* s : Objects(diff, "subresources"))
    if (ChangesCost(*s)) return true;
  return false;
}

// Lines of the components (and subresources) of one resource whose monthly cost changed.
void AddDiffChildren(Table& table, const json::object& diff, const json::object* now,
                     const json::object* past, const std::string& prefix) {
  struct Child {
    std::vector<std::string> cells;
    const json::object* sub = nullptr;  // a subresource: its own lines follow
    const json::object* sub_now = nullptr;
    const json::object* sub_past = nullptr;
  };
  std::vector<Child> children;
  ByName now_components(now, "costComponents"), past_components(past, "costComponents");
  for (const json::object* c : Objects(diff, "costComponents")) {
    std::optional<Decimal> change = DecimalAt(*c, "monthlyCost");
    if (!change || change->Round(2).IsZero()) continue;
    std::string_view name = NameOf(*c);
    const char* marker = Marker(now_components.Find(name), past_components.Find(name));
    children.push_back({{std::string(marker) + " " + std::string(name), SignedMoney(*change)}});
  }
  ByName now_subresources(now, "subresources"), past_subresources(past, "subresources");
  for (const json::object* s : Objects(diff, "subresources")) {
    if (!ChangesCost(*s)) continue;
    std::string_view name = NameOf(*s);
    const json::object* sub_now = now_subresources.Find(name);
    const json::object* sub_past = past_subresources.Find(name);
    std::optional<Decimal> change = DecimalAt(*s, "monthlyCost");
    children.push_back({{std::string(Marker(sub_now, sub_past)) + " " + std::string(name),
                         change ? SignedMoney(*change) : ""},
                        s,
                        sub_now,
                        sub_past});
  }
  for (std::size_t i = 0; i < children.size(); ++i) {
    bool last = i + 1 == children.size();
    Child& child = children[i];
    child.cells[0] = prefix + (last ? "└─ " : "├─ ") + child.cells[0];
    table.Add(child.cells);
    if (child.sub)
      AddDiffChildren(table, *child.sub, child.sub_now, child.sub_past,
                      prefix + (last ? "   " : "│  "));
  }
}

bool HasUsageBasedWithoutCost(const json::object& resource) {
  for (const json::object* c : Objects(resource, "costComponents"))
    if (c->if_contains("usageBased") && !DecimalAt(*c, "monthlyCost")) return true;
  for (const json::object* s : Objects(resource, "subresources"))
    if (HasUsageBasedWithoutCost(*s)) return true;
  return false;
}

bool HasNoPrice(const json::object& resource) {
  const json::object* metadata = ObjectAt(resource, "metadata");
  const json::array* reasons = metadata ? ArrayAt(*metadata, "noPrice") : nullptr;
  return reasons && !reasons->empty();
}

std::string CostOf(const json::object* resource) {
  if (!resource) return Money(Decimal());
  std::optional<Decimal> cost = DecimalAt(*resource, "monthlyCost");
  return Money(cost ? *cost : Decimal());
}

std::string ProjectName(const json::object& project) {
  std::string name = Printable(StringAt(project, "name"));
  return name.empty() ? "main" : name;
}

}  // namespace

std::string BreakdownTable(const json::object& document) {
  std::ostringstream out;
  std::vector<const json::object*> projects = Objects(document, "projects");
  bool first = true;
  for (const json::object* project : projects) {
    if (!first) out << "\n";
    first = false;
    out << "Project: " << ProjectName(*project) << "\n\n";
    Table t({false, true, false, true});
    t.Add({"Name", "Monthly Qty", "Unit", "Monthly Cost"});
    t.AddBlank();
    if (const json::object* breakdown = ObjectAt(*project, "breakdown")) {
      for (const json::object* r : Objects(*breakdown, "resources")) {
        t.Add({StringAt(*r, "name")});
        AddChildren(t, *r, "");
        t.AddBlank();
      }
    }
    if (projects.size() > 1) {
      std::optional<Decimal> total;
      if (const json::object* breakdown = ObjectAt(*project, "breakdown"))
        total = DecimalAt(*breakdown, "totalMonthlyCost");
      t.Add({"Project total", "", "", Money(total ? *total : Decimal())});
      t.AddBlank();
    }
    if (project == projects.back()) {
      std::optional<Decimal> total = DecimalAt(document, "totalMonthlyCost");
      t.Add({"OVERALL TOTAL", "", "", Money(total ? *total : Decimal())});
    }
    t.Print(out);
  }
  if (projects.empty()) {
    std::optional<Decimal> total = DecimalAt(document, "totalMonthlyCost");
    out << " OVERALL TOTAL  " << Money(total ? *total : Decimal()) << "\n";
  }
  PrintBudget(document, out, " ");
  out << kSeparator << "\n";
  PrintSummary(document, out);
  return out.str();
}

std::string DiffTable(const json::object& document) {
  std::ostringstream out;
  std::vector<const json::object*> projects = Objects(document, "projects");
  for (const json::object* project : projects) {
    out << "Project: " << ProjectName(*project) << "\n\n";
    ByName now(ObjectAt(*project, "breakdown"), "resources");
    ByName past(ObjectAt(*project, "pastBreakdown"), "resources");
    const json::object* diff = ObjectAt(*project, "diff");
    std::vector<const json::object*> changed =
        diff ? Objects(*diff, "resources") : std::vector<const json::object*>{};
    if (changed.empty()) {
      out << " No resource changes the monthly cost.\n\n";
      continue;
    }
    Table t({false, true, false});
    for (const json::object* r : changed) {
      std::string name = StringAt(*r, "name");
      const json::object* in_now = now.Find(name);
      const json::object* in_past = past.Find(name);
      std::optional<Decimal> change = DecimalAt(*r, "monthlyCost");
      std::string detail;
      if (in_now && in_past) {
        detail = "(" + CostOf(in_past) + " → " + CostOf(in_now) + ")";
      } else {
        const json::object* side = in_now ? in_now : in_past;
        if (side && !DecimalAt(*side, "monthlyCost") && HasUsageBasedWithoutCost(*side))
          detail = "(monthly cost depends on usage)";
      }
      if (in_now && HasNoPrice(*in_now))
        detail += std::string(detail.empty() ? "" : " ") + "(some components have no price)";
      t.Add({std::string(Marker(in_now, in_past)) + " " + name,
             SignedMoney(change ? *change : Decimal()), detail});
      AddDiffChildren(t, *r, in_now, in_past, "  ");
      t.AddBlank();
    }
    t.Print(out);
  }
  std::optional<Decimal> change = DecimalAt(document, "diffTotalMonthlyCost");
  std::optional<Decimal> before = DecimalAt(document, "pastTotalMonthlyCost");
  std::optional<Decimal> after = DecimalAt(document, "totalMonthlyCost");
  out << "Monthly cost change: " << SignedMoney(change ? *change : Decimal()) << " ("
      << Money(before ? *before : Decimal()) << " → " << Money(after ? *after : Decimal()) << ")\n";
  PrintBudget(document, out, "");
  out << kSeparator << "\n";
  out << "Key: ~ changed, + added, - removed\n\n";
  PrintSummary(document, out);
  return out.str();
}

int CostCommand(const CostOptions& options, std::ostream& out, std::ostream& err) {
  cost::PriceCatalog catalog;
  try {
    catalog = cost::PriceCatalog::Shipped();
    if (!options.pricing_dir.empty()) {
      std::error_code ec;
      if (!fs::is_directory(options.pricing_dir, ec))
        throw InputError("--pricing-dir " + options.pricing_dir + ": no such directory");
      catalog.AddDirectory(options.pricing_dir);
    }
  } catch (const std::exception& e) {
    err << "statehouse cost: " << e.what() << "\n";
    return 1;
  }
  return CostCommand(options, catalog, out, err);
}

int CostCommand(const CostOptions& options, const cost::PriceCatalog& catalog, std::ostream& out,
                std::ostream& err) {
  if (options.format != "table" && options.format != "json") {
    err << "statehouse cost: --format must be table or json, not " << options.format << "\n";
    return 1;
  }
  if (options.plan_path.empty()) {
    err << "statehouse cost: --plan is required (the output of `terraform show -json PLANFILE`)\n";
    return 1;
  }
  json::object document;
  try {
    json::value plan = ParseJsonFile(options.plan_path);
    std::optional<cost::UsageFile> usage;
    if (!options.usage_path.empty()) usage = cost::UsageFile::Parse(ReadFile(options.usage_path));
    std::optional<json::value> prior_state;
    if (!options.prior_state_path.empty()) prior_state = ParseJsonFile(options.prior_state_path);
    cost::EstimateOptions estimate;
    if (usage) estimate.usage = &*usage;
    if (prior_state) estimate.prior_state = &*prior_state;
    document = cost::EstimatePlan(plan, catalog, estimate);
  } catch (const std::exception& e) {  // InputError, or statehouse::Error: the engine's message
    err << "statehouse cost: " << e.what() << "\n";
    return 1;
  }
  if (options.format == "json") {
    out << json::serialize(options.diff ? cost::DiffDocument(document) : document) << "\n";
  } else {
    out << (options.diff ? DiffTable(document) : BreakdownTable(document));
  }
  return 0;
}

}  // namespace statehouse::cli
