"""Write docs/rules/CODE.md for every freezelint code from the rules' own documentation.

    python scripts/gen_rule_docs.py          # rewrite docs/rules/
    python scripts/gen_rule_docs.py --check  # exit 1 if docs/rules/ is out of date

tests/test_rule_pages.py runs the check, so a rule's docstring and its page never drift.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from freezelint.rule_docs import all_pages  # noqa: E402

OUT = os.path.join(ROOT, "docs", "rules")


def stale(out: str = OUT) -> list:
    """Pages that are missing, different, or no longer generated."""
    pages = all_pages()
    present = set(os.listdir(out)) if os.path.isdir(out) else set()
    bad = sorted(name for name in present if name.endswith(".md") and name not in pages)
    for name, text in pages.items():
        path = os.path.join(out, name)
        try:
            with open(path, encoding="utf-8", newline="") as fh:
                if fh.read() == text:
                    continue
        except OSError:
            pass
        bad.append(name)
    return sorted(bad)


def write(out: str = OUT) -> None:
    os.makedirs(out, exist_ok=True)
    pages = all_pages()
    for name in os.listdir(out):
        if name.endswith(".md") and name not in pages:
            os.unlink(os.path.join(out, name))
    for name, text in pages.items():
        with open(os.path.join(out, name), "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/rules/ is out of date")
    args = parser.parse_args()
    if args.check:
        bad = stale()
        if bad:
            print(f"docs/rules is out of date ({', '.join(bad)}): run python scripts/gen_rule_docs.py", file=sys.stderr)
            return 1
        return 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
