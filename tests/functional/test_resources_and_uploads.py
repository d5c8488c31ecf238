"""What clients write about a workspace's resources, and the plan-side uploads.

    PATCH  W/resources          workspaces#update-resources        (upsert attributes, or drift)
    DELETE W/resources          workspaces#delete-resources        ("destroyed resources")
    DELETE W/resources/stale    workspaces#delete-stale-resources  (not written in the session)
    POST   W/dependency-graph   workspaces#upload-dependency-graph
    POST   W/risk-assessment    workspaces#upload-risk-assessment
    W = /iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}

Resources are derived from the newest state; what clients write is applied on top of it by every
listing (GET W/resources, POST W/resources/search) and survives new state versions until the
client writes that resource again.  Every 2xx body, and the 400 bodies (which the spec describes
with the operation's result schema), are validated against harness-workspaces-api-openapi.yml.
"""
from __future__ import annotations

import hashlib
import base64
import json
import uuid

import pytest

from spec_schema import WORKSPACES_SPEC, assert_error, describe, expect, validate

AWS = 'provider["registry.terraform.io/hashicorp/aws"]'
AWS_SOURCE = "registry.terraform.io/hashicorp/aws"


# ---------------------------------------------------------------------------------------
# helpers


def tfstate(serial, lineage, resources=(), outputs=None) -> bytes:
    doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage,
           "outputs": outputs or {}, "resources": list(resources), "check_results": None}
    return (json.dumps(doc, indent=2) + "\n").encode()


def inst(attrs, index_key=None, sensitive=()):
    i = {"schema_version": 0, "attributes": attrs, "sensitive_attributes": list(sensitive)}
    if index_key is not None:
        i["index_key"] = index_key
    return i


def res(rtype, name, instances, mode="managed", module=None):
    r = {"mode": mode, "type": rtype, "name": name, "provider": AWS, "instances": list(instances)}
    if module:
        r["module"] = module
    return r


def inventory(serial, lineage, extra=()):
    """Two web instances, a bucket in a module, a data source and an output."""
    return tfstate(serial, lineage, [
        res("aws_instance", "web", [inst({"id": "i-0", "ami": "ami-1", "instance_type": "t3.micro"}, 0),
                                    inst({"id": "i-1", "ami": "ami-1", "instance_type": "t3.small"}, 1)]),
        res("aws_s3_bucket", "logs", [inst({"id": "logs-bucket", "acl": "private"})], module="module.storage"),
        res("aws_ami", "ubuntu", [inst({"id": "ami-1", "name": "ubuntu-22.04"})], mode="data"),
        *extra,
    ], outputs={"web_ip": {"value": "10.0.1.5", "type": "string"}})


class Ws:
    def __init__(self, api, org, project, ident):
        self.api, self.org, self.project, self.ident = api, org, project, ident
        self.path = f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{ident}"

    def put_state(self, body: bytes):
        r = self.api.post(self.path + "/terraform-backend", data=body,
                          headers={"Content-Type": "application/json"})
        assert r.status_code == 200, describe(r)

    def resources(self, api=None, **params) -> dict:
        r = (api or self.api).get(self.path + "/resources", params=params)
        return expect(r, 200, WORKSPACES_SPEC, "ListResourcesResponse")

    def search(self, selectors) -> dict:
        r = self.api.post(self.path + "/resources/search", json={"selectors": selectors})
        return expect(r, 200, WORKSPACES_SPEC, "SearchResourcesResponse")

    def patch(self, body, api=None):
        return (api or self.api).request("PATCH", self.path + "/resources", json=body)

    def update(self, body) -> dict:
        return expect(self.patch(body), 200, WORKSPACES_SPEC, "UpdateResourcesResponse")

    def delete(self, body, api=None):
        return (api or self.api).delete(self.path + "/resources", json=body)

    def delete_ok(self, body) -> dict:
        return expect(self.delete(body), 200, WORKSPACES_SPEC, "DeleteResourcesResponse")

    def stale(self, body, api=None):
        return (api or self.api).delete(self.path + "/resources/stale", json=body)

    def paths(self, **params) -> list:
        return sorted(r["path_id"] for r in self.resources(**params)["resources"])


def make_ws(api, uid, org=None, project=None, ident=None, **extra) -> Ws:
    org, project, ident = org or uid("org"), project or uid("prj"), ident or uid("ws")
    api.create_org(org)
    api.create_project(org, project)
    body = {"identifier": ident, "name": f"Workspace {ident}", "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}, **extra}
    r = api.post(f"/iacm/api/orgs/{org}/projects/{project}/workspaces", json=body)
    assert r.status_code == 200, describe(r)
    return Ws(api, org, project, ident)


@pytest.fixture
def acct(tenant):
    return tenant()


@pytest.fixture
def ws(acct, uid) -> Ws:
    w = make_ws(acct.api, uid)
    w.put_state(inventory(1, str(uuid.uuid4())))
    return w


def upd(name="web", path_id=None, rtype="aws_instance", provider=AWS_SOURCE, module="", mode="managed",
        attributes=None, **extra) -> dict:
    item = {"provider": provider, "type": rtype, "name": name, "module": module, "mode": mode,
            "attributes": attributes if attributes is not None else {}}
    if path_id is not None:
        item["path_id"] = path_id
    item.update(extra)
    return item


def ref(name="web", path_id=None, rtype="aws_instance", provider=AWS_SOURCE, module="") -> dict:
    item = {"provider": provider, "type": rtype, "name": name, "module": module}
    if path_id is not None:
        item["path_id"] = path_id
    return item


def by_path(body, path) -> dict:
    found = [r for r in body["resources"] + body["data_sources"] if r["path_id"] == path]
    assert len(found) == 1, (path, body)
    return found[0]


def refused(resp, schema) -> dict:
    """A 400: an IaCMError that is also the operation's result document (its 400 schema)."""
    body = assert_error(resp, 400)
    validate(WORKSPACES_SPEC, schema, body)
    return body


UPLOAD_PARAMS = {"pipeline_id": "pipe", "stage_id": "stage", "pipeline_execution_id": "exec-1",
                 "pipeline_stage_id": "pstage", "provisioner_type": "tf", "data_type": "plan_human"}


# ---------------------------------------------------------------------------------------
# POST .../dependency-graph and .../risk-assessment


@pytest.mark.parametrize("endpoint,schema,data_type", [
    ("dependency-graph", "UploadDependencyGraphResponse", "dependency_graph"),
    ("risk-assessment", "UploadRiskAssessmentResponse", "risk_assessment"),
])
def test_uploads_are_stored_as_workspace_data_of_their_type(ws, endpoint, schema, data_type):
    doc = {"nodes": [{"id": "aws_instance.web[0]", "risk": "high"}], "edges": [],
           "summary": {"overall": "medium", "marker": uuid.uuid4().hex}}
    raw = json.dumps(doc).encode()
    r = ws.api.post(f"{ws.path}/{endpoint}", params={**UPLOAD_PARAMS, "stack_path": "envs/dev"}, data=raw,
                    headers={"Content-Type": "application/json"})
    body = expect(r, 200, WORKSPACES_SPEC, schema)
    assert body["policy_evaluation_status"] == "pass" and body["policy_evaluation"] == [], body
    uuid.UUID(body["id"])

    got = ws.api.get(f"{ws.path}/data/{body['id']}")
    assert got.status_code == 200 and got.content == raw, describe(got)
    assert got.headers["Content-Type"].startswith("application/json"), got.headers
    listed = ws.api.get(ws.path + "/data", params={"data_type": data_type}).json()
    assert [d["id"] for d in listed] == [body["id"]], listed
    rec = listed[0]
    assert (rec["data_type"], rec["pipeline_id"], rec["stage_id"], rec["pipeline_execution_id"],
            rec["pipeline_stage_id"], rec["provisioner_type"], rec["stack_path"]) == \
        (data_type, "pipe", "stage", "exec-1", "pstage", "tf", "envs/dev"), rec
    assert rec["size"] == len(raw) and rec["state_checksum"] == hashlib.sha256(raw).hexdigest(), rec
    # the spec's data_type parameter is optional in practice, and the endpoint's own type is fine
    for params in ({}, {"data_type": data_type, "provisioner_type": "awscdk"}):
        r = ws.api.post(f"{ws.path}/{endpoint}", params=params, json={"n": 1})
        expect(r, 200, WORKSPACES_SPEC, schema)
    assert len(ws.api.get(ws.path + "/data", params={"data_type": data_type}).json()) == 3
    # the workspace's state is untouched
    assert ws.paths() == ["aws_instance.web[0]", "aws_instance.web[1]", "module.storage.aws_s3_bucket.logs"]


@pytest.mark.parametrize("endpoint", ["dependency-graph", "risk-assessment"])
def test_upload_bad_input_is_refused(ws, acct, endpoint, uid):
    url = f"{ws.path}/{endpoint}"
    json_ct = {"Content-Type": "application/json"}
    cases = [
        (UPLOAD_PARAMS, b"digraph { a -> b }", "json"),
        (UPLOAD_PARAMS, b"[1, 2]", "object"),
        (UPLOAD_PARAMS, b"", "body"),
        ({**UPLOAD_PARAMS, "data_type": "no_such_type"}, b"{}", "data_type"),
        ({**UPLOAD_PARAMS, "data_type": "plan_json"}, b"{}", "data_type"),
        ({**UPLOAD_PARAMS, "provisioner_type": "pulumi"}, b"{}", "provisioner_type"),
        ({**UPLOAD_PARAMS, "provisioner_type": ""}, b"{}", "provisioner_type"),
    ]
    for params, body, mentions in cases:
        assert_error(ws.api.post(url, params=params, data=body, headers=json_ct), 400, mentions=mentions)
    md5 = base64.b64encode(hashlib.md5(b"{}").digest()).decode()
    r = ws.api.post(url, params=UPLOAD_PARAMS, data=b'{"a": 1}', headers={**json_ct, "Content-MD5": md5})
    assert_error(r, 400, mentions="md5")
    assert ws.api.get(ws.path + "/data", params={"data_type": endpoint.replace("-", "_")}).json() == []
    # unknown workspace, viewer, another account
    assert_error(ws.api.post(f"/iacm/api/orgs/{ws.org}/projects/{ws.project}/workspaces/{uid('nope')}/{endpoint}",
                             params=UPLOAD_PARAMS, data=b"{}", headers=json_ct), 404)
    viewer = ws.api.as_(token=acct.token("viewer"))
    assert_error(viewer.post(url, params=UPLOAD_PARAMS, data=b"{}", headers=json_ct), 403)


# ---------------------------------------------------------------------------------------
# PATCH .../resources


def test_upsert_replaces_attributes_and_adds_resources(ws):
    session = str(uuid.uuid4())
    body = ws.update({"session_id": session, "resources": [
        upd(path_id="aws_instance.web[0]", attributes={"id": "i-0", "ami": "ami-2", "instance_type": "t3.large"},
            sensitive_attribute_paths=["user_data"]),
        # named without path_id: the bucket is the only instance of its block; provider by short name
        upd("logs", rtype="aws_s3_bucket", module="module.storage", provider="aws",
            attributes=json.dumps({"id": "logs-bucket", "acl": "public-read"})),
        # not in the state: added
        upd("cache", rtype="aws_elasticache_cluster", attributes={"id": "cache-1", "nodes": 2}),
        upd("extra", rtype="aws_ami", mode="datasource", attributes={"id": "ami-9"}),
        upd("web_ip", rtype="output", mode="output", attributes={"value": "x"}),
    ]})
    assert [r["status"] for r in body["results"]] == ["updated"] * 4 + ["skipped"], body
    assert body["summary"] == {"total": 5, "updated": 4, "skipped": 1, "failed": 0}, body
    assert body["results"][1]["provider"] == "aws" and body["results"][1]["mode"] == "managed", body
    assert "error" not in body["results"][0] and body["results"][4]["error"], body

    listed = ws.resources()
    web0 = by_path(listed, "aws_instance.web[0]")
    assert web0["attributes"] == {"id": "i-0", "ami": "ami-2", "instance_type": "t3.large"}, web0
    assert web0["sensitive_attributes"] == ["user_data"] and web0["drift_status"] == "unchanged", web0
    assert by_path(listed, "aws_instance.web[1]")["attributes"]["ami"] == "ami-1", "others keep the state's"
    logs = by_path(listed, "module.storage.aws_s3_bucket.logs")
    assert logs["attributes"]["acl"] == "public-read" and logs["provider"] == AWS_SOURCE, logs
    cache = by_path(listed, "aws_elasticache_cluster.cache")
    assert (cache["mode"], cache["resource_id"], cache["provider"], cache["attributes"]["nodes"]) == \
        ("resource", "cache-1", AWS_SOURCE, 2), cache
    extra = by_path(listed, "data.aws_ami.extra")
    assert extra["mode"] == "data" and extra in listed["data_sources"], listed
    assert listed["total_resources"] == 4 and len(listed["data_sources"]) == 2, listed
    assert [o["name"] for o in listed["outputs"]] == ["web_ip"], listed["outputs"]
    # filters and search see the same inventory
    assert ws.paths(resource_types="aws_elasticache_cluster") == ["aws_elasticache_cluster.cache"]
    found = ws.search([{"resource_type": "aws_instance", "include_conditions": [
        {"attribute": "instance_type", "operator": "equals", "value": "t3.large"}]}])
    assert [r["path_id"] for r in found["resources"]] == ["aws_instance.web[0]"], found
    # an upsert again replaces (last write wins), and the same item twice in one request too
    ws.update({"resources": [upd(path_id="aws_instance.web[0]", attributes={"id": "i-0", "v": 1}),
                             upd(path_id="aws_instance.web[0]", attributes={"id": "i-0", "v": 2})]})
    assert by_path(ws.resources(), "aws_instance.web[0]")["attributes"] == {"id": "i-0", "v": 2}
    # attributes as deep as a request body may be (32 objects/arrays: the body, "resources",
    # the item, "attributes", then 28 for "deep") come back whole; one level more is refused
    deep = {"leaf": 1}
    for _ in range(27):
        deep = {"d": deep}
    ws.update({"resources": [upd(path_id="aws_instance.web[1]", attributes={"id": "i-1", "deep": deep})]})
    assert by_path(ws.resources(), "aws_instance.web[1]")["attributes"]["deep"] == deep
    r = ws.patch({"resources": [upd(path_id="aws_instance.web[1]", attributes={"id": "i-1", "deep": {"d": deep}})]})
    assert_error(r, 400, mentions="nesting limit")
    assert by_path(ws.resources(), "aws_instance.web[1]")["attributes"]["deep"] == deep


def test_drift_mode_writes_only_drift_of_listed_resources(ws):
    body = ws.update({"update_mode": "drift", "resources": [
        upd(path_id="aws_instance.web[1]", attributes={"ignored": True}, drift_status="changed",
            drift_attributes={"instance_type": "t3.nano"}),
        upd(path_id="data.aws_ami.ubuntu", rtype="aws_ami", name="ubuntu", mode="data",
            drift_status="deleted"),
        upd("ghost", attributes={}, drift_status="changed"),
    ]})
    assert [r["status"] for r in body["results"]] == ["updated", "updated", "skipped"], body
    assert body["summary"] == {"total": 3, "updated": 2, "skipped": 1, "failed": 0}, body
    listed = ws.resources()
    web1 = by_path(listed, "aws_instance.web[1]")
    assert web1["drift_status"] == "changed" and web1["drift_attributes"] == {"instance_type": "t3.nano"}, web1
    assert web1["attributes"]["instance_type"] == "t3.small", "drift leaves attributes alone"
    assert by_path(listed, "data.aws_ami.ubuntu")["drift_status"] == "deleted"
    assert "ghost" not in json.dumps(listed), "drift never adds resources"
    # an upsert keeps the drift; drift_status "" clears it
    ws.update({"resources": [upd(path_id="aws_instance.web[1]", attributes={"id": "i-1", "instance_type": "t3.xl"})]})
    web1 = by_path(ws.resources(), "aws_instance.web[1]")
    assert (web1["drift_status"], web1["attributes"]["instance_type"]) == ("changed", "t3.xl"), web1
    ws.update({"update_mode": "drift", "resources": [upd(path_id="aws_instance.web[1]", drift_status="")]})
    web1 = by_path(ws.resources(), "aws_instance.web[1]")
    assert web1["drift_status"] == "unchanged" and web1["drift_attributes"] == {}, web1


def test_an_ambiguous_block_fails_its_item_only(ws):
    body = ws.update({"resources": [upd("web", attributes={"id": "x"}),
                                    upd(path_id="aws_instance.web[1]", attributes={"id": "i-1", "ok": True})]})
    assert [r["status"] for r in body["results"]] == ["failed", "updated"], body
    assert "path_id" in body["results"][0]["error"], body
    assert body["summary"] == {"total": 2, "updated": 1, "skipped": 0, "failed": 1}, body
    listed = ws.resources()
    assert by_path(listed, "aws_instance.web[0]")["attributes"]["id"] == "i-0"
    assert by_path(listed, "aws_instance.web[1]")["attributes"] == {"id": "i-1", "ok": True}


GOOD = upd(path_id="aws_instance.web[0]", attributes={"id": "changed"})


@pytest.mark.parametrize("body,mentions,per_item", [
    pytest.param({}, "resources", False, id="no-resources"),
    pytest.param({"resources": None}, "resources", False, id="null-resources"),
    pytest.param({"resources": {"a": 1}}, "resources", False, id="resources-object"),
    pytest.param({"resources": ["x"]}, "resources[0]", True, id="item-string"),
    pytest.param({"resources": [GOOD, {k: v for k, v in GOOD.items() if k != "provider"}]}, "provider", True,
                 id="no-provider"),
    pytest.param({"resources": [{k: v for k, v in GOOD.items() if k != "module"}]}, "module", True,
                 id="no-module"),
    pytest.param({"resources": [{k: v for k, v in GOOD.items() if k != "attributes"}]}, "attributes", True,
                 id="no-attributes"),
    pytest.param({"resources": [{**GOOD, "attributes": [1]}]}, "attributes", True, id="attributes-array"),
    pytest.param({"resources": [{**GOOD, "attributes": "not json"}]}, "attributes", True, id="attributes-text"),
    pytest.param({"resources": [{**GOOD, "name": 5}]}, "name", True, id="name-number"),
    pytest.param({"resources": [{**GOOD, "type": ""}]}, "type", True, id="type-empty"),
    pytest.param({"resources": [{**GOOD, "mode": "weird"}]}, "mode", True, id="mode-unknown"),
    pytest.param({"resources": [{**GOOD, "drift_status": "gone"}]}, "drift_status", True, id="drift-status"),
    pytest.param({"resources": [{**GOOD, "drift_attributes": "x"}]}, "drift_attributes", True, id="drift-attrs"),
    pytest.param({"resources": [{**GOOD, "sensitive_attribute_paths": "password"}]}, "sensitive", True,
                 id="sensitive-string"),
    pytest.param({"resources": [{**GOOD, "sensitive_attribute_paths": [1]}]}, "sensitive", True,
                 id="sensitive-int"),
    pytest.param({"resources": [GOOD, {**GOOD, "mode": 1}, {**GOOD, "module": None}]}, "and 1 more", True,
                 id="two-bad-items"),
    pytest.param({"resources": [GOOD], "update_mode": "replace"}, "update_mode", False, id="update-mode"),
    pytest.param({"resources": [GOOD], "update_mode": 1}, "update_mode", False, id="update-mode-int"),
    pytest.param({"resources": [GOOD], "session_id": "not-a-uuid"}, "session_id", False, id="session-id"),
    pytest.param({"resources": [GOOD], "session_id": 42}, "session_id", False, id="session-id-int"),
    pytest.param([GOOD], "object", False, id="body-array"),
])
def test_bad_update_is_refused_whole(ws, body, mentions, per_item):
    before = ws.resources()
    err = refused(ws.patch(body), "UpdateResourcesResponse")
    assert mentions.lower() in err["message"].lower(), err
    assert err["summary"]["updated"] == 0, err
    if per_item:
        items = body["resources"]
        statuses = [r["status"] for r in err["results"]]
        assert len(statuses) == len(items) == err["summary"]["total"], err
        assert "failed" in statuses and set(statuses) <= {"failed", "skipped"}, err
        assert all(r["error"] for r in err["results"]), err
    else:
        assert err["results"] == [] and err["summary"]["total"] == 0, err
    assert ws.resources() == before, "a refused request writes nothing"


def test_unknown_fields_are_ignored_and_a_body_is_required(ws):
    body = ws.update({"resources": [{**GOOD, "surprise": {"x": 1}}], "also": True})
    assert body["summary"]["updated"] == 1 and "surprise" not in json.dumps(body), body
    refused(ws.api.request("PATCH", ws.path + "/resources"), "UpdateResourcesResponse")
    refused(ws.api.delete(ws.path + "/resources"), "DeleteResourcesResponse")
    refused(ws.api.delete(ws.path + "/resources/stale"), "DeleteStaleResourcesResponse")


def test_sensitive_values_written_by_clients_are_pruned(acct, uid):
    w = make_ws(acct.api, uid, prune_sensitive_data=True)
    secret, drift_secret = f"pw-{uuid.uuid4().hex}", f"dpw-{uuid.uuid4().hex}"
    w.put_state(tfstate(1, str(uuid.uuid4()), [res("aws_db_instance", "db", [
        inst({"id": "db-1", "password": "state-secret", "engine": "pg"},
             sensitive=[[{"type": "get_attr", "value": "password"}]])])]))
    # the state's sensitive paths still apply to what the client writes, and its own paths too
    w.update({"resources": [upd("db", rtype="aws_db_instance", attributes={
        "id": "db-1", "password": secret, "engine": "pg15", "conn": {"token": secret, "host": "h"}},
        sensitive_attribute_paths=["conn.token"])]})
    w.update({"update_mode": "drift", "resources": [upd("db", rtype="aws_db_instance", drift_status="changed",
                                                        drift_attributes={"password": drift_secret})]})
    r = w.api.get(w.path + "/resources")
    assert secret not in r.text and drift_secret not in r.text and "state-secret" not in r.text, r.text
    db = by_path(r.json(), "aws_db_instance.db")
    assert db["attributes"]["engine"] == "pg15" and db["attributes"]["conn"]["host"] == "h", db
    assert db["attributes"]["password"] == "(sensitive)" == db["attributes"]["conn"]["token"], db
    assert db["drift_attributes"]["password"] == "(sensitive)", db


# ---------------------------------------------------------------------------------------
# DELETE .../resources and .../resources/stale


def test_delete_hides_destroyed_resources(ws):
    body = ws.delete_ok({"resources": [
        ref(path_id="aws_instance.web[0]"),
        ref("logs", rtype="aws_s3_bucket", module="module.storage"),  # the whole block
        ref("ubuntu", rtype="aws_ami", provider='provider["registry.terraform.io/hashicorp/aws"]'),
        ref("nothing_here"),
        ref(path_id="aws_instance.web[7]"),
    ]})
    assert [r["status"] for r in body["results"]] == ["deleted", "deleted", "deleted", "skipped", "skipped"], body
    assert body["summary"] == {"total": 5, "deleted": 3, "skipped": 2, "failed": 0}, body
    assert body["results"][3]["name"] == "nothing_here" and body["results"][3]["error"], body
    listed = ws.resources()
    assert [r["path_id"] for r in listed["resources"]] == ["aws_instance.web[1]"], listed
    assert listed["data_sources"] == [] and listed["total_resources"] == 1, listed
    assert ws.search([])["resources"] == listed["resources"]
    # deleting again: nothing left to delete
    again = ws.delete_ok({"resources": [ref(path_id="aws_instance.web[0]")]})
    assert again["results"][0]["status"] == "skipped", again
    # an upsert brings a deleted resource back (with the client's attributes)
    ws.update({"resources": [upd(path_id="aws_instance.web[0]", attributes={"id": "i-0", "back": True})]})
    assert by_path(ws.resources(), "aws_instance.web[0]")["attributes"] == {"id": "i-0", "back": True}


@pytest.mark.parametrize("body,mentions", [
    pytest.param({}, "resources", id="no-resources"),
    pytest.param({"resources": "web"}, "resources", id="resources-string"),
    pytest.param({"resources": [ref(), 3]}, "resources[1]", id="item-number"),
    pytest.param({"resources": [{"provider": "aws", "type": "aws_instance", "module": ""}]}, "name", id="no-name"),
    pytest.param({"resources": [{**ref(), "path_id": 1}]}, "path_id", id="path-id-number"),
    pytest.param({"resources": [{**ref(), "provider": None}]}, "provider", id="provider-null"),
])
def test_bad_delete_is_refused_whole(ws, body, mentions):
    before = ws.resources()
    err = refused(ws.delete(body), "DeleteResourcesResponse")
    assert mentions.lower() in err["message"].lower(), err
    assert err["summary"]["deleted"] == 0, err
    if isinstance(body.get("resources"), list):
        statuses = [r["status"] for r in err["results"]]
        assert len(statuses) == len(body["resources"]) and "failed" in statuses, err
        assert set(statuses) <= {"failed", "skipped"}, err
    assert ws.resources() == before


def test_delete_stale_keeps_only_the_sessions_resources(ws):
    s1, s2 = str(uuid.uuid4()), str(uuid.uuid4())
    ws.update({"session_id": s1, "resources": [
        upd(path_id="aws_instance.web[0]", attributes={"id": "i-0"}),
        upd(path_id="aws_instance.web[1]", attributes={"id": "i-1"}),
        upd("ubuntu", rtype="aws_ami", mode="data", attributes={"id": "ami-1"}),
    ]})
    r = ws.stale({"session_id": s1})
    assert expect(r, 200, WORKSPACES_SPEC, "DeleteStaleResourcesResponse") == {"deleted_count": 1}
    listed = ws.resources()
    assert [x["path_id"] for x in listed["resources"]] == ["aws_instance.web[0]", "aws_instance.web[1]"], listed
    assert [x["path_id"] for x in listed["data_sources"]] == ["data.aws_ami.ubuntu"], listed
    assert ws.stale({"session_id": s1}).json() == {"deleted_count": 0}
    # a drift write in another session makes web[1] belong to it
    ws.update({"update_mode": "drift", "session_id": s2,
               "resources": [upd(path_id="aws_instance.web[1]", drift_status="changed")]})
    assert ws.stale({"session_id": s2}).json() == {"deleted_count": 2}
    assert ws.paths() == ["aws_instance.web[1]"] and ws.resources()["data_sources"] == []
    for bad in ({}, {"session_id": None}, {"session_id": "x"}, {"session_id": 5}, {"session": s1}):
        err = refused(ws.stale(bad), "DeleteStaleResourcesResponse")
        assert "session_id" in err["message"] and err["deleted_count"] == 0, err
    refused(ws.api.delete(ws.path + "/resources/stale", json=[s1]), "DeleteStaleResourcesResponse")
    assert ws.paths() == ["aws_instance.web[1]"]


# ---------------------------------------------------------------------------------------
# persistence, isolation, roles


def test_what_clients_wrote_survives_a_new_state_version(acct, uid):
    w = make_ws(acct.api, uid)
    lineage = str(uuid.uuid4())
    w.put_state(inventory(1, lineage))
    w.update({"resources": [upd(path_id="aws_instance.web[0]", attributes={"id": "i-0", "tag": "client"}),
                            upd("queue", rtype="aws_sqs_queue", attributes={"id": "q-1"})]})
    w.update({"update_mode": "drift", "resources": [upd(path_id="aws_instance.web[1]", drift_status="changed",
                                                        drift_attributes={"ami": "ami-0"})]})
    w.delete_ok({"resources": [ref("logs", rtype="aws_s3_bucket", module="module.storage")]})
    before = w.resources()

    # the state moves on: same resources (one changed) plus a new one
    newer = inventory(2, lineage, extra=[res("aws_eip", "ip", [inst({"id": "eip-1"})])])
    newer = newer.replace(b'"t3.small"', b'"t3.medium"')
    w.put_state(newer)
    after = w.resources()
    assert by_path(after, "aws_instance.web[0]")["attributes"] == {"id": "i-0", "tag": "client"}, after
    web1 = by_path(after, "aws_instance.web[1]")
    assert web1["drift_status"] == "changed" and web1["attributes"]["instance_type"] == "t3.medium", web1
    assert by_path(after, "aws_sqs_queue.queue")["resource_id"] == "q-1"
    assert by_path(after, "aws_eip.ip")["drift_status"] == "unchanged", "new resources come from the state"
    assert "module.storage.aws_s3_bucket.logs" not in [r["path_id"] for r in after["resources"]], after
    assert sorted(r["path_id"] for r in after["resources"]) == \
        sorted([r["path_id"] for r in before["resources"]] + ["aws_eip.ip"])
    assert after["total_resources"] == 4, after
    # a stale pass after the new version, the way a pipeline finishes an apply
    session = str(uuid.uuid4())
    w.update({"session_id": session, "resources": [upd("ip", rtype="aws_eip", attributes={"id": "eip-1"})]})
    assert w.stale({"session_id": session}).json() == {"deleted_count": 4}  # 3 resources, 1 data source
    w.put_state(inventory(3, lineage, extra=[res("aws_eip", "ip", [inst({"id": "eip-1"})])]))
    assert w.paths() == ["aws_eip.ip"], "tombstones outlive state versions"


def test_accounts_do_not_see_or_touch_each_others_resources(tenant, uid):
    t1, t2 = tenant(), tenant()
    org, prj, ident = uid("org"), uid("prj"), uid("ws")
    w1 = make_ws(t1.api, uid, org, prj, ident)
    w2 = make_ws(t2.api, uid, org, prj, ident)  # the same names in another account
    lineage = str(uuid.uuid4())
    w1.put_state(inventory(1, lineage))
    w2.put_state(inventory(1, lineage))
    marker = uuid.uuid4().hex
    w1.update({"resources": [upd(path_id="aws_instance.web[0]", attributes={"id": "i-0", "m": marker})]})
    w1.delete_ok({"resources": [ref(path_id="aws_instance.web[1]")]})
    listed2 = w2.resources()
    assert marker not in json.dumps(listed2) and len(listed2["resources"]) == 3, listed2
    w2.delete_ok({"resources": [ref(path_id="aws_instance.web[0]")]})
    assert by_path(w1.resources(), "aws_instance.web[0]")["attributes"]["m"] == marker

    # t2's token naming t1's account, or t1's workspace under t2's own account
    spoof = t2.api.as_(account=t1.account)
    stale_body = {"session_id": str(uuid.uuid4())}
    for api in (spoof,):
        assert_error(w1.patch({"resources": [GOOD]}, api=api), (403, 404))
        assert_error(w1.delete({"resources": [ref()]}, api=api), (403, 404))
        assert_error(w1.stale(stale_body, api=api), (403, 404))
        for endpoint in ("dependency-graph", "risk-assessment"):
            assert_error(api.post(f"{w1.path}/{endpoint}", params=UPLOAD_PARAMS, json={}), (403, 404))
    before = w1.resources()
    other = t2.api
    w_only1 = make_ws(t1.api, uid)
    w_only1.put_state(inventory(1, lineage))
    for r in (w_only1.patch({"resources": [GOOD]}, api=other), w_only1.delete({"resources": [ref()]}, api=other),
              w_only1.stale(stale_body, api=other), other.get(w_only1.path + "/resources")):
        assert_error(r, 404)
    assert w1.resources() == before
    assert len(w_only1.resources()["resources"]) == 3


def test_writes_need_an_editor_and_an_existing_workspace(ws, acct, uid):
    viewer = ws.api.as_(token=acct.token("viewer"))
    assert_error(ws.patch({"resources": [GOOD]}, api=viewer), 403)
    assert_error(ws.delete({"resources": [ref()]}, api=viewer), 403)
    assert_error(ws.stale({"session_id": str(uuid.uuid4())}, api=viewer), 403)
    ws.resources(api=viewer)  # a viewer still reads
    editor = ws.api.as_(token=acct.token("editor"))
    expect(ws.patch({"resources": [GOOD]}, api=editor), 200, WORKSPACES_SPEC, "UpdateResourcesResponse")
    missing = Ws(ws.api, ws.org, ws.project, uid("nope"))
    assert_error(missing.patch({"resources": [GOOD]}), 404)
    assert_error(missing.delete({"resources": [ref()]}), 404)
    assert_error(missing.stale({"session_id": str(uuid.uuid4())}), 404)


def test_a_workspace_without_state_lists_what_clients_upserted(acct, uid):
    w = make_ws(acct.api, uid)
    body = w.update({"resources": [upd("solo", attributes={"id": "i-solo"}),
                                   upd("web", attributes={}, drift_status="changed")]})
    assert body["summary"]["updated"] == 2, body
    assert w.paths() == ["aws_instance.solo", "aws_instance.web"]
    drift = w.update({"update_mode": "drift", "resources": [upd("nope", drift_status="changed")]})
    assert drift["results"][0]["status"] == "skipped", drift
    assert w.delete_ok({"resources": [ref("solo")]})["summary"]["deleted"] == 1
    assert w.paths() == ["aws_instance.web"]
    # deleting the workspace takes what was written along
    r = w.api.delete(w.path)
    assert r.status_code in (200, 204), describe(r)
    r = acct.api.post(f"/iacm/api/orgs/{w.org}/projects/{w.project}/workspaces",
                      json={"identifier": w.ident, "name": "again", "provisioner": "terraform",
                            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}})
    assert r.status_code == 200, describe(r)
    assert w.resources()["resources"] == []
