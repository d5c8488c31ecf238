"""Policy management under /pm/api/v1: policies, policy sets, evaluate, evaluations.

Specs: harness-policies-api-openapi.yml, harness-policy-sets-api-openapi.yml,
harness-evaluate-api-openapi.yml, harness-evaluations-api-openapi.yml. The level of a policy or
set comes from the query (orgIdentifier, projectIdentifier); lists are JSON arrays counting
pages from 0.

Spec notes: CreateRequestBody2 (policy set create) lists response fields (created, account_id,
...) as required; only identifier, name, type, action and enabled are asked of clients.
EvaluationDetail requires entity_selector without declaring it; the server sends it.
"""
from __future__ import annotations

import json
import re
import time

import pytest
import yaml

from spec_schema import assert_error, body_of, describe, validate, validate_array

POLICIES_SPEC = "harness-policies-api-openapi.yml"
SETS_SPEC = "harness-policy-sets-api-openapi.yml"
EVALUATE_SPEC = "harness-evaluate-api-openapi.yml"
EVALUATIONS_SPEC = "harness-evaluations-api-openapi.yml"
WORKSPACES_SPEC = "harness-workspaces-api-openapi.yml"
PM = "/pm/api/v1"
MS_2020 = 1.6e12
LEVELS = ("account", "org", "project")

DENY_ANSIBLE = """package workspace

deny[msg] {
  input.workspace.provisioner == "ansible"
  msg := sprintf("provisioner %s is not allowed", [input.workspace.provisioner])
}
"""

DENY_NO_TAG = """package workspace

deny[msg] {
  not input.workspace.tags.team
  msg := "workspaces need a team tag"
}
"""

WARN_ONLY = """package workspace

warn[msg] {
  input.workspace.provisioner != "opentofu"
  msg := "consider opentofu"
}
"""

CONFLICT = """package workspace

x = 1 { true }
x = 2 { true }
deny[msg] {
  x == 3
  msg := "never"
}
"""

PLAN_POLICY = """package terraform_plan

deny[msg] {
  rc := input.resource_changes[_]
  rc.change.actions[_] == "delete"
  msg := sprintf("deleting %s is not allowed", [rc.address])
}
"""


def pm_error(resp, status, mentions=None):
    """An error answer: the status, the IaCMError shape, and the PM spec's error shape."""
    body = assert_error(resp, status, mentions=mentions)
    validate(POLICIES_SPEC, "PolicyManagementError", {k: body[k] for k in
                                                      ("name", "id", "message", "temporary", "timeout",
                                                       "fault")})
    return body


def ok(resp, status, spec=None, schema=None, array=False):
    assert resp.status_code == status, describe(resp)
    if spec is None:
        return None
    body = body_of(resp)
    (validate_array if array else validate)(spec, schema, body)
    return body


class Level:
    """One level (account / org / project) of one account: its query parameters."""

    def __init__(self, api, kind, org=None, project=None):
        self.api, self.kind, self.org, self.project = api, kind, org, project
        self.params = {}
        if org:
            self.params["orgIdentifier"] = org
        if project:
            self.params["projectIdentifier"] = project

    def q(self, **more):
        return {**self.params, **more}

    def create_policy(self, identifier, rego=DENY_ANSIBLE, name=None):
        r = self.api.post(f"{PM}/policies", params=self.q(),
                          json={"identifier": identifier, "name": name or f"Policy {identifier}", "rego": rego})
        return ok(r, 201, POLICIES_SPEC, "PolicyManagementPolicy")

    def create_set(self, identifier, type_="workspace", action="onsave", enabled=True, policies=None, **extra):
        body = {"identifier": identifier, "name": f"Set {identifier}", "type": type_, "action": action,
                "enabled": enabled, **extra}
        r = self.api.post(f"{PM}/policysets", params=self.q(), json=body)
        created = ok(r, 201, SETS_SPEC, "PolicyManagementPolicySet")
        if policies is not None:
            r = self.api.request("PATCH", f"{PM}/policysets/{identifier}", params=self.q(),
                                 json={"policies": [{"identifier": i, "severity": s} for i, s in policies]})
            assert r.status_code == 204, describe(r)
            created = self.get_set(identifier)
        return created

    def get_set(self, identifier):
        return ok(self.api.get(f"{PM}/policysets/{identifier}", params=self.q()), 200, SETS_SPEC,
                  "PolicyManagementPolicySet")

    def scope_of(self, body):
        assert body["account_id"] == self.api.account
        assert body["org_id"] == (self.org or "") and body["project_id"] == (self.project or ""), body

    def evaluate_by_type(self, input_, type_="workspace", action="onsave", entity="ws", **more):
        r = self.api.post(f"{PM}/evaluate-by-type",
                          params=self.q(type=type_, action=action, entity=entity, **more), json=input_)
        body = ok(r, 200, EVALUATIONS_SPEC, "Evaluation")
        validate(WORKSPACES_SPEC, "IaCMEvaluation", body)
        return body


def make_level(api, uid, kind, org=None, project=None):
    if kind in ("org", "project") and org is None:
        org = uid("org")
        api.create_org(org)
    if kind == "project" and project is None:
        project = uid("prj")
        api.create_project(org, project)
    return Level(api, kind, org if kind != "account" else None, project if kind == "project" else None)


@pytest.fixture(params=LEVELS)
def level(request, tenant, uid):
    """Each test body runs at all three levels, in a fresh account."""
    return make_level(tenant().api, uid, request.param)


@pytest.fixture
def tree(tenant, uid):
    """A fresh account with one org and one project: its three levels."""
    t = tenant()
    org, prj = uid("org"), uid("prj")
    t.api.create_org(org)
    t.api.create_project(org, prj)
    return types_ns(tenant=t, account=Level(t.api, "account"), org=Level(t.api, "org", org),
                    project=Level(t.api, "project", org, prj))


def types_ns(**kw):
    import types
    return types.SimpleNamespace(**kw)


# ---------------------------------------------------------------------------------------
# policies


def test_policy_crud_round_trip(level, uid):
    pid = uid("pol")
    created = level.create_policy(pid, name="No ansible")
    level.scope_of(created)
    assert created["identifier"] == pid and created["name"] == "No ansible"
    assert created["rego"] == DENY_ANSIBLE and created["policy_package_name"] == "workspace"
    assert created["created"] > MS_2020 and created["updated"] == created["created"]

    got = ok(level.api.get(f"{PM}/policies/{pid}", params=level.q()), 200, POLICIES_SPEC, "PolicyManagementPolicy")
    assert got == created

    r = level.api.request("PATCH", f"{PM}/policies/{pid}", params=level.q(), json={"name": "Renamed"})
    assert r.status_code == 204 and r.content == b"", describe(r)
    got = level.api.get(f"{PM}/policies/{pid}", params=level.q()).json()
    assert got["name"] == "Renamed" and got["rego"] == DENY_ANSIBLE and got["updated"] >= created["updated"]

    r = level.api.request("PATCH", f"{PM}/policies/{pid}", params=level.q(), json={"rego": DENY_NO_TAG})
    assert r.status_code == 204, describe(r)
    got = level.api.get(f"{PM}/policies/{pid}", params=level.q()).json()
    assert got["rego"] == DENY_NO_TAG and got["name"] == "Renamed"

    listed = ok(level.api.get(f"{PM}/policies", params=level.q()), 200, POLICIES_SPEC,
                "PolicyManagementPolicy", array=True)
    assert [p["identifier"] for p in listed] == [pid]

    r = level.api.delete(f"{PM}/policies/{pid}", params=level.q())
    assert r.status_code == 204 and r.content == b"", describe(r)
    pm_error(level.api.get(f"{PM}/policies/{pid}", params=level.q()), 404)
    pm_error(level.api.delete(f"{PM}/policies/{pid}", params=level.q()), 404)
    pm_error(level.api.request("PATCH", f"{PM}/policies/{pid}", params=level.q(), json={"name": "x"}), 404)
    level.create_policy(pid)  # the identifier is free again


def test_policies_live_at_their_own_level(tree, uid):
    pid = uid("pol")
    tree.org.create_policy(pid)
    pm_error(tree.account.api.get(f"{PM}/policies/{pid}", params=tree.account.q()), 404)
    pm_error(tree.project.api.get(f"{PM}/policies/{pid}", params=tree.project.q()), 404)
    # The same identifier may exist at each level.
    tree.account.create_policy(pid, rego=WARN_ONLY)
    tree.project.create_policy(pid, rego=DENY_NO_TAG)
    for lvl, rego in ((tree.account, WARN_ONLY), (tree.org, DENY_ANSIBLE), (tree.project, DENY_NO_TAG)):
        got = lvl.api.get(f"{PM}/policies/{pid}", params=lvl.q()).json()
        assert got["rego"] == rego
        lvl.scope_of(got)
        assert [p["identifier"] for p in lvl.api.get(f"{PM}/policies", params=lvl.q()).json()] == [pid]
    pm_error(tree.org.api.post(f"{PM}/policies", params=tree.org.q(),
                               json={"identifier": pid, "name": "dup", "rego": DENY_ANSIBLE}), 409)


@pytest.mark.parametrize("rego,pattern", [
    ("package x\n\ndeny[msg] {\n  msg := \"a\"\n}}\n", r"^policy\.rego:\d+: rego_parse_error: "),
    ("deny[msg] { msg := 1 }\n", r"^policy\.rego:\d+: rego_parse_error: "),
    ("package x\n\ndeny[msg] {\n  input.a == y\n  msg := \"m\"\n}\n", r"^policy\.rego:\d+: rego_unsafe_var_error: "),
    ("package x\n\ndeny[msg] {\n  msg := no_such_function(1)\n}\n", r"^policy\.rego:\d+: rego_(type|compile)_error: "),
])
def test_compile_errors_are_400_with_opas_message(api, uid, rego, pattern):
    pid = uid("pol")
    body = pm_error(api.post(f"{PM}/policies", json={"identifier": pid, "name": "bad", "rego": rego}), 400)
    assert re.match(pattern, body["message"]), body["message"]
    pm_error(api.get(f"{PM}/policies/{pid}"), 404)
    # An update with the same Rego is refused and changes nothing.
    good = api.post(f"{PM}/policies", json={"identifier": pid, "name": "good", "rego": DENY_ANSIBLE})
    assert good.status_code == 201, describe(good)
    body = pm_error(api.request("PATCH", f"{PM}/policies/{pid}", json={"rego": rego, "name": "changed"}), 400)
    assert re.match(pattern, body["message"]), body["message"]
    got = api.get(f"{PM}/policies/{pid}").json()
    assert got["rego"] == DENY_ANSIBLE and got["name"] == "good"
    # The evaluate endpoint says the same.
    body = pm_error(api.post(f"{PM}/evaluate", json={"rego": rego, "input": {}}), 400)
    assert re.match(pattern, body["message"]), body["message"]


@pytest.mark.parametrize("case", [
    ({"name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "ok_id", "rego": DENY_ANSIBLE}, "name"),
    ({"identifier": "ok_id", "name": "n"}, "rego"),
    ({"identifier": "ok_id", "name": "n", "rego": ""}, "rego"),
    ({"identifier": 5, "name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "ok_id", "name": ["n"], "rego": DENY_ANSIBLE}, "name"),
    ({"identifier": "ok_id", "name": "n", "rego": {"package": "x"}}, "rego"),
    ({"identifier": "ok_id", "name": "", "rego": DENY_ANSIBLE}, "name"),
    ({"identifier": "a.b", "name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "../etc/passwd", "name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "x" * 129, "name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "a b", "name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "1abc", "name": "n", "rego": DENY_ANSIBLE}, "identifier"),
    ({"identifier": "ok_id", "name": "n\u0000x", "rego": DENY_ANSIBLE}, "name"),
])
def test_bad_policy_bodies_are_400_naming_the_field(api, case):
    body, field = case
    pm_error(api.post(f"{PM}/policies", json=body), 400, mentions=field)


def test_bad_documents_and_parameters(api, uid):
    for raw in (b"{", b"[1,2]", b"\"text\"", b"null", b""):
        r = api.request("POST", f"{PM}/policies", data=raw, headers={"Content-Type": "application/json"})
        pm_error(r, 400)
    r = api.request("POST", f"{PM}/policies", data=b"identifier: [", headers={"Content-Type": "application/yaml"})
    assert_error(r, 400, yaml_body=True)
    pm_error(api.request("POST", f"{PM}/policies", data=b"x", headers={"Content-Type": "text/csv"}), 415)
    pm_error(api.get(f"{PM}/policies", params={"projectIdentifier": "p"}), 400, mentions="orgIdentifier")
    pm_error(api.get(f"{PM}/policies", params={"orgIdentifier": "bad org"}), 400, mentions="orgIdentifier")
    pm_error(api.get(f"{PM}/policies", params={"orgIdentifier": uid("nope")}), 404)
    pm_error(api.get(f"{PM}/policies", params={"per_page": "many"}), 400)
    pm_error(api.get(f"{PM}/policies", params={"page": "-1"}), 400)
    pm_error(api.get(f"{PM}/policies", params={"sort": "rego,ASC"}), 400)
    pm_error(api.get(f"{PM}/policies", params={"sort": "name,SIDEWAYS"}), 400)
    pm_error(api.get(f"{PM}/policies", params={"excludeRegoFromResponse": "maybe"}), 400)
    for hostile in ("a.b", "x" * 200, "%2e%2e", "a%00b", "1abc"):
        r = api.get(f"{PM}/policies/{hostile}")
        assert 400 <= r.status_code < 500, describe(r)
        pm_error(r, r.status_code)
    pm_error(api.request("PATCH", f"{PM}/policies/{uid('nope')}", json={"name": 5}), (400, 404))
    pm_error(api.post(f"{PM}/policies", json={"identifier": uid("p"), "name": "n", "rego": "x" * (300 * 1024)}),
             400, mentions="rego")


def test_update_rules(api, uid):
    pid = uid("pol")
    api.post(f"{PM}/policies", json={"identifier": pid, "name": "n", "rego": DENY_ANSIBLE})
    pm_error(api.request("PATCH", f"{PM}/policies/{pid}", json={"identifier": uid("other")}), 400, mentions="identifier")
    pm_error(api.request("PATCH", f"{PM}/policies/{pid}", json={"name": 12}), 400, mentions="name")
    pm_error(api.request("PATCH", f"{PM}/policies/{pid}", json={"rego": ""}), 400, mentions="rego")
    pm_error(api.request("PATCH", f"{PM}/policies/{pid}", data=b"{", headers={"Content-Type": "application/json"}), 400)
    r = api.request("PATCH", f"{PM}/policies/{pid}", json={"identifier": pid, "name": "same id is fine"})
    assert r.status_code == 204, describe(r)
    r = api.request("PATCH", f"{PM}/policies/{pid}", json={"name": "stale"}, headers={"If-Match": '"999"'})
    pm_error(r, 412)
    got = api.get(f"{PM}/policies/{pid}")
    assert got.json()["name"] == "same id is fine"
    etag = got.headers["ETag"]
    r = api.request("PATCH", f"{PM}/policies/{pid}", json={"name": "fresh"}, headers={"If-Match": etag})
    assert r.status_code == 204, describe(r)
    pm_error(api.request("PATCH", f"{PM}/policies/{pid}", json={"name": "late"}, headers={"If-Match": etag}), 412)
    assert api.get(f"{PM}/policies/{pid}").headers["ETag"] != etag
    # DELETE honours If-Match too: a stale one deletes nothing.
    pm_error(api.delete(f"{PM}/policies/{pid}", headers={"If-Match": etag}), 412)
    current = api.get(f"{PM}/policies/{pid}")
    assert current.status_code == 200
    r = api.delete(f"{PM}/policies/{pid}", headers={"If-Match": current.headers["ETag"]})
    assert r.status_code == 204, describe(r)
    assert api.get(f"{PM}/policies/{pid}").status_code == 404


def test_move_policy_is_not_supported(api, uid):
    pid = uid("pol")
    api.post(f"{PM}/policies", json={"identifier": pid, "name": "n", "rego": DENY_ANSIBLE})
    move = {"git_repo": "r", "git_branch": "main", "git_path": "p.rego", "git_commit_msg": "m"}
    pm_error(api.post(f"{PM}/policies/move-policy/{pid}", json=move), 400, mentions="git")
    pm_error(api.post(f"{PM}/policies/move-policy/{uid('nope')}", json=move), 404)


def test_policy_list_paging_sort_search_and_options(level, uid):
    ids = [f"pol_{c}_{uid('x')[2:8]}" for c in "edcba"]
    for i, pid in enumerate(ids):
        level.create_policy(pid, name=f"Name {4 - i}")
    r = level.api.get(f"{PM}/policies", params=level.q(per_page=2, page=1))
    page = ok(r, 200, POLICIES_SPEC, "PolicyManagementPolicy", array=True)
    assert [p["name"] for p in page] == ["Name 2", "Name 3"]
    h = r.headers
    assert (h["X-Total-Elements"], h["X-Page-Number"], h["X-Page-Size"], h["X-Total-Pages"],
            h["X-Total-Items"], h["X-Page-Index"], h["X-Page-Item-Count"]) == ("5", "1", "2", "3", "5", "1", "2")
    names = [p["name"] for p in level.api.get(f"{PM}/policies", params=level.q(sort="name,DESC")).json()]
    assert names == [f"Name {i}" for i in range(4, -1, -1)]
    upd = level.api.get(f"{PM}/policies", params=level.q(sort="updated,ASC")).json()
    updated = {p["identifier"]: p["updated"] for p in upd}
    # Made one after another: a later one never has an earlier time (two in one millisecond
    # tie, and a tie goes by identifier).
    assert [updated[i] for i in ids] == sorted(updated[i] for i in ids)
    assert [p["identifier"] for p in upd] == sorted(ids, key=lambda i: (updated[i], i))
    assert [p["identifier"] for p in level.api.get(f"{PM}/policies", params=level.q(searchTerm="name 3")).json()] == [ids[1]]
    r = level.api.get(f"{PM}/policies", params=level.q(identifierFilter=f"{ids[0]},{ids[4]}"))
    assert sorted(p["identifier"] for p in r.json()) == sorted([ids[0], ids[4]])
    assert r.headers["X-Total-Elements"] == "2"
    r = level.api.get(f"{PM}/policies", params=level.q(per_page=500))
    assert r.headers["X-Page-Size"] == "100"
    no_rego = level.api.get(f"{PM}/policies", params=level.q(excludeRegoFromResponse="true")).json()
    assert no_rego and all("rego" not in p for p in no_rego)
    level.create_set(uid("set"), policies=[(ids[0], "error")])
    counted = level.api.get(f"{PM}/policies", params=level.q(includePolicySetCount="true")).json()
    assert {p["identifier"]: p["policy_set_count"] for p in counted} == {i: int(i == ids[0]) for i in ids}
    assert all("policy_set_count" not in p for p in level.api.get(f"{PM}/policies", params=level.q()).json())


# ---------------------------------------------------------------------------------------
# policy sets


def test_policy_set_crud_round_trip(level, uid):
    sid, p1, p2 = uid("set"), uid("pol"), uid("pol")
    level.create_policy(p1)
    level.create_policy(p2, rego=WARN_ONLY)
    created = level.create_set(sid, description="Critical workspace rules")
    level.scope_of(created)
    assert (created["identifier"], created["type"], created["action"], created["enabled"]) == (
        sid, "workspace", "onsave", True)
    assert created["policies"] == [] and created["entity_selector"] == "all_entities_in_scope"
    assert created["description"] == "Critical workspace rules"
    assert created["created"] > MS_2020 and created["updated"] == created["created"]

    r = level.api.request("PATCH", f"{PM}/policysets/{sid}", params=level.q(), json={
        "policies": [{"identifier": p1, "severity": "error"}, {"identifier": p2, "severity": "warning"}],
        "enabled": False, "name": "Renamed"})
    assert r.status_code == 204 and r.content == b"", describe(r)
    got = level.get_set(sid)
    assert got["name"] == "Renamed" and got["enabled"] is False and got["type"] == "workspace"
    assert [(p["identifier"], p["severity"]) for p in got["policies"]] == [(p1, "error"), (p2, "warning")]
    assert got["policies"][0]["rego"] == DENY_ANSIBLE
    for p in got["policies"]:
        validate(SETS_SPEC, "LinkedPolicy", p)
        level.scope_of(p)
    assert got["description"] == "Critical workspace rules", "PATCH keeps what it does not name"

    listed = ok(level.api.get(f"{PM}/policysets", params=level.q()), 200, SETS_SPEC,
                "PolicyManagementPolicySet", array=True)
    assert [s["identifier"] for s in listed] == [sid] and listed[0] == got

    via_policy = ok(level.api.get(f"{PM}/policies/{p1}/policysets", params=level.q()), 200, POLICIES_SPEC,
                    "PolicyToPolicySet", array=True)
    assert [s["identifier"] for s in via_policy] == [sid]
    assert via_policy[0]["action"] == "onsave" and via_policy[0]["enabled"] is False

    r = level.api.request("PATCH", f"{PM}/policysets/{sid}", params=level.q(), json={"policies": []})
    assert r.status_code == 204, describe(r)
    assert level.get_set(sid)["policies"] == []
    assert level.api.get(f"{PM}/policies/{p1}/policysets", params=level.q()).json() == []

    r = level.api.delete(f"{PM}/policysets/{sid}", params=level.q())
    assert r.status_code == 204 and r.content == b"", describe(r)
    pm_error(level.api.get(f"{PM}/policysets/{sid}", params=level.q()), 404)
    pm_error(level.api.delete(f"{PM}/policysets/{sid}", params=level.q()), 404)
    # Policies outlive their sets.
    ok(level.api.get(f"{PM}/policies/{p1}", params=level.q()), 200)


def test_every_type_and_action_of_the_table(tenant, uid):
    # A fresh account: enabled sets here must not reach other tests' workspaces.
    api = tenant().api
    for type_, action in (("workspace", "onsave"), ("terraformPlan", "afterTerraformPlan"),
                          ("terraformPlanCost", "afterTerraformPlan"), ("terraformState", "afterTerraformPlan"),
                          ("terraformState", "afterTerraformApply"), ("workspace", "onforceunlock")):
        sid = uid("set")
        r = api.post(f"{PM}/policysets", json={"identifier": sid, "name": sid, "type": type_, "action": action,
                                               "enabled": True})
        body = ok(r, 201, SETS_SPEC, "PolicyManagementPolicySet")
        assert (body["type"], body["action"]) == (type_, action)


def test_policy_set_links_across_levels(tree, uid):
    a, o, p = uid("pa"), uid("po"), uid("pp")
    tree.account.create_policy(a)
    tree.org.create_policy(o)
    tree.project.create_policy(p)
    sid = uid("set")
    got = tree.project.create_set(sid, policies=[(f"account.{a}", "error"), (f"org.{o}", "warning"), (p, "error")])
    assert [(x["identifier"], x["org_id"], x["project_id"], x["severity"]) for x in got["policies"]] == [
        (a, "", "", "error"), (o, tree.org.org, "", "warning"), (p, tree.project.org, tree.project.project, "error")]
    osid = uid("set")
    got = tree.org.create_set(osid, policies=[(f"account.{a}", "warning"), (o, "error")])
    assert [x["identifier"] for x in got["policies"]] == [a, o]
    # A level cannot link below itself, nor a policy it cannot name.
    r = tree.org.api.request("PATCH", f"{PM}/policysets/{osid}", params=tree.org.q(),
                             json={"policies": [{"identifier": p, "severity": "error"}]})
    pm_error(r, 404)
    asid = uid("set")
    tree.account.create_set(asid)
    r = tree.account.api.request("PATCH", f"{PM}/policysets/{asid}", params=tree.account.q(),
                                 json={"policies": [{"identifier": f"org.{o}", "severity": "error"}]})
    pm_error(r, 400, mentions="account")
    # The account policy is linked from two levels.
    linking = tree.account.api.get(f"{PM}/policies/{a}/policysets", params=tree.account.q()).json()
    assert sorted((s["identifier"], s["project_id"]) for s in linking) == sorted(
        [(sid, tree.project.project), (osid, "")])


def test_policysets_all_lists_the_hierarchy(tree, uid):
    ids = {}
    for name, lvl in (("account", tree.account), ("org", tree.org), ("project", tree.project)):
        ids[name] = uid(f"s{name[0]}")
        lvl.create_set(ids[name], type_="terraformPlan", action="afterTerraformPlan")
    r = tree.project.api.get(f"{PM}/policysets/all", params=tree.project.q())
    body = ok(r, 200, SETS_SPEC, "PolicyManagementPolicySet", array=True)
    assert sorted(s["identifier"] for s in body) == sorted(ids.values())
    assert r.headers["X-Total-Elements"] == "3"
    org_all = tree.org.api.get(f"{PM}/policysets/all", params=tree.org.q()).json()
    assert sorted(s["identifier"] for s in org_all) == sorted([ids["account"], ids["org"]])
    assert [s["identifier"] for s in tree.account.api.get(f"{PM}/policysets/all").json()] == [ids["account"]]
    # The plain list shows one level only.
    assert [s["identifier"] for s in tree.project.api.get(f"{PM}/policysets", params=tree.project.q()).json()] == [
        ids["project"]]
    r = tree.project.api.get(f"{PM}/policysets/all", params=tree.project.q(per_page=1, page=2))
    assert len(r.json()) == 1 and r.headers["X-Total-Pages"] == "3"


def test_policy_set_filters(tree, uid):
    lvl = tree.project
    ws, plan, state = uid("ws"), uid("plan"), uid("state")
    lvl.create_set(ws)
    lvl.create_set(plan, type_="terraformPlan", action="afterTerraformPlan")
    lvl.create_set(state, type_="terraformState", action="afterTerraformApply")
    ids = lambda **p: sorted(s["identifier"] for s in lvl.api.get(f"{PM}/policysets", params=lvl.q(**p)).json())
    assert ids(type="workspace") == [ws]
    assert ids(types="terraformPlan,terraformState") == sorted([plan, state])
    assert ids(action="afterTerraformPlan") == [plan]
    assert ids(action="afterTerraformApply", type="terraformState") == [state]
    assert ids(searchTerm=plan) == [plan]
    assert ids(identifierFilter=f"{ws},{state}") == sorted([ws, state])
    pm_error(lvl.api.get(f"{PM}/policysets", params=lvl.q(type="pipeline")), 400, mentions="type")
    pm_error(lvl.api.get(f"{PM}/policysets", params=lvl.q(action="onrun")), 400, mentions="action")


@pytest.mark.parametrize("case", [
    ({"name": "n", "type": "workspace", "action": "onsave", "enabled": True}, "identifier"),
    ({"identifier": "s", "type": "workspace", "action": "onsave", "enabled": True}, "name"),
    ({"identifier": "s", "name": "n", "action": "onsave", "enabled": True}, "type"),
    ({"identifier": "s", "name": "n", "type": "workspace", "enabled": True}, "action"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave"}, "enabled"),
    ({"identifier": "s", "name": "n", "type": "pipeline", "action": "onrun", "enabled": True}, "type"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "afterTerraformPlan", "enabled": True}, "action"),
    ({"identifier": "s", "name": "n", "type": "terraformPlanCost", "action": "afterTerraformApply", "enabled": True},
     "action"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave", "enabled": "yes"}, "enabled"),
    ({"identifier": "s", "name": "n", "type": 3, "action": "onsave", "enabled": True}, "type"),
    ({"identifier": "s.x", "name": "n", "type": "workspace", "action": "onsave", "enabled": True}, "identifier"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave", "enabled": True,
      "entity_selector": "everything"}, "entity_selector"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave", "enabled": True,
      "entity_selector": "all_entities_in_resource_groups"}, "entity_selector"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave", "enabled": True,
      "yaml_version": "7"}, "yaml_version"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave", "enabled": True,
      "infra_type": "Mainframe"}, "infra_type"),
    ({"identifier": "s", "name": "n", "type": "workspace", "action": "onsave", "enabled": True,
      "description": "d" * 2000}, "description"),
])
def test_bad_policy_set_bodies_are_400(api, case):
    body, field = case
    pm_error(api.post(f"{PM}/policysets", json=body), 400, mentions=field)


def test_bad_policy_links(tenant, uid):
    api = tenant().api
    sid, pid = uid("set"), uid("pol")
    api.post(f"{PM}/policies", json={"identifier": pid, "name": "n", "rego": DENY_ANSIBLE})
    r = api.post(f"{PM}/policysets", json={"identifier": sid, "name": "n", "type": "workspace", "action": "onsave",
                                           "enabled": True})
    assert r.status_code == 201, describe(r)
    cases = [
        ({"policies": [{"identifier": pid, "severity": "fatal"}]}, 400, "severity"),
        ({"policies": [{"identifier": pid}]}, 400, "severity"),
        ({"policies": [{"severity": "error"}]}, 400, "identifier"),
        ({"policies": [{"identifier": pid, "severity": "error"}, {"identifier": pid, "severity": "warning"}]}, 400,
         "twice"),
        ({"policies": {"identifier": pid}}, 400, "policies"),
        ({"policies": ["x"]}, 400, "policies"),
        ({"policies": [{"identifier": "bad id", "severity": "error"}]}, 400, "identifier"),
        ({"policies": [{"identifier": uid("missing"), "severity": "error"}]}, 404, None),
        ({"type": "terraformPlan"}, 400, "action"),
        ({"identifier": uid("other")}, 400, "identifier"),
        ({"enabled": "false"}, 400, "enabled"),
    ]
    for body, status, field in cases:
        pm_error(api.request("PATCH", f"{PM}/policysets/{sid}", json=body), status, mentions=field)
    got = api.get(f"{PM}/policysets/{sid}").json()
    assert got["policies"] == [] and got["type"] == "workspace" and got["enabled"] is True
    # type and action change together.
    r = api.request("PATCH", f"{PM}/policysets/{sid}", json={"type": "terraformPlan", "action": "afterTerraformPlan"})
    assert r.status_code == 204, describe(r)
    pm_error(api.request("PATCH", f"{PM}/policysets/{sid}", json={"name": "x"}, headers={"If-Match": '"1"'}), 412)
    pm_error(api.post(f"{PM}/policysets", json={"identifier": sid, "name": "n", "type": "workspace",
                                                 "action": "onsave", "enabled": True}), 409)


def test_deleting_a_linked_policy(tree, uid):
    pid, s1, s2 = uid("pol"), uid("set"), uid("set")
    tree.account.create_policy(pid)
    tree.account.create_set(s1, policies=[(pid, "error")])
    tree.project.create_set(s2, policies=[(f"account.{pid}", "warning")])
    r = tree.account.api.delete(f"{PM}/policies/{pid}", params=tree.account.q())
    body = pm_error(r, 409)
    validate(POLICIES_SPEC, "PolicyReferencedResult", body)
    assert sorted((x["identifier"], x["project_id"]) for x in body["referenced_by"]) == sorted(
        [(s1, ""), (s2, tree.project.project)])
    for ref in body["referenced_by"]:
        validate(POLICIES_SPEC, "PolicySetRef", ref)
    ok(tree.account.api.get(f"{PM}/policies/{pid}", params=tree.account.q()), 200)
    r = tree.account.api.delete(f"{PM}/policies/{pid}", params=tree.account.q(force="true"))
    assert r.status_code == 204, describe(r)
    assert tree.account.get_set(s1)["policies"] == [] and tree.project.get_set(s2)["policies"] == []
    pm_error(tree.account.api.get(f"{PM}/policies/{pid}", params=tree.account.q()), 404)


def test_deleting_an_org_or_project_takes_its_policies(tenant, uid):
    t = tenant()
    org, prj = uid("org"), uid("prj")
    t.api.create_org(org)
    t.api.create_project(org, prj)
    lvl = Level(t.api, "project", org, prj)
    pid, sid = uid("pol"), uid("set")
    lvl.create_policy(pid)
    lvl.create_set(sid, policies=[(pid, "error")])
    lvl.evaluate_by_type({"workspace": {"provisioner": "ansible"}})
    assert t.api.delete(f"/v1/orgs/{org}/projects/{prj}").status_code == 200
    t.api.create_project(org, prj)
    assert t.api.get(f"{PM}/policies", params=lvl.q()).json() == []
    assert t.api.get(f"{PM}/policysets", params=lvl.q()).json() == []
    r = t.api.get(f"{PM}/evaluations", params=lvl.q())
    assert r.json() == [] and r.headers["X-Total-Elements"] == "0"
    olvl = Level(t.api, "org", org)
    olvl.create_policy(pid)
    assert t.api.delete(f"/v1/orgs/{org}/projects/{prj}").status_code == 200
    assert t.api.delete(f"/v1/orgs/{org}").status_code == 200
    t.api.create_org(org)
    assert t.api.get(f"{PM}/policies", params=olvl.q()).json() == []


# ---------------------------------------------------------------------------------------
# evaluate


def test_evaluate_ad_hoc(api):
    r = api.post(f"{PM}/evaluate", json={"rego": DENY_ANSIBLE, "input": {"workspace": {"provisioner": "ansible"}}})
    body = ok(r, 200, EVALUATE_SPEC, "EvaluatedPolicy")
    assert body["status"] == "error" and body["deny_messages"] == ["provisioner ansible is not allowed"]
    assert body["error"] == "" and body["output"] == {"deny": ["provisioner ansible is not allowed"]}
    assert body["policy"]["rego"] == DENY_ANSIBLE and body["policy"]["policy_package_name"] == "workspace"

    body = ok(api.post(f"{PM}/evaluate", json={"rego": DENY_ANSIBLE, "input": {"workspace": {"provisioner": "terraform"}}}),
              200, EVALUATE_SPEC, "EvaluatedPolicy")
    assert body["status"] == "pass" and body["deny_messages"] == [] and body["output"] == {"deny": []}

    body = ok(api.post(f"{PM}/evaluate", json={"rego": WARN_ONLY, "input": {"workspace": {"provisioner": "terraform"}}}),
              200, EVALUATE_SPEC, "EvaluatedPolicy")
    assert body["status"] == "warning" and body["warn_messages"] == ["consider opentofu"]

    body = ok(api.post(f"{PM}/evaluate", json={"rego": CONFLICT, "input": {}}), 200, EVALUATE_SPEC, "EvaluatedPolicy")
    assert body["status"] == "error" and "eval_conflict_error" in body["error"], body

    # Any JSON value is an input; null is one too.
    for value in (None, [1, 2], "text", 3):
        ok(api.post(f"{PM}/evaluate", json={"rego": DENY_ANSIBLE, "input": value}), 200, EVALUATE_SPEC,
           "EvaluatedPolicy")


def test_evaluate_bad_requests(api, anon, tenant):
    pm_error(api.post(f"{PM}/evaluate", json={"input": {}}), 400, mentions="rego")
    pm_error(api.post(f"{PM}/evaluate", json={"rego": DENY_ANSIBLE}), 400, mentions="input")
    pm_error(api.post(f"{PM}/evaluate", json={"rego": 1, "input": {}}), 400, mentions="rego")
    pm_error(api.post(f"{PM}/evaluate", json={"rego": "", "input": {}}), 400, mentions="rego")
    pm_error(api.post(f"{PM}/evaluate", data=b"{", headers={"Content-Type": "application/json"}), 400)
    pm_error(api.post(f"{PM}/evaluate", json=[1]), 400)
    pm_error(anon.post(f"{PM}/evaluate", json={"rego": DENY_ANSIBLE, "input": {}}), 401)
    viewer = tenant().client("viewer")
    ok(viewer.post(f"{PM}/evaluate", json={"rego": DENY_ANSIBLE, "input": {}}), 200, EVALUATE_SPEC, "EvaluatedPolicy")


def test_yaml_and_form_bodies(tenant, uid):
    api = tenant().api  # its enabled set must not reach other tests' workspaces
    pid = uid("pol")
    r = api.post(f"{PM}/policies", data=yaml.safe_dump({"identifier": pid, "name": "Y", "rego": DENY_ANSIBLE}),
                 headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201 and "yaml" in r.headers["Content-Type"], describe(r)
    body = yaml.safe_load(r.text)
    validate(POLICIES_SPEC, "PolicyManagementPolicy", body)
    assert body["rego"] == DENY_ANSIBLE
    sid = uid("set")
    form = {"identifier": sid, "name": "Form set", "type": "workspace", "action": "onsave", "enabled": "true",
            "policies[0].identifier": pid, "policies[0].severity": "warning"}
    r = api.post(f"{PM}/policysets", data=form)
    body = ok(r, 201, SETS_SPEC, "PolicyManagementPolicySet")
    assert body["enabled"] is True and [(p["identifier"], p["severity"]) for p in body["policies"]] == [(pid, "warning")]
    r = api.post(f"{PM}/evaluate", data=yaml.safe_dump({"rego": DENY_ANSIBLE, "input": {"workspace": {"provisioner": "ansible"}}}),
                 headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200 and yaml.safe_load(r.text)["status"] == "error", describe(r)


# ---------------------------------------------------------------------------------------
# enforcement and the evaluation history


def test_enforcement_statuses_and_history(tree, uid):
    acct_pol, org_pol, prj_pol, warn_pol = uid("pa"), uid("po"), uid("pp"), uid("pw")
    tree.account.create_policy(acct_pol, rego=DENY_ANSIBLE)
    tree.org.create_policy(org_pol, rego=DENY_NO_TAG)
    tree.project.create_policy(prj_pol, rego=DENY_ANSIBLE)
    tree.project.create_policy(warn_pol, rego=WARN_ONLY)
    s_acct, s_org, s_prj, s_off, s_plan = uid("sa"), uid("so"), uid("sp"), uid("soff"), uid("splan")
    tree.account.create_set(s_acct, policies=[(acct_pol, "error")])
    tree.org.create_set(s_org, policies=[(org_pol, "warning")])
    tree.project.create_set(s_prj, policies=[(prj_pol, "warning"), (warn_pol, "error"), (f"account.{acct_pol}", "warning")])
    tree.project.create_set(s_off, enabled=False, policies=[(prj_pol, "error")])
    tree.project.create_set(s_plan, type_="terraformPlan", action="afterTerraformPlan", policies=[(prj_pol, "error")])

    # Everything passes.
    good = {"workspace": {"provisioner": "opentofu", "tags": {"team": "infra"}}}
    ev = tree.project.evaluate_by_type(good, entity="ws_good")
    assert ev["status"] == "pass" and ev["entity"] == "ws_good" and ev["input"] == good
    assert [d["identifier"] for d in ev["details"]] == [s_acct, s_org, s_prj], "enabled onsave sets, account first"
    assert all(d["status"] == "pass" for d in ev["details"])

    # Warnings only: an org policy with warning severity denies, a warn rule speaks.
    ev = tree.project.evaluate_by_type({"workspace": {"provisioner": "terraform"}}, entity="ws_warn")
    assert ev["status"] == "warning"
    by_set = {d["identifier"]: d for d in ev["details"]}
    assert by_set[s_acct]["status"] == "pass" and by_set[s_org]["status"] == "warning"
    assert by_set[s_org]["details"][0]["deny_messages"] == ["workspaces need a team tag"]
    assert by_set[s_org]["details"][0]["policy_severity"] == "Warn & Continue"
    prj = {p["policy"]["identifier"]: p for p in by_set[s_prj]["details"]}
    assert prj[warn_pol]["status"] == "warning" and prj[warn_pol]["warn_messages"] == ["consider opentofu"]

    # An error-severity deny makes it an error; the same policy linked as warning elsewhere
    # is a warning there.
    ev = tree.project.evaluate_by_type({"workspace": {"provisioner": "ansible", "tags": {"team": "x"}}},
                                       entity="ws_bad", entityMetadata=json.dumps({"workspace": "ws_bad"}))
    assert ev["status"] == "error"
    by_set = {d["identifier"]: d for d in ev["details"]}
    assert by_set[s_acct]["status"] == "error"
    assert by_set[s_acct]["details"][0]["deny_messages"] == ["provisioner ansible is not allowed"]
    assert by_set[s_acct]["details"][0]["policy_severity"] == "Error & Exit"
    assert by_set[s_prj]["status"] == "warning"
    assert json.loads(ev["entity_metadata"]) == {"workspace": "ws_bad"}
    bad_id = ev["id"]

    # Other types run other sets.
    ev = tree.project.evaluate_by_type({"resource_changes": []}, type_="terraformPlan", action="afterTerraformPlan")
    assert [d["identifier"] for d in ev["details"]] == [s_plan] and ev["status"] == "pass"

    # History: newest first, every entry in the spec's shape.
    r = tree.project.api.get(f"{PM}/evaluations", params=tree.project.q())
    hist = ok(r, 200, EVALUATIONS_SPEC, "Evaluation", array=True)
    assert [e["entity"] for e in hist] == ["ws", "ws_bad", "ws_warn", "ws_good"]
    assert all("input" not in e for e in hist), "lists leave the inputs out"
    assert r.headers["X-Total-Elements"] == "4"
    ids = [e["id"] for e in hist]
    assert ids == sorted(ids, reverse=True)

    def entities(**params):
        return [e["entity"] for e in tree.project.api.get(f"{PM}/evaluations", params=tree.project.q(**params)).json()]

    assert entities(status="error") == ["ws_bad"]
    assert entities(status="warning,pass") == ["ws", "ws_warn", "ws_good"]
    assert entities(type="terraformPlan") == ["ws"]
    assert entities(action="onsave") == ["ws_bad", "ws_warn", "ws_good"]
    assert entities(entity="ws_warn") == ["ws_warn"]
    assert entities(last_seen=bad_id) == ["ws_warn", "ws_good"]
    assert entities(created_date_from=hist[0]["created"] + 10 ** 6) == []
    assert entities(created_date_to=hist[-1]["created"] - 1) == []
    assert entities(per_page=2, page=1) == ["ws_warn", "ws_good"]
    r = tree.project.api.get(f"{PM}/evaluations", params=tree.project.q(status="error"))
    assert r.headers["X-Total-Elements"] == "1"

    one = ok(tree.project.api.get(f"{PM}/evaluations/{bad_id}", params=tree.project.q()), 200, EVALUATIONS_SPEC,
             "Evaluation")
    assert one["input"] == {"workspace": {"provisioner": "ansible", "tags": {"team": "x"}}}
    assert one["status"] == "error" and one["details"] == [d for d in one["details"]]
    assert one["duration_ms"] >= 0
    for detail in one["details"]:
        validate(EVALUATIONS_SPEC, "EvaluationDetail", detail)
        for p in detail["details"]:
            validate(EVALUATIONS_SPEC, "EvaluatedPolicy", p)
            validate(WORKSPACES_SPEC, "IaCMEvaluatedPolicy", p)

    # Levels: the org sees its projects' evaluations only when asked to.
    assert tree.org.api.get(f"{PM}/evaluations", params=tree.org.q()).json() == []
    r = tree.org.api.get(f"{PM}/evaluations", params=tree.org.q(includeChildScopes="true"))
    assert len(r.json()) == 4 and r.headers["X-Total-Elements"] == "4"
    assert len(tree.account.api.get(f"{PM}/evaluations", params={"includeChildScopes": "true"}).json()) == 4
    ok(tree.org.api.get(f"{PM}/evaluations/{bad_id}", params=tree.org.q()), 200)
    ok(tree.account.api.get(f"{PM}/evaluations/{bad_id}"), 200)
    other = uid("prj")
    tree.tenant.api.create_project(tree.org.org, other)
    pm_error(tree.org.api.get(f"{PM}/evaluations/{bad_id}", params=tree.org.q(projectIdentifier=other)), 404)


def test_evaluation_edge_cases(tree, uid):
    lvl = tree.project
    pid = uid("pol")
    lvl.create_policy(pid, rego=CONFLICT)
    lvl.create_set(uid("set"), policies=[(pid, "warning")])
    ev = lvl.evaluate_by_type({"workspace": {}})
    assert ev["status"] == "error", "a policy that fails to evaluate is an error whatever its severity"
    p = ev["details"][0]["details"][0]
    assert "eval_conflict_error" in p["error"] and p["rego_error"] == p["error"]

    # No set applies: still recorded through evaluate-by-type, as a pass.
    ev = lvl.evaluate_by_type({}, type_="terraformState", action="afterTerraformApply")
    assert ev["status"] == "pass" and ev["details"] == [] and ev["id"] > 0

    # A large input is kept as a marker.
    big = {"workspace": {"blob": "x" * (300 * 1024)}}
    ev = lvl.evaluate_by_type(big, entity="big")
    stored = lvl.api.get(f"{PM}/evaluations/{ev['id']}", params=lvl.q()).json()
    assert stored["input"]["truncated"] is True and stored["input"]["size_bytes"] > 300 * 1024
    assert re.fullmatch(r"[0-9a-f]{64}", stored["input"]["sha256"])

    pm_error(lvl.api.post(f"{PM}/evaluate-by-type", params=lvl.q(type="pipeline", action="onrun"), json={}), 400,
             mentions="type")
    pm_error(lvl.api.post(f"{PM}/evaluate-by-type", params=lvl.q(type="workspace", action="afterTerraformApply"),
                          json={}), 400, mentions="action")
    pm_error(lvl.api.post(f"{PM}/evaluate-by-type", params=lvl.q(type="workspace", action="onsave",
                                                                  entityMetadata="not json"), json={}), 400)
    pm_error(lvl.api.post(f"{PM}/evaluate-by-type", params=lvl.q(type="workspace", action="onsave")), 400)

    for bad in ({"status": "failed"}, {"type": "pipeline"}, {"action": "onrun"}, {"last_seen": "x"},
                {"created_date_from": "yesterday"}, {"includeChildScopes": "sure"}, {"per_page": "0"}):
        pm_error(lvl.api.get(f"{PM}/evaluations", params=lvl.q(**bad)), 400)
    for bad in ("abc", "-1", "0", "1.5", "99999999999999999999"):
        pm_error(lvl.api.get(f"{PM}/evaluations/{bad}", params=lvl.q()), 400)
    pm_error(lvl.api.get(f"{PM}/evaluations/{2 ** 62}", params=lvl.q()), 404)
    # Spec endpoints for things Statehouse does not keep.
    pm_error(lvl.api.get(f"{PM}/evaluations/getYaml", params=lvl.q(entityIdentifier="p", entityType="pipeline")),
             400, mentions="pipelines")
    pm_error(lvl.api.get(f"{PM}/evaluations/evaluation-input-signed-url/{ev['id']}", params=lvl.q()), 400,
             mentions=f"/evaluations/{ev['id']}")
    pm_error(lvl.api.get(f"{PM}/evaluations/evaluation-input-signed-url/{2 ** 62}", params=lvl.q()), 404)


# ---------------------------------------------------------------------------------------
# accounts, roles and scopes


def test_accounts_are_isolated(tenant, uid):
    a, b = tenant(), tenant()
    la, lb = Level(a.api, "account"), Level(b.api, "account")
    pid, sid = uid("pol"), uid("set")
    la.create_policy(pid)
    la.create_set(sid, policies=[(pid, "error")])
    ev = la.evaluate_by_type({"workspace": {"provisioner": "ansible"}})
    pm_error(b.api.get(f"{PM}/policies/{pid}"), 404)
    pm_error(b.api.get(f"{PM}/policysets/{sid}"), 404)
    pm_error(b.api.get(f"{PM}/evaluations/{ev['id']}"), 404)
    pm_error(b.api.get(f"{PM}/policies/{pid}/policysets"), 404)
    pm_error(b.api.delete(f"{PM}/policies/{pid}", params={"force": "true"}), 404)
    pm_error(b.api.request("PATCH", f"{PM}/policysets/{sid}", json={"name": "mine"}), 404)
    assert b.api.get(f"{PM}/policies").json() == [] and b.api.get(f"{PM}/policysets/all").json() == []
    assert b.api.get(f"{PM}/evaluations", params={"includeChildScopes": "true"}).json() == []
    # B's evaluation does not run A's sets.
    assert lb.evaluate_by_type({"workspace": {"provisioner": "ansible"}})["details"] == []
    # Naming the other account is refused, by header or query.
    pm_error(b.api.as_(account=a.account).get(f"{PM}/policies"), 403)
    pm_error(b.api.get(f"{PM}/policies", params={"accountIdentifier": a.account}), 403)
    ok(a.api.get(f"{PM}/policies/{pid}", params={"accountIdentifier": a.account}), 200)
    # A's own objects are untouched.
    assert a.api.get(f"{PM}/policysets/{sid}").json()["name"] == f"Set {sid}"


def test_authentication_and_roles(anon, tenant, uid):
    t = tenant()
    pid, sid = uid("pol"), uid("set")
    Level(t.api, "account").create_policy(pid)
    Level(t.api, "account").create_set(sid)
    for method, path in (("GET", "/policies"), ("POST", "/policies"), ("GET", f"/policies/{pid}"),
                         ("GET", "/policysets"), ("GET", "/policysets/all"), ("GET", "/evaluations"),
                         ("POST", "/evaluate")):
        pm_error(anon.as_(account=t.account).request(method, PM + path, json={}), 401)
        pm_error(t.api.as_(token="pat.x.y.z").request(method, PM + path, json={}), 401)
    viewer = t.client("viewer")
    ok(viewer.get(f"{PM}/policies/{pid}"), 200)
    ok(viewer.get(f"{PM}/policysets/{sid}"), 200)
    ok(viewer.get(f"{PM}/evaluations"), 200)
    for method, path, body in (
            ("POST", "/policies", {"identifier": uid("p"), "name": "n", "rego": DENY_ANSIBLE}),
            ("PATCH", f"/policies/{pid}", {"name": "v"}),
            ("DELETE", f"/policies/{pid}", None),
            ("POST", "/policysets", {"identifier": uid("s"), "name": "n", "type": "workspace", "action": "onsave",
                                     "enabled": True}),
            ("PATCH", f"/policysets/{sid}", {"name": "v"}),
            ("DELETE", f"/policysets/{sid}", None),
            ("POST", "/evaluate-by-type?type=workspace&action=onsave", {})):
        pm_error(viewer.request(method, PM + path, json=body), 403)
    editor = t.client("editor")
    ok(editor.request("PATCH", f"{PM}/policies/{pid}", json={"name": "edited"}), 204)
    ok(editor.post(f"{PM}/evaluate-by-type", params={"type": "workspace", "action": "onsave"}, json={}), 200)
    ok(editor.delete(f"{PM}/policysets/{sid}"), 204)


def test_scoped_tokens_read_upwards_and_write_inside(tenant, uid):
    t = tenant()
    org, p1, p2 = uid("org"), uid("prj"), uid("prj")
    t.api.create_org(org)
    t.api.create_project(org, p1)
    t.api.create_project(org, p2)
    acct, lvl1, lvl2 = Level(t.api, "account"), Level(t.api, "project", org, p1), Level(t.api, "project", org, p2)
    shared, other = uid("pol"), uid("pol")
    acct.create_policy(shared)
    lvl2.create_policy(other)
    s_acct = uid("set")
    acct.create_set(s_acct, policies=[(shared, "error")])
    s2 = uid("set")
    lvl2.create_set(s2, policies=[(f"account.{shared}", "error")])
    ev2 = lvl2.evaluate_by_type({"workspace": {"provisioner": "ansible"}})

    scoped = t.client("editor", org=org, project=p1)
    mine = Level(scoped, "project", org, p1)
    ok(scoped.get(f"{PM}/policies/{shared}"), 200)  # the account level is readable
    pm_error(scoped.request("PATCH", f"{PM}/policies/{shared}", json={"name": "x"}), 403)
    pm_error(scoped.post(f"{PM}/policies", json={"identifier": uid("p"), "name": "n", "rego": DENY_ANSIBLE}), 403)
    pm_error(scoped.get(f"{PM}/policies/{other}", params=lvl2.q()), 404)
    pm_error(scoped.get(f"{PM}/policysets", params=lvl2.q()), 404)
    pm_error(scoped.get(f"{PM}/evaluations/{ev2['id']}", params=lvl2.q()), 404)
    pm_error(scoped.get(f"{PM}/evaluations/{ev2['id']}"), 404)
    mine.create_policy(uid("p"))
    s1 = uid("set")
    mine.create_set(s1, policies=[(f"account.{shared}", "warning")])
    # Sets linking the account policy: only those the token can see.
    seen = scoped.get(f"{PM}/policies/{shared}/policysets").json()
    assert sorted(s["identifier"] for s in seen) == sorted([s_acct, s1])
    ev1 = mine.evaluate_by_type({"workspace": {"provisioner": "ansible"}})
    assert ev1["status"] == "error"
    listed = scoped.get(f"{PM}/evaluations", params={"includeChildScopes": "true"}).json()
    assert [e["id"] for e in listed] == [ev1["id"]]
    assert scoped.get(f"{PM}/evaluations").json() == []
    pm_error(scoped.post(f"{PM}/evaluate-by-type", params={"type": "workspace", "action": "onsave"}, json={}), 403)
