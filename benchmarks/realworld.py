"""Lint public repositories at fixed commits and report each finding with our judgement of it.

    python benchmarks/realworld.py [--set realworld|holdout] [--corpus DIR] [--only REPO ...] [--jobs N] [--check]

The corpus folder holds one extracted tree per repository of `realworld_repos.json`
(`folder` names it). Each is linted from its own root with the default rules, as its
users would: `freezelint check . --output-format json --no-cache --exit-zero`.
The result of each repository is kept under `<corpus>/.freezelint-realworld/`, so that
`--only` re-measures a few and the report still covers all of them.

Every finding is merged with `realworld_judgements.json`, a list of
{repo, path, line, code, verdict, reason} with verdict TRUE, TRUE-LOW or FALSE (`line` is
the line, or "CELL:LINE" in a notebook). A finding without a judgement is UNJUDGED, so a
re-run after an engine change shows exactly what is new; a judged finding that is no
longer reported is listed too (a fixed FALSE, or a lost TRUE). `REALWORLD.md` is written
with `realworld_misses.md` included verbatim. `--check` exits 1 if any finding is FALSE
or UNJUDGED, or a run failed. Bad input exits 2 with one line.

`--set holdout` measures the second set the same way: `holdout_repos.json` (repositories in
neither the labelled corpus nor `realworld_repos.json`), `holdout_judgements.json`,
`holdout_misses.md`, the trees under /work/scratch/holdout, the report `HOLDOUT.md`.
`--extract-from MIRROR` first lays out every repository whose folder is absent from a git
snapshot `MIRROR/<owner>+<name>/repo` (see `extract`).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VERDICTS = ("TRUE", "TRUE-LOW", "FALSE")
UNJUDGED = "UNJUDGED"
COLUMNS = VERDICTS + (UNJUDGED,)
RESULTS_DIR = ".freezelint-realworld"
LINT_ARGS = ["check", ".", "--output-format", "json", "--no-cache", "--exit-zero"]

REALWORLD_INTRO = (
    "Public repositories that freeze parts of models, each linted whole at a fixed commit from its root "
    "with the default rules (`freezelint check . --output-format json --no-cache --exit-zero`). "
    "DEVSET repositories come from `shared/realworld/DEVSET.md`; the others were added by us "
    "(`benchmarks/realworld_repos.json` says why each was chosen). Verdicts: TRUE (a real freezing "
    "mistake), TRUE-LOW (real, low impact), FALSE (the code is right: our bug), UNJUDGED (new since "
    "the judgements were written). FRZ000 (a file freezelint could not analyse) has its own column, not "
    "counted as a finding; it is judged TRUE when the file really is not Python that the engine can parse."
)
HOLDOUT_INTRO = (
    "A holdout: public repositories of the kinds freezelint's users write (LoRA/QLoRA and adapter "
    "fine-tuning, VLM projector training, diffusion fine-tuning and textual inversion, prompt learning, "
    "linear probes and self-supervised linear evaluation), in neither the labelled corpus "
    "(`shared/realworld/CORPUS.tsv`) nor `benchmarks/realworld_repos.json`, so that no rule was written "
    "or tuned while looking at them. Each is linted whole at a fixed commit from its root with the "
    "default rules (`freezelint check . --output-format json --no-cache --exit-zero`); "
    "`benchmarks/holdout_repos.json` gives each one's kind and why it was chosen. Verdicts: TRUE (a real "
    "freezing mistake), TRUE-LOW (real but latent or low impact), FALSE (the code is right: our bug), "
    "UNJUDGED (new since the judgements were written). FRZ000 (a file freezelint could not analyse) has "
    "its own column, not counted as a finding; it is judged TRUE when the file really is not Python "
    "that the engine can parse.\n\n"
    "Layout: each repository was fetched as a git snapshot and laid out at the manifest's commit with "
    "`python benchmarks/realworld.py --set holdout --extract-from MIRROR` (MIRROR holds "
    "`<owner>+<name>/repo`): every file of the commit's tree written at its path; files whose contents the "
    "snapshot lacks (large images, videos, weights, data JSON; the manifest's `note` names any Python or "
    "notebook among them) and symbolic links are left out. Re-measure with "
    "`python benchmarks/realworld.py --set holdout --jobs 2 --check`."
)
SETS = {
    "realworld": {"corpus": "/work/scratch/realworld", "manifest": "realworld_repos.json",
                  "judgements": "realworld_judgements.json", "misses": "realworld_misses.md",
                  "output": "REALWORLD.md", "title": "Real-world measurement", "intro": REALWORLD_INTRO,
                  "appendices": True},
    "holdout": {"corpus": "/work/scratch/holdout", "manifest": "holdout_repos.json",
                "judgements": "holdout_judgements.json", "misses": "holdout_misses.md",
                "output": "HOLDOUT.md", "title": "Holdout measurement", "intro": HOLDOUT_INTRO,
                "appendices": False},
}


class InputError(Exception):
    """Bad manifest, judgements or arguments: reported in one line, exit 2."""


def load_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{what} {path} is not valid JSON: {exc}") from None


def load_manifest(path: Path) -> list:
    repos = load_json(path, "manifest")
    if not isinstance(repos, list):
        raise InputError(f"manifest {path} must be a list of repositories")
    for i, entry in enumerate(repos):
        missing = [k for k in ("repo", "commit", "folder") if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise InputError(f"manifest {path} entry {i} lacks {', '.join(missing)}")
    return repos


def line_key(line) -> str:
    return str(line)


def load_judgements(path: Path) -> dict:
    """(repo, path, line, code) -> {verdict, reason}; an absent file means nothing judged yet."""
    if not path.exists():
        return {}
    records = load_json(path, "judgements")
    if not isinstance(records, list):
        raise InputError(f"judgements {path} must be a list of records")
    table = {}
    for i, rec in enumerate(records):
        try:
            key = (rec["repo"], rec["path"], line_key(rec["line"]), rec["code"])
            verdict, reason = rec["verdict"], rec.get("reason", "")
        except (KeyError, TypeError):
            raise InputError(f"judgements {path} record {i} needs repo, path, line, code, verdict") from None
        if verdict not in VERDICTS:
            raise InputError(f"judgements {path} record {i}: verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
        if key in table:
            raise InputError(f"judgements {path}: {':'.join(key)} is judged twice")
        table[key] = {"verdict": verdict, "reason": reason}
    return table


def count_sources(root: Path) -> tuple:
    """Python files and notebooks under root, outside hidden folders."""
    py = nb = 0
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        py += sum(f.endswith(".py") for f in files)
        nb += sum(f.endswith(".ipynb") for f in files)
    return py, nb


def normalise(raw: dict) -> dict:
    """One finding of freezelint's JSON as {code, path, line, message}."""
    loc = raw.get("location") or {}
    cell = raw.get("cell", loc.get("cell"))
    line = f"{cell}:{loc.get('row')}" if cell is not None else loc.get("row")
    path = raw.get("filename", "")
    path = path[2:] if path.startswith("./") else path
    return {"code": raw.get("code"), "path": path, "line": line, "message": raw.get("message", "")}


def lint_repo(entry: dict, corpus: Path, env: dict, engine: str) -> dict:
    root = corpus / entry["folder"]
    py, nb = count_sources(root)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "freezelint", *LINT_ARGS], cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    result = {"repo": entry["repo"], "py_files": py, "notebooks": nb, "seconds": round(seconds, 2),
              "exit": proc.returncode, "error": None, "findings": [], "engine": engine}
    try:  # exit 2 with JSON output: some files were FRZ000 (unreadable), every other file was linted
        raw = json.loads(proc.stdout) if proc.returncode in (0, 2) else None
    except ValueError:
        raw = None
    if not isinstance(raw, list):
        tail = proc.stderr.strip().splitlines() or ["no output"]
        result["error"] = f"exit {proc.returncode}: {tail[-1][:300]}"
    else:
        result["findings"] = sorted((normalise(f) for f in raw), key=lambda f: (f["path"], str(f["line"]), f["code"]))
    return result


def lint_env(engine_src) -> dict:
    """The environment of every freezelint run: `--engine-src` puts another copy of the package first."""
    env = dict(os.environ)
    if engine_src:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(engine_src).resolve()), env.get("PYTHONPATH")) if p)
    return env


def engine_id(env: dict) -> str:
    """freezelint's version, where its package is, its git commit there (+dirty) and a hash of its sources."""
    probe = ("import freezelint, hashlib, os, pathlib; d = pathlib.Path(freezelint.__file__).parent; "
             "h = hashlib.sha256(b''.join(p.read_bytes() for p in sorted(d.rglob('*.py')))).hexdigest()[:10]; "
             "print(d, h)")
    # cwd "/": from the working directory, `python -c` would import a freezelint there before PYTHONPATH's
    out = subprocess.run([sys.executable, "-c", probe], cwd="/", env=env, capture_output=True, text=True).stdout.split()
    version = subprocess.run([sys.executable, "-m", "freezelint", "--version"], cwd="/", env=env,
                             capture_output=True, text=True).stdout.split()
    if len(out) != 2:
        return "freezelint not importable"
    package, digest = Path(out[0]), out[1]
    git = ["git", "-C", str(package)]
    commit = subprocess.run([*git, "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True).stdout.strip()
    where = f"git {commit}{' + uncommitted changes' if dirty else ''}" if commit else str(package)
    return f"{version[-1] if version else '?'} ({where}; sources {digest})"


def merge(repo: str, findings: list, judgements: dict) -> list:
    """Each finding with its verdict and reason (UNJUDGED when none is recorded)."""
    merged = []
    for f in findings:
        j = judgements.get((repo, f["path"], line_key(f["line"]), f["code"]))
        merged.append({**f, "verdict": j["verdict"] if j else UNJUDGED, "reason": j["reason"] if j else ""})
    return merged


def vanished(repo: str, findings: list, judgements: dict) -> list:
    """Judged findings of repo that this run no longer reports."""
    seen = {(repo, f["path"], line_key(f["line"]), f["code"]) for f in findings}
    return [dict(zip(("repo", "path", "line", "code"), k), **v) for k, v in sorted(judgements.items())
            if k[0] == repo and k not in seen]


def tally(merged: list) -> collections.Counter:
    """Verdicts of the rule findings; FRZ000 (a file not analysed) is counted apart, not as a finding."""
    counts = collections.Counter(f["verdict"] for f in merged if f["code"] != "FRZ000")
    counts["findings"] = sum(f["code"] != "FRZ000" for f in merged)
    counts["FRZ000"] = len(merged) - counts["findings"]
    for f in merged:
        if f["code"] == "FRZ000" and f["verdict"] in ("FALSE", UNJUDGED):
            counts[f"FRZ000 {f['verdict']}"] += 1
    return counts


def frz000_cell(counts) -> str:
    """FRZ000 count, with how many of them are our bug or not judged yet."""
    notes = [f"{counts[f'FRZ000 {v}']} {v}" for v in ("FALSE", UNJUDGED) if counts[f"FRZ000 {v}"]]
    return f"{counts['FRZ000']}" + (f" ({', '.join(notes)})" if notes else "")


def set_label(entry: dict) -> str:
    """The table's `set` cell: DEVSET or added by us; a holdout entry's kind of fine-tuning."""
    if "kind" in entry and "devset" not in entry:
        return entry["kind"]
    return "dev" if entry.get("devset") else "added"


def render(
    command: str, manifest: list, results: dict, judgements: dict, misses: str, corpus_scores: str = "", fixes: str = "",
    title: str = SETS["realworld"]["title"], intro: str = REALWORLD_INTRO,
) -> str:
    engines = sorted({r["engine"] for r in results.values()})
    runs = sorted({r.get("command", "?") for r in results.values()} - {command})
    out = [f"# {title}", "", intro, "",
           f"Produced by: `{command}`" + "".join(f", from results of `{r}`" for r in runs) + "  ",
           f"freezelint: {', '.join(engines) or '-'}  ",
           f"Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, "
           f"Python {sys.version.split()[0]}", ""]
    head = "| repo | commit | set | .py | .ipynb | findings | " + " | ".join(COLUMNS) + " | FRZ000 | time (s) |"
    out += [head, "|" + " --- |" * (head.count("|") - 1)]
    total = collections.Counter()
    sections, gone = [], []
    for entry in manifest:
        res = results.get(entry["repo"])
        set_name = set_label(entry)
        if res is None:
            out.append(f"| {entry['repo']} | {entry['commit'][:10]} | {set_name} | not measured |" + " |" * (len(COLUMNS) + 4))
            continue
        merged = merge(entry["repo"], res["findings"], judgements)
        counts = tally(merged)
        total.update(counts)
        total.update(py=res["py_files"], nb=res["notebooks"], seconds=res["seconds"])
        failed = f" (run failed: {res['error']})" if res["error"] else ""
        mixed = f" [{res['engine']}]" if len(engines) > 1 else ""
        out.append(f"| {entry['repo']}{failed}{mixed} | {entry['commit'][:10]} | {set_name} | {res['py_files']} | "
                   f"{res['notebooks']} | {counts['findings']} | " + " | ".join(str(counts[c]) for c in COLUMNS)
                   + f" | {frz000_cell(counts)} | {res['seconds']:.1f} |")
        if merged:
            sections.append(f"### {entry['repo']}")
            sections.append("")
            for f in merged:
                reason = f" {f['reason']}" if f["reason"] else ""
                sections.append(f"- **{f['verdict']}** `{f['path']}:{f['line']}` {f['code']}:{reason}  ")
                sections.append(f"  > {f['message']}")
            sections.append("")
        gone += vanished(entry["repo"], res["findings"], judgements)
    out.append(f"| **total** | | | {total['py']} | {total['nb']} | {total['findings']} | "
               + " | ".join(str(total[c]) for c in COLUMNS) + f" | {frz000_cell(total)} | {total['seconds']:.1f} |")
    out += ["", "## Findings", ""] + (sections or ["None.", ""])
    out += ["## Judged findings no longer reported", "",
            "A FALSE here is fixed; a TRUE here is a finding the engine lost.", ""]
    out += [f"- {g['verdict']} {g['repo']} `{g['path']}:{g['line']}` {g['code']}: {g['reason']}" for g in gone] or ["None."]
    out += ["", "## Misses (found by reading)", "", misses.rstrip(), ""]
    for section in (corpus_scores, fixes):
        if section:
            out += ["", section.rstrip(), ""]
    return "\n".join(out)


def results_path(results_dir: Path, folder: str) -> Path:
    return results_dir / f"{folder}.json"


def select(manifest: list, only: list) -> list:
    if not only:
        return manifest
    chosen = [e for e in manifest if e["repo"] in only or e["folder"] in only]
    unknown = set(only) - {e["repo"] for e in chosen} - {e["folder"] for e in chosen}
    if unknown:
        raise InputError(f"--only: not in the manifest: {', '.join(sorted(unknown))}")
    return chosen


def extract(entry: dict, mirror: Path, corpus: Path) -> int:
    """Lay out `entry` at its commit from the snapshot `mirror/<owner>+<name>/repo` (bare, or with .git
    inside) as `corpus/<folder>`: every blob of the commit's tree at its path, symbolic links and
    submodules left out. Returns how many blobs the snapshot lacks (skipped: a partial clone keeps
    large files out). A folder already there is kept as it is."""
    out = corpus / entry["folder"]
    if out.is_dir():
        return 0
    gd = mirror / entry["repo"].replace("/", "+") / "repo"
    if (gd / ".git").is_dir():
        gd = gd / ".git"
    git = ["git", f"--git-dir={gd}"]
    if not gd.is_dir() or subprocess.run([*git, "cat-file", "-e", f"{entry['commit']}^{{commit}}"],
                                         capture_output=True).returncode:
        raise InputError(f"--extract-from: no snapshot of {entry['repo']} at {entry['commit'][:10]} under {mirror}")
    tree = subprocess.run([*git, "ls-tree", "-r", "-z", entry["commit"]], capture_output=True, check=True).stdout
    part = corpus / f"{entry['folder']}.part"
    if part.exists():
        subprocess.run(["rm", "-rf", str(part)], check=True)
    missing = 0
    for record in tree.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        if kind != "blob" or mode == "120000":
            continue
        blob = subprocess.run([*git, "cat-file", "blob", sha], capture_output=True)
        if blob.returncode:
            missing += 1
            continue
        dest = part / os.fsdecode(name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(blob.stdout)
    part.mkdir(parents=True, exist_ok=True)
    part.rename(out)
    return missing


def run(args) -> int:
    corpus = Path(args.corpus)
    manifest = load_manifest(Path(args.manifest))
    judgements = load_judgements(Path(args.judgements))
    misses_path = Path(args.misses)
    misses = misses_path.read_text(encoding="utf-8") if misses_path.exists() else "None recorded.\n"
    todo = [] if args.no_lint else select(manifest, args.only)
    if args.extract_from:
        for entry in todo:
            if not (corpus / entry["folder"]).is_dir():
                missing = extract(entry, Path(args.extract_from), corpus)
                print(f"{entry['repo']}: laid out at {entry['commit'][:10]}"
                      + (f", {missing} files not in the snapshot" if missing else ""), file=sys.stderr)
    absent = [e["folder"] for e in todo if not (corpus / e["folder"]).is_dir()]
    if absent:
        raise InputError(f"not in the corpus {corpus}: {', '.join(absent)} (extract each repository at its commit)")
    results_dir = Path(args.results_dir) if args.results_dir else corpus / RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    env = lint_env(args.engine_src)
    engine = engine_id(env) if todo else ""
    command = "python benchmarks/realworld.py " + " ".join(shlex.quote(a) for a in args.argv)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for entry, res in zip(todo, pool.map(lambda e: lint_repo(e, corpus, env, engine), todo)):
            res["command"] = command.strip()
            results_path(results_dir, entry["folder"]).write_text(json.dumps(res, indent=1), encoding="utf-8")
            print(f"{entry['repo']}: {len(res['findings'])} findings, {res['seconds']:.1f} s"
                  + (f", FAILED: {res['error']}" if res["error"] else ""), file=sys.stderr)
    results = {}
    for entry in manifest:
        path = results_path(results_dir, entry["folder"])
        if path.exists():
            results[entry["repo"]] = load_json(path, "result")
    page_set = SETS[args.set]
    scores = fixes = ""
    if page_set["appendices"]:
        scores_path = HERE / "corpus_scores.md"  # written by corpus.py: the labelled corpus, per kind
        scores = scores_path.read_text(encoding="utf-8") if scores_path.exists() else ""
        fixes_path = HERE / "fixes_realworld.md"  # written by fixes_realworld.py: the statement fixes on this code
        fixes = fixes_path.read_text(encoding="utf-8") if fixes_path.exists() else ""
    page = render(command.strip(), manifest, results, judgements, misses, scores, fixes,
                  title=page_set["title"], intro=page_set["intro"])
    Path(args.output).write_text(page, encoding="utf-8")
    merged = [f for r, res in results.items() for f in merge(r, res["findings"], judgements)]
    counts = tally(merged)
    failed = [r for r, res in results.items() if res["error"]]
    bad = sum(f["verdict"] in ("FALSE", UNJUDGED) for f in merged)  # FRZ000 included
    print(f"{counts['findings']} findings: " + ", ".join(f"{c} {counts[c]}" for c in COLUMNS)
          + f"; FRZ000 {frz000_cell(counts)}" + (f"; failed runs: {', '.join(failed)}" if failed else "")
          + f"; wrote {args.output}", file=sys.stderr)
    if args.check and (bad or failed):
        return 1
    return 0


def parse_args(argv: list):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=sorted(SETS), default="realworld",
                    help="which measurement: its corpus, manifest, judgements, misses and report are the defaults")
    ap.add_argument("--corpus", help="folder with one extracted tree per repository")
    ap.add_argument("--manifest")
    ap.add_argument("--judgements")
    ap.add_argument("--misses")
    ap.add_argument("--output")
    ap.add_argument("--extract-from", metavar="MIRROR",
                    help="lay out each absent repository at its commit from the git snapshot MIRROR/<owner>+<name>/repo")
    ap.add_argument("--results-dir", help=f"where each repository's result is kept (default: <corpus>/{RESULTS_DIR})")
    ap.add_argument("--only", action="append", default=[], metavar="REPO", help="owner/name or folder; repeatable")
    ap.add_argument("--jobs", type=int, default=1, help="repositories linted at once")
    ap.add_argument("--engine-src", help="lint with the freezelint package under this folder (put first on PYTHONPATH)")
    ap.add_argument("--no-lint", action="store_true", help="only rewrite the report from the kept results")
    ap.add_argument("--check", action="store_true", help="exit 1 if any finding is FALSE or UNJUDGED")
    args = ap.parse_args(argv)
    defaults = SETS[args.set]
    args.corpus = args.corpus or defaults["corpus"]
    for key in ("manifest", "judgements", "misses", "output"):
        if getattr(args, key) is None:
            setattr(args, key, str(HERE / defaults[key]))
    args.argv = argv
    return args


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_args(argv))
    except InputError as exc:
        print(f"realworld: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
