"""Watch rule expressions: parser and evaluator.

Grammar (keywords upper-case; precedence from tightest: NEAR/n and SENT, NOT, AND, OR)::

    expr  := and ("OR" and)*
    and   := unary ("AND" unary)*
    unary := "NOT" unary | near
    near  := atom (("NEAR/" INT | "SENT") atom)*
    atom  := ID | "\\"literal\\"" | "(" expr ")"

``NEAR/n`` holds when a hit of each side lies within n words of the other. ``SENT`` holds when a
hit of each side lies in the same sentence: a sentence ends at ``. ! ? ؟ …`` followed by a space or
line break, and at every line break (so a paragraph or the title is never joined to the next), not
at a decimal point (``3.5``). NEAR and SENT chain left to right (``a SENT b NEAR/5 c``). The subject
of a rule (what carries the score) is the first operand of every AND/NEAR/SENT and every
alternative of an OR.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TOKEN_RE = re.compile(r'\s*(?:(\()|(\))|NEAR/(\d+)|(AND|OR|NOT|SENT)\b|([a-z0-9_]+)|"([^"]+)"|(\S))')


class RuleSyntaxError(ValueError):
    """A rule expression that does not parse; the message says where and why."""


@dataclass(frozen=True)
class Ref:
    """An entity/concept id, or a quoted literal (``literal`` true, ``key`` is the quoted text)."""

    key: str
    literal: bool = False


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int


@dataclass(frozen=True)
class Sent:
    left: Node
    right: Node


Node = Ref | Not | And | Or | Near | Sent
Position = tuple[int, int]  # (word index, hit number)


def _tokenize(rule: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    for m in _TOKEN_RE.finditer(rule):
        lpar, rpar, near, keyword, ident, literal, other = m.groups()
        if other is not None:
            raise RuleSyntaxError(f"unexpected {other!r} at position {m.start(7)}")
        if lpar or rpar:
            tokens.append(("(", "") if lpar else (")", ""))
        elif near is not None:
            tokens.append(("NEAR", near))
        elif keyword:
            tokens.append((keyword, ""))
        elif ident:
            tokens.append(("ID", ident))
        elif literal is not None:
            tokens.append(("LIT", '"' + literal + '"'))
    if rule.strip() and not tokens:
        raise RuleSyntaxError("empty rule")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else "END"

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expr(self) -> Node:
        parts = [self.conj()]
        while self.peek() == "OR":
            self.take()
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def conj(self) -> Node:
        parts = [self.unary()]
        while self.peek() == "AND":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        if self.peek() == "NOT":
            self.take()
            return Not(self.unary())
        return self.near()

    def near(self) -> Node:
        node = self.atom()
        while self.peek() in ("NEAR", "SENT"):
            kind, distance = self.take()
            node = Near(node, self.atom(), int(distance)) if kind == "NEAR" else Sent(node, self.atom())
        return node

    def atom(self) -> Node:
        kind = self.peek()
        if kind == "(":
            self.take()
            node = self.expr()
            if self.peek() != ")":
                raise RuleSyntaxError("missing ')'")
            self.take()
            return node
        if kind in ("ID", "LIT"):
            _, value = self.take()
            return Ref(value, literal=kind == "LIT")
        found = "end of rule" if kind == "END" else repr(self.tokens[self.pos][0])
        raise RuleSyntaxError(f"expected an id, a \"literal\" or '(' but found {found}")


def parse_rule(rule: str) -> Node:
    """Parse ``rule``; raise RuleSyntaxError saying what is wrong. A rule needs a positive operand,
    and NOT may not appear inside a NEAR or SENT operand."""
    parser = _Parser(_tokenize(rule))
    node = parser.expr()
    if parser.peek() != "END":
        raise RuleSyntaxError(f"unexpected {parser.tokens[parser.pos][0]!r} after a complete expression")
    if not subject_keys(node):
        raise RuleSyntaxError("the rule has no positive operand (only NOT)")
    _check_near_operands(node, inside_near=False)
    return node


def _check_near_operands(node: Node, *, inside_near: bool) -> None:
    if isinstance(node, Not):
        if inside_near:
            raise RuleSyntaxError("NOT cannot be an operand of NEAR or SENT")
        _check_near_operands(node.child, inside_near=inside_near)
    elif isinstance(node, And | Or):
        for child in node.children:
            _check_near_operands(child, inside_near=inside_near)
    elif isinstance(node, Near | Sent):
        _check_near_operands(node.left, inside_near=True)
        _check_near_operands(node.right, inside_near=True)


def refs(node: Node) -> set[Ref]:
    """Every operand the rule mentions (positive or negated)."""
    if isinstance(node, Ref):
        return {node}
    if isinstance(node, Not):
        return refs(node.child)
    if isinstance(node, Near | Sent):
        return refs(node.left) | refs(node.right)
    return set().union(*(refs(child) for child in node.children))


def uses_sentences(node: Node) -> bool:
    """True when the rule has a SENT operator (its evaluation needs the sentence starts)."""
    if isinstance(node, Sent):
        return True
    if isinstance(node, Ref):
        return False
    if isinstance(node, Not):
        return uses_sentences(node.child)
    if isinstance(node, Near):
        return uses_sentences(node.left) or uses_sentences(node.right)
    return any(uses_sentences(child) for child in node.children)


def rule_ids(node: Node) -> set[str]:
    """Entity/concept ids the rule refers to (literals excluded)."""
    return {ref.key for ref in refs(node) if not ref.literal}


def required_keys(node: Node) -> set[str]:
    """Keys that have hits whenever the rule holds (a ``NOT`` operand requires nothing; an ``OR``
    requires what all its alternatives require)."""
    if isinstance(node, Ref):
        return {node.key}
    if isinstance(node, Not):
        return set()
    if isinstance(node, Near | Sent):
        return required_keys(node.left) | required_keys(node.right)
    if isinstance(node, Or):
        return set.intersection(*(required_keys(child) for child in node.children))
    return set().union(*(required_keys(child) for child in node.children))


def subject_keys(node: Node) -> set[str]:
    """Keys whose hits carry the score: first operand of AND/NEAR/SENT, every alternative of OR."""
    if isinstance(node, Ref):
        return {node.key}
    if isinstance(node, Not):
        return set()
    if isinstance(node, Near | Sent):
        return subject_keys(node.left)
    if isinstance(node, Or):
        return set().union(*(subject_keys(child) for child in node.children))
    for child in node.children:
        keys = subject_keys(child)
        if keys:
            return keys
    return set()


@dataclass(frozen=True)
class Outcome:
    """Result of evaluating a rule: whether it holds, and the hits that support it."""

    ok: bool
    support: tuple[Position, ...]


_FALSE = Outcome(False, ())


def evaluate(node: Node, positions: Mapping[str, Sequence[Position]],
             sentences: Sequence[int] = ()) -> Outcome:
    """Evaluate ``node`` given, per key, the (word index, hit number) of each hit, sorted by word.

    ``sentences``: the sorted word indexes at which a new sentence starts (``scan.sentence_starts``);
    only SENT reads them, and without them the whole text is one sentence.
    """
    ok, support = _evaluate(node, positions, sentences)
    return Outcome(ok, tuple(support)) if ok else _FALSE


_Result = tuple[bool, Sequence[Position]]
_NO: _Result = (False, ())


def _evaluate(node: Node, positions: Mapping[str, Sequence[Position]], sentences: Sequence[int]) -> _Result:
    """``evaluate`` without the Outcome records (the matcher calls this per candidate rule)."""
    if isinstance(node, Ref):
        found = positions.get(node.key, ())
        return bool(found), found
    if isinstance(node, Near | Sent):
        left = _evaluate(node.left, positions, sentences)
        if not left[0]:
            return _NO
        right = _evaluate(node.right, positions, sentences)
        if not right[0]:
            return _NO
        if isinstance(node, Sent):
            return _same_sentence(left[1], right[1], sentences)
        return _near(left[1], right[1], node.distance)
    if isinstance(node, And):
        support: list[Position] = []
        for child in node.children:
            ok, found = _evaluate(child, positions, sentences)
            if not ok:
                return _NO
            support.extend(found)
        return True, support
    if isinstance(node, Or):
        results = [_evaluate(child, positions, sentences) for child in node.children]
        return any(ok for ok, _ in results), [p for ok, found in results if ok for p in found]
    return not _evaluate(node.child, positions, sentences)[0], ()


def _near(left: Sequence[Position], right: Sequence[Position], distance: int) -> _Result:
    left_sorted = sorted(left)
    right_sorted = sorted(right)
    right_words = [p[0] for p in right_sorted]
    left_words = [p[0] for p in left_sorted]
    # a hit is kept when the other side has a hit within ``distance`` words of it
    kept_left = [p for p in left_sorted
                 if bisect_right(right_words, p[0] + distance) > bisect_left(right_words, p[0] - distance)]
    if not kept_left:
        return _NO
    kept_right = [p for p in right_sorted
                  if bisect_right(left_words, p[0] + distance) > bisect_left(left_words, p[0] - distance)]
    return True, sorted(set(kept_left + kept_right))


def _same_sentence(left: Sequence[Position], right: Sequence[Position], sentences: Sequence[int]) -> _Result:
    """Both sides' hits that share a sentence with a hit of the other side."""
    right_in = {bisect_right(sentences, word) for word, _ in right}
    kept_left = [p for p in left if bisect_right(sentences, p[0]) in right_in]
    if not kept_left:
        return _NO
    left_in = {bisect_right(sentences, word) for word, _ in kept_left}
    kept_right = [p for p in right if bisect_right(sentences, p[0]) in left_in]
    return True, sorted(set(kept_left + kept_right))

