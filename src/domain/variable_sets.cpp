#include "domain/variable_sets.h"

#include <algorithm>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "common/error.h"
#include "common/util.h"
#include "domain/validation.h"

namespace statehouse::domain {
namespace json = boost::json;

namespace {

constexpr size_t kMaxRepositoryField = 4096;
constexpr size_t kMaxSecretReference = 256;

[[noreturn]] void Invalid(const std::string& field, std::string_view why) {
  Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(why));
}

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ^[A-Za-z_][A-Za-z0-9_-]*$ (extra: also accept '$', for secret identifiers).
bool MatchesKeyPattern(std::string_view v, bool allow_dollar = false) {
  if (v.empty() || !(IsAlpha(v[0]) || v[0] == '_')) return false;
  for (char c : v.substr(1))
    if (!(IsAlpha(c) || IsDigit(c) || c == '_' || c == '-' || (allow_dollar && c == '$')))
      return false;
  return true;
}

// A secret reference: "<secret>", "org.<secret>" or "account.<secret>".
bool IsSecretReference(std::string_view v) {
  if (v.empty() || v.size() > kMaxSecretReference) return false;
  for (std::string_view prefix : {"account.", "org."}) {
    if (v.substr(0, prefix.size()) == prefix) {
      v.remove_prefix(prefix.size());
      break;
    }
  }
  return MatchesKeyPattern(v, true);
}

const json::value* FindField(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (!v || v->is_null()) return nullptr;
  return v;
}

std::optional<std::string> OptString(const json::object& o, std::string_view name,
                                     const std::string& path) {
  const json::value* v = FindField(o, name);
  if (!v) return std::nullopt;
  if (!v->is_string()) Invalid(path, "must be a string");
  return std::string(v->get_string());
}

std::string ReqString(const json::object& o, std::string_view name, const std::string& path) {
  auto v = OptString(o, name, path);
  if (!v) Invalid(path, "is required");
  return *v;
}

const json::object& AsObject(const json::value& v, const std::string& path) {
  if (!v.is_object()) Invalid(path, "must be an object");
  return v.get_object();
}

std::string Join(std::string_view prefix, std::string_view name) {
  return std::string(prefix) + "." + std::string(name);
}

std::string Indexed(std::string_view prefix, size_t i) {
  return std::string(prefix) + "[" + std::to_string(i) + "]";
}

// Stored timestamps of a previous entry (0 when absent).
int64_t IntOf(const json::object* o, std::string_view name) {
  if (!o) return 0;
  const json::value* v = o->if_contains(name);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->get_uint64());
  return 0;
}

std::string_view StrOf(const json::object* o, std::string_view name) {
  if (!o) return {};
  const json::value* v = o->if_contains(name);
  if (!v || !v->is_string()) return {};
  return v->get_string();
}

bool SameOptional(const json::object* a, const json::object& b, std::string_view name) {
  const json::value* x = a ? a->if_contains(name) : nullptr;
  const json::value* y = b.if_contains(name);
  if (!x || !y) return !x && !y;
  return *x == *y;
}

void Stamp(json::object& entry, const json::object* previous, bool changed, int64_t now) {
  int64_t created = IntOf(previous, "created");
  int64_t updated = IntOf(previous, "updated");
  if (!previous || created == 0) created = now;
  if (!previous || changed || updated == 0) updated = now;
  entry["created"] = created;
  entry["updated"] = updated;
}

const json::object* PreviousSection(const json::object* previous, std::string_view name) {
  if (!previous) return nullptr;
  const json::value* v = previous->if_contains(name);
  return v && v->is_object() ? &v->get_object() : nullptr;
}

const json::array* PreviousList(const json::object* previous, std::string_view name) {
  if (!previous) return nullptr;
  const json::value* v = previous->if_contains(name);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

json::object BuildVariables(const json::object& request, std::string_view field,
                            const json::object* previous, int64_t now) {
  json::object out;
  const json::value* section = FindField(request, field);
  if (!section) return out;
  const json::object& vars = AsObject(*section, std::string(field));
  const json::object* before = PreviousSection(previous, field);
  for (const auto& kv : vars) {
    std::string map_key(kv.key());
    if (map_key.empty()) Invalid(std::string(field), "variable keys must not be empty");
    std::string path = Join(field, map_key);
    const json::object& var = AsObject(kv.value(), path);
    std::string key = OptString(var, "key", path + ".key").value_or(map_key);
    if (key != map_key)
      Invalid(path + ".key", "must equal the map key '" + map_key + "' (got '" + key + "')");
    if (key.size() > 128) Invalid(path + ".key", "must be at most 128 characters");
    if (!MatchesKeyPattern(key)) Invalid(path + ".key", "must match ^[A-Za-z_][A-Za-z0-9_-]*$");
    std::string value = ReqString(var, "value", path + ".value");
    std::string value_type = ReqString(var, "value_type", path + ".value_type");
    if (value_type != "string" && value_type != "secret")
      Invalid(path + ".value_type", "must be one of string, secret");
    if (value_type == "secret" && !IsSecretReference(value))
      Invalid(path + ".value",
              "a secret's value must be a secret reference such as account.db_password, "
              "org.db_password or db_password");

    json::object entry;
    entry["key"] = key;
    entry["value"] = value;
    entry["value_type"] = value_type;
    const json::object* old = nullptr;
    if (before) {
      const json::value* o = before->if_contains(key);
      if (o && o->is_object()) old = &o->get_object();
    }
    bool changed = !old || StrOf(old, "value") != value || StrOf(old, "value_type") != value_type;
    Stamp(entry, old, changed, now);
    out[key] = std::move(entry);
  }
  return out;
}

json::array BuildFiles(const json::object& request, const json::object* previous, int64_t now) {
  static constexpr std::string_view kField = "terraform_variable_files";
  static constexpr std::string_view kOptional[] = {"repository_branch", "repository_commit",
                                                   "repository_connector", "repository_sha"};
  json::array out;
  const json::value* section = FindField(request, kField);
  if (!section) return out;
  if (!section->is_array()) Invalid(std::string(kField), "must be an array");
  const json::array* before = PreviousList(previous, kField);
  const auto& files = section->get_array();
  for (size_t i = 0; i < files.size(); ++i) {
    std::string path = Indexed(kField, i);
    const json::object& f = AsObject(files[i], path);
    json::object entry;
    std::string repository = ReqString(f, "repository", path + ".repository");
    if (repository.empty()) Invalid(path + ".repository", "must not be empty");
    ValidateMaxLength(path + ".repository", repository, kMaxRepositoryField);
    entry["repository"] = repository;
    for (std::string_view name : kOptional) {
      if (auto v = OptString(f, name, Join(path, name))) {
        ValidateMaxLength(Join(path, name), *v, kMaxRepositoryField);
        entry[name] = *v;
      }
    }
    std::string repo_path = OptString(f, "repository_path", path + ".repository_path").value_or("");
    ValidateMaxLength(path + ".repository_path", repo_path, kMaxRepositoryField);
    entry["repository_path"] = repo_path;

    // A file is identified by repository, connector and path.
    auto same_file = [&](const json::object& other) {
      return StrOf(&other, "repository") == repository &&
             SameOptional(&other, entry, "repository_connector") &&
             StrOf(&other, "repository_path") == repo_path;
    };
    for (size_t j = 0; j < out.size(); ++j)
      if (same_file(out[j].get_object()))
        Invalid(path, "duplicates " + Indexed(kField, j) +
                          " (same repository, repository_connector and repository_path)");
    const json::object* old = nullptr;
    if (before)
      for (const auto& b : *before)
        if (b.is_object() && same_file(b.get_object())) old = &b.get_object();
    bool changed = !old;
    for (std::string_view name : kOptional) changed = changed || !SameOptional(old, entry, name);
    Stamp(entry, old, changed, now);
    out.push_back(std::move(entry));
  }
  return out;
}

json::array BuildConnectors(const json::object& request, const json::object* previous,
                            int64_t now) {
  static constexpr std::string_view kField = "connectors";
  json::array out;
  const json::value* section = FindField(request, kField);
  if (!section) return out;
  if (!section->is_array()) Invalid(std::string(kField), "must be an array");
  const json::array* before = PreviousList(previous, kField);
  const auto& connectors = section->get_array();
  for (size_t i = 0; i < connectors.size(); ++i) {
    std::string path = Indexed(kField, i);
    const json::object& c = AsObject(connectors[i], path);
    std::string ref = ReqString(c, "connector_ref", path + ".connector_ref");
    if (ref.empty()) Invalid(path + ".connector_ref", "must not be empty");
    if (ref.size() > 128) Invalid(path + ".connector_ref", "must be at most 128 characters");
    for (char ch : ref)
      if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f)
        Invalid(path + ".connector_ref", "must not contain control characters");
    std::string type = ReqString(c, "type", path + ".type");
    if (type != "aws" && type != "azure" && type != "gcp" && type != "vault")
      Invalid(path + ".type", "must be one of aws, azure, gcp, vault");
    // One connector per type: it is what a workspace picks for that provider.
    for (size_t j = 0; j < out.size(); ++j)
      if (StrOf(&out[j].get_object(), "type") == type)
        Invalid(path + ".type", "duplicates " + Indexed(kField, j) + ": only one '" + type +
                                    "' connector is allowed");
    json::object entry;
    entry["connector_ref"] = ref;
    entry["type"] = type;
    const json::object* old = nullptr;
    if (before)
      for (const auto& b : *before)
        if (b.is_object() && StrOf(&b.get_object(), "type") == type) old = &b.get_object();
    Stamp(entry, old, !old || StrOf(old, "connector_ref") != ref, now);
    out.push_back(std::move(entry));
  }
  return out;
}

std::string Describe(const storage::VariableSetKey& k) {
  if (k.org.empty()) return "variable set '" + k.identifier + "' not found in the account";
  if (k.project.empty())
    return "variable set '" + k.identifier + "' not found in organization '" + k.org + "'";
  return "variable set '" + k.identifier + "' not found in project '" + k.project +
         "' of organization '" + k.org + "'";
}

[[noreturn]] void OrgNotFound(const std::string& org) {
  Fail(ErrorCode::kNotFound, "organization '" + org + "' not found");
}

[[noreturn]] void ProjectNotFound(const std::string& org, const std::string& project) {
  Fail(ErrorCode::kNotFound, "project '" + project + "' not found in organization '" + org + "'");
}

const json::object& RequestObject(const json::value& body) {
  if (!body.is_object()) Fail(ErrorCode::kInvalidArgument, "the request body must be an object");
  return body.get_object();
}

std::string ValidName(const json::object& request) {
  std::string name = ReqString(request, "name", "name");
  ValidateLabel("name", name);
  return name;
}

void Fill(storage::VariableSetRecord& r, VariableSetDocument doc) {
  r.document_json = json::serialize(doc.document);
  r.env_vars_count = doc.env_vars_count;
  r.tf_vars_count = doc.tf_vars_count;
  r.var_files_count = doc.var_files_count;
}

}  // namespace

void ValidateVariableSetIdentifier(std::string_view field, std::string_view v) {
  std::string f(field);
  if (v.empty()) Invalid(f, "must not be empty");
  if (v.size() > 128) Invalid(f, "must be at most 128 characters");
  if (!MatchesKeyPattern(v)) Invalid(f, "must match ^[A-Za-z_][A-Za-z0-9_-]*$");
}

VariableSetDocument BuildVariableSetDocument(const json::object& request,
                                             const json::object* previous, int64_t now) {
  VariableSetDocument out;
  json::object env = BuildVariables(request, "environment_variables", previous, now);
  json::object tf = BuildVariables(request, "terraform_variables", previous, now);
  json::array files = BuildFiles(request, previous, now);
  json::array connectors = BuildConnectors(request, previous, now);
  out.env_vars_count = static_cast<int64_t>(env.size());
  out.tf_vars_count = static_cast<int64_t>(tf.size());
  out.var_files_count = static_cast<int64_t>(files.size());
  out.document["environment_variables"] = std::move(env);
  out.document["terraform_variables"] = std::move(tf);
  out.document["terraform_variable_files"] = std::move(files);
  out.document["connectors"] = std::move(connectors);
  return out;
}

// Out-of-scope levels look absent; the account level is visible to every token of the account
// (workspaces anywhere in it may use its sets).
void VariableSetService::RequireLevel(const auth::Principal& who,
                                      const storage::VariableSetKey& level) {
  if (level.org.empty()) return;
  if (!who.CanSee(level.org, "")) OrgNotFound(level.org);
  if (level.project.empty()) {
    if (!db_.GetOrg(who.account, level.org)) OrgNotFound(level.org);
    return;
  }
  if (!who.CanSee(level.org, level.project)) ProjectNotFound(level.org, level.project);
  if (!db_.GetProject(who.account, level.org, level.project)) {
    if (!db_.GetOrg(who.account, level.org)) OrgNotFound(level.org);
    ProjectNotFound(level.org, level.project);
  }
}

storage::VariableSetRecord VariableSetService::Create(const auth::Principal& who,
                                                      const storage::VariableSetKey& level,
                                                      const json::value& body) {
  RequireLevel(who, level);
  auth::RequireScope(who, level.org, level.project);
  const json::object& request = RequestObject(body);
  std::string identifier = ReqString(request, "identifier", "identifier");
  ValidateVariableSetIdentifier("identifier", identifier);
  std::string name = ValidName(request);
  int64_t now = NowMillis();
  storage::VariableSetRecord r;
  r.account = who.account;
  r.org = level.org;
  r.project = level.project;
  r.identifier = identifier;
  r.name = name;
  Fill(r, BuildVariableSetDocument(request, nullptr, now));
  r.created = r.updated = now;
  db_.VariableSets().CreateVariableSet(r);
  return r;
}

storage::VariableSetRecord VariableSetService::Get(const auth::Principal& who,
                                                   const storage::VariableSetKey& key) {
  RequireLevel(who, key);
  auto r = db_.VariableSets().GetVariableSet(who.account, key);
  if (!r) Fail(ErrorCode::kNotFound, Describe(key));
  return *r;
}

storage::VariableSetRecord VariableSetService::Update(const auth::Principal& who,
                                                      const storage::VariableSetKey& key,
                                                      const json::value& body) {
  storage::VariableSetRecord current = Get(who, key);  // 404 before 403, as for reads
  auth::RequireScope(who, key.org, key.project);
  const json::object& request = RequestObject(body);
  if (auto id = OptString(request, "identifier", "identifier"); id && *id != key.identifier)
    Invalid("identifier", "does not match the variable set in the path ('" + key.identifier +
                              "'); identifiers cannot change");
  std::string name = ValidName(request);
  json::object previous;
  try {
    json::value parsed = json::parse(current.document_json);
    if (parsed.is_object()) previous = std::move(parsed.get_object());
  } catch (const std::exception&) {
    // An unreadable stored document: treat every entry as new.
  }
  int64_t now = NowMillis();
  storage::VariableSetRecord r = current;
  r.name = name;
  Fill(r, BuildVariableSetDocument(request, &previous, now));
  r.updated = std::max(now, current.updated);
  return db_.VariableSets().UpdateVariableSet(r);
}

void VariableSetService::Delete(const auth::Principal& who, const storage::VariableSetKey& key) {
  Get(who, key);
  auth::RequireScope(who, key.org, key.project);
  db_.VariableSets().DeleteVariableSet(who.account, key);
}

storage::Page<storage::VariableSetRecord> VariableSetService::List(
    const auth::Principal& who, const storage::VariableSetKey& level,
    const storage::ListQuery& query) {
  RequireLevel(who, level);
  return db_.VariableSets().ListVariableSets(who.account, level.org, level.project, query);
}

storage::Page<storage::WorkspaceRecord> VariableSetService::References(
    const auth::Principal& who, const storage::VariableSetKey& key,
    const storage::ListQuery& query) {
  Get(who, key);
  auto& store = db_.VariableSets();
  if (who.Covers(key.org, key.project)) {
    // Every workspace referencing the set lies inside the set's level, hence in scope.
    return store.ListVariableSetReferences(who.account, key, query);
  }
  // A scoped token reading a set above its scope sees only its own workspaces: walk the
  // references in batches and page over the visible ones.
  storage::Page<storage::WorkspaceRecord> out;
  storage::ListQuery batch = query;
  batch.offset = 0;
  batch.limit = 100;
  for (;;) {
    auto page = store.ListVariableSetReferences(who.account, key, batch);
    for (auto& w : page.items) {
      if (!who.Covers(w.org, w.project)) continue;
      if (out.total >= query.offset && static_cast<int64_t>(out.items.size()) < query.limit)
        out.items.push_back(std::move(w));
      ++out.total;
    }
    batch.offset += static_cast<int64_t>(page.items.size());
    if (page.items.empty() || batch.offset >= page.total) break;
  }
  return out;
}

}  // namespace statehouse::domain
