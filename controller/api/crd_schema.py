"""The OpenAPI v3 schemas of Argo's kinds, built from small pieces (pure); see :mod:`controller.api.crdgen`.

Keys are sorted within each object, as controller-gen writes them. ``open_=True`` keeps fields
the schema does not name (``x-kubernetes-preserve-unknown-fields``).
"""

from __future__ import annotations

from typing import Any, Final

Schema = dict[str, Any]


def _t(kind: str, fmt: str | None = None) -> Schema:
    return {"type": kind, "format": fmt} if fmt else {"type": kind}


STRING: Final = _t("string")
BOOL: Final = _t("boolean")
INT32: Final = _t("integer", "int32")
TIME: Final = _t("string", "date-time")
INT_OR_STRING: Final = {
    "anyOf": [{"type": "integer"}, {"type": "string"}],
    "x-kubernetes-int-or-string": True,
}
STRING_MAP: Final = {"type": "object", "additionalProperties": {"type": "string"}}
OPEN: Final = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def obj(properties: dict[str, Schema], *required: str, open_: bool = False) -> Schema:
    """An object with these properties (keys sorted, as controller-gen writes them)."""
    schema: Schema = {"type": "object", "properties": dict(sorted(properties.items()))}
    if required:
        schema["required"] = list(required)
    if open_:
        schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


def array(items: Schema) -> Schema:
    """A list of ``items``."""
    return {"type": "array", "items": items}


def label_selector() -> Schema:
    """``metav1.LabelSelector``."""
    requirement = obj({"key": STRING, "operator": STRING, "values": array(STRING)}, "key", "operator")
    return obj({"matchExpressions": array(requirement), "matchLabels": STRING_MAP})


def labels_annotations() -> Schema:
    """Argo's ``PodTemplateMetadata`` / ``AnalysisRunMetadata``."""
    return obj({"annotations": STRING_MAP, "labels": STRING_MAP})


def dry_run() -> Schema:
    """``dryRun``: metric names to run in dry-run mode."""
    return array(obj({"metricName": STRING}, "metricName"))


def measurement_retention() -> Schema:
    """``measurementRetention``: how many measurements to keep per metric."""
    return array(obj({"limit": INT32, "metricName": STRING}, "limit", "metricName"))


def template_refs() -> Schema:
    """``templates``: references to (Cluster)AnalysisTemplates."""
    return array(obj({"clusterScope": BOOL, "templateName": STRING}))


def rollout_args() -> Schema:
    """``AnalysisRunArgument``: what a Rollout passes to its AnalysisRuns."""
    value_from = obj(
        {"fieldRef": obj({"fieldPath": STRING}, "fieldPath"), "podTemplateHashValue": STRING},
    )
    return array(obj({"name": STRING, "value": STRING, "valueFrom": value_from}, "name"))


def rollout_analysis(**extra: Schema) -> Schema:
    """``RolloutAnalysis`` (steps, blue-green pre/post), plus ``startingStep`` for background runs."""
    return obj(
        {
            "analysisRunMetadata": labels_annotations(),
            "args": rollout_args(),
            "dryRun": dry_run(),
            "measurementRetention": measurement_retention(),
            "templates": template_refs(),
            **extra,
        }
    )


def anti_affinity() -> Schema:
    """``antiAffinity`` between the new and the previous ReplicaSet."""
    preferred = obj({"weight": INT32}, "weight")
    return obj(
        {
            "preferredDuringSchedulingIgnoredDuringExecution": preferred,
            "requiredDuringSchedulingIgnoredDuringExecution": {"type": "object"},
        }
    )


def string_match() -> Schema:
    """``StringMatch``: exact, prefix or regex."""
    return obj({"exact": STRING, "prefix": STRING, "regex": STRING})


def canary_step() -> Schema:
    """One ``CanaryStep``: every kind Argo knows; validation checks that exactly one is set."""
    experiment_template = obj(
        {
            "metadata": labels_annotations(),
            "name": STRING,
            "replicas": INT32,
            "selector": label_selector(),
            "service": obj({"name": STRING}),
            "specRef": STRING,
            "weight": INT32,
        },
        "name",
        "specRef",
        open_=True,
    )
    experiment_analysis = obj(
        {
            "analysisRunMetadata": labels_annotations(),
            "args": rollout_args(),
            "clusterScope": BOOL,
            "name": STRING,
            "requiredForCompletion": BOOL,
            "templateName": STRING,
        },
        "name",
        "templateName",
        open_=True,
    )
    experiment = obj(
        {
            "analyses": array(experiment_analysis),
            "analysisRunMetadata": labels_annotations(),
            "dryRun": dry_run(),
            "duration": STRING,
            "scaleDownDelaySeconds": INT32,
            "templates": array(experiment_template),
        },
        "templates",
        open_=True,
    )
    header_match = obj({"headerName": STRING, "headerValue": string_match()}, "headerName", "headerValue")
    route_match = obj(
        {
            "headers": {"type": "object", "additionalProperties": string_match()},
            "method": string_match(),
            "path": string_match(),
        }
    )
    return obj(
        {
            "analysis": rollout_analysis(),
            "experiment": experiment,
            "pause": obj({"duration": INT_OR_STRING}),
            "plugin": obj({"config": OPEN, "name": STRING}, "name"),
            "setCanaryScale": obj({"matchTrafficWeight": BOOL, "replicas": INT32, "weight": INT32}),
            "setHeaderRoute": obj({"match": array(header_match), "name": STRING}),
            "setMirrorRoute": obj({"match": array(route_match), "name": STRING, "percentage": INT32}, "name"),
            "setWeight": INT32,
        }
    )


def traffic_routing() -> Schema:
    """``RolloutTrafficRouting``: each router's configuration is open; the routers are named."""
    routers = ("alb", "ambassador", "apisix", "appMesh", "istio", "nginx", "plugins", "smi", "traefik")
    return obj(
        {
            **{name: OPEN for name in routers},
            "managedRoutes": array(obj({"name": STRING}, "name")),
            "maxTrafficWeight": INT32,
        }
    )


def canary() -> Schema:
    """``strategy.canary``."""
    return obj(
        {
            "abortScaleDownDelaySeconds": INT32,
            "analysis": rollout_analysis(startingStep=INT32),
            "antiAffinity": anti_affinity(),
            "canaryMetadata": labels_annotations(),
            "canaryService": STRING,
            "dynamicStableScale": BOOL,
            "maxSurge": INT_OR_STRING,
            "maxUnavailable": INT_OR_STRING,
            "minPodsPerReplicaSet": INT32,
            "pingPong": obj({"pingService": STRING, "pongService": STRING}, "pingService", "pongService"),
            "replicaProgressThreshold": obj({"type": STRING, "value": INT32}),
            "scaleDownDelayRevisionLimit": INT32,
            "scaleDownDelaySeconds": INT32,
            "stableMetadata": labels_annotations(),
            "stableService": STRING,
            "steps": array(canary_step()),
            "trafficRouting": traffic_routing(),
        }
    )


def blue_green() -> Schema:
    """``strategy.blueGreen``."""
    return obj(
        {
            "abortScaleDownDelaySeconds": INT32,
            "activeMetadata": labels_annotations(),
            "activeService": STRING,
            "antiAffinity": anti_affinity(),
            "autoPromotionEnabled": BOOL,
            "autoPromotionSeconds": INT32,
            "maxUnavailable": INT_OR_STRING,
            "postPromotionAnalysis": rollout_analysis(),
            "prePromotionAnalysis": rollout_analysis(),
            "previewMetadata": labels_annotations(),
            "previewReplicaCount": INT32,
            "previewService": STRING,
            "scaleDownDelayRevisionLimit": INT32,
            "scaleDownDelaySeconds": INT32,
        },
        "activeService",
    )


def rollout_spec() -> Schema:
    """A Rollout's ``spec``; the pod template's spec is open, as a ReplicaSet's API checks it."""
    template = obj(
        {"metadata": {**labels_annotations(), "x-kubernetes-preserve-unknown-fields": True}, "spec": OPEN}
    )
    return obj(
        {
            "analysis": obj({"successfulRunHistoryLimit": INT32, "unsuccessfulRunHistoryLimit": INT32}),
            "minReadySeconds": INT32,
            "paused": BOOL,
            "progressDeadlineAbort": BOOL,
            "progressDeadlineSeconds": INT32,
            "replicas": INT32,
            "restartAt": TIME,
            "revisionHistoryLimit": INT32,
            "rollbackWindow": obj({"revisions": INT32}),
            "selector": label_selector(),
            "strategy": obj({"blueGreen": blue_green(), "canary": canary()}),
            "template": template,
            "workloadRef": obj({"apiVersion": STRING, "kind": STRING, "name": STRING, "scaleDown": STRING}),
        }
    )


def rollout_status() -> Schema:
    """A Rollout's ``status``: Argo's fields typed, open for fields a later controller adds."""
    run_status = obj({"message": STRING, "name": STRING, "status": STRING}, "name", "status")
    destination = obj({"podTemplateHash": STRING, "serviceName": STRING, "weight": INT32}, "weight")
    weights = obj(
        {"additional": array(destination), "canary": destination, "stable": destination, "verified": BOOL},
        "canary",
        "stable",
    )
    canary_status = obj(
        {
            "currentBackgroundAnalysisRunStatus": run_status,
            "currentExperiment": STRING,
            "currentStepAnalysisRunStatus": run_status,
            "stablePingPong": STRING,
            "stepPluginStatuses": array(OPEN),
            "weights": weights,
        },
        open_=True,
    )
    blue_green_status = obj(
        {
            "activeSelector": STRING,
            "postPromotionAnalysisRunStatus": run_status,
            "prePromotionAnalysisRunStatus": run_status,
            "previewSelector": STRING,
            "scaleUpPreviewCheckPoint": BOOL,
        },
        open_=True,
    )
    condition = obj(
        {
            "lastTransitionTime": TIME,
            "lastUpdateTime": TIME,
            "message": STRING,
            "reason": STRING,
            "status": STRING,
            "type": STRING,
        },
        "lastTransitionTime",
        "lastUpdateTime",
        "message",
        "reason",
        "status",
        "type",
    )
    return obj(
        {
            "HPAReplicas": INT32,
            "abort": BOOL,
            "abortedAt": TIME,
            "alb": OPEN,
            "albs": array(OPEN),
            "availableReplicas": INT32,
            "blueGreen": blue_green_status,
            "canary": canary_status,
            "collisionCount": INT32,
            "conditions": array(condition),
            "controllerPause": BOOL,
            "currentPodHash": STRING,
            "currentStepHash": STRING,
            "currentStepIndex": INT32,
            "message": STRING,
            "observedGeneration": STRING,
            "pauseConditions": array(obj({"reason": STRING, "startTime": TIME}, "reason", "startTime")),
            "phase": STRING,
            "promoteFull": BOOL,
            "readyReplicas": INT32,
            "replicas": INT32,
            "restartedAt": TIME,
            "selector": STRING,
            "stableRS": STRING,
            "updatedReplicas": INT32,
            "workloadObservedGeneration": STRING,
        },
        open_=True,
    )


def metric() -> Schema:
    """One analysis ``Metric``; every provider Argo knows, each configuration open."""
    providers = (
        "cloudWatch",
        "datadog",
        "graphite",
        "influxdb",
        "job",
        "kayenta",
        "newRelic",
        "plugin",
        "prometheus",
        "skywalking",
        "wavefront",
        "web",
    )
    return obj(
        {
            "consecutiveErrorLimit": INT_OR_STRING,
            "consecutiveSuccessLimit": INT_OR_STRING,
            "count": INT_OR_STRING,
            "failureCondition": STRING,
            "failureLimit": INT_OR_STRING,
            "inconclusiveLimit": INT_OR_STRING,
            "initialDelay": STRING,
            "interval": STRING,
            "name": STRING,
            "provider": obj({name: OPEN for name in providers}),
            "successCondition": STRING,
        },
        "name",
        "provider",
    )


def template_args() -> Schema:
    """``Argument``: a template's (or run's) arguments, with secret and field references."""
    value_from = obj(
        {
            "fieldRef": obj({"fieldPath": STRING}, "fieldPath"),
            "secretKeyRef": obj({"key": STRING, "name": STRING}, "key", "name"),
        }
    )
    return array(obj({"name": STRING, "value": STRING, "valueFrom": value_from}, "name"))


def analysis_template_spec() -> Schema:
    """The spec of an AnalysisTemplate and a ClusterAnalysisTemplate."""
    return obj(
        {
            "args": template_args(),
            "dryRun": dry_run(),
            "measurementRetention": measurement_retention(),
            "metrics": array(metric()),
            "templates": template_refs(),
        }
    )


def analysis_run_spec() -> Schema:
    """An AnalysisRun's ``spec``."""
    ttl = obj({"secondsAfterCompletion": INT32, "secondsAfterFailure": INT32, "secondsAfterSuccess": INT32})
    return obj(
        {
            "args": template_args(),
            "dryRun": dry_run(),
            "measurementRetention": measurement_retention(),
            "metrics": array(metric()),
            "terminate": BOOL,
            "ttlStrategy": ttl,
        },
        "metrics",
    )


def analysis_run_status() -> Schema:
    """An AnalysisRun's ``status``."""
    summary = obj({k: INT32 for k in ("count", "error", "failed", "inconclusive", "successful")})
    return obj(
        {
            "completedAt": TIME,
            "dryRunSummary": summary,
            "message": STRING,
            "metricResults": array(obj({"name": STRING, "phase": STRING}, "name", "phase", open_=True)),
            "phase": STRING,
            "runSummary": summary,
            "startedAt": TIME,
        },
        "phase",
        open_=True,
    )
