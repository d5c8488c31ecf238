"""Terraform / OpenTofu http state backend of a workspace, and the state views built on it.

    address        = W/terraform-backend
    lock_address   = unlock_address = W/terraform-backend/lock
    W              = /iacm/api/orgs/{org}/projects/{project}/workspaces/{ws}

The CLI side is played by ``tfclient.HTTPBackend``, a request-for-request twin of Terraform's
``internal/backend/remote-state/http/client.go`` (basic auth, LOCK/UNLOCK with the LockInfo JSON,
``?ID=`` on writes, retries on 5xx, Go's case-insensitive decoding of the holder's lock info).
Everything else goes through the suite's ``Api`` helper.  Every 2xx JSON body that the specs
describe is validated (harness-workspaces-api-openapi.yml, harness-tf-standard-backend-api-openapi.yml).
"""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
import urllib.parse
import uuid

import jsonschema
import pytest
import requests

from spec_schema import WORKSPACES_SPEC, assert_error, body_of, describe, expect, load_spec
from tfclient import BackendError, HTTPBackend, LockError, LockInfo, go_unmarshal_struct

BACKEND_SPEC = "harness-tf-standard-backend-api-openapi.yml"
SHOW = "WorkspacesShowWorkspaceResponseBody"
AWS = 'provider["registry.terraform.io/hashicorp/aws"]'
RANDOM = 'provider["registry.terraform.io/hashicorp/random"]'


# ---------------------------------------------------------------------------------------
# helpers


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def validate_path_response(spec_file, path, method, body, status="200"):
    """Validate body against the inline 200 schema of one operation (arrays / maps of strings)."""
    doc = load_spec(spec_file)
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    root = {"components": doc["components"], **schema}
    resolver = jsonschema.RefResolver.from_schema(root)
    errors = list(jsonschema.Draft202012Validator(root, resolver=resolver).iter_errors(body))
    assert not errors, f"{method.upper()} {path}: {[e.message for e in errors[:5]]}: {json.dumps(body)[:1000]}"
    return body


SPEC_WS = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{workspace}"


def tfstate(serial, lineage, resources=(), outputs=None, tf_version="1.9.8") -> bytes:
    """A state file as Terraform writes it (2-space indent, trailing newline)."""
    doc = {"version": 4, "terraform_version": tf_version, "serial": serial, "lineage": lineage,
           "outputs": outputs or {}, "resources": list(resources), "check_results": None}
    return (json.dumps(doc, indent=2) + "\n").encode()


def inst(attrs, index_key=None, sensitive=()):
    i = {"schema_version": 0, "attributes": attrs, "sensitive_attributes": list(sensitive),
         "private": "bnVsbA=="}
    if index_key is not None:
        i = {"index_key": index_key, **i}
    return i


def res(rtype, name, instances, mode="managed", module=None, provider=AWS):
    r = {"mode": mode, "type": rtype, "name": name, "provider": provider, "instances": list(instances)}
    if module:
        r = {"module": module, **r}
    return r


def pet(n):
    return res("random_pet", "p", [inst({"id": f"pet-{n}", "length": 2})], provider=RANDOM)


def encrypted_state(tag: str) -> bytes:
    """OpenTofu client-side encrypted state: not a v4 document."""
    import base64
    payload = base64.b64encode(hashlib.sha512(tag.encode()).digest() * 8).decode()
    return json.dumps({"meta": {"key_provider.pbkdf2.x": base64.b64encode(tag.encode()).decode()},
                       "encrypted_data": payload, "encryption_version": "v0"}).encode()


class Workspace:
    def __init__(self, api, org, project, ident, base_url):
        self.api, self.org, self.project, self.ident = api, org, project, ident
        self.path = f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{ident}"
        self.base_url = base_url
        self.address = base_url + self.path + "/terraform-backend"
        self.lock_address = self.address + "/lock"

    def tf(self, token=None, *, lock_on="lock", methods=("LOCK", "UNLOCK"), **kw) -> HTTPBackend:
        """A CLI configured for this workspace; basic auth with the token as password."""
        token = self.api.token if token is None else token
        lock_url = self.lock_address if lock_on == "lock" else self.address
        kw.setdefault("username", "terraform")
        kw.setdefault("password", token)
        return HTTPBackend(self.address, lock_address=lock_url, unlock_address=lock_url,
                           lock_method=methods[0], unlock_method=methods[1], **kw)

    def show(self, api=None):
        r = (api or self.api).get(self.path)
        return expect(r, 200, WORKSPACES_SPEC, SHOW)

    def data(self, api=None, **params):
        r = (api or self.api).get(self.path + "/data", params=params)
        body = expect(r, 200, WORKSPACES_SPEC, "HarnessIacmWorkspacedata", array=True)
        return body, r

    def all_data(self, data_type="state_raw"):
        out, page = [], 1
        while True:
            body, r = self.data(data_type=data_type, limit=100, page=page)
            out += body
            if len(body) < 100:
                return out
            page += 1

    def resources(self, api=None, **params):
        r = (api or self.api).get(self.path + "/resources", params=params)
        return expect(r, 200, WORKSPACES_SPEC, "ListResourcesResponse")


def make_workspace(api, uid, **extra) -> Workspace:
    org, prj, wid = uid("org"), uid("prj"), uid("ws")
    api.create_org(org)
    api.create_project(org, prj)
    body = {"identifier": wid, "name": f"Workspace {wid}", "provisioner": "terraform",
            "provider_connector": "", "terraform_variables": {}, "environment_variables": {}, **extra}
    r = api.post(f"/iacm/api/orgs/{org}/projects/{prj}/workspaces", json=body)
    expect(r, 200, WORKSPACES_SPEC, SHOW)
    return Workspace(api, org, prj, wid, api.base_url)


@pytest.fixture
def ws(api, uid) -> Workspace:
    return make_workspace(api, uid)


def lock_ok(tf: HTTPBackend, info=None) -> LockInfo:
    info = info or LockInfo.new()
    try:
        assert tf.lock(info) == info.ID
    except BackendError as e:
        raise AssertionError(f"lock failed: {e}: " + (describe(e.response) if e.response is not None else ""))
    return info


def lock_conflict(tf: HTTPBackend, info=None) -> LockError:
    info = info or LockInfo.new()
    with pytest.raises(LockError) as ei:
        tf.lock(info)
    e = ei.value
    assert e.response.status_code in (409, 423), describe(e.response)
    assert e.existing is not None, f"{e}: " + describe(e.response)
    return e


def put_ok(tf: HTTPBackend, data: bytes):
    try:
        return tf.put(data)
    except BackendError as e:
        raise AssertionError(f"put failed: {e}: " + (describe(e.response) if e.response is not None else ""))


def put_fails(tf: HTTPBackend, data: bytes, status, mentions=None):
    with pytest.raises(BackendError) as ei:
        tf.put(data)
    assert ei.value.response is not None, str(ei.value)
    return assert_error(ei.value.response, status, mentions=mentions)


def raw(_unused, method, url, body=b"", token=None, **headers):
    """One request with basic auth (like the CLI) but without the client's interpretation."""
    h = {"Content-Type": "application/json", **headers}
    return requests.request(method, url, data=body, headers=h, auth=("terraform", token), timeout=30)


def assert_holder(err: LockError, holder: LockInfo):
    ex = err.existing
    assert ex.ID == holder.ID, f"decoded holder ID {ex.ID!r} != {holder.ID!r}: " + describe(err.response)
    assert ex.Who == holder.Who, f"decoded holder Who {ex.Who!r} != {holder.Who!r}: " + describe(err.response)
    assert ex.Operation == holder.Operation, describe(err.response)
    assert holder.ID in str(err)


def error_has_holder(resp, holder: LockInfo):
    """A 409/423 answer: IaCMError fields and the holder's LockInfo beside them."""
    body = assert_error(resp, (409, 423))
    got = LockInfo.unmarshal(resp.content)
    assert got.ID == holder.ID and got.Who == holder.Who, describe(resp)
    return body


# ---------------------------------------------------------------------------------------
# tfclient self-checks (the Go decoding rules the assertions below rely on)


def test_tfclient_decodes_like_go():
    body = b'{"name":"locked","id":"req-1","ID":"lock-9","who":"a","WHO":"b","Created":null,"x":1}'
    info = LockInfo.unmarshal(body)
    assert info.ID == "lock-9" and info.Who == "b"
    # the last matching key wins, whatever its case
    assert LockInfo.unmarshal(b'{"ID":"lock-9","id":"req-1"}').ID == "req-1"
    # a number where a string or a time is expected fails the whole decode
    for bad in (b'{"ID":1}', b'{"Created":1700000000000}', b'[1]', b'{"ID":"x"', b'{"Created":"yesterday"}'):
        with pytest.raises(ValueError):
            LockInfo.unmarshal(bad)
    assert go_unmarshal_struct('{"verſion":"1"}'.encode(), ("Version",)) == {"Version": "1"}
    li = LockInfo(ID="a<b", Who="x&y")
    assert li.marshal().startswith(b'{"ID":"a\\u003cb","Operation":"","Info":"","Who":"x\\u0026y"')


# ---------------------------------------------------------------------------------------
# the CLI cycle


@pytest.mark.parametrize("variant", ["LOCK on /lock", "LOCK on address", "POST/DELETE on /lock"])
def test_cli_cycle_twice_with_increasing_serials(ws, variant):
    if variant == "LOCK on /lock":
        tf = ws.tf()
    elif variant == "LOCK on address":
        tf = ws.tf(lock_on="address")
    else:
        tf = ws.tf(methods=("POST", "DELETE"))
    lineage = str(uuid.uuid4())
    assert tf.get() is None
    assert tf.last.status_code == 204, describe(tf.last)
    written = []
    for serial in (1, 2):
        info = lock_ok(tf, LockInfo.new(operation="OperationTypeApply"))
        if variant.startswith("POST"):
            lk = expect(tf.last, 200, BACKEND_SPEC, "HarnessIacmLockinfo")
            assert lk["id"] == info.ID and lk["who"] == info.Who, lk
            assert (lk["account"], lk["org"], lk["project"], lk["workspace"]) == \
                (ws.api.account, ws.org, ws.project, ws.ident), lk
        current = tf.get()
        assert current == (written[-1] if written else None)
        state = tfstate(serial, lineage, [pet(serial)])
        put_ok(tf, state)
        sent = tf.last.request
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(sent.url).query) == {"ID": [info.ID]}, sent.url
        assert tf.last.status_code in (200, 201, 204)
        show = ws.show()
        assert show["backend_locked"] is True, show
        tf.unlock(info.ID)
        written.append(state)
        assert ws.show()["backend_locked"] is False
        got = tf.get()
        assert got == state, "GET must answer the bytes exactly as written"
    show = ws.show()
    assert show["state_checksum"] == sha256(written[-1])
    recs = ws.all_data()
    assert [r["state_checksum"] for r in recs] == [sha256(b) for b in reversed(written)], recs
    assert show["terraform_state"] == recs[0]["id"] and show["terraform_state_json"] == recs[0]["id"], show


def test_conflicting_lock_shows_the_holder(ws):
    alice, bob = ws.tf(), ws.tf()
    holder = lock_ok(alice, LockInfo.new(operation="OperationTypePlan", who="alice@ci-1", info="plan"))
    err = lock_conflict(bob, LockInfo.new(who="bob@laptop"))
    assert err.response.status_code == 423, describe(err.response)
    assert_holder(err, holder)
    body = assert_error(err.response, 423)
    assert body["id"] != holder.ID  # the IaCMError id is the request id, ID is the lock
    # the same via the spec's POST on /lock
    err = lock_conflict(ws.tf(methods=("POST", "DELETE")))
    assert_holder(err, holder)
    # the holder may lock again with the same ID (idempotent), the state is still its
    alice2 = ws.tf()
    assert alice2.lock(holder) == holder.ID
    assert alice2.last.status_code == 200
    # bob cannot write, neither with his ID nor without one
    r = raw(None, "POST", ws.address + "?ID=" + uuid.uuid4().hex, tfstate(1, "l"), ws.api.token)
    error_has_holder(r, holder)
    assert r.status_code == 423
    r = raw(None, "POST", ws.address, tfstate(1, "l"), ws.api.token)
    error_has_holder(r, holder)
    assert r.status_code == 423
    # bob's UNLOCK with his own full LockInfo is refused with the holder
    bob_info = LockInfo.new(who="bob@laptop")
    r = raw(None, "UNLOCK", ws.lock_address, bob_info.marshal(), ws.api.token)
    assert r.status_code == 409, describe(r)
    error_has_holder(r, holder)
    assert ws.show()["backend_locked"] is True
    alice.unlock(holder.ID)
    lock_ok(bob)


def test_holder_who_with_unusual_characters_round_trips(ws):
    alice = ws.tf()
    holder = lock_ok(alice, LockInfo.new(who='Ünïcødé <ci> & "quotes" \\ runner', info="a\nb"))
    err = lock_conflict(ws.tf())
    assert_holder(err, holder)
    assert err.existing.Info == holder.Info


def test_retried_post_after_a_lost_answer_succeeds(ws):
    """A proxy forwards the write, then loses the answer (502): the client resends the same body."""
    proxy = FlakyProxy(ws.base_url, fail_first=1, method="POST", path=ws.path + "/terraform-backend")
    try:
        address = proxy.url + ws.path + "/terraform-backend"
        tf = HTTPBackend(address, lock_address=address + "/lock", unlock_address=address + "/lock",
                         username="terraform", password=ws.api.token)
        lineage = str(uuid.uuid4())
        info = lock_ok(tf)
        state = tfstate(1, lineage, [pet(1)])
        put_ok(tf, state)
        assert [r.status_code for r in tf.exchanges[-2:]] == [502, 200], [r.status_code for r in tf.exchanges]
        assert proxy.forwarded_statuses == [200, 200], proxy.forwarded_statuses
        tf.unlock(info.ID)
        assert tf.get() == state
    finally:
        proxy.close()
    recs = ws.all_data()
    assert {r["state_checksum"] for r in recs} == {sha256(state)}, recs


def test_identical_retry_is_200_but_different_bytes_with_same_serial_is_409(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    info = lock_ok(tf)
    s1 = tfstate(1, lineage, [pet(1)])
    put_ok(tf, s1)
    put_ok(tf, s1)  # what the client sends again after a 5xx
    assert tf.last.status_code == 200, describe(tf.last)
    put_fails(tf, tfstate(1, lineage, [pet(99)]), 409, mentions="serial")
    tf.unlock(info.ID)
    assert tf.get() == s1
    recs = ws.all_data()
    assert {r["state_checksum"] for r in recs} == {sha256(s1)}, recs


def test_lock_false_writes_without_id(ws):
    tf = ws.tf()  # -lock=false: no LOCK, no ?ID=
    lineage = str(uuid.uuid4())
    s1, s2 = tfstate(1, lineage, [pet(1)]), tfstate(2, lineage, [pet(2)])
    put_ok(tf, s1)
    assert "ID=" not in tf.last.request.url
    put_ok(tf, s2)
    assert tf.get() == s2
    # but while somebody holds the lock, a write without the ID is refused
    holder = lock_ok(ws.tf())
    r = raw(None, "POST", ws.address, tfstate(3, lineage), ws.api.token)
    assert r.status_code == 423, describe(r)
    error_has_holder(r, holder)
    assert tf.get() == s2


@pytest.mark.parametrize("how", ["empty body", "ID-only body", "ID-only body via DELETE"])
def test_force_unlock(ws, how):
    holder_tf = ws.tf()
    holder = lock_ok(holder_tf, LockInfo.new(who="crashed@ci"))
    if how == "empty body":
        cli = ws.tf()
        cli.force_unlock(holder.ID)
        sent = cli.last.request
        assert sent.method == "UNLOCK" and not sent.body, (sent.method, sent.body)
        assert cli.last.status_code == 200
    else:
        method = "UNLOCK" if how == "ID-only body" else "DELETE"
        r = raw(None, method, ws.lock_address, json.dumps({"ID": holder.ID}).encode(), ws.api.token)
        assert r.status_code == 200, describe(r)
    assert ws.show()["backend_locked"] is False
    # the lock is gone: another run can lock and write
    tf = ws.tf()
    lock_ok(tf)
    put_ok(tf, tfstate(1, str(uuid.uuid4())))
    # the crashed holder cannot write with its stale ID any more
    put_fails(holder_tf, tfstate(1, str(uuid.uuid4())), 423)


def test_stale_serial_is_409(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    for serial in (5, 6):
        put_ok(tf, tfstate(serial, lineage, [pet(serial)]))
    put_fails(tf, tfstate(5, lineage, [pet(55)]), 409, mentions="serial")
    put_fails(tf, tfstate(4, lineage, [pet(4)]), 409, mentions="serial")
    assert tf.get() == tfstate(6, lineage, [pet(6)])
    put_ok(tf, tfstate(7, lineage, [pet(7)]))


def test_other_lineage_is_409(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    s1 = tfstate(1, lineage, [pet(1)])
    put_ok(tf, s1)
    put_fails(tf, tfstate(2, str(uuid.uuid4()), [pet(2)]), 409, mentions="lineage")
    put_fails(tf, tfstate(50, str(uuid.uuid4()), [pet(2)]), 409, mentions="lineage")
    assert tf.get() == s1
    assert len(ws.all_data()) == 1


@pytest.mark.parametrize("body", [b"{not json", b'{"version":4,"serial":1,', b"\xff\xfe\x00garbage"])
def test_invalid_json_is_400(ws, body):
    tf = ws.tf()
    put_fails(tf, body, 400)
    assert tf.get() is None
    assert ws.all_data() == []


def content_md5(b: bytes) -> str:
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def test_content_md5_must_match_the_body(ws):
    """The CLI sends Content-MD5: a body that arrived different from what the client hashed is
    refused and nothing is stored; a matching one is stored; without the header any body goes."""
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    s1, s2 = tfstate(1, lineage, [pet(1)]), tfstate(2, lineage, [pet(2)])
    bad = raw(None, "POST", ws.address, s1, ws.api.token, **{"Content-MD5": content_md5(s2)})
    assert_error(bad, 400, mentions="Content-MD5")
    assert tf.get() is None and ws.all_data() == []
    good = raw(None, "POST", ws.address, s1, ws.api.token, **{"Content-MD5": content_md5(s1)})
    assert good.status_code == 200, describe(good)
    assert tf.get() == s1
    plain = raw(None, "POST", ws.address, s2, ws.api.token)
    assert plain.status_code == 200, describe(plain)
    assert tf.get() == s2
    # Broken JSON whose checksum does not match either: the checksum is what is reported.
    broken = b'{"version":4,"serial":3,'
    r = raw(None, "POST", ws.address, broken, ws.api.token, **{"Content-MD5": content_md5(s1)})
    assert_error(r, 400, mentions="Content-MD5")
    # Other data types check it too.
    plan = b"plan output"
    r = ws.api.post(ws.path + "/data", params={"data_type": "plan_human"}, data=plan,
                    headers={"Content-Type": "application/octet-stream", "Content-MD5": content_md5(b"x")})
    assert_error(r, 400, mentions="Content-MD5")
    r = ws.api.post(ws.path + "/data", params={"data_type": "plan_human"}, data=plan,
                    headers={"Content-Type": "application/octet-stream", "Content-MD5": content_md5(plan)})
    assert r.status_code == 200, describe(r)
    assert [d["data_type"] for d in ws.all_data(data_type="plan_human")] == ["plan_human"]
    assert tf.get() == s2


def test_encrypted_state_is_stored_opaquely(ws):
    tf = ws.tf()
    info = lock_ok(tf)
    e1, e2 = encrypted_state("one"), encrypted_state("two")
    put_ok(tf, e1)
    assert tf.get() == e1
    put_ok(tf, e2)  # no serial rules for opaque bodies
    tf.unlock(info.ID)
    assert tf.get() == e2
    recs = ws.all_data()
    assert [r["state_checksum"] for r in recs] == [sha256(e2), sha256(e1)], recs
    r = ws.api.get(f"{ws.path}/data/{recs[1]['id']}")
    assert r.status_code == 200 and r.content == e1, describe(r)
    assert ws.show()["state_checksum"] == sha256(e2)
    ws.resources()  # whatever it derives, it answers a valid (empty or previous) view


# ---------------------------------------------------------------------------------------
# auth


def test_basic_auth_and_x_api_key_both_work(ws):
    lineage = str(uuid.uuid4())
    basic = ws.tf()
    put_ok(basic, tfstate(1, lineage))
    sent = basic.last.request.headers
    assert sent["Authorization"].startswith("Basic ") and "x-api-key" not in sent
    key = ws.tf(username="", password="", headers={"x-api-key": ws.api.token})
    info = lock_ok(key)
    put_ok(key, tfstate(2, lineage))
    key.unlock(info.ID)
    assert "Authorization" not in key.last.request.headers
    assert basic.get() == tfstate(2, lineage)
    bearer = ws.tf(username="", password="", headers={"Authorization": f"Bearer {ws.api.token}"})
    assert bearer.get() == tfstate(2, lineage)
    # any username, and the address form with ?accountIdentifier= that the Harness docs use
    other_user = HTTPBackend(ws.address + f"?accountIdentifier={ws.api.account}",
                             lock_address=ws.lock_address + f"?accountIdentifier={ws.api.account}",
                             unlock_address=ws.lock_address + f"?accountIdentifier={ws.api.account}",
                             username="whoever", password=ws.api.token)
    info = lock_ok(other_user)
    put_ok(other_user, tfstate(3, lineage))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(other_user.last.request.url).query)
    assert q == {"ID": [info.ID], "accountIdentifier": [ws.api.account]}, other_user.last.request.url
    other_user.unlock(info.ID)
    assert basic.get() == tfstate(3, lineage)


def test_missing_or_wrong_credentials_are_401(ws):
    put_ok(ws.tf(), tfstate(1, str(uuid.uuid4())))
    for tf in (ws.tf(username="", password=""), ws.tf(password="pat.default.nope.wrongsecret"),
               ws.tf(password=ws.api.token + "x")):
        with pytest.raises(BackendError, match="requires auth"):
            tf.get()
        assert_error(tf.last, 401)
        with pytest.raises(BackendError, match="requires auth"):
            tf.lock(LockInfo.new())
        with pytest.raises(BackendError):
            tf.put(tfstate(2, "x"))
        assert_error(tf.last, 401)
    assert ws.show()["backend_locked"] is False


def test_token_of_another_account_sees_nothing(tenant, uid):
    t1, t2 = tenant(), tenant()
    w = make_workspace(t1.api, uid)
    owner = w.tf()
    lineage = str(uuid.uuid4())
    secret_marker = "marker-" + uuid.uuid4().hex
    state = tfstate(1, lineage, [res("aws_instance", "x", [inst({"id": secret_marker})])])
    holder = lock_ok(owner, LockInfo.new(who="owner-" + uuid.uuid4().hex))
    put_ok(owner, state)
    foreign_token = t2.admin_token
    urls = [w.address, w.address + f"?accountIdentifier={t1.account}"]
    for url in urls:
        thief = HTTPBackend(url, lock_address=url.replace("/terraform-backend", "/terraform-backend/lock", 1),
                            unlock_address=url.replace("/terraform-backend", "/terraform-backend/lock", 1),
                            username="terraform", password=foreign_token)
        try:  # Terraform reads a 404 as "no state yet", a 403 as an error
            assert thief.get() is None
        except BackendError:
            pass
        leaked = [thief.last]
        assert thief.last.status_code in (403, 404), describe(thief.last)
        assert_error(thief.last, (403, 404))
        with pytest.raises(BackendError) as ei:
            thief.lock(LockInfo.new())
        assert not isinstance(ei.value, LockError), "a foreign account must not learn about the lock: " + \
            describe(thief.last)
        assert thief.last.status_code in (403, 404), describe(thief.last)
        leaked.append(thief.last)
        with pytest.raises(BackendError):
            thief.put(tfstate(2, lineage))
        assert thief.last.status_code in (403, 404), describe(thief.last)
        leaked.append(thief.last)
        with pytest.raises(BackendError):
            thief.force_unlock(holder.ID)
        assert thief.last.status_code in (403, 404), describe(thief.last)
        leaked.append(thief.last)
        for r in leaked:
            assert secret_marker not in r.text and holder.ID not in r.text and holder.Who not in r.text, describe(r)
    # the x-api-key form naming the victim's account
    spoof = t2.api.as_(account=t1.account)
    for r in (spoof.get(w.path + "/data"), spoof.get(w.path + "/resources"),
              t2.api.get(w.path + "/data"), t2.api.get(w.path + "/resources")):
        assert_error(r, (403, 404))
        assert secret_marker not in r.text
    assert owner.get() == state
    assert w.show()["backend_locked"] is True


def test_viewer_reads_state_but_cannot_write_or_lock(tenant, uid):
    t = tenant()
    w = make_workspace(t.api, uid)
    lineage = str(uuid.uuid4())
    state = tfstate(1, lineage, [pet(1)])
    put_ok(w.tf(), state)
    viewer_token = t.token("viewer")
    viewer = w.tf(viewer_token)
    assert viewer.get() == state
    with pytest.raises(BackendError, match="invalid auth"):
        viewer.lock(LockInfo.new())
    assert_error(viewer.last, 403)
    with pytest.raises(BackendError):
        viewer.put(tfstate(2, lineage))
    assert_error(viewer.last, 403)
    with pytest.raises(BackendError):
        w.tf(viewer_token, methods=("POST", "DELETE")).lock(LockInfo.new())
    # a viewer may not force-unlock somebody else's lock, neither empty body nor ID only
    holder = lock_ok(w.tf())
    with pytest.raises(BackendError):
        viewer.force_unlock(holder.ID)
    assert_error(viewer.last, 403)
    r = raw(None, "UNLOCK", w.lock_address, json.dumps({"ID": holder.ID}).encode(), viewer_token)
    assert_error(r, 403)
    r = raw(None, "DELETE", w.lock_address, b"", viewer_token)
    assert_error(r, 403)
    assert_error(w.api.as_(token=viewer_token).post(w.path + "/actions/lock", json={"reason": "x"}), 403)
    assert_error(w.api.as_(token=viewer_token).post(w.path + "/actions/force-unlock"), 403)
    assert w.show()["backend_locked"] is True
    assert viewer.get() == state
    vapi = w.api.as_(token=viewer_token)
    recs, _ = w.data(api=vapi)
    assert len(recs) == 1
    assert_error(vapi.post(w.path + "/data", params={"data_type": "plan_human"}, data=b"plan"), 403)
    # an editor may force-unlock
    editor = w.tf(t.token("editor"))
    editor.force_unlock(holder.ID)
    assert w.show()["backend_locked"] is False


# ---------------------------------------------------------------------------------------
# concurrency


def test_lock_race_exactly_one_winner(ws):
    n, rounds = 40, 5
    for rnd in range(rounds):
        barrier = threading.Barrier(n)
        results = [None] * n
        infos = [LockInfo.new(who=f"runner-{rnd}-{i}") for i in range(n)]
        clients = [ws.tf() for _ in range(n)]

        def run(i):
            barrier.wait()
            try:
                results[i] = ("ok", clients[i].lock(infos[i]))
            except LockError as e:
                results[i] = ("locked", e)
            except Exception as e:  # noqa: BLE001 - reported below
                results[i] = ("error", e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        errors = [(i, r) for i, r in enumerate(results) if r is None or r[0] == "error"]
        assert not errors, f"round {rnd}: {errors[:3]}"
        winners = [i for i, r in enumerate(results) if r[0] == "ok"]
        assert len(winners) == 1, f"round {rnd}: {len(winners)} winners"
        w = winners[0]
        for i, r in enumerate(results):
            if i == w:
                continue
            err = r[1]
            assert err.response.status_code == 423, describe(err.response)
            assert err.existing is not None and err.existing.ID == infos[w].ID, \
                f"round {rnd}: loser {i} was told the holder is {err.existing}: " + describe(err.response)
            assert err.existing.Who == infos[w].Who
        show = ws.show()
        assert show["backend_locked"] is True and show["lock"]["id"] == infos[w].ID, show
        clients[w].unlock(infos[w].ID)
        assert ws.show()["backend_locked"] is False


def test_concurrent_unlocked_writers_keep_serials_monotonic(ws):
    lineage = str(uuid.uuid4())
    put_ok(ws.tf(), tfstate(1, lineage, [pet("t-init")]))
    n, iters = 8, 8
    accepted, lock = [], threading.Lock()
    barrier = threading.Barrier(n)
    problems = []

    def writer(t):
        tf = ws.tf()
        barrier.wait()
        for k in range(iters):
            try:
                cur = json.loads(tf.get())
                body = tfstate(cur["serial"] + 1, lineage, [pet(f"t{t}-{k}")])
                resp = tf.request("POST", ws.address, body, "upload state")
                if resp.status_code == 200:
                    with lock:
                        accepted.append((cur["serial"] + 1, body))
                elif resp.status_code != 409:
                    problems.append(describe(resp))
            except Exception as e:  # noqa: BLE001
                problems.append(repr(e))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not problems, problems[:5]
    assert accepted, "no write succeeded"
    serials = [s for s, _ in accepted]
    assert len(serials) == len(set(serials)), f"two different writes both accepted with one serial: {sorted(serials)}"
    final = ws.tf().get()
    top = max(accepted)
    assert json.loads(final)["serial"] == top[0]
    assert final == top[1]
    recs = ws.all_data()
    assert len(recs) == len(accepted) + 1, (len(recs), len(accepted))
    by_serial = {}
    for r in recs:
        by_serial.setdefault(r.get("serial"), set()).add(r["state_checksum"])
    dup = {s: c for s, c in by_serial.items() if len(c) > 1}
    assert not dup, f"records with one serial and different bytes: {dup}"
    rec_serials = [r.get("serial") for r in recs]
    assert rec_serials == sorted(rec_serials, reverse=True), f"newest first must be by serial: {rec_serials}"
    assert {sha256(b) for _, b in accepted} <= {r["state_checksum"] for r in recs}
    assert ws.show()["state_checksum"] == sha256(final)


# ---------------------------------------------------------------------------------------
# manual lock


def test_manual_lock_blocks_cli_and_force_unlock_releases_it(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    put_ok(tf, tfstate(1, lineage))
    r = ws.api.post(ws.path + "/actions/lock", json={"reason": "maintenance"})
    lk = expect(r, 200, WORKSPACES_SPEC, "LockWorkspaceResponse")
    assert lk["manual"] is True and lk["reason"] == "maintenance" and lk["workspace"] == ws.ident, lk
    show = ws.show()
    assert show["backend_locked"] is True, show
    assert isinstance(show.get("lock"), dict) and show["lock"].get("id") == lk["id"], show
    assert show["lock"].get("manual") is True and show["lock"].get("reason") == "maintenance", show
    err = lock_conflict(tf)
    assert err.response.status_code == 423, describe(err.response)
    assert err.existing.ID == lk["id"], describe(err.response)
    put_fails(tf, tfstate(2, lineage), 423)
    r = ws.api.post(ws.path + "/actions/lock", json={"reason": "again"})
    assert_error(r, (409, 423))
    assert_error(ws.api.delete(ws.path), 423)
    r = ws.api.post(ws.path + "/actions/force-unlock")
    assert r.status_code == 200, describe(r)
    body = body_of(r)
    pe = body.get("policy_evaluation")
    assert isinstance(pe, dict) and pe.get("status") == "pass" and pe.get("details") == [], body
    show = ws.show()
    assert show["backend_locked"] is False and not show.get("lock"), show
    info = lock_ok(tf)
    put_ok(tf, tfstate(2, lineage))
    # a CLI lock blocks the manual lock and the workspace's deletion
    assert_error(ws.api.post(ws.path + "/actions/lock", json={"reason": "x"}), (409, 423))
    assert_error(ws.api.delete(ws.path), 423)
    tf.unlock(info.ID)
    assert tf.get() == tfstate(2, lineage)


# ---------------------------------------------------------------------------------------
# data records


def test_data_records_list_paging_filter_and_download(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    states = [tfstate(s, lineage, [pet(s)]) for s in range(1, 6)]
    for s in states:
        put_ok(tf, s)
    plan = b"Terraform will perform the following actions:\n  + random_pet.p\n\x00\xff binary ok"
    r = ws.api.post(ws.path + "/data", params={"data_type": "plan_human"}, data=plan,
                    headers={"Content-Type": "application/octet-stream"})
    created = expect(r, 200, WORKSPACES_SPEC, "CreateDataResponse")
    r = ws.api.get(f"{ws.path}/data/{created['id']}")
    assert r.status_code == 200 and r.content == plan, describe(r)
    assert_error(ws.api.post(ws.path + "/data", params={"data_type": "no_such_type"}, data=b"x"), 400)

    all_recs, resp = ws.data(limit=100)
    assert resp.headers.get("X-Total-Elements") == "6", resp.headers
    plans, _ = ws.data(data_type="plan_human")
    assert [p["id"] for p in plans] == [created["id"]] and plans[0]["data_type"] == "plan_human"
    recs, resp = ws.data(data_type="state_raw", limit=2, page=1)
    assert resp.headers.get("X-Total-Elements") == "5", resp.headers
    pages = [recs] + [ws.data(data_type="state_raw", limit=2, page=p)[0] for p in (2, 3, 4)]
    assert [len(p) for p in pages] == [2, 2, 1, 0], pages
    flat = [r for p in pages for r in p]
    assert [r["state_checksum"] for r in flat] == [sha256(s) for s in reversed(states)]
    for r in flat:
        assert r["data_type"] == "state_raw" and (r["account"], r["org"], r["project"], r["workspace"]) == \
            (ws.api.account, ws.org, ws.project, ws.ident), r
    for rec, s in zip(flat, reversed(states)):
        d = ws.api.get(f"{ws.path}/data/{rec['id']}")
        assert d.status_code == 200 and d.content == s, describe(d)
    show = ws.show()
    assert show["terraform_state"] == flat[0]["id"] == show["terraform_state_json"], show
    assert show["state_checksum"] == sha256(states[-1])
    assert_error(ws.api.get(f"{ws.path}/data/{uuid.uuid4()}"), 404)


# ---------------------------------------------------------------------------------------
# rollback


def test_rollback_writes_old_content_with_next_serial(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    old = tfstate(1, lineage, [pet("old")], outputs={"name": {"value": "old", "type": "string"}})
    put_ok(tf, old)
    put_ok(tf, tfstate(2, lineage, [pet("mid")]))
    put_ok(tf, tfstate(3, lineage, [pet("new")]))
    recs = ws.all_data()
    old_id = [r for r in recs if r["state_checksum"] == sha256(old)][0]["id"]
    r = ws.api.post(f"{ws.path}/state-versions/{old_id}/rollback", json={})
    rb = expect(r, 200, WORKSPACES_SPEC, "RollbackStateResponse")
    assert rb["new_file_version"] == 4, rb
    now = tf.get()
    doc, want = json.loads(now), json.loads(old)
    assert doc["serial"] == 4 and doc["lineage"] == lineage, doc
    assert {k: v for k, v in doc.items() if k != "serial"} == {k: v for k, v in want.items() if k != "serial"}
    show = ws.show()
    assert show["status"] == "rollback_applied", show
    assert show["terraform_state"] == rb["new_data_id"] and show["state_checksum"] == sha256(now), show
    recs = ws.all_data()
    assert recs[0]["id"] == rb["new_data_id"] and recs[0]["state_checksum"] == sha256(now), recs[0]
    assert recs[0].get("rollback_source_id") in (None, old_id), recs[0]
    names = [x["name"] for x in ws.resources()["outputs"]]
    assert names == ["name"], names
    # the CLI carries on from serial 4; an old serial is stale
    put_fails(tf, tfstate(4, lineage, [pet("x")]), 409)
    info = lock_ok(tf)
    put_ok(tf, tfstate(5, lineage, [pet("after")]))
    # rollback while somebody holds the lock, and to unknown records
    assert_error(ws.api.post(f"{ws.path}/state-versions/{old_id}/rollback", json={}), (409, 423))
    tf.unlock(info.ID)
    assert_error(ws.api.post(f"{ws.path}/state-versions/{uuid.uuid4()}/rollback", json={}), 404)


# ---------------------------------------------------------------------------------------
# resources derived from the newest state


def inventory_state(serial, lineage):
    return tfstate(serial, lineage, [
        res("aws_instance", "web", [inst({"id": "i-0", "ami": "ami-1", "instance_type": "t3.micro"}, 0),
                                    inst({"id": "i-1", "ami": "ami-1", "instance_type": "t3.small"}, 1)]),
        res("aws_subnet", "a", [inst({"id": "subnet-x", "cidr_block": "10.0.1.0/24"}, "x"),
                                inst({"id": "subnet-y", "cidr_block": "10.0.2.0/24"}, "y")], module="module.vpc"),
        res("aws_ami", "ubuntu", [inst({"id": "ami-1", "name": "ubuntu-22.04"})], mode="data"),
    ], outputs={"web_ip": {"value": "10.0.1.5", "type": "string"}})


def test_resources_views(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    put_ok(tf, tfstate(1, lineage, [pet(1)]))
    put_ok(tf, inventory_state(2, lineage))
    body = ws.resources()
    paths = sorted(r["path_id"] for r in body["resources"])
    assert paths == sorted(['aws_instance.web[0]', 'aws_instance.web[1]', 'module.vpc.aws_subnet.a["x"]',
                            'module.vpc.aws_subnet.a["y"]']), paths
    assert body["total_resources"] == 4, body["total_resources"]
    assert [(d["type"], d["name"], d["mode"]) for d in body["data_sources"]] == [("aws_ami", "ubuntu", "data")]
    assert [(o["name"], o["value"], o["sensitive"]) for o in body["outputs"]] == [("web_ip", "10.0.1.5", False)]
    web1 = [r for r in body["resources"] if r["path_id"] == "aws_instance.web[1]"][0]
    assert web1["attributes"]["instance_type"] == "t3.small" and web1["mode"] == "resource", web1
    assert web1["provider"].endswith("hashicorp/aws") and web1["module"] == "", web1
    sub = [r for r in body["resources"] if r["type"] == "aws_subnet"]
    assert {r["module"] for r in sub} == {"module.vpc"}, sub

    only = ws.resources(resource_types="aws_subnet")
    assert sorted(r["path_id"] for r in only["resources"]) == sorted(
        ['module.vpc.aws_subnet.a["x"]', 'module.vpc.aws_subnet.a["y"]']), only

    r = ws.api.post(ws.path + "/resources/search", json={"selectors": [{"resource_type": "aws_instance"}]})
    found = expect(r, 200, WORKSPACES_SPEC, "SearchResourcesResponse")
    assert sorted(x["path_id"] for x in found["resources"]) == ["aws_instance.web[0]", "aws_instance.web[1]"]
    assert found["total_resources"] == 2, found["total_resources"]

    r = ws.api.get(ws.path + "/modules")
    mods = expect(r, 200, WORKSPACES_SPEC, "WorkspaceModuleCollection")
    assert len(mods) == 1 and "vpc" in mods[0]["key"] and mods[0]["invocations"] == 1, mods

    r = ws.api.get(ws.path + "/resource-types")
    assert r.status_code == 200, describe(r)
    types = validate_path_response(WORKSPACES_SPEC, SPEC_WS + "/resource-types", "get", r.json())
    assert set(types) >= {"aws_instance", "aws_subnet"} and "random_pet" not in types, types
    r = ws.api.get(ws.path + "/resource-types-and-attributes")
    assert r.status_code == 200, describe(r)
    tam = validate_path_response(WORKSPACES_SPEC, SPEC_WS + "/resource-types-and-attributes", "get", r.json())
    assert set(tam["aws_instance"]) >= {"ami", "instance_type"}, tam
    r = ws.api.get(ws.path + "/resource-types/aws_subnet/attributes")
    assert r.status_code == 200, describe(r)
    attrs = validate_path_response(WORKSPACES_SPEC, SPEC_WS + "/resource-types/{resource_type}/attributes", "get",
                                   r.json())
    assert set(attrs) >= {"id", "cidr_block"}, attrs
    assert_error(ws.api.get(ws.path + "/resource-types/aws_nothing_here/attributes"), 404)
    assert_error(ws.api.get(ws.path + "/resource-types/random_pet/attributes"), 404)


def test_resources_of_a_workspace_without_state(ws):
    body = ws.resources()
    assert body["resources"] == [] and body["data_sources"] == [] and body["outputs"] == []
    assert body["total_resources"] == 0


# ---------------------------------------------------------------------------------------
# redaction


def test_sensitive_values_are_pruned_from_every_view_but_not_from_the_backend(api, uid):
    w = make_workspace(api, uid, prune_sensitive_data=True)
    pw, tok, out_secret, mod_secret = (f"{k}-{uuid.uuid4().hex}" for k in ("pw", "tok", "out", "mod"))
    lineage = str(uuid.uuid4())
    state = tfstate(1, lineage, [
        res("aws_db_instance", "db", [inst({"id": "db-1", "username": "admin", "password": pw, "engine": "pg"},
                                           sensitive=[[{"type": "get_attr", "value": "password"}]])]),
        res("aws_instance", "app", [inst({"id": "i-a", "user_data": "plain",
                                          "config": {"token": tok, "region": "eu-west-1"}}, 0,
                                         sensitive=[[{"type": "get_attr", "value": "config"},
                                                     {"type": "index", "value": {"value": "token", "type": "string"}}]])]),
        res("aws_secretsmanager_secret_version", "s", [inst({"id": "sv", "secret_string": mod_secret}, "k",
                                                            sensitive=[[{"type": "get_attr",
                                                                         "value": "secret_string"}]])],
            module="module.secrets"),
    ], outputs={"db_pass": {"value": out_secret, "type": "string", "sensitive": True},
                "region": {"value": "eu-west-1", "type": "string"}})
    tf = w.tf()
    info = lock_ok(tf)
    put_ok(tf, state)
    tf.unlock(info.ID)
    assert tf.get() == state, "the backend must return the state byte-for-byte"
    secrets = (pw, tok, out_secret, mod_secret)

    responses = []
    body = w.resources()
    responses.append(w.api.get(w.path + "/resources"))
    r = w.api.post(w.path + "/resources/search", json={"selectors": [{"resource_type": "aws_db_instance"}]})
    expect(r, 200, WORKSPACES_SPEC, "SearchResourcesResponse")
    responses.append(r)
    r = w.api.post(w.path + "/resources/search", json={"selectors": [{"search_text": pw}]})
    responses.append(r)
    responses.append(w.api.get(w.path + "/modules"))
    responses.append(w.api.get(w.path + "/resource-types-and-attributes"))
    for t in ("aws_db_instance", "aws_instance", "aws_secretsmanager_secret_version"):
        responses.append(w.api.get(f"{w.path}/resource-types/{t}/attributes"))
    responses.append(w.api.get(w.path))
    responses.append(w.api.get(w.path + "/data"))
    recs = w.all_data()
    d = w.api.get(f"{w.path}/data/{recs[0]['id']}")
    assert d.status_code == 200, describe(d)
    responses.append(d)
    for r in responses:
        for s in secrets:
            assert s not in r.text, f"secret {s[:6]}... leaked: " + describe(r)
    # the non-sensitive parts are still there
    db = [x for x in body["resources"] if x["type"] == "aws_db_instance"][0]
    assert db["attributes"].get("username") == "admin" and db["attributes"].get("engine") == "pg", db
    app = [x for x in body["resources"] if x["type"] == "aws_instance"][0]
    assert app["attributes"]["config"]["region"] == "eu-west-1", app
    outs = {o["name"]: o for o in body["outputs"]}
    assert outs["db_pass"]["sensitive"] is True and outs["region"]["value"] == "eu-west-1", outs
    doc = json.loads(d.content)
    assert doc["serial"] == 1 and doc["lineage"] == lineage
    assert w.show()["state_checksum"] == sha256(state)


# ---------------------------------------------------------------------------------------
# large state


def test_twenty_mib_state_round_trips(ws):
    lineage = str(uuid.uuid4())
    blob = hashlib.sha256(b"seed").hexdigest() * (20 * 1024 * 1024 // 64 // 8)
    instances = [inst({"id": f"obj-{i}", "content": blob + str(i)}, i) for i in range(8)]
    state = tfstate(1, lineage, [res("aws_s3_object", "big", instances)])
    assert len(state) > 20 * 1024 * 1024
    tf = ws.tf()
    info = lock_ok(tf)
    put_ok(tf, state)
    tf.unlock(info.ID)
    got = tf.get()
    assert got is not None and len(got) == len(state) and sha256(got) == sha256(state)
    assert got == state
    recs = ws.all_data()
    assert recs[0]["state_checksum"] == sha256(state), recs[0]
    assert ws.show()["state_checksum"] == sha256(state)
    d = ws.api.get(f"{ws.path}/data/{recs[0]['id']}")
    assert d.status_code == 200 and sha256(d.content) == sha256(state), d.status_code
    # the next serial is still checked against the large one
    put_fails(tf, tfstate(1, lineage), 409)
    put_ok(tf, tfstate(2, lineage))


# ---------------------------------------------------------------------------------------
# a proxy that loses answers (for the retry test)


class FlakyProxy:
    """Forwards every request to target; for the first fail_first requests matching method/path
    it forwards, discards the real answer and replies 502 (a gateway that timed out)."""

    def __init__(self, target, fail_first, method, path):
        self.target = target
        self.remaining = fail_first
        self.match = (method, path)
        self.forwarded_statuses = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                r = requests.request(self.command, proxy.target + self.path, data=body, headers=hdrs, timeout=60)
                path = urllib.parse.urlsplit(self.path).path
                status, content, ctype = r.status_code, r.content, r.headers.get("Content-Type", "")
                if (self.command, path) == proxy.match:
                    proxy.forwarded_statuses.append(r.status_code)
                    if proxy.remaining > 0:
                        proxy.remaining -= 1
                        status, content, ctype = 502, b"bad gateway", "text/plain"
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_LOCK = do_UNLOCK = _any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------------------
# more edges: isolation, identifiers, spec-shaped lock bodies, streaming


def test_lock_id_with_reserved_characters_in_the_query(ws):
    tf = ws.tf()
    info = LockInfo.new()
    info.ID = f"a b+c&d=e/é?{uuid.uuid4().hex[:6]}"
    lock_ok(tf, info)
    put_ok(tf, tfstate(1, str(uuid.uuid4())))
    assert "ID=a+b%2Bc%26d%3De%2F%C3%A9%3F" in tf.last.request.url, tf.last.request.url
    tf.unlock(info.ID)
    assert ws.show()["backend_locked"] is False


def test_locks_and_states_are_per_workspace(api, uid):
    a, b = make_workspace(api, uid), make_workspace(api, uid)
    ta, tb = a.tf(), b.tf()
    lock_ok(ta)
    lock_ok(tb)  # another workspace, another lock
    sa, sb = tfstate(1, str(uuid.uuid4()), [pet("a")]), tfstate(1, str(uuid.uuid4()), [pet("b")])
    put_ok(ta, sa)
    put_ok(tb, sb)
    assert ta.get() == sa and tb.get() == sb
    rec_a = a.all_data()[0]["id"]
    # a record id of workspace a is not visible through workspace b
    assert_error(api.get(f"{b.path}/data/{rec_a}"), 404)
    assert_error(api.post(f"{b.path}/state-versions/{rec_a}/rollback", json={}), (404, 423))
    assert tb.get() == sb


def test_same_bytes_in_two_workspaces_survive_deleting_one(api, uid):
    a, b = make_workspace(api, uid), make_workspace(api, uid)
    state = tfstate(1, str(uuid.uuid4()), [pet("shared")])
    put_ok(a.tf(), state)
    put_ok(b.tf(), state)
    r = api.delete(a.path)
    assert r.status_code == 204, describe(r)
    assert b.tf().get() == state
    rec = b.all_data()[0]
    d = api.get(f"{b.path}/data/{rec['id']}")
    assert d.status_code == 200 and d.content == state, describe(d)


def test_recreated_workspace_starts_without_state_or_lock(api, uid):
    w = make_workspace(api, uid)
    tf = w.tf()
    put_ok(tf, tfstate(3, str(uuid.uuid4()), [pet(3)]))
    r = api.delete(w.path)
    assert r.status_code == 204, describe(r)
    r = api.post(f"/iacm/api/orgs/{w.org}/projects/{w.project}/workspaces",
                 json={"identifier": w.ident, "name": "again", "provisioner": "terraform", "provider_connector": "",
                       "terraform_variables": {}, "environment_variables": {}})
    show = expect(r, 200, WORKSPACES_SPEC, SHOW)
    assert not show.get("state_checksum") and not show.get("terraform_state"), show
    assert tf.get() is None and tf.last.status_code == 204
    assert w.all_data() == []
    assert w.resources()["total_resources"] == 0
    put_ok(tf, tfstate(1, str(uuid.uuid4())))  # serial 1 of a new lineage is fine again


def test_spec_shaped_lock_and_unlock_bodies(ws):
    spec = ws.tf(methods=("POST", "DELETE"))
    lock_id = str(uuid.uuid4())
    body = {"id": lock_id, "operation": "OperationTypePlan", "version": "1.9.8",
            "created": "2024-05-01T10:11:12Z", "who": "spec-user", "info": "", "path": ""}
    r = raw(None, "POST", ws.lock_address, json.dumps(body).encode(), ws.api.token)
    lk = expect(r, 200, BACKEND_SPEC, "HarnessIacmLockinfo")
    assert lk["id"] == lock_id and lk["who"] == "spec-user" and lk["manual"] is False, lk
    err = lock_conflict(ws.tf())
    assert err.existing.ID == lock_id and err.existing.Who == "spec-user", describe(err.response)
    other = dict(body, id=str(uuid.uuid4()), who="intruder")
    r = raw(None, "DELETE", ws.lock_address, json.dumps(other).encode(), ws.api.token)
    assert r.status_code == 409, describe(r)
    assert LockInfo.unmarshal(r.content).ID == lock_id
    r = raw(None, "DELETE", ws.lock_address, json.dumps(body).encode(), ws.api.token)
    assert r.status_code == 200, describe(r)
    assert ws.show()["backend_locked"] is False
    lock_ok(spec)


def test_chunked_state_upload_streams(ws):
    import base64
    from conftest import raw_request
    lineage = str(uuid.uuid4())
    blob = "x" * (3 * 1024 * 1024)
    state = tfstate(1, lineage, [res("aws_s3_object", "o", [inst({"id": "o", "content": blob})])])
    auth = "Basic " + base64.b64encode(f"terraform:{ws.api.token}".encode()).decode()
    r = raw_request(ws.base_url, "POST", ws.path + "/terraform-backend",
                    {"Content-Type": "application/json", "Authorization": auth}, state, chunked=True)
    assert r.status_code == 200, describe(r)
    assert ws.tf().get() == state
    assert ws.all_data()[0]["state_checksum"] == sha256(state)


def test_concurrent_identical_retries_all_succeed_once(ws):
    lineage = str(uuid.uuid4())
    put_ok(ws.tf(), tfstate(1, lineage))
    state = tfstate(2, lineage, [pet("same")])
    n = 8
    barrier = threading.Barrier(n)
    statuses = [None] * n

    def run(i):
        tf = ws.tf()
        barrier.wait()
        statuses[i] = tf.request("POST", ws.address, state, "upload state").status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert statuses == [200] * n, statuses
    assert ws.tf().get() == state
    recs = ws.all_data()
    assert {r["state_checksum"] for r in recs} == {sha256(state), sha256(tfstate(1, lineage))}, recs


def test_same_state_in_pruned_and_unpruned_workspaces(api, uid):
    plain, pruned = make_workspace(api, uid), make_workspace(api, uid, prune_sensitive_data=True)
    pw = f"pw-{uuid.uuid4().hex}"
    state = tfstate(1, str(uuid.uuid4()), [
        res("aws_db_instance", "db", [inst({"id": "db", "password": pw},
                                           sensitive=[[{"type": "get_attr", "value": "password"}]])])])
    put_ok(pruned.tf(), state)
    put_ok(plain.tf(), state)
    for w in (pruned, plain):
        assert w.tf().get() == state
    d = api.get(f"{pruned.path}/data/{pruned.all_data()[0]['id']}")
    assert d.status_code == 200 and pw not in d.text, describe(d)
    assert pw not in api.get(pruned.path + "/resources").text
    d = api.get(f"{plain.path}/data/{plain.all_data()[0]['id']}")
    assert d.status_code == 200 and d.content == state, describe(d)


def test_late_unlock_of_a_force_unlocked_run_does_not_release_the_next_lock(ws):
    crashed = ws.tf()
    old = lock_ok(crashed, LockInfo.new(who="crashed@ci"))
    ws.tf().force_unlock(old.ID)
    nxt = ws.tf()
    new = lock_ok(nxt, LockInfo.new(who="next@ci"))
    with pytest.raises(BackendError):
        crashed.unlock(old.ID)  # the crashed run wakes up and unlocks with its own LockInfo
    assert crashed.last.status_code == 409, describe(crashed.last)
    error_has_holder(crashed.last, new)
    show = ws.show()
    assert show["backend_locked"] is True and show["lock"]["id"] == new.ID, show
    put_fails(crashed, tfstate(1, str(uuid.uuid4())), 423)
    put_ok(nxt, tfstate(1, str(uuid.uuid4())))


def test_serials_beyond_double_precision(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    big = 2 ** 53
    put_ok(tf, tfstate(big, lineage, [pet("a")]))
    put_ok(tf, tfstate(big + 1, lineage, [pet("b")]))  # a double would see the same serial
    put_fails(tf, tfstate(big, lineage, [pet("c")]), 409)
    assert json.loads(tf.get())["serial"] == big + 1
    recs = ws.all_data()
    r = ws.api.post(f"{ws.path}/state-versions/{recs[-1]['id']}/rollback", json={})
    rb = expect(r, 200, WORKSPACES_SPEC, "RollbackStateResponse")
    assert rb["new_file_version"] == big + 2, rb
    assert json.loads(tf.get())["serial"] == big + 2


def test_nested_and_indexed_modules_and_views_follow_the_newest_state(ws):
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    state = tfstate(1, lineage, [
        res("aws_subnet", "s", [inst({"id": "s1"}, 'we"ird')], module='module.net["eu"].module.sub'),
        res("aws_vpc", "v", [inst({"id": "v1"})], module='module.net["eu"]'),
        res("aws_vpc", "v", [inst({"id": "v2"})], module='module.net["us"]'),
        res("aws_instance", "solo", [inst({"id": "i-solo", "instance_type": "t3.nano"})]),
    ])
    put_ok(tf, state)
    body = ws.resources()
    assert sorted(r["path_id"] for r in body["resources"]) == sorted([
        'module.net["eu"].module.sub.aws_subnet.s["we\\"ird"]', 'module.net["eu"].aws_vpc.v',
        'module.net["us"].aws_vpc.v', 'aws_instance.solo']), body["resources"]
    assert body["total_resources"] == 4
    two = ws.resources(resource_types=["aws_vpc", "aws_instance"])
    assert sorted(r["path_id"] for r in two["resources"]) == sorted(
        ['module.net["eu"].aws_vpc.v', 'module.net["us"].aws_vpc.v', 'aws_instance.solo']), two
    r = ws.api.get(ws.path + "/modules")
    mods = expect(r, 200, WORKSPACES_SPEC, "WorkspaceModuleCollection")
    assert mods, mods
    # the next state drops resources: every view follows
    put_ok(tf, tfstate(2, lineage, [res("aws_instance", "solo", [inst({"id": "i-solo"})])]))
    body = ws.resources()
    assert [r["path_id"] for r in body["resources"]] == ["aws_instance.solo"] and body["total_resources"] == 1
    r = ws.api.get(ws.path + "/resource-types")
    assert r.json() == ["aws_instance"], describe(r)
    assert_error(ws.api.get(ws.path + "/resource-types/aws_vpc/attributes"), 404)
    r = ws.api.get(ws.path + "/modules")
    assert expect(r, 200, WORKSPACES_SPEC, "WorkspaceModuleCollection") == [], describe(r)


def test_rollback_to_something_that_is_not_a_state_is_refused(ws):
    tf = ws.tf()
    put_ok(tf, tfstate(1, str(uuid.uuid4())))
    r = ws.api.post(ws.path + "/data", params={"data_type": "plan_human"}, data=b"a plan",
                    headers={"Content-Type": "application/octet-stream"})
    plan_id = expect(r, 200, WORKSPACES_SPEC, "CreateDataResponse")["id"]
    r = ws.api.post(f"{ws.path}/state-versions/{plan_id}/rollback", json={})
    assert_error(r, (400, 404, 409, 422))
    assert json.loads(tf.get())["serial"] == 1


@pytest.mark.parametrize("bad", [
    {"serial": "1"}, {"serial": None}, {"serial": 1.5}, {"serial": -1}, {"serial": [9]}, {"lineage": 7},
], ids=["string serial", "null serial", "fractional serial", "negative serial", "array serial", "number lineage"])
def test_malformed_v4_state_is_not_stored_as_opaque(ws, bad):
    """A body that says "version": 4 is a v4 state; Terraform cannot read one whose serial/lineage
    has the wrong type, so it must be refused -- not stored opaquely past the serial/lineage rules."""
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    good = tfstate(5, lineage, [pet(5)])
    put_ok(tf, good)
    doc = json.loads(tfstate(6, str(uuid.uuid4()), [pet("evil")]))
    doc.update(bad)
    r = raw(None, "POST", ws.address, json.dumps(doc).encode(), ws.api.token)
    assert_error(r, (400, 409, 422))
    assert tf.get() == good
    assert len(ws.all_data()) == 1


def duplicate_key_state(key: str, first, second, lineage: str, serial: int) -> bytes:
    """A v4 state whose top-level `key` appears twice (json.dumps cannot write that)."""
    doc = json.loads(tfstate(serial, lineage, [pet("dup")]))
    doc.pop(key, None)
    text = json.dumps(doc, indent=2)
    return (text[:-1].rstrip() + f',\n  "{key}": {json.dumps(first)},\n  "{key}": {json.dumps(second)}\n}}\n').encode()


SAME_LINEAGE = object()


@pytest.mark.parametrize("key, values", [
    ("serial", (6, 5)), ("serial", (6, 6)), ("serial", (7, 1)),
    ("lineage", (SAME_LINEAGE, "other")), ("lineage", ("other", SAME_LINEAGE)),
    ("version", (4, 4)), ("terraform_version", ("1.9.8", "1.5.0")), ("resources", ([], [])),
], ids=["serial-higher-first", "serial-same", "serial-lower-last", "lineage-other-last",
        "lineage-other-first", "version", "terraform_version", "resources"])
def test_state_with_a_repeated_top_level_key_is_refused(ws, key, values):
    """Terraform's reader takes the last of two serials; a reader taking the first would read
    another serial or lineage out of the same state. Refused, and nothing stored."""
    tf = ws.tf()
    lineage = str(uuid.uuid4())
    good = tfstate(5, lineage, [pet(5)])
    put_ok(tf, good)
    first, second = (lineage if v is SAME_LINEAGE else v for v in values)
    body = duplicate_key_state(key, first, second, lineage, 6)
    put_fails(tf, body, 400, mentions=f"duplicate key {key} in the state")
    assert tf.get() == good
    assert len(ws.all_data()) == 1


def test_fuzz_finding_duplicate_serial_is_refused(ws):
    """state_reader-duplicate-serial.bin (without its two fuzzer bytes): the first serial is out
    of range, the second is 2. ParseState used to keep the second; the upload scanner refused."""
    finding = (b'{"version":4,"serial":3333333333333333e3333331,"lineage":"a","serial":2,'
               b'"rsion":null}')
    tf = ws.tf()
    put_fails(tf, finding, 400)
    assert tf.get() is None
    assert ws.all_data() == []
    put_fails(tf, b'{"version":4,"serial":1,"lineage":"a","serial":2}', 400,
              mentions="duplicate key serial")
    assert tf.get() is None
    assert ws.all_data() == []


def test_repeated_unlock_answers_200_and_leaves_it_unlocked(ws):
    """terraform retries an UNLOCK whose answer it lost: the lock is already gone, and the retry
    answers 200 as the first did (on PostgreSQL, where LOCK and UNLOCK are one function call
    each, an UNLOCK of a free lock once answered 500)."""
    tf = ws.tf()
    info = lock_ok(tf, LockInfo.new(who="retry@ci"))
    tf.unlock(info.ID)
    r = raw(None, "UNLOCK", ws.lock_address, info.marshal(), ws.api.token)
    assert r.status_code == 200, describe(r)
    assert ws.show()["backend_locked"] is False
    # and a new lock is granted at once
    assert lock_ok(ws.tf(), LockInfo.new(who="next@ci")).ID


def test_lock_and_unlock_of_a_missing_workspace_or_project_name_what_is_missing(ws):
    """LOCK and UNLOCK answer once their write is durable (the worker does not wait for the
    commit); a workspace or project that is not there still gets its own 404."""
    info = LockInfo.new(who="missing@ci")
    base = ws.base_url + f"/iacm/api/orgs/{ws.org}/projects"
    for method in ("LOCK", "UNLOCK"):
        r = raw(None, method, f"{base}/{ws.project}/workspaces/nope/terraform-backend/lock",
                info.marshal(), ws.api.token)
        assert_error(r, 404, mentions="workspace 'nope' not found")
        r = raw(None, method, f"{base}/noproject/workspaces/{ws.ident}/terraform-backend/lock",
                info.marshal(), ws.api.token)
        assert_error(r, 404, mentions="project 'noproject' not found")
    # the real workspace was not touched
    assert ws.show()["backend_locked"] is False


def test_many_clients_lock_and_unlock_their_own_workspaces_at_once(api, uid):
    """32 clients, each on its own workspace, lock and unlock 10 times at once (their writes
    share commits): every LOCK and UNLOCK answers 200, each lock is seen held between them and
    free after, and a second locker of a held workspace gets the holder."""
    spaces = [make_workspace(api, uid) for _ in range(32)]
    failures = []

    def client(w):
        try:
            for i in range(10):
                info = LockInfo.new(who=f"{w.ident}-{i}@ci")
                r = raw(None, "LOCK", w.lock_address, info.marshal(), api.token)
                if r.status_code != 200:
                    failures.append(describe(r))
                    return
                other = LockInfo.new(who="intruder@ci")
                r = raw(None, "LOCK", w.lock_address, other.marshal(), api.token)
                if r.status_code != 423 or LockInfo.unmarshal(r.content).ID != info.ID:
                    failures.append("second locker: " + describe(r))
                    return
                r = raw(None, "UNLOCK", w.lock_address, info.marshal(), api.token)
                if r.status_code != 200:
                    failures.append(describe(r))
                    return
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append(repr(e))

    threads = [threading.Thread(target=client, args=(w,)) for w in spaces]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    for w in spaces:
        assert w.show()["backend_locked"] is False
