"""IaCM variable sets at account, org and project level (harness-variable-sets-api-openapi.yml).

The spec's response schemas require "org" and "project" (minLength 1) even for account-level
sets; the server leaves out the ones the set's level does not have, so bodies are validated
against the spec schemas with exactly those two fields dropped from "required" where the level
has none (project-level bodies are checked against the unmodified schemas).
"""
from __future__ import annotations

import copy
import functools

import jsonschema
import pytest
import yaml

from spec_schema import assert_error, body_of, describe, load_spec

VS_SPEC = "harness-variable-sets-api-openapi.yml"
SET_BODY = "VariableSetsGetVariableSetAccountLevelResponseBody"
CREATED_BODY = "VariableSetsCreateVariableSetAccountLevelResponseBody"
LIST_BODY = "HarnessIacmVariableSetList"
REFS_BODY = "HarnessIacmWorkspaceList"
MS_2020 = 1.6e12
LEVELS = ("account", "org", "project")


# ---------------------------------------------------------------------------------------
# schema checks


@functools.lru_cache(maxsize=None)
def _validator(schema_name: str, dropped: tuple):
    doc = copy.deepcopy(load_spec(VS_SPEC))
    schemas = doc["components"]["schemas"]
    for name in (SET_BODY, CREATED_BODY, "HarnessIacmVariableSet"):
        schemas[name]["required"] = [f for f in schemas[name]["required"] if f not in dropped]
    root = {"components": doc["components"], "$ref": f"#/components/schemas/{schema_name}"}
    return jsonschema.Draft202012Validator(root, resolver=jsonschema.RefResolver.from_schema(root))


def _dropped(level: str) -> tuple:
    return {"account": ("org", "project"), "org": ("project",), "project": ()}[level]


def check(body, schema_name: str, level: str = "project"):
    errors = sorted(_validator(schema_name, _dropped(level)).iter_errors(body),
                    key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:10]]
        raise AssertionError(f"body does not match {VS_SPEC}#{schema_name} ({level} level):\n"
                             + "\n".join(lines) + f"\nbody: {str(body)[:2000]}")
    return body


def ok(resp, status, schema_name=None, level="project"):
    assert resp.status_code == status, describe(resp)
    if schema_name is None:
        return None
    return check(body_of(resp), schema_name, level)


# ---------------------------------------------------------------------------------------
# levels


class Level:
    """One level (account / org / project) of one account, with its URL prefix."""

    def __init__(self, api, kind, org=None, project=None):
        self.api, self.kind, self.org, self.project = api, kind, org, project
        self.prefix = "/iacm/api"
        if kind in ("org", "project"):
            self.prefix += f"/orgs/{org}"
        if kind == "project":
            self.prefix += f"/projects/{project}"

    def one(self, identifier=None):
        return f"{self.prefix}/variable-set" + (f"/{identifier}" if identifier else "")

    def many(self):
        return f"{self.prefix}/variable-sets"

    def ref(self, identifier):
        """How a workspace names a set of this level."""
        return {"account": f"account.{identifier}", "org": f"org.{identifier}", "project": identifier}[self.kind]

    def create(self, identifier, name=None, **fields):
        r = self.api.post(self.one(), json={"identifier": identifier, "name": name or f"Set {identifier}", **fields})
        return ok(r, 201, CREATED_BODY, self.kind)

    def scope_of(self, body):
        if self.kind == "account":
            assert "org" not in body and "project" not in body, body
        elif self.kind == "org":
            assert body["org"] == self.org and "project" not in body, body
        else:
            assert body["org"] == self.org and body["project"] == self.project, body
        assert body["account"] == self.api.account


def make_level(api, uid, kind, org=None, project=None):
    if kind in ("org", "project") and org is None:
        org = uid("org")
        api.create_org(org)
    if kind == "project" and project is None:
        project = uid("prj")
        api.create_project(org, project)
    return Level(api, kind, org, project)


@pytest.fixture(params=LEVELS)
def level(request, tenant, uid):
    """Each test body runs at all three levels, in a fresh account (isolated lists)."""
    return make_level(tenant().api, uid, request.param)


def full_body(identifier, name="Full set"):
    return {
        "identifier": identifier,
        "name": name,
        "environment_variables": {
            "TF_LOG": {"key": "TF_LOG", "value": "DEBUG", "value_type": "string"},
            "API_TOKEN": {"key": "API_TOKEN", "value": "account.api_token", "value_type": "secret"},
        },
        "terraform_variables": {
            "region": {"key": "region", "value": "eu-west-1", "value_type": "string"},
            "db_password": {"key": "db_password", "value": "org.db_password", "value_type": "secret"},
            "empty": {"key": "empty", "value": "", "value_type": "string"},
        },
        "terraform_variable_files": [
            {"repository": "infra-vars", "repository_branch": "main", "repository_path": "prod.tfvars",
             "repository_connector": "account.github"},
            {"repository": "infra-vars", "repository_commit": "abc10ed", "repository_path": "common.tfvars"},
        ],
        "connectors": [{"connector_ref": "account.aws_prod", "type": "aws"},
                       {"connector_ref": "vault_conn", "type": "vault"}],
    }


# ---------------------------------------------------------------------------------------
# CRUD


def test_create_and_get_round_trip(level, uid):
    sid = uid("vs")
    body = level.create(sid, name="Full set", **{k: v for k, v in full_body(sid).items()
                                                  if k not in ("identifier", "name")})
    level.scope_of(body)
    assert body["identifier"] == sid and body["name"] == "Full set"
    assert body["created"] > MS_2020 and body["updated"] == body["created"]
    env, tf = body["environment_variables"], body["terraform_variables"]
    assert set(env) == {"TF_LOG", "API_TOKEN"} and set(tf) == {"region", "db_password", "empty"}
    assert env["TF_LOG"]["value"] == "DEBUG" and env["TF_LOG"]["value_type"] == "string"
    # A secret's value is a reference: stored and returned as written, never resolved.
    assert env["API_TOKEN"] == {**env["API_TOKEN"], "key": "API_TOKEN", "value": "account.api_token",
                                "value_type": "secret"}
    assert tf["db_password"]["value"] == "org.db_password"
    assert tf["empty"]["value"] == ""
    for var in list(env.values()) + list(tf.values()):
        assert var["created"] == body["created"] and var["updated"] == body["created"], var
    files = body["terraform_variable_files"]
    assert [f["repository_path"] for f in files] == ["prod.tfvars", "common.tfvars"]
    assert files[0]["repository_branch"] == "main" and files[0]["repository_connector"] == "account.github"
    assert files[1]["repository_commit"] == "abc10ed" and "repository_branch" not in files[1]
    assert all(f["created"] > MS_2020 and f["updated"] >= f["created"] for f in files)
    assert [(c["connector_ref"], c["type"]) for c in body["connectors"]] == [
        ("account.aws_prod", "aws"), ("vault_conn", "vault")]
    assert all(c["created"] > MS_2020 for c in body["connectors"])

    got = ok(level.api.get(level.one(sid)), 200, SET_BODY, level.kind)
    assert got == body


def test_minimal_set_and_defaults(level, uid):
    sid = uid("vs")
    body = level.create(sid)
    assert body["environment_variables"] == {} and body["terraform_variables"] == {}
    assert body["terraform_variable_files"] == [] and body["connectors"] == []
    # repository_path defaults to "" ; the inner key may be left out (the map key is used).
    sid2 = uid("vs")
    body = level.create(sid2, terraform_variables={"zone": {"value": "a", "value_type": "string"}},
                        terraform_variable_files=[{"repository": "r"}])
    assert body["terraform_variables"]["zone"]["key"] == "zone"
    assert body["terraform_variable_files"][0]["repository_path"] == ""


def test_unknown_and_server_owned_fields_are_ignored(level, uid):
    sid = uid("vs")
    r = level.api.post(level.one(), json={
        "identifier": sid, "name": "n", "id": 42, "created": 1, "updated": 2, "account": "other",
        "org": "elsewhere", "project": "nowhere", "description": "free text", "color": "red",
        "environment_variables": {"A": {"value": "1", "value_type": "string", "id": 9, "created": 3,
                                        "extra": True}},
        "terraform_variable_files": [{"repository": "r", "id": 1, "weird": [1]}],
        "connectors": [{"connector_ref": "c", "type": "gcp", "id": 5, "updated": 7}]})
    body = ok(r, 201, CREATED_BODY, level.kind)
    level.scope_of(body)
    assert body["created"] > MS_2020
    assert "description" not in body and "color" not in body and "id" not in body
    var = body["environment_variables"]["A"]
    assert set(var) == {"key", "value", "value_type", "created", "updated"} and var["created"] > MS_2020
    assert "weird" not in body["terraform_variable_files"][0]
    assert body["connectors"][0]["updated"] > MS_2020


def test_update_replaces_and_keeps_unchanged_timestamps(level, uid):
    sid = uid("vs")
    created = level.create(sid, terraform_variables={
        "keep": {"value": "1", "value_type": "string"},
        "change": {"value": "1", "value_type": "string"},
        "drop": {"value": "1", "value_type": "string"}},
        connectors=[{"connector_ref": "a", "type": "aws"}])
    r = level.api.put(level.one(sid), json={
        "name": "Renamed",
        "terraform_variables": {"keep": {"value": "1", "value_type": "string"},
                                "change": {"value": "account.pw", "value_type": "secret"},
                                "new": {"value": "2", "value_type": "string"}},
        "environment_variables": {"E": {"value": "x", "value_type": "string"}},
        "terraform_variable_files": [{"repository": "r", "repository_path": "x.tfvars"}]})
    body = ok(r, 200, CREATED_BODY, level.kind)
    level.scope_of(body)
    assert body["identifier"] == sid and body["name"] == "Renamed"
    assert body["created"] == created["created"] and body["updated"] >= created["updated"]
    tf = body["terraform_variables"]
    assert set(tf) == {"keep", "change", "new"}
    assert tf["keep"] == created["terraform_variables"]["keep"], "unchanged variable keeps its timestamps"
    assert tf["change"]["created"] == created["terraform_variables"]["change"]["created"]
    assert tf["change"]["updated"] >= created["terraform_variables"]["change"]["updated"]
    assert tf["change"]["value"] == "account.pw" and tf["change"]["value_type"] == "secret"
    assert tf["new"]["created"] >= created["created"]
    assert body["connectors"] == [], "PUT replaces: absent collections become empty"
    assert len(body["terraform_variable_files"]) == 1 and set(body["environment_variables"]) == {"E"}
    assert ok(level.api.get(level.one(sid)), 200, SET_BODY, level.kind) == body

    # The identifier may be repeated but not changed.
    ok(level.api.put(level.one(sid), json={"identifier": sid, "name": "Again"}), 200, CREATED_BODY, level.kind)
    assert_error(level.api.put(level.one(sid), json={"identifier": uid("other"), "name": "x"}), 400,
                 mentions="identifier")
    assert_error(level.api.put(level.one(sid), json={"terraform_variables": {}}), 400, mentions="name")
    assert_error(level.api.put(level.one(sid)), 400)
    assert level.api.get(level.one(sid)).json()["name"] == "Again"


def test_delete_by_path_and_by_query(level, uid):
    a, b = uid("vs"), uid("vs")
    level.create(a)
    level.create(b)
    r = level.api.delete(level.one(a))
    assert r.status_code == 204 and r.content == b"", describe(r)
    assert_error(level.api.get(level.one(a)), 404)
    assert_error(level.api.delete(level.one(a)), 404)
    r = level.api.delete(level.one(), params={"identifier": b})
    assert r.status_code == 204, describe(r)
    assert_error(level.api.get(level.one(b)), 404)
    assert_error(level.api.delete(level.one(), params={"identifier": b}), 404)
    assert_error(level.api.delete(level.one()), 400, mentions="identifier")
    assert_error(level.api.delete(level.one(), params={"identifier": ""}), 400, mentions="identifier")
    # Gone for good: the identifier can be used again.
    level.create(a)


def test_duplicate_identifier_is_409_per_level(tenant, uid):
    api = tenant().api
    org, project = uid("org"), uid("prj")
    api.create_org(org)
    api.create_project(org, project)
    levels = [Level(api, "account"), Level(api, "org", org), Level(api, "project", org, project)]
    sid = uid("vs")
    for lv in levels:  # the same identifier at each level: three different sets
        lv.create(sid, name=f"At {lv.kind}")
    for lv in levels:
        assert_error(api.post(lv.one(), json={"identifier": sid, "name": "dup"}), 409, mentions=sid)
        assert api.get(lv.one(sid)).json()["name"] == f"At {lv.kind}"


def test_unknown_org_or_project_is_404(api, uid):
    org, missing = uid("org"), uid("nope")
    api.create_org(org)
    for prefix in (f"/iacm/api/orgs/{missing}", f"/iacm/api/orgs/{missing}/projects/{missing}",
                   f"/iacm/api/orgs/{org}/projects/{missing}"):
        assert_error(api.post(f"{prefix}/variable-set", json={"identifier": "a", "name": "n"}), 404)
        assert_error(api.get(f"{prefix}/variable-sets"), 404)
        assert_error(api.get(f"{prefix}/variable-set/a"), 404)
        assert_error(api.put(f"{prefix}/variable-set/a", json={"name": "n"}), 404)
        assert_error(api.delete(f"{prefix}/variable-set/a"), 404)
        assert_error(api.delete(f"{prefix}/variable-set", params={"identifier": "a"}), 404)
        assert_error(api.get(f"{prefix}/variable-set/a/references"), 404)


def test_unknown_set_is_404_everywhere(level, uid):
    sid = uid("nope")
    assert_error(level.api.get(level.one(sid)), 404, mentions=sid)
    assert_error(level.api.put(level.one(sid), json={"name": "n"}), 404)
    assert_error(level.api.delete(level.one(sid)), 404)
    assert_error(level.api.get(level.one(sid) + "/references"), 404)


# ---------------------------------------------------------------------------------------
# validation

LONG = "a" * 129
VAR = {"value": "v", "value_type": "string"}

BAD_BODIES = [
    # (id, body fields replacing the valid ones, word the message must carry)
    ("identifier missing", {"identifier": None}, "identifier"),
    ("identifier number", {"identifier": 12}, "identifier"),
    ("identifier empty", {"identifier": ""}, "identifier"),
    ("identifier too long", {"identifier": LONG}, "identifier"),
    ("identifier leading digit", {"identifier": "1set"}, "identifier"),
    ("identifier dot", {"identifier": "a.b"}, "identifier"),
    ("identifier space", {"identifier": "a b"}, "identifier"),
    ("identifier slash", {"identifier": "a/b"}, "identifier"),
    ("name missing", {"name": None}, "name"),
    ("name number", {"name": 5}, "name"),
    ("name empty", {"name": ""}, "name"),
    ("name too long", {"name": LONG}, "name"),
    ("env not object", {"environment_variables": ["A"]}, "environment_variables"),
    ("env var not object", {"environment_variables": {"A": "x"}}, "environment_variables.A"),
    ("tf value_type enum", {"terraform_variables": {"region": {"value": "x", "value_type": "plain"}}},
     "terraform_variables.region.value_type: must be one of string, secret"),
    ("tf value_type missing", {"terraform_variables": {"region": {"value": "x"}}},
     "terraform_variables.region.value_type"),
    ("tf value_type number", {"terraform_variables": {"region": {"value": "x", "value_type": 1}}},
     "terraform_variables.region.value_type"),
    ("tf value missing", {"terraform_variables": {"region": {"value_type": "string"}}},
     "terraform_variables.region.value"),
    ("tf value number", {"terraform_variables": {"region": {"value": 3, "value_type": "string"}}},
     "terraform_variables.region.value"),
    ("tf value object", {"terraform_variables": {"region": {"value": {"a": 1}, "value_type": "string"}}},
     "terraform_variables.region.value"),
    ("key pattern", {"terraform_variables": {"9lives": VAR}}, "terraform_variables.9lives.key"),
    ("key dot", {"environment_variables": {"A.B": VAR}}, "environment_variables.A.B.key"),
    ("key too long", {"environment_variables": {LONG: VAR}}, "key"),
    ("key mismatch", {"environment_variables": {"A": {**VAR, "key": "B"}}}, "environment_variables.A.key"),
    ("key number", {"environment_variables": {"A": {**VAR, "key": 1}}}, "environment_variables.A.key"),
    ("secret with spaces", {"terraform_variables": {"pw": {"value": "hunter 2", "value_type": "secret"}}},
     "terraform_variables.pw.value"),
    ("secret empty", {"terraform_variables": {"pw": {"value": "", "value_type": "secret"}}},
     "terraform_variables.pw.value"),
    ("secret bad scope", {"terraform_variables": {"pw": {"value": "project.pw", "value_type": "secret"}}},
     "terraform_variables.pw.value"),
    ("files not array", {"terraform_variable_files": {"repository": "r"}}, "terraform_variable_files"),
    ("file not object", {"terraform_variable_files": ["r"]}, "terraform_variable_files[0]"),
    ("file repository missing", {"terraform_variable_files": [{"repository_path": "x"}]},
     "terraform_variable_files[0].repository"),
    ("file repository empty", {"terraform_variable_files": [{"repository": ""}]},
     "terraform_variable_files[0].repository"),
    ("file branch number", {"terraform_variable_files": [{"repository": "r", "repository_branch": 1}]},
     "terraform_variable_files[0].repository_branch"),
    ("file path bool", {"terraform_variable_files": [{"repository": "r", "repository_path": True}]},
     "terraform_variable_files[0].repository_path"),
    ("file duplicate", {"terraform_variable_files": [{"repository": "r", "repository_path": "a"},
                                                     {"repository": "r", "repository_path": "a"}]},
     "terraform_variable_files[1]"),
    ("connectors not array", {"connectors": {"connector_ref": "c", "type": "aws"}}, "connectors"),
    ("connector type enum", {"connectors": [{"connector_ref": "c", "type": "oci"}]},
     "connectors[0].type: must be one of aws, azure, gcp, vault"),
    ("connector type missing", {"connectors": [{"connector_ref": "c"}]}, "connectors[0].type"),
    ("connector ref missing", {"connectors": [{"type": "aws"}]}, "connectors[0].connector_ref"),
    ("connector ref empty", {"connectors": [{"connector_ref": "", "type": "aws"}]}, "connectors[0].connector_ref"),
    ("connector ref too long", {"connectors": [{"connector_ref": LONG, "type": "aws"}]},
     "connectors[0].connector_ref"),
    ("connector ref number", {"connectors": [{"connector_ref": 7, "type": "aws"}]}, "connectors[0].connector_ref"),
    ("connector duplicate type", {"connectors": [{"connector_ref": "a", "type": "aws"},
                                                 {"connector_ref": "b", "type": "aws"}]}, "connectors[1].type"),
]


@pytest.mark.parametrize("case", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_create_bodies_are_400_naming_the_field(api, uid, case):
    _, fields, mention = case
    body = {"identifier": uid("vs"), "name": "n", **fields}
    body = {k: v for k, v in body.items() if v is not None}
    r = api.post("/iacm/api/variable-set", json=body)
    assert_error(r, 400, mentions=mention)
    if isinstance(body.get("identifier"), str) and body["identifier"]:
        assert_error(api.get(f"/iacm/api/variable-set/{body['identifier']}"), 404)


@pytest.mark.parametrize("case", [c for c in BAD_BODIES if not c[1].keys() & {"identifier"}],
                         ids=[c[0] for c in BAD_BODIES if not c[1].keys() & {"identifier"}])
def test_bad_update_bodies_are_400_and_change_nothing(api, uid, case):
    _, fields, mention = case
    org = uid("org")
    api.create_org(org)
    lv = Level(api, "org", org)
    sid = uid("vs")
    before = lv.create(sid, name="Before", terraform_variables={"keep": VAR})
    body = {k: v for k, v in {"name": "n", **fields}.items() if v is not None}
    assert_error(api.put(lv.one(sid), json=body), 400, mentions=mention)
    assert api.get(lv.one(sid)).json() == before


def test_bad_documents(api, uid):
    assert_error(api.post("/iacm/api/variable-set"), 400)
    assert_error(api.post("/iacm/api/variable-set", json=[{"identifier": "a", "name": "n"}]), 400)
    assert_error(api.post("/iacm/api/variable-set", data="{not json", headers={"Content-Type": "application/json"}),
                 400)
    assert_error(api.post("/iacm/api/variable-set", data="x", headers={"Content-Type": "application/octet-stream"}),
                 415)


def test_yaml_request_gets_yaml(api, uid):
    sid = uid("vs")
    doc = {"identifier": sid, "name": "Yaml set",
           "terraform_variables": {"region": {"value": "us-east-1", "value_type": "string"}}}
    r = api.post("/iacm/api/variable-set", data=yaml.safe_dump(doc),
                 headers={"Content-Type": "application/yaml"})
    assert r.status_code == 201, describe(r)
    assert "yaml" in r.headers["Content-Type"]
    body = check(yaml.safe_load(r.text), CREATED_BODY, "account")
    assert body["terraform_variables"]["region"]["value"] == "us-east-1"
    bad = api.post("/iacm/api/variable-set", data=yaml.safe_dump({**doc, "identifier": "9x"}),
                   headers={"Content-Type": "application/yaml"})
    assert_error(bad, 400, yaml_body=True, mentions="identifier")


def test_form_bodies(api, uid):
    sid = uid("vs")
    r = api.post("/iacm/api/variable-set", data={
        "identifier": sid, "name": "Form set",
        "terraform_variables.region.value": "eu-west-1",
        "terraform_variables.region.value_type": "string",
        "environment_variables[PW][value]": "account.pw",
        "environment_variables[PW][value_type]": "secret",
        "connectors[1].type": "gcp", "connectors[1].connector_ref": "g",
        "connectors[0].type": "aws", "connectors[0].connector_ref": "a",
        "terraform_variable_files[0].repository": "r"})
    body = ok(r, 201, CREATED_BODY, "account")
    assert body["terraform_variables"]["region"]["value"] == "eu-west-1"
    assert body["environment_variables"]["PW"]["value"] == "account.pw"
    assert [c["type"] for c in body["connectors"]] == ["aws", "gcp"]
    assert body["terraform_variable_files"][0]["repository"] == "r"
    bad = api.post("/iacm/api/variable-set", data={"identifier": uid("vs"), "name": "n",
                                                   "connectors.x.type": "aws"})
    assert_error(bad, 400, mentions="connectors")


# ---------------------------------------------------------------------------------------
# lists


def test_list_counts_paging_and_search(level, uid):
    ids = sorted(uid("vs") for _ in range(5))
    for i, sid in enumerate(ids):
        level.create(sid, name=f"Name {i}", terraform_variables={f"v{j}": VAR for j in range(i)},
                     environment_variables={"E": VAR} if i % 2 else {},
                     terraform_variable_files=[{"repository": "r", "repository_path": f"{k}.tfvars"}
                                               for k in range(i % 3)])
    r = level.api.get(level.many())
    body = ok(r, 200, LIST_BODY, level.kind)
    items = body["items"]
    assert [it["identifier"] for it in items] == ids, "default order: name"
    for i, it in enumerate(items):
        level.scope_of(it)
        assert (it["tf_vars_count"], it["env_vars_count"], it["var_files_count"]) == (i, i % 2, i % 3)
        assert len(it["terraform_variables"]) == i
    assert r.headers["X-Total-Elements"] == "5" and r.headers["x-total-items"] == "5"
    assert r.headers["X-Page-Number"] == "1", "IaCM lists count pages from 1"
    assert r.headers["X-Page-Size"] == "30"

    r = level.api.get(level.many(), params={"page": 2, "limit": 2})
    page2 = ok(r, 200, LIST_BODY, level.kind)
    assert [it["identifier"] for it in page2["items"]] == ids[2:4]
    assert r.headers["X-Page-Number"] == "2" and r.headers["x-total-pages"] == "3"
    r = level.api.get(level.many(), params={"page": 3, "limit": 2})
    assert [it["identifier"] for it in ok(r, 200, LIST_BODY, level.kind)["items"]] == ids[4:]
    r = level.api.get(level.many(), params={"page": 9, "limit": 2})
    assert ok(r, 200, LIST_BODY, level.kind)["items"] == [] and r.headers["X-Total-Elements"] == "5"

    r = level.api.get(level.many(), params={"searchTerm": "NAME 3"})
    found = ok(r, 200, LIST_BODY, level.kind)["items"]
    assert [it["identifier"] for it in found] == [ids[3]] and r.headers["X-Total-Elements"] == "1"
    r = level.api.get(level.many(), params={"search_term": ids[1][-8:]})
    assert [it["identifier"] for it in r.json()["items"]] == [ids[1]]

    r = level.api.get(level.many(), params={"sort": "name,DESC"})
    assert [it["identifier"] for it in r.json()["items"]] == ids[::-1]
    r = level.api.get(level.many(), params={"limit": 1000})
    assert r.status_code == 200 and r.headers["X-Page-Size"] == "100", "limit is capped at 100"
    assert_error(level.api.get(level.many(), params={"page": 0}), 400)
    assert_error(level.api.get(level.many(), params={"limit": "x"}), 400)


def test_list_shows_only_its_own_level(tenant, uid):
    api = tenant().api
    org, project = uid("org"), uid("prj")
    api.create_org(org)
    api.create_project(org, project)
    acc, orgl, proj = Level(api, "account"), Level(api, "org", org), Level(api, "project", org, project)
    acc.create(uid("acc"))
    orgl.create(uid("org"))
    orgl.create(uid("org"))
    for lv, n in ((acc, 1), (orgl, 2), (proj, 0)):
        body = ok(api.get(lv.many()), 200, LIST_BODY, lv.kind)
        assert len(body["items"]) == n, (lv.kind, body)


# ---------------------------------------------------------------------------------------
# auth, roles and scopes


def test_needs_a_token_and_the_right_account(anon, tenant, uid):
    assert_error(anon.get("/iacm/api/variable-sets"), 401)
    assert_error(anon.post("/iacm/api/variable-set", json={"identifier": "a", "name": "n"}), 401)
    t1, t2 = tenant(), tenant()
    sid = uid("vs")
    Level(t1.api, "account").create(sid)
    assert_error(t2.api.get(f"/iacm/api/variable-set/{sid}"), 404)
    assert t2.api.get("/iacm/api/variable-sets").json()["items"] == []
    assert_error(t2.api.as_(account=t1.account).get(f"/iacm/api/variable-set/{sid}"), 403)


def test_viewer_reads_editor_writes(tenant, uid):
    t = tenant()
    sid = uid("vs")
    Level(t.api, "account").create(sid)
    viewer = t.client("viewer")
    ok(viewer.get(f"/iacm/api/variable-set/{sid}"), 200, SET_BODY, "account")
    ok(viewer.get("/iacm/api/variable-sets"), 200, LIST_BODY, "account")
    ok(viewer.get(f"/iacm/api/variable-set/{sid}/references"), 200)
    assert_error(viewer.post("/iacm/api/variable-set", json={"identifier": uid("vs"), "name": "n"}), 403)
    assert_error(viewer.put(f"/iacm/api/variable-set/{sid}", json={"name": "n"}), 403)
    assert_error(viewer.delete(f"/iacm/api/variable-set/{sid}"), 403)
    assert_error(viewer.delete("/iacm/api/variable-set", params={"identifier": sid}), 403)
    editor = t.client("editor")
    ok(editor.put(f"/iacm/api/variable-set/{sid}", json={"name": "by editor"}), 200, CREATED_BODY, "account")
    assert editor.delete(f"/iacm/api/variable-set/{sid}").status_code == 204


def test_scoped_tokens_read_upwards_and_write_inside(tenant, uid):
    t = tenant()
    api = t.api
    o1, o2, p1, p2 = uid("org"), uid("org"), uid("prj"), uid("prj")
    for o in (o1, o2):
        api.create_org(o)
        for p in (p1, p2):
            api.create_project(o, p)
    acc, org1, org2 = Level(api, "account"), Level(api, "org", o1), Level(api, "org", o2)
    proj11, proj12 = Level(api, "project", o1, p1), Level(api, "project", o1, p2)
    sets = {}
    for name, lv in (("acc", acc), ("org1", org1), ("org2", org2), ("p11", proj11), ("p12", proj12)):
        sets[name] = uid(name)
        lv.create(sets[name])

    org_tok = t.client("editor", org=o1)
    prj_tok = t.client("editor", org=o1, project=p1)

    # Reads: the token's own level and every level above it.
    for client in (org_tok, prj_tok):
        ok(client.get(acc.one(sets["acc"])), 200, SET_BODY, "account")
        ok(client.get(org1.one(sets["org1"])), 200, SET_BODY, "org")
        ok(client.get(proj11.one(sets["p11"])), 200, SET_BODY, "project")
        assert [s["identifier"] for s in client.get(acc.many()).json()["items"]] == [sets["acc"]]
        assert_error(client.get(org2.one(sets["org2"])), 404)
        assert_error(client.get(org2.many()), 404)
    ok(org_tok.get(proj12.one(sets["p12"])), 200, SET_BODY, "project")
    assert_error(prj_tok.get(proj12.one(sets["p12"])), 404)
    assert_error(prj_tok.get(proj12.many()), 404)

    # Writes: only inside the token's scope; account-level writes need an account token.
    assert_error(org_tok.post(acc.one(), json={"identifier": uid("x"), "name": "n"}), 403)
    assert_error(org_tok.put(acc.one(sets["acc"]), json={"name": "n"}), 403)
    assert_error(org_tok.delete(acc.one(sets["acc"])), 403)
    assert_error(prj_tok.post(org1.one(), json={"identifier": uid("x"), "name": "n"}), 403)
    assert_error(prj_tok.put(org1.one(sets["org1"]), json={"name": "n"}), 403)
    assert_error(prj_tok.delete(org1.one(), params={"identifier": sets["org1"]}), 403)
    assert_error(org_tok.post(org2.one(), json={"identifier": uid("x"), "name": "n"}), 404)
    assert_error(prj_tok.post(proj12.one(), json={"identifier": uid("x"), "name": "n"}), 404)

    ok(org_tok.put(org1.one(sets["org1"]), json={"name": "by org token"}), 200, CREATED_BODY, "org")
    ok(org_tok.post(proj12.one(), json={"identifier": uid("x"), "name": "n"}), 201, CREATED_BODY, "project")
    ok(prj_tok.put(proj11.one(sets["p11"]), json={"name": "by project token"}), 200, CREATED_BODY, "project")
    new = uid("x")
    ok(prj_tok.post(proj11.one(), json={"identifier": new, "name": "n"}), 201, CREATED_BODY, "project")
    assert prj_tok.delete(proj11.one(new)).status_code == 204
    # Nothing changed where writes were refused.
    assert api.get(acc.one(sets["acc"])).json()["name"] == f"Set {sets['acc']}"


# ---------------------------------------------------------------------------------------
# references from workspaces


def create_workspace(api, org, project, identifier, variable_sets):
    r = api.post(f"/iacm/api/orgs/{org}/projects/{project}/workspaces", json={
        "identifier": identifier, "name": f"Workspace {identifier}", "provisioner": "terraform",
        "provider_connector": "", "terraform_variables": {}, "environment_variables": {},
        "variable_sets": variable_sets})
    assert r.status_code == 200, f"create workspace {identifier}: " + describe(r)
    return r.json()


def delete_workspace(api, org, project, identifier):
    r = api.delete(f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{identifier}")
    assert r.status_code in (200, 204), describe(r)


def test_references_and_delete_conflict(level, uid):
    api = level.api
    org = level.org or uid("org")
    if level.org is None:
        api.create_org(org)
    project = level.project or uid("prj")
    if level.project is None:
        api.create_project(org, project)
    sid, unused = uid("vs"), uid("vs")
    level.create(sid)
    level.create(unused)

    body = ok(api.get(level.one(sid) + "/references"), 200, REFS_BODY)
    assert body["items"] == []
    ws = sorted([uid("ws"), uid("ws"), uid("ws")])
    for w in ws[:2]:
        create_workspace(api, org, project, w, [level.ref(sid)])
    create_workspace(api, org, project, ws[2], [level.ref(unused)])

    r = api.get(level.one(sid) + "/references")
    body = ok(r, 200, REFS_BODY)
    assert [w["identifier"] for w in body["items"]] == ws[:2]
    assert all(w["org"] == org and w["project"] == project for w in body["items"])
    assert r.headers["X-Total-Elements"] == "2" and r.headers["X-Page-Number"] == "1"
    r = api.get(level.one(sid) + "/references", params={"page": 2, "limit": 1})
    assert [w["identifier"] for w in ok(r, 200, REFS_BODY)["items"]] == ws[1:2]

    # Deleting a set still in use is refused, naming the workspaces; by path and by query.
    err = assert_error(api.delete(level.one(sid)), 409)
    assert ws[0] in err["message"] and ws[1] in err["message"], err
    assert_error(api.delete(level.one(), params={"identifier": sid}), 409, mentions=ws[0])
    ok(api.get(level.one(sid)), 200, SET_BODY, level.kind)

    delete_workspace(api, org, project, ws[0])
    assert [w["identifier"] for w in api.get(level.one(sid) + "/references").json()["items"]] == ws[1:2]
    assert_error(api.delete(level.one(sid)), 409, mentions=ws[1])
    delete_workspace(api, org, project, ws[1])
    assert api.delete(level.one(sid)).status_code == 204
    assert_error(api.get(level.one(sid) + "/references"), 404)


def test_references_of_an_account_set_are_limited_to_the_token_scope(tenant, uid):
    t = tenant()
    api = t.api
    o1, o2, p = uid("org"), uid("org"), uid("prj")
    for o in (o1, o2):
        api.create_org(o)
        api.create_project(o, p)
    sid = uid("vs")
    Level(api, "account").create(sid)
    w1, w2 = uid("ws"), uid("ws")
    create_workspace(api, o1, p, w1, [f"account.{sid}"])
    create_workspace(api, o2, p, w2, [f"account.{sid}"])
    everything = ok(api.get(f"/iacm/api/variable-set/{sid}/references"), 200, REFS_BODY)
    assert sorted(w["identifier"] for w in everything["items"]) == sorted([w1, w2])
    scoped = t.client("viewer", org=o1)
    r = scoped.get(f"/iacm/api/variable-set/{sid}/references")
    assert [w["identifier"] for w in ok(r, 200, REFS_BODY)["items"]] == [w1]
    assert r.headers["X-Total-Elements"] == "1"
