"""Online backup and restore: `statehouse admin backup --to DIR` / `admin restore --from DIR`.

A server takes state writes from a writer thread while the backup runs.  The backup is restored
into a fresh data dir (on PostgreSQL, when STATEHOUSE_TEST_PG_URL is set: into a fresh database,
see conftest.database_args) and a server started on it.  Every state version the restored server
lists must be one the source server had, with the same SHA-256 and the same bytes; versions
written after the snapshot may be missing, but never one before a version that is there (the
snapshot is one point in time), and every version acknowledged before the backup started must
be there.  Refusals: a non-empty backup directory, a non-empty restore target, a tampered backup.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import random
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from conftest import BIN, PG_URL, Api, database_args, run_admin, unique

WORKSPACES = 3
INITIAL_VERSIONS = 4


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def state_body(rng: random.Random, serial: int, lineage: str, size: int) -> bytes:
    pad = rng.randbytes(size // 2).hex()
    doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage,
           "outputs": {"n": {"value": serial, "type": "number"}},
           "resources": [{"mode": "managed", "type": "terraform_data", "name": "pad",
                          "provider": 'provider["terraform.io/builtin/terraform"]',
                          "instances": [{"schema_version": 0,
                                         "attributes": {"id": str(serial), "input": pad}}]}],
           "check_results": None}
    return json.dumps(doc, indent=2).encode() + b"\n"


class Workspace:
    def __init__(self, api: Api, org: str, project: str, ident: str):
        self.org, self.project, self.ident = org, project, ident
        self.path = f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{ident}"
        self.lineage = str(uuid.uuid4())
        self.serial = 0
        self.acked: list[tuple[int, str]] = []  # (serial, sha256) of every 200

    def write(self, api: Api, rng: random.Random, size: int):
        self.serial += 1
        body = state_body(rng, self.serial, self.lineage, size)
        r = api.post(self.path + "/terraform-backend", data=body,
                     headers={"Content-Type": "application/json"})
        assert r.status_code == 200, f"state write: {r.status_code} {r.text[:300]}"
        self.acked.append((self.serial, sha256(body)))

    def versions(self, api: Api) -> list[dict]:
        """Every state version the API lists, newest first."""
        out, page = [], 1
        while True:
            r = api.get(self.path + "/data", params={"data_type": "state_raw", "limit": 100,
                                                     "page": page})
            assert r.status_code == 200, f"list data: {r.status_code} {r.text[:300]}"
            body = r.json()
            out += body
            if len(body) < 100:
                return out
            page += 1


def make_workspaces(api: Api, n: int) -> list[Workspace]:
    org, prj = unique("org"), unique("prj")
    api.create_org(org)
    api.create_project(org, prj)
    out = []
    for _ in range(n):
        wid = unique("ws")
        r = api.post(f"/iacm/api/orgs/{org}/projects/{prj}/workspaces",
                     json={"identifier": wid, "name": wid, "provisioner": "terraform",
                           "provider_connector": "", "terraform_variables": {},
                           "environment_variables": {}})
        assert r.status_code == 200, r.text[:300]
        out.append(Workspace(api, org, prj, wid))
    return out


def admin(data_dir, *args, check=True) -> subprocess.CompletedProcess:
    return run_admin(data_dir, *args, check=check)


def wait_admin_token(srv) -> str:
    deadline = time.monotonic() + 10
    while not (srv.data_dir / "admin.token").exists():
        assert time.monotonic() < deadline, "admin.token not written"
        time.sleep(0.05)
    return srv.admin_token()


@pytest.fixture
def source(spawn_server):
    """A server with workspaces holding a few versions each: (server, api, workspaces)."""
    srv = spawn_server()
    api = Api(srv.base_url, wait_admin_token(srv), "default")
    rng = random.Random(7)
    wss = make_workspaces(api, WORKSPACES)
    for ws in wss:
        for _ in range(INITIAL_VERSIONS):
            ws.write(api, rng, rng.choice([1024, 64 * 1024, 512 * 1024]))
    return srv, api, wss


def restore_target(tmp_path: pathlib.Path, name: str) -> pathlib.Path:
    """A fresh data dir (and on PostgreSQL its fresh, empty database)."""
    d = tmp_path / name
    d.mkdir()
    database_args(d)
    return d


def test_backup_during_writes_restores_every_version_byte_for_byte(source, spawn_server,
                                                                    tmp_path):
    srv, api, wss = source
    stop = threading.Event()
    errors: list[BaseException] = []
    progress = {"writes": 0}

    def writer():
        rng = random.Random(11)
        wapi = api.as_()
        try:
            while not stop.is_set():
                ws = wss[progress["writes"] % len(wss)]
                ws.write(wapi, rng, rng.choice([2048, 128 * 1024, 256 * 1024]))
                progress["writes"] += 1
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while progress["writes"] < 3 and thread.is_alive():
        time.sleep(0.01)
    before = {ws.ident: list(ws.acked) for ws in wss}  # acknowledged before the backup began
    writes_at_start = progress["writes"]
    backup_dir = tmp_path / "backup"
    started = time.monotonic()
    out = admin(srv.data_dir, "backup", "--to", str(backup_dir))
    took = time.monotonic() - started
    writes_during = progress["writes"] - writes_at_start
    # Keep writing a little after the backup, then stop.
    target_writes = progress["writes"] + 3
    while progress["writes"] < target_writes and thread.is_alive():
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=30)
    assert not errors, errors
    assert writes_during >= 1, f"no write acknowledged while the backup ran ({took:.2f} s)"

    manifest = json.loads((backup_dir / "manifest.json").read_text())
    assert manifest["format"] == "statehouse-backup" and manifest["format_version"] == 1
    assert manifest["backend"] == ("postgres" if PG_URL else "sqlite")
    db_file = backup_dir / manifest["database"]["file"]
    assert sha256(db_file.read_bytes()) == manifest["database"]["sha256"]
    assert "backup: " in out.stderr, out.stderr  # progress lines
    if not PG_URL:
        for b in manifest["blobs"]:
            blob = backup_dir / "blobs" / b["sha256"][:2] / b["sha256"]
            data = blob.read_bytes()
            assert sha256(data) == b["sha256"] and len(data) == b["size"]

    # What the source has now: a superset of what it had at the snapshot.
    source_versions = {ws.ident: ws.versions(api) for ws in wss}
    for ws in wss:
        assert [v["state_checksum"] for v in reversed(source_versions[ws.ident])] == \
            [sha for _, sha in ws.acked], "the source lost or reordered an acknowledged write"

    restored_dir = restore_target(tmp_path, "restored")
    out = admin(restored_dir, "restore", "--from", str(backup_dir))
    assert "every blob verified" in out.stdout, out.stdout
    dst = spawn_server(data_dir=restored_dir)
    rapi = Api(dst.base_url, api.token, "default")  # the source's token: its hash was restored

    restored_total = 0
    compared_bytes = 0
    for ws in wss:
        src_by_id = {v["id"]: v for v in source_versions[ws.ident]}
        got = ws.versions(rapi)
        restored_total += len(got)
        for v in got:
            assert v["id"] in src_by_id, f"{ws.ident}: restored version {v['id']} never existed"
            assert v["state_checksum"] == src_by_id[v["id"]]["state_checksum"], v
            r = rapi.get(f"{ws.path}/data/{v['id']}")
            assert r.status_code == 200, r.text[:300]
            assert sha256(r.content) == v["state_checksum"], f"{ws.ident}: bytes differ for {v['id']}"
            compared_bytes += len(r.content)
        # One point in time: the restored versions are the oldest N of the source's.
        src_oldest_first = [v["id"] for v in reversed(source_versions[ws.ident])]
        got_oldest_first = [v["id"] for v in reversed(got)]
        assert got_oldest_first == src_oldest_first[:len(got)], f"{ws.ident}: not a prefix"
        assert len(got) >= len(before[ws.ident]), \
            f"{ws.ident}: lost versions acknowledged before the backup started"
        if got:
            r = rapi.get(ws.path + "/terraform-backend")
            assert r.status_code == 200 and sha256(r.content) == got[0]["state_checksum"]
    assert restored_total == manifest["counts"]["state_versions"]
    total_source = sum(len(v) for v in source_versions.values())
    print(f"\nbackup took {took:.2f} s with {writes_during} writes acknowledged meanwhile; "
          f"source {total_source} versions, backup {manifest['counts']['state_versions']}, "
          f"restored {restored_total} compared by SHA-256 ({compared_bytes} bytes), "
          f"{manifest['counts']['blobs']} blobs")

    # The restored server takes new writes on top.
    ws = wss[0]
    ws.serial = max(s for s, _ in ws.acked) + 100
    ws.write(rapi, random.Random(3), 1024)


def test_backup_refuses_a_non_empty_directory(source, tmp_path):
    srv, _, _ = source
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    out = admin(srv.data_dir, "backup", "--to", str(target), check=False)
    assert out.returncode != 0 and "not empty" in out.stderr, out.stderr
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "mine"


def test_restore_refuses_a_non_empty_target(source, spawn_server, tmp_path):
    srv, api, wss = source
    backup_dir = tmp_path / "backup"
    admin(srv.data_dir, "backup", "--to", str(backup_dir))
    # The source itself: a database with data (and on SQLite, blobs).
    out = admin(srv.data_dir, "restore", "--from", str(backup_dir), check=False)
    assert out.returncode != 0 and "existing data" in out.stderr, out.stderr
    assert len(wss[0].versions(api)) == INITIAL_VERSIONS  # untouched
    if not PG_URL:
        # Blobs alone make a data dir non-empty too.
        other = tmp_path / "blobs-only"
        (other / "blobs" / "ab").mkdir(parents=True)
        (other / "blobs" / "ab" / ("ab" + "0" * 62)).write_bytes(b"x")
        out = admin(other, "restore", "--from", str(backup_dir), check=False)
        assert out.returncode != 0 and "holds blobs" in out.stderr, out.stderr
        assert not (other / "statehouse.db").exists()
    # A directory that is not a backup.
    out = admin(restore_target(tmp_path, "fresh"), "restore", "--from", str(tmp_path), check=False)
    assert out.returncode != 0 and "manifest.json" in out.stderr, out.stderr


def test_tampered_backup_fails_restore_and_leaves_the_target_empty(source, spawn_server,
                                                                  tmp_path):
    srv, api, wss = source
    backup_dir = tmp_path / "backup"
    admin(srv.data_dir, "backup", "--to", str(backup_dir))
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    # A copy (on SQLite the backup's blobs may be hard links to the live ones: never edit them
    # in place).
    bad = tmp_path / "tampered"
    shutil.copytree(backup_dir, bad)
    if PG_URL:
        victim = bad / manifest["database"]["file"]
    else:
        b = max(manifest["blobs"], key=lambda x: x["size"])["sha256"]
        victim = bad / "blobs" / b[:2] / b
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    target = restore_target(tmp_path, "target")
    out = admin(target, "restore", "--from", str(bad), check=False)
    assert out.returncode != 0 and "damaged" in out.stderr, out.stderr
    if not PG_URL:
        assert not (target / "statehouse.db").exists()
        assert not [p for p in (target / "blobs").rglob("*") if p.is_file()], \
            "a failed restore left blobs behind"
    # The target is still empty: the good backup restores into it.
    out = admin(target, "restore", "--from", str(backup_dir))
    dst = spawn_server(data_dir=target)
    rapi = Api(dst.base_url, api.token, "default")
    for ws in wss:
        assert [v["state_checksum"] for v in reversed(ws.versions(rapi))] == \
            [sha for _, sha in ws.acked]
    # The live data was not touched by tampering with the copy.
    for ws in wss:
        assert [v["state_checksum"] for v in reversed(ws.versions(api))] == \
            [sha for _, sha in ws.acked]


@pytest.mark.skipif(bool(PG_URL), reason="the SQLite database file of a backup")
def test_tampered_database_file_fails_restore(source, tmp_path):
    srv, _, _ = source
    backup_dir = tmp_path / "backup"
    admin(srv.data_dir, "backup", "--to", str(backup_dir))
    db = backup_dir / "statehouse.db"
    data = bytearray(db.read_bytes())
    data[-100] ^= 0xFF
    db.write_bytes(bytes(data))
    target = restore_target(tmp_path, "target")
    out = admin(target, "restore", "--from", str(backup_dir), check=False)
    assert out.returncode != 0 and "damaged" in out.stderr, out.stderr
    assert not (target / "statehouse.db").exists()
