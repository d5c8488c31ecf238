// Reading request bodies field by field, with errors that name the field.
#pragma once

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/util.h"

namespace statehouse::domain {

// A stored JSON document (configuration, summary) as an object; {} when it is not one.
inline boost::json::object ParseObjectOrEmpty(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.get_object());
}

// kInvalidArgument "field: why".
[[noreturn]] inline void Bad(const std::string& field, const std::string& why) {
  Fail(ErrorCode::kInvalidArgument, field + ": " + why);
}

// Reads typed values from a JSON object, naming fields in errors; form bodies carry text.
class Reader {
 public:
  Reader(const boost::json::object& obj, std::string path, bool lenient)
      : obj_(obj), path_(std::move(path)), lenient_(lenient) {}

  std::string Path(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }
  const boost::json::value* Get(std::string_view name) const {
    const boost::json::value* v = obj_.if_contains(name);
    return v && !v->is_null() ? v : nullptr;
  }
  std::optional<std::string> Str(std::string_view name, size_t max, bool required = false) const {
    const boost::json::value* v = Get(name);
    if (!v) {
      if (required) Bad(Path(name), "is required");
      return std::nullopt;
    }
    if (!v->is_string()) Bad(Path(name), "must be a string");
    std::string s(v->get_string());
    if (s.size() > max) Bad(Path(name), "must be at most " + std::to_string(max) + " characters");
    return s;
  }
  std::optional<std::string> Enum(std::string_view name, const std::vector<std::string>& allowed,
                                  bool required = false) const {
    auto s = Str(name, 256, required);
    if (s && std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Bad(Path(name), "must be one of " + list + " (got '" + *s + "')");
    }
    return s;
  }
  std::optional<bool> Bool(std::string_view name) const {
    const boost::json::value* v = Get(name);
    if (!v) return std::nullopt;
    if (v->is_bool()) return v->get_bool();
    if (lenient_ && v->is_string() && (v->get_string() == "true" || v->get_string() == "false"))
      return v->get_string() == "true";
    Bad(Path(name), "must be a boolean");
  }
  std::optional<double> Number(std::string_view name) const {
    const boost::json::value* v = Get(name);
    if (!v) return std::nullopt;
    if (v->is_number()) return v->to_number<double>();
    if (lenient_ && v->is_string()) {
      try {
        size_t used = 0;
        std::string s(v->get_string());
        double d = std::stod(s, &used);
        if (used == s.size()) return d;
      } catch (...) {
      }
    }
    Bad(Path(name), "must be a number");
  }
  std::optional<int64_t> Int(std::string_view name) const {
    const boost::json::value* v = Get(name);
    if (!v) return std::nullopt;
    if (v->is_int64()) return v->get_int64();
    if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
      return static_cast<int64_t>(v->get_uint64());
    int64_t out;
    if (lenient_ && v->is_string() && ParseInt64(v->get_string(), out)) return out;
    Bad(Path(name), "must be an integer");
  }
  const boost::json::object* Obj(std::string_view name, bool required = false) const {
    const boost::json::value* v = Get(name);
    if (!v) {
      if (required) Bad(Path(name), "is required");
      return nullptr;
    }
    if (!v->is_object()) Bad(Path(name), "must be an object");
    return &v->get_object();
  }
  const boost::json::array* Arr(std::string_view name) const {
    const boost::json::value* v = Get(name);
    if (!v) return nullptr;
    if (!v->is_array()) Bad(Path(name), "must be an array");
    return &v->get_array();
  }
  bool lenient() const { return lenient_; }

 private:
  const boost::json::object& obj_;
  std::string path_;
  bool lenient_;
};

}  // namespace statehouse::domain
