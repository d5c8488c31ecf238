// JSON-lines logging to stderr. One line per event, written atomically; callers never pass
// tokens or secrets (the request log records method, path and status only).
#pragma once

#include <boost/json/value.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace statehouse::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

// Parses "debug|info|warn|error|off"; returns false on anything else.
bool ParseLevel(std::string_view text, Level& out);
void SetLevel(Level level);
bool Enabled(Level level);

// A key and a JSON value; accepts strings, numbers, booleans and JSON values directly.
struct Field {
  template <typename T>
  Field(std::string_view k, T&& v) : key(k), value(ToJson(std::forward<T>(v))) {}

  std::string_view key;
  boost::json::value value;

 private:
  static boost::json::value ToJson(std::string_view s) {
    return boost::json::value(boost::json::string_view(s.data(), s.size()));
  }
  static boost::json::value ToJson(const std::string& s) { return ToJson(std::string_view(s)); }
  static boost::json::value ToJson(std::string& s) { return ToJson(std::string_view(s)); }
  static boost::json::value ToJson(const char* s) { return ToJson(std::string_view(s)); }
  template <typename T>
  static boost::json::value ToJson(T&& v) {
    return boost::json::value(std::forward<T>(v));
  }
};
void Write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void Info(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kInfo, m, f);
}
inline void Warn(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kWarn, m, f);
}
inline void Error(std::string_view m, std::initializer_list<Field> f = {}) {
  Write(Level::kError, m, f);
}

}  // namespace statehouse::log
