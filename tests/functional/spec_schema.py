"""Validate response bodies against the Harness OpenAPI documents in shared/spec.

    validate(spec_file, schema_name, instance)        one object
    validate_array(spec_file, schema_name, instances)  a JSON array of that schema

Specs are loaded once (yaml.safe_load, cached).  A schema is checked by wrapping it as
``{"$ref": "#/components/schemas/NAME", "components": doc["components"]}`` so every
internal ``$ref`` resolves against the spec's own components.  ``format`` is not
checked; OpenAPI-only keywords (example, discriminator, x-*, xml, ...) are ignored by
jsonschema, and the OpenAPI 3.0 spellings ``nullable`` / boolean ``exclusiveMinimum``
are rewritten into their JSON Schema equivalents when loading.

The module also holds small helpers about response bodies that every test module needs:
``body_of`` (JSON or YAML, by Content-Type) and ``assert_error`` (status + IaCMError).
"""
from __future__ import annotations

import functools
import json
import os
import pathlib

import jsonschema
import pytest
import yaml

_HERE = pathlib.Path(__file__).resolve().parent
REPO = _HERE.parents[1]
SPEC_DIR = pathlib.Path(os.environ.get("STATEHOUSE_SPEC_DIR", REPO.parent / "shared" / "spec"))

# A clone without ../shared still passes: checks against a missing spec are skipped and counted
# (conftest prints the count and the reason at the end). Under CI=true they must run: a missing
# spec fails the test.
SKIPPED_CHECKS: list[str] = []


def _spec_path(spec_file: str) -> pathlib.Path | None:
    path = SPEC_DIR / spec_file
    if path.exists():
        return path
    reason = f"{path} not found (the OpenAPI specs live in ../shared/spec beside the clone)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true needs the OpenAPI specs: {reason}", pytrace=False)
    return None

ORG_SPEC = "harness-organization-api-openapi.yml"
PROJECT_SPEC = "harness-org-project-api-openapi.yml"
APIKEY_SPEC = "harness-api-key-api-openapi.yml"
TOKEN_SPEC = "harness-token-api-openapi.yml"
WORKSPACES_SPEC = "harness-workspaces-api-openapi.yml"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _openapi_to_jsonschema(node):
    """Rewrite OpenAPI 3.0-only keywords in place so a JSON Schema validator understands them."""
    if isinstance(node, dict):
        if node.get("nullable") is True and isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        for kw, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if isinstance(node.get(kw), bool):
                if node[kw] and bound in node:
                    node[kw] = node.pop(bound)
                else:
                    del node[kw]
        for v in node.values():
            _openapi_to_jsonschema(v)
    elif isinstance(node, list):
        for v in node:
            _openapi_to_jsonschema(v)
    return node


@functools.lru_cache(maxsize=None)
def load_spec(spec_file: str) -> dict:
    path = _spec_path(spec_file)
    if path is None:
        pytest.skip(f"needs {spec_file}, which is not in {SPEC_DIR} (a clone without ../shared)")
    with open(path, "rb") as f:
        doc = yaml.load(f, Loader=_Loader)
    return _openapi_to_jsonschema(doc)


@functools.lru_cache(maxsize=None)
def _validator(spec_file: str, schema_name: str, array: bool):
    doc = load_spec(spec_file)
    schemas = doc.get("components", {}).get("schemas", {})
    if schema_name not in schemas:
        raise KeyError(f"schema {schema_name!r} not in {spec_file}")
    ref = {"$ref": f"#/components/schemas/{schema_name}"}
    root = {"components": doc["components"]}
    if array:
        root.update({"type": "array", "items": ref})
    else:
        root.update(ref)
    resolver = jsonschema.RefResolver.from_schema(root)
    return jsonschema.Draft202012Validator(root, resolver=resolver)


def _check(validator, instance, what):
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            where = "/".join(str(p) for p in e.absolute_path) or "<root>"
            lines.append(f"  at {where}: {e.message}")
        shown = json.dumps(instance, default=str)
        if len(shown) > 2000:
            shown = shown[:2000] + "..."
        raise AssertionError(f"body does not match {what}:\n" + "\n".join(lines) + f"\nbody: {shown}")
    return instance


def validate(spec_file: str, schema_name: str, instance):
    """Assert that instance matches components/schemas/schema_name of spec_file."""
    if _spec_path(spec_file) is None:
        SKIPPED_CHECKS.append(f"{spec_file}#{schema_name}")
        return instance
    return _check(_validator(spec_file, schema_name, False), instance, f"{spec_file}#{schema_name}")


def validate_array(spec_file: str, schema_name: str, instances):
    """Assert that instances is an array whose items match schema_name."""
    if _spec_path(spec_file) is None:
        SKIPPED_CHECKS.append(f"{spec_file}#[{schema_name}]")
        return instances
    return _check(_validator(spec_file, schema_name, True), instances, f"{spec_file}#[{schema_name}]")


# ---------------------------------------------------------------------------------------
# Response helpers


def is_yaml(resp) -> bool:
    return "yaml" in resp.headers.get("Content-Type", "").lower()


def is_json(resp) -> bool:
    return "json" in resp.headers.get("Content-Type", "").lower()


def body_of(resp):
    """Parse a response body as YAML or JSON depending on its Content-Type."""
    if is_yaml(resp):
        return yaml.safe_load(resp.text)
    try:
        return resp.json()
    except ValueError as e:
        raise AssertionError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: body is not JSON "
            f"(Content-Type {resp.headers.get('Content-Type')!r}): {resp.text[:500]!r}") from e


def describe(resp) -> str:
    req = resp.request
    body = req.body
    if isinstance(body, bytes):
        body = body[:300]
    elif isinstance(body, str):
        body = body[:300]
    return (f"{req.method} {req.url} (Content-Type {req.headers.get('Content-Type')!r}, body {body!r})"
            f" -> {resp.status_code} {resp.headers.get('Content-Type')!r} {resp.text[:600]!r}")


def expect(resp, status: int, spec_file: str | None = None, schema: str | None = None, *, array=False):
    """Assert a success status, optionally validate the body against a spec schema; return the body."""
    assert resp.status_code == status, describe(resp)
    if spec_file is None:
        return None
    body = body_of(resp)
    if array:
        validate_array(spec_file, schema, body)
    else:
        validate(spec_file, schema, body)
    return body


def assert_error(resp, status, *, yaml_body=False, mentions=None):
    """Assert an error status (int or collection of ints) with an IaCMError body.

    yaml_body: the error must come back as YAML (request was YAML).
    mentions: a word (e.g. the field name) the error message must contain (case-insensitive).
    Returns the parsed error body.
    """
    allowed = (status,) if isinstance(status, int) else tuple(status)
    assert resp.status_code in allowed, f"expected {allowed}: " + describe(resp)
    if yaml_body:
        assert is_yaml(resp), "error for a YAML request must be YAML: " + describe(resp)
    else:
        assert is_json(resp), "error body must be JSON: " + describe(resp)
    body = body_of(resp)
    validate(WORKSPACES_SPEC, "IaCMError", body)
    assert isinstance(body["message"], str) and body["message"], describe(resp)
    if resp.status_code < 500:
        assert body["fault"] is False, "a 4xx is not a server fault: " + describe(resp)
    if mentions is not None:
        assert mentions.lower() in body["message"].lower(), (
            f"error message should mention {mentions!r}: " + describe(resp))
    return body
