"""Hostile files: each one gets a one-line FRZ000 with its reason, the rest of the
run goes on (a normal file next to it is still linted), and the exit code is 2.

Files that are odd but valid (BOM, CRLF, mixed endings, tabs, non-ASCII names)
are linted normally, with the right line numbers. Every case runs twice with a
result cache, so a warm cache reports exactly the same thing.
"""

import os
import re
import sys

import pytest

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
TRIGGER = "import torch.nn as nn\nm = nn.Linear(2, 2)\nm.requires_grad = False\n"  # makes the rules parse the file
FRZ001_LINE = "FRZ001 [*] `model.requires_grad = False`"


@pytest.fixture
def check(run_cli, tmp_path, monkeypatch):
    """Run `check --select ALL` over a project folder twice (cold, then warm cache); both runs must agree."""
    monkeypatch.setenv("FREEZELINT_CACHE_DIR", str(tmp_path / "cache"))

    def run(folder, *args):
        first = run_cli("check", "--select", "ALL", *args, str(folder))
        second = run_cli("check", "--select", "ALL", *args, str(folder))
        assert second[:2] == first[:2], "a warm cache changed the result"
        return first

    return run


@pytest.fixture
def project(tmp_path):
    d = tmp_path / "proj"
    d.mkdir()
    (d / "ok.py").write_text(BAD)
    return d


def _frz000(out, path):
    """The one FRZ000 line for `path` as (line, col, reason)."""
    lines = [ln for ln in out.splitlines() if ln.startswith(f"{path}:") and " FRZ000 " in ln]
    assert len(lines) == 1, out
    m = re.fullmatch(re.escape(str(path)) + r":(\d+):(\d+): FRZ000 (.+)", lines[0])
    assert m, lines[0]
    return int(m.group(1)), int(m.group(2)), m.group(3)


def _assert_rest_linted(out, project):
    assert f"{project / 'ok.py'}:4:1: {FRZ001_LINE}" in out


# (file name, bytes, expected line, col, reason pattern)
ERROR_FILES = [
    ("syntax.py", b"x = 1\ndef f(:\n    pass\n", 2, 7, r"syntax error: invalid syntax"),
    ("syntax_trigger.py", TRIGGER.encode() + b"def f(:\n", 4, 7, r"syntax error: invalid syntax"),
    (
        "latin1.py",
        b"x = 1\ny = '\xe9t\xe9'\n",
        2,
        1,
        re.escape("not valid UTF-8: byte 0xe9 cannot be decoded (declare the encoding with a `# -*- coding: ... -*-` line or re-save as UTF-8)"),
    ),
    ("bad_cookie.py", b"# -*- coding: klingon -*-\nx = 1\n", 1, 1, r"cannot determine encoding: unknown encoding: klingon"),
    ("bom_cookie.py", b"\xef\xbb\xbf# -*- coding: latin-1 -*-\nx = 1\n", 1, 1, r"UTF-8 BOM conflicts with the file's coding cookie"),
    ("nul.py", b"x = 1\ny = 2\x00\n", 2, 1, r"source contains a NUL byte"),
    ("utf16.py", "x = 1\n".encode("utf-16"), 1, 1, r"source contains a NUL byte"),
    (
        "mixed_tabs.py",
        b"if True:\n\tx = 1\n        y = 2\n",
        3,
        1,
        r"syntax error: inconsistent use of tabs and spaces in indentation",
    ),
    # Deep nesting: these used to kill the process (SIGSEGV in libcst's native parser).
    ("deep_unary.py", TRIGGER.encode() + b"x = " + b"-" * 100_000 + b"1\n", 1, 1, r"expression nesting too deep to parse"),
    ("deep_not.py", TRIGGER.encode() + b"x = " + b"not " * 20_000 + b"1\n", 1, 1, r"expression nesting too deep to parse"),
    (
        "deep_parens.py",
        TRIGGER.encode() + b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n",
        4,
        205,
        r"syntax error: too many nested parentheses",
    ),
    ("deep_lists.py", b"x = " + b"[" * 3000 + b"]" * 3000 + b"\n", 1, 205, r"syntax error: too many nested parentheses"),
]


@pytest.mark.parametrize("body", [b"return 1\n", b"print(a=1, a=2)\n", b"def f():\n    nonlocal q\n"])
def test_what_only_the_compiler_refuses_is_still_analysed(check, project, body):
    """The parser accepts these and gives a tree every rule can read: the file's freezing mistakes
    are reported, and no FRZ000 (the compiler's errors are general lints, ruff's F706 and friends)."""
    (project / "compile_only.py").write_bytes(TRIGGER.encode() + body)
    code, out, err = check(project)
    assert code == 1 and " FRZ000 " not in out
    assert f"{project / 'compile_only.py'}:3:1: FRZ001" in out
    _assert_rest_linted(out, project)


@pytest.mark.parametrize("name, data, line, col, reason", ERROR_FILES, ids=[c[0] for c in ERROR_FILES])
def test_unreadable_or_unparsable_file_is_frz000(check, project, name, data, line, col, reason):
    (project / name).write_bytes(data)
    code, out, err = check(project)
    assert code == 2
    assert _frz000(out, project / name)[:2] == (line, col)
    assert re.fullmatch(reason, _frz000(out, project / name)[2])
    _assert_rest_linted(out, project)
    assert "Traceback" not in err


def test_twenty_megabyte_file_is_skipped_with_the_limit_named(check, project):
    big = project / "generated.py"
    with open(big, "wb") as fh:
        fh.write(TRIGGER.encode())
        chunk = b"x = 1  # generated\n" * 50_000
        while fh.tell() < 20_000_000:
            fh.write(chunk)
    size = big.stat().st_size
    code, out, _ = check(project)
    assert code == 2
    assert _frz000(out, big) == (
        1,
        1,
        f"file is {size / 1e6:.1f} MB, over the 2.1 MB limit (raise `max-file-size` in [tool.freezelint] to lint it)",
    )
    _assert_rest_linted(out, project)


@pytest.mark.slow
def test_long_attribute_chain_is_analysed(check, project):
    # 5000 chained attributes: CPython's parser takes them in stride (libcst took minutes), so the file is linted.
    (project / "chain.py").write_text(TRIGGER + "x = a" + ".b" * 5000 + "\n")
    code, out, _ = check(project)
    assert f"{project / 'chain.py'}:3:1: FRZ001" in out
    assert f"{project / 'chain.py'}:1:1: FRZ000" not in out


def test_recursion_in_the_analysis_is_a_per_file_diagnostic(run_cli, tmp_path):
    import sys

    from freezelint.static.run import engine
    from freezelint.static.input.source import Source

    text = TRIGGER + "x = a" + ".b" * 400 + "\nx.requires_grad = False\n"  # asking what `x` is recurses
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        res = engine.lint_source(str(tmp_path / "chain.py"), Source(text), frozenset({"FRZ001"}))
    finally:
        sys.setrecursionlimit(limit)
    assert res.error and [f.message for f in res.findings] == ["expression nesting too deep to analyse"]


def test_directory_named_like_a_python_file(check, project):
    pkg = project / "weird.py"
    (pkg / "inner").mkdir(parents=True)
    (pkg / "inner" / "m.py").write_text(BAD)
    code, out, _ = check(project)
    assert code == 2
    assert _frz000(out, pkg) == (1, 1, "is a directory, not a Python file")
    assert f"{pkg / 'inner' / 'm.py'}:4:1: {FRZ001_LINE}" in out  # its contents are still linted
    _assert_rest_linted(out, project)


def test_directory_named_like_a_python_file_on_the_command_line(run_cli, tmp_path):
    pkg = tmp_path / "named.py"
    pkg.mkdir()
    (pkg / "m.py").write_text(BAD)
    code, out, _ = run_cli("check", "--no-cache", str(pkg))
    assert code == 2
    assert _frz000(out, pkg) == (1, 1, "is a directory, not a Python file")
    assert f"{pkg / 'm.py'}:4:1: {FRZ001_LINE}" in out


def test_broken_symlink(check, project):
    os.symlink(project / "nowhere.py", project / "dangling.py")
    code, out, _ = check(project)
    assert code == 2
    assert _frz000(out, project / "dangling.py") == (1, 1, "file not found (deleted, or a broken symlink)")
    _assert_rest_linted(out, project)


def test_symlink_loop(check, project):
    os.symlink(project / "loop_b.py", project / "loop_a.py")
    os.symlink(project / "loop_a.py", project / "loop_b.py")
    os.symlink(project, project / "self_dir")  # a folder link back up: not followed, no endless walk
    code, out, _ = check(project)
    assert code == 2
    for name in ("loop_a.py", "loop_b.py"):
        assert _frz000(out, project / name) == (1, 1, "cannot read: Too many levels of symbolic links")
    assert "self_dir" not in out
    _assert_rest_linted(out, project)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_file_without_read_permission(check, project):
    f = project / "secret.py"
    f.write_text(BAD)
    f.chmod(0)
    try:
        code, out, _ = check(project)
    finally:
        f.chmod(0o644)
    assert code == 2
    assert _frz000(out, f) == (1, 1, "permission denied")
    _assert_rest_linted(out, project)


def test_file_without_read_permission_simulated(check, project, monkeypatch):
    """The same as above where the suite runs as root: `open` fails the way it would for a user."""
    from freezelint.static.run import engine

    f = project / "secret.py"
    f.write_text(BAD)
    real_open = open

    def guarded_open(path, *args, **kwargs):
        if os.path.basename(str(path)) == "secret.py":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(engine, "open", guarded_open, raising=False)
    code, out, _ = check(project)
    assert code == 2
    assert _frz000(out, f) == (1, 1, "permission denied")
    _assert_rest_linted(out, project)


def test_file_deleted_between_discovery_and_reading(run_cli, project, monkeypatch):
    from freezelint.static.run import checker

    victim = project / "gone.py"
    victim.write_text(BAD)
    real_discover = checker.discover

    def discover_then_delete(*args, **kwargs):
        yield from real_discover(*args, **kwargs)
        victim.unlink(missing_ok=True)  # after discovery (of the linted paths, then of the project), before anything reads it

    monkeypatch.setattr(checker, "discover", discover_then_delete)
    code, out, err = run_cli("check", "--no-cache", str(project))
    assert code == 2
    assert _frz000(out, victim) == (1, 1, "file not found (deleted, or a broken symlink)")
    _assert_rest_linted(out, project)


def test_file_deleted_between_indexing_and_linting(run_cli, project, monkeypatch):
    """Workers read files again to lint them: a file gone by then is FRZ000 too."""
    from freezelint.static.run import engine

    victim = project / "gone.py"
    victim.write_text(BAD)
    real_summarize = engine.summarize_text

    def summarize_then_delete(text):
        summary = real_summarize(text)
        if victim.exists() and text == victim.read_text():
            victim.unlink()
        return summary

    monkeypatch.setattr(engine, "summarize_text", summarize_then_delete)
    code, out, _ = run_cli("check", "--no-cache", "-j", "1", str(project))
    assert code == 2
    assert _frz000(out, victim) == (1, 1, "file not found (deleted, or a broken symlink)")


def test_rule_that_crashes_is_frz000_for_that_file_only(check, project, monkeypatch):
    from freezelint.static.rules.api.frz001_module_requires_grad_attribute import ModuleRequiresGradAttribute

    real = ModuleRequiresGradAttribute.visit_Assign

    def explode(self, node):
        if self.ctx.path.endswith("crash.py"):
            raise RuntimeError("boom\nsecond line")
        return real(self, node)

    monkeypatch.setattr(ModuleRequiresGradAttribute, "visit_Assign", explode)
    (project / "crash.py").write_text(BAD)
    code, out, err = check(project)
    assert code == 2
    # the rule, and the statement it was looking at, are named
    line, col, reason = _frz000(out, project / "crash.py")
    assert reason == (
        f"internal error in FRZ001 at {line}:{col} (please report it; FREEZELINT_DEBUG=1 shows the traceback): "
        "RuntimeError: boom"
    )
    assert (line, col) != (1, 1)
    _assert_rest_linted(out, project)
    assert "Traceback" not in err


def test_rule_crash_with_freezelint_debug_raises(monkeypatch, tmp_path):
    from freezelint.static.run import engine
    from freezelint.static.rules.api.frz001_module_requires_grad_attribute import ModuleRequiresGradAttribute
    from freezelint.static.input.source import Source

    def explode(self, node):
        raise RuntimeError("boom")

    monkeypatch.setattr(ModuleRequiresGradAttribute, "visit_Assign", explode)
    monkeypatch.setenv("FREEZELINT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        engine.lint_source(str(tmp_path / "x.py"), Source(BAD), frozenset({"FRZ001"}))


# -- odd but valid: linted normally --------------------------------------------


@pytest.mark.parametrize(
    "name, data, line",
    [
        ("bom.py", b"\xef\xbb\xbf" + BAD.encode(), 4),
        ("crlf.py", BAD.replace("\n", "\r\n").encode(), 4),
        ("cr_only.py", BAD.replace("\n", "\r").encode(), 4),
        ("mixed_endings.py", b"import torch.nn as nn\r\n\nmodel = nn.Linear(4, 2)\r\nmodel.requires_grad = False\n", 4),
        ("tabs.py", b"import torch.nn as nn\nif True:\n\tmodel = nn.Linear(4, 2)\n\tmodel.requires_grad = False\n", 4),
        ("formfeed.py", b"import torch.nn as nn\n\x0c\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n", 4),
        ("u2028.py", "s = '\u2028'\nimport torch.nn as nn\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n".encode(), 4),
        ("latin1_cookie.py", b"# -*- coding: latin-1 -*-\n# caf\xe9\nimport torch.nn as nn\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n", 5),
        ("ünïcödé_路径.py", BAD.encode(), 4),
    ],
)
def test_odd_but_valid_files_are_linted(check, project, name, data, line):
    f = project / name
    f.write_bytes(data)
    code, out, _ = check(project)
    assert code == 1, out
    assert " FRZ000 " not in out
    col = 2 if name == "tabs.py" else 1
    assert f"{f}:{line}:{col}: {FRZ001_LINE}" in out
    _assert_rest_linted(out, project)


@pytest.mark.skipif(sys.platform != "linux", reason="needs a filesystem that takes any bytes in names")
def test_undecodable_file_name(run_cli, project, tmp_path):
    name = os.fsdecode(b"caf\xe9_\xff.py")
    (project / name).write_text(BAD)
    report = tmp_path / "report.txt"
    code, out, _ = run_cli("check", "--no-cache", str(project), "-o", str(report))
    assert code == 1
    body = report.read_bytes()
    # the name comes back as the bytes it has on disk
    assert os.fsencode(str(project / name)) + b":4:1: FRZ001" in body
    code, out, _ = run_cli("check", "--no-cache", "--output-format", "json", str(project))
    assert code == 1 and out.count('"code": "FRZ001"') == 2


def test_long_operator_chain_is_linted(run_cli, tmp_path):
    """A generated file with a 2,500-term chain is parsed and linted like any other (no FRZ000)."""
    chain = "+".join(["w"] * 2500)
    (tmp_path / "generated.py").write_text(f"import torch.nn as nn\nm = nn.Linear(1, 1)\nm.requires_grad = False\nw = 1\nx = {chain}\n")
    (tmp_path / "ok.py").write_text("import torch.nn as nn\nm = nn.Linear(1, 1)\nm.requires_grad = False\ndata = [" + ", ".join(["-1.5"] * 3000) + "]\n")
    code, out, _ = run_cli("check", str(tmp_path), "--no-cache", "-j", "1")
    lines = out.splitlines()
    assert code == 1
    assert lines[0].startswith(f"{tmp_path / 'generated.py'}:3:1: FRZ001")
    assert lines[1].startswith(f"{tmp_path / 'ok.py'}:3:1: FRZ001")


def test_file_that_grows_after_the_size_check_is_not_read_past_the_limit(tmp_path, monkeypatch):
    import os

    from freezelint.static.run import engine
    from freezelint.static.input.source import SourceError

    f = tmp_path / "grows.py"
    f.write_text("x = 1\n" * 100)
    real_getsize = os.path.getsize
    calls = []

    def getsize_then_grow(path):
        size = real_getsize(path)
        if not calls:
            f.write_text("x = 1\n" * 10_000)  # grows between the check and the read
        calls.append(size)
        return size

    monkeypatch.setattr(engine.os.path, "getsize", getsize_then_grow)
    with pytest.raises(SourceError, match="over the 0.0 MB limit"):
        engine.read_source(str(f), max_size=1000)
