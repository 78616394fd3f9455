"""HTTP handlers for objects: parse the URL, query and body, call ``Objects``, encode the answer."""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import yaml
from aiohttp import web

from localcluster.apiserver import errors
from localcluster.apiserver.objects import (
    PATCH_CONTENT_TYPES,
    FieldValidation,
    Objects,
    WriteOptions,
    WriteResult,
)
from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.json_patch import json_patch
from localcluster.apiserver.patch.merge import merge_patch
from localcluster.apiserver.registry import Registry, ResourceType
from localcluster.apiserver.selectors import FieldSelector, LabelSelector, SelectorError
from localcluster.apiserver.tables import to_table
from localcluster.apiserver.watch import candidates, serve_watch
from localcluster.store import Obj

_JSON = "application/json"


class _JsonishLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: scalars that look like dates stay strings."""


_JsonishLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None  # None: all namespaces (list/watch of a namespaced kind)
    name: str | None
    subresource: str | None


def json_response(body: Any, status: int = 200, *, warnings: list[str] | None = None) -> web.Response:
    response = web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        content_type=_JSON,
    )
    for warning in warnings or []:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def parse_target(registry: Registry, group: str, version: str, rest: list[str]) -> Target:
    """Resolve ``[namespaces/{ns}/]{plural}[/{name}[/{sub}]]`` under a group-version."""
    namespace: str | None = None
    if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
        namespace = rest[1]
        rest = rest[2:]
    if not rest or len(rest) > 3:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    rt = registry.lookup(group, version, rest[0])
    if rt is None:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if namespace is not None and not rt.namespaced:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    if rt.namespaced and name is not None and namespace is None:
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    if not rt.namespaced:
        namespace = ""
    if sub is not None and not (
        (sub == "status" and rt.status) or (sub == "scale" and rt.scale) or (sub == "log" and rt.log)
    ):
        raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
    return Target(rt, namespace, name, sub)


def _wants_table(request: web.Request) -> str | None:
    """The Table version the client asked for in Accept (kubectl get), if any."""
    for part in request.headers.get("Accept", "").split(","):
        params = dict(p.strip().split("=", 1) for p in part.split(";")[1:] if "=" in p)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return None


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"", "0", "f", "F", "FALSE", "false", "False"})


def _bool_query(request: web.Request, key: str) -> bool:
    """A boolean query parameter, read as Go's strconv.ParseBool (the real server's parser)."""
    value = request.query.get(key, "")
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.bad_request(f'invalid value for {key}: "{value}" is not a boolean')


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'unsupported dry run value "{v}": only "All" is supported')
    return bool(values)


def _field_validation(request: web.Request) -> FieldValidation:
    # Without the parameter the real server warns about unknown fields (Warn is its default).
    value = request.query.get("fieldValidation", "Warn")
    if value not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(
            f'invalid fieldValidation directive "{value}": must be Strict, Warn or Ignore'
        )
    return cast(FieldValidation, value)


def _selectors(request: web.Request, rt: ResourceType) -> tuple[LabelSelector | None, FieldSelector | None]:
    try:
        labels = (
            LabelSelector.parse(request.query["labelSelector"])
            if request.query.get("labelSelector")
            else None
        )
        fields = None
        if request.query.get("fieldSelector"):
            fields = FieldSelector.parse(request.query["fieldSelector"])
            fields.check_supported(rt.plural)
    except SelectorError as e:
        raise errors.bad_request(str(e)) from e
    return labels, fields


def matches(obj: Mapping[str, Any], labels: LabelSelector | None, fields: FieldSelector | None) -> bool:
    if labels is not None and not labels.matches(obj["metadata"].get("labels") or {}):
        return False
    return fields is None or fields.matches(obj)


async def _read_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise errors.bad_request("the request has no body")
    ctype = request.headers.get("Content-Type", _JSON).split(";")[0].strip()
    if ctype == "application/vnd.kubernetes.protobuf":
        raise errors.unsupported_media_type(
            "localcluster does not decode protobuf request bodies (kubectl create namespace|configmap|"
            "deployment send them): write the object in YAML and use `kubectl apply -f` or `kubectl create -f`"
        )
    try:
        if ctype.startswith("application/apply-patch+yaml") or ctype in (
            "application/yaml",
            "application/x-yaml",
        ):
            return yaml.load(raw, Loader=_JsonishLoader)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as e:
        raise errors.bad_request(f"the request body could not be decoded: {e}") from e


class ObjectHandlers:
    def __init__(self, objects: Objects, registry: Registry) -> None:
        self.objects = objects
        self.registry = registry

    async def dispatch(
        self, request: web.Request, group: str, version: str, rest: list[str]
    ) -> web.StreamResponse:
        target = parse_target(self.registry, group, version, rest)
        method = request.method
        if method == "GET":
            if target.name is None:
                if _bool_query(request, "watch"):
                    return await self.watch(request, target)
                return self.list(request, target)
            return await self.get(request, target)
        if method == "POST" and target.name is None:
            return await self.create(request, target)
        if method == "PUT" and target.name is not None:
            return await self.update(request, target)
        if method == "PATCH" and target.name is not None:
            return await self.patch(request, target)
        if method == "DELETE":
            if target.name is None:
                return await self.delete_collection(request, target)
            return await self.delete(request, target)
        raise errors.method_not_allowed(f"{method} is not supported on this resource")

    # -- reads -------------------------------------------------------------------------

    def _list_items(self, request: web.Request, target: Target) -> list[Obj]:
        labels, fields = _selectors(request, target.rt)
        items = candidates(self.objects.store, target.rt, target.namespace or None, labels, fields)
        return [self.objects.view(target.rt, o) for o in items if matches(o, labels, fields)]

    def list(self, request: web.Request, target: Target) -> web.Response:
        rt = target.rt
        items = self._list_items(request, target)
        rv = str(self.objects.store.resource_version)
        list_meta: dict[str, Any] = {"resourceVersion": rv}
        try:
            limit = int(request.query.get("limit", "0") or 0)
        except ValueError as e:
            raise errors.bad_request(f"limit must be an integer: {e}") from e
        if request.query.get("continue"):
            after, rv = _decode_continue(request.query["continue"])
            list_meta["resourceVersion"] = rv
            items = [o for o in items if _sort_key(o) > after]
        if 0 < limit < len(items):
            list_meta["continue"] = _encode_continue(
                _sort_key(items[limit - 1]), list_meta["resourceVersion"]
            )
            list_meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        table_version = _wants_table(request)
        if table_version:
            table = to_table(
                rt.plural,
                items,
                now=datetime.datetime.now(datetime.UTC),
                printer_columns=rt.printer_columns if rt.custom else None,
                include_object=request.query.get("includeObject", "Metadata"),
                list_meta=list_meta,
            )
            table["apiVersion"] = f"meta.k8s.io/{table_version}"
            return json_response(table)
        body = {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": list_meta, "items": items}
        return json_response(body)

    async def get(self, request: web.Request, target: Target) -> web.StreamResponse:
        rt = target.rt
        assert target.name is not None and target.namespace is not None
        if target.subresource == "scale":
            return json_response(self.objects.get_scale(rt, target.namespace, target.name))
        obj = self.objects.view(rt, self.objects.get(rt, target.namespace, target.name))
        if target.subresource == "log":
            return await self._log(obj, request)
        table_version = _wants_table(request)
        if table_version:
            table = to_table(
                rt.plural,
                [obj],
                now=datetime.datetime.now(datetime.UTC),
                printer_columns=rt.printer_columns if rt.custom else None,
                include_object=request.query.get("includeObject", "Metadata"),
                list_meta={"resourceVersion": obj["metadata"]["resourceVersion"]},
            )
            table["apiVersion"] = f"meta.k8s.io/{table_version}"
            return json_response(table)
        return json_response(obj)

    async def _log(self, pod: Obj, request: web.Request) -> web.StreamResponse:
        """``pods/log``: the container's log from the kubelet, whole or followed."""
        name = pod["metadata"]["name"]
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.query.get("container") or (containers[0] if len(containers) == 1 else None)
        if container is None:
            raise errors.bad_request(
                f"a container name must be specified for pod {name}, choose one of: {containers}"
            )
        if container not in containers:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        try:
            tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
        except ValueError as e:
            raise errors.bad_request(f"tailLines must be an integer: {e}") from e
        timestamps = _bool_query(request, "timestamps")
        namespace = str(pod["metadata"].get("namespace", ""))
        logs = self.objects.pod_logs
        if logs is None:
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: no kubelet runs'
            )
        previous = _bool_query(request, "previous")
        text = logs.read(
            namespace, name, container, previous=previous, tail_lines=tail, timestamps=timestamps
        )
        if text is None:
            which = "previous terminated container" if previous else "container"
            raise errors.bad_request(
                f'{which} "{container}" in pod "{name}" is waiting to start: ContainerCreating'
            )
        if _bool_query(request, "follow") and not previous:
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                async for line in logs.follow(
                    namespace, name, container, tail_lines=tail, timestamps=timestamps
                ):
                    await response.write(line.encode())
            except ConnectionResetError:
                pass
            return response
        return web.Response(text=text, content_type="text/plain")

    async def watch(self, request: web.Request, target: Target) -> web.StreamResponse:
        labels, fields = _selectors(request, target.rt)
        return await serve_watch(
            request,
            self.objects,
            target.rt,
            target.namespace or None,
            labels,
            fields,
            table_version=_wants_table(request),
        )

    # -- writes ------------------------------------------------------------------------

    def _options(self, request: web.Request, subresource: str | None) -> WriteOptions:
        return WriteOptions(
            manager=request.query.get("fieldManager", ""),
            default_manager=_default_manager(request),
            dry_run=_dry_run(request),
            field_validation=_field_validation(request),
            subresource=subresource if subresource == "status" else None,
            force=_bool_query(request, "force"),
        )

    def _answer(self, result: WriteResult, request: web.Request) -> web.Response:
        return json_response(result.obj, 201 if result.created else 200, warnings=result.warnings)

    async def create(self, request: web.Request, target: Target) -> web.Response:
        if target.namespace is None:
            raise errors.method_not_allowed("create needs a namespace in the URL for a namespaced resource")
        body = await _read_body(request)
        result = self.objects.create(target.rt, target.namespace, body, self._options(request, None))
        return self._answer(result, request)

    async def update(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None and target.namespace is not None
        body = await _read_body(request)
        opts = self._options(request, target.subresource)
        if target.subresource == "scale":
            return self._answer(
                self.objects.write_scale(target.rt, target.namespace, target.name, body, opts), request
            )
        if target.subresource == "log":
            raise errors.method_not_allowed("pods/log is read-only")
        result = self.objects.update(target.rt, target.namespace, target.name, body, opts)
        return self._answer(result, request)

    async def patch(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None and target.namespace is not None
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        patch_type = PATCH_CONTENT_TYPES.get(ctype)
        if patch_type is None:
            raise errors.unsupported_media_type(
                f"the body of the request was in an unknown format ({ctype or 'no Content-Type'}) - accepted media "
                "types include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml, application/strategic-merge-patch+json"
            )
        body = await _read_body(request)
        opts = self._options(request, target.subresource)
        rt = target.rt
        if target.subresource == "scale":
            scale = self.objects.get_scale(rt, target.namespace, target.name)
            try:
                if patch_type == "json":
                    new_scale = json_patch(scale, body)
                elif isinstance(body, dict):
                    new_scale = merge_patch(scale, body)
                else:
                    raise errors.bad_request("a scale patch must be a JSON object")
            except PatchError as e:
                raise errors.ApiError(422, "Invalid", f"the patch could not be applied: {e}") from e
            return self._answer(
                self.objects.write_scale(rt, target.namespace, target.name, new_scale, opts), request
            )
        if target.subresource == "log":
            raise errors.method_not_allowed("pods/log is read-only")
        result = self.objects.patch(rt, target.namespace, target.name, patch_type, body, opts)
        return self._answer(result, request)

    async def delete(self, request: web.Request, target: Target) -> web.Response:
        assert target.name is not None and target.namespace is not None
        opts = await _delete_options(request)
        obj, deleted = self.objects.delete(
            target.rt,
            target.namespace,
            target.name,
            propagation=opts.propagation,
            dry_run=opts.dry_run,
            preconditions=opts.preconditions,
        )
        # Most kinds answer a finished delete with a Status; these return the object, as upstream.
        if deleted and target.rt.key not in ("/pods", "/namespaces", "/services", "/serviceaccounts"):
            rt = target.rt
            return json_response(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": target.name,
                        "group": rt.group,
                        "kind": rt.plural,
                        "uid": obj["metadata"].get("uid", ""),
                    },
                }
            )
        return json_response(obj)

    async def delete_collection(self, request: web.Request, target: Target) -> web.Response:
        rt = target.rt
        if "deletecollection" not in rt.verbs:
            raise errors.method_not_allowed(f"deletecollection is not supported on {rt.plural}")
        opts = await _delete_options(request)
        deleted: list[Obj] = []
        for obj in self._list_items(request, target):
            meta = obj["metadata"]
            gone, _ = self.objects.delete(
                rt,
                str(meta.get("namespace", "")),
                str(meta["name"]),
                propagation=opts.propagation,
                dry_run=opts.dry_run,
                preconditions=opts.preconditions,
            )
            deleted.append(gone)
        return json_response(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": str(self.objects.store.resource_version)},
                "items": deleted,
            }
        )


@dataclass(frozen=True)
class DeleteOptions:
    propagation: str | None
    dry_run: bool
    preconditions: dict[str, Any] | None


async def _delete_options(request: web.Request) -> DeleteOptions:
    """DeleteOptions from the query and the body (both are allowed), validated as the real server."""
    body: Any = {}
    raw = await request.read()
    if raw:
        try:
            body = json.loads(raw)
        except ValueError as e:
            raise errors.bad_request(f"the DeleteOptions could not be decoded: {e}") from e
    if not isinstance(body, dict):
        raise errors.bad_request("the DeleteOptions in the body must be a JSON object")
    propagation = request.query.get("propagationPolicy") or body.get("propagationPolicy")
    if body.get("orphanDependents") is True or request.query.get("orphanDependents") == "true":
        propagation = "Orphan"
    if propagation not in (None, "Foreground", "Background", "Orphan"):
        raise errors.bad_request(f'propagationPolicy "{propagation}" is not Foreground, Background or Orphan')
    dry_run_body = body.get("dryRun")
    if dry_run_body is not None and (
        not isinstance(dry_run_body, list) or any(v != "All" for v in dry_run_body)
    ):
        raise errors.bad_request(f'unsupported dry run value {dry_run_body!r}: only ["All"] is supported')
    preconditions = body.get("preconditions")
    if preconditions is not None and not isinstance(preconditions, dict):
        raise errors.bad_request("preconditions must be an object with uid and/or resourceVersion")
    return DeleteOptions(
        propagation=propagation,
        dry_run=_dry_run(request) or bool(dry_run_body),
        preconditions=preconditions,
    )


def _default_manager(request: web.Request) -> str:
    """The real server names the manager after the client's User-Agent when none is given."""
    agent = request.headers.get("User-Agent", "")
    return agent.split("/")[0][:128] if agent else "unknown"


def _sort_key(obj: Obj) -> tuple[str, str]:
    meta = obj["metadata"]
    return (str(meta.get("namespace", "")), str(meta["name"]))


def _encode_continue(after: tuple[str, str], rv: str) -> str:
    """A continue token: where the last page ended (lists are ordered by namespace and name)."""
    raw = json.dumps({"after": list(after), "rv": rv}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[tuple[str, str], str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = data["after"]
        return (str(ns), str(name)), str(data["rv"])
    except (ValueError, KeyError, TypeError) as e:
        raise errors.bad_request(f"invalid continue token: {e}") from e
