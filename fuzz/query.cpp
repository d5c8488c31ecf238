// Request targets and header helpers: http::ParseTarget, PercentDecode, ParseUrlEncoded,
// FormatOfContentType, ChooseReplyFormat and Router::Match on the decoded path.
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "http/codec.h"
#include "http/message.h"
#include "http/router.h"

using namespace statehouse;

namespace {

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

const http::Router& Routes() {
  static const http::Router* router = [] {
    auto* r = new http::Router;
    auto none = [](http::Context&) { return http::Reply{}; };
    for (const char* p :
         {"/v1/orgs", "/v1/orgs/{org}", "/v1/orgs/{org}/projects/{project}",
          "/ng/api/apikey/aggregate/{id}", "/ng/api/token/rotate/{id}",
          "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}/terraform-backend/lock",
          "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}/data/{id}",
          "/iacm/api/orgs/{org}/projects/{project}/resource-types/{type}/attributes",
          "/healthz"}) {
      r->Add({"GET", p, http::Access::kRead, none});
      r->Add({"LOCK", p, http::Access::kWrite, none});
    }
    return r;
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  std::string_view in = fuzz::AsText(data, size);

  // ParseTarget.
  std::string path;
  http::NameValues query;
  if (http::ParseTarget(in, path, query)) {
    FUZZ_CHECK(!in.empty() && in.front() == '/', std::string(in));
    FUZZ_CHECK(path.find('\0') == std::string::npos, std::string(in));
    for (const auto& [k, v] : query) {
      FUZZ_CHECK(!k.empty(), std::string(in));
      FUZZ_CHECK(k.find('\0') == std::string::npos && v.find('\0') == std::string::npos,
                 std::string(in));
    }
    http::NameValues params;
    bool known = false;
    for (const char* method : {"GET", "LOCK", "POST"}) {
      const http::Route* r = Routes().Match(method, path, params, known);
      if (r) {
        FUZZ_CHECK(known, path);
        for (const auto& [k, v] : params) FUZZ_CHECK(!k.empty() && !v.empty(), path);
      }
    }
  }

  // PercentDecode in both modes, and its inverse.
  for (bool plus : {false, true}) {
    std::string out;
    if (http::PercentDecode(in, out, plus)) {
      FUZZ_CHECK(out.size() <= in.size(), std::string(in));
      FUZZ_CHECK(out.find('\0') == std::string::npos, std::string(in));
      std::string again;
      FUZZ_CHECK(http::PercentDecode(PercentEncode(out), again, plus), out);
      FUZZ_CHECK(again == out, out);
    }
  }

  // ParseUrlEncoded: re-encoding the pairs gives the same pairs.
  http::NameValues pairs;
  if (http::ParseUrlEncoded(in, pairs)) {
    std::string encoded;
    for (const auto& [k, v] : pairs) {
      FUZZ_CHECK(!k.empty(), std::string(in));
      if (!encoded.empty()) encoded += '&';
      encoded += PercentEncode(k) + "=" + PercentEncode(v);
    }
    http::NameValues again;
    FUZZ_CHECK(http::ParseUrlEncoded(encoded, again), encoded);
    FUZZ_CHECK(again == pairs, encoded);
  }

  // Header helpers: Content-Type and Accept.
  for (bool allow_text : {false, true}) {
    try {
      http::BodyFormat f = http::FormatOfContentType(in, allow_text);
      FUZZ_CHECK(allow_text || f != http::BodyFormat::kText, std::string(in));
      (void)http::ChooseReplyFormat(true, f, in);
    } catch (const Error& e) {
      FUZZ_CHECK(e.code() == ErrorCode::kUnsupportedMediaType, e.what());
    }
  }
  http::ReplyFormat rf = http::ChooseReplyFormat(false, http::BodyFormat::kJson, in);
  (void)http::ContentTypeOf(rf);
  return 0;
}
