"""Speed and memory of `freezelint check` against bare parsers and peer linters.

    python benchmarks/bench_static.py                   # 286-file sample of installed torch, 3 runs each
    python benchmarks/bench_static.py --corpus PATH     # any folder of Python files
    python benchmarks/bench_static.py --peer-bin /tmp/peers/bin --runs 5 --write benchmarks/RESULTS.md
    python benchmarks/bench_static.py --no-peers --big-tree PATH   # also one file of a warm large project

`--big-tree` names a large project folder with a project marker (a copy of installed
transformers with a pyproject.toml: 2,900 files): it is linted once to warm a cache
(kept in the run's temporary folder), then one small file of it is checked, as an
editor or pre-commit would; skipped when the folder is absent.

The corpus is copied to a temporary folder first (the "one file touched" run
edits a file, and the cache lives next to the files). Every figure is the median
of `--runs` runs, each in its own process; peak memory is the largest resident
set of any process of that run (getrusage of the children). Peers (torchfix,
fixit, flake8, ruff) are used when found on PATH or in `--peer-bin`, and
skipped otherwise. The machine is shared and noisy: compare ratios from one
run of this script, not absolute times across runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from typing import Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SAMPLE = 286

# Runs a command, then prints its wall time and the peak RSS of its process tree.
_WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=sys.argv[1])
wall = time.perf_counter() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss_kb": ru.ru_maxrss, "rc": p.returncode, "err": p.stderr.decode(errors="replace")[-2000:]}))
"""

_PARSE_LOOP = r"""
import sys
kind, listing = sys.argv[1], sys.argv[2]
files = open(listing).read().split("\n")
if kind == "ast":
    import ast
    for f in files:
        try:
            ast.parse(open(f, "rb").read())
        except (SyntaxError, ValueError):
            pass
else:
    import libcst
    for f in files:
        try:
            libcst.parse_module(open(f, "rb").read())
        except Exception:
            pass
"""


def site_packages() -> str:
    return sysconfig.get_paths()["purelib"]


def python_files(root: str) -> List[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".freezelint_cache"))
        out.extend(os.path.relpath(os.path.join(dirpath, f), root) for f in sorted(filenames) if f.endswith(".py"))
    return out


def make_corpus(args, dest: str) -> str:
    """Copy the corpus into dest; the default is a deterministic sample of installed torch."""
    if args.corpus:
        src = os.path.abspath(args.corpus)
        rel = python_files(src)
    else:
        src = os.path.join(site_packages(), "torch")
        if not os.path.isdir(src):
            sys.exit("torch is not installed here: pass --corpus PATH")
        rel = sorted(python_files(src), key=lambda r: hashlib.sha1(r.encode()).hexdigest())[: args.sample]
    root = os.path.join(dest, os.path.basename(src.rstrip(os.sep)) or "corpus")
    for r in rel:
        os.makedirs(os.path.dirname(os.path.join(root, r)), exist_ok=True)
        shutil.copy2(os.path.join(src, r), os.path.join(root, r))
    # A project marker at the corpus root, as in a real repository: a one-file run sees the whole project.
    with open(os.path.join(root, "pyproject.toml"), "w") as fh:
        fh.write("[project]\nname = 'bench-corpus'\n")
    return root


# The measured commands run as an installed package does: with its bytecode compiled once and reused.
# A shell with PYTHONDONTWRITEBYTECODE=1 would make every freezelint start compile its ~80 modules
# from source again (~0.1 s a process); the bytecode goes to a folder of the run, not the sources.
ENV: Dict[str, str] = {}


def measure(cmd: List[str], cwd: str, runs: int, before=None) -> Optional[Dict]:
    walls, cpus, rss, rcs, err = [], [], [], [], ""
    for i in range(runs):
        if before is not None:
            before(i)
        out = subprocess.run([sys.executable, "-c", _WRAPPER, cwd] + cmd, capture_output=True, text=True, env=ENV or None)
        try:
            r = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            return {"error": out.stderr[-500:]}
        walls.append(r["wall"])
        cpus.append(r["cpu"])
        rss.append(r["rss_kb"])
        rcs.append(r["rc"])
        err = r["err"]
    return {
        "wall": statistics.median(walls), "walls": walls, "cpu": statistics.median(cpus),
        "rss_mb": max(rss) / 1024, "rc": rcs[-1], "err": err,
    }


def find_peer(name: str, peer_bin: Optional[str]) -> Optional[str]:
    if peer_bin:
        p = os.path.join(peer_bin, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()
        load_s = f", load average at start {load[0]:.1f}"
    except OSError:
        load_s = ""
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            mem = f", {int(fh.readline().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}{load_s}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", help="folder of Python files (default: a sample of installed torch)")
    ap.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="files in the default torch sample")
    ap.add_argument("--runs", type=int, default=3, help="runs per figure (median reported)")
    ap.add_argument("--peer-runs", type=int, default=None, help="runs for the slow peers torchfix/fixit (default: --runs)")
    ap.add_argument("--peer-bin", help="folder holding torchfix/fixit/flake8/ruff executables")
    ap.add_argument("--no-peers", action="store_true", help="skip the peer linters")
    ap.add_argument("--full-torch-warm", action="store_true", help="also time a warm run over all of installed torch")
    ap.add_argument("--big-tree", metavar="DIR", help="a large project (with a pyproject.toml): one file of it, warm")
    ap.add_argument("--write", metavar="MD", help="also write the report (markdown) to this file")
    args = ap.parse_args(argv)
    peer_runs = args.peer_runs or args.runs
    fl = [sys.executable, "-m", "freezelint"]

    tmp = tempfile.mkdtemp(prefix="freezelint-bench-")
    ENV.update({k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"})
    ENV["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    try:
        root = make_corpus(args, tmp)
        files = [os.path.join(root, r) for r in python_files(root)]
        lines = sum(open(f, "rb").read().count(b"\n") for f in files)
        listing = os.path.join(tmp, "files.txt")
        with open(listing, "w") as fh:
            fh.write("\n".join(files))
        n = len(files)
        # The file pre-commit would lint: the smallest file with some code in it.
        small = min((f for f in files if os.path.getsize(f) > 200), key=os.path.getsize, default=files[0])
        touched = max(files, key=os.path.getsize)
        original = open(touched, "rb").read()
        cache = os.path.join(tmp, "cache")
        rows = []

        def add(label, res, nfiles=n, note=""):
            rows.append((label, res, nfiles, note))
            if res and "wall" in res:
                print(f"  {label}: {res['wall']:.3f} s (runs {', '.join(f'{w:.2f}' for w in res['walls'])}), {res['rss_mb']:.0f} MB", file=sys.stderr)
            else:
                print(f"  {label}: {res}", file=sys.stderr)

        print(f"corpus: {n} files, {lines} lines ({root})", file=sys.stderr)
        # compiles freezelint's bytecode (every module a run may import) before anything is timed
        subprocess.run(fl + ["check", root, "--no-cache", "--exit-zero", "-q", "--select", "ALL", "-j", "1"], cwd=tmp, capture_output=True, env=ENV)
        add("ast.parse loop (1 process)", measure([sys.executable, "-c", _PARSE_LOOP, "ast", listing], tmp, args.runs))
        add("libcst.parse_module loop (1 process)", measure([sys.executable, "-c", _PARSE_LOOP, "cst", listing], tmp, args.runs))
        add("freezelint cold, default rules", measure(fl + ["check", root, "--no-cache", "--exit-zero", "-q"], tmp, args.runs))
        add("freezelint cold, 1 process (-j 1)", measure(fl + ["check", root, "--no-cache", "--exit-zero", "-q", "-j", "1"], tmp, args.runs))
        add("freezelint cold, --select ALL", measure(fl + ["check", root, "--no-cache", "--exit-zero", "-q", "--select", "ALL"], tmp, args.runs))
        warm_cmd = fl + ["check", root, "--exit-zero", "-q", "--cache-dir", cache]
        subprocess.run(warm_cmd, cwd=tmp, capture_output=True)  # prime
        add("freezelint warm (cache hit, nothing changed)", measure(warm_cmd, tmp, args.runs))

        def touch(i):
            with open(touched, "ab") as fh:
                fh.write(f"\n# touched {time.time()} {i}\n".encode())

        add("freezelint warm, one file edited", measure(warm_cmd, tmp, args.runs, before=touch))
        with open(touched, "wb") as fh:
            fh.write(original)
        add(
            "freezelint check one_file.py (no cache)",
            measure(fl + ["check", small, "--no-cache", "--exit-zero", "-q"], tmp, args.runs),
            nfiles=1,
            note=f"{os.path.relpath(small, root)}, {os.path.getsize(small)} bytes",
        )
        add(
            "freezelint check one_file.py of a warm project",
            measure(fl + ["check", small, "--exit-zero", "-q", "--cache-dir", cache], tmp, args.runs),
            nfiles=1,
            note="the project's summaries from the cache",
        )
        it = subprocess.run([sys.executable, "-X", "importtime", "-m", "freezelint", "check", small, "--exit-zero", "-q", "--cache-dir", cache], cwd=tmp, capture_output=True, text=True)
        imports = {ln.rsplit("|", 1)[-1].strip() for ln in it.stderr.splitlines() if ln.startswith("import time:")}
        torch_imported = "torch" in imports
        libcst_imported = "libcst" in imports

        if args.full_torch_warm:
            tdir = os.path.join(tmp, "fulltorch")
            shutil.copytree(os.path.join(site_packages(), "torch"), tdir, ignore=shutil.ignore_patterns("*.so*", "*.pyc", "__pycache__", "*.h", "*.cpp", "*.cuh", "*.a", "*.lib", "*.dll"))
            tn = len(python_files(tdir))
            tcache = os.path.join(tmp, "cache-full")
            cmd = fl + ["check", tdir, "--exit-zero", "-q", "--cache-dir", tcache]
            add("freezelint cold, all installed torch (primes the cache)", measure(cmd, tmp, 1), nfiles=tn)
            add("freezelint warm, all installed torch", measure(cmd, tmp, args.runs), nfiles=tn)

        if args.big_tree:
            big_tree(args, fl, tmp, add)

        peers = {}
        if not args.no_peers:
            tf = find_peer("torchfix", args.peer_bin)
            fx = find_peer("fixit", args.peer_bin)
            f8 = find_peer("flake8", args.peer_bin)
            rf = find_peer("ruff", args.peer_bin)
            if tf:
                peers["torchfix"] = measure([tf, root], tmp, peer_runs)
                add("torchfix", peers["torchfix"])
            if fx:
                peers["fixit"] = measure([fx, "lint", root], tmp, peer_runs)
                add("fixit lint", peers["fixit"])
            if f8:
                peers["flake8"] = measure([f8, root], tmp, args.runs)
                add("flake8 (default)", peers["flake8"])
            if rf:
                peers["ruff"] = measure([rf, "check", "--no-cache", "--exit-zero", "--isolated", root], tmp, args.runs)
                add("ruff check (default rules, no cache)", peers["ruff"])
                rcache = os.path.join(tmp, "ruff-cache")
                rcmd = [rf, "check", "--exit-zero", "--isolated", "--cache-dir", rcache, root]
                subprocess.run(rcmd, cwd=tmp, capture_output=True)
                peers["ruff_warm"] = measure(rcmd, tmp, args.runs)
                add("ruff check warm (cache)", peers["ruff_warm"])
            missing = [p for p, f in (("torchfix", tf), ("fixit", fx), ("flake8", f8), ("ruff", rf)) if not f]
            if missing:
                print(f"  peers not found (skipped): {', '.join(missing)}", file=sys.stderr)

        report = render(rows, n, lines, peers, small, root, torch_imported, libcst_imported, args)
        print(report)
        if args.write:
            with open(args.write, "w") as fh:
                fh.write(report)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def big_tree(args, fl: List[str], tmp: str, add) -> None:
    """One small file of a large warm project: the cache warmed by a run over the whole tree, then by one run
    of the file itself (its first run resolves the index for its order of the summaries; timed apart)."""
    tree = os.path.abspath(args.big_tree)
    if not os.path.isdir(tree):
        print(f"  --big-tree {args.big_tree}: no such folder, skipped", file=sys.stderr)
        return
    files = [os.path.join(tree, r) for r in python_files(tree)]
    small = min((f for f in files if os.path.getsize(f) > 200), key=os.path.getsize, default=None)
    if small is None:
        return
    cache = os.path.join(tmp, "cache-big")
    name = os.path.basename(tree.rstrip(os.sep))
    add(f"freezelint cold, {name} (primes the cache)", measure(fl + ["check", tree, "--exit-zero", "-q", "--cache-dir", cache], tmp, 1), nfiles=len(files))
    one = fl + ["check", small, "--exit-zero", "-q", "--cache-dir", cache]
    add(f"freezelint check one_file.py of warm {name}, first run", measure(one, tmp, 1), nfiles=1, note="its index resolved")
    add(f"freezelint check one_file.py of warm {name}", measure(one, tmp, args.runs), nfiles=1,
        note=f"{os.path.relpath(small, tree)}, {len(files)} files")


def render(rows, n, lines, peers, small, root, torch_imported, libcst_imported, args) -> str:
    get = {label: res for label, res, _, _ in rows}
    cold = get.get("freezelint cold, default rules") or {}
    out = [
        "# freezelint static benchmark",
        "",
        f"Machine: {machine()}",
        "",
        f"Command: `python benchmarks/bench_static.py {' '.join(sys.argv[1:])}`".replace("  ", " "),
        "",
        f"Corpus: {n} files, {lines:,} lines ({'default: deterministic sample of installed torch ' + _torch_version() if not args.corpus else args.corpus}). "
        f"Median of {args.runs} runs{'' if not args.peer_runs else f' ({args.peer_runs} for torchfix/fixit)'}; peak memory is the largest process of a run. "
        "freezelint's bytecode is compiled once before the runs and reused, as an installed package's is.",
        "",
        "| run | wall (s, median) | CPU (s, median) | files/s | peak MB | x freezelint cold |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, res, nfiles, note in rows:
        if not res or "wall" not in res:
            out.append(f"| {label} | failed | | | |")
            continue
        ratio = f"{res['wall'] / cold['wall']:.2f}" if cold.get("wall") else ""
        lab = f"{label} ({note})" if note else label
        out.append(f"| {lab} | {res['wall']:.3f} | {res['cpu']:.3f} | {nfiles / res['wall']:.0f} | {res['rss_mb']:.0f} | {ratio} |")
    out += ["", "Ratios (same run):", ""]

    def ratio(a, b, text):
        if a and b and "wall" in a and "wall" in b:
            out.append(f"- {text}: {a['wall'] / b['wall']:.2f} (wall), {a['cpu'] / max(b['cpu'], 1e-9):.2f} (CPU)")

    ratio(cold, peers.get("torchfix"), "freezelint cold / torchfix")
    ratio(cold, peers.get("fixit"), "freezelint cold / fixit")
    ratio(peers.get("torchfix"), cold, "torchfix / freezelint cold (speed-up; target >= 40)")
    ratio(peers.get("fixit"), cold, "fixit / freezelint cold (speed-up; target >= 40)")
    ratio(cold, get.get("libcst.parse_module loop (1 process)"), "freezelint cold / bare libcst parse")
    ratio(cold, get.get("ast.parse loop (1 process)"), "freezelint cold / bare ast.parse")
    ratio(get.get("freezelint cold, 1 process (-j 1)"), get.get("ast.parse loop (1 process)"), "freezelint cold 1 process / bare ast.parse (target <= 3)")
    ratio(cold, peers.get("ruff"), "freezelint cold / ruff cold (target <= 10)")
    ratio(get.get("freezelint warm (cache hit, nothing changed)"), peers.get("ruff_warm"), "freezelint warm / ruff warm (target <= 2)")
    ratio(cold, peers.get("flake8"), "freezelint cold / flake8")
    one = get.get("freezelint check one_file.py of a warm project")
    if one and "wall" in one:
        out.append(f"- one file of a warm project, start to finish: {one['wall']:.3f} s (target < 0.3 s); torch imported: {'yes' if torch_imported else 'no'}; libcst imported: {'yes' if libcst_imported else 'no'}")
    for label, res, _, _ in rows:
        if label.startswith("freezelint check one_file.py of warm ") and not label.endswith("first run") and "wall" in res:
            out.append(f"- {label[len('freezelint check '):]}: {res['wall']:.3f} s (target < 0.3 s)")
    warm = get.get("freezelint warm (cache hit, nothing changed)")
    if warm and "wall" in warm:
        out.append(f"- warm run, nothing changed: {warm['wall']:.3f} s (target < 0.5 s)")
    full = get.get("freezelint warm, all installed torch")
    if full and "wall" in full:
        out.append(f"- warm run over all installed torch: {full['wall']:.3f} s (target < 1 s)")
    for name in ("torchfix", "fixit", "flake8", "ruff"):
        if name not in peers:
            out.append(f"- {name}: not installed, skipped")
    out.append("")
    return "\n".join(out)


def _torch_version() -> str:
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:
        return ""


if __name__ == "__main__":
    sys.exit(main())
