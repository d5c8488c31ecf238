"""Configuration of `statehouse serve` and `statehouse admin`: environment variables, a YAML
config file, flags (flags beat the environment, which beats the file), --database URLs, the
JSON request log on stderr, and refusal of invalid settings.

Every server here is short-lived, started with its own port and directories under tmp_path,
and always terminated by the ``launch`` fixture.
"""
from __future__ import annotations

import base64
import json
import os
import pathlib
import signal
import subprocess
import time

import pytest
import requests

from conftest import BIN, HTTP_TIMEOUT, READY_TIMEOUT, STOP_TIMEOUT, free_port, require_binary, unique

EXIT_TIMEOUT = 20.0


def clean_env(**extra) -> dict:
    """The test runner's environment without any STATEHOUSE_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATEHOUSE_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    """A `statehouse` process whose stdout/stderr go to files."""

    def __init__(self, args, env, cwd: pathlib.Path, log_dir: pathlib.Path, port: int):
        self.args = [str(a) for a in args]
        self.port = port
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / "stdout.log"
        self.stderr_path = log_dir / "stderr.log"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([str(BIN), *self.args], env=env, cwd=str(cwd),
                                     stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def output(self) -> str:
        return (f"args: {self.args}\n--- stdout ---\n{self.stdout()[-3000:]}\n"
                f"--- stderr ---\n{self.stderr()[-3000:]}")

    def wait_ready(self, timeout=READY_TIMEOUT) -> bool:
        """True when /healthz answers 200; False if the process exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"statehouse not healthy on port {self.port} after {timeout}s\n"
                             f"{self.output()}")

    def terminate(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"statehouse did not exit within {STOP_TIMEOUT}s of SIGTERM")
        self._close()
        return self.proc.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()

    def _close(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


@pytest.fixture
def launch(tmp_path):
    """launch(make) -> a ready Proc. ``make(port)`` returns (args, env); a process that exits
    before it is ready (e.g. the port was taken meanwhile) is retried on another port."""
    started: list[Proc] = []
    require_binary()

    def start(make, cwd=None):
        cwd = cwd or tmp_path
        last = None
        for _ in range(3):
            port = free_port()
            args, env = make(port)
            p = Proc(args, env, cwd, tmp_path / f"logs{len(started)}", port)
            started.append(p)
            if p.wait_ready():
                return p
            last = p
            if "address already in use" not in p.stderr().lower():
                break
        raise AssertionError(f"statehouse exited with {last.proc.returncode} before ready\n"
                             f"{last.output()}")

    yield start
    for p in started:
        p.kill()


def run_bin(*args, env=None, cwd=None, timeout=EXIT_TIMEOUT) -> subprocess.CompletedProcess:
    """Run the binary to completion; a process that does not exit in time is killed and fails."""
    require_binary()
    try:
        return subprocess.run([str(BIN), *[str(a) for a in args]], env=env or clean_env(),
                              cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:  # subprocess.run kills the child before raising
        raise AssertionError(f"statehouse {' '.join(map(str, args))} did not exit within "
                             f"{timeout}s (stdout: {e.stdout!r}, stderr: {e.stderr!r})")


def wait_for_file(path: pathlib.Path, timeout=5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


def admin_token_of(data_dir: pathlib.Path) -> str:
    path = data_dir / "admin.token"
    assert wait_for_file(path), f"{path} was not written"
    return path.read_text().strip()


def log_lines(text: str) -> list[dict]:
    """Every stderr line must be one JSON object."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"stderr line is not JSON: {line!r}")
        assert isinstance(obj, dict), f"stderr line is not a JSON object: {line!r}"
        out.append(obj)
    return out


def wait_for_log(p: Proc, predicate, timeout=5.0) -> list[dict]:
    """The parsed stderr once some line satisfies predicate (the log is written after the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(p.stderr())
        if any(predicate(l) for l in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def get_orgs(base_url: str, token: str, account: str = "default") -> requests.Response:
    return requests.get(base_url + "/v1/orgs", headers={"x-api-key": token, "Harness-Account": account},
                        timeout=HTTP_TIMEOUT)


# --- environment variables -----------------------------------------------------------------


def test_env_vars_only_set_port_and_data_dir(launch, tmp_path):
    data_dir = tmp_path / "env-data"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    p = launch(lambda port: (["serve"], clean_env(STATEHOUSE_LISTEN=f"127.0.0.1:{port}",
                                                  STATEHOUSE_DATA_DIR=data_dir,
                                                  STATEHOUSE_LOG_LEVEL="info")), cwd=cwd)
    token = admin_token_of(data_dir)
    assert (data_dir / "statehouse.db").exists(), p.output()
    assert not (cwd / "data").exists(), "the default ./data was used despite STATEHOUSE_DATA_DIR"
    r = get_orgs(p.base_url, token)
    assert r.status_code == 200, r.text
    assert p.terminate() == 0


def test_env_log_level_is_applied(launch, tmp_path):
    data_dir = tmp_path / "quiet"
    p = launch(lambda port: (["serve"], clean_env(STATEHOUSE_LISTEN=f"127.0.0.1:{port}",
                                                  STATEHOUSE_DATA_DIR=data_dir,
                                                  STATEHOUSE_LOG_LEVEL="warn")))
    token = admin_token_of(data_dir)
    for _ in range(3):
        assert get_orgs(p.base_url, token).status_code == 200
    assert p.terminate() == 0
    lines = log_lines(p.stderr())
    info = [l for l in lines if l.get("level") in ("info", "debug")]
    assert not info, f"info lines logged at STATEHOUSE_LOG_LEVEL=warn: {info[:3]}"


def test_env_config_file_variable(launch, tmp_path):
    data_dir = tmp_path / "cfg-env-data"
    cfg = tmp_path / "via-env.yaml"

    def make(port):
        cfg.write_text(f"listen: 127.0.0.1:{port}\ndata-dir: {data_dir}\n")
        return ["serve"], clean_env(STATEHOUSE_CONFIG=cfg)

    p = launch(make)
    assert (data_dir / "statehouse.db").exists(), p.output()
    assert get_orgs(p.base_url, admin_token_of(data_dir)).status_code == 200
    assert p.terminate() == 0


# --- config file ---------------------------------------------------------------------------


def test_config_file_sets_listen_and_data_dir(launch, tmp_path):
    data_dir = tmp_path / "file-data"
    cfg = tmp_path / "statehouse.yaml"
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    def make(port):
        cfg.write_text(f"listen: 127.0.0.1:{port}\ndata-dir: {data_dir}\nlog-level: info\n")
        return ["serve", "--config", cfg], clean_env()

    p = launch(make, cwd=cwd)
    assert (data_dir / "statehouse.db").exists(), p.output()
    assert not (cwd / "data").exists()
    assert get_orgs(p.base_url, admin_token_of(data_dir)).status_code == 200
    assert p.terminate() == 0


def test_config_file_underscore_keys(launch, tmp_path):
    data_dir = tmp_path / "underscore-data"
    cfg = tmp_path / "underscore.yaml"

    def make(port):
        cfg.write_text(f"listen: 127.0.0.1:{port}\ndata_dir: {data_dir}\nworker_threads: 2\n")
        return ["serve", "--config", cfg], clean_env()

    p = launch(make)
    assert (data_dir / "statehouse.db").exists(), p.output()
    assert p.terminate() == 0


def test_flag_beats_config_file(launch, tmp_path):
    file_dir = tmp_path / "from-file"
    flag_dir = tmp_path / "from-flag"
    cfg = tmp_path / "statehouse.yaml"
    cfg.write_text(f"listen: 127.0.0.1:1\ndata-dir: {file_dir}\n")  # port 1: never reachable
    p = launch(lambda port: (["serve", "--config", cfg, "--listen", f"127.0.0.1:{port}",
                              "--data-dir", flag_dir], clean_env()))
    assert (flag_dir / "statehouse.db").exists(), p.output()
    assert not file_dir.exists(), "the config file's data-dir was used despite --data-dir"
    assert p.terminate() == 0


def test_env_beats_config_file(launch, tmp_path):
    file_dir = tmp_path / "from-file"
    env_dir = tmp_path / "from-env"
    cfg = tmp_path / "statehouse.yaml"

    def make(port):
        cfg.write_text(f"listen: 127.0.0.1:{port}\ndata-dir: {file_dir}\n")
        return ["serve", "--config", cfg], clean_env(STATEHOUSE_DATA_DIR=env_dir)

    p = launch(make)
    assert (env_dir / "statehouse.db").exists(), p.output()
    assert not file_dir.exists(), "the config file's data-dir beat STATEHOUSE_DATA_DIR"
    assert p.terminate() == 0


def test_config_file_with_unknown_key_is_refused(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"listen: 127.0.0.1:{free_port()}\ndata-dir: {tmp_path / 'd'}\nlisten_port: 80\n")
    r = run_bin("serve", "--config", cfg, cwd=tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "listen_port" in r.stderr, r.stderr


def test_missing_config_file_is_refused(tmp_path):
    r = run_bin("serve", "--config", tmp_path / "absent.yaml", "--listen", f"127.0.0.1:{free_port()}",
                "--data-dir", tmp_path / "d", cwd=tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "absent.yaml" in r.stderr, r.stderr


# --- flags beat the environment ------------------------------------------------------------


def test_flag_beats_env_var(launch, tmp_path):
    env_dir = tmp_path / "env-dir"
    flag_dir = tmp_path / "flag-dir"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", flag_dir],
                             clean_env(STATEHOUSE_LISTEN="127.0.0.1:1", STATEHOUSE_DATA_DIR=env_dir)))
    assert (flag_dir / "statehouse.db").exists(), p.output()
    assert not env_dir.exists(), "STATEHOUSE_DATA_DIR beat --data-dir"
    assert get_orgs(p.base_url, admin_token_of(flag_dir)).status_code == 200
    assert p.terminate() == 0


def test_database_flag_beats_env_var(launch, tmp_path):
    env_db = tmp_path / "env.db"
    flag_db = tmp_path / "flag.db"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", tmp_path / "dd",
                              "--database", f"sqlite://{flag_db}"],
                             clean_env(STATEHOUSE_DATABASE_URL=f"sqlite://{env_db}")))
    assert flag_db.exists(), f"--database was ignored\n{p.output()}"
    assert not env_db.exists(), "STATEHOUSE_DATABASE_URL beat --database"
    assert p.terminate() == 0


def test_admin_data_dir_flag_beats_env_var(tmp_path):
    r = run_bin("admin", "--data-dir", tmp_path / "flag", "create-account", "acct_a", cwd=tmp_path,
                env=clean_env(STATEHOUSE_DATA_DIR=tmp_path / "env"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "flag" / "statehouse.db").exists()
    assert not (tmp_path / "env").exists()


def test_log_level_flag_beats_env(launch, tmp_path):
    data_dir = tmp_path / "lvl"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                              "--log-level", "info"],
                             clean_env(STATEHOUSE_LOG_LEVEL="error")))
    token = admin_token_of(data_dir)
    r = get_orgs(p.base_url, token)
    assert r.status_code == 200
    lines = wait_for_log(p, lambda l: l.get("msg") == "request")
    assert any(l.get("msg") == "request" for l in lines), \
        f"no request line at --log-level info (env said error)\n{p.output()}"
    assert p.terminate() == 0


# --- --database -----------------------------------------------------------------------------


def test_database_sqlite_url_puts_db_there(launch, tmp_path):
    data_dir = tmp_path / "dd"
    db_path = tmp_path / "elsewhere" / "nested" / "custom.db"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                              "--database", f"sqlite://{db_path}"], clean_env()))
    assert str(db_path).startswith("/")
    assert db_path.exists(), f"{db_path} not created\n{p.output()}"
    assert not (data_dir / "statehouse.db").exists(), "the data dir's default db was used too"
    assert get_orgs(p.base_url, admin_token_of(data_dir)).status_code == 200
    assert p.terminate() == 0


def test_second_server_on_one_sqlite_database_is_refused(launch, tmp_path):
    """The SQLite server's caches trust that it is the only writer: a second server on the same
    database (another data dir pointing at it) exits with a clear message; the first serves on."""
    data_dir = tmp_path / "first"
    db_path = tmp_path / "shared.db"
    first = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                                  "--database", f"sqlite://{db_path}"], clean_env()))
    second = run_bin("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", tmp_path / "second",
                     "--database", f"sqlite://{db_path}", env=clean_env(), cwd=tmp_path)
    assert second.returncode != 0, second.stdout + second.stderr
    assert "another statehouse server is using" in second.stderr, second.stderr
    assert get_orgs(first.base_url, admin_token_of(data_dir)).status_code == 200
    assert first.terminate() == 0
    # Once the first is gone the database is free again.
    again = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                                  "--database", f"sqlite://{db_path}"], clean_env()))
    assert get_orgs(again.base_url, admin_token_of(data_dir)).status_code == 200
    assert again.terminate() == 0


def test_database_env_var(launch, tmp_path):
    data_dir = tmp_path / "dd"
    db_path = tmp_path / "env.db"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                             clean_env(STATEHOUSE_DATABASE_URL=f"sqlite://{db_path}")))
    assert db_path.exists(), p.output()
    assert not (data_dir / "statehouse.db").exists()
    assert p.terminate() == 0


def test_admin_with_database_url_works_on_that_db(launch, tmp_path):
    data_dir = tmp_path / "dd"
    db_path = tmp_path / "shared" / "admin.db"
    url = f"sqlite://{db_path}"
    account = unique("acct")
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                              "--database", url], clean_env()))
    r = run_bin("admin", "--database", url, "create-account", account, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert account in r.stdout
    r = run_bin("admin", "--database", url, "create-token", "--account", account, "--role", "viewer",
                cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    token = r.stdout.split()[-1]
    assert token.startswith(f"pat.{account}."), r.stdout
    # The running server on that database knows the new account and token.
    resp = get_orgs(p.base_url, token, account)
    assert resp.status_code == 200, resp.text
    # A second create-account on the same db is a conflict.
    r = run_bin("admin", "--database", url, "create-account", account, cwd=tmp_path)
    assert r.returncode != 0, r.stdout
    assert "exists" in r.stderr, r.stderr
    assert p.terminate() == 0
    # Nothing was written to the admin command's default ./data.
    assert not (tmp_path / "data").exists()


def test_admin_database_url_without_server(tmp_path):
    db_path = tmp_path / "offline" / "x.db"
    r = run_bin("admin", "--database", f"sqlite://{db_path}", "create-account", "offline_acct",
                cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert db_path.exists()
    assert not (tmp_path / "data").exists()


def test_unknown_database_scheme_is_refused(tmp_path):
    r = run_bin("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", tmp_path / "d",
                "--database", "mysql://db/x", cwd=tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "--database" in r.stderr, r.stderr


# --- the request log -----------------------------------------------------------------------


def test_stderr_log_is_json_with_request_fields_and_no_token(launch, tmp_path):
    data_dir = tmp_path / "logged"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                              "--log-level", "info"], clean_env()))
    token = admin_token_of(data_dir)
    secret = token.rsplit(".", 1)[1]
    rid = "cfg-test-" + unique("r")[-12:]
    r = requests.get(p.base_url + "/v1/orgs?limit=5", timeout=HTTP_TIMEOUT,
                     headers={"x-api-key": token, "Harness-Account": "default", "X-Request-Id": rid})
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Request-Id") == rid
    # The token in every other place a client might put it.
    basic = base64.b64encode(f"user:{token}".encode()).decode()
    requests.get(p.base_url + "/v1/orgs", headers={"Authorization": f"Basic {basic}"}, timeout=HTTP_TIMEOUT)
    requests.get(p.base_url + "/v1/orgs", headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT)
    requests.get(p.base_url + "/v1/orgs", headers={"x-api-key": token + "x"}, timeout=HTTP_TIMEOUT)
    requests.get(p.base_url + "/v1/orgs", headers={"x-api-key": token, "X-Request-Id": token},
                 timeout=HTTP_TIMEOUT)
    requests.get(p.base_url + "/v1/orgs", params={"searchTerm": token},
                 headers={"x-api-key": token}, timeout=HTTP_TIMEOUT)
    requests.post(p.base_url + "/ng/api/token/validate", params={"accountIdentifier": "default"},
                  data=token, headers={"x-api-key": token, "Content-Type": "text/plain"},
                  timeout=HTTP_TIMEOUT)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # request lines are written after the reply
        if sum(l.get("msg") == "request" for l in log_lines(p.stderr())) >= 7:
            break
        time.sleep(0.05)
    assert p.terminate() == 0
    text = p.stderr()
    lines = log_lines(text)  # every line is JSON

    mine = [l for l in lines if l.get("request_id") == rid]
    assert mine, f"no log line with request_id {rid}\n{text[-3000:]}"
    line = mine[0]
    assert line.get("method") == "GET", line
    assert line.get("path") == "/v1/orgs", line
    assert line.get("status") == 200, line
    assert isinstance(line.get("duration_ms"), (int, float)) and line["duration_ms"] >= 0, line

    requests_logged = [l for l in lines if l.get("msg") == "request"]
    assert len(requests_logged) >= 7, f"expected a line per request\n{text[-3000:]}"
    for l in requests_logged:
        for field in ("request_id", "method", "path", "status", "duration_ms"):
            assert field in l, f"{field} missing in {l}"
    assert token not in text, "the token value appears in the log"
    assert secret not in text, "the token secret appears in the log"


def test_stdout_bootstrap_token_not_on_stderr(launch, tmp_path):
    data_dir = tmp_path / "boot"
    p = launch(lambda port: (["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir],
                             clean_env()))
    token = admin_token_of(data_dir)
    assert p.terminate() == 0
    assert token in p.stdout()
    assert token.rsplit(".", 1)[1] not in p.stderr()
    log_lines(p.stderr())


# --- invalid settings ----------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["nonsense", "127.0.0.1:99999", "127.0.0.1:http", "[::1]", ""])
def test_invalid_listen_flag_exits_nonzero(tmp_path, listen):
    r = run_bin("serve", "--listen", listen, "--data-dir", tmp_path / "d", cwd=tmp_path)
    assert r.returncode != 0, f"--listen {listen!r} was accepted: {r.stdout} {r.stderr}"
    assert "listen" in r.stderr.lower(), r.stderr


def test_invalid_listen_env_exits_nonzero(tmp_path):
    r = run_bin("serve", "--data-dir", tmp_path / "d", cwd=tmp_path,
                env=clean_env(STATEHOUSE_LISTEN="127.0.0.1:70000"))
    assert r.returncode != 0, r.stdout + r.stderr
    assert "listen" in r.stderr.lower(), r.stderr


@pytest.mark.parametrize("level", ["loud", "INFO2", "trace", ""])
def test_invalid_log_level_exits_nonzero(tmp_path, level):
    r = run_bin("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", tmp_path / "d",
                "--log-level", level, cwd=tmp_path)
    assert r.returncode != 0, f"--log-level {level!r} was accepted: {r.stdout} {r.stderr}"
    assert "log-level" in r.stderr, r.stderr


def test_invalid_log_level_env_exits_nonzero(tmp_path):
    r = run_bin("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", tmp_path / "d",
                cwd=tmp_path, env=clean_env(STATEHOUSE_LOG_LEVEL="verbose"))
    assert r.returncode != 0, r.stdout + r.stderr
    assert "log-level" in r.stderr, r.stderr


def test_invalid_settings_do_not_create_the_database(tmp_path):
    r = run_bin("serve", "--listen", "127.0.0.1:99999", "--data-dir", tmp_path / "d", cwd=tmp_path)
    assert r.returncode != 0
    assert not (tmp_path / "d" / "statehouse.db").exists(), "db created before settings were checked"
