"""SARIF output validates against the official SARIF 2.1.0 schema (vendored in
tests/data), with percent-encoded URIs against %SRCROOT% and a page per rule."""

import json
import os
from urllib.parse import unquote, urljoin

import pytest

from cli_support import BAD, ROOT, WARN

jsonschema = pytest.importorskip("jsonschema")
pytest.importorskip("rfc3986_validator")  # without it jsonschema does not check `uri-reference`

SCHEMA = os.path.join(ROOT, "tests", "data", "sarif-schema-2.1.0.json")


def _validate(doc):
    with open(SCHEMA, encoding="utf-8") as fh:
        schema = json.load(fh)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_the_schema_catches_what_it_must():
    # the validator is armed: an unencoded space in a uri fails, as the issue describes
    doc = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
        {"message": {"text": "m"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a b.py"}}}]}]}]}
    with pytest.raises(AssertionError):
        _validate(doc)


@pytest.mark.parametrize("name", ["plain.py", "with space.py", "100%.py", "café.py", "sub dir/ünï #1.py"])
def test_output_validates_and_uris_resolve_back(run_cli, tmp_path, name):
    target = tmp_path / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(BAD)
    (tmp_path / "warn.py").write_text(WARN)
    code, out, _ = run_cli("check", ".", "--output-format", "sarif", cwd=tmp_path)
    doc = json.loads(out)
    _validate(doc)
    run = doc["runs"][0]
    base = run["originalUriBaseIds"]["%SRCROOT%"]["uri"]
    assert base.startswith("file://") and base.endswith("/")
    located = {}
    for res in run["results"]:
        loc = res["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc["uriBaseId"] == "%SRCROOT%"
        located[unquote(urljoin(base, loc["uri"]))] = res["level"]
    expected = {unquote((tmp_path / name).as_uri()): "error", unquote((tmp_path / "warn.py").as_uri()): "warning"}
    assert located == expected


def test_path_outside_the_working_directory_is_an_absolute_file_uri(run_cli, tmp_path):
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "m.py").write_text(BAD)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    doc = json.loads(run_cli("check", str(tmp_path / "a b" / "m.py"), "--output-format", "sarif", cwd=elsewhere)[1])
    _validate(doc)
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc["uri"] == (tmp_path / "a b" / "m.py").as_uri() and "uriBaseId" not in loc


def test_rules_have_help_uri_and_information_uri_is_the_homepage(run_cli, tmp_path):
    from freezelint.registry import homepage

    (tmp_path / "m.py").write_text(BAD)
    doc = json.loads(run_cli("check", ".", "--output-format", "sarif", cwd=tmp_path)[1])
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["informationUri"] == homepage()
    for rule in driver["rules"]:
        assert rule["helpUri"].endswith(f"/docs/rules/{rule['id']}.md")
        assert os.path.isfile(os.path.join(ROOT, "docs", "rules", f"{rule['id']}.md"))


def test_runtime_findings_validate():
    from freezelint.findings import Finding, Severity
    from freezelint.report import sarif

    f = Finding("FRZ501", "x", "frozen parameter moved", Severity.ERROR, source="runtime", obj="backbone.weight")
    _validate(json.loads(sarif.render([f])))
