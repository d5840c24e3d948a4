"""The `freezelint run --html` page rendered by a real headless browser (Debian's chromium): the
browser parses it, applies its style, and the frozen-but-changed module's row is the red one.
Skipped where no chromium is installed (`apt-get install chromium`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.runtime.run_support import run, variant

pytest.importorskip("torch")
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")

# Appended to the page: what the browser computed for every module row, into a <pre> --dump-dom prints.
PROBE = """
<pre id="probe"></pre>
<script>
const rows = [...document.querySelectorAll("tr")].filter(r => r.querySelector("td.name"));
document.getElementById("probe").textContent = JSON.stringify(rows.map(r => ({
  cls: r.className, name: r.querySelector("td.name").textContent.trim(),
  bg: getComputedStyle(r.querySelector("td.name")).backgroundColor,
  text: r.textContent })));
</script>
"""


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed")
def test_the_html_report_renders_with_the_changed_module_in_red(tmp_path):
    script = variant("accelerate_loop.py", "mistake", tmp_path)  # zero-filled grads under AdamW decay
    page = tmp_path / "report.html"
    res = run(["--html", str(page), script], tmp_path)
    assert res.returncode == 1 and page.exists(), res.stderr
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=2000", "--dump-dom",
         probed.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    rows = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    changed = [r for r in rows if r["cls"] == "changed"]
    assert changed and all(r["bg"] == "rgb(248, 201, 201)" for r in changed), rows
    assert any("FRZ502" in r["text"] for r in changed), rows  # the finding sits beside its module
    assert {r["bg"] for r in rows if r["cls"] == "trainable"} == {"rgb(217, 242, 217)"}
