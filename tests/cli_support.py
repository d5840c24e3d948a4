"""Sources shared by the CLI tests."""

import os
import subprocess
import sys

BAD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad = False\n"
GOOD = "import torch.nn as nn\n\nmodel = nn.Linear(4, 2)\nmodel.requires_grad_(False)\n"
# FRZ101 (a warning): eval() meant as a freeze
WARN = (
    "import torch\nimport torchvision\n\n"
    'model = torchvision.models.resnet50(weights="DEFAULT")\n'
    "model.layer1.eval()  # freeze the stem\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.01)\n"
)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def freezelint(*args, cwd=None, env=None, input=None, **kw):
    """Run the real `python -m freezelint` (for what CliRunner cannot show: pipes, terminals)."""
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("FREEZELINT_CACHE_DIR", os.path.join(cwd or os.getcwd(), ".cache-test"))
    return subprocess.run(
        [sys.executable, "-m", "freezelint", *args],
        cwd=cwd,
        env=full_env,
        input=input,
        capture_output=True,
        text=True,
        **kw,
    )
