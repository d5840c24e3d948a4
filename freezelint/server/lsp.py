"""The LSP wiring (pygls): document sync, debounced linting, diagnostics, code actions.

Linting runs on one worker thread, so the event loop keeps answering while a
file is linted and lints never overlap. What the worker reads is an immutable
`Snapshot` taken on the loop; results for a document that changed meanwhile
are published (with their version) and replaced by the next run.
"""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Set

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from freezelint import __version__

# Typing pauses shorter than this do not start a lint.
DEBOUNCE_SECONDS = 0.3

_SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}


def _position(pos) -> types.Position:
    return types.Position(line=pos[0], character=pos[1])


def _range(start, end) -> types.Range:
    return types.Range(start=_position(start), end=_position(end))


def _pair(pos: types.Position):
    return pos.line, pos.character


class FreezelintServer:
    def __init__(self) -> None:
        self.ls = LanguageServer(
            "freezelint",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=types.NotebookDocumentSyncOptions(
                # "*": every notebook type; a filter without one does not round-trip through lsprotocol
                notebook_selector=[
                    types.NotebookDocumentFilterWithNotebook(notebook="*", cells=[types.NotebookCellLanguage(language="python")])
                ],
                save=True,
            ),
        )
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="freezelint-lint")
        self.projects = None  # made on the worker thread at the first lint (imports the engine)
        self.open: Dict[str, str] = {}  # document key (file or notebook URI) -> "text" | "notebook"
        self.timers: Dict[str, asyncio.TimerHandle] = {}
        self.results: Dict[str, object] = {}  # key -> the latest LintResult
        self.shown: Dict[str, Set[str]] = {}  # key -> URIs with diagnostics published (a notebook's cells)
        self.loading: Set[object] = set()  # projects whose files are still being read
        self._register()

    # -- state ---------------------------------------------------------------------
    @property
    def encoding(self) -> str:
        enc = self.ls.workspace.position_encoding  # negotiated at initialize (UTF-16 unless offered another)
        return str(getattr(enc, "value", enc) or "utf-16")

    def key_of(self, uri: str) -> str:
        """The document a URI belongs to: itself, or the notebook that holds the cell."""
        if uri in self.open:
            return uri
        nb = self.ls.workspace.get_notebook_document(cell_uri=uri)
        return nb.uri if nb is not None else uri

    def snapshot(self, key: str):
        from freezelint.server.documents import Snapshot, cells_from, uri_to_path

        kind = self.open.get(key)
        if kind is None:
            return None
        ws = self.ls.workspace
        if kind == "notebook":
            nb = ws.get_notebook_document(notebook_uri=key)
            if nb is None:
                return None

            def text_of(uri: str):
                doc = ws.get_text_document(uri)
                return doc.source, doc.language_id

            return Snapshot(key, uri_to_path(key), nb.version, cells=cells_from(nb.cells, text_of))
        doc = ws.get_text_document(key)
        return Snapshot(key, uri_to_path(key), doc.version, text=doc.source)

    def _projects(self):
        if self.projects is None:
            from freezelint.server.project_model import Projects

            self.projects = Projects()  # the cache of `check` (FREEZELINT_CACHE_DIR honoured)
        return self.projects

    def _lint(self, snap):
        from freezelint.server.linting import lint_snapshot

        return lint_snapshot(self._projects(), snap)

    # -- scheduling ------------------------------------------------------------------
    def schedule(self, key: str, delay: float = 0.0) -> None:
        old = self.timers.pop(key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            if self.timers.get(key) is handle:  # not a timer a later change replaced
                del self.timers[key]
            asyncio.ensure_future(self.run(key))

        handle = asyncio.get_running_loop().call_later(delay, fire)
        self.timers[key] = handle

    async def run(self, key: str):
        snap = self.snapshot(key)
        if snap is None:
            return None
        result = await asyncio.get_running_loop().run_in_executor(self.pool, self._lint, snap)
        if key not in self.open:
            return None  # closed while it was linted
        self.results[key] = result
        self.publish(key, result)
        for message in self._drain_messages(result):
            self.ls.window_log_message(types.LogMessageParams(type=types.MessageType.Warning, message=message))
        if result.summary_changed:
            self.relint_project(result.project, but=key)
        project = result.project
        if project is not None and not project.loaded and project not in self.loading:
            asyncio.ensure_future(self.finish_loading(project))
        return result

    async def finish_loading(self, project) -> None:
        """Read the rest of a large project's files, then lint its open files with the whole project."""
        self.loading.add(project)
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._load, project)
        finally:
            self.loading.discard(project)
        self.relint_project(project)

    def _load(self, project) -> None:
        with self._projects().lock:
            project.load()

    def _drain_messages(self, result) -> List[str]:
        project = getattr(result, "project", None)
        if project is None or not project.messages:
            return []
        out, project.messages = project.messages, []
        return out

    def relint_project(self, project, but: Optional[str] = None) -> None:
        """Another file's facts changed: lint the project's other open documents again."""
        for key in list(self.open):
            r = self.results.get(key)
            if key != but and (project is None or r is None or r.project is project):
                self.schedule(key, DEBOUNCE_SECONDS)

    async def current(self, key: str):
        """The lint result of the document as it is now (linted again if it changed)."""
        snap = self.snapshot(key)
        r = self.results.get(key)
        if snap is not None and r is not None and r.snapshot == snap:
            return r
        return await self.run(key)

    # -- output ---------------------------------------------------------------------
    def publish(self, key: str, result) -> None:
        from freezelint.registry import rule_url
        from freezelint.server.actions import place_all

        by_uri: Dict[str, List[types.Diagnostic]] = {}
        snap = result.snapshot
        if snap.cells is not None:
            for c in snap.cells:
                by_uri[c.uri] = []
        else:
            by_uri[snap.uri] = []
        if not result.excluded:
            for p in place_all(result, self.encoding):
                f = p.finding
                href = rule_url(f.code, result.settings.docs_url)
                by_uri.setdefault(p.uri, []).append(
                    types.Diagnostic(
                        range=_range(p.start, p.end),
                        message=f.message,
                        severity=_SEVERITY.get(f.severity.value, types.DiagnosticSeverity.Warning),
                        code=f.code,
                        code_description=types.CodeDescription(href=href) if href else None,
                        source="freezelint",
                        data={"fix": f.fix.applicability.value if f.fix is not None else None},
                    )
                )
        for uri in self.shown.get(key, set()) - set(by_uri):
            by_uri[uri] = []  # a cell that went away, or lost its findings
        self.shown[key] = {u for u, d in by_uri.items() if d}
        version = snap.version if snap.cells is None else None
        for uri, diagnostics in by_uri.items():
            self.ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version if uri == snap.uri else None)
            )

    def clear(self, key: str, uris) -> None:
        for uri in set(uris) | self.shown.pop(key, set()):
            self.ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def code_actions(self, result, params: types.CodeActionParams) -> List[types.CodeAction]:
        from freezelint.server.actions import actions_for

        only = [str(getattr(k, "value", k)) for k in params.context.only] if params.context.only else None
        found = actions_for(
            result, params.text_document.uri, _pair(params.range.start), _pair(params.range.end), only, self.encoding
        )
        out = []
        for a in found:
            edit = types.WorkspaceEdit(
                changes={
                    uri: [types.TextEdit(range=_range(c.start, c.end), new_text=c.new_text) for c in changes]
                    for uri, changes in a.changes.items()
                }
            )
            diagnostics = [
                types.Diagnostic(range=_range(p.start, p.end), message=p.finding.message, code=p.finding.code, source="freezelint")
                for p in a.diagnostics
                if p.uri == params.text_document.uri
            ]
            out.append(types.CodeAction(title=a.title, kind=a.kind, edit=edit, diagnostics=diagnostics or None, is_preferred=a.preferred or None))
        return out

    # -- files on disk ------------------------------------------------------------------
    def _disk_changes(self, paths: List[str]) -> Optional[list]:
        """On the worker: re-read changed files. Returns the projects whose index changed, None for all."""
        projects = self._projects()
        with projects.lock:
            if any(os.path.basename(p) in ("pyproject.toml", ".gitignore") for p in paths):
                projects.reset_settings()
                return None
            changed = []
            for path in paths:
                project, _known = projects.owner_of(os.path.abspath(path))
                if project is not None and project.disk_changed(os.path.abspath(path)) and project not in changed:
                    changed.append(project)
            return changed

    async def files_changed(self, paths: List[str]) -> None:
        changed = await asyncio.get_running_loop().run_in_executor(self.pool, self._disk_changes, paths)
        if changed is None:
            self.relint_project(None)
        for project in changed or ():
            self.relint_project(project)

    # -- handlers -----------------------------------------------------------------------
    def _register(self) -> None:
        ls = self.ls

        @ls.feature(types.INITIALIZED)
        def initialized(params: types.InitializedParams) -> None:
            self.pool.submit(_warm_up)  # import the engine while the editor opens files
            caps = ls.client_capabilities.workspace
            watched = getattr(caps, "did_change_watched_files", None) if caps else None
            if watched is not None and watched.dynamic_registration:
                watchers = [types.FileSystemWatcher(glob_pattern=g) for g in ("**/*.py", "**/*.pyi", "**/pyproject.toml")]
                ls.client_register_capability(
                    types.RegistrationParams(
                        registrations=[
                            types.Registration(
                                id="freezelint-watched-files",
                                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                register_options=types.DidChangeWatchedFilesRegistrationOptions(watchers=watchers),
                            )
                        ]
                    )
                )

        @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
        def did_open(params: types.DidOpenTextDocumentParams) -> None:
            if self._is_python(params.text_document.uri, params.text_document.language_id):
                self.open[params.text_document.uri] = "text"
                self.schedule(params.text_document.uri)

        @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
        def did_change(params: types.DidChangeTextDocumentParams) -> None:
            if params.text_document.uri in self.open:
                self.schedule(params.text_document.uri, DEBOUNCE_SECONDS)

        @ls.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
        async def did_save(params: types.DidSaveTextDocumentParams) -> None:
            uri = params.text_document.uri
            if uri in self.open:
                self.schedule(uri)
            else:  # e.g. pyproject.toml saved in the editor
                from freezelint.server.documents import uri_to_path

                await self.files_changed([uri_to_path(uri)])

        @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
        async def did_close(params: types.DidCloseTextDocumentParams) -> None:
            await self._closed(params.text_document.uri, [params.text_document.uri])

        @ls.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
        def nb_open(params: types.DidOpenNotebookDocumentParams) -> None:
            self.open[params.notebook_document.uri] = "notebook"
            self.schedule(params.notebook_document.uri)

        @ls.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
        def nb_change(params: types.DidChangeNotebookDocumentParams) -> None:
            if params.notebook_document.uri in self.open:
                self.schedule(params.notebook_document.uri, DEBOUNCE_SECONDS)

        @ls.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
        def nb_save(params: types.DidSaveNotebookDocumentParams) -> None:
            if params.notebook_document.uri in self.open:
                self.schedule(params.notebook_document.uri)

        @ls.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
        async def nb_close(params: types.DidCloseNotebookDocumentParams) -> None:
            await self._closed(params.notebook_document.uri, [c.uri for c in params.cell_text_documents])

        @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
        async def watched(params: types.DidChangeWatchedFilesParams) -> None:
            from freezelint.server.documents import uri_to_path

            await self.files_changed([uri_to_path(c.uri) for c in params.changes])

        @ls.feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, "source.fixAll.freezelint"]),
        )
        async def code_action(params: types.CodeActionParams):
            key = self.key_of(params.text_document.uri)
            if key not in self.open:
                return []
            result = await self.current(key)
            return self.code_actions(result, params) if result is not None else []

        @ls.feature(types.SHUTDOWN)
        def shutdown(params=None) -> None:
            for timer in self.timers.values():
                timer.cancel()
            self.timers.clear()
            self.pool.shutdown(wait=False)

    def _is_python(self, uri: str, language_id: Optional[str]) -> bool:
        from freezelint.server.documents import is_python_path, uri_to_path

        path = uri_to_path(uri)
        if path.endswith(".ipynb"):
            return False  # a notebook's JSON as text: its positions are not the cells'
        return is_python_path(path) or (language_id or "").lower() == "python"

    async def _closed(self, key: str, uris: List[str]) -> None:
        from freezelint.server.documents import uri_to_path

        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if self.open.pop(key, None) is None:
            return
        self.results.pop(key, None)
        self.clear(key, uris)
        path = os.path.abspath(uri_to_path(key))

        def forget():
            projects = self._projects()
            with projects.lock:
                project, _ = projects.owner_of(path)
                return project if project is not None and project.closed(path) else None

        project = await asyncio.get_running_loop().run_in_executor(self.pool, forget)
        if project is not None:
            self.relint_project(project)


def _warm_up() -> None:
    import freezelint.server.linting  # noqa: F401  (the engine and its rules)
    from freezelint.static.rules import load_rules

    load_rules()


def serve() -> int:
    """Speak LSP over stdin/stdout until the client says exit."""
    FreezelintServer().ls.start_io()
    return 0
