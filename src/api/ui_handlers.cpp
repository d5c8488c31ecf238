// The web console: /ui and every /ui/... deep link answer index.html; the console's files are
// served under /ui/assets/<build id>/ with year-long immutable caching (the build id changes
// with their content), gzipped when the client accepts it. Public: the console signs in with
// a token it keeps itself and then uses the API like any other client.
#include <fstream>
#include <map>
#include <sstream>

#include "api/routes.h"
#include "api/ui_assets.h"
#include "common/util.h"

namespace statehouse::api {
namespace {

// No inline scripts or styles, nothing from elsewhere, no framing.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";
constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kRevalidate = "no-cache";
constexpr std::string_view kDevBuildId = "dev";

std::string_view ContentTypeOf(std::string_view path) {
  if (path.ends_with(".html")) return "text/html; charset=utf-8";
  if (path.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (path.ends_with(".css")) return "text/css; charset=utf-8";
  if (path.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

// Accept-Encoding names gzip (or *) with a q-value above zero.
bool AcceptsGzip(const http::Request& request) {
  auto header = request.Header("accept-encoding");
  if (!header) return false;
  std::string_view rest = *header;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t semi = item.find(';');
    std::string_view coding = Trim(item.substr(0, semi));
    if (!IEquals(coding, "gzip") && coding != "*") continue;
    if (semi == std::string_view::npos) return true;
    std::string_view param = Trim(item.substr(semi + 1));
    if (param.size() < 2 || !IEquals(param.substr(0, 2), "q=")) return true;
    std::string_view q = Trim(param.substr(2));
    bool zero = q == "0" || (q.starts_with("0.") && q.find_first_not_of('0', 2) == q.npos);
    return !zero;
  }
  return false;
}

http::Reply FileReply(std::string body, std::string_view path, std::string_view cache_control,
                      bool gzipped) {
  http::Reply reply;
  reply.status = 200;
  reply.raw_body = std::move(body);
  reply.content_type = std::string(ContentTypeOf(path));
  reply.headers.emplace_back("Cache-Control", std::string(cache_control));
  reply.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  reply.headers.emplace_back("X-Content-Type-Options", "nosniff");
  reply.headers.emplace_back("Referrer-Policy", "no-referrer");
  reply.headers.emplace_back("X-Frame-Options", "DENY");
  reply.headers.emplace_back("Vary", "Accept-Encoding");
  if (gzipped) reply.headers.emplace_back("Content-Encoding", "gzip");
  return reply;
}

[[noreturn]] void NoSuchAsset(std::string_view path) {
  Fail(ErrorCode::kNotFound,
       "the console has no file " + std::string(path) + " (after an upgrade, reload the page)");
}

// The files of the binary.
class ShippedFiles {
 public:
  ShippedFiles() {
    for (const EmbeddedUiFile& f : ShippedUi().files) files_.emplace(f.path, &f);
  }
  http::Reply Get(std::string_view path, std::string_view cache_control,
                  const http::Request& request) const {
    auto it = files_.find(path);
    if (it == files_.end()) NoSuchAsset(path);
    bool gzip = AcceptsGzip(request);
    const EmbeddedUiFile& f = *it->second;
    return FileReply(std::string(gzip ? f.gzip : f.plain), path, cache_control, gzip);
  }

 private:
  std::map<std::string_view, const EmbeddedUiFile*, std::less<>> files_;
};

// --ui-dir: the files as they are on disk now, for work on the console without a rebuild.
std::string ReadDevFile(const std::string& dir, std::string_view path) {
  // Only plain relative names: no "..", ".", hidden files or backslashes.
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (seg.empty() || seg.front() == '.' || seg.find('\\') != std::string_view::npos ||
        seg.find('\0') != std::string_view::npos)
      NoSuchAsset(path);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::ifstream in(dir + "/" + std::string(path), std::ios::binary);
  if (!in) NoSuchAsset(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

void RegisterUiRoutes(http::Router& router, const std::string& ui_dir) {
  auto shipped = std::make_shared<ShippedFiles>();
  std::string build_id(ui_dir.empty() ? ShippedUi().build_id : kDevBuildId);

  auto index = [shipped, ui_dir, build_id](http::Context& ctx) {
    if (ui_dir.empty()) return shipped->Get("index.html", kRevalidate, ctx.request);
    std::string html = ReadDevFile(ui_dir, "index.html");
    const std::string placeholder = "__ASSETS__", prefix = "/ui/assets/" + build_id;
    for (size_t at = html.find(placeholder); at != std::string::npos;
         at = html.find(placeholder, at + prefix.size()))
      html.replace(at, placeholder.size(), prefix);
    return FileReply(std::move(html), "index.html", kRevalidate, false);
  };
  router.Add({"GET", "/ui", http::Access::kPublic, index});
  router.Add({"GET", "/ui/{path...}", http::Access::kPublic,
              [shipped, ui_dir, build_id, index](http::Context& ctx) {
                std::string_view path = ctx.Param("path");
                constexpr std::string_view kAssets = "assets/";
                if (!path.starts_with(kAssets)) return index(ctx);  // a deep link
                path.remove_prefix(kAssets.size());
                size_t slash = path.find('/');
                if (slash == std::string_view::npos || path.substr(0, slash) != build_id)
                  NoSuchAsset(path);
                path.remove_prefix(slash + 1);
                if (!ui_dir.empty())
                  return FileReply(ReadDevFile(ui_dir, path), path, kRevalidate, false);
                return shipped->Get(path, kImmutable, ctx.request);
              }});
  router.Add({"GET", "/", http::Access::kPublic, [](http::Context&) {
                http::Reply reply;
                reply.status = 302;
                reply.no_body = true;
                reply.headers.emplace_back("Location", "/ui");
                return reply;
              }});
}

}  // namespace statehouse::api
