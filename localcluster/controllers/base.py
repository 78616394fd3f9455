"""How localcluster's built-in controllers run: a change feed, work queues, reconcile loops.

Each controller names the resources it watches and maps every change to work keys
(``namespace/name`` of the object it must reconcile: a ReplicaSet's pod change wakes the
ReplicaSet). A key is queued once however many changes arrive before it is worked on; a
reconcile may ask to be called again after a delay (waiting is a requeue, never a sleep).

Controllers run in the server process and act through :class:`~localcluster.apiserver.objects.Objects`,
the same rules HTTP clients go through. A reconcile that does not await between reading and
writing cannot race another writer: the server handles one request at a time between awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from localcluster.store import Event, EventQueue

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects
    from localcluster.apiserver.registry import ResourceType

log = logging.getLogger("localcluster.controllers")

#: Seconds of back-to-back reconciling after which a worker lets other tasks (API requests) run.
YIELD_EVERY = 0.005


def key_of(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


class Controller:
    """Subclass: set ``name`` and ``watches``; implement ``keys_for`` and ``reconcile``."""

    name = "controller"
    #: storage keys (``ResourceType.key``) of the resources whose changes wake this controller
    watches: tuple[str, ...] = ()

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self.store = objects.store

    def rt(self, group: str, version: str, plural: str) -> ResourceType:
        found = self.objects.registry.lookup(group, version, plural)
        assert found is not None, f"{group}/{version}/{plural} is not served"
        return found

    def initial_keys(self) -> Iterable[str]:
        """Keys to reconcile at start (default: every object of the first watched resource)."""
        if not self.watches:
            return []
        return [
            key_of(str(o["metadata"].get("namespace", "")), str(o["metadata"]["name"]))
            for o in self.store.list(self.watches[0])
        ]

    def keys_for(self, event: Event) -> Iterable[str]:
        """The work keys a change concerns (default: the object itself)."""
        meta = event.obj["metadata"]
        return [key_of(str(meta.get("namespace", "")), str(meta["name"]))]

    async def reconcile(self, key: str) -> float | None:
        """Bring ``key`` toward its desired state; return seconds until it should run again."""
        raise NotImplementedError

    async def start(self) -> None:
        """Called once before the first reconcile (e.g. to create objects it relies on)."""

    async def stop(self) -> None:
        """Called once when the server stops."""


class ControllerManager:
    """Feeds store changes to controllers and runs one worker per controller."""

    def __init__(self, objects: Objects, controllers: Iterable[Controller]) -> None:
        self.objects = objects
        self.controllers = list(controllers)
        self._queues: dict[str, asyncio.Queue[str]] = {}
        self._pending: dict[str, set[str]] = {}
        self._timers: list[asyncio.TimerHandle] = []
        self._tasks: list[asyncio.Task[None]] = []

    def enqueue(self, controller: Controller, key: str) -> None:
        pending = self._pending[controller.name]
        if key not in pending:
            pending.add(key)
            self._queues[controller.name].put_nowait(key)

    def enqueue_after(self, controller: Controller, key: str, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(max(0.0, delay), self.enqueue, controller, key))
        if len(self._timers) > 10_000:
            self._timers = [t for t in self._timers if not t.cancelled()]

    async def run(self) -> None:
        feed = EventQueue(self.objects.store)
        for c in self.controllers:
            self._queues[c.name] = asyncio.Queue()
            self._pending[c.name] = set()
            await c.start()
            for key in c.initial_keys():
                self.enqueue(c, key)
            self._tasks.append(asyncio.create_task(self._work(c), name=f"controller-{c.name}"))
        try:
            while True:
                event = await feed.get()
                if event is None:  # fell behind: resync everything
                    feed = EventQueue(self.objects.store)
                    for c in self.controllers:
                        for key in c.initial_keys():
                            self.enqueue(c, key)
                    continue
                for c in self.controllers:
                    if event.resource in c.watches:
                        for key in c.keys_for(event):
                            self.enqueue(c, key)
        finally:
            feed.close()
            for timer in self._timers:
                timer.cancel()
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for c in self.controllers:
                await c.stop()

    async def _work(self, controller: Controller) -> None:
        queue = self._queues[controller.name]
        pending = self._pending[controller.name]
        failures: dict[str, int] = {}
        loop = asyncio.get_running_loop()
        yielded = loop.time()
        while True:
            if loop.time() - yielded > YIELD_EVERY:
                # A long burst of work must not starve API requests: let them in now and then.
                await asyncio.sleep(0)
                yielded = loop.time()
            key = await queue.get()
            pending.discard(key)
            try:
                again = await controller.reconcile(key)
                failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception:
                count = failures[key] = failures.get(key, 0) + 1
                again = min(0.005 * 2**count, 10.0)
                log.exception("%s: reconciling %s failed (retry in %.2fs)", controller.name, key, again)
            if again is not None:
                self.enqueue_after(controller, key, again)
