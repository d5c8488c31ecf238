// `statehouse plan` and `statehouse apply`: CLI-driven runs (like `terraform plan` against HCP
// Terraform's remote backend) through the server's public HTTP API only: pack a directory
// (.terraformignore honoured), upload it as a remote execution, start the run, stream its log,
// and for apply ask for approval.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace statehouse::cli {

struct RemoteRunOptions {
  bool apply = false;  // statehouse apply (kind apply), else statehouse plan (kind plan)
  std::string server = "http://127.0.0.1:8080";  // http:// only
  std::string workspace;                         // ORG/PROJECT/WORKSPACE
  std::string dir = ".";
  std::string message;
  std::vector<std::string> targets;  // custom_arguments {"-target": [...]}
  bool auto_approve = false;         // apply: no prompt (the run is created with auto_apply)
  bool detailed_exitcode = false;    // plan: exit 2 when the plan has changes
};

// The --help footer of both commands: where the token comes from, the credentials file's
// format and the exit codes.
extern const char* const kRemoteRunHelp;

// Runs the whole flow; the run's log goes to out, everything else to err. Returns the exit
// code: 0 the run ended planned, applied or no_drift; 1 it ended otherwise (failed,
// policy_failed, discarded, cancelled, interrupted), the server refused a request or could
// not be reached; 2 usage errors (options, workspace path, credentials), and with
// detailed_exitcode a plan with changes; 130 Ctrl-C (the run, once started, is cancelled).
int RemoteRun(const RemoteRunOptions& options, std::ostream& out, std::ostream& err);

}  // namespace statehouse::cli
