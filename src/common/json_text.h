// JSON text the server writes itself and reads back: written without building a document
// first, read back with the room its own documents need.
#pragma once

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace statehouse {

// Appends s as a JSON string, quoted and escaped exactly as boost::json::serialize writes it
// (", \ and control characters; other bytes as they are), without a temporary string.
void AppendJsonQuoted(std::string& out, std::string_view s);

// Writes a JSON object's members into a text as boost::json::serialize writes them (keys are
// literals that need no escaping): for documents that are stored and sent as text, which
// building as json::value trees first made cost twice (policy evaluations).
class ObjectJson {
 public:
  explicit ObjectJson(std::string& out) : out_(out) { out_ += '{'; }
  ObjectJson& Str(std::string_view key, std::string_view value) {
    Key(key);
    AppendJsonQuoted(out_, value);
    return *this;
  }
  ObjectJson& Int(std::string_view key, int64_t value) {
    Key(key);
    out_ += std::to_string(value);
    return *this;
  }
  ObjectJson& Double(std::string_view key, double value) {
    Key(key);
    out_ += boost::json::serialize(boost::json::value(value));
    return *this;
  }
  ObjectJson& Bool(std::string_view key, bool value) {
    Key(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  ObjectJson& Strs(std::string_view key, const std::vector<std::string>& values) {
    Key(key);
    out_ += '[';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i) out_ += ',';
      AppendJsonQuoted(out_, values[i]);
    }
    out_ += ']';
    return *this;
  }
  // A member whose value is JSON text already.
  ObjectJson& Raw(std::string_view key, std::string_view json_text) {
    Key(key);
    out_ += json_text;
    return *this;
  }
  void Close() { out_ += '}'; }
  // Starts a member whose value the caller appends.
  void Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += key;
    out_ += "\":";
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// Parses JSON text this server wrote (a stored evaluation, a refusal's details): it can be
// deeper than a request body may be, and hold strings with any bytes, as policies made them
// (base64.decode returns any bytes).
boost::json::value ParseServerJson(std::string_view text, boost::system::error_code& ec);
boost::json::value ParseServerJson(std::string_view text);  // throws on malformed text

}  // namespace statehouse
