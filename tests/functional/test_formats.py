"""Request/response formats: JSON, YAML, form data, multipart, 415, 413, malformed bodies."""
import json

import pytest
import yaml

from spec_schema import ORG_SPEC, PROJECT_SPEC, assert_error, body_of, expect, is_json, is_yaml, validate


def yaml_post(api, path, doc, ctype="application/yaml", **kw):
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    return api.post(path, data=text.encode(), headers={"Content-Type": ctype}, **kw)


@pytest.mark.parametrize("ctype", ["application/yaml", "application/x-yaml", "text/yaml"])
def test_yaml_request_gets_yaml_response(api, uid, ctype):
    ident = uid("org")
    r = yaml_post(api, "/v1/orgs", {"org": {"identifier": ident, "name": "Yaml Org",
                                            "tags": {"env": "dev"}}}, ctype)
    assert r.status_code == 201, r.text
    assert is_yaml(r), f"Content-Type {r.headers.get('Content-Type')!r} for a YAML request"
    body = yaml.safe_load(r.text)
    validate(ORG_SPEC, "OrganizationResponse", body)
    assert body["org"]["identifier"] == ident
    assert body["org"]["tags"] == {"env": "dev"}


def test_yaml_put_gets_yaml_response(api, uid):
    ident = uid("org")
    api.create_org(ident)
    r = api.put(f"/v1/orgs/{ident}", data=f"org:\n  identifier: {ident}\n  name: Via Yaml\n",
                headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    assert is_yaml(r)
    body = yaml.safe_load(r.text)
    validate(ORG_SPEC, "OrganizationResponse", body)
    assert body["org"]["name"] == "Via Yaml"


def test_yaml_project_create(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    r = yaml_post(api, f"/v1/orgs/{org}/projects",
                  f"project:\n  identifier: {p}\n  name: Yaml Project\n  modules:\n    - CD\n")
    assert r.status_code == 201, r.text
    assert is_yaml(r)
    body = yaml.safe_load(r.text)
    validate(PROJECT_SPEC, "ProjectResponse", body)
    assert body["project"]["org"] == org and body["project"]["modules"] == ["CD"]


def test_get_with_accept_yaml_returns_yaml(api, uid):
    ident = uid("org")
    api.create_org(ident, name="Accept Yaml")
    r = api.get(f"/v1/orgs/{ident}", headers={"Accept": "application/yaml"})
    assert r.status_code == 200, r.text
    assert is_yaml(r), r.headers.get("Content-Type")
    body = yaml.safe_load(r.text)
    validate(ORG_SPEC, "OrganizationResponse", body)
    assert body["org"]["name"] == "Accept Yaml"


def test_list_with_accept_yaml_returns_yaml_array(tenant, uid):
    t = tenant()
    t.api.create_org(uid("org"))
    r = t.api.get("/v1/orgs", headers={"Accept": "application/yaml"})
    assert r.status_code == 200 and is_yaml(r), r.text
    body = yaml.safe_load(r.text)
    assert isinstance(body, list) and len(body) == 1
    validate(ORG_SPEC, "OrganizationResponse", body[0])


def test_default_response_format_is_json(api, uid):
    ident = uid("org")
    api.create_org(ident)
    for headers in ({}, {"Accept": "*/*"}, {"Accept": "application/json"}):
        r = api.get(f"/v1/orgs/{ident}", headers=headers)
        assert r.status_code == 200 and is_json(r), (headers, r.headers.get("Content-Type"))
        validate(ORG_SPEC, "OrganizationResponse", r.json())


def test_json_with_charset_parameter_is_accepted(api, uid):
    ident = uid("org")
    r = api.post("/v1/orgs", data=json.dumps({"org": {"identifier": ident, "name": "Cs"}}).encode(),
                 headers={"Content-Type": "application/json; charset=utf-8"})
    expect(r, 201, ORG_SPEC, "OrganizationResponse")


def test_form_urlencoded_with_dots(api, uid):
    ident = uid("org")
    r = api.post("/v1/orgs", data={"org.identifier": ident, "org.name": "Form Org",
                                   "org.description": "made by a form & x=y; 100%", "org.tags.team": "infra",
                                   "org.tags.env": "prod"})
    assert is_json(r), "form requests get JSON back: " + r.headers.get("Content-Type", "")
    body = expect(r, 201, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    assert body["org"]["name"] == "Form Org"
    assert body["org"]["description"] == "made by a form & x=y; 100%"
    assert body["org"]["tags"] == {"team": "infra", "env": "prod"}


def test_form_urlencoded_with_brackets(api, uid):
    ident = uid("org")
    r = api.post("/v1/orgs", data={"org[identifier]": ident, "org[name]": "Bracket Org",
                                   "org[tags][k]": "v"})
    body = expect(r, 201, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident
    assert body["org"]["name"] == "Bracket Org"
    assert body["org"]["tags"] == {"k": "v"}


def test_form_urlencoded_put_project(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    api.create_project(org, p)
    r = api.put(f"/v1/orgs/{org}/projects/{p}",
                data={"project.identifier": p, "project.name": "Renamed By Form", "project.color": "#123456"})
    body = expect(r, 200, PROJECT_SPEC, "ProjectResponse")
    assert body["project"]["name"] == "Renamed By Form"
    assert body["project"]["color"] == "#123456"


def test_multipart_form_data(api, uid):
    ident = uid("org")
    fields = {"org.identifier": ident, "org.name": "Multipart Org", "org.tags.a": "b"}
    r = api.post("/v1/orgs", files={k: (None, v) for k, v in fields.items()})
    assert r.request.headers["Content-Type"].startswith("multipart/form-data")
    assert is_json(r), r.headers.get("Content-Type")
    body = expect(r, 201, ORG_SPEC, "OrganizationResponse")
    assert body["org"]["identifier"] == ident and body["org"]["name"] == "Multipart Org"
    assert body["org"]["tags"] == {"a": "b"}


@pytest.mark.parametrize("ctype", ["text/plain", "application/xml", "application/octet-stream"])
def test_unsupported_content_type_is_415(api, uid, ctype):
    ident = uid("org")
    payload = json.dumps({"org": {"identifier": ident, "name": "X"}})
    if ctype == "application/xml":
        payload = f"<org><identifier>{ident}</identifier><name>X</name></org>"
    r = api.post("/v1/orgs", data=payload.encode(), headers={"Content-Type": ctype})
    assert_error(r, 415)
    assert_error(api.get(f"/v1/orgs/{ident}"), 404)


def test_unsupported_content_type_on_put_is_415(api, uid):
    ident = uid("org")
    api.create_org(ident)
    r = api.put(f"/v1/orgs/{ident}", data=b"name=x", headers={"Content-Type": "text/plain"})
    assert_error(r, 415)


def test_malformed_json_is_400(api):
    r = api.post("/v1/orgs", data=b'{"org": {"identifier": "a", ', headers={"Content-Type": "application/json"})
    assert_error(r, 400)


def test_json_body_that_is_not_an_object_is_400(api):
    for raw in (b"[]", b"42", b'"org"', b"null"):
        assert_error(api.post("/v1/orgs", data=raw, headers={"Content-Type": "application/json"}), 400)


def test_malformed_yaml_is_400_with_yaml_error_body(api):
    r = api.post("/v1/orgs", data=b"org: [unclosed\n  identifier: : :\n",
                 headers={"Content-Type": "application/yaml"})
    assert_error(r, 400, yaml_body=True)


def test_yaml_validation_error_comes_back_as_yaml(api, uid):
    r = yaml_post(api, "/v1/orgs", {"org": {"identifier": uid("org")}})  # name missing
    assert_error(r, 400, yaml_body=True, mentions="name")


def test_yaml_conflict_error_comes_back_as_yaml(api, uid):
    ident = uid("org")
    api.create_org(ident)
    r = yaml_post(api, "/v1/orgs", {"org": {"identifier": ident, "name": "Again"}})
    assert_error(r, 409, yaml_body=True)


def test_empty_body_on_create_is_400(api):
    r = api.post("/v1/orgs", data=b"", headers={"Content-Type": "application/json"})
    assert_error(r, 400)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(api, uid, chunked):
    ident = uid("org")
    raw = json.dumps({"org": {"identifier": ident, "name": "Huge", "description": "d" * (1024 * 1024 + 4096)}})
    assert_error(api.raw_post("/v1/orgs", raw.encode(), chunked=chunked), 413)
    assert_error(api.get(f"/v1/orgs/{ident}"), 404)


def test_body_just_under_limit_is_not_413(api, uid):
    # ~900 KiB of tags: below the 1 MiB limit, so the server must parse it (and then reject the
    # over-long values by schema or accept them), but never answer 413
    doc = {"org": {"identifier": uid("org"), "name": "Big", "tags": {f"k{i}": "v" * 7000 for i in range(128)}}}
    r = api.post("/v1/orgs", json=doc)
    assert r.status_code != 413, r.text[:300]
    assert r.status_code in (201, 400), r.text[:300]
    body = body_of(r)
    if r.status_code == 201:
        validate(ORG_SPEC, "OrganizationResponse", body)


def test_yaml_put_on_unknown_org_gets_yaml_404(api, uid):
    ident = uid("org")
    r = api.put(f"/v1/orgs/{ident}", data=f"org:\n  identifier: {ident}\n  name: Ghost\n".encode(),
                headers={"Content-Type": "application/yaml"})
    assert_error(r, 404, yaml_body=True)


def test_accept_yaml_without_body_gets_yaml_error(api, uid):
    r = api.get(f"/v1/orgs/{uid('org')}", headers={"Accept": "application/yaml"})
    assert_error(r, 404, yaml_body=True)
