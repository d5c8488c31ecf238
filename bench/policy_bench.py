"""The policy scenarios of bench/run (`bench/run --only policy` runs them alone).

policy eval 1,500 resources
    build/policy_bench (bench/policy_bench.cpp, CMake target `policy_bench`, not part of `all`):
    ten Terraform plan policies (required tags, allowed instance types, no public buckets, no
    0.0.0.0/0 ingress, allowed regions, module sources, cost ceiling, protected deletes,
    encryption, naming convention) against a generated 1,500-resource `terraform show -json`
    plan, side by side with boost::json::parse of the same text in one process. Ratio:
    eval p50 / parse p50 (target <= 3). Also the peak heap of one evaluation.

workspace save, 10 policies
    ten workspace policies at account level in one policy set (type workspace, action onsave,
    enabled, severities warning and error, all designed to pass), then sequential workspace PUTs
    (updates) with the set enabled vs the same PUTs with the set disabled, interleaved rounds.
    Ratio: median with / median without (target <= 1.3). Whether the server really evaluated
    on save is checked through /pm/api/v1/evaluations (the row says so when it did not).
"""
from __future__ import annotations

import http.client
import json
import os
import statistics
import subprocess
import time

import state_bench as sb

ROOT = sb.ROOT
PM = "/pm/api/v1"
SET_ID = "bench_ws_onsave"

# Ten realistic workspace guardrails; every one passes for the workspace the bench saves.
WORKSPACE_POLICIES = [
    ("bench_ws_required_tags", "error", """package workspace

required := {"team", "env"}

deny[msg] {
  missing := required - {k | input.workspace.tags[k]}
  count(missing) > 0
  msg := sprintf("workspace %s is missing tags %v", [input.workspace.identifier, missing])
}
"""),
    ("bench_ws_provisioner", "error", """package workspace

import rego.v1

deny contains msg if {
  not input.workspace.provisioner in {"terraform", "opentofu"}
  msg := sprintf("provisioner %s is not allowed", [input.workspace.provisioner])
}
"""),
    ("bench_ws_repository", "warning", """package workspace

import rego.v1

deny contains msg if {
  repo := object.get(input.workspace, "repository", "")
  repo != ""
  not startswith(repo, "https://github.com/acme/")
  msg := sprintf("repository %s is not under github.com/acme", [repo])
}
"""),
    ("bench_ws_identifier", "error", """package workspace

deny[msg] {
  not regex.match("^[a-z][a-z0-9_]{2,63}$", input.workspace.identifier)
  msg := sprintf("identifier %s must be snake_case", [input.workspace.identifier])
}
"""),
    ("bench_ws_secret_env", "error", """package workspace

import rego.v1

deny contains msg if {
  some key, v in input.workspace.environment_variables
  regex.match(`(?i)(secret|password|token)`, key)
  v.value_type != "secret"
  msg := sprintf("environment variable %s must be a secret reference", [key])
}
"""),
    ("bench_ws_region", "warning", """package workspace

import rego.v1

allowed_regions := {"eu-west-1", "eu-central-1"}

deny contains msg if {
  region := input.workspace.terraform_variables.region.value
  not region in allowed_regions
  msg := sprintf("region %s is not allowed", [region])
}
"""),
    ("bench_ws_budget", "warning", """package workspace

import rego.v1

deny contains msg if {
  budget := object.get(input.workspace, "budget", 0)
  budget > 10000
  msg := sprintf("budget %v is above the 10000 ceiling", [budget])
}
"""),
    ("bench_ws_branch", "error", """package workspace

import rego.v1

deny contains msg if {
  branch := object.get(input.workspace, "repository_branch", "main")
  not branch == "main"
  not glob.match("release/*", ["/"], branch)
  msg := sprintf("branch %s is neither main nor a release branch", [branch])
}
"""),
    ("bench_ws_description", "warning", """package workspace

import rego.v1

warn contains "workspaces should have a description" if {
  object.get(input.workspace, "description", "") == ""
}

deny contains msg if {
  count(object.get(input.workspace, "description", "")) > 500
  msg := "description longer than 500 characters"
}
"""),
    ("bench_ws_version", "error", """package workspace

import rego.v1

deny contains msg if {
  v := object.get(input.workspace, "provisioner_version", "")
  v != ""
  not regex.match(`^[0-9]+\\.[0-9]+\\.[0-9]+$`, v)
  msg := sprintf("provisioner_version %s must be an exact version", [v])
}
"""),
]


def workspace_body(ident: str, k: int) -> bytes:
    return json.dumps(sb.workspace_doc(
        ident, name="Policy save", description=f"policy save bench {k}",
        provisioner="opentofu", provisioner_version="1.6.2",
        repository="https://github.com/acme/infra.git", repository_branch="main", repository_path="stacks/app",
        tags={"team": "platform", "env": "prod", "round": str(k % 7)},
        terraform_variables={"region": {"key": "region", "value": "eu-west-1", "value_type": "string"}},
        environment_variables={"TF_LOG": {"key": "TF_LOG", "value": "warn", "value_type": "string"},
                               "DB_PASSWORD": {"key": "DB_PASSWORD", "value": "account.db_pw",
                                               "value_type": "secret"}})).encode()


# -- policy eval (C++) ------------------------------------------------------------------------------
def build_policy_bench(build_dir: str) -> str:
    """Builds the policy_bench target of the (configured) CMake build; returns the binary."""
    subprocess.run(["cmake", "--build", build_dir, "--target", "policy_bench", "-j", "2"], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(build_dir, "policy_bench")


def run_policy_eval(binary: str, out_json: str, rounds: int, resources=1500) -> dict:
    """Runs bench/policy_bench; returns its JSON (plus its printed report as 'report')."""
    p = subprocess.run([binary, "--resources", str(resources), "--rounds", str(rounds), "--json", out_json],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"policy_bench exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    with open(out_json) as f:
        result = json.load(f)
    result["report"] = p.stdout
    return result


# -- workspace save overhead (HTTP) -----------------------------------------------------------------
def _ok(status_body, ok, what):
    return sb.expect(status_body, ok, what)


def setup_workspace_policies(c) -> None:
    """Ten account-level workspace policies linked to one enabled onsave set."""
    for ident, _, rego in WORKSPACE_POLICIES:
        st, body = c.request("GET", f"{PM}/policies/{ident}")
        if st == 200:
            continue
        _ok(c.request("POST", f"{PM}/policies", json.dumps(
            {"identifier": ident, "name": ident.replace("_", " "), "rego": rego}).encode()), (200, 201),
            f"create policy {ident}")
    st, _ = c.request("GET", f"{PM}/policysets/{SET_ID}")
    if st != 200:
        _ok(c.request("POST", f"{PM}/policysets", json.dumps(
            {"identifier": SET_ID, "name": "Bench workspace guardrails", "type": "workspace",
             "action": "onsave", "enabled": True}).encode()), (200, 201), "create policy set")
    _ok(c.request("PATCH", f"{PM}/policysets/{SET_ID}", json.dumps(
        {"policies": [{"identifier": ident, "severity": sev} for ident, sev, _ in WORKSPACE_POLICIES]}).encode()),
        (200, 204), "link the policies")


def set_enabled(c, enabled: bool) -> None:
    _ok(c.request("PATCH", f"{PM}/policysets/{SET_ID}", json.dumps({"enabled": enabled}).encode()), (200, 204),
        "enable/disable the policy set")


def evaluation_count(c, org: str, project: str) -> int | None:
    """Evaluations recorded at the project (None when the endpoint does not answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=60)
    try:
        conn.request("GET", f"{PM}/evaluations?orgIdentifier={org}&projectIdentifier={project}&limit=1",
                     headers={"x-api-key": c.token})
        r = conn.getresponse()
        r.read()
        total = r.getheader("X-Total-Elements") or r.getheader("x-total-items")
        return int(total) if r.status == 200 and total is not None else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()


def timed_puts(c, path: str, ident: str, n: int, start: int) -> list[float]:
    samples = []
    for k in range(n):
        body = workspace_body(ident, start + k)
        t = time.perf_counter()
        st, rb = c.request("PUT", path, body)
        samples.append((time.perf_counter() - t) * 1e3)
        if st != 200:
            raise RuntimeError(f"PUT {path} -> {st} {rb[:300]!r}")
    return samples


def server_cpu_ns(pid: int | None) -> int | None:
    """On-CPU nanoseconds of every thread of the server so far (/proc/<pid>/task/*/schedstat),
    or None without a pid or schedstat. Finer than /proc/<pid>/stat's clock ticks, so one
    round of PUTs is enough; threads that exited meanwhile drop out (the server keeps its own)."""
    if pid is None:
        return None
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        return None
    return total


def save_overhead(c, org: str, project: str, rounds: int, n: int, log=sb.log,
                  server_pid: int | None = None) -> dict:
    """Workspace PUT latency with the 10-policy onsave set enabled vs disabled; with server_pid,
    also the server's CPU time per PUT in each mode (less noisy than wall time on a shared
    machine, and what the policies cost the server whatever the disk does)."""
    ident = "policy_save"
    base = f"/iacm/api/orgs/{org}/projects/{project}/workspaces"
    st, _ = c.request("GET", f"{base}/{ident}")
    if st != 200:
        _ok(c.request("POST", base, workspace_body(ident, 0)), (200, 201), "create the policy_save workspace")
    path = f"{base}/{ident}"
    setup_workspace_policies(c)
    samples = {"with": [], "without": []}
    medians = {"with": [], "without": []}
    evaluated = {"with": 0, "without": 0}
    cpu_ns = {"with": 0, "without": 0}
    cpu_puts = {"with": 0, "without": 0}
    k = 1
    for rnd in range(rounds):
        order = ("with", "without") if rnd % 2 == 0 else ("without", "with")
        for mode in order:
            set_enabled(c, mode == "with")
            timed_puts(c, path, ident, max(3, n // 10), k)  # warm-up (policy compile cache, pages)
            k += max(3, n // 10)
            before = evaluation_count(c, org, project)
            cpu_before = server_cpu_ns(server_pid)
            s = timed_puts(c, path, ident, n, k)
            cpu_after = server_cpu_ns(server_pid)
            k += n
            after = evaluation_count(c, org, project)
            if cpu_before is not None and cpu_after is not None:
                cpu_ns[mode] += cpu_after - cpu_before
                cpu_puts[mode] += n
            if before is not None and after is not None:
                evaluated[mode] += after - before
            samples[mode].extend(s)
            medians[mode].append(statistics.median(s))
        log(f"  save round {rnd + 1}/{rounds}: with {medians['with'][-1]:.3f} ms, "
            f"without {medians['without'][-1]:.3f} ms")
    set_enabled(c, False)  # leave the account without save-time policies
    med_with = statistics.median(samples["with"])
    med_without = statistics.median(samples["without"])
    p99 = lambda xs: sorted(xs)[max(0, int(len(xs) * 0.99) - 1)]  # noqa: E731
    # Each round's with/without ratio (the modes run back to back there): their spread says how
    # far one run's ratio can be trusted on this machine.
    round_ratios = [w / wo for w, wo in zip(medians["with"], medians["without"])]
    return {
        "with_ms": med_with, "without_ms": med_without, "ratio": med_with / med_without,
        "with_p99_ms": p99(samples["with"]), "without_p99_ms": p99(samples["without"]),
        "round_medians_ms": medians, "round_ratios": round_ratios, "puts_per_round": n,
        "server_cpu_us_per_put": ({m: cpu_ns[m] / cpu_puts[m] / 1e3 for m in cpu_ns}
                                  if all(cpu_puts.values()) else None),
        "rounds": rounds,
        "evaluations_recorded": evaluated,
        "enforced": evaluated["with"] >= n * rounds and evaluated["without"] == 0,
        "policies": [p[0] for p in WORKSPACE_POLICIES],
    }


def rows(eval_result: dict | None, save: dict | None) -> list[tuple]:
    """Table rows in bench/run's format."""
    out = []
    if eval_result:
        out.append(("policy_eval", f"policy eval {eval_result['resources']:,} resources, 10 policies",
                    eval_result["eval_ms"]["p50"], eval_result["parse_ms"]["p50"], "ms",
                    eval_result["ratio_eval_p50_over_parse_p50"], "eval/parse (target <= 3)",
                    "boost::json::parse, same plan"))
    if save:
        label = "workspace save, 10 policies on save"
        if not save["enforced"]:
            label += " (NOT ENFORCED)"
        out.append(("policy_save", label, save["with_ms"], save["without_ms"], "ms", save["ratio"],
                    "with/without (target <= 1.3)", "same PUT, policy set disabled"))
    return out


def extra_lines(eval_result: dict | None, save: dict | None) -> list[str]:
    lines = []
    if eval_result:
        per = ", ".join(f"{k} {v['p50_ms']:.1f}" for k, v in eval_result["per_policy"].items())
        lines.append(f"policy eval: p50 {eval_result['eval_ms']['p50']:.1f} ms / p99 {eval_result['eval_ms']['p99']:.1f} ms "
                     f"(parse p50 {eval_result['parse_ms']['p50']:.1f} / p99 {eval_result['parse_ms']['p99']:.1f} ms, "
                     f"ParseJson to values p50 {eval_result['convert_ms']['p50']:.1f} ms); plan "
                     f"{eval_result['plan_bytes'] / (1 << 20):.2f} MiB; peak heap of an evaluation "
                     f"{eval_result['peak_heap_bytes']['eval'] / (1 << 20):.1f} MiB vs "
                     f"{eval_result['peak_heap_bytes']['parse'] / (1 << 20):.1f} MiB for the parse")
        lines.append(f"policy eval per policy p50 ms: {per}")
    if save:
        lines.append(f"workspace save: p50 with {save['with_ms']:.3f} ms / without {save['without_ms']:.3f} ms, "
                     f"p99 {save['with_p99_ms']:.3f} / {save['without_p99_ms']:.3f} ms; evaluations recorded "
                     f"{save['evaluations_recorded']['with']} with, {save['evaluations_recorded']['without']} without")
        if save.get("round_ratios"):
            rr = save["round_ratios"]
            lines.append(f"workspace save ratio per round (with/without medians, back to back): "
                         f"{', '.join(f'{r:.2f}' for r in rr)}; {sum(r <= 1.3 for r in rr)} of {len(rr)} "
                         f"at or under 1.3")
        if save.get("server_cpu_us_per_put"):
            cpu = save["server_cpu_us_per_put"]
            lines.append(f"workspace save, server CPU per PUT (all threads): with {cpu['with']:.0f} us, "
                         f"without {cpu['without']:.0f} us, ratio {cpu['with'] / cpu['without']:.2f}")
        if not save["enforced"]:
            lines.append("note: the server did not record an evaluation per save with the set enabled: "
                         "workspace-save enforcement is not active, the save ratio does not measure policies")
    return lines
