// List parameters, pagination headers and ETag/If-Match, shared by every endpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "http/message.h"
#include "http/router.h"
#include "storage/records.h"

namespace statehouse::http {

inline constexpr int64_t kDefaultLimit = 30;
inline constexpr int64_t kMaxLimit = 100;

struct ListParams {
  int64_t page = 0;  // as the request counted it
  int64_t limit = kDefaultLimit;
  storage::ListQuery query;  // offset/limit/sort/search ready for a store
};

struct SortOption {
  const char* name;  // as the client writes it
  storage::SortField field;
};

// Reads limit/page (and the Harness NG spellings pageSize/pageIndex), sort+order or
// sort=name,ASC, search_term/searchTerm. page_base is 0 or 1 per the endpoint's spec.
// Throws kInvalidArgument on malformed numbers, unknown sort fields or orders.
ListParams ParseListParams(const Request& r, int page_base, const std::vector<SortOption>& sorts,
                           storage::SortField default_sort);

// X-Total-Elements, X-Page-Number, X-Page-Size (= the spec's x-page-size), x-total-items and
// x-total-pages.
void AddPageHeaders(Reply& reply, const ListParams& p, int64_t total);

// ETag for a version counter, and the version an If-Match header demands (nullopt: none or *).
std::string ETagOf(int64_t version);
std::optional<int64_t> IfMatchVersion(const Request& r);

// Sort by name, identifier, created or updated: what most lists offer.
const std::vector<SortOption>& StandardSorts();

// Values of a repeatable, comma-separated query parameter (?org=a&org=b or ?org=a,b), trimmed,
// empty items dropped.
std::vector<std::string> QueryList(const Request& r, std::string_view name);

// A boolean query parameter ("true"/"false"); throws kInvalidArgument on anything else.
std::optional<bool> QueryBool(const Request& r, std::string_view name);

}  // namespace statehouse::http
