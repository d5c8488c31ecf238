// Typed reading of request documents. Every failure names the field (e.g. "org.name: must be
// a string"). Null counts as absent. Form bodies carry only strings, so in lenient mode
// numbers and booleans are also accepted in their text form.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <vector>

#include "http/router.h"
#include "storage/records.h"

namespace statehouse::api {

class Fields {
 public:
  // The request body as an object; kInvalidArgument if missing or not an object.
  static Fields Body(const http::Context& ctx);

  // A nested object; required -> error when absent.
  Fields Object(std::string_view name, bool required) const;
  bool Has(std::string_view name) const;

  std::optional<std::string> String(std::string_view name, bool required = false) const;
  std::optional<int64_t> Int(std::string_view name, bool required = false) const;
  std::optional<bool> Bool(std::string_view name) const;
  std::optional<storage::Tags> StringMap(std::string_view name) const;
  std::optional<std::vector<std::string>> StringList(std::string_view name) const;

 private:
  Fields(const boost::json::object* obj, std::string path, bool lenient)
      : obj_(obj), path_(std::move(path)), lenient_(lenient) {}
  const boost::json::value* Find(std::string_view name) const;
  std::string PathOf(std::string_view name) const;

  const boost::json::object* obj_;  // nullptr: an absent optional object
  std::string path_;
  bool lenient_;
};

}  // namespace statehouse::api
