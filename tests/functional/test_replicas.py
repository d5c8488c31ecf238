"""Several server replicas on one PostgreSQL database, and PostgreSQL restarts.

Runs only on PostgreSQL (STATEHOUSE_TEST_PG_URL, as under ``scripts/with-postgres`` / ``make
test``); the restart test also needs STATEHOUSE_TEST_PG_DIR (``scripts/pg-cluster restart``).

Every replica has its own data dir (its own blob cache and tmp dir) and its own port; they share
only the database, so anything one replica wrote must be visible through the others.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import socket
import subprocess
import threading
import time
import urllib.parse
import uuid

import pytest
import requests

from conftest import BIN, PG_URL, REPO, Api, ServerProcess, free_port, require_binary, unique
from spec_schema import WORKSPACES_SPEC, describe, validate

if not PG_URL:
    pytest.skip("replica tests need PostgreSQL: set STATEHOUSE_TEST_PG_URL (scripts/with-postgres "
                "does, as under `make test`)", allow_module_level=True)

PG_DIR = os.environ.get("STATEHOUSE_TEST_PG_DIR", "")
PG_CLUSTER = REPO / "scripts" / "pg-cluster"
MIGRATIONS = REPO / "migrations" / "postgres"
CLIENT_TIMEOUT = 10.0   # no request may take longer than this, even while PostgreSQL is down
READY_TIMEOUT = 20.0


# ---------------------------------------------------------------------------------------
# database and replicas


def psql(dburl: str, sql: str) -> str:
    p = subprocess.run(["psql", dburl, "-qtA", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"psql {sql!r}: {p.stderr}"
    return p.stdout.strip()


def fresh_database() -> str:
    """CREATE DATABASE with a unique name; returns its URL."""
    name = unique("rep").lower()
    psql(f"{PG_URL}/postgres", f'CREATE DATABASE "{name}"')
    return f"{PG_URL}/{name}"


class Replica(ServerProcess):
    """A ServerProcess whose start is split in launch() (Popen) and wait() (until /readyz 200),
    so that several replicas can be started at the same moment."""

    def launch(self):
        require_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}",
               "--data-dir", str(self.data_dir), *self.extra_args]
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL)
        return self

    def wait(self, timeout=READY_TIMEOUT):
        """Until /healthz and /readyz both answer 200."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"replica on :{self.port} exited with {self.proc.returncode} "
                                     f"before ready\n{self.output()}")
            try:
                h = requests.get(self.base_url + "/healthz", timeout=2)
                r = requests.get(self.base_url + "/readyz", timeout=2)
                last = (h.status_code, r.status_code, r.text[:200])
                if h.status_code == 200 and r.status_code == 200:
                    return self
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        raise AssertionError(f"replica on :{self.port} not ready after {timeout}s (last: {last})\n"
                             f"{self.output()}")


class ReplicaSet:
    def __init__(self, base: pathlib.Path, dburl: str, n: int, name="r"):
        self.dburl = dburl
        self.replicas = [Replica(base / f"{name}{i}-data", base / f"{name}{i}-logs",
                                 ["--database", dburl]) for i in range(n)]

    def start_together(self):
        """Popen every replica, then wait for all (one retry for a replica that lost its port)."""
        for r in self.replicas:
            r.launch()
        for r in self.replicas:
            try:
                r.wait()
            except AssertionError:
                if r.proc.poll() is not None and "address" in r.output().lower() \
                        and "in use" in r.output().lower():
                    r.kill()
                    r.launch().wait()
                else:
                    raise
        return self

    def token_writers(self):
        return [r for r in self.replicas if (r.data_dir / "admin.token").exists()]

    def stdout_announcers(self):
        return [r for r in self.replicas if "Created account 'default'" in r.stdout()]

    def admin_token(self) -> str:
        writers = self.token_writers()
        assert len(writers) == 1, f"{len(writers)} replicas wrote admin.token"
        return writers[0].admin_token()

    def kill(self):
        for r in self.replicas:   # SIGTERM first, so that the logs are complete
            try:
                r.terminate(timeout=5)
            except AssertionError:
                pass
            finally:
                r.kill()

    def logs(self) -> str:
        return "\n".join(f"=== replica {i} :{r.port}\n{r.output()}" for i, r in enumerate(self.replicas))


@pytest.fixture
def replica_set(tmp_path):
    """replica_set(n) -> n replicas started together on a fresh database (killed afterwards)."""
    sets = []

    def make(n, name="r"):
        rs = ReplicaSet(tmp_path, fresh_database(), n, name=f"{name}{len(sets)}_")
        sets.append(rs)
        return rs.start_together()

    yield make
    for rs in sets:
        rs.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Three replicas on one fresh database, with the admin token and a project to work in."""
    base = tmp_path_factory.mktemp("replicas")
    rs = ReplicaSet(base, fresh_database(), 3)
    try:
        rs.start_together()
        token = rs.admin_token()
        rs.clients = [Client(r.base_url, token) for r in rs.replicas]
        org, project = unique("org"), unique("prj")
        c = rs.clients[0]
        r = c.post("/v1/orgs", json={"org": {"identifier": org, "name": org}})
        assert r.status_code == 201, describe(r)
        r = rs.clients[1].post(f"/v1/orgs/{org}/projects",
                               json={"project": {"identifier": project, "name": project}})
        assert r.status_code == 201, describe(r)
        rs.proj = f"/iacm/api/orgs/{org}/projects/{project}"
        yield rs
    finally:
        rs.kill()


# ---------------------------------------------------------------------------------------
# HTTP helpers (thread-safe: one requests.Session per thread)


class Client:
    def __init__(self, base_url: str, token: str, account="default", timeout=CLIENT_TIMEOUT):
        self.base_url, self.token, self.account, self.timeout = base_url, token, account, timeout
        self._local = threading.local()

    def _session(self):
        s = getattr(self._local, "s", None)
        if s is None:
            s = self._local.s = requests.Session()
        return s

    def request(self, method, path, *, headers=None, **kw):
        h = {"x-api-key": self.token, "Harness-Account": self.account}
        h.update(headers or {})
        kw.setdefault("timeout", self.timeout)
        return self._session().request(method, self.base_url + path, headers=h, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)


def ws_body(ident, name=None) -> dict:
    return {"identifier": ident, "name": name or f"Workspace {ident}", "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}}


def create_workspace(client: Client, proj: str) -> str:
    ws = unique("ws")
    r = client.post(proj + "/workspaces", json=ws_body(ws))
    assert r.status_code == 200, describe(r)
    return f"{proj}/workspaces/{ws}"


def lock_info(lock_id: str, who="replica-test") -> dict:
    return {"ID": lock_id, "Operation": "OperationTypeApply", "Info": "", "Who": who,
            "Version": "1.9.8", "Created": "2024-01-01T00:00:00Z", "Path": ""}


def tfstate(serial: int, lineage: str, tag: str = "") -> bytes:
    res = [{"mode": "managed", "type": "random_pet", "name": f"p{serial}",
            "provider": 'provider["registry.terraform.io/hashicorp/random"]',
            "instances": [{"schema_version": 0, "attributes": {"id": f"pet-{serial}-{tag}"},
                           "sensitive_attributes": [], "private": "bnVsbA=="}]}]
    doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage,
           "outputs": {}, "resources": res, "check_results": None}
    return (json.dumps(doc, indent=2) + "\n").encode()


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def post_state(client: Client, ws: str, body: bytes, lock_id=None):
    params = {"ID": lock_id} if lock_id else None
    return client.post(ws + "/terraform-backend", data=body, params=params,
                       headers={"Content-Type": "application/json"})


def all_versions(client: Client, ws: str) -> list[dict]:
    out, page = [], 1
    while True:
        r = client.get(ws + "/data", params={"limit": 100, "page": page})
        assert r.status_code == 200, describe(r)
        body = r.json()
        out += body
        if len(body) < 100:
            return out
        page += 1


def assert_temporary_503(resp, what=""):
    """A database outage: 503 with an IaCMError body whose temporary is true."""
    assert resp.status_code == 503, what + describe(resp)
    body = resp.json()
    validate(WORKSPACES_SPEC, "IaCMError", body)
    assert body["temporary"] is True, "a database outage is temporary: " + describe(resp)
    return body


# ---------------------------------------------------------------------------------------
# 1. start-up race


def test_replicas_started_together_bootstrap_once(replica_set):
    """Three replicas started at the same moment on an empty database: all become ready, exactly
    one bootstraps (prints and writes the admin token), migrations are applied once."""
    n_migrations = len(list(MIGRATIONS.glob("*.sql")))
    assert n_migrations > 0
    for trial in range(3):
        rs = replica_set(3, name=f"boot{trial}")
        writers, announcers = rs.token_writers(), rs.stdout_announcers()
        assert len(writers) == 1, f"trial {trial}: {len(writers)} replicas wrote admin.token\n{rs.logs()}"
        assert len(announcers) == 1, f"trial {trial}: {len(announcers)} replicas printed a token\n{rs.logs()}"
        assert writers[0] is announcers[0], f"trial {trial}: token printed by one, written by another"
        token = writers[0].admin_token()
        assert token in writers[0].stdout(), "the printed token is the saved one"
        for other in rs.replicas:
            if other is not writers[0]:
                assert other.stdout().strip() == "", f"a later replica printed: {other.stdout()!r}"
        assert psql(rs.dburl, "SELECT count(*) FROM schema_migrations") == str(n_migrations)
        assert psql(rs.dburl, "SELECT count(*) FROM accounts") == "1"
        assert psql(rs.dburl, "SELECT count(*) FROM tokens") == "1"
        for r in rs.replicas:   # the one token works on every replica
            g = requests.get(r.base_url + "/v1/orgs", headers={"x-api-key": token}, timeout=10)
            assert g.status_code == 200, describe(g)
        rs.kill()


# ---------------------------------------------------------------------------------------
# 2. lock race across replicas


def test_lock_race_across_replicas(cluster):
    rounds, threads = 10, 30
    clients = cluster.clients
    ws = create_workspace(clients[0], cluster.proj)
    winners_per_round = []
    for rnd in range(rounds):
        ids = [f"{rnd}-{i}-{uuid.uuid4()}" for i in range(threads)]
        results: list = [None] * threads
        barrier = threading.Barrier(threads)

        def attempt(i):
            c = clients[i % len(clients)]
            c._session()  # open the session before the barrier
            barrier.wait()
            try:
                results[i] = c.request("LOCK", ws + "/terraform-backend/lock",
                                       data=json.dumps(lock_info(ids[i], f"t{i}")),
                                       headers={"Content-Type": "application/json"})
            except requests.RequestException as e:
                results[i] = e

        ts = [threading.Thread(target=attempt, args=(i,)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, f"round {rnd}: request errors {errors[:3]}"
        winners = [i for i, r in enumerate(results) if r.status_code == 200]
        winners_per_round.append(len(winners))
        assert len(winners) == 1, (f"round {rnd}: {len(winners)} winners: "
                                   + "; ".join(describe(results[i]) for i in winners[:3]))
        win_id = ids[winners[0]]
        for i, r in enumerate(results):
            if i == winners[0]:
                continue
            assert r.status_code == 423, f"round {rnd}: " + describe(r)
            assert r.json().get("ID") == win_id, f"round {rnd}: holder should be {win_id}: " + describe(r)
        # force-unlock through another replica, then the workspace is free again
        u = clients[(rnd + 1) % len(clients)].request("UNLOCK", ws + "/terraform-backend/lock")
        assert u.status_code == 200, describe(u)
    print(f"\nreplica lock race: {rounds} rounds, {threads} attempts, "
          f"{winners_per_round[0] if len(set(winners_per_round)) == 1 else winners_per_round} "
          f"winners per round")
    assert winners_per_round == [1] * rounds


# ---------------------------------------------------------------------------------------
# 3. state across replicas


def test_state_and_locks_across_replicas(cluster):
    a, b, c = cluster.clients
    ws = create_workspace(a, cluster.proj)
    lineage = str(uuid.uuid4())

    # nothing yet, on any replica
    for cl in (a, b, c):
        r = cl.get(ws + "/terraform-backend")
        assert r.status_code in (204, 200) and r.content == b"", describe(r)

    s1 = tfstate(1, lineage, "a")
    r = post_state(a, ws, s1)
    assert r.status_code == 200, describe(r)
    for cl in (b, c):
        g = cl.get(ws + "/terraform-backend")
        assert g.status_code == 200 and g.content == s1, describe(g)

    s5 = tfstate(5, lineage, "a")
    assert post_state(a, ws, s5).status_code == 200
    for cl in (b, c):
        g = cl.get(ws + "/terraform-backend")
        assert g.status_code == 200 and g.content == s5, describe(g)

    # Terraform's rules hold whichever replica answers
    r = post_state(c, ws, tfstate(3, lineage, "c"))
    assert r.status_code == 409, "stale serial after a newer write on another replica: " + describe(r)
    r = post_state(b, ws, tfstate(5, lineage, "other-bytes"))
    assert r.status_code == 409, "same serial, other bytes: " + describe(r)
    r = post_state(c, ws, tfstate(6, str(uuid.uuid4()), "c"))
    assert r.status_code == 409, "another lineage: " + describe(r)
    r = post_state(b, ws, s5)
    assert r.status_code == 200, "a retry of the same bytes is accepted on another replica: " + describe(r)
    g = c.get(ws + "/terraform-backend")
    assert g.content == s5

    # versions are listed identically through each replica, with their sha256
    lists = [all_versions(cl, ws) for cl in (a, b, c)]
    checks = [sorted(v["state_checksum"] for v in lst if v.get("data_type") == "state_raw") for lst in lists]
    assert checks[0] == checks[1] == checks[2], checks
    assert sha256(s1) in checks[0] and sha256(s5) in checks[0], checks[0]

    # a lock taken through A blocks a write through B; an unlock through C releases it
    lock_id = str(uuid.uuid4())
    lk = a.request("LOCK", ws + "/terraform-backend/lock", data=json.dumps(lock_info(lock_id)),
                   headers={"Content-Type": "application/json"})
    assert lk.status_code == 200, describe(lk)
    s6 = tfstate(6, lineage, "b")
    r = post_state(b, ws, s6)
    assert r.status_code == 423, "write without the lock id while locked elsewhere: " + describe(r)
    assert r.json().get("ID") == lock_id, describe(r)
    r = post_state(b, ws, s6, lock_id=str(uuid.uuid4()))
    assert r.status_code in (409, 423), "write with another lock id: " + describe(r)
    other = c.request("LOCK", ws + "/terraform-backend/lock",
                      data=json.dumps(lock_info(str(uuid.uuid4()))),
                      headers={"Content-Type": "application/json"})
    assert other.status_code == 423 and other.json().get("ID") == lock_id, describe(other)
    r = post_state(b, ws, s6, lock_id=lock_id)
    assert r.status_code == 200, "write with the holder's id through another replica: " + describe(r)
    u = c.request("UNLOCK", ws + "/terraform-backend/lock", data=json.dumps(lock_info(lock_id)),
                  headers={"Content-Type": "application/json"})
    assert u.status_code == 200, describe(u)
    s7 = tfstate(7, lineage, "b")
    r = post_state(b, ws, s7)
    assert r.status_code == 200, "unlocked through C, B may write: " + describe(r)
    for cl in (a, b, c):
        g = cl.get(ws + "/terraform-backend")
        assert g.status_code == 200 and g.content == s7, describe(g)


# ---------------------------------------------------------------------------------------
# 4. optimistic concurrency across replicas


def test_workspace_if_match_race_across_replicas(cluster):
    a, b, _ = cluster.clients
    ws = create_workspace(a, cluster.proj)
    ident = ws.rsplit("/", 1)[1]
    for rnd in range(8):
        g = a.get(ws)
        assert g.status_code == 200 and g.headers.get("ETag"), describe(g)
        etag = g.headers["ETag"]
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def put(i, cl):
            cl._session()
            barrier.wait()
            try:
                results[i] = cl.put(ws, json=ws_body(ident, f"round {rnd} by {i}"),
                                    headers={"If-Match": etag})
            except requests.RequestException as e:
                results[i] = e

        ts = [threading.Thread(target=put, args=(i, cl)) for i, cl in enumerate((a, b))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not any(isinstance(r, Exception) for r in results), results
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 412], f"round {rnd}: " + " | ".join(describe(r) for r in results)
        winner = next(i for i, r in enumerate(results) if r.status_code == 200)
        # the winner's write is what both replicas now show, under the winner's ETag
        for cl in (a, b):
            s = cl.get(ws)
            assert s.json()["name"] == f"round {rnd} by {winner}", describe(s)
            assert s.headers["ETag"] == results[winner].headers["ETag"], describe(s)


# ---------------------------------------------------------------------------------------
# 4b. Cached reads across replicas: the documented bound

STALENESS_S = 0.100  # the server's default --replica-staleness-ms
FRESHNESS_PAIRS = int(os.environ.get("STATEHOUSE_FRESHNESS_PAIRS", "10000"))


def cache_hits(client: Client) -> float:
    r = client.get("/metrics")
    assert r.status_code == 200, describe(r)
    for line in r.text.splitlines():
        if line.startswith("statehouse_cache_lookups_total{") and 'cache="reply"' in line \
                and 'result="hit"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no reply cache hit counter in /metrics")


def metric(client: Client, name: str) -> float:
    r = client.get("/metrics")
    assert r.status_code == 200, describe(r)
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} in /metrics")


def two_replicas_and_a_workspace(rs):
    """Clients of the set's two replicas and a workspace created through the first, once the
    bound has passed since."""
    token = rs.admin_token()
    a, b = (Client(r.base_url, token) for r in rs.replicas)
    org, project = unique("org"), unique("prj")
    assert a.post("/v1/orgs", json={"org": {"identifier": org, "name": org}}).status_code == 201
    assert a.post(f"/v1/orgs/{org}/projects",
                  json={"project": {"identifier": project, "name": project}}).status_code == 201
    ws = create_workspace(a, f"/iacm/api/orgs/{org}/projects/{project}")
    ident = ws.rsplit("/", 1)[1]
    time.sleep(STALENESS_S)
    return a, b, ws, ident


def test_cached_reads_on_one_replica_follow_writes_on_another(replica_set):
    """A writer on replica A and a reader on replica B, in a tight loop. Before each write the
    reader reads (so B keeps the old answer); right after A acknowledges, B is read until it
    shows the write. The guarantee (README, "Several replicas"): a read that starts at least
    --replica-staleness-ms after a write was acknowledged shows it, and no read goes back to an
    older version. The reads are really cached: B's reply-cache hit counter grows."""
    rs = replica_set(2, name="fresh")
    a, b, ws, ident = two_replicas_and_a_workspace(rs)
    hits_before = cache_hits(b)
    for _ in range(20):   # nothing written meanwhile: B answers from memory
        assert b.get(ws).status_code == 200
    assert cache_hits(b) >= hits_before + 19, "replica B does not cache reads"

    stale_reads = stale_pairs = 0
    worst = 0.0
    last_seen = -1
    sent_before = metric(a, "statehouse_db_commit_notifications_sent_total")
    heard_before = metric(b, "statehouse_db_commit_notifications_received_total")
    for i in range(FRESHNESS_PAIRS):
        before = b.get(ws)
        assert before.status_code == 200, describe(before)
        r = a.put(ws, json=ws_body(ident, f"v{i}"))
        assert r.status_code == 200, describe(r)
        acked = time.monotonic()
        stale_here = False
        while True:
            started = time.monotonic()
            g = b.get(ws)
            assert g.status_code == 200, describe(g)
            name = g.json()["name"]
            seen = int(name[1:]) if name.startswith("v") else -1
            assert seen >= last_seen, f"pair {i}: replica B went back from v{last_seen} to {name}"
            last_seen = seen
            if seen == i:
                break
            assert seen == i - 1, f"pair {i}: replica B shows {name}"
            lag = started - acked
            assert lag < STALENESS_S, \
                f"pair {i}: a read {lag * 1000:.1f} ms after the acknowledgement showed {name}"
            stale_reads += 1
            stale_here = True
            worst = max(worst, lag)
        stale_pairs += stale_here
    print(f"\n{FRESHNESS_PAIRS} write/read pairs across replicas: {stale_pairs} pairs had a stale "
          f"first read ({stale_reads} stale reads), the latest one started "
          f"{worst * 1000:.2f} ms after the acknowledgement (bound {STALENESS_S * 1000:.0f} ms)")
    # The writer announced its commits and the reader heard them (sequential writes: about
    # one notification each; the heartbeat's snapshot check is the net, not the rule).
    sent = metric(a, "statehouse_db_commit_notifications_sent_total") - sent_before
    heard = metric(b, "statehouse_db_commit_notifications_received_total") - heard_before
    print(f"notifications: {sent:.0f} sent by the writer, {heard:.0f} heard by the reader, "
          f"{metric(b, 'statehouse_db_commit_snapshot_changes_total'):.0f} snapshot changes seen by the reader")
    assert sent >= FRESHNESS_PAIRS * 0.9 and heard >= FRESHNESS_PAIRS * 0.9, (sent, heard)


def token_lookups(client: Client, result: str) -> float:
    r = client.get("/metrics")
    assert r.status_code == 200, describe(r)
    for line in r.text.splitlines():
        if line.startswith("statehouse_cache_lookups_total{") and 'cache="token"' in line \
                and f'result="{result}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError("no token cache counter in /metrics")


TOKEN_TRIALS = 20


def test_token_rows_outlive_other_writes_and_revocations_reach_every_replica(replica_set):
    """Replica B keeps the token rows it verified while replica A writes other things (the
    credentials_generation row stands still), and a token deleted through A (or with its API
    key) is refused by A from the next request on and by B from --replica-staleness-ms after
    the deletion was acknowledged at the latest (README, "Several replicas")."""
    rs = replica_set(2, name="tokens")
    a, b, ws, ident = two_replicas_and_a_workspace(rs)
    admin = Api(rs.replicas[0].base_url, rs.admin_token(), "default")
    key = admin.create_apikey()
    value = admin.create_token(key)
    on_a = Client(rs.replicas[0].base_url, value)
    on_b = Client(rs.replicas[1].base_url, value)
    assert on_b.get("/v1/orgs").status_code == 200   # B reads the row and keeps it
    time.sleep(STALENESS_S)
    misses_before = token_lookups(b, "miss")
    for i in range(TOKEN_TRIALS):
        assert a.put(ws, json=ws_body(ident, f"w{i}")).status_code == 200
        time.sleep(0.02)   # B hears of the commit (its reply cache is dropped)
        g = on_b.get(ws)
        assert g.status_code == 200, describe(g)
    # The reads of the metrics themselves may miss once each.
    misses = token_lookups(b, "miss") - misses_before
    assert misses <= TOKEN_TRIALS // 4, \
        f"B read its token rows again {misses:.0f} times in {TOKEN_TRIALS} writes by A"

    worst = 0.0
    for trial in range(TOKEN_TRIALS):
        key = admin.create_apikey()
        ident_t = unique("tok")
        value = admin.create_token(key, ident_t)
        on_a = Client(rs.replicas[0].base_url, value)
        on_b = Client(rs.replicas[1].base_url, value)
        assert on_a.get("/v1/orgs").status_code == 200
        assert on_b.get("/v1/orgs").status_code == 200
        # Every other trial deletes the API key: its tokens go by the foreign key's cascade.
        if trial % 2:
            r = admin.delete(f"/ng/api/apikey/{key['identifier']}", params=admin.key_params(key))
        else:
            r = admin.delete(f"/ng/api/token/{ident_t}", params=admin.key_params(key))
        assert r.status_code == 200, describe(r)
        acked = time.monotonic()
        assert on_a.get("/v1/orgs").status_code == 401, f"trial {trial}: A still admits the token"
        while True:
            started = time.monotonic()
            g = on_b.get("/v1/orgs")
            if g.status_code == 401:
                break
            assert g.status_code == 200, describe(g)
            lag = started - acked
            assert lag < STALENESS_S, \
                f"trial {trial}: B admitted a deleted token {lag * 1000:.1f} ms after the deletion"
            worst = max(worst, lag)
    print(f"\n{TOKEN_TRIALS} writes by A: B read token rows {misses:.0f} times; {TOKEN_TRIALS} "
          f"deletions: B admitted a deleted token at most {worst * 1000:.2f} ms after the "
          f"acknowledgement (bound {STALENESS_S * 1000:.0f} ms)")


def test_replica_that_stops_hearing_commits_reads_afresh(replica_set):
    """The connection on which a replica hears the others' commits is cut (its PostgreSQL
    backend terminated) and a write lands on another replica meanwhile: the replica must not
    answer from its memory beyond the bound; it listens again and caches again."""
    rs = replica_set(2, name="deaf")
    a, b, ws, ident = two_replicas_and_a_workspace(rs)
    for _ in range(3):
        assert b.get(ws).status_code == 200
    cut = psql(rs.dburl, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = 'statehouse-commit-watch' "
                         "AND datname = current_database()")
    assert int(cut) == 2, f"expected both replicas' listeners, terminated {cut}"
    r = a.put(ws, json=ws_body(ident, "written while B was deaf"))
    assert r.status_code == 200, describe(r)
    time.sleep(STALENESS_S)
    g = b.get(ws)
    assert g.json()["name"] == "written while B was deaf", describe(g)
    # It listens again (the watcher reconnects), and answers from memory again.
    deadline = time.monotonic() + 10
    while True:
        before = cache_hits(b)
        for _ in range(5):
            assert b.get(ws).json()["name"] == "written while B was deaf"
        if cache_hits(b) >= before + 4:
            break
        assert time.monotonic() < deadline, "replica B never cached again after reconnecting"
        time.sleep(0.2)
    assert "listening for other replicas' commits again" in rs.replicas[1].output() \
        or "lost the connection that listens" in rs.replicas[1].output(), rs.replicas[1].output()


def test_replica_staleness_zero_caches_nothing(replica_set, tmp_path):
    """--replica-staleness-ms 0: every read goes to the database (strict freshness)."""
    dburl = fresh_database()
    r = Replica(tmp_path / "strict-data", tmp_path / "strict-logs",
                ["--database", dburl, "--replica-staleness-ms", "0"])
    r.launch().wait()
    try:
        c = Client(r.base_url, r.admin_token())
        hits = cache_hits(c)
        for _ in range(10):
            assert c.get("/v1/orgs").status_code == 200
        assert cache_hits(c) == hits, "a replica with --replica-staleness-ms 0 answered from memory"
    finally:
        r.kill()


# ---------------------------------------------------------------------------------------
# 5. PostgreSQL restart under load


def _pg_port() -> int:
    return urllib.parse.urlsplit(PG_URL).port


def _pg_accepting(port) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not PG_DIR, reason="needs STATEHOUSE_TEST_PG_DIR (scripts/with-postgres) to "
                                       "restart PostgreSQL")
def test_postgres_restart_under_load(replica_set, server):
    rs = replica_set(2, name="restart")
    token = rs.admin_token()
    clients = [Client(r.base_url, token) for r in rs.replicas]
    org, project = unique("org"), unique("prj")
    assert clients[0].post("/v1/orgs", json={"org": {"identifier": org, "name": org}}).status_code == 201
    assert clients[1].post(f"/v1/orgs/{org}/projects",
                           json={"project": {"identifier": project, "name": project}}).status_code == 201
    proj = f"/iacm/api/orgs/{org}/projects/{project}"

    # The load runs until the test stops it; max_seconds only bounds it, and must outlast a slow
    # restart (pg-cluster waits up to 180 s for the fast stop's checkpoint, then 60 s for the
    # start): with 60 s, a 71 s restart left no load thread running to succeed afterwards.
    n_threads, max_ops, max_seconds = 4, 50000, 330.0
    workspaces = [create_workspace(clients[i % 2], proj) for i in range(n_threads)]
    lineages = [str(uuid.uuid4()) for _ in range(n_threads)]
    stop = threading.Event()
    lock = threading.Lock()
    log: list = []              # (start, duration, thread, kind, status or exception, response)
    acked: list = [[] for _ in range(n_threads)]   # per thread: bodies answered 200
    t_back = [None]             # when PostgreSQL accepted again (monotonic)
    ok_after_back = [0] * n_threads

    def worker(i):
        cl = clients[i % 2]
        serial, started = 1, time.monotonic()
        body = tfstate(serial, lineages[i], f"w{i}")
        for op in range(max_ops):
            if stop.is_set() or time.monotonic() - started > max_seconds:
                return
            kind = "orgs" if op % 2 == 0 else "state"
            t0 = time.monotonic()
            try:
                if kind == "orgs":
                    r = cl.get("/v1/orgs")
                else:
                    r = post_state(cl, workspaces[i], body)
                res = r.status_code
            except requests.RequestException as e:
                r, res = None, e
            with lock:
                log.append((t0, time.monotonic() - t0, i, kind, res, r))
                if r is not None and r.status_code == 200 and t_back[0] and t0 > t_back[0]:
                    ok_after_back[i] += 1
            if kind == "state" and r is not None and r.status_code == 200:
                acked[i].append(body)
                serial += 1
                body = tfstate(serial, lineages[i], f"w{i}")
            if r is None or r.status_code != 200:
                stop.wait(0.01)   # a client's pause before retrying
            # on a failure the same bytes are sent again, as Terraform's client does

    readyz_log: list = []       # (replica, response or exception, PostgreSQL down before and after)
    poll_stop = threading.Event()

    def readyz_poller():
        port = _pg_port()
        while not poll_stop.is_set():
            for k, r in enumerate(rs.replicas):
                down_before = not _pg_accepting(port)
                try:
                    resp = requests.get(r.base_url + "/readyz", timeout=CLIENT_TIMEOUT)
                    res = resp
                except requests.RequestException as e:
                    res = e
                down_after = not _pg_accepting(port)
                readyz_log.append((k, res, down_before and down_after))
            time.sleep(0.01)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n_threads)]
    poller = threading.Thread(target=readyz_poller, daemon=True)
    try:
        for t in threads:
            t.start()
        # warm up: every thread has had an acknowledged state write
        deadline = time.monotonic() + 20
        while not all(acked) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert all(acked), f"no acknowledged writes before the restart: {[len(a) for a in acked]}\n{rs.logs()}"

        poller.start()
        t_restart = time.monotonic()
        p = subprocess.run([str(PG_CLUSTER), "restart", PG_DIR], capture_output=True, text=True,
                           timeout=320)  # pg-cluster's own bounds: 180 + 60 + 60 s
        assert p.returncode == 0, f"pg-cluster restart failed: {p.stdout} {p.stderr}"
        t_back[0] = time.monotonic()
        assert _pg_accepting(_pg_port())

        # every replica answers 200 again (an authenticated request that reads the database)
        first_ok = {}
        deadline = t_back[0] + 30
        while len(first_ok) < len(rs.replicas) and time.monotonic() < deadline:
            for k, cl in enumerate(clients):
                if k in first_ok:
                    continue
                try:
                    if cl.get("/v1/orgs").status_code == 200:
                        first_ok[k] = time.monotonic()
                except requests.RequestException:
                    pass
            time.sleep(0.02)
        assert len(first_ok) == len(rs.replicas), (
            f"replicas {sorted(set(range(len(rs.replicas))) - set(first_ok))} still failing 30 s after "
            f"PostgreSQL came back\n{rs.logs()}")
        recovery = max(first_ok.values()) - t_back[0]
        poll_stop.set()
        poller.join(timeout=CLIENT_TIMEOUT + 5)

        # the load keeps succeeding afterwards: every thread gets a few 200s after the restart
        deadline = time.monotonic() + 20
        while min(ok_after_back) < 4 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
            time.sleep(0.02)
        stop.set()
        for t in threads:
            t.join(timeout=CLIENT_TIMEOUT + 5)
        assert not any(t.is_alive() for t in threads), "a load thread hangs"
    finally:
        stop.set()
        poll_stop.set()
        # whatever happened, PostgreSQL must be running for the rest of the session
        if PG_DIR and not _pg_accepting(_pg_port()):
            subprocess.run([str(PG_CLUSTER), "restart", PG_DIR], capture_output=True, timeout=320)

    n2xx = sum(1 for e in log if isinstance(e[4], int) and 200 <= e[4] < 300)
    n503 = sum(1 for e in log if e[4] == 503)
    late503 = [e for e in log if e[4] == 503 and e[0] > t_back[0] + recovery]
    slowest = max(e[1] for e in log)
    rz503 = [x for x in readyz_log if not isinstance(x[1], Exception) and x[1].status_code == 503]
    rz_down = [x for x in readyz_log if x[2]]
    print(f"\nrestart recovery: {recovery:.2f}s from PostgreSQL back to first 200 on every replica "
          f"(restart took {t_back[0] - t_restart:.2f}s)")
    print(f"restart load: {len(log)} requests, {n2xx} 2xx, {n503} 503 ({len(late503)} of them after "
          f"every replica had answered 200 again), other {len(log) - n2xx - n503}, slowest "
          f"{slowest:.2f}s; /readyz: {len(readyz_log)} polls, {len(rz503)} 503, {len(rz_down)} "
          f"while PostgreSQL was down")

    problems = []
    # no hang, no connection error, no 500: failures are temporary 503s
    errors = [e for e in log if isinstance(e[4], Exception)]
    if errors:
        problems.append(f"{len(errors)} requests failed at the connection level: {errors[:3]}")
    bad = [e for e in log if isinstance(e[4], int) and not (200 <= e[4] < 300 or e[4] == 503)]
    if bad:
        problems.append(f"{len(bad)} answers were neither 2xx nor 503: "
                        + " | ".join(describe(e[5]) for e in bad[:3]))
    for e in log:
        if e[4] == 503:
            try:
                assert_temporary_503(e[5])
            except AssertionError as ex:
                problems.append(str(ex))
                break
    rz_err = [x for x in readyz_log if isinstance(x[1], Exception)]
    if rz_err:
        problems.append(f"/readyz failed at the connection level: {rz_err[:3]}")
    for k, resp, down in readyz_log:
        if isinstance(resp, Exception):
            continue
        try:
            if resp.status_code != 200:
                assert_temporary_503(resp, "/readyz: ")
            if down:
                assert resp.status_code == 503, "/readyz while PostgreSQL was down: " + describe(resp)
        except AssertionError as ex:
            problems.append(str(ex))
            break
    if min(ok_after_back) < 1:
        problems.append(f"successes per load thread after PostgreSQL came back: {ok_after_back}")

    # after recovery: /readyz 200 everywhere, and the session's own server works again too
    for r in rs.replicas:
        g = requests.get(r.base_url + "/readyz", timeout=CLIENT_TIMEOUT)
        if g.status_code != 200:
            problems.append("/readyz after recovery: " + describe(g))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests.get(server.base_url + "/readyz", timeout=CLIENT_TIMEOUT).status_code == 200:
            break
        time.sleep(0.05)
    else:
        problems.append("the session server did not become ready again after the restart")

    # every acknowledged write is readable afterwards, through either replica, byte for byte
    for i in range(n_threads):
        for reader in clients:
            g = reader.get(workspaces[i] + "/terraform-backend")
            if not (g.status_code == 200 and g.content == acked[i][-1]):
                problems.append(f"thread {i}: newest acknowledged state not served: " + describe(g))
                continue
            versions = {v["state_checksum"]: v for v in all_versions(reader, workspaces[i])}
            missing = [j for j, b in enumerate(acked[i]) if sha256(b) not in versions]
            if missing:
                problems.append(f"thread {i}: acknowledged writes {missing} not in the version list")
                continue
            for b in acked[i]:
                d = reader.get(f"{workspaces[i]}/data/{versions[sha256(b)]['id']}")
                if not (d.status_code == 200 and d.content == b):
                    problems.append("acknowledged version not downloadable: " + describe(d))
                    break
    assert not problems, "\n".join(problems)
