#!/usr/bin/python3
"""Terraform state backend throughput, side by side with baselines run in the same process tree.

Starts the real server on a temp data dir and measures, interleaved over several rounds:

* state POST of a small (1 MiB) and a large (64 MiB) v4 state, a new serial each time: median
  latency and MiB/s, against bench/sqlite_blob_baseline.cpp (compiled here with g++ -O2) inserting
  the same bytes into a SQLite table in WAL mode with synchronous=FULL, one transaction per blob,
  on the same disk.  ratio = baseline_time / server_time (higher is better, 1.0 = parity).
* state GET of the same sizes against nginx serving the identical bytes as a static file on
  loopback (wrk -t2 -c64 for the small one, -c4 for the large one; a Python client when wrk is
  missing).  ratio = server_rps / nginx_rps.
* LOCK+UNLOCK pairs per second with 1 client and with 64 concurrent clients (one workspace per
  client, so they do not contend).
* peak RSS of the server (VmHWM): idle, and after a 1 GiB state upload streamed from a generator.

With --database postgres the server runs on a throwaway PostgreSQL 15 cluster (scripts/pg-cluster,
or --pg-url / $STATEHOUSE_TEST_PG_URL; a fresh database either way) and the POST baseline is
bench/pg_blob_baseline.cpp (libpq): the same bytes as 1 MiB bytea chunks plus a size row in one
transaction, as the server's blob store does.

Prints one table of medians and ratios and writes bench/results/state_latest.json
(state_latest-postgres.json with --database postgres).  A benchmark,
not a test: it asserts nothing about time.  Installs nginx-light and wrk with apt-get when they are
missing (non-interactive); builds nothing but the baseline.

usage: bench/state_bench.py [--binary build/statehouse] [--quick] [--rounds N] [--small-mib 1]
                            [--large-mib 64] [--get-seconds 10] [--lock-seconds 5]
                            [--upload-mib 1024] [--tmp-dir DIR] [--keep]
                            [--database sqlite|postgres] [--pg-url URL]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20
ORG, PROJECT = "bench", "state"
WS_PREFIX = f"/iacm/api/orgs/{ORG}/projects/{PROJECT}/workspaces/"
LOCK_CLIENTS = 64
LINEAGE = "6b0ad5e2-0000-4000-8000-bench0state00"


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def which(exe: str) -> str | None:
    return shutil.which(exe) or next((p for p in (f"/usr/sbin/{exe}", f"/usr/bin/{exe}")
                                      if os.access(p, os.X_OK)), None)


# -- tools ----------------------------------------------------------------------------------------
def ensure_tools():
    """apt-get install nginx-light / wrk when missing; never prompts; carries on without them."""
    missing = [pkg for pkg, exe in (("nginx-light", "nginx"), ("wrk", "wrk")) if not which(exe)]
    if not missing:
        return
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        log(f"missing {missing} and not root: falling back where possible")
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = prefix + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing]
    log(f"installing {' '.join(missing)} ...")
    if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(prefix + ["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL)
        if subprocess.run(install, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            log(f"could not install {missing}: falling back where possible")


def compile_baseline(out_dir: str) -> str:
    exe = os.path.join(out_dir, "sqlite_blob_baseline")
    src = os.path.join(ROOT, "bench", "sqlite_blob_baseline.cpp")
    subprocess.run(["g++", "-O2", "-std=c++20", "-o", exe, src, "-lsqlite3"], check=True)
    return exe


# -- processes ------------------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM etc. in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Vm"):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def wait_http(port: int, path: str, proc: subprocess.Popen, what: str, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode} during start-up")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"{what} did not start")


class Client:
    """One keep-alive connection."""

    def __init__(self, port: int, token: str, timeout=600):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn = None

    def request(self, method, path, body=None, content_type="application/json", headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            headers = {"x-api-key": self.token, **(headers or {})}
            if body is not None:
                headers["Content-Type"] = content_type
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


def expect(status_body, ok, what):
    status, body = status_body
    if status not in ok:
        raise SystemExit(f"{what}: HTTP {status} {body[:300]!r}")
    return body


# -- bodies ---------------------------------------------------------------------------------------
PAD_PREFIX = ('"outputs":{},"resources":[{"mode":"managed","type":"null_resource","name":"pad",'
              '"provider":"provider[\\"registry.terraform.io/hashicorp/null\\"]","instances":'
              '[{"schema_version":0,"attributes":{"id":"pad","pad":"')
PAD_SUFFIX = b'"}}]}]}'


def state_head(serial: int) -> bytes:
    return (f'{{"version":4,"serial":{serial},"lineage":"{LINEAGE}","terraform_version":"1.6.0",'
            + PAD_PREFIX).encode()


def state_body(serial: int, size: int, fill: bytes) -> bytes:
    head = state_head(serial)
    n = size - len(head) - len(PAD_SUFFIX)
    assert 0 <= n <= len(fill), (size, len(fill))
    return head + fill[:n] + PAD_SUFFIX


# -- wrk ------------------------------------------------------------------------------------------
def run_wrk(url: str, threads: int, conns: int, seconds: float, headers=(), script=None) -> dict:
    cmd = [which("wrk"), f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--timeout", "60s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SystemExit(f"cannot parse wrk output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors:.*", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(m.group(1)), "requests": int(total.group(1)) if total else None,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": errs.group(0) if errs else ""}


def py_load(port: int, conns: int, seconds: float, make_requests) -> dict:
    """Fallback when wrk is missing: conns threads, each one keep-alive connection; make_requests(i)
    returns the (method, path, body, headers) cycle of client i."""
    counts, bad = [0] * conns, [0] * conns
    stop = time.monotonic() + seconds

    def worker(i):
        cycle = make_requests(i)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        k = 0
        while time.monotonic() < stop:
            method, path, body, headers = cycle[k % len(cycle)]
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            counts[i] += 1
            bad[i] += r.status >= 300
            k += 1
        conn.close()

    t0 = time.monotonic()
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return {"rps": sum(counts) / (time.monotonic() - t0), "requests": sum(counts),
            "non_2xx": sum(bad), "socket_errors": "", "client": "python"}


LOCK_LUA = r"""
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  local path = "%(prefix)slock_" .. id .. "/terraform-backend/lock"
  local body = '{"ID":"bench-' .. id .. '","Operation":"OperationTypeApply","Who":"bench",' ..
               '"Version":"1.6.0","Created":"2026-01-01T00:00:00Z","Path":"","Info":""}'
  local headers = {["x-api-key"] = "%(token)s", ["Content-Type"] = "application/json"}
  reqs = { wrk.format("LOCK", path, headers, body), wrk.format("UNLOCK", path, headers, body) }
  n = 0
end
function request()
  n = n + 1
  return reqs[2 - n %% 2]
end
"""


def lock_info(i: int) -> bytes:
    return json.dumps({"ID": f"bench-{i}", "Operation": "OperationTypeApply", "Who": "bench",
                       "Version": "1.6.0", "Created": "2026-01-01T00:00:00Z", "Path": "",
                       "Info": ""}, separators=(",", ":")).encode()


# -- nginx ----------------------------------------------------------------------------------------
def start_nginx(base: str, www: str, listen_extra: str = "", server_extra: str = ""):
    """nginx on a free loopback port serving www/; listen_extra (e.g. " ssl") and server_extra
    (directives) adapt the server block."""
    port = free_port()
    conf = os.path.join(base, "nginx.conf")
    for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(conf, "w") as f:
        f.write(f"""{user}daemon off;
worker_processes auto;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type application/json;
  client_body_temp_path {base}/client_body;
  proxy_temp_path {base}/proxy;
  fastcgi_temp_path {base}/fastcgi;
  uwsgi_temp_path {base}/uwsgi;
  scgi_temp_path {base}/scgi;
  server {{
    listen 127.0.0.1:{port}{listen_extra};
{server_extra}    root {www};
    location / {{ }}
  }}
}}
""")
    proc = subprocess.Popen([which("nginx"), "-p", base, "-c", conf, "-e", f"{base}/error.log"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{base}/stderr.log", "wb"))
    wait_http(port, "/", proc, "nginx")
    return proc, port


def stop_nginx(proc):
    if proc is None:
        return
    proc.send_signal(signal.SIGQUIT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def nginx_rss_kib(proc) -> int:
    """VmHWM of nginx's master plus its workers (KiB)."""
    total = 0
    try:
        total += proc_status(proc.pid).get("VmHWM", 0)
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            for child in f.read().split():
                total += proc_status(int(child)).get("VmHWM", 0)
    except OSError:
        pass
    return total


# -- the server -----------------------------------------------------------------------------------
def start_server(binary: str, data_dir: str, log_path: str, extra=()):
    """Start `statehouse serve` on a free loopback port; returns (proc, port)."""
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                             "--log-level", "warn", *extra],
                            stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"))
    wait_http(port, "/healthz", proc, "statehouse")
    return proc, port


def read_token(data_dir: str, timeout=10) -> str:
    token_file = os.path.join(data_dir, "admin.token")
    deadline = time.time() + timeout
    while not os.path.exists(token_file) and time.time() < deadline:
        time.sleep(0.02)
    return open(token_file).read().strip()


def stop_server(proc, timeout=30) -> str | None:
    """SIGTERM and wait; returns a note when the exit was not clean."""
    if proc is None or proc.poll() is not None:
        return None if proc is None or proc.returncode == 0 else f"server had exited {proc.returncode}"
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(timeout=timeout)
        return None if rc == 0 else f"server exited {rc} on SIGTERM"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return f"server did not exit within {timeout} s of SIGTERM"


def workspace_doc(ws: str, **extra) -> dict:
    return {"identifier": ws, "name": ws, "provisioner": "terraform", "provider_connector": "",
            "terraform_variables": {}, "environment_variables": {}, **extra}


def bootstrap(c: "Client", workspaces, org=ORG, project=PROJECT, create_org=True):
    """Create the org (unless it exists already), the project and the workspaces."""
    if create_org:
        expect(c.request("POST", "/v1/orgs", json.dumps(
            {"org": {"identifier": org, "name": org.title()}}).encode()), (200, 201), "create org")
    expect(c.request("POST", f"/v1/orgs/{org}/projects", json.dumps(
        {"project": {"identifier": project, "name": project.title()}}).encode()), (200, 201),
        "create project")
    for ws in workspaces:
        doc = ws if isinstance(ws, dict) else workspace_doc(ws)
        expect(c.request("POST", f"/iacm/api/orgs/{org}/projects/{project}/workspaces",
                         json.dumps(doc).encode()), (200, 201), f"create workspace {doc['identifier']}")


def upload_streamed(port: int, token: str, path: str, size: int, pid: int, serial=1) -> dict:
    """POST a `size`-byte v4 state streamed from a generator (never held in memory) while
    sampling the server's VmRSS every 20 ms."""
    chunk = os.urandom(MIB // 2).hex().encode()  # 1 MiB of hex
    head = state_head(serial)
    pad = size - len(head) - len(PAD_SUFFIX)

    def gen():
        yield head
        left = pad
        while left > 0:
            n = min(left, len(chunk))
            yield chunk[:n] if n < len(chunk) else chunk
            left -= n
        yield PAD_SUFFIX

    rss_samples = []
    done = threading.Event()

    def sampler():
        while not done.wait(0.02):
            try:
                rss_samples.append(proc_status(pid)["VmRSS"])
            except (OSError, KeyError):
                return

    before = proc_status(pid)
    st = threading.Thread(target=sampler)
    st.start()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1200)
    t0 = time.monotonic()
    try:
        conn.putrequest("POST", path)
        conn.putheader("x-api-key", token)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        for part in gen():
            conn.send(part)
        r = conn.getresponse()
        body = r.read()
    finally:
        seconds = time.monotonic() - t0
        conn.close()
        done.set()
        st.join()
    after = proc_status(pid)
    return {"status": r.status, "body": body[:300].decode("utf-8", "replace"), "seconds": seconds,
            "bytes": size, "rss_hwm_before_kib": before["VmHWM"], "rss_hwm_kib": after["VmHWM"],
            "rss_max_sampled_kib": max(rss_samples, default=0), "rss_after_kib": after["VmRSS"]}


def post_server(c: "Client", path: str, body: bytes, content_md5=False):
    """One state POST over a keep-alive connection: (seconds, status, reply). content_md5: send
    the body's Content-MD5 as the terraform CLI does (computed before the clock starts)."""
    headers = {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()} if content_md5 else None
    t0 = time.monotonic()
    status, reply = c.request("POST", path, body, headers=headers)
    return time.monotonic() - t0, status, reply


def post_sqlite(baseline: str, sql_db: str, blob_file: str, count=1) -> list[float]:
    """The SQLite baseline: `count` durable one-blob transactions of blob_file; seconds each."""
    out = subprocess.run([baseline, sql_db, blob_file, str(count)], check=True,
                         capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]


# -- the benchmark --------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "statehouse"))
    ap.add_argument("--quick", action="store_true",
                    help="1 round, 3 s GET runs, 2 s lock runs, fewer POSTs")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    ap.add_argument("--small-mib", type=int, default=1)
    ap.add_argument("--large-mib", type=int, default=64)
    ap.add_argument("--small-posts", type=int, default=None, help="small POSTs per round (5)")
    ap.add_argument("--large-posts", type=int, default=None, help="large POSTs per round (2)")
    ap.add_argument("--get-seconds", type=float, default=None, help="each GET run (10)")
    ap.add_argument("--lock-seconds", type=float, default=None, help="each lock run (5)")
    ap.add_argument("--upload-mib", type=int, default=1024, help="the RSS upload (1024)")
    ap.add_argument("--tmp-dir", default=None, help="where the temp dirs go (default $TMPDIR)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--pg-url", default=None,
                    help="an existing PostgreSQL server (default $STATEHOUSE_TEST_PG_URL, else a throwaway cluster)")
    ap.add_argument("--output", default=None,
                    help="default bench/results/state_latest.json (state_latest-postgres.json on PostgreSQL)")
    a = ap.parse_args()
    on_pg = a.database == "postgres"
    a.output = a.output or os.path.join(ROOT, "bench", "results",
                                        "state_latest-postgres.json" if on_pg else "state_latest.json")
    q = a.quick
    rounds = a.rounds or (1 if q else 3)
    small_posts = a.small_posts or (2 if q else 5)
    large_posts = a.large_posts or (1 if q else 2)
    get_s = a.get_seconds or (3 if q else 10)
    lock_s = a.lock_seconds or (2 if q else 5)
    small, large = a.small_mib * MIB, a.large_mib * MIB
    sizes = [(f"{a.small_mib} MiB", small, small_posts, 64), (f"{a.large_mib} MiB", large, large_posts, 4)]

    binary = os.path.abspath(a.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no server binary at {binary}")
    ensure_tools()
    have_wrk, have_nginx = bool(which("wrk")), bool(which("nginx"))

    base = tempfile.mkdtemp(prefix="state_bench_", dir=a.tmp_dir)
    data_dir, sql_dir, www = (os.path.join(base, d) for d in ("server", "sqlite", "www"))
    for d in (data_dir, sql_dir, www):
        os.makedirs(d)
    cluster = server = nginx = None
    if on_pg:
        import pg  # noqa: E402  (bench/pg.py)
        baseline = pg.compile_baseline(base)
    else:
        baseline = compile_baseline(base)
    base_name = "PostgreSQL 1 MiB-chunk blob txn" if on_pg else "SQLite WAL FULL blob txn"
    results: dict = {"config": {"database": a.database, "rounds": rounds, "small_bytes": small, "large_bytes": large,
                                "small_posts": small_posts, "large_posts": large_posts,
                                "get_seconds": get_s, "lock_seconds": lock_s,
                                "upload_bytes": a.upload_mib * MIB, "binary": binary,
                                "tmp_dir": base, "wrk": have_wrk, "nginx": have_nginx},
                     "samples": {}, "notes": []}
    samples = results["samples"]

    def note(msg):
        log("NOTE: " + msg)
        results["notes"].append(msg)

    def add(key, value):
        samples.setdefault(key, []).append(value)

    try:
        server_args = ()
        if on_pg:
            cluster = pg.Cluster(a.pg_url, a.tmp_dir)
            server_args = ("--database", cluster.database("statehouse_bench"))
            base_url = cluster.database("statehouse_baseline")
            results["postgres"] = {"version": cluster.version(), "settings": cluster.settings()}
        server, port = start_server(binary, data_dir, os.path.join(base, "server.log"), server_args)
        token = read_token(data_dir)
        c = Client(port, token)
        bootstrap(c, ["post_small", "post_large", "get_small", "get_large", "upload"] +
                  [f"lock_{i}" for i in range(LOCK_CLIENTS)])
        time.sleep(0.5)
        idle = proc_status(server.pid)
        results["rss_idle_kib"] = idle["VmHWM"]
        log(f"idle: VmHWM {idle['VmHWM']} KiB")

        # -- RSS during a streamed upload ------------------------------------------------------
        upload = a.upload_mib * MIB
        up = upload_streamed(port, token, WS_PREFIX + "upload/terraform-backend", upload, server.pid)
        results["upload"] = up
        if up["status"] != 200:
            note(f"{a.upload_mib} MiB upload answered {up['status']}: {up['body']!r}")
        log(f"upload {a.upload_mib} MiB: {up['status']} in {up['seconds']:.1f} s, "
            f"VmHWM {up['rss_hwm_kib']} KiB")

        # -- GET fixtures: identical bytes in the server and in nginx's root --------------------
        fill = os.urandom(large // 2 + MIB).hex().encode()
        get_paths = {}
        for label, size, _posts, _conns in sizes:
            ws = "get_small" if size == small else "get_large"
            body = state_body(1, size, fill)
            expect(c.request("POST", WS_PREFIX + ws + "/terraform-backend", body), (200,), f"store {ws}")
            name = f"state_{size}.json"
            with open(os.path.join(www, name), "wb") as f:
                f.write(body)
            got = expect(c.request("GET", WS_PREFIX + ws + "/terraform-backend"), (200,), f"GET {ws}")
            if got != body:
                note(f"GET {ws} does not return the stored bytes ({len(got)} vs {len(body)})")
            get_paths[size] = (WS_PREFIX + ws + "/terraform-backend", "/" + name)
        if have_nginx:
            os.chmod(base, 0o755)
            nginx_base = os.path.join(base, "nginx")
            os.makedirs(nginx_base)
            nginx, nginx_port = start_nginx(nginx_base, www)
            for size, (_sp, np_) in get_paths.items():
                nc = http.client.HTTPConnection("127.0.0.1", nginx_port, timeout=60)
                nc.request("GET", np_)
                nr = nc.getresponse()
                nb = nr.read()
                nc.close()
                if nr.status != 200 or len(nb) != size:
                    note(f"nginx answered {nr.status} with {len(nb)} bytes for {np_}")
        else:
            note("nginx unavailable: no GET baseline")

        lua = os.path.join(base, "lock.lua")
        with open(lua, "w") as f:
            f.write(LOCK_LUA % {"prefix": WS_PREFIX, "token": token})
        serials = {small: 1, large: 1}
        blob_file = os.path.join(sql_dir, "blob.json")
        sql_db = os.path.join(sql_dir, "baseline.db")

        def release_locks(n):
            for i in range(n):
                c.request("UNLOCK", WS_PREFIX + f"lock_{i}/terraform-backend/lock", lock_info(i))

        for rnd in range(rounds):
            log(f"round {rnd + 1}/{rounds}")
            # POST vs SQLite
            for label, size, posts, _conns in sizes:
                ws = "post_small" if size == small else "post_large"
                for k in range(posts):
                    serials[size] += 1
                    body = state_body(serials[size], size, fill)
                    with open(blob_file, "wb") as f:
                        f.write(body)
                    order = ("server", "sqlite") if (rnd + k) % 2 == 0 else ("sqlite", "server")
                    for who in order:
                        if who == "server":
                            dt, st_, rb = post_server(c, WS_PREFIX + ws + "/terraform-backend", body)
                            if st_ != 200:
                                note(f"POST {label} serial {serials[size]}: {st_} {rb[:200]!r}")
                            add(f"post_server_{size}", dt)
                        elif on_pg:
                            add(f"post_pg_{size}", pg.post_pg(baseline, base_url, blob_file)[0])
                        else:
                            add(f"post_sqlite_{size}", post_sqlite(baseline, sql_db, blob_file)[0])
                    del body
            # GET vs nginx
            for label, size, _posts, conns in sizes:
                spath, npath = get_paths[size]
                order = ("server", "nginx") if rnd % 2 == 0 else ("nginx", "server")
                for who in order:
                    if who == "nginx" and not nginx:
                        continue
                    p, path = (port, spath) if who == "server" else (nginx_port, npath)
                    if have_wrk:
                        res = run_wrk(f"http://127.0.0.1:{p}{path}", 2, conns, get_s,
                                      headers=[f"x-api-key: {token}"])
                    else:
                        res = py_load(p, conns, get_s, lambda i: [("GET", path, None, {"x-api-key": token})])
                    if res["non_2xx"] or res["socket_errors"]:
                        note(f"GET {label} {who}: {res['non_2xx']} non-2xx, {res['socket_errors']}")
                    add(f"get_{who}_{size}", res["rps"])
            # LOCK+UNLOCK pairs
            for n in (1, LOCK_CLIENTS):
                if have_wrk:
                    res = run_wrk(f"http://127.0.0.1:{port}/", n, n, lock_s, script=lua)
                else:
                    def cycle(i):
                        h = {"x-api-key": token, "Content-Type": "application/json"}
                        p = WS_PREFIX + f"lock_{i}/terraform-backend/lock"
                        return [("LOCK", p, lock_info(i), h), ("UNLOCK", p, lock_info(i), h)]
                    res = py_load(port, n, lock_s, cycle)
                release_locks(n)
                if res["non_2xx"] or res["socket_errors"]:
                    note(f"LOCK/UNLOCK x{n}: {res['non_2xx']} non-2xx of {res['requests']}, "
                         f"{res['socket_errors']}")
                add(f"lock_pairs_{n}", res["rps"] / 2)

        end = proc_status(server.pid)
        results["rss_end_kib"] = end["VmHWM"]
        c.close()
    finally:
        stop_nginx(nginx)
        if server and (msg := stop_server(server)):
            note(msg)
        if cluster:
            cluster.close()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)

    # -- table ----------------------------------------------------------------------------------
    med = {k: statistics.median(v) for k, v in samples.items()}
    results["medians"] = med
    rows = []
    ratios = {}
    for label, size, _p, conns in sizes:
        s, b = med[f"post_server_{size}"], med[f"post_{'pg' if on_pg else 'sqlite'}_{size}"]
        ratios[f"post_{size}"] = b / s
        rows.append((f"POST {label} (vs {base_name})",
                     f"{s * 1e3:.1f} ms  {size / MIB / s:.0f} MiB/s",
                     f"{b * 1e3:.1f} ms  {size / MIB / b:.0f} MiB/s", f"{b / s:.2f}"))
    for label, size, _p, conns in sizes:
        s = med[f"get_server_{size}"]
        n = med.get(f"get_nginx_{size}")
        if n:
            ratios[f"get_{size}"] = s / n
        rows.append((f"GET {label} c={conns} (vs nginx static)",
                     f"{s:.0f} req/s  {s * size / MIB:.0f} MiB/s",
                     f"{n:.0f} req/s  {n * size / MIB:.0f} MiB/s" if n else "n/a",
                     f"{s / n:.2f}" if n else "n/a"))
    one, many = med["lock_pairs_1"], med[f"lock_pairs_{LOCK_CLIENTS}"]
    ratios["lock_scaling"] = many / one
    rows.append(("LOCK+UNLOCK 1 client", f"{one:.0f} pairs/s", "", ""))
    rows.append((f"LOCK+UNLOCK {LOCK_CLIENTS} clients (ratio vs 1 client)", f"{many:.0f} pairs/s", "",
                 f"{many / one:.2f}"))
    up = results["upload"]
    rows.append(("peak RSS idle (VmHWM)", f"{results['rss_idle_kib'] / 1024:.1f} MiB", "", ""))
    rows.append((f"peak RSS {a.upload_mib} MiB upload (ratio vs idle)",
                 f"{up['rss_hwm_kib'] / 1024:.1f} MiB", f"upload {up['bytes'] / MIB / up['seconds']:.0f} MiB/s",
                 f"{up['rss_hwm_kib'] / results['rss_idle_kib']:.2f}"))
    rows.append(("peak RSS end of run (VmHWM)", f"{results['rss_end_kib'] / 1024:.1f} MiB", "", ""))
    results["ratios"] = ratios
    header = ("benchmark (medians)", "statehouse", "baseline", "ratio")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), "  ".join("-" * w for w in widths)] + [fmt.format(*r) for r in rows]
    table = "\n".join(lines)
    db_label = f"PostgreSQL {results['postgres']['version']}" if on_pg else f"sqlite {sqlite_version()}"
    print(f"state bench: {rounds} rounds, {os.cpu_count()} CPUs, "
          f"{'wrk' if have_wrk else 'python client'}, {db_label}")
    print(table)
    for n_ in results["notes"]:
        print("note:", n_)
    results["table"] = table
    results["environment"] = {"cpus": os.cpu_count(), "kernel": platform.release(),
                              "database": a.database, "sqlite": sqlite_version(),
                              "postgres": results.get("postgres", {}).get("version"), "commit": git_commit(),
                              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.makedirs(os.path.dirname(a.output), exist_ok=True)
    with open(a.output, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {os.path.relpath(a.output, os.getcwd())}")


def sqlite_version() -> str:
    import sqlite3
    return sqlite3.sqlite_version


def git_commit() -> str:
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip()


if __name__ == "__main__":
    main()
