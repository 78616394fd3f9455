"""Defaults a user sees when reading back built-in objects (`kubectl get -o yaml`)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localcluster.apiserver.defaults import default_builtin, image_pull_policy, qos_class


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]},
            },
            **spec,
        },
    }


def test_deployment_defaults() -> None:
    out = default_builtin("apps/v1", "Deployment", deployment())
    spec = out["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    template = spec["template"]
    assert template["metadata"] == {"labels": {"app": "web"}, "creationTimestamp": None}
    pod = template["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["dnsPolicy"] == "ClusterFirst"
    assert pod["schedulerName"] == "default-scheduler"
    assert pod["securityContext"] == {}
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["containers"][0] == {
        "name": "web",
        "image": "nginx",
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "imagePullPolicy": "Always",
        "resources": {},
    }
    assert "enableServiceLinks" not in pod and "tolerations" not in pod


def test_user_values_win_and_input_is_not_mutated() -> None:
    obj = deployment(replicas=0, strategy={"type": "Recreate"}, revisionHistoryLimit=2)
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    before = copy.deepcopy(obj)
    out = default_builtin("apps/v1", "Deployment", obj)
    assert obj == before
    assert out["spec"]["replicas"] == 0
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert out["spec"]["revisionHistoryLimit"] == 2
    assert out["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_service_account_alias_is_kept_in_step() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["serviceAccountName"] = "builder"
    pod = default_builtin("apps/v1", "Deployment", obj)["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == pod["serviceAccount"] == "builder"
    assert (
        "serviceAccount"
        not in default_builtin("apps/v1", "Deployment", deployment())["spec"]["template"]["spec"]
    )


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.25", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v2", "IfNotPresent"),
        ("nginx@sha256:abc", "IfNotPresent"),
        ("nginx:latest@sha256:abc", "Always"),
    ],
)
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_probe_and_volume_defaults() -> None:
    obj = deployment()
    pod = obj["spec"]["template"]["spec"]
    pod["containers"][0]["readinessProbe"] = {"httpGet": {"port": 80}}
    pod["containers"][0]["livenessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 5}
    pod["volumes"] = [
        {"name": "cfg", "configMap": {"name": "c"}},
        {"name": "scratch"},
        {"name": "s", "secret": {"secretName": "s"}},
    ]
    out = default_builtin("apps/v1", "Deployment", obj)["spec"]["template"]["spec"]
    ready = out["containers"][0]["readinessProbe"]
    assert ready == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert out["containers"][0]["livenessProbe"]["periodSeconds"] == 5
    assert out["volumes"] == [
        {"name": "cfg", "configMap": {"name": "c", "defaultMode": 420}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "s", "secret": {"secretName": "s", "defaultMode": 420}},
    ]


def test_pod_defaults_include_admission_and_status() -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.36",
                    "resources": {"limits": {"cpu": "500m", "memory": "64Mi"}},
                }
            ]
        },
    }
    out = default_builtin("v1", "Pod", pod)
    spec = out["spec"]
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    assert spec["priority"] == 0 and spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert [t["key"] for t in spec["tolerations"]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    assert spec["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "64Mi"}
    assert spec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert out["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}
    assert "status" not in default_builtin("v1", "Pod", pod, create=False)


def test_qos_class() -> None:
    assert qos_class({"containers": [{"name": "a"}]}) == "BestEffort"
    assert qos_class({"containers": [{"resources": {"requests": {"cpu": "1"}}}]}) == "Burstable"
    guaranteed = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}
    assert qos_class({"containers": [{"resources": guaranteed}]}) == "Guaranteed"


def test_service_defaults() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web"},
            "ports": [{"port": 80}, {"port": 443, "targetPort": "https", "protocol": "TCP"}],
        },
    }
    out = default_builtin("v1", "Service", svc)
    assert out["spec"] == {
        "selector": {"app": "web"},
        "ports": [
            {"port": 80, "protocol": "TCP", "targetPort": 80},
            {"port": 443, "targetPort": "https", "protocol": "TCP"},
        ],
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
    }
    assert out["status"] == {"loadBalancer": {}}
    node_port = default_builtin(
        "v1", "Service", {"spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "ports": [{"port": 80}]}}
    )
    assert node_port["spec"]["externalTrafficPolicy"] == "Cluster"
    assert node_port["spec"]["clusterIPs"] == ["10.96.0.9"]
    external = default_builtin(
        "v1", "Service", {"spec": {"type": "ExternalName", "externalName": "example.com"}}
    )
    assert "ipFamilies" not in external["spec"] and "internalTrafficPolicy" not in external["spec"]


def test_job_defaults_and_generated_selector() -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "uid": "1234"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}
        },
    }
    out = default_builtin("batch/v1", "Job", job)
    spec = out["spec"]
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (6, 1, 1)
    assert (spec["completionMode"], spec["suspend"], spec["podReplacementPolicy"]) == (
        "NonIndexed",
        False,
        "TerminatingOrFailed",
    )
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}
    assert spec["template"]["metadata"]["labels"]["job-name"] == "pi"
    assert out["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "pi"
    parallel = default_builtin("batch/v1", "Job", {"spec": {"parallelism": 3, "template": {}}})["spec"]
    assert parallel["parallelism"] == 3 and "completions" not in parallel


def test_namespace_secret_and_bindings() -> None:
    ns = default_builtin("v1", "Namespace", {"metadata": {"name": "team-a"}})
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]}
    assert ns["status"] == {"phase": "Active"}
    updated = default_builtin(
        "v1", "Namespace", {"metadata": {"name": "team-a"}, "spec": {"finalizers": []}}, create=False
    )
    assert updated["spec"]["finalizers"] == []
    assert default_builtin("v1", "Secret", {"data": {}})["type"] == "Opaque"
    assert default_builtin("v1", "Secret", {"type": "kubernetes.io/tls"})["type"] == "kubernetes.io/tls"
    binding = default_builtin(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        {
            "roleRef": {"kind": "Role", "name": "r"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}],
        },
    )
    assert binding["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert binding["subjects"] == [
        {"kind": "User", "name": "u", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "s"},
    ]


def test_crd_defaults_and_untouched_kinds() -> None:
    crd = default_builtin(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        {"spec": {"names": {"kind": "Widget", "plural": "widgets"}}},
    )
    assert crd["spec"]["names"]["singular"] == "widget"
    assert crd["spec"]["names"]["listKind"] == "WidgetList"
    assert crd["spec"]["conversion"] == {"strategy": "None"}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    assert default_builtin("v1", "ConfigMap", cm) == cm
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {}}
    assert default_builtin("coordination.k8s.io/v1", "Lease", lease) == lease


_KINDS = [
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("batch/v1", "Job"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "Namespace"),
]
_containers = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b"]), "image": st.sampled_from(["nginx", "nginx:1", "r/x:latest"])},
        optional={
            "imagePullPolicy": st.sampled_from(["Never", "Always"]),
            "ports": st.lists(
                st.fixed_dictionaries(
                    {"containerPort": st.integers(1, 9)}, optional={"protocol": st.just("UDP")}
                ),
                max_size=2,
            ),
            "resources": st.sampled_from([{}, {"limits": {"cpu": "1"}}, {"requests": {"memory": "1Mi"}}]),
        },
    ),
    max_size=2,
)


@given(st.sampled_from(_KINDS), _containers, st.one_of(st.none(), st.integers(0, 3)), st.booleans())
def test_defaulting_twice_is_the_same_as_once(
    kind: tuple[str, str], containers: list[dict[str, Any]], replicas: int | None, create: bool
) -> None:
    pod_spec = {"containers": containers}
    spec: dict[str, Any] = (
        {"template": {"spec": pod_spec}} if kind[1] in ("Deployment", "ReplicaSet", "Job") else dict(pod_spec)
    )
    if kind[1] == "Service":
        spec = {"ports": [{"port": 80}], "type": "NodePort" if replicas else "ClusterIP"}
    if replicas is not None and kind[1] != "Service":
        spec["replicas"] = replicas
    obj = {"apiVersion": kind[0], "kind": kind[1], "metadata": {"name": "x", "uid": "u"}, "spec": spec}
    once = default_builtin(kind[0], kind[1], obj, create=create)
    assert default_builtin(kind[0], kind[1], once, create=create) == once
