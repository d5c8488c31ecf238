// The Rego parser (policy/parser.h): ParseModule on any bytes, or ParseQuery when the input
// starts with '?' (the rest is the query). A PolicyError is the expected outcome of bad input;
// anything else escaping (another exception type, a crash, a sanitizer report, a hang) is a
// finding. Properties:
//  - a module that parses has a package, and compiles (Engine::Compile) or fails with
//    PolicyError only;
//  - a query that parses reports one source text per expression, and compiles and runs against
//    an empty policy (small budget) or fails with PolicyError only.
#include <exception>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.h"
#include "policy/engine.h"
#include "policy/errors.h"
#include "policy/parser.h"

using namespace statehouse::policy;

namespace {

[[noreturn]] void Escaped(const char* where, const std::exception& e, std::string_view text) {
  std::string detail = std::string(where) + ": " + typeid(e).name() + ": " + e.what() +
                       "\n--- input:\n" + std::string(text.substr(0, 2000));
  fuzz::Die(__FILE__, __LINE__, "an exception other than PolicyError escaped", detail);
}

EvalOptions SmallBudget() {
  EvalOptions o;
  o.timeout_ms = 200;
  o.max_memory_bytes = size_t{32} << 20;
  o.now_ns = 1700000000000000000;  // fixed: no wall clock in a fuzz run
  return o;
}

void FuzzModule(std::string_view text) {
  Module m;
  try {
    m = ParseModule("policy.rego", text);
  } catch (const PolicyError&) {
    return;
  } catch (const std::exception& e) {
    Escaped("ParseModule", e, text);
  }
  FUZZ_CHECK(!m.package.empty(), std::string(text.substr(0, 2000)));
  try {
    (void)Engine::Compile({{"policy.rego", std::string(text)}}, Value());
  } catch (const PolicyError&) {
  } catch (const std::exception& e) {
    Escaped("Engine::Compile of a module that parses", e, text);
  }
}

void FuzzQuery(std::string_view text) {
  std::vector<std::string> texts;
  Body body;
  try {
    body = ParseQuery(text, &texts);
  } catch (const PolicyError&) {
    return;
  } catch (const std::exception& e) {
    Escaped("ParseQuery", e, text);
  }
  FUZZ_CHECK(texts.size() == body.size(),
             std::to_string(texts.size()) + " texts for " + std::to_string(body.size()) +
                 " expressions\n--- input:\n" + std::string(text.substr(0, 2000)));
  static const auto empty = [] {
    return Engine::Compile({{"lib.rego", "package lib\n\nf(x) := x\n\nallowed := {\"a\", \"b\"}\n"}},
                           ParseJson(R"({"cfg":{"n":1,"xs":[1,2,3]}})"));
  }();
  static const Value input = ParseJson(R"({"a":[1,"two",{"three":3}],"b":{"c":null,"d":true}})");
  try {
    (void)empty->Query(text, input, SmallBudget());
  } catch (const PolicyError&) {
  } catch (const std::exception& e) {
    Escaped("Query of a query that parses", e, text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  std::string_view text = fuzz::AsText(data, size);
  if (!text.empty() && text[0] == '?') {
    FuzzQuery(text.substr(1));
  } else {
    FuzzModule(text);
  }
  return 0;
}
