"""SARIF and GitHub annotations point into a notebook's own JSON lines (issue 22, item 5).

Text and JSON name a notebook finding by cell and line in the cell, as ruff does. Code
scanning and workflow annotations show the stored file, whose line 2 is `"cells": [`: there
a finding is placed on the JSON line that holds its source line, and the cell stays in the
message (and in SARIF `properties`).
"""

import json

import pytest

from freezelint.static.input.notebook_positions import NotebookText

BUG = "model.requires_grad = False"


def _code(source):
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def _notebook(*cells):
    return {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# notes\n", "more"]}, *cells],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# cell 2 defines the model; cells 3 and 4 both have the bug on their line 2 (one as a list, one as a string)
NB = _notebook(
    _code(["import torch\n", "model = torch.nn.Linear(2, 2)\n"]),
    _code(["x = 1\n", BUG + "\n", 'y = "caf\u00e9"; ' + BUG]),
    _code("z = 2\n" + BUG + "\n"),
)


def _raw_line(text, needle, nth=0):
    """1-based line of the nth line of `text` that contains `needle`."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth]


def _write(tmp_path, nb, **dump):
    text = json.dumps(nb, indent=1, **dump) + "\n"
    (tmp_path / "nb.ipynb").write_text(text, encoding="utf-8")
    return text


def test_github_annotations_land_on_the_json_line_of_the_source_line(run_cli, tmp_path):
    text = _write(tmp_path, NB)
    code, out, _ = run_cli("check", "--no-cache", "--output-format", "github", "nb.ipynb", cwd=tmp_path)
    lines = out.splitlines()
    assert code == 1 and len(lines) == 3
    first = json.dumps(BUG + "\n")  # the list item of cell 3, line 2
    assert lines[0].startswith(f"::error file=nb.ipynb,line={_raw_line(text, first)},col=6,")
    assert lines[0].split("::", 2)[2].startswith("cell 3, line 2: `model.requires_grad = False`")
    # cell 3, line 3: after `y = "caf\u00e9"; ` (escaped in the file as written by json.dumps)
    raw3 = text.splitlines()[_raw_line(text, "caf") - 1]
    col3 = raw3.index("model") + 1
    assert f"line={_raw_line(text, 'caf')},col={col3}," in lines[1] and "::cell 3, line 3: " in lines[1]
    # cell 4's source is one string: its line 2 is on the string's own line
    line4 = _raw_line(text, '"z = 2')
    raw4 = text.splitlines()[line4 - 1]
    assert f"line={line4},col={raw4.index('model') + 1}," in lines[2]
    assert "::cell 4, line 2: " in lines[2]
    assert all("line=2," not in line for line in lines)  # never the notebook's `"cells": [`


def test_sarif_region_is_the_file_line_and_the_cell_is_kept(run_cli, tmp_path):
    text = _write(tmp_path, NB, ensure_ascii=False)
    code, out, _ = run_cli("check", "--no-cache", "--output-format", "sarif", "nb.ipynb", cwd=tmp_path)
    results = json.loads(out)["runs"][0]["results"]
    assert code == 1 and len(results) == 3
    regions = [r["locations"][0]["physicalLocation"]["region"] for r in results]
    assert [g["startLine"] for g in regions] == [_raw_line(text, BUG), _raw_line(text, "caf"), _raw_line(text, '"z = 2')]
    assert len({(g["startLine"], g["startColumn"]) for g in regions}) == 3  # no two cells collide
    for g in regions:  # the region spans the flagged attribute in the file's own text
        line = text.splitlines()[g["startLine"] - 1]
        assert line[g["startColumn"] - 1: g["endColumn"] - 1] == "model.requires_grad"
    assert [r["properties"] for r in results] == [
        {"cell": 3, "cellLine": 2, "cellColumn": 1, "cellEndLine": 2, "cellEndColumn": 20},
        {"cell": 3, "cellLine": 3, "cellColumn": 13, "cellEndLine": 3, "cellEndColumn": 32},
        {"cell": 4, "cellLine": 2, "cellColumn": 1, "cellEndLine": 2, "cellEndColumn": 20},
    ]
    assert results[2]["message"]["text"].startswith("cell 4, line 2: ")


def test_sarif_with_notebook_positions_validates(run_cli, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    import os

    _write(tmp_path, NB)
    doc = json.loads(run_cli("check", "--no-cache", "--output-format", "sarif", "nb.ipynb", cwd=tmp_path)[1])
    schema_path = os.path.join(os.path.dirname(__file__), "data", "sarif-schema-2.1.0.json")
    with open(schema_path, encoding="utf-8") as fh:
        validator = jsonschema.Draft4Validator(json.load(fh))
    assert not list(validator.iter_errors(doc))


def test_stdin_notebook_is_placed_in_the_text_read_from_stdin(run_cli, tmp_path):
    text = json.dumps(NB, indent=2) + "\n"  # not on disk: the name is only a name
    code, out, _ = run_cli(
        "check", "--no-cache", "--output-format", "github", "--stdin-filename", "nb.ipynb", "-", input=text, cwd=tmp_path
    )
    assert code == 1
    assert out.splitlines()[0].startswith(f"::error file=nb.ipynb,line={_raw_line(text, json.dumps(BUG + chr(10)))},col=")


def test_a_notebook_that_changed_since_is_annotated_on_the_file_alone():
    from freezelint.findings import Finding
    from freezelint.report import github, sarif

    f = Finding("FRZ001", "x", "m", path="nb.ipynb", line=9, col=1, end_line=9, end_col=5, cell=3)
    gone = lambda path: None  # noqa: E731
    assert github.render([f], raw_of=gone).startswith("::error file=nb.ipynb,title=")
    loc = json.loads(sarif.render([f], raw_of=gone))["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert "region" not in loc


@pytest.mark.parametrize("indent", [None, 1, 4])
def test_every_cell_position_maps_to_that_character_of_the_file(indent):
    """Each character of each code cell is found at the place the mapping gives, escapes included."""
    cells = [
        _code(["a = '\\t\"x\"'\n", "b = '\U0001F600' + 'caf\u00e9'\n", "c = 3"]),
        _code("d = 1\r\ne = 2\n"),
        _code(["f = ", "1\n", "g = 2\n"]),  # a line split over two items
    ]
    for ascii_only in (True, False):
        text = json.dumps(_notebook(*cells), indent=indent, ensure_ascii=ascii_only)
        nb = NotebookText(text)
        lines = text.split("\n")
        for number, cell in enumerate(cells, 2):
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            for row, line in enumerate(src.splitlines(), 1):
                for col, ch in enumerate(line, 1):
                    at_line, at_col = nb.file_position(number, row, col)
                    rest = lines[at_line - 1][at_col - 1:]
                    # the raw text at that place decodes (as a JSON string tail) to the rest of the item, starting with ch
                    tail = json.loads('"' + _string_tail(rest) + '"')
                    assert tail.startswith(ch), (number, row, col, rest[:20])
        assert nb.file_position(2, 99, 1) is None and nb.file_position(1 + len(cells) + 1, 1, 1) is None


def _string_tail(raw):
    """The raw JSON string content from the start of `raw` up to its closing quote."""
    i = 0
    while raw[i] != '"':
        i += 2 if raw[i] == "\\" else 1
    return raw[:i]
