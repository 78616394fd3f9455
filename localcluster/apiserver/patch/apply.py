"""Server-side apply and field ownership (``metadata.managedFields``), as the Kubernetes API
server does it with structured-merge-diff.

Every write records, per field manager, the fields that manager owns. An apply merges the
applied configuration into the live object by schema, fails on fields whose value it would
change while another manager owns them (unless forced), and removes the fields that the
manager applied last time and no longer applies, when nobody else owns them. An ordinary write
(create, update, patch) makes its manager the owner of whatever it added or changed.

The caller strips status for kinds with a status subresource, validates, defaults, and sets
resourceVersion, generation, uid and creationTimestamp.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from localcluster.apiserver.jsoncopy import deep_copy
from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.fieldset import (
    FieldSet,
    Path,
    SchemaIndex,
    compare,
    copy_json,
    decode_fields_v1,
    encode_fields_v1,
    field_set,
    go_json,
    index_items,
    is_granular,
    iteration_order,
    json_equal,
    merge_applied,
    path_string,
    remove_paths,
    with_named_parents,
)
from localcluster.apiserver.schema import Schema

__all__ = ["ApplyConflictError", "Conflict", "fields_v1", "server_side_apply", "update_managed_fields"]

APPLY = "Apply"
UPDATE = "Update"
BEFORE_FIRST_APPLY = "before-first-apply"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_ANNOTATIONS_LIMIT = 256 * 1024

# Fields nobody owns: type and identity, and what the server sets itself (an apply keeps the
# live values of the latter whatever the configuration says).
_META = ("f", "metadata")
_SERVER_SET = ("uid", "selfLink", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp")
_UNTRACKED: frozenset[Path] = frozenset(
    {(("f", "apiVersion"),), (("f", "kind"),)}
    | {(_META, ("f", name)) for name in (*_SERVER_SET, "name", "namespace", "managedFields", "clusterName")}
)


def _tracked(paths: Iterable[Path]) -> FieldSet:
    return frozenset(p for p in paths if p != (_META,) and not any(p[: len(u)] == u for u in _UNTRACKED))


# --- conflicts ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Conflict:
    """A field the applier would change while ``manager`` owns it."""

    manager: str
    field: str
    operation: str = dataclasses.field(default=APPLY, compare=False)
    api_version: str = dataclasses.field(default="", compare=False)
    subresource: str = dataclasses.field(default="", compare=False)

    @property
    def owner(self) -> str:
        """The manager as the API server names it: ``"kubectl-client-side-apply" using apps/v1``."""
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == UPDATE:
            text += f" using {self.api_version}"
        return text

    @property
    def identity(self) -> str:
        """The manager's identity in the API server's ``managedFields`` bookkeeping."""
        entry = {"manager": self.manager, "operation": self.operation}
        if self.operation != APPLY and self.api_version:
            entry["apiVersion"] = self.api_version
        if self.subresource:
            entry["subresource"] = self.subresource
        return json.dumps(entry, separators=(",", ":"))


class ApplyConflictError(Exception):
    """An apply that would change fields other managers own (HTTP 409, reason Conflict)."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(_conflict_message(conflicts))

    @property
    def message(self) -> str:
        return str(self)

    def causes(self) -> list[dict[str, str]]:
        """``details.causes`` of the Status the API server returns."""
        return [
            {"type": "FieldManagerConflict", "message": f"conflict with {c.owner}", "field": c.field}
            for c in self.conflicts
        ]


def _conflict_message(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {only.owner}: {only.field}"
    lines: list[str] = []
    for identity in sorted({c.identity for c in conflicts}):
        group = [c for c in conflicts if c.identity == identity]
        lines.append(f"conflicts with {group[0].owner}:")
        lines.extend(f"- {c.field}" for c in group)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# --- managedFields entries ---------------------------------------------------------------

_Key = tuple[str, str, str]  # manager, operation, subresource ("" for the main resource)


@dataclasses.dataclass(frozen=True)
class _Entry:
    manager: str
    operation: str
    subresource: str
    api_version: str
    time: str | None
    fields: FieldSet
    wire: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False)
    #: the FieldsV1 of ``fields`` when already known (taken over from the entry it renews)
    fields_wire: Mapping[str, Any] | None = dataclasses.field(default=None, compare=False)

    @property
    def key(self) -> _Key:
        return (self.manager, self.operation, self.subresource)

    def owning(self, fields: FieldSet) -> _Entry:
        if fields == self.fields:
            return self
        return dataclasses.replace(self, fields=fields, wire=None, fields_wire=None)

    def encode(self) -> Mapping[str, Any]:
        if self.wire is not None:
            return self.wire
        out: dict[str, Any] = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            out["time"] = self.time
        out["fieldsType"] = "FieldsV1"
        if self.fields_wire is not None:
            out["fieldsV1"] = self.fields_wire
        else:
            out["fieldsV1"] = deep_copy(_encoded(self.fields))
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def order(self) -> tuple[str, int, str, str, str]:
        return (self.operation, _seconds(self.time), self.manager, self.api_version, self.subresource)


@functools.lru_cache(maxsize=1024)
def _encoded(fields: FieldSet) -> dict[str, Any]:
    """The FieldsV1 of a field set (callers copy it): most writes give a manager the same
    fields again, with only a new time."""
    return encode_fields_v1(fields)


def _seconds(time: str | None) -> int:
    try:
        return int(datetime.fromisoformat((time or "").replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _decode_entry(raw: Any) -> _Entry | None:
    if not isinstance(raw, Mapping):
        return None
    operation, fields_type, fields = raw.get("operation"), raw.get("fieldsType"), raw.get("fieldsV1") or {}
    if operation not in (APPLY, UPDATE) or fields_type != "FieldsV1" or not isinstance(fields, Mapping):
        return None
    texts = [raw.get(name) or "" for name in ("manager", "apiVersion", "subresource")]
    time = raw.get("time")
    if not all(isinstance(t, str) for t in texts) or not isinstance(time, str | None):
        return None
    try:
        owned = decode_fields_v1(fields)
    except (ValueError, TypeError):
        return None
    manager, api_version, subresource = texts
    return _Entry(manager, operation, subresource, api_version, time, owned, raw)


#: managedFields lists this process wrote or read lately (by id; the list is kept so the id is
#: not reused) -> their entries. Stored objects are never changed in place, so the next write of
#: an object finds what the previous one built instead of parsing every FieldsV1 again.
_DECODED: collections.OrderedDict[int, tuple[list[Any], dict[_Key, _Entry]]] = collections.OrderedDict()
_DECODED_KEPT = 2048


def _remember(raw: list[Any], entries: dict[_Key, _Entry]) -> None:
    _DECODED[id(raw)] = (raw, entries)
    _DECODED.move_to_end(id(raw))
    if len(_DECODED) > _DECODED_KEPT:
        _DECODED.popitem(last=False)


def _decode(raw: Any) -> dict[_Key, _Entry] | None:
    """The entries of a managedFields list by key; None if it is malformed."""
    if raw is None:
        return {}
    if isinstance(raw, list):
        known = _DECODED.get(id(raw))
        if known is not None and known[0] is raw:
            return dict(known[1])
    entries = _parse(raw)
    if entries is not None and isinstance(raw, list):
        _remember(raw, entries)
    return dict(entries) if entries is not None else None


def _parse(raw: Any) -> dict[_Key, _Entry] | None:
    if not isinstance(raw, list):
        return None
    entries: dict[_Key, _Entry] = {}
    for item in raw:
        entry = _decode_entry(item)
        if entry is None:
            return None
        earlier = entries.get(entry.key)
        entries[entry.key] = entry if earlier is None else entry.owning(entry.fields | earlier.fields)
    return entries


def _managed_fields(obj: Mapping[str, Any] | None) -> Any:
    meta = obj.get("metadata") if obj is not None else None
    return meta.get("managedFields") if isinstance(meta, Mapping) else None


def _content(obj: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``obj`` without managedFields ({} for None)."""
    if obj is None:
        return {}
    if type(obj) is not dict:
        out: dict[str, Any] = copy_json(obj)
        meta = out.get("metadata")
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
        return out
    return deep_copy(dict(_without_managed_fields(obj)))  # managedFields can be most of it


def _without_managed_fields(obj: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``obj`` without managedFields, sharing the rest (to read, not to change)."""
    if obj is None:
        return {}
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or "managedFields" not in meta:
        return obj
    return {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}


def _finish(
    content: dict[str, Any], entries: dict[_Key, _Entry], before: dict[_Key, _Entry], before_raw: Any
) -> dict[str, Any]:
    """``content`` with managedFields from ``entries`` (the list as it was if nothing changed)."""
    entries = {k: e for k, e in entries.items() if e.fields}
    # Entries that did not change are shared with the object they were read from: stored objects
    # are never changed in place.
    if entries == before and isinstance(before_raw, list) and before_raw:
        managed: list[Any] = list(before_raw)
        _remember(managed, dict(before))
    else:
        # An entry read from the object keeps its wire form; a changed one is encoded anew.
        ordered = sorted(entries.values(), key=_Entry.order)
        managed = [e.wire if e.wire is not None else dict(e.encode()) for e in ordered]
        # What decoding this list gives (each entry with its wire form), for the next write.
        _remember(
            managed, {e.key: dataclasses.replace(e, wire=w) for e, w in zip(ordered, managed, strict=True)}
        )
    meta = content.get("metadata")
    if not isinstance(meta, dict):
        if not managed:
            return content
        meta = content["metadata"] = {}
    if managed:
        meta["managedFields"] = managed
    else:
        meta.pop("managedFields", None)
    return content


# --- merging -----------------------------------------------------------------------------


def _drop_applied_nulls(merged: Any, applied: Any, schema: Schema, path: Path) -> None:
    """Remove from ``merged`` the fields the configuration set to null (unless nullable), as
    the API server's decoding drops them."""
    if isinstance(applied, Mapping) and isinstance(merged, dict) and is_granular(applied, schema):
        for key, value in applied.items():
            sub = schema.field(key) or Schema.any()
            if value is None and sub.node.get("nullable") is not True:
                merged.pop(key, None)
            elif key in merged:
                _drop_applied_nulls(merged[key], value, sub, (*path, ("f", key)))
    elif isinstance(applied, list) and isinstance(merged, list) and is_granular(applied, schema):
        ours = index_items(schema, applied, path, strict=True)
        for element, item in index_items(schema, merged, path, strict=False).items():
            if element in ours:
                _drop_applied_nulls(item, ours[element], schema.items, (*path, element))


def _prune(merged: Any, last: FieldSet, owned: Iterable[FieldSet], schema: Schema) -> Any:
    """Remove what the manager applied last time and nobody (it included) owns now. Owning a
    field inside a struct field keeps the struct field."""
    index = SchemaIndex(schema)
    everyone = frozenset().union(*owned)
    gone = with_named_parents(last, index) - with_named_parents(everyone, index) - {(_META,)}
    return remove_paths(merged, gone, schema)


# --- apply -------------------------------------------------------------------------------


def _check_applied(applied: Mapping[str, Any], api_version: str) -> None:
    meta = applied.get("metadata")
    if isinstance(meta, Mapping) and meta.get("managedFields") is not None:
        raise PatchError("metadata.managedFields must be nil")
    version = applied.get("apiVersion")
    if isinstance(version, str) and version != api_version:
        raise PatchError(
            f"Incorrect version specified in apply patch. Specified patch version: {version}, expected: {api_version}"
        )


def _configuration(applied: Mapping[str, Any], live_exists: bool) -> dict[str, Any]:
    config = _content(applied)
    meta = config.get("metadata")
    if live_exists and isinstance(meta, dict):
        for name in _SERVER_SET:
            meta.pop(name, None)
    return config


def _first_apply_owner(
    live: dict[str, Any], schema: Schema, now: str, api_version: str
) -> dict[_Key, _Entry]:
    """An object nobody owns yet: everything in it belongs to ``before-first-apply``. (Empty
    maps and lists left by an apply that owned nothing are not worth an owner.)"""
    diff = compare({}, _without_empty(live), schema)
    owned = _tracked(diff.added | diff.modified)
    if not owned:
        return {}
    entry = _Entry(BEFORE_FIRST_APPLY, UPDATE, "", api_version, now, owned)
    return {entry.key: entry}


def _without_empty(value: Any) -> Any:
    if isinstance(value, Mapping):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if not (isinstance(v, Mapping | list) and not v)}
    return value


def _conflicts(entries: dict[_Key, _Entry], applier: _Key, touched: FieldSet) -> list[tuple[_Entry, Path]]:
    found = [
        (entry, path)
        for key, entry in entries.items()
        if key != applier
        for path in sorted(entry.fields & touched, key=iteration_order)
    ]
    return sorted(found, key=lambda pair: _as_conflict(pair).identity)


def _as_conflict(pair: tuple[_Entry, Path]) -> Conflict:
    entry, path = pair
    return Conflict(entry.manager, path_string(path), entry.operation, entry.api_version, entry.subresource)


def _last_applied_owned(live: Mapping[str, Any], schema: Schema, api_version: str) -> FieldSet:
    """Fields kubectl's client-side apply annotation claims with the live value: ``kubectl``
    may take them over without forcing, when migrating to server-side apply."""
    meta = live.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, Mapping) else None
    if not isinstance(text, str) or not text:
        return frozenset()
    try:
        last = json.loads(text)
        if not isinstance(last, Mapping) or last.get("apiVersion") != api_version:
            return frozenset()
        diff = compare(last, live, schema)
        return field_set(last, schema) - diff.added - diff.modified - diff.removed
    except (ValueError, PatchError):
        return frozenset()


def _sync_last_applied(merged: dict[str, Any], applied: Mapping[str, Any]) -> None:
    """kubectl's server-side apply keeps an existing last-applied annotation up to date."""
    meta = merged.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict) or not annotations.get(LAST_APPLIED):
        return
    config = _content(applied)
    config_meta = config.get("metadata")
    if isinstance(config_meta, dict) and "annotations" in config_meta:
        if isinstance(config_meta["annotations"], dict):
            config_meta["annotations"].pop(LAST_APPLIED, None)
        else:
            del config_meta["annotations"]
    annotations[LAST_APPLIED] = go_json(config) + "\n"
    if sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items()) > _ANNOTATIONS_LIMIT:
        del annotations[LAST_APPLIED]


def server_side_apply(
    live: Mapping[str, Any] | None,
    applied: Mapping[str, Any],
    schema: Schema,
    *,
    manager: str,
    force: bool,
    now: str,
    api_version: str,
    subresource: str | None = None,
) -> dict[str, Any]:
    """Return the new object (with metadata.managedFields updated) after ``manager`` applies
    ``applied`` to ``live`` (None = create).

    Raises ApplyConflictError when the apply would change fields other managers own and
    ``force`` is false, and PatchError for a configuration that cannot be applied.
    """
    _check_applied(applied, api_version)
    config = _configuration(applied, live is not None)
    current = _content(live)
    before_raw = _managed_fields(live)
    before = _decode(before_raw)
    if before is None:  # unreadable: start over, as for an object nobody owns
        before, before_raw = {}, None
    entries = dict(before)
    if live is not None and not entries:
        entries = _first_apply_owner(current, schema, now, api_version)
    applier: _Key = (manager, APPLY, subresource or "")

    merged = merge_applied(current, config, schema)
    config_fields = field_set(config, schema)
    last = entries.get(applier)
    if last is not None and last.fields:
        others = [e.fields for k, e in entries.items() if k != applier]
        merged = _prune(merged, last.fields, [*others, config_fields], schema)
    diff = compare(current, merged, schema)
    touched = diff.added | diff.modified

    conflicts = _conflicts(entries, applier, touched)
    if conflicts and not force:
        allowed = _last_applied_owned(current, schema, api_version) if manager == "kubectl" else frozenset()
        remaining = [pair for pair in conflicts if pair[1] not in allowed]
        if remaining:
            raise ApplyConflictError([_as_conflict(pair) for pair in remaining])

    result = {k: e.owning(e.fields - touched - diff.removed) for k, e in entries.items() if k != applier}
    _drop_applied_nulls(merged, config, schema, ())
    changed = not json_equal(current, merged)
    owned = _tracked(config_fields)
    if owned:
        if last is None or changed or last.fields != owned or last.api_version != api_version:
            result[applier] = _Entry(manager, APPLY, subresource or "", api_version, now, owned)
        else:
            result[applier] = last
    if manager == "kubectl":
        _sync_last_applied(merged, applied)
    return _finish(merged, result, before, before_raw)


# --- ordinary writes ---------------------------------------------------------------------


def _is_reset(raw: Any) -> bool:
    """``managedFields: []`` or ``[{}]`` in a write clears ownership."""
    return isinstance(raw, list) and (not raw or (len(raw) == 1 and raw[0] == {}))


def _write_base(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], subresource: str | None
) -> tuple[Any, dict[_Key, _Entry]]:
    """The ownership a write starts from: the managedFields the request carries, if it sets
    them (not through a subresource), else the live object's."""
    sent = _managed_fields(new)
    stored = _managed_fields(old)
    if not subresource:
        if _is_reset(sent):
            return None, {}
        # Most writes carry the live list back unchanged (a patch of what was read): its
        # entries are the live object's, already decoded.
        decoded = _decode(stored if sent and sent == stored else sent) if sent else None
        if decoded:
            return sent, decoded
    decoded = _decode(stored)
    return (stored, decoded) if decoded is not None else (None, {})


def update_managed_fields(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
    schema: Schema,
    *,
    manager: str,
    now: str,
    api_version: str,
    subresource: str | None = None,
) -> dict[str, Any]:
    """For an ordinary write (create/update/patch, operation Update): return ``new`` with
    metadata.managedFields updated so that ``manager`` owns the fields it set or changed, and
    other managers lose ownership of fields whose value it changed or removed.

    ``new`` is the caller's to give away: the result shares its values (all but metadata), and
    the managedFields entries that did not change with ``old``."""
    base_raw, base = _write_base(old, new, subresource)
    content = dict(new)
    meta = new.get("metadata")
    if isinstance(meta, Mapping):
        content["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    try:
        diff = compare(_without_managed_fields(old), content, schema)
    except PatchError:
        return _finish(content, {}, {}, None)  # as the API server: no ownership beats garbage
    touched = _tracked(diff.added | diff.modified)
    entries = {k: e.owning(e.fields - touched - diff.removed) for k, e in base.items()}
    if touched:
        key: _Key = (manager, UPDATE, subresource or "")
        prior = entries.get(key)
        owned = touched | (prior.fields if prior is not None else frozenset())
        # Most writes renew a manager's entry with the same fields: keep their FieldsV1.
        renewed = base.get(key)
        fields_wire = None
        if renewed is not None and renewed.wire is not None and renewed.fields == owned:
            fields_wire = renewed.wire.get("fieldsV1")
        entries[key] = _Entry(
            manager, UPDATE, subresource or "", api_version, now, owned, fields_wire=fields_wire
        )
    return _finish(content, entries, base, base_raw)


def fields_v1(obj: Mapping[str, Any], schema: Schema) -> dict[str, Any]:
    """The FieldsV1 set of every field present in obj (excluding the ignored metadata fields)."""
    return encode_fields_v1(_tracked(field_set(_content(obj), schema)))
