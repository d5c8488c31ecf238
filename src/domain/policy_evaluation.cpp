// PolicyService's evaluations: ad hoc Rego, the evaluation history, and enforcement (which
// sets apply to an entity and event, each policy run against the input, the outcome recorded).
#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "common/json_text.h"
#include "common/util.h"
#include "domain/policies.h"
#include "domain/policies_internal.h"
#include "domain/validation.h"
#include "policy/engine.h"
#include "policy/errors.h"
#include "policy/value.h"

namespace statehouse::domain {
namespace json = boost::json;
using namespace policies_internal;

namespace {

constexpr size_t kMaxMessages = 100;           // per policy and kind
constexpr size_t kMaxMessageBytes = 4096;      // per message
constexpr size_t kMaxOutputBytes = 64 * 1024;  // per policy, in the stored evaluation

std::vector<std::string> PackagePath(const std::string& package) {
  std::vector<std::string> parts;
  std::string_view rest = package;
  if (rest.substr(0, 5) == "data.") rest.remove_prefix(5);
  while (!rest.empty()) {
    size_t dot = rest.find('.');
    parts.emplace_back(rest.substr(0, dot));
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
  }
  return parts;
}

// At most kMaxMessageBytes, cut before a character rather than inside one (UTF-8: a byte
// 10xxxxxx continues the character begun before it).
std::string Clip(std::string s) {
  if (s.size() > kMaxMessageBytes) {
    size_t cut = kMaxMessageBytes;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    s.resize(cut);
    s += "...";
  }
  return s;
}

// Messages of a deny/warn rule value: a set or array of messages (strings, or objects with a
// "msg"), a single string, a boolean rule, or a partial object keyed by message.
// A rule that is just true reports "<what> '<policy name>'" (made only then: most rules are
// sets of messages, and this runs on every save a policy checks).
void CollectMessages(const policy::Value* v, std::vector<std::string>& out, std::string_view what,
                     const std::string& policy_name) {
  if (!v) return;
  auto fallback = [&] { return std::string(what) + " '" + policy_name + "'"; };
  auto add = [&](const policy::Value& item) {
    if (out.size() >= kMaxMessages) return;
    if (item.IsString()) {
      out.push_back(Clip(item.AsString()));
    } else if (const policy::Value* msg = item.IsObject() ? item.Find("msg") : nullptr;
               msg && msg->IsString()) {
      out.push_back(Clip(msg->AsString()));
    } else if (item.IsBool()) {
      if (item.AsBool()) out.push_back(fallback());
    } else {
      out.push_back(Clip(item.ToJson()));
    }
  };
  switch (v->kind()) {
    case policy::Kind::kNull:
      return;
    case policy::Kind::kBoolean:
      if (v->AsBool()) out.push_back(fallback());
      return;
    case policy::Kind::kSet:
      for (const auto& item : v->AsSet()) add(item);
      return;
    case policy::Kind::kArray:
      for (const auto& item : v->AsArray()) add(item);
      return;
    case policy::Kind::kObject:
      for (const auto& [key, value] : v->AsObject()) {
        if (value.IsBool() || value.IsNull()) {
          if (!value.IsBool() || value.AsBool()) add(key);
        } else {
          add(value);
        }
      }
      return;
    default:
      add(*v);
  }
}

struct RawOutcome {
  std::vector<std::string> deny;
  std::vector<std::string> warn;
  std::string output_json = "null";  // the package document's text; null when undefined
  std::string error;
};

// The package document's text as stored: itself, or a marker when larger than
// kMaxOutputBytes.
std::string BoundedOutputJson(const policy::Value& output) {
  std::string text = output.ToJson();
  if (text.size() <= kMaxOutputBytes) return text;
  json::object marker;
  marker["truncated"] = true;
  marker["size_bytes"] = static_cast<int64_t>(text.size());
  return json::serialize(marker);
}

RawOutcome RunPolicy(const policy::CompiledPolicy& compiled,
                     const std::vector<std::string>& package_path, const policy::Value& input,
                     const policy::EvalOptions& options, const std::string& policy_name) {
  RawOutcome r;
  try {
    std::optional<policy::Value> doc = compiled.Evaluate(package_path, input, options);
    if (doc) {
      r.output_json = BoundedOutputJson(*doc);
      if (doc->IsObject()) {
        CollectMessages(doc->Find("deny"), r.deny, "denied by policy", policy_name);
        CollectMessages(doc->Find("warn"), r.warn, "warning from policy", policy_name);
      }
    }
  } catch (const policy::PolicyError& e) {
    r.error = e.what();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    r.error = std::string("policy evaluation failed: ") + e.what();
  }
  return r;
}

PolicyStatus StatusOf(const RawOutcome& r, std::string_view severity) {
  if (!r.error.empty()) return PolicyStatus::kError;
  if (!r.deny.empty()) return severity == "warning" ? PolicyStatus::kWarning : PolicyStatus::kError;
  if (!r.warn.empty()) return PolicyStatus::kWarning;
  return PolicyStatus::kPass;
}

PolicyStatus Worst(PolicyStatus a, PolicyStatus b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

// One EvaluatedPolicy's text (both spellings of the error: the PM spec's "error" and IaCM's
// "rego_error").
void AppendEvaluatedPolicyJson(std::string& out, const storage::PolicyRecord& policy,
                               const RawOutcome& r, PolicyStatus status, std::string_view severity,
                               std::string_view rego_json = {}) {
  ObjectJson o(out);
  o.Key("policy");
  AppendPolicyJson(out, policy, true, rego_json);
  o.Str("status", PolicyStatusName(status)).Strs("deny_messages", r.deny);
  o.Strs("warn_messages", r.warn).Str("error", r.error).Str("rego_error", r.error);
  o.Raw("output", r.output_json);
  if (!severity.empty()) {
    o.Str("severity", severity);
    o.Str("policy_severity", severity == "warning" ? "Warn & Continue" : "Error & Exit");
  }
  o.Close();
}

// The input as stored: its JSON text, or a marker when that exceeds max bytes (kept says
// which).
std::string BoundedInput(const json::value& input, size_t max, bool& kept) {
  std::string text = json::serialize(input);
  kept = text.size() <= max;
  if (kept) return text;
  json::object marker;
  marker["truncated"] = true;
  marker["size_bytes"] = static_cast<int64_t>(text.size());
  marker["sha256"] = Sha256Hex({text});
  marker["message"] = "the input was larger than " + std::to_string(max) +
                      " bytes; only its size and SHA-256 are kept";
  return json::serialize(marker);
}

}  // namespace

// ---- evaluation ----

json::object PolicyService::EvaluateRego(const auth::Principal& who, const PolicyScope& scope,
                                         const std::string& rego, const json::value& input) {
  RequireLevel(who, scope);
  ValidateRego(rego);
  Compiled compiled = CompileRego(cache_, rego);
  policy::EvalOptions options;
  options.timeout_ms = options_.eval_timeout_ms;
  options.max_memory_bytes = options_.eval_memory_bytes;
  RawOutcome r = RunPolicy(*compiled.policy, PackagePath(compiled.package), policy::FromJson(input),
                           options, "evaluate");
  storage::PolicyRecord p;
  p.account = who.account;
  p.org = scope.org;
  p.project = scope.project;
  p.identifier = "evaluate";
  p.name = "Ad hoc evaluation";
  p.rego = rego;
  p.package_name = compiled.package;
  p.created = p.updated = NowMillis();
  PolicyStatus status = PolicyStatus::kPass;
  if (!r.error.empty() || !r.deny.empty())
    status = PolicyStatus::kError;
  else if (!r.warn.empty())
    status = PolicyStatus::kWarning;
  std::string text;
  AppendEvaluatedPolicyJson(text, p, r, status, "");
  return json::parse(text).as_object();
}

storage::Page<storage::EvaluationRecord> PolicyService::ListEvaluations(
    const auth::Principal& who, const PolicyScope& scope, storage::EvaluationListQuery query) {
  RequireLevel(who, scope);
  if (!query.type.empty()) ValidateTrigger(query.type, "");
  ValidateActionName(query.action);
  for (const auto& s : query.statuses)
    if (s != "pass" && s != "warning" && s != "error" && s != "pending")
      Invalid("status", "must be one of error, warning, pass, pending (got '" + s + "')");
  query.org = scope.org;
  query.project = scope.project;
  if (!who.Covers(scope.org, scope.project)) {
    // The scope lies above the caller's: only the caller's own levels.
    if (!query.include_child_scopes) return {};
    query.org = who.org;
    query.project = who.project;
  }
  return db_.Policies().ListEvaluations(who.account, query);
}

storage::EvaluationRecord PolicyService::GetEvaluation(const auth::Principal& who,
                                                       const PolicyScope& scope, int64_t id) {
  RequireLevel(who, scope);
  auto r = db_.Policies().GetEvaluation(who.account, id);
  bool inside =
      r && (scope.org.empty() ||
            (r->org == scope.org && (scope.project.empty() || r->project == scope.project)));
  if (!inside || !who.CanSee(r->org, r->project))
    Fail(ErrorCode::kNotFound, "evaluation " + std::to_string(id) + " not found");
  return *r;
}

// ---- enforcement ----

PolicyDecision PolicyService::EvaluateByType(const auth::Principal& who, const PolicyScope& scope,
                                             const std::string& type, const std::string& action,
                                             const std::string& entity,
                                             const json::object& entity_metadata,
                                             const json::value& input) {
  RequireLevel(who, scope);
  auth::RequireScope(who, scope.org, scope.project);
  if (type.empty()) Invalid("type", "is required");
  if (action.empty()) Invalid("action", "is required");
  ValidateTrigger(type, action);
  ValidateMaxLength("entity", entity, 1024);
  const PolicyTrigger* trigger = FindTrigger(type, action);
  EnforcementRequest request;
  request.org = scope.org;
  request.project = scope.project;
  request.entity_type = trigger->entity;
  request.action = trigger->action;
  request.entity = entity;
  request.entity_metadata = entity_metadata;
  request.record_without_sets = true;
  return Enforce(who, request, input);
}

namespace {
const PolicyTrigger& TriggerOf(const EnforcementRequest& request) {
  for (const auto& t : kPolicyTriggers)
    if (t.entity == request.entity_type && t.action == request.action) return t;
  Fail(ErrorCode::kInvalidArgument, "no policy set type/action pair for " +
                                        std::string(EntityTypeName(request.entity_type)) + "/" +
                                        std::string(ActionName(request.action)));
}
}  // namespace

PolicyService::ApplicableSets PolicyService::SetsFor(const auth::Principal& who,
                                                     const EnforcementRequest& request) {
  const PolicyTrigger& t = TriggerOf(request);
  ApplicableSets out;
  out.list = db_.Policies().ApplicablePolicySets(who.account, request.org, request.project, t.type,
                                                 t.action_name);
  // A set that links no policy evaluates nothing: it neither records nor reports.
  for (const auto& set : *out.list)
    if (std::any_of(set.policies.begin(), set.policies.end(),
                    [](const auto& link) { return link.resolved.has_value(); }))
      out.sets.push_back(&set);
  return out;
}

bool PolicyService::Applies(const auth::Principal& who, const EnforcementRequest& request) {
  if (request.record_without_sets) return true;
  return !SetsFor(who, request).sets.empty();
}

PolicyDecision PolicyService::Evaluate(const auth::Principal& who,
                                       const EnforcementRequest& request,
                                       const json::value& input) {
  return Evaluate(who, request, [&input]() -> const json::value& { return input; });
}

PolicyDecision PolicyService::Evaluate(const auth::Principal& who,
                                       const EnforcementRequest& request,
                                       const std::function<const json::value&()>& make_input) {
  auto start = std::chrono::steady_clock::now();
  const PolicyTrigger* trigger = &TriggerOf(request);
  PolicyDecision decision;
  ApplicableSets applicable = SetsFor(who, request);
  if (applicable.sets.empty() && !request.record_without_sets) return decision;

  const json::value& input = make_input();
  policy::Value in = policy::FromJson(input);
  policy::EvalOptions options;
  options.timeout_ms = options_.eval_timeout_ms;
  options.max_memory_bytes = options_.eval_memory_bytes;
  // A policy linked by several sets is evaluated once.
  struct Evaluated {
    const storage::PolicyRecord* policy;
    std::shared_ptr<const CompiledPolicyCache::Cached> cached;  // null when it did not compile
    RawOutcome outcome;
  };
  std::vector<Evaluated> memo;
  size_t links = 0;
  for (const storage::PolicySetRecord* set : applicable.sets) links += set->policies.size();
  memo.reserve(links);
  decision.outcomes.reserve(links);
  // Policies of one package (the usual case) share its path.
  std::string package;
  std::vector<std::string> package_path;

  std::string details = "[";
  PolicyStatus overall = PolicyStatus::kPass;
  for (const storage::PolicySetRecord* linked : applicable.sets) {
    const storage::PolicySetRecord& set = *linked;
    const std::string set_id = RefOf(set.org, set.project, set.identifier);
    std::string evaluated = "[";
    evaluated.reserve(1024 * set.policies.size());
    PolicyStatus set_status = PolicyStatus::kPass;
    for (const auto& link : set.policies) {
      if (!link.resolved) continue;  // unlinked meanwhile
      const storage::PolicyRecord& p = *link.resolved;
      auto found = std::find_if(memo.begin(), memo.end(), [&p](const Evaluated& seen) {
        return seen.policy->identifier == p.identifier && seen.policy->project == p.project &&
               seen.policy->org == p.org;
      });
      if (found == memo.end()) {
        Evaluated e{&p, nullptr, {}};
        try {
          e.cached = cache_.Find(p.rego);
          const policy::CompiledPolicy& compiled = *e.cached->compiled;
          const std::string* name = &p.package_name;
          std::vector<std::string> packages;
          if (name->empty()) {
            packages = compiled.Packages();
            if (!packages.empty()) name = &packages.front();
          }
          if (*name != package || package_path.empty()) {
            package = *name;
            package_path = PackagePath(package);
          }
          e.outcome = RunPolicy(compiled, package_path, in, options, p.name);
        } catch (const policy::PolicyError& err) {
          e.outcome.error = err.what();
        }
        memo.push_back(std::move(e));
        found = memo.end() - 1;
      }
      const RawOutcome& r = found->outcome;
      PolicyStatus status = StatusOf(r, link.severity);
      set_status = Worst(set_status, status);
      PolicyOutcome& outcome = decision.outcomes.emplace_back();
      outcome.policy_set_id = set_id;
      outcome.policy_set_name = set.name;
      outcome.policy_id = RefOf(p.org, p.project, p.identifier);
      outcome.policy_name = p.name;
      outcome.severity = link.severity;
      outcome.status = status;
      outcome.deny_messages = r.deny;
      outcome.warn_messages = r.warn;
      outcome.error = r.error;
      if (evaluated.size() > 1) evaluated += ',';
      AppendEvaluatedPolicyJson(
          evaluated, p, r, status, link.severity,
          found->cached ? std::string_view(found->cached->rego_json) : std::string_view());
    }
    evaluated += ']';
    overall = Worst(overall, set_status);
    if (details.size() > 1) details += ',';
    ObjectJson d(details);
    d.Str("account_id", set.account).Str("org_id", set.org).Str("project_id", set.project);
    d.Str("identifier", set.identifier).Str("name", set.name);
    if (!set.description.empty()) d.Str("description", set.description);
    d.Str("type", set.type).Str("action", set.action).Bool("enabled", set.enabled);
    d.Str("entity_selector", set.entity_selector);
    d.Int("created", set.created).Int("updated", set.updated);
    d.Str("status", PolicyStatusName(set_status)).Raw("details", evaluated);
    d.Close();
  }
  details += ']';

  storage::EvaluationRecord rec;
  rec.account = who.account;
  rec.org = request.org;
  rec.project = request.project;
  rec.entity = request.entity;
  rec.entity_metadata = json::serialize(request.entity_metadata);
  rec.type = std::string(trigger->type);
  rec.action = std::string(trigger->action_name);
  rec.status = PolicyStatusName(overall);
  rec.execution_id = request.execution_id;
  bool input_kept = true;
  rec.input_json = BoundedInput(input, options_.max_stored_input_bytes, input_kept);
  rec.details_json = std::move(details);
  rec.created = NowMillis();
  rec.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  decision.status = overall;
  decision.evaluated = true;
  // Recorded() makes evaluation_json once the record has its id. The reply shows what is
  // stored: the input, or the marker that replaced a large one.
  decision.pending = std::move(rec);
  return decision;
}

PolicyDecision PolicyService::Enforce(const auth::Principal& who, const EnforcementRequest& request,
                                      const json::value& input) {
  PolicyDecision decision = Evaluate(who, request, input);
  if (decision.pending) {
    decision.pending->id = db_.Policies().AddEvaluation(*decision.pending);
    decision.Recorded();
  }
  return decision;
}

}  // namespace statehouse::domain
