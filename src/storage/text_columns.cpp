#include "storage/text_columns.h"

#include <boost/json.hpp>

namespace statehouse::storage {
namespace json = boost::json;

std::string TagsToText(const Tags& tags) {
  json::object o;
  for (const auto& [k, v] : tags) o[k] = v;
  return json::serialize(o);
}

Tags TagsFromText(std::string_view text) {
  Tags out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return out;
  for (const auto& kv : v.get_object())
    if (kv.value().is_string()) out.emplace_back(kv.key(), kv.value().get_string());
  return out;
}

std::string StringsToText(const std::vector<std::string>& items) {
  json::array a;
  for (const auto& s : items) a.emplace_back(s);
  return json::serialize(a);
}

std::vector<std::string> StringsFromText(std::string_view text) {
  std::vector<std::string> out;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return out;
  for (const auto& e : v.get_array())
    if (e.is_string()) out.emplace_back(e.get_string());
  return out;
}

std::string LikeContains(std::string_view needle) {
  std::string out = "%";
  for (char c : needle) {
    if (c == '%' || c == '_' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

}  // namespace statehouse::storage
