#include "app/config.h"

#include <yaml-cpp/yaml.h>

#include "common/error.h"
#include "common/util.h"

namespace statehouse::app {

ListenAddress ParseListen(const std::string& text) {
  ListenAddress out;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      Fail(ErrorCode::kInvalidArgument, "--listen: expected [IPv6]:PORT, got '" + text + "'");
    out.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos)
      Fail(ErrorCode::kInvalidArgument, "--listen: expected HOST:PORT, got '" + text + "'");
    out.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty()) out.host = "0.0.0.0";
  if (out.host == "localhost") out.host = "127.0.0.1";
  int64_t port;
  if (!ParseInt64(port_text, port) || port < 0 || port > 65535)
    Fail(ErrorCode::kInvalidArgument, "--listen: invalid port '" + port_text + "'");
  out.port = static_cast<uint16_t>(port);
  return out;
}

DatabaseTarget ResolveDatabase(const std::string& url, const std::string& data_dir) {
  DatabaseTarget t;
  if (url.empty()) {
    t.location = data_dir + "/statehouse.db";
    return t;
  }
  auto starts = [&](std::string_view p) { return url.rfind(p, 0) == 0; };
  if (starts("postgres://") || starts("postgresql://")) {
    t.kind = DatabaseKind::kPostgres;
    t.location = url;
    return t;
  }
  if (starts("sqlite://"))
    t.location = url.substr(9);  // sqlite:///abs -> /abs
  else if (starts("sqlite:"))
    t.location = url.substr(7);
  else if (url.find("://") != std::string::npos)
    Fail(ErrorCode::kInvalidArgument,
         "--database: unsupported URL scheme in '" + url + "' (use sqlite:///path or postgres://)");
  else
    t.location = url;
  if (t.location.empty()) Fail(ErrorCode::kInvalidArgument, "--database: empty SQLite path");
  return t;
}

void ApplyConfigFileImpl(const std::string& path, Config& config,
                         bool (*is_set)(const char*, void*), void* ctx) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    Fail(ErrorCode::kInvalidArgument, "config file " + path + ": " + e.what());
  }
  if (!root.IsMap()) Fail(ErrorCode::kInvalidArgument, "config file " + path + ": expected a map");
  for (const auto& kv : root) {
    if (!kv.first.IsScalar())
      Fail(ErrorCode::kInvalidArgument, "config file " + path + ": keys must be plain names");
    std::string key = kv.first.Scalar();
    if (is_set(key.c_str(), ctx)) continue;
    if (!kv.second.IsScalar() || (kv.second.Tag() == "?" && kv.second.Scalar().empty()))
      Fail(ErrorCode::kInvalidArgument, "config file " + path + ": '" + key + "' needs a value");
    if (kv.second.Tag() != "!" && (kv.second.Scalar() == "~" || kv.second.Scalar() == "null"))
      Fail(ErrorCode::kInvalidArgument, "config file " + path + ": '" + key + "' needs a value");
    try {
      if (key == "listen")
        config.listen = kv.second.as<std::string>();
      else if (key == "data-dir" || key == "data_dir")
        config.data_dir = kv.second.as<std::string>();
      else if (key == "database")
        config.database = kv.second.as<std::string>();
      else if (key == "log-level" || key == "log_level")
        config.log_level = kv.second.as<std::string>();
      else if (key == "max-body-bytes" || key == "max_body_bytes")
        config.max_body_bytes = kv.second.as<uint64_t>();
      else if (key == "io-threads" || key == "io_threads")
        config.io_threads = kv.second.as<int>();
      else if (key == "worker-threads" || key == "worker_threads")
        config.worker_threads = kv.second.as<int>();
      else if (key == "read-threads" || key == "read_threads")
        config.read_threads = kv.second.as<int>();
      else if (key == "max-state-bytes" || key == "max_state_bytes")
        config.max_state_bytes = kv.second.as<uint64_t>();
      else if (key == "header-timeout-seconds" || key == "header_timeout_seconds")
        config.header_timeout_seconds = kv.second.as<int>();
      else if (key == "idle-timeout-seconds" || key == "idle_timeout_seconds")
        config.idle_timeout_seconds = kv.second.as<int>();
      else if (key == "body-timeout-seconds" || key == "body_timeout_seconds")
        config.body_timeout_seconds = kv.second.as<int>();
      else if (key == "max-connections" || key == "max_connections")
        config.max_connections = kv.second.as<int>();
      else if (key == "replica-staleness-ms" || key == "replica_staleness_ms")
        config.replica_staleness_ms = kv.second.as<int>();
      else if (key == "runner-slots" || key == "runner_slots")
        config.runner_slots = kv.second.as<int>();
      else if (key == "terraform-bin" || key == "terraform_bin")
        config.terraform_bin = kv.second.as<std::string>();
      else if (key == "tofu-bin" || key == "tofu_bin")
        config.tofu_bin = kv.second.as<std::string>();
      else if (key == "run-timeout-seconds" || key == "run_timeout_seconds")
        config.run_timeout_seconds = kv.second.as<int>();
      else if (key == "secrets-file" || key == "secrets_file")
        config.secrets_file = kv.second.as<std::string>();
      else if (key == "runner-id" || key == "runner_id")
        config.runner_id = kv.second.as<std::string>();
      else if (key == "pricing-dir" || key == "pricing_dir")
        config.pricing_dir = kv.second.as<std::string>();
      else if (key == "ui-dir" || key == "ui_dir")
        config.ui_dir = kv.second.as<std::string>();
      else if (key == "tls-cert" || key == "tls_cert")
        config.tls_cert = kv.second.as<std::string>();
      else if (key == "tls-key" || key == "tls_key")
        config.tls_key = kv.second.as<std::string>();
      else if (key == "metrics-listen" || key == "metrics_listen")
        config.metrics_listen = kv.second.as<std::string>();
      else if (key == "state-versions-keep" || key == "state_versions_keep")
        config.state_versions_keep = kv.second.as<int64_t>();
      else if (key == "state-versions-max-age-days" || key == "state_versions_max_age_days")
        config.state_versions_max_age_days = kv.second.as<int64_t>();
      else if (key == "gc-interval-seconds" || key == "gc_interval_seconds")
        config.gc_interval_seconds = kv.second.as<int64_t>();
      else if (key == "gc-grace-seconds" || key == "gc_grace_seconds")
        config.gc_grace_seconds = kv.second.as<int64_t>();
      else
        Fail(ErrorCode::kInvalidArgument, "config file " + path + ": unknown key '" + key + "'");
    } catch (const YAML::Exception& e) {
      Fail(ErrorCode::kInvalidArgument, "config file " + path + ": bad value for '" + key + "'");
    }
  }
}

}  // namespace statehouse::app
