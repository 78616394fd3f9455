"""Tokens of the condition language (the part of expr-lang/expr that analysis conditions use).

Literals: integers (``42``, ``1_000``, ``0x1F``), floats (``0.95``, ``1e-3``, ``.5``), strings in
double or single quotes with Go escapes (``"a\\n"``, ``'b'``) or raw in backquotes, ``true``,
``false``, ``nil``. Names: ``[A-Za-z_$][A-Za-z0-9_$]*``. ``#`` (and ``#index``) is the element a
predicate is looking at. Everything else is an operator or punctuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from controller.analysis.expr.errors import CompileError

#: operators and punctuation, longest first so that ``**`` wins over ``*``
_SYMBOLS: Final = (
    "?.",
    "??",
    "..",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "**",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "!",
    "<",
    ">",
    "?",
    ":",
    ".",
    ",",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "|",
)
#: words that are operators, not names
WORD_OPERATORS: Final = frozenset({"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"})

_NAME: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_HEX: Final = re.compile(r"0[xX][0-9a-fA-F_]+")
_NUMBER: Final = re.compile(r"(?:[0-9][0-9_]*)?(\.[0-9][0-9_]*)?([eE][+-]?[0-9]+)?")
_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``number``, ``string``, ``name``, ``pointer``, ``op`` or ``eof``."""

    kind: str
    value: object
    #: 0-based offset in the source
    pos: int

    def is_op(self, *values: str) -> bool:
        """Whether this is the operator (or punctuation) token ``values[i]`` for some ``i``."""
        return self.kind == "op" and self.value in values


def position(source: str, pos: int) -> str:
    """``line:column`` (1-based) of offset ``pos``, as expr-lang reports locations."""
    line = source.count("\n", 0, pos) + 1
    column = pos - (source.rfind("\n", 0, pos) + 1) + 1
    return f"{line}:{column}"


def tokenize(source: str) -> list[Token]:
    """The tokens of ``source``, ending with an ``eof`` token; raises :class:`CompileError`."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c.isspace():
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and source[i + 1].isdigit() and not _follows_value(tokens)):
            token, i = _number(source, i)
            tokens.append(token)
            continue
        if c in "\"'":
            value, end = _quoted(source, i)
            tokens.append(Token("string", value, i))
            i = end
            continue
        if c == "`":
            end = source.find("`", i + 1)
            if end < 0:
                raise CompileError(f"literal not terminated ({position(source, i)})")
            tokens.append(Token("string", source[i + 1 : end], i))
            i = end + 1
            continue
        if c == "#":
            m = _NAME.match(source, i + 1)
            name = m.group(0) if m else ""
            tokens.append(Token("pointer", name, i))
            i = m.end() if m else i + 1
            continue
        m = _NAME.match(source, i)
        if m:
            word = m.group(0)
            tokens.append(Token("op" if word in WORD_OPERATORS else "name", word, i))
            i = m.end()
            continue
        for symbol in _SYMBOLS:
            if source.startswith(symbol, i):
                # "?." followed by a digit is a ternary with a float (a ?.5 : b), not optional chaining
                if symbol == "?." and i + 2 < n and source[i + 2].isdigit():
                    continue
                tokens.append(Token("op", symbol, i))
                i += len(symbol)
                break
        else:
            raise CompileError(f"unrecognized character: {c!r} ({position(source, i)})")
    tokens.append(Token("eof", None, n))
    return tokens


def _follows_value(tokens: list[Token]) -> bool:
    """Whether the last token ends a value (then ``.5`` would be a member access, not a number)."""
    if not tokens:
        return False
    last = tokens[-1]
    return last.kind in ("name", "number", "string", "pointer") or last.is_op(")", "]", "}")


def _number(source: str, start: int) -> tuple[Token, int]:
    hexa = _HEX.match(source, start)
    if hexa:
        return Token("number", int(hexa.group(0).replace("_", ""), 16), start), hexa.end()
    m = _NUMBER.match(source, start)
    assert m is not None  # the pattern matches the empty string at worst
    end = m.end()
    text = m.group(0)  # "1..3" stops at "1": a fraction needs a digit after its "."
    if end < len(source) and (source[end].isalpha() or source[end] == "_"):
        raise CompileError(f"bad number syntax: {source[start : end + 1]!r} ({position(source, start)})")
    clean = text.replace("_", "")
    if "." in clean or "e" in clean or "E" in clean:
        return Token("number", float(clean), start), end
    return Token("number", int(clean), start), end


def _quoted(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        c = source[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(source):
            break
        e = source[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = source[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise CompileError(f"invalid char escape ({position(source, i)})")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif e in "01234567":
            digits = source[i + 1 : i + 4]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise CompileError(f"invalid char escape ({position(source, i)})")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise CompileError(f"invalid char escape ({position(source, i)})")
    raise CompileError(f"literal not terminated ({position(source, start)})")
