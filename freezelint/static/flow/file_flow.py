"""The flow analysis of one file: timelines built on demand, once per scope, and kept for every rule.

Apart from `flow.py` (the vocabulary, Event, Timeline, paths) because building a
timeline needs the event extractors (`flow_events` and friends), which import that
vocabulary: this module sits above both, so there is no import cycle.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Set, Tuple

from freezelint.static.parse.astutil import FUNCTION_NODES
from freezelint.static.semantic.facts import FileFacts
from freezelint.static.flow.timeline import _CORE_WORDS, _HELPER_WORD_PREFIXES, _HELPER_WORDS, TRAIN_REPLACED, Timeline
from freezelint.static.flow.events import Builder
from freezelint.static.flow.params import grad_mode_of


class FileFlow:
    """Timelines of one file, built on demand and kept for every rule."""

    def __init__(self, facts: FileFacts):
        self.facts = facts
        self._cache: Dict[Tuple[int, bool], Timeline] = {}
        self._all: Optional[List[Timeline]] = None
        self.train_after_build: Optional[list] = None  # construction.train_sites: computed on first use
        # FRZ101: the `self.*` paths each class's methods freeze (None: functions outside a class); first use
        self.self_frozen: Optional[Dict[Optional[str], Set[str]]] = None
        # FRZ102, FRZ107: paths whose `train` attribute is replaced (`vae.train = disabled_train`); first use
        self._train_replaced: Optional[List[str]] = None

    def timeline(self, node: ast.AST, follow: bool = True) -> Timeline:
        key = (id(node), follow)
        tl = self._cache.get(key)
        if tl is not None:
            return tl
        scope = self.facts.scope_of.get(id(node), self.facts.module_scope)
        name = node.name if isinstance(node, FUNCTION_NODES) else None
        tl = Timeline(node, name)
        self._cache[key] = tl  # recursion guard: a helper calling back sees a partial timeline
        if not isinstance(node, (ast.Module,) + FUNCTION_NODES) or not self._may_have_events(node, follow):
            return tl  # a lambda's body is one expression: no statements, no events of its own
        b = Builder(self, tl, scope, follow)
        if isinstance(node, FUNCTION_NODES):
            for d in node.decorator_list:
                m = grad_mode_of(self.facts, d, scope)
                if m is not None:
                    b.grad = [m if m != "enable_grad" else None]
        b.run(node.body)
        return tl

    def _may_have_events(self, node: ast.AST, follow: bool = True) -> bool:
        """Cheap gate on the names a scope itself uses (`facts.scope_words`), so most scopes are never walked.

        A scope (followed: a rule will query it) needs a freeze, mode, backward or grad-switch word, or a
        call of a same-file function that passes the helper gate. A helper (not followed) needs one of
        those words or an optimizer/wrapper/step word, since those events count at its call sites.
        """
        words = self.facts.scope_words.get(id(node))
        if not words:
            return False
        if any(w.lower().startswith(_HELPER_WORD_PREFIXES) for w in words):
            return True
        if words & self.facts.project.effect_names:
            return True  # calls a helper of another file that freezes or switches modes
        if not follow:
            return bool(words & _HELPER_WORDS)
        if words & _CORE_WORDS:
            return True
        return any(
            self._may_have_events(d, follow=False) for w in words for d in self.facts.functions.get(w, ())
        )

    def all_timelines(self) -> List[Timeline]:
        if self._all is None:
            nodes = [self.facts.module] + [d for defs in self.facts.functions.values() for d in defs]
            self._all = [self.timeline(n) for n in nodes]
        return self._all


def file_flow(facts: FileFacts) -> FileFlow:
    """The flow analysis of a file, created on first use and shared by all rules."""
    return facts.derived(FileFlow)


def timeline(facts: FileFacts, node: ast.AST) -> Timeline:
    return file_flow(facts).timeline(node)


def train_replaced_paths(flow_: "FileFlow") -> List[str]:
    """Paths whose `train` attribute is replaced anywhere in the file (`vae.train = disabled_train`)."""
    if flow_._train_replaced is None:
        flow_._train_replaced = [e.target for tl in flow_.all_timelines() for e in tl.of(TRAIN_REPLACED) if e.target]
    return flow_._train_replaced


