"""`--fix` never corrupts a file: atomic writes that keep mode, owner, encoding,
BOM and line endings; never text that does not parse; never over a file that
changed since it was read; idempotent; and Ctrl-C leaves every file old or new."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import pytest

from freezelint.static.input.source import decode

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
GOOD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad_(False)\n"


def _tmp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".freezelint-"))


def test_fix_replaces_by_rename_not_in_place(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    inode = f.stat().st_ino
    code, _, _ = run_cli("check", "--no-cache", str(f), "--fix")
    assert code == 0 and f.read_text() == GOOD
    assert f.stat().st_ino != inode  # a new file renamed over the old one
    assert _tmp_files(tmp_path) == []


@pytest.mark.parametrize(
    "encoded_bad, encoded_good",
    [
        pytest.param(BAD.encode(), GOOD.encode(), id="utf8"),
        pytest.param(b"\xef\xbb\xbf" + BAD.encode(), b"\xef\xbb\xbf" + GOOD.encode(), id="bom"),
        pytest.param(BAD.replace("\n", "\r\n").encode(), GOOD.replace("\n", "\r\n").encode(), id="crlf"),
        pytest.param(BAD.replace("\n", "\r").encode(), GOOD.replace("\n", "\r").encode(), id="cr"),
        pytest.param(
            b"import torch.nn as nn\r\n\nmodel = nn.Linear(4, 2)\r\nmodel.requires_grad = False\n",
            b"import torch.nn as nn\r\n\nmodel = nn.Linear(4, 2)\r\nmodel.requires_grad_(False)\n",
            id="mixed",
        ),
        pytest.param(
            "# -*- coding: latin-1 -*-\n# café\n".encode("latin-1") + BAD.encode(),
            "# -*- coding: latin-1 -*-\n# café\n".encode("latin-1") + GOOD.encode(),
            id="latin1",
        ),
        pytest.param(
            b"s = '\x0c'\n\x0c\n" + "t = '\u2028'\n".encode() + BAD.encode(),
            b"s = '\x0c'\n\x0c\n" + "t = '\u2028'\n".encode() + GOOD.encode(),
            id="formfeed-and-u2028",  # str.splitlines() line breaks that Python does not count
        ),
    ],
)
def test_fix_keeps_encoding_bom_and_line_endings(run_cli, tmp_path, encoded_bad, encoded_good):
    f = tmp_path / "m.py"
    f.write_bytes(encoded_bad)
    code, _, _ = run_cli("check", "--no-cache", str(f), "--fix")
    assert code == 0
    assert f.read_bytes() == encoded_good


def test_fix_keeps_mode(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    os.chmod(f, 0o751)
    run_cli("check", "--no-cache", str(f), "--fix")
    assert f.read_text() == GOOD and (f.stat().st_mode & 0o7777) == 0o751


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="only root can give a file away")
def test_fix_keeps_owner(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    os.chown(f, 12345, 23456)
    run_cli("check", "--no-cache", str(f), "--fix")
    st = f.stat()
    assert f.read_text() == GOOD and (st.st_uid, st.st_gid) == (12345, 23456)


def test_fix_writes_through_a_symlink(run_cli, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "m.py"
    target.write_text(BAD)
    link = tmp_path / "link.py"
    os.symlink(target, link)
    code, _, _ = run_cli("check", "--no-cache", str(link), "--fix")
    assert code == 0
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert target.read_text() == GOOD
    assert _tmp_files(tmp_path) == [] and _tmp_files(real) == []


def _break_fixes(monkeypatch, content):
    """Make every fix the rules offer produce `content` instead of the right code."""
    from freezelint.static.run import engine

    real = engine.lint_text

    def lint_text(*args, **kwargs):
        out = []
        for f in real(*args, **kwargs):
            if f.fix is not None:
                edits = tuple(dataclasses.replace(e, content=content) for e in f.fix.edits)
                f = dataclasses.replace(f, fix=dataclasses.replace(f.fix, edits=edits))
            out.append(f)
        return out

    monkeypatch.setattr(engine, "lint_text", lint_text)


@pytest.mark.parametrize(
    "content",
    [
        "model.requires_grad_(False",  # does not parse at all
        "return model",  # libcst parses it, Python does not compile it
        "model.requires_grad_(False)\n    x = 1",  # an indentation error
    ],
)
def test_fix_that_would_break_the_file_is_not_written(run_cli, tmp_path, monkeypatch, content):
    _break_fixes(monkeypatch, content)
    f = tmp_path / "m.py"
    f.write_text(BAD)
    before = f.stat()
    code, out, err = run_cli("check", "--no-cache", str(f), "--fix")
    assert code == 1 and "FRZ001" in out  # the finding stays, unfixed
    assert f.read_text() == BAD and f.stat().st_mtime_ns == before.st_mtime_ns
    assert _tmp_files(tmp_path) == []


def test_file_changed_between_read_and_write_is_not_overwritten(run_cli, tmp_path, monkeypatch):
    from freezelint.static.fix import fixer

    f = tmp_path / "m.py"
    f.write_text(BAD)
    edited = BAD + "# the user saved this meanwhile\n"
    real_fix_text = fixer.fix_text

    def fix_text_while_user_edits(*args, **kwargs):
        result = real_fix_text(*args, **kwargs)
        f.write_text(edited)  # after we read it, before we write it
        return result

    monkeypatch.setattr("freezelint.static.run.checker.fix_text", fix_text_while_user_edits)
    code, out, err = run_cli("check", "--no-cache", str(f), "--fix")
    assert f.read_text() == edited
    assert f"freezelint: warning: {f}: changed on disk while fixing; not overwritten" in err
    assert code == 1 and "FRZ001" in out
    assert _tmp_files(tmp_path) == []


def test_file_deleted_between_read_and_write_is_not_recreated(run_cli, tmp_path, monkeypatch):
    from freezelint.static.fix import fixer

    f = tmp_path / "m.py"
    f.write_text(BAD)
    real_fix_text = fixer.fix_text

    def fix_text_then_delete(*args, **kwargs):
        result = real_fix_text(*args, **kwargs)
        f.unlink()
        return result

    monkeypatch.setattr("freezelint.static.run.checker.fix_text", fix_text_then_delete)
    code, out, err = run_cli("check", "--no-cache", str(f), "--fix")
    assert not f.exists()
    assert f"{f}: cannot write fix: No such file or directory" in err
    assert "Traceback" not in err


def test_fix_twice_changes_nothing_the_second_time(run_cli, tmp_path):
    files = {
        "a.py": BAD,
        "b.py": BAD.replace("\n", "\r\n"),
        "c.py": "import torch\nw = torch.zeros(3, require_grad=True)\n" + BAD,
    }
    for name, text in files.items():
        (tmp_path / name).write_bytes(text.encode())
    run_cli("check", "--no-cache", str(tmp_path), "--fix", "--unsafe-fixes")
    first = {n: ((tmp_path / n).read_bytes(), (tmp_path / n).stat().st_mtime_ns) for n in files}
    assert all(first[n][0] != files[n].encode() for n in files)  # each was fixed
    code, out, err = run_cli("check", "--no-cache", str(tmp_path), "--fix", "--unsafe-fixes")
    assert "Fixed" not in err
    assert {n: ((tmp_path / n).read_bytes(), (tmp_path / n).stat().st_mtime_ns) for n in files} == first


def test_check_without_fix_never_writes(run_cli, tmp_path):
    f = tmp_path / "m.py"
    f.write_text(BAD)
    before = (f.read_bytes(), f.stat().st_mtime_ns, f.stat().st_ino)
    for args in ([], ["--diff"], ["--unsafe-fixes"], ["--diff", "--fix"]):
        run_cli("check", "--no-cache", str(f), *args)
        assert (f.read_bytes(), f.stat().st_mtime_ns, f.stat().st_ino) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]


def test_sigint_mid_fix_leaves_every_file_old_or_new(tmp_path):
    """A real `freezelint check --fix` over many files, interrupted once it has written some."""
    import libcst

    n = 300
    filler = "".join(f"def helper_{i}(x):\n    return x * {i}\n\n\n" for i in range(60))  # a few ms of work per file
    old = BAD + "\n\n" + filler
    new = GOOD + "\n\n" + filler
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(n):
        (folder / f"m{i:03}.py").write_text(old)
    proc = subprocess.Popen(
        [sys.executable, "-m", "freezelint", "check", "--no-cache", "--fix", "-j", "1", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        names = [folder / f"m{i:03}.py" for i in range(n)]
        while proc.poll() is None and not any(p.read_text() == new for p in names[:8]):
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    texts = [p.read_text() for p in sorted(folder.iterdir())]
    assert len(texts) == n  # no temporary file left behind, none lost
    for text in texts:
        assert text in (old, new)
        libcst.parse_module(text)
        compile(text, "m.py", "exec")
    if proc.returncode == 0:
        pytest.skip("the run finished before the interrupt arrived")
    assert proc.returncode == 130 and b"freezelint: interrupted" in err and b"Traceback" not in err
    assert 0 < texts.count(new) < n


def test_write_atomic_refuses_text_the_encoding_cannot_hold(tmp_path):
    from freezelint.static.fix.fixer import write_atomic

    raw = "# -*- coding: latin-1 -*-\nx = 1\n".encode("latin-1")
    f = tmp_path / "m.py"
    f.write_bytes(raw)
    with pytest.raises(OSError, match="cannot be written back as iso-8859-1"):
        write_atomic(str(f), decode(raw), "# -*- coding: latin-1 -*-\nx = '\u4e2d'\n")
    assert f.read_bytes() == raw and _tmp_files(tmp_path) == []
