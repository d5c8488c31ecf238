"""/ng/api/token: create, list (aggregate), update, delete, rotate, validate; roles and scopes."""
import json
import re
import time

import pytest

from spec_schema import ORG_SPEC, TOKEN_SPEC, assert_error, expect

MS_2020 = 1.6e12
DENIED = (403, 404)


def now_ms():
    return int(time.time() * 1000)


def works(api, token) -> int:
    """Status of a harmless authenticated read with this token."""
    return api.as_(token=token).get("/v1/orgs", params={"limit": 1}).status_code


@pytest.fixture
def key(api):
    return api.create_apikey()


def test_create_token_returns_usable_pat(api, key, uid):
    ident = uid("tok")
    r = api.post_token(key, ident)
    dto = expect(r, 200, TOKEN_SPEC, "ResponseDTOString")
    assert dto["status"] == "SUCCESS"
    value = dto["data"]
    assert re.fullmatch(rf"pat\.default\.{re.escape(ident)}\.[^.\s]+", value), value
    assert works(api, value) == 200


def test_token_values_are_unique(api, key):
    a = api.create_token(key)
    b = api.create_token(key)
    assert a.split(".")[3] != b.split(".")[3]


def test_create_token_for_unknown_apikey_is_404(api, uid):
    ghost = {"identifier": uid("key"), "parentIdentifier": uid("sa")}
    assert_error(api.post_token(ghost), 404)


def test_create_token_missing_identifier_is_400(api, key):
    body = api.token_body(key)
    del body["identifier"]
    assert_error(api.post("/ng/api/token", params={"accountIdentifier": "default"}, json=body), 400,
                 mentions="identifier")


def test_duplicate_token_identifier_is_409(api, key, uid):
    ident = uid("tok")
    api.create_token(key, ident)
    assert_error(api.post_token(key, ident), 409)


def test_list_tokens_never_shows_secret(api, key):
    values = [api.create_token(key) for _ in range(2)]
    r = api.get("/ng/api/token/aggregate", params=api.key_params(key))
    dto = expect(r, 200, TOKEN_SPEC, "ResponseDTOPageResponseTokenAggregate")
    idents = sorted(agg["token"]["identifier"] for agg in dto["data"]["content"])
    assert idents == sorted(v.split(".")[2] for v in values)
    for agg in dto["data"]["content"]:
        assert agg["createdAt"] > MS_2020
        assert agg["token"]["apiKeyIdentifier"] == key["identifier"]
    for v in values:
        assert v.split(".")[3] not in r.text, "token secret must never be listed"


def test_list_tokens_paging(tenant):
    t = tenant()
    k = t.api.create_apikey()
    for i in range(3):
        t.api.create_token(k, f"tok_{i}")
    seen = []
    for page in (0, 1):
        r = t.api.get("/ng/api/token/aggregate", params=t.api.key_params(k, pageIndex=page, pageSize=2))
        data = expect(r, 200, TOKEN_SPEC, "ResponseDTOPageResponseTokenAggregate")["data"]
        assert data["totalItems"] == 3 and data["pageIndex"] == page
        seen += [agg["token"]["identifier"] for agg in data["content"]]
    assert sorted(seen) == ["tok_0", "tok_1", "tok_2"]


def test_update_token(api, key, uid):
    ident = uid("tok")
    value = api.create_token(key, ident)
    body = api.token_body(key, ident, name="Renamed token", description="changed")
    r = api.put(f"/ng/api/token/{ident}", params={"accountIdentifier": "default"}, json=body)
    dto = expect(r, 200, TOKEN_SPEC, "ResponseDTOToken")
    assert dto["data"]["identifier"] == ident
    assert dto["data"]["name"] == "Renamed token"
    assert value.split(".")[3] not in r.text
    assert works(api, value) == 200, "updating a token's metadata must not revoke it"


def test_update_unknown_token_is_404(api, key, uid):
    ident = uid("tok")
    r = api.put(f"/ng/api/token/{ident}", params={"accountIdentifier": "default"}, json=api.token_body(key, ident))
    assert_error(r, 404)


def test_delete_token_revokes_at_once(api, key, uid):
    ident = uid("tok")
    value = api.create_token(key, ident)
    assert works(api, value) == 200
    r = api.delete(f"/ng/api/token/{ident}", params=api.key_params(key))
    dto = expect(r, 200, TOKEN_SPEC, "ResponseDTOBoolean")
    assert dto["data"] is True
    assert_error(api.as_(token=value).get("/v1/orgs"), 401)
    assert_error(api.delete(f"/ng/api/token/{ident}", params=api.key_params(key)), 404)


def test_rotate_token_replaces_the_secret(api, key, uid):
    ident = uid("tok")
    old = api.create_token(key, ident)
    r = api.post(f"/ng/api/token/rotate/{ident}", params=api.key_params(key))
    dto = expect(r, 200, TOKEN_SPEC, "ResponseDTOString")
    new = dto["data"]
    assert new != old
    assert new.startswith(f"pat.default.{ident}."), new
    assert works(api, new) == 200
    assert_error(api.as_(token=old).get("/v1/orgs"), 401)


def test_rotate_with_future_timestamp_keeps_old_token_valid(api, key, uid):
    ident = uid("tok")
    old = api.create_token(key, ident)
    r = api.post(f"/ng/api/token/rotate/{ident}",
                 params=api.key_params(key, rotateTimestamp=now_ms() + 3_600_000))
    new = expect(r, 200, TOKEN_SPEC, "ResponseDTOString")["data"]
    assert new != old
    assert works(api, new) == 200
    assert works(api, old) == 200, "old value stays valid until rotateTimestamp"


def test_rotate_unknown_token_is_404(api, key, uid):
    assert_error(api.post(f"/ng/api/token/rotate/{uid('tok')}", params=api.key_params(key)), 404)


@pytest.mark.parametrize("ctype", ["text/plain", "application/json"])
def test_validate_valid_token(api, key, uid, ctype):
    ident = uid("tok")
    value = api.create_token(key, ident)
    payload = value if ctype == "text/plain" else json.dumps(value)
    r = api.post("/ng/api/token/validate", params={"accountIdentifier": "default"},
                 data=payload.encode(), headers={"Content-Type": ctype})
    dto = expect(r, 200, TOKEN_SPEC, "ResponseDTOToken")
    assert dto["data"]["identifier"] == ident
    assert dto["data"].get("apiKeyIdentifier") in (None, key["identifier"])
    assert value.split(".")[3] not in r.text


@pytest.mark.parametrize("bad", ["pat.default.nope.nope", "garbage"])
def test_validate_invalid_token_is_401(api, bad):
    r = api.post("/ng/api/token/validate", params={"accountIdentifier": "default"},
                 data=bad.encode(), headers={"Content-Type": "text/plain"})
    assert_error(r, 401)


def test_validate_deleted_token_is_401(api, key, uid):
    ident = uid("tok")
    value = api.create_token(key, ident)
    expect(api.delete(f"/ng/api/token/{ident}", params=api.key_params(key)), 200, TOKEN_SPEC, "ResponseDTOBoolean")
    r = api.post("/ng/api/token/validate", params={"accountIdentifier": "default"},
                 data=value.encode(), headers={"Content-Type": "text/plain"})
    assert_error(r, 401)


def test_expired_token_is_401(api, key):
    value = api.create_token(key, validTo=now_ms() - 60_000)
    assert_error(api.as_(token=value).get("/v1/orgs"), 401)
    r = api.post("/ng/api/token/validate", params={"accountIdentifier": "default"},
                 data=value.encode(), headers={"Content-Type": "text/plain"})
    assert_error(r, 401)


def test_token_with_future_valid_to_works(api, key):
    value = api.create_token(key, validTo=now_ms() + 3_600_000)
    assert works(api, value) == 200


# --- roles ------------------------------------------------------------------------------------

def test_token_role_viewer_can_only_read(api, key, uid):
    value = api.create_token(key, role="viewer")
    viewer = api.as_(token=value)
    expect(viewer.get("/v1/orgs", params={"limit": 1}), 200, ORG_SPEC, "OrganizationResponse", array=True)
    ident = uid("org")
    assert_error(viewer.post("/v1/orgs", json={"org": {"identifier": ident, "name": "No"}}), 403)
    assert_error(api.get(f"/v1/orgs/{ident}"), 404)


def test_token_role_editor_writes_but_cannot_manage_tokens(api, key, uid):
    value = api.create_token(key, role="editor")
    editor = api.as_(token=value)
    expect(editor.post("/v1/orgs", json={"org": {"identifier": uid("org"), "name": "Ed"}}), 201,
           ORG_SPEC, "OrganizationResponse")
    assert_error(editor.get("/ng/api/token/aggregate", params=api.key_params(key)), 403)
    assert_error(editor.post_token(key), 403)


def test_token_default_role_is_creators_role(api, key):
    value = api.create_token(key)  # created by an admin, no role given
    child = api.as_(token=value)
    # an admin-only operation succeeds
    r = child.get("/ng/api/token/aggregate", params=api.key_params(key))
    expect(r, 200, TOKEN_SPEC, "ResponseDTOPageResponseTokenAggregate")


def test_token_invalid_role_is_400(api, key):
    assert_error(api.post_token(key, role="superuser"), 400, mentions="role")


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_non_admin_cannot_use_token_endpoints(tenant, role):
    t = tenant()
    k = t.api.create_apikey()
    ident = "tok_victim"
    victim = t.api.create_token(k, ident)
    c = t.client(role)
    assert_error(c.post_token(k), 403)
    assert_error(c.get("/ng/api/token/aggregate", params=c.key_params(k)), 403)
    assert_error(c.put(f"/ng/api/token/{ident}", params={"accountIdentifier": t.account},
                       json=c.token_body(k, ident, name="x")), 403)
    assert_error(c.post(f"/ng/api/token/rotate/{ident}", params=c.key_params(k)), 403)
    assert_error(c.delete(f"/ng/api/token/{ident}", params=c.key_params(k)), 403)
    assert works(t.api, victim) == 200


def test_token_endpoints_on_other_account_are_403(tenant):
    a, b = tenant(), tenant()
    k = b.api.create_apikey()
    intruder = a.api.as_(account=b.account)
    r = intruder.get("/ng/api/token/aggregate", params=b.api.key_params(k))
    assert_error(r, 403)
    r = intruder.post("/ng/api/token", params={"accountIdentifier": b.account}, json=b.api.token_body(k))
    assert_error(r, 403)


# --- scopes -----------------------------------------------------------------------------------

def test_token_with_org_identifier_is_limited_to_that_org(tenant, uid):
    t = tenant()
    x, y = uid("orgx"), uid("orgy")
    t.api.create_org(x)
    t.api.create_org(y, name="Other Y")
    k = t.api.create_apikey()
    value = t.api.create_token(k, orgIdentifier=x)
    scoped = t.api.as_(token=value)
    expect(scoped.get(f"/v1/orgs/{x}"), 200, ORG_SPEC, "OrganizationResponse")
    r = scoped.get(f"/v1/orgs/{y}")
    assert_error(r, DENIED)
    assert "Other Y" not in r.text


def test_token_with_project_identifier_is_limited_to_that_project(tenant, uid):
    t = tenant()
    x, p, q = uid("orgx"), uid("p"), uid("q")
    t.api.create_org(x)
    t.api.create_project(x, p)
    t.api.create_project(x, q, name="Other Q")
    k = t.api.create_apikey()
    value = t.api.create_token(k, orgIdentifier=x, projectIdentifier=p)
    scoped = t.api.as_(token=value)
    assert scoped.get(f"/v1/orgs/{x}/projects/{p}").status_code == 200
    r = scoped.get(f"/v1/orgs/{x}/projects/{q}")
    assert_error(r, DENIED)
    assert "Other Q" not in r.text


def test_org_scoped_admin_cannot_mint_token_for_other_org(tenant, uid):
    t = tenant()
    x, y = uid("orgx"), uid("orgy")
    t.api.create_org(x)
    t.api.create_org(y)
    k = t.api.create_apikey()
    scoped_admin = t.client("admin", org=x)
    r = scoped_admin.post_token(k, orgIdentifier=y)
    assert_error(r, DENIED)
