"""The audit trail: every request to a write route leaves a record, readable at GET /v1/audit.

A record names the time, account, principal (token id, its name and API key; "run:<id>" for a
run's token), action ("workspace.update", "state.lock", ...), target (the resource path), request
id, outcome (success / denied / failed with the status) and remote address, and never a secret.
Only an account-wide admin reads the trail, and only its own account's.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import tarfile
import time
import uuid

import pytest

from spec_schema import assert_error, describe
from tfclient import HTTPBackend, LockInfo

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on the PATH")
PM = "/pm/api/v1"
FIELDS = {"id", "time", "account", "principal", "principal_name", "api_key", "action", "target",
          "request_id", "outcome", "status", "remote_address"}


def token_id(token: str) -> str:
    return token.split(".")[2]


def secret_of(token: str) -> str:
    return token.split(".")[3]


def audit(api, **params):
    r = api.get("/v1/audit", params={"limit": 100, **params})
    assert r.status_code == 200, describe(r)
    return r.json(), r


def all_records(api, **params) -> list:
    out, page = [], 0
    while True:
        items, _ = audit(api, page=page, **params)
        out += items
        if len(items) < 100:
            return out
        page += 1


def tfstate(serial, lineage, outputs=None) -> bytes:
    doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage,
           "outputs": outputs or {}, "resources": [], "check_results": None}
    return (json.dumps(doc, indent=2) + "\n").encode()


class Setup:
    """A fresh account with an org, a project and a workspace; remembers what it did."""

    def __init__(self, tenant, uid):
        self.t = tenant()
        self.api = self.t.api
        self.uid = uid
        self.me = token_id(self.api.token)
        self.org, self.project, self.ws = uid("org"), uid("prj"), uid("ws")
        self.done = []  # (action, target, status, request id) of every write made
        self.note(self.api.post("/v1/orgs", json={"org": {"identifier": self.org, "name": "O"}}),
                  "org.create", self.org, 201)
        self.note(self.api.post(f"/v1/orgs/{self.org}/projects",
                                json={"project": {"identifier": self.project, "name": "P"}}),
                  "project.create", f"{self.org}/{self.project}", 201)
        self.base = f"/iacm/api/orgs/{self.org}/projects/{self.project}"
        self.wpath = f"{self.base}/workspaces/{self.ws}"
        self.note(self.api.post(f"{self.base}/workspaces", json=self.ws_body(self.ws)),
                  "workspace.create", self.target(), 200)

    def ws_body(self, ident, **extra):
        return {"identifier": ident, "name": f"Workspace {ident}", "provisioner": "terraform",
                "provider_connector": "", "terraform_variables": {}, "environment_variables": {},
                **extra}

    def target(self, *rest) -> str:
        return "/".join([self.org, self.project, self.ws, *rest])

    def note(self, r, action, target, status):
        assert r.status_code == status, f"{action}: " + describe(r)
        self.done.append((action, target, status, r.headers["X-Request-Id"]))
        return r

    def backend(self, token=None) -> HTTPBackend:
        """The terraform CLI's http backend: basic auth with the token as password."""
        address = self.api.base_url + self.wpath + "/terraform-backend"
        return HTTPBackend(address, lock_address=address + "/lock", unlock_address=address + "/lock",
                           username="terraform", password=token or self.api.token)


@pytest.fixture
def setup(tenant, uid):
    return Setup(tenant, uid)


def by_request(records) -> dict:
    return {r["request_id"]: r for r in records}


def test_every_kind_of_write_is_recorded(setup, uid):
    s, api = setup, setup.api
    marker = uuid.uuid4().hex  # appears in bodies only: never in the trail
    plain_value = f"plain-{marker}"
    secret_ref = f"account.secret_{marker}"

    # Organizations and projects.
    r = api.put(f"/v1/orgs/{s.org}", json={"org": {"identifier": s.org, "name": f"Renamed {marker}"}})
    s.note(r, "org.update", s.org, 200)
    gone = uid("org")
    api.create_org(gone)
    s.note(api.delete(f"/v1/orgs/{gone}"), "org.delete", gone, 200)

    # Workspaces, with variables whose values must stay out of the trail.
    variables = {"TF_VAR_a": {"key": "TF_VAR_a", "value": plain_value, "value_type": "string"},
                 "DB": {"key": "DB", "value": secret_ref, "value_type": "secret"}}
    r = api.put(s.wpath, json=s.ws_body(s.ws, environment_variables=variables))
    s.note(r, "workspace.update", s.target(), 200)
    other = uid("ws")
    s.note(api.post(f"{s.base}/workspaces", json=s.ws_body(other)), "workspace.create",
           f"{s.org}/{s.project}/{other}", 200)
    s.note(api.delete(f"{s.base}/workspaces/{other}"), "workspace.delete",
           f"{s.org}/{s.project}/{other}", 204)

    # API keys and tokens.
    key = api.create_apikey()
    keys = all_records(api, action="apikey.create")
    assert any(x["target"] == f"apikeys/{key['identifier']}" and x["outcome"] == "success"
               for x in keys), keys
    tok_id = uid("tok")
    r = api.post_token(key, tok_id)
    s.note(r, "token.create", f"tokens/{tok_id}", 200)
    new_token = r.json()["data"]
    r = api.post(f"/ng/api/token/rotate/{tok_id}", params=api.key_params(key))
    s.note(r, "token.rotate", f"tokens/{tok_id}", 200)
    rotated = r.json()["data"]
    r = api.put(f"/ng/api/token/{tok_id}", params=api.key_params(key),
                json=api.token_body(key, tok_id, name="Renamed token"))
    s.note(r, "token.update", f"tokens/{tok_id}", 200)
    s.note(api.delete(f"/ng/api/token/{tok_id}", params=api.key_params(key)), "token.delete",
           f"tokens/{tok_id}", 200)
    s.note(api.delete(f"/ng/api/apikey/{key['identifier']}", params=api.key_params(key)),
           "apikey.delete", f"apikeys/{key['identifier']}", 200)

    # State through the terraform CLI's backend (basic auth): lock, write, unlock, force-unlock.
    tf = s.backend()
    info = LockInfo.new(who=f"ci-{marker}")
    tf.lock(info)
    s.note(tf.last, "state.lock", s.target(), 200)
    lineage = str(uuid.uuid4())
    tf.put(tfstate(1, lineage, {"o": {"value": f"out-{marker}", "type": "string"}}))
    s.note(tf.last, "state.write", s.target(), 200)
    tf.put(tfstate(2, lineage))
    s.note(tf.last, "state.write", s.target(), 200)
    tf.unlock(info.ID)
    s.note(tf.last, "state.unlock", s.target(), 200)
    tf.lock(LockInfo.new(who="crashed"))
    s.note(tf.last, "state.lock", s.target(), 200)
    tf.force_unlock("whatever")
    s.note(tf.last, "state.force_unlock", s.target(), 200)
    s.note(api.post(f"{s.wpath}/actions/lock", json={"reason": marker}), "state.lock", s.target(), 200)
    s.note(api.post(f"{s.wpath}/actions/force-unlock"), "state.force_unlock", s.target(), 200)

    # Rollback to the first version.
    versions = api.get(f"{s.wpath}/data", params={"data_type": "state_raw", "limit": 100}).json()
    first = versions[-1]["id"]
    s.note(api.post(f"{s.wpath}/state-versions/{first}/rollback", json={}), "state.rollback",
           s.target("state-versions", first), 200)

    # A data upload.
    r = api.post(f"{s.wpath}/data", params={"data_type": "plan_human"}, data=f"plan {marker}".encode(),
                 headers={"Content-Type": "application/octet-stream"})
    s.note(r, "data.upload", s.target("data", "plan_human"), 200)

    # Policies and policy sets (org level: the target names it).
    pid = uid("pol")
    rego = 'package workspace\n\ndeny[msg] {\n  input.workspace.provisioner == "nope"\n  msg := "no"\n}\n'
    r = api.post(f"{PM}/policies", params={"orgIdentifier": s.org},
                 json={"identifier": pid, "name": "P", "rego": rego})
    s.note(r, "policy.create", f"{s.org}/policies/{pid}", 201)
    r = api.request("PATCH", f"{PM}/policies/{pid}", params={"orgIdentifier": s.org},
                    json={"name": "Renamed"})
    s.note(r, "policy.update", f"{s.org}/policies/{pid}", 204)
    sid = uid("set")
    r = api.post(f"{PM}/policysets", params={"orgIdentifier": s.org},
                 json={"identifier": sid, "name": "S", "type": "workspace", "action": "onsave",
                       "enabled": True})
    s.note(r, "policy_set.create", f"{s.org}/policy-sets/{sid}", 201)
    s.note(api.delete(f"{PM}/policysets/{sid}", params={"orgIdentifier": s.org}),
           "policy_set.delete", f"{s.org}/policy-sets/{sid}", 204)
    s.note(api.delete(f"{PM}/policies/{pid}", params={"orgIdentifier": s.org}), "policy.delete",
           f"{s.org}/policies/{pid}", 204)

    # Variable sets (project level), holding a plain value and a secret reference.
    vs = uid("vs")
    one = f"{s.base}/variable-set"
    r = api.post(one, json={"identifier": vs, "name": "V", "terraform_variables": variables})
    s.note(r, "variable_set.create", f"{s.org}/{s.project}/variable-sets/{vs}", 201)
    r = api.put(f"{one}/{vs}", json={"identifier": vs, "name": "V2", "terraform_variables": variables})
    s.note(r, "variable_set.update", f"{s.org}/{s.project}/variable-sets/{vs}", 200)
    s.note(api.delete(f"{one}/{vs}"), "variable_set.delete", f"{s.org}/{s.project}/variable-sets/{vs}", 204)

    # A run from an uploaded source, then cancelled (or refused, if it already ended).
    r = api.post(f"{s.wpath}/remote-executions", json={"custom_arguments": {}})
    s.note(r, "remote_execution.create", s.target("remote-executions"), 201)
    execution = r.json()["id"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'resource "terraform_data" "a" {}\n'
        item = tarfile.TarInfo("main.tf")
        item.size = len(data)
        tar.addfile(item, io.BytesIO(data))
    archive = buf.getvalue()
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(archive).digest()).decode() + ":"
    r = api.post(f"{s.wpath}/remote-executions/{execution}/upload", data=archive,
                 headers={"Content-Type": "application/octet-stream", "Content-Digest": digest})
    s.note(r, "remote_execution.upload", s.target("remote-executions", execution), 200)
    r = api.post(f"{s.wpath}/runs", json={"kind": "plan", "remote_execution_id": execution})
    s.note(r, "run.create", s.target("runs"), r.status_code)
    assert r.status_code in (200, 201), describe(r)
    run = r.json().get("run", r.json())["id"]
    r = api.post(f"{s.wpath}/runs/{run}/cancel")
    assert r.status_code in (200, 409), describe(r)
    s.note(r, "run.cancel", s.target("runs", run), r.status_code)

    # Drift config and a workspace event.
    r = api.put(f"{s.wpath}/drift-config",
                json={"pipeline_id": "drift", "run_every": 1, "run_every_unit": "days"})
    s.note(r, "drift_config.update", s.target("drift-config"), 200)
    s.note(api.delete(f"{s.wpath}/drift-config"), "drift_config.delete", s.target("drift-config"), 200)

    # Every write is there, with its own request id, action, target, principal and outcome.
    raw = api.get("/v1/audit", params={"limit": 100})
    assert raw.status_code == 200, describe(raw)
    records = all_records(api)
    got = by_request(records)
    for action, target, status, request_id in s.done:
        assert request_id in got, f"no record of {action} {target} ({request_id})"
        rec = got[request_id]
        assert set(rec) == FIELDS, rec
        assert (rec["action"], rec["target"], rec["status"]) == (action, target, status), rec
        assert rec["outcome"] == ("success" if status < 400 else "failed"), rec
        assert rec["principal"] == s.me and rec["account"] == s.t.account, rec
        assert rec["remote_address"] == "127.0.0.1", rec
        assert rec["time"] > 1.6e12, rec
    # Newest first.
    times = [r["time"] for r in records]
    assert times == sorted(times, reverse=True)

    # Never a secret, a body, or a variable value.
    everything = raw.text + json.dumps(records)
    for secret in (secret_of(api.token), secret_of(new_token), secret_of(rotated), marker):
        assert secret not in everything, f"{secret} leaked into the audit trail"
    assert plain_value not in everything and secret_ref not in everything


def test_denied_and_failed_writes_are_recorded_but_401s_are_not(setup):
    s, api = setup, setup.api
    viewer = s.t.token("viewer")
    editor = s.t.token("editor")
    vapi = api.as_(token=viewer)
    r = vapi.put(s.wpath, json=s.ws_body(s.ws))
    assert_error(r, 403)
    denied_put = r.headers["X-Request-Id"]
    # Refused before its body is read (a spooled upload): recorded all the same.
    r = vapi.post(f"{s.wpath}/terraform-backend", data=tfstate(1, str(uuid.uuid4())),
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 403, describe(r)
    denied_write = r.headers["X-Request-Id"]
    # A known principal on another account's name: denied, recorded in the token's own account.
    r = api.as_(token=editor, account="default").put(s.wpath, json=s.ws_body(s.ws))
    assert_error(r, 403)
    cross = r.headers["X-Request-Id"]
    # A failure: 404 on a workspace that is not there.
    r = api.as_(token=editor).delete(f"{s.base}/workspaces/nope")
    assert_error(r, 404)
    missing = r.headers["X-Request-Id"]
    # 401: no principal, no record.
    before = int(audit(api)[1].headers["X-Total-Elements"])
    r = api.as_(token=f"pat.{s.t.account}.nobody.secret").put(s.wpath, json=s.ws_body(s.ws))
    assert r.status_code == 401
    unknown = r.headers["X-Request-Id"]
    assert_error(api.as_(token=None).delete(s.wpath), 401)

    got = by_request(all_records(api))
    for rid, who, action, status in ((denied_put, viewer, "workspace.update", 403),
                                     (denied_write, viewer, "state.write", 403),
                                     (cross, editor, "workspace.update", 403),
                                     (missing, editor, "workspace.delete", 404)):
        rec = got.get(rid)
        assert rec, f"no record of {action} ({rid})"
        assert rec["principal"] == token_id(who) and rec["action"] == action, rec
        assert rec["status"] == status, rec
        assert rec["outcome"] == ("denied" if status == 403 else "failed"), rec
        assert rec["account"] == s.t.account, rec
    assert unknown not in got
    assert int(audit(api)[1].headers["X-Total-Elements"]) == before
    # The operator's tokens have names; the trail shows them.
    assert all(r["principal_name"] for r in got.values()), got


def test_only_an_account_wide_admin_reads_the_trail(setup):
    s, api = setup, setup.api
    for role in ("viewer", "editor"):
        assert_error(api.as_(token=s.t.token(role)).get("/v1/audit"), 403)
    assert_error(api.as_(token=s.t.token("admin", org=s.org)).get("/v1/audit"), 403)
    assert_error(api.as_(token=None).get("/v1/audit"), 401)


def test_accounts_never_see_each_other_s_records(setup, tenant):
    s = setup
    mine = {rid for *_, rid in s.done}
    other = tenant()
    other.api.create_org(s.uid("org"))
    theirs = all_records(other.api)
    assert theirs and all(r["account"] == other.account for r in theirs), theirs
    assert not mine & {r["request_id"] for r in theirs}
    for params in ({"target": s.org}, {"principal": s.me}, {"action": "workspace.create"}):
        assert not mine & {r["request_id"] for r in all_records(other.api, **params)}, params
    # Naming the first account with the other's admin token is refused.
    assert_error(other.api.as_(account=s.t.account).get("/v1/audit"), 403)
    assert_error(other.api.get("/v1/audit", params={"accountIdentifier": s.t.account}), 403)
    # The first account's admin sees its own.
    assert mine <= {r["request_id"] for r in all_records(s.api)}


def test_filters_and_pagination(setup, uid):
    s, api = setup, setup.api
    orgs = [uid("org") for _ in range(7)]
    for o in orgs:
        api.create_org(o)
    editor = s.t.token("editor")
    assert api.as_(token=editor).put(f"/v1/orgs/{orgs[0]}",
                                     json={"org": {"identifier": orgs[0], "name": "x"}}).status_code == 200
    assert_error(api.as_(token=editor).delete(f"/v1/orgs/{s.uid('org')}"), 404)

    # Pages of an action: 8 org creates (the setup's and these 7), newest first.
    items, r = audit(api, action="org.create", limit=3, page=0)
    assert r.headers["X-Total-Elements"] == "8" and r.headers["X-Page-Number"] == "0"
    assert r.headers["X-Page-Size"] == "3" and r.headers["x-total-pages"] == "3"
    pages = [items] + [audit(api, action="org.create", limit=3, page=p)[0] for p in (1, 2)]
    assert [len(p) for p in pages] == [3, 3, 2]
    listed = [x["target"] for p in pages for x in p]
    assert listed == list(reversed([s.org] + orgs)), "newest first, no repeats"
    oldest, _ = audit(api, action="org.create", sort="time,ASC")
    assert [x["target"] for x in oldest] == [s.org] + orgs
    # Unfiltered: the whole account's total.
    total = int(audit(api, limit=1)[1].headers["X-Total-Elements"])
    assert total == len(all_records(api)) == len(s.done) + 9

    # Target prefix, principal, action families, outcome.
    assert [x["target"] for x in audit(api, target=orgs[3])[0]] == [orgs[3]]
    mine = audit(api, target=s.org)[0]
    assert {x["action"] for x in mine} == {"org.create", "project.create", "workspace.create"}
    assert len(audit(api, target=f"{s.org}/{s.project}/")[0]) == 1
    by_editor = audit(api, principal=token_id(editor))[0]
    assert [(x["action"], x["outcome"]) for x in by_editor] == [("org.delete", "failed"),
                                                               ("org.update", "success")]
    assert {x["action"] for x in audit(api, action="org")[0]} == {"org.create", "org.update", "org.delete"}
    both = audit(api, action="org.update,org.delete")[0]
    assert sorted(x["action"] for x in both) == ["org.delete", "org.update"]
    assert [x["action"] for x in audit(api, outcome="failed")[0]] == ["org.delete"]
    assert audit(api, principal="nobody")[0] == []

    # Time window (inclusive, unix ms).
    first = audit(api, target=orgs[0], action="org.create")[0][0]["time"]
    newest = audit(api, limit=1)[0][0]["time"]
    window = audit(api, **{"from": first, "to": newest})[0]
    assert all(first <= x["time"] <= newest for x in window)
    assert {x["target"] for x in window if x["action"] == "org.create"} >= set(orgs)
    earlier = audit(api, to=first - 1)[0]
    assert earlier and all(x["time"] < first for x in earlier)
    assert not set(orgs) & {x["target"] for x in earlier}
    assert audit(api, **{"from": newest + 1})[0] == []
    # Bad parameters are 400.
    for bad in ({"from": "yesterday"}, {"to": "-5"}, {"outcome": "maybe"}, {"sort": "name"},
                {"limit": "x"}):
        assert_error(api.get("/v1/audit", params=bad), 400)


def test_records_survive_a_clean_restart(spawn_server, tmp_path, uid):
    srv = spawn_server(data_dir=tmp_path / "d")
    api = srv.client(srv.admin_token(), "default")
    orgs = [uid("org") for _ in range(3)]
    for o in orgs:
        api.create_org(o)
    assert srv.terminate() == 0  # SIGTERM: what is queued is stored before exit
    srv2 = spawn_server(data_dir=tmp_path / "d")
    api2 = srv2.client(srv2.admin_token(), "default")
    targets = [x["target"] for x in audit(api2, action="org.create")[0]]
    assert targets == list(reversed(orgs))


@needs_terraform
def test_a_run_s_backend_writes_are_recorded_with_the_run_as_principal(setup):
    s, api = setup, setup.api
    r = api.post(f"{s.wpath}/remote-executions", json={"custom_arguments": {}})
    assert r.status_code == 201, describe(r)
    execution = r.json()["id"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'resource "terraform_data" "a" {\n  input = "x"\n}\n'
        item = tarfile.TarInfo("main.tf")
        item.size = len(data)
        tar.addfile(item, io.BytesIO(data))
    archive = buf.getvalue()
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(archive).digest()).decode() + ":"
    r = api.post(f"{s.wpath}/remote-executions/{execution}/upload", data=archive,
                 headers={"Content-Type": "application/octet-stream", "Content-Digest": digest})
    assert r.status_code == 200, describe(r)
    r = api.post(f"{s.wpath}/remote-executions/{execution}/execute",
                 json={"kind": "apply", "auto_apply": True})
    assert r.status_code == 200, describe(r)
    run = r.json()["run"]["id"]
    deadline = time.time() + 120
    while api.get(f"{s.wpath}/runs/{run}").json()["status"] not in ("applied", "failed"):
        assert time.time() < deadline
        time.sleep(0.2)
    assert api.get(f"{s.wpath}/runs/{run}").json()["status"] == "applied"
    records = audit(api, principal=f"run:{run}")[0]
    actions = {x["action"] for x in records}
    assert {"state.lock", "state.write", "state.unlock"} <= actions, records
    for x in records:
        assert x["target"] == s.target() and x["outcome"] == "success", x
        assert x["principal_name"].startswith("run "), x
    execute = audit(api, action="remote_execution.execute")[0]
    assert execute and execute[0]["principal"] == s.me
