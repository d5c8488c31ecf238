"""The TLS rows of bench/run (`bench/run --only tls`): the server with --tls-cert/--tls-key
against nginx with the same certificate and key, side by side, rounds interleaved (which one
goes first alternates).

TLS handshakes/s
    `openssl s_time -new` (a full handshake per connection, nothing sent after it), two client
    processes in parallel for S seconds each; handshakes/s = the sum of their
    connections / real seconds. ECDSA P-256 certificate, TLS 1.3 (both servers' default).

GET workspace over TLS
    wrk -t2 -c64 keep-alive GETs of one workspace (x-api-key) over https://, vs nginx serving the
    identical response bytes as a static file over https:// (ssl on, same certificate).

Ratios: server / nginx (> 1 would mean the server is faster). A benchmark, not a test.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import state_bench as sb  # noqa: E402


def make_cert(d: str) -> tuple[str, str]:
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=statehouse-bench",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def start_nginx_tls(base: str, www: str, cert: str, key: str):
    return sb.start_nginx(base, www, " ssl", f"""    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
""")


class TlsClient:
    def __init__(self, port: int, token: str, cert: str):
        self.port, self.token = port, token
        self.ctx = ssl.create_default_context(cafile=cert)
        self.conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=60, context=self.ctx)

    def request(self, method, path, body=None):
        headers = {"x-api-key": self.token, "Content-Type": "application/json"}
        self.conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                          headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()


def handshakes_per_second(port: int, cert: str, seconds: int) -> float:
    cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds),
           "-CAfile", cert]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    total = 0.0
    for p in procs:
        out, _ = p.communicate(timeout=seconds + 60)
        m = re.search(r"(\d+) connections in ([\d.]+)s", out)
        if not m:
            raise SystemExit(f"cannot parse openssl s_time output:\n{out}")
        total += int(m.group(1)) / float(m.group(2))
    return total


def only(a, binary: str, rounds: int, t_begin: float, load_begin: str, format_table, output: str) -> int:
    notes: list[str] = []
    seconds = 3 if a.quick else 8
    base = tempfile.mkdtemp(prefix="statehouse_tls_", dir=a.tmp_dir)
    data_dir, www, nginx_base = (os.path.join(base, d) for d in ("server", "www", "nginx"))
    for d in (data_dir, www, nginx_base):
        os.makedirs(d)
    os.chmod(base, 0o755)
    cert, key = make_cert(base)
    server = nginx = None
    samples = {"hs_server": [], "hs_nginx": [], "get_server": [], "get_nginx": []}
    try:
        server, port = sb.start_server(binary, data_dir, os.path.join(base, "server.log"),
                                       ("--tls-cert", cert, "--tls-key", key))
        token = sb.read_token(data_dir)
        c = TlsClient(port, token, cert)
        for method, path, body in (
                ("POST", "/v1/orgs", {"org": {"identifier": sb.ORG, "name": "Bench"}}),
                ("POST", f"/v1/orgs/{sb.ORG}/projects", {"project": {"identifier": sb.PROJECT, "name": "Bench"}}),
                ("POST", f"/iacm/api/orgs/{sb.ORG}/projects/{sb.PROJECT}/workspaces", sb.workspace_doc("show"))):
            status, out = c.request(method, path, body)
            if status not in (200, 201):
                raise SystemExit(f"{method} {path}: {status} {out[:300]!r}")
        ws_path = f"/iacm/api/orgs/{sb.ORG}/projects/{sb.PROJECT}/workspaces/show"
        status, ws_bytes = c.request("GET", ws_path)
        assert status == 200
        with open(os.path.join(www, "workspace.json"), "wb") as f:
            f.write(ws_bytes)
        os.chmod(www, 0o755)
        nginx, nginx_port = start_nginx_tls(nginx_base, www, cert, key)
        for r in range(rounds):
            order = ("server", "nginx") if r % 2 == 0 else ("nginx", "server")
            for who in order:
                p = port if who == "server" else nginx_port
                samples[f"hs_{who}"].append(handshakes_per_second(p, cert, seconds))
            for who in order:
                if who == "server":
                    res = sb.run_wrk(f"https://127.0.0.1:{port}{ws_path}", 2, 64, seconds,
                                     headers=(f"x-api-key: {token}",))
                else:
                    res = sb.run_wrk(f"https://127.0.0.1:{nginx_port}/workspace.json", 2, 64, seconds)
                if res["non_2xx"] or res["socket_errors"]:
                    notes.append(f"{who} GET over TLS: {res['non_2xx']} non-2xx, {res['socket_errors']}")
                samples[f"get_{who}"].append(res["rps"])
            sb.log(f"round {r + 1}/{rounds}: handshakes/s server {samples['hs_server'][-1]:.0f} "
                   f"nginx {samples['hs_nginx'][-1]:.0f}; GET/s server {samples['get_server'][-1]:.0f} "
                   f"nginx {samples['get_nginx'][-1]:.0f}")
    finally:
        if msg := sb.stop_server(server):
            notes.append(msg)
        sb.stop_nginx(nginx)
    m = {k: statistics.median(v) for k, v in samples.items() if v}
    rows = [
        ("tls_handshakes", "TLS handshakes/s, openssl s_time -new x2", m["hs_server"], m["hs_nginx"], "conn/s",
         m["hs_server"] / m["hs_nginx"], "server/nginx", "nginx, same certificate"),
        ("tls_get_workspace", "GET workspace over TLS, wrk -t2 -c64", m["get_server"], m["get_nginx"], "req/s",
         m["get_server"] / m["get_nginx"], "server/nginx", "nginx static over TLS, same bytes"),
    ]
    with open("/proc/loadavg") as f:
        load_end = " ".join(f.read().split()[:3])
    title = (f"Statehouse TLS bench: {os.cpu_count()} CPUs, load average {load_begin} -> {load_end}, "
             f"{rounds} rounds, {time.monotonic() - t_begin:.0f} s")
    table = format_table(title, rows)
    print(table)
    for n in notes:
        print("note:", n)
    out = {"table": table, "samples": samples, "notes": notes,
           "rows": [{"key": r[0], "scenario": r[1], "server": r[2], "baseline": r[3], "unit": r[4],
                     "ratio": r[5], "ratio_is": r[6], "baseline_is": r[7]} for r in rows],
           "environment": {"cpus": os.cpu_count(), "commit": sb.git_commit(),
                           "openssl": subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip(),
                           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {os.path.relpath(output, os.getcwd())}")
    return 0
