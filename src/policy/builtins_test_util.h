// Helpers shared by the builtins' tests: value shorthands and calls through the registry.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/builtins.h"
#include "policy/errors.h"

namespace statehouse::policy {
namespace {

Value J(std::string_view json) { return ParseJson(json); }
Value S(std::string s) { return Value::String(std::move(s)); }
Value I(int64_t i) { return Value::Int(i); }
Value D(double d) { return Value::Double(d); }
Value B(bool b) { return Value::Bool(b); }
Value SetOf(std::vector<Value> items) { return Value::MakeSet(std::move(items)); }
Value Arr(std::vector<Value> items) { return Value::MakeArray(std::move(items)); }

std::optional<Value> CallWith(BuiltinContext& ctx, std::string_view name, std::vector<Value> args) {
  const Builtin* b = FindBuiltin(name);
  if (!b) {
    ADD_FAILURE() << "no builtin " << name;
    return std::nullopt;
  }
  EXPECT_EQ(static_cast<size_t>(b->arity), args.size()) << name;
  return b->fn(args, ctx);
}

std::optional<Value> Call(std::string_view name, std::vector<Value> args) {
  BuiltinContext ctx;
  return CallWith(ctx, name, std::move(args));
}

std::string Show(const std::optional<Value>& v) { return v ? v->ToRego() : "<undefined>"; }

// The builtin error's message, or a marker when the call did not fail.
std::string Err(std::string_view name, std::vector<Value> args) {
  try {
    auto v = Call(name, std::move(args));
    return "<no error: " + Show(v) + ">";
  } catch (const BuiltinError& e) {
    return e.what();
  } catch (const PolicyError& e) {  // results past the hard limits halt the query
    return e.message();
  }
}

#define EXPECT_BUILTIN(want, name, ...) \
  EXPECT_EQ(Show(Call(name, {__VA_ARGS__})), Show(want)) << name

}  // namespace
}  // namespace statehouse::policy
