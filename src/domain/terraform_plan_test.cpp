#include "domain/terraform_plan.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace statehouse::domain::tfplan {
namespace {

namespace json = boost::json;

TEST(TerraformPlan, RecognizesPlans) {
  EXPECT_TRUE(IsPlan(json::parse(R"({"format_version":"1.2","resource_changes":[]})")));
  EXPECT_FALSE(IsPlan(json::parse(R"({"version":4,"serial":1,"lineage":"x"})")));
  EXPECT_FALSE(IsPlan(json::parse("[1]")));
}

TEST(TerraformPlan, RedactsEverySensitiveMark) {
  json::value plan = json::parse(R"({
    "format_version": "1.2",
    "variables": {"db_password": {"value": "hunter2"}, "region": {"value": "eu"}},
    "configuration": {"root_module": {
      "variables": {"db_password": {"sensitive": true, "default": "hunter2"}, "region": {"default": "eu"}},
      "module_calls": {"db": {"module": {"variables": {"pw": {"sensitive": true, "default": "t0k"}}}}}}},
    "resource_changes": [{
      "address": "aws_db.x",
      "change": {
        "before": null,
        "after": {"password": "hunter2", "name": "db", "tags": ["a", "secret-tag"]},
        "after_sensitive": {"password": true, "tags": [false, true]},
        "before_sensitive": false
      }
    }],
    "output_changes": {
      "pw": {"before": "old", "after": "new", "before_sensitive": true, "after_sensitive": true},
      "name": {"after": "db", "after_sensitive": false}
    },
    "planned_values": {
      "outputs": {"pw": {"sensitive": true, "value": "new"}, "name": {"sensitive": false, "value": "db"}},
      "root_module": {"resources": [{"values": {"password": "hunter2", "name": "db"},
                                     "sensitive_values": {"password": true}}],
                      "child_modules": [{"resources": [{"values": {"token": "t0k"},
                                                        "sensitive_values": {"token": true}}]}]}
    },
    "prior_state": {"values": {"outputs": {"pw": {"sensitive": true, "value": "old"}}}}
  })");
  RedactPlan(plan);
  std::string text = json::serialize(plan);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_EQ(text.find("secret-tag"), std::string::npos) << text;
  EXPECT_EQ(text.find("t0k"), std::string::npos) << text;
  EXPECT_EQ(text.find("\"old\""), std::string::npos) << text;
  EXPECT_EQ(text.find("\"new\""), std::string::npos) << text;
  // What is not sensitive stays.
  EXPECT_EQ(plan.at_pointer("/variables/region/value"), json::value("eu"));
  EXPECT_EQ(plan.at_pointer("/resource_changes/0/change/after/name"), json::value("db"));
  EXPECT_EQ(plan.at_pointer("/resource_changes/0/change/after/tags/0"), json::value("a"));
  EXPECT_EQ(plan.at_pointer("/output_changes/name/after"), json::value("db"));
  EXPECT_EQ(plan.at_pointer("/planned_values/outputs/name/value"), json::value("db"));
  EXPECT_EQ(plan.at_pointer("/resource_changes/0/change/after/password"),
            json::value("(sensitive)"));
}

TEST(TerraformPlan, MalformedMarksAreSkipped) {
  json::value plan = json::parse(R"({"format_version":"1","resource_changes":[1, {"change": 2},
      {"change": {"after": [1], "after_sensitive": {"a": true}}}], "planned_values": 3})");
  json::value copy = plan;
  RedactPlan(plan);
  EXPECT_EQ(plan, copy);
}

}  // namespace
}  // namespace statehouse::domain::tfplan
