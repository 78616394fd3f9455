"""The AnalysisRun a Rollout creates, built from its templates as Argo does (pure).

:func:`build_analysis_run` follows rollout/analysis.go ``newAnalysisRunFromRollout`` and
utils/analysis ``NewAnalysisRunFromTemplates``:

- templates are gathered from the references, each followed by the templates it is composed of
  (``spec.templates``, recursively), duplicates dropped; AnalysisTemplates come from the
  Rollout's namespace, ClusterAnalysisTemplates (``clusterScope: true``) from the cluster;
- metrics are concatenated (namespaced templates first) and must have distinct names;
  template arguments are merged (the same name with two different values is an error);
  ``dryRun`` and ``measurementRetention`` rules of the templates and the Rollout are combined;
- the Rollout's arguments fill in the templates' (``value``; ``valueFrom.podTemplateHashValue``
  ``Stable``/``Latest``; ``valueFrom.fieldRef`` from the Rollout object); arguments of the
  Rollout that no template declares are ignored, and every template argument must end up with
  a ``value`` or a ``valueFrom``;
- the run is named ``<rollout>-<latest hash>-<revision>[-<infix>]`` (infix: the step index for
  a step, ``pre``/``post`` for blue-green), labelled ``rollouts-pod-template-hash``,
  ``rollout-type`` (``Step``/``Background``/``PrePromotion``/``PostPromotion``), ``step-index``
  for a step, the controller instance id if any, the ``analysisRunMetadata`` labels and the
  Rollout's selector labels; annotated with ``rollout.argoproj.io/revision``; and owned by the
  Rollout (controller reference).

One difference: Argo leaves a template argument's ``valueFrom.fieldRef`` unresolved (and the run
then fails); here it is read from the Rollout like a Rollout argument's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from controller.analysis.goformat import format_value

POD_TEMPLATE_HASH_LABEL: Final = "rollouts-pod-template-hash"
RUN_TYPE_LABEL: Final = "rollout-type"
STEP_INDEX_LABEL: Final = "step-index"
INSTANCE_ID_LABEL: Final = "argo-rollouts.argoproj.io/controller-instance-id"
REVISION_ANNOTATION: Final = "rollout.argoproj.io/revision"
API_VERSION: Final = "argoproj.io/v1alpha1"

STEP, BACKGROUND, PRE_PROMOTION, POST_PROMOTION = "Step", "Background", "PrePromotion", "PostPromotion"
_INFIX: Final = {BACKGROUND: "", PRE_PROMOTION: "pre", POST_PROMOTION: "post"}


class BuildError(ValueError):
    """The run cannot be built: a template is missing, or templates and arguments do not fit."""


def _objects(raw: Any) -> list[Mapping[str, Any]]:
    return [x for x in raw if isinstance(x, Mapping)] if isinstance(raw, list) else []


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = obj.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def gather_templates(
    refs: Sequence[Mapping[str, Any]],
    templates: Mapping[str, Mapping[str, Any]],
    cluster_templates: Mapping[str, Mapping[str, Any]],
    *,
    namespace: str = "",
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The AnalysisTemplates and ClusterAnalysisTemplates the references reach, nested ones included."""
    found: list[Mapping[str, Any]] = []
    found_cluster: list[Mapping[str, Any]] = []
    visiting: set[tuple[bool, str]] = set()

    def walk(level: Sequence[Mapping[str, Any]]) -> None:
        for ref in level:
            name = str(ref.get("templateName") or "")
            cluster = ref.get("clusterScope") is True
            source = cluster_templates if cluster else templates
            template = source.get(name)
            if template is None:
                where = "" if cluster or not namespace else f" in namespace {namespace}"
                kind = "ClusterAnalysisTemplate" if cluster else "AnalysisTemplate"
                raise BuildError(f"{kind} '{name}' not found{where}")
            (found_cluster if cluster else found).append(template)
            key = (cluster, name)
            nested = _objects(_spec(template).get("templates"))
            if nested and key not in visiting:
                visiting.add(key)
                walk(nested)
                visiting.discard(key)

    walk(refs)
    return _unique(found), _unique(found_cluster)


def _unique(items: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    seen: set[str] = set()
    out = []
    for item in items:
        name = str((item.get("metadata") or {}).get("name") or "")
        if name not in seen:
            seen.add(name)
            out.append(item)
    return out


def flatten_templates(templates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Argo's ``FlattenTemplates``: one template spec out of many (``metrics``, ``args``, ``dryRun``,
    ``measurementRetention``)."""
    metrics: list[Mapping[str, Any]] = []
    names: set[str] = set()
    for template in templates:
        for metric in _objects(_spec(template).get("metrics")):
            name = str(metric.get("name") or "")
            if name in names:
                raise BuildError(f"two metrics have the same name '{name}'")
            names.add(name)
            metrics.append(metric)
    args: list[dict[str, Any]] = []
    for template in templates:
        for arg in _objects(_spec(template).get("args")):
            _append_or_update(args, arg)
    dry_run = [d for t in templates for d in _objects(_spec(t).get("dryRun"))]
    retention = [r for t in templates for r in _objects(_spec(t).get("measurementRetention"))]
    _no_duplicate_rules("Dry-Run", dry_run)
    _no_duplicate_rules("Measurement Retention", retention)
    return {"metrics": metrics, "args": args, "dryRun": dry_run, "measurementRetention": retention}


def _append_or_update(args: list[dict[str, Any]], new: Mapping[str, Any]) -> None:
    for i, prev in enumerate(args):
        if prev.get("name") == new.get("name"):
            if (
                prev.get("value") is not None
                and new.get("value") is not None
                and prev["value"] != new["value"]
            ):
                raise BuildError(
                    f"Argument `{prev['name']}` specified multiple times with different values: "
                    f"'{prev['value']}', '{new['value']}'"
                )
            if prev.get("value") is None:
                args[i] = dict(new)
            return
    args.append(dict(new))


def _no_duplicate_rules(what: str, rules: Sequence[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for rule in rules:
        name = str(rule.get("metricName") or "")
        if name in seen:
            raise BuildError(f"two {what} metric rules have the same name '{name}'")
        seen.add(name)


def merge_args(
    incoming: Sequence[Mapping[str, Any]], template_args: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Argo's ``MergeArgs``: the templates' arguments with the Rollout's values filled in."""
    merged = [dict(a) for a in template_args]
    for arg in incoming:
        for target in merged:
            if target.get("name") == arg.get("name"):
                if arg.get("value") is not None:
                    target["value"] = arg["value"]
                elif arg.get("valueFrom") is not None:
                    target["valueFrom"] = arg["valueFrom"]
    for arg in merged:
        if arg.get("value") is None and arg.get("valueFrom") is None:
            raise BuildError(f"args.{arg.get('name', '')} was not resolved")
    return merged


# -- arguments from the Rollout --------------------------------------------------------------------


def rollout_arguments(
    args: Sequence[Mapping[str, Any]],
    rollout: Mapping[str, Any],
    *,
    stable_hash: str | None,
    latest_hash: str,
) -> list[dict[str, Any]]:
    """Argo's ``BuildArgumentsForRolloutAnalysisRun``: each Rollout argument as ``{name, value}``."""
    out: list[dict[str, Any]] = []
    for arg in args:
        name = str(arg.get("name") or "")
        value = arg.get("value")
        value_from = arg.get("valueFrom")
        if isinstance(value_from, Mapping):
            hash_value = value_from.get("podTemplateHashValue")
            field_ref = value_from.get("fieldRef")
            if hash_value is not None:
                if hash_value == "Latest":
                    value = latest_hash
                elif hash_value == "Stable":
                    if not stable_hash:
                        raise BuildError(f"argument {name!r}: the Rollout has no stable ReplicaSet yet")
                    value = stable_hash
                else:
                    raise BuildError(f"argument {name!r}: podTemplateHashValue must be Stable or Latest")
            elif isinstance(field_ref, Mapping):
                value = field_value(rollout, str(field_ref.get("fieldPath") or ""))
        out.append({"name": name, "value": "" if value is None else str(value)})
    return out


_SUBSCRIPT: Final = re.compile(r"(metadata\.(?:labels|annotations))\['(.*)'\]")
_PATH_SPLIT: Final = re.compile(r"[.\[\]]+")


def field_value(obj: Mapping[str, Any], path: str) -> str:
    """A field of the Rollout as a string: ``metadata.labels['env']``, ``metadata.name``,
    ``status.stableRS``, ``spec.template.spec.containers[0].image``; raises :class:`BuildError`."""
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    if path.startswith("metadata"):
        sub = _SUBSCRIPT.fullmatch(path)
        if sub:
            which = sub.group(1).split(".")[1]
            return str((meta.get(which) or {}).get(sub.group(2), ""))
        if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
            return str(meta.get(path.split(".")[1]) or "")
        if path in ("metadata.labels", "metadata.annotations"):
            items = meta.get(path.split(".")[1]) or {}
            return "\n".join(f"{k}={json.dumps(str(v))}" for k, v in sorted(items.items()))
        raise BuildError(f"unsupported fieldPath: {path}")
    current: Any = obj
    for section in _PATH_SPLIT.split(path):
        if not section:
            continue
        if isinstance(current, list):
            if not section.isdigit():
                raise BuildError(f"invalid index '{section}'")
            if int(section) >= len(current):
                raise BuildError(f"index {int(section)} out of range")
            current = current[int(section)]
        elif isinstance(current, Mapping):
            current = current.get(section)
        else:
            raise BuildError(f"invalid path {path} in rollout")
    if current is None:
        raise BuildError(f"invalid path {path} in rollout")
    if isinstance(current, list | Mapping):
        raise BuildError(f"path {path} in rollout must terminate in a primitive value")
    return format_value(current)


def _resolve_field_refs(args: list[dict[str, Any]], rollout: Mapping[str, Any]) -> None:
    """Template arguments with ``valueFrom.fieldRef`` and no value get theirs from the Rollout."""
    for arg in args:
        value_from = arg.get("valueFrom")
        if arg.get("value") is None and isinstance(value_from, Mapping):
            ref = value_from.get("fieldRef")
            if isinstance(ref, Mapping):
                arg["value"] = field_value(rollout, str(ref.get("fieldPath") or ""))
                del arg["valueFrom"]


# -- the run ------------------------------------------------------------------------------------


def run_labels(
    run_type: str, pod_hash: str, *, step_index: int | None = None, instance_id: str = ""
) -> dict[str, str]:
    """The labels Argo gives a run of this type (``StepLabels``, ``BackgroundLabels``, ...)."""
    labels = {POD_TEMPLATE_HASH_LABEL: pod_hash, RUN_TYPE_LABEL: run_type}
    if run_type == STEP:
        if step_index is None:
            raise BuildError("a step analysis run needs its step index")
        labels[STEP_INDEX_LABEL] = str(step_index)
    if instance_id:
        labels[INSTANCE_ID_LABEL] = instance_id
    return labels


def run_name(rollout_name: str, pod_hash: str, revision: str, infix: str) -> str:
    """``<rollout>-<pod hash>-<revision>[-<infix>]``."""
    return "-".join([rollout_name, pod_hash, revision, *([infix] if infix else [])])


def collision_name(base: str, attempt: int) -> str:
    """The name to try after ``attempt`` collisions (``CreateWithCollisionCounter``): ``base.N``."""
    return base if attempt == 0 else f"{base}.{attempt}"


def same_run_spec(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    """Argo's ``IsSemanticallyEqual``: the same metrics, dryRun, measurementRetention and args."""
    keys = ("metrics", "dryRun", "measurementRetention", "args")
    return all((left.get(k) or None) == (right.get(k) or None) for k in keys)


def build_analysis_run(
    rollout: Mapping[str, Any],
    analysis: Mapping[str, Any],
    templates: Mapping[str, Mapping[str, Any]],
    cluster_templates: Mapping[str, Mapping[str, Any]],
    *,
    run_type: str,
    latest_hash: str,
    stable_hash: str | None = None,
    step_index: int | None = None,
    instance_id: str = "",
) -> dict[str, Any]:
    """The AnalysisRun object for ``analysis`` (a raw ``RolloutAnalysis``: a canary step's
    ``analysis``, ``canary.analysis``, or a blue-green pre/post-promotion analysis).

    ``templates`` are the AnalysisTemplates of the Rollout's namespace by name,
    ``cluster_templates`` the ClusterAnalysisTemplates by name; ``latest_hash`` is the new
    ReplicaSet's ``rollouts-pod-template-hash``, ``stable_hash`` the stable one's. Raises
    :class:`BuildError` with the reason the run cannot be made.
    """
    if run_type not in (STEP, BACKGROUND, PRE_PROMOTION, POST_PROMOTION):
        raise BuildError(f"unknown analysis run type {run_type!r}")
    if not latest_hash:
        raise BuildError("the latest ReplicaSet has no pod template hash")
    meta = rollout.get("metadata") if isinstance(rollout.get("metadata"), Mapping) else {}
    assert isinstance(meta, Mapping)
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or "")
    revision = str((meta.get("annotations") or {}).get(REVISION_ANNOTATION, ""))

    args = rollout_arguments(
        _objects(analysis.get("args")), rollout, stable_hash=stable_hash, latest_hash=latest_hash
    )
    found, found_cluster = gather_templates(
        _objects(analysis.get("templates")), templates, cluster_templates, namespace=namespace
    )
    flat = flatten_templates([*found, *found_cluster])
    merged = merge_args(args, flat["args"])
    _resolve_field_refs(merged, rollout)
    dry_run = [*_objects(analysis.get("dryRun")), *flat["dryRun"]]
    retention = [*_objects(analysis.get("measurementRetention")), *flat["measurementRetention"]]
    _no_duplicate_rules("Dry-Run", dry_run)
    _no_duplicate_rules("Measurement Retention", retention)

    run_metadata = (
        analysis.get("analysisRunMetadata")
        if isinstance(analysis.get("analysisRunMetadata"), Mapping)
        else {}
    )
    assert isinstance(run_metadata, Mapping)
    labels = run_labels(run_type, latest_hash, step_index=step_index, instance_id=instance_id)
    labels.update({str(k): str(v) for k, v in (run_metadata.get("labels") or {}).items()})
    selector = _spec(rollout).get("selector")
    if isinstance(selector, Mapping):
        labels.update({str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()})
    annotations = {REVISION_ANNOTATION: revision}
    annotations.update({str(k): str(v) for k, v in (run_metadata.get("annotations") or {}).items()})

    infix = str(step_index) if run_type == STEP else _INFIX[run_type]
    spec: dict[str, Any] = {"metrics": [dict(m) for m in flat["metrics"]]}
    if merged:
        spec["args"] = merged
    if dry_run:
        spec["dryRun"] = [dict(d) for d in dry_run]
    if retention:
        spec["measurementRetention"] = [dict(r) for r in retention]
    return {
        "apiVersion": API_VERSION,
        "kind": "AnalysisRun",
        "metadata": {
            "name": run_name(name, latest_hash, revision, infix),
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Rollout",
                    "name": name,
                    "uid": str(meta.get("uid") or ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }
