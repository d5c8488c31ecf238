// PolicyService over a real SQLite database and the Rego engine: enforcement, statuses,
// the compiled-policy cache, bounded inputs, scopes.
#include "domain/policies.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>

#include "common/error.h"
#include "storage/sqlite/sqlite_store.h"

namespace statehouse::domain {
namespace {
namespace json = boost::json;
using auth::Principal;
using auth::Role;

ErrorCode CodeOf(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
  ADD_FAILURE() << "expected an Error";
  return ErrorCode::kInternal;
}

constexpr const char* kDenyAnsible = R"(package workspace

deny[msg] {
  input.workspace.provisioner == "ansible"
  msg := "ansible is not allowed"
}
)";

constexpr const char* kDenyMissingTeam = R"(package workspace

deny[msg] {
  not input.workspace.tags.team
  msg := "a team tag is required"
}
)";

constexpr const char* kBooleanDeny = R"(package workspace

deny {
  input.workspace.provisioner == "terragrunt"
}
)";

constexpr const char* kWarnOnly = R"(package workspace

warn[msg] {
  input.workspace.provisioner != "opentofu"
  msg := "prefer opentofu"
}
)";

constexpr const char* kConflict = R"(package workspace

x = 1 { true }
x = 2 { true }
deny[msg] {
  x > 5
  msg := "never"
}
)";

class PolicyServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-policies-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = storage::OpenSqlite((dir_ / "test.db").string(), 2);
    for (const char* account : {"acct", "other"}) {
      ASSERT_TRUE(db_->CreateAccount({account, 1}));
      storage::OrgRecord o;
      o.account = account;
      o.identifier = "o1";
      o.name = "o1";
      o.created = o.updated = 1;
      db_->CreateOrg(o);
      for (const char* project : {"p1", "p2"}) {
        storage::ProjectRecord p;
        p.account = account;
        p.org = "o1";
        p.identifier = project;
        p.name = project;
        p.created = p.updated = 1;
        db_->CreateProject(p);
      }
    }
    service_ = std::make_unique<PolicyService>(*db_);
    admin_.account = "acct";
    admin_.role = Role::kAdmin;
    other_.account = "other";
    other_.role = Role::kAdmin;
  }
  void TearDown() override {
    service_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  void AddPolicy(const PolicyScope& scope, const std::string& id, const std::string& rego,
                 const Principal* who = nullptr) {
    service_->CreatePolicy(who ? *who : admin_, scope, {id, "Policy " + id, rego});
  }
  void AddSet(const PolicyScope& scope, const std::string& id, std::vector<PolicyLinkInput> links,
              bool enabled = true, const std::string& type = "workspace",
              const std::string& action = "onsave", const Principal* who = nullptr) {
    PolicySetInput in;
    in.identifier = id;
    in.name = "Set " + id;
    in.type = type;
    in.action = action;
    in.enabled = enabled;
    in.policies = std::move(links);
    service_->CreatePolicySet(who ? *who : admin_, scope, in);
  }
  PolicyDecision Enforce(const json::value& workspace, const Principal* who = nullptr,
                         const std::string& project = "p1") {
    EnforcementRequest r;
    r.org = "o1";
    r.project = project;
    r.entity_type = PolicyEntity::kWorkspace;
    r.action = PolicyAction::kOnSave;
    r.entity = WorkspaceEntity("acct", "o1", project, "ws");
    r.entity_metadata["workspace"] = "ws";
    json::object input;
    input["workspace"] = workspace;
    return service_->Enforce(who ? *who : admin_, r, input);
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<PolicyService> service_;
  Principal admin_;
  Principal other_;
  const PolicyScope account_{"", ""};
  const PolicyScope org_{"o1", ""};
  const PolicyScope project_{"o1", "p1"};
};

TEST_F(PolicyServiceTest, TheTableNamesHarnessTypesAndActions) {
  EXPECT_EQ(EntityTypeName(PolicyEntity::kWorkspace), "workspace");
  EXPECT_EQ(EntityTypeName(PolicyEntity::kTerraformPlan), "terraformPlan");
  EXPECT_EQ(EntityTypeName(PolicyEntity::kTerraformPlanCost), "terraformPlanCost");
  EXPECT_EQ(EntityTypeName(PolicyEntity::kTerraformState), "terraformState");
  EXPECT_EQ(ActionName(PolicyAction::kOnSave), "onsave");
  EXPECT_EQ(ActionName(PolicyAction::kAfterTerraformPlan), "afterTerraformPlan");
  EXPECT_EQ(ActionName(PolicyAction::kAfterTerraformApply), "afterTerraformApply");
  EXPECT_EQ(ActionName(PolicyAction::kOnForceUnlock), "onforceunlock");
  EXPECT_TRUE(FindTrigger("terraformState", "afterTerraformApply"));
  EXPECT_FALSE(FindTrigger("terraformPlanCost", "afterTerraformApply"));
  EXPECT_FALSE(FindTrigger("workspace", "afterTerraformPlan"));
  std::string message;
  EXPECT_EQ(CodeOf([] { ValidateTrigger("pipeline", "onrun"); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("terraformPlanCost"), std::string::npos) << message;
}

TEST_F(PolicyServiceTest, NothingAppliesNothingIsRecorded) {
  AddPolicy(project_, "deny_ansible", kDenyAnsible);
  AddSet(project_, "off", {{"deny_ansible", "error"}}, /*enabled=*/false);
  AddSet(project_, "plan", {{"deny_ansible", "error"}}, true, "terraformPlan",
         "afterTerraformPlan");
  EnforcementRequest probe;
  probe.org = "o1";
  probe.project = "p1";
  EXPECT_FALSE(service_->Applies(admin_, probe));
  probe.entity_type = PolicyEntity::kTerraformPlan;
  probe.action = PolicyAction::kAfterTerraformPlan;
  EXPECT_TRUE(service_->Applies(admin_, probe));
  probe.project = "p2";
  EXPECT_FALSE(service_->Applies(admin_, probe));
  PolicyDecision d = Enforce(json::object{{"provisioner", "ansible"}});
  EXPECT_EQ(d.status, PolicyStatus::kPass);
  EXPECT_FALSE(d.evaluated);
  EXPECT_TRUE(d.evaluation_json.empty());
  EXPECT_TRUE(d.Evaluation().is_null());
  EXPECT_TRUE(d.Message().empty());
  EXPECT_EQ(service_->ListEvaluations(admin_, project_, {}).total, 0);
}

TEST_F(PolicyServiceTest, SeveritiesDecideTheStatus) {
  AddPolicy(account_, "deny_ansible", kDenyAnsible);
  AddPolicy(org_, "team", kDenyMissingTeam);
  AddPolicy(project_, "warn", kWarnOnly);
  AddPolicy(project_, "boolean", kBooleanDeny);
  AddSet(account_, "a", {{"deny_ansible", "error"}});
  AddSet(org_, "o", {{"team", "warning"}});
  AddSet(project_, "p", {{"warn", "error"}, {"boolean", "error"}});

  PolicyDecision pass = Enforce(json::parse(R"({"provisioner":"opentofu","tags":{"team":"x"}})"));
  EXPECT_EQ(pass.status, PolicyStatus::kPass);
  EXPECT_TRUE(pass.evaluated);
  EXPECT_EQ(pass.outcomes.size(), 4u);

  PolicyDecision warn = Enforce(json::parse(R"({"provisioner":"terraform"})"));
  EXPECT_EQ(warn.status, PolicyStatus::kWarning) << warn.Message();
  EXPECT_FALSE(warn.Blocked());
  EXPECT_EQ(warn.Message(), "- a team tag is required\n- prefer opentofu");

  PolicyDecision error =
      Enforce(json::parse(R"({"provisioner":"terragrunt","tags":{"team":"x"}})"));
  EXPECT_EQ(error.status, PolicyStatus::kError);
  EXPECT_TRUE(error.Blocked());
  EXPECT_NE(error.Message().find("denied by policy 'Policy boolean'"), std::string::npos)
      << error.Message();

  PolicyDecision ansible = Enforce(json::parse(R"({"provisioner":"ansible","tags":{"team":"x"}})"));
  EXPECT_EQ(ansible.status, PolicyStatus::kError);
  json::value parsed = ansible.Evaluation();
  const json::object& doc = parsed.as_object();
  EXPECT_EQ(doc.at("status"), "error");
  EXPECT_EQ(doc.at("type"), "workspace");
  EXPECT_EQ(doc.at("action"), "onsave");
  EXPECT_EQ(doc.at("entity"),
            "accountIdentifier:acct/orgIdentifier:o1/projectIdentifier:p1/"
            "workspaceIdentifier:ws");
  EXPECT_EQ(doc.at("entity_metadata"), R"({"workspace":"ws"})");
  EXPECT_EQ(doc.at("input").at("workspace").at("provisioner"), "ansible");
  const json::array& sets = doc.at("details").as_array();
  ASSERT_EQ(sets.size(), 3u);
  EXPECT_EQ(sets[0].at("identifier"), "a") << "account level first";
  EXPECT_EQ(sets[0].at("status"), "error");
  EXPECT_EQ(sets[0].at("details").at(0).at("deny_messages").at(0), "ansible is not allowed");
  EXPECT_EQ(sets[1].at("status"), "pass");
  // Each evaluated policy shows its text exactly, in the reply and as stored (the cache keeps
  // the text quoted once per compiled policy).
  EXPECT_EQ(sets[0].at("details").at(0).at("policy").at("rego"), kDenyAnsible);
  json::value stored =
      json::parse(service_->GetEvaluation(admin_, project_, ansible.evaluation_id).details_json);
  EXPECT_EQ(stored.at(0).at("details").at(0).at("policy").at("rego"), kDenyAnsible);
  EXPECT_EQ(stored.at(2).at("details").at(1).at("policy").at("rego"), kBooleanDeny);

  json::array data = ansible.DataPolicyEvaluations();
  ASSERT_EQ(data.size(), 4u);
  EXPECT_EQ(data[0].at("policy_set_id"), "account.a");
  EXPECT_EQ(data[0].at("policy_id"), "account.deny_ansible");
  EXPECT_EQ(data[0].at("policy_status"), "error");
  EXPECT_EQ(data[0].at("message"), "ansible is not allowed");
  EXPECT_EQ(data[1].at("policy_set_id"), "org.o");
  EXPECT_EQ(data[2].at("policy_id"), "warn");

  Error refusal = ansible.ViolationError();
  EXPECT_EQ(refusal.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(std::string(refusal.what()).find("ansible is not allowed"), std::string::npos);
  EXPECT_EQ(json::parse(refusal.details_json()).at("policy_evaluation").at("id"),
            ansible.evaluation_id);

  // Everything was recorded, newest first.
  auto history = service_->ListEvaluations(admin_, project_, {});
  ASSERT_EQ(history.total, 4);
  EXPECT_EQ(history.items[0].id, ansible.evaluation_id);
  EXPECT_EQ(service_->GetEvaluation(admin_, project_, warn.evaluation_id).status, "warning");
}

// A deny message is clipped to 4,096 bytes before a character, never inside one (here the
// 4,096th byte begins a 2-byte character); a deeply nested input is deeper than request bodies
// may be: the evaluation still reads back.
TEST_F(PolicyServiceTest, EvaluationsWithClippedMessagesAndDeepInputsReadBack) {
  AddPolicy(project_, "long", R"(package workspace

import rego.v1

deny contains msg if {
  input.workspace.provisioner == "terraform"
  msg := sprintf("%s\u00e9", [concat("", [x | some i in numbers.range(1, 4095); x := "a"])])
}
)");
  AddSet(project_, "s", {{"long", "error"}});
  json::value deep = "leaf";
  for (int i = 0; i < 60; ++i) deep = json::object{{"n", deep}};
  PolicyDecision d = Enforce(json::object{{"provisioner", "terraform"}, {"deep", deep}});
  ASSERT_EQ(d.status, PolicyStatus::kError);
  ASSERT_EQ(d.outcomes.size(), 1u);
  ASSERT_EQ(d.outcomes[0].deny_messages.size(), 1u);
  const std::string& clipped = d.outcomes[0].deny_messages[0];
  EXPECT_EQ(clipped, std::string(4095, 'a') + "...") << "clipped before the \u00e9, then \"...\"";
  json::value doc = d.Evaluation();
  EXPECT_EQ(doc.at("status"), "error");
  EXPECT_TRUE(doc.at("input").at("workspace").at("deep").is_object());
  json::object stored = EvaluationDocument(
      service_->GetEvaluation(admin_, project_, d.evaluation_id), /*with_input=*/true);
  EXPECT_EQ(stored.at("details").at(0).at("details").at(0).at("deny_messages").at(0).as_string(),
            clipped);
  EXPECT_TRUE(stored.at("input").at("workspace").at("deep").at("n").is_object());
}

TEST_F(PolicyServiceTest, EvaluationFailuresAreErrorsWithTheEnginesMessage) {
  AddPolicy(project_, "conflict", kConflict);
  AddPolicy(project_, "fine", kDenyAnsible);
  AddSet(project_, "p", {{"conflict", "warning"}, {"fine", "warning"}});
  PolicyDecision d = Enforce(json::object{{"provisioner", "terraform"}});
  EXPECT_EQ(d.status, PolicyStatus::kError);
  ASSERT_EQ(d.outcomes.size(), 2u);
  EXPECT_NE(d.outcomes[0].error.find("eval_conflict_error"), std::string::npos)
      << d.outcomes[0].error;
  EXPECT_EQ(d.outcomes[1].status, PolicyStatus::kPass) << "one failure does not stop the others";
  EXPECT_NE(d.Message().find("could not be evaluated"), std::string::npos);
}

TEST_F(PolicyServiceTest, CompiledPoliciesAreCachedByContent) {
  std::vector<PolicyLinkInput> links;
  for (int i = 0; i < 10; ++i) {
    std::string id = "p" + std::to_string(i);
    AddPolicy(project_, id,
              "package workspace\n\ndeny[msg] {\n  input.workspace.n == " + std::to_string(i) +
                  "\n  msg := \"n is " + std::to_string(i) + "\"\n}\n");
    links.push_back({id, "error"});
  }
  AddSet(project_, "ten", links);
  AddSet(project_, "same_ten", links);  // a policy in two sets is evaluated once per call
  size_t compiled = service_->Cache().Size();
  EXPECT_EQ(compiled, 10u);
  for (int round = 0; round < 20; ++round) {
    PolicyDecision d = Enforce(json::object{{"n", round % 10}});
    ASSERT_EQ(d.status, PolicyStatus::kError);
    ASSERT_EQ(d.outcomes.size(), 20u);
  }
  EXPECT_EQ(service_->Cache().Size(), compiled) << "nothing compiled again";
  // A changed policy is compiled once more, under its new content.
  PolicyInput change;
  change.rego = std::string(kWarnOnly);
  service_->UpdatePolicy(admin_, project_, "p0", change, std::nullopt);
  EXPECT_EQ(service_->Cache().Size(), compiled + 1);
  EXPECT_EQ(Enforce(json::object{{"provisioner", "opentofu"}, {"n", 99}}).status,
            PolicyStatus::kPass);
}

TEST_F(PolicyServiceTest, TheCacheForgetsTheLeastRecentlyUsed) {
  CompiledPolicyCache cache(2);
  auto a = cache.Get("package a\n");
  cache.Get("package b\n");
  EXPECT_EQ(cache.Get("package a\n"), a);
  cache.Get("package c\n");  // evicts b
  EXPECT_EQ(cache.Size(), 2u);
  EXPECT_EQ(cache.Get("package a\n"), a);
}

TEST_F(PolicyServiceTest, LargeInputsAreStoredAsAMarker) {
  PolicyServiceOptions options;
  options.max_stored_input_bytes = 1024;
  PolicyService small(*db_, options);
  AddPolicy(project_, "deny_ansible", kDenyAnsible);
  AddSet(project_, "p", {{"deny_ansible", "error"}});
  EnforcementRequest r;
  r.org = "o1";
  r.project = "p1";
  json::object input;
  input["workspace"] = json::object{{"provisioner", "ansible"}, {"blob", std::string(4096, 'x')}};
  PolicyDecision d = small.Enforce(admin_, r, input);
  EXPECT_EQ(d.status, PolicyStatus::kError) << "the whole input is evaluated";
  auto stored = small.GetEvaluation(admin_, project_, d.evaluation_id);
  json::value kept = json::parse(stored.input_json);
  EXPECT_EQ(kept.at("truncated"), true);
  EXPECT_GT(kept.at("size_bytes").as_int64(), 4096);
  EXPECT_EQ(kept.at("sha256").as_string().size(), 64u);
}

TEST_F(PolicyServiceTest, AccountsDoNotShareSetsOrHistory) {
  AddPolicy(account_, "deny_ansible", kDenyAnsible);
  AddSet(account_, "a", {{"deny_ansible", "error"}});
  EXPECT_FALSE(Enforce(json::object{{"provisioner", "ansible"}}, &other_).evaluated);
  PolicyDecision mine = Enforce(json::object{{"provisioner", "ansible"}});
  EXPECT_EQ(CodeOf([&] { service_->GetEvaluation(other_, account_, mine.evaluation_id); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->GetPolicy(other_, account_, "deny_ansible"); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->GetPolicySet(other_, account_, "a"); }), ErrorCode::kNotFound);
}

TEST_F(PolicyServiceTest, ScopedPrincipalsReadUpwardsAndWriteInside) {
  Principal scoped = admin_;
  scoped.org = "o1";
  scoped.project = "p1";
  AddPolicy(account_, "shared", kDenyAnsible);
  EXPECT_EQ(service_->GetPolicy(scoped, account_, "shared").identifier, "shared");
  EXPECT_EQ(CodeOf([&] { AddPolicy(account_, "mine", kDenyAnsible, &scoped); }),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(CodeOf([&] {
              service_->ListPolicies(scoped, {"o1", "p2"}, {}, false);
            }),
            ErrorCode::kNotFound);
  AddPolicy(project_, "mine", kDenyAnsible, &scoped);
  // Enforcement runs for the entity's project whoever asks: the caller checked access.
  AddSet(project_, "p", {{"mine", "error"}, {"account.shared", "warning"}}, true, "workspace",
         "onsave", &scoped);
  Principal viewer = scoped;
  viewer.role = Role::kViewer;
  EXPECT_EQ(Enforce(json::object{{"provisioner", "ansible"}}, &viewer).status,
            PolicyStatus::kError);
}

TEST_F(PolicyServiceTest, CompileErrorsCarryOpasMessage) {
  std::string message;
  EXPECT_EQ(CodeOf([&] { AddPolicy(project_, "bad", "package x\n\ndeny[msg] {\n}}\n"); }, &message),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(message.rfind("policy.rego:", 0), 0u) << message;
  EXPECT_NE(message.find("rego_parse_error"), std::string::npos) << message;
  EXPECT_EQ(CodeOf([&] { service_->EvaluateRego(admin_, project_, "package", json::object()); }),
            ErrorCode::kInvalidArgument);
  json::object r = service_->EvaluateRego(
      admin_, project_, kDenyAnsible, json::parse(R"({"workspace":{"provisioner":"ansible"}})"));
  EXPECT_EQ(r.at("status"), "error");
  EXPECT_EQ(r.at("deny_messages").at(0), "ansible is not allowed");
}

}  // namespace
}  // namespace statehouse::domain
