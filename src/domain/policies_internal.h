// What policies.cpp (policies, sets, documents) and policy_evaluation.cpp (evaluations and
// enforcement) share; not for use elsewhere.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "domain/policies.h"
#include "policy/engine.h"

namespace statehouse::domain::policies_internal {

// The file name OPA's messages give a policy's text.
inline constexpr const char* kRegoFile = "policy.rego";
inline constexpr size_t kMaxRegoBytes = 256 * 1024;

// kInvalidArgument naming the field.
[[noreturn]] void Invalid(const std::string& field, std::string_view why);
// How a request names something of this level from the project below it: "account.<id>",
// "org.<id>" or "<id>".
std::string RefOf(std::string_view org, std::string_view project, std::string_view id);
// kInvalidArgument for empty or oversized Rego.
void ValidateRego(const std::string& rego);
// An action filter: empty, or an action of the table; kInvalidArgument otherwise.
void ValidateActionName(const std::string& action);

// A compiled policy and its package.
struct Compiled {
  std::shared_ptr<const policy::CompiledPolicy> policy;
  std::string package;
};

// Compiles (or finds compiled) Rego; a bad policy is kInvalidArgument with OPA's message.
Compiled CompileRego(CompiledPolicyCache& cache, const std::string& rego);

// PolicyDocument's text.
// rego_json: the policy's text as a JSON string already, when the caller has it.
void AppendPolicyJson(std::string& out, const storage::PolicyRecord& p, bool with_rego,
                      std::string_view rego_json = {});

}  // namespace statehouse::domain::policies_internal
