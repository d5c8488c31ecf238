#!/usr/bin/python3
"""Workspace list/show latency with 1k and 1M workspaces in a project, side by side.

Starts the real server on a temp data dir, bulk-loads two projects straight into its SQLite
file (one transaction, the server's own schema), restarts it, then times over one keep-alive
connection: a list page (30 rows, name order), a list page sorted by updated DESC, a list page
deep in the table (page 100), a show and an update. Prints medians and p99 per scenario and
the 1M/1k ratio. A benchmark, not a test: it asserts nothing about time.

With --database postgres it starts a throwaway PostgreSQL 15 cluster (scripts/pg-cluster; or
uses --pg-url / $STATEHOUSE_TEST_PG_URL), creates a fresh database, runs the server with
--database postgres://.../dbname and bulk-loads with COPY through psql instead (load_pg).

usage: bench/workspace_scale.py [--binary build/statehouse] [--big 1000000] [--requests 2000]
                                [--database sqlite|postgres] [--pg-url URL]
"""
import argparse
import http.client
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary, data_dir, port, extra=()):
    proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data_dir,
                             "--log-level", "warn", *extra], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit("server did not start")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


CONFIG = json.dumps({"provider_connector": "", "description": "", "repository": "https://example.com/r",
                     "repository_path": "", "repository_submodules": "false", "provisioner_version": "latest",
                     "provisioner_data": "", "terragrunt_provider": False, "provider_connectors": [],
                     "environment_variables": {}, "terraform_variables": {
                         "region": {"key": "region", "value": "eu-west-1", "value_type": "string",
                                    "created": 1, "updated": 1}},
                     "terraform_variable_files": [], "default_pipelines": {}, "cost_estimation_enabled": False,
                     "ccm_cost_enabled": False, "prune_sensitive_data": False})


def load(db_path, project, count):
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=OFF")
    now = int(time.time() * 1000)
    db.execute("INSERT INTO orgs(account, identifier, name, created, updated) VALUES('default','bench','Bench',?,?)"
               " ON CONFLICT DO NOTHING", (now, now))
    db.execute("INSERT INTO projects(account, org, identifier, name, created, updated, workspace_count) "
               "VALUES('default','bench',?,?,?,?,?)", (project, project, now, now, count))
    statuses = ["active", "inactive", "failed"]
    rows = ((f"default", "bench", project, f"ws{i:07d}", f"Workspace {i:07d}", statuses[i % 3], "terraform",
             json.dumps({"team": f"t{i % 50}"}), CONFIG, now - i, now - i) for i in range(count))
    t = time.time()
    db.executemany("INSERT INTO workspaces(account, org, project, identifier, name, status, provisioner, tags,"
                   " config, created, updated) VALUES(?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.executemany("INSERT INTO workspace_tags(account, org, project, workspace, key, value) VALUES(?,?,?,?,?,?)",
                   (("default", "bench", project, f"ws{i:07d}", "team", f"t{i % 50}") for i in range(count)))
    for i, status in enumerate(statuses):
        db.execute("INSERT INTO workspace_status_counts(account, org, project, status, count) VALUES(?,?,?,?,?)",
                   ("default", "bench", project, status, len(range(i, count, 3))))
    db.commit()
    db.execute("ANALYZE")
    db.close()
    print(f"loaded {count} workspaces into {project} in {time.time() - t:.1f}s", file=sys.stderr)


WS_COLUMNS = "account, org, project, identifier, name, status, provisioner, tags, config, created, updated"


def _copy_text(value: str) -> str:
    """A value for COPY's text format (our JSON has no tabs or newlines, but keep it honest)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def load_pg(url, project, count):
    """The PostgreSQL twin of load(): the same rows, in one transaction through psql, workspaces
    and their tags with COPY FROM STDIN (columns as migrations/postgres/0002_workspaces.sql);
    keeps accounts.org_count, orgs.project_count, projects.workspace_count and
    workspace_status_counts consistent, then ANALYZE. The server must be stopped."""
    import pg  # noqa: E402  (bench/pg.py)
    now = int(time.time() * 1000)
    statuses = ["active", "inactive", "failed"]
    config = _copy_text(CONFIG)
    head = f"""\\set ON_ERROR_STOP 1
BEGIN;
WITH o AS (INSERT INTO orgs(account, identifier, name, created, updated)
           VALUES('default','bench','Bench',{now},{now}) ON CONFLICT DO NOTHING RETURNING 1)
UPDATE accounts SET org_count = org_count + (SELECT count(*) FROM o) WHERE identifier = 'default';
INSERT INTO projects(account, org, identifier, name, created, updated, workspace_count)
  VALUES('default','bench','{project}','{project}',{now},{now},{count});
UPDATE orgs SET project_count = project_count + 1 WHERE account = 'default' AND identifier = 'bench';
COPY workspaces({WS_COLUMNS}) FROM STDIN;
"""
    t = time.time()
    proc = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    w = proc.stdin
    try:
        w.write(head.encode())
        batch = []
        for i in range(count):
            batch.append(f"default\tbench\t{project}\tws{i:07d}\tWorkspace {i:07d}\t{statuses[i % 3]}\t"
                         f"terraform\t{{\"team\": \"t{i % 50}\"}}\t{config}\t{now - i}\t{now - i}\n")
            if len(batch) == 10000:
                w.write("".join(batch).encode())
                batch.clear()
        w.write("".join(batch).encode())
        w.write(b"\\.\nCOPY workspace_tags(account, org, project, workspace, key, value) FROM STDIN;\n")
        batch.clear()
        for i in range(count):
            batch.append(f"default\tbench\t{project}\tws{i:07d}\tteam\tt{i % 50}\n")
            if len(batch) == 20000:
                w.write("".join(batch).encode())
                batch.clear()
        w.write("".join(batch).encode())
        tail = ["\\.\n"]
        for i, status in enumerate(statuses):
            tail.append(f"INSERT INTO workspace_status_counts(account, org, project, status, count) "
                        f"VALUES('default','bench','{project}','{status}',{len(range(i, count, 3))});\n")
        tail.append("COMMIT;\nANALYZE;\n")
        w.write("".join(tail).encode())
        w.close()
    except BrokenPipeError:
        pass
    if proc.wait() != 0:
        sys.exit(f"psql COPY load of {project} failed")
    got = pg.psql(url, f"SELECT (SELECT count(*) FROM workspaces WHERE project = '{project}'), "
                       f"(SELECT workspace_count FROM projects WHERE identifier = '{project}'), "
                       f"(SELECT sum(count) FROM workspace_status_counts WHERE project = '{project}')").strip()
    if got != f"{count}|{count}|{count}":
        sys.exit(f"load_pg {project}: rows|workspace_count|status sum = {got}, expected {count}")
    print(f"loaded {count} workspaces into {project} (PostgreSQL COPY) in {time.time() - t:.1f}s", file=sys.stderr)


def timed_samples(conn, method, path, headers, body=None, n=1000):
    """n sequential requests over one keep-alive connection; sorted latencies in ms."""
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        samples.append((time.perf_counter() - t) * 1e3)
        if r.status >= 300:
            sys.exit(f"{method} {path} -> {r.status}")
    samples.sort()
    return samples


def p50_p99(samples):
    samples = sorted(samples)
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.99) - 1)]


def timed(conn, method, path, headers, body=None, n=1000):
    return p50_p99(timed_samples(conn, method, path, headers, body, n))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "statehouse"))
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--pg-url", default=None,
                    help="an existing PostgreSQL server (default $STATEHOUSE_TEST_PG_URL, else a throwaway cluster)")
    args = ap.parse_args()
    cluster = None
    with tempfile.TemporaryDirectory(prefix="statehouse-bench-") as data:
        extra = ()
        if args.database == "postgres":
            import pg  # noqa: E402  (bench/pg.py)
            cluster = pg.Cluster(args.pg_url)
            db_url = cluster.database("statehouse_bench")
            extra = ("--database", db_url)
        port = free_port()
        proc = start(args.binary, data, port, extra)
        token = open(os.path.join(data, "admin.token")).read().strip()
        stop(proc)
        try:
            for project, n in (("small", args.small), ("big", args.big)):
                if cluster:
                    load_pg(db_url, project, n)
                else:
                    load(os.path.join(data, "statehouse.db"), project, n)
            proc = start(args.binary, data, port, extra)
        except BaseException:
            if cluster:
                cluster.close()
            raise
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            h = {"x-api-key": token}
            hj = dict(h, **{"Content-Type": "application/json"})
            results = []
            scenarios = [
                ("list page 1 (name)", "GET", "/workspaces?limit=30", None),
                ("list page 1 (updated,DESC)", "GET", "/workspaces?limit=30&sort=updated,DESC", None),
                ("list page 30", "GET", "/workspaces?limit=30&page=30", None),
                ("list status=failed", "GET", "/workspaces?limit=30&status=failed", None),
                ("show", "GET", "/workspaces/ws0000500", None),
                ("update", "PUT", "/workspaces/ws0000500", json.dumps({
                    "name": "Workspace renamed", "provisioner": "terraform", "provider_connector": "",
                    "terraform_variables": {}, "environment_variables": {}})),
            ]
            for label, method, suffix, body in scenarios:
                row = [label]
                for project in ("small", "big"):
                    path = f"/iacm/api/orgs/bench/projects/{project}{suffix}"
                    n = args.requests if method == "GET" else max(50, args.requests // 10)
                    timed(conn, method, path, hj if body else h, body, n=min(100, n))  # warm-up
                    row += list(timed(conn, method, path, hj if body else h, body, n=n))
                results.append(row)
            print(f"{'scenario':30} {'1k p50 ms':>10} {'1k p99':>8} {'1M p50 ms':>10} {'1M p99':>8} {'ratio p50':>10}")
            for label, sp50, sp99, bp50, bp99 in results:
                print(f"{label:30} {sp50:10.3f} {sp99:8.3f} {bp50:10.3f} {bp99:8.3f} {bp50 / sp50:10.2f}")
        finally:
            stop(proc)
            if cluster:
                cluster.close()


if __name__ == "__main__":
    main()
