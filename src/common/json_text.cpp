#include "common/json_text.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace statehouse {

void AppendJsonQuoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  size_t plain = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + plain, i - plain);
    plain = i + 1;
    out += '\\';
    switch (c) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case '\b':
        out += 'b';
        break;
      case '\t':
        out += 't';
        break;
      case '\n':
        out += 'n';
        break;
      case '\f':
        out += 'f';
        break;
      case '\r':
        out += 'r';
        break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + plain, s.size() - plain);
  out += '"';
}

namespace {
boost::json::parse_options ServerJsonOptions() {
  boost::json::parse_options options;
  options.max_depth = 1100;  // request bodies nest at most 32; documents wrap inputs and outputs
  options.allow_invalid_utf8 = true;
  return options;
}
}  // namespace

boost::json::value ParseServerJson(std::string_view text, boost::system::error_code& ec) {
  return boost::json::parse(text, ec, {}, ServerJsonOptions());
}

boost::json::value ParseServerJson(std::string_view text) {
  return boost::json::parse(text, {}, ServerJsonOptions());
}

}  // namespace statehouse
