#!/usr/bin/env python
"""Run `freezelint check --select ALL` over the installed sources of real PyTorch
projects and prove it finishes without an internal error.

    python scripts/corpus_check.py [--sample N] [package ...]

For each package (default: torch transformers peft pytorch_lightning timm; the
ones not installed are skipped) it runs the real CLI in a subprocess over the
package folder (with --isolated, --no-cache, JSON output) and prints files,
findings and FRZ000 counts, then every FRZ000 file with its reason. The package
is located with importlib's finder, never imported, so a package whose imports
are broken is still linted as text.

Exit status: 0 when every run exited 0/1/2 with parseable output and no FRZ000
says "internal error"; 1 otherwise. `--sample N` lints every N-th file only
(the fast test in tests/test_corpus_sample.py uses it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

DEFAULT_PACKAGES = ["torch", "transformers", "peft", "pytorch_lightning", "timm"]


def package_dir(name: str) -> Optional[str]:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def python_files(folder: str) -> List[str]:
    """The files `check` would lint in the folder (its own discovery, default excludes)."""
    from freezelint.config import ConfigResolver, Overrides
    from freezelint.static.input.discover import discover

    return [p for p, _ in discover([folder], ConfigResolver(Overrides(isolated=True)))]


def run(name: str, folder: str, sample: int) -> dict:
    files = python_files(folder)
    if sample > 1:
        files = files[::sample]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        report = fh.name
    # Many paths: pass them in batches so the command line stays within limits.
    findings: list = []
    codes: List[int] = []
    stderr_tail = ""
    t0 = time.perf_counter()
    batch = 2000
    for i in range(0, len(files), batch):
        cmd = [sys.executable, "-m", "freezelint", "check", "--select", "ALL", "--isolated", "--no-cache",
               "--output-format", "json", "-o", report, *files[i:i + batch]]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        codes.append(proc.returncode)
        stderr_tail += proc.stderr[-2000:]
        with open(report, encoding="utf-8", errors="surrogateescape") as fh:
            findings += json.load(fh)
    os.unlink(report)
    errors = [f for f in findings if f["code"] == "FRZ000"]
    return {
        "package": name,
        "folder": folder,
        "files": len(files),
        "findings": len(findings) - len(errors),
        "frz000": errors,
        "exit_codes": sorted(set(codes)),
        "seconds": time.perf_counter() - t0,
        "stderr": stderr_tail,
        "internal": [f for f in errors if "internal error" in f["message"]]
        + ([{"filename": "-", "message": "traceback on stderr"}] if "Traceback" in stderr_tail else [])
        + ([{"filename": "-", "message": f"exit codes {sorted(set(codes))}"}] if set(codes) - {0, 1, 2} else []),
    }


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("packages", nargs="*", default=DEFAULT_PACKAGES)
    ap.add_argument("--sample", type=int, default=1, help="lint every N-th file only")
    args = ap.parse_args(argv)
    bad = False
    print(f"{'package':<20} {'files':>6} {'findings':>9} {'FRZ000':>7} {'exit':>6} {'seconds':>8}")
    results = []
    for name in args.packages:
        folder = package_dir(name)
        if folder is None:
            print(f"{name:<20} not installed, skipped")
            continue
        r = run(name, folder, args.sample)
        results.append(r)
        print(f"{name:<20} {r['files']:>6} {r['findings']:>9} {len(r['frz000']):>7} "
              f"{','.join(map(str, r['exit_codes'])):>6} {r['seconds']:>8.1f}", flush=True)
        bad |= bool(r["internal"])
    for r in results:
        for f in r["frz000"]:
            rel = os.path.relpath(f["filename"], os.path.dirname(r["folder"]))
            print(f"FRZ000 {rel}:{f['location']['row']}:{f['location']['column']}: {f['message']}")
        for f in r["internal"]:
            print(f"INTERNAL ERROR {f['filename']}: {f['message']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
