#include "domain/policies.h"

#include <algorithm>
#include <boost/json.hpp>
#include <string>
#include <utility>

#include "common/json_text.h"
#include "common/util.h"
#include "domain/policies_internal.h"
#include "domain/validation.h"
#include "policy/engine.h"
#include "policy/errors.h"

namespace statehouse::domain {
namespace json = boost::json;
using namespace policies_internal;

namespace {

constexpr size_t kMaxDescription = 1024;
constexpr size_t kMaxLinks = 100;

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

std::string LevelText(const PolicyScope& s) {
  if (s.org.empty()) return "at account level";
  if (s.project.empty()) return "in organization '" + s.org + "'";
  return "in project '" + s.org + "/" + s.project + "'";
}

std::string DescribePolicy(const PolicyScope& s, std::string_view id) {
  return "policy '" + std::string(id) + "' " + LevelText(s);
}

std::string DescribeSet(const PolicyScope& s, std::string_view id) {
  return "policy set '" + std::string(id) + "' " + LevelText(s);
}

storage::PolicyKey KeyOf(const PolicyScope& s, const std::string& id) {
  return {s.org, s.project, id};
}

void ValidateScope(const PolicyScope& s) {
  if (!s.org.empty()) ValidateIdentifier("orgIdentifier", s.org);
  if (!s.project.empty()) {
    if (s.org.empty()) Invalid("projectIdentifier", "needs orgIdentifier too");
    ValidateIdentifier("projectIdentifier", s.project);
  }
}

json::value ParseOr(const std::string& text, json::value fallback) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return fallback;
  return v;
}

// Sets and pages visible to a scoped caller: walks the store's pages and keeps what keep()
// accepts, paging over the kept items.
template <typename T, typename Fetch, typename Keep>
storage::Page<T> FilterPages(const storage::ListQuery& query, Fetch fetch, Keep keep) {
  storage::Page<T> out;
  storage::ListQuery batch = query;
  batch.offset = 0;
  batch.limit = 100;
  for (;;) {
    storage::Page<T> page = fetch(batch);
    for (auto& item : page.items) {
      if (!keep(item)) continue;
      if (out.total >= query.offset && static_cast<int64_t>(out.items.size()) < query.limit)
        out.items.push_back(std::move(item));
      ++out.total;
    }
    batch.offset += static_cast<int64_t>(page.items.size());
    if (page.items.empty() || batch.offset >= page.total) break;
  }
  return out;
}

}  // namespace

namespace policies_internal {

[[noreturn]] void Invalid(const std::string& field, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(why));
}

std::string RefOf(std::string_view org, std::string_view project, std::string_view id) {
  if (org.empty()) return "account." + std::string(id);
  if (project.empty()) return "org." + std::string(id);
  return std::string(id);
}

void ValidateRego(const std::string& rego) {
  if (rego.empty()) Invalid("rego", "must not be empty");
  if (rego.size() > kMaxRegoBytes)
    Invalid("rego", "must be at most " + std::to_string(kMaxRegoBytes) + " bytes");
}

void ValidateActionName(const std::string& action) {
  if (action.empty()) return;
  std::string allowed;
  for (const auto& t : kPolicyTriggers) {
    if (t.action_name == action) return;
    if (allowed.find(t.action_name) == std::string::npos)
      allowed += (allowed.empty() ? "" : ", ") + std::string(t.action_name);
  }
  Invalid("action", "must be one of " + allowed + " (got '" + action + "')");
}

Compiled CompileRego(CompiledPolicyCache& cache, const std::string& rego) {
  Compiled out;
  try {
    out.policy = cache.Get(rego);
  } catch (const policy::PolicyError& e) {
    Fail(ErrorCode::kInvalidArgument, e.what());
  }
  std::vector<std::string> packages = out.policy->Packages();
  if (packages.empty()) Fail(ErrorCode::kInvalidArgument, std::string(kRegoFile) + ": no package");
  out.package = packages.front();
  return out;
}

void AppendPolicyJson(std::string& out, const storage::PolicyRecord& p, bool with_rego,
                      std::string_view rego_json) {
  ObjectJson o(out);
  o.Str("account_id", p.account).Str("org_id", p.org).Str("project_id", p.project);
  o.Str("identifier", p.identifier).Str("name", p.name);
  if (with_rego && !rego_json.empty())
    o.Raw("rego", rego_json);
  else if (with_rego)
    o.Str("rego", p.rego);
  o.Str("policy_package_name", p.package_name);
  o.Int("polciy_size_in_bytes", static_cast<int64_t>(p.rego.size()));  // the spec's spelling
  o.Int("created", p.created).Int("updated", p.updated);
  o.Close();
}

}  // namespace policies_internal

// ---------------------------------------------------------------------------------------
// The table

std::string_view EntityTypeName(PolicyEntity entity) {
  for (const auto& t : kPolicyTriggers)
    if (t.entity == entity) return t.type;
  return "";
}

std::string_view ActionName(PolicyAction action) {
  for (const auto& t : kPolicyTriggers)
    if (t.action == action) return t.action_name;
  return "";
}

const PolicyTrigger* FindTrigger(std::string_view type, std::string_view action) {
  for (const auto& t : kPolicyTriggers)
    if (t.type == type && t.action_name == action) return &t;
  return nullptr;
}

void ValidateTrigger(std::string_view type, std::string_view action) {
  std::vector<std::string_view> types;
  std::vector<std::string_view> actions;
  for (const auto& t : kPolicyTriggers) {
    if (std::find(types.begin(), types.end(), t.type) == types.end()) types.push_back(t.type);
    if (t.type == type) actions.push_back(t.action_name);
  }
  auto join = [](const std::vector<std::string_view>& v) {
    std::string out;
    for (auto s : v) out += (out.empty() ? "" : ", ") + std::string(s);
    return out;
  };
  if (actions.empty())
    Invalid("type", "must be one of " + join(types) + " (got '" + std::string(type) + "')");
  if (!action.empty() && !FindTrigger(type, action))
    Invalid("action", "for type " + std::string(type) + " must be one of " + join(actions) +
                          " (got '" + std::string(action) + "')");
}

const char* PolicyStatusName(PolicyStatus status) {
  switch (status) {
    case PolicyStatus::kPass:
      return "pass";
    case PolicyStatus::kWarning:
      return "warning";
    case PolicyStatus::kError:
      return "error";
  }
  return "error";
}

std::string WorkspaceEntity(std::string_view account, std::string_view org,
                            std::string_view project, std::string_view workspace) {
  return "accountIdentifier:" + std::string(account) + "/orgIdentifier:" + std::string(org) +
         "/projectIdentifier:" + std::string(project) +
         "/workspaceIdentifier:" + std::string(workspace);
}

void ValidatePolicyIdentifier(std::string_view field, std::string_view v) {
  std::string f(field);
  if (v.empty()) Invalid(f, "must not be empty");
  if (v.size() > 128) Invalid(f, "must be at most 128 characters");
  bool ok = IsAlpha(v[0]) || v[0] == '_';
  for (size_t i = 1; ok && i < v.size(); ++i)
    ok = IsAlpha(v[i]) || IsDigit(v[i]) || v[i] == '_' || v[i] == '-';
  if (!ok) Invalid(f, "must match ^[A-Za-z_][A-Za-z0-9_-]*$");
}

// ---------------------------------------------------------------------------------------
// Documents

json::object PolicyDocument(const storage::PolicyRecord& p, bool with_rego) {
  std::string text;
  AppendPolicyJson(text, p, with_rego);
  return json::parse(text).as_object();
}

std::string EvaluationDocumentJson(const storage::EvaluationRecord& r, bool with_input) {
  std::string out;
  out.reserve(r.details_json.size() + (with_input ? r.input_json.size() : 0) + 512);
  ObjectJson o(out);
  o.Int("id", r.id).Str("account_id", r.account).Str("org_id", r.org).Str("project_id", r.project);
  o.Str("entity", r.entity).Str("entity_metadata", r.entity_metadata);
  o.Str("type", r.type).Str("action", r.action).Str("status", r.status).Int("created", r.created);
  if (!r.execution_id.empty()) o.Str("execution_id", r.execution_id);
  o.Double("duration_ms", static_cast<double>(r.duration_us) / 1000.0);
  o.Raw("details", r.details_json.empty() ? std::string_view("[]") : r.details_json);
  if (with_input) o.Raw("input", r.input_json.empty() ? std::string_view("null") : r.input_json);
  o.Close();
  return out;
}

json::object EvaluationDocument(const storage::EvaluationRecord& r, bool with_input) {
  boost::system::error_code ec;
  json::value doc = ParseServerJson(EvaluationDocumentJson(r, with_input), ec);
  if (!ec && doc.is_object()) return std::move(doc.get_object());
  // A stored text that is not JSON (not written by this server): shown without it.
  storage::EvaluationRecord bare = r;
  bare.details_json = "[]";
  bare.input_json = "null";
  return json::parse(EvaluationDocumentJson(bare, with_input)).as_object();
}

// ---------------------------------------------------------------------------------------
// PolicyDecision

void PolicyDecision::Recorded() {
  if (!pending) return;
  evaluation_id = pending->id;
  evaluation_json = EvaluationDocumentJson(*pending, true);
  pending.reset();
}

json::value PolicyDecision::Evaluation() const {
  if (evaluation_json.empty()) return nullptr;
  boost::system::error_code ec;
  json::value doc = ParseServerJson(evaluation_json, ec);
  if (ec) Fail(ErrorCode::kInternal, "the evaluation document does not read back: " + ec.message());
  return doc;
}

std::string PolicyDecision::Message() const {
  std::string out;
  auto line = [&out](const std::string& text) {
    if (!out.empty()) out += "\n";
    out += "- " + text;
  };
  for (const auto& o : outcomes) {
    if (o.status == PolicyStatus::kPass) continue;
    for (const auto& m : o.deny_messages) line(m);
    for (const auto& m : o.warn_messages) line(m);
    if (!o.error.empty()) line("policy '" + o.policy_name + "' could not be evaluated: " + o.error);
  }
  return out;
}

json::array PolicyDecision::DataPolicyEvaluations() const {
  json::array out;
  for (const auto& o : outcomes) {
    std::string message;
    auto add = [&message](const std::string& m) {
      if (!message.empty()) message += "; ";
      message += m;
    };
    for (const auto& m : o.deny_messages) add(m);
    for (const auto& m : o.warn_messages) add(m);
    if (!o.error.empty()) add(o.error);
    json::object e;
    e["policy_set_id"] = o.policy_set_id;
    e["policy_set_name"] = o.policy_set_name;
    e["policy_id"] = o.policy_id;
    e["policy_name"] = o.policy_name;
    e["policy_status"] = PolicyStatusName(o.status);
    e["message"] = message;
    out.push_back(std::move(e));
  }
  return out;
}

Error PolicyDecision::ViolationError() const {
  std::string message = "refused by policy";
  std::string lines = Message();
  if (!lines.empty()) message += ":\n" + lines;
  // The error body is the spec's PolicyViolationError: IaCMError plus policy_evaluation.
  return Error(
      ErrorCode::kInvalidArgument, message,
      evaluation_json.empty() ? std::string() : "{\"policy_evaluation\":" + evaluation_json + "}");
}

// ---------------------------------------------------------------------------------------
// CompiledPolicyCache

std::shared_ptr<const CompiledPolicyCache::Cached> CompiledPolicyCache::Find(
    const std::string& rego) {
  // Keyed by the text itself: hashing it is cheaper than a digest on every evaluation.
  const std::string& key = rego;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      order_.splice(order_.begin(), order_, it->second.position);
      return it->second.cached;
    }
  }
  // Compiled outside the lock: other policies stay available meanwhile.
  auto made = std::make_shared<Cached>();
  made->compiled = policy::Engine::Compile({{kRegoFile, rego}});
  AppendJsonQuoted(made->rego_json, rego);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it != entries_.end()) return it->second.cached;  // compiled meanwhile by another
  order_.push_front(key);
  entries_.emplace(key, Entry{made, order_.begin()});
  while (entries_.size() > capacity_ && !order_.empty()) {
    entries_.erase(order_.back());
    order_.pop_back();
  }
  return made;
}

size_t CompiledPolicyCache::Size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

// ---------------------------------------------------------------------------------------
// PolicyService

PolicyService::PolicyService(storage::Database& db, PolicyServiceOptions options)
    : db_(db), options_(options), cache_(std::max<size_t>(1, options.compiled_cache_entries)) {}

void PolicyService::RequireLevel(const auth::Principal& who, const PolicyScope& scope) {
  ValidateScope(scope);
  if (scope.org.empty()) return;
  auto org_missing = [&] {
    Fail(ErrorCode::kNotFound, "organization '" + scope.org + "' not found");
  };
  if (!who.CanSee(scope.org, "")) org_missing();
  if (scope.project.empty()) {
    if (!db_.GetOrg(who.account, scope.org)) org_missing();
    return;
  }
  auto project_missing = [&] {
    Fail(ErrorCode::kNotFound,
         "project '" + scope.project + "' not found in organization '" + scope.org + "'");
  };
  if (!who.CanSee(scope.org, scope.project)) project_missing();
  if (!db_.GetProject(who.account, scope.org, scope.project)) {
    if (!db_.GetOrg(who.account, scope.org)) org_missing();
    project_missing();
  }
}

// ---- policies ----

storage::PolicyRecord PolicyService::CreatePolicy(const auth::Principal& who,
                                                  const PolicyScope& scope,
                                                  const PolicyInput& input) {
  RequireLevel(who, scope);
  auth::RequireScope(who, scope.org, scope.project);
  if (!input.identifier) Invalid("identifier", "is required");
  ValidatePolicyIdentifier("identifier", *input.identifier);
  if (!input.name) Invalid("name", "is required");
  ValidateLabel("name", *input.name);
  if (!input.rego)
    Invalid("rego", "is required (policies kept in git repositories are not supported)");
  ValidateRego(*input.rego);
  Compiled compiled = CompileRego(cache_, *input.rego);
  storage::PolicyRecord r;
  r.account = who.account;
  r.org = scope.org;
  r.project = scope.project;
  r.identifier = *input.identifier;
  r.name = *input.name;
  r.rego = *input.rego;
  r.package_name = compiled.package;
  r.created = r.updated = NowMillis();
  db_.Policies().CreatePolicy(r);
  return r;
}

storage::PolicyRecord PolicyService::GetPolicy(const auth::Principal& who, const PolicyScope& scope,
                                               const std::string& identifier) {
  RequireLevel(who, scope);
  ValidatePolicyIdentifier("identifier", identifier);
  auto r = db_.Policies().GetPolicy(who.account, KeyOf(scope, identifier));
  if (!r) Fail(ErrorCode::kNotFound, DescribePolicy(scope, identifier) + " not found");
  return *r;
}

storage::PolicyRecord PolicyService::UpdatePolicy(const auth::Principal& who,
                                                  const PolicyScope& scope,
                                                  const std::string& identifier,
                                                  const PolicyInput& input,
                                                  std::optional<int64_t> if_match) {
  storage::PolicyRecord r = GetPolicy(who, scope, identifier);
  auth::RequireScope(who, scope.org, scope.project);
  if (input.identifier && *input.identifier != identifier)
    Invalid("identifier", "does not match the policy in the path ('" + identifier +
                              "'); identifiers cannot change");
  if (input.name) {
    ValidateLabel("name", *input.name);
    r.name = *input.name;
  }
  if (input.rego) {
    ValidateRego(*input.rego);
    r.package_name = CompileRego(cache_, *input.rego).package;
    r.rego = *input.rego;
  }
  r.updated = std::max(NowMillis(), r.updated);
  return db_.Policies().UpdatePolicy(r, if_match);
}

void PolicyService::DeletePolicy(const auth::Principal& who, const PolicyScope& scope,
                                 const std::string& identifier, bool force,
                                 std::optional<int64_t> if_match) {
  GetPolicy(who, scope, identifier);
  auth::RequireScope(who, scope.org, scope.project);
  auto sets = db_.Policies().DeletePolicy(who.account, KeyOf(scope, identifier), force, if_match);
  if (sets.empty()) return;
  json::array refs;
  std::string names;
  for (const auto& s : sets) {
    json::object ref;
    ref["account_id"] = s.account;
    ref["org_id"] = s.org;
    ref["project_id"] = s.project;
    ref["identifier"] = s.identifier;
    ref["name"] = s.name;
    refs.push_back(std::move(ref));
    if (names.size() < 512)
      names += (names.empty() ? "" : ", ") + RefOf(s.org, s.project, s.identifier);
  }
  json::object details;
  details["referenced_by"] = std::move(refs);
  throw Error(ErrorCode::kConflict,
              DescribePolicy(scope, identifier) + " is linked by policy set(s) " + names +
                  "; unlink it first or delete it with force=true",
              json::serialize(details));
}

storage::Page<storage::PolicyRecord> PolicyService::ListPolicies(const auth::Principal& who,
                                                                 const PolicyScope& scope,
                                                                 const storage::ListQuery& query,
                                                                 bool with_set_counts) {
  RequireLevel(who, scope);
  return db_.Policies().ListPolicies(who.account, scope.org, scope.project, query, with_set_counts);
}

storage::Page<storage::PolicySetRecord> PolicyService::PolicySetsOfPolicy(
    const auth::Principal& who, const PolicyScope& scope, const std::string& identifier,
    const storage::ListQuery& query) {
  GetPolicy(who, scope, identifier);
  auto& store = db_.Policies();
  storage::PolicyKey key = KeyOf(scope, identifier);
  if (who.Covers(scope.org, scope.project))
    return store.ListPolicySetsOfPolicy(who.account, key, query);
  // A scoped token reading a policy above its scope sees only the sets it can see.
  return FilterPages<storage::PolicySetRecord>(
      query,
      [&](const storage::ListQuery& q) {
        return store.ListPolicySetsOfPolicy(who.account, key, q);
      },
      [&](const storage::PolicySetRecord& s) { return who.CanSee(s.org, s.project); });
}

// ---- policy sets ----

storage::PolicySetLink PolicyService::ResolveLink(const PolicyScope& level,
                                                  const PolicyLinkInput& link) {
  storage::PolicySetLink out;
  std::string_view id = link.identifier;
  if (id.substr(0, 8) == "account.") {
    id.remove_prefix(8);
    out.policy = {"", "", std::string(id)};
  } else if (id.substr(0, 4) == "org.") {
    id.remove_prefix(4);
    if (level.org.empty())
      Invalid("policies",
              "an account-level policy set links account-level policies only "
              "(account.<id>), not '" +
                  link.identifier + "'");
    out.policy = {level.org, "", std::string(id)};
  } else {
    out.policy = {level.org, level.project, std::string(id)};
  }
  ValidatePolicyIdentifier("policies.identifier", id);
  if (link.severity != "error" && link.severity != "warning")
    Invalid("policies.severity", "must be one of error, warning (got '" + link.severity + "')");
  out.severity = link.severity;
  return out;
}

void PolicyService::ApplySetInput(storage::PolicySetRecord& set, const PolicySetInput& input,
                                  bool create) {
  if (create) {
    if (!input.name) Invalid("name", "is required");
    if (!input.type) Invalid("type", "is required");
    if (!input.action) Invalid("action", "is required");
    if (!input.enabled) Invalid("enabled", "is required");
  }
  if (input.name) {
    ValidateLabel("name", *input.name);
    set.name = *input.name;
  }
  if (input.description) {
    ValidateMaxLength("description", *input.description, kMaxDescription);
    set.description = *input.description;
  }
  if (input.type) set.type = *input.type;
  if (input.action) set.action = *input.action;
  ValidateTrigger(set.type, set.action);
  if (input.enabled) set.enabled = *input.enabled;
  if (input.entity_selector) {
    if (*input.entity_selector == "all_entities_in_resource_groups")
      Invalid("entity_selector",
              "all_entities_in_resource_groups is not supported (resource groups are not "
              "modelled); use all_entities_in_scope");
    if (*input.entity_selector != "all_entities_in_scope")
      Invalid("entity_selector",
              "must be one of all_entities_in_scope, "
              "all_entities_in_resource_groups (got '" +
                  *input.entity_selector + "')");
    set.entity_selector = *input.entity_selector;
  }
  if (input.policies) {
    if (input.policies->size() > kMaxLinks)
      Invalid("policies", "at most " + std::to_string(kMaxLinks) + " policies per set");
    std::vector<storage::PolicySetLink> links;
    PolicyScope level{set.org, set.project};
    for (const auto& l : *input.policies) {
      storage::PolicySetLink link = ResolveLink(level, l);
      for (const auto& other : links)
        if (other.policy == link.policy)
          Invalid("policies", "policy '" + l.identifier + "' is listed twice");
      links.push_back(std::move(link));
    }
    set.policies = std::move(links);
  }
  if (!input.extra.empty()) {
    json::object extra;
    json::value parsed = ParseOr(set.extra_json, json::object());
    if (parsed.is_object()) extra = std::move(parsed.get_object());
    for (const auto& kv : input.extra) extra[kv.key()] = kv.value();
    set.extra_json = json::serialize(extra);
  }
}

storage::PolicySetRecord PolicyService::CreatePolicySet(const auth::Principal& who,
                                                        const PolicyScope& scope,
                                                        const PolicySetInput& input) {
  RequireLevel(who, scope);
  auth::RequireScope(who, scope.org, scope.project);
  if (!input.identifier) Invalid("identifier", "is required");
  ValidatePolicyIdentifier("identifier", *input.identifier);
  storage::PolicySetRecord set;
  set.account = who.account;
  set.org = scope.org;
  set.project = scope.project;
  set.identifier = *input.identifier;
  ApplySetInput(set, input, true);
  set.created = set.updated = NowMillis();
  db_.Policies().CreatePolicySet(set);
  auto stored = db_.Policies().GetPolicySet(who.account, KeyOf(scope, set.identifier));
  return stored ? *stored : set;
}

storage::PolicySetRecord PolicyService::GetPolicySet(const auth::Principal& who,
                                                     const PolicyScope& scope,
                                                     const std::string& identifier) {
  RequireLevel(who, scope);
  ValidatePolicyIdentifier("identifier", identifier);
  auto r = db_.Policies().GetPolicySet(who.account, KeyOf(scope, identifier));
  if (!r) Fail(ErrorCode::kNotFound, DescribeSet(scope, identifier) + " not found");
  return *r;
}

storage::PolicySetRecord PolicyService::UpdatePolicySet(const auth::Principal& who,
                                                        const PolicyScope& scope,
                                                        const std::string& identifier,
                                                        const PolicySetInput& input,
                                                        std::optional<int64_t> if_match) {
  storage::PolicySetRecord set = GetPolicySet(who, scope, identifier);
  auth::RequireScope(who, scope.org, scope.project);
  if (input.identifier && *input.identifier != identifier)
    Invalid("identifier", "does not match the policy set in the path ('" + identifier +
                              "'); identifiers cannot change");
  ApplySetInput(set, input, false);
  set.updated = std::max(NowMillis(), set.updated);
  return db_.Policies().UpdatePolicySet(set, if_match);
}

void PolicyService::DeletePolicySet(const auth::Principal& who, const PolicyScope& scope,
                                    const std::string& identifier,
                                    std::optional<int64_t> if_match) {
  GetPolicySet(who, scope, identifier);
  auth::RequireScope(who, scope.org, scope.project);
  db_.Policies().DeletePolicySet(who.account, KeyOf(scope, identifier), if_match);
}

storage::Page<storage::PolicySetRecord> PolicyService::ListPolicySets(
    const auth::Principal& who, const PolicyScope& scope, const PolicySetFilter& filter,
    const storage::ListQuery& query) {
  RequireLevel(who, scope);
  for (const auto& t : filter.types) ValidateTrigger(t, "");
  ValidateActionName(filter.action);
  storage::PolicySetListQuery q;
  q.page = query;
  q.types = filter.types;
  q.action = filter.action;
  if (filter.hierarchical) {
    q.levels.emplace_back("", "");
    if (!scope.org.empty()) q.levels.emplace_back(scope.org, "");
    if (!scope.project.empty()) q.levels.emplace_back(scope.org, scope.project);
  } else {
    q.levels.emplace_back(scope.org, scope.project);
  }
  return db_.Policies().ListPolicySets(who.account, q);
}

}  // namespace statehouse::domain
