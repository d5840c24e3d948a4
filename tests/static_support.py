"""Shared by the static-pass tests (a uniquely named module: tests/runtime has its own conftest)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures", "static")


def lint_findings(text, select="ALL", path="t.py", torch_version=None):
    """The findings `check` reports for one source text: the selected rules
    ("ALL", or comma-separated code prefixes), per-line `# noqa` applied, sorted.

    The one way tests lint a text, so an engine change is followed in one place.
    Raises SourceError when the text does not parse.
    """
    from freezelint.static.run import engine
    from freezelint.static.rules import load_rules

    prefixes = None if select == "ALL" else tuple(s.strip() for s in select.split(","))
    rules = [r for r in load_rules() if prefixes is None or r.code.startswith(prefixes)]
    project = None
    if torch_version is not None:  # the project's torch, as `target-torch-version` gives it
        project = engine.ProjectIndex.build([engine.summarize_text(text)], torch_version=torch_version)
    return engine.finalize(path, text, engine.lint_text(path, text, rules, project), frozenset())
