// Terraform/OpenTofu state reading (src/domain/terraform_state.*):
//  * tfstate::StateScanner fed in fuzzer-chosen pieces agrees with ParseState + HeaderOf on
//    validity and on the header (and with itself fed in one piece);
//  * Analyze (with and without pruning) and Redact never fail on a parsed v4 state, and no
//    value named by an instance's sensitive_attributes survives Redact or a pruned Analyze;
//    sensitive outputs are redacted;
//  * WithSerial on a v4 state yields a v4 state with the new serial and the same lineage.
//
// Input layout: byte 0 = largest piece (0: one piece), byte 1 = seed of the piece sizes and
// of the serial given to WithSerial, the rest = the state text.
#include <optional>
#include <string>
#include <vector>

#include "domain/terraform_state.h"
#include "fuzz_common.h"

using namespace statehouse;
using namespace statehouse::domain;
namespace json = boost::json;

namespace {

std::string Describe(const tfstate::StateHeader& h) {
  auto opt_i = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
  auto opt_s = [](const std::optional<std::string>& v) { return v ? "\"" + *v + "\"" : std::string("-"); };
  return std::string("{object=") + (h.is_object ? "1" : "0") + " version=" + opt_i(h.version) +
         " serial=" + opt_i(h.serial) + " lineage=" + opt_s(h.lineage) +
         " tf=" + opt_s(h.terraform_version) + " encrypted=" + (h.encrypted ? "1" : "0") + "}";
}

bool SameHeader(const tfstate::StateHeader& a, const tfstate::StateHeader& b) {
  return a.is_object == b.is_object && a.version == b.version && a.serial == b.serial &&
         a.lineage == b.lineage && a.terraform_version == b.terraform_version &&
         a.encrypted == b.encrypted && a.IsV4() == b.IsV4();
}

// Scans text in pieces; nullopt when the scanner rejects it.
std::optional<tfstate::StateHeader> Scan(std::string_view text, size_t max_piece, uint32_t seed) {
  tfstate::StateScanner scanner;
  uint32_t state = seed * 2654435761u + 1;
  try {
    size_t pos = 0;
    while (pos < text.size()) {
      size_t n = text.size() - pos;
      if (max_piece > 0) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        n = std::min(n, 1 + state % max_piece);
      }
      scanner.Feed(text.substr(pos, n));
      pos += n;
    }
    scanner.Feed({});
    scanner.Finish();
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    // Errors are sticky.
    try {
      scanner.Feed("{}");
      fuzz::Die(__FILE__, __LINE__, "Feed after an error did not throw", e.what());
    } catch (const Error&) {
    }
    return std::nullopt;
  }
  return scanner.header();
}

// An independent reading of a sensitive path: the value it names, or nullptr. When stop_at is
// given, the walk stops (returning it) at the first value equal to *stop_at.
const json::value* Walk(const json::value& root, const json::array& steps,
                        const json::value* stop_at) {
  const json::value* cur = &root;
  for (const json::value& sv : steps) {
    if (stop_at && *cur == *stop_at) return cur;
    const json::object* step = sv.if_object();
    if (!step) return nullptr;
    const json::value* type = step->if_contains("type");
    const json::value* arg = step->if_contains("value");
    if (!type || !type->is_string() || !arg) return nullptr;
    if (type->get_string() == "get_attr") {
      if (!cur->is_object() || !arg->is_string()) return nullptr;
      cur = cur->get_object().if_contains(arg->get_string());
    } else if (type->get_string() == "index") {
      const json::value* key = arg;
      if (arg->is_object()) {
        key = arg->get_object().if_contains("value");
        if (!key) return nullptr;
      }
      if (cur->is_object()) {
        if (!key->is_string()) return nullptr;
        cur = cur->get_object().if_contains(key->get_string());
      } else if (cur->is_array()) {
        std::optional<size_t> i;
        if (key->is_int64() && key->get_int64() >= 0) i = static_cast<size_t>(key->get_int64());
        else if (key->is_uint64()) i = static_cast<size_t>(key->get_uint64());
        else if (key->is_double() && key->get_double() >= 0 && key->get_double() < 1e15 &&
                 static_cast<double>(static_cast<size_t>(key->get_double())) == key->get_double())
          i = static_cast<size_t>(key->get_double());
        else if (key->is_string() && !key->get_string().empty() && key->get_string().size() <= 18) {
          size_t n = 0;
          bool digits = true;
          for (char c : key->get_string()) {
            if (c < '0' || c > '9') digits = false;
            n = n * 10 + static_cast<size_t>(c - '0');
          }
          if (digits) i = n;
        }
        if (!i || *i >= cur->get_array().size()) return nullptr;
        cur = &cur->get_array()[*i];
      } else {
        return nullptr;
      }
    } else {
      return nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur;
}

// No value at a sensitive path of `original` survives in `redacted` (same instance).
void CheckRedacted(const json::value& original_attrs, const json::value& redacted_attrs,
                   const json::value& sensitive, const std::string& where) {
  static const json::value kPlaceholder = json::string(tfstate::kSensitivePlaceholder);
  const json::array* paths = sensitive.if_array();
  if (!paths) return;
  for (const json::value& p : *paths) {
    const json::array* steps = p.if_array();
    if (!steps) continue;
    if (steps->empty()) {
      if (!original_attrs.is_object()) continue;
      FUZZ_CHECK(redacted_attrs.is_object(), where);
      for (const auto& kv : redacted_attrs.get_object())
        FUZZ_CHECK(kv.value() == kPlaceholder, where + ": " + std::string(kv.key()) +
                                                   " kept under a whole-object path");
      continue;
    }
    if (!Walk(original_attrs, *steps, nullptr)) continue;  // names nothing
    const json::value* left = Walk(redacted_attrs, *steps, &kPlaceholder);
    FUZZ_CHECK(left && *left == kPlaceholder,
               where + ": sensitive path " + fuzz::Show(p) + " still holds " +
                   (left ? fuzz::Show(*left) : std::string("<nothing>")));
  }
}

void CheckState(const json::value& state) {
  tfstate::StateHeader h = tfstate::HeaderOf(state);
  json::value redacted = tfstate::Redact(state);
  if (!h.IsV4()) {
    // F1: NaN (Boost.JSON 1.81 reads 0e400 as NaN) never compares equal.
    FUZZ_CHECK(!fuzz::AllFinite(state) || redacted == state, "Redact changed a non-v4 document");
    try {
      (void)tfstate::Analyze(state, false);
      fuzz::Die(__FILE__, __LINE__, "Analyze accepted a non-v4 document", fuzz::Show(state));
    } catch (const Error& e) {
      FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    }
    return;
  }
  tfstate::StateAnalysis plain = tfstate::Analyze(state, false);
  tfstate::StateAnalysis pruned = tfstate::Analyze(state, true);
  FUZZ_CHECK(plain.resources.size() == pruned.resources.size(), "");
  FUZZ_CHECK(plain.total_resources == static_cast<int64_t>(plain.resources.size()), "");
  FUZZ_CHECK(tfstate::HeaderOf(redacted).IsV4(), "Redact broke the header");
  // The redacted state is what a download with prune_sensitive_data sends: it must be JSON.
  std::string redacted_text = json::serialize(redacted);
  if (fuzz::AllFinite(state)) {  // F1 otherwise
    boost::system::error_code ec;
    (void)json::parse(redacted_text, ec);
    FUZZ_CHECK(!ec, redacted_text);
  }

  // Redact, instance by instance.
  const json::object& root = state.get_object();
  const json::object& out_root = redacted.get_object();
  const json::value* resources = root.if_contains("resources");
  if (resources && resources->is_array()) {
    const json::value* out_resources = out_root.if_contains("resources");
    FUZZ_CHECK(out_resources && out_resources->is_array() &&
                   out_resources->get_array().size() == resources->get_array().size(),
               "Redact changed the resources list");
    for (size_t r = 0; r < resources->get_array().size(); ++r) {
      const json::object* res = resources->get_array()[r].if_object();
      if (!res) continue;
      const json::value* instances = res->if_contains("instances");
      if (!instances || !instances->is_array()) continue;
      const json::value& out_instances =
          out_resources->get_array()[r].get_object().at("instances");
      for (size_t i = 0; i < instances->get_array().size(); ++i) {
        const json::object* inst = instances->get_array()[i].if_object();
        if (!inst) continue;
        const json::value* attrs = inst->if_contains("attributes");
        const json::value* sensitive = inst->if_contains("sensitive_attributes");
        if (!attrs || !sensitive) continue;
        const json::value& out_attrs = out_instances.get_array()[i].get_object().at("attributes");
        CheckRedacted(*attrs, out_attrs, *sensitive,
                      "resources[" + std::to_string(r) + "].instances[" + std::to_string(i) + "]");
      }
    }
  }
  // Pruned analysis: plain and pruned lists are in the same order; compare instance by instance.
  for (size_t k = 0; k < pruned.resources.size(); ++k) {
    const json::object& p = pruned.resources[k].get_object();
    const json::object& q = plain.resources[k].get_object();
    CheckRedacted(q.at("attributes"), p.at("attributes"), q.at("sensitive_attributes"),
                  "Analyze resources[" + std::to_string(k) + "]");
  }
  for (size_t k = 0; k < pruned.data_sources.size(); ++k) {
    const json::object& p = pruned.data_sources[k].get_object();
    const json::object& q = plain.data_sources[k].get_object();
    CheckRedacted(q.at("attributes"), p.at("attributes"), q.at("sensitive_attributes"),
                  "Analyze data_sources[" + std::to_string(k) + "]");
  }
  for (const json::value& ov : pruned.outputs) {
    const json::object& o = ov.get_object();
    if (o.at("sensitive").as_bool())
      FUZZ_CHECK(o.at("value") == json::value(json::string(tfstate::kSensitivePlaceholder)), "sensitive output shown");
  }
  if (const json::value* outputs = out_root.if_contains("outputs"); outputs && outputs->is_object()) {
    for (const auto& kv : outputs->get_object()) {
      const json::object* o = kv.value().if_object();
      if (!o) continue;
      const json::value* s = o->if_contains("sensitive");
      if (s && s->is_bool() && s->get_bool())
        FUZZ_CHECK(o->at("value") == json::value(json::string(tfstate::kSensitivePlaceholder)), "Redact kept a sensitive output");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size < 2) return 0;
  size_t max_piece = data[0];
  uint32_t seed = data[1];
  std::string_view text = fuzz::AsText(data + 2, size - 2);

  std::optional<tfstate::StateHeader> chunked = Scan(text, max_piece, seed);
  std::optional<tfstate::StateHeader> whole = Scan(text, 0, 0);
  FUZZ_CHECK(chunked.has_value() == whole.has_value(), "piecewise and whole scans disagree");
  if (chunked) FUZZ_CHECK(SameHeader(*chunked, *whole), Describe(*chunked) + " vs " + Describe(*whole));

  json::value state;
  bool parsed = true;
  try {
    state = tfstate::ParseState(text);
  } catch (const Error& e) {
    FUZZ_CHECK(e.code() == ErrorCode::kInvalidArgument, e.what());
    parsed = false;
  }
  FUZZ_CHECK(parsed == chunked.has_value(),
             std::string("ParseState ") + (parsed ? "accepts" : "rejects") + " what the scanner " +
                 (chunked ? "accepts" : "rejects"));
  if (!parsed) return 0;
  tfstate::StateHeader dom_header = tfstate::HeaderOf(state);
  FUZZ_CHECK(SameHeader(dom_header, *chunked),
             "HeaderOf " + Describe(dom_header) + " vs scanner " + Describe(*chunked));

  CheckState(state);

  if (dom_header.IsV4()) {
    int64_t serial = static_cast<int64_t>(seed) * 1000003 - 7;
    std::string rewritten;
    try {
      rewritten = tfstate::WithSerial(text, serial);
    } catch (const Error& e) {
      fuzz::Die(__FILE__, __LINE__, "WithSerial rejected a v4 state", e.what());
    }
    json::value again = tfstate::ParseState(rewritten);
    tfstate::StateHeader h2 = tfstate::HeaderOf(again);
    FUZZ_CHECK(h2.IsV4() && h2.serial == serial && h2.lineage == dom_header.lineage &&
                   h2.version == dom_header.version,
               "WithSerial(" + std::to_string(serial) + ") -> " + Describe(h2) + "\n" + rewritten);
  }
  return 0;
}
