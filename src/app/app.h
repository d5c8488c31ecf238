// Wiring: open storage, bootstrap, build routes and run the server; the operator commands.
#pragma once

#include <string>

#include "app/config.h"

namespace statehouse::app {

// Returns the process exit code.
int Serve(const Config& config);
int AdminCreateAccount(const Config& config, const std::string& account);
int AdminCreateToken(const Config& config, const std::string& account, const std::string& role,
                     const std::string& org, const std::string& project);
// statehouse admin gc: retention and one blob sweep (domain/retention.h).
int AdminGc(const Config& config);

}  // namespace statehouse::app
