"""GET /metrics in Prometheus' text format, checked by `promtool check metrics` (Debian's
prometheus package), with counters that move after known requests; admin tokens only on the API
port, open on --metrics-listen's own port.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import requests

from conftest import free_port, unique

PROMTOOL = shutil.which("promtool")


def parse(text):
    """{(name, frozenset(labels)): value} of every sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        samples[(m.group(1), labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metrics_server(spawn_server):
    port = free_port()
    srv = spawn_server("--metrics-listen", f"127.0.0.1:{port}")
    srv.metrics_url = f"http://127.0.0.1:{port}/metrics"
    return srv


def scrape(srv):
    r = requests.get(srv.metrics_url, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.text


def test_metrics_are_valid_prometheus_text(metrics_server):
    text = scrape(metrics_server)
    if PROMTOOL is None:
        import os
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not installed (scripts/install-deps installs prometheus)")
        pytest.skip("promtool is not installed")
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    for family in ("statehouse_http_request_duration_seconds", "statehouse_http_requests_in_flight",
                   "statehouse_http_connections_open", "statehouse_handler_queue_depth",
                   "statehouse_db_transaction_duration_seconds", "statehouse_cache_lookups_total",
                   "statehouse_db_wal_checkpoints_total", "statehouse_db_wal_writer_checkpoints_total",
                   "statehouse_state_lock_requests_total", "statehouse_state_lock_held_seconds",
                   "statehouse_state_bytes", "statehouse_blobs", "statehouse_runs",
                   "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"):
        assert f"# TYPE {family} " in text, family


def test_access_needs_an_admin_token_on_the_api_port(metrics_server):
    base = metrics_server.base_url
    assert requests.get(base + "/metrics", timeout=10).status_code == 401
    account = "default"
    viewer = metrics_server.create_token(account, "viewer")
    r = requests.get(base + "/metrics", headers={"x-api-key": viewer, "Harness-Account": account}, timeout=10)
    assert r.status_code == 403
    r = requests.get(base + "/metrics", headers={"x-api-key": metrics_server.admin_token(),
                                                 "Harness-Account": account}, timeout=10)
    assert r.status_code == 200 and "statehouse_http_request_duration_seconds" in r.text
    # The metrics port serves /metrics only.
    other = requests.get(metrics_server.metrics_url.replace("/metrics", "/v1/orgs"), timeout=10)
    assert other.status_code == 404


def test_counters_move_after_known_requests(metrics_server):
    api = metrics_server.client(metrics_server.admin_token(), "default")
    org, project, ws = unique("org"), unique("prj"), unique("ws")
    api.create_org(org)
    api.create_project(org, project)
    base = f"/iacm/api/orgs/{org}/projects/{project}/workspaces"
    r = api.post(base, json={"identifier": ws, "name": ws, "provisioner": "terraform", "provider_connector": "",
                             "terraform_variables": {}, "environment_variables": {}})
    assert r.status_code == 200, r.text
    before = parse(scrape(metrics_server))

    for _ in range(7):
        assert api.get("/v1/orgs").status_code == 200
    backend = f"{base}/{ws}/terraform-backend"
    lock = {"ID": "11111111-2222-3333-4444-555555555555", "Operation": "OperationTypeApply", "Info": "",
            "Who": "test", "Version": "1.11.4", "Created": "2026-12-06T00:00:00Z", "Path": ""}
    assert api.request("LOCK", backend, json=lock).status_code == 200
    assert api.request("LOCK", backend, json=dict(lock, ID="other")).status_code in (409, 423)
    state = {"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": "l-1", "outputs": {},
             "resources": [], "check_results": None}
    r = api.post(backend, params={"ID": lock["ID"]}, data=json.dumps(state),
                 headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 201, 204), r.text
    assert api.request("UNLOCK", backend, json=lock).status_code == 200
    after = parse(scrape(metrics_server))

    count = "statehouse_http_request_duration_seconds_count"
    assert value(after, count, route="/v1/orgs", method="GET", status="200") - \
        value(before, count, route="/v1/orgs", method="GET", status="200") == 7
    route = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}/terraform-backend"
    assert value(after, count, route=route, method="LOCK", status="200") - \
        value(before, count, route=route, method="LOCK", status="200") == 1
    locks = "statehouse_state_lock_requests_total"
    assert value(after, locks, result="acquired") - value(before, locks, result="acquired") == 1
    assert value(after, locks, result="held_by_another") - value(before, locks, result="held_by_another") == 1
    assert value(after, locks, result="released") - value(before, locks, result="released") == 1
    held = "statehouse_state_lock_held_seconds_count"
    assert value(after, held) - value(before, held) == 1
    lookups = "statehouse_cache_lookups_total"
    moved = sum(value(after, lookups, cache="token", result=r) - value(before, lookups, cache="token", result=r)
                for r in ("hit", "miss"))
    assert moved >= 7
    writes = "statehouse_db_transaction_duration_seconds_count"
    assert value(after, writes, kind="write") > value(before, writes, kind="write")
    assert value(after, "statehouse_state_versions") >= 1
    assert value(after, "statehouse_blobs") >= 1
    assert value(after, "process_resident_memory_bytes") > 1e6
    # Unknown methods do not make new label values.
    requests.request("BREW", metrics_server.base_url + "/v1/orgs", timeout=10)
    text = scrape(metrics_server)
    assert 'method="BREW"' not in text and 'method="other"' in text
