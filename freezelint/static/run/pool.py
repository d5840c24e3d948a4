"""Worker processes that keep what they parsed: the worker that summarised a file also lints it.

A cold run parses every file once for its summary (phase 1), builds the project
index, then lints the files a rule may fire on (phase 2). With one process per core
for phase 1, each worker keeps the trees it parsed (`parsed.py`), and phase 2 sends
each file back to the worker that holds its tree, so the run still parses a file
once while both phases use every core. Only paths, summaries and findings cross
the pipes; no source text does.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

from freezelint.static.run import engine
from freezelint.static.parse import parsed
from freezelint.static.input.source import SourceError
from freezelint.static.summaries.file_summary import FileSummary

# (path, max_size) -> (path, summary JSON or None, digest or None, (message, line, col) or None,
#                      (seconds reading and summarising it took, how many rules' prefilters let it through))
SummaryResult = Tuple[str, Optional[dict], Optional[str], Optional[Tuple[str, int, int]], Tuple[float, int]]

# To share the lint out evenly, its cost is guessed from what the summary cost (fitted on the torch
# sample: the lint of a file takes ~0.08x its summary's time per rule its prefilters let through,
# correlation 0.97); a file no rule may fire on is next to free, and a worker linting a file another
# one parsed parses it again (~0.75x the summary's time). Before any is known, by size (~0.4 us a byte).
_LINT_PER_RULE = 0.084
_LIGHT_LINT = 0.02
_REPARSE = 0.75
_SECONDS_PER_BYTE = 0.4e-6
_FILE_SECONDS = 0.0005
# A file is taken from another worker only if its lint is at least half of parsing it again here:
# an idle core is free, but on a shared machine the parse is not.
_WORTH_STEALING = 1 / 3
_BATCH_SECONDS = 0.02  # jobs sent at once: few round trips, and no worker left holding much at the end


def _summarize_one(path: str, max_size: int) -> SummaryResult:
    from freezelint.static.run.cache import content_hash

    start = time.process_time()  # CPU: a busy machine must not make a file look costly
    try:
        src = engine.read_source(path, max_size)
    except SourceError as exc:
        return (path, None, None, (str(exc), exc.line, exc.col), (0.0, 0))
    summary = engine.summarize_text(src.text).to_json()
    rules = len(parsed.triggered(src.text) or ())
    return (path, summary, content_hash(src.raw), None, (time.process_time() - start, rules))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _serve(conn) -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    project = None
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "summarize":
                conn.send([_summarize_one(path, size) for path, size in msg[1]])
            elif msg[0] == "project":
                project = msg[1]
            elif msg[0] == "lint":
                conn.send([engine.lint_file(path, codes, ignored, size, project) for path, codes, ignored, size in msg[1]])
            elif msg[0] == "forget":
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
        self.size: Dict[str, int] = {}
        self.spent: Dict[str, Tuple[float, int]] = {}  # path -> (seconds its summary took, rules it may trigger)

    def summarize(self, items: Sequence[Tuple[str, int]]) -> List[Tuple[str, Optional[FileSummary], Optional[str], Optional[tuple]]]:
        """Summaries of (path, max_size) items, in order; a worker remembers which files it holds."""
        from multiprocessing.connection import wait

        todo = sorted(items, key=lambda it: self._size_of(it[0]))  # largest last: handed out first
        busy: Dict[object, int] = {}

        def hand_out(k: int) -> None:
            batch: List[Tuple[str, int]] = []
            cost = 0.0
            while todo and (not batch or cost < _BATCH_SECONDS):
                item = todo.pop()
                batch.append(item)
                cost += self.size[item[0]] * _SECONDS_PER_BYTE + _FILE_SECONDS
                self.owner[item[0]] = k  # this worker keeps the tree: it lints the file too
            if batch:
                self.conns[k].send(("summarize", batch))
                busy[self.conns[k]] = k

        for k in range(len(self.conns)):
            hand_out(k)
        got: Dict[str, SummaryResult] = {}
        while busy:
            for conn in wait(list(busy)):
                k = busy.pop(conn)
                for r in conn.recv():  # type: ignore[attr-defined]
                    got[r[0]] = r
                hand_out(k)
        out = []
        for path, _ in items:
            p, summary, digest, error, spent = got[path]
            self.spent[p] = spent
            out.append((p, FileSummary.from_json(summary) if summary is not None else None, digest, error))
        return out

    def _size_of(self, path: str) -> int:
        size = self.size.get(path)
        if size is None:
            size = self.size[path] = _size(path)
        return size

    def _lint_cost(self, path: str) -> float:
        """What linting the file is guessed to cost on the worker that parsed it (seconds)."""
        seconds, rules = self._spent(path)
        return seconds * (rules * _LINT_PER_RULE if rules else _LIGHT_LINT) + _FILE_SECONDS

    def _reparse_cost(self, path: str) -> float:
        return self._spent(path)[0] * _REPARSE

    def _spent(self, path: str) -> Tuple[float, int]:
        spent = self.spent.get(path)
        if spent is None:  # summarised from the cache: guessed from its size, as a file some rules may fire on
            spent = self.spent[path] = (self._size_of(path) * _SECONDS_PER_BYTE, 6)
        return spent

    def lint(self, jobs: Sequence[tuple], project) -> List["engine.FileResult"]:
        """Lint jobs (results in the order of `jobs`), handed out as workers finish: each lints the files
        it parsed, costliest first; one that runs out takes over files another has not reached yet."""
        from multiprocessing.connection import wait

        n = len(self.conns)
        queues: List[List[tuple]] = [[] for _ in range(n)]
        for i, job in enumerate(jobs):
            k = self.owner.get(job[0])
            queues[k if k is not None else i % n].append(job)
        for q in queues:
            q.sort(key=lambda j: self._lint_cost(j[0]))  # costliest last: taken first
        left = [sum(self._lint_cost(j[0]) for j in q) for q in queues]
        for conn in self.conns:
            conn.send(("project", project))
        busy: Dict[object, int] = {}

        def hand_out(k: int) -> None:
            batch = self._next_batch(k, queues, left)
            if batch:
                self.conns[k].send(("lint", batch))
                busy[self.conns[k]] = k

        for k in range(n):
            hand_out(k)
        out = []
        while busy:
            for conn in wait(list(busy)):
                k = busy.pop(conn)
                out.extend(conn.recv())  # type: ignore[attr-defined]
                hand_out(k)
        for conn in self.conns:
            conn.send(("forget",))
        order = {job[0]: i for i, job in enumerate(jobs)}
        out.sort(key=lambda r: order[r.path])
        return out

    def _next_batch(self, k: int, queues: List[List[tuple]], left: List[float]) -> List[tuple]:
        """Worker k's next jobs: its own costliest, about a slice of work; when it has none left, the one
        file of the busiest other queue whose lint pays best for parsing it again (and pays enough),
        while that queue would still take longer than this file takes here."""
        batch: List[tuple] = []
        cost = 0.0
        own = queues[k]
        while own and (not batch or cost < _BATCH_SECONDS):
            job = own.pop()
            c = self._lint_cost(job[0])
            batch.append(job)
            cost += c
            left[k] -= c
        if batch or len(queues) < 2:
            return batch
        victim = max((v for v in range(len(queues)) if v != k), key=left.__getitem__)
        best = None
        for job in queues[victim]:
            c = self._lint_cost(job[0])
            here = c + self._reparse_cost(job[0])
            if here <= left[victim] - c and c / here >= _WORTH_STEALING and (best is None or c / here > best[0]):
                best = (c / here, job, c)
        if best is None:
            return batch
        _, job, c = best
        queues[victim].remove(job)
        left[victim] -= c
        return [job]

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
