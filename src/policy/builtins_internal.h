// Shared helpers of the builtin families (builtins_*.cpp): the registration table, OPA's
// operand errors, argument accessors, UTF-8 and number helpers. Not part of the engine's API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/builtins.h"
#include "policy/value.h"

namespace statehouse::policy::internal {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using BuiltinTable = std::unordered_map<std::string, Builtin, StringHash, std::equal_to<>>;

// Adds one builtin; a duplicate name is a programming error (aborts in debug builds).
void Add(BuiltinTable& table, std::string name, int arity, BuiltinFn fn);

// One per family; builtins.cpp calls them all once, on first use.
void RegisterOperatorBuiltins(BuiltinTable& table);    // builtins_numbers.cpp
void RegisterNumberBuiltins(BuiltinTable& table);      // builtins_numbers.cpp
void RegisterStringBuiltins(BuiltinTable& table);      // builtins_strings.cpp
void RegisterSprintfBuiltin(BuiltinTable& table);      // builtins_sprintf.cpp
void RegisterRegexBuiltins(BuiltinTable& table);       // builtins_regex.cpp
void RegisterCollectionBuiltins(BuiltinTable& table);  // builtins_collections.cpp
void RegisterEncodingBuiltins(BuiltinTable& table);    // builtins_encoding.cpp
void RegisterTimeBuiltins(BuiltinTable& table);        // builtins_time.cpp
void RegisterNetBuiltins(BuiltinTable& table);         // builtins_net.cpp
void RegisterMiscBuiltins(BuiltinTable& table);        // builtins_misc.cpp

// Results larger than this are refused even without a memory budget, so that a builtin
// cannot take the process down on its own.
constexpr size_t kMaxResultBytes = size_t{256} << 20;
constexpr size_t kMaxResultElements = size_t{10} << 20;

// OPA's type names: null, boolean, number, string, array, object, set.
const char* TypeName(const Value& v);
const char* TypeName(Kind kind);

// Throws BuiltinError("<fn>: <message>").
[[noreturn]] void Fail(std::string_view fn, std::string_view message);
// "<fn>: operand 2 must be array but got string" or "... must be one of {a, b} but got ...".
[[noreturn]] void FailType(std::string_view fn, int pos, const Value& got,
                           std::initializer_list<std::string_view> expected);
// "<fn>: operand 1 must be array of numbers but got array containing string".
[[noreturn]] void FailElement(std::string_view fn, int pos, const Value& composite,
                              const Value& got, std::initializer_list<std::string_view> expected);

// Argument accessors; pos is 1-based as in OPA's messages. Each throws the type error.
const std::string& StringArg(std::string_view fn, const std::vector<Value>& args, int pos);
Number NumberArg(std::string_view fn, const std::vector<Value>& args, int pos);
// An integral number: "operand 2 must be integer number but got floating-point number".
int64_t IntArg(std::string_view fn, const std::vector<Value>& args, int pos);
const Array& ArrayArg(std::string_view fn, const std::vector<Value>& args, int pos);
const Object& ObjectArg(std::string_view fn, const std::vector<Value>& args, int pos);
const Set& SetArg(std::string_view fn, const std::vector<Value>& args, int pos);
bool BoolArg(std::string_view fn, const std::vector<Value>& args, int pos);
// An array or a set of strings.
std::vector<std::string> StringsArg(std::string_view fn, const std::vector<Value>& args, int pos);

// A result past kMaxResultBytes / kMaxResultElements: halts the query (eval_cancel_error).
[[noreturn]] void TooLarge(std::string_view fn);
// Charges the evaluation's memory budget (a no-op without one) and refuses absurd sizes.
void Charge(BuiltinContext& ctx, std::string_view fn, size_t bytes);
void ChargeElements(BuiltinContext& ctx, std::string_view fn, size_t count);
// A string result: charged, then wrapped.
Value StringResult(BuiltinContext& ctx, std::string_view fn, std::string s);

// A generous estimate of v's JSON or Rego text size, stopping early past `limit` (values
// share structure, so a small value in memory can be enormous as text).
size_t EstimateTextSize(const Value& v, size_t limit);
// Charges the text size of v before it is written out; refuses text beyond kMaxResultBytes.
void ChargeText(BuiltinContext& ctx, std::string_view fn, const Value& v);

// UTF-8. Invalid bytes decode to U+FFFD one byte at a time, as Go's []rune(s) does.
std::u32string DecodeUtf8(std::string_view s);
void AppendUtf8(std::string& out, char32_t c);
std::string EncodeUtf8(std::u32string_view s);
// Decodes one code point at s[i], advancing i; U+FFFD for an invalid byte.
char32_t NextCodePoint(std::string_view s, size_t& i);
bool IsValidUtf8(std::string_view s);

// Go's unicode.IsSpace.
bool IsUnicodeSpace(char32_t c);
// Simple case mapping (ASCII, Latin-1, Latin Extended, Greek, Cyrillic, Armenian, fullwidth).
char32_t ToLowerRune(char32_t c);
char32_t ToUpperRune(char32_t c);

// Number arithmetic: exact on int64; otherwise as OPA's 64-bit big.Float on the numbers'
// decimal texts (0.1 + 0.2 is 0.3), the result a double. A result beyond double's range
// throws "<fn>: number out of range". DivNumbers does not check for zero.
Number AddNumbers(std::string_view fn, const Number& a, const Number& b);
Number SubNumbers(std::string_view fn, const Number& a, const Number& b);
Number MulNumbers(std::string_view fn, const Number& a, const Number& b);
Number DivNumbers(std::string_view fn, const Number& a, const Number& b);
Number CheckedDouble(std::string_view fn, double d);

// Go's strconv.Quote (printable Unicode kept, the rest escaped).
std::string GoQuote(std::string_view s, bool ascii_only = false);

// JSON text as Go's encoding/json writes it (HTML-safe escapes, sorted keys, sets as arrays);
// pretty: as json.MarshalIndent(v, prefix, indent).
std::string GoJson(const Value& v, bool pretty = false, std::string_view prefix = {},
                   std::string_view indent = {});

// A number from decimal text as Go's strconv.ParseFloat reads it: "10", "-1.5", "1e3", ".5".
// nullopt for invalid syntax; a number beyond double's range comes back as an infinite double.
std::optional<Number> ParseDecimal(std::string_view text);

}  // namespace statehouse::policy::internal
