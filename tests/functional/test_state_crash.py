"""Crash consistency of the Terraform state backend (kill -9 while writers stream).

Each trial starts a server on a fresh data dir, makes three workspaces and runs one writer thread
per workspace that POSTs increasing serials with bodies between 1 KiB and 2 MiB.  Every answer 200
is recorded as acknowledged (serial, sha256 of the bytes sent).  Once a random number of writes
has been acknowledged (a counter, not a timer) the server is killed with SIGKILL while the other
writers are still mid-request.  The server is restarted on the same data dir and must:

* list every acknowledged version in W/data with the same sha256, and serve its bytes unchanged;
* answer GET W/terraform-backend with bytes that some writer sent (never a torn mix), matching
  the newest listed version;
* answer /readyz;
* accept a new write at newest serial + 1.

A second test does the same with 16 writers of small states (256 B to 16 KiB), so that SQLite's
group commit gathers concurrent writes into shared commits when the kill comes; it checks from
/metrics that commits were shared. A third (SQLite only) lets those writers run longer (120 to
240 acknowledged writes, and on by 20 at a time until /metrics shows a background WAL
checkpoint: they follow commits, and a slower build shares more writes per commit), so that
the kill comes while SQLite's WAL checkpoints run on their own thread, in a third of the trials
(at least 2).

A fourth test kills the server while 16 clients LOCK and UNLOCK their own workspaces (whose
answers come once the write is durable, without a worker waiting for the commit): after the
restart each lock must be what the last acknowledged operation left, or what the one in flight
would have made it.

STATEHOUSE_CRASH_SEED fixes the random choices, STATEHOUSE_CRASH_TRIALS the number of trials of
each test.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time

import pytest
import requests

from conftest import PG_URL, Api, ServerProcess, unique

TRIALS = int(os.environ.get("STATEHOUSE_CRASH_TRIALS", "6"))
WORKSPACES = 3
MIN_BODY = 1024
MAX_BODY = 2 * 1024 * 1024
MAX_WRITES_PER_WRITER = 400  # a safety net: the kill comes long before this
LOCK_INFO = {"Operation": "OperationTypeApply", "Who": "crash-test", "Version": "1.6.0",
             "Created": "2026-01-01T00:00:00Z", "Path": "", "Info": ""}


def ws_path(org, project, ws):
    return f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{ws}"


def state_body(rng: random.Random, serial: int, lineage: str, min_body=MIN_BODY,
               max_body=MAX_BODY) -> bytes:
    """A v4 state of roughly a log-uniform size in [min_body, max_body], unique per call."""
    target = int(min_body * (max_body / min_body) ** rng.random())
    doc = {"version": 4, "serial": serial, "lineage": lineage, "terraform_version": "1.6.0",
           "outputs": {}, "resources": [{
               "mode": "managed", "type": "null_resource", "name": "pad", "provider":
               'provider["registry.terraform.io/hashicorp/null"]',
               "instances": [{"schema_version": 0, "attributes": {"id": str(serial), "pad": ""}}]}]}
    overhead = len(json.dumps(doc).encode())
    pad_len = max(0, target - overhead)
    # Random hex, so no two bodies share bytes beyond the skeleton.
    doc["resources"][0]["instances"][0]["attributes"]["pad"] = \
        rng.randbytes((pad_len + 1) // 2).hex()[:pad_len]
    return json.dumps(doc).encode()


class Trial:
    def __init__(self, n: int, seed: int, srv: ServerProcess, min_body=MIN_BODY, max_body=MAX_BODY,
                 kill_range=(3, 120)):
        self.n = n
        self.min_body, self.max_body = min_body, max_body
        self.rng = random.Random(seed)
        self.srv = srv
        self.kill_after = self.rng.randint(*kill_range)  # acknowledged writes before the kill
        self.acked = 0
        self.cv = threading.Condition()
        self.crashed = threading.Event()
        # per workspace: serial -> sha256 acknowledged; every sha256 ever sent; errors
        self.acks: dict[str, dict[int, str]] = {}
        self.sent: dict[str, set[str]] = {}
        self.errors: list[str] = []

    def writer(self, api: Api, ws: str, lineage: str, seed: int):
        rng = random.Random(seed)
        path = ws_path("o", "p", ws) + "/terraform-backend"
        session = requests.Session()
        headers = {"x-api-key": api.token, "Content-Type": "application/json"}
        for serial in range(1, MAX_WRITES_PER_WRITER + 1):
            if self.crashed.is_set():
                return
            body = state_body(rng, serial, lineage, self.min_body, self.max_body)
            digest = hashlib.sha256(body).hexdigest()
            self.sent[ws].add(digest)
            try:
                r = session.post(api.base_url + path, data=body, headers=headers, timeout=60)
            except requests.RequestException as e:
                if not self.crashed.is_set():
                    self.errors.append(f"{ws} serial {serial}: {e!r} before the kill")
                return
            if r.status_code != 200:
                if not self.crashed.is_set():
                    self.errors.append(f"{ws} serial {serial}: {r.status_code} {r.text[:300]}")
                return
            got = r.json().get("state_checksum")
            if got != digest:
                self.errors.append(f"{ws} serial {serial}: answered checksum {got}, sent {digest}")
            self.acks[ws][serial] = digest
            with self.cv:
                self.acked += 1
                if self.acked >= self.kill_after:
                    self.cv.notify_all()


def list_versions(api: Api, ws: str) -> list[dict]:
    out, page = [], 1
    while True:
        r = api.get(ws_path("o", "p", ws) + "/data", params={"limit": 100, "page": page})
        assert r.status_code == 200, f"list {ws} page {page}: {r.status_code} {r.text[:300]}"
        rows = r.json()
        out.extend(rows)
        if len(rows) < 100:
            return out
        page += 1


def group_commit_counts(api: Api) -> tuple[float, float, float]:
    """(commits, writes they covered) of SQLite's group commit and its background WAL
    checkpoints, from /metrics."""
    text = api.get("/metrics").text
    names = ("statehouse_db_group_commits_total", "statehouse_db_group_committed_writes_total",
             "statehouse_db_wal_checkpoints_total")
    values = {}
    for line in text.splitlines():
        for name in names:
            if line.startswith(name + " "):
                values[name] = float(line.split()[1])
    return tuple(values.get(name, 0.0) for name in names)


def start_with_workspaces(srv: ServerProcess, names: list[str]) -> Api:
    """Starts srv on its fresh data dir and makes org o, project p and the named workspaces."""
    srv.start()
    deadline = time.monotonic() + 5
    while not (srv.data_dir / "admin.token").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    api = Api(srv.base_url, srv.admin_token(), "default")
    api.create_org("o")
    api.create_project("o", "p")
    for ws in names:
        r = api.post("/iacm/api/orgs/o/projects/p/workspaces", json={
            "identifier": ws, "name": ws.upper(), "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}})
        assert r.status_code in (200, 201), f"create workspace {ws}: {r.status_code} {r.text[:300]}"
    return api


def kill_9(srv: ServerProcess, clients: list[threading.Thread]) -> None:
    """SIGKILL the server (no chance to flush or answer), then wait for the client threads,
    whose requests in flight fail."""
    srv.proc.kill()
    srv.proc.wait(timeout=10)
    srv.kill()
    for th in clients:
        th.join(timeout=60)


def run_trial(n: int, seed: int, base, workspaces=WORKSPACES, min_body=MIN_BODY, max_body=MAX_BODY,
              counts=None, kill_range=(3, 120), after_checkpoint=False) -> tuple[int, int, list[str]]:
    """Returns (acknowledged, lost, problems). counts: a list to append the group commit
    counts (commits, writes, checkpoints) read just before the kill. after_checkpoint: the kill
    waits until a background WAL checkpoint has run (SQLite)."""
    srv = ServerProcess(base / f"data{n}", base / f"logs{n}", ["--log-level", "warn"])
    try:
        names = [f"w{i}" for i in range(workspaces)]
        api = start_with_workspaces(srv, names)

        t = Trial(n, seed, srv, min_body, max_body, kill_range)
        lineages = {ws: unique("lineage") for ws in names}
        for ws in names:
            t.acks[ws] = {}
            t.sent[ws] = set()
        threads = [threading.Thread(target=t.writer, args=(api, ws, lineages[ws], seed * 100 + i),
                                    daemon=True) for i, ws in enumerate(names)]
        for th in threads:
            th.start()
        with t.cv:
            reached = t.cv.wait_for(lambda: t.acked >= t.kill_after or t.errors, timeout=30)
        # Checkpoints follow commits, not writes (a slower server shares more writes per commit):
        # when asked, the kill waits for 20 more writes at a time until one has run.
        deadline = time.monotonic() + 60
        while (reached and after_checkpoint and group_commit_counts(api)[2] == 0
               and time.monotonic() < deadline and t.kill_after < MAX_WRITES_PER_WRITER * workspaces):
            with t.cv:
                t.kill_after = t.acked + 20
                reached = t.cv.wait_for(lambda: t.acked >= t.kill_after or t.errors, timeout=30)
        if counts is not None and reached:
            counts.append(group_commit_counts(api))
        t.crashed.set()
        kill_9(srv, threads)  # while the other writers are mid-request
        assert reached, f"trial {n}: only {t.acked} writes acknowledged in 30 s"
        assert not t.errors, f"trial {n}: writer errors before the kill: {t.errors}"

        srv.start()  # same data dir, new port
        api = Api(srv.base_url, srv.admin_token(), "default")
        problems: list[str] = []
        r = api.get("/readyz")
        if r.status_code != 200:
            problems.append(f"/readyz answered {r.status_code} {r.text[:200]} after restart")

        acknowledged = lost = 0
        for ws in names:
            w = ws_path("o", "p", ws)
            rows = list_versions(api, ws)
            by_serial: dict[int, dict] = {}
            for row in rows:
                by_serial.setdefault(row.get("serial"), row)
            for serial, digest in sorted(t.acks[ws].items()):
                acknowledged += 1
                row = by_serial.get(serial)
                if row is None:
                    lost += 1
                    problems.append(f"{ws} serial {serial}: acknowledged, not listed")
                    continue
                if row.get("state_checksum") != digest:
                    lost += 1
                    problems.append(f"{ws} serial {serial}: listed checksum {row.get('state_checksum')}"
                                    f" != sent {digest}")
                    continue
                d = api.get(f"{w}/data/{row['id']}")
                got = hashlib.sha256(d.content).hexdigest()
                if d.status_code != 200 or got != digest:
                    lost += 1
                    problems.append(f"{ws} serial {serial}: download {d.status_code}, sha256 {got}"
                                    f" != {digest} ({len(d.content)} bytes)")
            # every listed version must be something a writer sent (nothing torn on disk)
            for row in rows:
                if row.get("state_checksum") not in t.sent[ws]:
                    problems.append(f"{ws}: listed version {row.get('id')} serial {row.get('serial')}"
                                    f" has checksum {row.get('state_checksum')} nobody sent")

            newest = api.get(w + "/terraform-backend")
            max_acked = max(t.acks[ws], default=0)
            if newest.status_code == 204:
                if max_acked:
                    problems.append(f"{ws}: GET answered 204 after {max_acked} acknowledged writes")
                next_serial = 1
            else:
                got = hashlib.sha256(newest.content).hexdigest()
                if newest.status_code != 200 or got not in t.sent[ws]:
                    problems.append(f"{ws}: newest state {newest.status_code} sha256 {got} is not a"
                                    f" body that was sent ({len(newest.content)} bytes)")
                    next_serial = max_acked + 1
                else:
                    newest_serial = json.loads(newest.content)["serial"]
                    if newest_serial < max_acked:
                        problems.append(f"{ws}: newest serial {newest_serial} < acknowledged {max_acked}")
                    top = max(rows, key=lambda row: row.get("serial") or 0, default=None)
                    if top and top.get("state_checksum") != got:
                        problems.append(f"{ws}: GET sha256 {got} != newest listed "
                                        f"{top.get('state_checksum')} (serial {top.get('serial')})")
                    next_serial = max(newest_serial, max_acked) + 1
            # writes continue from the newest serial
            body = state_body(random.Random(seed), next_serial, lineages[ws], min_body, max_body)
            r = api.post(w + "/terraform-backend", data=body,
                         headers={"Content-Type": "application/json"})
            if r.status_code != 200:
                problems.append(f"{ws}: write of serial {next_serial} after restart answered "
                                f"{r.status_code} {r.text[:300]}")
            else:
                again = api.get(w + "/terraform-backend")
                if again.content != body:
                    problems.append(f"{ws}: GET after the new write does not return it")
            # and the lock still works after the crash
            info = dict(LOCK_INFO, ID=unique("lock"))
            lk = api.request("LOCK", w + "/terraform-backend/lock", json=info)
            ul = api.request("UNLOCK", w + "/terraform-backend/lock", json=info)
            if lk.status_code != 200 or ul.status_code != 200:
                problems.append(f"{ws}: LOCK {lk.status_code} / UNLOCK {ul.status_code} after restart")
        return acknowledged, lost, problems
    finally:
        srv.kill()


def test_state_survives_kill_9(tmp_path):
    seed = int(os.environ.get("STATEHOUSE_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
    total_acked = total_lost = 0
    problems: list[str] = []
    started = time.monotonic()
    for n in range(TRIALS):
        acked, lost, probs = run_trial(n, seed + n, tmp_path)
        total_acked += acked
        total_lost += lost
        problems += [f"trial {n}: {p}" for p in probs]
    line = f"crash test: {TRIALS} trials, {total_acked} writes acknowledged, {total_lost} lost"
    print(f"\n{line} (seed {seed}, {time.monotonic() - started:.1f} s)")
    assert total_lost == 0 and not problems, line + "\n" + "\n".join(problems[:50])


def test_small_concurrent_writes_survive_kill_9_in_shared_commits(tmp_path):
    seed = int(os.environ.get("STATEHOUSE_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
    total_acked = total_lost = 0
    problems: list[str] = []
    counts: list[tuple[float, float]] = []
    started = time.monotonic()
    for n in range(TRIALS):
        acked, lost, probs = run_trial(n, seed + n, tmp_path, workspaces=16, min_body=256,
                                       max_body=16 * 1024, counts=counts)
        total_acked += acked
        total_lost += lost
        problems += [f"trial {n}: {p}" for p in probs]
    commits = sum(c[0] for c in counts)
    writes = sum(c[1] for c in counts)
    line = (f"crash test, 16 small writers: {TRIALS} trials, {total_acked} writes acknowledged, "
            f"{total_lost} lost; before the kills {writes:.0f} writes in {commits:.0f} commits")
    print(f"\n{line} (seed {seed}, {time.monotonic() - started:.1f} s)")
    assert total_lost == 0 and not problems, line + "\n" + "\n".join(problems[:50])
    if not PG_URL:  # SQLite: the kills came while commits were being shared
        assert writes > commits, line


def test_writes_survive_kill_9_during_wal_checkpoints(tmp_path):
    if PG_URL:
        pytest.skip("WAL checkpoints are SQLite's; PostgreSQL is covered by the tests above")
    seed = int(os.environ.get("STATEHOUSE_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
    trials = max(2, TRIALS // 3)
    total_acked = total_lost = 0
    problems: list[str] = []
    counts: list[tuple[float, float, float]] = []
    started = time.monotonic()
    for n in range(trials):
        acked, lost, probs = run_trial(n, seed + n, tmp_path, workspaces=16, min_body=256,
                                       max_body=16 * 1024, counts=counts, kill_range=(120, 240),
                                       after_checkpoint=True)
        total_acked += acked
        total_lost += lost
        problems += [f"trial {n}: {p}" for p in probs]
    checkpointed = sum(1 for c in counts if c[2] > 0)
    line = (f"crash test, kills during WAL checkpoints: {trials} trials, {total_acked} writes "
            f"acknowledged, {total_lost} lost; {checkpointed} trials had checkpointed before the kill "
            f"({sum(c[2] for c in counts):.0f} checkpoints)")
    print(f"\n{line} (seed {seed}, {time.monotonic() - started:.1f} s)")
    assert total_lost == 0 and not problems, line + "\n" + "\n".join(problems[:50])
    assert checkpointed == len(counts) == trials, line  # the kills came after checkpoints began


def lock_trial(n: int, seed: int, base, lockers=16, kill_range=(40, 400)) -> tuple[int, list[str]]:
    """LOCK/UNLOCK clients, each on its own workspace, killed with SIGKILL after a random number
    of acknowledged operations; after the restart each workspace's lock must be what its last
    acknowledged operation left, or what the one in flight at the kill would have made it.
    Returns (acknowledged, problems). The answers of LOCK and UNLOCK come once the write is
    durable without a worker waiting for it (SubmitWrite); this checks that nothing answered
    200 before its commit."""
    rng = random.Random(seed)
    kill_after = rng.randint(*kill_range)
    srv = ServerProcess(base / f"ldata{n}", base / f"llogs{n}", ["--log-level", "warn"])
    try:
        names = [f"l{i}" for i in range(lockers)]
        api = start_with_workspaces(srv, names)
        cv = threading.Condition()
        crashed = threading.Event()
        acked = [0]
        errors: list[str] = []
        # per workspace: the lock id held after the last acknowledged operation (None: free),
        # and the operation in flight when the kill came: ("LOCK"|"UNLOCK", id) or None
        held: dict[str, str | None] = {ws: None for ws in names}
        in_flight: dict[str, tuple[str, str] | None] = {ws: None for ws in names}

        def locker(ws: str):
            session = requests.Session()
            url = api.base_url + ws_path("o", "p", ws) + "/terraform-backend/lock"
            headers = {"x-api-key": api.token, "Content-Type": "application/json"}
            i = 0
            while not crashed.is_set():
                i += 1
                op = "LOCK" if held[ws] is None else "UNLOCK"
                lock_id = f"{ws}-{i}" if op == "LOCK" else held[ws]
                in_flight[ws] = (op, lock_id)
                try:
                    r = session.request(op, url, data=json.dumps(dict(LOCK_INFO, ID=lock_id)),
                                        headers=headers, timeout=60)
                except requests.RequestException as e:
                    if not crashed.is_set():
                        errors.append(f"{ws} {op} {lock_id}: {e!r} before the kill")
                    return
                if r.status_code != 200:
                    if not crashed.is_set():
                        errors.append(f"{ws} {op} {lock_id}: {r.status_code} {r.text[:300]}")
                    return
                held[ws] = lock_id if op == "LOCK" else None
                in_flight[ws] = None
                with cv:
                    acked[0] += 1
                    if acked[0] >= kill_after:
                        cv.notify_all()

        threads = [threading.Thread(target=locker, args=(ws,), daemon=True) for ws in names]
        for th in threads:
            th.start()
        with cv:
            reached = cv.wait_for(lambda: acked[0] >= kill_after or errors, timeout=30)
        crashed.set()
        kill_9(srv, threads)  # while the other lockers are mid-request
        assert reached, f"lock trial {n}: only {acked[0]} operations acknowledged in 30 s"
        assert not errors, f"lock trial {n}: errors before the kill: {errors}"

        srv.start()
        api = Api(srv.base_url, srv.admin_token(), "default")
        problems: list[str] = []
        for ws in names:
            url = ws_path("o", "p", ws) + "/terraform-backend/lock"
            probe = dict(LOCK_INFO, ID=f"probe-{ws}")
            r = api.request("LOCK", url, json=probe)
            if r.status_code == 200:
                now = None
                api.request("UNLOCK", url, json=probe)
            elif r.status_code == 423:
                now = r.json().get("ID")
            else:
                problems.append(f"{ws}: probe LOCK answered {r.status_code} {r.text[:200]}")
                continue
            allowed = {held[ws]}
            flight = in_flight[ws]
            if flight:
                allowed.add(flight[1] if flight[0] == "LOCK" else None)
            if now not in allowed:
                problems.append(f"{ws}: lock is {now!r} after the restart; the last acknowledged "
                                f"operation left {held[ws]!r}, in flight {flight!r}")
        return acked[0], problems
    finally:
        srv.kill()


def test_acknowledged_locks_and_unlocks_survive_kill_9(tmp_path):
    seed = int(os.environ.get("STATEHOUSE_CRASH_SEED", str(random.SystemRandom().randrange(1 << 30))))
    total = 0
    problems: list[str] = []
    started = time.monotonic()
    for n in range(TRIALS):
        acked, probs = lock_trial(n, seed + n, tmp_path)
        total += acked
        problems += [f"trial {n}: {p}" for p in probs]
    line = (f"crash test, 16 lockers: {TRIALS} trials, {total} LOCK/UNLOCK acknowledged, "
            f"{len(problems)} workspaces whose lock was not what was acknowledged")
    print(f"\n{line} (seed {seed}, {time.monotonic() - started:.1f} s)")
    assert not problems, line + "\n" + "\n".join(problems[:50])
