#!/usr/bin/env python
"""Regenerate freezelint's library knowledge base from the libraries' sources.

    python scripts/gen_knowledge.py --from-pypi

reads every library's Python sources with `ast` (nothing is imported or installed) and
writes freezelint/static/knowledge/libraries.json, whose "sources" record says what was read
(`dist==version`, one exact release on PyPI each). Where the sources come from:

  --from-pypi       download the pinned release of each library (tools/knowledge_gen/sources.py,
                    LIBRARIES) from PyPI into --cache, check its sha256, unpack its .py files:
                    the smallest wheel of the release (any platform; torch's macOS wheel is
                    ~110 MB), or the sdist where the table says so (mmcv: unpacked, never built).
  (default)         the packages installed for this interpreter (found, not imported).
  --source NAME=PATH  a folder holding the package (site-packages, extracted wheel or sdist,
                    repository checkout); wins over the other two. Repeatable. A folder whose
                    version is not the pinned release is recorded as such (`dist==0.1.dev0`),
                    which tests/test_knowledge_sources.py rejects.
  --only NAME,...   just these libraries, read with those they need (Library.needs: torch,
                    mmengine for mmcv); their entries and sources replace theirs in --out,
                    the others' stay.
  --check           write nothing: compare the regenerated entries and sources with --out
                    (exit 1 and a line per difference when they differ). With --from-pypi:
                    does the recorded knowledge base come out of its recorded sources?
  --print           the JSON to stdout instead of --out.

Exit status: 0 written (or --check: the same), 1 --check found differences, 2 bad arguments
or a download/source that failed (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))  # the generator is not shipped

from knowledge_gen.build import SECTIONS, build, merge, restrict, tops  # noqa: E402
from knowledge_gen.sources import BY_NAME, library_roots  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "freezelint", "static", "knowledge", "libraries.json")
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "freezelint-knowledge")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-pypi", "--from-pip", dest="from_pypi", action="store_true",
                    help="download the pinned releases from PyPI into --cache")
    ap.add_argument("--source", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--only", default="", help="comma-separated library names")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="downloads, unpacked sources, parse cache")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--print", action="store_true", help="write the JSON to stdout instead of --out")
    ap.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = ap.parse_args(argv)
    sources = {}
    for item in args.source:
        name, sep, path = item.partition("=")
        if not sep or name not in BY_NAME or not os.path.isdir(path):
            print(f"gen_knowledge: --source {item!r}: expected NAME=FOLDER with NAME in {sorted(BY_NAME)}", file=sys.stderr)
            return 2
        sources[name] = os.path.abspath(path)
    only = [n for n in args.only.split(",") if n]
    unknown = [n for n in only if n not in BY_NAME]
    if unknown:
        print(f"gen_knowledge: --only: unknown {', '.join(unknown)}; known: {', '.join(sorted(BY_NAME))}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    try:
        roots = library_roots(sources, args.from_pypi, args.cache, only or None)
        data = build(roots, cache=args.cache)
        old = None
        if only or args.check:
            with open(args.out, encoding="utf-8") as fh:
                old = json.load(fh)
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"gen_knowledge: {exc}", file=sys.stderr)
        return 2
    names = only or [n for n in BY_NAME if n in roots]
    if args.check:
        return report_differences(old, data, [n for n in names if n in roots], args.out)
    if only:
        data = merge(old, data, [n for n in only if n in roots])
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    if args.print:
        sys.stdout.write(text + "\n")
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        missing = sorted(set(only or BY_NAME) - set(roots))
        print(f"gen_knowledge: wrote {args.out} ({len(text) / 1e6:.2f} MB) in {time.perf_counter() - start:.0f} s"
              + (f"; not found: {', '.join(missing)}" if missing else ""), file=sys.stderr)
    return 0


def report_differences(old: dict, new: dict, names, out: str) -> int:
    """--check: a line per library whose recorded source or entries differ from `out`'s."""
    bad = 0
    for name in names:
        if old["sources"].get(name) != new["sources"][name]:
            print(f"{name}: recorded {old['sources'].get(name)!r}, read {new['sources'][name]!r}")
            bad += 1
        for top in tops([name]):
            want, got = restrict(old, top), restrict(new, top)
            for section in SECTIONS + ("unwrappers",) + (("returns_self",) if top == "torch" else ()):
                if want[section] != got[section]:
                    w, g = want[section], got[section]
                    keys = sorted(k for k in set(w) | set(g) if w.get(k) != g.get(k)) if isinstance(w, dict) else []
                    print(f"{name}: {section} differs" + (f" ({len(keys)}: {', '.join(keys[:3])})" if keys else ""))
                    bad += 1
    print(f"gen_knowledge: {', '.join(names)}: " + (f"{bad} differences from {out}" if bad else f"the same as {out}"),
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
