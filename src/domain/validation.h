// Field rules from the spec (patterns, lengths). Errors name the field.
#pragma once

#include <string>
#include <string_view>

#include "storage/records.h"

namespace statehouse::domain {

// ^[a-zA-Z_][0-9a-zA-Z_$]{0,127}$ (orgs, projects, tokens, API keys).
void ValidateIdentifier(std::string_view field, std::string_view value);
// ^[a-zA-Z_][0-9a-zA-Z-_ ]{0,127}$ (org and project names).
void ValidateName(std::string_view field, std::string_view value);
// Free text names (tokens, API keys): 1..128 printable characters.
void ValidateLabel(std::string_view field, std::string_view value);
void ValidateMaxLength(std::string_view field, std::string_view value, size_t max);
// At most 128 tags; keys 1..128 chars, values up to 1024.
void ValidateTags(std::string_view field, const storage::Tags& tags);

}  // namespace statehouse::domain
