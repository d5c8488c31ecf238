// The one error type of Statehouse. It travels from storage up to the HTTP layer, which maps
// its code to a status in a single table (src/http/error_map.cpp). The domain never names an
// HTTP status; it names what went wrong.
#pragma once

#include <stdexcept>
#include <string>

namespace statehouse {

enum class ErrorCode {
  kInvalidArgument,       // malformed or invalid input
  kUnauthenticated,       // no credentials, or unknown / expired / revoked ones
  kPermissionDenied,      // valid credentials, not allowed here
  kNotFound,              // the resource does not exist (or is not visible)
  kConflict,              // duplicate, or refused because of related data
  kPreconditionFailed,    // stale If-Match
  kPayloadTooLarge,       // body above the route's limit
  kUnsupportedMediaType,  // body in a format we do not speak
  kLocked,                // resource locked by someone else
  kUnavailable,           // dependency temporarily down (database)
  kInternal,              // a bug or unexpected failure; details go to the log only
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message)
      : std::runtime_error(std::move(message)), code_(code) {}
  // details_json: a JSON object whose fields the HTTP layer adds to the error body (e.g. the
  // lock holder's info on a lock conflict, which the Terraform CLI prints).
  Error(ErrorCode code, std::string message, std::string details_json)
      : std::runtime_error(std::move(message)), code_(code), details_(std::move(details_json)) {}
  ErrorCode code() const noexcept { return code_; }
  const std::string& details_json() const noexcept { return details_; }

 private:
  ErrorCode code_;
  std::string details_;
};

[[noreturn]] inline void Fail(ErrorCode code, std::string message) {
  throw Error(code, std::move(message));
}

}  // namespace statehouse
