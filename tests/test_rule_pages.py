"""docs/rules/CODE.md is generated from each rule's documentation and kept in sync;
JSON `url` and SARIF `helpUri` point at it, from freezelint's [project.urls]."""

import json
import os
import subprocess
import sys

from cli_support import BAD, ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_rule_pages_are_in_sync_with_the_rules():
    res = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "gen_rule_docs.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_a_changed_page_is_caught(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    try:
        import gen_rule_docs
    finally:
        sys.path.pop(0)
    gen_rule_docs.write(str(tmp_path))
    assert gen_rule_docs.stale(str(tmp_path)) == []
    page = tmp_path / "FRZ001.md"
    page.write_text(page.read_text() + "edited by hand\n")
    (tmp_path / "FRZ999.md").write_text("a page for no rule\n")
    assert gen_rule_docs.stale(str(tmp_path)) == ["FRZ001.md", "FRZ999.md"]


def test_every_code_has_a_page_with_its_docs():
    from freezelint.registry import all_rules

    for code, info in all_rules().items():
        with open(os.path.join(ROOT, "docs", "rules", f"{code}.md"), encoding="utf-8") as fh:
            text = fh.read()
        assert text.startswith(f"# {info.name} ({code})") and info.doc.strip() in text


def test_json_url_points_at_the_rule_page(run_cli, tmp_path):
    from freezelint.registry import docs_base_url

    (tmp_path / "m.py").write_text(BAD)
    item = json.loads(run_cli("check", ".", "--output-format", "json", cwd=tmp_path)[1])[0]
    assert item["url"] == f"{docs_base_url()}/FRZ001.md"


def test_docs_url_in_config_overrides_the_base(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint]\ndocs-url = "https://docs.example.org/frz/"\n')
    (tmp_path / "m.py").write_text(BAD)
    item = json.loads(run_cli("check", ".", "--output-format", "json", cwd=tmp_path)[1])[0]
    assert item["url"] == "https://docs.example.org/frz/FRZ001.md"
    doc = json.loads(run_cli("check", ".", "--output-format", "sarif", cwd=tmp_path)[1])
    assert doc["runs"][0]["tool"]["driver"]["rules"][1]["helpUri"].startswith("https://docs.example.org/frz/")


def test_base_url_comes_from_project_urls():
    from freezelint import registry

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as fh:
        urls = tomllib.load(fh)["project"]["urls"]
    # the fallback (a source tree without installed metadata) says what pyproject.toml says
    assert (registry.FALLBACK_DOCS_URL, registry.FALLBACK_HOMEPAGE) == (urls["Documentation"], urls["Homepage"])
    installed = registry.project_urls()
    if installed:  # installed metadata is read when present
        assert registry.docs_base_url() == installed["Documentation"].rstrip("/")
    assert urls["Documentation"].endswith("/docs/rules")


def test_explain_prints_the_generated_page(run_cli):
    code, out, _ = run_cli("explain", "FRZ001")
    with open(os.path.join(ROOT, "docs", "rules", "FRZ001.md"), encoding="utf-8") as fh:
        assert (code, out) == (0, fh.read())
