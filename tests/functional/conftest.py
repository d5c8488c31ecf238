"""Fixtures for the black-box functional suite: run the real `statehouse` binary.

Environment:
    STATEHOUSE_BIN       server binary (default <repo>/build/statehouse)
    STATEHOUSE_SPEC_DIR  OpenAPI documents (default <repo>/../shared/spec), see spec_schema.py

One server is started for the whole session (fixture ``server``).  Tests that need their own
short-lived server (start-up, shutdown, flags) use ``ServerProcess`` through ``spawn_server``.
Every test makes its own uniquely named objects (``uid``) or its own account (``tenant``).
"""
from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import types
import urllib.parse
import uuid
import warnings

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("STATEHOUSE_BIN", REPO / "build" / "statehouse"))

READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str = "t") -> str:
    """An identifier matching ^[a-zA-Z_][0-9a-zA-Z_]*$ that no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def require_binary():
    if not BIN.exists():
        pytest.fail(f"statehouse binary not found at {BIN} (build it or set STATEHOUSE_BIN)",
                    pytrace=False)


# With STATEHOUSE_TEST_PG_URL (a PostgreSQL server URL, e.g. postgres://postgres@127.0.0.1:5432)
# every server of the suite runs on PostgreSQL: each data dir gets its own database.
PG_URL = os.environ.get("STATEHOUSE_TEST_PG_URL", "").rstrip("/")


def database_args(data_dir) -> list:
    """--database for a data dir in PostgreSQL mode (creating its database once), else []."""
    if not PG_URL:
        return []
    import hashlib
    name = "sh_" + hashlib.sha256(str(pathlib.Path(data_dir).resolve()).encode()).hexdigest()[:20]
    marker = pathlib.Path(data_dir) / ".pg-database"
    if not marker.exists():
        pathlib.Path(data_dir).mkdir(parents=True, exist_ok=True)
        subprocess.run(["psql", f"{PG_URL}/postgres", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f'CREATE DATABASE "{name}"'], check=True, capture_output=True, timeout=60)
        marker.write_text(name)
    return ["--database", f"{PG_URL}/{name}"]


def run_admin(data_dir, *args, check=True) -> subprocess.CompletedProcess:
    """Run `statehouse admin --data-dir DIR ARGS...` (works while a server is running)."""
    require_binary()
    cmd = [str(BIN), "admin", "--data-dir", str(data_dir), *database_args(data_dir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstdout: {proc.stdout}\n"
                             f"stderr: {proc.stderr}")
    return proc


class RawResponse:
    """Just enough of requests.Response for spec_schema.assert_error / expect."""

    def __init__(self, status, headers, content, request):
        self.status_code = status
        self.headers = headers
        self.content = content
        self.text = content.decode("utf-8", errors="replace")
        self.request = request

    def json(self):
        return json.loads(self.text)


def raw_request(base_url, method, path, headers, body: bytes, chunked=False, chunk_size=64 * 1024):
    """Send one request over a plain socket and read the answer even if the server stops reading
    the body early (it may answer 413 and close while we are still sending: requests' chunked
    upload turns that into a ConnectionError, a real client reads the response)."""
    host, port = urllib.parse.urlsplit(base_url).netloc.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=HTTP_TIMEOUT)
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
    try:
        sock.sendall(head.encode() + b"\r\n")
        for i in range(0, len(body), chunk_size):
            part = body[i:i + chunk_size]
            sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered early; read what it said
    data = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                break
            data += got
    except ConnectionResetError:
        pass
    finally:
        sock.close()
    head_raw, sep, content = data.partition(b"\r\n\r\n")
    assert sep, f"no HTTP response to {method} {path} (got {data[:200]!r})"
    lines = head_raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = requests.structures.CaseInsensitiveDict()
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip()] = v.strip()
    if "Content-Length" in hdrs:
        content = content[:int(hdrs["Content-Length"])]
    req = types.SimpleNamespace(method=method, url=base_url + path, headers=headers,
                                body=body[:300])
    return RawResponse(status, hdrs, content, req)


class Api:
    """A thin requests wrapper that adds x-api-key / Harness-Account headers."""

    _UNSET = object()

    def __init__(self, base_url: str, token: str | None = None, account: str | None = None):
        self.base_url = base_url
        self.token = token
        self.account = account
        self.session = requests.Session()

    def as_(self, token=_UNSET, account=_UNSET) -> "Api":
        return Api(self.base_url,
                   self.token if token is Api._UNSET else token,
                   self.account if account is Api._UNSET else account)

    def request(self, method, path, *, headers=None, **kw) -> requests.Response:
        h = {}
        if self.token is not None:
            h["x-api-key"] = self.token
        if self.account is not None:
            h["Harness-Account"] = self.account
        h.update(headers or {})
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.session.request(method, self.base_url + path, headers=h, **kw)

    def raw_post(self, path, body: bytes, content_type="application/json", chunked=False):
        h = {"Content-Type": content_type}
        if self.token is not None:
            h["x-api-key"] = self.token
        if self.account is not None:
            h["Harness-Account"] = self.account
        return raw_request(self.base_url, "POST", path, h, body, chunked=chunked)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # convenience creators used by many tests -------------------------------------------
    def create_org(self, identifier, name=None, **extra):
        org = {"identifier": identifier, "name": name or f"Org {identifier}", **extra}
        r = self.post("/v1/orgs", json={"org": org})
        assert r.status_code == 201, f"create org {identifier}: {r.status_code} {r.text[:500]}"
        return r.json()

    def create_project(self, org, identifier, name=None, **extra):
        project = {"identifier": identifier, "name": name or f"Project {identifier}", **extra}
        r = self.post(f"/v1/orgs/{org}/projects", json={"project": project})
        assert r.status_code == 201, f"create project {org}/{identifier}: {r.status_code} {r.text[:500]}"
        return r.json()

    # API keys and tokens (service-account keys of this client's account) -----------------
    def apikey_body(self, identifier=None, parent=None, **extra) -> dict:
        identifier = identifier or unique("key")
        return {"identifier": identifier, "name": f"Key {identifier}", "apiKeyType": "SERVICE_ACCOUNT",
                "parentIdentifier": parent or unique("sa"), "accountIdentifier": self.account, **extra}

    def create_apikey(self, identifier=None, parent=None, **extra) -> dict:
        """POST /ng/api/apikey; returns the ApiKey (response data)."""
        body = self.apikey_body(identifier, parent, **extra)
        r = self.post("/ng/api/apikey", params={"accountIdentifier": self.account}, json=body)
        assert r.status_code == 200, f"create apikey: {r.status_code} {r.text[:500]}"
        return r.json()["data"]

    def key_params(self, key: dict, **more) -> dict:
        """The query parameters the spec requires to address a key or its tokens."""
        return {"accountIdentifier": self.account, "apiKeyType": "SERVICE_ACCOUNT",
                "parentIdentifier": key["parentIdentifier"], "apiKeyIdentifier": key["identifier"], **more}

    def token_body(self, key: dict, identifier=None, **extra) -> dict:
        identifier = identifier or unique("tok")
        return {"identifier": identifier, "name": f"Token {identifier}", "apiKeyIdentifier": key["identifier"],
                "parentIdentifier": key["parentIdentifier"], "apiKeyType": "SERVICE_ACCOUNT",
                "accountIdentifier": self.account, **extra}

    def post_token(self, key: dict, identifier=None, **extra) -> requests.Response:
        return self.post("/ng/api/token", params={"accountIdentifier": self.account},
                         json=self.token_body(key, identifier, **extra))

    def create_token(self, key: dict, identifier=None, **extra) -> str:
        """POST /ng/api/token; returns the token value."""
        r = self.post_token(key, identifier, **extra)
        assert r.status_code == 200, f"create token: {r.status_code} {r.text[:500]}"
        return r.json()["data"]


class ServerProcess:
    """One `statehouse serve` process on a free port with its own data dir."""

    def __init__(self, data_dir: pathlib.Path, log_dir: pathlib.Path, extra_args=()):
        self.data_dir = pathlib.Path(data_dir)
        self.log_dir = pathlib.Path(log_dir)
        self.extra_args = list(extra_args)
        self.port = None
        self.proc = None
        self.stdout_path = self.log_dir / "stdout.log"
        self.stderr_path = self.log_dir / "stderr.log"

    @property
    def tls(self) -> bool:
        return "--tls-cert" in self.extra_args

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self):
        require_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        last_err = None
        for _attempt in range(3):  # a free port can be taken between probe and bind
            self.port = free_port()
            db_args = [] if "--database" in self.extra_args else database_args(self.data_dir)
            cmd = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}",
                   "--data-dir", str(self.data_dir), *db_args, *self.extra_args]
            self._out = open(self.stdout_path, "ab")
            self._err = open(self.stderr_path, "ab")
            self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err,
                                         stdin=subprocess.DEVNULL)
            try:
                self.wait_ready()
                return self
            except AssertionError as e:
                last_err = e
                exited_early = self.proc.poll() is not None
                self.kill()
                if not exited_early:  # hung rather than failed to bind: do not retry
                    raise
        raise last_err

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"statehouse exited with {self.proc.returncode} before ready\n"
                                     f"{self.output()}")
            try:
                # Readiness only: TLS tests check the certificate themselves.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = requests.get(self.base_url + "/healthz", timeout=1, verify=False)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"statehouse not healthy after {timeout}s\n{self.output()}")

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"--- stdout ---\n{self.stdout()[-3000:]}\n--- stderr ---\n{err[-3000:]}"

    def admin_token(self) -> str:
        return (self.data_dir / "admin.token").read_text().strip()

    def terminate(self, timeout=STOP_TIMEOUT) -> int:
        """SIGTERM and wait; returns the exit code (kills and fails if it hangs)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"statehouse did not exit within {timeout}s of SIGTERM")
        finally:
            self._close_logs()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close_logs()

    def _close_logs(self):
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()

    # admin helpers ----------------------------------------------------------------------
    def admin(self, *args, check=True):
        return run_admin(self.data_dir, *args, check=check)

    def create_account(self, account: str):
        self.admin("create-account", account)

    def create_token(self, account: str, role: str = "admin", org=None, project=None) -> str:
        args = ["create-token", "--account", account, "--role", role]
        if org:
            args += ["--org", org]
        if project:
            args += ["--project", project]
        out = self.admin(*args).stdout.split()
        assert out, f"create-token printed nothing for {args}"
        return out[-1]

    def client(self, token, account) -> Api:
        return Api(self.base_url, token, account)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The shared server for the whole run (account `default`, admin token from admin.token)."""
    require_binary()
    base = tmp_path_factory.mktemp("statehouse")
    srv = ServerProcess(base / "data", base / "logs")
    srv.start()
    deadline = time.monotonic() + 5
    while not (srv.data_dir / "admin.token").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield srv
    try:
        srv.terminate()
    except AssertionError:
        pass
    finally:
        srv.kill()


@pytest.fixture(scope="session")
def admin_token(server) -> str:
    path = server.data_dir / "admin.token"
    assert path.exists(), f"{path} not written on first start\n{server.output()}"
    return server.admin_token()


@pytest.fixture
def api(server, admin_token) -> Api:
    """Admin client of account `default`."""
    return Api(server.base_url, admin_token, "default")


@pytest.fixture
def anon(server) -> Api:
    """A client sending no credentials."""
    return Api(server.base_url)


@pytest.fixture
def uid():
    """uid('org') -> a fresh identifier like org_3f2a..."""
    return unique


class Tenant:
    """A freshly created account with an admin client; mint more tokens with .token()."""

    def __init__(self, srv: ServerProcess, account: str):
        self.server = srv
        self.account = account
        self.admin_token = srv.create_token(account, "admin")
        self.api = srv.client(self.admin_token, account)

    def token(self, role="admin", org=None, project=None) -> str:
        return self.server.create_token(self.account, role, org=org, project=project)

    def client(self, role="admin", org=None, project=None) -> Api:
        return self.server.client(self.token(role, org, project), self.account)


@pytest.fixture
def tenant(server):
    """tenant() -> a brand-new account (isolated from every other test)."""
    def make() -> Tenant:
        account = unique("acct")
        server.create_account(account)
        return Tenant(server, account)
    return make


@pytest.fixture
def spawn_server(tmp_path):
    """spawn_server(*extra_args, data_dir=None) -> a started short-lived ServerProcess."""
    started = []

    def spawn(*extra_args, data_dir=None):
        n = len(started)
        srv = ServerProcess(data_dir or tmp_path / f"data{n}", tmp_path / f"logs{n}", extra_args)
        started.append(srv)
        return srv.start()

    yield spawn
    for srv in started:
        srv.kill()


def pytest_terminal_summary(terminalreporter):
    """Say how many response checks were skipped for want of the OpenAPI specs, and why."""
    import spec_schema  # noqa: PLC0415
    if spec_schema.SKIPPED_CHECKS:
        kinds = sorted(set(spec_schema.SKIPPED_CHECKS))
        terminalreporter.write_line(
            f"spec validation SKIPPED {len(spec_schema.SKIPPED_CHECKS)} times ({len(kinds)} schemas): "
            f"{spec_schema.SPEC_DIR} not found (a clone without ../shared); set STATEHOUSE_SPEC_DIR "
            f"or add ../shared/spec to run them (under CI=true they fail instead)")
