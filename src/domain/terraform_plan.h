// Terraform plan documents (`terraform show -json` of a plan): sensitive values are replaced
// before a plan reaches policy input or a stored evaluation. Nothing here knows HTTP or SQL.
#pragma once

#include <boost/json/value.hpp>

namespace statehouse::domain::tfplan {

// True when the document looks like a plan: an object with "format_version" and one of
// "resource_changes", "planned_values" or "configuration".
bool IsPlan(const boost::json::value& doc);

// Replaces with "(sensitive)" every value Terraform marks sensitive: resource changes'
// before/after by before_sensitive/after_sensitive, planned and prior resource values by
// sensitive_values, sensitive outputs and output changes, and root variables the
// configuration declares sensitive. Anything malformed is left as it is.
void RedactPlan(boost::json::value& plan);

}  // namespace statehouse::domain::tfplan
