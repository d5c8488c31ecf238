"""Retention of state versions (--state-versions-keep, a workspace's state_retention) and the
garbage collection of blobs (--gc-interval-seconds, `statehouse admin gc`), on SQLite and, with
STATEHOUSE_TEST_PG_URL, PostgreSQL.
"""
from __future__ import annotations

import hashlib
import json
import time
import uuid

import pytest

from conftest import PG_URL, unique
from test_metrics import parse, value
from tfclient import HTTPBackend


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def tfstate(serial, lineage, tag) -> bytes:
    doc = {"version": 4, "terraform_version": "1.9.8", "serial": serial, "lineage": lineage,
           "outputs": {"tag": {"value": tag, "type": "string"}}, "resources": [],
           "check_results": None}
    return (json.dumps(doc, indent=2) + "\n").encode()


def make_workspace(api, **extra):
    org, prj, wid = unique("org"), unique("prj"), unique("ws")
    api.create_org(org)
    api.create_project(org, prj)
    body = {"identifier": wid, "name": f"Workspace {wid}", "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {},
            **extra}
    r = api.post(f"/iacm/api/orgs/{org}/projects/{prj}/workspaces", json=body)
    assert r.status_code == 200, r.text
    return f"/iacm/api/orgs/{org}/projects/{prj}/workspaces/{wid}"


def backend(api, path) -> HTTPBackend:
    address = api.base_url + path + "/terraform-backend"
    return HTTPBackend(address, lock_address=address + "/lock", unlock_address=address + "/lock",
                       username="terraform", password=api.token)


def versions(api, path):
    r = api.get(path + "/data", params={"data_type": "state_raw", "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()


def metrics(api):
    r = api.get("/metrics")
    assert r.status_code == 200, r.text
    return parse(r.text)


def wait_for(what, check, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def gc_server(spawn_server):
    srv = spawn_server("--state-versions-keep", "3", "--gc-interval-seconds", "1",
                       "--gc-grace-seconds", "2")
    srv.api = srv.client(srv.admin_token(), "default")
    return srv


def test_retention_keeps_the_newest_and_rollback_sources_and_gc_reclaims_the_rest(gc_server):
    api = gc_server.api
    path = make_workspace(api)
    tf = backend(api, path)
    lineage = str(uuid.uuid4())
    bodies = {n: tfstate(n, lineage, f"version {n}") for n in range(1, 11)}
    for n in range(1, 11):
        tf.put(bodies[n])
    by_serial = {}
    for v in versions(api, path):
        by_serial[v.get("serial", v.get("state_serial"))] = v
    # Versions 8, 9 and 10 are the three newest whenever a sweep ran: roll back to 8.
    source = next(v for v in versions(api, path) if v["state_checksum"] == sha256(bodies[8]))
    r = api.post(f"{path}/state-versions/{source['id']}/rollback", json={})
    assert r.status_code == 200, r.text
    rolled = tf.get()
    expired_shas = {sha256(bodies[n]) for n in range(1, 8)}
    kept_shas = {sha256(bodies[n]) for n in (8, 9, 10)} | {sha256(rolled)}

    def settled():
        listed = versions(api, path)
        if {v["state_checksum"] for v in listed} != kept_shas:
            return None
        m = metrics(api)
        if value(m, "statehouse_gc_removed_blobs_total") < 7:
            return None
        return listed, m

    listed, m = wait_for("retention and a sweep", settled)
    assert len(listed) == 4, listed
    assert value(m, "statehouse_state_versions_expired_total") == 7
    assert value(m, "statehouse_gc_runs_total") >= 1
    assert value(m, "statehouse_gc_reclaimed_bytes_total") >= sum(len(bodies[n]) for n in range(1, 8))
    for v in listed:
        r = api.get(f"{path}/data/{v['id']}")
        assert r.status_code == 200, r.text
        assert sha256(r.content) == v["state_checksum"], v
    assert tf.get() == rolled
    if not PG_URL:
        blobs = gc_server.data_dir / "blobs"
        for sha in expired_shas:
            assert not (blobs / sha[:2] / sha).exists(), sha
        for sha in kept_shas:
            assert (blobs / sha[:2] / sha).exists(), sha
    # One info line per sweep in the log.
    wait_for("a logged sweep", lambda: '"msg":"garbage collection"' in gc_server.output())
    # The rollback keeps its source; the CLI carries on.
    tf.put(tfstate(12, lineage, "after"))
    tf.put(tfstate(13, lineage, "after again"))
    wait_for("the next expiry",
             lambda: len(versions(api, path)) == 4 and sha256(bodies[9]) not in
             {v["state_checksum"] for v in versions(api, path)})
    assert sha256(bodies[8]) in {v["state_checksum"] for v in versions(api, path)}


def test_workspace_override_and_its_validation(gc_server):
    api = gc_server.api
    keep_all = make_workspace(api, state_retention={"keep_versions": 0})
    keep_one = make_workspace(api, state_retention={"keep_versions": 1})
    shown = api.get(keep_one).json()
    assert shown.get("state_retention") == {"keep_versions": 1}, shown
    lineage_a, lineage_b = str(uuid.uuid4()), str(uuid.uuid4())
    for n in range(1, 6):
        backend(api, keep_all).put(tfstate(n, lineage_a, f"a{n}"))
        backend(api, keep_one).put(tfstate(n, lineage_b, f"b{n}"))
    wait_for("keep_versions 1", lambda: len(versions(api, keep_one)) == 1)
    assert versions(api, keep_one)[0]["state_checksum"] == sha256(tfstate(5, lineage_b, "b5"))
    assert len(versions(api, keep_all)) == 5
    for bad, field in [({"keep_versions": -1}, "keep_versions"),
                       ({"keep_versions": "many"}, "keep_versions"),
                       ({"max_age_days": 1.5}, "max_age_days"),
                       ({"keep": 3}, "keep"),
                       ("three", "state_retention")]:
        r = api.post(keep_all.rsplit("/", 1)[0],
                     json={"identifier": unique("ws"), "name": "x", "provisioner": "terraform",
                           "provider_connector": "", "terraform_variables": {},
                           "environment_variables": {}, "state_retention": bad})
        assert r.status_code == 400, (bad, r.text)
        assert field in r.json()["message"], (bad, r.text)


def test_admin_gc(spawn_server):
    srv = spawn_server("--gc-interval-seconds", "0")
    api = srv.client(srv.admin_token(), "default")
    path = make_workspace(api)
    lineage = str(uuid.uuid4())
    for n in range(1, 4):
        backend(api, path).put(tfstate(n, lineage, f"v{n}"))
    if PG_URL:
        # PostgreSQL: safe beside running replicas.
        out = srv.admin("gc", "--state-versions-keep", "1").stdout
        assert "expired 2 state versions" in out, out
        assert len(versions(api, path)) == 1
    else:
        # SQLite: the server sweeps itself; admin gc refuses while it runs.
        p = srv.admin("gc", "--state-versions-keep", "1", check=False)
        assert p.returncode != 0 and "server is running" in p.stderr, p.stderr
        assert srv.terminate() == 0
        out = srv.admin("gc", "--state-versions-keep", "1").stdout
        assert "expired 2 state versions" in out, out
        # within the grace period the blobs stay; the rows are gone
        srv.start()
        assert len(versions(srv.client(srv.admin_token(), "default"), path)) == 1
