"""Deployment -> Rollout conversion (controller.api.convert): what is kept, what is refused."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from controller.api import validate_rollout
from controller.api.convert import SEED_STEPS, ConvertError, convert_deployment, default_steps

# A Deployment using much of what a pod template can hold, written as a GitOps repository has it.
DEPLOYMENT_YAML = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tracing-demo-frontend
  namespace: services
  labels: {app: frontend, tier: web}
  annotations:
    team: shop
    deployment.kubernetes.io/revision: "4"
    kubectl.kubernetes.io/last-applied-configuration: '{"kind":"Deployment"}'
spec:
  replicas: 2
  revisionHistoryLimit: 5
  minReadySeconds: 3
  progressDeadlineSeconds: 300
  selector:
    matchLabels: {app: frontend}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: frontend, version: v1}
      annotations: {prometheus.io/scrape: "true"}
    spec:
      serviceAccountName: frontend
      terminationGracePeriodSeconds: 20
      nodeSelector: {disk: ssd}
      tolerations: [{key: spot, operator: Exists, effect: NoSchedule}]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 50
              podAffinityTerm:
                topologyKey: kubernetes.io/hostname
                labelSelector: {matchLabels: {app: frontend}}
      initContainers:
        - {name: migrate, image: "busybox:1.36", command: [sh, -c, "true"]}
      containers:
        - name: frontend
          image: argoproj/rollouts-demo:blue
          imagePullPolicy: IfNotPresent
          args: [--port, "8080"]
          ports: [{name: http, containerPort: 8080, protocol: TCP}]
          env:
            - {name: COLOR, value: blue}
            - name: POD_IP
              valueFrom: {fieldRef: {fieldPath: status.podIP}}
          envFrom: [{configMapRef: {name: frontend-config}}]
          resources:
            requests: {cpu: 50m, memory: 64Mi}
            limits: {memory: 128Mi}
          readinessProbe:
            httpGet: {path: /, port: http}
            periodSeconds: 2
          livenessProbe:
            tcpSocket: {port: 8080}
          lifecycle:
            preStop: {exec: {command: [sleep, "2"]}}
          volumeMounts: [{name: cache, mountPath: /cache}]
          securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true}
      volumes:
        - {name: cache, emptyDir: {sizeLimit: 64Mi}}
"""


def deployment() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DEPLOYMENT_YAML)
    return loaded


def test_template_mode_moves_every_field_of_the_pod_template() -> None:
    source = deployment()
    rollout = convert_deployment(source)
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    assert rollout["kind"] == "Rollout"
    assert rollout["spec"]["template"] == source["spec"]["template"]
    assert rollout["spec"]["selector"] == {"matchLabels": {"app": "frontend"}}
    assert validate_rollout(rollout) == []
    # a copy, not the same objects: changing the Rollout leaves the Deployment as it was
    rollout["spec"]["template"]["spec"]["containers"][0]["image"] = "argoproj/rollouts-demo:green"
    assert source == deployment()


def test_spec_fields_with_the_same_meaning_are_carried_over() -> None:
    spec = convert_deployment(deployment())["spec"]
    assert spec["replicas"] == 2
    assert spec["revisionHistoryLimit"] == 5
    assert spec["minReadySeconds"] == 3
    assert spec["progressDeadlineSeconds"] == 300
    canary = spec["strategy"]["canary"]
    assert (canary["maxSurge"], canary["maxUnavailable"]) == (1, 0)
    assert "paused" not in spec


def test_metadata_keeps_the_application_labels_and_annotations_only() -> None:
    live = deployment()
    live["metadata"].update(
        uid="6a1c",
        resourceVersion="912",
        generation=4,
        creationTimestamp="2026-01-01T00:00:00Z",
        managedFields=[{"manager": "kubectl"}],
    )
    live["status"] = {"replicas": 2, "availableReplicas": 2}
    rollout = convert_deployment(live)
    assert rollout["metadata"] == {
        "name": "tracing-demo-frontend",
        "namespace": "services",
        "labels": {"app": "frontend", "tier": "web"},
        "annotations": {"team": "shop"},
    }
    assert "status" not in rollout


def test_the_seeds_steps_are_the_default() -> None:
    steps = convert_deployment(deployment())["spec"]["strategy"]["canary"]["steps"]
    assert steps == [{"setWeight": 50}, {"pause": {"duration": "2m"}}, {"setWeight": 100}]
    steps.append({"pause": {}})
    assert default_steps() == [dict(s) for s in SEED_STEPS], "the defaults are not shared objects"


def test_given_steps_are_used_as_written() -> None:
    steps = [{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}}]
    rollout = convert_deployment(deployment(), steps=steps)
    assert rollout["spec"]["strategy"]["canary"]["steps"] == steps
    assert rollout["spec"]["strategy"]["canary"]["steps"] is not steps


def test_workload_ref_mode_refers_to_the_deployment_instead_of_copying_it() -> None:
    rollout = convert_deployment(deployment(), workload_ref=True, scale_down="progressively")
    spec = rollout["spec"]
    assert "template" not in spec
    assert spec["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tracing-demo-frontend",
        "scaleDown": "progressively",
    }
    assert spec["replicas"] == 2
    assert spec["selector"] == {"matchLabels": {"app": "frontend"}}
    assert validate_rollout(rollout) == []


def test_workload_ref_without_scale_down_leaves_argos_default() -> None:
    ref = convert_deployment(deployment(), workload_ref=True)["spec"]["workloadRef"]
    assert "scaleDown" not in ref


def test_a_paused_deployment_stays_paused() -> None:
    source = deployment()
    source["spec"]["paused"] = True
    assert convert_deployment(source)["spec"]["paused"] is True


def test_a_deployment_with_defaults_only_converts() -> None:
    minimal = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx"}]},
            },
        },
    }
    rollout = convert_deployment(minimal)
    assert rollout["metadata"] == {"name": "web"}
    assert "replicas" not in rollout["spec"], "a missing replicas keeps meaning 1"
    assert rollout["spec"]["strategy"] == {"canary": {"steps": default_steps()}}


def test_recreate_needs_an_explicit_strategy() -> None:
    source = deployment()
    source["spec"]["strategy"] = {"type": "Recreate"}
    with pytest.raises(ConvertError) as refused:
        convert_deployment(source)
    message = str(refused.value)
    assert message.startswith('Deployment "services/tracing-demo-frontend": strategy Recreate')
    assert "choose the canary strategy explicitly" in message
    rollout = convert_deployment(source, strategy="canary")
    assert rollout["spec"]["strategy"] == {"canary": {"steps": default_steps()}}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to a Deployment: set the dotted ``path`` to ``value`` (None removes it)."""

    def change(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            obj = obj[key]
        if value is None:
            del obj[last]
        else:
            obj[last] = value

    return change


REFUSED = [
    (_set("kind", "StatefulSet"), "kind is 'StatefulSet', only a Deployment can be converted"),
    (_set("apiVersion", "extensions/v1beta1"), "only apps/v1 Deployments can be converted"),
    (_set("metadata.name", None), "metadata.name is missing"),
    (_set("spec.selector", None), "spec.selector is missing"),
    (_set("spec.template", None), "spec.template is missing"),
    (_set("spec.replica", 2), "spec.replica is not a Deployment field; nothing was converted"),
    (_set("spec.strategy", {"type": "BlueGreen"}), "unknown strategy type 'BlueGreen'"),
]


@pytest.mark.parametrize(("change", "message"), REFUSED)
def test_what_cannot_be_converted_is_refused_with_the_reason(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    source = deployment()
    change(source)
    with pytest.raises(ConvertError) as refused:
        convert_deployment(source)
    assert message in str(refused.value)
    assert str(refused.value).startswith("Deployment ")


def test_an_invalid_result_is_refused_with_argos_words() -> None:
    source = deployment()
    source["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ConvertError) as refused:
        convert_deployment(source)
    assert "the Rollout would be invalid: spec.template.metadata.labels" in str(refused.value)
    assert "`selector` does not match template `labels`" in str(refused.value)


def test_bad_steps_are_refused() -> None:
    with pytest.raises(ConvertError, match=r"spec\.strategy\.canary\.steps\[0\]\.setWeight"):
        convert_deployment(deployment(), steps=[{"setWeight": 150}])
    with pytest.raises(ConvertError, match="steps must be a list"):
        convert_deployment(deployment(), steps="50%")  # type: ignore[arg-type]


def test_options_that_do_not_go_together_are_refused() -> None:
    with pytest.raises(ConvertError, match="scale_down goes with workload_ref"):
        convert_deployment(deployment(), scale_down="onsuccess")
    with pytest.raises(ConvertError, match="scale_down 'sometimes' is not one of never, onsuccess"):
        convert_deployment(deployment(), workload_ref=True, scale_down="sometimes")
    with pytest.raises(ConvertError, match="strategy 'blueGreen' is not supported; use canary"):
        convert_deployment(deployment(), strategy="blueGreen")
    with pytest.raises(ConvertError, match="expected a Deployment manifest"):
        convert_deployment(["not", "a", "mapping"])  # type: ignore[arg-type]


def test_converting_does_not_change_its_input() -> None:
    source = deployment()
    before = copy.deepcopy(source)
    convert_deployment(source, workload_ref=True, scale_down="onsuccess", steps=[{"setWeight": 10}])
    convert_deployment(source)
    assert source == before
