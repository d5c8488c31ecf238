// StateService's resource inventory: the newest state's resources with what clients wrote
// about them (upserts, drift, tombstones), and the selectors that pick resources.
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "common/util.h"
#include "domain/state.h"

namespace statehouse::domain {
namespace json = boost::json;

namespace {
std::string Text(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return {};
  return v->is_string() ? std::string(v->get_string()) : json::serialize(*v);
}

bool Contains(std::string_view hay, std::string_view needle) {
  return ToLower(hay).find(ToLower(needle)) != std::string::npos;
}

// The attribute a condition names, as text; nullopt when absent.
std::optional<std::string> AttributeText(const json::object& resource, std::string path) {
  if (path.rfind("<+", 0) == 0 && path.back() == '>') path = path.substr(2, path.size() - 3);
  if (path.rfind("attributes.", 0) == 0) path = path.substr(11);
  if (path.rfind("tag.", 0) == 0) path = "tags." + path.substr(4);
  const json::value* cur = resource.if_contains("attributes");
  size_t start = 0;
  while (cur && start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!cur->is_object()) return std::nullopt;
    cur = cur->get_object().if_contains(part);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!cur || cur->is_null()) return std::nullopt;
  return cur->is_string() ? std::string(cur->get_string()) : json::serialize(*cur);
}

bool ConditionHolds(const json::object& resource, const ResourceCondition& c) {
  auto v = AttributeText(resource, c.attribute);
  if (c.op == "not_equals") return !v || *v != c.value;
  if (c.op == "not_contains") return !v || v->find(c.value) == std::string::npos;
  if (!v) return false;
  if (c.op == "equals") return *v == c.value;
  if (c.op == "contains") return v->find(c.value) != std::string::npos;
  if (c.op == "starts_with") return v->rfind(c.value, 0) == 0;
  if (c.op == "ends_with")
    return v->size() >= c.value.size() &&
           v->compare(v->size() - c.value.size(), c.value.size(), c.value) == 0;
  return false;
}
}  // namespace

bool MatchesAnySelector(const json::object& resource,
                        const std::vector<ResourceSelector>& selectors) {
  if (selectors.empty()) return true;
  for (const auto& sel : selectors) {
    if (!sel.resource_type.empty() && Text(resource, "type") != sel.resource_type) continue;
    if (!sel.provider.empty()) {
      std::string provider = Text(resource, "provider");
      bool ok = provider == sel.provider ||
                (provider.size() > sel.provider.size() &&
                 provider.compare(provider.size() - sel.provider.size() - 1, std::string::npos,
                                  "/" + sel.provider) == 0);
      if (!ok) continue;
    }
    if (!sel.path_id.empty() && !Contains(Text(resource, "path_id"), sel.path_id)) continue;
    if (!sel.search_text.empty() && !Contains(Text(resource, "path_id"), sel.search_text) &&
        !Contains(Text(resource, "resource_id"), sel.search_text) &&
        !Contains(Text(resource, "type"), sel.search_text))
      continue;
    bool all = true;
    for (const auto& c : sel.conditions) all = all && ConditionHolds(resource, c);
    if (all) return true;
  }
  return false;
}

// ---- the resource inventory ----
//
// Resources are derived from the newest state; PATCH / DELETE .../resources record what
// clients say about them in workspace_resources, one row per resource (provider, type, name,
// module, path_id), and every listing applies those rows on top of the state:
//   - an upsert (PATCH, update_mode upsert) replaces a resource's attributes and sensitive
//     paths, and adds the resource when the state has none such (Harness's inventory is what
//     its clients upsert); it also brings back a deleted resource;
//   - a drift update (update_mode drift) replaces drift_status / drift_attributes of a listed
//     resource ("" clears them back to the state's "unchanged");
//   - DELETE .../resources ("destroyed resources") and DELETE .../resources/stale (every listed
//     resource the given session did not write) leave tombstones that hide the resource.
// What clients wrote is their word: it survives new state versions until they write that
// resource again (a tombstone until the next upsert of it). Pruning of sensitive values applies
// to written attributes too (the client's paths and the state's).
namespace {
using ResKey = std::tuple<std::string, std::string, std::string, std::string, std::string>;
using Override = storage::StateStore::ResourceOverride;

std::string Str(const json::object& o, std::string_view k) {
  const json::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

ResKey KeyOfResource(const json::object& r) {
  return {Str(r, "provider"), Str(r, "type"), Str(r, "name"), Str(r, "module"), Str(r, "path_id")};
}

ResKey KeyOfRow(const Override& r) { return {r.provider, r.type, r.name, r.module, r.path_id}; }

Override RowOf(const ResKey& k, const std::string& mode) {
  Override r;
  std::tie(r.provider, r.type, r.name, r.module, r.path_id) = k;
  r.mode = mode;
  return r;
}

// Stored JSON (written by this server, so as deep as request bodies may be).
json::value ParseOr(const std::string& text, json::value fallback) {
  json::parse_options options;
  options.max_depth = tfstate::StateScanner::kMaxDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, {}, options);
  return ec || v.kind() != fallback.kind() ? fallback : v;
}

// "tags.secret" -> Terraform's sensitive path [{"type":"get_attr","value":"tags"}, ...]; a
// segment of digits indexes a list.
json::array TerraformPaths(const json::value& client_paths) {
  json::array out;
  const json::array* paths = client_paths.if_array();
  if (!paths) return out;
  for (const json::value& p : *paths) {
    if (!p.is_string() || p.get_string().empty()) continue;
    std::string_view text(p.get_string().data(), p.get_string().size());
    json::array steps;
    for (size_t start = 0; start <= text.size();) {
      size_t dot = text.find('.', start);
      if (dot == std::string_view::npos) dot = text.size();
      std::string_view part = text.substr(start, dot - start);
      int64_t index = 0;
      if (!part.empty() && part.find_first_not_of("0123456789") == std::string_view::npos &&
          ParseInt64(part, index))
        steps.push_back(json::object{
            {"type", "index"}, {"value", json::object{{"value", index}, {"type", "number"}}}});
      else
        steps.push_back(json::object{{"type", "get_attr"}, {"value", part}});
      start = dot + 1;
    }
    out.push_back(std::move(steps));
  }
  return out;
}

// Applies one row to a listed resource (which carries the state's sensitive paths).
void ApplyRow(json::object& res, const Override& row, bool prune) {
  json::value state_paths = res.contains("sensitive_attributes") ? res["sensitive_attributes"]
                                                                 : json::value(json::array());
  json::value client_paths = json::array();
  if (row.upserted) {
    json::value attributes = ParseOr(row.attributes_json, json::object());
    client_paths = ParseOr(row.sensitive_json, json::array());
    if (prune) {
      tfstate::RedactAttributes(attributes, state_paths);
      tfstate::RedactAttributes(attributes, TerraformPaths(client_paths));
    }
    if (const json::value* id = attributes.get_object().if_contains("id"); id && !id->is_null())
      res["resource_id"] =
          id->is_string() ? json::value(id->get_string()) : json::value(json::serialize(*id));
    else if (!res.contains("resource_id"))
      res["resource_id"] = "";
    res["attributes"] = std::move(attributes);
    res["sensitive_attributes"] = client_paths;
  }
  if (row.drifted) {
    json::value drift = ParseOr(row.drift_attributes_json, json::object());
    if (prune) {
      tfstate::RedactAttributes(drift, state_paths);
      tfstate::RedactAttributes(drift, TerraformPaths(client_paths));
    }
    res["drift_status"] = row.drift_status;
    res["drift_attributes"] = std::move(drift);
  }
}

// The listing: the state's resources with the rows applied, then resources only rows know.
tfstate::StateAnalysis Overlay(const tfstate::StateAnalysis& base,
                               const std::vector<Override>& rows, bool prune) {
  std::map<ResKey, const Override*> by_key;
  for (const Override& r : rows) by_key[KeyOfRow(r)] = &r;
  std::set<ResKey> seen;
  tfstate::StateAnalysis out;
  auto apply = [&](const json::array& from, json::array& to) {
    for (const json::value& v : from) {
      json::object res = v.get_object();
      ResKey k = KeyOfResource(res);
      seen.insert(k);
      auto it = by_key.find(k);
      if (it != by_key.end()) {
        if (it->second->deleted) continue;
        ApplyRow(res, *it->second, prune);
      }
      to.push_back(std::move(res));
    }
  };
  apply(base.resources, out.resources);
  apply(base.data_sources, out.data_sources);
  for (const Override& r : rows) {
    if (!r.upserted || r.deleted || seen.count(KeyOfRow(r))) continue;
    json::object res;
    res["provider"] = r.provider;
    res["type"] = r.type;
    res["name"] = r.name;
    res["module"] = r.module;
    res["mode"] = r.mode;
    res["path_id"] = r.path_id;
    res["drift_status"] = "unchanged";
    res["drift_attributes"] = json::object();
    res["sensitive_attributes"] = json::array();
    ApplyRow(res, r, prune);
    (r.mode == "data" ? out.data_sources : out.resources).push_back(std::move(res));
  }
  out.outputs = base.outputs;
  out.modules = base.modules;
  out.type_attributes = base.type_attributes;
  out.total_resources = static_cast<int64_t>(out.resources.size());
  return out;
}

// The newest v4 state of a workspace, analysed as Analyze does (empty when none).
tfstate::StateAnalysis StateOf(storage::Database& db, const storage::WorkspaceRecord& w) {
  auto newest = db.States().NewestState({w.account, w.org, w.project, w.identifier});
  if (!newest || !newest->serial) return {};
  return tfstate::Analyze(tfstate::ParseState(db.Blobs().Read(newest->sha256)),
                          PrunesSensitiveData(w));
}

// A resource a request may name: its key and mode.
struct Candidate {
  ResKey key;
  std::string mode;
};

std::vector<Candidate> Listed(const tfstate::StateAnalysis& a) {
  std::vector<Candidate> out;
  for (const json::array* list : {&a.resources, &a.data_sources})
    for (const json::value& v : *list)
      out.push_back({KeyOfResource(v.get_object()), Str(v.get_object(), "mode")});
  return out;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The candidates a ref names (of mode, when given): exact providers first, else those whose
// source address ends in "/<provider>" (any letter case).
std::vector<const Candidate*> Match(const std::vector<Candidate>& candidates,
                                    const StateService::ResourceRef& ref, const std::string* mode) {
  std::string provider = tfstate::ProviderAddress(ref.provider);
  std::vector<const Candidate*> exact, loose;
  for (const Candidate& c : candidates) {
    const auto& [c_provider, c_type, c_name, c_module, c_path] = c.key;
    if (c_type != ref.type || c_name != ref.name || c_module != ref.module) continue;
    if (!ref.path_id.empty() && c_path != ref.path_id) continue;
    if (mode && c.mode != *mode) continue;
    if (c_provider == provider)
      exact.push_back(&c);
    else if (EndsWith(ToLower(c_provider), "/" + ToLower(provider)))
      loose.push_back(&c);
  }
  return exact.empty() ? loose : exact;
}

std::string Paths(const std::vector<const Candidate*>& found) {
  std::string out;
  for (const Candidate* c : found) out += (out.empty() ? "" : ", ") + std::get<4>(c->key);
  return out;
}
}  // namespace

tfstate::StateAnalysis StateService::Resources(const auth::Principal& who,
                                               const WorkspaceScope& scope, const std::string& ws) {
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  return Overlay(StateOf(db_, w), db_.States().ListResourceOverrides(KeyOf(who, scope, ws)),
                 PrunesSensitiveData(w));
}

std::vector<StateService::ResourceOutcome> StateService::UpdateResources(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
    const std::vector<ResourceChange>& changes, bool drift, const std::string& session_id) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  tfstate::StateAnalysis base = StateOf(db_, w);
  std::vector<Override> rows = db_.States().ListResourceOverrides(key);
  // Drift is recorded for listed resources only; an upsert may name any resource the state or
  // a client knows (a deleted one comes back) or a new one.
  std::vector<Candidate> candidates = Listed(drift ? Overlay(base, rows, false) : base);
  if (!drift) {
    std::set<ResKey> known;
    for (const Candidate& c : candidates) known.insert(c.key);
    for (const Override& r : rows)
      if (known.insert(KeyOfRow(r)).second) candidates.push_back({KeyOfRow(r), r.mode});
  }
  std::vector<ResourceOutcome> outcomes;
  std::vector<Override> writes;
  int64_t now = NowMillis();
  for (const ResourceChange& change : changes) {
    if (change.mode == "output") {
      outcomes.push_back({"skipped", "outputs come from the state and are not written here"});
      continue;
    }
    auto found = Match(candidates, change.ref, &change.mode);
    ResKey target;
    if (found.size() > 1 && change.ref.path_id.empty()) {
      outcomes.push_back({"failed", std::to_string(found.size()) + " instances match (" +
                                        Paths(found) + "); name one with path_id"});
      continue;
    }
    if (!found.empty()) {
      target = found.front()->key;
    } else if (drift) {
      outcomes.push_back({"skipped", "no such resource in the workspace"});
      continue;
    } else {
      std::string path = change.ref.path_id.empty()
                             ? tfstate::InstanceAddress(change.ref.module, change.mode == "data",
                                                        change.ref.type, change.ref.name, nullptr)
                             : change.ref.path_id;
      target = {tfstate::ProviderAddress(change.ref.provider), change.ref.type, change.ref.name,
                change.ref.module, path};
      candidates.push_back({target, change.mode});
    }
    Override row = RowOf(target, change.mode);
    row.session_id = session_id;
    row.updated = now;
    if (drift) {
      row.drifted = !change.drift_status.empty();
      row.drift_status = change.drift_status;
      if (row.drifted) row.drift_attributes_json = json::serialize(change.drift_attributes);
    } else {
      row.upserted = true;
      row.attributes_json = json::serialize(change.attributes);
      json::array paths;
      for (const std::string& p : change.sensitive_paths) paths.emplace_back(p);
      row.sensitive_json = json::serialize(paths);
    }
    writes.push_back(std::move(row));
    outcomes.push_back({"updated", ""});
  }
  if (!writes.empty()) db_.States().WriteResourceOverrides(key, writes, drift);
  return outcomes;
}

std::vector<StateService::ResourceOutcome> StateService::DeleteResources(
    const auth::Principal& who, const WorkspaceScope& scope, const std::string& ws,
    const std::vector<ResourceRef>& refs) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  std::vector<Candidate> listed = Listed(Resources(who, scope, ws));
  std::vector<ResourceOutcome> outcomes;
  std::vector<Override> tombstones;
  for (const ResourceRef& ref : refs) {
    auto found = Match(listed, ref, nullptr);
    if (found.empty()) {
      outcomes.push_back({"skipped", "no such resource in the workspace"});
      continue;
    }
    for (const Candidate* c : found) tombstones.push_back(RowOf(c->key, c->mode));
    outcomes.push_back({"deleted", ""});
  }
  if (!tombstones.empty()) db_.States().TombstoneResources(key, tombstones, "", NowMillis());
  return outcomes;
}

int64_t StateService::DeleteStaleResources(const auth::Principal& who, const WorkspaceScope& scope,
                                           const std::string& ws, const std::string& session_id) {
  auth::RequireScope(who, scope.org, scope.project);
  storage::WorkspaceRecord w = workspaces_.Get(who, scope, ws);
  storage::WorkspaceKey key = KeyOf(who, scope, ws);
  std::vector<Override> rows = db_.States().ListResourceOverrides(key);
  std::map<ResKey, std::string> sessions;
  for (const Override& r : rows) sessions[KeyOfRow(r)] = r.session_id;
  std::vector<Override> stale;
  for (const Candidate& c : Listed(Overlay(StateOf(db_, w), rows, false))) {
    auto it = sessions.find(c.key);
    if (it == sessions.end() || it->second != session_id) stale.push_back(RowOf(c.key, c.mode));
  }
  // The store checks the sessions again, so a resource written in this session meanwhile stays.
  return stale.empty() ? 0 : db_.States().TombstoneResources(key, stale, session_id, NowMillis());
}

}  // namespace statehouse::domain
