"""Policies enforced by IaCM, end to end against the real binary: workspace saves, plans (a real
`terraform show -json` plan), plan cost documents, states written by a real `terraform apply`
through the http backend, and force-unlock. Each test runs in a fresh account, so its policy
sets apply to nothing else.

Specs: harness-workspaces-api-openapi.yml (PolicyViolationError, IaCMEvaluation,
CreateDataResponse), harness-policies / policy-sets / evaluations.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from spec_schema import assert_error, body_of, describe, validate

WORKSPACES_SPEC = "harness-workspaces-api-openapi.yml"
EVALUATIONS_SPEC = "harness-evaluations-api-openapi.yml"
PM = "/pm/api/v1"

DENY_ANSIBLE = """package workspace

deny[msg] {
  input.workspace.provisioner == "ansible"
  msg := sprintf("provisioner %s is not allowed", [input.workspace.provisioner])
}
"""

WARN_NO_TEAM = """package workspace
import rego.v1

deny contains "workspaces should carry a team tag" if not input.workspace.tags.team
"""

PLAN_NO_BIG_RESOURCES = """package terraform_plan
import rego.v1

deny contains msg if {
  some rc in input.resource_changes
  rc.type == "terraform_data"
  "create" in rc.change.actions
  rc.change.after.input.size == "xlarge"
  msg := sprintf("%s: size 'xlarge' is not permitted", [rc.address])
}
"""

STATE_NO_SECRET_OUTPUT = """package terraform_state
import rego.v1

deny contains msg if {
  some name, out in input.outputs
  contains(name, "password")
  msg := sprintf("output %s must not be stored in state", [name])
}

# Sensitive values never reach a policy: this one would see a real value otherwise.
deny contains "sensitive value leaked" if {
  some _, out in input.outputs
  out.value == "hunter2"
}
"""

COST_CEILING = """package terraform_plan_cost
import rego.v1

deny contains msg if {
  to_number(input.totalMonthlyCost) > 100
  msg := sprintf("monthly cost %v exceeds the 100 USD budget", [input.totalMonthlyCost])
}
"""

FORCE_UNLOCK_ONLY_ADMINS = """package workspace.force_unlock
import rego.v1

deny contains msg if {
  input.caller.role != "admin"
  msg := sprintf("only admins may force-unlock (lock %s held by %s)", [input.lock.id, input.lock.who])
}
"""


class Setup:
    """A fresh account with an org and a project."""

    def __init__(self, tenant, uid):
        self.tenant = tenant()
        self.api = self.tenant.api
        self.org, self.project = uid("org"), uid("prj")
        self.api.create_org(self.org)
        self.api.create_project(self.org, self.project)
        self.base = f"/iacm/api/orgs/{self.org}/projects/{self.project}"

    def policy_set(self, identifier, type_, action, rego, severity="error"):
        r = self.api.post(f"{PM}/policies", json={"identifier": identifier, "name": identifier, "rego": rego})
        assert r.status_code == 201, describe(r)
        r = self.api.post(f"{PM}/policysets", json={
            "identifier": f"{identifier}_set", "name": f"{identifier} set", "type": type_, "action": action,
            "enabled": True, "policies": [{"identifier": identifier, "severity": severity}]})
        assert r.status_code == 201, describe(r)
        return r.json()

    def workspace(self, identifier, **extra):
        body = {"identifier": identifier, "name": identifier, "provisioner": "terraform",
                "provider_connector": "", "terraform_variables": {}, "environment_variables": {}}
        body.update(extra)
        return self.api.post(f"{self.base}/workspaces", json=body)


@pytest.fixture
def setup(tenant, uid):
    return Setup(tenant, uid)


def evaluation_ok(evaluation, status):
    validate(WORKSPACES_SPEC, "IaCMEvaluation", evaluation)
    assert evaluation["status"] == status, evaluation
    return evaluation


# ---- workspace on save -------------------------------------------------------------------


def test_workspace_save_refused_by_error_policy_changes_nothing(setup, uid):
    setup.policy_set("no_ansible", "workspace", "onsave", DENY_ANSIBLE)
    ws = uid("ws")
    r = setup.workspace(ws, provisioner="ansible")
    body = assert_error(r, 400, mentions="ansible")
    validate(WORKSPACES_SPEC, "PolicyViolationError", body)
    evaluation = evaluation_ok(body["policy_evaluation"], "error")
    messages = [m for d in evaluation["details"] for p in d["details"] for m in p["deny_messages"]]
    assert "provisioner ansible is not allowed" in messages, evaluation
    assert setup.api.get(f"{setup.base}/workspaces/{ws}").status_code == 404

    # An allowed save goes through and carries the passing evaluation.
    r = setup.workspace(ws)
    assert r.status_code == 200, describe(r)
    evaluation_ok(r.json()["policy_evaluation"], "pass")

    # An update that breaks the policy is refused; the workspace keeps its provisioner.
    current = setup.api.get(f"{setup.base}/workspaces/{ws}").json()
    update = {k: current[k] for k in ("identifier", "name", "provider_connector", "terraform_variables",
                                      "environment_variables")}
    update["provisioner"] = "ansible"
    r = setup.api.put(f"{setup.base}/workspaces/{ws}", json=update)
    assert_error(r, 400, mentions="ansible")
    assert setup.api.get(f"{setup.base}/workspaces/{ws}").json()["provisioner"] == "terraform"

    # The refused saves are in the evaluation history.
    r = setup.api.get(f"{PM}/evaluations", params={"orgIdentifier": setup.org,
                                                   "projectIdentifier": setup.project})
    assert r.status_code == 200, describe(r)
    statuses = [e["status"] for e in r.json()]
    assert statuses.count("error") >= 2 and "pass" in statuses, statuses


def test_workspace_save_with_warning_policy_saves_and_reports(setup, uid):
    setup.policy_set("team_tag", "workspace", "onsave", WARN_NO_TEAM, severity="warning")
    ws = uid("ws")
    r = setup.workspace(ws)
    assert r.status_code == 200, describe(r)
    evaluation = evaluation_ok(r.json()["policy_evaluation"], "warning")
    assert "team tag" in json.dumps(evaluation)
    assert setup.api.get(f"{setup.base}/workspaces/{ws}").status_code == 200
    # Clone is a save too.
    r = setup.api.post(f"{setup.base}/workspaces/{ws}/clone", json={"identifier": uid("c"), "name": "copy"})
    assert r.status_code == 200, describe(r)
    evaluation_ok(r.json()["policy_evaluation"], "warning")
    r = setup.workspace(uid("tagged"), tags={"team": "net"})
    evaluation_ok(r.json()["policy_evaluation"], "pass")


def test_policies_of_another_account_do_not_apply(setup, tenant, uid):
    setup.policy_set("no_ansible", "workspace", "onsave", DENY_ANSIBLE)
    other = Setup(tenant, uid)
    r = other.workspace(uid("ws"), provisioner="ansible")
    assert r.status_code == 200, describe(r)
    assert "policy_evaluation" not in r.json()


# ---- terraform plan, with a real terraform ------------------------------------------------


def terraform_bin():
    path = shutil.which("terraform")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("terraform is not installed (CI must run the real-client tests)")
        pytest.skip("terraform is not installed")
    return path


def run_tf(workdir, *args, env=None, check=True):
    e = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
             TF_CLI_CONFIG_FILE=os.devnull)
    e.update(env or {})
    p = subprocess.run([terraform_bin(), *args], cwd=workdir, env=e, capture_output=True, text=True,
                       timeout=300)
    if check:
        assert p.returncode == 0, f"terraform {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}"
    return p


CONFIG = """
variable "db_password" {
  type      = string
  sensitive = true
  default   = "hunter2"
}

resource "terraform_data" "small" {
  input = { size = "small" }
}

resource "terraform_data" "big" {
  input = { size = "xlarge" }
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}
"""


def real_plan_json(tmp_path):
    work = tmp_path / "plan"
    work.mkdir()
    (work / "main.tf").write_text(CONFIG)
    run_tf(work, "init", "-no-color")
    run_tf(work, "plan", "-no-color", "-out", "tfplan")
    shown = run_tf(work, "show", "-json", "tfplan")
    return shown.stdout.encode()


def test_real_terraform_plan_is_denied_and_stored_with_its_evaluation(setup, uid, tmp_path):
    plan = real_plan_json(tmp_path)
    assert b"hunter2" in plan  # terraform puts the sensitive variable's value in the plan
    setup.policy_set("no_xlarge", "terraformPlan", "afterTerraformPlan", PLAN_NO_BIG_RESOURCES)
    ws = uid("ws")
    assert setup.workspace(ws).status_code == 200
    r = setup.api.raw_post(f"{setup.base}/workspaces/{ws}/data?data_type=plan_json", plan)
    assert r.status_code == 200, describe(r)
    created = body_of(r)
    validate(WORKSPACES_SPEC, "CreateDataResponse", created)
    assert created["policy_evaluation_status"] == "error", created
    assert "terraform_data.big: size 'xlarge' is not permitted" in created["policy_evaluation_message"]
    assert [e["policy_status"] for e in created["policy_evaluation"]] == ["error"]

    # evaluate-policy answers the real result, and it is kept with the data.
    r = setup.api.get(f"{setup.base}/workspaces/{ws}/data/{created['id']}/evaluate-policy",
                      params={"policy_action": "afterTerraformPlan"})
    assert r.status_code == 200, describe(r)
    again = r.json()
    assert again["policy_evaluation_status"] == "error"
    assert again["policy_evaluation_message"] == created["policy_evaluation_message"]
    listed = setup.api.get(f"{setup.base}/workspaces/{ws}/data", params={"data_type": "plan_json"}).json()
    assert listed[0]["policy_evaluation_status"] == "error", listed

    # The stored evaluation input is the plan with its sensitive values replaced.
    evaluation = setup.api.get(f"{PM}/evaluations/{again['policy_evaluation_id']}",
                               params={"orgIdentifier": setup.org, "projectIdentifier": setup.project})
    assert evaluation.status_code == 200, describe(evaluation)
    text = json.dumps(evaluation.json())
    assert "hunter2" not in text and "xlarge" in text


def test_plan_upload_rejects_what_is_not_a_plan(setup, uid):
    ws = uid("ws")
    assert setup.workspace(ws).status_code == 200
    for body in (b"not json", b"[1,2]", b'{"resources": []}'):
        r = setup.api.raw_post(f"{setup.base}/workspaces/{ws}/data?data_type=plan_json", body)
        assert_error(r, 400, mentions="plan_json")
    r = setup.api.raw_post(f"{setup.base}/workspaces/{ws}/data?data_type=plan_json&policy_action=onsave",
                           b'{"format_version":"1.2","resource_changes":[]}')
    assert_error(r, 400, mentions="policy_action")
    assert setup.api.get(f"{setup.base}/workspaces/{ws}/data").json() == []
    # Data no policy reads takes the policy_action clients always send, and is not evaluated.
    r = setup.api.raw_post(f"{setup.base}/workspaces/{ws}/data?data_type=plan_human&policy_action=afterTerraformPlan",
                           b"Plan: 1 to add", content_type="text/plain")
    assert r.status_code == 200, describe(r)
    assert r.json()["policy_evaluation_status"] == "pass"


# ---- plan cost ----------------------------------------------------------------------------


def test_cost_estimate_over_budget_is_flagged(setup, uid):
    setup.policy_set("budget", "terraformPlanCost", "afterTerraformPlan", COST_CEILING, severity="warning")
    ws = uid("ws")
    assert setup.workspace(ws).status_code == 200
    cost = {"version": "0.2", "currency": "USD", "totalMonthlyCost": "250.5", "totalHourlyCost": "0.343",
            "projects": [{"name": ws, "breakdown": {"resources": [], "totalMonthlyCost": "250.5"}}]}
    r = setup.api.raw_post(f"{setup.base}/workspaces/{ws}/data?data_type=cost_breakdown",
                           json.dumps(cost).encode())
    assert r.status_code == 200, describe(r)
    assert r.json()["policy_evaluation_status"] == "warning", r.json()
    assert "exceeds the 100 USD budget" in r.json()["policy_evaluation_message"]
    cost["totalMonthlyCost"] = "12"
    r = setup.api.raw_post(f"{setup.base}/workspaces/{ws}/data?data_type=cost_breakdown",
                           json.dumps(cost).encode())
    assert r.json()["policy_evaluation_status"] == "pass", r.json()


# ---- terraform state, written by a real terraform apply ------------------------------------


def test_state_written_by_terraform_apply_is_evaluated_never_refused(setup, uid, tmp_path, server):
    setup.policy_set("no_secret_outputs", "terraformState", "afterTerraformApply", STATE_NO_SECRET_OUTPUT)
    ws = uid("ws")
    assert setup.workspace(ws).status_code == 200
    work = tmp_path / "apply"
    work.mkdir()
    address = f"{server.base_url}{setup.base}/workspaces/{ws}/terraform-backend"
    (work / "main.tf").write_text(CONFIG + textwrap.dedent(f"""
        terraform {{
          backend "http" {{
            address        = "{address}"
            lock_address   = "{address}/lock"
            unlock_address = "{address}/lock"
            username       = "terraform"
          }}
        }}
        """))
    env = {"TF_HTTP_PASSWORD": setup.api.token}
    run_tf(work, "init", "-no-color", env=env)
    run_tf(work, "apply", "-no-color", "-auto-approve", env=env)  # the state write is not refused

    states = setup.api.get(f"{setup.base}/workspaces/{ws}/data", params={"data_type": "state_raw"}).json()
    assert states and states[0]["policy_evaluation_status"] == "error", states
    assert "output db_password must not be stored in state" in states[0]["policy_evaluation_message"]
    assert "sensitive value leaked" not in states[0]["policy_evaluation_message"]
    shown = setup.api.get(f"{setup.base}/workspaces/{ws}").json()
    assert shown["state_policy_evaluation"]["status"] == "error", shown
    assert shown["state_policy_evaluation"]["data_id"] == states[0]["id"]
    # The state itself is stored untouched (terraform reads it back).
    out = run_tf(work, "output", "-raw", "db_password", env=env)
    assert out.stdout == "hunter2"

    # A rollback writes a new version, which the state policies check too.
    run_tf(work, "apply", "-no-color", "-auto-approve", "-replace=terraform_data.small", env=env)
    states = setup.api.get(f"{setup.base}/workspaces/{ws}/data", params={"data_type": "state_raw"}).json()
    r = setup.api.post(f"{setup.base}/workspaces/{ws}/state-versions/{states[-1]['id']}/rollback")
    assert r.status_code in (200, 201), describe(r)
    after = setup.api.get(f"{setup.base}/workspaces/{ws}/data", params={"data_type": "state_raw"}).json()
    assert len(after) == len(states) + 1 and after[0]["id"] not in {v["id"] for v in states}, after
    assert after[0]["policy_evaluation_status"] == "error", after[0]


# ---- force-unlock --------------------------------------------------------------------------


def test_force_unlock_policy_refuses_editors_and_lets_admins(setup, uid):
    setup.policy_set("unlock_admins", "workspace", "onforceunlock", FORCE_UNLOCK_ONLY_ADMINS)
    ws = uid("ws")
    assert setup.workspace(ws).status_code == 200
    r = setup.api.post(f"{setup.base}/workspaces/{ws}/actions/lock", json={"reason": "maintenance"})
    assert r.status_code == 200, describe(r)
    editor = setup.tenant.client("editor")
    r = editor.post(f"{setup.base}/workspaces/{ws}/actions/force-unlock")
    body = assert_error(r, 403, mentions="policy")
    evaluation = evaluation_ok(body["policy_evaluation"], "error")
    assert "only admins may force-unlock" in json.dumps(evaluation)
    assert setup.api.get(f"{setup.base}/workspaces/{ws}").json()["backend_locked"] is True

    # The backend's force-unlock (an UNLOCK with no body) is guarded the same way.
    r = editor.request("UNLOCK", f"{setup.base}/workspaces/{ws}/terraform-backend/lock")
    assert r.status_code == 403, describe(r)
    assert setup.api.get(f"{setup.base}/workspaces/{ws}").json()["backend_locked"] is True

    r = setup.api.post(f"{setup.base}/workspaces/{ws}/actions/force-unlock")
    assert r.status_code == 200, describe(r)
    evaluation_ok(r.json()["policy_evaluation"], "pass")
    assert r.json()["unlocked"] is True
    assert setup.api.get(f"{setup.base}/workspaces/{ws}").json()["backend_locked"] is False
