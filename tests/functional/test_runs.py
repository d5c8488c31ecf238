"""Runs: remote executions (the spec), the runs API, the runner executing the real terraform
against the server's own backend, approvals, logs, events, cancel, queueing and restarts.

Terraform tests use `terraform_data`, `local-exec` and outputs only (no provider download);
they are skipped, saying so, only where the terraform binary is missing.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import textwrap
import time

import pytest
import requests

from spec_schema import assert_error, describe, validate

WORKSPACES_SPEC = "harness-workspaces-api-openapi.yml"
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on the PATH")

CONFIG = """
resource "terraform_data" "a" {
  input = var.size
}
variable "size" {
  type    = string
  default = "small"
}
output "size" {
  value = terraform_data.a.output
}
"""


def targz(files: dict[str, str | bytes], extra=None) -> bytes:
    """A .tar.gz of files (name -> content); extra(tar) may add hostile members."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return buf.getvalue()


def digest_header(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


class Runs:
    """A fresh account, org, project and helpers for workspaces and runs."""

    def __init__(self, api, uid):
        self.api = api
        self.uid = uid
        self.org, self.project = uid("org"), uid("prj")
        api.create_org(self.org)
        api.create_project(self.org, self.project)
        self.base = f"/iacm/api/orgs/{self.org}/projects/{self.project}"

    def workspace(self, **extra) -> str:
        ws = self.uid("ws")
        body = {"identifier": ws, "name": ws, "provisioner": "terraform", "provider_connector": "",
                "terraform_variables": {}, "environment_variables": {}}
        body.update(extra)
        r = self.api.post(f"{self.base}/workspaces", json=body)
        assert r.status_code == 200, describe(r)
        return ws

    def ws(self, ws) -> str:
        return f"{self.base}/workspaces/{ws}"

    def upload(self, ws, archive: bytes, custom_arguments=None) -> dict:
        r = self.api.post(f"{self.ws(ws)}/remote-executions",
                          json={"custom_arguments": custom_arguments or {}})
        assert r.status_code == 201, describe(r)
        execution = r.json()
        r = self.api.post(f"{self.ws(ws)}/remote-executions/{execution['id']}/upload", data=archive,
                          headers={"Content-Type": "application/octet-stream",
                                   "Content-Digest": digest_header(archive)})
        assert r.status_code == 200, describe(r)
        return r.json()

    def run_from(self, ws, files: dict, kind="plan", auto_apply=False, message="") -> dict:
        execution = self.upload(ws, targz(files))
        r = self.api.post(f"{self.ws(ws)}/remote-executions/{execution['id']}/execute",
                          json={"kind": kind, "auto_apply": auto_apply, "message": message})
        assert r.status_code == 200, describe(r)
        return r.json()["run"]

    def run(self, ws, run_id) -> dict:
        r = self.api.get(f"{self.ws(ws)}/runs/{run_id}")
        assert r.status_code == 200, describe(r)
        return r.json()

    def wait(self, ws, run_id, statuses, timeout=120) -> dict:
        deadline = time.time() + timeout
        while True:
            run = self.run(ws, run_id)
            if run["status"] in statuses:
                return run
            assert time.time() < deadline, f"run still {run['status']}, wanted {statuses}:\n{self.log(ws, run_id)}"
            time.sleep(0.2)

    def log(self, ws, run_id) -> str:
        r = self.api.get(f"{self.ws(ws)}/runs/{run_id}/logs")
        assert r.status_code == 200, describe(r)
        return r.text

    def events(self, ws, **params) -> list:
        r = self.api.get(f"{self.ws(ws)}/events", params={"limit": 100, **params})
        assert r.status_code == 200, describe(r)
        return r.json()

    def workspace_status(self, ws) -> str:
        r = self.api.get(self.ws(ws))
        assert r.status_code == 200, describe(r)
        return r.json()["status"]


@pytest.fixture
def runs(tenant, uid):
    return Runs(tenant().api, uid)


# ---- remote executions, per the spec ---------------------------------------------------------


def test_remote_execution_lifecycle_follows_the_spec(runs):
    ws = runs.workspace()
    r = runs.api.post(f"{runs.ws(ws)}/remote-executions",
                      json={"custom_arguments": {"-target": ["terraform_data.a"]}})
    assert r.status_code == 201, describe(r)
    created = r.json()
    validate(WORKSPACES_SPEC, "CreateRemoteExecutionResponse", created)
    assert created["executed"] is False and created["sha256_checksum"] == ""
    path = f"{runs.ws(ws)}/remote-executions/{created['id']}"

    archive = targz({"main.tf": CONFIG})
    # A digest that does not match the body is refused, and nothing is kept.
    bad = runs.api.post(f"{path}/upload", data=archive,
                        headers={"Content-Digest": digest_header(archive + b"x")})
    assert_error(bad, 400, mentions="Content-Digest")
    r = runs.api.post(f"{path}/upload", data=b"not an archive at all",
                      headers={"Content-Digest": digest_header(b"not an archive at all")})
    assert_error(r, 400, mentions="tar")
    assert runs.api.get(path).json()["sha256_checksum"] == ""

    r = runs.api.post(f"{path}/upload", data=archive, headers={"Content-Digest": digest_header(archive)})
    assert r.status_code == 200, describe(r)
    uploaded = r.json()
    validate(WORKSPACES_SPEC, "UploadRemoteExecutionResponse", uploaded)
    assert uploaded["sha256_checksum"] == hashlib.sha256(archive).hexdigest()

    shown = runs.api.get(path)
    assert shown.status_code == 200, describe(shown)
    validate(WORKSPACES_SPEC, "ShowRemoteExecutionResponse", shown.json())
    assert shown.json()["custom_arguments"] == {"-target": ["terraform_data.a"]}
    download = runs.api.get(f"{path}/download")
    assert download.status_code == 200 and download.content == archive

    r = runs.api.post(f"{path}/execute")
    assert r.status_code == 200, describe(r)
    executed = r.json()
    validate(WORKSPACES_SPEC, "RemoteExecution", executed)
    assert executed["executed"] is True and executed["run_id"]
    assert_error(runs.api.post(f"{path}/execute"), 409, mentions="executed")
    assert_error(runs.api.post(f"{path}/upload", data=archive), 409, mentions="executed")


def test_remote_execution_refuses_bad_input(runs):
    ws = runs.workspace()
    base = f"{runs.ws(ws)}/remote-executions"
    assert_error(runs.api.post(base, json={"custom_arguments": {"-state": ["/etc/passwd"]}}), 400,
                 mentions="-target")
    assert_error(runs.api.post(base, json={"custom_arguments": {"-target": "x"}}), 400,
                 mentions="array")
    assert_error(runs.api.post(base, json={"custom_arguments": []}), 400, mentions="object")
    assert_error(runs.api.get(f"{base}/no-such-id"), 404)
    created = runs.api.post(base, json={}).json()
    # Executing before any upload is a conflict that says what to do.
    assert_error(runs.api.post(f"{base}/{created['id']}/execute"), 409, mentions="upload")
    r = runs.api.post(f"{base}/{created['id']}/upload", data=targz({"main.tf": CONFIG}),
                      headers={"Content-Digest": "md5=:AAAA:"})
    assert_error(r, 400, mentions="sha-256")
    assert_error(runs.api.post(f"{runs.base}/workspaces/nope/remote-executions", json={}), 404)


def test_runs_need_a_source_and_a_known_kind(runs):
    ws = runs.workspace()
    assert_error(runs.api.post(f"{runs.ws(ws)}/runs", json={"kind": "plan"}), 400, mentions="repository")
    assert_error(runs.api.post(f"{runs.ws(ws)}/runs", json={"kind": "explode"}), 400, mentions="kind")
    assert_error(runs.api.get(f"{runs.ws(ws)}/runs/nope"), 404)
    r = runs.api.get(f"{runs.ws(ws)}/runs", params={"status": "bogus"})
    assert_error(r, 400, mentions="status")


# ---- plan, approve, apply, destroy with the real terraform -------------------------------------


@needs_terraform
def test_plan_approve_apply_destroy(runs):
    ws = runs.workspace(terraform_variables={
        "size": {"key": "size", "value": "large", "value_type": "string"}})
    run = runs.run_from(ws, {"main.tf": CONFIG}, kind="apply", message="first apply")
    assert run["status"] == "queued" and run["kind"] == "apply" and run["number"] >= 1
    run = runs.wait(ws, run["id"], {"awaiting_approval", "failed"})
    log = runs.log(ws, run["id"])
    assert run["status"] == "awaiting_approval", log
    assert "terraform_data.a will be created" in log, log
    assert run["summary"]["resource_changes"] == {"add": 1, "change": 0, "destroy": 0}
    assert runs.workspace_status(ws) == "apply_needed"
    # The plan is stored as workspace data, as JSON and as text.
    plan = runs.api.get(f"{runs.ws(ws)}/data/{run['summary']['plan_data_id']}")
    assert plan.status_code == 200
    assert any(rc["address"] == "terraform_data.a" for rc in plan.json()["resource_changes"])
    human = runs.api.get(f"{runs.ws(ws)}/data/{run['summary']['plan_human_data_id']}")
    assert "terraform_data.a" in human.text

    r = runs.api.post(f"{runs.ws(ws)}/runs/{run['id']}/approve")
    assert r.status_code == 200, describe(r)
    run = runs.wait(ws, run["id"], {"applied", "failed"})
    log = runs.log(ws, run["id"])
    assert run["status"] == "applied", log
    assert "Apply complete! Resources: 1 added" in log, log
    assert run["approved_by"] and run["finished"] >= run["started"] > 0
    assert runs.workspace_status(ws) == "active"
    # The state went through the workspace's backend, with the variable the workspace set.
    state = runs.api.get(f"{runs.ws(ws)}/terraform-backend")
    assert state.status_code == 200
    assert state.json()["outputs"]["size"]["value"] == "large"
    assert run["summary"]["state_data_id"]

    # A second approval is refused: the run has ended.
    assert_error(runs.api.post(f"{runs.ws(ws)}/runs/{run['id']}/approve"), 409, mentions="applied")

    destroy = runs.run_from(ws, {"main.tf": CONFIG}, kind="destroy", auto_apply=True)
    destroy = runs.wait(ws, destroy["id"], {"applied", "failed"})
    assert destroy["status"] == "applied", runs.log(ws, destroy["id"])
    assert destroy["summary"]["resource_changes"]["destroy"] == 1
    assert runs.workspace_status(ws) == "inactive"
    state = runs.api.get(f"{runs.ws(ws)}/terraform-backend").json()
    assert state["resources"] == []

    # Events: one per transition, readable through the API.
    events = runs.events(ws)
    kinds = [e["event_type"] for e in events]
    for expected in ("provisioning", "plan", "apply_needed", "active", "destroying", "inactive"):
        assert expected in kinds, kinds
    planned = [e for e in events if e["run_id"] == run["id"] and e["event_type"] == "plan"]
    assert planned and planned[0]["metadata"]["resource_counts"] == {"add": 1, "change": 0, "destroy": 0}
    assert planned[0]["metadata"]["plan_uuid"] == run["summary"]["plan_data_id"]
    applied = [e for e in events if e["run_id"] == run["id"] and e["event_type"] == "active"]
    assert applied and applied[0]["metadata"]["activity_status"] == "success"
    assert applied[0]["metadata"]["resource_counts"] == {"add": 1, "change": 0, "destroy": 0}
    listed = runs.api.get(f"{runs.ws(ws)}/runs", params={"limit": 1})
    assert listed.status_code == 200 and len(listed.json()) == 1
    assert listed.headers.get("X-Total-Elements") == "2"
    assert listed.json()[0]["id"] == destroy["id"], "newest first"


@needs_terraform
def test_plan_only_run_from_a_git_repository(runs, tmp_path):
    repo = tmp_path / "repo"
    (repo / "stacks" / "app").mkdir(parents=True)
    (repo / "stacks" / "app" / "main.tf").write_text(CONFIG)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True, env=env)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()
    ws = runs.workspace(repository=str(repo), repository_branch="main", repository_path="stacks/app")
    r = runs.api.post(f"{runs.ws(ws)}/runs", json={"kind": "plan"})
    assert r.status_code == 201, describe(r)
    run = runs.wait(ws, r.json()["id"], {"planned", "failed"})
    assert run["status"] == "planned", runs.log(ws, run["id"])
    assert run["summary"]["git_commit"] == head
    assert run["summary"]["has_changes"] is True
    # A plan-only run changes nothing: no state, workspace status untouched.
    assert runs.api.get(f"{runs.ws(ws)}/terraform-backend").status_code == 204
    assert runs.workspace_status(ws) == "active"


@needs_terraform
def test_failing_run_reports_failure(runs):
    ws = runs.workspace()
    run = runs.run_from(ws, {"main.tf": 'resource "terraform_data" "a" {\n  input = var.missing\n}\n'},
                        kind="apply")
    run = runs.wait(ws, run["id"], {"failed", "awaiting_approval", "applied"})
    log = runs.log(ws, run["id"])
    assert run["status"] == "failed", log
    assert "plan failed" in run["summary"]["error"]
    assert "var.missing" in log or "Reference to undeclared input variable" in log, log
    assert runs.workspace_status(ws) == "failed"
    failed = [e for e in runs.events(ws) if e["event_type"] == "failed"]
    assert failed and failed[0]["metadata"]["activity_status"] == "failure"


SLEEPER = """
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 600"
  }
}
"""


@needs_terraform
def test_cancel_stops_a_stuck_apply_and_frees_the_lock(runs):
    ws = runs.workspace()
    run = runs.run_from(ws, {"main.tf": SLEEPER}, kind="apply", auto_apply=True)
    deadline = time.time() + 120
    while "terraform_data.slow: Creating..." not in runs.log(ws, run["id"]):
        assert time.time() < deadline, runs.log(ws, run["id"])
        time.sleep(0.2)
    started = time.time()
    r = runs.api.post(f"{runs.ws(ws)}/runs/{run['id']}/cancel")
    assert r.status_code == 200, describe(r)
    run = runs.wait(ws, run["id"], {"cancelled", "failed", "applied"}, timeout=60)
    assert run["status"] == "cancelled", runs.log(ws, run["id"])
    assert time.time() - started < 30
    # Nothing holds the state lock afterwards.
    lock = runs.api.get(f"{runs.ws(ws)}")
    assert lock.json().get("backend_locked") in (None, False), lock.json()
    assert_error(runs.api.post(f"{runs.ws(ws)}/runs/{run['id']}/cancel"), 409)


@needs_terraform
def test_runs_of_one_workspace_queue_and_discard_frees_it(runs):
    ws = runs.workspace()
    first = runs.run_from(ws, {"main.tf": CONFIG}, kind="apply")
    second = runs.run_from(ws, {"main.tf": CONFIG}, kind="plan")
    first = runs.wait(ws, first["id"], {"awaiting_approval", "failed"})
    assert first["status"] == "awaiting_approval", runs.log(ws, first["id"])
    time.sleep(1.5)
    assert runs.run(ws, second["id"])["status"] == "queued", "one active run per workspace"
    r = runs.api.post(f"{runs.ws(ws)}/runs/{first['id']}/discard")
    assert r.status_code == 200 and r.json()["status"] == "discarded", describe(r)
    second = runs.wait(ws, second["id"], {"planned", "failed"})
    assert second["status"] == "planned", runs.log(ws, second["id"])


@needs_terraform
def test_logs_follow_a_running_run_live(runs):
    ws = runs.workspace()
    files = {"main.tf": """
resource "terraform_data" "a" {
  provisioner "local-exec" {
    command = "echo first-line; sleep 3; echo second-line"
  }
}
"""}
    run = runs.run_from(ws, files, kind="apply", auto_apply=True)
    url = runs.api.base_url + f"{runs.ws(ws)}/runs/{run['id']}/logs?follow=true"
    seen_first_at = None
    body = b""
    with requests.get(url, headers={"x-api-key": runs.api.token}, stream=True, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers.get("Transfer-Encoding") == "chunked"
        for chunk in r.iter_content(chunk_size=None):
            body += chunk
            if seen_first_at is None and b"(local-exec): first-line" in body:
                seen_first_at = time.time()
                assert b"(local-exec): second-line" not in body, "the log arrives while the run runs"
    assert seen_first_at is not None, body.decode(errors="replace")
    assert b"(local-exec): second-line" in body and b"run applied" in body, body.decode(errors="replace")
    # Resumable: from an offset, the rest only.
    full = runs.log(ws, run["id"])
    offset = full.index("(local-exec): second-line")
    r = runs.api.get(f"{runs.ws(ws)}/runs/{run['id']}/logs", params={"offset": offset})
    assert r.text == full[offset:]
    assert int(r.headers["X-Log-Offset"]) == len(full.encode())


@needs_terraform
def test_hostile_archives_fail_the_run_and_touch_nothing_outside(runs, tmp_path):
    ws = runs.workspace()
    target = tmp_path / "escaped"

    def traversal(tar):
        data = b"owned"
        info = tarfile.TarInfo("../../../../../../" + str(target).lstrip("/"))
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    def link_escape(tar):
        info = tarfile.TarInfo("evil")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc"
        tar.addfile(info)

    for extra, why in ((traversal, "leaves"), (link_escape, "evil")):
        execution = runs.upload(ws, targz({"main.tf": CONFIG}, extra))
        r = runs.api.post(f"{runs.ws(ws)}/remote-executions/{execution['id']}/execute", json={"kind": "plan"})
        assert r.status_code == 200, describe(r)
        run = runs.wait(ws, r.json()["run"]["id"], {"failed", "planned"})
        assert run["status"] == "failed", runs.log(ws, run["id"])
        assert why in run["summary"]["error"], run["summary"]
    assert not target.exists()


# ---- secrets and the run token ------------------------------------------------------------------


@needs_terraform
def test_secret_variables_reach_the_run_masked_and_the_run_token_is_scoped(spawn_server, tmp_path, uid):
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"account.db_password": "s3cr3t-hunter2-value"}))
    secrets.chmod(0o600)
    srv = spawn_server("--secrets-file", str(secrets))
    api = srv.client(srv.admin_token(), "default")
    runs = Runs(api, uid)
    out = tmp_path / "token.txt"
    ws = runs.workspace(environment_variables={
        "DB_PASSWORD": {"key": "DB_PASSWORD", "value": "account.db_password", "value_type": "secret"}})
    files = {"main.tf": f"""
resource "terraform_data" "a" {{
  provisioner "local-exec" {{
    command = "echo password=$DB_PASSWORD; printf %s \\"$TF_HTTP_PASSWORD\\" > {out}; sleep 4"
  }}
}}
"""}
    run = runs.run_from(ws, files, kind="apply", auto_apply=True)
    deadline = time.time() + 120
    while not out.exists() or not out.read_text():
        assert time.time() < deadline, runs.log(ws, run["id"])
        time.sleep(0.1)
    token = out.read_text()
    assert token.startswith("run.")
    # While the run runs, its token opens its own workspace's backend, and nothing else.
    backend = f"{runs.ws(ws)}/terraform-backend"
    as_run = srv.client(token, None)
    assert as_run.get(backend).status_code in (200, 204)
    assert as_run.get(f"{runs.ws(ws)}").status_code == 403
    other = runs.workspace()
    assert as_run.get(f"{runs.ws(other)}/terraform-backend").status_code == 403
    run = runs.wait(ws, run["id"], {"applied", "failed"})
    log = runs.log(ws, run["id"])
    assert run["status"] == "applied", log
    assert "password=***" in log, log
    assert "s3cr3t-hunter2-value" not in log
    assert token not in log
    # After the run the token is dead.
    assert as_run.get(backend).status_code == 401


@needs_terraform
def test_missing_secret_fails_the_run_clearly(runs):
    ws = runs.workspace(environment_variables={
        "TOKEN": {"key": "TOKEN", "value": "account.not_there", "value_type": "secret"}})
    run = runs.run_from(ws, {"main.tf": CONFIG}, kind="plan")
    run = runs.wait(ws, run["id"], {"failed", "planned"})
    assert run["status"] == "failed"
    assert "account.not_there" in run["summary"]["error"]


# ---- restart ----------------------------------------------------------------------------------


@needs_terraform
def test_a_restart_mid_run_marks_it_interrupted_and_releases_its_lock(spawn_server, tmp_path, uid):
    data = tmp_path / "restart-data"
    srv = spawn_server(data_dir=data)
    api = srv.client(srv.admin_token(), "default")
    runs = Runs(api, uid)
    ws = runs.workspace()
    run = runs.run_from(ws, {"main.tf": SLEEPER}, kind="apply", auto_apply=True)
    deadline = time.time() + 120
    while "terraform_data.slow: Creating..." not in runs.log(ws, run["id"]):
        assert time.time() < deadline, runs.log(ws, run["id"])
        time.sleep(0.2)
    assert api.get(runs.ws(ws)).json().get("backend_locked") is True
    srv.kill()  # SIGKILL: no chance to clean up
    # The orphaned terraform (its own process group) may live on: stop it like an operator would.
    subprocess.run(["pkill", "-f", "sleep 600"], check=False)
    srv2 = spawn_server(data_dir=data)
    api2 = srv2.client(srv2.admin_token(), "default")
    runs.api = api2
    run = runs.wait(ws, run["id"], {"interrupted"}, timeout=30)
    assert "stopped" in run["summary"]["error"]
    assert not api2.get(runs.ws(ws)).json().get("backend_locked")
    assert runs.workspace_status(ws) == "failed"
    assert "run interrupted" in runs.log(ws, run["id"])


# ---- variable sets and drift ------------------------------------------------------------------


@needs_terraform
def test_a_variable_set_value_reaches_the_run(runs):
    vs = runs.uid("vs")
    r = runs.api.post(f"{runs.base}/variable-set", json={
        "identifier": vs, "name": vs,
        "terraform_variables": {"size": {"key": "size", "value": "from-the-set", "value_type": "string"}}})
    assert r.status_code == 201, describe(r)
    ws = runs.workspace(variable_sets=[vs])
    run = runs.run_from(ws, {"main.tf": CONFIG}, kind="apply", auto_apply=True)
    run = runs.wait(ws, run["id"], {"applied", "failed"})
    assert run["status"] == "applied", runs.log(ws, run["id"])
    state = runs.api.get(f"{runs.ws(ws)}/terraform-backend").json()
    assert state["outputs"]["size"]["value"] == "from-the-set"


@needs_terraform
def test_scheduled_drift_check_finds_a_state_changed_out_of_band(runs):
    ws = runs.workspace()
    run = runs.run_from(ws, {"main.tf": CONFIG}, kind="apply", auto_apply=True)
    assert runs.wait(ws, run["id"], {"applied", "failed"})["status"] == "applied"
    drift_config = f"{runs.ws(ws)}/drift-config"
    r = runs.api.put(drift_config, json={"pipeline_id": "drift", "run_every": 1, "run_every_unit": "seconds"})
    assert r.status_code == 200, describe(r)
    try:
        def next_drift_run(after_number):
            deadline = time.time() + 90
            while time.time() < deadline:
                listed = runs.api.get(f"{runs.ws(ws)}/runs", params={"kind": "drift", "limit": 1}).json()
                if listed and listed[0]["number"] > after_number and listed[0]["final"]:
                    return listed[0]
                time.sleep(0.3)
            raise AssertionError("no drift check ran")

        clean = next_drift_run(run["number"])
        assert clean["status"] == "no_drift", runs.log(ws, clean["id"])
        assert clean["created_by"] == "drift-schedule"
        assert runs.workspace_status(ws) == "active"

        # Out of band: someone edits the state behind Terraform's back.
        state = runs.api.get(f"{runs.ws(ws)}/terraform-backend").json()
        state["serial"] += 1
        state["outputs"]["size"]["value"] = "tampered"
        r = runs.api.post(f"{runs.ws(ws)}/terraform-backend", data=json.dumps(state))
        assert r.status_code == 200, describe(r)

        drifted = next_drift_run(clean["number"])
        while drifted["status"] == "no_drift":  # a check that started before the edit
            drifted = next_drift_run(drifted["number"])
        assert drifted["status"] == "drifted", runs.log(ws, drifted["id"])
        assert runs.workspace_status(ws) == "drifted"
        assert drifted["summary"]["plan_data_id"], "the drift plan is stored"
        events = runs.events(ws, run_id=drifted["id"])
        assert any(e["event_type"] == "drifted" for e in events), events
    finally:
        runs.api.delete(drift_config)


@needs_terraform
def test_a_decompression_bomb_is_refused_early(runs):
    ws = runs.workspace()

    def bomb(tar):
        size = 64 << 20  # 64 MiB of zeros: about 64 KiB compressed
        info = tarfile.TarInfo("zeros.bin")
        info.size = size

        class Zeros(io.RawIOBase):
            def __init__(self):
                self.left = size

            def readable(self):
                return True

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n

        tar.addfile(info, io.BufferedReader(Zeros()))

    archive = targz({"main.tf": CONFIG}, bomb)
    assert len(archive) < 1 << 20
    execution = runs.upload(ws, archive)
    r = runs.api.post(f"{runs.ws(ws)}/remote-executions/{execution['id']}/execute", json={"kind": "plan"})
    run = runs.wait(ws, r.json()["run"]["id"], {"failed", "planned"})
    assert run["status"] == "failed"
    assert "ratio" in run["summary"]["error"] or "limit" in run["summary"]["error"], run["summary"]


def test_a_missing_provisioner_binary_fails_the_run_at_once(spawn_server, uid):
    srv = spawn_server("--terraform-bin", "/nonexistent/terraform")
    runs = Runs(srv.client(srv.admin_token(), "default"), uid)
    ws = runs.workspace()
    run = runs.run_from(ws, {"main.tf": CONFIG}, kind="plan")
    run = runs.wait(ws, run["id"], {"failed", "planned"}, timeout=30)
    assert run["status"] == "failed"
    assert "/nonexistent/terraform" in run["summary"]["error"]
    assert "--terraform-bin" in run["summary"]["error"]


@needs_terraform
def test_another_provisioner_version_is_a_warning(runs):
    ws = runs.workspace(provisioner_version="0.0.1")
    run = runs.run_from(ws, {"main.tf": CONFIG}, kind="plan")
    run = runs.wait(ws, run["id"], {"planned", "failed"})
    assert run["status"] == "planned", runs.log(ws, run["id"])
    log = runs.log(ws, run["id"])
    assert "warning: the workspace asks for version 0.0.1" in log, log
