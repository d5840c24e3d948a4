"""The base class every static rule subclasses.

A rule is a handful of `visit_*` / `leave_*` methods named after CPython `ast`
node classes. All rules share one traversal (see `context.RuleRunner`), and ask
shared questions — "is this receiver an nn.Module?" — of `self.facts` rather
than working them out anew. A fix is a text replacement of one node's span.
"""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import dataclass
from typing import ClassVar, Dict, Optional, Tuple, Type, Union

from freezelint.findings import Applicability, Severity
from freezelint.rule_info import RuleInfo

class _TextMemo:
    """What the prefilters found out about one text: all rules ask about the same text in turn, and
    many share a trigger (`requires_grad`), so each substring is looked for once per text."""

    __slots__ = ("text", "hits", "lower")

    def __init__(self, text: str):
        self.text = text
        self.hits: Dict[object, bool] = {}  # a word, or a tuple of words (contains_any)
        self.lower: Optional[str] = None


_memo = _TextMemo("")


def _memo_of(text: str) -> _TextMemo:
    global _memo
    memo = _memo
    if memo.text is not text:  # by identity: a new text (even an equal one) starts afresh
        memo = _memo = _TextMemo(text)
    return memo


# Words inside many trigger words: a text without `grad` holds none of `requires_grad`, `zero_grad`...
_ROOT_WORDS = ("grad", "train")
_roots: Dict[str, Tuple[str, ...]] = {}


def _roots_of(word: str) -> Tuple[str, ...]:
    """The shorter trigger words (and root words) inside `word`, shortest first."""
    got = _roots.get(word)
    if got is None:
        known = set(_ROOT_WORDS).union(*(r.triggers for r in Rule.registry.values()))
        got = _roots[word] = tuple(sorted((w for w in known if w != word and w in word), key=len))
    return got


def contains(text: str, word: str) -> bool:
    """`word in text`, remembered for the text the prefilters are looking at now. A word holding a shorter
    one found absent is absent too, without a search (each search reads the whole text)."""
    hits = _memo_of(text).hits
    hit = hits.get(word)
    if hit is None:
        hit = hits[word] = all(contains(text, root) for root in _roots_of(word)) and word in text
    return hit


_alternations: Dict[Tuple[str, ...], Optional["re.Pattern[str]"]] = {}


def contains_any(text: str, words: Tuple[str, ...]) -> bool:
    """`any(contains(text, w) for w in words)`. Many words that all begin with one character (`.fixed =`,
    `.frozen =`, ...) are looked for in one search: a pattern led by a literal is scanned for about as fast
    as one word, where each word alone is a scan of the whole text."""
    rx = _alternations.get(words, False)
    if rx is False:
        one_start = len(words) >= 4 and all(words) and len({w[0] for w in words}) == 1
        alternatives = "|".join(re.escape(w[1:]) for w in sorted(words, key=len, reverse=True))
        rx = _alternations[words] = re.compile(f"{re.escape(words[0][0])}(?:{alternatives})") if one_start else None
    if rx is None:
        return any(contains(text, w) for w in words)
    hits = _memo_of(text).hits
    hit = hits.get(words)  # type: ignore[call-overload]
    if hit is None:
        hit = hits[words] = rx.search(text) is not None  # type: ignore[index]
    return hit


def lowered(text: str) -> str:
    """`text.lower()`, computed once for the text the prefilters are looking at now."""
    memo = _memo_of(text)
    if memo.lower is None:
        memo.lower = text.lower()
    return memo.lower


def requires_grad_call(receiver: str, flag: str) -> str:
    """`receiver.requires_grad_(flag)`: what the FRZ0 fixes replace a no-op freeze with (source texts in)."""
    return f"{receiver}.requires_grad_({flag})"


@dataclass
class Report:
    """A finding before positions are known (positions are computed only if needed)."""

    rule: "Type[Rule]"
    node: ast.AST
    message: str
    statement: Optional[ast.AST]  # the enclosing statement: its first line takes `# noqa`
    replacement: Optional[Tuple[ast.AST, str]] = None  # (old node, the text that replaces its span)
    applicability: Optional[Applicability] = None
    fix_message: str = ""
    severity: Optional[Severity] = None  # None: the rule's default severity
    codemod: Optional[object] = None  # a codemods.requests.Codemod: an unsafe fix that inserts or moves statements


class Rule:
    """Subclass with `code`, `name`, `summary`, and a docstring in ruff's doc format."""

    registry: ClassVar[Dict[str, Type["Rule"]]] = {}

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    severity: ClassVar[Severity] = Severity.ERROR
    default_enabled: ClassVar[bool] = True
    fixable: ClassVar[Optional[str]] = None  # None | "safe" | "unsafe" (the best fix it can offer)
    # Substrings of which at least one must appear in a file's text for this rule
    # to possibly fire there; files matching no selected rule's triggers are not parsed.
    triggers: ClassVar[Tuple[str, ...]] = ()
    # Optionally, a regex that must also match somewhere (a sharper necessary condition), or a
    # tuple of regexes of which one must match: one per trigger word, each starting with its word,
    # is several times cheaper to search for than one pattern starting with an alternation.
    trigger_pattern: ClassVar[Union[None, "re.Pattern[str]", Tuple["re.Pattern[str]", ...]]] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.code:
            if cls.code in Rule.registry and Rule.registry[cls.code] is not cls:
                raise RuntimeError(f"duplicate rule code {cls.code}")
            Rule.registry[cls.code] = cls

    @classmethod
    def might_fire(cls, text: str) -> bool:
        """The cheap text prefilter: False means this rule cannot fire in `text`."""
        if cls.triggers and not contains_any(text, cls.triggers):
            return False
        pattern = cls.trigger_pattern
        if pattern is None:
            return True
        if isinstance(pattern, tuple):
            return any(p.search(text) is not None for p in pattern)
        return pattern.search(text) is not None

    @classmethod
    def info(cls) -> RuleInfo:
        return RuleInfo(
            code=cls.code,
            name=cls.name,
            summary=cls.summary,
            severity=cls.severity,
            default_enabled=cls.default_enabled,
            fixable=cls.fixable,
            doc=inspect.cleandoc(cls.__doc__ or ""),
            kind="static",
        )

    def __init__(self, ctx):  # a context.FileContext (not imported: context imports this module)
        self.ctx = ctx

    @property
    def facts(self):
        return self.ctx.facts

    def report(
        self,
        node: ast.AST,
        message: Optional[str] = None,
        *,
        replace: Optional[Tuple[ast.AST, str]] = None,
        applicability: Applicability = Applicability.SAFE,
        fix_message: str = "",
        severity: Optional[Severity] = None,
        statement: Optional[ast.AST] = None,
        codemod=None,
    ) -> None:
        """Record a finding at `node`; `statement` (default: the one being visited) takes `# noqa`.

        Once per rule and node: a class's lifecycle timeline can reach an event its method's own timeline did.
        """
        if any(r.node is node and r.rule is type(self) for r in self.ctx.reports):
            return
        self.ctx.reports.append(
            Report(
                rule=type(self),
                node=node,
                message=message or self.summary,
                statement=statement if statement is not None else self.ctx.current_statement(),
                replacement=replace,
                applicability=applicability if replace is not None else None,
                fix_message=fix_message,
                severity=severity,
                codemod=codemod,
            )
        )
