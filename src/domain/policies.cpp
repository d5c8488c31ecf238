#include "domain/policies.h"

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "common/json_text.h"
#include "common/util.h"
#include "domain/validation.h"
#include "policy/engine.h"
#include "policy/errors.h"
#include "policy/value.h"

namespace statehouse::domain {
namespace json = boost::json;

namespace {

constexpr const char* kRegoFile = "policy.rego";
constexpr size_t kMaxRegoBytes = 256 * 1024;
constexpr size_t kMaxDescription = 1024;
constexpr size_t kMaxLinks = 100;
constexpr size_t kMaxMessages = 100;           // per policy and kind
constexpr size_t kMaxMessageBytes = 4096;      // per message
constexpr size_t kMaxOutputBytes = 64 * 1024;  // per policy, in the stored evaluation

[[noreturn]] void Invalid(const std::string& field, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(why));
}

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

// How a request names something of this level from the project below it.
std::string RefOf(std::string_view org, std::string_view project, std::string_view id) {
  if (org.empty()) return "account." + std::string(id);
  if (project.empty()) return "org." + std::string(id);
  return std::string(id);
}

void ValidateScope(const PolicyScope& s) {
  if (!s.org.empty()) ValidateIdentifier("orgIdentifier", s.org);
  if (!s.project.empty()) {
    if (s.org.empty()) Invalid("projectIdentifier", "needs orgIdentifier too");
    ValidateIdentifier("projectIdentifier", s.project);
  }
}

void ValidateRego(const std::string& rego) {
  if (rego.empty()) Invalid("rego", "must not be empty");
  if (rego.size() > kMaxRegoBytes)
    Invalid("rego", "must be at most " + std::to_string(kMaxRegoBytes) + " bytes");
}

// An action filter: empty, or an action of the table.
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

struct Compiled {
  std::shared_ptr<const policy::CompiledPolicy> policy;
  std::string package;
};

// Compiles (or finds compiled) Rego; a bad policy is kInvalidArgument with OPA's message.
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

// PolicyDocument's text.
// rego_json: the policy's text as a JSON string already, when the caller has it.
void AppendPolicyJson(std::string& out, const storage::PolicyRecord& p, bool with_rego,
                      std::string_view rego_json = {}) {
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
