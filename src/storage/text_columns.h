// Encodings of list-valued columns (tags, modules) as JSON text, shared by the backends.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "storage/records.h"

namespace statehouse::storage {

std::string TagsToText(const Tags& tags);
Tags TagsFromText(std::string_view text);
std::string StringsToText(const std::vector<std::string>& items);
std::vector<std::string> StringsFromText(std::string_view text);
// Escapes % _ and \ for a LIKE pattern that uses ESCAPE '\'.
std::string LikeContains(std::string_view needle);

}  // namespace statehouse::storage
