"""Read `# expect: FRZ001, FRZ201` markers and `# options: key=value` headers from fixtures."""

import re

EXPECT_RE = re.compile(r"#\s*expect:\s*([A-Z0-9, ]+)")
OPTIONS_RE = re.compile(r"^#\s*options:\s*(.*)$", re.M)


def expected(text):
    out = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        m = EXPECT_RE.search(line)
        if m:
            for code in m.group(1).split(","):
                if code.strip():
                    out.add((lineno, code.strip()))
    return out


def options(text):
    m = OPTIONS_RE.search(text)
    if not m:
        return {}
    return dict(part.split("=", 1) for part in m.group(1).split())
