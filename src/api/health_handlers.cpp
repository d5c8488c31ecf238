#include <boost/json.hpp>

#include "api/routes.h"
#include "common/error.h"

namespace statehouse::api {

void RegisterHealthRoutes(http::Router& router, Services& s) {
  router.Add({"GET", "/healthz", http::Access::kPublic, [](http::Context&) {
                return http::Reply::Of(200, boost::json::object{{"status", "ok"}});
              }});
  router.Add({"GET", "/readyz", http::Access::kPublic, [&s](http::Context&) {
                s.db.Ping();  // throws kUnavailable -> 503
                return http::Reply::Of(200, boost::json::object{{"status", "ready"},
                                                                {"database", s.db.BackendName()}});
              }});
}

}  // namespace statehouse::api
