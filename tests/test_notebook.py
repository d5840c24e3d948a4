"""Jupyter notebooks: linted as their Python cells, reported as cell and line,
fixed in place in the notebook's JSON with every other byte kept."""

import json
import os
import re

import pytest

from fixture_markers import EXPECT_RE
from freezelint.static.input.notebook import read_notebook
from freezelint.static.input.source import SourceError

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "notebooks", "finetune.ipynb")

IMPORTS = "import torch\nimport torch.nn as nn\nimport torchvision\n"
MODEL = (
    "model = torchvision.models.resnet18(weights='IMAGENET1K_V1')\n"
    "model.fc = nn.Linear(512, 10)\n"
    "model.backbone = model.layer4\n"
    "model.backbone.requires_grad = False\n"
    "optimizer = torch.optim.AdamW(model.fc.parameters(), lr=1e-3)"
)
BAD = "model.backbone.requires_grad = False"
GOOD = "model.backbone.requires_grad_(False)"


def code(src, n=None, outputs=()):
    return {"cell_type": "code", "execution_count": n, "metadata": {}, "outputs": list(outputs), "source": src.splitlines(True)}


def markdown(src):
    return {"cell_type": "markdown", "metadata": {}, "source": src.splitlines(True)}


def notebook(cells, language="python", **meta):
    return {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"}, **meta},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def finetune(extra_cells=()):
    """Markdown, imports with magics, the model (bug on its line 4: cell 3), a %%time training cell."""
    return notebook(
        [
            markdown("# Fine-tune\nFreeze the backbone, train the head."),
            code("%load_ext autoreload\n%autoreload 2\n!pip install -q timm\n" + IMPORTS, 1),
            code(MODEL, 2, [{"output_type": "stream", "name": "stdout", "text": ["ok\n"]}]),
            code("%%time\nfor step in range(3):\n    loss = model(torch.randn(2, 3, 224, 224)).sum()\n    loss.backward()\n    optimizer.step()", 3),
            *extra_cells,
        ]
    )


def write(path, nb, **dump):
    dump.setdefault("indent", 1)
    dump.setdefault("ensure_ascii", False)
    path.write_text(json.dumps(nb, **dump) + "\n", encoding="utf-8")
    return path


def json_findings(run_cli, *paths, extra=()):
    code_, out, _ = run_cli("check", "--no-cache", "--output-format", "json", *extra, *map(str, paths))
    return code_, json.loads(out)


# -- linting ---------------------------------------------------------------------------


def test_fixture_notebook_findings_match_expect_markers(run_cli):
    with open(FIXTURE, encoding="utf-8") as fh:
        nb = json.load(fh)
    expected = set()
    for number, cell in enumerate(nb["cells"], 1):
        for row, line in enumerate("".join(cell["source"]).splitlines(), 1):
            m = EXPECT_RE.search(line)
            if m and cell["cell_type"] == "code":
                expected |= {(number, row, c.strip()) for c in m.group(1).split(",") if c.strip()}
    assert expected  # the fixture does mark its bug
    _, items = json_findings(run_cli, FIXTURE)
    assert {(i["cell"], i["location"]["row"], i["code"]) for i in items} == expected


def test_text_output_names_cell_line_and_column(run_cli, tmp_path):
    nb = write(tmp_path / "nb.ipynb", finetune())
    code_, out, _ = run_cli("check", "--no-cache", str(nb))
    lines = out.splitlines()
    assert code_ == 1 and len(lines) == 1 and lines[0].startswith(f"{nb}:cell 3:4:1: FRZ001 [*] ")


def test_json_has_ruff_cell_field_and_rows_in_the_cell(run_cli, tmp_path):
    nb = write(tmp_path / "nb.ipynb", finetune())
    py = tmp_path / "train.py"
    py.write_text(IMPORTS + "m = nn.Linear(2, 2)\nm.requires_grad = False\n")
    _, items = json_findings(run_cli, nb, py)
    by_file = {os.path.basename(i["filename"]): i for i in items}
    cell = by_file["nb.ipynb"]
    assert cell["cell"] == 3
    assert cell["location"] == {"row": 4, "column": 1} and cell["end_location"] == {"row": 4, "column": 29}
    edit = cell["fix"]["edits"][0]
    assert edit["location"] == {"row": 4, "column": 1} and edit["content"] == GOOD
    assert by_file["train.py"]["cell"] is None and by_file["train.py"]["location"]["row"] == 5


def test_magics_are_neutralised_and_lines_keep_their_numbers():
    cell = (
        "%load_ext autoreload\n"
        "!nvidia-smi \\\n"
        "    --query-gpu=name\n"
        "files = !ls data\n"
        "a, b = %sx echo 1 2\n"
        "torch.nn.Linear?\n"
        "??torch.optim\n"
        "if True:\n"
        "    %matplotlib inline\n"
        "doc = '''\n"
        "%not a magic inside a string\n"
        "'''\n"
        "x = (1 +\n"
        "     2) % 3\n"
        "y = 'what?'  # really?\n"
        "%time m = nn.Linear(2, 2)\n"
        "m.requires_grad = False"
    )
    src = read_notebook(json.dumps(notebook([code(IMPORTS), code(cell)])).encode())
    compile(src.text, "<nb>", "exec")  # CPython parses the joined text
    lines = src.text.splitlines()
    first = IMPORTS.count("\n") + 2  # after cell 1 and the boundary comment
    assert len(lines) == first + cell.count("\n")
    kept = [lines[first - 1 + k] for k in range(cell.count("\n") + 1)]
    assert kept[10] == "%not a magic inside a string" and kept[13] == "     2) % 3"
    assert kept[14] == "y = 'what?'  # really?"
    assert kept[15] == "m = nn.Linear(2, 2)"  # %time's statement is linted, in place
    assert kept[3].startswith("files =") and kept[4].startswith("a, b =")
    assert all(src.cells.place(first + k, 1)[:2] == (2, k + 1) for k in range(len(kept)))


def test_time_line_magic_statement_is_linted_and_fixed_with_its_prefix(run_cli, tmp_path):
    nb = write(tmp_path / "nb.ipynb", notebook([code(IMPORTS + "m = nn.Linear(2, 2)\n%time m.requires_grad = False")]))
    _, items = json_findings(run_cli, nb)
    assert [(i["cell"], i["location"], i["code"]) for i in items] == [(1, {"row": 5, "column": 7}, "FRZ001")]
    run_cli("check", "--no-cache", "--fix", str(nb))
    assert json.loads(nb.read_text())["cells"][0]["source"][-1] == "%time m.requires_grad_(False)"


def test_noqa_on_a_cell_line(run_cli, tmp_path):
    cell = IMPORTS + "m = nn.Linear(2, 2)\nm.requires_grad = False  # noqa: FRZ001\nm.requires_grad = True\n"
    nb = write(tmp_path / "nb.ipynb", notebook([markdown("x"), code("%matplotlib inline\n" + cell)]))
    _, items = json_findings(run_cli, nb)
    assert [(i["cell"], i["location"]["row"]) for i in items] == [(2, 7)]


def test_syntax_error_in_a_cell_is_frz000_at_its_cell_and_line(run_cli, tmp_path):
    nb = write(tmp_path / "nb.ipynb", notebook([code(IMPORTS), markdown("m"), code("x = 1\ndef broken(:\n    pass")]))
    _, items = json_findings(run_cli, nb)
    assert [(i["code"], i["cell"], i["location"]["row"]) for i in items] == [("FRZ000", 3, 2)]


# -- fixing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dump",
    [
        pytest.param({}, id="jupyter-style"),
        pytest.param({"indent": 4, "sort_keys": True, "ensure_ascii": True}, id="indent4-sorted-ascii"),
        pytest.param({"indent": None, "separators": (",", ":")}, id="one-line"),
    ],
)
def test_fix_changes_only_the_fixed_line_string(run_cli, tmp_path, dump):
    outputs = [{"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=" * 50, "text/plain": ["<Figure>"]}, "metadata": {}}]
    nb = finetune([markdown("Résumé: ünïcode stays — as is"), code("print('done')", 4, outputs)])
    nb["metadata"]["widgets"] = {"state": {}, "version": "1.2"}
    path = tmp_path / "nb.ipynb"
    dump = {"indent": 1, "ensure_ascii": False, **dump}
    path.write_bytes(json.dumps(nb, **dump).encode())  # and no final newline
    before = path.read_bytes()
    code_, _, _ = run_cli("check", "--no-cache", "--fix", str(path))
    after = path.read_bytes()
    assert code_ == 0
    old, new = json.dumps(BAD + "\n").encode(), json.dumps(GOOD + "\n").encode()
    assert before.count(old) == 1 and after == before.replace(old, new)
    assert json_findings(run_cli, path)[1] == []  # fixed, and nothing left to fix


def test_fix_of_a_cell_whose_source_is_one_string(run_cli, tmp_path):
    nb = finetune()
    nb["cells"][2]["source"] = MODEL
    path = write(tmp_path / "nb.ipynb", nb)
    before = path.read_bytes()
    run_cli("check", "--no-cache", "--fix", str(path))
    old, new = json.dumps(MODEL).encode(), json.dumps(MODEL.replace(BAD, GOOD)).encode()
    assert path.read_bytes() == before.replace(old, new) != before


def test_a_fix_that_adds_a_line_rewrites_only_that_cells_source():
    nb = finetune()
    raw = (json.dumps(nb, indent=1) + "\n").encode()
    src = read_notebook(raw)
    new_text = src.text.replace(BAD, "for p in model.backbone.parameters():\n    p.requires_grad = False")
    out = src.render(new_text)
    new = json.loads(out)
    assert "".join(new["cells"][2]["source"]) == MODEL.replace(BAD, "for p in model.backbone.parameters():\n    p.requires_grad = False")
    assert new["cells"][:2] == nb["cells"][:2] and new["cells"][3] == nb["cells"][3]
    assert new["cells"][1]["source"][0] == "%load_ext autoreload\n"  # magics of other cells untouched
    start = raw.rindex(b'"source"', 0, raw.index(b"model = torchvision"))
    assert out[:start] == raw[:start]  # everything before the changed cell's source is the same bytes
    end = raw.index(b"]", raw.index(b"optimizer = torch.optim"))
    assert out[-(len(raw) - end):] == raw[end:]  # and everything after it


def test_diff_shows_the_cell_and_leaves_the_notebook_alone(run_cli, tmp_path):
    path = write(tmp_path / "nb.ipynb", finetune())
    before = path.read_bytes()
    code_, out, _ = run_cli("check", "--no-cache", "--diff", str(path))
    assert code_ == 1 and path.read_bytes() == before
    assert f"--- a/{path}:cell 3\n+++ b/{path}:cell 3\n" in out
    assert f"-{BAD}\n+{GOOD}\n" in out
    assert "\\ No newline at end of cell" in out  # the cell's last line has no line end


def test_fixing_a_notebook_through_stdin(run_cli, tmp_path):
    raw = json.dumps(finetune(), indent=1) + "\n"
    code_, out, _ = run_cli("check", "--no-cache", "--fix", "--stdin-filename", "nb.ipynb", "-", input=raw)
    assert code_ == 0 and out == raw.replace(json.dumps(BAD + "\n"), json.dumps(GOOD + "\n"))


# -- what is linted --------------------------------------------------------------------


def test_folders_yield_notebooks_but_not_checkpoints(run_cli, tmp_path):
    write(tmp_path / "nb.ipynb", finetune())
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write(tmp_path / ".ipynb_checkpoints" / "nb-checkpoint.ipynb", finetune())
    _, items = json_findings(run_cli, tmp_path)
    assert [os.path.relpath(i["filename"], tmp_path) for i in items] == ["nb.ipynb"]


def test_cells_that_are_not_python_are_skipped(run_cli, tmp_path):
    bug = "import torch.nn as nn\nm = nn.Linear(2, 2)\nm.requires_grad = False\n"
    nb = notebook(
        [
            code("%%bash\n" + bug),
            code("%%writefile train.py\n" + bug),
            {"cell_type": "raw", "metadata": {}, "source": bug},
            markdown("```python\n" + bug + "```"),
            code("%%capture\n" + bug),  # a cell magic whose body is Python
        ]
    )
    _, items = json_findings(run_cli, write(tmp_path / "nb.ipynb", nb))
    assert [(i["cell"], i["location"]["row"]) for i in items] == [(5, 4)]


def test_non_python_kernel_and_no_code_cells_give_nothing(run_cli, tmp_path):
    r = write(tmp_path / "r.ipynb", notebook([code("model.requires_grad = False\n")], language="R"))
    empty = write(tmp_path / "empty.ipynb", notebook([markdown("# Notes only")]))
    no_cells = write(tmp_path / "none.ipynb", notebook([]))
    code_, items = json_findings(run_cli, r, empty, no_cells)
    assert code_ == 0 and items == []


def test_cached_results_keep_the_cell(run_cli, tmp_path):
    path = write(tmp_path / "nb.ipynb", finetune())
    cache = ["--cache-dir", str(tmp_path / "cache")]
    runs = [json.loads(run_cli("check", "--output-format", "json", *cache, str(path))[1]) for _ in range(2)]
    assert runs[0] == runs[1] and [(i["cell"], i["location"]["row"]) for i in runs[1]] == [(3, 4)]


# -- malformed notebooks ---------------------------------------------------------------

MALFORMED = [
    pytest.param(b'{"cells": [', "not valid JSON", id="truncated-json"),
    pytest.param(b"", "not valid JSON", id="empty-file"),
    pytest.param(b'{"cells": [], "nbformat": 3}', "nbformat 3", id="nbformat-3"),
    pytest.param(b'{"worksheets": [], "nbformat": 3}', "nbformat 3", id="nbformat-3-worksheets"),
    pytest.param(b'{"cells": []}', "nbformat missing", id="no-nbformat"),
    pytest.param(b'{"cells": [], "nbformat": "4"}', 'nbformat "4"', id="nbformat-string"),
    pytest.param(b'[1, 2]', "no `cells`", id="not-an-object"),
    pytest.param(b'{"cells": {}, "nbformat": 4}', "`cells` is an object", id="cells-not-a-list"),
    pytest.param(b'{"cells": [{"cell_type": "code", "source": 3}], "nbformat": 4}', "source of cell 1 is a number", id="source-number"),
    pytest.param(b'{"cells": [{"cell_type": "code", "source": ["x", 1]}], "nbformat": 4}', "non-string item", id="source-list-item"),
    pytest.param(b'{"cells": ["x"], "nbformat": 4}', "cell 1 is a string", id="cell-not-an-object"),
    pytest.param(b'{"cells": [], "nbformat": 4, "x": "\xff"}', "not valid UTF-8", id="not-utf8"),
    pytest.param(b"[" * 100000, "nested too deeply", id="deep-json"),
]


@pytest.mark.parametrize("raw, reason", MALFORMED)
def test_malformed_notebook_is_one_frz000_and_the_rest_is_linted(run_cli, tmp_path, raw, reason):
    (tmp_path / "bad.ipynb").write_bytes(raw)
    (tmp_path / "train.py").write_text("import torch.nn as nn\nm = nn.Linear(2, 2)\nm.requires_grad = False\n")
    code_, items = json_findings(run_cli, tmp_path)
    got = sorted((os.path.basename(i["filename"]), i["code"]) for i in items)
    assert code_ == 2 and got == [("bad.ipynb", "FRZ000"), ("train.py", "FRZ001")]  # 2: a file could not be read
    bad = next(i for i in items if i["code"] == "FRZ000")
    assert reason in bad["message"] and "\n" not in bad["message"]


def test_json_error_position_is_the_line_in_the_file():
    with pytest.raises(SourceError) as err:
        read_notebook(b'{\n "cells": [],\n "nbformat": 4,\n}\n')
    assert err.value.line == 4 and re.search(r"not valid JSON", str(err.value))


# -- generated notebooks -----------------------------------------------------------------

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

LINES = [
    "x = 1", "model.requires_grad = False", "if x:", "    y = (1,", "    2) % 3", "s = '''", "'''", "pass", "",
    "# what?", "    %time y = 2", "%time x = 2", "!ls \\", "  -la", "%matplotlib inline", "files = !ls", "obj?",
    "%%time", "%%bash", "z = 'a\\", "b'", "\tq = [", "]",
]
cell_sources = st.lists(st.sampled_from(LINES), max_size=8).map("\n".join).flatmap(
    lambda text: st.sampled_from([text, text + "\n", text + "\r\n"])
)
notebooks = st.lists(
    st.tuples(st.sampled_from(["code", "code", "markdown"]), cell_sources, st.booleans()), max_size=5
)
GENERATED = settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@GENERATED
@given(notebooks, st.integers(min_value=0), st.booleans())
def test_generated_notebooks_map_every_line_and_write_back_only_the_changed_one(cells, pick, pretty):
    nb = notebook([{"cell_type": kind, "metadata": {}, "source": src.splitlines(True) if as_list else src}
                   for kind, src, as_list in cells])
    raw = json.dumps(nb, indent=1 if pretty else None).encode()
    src = read_notebook(raw)
    nb_ = src.cells
    joined = src.text.splitlines(True)
    assert len(joined) == len(nb_.rows)
    assert src.render(src.text) == raw  # nothing changed: not one byte rewritten
    editable = [n for n, row in enumerate(nb_.rows) if not row.magic and n + 1 not in nb_.boundaries]
    if not editable:
        return
    n = editable[pick % len(editable)]
    row = nb_.rows[n]
    body = joined[n].rstrip("\r\n")
    new_text = "".join(joined[:n] + [body + "  # fixed" + joined[n][len(body):]] + joined[n + 1:])
    new = json.loads(src.render(new_text))
    lines = "".join(nb["cells"][row.cell - 1]["source"]).splitlines(True)
    old_line = lines[row.row - 1]
    old_body = old_line.rstrip("\r\n")
    lines[row.row - 1] = old_body + "  # fixed" + old_line[len(old_body):]
    expected = [c if k != row.cell - 1 else dict(c, source=new["cells"][k]["source"]) for k, c in enumerate(nb["cells"])]
    assert new["cells"] == expected and "".join(new["cells"][row.cell - 1]["source"]) == "".join(lines)


@GENERATED
@given(st.binary(max_size=200) | st.text(alphabet='{}[]":,0123456789 nbformatcellsource\\\n', max_size=120).map(str.encode))
def test_any_bytes_read_as_a_notebook_or_one_source_error(raw):
    try:
        src = read_notebook(raw)
    except SourceError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert src.render(src.text) == raw


def test_joined_line_is_the_inverse_of_place():
    src = read_notebook(json.dumps(finetune()).encode())
    nb = src.cells
    n = nb.joined_line(3, 4)
    assert src.text.splitlines()[n - 1] == BAD and nb.place(n, 1) == (3, 4, 1)
    assert all(nb.place(nb.joined_line(c, r), 1)[:2] == (c, r) for c, r in [(2, 1), (2, 6), (4, 1), (4, 5)])
    assert {src.text.splitlines()[b - 1] for b in nb.boundaries} == {"# %%"}
    with pytest.raises(KeyError):
        nb.joined_line(1, 1)  # a markdown cell


def test_cell_boundaries_are_no_comment_a_rule_reads(run_cli, tmp_path):
    """FRZ101 reads the comment above an `eval()`: the text joined between cells says nothing."""
    messages = {}
    for name, comment in [("plain", ""), ("commented", "# freeze the text encoder\n")]:
        cells = [code(IMPORTS + "model = build()\n"), code(comment + "model.text_encoder.eval()\nopt = torch.optim.AdamW(model.parameters())\n")]
        _, items = json_findings(run_cli, write(tmp_path / f"{name}.ipynb", notebook(cells)))
        messages[name] = [i["message"] for i in items if i["code"] == "FRZ101"]
    assert len(messages["plain"]) == 1 and "commented as a freeze" not in messages["plain"][0]
    assert len(messages["commented"]) == 1 and "commented as a freeze" in messages["commented"][0]


def test_a_cell_line_that_reads_like_the_boundary_gets_another_one(run_cli, tmp_path):
    nb = finetune()
    nb["cells"][2]["source"] = ["# %%\n", "# %% 2\n"] + nb["cells"][2]["source"]
    src = read_notebook(json.dumps(nb).encode())
    assert src.cells.boundary == "# %% 3"
    path = write(tmp_path / "nb.ipynb", nb)
    before = path.read_bytes()
    run_cli("check", "--no-cache", "--fix", str(path))
    assert path.read_bytes() == before.replace(json.dumps(BAD + "\n").encode(), json.dumps(GOOD + "\n").encode())


def test_future_import_may_open_any_cell(run_cli, tmp_path):
    cells = [
        code("!pip install -q torch\n" + IMPORTS),
        code("from __future__ import print_function\nm = nn.Linear(2, 2)\nm.requires_grad = False"),
        code("from __future__ import (\n    annotations,\n)\nx = 1"),
    ]
    _, items = json_findings(run_cli, write(tmp_path / "nb.ipynb", notebook(cells)))
    assert [(i["code"], i["cell"], i["location"]["row"]) for i in items] == [("FRZ001", 2, 3)]


def test_max_file_size_counts_the_code_not_the_outputs(run_cli, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.freezelint]\nmax-file-size = 4000\n")
    image = [{"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo" * 20000}, "metadata": {}}]  # 220 kB
    write(tmp_path / "plots.ipynb", finetune([code("print('plot')", 5, image)]))
    write(tmp_path / "long.ipynb", finetune([code("x = 1\n" * 1000, 5)]))  # 6 kB of code
    code_, items = json_findings(run_cli, tmp_path)
    got = {(os.path.basename(i["filename"]), i["code"]): i["message"] for i in items}
    assert set(got) == {("plots.ipynb", "FRZ001"), ("long.ipynb", "FRZ000")}
    assert re.search(r"code cells hold 6\.\d kB, over the 4\.0 kB limit", got[("long.ipynb", "FRZ000")])


def test_a_notebook_that_switches_grad_off_for_its_session_is_not_an_imported_module(run_cli, tmp_path):
    """FRZ104 at module level speaks of "every program that imports this module": a notebook is
    run, never imported, so an inference notebook's `torch.set_grad_enabled(False)` is its own
    business. The same code as a .py module that defines functions is still reported."""
    cells = [
        code("import torch\nmodel = torch.nn.Linear(2, 2)\nmodel.eval()\ntorch.set_grad_enabled(False)", 1),
        code("def show(x):\n    print(x)\nshow(model(torch.randn(1, 2)))", 2),
    ]
    nb = write(tmp_path / "demo.ipynb", notebook(cells))
    code_, out, _ = run_cli("check", "--no-cache", "--select", "FRZ104", str(nb))
    assert code_ == 0 and "FRZ104" not in out
    module = tmp_path / "demo.py"
    module.write_text("\n".join("".join(c["source"]) for c in cells) + "\n")
    code_, out, _ = run_cli("check", "--no-cache", "--select", "FRZ104", str(module))
    assert code_ == 1 and "FRZ104" in out
