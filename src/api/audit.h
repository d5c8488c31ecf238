// The audit trail's side of the API: the name of every write route (the action table), the
// dispatcher hook that turns a request into an audit record, and GET /v1/audit.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/audit.h"
#include "http/router.h"
#include "storage/records.h"

namespace statehouse::api {

// One write route's name in the audit trail.
struct AuditAction {
  std::string method;
  std::string pattern;  // the route's template, as registered
  std::string action;   // "<resource>.<verb>"
  // The record's target, expanded per request: '/'-separated pieces, each literal text, a path
  // parameter "{name}", a query parameter "{?name}", or a field of the body "{body:a.b}" (the
  // identifier a create names); pieces that come out empty are left out.
  std::string target;
};

// Every write route's entry (the unit tests check that every registered write route has one).
const std::vector<AuditAction>& AuditActions();
// nullptr when the route has none.
const AuditAction* FindAuditAction(std::string_view method, std::string_view pattern);

// The record of one audited request. A route without an entry still gets one, named
// "<method> <pattern>".
storage::AuditRecord AuditRecordOf(const http::AuditedRequest& request, int64_t now);

// The dispatcher's audit hook: queues AuditRecordOf each request in the trail.
std::function<void(const http::AuditedRequest&)> AuditHook(domain::AuditTrail& trail);

}  // namespace statehouse::api
