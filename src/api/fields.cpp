#include "api/fields.h"

#include <boost/json.hpp>

#include "common/error.h"
#include "common/util.h"

namespace statehouse::api {
namespace json = boost::json;

namespace {
[[noreturn]] void Bad(const std::string& field, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(why));
}
}  // namespace

Fields Fields::Body(const http::Context& ctx) {
  return Fields(&ctx.BodyObject(), "", ctx.FormBody());
}

std::string Fields::PathOf(std::string_view name) const {
  return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
}

const json::value* Fields::Find(std::string_view name) const {
  if (!obj_) return nullptr;
  const json::value* v = obj_->if_contains(name);
  if (!v || v->is_null()) return nullptr;
  return v;
}

bool Fields::Has(std::string_view name) const { return Find(name) != nullptr; }

Fields Fields::Object(std::string_view name, bool required) const {
  const json::value* v = Find(name);
  if (!v) {
    if (required) Bad(PathOf(name), "is required");
    return Fields(nullptr, PathOf(name), lenient_);
  }
  if (!v->is_object()) Bad(PathOf(name), "must be an object");
  return Fields(&v->get_object(), PathOf(name), lenient_);
}

std::optional<std::string> Fields::String(std::string_view name, bool required) const {
  const json::value* v = Find(name);
  if (!v) {
    if (required) Bad(PathOf(name), "is required");
    return std::nullopt;
  }
  if (!v->is_string()) Bad(PathOf(name), "must be a string");
  return std::string(v->get_string());
}

std::optional<int64_t> Fields::Int(std::string_view name, bool required) const {
  const json::value* v = Find(name);
  if (!v) {
    if (required) Bad(PathOf(name), "is required");
    return std::nullopt;
  }
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64() && v->get_uint64() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v->get_uint64());
  if (v->is_double()) {
    double d = v->get_double();
    if (d == static_cast<double>(static_cast<int64_t>(d)) && d > -9e18 && d < 9e18)
      return static_cast<int64_t>(d);
  }
  if (lenient_ && v->is_string()) {
    int64_t out;
    if (ParseInt64(Trim(v->get_string()), out)) return out;
  }
  Bad(PathOf(name), "must be an integer");
}

std::optional<bool> Fields::Bool(std::string_view name) const {
  const json::value* v = Find(name);
  if (!v) return std::nullopt;
  if (v->is_bool()) return v->get_bool();
  if (lenient_ && v->is_string()) {
    if (v->get_string() == "true") return true;
    if (v->get_string() == "false") return false;
  }
  Bad(PathOf(name), "must be a boolean");
}

std::optional<storage::Tags> Fields::StringMap(std::string_view name) const {
  const json::value* v = Find(name);
  if (!v) return std::nullopt;
  if (!v->is_object()) Bad(PathOf(name), "must be an object of strings");
  storage::Tags out;
  for (const auto& kv : v->get_object()) {
    if (kv.value().is_string()) {
      out.emplace_back(kv.key(), kv.value().get_string());
    } else if (kv.value().is_null()) {
      out.emplace_back(kv.key(), "");
    } else {
      Bad(PathOf(name) + "." + std::string(kv.key()), "must be a string");
    }
  }
  return out;
}

std::optional<std::vector<std::string>> Fields::StringList(std::string_view name) const {
  const json::value* v = Find(name);
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  if (lenient_ && v->is_string()) {
    out.emplace_back(v->get_string());
    return out;
  }
  if (!v->is_array()) Bad(PathOf(name), "must be an array of strings");
  for (const auto& e : v->get_array()) {
    if (!e.is_string()) Bad(PathOf(name), "must be an array of strings");
    out.emplace_back(e.get_string());
  }
  return out;
}

}  // namespace statehouse::api
