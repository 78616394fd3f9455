"""Views of the Kubernetes types Argo's objects embed: object metadata, label selectors, pod templates.

Only what the controller reads is typed; every view keeps the raw dict it came from (``raw``),
so nothing is lost when a later part needs a field this module does not name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from controller.api.problems import NOT_SUPPORTED, REQUIRED, Reader, child, index

#: label selector operators (k8s.io/apimachinery/pkg/apis/meta/v1 LabelSelectorOperator)
SELECTOR_OPERATORS: Final = ("In", "NotIn", "Exists", "DoesNotExist")

_NAME: Final = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_CHARS: Final = (
    "consist of alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character"
)


@dataclass(frozen=True)
class ObjectMeta:
    """The parts of ``metadata`` the controller uses."""

    name: str = ""
    namespace: str = ""
    uid: str = ""
    generation: int = 0
    resource_version: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any] | None, path: str = "metadata") -> ObjectMeta:
        """Read ``metadata`` (absent: all defaults)."""
        if raw is None:
            return cls()
        return cls(
            name=r.string(raw, "name", path),
            namespace=r.string(raw, "namespace", path),
            uid=r.string(raw, "uid", path),
            generation=r.integer(raw, "generation", path),
            resource_version=r.string(raw, "resourceVersion", path),
            labels=r.string_map(raw, "labels", path),
            annotations=r.string_map(raw, "annotations", path),
            creation_timestamp=r.opt_string(raw, "creationTimestamp", path),
            deletion_timestamp=r.opt_string(raw, "deletionTimestamp", path),
        )


@dataclass(frozen=True)
class SelectorRequirement:
    """One ``matchExpressions`` entry."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this requirement."""
        if self.operator == "In":
            return self.key in labels and labels[self.key] in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        if self.operator == "Exists":
            return self.key in labels
        if self.operator == "DoesNotExist":
            return self.key not in labels
        return False


@dataclass(frozen=True)
class LabelSelector:
    """A ``metav1.LabelSelector``."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    match_expressions: tuple[SelectorRequirement, ...] = ()

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any], path: str) -> LabelSelector:
        """Read a selector, recording the problems Kubernetes' ``ValidateLabelSelector`` finds."""
        match_labels = r.string_map(raw, "matchLabels", path)
        for key, value in match_labels.items():
            _check_label(r, child(child(path, "matchLabels"), key), key, value)
        reqs = []
        for req_path, req in r.objects(raw, "matchExpressions", path):
            key = r.string(req, "key", req_path)
            op = r.string(req, "operator", req_path)
            values = r.strings(req, "values", req_path)
            _check_requirement(r, req_path, key, op, values)
            reqs.append(SelectorRequirement(key, op, values))
        return cls(match_labels, tuple(reqs))

    @property
    def empty(self) -> bool:
        """No labels and no expressions: a selector that matches everything."""
        return not self.match_labels and not self.match_expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with ``labels`` is selected."""
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            req.matches(labels) for req in self.match_expressions
        )


def _check_requirement(r: Reader, path: str, key: str, op: str, values: tuple[str, ...]) -> None:
    if not key:
        r.report(child(path, "key"), "", kind=REQUIRED)
    else:
        _check_label(r, child(path, "key"), key, None)
    if op in ("In", "NotIn") and not values:
        r.report(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'", kind=REQUIRED)
    elif op in ("Exists", "DoesNotExist") and values:
        r.report(
            child(path, "values"),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            value=list(values),
        )
    elif op not in SELECTOR_OPERATORS:
        r.report(child(path, "operator"), "not a valid selector operator", kind=NOT_SUPPORTED, value=op)
    for i, value in enumerate(values):
        _check_label(r, index(child(path, "values"), i), None, value)


def _check_label(r: Reader, path: str, key: str | None, value: str | None) -> None:
    """Kubernetes' label key (qualified name) and label value syntax."""
    if key is not None:
        prefix, _, name = key.rpartition("/")
        if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
            r.report(path, "prefix part must be a lowercase RFC 1123 subdomain", value=key)
        if not name or len(name) > 63 or not _NAME.fullmatch(name):
            r.report(path, f"name part must {_CHARS}, and be at most 63 characters", value=key)
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        r.report(path, f"a valid label must be an empty string or {_CHARS}", value=value)


@dataclass(frozen=True)
class PodMetadata:
    """Labels and annotations (Argo's ``PodTemplateMetadata`` and ``AnalysisRunMetadata``)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any] | None, path: str) -> PodMetadata:
        """Read ``{labels, annotations}`` (absent: empty)."""
        if raw is None:
            return cls()
        return cls(r.string_map(raw, "labels", path), r.string_map(raw, "annotations", path))


@dataclass(frozen=True)
class PodTemplate:
    """``spec.template``: typed metadata, the pod spec as raw JSON."""

    metadata: PodMetadata = field(default_factory=PodMetadata)
    spec: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, r: Reader, raw: Mapping[str, Any] | None, path: str) -> PodTemplate:
        """Read a pod template (absent: an empty one)."""
        if raw is None:
            return cls()
        meta = PodMetadata.read(r, r.obj(raw, "metadata", path), child(path, "metadata"))
        return cls(meta, r.obj(raw, "spec", path) or {}, raw)

    @property
    def empty(self) -> bool:
        """Argo's ``RolloutSpec.EmptyTemplate``: no labels and no annotations (types.go)."""
        return not self.metadata.labels and not self.metadata.annotations
