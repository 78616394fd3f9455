"""The two ways a condition can go wrong: it does not compile, or it fails while it runs."""

from __future__ import annotations


class ExprError(ValueError):
    """A condition could not be evaluated; the message says why (and where, for syntax errors)."""


class CompileError(ExprError):
    """The text is not a valid expression, or names something the environment does not have."""


class EvalError(ExprError):
    """The expression is valid but failed on this value (a type mismatch, an index out of range)."""
