#include "http/error_map.h"

#include <boost/json.hpp>

#include "common/json_text.h"

namespace statehouse::http {

namespace {
struct Entry {
  ErrorCode code;
  int status;
  const char* name;
};
constexpr Entry kTable[] = {
    {ErrorCode::kInvalidArgument, 400, "bad_request"},
    {ErrorCode::kUnauthenticated, 401, "unauthorized"},
    {ErrorCode::kPermissionDenied, 403, "forbidden"},
    {ErrorCode::kNotFound, 404, "not_found"},
    {ErrorCode::kConflict, 409, "conflict"},
    {ErrorCode::kPreconditionFailed, 412, "precondition_failed"},
    {ErrorCode::kPayloadTooLarge, 413, "payload_too_large"},
    {ErrorCode::kUnsupportedMediaType, 415, "unsupported_media_type"},
    {ErrorCode::kLocked, 423, "locked"},
    {ErrorCode::kUnavailable, 503, "service_unavailable"},
    {ErrorCode::kInternal, 500, "internal_error"},
};

const Entry& Find(ErrorCode code) {
  for (const Entry& e : kTable)
    if (e.code == code) return e;
  return kTable[sizeof kTable / sizeof kTable[0] - 1];
}
}  // namespace

int StatusOf(ErrorCode code) { return Find(code).status; }
const char* ErrorNameOf(ErrorCode code) { return Find(code).name; }

boost::json::value ErrorBody(ErrorCode code, std::string_view message, std::string_view id,
                             std::string_view details_json) {
  boost::json::object o;
  o["name"] = ErrorNameOf(code);
  o["id"] = id;
  if (code == ErrorCode::kInternal) {
    o["message"] = "internal server error; see the server log for id " + std::string(id);
  } else {
    o["message"] = message;
  }
  o["temporary"] = code == ErrorCode::kUnavailable;
  o["timeout"] = false;
  o["fault"] = code == ErrorCode::kInternal || code == ErrorCode::kUnavailable;
  // Details follow the spec's fields: clients that match keys case-insensitively (Go's
  // encoding/json, in the Terraform CLI) then take e.g. a lock's "ID" over the error's "id".
  if (!details_json.empty()) {
    boost::system::error_code ec;
    boost::json::value details = ParseServerJson(details_json, ec);
    if (!ec && details.is_object())
      for (const auto& kv : details.get_object())
        if (!o.contains(kv.key())) o[kv.key()] = kv.value();
  }
  return o;
}

}  // namespace statehouse::http
