"""`statehouse plan` / `statehouse apply`: the CLI-driven runs command, run as a subprocess
against the real server through its public API (pack with .terraformignore, upload, execute,
log streaming, approval, cancel on Ctrl-C, credentials, exit codes).

Terraform tests use `terraform_data` and `local-exec` only (no provider download); they are
skipped, saying so, only where the terraform binary is missing.
"""
from __future__ import annotations

import io
import json
import os
import pty
import shutil
import signal
import subprocess
import tarfile
import threading
import time

import pytest

from conftest import BIN, free_port, require_binary
from spec_schema import describe

TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None, reason="terraform is not on the PATH")

CONFIG = """
resource "terraform_data" "a" {
  input = "hello"
}
output "a" {
  value = terraform_data.a.output
}
"""

SLEEPER = """
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 600"
  }
}
"""


class Cli:
    """A fresh account, org, project and workspace, a config directory, and the binary."""

    def __init__(self, server, tenant, uid, tmp_path):
        require_binary()
        t = tenant()
        self.server = server
        self.api = t.api
        self.token = t.admin_token
        org, project, ws = uid("org"), uid("prj"), uid("ws")
        self.api.create_org(org)
        self.api.create_project(org, project)
        body = {"identifier": ws, "name": ws, "provisioner": "terraform", "provider_connector": "",
                "terraform_variables": {}, "environment_variables": {}}
        r = self.api.post(f"/iacm/api/orgs/{org}/projects/{project}/workspaces", json=body)
        assert r.status_code == 200, describe(r)
        self.workspace = f"{org}/{project}/{ws}"
        self.base = f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{ws}"
        self.dir = tmp_path / "config"
        self.dir.mkdir()
        (self.dir / "main.tf").write_text(CONFIG)
        # Its own config home: no credentials file of the machine is read.
        self.home = tmp_path / "home"
        self.home.mkdir()

    def env(self, token=True, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STATEHOUSE_")}
        env["HOME"] = str(self.home)
        env["XDG_CONFIG_HOME"] = str(self.home / ".config")
        if token:
            env["STATEHOUSE_TOKEN"] = self.token
        env.update(extra)
        return env

    def args(self, command, *more, workspace=None, server=None) -> list:
        return [str(BIN), command, "--server", server or self.server.base_url,
                "--workspace", workspace or self.workspace, "--dir", str(self.dir), *more]

    def run(self, command, *more, token=True, stdin=subprocess.DEVNULL, timeout=300,
            **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.args(command, *more, **kw), env=self.env(token), stdin=stdin,
                              capture_output=True, text=True, timeout=timeout)

    def latest_run(self) -> dict:
        r = self.api.get(f"{self.base}/runs", params={"limit": 1})
        assert r.status_code == 200, describe(r)
        assert r.json(), "no run was created"
        return r.json()[0]

    def runs_count(self) -> int:
        r = self.api.get(f"{self.base}/runs", params={"limit": 1})
        assert r.status_code == 200, describe(r)
        return int(r.headers.get("X-Total-Elements", "0"))

    def wait(self, run_id, statuses, timeout=60) -> dict:
        deadline = time.time() + timeout
        while True:
            run = self.api.get(f"{self.base}/runs/{run_id}").json()
            if run["status"] in statuses:
                return run
            assert time.time() < deadline, f"run still {run['status']}, wanted {statuses}"
            time.sleep(0.2)


@pytest.fixture
def cli(server, tenant, uid, tmp_path):
    return Cli(server, tenant, uid, tmp_path)


def output(p) -> str:
    return f"exit {p.returncode}\n--- stdout ---\n{p.stdout[-4000:]}\n--- stderr ---\n{p.stderr[-4000:]}"


# ---- plan and apply with the real terraform ------------------------------------------------------


@needs_terraform
def test_plan_streams_the_log_and_exits_by_the_plan(cli):
    p = cli.run("plan", "--message", "from the test", "--target", "terraform_data.a")
    assert p.returncode == 0, output(p)
    assert "terraform_data.a will be created" in p.stdout, output(p)
    assert "1 to add" in p.stdout, output(p)
    assert cli.token not in p.stdout + p.stderr
    run = cli.latest_run()
    assert run["status"] == "planned" and run["kind"] == "plan", run
    assert run["message"] == "from the test"
    assert run["id"] in p.stderr, "the run is named"
    execution = cli.api.get(f"{cli.base}/remote-executions/{run['remote_execution_id']}").json()
    assert execution["custom_arguments"] == {"-target": ["terraform_data.a"]}

    # terraform's convention: 2 when the plan has changes.
    p = cli.run("plan", "--detailed-exitcode")
    assert p.returncode == 2, output(p)
    assert cli.latest_run()["status"] == "planned"


@needs_terraform
def test_apply_auto_approve_applies_and_a_second_plan_has_no_changes(cli):
    p = cli.run("apply", "--auto-approve")
    assert p.returncode == 0, output(p)
    assert "Apply complete" in p.stdout, output(p)
    run = cli.latest_run()
    assert run["status"] == "applied" and run["kind"] == "apply", run
    state = cli.api.get(f"{cli.base}/terraform-backend")
    assert state.status_code == 200, describe(state)
    resources = state.json()["resources"]
    assert any(r["type"] == "terraform_data" and r["name"] == "a" for r in resources), resources

    p = cli.run("plan", "--detailed-exitcode")
    assert p.returncode == 0, output(p)
    assert "No changes" in p.stdout, output(p)


@needs_terraform
def test_apply_without_a_terminal_discards_and_points_to_auto_approve(cli):
    p = cli.run("apply")
    assert p.returncode == 1, output(p)
    assert "--auto-approve" in p.stderr, output(p)
    assert "1 to add" in p.stdout + p.stderr
    run = cli.latest_run()
    assert run["status"] == "discarded", run
    assert cli.api.get(f"{cli.base}/terraform-backend").status_code == 204, "nothing applied"


def run_on_terminal(cli, answer: str) -> subprocess.CompletedProcess:
    """statehouse apply with a pseudo-terminal as stdin, answering the prompt with answer."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(cli.args("apply"), env=cli.env(), stdin=slave,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.close(slave)
        slave = None
        os.write(master, answer.encode() + b"\n")  # the line waits in the terminal until read
        # Drain the terminal's echo so that it never fills up.
        drain = threading.Thread(target=lambda: _drain(master), daemon=True)
        drain.start()
        out, err = proc.communicate(timeout=300)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        if slave is not None:
            os.close(slave)


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


@needs_terraform
def test_apply_asks_on_a_terminal_and_yes_applies(cli):
    p = run_on_terminal(cli, "yes")
    assert p.returncode == 0, output(p)
    assert "Only 'yes' will be accepted" in p.stderr, output(p)
    assert "Plan: 1 to add, 0 to change, 0 to destroy" in p.stderr, output(p)
    assert "Apply complete" in p.stdout, output(p)
    run = cli.latest_run()
    assert run["status"] == "applied" and run["approved_by"], run


@needs_terraform
def test_apply_on_a_terminal_anything_but_yes_discards(cli):
    p = run_on_terminal(cli, "y")
    assert p.returncode == 1, output(p)
    assert "discarded" in p.stderr.lower(), output(p)
    assert cli.latest_run()["status"] == "discarded"


@needs_terraform
def test_ctrl_c_cancels_the_run(cli):
    (cli.dir / "main.tf").write_text(SLEEPER)
    proc = subprocess.Popen(cli.args("apply", "--auto-approve"), env=cli.env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = threading.Event()
    lines = []

    def read():
        for line in proc.stdout:
            lines.append(line)
            if "terraform_data.slow: Creating..." in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert seen.wait(120), "".join(lines)  # the log streams while the run runs
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert rc == 130, f"exit {rc}\n{''.join(lines)}\n{err}"
    assert "cancel" in err.lower(), err
    run = cli.wait(cli.latest_run()["id"], {"cancelled", "failed", "applied"})
    assert run["status"] == "cancelled", run


# ---- the archive -----------------------------------------------------------------------------


def test_terraformignore_is_respected(cli):
    (cli.dir / "secret.auto.tfvars").write_text('password = "hunter2"\n')
    (cli.dir / "debug.log").write_text("noise\n")
    (cli.dir / "modules").mkdir()
    (cli.dir / "modules" / "keep.tf").write_text("# kept\n")
    (cli.dir / ".terraformignore").write_text("# local files\nsecret.auto.tfvars\n*.log\n")
    p = cli.run("plan")
    # Without terraform the run fails on the server, but the upload happened all the same.
    assert p.returncode == (0 if TERRAFORM else 1), output(p)
    run = cli.latest_run()
    r = cli.api.get(f"{cli.base}/remote-executions/{run['remote_execution_id']}/download")
    assert r.status_code == 200, describe(r)
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"main.tf", "modules/keep.tf"} <= names, names
    assert "secret.auto.tfvars" not in names and "debug.log" not in names, names


# ---- credentials -------------------------------------------------------------------------------


def test_credentials_file_must_be_private(cli):
    creds = cli.home / ".config" / "statehouse" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({"tokens": {cli.server.base_url + "/": cli.token}}))
    creds.chmod(0o644)
    p = cli.run("plan", token=False)
    assert p.returncode == 2, output(p)
    assert "0600" in p.stderr and str(creds) in p.stderr, output(p)
    assert cli.token not in p.stdout + p.stderr
    assert cli.runs_count() == 0

    creds.chmod(0o600)
    p = cli.run("plan", token=False)
    assert p.returncode == (0 if TERRAFORM else 1), output(p)
    assert "HTTP 401" not in p.stderr and cli.token not in p.stdout + p.stderr
    assert cli.runs_count() == 1

    # No entry for this server: a usage error that says so.
    creds.write_text(json.dumps({"tokens": {"http://elsewhere:8080": cli.token}}))
    p = cli.run("plan", token=False)
    assert p.returncode == 2 and "no token for" in p.stderr, output(p)
    # No file and no STATEHOUSE_TOKEN.
    creds.unlink()
    p = cli.run("plan", token=False)
    assert p.returncode == 2 and "STATEHOUSE_TOKEN" in p.stderr, output(p)


def test_a_wrong_token_is_refused_clearly(cli):
    p = subprocess.run(cli.args("plan"), env=cli.env(STATEHOUSE_TOKEN="sat.nope.nope"),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "HTTP 401" in p.stderr, output(p)
    assert cli.runs_count() == 0


# ---- usage errors and an unreachable server ---------------------------------------------------


def test_usage_errors_exit_2(cli):
    p = cli.run("plan", workspace="nope")
    assert p.returncode == 2 and "ORG/PROJECT/WORKSPACE" in p.stderr, output(p)
    p = subprocess.run([str(BIN), "plan", "--server", cli.server.base_url], env=cli.env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--workspace" in p.stderr, output(p)
    p = cli.run("apply", server="https://127.0.0.1:8443")
    assert p.returncode == 2 and "https://" in p.stderr, output(p)
    p = cli.run("plan", "--no-such-flag")
    assert p.returncode == 2, output(p)
    p = subprocess.run([*cli.args("plan")[:-2], "--dir", str(cli.dir / "missing")], env=cli.env(),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "not a directory" in p.stderr, output(p)
    # --auto-approve belongs to apply only.
    assert cli.run("plan", "--auto-approve").returncode == 2
    # The workspace may come from the environment.
    p = subprocess.run([str(BIN), "plan", "--server", cli.server.base_url, "--dir", str(cli.dir)],
                       env=cli.env(STATEHOUSE_WORKSPACE="a/b"), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "'a/b'" in p.stderr, output(p)
    assert cli.runs_count() == 0


def test_unreachable_server_and_unknown_workspace_exit_1(cli):
    p = cli.run("plan", server=f"http://127.0.0.1:{free_port()}")
    assert p.returncode == 1, output(p)
    assert "cannot reach the server at http://127.0.0.1:" in p.stderr, output(p)
    org, project, _ = cli.workspace.split("/")
    p = cli.run("plan", workspace=f"{org}/{project}/no_such_ws")
    assert p.returncode == 1 and "not found" in p.stderr.lower(), output(p)
    assert "HTTP 404" in p.stderr, output(p)
