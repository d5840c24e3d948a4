"""Paths shared by the static-pass tests (a uniquely named module: tests/runtime has its own conftest)."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures", "static")
