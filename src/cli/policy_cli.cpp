#include "cli/policy_cli.h"

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <regex>
#include <sstream>

#include "http/codec.h"
#include "policy/engine.h"

namespace statehouse::cli {

namespace {

namespace fs = std::filesystem;
using policy::ModuleSource;
using policy::Value;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot read file");
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool HasExtension(const fs::path& p, std::initializer_list<const char*> exts) {
  std::string ext = p.extension().string();
  for (const char* e : exts) {
    if (ext == e) return true;
  }
  return false;
}

// A JSON or YAML document file.
Value ReadDocument(const fs::path& path) {
  std::string text = ReadFile(path);
  try {
    if (HasExtension(path, {".yaml", ".yml"})) return policy::FromJson(http::ParseYaml(text));
    return policy::ParseJson(text);
  } catch (const std::exception& e) {
    throw std::runtime_error(path.string() + ": " + e.what());
  }
}

// Merges b into a (objects merge recursively; anything else is a conflict).
Value Merge(const Value& a, const Value& b, const std::string& where) {
  if (!a.IsObject() || !b.IsObject()) {
    throw std::runtime_error("data conflict at " + (where.empty() ? "data" : where));
  }
  std::vector<policy::ObjectEntry> entries = a.AsObject().Entries();
  for (const auto& [k, v] : b.AsObject()) {
    const Value* existing = a.Find(k);
    if (existing) {
      entries.emplace_back(k, Merge(*existing, v, where + "." + k.ToJson()));
    } else {
      entries.emplace_back(k, v);
    }
  }
  return Value::MakeObject(std::move(entries));
}

// Wraps doc in objects for each directory between root and the file (OPA's loader places a
// data file under the path of its directory).
Value PlaceAt(const std::vector<std::string>& dirs, Value doc) {
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    doc = Value::MakeObject({{Value::String(*it), doc}});
  }
  return doc;
}

struct Loaded {
  std::vector<ModuleSource> modules;
  Value data = Value::EmptyObject();
};

void LoadFile(const fs::path& file, const std::vector<std::string>& dirs, Loaded& loaded) {
  if (HasExtension(file, {".rego"})) {
    loaded.modules.push_back({file.string(), ReadFile(file)});
  } else if (HasExtension(file, {".json", ".yaml", ".yml"})) {
    loaded.data = Merge(loaded.data, PlaceAt(dirs, ReadDocument(file)), "");
  }
}

Loaded Load(const std::vector<std::string>& paths) {
  Loaded loaded;
  for (const auto& p : paths) {
    fs::path root(p);
    if (!fs::exists(root)) throw std::runtime_error(p + ": no such file or directory");
    if (!fs::is_directory(root)) {
      LoadFile(root, {}, loaded);
      continue;
    }
    std::vector<fs::path> files;
    for (auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (auto& file : files) {
      std::vector<std::string> dirs;
      for (auto& part : fs::relative(file.parent_path(), root)) {
        if (part != ".") dirs.push_back(part.string());
      }
      LoadFile(file, dirs, loaded);
    }
  }
  return loaded;
}

void PrettyPrint(std::ostream& os, const boost::json::value& jv, std::string indent = "") {
  switch (jv.kind()) {
    case boost::json::kind::object: {
      const auto& obj = jv.get_object();
      if (obj.empty()) {
        os << "{}";
        return;
      }
      os << "{\n";
      std::string inner = indent + "  ";
      bool first = true;
      for (const auto& member : obj) {
        if (!first) os << ",\n";
        first = false;
        os << inner << boost::json::serialize(boost::json::value(member.key())) << ": ";
        PrettyPrint(os, member.value(), inner);
      }
      os << "\n" << indent << "}";
      return;
    }
    case boost::json::kind::array: {
      const auto& arr = jv.get_array();
      if (arr.empty()) {
        os << "[]";
        return;
      }
      os << "[\n";
      std::string inner = indent + "  ";
      for (size_t i = 0; i < arr.size(); ++i) {
        if (i) os << ",\n";
        os << inner;
        PrettyPrint(os, arr[i], inner);
      }
      os << "\n" << indent << "]";
      return;
    }
    default:
      os << boost::json::serialize(jv);
  }
}

boost::json::value ResultDocument(const policy::QueryResult& result) {
  boost::json::object doc;
  if (result.rows.empty()) return doc;
  boost::json::array rows;
  for (const auto& row : result.rows) {
    boost::json::object r;
    boost::json::array exprs;
    for (const auto& e : row.expressions) {
      exprs.push_back(boost::json::object{
          {"value", policy::ToBoostJson(e.value)},
          {"text", e.text},
          {"location", boost::json::object{{"row", e.loc.line}, {"col", e.loc.column}}}});
    }
    r["expressions"] = std::move(exprs);
    if (!row.bindings.empty()) {
      boost::json::object b;
      for (const auto& [name, value] : row.bindings) b[name] = policy::ToBoostJson(value);
      r["bindings"] = std::move(b);
    }
    rows.push_back(std::move(r));
  }
  doc["result"] = std::move(rows);
  return doc;
}

}  // namespace

int PolicyEval(const PolicyEvalOptions& options, std::ostream& out, std::ostream& err) {
  policy::QueryResult result;
  try {
    Loaded loaded = Load(options.data_paths);
    Value input;
    if (!options.input_path.empty()) input = ReadDocument(options.input_path);
    auto compiled = policy::Engine::Compile(loaded.modules, loaded.data);
    policy::EvalOptions eval;
    eval.strict_builtin_errors = options.strict_builtin_errors;
    eval.timeout_ms = options.timeout_ms;
    eval.max_memory_bytes = 0;
    result = compiled->Query(options.query, input, eval);
  } catch (const std::exception& e) {
    err << "1 error occurred: " << e.what() << "\n";
    return 2;
  }
  for (const auto& line : result.prints) err << line << "\n";
  boost::json::value doc = ResultDocument(result);
  if (options.format == "pretty") {
    if (result.rows.empty()) {
      out << "undefined\n";
    } else if (result.rows.size() == 1 && result.rows[0].bindings.empty() &&
               result.rows[0].expressions.size() == 1) {
      PrettyPrint(out, policy::ToBoostJson(result.rows[0].expressions[0].value));
      out << "\n";
    } else {
      PrettyPrint(out, doc);
      out << "\n";
    }
  } else {
    PrettyPrint(out, doc);
    out << "\n";
  }
  bool defined = !result.rows.empty();
  if (options.fail && !defined) return 1;
  if (options.fail_defined && defined) return 1;
  return 0;
}

int PolicyTest(const PolicyTestOptions& options, std::ostream& out, std::ostream& err) {
  std::shared_ptr<const policy::CompiledPolicy> compiled;
  try {
    Loaded loaded = Load(options.paths);
    compiled = policy::Engine::Compile(loaded.modules, loaded.data);
  } catch (const std::exception& e) {
    err << "1 error occurred: " << e.what() << "\n";
    return 2;
  }
  std::optional<std::regex> filter;
  if (!options.run_filter.empty()) {
    try {
      filter.emplace(options.run_filter);
    } catch (const std::regex_error& e) {
      err << "--run: invalid regular expression: " << e.what() << "\n";
      return 2;
    }
  }
  int passed = 0, failed = 0, errored = 0;
  std::string current_file;
  for (const auto& test : compiled->Tests()) {
    std::string name = "data.";
    for (const auto& p : test.package) name += p + ".";
    name += test.name;
    if (filter && !std::regex_search(name, *filter)) continue;
    policy::EvalOptions eval;
    eval.timeout_ms = options.timeout_ms;
    auto start = std::chrono::steady_clock::now();
    std::string outcome;
    std::string detail;
    std::vector<std::string> prints;
    try {
      std::vector<std::string> path = test.package;
      path.push_back(test.name);
      auto value = compiled->Evaluate(path, Value(), eval, &prints);
      if (value && !(value->IsBool() && !value->AsBool())) {
        outcome = "PASS";
        ++passed;
      } else {
        outcome = "FAIL";
        ++failed;
      }
    } catch (const std::exception& e) {
      outcome = "ERROR";
      detail = e.what();
      ++errored;
    }
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
    if (options.verbose || outcome != "PASS") {
      if (test.loc.file != current_file) {
        current_file = test.loc.file;
        out << current_file << ":\n";
      }
      std::ostringstream time;
      time.precision(3);
      time << std::fixed << (static_cast<double>(micros) / 1000.0) << "ms";
      out << name << ": " << outcome << " (" << time.str() << ")\n";
      if (!detail.empty()) out << "  " << detail << "\n";
      for (const auto& line : prints) out << "  " << line << "\n";
    }
  }
  int total = passed + failed + errored;
  if (total == 0) {
    out << "no test cases found\n";
    return 2;
  }
  out << std::string(80, '-') << "\n";
  if (passed) out << "PASS: " << passed << "/" << total << "\n";
  if (failed) out << "FAIL: " << failed << "/" << total << "\n";
  if (errored) out << "ERROR: " << errored << "/" << total << "\n";
  return failed || errored ? 2 : 0;
}

}  // namespace statehouse::cli
