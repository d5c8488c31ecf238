"""The runs scenarios of bench/run (`bench/run --only runs` runs them alone).

The server runs terraform itself (src/runs/runner.cpp). These rows measure what it adds around
the provisioner, on a trivial configuration (one terraform_data, no provider download):

run start / end overhead
    N (20, --quick 5) plan runs (kind "plan") on one workspace, one after the other, through
    remote-executions create + upload + execute. Each run document carries
    summary.timings.plan = {claimed_us, first_process_start_us, last_process_exit_us, status_us}
    (system clock, microseconds, set by the runner). With t_exec = the client's system clock
    just before POST .../execute (same machine, same clock):
      start overhead = first_process_start_us - t_exec   (HTTP, queue, claim, work dir, archive)
      queue wait     = claimed_us - t_exec               (the part before a slot takes the run:
                                                          with a free slot, the wake-up latency)
      end overhead   = status_us - last_process_exit_us  (plan stored twice as workspace data,
                                                          events, lock check; the final status
                                                          is committed right after status_us)
    Median and p99 (nearest rank; with 20 runs, the max) against the issue's target of 50 ms.
    The first process is the runner's `terraform version -json` probe.

runs/min, 2 slots
    T (20, --quick 10) plan runs spread round-robin over 4 workspaces (so both slots stay busy):
    executions created and uploaded first, then executed in a burst; runs/min = T / (last
    status_us - the client's time before the first execute; T counts the runs that ended
    planned). Baseline: the same terraform steps
    the runner does (init -input=false, plan -input=false -detailed-exitcode -out, show -json,
    show; all -no-color) by hand with subprocess in 2 parallel loops (the 2 slots), each
    iteration in a fresh copy of the config directory with a fresh HOME and the runner's
    environment, against the same server's http backend (TF_HTTP_ADDRESS and the lock addresses
    of a workspace of its own per loop, the admin token as TF_HTTP_PASSWORD, a
    `terraform { backend "http" {} }` override file). The runner's `terraform version -json`
    probe is not in the baseline: it is part of what the server adds. Rounds interleave, server
    and baseline alternating which goes first. Ratio: server / by hand (target >= 0.8).

log line latency
    An auto-applied run whose local-exec prints 50 lines 100 ms apart, each with its own
    wall-clock time (`echo "tick $(date +%s.%N)"`), followed through
    GET .../runs/{id}/logs?follow=true (chunked) from the moment it is executed; latency per
    line = receive time - embedded time. p50/p99/max over every line of every round, against
    the issue's target (p99 <= 200 ms). For context (not in the ratio), the same apply by hand
    with its stdout read straight from the pipe: terraform's own share of the latency.

A run that fails (status other than planned/applied) is noted with its terraform error lines
and left out: overhead samples skip it, runs/min counts the runs that ended planned, a failed log
run is retried once. The details also give CPU per run in the runs/min batches (the server's own
and its terraform children's, from /proc/<pid>/stat; by hand, this process's children's).

A benchmark, not a test: nothing fails on time. Needs terraform on the PATH; without it the
runs rows are skipped (and say so).
"""
from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import http.client
import io
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time

import state_bench as sb

ROOT = sb.ROOT
PROJECT = "runs"
OVERHEAD_TARGET_MS = 50.0
LOG_P99_TARGET_MS = 200.0
THROUGHPUT_WORKSPACES = 4
LOG_LINES = 50

TRIVIAL = """resource "terraform_data" "a" {
  input = "bench"
}
"""

TICKS = """resource "terraform_data" "ticks" {
  provisioner "local-exec" {
    command = <<-EOT
      for i in $(seq %d); do echo "tick $(date +%%s.%%N)"; sleep 0.1; done
    EOT
  }
}
""" % LOG_LINES

BACKEND_OVERRIDE = ("# as the runner writes it\nterraform {\n  backend \"http\" {}\n}\n")
TICK_RE = re.compile(rb"\(local-exec\): tick (\d+\.\d+)")


def terraform() -> str | None:
    return shutil.which("terraform")


def now_us() -> int:
    return time.time_ns() // 1000


def pct(xs, p):
    """Nearest-rank percentile."""
    s = sorted(xs)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)] if s else float("nan")


def summary(xs) -> dict:
    return {"n": len(xs), "p50": statistics.median(xs) if xs else float("nan"), "p99": pct(xs, 99),
            "max": max(xs) if xs else float("nan"), "min": min(xs) if xs else float("nan")}


def targz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Runs:
    """Workspaces, remote executions and runs of one project, over one keep-alive connection."""

    def __init__(self, c: sb.Client, org: str, project: str):
        self.c, self.org, self.project = c, org, project
        self.base = f"/iacm/api/orgs/{org}/projects/{project}/workspaces"

    def ws(self, ws: str) -> str:
        return f"{self.base}/{ws}"

    def workspace(self, ident: str):
        sb.expect(self.c.request("POST", self.base, json.dumps(sb.workspace_doc(ident)).encode()),
                  (200, 201), f"create workspace {ident}")

    def prepare(self, ws: str, archive: bytes) -> str:
        """A remote execution with its source uploaded; returns its id."""
        e = json.loads(sb.expect(self.c.request("POST", f"{self.ws(ws)}/remote-executions",
                                                json.dumps({"custom_arguments": {}}).encode()),
                                 (201,), "create remote execution"))
        digest = "sha-256=:" + base64.b64encode(hashlib.sha256(archive).digest()).decode() + ":"
        sb.expect(self.c.request("POST", f"{self.ws(ws)}/remote-executions/{e['id']}/upload", archive,
                                 content_type="application/octet-stream",
                                 headers={"Content-Digest": digest}), (200,), "upload source")
        return e["id"]

    def execute(self, ws: str, execution: str, kind="plan", auto_apply=False) -> tuple[int, dict]:
        """(client system time before the POST in µs, the run document); the request's round
        trip in µs goes to self.last_execute_us."""
        body = json.dumps({"kind": kind, "auto_apply": auto_apply, "message": "bench"}).encode()
        t = now_us()
        out = json.loads(sb.expect(self.c.request(
            "POST", f"{self.ws(ws)}/remote-executions/{execution}/execute", body), (200,), "execute"))
        self.last_execute_us = now_us() - t
        return t, out["run"]

    def run(self, ws: str, run_id: str) -> dict:
        return json.loads(sb.expect(self.c.request("GET", f"{self.ws(ws)}/runs/{run_id}"), (200,), "GET run"))

    def wait_final(self, ws: str, run_id: str, timeout=300, every=0.1) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            doc = self.run(ws, run_id)
            if doc["final"]:
                return doc
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} still {doc['status']} after {timeout} s")
            time.sleep(every)

    def wait_all_final(self, pending: dict[str, str], timeout=900, every=0.5) -> dict[str, dict]:
        """pending: run id -> workspace, in execute order. A workspace runs its runs one at a
        time in order, so this polls only each workspace's last run (GET, cheap for the server
        under test), then lists the runs once. Server time stamps carry the figures, so the
        poll period does not matter."""
        last: dict[str, str] = {}
        for rid, ws in pending.items():
            last[ws] = rid
        deadline = time.monotonic() + timeout
        while True:
            for ws, rid in list(last.items()):
                if self.run(ws, rid)["final"]:
                    del last[ws]
            if not last:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"runs not final after {timeout} s: {sorted(last.values())}")
            time.sleep(every)
        done: dict[str, dict] = {}
        for ws in set(pending.values()):
            listed = json.loads(sb.expect(self.c.request("GET", f"{self.ws(ws)}/runs?limit=100"),
                                          (200,), "list runs"))
            done.update({d["id"]: d for d in listed if d["id"] in pending})
        missing = [rid for rid in pending if rid not in done or not done[rid]["final"]]
        for rid in missing:  # not in the first page, or (unexpectedly) not final yet
            done[rid] = self.wait_final(pending[rid], rid, timeout=timeout)
        return done

    def log(self, ws: str, run_id: str) -> str:
        return sb.expect(self.c.request("GET", f"{self.ws(ws)}/runs/{run_id}/logs"), (200,), "GET log").decode(
            errors="replace")


def failure(r: "Runs", ws: str, doc: dict) -> dict:
    """A failed run, with the terraform error lines of its log."""
    text = r.log(ws, doc["id"])
    errors = [line.strip() for line in text.splitlines() if line.startswith("Error:")]
    return {"id": doc["id"], "status": doc["status"], "error": doc["summary"].get("error"),
            "terraform_errors": errors[:3]}


def cpu_seconds(pid: int | None) -> tuple[float, float]:
    """(the process's own CPU seconds, its reaped children's) from /proc/pid/stat; zeros without a pid."""
    if not pid:
        return 0.0, 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def children_cpu() -> float:
    import resource  # noqa: PLC0415
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timings(doc: dict, phase="plan") -> dict | None:
    t = (doc.get("summary") or {}).get("timings", {}).get(phase)
    return t if t and t.get("first_process_start_us") and t.get("last_process_exit_us") else None


# -- the terraform steps by hand -------------------------------------------------------------------
def runner_env(home: str, address: str, token: str) -> dict:
    """The environment the runner gives the provisioner (runner.cpp PrepareEnvironment and
    WriteRunFiles), with the admin token instead of a run token."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": home,
           "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
           "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_ALLOW_PROTOCOL": "file:https:http:ssh:git",
           "TF_HTTP_ADDRESS": address, "TF_HTTP_LOCK_ADDRESS": address + "/lock",
           "TF_HTTP_UNLOCK_ADDRESS": address + "/lock", "TF_HTTP_USERNAME": "bench",
           "TF_HTTP_PASSWORD": token}
    if "LANG" in os.environ:
        env["LANG"] = os.environ["LANG"]
    return env


def by_hand_plan(tf: str, template: str, scratch: str, env_for) -> dict:
    """One iteration: a fresh copy of the config, then init, plan, show -json, show (as the
    runner runs them); returns per-step seconds."""
    run_dir = tempfile.mkdtemp(dir=scratch)
    try:
        work = os.path.join(run_dir, "work")
        shutil.copytree(template, work)
        home = os.path.join(run_dir, "home")
        os.makedirs(home)
        env = env_for(home)
        plan = os.path.join(run_dir, "plan.tfplan")
        steps = [("init", [tf, "init", "-input=false", "-no-color"], (0,)),
                 ("plan", [tf, "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan}"], (0, 2)),
                 ("show_json", [tf, "show", "-no-color", "-json", plan], (0,)),
                 ("show", [tf, "show", "-no-color", plan], (0,))]
        out = {}
        for name, argv, ok in steps:
            t = time.monotonic()
            p = subprocess.run(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out[name] = time.monotonic() - t
            if p.returncode not in ok:
                raise RuntimeError(f"by hand: terraform {name} exited {p.returncode}: "
                                   f"{p.stdout.decode(errors='replace')[-1500:]}")
        return out
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def by_hand_batch(tf: str, template: str, scratch: str, port: int, token: str, org: str, project: str,
                  loop_workspaces: list[str], total: int, server_pid: int | None = None) -> dict:
    """`total` plans in len(loop_workspaces) parallel loops; each loop on its own workspace."""
    loops = len(loop_workspaces)
    per_loop = [total // loops + (1 if i < total % loops else 0) for i in range(loops)]

    def loop(i):
        address = (f"http://127.0.0.1:{port}/iacm/api/orgs/{org}/projects/{project}/workspaces/"
                   f"{loop_workspaces[i]}/terraform-backend")
        return [by_hand_plan(tf, template, scratch, lambda home: runner_env(home, address, token))
                for _ in range(per_loop[i])]

    t0 = time.monotonic()
    own0, kids0 = cpu_seconds(server_pid)[0], children_cpu()
    with concurrent.futures.ThreadPoolExecutor(loops) as ex:
        results = list(ex.map(loop, range(loops)))
    span = time.monotonic() - t0
    own1, kids1 = cpu_seconds(server_pid)[0], children_cpu()
    steps = [s for r in results for s in r]
    return {"runs": total, "seconds": span, "runs_per_min": total * 60 / span,
            "cpu_ms_per_run": {"server": (own1 - own0) * 1e3 / total, "terraform": (kids1 - kids0) * 1e3 / total},
            "step_p50_s": {k: statistics.median(s[k] for s in steps) for k in steps[0]}}


def server_batch(r: Runs, archive: bytes, workspaces: list[str], total: int, server_pid: int | None = None) -> dict:
    """`total` plan runs round-robin over the workspaces, executed in a burst."""
    prepared = [(workspaces[i % len(workspaces)], r.prepare(workspaces[i % len(workspaces)], archive))
                for i in range(total)]
    pending = {}
    t_first = None
    own0, kids0 = cpu_seconds(server_pid)
    for ws, execution in prepared:
        t, run = r.execute(ws, execution)
        t_first = t_first or t
        pending[run["id"]] = ws
    docs = r.wait_all_final(pending)
    time.sleep(0.05)  # the last step's reap
    own1, kids1 = cpu_seconds(server_pid)
    failed = [failure(r, pending[d["id"]], d) for d in docs.values() if d["status"] != "planned"]
    planned = total - len(failed)
    ends = [timings(d)["status_us"] for d in docs.values() if timings(d)]
    t_last = max(ends) if ends else max(d["updated"] * 1000 for d in docs.values())
    span = (t_last - t_first) / 1e6
    ts = [timings(d) for d in docs.values() if timings(d) and d["status"] == "planned"]
    run_s = [(t["status_us"] - t["claimed_us"]) / 1e6 for t in ts]
    # where a run's time goes while both slots are busy (ms, medians)
    parts = {"claimed_to_first_process": [(t["first_process_start_us"] - t["claimed_us"]) / 1e3 for t in ts],
             "provisioner": [(t["last_process_exit_us"] - t["first_process_start_us"]) / 1e3 for t in ts],
             "last_exit_to_status": [(t["status_us"] - t["last_process_exit_us"]) / 1e3 for t in ts]}
    # runs/min counts the runs that ended planned (the caller notes the others)
    return {"runs": total, "planned": planned, "seconds": span, "runs_per_min": planned * 60 / span,
            "cpu_ms_per_run": {"server": (own1 - own0) * 1e3 / total, "terraform": (kids1 - kids0) * 1e3 / total},
            "parts_p50_ms": {k: statistics.median(v) for k, v in parts.items() if v},
            # share of the span the 2 slots held a (planned) run, claimed -> status
            "slot_busy": sum(run_s) / (2 * span) if span > 0 else None,
            "failed": failed,
            "run_seconds_p50": statistics.median(run_s) if run_s else None}


# -- log streaming -----------------------------------------------------------------------------------
def follow_ticks(port: int, token: str, path: str, timeout=300) -> tuple[list[float], bytes]:
    """Follows a run's log (?follow=true) until it ends; latency in ms of every tick line."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    lat: list[float] = []
    body = b""
    try:
        conn.request("GET", path + "/logs?follow=true", headers={"x-api-key": token})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"follow: HTTP {resp.status} {resp.read()[:300]!r}")
        pending = b""
        while True:
            chunk = resp.read1(65536)
            got = time.time()
            if not chunk:
                break
            body += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                m = TICK_RE.search(line)
                if m:
                    lat.append((got - float(m.group(1))) * 1e3)
    finally:
        conn.close()
    return lat, body


def server_log_round(r: Runs, port: int, token: str, ws: str) -> dict:
    r.workspace(ws)
    execution = r.prepare(ws, targz({"main.tf": TICKS}))
    _, run = r.execute(ws, execution, kind="apply", auto_apply=True)
    lat, _ = follow_ticks(port, token, f"{r.ws(ws)}/runs/{run['id']}")
    doc = r.wait_final(ws, run["id"])
    if doc["status"] != "applied" or len(lat) != LOG_LINES:
        raise RuntimeError(f"log run {doc['status']}, {len(lat)}/{LOG_LINES} tick lines followed: "
                           f"{failure(r, ws, doc)}")
    return {"latency_ms": lat, "run_id": run["id"]}


def direct_log_round(tf: str, scratch: str, port: int, token: str, org: str, project: str, ws: str,
                     r: Runs) -> dict:
    """The same apply by hand, its stdout read straight from the pipe."""
    r.workspace(ws)
    run_dir = tempfile.mkdtemp(dir=scratch)
    try:
        work = os.path.join(run_dir, "work")
        os.makedirs(work)
        for name, text in (("main.tf", TICKS), ("zz_statehouse_backend_override.tf", BACKEND_OVERRIDE)):
            with open(os.path.join(work, name), "w") as f:
                f.write(text)
        home = os.path.join(run_dir, "home")
        os.makedirs(home)
        address = f"http://127.0.0.1:{port}/iacm/api/orgs/{org}/projects/{project}/workspaces/{ws}/terraform-backend"
        env = runner_env(home, address, token)
        p = subprocess.run([tf, "init", "-input=false", "-no-color"], cwd=work, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise RuntimeError(f"by hand: init exited {p.returncode}: {p.stdout.decode(errors='replace')[-1500:]}")
        proc = subprocess.Popen([tf, "apply", "-input=false", "-no-color", "-auto-approve"], cwd=work, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0)
        lat = []
        out = pending = b""
        while True:
            chunk = os.read(proc.stdout.fileno(), 65536)
            got = time.time()
            if not chunk:
                break
            out += chunk
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if m := TICK_RE.search(line):
                    lat.append((got - float(m.group(1))) * 1e3)
        rc = proc.wait()
        if rc != 0 or len(lat) != LOG_LINES:
            raise RuntimeError(f"by hand apply exited {rc}, {len(lat)}/{LOG_LINES} ticks: "
                               f"{out.decode(errors='replace')[-1500:]}")
        return {"latency_ms": lat}
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# -- all scenarios on one server ------------------------------------------------------------------------
def run_all(c: sb.Client, port: int, token: str, org: str, base_dir: str, overhead_runs: int,
            throughput_runs: int, rounds: int, log_rounds: int, log=sb.log, project=PROJECT,
            server_pid: int | None = None) -> dict:
    """The three scenarios against a running server (started with --runner-slots 2); creates
    `project` in `org`. Raises RuntimeError when terraform is missing or a run fails. With
    server_pid (same machine), the runs/min details include CPU per run: the server's own and
    its terraform children's (by hand: this process's children's)."""
    tf = terraform()
    if not tf:
        raise RuntimeError("terraform is not on the PATH")
    version = subprocess.run([tf, "version", "-json"], capture_output=True, text=True,
                             env={"PATH": os.environ.get("PATH", ""), "HOME": base_dir,
                                  "CHECKPOINT_DISABLE": "1"})
    try:
        tf_version = json.loads(version.stdout).get("terraform_version")
    except ValueError:
        tf_version = None
    sb.expect(c.request("POST", f"/v1/orgs/{org}/projects", json.dumps(
        {"project": {"identifier": project, "name": project.title()}}).encode()), (200, 201), "create project")
    r = Runs(c, org, project)
    scratch = os.path.join(base_dir, "by_hand")
    os.makedirs(scratch, exist_ok=True)
    template = os.path.join(base_dir, "trivial_config")
    os.makedirs(template, exist_ok=True)
    for name, text in (("main.tf", TRIVIAL), ("zz_statehouse_backend_override.tf", BACKEND_OVERRIDE)):
        with open(os.path.join(template, name), "w") as f:
            f.write(text)
    archive = targz({"main.tf": TRIVIAL})
    out: dict = {"terraform": tf_version, "notes": []}

    # 1. overhead: sequential plans on one workspace (one warm-up run first, not counted), each
    # followed by the same plan by hand (one loop, for the per-run comparison in the details).
    r.workspace("overhead")
    r.workspace("hand_seq")
    seq_address = (f"http://127.0.0.1:{port}/iacm/api/orgs/{org}/projects/{project}/workspaces/hand_seq"
                   "/terraform-backend")
    hand_seq = []
    log(f"runs: overhead, {overhead_runs} sequential plan runs (+1 warm-up) ...")
    start, end, queue, total, tf_time = [], [], [], [], []
    # queue wait broken down with the run's own ms stamps: created (run row built, before its
    # commit), started (set by the claiming slot, before the claim's commit)
    rtt, to_created, created_to_started, started_to_claimed = [], [], [], []
    docs = []
    failed: list[dict] = []
    for k in range(overhead_runs + 1):
        execution = r.prepare("overhead", archive)
        t_exec, run = r.execute("overhead", execution)
        doc = r.wait_final("overhead", run["id"])
        t = timings(doc)
        if doc["status"] != "planned" or not t:
            # Counted and left out (a failed run says nothing about the overhead of one that runs).
            failed.append(failure(r, "overhead", doc))
            continue
        if k == 0:
            continue
        start.append((t["first_process_start_us"] - t_exec) / 1e3)
        queue.append((t["claimed_us"] - t_exec) / 1e3)
        end.append((t["status_us"] - t["last_process_exit_us"]) / 1e3)
        tf_time.append((t["last_process_exit_us"] - t["first_process_start_us"]) / 1e3)
        total.append((t["status_us"] - t_exec) / 1e3)
        rtt.append(r.last_execute_us / 1e3)
        to_created.append(doc["created"] - t_exec / 1e3)
        created_to_started.append(doc["started"] - doc["created"])
        started_to_claimed.append(t["claimed_us"] / 1e3 - doc["started"])
        docs.append(doc)
        steps = by_hand_plan(tf, template, scratch, lambda home: runner_env(home, seq_address, token))
        hand_seq.append(sum(steps.values()) * 1e3)
    # end overhead broken down with the `created` ms stamps of the two plan data records the run
    # stores (text first, then JSON; each stamped before its commit)
    end_parts: dict[str, list] = {"exit_to_plan_text": [], "plan_text_to_plan_json": [], "plan_json_to_status": []}
    for doc in docs:
        t = timings(doc)
        listed = json.loads(sb.expect(r.c.request(
            "GET", f"{r.ws('overhead')}/data?pipeline_execution_id={doc['pipeline_execution_id']}&limit=10"),
            (200,), "list run data"))
        created = {d["id"]: d["created"] for d in listed}
        human, plan = created.get(doc["summary"].get("plan_human_data_id")), created.get(doc["summary"].get("plan_data_id"))
        if human is None or plan is None:
            continue
        end_parts["exit_to_plan_text"].append(human - t["last_process_exit_us"] / 1e3)
        end_parts["plan_text_to_plan_json"].append(plan - human)
        end_parts["plan_json_to_status"].append(t["status_us"] / 1e3 - plan)
    if not start:
        raise RuntimeError(f"every overhead run failed: {failed[:1]}")
    if failed:
        out["notes"].append(f"overhead: {len(failed)} of {overhead_runs + 1} runs did not end planned (left out); "
                            f"first: {failed[0]}")
    out["overhead"] = {"runs": len(start), "failed_runs": len(failed), "start_ms": summary(start), "queue_wait_ms": summary(queue),
                       "end_ms": summary(end), "provisioner_ms": summary(tf_time), "run_ms": summary(total),
                       "execute_rtt_ms": summary(rtt), "by_hand_sequential_ms": summary(hand_seq),
                       "queue_breakdown_ms": {"execute_to_created": summary(to_created),
                                              "created_to_started": summary(created_to_started),
                                              "started_to_claimed": summary(started_to_claimed)},
                       "end_breakdown_ms": {k: summary(v) for k, v in end_parts.items()},
                       "samples": {"start_ms": start, "queue_wait_ms": queue, "end_ms": end}}
    o = out["overhead"]
    log(f"  start p50 {o['start_ms']['p50']:.1f} ms (queue wait {o['queue_wait_ms']['p50']:.1f}), "
        f"end p50 {o['end_ms']['p50']:.1f} ms")

    # 2. throughput: server (2 slots, 4 workspaces) vs the steps by hand in 2 loops, interleaved.
    ws_server = [f"tp_{i}" for i in range(THROUGHPUT_WORKSPACES)]
    ws_hand = ["hand_0", "hand_1"]
    for ws in ws_server + ws_hand:
        r.workspace(ws)
    log("runs: warm-up by hand (1 plan) ...")
    by_hand_batch(tf, template, scratch, port, token, org, project, ws_hand[:1], 1)
    tp = {"server": [], "by_hand": []}
    for rnd in range(rounds):
        order = ("server", "by_hand") if rnd % 2 == 0 else ("by_hand", "server")
        for mode in order:
            if mode == "server":
                res = server_batch(r, archive, ws_server, throughput_runs, server_pid)
                if res["failed"]:
                    out["notes"].append(f"throughput round {rnd + 1}: {len(res['failed'])} of {res['runs']} runs did "
                                        f"not end planned (runs/min counts the planned ones): {res['failed'][:1]}")
            else:
                res = by_hand_batch(tf, template, scratch, port, token, org, project, ws_hand, throughput_runs,
                                    server_pid)
            tp[mode].append(res)
        log(f"  throughput round {rnd + 1}/{rounds}: server {tp['server'][-1]['runs_per_min']:.1f} runs/min, "
            f"by hand {tp['by_hand'][-1]['runs_per_min']:.1f} runs/min  (load average "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    srv = statistics.median(x["runs_per_min"] for x in tp["server"])
    hand = statistics.median(x["runs_per_min"] for x in tp["by_hand"])
    # What the runner's `terraform version -json` probe costs (not in the baseline).
    probe = []
    for _ in range(3):
        t = time.monotonic()
        subprocess.run([tf, "version", "-json"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=runner_env(scratch, "http://127.0.0.1:1/x", "x"))
        probe.append(time.monotonic() - t)
    out["throughput"] = {"runs": throughput_runs, "rounds": rounds, "workspaces": THROUGHPUT_WORKSPACES,
                         "server_runs_per_min": srv, "by_hand_runs_per_min": hand, "ratio": srv / hand,
                         "version_probe_s": statistics.median(probe),
                         "by_hand_step_p50_s": {k: statistics.median(x["step_p50_s"][k] for x in tp["by_hand"])
                                                for k in tp["by_hand"][0]["step_p50_s"]},
                         "server_slot_busy": statistics.median(
                             x["slot_busy"] for x in tp["server"] if x["slot_busy"] is not None),
                         "server_parts_p50_ms": {k: statistics.median(x["parts_p50_ms"][k] for x in tp["server"])
                                                 for k in tp["server"][0]["parts_p50_ms"]},
                         "cpu_ms_per_run": {mode: {k: statistics.median(x["cpu_ms_per_run"][k] for x in tp[mode])
                                                   for k in ("server", "terraform")} for mode in tp},
                         "server_run_seconds_p50": statistics.median(
                             x["run_seconds_p50"] for x in tp["server"] if x["run_seconds_p50"] is not None),
                         "rounds_detail": tp}

    # 3. log streaming latency, interleaved with the same apply by hand read straight from its pipe.
    log(f"runs: log latency, {log_rounds} round(s) of {LOG_LINES} lines ...")
    lat_server, lat_direct = [], []
    for rnd in range(log_rounds):
        order = ("server", "direct") if rnd % 2 == 0 else ("direct", "server")
        for mode in order:
            if mode == "server":
                for attempt in ("", "_retry"):
                    try:
                        lat_server += server_log_round(r, port, token, f"log_{rnd}{attempt}")["latency_ms"]
                        break
                    except RuntimeError as e:
                        out["notes"].append(f"log round {rnd + 1}{attempt.replace('_', ' ')}: {str(e)[:600]}")
            else:
                lat_direct += direct_log_round(tf, scratch, port, token, org, project, f"log_hand_{rnd}",
                                               r)["latency_ms"]
        log(f"  log round {rnd + 1}/{log_rounds}: follow p99 so far {pct(lat_server, 99):.1f} ms, "
            f"pipe p99 {pct(lat_direct, 99):.1f} ms")
    out["log"] = {"rounds": log_rounds, "lines_per_round": LOG_LINES, "follow_ms": summary(lat_server),
                  "pipe_ms": summary(lat_direct), "samples": {"follow_ms": lat_server, "pipe_ms": lat_direct}}
    return out


def rows(res: dict | None) -> list[tuple]:
    """Table rows in bench/run's format."""
    if not res:
        return []
    o, tp, lg = res["overhead"], res["throughput"], res["log"]
    tp_failed = sum(len(x["failed"]) for x in tp["rounds_detail"]["server"])
    out = [
        ("run_start_overhead", "run start overhead (execute -> 1st process)", o["start_ms"]["p50"],
         OVERHEAD_TARGET_MS, "ms", o["start_ms"]["p50"] / OVERHEAD_TARGET_MS, "server/target (<= 1)",
         "issue target 50 ms"),
        ("run_end_overhead", "run end overhead (last exit -> status)", o["end_ms"]["p50"],
         OVERHEAD_TARGET_MS, "ms", o["end_ms"]["p50"] / OVERHEAD_TARGET_MS, "server/target (<= 1)",
         "issue target 50 ms"),
        ("runs_per_min", f"runs/min, 2 slots, {tp['runs']} trivial plans"
         + (f" ({tp_failed} FAILED)" if tp_failed else ""), tp["server_runs_per_min"],
         tp["by_hand_runs_per_min"], "runs/min", tp["ratio"], "server/by hand (target >= 0.8)",
         "same terraform steps, 2 loops"),
    ]
    if lg["follow_ms"]["n"]:
        out.append(("log_latency_p99", f"log line latency p99 (follow, {lg['follow_ms']['n']} lines)",
                    lg["follow_ms"]["p99"], LOG_P99_TARGET_MS, "ms", lg["follow_ms"]["p99"] / LOG_P99_TARGET_MS,
                    "server/target (<= 1)", "issue target 200 ms"))
    return out


def extra_lines(res: dict | None) -> list[str]:
    if not res:
        return []
    o, tp, lg = res["overhead"], res["throughput"], res["log"]
    qb, eb = o["queue_breakdown_ms"], o["end_breakdown_ms"]
    cpu = tp["cpu_ms_per_run"]
    f = lambda s: f"p50 {s['p50']:.1f} / p99 {s['p99']:.1f} / max {s['max']:.1f} ms"  # noqa: E731
    steps = ", ".join(f"{k} {v * 1e3:.0f}" for k, v in tp["by_hand_step_p50_s"].items())
    per_round = lambda mode: ", ".join(  # noqa: E731
        f"{x['runs_per_min']:.1f}" for x in tp["rounds_detail"][mode])
    return [
        f"runs (terraform {res.get('terraform')}): {o['runs']} sequential plans"
        f"{f' ({fo} more failed, left out)' if (fo := o.get('failed_runs')) else ''}: start overhead {f(o['start_ms'])}, "
        f"of which queue wait (execute -> claimed) {f(o['queue_wait_ms'])}; end overhead {f(o['end_ms'])}",
        f"runs: queue wait p50 parts (ms stamps): execute -> run created {qb['execute_to_created']['p50']:.1f}, "
        f"created -> claimed by a slot {qb['created_to_started']['p50']:.1f}, claim commit "
        f"{qb['started_to_claimed']['p50']:.1f} ms; execute round trip p50 {o['execute_rtt_ms']['p50']:.1f} ms; "
        f"provisioner time (1st process start -> last exit) p50 {o['provisioner_ms']['p50']:.0f} ms, "
        f"execute -> final status p50 {o['run_ms']['p50']:.0f} ms (the 4 steps by hand, one at a time, "
        f"p50 {o['by_hand_sequential_ms']['p50']:.0f} ms)",
        f"runs: end overhead p50 parts (ms stamps): last exit -> plan text stored "
        f"{eb['exit_to_plan_text']['p50']:.1f}, -> plan JSON stored {eb['plan_text_to_plan_json']['p50']:.1f}, "
        f"-> status {eb['plan_json_to_status']['p50']:.1f} ms (each stamp precedes its commit)",
        f"runs/min: server {tp['server_runs_per_min']:.1f} vs by hand {tp['by_hand_runs_per_min']:.1f} "
        f"(median of {tp['rounds']} rounds; per round server {per_round('server')}, by hand "
        f"{per_round('by_hand')}); "
        f"by-hand step p50 ms: {steps}; the runner's extra `terraform version -json` "
        f"probe ~{tp['version_probe_s'] * 1e3:.0f} ms per run; server run (claimed -> status) p50 "
        f"{tp['server_run_seconds_p50'] * 1e3:.0f} ms (claimed -> 1st process "
        f"{tp['server_parts_p50_ms']['claimed_to_first_process']:.0f}, provisioner "
        f"{tp['server_parts_p50_ms']['provisioner']:.0f}, last exit -> status "
        f"{tp['server_parts_p50_ms']['last_exit_to_status']:.0f} ms), slots busy {tp['server_slot_busy'] * 100:.0f}% "
        f"of the span",
        f"runs/min CPU per run (ms, medians): server batches: server {cpu['server']['server']:.0f}, terraform "
        f"{cpu['server']['terraform']:.0f}; by hand: server {cpu['by_hand']['server']:.0f}, terraform "
        f"{cpu['by_hand']['terraform']:.0f}",
        f"log latency: follow {f(lg['follow_ms'])} ({lg['follow_ms']['n']} lines); terraform's stdout read "
        f"straight from the pipe {f(lg['pipe_ms'])}",
    ]


def only(a, binary: str, rounds: int, t_begin: float, load_begin: str, format_table) -> int:
    """`bench/run --only runs`: the runs rows on a fresh server with --runner-slots 2."""
    import pg  # noqa: PLC0415 (bench/pg.py)
    notes: list[str] = []

    def note(msg):
        sb.log("NOTE: " + msg)
        notes.append(msg)

    q = a.quick
    overhead_runs = a.runs or (5 if q else 20)
    throughput_runs = a.throughput_runs or (10 if q else 20)
    log_rounds = 1 if q else 3
    res = None
    base = tempfile.mkdtemp(prefix="statehouse_runs_", dir=a.tmp_dir)
    server = cluster = None
    try:
        if not terraform():
            note("terraform is not on the PATH: the runs rows were skipped")
        else:
            server_args: tuple = ("--runner-slots", "2")
            if a.database == "postgres":
                cluster = pg.Cluster(a.pg_url, a.tmp_dir)
                server_args += ("--database", cluster.database("statehouse_runs_bench"))
            data_dir = os.path.join(base, "server")
            os.makedirs(data_dir)
            server, port = sb.start_server(binary, data_dir, os.path.join(base, "server.log"), server_args)
            token = sb.read_token(data_dir)
            c = sb.Client(port, token)
            sb.expect(c.request("POST", "/v1/orgs", json.dumps(
                {"org": {"identifier": sb.ORG, "name": "Bench"}}).encode()), (200, 201), "create org")
            try:
                res = run_all(c, port, token, sb.ORG, base, overhead_runs, throughput_runs, rounds, log_rounds,
                              server_pid=server.pid)
                notes.extend(res.pop("notes"))
            except (RuntimeError, SystemExit) as e:
                note(f"runs: {e}")
            c.close()
    finally:
        if server and (msg := sb.stop_server(server)):
            note(msg)
        if cluster:
            cluster.close()
        if not a.keep:
            shutil.rmtree(base, ignore_errors=True)
    table_rows = rows(res)
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    title = (f"Statehouse runs bench ({a.database}): {rounds} round(s), {os.cpu_count()} CPUs, load average "
             f"{load_begin} -> {load_end}, {time.monotonic() - t_begin:.0f} s")
    table = format_table(title, table_rows) if table_rows else title + "\n(no rows)"
    print(table)
    for x in extra_lines(res):
        print(x)
    for n_ in notes:
        print("note:", n_)
    result = {
        "table": table,
        "rows": [{"key": r[0], "scenario": r[1], "server": r[2], "baseline": r[3], "unit": r[4],
                  "ratio": r[5], "ratio_is": r[6], "baseline_is": r[7]} for r in table_rows],
        "runs": res,
        "notes": notes,
        "config": {"overhead_runs": overhead_runs, "throughput_runs": throughput_runs, "rounds": rounds,
                   "log_rounds": log_rounds, "quick": q, "binary": binary, "runner_slots": 2},
        "environment": {"cpus": os.cpu_count(), "kernel": platform.release(), "database": a.database,
                        "commit": sb.git_commit(), "loadavg_begin": load_begin, "loadavg_end": load_end,
                        "seconds": time.monotonic() - t_begin,
                        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
    os.makedirs(os.path.dirname(a.output), exist_ok=True)
    with open(a.output, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {os.path.relpath(a.output, os.getcwd())}")
    return 0 if table_rows else 1
