// VariableSetService over a real SQLite database in a temporary directory.
#include "domain/variable_sets.h"

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
using storage::VariableSetKey;

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

json::value Body(std::string_view text) { return json::parse(text); }

class VariableSetServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-varsets-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = storage::OpenSqlite((dir_ / "test.db").string(), 2);
    ASSERT_TRUE(db_->CreateAccount({"acct", 1}));
    for (const char* org : {"o1", "o2"}) {
      storage::OrgRecord o;
      o.account = "acct";
      o.identifier = org;
      o.name = org;
      o.created = o.updated = 1;
      db_->CreateOrg(o);
      for (const char* project : {"p1", "p2"}) {
        storage::ProjectRecord p;
        p.account = "acct";
        p.org = org;
        p.identifier = project;
        p.name = project;
        p.created = p.updated = 1;
        db_->CreateProject(p);
      }
    }
    service_ = std::make_unique<VariableSetService>(*db_);
  }
  void TearDown() override {
    service_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  storage::VariableSetRecord Create(const VariableSetKey& level, std::string_view body) {
    return service_->Create(admin_, level, Body(body));
  }

  void AddWorkspace(const std::string& org, const std::string& project, const std::string& id,
                    std::vector<VariableSetKey> sets) {
    storage::WorkspaceRecord w;
    w.account = "acct";
    w.org = org;
    w.project = project;
    w.identifier = id;
    w.name = id;
    w.status = "active";
    w.provisioner = "terraform";
    for (const auto& k : sets) {
      w.variable_sets.push_back(k.org.empty()       ? "account." + k.identifier
                                : k.project.empty() ? "org." + k.identifier
                                                    : k.identifier);
    }
    w.variable_set_keys = std::move(sets);
    w.config_json = "{}";
    w.server_json = "{}";
    w.created = w.updated = 1;
    db_->Workspaces().CreateWorkspace(w, nullptr);
  }

  std::string InvalidMessage(const VariableSetKey& level, std::string_view body) {
    std::string message;
    EXPECT_EQ(CodeOf([&] { Create(level, body); }, &message), ErrorCode::kInvalidArgument) << body;
    return message;
  }

  std::filesystem::path dir_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<VariableSetService> service_;
  Principal admin_{"acct", "t", Role::kAdmin, "", "", ""};
  Principal org1_{"acct", "t", Role::kEditor, "o1", "", ""};
  Principal proj11_{"acct", "t", Role::kEditor, "o1", "p1", ""};
  const VariableSetKey account_{"", "", ""};
  const VariableSetKey org_{"o1", "", ""};
  const VariableSetKey project_{"o1", "p1", ""};
};

TEST_F(VariableSetServiceTest, CreateBuildsDocumentAndCounts) {
  auto r = Create(project_, R"({
    "identifier": "vs1", "name": "Set One", "id": 7, "created": 5, "whatever": true,
    "environment_variables": {"TF_LOG": {"key": "TF_LOG", "value": "DEBUG", "value_type": "string"}},
    "terraform_variables": {
      "region": {"value": "eu-west-1", "value_type": "string"},
      "db_password": {"key": "db_password", "value": "account.db_password", "value_type": "secret"}},
    "terraform_variable_files": [{"repository": "infra", "repository_branch": "main",
                                  "repository_path": "vars/prod.tfvars"}],
    "connectors": [{"connector_ref": "account.aws", "type": "aws"}]})");
  EXPECT_EQ(r.account, "acct");
  EXPECT_EQ(r.org, "o1");
  EXPECT_EQ(r.project, "p1");
  EXPECT_EQ(r.identifier, "vs1");
  EXPECT_EQ(r.name, "Set One");
  EXPECT_EQ(r.env_vars_count, 1);
  EXPECT_EQ(r.tf_vars_count, 2);
  EXPECT_EQ(r.var_files_count, 1);
  EXPECT_GT(r.created, 1'600'000'000'000);
  EXPECT_EQ(r.updated, r.created);

  auto stored = service_->Get(admin_, {"o1", "p1", "vs1"});
  EXPECT_EQ(stored.document_json, r.document_json);
  EXPECT_EQ(stored.tf_vars_count, 2);
  json::object doc = json::parse(stored.document_json).as_object();
  EXPECT_EQ(doc.size(), 4u);
  const auto& region = doc["terraform_variables"].as_object()["region"].as_object();
  EXPECT_EQ(region.at("key"), "region");  // taken from the map key
  EXPECT_EQ(region.at("value"), "eu-west-1");
  EXPECT_EQ(region.at("value_type"), "string");
  EXPECT_EQ(region.at("created").as_int64(), r.created);
  EXPECT_EQ(region.at("updated").as_int64(), r.created);
  EXPECT_FALSE(region.contains("id"));
  const auto& secret = doc["terraform_variables"].as_object()["db_password"].as_object();
  EXPECT_EQ(secret.at("value"), "account.db_password");  // stored as written
  const auto& file = doc["terraform_variable_files"].as_array()[0].as_object();
  EXPECT_EQ(file.at("repository"), "infra");
  EXPECT_EQ(file.at("repository_branch"), "main");
  EXPECT_EQ(file.at("repository_path"), "vars/prod.tfvars");
  EXPECT_FALSE(file.contains("repository_commit"));
  EXPECT_TRUE(file.contains("created") && file.contains("updated"));
  const auto& conn = doc["connectors"].as_array()[0].as_object();
  EXPECT_EQ(conn.at("connector_ref"), "account.aws");
  EXPECT_EQ(conn.at("type"), "aws");
}

TEST_F(VariableSetServiceTest, MinimalCreateHasEmptyCollections) {
  auto r = Create(account_, R"({"identifier": "_a-1", "name": "n"})");
  EXPECT_EQ(r.org, "");
  EXPECT_EQ(r.project, "");
  json::object doc = json::parse(r.document_json).as_object();
  EXPECT_TRUE(doc.at("environment_variables").as_object().empty());
  EXPECT_TRUE(doc.at("terraform_variables").as_object().empty());
  EXPECT_TRUE(doc.at("terraform_variable_files").as_array().empty());
  EXPECT_TRUE(doc.at("connectors").as_array().empty());
  // null counts as absent
  auto n = Create(org_, R"({"identifier": "b", "name": "n", "connectors": null,
                            "terraform_variables": null})");
  EXPECT_EQ(n.tf_vars_count, 0);
}

TEST_F(VariableSetServiceTest, ValidationNamesTheField) {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"name": "n"})", "identifier: is required"},
      {R"({"identifier": 5, "name": "n"})", "identifier: must be a string"},
      {R"({"identifier": "", "name": "n"})", "identifier: must not be empty"},
      {R"({"identifier": "1abc", "name": "n"})", "identifier: must match"},
      {R"({"identifier": "a.b", "name": "n"})", "identifier: must match"},
      {R"({"identifier": "a/b", "name": "n"})", "identifier: must match"},
      {R"({"identifier": "a"})", "name: is required"},
      {R"({"identifier": "a", "name": ""})", "name: must not be empty"},
      {R"({"identifier": "a", "name": ["x"]})", "name: must be a string"},
      {R"({"identifier": "a", "name": "n", "terraform_variables": []})",
       "terraform_variables: must be an object"},
      {R"({"identifier": "a", "name": "n", "terraform_variables": {"r": "x"}})",
       "terraform_variables.r: must be an object"},
      {R"({"identifier": "a", "name": "n", "terraform_variables": {"region": {"value": "x", "value_type": "plain"}}})",
       "terraform_variables.region.value_type: must be one of string, secret"},
      {R"({"identifier": "a", "name": "n", "terraform_variables": {"region": {"value": "x"}}})",
       "terraform_variables.region.value_type: is required"},
      {R"({"identifier": "a", "name": "n", "terraform_variables": {"region": {"value_type": "string"}}})",
       "terraform_variables.region.value: is required"},
      {R"({"identifier": "a", "name": "n", "terraform_variables": {"region": {"value": 3, "value_type": "string"}}})",
       "terraform_variables.region.value: must be a string"},
      {R"({"identifier": "a", "name": "n", "environment_variables": {"A": {"key": "B", "value": "x", "value_type": "string"}}})",
       "environment_variables.A.key: must equal the map key"},
      {R"({"identifier": "a", "name": "n", "environment_variables": {"A": {"key": 1, "value": "x", "value_type": "string"}}})",
       "environment_variables.A.key: must be a string"},
      {R"({"identifier": "a", "name": "n", "environment_variables": {"9A": {"value": "x", "value_type": "string"}}})",
       "environment_variables.9A.key: must match"},
      {R"({"identifier": "a", "name": "n", "environment_variables": {"A": {"value": "x y", "value_type": "secret"}}})",
       "environment_variables.A.value: a secret's value must be a secret reference"},
      {R"({"identifier": "a", "name": "n", "environment_variables": {"A": {"value": "", "value_type": "secret"}}})",
       "environment_variables.A.value: a secret's value must be a secret reference"},
      {R"({"identifier": "a", "name": "n", "terraform_variable_files": {}})",
       "terraform_variable_files: must be an array"},
      {R"({"identifier": "a", "name": "n", "terraform_variable_files": [{"repository_path": "x"}]})",
       "terraform_variable_files[0].repository: is required"},
      {R"({"identifier": "a", "name": "n", "terraform_variable_files": [{"repository": "r", "repository_branch": 1}]})",
       "terraform_variable_files[0].repository_branch: must be a string"},
      {R"({"identifier": "a", "name": "n", "terraform_variable_files": [{"repository": "r"}, {"repository": "r"}]})",
       "terraform_variable_files[1]: duplicates terraform_variable_files[0]"},
      {R"({"identifier": "a", "name": "n", "connectors": [{"type": "aws"}]})",
       "connectors[0].connector_ref: is required"},
      {R"({"identifier": "a", "name": "n", "connectors": [{"connector_ref": "c", "type": "oci"}]})",
       "connectors[0].type: must be one of aws, azure, gcp, vault"},
      {R"({"identifier": "a", "name": "n", "connectors": [{"connector_ref": "c", "type": "aws"}, {"connector_ref": "d", "type": "aws"}]})",
       "connectors[1].type: duplicates connectors[0]"},
      {R"({"identifier": "a", "name": "n", "connectors": ["aws"]})",
       "connectors[0]: must be an object"},
  };
  for (const Case& c : cases) {
    std::string message = InvalidMessage(project_, c.body);
    EXPECT_NE(message.find(c.field), std::string::npos) << c.body << " -> " << message;
  }
  EXPECT_EQ(CodeOf([&] { service_->Create(admin_, project_, json::value(json::array())); }),
            ErrorCode::kInvalidArgument);
  // Nothing was stored.
  EXPECT_EQ(service_->List(admin_, project_, {}).total, 0);
}

TEST_F(VariableSetServiceTest, LengthLimits) {
  std::string id128(128, 'a'), id129(129, 'a');
  Create(account_, R"({"identifier": ")" + id128 + R"(", "name": ")" + id128 + R"("})");
  EXPECT_NE(InvalidMessage(account_, R"({"identifier": ")" + id129 + R"(", "name": "n"})")
                .find("identifier: must be at most 128"),
            std::string::npos);
  EXPECT_NE(InvalidMessage(account_, R"({"identifier": "b", "name": ")" + id129 + R"("})")
                .find("name: must be at most 128"),
            std::string::npos);
  EXPECT_NE(
      InvalidMessage(account_, R"({"identifier": "b", "name": "n", "environment_variables": {")" +
                                   id129 + R"(": {"value": "", "value_type": "string"}}})")
          .find(".key: must be at most 128"),
      std::string::npos);
  EXPECT_NE(InvalidMessage(
                account_, R"({"identifier": "b", "name": "n", "connectors": [{"connector_ref": ")" +
                              id129 + R"(", "type": "gcp"}]})")
                .find("connectors[0].connector_ref: must be at most 128"),
            std::string::npos);
}

TEST_F(VariableSetServiceTest, DuplicateIdentifierConflictsPerLevel) {
  Create(org_, R"({"identifier": "dup", "name": "n"})");
  EXPECT_EQ(CodeOf([&] { Create(org_, R"({"identifier": "dup", "name": "again"})"); }),
            ErrorCode::kConflict);
  // The same identifier at another level is another set.
  Create(account_, R"({"identifier": "dup", "name": "n"})");
  Create(project_, R"({"identifier": "dup", "name": "n"})");
  Create({"o2", "", ""}, R"({"identifier": "dup", "name": "n"})");
  EXPECT_EQ(service_->Get(admin_, {"o1", "", "dup"}).name, "n");
}

TEST_F(VariableSetServiceTest, UnknownLevelIsNotFound) {
  std::string message;
  EXPECT_EQ(CodeOf(
                [&] {
                  Create({"nope", "", ""}, R"({"identifier": "a", "name": "n"})");
                },
                &message),
            ErrorCode::kNotFound);
  EXPECT_NE(message.find("nope"), std::string::npos);
  EXPECT_EQ(CodeOf([&] {
              Create({"o1", "nope", ""}, R"({"identifier": "a", "name": "n"})");
            }),
            ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->List(admin_, {"nope", "", ""}, {}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->List(admin_, {"o1", "nope", ""}, {}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->Get(admin_, {"o1", "", "missing"}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->Delete(admin_, {"", "", "missing"}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] {
              service_->Update(admin_, {"", "", "missing"}, Body(R"({"name": "n"})"));
            }),
            ErrorCode::kNotFound);
}

// Timestamps are driven through BuildVariableSetDocument's clock, so no test sleeps.
TEST(VariableSetDocumentTest, UnchangedEntriesKeepTheirTimestamps) {
  json::object first = json::parse(R"({
    "terraform_variables": {"keep": {"value": "account.one", "value_type": "string"},
                            "change": {"value": "1", "value_type": "string"},
                            "gone": {"value": "1", "value_type": "string"}},
    "terraform_variable_files": [{"repository": "r", "repository_path": "a.tfvars", "repository_branch": "main"},
                                 {"repository": "r", "repository_path": "b.tfvars"}],
    "connectors": [{"connector_ref": "c1", "type": "aws"}, {"connector_ref": "g", "type": "gcp"}]})")
                           .as_object();
  json::object before = BuildVariableSetDocument(first, nullptr, 1000).document;
  json::object second = json::parse(R"({
    "terraform_variables": {"keep": {"key": "keep", "value": "account.one", "value_type": "string"},
                            "change": {"value": "account.s", "value_type": "secret"},
                            "fresh": {"value": "2", "value_type": "string"}},
    "terraform_variable_files": [{"repository": "r", "repository_path": "a.tfvars", "repository_branch": "dev"},
                                 {"repository": "r", "repository_path": "b.tfvars"}],
    "connectors": [{"connector_ref": "c2", "type": "aws"}, {"connector_ref": "g", "type": "gcp"}]})")
                            .as_object();
  auto built = BuildVariableSetDocument(second, &before, 2000);
  EXPECT_EQ(built.tf_vars_count, 3);
  EXPECT_EQ(built.env_vars_count, 0);
  EXPECT_EQ(built.var_files_count, 2);
  json::object& after = built.document;
  auto stamps = [](json::value& entry) {
    auto& o = entry.as_object();
    return std::make_pair(o["created"].as_int64(), o["updated"].as_int64());
  };
  auto& vars = after["terraform_variables"].as_object();
  EXPECT_EQ(stamps(vars["keep"]), std::make_pair(int64_t{1000}, int64_t{1000}));
  EXPECT_EQ(stamps(vars["change"]), std::make_pair(int64_t{1000}, int64_t{2000}));
  EXPECT_EQ(vars["change"].as_object()["value_type"], "secret");
  EXPECT_EQ(stamps(vars["fresh"]), std::make_pair(int64_t{2000}, int64_t{2000}));
  EXPECT_FALSE(vars.contains("gone"));
  auto& files = after["terraform_variable_files"].as_array();
  EXPECT_EQ(stamps(files[0]), std::make_pair(int64_t{1000}, int64_t{2000}));  // branch moved
  EXPECT_EQ(stamps(files[1]), std::make_pair(int64_t{1000}, int64_t{1000}));
  auto& connectors = after["connectors"].as_array();
  EXPECT_EQ(stamps(connectors[0]), std::make_pair(int64_t{1000}, int64_t{2000}));  // new ref
  EXPECT_EQ(stamps(connectors[1]), std::make_pair(int64_t{1000}, int64_t{1000}));

  // A value_type change alone counts as a change too.
  json::object third = json::parse(R"({"terraform_variables": {
      "keep": {"value": "account.one", "value_type": "secret"}}})")
                           .as_object();
  EXPECT_EQ(stamps(BuildVariableSetDocument(third, &after, 3000)
                       .document["terraform_variables"]
                       .as_object()["keep"]),
            std::make_pair(int64_t{1000}, int64_t{3000}));
}

TEST_F(VariableSetServiceTest, UpdateReplacesTheDocument) {
  auto created = Create(account_, R"({"identifier": "u", "name": "n",
    "terraform_variables": {"keep": {"value": "1", "value_type": "string"}},
    "terraform_variable_files": [{"repository": "r"}]})");
  auto updated = service_->Update(admin_, {"", "", "u"}, Body(R"({"name": "renamed",
    "terraform_variables": {"keep": {"value": "1", "value_type": "string"},
                            "more": {"value": "2", "value_type": "string"}}})"));
  EXPECT_EQ(updated.name, "renamed");
  EXPECT_EQ(updated.created, created.created);
  EXPECT_GE(updated.updated, created.updated);
  EXPECT_EQ(updated.tf_vars_count, 2);
  EXPECT_EQ(updated.var_files_count, 0);  // replace semantics: absent collections become empty
  json::object before = json::parse(created.document_json).as_object();
  json::object after = json::parse(updated.document_json).as_object();
  EXPECT_EQ(after["terraform_variables"].as_object()["keep"],
            before["terraform_variables"].as_object()["keep"]);
  auto stored = service_->Get(admin_, {"", "", "u"});
  EXPECT_EQ(stored.document_json, updated.document_json);
  EXPECT_EQ(stored.name, "renamed");
  EXPECT_EQ(stored.var_files_count, 0);
}

TEST_F(VariableSetServiceTest, UpdateValidates) {
  Create(org_, R"({"identifier": "v", "name": "n"})");
  VariableSetKey key{"o1", "", "v"};
  EXPECT_EQ(CodeOf([&] { service_->Update(admin_, key, Body(R"({"identifier": "v"})")); }),
            ErrorCode::kInvalidArgument);  // name is required
  std::string message;
  EXPECT_EQ(
      CodeOf([&] { service_->Update(admin_, key, Body(R"({"identifier": "w", "name": "n"})")); },
             &message),
      ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("identifier"), std::string::npos);
  service_->Update(admin_, key, Body(R"({"identifier": "v", "name": "same id is fine"})"));
  EXPECT_EQ(service_->Get(admin_, key).name, "same id is fine");
}

TEST_F(VariableSetServiceTest, ListPagesAndSearches) {
  for (int i = 0; i < 5; ++i)
    Create(project_, R"({"identifier": "s)" + std::to_string(i) + R"(", "name": "Name )" +
                         std::to_string(i) + R"("})");
  Create(org_, R"({"identifier": "other", "name": "n"})");
  storage::ListQuery q;
  q.limit = 2;
  q.offset = 2;
  auto page = service_->List(admin_, project_, q);
  EXPECT_EQ(page.total, 5);
  ASSERT_EQ(page.items.size(), 2u);
  EXPECT_EQ(page.items[0].identifier, "s2");
  storage::ListQuery search;
  search.search = "NAME 4";
  auto found = service_->List(admin_, project_, search);
  ASSERT_EQ(found.total, 1);
  EXPECT_EQ(found.items[0].identifier, "s4");
  EXPECT_EQ(service_->List(admin_, org_, {}).total, 1);
  EXPECT_EQ(service_->List(admin_, account_, {}).total, 0);
}

TEST_F(VariableSetServiceTest, ScopedPrincipals) {
  Create(account_, R"({"identifier": "acc", "name": "n"})");
  Create(org_, R"({"identifier": "org1", "name": "n"})");
  Create({"o2", "", ""}, R"({"identifier": "org2", "name": "n"})");
  Create(project_, R"({"identifier": "p11", "name": "n"})");
  Create({"o1", "p2", ""}, R"({"identifier": "p12", "name": "n"})");

  // Reads: own level and the levels above it.
  EXPECT_EQ(service_->Get(proj11_, {"", "", "acc"}).identifier, "acc");
  EXPECT_EQ(service_->Get(proj11_, {"o1", "", "org1"}).identifier, "org1");
  EXPECT_EQ(service_->Get(proj11_, {"o1", "p1", "p11"}).identifier, "p11");
  EXPECT_EQ(service_->List(proj11_, account_, {}).total, 1);
  EXPECT_EQ(service_->List(org1_, {"o1", "p2", ""}, {}).total, 1);
  // Neighbours look absent.
  EXPECT_EQ(CodeOf([&] { service_->Get(proj11_, {"o1", "p2", "p12"}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->Get(proj11_, {"o2", "", "org2"}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->List(org1_, {"o2", "", ""}, {}); }), ErrorCode::kNotFound);
  EXPECT_EQ(CodeOf([&] { service_->Delete(org1_, {"o2", "", "org2"}); }), ErrorCode::kNotFound);

  // Writes: only inside the scope.
  EXPECT_EQ(CodeOf([&] {
              service_->Create(org1_, account_, Body(R"({"identifier": "x", "name": "n"})"));
            }),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(
      CodeOf([&] { service_->Create(proj11_, org_, Body(R"({"identifier": "x", "name": "n"})")); }),
      ErrorCode::kPermissionDenied);
  EXPECT_EQ(CodeOf([&] {
              service_->Update(proj11_, {"o1", "", "org1"}, Body(R"({"name": "m"})"));
            }),
            ErrorCode::kPermissionDenied);
  EXPECT_EQ(CodeOf([&] {
              service_->Delete(org1_, {"", "", "acc"});
            }),
            ErrorCode::kPermissionDenied);
  service_->Create(org1_, {"o1", "p2", ""}, Body(R"({"identifier": "x", "name": "n"})"));
  service_->Create(proj11_, project_, Body(R"({"identifier": "x", "name": "n"})"));
  service_->Update(proj11_, {"o1", "p1", "x"}, Body(R"({"name": "m"})"));
  service_->Delete(proj11_, {"o1", "p1", "x"});
}

TEST_F(VariableSetServiceTest, ReferencesAndDeleteConflict) {
  Create(account_, R"({"identifier": "shared", "name": "n"})");
  Create(project_, R"({"identifier": "local", "name": "n"})");
  AddWorkspace("o1", "p1", "ws_a", {{"", "", "shared"}, {"o1", "p1", "local"}});
  AddWorkspace("o2", "p1", "ws_b", {{"", "", "shared"}});
  AddWorkspace("o1", "p2", "ws_c", {});

  auto refs = service_->References(admin_, {"", "", "shared"}, {});
  EXPECT_EQ(refs.total, 2);
  ASSERT_EQ(refs.items.size(), 2u);
  EXPECT_EQ(refs.items[0].identifier, "ws_a");
  EXPECT_EQ(refs.items[1].identifier, "ws_b");
  storage::ListQuery second;
  second.limit = 1;
  second.offset = 1;
  auto page2 = service_->References(admin_, {"", "", "shared"}, second);
  EXPECT_EQ(page2.total, 2);
  ASSERT_EQ(page2.items.size(), 1u);
  EXPECT_EQ(page2.items[0].identifier, "ws_b");

  // A scoped token sees only the referencing workspaces in its scope.
  auto scoped = service_->References(org1_, {"", "", "shared"}, {});
  EXPECT_EQ(scoped.total, 1);
  ASSERT_EQ(scoped.items.size(), 1u);
  EXPECT_EQ(scoped.items[0].identifier, "ws_a");
  EXPECT_EQ(service_->References(admin_, {"o1", "p1", "local"}, {}).total, 1);

  std::string message;
  EXPECT_EQ(CodeOf(
                [&] {
                  service_->Delete(admin_, {"", "", "shared"});
                },
                &message),
            ErrorCode::kConflict);
  EXPECT_NE(message.find("ws_a"), std::string::npos) << message;
  EXPECT_NE(message.find("ws_b"), std::string::npos) << message;
  EXPECT_EQ(service_->Get(admin_, {"", "", "shared"}).identifier, "shared");

  db_->Workspaces().DeleteWorkspace("acct", "o1", "p1", "ws_a", std::nullopt);
  db_->Workspaces().DeleteWorkspace("acct", "o2", "p1", "ws_b", std::nullopt);
  EXPECT_EQ(service_->References(admin_, {"", "", "shared"}, {}).total, 0);
  service_->Delete(admin_, {"", "", "shared"});
  EXPECT_EQ(CodeOf([&] { service_->Get(admin_, {"", "", "shared"}); }), ErrorCode::kNotFound);
}

TEST_F(VariableSetServiceTest, SecretReferencesAreStoredAsWritten) {
  for (const char* ref : {"account.db_password", "org.token", "local_secret", "account.a-b$c"}) {
    auto r = Create(account_, std::string(R"({"identifier": "s_)") +
                                  std::to_string(std::hash<std::string>{}(ref) % 100000) +
                                  R"(", "name": "n", "environment_variables": {"S": {"value": ")" +
                                  ref + R"(", "value_type": "secret"}}})");
    json::object doc = json::parse(r.document_json).as_object();
    EXPECT_EQ(doc["environment_variables"].as_object()["S"].as_object()["value"], ref);
  }
  for (const char* bad : {"project.x", "account.", "a b", "account.1x"}) {
    InvalidMessage(account_, std::string(R"({"identifier": "bad", "name": "n", )") +
                                 R"("environment_variables": {"S": {"value": ")" + bad +
                                 R"(", "value_type": "secret"}}})");
  }
}

}  // namespace
}  // namespace statehouse::domain
