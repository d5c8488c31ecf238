// Transport-neutral request and response types. The Beast session (server.cpp) converts to and
// from these, so routing, codecs and handlers never include Beast.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace statehouse::http {

using NameValues = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;  // as sent, e.g. "GET", "LOCK"
  std::string target;  // raw request target
  std::string path;    // percent-decoded path, no query
  NameValues query;    // decoded, in order
  NameValues headers;  // names lower-cased
  std::string body;
  // Routes that spool (state uploads) get the body in a file instead, with its size; body
  // stays empty.
  std::string body_file;
  uint64_t body_size = 0;
  std::string request_id;
  std::string remote_address;

  bool HasBody() const { return !body.empty() || body_size > 0; }

  std::optional<std::string_view> Header(std::string_view lower_name) const;
  std::optional<std::string_view> Query(std::string_view name) const;
  std::vector<std::string_view> QueryAll(std::string_view name) const;
};

// A body produced while it is sent (live logs). The server pulls from a network thread, so
// Pull must not block or touch the database; it is polled again after a short wait when it
// returned nothing. The server drops its reference when the response ends, the client goes
// away or the stream outlives the server's limit; Pull is never called again after that.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  // Appends the bytes available now to out (may append nothing); returns false when the body
  // is complete (after appending its last bytes).
  virtual bool Pull(std::string& out) = 0;
};

struct Response {
  int status = 200;
  NameValues headers;
  std::string content_type;
  std::string body;
  std::string body_file;  // when set, the file's bytes are the body (streamed, not loaded)
  // When set, the body is pulled from it while it is sent (HTTP/1.1: chunked; HTTP/1.0: until
  // the connection closes); body and body_file are unused.
  std::shared_ptr<ChunkSource> stream;
  // The pattern of the route that answered ("/v1/orgs/{org}"), for metrics; empty when no
  // route matched. Points into the router, which outlives every response.
  std::string_view route;

  void SetHeader(std::string name, std::string value);
};

// Splits a request target into its decoded path and query parameters. Returns false if the
// target is malformed (bad percent escapes, NUL bytes, not origin-form).
bool ParseTarget(std::string_view target, std::string& path, NameValues& query);

// Percent-decodes; '+' becomes a space when plus_is_space. False on a bad escape or a NUL byte.
bool PercentDecode(std::string_view in, std::string& out, bool plus_is_space);

// Parses "a=1&b=2" into pairs (form bodies and query strings share this).
bool ParseUrlEncoded(std::string_view text, NameValues& out);

}  // namespace statehouse::http
