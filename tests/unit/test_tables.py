"""Server-side printing: the Table kubectl 1.32 renders for `kubectl get`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from localcluster.apiserver.tables import human_duration, to_table

NOW = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


def ago(**delta: float) -> str:
    return (NOW - dt.timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(minutes=5), **extra}


def cells(resource: str, obj: dict[str, Any], **kwargs: Any) -> list[Any]:
    row: list[Any] = to_table(resource, [obj], now=NOW, **kwargs)["rows"][0]["cells"]
    return row


def names(resource: str, **kwargs: Any) -> list[tuple[str, int]]:
    table = to_table(resource, [], now=NOW, **kwargs)
    return [(c["name"], c["priority"]) for c in table["columnDefinitions"]]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-1, "0s"),
        (-5, "<invalid>"),
        (45, "45s"),
        (119, "119s"),
        (310, "5m10s"),
        (300, "5m"),
        (60 * 45, "45m"),
        (3600 * 3, "3h"),
        (3600 * 5 + 60 * 7, "5h7m"),
        (3600 * 30, "30h"),
        (3600 * 51, "2d3h"),
        (86400 * 10, "10d"),
        (86400 * (365 * 3 + 12), "3y12d"),
        (86400 * 365 * 9, "9y"),
    ],
)
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(dt.timedelta(seconds=seconds)) == text


def test_table_shape_and_row_objects() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"), "spec": {"containers": []}, "status": {}}
    table = to_table("pods", [pod], now=NOW, list_meta={"resourceVersion": "42", "continue": "abc"})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    assert set(table["columnDefinitions"][0]) == {"name", "type", "format", "description", "priority"}
    assert table["columnDefinitions"][0]["format"] == "name"
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod["metadata"],
    }
    assert to_table("pods", [pod], now=NOW, include_object="Object")["rows"][0]["object"] == pod
    assert "object" not in to_table("pods", [pod], now=NOW, include_object="None")["rows"][0]
    assert to_table("pods", [pod], now=NOW, meta_version="v1beta1")["apiVersion"] == "meta.k8s.io/v1beta1"


def test_pod_columns() -> None:
    assert names("pods") == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
        ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1),
    ]  # fmt: skip


def running_pod(**status: Any) -> dict[str, Any]:
    return {
        "metadata": meta("web-1"),
        "spec": {"nodeName": "node-a", "containers": [{"name": "web"}, {"name": "log"}]},
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.7",
            "podIPs": [{"ip": "10.244.0.7"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {"name": "web", "ready": True, "restartCount": 0, "state": {"running": {}}},
                {"name": "log", "ready": True, "restartCount": 0, "state": {"running": {}}},
            ],
            **status,
        },
    }


def test_running_pod() -> None:
    assert cells("pods", running_pod()) == [
        "web-1",
        "2/2",
        "Running",
        "0",
        "5m",
        "10.244.0.7",
        "node-a",
        "<none>",
        "<none>",
    ]


def test_pending_pod() -> None:
    pod = {"metadata": meta("p"), "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}}
    assert cells("pods", pod)[:5] == ["p", "0/1", "Pending", "0", "5m"]
    waiting = {
        "containerStatuses": [
            {"name": "c", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]
    }
    pod["status"].update(waiting)
    assert cells("pods", pod)[2] == "ContainerCreating"


def test_crash_looping_pod_shows_when_it_last_restarted() -> None:
    pod = running_pod()
    pod["status"]["containerStatuses"][0] = {
        "name": "web",
        "ready": False,
        "restartCount": 5,
        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=2)}},
    }
    assert cells("pods", pod)[1:4] == ["1/2", "CrashLoopBackOff", "5 (2m ago)"]


def test_completed_and_failed_pods_carry_row_conditions() -> None:
    pod = {
        "metadata": meta("job-x"),
        "spec": {"containers": [{"name": "c"}]},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"name": "c", "ready": False, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ],
        },
    }
    row = to_table("pods", [pod], now=NOW)["rows"][0]
    assert row["cells"][1:3] == ["0/1", "Completed"]
    assert row["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    pod["status"]["phase"] = "Failed"
    pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 137}}
    row = to_table("pods", [pod], now=NOW)["rows"][0]
    assert row["cells"][2] == "ExitCode:137"
    assert row["conditions"][0]["reason"] == "Failed"


def test_terminating_and_initializing_pods() -> None:
    pod = running_pod()
    pod["metadata"]["deletionTimestamp"] = ago(seconds=3)
    assert cells("pods", pod)[2] == "Terminating"
    init = {
        "metadata": meta("p"),
        "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "c"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "setup", "state": {"running": {}}}],
        },
    }
    assert cells("pods", init)[2] == "Init:0/1"
    init["status"]["initContainerStatuses"][0]["state"] = {"waiting": {"reason": "ImagePullBackOff"}}
    assert cells("pods", init)[2] == "Init:ImagePullBackOff"


def test_pod_readiness_gates() -> None:
    pod = running_pod()
    pod["spec"]["readinessGates"] = [
        {"conditionType": "www.example.com/feature-1"},
        {"conditionType": "other"},
    ]
    pod["status"]["conditions"].append({"type": "www.example.com/feature-1", "status": "True"})
    assert cells("pods", pod)[-1] == "1/2"


def test_deployment_and_replicaset() -> None:
    dep = {
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "spec": {
                    "containers": [{"name": "web", "image": "nginx:1.25"}, {"name": "log", "image": "fluent"}]
                }
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert names("deployments") == [
        ("Name", 0),
        ("Ready", 0),
        ("Up-to-date", 0),
        ("Available", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ]
    assert cells("deployments", dep) == ["web", "2/3", 3, 2, "5m", "web,log", "nginx:1.25,fluent", "app=web"]
    rs = {**dep, "status": {"replicas": 3, "readyReplicas": 1}}
    assert cells("replicasets", rs) == ["web", 3, 3, 1, "5m", "web,log", "nginx:1.25,fluent", "app=web"]
    assert to_table("replicasets", [], now=NOW)["columnDefinitions"][1]["type"] == "integer"
    assert cells("replicasets", {"metadata": meta("x"), "spec": {}})[-1] == "<none>"


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"app": "web"},
            },
            {},
            ["ClusterIP", "10.96.0.10", "<none>", "80/TCP", "5m", "app=web"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIP": "10.96.0.11",
                "ports": [
                    {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                    {"port": 53, "protocol": "UDP"},
                ],
            },
            {},
            ["NodePort", "10.96.0.11", "<none>", "80:30080/TCP,53/UDP", "5m", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": []},
            {},
            ["LoadBalancer", "10.96.0.12", "<pending>", "<none>", "5m", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"]},
            {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
            ["LoadBalancer", "10.96.0.12", "1.2.3.4", "<none>", "5m", "<none>"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["ExternalName", "<none>", "db.example.com", "<none>", "5m", "<none>"],
        ),
        (
            {"type": "ClusterIP", "clusterIPs": ["None"], "ports": [{"port": 5432, "protocol": "TCP"}]},
            {},
            ["ClusterIP", "None", "<none>", "5432/TCP", "5m", "<none>"],
        ),
    ],
)
def test_services(spec: dict[str, Any], status: dict[str, Any], expected: list[Any]) -> None:
    assert cells("services", {"metadata": meta("svc"), "spec": spec, "status": status}) == ["svc", *expected]


def test_endpoints() -> None:
    ep = {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)], "ports": [{"port": 8080}]}],
    }
    assert cells("endpoints", ep) == ["web", "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more...", "5m"]
    assert cells("endpoints", {"metadata": meta("none")})[1] == "<none>"


def test_small_kinds() -> None:
    assert cells(
        "configmaps", {"metadata": meta("c"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}}
    ) == ["c", 3, "5m"]
    assert cells("secrets", {"metadata": meta("s"), "type": "Opaque", "data": {"a": "MQ=="}}) == [
        "s",
        "Opaque",
        1,
        "5m",
    ]
    assert cells("serviceaccounts", {"metadata": meta("default")}) == ["default", 0, "5m"]
    assert cells("namespaces", {"metadata": meta("team"), "status": {"phase": "Active"}}) == [
        "team",
        "Active",
        "5m",
    ]
    assert cells("leases", {"metadata": meta("l"), "spec": {"holderIdentity": "ctrl-1"}}) == [
        "l",
        "ctrl-1",
        "5m",
    ]
    assert names("secrets") == [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)]


def test_events() -> None:
    event = {
        "metadata": meta("web-1.17a"),
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled",
        "message": 'Successfully pulled image "nginx"\n',
        "type": "Normal",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": ago(minutes=10),
        "lastTimestamp": ago(seconds=30),
        "count": 4,
    }
    assert names("events") == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
        ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1),
    ]  # fmt: skip
    assert cells("events", event) == [
        "30s", "Normal", "Pulled", "pod/web-1", "spec.containers{web}", "kubelet, node-a",
        'Successfully pulled image "nginx"', "10m", 4, "web-1.17a",
    ]  # fmt: skip
    new_style = {
        "metadata": meta("e"),
        "involvedObject": {"kind": "Node"},
        "eventTime": ago(seconds=20),
        "reportingController": "ctl",
    }
    row = cells("events", new_style)
    assert (row[0], row[3], row[5], row[7], row[8]) == ("20s", "node", "ctl", "20s", 1)


def test_jobs() -> None:
    job = {
        "metadata": meta("pi"),
        "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}}},
        "status": {
            "succeeded": 1,
            "startTime": ago(minutes=4),
            "completionTime": ago(minutes=3, seconds=20),
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    }
    assert names("jobs")[:5] == [("Name", 0), ("Status", 0), ("Completions", 0), ("Duration", 0), ("Age", 0)]
    assert cells("jobs", job)[:5] == ["pi", "Complete", "1/1", "40s", "5m"]
    running = {
        "metadata": meta("p"),
        "spec": {"parallelism": 3, "template": {}},
        "status": {"startTime": ago(seconds=75)},
    }
    assert cells("jobs", running)[1:4] == ["Running", "0/1 of 3", "75s"]
    failed = {
        "metadata": meta("f"),
        "spec": {},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    assert cells("jobs", failed)[1:4] == ["Failed", "0/1", ""]


def test_ingress_and_ingress_class() -> None:
    ing = {
        "metadata": meta("web"),
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}],
            "tls": [{"hosts": ["a.example.com"]}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}},
    }
    assert cells("ingresses", ing) == [
        "web",
        "nginx",
        "a.example.com,b.example.com",
        "192.168.1.10",
        "80, 443",
        "5m",
    ]
    assert cells("ingresses", {"metadata": meta("x"), "spec": {"rules": [{"http": {}}]}}) == [
        "x",
        "<none>",
        "*",
        "",
        "80",
        "5m",
    ]
    klass = {"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx"}}
    assert cells("ingressclasses", klass) == ["nginx", "k8s.io/ingress-nginx", "<none>", "5m"]


def test_rbac() -> None:
    role = {"metadata": {"name": "reader", "creationTimestamp": "2024-04-30T08:00:00Z"}}
    assert names("roles") == [("Name", 0), ("Created At", 0)]
    assert to_table("roles", [], now=NOW)["columnDefinitions"][1]["type"] == "date"
    assert cells("roles", role) == ["reader", "2024-04-30T08:00:00Z"]
    assert cells("clusterroles", role) == ["reader", "2024-04-30T08:00:00Z"]
    binding = {
        "metadata": meta("read"),
        "roleRef": {"kind": "ClusterRole", "name": "view", "apiGroup": "rbac.authorization.k8s.io"},
        "subjects": [
            {"kind": "User", "name": "jane"},
            {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
            {"kind": "Group", "name": "devs"},
        ],
    }
    assert cells("rolebindings", binding) == ["read", "ClusterRole/view", "5m", "jane", "devs", "tools/ci"]


def test_nodes_and_crds() -> None:
    node = {
        "metadata": {
            **meta("node-a"),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian"},
        },
    }
    assert cells("nodes", node) == [
        "node-a", "Ready,SchedulingDisabled", "control-plane,worker", "5m", "v1.32.0",
        "172.18.0.2", "<none>", "Debian", "<unknown>", "<unknown>",
    ]  # fmt: skip
    assert cells("nodes", {"metadata": meta("n")})[1:3] == ["Unknown", "<none>"]
    crd = {"metadata": {"name": "widgets.example.com", "creationTimestamp": "2024-05-01T11:00:00Z"}}
    assert cells("customresourcedefinitions", crd) == ["widgets.example.com", "2024-05-01T11:00:00Z"]


def test_controller_revisions_and_unknown_resources() -> None:
    rev = {
        "metadata": {
            **meta("web-7d9"),
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": True}
            ],
        },
        "revision": 2,
    }
    assert cells("controllerrevisions", rev) == ["web-7d9", "statefulset.apps/web", 2, "5m"]
    assert names("gizmos") == [("Name", 0), ("Age", 0)]
    assert cells("gizmos", {"metadata": meta("g")}) == ["g", "5m"]
    assert cells("gizmos", {"metadata": {"name": "g"}}) == ["g", "<unknown>"]


# -- custom resources --------------------------------------------------------------------------------

COLUMNS: list[dict[str, Any]] = [
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Is it ready",
    },
    {"name": "Weight", "type": "number", "jsonPath": ".spec.weight", "priority": 1, "format": "float"},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Selector", "type": "string", "jsonPath": ".spec.selector"},
    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
]


def rollout(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": meta("demo"),
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "startedAt": ago(hours=4)},
    }


def test_custom_resource_columns() -> None:
    table = to_table(
        "rollouts",
        [rollout(replicas=3, weight=2.5, paused=False, selector={"app": "demo"})],
        now=NOW,
        printer_columns=COLUMNS,
    )
    defs = table["columnDefinitions"]
    assert [(c["name"], c["type"], c["priority"]) for c in defs] == [
        ("Name", "string", 0), ("Replicas", "integer", 0), ("Ready", "string", 0), ("Weight", "number", 1),
        ("Paused", "boolean", 0), ("Selector", "string", 0), ("Started", "date", 0),
    ]  # fmt: skip
    assert defs[1]["description"] == "Custom resource definition column (in JSONPath format): .spec.replicas"
    assert defs[2]["description"] == "Is it ready"
    assert defs[3]["format"] == "float"
    assert table["rows"][0]["cells"] == ["demo", 3, "True", 2.5, False, '{"app":"demo"}', "4h"]


def test_custom_resource_missing_or_mistyped_values_are_null() -> None:
    row = cells("rollouts", rollout(replicas="three", weight="heavy", paused="no"), printer_columns=COLUMNS)
    assert row == ["demo", None, "True", None, None, None, "4h"]
    obj = rollout()
    obj["status"]["startedAt"] = "soon"
    assert cells("rollouts", obj, printer_columns=COLUMNS)[-1] == "<invalid>"


def test_custom_resource_without_columns_shows_name_and_age() -> None:
    table = to_table("rollouts", [rollout()], now=NOW, printer_columns=[])
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["demo", "5m"]


def test_object_rows_can_carry_the_requested_version() -> None:
    row = to_table(
        "rollouts",
        [rollout()],
        now=NOW,
        printer_columns=[],
        include_object="Object",
        api_version_for_object="argoproj.io/v1",
    )["rows"][0]
    assert row["object"]["apiVersion"] == "argoproj.io/v1"
    assert row["object"]["kind"] == "Rollout"
