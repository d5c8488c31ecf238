// Remote executions and events (harness-workspaces-api-openapi.yml), and Statehouse's runs
// API beside them: create, list, show, logs (followed live), approve, discard, cancel.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "api/routes.h"
#include "common/error.h"
#include "common/util.h"
#include "domain/body_reader.h"
#include "http/conventions.h"

namespace statehouse::api {
namespace json = boost::json;
using http::Access;
using http::Context;
using http::Reply;

namespace {
constexpr const char* kWorkspace = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}";
constexpr size_t kMaxSourceBytes = size_t{512} << 20;

std::string Ws(const Context& ctx) { return std::string(ctx.Param("workspace")); }
std::string Id(const Context& ctx) { return std::string(ctx.Param("id")); }

const json::object& BodyOrEmpty(const Context& ctx) {
  static const json::object kEmpty;
  if (!ctx.has_body) return kEmpty;
  return ctx.BodyObject();
}

domain::RunInput RunInputOf(const Context& ctx, const char* default_kind) {
  domain::Reader r(BodyOrEmpty(ctx), "", ctx.FormBody());
  domain::RunInput in;
  in.kind = r.Str("kind", 32).value_or(default_kind);
  in.message = r.Str("message", 1024).value_or("");
  in.auto_apply = r.Bool("auto_apply").value_or(false);
  in.remote_execution_id = r.Str("remote_execution_id", 64).value_or("");
  in.pipeline_execution_id = r.Str("pipeline_execution_id", 128).value_or("");
  return in;
}

// A run's log from an offset, growing while the run executes. Reads the file only: the
// run's end is learnt from RunSignals, never from the database (this runs on a network
// thread).
class LogFollower final : public http::ChunkSource {
 public:
  LogFollower(std::string path, uint64_t offset, std::string run_id, domain::RunSignals& signals,
              std::string status)
      : path_(std::move(path)),
        offset_(offset),
        run_id_(std::move(run_id)),
        signals_(signals),
        status_(std::move(status)) {}
  ~LogFollower() override {
    if (fd_ >= 0) ::close(fd_);
  }

  bool Pull(std::string& out) override {
    if (auto s = signals_.Get(run_id_)) status_ = *s;
    // Read what is there first, then decide: the last lines come before the end.
    bool idle = Idle(status_);
    ReadMore(out);
    if (!out.empty()) return true;
    return !idle;
  }

  static bool Idle(const std::string& status) {
    return domain::IsFinalRunStatus(status) || status == domain::run_status::kAwaitingApproval;
  }

 private:
  void ReadMore(std::string& out) {
    if (fd_ < 0) {
      fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) return;  // not written yet
    }
    char buf[64 * 1024];
    ssize_t n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(offset_));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      offset_ += static_cast<uint64_t>(n);
    }
  }

  std::string path_;
  uint64_t offset_;
  std::string run_id_;
  domain::RunSignals& signals_;
  std::string status_;
  int fd_ = -1;
};

Reply RunReply(int status, const storage::RunRecord& run) {
  return Reply::Of(status, domain::RunService::RunDocument(run));
}

}  // namespace

void RegisterRunRoutes(http::Router& router, Services& s) {
  const std::string base = kWorkspace;

  // ---- remote executions (the spec) ----
  router.Add({"POST", base + "/remote-executions", Access::kWrite, [&s](Context& ctx) {
                auto e = s.runs.CreateRemoteExecution(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                                      BodyOrEmpty(ctx), ctx.FormBody());
                return Reply::Of(201, domain::RunService::RemoteExecutionDocument(e));
              }});
  router.Add({"GET", base + "/remote-executions/{id}", Access::kRead, [&s](Context& ctx) {
                auto e = s.runs.GetRemoteExecution(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx));
                return Reply::Of(200, domain::RunService::RemoteExecutionDocument(e));
              }});
  http::Route upload{
      "POST", base + "/remote-executions/{id}/upload", Access::kWrite, [&s](Context& ctx) {
        domain::Upload body{ctx.request.body_file, ctx.request.body_size, std::nullopt};
        std::optional<std::string> digest;
        if (auto d = ctx.request.Header("content-digest")) digest = std::string(*d);
        auto e = s.runs.UploadSource(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx), body, digest);
        return Reply::Of(200, domain::RunService::RemoteExecutionDocument(e));
      }};
  upload.spool_body = true;
  upload.body_limit = kMaxSourceBytes;
  upload.accepts_text = true;
  router.Add(std::move(upload));
  router.Add({"GET", base + "/remote-executions/{id}/download", Access::kRead, [&s](Context& ctx) {
                auto e = s.runs.GetRemoteExecution(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx));
                if (e.sha256.empty())
                  Fail(ErrorCode::kNotFound, "remote execution '" + e.id + "' has no source yet");
                Reply r;
                r.status = 200;
                r.content_type = "application/gzip";
                if (auto local = s.db.Blobs().LocalPath(e.sha256))
                  r.body_file = *local;
                else
                  r.raw_body = s.db.Blobs().Read(e.sha256);
                r.headers.emplace_back("Content-Disposition",
                                       "attachment; filename=\"" + e.id + ".tar.gz\"");
                return r;
              }});
  router.Add({"POST", base + "/remote-executions/{id}/execute", Access::kWrite, [&s](Context& ctx) {
                // An optional body (kind, auto_apply, message) is Statehouse's addition.
                domain::RunInput in = RunInputOf(ctx, domain::run_kind::kPlan);
                auto run = s.runs.Execute(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx), in);
                auto e = s.runs.GetRemoteExecution(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx));
                json::object out = domain::RunService::RemoteExecutionDocument(e);
                out["run_id"] = run.id;
                out["run"] = domain::RunService::RunDocument(run);
                return Reply::Of(200, std::move(out));
              }});

  // ---- events (POST is the spec's; GET lists them) ----
  router.Add({"POST", base + "/events", Access::kWrite, [&s](Context& ctx) {
                s.runs.SendEvent(ctx.principal, ScopeOf(ctx), Ws(ctx), ctx.BodyObject(),
                                 ctx.FormBody());
                Reply r;
                r.status = 200;
                r.no_body = true;
                return r;
              }});
  router.Add({"GET", base + "/events", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, {}, storage::SortField::kCreated);
                storage::EventListQuery q;
                q.page = p.query;
                q.pipeline_execution_id = ctx.request.Query("pipeline_execution_id").value_or("");
                q.run_id = ctx.request.Query("run_id").value_or("");
                q.event_type = ctx.request.Query("event_type").value_or("");
                auto page = s.runs.ListEvents(ctx.principal, ScopeOf(ctx), Ws(ctx), q);
                json::array items;
                for (const auto& e : page.items)
                  items.push_back(domain::RunService::EventDocument(e));
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});

  // ---- runs ----
  router.Add({"POST", base + "/runs", Access::kWrite, [&s](Context& ctx) {
                auto run = s.runs.CreateRun(ctx.principal, ScopeOf(ctx), Ws(ctx),
                                            RunInputOf(ctx, domain::run_kind::kPlan));
                return RunReply(201, run);
              }});
  router.Add({"GET", base + "/runs", Access::kRead, [&s](Context& ctx) {
                auto p = http::ParseListParams(ctx.request, 1, {}, storage::SortField::kCreated);
                storage::RunListQuery q;
                q.page = p.query;
                q.statuses = http::QueryList(ctx.request, "status");
                q.kind = ctx.request.Query("kind").value_or("");
                auto page = s.runs.ListRuns(ctx.principal, ScopeOf(ctx), Ws(ctx), q);
                json::array items;
                for (const auto& r : page.items)
                  items.push_back(domain::RunService::RunDocument(r));
                Reply reply = Reply::Of(200, std::move(items));
                http::AddPageHeaders(reply, p, page.total);
                return reply;
              }});
  router.Add({"GET", base + "/runs/{id}", Access::kRead, [&s](Context& ctx) {
                return RunReply(200, s.runs.GetRun(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx)));
              }});
  router.Add({"GET", base + "/runs/{id}/logs", Access::kRead, [&s](Context& ctx) {
                auto run = s.runs.GetRun(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx));
                int64_t offset = 0;
                if (auto o = ctx.request.Query("offset");
                    o && (!ParseInt64(*o, offset) || offset < 0))
                  Fail(ErrorCode::kInvalidArgument, "offset: must be a non-negative integer");
                bool follow = http::QueryBool(ctx.request, "follow").value_or(false);
                std::string path = domain::RunLogPath(s.runs.DataDir(), run.id);
                Reply r;
                r.status = 200;
                r.content_type = "text/plain; charset=utf-8";
                r.headers.emplace_back("X-Run-Status", run.status);
                if (follow && !LogFollower::Idle(run.status)) {
                  r.stream = std::make_shared<LogFollower>(path, static_cast<uint64_t>(offset),
                                                           run.id, s.runs.Signals(), run.status);
                  return r;
                }
                // The log as it is now; X-Log-Offset is where the next read starts.
                std::string bytes;
                int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
                if (fd >= 0) {
                  struct stat st {};
                  ::fstat(fd, &st);
                  if (st.st_size > offset) {
                    bytes.resize(static_cast<size_t>(st.st_size - offset));
                    ssize_t n = ::pread(fd, bytes.data(), bytes.size(), offset);
                    bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
                  }
                  ::close(fd);
                }
                r.headers.emplace_back("X-Log-Offset",
                                       std::to_string(offset + static_cast<int64_t>(bytes.size())));
                r.raw_body = std::move(bytes);
                return r;
              }});
  router.Add({"POST", base + "/runs/{id}/approve", Access::kWrite, [&s](Context& ctx) {
                return RunReply(200, s.runs.Approve(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx)));
              }});
  router.Add({"POST", base + "/runs/{id}/discard", Access::kWrite, [&s](Context& ctx) {
                return RunReply(200, s.runs.Discard(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx)));
              }});
  router.Add({"POST", base + "/runs/{id}/cancel", Access::kWrite, [&s](Context& ctx) {
                return RunReply(200, s.runs.Cancel(ctx.principal, ScopeOf(ctx), Ws(ctx), Id(ctx)));
              }});
}

}  // namespace statehouse::api
