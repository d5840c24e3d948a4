"""What `check` prints: severities counted, full/concise, colour, statistics,
--show-fixes, a closed pipe, progress only on a terminal, shell completion."""

import json
import os
import pty
import select
import subprocess
import sys

import pytest

from cli_support import BAD, GOOD, WARN, freezelint


def test_summary_counts_each_severity(run_cli, tmp_path):
    (tmp_path / "a.py").write_text(BAD)
    (tmp_path / "b.py").write_text(WARN)
    code, out, err = run_cli("check", str(tmp_path))
    assert code == 1 and "FRZ101" in out and "FRZ001" in out
    assert "Found 1 error and 1 warning." in err


def test_summary_only_warnings(run_cli, tmp_path):
    (tmp_path / "b.py").write_text(WARN)
    assert "Found 1 warning." in run_cli("check", str(tmp_path))[2]


def test_full_format_shows_source_and_caret(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    code, out, _ = run_cli("check", "m.py", "--output-format", "full", cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0].startswith("m.py:4:1: FRZ001 [*] ")
    assert "4 | model.requires_grad = False" in out and "3 | model = nn.Linear(4, 2)" in out
    caret = next(line for line in lines if "^" in line)
    assert caret.endswith("^" * len("model.requires_grad") + " FRZ001")
    src_line = next(line for line in lines if line.startswith("4 |"))
    assert caret.index("^") == src_line.index("model")  # the caret sits under the span
    assert any(line.strip().startswith("= help:") for line in lines)


def test_concise_is_one_line_per_finding_and_text_is_its_alias(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    concise = run_cli("check", "m.py", "--output-format", "concise", cwd=tmp_path)[1]
    assert concise == run_cli("check", "m.py", "--output-format", "text", cwd=tmp_path)[1]
    assert len(concise.splitlines()) == 1


def test_default_format_is_concise_in_a_pipe(tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    res = freezelint("check", "m.py", cwd=tmp_path)
    assert res.returncode == 1 and len(res.stdout.splitlines()) == 1 and "\x1b[" not in res.stdout


@pytest.mark.parametrize(
    "args, env, colored",
    [
        ([], {}, False),  # a pipe
        ([], {"FORCE_COLOR": "1"}, True),
        (["--color", "always"], {}, True),
        (["--color", "always"], {"NO_COLOR": "1"}, True),  # the flag wins
        (["--color", "never"], {"FORCE_COLOR": "1"}, False),
        ([], {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins over FORCE_COLOR
    ],
)
def test_color_choice(tmp_path, args, env, colored):
    (tmp_path / "m.py").write_text(BAD)
    base = {k: "" for k in ("FORCE_COLOR", "NO_COLOR")}
    res = freezelint("check", "m.py", *args, cwd=tmp_path, env={**base, **env})
    assert ("\x1b[" in res.stdout) is colored, res.stdout


def test_statistics_as_json(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD + BAD.splitlines()[-1] + "\n" + "model.requires_grad_ = False\n")
    code, out, _ = run_cli("check", str(tmp_path), "--statistics", "--output-format", "json")
    assert code == 1
    assert json.loads(out) == [
        {"code": "FRZ001", "name": "module-requires-grad-attribute", "count": 2, "fixable": True, "fixable_count": 2},
        {"code": "FRZ002", "name": "requires-grad-method-overwritten", "count": 1, "fixable": True, "fixable_count": 1},
    ]


def test_show_fixes_lists_what_was_fixed(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD + "model.requires_grad_ = False\n")
    code, out, err = run_cli("check", "m.py", "--fix", "--show-fixes", cwd=tmp_path)
    assert code == 0
    assert "Fixed 2 findings:\n- m.py:\n    1 × FRZ001 (module-requires-grad-attribute)\n    1 × FRZ002" in err


def test_show_fixes_without_fix_shows_each_fix(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    out = run_cli("check", "m.py", "--show-fixes", "--output-format", "concise", cwd=tmp_path)[1]
    assert out.splitlines()[1].strip().startswith("= fix (safe): ")


def _closed_pipe_run(*args):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write, as `| head -1` after its line
    try:
        res = subprocess.run(
            [sys.executable, "-m", "freezelint", *args], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write_end)
    return res


@pytest.mark.parametrize("args", [["rules"], ["explain", "FRZ001"], ["check", "--stdin-filename", "x.py"]])
def test_closed_pipe_exits_quietly(args):
    res = _closed_pipe_run(*args) if args[0] != "check" else None
    if res is None:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            res = subprocess.run(
                [sys.executable, "-m", "freezelint", *args],
                input=BAD, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
            )
        finally:
            os.close(write_end)
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr
    assert res.returncode != 0


def _run_with_tty_stderr(args, cwd):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "freezelint", *args], cwd=cwd, stdout=subprocess.PIPE, stderr=slave,
        env=dict(os.environ, CI="", TERM="xterm"),
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    out = proc.stdout.read().decode()
    proc.wait(30)
    os.close(master)
    return proc.returncode, out, seen.decode(errors="replace")


def test_progress_on_a_terminal_only(tmp_path):
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text(BAD)
    code, out, tty_err = _run_with_tty_stderr(["check", "."], tmp_path)
    assert code == 1 and "files" in tty_err and "\r\x1b[2K" in tty_err  # shown, then erased
    assert "\x1b[2K" not in out  # stdout carries only findings
    piped = freezelint("check", ".", cwd=tmp_path)
    assert "files" not in piped.stderr and "\r" not in piped.stderr
    quiet = _run_with_tty_stderr(["check", ".", "-q"], tmp_path)[2]
    assert "files" not in quiet


def test_bash_completion_works(tmp_path):
    script = freezelint(env={"_FREEZELINT_COMPLETE": "bash_source"}, cwd=tmp_path)
    assert "_freezelint_completion" in script.stdout
    words = freezelint(
        env={"_FREEZELINT_COMPLETE": "bash_complete", "COMP_WORDS": "freezelint check --force-ex", "COMP_CWORD": "2"},
        cwd=tmp_path,
    )
    assert "--force-exclude" in words.stdout


def test_clean_run_with_full_format_prints_nothing(run_cli, tmp_path):
    (tmp_path / "m.py").write_text(GOOD)
    assert run_cli("check", "m.py", "--output-format", "full", cwd=tmp_path)[:2] == (0, "")


def test_default_format_is_full_on_a_terminal(tmp_path):
    (tmp_path / "m.py").write_text(BAD)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "freezelint", "check", "m.py", "--color", "never"],
        cwd=tmp_path, stdout=slave, stderr=subprocess.DEVNULL,
    )
    os.close(slave)
    seen = b""
    while select.select([master], [], [], 30)[0]:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(30)
    os.close(master)
    text = seen.decode().replace("\r\n", "\n")
    assert "4 | model.requires_grad = False" in text and "^" * len("model.requires_grad") + " FRZ001" in text


def test_internal_error_is_one_line_and_debug_gives_the_traceback(run_cli, tmp_path, monkeypatch):
    from freezelint.static.run import checker

    def boom(req):
        raise RuntimeError("boom")

    monkeypatch.setattr(checker, "run_check", boom)
    (tmp_path / "m.py").write_text(BAD)
    monkeypatch.delenv("FREEZELINT_DEBUG", raising=False)
    code, out, err = run_cli("check", str(tmp_path))
    assert code == 2 and err.strip().splitlines() == [
        "freezelint: error: internal error (set FREEZELINT_DEBUG=1 for a traceback, and please report it): RuntimeError: boom"
    ]
    monkeypatch.setenv("FREEZELINT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="boom"):
        run_cli("check", str(tmp_path))
