#!/usr/bin/env python
"""Regenerate freezelint's library knowledge base from the libraries' sources.

    python scripts/gen_knowledge.py --from-pip --source mmcv=PATH/TO/mmcv \
        --source bitsandbytes=PATH/TO/bitsandbytes

reads every library's Python sources with `ast` (nothing is imported or installed) and
writes freezelint/static/knowledge/libraries.json. Where the sources come from:

  --from-pip        `pip download --no-deps` the pinned version of each library (see
                    tools/knowledge_gen/sources.py) into --cache and unzip its
                    .py files there; torch is always read from the running interpreter's
                    installed torch; mmcv (its sdist cannot be prepared) and bitsandbytes (its
                    wheels are ~100 MB of CUDA kernels) only from --source checkouts.
  (default)         the packages installed for this interpreter (found, not imported).
  --source NAME=PATH  a folder holding the package (site-packages, extracted wheel or sdist,
                    repository checkout); wins over the other two. Repeatable.
  --only NAME,...   just these libraries (e.g. `--only torch`); --print: the JSON to stdout.

Exit status: 0 written, 2 bad arguments or a download/source that failed (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))  # the generator is not shipped

from knowledge_gen.build import build  # noqa: E402
from knowledge_gen.sources import BY_NAME, library_roots  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "freezelint", "static", "knowledge", "libraries.json")
DEFAULT_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "freezelint-knowledge")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-pip", action="store_true", help="download pinned wheels/sdists into --cache")
    ap.add_argument("--source", action="append", default=[], metavar="NAME=PATH")
    ap.add_argument("--only", default="", help="comma-separated library names")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="downloads, unpacked sources, parse cache")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--print", action="store_true", help="write the JSON to stdout instead of --out")
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
        roots = library_roots(sources, args.from_pip, args.cache, only or None)
        data = build(roots, cache=args.cache)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        print(f"gen_knowledge: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    if args.print:
        sys.stdout.write(text + "\n")
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        missing = sorted(set(BY_NAME) - set(roots) - (set(BY_NAME) - set(only) if only else set()))
        print(f"gen_knowledge: wrote {args.out} ({len(text) / 1e6:.2f} MB) in {time.perf_counter() - start:.0f} s"
              + (f"; not found: {', '.join(missing)}" if missing else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
