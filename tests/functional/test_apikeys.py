"""/ng/api/apikey: create, list, aggregate, update, delete; admin role only."""
from spec_schema import APIKEY_SPEC, assert_error, expect

MS_2020 = 1.6e12


def test_create_apikey_returns_response_dto(api, uid):
    ident, parent = uid("key"), uid("sa")
    body = api.apikey_body(ident, parent, description="for CI", tags={"team": "infra"})
    r = api.post("/ng/api/apikey", params={"accountIdentifier": "default"}, json=body)
    dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOApiKey")
    assert dto["status"] == "SUCCESS"
    key = dto["data"]
    assert key["identifier"] == ident
    assert key["name"] == body["name"]
    assert key["parentIdentifier"] == parent
    assert key["accountIdentifier"] == "default"
    assert key["apiKeyType"] == "SERVICE_ACCOUNT"
    assert key["description"] == "for CI"
    assert key["tags"] == {"team": "infra"}


def test_duplicate_apikey_is_409(api, uid):
    key = api.create_apikey()
    r = api.post("/ng/api/apikey", params={"accountIdentifier": "default"},
                 json=api.apikey_body(key["identifier"], key["parentIdentifier"]))
    assert_error(r, 409)


def test_create_apikey_missing_name_is_400(api, uid):
    body = api.apikey_body()
    del body["name"]
    assert_error(api.post("/ng/api/apikey", params={"accountIdentifier": "default"}, json=body), 400,
                 mentions="name")


def test_list_apikeys_of_parent(api, uid):
    parent = uid("sa")
    k1 = api.create_apikey(parent=parent)
    k2 = api.create_apikey(parent=parent)
    api.create_apikey()  # another parent
    r = api.get("/ng/api/apikey", params={"accountIdentifier": "default", "apiKeyType": "SERVICE_ACCOUNT",
                                          "parentIdentifier": parent})
    dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOListApiKey")
    assert sorted(k["identifier"] for k in dto["data"]) == sorted([k1["identifier"], k2["identifier"]])


def test_aggregate_list_pages(tenant):
    t = tenant()
    parent = "sa_pages"
    keys = sorted(t.api.create_apikey(identifier=f"key_{i}", parent=parent)["identifier"] for i in range(3))
    base = {"accountIdentifier": t.account, "apiKeyType": "SERVICE_ACCOUNT", "parentIdentifier": parent}
    seen = []
    for page in (0, 1):
        r = t.api.get("/ng/api/apikey/aggregate", params={**base, "pageIndex": page, "pageSize": 2})
        dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOPageResponseApiKeyAggregate")
        data = dto["data"]
        assert data["totalItems"] == 3 and data["totalPages"] == 2, data
        assert data["pageIndex"] == page and data["pageSize"] == 2
        assert len(data["content"]) == (2 if page == 0 else 1)
        for agg in data["content"]:
            assert agg["createdAt"] > MS_2020 and agg["lastModifiedAt"] >= agg["createdAt"]
        seen += [agg["apiKey"]["identifier"] for agg in data["content"]]
    assert sorted(seen) == keys


def test_aggregate_of_one_key_counts_tokens(api):
    key = api.create_apikey()
    params = api.key_params(key)
    r = api.get(f"/ng/api/apikey/aggregate/{key['identifier']}", params=params)
    dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOApiKeyAggregate")
    assert dto["data"]["apiKey"]["identifier"] == key["identifier"]
    assert dto["data"]["createdAt"] > MS_2020
    assert dto["data"].get("tokensCount", 0) == 0
    api.create_token(key)
    api.create_token(key)
    dto = expect(api.get(f"/ng/api/apikey/aggregate/{key['identifier']}", params=params), 200,
                 APIKEY_SPEC, "ResponseDTOApiKeyAggregate")
    assert dto["data"]["tokensCount"] == 2


def test_aggregate_of_unknown_key_is_404(api, uid):
    key = {"identifier": uid("key"), "parentIdentifier": uid("sa")}
    assert_error(api.get(f"/ng/api/apikey/aggregate/{key['identifier']}", params=api.key_params(key)), 404)


def test_update_apikey(api):
    key = api.create_apikey(description="old")
    body = api.apikey_body(key["identifier"], key["parentIdentifier"], name="Renamed key", description="new")
    r = api.put(f"/ng/api/apikey/{key['identifier']}", params={"accountIdentifier": "default"}, json=body)
    dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOApiKey")
    assert dto["data"]["name"] == "Renamed key" and dto["data"]["description"] == "new"
    got = expect(api.get(f"/ng/api/apikey/aggregate/{key['identifier']}", params=api.key_params(key)), 200,
                 APIKEY_SPEC, "ResponseDTOApiKeyAggregate")
    assert got["data"]["apiKey"]["name"] == "Renamed key"


def test_update_unknown_apikey_is_404(api, uid):
    ident = uid("key")
    r = api.put(f"/ng/api/apikey/{ident}", params={"accountIdentifier": "default"}, json=api.apikey_body(ident))
    assert_error(r, 404)


def test_delete_apikey_returns_true_and_revokes_its_tokens(api):
    key = api.create_apikey()
    value = api.create_token(key)
    assert api.as_(token=value).get("/v1/orgs").status_code == 200
    r = api.delete(f"/ng/api/apikey/{key['identifier']}", params=api.key_params(key))
    dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOBoolean")
    assert dto["data"] is True
    assert_error(api.as_(token=value).get("/v1/orgs"), 401)
    assert_error(api.get(f"/ng/api/apikey/aggregate/{key['identifier']}", params=api.key_params(key)), 404)


def test_delete_unknown_apikey_is_404(api, uid):
    key = {"identifier": uid("key"), "parentIdentifier": uid("sa")}
    assert_error(api.delete(f"/ng/api/apikey/{key['identifier']}", params=api.key_params(key)), 404)


def test_editor_and_viewer_cannot_manage_apikeys(tenant):
    t = tenant()
    key = t.api.create_apikey()
    for role in ("editor", "viewer"):
        c = t.client(role)
        assert_error(c.post("/ng/api/apikey", params={"accountIdentifier": t.account},
                            json=c.apikey_body()), 403)
        assert_error(c.get("/ng/api/apikey", params={"accountIdentifier": t.account,
                                                     "apiKeyType": "SERVICE_ACCOUNT",
                                                     "parentIdentifier": key["parentIdentifier"]}), 403)
        assert_error(c.get("/ng/api/apikey/aggregate", params={"accountIdentifier": t.account,
                                                               "apiKeyType": "SERVICE_ACCOUNT",
                                                               "parentIdentifier": key["parentIdentifier"]}), 403)
        assert_error(c.delete(f"/ng/api/apikey/{key['identifier']}", params=c.key_params(key)), 403)
    # the key is still there
    expect(t.api.get(f"/ng/api/apikey/aggregate/{key['identifier']}", params=t.api.key_params(key)), 200,
           APIKEY_SPEC, "ResponseDTOApiKeyAggregate")


def test_apikey_of_other_account_is_403(tenant):
    a, b = tenant(), tenant()
    key = b.api.create_apikey()
    intruder = a.api.as_(account=b.account)
    r = intruder.get("/ng/api/apikey", params={"accountIdentifier": b.account, "apiKeyType": "SERVICE_ACCOUNT",
                                               "parentIdentifier": key["parentIdentifier"]})
    assert_error(r, 403)
    assert key["identifier"] not in r.text
    r = intruder.post("/ng/api/apikey", params={"accountIdentifier": b.account}, json=b.api.apikey_body())
    assert_error(r, 403)


def test_apikeys_are_per_account(tenant):
    a, b = tenant(), tenant()
    key = a.api.create_apikey(identifier="shared_key", parent="sa_x")
    b.api.create_apikey(identifier="shared_key", parent="sa_x")  # same identifier in another account is fine
    r = b.api.get("/ng/api/apikey", params={"accountIdentifier": b.account, "apiKeyType": "SERVICE_ACCOUNT",
                                            "parentIdentifier": "sa_x"})
    dto = expect(r, 200, APIKEY_SPEC, "ResponseDTOListApiKey")
    assert [k["accountIdentifier"] for k in dto["data"]] == [b.account]
    # deleting in B leaves A's key
    expect(b.api.delete("/ng/api/apikey/shared_key", params=b.api.key_params(key)), 200,
           APIKEY_SPEC, "ResponseDTOBoolean")
    expect(a.api.get("/ng/api/apikey/aggregate/shared_key", params=a.api.key_params(key)), 200,
           APIKEY_SPEC, "ResponseDTOApiKeyAggregate")
