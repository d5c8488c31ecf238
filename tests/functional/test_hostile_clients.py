"""Hostile clients: slowloris, non-readers, connection floods, oversized headers, torn bodies,
pipelining, HTTP/1.0 and aborted downloads.

Every test starts its own short-lived server (``spawn_server``) so a misbehaving client cannot
disturb another test, and checks two things besides its own case:

* responsiveness -- while the hostile clients are connected, a well-behaved client on a fresh
  connection gets ``GET /healthz`` and an authenticated ``GET /v1/orgs`` answered within 1 s;
* resources -- afterwards the server's open descriptors (``/proc/<pid>/fd``) come back to their
  baseline, and its RSS does not balloon while the hostile clients are connected.

The server's default limits (src/http/server.h) are long: header 30 s, idle 75 s, body 60 s +
1 s per MiB, 20,000 connections.  Assertions that need those limits to bite use these
``statehouse serve`` flags, and are skipped when ``statehouse serve --help`` does not list them:

    --header-timeout-seconds N   (ServerOptions::header_timeout)
    --idle-timeout-seconds N     (ServerOptions::idle_timeout)
    --body-timeout-seconds N     (ServerOptions::body_timeout; also bounds response writes)
    --max-connections N          (ServerOptions::max_connections)

No test sleeps except to pace a trickle or in a bounded wait for something the server does.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import resource
import select
import socket
import struct
import subprocess
import threading
import time
import types
import uuid
import warnings

import pytest
import requests

from conftest import BIN, Api, require_binary, unique

HEADER_FLAG = "--header-timeout-seconds"
IDLE_FLAG = "--idle-timeout-seconds"
BODY_FLAG = "--body-timeout-seconds"
MAXCONN_FLAG = "--max-connections"

RESPONSIVE_WITHIN = 1.0  # seconds a well-behaved request may take while hostile clients are on
SLACK = 3.0              # seconds allowed beyond a server timeout before we call it missed
FD_SLACK = 3             # descriptors the server may legitimately keep above its baseline
# On PostgreSQL the connection pool opens up to --worker-threads (8) sockets lazily as load
# arrives; those stay open by design.
if os.environ.get("STATEHOUSE_TEST_PG_URL"):
    FD_SLACK += 8
# AddressSanitizer builds (make sanitize-test sets STATEHOUSE_SANITIZED) carry shadow memory and
# quarantine: memory budgets scale up there; the fd and responsiveness checks stay as they are.
MEMORY_SCALE = 4 if os.environ.get("STATEHOUSE_SANITIZED") else 1
RSS_BUDGET_KIB = 64 * 1024 * MEMORY_SCALE


# ---------------------------------------------------------------------------------------
# flags


@functools.lru_cache(maxsize=1)
def serve_help() -> str:
    require_binary()
    out = subprocess.run([str(BIN), "serve", "--help"], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def has_flag(flag: str) -> bool:
    return flag in serve_help()


def need_flags(*flags):
    missing = [f for f in flags if not has_flag(f)]
    if missing:
        pytest.skip(f"`statehouse serve --help` lists no {', '.join(missing)}: with the defaults "
                    f"(30-75 s timeouts, 20,000 connections) this case is too slow to test")


def timeout_args(header=None, idle=None, body=None, max_connections=None) -> list:
    """Flags for the wanted limits, only those the binary knows."""
    args = []
    for flag, value in ((HEADER_FLAG, header), (IDLE_FLAG, idle), (BODY_FLAG, body),
                        (MAXCONN_FLAG, max_connections)):
        if value is not None and has_flag(flag):
            args += [flag, str(value)]
    return args


# ---------------------------------------------------------------------------------------
# the server under attack


def _proc_status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{key} not in /proc/{pid}/status")


class Target:
    """A spawned server plus what the tests measure about it."""

    def __init__(self, srv):
        self.srv = srv
        self.pid = srv.proc.pid
        self.port = srv.port
        self.token = srv.admin_token()
        self.api = Api(srv.base_url, self.token, "default")
        self.auth = {"x-api-key": self.token, "Harness-Account": "default"}
        self.assert_responsive("at start")
        self.open_all_database_connections()
        self.mark_baseline()

    def open_all_database_connections(self):
        """The pool opens its (8) database connections lazily, each with its descriptors; open
        them all before the baseline so only real leaks show afterwards."""
        import concurrent.futures
        url = self.srv.base_url + "/v1/orgs"
        def get(_):
            with contextlib.suppress(requests.RequestException):  # some servers cap connections
                requests.get(url, headers=self.auth, timeout=10)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(get, range(200)))

    def mark_baseline(self):
        """Remember descriptors and RSS now (after a test's own set-up)."""
        self.fd_baseline = self.settled_fds()
        self.rss_baseline = self.rss_kib()

    # measurements -----------------------------------------------------------------------
    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def settled_fds(self, quiet=0.3, timeout=3.0) -> int:
        """The descriptor count once it has not moved for `quiet` seconds (the server closes its
        end of a finished probe connection a moment after the client does)."""
        deadline = time.monotonic() + timeout
        last, since = self.fds(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fds()
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
        return last

    def server_socket_inodes(self, client: socket.socket) -> set:
        """Inodes of the server-side socket(s) of this client connection (/proc/net/tcp)."""
        cport = client.getsockname()[1]
        want_local = f"0100007F:{self.port:04X}"
        want_remote = f"0100007F:{cport:04X}"
        out = set()
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[1] == want_local and cols[2] == want_remote and cols[9] != "0":
                    out.add(cols[9])
        return out

    def holds_any(self, inodes: set) -> bool:
        wanted = {f"socket:[{i}]" for i in inodes}
        return any(t in wanted for t in self._fd_targets())

    def rss_kib(self) -> int:
        return _proc_status(self.pid, "VmRSS")

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def fd_limit(self) -> int:
        with open(f"/proc/{self.pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
        raise AssertionError("no 'Max open files' in /proc/<pid>/limits")

    def stderr_size(self) -> int:
        return self.srv.stderr_path.stat().st_size if self.srv.stderr_path.exists() else 0

    # assertions -------------------------------------------------------------------------
    def assert_alive(self):
        assert self.srv.proc.poll() is None, \
            f"statehouse exited with {self.srv.proc.returncode}\n{self.srv.output()}"

    def assert_responsive(self, when: str):
        """Fresh connections (no session): the accept path is part of what is checked."""
        self.assert_alive()
        for path, headers in (("/healthz", {}), ("/v1/orgs", self.auth)):
            start = time.monotonic()
            try:
                r = requests.get(self.srv.base_url + path, headers=headers, timeout=RESPONSIVE_WITHIN)
            except requests.RequestException as e:
                raise AssertionError(f"GET {path} {when}: no answer within {RESPONSIVE_WITHIN}s "
                                     f"({e!r})") from None
            took = time.monotonic() - start
            assert r.status_code == 200, f"GET {path} {when}: {r.status_code} {r.text[:300]}"
            assert took < RESPONSIVE_WITHIN, f"GET {path} {when} took {took:.2f}s"

    def wait_fds(self, at_most: int, timeout: float) -> int:
        """Bounded wait for the descriptor count to fall to at_most; returns the last count."""
        deadline = time.monotonic() + timeout
        n = self.fds()
        while n > at_most and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fds()
        return n

    def assert_rss_flat(self, when: str, budget_kib=RSS_BUDGET_KIB):
        grown = self.rss_kib() - self.rss_baseline
        assert grown < budget_kib, f"{when}: RSS grew by {grown} KiB (budget {budget_kib} KiB)"

    def assert_fds_back(self, timeout=10.0, when="after the hostile clients left",
                        rss_budget_kib=RSS_BUDGET_KIB):
        """Descriptors back to the baseline (bounded wait), RSS not ballooned."""
        n = self.wait_fds(self.fd_baseline + FD_SLACK, timeout)
        assert n <= self.fd_baseline + FD_SLACK, (
            f"{when}: server holds {n} descriptors, baseline {self.fd_baseline}\n"
            + "\n".join(sorted(self._fd_targets())[:40]))
        self.assert_rss_flat(when, rss_budget_kib)

    def _fd_targets(self):
        out = []
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            with contextlib.suppress(OSError):
                out.append(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
        return out

    def blob_fds(self) -> int:
        return sum(1 for t in self._fd_targets() if "/blobs/" in t)

    # data set-up ------------------------------------------------------------------------
    def workspace(self):
        org, prj, wid = unique("org"), unique("prj"), unique("ws")
        self.api.create_org(org)
        self.api.create_project(org, prj)
        r = self.api.post(f"/iacm/api/orgs/{org}/projects/{prj}/workspaces",
                          json={"identifier": wid, "name": wid, "provisioner": "terraform",
                                "provider_connector": "", "terraform_variables": {},
                                "environment_variables": {}})
        assert r.status_code == 200, r.text[:500]
        return f"/iacm/api/orgs/{org}/projects/{prj}/workspaces/{wid}"

    def put_state(self, ws_path: str, state: bytes):
        r = self.api.post(ws_path + "/terraform-backend", data=state,
                          headers={"Content-Type": "application/json"}, timeout=120)
        assert r.status_code == 200, f"state upload: {r.status_code} {r.text[:300]}"

    def state_versions(self, ws_path: str) -> list:
        r = self.api.get(ws_path + "/data", params={"limit": 100})
        assert r.status_code == 200, r.text[:300]
        return r.json()


def wait_for(predicate, timeout: float) -> bool:
    """Bounded wait for something the server does."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def hostile(spawn_server):
    """hostile(header=, idle=, body=, max_connections=) -> Target on a fresh server (limits set
    only where the binary has the flag)."""

    targets = []

    def start(**limits) -> Target:
        targets.append(Target(spawn_server(*timeout_args(**limits))))
        return targets[-1]

    yield start
    for t in targets:
        t.api.session.close()


@pytest.fixture
def many_fds():
    """Raise this process's RLIMIT_NOFILE to its hard limit (servers spawned afterwards inherit
    it); restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    yield hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def v4_state(serial: int, lineage: str, size: int) -> bytes:
    doc = {"version": 4, "serial": serial, "lineage": lineage, "terraform_version": "1.9.8",
           "outputs": {}, "resources": [{
               "mode": "managed", "type": "null_resource", "name": "pad",
               "provider": 'provider["registry.terraform.io/hashicorp/null"]',
               "instances": [{"schema_version": 0, "attributes": {"id": str(serial), "pad": ""}}]}]}
    pad = max(0, size - len(json.dumps(doc)))
    doc["resources"][0]["instances"][0]["attributes"]["pad"] = \
        (hashlib.sha256(lineage.encode()).hexdigest() * (pad // 64 + 1))[:pad]
    out = json.dumps(doc).encode()
    assert len(out) == size or size < 300
    return out


# ---------------------------------------------------------------------------------------
# raw HTTP over a socket


def request_bytes(method, path, headers=None, body=b"", version="1.1", host="statehouse") -> bytes:
    head = f"{method} {path} HTTP/{version}\r\n"
    if version == "1.1":
        head += f"Host: {host}\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


class Conn:
    """One raw client connection that can read several responses in order."""

    def __init__(self, port, timeout=5.0, rcvbuf=None, sndbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if sndbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        got = self.sock.recv(1 << 16)
        if not got:
            raise EOFError("connection closed by the server")
        self.buf += got

    def read_response(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status = lines[0].split(" ", 2)[:2]
        headers = requests.structures.CaseInsensitiveDict()
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip()] = v.strip()
        n = int(headers.get("Content-Length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return types.SimpleNamespace(version=version, status=int(status), headers=headers, body=body)

    def closed_by_server(self, timeout: float) -> bool:
        """True once the server has closed (EOF or reset) within timeout, reading and discarding
        anything it sends first (an error response)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                got = self.sock.recv(1 << 16)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not got:
                return True
            self.buf += got

    def reset(self):
        """Close with RST (SO_LINGER 0): the abrupt way a killed client goes."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()


def peer_closed(sock: socket.socket) -> bool:
    """Non-blocking: has the server closed (EOF/RST) this socket? Discards any data."""
    saved = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        while True:
            got = sock.recv(1 << 16)
            if not got:
                return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    finally:
        sock.settimeout(saved)


# ---------------------------------------------------------------------------------------
# 1. slowloris


def slowloris(t: Target, n: int, run_for: float, stop_when_all_closed: bool, checks=3):
    """n connections trickle a never-ending header one byte per ~0.1 s for at most run_for
    seconds; half of them first complete one keep-alive request.  The server's responsiveness
    is checked `checks` times on the way.  Returns (sockets, {index: seconds until closed})."""
    socks, closed = [], {}
    for i in range(n):
        c = Conn(t.port)
        if i % 2:
            c.send(request_bytes("GET", "/healthz"))
            assert c.read_response().status == 200
        c.sock.setblocking(False)
        socks.append(c)
    header = (b"GET /v1/orgs HTTP/1.1\r\nHost: statehouse\r\nX-Slow: "
              + b"s" * 4096)  # never reaches the blank line, never exceeds 16 KiB in run_for
    start = time.monotonic()
    next_check, pos = start + run_for / (checks + 1), 0
    while time.monotonic() - start < run_for:
        for i, c in enumerate(socks):
            if i in closed:
                continue
            try:
                c.sock.send(header[pos % len(header):pos % len(header) + 1])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                closed[i] = time.monotonic() - start
                continue
            if peer_closed(c.sock):
                closed[i] = time.monotonic() - start
        pos += 1
        if stop_when_all_closed and len(closed) == n:
            break
        if checks and time.monotonic() >= next_check:
            t.assert_responsive(f"with {n - len(closed)} slowloris connections open")
            checks -= 1
            next_check += run_for / 4
        time.sleep(0.1)  # the trickle's pace
    return socks, closed


def test_slowloris_does_not_starve_other_clients(hostile):
    t = hostile()
    socks, closed = slowloris(t, 50, run_for=3.0, stop_when_all_closed=False)
    try:
        t.assert_responsive("with 50 slowloris connections open")
        assert t.fds() >= t.fd_baseline + 50 - len(closed), "the slowloris connections are not open"
        t.assert_rss_flat("with 50 slowloris connections open")
    finally:
        for c in socks:
            c.close()
    t.assert_fds_back()
    t.assert_responsive("after the slowloris connections closed")


def test_slowloris_is_cut_off_by_the_header_timeout(hostile):
    """The README: 'request headers ... must arrive within 30 s'.  With a 2 s header timeout and
    a long idle timeout, a trickled header (on a fresh connection and on a keep-alive one) must
    be dropped after ~2 s, not after the idle timeout."""
    need_flags(HEADER_FLAG)
    header_timeout, idle_timeout = 2, 30
    t = hostile(header=header_timeout, idle=idle_timeout)
    socks, closed = slowloris(t, 50, run_for=header_timeout + SLACK, stop_when_all_closed=True)
    try:
        still_open = sorted(set(range(50)) - set(closed))
        assert not still_open, (
            f"{len(still_open)} of 50 slowloris connections still open {header_timeout + SLACK}s "
            f"into a {header_timeout}s header timeout (fresh ones: "
            f"{[i for i in still_open if i % 2 == 0][:10]}, after a keep-alive request: "
            f"{[i for i in still_open if i % 2][:10]})")
        assert max(closed.values()) <= header_timeout + SLACK
    finally:
        for c in socks:
            c.close()
    t.assert_fds_back()
    t.assert_responsive("after the header timeout")


# ---------------------------------------------------------------------------------------
# 2. a client that pipelines requests and never reads


def big_json_route(t: Target) -> str:
    for _ in range(100):
        t.api.create_org(unique("org"), description="d" * 1024)
    r = t.api.get("/v1/orgs", params={"limit": 100})
    assert r.status_code == 200 and len(r.content) > 100_000, (r.status_code, len(r.content))
    return "/v1/orgs?limit=100"


def big_state_route(t: Target) -> str:
    ws = t.workspace()
    t.put_state(ws, v4_state(1, str(uuid.uuid4()), 1024 * 1024))
    return ws + "/terraform-backend"


def flood_without_reading(t: Target, path: str, max_seconds=4.0):
    """Pipeline GETs on one connection that never reads, until sending stalls for 0.5 s (both
    sides' buffers are full) or max_seconds pass.  Returns (conn, bytes sent)."""
    c = Conn(t.port, rcvbuf=4096, sndbuf=16384)
    c.sock.setblocking(False)
    req = request_bytes("GET", path, t.auth) * 20
    sent, start = 0, time.monotonic()
    last_progress = start
    while time.monotonic() - start < max_seconds and time.monotonic() - last_progress < 0.5:
        _, writable, _ = select.select([], [c.sock], [], 0.1)
        if not writable:
            continue
        try:
            n = c.sock.send(req)
        except (BlockingIOError, InterruptedError):
            continue
        sent += n
        last_progress = time.monotonic()
    return c, sent


@pytest.mark.parametrize("payload", ["json", "state"])
def test_non_reading_pipeliner_does_not_hurt_others(hostile, payload):
    t = hostile()
    path = big_json_route(t) if payload == "json" else big_state_route(t)
    t.assert_responsive("after set-up")
    t.mark_baseline()
    c, sent = flood_without_reading(t, path)
    try:
        assert sent > 0
        t.assert_responsive(f"while a client sits on {sent} bytes of unread pipelined GETs")
        t.assert_rss_flat("with one non-reading pipelining client")
        t.assert_alive()
    finally:
        c.reset()
    t.assert_fds_back()
    t.assert_responsive("after the non-reading client left")


@pytest.mark.parametrize("payload", ["json", "state"])
def test_non_reading_pipeliner_is_dropped_by_the_write_timeout(hostile, payload):
    """A response write that makes no progress must end after body_timeout (+1 s per MiB):
    the server closes its end of the connection (and, for a state download, the blob it sends)
    although the client still holds its own end."""
    need_flags(BODY_FLAG)
    body_timeout = 2
    t = hostile(body=body_timeout, idle=30)
    path = big_json_route(t) if payload == "json" else big_state_route(t)
    t.mark_baseline()
    c, sent = flood_without_reading(t, path)
    try:
        server_side = t.server_socket_inodes(c.sock)
        assert server_side and t.holds_any(server_side), "cannot find the server's end"
        t.assert_responsive("while a non-reading client is connected")
        # deadline: body_timeout + 1 s per MiB of the response (at most 1 MiB here)
        wait = body_timeout + 1 + SLACK
        assert wait_for(lambda: not t.holds_any(server_side), wait), (
            f"{wait}s after the client stopped reading (write timeout {body_timeout}s + 1 s/MiB) "
            f"the server still holds the connection ({t.blob_fds()} blob file(s) open, "
            f"{t.fds()} fds, baseline {t.fd_baseline}): a stalled {payload} response write "
            f"never times out")
        assert t.blob_fds() == 0
    finally:
        c.reset()
    t.assert_fds_back()
    t.assert_responsive("after the write timeout")


# ---------------------------------------------------------------------------------------
# 3. connection floods


def open_idle(port: int, n: int) -> list:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def test_ten_thousand_idle_connections(hostile, many_fds):
    """Three rounds of 10,000 idle connections: the server keeps answering others, holds a
    descriptor per connection and gives them all back; memory does not grow round after round
    (the allocator may keep what it took)."""
    n = 10_000
    if many_fds < n + 200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {many_fds} < {n + 200}")
    t = hostile()
    server_limit = t.fd_limit()
    if server_limit < n + t.fd_baseline + 50:
        # the server's own RLIMIT_NOFILE is lower: flood what it can hold, and say so
        n = server_limit - t.fd_baseline - 100
        warnings.warn(f"statehouse's descriptor limit is {server_limit}: testing {n} idle "
                      f"connections instead of 10,000")
        if n < 1000:
            pytest.skip(f"statehouse's descriptor limit is only {server_limit}")
    after_round = []
    for round_ in (1, 2, 3):
        socks = open_idle(t.port, n)
        try:
            assert wait_for(lambda: t.fds() >= t.fd_baseline + n, 15), \
                f"round {round_}: server accepted {t.fds() - t.fd_baseline} of {n} connections"
            t.assert_responsive(f"with {n} idle connections open")
            # generous: 20 KiB per idle connection
            t.assert_rss_flat(f"with {n} idle connections open", budget_kib=n * 20 * MEMORY_SCALE)
            t.assert_responsive(f"with {n} idle connections open (again)")
        finally:
            for s in socks:
                s.close()
        t.assert_fds_back(timeout=15, rss_budget_kib=n * 20 * MEMORY_SCALE)
        t.assert_responsive(f"after round {round_} of idle connections closed")
        after_round.append(t.rss_kib())
    # Under AddressSanitizer freed memory sits in quarantine, so rounds cannot be compared;
    # LeakSanitizer checks leaks there instead. The second round may still grow: connections
    # are set up on two network threads, each allocating from its own malloc arena, and a
    # round that splits them differently grows the other arena (seen: +8 to +17 MiB in round 2,
    # then flat for rounds 3 to 5). A leak grows every round, so compare the last two.
    if MEMORY_SCALE == 1:
        assert after_round[2] - after_round[1] < 16 * 1024, \
            f"RSS after each round of {n} idle connections: {after_round} KiB (leak per connection?)"


def test_idle_connections_are_closed_by_the_idle_timeout(hostile):
    need_flags(IDLE_FLAG)
    idle_timeout = 2
    t = hostile(idle=idle_timeout, header=30)
    fresh = [Conn(t.port) for _ in range(100)]
    used = []
    for _ in range(20):
        c = Conn(t.port)
        c.send(request_bytes("GET", "/healthz"))
        assert c.read_response().status == 200
        used.append(c)
    try:
        t.assert_responsive("with 120 idle connections")
        n = t.wait_fds(t.fd_baseline + FD_SLACK, idle_timeout + SLACK)
        assert n <= t.fd_baseline + FD_SLACK, \
            f"{idle_timeout + SLACK}s into a {idle_timeout}s idle timeout the server holds {n} fds"
        for c in fresh + used:
            assert c.closed_by_server(1.0), "an idle connection was not closed"
    finally:
        for c in fresh + used:
            c.close()
    t.assert_responsive("after the idle timeout")


def test_connections_above_max_connections_are_refused_and_service_resumes(hostile):
    need_flags(MAXCONN_FLAG)
    limit = 20
    t = hostile(max_connections=limit)
    keep = Conn(t.port)
    keep.send(request_bytes("GET", "/healthz"))
    assert keep.read_response().status == 200
    flood = [Conn(t.port) for _ in range(2 * limit)]
    try:
        refused = set()

        def enough_refused():
            refused.update(i for i, c in enumerate(flood) if i not in refused and peer_closed(c.sock))
            return len(refused) >= limit + 1

        assert wait_for(enough_refused, 2), \
            f"{len(refused)} of {2 * limit} connections over a limit of {limit} were closed"
        # the kept connection plus the first limit - 1 of the flood are served, the rest refused
        assert refused == set(range(limit - 1, 2 * limit)), sorted(refused)
        keep.send(request_bytes("GET", "/v1/orgs", t.auth))
        assert keep.read_response().status == 200, "an established connection lost service"
    finally:
        for c in flood:
            c.close()
        keep.close()
    t.assert_fds_back()
    t.assert_responsive("once the flood left")


def test_descriptor_exhaustion_does_not_spin_or_flood_the_log(hostile):
    """Out of descriptors (here: the server's RLIMIT_NOFILE lowered to 256 after start, standing
    in for descriptors held by blobs being sent, spool files or the database) the server cannot
    accept.  It must not spin on accept(2) returning EMFILE nor log every spin, must keep
    serving established connections, and must accept again once descriptors are free."""
    t = hostile()
    try:
        resource.prlimit(t.pid, resource.RLIMIT_NOFILE, (256, 256))
    except (PermissionError, OSError) as e:
        pytest.skip(f"cannot lower the server's RLIMIT_NOFILE: {e}")
    limit = t.fd_limit()
    assert limit == 256
    keep = Conn(t.port)
    keep.send(request_bytes("GET", "/healthz"))
    assert keep.read_response().status == 200
    socks = open_idle(t.port, limit + 50)  # the excess waits in the listen backlog
    try:
        assert wait_for(lambda: t.fds() >= limit - 1, 5), f"server holds {t.fds()} fds of {limit}"
        cpu0, log0, start = t.cpu_seconds(), t.stderr_size(), time.monotonic()
        answered = 0
        while time.monotonic() - start < 1.0:  # the established connection still works
            keep.send(request_bytes("GET", "/v1/orgs", t.auth))
            assert keep.read_response().status == 200
            answered += 1
            time.sleep(0.1)
        spent = time.monotonic() - start
        cpu = t.cpu_seconds() - cpu0
        logged = t.stderr_size() - log0
        assert answered >= 5
        assert cpu < 0.2 * spent and logged < 64 * 1024, (
            f"out of descriptors, the server used {cpu:.2f}s CPU in {spent:.2f}s and wrote "
            f"{logged} bytes of log (accept(2) EMFILE busy loop)")
    finally:
        for s in socks:
            s.close()
        keep.close()
    t.assert_fds_back()
    t.assert_responsive("after descriptors were freed")


# ---------------------------------------------------------------------------------------
# 4. oversized headers


@pytest.mark.parametrize("shape", ["one_huge_header", "many_headers", "huge_target"])
def test_one_megabyte_header_is_refused(hostile, shape):
    t = hostile()
    mib = 1024 * 1024
    if shape == "one_huge_header":
        raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * mib + b"\r\n\r\n"
    elif shape == "many_headers":
        raw = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%06d: %s\r\n" % (i, b"v" * 40) for i in range(mib // 52)) + b"\r\n"
    else:
        raw = b"GET /healthz?q=" + b"q" * mib + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert len(raw) >= mib
    c = Conn(t.port, timeout=10)
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            c.send(raw)
        t.assert_responsive("while a 1 MB header is refused")
        try:
            res = c.read_response()
        except (EOFError, ConnectionResetError):
            res = None  # closing without an answer is acceptable
        if res is not None:
            assert res.status in (400, 413, 431), f"{res.status} {res.body[:300]!r}"
            assert c.closed_by_server(5), "connection left open after refusing the header"
    finally:
        c.close()
    t.assert_fds_back()
    t.assert_responsive("after the 1 MB header")


# ---------------------------------------------------------------------------------------
# 5. a body that stops half-way


def org_upload(t: Target):
    ident = unique("org")
    body = json.dumps({"org": {"identifier": ident, "name": "Half"}}).encode()
    body += b" " * (100_000 - len(body))
    path = "/v1/orgs"
    headers = {**t.auth, "Content-Type": "application/json"}

    def unchanged():
        r = t.api.get(f"/v1/orgs/{ident}")
        assert r.status_code == 404, f"a half-sent org is visible: {r.status_code} {r.text[:200]}"

    return path, headers, body, unchanged


def state_upload(t: Target):
    ws = t.workspace()
    lineage = str(uuid.uuid4())
    first = v4_state(1, lineage, 10_000)
    t.put_state(ws, first)
    body = v4_state(2, lineage, 100_000)

    def unchanged():
        r = t.api.get(ws + "/terraform-backend")
        assert r.status_code == 200 and r.content == first, \
            f"state changed by a half upload: {r.status_code} {len(r.content)} bytes"
        versions = t.state_versions(ws)
        assert len(versions) == 1, f"{len(versions)} state versions after a half upload"

    return ws + "/terraform-backend", {**t.auth, "Content-Type": "application/json"}, body, unchanged


def spool_files(t: Target) -> list:
    d = t.srv.data_dir / "tmp"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


UPLOADS = {"metadata": org_upload, "state": state_upload}


@pytest.mark.parametrize("route", UPLOADS)
def test_body_that_stops_half_way_leaves_nothing_behind(hostile, route):
    t = hostile()
    path, headers, body, unchanged = UPLOADS[route](t)
    t.mark_baseline()
    assert len(body) == 100_000
    c = Conn(t.port)
    try:
        c.send(request_bytes("POST", path, headers, body)[:-50_000])  # 50,000 of 100,000 bytes
        if route == "state":
            assert wait_for(lambda: spool_files(t), 5), "no spool file for the stalled upload"
        # stall: others are served, nothing half-written is visible
        t.assert_responsive("while an upload is stalled half-way")
        unchanged()
        assert not c.closed_by_server(0.5), "the server dropped a stalled upload at once"
    finally:
        c.close()  # ... then give up
    assert wait_for(lambda: not spool_files(t), 5), f"spool files left: {spool_files(t)}"
    unchanged()
    t.assert_fds_back()
    t.assert_responsive("after the half upload was abandoned")


@pytest.mark.parametrize("route", UPLOADS)
def test_stalled_body_is_dropped_by_the_body_timeout(hostile, route):
    need_flags(BODY_FLAG)
    body_timeout = 2
    t = hostile(body=body_timeout, idle=30, header=30)
    path, headers, body, unchanged = UPLOADS[route](t)
    t.mark_baseline()
    c = Conn(t.port)
    try:
        c.send(request_bytes("POST", path, headers, body)[:-50_000])
        t.assert_responsive("while an upload is stalled half-way")
        # 100,000 bytes declared: body_timeout + 0 s per MiB
        assert c.closed_by_server(body_timeout + SLACK), \
            f"stalled upload still open {body_timeout + SLACK}s into a {body_timeout}s body timeout"
    finally:
        c.close()
    assert wait_for(lambda: not spool_files(t), 5), f"spool files left: {spool_files(t)}"
    unchanged()
    t.assert_fds_back()
    t.assert_responsive("after the body timeout")


# ---------------------------------------------------------------------------------------
# 6. pipelining, 7. HTTP/1.0


def test_three_pipelined_requests_get_three_responses_in_order(hostile):
    t = hostile()
    org = unique("org")
    body = json.dumps({"org": {"identifier": org, "name": "Piped"}}).encode()
    burst = (request_bytes("GET", "/healthz", {"X-Request-Id": "pipe-1"})
             + request_bytes("POST", "/v1/orgs", {**t.auth, "X-Request-Id": "pipe-2",
                                                  "Content-Type": "application/json"}, body)
             + request_bytes("GET", f"/v1/orgs/{org}", {**t.auth, "X-Request-Id": "pipe-3"}))
    c = Conn(t.port)
    try:
        c.sock.sendall(burst)  # one send: the three requests arrive together
        got = [c.read_response() for _ in range(3)]
        assert [r.headers.get("X-Request-Id") for r in got] == ["pipe-1", "pipe-2", "pipe-3"]
        assert [r.status for r in got] == [200, 201, 200], [(r.status, r.body[:200]) for r in got]
        assert json.loads(got[2].body)["org"]["identifier"] == org
        # still a keep-alive connection
        c.send(request_bytes("GET", "/healthz", {"X-Request-Id": "pipe-4"}))
        assert c.read_response().headers.get("X-Request-Id") == "pipe-4"
        t.assert_responsive("with a pipelining client connected")
    finally:
        c.close()
    t.assert_fds_back()


@pytest.mark.parametrize("path", ["/healthz", "/v1/orgs"])
def test_http_1_0_without_keep_alive_is_answered_and_closed(hostile, path):
    t = hostile()
    c = Conn(t.port)
    try:
        c.send(request_bytes("GET", path, t.auth if path != "/healthz" else {}, version="1.0"))
        res = c.read_response()
        assert res.status == 200, res.body[:300]
        assert res.version in ("HTTP/1.0", "HTTP/1.1")
        assert c.closed_by_server(2.0), "HTTP/1.0 request without keep-alive: connection left open"
        assert c.buf == b"", f"bytes after the response: {c.buf[:100]!r}"
        t.assert_responsive("after an HTTP/1.0 exchange")
    finally:
        c.close()
    t.assert_fds_back(timeout=5, when="after the HTTP/1.0 exchange")


# ---------------------------------------------------------------------------------------
# 8. aborted downloads


def test_aborted_large_state_downloads(hostile):
    """GET a 20 MiB state, read 1 MiB, go away (FIN or RST) -- 40 times, 10 of them at once.
    Once a SIGPIPE killed the server here."""
    t = hostile()
    ws = t.workspace()
    state = v4_state(1, str(uuid.uuid4()), 20 * 1024 * 1024)
    t.put_state(ws, state)
    path = ws + "/terraform-backend"
    t.mark_baseline()
    errors = []

    def abort(i):
        try:
            c = Conn(t.port, timeout=10)
            c.send(request_bytes("GET", path, t.auth))
            got = 0
            while got < 1024 * 1024:
                chunk = c.sock.recv(1 << 16)
                assert chunk, "server closed before 1 MiB"
                got += len(chunk)
            c.reset() if i % 2 else c.close()
        except Exception as e:  # noqa: BLE001 -- reported below
            errors.append(f"download {i}: {e!r}")

    for i in range(30):
        abort(i)
    t.assert_alive()
    threads = [threading.Thread(target=abort, args=(100 + i,)) for i in range(10)]
    for th in threads:
        th.start()
    t.assert_responsive("while 10 downloads are aborted at once")
    for th in threads:
        th.join(30)
    assert not errors, errors
    t.assert_alive()
    t.assert_responsive("after 40 aborted downloads")
    t.assert_fds_back()
    assert t.blob_fds() == 0
    r = t.api.get(path, timeout=60)
    assert r.status_code == 200 and hashlib.sha256(r.content).digest() == \
        hashlib.sha256(state).digest(), "the full download differs after the aborts"
