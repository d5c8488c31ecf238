// statehouse serve | statehouse admin ...
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "app/app.h"
#include "app/backup.h"
#include "app/config.h"
#include "cli/cost_cli.h"
#include "cli/policy_cli.h"
#include "cli/pricing_cli.h"
#include "cli/run_cli.h"

int main(int argc, char** argv) {
  using statehouse::app::Config;
  CLI::App cli{"Statehouse: a self-hosted Infrastructure-as-Code management server"};
  cli.require_subcommand(1);
  Config config;
  std::string config_file;

  // Each subcommand binds its own Config: CLI11 applies environment values of every
  // subcommand's options, so a shared field would let admin's env default overwrite serve's flag.
  Config admin_config;
  auto add_storage_flags = [](CLI::App* sub, Config& target) {
    sub->add_option("--data-dir", target.data_dir, "Data directory")
        ->envname("STATEHOUSE_DATA_DIR")
        ->capture_default_str();
    sub->add_option("--database", target.database,
                    "Database URL (default: SQLite file in the data dir; sqlite:///path)")
        ->envname("STATEHOUSE_DATABASE_URL");
  };

  CLI::App* serve = cli.add_subcommand("serve", "Run the API server");
  serve->add_option("--config", config_file, "YAML config file")->envname("STATEHOUSE_CONFIG");
  serve->add_option("--listen", config.listen, "HOST:PORT to listen on")
      ->envname("STATEHOUSE_LISTEN")
      ->capture_default_str();
  add_storage_flags(serve, config);
  serve->add_option("--log-level", config.log_level, "debug|info|warn|error|off")
      ->envname("STATEHOUSE_LOG_LEVEL")
      ->capture_default_str();
  serve
      ->add_option("--max-body-bytes", config.max_body_bytes,
                   "Largest request body accepted on metadata endpoints")
      ->envname("STATEHOUSE_MAX_BODY_BYTES")
      ->capture_default_str();
  serve->add_option("--io-threads", config.io_threads, "Network threads (0: one per core)")
      ->envname("STATEHOUSE_IO_THREADS");
  serve
      ->add_option("--worker-threads", config.worker_threads, "Handler/database threads for writes")
      ->envname("STATEHOUSE_WORKER_THREADS")
      ->capture_default_str();
  serve
      ->add_option("--read-threads", config.read_threads,
                   "Handler/database threads for reads (0: one per core on SQLite, "
                   "--worker-threads on PostgreSQL)")
      ->envname("STATEHOUSE_READ_THREADS");
  serve
      ->add_option("--replica-staleness-ms", config.replica_staleness_ms,
                   "PostgreSQL: cache answers; a read then reflects every write acknowledged by "
                   "any replica at least this many ms before it (0: no caching, every read "
                   "from the database)")
      ->check(CLI::Range(0, 60000))
      ->envname("STATEHOUSE_REPLICA_STALENESS_MS");

  serve
      ->add_option("--max-state-bytes", config.max_state_bytes,
                   "Largest state upload accepted (streamed to disk)")
      ->envname("STATEHOUSE_MAX_STATE_BYTES")
      ->capture_default_str();
  serve
      ->add_option("--header-timeout-seconds", config.header_timeout_seconds,
                   "Time a client has to send a whole request header")
      ->envname("STATEHOUSE_HEADER_TIMEOUT_SECONDS")
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout-seconds", config.idle_timeout_seconds,
                   "Keep-alive connections without a request are closed after this")
      ->envname("STATEHOUSE_IDLE_TIMEOUT_SECONDS")
      ->capture_default_str();
  serve
      ->add_option("--body-timeout-seconds", config.body_timeout_seconds,
                   "Time to send or receive a body, plus one second per MiB")
      ->envname("STATEHOUSE_BODY_TIMEOUT_SECONDS")
      ->capture_default_str();
  serve->add_option("--max-connections", config.max_connections, "Open connections at most")
      ->envname("STATEHOUSE_MAX_CONNECTIONS")
      ->capture_default_str();
  serve->add_option("--runner-slots", config.runner_slots, "Runs executing at once")
      ->envname("STATEHOUSE_RUNNER_SLOTS")
      ->capture_default_str();
  serve->add_option("--terraform-bin", config.terraform_bin, "Terraform binary (name or path)")
      ->envname("STATEHOUSE_TERRAFORM_BIN")
      ->capture_default_str();
  serve->add_option("--tofu-bin", config.tofu_bin, "OpenTofu binary (name or path)")
      ->envname("STATEHOUSE_TOFU_BIN")
      ->capture_default_str();
  serve
      ->add_option("--run-timeout-seconds", config.run_timeout_seconds,
                   "Time limit of each provisioner step of a run")
      ->envname("STATEHOUSE_RUN_TIMEOUT_SECONDS")
      ->capture_default_str();
  serve
      ->add_option("--secrets-file", config.secrets_file,
                   "JSON object of secret references and values for run variables (mode 0600)")
      ->envname("STATEHOUSE_SECRETS_FILE");
  serve
      ->add_option("--runner-id", config.runner_id,
                   "Names this server's runs for restart recovery (default: the host name)")
      ->envname("STATEHOUSE_RUNNER_ID");
  serve
      ->add_option("--tls-cert", config.tls_cert,
                   "PEM certificate chain: serve HTTPS (TLS 1.2/1.3) instead of HTTP; SIGHUP "
                   "reloads it")
      ->envname("STATEHOUSE_TLS_CERT");
  serve->add_option("--tls-key", config.tls_key, "PEM private key of --tls-cert")
      ->envname("STATEHOUSE_TLS_KEY");
  serve
      ->add_option("--metrics-listen", config.metrics_listen,
                   "HOST:PORT serving GET /metrics without a token (default: only on the API "
                   "port, for admin tokens)")
      ->envname("STATEHOUSE_METRICS_LISTEN");
  serve
      ->add_option("--pricing-dir", config.pricing_dir,
                   "Price catalog files over the shipped prices (default: <data-dir>/pricing)")
      ->envname("STATEHOUSE_PRICING_DIR");
  serve
      ->add_option("--ui-dir", config.ui_dir,
                   "Serve the web console's files from this directory as they are on disk "
                   "(work on ui/ without a rebuild; default: the console built in)")
      ->envname("STATEHOUSE_UI_DIR");

  serve
      ->add_option("--state-versions-keep", config.state_versions_keep,
                   "State versions kept per workspace (0: all; a workspace's state_retention "
                   "overrides it)")
      ->envname("STATEHOUSE_STATE_VERSIONS_KEEP")
      ->capture_default_str();
  serve
      ->add_option("--state-versions-max-age-days", config.state_versions_max_age_days,
                   "State versions older than this expire (0: never; the newest is always kept)")
      ->envname("STATEHOUSE_STATE_VERSIONS_MAX_AGE_DAYS")
      ->capture_default_str();
  serve
      ->add_option("--gc-interval-seconds", config.gc_interval_seconds,
                   "Retention and garbage collection of unreferenced blobs this often (0: never)")
      ->envname("STATEHOUSE_GC_INTERVAL_SECONDS")
      ->capture_default_str();
  serve
      ->add_option("--gc-grace-seconds", config.gc_grace_seconds,
                   "Blobs stored (or stored again) more recently than this are never removed")
      ->envname("STATEHOUSE_GC_GRACE_SECONDS")
      ->capture_default_str();

  CLI::App* admin = cli.add_subcommand("admin", "Offline operator commands");
  admin->require_subcommand(1);
  add_storage_flags(admin, admin_config);
  std::string account, role, org, project;
  CLI::App* create_account = admin->add_subcommand("create-account", "Create an account");
  create_account->add_option("ID", account, "Account identifier")->required();
  CLI::App* create_token = admin->add_subcommand("create-token", "Create an API token");
  create_token->add_option("--account", account, "Account identifier")->required();
  create_token->add_option("--role", role, "viewer|editor|admin")->required();
  create_token->add_option("--org", org, "Limit the token to one organization");
  create_token->add_option("--project", project, "Limit the token to one project (needs --org)");
  std::string backup_dir, restore_dir;
  CLI::App* admin_backup = admin->add_subcommand(
      "backup", "Back up a running server's data (a consistent snapshot) into an empty directory");
  admin_backup->add_option("--to", backup_dir, "Backup directory (new or empty)")->required();
  CLI::App* admin_restore = admin->add_subcommand(
      "restore", "Restore a backup into an empty data directory or an empty PostgreSQL database");
  admin_restore->add_option("--from", restore_dir, "Backup directory")->required();

  CLI::App* admin_gc = admin->add_subcommand(
      "gc",
      "Expire state versions and remove unreferenced blobs now (SQLite: only while no server "
      "runs on the database; PostgreSQL: any time)");
  admin_gc->add_option("--state-versions-keep", admin_config.state_versions_keep,
                       "State versions kept per workspace (0: all)");
  admin_gc->add_option("--state-versions-max-age-days", admin_config.state_versions_max_age_days,
                       "State versions older than this expire (0: never)");

  CLI::App* policy = cli.add_subcommand("policy", "Evaluate and test Rego policies offline");
  policy->require_subcommand(1);
  statehouse::cli::PolicyEvalOptions eval_options;
  CLI::App* eval = policy->add_subcommand("eval", "Evaluate a Rego query (like opa eval)");
  // One value per -d, as in opa eval: `-d p.rego data.x` leaves data.x as the query.
  eval->add_option("-d,--data", eval_options.data_paths,
                   "Policy (.rego) or data (.json, .yaml) file or directory; repeatable")
      ->allow_extra_args(false);
  eval->add_option("-i,--input", eval_options.input_path, "Input document (JSON or YAML)");
  eval->add_option("-f,--format", eval_options.format, "json|pretty")
      ->check(CLI::IsMember({"json", "pretty"}))
      ->capture_default_str();
  eval->add_flag("--fail", eval_options.fail, "Exit 1 when the result is undefined");
  eval->add_flag("--fail-defined", eval_options.fail_defined, "Exit 1 when the result is defined");
  eval->add_flag("--strict-builtin-errors", eval_options.strict_builtin_errors,
                 "Halt on the first builtin error instead of making the call undefined");
  eval->add_option("--timeout-ms", eval_options.timeout_ms,
                   "Stop evaluation after this (0: never)");
  eval->add_option("QUERY", eval_options.query, "Query, e.g. data.terraform.deny")->required();
  statehouse::cli::PolicyTestOptions test_options;
  CLI::App* test = policy->add_subcommand("test", "Run test_ rules (like opa test)");
  test->add_option("PATH", test_options.paths, "Policy files or directories")->required();
  test->add_flag("-v,--verbose", test_options.verbose, "List every test");
  test->add_option("-r,--run", test_options.run_filter, "Only tests whose name matches REGEX");

  // CLI-driven runs. Each command binds its own options (see admin_config above).
  statehouse::cli::RemoteRunOptions plan_options, apply_options;
  apply_options.apply = true;
  auto add_run_flags = [](CLI::App* sub, statehouse::cli::RemoteRunOptions& o) {
    sub->add_option("--server", o.server, "Statehouse server URL (http:// only)")
        ->envname("STATEHOUSE_SERVER")
        ->capture_default_str();
    sub->add_option("--workspace", o.workspace, "ORG/PROJECT/WORKSPACE to run in (required)")
        ->envname("STATEHOUSE_WORKSPACE");
    sub->add_option("--dir", o.dir, "Configuration directory to upload (.terraformignore applies)")
        ->capture_default_str();
    sub->add_option("--message", o.message, "Message recorded on the run");
    sub->add_option("--target", o.targets, "Resource address to target; repeatable")
        ->allow_extra_args(false);
    sub->footer(statehouse::cli::kRemoteRunHelp);
  };
  CLI::App* plan_cmd = cli.add_subcommand(
      "plan", "Upload a directory and run a speculative plan on the server (CLI-driven run)");
  add_run_flags(plan_cmd, plan_options);
  plan_cmd->add_flag("--detailed-exitcode", plan_options.detailed_exitcode,
                     "Exit 0 without changes, 2 with changes, 1 on errors");
  CLI::App* apply_cmd = cli.add_subcommand(
      "apply", "Upload a directory, plan it on the server and apply after approval");
  add_run_flags(apply_cmd, apply_options);
  apply_cmd->add_flag("--auto-approve", apply_options.auto_approve,
                      "Apply without asking for approval");

  // Cost estimates on the command line, offline.
  CLI::App* cost_cmd =
      cli.add_subcommand("cost", "Estimate the monthly cost of a Terraform plan offline");
  cost_cmd->require_subcommand(1);
  statehouse::cli::CostOptions breakdown_options, cost_diff_options;
  cost_diff_options.diff = true;
  auto add_cost_flags = [](CLI::App* sub, statehouse::cli::CostOptions& o) {
    sub->add_option("--plan", o.plan_path, "Plan JSON (terraform show -json PLANFILE)")->required();
    sub->add_option("--usage", o.usage_path,
                    "Usage file (Infracost's YAML) for usage-based components");
    sub->add_option("--format", o.format, "table|json")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();
    sub->add_option("--pricing-dir", o.pricing_dir,
                    "Price catalog files over the shipped prices (default: none)");
  };
  CLI::App* cost_breakdown = cost_cmd->add_subcommand(
      "breakdown", "Monthly cost of the resources after the plan (like infracost breakdown)");
  add_cost_flags(cost_breakdown, breakdown_options);
  CLI::App* cost_diff =
      cost_cmd->add_subcommand("diff", "Monthly cost change of the plan (like infracost diff)");
  add_cost_flags(cost_diff, cost_diff_options);
  cost_diff->add_option("--prior-state", cost_diff_options.prior_state_path,
                        "Terraform state (v4 JSON) priced as the before side instead of the "
                        "plan's before values");

  // Cost estimation's price catalog.
  CLI::App* pricing = cli.add_subcommand("pricing", "Manage the price catalog of cost estimates");
  pricing->require_subcommand(1);
  statehouse::cli::PricingImportOptions import_options;
  std::string import_data_dir = "./data";
  CLI::App* pricing_import = pricing->add_subcommand(
      "import",
      "Import a provider's published price file (AWS Price List offer file, Google Cloud "
      "billing SKU list, Azure Retail Prices API pages) into the pricing directory");
  pricing_import->add_option("FILE", import_options.file, "The price file (JSON)")->required();
  pricing_import
      ->add_option("--pricing-dir", import_options.pricing_dir,
                   "Where the server reads catalog files (default: <data-dir>/pricing)")
      ->envname("STATEHOUSE_PRICING_DIR");
  pricing_import->add_option("--data-dir", import_data_dir, "Data directory")
      ->envname("STATEHOUSE_DATA_DIR")
      ->capture_default_str();

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    // plan and apply follow terraform: usage errors exit 2.
    if (code != 0 && (plan_cmd->parsed() || apply_cmd->parsed())) return 2;
    return code;
  }

  if (*serve) {
    if (!config_file.empty()) {
      try {
        statehouse::app::ApplyConfigFile(config_file, config, [&](const char* key) {
          std::string name = key;
          for (char& c : name)
            if (c == '_') c = '-';
          try {
            return serve->get_option("--" + name)->count() > 0;
          } catch (const CLI::OptionNotFound&) {
            return false;
          }
        });
      } catch (const std::exception& e) {
        std::fprintf(stderr, "statehouse: %s\n", e.what());
        return 2;
      }
    }
    return statehouse::app::Serve(config);
  }
  if (*plan_cmd) return statehouse::cli::RemoteRun(plan_options, std::cout, std::cerr);
  if (*apply_cmd) return statehouse::cli::RemoteRun(apply_options, std::cout, std::cerr);
  if (*cost_breakdown) return statehouse::cli::CostCommand(breakdown_options, std::cout, std::cerr);
  if (*cost_diff) return statehouse::cli::CostCommand(cost_diff_options, std::cout, std::cerr);
  if (*pricing_import) {
    if (import_options.pricing_dir.empty())
      import_options.pricing_dir = import_data_dir + "/pricing";
    return statehouse::cli::PricingImport(import_options, std::cout, std::cerr);
  }
  if (*eval) return statehouse::cli::PolicyEval(eval_options, std::cout, std::cerr);
  if (*test) return statehouse::cli::PolicyTest(test_options, std::cout, std::cerr);
  if (*create_account) return statehouse::app::AdminCreateAccount(admin_config, account);
  if (*create_token)
    return statehouse::app::AdminCreateToken(admin_config, account, role, org, project);
  if (*admin_backup) return statehouse::app::AdminBackup(admin_config, backup_dir);
  if (*admin_restore) return statehouse::app::AdminRestore(admin_config, restore_dir);
  if (*admin_gc) return statehouse::app::AdminGc(admin_config);
  return 2;
}
