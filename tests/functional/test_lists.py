"""List endpoints /v1/orgs and /v1/orgs/{org}/projects: paging, limits, headers, sort, search.

Each test works on a collection nobody else touches: orgs of a fresh account, or the
projects of a fresh org.
"""
import math

import pytest

from conftest import Tenant, unique
from spec_schema import ORG_SPEC, PROJECT_SPEC, expect

# identifier order and name order are opposite, so the two sorts can be told apart
FIVE = [("id_1", "Echo"), ("id_2", "Delta"), ("id_3", "Charlie"), ("id_4", "Bravo"), ("id_5", "Alpha")]


class Collection:
    def __init__(self, api, kind, org=None):
        self.api, self.kind, self.org = api, kind, org
        self.path = "/v1/orgs" if kind == "org" else f"/v1/orgs/{org}/projects"
        self.spec, self.schema = (ORG_SPEC, "OrganizationResponse") if kind == "org" else \
            (PROJECT_SPEC, "ProjectResponse")

    def add(self, ident, name):
        r = self.api.post(self.path, json={self.kind: {"identifier": ident, "name": name}})
        assert r.status_code == 201, r.text

    def list(self, **params):
        r = self.api.get(self.path, params=params)
        body = expect(r, 200, self.spec, self.schema, array=True)
        return r, body

    def ids(self, body):
        return [item[self.kind]["identifier"] for item in body]


def make_collection(kind, tenant, api):
    if kind == "org":
        return Collection(tenant().api, "org")
    org = unique("org")
    api.create_org(org)
    return Collection(api, "project", org)


@pytest.fixture(params=["org", "project"])
def coll(request, tenant, api):
    """An empty collection (orgs of a new account, or projects of a new org)."""
    return make_collection(request.param, tenant, api)


@pytest.fixture
def five(coll):
    for ident, name in FIVE:
        coll.add(ident, name)
    return coll


def header_int(r, name):
    raw = r.headers.get(name)
    assert raw is not None, f"missing {name} header; got {dict(r.headers)}"
    # X-Page-Size and x-page-size are one header name for HTTP: if both are sent they are joined
    values = {v.strip() for v in raw.split(",")}
    assert len(values) == 1, f"{name} has conflicting values {raw!r}"
    return int(values.pop())


def check_page_headers(r, total, page, size):
    assert header_int(r, "X-Total-Elements") == total
    assert header_int(r, "x-total-items") == total
    assert header_int(r, "X-Page-Number") == page
    assert header_int(r, "X-Page-Size") == size
    assert header_int(r, "x-page-size") == size
    assert header_int(r, "x-total-pages") == math.ceil(total / size)


def test_empty_list_is_empty_array(coll):
    r, body = coll.list()
    assert body == []
    assert header_int(r, "X-Total-Elements") == 0


def test_pages_count_from_zero_and_partition_the_collection(five):
    seen = []
    for page, expected_len in ((0, 2), (1, 2), (2, 1)):
        r, body = five.list(limit=2, page=page, sort="identifier", order="ASC")
        assert len(body) == expected_len, (page, five.ids(body))
        check_page_headers(r, total=5, page=page, size=2)
        seen += five.ids(body)
    assert seen == ["id_1", "id_2", "id_3", "id_4", "id_5"]


def test_page_past_the_end_is_empty(five):
    r, body = five.list(limit=2, page=7)
    assert body == []
    check_page_headers(r, total=5, page=7, size=2)


def test_sort_by_identifier(five):
    _, asc = five.list(sort="identifier", order="ASC")
    assert five.ids(asc) == ["id_1", "id_2", "id_3", "id_4", "id_5"]
    _, desc = five.list(sort="identifier", order="DESC")
    assert five.ids(desc) == ["id_5", "id_4", "id_3", "id_2", "id_1"]


def test_sort_by_name(five):
    _, asc = five.list(sort="name", order="ASC")
    assert [i[five.kind]["name"] for i in asc] == ["Alpha", "Bravo", "Charlie", "Delta", "Echo"]
    _, desc = five.list(sort="name", order="DESC")
    assert [i[five.kind]["name"] for i in desc] == ["Echo", "Delta", "Charlie", "Bravo", "Alpha"]


def test_sort_spec_comma_form(five):
    _, desc = five.list(sort="name,DESC")
    assert five.ids(desc) == ["id_1", "id_2", "id_3", "id_4", "id_5"]
    _, asc = five.list(sort="name,ASC")
    assert five.ids(asc) == ["id_5", "id_4", "id_3", "id_2", "id_1"]


@pytest.mark.parametrize("field", ["created", "updated"])
def test_sort_by_timestamps(five, field):
    _, asc = five.list(sort=field, order="ASC")
    values = [i[field] for i in asc]
    assert len(values) == 5 and values == sorted(values), values
    _, desc = five.list(sort=field, order="DESC")
    values = [i[field] for i in desc]
    assert values == sorted(values, reverse=True), values


@pytest.mark.parametrize("param", ["search_term", "searchTerm"])
def test_search_term_filters(coll, param):
    coll.add("s_1", "Needle one")
    coll.add("s_2", "Haystack")
    coll.add("s_3", "Another Needle")
    r, body = coll.list(**{param: "Needle"}, sort="identifier", order="ASC")
    assert coll.ids(body) == ["s_1", "s_3"]
    assert header_int(r, "X-Total-Elements") == 2
    _, none = coll.list(**{param: "zzz_nothing"})
    assert none == []


def test_limit_smaller_than_total(five):
    r, body = five.list(limit=3)
    assert len(body) == 3
    check_page_headers(r, total=5, page=0, size=3)


# --- default limit and the cap need more than 100 items: built once per kind ---------------

N_MANY = 105


@pytest.fixture(scope="module", params=["org", "project"])
def many(request, server):
    account = unique("acct")
    server.create_account(account)
    t = Tenant(server, account)
    if request.param == "org":
        c = Collection(t.api, "org")
    else:
        org = unique("org")
        t.api.create_org(org)
        c = Collection(t.api, "project", org)
    for i in range(N_MANY):
        c.add(f"m_{i:03d}", f"Many {i:03d}")
    return c


def test_default_limit_is_30(many):
    r, body = many.list()
    assert len(body) == 30
    check_page_headers(r, total=N_MANY, page=0, size=30)


@pytest.mark.parametrize("asked", [101, 1000])
def test_limit_is_capped_at_100(many, asked):
    r, body = many.list(limit=asked)
    assert len(body) == 100, len(body)
    check_page_headers(r, total=N_MANY, page=0, size=100)


def test_capped_limit_second_page(many):
    r, body = many.list(limit=1000, page=1, sort="identifier", order="ASC")
    assert many.ids(body) == [f"m_{i:03d}" for i in range(100, N_MANY)]
    check_page_headers(r, total=N_MANY, page=1, size=100)


def test_default_page_walk_covers_everything_once(many):
    seen = []
    for page in range(4):
        _, body = many.list(page=page, sort="identifier", order="ASC")
        seen += many.ids(body)
    assert seen == [f"m_{i:03d}" for i in range(N_MANY)]


@pytest.mark.parametrize("params", [{"limit": "abc"}, {"page": "x"}, {"sort": "bogus"}, {"order": "SIDEWAYS"}],
                         ids=["limit-not-int", "page-not-int", "sort-not-in-enum", "order-not-in-enum"])
def test_invalid_list_parameters_are_400(api, params):
    from spec_schema import assert_error
    assert_error(api.get("/v1/orgs", params=params), 400, mentions=next(iter(params)))
