"""Request/response formats: JSON, YAML, form data, multipart, 415, 413, malformed bodies."""
import json

import pytest
import yaml

from spec_schema import (ORG_SPEC, PROJECT_SPEC, WORKSPACES_SPEC, assert_error, body_of, describe, expect,
                         is_json, is_yaml, load_spec, validate)


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


# ---------------------------------------------------------------------------------------
# Error media type: the specs type error replies as application/vnd.goa.error (Harness's Go SDK
# sends it as Accept on DELETE). Same IaCMError JSON; only when Accept asks for it.

GOA_ERROR = "application/vnd.goa.error"
SPEC_WORKSPACE = "/iacm/api/orgs/{org}/projects/{project}/workspaces/{identifier}"


def missing_workspace_path(api, uid):
    org, project = uid("org"), uid("prj")
    api.create_org(org)
    api.create_project(org, project)
    return f"/iacm/api/orgs/{org}/projects/{project}/workspaces/{uid('ws')}"


def assert_goa_error(resp, status):
    assert resp.status_code == status, describe(resp)
    assert resp.headers.get("Content-Type") == GOA_ERROR, describe(resp)
    body = json.loads(resp.content)
    validate(WORKSPACES_SPEC, "IaCMError", body)
    assert body["fault"] is False and body["message"], describe(resp)
    return body


def test_delete_of_missing_workspace_with_accept_goa_error(api, uid):
    path = missing_workspace_path(api, uid)
    # The type served is the one the spec declares for this answer.
    declared = load_spec(WORKSPACES_SPEC)["paths"][SPEC_WORKSPACE]["delete"]["responses"]["404"]["content"]
    assert GOA_ERROR in declared, list(declared)
    r = api.delete(path, headers={"Accept": GOA_ERROR})
    body = assert_goa_error(r, 404)
    assert body["name"] == "not_found" and path.rsplit("/", 1)[1] in body["message"], body
    assert body["id"] == r.headers.get("X-Request-Id"), describe(r)


@pytest.mark.parametrize("accept", [
    "application/json, application/vnd.goa.error",
    "application/vnd.goa.error; charset=utf-8",
    "application/json;q=0.5, application/vnd.goa.error;q=0.8, */*;q=0.1",
    "text/html, application/vnd.goa.error;q=0.3",
])
def test_goa_error_among_other_accepted_types(api, uid, accept):
    assert_goa_error(api.delete(missing_workspace_path(api, uid), headers={"Accept": accept}), 404)


@pytest.mark.parametrize("accept", [
    "*/*", "application/json", "application/json, application/vnd.goa.error;q=0.5",
    "application/vnd.goa.error;q=0", "application/*",
])
def test_goa_error_only_when_asked(api, uid, accept):
    assert_error(api.delete(missing_workspace_path(api, uid), headers={"Accept": accept}), 404)


def test_goa_error_for_auth_failures_and_yaml_requests(api, anon, uid):
    path = missing_workspace_path(api, uid)
    assert_goa_error(anon.delete(path, headers={"Accept": GOA_ERROR}), 401)
    # A YAML request that asks for it gets it; without asking, its error stays YAML.
    r = api.put(path, data=b"name: x\n", headers={"Content-Type": "application/yaml", "Accept": GOA_ERROR})
    assert_goa_error(r, 404)
    r = api.put(path, data=b"name: x\n", headers={"Content-Type": "application/yaml"})
    assert_error(r, 404, yaml_body=True)
    # Successful answers keep their own format.
    r = api.get(path.rsplit("/workspaces/", 1)[0] + "/workspaces", headers={"Accept": GOA_ERROR})
    assert r.status_code == 200 and is_json(r), describe(r)


# ---------------------------------------------------------------------------------------
# Nesting: one limit (32 objects/arrays, Boost.JSON's default depth, which the server's own
# JSON reader has) for JSON, YAML, urlencoded and multipart bodies; deeper is a 400 naming it.
# POST /pm/api/v1/evaluate takes any input document, and the policy reads its deepest value.

PM_EVALUATE = "/pm/api/v1/evaluate"


def deep_rego(levels: int) -> str:
    return ("package deep\n\ndeny[msg] {\n  input" + ".a" * levels + ' == "bottom"\n'
            '  msg := "reached the bottom"\n}\n')


def deep_input(levels: int):
    doc = "bottom"
    for _ in range(levels):
        doc = {"a": doc}
    return doc


def deep_bodies(depth: int):
    """(name, kwargs) posting an evaluate body nested `depth` objects deep in each format."""
    levels = depth - 1  # the body's own object holds the input
    rego = deep_rego(levels)
    doc = {"rego": rego, "input": deep_input(levels)}
    field = "input" + ".a" * levels  # `depth` parts: `depth` objects
    boundary = "XyZdeep"
    multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"rego\"\r\n\r\n{rego}\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\nbottom\r\n"
                 f"--{boundary}--\r\n").encode()
    return [
        ("json", {"data": json.dumps(doc).encode(), "headers": {"Content-Type": "application/json"}}),
        ("yaml", {"data": yaml.safe_dump(doc).encode(), "headers": {"Content-Type": "application/yaml"}}),
        ("form", {"data": {"rego": rego, field: "bottom"}}),
        ("multipart", {"data": multipart,
                       "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"}}),
    ]


def body_depth(v) -> int:
    if isinstance(v, dict):
        return 1 + max((body_depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((body_depth(x) for x in v), default=0)
    return 0


def test_bodies_nested_20_deep_are_accepted(api):
    assert body_depth({"rego": "", "input": deep_input(19)}) == 20
    for name, kw in deep_bodies(20):
        r = api.post(PM_EVALUATE, **kw)
        assert r.status_code == 200, f"{name}: " + describe(r)
        body = body_of(r)
        assert body["deny_messages"] == ["reached the bottom"], f"{name}: {body}"


@pytest.mark.parametrize("depth", [33, 40])
def test_bodies_nested_past_the_limit_are_400(api, depth):
    for name, kw in deep_bodies(depth):
        r = api.post(PM_EVALUATE, **kw)
        body = assert_error(r, 400, yaml_body=(name == "yaml"), mentions="nesting limit")
        assert "32" in body["message"], f"{name}: {body}"


def test_body_exactly_at_the_limit_is_accepted(api):
    for name, kw in deep_bodies(32):
        r = api.post(PM_EVALUATE, **kw)
        assert r.status_code == 200, f"{name}: " + describe(r)


def test_deep_free_form_field_on_workspace_create(api, uid):
    """Unknown fields of a workspace body are ignored, but they count for the nesting limit."""
    org, project = uid("org"), uid("prj")
    api.create_org(org)
    api.create_project(org, project)
    base = f"/iacm/api/orgs/{org}/projects/{project}/workspaces"

    def ws(extra_depth):
        return {"identifier": uid("ws"), "name": "Deep", "provisioner": "terraform",
                "provider_connector": "", "terraform_variables": {}, "environment_variables": {},
                "x_extra": deep_input(extra_depth)}

    r = api.post(base, json=ws(19))  # 20 deep
    assert r.status_code == 200, describe(r)
    r = api.post(base, json=ws(39))  # 40 deep
    assert_error(r, 400, mentions="nesting limit")
