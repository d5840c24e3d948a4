"""`check --watch` re-lints when a file changes (watchfiles, the `watch` extra)."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from cli_support import BAD, GOOD

pytest.importorskip("watchfiles")


def _pump(stream, name, q):
    for line in iter(stream.readline, ""):
        q.put((name, line))


def _wait_for(q, text, timeout=30):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            name, line = q.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return seen
    raise AssertionError(f"{text!r} not seen in {seen!r}")


def test_watch_relints_on_change(tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    proc = subprocess.Popen(
        [sys.executable, "-m", "freezelint", "check", "--watch", "--output-format", "concise", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, CI="1"),
    )
    q = queue.Queue()
    for stream, name in ((proc.stdout, "out"), (proc.stderr, "err")):
        threading.Thread(target=_pump, args=(stream, name, q), daemon=True).start()
    try:
        _wait_for(q, "Found 1 error.")
        time.sleep(0.5)  # the watcher is set up after the first run
        f.write_text(GOOD)
        _wait_for(q, "All checks passed!")
        f.write_text(BAD)
        _wait_for(q, "m.py:4:1: FRZ001")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0


def test_watch_without_watchfiles_says_how_to_get_it(run_cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import fails as if not installed
    (tmp_path / "m.py").write_text(GOOD)
    code, _, err = run_cli("check", "--watch", str(tmp_path))
    assert code == 2 and 'pip install "freezelint[watch]"' in err
