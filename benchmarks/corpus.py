"""Score the static pass on the labelled corpus of real bugs and correct look-alikes.

    python benchmarks/corpus.py [--repos DIR] [--tsv CORPUS.tsv] [--jobs N] [--only REPO ...] [--no-lint]

`CORPUS.tsv` (default: `shared/realworld/CORPUS.tsv` beside this checkout) labels lines of public
repositories: `bug` rows (a real freezing mistake), `ok` rows (correct code a careless linter would
flag), `either` (not scored). Lay the repositories out first with
`shared/realworld/build_repos.sh DIR MIRROR CORPUS.tsv` (one `owner+name@commit` folder each).

Each repository is linted whole from its root with the default rules, as its users would
(`freezelint check . --output-format json --no-cache --exit-zero`, the same run as
`realworld.py`). A `bug` row is found when a finding lands within 3 lines of its line (scope
`file`: anywhere in its file); an `ok` row is flagged when a finding lands within 3 lines.
Notebook rows give the line of the notebook's JSON text: a finding's cell and line are mapped there.

Writes `benchmarks/corpus_scores.md` (per-kind table, every row with the findings near it), which
`realworld.py` includes in `REALWORLD.md`, and re-renders `REALWORLD.md` from its kept results.
Results per repository are kept under `<repos>/.freezelint-corpus/` so `--only` re-lints a few.
Exit 0; bad input exits 2 with one line.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import realworld  # noqa: E402  (the shared lint run and engine id)

DEFAULT_TSV = HERE.parent.parent / "shared" / "realworld" / "CORPUS.tsv"
RESULTS_DIR = ".freezelint-corpus"
NEAR = 3


InputError = realworld.InputError  # bad input: one line, exit 2


def load_rows(path: Path) -> list:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    need = {"repo", "path", "commit", "line", "group", "kind", "scope"}
    if rows and not need <= set(rows[0]):
        raise InputError(f"{path} lacks columns: {', '.join(sorted(need - set(rows[0])))}")
    for i, row in enumerate(rows, 2):
        try:
            row["line"] = int(row["line"])
        except (TypeError, ValueError):
            raise InputError(f"{path}:{i}: line {row.get('line')!r} is not a number") from None
    return rows


def folder_of(repo: str, commit: str) -> str:
    return f"{repo.replace('/', '+')}@{commit}"


def notebook_source_lines(text: str) -> dict:
    """(cell number from 1, line in the cell from 1) -> line of the notebook's JSON text.

    Notebooks are written one source string per JSON line: the k-th `"source": [` line opens
    the k-th cell's lines (a one-line `"source": "..."` is that cell's only line)."""
    table, cell = {}, 0
    lines = text.splitlines()
    for i, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped.startswith('"source":'):
            continue
        cell += 1
        if stripped.endswith("["):
            for k in range(1, len(lines) - i + 1):
                if lines[i + k - 1].strip().startswith("]"):
                    break
                table[(cell, k)] = i + k
        else:
            table[(cell, 1)] = i
    return table


def finding_line(root: Path, finding: dict, cache: dict):
    """The finding's line in the file's own text (notebook cell lines mapped to JSON lines)."""
    line = finding["line"]
    if not isinstance(line, str):
        return line
    cell, _, row = line.partition(":")
    path = finding["path"]
    if path not in cache:
        try:
            cache[path] = notebook_source_lines((root / path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            cache[path] = {}
    return cache[path].get((int(cell), int(row)))


def score(rows: list, results: dict, repos_dir: Path) -> list:
    """Each row with `hit` (a finding near it, or in its file for scope `file`) and the findings that count."""
    scored = []
    caches = collections.defaultdict(dict)
    for row in rows:
        folder = folder_of(row["repo"], row["commit"])
        res = results.get(folder)
        if res is None:
            scored.append({**row, "hit": None, "near": [], "why": "not measured"})
            continue
        near = []
        for f in res["findings"]:
            if f["path"] != row["path"] or f["code"] == "FRZ000":
                continue
            line = finding_line(repos_dir / folder, f, caches[folder])
            in_file = row["scope"] == "file" and row["group"] == "bug"
            if in_file or (line is not None and abs(line - row["line"]) <= NEAR):
                near.append({**f, "raw_line": line})
        scored.append({**row, "hit": bool(near), "near": near, "why": res.get("error") or ""})
    return scored


def render(command: str, scored: list, engine: str) -> str:
    per_kind = collections.defaultdict(collections.Counter)
    for r in scored:
        if r["group"] not in ("bug", "ok"):
            continue
        c = per_kind[r["kind"]]
        c[r["group"]] += 1
        c[r["group"] + "_hit"] += bool(r["hit"])
    bugs = [r for r in scored if r["group"] == "bug"]
    oks = [r for r in scored if r["group"] == "ok"]
    found, flagged = sum(bool(r["hit"]) for r in bugs), sum(bool(r["hit"]) for r in oks)
    pct = 100.0 * found / len(bugs) if bugs else 0.0
    out = ["## Corpus: real bugs and correct look-alikes", "",
           f"`shared/realworld/CORPUS.tsv`: {len(bugs)} bugs and {len(oks)} correct rows in "
           f"{len({r['repo'] for r in scored})} repositories, each repository linted whole from its root with "
           "the default rules. A bug is found when a finding lands within 3 lines of its line (scope `file`: "
           "anywhere in its file); a correct row is flagged when a finding lands within 3 lines.", "",
           f"Produced by: `{command}`  ", f"freezelint: {engine or '-'}", "",
           f"**Bugs found: {found} of {len(bugs)} ({pct:.0f}%). Correct rows flagged: {flagged} of {len(oks)}.**", "",
           "| kind | bugs | found | correct rows | flagged |", "| --- | --- | --- | --- | --- |"]
    for kind in sorted(per_kind, key=lambda k: (-per_kind[k]["bug"], -per_kind[k]["ok"], k)):
        c = per_kind[kind]
        out.append(f"| {kind} | {c['bug'] or ''} | {c['bug_hit'] if c['bug'] else ''} | "
                   f"{c['ok'] or ''} | {c['ok_hit'] if c['ok'] else ''} |")
    out += ["", "### Rows", "", "Found / missed bugs and flagged / silent correct rows, with the findings that count.", ""]
    for r in sorted(scored, key=lambda r: (r["group"], r["kind"], r["repo"], r["path"], r["line"])):
        if r["group"] not in ("bug", "ok"):
            continue
        state = ("found" if r["hit"] else "MISSED") if r["group"] == "bug" else ("FLAGGED" if r["hit"] else "silent")
        if r["hit"] is None:
            state = f"not measured ({r['why']})"
        codes = ", ".join(sorted({f"{f['code']}@{f['raw_line']}" for f in r["near"]}))
        shared = ""
        if r["group"] == "ok" and r["hit"]:  # a finding that is also a bug row's own finding (rows 3 lines apart)
            bug_lines = sorted({b["line"] for b in bugs if b["hit"] and b["repo"] == r["repo"] and b["path"] == r["path"]
                                and any(f["raw_line"] == g["raw_line"] for f in r["near"] for g in b["near"])})
            shared = f" (the finding of the bug row at line {', '.join(map(str, bug_lines))})" if bug_lines else ""
        out.append(f"- {state} [{r['group']} {r['kind']}] {r['repo']} `{r['path']}:{r['line']}`"
                   + (f": {codes}" if codes else "") + shared)
    return "\n".join(out) + "\n"


def run(args) -> int:
    rows = load_rows(Path(args.tsv))
    repos_dir = Path(args.repos)
    results_dir = repos_dir / RESULTS_DIR
    entries = sorted({(r["repo"], r["commit"]) for r in rows})
    folders = {folder_of(repo, commit): repo for repo, commit in entries}
    todo = [] if args.no_lint else [f for f in folders if not args.only or folders[f] in args.only or f in args.only]
    absent = [f for f in todo if not (repos_dir / f).is_dir()]
    if absent:
        raise InputError(f"not laid out under {repos_dir}: {', '.join(absent[:5])}"
                         + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
                         + " (run shared/realworld/build_repos.sh first)")
    results_dir.mkdir(parents=True, exist_ok=True)
    env = realworld.lint_env(args.engine_src)
    engine = realworld.engine_id(env)
    command = "python benchmarks/corpus.py " + " ".join(shlex.quote(a) for a in args.argv)

    def lint(folder):
        return realworld.lint_repo({"repo": folders[folder], "folder": folder}, repos_dir, env, engine)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for folder, res in zip(todo, pool.map(lint, todo)):
            (results_dir / f"{folder}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
            if res["error"]:
                print(f"{folders[folder]}: FAILED: {res['error']}", file=sys.stderr)
    results = {}
    for folder in folders:
        path = results_dir / f"{folder}.json"
        if path.exists():
            results[folder] = json.loads(path.read_text(encoding="utf-8"))
    scored = score(rows, results, repos_dir)
    engines = sorted({r["engine"] for r in results.values()})
    Path(args.output).write_text(render(command.strip(), scored, ", ".join(engines)), encoding="utf-8")
    bugs = [r for r in scored if r["group"] == "bug"]
    oks = [r for r in scored if r["group"] == "ok"]
    print(f"bugs found {sum(bool(r['hit']) for r in bugs)}/{len(bugs)}, correct rows flagged "
          f"{sum(bool(r['hit']) for r in oks)}/{len(oks)}; wrote {args.output}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(scored, indent=1), encoding="utf-8")
    if args.render_realworld:
        subprocess.run([sys.executable, str(HERE / "realworld.py"), "--no-lint"], check=False)
    return 0


def parse_args(argv: list):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", default="/work/scratch/corpus", help="folder laid out by build_repos.sh")
    ap.add_argument("--tsv", default=str(DEFAULT_TSV))
    ap.add_argument("--output", default=str(HERE / "corpus_scores.md"))
    ap.add_argument("--json", help="also write every scored row as JSON here")
    ap.add_argument("--only", action="append", default=[], metavar="REPO", help="owner/name or folder; repeatable")
    ap.add_argument("--jobs", type=int, default=1, help="repositories linted at once")
    ap.add_argument("--engine-src", help="lint with the freezelint package under this folder")
    ap.add_argument("--no-lint", action="store_true", help="only score the kept results")
    ap.add_argument("--render-realworld", action="store_true",
                    help="then re-render REALWORLD.md from realworld.py's kept results (it includes this table)")
    args = ap.parse_args(argv)
    args.argv = argv
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_args(argv))
    except InputError as exc:
        print(f"corpus: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
