#include "domain/terraform_plan.h"

#include <boost/json.hpp>

#include "domain/terraform_state.h"

namespace statehouse::domain::tfplan {

namespace json = boost::json;

namespace {

json::value Placeholder() { return json::string(tfstate::kSensitivePlaceholder); }

// Terraform's sensitivity markers mirror the value: `true` marks a value (or a whole subtree)
// sensitive; objects and arrays of markers point further down.
void RedactByMarker(json::value& value, const json::value& marker) {
  if (marker.is_bool()) {
    if (marker.get_bool() && !value.is_null()) value = Placeholder();
    return;
  }
  if (marker.is_object() && value.is_object()) {
    for (const auto& m : marker.get_object()) {
      if (json::value* child = value.get_object().if_contains(m.key()))
        RedactByMarker(*child, m.value());
    }
    return;
  }
  if (marker.is_array() && value.is_array()) {
    const auto& marks = marker.get_array();
    auto& items = value.get_array();
    for (size_t i = 0; i < marks.size() && i < items.size(); ++i)
      RedactByMarker(items[i], marks[i]);
  }
}

void RedactModule(json::value& module) {
  if (!module.is_object()) return;
  auto& m = module.get_object();
  if (json::value* resources = m.if_contains("resources"); resources && resources->is_array()) {
    for (auto& r : resources->get_array()) {
      if (!r.is_object()) continue;
      json::value* values = r.get_object().if_contains("values");
      const json::value* marks = r.get_object().if_contains("sensitive_values");
      if (values && marks) RedactByMarker(*values, *marks);
    }
  }
  if (json::value* children = m.if_contains("child_modules"); children && children->is_array()) {
    for (auto& child : children->get_array()) RedactModule(child);
  }
}

void RedactOutputs(json::value* outputs) {
  if (!outputs || !outputs->is_object()) return;
  for (auto& o : outputs->get_object()) {
    if (!o.value().is_object()) continue;
    auto& out = o.value().get_object();
    const json::value* sensitive = out.if_contains("sensitive");
    if (sensitive && sensitive->is_bool() && sensitive->get_bool() && out.contains("value")) {
      out["value"] = Placeholder();
    }
  }
}

void RedactValues(json::value* values) {
  if (!values || !values->is_object()) return;
  RedactOutputs(values->get_object().if_contains("outputs"));
  if (json::value* root = values->get_object().if_contains("root_module")) RedactModule(*root);
}

// Defaults of variables a module's configuration declares sensitive, in this module and the
// modules it calls.
void RedactConfigModule(json::value* module) {
  if (!module || !module->is_object()) return;
  auto& m = module->get_object();
  if (json::value* vars = m.if_contains("variables"); vars && vars->is_object()) {
    for (auto& v : vars->get_object()) {
      if (!v.value().is_object()) continue;
      auto& decl = v.value().get_object();
      const json::value* sensitive = decl.if_contains("sensitive");
      if (sensitive && sensitive->is_bool() && sensitive->get_bool() && decl.contains("default")) {
        decl["default"] = Placeholder();
      }
    }
  }
  if (json::value* calls = m.if_contains("module_calls"); calls && calls->is_object()) {
    for (auto& call : calls->get_object()) {
      if (call.value().is_object())
        RedactConfigModule(call.value().get_object().if_contains("module"));
    }
  }
}

void RedactChange(json::value& change) {
  if (!change.is_object()) return;
  auto& c = change.get_object();
  for (const char* side : {"before", "after"}) {
    json::value* value = c.if_contains(side);
    const json::value* marks = c.if_contains(std::string(side) + "_sensitive");
    if (value && marks) RedactByMarker(*value, *marks);
  }
}

}  // namespace

bool IsPlan(const json::value& doc) {
  if (!doc.is_object()) return false;
  const auto& o = doc.get_object();
  return o.contains("format_version") &&
         (o.contains("resource_changes") || o.contains("planned_values") ||
          o.contains("configuration"));
}

void RedactPlan(json::value& plan) {
  if (!plan.is_object()) return;
  auto& p = plan.get_object();
  if (json::value* changes = p.if_contains("resource_changes"); changes && changes->is_array()) {
    for (auto& rc : changes->get_array()) {
      if (rc.is_object()) {
        if (json::value* change = rc.get_object().if_contains("change")) RedactChange(*change);
      }
    }
  }
  if (json::value* drift = p.if_contains("resource_drift"); drift && drift->is_array()) {
    for (auto& rc : drift->get_array()) {
      if (rc.is_object()) {
        if (json::value* change = rc.get_object().if_contains("change")) RedactChange(*change);
      }
    }
  }
  if (json::value* outputs = p.if_contains("output_changes"); outputs && outputs->is_object()) {
    for (auto& o : outputs->get_object()) RedactChange(o.value());
  }
  RedactValues(p.if_contains("planned_values"));
  if (json::value* prior = p.if_contains("prior_state"); prior && prior->is_object()) {
    RedactValues(prior->get_object().if_contains("values"));
  }
  // Root variables declared sensitive in the configuration, and their declared defaults.
  json::value* variables = p.if_contains("variables");
  json::value* config = p.if_contains("configuration");
  if (config && config->is_object())
    RedactConfigModule(config->get_object().if_contains("root_module"));
  if (variables && variables->is_object() && config && config->is_object()) {
    const json::value* root = config->get_object().if_contains("root_module");
    const json::value* declared =
        root && root->is_object() ? root->get_object().if_contains("variables") : nullptr;
    if (declared && declared->is_object()) {
      for (auto& v : variables->get_object()) {
        const json::value* decl = declared->get_object().if_contains(v.key());
        if (!decl || !decl->is_object()) continue;
        const json::value* sensitive = decl->get_object().if_contains("sensitive");
        if (sensitive && sensitive->is_bool() && sensitive->get_bool() && v.value().is_object() &&
            v.value().get_object().contains("value")) {
          v.value().get_object()["value"] = Placeholder();
        }
      }
    }
  }
}

}  // namespace statehouse::domain::tfplan
