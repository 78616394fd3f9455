"""What a write means: the object rules of the Kubernetes API, over the store.

Create, update, patch and delete as the real API server does them: identity and
timestamps, one global resourceVersion, ``generation`` bumped only by spec changes, status
and main resource kept apart, no-op writes that change nothing, optimistic concurrency,
dry runs, field validation, defaulting and pruning, field ownership, finalizers and
graceful deletion. The HTTP layer (``handlers``) only parses requests and calls this.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from localcluster.apiserver import errors
from localcluster.apiserver.builtin_validation import validate_builtin
from localcluster.apiserver.defaults import default_builtin
from localcluster.apiserver.errors import ApiError
from localcluster.apiserver.jsoncopy import deep_copy
from localcluster.apiserver.patch import PatchError
from localcluster.apiserver.patch.apply import ApplyConflictError, server_side_apply, update_managed_fields
from localcluster.apiserver.patch.json_patch import json_patch
from localcluster.apiserver.patch.merge import merge_patch
from localcluster.apiserver.patch.strategic import strategic_merge_patch
from localcluster.apiserver.podlogs import PodLogs
from localcluster.apiserver.registry import Registry, ResourceType
from localcluster.apiserver.schema import Schema
from localcluster.apiserver.validation import (
    FieldError,
    apply_defaults,
    prune,
    strict_decoding_error,
    unknown_field_warnings,
    unknown_fields,
    validate,
    validate_crd,
    validate_object_meta,
)
from localcluster.store import Obj, Store

FieldValidation = Literal["Strict", "Warn", "Ignore"]
PatchType = Literal["merge", "json", "strategic", "apply"]

PATCH_CONTENT_TYPES: dict[str, PatchType] = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
SERVICE_NETWORK = "127.96.0.0/12"
_RESERVED_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class WriteOptions:
    """What a write request asked for besides the object."""

    manager: str = ""
    # The manager an ordinary write is recorded under when the client names none
    # (the real server uses the User-Agent); apply always needs an explicit one.
    default_manager: str = ""
    dry_run: bool = False
    field_validation: FieldValidation = "Strict"
    subresource: str | None = None
    force: bool = False


@dataclass
class WriteResult:
    obj: Obj
    created: bool = False
    warnings: list[str] = field(default_factory=list)


def _causes(errs: list[FieldError]) -> list[dict[str, str]]:
    return [e.cause() for e in errs]


def _generation_view(rt: ResourceType, obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a change of bumps ``metadata.generation``, per kind as the real server's strategies.

    Everything but metadata and status, and status too for custom resources without a status
    subresource. (The real Deployment strategy also counts annotation changes, but its
    controller writes the revision annotation through /status, which does not; ours writes it
    through the main resource, so counting annotations would bump generation on every rollout.)
    """
    skip = {"metadata", "apiVersion", "kind"}
    if rt.status or not rt.custom:
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


class Objects:
    """The object rules over one store and registry."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self._rng = random.SystemRandom()
        # Set by the kubelet when it runs: where pods/log reads from.
        self.pod_logs: PodLogs | None = None

    # -- reading -----------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.store.get(rt.key, namespace, name)
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def view(self, rt: ResourceType, obj: Obj) -> Obj:
        """The object as served at ``rt``'s version (CRDs store one version, serve several)."""
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return dict(obj, apiVersion=rt.api_version)

    # -- checks shared by writes -------------------------------------------------------

    def _check_namespace(self, rt: ResourceType, namespace: str, *, creating: bool, name: str = "") -> None:
        if not rt.namespaced:
            return
        ns = self.store.get("/namespaces", "", namespace)
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if creating and ns["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"{rt.plural}{'.' + rt.group if rt.group else ''} is forbidden: unable to create new content "
                f"in namespace {namespace} because it is being terminated",
                kind=rt.plural,
                group=rt.group,
            )

    def _check_identity(self, rt: ResourceType, namespace: str, body: Any, name: str | None) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of the request must be a {rt.kind} object")
        api_version = body.get("apiVersion")
        if api_version and api_version != rt.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.api_version})"
            )
        kind = body.get("kind")
        if kind and kind != rt.kind:
            raise errors.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        meta = body.get("metadata")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        for key in ("name", "generateName", "namespace", "resourceVersion", "uid"):
            if key in meta and meta[key] is not None and not isinstance(meta[key], str):
                raise errors.bad_request(f"metadata.{key} must be a string, not {type(meta[key]).__name__}")
        for key in ("labels", "annotations"):
            value = meta.get(key)
            if value is not None and (
                not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values())
            ):
                raise errors.bad_request(f"metadata.{key} must be an object of strings")
        for key in ("finalizers", "ownerReferences", "managedFields"):
            value = meta.get(key)
            if value is not None and not isinstance(value, list):
                raise errors.bad_request(f"metadata.{key} must be a list")
        if any(not isinstance(r, dict) for r in meta.get("ownerReferences") or []):
            raise errors.bad_request("metadata.ownerReferences must be a list of objects")
        body_ns = meta.get("namespace")
        if rt.namespaced and body_ns and body_ns != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if name is not None and meta.get("name") and meta["name"] != name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        obj = dict(body, apiVersion=rt.api_version, kind=rt.kind)
        meta = dict(meta)
        if rt.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if name is not None:
            meta["name"] = name
        obj["metadata"] = meta
        return obj

    def _field_validation(self, rt: ResourceType, obj: Obj, mode: FieldValidation) -> list[str]:
        """Unknown fields: an error when Strict, warnings when Warn (always dropped for CRs)."""
        schema = rt.schema
        if schema is None or mode == "Ignore":
            return []
        unknown = unknown_fields(obj, schema)
        if not unknown:
            return []
        if mode == "Strict":
            raise errors.bad_request(strict_decoding_error(unknown))
        return unknown_field_warnings(unknown)

    def _prepare(self, rt: ResourceType, obj: Obj, *, create: bool) -> Obj:
        """Defaulting, pruning and validation of the object that is about to be stored.

        Returns a new object that shares nothing with ``obj``."""
        schema: Schema | None = rt.schema
        if rt.custom and schema is not None:
            obj = apply_defaults(prune(obj, schema), schema, in_place=True)  # prune copies
        elif not rt.custom:
            obj = default_builtin(rt.api_version, rt.kind, obj, create=create)
        else:
            obj = deep_copy(obj)
        name = str(obj["metadata"].get("name", ""))
        errs = validate_object_meta(obj, namespaced=rt.namespaced, resource=rt.plural)
        if schema is not None and rt.custom:
            errs += validate(obj, schema)
        elif not rt.custom:
            errs += validate_builtin(rt.api_version, rt.kind, obj)
        if rt.key == "apiextensions.k8s.io/customresourcedefinitions":
            errs += validate_crd(obj)
        if errs:
            raise errors.invalid(rt.kind, rt.group, name, _causes(errs))
        return obj

    # -- create ------------------------------------------------------------------------

    def create(self, rt: ResourceType, namespace: str, body: Any, opts: WriteOptions) -> WriteResult:
        obj = self._check_identity(rt, namespace, body, None)
        warnings = self._field_validation(rt, obj, opts.field_validation)
        self._check_namespace(rt, namespace, creating=True, name=str(obj["metadata"].get("name") or ""))
        meta = obj["metadata"]
        if not meta.get("name"):
            prefix = meta.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                )
            meta["name"] = self._generate_name(rt, namespace, str(prefix))
        name = str(meta["name"])
        if self.store.get(rt.key, namespace, name) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        if rt.status and rt.kind not in ("Node", "Namespace"):
            obj.pop("status", None)
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now_rfc3339()
        if rt.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        obj = self._prepare(rt, obj, create=True)
        if rt.key == "/services":
            self._allocate_cluster_ip(obj)
            self._allocate_node_ports(obj)
        if rt.key == "apiextensions.k8s.io/customresourcedefinitions":
            obj = self._accept_crd(obj)
        obj = self._track(rt, None, obj, opts)
        if opts.dry_run:
            return WriteResult(self.view(rt, obj), created=True, warnings=warnings)
        stored = self.store.put(rt.key, obj)
        if rt.key == "apiextensions.k8s.io/customresourcedefinitions":
            self.registry.set_crd(name, stored)
        return WriteResult(self.view(rt, stored), created=True, warnings=warnings)

    def _generate_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        for _ in range(100):
            name = prefix[:58] + "".join(self._rng.choice(_NAME_CHARS) for _ in range(5))
            if self.store.get(rt.key, namespace, name) is None:
                return name
        raise ApiError(500, "InternalError", f"could not generate a unique name from {prefix!r}")

    def _keep_service_addresses(self, old: Obj, new: Obj) -> None:
        """An update keeps the allocated cluster IP and node ports it does not set itself."""
        old_spec = old.get("spec") or {}
        spec = new.setdefault("spec", {})
        for key in ("clusterIP", "clusterIPs"):
            if key in old_spec and not spec.get(key):
                spec[key] = old_spec[key]
        if old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec.get("clusterIP"):
            raise errors.invalid(
                "Service",
                "",
                str(new["metadata"].get("name", "")),
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {spec.get('clusterIP')!r}: field is immutable",
                        "field": "spec.clusterIPs[0]",
                    }
                ],
            )
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort") for p in old_spec.get("ports") or []
        }
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                previous = old_ports.get((port.get("port"), port.get("protocol", "TCP")))
                if previous and not port.get("nodePort"):
                    port["nodePort"] = previous
            mine = {"metadata": {"name": new["metadata"]["name"]}, "spec": spec}
            others = [
                s
                for s in self.store.list("/services")
                if s["metadata"].get("uid") != old["metadata"].get("uid")
            ]
            self._assign_node_ports(mine, others)
        else:
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)

    def _allocate_node_ports(self, svc: Obj) -> None:
        if (svc.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer"):
            self._assign_node_ports(svc, self.store.list("/services"))

    def _assign_node_ports(self, svc: Obj, others: list[Obj]) -> None:
        """NodePort and LoadBalancer Services get a port in 30000-32767 for each port without one."""
        spec = svc.setdefault("spec", {})
        used = {
            int(p["nodePort"])
            for s in others
            for p in (s.get("spec") or {}).get("ports") or []
            if p.get("nodePort")
        }
        for port in spec.get("ports") or []:
            wanted = port.get("nodePort")
            if wanted:
                if int(wanted) in used or not 30000 <= int(wanted) <= 32767:
                    raise errors.invalid(
                        "Service",
                        "",
                        str(svc["metadata"].get("name", "")),
                        [
                            {
                                "reason": "FieldValueInvalid",
                                "message": f"Invalid value: {wanted}: provided port is already allocated"
                                if int(wanted) in used
                                else f"Invalid value: {wanted}: provided port is not in the valid range. "
                                "The range of valid ports is 30000-32767",
                                "field": "spec.ports[].nodePort",
                            }
                        ],
                    )
                used.add(int(wanted))
                continue
            free = [p for p in range(30000, 32768) if p not in used]
            if not free:
                raise ApiError(500, "InternalError", "no free node port in 30000-32767")
            port["nodePort"] = self._rng.choice(free)
            used.add(port["nodePort"])

    def _allocate_cluster_ip(self, svc: Obj) -> None:
        spec = svc.setdefault("spec", {})
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            if spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            return
        if spec.get("clusterIP"):
            wanted = str(spec["clusterIP"])
            problem = ""
            try:
                if ipaddress.ip_address(wanted) not in ipaddress.ip_network(SERVICE_NETWORK):
                    problem = (
                        f"provided IP is not in the valid range. The range of valid IPs is {SERVICE_NETWORK}"
                    )
            except ValueError:
                problem = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
            taken = {str((s.get("spec") or {}).get("clusterIP")) for s in self.store.list("/services")}
            if not problem and wanted in taken:
                problem = "provided IP is already allocated"
            if problem:
                raise errors.invalid(
                    "Service",
                    "",
                    str(svc["metadata"].get("name", "")),
                    [
                        {
                            "reason": "FieldValueInvalid",
                            "message": f"Invalid value: {wanted!r}: {problem}",
                            "field": "spec.clusterIPs",
                        }
                    ],
                )
            spec.setdefault("clusterIPs", [wanted])
            return
        used = {str((s.get("spec") or {}).get("clusterIP")) for s in self.store.list("/services")}
        # Cluster IPs are on the loopback range, so the Service proxies can listen on them.
        network = ipaddress.ip_network(SERVICE_NETWORK)
        for _ in range(1000):
            ip = str(network[self._rng.randrange(10, network.num_addresses - 1)])
            if ip not in used:
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
                return
        raise ApiError(500, "InternalError", f"no free cluster IP in {SERVICE_NETWORK}")

    def _accept_crd(self, crd: Obj, previous: Obj | None = None) -> Obj:
        """Mark a CRD accepted and established; an update keeps its conditions and version history."""
        spec = crd.get("spec") or {}
        now = now_rfc3339()
        versions = [str(v.get("name")) for v in spec.get("versions") or [] if v.get("storage")]
        if previous is not None and previous.get("status"):
            old_status = previous["status"]
            stored = list(old_status.get("storedVersions") or [])
            stored += [v for v in versions if v not in stored]
            crd["status"] = dict(
                old_status, acceptedNames=dict(spec.get("names") or {}), storedVersions=stored
            )
            return crd
        crd["status"] = {
            "acceptedNames": dict(spec.get("names") or {}),
            "conditions": [
                {
                    "type": "NamesAccepted",
                    "status": "True",
                    "reason": "NoConflicts",
                    "message": "no conflicts found",
                    "lastTransitionTime": now,
                },
                {
                    "type": "Established",
                    "status": "True",
                    "reason": "InitialNamesAccepted",
                    "message": "the initial names have been accepted",
                    "lastTransitionTime": now,
                },
            ],
            "storedVersions": versions,
        }
        return crd

    def _track(self, rt: ResourceType, old: Obj | None, new: Obj, opts: WriteOptions) -> Obj:
        """Record field ownership of an ordinary (non-apply) write."""
        manager = opts.manager or opts.default_manager
        if not manager or rt.schema is None:
            return new
        return update_managed_fields(
            old,
            new,
            rt.schema,
            manager=manager,
            now=now_rfc3339(),
            api_version=rt.api_version,
            subresource=opts.subresource,
        )

    # -- update and patch --------------------------------------------------------------

    def update(
        self, rt: ResourceType, namespace: str, name: str, body: Any, opts: WriteOptions
    ) -> WriteResult:
        current = self.get(rt, namespace, name)
        incoming = self._check_identity(rt, namespace, body, name)
        warnings = self._field_validation(rt, incoming, opts.field_validation)
        self._precondition(rt, current, incoming)
        return self._write(rt, current, incoming, opts, warnings)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        patch_type: PatchType,
        patch: Any,
        opts: WriteOptions,
    ) -> WriteResult:
        current = self.store.get(rt.key, namespace, name)
        if patch_type == "apply":
            return self._apply(rt, namespace, name, current, patch, opts)
        if current is None:
            raise errors.not_found(rt.plural, rt.group, name)
        view = self.view(rt, current)  # every patch engine works on a copy
        try:
            if patch_type == "merge":
                if not isinstance(patch, dict):
                    raise errors.bad_request("a merge patch must be a JSON object")
                patched = merge_patch(view, patch)
            elif patch_type == "json":
                patched = json_patch(view, patch)
            else:
                if rt.custom:
                    raise errors.unsupported_media_type(
                        f"the body of the request was in an unknown format - accepted media types include: "
                        f"application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
                        f" (strategic merge patch is not supported by {rt.api_version}, Kind={rt.kind})"
                    )
                if not isinstance(patch, dict):
                    raise errors.bad_request("a strategic merge patch must be a JSON object")
                assert rt.schema is not None
                patched = strategic_merge_patch(view, patch, rt.schema)
        except PatchError as e:
            raise ApiError(
                422, "Invalid", f"the patch could not be applied: {e}", name=name, kind=rt.kind
            ) from e
        if not isinstance(patched, dict):
            raise errors.bad_request("the patched object is not a JSON object")
        incoming = self._check_identity(rt, namespace, patched, name)
        warnings = self._field_validation(rt, incoming, opts.field_validation)
        self._precondition(rt, current, incoming)
        return self._write(rt, current, incoming, opts, warnings)

    def _apply(
        self, rt: ResourceType, namespace: str, name: str, current: Obj | None, patch: Any, opts: WriteOptions
    ) -> WriteResult:
        if not opts.manager:
            raise errors.bad_request(
                "PATCH with application/apply-patch+yaml requires fieldManager to be set"
            )
        applied = self._check_identity(rt, namespace, patch, name)
        warnings = self._field_validation(rt, applied, opts.field_validation)
        if rt.status and opts.subresource != "status":
            applied.pop("status", None)
        assert rt.schema is not None
        if current is None:
            if opts.subresource:
                raise errors.not_found(rt.plural, rt.group, name)
            created = server_side_apply(
                None,
                applied,
                rt.schema,
                manager=opts.manager,
                force=opts.force,
                now=now_rfc3339(),
                api_version=rt.api_version,
            )
            result = self.create(
                rt, namespace, created, WriteOptions(dry_run=opts.dry_run, field_validation="Ignore")
            )
            result.warnings = warnings
            return result
        self._precondition(rt, current, applied)
        try:
            merged = server_side_apply(
                copy.deepcopy(self.view(rt, current)),
                applied,
                rt.schema,
                manager=opts.manager,
                force=opts.force,
                now=now_rfc3339(),
                api_version=rt.api_version,
                subresource=opts.subresource,
            )
        except ApplyConflictError as e:
            raise ApiError(
                409,
                "Conflict",
                str(e),
                name=name,
                group=rt.group,
                kind=rt.plural,
                causes=[
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{c.manager}"',
                        "field": c.field,
                    }
                    for c in e.conflicts
                ],
            ) from e
        return self._write(rt, current, merged, opts, warnings, tracked=True)

    def _precondition(self, rt: ResourceType, current: Obj, incoming: Obj) -> None:
        wanted = incoming["metadata"].get("resourceVersion")
        if wanted and str(wanted) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                current["metadata"]["name"],
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        uid = incoming["metadata"].get("uid")
        if uid and uid != current["metadata"]["uid"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                current["metadata"]["name"],
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: {current['metadata']['uid']}",
            )

    def _write(
        self,
        rt: ResourceType,
        current: Obj,
        incoming: Obj,
        opts: WriteOptions,
        warnings: list[str],
        *,
        tracked: bool = False,
    ) -> WriteResult:
        """Store ``incoming`` as the new state of ``current``, under the rules of its subresource."""
        current_view = self.view(rt, current)
        new = self._merge_subresource(rt, current_view, incoming, opts.subresource)
        meta = new["metadata"]
        old_meta = current["metadata"]
        for key in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise ApiError(
                    422,
                    "Invalid",
                    f"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
                    f"deleted, found new finalizers {sorted(added)!r}",
                    name=str(meta.get("name")),
                    kind=rt.kind,
                )
        if rt.key == "/services" and opts.subresource is None:
            self._keep_service_addresses(current_view, new)
        new = self._prepare(rt, new, create=False)
        if rt.generation and _generation_view(rt, new) != _generation_view(rt, current_view):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if rt.key == "apiextensions.k8s.io/customresourcedefinitions" and opts.subresource is None:
            for field_name in ("scope", "group"):
                before = (current_view.get("spec") or {}).get(field_name)
                after = (new.get("spec") or {}).get(field_name)
                if before != after:
                    raise errors.invalid(
                        rt.kind,
                        rt.group,
                        str(meta["name"]),
                        [
                            {
                                "reason": "FieldValueInvalid",
                                "message": f"Invalid value: {after!r}: field is immutable",
                                "field": f"spec.{field_name}",
                            }
                        ],
                    )
            new = self._accept_crd(new, current_view)
        if not tracked:
            new = self._track(rt, current_view, new, opts)
        if new == current_view:
            return WriteResult(current_view, warnings=warnings)
        if opts.dry_run:
            return WriteResult(new, warnings=warnings)
        finished = new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers")
        if finished and rt.key != "/namespaces":
            gone = self.store.delete(rt.key, str(meta.get("namespace", "")), str(meta["name"]))
            self._after_delete(rt, current)
            return WriteResult(self.view(rt, gone or new), warnings=warnings)
        stored = self.store.put(rt.key, new)
        if rt.key == "apiextensions.k8s.io/customresourcedefinitions":
            self.registry.set_crd(str(meta["name"]), stored)
        return WriteResult(self.view(rt, stored), warnings=warnings)

    def _merge_subresource(
        self, rt: ResourceType, current: Obj, incoming: Obj, subresource: str | None
    ) -> Obj:
        if subresource == "status":
            # Only metadata is changed before _prepare, which copies the whole object.
            new = dict(current, metadata=dict(current["metadata"]))
            if "status" in incoming:
                new["status"] = incoming["status"]
            else:
                new.pop("status", None)
            return new
        new = deep_copy(incoming)
        if rt.status:
            if "status" in current:
                new["status"] = deep_copy(current["status"])
            else:
                new.pop("status", None)
        if "managedFields" not in new["metadata"] and "managedFields" in current["metadata"]:
            new["metadata"]["managedFields"] = deep_copy(current["metadata"]["managedFields"])
        return new

    # -- scale -------------------------------------------------------------------------

    def get_scale(self, rt: ResourceType, namespace: str, name: str) -> Obj:
        obj = self.get(rt, namespace, name)
        assert rt.scale is not None
        spec = _read_path(obj, rt.scale.spec_replicas_path)
        status = _read_path(obj, rt.scale.status_replicas_path)
        scale: Obj = {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: obj["metadata"][k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in obj["metadata"]
            },
            "spec": {"replicas": int(spec or 0)},
            "status": {"replicas": int(status or 0)},
        }
        if rt.scale.label_selector_path:
            selector = _read_path(obj, rt.scale.label_selector_path)
            if selector:
                scale["status"]["selector"] = selector
        else:
            selector = (obj.get("spec") or {}).get("selector") or {}
            labels = selector.get("matchLabels") or {}
            if labels:
                scale["status"]["selector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return scale

    def write_scale(
        self, rt: ResourceType, namespace: str, name: str, new_scale: Any, opts: WriteOptions
    ) -> WriteResult:
        """PUT, or PATCH already applied to the current Scale, of the scale subresource."""
        assert rt.scale is not None
        current = self.get(rt, namespace, name)
        spec = new_scale.get("spec") if isinstance(new_scale, dict) else None
        replicas_raw = spec.get("replicas", 0) if isinstance(spec, dict) else None
        meta_raw = new_scale.get("metadata", {}) if isinstance(new_scale, dict) else None
        if (
            not isinstance(replicas_raw, int)
            or isinstance(replicas_raw, bool)
            or not isinstance(meta_raw, dict)
        ):
            raise errors.bad_request(
                "the scale must be an autoscaling/v1 Scale with an integer spec.replicas"
            )
        wanted_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and str(wanted_rv) != current["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        replicas = int((new_scale.get("spec") or {}).get("replicas", 0))
        if replicas < 0:
            raise errors.invalid(
                "Scale",
                "autoscaling",
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": f"Invalid value: {replicas}: must be greater than or equal to 0",
                        "field": "spec.replicas",
                    }
                ],
            )
        incoming = copy.deepcopy(self.view(rt, current))
        _write_path(incoming, rt.scale.spec_replicas_path, replicas)
        sub_opts = WriteOptions(
            manager=opts.manager,
            default_manager=opts.default_manager,
            dry_run=opts.dry_run,
            field_validation="Ignore",
        )
        self._write(rt, current, incoming, sub_opts, [])
        return WriteResult(self.get_scale(rt, namespace, name) if not opts.dry_run else new_scale)

    # -- delete ------------------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        dry_run: bool = False,
        preconditions: Mapping[str, Any] | None = None,
    ) -> tuple[Obj, bool]:
        """Delete or start deleting; returns (object, deleted_now)."""
        current = self.get(rt, namespace, name)
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != current["metadata"]["uid"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                    f"UID in object meta: {current['metadata']['uid']}",
                )
            rv = preconditions.get("resourceVersion")
            if rv and str(rv) != current["metadata"]["resourceVersion"]:
                raise errors.conflict(
                    rt.plural,
                    rt.group,
                    name,
                    "Precondition failed: ResourceVersion in precondition does not match the object",
                )
        if rt.key == "/namespaces" and name in _RESERVED_NAMESPACES[:3]:
            raise ApiError(
                403,
                "Forbidden",
                f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                name=name,
                kind="namespaces",
            )
        finalizers = list(current["metadata"].get("finalizers") or [])
        if propagation == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        elif propagation == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        needs_wait = bool(finalizers) or rt.key == "/namespaces"
        if dry_run:
            return self.view(rt, current), not needs_wait
        if needs_wait:
            if current["metadata"].get("deletionTimestamp") and finalizers == current["metadata"].get(
                "finalizers"
            ):
                return self.view(rt, current), False
            new = copy.deepcopy(current)
            new["metadata"].setdefault("deletionTimestamp", now_rfc3339())
            new["metadata"].setdefault("deletionGracePeriodSeconds", 0)
            if finalizers:
                new["metadata"]["finalizers"] = finalizers
            if rt.key == "/namespaces":
                new.setdefault("status", {})["phase"] = "Terminating"
            return self.view(rt, self.store.put(rt.key, new)), False
        gone = self.store.delete(rt.key, namespace, name)
        self._after_delete(rt, current)
        return self.view(rt, gone or current), True

    def _after_delete(self, rt: ResourceType, obj: Obj) -> None:
        if rt.key == "apiextensions.k8s.io/customresourcedefinitions":
            spec = obj.get("spec") or {}
            key = f"{spec.get('group', '')}/{(spec.get('names') or {}).get('plural', '')}"
            for item in self.store.list(key):
                self.store.delete(
                    key, str(item["metadata"].get("namespace", "")), str(item["metadata"]["name"])
                )
            self.registry.set_crd(str(obj["metadata"]["name"]), None)

    def remove_finalizer(self, rt: ResourceType, obj: Obj, finalizer: str) -> None:
        """Drop one finalizer (used by the built-in controllers), completing a pending delete."""
        meta = obj["metadata"]
        current = self.store.get(rt.key, str(meta.get("namespace", "")), str(meta["name"]))
        if current is None or finalizer not in (current["metadata"].get("finalizers") or []):
            return
        new = copy.deepcopy(current)
        new["metadata"]["finalizers"] = [f for f in new["metadata"]["finalizers"] if f != finalizer]
        if not new["metadata"]["finalizers"]:
            del new["metadata"]["finalizers"]
        self._write(rt, current, new, WriteOptions(field_validation="Ignore"), [])

    def ensure_namespace(self, name: str) -> None:
        if self.store.get("/namespaces", "", name) is None:
            rt = self.registry.lookup("", "v1", "namespaces")
            assert rt is not None
            self.create(rt, "", {"metadata": {"name": name}}, WriteOptions(manager="localcluster"))


def _path_parts(path: str) -> list[str]:
    return [p for p in path.strip().lstrip(".").split(".") if p]


def _read_path(obj: Mapping[str, Any], path: str) -> Any:
    node: Any = obj
    for part in _path_parts(path):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _write_path(obj: dict[str, Any], path: str, value: Any) -> None:
    parts = _path_parts(path)
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
