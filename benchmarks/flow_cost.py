"""What the flow analysis adds to a bare `ast` parse, on real files.

    python benchmarks/flow_cost.py [DIR ...]   (default: installed transformers, timm, peft)

For each file that mentions a freeze-related word, times: ast.parse;
FileFacts; building every flow timeline of the file; and the full lint with
all rules. Prints totals as multiples of the parse time, and the flow cost per
KB for small/medium/large files (linearity). Measures only; asserts nothing.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import time

from freezelint.static.run import engine
from freezelint.static.parse.astutil import SourceText
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.flow.file_flow import file_flow
from freezelint.static.rules import load_rules

WORDS = ("requires_grad", "eval(", "no_grad", "optim", "freeze")


def files(dirs, limit=150):
    out = []
    for d in dirs:
        for root, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith(".py"):
                    p = os.path.join(root, n)
                    text = open(p, encoding="utf-8", errors="replace").read()
                    if any(w in text for w in WORDS):
                        out.append((p, text))
    out.sort(key=lambda pt: pt[0])
    step = max(1, len(out) // limit)
    return out[::step]


def main() -> None:
    dirs = sys.argv[1:] or [
        list(spec.submodule_search_locations)[0]
        for spec in (importlib.util.find_spec(n) for n in ("transformers", "timm", "peft"))
        if spec is not None and spec.submodule_search_locations
    ]
    if not dirs:
        sys.exit("flow_cost: none of transformers, timm, peft is installed; pass directories to measure")
    sample = files(dirs)
    rules = load_rules()
    parse_t = facts_t = flow_t = lint_t = 0.0
    by_size = {"<20KB": [0.0, 0.0], "20-80KB": [0.0, 0.0], ">80KB": [0.0, 0.0]}
    events = 0
    for path, text in sample:
        t0 = time.perf_counter()
        module = ast.parse(text)
        t1 = time.perf_counter()
        facts = FileFacts(module, SourceText(text))
        t2 = time.perf_counter()
        ff = file_flow(facts)
        events += sum(len(tl.events) for tl in ff.all_timelines())
        t3 = time.perf_counter()
        engine.lint_text(path, text, rules)
        t4 = time.perf_counter()
        parse_t += t1 - t0
        facts_t += t2 - t1
        flow_t += t3 - t2
        lint_t += t4 - t3
        kb = len(text) / 1024
        bucket = "<20KB" if kb < 20 else "20-80KB" if kb < 80 else ">80KB"
        by_size[bucket][0] += t3 - t2
        by_size[bucket][1] += kb
    print(f"files: {len(sample)}  timeline events: {events}")
    print(f"parse            {parse_t:7.2f}s  1.00x")
    print(f"facts            {facts_t:7.2f}s  {facts_t / parse_t:.2f}x parse")
    print(f"flow (all scopes){flow_t:7.2f}s  {flow_t / parse_t:.2f}x parse")
    print(f"full lint, ALL   {lint_t:7.2f}s  {lint_t / parse_t:.2f}x parse (parses again, all rules, one traversal)")
    for bucket, (t, kb) in by_size.items():
        if kb:
            print(f"flow per KB {bucket:>8}: {1000 * t / kb:.3f} ms/KB over {kb:.0f} KB")


if __name__ == "__main__":
    main()
