"""A fast sampled run of scripts/corpus_check.py over the installed sources of
torch, transformers, peft, pytorch_lightning and timm (the ones installed): no
internal error, no traceback, and every FRZ000 is a file Python itself rejects."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import corpus_check  # noqa: E402

PACKAGES = [p for p in corpus_check.DEFAULT_PACKAGES if corpus_check.package_dir(p) is not None]


@pytest.mark.skipif(not PACKAGES, reason="none of the corpus packages is installed")
@pytest.mark.parametrize("package", PACKAGES)
def test_sampled_corpus_run_has_no_internal_error(package):
    folder = corpus_check.package_dir(package)
    r = corpus_check.run(package, folder, sample=25)
    assert r["files"] > 0
    assert r["internal"] == [], r["internal"]
    assert set(r["exit_codes"]) <= {0, 1, 2}
    for f in r["frz000"]:
        with open(f["filename"], "rb") as fh:
            data = fh.read()
        with pytest.raises((SyntaxError, ValueError)):
            compile(data, f["filename"], "exec", dont_inherit=True)
