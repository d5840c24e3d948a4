"""Worker processes that keep what they parsed: the worker that summarised a file also lints it.

A cold run parses every file once for its summary (phase 1), builds the project
index, then lints the files a rule may fire on (phase 2). With one process per core
for phase 1, each worker keeps the trees it parsed (`parsed.py`), and phase 2 sends
each file back to the worker that holds its tree, so the run still parses a file
once while both phases use every core. Only paths, summaries and findings cross
the pipes; no source text does.
"""

from __future__ import annotations

import sys
from typing import Dict, List, Optional, Sequence, Tuple

from freezelint.static import engine, parsed
from freezelint.static.source import SourceError
from freezelint.static.summary import FileSummary

# (path, max_size) -> (path, summary JSON or None, digest or None, (message, line, col) or None)
SummaryResult = Tuple[str, Optional[dict], Optional[str], Optional[Tuple[str, int, int]]]


def _summarize_one(path: str, max_size: int) -> SummaryResult:
    from freezelint.static.cache import content_hash

    try:
        src = engine.read_source(path, max_size)
    except SourceError as exc:
        return (path, None, None, (str(exc), exc.line, exc.col))
    return (path, engine.summarize_text(src.text).to_json(), content_hash(src.raw), None)


def _serve(conn) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "summarize":
                conn.send([_summarize_one(path, size) for path, size in msg[1]])
            elif msg[0] == "lint":
                project, jobs = msg[1], msg[2]
                conn.send([engine.lint_file(path, codes, ignored, size, project) for path, codes, ignored, size in jobs])
                parsed.forget()
            else:
                return
    except (EOFError, KeyboardInterrupt):
        return


class AffinityPool:
    def __init__(self, workers: int):
        import multiprocessing  # only when a pool runs (start-up time of one-file runs)

        ctx = multiprocessing.get_context("fork")
        self.conns = []
        self.procs = []
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child,), daemon=True)
            proc.start()
            child.close()
            self.conns.append(parent)
            self.procs.append(proc)
        self.owner: Dict[str, int] = {}

    def summarize(self, items: Sequence[Tuple[str, int]]) -> List[Tuple[str, Optional[FileSummary], Optional[str], Optional[tuple]]]:
        """Summaries of (path, max_size) items, in order; a worker remembers which files it holds."""
        n = len(self.conns)
        shares = [list(items[k::n]) for k in range(n)]
        for k, share in enumerate(shares):
            self.conns[k].send(("summarize", share))
            for path, _ in share:
                self.owner[path] = k
        got: Dict[str, SummaryResult] = {}
        for conn in self.conns:
            for r in conn.recv():
                got[r[0]] = r
        out = []
        for path, _ in items:
            p, summary, digest, error = got[path]
            out.append((p, FileSummary.from_json(summary) if summary is not None else None, digest, error))
        return out

    def lint(self, jobs: Sequence[tuple], project) -> List["engine.FileResult"]:
        """Lint jobs, each on the worker that parsed its file (round robin for the others)."""
        n = len(self.conns)
        shares: List[List[tuple]] = [[] for _ in range(n)]
        for i, job in enumerate(jobs):
            shares[self.owner.get(job[0], i % n)].append(job)
        for k, share in enumerate(shares):
            self.conns[k].send(("lint", project, share))
        out = []
        for conn in self.conns:
            out.extend(conn.recv())
        return out

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except (OSError, ValueError):
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def usable(workers: int, files: int) -> bool:
    """A pool pays for itself only with several files per worker, and needs fork."""
    return workers > 1 and files >= engine.MIN_FILES_PER_WORKER * workers and sys.platform.startswith("linux")
