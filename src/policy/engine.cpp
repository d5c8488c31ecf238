#include "policy/engine.h"

#include <algorithm>

#include "policy/compiled.h"
#include "policy/evaluator.h"
#include "policy/parser.h"

namespace statehouse::policy {

namespace {

class CompiledPolicyImpl : public CompiledPolicy {
 public:
  explicit CompiledPolicyImpl(std::unique_ptr<internal::Program> program)
      : program_(std::move(program)) {}

  QueryResult Query(std::string_view query, const Value& input,
                    const EvalOptions& options) const override {
    internal::CompiledQuery compiled = internal::CompileQuery(*program_, query);
    internal::Evaluator evaluator(*program_, input, options);
    return evaluator.RunQuery(compiled);
  }

  std::optional<Value> Evaluate(const std::vector<std::string>& path, const Value& input,
                                const EvalOptions& options,
                                std::vector<std::string>* prints) const override {
    internal::Evaluator evaluator(*program_, input, options);
    std::optional<Value> out = evaluator.EvalPath(path);
    if (prints) *prints = std::move(evaluator.prints());
    return out;
  }

  std::vector<std::string> Packages() const override { return program_->packages; }

  std::vector<TestRule> Tests() const override {
    std::vector<TestRule> tests;
    for (const auto& rs : program_->rule_sets) {
      const std::string& name = rs->path.back();
      if (name.rfind("test_", 0) != 0 || rs->kind == RuleKind::kFunction) continue;
      TestRule t;
      t.package.assign(rs->path.begin(), rs->path.end() - 1);
      t.name = name;
      if (!rs->rules.empty()) t.loc = rs->rules[0]->loc;
      tests.push_back(std::move(t));
    }
    std::sort(tests.begin(), tests.end(), [](const TestRule& a, const TestRule& b) {
      if (a.loc.file != b.loc.file) return a.loc.file < b.loc.file;
      return a.loc.line < b.loc.line;
    });
    return tests;
  }

 private:
  std::unique_ptr<internal::Program> program_;
};

}  // namespace

std::shared_ptr<const CompiledPolicy> Engine::Compile(const std::vector<ModuleSource>& modules,
                                                      const Value& data) {
  std::vector<std::unique_ptr<Module>> parsed;
  parsed.reserve(modules.size());
  for (const auto& source : modules) {
    parsed.push_back(std::make_unique<Module>(ParseModule(source.file, source.text)));
  }
  return std::make_shared<CompiledPolicyImpl>(internal::CompileProgram(std::move(parsed), data));
}

}  // namespace statehouse::policy
