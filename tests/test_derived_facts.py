"""The per-file facts the rules share, and the vocabulary they are written in.

`FileFacts.derived(cls)` builds a later layer's analysis once per file (the flow timelines); what one rule
alone needs lives on that rule's instance, and the runner makes one instance per file, so nothing a rule
worked out for one file is seen in the next. `constructor_kind` is the one answer to "what does calling
this name build", for a call here and for what another file's class stores in `self.x`. Event kinds are
a `str` enum that prints, compares and serialises as the words they were.
"""

import ast
import json
import textwrap

from freezelint.static.flow import file_flow as flow_file
from freezelint.static.flow import timeline as flow
from freezelint.static.parse.astutil import SourceText
from freezelint.static.run.engine import summarize_text
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.semantic.kinds import CONTAINER, MODULE, TENSOR
from freezelint.static.semantic.project import ProjectIndex
from static_support import lint_findings


def _facts(text, project=None, module_name=""):
    text = textwrap.dedent(text)
    return FileFacts(ast.parse(text), SourceText(text), project, module_name)


def test_derived_builds_once_per_file():
    made = []

    class Analysis:
        def __init__(self, facts):
            made.append(facts)

    facts = _facts("x = 1\n")
    first = facts.derived(Analysis)
    assert facts.derived(Analysis) is first and made == [facts]
    other = _facts("y = 2\n")
    assert other.derived(Analysis) is not first and made == [facts, other]
    assert flow_file.file_flow(facts) is flow_file.file_flow(facts) is facts.derived(flow_file.FileFlow)


READS_ITS_FLAG = """
import torch.nn as nn

def setup(model: nn.Module):
    for p in model.parameters():
        p.trainable = False
    return [p for p in model.parameters() if p.trainable]
"""
NEVER_READ = """
import torch.nn as nn

def setup(model: nn.Module):
    for p in model.parameters():
        p.trainable = False
"""


def test_a_rules_per_file_answer_does_not_leak_into_the_next_file():
    # FRZ011 keeps the freeze words a file reads on its instance: the first file's reads must not
    # silence the second file's finding (nor the reverse)
    assert [f.code for f in lint_findings(READS_ITS_FLAG, "FRZ011")] == []
    assert [f.code for f in lint_findings(NEVER_READ, "FRZ011")] == ["FRZ011"]
    assert [f.code for f in lint_findings(READS_ITS_FLAG, "FRZ011")] == []


PARTS = """
import torch
import torch.nn as nn

class Parts(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(3))
        self.proj = nn.Linear(3, 3)
        self.blocks = nn.ModuleList([nn.Linear(3, 3)])
        self.pe = torch.zeros(3)
"""
USES = """
from parts import Parts

def use(p: Parts):
    return p.scale, p.proj, p.blocks, p.pe
"""


def test_another_files_attributes_answer_as_a_call_here_would():
    project = ProjectIndex.build([summarize_text(textwrap.dedent(PARTS)), summarize_text(textwrap.dedent(USES))],
                                 ["parts", "uses"])
    facts = _facts(USES, project, "uses")
    fn = facts.functions["use"][0]
    scope = facts.scope_of[id(fn)]
    got = {e.attr: facts.kind_of(e, scope) for e in fn.body[0].value.elts}
    assert got["scale"].tag == TENSOR  # nn.Parameter: a tensor, as `nn.Parameter(...)` called here is
    assert (got["proj"].tag, got["proj"].detail) == (MODULE, "torch.nn.Linear")
    assert got["blocks"].tag == CONTAINER
    assert got["pe"].tag == TENSOR
    here = _facts(PARTS)
    for qual in ("torch.nn.Parameter", "torch.nn.Linear", "torch.nn.ModuleList", "torch.zeros"):
        assert here.constructor_kind(qual) == facts.constructor_kind(qual)


def test_event_kinds_are_an_enum_that_reads_as_the_words():
    assert isinstance(flow.FREEZE, flow.EventKind) and flow.FREEZE is flow.EventKind("freeze")
    assert flow.FREEZE == "freeze" and {"freeze": 1}[flow.FREEZE] == 1
    assert f"{flow.UNFREEZE}" == str(flow.UNFREEZE) == "unfreeze"
    assert json.dumps({flow.EVAL: [flow.TRAIN]}) == '{"eval": ["train"]}'
    tl = flow_file.file_flow(_facts("""
        import torch.nn as nn
        model = nn.Linear(2, 2)
        model.requires_grad_(False)
        model.eval()
    """)).all_timelines()[0]
    assert [e.kind for e in tl.events] == ["freeze", "eval"]
    assert all(type(e.kind) is flow.EventKind for e in tl.events)
