"""Discovery documents (/version, /api, /apis, per group-version) and the OpenAPI v3 that
kubectl needs before it will apply, create -f, replace or diff.

Legacy discovery only: kubectl falls back to it silently when the server does not answer
the aggregated format, and Ansible and kopf only use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from localcluster.apiserver.registry import Registry, ResourceType

KUBERNETES_VERSION = {"major": "1", "minor": "32"}
GIT_VERSION = "v1.32.0-localcluster"


def version_info() -> dict[str, Any]:
    return {
        **KUBERNETES_VERSION,
        "gitVersion": GIT_VERSION,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-11-28T00:00:00Z",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group(group: str, versions: list[str]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"name": group, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group(g, vs) for g, vs in registry.group_versions().items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    entry["storageVersionHash"] = hashlib.sha256(rt.key.encode()).hexdigest()[:11]
    return entry


def resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_resource_entry(rt))
        base = {"singularName": "", "namespaced": rt.namespaced}
        if rt.status:
            resources.append(
                {**base, "name": f"{rt.plural}/status", "kind": rt.kind, "verbs": ["get", "patch", "update"]}
            )
        if rt.scale is not None:
            resources.append(
                {
                    **base,
                    "name": f"{rt.plural}/scale",
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        if rt.log:
            resources.append({**base, "name": f"{rt.plural}/log", "kind": "Pod", "verbs": ["get"]})
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# -- OpenAPI v3 -------------------------------------------------------------------------


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_index(registry: Registry) -> dict[str, Any]:
    """``/openapi/v3``: one entry per group-version, with a hash that changes with its content."""
    if "openapi-index" not in registry.derived:
        registry.derived["openapi-index"] = _openapi_index(registry)
    index: dict[str, Any] = registry.derived["openapi-index"]
    return index


def _openapi_index(registry: Registry) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    gvs = [("", "v1")] + [(g, v) for g, vs in registry.group_versions().items() for v in vs]
    for group, version in gvs:
        doc = openapi_document(registry, group, version)
        if doc is None:
            continue
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32].upper()
        path = _gv_path(group, version)
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                out[key] = f"#/components/schemas/{value}"
            elif key == "properties" and isinstance(value, Mapping):
                out[key] = {k: _rewrite_refs(v) for k, v in value.items()}
            else:
                out[key] = _rewrite_refs(value)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def _collect_defs(
    schema_raw: Mapping[str, Any], defs: Mapping[str, Mapping[str, Any]], out: dict[str, Any]
) -> None:
    stack: list[Any] = [schema_raw]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str) and value in defs and value not in out:
                    out[value] = _rewrite_refs(defs[value])
                    stack.append(defs[value])
                elif key == "properties" and isinstance(value, Mapping):
                    stack.extend(value.values())
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)


def openapi_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """A group-version's OpenAPI v3 (see ``_openapi_document``), built once per set of served kinds."""
    key = ("openapi", group, version)
    if key not in registry.derived:
        registry.derived[key] = _openapi_document(registry, group, version)
    cached: dict[str, Any] | None = registry.derived[key]
    return cached


def _openapi_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """A group-version's OpenAPI v3: a PATCH operation per kind, declaring ``fieldValidation``
    (so kubectl validates on the server), and the kinds' schemas (for ``kubectl explain``)."""
    types = registry.in_version(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        ns = "/namespaces/{namespace}" if rt.namespaced else ""
        path = f"/{_gv_path(group, version)}{ns}/{rt.plural}/{{name}}"
        params = [
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
        ]
        paths[path] = {
            "patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "patch",
                "parameters": params,
            },
            "put": {
                "operationId": f"replace{rt.kind}",
                "x-kubernetes-group-version-kind": gvk,
                "x-kubernetes-action": "put",
                "parameters": params,
            },
        }
        if rt.schema is None:
            continue
        name = f"{_reverse_group(rt.group)}.{rt.version}.{rt.kind}" if rt.custom else None
        raw = rt.schema.node
        if name is None:
            ref = rt.schema.raw.get("$ref")
            if not isinstance(ref, str):
                continue
            name = ref
        body = dict(_rewrite_refs(raw))
        body["x-kubernetes-group-version-kind"] = [gvk]
        schemas[name] = body
        _collect_defs(raw, rt.schema.defs, schemas)
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (localcluster)", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items()))},
    }


def _reverse_group(group: str) -> str:
    return ".".join(reversed(group.split(".")))
