// The Terraform http backend (harness-tf-standard-backend-api-openapi.yml) and the state
// endpoints of harness-workspaces-api-openapi.yml: locks, data (with dependency graphs and risk
// assessments), rollback, resources.
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

#include "api/routes.h"
#include "common/error.h"
#include "common/util.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {
constexpr const char* kWorkspace = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}";

std::string Ws(const Context& ctx) { return std::string(ctx.Param("workspace")); }

// The spooled body, with the Content-MD5 the CLI sends (the domain checks it).
domain::Upload UploadOf(const Context& ctx) {
  domain::Upload upload{ctx.request.body_file, ctx.request.body_size, std::nullopt};
  if (auto md5 = ctx.request.Header("content-md5")) upload.md5_base64 = std::string(Trim(*md5));
  return upload;
}

// Lock bodies are JSON whatever the client says (the CLI sends no Content-Type).
std::optional<json::object> LockBody(const Context& ctx) {
  if (!ctx.request.HasBody()) return std::nullopt;
  json::value v = http::ParseJson(ctx.request.body);
  if (!v.is_object()) Fail(ErrorCode::kInvalidArgument, "lock info must be a JSON object");
  return v.get_object();
}

Reply Empty(int status) {
  Reply r;
  r.status = status;
  r.no_body = true;
  return r;
}

std::string Q(const Context& ctx, std::string_view name) {
  return std::string(ctx.request.Query(name).value_or(""));
}

// A data upload's record fields from its query string; its body must not be empty.
storage::DataRecord DataUploadOf(const Context& ctx, std::string data_type) {
  if (!ctx.request.HasBody()) Fail(ErrorCode::kInvalidArgument, "a request body is required");
  storage::DataRecord meta;
  meta.data_type = std::move(data_type);
  meta.pipeline_id = Q(ctx, "pipeline_id");
  meta.stage_id = Q(ctx, "stage_id");
  meta.pipeline_execution_id = Q(ctx, "pipeline_execution_id");
  meta.pipeline_stage_id = Q(ctx, "pipeline_stage_id");
  if (auto t = ctx.request.Query("provisioner_type")) meta.provisioner_type = *t;
  meta.stack_path = Q(ctx, "stack_path");
  return meta;
}

const char* MediaTypeOf(const std::string& data_type) {
  if (data_type == "plan_human" || data_type == "state_human") return "text/plain";
  if (data_type.rfind("cdk_", 0) == 0 && data_type != "cdk_template" && data_type != "cdk_manifest")
    return "application/octet-stream";
  return "application/json";
}

Reply ContentReply(const domain::StateService::Content& c, const std::string& media_type) {
  Reply r;
  r.status = 200;
  r.content_type = media_type;
  if (!c.file.empty())
    r.body_file = c.file;
  else
    r.raw_body = c.bytes;
  return r;
}

json::object DataJson(const storage::WorkspaceKey& key, const storage::DataRecord& d) {
  json::object o;
  o["account"] = key.account;
  o["org"] = key.org;
  o["project"] = key.project;
  o["workspace"] = key.workspace;
  o["id"] = d.id;
  o["data_type"] = d.data_type;
  o["created"] = d.created;
  o["pipeline_id"] = d.pipeline_id;
  o["stage_id"] = d.stage_id;
  o["pipeline_execution_id"] = d.pipeline_execution_id;
  o["pipeline_stage_id"] = d.pipeline_stage_id;
  o["provisioner_type"] = d.provisioner_type;
  o["stack_path"] = d.stack_path;
  if (!d.created_by.empty()) o["created_by"] = d.created_by;  // the writer's token id
  if (!d.rollback_source_id.empty()) o["rollback_source_id"] = d.rollback_source_id;
  o["size"] = d.size;
  o["state_checksum"] = d.sha256;
  if (d.serial) o["serial"] = *d.serial;
  if (!d.lineage.empty()) o["lineage"] = d.lineage;
  if (d.policy_evaluation_id) {
    o["policy_evaluation_id"] = d.policy_evaluation_id;
    o["policy_evaluation_status"] = d.policy_status;
    o["policy_evaluation_message"] = d.policy_message;
  }
  return o;
}

// The spec's CreateDataResponse / evaluate-policy answer for a data record.
// A plan priced on upload adds "cost_estimate" (totals, budget flag, the cost data ids).
json::object DataEvaluationJson(const std::string& id, const domain::PolicyDecision& decision,
                                const domain::CostOutcome* cost = nullptr) {
  json::object out;
  if (cost && (cost->estimated || !cost->error.empty())) out["cost_estimate"] = cost->ToJson();
  out["id"] = id;
  out["policy_evaluation"] = decision.evaluated ? json::value(decision.DataPolicyEvaluations())
                                                : json::value(json::array());
  out["policy_evaluation_status"] = decision.evaluated ? decision.StatusName() : "pass";
  std::string message = decision.evaluated ? decision.Message() : "no policies apply";
  if (!message.empty()) out["policy_evaluation_message"] = message;
  if (decision.evaluated) out["policy_evaluation_id"] = decision.evaluation_id;
  return out;
}

json::object PassingEvaluation(const Context& ctx, std::string_view entity) {
  json::object e;
  e["id"] = 0;
  e["status"] = "pass";
  e["entity"] = entity;
  e["entity_metadata"] = "";
  e["type"] = "workspace";
  e["action"] = "onforceunlock";
  e["account_id"] = ctx.Account();
  e["org_id"] = ctx.Param("org");
  e["project_id"] = ctx.Param("project");
  e["created"] = NowMillis();
  e["input"] = json::object();
  e["details"] = json::array();
  return e;
}

std::vector<domain::ResourceSelector> ReadSelectors(const json::object& body) {
  std::vector<domain::ResourceSelector> out;
  const json::value* list = body.if_contains("selectors");
  if (!list || list->is_null()) return out;
  if (!list->is_array()) Fail(ErrorCode::kInvalidArgument, "selectors: must be an array");
  auto text = [](const json::object& o, const char* k, const std::string& field) -> std::string {
    const json::value* v = o.if_contains(k);
    if (!v || v->is_null()) return {};
    if (!v->is_string()) Fail(ErrorCode::kInvalidArgument, field + "." + k + ": must be a string");
    return std::string(v->get_string());
  };
  static const std::vector<std::string> kOps = {"equals",       "not_equals",  "contains",
                                                "not_contains", "starts_with", "ends_with"};
  for (size_t i = 0; i < list->get_array().size(); ++i) {
    std::string field = "selectors[" + std::to_string(i) + "]";
    const json::value& s = list->get_array()[i];
    if (!s.is_object()) Fail(ErrorCode::kInvalidArgument, field + ": must be an object");
    domain::ResourceSelector sel;
    sel.resource_type = text(s.get_object(), "resource_type", field);
    sel.provider = text(s.get_object(), "provider", field);
    sel.path_id = text(s.get_object(), "path_id", field);
    sel.search_text = text(s.get_object(), "search_text", field);
    if (const json::value* conds = s.get_object().if_contains("include_conditions");
        conds && !conds->is_null()) {
      if (!conds->is_array())
        Fail(ErrorCode::kInvalidArgument, field + ".include_conditions: must be an array");
      for (size_t j = 0; j < conds->get_array().size(); ++j) {
        std::string cf = field + ".include_conditions[" + std::to_string(j) + "]";
        const json::value& c = conds->get_array()[j];
        if (!c.is_object()) Fail(ErrorCode::kInvalidArgument, cf + ": must be an object");
        domain::ResourceCondition cond{text(c.get_object(), "attribute", cf),
                                       text(c.get_object(), "operator", cf),
                                       text(c.get_object(), "value", cf)};
        if (cond.attribute.empty())
          Fail(ErrorCode::kInvalidArgument, cf + ".attribute: is required");
        if (std::find(kOps.begin(), kOps.end(), cond.op) == kOps.end())
          Fail(ErrorCode::kInvalidArgument,
               cf + ".operator: must be one of equals, not_equals, contains, not_contains, "
                    "starts_with, ends_with");
        sel.conditions.push_back(std::move(cond));
      }
    }
    out.push_back(std::move(sel));
  }
  return out;
}

// Slices resources to one page; data sources and outputs come whole.
json::object ResourcesPage(const domain::tfstate::StateAnalysis& a, json::array resources,
                           json::array data_sources, int64_t offset, int64_t limit) {
  json::array page;
  for (int64_t i = offset; i < static_cast<int64_t>(resources.size()) && i < offset + limit; ++i)
    page.push_back(resources[static_cast<size_t>(i)]);
  json::object out;
  out["resources"] = std::move(page);
  out["data_sources"] = std::move(data_sources);
  out["outputs"] = a.outputs;
  out["total_resources"] = static_cast<int64_t>(resources.size());
  return out;
}

// ---- POST .../dependency-graph and .../risk-assessment ----

// The data_type values the spec's upload operations declare.
const std::vector<std::string> kSpecDataTypes = {
    "plan_human", "state_raw", "state_human",  "cost_breakdown", "cost_diff",
    "modules",    "providers", "cdk_template", "cdk_manifest",   "cdk_tree",
    "cdk_assets", "cdk_diff",  "cdk_drift"};

// An upload stored as workspace data of the endpoint's own type (a JSON object), answered like
// POST .../data. The spec gives these operations the generic data_type parameter too: a value
// sent must be one of its enum (or the endpoint's type), but the record is of the endpoint's
// type whatever it says.
http::Route TypedUpload(Services& s, const std::string& path, const std::string& type) {
  http::Route route{"POST", path, Access::kWrite, [&s, type](Context& ctx) {
                      std::string declared = Q(ctx, "data_type");
                      if (!declared.empty() && declared != type &&
                          std::find(kSpecDataTypes.begin(), kSpecDataTypes.end(), declared) ==
                              kSpecDataTypes.end())
                        Fail(ErrorCode::kInvalidArgument,
                             "data_type: must be one of the spec's data types");
                      storage::DataRecord meta = DataUploadOf(ctx, type);
                      domain::PolicyDecision decision;
                      domain::CostOutcome cost;
                      auto d = s.states.CreateData(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                                   UploadOf(ctx), meta, "", &decision, &cost);
                      return Reply::Of(200, DataEvaluationJson(d.id, decision, &cost));
                    }};
  route.spool_body = true;
  route.body_limit = s.max_state_bytes;
  return route;
}

// ---- PATCH / DELETE .../resources, DELETE .../resources/stale ----
// A request with a bad item is refused whole and nothing is written: 400 with the IaCMError
// fields and, beside them, the operation's result document (the spec's 400 schema of these
// operations): one result per item, "failed" with the error for the bad ones, "skipped" for the
// others. Unknown fields are ignored, as everywhere.

constexpr size_t kResourceBodyLimit = size_t{64} << 20;

json::object ResultOf(const json::value& item, const std::string& status, const std::string& error,
                      bool with_mode) {
  const json::object* o = item.if_object();
  auto text = [o](const char* k) {
    const json::value* v = o ? o->if_contains(k) : nullptr;
    return v && v->is_string() ? *v : json::value("");
  };
  json::object r;
  r["provider"] = text("provider");
  r["type"] = text("type");
  r["name"] = text("name");
  r["module"] = text("module");
  if (with_mode) r["mode"] = text("mode");
  r["status"] = status;
  if (!error.empty()) r["error"] = error;
  return r;
}

// {results, summary} with the summary counted from the results; done: "updated" | "deleted".
json::object ResultDocument(json::array results, const char* done) {
  int64_t n = 0, skipped = 0, failed = 0;
  for (const json::value& r : results) {
    const json::string& status = r.as_object().at("status").as_string();
    if (status == done)
      ++n;
    else if (status == "skipped")
      ++skipped;
    else
      ++failed;
  }
  json::object summary;
  summary["total"] = static_cast<int64_t>(results.size());
  summary[done] = n;
  summary["skipped"] = skipped;
  summary["failed"] = failed;
  json::object out;
  out["results"] = std::move(results);
  out["summary"] = std::move(summary);
  return out;
}

[[noreturn]] void Refuse(const std::string& message, const json::object& document) {
  throw Error(ErrorCode::kInvalidArgument, message, json::serialize(document));
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// A string member of an item; the item's first problem goes to error.
std::string ItemText(const json::object& o, const char* k, const std::string& field, bool required,
                     bool nonempty, std::string& error) {
  auto problem = [&](const char* what) {
    if (error.empty()) error = field + "." + k + ": " + what;
    return std::string();
  };
  const json::value* v = o.if_contains(k);
  if (!v || v->is_null()) return required ? problem("is required") : std::string();
  if (!v->is_string()) return problem("must be a string");
  if (nonempty && v->get_string().empty()) return problem("must not be empty");
  return std::string(v->get_string());
}

domain::StateService::ResourceRef ReadRef(const json::object& o, const std::string& field,
                                          std::string& error) {
  domain::StateService::ResourceRef ref;
  ref.provider = ItemText(o, "provider", field, true, true, error);
  ref.type = ItemText(o, "type", field, true, true, error);
  ref.name = ItemText(o, "name", field, true, true, error);
  ref.module = ItemText(o, "module", field, true, false, error);  // "" is the root module
  ref.path_id = ItemText(o, "path_id", field, false, false, error);
  return ref;
}

// The body's items (resources: a required array of objects), each read by read_item; refuses
// the request when any item is bad.
template <typename Item, typename ReadItem>
std::vector<Item> ReadItems(const json::object& body, const char* done, bool with_mode,
                            ReadItem read_item) {
  const json::value* list = body.if_contains("resources");
  if (!list || list->is_null()) Refuse("resources: is required", ResultDocument({}, done));
  if (!list->is_array()) Refuse("resources: must be an array", ResultDocument({}, done));
  std::vector<Item> items;
  std::vector<std::string> errors;
  size_t bad = 0;
  std::string first;
  for (size_t i = 0; i < list->get_array().size(); ++i) {
    const json::value& v = list->get_array()[i];
    std::string field = "resources[" + std::to_string(i) + "]", error;
    Item item{};
    if (!v.is_object())
      error = field + ": must be an object";
    else
      item = read_item(v.get_object(), field, error);
    if (!error.empty() && bad++ == 0) first = error;
    errors.push_back(std::move(error));
    items.push_back(std::move(item));
  }
  if (bad) {
    json::array results;
    for (size_t i = 0; i < items.size(); ++i) {
      results.push_back(ResultOf(
          list->get_array()[i], errors[i].empty() ? "skipped" : "failed",
          errors[i].empty() ? "not applied: the request has invalid items" : errors[i], with_mode));
    }
    Refuse(first + (bad > 1 ? " (and " + std::to_string(bad - 1) + " more)" : ""),
           ResultDocument(std::move(results), done));
  }
  return items;
}

const json::object& ResourceBody(const Context& ctx, const json::object& empty_document) {
  if (!ctx.has_body || !ctx.body.is_object())
    Refuse("the request body must be a JSON object", empty_document);
  return ctx.body.get_object();
}

// session_id: a UUID (required or not).
std::string ReadSession(const json::object& body, bool required, const json::object& empty) {
  const json::value* v = body.if_contains("session_id");
  if (!v || v->is_null()) {
    if (required) Refuse("session_id: is required", empty);
    return {};
  }
  if (!v->is_string() || !IsUuid(v->get_string())) Refuse("session_id: must be a UUID", empty);
  return std::string(v->get_string());
}

// ResourceUpdate's mode: managed (resource), data (datasource) or output; "" when unknown.
std::string NormalMode(const std::string& mode) {
  if (mode == "managed" || mode == "resource") return "resource";
  if (mode == "data" || mode == "datasource" || mode == "data_source") return "data";
  if (mode == "output") return "output";
  return {};
}

domain::StateService::ResourceChange ReadChange(const json::object& o, const std::string& field,
                                                std::string& error) {
  domain::StateService::ResourceChange c;
  c.ref = ReadRef(o, field, error);
  std::string mode = ItemText(o, "mode", field, true, true, error);
  c.mode = NormalMode(mode);
  if (!mode.empty() && c.mode.empty() && error.empty())
    error = field + ".mode: must be managed, data (datasource) or output";
  // attributes: an object (the spec leaves its type open; a JSON object encoded as a string is
  // taken too).
  const json::value* a = o.if_contains("attributes");
  if (!a || a->is_null()) {
    if (error.empty()) error = field + ".attributes: is required";
  } else if (a->is_object()) {
    c.attributes = a->get_object();
  } else {
    json::value parsed;
    try {
      if (a->is_string()) parsed = http::ParseJson(a->get_string());  // a body's limits
    } catch (const Error&) {
    }
    if (parsed.is_object())
      c.attributes = std::move(parsed.get_object());
    else if (error.empty())
      error = field + ".attributes: must be an object";
  }
  if (const json::value* p = o.if_contains("sensitive_attribute_paths"); p && !p->is_null()) {
    if (!p->is_array()) {
      if (error.empty()) error = field + ".sensitive_attribute_paths: must be an array of strings";
    } else {
      for (const json::value& path : p->get_array()) {
        if (!path.is_string()) {
          if (error.empty())
            error = field + ".sensitive_attribute_paths: must be an array of strings";
          break;
        }
        c.sensitive_paths.emplace_back(path.get_string());
      }
    }
  }
  c.drift_status = ItemText(o, "drift_status", field, false, false, error);
  if (c.drift_status != "" && c.drift_status != "changed" && c.drift_status != "deleted" &&
      c.drift_status != "unchanged" && error.empty())
    error = field + ".drift_status: must be changed, deleted, unchanged or empty";
  if (const json::value* d = o.if_contains("drift_attributes"); d && !d->is_null()) {
    if (d->is_object())
      c.drift_attributes = d->get_object();
    else if (error.empty())
      error = field + ".drift_attributes: must be an object";
  }
  return c;
}

void AddResourceWriteRoutes(http::Router& router, Services& s, const std::string& base) {
  size_t limit = std::min<size_t>(s.max_state_bytes, kResourceBodyLimit);
  http::Route update{
      "PATCH", base + "/resources", Access::kWrite, [&s](Context& ctx) {
        const json::object empty = ResultDocument({}, "updated");
        const json::object& body = ResourceBody(ctx, empty);
        bool drift = false;
        if (const json::value* m = body.if_contains("update_mode"); m && !m->is_null()) {
          if (!m->is_string() || (m->get_string() != "upsert" && m->get_string() != "drift"))
            Refuse("update_mode: must be upsert or drift", empty);
          drift = m->get_string() == "drift";
        }
        std::string session = ReadSession(body, false, empty);
        auto changes =
            ReadItems<domain::StateService::ResourceChange>(body, "updated", true, ReadChange);
        auto outcomes =
            s.states.UpdateResources(ctx.principal, ScopeOf(ctx), Ws(ctx), changes, drift, session);
        json::array results;
        const json::array& items = body.at("resources").get_array();
        for (size_t i = 0; i < outcomes.size(); ++i)
          results.push_back(ResultOf(items[i], outcomes[i].status, outcomes[i].error, true));
        return Reply::Of(200, ResultDocument(std::move(results), "updated"));
      }};
  update.body_limit = limit;
  router.Add(std::move(update));

  http::Route remove{
      "DELETE", base + "/resources", Access::kWrite, [&s](Context& ctx) {
        const json::object empty = ResultDocument({}, "deleted");
        const json::object& body = ResourceBody(ctx, empty);
        auto refs = ReadItems<domain::StateService::ResourceRef>(body, "deleted", false, ReadRef);
        auto outcomes = s.states.DeleteResources(ctx.principal, ScopeOf(ctx), Ws(ctx), refs);
        json::array results;
        const json::array& items = body.at("resources").get_array();
        for (size_t i = 0; i < outcomes.size(); ++i)
          results.push_back(ResultOf(items[i], outcomes[i].status, outcomes[i].error, false));
        return Reply::Of(200, ResultDocument(std::move(results), "deleted"));
      }};
  remove.body_limit = limit;
  router.Add(std::move(remove));

  router.Add({"DELETE", base + "/resources/stale", Access::kWrite, [&s](Context& ctx) {
                const json::object empty{{"deleted_count", 0}};
                std::string session = ReadSession(ResourceBody(ctx, empty), true, empty);
                json::object out;
                out["deleted_count"] =
                    s.states.DeleteStaleResources(ctx.principal, ScopeOf(ctx), Ws(ctx), session);
                return Reply::Of(200, std::move(out));
              }});
}

void AddBackendRoutes(http::Router& router, Services& s, const std::string& base) {
  const std::string backend = base + "/terraform-backend";
  router.Add(http::Cacheable({"GET", backend, Access::kRead, [&s](Context& ctx) {
                                auto w = s.workspaces.Get(ctx.principal, ScopeOf(ctx), Ws(ctx));
                                auto newest = s.states.Newest(w);
                                if (!newest) return Empty(204);
                                return ContentReply(s.states.ContentOf(w, *newest, true),
                                                    "application/json");
                              }}));
  http::Route post{"POST", backend, Access::kWrite, [&s](Context& ctx) {
                     auto id = ctx.request.Query("ID");
                     std::optional<std::string> lock_id;
                     if (id && !id->empty()) lock_id = std::string(*id);
                     auto v = s.states.WriteState(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                                  UploadOf(ctx), lock_id);
                     json::object out;
                     out["id"] = v.id;
                     if (v.serial) out["serial"] = *v.serial;
                     out["state_checksum"] = v.sha256;
                     return Reply::Of(200, std::move(out));
                   }};
  post.spool_body = true;
  post.body_limit = s.max_state_bytes;
  router.Add(std::move(post));

  // LOCK and UNLOCK answer once the lock row is durable without holding the worker until then
  // (HandleLater; Handle waits for them): CI pipelines lock and unlock many workspaces at
  // once, and on SQLite these writes then share commits beyond the number of worker threads.
  // The spec's POST answers HarnessIacmLockinfo; the CLI's LOCK ignores the body.
  auto lock = [&s](Context& ctx, http::Finish finish) {
    auto body = LockBody(ctx);
    if (!body) Fail(ErrorCode::kInvalidArgument, "lock info is required");
    bool spec = ctx.request.method == "POST";
    storage::WorkspaceKey where{ctx.Account(), std::string(ctx.Param("org")),
                                std::string(ctx.Param("project")), Ws(ctx)};
    s.states.LockLater(
        ctx.principal, ScopeOf(ctx), where.workspace, *body,
        [finish, spec, where](std::optional<storage::LockRecord> held, std::exception_ptr error) {
          finish([&]() -> Reply {
            if (error) std::rethrow_exception(error);
            if (spec) return Reply::Of(200, domain::StateService::SpecLockView(*held, where));
            return Reply::Of(200, domain::StateService::LockView(*held));
          });
        });
  };
  auto unlock = [&s](Context& ctx, http::Finish finish) {
    auto body = LockBody(ctx);
    s.states.UnlockLater(ctx.principal, ScopeOf(ctx), Ws(ctx), body ? &*body : nullptr,
                         [finish](bool, std::exception_ptr error) {
                           finish([&]() -> Reply {
                             if (error) std::rethrow_exception(error);
                             return Empty(200);
                           });
                         });
  };
  // The CLI's LOCK/UNLOCK (on the lock address or the state address) and the spec's
  // POST/DELETE on .../lock.
  auto add = [&router](std::string method, const std::string& path, http::LaterHandler later) {
    http::Route r{std::move(method), path, Access::kWrite, nullptr};
    r.later = std::move(later);
    r.accepts_text = true;
    router.Add(std::move(r));
  };
  for (const std::string& path : {backend + "/lock", backend}) {
    add("LOCK", path, lock);
    add("UNLOCK", path, unlock);
  }
  add("POST", backend + "/lock", lock);
  add("DELETE", backend + "/lock", unlock);
}
}  // namespace

void RegisterStateRoutes(http::Router& router, Services& s) {
  const std::string base = kWorkspace;
  AddBackendRoutes(router, s, base);

  router.Add({"POST", base + "/actions/lock", Access::kWrite, [&s](Context& ctx) {
                std::string reason;
                if (ctx.has_body) {
                  if (!ctx.body.is_object())
                    Fail(ErrorCode::kInvalidArgument, "the request body must be an object");
                  if (const json::value* r = ctx.body.get_object().if_contains("reason");
                      r && !r->is_null()) {
                    if (!r->is_string())
                      Fail(ErrorCode::kInvalidArgument, "reason: must be a string");
                    reason = std::string(r->get_string());
                  }
                }
                auto lock = s.states.ManualLock(ctx.principal, ScopeOf(ctx), Ws(ctx), reason);
                json::object out = domain::StateService::LockSummary(lock);
                out["workspace"] = Ws(ctx);
                return Reply::Of(200, std::move(out));
              }});
  router.Add({"POST", base + "/actions/force-unlock", Access::kWrite, [&s](Context& ctx) {
                domain::PolicyDecision decision;
                auto removed =
                    s.states.ForceUnlock(ctx.principal, ScopeOf(ctx), Ws(ctx), &decision);
                json::object out;
                out["policy_evaluation"] =
                    decision.evaluated ? decision.Evaluation() : PassingEvaluation(ctx, Ws(ctx));
                out["unlocked"] = removed.has_value();
                if (removed) out["lock_id"] = removed->lock_id;
                return Reply::Of(200, std::move(out));
              }});

  router.Add({"GET", base + "/data", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, {}, storage::SortField::kCreated);
                storage::DataListQuery q;
                q.page = p.query;
                q.data_type = Q(ctx, "data_type");
                q.pipeline_execution_id = Q(ctx, "pipeline_execution_id");
                q.pipeline_stage_id = Q(ctx, "pipeline_stage_id");
                q.provisioner_type = Q(ctx, "provisioner_type");
                q.stack_path = Q(ctx, "stack_path");
                auto page = s.states.ListData(ctx.principal, ScopeOf(ctx), Ws(ctx), q);
                storage::WorkspaceKey key{ctx.Account(), std::string(ctx.Param("org")),
                                          std::string(ctx.Param("project")), Ws(ctx)};
                json::array items;
                for (const auto& d : page.items) items.push_back(DataJson(key, d));
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  http::Route create_data{"POST", base + "/data", Access::kWrite, [&s](Context& ctx) {
                            if (Q(ctx, "data_type").empty())
                              Fail(ErrorCode::kInvalidArgument, "data_type: is required");
                            storage::DataRecord meta = DataUploadOf(ctx, Q(ctx, "data_type"));
                            domain::PolicyDecision decision;
                            domain::CostOutcome cost;
                            auto d = s.states.CreateData(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                                         UploadOf(ctx), meta,
                                                         Q(ctx, "policy_action"), &decision, &cost);
                            return Reply::Of(200, DataEvaluationJson(d.id, decision, &cost));
                          }};
  create_data.spool_body = true;
  create_data.body_limit = s.max_state_bytes;
  router.Add(std::move(create_data));
  router.Add(http::Cacheable({"GET", base + "/data/{id}", Access::kRead, [&s](Context& ctx) {
                                auto w = s.workspaces.Get(ctx.principal, ScopeOf(ctx), Ws(ctx));
                                auto d = s.states.GetData(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                                          std::string(ctx.Param("id")));
                                return ContentReply(s.states.ContentOf(w, d, false),
                                                    MediaTypeOf(d.data_type));
                              }}));
  router.Add({"GET", base + "/data/{id}/evaluate-policy", Access::kRead, [&s](Context& ctx) {
                auto d = s.states.GetData(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                          std::string(ctx.Param("id")));
                auto decision = s.states.EvaluateData(ctx.principal, ScopeOf(ctx), Ws(ctx), d,
                                                      Q(ctx, "policy_action"));
                return Reply::Of(200, DataEvaluationJson(d.id, decision));
              }});
  router.Add(
      {"POST", base + "/state-versions/{data_id}/rollback", Access::kWrite, [&s](Context& ctx) {
         if (ctx.has_body && !ctx.body.is_object())
           Fail(ErrorCode::kInvalidArgument, "the request body must be an object");
         auto v = s.states.Rollback(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                    std::string(ctx.Param("data_id")));
         json::object out;
         out["new_data_id"] = v.id;
         out["new_file_version"] = *v.serial;
         out["activity_id"] = RandomUuid();
         out["status"] = "rollback_applied";
         return Reply::Of(200, std::move(out));
       }});

  router.Add({"GET", base + "/resources", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, {}, storage::SortField::kName);
                auto a = s.states.Resources(ctx.principal, ScopeOf(ctx), Ws(ctx));
                std::vector<std::string> types = http::QueryList(ctx.request, "resource_types");
                json::array resources;
                for (const auto& r : a.resources) {
                  if (types.empty() || std::find(types.begin(), types.end(),
                                                 r.at("type").get_string()) != types.end())
                    resources.push_back(r);
                }
                int64_t total = static_cast<int64_t>(resources.size());
                Reply reply = Reply::Of(200, ResourcesPage(a, std::move(resources), a.data_sources,
                                                           p.query.offset, p.limit));
                http::AddPageHeaders(reply, p, total);
                return reply;
              }});
  router.Add({"POST", base + "/resources/search", Access::kRead, [&s](Context& ctx) {
                json::object body;
                if (ctx.has_body) {
                  if (!ctx.body.is_object())
                    Fail(ErrorCode::kInvalidArgument, "the request body must be an object");
                  body = ctx.body.get_object();
                }
                int64_t limit = http::kDefaultLimit, page = 1;
                if (const json::value* v = body.if_contains("limit"); v && !v->is_null()) {
                  if (!v->is_int64() || v->get_int64() < 1)
                    Fail(ErrorCode::kInvalidArgument, "limit: must be a positive integer");
                  limit = std::min<int64_t>(v->get_int64(), http::kMaxLimit);
                }
                if (const json::value* v = body.if_contains("page"); v && !v->is_null()) {
                  if (!v->is_int64() || v->get_int64() < 1)
                    Fail(ErrorCode::kInvalidArgument, "page: must be an integer >= 1");
                  page = v->get_int64();
                  if (page > 1'000'000'000) Fail(ErrorCode::kInvalidArgument, "page: out of range");
                }
                auto selectors = ReadSelectors(body);
                auto a = s.states.Resources(ctx.principal, ScopeOf(ctx), Ws(ctx));
                json::array matched, matched_data;
                for (const auto& r : a.resources)
                  if (domain::MatchesAnySelector(r.get_object(), selectors)) matched.push_back(r);
                for (const auto& r : a.data_sources)
                  if (domain::MatchesAnySelector(r.get_object(), selectors))
                    matched_data.push_back(r);
                return Reply::Of(200, ResourcesPage(a, std::move(matched), std::move(matched_data),
                                                    (page - 1) * limit, limit));
              }});
  // PATCH / DELETE .../resources and .../resources/stale: what clients write about the
  // resources the two routes above list (see StateService::Resources for the rules).
  AddResourceWriteRoutes(router, s, base);
  router.Add(TypedUpload(s, base + "/dependency-graph", "dependency_graph"));
  router.Add(TypedUpload(s, base + "/risk-assessment", "risk_assessment"));
  router.Add({"GET", base + "/modules", Access::kRead, [&s](Context& ctx) {
                return Reply::Of(200,
                                 s.states.Analyze(ctx.principal, ScopeOf(ctx), Ws(ctx)).modules);
              }});
  router.Add({"GET", base + "/resource-types", Access::kRead, [&s](Context& ctx) {
                json::array out;
                for (const auto& [type, attrs] :
                     s.states.Analyze(ctx.principal, ScopeOf(ctx), Ws(ctx)).type_attributes)
                  out.emplace_back(type);
                return Reply::Of(200, std::move(out));
              }});
  router.Add({"GET", base + "/resource-types-and-attributes", Access::kRead, [&s](Context& ctx) {
                json::object out;
                for (const auto& [type, attrs] :
                     s.states.Analyze(ctx.principal, ScopeOf(ctx), Ws(ctx)).type_attributes) {
                  json::array list;
                  for (const auto& a : attrs) list.emplace_back(a);
                  out[type] = std::move(list);
                }
                return Reply::Of(200, std::move(out));
              }});
  router.Add({"GET", base + "/resource-types/{resource_type}/attributes", Access::kRead,
              [&s](Context& ctx) {
                auto a = s.states.Analyze(ctx.principal, ScopeOf(ctx), Ws(ctx));
                auto it = a.type_attributes.find(std::string(ctx.Param("resource_type")));
                if (it == a.type_attributes.end())
                  Fail(ErrorCode::kNotFound, "no resource of type '" +
                                                 std::string(ctx.Param("resource_type")) +
                                                 "' in the workspace's state");
                json::array out;
                for (const auto& attr : it->second) out.emplace_back(attr);
                return Reply::Of(200, std::move(out));
              }});
}

}  // namespace statehouse::api
