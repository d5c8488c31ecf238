"""/v1/orgs/{org}/projects CRUD."""
from spec_schema import PROJECT_SPEC, assert_error, expect

MS_2020 = 1.6e12


def test_create_project_returns_201_with_org_filled(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    r = api.post(f"/v1/orgs/{org}/projects", json={"project": {
        "identifier": p, "name": "My Project", "color": "#0063F7", "modules": ["CD", "CI"],
        "description": "a project", "tags": {"team": "x"}}})
    body = expect(r, 201, PROJECT_SPEC, "ProjectResponse")
    proj = body["project"]
    assert proj["identifier"] == p and proj["name"] == "My Project"
    assert proj["org"] == org, "project.org is filled by the server"
    assert proj["color"] == "#0063F7"
    assert proj["modules"] == ["CD", "CI"]
    assert proj["description"] == "a project"
    assert proj["tags"] == {"team": "x"}
    assert body["created"] > MS_2020 and body["updated"] >= body["created"]


def test_get_project(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    created = api.create_project(org, p, name="Get Me", tags={"a": "b"})
    body = expect(api.get(f"/v1/orgs/{org}/projects/{p}"), 200, PROJECT_SPEC, "ProjectResponse")
    assert body["project"]["identifier"] == p
    assert body["project"]["org"] == org
    assert body["project"]["name"] == "Get Me"
    assert body["project"]["tags"] == {"a": "b"}
    assert body["created"] == created["created"]


def test_org_in_body_is_ignored_or_must_match_path(api, uid):
    org, other, p = uid("org"), uid("org"), uid("p")
    api.create_org(org)
    api.create_org(other)
    r = api.post(f"/v1/orgs/{org}/projects", json={"project": {"identifier": p, "name": "P", "org": other}})
    if r.status_code == 201:
        assert r.json()["project"]["org"] == org, "the path decides the org"
        assert_error(api.get(f"/v1/orgs/{other}/projects/{p}"), 404)
    else:
        assert_error(r, 400)


def test_project_under_unknown_org_is_404(api, uid):
    org, p = uid("org"), uid("p")
    assert_error(api.post(f"/v1/orgs/{org}/projects", json={"project": {"identifier": p, "name": "P"}}), 404)
    assert_error(api.get(f"/v1/orgs/{org}/projects"), 404)
    assert_error(api.get(f"/v1/orgs/{org}/projects/{p}"), 404)


def test_unknown_project_is_404(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    assert_error(api.get(f"/v1/orgs/{org}/projects/{p}"), 404)
    assert_error(api.put(f"/v1/orgs/{org}/projects/{p}", json={"project": {"identifier": p, "name": "P"}}), 404)
    assert_error(api.delete(f"/v1/orgs/{org}/projects/{p}"), 404)


def test_duplicate_project_is_409(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    api.create_project(org, p, name="First")
    assert_error(api.post(f"/v1/orgs/{org}/projects", json={"project": {"identifier": p, "name": "Second"}}), 409)
    assert api.get(f"/v1/orgs/{org}/projects/{p}").json()["project"]["name"] == "First"


def test_same_project_identifier_in_two_orgs(api, uid):
    o1, o2, p = uid("org"), uid("org"), uid("p")
    api.create_org(o1)
    api.create_org(o2)
    api.create_project(o1, p, name="In One")
    body = api.create_project(o2, p, name="In Two")
    assert body["project"]["org"] == o2
    assert api.get(f"/v1/orgs/{o1}/projects/{p}").json()["project"]["name"] == "In One"
    assert api.get(f"/v1/orgs/{o2}/projects/{p}").json()["project"]["name"] == "In Two"


def test_update_project(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    created = api.create_project(org, p, name="Before", modules=["CD"])
    r = api.put(f"/v1/orgs/{org}/projects/{p}", json={"project": {
        "identifier": p, "name": "After", "modules": ["CI", "STO"], "description": "changed"}})
    body = expect(r, 200, PROJECT_SPEC, "ProjectResponse")
    assert body["project"]["name"] == "After"
    assert body["project"]["modules"] == ["CI", "STO"]
    assert body["project"]["description"] == "changed"
    assert body["project"]["org"] == org
    assert body["created"] == created["created"]
    assert body["updated"] >= created["updated"]
    got = expect(api.get(f"/v1/orgs/{org}/projects/{p}"), 200, PROJECT_SPEC, "ProjectResponse")
    assert got["project"]["name"] == "After"


def test_delete_project_returns_deleted_project(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    api.create_project(org, p, name="Doomed")
    body = expect(api.delete(f"/v1/orgs/{org}/projects/{p}"), 200, PROJECT_SPEC, "ProjectResponse")
    assert body["project"]["identifier"] == p and body["project"]["name"] == "Doomed"
    assert body["project"]["org"] == org
    assert_error(api.get(f"/v1/orgs/{org}/projects/{p}"), 404)


def test_project_etag_and_if_match(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    api.create_project(org, p, name="V1")
    r = api.get(f"/v1/orgs/{org}/projects/{p}")
    etag1 = r.headers.get("ETag")
    assert etag1, f"no ETag on project GET: {dict(r.headers)}"
    r = api.put(f"/v1/orgs/{org}/projects/{p}", json={"project": {"identifier": p, "name": "V2"}},
                headers={"If-Match": etag1})
    expect(r, 200, PROJECT_SPEC, "ProjectResponse")
    etag2 = r.headers.get("ETag")
    assert etag2 and etag2 != etag1
    r = api.put(f"/v1/orgs/{org}/projects/{p}", json={"project": {"identifier": p, "name": "V3"}},
                headers={"If-Match": etag1})
    assert_error(r, 412)
    assert api.get(f"/v1/orgs/{org}/projects/{p}").json()["project"]["name"] == "V2"


def test_projects_of_deleted_and_recreated_org_are_gone(api, uid):
    org, p = uid("org"), uid("p")
    api.create_org(org)
    api.create_project(org, p)
    expect(api.delete(f"/v1/orgs/{org}/projects/{p}"), 200, PROJECT_SPEC, "ProjectResponse")
    expect(api.delete(f"/v1/orgs/{org}"), 200)
    api.create_org(org)
    body = expect(api.get(f"/v1/orgs/{org}/projects"), 200, PROJECT_SPEC, "ProjectResponse", array=True)
    assert body == []
