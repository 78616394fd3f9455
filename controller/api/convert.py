"""Deployment -> Rollout, as a pure function: what ``rollouts convert`` prints and the migration role applies.

Two ways to migrate (Argo's "Migrating to Rollouts"):

- **template** (``workload_ref=False``, the seed's way): the Deployment's pod template and
  selector move into the Rollout verbatim, every field of the template kept;
- **workloadRef** (``workload_ref=True``): the Rollout points at the Deployment
  (``spec.workloadRef``) and takes its template from there; ``scale_down`` (``never``,
  ``onsuccess``, ``progressively``) says whether the controller scales the Deployment down
  during the first migration.

What is carried over: ``metadata`` name, generateName, namespace, labels and annotations (but
not the Deployment controller's revision annotation nor kubectl's last-applied one; server
fields such as uid, resourceVersion and managedFields are dropped, as is ``status``); ``spec``
replicas, selector, template, minReadySeconds, revisionHistoryLimit, progressDeadlineSeconds
and paused, with the same meaning on a Rollout; a RollingUpdate's maxSurge/maxUnavailable
become the canary's. The canary steps are the given ones, else the seed's (50%, pause 2m, 100%).

What it refuses, with a :class:`ConvertError` naming the Deployment and the reason: not an
``apps/v1`` Deployment; no name, selector or template; a ``spec`` field it does not know; a
``Recreate`` strategy unless a strategy is chosen explicitly (a Rollout has no Recreate, and a
canary keeps old pods serving while new ones start, which a Recreate Deployment may rely on
not happening); a strategy other than ``canary``; ``scale_down`` without ``workload_ref``; and
any result Argo would reject (checked with :func:`~controller.api.validation.validate_rollout`).
Reading YAML (several documents, comments) is the caller's part.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any, Final

from controller.api.validation import validate_rollout

ROLLOUT_API_VERSION: Final = "argoproj.io/v1alpha1"
DEPLOYMENT_API_VERSION: Final = "apps/v1"
#: the seed's canary: half the pods, two minutes to look, then all of them
SEED_STEPS: Final[tuple[Mapping[str, Any], ...]] = (
    {"setWeight": 50},
    {"pause": {"duration": "2m"}},
    {"setWeight": 100},
)
#: ``spec.workloadRef.scaleDown`` values (Argo's)
SCALE_DOWN_MODES: Final = ("never", "onsuccess", "progressively")
#: strategies a Deployment can be converted to
STRATEGIES: Final = ("canary",)
#: Deployment spec fields that a Rollout spec has with the same meaning
_COPIED_SPEC_FIELDS: Final = ("minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds", "paused")
_KNOWN_SPEC_FIELDS: Final = frozenset({"replicas", "selector", "template", "strategy", *_COPIED_SPEC_FIELDS})
_KEPT_METADATA: Final = ("name", "generateName", "namespace", "labels", "annotations")
#: annotations that belong to the Deployment's own machinery, not to the application
_DROPPED_ANNOTATIONS: Final = frozenset(
    {"deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"}
)


class ConvertError(ValueError):
    """The Deployment cannot be converted; the message says which one and why."""


def default_steps() -> list[dict[str, Any]]:
    """A fresh copy of the seed's canary steps."""
    return [copy.deepcopy(dict(step)) for step in SEED_STEPS]


def _identity(deployment: Mapping[str, Any]) -> str:
    meta = deployment.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = str(meta.get("name") or meta.get("generateName") or "?")
    namespace = meta.get("namespace")
    return f'Deployment "{namespace}/{name}"' if namespace else f'Deployment "{name}"'


def _metadata(deployment: Mapping[str, Any], where: str) -> dict[str, Any]:
    meta = deployment.get("metadata")
    if not isinstance(meta, Mapping) or not (meta.get("name") or meta.get("generateName")):
        raise ConvertError(f"{where}: metadata.name is missing")
    kept: dict[str, Any] = {}
    for key in _KEPT_METADATA:
        if meta.get(key) is not None:
            kept[key] = copy.deepcopy(meta[key])
    annotations = {k: v for k, v in (kept.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS}
    if annotations:
        kept["annotations"] = annotations
    else:
        kept.pop("annotations", None)
    return kept


def _canary(
    spec: Mapping[str, Any], steps: Sequence[Any], strategy: str | None, where: str
) -> dict[str, Any]:
    """The canary strategy for a Deployment's ``spec.strategy``."""
    if strategy is not None and strategy not in STRATEGIES:
        raise ConvertError(
            f"{where}: strategy {strategy!r} is not supported; use canary "
            "(blueGreen needs active and preview Services that a Deployment does not name)"
        )
    deployment_strategy = spec.get("strategy") or {}
    if not isinstance(deployment_strategy, Mapping):
        raise ConvertError(f"{where}: spec.strategy must be a mapping")
    kind = deployment_strategy.get("type") or "RollingUpdate"
    canary: dict[str, Any] = {"steps": copy.deepcopy(list(steps))}
    if kind == "Recreate":
        if strategy is None:
            raise ConvertError(
                f"{where}: strategy Recreate has no Rollout equivalent (a canary runs old and new pods "
                "side by side); choose the canary strategy explicitly to convert it anyway"
            )
        return canary
    if kind != "RollingUpdate":
        raise ConvertError(f"{where}: unknown strategy type {kind!r} (expected RollingUpdate or Recreate)")
    rolling = deployment_strategy.get("rollingUpdate") or {}
    if not isinstance(rolling, Mapping):
        raise ConvertError(f"{where}: spec.strategy.rollingUpdate must be a mapping")
    for key in ("maxSurge", "maxUnavailable"):
        if rolling.get(key) is not None:
            canary[key] = rolling[key]
    return canary


def convert_deployment(
    deployment: Mapping[str, Any],
    *,
    workload_ref: bool = False,
    scale_down: str | None = None,
    steps: Sequence[Any] | None = None,
    strategy: str | None = None,
) -> dict[str, Any]:
    """The Rollout equivalent to ``deployment`` (a decoded manifest or a live object).

    ``workload_ref``: reference the Deployment instead of moving its template;
    ``scale_down``: with ``workload_ref``, ``never``/``onsuccess``/``progressively`` (None: not
    set, which the controller reads as never); ``steps``: the canary steps (None: the seed's);
    ``strategy``: ``canary``, required to convert a Recreate Deployment.
    Raises :class:`ConvertError` for what cannot be converted.
    """
    if not isinstance(deployment, Mapping):
        raise ConvertError(f"expected a Deployment manifest (a mapping), got {type(deployment).__name__}")
    where = _identity(deployment)
    kind, api_version = deployment.get("kind"), deployment.get("apiVersion")
    if kind != "Deployment":
        raise ConvertError(f"{where}: kind is {kind!r}, only a Deployment can be converted")
    if api_version != DEPLOYMENT_API_VERSION:
        raise ConvertError(
            f"{where}: apiVersion is {api_version!r}; only apps/v1 Deployments can be converted"
        )
    if scale_down is not None and not workload_ref:
        raise ConvertError(
            f"{where}: scale_down goes with workload_ref (a moved template has no Deployment to scale)"
        )
    if scale_down is not None and scale_down not in SCALE_DOWN_MODES:
        raise ConvertError(f"{where}: scale_down {scale_down!r} is not one of {', '.join(SCALE_DOWN_MODES)}")
    if steps is not None and (isinstance(steps, str | bytes) or not isinstance(steps, Sequence)):
        raise ConvertError(f"{where}: steps must be a list, e.g. [{{setWeight: 50}}, {{pause: {{}}}}]")
    metadata = _metadata(deployment, where)
    if workload_ref and not metadata.get("name"):
        raise ConvertError(
            f"{where}: workload_ref needs metadata.name to refer to (generateName is not enough)"
        )
    spec = deployment.get("spec")
    if not isinstance(spec, Mapping):
        raise ConvertError(f"{where}: spec is missing")
    unknown = sorted(set(spec) - _KNOWN_SPEC_FIELDS)
    if unknown:
        raise ConvertError(f"{where}: spec.{unknown[0]} is not a Deployment field; nothing was converted")
    if not isinstance(spec.get("selector"), Mapping):
        raise ConvertError(f"{where}: spec.selector is missing")
    if not isinstance(spec.get("template"), Mapping):
        raise ConvertError(f"{where}: spec.template is missing")

    rollout_spec: dict[str, Any] = {}
    if spec.get("replicas") is not None:
        rollout_spec["replicas"] = spec["replicas"]
    rollout_spec["selector"] = copy.deepcopy(dict(spec["selector"]))
    if workload_ref:
        ref: dict[str, Any] = {
            "apiVersion": DEPLOYMENT_API_VERSION,
            "kind": "Deployment",
            "name": metadata.get("name"),
        }
        if scale_down is not None:
            ref["scaleDown"] = scale_down
        rollout_spec["workloadRef"] = ref
    else:
        rollout_spec["template"] = copy.deepcopy(dict(spec["template"]))
    for key in _COPIED_SPEC_FIELDS:
        if spec.get(key) is not None:
            rollout_spec[key] = copy.deepcopy(spec[key])
    chosen_steps = default_steps() if steps is None else steps
    rollout_spec["strategy"] = {"canary": _canary(spec, chosen_steps, strategy, where)}
    rollout: dict[str, Any] = {
        "apiVersion": ROLLOUT_API_VERSION,
        "kind": "Rollout",
        "metadata": metadata,
        "spec": rollout_spec,
    }
    problems = validate_rollout(rollout)
    if problems:
        raise ConvertError(f"{where}: the Rollout would be invalid: {problems[0]}")
    return rollout


__all__ = [
    "DEPLOYMENT_API_VERSION",
    "ROLLOUT_API_VERSION",
    "SCALE_DOWN_MODES",
    "SEED_STEPS",
    "STRATEGIES",
    "ConvertError",
    "convert_deployment",
    "default_steps",
]
