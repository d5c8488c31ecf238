"""Cost estimation end to end against the real binary: a plan uploaded to a workspace with
cost_estimation_enabled is priced from the shipped catalog; the breakdown and the diff are stored
as data, the workspace names them, the budget is flagged and the Terraform Plan Cost policies read
the estimate; a run's plan is priced too, and its events carry ActivityMetadata's cost fields;
`statehouse pricing import` changes the prices a server uses.

Specs: harness-workspaces-api-openapi.yml (Workspace cost_breakdown_json / cost_diff_json,
CreateDataResponse, ActivityMetadata).
"""
from __future__ import annotations

import decimal
import json
import pathlib
import shutil
import subprocess

import pytest

from conftest import BIN, REPO
from spec_schema import describe, validate
from test_runs import Runs

WORKSPACES_SPEC = "harness-workspaces-api-openapi.yml"
PM = "/pm/api/v1"
SAMPLE_PLAN = REPO / "src" / "cost" / "testdata" / "sample_plan.json"
SHIPPED_AWS = json.loads((REPO / "pricing" / "aws.json").read_text())
TERRAFORM = shutil.which("terraform")

COST_CEILING = """package terraform_plan_cost
import rego.v1

deny contains msg if {
  to_number(input.totalMonthlyCost) > 500
  msg := sprintf("monthly cost %v is above 500 USD", [input.totalMonthlyCost])
}
"""

NO_FREE_RESOURCES = """package terraform_plan_cost
import rego.v1

deny contains "free resources are not allowed here" if input.summary.totalFreeResources > 0
"""


def shipped_price(service, region, **attributes):
    for p in SHIPPED_AWS["prices"]:
        if p["service"] == service and p["region"] == region and p.get("attributes", {}) == attributes:
            return decimal.Decimal(p["price"])
    raise AssertionError(f"no shipped price for {service} {attributes} in {region}")


def one_resource_plan(type_, after, region="us-east-1", actions=("create",)):
    plan = {"format_version": "1.2", "terraform_version": "1.11.4",
            "resource_changes": [{"address": f"{type_}.this", "mode": "managed", "type": type_, "name": "this",
                                  "provider_name": "registry.terraform.io/hashicorp/aws",
                                  "change": {"actions": list(actions), "before": None, "after": after}}],
            "configuration": {"provider_config": {"aws": {"name": "aws", "expressions": {
                "region": {"constant_value": region}}}}}}
    return json.dumps(plan).encode()


class Costs(Runs):
    """A fresh org and project (test_runs.Runs) with cost helpers."""

    def upload_plan(self, ws, body: bytes):
        r = self.api.raw_post(f"{self.base}/workspaces/{ws}/data?data_type=plan_json", body)
        assert r.status_code == 200, describe(r)
        validate(WORKSPACES_SPEC, "CreateDataResponse", r.json())
        return r.json()

    def data(self, ws, data_id):
        r = self.api.get(f"{self.base}/workspaces/{ws}/data/{data_id}")
        assert r.status_code == 200, describe(r)
        return r

    def workspace_json(self, ws):
        r = self.api.get(f"{self.base}/workspaces/{ws}")
        assert r.status_code == 200, describe(r)
        validate(WORKSPACES_SPEC, "WorkspacesShowWorkspaceResponseBody", r.json())
        return r.json()

    def policy_set(self, identifier, rego, severity="error"):
        r = self.api.post(f"{PM}/policies", json={"identifier": identifier, "name": identifier, "rego": rego})
        assert r.status_code in (200, 201), describe(r)
        r = self.api.post(f"{PM}/policysets", json={
            "identifier": f"{identifier}_set", "name": f"{identifier} set", "type": "terraformPlanCost",
            "action": "afterTerraformPlan", "enabled": True,
            "policies": [{"identifier": identifier, "severity": severity}]})
        assert r.status_code == 201, describe(r)


@pytest.fixture
def costs(tenant, uid):
    return Costs(tenant().api, uid)


def test_uploaded_plan_is_priced_stored_and_named_by_the_workspace(costs):
    ws = costs.workspace(cost_estimation_enabled=True, budget=1000)
    reply = costs.upload_plan(ws, SAMPLE_PLAN.read_bytes())
    estimate = reply["cost_estimate"]
    assert estimate["estimated"] is True, reply
    assert estimate["currency"] == "USD"
    total = decimal.Decimal(estimate["total_monthly_cost"])
    past = decimal.Decimal(estimate["past_total_monthly_cost"])
    assert total > past > 0
    assert decimal.Decimal(estimate["diff_total_monthly_cost"]) == total - past
    assert estimate["monthly_budget"] == "1000"
    assert estimate["over_budget"] is (total > 1000)

    w = costs.workspace_json(ws)
    assert w["cost_breakdown_json"] == estimate["cost_breakdown_id"]
    assert w["cost_diff_json"] == estimate["cost_diff_id"]

    doc = costs.data(ws, w["cost_breakdown_json"]).json()
    assert doc["version"] == "0.2" and doc["currency"] == "USD"
    assert doc["totalMonthlyCost"] == estimate["total_monthly_cost"]
    project = doc["projects"][0]
    assert {"breakdown", "pastBreakdown", "diff", "summary"} <= project.keys()
    names = {r["name"] for r in project["breakdown"]["resources"]}
    assert {"aws_instance.web", "aws_ebs_volume.data", "aws_db_instance.db", "aws_nat_gateway.nat",
            "aws_lb.front", "google_container_node_pool.pool"} <= names
    # The NAT gateway's hourly price from the shipped catalog, 730 hours a month.
    nat = next(r for r in project["breakdown"]["resources"] if r["name"] == "aws_nat_gateway.nat")
    hours = next(c for c in nat["costComponents"] if c["name"] == "NAT gateway")
    assert decimal.Decimal(hours["monthlyCost"]) == shipped_price("nat_gateway", "us-east-1", ) * 730
    data_processed = next(c for c in nat["costComponents"] if c["name"] == "Data processed")
    assert data_processed["monthlyQuantity"] is None and data_processed["monthlyCost"] is None
    # What cannot be priced says why, per resource.
    mystery = next(r for r in project["breakdown"]["resources"] if r["name"] == "aws_instance.mystery")
    assert any("t9.huge" in reason for reason in mystery["metadata"]["noPrice"]), mystery
    assert doc["summary"]["unsupportedResourceCounts"] == {"aws_sqs_queue": 1}

    diff = costs.data(ws, w["cost_diff_json"]).json()
    assert "breakdown" not in diff["projects"][0]
    diffed = {r["name"]: r for r in diff["projects"][0]["diff"]["resources"]}
    assert decimal.Decimal(diffed["aws_instance.legacy"]["monthlyCost"]) < 0  # deleted
    assert decimal.Decimal(diffed["aws_instance.worker[0]"]["monthlyCost"]) > 0  # added

    r = costs.api.get(f"{costs.base}/workspaces/{ws}/data", params={"data_type": "cost_breakdown"})
    assert r.status_code == 200, describe(r)
    assert [d["id"] for d in r.json()] == [w["cost_breakdown_json"]]


def test_budget_flag_and_cost_policy_read_the_estimate(costs):
    costs.policy_set("ceiling", COST_CEILING)
    ws = costs.workspace(cost_estimation_enabled=True, budget=50)
    nat_monthly = shipped_price("nat_gateway", "us-east-1") * 730
    reply = costs.upload_plan(ws, one_resource_plan("aws_nat_gateway", {"connectivity_type": "public"}))
    estimate = reply["cost_estimate"]
    assert decimal.Decimal(estimate["total_monthly_cost"]) == nat_monthly
    assert estimate["over_budget"] is (nat_monthly > 50)
    assert estimate["policy_evaluation_status"] == "pass", estimate

    # Eight r5.4xlarge instances are over the 500 USD ceiling: the policy denies the estimate.
    big = one_resource_plan("aws_instance", {"instance_type": "r5.4xlarge", "tenancy": "default"})
    plan = json.loads(big)
    plan["resource_changes"] = [dict(plan["resource_changes"][0], address=f"aws_instance.big[{i}]") for i in range(8)]
    estimate = costs.upload_plan(ws, json.dumps(plan).encode())["cost_estimate"]
    assert estimate["over_budget"] is True
    assert estimate["policy_evaluation_status"] == "error", estimate
    assert "above 500 USD" in estimate["policy_evaluation_message"]
    r = costs.api.get(f"{costs.base}/workspaces/{ws}/data/{estimate['cost_breakdown_id']}/evaluate-policy")
    assert r.status_code == 200, describe(r)
    assert r.json()["policy_evaluation_status"] == "error"


def test_no_estimate_unless_the_workspace_asks_and_bad_plans_are_refused(costs):
    ws = costs.workspace()
    reply = costs.upload_plan(ws, SAMPLE_PLAN.read_bytes())
    assert "cost_estimate" not in reply
    r = costs.api.get(f"{costs.base}/workspaces/{ws}/data", params={"data_type": "cost_breakdown"})
    assert r.json() == []
    assert not costs.workspace_json(ws).get("cost_breakdown_json")

    ws = costs.workspace(cost_estimation_enabled=True)
    for body in (b"not json", b'{"resources": []}', b"[]"):
        r = costs.api.raw_post(f"{costs.base}/workspaces/{ws}/data?data_type=plan_json", body)
        assert r.status_code == 400, describe(r)
    # An unknown region is reported per resource, never guessed and never a 500.
    reply = costs.upload_plan(ws, one_resource_plan("aws_nat_gateway", {}, region="mars-north-1"))
    estimate = reply["cost_estimate"]
    assert estimate["total_monthly_cost"] == "0"
    doc = costs.data(ws, estimate["cost_breakdown_id"]).json()
    reasons = doc["projects"][0]["breakdown"]["resources"][0]["metadata"]["noPrice"]
    assert any("mars-north-1" in reason for reason in reasons), reasons
    assert doc["summary"]["noPriceResourceCounts"] == {"aws_nat_gateway": 1}


def aws_offer_file(price: str) -> dict:
    """An AWS Price List offer file (the real format) with one EC2 on-demand price."""
    sku = "TESTSKU1"
    return {
        "formatVersion": "v1.0", "disclaimer": "test", "offerCode": "AmazonEC2", "version": "20261201000000",
        "publicationDate": "2026-12-01T00:00:00Z",
        "products": {sku: {"sku": sku, "productFamily": "Compute Instance", "attributes": {
            "servicecode": "AmazonEC2", "location": "US East (N. Virginia)", "locationType": "AWS Region",
            "instanceType": "t3.micro", "operatingSystem": "Linux", "tenancy": "Shared", "preInstalledSw": "NA",
            "licenseModel": "No License required", "capacitystatus": "Used", "regionCode": "us-east-1",
            "usagetype": "BoxUsage:t3.micro", "operation": "RunInstances"}}},
        "terms": {"OnDemand": {sku: {f"{sku}.JRTCKXETXF": {
            "offerTermCode": "JRTCKXETXF", "sku": sku, "effectiveDate": "2026-12-01T00:00:00Z",
            "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7", "description": "t3.micro", "beginRange": "0",
                "endRange": "Inf", "unit": "Hrs", "pricePerUnit": {"USD": price}, "appliesTo": []}},
            "termAttributes": {}}}}},
    }


def test_pricing_import_changes_the_prices_a_server_uses(spawn_server, tmp_path, uid):
    offer = tmp_path / "index.json"
    offer.write_text(json.dumps(aws_offer_file("0.5000000000")))
    data_dir = tmp_path / "data0"
    proc = subprocess.run([str(BIN), "pricing", "import", str(offer), "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "Imported 1 prices for aws" in proc.stdout
    assert list((data_dir / "pricing").glob("aws-*.json")), proc.stdout
    bad = subprocess.run([str(BIN), "pricing", "import", str(SAMPLE_PLAN), "--data-dir", str(data_dir)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "not" in bad.stderr, bad.stderr

    srv = spawn_server(data_dir=data_dir)
    assert "price catalog loaded" in srv.output()
    api = srv.client(srv.admin_token(), "default")
    costs = Costs(api, uid)
    ws = costs.workspace(cost_estimation_enabled=True)
    plan = one_resource_plan("aws_instance", {"instance_type": "t3.micro", "tenancy": "default",
                                              "credit_specification": [{"cpu_credits": "standard"}]})
    estimate = costs.upload_plan(ws, plan)["cost_estimate"]
    doc = costs.data(ws, estimate["cost_breakdown_id"]).json()
    instance = doc["projects"][0]["breakdown"]["resources"][0]
    usage = next(c for c in instance["costComponents"] if c["name"].startswith("Instance usage"))
    assert usage["price"] == "0.5" and usage["monthlyCost"] == "365", usage


@pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on the PATH")
def test_a_runs_plan_is_priced_and_its_events_carry_the_cost(costs):
    runs = Runs(costs.api, costs.uid)
    costs.policy_set("no_free", NO_FREE_RESOURCES)
    ws = runs.workspace(cost_estimation_enabled=True, budget=10)
    run = runs.run_from(ws, {"main.tf": 'resource "terraform_data" "a" {\n  input = "x"\n}\n'})
    run = runs.wait(ws, run["id"], {"policy_failed", "failed", "planned"})
    log = runs.log(ws, run["id"])
    assert run["status"] == "policy_failed", log
    assert "cost estimate: 0 USD a month" in log and "within the workspace budget of 10" in log, log
    assert "free resources are not allowed here" in log, log
    plan_events = [e for e in runs.events(ws) if e["event_type"] == "plan"]
    assert plan_events, runs.events(ws)
    metadata = plan_events[0]["metadata"]
    assert metadata.get("cost_total_monthly") == "0", plan_events[0]
    assert metadata.get("cost_currency") == "USD"
    w = costs.api.get(runs.ws(ws)).json()
    assert metadata.get("cost_breakdown_uuid") == w["cost_breakdown_json"]
    assert run["summary"]["cost_estimate"]["total_monthly_cost"] == "0", run["summary"]
    assert run["summary"]["cost_estimate"]["over_budget"] is False
