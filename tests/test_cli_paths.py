"""Which input is linted: `--stdin-filename` alone reads stdin, `--force-exclude`
applies excludes to named files (pre-commit), a path named twice is linted once."""

import pytest

from cli_support import BAD, GOOD


def test_stdin_filename_alone_reads_stdin(run_cli, tmp_path):
    (tmp_path / "other.py").write_text(BAD)
    code, out, _ = run_cli("check", "--stdin-filename", "train.py", input=GOOD, cwd=tmp_path)
    assert (code, out) == (0, "")  # the folder's bad file is not linted
    code, out, _ = run_cli("check", "--stdin-filename", "train.py", input=BAD, cwd=tmp_path)
    assert code == 1 and out.startswith("train.py:4:1: FRZ001")


def test_stdin_filename_fix_never_touches_files_on_disk(run_cli, tmp_path):
    (tmp_path / "other.py").write_text(BAD)
    code, out, _ = run_cli("check", "--stdin-filename", "train.py", "--fix", input=BAD, cwd=tmp_path)
    assert out == GOOD and (tmp_path / "other.py").read_text() == BAD


def test_stdin_filename_with_paths_is_a_usage_error(run_cli, tmp_path):
    (tmp_path / "a.py").write_text(BAD)
    code, _, err = run_cli("check", str(tmp_path / "a.py"), "--stdin-filename", "x.py", input=BAD)
    assert code == 2 and "--stdin-filename" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def excluded_project(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.freezelint]\nextend-exclude = ["legacy", "gen_*.py"]\n')
    for rel in ("legacy/old.py", "legacy/deep/older.py", "src/gen_model.py", "src/train.py", "build/m.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(BAD)
    return tmp_path


def _files(out):
    return sorted({line.split(":")[0] for line in out.splitlines()})


def test_named_files_are_linted_without_force_exclude(run_cli, excluded_project):
    names = ["legacy/old.py", "legacy/deep/older.py", "build/m.py", "src/train.py"]
    out = run_cli("check", *names, cwd=excluded_project)[1]
    assert _files(out) == sorted(names)  # named files are linted although their folders are excluded


def test_force_exclude_applies_every_exclude_to_named_files(run_cli, excluded_project):
    names = ["legacy/old.py", "legacy/deep/older.py", "src/gen_model.py", "build/m.py", "src/train.py"]
    code, out, _ = run_cli("check", "--force-exclude", *names, cwd=excluded_project)
    assert code == 1 and _files(out) == ["src/train.py"]


def test_force_exclude_with_stdin_filename(run_cli, excluded_project):
    code, out, _ = run_cli("check", "--force-exclude", "--stdin-filename", "legacy/old.py", input=BAD, cwd=excluded_project)
    assert (code, out) == (0, "")
    code, out, _ = run_cli("check", "--force-exclude", "--stdin-filename", "legacy/old.py", "--fix", input=BAD, cwd=excluded_project)
    assert (code, out) == (0, BAD)  # passed through unchanged


def test_folder_above_the_project_does_not_exclude_it(run_cli, tmp_path):
    project = tmp_path / "build" / "proj"  # `build` is a default exclude, but above the project root
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("[tool.freezelint]\n")
    (project / "m.py").write_text(BAD)
    assert run_cli("check", "--force-exclude", str(project / "m.py"))[0] == 1


def test_same_path_twice_is_linted_once(run_cli, tmp_path):
    (tmp_path / "a.py").write_text(BAD)
    code, out, err = run_cli("check", "a.py", "./a.py", str(tmp_path / "a.py"), ".", cwd=tmp_path)
    assert code == 1 and len(out.splitlines()) == 1 and "Found 1 error." in err
