"""Run every rule over installed third-party sources and count findings per code.

    python benchmarks/precision.py [--packages transformers,peft,...] [--show FRZ1,FRZ2,FRZ3] [--cost]

Prints a table: package, files, findings per code. `--show` prints the findings
of the given code prefixes (to read them). `--cost` also measures, on a sample
of the files, the flow analysis time against a bare libcst parse (see
`flow_cost.py`). Nothing here asserts anything: it measures.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import subprocess
import sys

DEFAULT = ["transformers", "peft", "pytorch_lightning", "timm"]


def package_dir(name: str) -> str:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed")
    return list(spec.submodule_search_locations)[0]


def count_py(path: str) -> int:
    return sum(1 for _, _, files in os.walk(path) for f in files if f.endswith(".py"))


def run(path: str):
    cmd = [sys.executable, "-m", "freezelint", "check", path, "--select", "ALL", "--output-format", "json", "--exit-zero", "--no-cache"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise SystemExit(f"freezelint crashed on {path} (exit {out.returncode}):\n{out.stderr[-3000:]}")
    findings = json.loads(out.stdout)
    errors = [f for f in findings if f["code"] == "FRZ000"]
    if errors:
        print(f"# {path}: {len(errors)} files could not be parsed (FRZ000)", file=sys.stderr)
    return findings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packages", default=",".join(DEFAULT))
    ap.add_argument("--show", default="")
    ap.add_argument("--cost", action="store_true")
    args = ap.parse_args()
    rows = []
    codes = set()
    shown = []
    for name in args.packages.split(","):
        path = package_dir(name)
        findings = run(path)
        counts = collections.Counter(f["code"] for f in findings)
        codes.update(counts)
        rows.append((name, count_py(path), counts))
        if args.show:
            prefixes = tuple(args.show.split(","))
            shown.extend(f for f in findings if f["code"].startswith(prefixes))
    codes = sorted(codes)
    header = ["package", "files"] + codes
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, files, counts in rows:
        print("| " + " | ".join([name, str(files)] + [str(counts.get(c, 0)) for c in codes]) + " |")
    for f in shown:
        print(f"{f['filename']}:{f['location']['row']}: {f['code']} {f['message']}")
    if args.cost:
        here = os.path.dirname(os.path.abspath(__file__))
        subprocess.run([sys.executable, os.path.join(here, "flow_cost.py")] + [package_dir(n) for n in args.packages.split(",")])


if __name__ == "__main__":
    main()
