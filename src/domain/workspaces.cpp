#include "domain/workspaces.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "common/error.h"
#include "common/util.h"
#include "domain/body_reader.h"
#include "domain/policies.h"
#include "domain/validation.h"

namespace statehouse::domain {
namespace json = boost::json;

namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ^[A-Za-z_][A-Za-z0-9_-]*$, 1..128 (workspace identifiers, variable keys).
void CheckKey(const std::string& field, std::string_view v) {
  if (v.empty() || v.size() > 128) Bad(field, "must be 1 to 128 characters");
  bool ok = IsAlpha(v[0]) || v[0] == '_';
  for (size_t i = 1; ok && i < v.size(); ++i)
    ok = IsAlpha(v[i]) || IsDigit(v[i]) || v[i] == '_' || v[i] == '-';
  if (!ok) Bad(field, "must match ^[A-Za-z_][A-Za-z0-9_-]*$");
}

const std::vector<std::string> kSubmodules = {"false", "true", "recursive"};
const std::vector<std::string> kConnectorTypes = {"aws", "azure", "gcp", "vault"};
const std::vector<std::string> kValueTypes = {"string", "secret"};
const std::vector<std::string> kUnits = {"seconds", "minutes", "hours", "days"};

// A secret's value is a reference to a secret, never the secret: [account.|org.]identifier.
void CheckSecretReference(const std::string& field, const std::string& v) {
  std::string_view id = v;
  if (id.rfind("account.", 0) == 0)
    id.remove_prefix(8);
  else if (id.rfind("org.", 0) == 0)
    id.remove_prefix(4);
  bool ok = !id.empty() && id.size() <= 128 && (IsAlpha(id[0]) || id[0] == '_');
  for (size_t i = 1; ok && i < id.size(); ++i)
    ok = IsAlpha(id[i]) || IsDigit(id[i]) || id[i] == '_' || id[i] == '-' || id[i] == '.';
  if (!ok)
    Bad(field,
        "a secret's value must be a secret reference such as 'account.db_password', "
        "'org.token' or 'project_secret'");
}

// environment_variables / terraform_variables: map of key -> {key, value, value_type[, kind]}.
// Keeps created/updated of unchanged variables from previous.
json::object ReadVariables(const Reader& r, std::string_view name, const json::object* previous,
                           int64_t now) {
  const json::object* vars = r.Obj(name, true);
  json::object out;
  if (vars->size() > 500) Bad(r.Path(name), "at most 500 variables are allowed");
  for (const auto& kv : *vars) {
    std::string field = r.Path(name) + "." + std::string(kv.key());
    CheckKey(field, kv.key());
    if (!kv.value().is_object()) Bad(field, "must be an object with key, value and value_type");
    Reader v(kv.value().get_object(), field, r.lenient());
    auto key = v.Str("key", 128, true);
    if (*key != kv.key())
      Bad(field + ".key", "must equal the map key '" + std::string(kv.key()) + "'");
    std::string value = v.Str("value", 65536, true).value();
    std::string value_type = v.Enum("value_type", kValueTypes, true).value();
    if (value_type == "secret") CheckSecretReference(field + ".value", value);
    std::string kind = v.Str("kind", 64).value_or("");
    json::object var;
    var["key"] = kv.key();
    var["value"] = value;
    var["value_type"] = value_type;
    if (!kind.empty()) var["kind"] = kind;
    int64_t created = now, updated = now;
    if (previous) {
      if (const json::value* old = previous->if_contains(kv.key()); old && old->is_object()) {
        const json::object& o = old->get_object();
        if (const json::value* c = o.if_contains("created"); c && c->is_int64())
          created = c->get_int64();
        bool same = o.if_contains("value") && o.at("value") == var["value"] &&
                    o.if_contains("value_type") && o.at("value_type") == var["value_type"];
        if (same && o.if_contains("updated") && o.at("updated").is_int64())
          updated = o.at("updated").get_int64();
      }
    }
    var["created"] = created;
    var["updated"] = updated;
    out[kv.key()] = std::move(var);
  }
  return out;
}

json::array ReadConnectors(const Reader& r, const json::array* previous, int64_t now) {
  json::array out;
  const json::array* list = r.Arr("provider_connectors");
  if (!list) return out;
  if (list->size() > 100) Bad("provider_connectors", "at most 100 connectors are allowed");
  for (size_t i = 0; i < list->size(); ++i) {
    std::string field = "provider_connectors[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) Bad(field, "must be an object with connector_ref and type");
    Reader c((*list)[i].get_object(), field, r.lenient());
    std::string ref = c.Str("connector_ref", 128, true).value();
    if (ref.empty()) Bad(field + ".connector_ref", "must not be empty");
    std::string type = c.Enum("type", kConnectorTypes, true).value();
    json::object conn;
    conn["connector_ref"] = ref;
    conn["type"] = type;
    conn["terragrunt_provider"] = c.Bool("terragrunt_provider").value_or(false);
    int64_t created = now;
    if (previous) {
      for (const auto& p : *previous) {
        if (p.is_object() && p.get_object().if_contains("connector_ref") &&
            p.at("connector_ref") == conn["connector_ref"] && p.at("type") == conn["type"] &&
            p.get_object().if_contains("created") && p.at("created").is_int64())
          created = p.at("created").get_int64();
      }
    }
    conn["created"] = created;
    conn["updated"] = now;
    out.push_back(std::move(conn));
  }
  return out;
}

json::array ReadVariableFiles(const Reader& r, std::string_view name) {
  json::array out;
  const json::array* list = r.Arr(name);
  if (!list) return out;
  if (list->size() > 100) Bad(std::string(name), "at most 100 files are allowed");
  for (size_t i = 0; i < list->size(); ++i) {
    std::string field = std::string(name) + "[" + std::to_string(i) + "]";
    if (!(*list)[i].is_object()) Bad(field, "must be an object with a repository");
    Reader f((*list)[i].get_object(), field, r.lenient());
    json::object file;
    file["repository"] = f.Str("repository", 1024, true).value();
    for (const char* k :
         {"repository_branch", "repository_commit", "repository_connector", "repository_sha"})
      if (auto v = f.Str(k, 1024)) file[k] = *v;
    file["repository_path"] = f.Str("repository_path", 1024).value_or("");
    out.push_back(std::move(file));
  }
  return out;
}

json::object ReadDefaultPipelines(const Reader& r) {
  json::object out;
  const json::object* map = r.Obj("default_pipelines");
  if (!map) return out;
  if (map->size() > 64) Bad("default_pipelines", "at most 64 entries are allowed");
  for (const auto& kv : *map) {
    std::string field = "default_pipelines." + std::string(kv.key());
    if (kv.key().empty() || kv.key().size() > 128) Bad(field, "keys must be 1 to 128 characters");
    if (!kv.value().is_object()) Bad(field, "must be an object");
    Reader p(kv.value().get_object(), field, r.lenient());
    json::object entry;
    if (auto v = p.Str("project_pipeline", 128)) entry["project_pipeline"] = *v;
    if (auto v = p.Str("workspace_pipeline", 128)) entry["workspace_pipeline"] = *v;
    out[kv.key()] = std::move(entry);
  }
  return out;
}

storage::Tags ReadTags(const Reader& r) {
  storage::Tags tags;
  const json::object* map = r.Obj("tags");
  if (!map) return tags;
  for (const auto& kv : *map) {
    if (kv.value().is_string())
      tags.emplace_back(kv.key(), kv.value().get_string());
    else if (kv.value().is_null())
      tags.emplace_back(kv.key(), "");
    else
      Bad("tags." + std::string(kv.key()), "must be a string");
  }
  ValidateTags("tags", tags);
  for (const auto& [k, v] : tags)
    if (k.find(':') != std::string::npos || k.find(',') != std::string::npos)
      Bad("tags." + k, "tag keys must not contain ':' or ','");
  return tags;
}

const json::object* ObjectOrNull(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

// Fills record fields and the configuration document from a create/update body.
void ApplyBody(storage::WorkspaceRecord& w, const json::object& body, bool lenient, bool create,
               const json::object& previous_config) {
  Reader r(body, "", lenient);
  int64_t now = NowMillis();
  w.name = r.Str("name", 128, true).value();
  if (w.name.empty()) Bad("name", "must not be empty");
  w.provisioner = r.Enum("provisioner", WorkspaceProvisioners(), true).value();
  w.tags = ReadTags(r);

  json::object config;
  config["provider_connector"] = r.Str("provider_connector", 128, true).value();
  config["description"] = r.Str("description", 1024).value_or("");
  for (const char* k : {"repository", "repository_branch", "repository_commit", "repository_sha",
                        "repository_connector"})
    if (auto v = r.Str(k, 1024)) config[k] = *v;
  config["repository_path"] = r.Str("repository_path", 1024).value_or("");
  config["repository_submodules"] = r.Enum("repository_submodules", kSubmodules).value_or("false");
  if (auto v = r.Str("sparse_checkout", 16384)) config["sparse_checkout"] = *v;
  config["provisioner_version"] = r.Str("provisioner_version", 64).value_or("latest");
  if (config["provisioner_version"].get_string().empty()) config["provisioner_version"] = "latest";
  if (auto v = r.Str("provisioner_configuration", 65536)) config["provisioner_configuration"] = *v;
  config["provisioner_data"] = r.Str("provisioner_data", 65536).value_or("");
  if (auto v = r.Str("terragrunt_version", 64)) config["terragrunt_version"] = *v;
  config["terragrunt_provider"] = r.Bool("terragrunt_provider").value_or(false);
  if (auto v = r.Bool("run_all")) config["run_all"] = *v;
  const json::value* prev_conns = previous_config.if_contains("provider_connectors");
  config["provider_connectors"] = ReadConnectors(
      r, prev_conns && prev_conns->is_array() ? &prev_conns->get_array() : nullptr, now);
  config["environment_variables"] = ReadVariables(
      r, "environment_variables", ObjectOrNull(previous_config, "environment_variables"), now);
  config["terraform_variables"] = ReadVariables(
      r, "terraform_variables", ObjectOrNull(previous_config, "terraform_variables"), now);
  config["terraform_variable_files"] = ReadVariableFiles(r, "terraform_variable_files");
  config["default_pipelines"] = ReadDefaultPipelines(r);
  if (auto b = r.Number("budget")) {
    if (*b < 0 || !std::isfinite(*b)) Bad("budget", "must be a non-negative number");
    config["budget"] = *b;
  }
  // Statehouse extension: this workspace's retention of state versions over the server's
  // defaults (--state-versions-keep, --state-versions-max-age-days); 0 means no limit.
  if (const json::object* sr = r.Obj("state_retention")) {
    Reader rr(*sr, "state_retention", r.lenient());
    json::object retention;
    for (const auto& kv : *sr)
      if (kv.key() != "keep_versions" && kv.key() != "max_age_days")
        Bad("state_retention." + std::string(kv.key()),
            "unknown field (expected keep_versions, max_age_days)");
    for (const char* k : {"keep_versions", "max_age_days"}) {
      if (rr.Get(k) && rr.Get(k)->is_double()) Bad(rr.Path(k), "must be a non-negative integer");
      if (auto v = rr.Int(k)) {
        if (*v < 0) Bad(rr.Path(k), "must be a non-negative integer");
        if (*v > 1000000000) Bad(rr.Path(k), "must be at most 1000000000");
        retention[k] = *v;
      }
    }
    config["state_retention"] = std::move(retention);
  }
  config["cost_estimation_enabled"] = r.Bool("cost_estimation_enabled").value_or(false);
  config["ccm_cost_enabled"] = r.Bool("ccm_cost_enabled").value_or(false);
  config["prune_sensitive_data"] = r.Bool("prune_sensitive_data").value_or(false);
  w.config_json = json::serialize(config);

  w.variable_sets.clear();
  w.variable_set_keys.clear();
  if (const json::array* sets = r.Arr("variable_sets")) {
    if (sets->size() > 32) Bad("variable_sets", "at most 32 variable sets are allowed");
    std::set<std::string> seen;
    for (size_t i = 0; i < sets->size(); ++i) {
      std::string field = "variable_sets[" + std::to_string(i) + "]";
      if (!(*sets)[i].is_string()) Bad(field, "must be a string");
      std::string ref((*sets)[i].get_string());
      storage::VariableSetKey key;
      try {
        key = ResolveVariableSetRef(ref, w.org, w.project);
      } catch (const Error& e) {
        Bad(field, e.what());
      }
      if (!seen.insert(ref).second) Bad(field, "'" + ref + "' is listed twice");
      w.variable_sets.push_back(ref);
      w.variable_set_keys.push_back(key);
    }
  }

  if (create) {
    if (const json::object* t = r.Obj("associated_template")) {
      Reader tr(*t, "associated_template", lenient);
      w.template_id = tr.Str("template_id", 128, true).value();
      if (w.template_id.empty()) Bad("associated_template.template_id", "must not be empty");
      w.template_version = tr.Str("version", 64).value_or("");
    }
  }
}

}  // namespace

const std::vector<std::string>& WorkspaceProvisioners() {
  static const std::vector<std::string> kProvisioners = {"terraform", "opentofu", "terragrunt",
                                                         "ansible"};
  return kProvisioners;
}

const std::vector<std::string>& WorkspaceStatuses() {
  static const std::vector<std::string> kStatuses = {
      "active", "inactive", "provisioning", "destroying", "failed", "unknown", "rollback_applied"};
  return kStatuses;
}

storage::VariableSetKey ResolveVariableSetRef(std::string_view ref, const std::string& org,
                                              const std::string& project) {
  storage::VariableSetKey key;
  std::string_view id = ref;
  if (id.rfind("account.", 0) == 0) {
    id.remove_prefix(8);
  } else if (id.rfind("org.", 0) == 0) {
    id.remove_prefix(4);
    key.org = org;
  } else {
    key.org = org;
    key.project = project;
  }
  CheckKey("variable set reference", id);
  key.identifier = std::string(id);
  return key;
}

void WorkspaceService::CheckRead(const auth::Principal& who, const WorkspaceScope& scope) {
  if (!who.CanSee(scope.org, "") || !who.CanSee(scope.org, scope.project))
    Fail(ErrorCode::kNotFound, "project '" + scope.project + "' not found");
}

void WorkspaceService::CheckWrite(const auth::Principal& who, const WorkspaceScope& scope) {
  CheckRead(who, scope);
  auth::RequireScope(who, scope.org, scope.project);
}

storage::WorkspaceRecord WorkspaceService::Create(const auth::Principal& who,
                                                  const WorkspaceScope& scope,
                                                  const json::object& body, bool lenient,
                                                  PolicyDecision* decision) {
  CheckWrite(who, scope);
  Reader r(body, "", lenient);
  storage::WorkspaceRecord w;
  w.account = who.account;
  w.org = scope.org;
  w.project = scope.project;
  w.identifier = r.Str("identifier", 128, true).value();
  CheckKey("identifier", w.identifier);
  ApplyBody(w, body, lenient, true, {});
  w.status = "active";
  w.server_json = "{}";
  w.created = w.updated = NowMillis();
  PolicyDecision checked = CheckOnSave(who, w);
  db_.Workspaces().CreateWorkspace(w, checked.pending ? &*checked.pending : nullptr);
  Deliver(std::move(checked), decision);
  return *db_.Workspaces().GetWorkspace(w.account, w.org, w.project, w.identifier);
}

storage::WorkspaceRecord WorkspaceService::Get(const auth::Principal& who,
                                               const WorkspaceScope& scope, const std::string& id) {
  CheckRead(who, scope);
  auto w = db_.Workspaces().GetWorkspace(who.account, scope.org, scope.project, id);
  if (!w) WorkspaceNotFound(who, scope, id);
  return *w;
}

storage::WorkspaceView WorkspaceService::GetView(const auth::Principal& who,
                                                 const WorkspaceScope& scope,
                                                 const std::string& id) {
  CheckRead(who, scope);
  auto v = db_.Workspaces().GetWorkspaceView(who.account, scope.org, scope.project, id);
  if (!v) WorkspaceNotFound(who, scope, id);
  return std::move(*v);
}

void WorkspaceService::WorkspaceNotFound(const auth::Principal& who, const WorkspaceScope& scope,
                                         const std::string& id) {
  if (!db_.GetProject(who.account, scope.org, scope.project))
    Fail(ErrorCode::kNotFound,
         "project '" + scope.project + "' not found in organization '" + scope.org + "'");
  Fail(ErrorCode::kNotFound, "workspace '" + id + "' not found");
}

storage::WorkspaceRecord WorkspaceService::Update(const auth::Principal& who,
                                                  const WorkspaceScope& scope,
                                                  const std::string& id, const json::object& body,
                                                  bool lenient, std::optional<int64_t> if_match,
                                                  PolicyDecision* decision) {
  CheckWrite(who, scope);
  storage::WorkspaceRecord current = Get(who, scope, id);
  if (const json::value* ident = body.if_contains("identifier");
      ident && ident->is_string() && ident->get_string() != id)
    Bad("identifier", "cannot be changed (the path names workspace '" + id + "')");
  storage::WorkspaceRecord w = current;
  ApplyBody(w, body, lenient, false, ParseObjectOrEmpty(current.config_json));
  w.updated = NowMillis();
  PolicyDecision checked = CheckOnSave(who, w);
  storage::WorkspaceRecord saved =
      db_.Workspaces().UpdateWorkspace(w, if_match, checked.pending ? &*checked.pending : nullptr);
  Deliver(std::move(checked), decision);
  return saved;
}

void WorkspaceService::Destroy(const auth::Principal& who, const WorkspaceScope& scope,
                               const std::string& id, std::optional<int64_t> if_match) {
  CheckWrite(who, scope);
  Get(who, scope, id);
  db_.Workspaces().DeleteWorkspace(who.account, scope.org, scope.project, id, if_match);
}

storage::WorkspaceRecord WorkspaceService::Clone(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& source,
    const std::string& identifier, const std::string& name, PolicyDecision* decision) {
  CheckWrite(who, scope);
  CheckKey("identifier", identifier);
  if (name.empty() || name.size() > 128) Bad("name", "must be 1 to 128 characters");
  bool ok = IsAlpha(name[0]) || name[0] == '_';
  for (size_t i = 1; ok && i < name.size(); ++i)
    ok = IsAlpha(name[i]) || IsDigit(name[i]) || name[i] == '_' || name[i] == ' ' || name[i] == '-';
  if (!ok) Bad("name", "must match ^[A-Za-z_][A-Za-z0-9_ -]*$");
  storage::WorkspaceRecord w = Get(who, scope, source);
  w.identifier = identifier;
  w.name = name;
  w.status = "active";
  // The clone gets the configuration, not the state or its derived data.
  w.server_json = "{}";
  w.created = w.updated = NowMillis();
  w.version = 1;
  w.variable_set_keys.clear();
  for (const auto& ref : w.variable_sets)
    w.variable_set_keys.push_back(ResolveVariableSetRef(ref, w.org, w.project));
  json::object config = ParseObjectOrEmpty(w.config_json);
  for (const char* map : {"environment_variables", "terraform_variables"}) {
    if (json::value* vars = config.if_contains(map); vars && vars->is_object())
      for (auto& kv : vars->get_object())
        if (kv.value().is_object()) {
          kv.value().get_object()["created"] = w.created;
          kv.value().get_object()["updated"] = w.created;
        }
  }
  w.config_json = json::serialize(config);
  PolicyDecision checked = CheckOnSave(who, w);
  db_.Workspaces().CreateWorkspace(w, checked.pending ? &*checked.pending : nullptr);
  Deliver(std::move(checked), decision);
  return *db_.Workspaces().GetWorkspace(w.account, w.org, w.project, w.identifier);
}

PolicyDecision WorkspaceService::CheckOnSave(const auth::Principal& who,
                                             const storage::WorkspaceRecord& candidate) {
  if (!policies_) return {};
  EnforcementRequest request;
  request.org = candidate.org;
  request.project = candidate.project;
  request.entity_type = PolicyEntity::kWorkspace;
  request.action = PolicyAction::kOnSave;
  request.entity =
      WorkspaceEntity(candidate.account, candidate.org, candidate.project, candidate.identifier);
  request.entity_metadata["workspace"] = candidate.identifier;
  request.entity_metadata["name"] = candidate.name;
  json::value input;
  PolicyDecision result = policies_->Evaluate(who, request, [&]() -> const json::value& {
    // Built in place: an initializer list would copy the whole document.
    input.emplace_object().emplace("workspace", WorkspaceDocument(candidate));
    return input;
  });
  if (result.Blocked()) {
    // Nothing is saved, but the refusal is recorded.
    result.pending->id = db_.Policies().AddEvaluation(*result.pending);
    result.Recorded();
    throw result.ViolationError();
  }
  return result;
}

void WorkspaceService::Deliver(PolicyDecision checked, PolicyDecision* decision) {
  checked.Recorded();
  if (decision) *decision = std::move(checked);
}

namespace {
// The spec requires "kind" on every variable without defining it; variables that were given
// none report the map they belong to.
void AddKinds(json::object& out, const char* map, const char* kind) {
  json::value* vars = out.if_contains(map);
  if (!vars || !vars->is_object()) {
    out[map] = json::object();
    return;
  }
  for (auto& kv : vars->get_object())
    if (kv.value().is_object() && !kv.value().get_object().contains("kind"))
      kv.value().get_object()["kind"] = kind;
}
}  // namespace

bool PrunesSensitiveData(const storage::WorkspaceRecord& w) {
  json::object config = ParseObjectOrEmpty(w.config_json);
  const json::value* v = config.if_contains("prune_sensitive_data");
  return v && v->is_bool() && v->get_bool();
}

json::object WorkspaceSummaryDocument(const storage::WorkspaceRecord& w) {
  json::object out;
  out["account"] = w.account;
  out["org"] = w.org;
  out["project"] = w.project;
  out["identifier"] = w.identifier;
  out["name"] = w.name;
  out["status"] = w.status;
  out["provisioner"] = w.provisioner;
  json::object tags;
  for (const auto& [k, v] : w.tags) tags[k] = v;
  out["tags"] = std::move(tags);
  out["created"] = w.created;
  out["updated"] = w.updated;
  return out;
}

json::object WorkspaceDocument(const storage::WorkspaceRecord& w) {
  json::object out = WorkspaceSummaryDocument(w);
  for (auto& kv : ParseObjectOrEmpty(w.config_json)) out[kv.key()] = std::move(kv.value());
  json::array sets;
  for (const auto& s : w.variable_sets) sets.emplace_back(s);
  out["variable_sets"] = std::move(sets);
  if (!w.template_id.empty()) {
    json::object t;
    t["template_id"] = w.template_id;
    if (!w.template_version.empty()) t["version"] = w.template_version;
    out["associated_template"] = std::move(t);
  }
  if (!out.contains("repository_connector")) out["repository_connector"] = "";
  if (!out.contains("provisioner_data")) out["provisioner_data"] = "";
  AddKinds(out, "environment_variables", "env");
  AddKinds(out, "terraform_variables", "tf");
  out["backend_locked"] = false;
  for (const auto& kv : ParseObjectOrEmpty(w.server_json)) out[kv.key()] = kv.value();
  return out;
}

storage::Page<storage::WorkspaceRecord> WorkspaceService::List(
    const auth::Principal& who, const WorkspaceScope& scope,
    const storage::WorkspaceListQuery& query) {
  CheckRead(who, scope);
  for (const auto& s : query.statuses)
    if (std::find(WorkspaceStatuses().begin(), WorkspaceStatuses().end(), s) ==
        WorkspaceStatuses().end())
      Bad("status", "unknown status '" + s + "'");
  return db_.Workspaces().ListWorkspaces(who.account, scope.org, scope.project, query);
}

std::vector<std::string> WorkspaceService::Tags(const auth::Principal& who,
                                                const WorkspaceScope& scope) {
  CheckRead(who, scope);
  return db_.Workspaces().ListWorkspaceTags(who.account, scope.org, scope.project);
}

std::vector<std::pair<std::string, int64_t>> WorkspaceService::CountBy(const auth::Principal& who,
                                                                       const WorkspaceScope& scope,
                                                                       const std::string& column) {
  CheckRead(who, scope);
  return db_.Workspaces().CountWorkspacesBy(who.account, scope.org, scope.project, column);
}

std::vector<storage::WorkspaceRecord> WorkspaceService::TemplateWorkspaces(
    const auth::Principal& who, const std::string& org, const std::string& project,
    const std::string& template_id, const std::string& version) {
  if (!project.empty() && org.empty()) Bad("project", "needs org as well");
  std::string scoped_org = org, scoped_project = project;
  // A scoped token only sees its own scope.
  if (!who.org.empty()) {
    if (!scoped_org.empty() && scoped_org != who.org) return {};
    scoped_org = who.org;
  }
  if (!who.project.empty()) {
    if (!scoped_project.empty() && scoped_project != who.project) return {};
    scoped_project = who.project;
  }
  return db_.Workspaces().ListTemplateWorkspaces(who.account, scoped_org, scoped_project,
                                                 template_id, version, 1000);
}

json::object WorkspaceService::EffectiveVariables(const storage::WorkspaceRecord& w) {
  json::object config = ParseObjectOrEmpty(w.config_json);
  json::object out;
  for (const char* map : {"environment_variables", "terraform_variables"}) {
    json::object effective;
    if (const json::object* own = ObjectOrNull(config, map)) {
      for (const auto& kv : *own) {
        json::object v;
        v["key"] = kv.key();
        v["value"] = kv.value().at("value");
        v["value_type"] = kv.value().at("value_type");
        v["source"] = "workspace";
        effective[kv.key()] = std::move(v);
      }
    }
    for (const auto& ref : w.variable_sets) {
      auto set = db_.VariableSets().GetVariableSet(w.account,
                                                   ResolveVariableSetRef(ref, w.org, w.project));
      if (!set) continue;
      json::object doc = ParseObjectOrEmpty(set->document_json);
      const json::object* vars = ObjectOrNull(doc, map);
      if (!vars) continue;
      for (const auto& kv : *vars) {
        if (effective.contains(kv.key()) || !kv.value().is_object()) continue;
        json::object v;
        v["key"] = kv.key();
        if (const json::value* x = kv.value().get_object().if_contains("value")) v["value"] = *x;
        if (const json::value* x = kv.value().get_object().if_contains("value_type"))
          v["value_type"] = *x;
        v["source"] = "variable_set:" + ref;
        effective[kv.key()] = std::move(v);
      }
    }
    out[map] = std::move(effective);
  }
  return out;
}

namespace {
json::object ValidateSetting(const std::string& name, const json::object& body, bool lenient) {
  Reader r(body, "", lenient);
  json::object out;
  if (name == "drift-config") {
    out["pipeline_id"] = r.Str("pipeline_id", 128, true).value();
    int64_t every = r.Int("run_every").value_or(-1);
    if (!r.Get("run_every")) Bad("run_every", "is required");
    if (every <= 0) Bad("run_every", "must be a positive integer");
    out["run_every"] = every;
    out["run_every_unit"] = r.Enum("run_every_unit", kUnits, true).value();
    if (auto p = r.Str("provisioner", 64)) out["provisioner"] = *p;
  } else {
    out["pipeline_id"] = r.Str("pipeline_id", 128, true).value();
    for (const char* k : {"delete_delay_value", "destroy_delay_value"}) {
      if (auto v = r.Int(k)) {
        if (*v < 0) Bad(k, "must not be negative");
        out[k] = *v;
      }
    }
    for (const char* k : {"delete_delay_unit", "destroy_delay_unit"})
      if (auto v = r.Enum(k, kUnits)) out[k] = *v;
    for (const char* k : {"delete_on_date", "destroy_on_date", "provisioner"})
      if (auto v = r.Str(k, 64)) out[k] = *v;
    if (auto v = r.Bool("delete_workspace")) out["delete_workspace"] = *v;
  }
  return out;
}

void CheckSettingName(const std::string& name) {
  if (name != "drift-config" && name != "ephemeral-config")
    Fail(ErrorCode::kInternal, "unknown workspace setting " + name);
}
}  // namespace

std::optional<json::object> WorkspaceService::GetSetting(const auth::Principal& who,
                                                         const WorkspaceScope& scope,
                                                         const std::string& id,
                                                         const std::string& name) {
  CheckSettingName(name);
  CheckRead(who, scope);
  Get(who, scope, id);
  auto text = db_.Workspaces().GetWorkspaceSetting(who.account, scope.org, scope.project, id, name);
  if (!text) return std::nullopt;
  return ParseObjectOrEmpty(*text);
}

json::object WorkspaceService::PutSetting(const auth::Principal& who, const WorkspaceScope& scope,
                                          const std::string& id, const std::string& name,
                                          const json::object& body, bool lenient) {
  CheckSettingName(name);
  CheckWrite(who, scope);
  Get(who, scope, id);
  json::object doc = ValidateSetting(name, body, lenient);
  doc["updated"] = NowMillis();
  db_.Workspaces().PutWorkspaceSetting(who.account, scope.org, scope.project, id, name,
                                       json::serialize(doc));
  if (name == "drift-config") {
    // The runner's schedule: the first check one interval from now.
    storage::DriftConfigRecord schedule;
    schedule.account = who.account;
    schedule.org = scope.org;
    schedule.project = scope.project;
    schedule.workspace = id;
    schedule.pipeline_id = doc.at("pipeline_id").as_string().c_str();
    schedule.run_every = doc.at("run_every").as_int64();
    schedule.run_every_unit = doc.at("run_every_unit").as_string().c_str();
    if (const json::value* p = doc.if_contains("provisioner"))
      schedule.provisioner = p->as_string().c_str();
    schedule.created = schedule.updated = NowMillis();
    schedule.next_run =
        schedule.created + DriftIntervalMillis(schedule.run_every, schedule.run_every_unit);
    db_.Runs().PutDriftConfig(schedule);
  }
  return doc;
}

int64_t DriftIntervalMillis(int64_t every, const std::string& unit) {
  int64_t ms = 1000;
  if (unit == "minutes") ms = 60 * 1000;
  if (unit == "hours") ms = 3600 * 1000;
  if (unit == "days") ms = 24 * 3600 * 1000;
  // Far-future rather than an overflow for absurd intervals.
  return every > INT64_MAX / ms ? INT64_MAX / 2 : every * ms;
}

bool WorkspaceService::DeleteSetting(const auth::Principal& who, const WorkspaceScope& scope,
                                     const std::string& id, const std::string& name) {
  CheckSettingName(name);
  CheckWrite(who, scope);
  Get(who, scope, id);
  if (name == "drift-config")
    db_.Runs().DeleteDriftConfig({who.account, scope.org, scope.project, id});
  return db_.Workspaces().DeleteWorkspaceSetting(who.account, scope.org, scope.project, id, name);
}

}  // namespace statehouse::domain
