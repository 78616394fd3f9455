"""The kinds localcluster serves: built-in ones, and those that CustomResourceDefinitions add.

A :class:`ResourceType` is everything the HTTP layer needs to know about one resource of one
group-version: names for discovery, scope, subresources, the schema, printer columns. The
:class:`Registry` answers "what is at this URL" and "what does discovery list".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from localcluster.apiserver.schema import Schema, builtin_schema, crd_schema

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScaleSpec:
    """Where a kind keeps what the ``scale`` subresource reads and writes (JSON paths)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = ".status.selector"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status: bool = False
    scale: ScaleSpec | None = None
    log: bool = False
    verbs: tuple[str, ...] = ALL_VERBS
    custom: bool = False
    schema: Schema | None = field(default=None, compare=False, repr=False)
    printer_columns: Sequence[Mapping[str, Any]] | None = field(default=None, compare=False, repr=False)
    # The version objects are stored in; other served versions are the same object with
    # another apiVersion (CRDs with conversion strategy None).
    storage_version: str = ""
    # Whether the server keeps metadata.generation (kinds with a spec that controllers act on).
    generation: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The storage key, shared by every version of the resource."""
        return f"{self.group}/{self.plural}"

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


def _b(
    group: str,
    plural: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    status: bool = False,
    scale: ScaleSpec | None = None,
    log: bool = False,
    version: str = "v1",
    verbs: tuple[str, ...] = ALL_VERBS,
    generation: bool = False,
) -> ResourceType:
    api_version = f"{group}/{version}" if group else version
    return ResourceType(
        group=group,
        version=version,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        short_names=short,
        categories=cats,
        status=status,
        scale=scale,
        log=log,
        verbs=verbs,
        schema=builtin_schema(api_version, kind),
        storage_version=version,
        generation=generation,
    )


_NO_COLLECTION_DELETE = tuple(v for v in ALL_VERBS if v != "deletecollection")

BUILTIN: tuple[ResourceType, ...] = (
    _b(
        "",
        "namespaces",
        "Namespace",
        namespaced=False,
        short=("ns",),
        status=True,
        verbs=_NO_COLLECTION_DELETE,
    ),
    _b("", "pods", "Pod", short=("po",), cats=("all",), status=True, log=True),
    _b("", "services", "Service", short=("svc",), cats=("all",), status=True, verbs=_NO_COLLECTION_DELETE),
    _b("", "endpoints", "Endpoints", short=("ep",)),
    _b("", "configmaps", "ConfigMap", short=("cm",)),
    _b("", "secrets", "Secret"),
    _b("", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _b("", "events", "Event", short=("ev",)),
    _b("", "nodes", "Node", namespaced=False, short=("no",), status=True),
    _b(
        "apps",
        "deployments",
        "Deployment",
        generation=True,
        short=("deploy",),
        cats=("all",),
        status=True,
        scale=ScaleSpec(label_selector_path=None),
    ),
    _b(
        "apps",
        "replicasets",
        "ReplicaSet",
        generation=True,
        short=("rs",),
        cats=("all",),
        status=True,
        scale=ScaleSpec(label_selector_path=None),
    ),
    _b("apps", "controllerrevisions", "ControllerRevision"),
    _b("batch", "jobs", "Job", cats=("all",), status=True, generation=True),
    _b("networking.k8s.io", "ingresses", "Ingress", short=("ing",), status=True, generation=True),
    _b("networking.k8s.io", "ingressclasses", "IngressClass", namespaced=False, generation=True),
    _b("coordination.k8s.io", "leases", "Lease"),
    _b("rbac.authorization.k8s.io", "roles", "Role"),
    _b("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    _b("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", namespaced=False),
    _b("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    _b(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        status=True,
        generation=True,
    ),
)

# Preferred version of each built-in group, in the order discovery lists them.
BUILTIN_GROUPS: tuple[str, ...] = (
    "apps",
    "batch",
    "networking.k8s.io",
    "coordination.k8s.io",
    "rbac.authorization.k8s.io",
    "apiextensions.k8s.io",
)


def _selector_path(raw: Any) -> str | None:
    return raw if isinstance(raw, str) and raw else None


def types_from_crd(crd: Mapping[str, Any]) -> list[ResourceType]:
    """The resource types an (accepted) CRD serves, one per served version."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group = str(spec.get("group", ""))
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    storage = next((str(v["name"]) for v in spec.get("versions") or [] if v.get("storage")), "")
    out: list[ResourceType] = []
    for version in versions:
        subresources = version.get("subresources") or {}
        scale_raw = subresources.get("scale")
        scale = None
        if isinstance(scale_raw, Mapping):
            scale = ScaleSpec(
                spec_replicas_path=str(scale_raw.get("specReplicasPath", ".spec.replicas")),
                status_replicas_path=str(scale_raw.get("statusReplicasPath", ".status.replicas")),
                label_selector_path=_selector_path(scale_raw.get("labelSelectorPath")),
            )
        schema_raw = (version.get("schema") or {}).get("openAPIV3Schema")
        out.append(
            ResourceType(
                group=group,
                version=str(version["name"]),
                plural=str(names.get("plural", "")),
                singular=str(names.get("singular") or str(names.get("kind", "")).lower()),
                kind=str(names.get("kind", "")),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status="status" in subresources,
                scale=scale,
                custom=True,
                schema=crd_schema(schema_raw),
                printer_columns=version.get("additionalPrinterColumns"),
                storage_version=storage,
            )
        )
    return out


class Registry:
    """Lookup of served resource types, rebuilt when CRDs change."""

    def __init__(self) -> None:
        self._builtin = list(BUILTIN)
        self._custom: dict[str, list[ResourceType]] = {}  # CRD name -> types
        self._rebuild()

    def _rebuild(self) -> None:
        # Documents derived from the served kinds (OpenAPI), valid until the next rebuild.
        self.derived: dict[Any, Any] = {}
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_key: dict[str, list[ResourceType]] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for rt in self.all():
            self._by_path[(rt.group, rt.version, rt.plural)] = rt
            self._by_key.setdefault(rt.key, []).append(rt)
            self._by_kind.setdefault((rt.api_version, rt.kind), rt)

    def all(self) -> list[ResourceType]:
        out = list(self._builtin)
        for name in sorted(self._custom):
            out.extend(self._custom[name])
        return out

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def versions_of(self, key: str) -> list[ResourceType]:
        """Every served version of the resource stored under ``key``."""
        return self._by_key.get(key, [])

    def storage_type(self, key: str) -> ResourceType | None:
        for rt in self._by_key.get(key, []):
            if rt.version == rt.storage_version:
                return rt
        found = self._by_key.get(key)
        return found[0] if found else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def group_versions(self) -> dict[str, list[str]]:
        """Group -> served versions, preferred first (built-in groups in a fixed order)."""
        groups: dict[str, list[str]] = {}
        for rt in self.all():
            if not rt.group:
                continue
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        for versions in groups.values():
            # Kubernetes version priority (GA > beta > alpha), as the real server orders them.
            versions.sort(key=_version_priority)
        order = {g: i for i, g in enumerate(BUILTIN_GROUPS)}
        return dict(sorted(groups.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))

    def in_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.all() if rt.group == group and rt.version == version]

    def set_crd(self, name: str, crd: Mapping[str, Any] | None) -> None:
        """Serve (or stop serving, with None) what the CRD called ``name`` declares."""
        if crd is None:
            self._custom.pop(name, None)
        else:
            self._custom[name] = types_from_crd(crd)
        self._rebuild()


def _version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if not match:
        return (3, 0, 0)
    major = int(match.group(1))
    stage = {"": 0, "beta": 1, "alpha": 2}[match.group(2) or ""]
    minor = int(match.group(3) or 0)
    return (stage, -major, -minor)
