"""The language server's pure parts, without a client: positions, notebook cells, the project model."""

import os
import subprocess
import sys

import pytest

from cli_support import BAD, ROOT
from freezelint.server.documents import Cell, Snapshot, uri_to_path
from freezelint.server.positions import UTF8, UTF32, LineIndex, minimal_change, units


def test_columns_count_utf16_code_units():
    line = 'x = "\U0001F600é"; y\n'
    index = LineIndex(line)
    # character 9 (1-based) is `;`: before it, the emoji is 2 UTF-16 units and é is 1
    assert index.position(1, 9) == (0, 9)
    assert LineIndex(line, UTF32).position(1, 9) == (0, 8)
    assert LineIndex(line, UTF8).position(1, 9) == (0, 4 + 4 + 2 + 1 + 1)
    assert units("\U0001F600") == 2 and units("é") == 1
    # and back: an LSP position inside the text -> the character offset
    assert index.offset((0, 9)) == 8


def test_positions_past_the_end_clamp_to_the_text():
    index = LineIndex("a = 1\nb = (\n")
    assert index.position(3, 1) == (1, 5)  # an error at EOF: the end of the last line
    assert index.position(1, 99) == (0, 5)
    assert LineIndex("").position(1, 1) == (0, 0)


@pytest.mark.parametrize(
    "old, new",
    [
        ("a = 1\nb = 2\n", "a = 1\nb = 3\n"),
        ("a\r\nb\r\n", "a\r\nc\r\nb\r\n"),  # never splits \r\n
        ("x = '\U0001F600'; m.requires_grad = False\n", "x = '\U0001F600'; m.requires_grad_(False)\n"),
        ("", "print(1)\n"),
        ("keep\n", ""),
    ],
)
def test_minimal_change_turns_old_into_new(old, new):
    from freezelint.server.actions import apply_changes

    change = minimal_change(old, new)
    assert apply_changes(old, [change]) == new
    assert len(change.new_text) <= len(new)
    assert minimal_change(new, new) is None


def test_minimal_change_touches_only_what_differs():
    change = minimal_change("line one\nmodel.requires_grad = False\nline three\n", "line one\nmodel.requires_grad_(False)\nline three\n")
    assert change.start[0] == 1 and change.end[0] == 1


def test_notebook_cells_map_to_their_documents():
    cells = (
        Cell("cell:0", "# Title\n", code=False),
        Cell("cell:1", "%matplotlib inline\nimport torch.nn as nn\n", code=True),
        Cell("cell:2", "print(1)\n", code=True, language="r"),
        Cell("cell:3", "m = nn.Linear(1, 1)\nm.requires_grad = False", code=True),
    )
    snap = Snapshot("file:///nb.ipynb", "/nb.ipynb", 1, cells=cells)
    src = snap.source()
    assert "%matplotlib" not in src.text and "print(1)" not in src.text  # magic neutralised, R cell skipped
    assert snap.target(4) == ("cell:3", cells[3].text)
    assert snap.cell_number("cell:1") == 2
    joined = src.text.splitlines().index("m.requires_grad = False") + 1
    assert src.cells.place(joined, 1) == (4, 2, 1)  # cell 4 (1-based over all cells), its line 2


def test_uri_to_path():
    assert uri_to_path("file:///home/u/my%20proj/train.py") == "/home/u/my proj/train.py"
    assert uri_to_path("file:///c%3A/x/y.py") == "c:/x/y.py"
    assert uri_to_path("untitled:Untitled-1") == "Untitled-1"


def test_project_model_updates_a_summary_and_says_when_the_index_changed(tmp_path):
    from freezelint.server.linting import lint_snapshot
    from freezelint.server.project_model import Projects

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / "helpers.py").write_text("def lock(m):\n    pass\n")
    (tmp_path / "train.py").write_text(BAD)
    projects = Projects(use_cache=False)
    helpers = str(tmp_path / "helpers.py")
    first = lint_snapshot(projects, Snapshot("h", helpers, 1, text="def lock(m):\n    pass\n"))
    assert not first.summary_changed  # the same as the file on disk
    assert set(first.project.disk) == {helpers, str(tmp_path / "train.py")}
    freeze = "def lock(m):\n    for p in m.parameters():\n        p.requires_grad = False\n"
    changed = lint_snapshot(projects, Snapshot("h", helpers, 2, text=freeze))
    assert changed.summary_changed and changed.project is first.project
    broken = lint_snapshot(projects, Snapshot("h", helpers, 3, text="def lock(m:\n"))
    assert [f.code for f in broken.located] == ["FRZ000"]
    assert not broken.summary_changed  # a line being typed keeps the last good facts
    assert first.project.closed(helpers)  # closed unsaved: the file's facts count again


def test_server_without_pygls_is_one_line_and_exit_2(tmp_path):
    fake = tmp_path / "fake"
    (fake / "pygls").mkdir(parents=True)
    (fake / "pygls" / "__init__.py").write_text("raise ImportError('no pygls', name='pygls')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), ROOT]))
    out = subprocess.run([sys.executable, "-m", "freezelint", "server"], capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "freezelint: error: `freezelint server` needs pygls and lsprotocol (pygls not importable); install `freezelint[server]`"
    ]


def test_a_project_is_read_within_a_budget_and_finished_later(tmp_path):
    from freezelint.server.project_model import Project
    from freezelint.config import ConfigResolver

    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text(f"def f{i}(m):\n    m.requires_grad_(False)\n")
    project = Project(str(tmp_path), ConfigResolver(), use_cache=False)
    assert project.load(budget=0) is False  # one file, then the budget is spent
    assert len(project.disk) == 1 and not project.loaded
    assert project.load() is True and project.loaded
    assert len(project.disk) == 5
    assert project.load(budget=0) is True  # nothing left to read
