"""Apply the statement fixes (FRZ101, FRZ106, FRZ107, FRZ201, FRZ203) to real code and check the result.

    python benchmarks/fixes_realworld.py [--realworld DIR] [--corpus DIR] [--work DIR] [--out FILE]

Each repository tree (the judged repositories, `realworld_repos.json`'s folders, and the labelled
corpus, one folder per `owner+name@commit`) is linted from its root with those rules. Every file
with a fixable finding of them is fixed with `--fix --unsafe-fixes` in a COPY of its repository
(under --work, never in place), then: does it compile, does it lint again without those fixable
findings, and, where the original module imports with torch alone (a subprocess, 60 s, no GPU),
does the fixed one still import. Writes the section `benchmarks/fixes_realworld.md`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CODES = ("FRZ101", "FRZ106", "FRZ107", "FRZ201", "FRZ203")
SELECT = ["--select", ",".join(CODES), "--no-cache", "--exit-zero"]
IMPORT = (
    "import importlib, sys, warnings; warnings.simplefilter('ignore'); sys.path[:0] = [sys.argv[1], sys.argv[2]]; "
    "importlib.import_module(sys.argv[3])"
)


def freezelint(root: Path, *args: str):
    out = subprocess.run(
        [sys.executable, "-m", "freezelint", "check", *args, "--output-format", "json", *SELECT],
        cwd=root, capture_output=True, text=True, timeout=900,
    )
    try:
        return json.loads(out.stdout or "[]")
    except json.JSONDecodeError:
        return []


def fixable(findings) -> collections.Counter:
    return collections.Counter(f["code"] for f in findings if f["code"] in CODES and f.get("fix"))


def imports(root: Path, rel: str) -> bool:
    module = rel[:-3].replace(os.sep, ".")
    if module.endswith(".__init__"):
        module = module[: -len(".__init__")]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONDONTWRITEBYTECODE="1")
    try:
        res = subprocess.run(
            [sys.executable, "-c", IMPORT, str(root), str((root / rel).parent), module],
            cwd=root, capture_output=True, timeout=60, env=env, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return False
    return res.returncode == 0


def measure(repo: Path, work: Path, rows: list) -> None:
    found = freezelint(repo, "--unsafe-fixes", ".")
    by_file = collections.defaultdict(list)
    for f in found:
        by_file[f["filename"]].append(f)
    targets = {p: fixable(fs) for p, fs in by_file.items() if fixable(fs) and p.endswith(".py")}
    if not targets:
        return
    copy = work / repo.name
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git", ".freezelint-realworld"), symlinks=True)
    for path, before in sorted(targets.items()):
        rel = os.path.normpath(os.path.relpath(path, repo) if os.path.isabs(path) else path)
        row = {"repo": repo.name, "file": rel, "fixable": dict(before)}
        row["imports_before"] = imports(copy, rel)
        subprocess.run(
            [sys.executable, "-m", "freezelint", "check", rel, "--fix", "--unsafe-fixes", *SELECT],
            cwd=copy, capture_output=True, timeout=900,
        )
        text = (copy / rel).read_text(encoding="utf-8", errors="surrogateescape")
        original = (repo / rel).read_text(encoding="utf-8", errors="surrogateescape")
        row["changed"] = text != original
        try:
            compile(text, rel, "exec", dont_inherit=True)
            row["compiles"] = True
        except (SyntaxError, ValueError):
            row["compiles"] = False
        after = fixable(freezelint(copy, "--unsafe-fixes", rel))
        row["left"] = dict(after)
        row["relints_clean"] = not after
        row["imports_after"] = imports(copy, rel) if row["imports_before"] else None
        rows.append(row)


def report(rows: list, command: str) -> str:
    n = len(rows)
    by_code = collections.Counter()
    for r in rows:
        by_code.update(r["fixable"])
    importable = [r for r in rows if r["imports_before"]]
    lines = [
        "## Statement fixes on real code (FRZ101, FRZ106, FRZ107, FRZ201, FRZ203)",
        "",
        f"`{command}`: every `.py` file of the judged repositories and the labelled corpus with a fixable",
        "finding of these rules, fixed with `--fix --unsafe-fixes` in a copy of its repository.",
        "",
        "| files | changed | compile | re-lint without those findings | import before | still import |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {n} | {sum(r['changed'] for r in rows)} | {sum(r['compiles'] for r in rows)} | "
        f"{sum(r['relints_clean'] for r in rows)} | {len(importable)} | {sum(bool(r['imports_after']) for r in importable)} |",
        "",
        "Fixable findings per rule: " + ", ".join(f"{c} {by_code[c]}" for c in CODES) + ".",
        "",
        "| repository | file | fixable | compiles | left after | imports (before -> after) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        fx = ", ".join(f"{c} {k}" for c, k in sorted(r["fixable"].items()))
        left = ", ".join(f"{c} {k}" for c, k in sorted(r["left"].items())) or "-"
        imp = "-" if not r["imports_before"] else ("yes -> yes" if r["imports_after"] else "yes -> NO")
        lines.append(f"| {r['repo']} | `{r['file']}` | {fx} | {'yes' if r['compiles'] else 'NO'} | {left} | {imp} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realworld", default="/work/scratch/realworld")
    ap.add_argument("--corpus", default="/work/scratch/corpus")
    ap.add_argument("--work", default="/tmp/freezelint-fixes-realworld")
    ap.add_argument("--out", default=str(HERE / "fixes_realworld.md"))
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    repos = []
    for folder in (args.realworld, args.corpus):
        if folder and Path(folder).is_dir():
            repos += sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith("."))
    rows: list = []
    for repo in repos:
        if Path(os.path.realpath(work)).is_relative_to(os.path.realpath(repo)):
            raise SystemExit("--work must be outside the repositories")
        measure(repo, work, rows)
        print(f"{repo.name}: {sum(r['repo'] == repo.name for r in rows)} files", file=sys.stderr)
    Path(args.work, "rows.json").write_text(json.dumps(rows, indent=1))
    Path(args.out).write_text(report(rows, "python benchmarks/fixes_realworld.py"), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
