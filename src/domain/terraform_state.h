// Terraform / OpenTofu state documents (state format version 4): a constant-memory scanner for
// state bodies as they stream in, and the analysis that turns a state into the IaCM resource,
// data source, output and module views, with optional redaction of sensitive values.
//
// Nothing here knows HTTP or SQL. Errors are statehouse::Error with kInvalidArgument.
#pragma once

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace statehouse::domain::tfstate {

// The text that replaces every redacted value.
inline constexpr std::string_view kSensitivePlaceholder = "(sensitive)";

// Top-level scalar fields of a state document.
struct StateHeader {
  bool is_object = false;              // top-level value is an object
  std::optional<int64_t> version;      // top-level "version" (an integer)
  std::optional<int64_t> serial;       // top-level "serial" (an integer)
  std::optional<std::string> lineage;  // top-level "lineage" (a string)
  std::optional<std::string> terraform_version;
  // OpenTofu client-side encryption: top-level "encrypted_data" or "encryption_version" present.
  bool encrypted = false;
  // is_object && version == 4 && serial && lineage && !encrypted
  bool IsV4() const;
};

// The header of an already parsed document, by the same rules as StateScanner (a field of the
// wrong type counts as absent). A document from ParseState has no repeated top-level key that
// matters; in one built otherwise, the DOM's (Boost.JSON's: the last) occurrence counts.
StateHeader HeaderOf(const boost::json::value& state);

// Incremental, constant-memory scan of a state body as it streams in. Validates strict JSON
// syntax (RFC 8259: no comments, no trailing commas, valid UTF-8, exactly one value) and captures
// the top-level scalar fields only; nothing below the top level is kept. Memory is bounded by the
// nesting depth (at most kMaxDepth) and the capture limit of the header strings.
//
// It accepts exactly what ParseState accepts (they parse through the same rules). Beyond JSON
// syntax, a state is refused (kInvalidArgument) when
//  * a number is beyond a double's range (1e400; 0e400, which Boost.JSON reads as NaN):
//    "state has a number out of range";
//  * a top-level key that a reader looks at (version, serial, lineage, terraform_version,
//    encrypted_data, encryption_version, resources, outputs) appears twice:
//    "duplicate key serial in the state". Terraform itself would take the last one; readers
//    that took different ones would see two serials in one state.
class StateScanner {
 public:
  // Deepest nesting accepted; deeper documents are rejected as invalid.
  static constexpr std::size_t kMaxDepth = 1000;
  // Header strings ("lineage", "terraform_version") longer than this are not captured.
  static constexpr std::size_t kMaxCapturedString = 4096;

  StateScanner();
  ~StateScanner();
  StateScanner(const StateScanner&) = delete;
  StateScanner& operator=(const StateScanner&) = delete;

  // Throws Error(kInvalidArgument, "state is not valid JSON: ...") on malformed input, including
  // non-whitespace after the document. Errors are sticky; Feed after Finish is a logic error
  // (kInternal).
  void Feed(std::string_view chunk);
  // Throws kInvalidArgument if the document is incomplete or empty. After it header() is final.
  void Finish();
  const StateHeader& header() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct StateAnalysis {
  boost::json::array
      resources;  // HarnessIacmResource objects for managed resources (one per instance)
  boost::json::array data_sources;  // same for mode "data"
  boost::json::array outputs;       // HarnessIacmOutput {name, value (string), sensitive}
  boost::json::array modules;  // HarnessIacmWorkspacemodule {key, source, version, invocations}
  std::map<std::string, std::set<std::string>>
      type_attributes;          // type -> top-level attribute names
  int64_t total_resources = 0;  // number of managed resource instances
};

// Analyses a v4 state. Throws kInvalidArgument if `state` is not a v4 state object. Malformed
// parts inside a v4 state (a resource that is not an object, a bad sensitive path, ...) are
// skipped, never fatal. With prune_sensitive, every value named by an instance's
// sensitive_attributes paths is replaced by "(sensitive)" in the attributes, and sensitive
// outputs' value becomes "(sensitive)".
//
// Modules: one entry per distinct non-root "module" address that holds at least one resource
// block (managed or data), in address order; invocations counts those blocks.
StateAnalysis Analyze(const boost::json::value& state, bool prune_sensitive);

// The state document with the same redactions applied (for downloads when pruning is on); a
// redacted output also gets "type": "string" so that the result stays a loadable v4 state.
// Non-v4 documents are returned unchanged.
boost::json::value Redact(const boost::json::value& state);

// Returns the state text with its top-level "serial" replaced (rollback writes an old version
// as serial = current + 1). Everything else, formatting included, is kept byte for byte.
// Throws kInvalidArgument if the text is not a v4 state.
std::string WithSerial(std::string_view state_text, int64_t serial);

// Parses a whole state text into a DOM with the scanner's limits and rules (nesting up to
// StateScanner::kMaxDepth; boost::json::parse's default of 32 rejects deep but valid states such
// as Kubernetes manifests; numbers out of range and repeated top-level keys as StateScanner
// says). Throws kInvalidArgument "state is not valid JSON: ..." on bad input, or the scanner's
// messages for the rules.
boost::json::value ParseState(std::string_view text);

// Helpers exposed for the API layer and tests.
// The provider source address inside `provider["..."]` (aliases and module prefixes dropped);
// legacy `provider.aws` gives "aws"; anything else is returned as it is.
std::string ProviderAddress(std::string_view provider_config);
// The instance address: [module.]["data."]type.name[index] with string keys quoted.
std::string InstanceAddress(std::string_view module, bool data, std::string_view type,
                            std::string_view name, const boost::json::value* index_key);
// Replaces, in `attributes`, the value at each path of `sensitive_paths` (Terraform's
// sensitive_attributes list) with "(sensitive)". Malformed or dangling paths are skipped.
void RedactAttributes(boost::json::value& attributes, const boost::json::value& sensitive_paths);

}  // namespace statehouse::domain::tfstate
