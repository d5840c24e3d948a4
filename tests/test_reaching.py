"""Which bindings of a name reach a use (reaching.py), and the flow-sensitive kinds built on it."""

import ast

import pytest

from freezelint.static.semantic.facts import FileFacts


def reaching_lines(source, name="x", probe="use"):
    """For every `use(<name>)` call, the lines of the bindings of `name` that reach it."""
    module = ast.parse(source)
    facts = FileFacts(module)
    out = []

    def visit(node, scope):
        for child in ast.iter_child_nodes(node):
            inner = facts.scope_of.get(id(child), scope)
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == probe:
                arg = child.args[0]
                bindings = facts.bindings_at(arg, scope) or []
                out.append(sorted(b.site.lineno if b.site is not None else 0 for b in bindings))
            visit(child, inner)

    visit(module, facts.module_scope)
    return out


@pytest.mark.parametrize(
    "source, expected",
    [
        # straight line: a rebinding kills what came before
        ("x = 1\nuse(x)\nx = 2\nuse(x)", [[1], [3]]),
        # the value is read before the name is rebound
        ("x = 1\nx = use(x)", [[1]]),
        # if/else: both arms reach, and what came before too (an arm may not bind)
        ("x = 0\nif c:\n    x = 1\nelse:\n    x = 2\nuse(x)", [[1, 3, 5]]),
        # inside an arm, that arm's binding kills the earlier one
        ("x = 0\nif c:\n    x = 1\n    use(x)\nuse(x)", [[3], [1, 3]]),
        # exclusive arms do not reach each other
        ("x = 0\nif c:\n    x = 1\nelse:\n    use(x)", [[1]]),
        # a loop: the body's later binding reaches its top on the next iteration
        ("x = 0\nfor i in r:\n    use(x)\n    x = 1\nuse(x)", [[1, 4], [1, 4]]),
        # ... unless something in the body rebinds it first
        ("x = 0\nfor i in r:\n    x = 2\n    use(x)\n    x = 1", [[3]]),
        # the loop target kills the previous iteration's value at the top of the body
        ("x = 0\nfor x in r:\n    use(x)\n    x = 1\nuse(x)", [[2], [1, 2, 4]]),
        # a while loop's test sees the body's bindings
        ("x = 0\nwhile use(x):\n    x = 1", [[1, 3]]),
        # del kills, and binds nothing
        ("x = 1\ndel x\nuse(x)\nx = 2\nuse(x)", [[], [4]]),
        # try: the handler sees what came before and what the body bound; the else only the body's
        ("x = 0\ntry:\n    x = 1\nexcept E:\n    use(x)\nelse:\n    use(x)\nfinally:\n    use(x)", [[1, 3], [3], [1, 3]]),
        # a binding in the finally block always runs
        ("x = 0\ntry:\n    pass\nfinally:\n    x = 1\nuse(x)", [[5]]),
        # a walrus may not run: it kills nothing
        ("x = 0\nif c and (x := 1):\n    pass\nuse(x)", [[1, 2]]),
        # with suppress(): its body may stop before the binding
        ("x = 0\nwith suppress(E):\n    x = 1\nuse(x)", [[1, 3]]),
        # comprehension names are local to it; outside, the enclosing binding
        ("x = 0\ny = [use(x) for x in r]\nuse(x)", [[2], [1]]),
        # its first iterable is evaluated outside it
        ("x = [1]\ny = [x for x in use(x)]", [[1]]),
    ],
)
def test_reaching(source, expected):
    assert reaching_lines(source) == expected


def test_function_scope_and_parameters():
    src = "def f(x):\n    use(x)\n    x = 1\n    use(x)\n"
    assert reaching_lines(src) == [[0], [3]]  # 0: the parameter


def test_closure_sees_every_binding_of_the_enclosing_scope():
    src = "x = 1\ndef f():\n    use(x)\nx = 2\n"
    assert reaching_lines(src) == [[1, 4]]


def test_global_declaration_keeps_every_binding():
    src = "def f():\n    global x\n    x = 1\n    use(x)\n"
    assert reaching_lines(src) == [[2, 3]]


def test_class_body_binding_kills_nothing_outside_it():
    src = "x = 1\nclass A:\n    x = 2\n    use(x)\nuse(x)\n"
    assert reaching_lines(src) == [[3], [1, 3]]


def test_node_without_position_gets_every_binding():
    module = ast.parse("x = 1\nx = 2\n")
    facts = FileFacts(module)
    made_up = ast.Name(id="x", ctx=ast.Load())
    assert len(facts.bindings_at(made_up, facts.module_scope)) == 2


def _kind(source, line):
    module = ast.parse(source)
    facts = FileFacts(module)
    for node in ast.walk(module):
        if isinstance(node, ast.Name) and node.id == "m" and node.lineno == line and isinstance(node.ctx, ast.Load):
            scope = facts.scope_of.get(id(module.body[-1]), facts.module_scope)
            return facts.kind_of(node, scope).tag
    raise AssertionError("no use of m on that line")


def test_kind_loop_fixpoint_through_self_returning_method():
    # `m = m.to(d)` in a loop: its own value on the next iteration; the fixpoint keeps it a Module
    src = "import torch.nn as nn\ndef f(d, n):\n    m = nn.Linear(1, 1)\n    for _ in n:\n        m = m.to(d)\n    probe(m)\n"
    assert _kind(src, 6) == "module"


def test_kind_loop_conflict_is_unknown():
    src = "import torch\nimport torch.nn as nn\ndef f(n):\n    m = nn.Linear(1, 1)\n    for _ in n:\n        probe(m)\n        m = torch.zeros(1)\n"
    assert _kind(src, 6) == "unknown"


def test_kind_is_independent_of_the_order_of_questions():
    src = "import torch.nn as nn\ndef f(d, n):\n    m = nn.Linear(1, 1)\n    for _ in n:\n        m = m.to(d)\n        probe(m)\n"
    module = ast.parse(src)
    uses = sorted((n for n in ast.walk(module) if isinstance(n, ast.Name) and n.id == "m" and isinstance(n.ctx, ast.Load)), key=lambda n: n.lineno)
    answers = []
    for order in (uses, uses[::-1]):
        facts = FileFacts(module)
        scope = facts.scope_of[id(module.body[-1])]
        answers.append({n.lineno: facts.kind_of(n, scope).tag for n in order})
    assert answers[0] == answers[1] == {5: "module", 6: "module"}
