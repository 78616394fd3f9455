"""Watch: one JSON event per line over a chunked response.

Without a resourceVersion (or with "0") the watch starts with an ADDED event for every
object that matches, then follows live changes. With a resourceVersion it replays the
retained history after it; when that history no longer reaches back far enough, the
stream carries a single ERROR event with a 410 Expired Status (informers re-list then).
Selectors filter exactly as for lists; an object that stops matching is sent as DELETED,
one that starts matching as ADDED, as the real server does.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime
import json
import os
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from localcluster.apiserver import errors
from localcluster.apiserver.registry import ResourceType
from localcluster.apiserver.selectors import FieldSelector, LabelSelector
from localcluster.apiserver.tables import to_table
from localcluster.store import Event, EventQueue, ExpiredError, Obj, Store

if TYPE_CHECKING:
    from localcluster.apiserver.objects import Objects

# Seconds between bookmarks on an idle watch (settable for tests).
BOOKMARK_INTERVAL = float(os.environ.get("LOCALCLUSTER_BOOKMARK_INTERVAL", "10"))
DEFAULT_TIMEOUT = (1800, 3600)  # the real server's min-request-timeout, randomised


def _matches(
    obj: Obj | None, namespace: str | None, labels: LabelSelector | None, fields: FieldSelector | None
) -> bool:
    if obj is None:
        return False
    if namespace is not None and obj["metadata"].get("namespace", "") != namespace:
        return False
    if labels is not None and not labels.matches(obj["metadata"].get("labels") or {}):
        return False
    return fields is None or fields.matches(obj)


def candidates(
    store: Store,
    rt: ResourceType,
    namespace: str | None,
    labels: LabelSelector | None,
    fields: FieldSelector | None,
) -> list[Obj]:
    """The objects a list or watch may return, narrowed through the store's indexes (a
    ``metadata.name`` field selector, a label), in list order; the filters still apply."""
    name = fields.requires_exact_match("metadata.name") if fields is not None else None
    if name is not None and (namespace is not None or not rt.namespaced):
        one = store.get(rt.key, namespace or "", name)
        return [one] if one is not None else []
    if labels is not None:
        return store.list(rt.key, namespace, label=labels.index_hint())
    return store.list(rt.key, namespace)


def filter_event(
    event: Event, namespace: str | None, labels: LabelSelector | None, fields: FieldSelector | None
) -> tuple[str, Obj] | None:
    """The (type, object) a watcher with these filters sees for ``event``, if anything."""
    now = event.type != "DELETED" and _matches(event.obj, namespace, labels, fields)
    if event.type == "DELETED":
        return (
            ("DELETED", event.obj) if _matches(event.prev or event.obj, namespace, labels, fields) else None
        )
    was = _matches(event.prev, namespace, labels, fields)
    if now and was:
        return ("MODIFIED", event.obj)
    if now:
        return ("ADDED", event.obj)
    if was and event.prev is not None:
        # It left the selection: watchers see it go, as the real server's filtered watch does,
        # with the object as they last saw it, at the new resourceVersion.
        rv = event.obj["metadata"]["resourceVersion"]
        return ("DELETED", dict(event.prev, metadata=dict(event.prev["metadata"], resourceVersion=rv)))
    return None


#: Lines of recent live events, encoded once for all watchers: (id(event), type, apiVersion, which
#: object) -> (the event, which keeps its id from being reused while cached, and the line).
_LINES: collections.OrderedDict[tuple[int, str, str, str], tuple[Event, bytes]] = collections.OrderedDict()
_LINES_KEPT = 1024
#: At most this many events go out in one write when a watcher has several queued.
_BATCH_LINES = 100


class _Encoder:
    def __init__(self, objects: Objects, rt: ResourceType, table_version: str | None) -> None:
        self.objects = objects
        self.rt = rt
        self.table_version = table_version
        self.first_table = True

    def event_line(self, event: Event, etype: str, obj: Obj) -> bytes:
        """The line for a live change; encoded once for all the watchers that see it alike."""
        if self.table_version:
            return self.line(etype, obj)
        which = "obj" if obj is event.obj else "prev" if obj is event.prev else "left"
        key = (id(event), etype, self.rt.api_version, which)
        cached = _LINES.get(key)
        if cached is not None and cached[0] is event:
            return cached[1]
        line = self.line(etype, obj)
        _LINES[key] = (event, line)
        if len(_LINES) > _LINES_KEPT:
            _LINES.popitem(last=False)
        return line

    def line(self, etype: str, obj: Obj) -> bytes:
        view = self.objects.view(self.rt, obj)
        payload: Any = view
        if self.table_version and etype != "BOOKMARK":
            payload = to_table(
                self.rt.plural,
                [view],
                now=datetime.datetime.now(datetime.UTC),
                printer_columns=self.rt.printer_columns if self.rt.custom else None,
                list_meta={"resourceVersion": view["metadata"]["resourceVersion"]},
            )
            payload["apiVersion"] = f"meta.k8s.io/{self.table_version}"
            if not self.first_table:
                payload["columnDefinitions"] = []
            self.first_table = False
        return json.dumps({"type": etype, "object": payload}, separators=(",", ":")).encode() + b"\n"

    def bookmark(self, rv: int) -> bytes:
        obj = {
            "kind": self.rt.kind,
            "apiVersion": self.rt.api_version,
            "metadata": {"resourceVersion": str(rv)},
        }
        return json.dumps({"type": "BOOKMARK", "object": obj}, separators=(",", ":")).encode() + b"\n"


def _parse_timeout(request: web.Request) -> float:
    raw = request.query.get("timeoutSeconds")
    if raw:
        try:
            seconds = float(raw)
        except ValueError as e:
            raise errors.bad_request(f"timeoutSeconds must be a number: {e}") from e
        if seconds > 0:  # 0 (or less) means the server's default, as on the real server
            return seconds
    return float(random.randint(*DEFAULT_TIMEOUT))


async def serve_watch(
    request: web.Request,
    objects: Objects,
    rt: ResourceType,
    namespace: str | None,
    labels: LabelSelector | None,
    fields: FieldSelector | None,
    *,
    table_version: str | None,
) -> web.StreamResponse:
    store = objects.store
    timeout = _parse_timeout(request)
    bookmarks = request.query.get("allowWatchBookmarks", "").lower() in ("true", "1")
    raw_rv = request.query.get("resourceVersion", "")
    try:
        since = int(raw_rv) if raw_rv not in ("", "0") else None
    except ValueError as e:
        raise errors.bad_request(f'resourceVersion "{raw_rv}" is not a valid resource version') from e

    # Subscribe before reading the initial state, so no change falls in between.
    queue = EventQueue(store)
    encoder = _Encoder(objects, rt, table_version)
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    try:
        initial: Iterable[tuple[str, Obj]]
        last_rv = store.resource_version
        expired: str | None = None
        too_large: errors.ApiError | None = None
        if since is None:
            initial = [
                ("ADDED", o)
                for o in candidates(store, rt, namespace, labels, fields)
                if _matches(o, namespace, labels, fields)
            ]
        elif since > store.resource_version:
            # A client that remembers a newer cluster (its state was wiped): it must re-list.
            replay = []
            too_large = errors.ApiError(
                504,
                "Timeout",
                f"Too large resource version: {since}, current: {store.resource_version}",
                causes=[{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                retry_after=1,
            )
            initial = []
        else:
            try:
                replay = [e for e in store.events_since(since) if e.resource == rt.key]
            except ExpiredError as e:
                replay = []
                expired = f"too old resource version: {e.requested} ({e.oldest})"
            initial = [
                f for f in (filter_event(e, namespace, labels, fields) for e in replay) if f is not None
            ]
        await response.prepare(request)
        if too_large is not None:
            await response.write(json.dumps({"type": "ERROR", "object": too_large.status()}).encode() + b"\n")
            return response
        if expired is not None:
            status = errors.expired(expired).status()
            await response.write(json.dumps({"type": "ERROR", "object": status}).encode() + b"\n")
            return response
        first = list(initial)
        for start in range(0, len(first), _BATCH_LINES):
            chunk = first[start : start + _BATCH_LINES]
            await response.write(b"".join(encoder.line(etype, obj) for etype, obj in chunk))
        await _follow(response, queue, encoder, rt, namespace, labels, fields, last_rv, timeout, bookmarks)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        queue.close()
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await response.write_eof()
    return response


async def _follow(
    response: web.StreamResponse,
    queue: EventQueue,
    encoder: _Encoder,
    rt: ResourceType,
    namespace: str | None,
    labels: LabelSelector | None,
    fields: FieldSelector | None,
    last_rv: int,
    duration: float,
    bookmarks: bool,
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + duration
    next_bookmark = loop.time() + BOOKMARK_INTERVAL
    seen_rv = last_rv  # every change up to here (of any resource) has been taken from the queue
    while True:
        now = loop.time()
        if now >= deadline:
            return
        if bookmarks and now >= next_bookmark and queue.empty():
            # Never ahead of an event still queued: the bookmark says "you have seen all until here".
            await response.write(encoder.bookmark(seen_rv))
            next_bookmark = now + BOOKMARK_INTERVAL
            continue
        queued = queue.get_nowait()
        if queued is False:
            wait = min(deadline, next_bookmark) - now if bookmarks else deadline - now
            try:
                # not wait_for: on Python 3.11 it can swallow a cancellation arriving with the event
                async with asyncio.timeout(max(wait, 0.001)):
                    event = await queue.get()
            except TimeoutError:
                continue
        else:
            event = queued
        # Take whatever else is queued too, and send it all in one write.
        lines: list[bytes] = []
        while True:
            if event is None:  # the watcher fell too far behind; it must re-watch
                if lines:
                    await response.write(b"".join(lines))
                return
            seen_rv = max(seen_rv, event.rv)
            if event.rv > last_rv and event.resource == rt.key:
                last_rv = event.rv
                filtered = filter_event(event, namespace, labels, fields)
                if filtered is not None:
                    lines.append(encoder.event_line(event, *filtered))
            if len(lines) >= _BATCH_LINES:
                break
            queued = queue.get_nowait()
            if queued is False:
                break
            event = queued
        if lines:
            await response.write(b"".join(lines))
