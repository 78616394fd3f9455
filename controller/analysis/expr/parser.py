"""A Pratt parser for the condition language, with expr-lang's operator precedences.

Binary operators, loosest first (all left-associative except ``**``/``^``)::

    or ||                              10
    and &&                             15
    == != < > <= >= in matches
    contains startsWith endsWith       20   (each also as ``not in``, ``not matches``, ...)
    ..                                 25
    + -                                30
    * / %                              60
    ** ^                               100  (right-associative)
    ??                                 500

Unary ``not``/``!`` bind at 50 (so ``!a == b`` is ``(!a) == b``, as in expr-lang) and ``-``/``+``
at 90. ``c ? a : b`` is looser than everything. Postfix: ``.name``, ``?.name``, ``[i]``,
``[a:b]``, calls of functions by name. Predicates of ``all``, ``any``, ``filter``, ... are
``{ ... }`` or a bare expression, with ``#`` (or ``.field``) for the element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from controller.analysis.expr.errors import CompileError
from controller.analysis.expr.lexer import Token, position, tokenize

_LEFT, _RIGHT = 0, 1
BINARY: Final[dict[str, tuple[int, int]]] = {
    "or": (10, _LEFT),
    "||": (10, _LEFT),
    "and": (15, _LEFT),
    "&&": (15, _LEFT),
    "==": (20, _LEFT),
    "!=": (20, _LEFT),
    "<": (20, _LEFT),
    ">": (20, _LEFT),
    "<=": (20, _LEFT),
    ">=": (20, _LEFT),
    "in": (20, _LEFT),
    "matches": (20, _LEFT),
    "contains": (20, _LEFT),
    "startsWith": (20, _LEFT),
    "endsWith": (20, _LEFT),
    "..": (25, _LEFT),
    "+": (30, _LEFT),
    "-": (30, _LEFT),
    "*": (60, _LEFT),
    "/": (60, _LEFT),
    "%": (60, _LEFT),
    "**": (100, _RIGHT),
    "^": (100, _RIGHT),
    "??": (500, _LEFT),
}
UNARY: Final[dict[str, int]] = {"not": 50, "!": 50, "-": 90, "+": 90}
#: operators that ``not`` may negate in place (``x not in list``)
NEGATABLE: Final = frozenset({"in", "matches", "contains", "startsWith", "endsWith"})
#: builtins whose second argument is a predicate over the elements of the first
PREDICATE_FUNCTIONS: Final = frozenset(
    {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex", "findLast", "findLastIndex"}
)
#: nesting deeper than this is refused (it keeps evaluation's recursion bounded)
MAX_DEPTH: Final = 100
MAX_LENGTH: Final = 10_000


# -- the syntax tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    """A node of the syntax tree; ``pos`` is its offset in the source."""

    pos: int


@dataclass(frozen=True)
class Literal(Node):
    value: object


@dataclass(frozen=True)
class Name(Node):
    name: str


@dataclass(frozen=True)
class Pointer(Node):
    """``#`` (the element a predicate looks at) or ``#index`` (its position)."""

    name: str


@dataclass(frozen=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Member(Node):
    """``obj.name`` / ``obj?.name`` / ``obj[key]`` / ``obj?.[key]``."""

    obj: Node
    key: Node
    optional: bool = False


@dataclass(frozen=True)
class Slice(Node):
    obj: Node
    start: Node | None
    end: Node | None


@dataclass(frozen=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]
    #: the predicate of ``all(list, pred)`` and friends
    predicate: Node | None = None


@dataclass(frozen=True)
class Conditional(Node):
    cond: Node
    then: Node
    otherwise: Node


@dataclass(frozen=True)
class ArrayLiteral(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True)
class MapLiteral(Node):
    pairs: tuple[tuple[Node, Node], ...]


# -- the parser ------------------------------------------------------------------------------


def parse(source: str) -> Node:
    """The syntax tree of ``source``; raises :class:`CompileError` with a position."""
    if len(source) > MAX_LENGTH:
        raise CompileError(f"the expression is longer than {MAX_LENGTH} characters")
    if not source.strip():
        raise CompileError("the expression is empty")
    return _Parser(source).parse()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0
        self.closures = 0

    # -- token helpers -----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "eof":
            self.i += 1
        return token

    def error(self, message: str, token: Token | None = None) -> CompileError:
        at = (token or self.tok).pos
        return CompileError(f"{message} ({position(self.source, at)})")

    def unexpected(self) -> CompileError:
        t = self.tok
        if t.kind == "eof":
            return self.error("unexpected end of expression")
        shown = (
            repr(t.value)
            if t.kind == "string"
            else str(t.value if t.kind != "pointer" else "#" + str(t.value))
        )
        return self.error(f"unexpected token {shown}")

    def expect(self, symbol: str) -> Token:
        if not self.tok.is_op(symbol):
            raise self.error(
                f"expected {symbol!r}" + ("" if self.tok.kind == "eof" else f", found {self.tok.value!r}")
            )
        return self.advance()

    # -- grammar -----------------------------------------------------------------------------

    def parse(self) -> Node:
        node = self.expression(0)
        if self.tok.kind != "eof":
            raise self.unexpected()
        return node

    def expression(self, min_prec: int) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the expression is nested more than {MAX_DEPTH} levels deep")
        try:
            left = self.unary()
            while True:
                t = self.tok
                negated = False
                if t.is_op("not") and self.peek().kind == "op" and self.peek().value in NEGATABLE:
                    op = str(self.peek().value)
                    negated = True
                elif t.kind == "op" and t.value in BINARY:
                    op = str(t.value)
                else:
                    break
                prec, assoc = BINARY[op]
                if prec < min_prec:
                    break
                self.advance()
                if negated:
                    self.advance()
                right = self.expression(prec + 1 if assoc == _LEFT else prec)
                left = Binary(t.pos, op, left, right)
                if negated:
                    left = Unary(t.pos, "not", left)
            if min_prec == 0 and self.tok.is_op("?"):
                q = self.advance()
                then = self.expression(0)
                self.expect(":")
                otherwise = self.expression(0)
                left = Conditional(q.pos, left, then, otherwise)
            return left
        finally:
            self.depth -= 1

    def unary(self) -> Node:
        t = self.tok
        if t.kind == "op" and t.value in UNARY:
            self.advance()
            operand = self.expression(UNARY[str(t.value)])
            return self.postfix(Unary(t.pos, str(t.value), operand))
        return self.postfix(self.primary())

    def primary(self) -> Node:
        t = self.tok
        if t.kind in ("number", "string"):
            self.advance()
            return Literal(t.pos, t.value)
        if t.kind == "pointer":
            if not self.closures:
                raise self.error("cannot use pointer accessor outside predicate", t)
            self.advance()
            return Pointer(t.pos, str(t.value))
        if t.kind == "name":
            self.advance()
            name = str(t.value)
            if name in ("true", "false"):
                return Literal(t.pos, name == "true")
            if name == "nil":
                return Literal(t.pos, None)
            if self.tok.is_op("("):
                return self.call(t.pos, name)
            return Name(t.pos, name)
        if t.is_op("("):
            self.advance()
            node = self.expression(0)
            self.expect(")")
            return node
        if t.is_op("["):
            return self.array()
        if t.is_op("{"):
            return self.map()
        if t.is_op(".") and self.closures and self.peek().kind == "name":
            # ".field" inside a predicate is "#.field"
            self.advance()
            field = self.advance()
            return Member(t.pos, Pointer(t.pos, ""), Literal(field.pos, field.value))
        raise self.unexpected()

    def call(self, pos: int, name: str) -> Node:
        self.expect("(")
        args: list[Node] = []
        predicate: Node | None = None
        while not self.tok.is_op(")"):
            if name in PREDICATE_FUNCTIONS and len(args) == 1:
                predicate = self.predicate()
            else:
                args.append(self.expression(0))
            if not self.tok.is_op(","):
                break
            self.advance()
        self.expect(")")
        return Call(pos, name, tuple(args), predicate)

    def predicate(self) -> Node:
        self.closures += 1
        try:
            if self.tok.is_op("{"):
                self.advance()
                body = self.expression(0)
                self.expect("}")
                return body
            return self.expression(0)
        finally:
            self.closures -= 1

    def array(self) -> Node:
        start = self.expect("[")
        items: list[Node] = []
        while not self.tok.is_op("]"):
            items.append(self.expression(0))
            if not self.tok.is_op(","):
                break
            self.advance()
        self.expect("]")
        return ArrayLiteral(start.pos, tuple(items))

    def map(self) -> Node:
        start = self.expect("{")
        pairs: list[tuple[Node, Node]] = []
        while not self.tok.is_op("}"):
            k = self.tok
            if k.kind in ("name", "string", "number"):
                self.advance()
                key: Node = Literal(k.pos, k.value)
            elif k.is_op("("):
                self.advance()
                key = self.expression(0)
                self.expect(")")
            else:
                raise self.error("a map key must be a name, a string, a number or (an expression)")
            self.expect(":")
            pairs.append((key, self.expression(0)))
            if not self.tok.is_op(","):
                break
            self.advance()
        self.expect("}")
        return MapLiteral(start.pos, tuple(pairs))

    def postfix(self, node: Node) -> Node:
        while True:
            t = self.tok
            if t.is_op(".", "?."):
                self.advance()
                optional = t.value == "?."
                if optional and self.tok.is_op("["):
                    self.advance()
                    key = self.expression(0)
                    self.expect("]")
                    node = Member(t.pos, node, key, optional=True)
                    continue
                name = self.tok
                if (
                    name.kind not in ("name", "op")
                    or not isinstance(name.value, str)
                    or not name.value.isidentifier()
                ):
                    raise self.error("expected a field name after '.'")
                self.advance()
                if self.tok.is_op("("):
                    raise self.error(f"methods are not supported: {name.value}()", name)
                node = Member(t.pos, node, Literal(name.pos, name.value), optional=optional)
            elif t.is_op("["):
                self.advance()
                if self.tok.is_op(":"):
                    self.advance()
                    end = None if self.tok.is_op("]") else self.expression(0)
                    self.expect("]")
                    node = Slice(t.pos, node, None, end)
                    continue
                first = self.expression(0)
                if self.tok.is_op(":"):
                    self.advance()
                    end = None if self.tok.is_op("]") else self.expression(0)
                    self.expect("]")
                    node = Slice(t.pos, node, first, end)
                    continue
                self.expect("]")
                node = Member(t.pos, node, first)
            elif t.is_op("|"):
                raise self.error("the pipe operator | is not supported")
            else:
                return node
