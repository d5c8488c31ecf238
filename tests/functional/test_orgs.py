"""/v1/orgs CRUD: create, get, update, delete, conflicts, not-found, ETags, timestamps."""
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from spec_schema import ORG_SPEC, assert_error, expect

MS_2020 = 1.6e12


def now_ms():
    return int(time.time() * 1000)


def test_create_org_returns_201_with_org_response(api, uid):
    ident = uid("org")
    before = now_ms()
    r = api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "My Org",
                                           "description": "desc", "tags": {"a": "1", "b": "2"}}})
    body = expect(r, 201, ORG_SPEC, "OrganizationResponse")
    org = body["org"]
    assert org == {**org, "identifier": ident, "name": "My Org", "description": "desc",
                   "tags": {"a": "1", "b": "2"}}
    assert body["created"] > MS_2020 and body["updated"] > MS_2020, body
    assert before - 5000 <= body["created"] <= now_ms() + 5000, "created must be Unix milliseconds"
    assert body["updated"] >= body["created"]


def test_get_org_returns_what_was_created(api, uid):
    ident = uid("org")
    created = api.create_org(ident, name="Fetch Me", description="d", tags={"k": "v"})
    body = expect(api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    assert body["org"]["name"] == "Fetch Me"
    assert body["org"]["description"] == "d"
    assert body["org"]["tags"] == {"k": "v"}
    assert body["created"] == created["created"]


def test_create_org_minimal_fields(api, uid):
    ident = uid("org")
    body = expect(api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "Min"}}), 201,
                  ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    assert body["org"].get("tags") in (None, {})


def test_duplicate_org_is_409(api, uid):
    ident = uid("org")
    api.create_org(ident, name="First")
    r = api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "Second"}})
    assert_error(r, 409)
    assert api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "First"


def test_update_org(api, uid):
    ident = uid("org")
    created = api.create_org(ident, name="Before", description="old", tags={"old": "1"})
    r = api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "After",
                                                    "description": "new", "tags": {"new": "2"}}})
    body = expect(r, 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["name"] == "After"
    assert body["org"]["description"] == "new"
    assert body["org"]["tags"] == {"new": "2"}
    assert body["created"] == created["created"]
    assert body["updated"] >= created["updated"]
    got = expect(api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert got["org"]["name"] == "After" and got["org"]["tags"] == {"new": "2"}


def test_update_unknown_org_is_404(api, uid):
    ident = uid("org")
    assert_error(api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "X"}}), 404)


def test_get_unknown_org_is_404(api, uid):
    assert_error(api.get(f"/v1/orgs/{uid('org')}"), 404)


def test_delete_org_returns_deleted_org(api, uid):
    ident = uid("org")
    api.create_org(ident, name="Doomed")
    body = expect(api.delete(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident and body["org"]["name"] == "Doomed"
    assert_error(api.get(f"/v1/orgs/{ident}"), 404)
    assert_error(api.delete(f"/v1/orgs/{ident}"), 404)


def test_deleted_org_identifier_can_be_reused(api, uid):
    ident = uid("org")
    api.create_org(ident, name="One")
    expect(api.delete(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    body = expect(api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "Two"}}), 201,
                  ORG_SPEC, "OrganizationResponse")
    assert body["org"]["name"] == "Two"


def test_delete_org_with_projects_is_409_naming_them(api, uid):
    org = uid("org")
    api.create_org(org)
    p1, p2 = uid("p"), uid("p")
    api.create_project(org, p1)
    api.create_project(org, p2)
    err = assert_error(api.delete(f"/v1/orgs/{org}"), 409)
    assert p1 in err["message"] or p2 in err["message"], err
    expect(api.get(f"/v1/orgs/{org}"), 200, ORG_SPEC, "OrganizationResponse")
    # after removing the projects the org can go
    expect(api.delete(f"/v1/orgs/{org}/projects/{p1}"), 200)
    err = assert_error(api.delete(f"/v1/orgs/{org}"), 409)
    assert p2 in err["message"], err
    expect(api.delete(f"/v1/orgs/{org}/projects/{p2}"), 200)
    expect(api.delete(f"/v1/orgs/{org}"), 200, ORG_SPEC, "OrganizationResponse")


def test_get_org_has_etag(api, uid):
    ident = uid("org")
    api.create_org(ident)
    r = api.get(f"/v1/orgs/{ident}")
    assert r.status_code == 200
    assert r.headers.get("ETag"), f"no ETag header: {dict(r.headers)}"


def test_put_with_stale_if_match_is_412(api, uid):
    ident = uid("org")
    api.create_org(ident, name="V1")
    etag1 = api.get(f"/v1/orgs/{ident}").headers["ETag"]
    expect(api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "V2"}}), 200,
           ORG_SPEC, "OrganizationResponse")
    etag2 = api.get(f"/v1/orgs/{ident}").headers["ETag"]
    assert etag2 != etag1, "ETag must change when the org changes"
    r = api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "V3"}},
                headers={"If-Match": etag1})
    assert_error(r, 412)
    assert api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "V2"


def test_put_with_current_if_match_succeeds_and_returns_new_etag(api, uid):
    ident = uid("org")
    api.create_org(ident, name="V1")
    etag = api.get(f"/v1/orgs/{ident}").headers["ETag"]
    r = api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "V2"}},
                headers={"If-Match": etag})
    body = expect(r, 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["name"] == "V2"
    new = r.headers.get("ETag")
    assert new and new != etag, f"PUT should return a new ETag, got {new!r} (old {etag!r})"
    assert api.get(f"/v1/orgs/{ident}").headers.get("ETag") == new


def test_etag_is_stable_without_changes(api, uid):
    ident = uid("org")
    api.create_org(ident)
    assert api.get(f"/v1/orgs/{ident}").headers["ETag"] == api.get(f"/v1/orgs/{ident}").headers["ETag"]


def test_put_with_made_up_if_match_is_412(api, uid):
    ident = uid("org")
    api.create_org(ident)
    r = api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": "X"}},
                headers={"If-Match": '"definitely-not-the-etag"'})
    assert_error(r, 412)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_org_is_404_for_every_method(api, uid, method):
    ident = uid("org")
    kw = {"json": {"org": {"identifier": ident, "name": "N"}}} if method == "PUT" else {}
    assert_error(api.request(method, f"/v1/orgs/{ident}", **kw), 404)


def test_unknown_route_is_404_iacm_error(api):
    assert_error(api.get("/v1/no-such-resource"), 404)


def test_unicode_description_round_trips(api, uid):
    ident = uid("org")
    text = "Ünïcødé ✓ — 日本語 \"quoted\" \\ back"
    api.create_org(ident, description=text, tags={"ключ": "значение"})
    body = expect(api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["description"] == text
    assert body["org"]["tags"] == {"ключ": "значение"}
    r = api.get(f"/v1/orgs/{ident}", headers={"Accept": "application/yaml"})
    assert yaml.safe_load(r.text)["org"]["description"] == text


def test_concurrent_creates_of_same_org_one_wins(api, uid):
    ident = uid("org")
    body = {"org": {"identifier": ident, "name": "Race"}}

    def create(_):
        return api.as_().post("/v1/orgs", json=body).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(create, range(8)))
    assert sorted(codes) == [201] + [409] * 7, codes


def test_concurrent_puts_with_same_if_match_only_one_wins(api, uid):
    ident = uid("org")
    api.create_org(ident, name="Start")
    etag = api.get(f"/v1/orgs/{ident}").headers["ETag"]

    def put(i):
        r = api.as_().put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": f"Writer {i}"}},
                          headers={"If-Match": etag})
        return r.status_code, i

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(put, range(8)))
    codes = sorted(c for c, _ in results)
    assert codes == [200] + [412] * 7, results
    winner = next(i for c, i in results if c == 200)
    assert api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == f"Writer {winner}"
