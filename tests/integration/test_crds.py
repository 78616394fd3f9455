"""The shipped CRDs on a running localcluster, driven by the real kubectl: Argo's own manifests
apply unchanged, ``kubectl get ro`` shows Argo's columns, and ``kubectl scale`` goes through the
scale subresource."""

from __future__ import annotations

import json
import subprocess
from importlib import resources

import pytest
import yaml

from controller.api import CRD_FILES, crd_manifests
from tests.conftest import Kubectl
from tests.unit.test_api_examples import (
    ALWAYS_PASS,
    ANALYSIS_STEP,
    ANALYSIS_TEMPLATES,
    BLUE_GREEN,
    CANARY,
    FRONTEND,
    ROLLOUTS_DEMO,
    SUCCESS_RATE,
    VALID_ROLLOUTS,
    rollout_doc,
)
from tests.unit.test_api_specification import SPECIFICATION


def in_ns(kubectl: Kubectl, namespace: str) -> Kubectl:
    return Kubectl(kubectl.cluster, kubectl.cache_dir, namespace)


def run(
    k: Kubectl, *args: str, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return k.run("-n", k.namespace, *args, input=input, check=check)


@pytest.fixture
def crds(kubectl: Kubectl) -> list[str]:
    """The four CRDs applied from the package's files, as the install role applies them."""
    with resources.as_file(resources.files("controller.api").joinpath("crds")) as crd_dir:
        out = kubectl.run("apply", "-f", str(crd_dir)).stdout
    names = [m["metadata"]["name"] for m in crd_manifests()]
    for name in names:
        assert name in out
    kubectl.run("wait", "--for=condition=Established", *(f"crd/{n}" for n in names), "--timeout=20s")
    return names


def test_crds_are_established_and_discoverable(kubectl: Kubectl, crds: list[str]) -> None:
    assert len(crds) == len(CRD_FILES)
    resources_out = kubectl.run("api-resources", "--api-group=argoproj.io").stdout
    rows = {line.split()[0]: line.split() for line in resources_out.splitlines()[1:]}
    assert rows["rollouts"][1] == "ro"
    assert rows["analysistemplates"][1] == "at"
    assert rows["clusteranalysistemplates"][1] == "cat"
    assert rows["analysisruns"][1] == "ar"
    assert "false" in rows["clusteranalysistemplates"]  # not namespaced
    # applying again changes nothing
    with resources.as_file(resources.files("controller.api").joinpath("crds")) as crd_dir:
        again = kubectl.run("apply", "-f", str(crd_dir)).stdout
    assert again.count("unchanged") == len(CRD_FILES)


def test_argo_manifests_apply_unchanged(kubectl: Kubectl, namespace: str, crds: list[str]) -> None:
    k = in_ns(kubectl, namespace)
    for text in (ANALYSIS_TEMPLATES, SUCCESS_RATE, *VALID_ROLLOUTS.values(), SPECIFICATION):
        out = run(k, "apply", "-f", "-", input=text).stdout
        assert "created" in out, out
    kubectl.run("apply", "-f", "-", input=ALWAYS_PASS)  # cluster-scoped
    # nothing was pruned: what is stored is what was written
    for text in (*VALID_ROLLOUTS.values(), SPECIFICATION):
        sent = rollout_doc(text)
        stored = k.json("get", "rollout", sent["metadata"]["name"])
        assert stored["spec"] == sent["spec"], sent["metadata"]["name"]
    names = run(k, "get", "at", "-o", "name").stdout.split()
    assert sorted(names) == [
        "analysistemplate.argoproj.io/pass",
        "analysistemplate.argoproj.io/random-fail",
        "analysistemplate.argoproj.io/success-rate",
    ]
    assert "clusteranalysistemplate.argoproj.io/always-pass" in kubectl.run("get", "cat", "-o", "name").stdout
    # a second apply of the same manifests changes nothing
    for text in (CANARY, BLUE_GREEN, ROLLOUTS_DEMO):
        assert "unchanged" in run(k, "apply", "-f", "-", input=text).stdout


def test_server_side_apply(kubectl: Kubectl, namespace: str, crds: list[str]) -> None:
    k = in_ns(kubectl, namespace)
    for text in (FRONTEND, ANALYSIS_STEP):
        assert "serverside-applied" in run(k, "apply", "--server-side", "-f", "-", input=text).stdout
    stored = k.json("get", "ro", "tracing-demo-frontend")
    assert stored["spec"]["strategy"]["canary"]["steps"][1] == {"pause": {"duration": "2m"}}


def test_get_shows_argo_columns(kubectl: Kubectl, namespace: str, crds: list[str]) -> None:
    k = in_ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=CANARY)
    status = {
        "status": {
            "replicas": 6,
            "updatedReplicas": 1,
            "availableReplicas": 5,
            "readyReplicas": 5,
            "HPAReplicas": 5,
            "selector": "app=rollout-canary",
            "phase": "Paused",
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}],
        }
    }
    run(k, "patch", "ro", "rollout-canary", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    lines = run(k, "get", "ro").stdout.splitlines()
    assert lines[0].split() == ["NAME", "DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:5] == ["rollout-canary", "5", "6", "1", "5"]
    wide = run(k, "get", "rollouts.argoproj.io", "rollout-canary", "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:6] == ["NAME", "DESIRED", "CURRENT", "UP-TO-DATE", "AVAILABLE", "AGE"]
    # the status subresource keeps the spec, and the main resource keeps the status
    stored = k.json("get", "ro", "rollout-canary")
    assert stored["status"]["phase"] == "Paused"
    assert stored["spec"]["replicas"] == 5
    run(k, "apply", "-f", "-", input=CANARY.replace("replicas: 5", "replicas: 4"))
    assert k.json("get", "ro", "rollout-canary")["status"]["HPAReplicas"] == 5


def test_scale_goes_through_the_scale_subresource(kubectl: Kubectl, namespace: str, crds: list[str]) -> None:
    k = in_ns(kubectl, namespace)
    run(k, "apply", "-f", "-", input=CANARY)
    status = {"status": {"HPAReplicas": 5, "selector": "app=rollout-canary"}}
    run(k, "patch", "ro", "rollout-canary", "--subresource=status", "--type=merge", "-p", json.dumps(status))
    assert "scaled" in run(k, "scale", "ro/rollout-canary", "--replicas=3").stdout
    assert k.json("get", "ro", "rollout-canary")["spec"]["replicas"] == 3
    scale = json.loads(
        kubectl.run(
            "get", "--raw", f"/apis/argoproj.io/v1alpha1/namespaces/{namespace}/rollouts/rollout-canary/scale"
        ).stdout
    )
    assert scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 3}
    assert scale["status"] == {
        "replicas": 5,
        "selector": "app=rollout-canary",
    }  # .status.HPAReplicas, .status.selector
    # kubectl scale --current-replicas is checked against the same subresource
    result = run(k, "scale", "ro/rollout-canary", "--current-replicas=2", "--replicas=4", check=False)
    assert result.returncode != 0


def test_analysis_runs_show_their_status(kubectl: Kubectl, namespace: str, crds: list[str]) -> None:
    k = in_ns(kubectl, namespace)
    run_manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {"name": "rollout-canary-abc-1", "labels": {"rollout-type": "Step", "step-index": "1"}},
        "spec": {
            "args": [{"name": "service-name", "value": "web"}],
            "metrics": [
                {
                    "name": "success-rate",
                    "interval": "5m",
                    "count": 3,
                    "successCondition": "result[0] >= 0.95",
                    "failureLimit": 1,
                    "provider": {"prometheus": {"address": "http://prometheus:9090", "query": "up"}},
                }
            ],
        },
        "status": {"phase": "Running", "startedAt": "2024-01-01T00:00:00Z"},
    }
    run(k, "apply", "-f", "-", input=yaml.safe_dump(run_manifest))
    # no status subresource (as in Argo): the controller writes status through the main resource
    patch = {
        "status": {
            "phase": "Successful",
            "message": "",
            "metricResults": [{"name": "success-rate", "phase": "Successful", "count": 3}],
        }
    }
    run(k, "patch", "ar", "rollout-canary-abc-1", "--type=merge", "-p", json.dumps(patch))
    lines = run(k, "get", "ar").stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "AGE"]
    assert lines[1].split()[:2] == ["rollout-canary-abc-1", "Successful"]


def test_misspelt_fields_are_rejected(kubectl: Kubectl, namespace: str, crds: list[str]) -> None:
    k = in_ns(kubectl, namespace)
    result = run(
        k, "apply", "-f", "-", input=CANARY.replace("- setWeight: 40", "- setWieght: 40"), check=False
    )
    assert result.returncode != 0
    assert 'unknown field "spec.strategy.canary.steps[2].setWieght"' in result.stderr
    result = run(k, "apply", "-f", "-", input=CANARY.replace("replicas: 5", "replicas: five"), check=False)
    assert result.returncode != 0
    assert "spec.replicas" in result.stderr
