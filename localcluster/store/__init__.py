"""Durable object storage (SQLite) and the watch history."""

from localcluster.store.store import Event, EventQueue, ExpiredError, Obj, Store

__all__ = ["Event", "EventQueue", "ExpiredError", "Obj", "Store"]
