"""PostgreSQL helpers for the benchmarks (`--database postgres`).

A throwaway PostgreSQL 15 cluster started with scripts/pg-cluster in a temp dir (or an existing
server named by --pg-url / $STATEHOUSE_TEST_PG_URL), fresh databases in it, psql, and the libpq
blob baseline (bench/pg_blob_baseline.cpp).
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_CLUSTER = os.path.join(ROOT, "scripts", "pg-cluster")


def log(msg: str):
    print(msg, file=sys.stderr, flush=True)


def with_db(url: str, dbname: str) -> str:
    """The server URL with its database path replaced by dbname (query parameters kept)."""
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def psql(url: str, sql: str | None = None, stdin=None, check=True) -> str:
    """Runs sql (or the script on stdin) with psql against url; returns stdout (-At)."""
    cmd = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url]
    cmd += ["-c", sql] if sql is not None else ["-f", "-"]
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=isinstance(stdin, str) or stdin is None)
    if check and r.returncode != 0:
        err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
        raise SystemExit(f"psql failed ({sql or 'script'}): {err.strip()}")
    return r.stdout if isinstance(r.stdout, str) else r.stdout.decode()


class Cluster:
    """A PostgreSQL server for one benchmark run: our own (scripts/pg-cluster, removed on close)
    unless url is given. database(name) creates a fresh database and returns its URL; on close,
    databases created in a server we do not own are dropped."""

    def __init__(self, url: str | None = None, tmp_dir: str | None = None):
        self.own_dir = None
        self.created: list[str] = []
        self.url = url or os.environ.get("STATEHOUSE_TEST_PG_URL") or None
        if self.url:
            self.external = True
            self.suffix = "_" + secrets.token_hex(4)
        else:
            if not os.path.isdir("/usr/lib/postgresql/15/bin"):
                sys.exit("--database postgres needs PostgreSQL 15 (scripts/install-deps) or --pg-url")
            self.external = False
            self.suffix = ""
            self.own_dir = tempfile.mkdtemp(prefix="statehouse_bench_pg_", dir=tmp_dir)
            os.chmod(self.own_dir, 0o755)  # the cluster runs as an unprivileged user when we are root
            log("starting a PostgreSQL 15 cluster (scripts/pg-cluster) ...")
            out = subprocess.run([PG_CLUSTER, "start", os.path.join(self.own_dir, "cluster")],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                self.close()
                sys.exit(f"scripts/pg-cluster start failed: {out.stderr.strip()}")
            self.url = out.stdout.strip().splitlines()[-1]
        self.admin_url = self.url if urllib.parse.urlsplit(self.url).path.strip("/") else with_db(self.url, "postgres")

    def database(self, name: str) -> str:
        name = name + self.suffix
        psql(self.admin_url, f'DROP DATABASE IF EXISTS "{name}"')
        psql(self.admin_url, f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\' LC_COLLATE \'C\' '
                             f"LC_CTYPE 'C'")
        self.created.append(name)
        return with_db(self.url, name)

    def version(self) -> str:
        return psql(self.admin_url, "SHOW server_version").strip()

    def settings(self) -> dict:
        out = psql(self.admin_url, "SELECT name, setting FROM pg_settings WHERE name IN "
                                   "('shared_buffers','max_wal_size','synchronous_commit','fsync',"
                                   "'wal_sync_method','full_page_writes','checkpoint_timeout')")
        return dict(line.split("|", 1) for line in out.splitlines() if "|" in line)

    def cpu_seconds(self) -> float | None:
        """user+system CPU of the postmaster and its live children (our own cluster only)."""
        if self.external or not self.own_dir:
            return None
        try:
            with open(os.path.join(self.own_dir, "cluster", "data", "postmaster.pid")) as f:
                pid = int(f.readline())
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                pids = [pid] + [int(x) for x in f.read().split()]
        except (OSError, ValueError):
            return None
        return sum(proc_cpu_seconds(p) for p in pids)

    def database_bytes(self, url: str) -> int:
        return int(psql(url, "SELECT pg_database_size(current_database())").strip())

    def close(self):
        if self.external:
            for name in self.created:
                psql(self.admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)
        elif self.own_dir:
            subprocess.run([PG_CLUSTER, "stop", os.path.join(self.own_dir, "cluster")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            shutil.rmtree(self.own_dir, ignore_errors=True)
            self.own_dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def proc_cpu_seconds(pid: int) -> float:
    """user+system CPU seconds of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def compile_baseline(out_dir: str) -> str:
    exe = os.path.join(out_dir, "pg_blob_baseline")
    src = os.path.join(ROOT, "bench", "pg_blob_baseline.cpp")
    subprocess.run(["g++", "-O2", "-std=c++20", "-I/usr/include/postgresql", "-o", exe, src, "-lpq"],
                   check=True)
    return exe


def post_pg(baseline: str, url: str, blob_file: str, count=1, mode="chunks") -> list[float]:
    """The PostgreSQL baseline: `count` durable one-blob transactions of blob_file (mode chunks:
    1 MiB bytea rows plus a size row, as the server's blob store; row: one bytea row); seconds each."""
    out = subprocess.run([baseline, url, blob_file, str(count), mode], check=True,
                         capture_output=True, text=True).stdout
    return [float(x) for x in out.split()]
