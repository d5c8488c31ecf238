"""Authentication, account isolation, roles and org/project scopes."""
import pytest

from spec_schema import ORG_SPEC, PROJECT_SPEC, assert_error, expect


def assert_no_leak(resp, path, *secrets):
    """None of secrets may appear in the response, except those the caller put in the path."""
    for s in secrets:
        if s not in path:
            assert s not in resp.text, f"response to {path} leaks {s!r}: {resp.text[:300]}"


# --- authentication -----------------------------------------------------------------------

def test_missing_token_is_401(anon):
    assert_error(anon.get("/v1/orgs", headers={"Harness-Account": "default"}), 401)


def test_missing_token_on_write_is_401_and_nothing_created(anon, api, uid):
    ident = uid("org")
    r = anon.post("/v1/orgs", headers={"Harness-Account": "default"},
                  json={"org": {"identifier": ident, "name": "Nope"}})
    assert_error(r, 401)
    assert_error(api.get(f"/v1/orgs/{ident}"), 404)


@pytest.mark.parametrize("garbage", [
    "garbage",
    "pat.default",
    "pat.default.nosuchtoken.secret",
    "pat...",
    "Bearer x",
])
def test_garbled_or_unknown_token_is_401(api, garbage):
    assert_error(api.as_(token=garbage).get("/v1/orgs"), 401)


def test_correct_token_id_with_wrong_secret_is_401(api, admin_token):
    prefix, _, secret = admin_token.rpartition(".")
    wrong = prefix + "." + ("A" if secret[:1] != "A" else "B") + secret[1:]
    assert_error(api.as_(token=wrong).get("/v1/orgs"), 401)


def test_token_with_account_part_changed_is_401(api, admin_token, tenant):
    other = tenant()
    parts = admin_token.split(".")
    assert len(parts) == 4, admin_token
    forged = ".".join([parts[0], other.account, parts[2], parts[3]])
    assert_error(api.as_(token=forged, account=other.account).get("/v1/orgs"), 401)


def test_basic_auth_with_token_as_password(server, admin_token, api, uid):
    ident = uid("org")
    api.create_org(ident)
    bare = api.as_(token=None)
    r = bare.get(f"/v1/orgs/{ident}", auth=("whoever", admin_token))
    body = expect(r, 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    r = bare.get(f"/v1/orgs/{ident}", auth=("", admin_token))
    expect(r, 200, ORG_SPEC, "OrganizationResponse")


def test_basic_auth_with_wrong_password_is_401(api, admin_token):
    bare = api.as_(token=None)
    assert_error(bare.get("/v1/orgs", auth=("user", admin_token + "x")), 401)


def test_account_defaults_to_the_tokens_account_when_not_named(tenant, uid):
    t = tenant()
    ident = uid("org")
    t.api.create_org(ident)
    r = t.api.as_(account=None).get(f"/v1/orgs/{ident}")
    body = expect(r, 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident


def test_account_identifier_query_parameter_names_the_account(tenant, uid):
    t = tenant()
    ident = uid("org")
    t.api.create_org(ident)
    r = t.api.as_(account=None).get(f"/v1/orgs/{ident}", params={"accountIdentifier": t.account})
    expect(r, 200, ORG_SPEC, "OrganizationResponse")


# --- account isolation --------------------------------------------------------------------

def test_token_used_on_other_account_via_header_is_403_and_leaks_nothing(tenant, uid):
    a, b = tenant(), tenant()
    secret_org = uid("org")
    b.api.create_org(secret_org, name="Secret B org")
    intruder = a.api.as_(account=b.account)
    for path in ("/v1/orgs", f"/v1/orgs/{secret_org}", f"/v1/orgs/{secret_org}/projects"):
        r = intruder.get(path)
        assert_error(r, 403)
        assert_no_leak(r, path, secret_org, "Secret B org")


def test_token_used_on_other_account_via_query_is_403(tenant, uid):
    a, b = tenant(), tenant()
    secret_org = uid("org")
    b.api.create_org(secret_org, name="Secret B org")
    intruder = a.api.as_(account=None)
    r = intruder.get(f"/v1/orgs/{secret_org}", params={"accountIdentifier": b.account})
    assert_error(r, 403)
    assert "Secret B org" not in r.text
    r = intruder.get("/v1/orgs", params={"accountIdentifier": b.account})
    assert_error(r, 403)
    assert secret_org not in r.text


def test_write_into_other_account_is_403_and_has_no_effect(tenant, uid):
    a, b = tenant(), tenant()
    ident = uid("org")
    r = a.api.as_(account=b.account).post("/v1/orgs", json={"org": {"identifier": ident, "name": "X"}})
    assert_error(r, 403)
    assert_error(b.api.get(f"/v1/orgs/{ident}"), 404)
    assert_error(a.api.get(f"/v1/orgs/{ident}"), 404)


def test_delete_in_other_account_is_403_and_org_survives(tenant, uid):
    a, b = tenant(), tenant()
    ident = uid("org")
    b.api.create_org(ident)
    assert_error(a.api.as_(account=b.account).delete(f"/v1/orgs/{ident}"), 403)
    expect(b.api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")


def test_same_org_identifier_in_two_accounts_is_independent(tenant, uid):
    a, b = tenant(), tenant()
    ident = uid("org")
    a.api.create_org(ident, name="In A")
    b.api.create_org(ident, name="In B")
    assert a.api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "In A"
    assert b.api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "In B"
    expect(a.api.delete(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert b.api.get(f"/v1/orgs/{ident}").status_code == 200


def test_account_listing_shows_only_own_orgs(tenant, uid):
    a, b = tenant(), tenant()
    oa, ob = uid("org"), uid("org")
    a.api.create_org(oa)
    b.api.create_org(ob)
    body = expect(a.api.get("/v1/orgs"), 200, ORG_SPEC, "OrganizationResponse", array=True)
    assert [o["org"]["identifier"] for o in body] == [oa]


# --- roles ----------------------------------------------------------------------------------

def test_viewer_can_read(tenant, uid):
    t = tenant()
    ident = uid("org")
    t.api.create_org(ident)
    viewer = t.client("viewer")
    expect(viewer.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    expect(viewer.get("/v1/orgs"), 200, ORG_SPEC, "OrganizationResponse", array=True)


def test_viewer_cannot_create_update_or_delete(tenant, uid):
    t = tenant()
    ident = uid("org")
    t.api.create_org(ident, name="Original")
    viewer = t.client("viewer")
    new = uid("org")
    assert_error(viewer.post("/v1/orgs", json={"org": {"identifier": new, "name": "V"}}), 403)
    assert_error(viewer.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "Changed"}}), 403)
    assert_error(viewer.delete(f"/v1/orgs/{ident}"), 403)
    assert_error(viewer.post(f"/v1/orgs/{ident}/projects",
                             json={"project": {"identifier": uid("p"), "name": "P"}}), 403)
    assert_error(t.api.get(f"/v1/orgs/{new}"), 404)
    assert t.api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "Original"


def test_editor_can_create_update_and_delete(tenant, uid):
    t = tenant()
    editor = t.client("editor")
    ident = uid("org")
    expect(editor.post("/v1/orgs", json={"org": {"identifier": ident, "name": "E"}}), 201,
           ORG_SPEC, "OrganizationResponse")
    expect(editor.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "E2"}}), 200,
           ORG_SPEC, "OrganizationResponse")
    expect(editor.delete(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")


# --- scopes -----------------------------------------------------------------------------------

DENIED = (403, 404)



def test_org_scoped_token_reads_own_org_only(tenant, uid):
    t = tenant()
    x, y = uid("orgx"), uid("orgy")
    t.api.create_org(x)
    t.api.create_org(y, name="Hidden Y")
    py = uid("p")
    t.api.create_project(y, py, name="Hidden project")
    scoped = t.client("admin", org=x)
    expect(scoped.get(f"/v1/orgs/{x}"), 200, ORG_SPEC, "OrganizationResponse")
    expect(scoped.get(f"/v1/orgs/{x}/projects"), 200, PROJECT_SPEC, "ProjectResponse", array=True)
    for path in (f"/v1/orgs/{y}", f"/v1/orgs/{y}/projects", f"/v1/orgs/{y}/projects/{py}"):
        r = scoped.get(path)
        assert_error(r, DENIED)
        assert_no_leak(r, path, y, py, "Hidden")
    r = scoped.get("/v1/orgs")
    if r.status_code == 200:
        assert y not in r.text, "org-scoped listing must not show other orgs"
    else:
        assert_error(r, DENIED)


def test_org_scoped_token_cannot_write_other_org(tenant, uid):
    t = tenant()
    x, y = uid("orgx"), uid("orgy")
    t.api.create_org(x)
    t.api.create_org(y, name="Keep")
    scoped = t.client("admin", org=x)
    assert_error(scoped.put(f"/v1/orgs/{y}", json={"org": {"identifier": y, "name": "Hacked"}}), DENIED)
    assert_error(scoped.delete(f"/v1/orgs/{y}"), DENIED)
    p = uid("p")
    assert_error(scoped.post(f"/v1/orgs/{y}/projects", json={"project": {"identifier": p, "name": "P"}}),
                 DENIED)
    assert t.api.get(f"/v1/orgs/{y}").json()["org"]["name"] == "Keep"
    assert_error(t.api.get(f"/v1/orgs/{y}/projects/{p}"), 404)
    # creating a brand-new org is outside an org scope as well
    z = uid("orgz")
    assert_error(scoped.post("/v1/orgs", json={"org": {"identifier": z, "name": "Z"}}), DENIED)
    assert_error(t.api.get(f"/v1/orgs/{z}"), 404)


def test_org_scoped_token_can_write_inside_its_org(tenant, uid):
    t = tenant()
    x = uid("orgx")
    t.api.create_org(x)
    scoped = t.client("editor", org=x)
    p = uid("p")
    body = expect(scoped.post(f"/v1/orgs/{x}/projects", json={"project": {"identifier": p, "name": "P"}}),
                  201, PROJECT_SPEC, "ProjectResponse")
    assert body["project"]["org"] == x


def test_project_scoped_token_sees_only_its_project(tenant, uid):
    t = tenant()
    x = uid("orgx")
    t.api.create_org(x)
    p, q = uid("p"), uid("q")
    t.api.create_project(x, p)
    t.api.create_project(x, q, name="Hidden Q")
    scoped = t.client("editor", org=x, project=p)
    expect(scoped.get(f"/v1/orgs/{x}/projects/{p}"), 200, PROJECT_SPEC, "ProjectResponse")
    expect(scoped.put(f"/v1/orgs/{x}/projects/{p}", json={"project": {"identifier": p, "name": "Renamed"}}),
           200, PROJECT_SPEC, "ProjectResponse")
    r = scoped.get(f"/v1/orgs/{x}/projects/{q}")
    assert_error(r, DENIED)
    assert "Hidden Q" not in r.text
    assert_error(scoped.put(f"/v1/orgs/{x}/projects/{q}", json={"project": {"identifier": q, "name": "H"}}),
                 DENIED)
    r = scoped.get(f"/v1/orgs/{x}/projects")
    if r.status_code == 200:
        assert q not in r.text, "project-scoped listing must not show other projects"
    else:
        assert_error(r, DENIED)
    n = uid("n")
    assert_error(scoped.post(f"/v1/orgs/{x}/projects", json={"project": {"identifier": n, "name": "N"}}),
                 DENIED)
    assert_error(t.api.get(f"/v1/orgs/{x}/projects/{n}"), 404)
    assert t.api.get(f"/v1/orgs/{x}/projects/{q}").json()["project"]["name"] == "Hidden Q"


def test_valid_token_naming_nonexistent_account_is_403(api, uid):
    r = api.as_(account=uid("nosuchacct")).get("/v1/orgs")
    assert_error(r, 403)


@pytest.mark.parametrize("where", ["query-names-other", "header-names-other"])
def test_conflicting_account_header_and_query_never_expose_other_account(tenant, uid, where):
    a, b = tenant(), tenant()
    secret_org = uid("org")
    b.api.create_org(secret_org, name="Secret B org")
    if where == "query-names-other":
        client, query = a.api.as_(account=a.account), b.account
    else:
        client, query = a.api.as_(account=b.account), a.account
    for path in ("/v1/orgs", f"/v1/orgs/{secret_org}"):
        r = client.get(path, params={"accountIdentifier": query})
        # Either spelling naming another account than the token's is a 403.
        assert_error(r, 403)
        assert_no_leak(r, path, secret_org, "Secret B org")


def test_api_key_header_name_is_case_insensitive(api, admin_token):
    r = api.as_(token=None).get("/v1/orgs", headers={"X-API-KEY": admin_token})
    expect(r, 200, ORG_SPEC, "OrganizationResponse", array=True)
