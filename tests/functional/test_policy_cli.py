"""`statehouse policy eval` and `statehouse policy test`: the engine on the command line, with
`opa eval` / `opa test` behaviour (result document, --fail, --fail-defined, strict builtin
errors, errors on stderr, pass/fail counts)."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import BIN, require_binary

POLICY = """package terraform.deny
import rego.v1

allowed_types := data.config.allowed_types

deny contains msg if {
  some rc in input.resource_changes
  not rc.type in allowed_types
  msg := sprintf("%s: type %s is not allowed", [rc.address, rc.type])
}
"""

TESTS = """package terraform.deny_test
import rego.v1
import data.terraform.deny

test_denies_unknown_type if {
  deny.deny == {"x.y: type x is not allowed"} with input as {"resource_changes": [{"address": "x.y", "type": "x"}]}
}

test_allows_known_type if {
  count(deny.deny) == 0 with input as {"resource_changes": [{"address": "a.b", "type": "aws_instance"}]}
}

test_this_one_fails if {
  count(deny.deny) == 5 with input as {"resource_changes": []}
}
"""


def run(*args, check_status=None):
    require_binary()
    p = subprocess.run([str(BIN), "policy", *args], capture_output=True, text=True, timeout=60)
    if check_status is not None:
        assert p.returncode == check_status, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return p


@pytest.fixture
def policy_dir(tmp_path):
    d = tmp_path / "policies"
    (d / "config").mkdir(parents=True)
    (d / "deny.rego").write_text(POLICY)
    (d / "config" / "data.json").write_text(json.dumps({"allowed_types": ["aws_instance"]}))
    (tmp_path / "input.json").write_text(json.dumps({"resource_changes": [
        {"address": "aws_instance.a", "type": "aws_instance"},
        {"address": "aws_s3_bucket.b", "type": "aws_s3_bucket"}]}))
    (tmp_path / "input.yaml").write_text("resource_changes:\n- address: x.y\n  type: x\n")
    return d


def test_eval_prints_opas_result_document(policy_dir, tmp_path):
    p = run("eval", "-d", str(policy_dir), "-i", str(tmp_path / "input.json"), "data.terraform.deny.deny",
            check_status=0)
    doc = json.loads(p.stdout)
    expr = doc["result"][0]["expressions"][0]
    assert expr["value"] == ["aws_s3_bucket.b: type aws_s3_bucket is not allowed"]
    assert expr["text"] == "data.terraform.deny.deny"
    assert expr["location"] == {"row": 1, "col": 1}
    assert "bindings" not in doc["result"][0]


def test_eval_bindings_yaml_input_and_pretty(policy_dir, tmp_path):
    p = run("eval", "-d", str(policy_dir), "-i", str(tmp_path / "input.yaml"),
            "msg := data.terraform.deny.deny[_]", check_status=0)
    row = json.loads(p.stdout)["result"][0]
    assert row["bindings"] == {"msg": "x.y: type x is not allowed"}
    p = run("eval", "-d", str(policy_dir), "--format", "pretty", "data.config.allowed_types", check_status=0)
    assert json.loads(p.stdout) == ["aws_instance"]


def test_eval_query_may_follow_data_flags(policy_dir, tmp_path):
    p = run("eval", "-d", str(policy_dir), "-d", str(policy_dir / "config"), "data.config.allowed_types",
            check_status=0)
    assert json.loads(p.stdout)["result"][0]["expressions"][0]["value"] == ["aws_instance"]


def test_eval_fail_and_fail_defined(policy_dir, tmp_path):
    run("eval", "-d", str(policy_dir), "--fail", "data.terraform.deny.nothing", check_status=1)
    assert run("eval", "-d", str(policy_dir), "data.terraform.deny.nothing", check_status=0).stdout.strip() == "{}"
    run("eval", "-d", str(policy_dir), "--fail-defined", "data.config", check_status=1)
    run("eval", "-d", str(policy_dir), "--fail-defined", "data.terraform.deny.nothing", check_status=0)


def test_eval_errors_go_to_stderr(tmp_path):
    bad = tmp_path / "bad.rego"
    bad.write_text("package p\n\nallow {\n  input.x ==\n}\n")
    p = run("eval", "-d", str(bad), "data.p.allow", check_status=2)
    assert p.stdout == ""
    assert "bad.rego:" in p.stderr and "rego_parse_error" in p.stderr
    unknown = tmp_path / "unknown.rego"
    unknown.write_text("package p\nallow := nosuch.fn(1)\n")
    p = run("eval", "-d", str(unknown), "data.p.allow", check_status=2)
    assert "undefined function nosuch.fn" in p.stderr
    p = run("eval", "-d", str(tmp_path / "missing.rego"), "data.p", check_status=2)
    assert "no such file" in p.stderr


def test_eval_strict_builtin_errors(tmp_path):
    assert json.loads(run("eval", 'to_number("x")', check_status=0).stdout) == {}
    p = run("eval", "--strict-builtin-errors", 'to_number("x")', check_status=2)
    assert "eval_builtin_error" in p.stderr and "to_number" in p.stderr


def test_eval_print_goes_to_stderr(tmp_path):
    m = tmp_path / "p.rego"
    m.write_text('package p\nimport rego.v1\nallow if { print("checking", input.user); input.user == "a" }\n')
    inp = tmp_path / "in.json"
    inp.write_text('{"user": "a"}')
    p = run("eval", "-d", str(m), "-i", str(inp), "data.p.allow", check_status=0)
    assert "checking a" in p.stderr
    assert json.loads(p.stdout)["result"][0]["expressions"][0]["value"] is True


def test_test_command_counts_passes_and_failures(policy_dir):
    (policy_dir / "deny_test.rego").write_text(TESTS)
    p = run("test", str(policy_dir), check_status=2)
    assert "data.terraform.deny_test.test_this_one_fails: FAIL" in p.stdout
    assert "PASS: 2/3" in p.stdout and "FAIL: 1/3" in p.stdout
    p = run("test", str(policy_dir), "-v", "--run", "allows", check_status=0)
    assert "data.terraform.deny_test.test_allows_known_type: PASS" in p.stdout
    assert "PASS: 1/1" in p.stdout


def test_test_command_without_tests(tmp_path):
    (tmp_path / "p.rego").write_text("package p\nx := 1\n")
    p = run("test", str(tmp_path), check_status=2)
    assert "no test cases found" in p.stdout
