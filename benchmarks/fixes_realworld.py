"""Apply the statement fixes (FRZ101, FRZ106, FRZ107, FRZ201, FRZ203) to real code and check the result.

    python benchmarks/fixes_realworld.py [--realworld DIR] [--corpus DIR] [--work DIR] [--out FILE] [--only NAME ...]

Each repository tree (the judged repositories, `realworld_repos.json`'s folders, and the labelled
corpus, one folder per `owner+name@commit` of `CORPUS.tsv`) is linted from its root with those rules.
Its files with a fixable finding of them (`.py` and notebooks) are fixed in a COPY of the repository
(under --work, never in place) by one `freezelint check . --fix --unsafe-fixes --select <codes>`,
and the copy is linted again once. Per file: did it change, does it compile (a notebook: its code
cells, magics masked as the linter reads them), does the re-lint keep none of the findings that had
a fix (a finding without one may stay), and, where the original module imports with torch alone
(torch imported once, each module in a forked child, 60 s, no GPU), does the fixed one still import.
Three `freezelint check` runs per repository, whatever its number of files, all in this process
(the engine is imported once), and two importer processes (torch imported once in each). Writes `fixes_realworld.md`
(a section `realworld.py` includes in `REALWORLD.md`) and `<work>/rows.json`.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # this checkout's freezelint
CODES = ("FRZ101", "FRZ106", "FRZ107", "FRZ201", "FRZ203")
SELECT = ["--select", ",".join(CODES), "--no-cache", "--exit-zero", "--unsafe-fixes"]
COMMAND = "python benchmarks/fixes_realworld.py"

# One process imports torch, then imports each module in a forked child (sys.path: the repository
# root and the file's folder, as running it from the root would see), 60 s each; prints {file: ok}.
IMPORTER = r"""
import json, os, signal, sys, time, warnings
warnings.simplefilter("ignore")
import torch  # noqa: F401  (once, before the forks)
root, jobs, out = sys.argv[1], json.loads(sys.stdin.read()), {}
for rel, module in jobs:
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            sys.path[:0] = [root, os.path.join(root, os.path.dirname(rel))]
            sys.argv = [os.path.join(root, rel)]
            import importlib
            importlib.import_module(module)
            code = 0
        except BaseException:
            code = 1
        os._exit(code)
    deadline, status = time.monotonic() + 60, None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
        elif time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            status = -9
        else:
            time.sleep(0.02)
    out[rel] = status == 0
print(json.dumps(out))
"""


def freezelint(root: Path, *args: str) -> list:
    """One `freezelint check` run from `root` (JSON findings; [] if it printed none), in this process:
    the interpreter and the engine start once for the whole measurement, not once per run."""
    from click.testing import CliRunner

    from freezelint.cli import main

    here = os.getcwd()
    os.chdir(root)
    try:
        res = CliRunner().invoke(main, ["check", *args, "--output-format", "json", *SELECT])
    finally:
        os.chdir(here)
    try:
        return json.loads(res.stdout or "[]")
    except json.JSONDecodeError:
        print(f"{root}: freezelint {' '.join(args)}: no JSON ({res.exit_code}): {res.stdout[-300:]!r}", file=sys.stderr)
        return []


def by_file(repo: Path, findings: list) -> dict:
    """relative path -> findings of CODES there."""
    out = collections.defaultdict(list)
    for f in findings:
        if f["code"] in CODES:
            out[os.path.normpath(os.path.relpath(f["filename"], repo) if os.path.isabs(f["filename"]) else f["filename"])].append(f)
    return out


def module_of(rel: str) -> str:
    module = rel[:-3].replace(os.sep, ".")
    return module[: -len(".__init__")] if module.endswith(".__init__") else module


def imports(root: Path, rels: list) -> dict:
    """rel -> does its module import (torch alone; the forked importer above)."""
    jobs = [(rel, module_of(rel)) for rel in rels if rel.endswith(".py")]
    if not jobs:
        return {}
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", PYTHONDONTWRITEBYTECODE="1")
    try:
        res = subprocess.run(
            [sys.executable, "-c", IMPORTER, str(root)], input=json.dumps(jobs), cwd=root,
            capture_output=True, text=True, timeout=120 + 65 * len(jobs), env=env,
        )
        return json.loads(res.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError):
        return {}


def compiles(path: Path, rel: str) -> bool:
    """The file's Python compiles; a notebook's cells as the linter joins them (magics masked)."""
    from freezelint.static.run import engine
    from freezelint.static.input.source import SourceError

    try:
        text = engine.read_source(str(path), 1 << 30).text
        compile(text, rel, "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, SourceError):
        return False


def measure(repo: Path, work: Path, rows: list, unfixed: list = None) -> dict:
    """Fix a copy of `repo`; one row per file with a fixable finding (and to `unfixed`, each finding of
    these rules that has no fix). Returns the seconds per phase."""
    t = {"lint": time.perf_counter()}
    before = by_file(repo, freezelint(repo, "."))
    for rel, fs in sorted(before.items()):
        for f in fs:
            if not f.get("fix") and unfixed is not None:
                where = f"{f['cell']}:{f['location']['row']}" if f.get("cell") else f["location"]["row"]
                unfixed.append({"repo": repo.name, "file": rel, "line": where, "code": f["code"], "message": f["message"]})
    targets = {rel: fs for rel, fs in before.items() if any(f.get("fix") for f in fs)}
    t["lint"] = time.perf_counter() - t["lint"]
    if not targets:
        return t
    copy = work / repo.name
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git", ".freezelint-*"), symlinks=True)
    if (repo / ".git").exists():
        (copy / ".git").mkdir()  # a project marker, as in the repository
    t["import"] = time.perf_counter()
    imported_before = imports(copy, sorted(targets))
    t["import"] = time.perf_counter() - t["import"]
    t["fix"] = time.perf_counter()
    freezelint(copy, ".", "--fix")
    t["fix"] = time.perf_counter() - t["fix"]
    t["relint"] = time.perf_counter()
    after = by_file(copy, freezelint(copy, "."))
    t["relint"] = time.perf_counter() - t["relint"]
    new_rows = []
    for rel, fs in sorted(targets.items()):
        fixable = collections.Counter(f["code"] for f in fs if f.get("fix"))
        unfixable = collections.Counter(f["code"] for f in fs if not f.get("fix"))
        remaining = collections.Counter(f["code"] for f in after.get(rel, ()))
        left = {c: n for c, n in (remaining - unfixable).items() if n > 0}  # more than had no fix before
        original = (repo / rel).read_bytes()
        new_rows.append({
            "repo": repo.name, "file": rel, "fixable": dict(fixable), "left": left, "relints_clean": not left,
            "changed": (copy / rel).read_bytes() != original, "compiles": compiles(copy / rel, rel),
            "imports_before": bool(imported_before.get(rel)),
            "left_messages": [f"{f['code']} {f['location']['row']}: {f['message'][:160]}" for f in after.get(rel, ()) if f["code"] in left],
        })
    changed_elsewhere = [
        str(p.relative_to(copy)) for p in copy.rglob("*") if p.is_file() and p.suffix in (".py", ".ipynb")
        and str(p.relative_to(copy)) not in targets and p.read_bytes() != (repo / p.relative_to(copy)).read_bytes()
    ]
    if changed_elsewhere:  # a fix wrote to a file that had no fixable finding: say so
        print(f"{repo.name}: changed without a fixable finding: {changed_elsewhere}", file=sys.stderr)
    t["import"] -= time.perf_counter()
    imported_after = imports(copy, [r["file"] for r in new_rows if r["imports_before"]])
    t["import"] += time.perf_counter()
    for r in new_rows:
        r["imports_after"] = bool(imported_after.get(r["file"])) if r["imports_before"] else None
    rows.extend(new_rows)
    return t


def repositories(realworld: str, corpus: str, only) -> list:
    repos = []
    manifest = json.loads((HERE / "realworld_repos.json").read_text(encoding="utf-8"))
    if realworld:
        repos += [Path(realworld, e["folder"]) for e in manifest if Path(realworld, e["folder"]).is_dir()]
    if corpus and Path(corpus).is_dir():
        tsv = Path("/work/shared/realworld/CORPUS.tsv")
        names = None
        if tsv.exists():
            import csv

            with tsv.open(encoding="utf-8") as fh:
                names = {r["repo"].replace("/", "+") + "@" + r["commit"] for r in csv.DictReader(fh, delimiter="\t")}
        repos += sorted(p for p in Path(corpus).iterdir() if p.is_dir() and not p.name.startswith(".") and (names is None or p.name in names))
    return [r for r in repos if not only or r.name in only]


def report(rows: list, command: str, seconds: float, unfixed: list = ()) -> str:
    n = len(rows)
    by_code = collections.Counter()
    for r in rows:
        by_code.update(r["fixable"])
    no_fix = collections.Counter(u["code"] for u in unfixed)
    importable = [r for r in rows if r["imports_before"]]
    failed = [r for r in rows if not (r["changed"] and r["compiles"] and r["relints_clean"]) or r["imports_after"] is False]
    lines = [
        "## Statement fixes on real code (FRZ101, FRZ106, FRZ107, FRZ201, FRZ203)",
        "",
        f"`{command}` ({seconds / 60:.0f} min): every file of the 28 judged repositories and the labelled",
        "corpus with a fixable finding of these rules, fixed with `freezelint check . --fix --unsafe-fixes",
        "--select FRZ101,FRZ106,FRZ107,FRZ201,FRZ203` in a copy of its repository, then linted again. A",
        "file re-lints clean when no finding that had a fix is left (one without a fix may stay); it",
        "imports when its module imports with torch alone (most need their project's other dependencies).",
        "",
        "| files | changed | compile | re-lint clean | import before | still import |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {n} | {sum(r['changed'] for r in rows)} | {sum(r['compiles'] for r in rows)} | "
        f"{sum(r['relints_clean'] for r in rows)} | {len(importable)} | {sum(bool(r['imports_after']) for r in importable)} |",
        "",
        "Findings with a fix per rule: " + ", ".join(f"{c} {by_code[c]}" for c in CODES) + "; without one: "
        + ", ".join(f"{c} {no_fix[c]}" for c in CODES) + f" (listed below); "
        f"{len(failed)} file{'s' if len(failed) != 1 else ''} where a fix failed.",
        "",
        "| repository | file | fixable | compiles | left after | imports (before -> after) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        fx = ", ".join(f"{c} {k}" for c, k in sorted(r["fixable"].items()))
        left = ", ".join(f"{c} {k}" for c, k in sorted(r["left"].items())) or "-"
        imp = "-" if not r["imports_before"] else ("yes -> yes" if r["imports_after"] else "yes -> NO")
        comp = ("yes" if r["compiles"] else "NO") + ("" if r["changed"] else " (unchanged)")
        lines.append(f"| {r['repo']} | `{r['file']}` | {fx} | {comp} | {left} | {imp} |")
    if unfixed:
        lines += ["", "Findings of these rules with no fix (the repair is not one standard edit there):", ""]
        lines += [f"- {u['repo']} `{u['file']}:{u['line']}` {u['code']}: {u['message'][:200]}" for u in unfixed]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--realworld", default="/work/scratch/realworld")
    ap.add_argument("--corpus", default="/work/scratch/corpus")
    ap.add_argument("--work", default="/tmp/freezelint-fixes-realworld")
    ap.add_argument("--out", default=str(HERE / "fixes_realworld.md"))
    ap.add_argument("--only", nargs="*", help="these folders only (the report then covers them alone)")
    args = ap.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    rows: list = []
    unfixed: list = []
    start = time.perf_counter()
    phases = collections.Counter()
    for repo in repositories(args.realworld, args.corpus, args.only):
        if Path(os.path.realpath(work)).is_relative_to(os.path.realpath(repo)):
            raise SystemExit("--work must be outside the repositories")
        t = measure(repo, work, rows, unfixed)
        phases.update(t)
        n = sum(r["repo"] == repo.name for r in rows)
        print(f"{repo.name}: {n} files, " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()), file=sys.stderr)
    seconds = time.perf_counter() - start
    print(f"total {seconds:.0f}s: " + ", ".join(f"{k} {v:.0f}s" for k, v in phases.items()), file=sys.stderr)
    Path(args.work, "rows.json").write_text(json.dumps({"rows": rows, "unfixed": unfixed}, indent=1))
    command = COMMAND + (" --only " + " ".join(args.only) if args.only else "")
    Path(args.out).write_text(report(rows, command, seconds, unfixed), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
