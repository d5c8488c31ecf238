#include "domain/validation.h"

#include "common/error.h"

namespace statehouse::domain {

namespace {
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

[[noreturn]] void Invalid(std::string_view field, const std::string& why) {
  Fail(ErrorCode::kInvalidArgument, std::string(field) + ": " + why);
}
}  // namespace

void ValidateIdentifier(std::string_view field, std::string_view v) {
  if (v.empty()) Invalid(field, "must not be empty");
  if (v.size() > 128) Invalid(field, "must be at most 128 characters");
  bool ok = IsAlpha(v[0]) || v[0] == '_';
  for (size_t i = 1; ok && i < v.size(); ++i)
    ok = IsAlpha(v[i]) || IsDigit(v[i]) || v[i] == '_' || v[i] == '$';
  if (!ok) Invalid(field, "must match ^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$");
}

void ValidateName(std::string_view field, std::string_view v) {
  if (v.empty()) Invalid(field, "must not be empty");
  if (v.size() > 128) Invalid(field, "must be at most 128 characters");
  bool ok = IsAlpha(v[0]) || v[0] == '_';
  for (size_t i = 1; ok && i < v.size(); ++i)
    ok = IsAlpha(v[i]) || IsDigit(v[i]) || v[i] == '_' || v[i] == '-' || v[i] == ' ';
  if (!ok) Invalid(field, "must match ^[a-zA-Z_][0-9a-zA-Z-_ ]{0,127}$");
}

void ValidateLabel(std::string_view field, std::string_view v) {
  if (v.empty()) Invalid(field, "must not be empty");
  if (v.size() > 128) Invalid(field, "must be at most 128 characters");
  for (char c : v)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      Invalid(field, "must not contain control characters");
}

void ValidateMaxLength(std::string_view field, std::string_view v, size_t max) {
  if (v.size() > max) Invalid(field, "must be at most " + std::to_string(max) + " characters");
}

void ValidateTags(std::string_view field, const storage::Tags& tags) {
  if (tags.size() > 128) Invalid(field, "at most 128 tags are allowed");
  for (const auto& [k, v] : tags) {
    if (k.empty() || k.size() > 128) Invalid(field, "tag keys must be 1 to 128 characters");
    if (v.size() > 1024) Invalid(std::string(field) + "." + k, "must be at most 1024 characters");
  }
}

}  // namespace statehouse::domain
