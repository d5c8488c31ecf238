// The Rego engine end to end (policy/engine.h): compile the input as policy modules (several
// when separated by a line "# module"), over fixed base data, then evaluate against a fixed
// Terraform-plan-like input with a small budget (200 ms, 32 MiB):
//   - the package document (Evaluate(package)), twice: both runs agree when both finish;
//   - `data.<package>` as a query: defined exactly when Evaluate is, and with the same value;
//   - each of the first rules of the module (Evaluate(package + rule path));
//   - `data` as a query.
// A PolicyError (parse, compile, conflict, budget, strict builtin errors) is the expected
// outcome; anything else escaping, a crash, a sanitizer report, a leak or a hang is a finding.
// Results must print as JSON that Boost.JSON parses (the server sends them to clients).
// Strict builtin errors are on when the input mentions "strict". Known open findings
// (fuzz/findings-rego/README.md) stop a campaign at once; with FUZZ_TOLERATE_KNOWN (the compile
// definition of fuzz_common.h, or the environment variable) the determinism and JSON checks skip
// inputs that call sprintf (R2: a precision past ~60 digits prints uninitialized stack bytes). REGO_FUZZ_VERBOSE=1 prints what
// each input compiled and evaluated to (for checking seeds: build-fuzz/fuzz_rego_eval file...).
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <set>
#include <string>
#include <typeinfo>
#include <vector>

#include "fuzz_common.h"
#include "policy/engine.h"
#include "policy/errors.h"
#include "policy/parser.h"

using namespace statehouse::policy;

namespace {

constexpr size_t kMaxRules = 8;

const char* kData = R"({
  "config": {
    "allowed_regions": ["us-east-1", "eu-west-1"],
    "allowed_instance_types": ["t3.micro", "t3.small", "m5.large"],
    "required_tags": ["owner", "cost_center"],
    "monthly_budget": 1000.5,
    "protected": {"aws_db_instance.main": true}
  }
})";

const char* kInput = R"({
  "format_version": "1.2",
  "terraform_version": "1.6.6",
  "workspace": {"identifier": "net", "provisioner": "terraform", "tags": {"team": "infra"},
                "repository": "https://github.com/acme/infra", "budget": 250},
  "cost": {"total_monthly_cost": "1234.56", "diff": -3.5e2},
  "planned_values": {"root_module": {"resources": [
    {"address": "aws_instance.web[0]", "type": "aws_instance", "name": "web", "index": 0,
     "values": {"instance_type": "t3.large", "tags": {"owner": "ops"}, "ami": "ami-123"}}]}},
  "resource_changes": [
    {"address": "aws_instance.web[0]", "mode": "managed", "type": "aws_instance", "name": "web",
     "provider_name": "registry.terraform.io/hashicorp/aws",
     "change": {"actions": ["create"], "before": null,
                "after": {"instance_type": "t3.large", "tags": {"owner": "ops"}},
                "after_unknown": {"id": true}}},
    {"address": "aws_s3_bucket.logs", "mode": "managed", "type": "aws_s3_bucket", "name": "logs",
     "change": {"actions": ["delete", "create"], "before": {"bucket": "logs", "acl": "public-read"},
                "after": {"bucket": "logs", "acl": "public-read", "tags": null}}},
    {"address": "aws_security_group.sg", "type": "aws_security_group", "name": "sg",
     "change": {"actions": ["update"], "after": {"ingress": [
       {"cidr_blocks": ["0.0.0.0/0"], "from_port": 22, "to_port": 22, "protocol": "tcp"},
       {"cidr_blocks": ["10.0.0.0/8"], "ipv6_cidr_blocks": ["::/0"], "from_port": 0, "to_port": 65535}]}}},
    {"address": "module.db.aws_db_instance.main", "module_address": "module.db",
     "type": "aws_db_instance", "name": "main",
     "change": {"actions": ["no-op"], "after": {"storage_encrypted": false, "allocated_storage": 100}}}
  ],
  "configuration": {"provider_config": {"aws": {"expressions": {"region": {"constant_value": "ap-south-1"}}}},
    "root_module": {"module_calls": {"db": {"source": "git::https://github.com/acme/db.git?ref=v1.2.0"}}}},
  "numbers": [0, -1, 1.5, 9007199254740993, 1e300, -0.0],
  "strings": ["", "ünïcødé", "a\u0000b", "*.example.com", "2024-01-02T03:04:05Z"]
})";

[[noreturn]] void Escaped(const char* where, const std::exception& e, std::string_view text) {
  std::string detail = std::string(where) + ": " + typeid(e).name() + ": " + e.what() +
                       "\n--- input:\n" + std::string(text.substr(0, 2000));
  fuzz::Die(__FILE__, __LINE__, "an exception other than PolicyError escaped", detail);
}

bool TolerateKnown(std::string_view text) {
  static const bool tolerate = fuzz::kTolerateKnown || std::getenv("FUZZ_TOLERATE_KNOWN") != nullptr;
  return tolerate && text.find("sprintf") != std::string_view::npos;  // R2
}

// A result as the server would send it: JSON text that parses.
void CheckJson(const Value& v, std::string_view text) {
  std::string json = v.ToJson();
  if (TolerateKnown(text)) return;
  boost::system::error_code ec;
  boost::json::parse_options deep;
  deep.max_depth = 100000;  // results nest as deep as dotted packages and heads go
  (void)boost::json::parse(json, ec, {}, deep);
  FUZZ_CHECK(!ec, "ToJson of a result is not JSON: " + json.substr(0, 1000) + "\n--- input:\n" +
                      std::string(text.substr(0, 2000)));
  (void)ToBoostJson(v);
}

// `data["a"]["b"]` for the path {"a", "b"}.
std::string RefOf(const std::vector<std::string>& path) {
  std::string ref = "data";
  for (const auto& p : path) ref += "[" + boost::json::serialize(boost::json::string(p)) + "]";
  return ref;
}

bool Verbose() {
  static const bool verbose = std::getenv("REGO_FUZZ_VERBOSE") != nullptr;
  return verbose;
}

void Say(const std::string& what, const std::string& detail) {
  if (Verbose()) std::fprintf(stderr, "  %s: %.400s\n", what.c_str(), detail.c_str());
}

std::vector<std::string> Split(std::string_view text) {
  std::vector<std::string> modules;
  constexpr std::string_view kSep = "\n# module\n";
  size_t at = 0;
  while (true) {
    size_t next = text.find(kSep, at);
    if (next == std::string_view::npos) {
      modules.emplace_back(text.substr(at));
      return modules;
    }
    modules.emplace_back(text.substr(at, next - at));
    at = next + kSep.size();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  fuzz::QuietLogs();
  static const Value data = ParseJson(kData);
  static const Value input = ParseJson(kInput);
  std::string_view text = fuzz::AsText(bytes, size);

  std::vector<std::string> texts = Split(text);
  std::vector<ModuleSource> sources;
  std::vector<Module> parsed;
  for (size_t i = 0; i < texts.size(); ++i) {
    sources.push_back({i == 0 ? "policy.rego" : "lib" + std::to_string(i) + ".rego", texts[i]});
    try {
      parsed.push_back(ParseModule(sources.back().file, sources.back().text));
    } catch (const PolicyError& e) {
      Say("parse error", e.what());
      return 0;
    } catch (const std::exception& e) {
      Escaped("ParseModule", e, text);
    }
  }
  std::shared_ptr<const CompiledPolicy> policy;
  try {
    policy = Engine::Compile(sources, data);
  } catch (const PolicyError& e) {
    Say("compile error", e.what());
    return 0;
  } catch (const std::exception& e) {
    Escaped("Engine::Compile", e, text);
  }

  EvalOptions options;
  options.timeout_ms = 200;
  options.max_memory_bytes = size_t{32} << 20;
  options.now_ns = 1700000000000000000;
  options.strict_builtin_errors = text.find("strict") != std::string_view::npos;

  const std::vector<std::string>& package = parsed[0].package;
  std::optional<Value> first, second;
  bool first_done = false, second_done = false;
  try {
    first = policy->Evaluate(package, input, options);
    first_done = true;
    if (first) CheckJson(*first, text);
    Say("package", first ? first->ToJson() : "undefined");
  } catch (const PolicyError& e) {
    Say("package error", e.what());
  } catch (const std::exception& e) {
    Escaped("Evaluate(package)", e, text);
  }
  if (first_done) {
    try {
      second = policy->Evaluate(package, input, options);
      second_done = true;
    } catch (const PolicyError&) {
    } catch (const std::exception& e) {
      Escaped("Evaluate(package), again", e, text);
    }
    if (second_done && !TolerateKnown(text)) {
      FUZZ_CHECK(first.has_value() == second.has_value() && (!first || *first == *second),
                 "two evaluations of the package differ: " +
                     (first ? first->ToJson().substr(0, 500) : "undefined") + " vs " +
                     (second ? second->ToJson().substr(0, 500) : "undefined") + "\n--- input:\n" +
                     std::string(text.substr(0, 2000)));
    }
  }

  std::string ref = RefOf(package);
  try {
    QueryResult r = policy->Query(ref, input, options);
    for (const auto& row : r.rows)
      for (const auto& e : row.expressions) CheckJson(e.value, text);
    if (second_done && !TolerateKnown(text)) {
      FUZZ_CHECK(r.rows.size() <= 1, "a ref query gave several rows\n--- input:\n" +
                                         std::string(text.substr(0, 2000)));
      bool defined = !r.rows.empty();
      FUZZ_CHECK(defined == first.has_value() &&
                     (!defined || r.rows[0].expressions.at(0).value == *first),
                 "Query(" + ref + ") and Evaluate(package) disagree: " +
                     (defined ? r.rows[0].expressions.at(0).value.ToJson().substr(0, 500)
                              : "undefined") +
                     " vs " + (first ? first->ToJson().substr(0, 500) : "undefined") +
                     "\n--- input:\n" + std::string(text.substr(0, 2000)));
    }
  } catch (const PolicyError&) {
  } catch (const std::exception& e) {
    Escaped("Query(data.<package>)", e, text);
  }

  std::set<std::vector<std::string>> seen;
  for (const Rule& rule : parsed[0].rules) {
    if (seen.size() >= kMaxRules) break;
    if (rule.kind == RuleKind::kFunction) continue;
    std::vector<std::string> path = package;
    path.insert(path.end(), rule.path.begin(), rule.path.end());
    if (!seen.insert(path).second) continue;
    try {
      std::vector<std::string> prints;
      std::optional<Value> v = policy->Evaluate(path, input, options, &prints);
      if (v) CheckJson(*v, text);
      Say("rule " + rule.name, v ? v->ToJson() : "undefined");
    } catch (const PolicyError& e) {
      Say("rule " + rule.name + " error", e.what());
    } catch (const std::exception& e) {
      Escaped("Evaluate(rule)", e, text);
    }
  }

  try {
    QueryResult r = policy->Query("data", input, options);
    for (const auto& row : r.rows)
      for (const auto& e : row.expressions) CheckJson(e.value, text);
  } catch (const PolicyError&) {
  } catch (const std::exception& e) {
    Escaped("Query(data)", e, text);
  }
  return 0;
}
