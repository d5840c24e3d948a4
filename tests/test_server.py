"""`freezelint server` driven as a real subprocess over stdio by pygls's LSP client.

Each test starts the server (`python -m freezelint server`), initializes it with
the client capabilities an editor sends, and talks to it as VS Code or Neovim
would. A fake `torch` package first on PYTHONPATH fails the test if the server
ever imports torch.
"""

import asyncio
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cli_support import BAD, ROOT

pytest.importorskip("pygls")
from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

TIMEOUT = 60  # seconds for one answer: the test machine's CPUs are shared


class Editor:
    """A minimal editor: the server's diagnostics per URI, and the documents' texts."""

    def __init__(self, root: Path, guard: Path):
        self.root = root
        self.guard = guard
        self.client = LanguageClient("freezelint-tests", "1")
        self.diagnostics = {}
        self.updates = 0
        self.published = {}  # URI -> how many times its diagnostics were published
        self.changed = asyncio.Event()
        self.texts = {}
        self.versions = {}
        self.initialize_seconds = None
        self.result = None

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams):
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.updates += 1
            self.published[params.uri] = self.published.get(params.uri, 0) + 1
            self.changed.set()

        @self.client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def on_register(params):
            return None

    async def start(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(self.guard), ROOT]), FREEZELINT_CACHE_DIR=str(self.root / ".cache"))
        await self.client.start_io(sys.executable, "-m", "freezelint", "server", cwd=str(self.root), env=env)
        caps = types.ClientCapabilities(
            notebook_document=types.NotebookDocumentClientCapabilities(
                synchronization=types.NotebookDocumentSyncClientCapabilities()
            ),
            workspace=types.WorkspaceClientCapabilities(
                did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True)
            ),
        )
        started = time.perf_counter()
        self.result = await asyncio.wait_for(
            self.client.initialize_async(
                types.InitializeParams(
                    capabilities=caps,
                    root_uri=self.root.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=self.root.as_uri(), name="proj")],
                )
            ),
            TIMEOUT,
        )
        self.initialize_seconds = time.perf_counter() - started
        self.client.initialized(types.InitializedParams())
        return self

    async def stop(self):
        await asyncio.wait_for(self.client.shutdown_async(None), TIMEOUT)
        self.client.exit(None)
        await asyncio.wait_for(self.client.stop(), TIMEOUT)
        return self.client._server.returncode

    # -- documents ------------------------------------------------------------
    def open(self, path: Path, text=None):
        uri = path.as_uri()
        self.texts[uri] = path.read_text() if text is None else text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=self.texts[uri])
            )
        )
        return uri

    def replace_all(self, uri: str, text: str):
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def apply(self, edit: types.WorkspaceEdit):
        """Apply a WorkspaceEdit as an editor does: each document's edits, as incremental changes."""
        for uri, edits in edit.changes.items():
            self.texts[uri] = apply_text_edits(self.texts[uri], edits)
            self.versions[uri] += 1
            changes = [types.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in sorted(edits, key=_start, reverse=True)]
            if uri in self.notebook_of:
                self._cell_changed(uri, changes)
                continue
            self.client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                    content_changes=changes,
                )
            )

    notebook_of = {}

    def _cell_changed(self, cell_uri, changes):
        nb_uri = self.notebook_of[cell_uri]
        self.versions[nb_uri] += 1
        self.client.notebook_document_did_change(
            types.DidChangeNotebookDocumentParams(
                notebook_document=types.VersionedNotebookDocumentIdentifier(version=self.versions[nb_uri], uri=nb_uri),
                change=types.NotebookDocumentChangeEvent(
                    cells=types.NotebookDocumentCellChanges(
                        text_content=[
                            types.NotebookDocumentCellContentChanges(
                                document=types.VersionedTextDocumentIdentifier(uri=cell_uri, version=self.versions[cell_uri]),
                                changes=changes,
                            )
                        ]
                    )
                ),
            )
        )

    def open_notebook(self, path: Path, cells):
        """cells: [(kind "code" | "markdown", text)]; returns the cell URIs."""
        nb_uri = path.as_uri()
        self.versions[nb_uri] = 1
        uris, items = [], []
        for i, (kind, text) in enumerate(cells):
            uri = f"vscode-notebook-cell:{path}#cell{i}"
            uris.append(uri)
            self.texts[uri] = text
            self.versions[uri] = 1
            self.notebook_of[uri] = nb_uri
            lang = "python" if kind == "code" else "markdown"
            items.append(types.TextDocumentItem(uri=uri, language_id=lang, version=1, text=text))
        cell_kind = {"code": types.NotebookCellKind.Code, "markdown": types.NotebookCellKind.Markup}
        self.client.notebook_document_did_open(
            types.DidOpenNotebookDocumentParams(
                notebook_document=types.NotebookDocument(
                    uri=nb_uri,
                    notebook_type="jupyter-notebook",
                    version=1,
                    cells=[types.NotebookCell(kind=cell_kind[k], document=u) for (k, _), u in zip(cells, uris)],
                ),
                cell_text_documents=items,
            )
        )
        return uris

    async def wait(self, uri: str, predicate, what: str):
        """Wait until the diagnostics of `uri` satisfy `predicate`."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            got = self.diagnostics.get(uri)
            if got is not None and predicate(got):
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}; last diagnostics of {uri}: {got}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def code_actions(self, uri: str, rng: types.Range, only=None):
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=rng,
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
        return await asyncio.wait_for(self.client.text_document_code_action_async(params), TIMEOUT) or []


def _start(e):
    return (e.range.start.line, e.range.start.character)


def apply_text_edits(text: str, edits) -> str:
    """What an editor does with TextEdits (LSP positions, UTF-16 columns)."""
    lines = text.splitlines(keepends=True)

    def offset(pos):
        before = sum(len(line) for line in lines[: pos.line])
        line = lines[pos.line] if pos.line < len(lines) else ""
        units, i = 0, 0
        while i < len(line) and units < pos.character:
            units += 2 if ord(line[i]) > 0xFFFF else 1
            i += 1
        return before + i

    for e in sorted(edits, key=_start, reverse=True):
        a, b = offset(e.range.start), offset(e.range.end)
        text = text[:a] + e.new_text + text[b:]
    return text


@pytest.fixture
def guard(tmp_path):
    """A `torch` that records being imported: the server must never import it."""
    folder = tmp_path / "guard"
    (folder / "torch").mkdir(parents=True)
    marker = tmp_path / "torch-imported"
    (folder / "torch" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise ImportError('no torch here')\n")
    return folder


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    return root


def run(coro):
    return asyncio.run(coro)


def codes(diagnostics):
    return sorted(str(d.code) for d in diagnostics)


# -- a Python file --------------------------------------------------------------------


def test_diagnostic_fix_and_shutdown_over_stdio(project, guard, tmp_path):
    path = project / "train.py"
    path.write_text(BAD)

    async def scenario():
        ed = await Editor(project, guard).start()
        caps = ed.result.capabilities
        assert caps.code_action_provider is not None
        assert caps.notebook_document_sync is not None
        assert ed.result.server_info.name == "freezelint"
        uri = ed.open(path)
        diags = await ed.wait(uri, lambda d: len(d) == 1, "FRZ001")
        d = diags[0]
        assert d.code == "FRZ001" and d.source == "freezelint"
        assert d.severity == types.DiagnosticSeverity.Error
        assert d.code_description.href.endswith("/FRZ001.md")
        assert (d.range.start.line, d.range.start.character) == (3, 0)  # `model.requires_grad = False`, line 4
        assert d.range.end.line == 3 and d.range.end.character > 0

        actions = await ed.code_actions(uri, d.range)
        titles = [a.title for a in actions]
        fix = next(a for a in actions if a.title.startswith("Fix FRZ001"))
        assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
        assert "unsafe" not in fix.title
        assert any(t == "Add `# noqa: FRZ001` on this line" for t in titles)
        assert any(a.kind == "source.fixAll.freezelint" for a in actions)
        assert [x.code for x in fix.diagnostics] == ["FRZ001"]

        ed.apply(fix.edit)
        assert ed.texts[uri] == BAD.replace("model.requires_grad = False", "model.requires_grad_(False)")
        await ed.wait(uri, lambda d: d == [], "the diagnostic to go after the fix")
        assert await ed.code_actions(uri, d.range) == []
        code = await ed.stop()
        return ed, code

    ed, code = run(scenario())
    assert code == 0  # shutdown, then exit: a clean exit
    assert not (tmp_path / "torch-imported").exists(), "the server imported torch"
    print(f"initialize round trip: {ed.initialize_seconds:.3f} s")
    assert ed.initialize_seconds < 10  # loose: CPUs here are shared; the figure is in the issue note


def _line_range(line: int, text: str) -> types.Range:
    return types.Range(start=types.Position(line=line, character=0), end=types.Position(line=line, character=len(text)))


def test_unsafe_fix_is_marked_noqa_keeps_codes_and_columns_are_utf16(project, guard):
    # An emoji before the finding: two UTF-16 code units, one character.
    text = (
        "import torch.nn as nn\n\n"
        "model = nn.Linear(4, 2)\n"
        's = "\U0001F600"; model.requires_grad = False  # noqa: FRZ006\n'
        "for p in model.parameters():\n"
        "    p.requires_grads = False\n"
    )
    path = project / "mixed.py"
    path.write_text(text)

    async def scenario():
        ed = await Editor(project, guard).start()
        uri = ed.open(path)
        diags = await ed.wait(uri, lambda d: codes(d) == ["FRZ001", "FRZ003"], "FRZ001 and FRZ003")
        frz001 = next(d for d in diags if d.code == "FRZ001")
        assert frz001.range.start.line == 3
        assert frz001.range.start.character == len('s = "') + 2 + len('"; ')  # the emoji counts 2
        frz003 = next(d for d in diags if d.code == "FRZ003")

        unsafe = [a for a in await ed.code_actions(uri, frz003.range) if a.title.startswith("Fix FRZ003")]
        assert unsafe and all("unsafe" in a.title and not a.is_preferred for a in unsafe)

        noqa = next(a for a in await ed.code_actions(uri, frz001.range) if "noqa" in a.title)
        ed.apply(noqa.edit)
        assert ed.texts[uri].splitlines()[3] == 's = "\U0001F600"; model.requires_grad = False  # noqa: FRZ001, FRZ006'
        await ed.wait(uri, lambda d: codes(d) == ["FRZ003"], "FRZ001 suppressed by the added noqa")

        # "fix all safe" leaves the unsafe fix alone: nothing safe is left to do
        only = [types.CodeActionKind.SourceFixAll]
        assert await ed.code_actions(uri, _line_range(0, ""), only=only) == []
        await ed.stop()

    run(scenario())


def test_fix_all_safe_and_settings_from_pyproject(project, guard):
    (project / "pyproject.toml").write_text(
        "[project]\nname = 'demo'\n\n[tool.freezelint]\nignore = [\"FRZ003\"]\n"
        'docs-url = "https://example.org/rules"\nextend-exclude = ["generated"]\n'
    )
    (project / "generated").mkdir()
    (project / "generated" / "model.py").write_text(BAD)
    text = (
        "import torch.nn as nn\n\n"
        "a = nn.Linear(4, 2)\n"
        "b = nn.Linear(2, 2)\n"
        "a.requires_grad = False\n"
        "b.requires_grad = False\n"
        "a.weight.requires_grads = False\n"  # FRZ003, ignored by the project's settings
    )
    path = project / "two.py"
    path.write_text(text)

    async def scenario():
        ed = await Editor(project, guard).start()
        uri = ed.open(path)
        diags = await ed.wait(uri, lambda d: codes(d) == ["FRZ001", "FRZ001"], "two FRZ001, FRZ003 ignored")
        assert diags[0].code_description.href == "https://example.org/rules/FRZ001.md"
        excluded = ed.open(project / "generated" / "model.py")
        await ed.wait(excluded, lambda d: d == [], "no diagnostics in an excluded file")
        actions = await ed.code_actions(uri, diags[0].range, only=["source.fixAll"])
        assert [a.kind for a in actions] == ["source.fixAll.freezelint"]
        ed.apply(actions[0].edit)
        assert "a.requires_grad_(False)\nb.requires_grad_(False)\n" in ed.texts[uri]
        await ed.wait(uri, lambda d: d == [], "no diagnostics after fix all")
        # the project's settings change on disk: the open file is linted with the new ones
        (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
        ed.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=(project / "pyproject.toml").as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        await ed.wait(uri, lambda d: codes(d) == ["FRZ003"], "FRZ003 once the project no longer ignores it")
        await ed.stop()

    run(scenario())


def test_a_file_that_does_not_parse_is_one_diagnostic_and_the_server_goes_on(project, guard, tmp_path):
    path = project / "broken.py"
    path.write_text("def f(:\n    pass\n")

    async def scenario():
        ed = await Editor(project, guard).start()
        uri = ed.open(path)
        diags = await ed.wait(uri, lambda d: len(d) > 0, "FRZ000")
        assert codes(diags) == ["FRZ000"] and "syntax error" in diags[0].message
        assert diags[0].range.start.line == 0
        assert await ed.code_actions(uri, diags[0].range) == []
        # debounced typing: several changes, the last one is what counts
        before = ed.published[uri]
        ed.replace_all(uri, "def f(x):\n")
        ed.replace_all(uri, "def f(x):\n    return x\n\n\nimport torch.nn as nn\n")
        ed.replace_all(uri, BAD)
        await ed.wait(uri, lambda d: codes(d) == ["FRZ001"], "FRZ001 once the file parses")
        await asyncio.sleep(1)
        # three quick changes: one lint (two if the machine stalls the server past the pause)
        assert ed.published[uri] - before <= 2
        # a NUL byte, and nesting too deep for the parser: one diagnostic each
        nul = ed.open(project / "nul.py", "x = 1\x00\n")
        assert codes(await ed.wait(nul, lambda d: len(d) > 0, "FRZ000 for NUL")) == ["FRZ000"]
        deep = ed.open(project / "deep.py", "x = " + "(" * 5000 + ")" * 5000 + "\n")
        assert codes(await ed.wait(deep, lambda d: len(d) > 0, "FRZ000 for deep nesting")) == ["FRZ000"]
        # a notebook that is not valid either: one diagnostic, the server still answers
        bad_cells = ed.open_notebook(project / "nb.ipynb", [("code", "x = (\n")])
        nb = await ed.wait(bad_cells[0], lambda d: len(d) > 0, "FRZ000 in the cell")
        assert codes(nb) == ["FRZ000"]
        code = await ed.stop()
        assert code == 0

    run(scenario())
    assert not (tmp_path / "torch-imported").exists()


# -- notebooks ------------------------------------------------------------------------


def test_notebook_document_diagnostics_in_cells_and_fix(project, guard):
    cells = [
        ("markdown", "# Fine-tune\nFreeze the backbone.\n"),
        ("code", "%matplotlib inline\nimport torch.nn as nn\n"),
        ("code", "model = nn.Linear(4, 2)\nmodel.requires_grad = False"),
    ]

    async def scenario():
        ed = await Editor(project, guard).start()
        uris = ed.open_notebook(project / "train.ipynb", cells)
        diags = await ed.wait(uris[2], lambda d: len(d) == 1, "FRZ001 in the third cell")
        d = diags[0]
        assert d.code == "FRZ001" and d.code_description.href.endswith("/FRZ001.md")
        assert (d.range.start.line, d.range.start.character) == (1, 0)  # line 2 of its cell
        assert ed.diagnostics.get(uris[1], []) == []  # the magic cell is clean
        actions = await ed.code_actions(uris[2], d.range)
        fix = next(a for a in actions if a.title.startswith("Fix FRZ001"))
        assert list(fix.edit.changes) == [uris[2]]  # the edit is on the cell's document
        ed.apply(fix.edit)
        assert ed.texts[uris[2]] == "model = nn.Linear(4, 2)\nmodel.requires_grad_(False)"
        await ed.wait(uris[2], lambda d: d == [], "the cell's diagnostic to go")

        # a new cell (notebook structure change): its findings go to its own document
        new_uri = f"vscode-notebook-cell:{project / 'train.ipynb'}#new"
        nb_uri = (project / "train.ipynb").as_uri()
        ed.versions[nb_uri] += 1
        ed.client.notebook_document_did_change(
            types.DidChangeNotebookDocumentParams(
                notebook_document=types.VersionedNotebookDocumentIdentifier(version=ed.versions[nb_uri], uri=nb_uri),
                change=types.NotebookDocumentChangeEvent(
                    cells=types.NotebookDocumentCellChanges(
                        structure=types.NotebookDocumentCellChangeStructure(
                            array=types.NotebookCellArrayChange(
                                start=3, delete_count=0, cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=new_uri)]
                            ),
                            did_open=[types.TextDocumentItem(uri=new_uri, language_id="python", version=1, text="x = 1\nmodel.requires_grad = True\n")],
                        )
                    )
                ),
            )
        )
        added = await ed.wait(new_uri, lambda d: len(d) == 1, "FRZ001 in the added cell")
        assert added[0].code == "FRZ001" and added[0].range.start.line == 1
        assert ed.diagnostics[uris[2]] == []

        noqa_nb = ed.open_notebook(project / "other.ipynb", [("code", "import torch.nn as nn\nm = nn.Linear(1, 1)\nm.requires_grad = False\n")])
        got = await ed.wait(noqa_nb[0], lambda d: len(d) == 1, "FRZ001 in the other notebook")
        noqa = next(a for a in await ed.code_actions(noqa_nb[0], got[0].range) if "noqa" in a.title)
        ed.apply(noqa.edit)
        assert ed.texts[noqa_nb[0]].splitlines()[2] == "m.requires_grad = False  # noqa: FRZ001"
        await ed.wait(noqa_nb[0], lambda d: d == [], "suppressed in the notebook")
        await ed.stop()

    run(scenario())


# -- the project ----------------------------------------------------------------------

HELPERS_NOOP = "def lock(module):\n    for p in module.parameters():\n        print(p.shape)\n"
HELPERS_FREEZE = "def lock(module):\n    for p in module.parameters():\n        p.requires_grad = False\n"
MODELS = textwrap.dedent(
    """\
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8))
            self.head = nn.Linear(8, 2)
    """
)
FACTORY = "from .models import Net\n\n\ndef build():\n    net = Net()\n    return net\n"
TRAIN = textwrap.dedent(
    """\
    import torch

    from pkg.factory import build
    from pkg.helpers import lock

    # lock() sets requires_grad in pkg/helpers.py
    model = build()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    lock(model.backbone)
    """
)
# The comment: the engine's text prefilter skips FRZ201 in a file without "requires_grad"
# or "freeze" in it, even when a helper from another file freezes (reported to the lead).


def _package(project, helpers):
    (project / "pkg").mkdir()
    for name, text in (("__init__.py", ""), ("models.py", MODELS), ("factory.py", FACTORY), ("helpers.py", helpers)):
        (project / "pkg" / name).write_text(text)
    (project / "train.py").write_text(TRAIN)


def test_a_change_in_one_file_relints_the_open_files_that_use_it(project, guard):
    _package(project, HELPERS_NOOP)

    async def scenario():
        ed = await Editor(project, guard).start()
        train = ed.open(project / "train.py")
        await ed.wait(train, lambda d: d == [], "train.py clean while lock() freezes nothing")
        helpers = ed.open(project / "pkg" / "helpers.py")
        await ed.wait(helpers, lambda d: d == [], "helpers.py clean")
        ed.replace_all(helpers, HELPERS_FREEZE)  # unsaved: the editor's text is the project's
        got = await ed.wait(train, lambda d: codes(d) == ["FRZ201"], "FRZ201 in train.py after lock() starts freezing")
        assert got[0].range.start.line == 8  # lock(model.backbone)
        ed.replace_all(helpers, HELPERS_NOOP)
        await ed.wait(train, lambda d: d == [], "train.py clean again")
        await ed.stop()

    run(scenario())


def test_a_project_file_is_read_from_disk_with_the_cache_of_check(project, guard):
    """Not open in the editor: the helper's facts come from the file (and go to the shared cache)."""
    _package(project, HELPERS_FREEZE)

    async def scenario():
        ed = await Editor(project, guard).start()
        train = ed.open(project / "train.py")
        await ed.wait(train, lambda d: codes(d) == ["FRZ201"], "FRZ201 from the helper on disk")
        # the file changes on disk (e.g. `git checkout`): the client's file watcher says so
        (project / "pkg" / "helpers.py").write_text(HELPERS_NOOP)
        ed.client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=(project / "pkg" / "helpers.py").as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        await ed.wait(train, lambda d: d == [], "train.py clean after the helper changed on disk")
        await ed.stop()

    run(scenario())
    assert (project / ".cache").is_dir()  # the project's summaries were recorded where `check` keeps them
