"""IaCM workspaces: /iacm/api/orgs/{org}/projects/{project}/workspaces... and friends
(harness-workspaces-api-openapi.yml, index workspaces-endpoints.txt).

Every 2xx JSON body is validated against the spec schema.  Create/show/update/clone answer the
full workspace, so they are checked against WorkspacesShowWorkspaceResponseBody (a superset of
WorkspacesCreateWorkspaceResponseBody).  The extra documented field ``effective_variables`` is
checked by hand (``check_effective``).

Spec note: VariableResource (response) restricts ``key`` to ^[a-zA-Z0-9_]+$ while IaCMVariable
(request) allows ``-``; variable keys used in schema-validated bodies therefore avoid ``-``.
"""
from __future__ import annotations

import json
import time
import urllib.parse

import pytest
import yaml

from spec_schema import (WORKSPACES_SPEC, assert_error, body_of, describe, expect, is_json, is_yaml,
                         load_spec, validate)

SHOW = "WorkspacesShowWorkspaceResponseBody"
SUMMARY = "WorkspaceResourceSummary"
MS_2020 = 1.6e12
PROVISIONERS = ("terraform", "opentofu", "terragrunt", "ansible")
CLIENT_FIELDS = (
    "name", "description", "provisioner", "provisioner_version", "provisioner_configuration",
    "provisioner_data", "provider_connector", "provider_connectors", "repository", "repository_branch",
    "repository_commit", "repository_sha", "repository_connector", "repository_path",
    "repository_submodules", "sparse_checkout", "terragrunt_version", "terragrunt_provider", "run_all",
    "terraform_variable_files", "variable_sets", "default_pipelines", "associated_template", "tags",
    "budget", "cost_estimation_enabled", "ccm_cost_enabled", "prune_sensitive_data",
)


def now_ms() -> int:
    return int(time.time() * 1000)


def after_ms(ts: int):
    """Spin (no sleep) until the wall clock is past ts, so the next write gets a later stamp."""
    deadline = time.monotonic() + 2
    while now_ms() <= ts + 1 and time.monotonic() < deadline:
        pass


# ---------------------------------------------------------------------------------------
# helpers


class Project:
    """An org + project of one account and the workspace URLs under it."""

    def __init__(self, api, org, project):
        self.api, self.org, self.project = api, org, project
        self.base = f"/iacm/api/orgs/{org}/projects/{project}"

    def ws(self, identifier="", suffix=""):
        return f"{self.base}/workspaces" + (f"/{identifier}" if identifier else "") + suffix

    def create(self, body, status=200):
        r = self.api.post(self.ws(), json=body)
        return check_ws(r, status, self)

    def get(self, identifier):
        return check_ws(self.api.get(self.ws(identifier)), 200, self)

    def list(self, **params):
        r = self.api.get(self.ws(), params=params)
        return expect(r, 200, WORKSPACES_SPEC, SUMMARY, array=True), r


def make_project(api, uid) -> Project:
    org, prj = uid("org"), uid("prj")
    api.create_org(org)
    api.create_project(org, prj)
    return Project(api, org, prj)


@pytest.fixture
def proj(api, uid) -> Project:
    return make_project(api, uid)


def var(key, value, value_type="string"):
    return {"key": key, "value": value, "value_type": value_type}


def minimal(identifier, name=None, **extra):
    body = {"identifier": identifier, "name": name or f"Workspace {identifier}", "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}}
    body.update(extra)
    return body


def full(identifier, name="Full workspace"):
    return {
        "identifier": identifier,
        "name": name,
        "description": "the network of production",
        "provisioner": "opentofu",
        "provisioner_version": "1.6.2",
        "provisioner_configuration": "{\"parallelism\": 4}",
        "provisioner_data": "some provisioner data",
        "provider_connector": "account.aws_prod",
        "provider_connectors": [
            {"connector_ref": "account.aws_prod", "type": "aws", "terragrunt_provider": False},
            {"connector_ref": "vault_conn", "type": "vault", "terragrunt_provider": True},
        ],
        "repository": "infra",
        "repository_branch": "main",
        "repository_commit": "v1.2.3",
        "repository_sha": "abc10ed",
        "repository_connector": "account.github",
        "repository_path": "envs/prod",
        "repository_submodules": "recursive",
        "sparse_checkout": "envs/prod\nmodules/",
        "terragrunt_version": "0.55.0",
        "terragrunt_provider": True,
        "run_all": True,
        "terraform_variable_files": [
            {"repository": "infra-vars", "repository_branch": "main", "repository_path": "prod.tfvars",
             "repository_connector": "account.github"},
            {"repository": "infra-vars", "repository_commit": "abc10ed", "repository_sha": "abc10ed",
             "repository_path": "common.tfvars"},
        ],
        "default_pipelines": {
            "plan": {"project_pipeline": "proj_plan", "workspace_pipeline": "ws_plan"},
            "apply": {"project_pipeline": "proj_apply"},
        },
        "associated_template": {"template_id": "tmpl_network", "version": "v3"},
        "tags": {"team": "platform", "env": "prod"},
        "budget": 125.5,
        "cost_estimation_enabled": True,
        "ccm_cost_enabled": True,
        "prune_sensitive_data": True,
        "terraform_variables": {
            "region": var("region", "eu-west-1"),
            "db_password": var("db_password", "account.db_password", "secret"),
            "empty": var("empty", ""),
        },
        "environment_variables": {
            "TF_LOG": var("TF_LOG", "DEBUG"),
            "API_TOKEN": var("API_TOKEN", "org.api_token", "secret"),
            "PLAIN": var("PLAIN", "hunter2 !"),
        },
    }


def check_effective(body):
    eff = body.get("effective_variables")
    assert isinstance(eff, dict), f"effective_variables missing: {json.dumps(body)[:800]}"
    for kind in ("terraform_variables", "environment_variables"):
        assert isinstance(eff.get(kind), dict), f"effective_variables.{kind}: {eff}"
        for k, v in eff[kind].items():
            assert v.get("key") == k, (kind, k, v)
            assert isinstance(v.get("value"), str), (kind, k, v)
            assert v.get("value_type") in ("string", "secret"), (kind, k, v)
            src = v.get("source")
            assert src == "workspace" or (isinstance(src, str) and src.startswith("variable_set:")), (kind, k, v)


def check_ws(resp, status, p: Project | None = None):
    """Status, spec schema, ETag, variable bookkeeping and effective_variables of a workspace reply."""
    assert resp.status_code == status, describe(resp)
    body = body_of(resp)
    validate(WORKSPACES_SPEC, SHOW, body)
    assert resp.headers.get("ETag"), "workspace replies carry an ETag: " + describe(resp)
    if p is not None:
        assert body["account"] == p.api.account and body["org"] == p.org and body["project"] == p.project, body
    for kind in ("terraform_variables", "environment_variables"):
        for k, v in body[kind].items():
            assert v["key"] == k, (kind, k, v)
            assert isinstance(v.get("kind"), str) and v["kind"], f"{kind}.{k} has no kind: {v}"
            assert v["created"] > MS_2020 and v["updated"] >= v["created"], (kind, k, v)
    assert body["created"] > MS_2020 and body["updated"] >= body["created"], body
    check_effective(body)
    return body


def strip_var(v):
    return {"key": v["key"], "value": v["value"], "value_type": v["value_type"]}


def client_view(body):
    """The client-owned configuration of a workspace reply, for comparing two workspaces."""
    out = {k: body.get(k) for k in CLIENT_FIELDS}
    for kind in ("terraform_variables", "environment_variables"):
        out[kind] = {k: strip_var(v) for k, v in body[kind].items()}
    return out


def assert_matches_request(body, req):
    for k, v in req.items():
        if k in ("terraform_variables", "environment_variables"):
            assert {kk: strip_var(vv) for kk, vv in body[k].items()} == v, (k, body[k])
        elif k == "provider_connectors":
            got = [{f: c.get(f) for f in ("connector_ref", "type", "terragrunt_provider")} for c in body[k]]
            want = [{"terragrunt_provider": False, **c} for c in v]
            assert got == want, (k, body[k])
        elif k == "terraform_variable_files":
            got = [{f: x for f, x in c.items() if x not in ("", None)} for c in body[k]]
            assert got == v, (k, body[k])
        else:
            assert body.get(k) == v, f"{k}: sent {v!r}, got {body.get(k)!r}"


# ---------------------------------------------------------------------------------------
# create / show


def test_create_minimal_returns_full_workspace_with_defaults(proj, uid):
    wid = uid("ws")
    before = now_ms()
    r = proj.api.post(proj.ws(), json=minimal(wid, "Minimal"))
    w = check_ws(r, 200, proj)
    assert w["identifier"] == wid and w["name"] == "Minimal"
    assert w["status"] == "active"
    assert w["provisioner"] == "terraform" and w["provider_connector"] == ""
    assert w["provisioner_version"] == "latest"
    assert w["repository_submodules"] == "false"
    assert w["terraform_variables"] == {} and w["environment_variables"] == {}
    assert w["tags"] == {}
    assert before - 5000 <= w["created"] <= now_ms() + 5000
    assert w.get("backend_locked", False) is False
    assert w["effective_variables"] == {"terraform_variables": {}, "environment_variables": {}}
    g = proj.api.get(proj.ws(wid))
    got = check_ws(g, 200, proj)
    assert got == w
    assert g.headers["ETag"] == r.headers["ETag"]


def test_create_every_field_round_trips(proj, uid):
    wid = uid("ws")
    req = full(wid)
    w = proj.create(req)
    assert_matches_request(w, {k: v for k, v in req.items()})
    assert w["status"] == "active"
    assert w["terraform_variables"]["db_password"]["value"] == "account.db_password"
    for kind in ("terraform_variables", "environment_variables"):
        for k, v in w[kind].items():
            assert v["created"] == v["updated"], (k, v)
    eff = w["effective_variables"]
    assert eff["terraform_variables"]["region"] == {**var("region", "eu-west-1"), "source": "workspace"}
    assert eff["environment_variables"]["API_TOKEN"] == {**var("API_TOKEN", "org.api_token", "secret"),
                                                        "source": "workspace"}
    assert set(eff["terraform_variables"]) == {"region", "db_password", "empty"}
    g = proj.get(wid)
    assert client_view(g) == client_view(w)
    assert g["terraform_variables"] == w["terraform_variables"]


@pytest.mark.parametrize("value", ["account.db_password", "org.db_password", "db_password",
                                   "account.some_secret-2"])
def test_secret_values_are_references_returned_as_given(proj, uid, value):
    wid = uid("ws")
    w = proj.create(minimal(wid, terraform_variables={"pw": var("pw", value, "secret")},
                            environment_variables={"PW": var("PW", value, "secret")}))
    assert w["terraform_variables"]["pw"]["value"] == value
    assert w["environment_variables"]["PW"]["value"] == value
    assert w["terraform_variables"]["pw"]["value_type"] == "secret"


@pytest.mark.parametrize("provisioner", PROVISIONERS)
def test_every_provisioner_is_accepted(proj, uid, provisioner):
    w = proj.create(minimal(uid("ws"), provisioner=provisioner))
    assert w["provisioner"] == provisioner


@pytest.mark.parametrize("submodules", ["false", "true", "recursive"])
def test_repository_submodules_enum(proj, uid, submodules):
    w = proj.create(minimal(uid("ws"), repository_submodules=submodules))
    assert w["repository_submodules"] == submodules


def test_identifier_and_name_limits(proj, uid):
    long_id = "_" + uid("w")[:10] + "a" * (128 - 11)
    assert len(long_id) == 128
    w = proj.create(minimal(long_id, "n" * 128))
    assert w["identifier"] == long_id and len(w["name"]) == 128
    w = proj.create(minimal("A-" + uid("b"), "Any name, with punctuation! & unicode é"))
    assert w["name"] == "Any name, with punctuation! & unicode é"
    assert proj.get(w["identifier"])["identifier"].startswith("A-")


@pytest.mark.parametrize("connectors", [None, []], ids=["null", "empty"])
def test_go_sdk_create_body_with_optional_fields_omitted(proj, uid, connectors):
    """The exact bytes the Go SDK's WorkspacesCreateWorkspace sends when nothing optional is set."""
    wid = uid("ws")
    raw = ('{"environment_variables":{},"identifier":"%s","name":"%s","provider_connector":"",'
           '"provider_connectors":%s,"provisioner":"terraform","terraform_variables":{}}'
           % (wid, "SDK " + wid, json.dumps(connectors)))
    r = proj.api.post(proj.ws(), data=raw.encode(), headers={"Content-Type": "application/json"})
    w = check_ws(r, 200, proj)
    assert w["identifier"] == wid and w["status"] == "active"
    assert not w.get("provider_connectors")
    assert w["provisioner_version"] == "latest"


def test_server_owned_and_unknown_fields_are_ignored(proj, uid, tenant):
    wid = uid("ws")
    other = tenant()
    forged = minimal(wid, account=other.account, org="someorg", project="someproject", created=1000,
                     updated=2000, status="failed", backend_locked=True, state_checksum="forged",
                     terraform_state="forged", terraform_state_json="forged", terraform_plan_json="forged",
                     cost_breakdown_json="forged", cost_diff_json="forged", modules_json="forged",
                     providers_json="forged", id=42, no_such_field={"x": 1}, another_unknown=[1, 2])
    w = proj.create(forged)
    assert w["account"] == proj.api.account and w["org"] == proj.org and w["project"] == proj.project
    assert w["created"] > MS_2020 and w["updated"] > MS_2020
    assert w["status"] == "active"
    assert w.get("backend_locked", False) is False
    for f in ("state_checksum", "terraform_state", "terraform_state_json", "terraform_plan_json",
              "cost_breakdown_json", "cost_diff_json", "modules_json", "providers_json"):
        assert w.get(f) != "forged", (f, w.get(f))
    assert w.get("id") != 42
    assert "no_such_field" not in w and "another_unknown" not in w
    assert proj.get(wid)["status"] == "active"
    # not created anywhere else
    assert_error(proj.api.get(f"/iacm/api/orgs/someorg/projects/someproject/workspaces/{wid}"), 404)


def test_duplicate_identifier_is_409_and_same_id_in_other_project_is_fine(api, proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid, "first"))
    assert_error(proj.api.post(proj.ws(), json=minimal(wid, "second")), 409, mentions=wid)
    assert proj.get(wid)["name"] == "first"
    other = Project(api, proj.org, uid("prj"))
    api.create_project(proj.org, other.project)
    assert other.create(minimal(wid, "elsewhere"))["name"] == "elsewhere"


def test_unknown_org_or_project_is_404(api, proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    for base in (f"/iacm/api/orgs/{uid('nope')}/projects/{proj.project}",
                 f"/iacm/api/orgs/{proj.org}/projects/{uid('nope')}"):
        assert_error(api.post(f"{base}/workspaces", json=minimal(uid("ws"))), 404)
        assert_error(api.get(f"{base}/workspaces"), 404)
        assert_error(api.get(f"{base}/workspaces/{wid}"), 404)
        assert_error(api.put(f"{base}/workspaces/{wid}", json=minimal(wid)), 404)
        assert_error(api.delete(f"{base}/workspaces/{wid}"), 404)
        assert_error(api.get(f"{base}/tags"), 404)
        assert_error(api.get(f"{base}/workspace-metrics"), 404)
        assert_error(api.get(f"{base}/workspaces/provisioners-ratio"), 404)
    assert proj.get(wid)["identifier"] == wid


def test_unknown_workspace_is_404_everywhere(proj, uid):
    missing = uid("missing")
    a = proj.api
    assert_error(a.get(proj.ws(missing)), 404)
    assert_error(a.put(proj.ws(missing), json=minimal(missing)), 404)
    assert_error(a.delete(proj.ws(missing)), 404)
    assert_error(a.post(proj.ws(missing, "/clone"), json={"identifier": uid("c"), "name": "c"}), 404)
    assert_error(a.get(proj.ws(missing, "/pipelines")), 404)
    for cfg in ("drift-config", "ephemeral-config"):
        assert_error(a.get(proj.ws(missing, f"/{cfg}")), 404)
        assert_error(a.delete(proj.ws(missing, f"/{cfg}")), 404)
    assert_error(a.put(proj.ws(missing, "/drift-config"),
                       json={"pipeline_id": "p", "run_every": 1, "run_every_unit": "hours"}), 404)
    assert_error(a.put(proj.ws(missing, "/ephemeral-config"), json={"pipeline_id": "p"}), 404)


# ---------------------------------------------------------------------------------------
# validation

LONG = "a" * 129


def _set(path, value):
    """A mutator that sets body[path...] = value (path is a tuple of keys)."""
    def mutate(body):
        node = body
        for k in path[:-1]:
            node = node.setdefault(k, {})
        node[path[-1]] = value
    return mutate


def _del(key):
    def mutate(body):
        del body[key]
    return mutate


# (id, mutator, the text the message must contain)
BAD_FIELDS = [
    ("name-missing", _del("name"), "name"),
    ("name-empty", _set(("name",), ""), "name"),
    ("name-too-long", _set(("name",), LONG), "name"),
    ("name-number", _set(("name",), 5), "name"),
    ("name-null", _set(("name",), None), "name"),
    ("provisioner-missing", _del("provisioner"), "provisioner"),
    ("provisioner-enum", _set(("provisioner",), "pulumi"), "provisioner"),
    ("provisioner-case", _set(("provisioner",), "Terraform"), "provisioner"),
    ("provisioner-number", _set(("provisioner",), 1), "provisioner"),
    ("provider_connector-missing", _del("provider_connector"), "provider_connector"),
    ("provider_connector-number", _set(("provider_connector",), 3), "provider_connector"),
    ("terraform_variables-missing", _del("terraform_variables"), "terraform_variables"),
    ("terraform_variables-array", _set(("terraform_variables",), []), "terraform_variables"),
    ("terraform_variables-string", _set(("terraform_variables",), "region=x"), "terraform_variables"),
    ("environment_variables-missing", _del("environment_variables"), "environment_variables"),
    ("environment_variables-array", _set(("environment_variables",), [var("A", "b")]),
     "environment_variables"),
    ("var-not-object", _set(("terraform_variables", "region"), "eu"), "terraform_variables.region"),
    ("var-value_type-enum", _set(("terraform_variables", "region"), var("region", "x", "number")),
     "terraform_variables.region.value_type"),
    ("var-value_type-missing", _set(("terraform_variables", "region"), {"key": "region", "value": "x"}),
     "terraform_variables.region.value_type"),
    ("var-value-missing", _set(("terraform_variables", "region"), {"key": "region", "value_type": "string"}),
     "terraform_variables.region.value"),
    ("var-value-number", _set(("terraform_variables", "region"), var("region", 5)),
     "terraform_variables.region.value"),
    ("var-key-missing", _set(("terraform_variables", "region"), {"value": "x", "value_type": "string"}),
     "terraform_variables.region"),
    ("var-key-mismatch", _set(("terraform_variables", "region"), var("zone", "x")),
     "terraform_variables.region"),
    ("var-key-pattern", _set(("terraform_variables", "1region"), var("1region", "x")),
     "terraform_variables"),
    ("var-key-space", _set(("environment_variables", "MY VAR"), var("MY VAR", "x")),
     "environment_variables"),
    ("var-key-too-long", _set(("terraform_variables", "k" * 129), var("k" * 129, "x")),
     "terraform_variables"),
    ("env-secret-not-reference", _set(("environment_variables", "DB"), var("DB", "hunter2 !", "secret")),
     "environment_variables.DB.value"),
    ("tf-secret-not-reference", _set(("terraform_variables", "pw"), var("pw", "p@ss:word", "secret")),
     "terraform_variables.pw.value"),
    ("secret-empty-name", _set(("terraform_variables", "pw"), var("pw", "account.", "secret")),
     "terraform_variables.pw.value"),
    ("secret-empty", _set(("terraform_variables", "pw"), var("pw", "", "secret")), "terraform_variables.pw"),
    ("submodules-enum", _set(("repository_submodules",), "maybe"), "repository_submodules"),
    ("submodules-bool", _set(("repository_submodules",), True), "repository_submodules"),
    ("budget-negative", _set(("budget",), -1), "budget"),
    ("budget-string", _set(("budget",), "lots"), "budget"),
    ("cost_estimation-string", _set(("cost_estimation_enabled",), "yes"), "cost_estimation_enabled"),
    ("ccm-number", _set(("ccm_cost_enabled",), 1), "ccm_cost_enabled"),
    ("prune-string", _set(("prune_sensitive_data",), "true"), "prune_sensitive_data"),
    ("run_all-string", _set(("run_all",), "x"), "run_all"),
    ("terragrunt_provider-string", _set(("terragrunt_provider",), "x"), "terragrunt_provider"),
    ("description-number", _set(("description",), 5), "description"),
    ("repository-object", _set(("repository",), {"a": 1}), "repository"),
    ("repository_branch-number", _set(("repository_branch",), 1), "repository_branch"),
    ("repository_path-bool", _set(("repository_path",), True), "repository_path"),
    ("provisioner_version-number", _set(("provisioner_version",), 1.5), "provisioner_version"),
    ("sparse_checkout-array", _set(("sparse_checkout",), ["a"]), "sparse_checkout"),
    ("connectors-string", _set(("provider_connectors",), "aws"), "provider_connectors"),
    ("connectors-type-enum", _set(("provider_connectors",), [{"connector_ref": "c", "type": "oci"}]),
     "provider_connectors"),
    ("connectors-ref-missing", _set(("provider_connectors",), [{"type": "aws"}]), "provider_connectors"),
    ("connectors-type-missing", _set(("provider_connectors",), [{"connector_ref": "c"}]), "provider_connectors"),
    ("connectors-ref-too-long", _set(("provider_connectors",), [{"connector_ref": LONG, "type": "aws"}]),
     "provider_connectors"),
    ("connectors-item-string", _set(("provider_connectors",), ["aws"]), "provider_connectors"),
    ("varfiles-repository-missing", _set(("terraform_variable_files",), [{"repository_branch": "main"}]),
     "terraform_variable_files"),
    ("varfiles-object", _set(("terraform_variable_files",), {"repository": "r"}), "terraform_variable_files"),
    ("variable_sets-string", _set(("variable_sets",), "account.x"), "variable_sets"),
    ("variable_sets-number-item", _set(("variable_sets",), [5]), "variable_sets"),
    ("default_pipelines-array", _set(("default_pipelines",), ["p"]), "default_pipelines"),
    ("default_pipelines-item-string", _set(("default_pipelines",), {"plan": "p"}), "default_pipelines"),
    ("default_pipelines-inner-number", _set(("default_pipelines",), {"plan": {"project_pipeline": 5}}),
     "default_pipelines"),
    ("template-string", _set(("associated_template",), "tmpl"), "associated_template"),
    ("template-id-empty", _set(("associated_template",), {"template_id": "", "version": "1"}),
     "associated_template"),
    ("template-id-too-long", _set(("associated_template",), {"template_id": LONG}), "associated_template"),
    ("template-version-too-long", _set(("associated_template",), {"template_id": "t", "version": "v" * 65}),
     "associated_template"),
    ("tags-array", _set(("tags",), ["team:x"]), "tags"),
    ("tags-value-number", _set(("tags",), {"team": 5}), "tags"),
]

BAD_IDENTIFIERS = [
    ("missing", None), ("empty", ""), ("digit-first", "1abc"), ("hyphen-first", "-abc"),
    ("space", "a b"), ("dot", "a.b"), ("slash", "a/b"), ("too-long", "a" * 129), ("number", 12),
]


@pytest.mark.parametrize("case", BAD_FIELDS, ids=[c[0] for c in BAD_FIELDS])
def test_bad_create_body_is_400_naming_the_field(proj, uid, case):
    _, mutate, field = case
    wid = uid("ws")
    body = minimal(wid, terraform_variables={"region": var("region", "eu")})
    mutate(body)
    assert_error(proj.api.post(proj.ws(), json=body), 400, mentions=field)
    assert_error(proj.api.get(proj.ws(wid)), 404)


@pytest.mark.parametrize("case", BAD_IDENTIFIERS, ids=[c[0] for c in BAD_IDENTIFIERS])
def test_bad_identifier_is_400(proj, case):
    _, ident = case
    body = minimal("x")
    if ident is None:
        del body["identifier"]
    else:
        body["identifier"] = ident
    assert_error(proj.api.post(proj.ws(), json=body), 400, mentions="identifier")
    listed, _ = proj.list()
    assert listed == []


BAD_UPDATE_FIELDS = [c for c in BAD_FIELDS if not c[0].startswith("template-")]


@pytest.mark.parametrize("case", BAD_UPDATE_FIELDS, ids=[c[0] for c in BAD_UPDATE_FIELDS])
def test_bad_update_body_is_400_and_changes_nothing(proj, uid, case):
    _, mutate, field = case
    wid = uid("ws")
    r0 = proj.api.post(proj.ws(), json=full(wid))
    before = check_ws(r0, 200, proj)
    body = full(wid)
    del body["identifier"]
    del body["associated_template"]
    body["terraform_variables"] = {"region": var("region", "eu")}
    mutate(body)
    assert_error(proj.api.put(proj.ws(wid), json=body), 400, mentions=field)
    g = proj.api.get(proj.ws(wid))
    assert check_ws(g, 200, proj) == before
    assert g.headers["ETag"] == r0.headers["ETag"]


@pytest.mark.parametrize("raw,ctype", [
    (b'{"identifier": "x", "name": ', "application/json"),
    (b'[{"identifier": "x"}]', "application/json"),
    (b'"just a string"', "application/json"),
    (b"", "application/json"),
    (b"identifier: [unclosed", "application/yaml"),
])
def test_malformed_documents_are_400(proj, raw, ctype):
    r = proj.api.post(proj.ws(), data=raw, headers={"Content-Type": ctype})
    assert_error(r, 400, yaml_body="yaml" in ctype)


def test_unsupported_content_type_is_415(proj, uid):
    r = proj.api.post(proj.ws(), data=json.dumps(minimal(uid("ws"))), headers={"Content-Type": "text/plain"})
    assert_error(r, 415)


def test_string_variable_may_hold_anything(proj, uid):
    w = proj.create(minimal(uid("ws"), terraform_variables={"pw": var("pw", "hunter2 !")},
                            environment_variables={"X": var("X", "a b = c; \"quoted\" é\n")}))
    assert w["terraform_variables"]["pw"]["value"] == "hunter2 !"
    assert w["environment_variables"]["X"]["value"] == "a b = c; \"quoted\" é\n"


def test_variable_keys_with_hyphen_and_underscore_are_accepted(proj, uid):
    """IaCMVariable allows '-' (VariableResource's stricter pattern is not checked here)."""
    wid = uid("ws")
    body = minimal(wid, terraform_variables={"my-var": var("my-var", "x"), "_under": var("_under", "y")})
    r = proj.api.post(proj.ws(), json=body)
    assert r.status_code == 200, describe(r)
    w = r.json()
    assert w["terraform_variables"]["my-var"]["value"] == "x"
    assert w["terraform_variables"]["_under"]["value"] == "y"


def test_zero_budget_and_null_connectors_are_fine(proj, uid):
    w = proj.create(minimal(uid("ws"), budget=0, provider_connectors=None, tags={}))
    assert w.get("budget", 0) == 0


@pytest.mark.parametrize("budget", [0.1, 1234567.89, 1e12, 3])
def test_budget_round_trips_exactly(proj, uid, budget):
    wid = uid("ws")
    assert proj.create(minimal(wid, budget=budget))["budget"] == budget
    assert proj.get(wid)["budget"] == budget


# ---------------------------------------------------------------------------------------
# update


def update_body(identifier=None, **over):
    body = full(identifier or "unused")
    del body["associated_template"]
    if identifier is None:
        del body["identifier"]
    body.update(over)
    return body


def test_update_replaces_every_client_owned_field(proj, uid):
    wid = uid("ws")
    r0 = proj.api.post(proj.ws(), json=full(wid))
    w0 = check_ws(r0, 200, proj)
    after_ms(w0["updated"])
    new = {
        "name": "Renamed", "description": "new text", "provisioner": "terragrunt", "provisioner_version": "1.7.0",
        "provisioner_configuration": "cfg2", "provisioner_data": "data2",
        "provider_connector": "org.gcp", "provider_connectors": [{"connector_ref": "org.gcp", "type": "gcp"}],
        "repository": "infra2", "repository_branch": "dev", "repository_commit": "v2", "repository_sha": "def",
        "repository_connector": "org.gitlab", "repository_path": "envs/dev", "repository_submodules": "true",
        "sparse_checkout": "envs/dev", "terragrunt_version": "0.60.0", "terragrunt_provider": False,
        "run_all": False, "terraform_variable_files": [{"repository": "vars2"}],
        "default_pipelines": {"destroy": {"workspace_pipeline": "ws_destroy"}},
        "tags": {"owner": "alice"}, "budget": 7, "cost_estimation_enabled": False, "ccm_cost_enabled": False,
        "prune_sensitive_data": False,
        "terraform_variables": {"zone": var("zone", "b")},
        "environment_variables": {"SECRET": var("SECRET", "account.s", "secret")},
    }
    r = proj.api.put(proj.ws(wid), json=new)
    w = check_ws(r, 200, proj)
    assert_matches_request(w, new)
    assert w["identifier"] == wid and w["created"] == w0["created"] and w["updated"] > w0["updated"]
    assert r.headers["ETag"] != r0.headers["ETag"]
    assert w["status"] == "active"
    g = proj.api.get(proj.ws(wid))
    assert check_ws(g, 200, proj) == w and g.headers["ETag"] == r.headers["ETag"]


def test_update_with_only_required_fields_resets_the_rest(proj, uid):
    wid = uid("ws")
    proj.create(full(wid))
    req = {"name": "Bare", "provisioner": "terraform", "provider_connector": "",
           "terraform_variables": {}, "environment_variables": {}}
    w = check_ws(proj.api.put(proj.ws(wid), json=req), 200, proj)
    assert w["name"] == "Bare" and w["terraform_variables"] == {} and w["environment_variables"] == {}
    assert w["tags"] == {}
    assert w["provisioner_version"] == "latest" and w["repository_submodules"] == "false"
    for f in ("description", "repository", "repository_branch", "repository_commit", "repository_sha",
              "repository_connector", "repository_path", "sparse_checkout", "terragrunt_version",
              "provisioner_configuration"):
        assert w.get(f, "") == "", (f, w.get(f))
    for f in ("provider_connectors", "terraform_variable_files", "variable_sets", "default_pipelines"):
        assert not w.get(f), (f, w.get(f))
    for f in ("cost_estimation_enabled", "ccm_cost_enabled", "prune_sensitive_data", "run_all",
              "terragrunt_provider"):
        assert w.get(f, False) is False, (f, w.get(f))
    assert not w.get("budget")
    assert w["effective_variables"] == {"terraform_variables": {}, "environment_variables": {}}


def test_update_missing_required_field_is_400(proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    base = {"name": "n", "provisioner": "terraform", "provider_connector": "", "terraform_variables": {},
            "environment_variables": {}}
    for field in base:
        body = {k: v for k, v in base.items() if k != field}
        assert_error(proj.api.put(proj.ws(wid), json=body), 400, mentions=field)


def test_variable_timestamps_change_only_with_the_variable(proj, uid):
    wid = uid("ws")
    tf = {"same": var("same", "1"), "changed": var("changed", "1"), "retyped": var("retyped", "x")}
    w0 = proj.create(minimal(wid, terraform_variables=tf))
    after_ms(w0["updated"])
    tf2 = {"same": var("same", "1"), "changed": var("changed", "2"), "retyped": var("retyped", "x", "secret"),
           "added": var("added", "new")}
    w1 = check_ws(proj.api.put(proj.ws(wid), json={**minimal(wid), "terraform_variables": tf2}), 200, proj)
    v0, v1 = w0["terraform_variables"], w1["terraform_variables"]
    assert v1["same"]["updated"] == v0["same"]["updated"] and v1["same"]["created"] == v0["same"]["created"]
    assert v1["changed"]["updated"] > v0["changed"]["updated"]
    assert v1["changed"]["created"] == v0["changed"]["created"]
    assert v1["retyped"]["updated"] > v0["retyped"]["updated"]
    assert v1["added"]["created"] > v0["same"]["created"]
    # a PUT that changes nothing about the variables keeps every variable stamp
    after_ms(w1["updated"])
    w2 = check_ws(proj.api.put(proj.ws(wid), json={**minimal(wid, "renamed"), "terraform_variables": tf2}),
                  200, proj)
    assert w2["terraform_variables"] == w1["terraform_variables"]
    assert w2["name"] == "renamed"


def test_update_if_match(proj, uid):
    wid = uid("ws")
    r0 = proj.api.post(proj.ws(), json=minimal(wid))
    etag0 = r0.headers["ETag"]
    r1 = proj.api.put(proj.ws(wid), json=minimal(wid, "one"), headers={"If-Match": etag0})
    check_ws(r1, 200, proj)
    etag1 = r1.headers["ETag"]
    assert etag1 != etag0
    stale = proj.api.put(proj.ws(wid), json=minimal(wid, "two"), headers={"If-Match": etag0})
    assert_error(stale, 412)
    assert proj.get(wid)["name"] == "one"
    r2 = proj.api.put(proj.ws(wid), json=minimal(wid, "three"), headers={"If-Match": etag1})
    assert check_ws(r2, 200, proj)["name"] == "three"


def test_delete_if_match(proj, uid):
    """design.md: a write with a stale If-Match gets 412 (DELETE is a write)."""
    wid = uid("ws")
    etag0 = proj.api.post(proj.ws(), json=minimal(wid)).headers["ETag"]
    r1 = proj.api.put(proj.ws(wid), json=minimal(wid, "one"))
    etag1 = check_ws(r1, 200, proj) and r1.headers["ETag"]
    assert_error(proj.api.delete(proj.ws(wid), headers={"If-Match": etag0}), 412)
    assert proj.get(wid)["name"] == "one"
    r = proj.api.delete(proj.ws(wid), headers={"If-Match": etag1})
    assert r.status_code == 204, describe(r)
    assert_error(proj.api.get(proj.ws(wid)), 404)


def test_update_identifier_must_match_path(proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    assert check_ws(proj.api.put(proj.ws(wid), json=minimal(wid, "same id")), 200, proj)["name"] == "same id"
    other = uid("other")
    assert_error(proj.api.put(proj.ws(wid), json=minimal(other, "moved")), 400, mentions="identifier")
    assert_error(proj.api.get(proj.ws(other)), 404)
    assert proj.get(wid)["name"] == "same id"


def test_update_ignores_server_owned_fields(proj, uid):
    wid = uid("ws")
    w0 = proj.create(minimal(wid))
    body = {k: v for k, v in minimal(wid, "x").items() if k != "identifier"}
    body.update(account="other", org="o", project="p", created=1, updated=2, status="failed",
                backend_locked=True, state_checksum="forged", id=7, unknown_thing=True)
    w = check_ws(proj.api.put(proj.ws(wid), json=body), 200, proj)
    assert w["status"] == "active" and w["created"] == w0["created"] and w["updated"] >= w0["updated"]
    assert w.get("state_checksum") != "forged" and w.get("backend_locked", False) is False
    assert "unknown_thing" not in w


# ---------------------------------------------------------------------------------------
# delete / clone


def test_delete_then_404_and_identifier_reusable(proj, uid):
    wid = uid("ws")
    proj.create(full(wid))
    r = proj.api.delete(proj.ws(wid))
    assert r.status_code == 204, describe(r)
    assert r.content == b""
    assert_error(proj.api.get(proj.ws(wid)), 404)
    assert_error(proj.api.delete(proj.ws(wid)), 404)
    assert_error(proj.api.put(proj.ws(wid), json=minimal(wid)), 404)
    listed, _ = proj.list()
    assert wid not in [x["identifier"] for x in listed]
    w = proj.create(minimal(wid, "again"))
    assert w["name"] == "again" and w["terraform_variables"] == {} and w["tags"] == {}


def test_clone_copies_configuration(proj, uid):
    src = uid("src")
    w0 = proj.create(full(src))
    cid = uid("clone")
    r = proj.api.post(proj.ws(src, "/clone"), json={"identifier": cid, "name": "My clone - 2"})
    c = check_ws(r, 200, proj)
    assert c["identifier"] == cid and c["name"] == "My clone - 2" and c["status"] == "active"
    want = client_view(w0)
    got = client_view(c)
    want["name"] = got["name"]
    assert got == want
    assert c["created"] >= w0["created"]
    assert proj.get(cid) == c
    # the source is untouched and both are independent
    assert proj.get(src) == w0
    check_ws(proj.api.put(proj.ws(cid), json=minimal(cid, "changed")), 200, proj)
    assert proj.get(src)["name"] == w0["name"]


def test_clone_conflicts_and_validation(proj, uid):
    src, other = uid("src"), uid("other")
    proj.create(minimal(src))
    proj.create(minimal(other))
    a = proj.api
    assert_error(a.post(proj.ws(src, "/clone"), json={"identifier": other, "name": "x"}), 409)
    assert_error(a.post(proj.ws(src, "/clone"), json={"identifier": src, "name": "x"}), 409)
    cid = uid("c")
    check_ws(a.post(proj.ws(src, "/clone"), json={"identifier": cid, "name": "first"}), 200, proj)
    assert_error(a.post(proj.ws(src, "/clone"), json={"identifier": cid, "name": "second"}), 409)
    for body, field in [({"name": "x"}, "identifier"), ({"identifier": uid("c")}, "name"),
                        ({"identifier": "1bad", "name": "x"}, "identifier"),
                        ({"identifier": "a" * 129, "name": "x"}, "identifier"),
                        ({"identifier": uid("c"), "name": "bad!name"}, "name"),
                        ({"identifier": uid("c"), "name": " leading space"}, "name"),
                        ({"identifier": uid("c"), "name": "n" * 129}, "name"),
                        ({"identifier": uid("c"), "name": ""}, "name"),
                        ({"identifier": 5, "name": "x"}, "identifier")]:
        assert_error(a.post(proj.ws(src, "/clone"), json=body), 400, mentions=field)
    listed, _ = proj.list()
    assert sorted(x["identifier"] for x in listed) == sorted([src, other, cid])


# ---------------------------------------------------------------------------------------
# list


def _ids(items):
    return [x["identifier"] for x in items]


def test_list_defaults_headers_and_paging(proj, uid):
    names = ["delta", "Alpha", "charlie", "bravo", "echo"]
    made = {}
    for n in names:
        w = proj.create(minimal(uid("ws"), n))
        made[n] = w["identifier"]
    items, r = proj.list()
    assert [x["name"] for x in items] == sorted(names, key=str.lower) or \
        [x["name"] for x in items] == sorted(names), [x["name"] for x in items]
    for x in items:
        assert x["org"] == proj.org and x["project"] == proj.project and x["account"] == proj.api.account
        assert x["status"] == "active"
    h = r.headers
    assert h["X-Total-Elements"] == "5" and h["x-total-items"] == "5"
    assert h["X-Page-Number"] == "1" and h["X-Page-Size"] == "30" and h["x-total-pages"] == "1"

    everything = _ids(items)
    seen = []
    for page in (1, 2, 3):
        got, r = proj.list(limit=2, page=page)
        assert r.headers["X-Page-Number"] == str(page) and r.headers["X-Page-Size"] == "2"
        assert r.headers["x-total-items"] == "5" and r.headers["x-total-pages"] == "3"
        assert len(got) == (2 if page < 3 else 1)
        seen += _ids(got)
    assert seen == everything
    got, r = proj.list(limit=2, page=4)
    assert got == [] and r.headers["x-total-items"] == "5"
    _, r = proj.list(limit=1000)
    assert r.headers["X-Page-Size"] == "100"


def test_list_caps_limit_at_100(proj, uid):
    for i in range(101):
        r = proj.api.post(proj.ws(), json=minimal(f"w{i:03d}_{uid('x')[2:8]}", f"n{i:03d}"))
        assert r.status_code == 200, describe(r)
    items, r = proj.list(limit=500)
    assert len(items) == 100 and r.headers["X-Page-Size"] == "100"
    assert r.headers["x-total-items"] == "101" and r.headers["x-total-pages"] == "2"
    items, r = proj.list()
    assert len(items) == 30 and r.headers["x-total-pages"] == "4"
    items, _ = proj.list(limit=100, page=2)
    assert len(items) == 1 and items[0]["name"] == "n100"


def test_list_search_term(proj, uid):
    a = proj.create(minimal("Net_" + uid("a"), "Core Network"))
    b = proj.create(minimal(uid("dns"), "dns zone NETWORKING"))
    c = proj.create(minimal("xnetx_" + uid("c"), "plain"))
    proj.create(minimal(uid("other"), "unrelated"))
    for term in ("network", "NETWORK", "etwor"):
        items, r = proj.list(searchTerm=term)
        assert sorted(_ids(items)) == sorted([a["identifier"], b["identifier"]]), (term, _ids(items))
        assert r.headers["x-total-items"] == "2"
    items, _ = proj.list(searchTerm="NET")
    assert sorted(_ids(items)) == sorted([a["identifier"], b["identifier"], c["identifier"]])
    items, _ = proj.list(search_term="xnetx")
    assert _ids(items) == [c["identifier"]]
    items, r = proj.list(searchTerm="zzz_nothing")
    assert items == [] and r.headers["x-total-items"] == "0"


def test_list_search_term_is_literal(proj, uid):
    """% and _ are ordinary characters in a search term, not wildcards."""
    pct = proj.create(minimal("pct" + uid("")[1:], "fifty%off"))
    und = proj.create(minimal("und" + uid("")[1:], "snake_name"))
    proj.create(minimal("plain" + uid("")[1:].replace("_", "x"), "plainname"))
    # identifiers made by uid contain '_', so search names through distinct markers
    items, _ = proj.list(searchTerm="%")
    assert _ids(items) == [pct["identifier"]]
    items, _ = proj.list(searchTerm="y%o")
    assert _ids(items) == [pct["identifier"]]
    items, _ = proj.list(searchTerm="f%f")  # a LIKE wildcard would match fifty%off
    assert items == []
    items, _ = proj.list(searchTerm="e_n")
    assert _ids(items) == [und["identifier"]]
    items, _ = proj.list(searchTerm="a_e")  # a LIKE wildcard would match snake_name / plainname
    assert items == []


@pytest.mark.parametrize("params", [{"page": 0}, {"limit": 0}, {"limit": "x"}, {"page": "-1"}])
def test_list_bad_paging_is_400(proj, params):
    assert_error(proj.api.get(proj.ws(), params=params), 400, mentions=next(iter(params)))


def test_list_sort(proj, uid):
    ws = []
    for n in ("bb", "aa", "cc"):
        w = proj.create(minimal(uid("ws"), n))
        ws.append(w)
        after_ms(w["updated"])
    # touch "bb" last so updated order is aa, cc, bb
    check_ws(proj.api.put(proj.ws(ws[0]["identifier"]), json=minimal(ws[0]["identifier"], "bb")), 200, proj)

    def names(**p):
        return [x["name"] for x in proj.list(**p)[0]]

    assert names() == ["aa", "bb", "cc"]
    assert names(sort="name,ASC") == ["aa", "bb", "cc"]
    assert names(sort="name,DESC") == ["cc", "bb", "aa"]
    assert names(sort="name", order="DESC") == ["cc", "bb", "aa"]
    assert names(sort="updated,ASC") == ["aa", "cc", "bb"]
    assert names(sort="updated,DESC") == ["bb", "cc", "aa"]
    assert names(sort="updated", order="DESC") == ["bb", "cc", "aa"]
    assert_error(proj.api.get(proj.ws(), params={"sort": "bogus,ASC"}), 400)


def test_list_status_filter(proj, uid):
    w = proj.create(minimal(uid("ws")))
    assert _ids(proj.list(status="active")[0]) == [w["identifier"]]
    assert proj.list(status="inactive")[0] == []
    assert _ids(proj.list(status="inactive,active")[0]) == [w["identifier"]]
    r = proj.api.get(proj.ws(), params=[("status", "failed"), ("status", "active")])
    assert _ids(expect(r, 200, WORKSPACES_SPEC, SUMMARY, array=True)) == [w["identifier"]]
    r = proj.api.get(proj.ws(), params=[("status", "failed"), ("status", "provisioning")])
    assert expect(r, 200, WORKSPACES_SPEC, SUMMARY, array=True) == []
    assert_error(proj.api.get(proj.ws(), params={"status": "sleeping"}), 400, mentions="status")
    assert_error(proj.api.get(proj.ws(), params={"status": "active,sleeping"}), 400, mentions="status")


def test_list_tags_filter(proj, uid):
    a = proj.create(minimal(uid("a"), "a", tags={"team": "platform", "env": "prod"}))
    b = proj.create(minimal(uid("b"), "b", tags={"team": "platform", "env": "dev"}))
    c = proj.create(minimal(uid("c"), "c", tags={"team": "data"}))
    proj.create(minimal(uid("d"), "d"))

    def ids(tags):
        return sorted(_ids(proj.list(tags=tags)[0]))

    assert ids("team:platform") == sorted([a["identifier"], b["identifier"]])
    assert ids("team:platform,env:prod") == [a["identifier"]]
    assert ids("env") == sorted([a["identifier"], b["identifier"]])
    assert ids("team") == sorted([a["identifier"], b["identifier"], c["identifier"]])
    assert ids("team:data,env") == []
    assert ids("team:nobody") == []
    r = proj.api.get(proj.ws(), params=[("tags", "team:platform"), ("tags", "env:dev")])
    assert _ids(expect(r, 200, WORKSPACES_SPEC, SUMMARY, array=True)) == [b["identifier"]]
    items, r = proj.list(tags="team:platform", limit=1)
    assert len(items) == 1 and r.headers["x-total-items"] == "2"
    u = proj.create(minimal(uid("u"), "u", tags={"url": "https://x:8080/a"}))
    assert ids("url:https://x:8080/a") == [u["identifier"]]
    assert ids("url:https") == []


def test_list_is_per_project(api, proj, uid):
    w = proj.create(minimal(uid("ws")))
    other = make_project(api, uid)
    assert other.list()[0] == []
    other.create(minimal(uid("ws")))
    assert _ids(proj.list()[0]) == [w["identifier"]]


# ---------------------------------------------------------------------------------------
# tags, metrics, provisioner ratio, pipelines


def test_tags_endpoint(api, proj, uid):
    r = proj.api.get(f"{proj.base}/tags")
    assert r.status_code == 200 and r.json() == [], describe(r)
    proj.create(minimal(uid("a"), tags={"team": "platform", "env": "prod"}))
    proj.create(minimal(uid("b"), tags={"team": "platform", "env": "dev", "Zeta": "1"}))
    proj.create(minimal(uid("c")))
    other = make_project(api, uid)
    other.create(minimal(uid("d"), tags={"elsewhere": "x"}))
    r = proj.api.get(f"{proj.base}/tags")
    assert r.status_code == 200, describe(r)
    tags = r.json()
    assert tags == sorted(tags)
    assert tags == sorted(["Zeta:1", "env:dev", "env:prod", "team:platform"])
    # a deleted workspace's tags go away; tags still used by another workspace stay
    listed, _ = proj.list(tags="Zeta:1")
    assert proj.api.delete(proj.ws(listed[0]["identifier"])).status_code == 204
    assert proj.api.get(f"{proj.base}/tags").json() == ["env:prod", "team:platform"]


def test_workspace_metrics(proj, uid):
    r = proj.api.get(f"{proj.base}/workspace-metrics")
    m = expect(r, 200, WORKSPACES_SPEC, "ShowWorkspaceMetricsRequest")
    statuses = load_spec(WORKSPACES_SPEC)["components"]["schemas"][SHOW]["properties"]["status"]["enum"]
    assert m["status_counts"] == {st: 0 for st in statuses}
    for _ in range(3):
        proj.create(minimal(uid("ws")))
    gone = proj.create(minimal(uid("ws")))
    assert proj.api.delete(proj.ws(gone["identifier"])).status_code == 204
    m = expect(proj.api.get(f"{proj.base}/workspace-metrics"), 200, WORKSPACES_SPEC, "ShowWorkspaceMetricsRequest")
    assert m["status_counts"]["active"] == 3
    assert m["status_counts"]["inactive"] == 0
    assert sum(m["status_counts"].values()) == 3


def test_provisioners_ratio(proj, uid):
    path = f"{proj.ws()}/provisioners-ratio"
    empty = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "ListProvisionersRatioResponse")
    assert empty["total"] == 0 and all(v == 0 for v in empty["provisioner"].values())
    for p in ("terraform", "terraform", "opentofu", "ansible"):
        proj.create(minimal(uid("ws"), provisioner=p))
    body = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "ListProvisionersRatioResponse")
    assert body["total"] == 4
    ratio = {k: v for k, v in body["provisioner"].items() if v}
    assert ratio == {"terraform": 0.5, "opentofu": 0.25, "ansible": 0.25}
    gone = proj.create(minimal(uid("ws"), provisioner="terragrunt"))
    assert proj.api.delete(proj.ws(gone["identifier"])).status_code == 204
    body = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "ListProvisionersRatioResponse")
    assert body["total"] == 4 and body["provisioner"].get("terragrunt", 0) == 0


def test_pipelines(proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid, default_pipelines={
        "plan": {"project_pipeline": "pp_plan", "workspace_pipeline": "wp_plan"},
        "apply": {"project_pipeline": "pp_plan", "workspace_pipeline": ""},
        "destroy": {"workspace_pipeline": "wp_destroy"},
        "drift": {},
    }))
    body = expect(proj.api.get(proj.ws(wid, "/pipelines")), 200, WORKSPACES_SPEC, "ListPipelinesResponse")
    assert body["account"] == proj.api.account and body["org"] == proj.org and body["project"] == proj.project
    assert sorted(body["pipelines"]) == ["pp_plan", "wp_destroy", "wp_plan"]
    assert len(body["pipelines"]) == len(set(body["pipelines"]))
    bare = uid("ws")
    proj.create(minimal(bare))
    body = expect(proj.api.get(proj.ws(bare, "/pipelines")), 200, WORKSPACES_SPEC, "ListPipelinesResponse")
    assert body.get("pipelines", []) == []


# ---------------------------------------------------------------------------------------
# drift / ephemeral config


def test_drift_config_lifecycle(proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    path = proj.ws(wid, "/drift-config")
    g = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetDriftConfigResponse")
    assert g["enabled"] is False
    r = proj.api.put(path, json={"pipeline_id": "drift_pipe", "run_every": 6, "run_every_unit": "hours",
                                 "provisioner": "terraform"})
    assert expect(r, 200, WORKSPACES_SPEC, "UpdateDriftConfigResponse") == {"status": "updated"}
    g = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetDriftConfigResponse")
    assert g["enabled"] is True and g["pipeline_id"] == "drift_pipe"
    assert g["run_every"] == 6 and g["run_every_unit"] == "hours"
    r = proj.api.put(path, json={"pipeline_id": "p2", "run_every": 1, "run_every_unit": "days"})
    expect(r, 200, WORKSPACES_SPEC, "UpdateDriftConfigResponse")
    g = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetDriftConfigResponse")
    assert (g["pipeline_id"], g["run_every"], g["run_every_unit"]) == ("p2", 1, "days")
    d = expect(proj.api.delete(path), 200, WORKSPACES_SPEC, "DeleteDriftConfigResponse")
    assert d == {"status": "deleted"}
    assert expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetDriftConfigResponse")["enabled"] is False
    assert_error(proj.api.delete(path), 404)


@pytest.mark.parametrize("body,field", [
    ({"run_every": 1, "run_every_unit": "hours"}, "pipeline_id"),
    ({"pipeline_id": "p", "run_every_unit": "hours"}, "run_every"),
    ({"pipeline_id": "p", "run_every": 1}, "run_every_unit"),
    ({"pipeline_id": "p", "run_every": 0, "run_every_unit": "hours"}, "run_every"),
    ({"pipeline_id": "p", "run_every": -3, "run_every_unit": "hours"}, "run_every"),
    ({"pipeline_id": "p", "run_every": "6", "run_every_unit": "hours"}, "run_every"),
    ({"pipeline_id": "p", "run_every": 1.5, "run_every_unit": "hours"}, "run_every"),
    ({"pipeline_id": "p", "run_every": 1, "run_every_unit": "weeks"}, "run_every_unit"),
    ({"pipeline_id": 5, "run_every": 1, "run_every_unit": "hours"}, "pipeline_id"),
], ids=["no-pipeline", "no-run_every", "no-unit", "zero", "negative", "string", "fraction", "unit-enum",
        "pipeline-number"])
def test_drift_config_validation(proj, uid, body, field):
    wid = uid("ws")
    proj.create(minimal(wid))
    path = proj.ws(wid, "/drift-config")
    assert_error(proj.api.put(path, json=body), 400, mentions=field)
    assert proj.api.get(path).json()["enabled"] is False


def test_ephemeral_config_lifecycle(proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    path = proj.ws(wid, "/ephemeral-config")
    g = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetEphemeralConfigResponse")
    assert g["enabled"] is False and g["source"] == "disabled"
    req = {"pipeline_id": "eph_pipe", "delete_workspace": True, "delete_delay_value": 2, "delete_delay_unit": "days",
           "destroy_delay_value": 0, "destroy_delay_unit": "hours", "provisioner": "opentofu"}
    r = proj.api.put(path, json=req)
    u = expect(r, 200, WORKSPACES_SPEC, "UpdateEphemeralConfigResponse")
    assert u["status"] == "updated"
    g = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetEphemeralConfigResponse")
    assert g["enabled"] is True and g["source"] == "workspace" and g["pipeline_id"] == "eph_pipe"
    assert g.get("delete_workspace") is True
    assert g.get("delete_delay_value") == 2 and g.get("delete_delay_unit") == "days"
    d = expect(proj.api.delete(path), 200, WORKSPACES_SPEC, "DeleteEphemeralConfigResponse")
    assert d == {"status": "deleted"}
    g = expect(proj.api.get(path), 200, WORKSPACES_SPEC, "GetEphemeralConfigResponse")
    assert g["enabled"] is False and g["source"] == "disabled"
    assert_error(proj.api.delete(path), 404)
    # pipeline_id alone is enough
    assert expect(proj.api.put(path, json={"pipeline_id": "p"}), 200, WORKSPACES_SPEC,
                  "UpdateEphemeralConfigResponse")["status"] == "updated"


@pytest.mark.parametrize("body,field", [
    ({}, "pipeline_id"),
    ({"delete_workspace": True}, "pipeline_id"),
    ({"pipeline_id": "p", "delete_delay_unit": "weeks"}, "delete_delay_unit"),
    ({"pipeline_id": "p", "destroy_delay_unit": "fortnights"}, "destroy_delay_unit"),
    ({"pipeline_id": "p", "delete_delay_value": -1}, "delete_delay_value"),
    ({"pipeline_id": "p", "destroy_delay_value": -5}, "destroy_delay_value"),
    ({"pipeline_id": "p", "destroy_delay_value": "soon"}, "destroy_delay_value"),
    ({"pipeline_id": "p", "delete_workspace": "yes"}, "delete_workspace"),
], ids=["empty", "no-pipeline", "delete-unit", "destroy-unit", "delete-negative", "destroy-negative",
        "destroy-string", "delete_workspace-string"])
def test_ephemeral_config_validation(proj, uid, body, field):
    wid = uid("ws")
    proj.create(minimal(wid))
    path = proj.ws(wid, "/ephemeral-config")
    assert_error(proj.api.put(path, json=body), 400, mentions=field)
    assert proj.api.get(path).json()["enabled"] is False


def test_settings_go_away_with_the_workspace(proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    expect(proj.api.put(proj.ws(wid, "/drift-config"),
                        json={"pipeline_id": "p", "run_every": 5, "run_every_unit": "minutes"}), 200)
    expect(proj.api.put(proj.ws(wid, "/ephemeral-config"), json={"pipeline_id": "p"}), 200)
    assert proj.api.delete(proj.ws(wid)).status_code == 204
    proj.create(minimal(wid))
    assert proj.api.get(proj.ws(wid, "/drift-config")).json()["enabled"] is False
    assert proj.api.get(proj.ws(wid, "/ephemeral-config")).json()["enabled"] is False


# ---------------------------------------------------------------------------------------
# templates


def test_template_associations(api, proj, uid):
    tmpl = uid("tmpl")
    a = proj.create(minimal(uid("a"), associated_template={"template_id": tmpl, "version": "1"}))
    b = proj.create(minimal(uid("b"), associated_template={"template_id": tmpl, "version": "2"}))
    proj.create(minimal(uid("c"), associated_template={"template_id": uid("other"), "version": "1"}))
    proj.create(minimal(uid("d")))
    other = make_project(api, uid)
    e = other.create(minimal(uid("e"), associated_template={"template_id": tmpl, "version": "1"}))
    assert a["associated_template"] == {"template_id": tmpl, "version": "1"}
    path = f"/iacm/api/workspace/templates/{tmpl}"

    def rows(**params):
        r = api.get(path, params=params)
        return expect(r, 200, WORKSPACES_SPEC, "HarnessIacmWorkspaceTemplate", array=True)

    got = rows(org=proj.org, project=proj.project)
    assert sorted(x["workspace_id"] for x in got) == sorted([a["identifier"], b["identifier"]])
    for x in got:
        assert x["template_id"] == tmpl and x["account"] == api.account
        assert x["org"] == proj.org and x["project"] == proj.project
        assert x["created_at"] > MS_2020 and x["updated_at"] >= x["created_at"]
    byid = {x["workspace_id"]: x for x in got}
    assert byid[a["identifier"]]["version"] == "1" and byid[b["identifier"]]["version"] == "2"
    got = rows(org=proj.org, project=proj.project, version="2")
    assert [x["workspace_id"] for x in got] == [b["identifier"]]
    got = rows(org=other.org, project=other.project)
    assert [x["workspace_id"] for x in got] == [e["identifier"]]
    assert rows(org=proj.org, project=proj.project, version="9") == []
    assert rows(org=proj.org, project=proj.project) != []
    assert api.get(f"/iacm/api/workspace/templates/{uid('none')}",
                   params={"org": proj.org, "project": proj.project}).json() == []
    # deleting a workspace drops its association
    assert api.delete(proj.ws(a["identifier"])).status_code == 204
    got = rows(org=proj.org, project=proj.project)
    assert [x["workspace_id"] for x in got] == [b["identifier"]]


def test_template_associations_are_per_account(tenant, uid):
    t1, t2 = tenant(), tenant()
    p1 = make_project(t1.api, uid)
    tmpl = uid("tmpl")
    p1.create(minimal(uid("a"), associated_template={"template_id": tmpl, "version": "1"}))
    r = t2.api.get(f"/iacm/api/workspace/templates/{tmpl}", params={"org": p1.org, "project": p1.project})
    if r.status_code == 200:
        assert r.json() == []
    else:
        assert_error(r, 404)


# ---------------------------------------------------------------------------------------
# auth


def test_needs_a_token(anon, proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    a = anon.as_(account=proj.api.account)
    assert_error(a.get(proj.ws(wid)), 401)
    assert_error(a.get(proj.ws()), 401)
    assert_error(a.post(proj.ws(), json=minimal(uid("ws"))), 401)
    assert_error(a.delete(proj.ws(wid)), 401)


def test_viewer_reads_but_cannot_write(tenant, uid):
    t = tenant()
    p = make_project(t.api, uid)
    wid = uid("ws")
    p.create(minimal(wid))
    viewer = t.client("viewer")
    vp = Project(viewer, p.org, p.project)
    assert vp.get(wid)["identifier"] == wid
    assert _ids(vp.list()[0]) == [wid]
    assert viewer.get(f"{p.base}/tags").status_code == 200
    assert viewer.get(p.ws(wid, "/drift-config")).status_code == 200
    assert_error(viewer.post(p.ws(), json=minimal(uid("ws"))), 403)
    assert_error(viewer.put(p.ws(wid), json=minimal(wid, "viewer was here")), 403)
    assert_error(viewer.delete(p.ws(wid)), 403)
    assert_error(viewer.post(p.ws(wid, "/clone"), json={"identifier": uid("c"), "name": "c"}), 403)
    assert_error(viewer.put(p.ws(wid, "/drift-config"),
                            json={"pipeline_id": "p", "run_every": 1, "run_every_unit": "hours"}), 403)
    assert_error(viewer.put(p.ws(wid, "/ephemeral-config"), json={"pipeline_id": "p"}), 403)
    assert p.get(wid)["name"] == f"Workspace {wid}"
    assert len(p.list()[0]) == 1
    editor = t.client("editor")
    ep = Project(editor, p.org, p.project)
    assert ep.create(minimal(uid("ws")))["status"] == "active"
    assert check_ws(editor.put(p.ws(wid), json=minimal(wid, "edited")), 200, p)["name"] == "edited"
    assert editor.delete(p.ws(wid)).status_code == 204


def test_other_account_cannot_see_the_workspace(tenant, uid):
    t1, t2 = tenant(), tenant()
    p = make_project(t1.api, uid)
    wid = uid("ws")
    p.create(minimal(wid))
    # t2's token naming t1's account
    spoof = t2.api.as_(account=t1.account)
    assert_error(spoof.get(p.ws(wid)), 403)
    assert_error(spoof.get(p.ws()), 403)
    assert_error(spoof.put(p.ws(wid), json=minimal(wid, "stolen")), 403)
    assert_error(spoof.delete(p.ws(wid)), 403)
    # t2 in its own account: t1's org does not exist there
    assert_error(t2.api.get(p.ws(wid)), 404)
    assert_error(t2.api.get(p.ws()), 404)
    assert_error(t2.api.post(p.ws(), json=minimal(uid("ws"))), 404)
    assert_error(t2.api.delete(p.ws(wid)), 404)
    # even with the same org/project names, t2 sees only its own workspaces
    t2.api.create_org(p.org)
    t2.api.create_project(p.org, p.project)
    mine = Project(t2.api, p.org, p.project)
    assert mine.list()[0] == []
    assert_error(t2.api.get(p.ws(wid)), 404)
    assert mine.create(minimal(wid, "t2's own"))["account"] == t2.account
    assert p.get(wid)["name"] == f"Workspace {wid}"


def test_project_scoped_token(tenant, uid):
    t = tenant()
    p = make_project(t.api, uid)
    other = Project(t.api, p.org, uid("prj"))
    t.api.create_project(p.org, other.project)
    theirs = uid("ws")
    other.create(minimal(theirs))
    scoped = t.client("editor", org=p.org, project=p.project)
    sp = Project(scoped, p.org, p.project)
    wid = uid("ws")
    assert sp.create(minimal(wid))["identifier"] == wid
    assert sp.get(wid)["identifier"] == wid
    assert check_ws(scoped.put(p.ws(wid), json=minimal(wid, "scoped edit")), 200, p)["name"] == "scoped edit"
    assert _ids(sp.list()[0]) == [wid]
    assert_error(scoped.get(other.ws(theirs)), 404)
    assert_error(scoped.get(other.ws()), 404)
    assert_error(scoped.get(f"{other.base}/tags"), 404)
    assert_error(scoped.post(other.ws(), json=minimal(uid("ws"))), (403, 404))
    assert_error(scoped.put(other.ws(theirs), json=minimal(theirs, "x")), (403, 404))
    assert_error(scoped.delete(other.ws(theirs)), (403, 404))
    assert other.get(theirs)["name"] == f"Workspace {theirs}"
    assert _ids(other.list()[0]) == [theirs]
    # template associations of other projects are invisible to the scoped token
    tmpl = uid("tmpl")
    mine = sp.create(minimal(uid("ws"), associated_template={"template_id": tmpl, "version": "1"}))
    other.create(minimal(uid("ws"), associated_template={"template_id": tmpl, "version": "1"}))
    r = scoped.get(f"/iacm/api/workspace/templates/{tmpl}")
    rows = expect(r, 200, WORKSPACES_SPEC, "HarnessIacmWorkspaceTemplate", array=True)
    assert [x["workspace_id"] for x in rows] == [mine["identifier"]]
    r = scoped.get(f"/iacm/api/workspace/templates/{tmpl}", params={"org": other.org, "project": other.project})
    if r.status_code == 200:
        assert r.json() == []
    else:
        assert_error(r, 404)
    r = t.api.get(f"/iacm/api/workspace/templates/{tmpl}", params={"org": other.org, "project": other.project})
    assert len(expect(r, 200, WORKSPACES_SPEC, "HarnessIacmWorkspaceTemplate", array=True)) == 1
    assert scoped.delete(p.ws(wid)).status_code == 204


# ---------------------------------------------------------------------------------------
# formats


def test_yaml_request_gets_yaml(proj, uid):
    wid = uid("ws")
    doc = yaml.safe_dump(full(wid))
    r = proj.api.post(proj.ws(), data=doc.encode(), headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, describe(r)
    assert is_yaml(r), describe(r)
    w = check_ws(r, 200, proj)
    assert_matches_request(w, full(wid))
    upd = yaml.safe_dump(minimal(wid, "yaml update"))
    r = proj.api.put(proj.ws(wid), data=upd.encode(), headers={"Content-Type": "text/yaml"})
    assert is_yaml(r) and check_ws(r, 200, proj)["name"] == "yaml update"
    bad = yaml.safe_dump(minimal(uid("ws"), provisioner="pulumi"))
    r = proj.api.post(proj.ws(), data=bad.encode(), headers={"Content-Type": "application/x-yaml"})
    assert_error(r, 400, yaml_body=True, mentions="provisioner")
    r = proj.api.get(proj.ws(wid), headers={"Accept": "application/yaml"})
    assert is_yaml(r) and check_ws(r, 200, proj)["name"] == "yaml update"


def test_form_urlencoded_create_with_nested_fields(proj, uid):
    wid = uid("ws")
    form = [("identifier", wid), ("name", "Form made"), ("provisioner", "terraform"),
            ("provider_connector", ""),
            ("terraform_variables.region.key", "region"),
            ("terraform_variables.region.value", "eu-west-1"),
            ("terraform_variables.region.value_type", "string"),
            ("environment_variables.TOKEN.key", "TOKEN"),
            ("environment_variables.TOKEN.value", "account.token"),
            ("environment_variables.TOKEN.value_type", "secret"),
            ("cost_estimation_enabled", "true"), ("budget", "12.5"), ("run_all", "false"),
            ("repository_submodules", "true"), ("provisioner_version", "1.5"),
            ("tags.team", "infra")]
    r = proj.api.post(proj.ws(), data=urllib.parse.urlencode(form),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert is_json(r), describe(r)
    w = check_ws(r, 200, proj)
    assert w["name"] == "Form made" and w["cost_estimation_enabled"] is True
    assert w["budget"] == 12.5 and w["run_all"] is False
    assert w["repository_submodules"] == "true" and w["provisioner_version"] == "1.5"
    assert w["tags"] == {"team": "infra"}
    assert strip_var(w["terraform_variables"]["region"]) == var("region", "eu-west-1")
    assert strip_var(w["environment_variables"]["TOKEN"]) == var("TOKEN", "account.token", "secret")


def test_form_without_variables_maps(proj, uid):
    """terraform_variables/environment_variables are required; a form cannot leave them out silently."""
    wid = uid("ws")
    form = {"identifier": wid, "name": "x", "provisioner": "terraform", "provider_connector": ""}
    r = proj.api.post(proj.ws(), data=form)
    if r.status_code == 200:
        check_ws(r, 200, proj)
    else:
        assert_error(r, 400, mentions="variables")


# ---------------------------------------------------------------------------------------
# project deletion


def test_project_with_workspaces_cannot_be_deleted(api, proj, uid):
    wid = uid("ws")
    proj.create(minimal(wid))
    r = api.delete(f"/v1/orgs/{proj.org}/projects/{proj.project}")
    assert_error(r, 409, mentions=wid)
    assert proj.get(wid)["identifier"] == wid
    assert proj.api.delete(proj.ws(wid)).status_code == 204
    r = api.delete(f"/v1/orgs/{proj.org}/projects/{proj.project}")
    assert r.status_code in (200, 204), describe(r)
    assert_error(api.get(proj.ws(wid)), 404)


# ---------------------------------------------------------------------------------------
# variable sets (implemented concurrently: skipped while POST /iacm/api/variable-set is 404)


@pytest.fixture
def vs_tenant(tenant):
    t = tenant()
    r = t.api.post("/iacm/api/variable-set", json={})
    if r.status_code in (404, 405):
        pytest.skip("variable-set endpoints are not implemented yet (POST /iacm/api/variable-set -> "
                    f"{r.status_code})")
    return t


needs_variable_sets = pytest.mark.usefixtures("vs_tenant")


def make_set(api, prefix, identifier, tf=None, env=None):
    body = {"identifier": identifier, "name": f"Set {identifier}",
            "terraform_variables": {k: var(k, v) for k, v in (tf or {}).items()},
            "environment_variables": {k: var(k, v) for k, v in (env or {}).items()}}
    r = api.post(f"{prefix}/variable-set", json=body)
    assert r.status_code == 201, describe(r)
    return r.json()


def eff_of(w, kind="terraform_variables"):
    return {k: (v["value"], v["source"]) for k, v in w["effective_variables"][kind].items()}


@needs_variable_sets
def test_variable_set_precedence(vs_tenant, uid):
    t = vs_tenant
    p = make_project(t.api, uid)
    acct, org, prj = uid("vsa"), uid("vso"), uid("vsp")
    make_set(t.api, "/iacm/api", acct, tf={"region": "acct", "x": "acct", "only_acct": "a"},
             env={"E": "acct"})
    make_set(t.api, f"/iacm/api/orgs/{p.org}", org, tf={"region": "org", "x": "org", "y": "org"},
             env={"E": "org", "F": "org"})
    make_set(t.api, f"/iacm/api/orgs/{p.org}/projects/{p.project}", prj, tf={"region": "prj", "y": "prj", "z": "prj"})
    refs = [f"account.{acct}", f"org.{org}", prj]
    wid = uid("ws")
    w = p.create(minimal(wid, variable_sets=refs, terraform_variables={"region": var("region", "ws")},
                         environment_variables={"F": var("F", "ws")}))
    assert w["variable_sets"] == refs
    assert w["terraform_variables"].keys() == {"region"}
    assert eff_of(w) == {
        "region": ("ws", "workspace"),
        "x": ("acct", f"variable_set:account.{acct}"),
        "only_acct": ("a", f"variable_set:account.{acct}"),
        "y": ("org", f"variable_set:org.{org}"),
        "z": ("prj", f"variable_set:{prj}"),
    }
    assert eff_of(w, "environment_variables") == {"E": ("acct", f"variable_set:account.{acct}"),
                                                  "F": ("ws", "workspace")}
    assert p.get(wid)["effective_variables"] == w["effective_variables"]
    # reorder: the first listed set wins
    body = {k: v for k, v in minimal(wid).items() if k != "identifier"}
    body.update(variable_sets=[prj, f"org.{org}", f"account.{acct}"], terraform_variables={},
                environment_variables={})
    w2 = check_ws(p.api.put(p.ws(wid), json=body), 200, p)
    assert eff_of(w2) == {
        "region": ("prj", f"variable_set:{prj}"),
        "x": ("org", f"variable_set:org.{org}"),
        "only_acct": ("a", f"variable_set:account.{acct}"),
        "y": ("prj", f"variable_set:{prj}"),
        "z": ("prj", f"variable_set:{prj}"),
    }
    # clone keeps the references
    cid = uid("clone")
    c = check_ws(p.api.post(p.ws(wid, "/clone"), json={"identifier": cid, "name": "clone"}), 200, p)
    assert c["variable_sets"] == body["variable_sets"]
    assert c["effective_variables"] == w2["effective_variables"]
    assert eff_of(w2, "environment_variables") == {"E": ("org", f"variable_set:org.{org}"),
                                                   "F": ("org", f"variable_set:org.{org}")}


@needs_variable_sets
def test_variable_set_changes_show_in_effective_variables(vs_tenant, uid):
    t = vs_tenant
    p = make_project(t.api, uid)
    sid = uid("vs")
    make_set(t.api, "/iacm/api", sid, tf={"k": "v1"})
    wid = uid("ws")
    p.create(minimal(wid, variable_sets=[f"account.{sid}"]))
    assert eff_of(p.get(wid))["k"] == ("v1", f"variable_set:account.{sid}")
    r = t.api.put(f"/iacm/api/variable-set/{sid}",
                  json={"identifier": sid, "name": "renamed", "terraform_variables": {"k": var("k", "v2")},
                        "environment_variables": {}})
    assert r.status_code == 200, describe(r)
    assert eff_of(p.get(wid))["k"] == ("v2", f"variable_set:account.{sid}")


@needs_variable_sets
@pytest.mark.parametrize("ref_kind", ["account", "org", "project"])
def test_missing_variable_set_is_404_naming_it(vs_tenant, uid, ref_kind):
    t = vs_tenant
    p = make_project(t.api, uid)
    missing = uid("nope")
    ref = {"account": f"account.{missing}", "org": f"org.{missing}", "project": missing}[ref_kind]
    wid = uid("ws")
    assert_error(p.api.post(p.ws(), json=minimal(wid, variable_sets=[ref])), 404, mentions=missing)
    assert_error(p.api.get(p.ws(wid)), 404)
    p.create(minimal(wid))
    body = {k: v for k, v in minimal(wid).items() if k != "identifier"}
    assert_error(p.api.put(p.ws(wid), json={**body, "variable_sets": [ref]}), 404, mentions=missing)
    assert not p.get(wid).get("variable_sets")


@needs_variable_sets
def test_project_set_of_another_project_is_not_visible(vs_tenant, uid):
    t = vs_tenant
    p = make_project(t.api, uid)
    other = Project(t.api, p.org, uid("prj"))
    t.api.create_project(p.org, other.project)
    sid = uid("vs")
    make_set(t.api, f"/iacm/api/orgs/{p.org}/projects/{other.project}", sid, tf={"a": "b"})
    assert_error(p.api.post(p.ws(), json=minimal(uid("ws"), variable_sets=[sid])), 404, mentions=sid)
    assert other.create(minimal(uid("ws"), variable_sets=[sid]))["variable_sets"] == [sid]


@needs_variable_sets
@pytest.mark.parametrize("level", ["account", "org", "project"])
def test_deleting_a_referenced_set_is_409_naming_the_workspace(vs_tenant, uid, level):
    t = vs_tenant
    p = make_project(t.api, uid)
    sid = uid("vs")
    prefix = {"account": "/iacm/api", "org": f"/iacm/api/orgs/{p.org}",
              "project": f"/iacm/api/orgs/{p.org}/projects/{p.project}"}[level]
    ref = {"account": f"account.{sid}", "org": f"org.{sid}", "project": sid}[level]
    make_set(t.api, prefix, sid, tf={"a": "b"})
    wid = uid("ws")
    p.create(minimal(wid, variable_sets=[ref]))
    assert_error(t.api.delete(f"{prefix}/variable-set/{sid}"), 409, mentions=wid)
    assert eff_of(p.get(wid))["a"] == ("b", f"variable_set:{ref}")
    # a clone references the set too
    cid = uid("clone")
    check_ws(p.api.post(p.ws(wid, "/clone"), json={"identifier": cid, "name": "clone"}), 200, p)
    # once the workspace lets go, the clone still holds the set
    body = {k: v for k, v in minimal(wid).items() if k != "identifier"}
    check_ws(p.api.put(p.ws(wid), json={**body, "variable_sets": []}), 200, p)
    assert_error(t.api.delete(f"{prefix}/variable-set/{sid}"), 409, mentions=cid)
    assert p.api.delete(p.ws(cid)).status_code == 204
    r = t.api.delete(f"{prefix}/variable-set/{sid}")
    assert r.status_code in (200, 204), describe(r)
