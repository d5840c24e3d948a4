"""`freezelint server` driven as a real subprocess over stdio by pygls's LSP client.

Each test starts the server (`python -m freezelint server`), initializes it with
the client capabilities an editor sends, and talks to it as VS Code or Neovim
would. A fake `torch` package first on PYTHONPATH fails the test if the server
ever imports torch.
"""

import asyncio
import json
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
        self.changed = asyncio.Event()
        self.texts = {}
        self.versions = {}
        self.initialize_seconds = None
        self.result = None

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams):
            self.diagnostics[params.uri] = list(params.diagnostics)
            self.updates += 1
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
