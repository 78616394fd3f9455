"""Fixtures of the demo scenario tests."""

from tests.e2e.demo import demo

__all__ = ["demo"]
