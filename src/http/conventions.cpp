#include "http/conventions.h"

#include "common/error.h"
#include "common/util.h"

namespace statehouse::http {

namespace {
int64_t QueryInt(const Request& r, std::initializer_list<std::string_view> names, int64_t def,
                 int64_t min) {
  for (std::string_view n : names) {
    if (auto v = r.Query(n)) {
      int64_t out;
      if (!ParseInt64(Trim(*v), out) || out < min)
        Fail(ErrorCode::kInvalidArgument, "query parameter '" + std::string(n) +
                                              "' must be an integer >= " + std::to_string(min));
      return out;
    }
  }
  return def;
}
}  // namespace

ListParams ParseListParams(const Request& r, int page_base, const std::vector<SortOption>& sorts,
                           storage::SortField default_sort) {
  ListParams p;
  p.limit = QueryInt(r, {"limit", "pageSize", "page_size"}, kDefaultLimit, 1);
  if (p.limit > kMaxLimit) p.limit = kMaxLimit;
  p.page = QueryInt(r, {"page", "pageIndex", "page_index"}, page_base, page_base);
  p.query.limit = p.limit;
  if (__builtin_mul_overflow(p.page - page_base, p.limit, &p.query.offset))
    Fail(ErrorCode::kInvalidArgument, "query parameter 'page' is out of range");

  p.query.sort = default_sort;
  std::string order;
  if (auto s = r.Query("sort")) {
    std::string_view field = Trim(*s);
    size_t comma = field.find(',');
    if (comma != std::string_view::npos) {
      order = std::string(Trim(field.substr(comma + 1)));
      field = Trim(field.substr(0, comma));
    }
    bool found = false;
    for (const SortOption& o : sorts) {
      if (IEquals(field, o.name)) {
        p.query.sort = o.field;
        found = true;
      }
    }
    if (!found) {
      std::string allowed;
      for (const SortOption& o : sorts)
        allowed += (allowed.empty() ? "" : ", ") + std::string(o.name);
      Fail(ErrorCode::kInvalidArgument,
           "query parameter 'sort' must be one of: " + allowed + " (optionally ',ASC' or ',DESC')");
    }
  }
  if (auto o = r.Query("order")) order = std::string(Trim(*o));
  if (!order.empty()) {
    if (IEquals(order, "ASC"))
      p.query.descending = false;
    else if (IEquals(order, "DESC"))
      p.query.descending = true;
    else
      Fail(ErrorCode::kInvalidArgument, "query parameter 'order' must be ASC or DESC");
  }
  for (std::string_view n : {"search_term", "searchTerm"}) {
    if (auto v = r.Query(n)) {
      p.query.search = std::string(Trim(*v));
      if (p.query.search.size() > 256)
        Fail(ErrorCode::kInvalidArgument, "query parameter '" + std::string(n) + "' is too long");
      break;
    }
  }
  return p;
}

// Header names are case-insensitive, so the spec's x-page-size is X-Page-Size: sent once.
void AddPageHeaders(Reply& reply, const ListParams& p, int64_t total) {
  int64_t pages = total == 0 ? 0 : (total + p.limit - 1) / p.limit;
  reply.headers.emplace_back("X-Total-Elements", std::to_string(total));
  reply.headers.emplace_back("X-Page-Number", std::to_string(p.page));
  reply.headers.emplace_back("X-Page-Size", std::to_string(p.limit));
  reply.headers.emplace_back("x-total-items", std::to_string(total));
  reply.headers.emplace_back("x-total-pages", std::to_string(pages));
}

std::string ETagOf(int64_t version) { return "\"" + std::to_string(version) + "\""; }

std::optional<int64_t> IfMatchVersion(const Request& r) {
  auto h = r.Header("if-match");
  if (!h) return std::nullopt;
  std::string_view v = Trim(*h);
  if (v == "*") return std::nullopt;
  if (v.size() > 2 && v.substr(0, 2) == "W/") v = v.substr(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  int64_t out;
  // An unparseable tag can never match: report it as stale rather than ignoring it.
  if (!ParseInt64(v, out)) return -1;
  return out;
}

const std::vector<SortOption>& StandardSorts() {
  static const std::vector<SortOption> kSorts = {{"name", storage::SortField::kName},
                                                 {"identifier", storage::SortField::kIdentifier},
                                                 {"created", storage::SortField::kCreated},
                                                 {"updated", storage::SortField::kUpdated}};
  return kSorts;
}

std::vector<std::string> QueryList(const Request& r, std::string_view name) {
  std::vector<std::string> out;
  for (std::string_view v : r.QueryAll(name)) {
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view item = Trim(v.substr(0, comma));
      if (!item.empty()) out.emplace_back(item);
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
    }
  }
  return out;
}

std::optional<bool> QueryBool(const Request& r, std::string_view name) {
  auto v = r.Query(name);
  if (!v) return std::nullopt;
  if (IEquals(*v, "true")) return true;
  if (IEquals(*v, "false")) return false;
  Fail(ErrorCode::kInvalidArgument,
       "query parameter '" + std::string(name) + "' must be true or false");
}

}  // namespace statehouse::http
