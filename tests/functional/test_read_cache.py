"""Answers the server may reuse (token rows, rendered GETs of one org, project, workspace or
variable set) never outlive a write, and never cross callers, accounts or reply formats.

On SQLite the server keeps the token rows it has read and the rendered answers of those GETs
while its commit counter stands still.  Every test here reads a resource several times (so a
reused answer would be served), changes it through the API, and reads it again at once: the
change must show on the very next request.  No test sleeps: "at once" means the next request.
"""
from __future__ import annotations

import json
import uuid

import pytest
import requests
import yaml

from spec_schema import assert_error, body_of, describe, is_json, is_yaml

DENIED = (403, 404)
READS = 4  # enough repeats that a second and later answer would come from a cache


# ---------------------------------------------------------------------------------------
# helpers


def ws_body(identifier, name=None, **extra):
    body = {"identifier": identifier, "name": name or f"Workspace {identifier}", "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}}
    body.update(extra)
    return body


class Place:
    """An org + project (+ workspace) of one account."""

    def __init__(self, api, uid, workspace=True, **ws_extra):
        self.api = api
        self.org, self.project = uid("org"), uid("prj")
        api.create_org(self.org)
        api.create_project(self.org, self.project)
        self.org_path = f"/v1/orgs/{self.org}"
        self.project_path = f"/v1/orgs/{self.org}/projects/{self.project}"
        self.base = f"/iacm/api/orgs/{self.org}/projects/{self.project}"
        self.ws = None
        if workspace:
            self.ws = uid("ws")
            r = api.post(f"{self.base}/workspaces", json=ws_body(self.ws, **ws_extra))
            assert r.status_code == 200, describe(r)

    @property
    def ws_path(self):
        return f"{self.base}/workspaces/{self.ws}"

    @property
    def backend(self):
        return self.api.base_url + self.ws_path + "/terraform-backend"


def read_ok(api, path, times=READS, **kw):
    """GET path `times` times; all must answer 200 with the same body; returns the last response."""
    first = None
    r = None
    for i in range(times):
        r = api.get(path, **kw)
        assert r.status_code == 200, f"read {i}: " + describe(r)
        if first is None:
            first = r.content
        else:
            assert r.content == first, f"read {i} differs from read 0 with nothing written"
    return r


def backend_call(method, url, token, body=b""):
    """One request as Terraform's http backend sends it (basic auth, token as password)."""
    return requests.request(method, url, data=body, auth=("terraform", token),
                            headers={"Content-Type": "application/json"}, timeout=30)


def lock_info():
    return {"ID": str(uuid.uuid4()), "Operation": "OperationTypeApply", "Info": "",
            "Who": "runner@cache-test", "Version": "1.9.8", "Created": "2024-01-01T00:00:00Z",
            "Path": ""}


def tfstate(serial, lineage) -> bytes:
    doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage,
           "outputs": {"n": {"value": serial, "type": "number"}}, "resources": [],
           "check_results": None}
    return (json.dumps(doc, indent=2) + "\n").encode()


# ---------------------------------------------------------------------------------------
# writes show at once


def test_workspace_update_shows_at_once_with_a_new_etag(api, uid):
    p = Place(api, uid)
    before = read_ok(api, p.ws_path)
    etag = before.headers.get("ETag")
    assert etag, describe(before)
    assert before.json()["name"] == f"Workspace {p.ws}"

    r = api.put(p.ws_path, json=ws_body(p.ws, name="Renamed", description="after the change"))
    assert r.status_code == 200, describe(r)

    after = api.get(p.ws_path)
    assert after.status_code == 200, describe(after)
    body = after.json()
    assert body["name"] == "Renamed" and body["description"] == "after the change", body
    assert after.headers.get("ETag") and after.headers["ETag"] != etag, (etag, after.headers.get("ETag"))
    assert after.headers["ETag"] == r.headers.get("ETag"), "GET and PUT must agree on the version"
    # and it stays that way
    assert read_ok(api, p.ws_path).content == after.content


def test_every_update_of_a_workspace_shows(api, uid):
    p = Place(api, uid)
    etags = set()
    for i in range(5):
        read_ok(api, p.ws_path, times=2)
        r = api.put(p.ws_path, json=ws_body(p.ws, name=f"Name {i}"))
        assert r.status_code == 200, describe(r)
        got = api.get(p.ws_path)
        assert got.json()["name"] == f"Name {i}", got.text[:300]
        etags.add(got.headers["ETag"])
    assert len(etags) == 5, etags


def test_workspace_variables_update_shows_at_once(api, uid):
    p = Place(api, uid, terraform_variables={"region": {"key": "region", "value": "eu-west-1",
                                                        "value_type": "string"}})
    body = read_ok(api, p.ws_path).json()
    assert body["terraform_variables"]["region"]["value"] == "eu-west-1"
    r = api.put(p.ws_path, json=ws_body(p.ws, terraform_variables={
        "region": {"key": "region", "value": "us-east-2", "value_type": "string"}}))
    assert r.status_code == 200, describe(r)
    body = api.get(p.ws_path).json()
    assert body["terraform_variables"]["region"]["value"] == "us-east-2", body["terraform_variables"]
    assert body["effective_variables"]["terraform_variables"]["region"]["value"] == "us-east-2"


def test_deleted_workspace_is_gone_at_once(api, uid):
    p = Place(api, uid)
    read_ok(api, p.ws_path)
    r = api.delete(p.ws_path)
    assert r.status_code in (200, 204), describe(r)
    assert_error(api.get(p.ws_path), 404)


def test_recreated_workspace_is_the_new_one(api, uid):
    p = Place(api, uid)
    read_ok(api, p.ws_path)
    assert api.delete(p.ws_path).status_code in (200, 204)
    r = api.post(f"{p.base}/workspaces", json=ws_body(p.ws, name="Second life"))
    assert r.status_code == 200, describe(r)
    assert api.get(p.ws_path).json()["name"] == "Second life"


def test_workspace_created_after_a_404_is_found(api, uid):
    p = Place(api, uid, workspace=False)
    p.ws = uid("ws")
    for _ in range(READS):
        assert_error(api.get(p.ws_path), 404)
    r = api.post(f"{p.base}/workspaces", json=ws_body(p.ws))
    assert r.status_code == 200, describe(r)
    assert api.get(p.ws_path).status_code == 200


def test_backend_lock_and_unlock_show_at_once(api, uid):
    p = Place(api, uid)
    body = read_ok(api, p.ws_path).json()
    assert body.get("backend_locked", False) is False and not body.get("lock"), body

    info = lock_info()
    r = backend_call("LOCK", p.backend + "/lock", api.token, json.dumps(info).encode())
    assert r.status_code == 200, describe(r)
    got = api.get(p.ws_path)
    assert got.status_code == 200, describe(got)
    body = got.json()
    assert body.get("backend_locked") is True, body
    assert isinstance(body.get("lock"), dict) and body["lock"].get("id") == info["ID"], body
    read_ok(api, p.ws_path)

    r = backend_call("UNLOCK", p.backend + "/lock", api.token, json.dumps(info).encode())
    assert r.status_code == 200, describe(r)
    body = api.get(p.ws_path).json()
    assert body.get("backend_locked", False) is False and not body.get("lock"), body


def test_manual_lock_and_force_unlock_show_at_once(api, uid):
    p = Place(api, uid)
    read_ok(api, p.ws_path)
    r = api.post(p.ws_path + "/actions/lock", json={"reason": "maintenance"})
    assert r.status_code == 200, describe(r)
    body = api.get(p.ws_path).json()
    assert body.get("backend_locked") is True and body["lock"].get("reason") == "maintenance", body
    read_ok(api, p.ws_path)
    r = api.post(p.ws_path + "/actions/force-unlock")
    assert r.status_code == 200, describe(r)
    body = api.get(p.ws_path).json()
    assert body.get("backend_locked", False) is False and not body.get("lock"), body


def test_state_written_through_the_backend_shows_at_once(api, uid):
    p = Place(api, uid)
    lineage = str(uuid.uuid4())
    first = tfstate(1, lineage)
    r = backend_call("POST", p.backend, api.token, first)
    assert r.status_code in (200, 201, 204), describe(r)
    body = read_ok(api, p.ws_path).json()
    checksum = body.get("state_checksum")
    assert checksum, body
    for _ in range(3):  # the backend GET answer is kept too (by its blob file)
        got = backend_call("GET", p.backend, api.token)
        assert got.status_code == 200 and got.content == first, describe(got)

    second = tfstate(2, lineage)
    r = backend_call("POST", p.backend, api.token, second)
    assert r.status_code in (200, 201, 204), describe(r)
    body = api.get(p.ws_path).json()
    assert body.get("state_checksum") and body["state_checksum"] != checksum, body
    got = backend_call("GET", p.backend, api.token)
    assert got.status_code == 200 and got.content == second, describe(got)


def test_org_and_project_updates_show_at_once(api, uid):
    p = Place(api, uid, workspace=False)
    before = read_ok(api, p.org_path)
    assert before.json()["org"]["name"] == f"Org {p.org}"
    r = api.put(p.org_path, json={"org": {"identifier": p.org, "name": "Org renamed"}})
    assert r.status_code == 200, describe(r)
    after = api.get(p.org_path)
    assert after.json()["org"]["name"] == "Org renamed", after.text[:300]
    assert after.headers.get("ETag") != before.headers.get("ETag")

    before = read_ok(api, p.project_path)
    assert before.json()["project"]["name"] == f"Project {p.project}"
    r = api.put(p.project_path, json={"project": {"identifier": p.project, "name": "Project renamed"}})
    assert r.status_code == 200, describe(r)
    after = api.get(p.project_path)
    assert after.json()["project"]["name"] == "Project renamed", after.text[:300]
    assert after.headers.get("ETag") != before.headers.get("ETag")


def test_deleted_project_and_org_are_gone_at_once(api, uid):
    p = Place(api, uid, workspace=False)
    read_ok(api, p.project_path)
    read_ok(api, p.org_path)
    assert api.delete(p.project_path).status_code == 200
    assert_error(api.get(p.project_path), 404)
    assert api.get(p.org_path).status_code == 200
    assert api.delete(p.org_path).status_code == 200
    assert_error(api.get(p.org_path), 404)


def test_variable_set_update_shows_at_once(api, uid):
    p = Place(api, uid, workspace=False)
    sid = uid("vs")
    one = f"{p.base}/variable-set"
    r = api.post(one, json={"identifier": sid, "name": "Before", "terraform_variables": {
        "size": {"key": "size", "value": "small", "value_type": "string"}}})
    assert r.status_code == 201, describe(r)
    body = read_ok(api, f"{one}/{sid}").json()
    assert body["name"] == "Before" and body["terraform_variables"]["size"]["value"] == "small"

    r = api.put(f"{one}/{sid}", json={"name": "After", "terraform_variables": {
        "size": {"key": "size", "value": "large", "value_type": "string"}}})
    assert r.status_code == 200, describe(r)
    body = api.get(f"{one}/{sid}").json()
    assert body["name"] == "After", body
    assert body["terraform_variables"]["size"]["value"] == "large", body

    r = api.delete(f"{one}/{sid}")
    assert r.status_code == 204, describe(r)
    assert_error(api.get(f"{one}/{sid}"), 404)


def test_variable_set_update_shows_in_a_workspace_read_at_once(api, uid):
    # The workspace's answer depends on another resource: a write there must show here too.
    p = Place(api, uid, workspace=False)
    sid = uid("vs")
    one = f"{p.base}/variable-set"
    r = api.post(one, json={"identifier": sid, "name": "Shared", "environment_variables": {
        "STAGE": {"key": "STAGE", "value": "blue", "value_type": "string"}}})
    assert r.status_code == 201, describe(r)
    p.ws = uid("ws")
    r = api.post(f"{p.base}/workspaces", json=ws_body(p.ws, variable_sets=[sid]))
    assert r.status_code == 200, describe(r)
    eff = read_ok(api, p.ws_path).json()["effective_variables"]["environment_variables"]
    assert eff["STAGE"]["value"] == "blue", eff

    r = api.put(f"{one}/{sid}", json={"name": "Shared", "environment_variables": {
        "STAGE": {"key": "STAGE", "value": "green", "value_type": "string"}}})
    assert r.status_code == 200, describe(r)
    eff = api.get(p.ws_path).json()["effective_variables"]["environment_variables"]
    assert eff["STAGE"]["value"] == "green", eff


# ---------------------------------------------------------------------------------------
# tokens


@pytest.fixture
def key(api):
    return api.create_apikey()


def test_deleted_token_is_refused_on_the_next_request(api, uid, key):
    p = Place(api, uid)
    ident = uid("tok")
    value = api.create_token(key, ident)
    user = api.as_(token=value)
    read_ok(user, p.ws_path)
    read_ok(user, p.org_path)
    r = api.delete(f"/ng/api/token/{ident}", params=api.key_params(key))
    assert r.status_code == 200, describe(r)
    assert_error(user.get(p.ws_path), 401)
    assert_error(user.get(p.org_path), 401)
    assert_error(user.get("/v1/orgs"), 401)
    # the admin's own reads are unaffected
    assert api.get(p.ws_path).status_code == 200


def test_token_deleted_by_its_own_request_is_refused_next(api, uid, key):
    # An admin token deleting itself: its next request, of any kind, is refused.
    p = Place(api, uid, workspace=False)
    ident = uid("tok")
    value = api.create_token(key, ident, role="admin")
    me = api.as_(token=value)
    read_ok(me, p.org_path)
    r = me.delete(f"/ng/api/token/{ident}", params=me.key_params(key))
    assert r.status_code == 200, describe(r)
    assert_error(me.get(p.org_path), 401)


def test_rotated_token_old_value_is_refused_on_the_next_request(api, uid, key):
    p = Place(api, uid)
    ident = uid("tok")
    old = api.create_token(key, ident)
    read_ok(api.as_(token=old), p.ws_path)
    r = api.post(f"/ng/api/token/rotate/{ident}", params=api.key_params(key))
    assert r.status_code == 200, describe(r)
    new = r.json()["data"]
    assert new != old
    assert_error(api.as_(token=old).get(p.ws_path), 401)
    read_ok(api.as_(token=new), p.ws_path)
    assert_error(api.as_(token=old).get(p.ws_path), 401)


def test_token_expired_by_an_update_is_refused_on_the_next_request(api, uid, key):
    p = Place(api, uid, workspace=False)
    ident = uid("tok")
    value = api.create_token(key, ident)
    read_ok(api.as_(token=value), p.org_path)
    r = api.put(f"/ng/api/token/{ident}", params={"accountIdentifier": "default"},
                json=api.token_body(key, ident, validTo=1_600_000_000_000))
    assert r.status_code == 200, describe(r)
    assert_error(api.as_(token=value).get(p.org_path), 401)


def test_wrong_secret_for_a_token_in_use_is_refused(api, uid, key):
    p = Place(api, uid, workspace=False)
    ident = uid("tok")
    value = api.create_token(key, ident)
    read_ok(api.as_(token=value), p.org_path)
    prefix, _, secret = value.rpartition(".")
    for wrong in (f"{prefix}.{secret[:-1]}", f"{prefix}.{secret}x", f"{prefix}.{'A' * len(secret)}"):
        assert_error(api.as_(token=wrong).get(p.org_path), 401)
    read_ok(api.as_(token=value), p.org_path, times=2)


def test_deleted_api_key_takes_its_tokens_at_once(api, uid):
    p = Place(api, uid, workspace=False)
    k = api.create_apikey()
    value = api.create_token(k)
    read_ok(api.as_(token=value), p.org_path)
    r = api.delete(f"/ng/api/apikey/{k['identifier']}", params=api.key_params(k))
    assert r.status_code == 200, describe(r)
    assert_error(api.as_(token=value).get(p.org_path), 401)


# ---------------------------------------------------------------------------------------
# callers and formats


def test_scoped_tokens_get_their_own_answers(tenant, uid):
    t = tenant()
    x, y = uid("orgx"), uid("orgy")
    p, q = uid("p"), uid("q")
    t.api.create_org(x)
    t.api.create_org(y, name="Other org Y")
    t.api.create_project(x, p)
    t.api.create_project(x, q)
    ws = uid("ws")
    ws_path = f"/iacm/api/orgs/{x}/projects/{p}/workspaces/{ws}"
    r = t.api.post(f"/iacm/api/orgs/{x}/projects/{p}/workspaces", json=ws_body(ws, name="Secret plans"))
    assert r.status_code == 200, describe(r)

    # The admin's answers first, so they are the ones kept.
    read_ok(t.api, ws_path)
    read_ok(t.api, f"/v1/orgs/{x}")
    read_ok(t.api, f"/v1/orgs/{y}")

    k = t.api.create_apikey()
    other_project = t.api.as_(token=t.api.create_token(k, orgIdentifier=x, projectIdentifier=q,
                                                       role="viewer"))
    this_project = t.api.as_(token=t.api.create_token(k, orgIdentifier=x, projectIdentifier=p,
                                                      role="viewer"))
    other_org = t.api.as_(token=t.api.create_token(k, orgIdentifier=y))
    viewer = t.api.as_(token=t.api.create_token(k, role="viewer"))

    for _ in range(2):
        r = other_project.get(ws_path)
        assert_error(r, DENIED)
        assert "Secret plans" not in r.text
        r = other_org.get(ws_path)
        assert_error(r, DENIED)
        assert "Secret plans" not in r.text
        r = other_org.get(f"/v1/orgs/{x}")
        assert_error(r, DENIED)
        # ... while what each may see is answered
        assert this_project.get(ws_path).json()["name"] == "Secret plans"
        assert viewer.get(ws_path).json()["name"] == "Secret plans"
        assert this_project.get(f"/v1/orgs/{x}").status_code == 200  # its own org is visible
        r = this_project.get(f"/v1/orgs/{y}")
        assert_error(r, DENIED)
        assert "Other org Y" not in r.text
        assert other_org.get(f"/v1/orgs/{y}").json()["org"]["name"] == "Other org Y"
    # and the admin still gets its answers
    assert t.api.get(ws_path).json()["name"] == "Secret plans"


def test_scoped_token_denied_first_does_not_spoil_the_admins_answer(tenant, uid):
    t = tenant()
    x, p, q = uid("orgx"), uid("p"), uid("q")
    t.api.create_org(x)
    t.api.create_project(x, p)
    t.api.create_project(x, q)
    ws = uid("ws")
    ws_path = f"/iacm/api/orgs/{x}/projects/{p}/workspaces/{ws}"
    assert t.api.post(f"/iacm/api/orgs/{x}/projects/{p}/workspaces", json=ws_body(ws)).status_code == 200
    k = t.api.create_apikey()
    outsider = t.api.as_(token=t.api.create_token(k, orgIdentifier=x, projectIdentifier=q))
    for _ in range(READS):
        assert_error(outsider.get(ws_path), DENIED)
    read_ok(t.api, ws_path)
    for _ in range(2):
        assert_error(outsider.get(ws_path), DENIED)


def test_another_account_never_gets_this_accounts_answer(tenant, uid):
    a, b = tenant(), tenant()
    x, p, ws = uid("org"), uid("prj"), uid("ws")
    a.api.create_org(x, name="Only in A")
    a.api.create_project(x, p)
    path = f"/iacm/api/orgs/{x}/projects/{p}/workspaces/{ws}"
    assert a.api.post(f"/iacm/api/orgs/{x}/projects/{p}/workspaces",
                      json=ws_body(ws, name="A's workspace")).status_code == 200
    read_ok(a.api, path)
    read_ok(a.api, f"/v1/orgs/{x}")
    # b asks for the same paths in its own account: nothing there
    for _ in range(2):
        assert_error(b.api.get(path), 404)
        r = b.api.get(f"/v1/orgs/{x}")
        assert_error(r, 404)
        assert "Only in A" not in r.text
        # b naming a's account is refused
        r = b.api.as_(account=a.account).get(path)
        assert_error(r, (401, 403))
        assert "A's workspace" not in r.text
    # b creating the same names gets its own, not a's
    b.api.create_org(x, name="Only in B")
    assert b.api.get(f"/v1/orgs/{x}").json()["org"]["name"] == "Only in B"
    assert a.api.get(f"/v1/orgs/{x}").json()["org"]["name"] == "Only in A"


def test_json_and_yaml_answers_are_kept_apart(api, uid):
    p = Place(api, uid)
    yaml_accept = {"Accept": "application/yaml"}
    for _ in range(2):
        j = read_ok(api, p.ws_path)
        assert is_json(j), j.headers.get("Content-Type")
        jb = j.json()
        y = read_ok(api, p.ws_path, headers=yaml_accept)
        assert is_yaml(y), y.headers.get("Content-Type")
        yb = yaml.safe_load(y.text)
        assert isinstance(yb, dict) and yb["identifier"] == p.ws and yb == jb
        assert y.headers.get("ETag") == j.headers.get("ETag")

    # the org too, JSON after YAML
    y = read_ok(api, p.org_path, headers=yaml_accept)
    assert is_yaml(y) and yaml.safe_load(y.text)["org"]["identifier"] == p.org
    j = read_ok(api, p.org_path)
    assert is_json(j) and j.json()["org"]["identifier"] == p.org

    # an update shows in both formats
    assert api.put(p.ws_path, json=ws_body(p.ws, name="Both formats")).status_code == 200
    assert yaml.safe_load(api.get(p.ws_path, headers=yaml_accept).text)["name"] == "Both formats"
    assert api.get(p.ws_path).json()["name"] == "Both formats"


def test_query_string_variants_answer_the_same_resource(api, uid):
    p = Place(api, uid, workspace=False)
    read_ok(api, p.org_path)
    read_ok(api, p.org_path, params={"accountIdentifier": "default"})
    r = api.get(p.org_path, params={"accountIdentifier": "someone_else"})
    assert_error(r, (401, 403))
    assert api.put(p.org_path, json={"org": {"identifier": p.org, "name": "Q renamed"}}).status_code == 200
    assert api.get(p.org_path).json()["org"]["name"] == "Q renamed"
    assert api.get(p.org_path, params={"accountIdentifier": "default"}).json()["org"]["name"] == "Q renamed"


def test_missing_or_bad_token_is_refused_even_for_a_kept_answer(api, anon, uid):
    p = Place(api, uid)
    read_ok(api, p.ws_path)
    assert_error(anon.get(p.ws_path), 401)
    assert_error(anon.as_(token="pat.default.nope.secret").get(p.ws_path), 401)
    assert_error(anon.as_(token="garbage").get(p.ws_path), 401)
