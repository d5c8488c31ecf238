"""HTTPS on the listener: --tls-cert / --tls-key with certificates made here by `openssl`, TLS
1.2 and 1.3 only, a plain-HTTP request to the TLS port refused in clear, the real `terraform`
using the http backend over https:// (trusting the test CA through SSL_CERT_FILE), a run whose
provisioner reaches the server over TLS, and SIGHUP reloading the certificate without dropping
open connections.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import textwrap
import time
import warnings

import pytest
import requests

from conftest import unique

TERRAFORM = shutil.which("terraform")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=Statehouse Test CA", cwd=d)
    return d / "ca.pem"


def make_server_cert(d, name, cn):
    """A certificate for 127.0.0.1 / localhost signed by the test CA: <name>.pem, <name>.key."""
    (d / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                                   "extendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", f"/CN={cn}", cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d / f"{name}.pem", d / f"{name}.key"


@pytest.fixture
def pki(tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    ca = make_ca(d)
    cert, key = make_server_cert(d, "server", "statehouse-one")
    return {"dir": d, "ca": ca, "cert": cert, "key": key}


@pytest.fixture
def tls_server(spawn_server, pki):
    # The server reads the files it was given: copies let a test replace them for SIGHUP.
    live_cert, live_key = pki["dir"] / "live.pem", pki["dir"] / "live.key"
    shutil.copy(pki["cert"], live_cert)
    shutil.copy(pki["key"], live_key)
    srv = spawn_server("--tls-cert", str(live_cert), "--tls-key", str(live_key))
    srv.pki = dict(pki, live_cert=live_cert, live_key=live_key)
    return srv


def peer_common_name(port, ca, minimum=None, maximum=None):
    ctx = ssl.create_default_context(cafile=str(ca))
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            subject = dict(x[0] for x in tls.getpeercert()["subject"])
            return subject["commonName"], tls.version()


class Client:
    def __init__(self, srv):
        self.srv = srv
        self.session = requests.Session()
        self.session.verify = str(srv.pki["ca"])
        self.session.headers.update({"x-api-key": srv.admin_token(), "Harness-Account": "default"})

    def __call__(self, method, path, **kw):
        # verify= on each call: requests lets environment settings beat Session.verify.
        return self.session.request(method, self.srv.base_url + path, timeout=30,
                                    verify=str(self.srv.pki["ca"]), **kw)


def test_https_only_with_tls_12_and_13_and_plain_http_refused(tls_server):
    ca = tls_server.pki["ca"]
    r = requests.get(tls_server.base_url + "/healthz", verify=str(ca), timeout=10)
    assert r.status_code == 200
    assert peer_common_name(tls_server.port, ca, maximum=ssl.TLSVersion.TLSv1_2) == ("statehouse-one", "TLSv1.2")
    assert peer_common_name(tls_server.port, ca, minimum=ssl.TLSVersion.TLSv1_3)[1] == "TLSv1.3"
    # TLS 1.1 and older are refused (the client may not even offer them: then there is no
    # common version either way).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
            old.set_ciphers("ALL:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            pass
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname="127.0.0.1")
    # Plain HTTP on the TLS port: a 400 in clear that says what is wrong, then the close.
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    error = json.loads(body)
    assert "HTTPS" in error["message"] and error["fault"] is False, error
    # A client that connects and says nothing is dropped (header timeout), the server stays up.
    assert requests.get(tls_server.base_url + "/readyz", verify=str(ca), timeout=10).status_code == 200


def test_bad_certificate_files_stop_the_start(spawn_server, pki, tmp_path):
    with pytest.raises(AssertionError) as failed:
        spawn_server("--tls-cert", str(pki["cert"]), "--tls-key", str(tmp_path / "missing.key"))
    assert "--tls-key" in str(failed.value)
    other_key = pki["dir"] / "other.key"
    openssl("genrsa", "-out", "other.key", "2048", cwd=pki["dir"])
    with pytest.raises(AssertionError) as failed:
        spawn_server("--tls-cert", str(pki["cert"]), "--tls-key", str(other_key))
    assert "--tls-key" in str(failed.value) and "mismatch" in str(failed.value)
    with pytest.raises(AssertionError) as failed:
        spawn_server("--tls-cert", str(pki["cert"]))
    assert "go together" in str(failed.value)


def test_sighup_reloads_the_certificate_without_dropping_connections(tls_server):
    pki = tls_server.pki
    client = Client(tls_server)
    assert client("GET", "/v1/orgs").status_code == 200  # a keep-alive connection is open
    assert peer_common_name(tls_server.port, pki["ca"])[0] == "statehouse-one"
    cert, key = make_server_cert(pki["dir"], "second", "statehouse-two")
    shutil.copy(cert, pki["live_cert"])
    shutil.copy(key, pki["live_key"])
    tls_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "TLS certificate reloaded" not in tls_server.output():
        assert time.monotonic() < deadline, tls_server.output()
        time.sleep(0.05)
    assert peer_common_name(tls_server.port, pki["ca"])[0] == "statehouse-two"
    # The connection opened before the reload still serves requests.
    sockets_before = len(client.session.adapters["https://"].poolmanager.pools)
    assert client("GET", "/v1/orgs").status_code == 200
    assert len(client.session.adapters["https://"].poolmanager.pools) == sockets_before
    # A bad file on the next SIGHUP keeps the current certificate.
    pki["live_key"].write_text("not a key")
    tls_server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while "reload failed" not in tls_server.output():
        assert time.monotonic() < deadline, tls_server.output()
        time.sleep(0.05)
    assert peer_common_name(tls_server.port, pki["ca"])[0] == "statehouse-two"
    assert tls_server.proc.poll() is None


def create_workspace(client, with_runs=False):
    org, project, ws = unique("org"), unique("prj"), unique("ws")
    assert client("POST", "/v1/orgs", json={"org": {"identifier": org, "name": org}}).status_code in (200, 201)
    r = client("POST", f"/v1/orgs/{org}/projects", json={"project": {"identifier": project, "name": project}})
    assert r.status_code in (200, 201), r.text
    base = f"/iacm/api/orgs/{org}/projects/{project}/workspaces"
    r = client("POST", base, json={"identifier": ws, "name": ws, "provisioner": "terraform",
                                   "provider_connector": "", "terraform_variables": {},
                                   "environment_variables": {}})
    assert r.status_code == 200, r.text
    return f"{base}/{ws}"


@pytest.mark.skipif(TERRAFORM is None and os.environ.get("CI") != "true", reason="terraform is not on the PATH")
def test_terraform_apply_over_https_trusting_the_test_ca(tls_server, tmp_path):
    client = Client(tls_server)
    ws = create_workspace(client)
    address = f"{tls_server.base_url}{ws}/terraform-backend"
    work = tmp_path / "tf"
    work.mkdir()
    (work / "main.tf").write_text(textwrap.dedent(f"""
        terraform {{
          backend "http" {{
            address        = "{address}"
            lock_address   = "{address}/lock"
            unlock_address = "{address}/lock"
            username       = "terraform"
          }}
        }}
        resource "terraform_data" "hello" {{
          input = "over tls"
        }}
        output "hello" {{
          value = terraform_data.hello.output
        }}
        """))
    env = dict(os.environ, TF_IN_AUTOMATION="1", TF_INPUT="0", CHECKPOINT_DISABLE="1",
               TF_CLI_CONFIG_FILE=os.devnull, TF_HTTP_PASSWORD=tls_server.admin_token(),
               SSL_CERT_FILE=str(tls_server.pki["ca"]))
    for args in (["init", "-no-color"], ["apply", "-no-color", "-auto-approve"]):
        p = subprocess.run([TERRAFORM, *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, f"terraform {args}:\n{p.stdout}\n{p.stderr}"
    assert "Apply complete! Resources: 1 added" in p.stdout
    state = client("GET", f"{ws}/terraform-backend")
    assert state.status_code == 200
    assert json.loads(state.content)["outputs"]["hello"]["value"] == "over tls"
    # Without the CA, terraform refuses the server's certificate.
    env.pop("SSL_CERT_FILE")
    p = subprocess.run([TERRAFORM, "plan", "-no-color"], cwd=work, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode != 0 and "certificate" in (p.stdout + p.stderr), p.stdout + p.stderr


@pytest.mark.skipif(TERRAFORM is None and os.environ.get("CI") != "true", reason="terraform is not on the PATH")
def test_a_run_reaches_the_server_over_tls(tls_server):
    client = Client(tls_server)
    ws = create_workspace(client)
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'resource "terraform_data" "a" {\n  input = "x"\n}\n'
        info = tarfile.TarInfo("main.tf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    r = client("POST", f"{ws}/remote-executions", json={"custom_arguments": {}})
    assert r.status_code == 201, r.text
    execution = r.json()["id"]
    r = client("POST", f"{ws}/remote-executions/{execution}/upload", data=buf.getvalue(),
               headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    r = client("POST", f"{ws}/remote-executions/{execution}/execute",
               json={"kind": "apply", "auto_apply": True})
    assert r.status_code == 200, r.text
    run_id = r.json()["run"]["id"]
    deadline = time.monotonic() + 120
    while True:
        run = client("GET", f"{ws}/runs/{run_id}").json()
        if run["final"]:
            break
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
    log = client("GET", f"{ws}/runs/{run_id}/logs").text
    assert run["status"] == "applied", log
    assert client("GET", f"{ws}/terraform-backend").status_code == 200
