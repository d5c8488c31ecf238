"""Input validation for orgs and projects: types, required fields, identifier pattern/length."""
import pytest

from spec_schema import ORG_SPEC, assert_error, expect

BAD_IDENTIFIERS = [
    pytest.param("", id="empty"),
    pytest.param("1abc", id="leading-digit"),
    pytest.param("a-b", id="hyphen"),
    pytest.param("a b", id="space"),
    pytest.param("a.b", id="dot"),
    pytest.param("naïve", id="non-ascii"),
    pytest.param("a" * 129, id="129-chars"),
]


@pytest.mark.parametrize("bad", BAD_IDENTIFIERS)
def test_org_identifier_not_matching_spec_is_400(api, bad):
    r = api.post("/v1/orgs", json={"org": {"identifier": bad, "name": "Bad Id"}})
    assert_error(r, 400, mentions="identifier")


@pytest.mark.parametrize("bad", BAD_IDENTIFIERS)
def test_project_identifier_not_matching_spec_is_400(api, uid, bad):
    org = uid("org")
    api.create_org(org)
    r = api.post(f"/v1/orgs/{org}/projects", json={"project": {"identifier": bad, "name": "Bad Id"}})
    assert_error(r, 400, mentions="identifier")


def test_identifier_of_exactly_128_chars_is_accepted(api, uid):
    ident = (uid("o") + "x" * 128)[:128]
    body = expect(api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "Long"}}), 201,
                  ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    expect(api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")


def test_identifier_with_underscore_start_and_dollar_is_accepted(api, uid):
    ident = "_" + uid("o") + "$x"
    body = expect(api.post("/v1/orgs", json={"org": {"identifier": ident, "name": "Dollar"}}), 201,
                  ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    got = expect(api.get(f"/v1/orgs/{ident}"), 200, ORG_SPEC, "OrganizationResponse")
    assert got["org"]["identifier"] == ident


@pytest.mark.parametrize("field,value", [
    ("name", 5),
    ("name", None),
    ("name", ["x"]),
    ("identifier", 12),
    ("tags", "x"),
    ("tags", ["a", "b"]),
    ("tags", {"k": 1}),
    ("description", 7),
])
def test_org_field_with_wrong_type_is_400(api, uid, field, value):
    org = {"identifier": uid("org"), "name": "Typed"}
    org[field] = value
    r = api.post("/v1/orgs", json={"org": org})
    assert_error(r, 400, mentions=field)


@pytest.mark.parametrize("field,value", [
    ("name", 5),
    ("tags", "x"),
    ("modules", "CD"),
    ("modules", ["NOT_A_MODULE"]),
    ("color", 3),
])
def test_project_field_with_wrong_type_is_400(api, uid, field, value):
    org = uid("org")
    api.create_org(org)
    project = {"identifier": uid("p"), "name": "Typed", field: value}
    r = api.post(f"/v1/orgs/{org}/projects", json={"project": project})
    assert_error(r, 400, mentions=field)


@pytest.mark.parametrize("missing", ["identifier", "name"])
def test_org_missing_required_field_is_400(api, uid, missing):
    org = {"identifier": uid("org"), "name": "Req"}
    del org[missing]
    assert_error(api.post("/v1/orgs", json={"org": org}), 400, mentions=missing)


@pytest.mark.parametrize("missing", ["identifier", "name"])
def test_project_missing_required_field_is_400(api, uid, missing):
    org = uid("org")
    api.create_org(org)
    project = {"identifier": uid("p"), "name": "Req"}
    del project[missing]
    assert_error(api.post(f"/v1/orgs/{org}/projects", json={"project": project}), 400, mentions=missing)


def test_missing_org_wrapper_is_400(api, uid):
    r = api.post("/v1/orgs", json={"identifier": uid("org"), "name": "No wrapper"})
    assert_error(r, 400, mentions="org")


def test_missing_project_wrapper_is_400(api, uid):
    org = uid("org")
    api.create_org(org)
    r = api.post(f"/v1/orgs/{org}/projects", json={"identifier": uid("p"), "name": "No wrapper"})
    assert_error(r, 400, mentions="project")


def test_org_wrapper_of_wrong_type_is_400(api):
    assert_error(api.post("/v1/orgs", json={"org": "just a string"}), 400, mentions="org")


def test_description_longer_than_1024_is_400(api, uid):
    r = api.post("/v1/orgs", json={"org": {"identifier": uid("org"), "name": "D", "description": "x" * 1025}})
    assert_error(r, 400, mentions="description")


def test_put_with_invalid_body_is_400_and_leaves_org_unchanged(api, uid):
    ident = uid("org")
    api.create_org(ident, name="Stable")
    assert_error(api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident, "name": 5}}), 400,
                 mentions="name")
    assert_error(api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": ident}}), 400, mentions="name")
    assert api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "Stable"


def test_form_field_validation_names_the_field(api, uid):
    r = api.post("/v1/orgs", data={"org.identifier": "9bad", "org.name": "Form"})
    assert_error(r, 400, mentions="identifier")


def test_name_not_matching_spec_pattern_is_400(api, uid):
    r = api.post("/v1/orgs", json={"org": {"identifier": uid("org"), "name": "1 bad!name"}})
    assert_error(r, 400, mentions="name")


def test_more_than_128_tags_is_400(api, uid):
    tags = {f"k{i}": "v" for i in range(129)}
    assert_error(api.post("/v1/orgs", json={"org": {"identifier": uid("org"), "name": "T", "tags": tags}}), 400,
                 mentions="tags")


def test_put_with_identifier_differing_from_path_neither_renames_nor_creates(api, uid):
    ident, other = uid("org"), uid("org")
    api.create_org(ident, name="Keep")
    r = api.put(f"/v1/orgs/{ident}", json={"org": {"identifier": other, "name": "Moved"}})
    assert_error(r, 400, mentions="identifier")
    assert api.get(f"/v1/orgs/{ident}").json()["org"]["name"] == "Keep"
    assert_error(api.get(f"/v1/orgs/{other}"), 404)


def test_json_with_trailing_garbage_is_400(api, uid):
    raw = ('{"org": {"identifier": "%s", "name": "x"}} trailing' % uid("org")).encode()
    assert_error(api.post("/v1/orgs", data=raw, headers={"Content-Type": "application/json"}), 400)


def test_hostile_bodies_are_400_and_server_survives(api, server):
    deep = b"[" * 100000 + b"]" * 100000
    assert_error(api.post("/v1/orgs", data=deep, headers={"Content-Type": "application/json"}), 400)
    assert_error(api.post("/v1/orgs", data=deep, headers={"Content-Type": "application/yaml"}), 400,
                 yaml_body=True)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for name in "bcdefghi":
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    assert_error(api.post("/v1/orgs", data=bomb.encode(), headers={"Content-Type": "application/yaml"}), 400,
                 yaml_body=True)
    assert api.get("/healthz").status_code == 200
    assert server.proc.poll() is None, "server died"
