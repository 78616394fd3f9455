"""The real kubectl against localcluster: the commands people and our tools run."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Kubectl

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx:1.26
          env:
            - {name: A, value: "1"}
            - {name: B, value: "2"}
          ports:
            - containerPort: 80
        - name: sidecar
          image: busybox
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: 80}
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  color: blue
"""

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
    - name: v1
      served: true
      storage: true
      subresources:
        status: {}
        scale:
          specReplicasPath: .spec.replicas
          statusReplicasPath: .status.replicas
      additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
        - {name: Color, type: string, jsonPath: .spec.color}
        - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, minimum: 1, default: 1}
                color: {type: string, enum: [red, green, blue]}
                replicas: {type: integer}
            status:
              type: object
              properties:
                replicas: {type: integer}
"""

WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  color: red
  replicas: 1
"""


def _ns(kubectl: Kubectl, namespace: str) -> Kubectl:
    return Kubectl(kubectl.cluster, kubectl.cache_dir, namespace)


def run(
    k: Kubectl, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return k.run("-n", k.namespace, *args, input=input, check=check)


@pytest.fixture
def crd(kubectl: Kubectl) -> str:
    kubectl.run("apply", "-f", "-", input=CRD)
    kubectl.run("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s")
    return "widgets.example.com"


@pytest.mark.parametrize("server_side", [False, True], ids=["client-side", "server-side"])
def test_apply_create_then_update(kubectl: Kubectl, namespace: str, crd: str, server_side: bool) -> None:
    k = _ns(kubectl, namespace)
    flags = ["--server-side"] if server_side else []
    for manifest in (DEPLOYMENT, SERVICE, CONFIGMAP, WIDGET):
        out = run(k, "apply", *flags, "-f", "-", input=manifest).stdout
        assert "created" in out or "serverside-applied" in out
    # update: change the image, drop env A, drop a container, change data
    updated = DEPLOYMENT.replace("nginx:1.26", "nginx:1.27").replace(
        '            - {name: A, value: "1"}\n', ""
    )
    updated = updated.replace("        - name: sidecar\n          image: busybox\n", "")
    out = run(k, "apply", *flags, "-f", "-", input=updated).stdout
    assert "configured" in out or "serverside-applied" in out
    run(k, "apply", *flags, "-f", "-", input=CONFIGMAP.replace("blue", "green"))
    run(k, "apply", *flags, "-f", "-", input=WIDGET.replace("red", "blue"))

    dep = k.json("get", "deployment", "web", "-n", namespace)
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["image"] == "nginx:1.27"
    assert containers[0]["env"] == [{"name": "B", "value": "2"}]
    assert dep["metadata"]["generation"] == 2
    assert k.json("get", "configmap", "settings", "-n", namespace)["data"] == {"color": "green"}
    widget = k.json("get", "widget", "w1", "-n", namespace)
    assert widget["spec"] == {"color": "blue", "replicas": 1, "size": 1}  # size defaulted from the schema

    # a second apply of the same manifest changes nothing
    before = k.json("get", "deployment", "web", "-n", namespace)["metadata"]["resourceVersion"]
    out = run(k, "apply", *flags, "-f", "-", input=updated).stdout
    assert "unchanged" in out or "serverside-applied" in out
    assert k.json("get", "deployment", "web", "-n", namespace)["metadata"]["resourceVersion"] == before


def test_apply_rejects_invalid_custom_resource(kubectl: Kubectl, namespace: str, crd: str) -> None:
    k = _ns(kubectl, namespace)
    result = run(k, "apply", "-f", "-", input=WIDGET.replace("color: red", "color: purple"), check=False)
    assert result.returncode != 0
    assert "spec.color" in result.stderr
    assert "Unsupported value" in result.stderr
    result = run(
        k, "apply", "-f", "-", input=WIDGET.replace("replicas: 1", "replicas: 1\n  bogus: 1"), check=False
    )
    assert result.returncode != 0
    assert 'unknown field "spec.bogus"' in result.stderr


def test_get_tables_and_formats(kubectl: Kubectl, namespace: str, crd: str) -> None:
    k = _ns(kubectl, namespace)
    for manifest in (DEPLOYMENT, SERVICE, CONFIGMAP, WIDGET):
        run(k, "apply", "-f", "-", input=manifest)
    header = run(k, "get", "deployments").stdout.splitlines()[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    svc = run(k, "get", "svc", "web").stdout.splitlines()
    assert svc[0].split()[:5] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"]
    assert svc[1].split()[1] == "ClusterIP"
    assert "80/TCP" in svc[1]
    widgets = run(k, "get", "wd").stdout.splitlines()
    assert widgets[0].split() == ["NAME", "SIZE", "COLOR", "AGE"]
    assert widgets[1].split()[:3] == ["w1", "1", "red"]
    assert yaml.safe_load(run(k, "get", "cm", "settings", "-o", "yaml").stdout)["data"] == {"color": "blue"}
    assert json.loads(run(k, "get", "deploy", "web", "-o", "json").stdout)["spec"]["replicas"] == 2
    labels = run(k, "get", "deploy", "--show-labels").stdout
    assert "app=web" in labels
    everything = run(k, "get", "all").stdout
    assert "deployment.apps/web" in everything
    assert "service/web" in everything
    assert "widget.example.com/w1" in everything
    all_ns = kubectl.run("get", "configmaps", "-A").stdout
    assert namespace in all_ns
    assert all_ns.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    jp = run(k, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert jp == "nginx:1.26"


def test_describe(kubectl: Kubectl, namespace: str) -> None:
    k = _ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=DEPLOYMENT)
    out = run(k, "describe", "deployment", "web").stdout
    assert "Name:" in out
    assert "web" in out
    assert "nginx:1.26" in out
    assert "Replicas:" in out


def test_patch_label_scale(kubectl: Kubectl, namespace: str, crd: str) -> None:
    k = _ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=DEPLOYMENT)
    run(k, "patch", "deploy", "web", "--type", "merge", "-p", '{"spec":{"replicas":3}}')
    run(
        k,
        "patch",
        "deploy",
        "web",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/spec/replicas","value":4}]',
    )
    # strategic (the default): merges the container by name, keeps the other one
    run(
        k,
        "patch",
        "deploy",
        "web",
        "-p",
        '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}',
    )
    dep = k.json("get", "deploy", "web")
    assert dep["spec"]["replicas"] == 4
    assert [(c["name"], c["image"]) for c in dep["spec"]["template"]["spec"]["containers"]] == [
        ("web", "nginx:1.28"),
        ("sidecar", "busybox"),
    ]
    run(k, "label", "deploy", "web", "tier=frontend")
    assert k.json("get", "deploy", "web")["metadata"]["labels"]["tier"] == "frontend"
    run(k, "scale", "deploy", "web", "--replicas=1")
    assert k.json("get", "deploy", "web")["spec"]["replicas"] == 1
    run(k, "set", "image", "deploy/web", "web=nginx:1.29")
    assert (
        k.json("get", "deploy", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.29"
    )
    run(k, "rollout", "restart", "deploy/web")
    annotations = k.json("get", "deploy", "web")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    # strategic merge patch on a custom resource is refused, as a real server does
    run(k, "apply", "-f", "-", input=WIDGET)
    result = run(k, "patch", "widget", "w1", "-p", '{"spec":{"size":2}}', check=False)
    assert result.returncode != 0
    assert "strategic-merge-patch" in result.stderr or "not supported" in result.stderr
    run(k, "patch", "widget", "w1", "--type", "merge", "-p", '{"spec":{"size":2}}')
    run(k, "scale", "widget", "w1", "--replicas=3")
    assert k.json("get", "widget", "w1")["spec"]["replicas"] == 3
    run(
        k,
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        '{"status":{"replicas":3}}',
    )
    assert k.json("get", "widget", "w1")["status"] == {"replicas": 3}


def test_delete_cascades(kubectl: Kubectl, namespace: str) -> None:
    k = _ns(kubectl, namespace)
    owner = k.cluster.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/configmaps",
        {"metadata": {"name": "owner"}, "data": {}},
    )[1]
    child = {
        "metadata": {
            "name": "child",
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
            ],
        }
    }
    k.cluster.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", child)
    out = run(k, "delete", "configmap", "owner").stdout
    assert 'configmap "owner" deleted' in out
    deadline = time.monotonic() + 10
    while run(k, "get", "configmap", "child", check=False).returncode == 0:
        assert time.monotonic() < deadline, "dependent not collected"
        time.sleep(0.1)


def test_wait_for_condition_and_jsonpath(kubectl: Kubectl, namespace: str) -> None:
    k = _ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=DEPLOYMENT)
    waiter = subprocess.Popen(
        [
            "kubectl",
            f"--kubeconfig={k.cluster.kubeconfig}",
            f"--cache-dir={k.cache_dir}",
            "-n",
            namespace,
            "wait",
            "--for=jsonpath={.status.readyReplicas}=2",
            "deploy/web",
            "--timeout=20s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    k.cluster.request(
        "PATCH",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/web/status",
        {"status": {"readyReplicas": 2, "conditions": [{"type": "Available", "status": "True"}]}},
        content_type="application/merge-patch+json",
    )
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert "condition met" in out
    run(k, "wait", "--for=condition=Available", "deploy/web", "--timeout=10s")


def test_api_resources(kubectl: Kubectl, crd: str) -> None:
    out = kubectl.run("api-resources").stdout
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "deployments" in lines
    assert "deploy" in lines["deployments"]
    assert "apps/v1" in lines["deployments"]
    assert "widgets" in lines
    assert "example.com/v1" in lines["widgets"]
    assert "customresourcedefinitions" in lines


def test_diff_and_replace(kubectl: Kubectl, namespace: str, tmp_path: Path) -> None:
    k = _ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=CONFIGMAP)
    changed = tmp_path / "cm.yaml"
    changed.write_text(CONFIGMAP.replace("blue", "red"))
    diff = run(k, "diff", "-f", str(changed), check=False)
    assert diff.returncode == 1  # kubectl diff exits 1 when there are differences
    assert "-  color: blue" in diff.stdout
    assert "+  color: red" in diff.stdout
    current = k.json("get", "cm", "settings")
    current["data"]["color"] = "red"
    replaced = tmp_path / "replace.json"
    replaced.write_text(json.dumps(current))
    run(k, "replace", "-f", str(replaced))
    assert k.json("get", "cm", "settings")["data"]["color"] == "red"
    # replacing from the stale copy again is a conflict
    current["data"]["color"] = "green"
    replaced.write_text(json.dumps(current))
    stale = run(k, "replace", "-f", str(replaced), check=False)
    assert stale.returncode != 0
    assert "the object has been modified" in stale.stderr


def test_server_side_apply_conflict_and_force(kubectl: Kubectl, namespace: str) -> None:
    k = _ns(kubectl, namespace)
    run(k, "apply", "--server-side", "--field-manager=team-a", "-f", "-", input=DEPLOYMENT)
    other = DEPLOYMENT.replace("replicas: 2", "replicas: 5")
    result = run(k, "apply", "--server-side", "--field-manager=team-b", "-f", "-", input=other, check=False)
    assert result.returncode != 0
    assert "conflict" in result.stderr
    assert ".spec.replicas" in result.stderr
    run(k, "apply", "--server-side", "--field-manager=team-b", "--force-conflicts", "-f", "-", input=other)
    assert k.json("get", "deploy", "web")["spec"]["replicas"] == 5


def test_get_watch_prints_changes(kubectl: Kubectl, namespace: str) -> None:
    k = _ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=CONFIGMAP)
    watcher = subprocess.Popen(
        [
            "kubectl",
            f"--kubeconfig={k.cluster.kubeconfig}",
            f"--cache-dir={k.cache_dir}",
            "-n",
            namespace,
            "get",
            "configmaps",
            "-w",
            "--request-timeout=5s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)
        run(k, "apply", "-f", "-", input=CONFIGMAP.replace("settings", "second"))
        time.sleep(1.5)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "DATA"]
    assert any(line.startswith("settings") for line in lines)
    assert any(line.startswith("second") for line in lines)


def test_protobuf_create_is_refused_with_a_way_out(kubectl: Kubectl, namespace: str) -> None:
    result = kubectl.run("create", "configmap", "x", "-n", namespace, "--from-literal=a=b", check=False)
    assert result.returncode != 0
    assert "kubectl apply" in result.stderr


def test_apply_rejects_deployment_whose_selector_misses_its_template(
    kubectl: Kubectl, namespace: str
) -> None:
    k = _ns(kubectl, namespace)
    broken = DEPLOYMENT.replace("    matchLabels: {app: web}", "    matchLabels: {app: other}")
    result = run(k, "apply", "-f", "-", input=broken, check=False)
    assert result.returncode != 0
    assert 'The Deployment "web" is invalid' in result.stderr
    assert "`selector` does not match template `labels`" in result.stderr
    assert run(k, "get", "deploy", "web", check=False).returncode != 0
