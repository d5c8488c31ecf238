// The one table from ErrorCode to HTTP status and IaCMError name.
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "common/error.h"

namespace statehouse::http {

int StatusOf(ErrorCode code);
const char* ErrorNameOf(ErrorCode code);

// The spec's IaCMError body. Internal errors get a generic message; the caller logs details.
// details_json (optional) is an object whose fields are added beside the spec's ones.
boost::json::value ErrorBody(ErrorCode code, std::string_view message, std::string_view id,
                             std::string_view details_json = {});

}  // namespace statehouse::http
