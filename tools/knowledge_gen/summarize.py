"""One source file -> a small `FileSummary` (the AST is dropped right after).

Names are resolved through the file's own imports at this stage, so every value
that refers to something outside the function is an absolute dotted name;
resolving that name through re-exports happens later, over all files
(resolve.py). The value vocabulary and the records are in records.py.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional

from .functions import read_body
from .records import _BUILTINS, ClassSummary, Encoder, FileSummary, FuncSummary, Value, _strings, annotation_names, dotted


class _FileReader:
    def __init__(self, module: str, is_package: bool) -> None:
        self.s = FileSummary(module, is_package)
        self.package = module if is_package else module.rpartition(".")[0]

    # -- imports and names -------------------------------------------------
    def absolute(self, level: int, mod: Optional[str]) -> str:
        if not level:
            return mod or ""
        base = self.package.split(".")
        if level > 1:
            base = base[: len(base) - (level - 1)]
        return ".".join(base + ([mod] if mod else []))

    def bind(self, name: str, target: str, priority: int) -> None:
        self.s.bindings.setdefault(name, []).append((priority, target))

    def best(self, name: str) -> str:
        return min(self.s.bindings[name], key=lambda b: b[0])[1]

    def imports(self, node: ast.AST, priority: int, into: Optional[Dict[str, List[Value]]] = None) -> None:
        def put(name: str, target: str) -> None:
            if into is None:
                self.bind(name, target, priority)
            else:
                into.setdefault(name, []).append(("n", target))

        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    put(a.asname, a.name)
                else:
                    head = a.name.split(".")[0]
                    put(head, head)
        elif isinstance(node, ast.ImportFrom):
            base = self.absolute(node.level, node.module)
            for a in node.names:
                if a.name == "*":
                    if into is None:
                        self.s.stars.append(base)
                else:
                    put(a.asname or a.name, f"{base}.{a.name}" if base else a.name)

    def global_name(self, name: str) -> Value:
        if name in self.s.bindings:
            return ("n", self.best(name))
        if name in _BUILTINS and name not in self.s.classes and name not in self.s.functions:
            return ("b", name)
        return ("n", f"{self.s.module}.{name}")

    # -- module body -------------------------------------------------------
    def read(self, tree: ast.Module) -> FileSummary:
        self.body(tree.body, 0, first=True)
        self.body(tree.body, 0, first=False)
        return self.s

    def body(self, stmts: List[ast.stmt], priority: int, first: bool) -> None:
        """first pass: imports and names bound; second pass: classes, functions, variables."""
        for st in stmts:
            if isinstance(st, (ast.Import, ast.ImportFrom)):
                if first:
                    self.imports(st, priority)
            elif isinstance(st, ast.If):
                self.body(st.body, priority, first)
                self.body(st.orelse, priority, first)
            elif isinstance(st, ast.Try) or type(st).__name__ == "TryStar":
                self.body(st.body, priority, first)
                for h in st.handlers:
                    self.body(h.body, priority + 1, first)  # fallbacks (dummy objects) rank lower
                self.body(st.orelse, priority, first)
                self.body(st.finalbody, priority, first)
            elif isinstance(st, ast.With):
                self.body(st.body, priority, first)
            elif isinstance(st, ast.ClassDef):
                if first:
                    self.bind(st.name, f"{self.s.module}.{st.name}", priority)
                elif st.name not in self.s.classes or priority == 0:
                    self.s.classes[st.name] = self.read_class(st)
            elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if first:
                    self.bind(st.name, f"{self.s.module}.{st.name}", priority)
                elif st.name not in self.s.functions or priority == 0:
                    self.s.functions[st.name] = self.read_function(st, None)
            elif isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                self.assignment(st, priority, first)
            elif isinstance(st, ast.Expr) and not first:
                self.structure_call(st.value)

    def assignment(self, st: ast.stmt, priority: int, first: bool) -> None:
        targets = st.targets if isinstance(st, ast.Assign) else [st.target]
        value = st.value
        if value is None:
            return
        for t in targets:
            if isinstance(t, ast.Name):
                name = t.id
                if name == "__all__":
                    if first:
                        names = _strings(value) or []
                        if isinstance(st, ast.AugAssign) and self.s.all_names is not None:
                            self.s.all_names = self.s.all_names + names
                        elif _strings(value) is not None:
                            self.s.all_names = names
                    continue
                if name == "_import_structure" and isinstance(value, ast.Dict):
                    if first:
                        self.import_structure(value.keys, value.values, priority)
                    continue
                if first:
                    if name not in self.s.bindings:  # an import or def of the same name wins
                        self.bind(name, f"{self.s.module}.{name}", priority + 2)
                    d = dotted(value)
                    if d and not isinstance(st, ast.AugAssign):  # `Alias = SomeClass`
                        head = d.split(".")[0]
                        if head in self.s.bindings and head != name:
                            resolved = self.best(head) + d[len(head):]
                            self.s.bindings[name].insert(0, (priority, resolved))
                elif name not in self.s.variables:
                    self.s.variables[name] = Encoder(self, None, {}).value(value)
            elif isinstance(t, ast.Subscript) and first and dotted(t.value) == "_import_structure":
                key = t.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    self.import_structure([key], [value], priority)

    def structure_call(self, call: ast.AST) -> None:
        # `_import_structure["x"].extend([...])` / `.append("Y")`
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute):
            target = call.func.value
            if isinstance(target, ast.Subscript) and dotted(target.value) == "_import_structure":
                key = target.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str) and call.args:
                    arg = call.args[0]
                    if isinstance(arg, ast.Constant):
                        arg = ast.List(elts=[arg])
                    self.import_structure([key], [arg], 0)

    def import_structure(self, keys, values, priority: int) -> None:
        for k, v in zip(keys, values):
            names = _strings(v)
            if isinstance(k, ast.Constant) and isinstance(k.value, str) and names:
                base = f"{self.package}.{k.value}"
                for n in names:
                    if n not in self.s.bindings:
                        self.bind(n, f"{base}.{n}", priority + 1)

    # -- classes and functions ---------------------------------------------
    def read_class(self, node: ast.ClassDef) -> ClassSummary:
        c = ClassSummary(node.name)
        enc = Encoder(self, None, {})
        for b in node.bases:
            if isinstance(b, ast.Subscript):  # Generic[T], nn.Module[...]
                b = b.value
            d = dotted(b)
            if d:
                v = enc.value(b)
                c.bases.append(v[1] if v[0] == "n" else d)
        c.decorators = [enc.value(d) for d in node.decorator_list]
        for st in node.body:
            if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
                c.methods[st.name] = self.read_function(st, c)
            elif isinstance(st, ast.Assign):
                for t in st.targets:
                    if isinstance(t, ast.Name):
                        c.attrs[t.id] = enc.value(st.value)
            elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value is not None:
                c.attrs[st.target.id] = enc.value(st.value)
        return c

    def read_function(self, node, cls: Optional[ClassSummary]) -> FuncSummary:
        f = FuncSummary(node.name)
        enc0 = Encoder(self, None, {})
        for d in node.decorator_list:
            dd = dotted(d.func if isinstance(d, ast.Call) else d) or ""
            if dd.endswith("classmethod"):
                f.kind = "classmethod"
            elif dd.endswith("staticmethod"):
                f.kind = "staticmethod"
            elif dd.endswith("property") or dd.endswith(".setter"):
                f.kind = "property"
            f.decorators.append(enc0.value(d))
        if node.returns is not None:
            resolved = annotation_names(enc0, node.returns)
            f.annotation_names = resolved
            f.annotation = resolved[0] if resolved else None
        read_body(self, node, f, cls is not None)
        return f


def summarize_source(text: str, module: str, is_package: bool) -> Optional[FileSummary]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return _FileReader(module, is_package).read(tree)
