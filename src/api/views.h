// Response shapes of the spec, built from records. No secrets ever appear in these.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "storage/records.h"

namespace statehouse::api {

boost::json::value TagsJson(const storage::Tags& tags);
boost::json::value OrgJson(const storage::OrgRecord& r);                   // OrganizationResponse
boost::json::value ProjectJson(const storage::ProjectRecord& r);           // ProjectResponse
boost::json::value ApiKeyJson(const storage::ApiKeyRecord& r);             // ApiKey
boost::json::value TokenJson(const storage::TokenRecord& r, int64_t now);  // Token
// Harness NG envelope: {"status":"SUCCESS","data":...,"correlationId":...}
boost::json::value Envelope(boost::json::value data, std::string_view correlation_id);
// PageResponse: content, totalItems, totalPages, pageItemCount, pageSize, pageIndex, empty.
boost::json::value PageJson(boost::json::array content, int64_t total, int64_t page_index,
                            int64_t page_size);

}  // namespace statehouse::api
