"""Process lifecycle: health endpoints, first-start bootstrap, shutdown, restart, flags."""
import json
import re
import stat

import requests

from conftest import Api, run_admin, unique
from spec_schema import ORG_SPEC, assert_error, expect

TOKEN_RE = re.compile(r"^pat\.([A-Za-z0-9_]+)\.([^.\s]+)\.(\S+)$")


def test_healthz_is_200_without_credentials(server):
    r = requests.get(server.base_url + "/healthz", timeout=5)
    assert r.status_code == 200, r.text


def test_readyz_is_200_when_db_reachable(server):
    r = requests.get(server.base_url + "/readyz", timeout=5)
    assert r.status_code == 200, r.text


def test_first_start_writes_admin_token_file_with_mode_0600(spawn_server):
    srv = spawn_server()
    path = srv.data_dir / "admin.token"
    assert path.exists(), srv.output()
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode == 0o600, f"admin.token mode is {oct(mode)}, want 0o600"
    token = srv.admin_token()
    m = TOKEN_RE.match(token)
    assert m, f"admin token {token!r} does not look like pat.<account>.<id>.<secret>"
    assert m.group(1) == "default"


def test_first_start_admin_token_works_for_default_account(spawn_server):
    srv = spawn_server()
    api = Api(srv.base_url, srv.admin_token(), "default")
    ident = unique("org")
    expect(api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "Bootstrap"}}), 201,
           ORG_SPEC, "OrganizationResponse")
    expect(api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")


def test_first_start_prints_admin_token_to_stdout(spawn_server):
    srv = spawn_server()
    token = srv.admin_token()
    # stop first so that a buffered stdout is flushed; the token must have been printed
    assert srv.terminate() == 0
    assert token in srv.stdout(), f"admin token not printed on stdout\n{srv.output()}"


def test_sigterm_exits_with_status_0(spawn_server):
    srv = spawn_server()
    # make it do some work first so the shutdown is not trivially idle
    api = Api(srv.base_url, srv.admin_token(), "default")
    api.create_org(unique("org"))
    code = srv.terminate()
    assert code == 0, f"exit status after SIGTERM: {code}\n{srv.output()}"


def test_restart_keeps_data_and_does_not_rebootstrap(spawn_server, tmp_path):
    data = tmp_path / "persist"
    srv = spawn_server(data_dir=data)
    token = srv.admin_token()
    api = Api(srv.base_url, token, "default")
    ident = unique("org")
    api.create_org(ident, name="Survivor")
    assert srv.terminate() == 0

    srv2 = spawn_server(data_dir=data)
    assert srv2.admin_token() == token, "restart must not replace the admin token"
    api2 = Api(srv2.base_url, token, "default")
    body = expect(api2.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["name"] == "Survivor"


def test_admin_commands_work_while_server_runs(server):
    account = unique("acct")
    run_admin(server.data_dir, "create-account", account)
    token = server.create_token(account, "editor")
    m = TOKEN_RE.match(token)
    assert m and m.group(1) == account, f"token {token!r} should be pat.{account}.<id>.<secret>"
    api = Api(server.base_url, token, account)
    r = api.get("/v1/orgs")
    expect(r, 200, ORG_SPEC, "OrganizationResponse", array=True)
    assert r.json() == [], "a new account has no orgs"


def test_max_body_bytes_flag_sets_the_limit(spawn_server):
    srv = spawn_server("--max-body-bytes", "2048")
    api = Api(srv.base_url, srv.admin_token(), "default")
    small = {"org": {"identifier": unique("org"), "name": "Small", "description": "x" * 500}}
    expect(api.post("/v1/orgs", json=small), 201, ORG_SPEC, "OrganizationResponse")
    big = {"org": {"identifier": unique("org"), "name": "Big", "description": "x" * 1000,
                   "tags": {f"k{i}": "v" * 20 for i in range(60)}}}
    assert len(json.dumps(big)) > 2048
    assert_error(api.raw_post("/v1/orgs", json.dumps(big).encode()), 413)
    assert_error(api.raw_post("/v1/orgs", json.dumps(big).encode(), chunked=True), 413)
    assert_error(api.get(f"/v1/orgs/{big['org']['identifier']}"), 404)
