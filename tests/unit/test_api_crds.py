"""The shipped CRDs: generated from controller/api/crdgen.py, named as Argo names them, and their
schemas accept every Argo manifest while rejecting misspelt fields.

Schema acceptance is checked here with localcluster's own CRD validation (the same code the
integration test reaches over HTTP through kubectl).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from controller.api import CRD_FILES, crd_manifests, crd_text
from controller.api.crdgen import build_crds, render
from localcluster.apiserver.schema import crd_schema
from localcluster.apiserver.validation import unknown_fields, validate, validate_crd
from tests.unit.test_api_examples import (
    ALWAYS_PASS,
    ANALYSIS_TEMPLATES,
    SUCCESS_RATE,
    VALID_ROLLOUTS,
    documents,
    rollout_doc,
)
from tests.unit.test_api_specification import SPECIFICATION

CRD_DIR = Path(__file__).resolve().parents[2] / "controller" / "api" / "crds"


def test_shipped_files_are_the_generated_ones() -> None:
    """Edit crdgen.py, then regenerate: ROLLOUTS_UPDATE_CRDS=1 pytest tests/unit/test_api_crds.py."""
    built = build_crds()
    assert set(built) == set(CRD_FILES)
    stale = []
    for name, manifest in built.items():
        text = render(manifest)
        if os.environ.get("ROLLOUTS_UPDATE_CRDS") == "1":
            (CRD_DIR / name).write_text(text, encoding="utf-8")
        if crd_text(name) != text:
            stale.append(name)
    assert stale == [], "regenerate with: ROLLOUTS_UPDATE_CRDS=1 pytest tests/unit/test_api_crds.py"


def by_kind() -> dict[str, dict[str, Any]]:
    return {m["spec"]["names"]["kind"]: m for m in crd_manifests()}


@pytest.mark.parametrize(
    ("kind", "plural", "short", "scope"),
    [
        ("Rollout", "rollouts", "ro", "Namespaced"),
        ("AnalysisTemplate", "analysistemplates", "at", "Namespaced"),
        ("ClusterAnalysisTemplate", "clusteranalysistemplates", "cat", "Cluster"),
        ("AnalysisRun", "analysisruns", "ar", "Namespaced"),
    ],
)
def test_names_as_argo_names_them(kind: str, plural: str, short: str, scope: str) -> None:
    crd = by_kind()[kind]
    assert crd["metadata"]["name"] == f"{plural}.argoproj.io"
    assert crd["spec"]["group"] == "argoproj.io"
    assert crd["spec"]["scope"] == scope
    names = crd["spec"]["names"]
    assert names == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "shortNames": [short],
        "singular": kind.lower(),
    }  # Argo's CRDs declare no categories
    (version,) = crd["spec"]["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert validate_crd(crd) == []


def test_rollout_columns_and_subresources() -> None:
    (version,) = by_kind()["Rollout"]["spec"]["versions"]
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Desired", "integer", ".spec.replicas"),
        ("Current", "integer", ".status.replicas"),
        ("Up-to-date", "integer", ".status.updatedReplicas"),
        ("Available", "integer", ".status.availableReplicas"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]
    assert version["subresources"] == {
        "scale": {
            "labelSelectorPath": ".status.selector",
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.HPAReplicas",
        },
        "status": {},
    }


def test_analysis_columns_and_subresources() -> None:
    kinds = by_kind()
    run = kinds["AnalysisRun"]["spec"]["versions"][0]
    assert [c["name"] for c in run["additionalPrinterColumns"]] == ["Status", "Age"]
    assert run["additionalPrinterColumns"][0]["jsonPath"] == ".status.phase"
    for kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        version = kinds[kind]["spec"]["versions"][0]
        assert [c["name"] for c in version["additionalPrinterColumns"]] == ["Age"]
    for kind in ("AnalysisRun", "AnalysisTemplate", "ClusterAnalysisTemplate"):
        assert "subresources" not in kinds[kind]["spec"]["versions"][0]  # as in Argo


def schema_of(kind: str) -> Any:
    return crd_schema(by_kind()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def check(obj: dict[str, Any]) -> list[str]:
    """Schema errors and unknown fields of an object against its kind's CRD."""
    schema = schema_of(obj["kind"])
    return [str(e) for e in validate(obj, schema)] + unknown_fields(obj, schema)


@pytest.mark.parametrize(
    "text",
    [*VALID_ROLLOUTS.values(), SPECIFICATION, ANALYSIS_TEMPLATES, SUCCESS_RATE, ALWAYS_PASS],
    ids=[*VALID_ROLLOUTS, "specification", "analysis-templates", "success-rate", "always-pass"],
)
def test_argo_manifests_fit_the_schemas(text: str) -> None:
    for doc in documents(text):
        if doc["apiVersion"] == "argoproj.io/v1alpha1":
            assert check(doc) == []


def test_a_written_rollout_status_fits_the_schema() -> None:
    obj = rollout_doc(VALID_ROLLOUTS["canary"])
    obj["status"] = {
        "HPAReplicas": 5,
        "selector": "app=rollout-canary",
        "availableReplicas": 5,
        "replicas": 5,
        "updatedReplicas": 5,
        "readyReplicas": 5,
        "currentPodHash": "abc",
        "stableRS": "abc",
        "currentStepIndex": 8,
        "currentStepHash": "def",
        "observedGeneration": "1",
        "phase": "Healthy",
        "message": "",
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2024-01-01T00:00:00Z"}],
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "AvailableReason",
                "message": "Rollout has minimum availability",
                "lastUpdateTime": "2024-01-01T00:00:00Z",
                "lastTransitionTime": "2024-01-01T00:00:00Z",
            }
        ],
        "canary": {"weights": {"canary": {"weight": 0}, "stable": {"weight": 100}}, "stepPluginStatuses": []},
        "blueGreen": {},
        "duration": {"completionStatus": "Promoted"},  # a newer Argo field: kept
    }
    assert check(obj) == []


@pytest.mark.parametrize(
    ("path", "typo", "unknown"),
    [
        (("spec", "strategy", "canary", "steps", 0), "setWieght", ".spec.strategy.canary.steps[0].setWieght"),
        (("spec", "strategy", "canary"), "maxSurges", ".spec.strategy.canary.maxSurges"),
        (("spec",), "replica", ".spec.replica"),
    ],
)
def test_misspelt_fields_are_unknown(path: tuple[Any, ...], typo: str, unknown: str) -> None:
    obj = rollout_doc(VALID_ROLLOUTS["canary"])
    node: Any = obj
    for key in path:
        node = node[key]
    node[typo] = 1
    assert unknown_fields(obj, schema_of("Rollout")) == [unknown]


def test_wrong_types_are_rejected() -> None:
    obj = rollout_doc(VALID_ROLLOUTS["canary"])
    obj["spec"]["strategy"]["canary"]["steps"][0] = {"setWeight": "twenty"}
    assert any("setWeight" in e for e in check(obj))
    obj = rollout_doc(VALID_ROLLOUTS["canary"])
    obj["spec"]["strategy"]["canary"]["maxSurge"] = 1.5
    assert check(obj)


def test_unknown_crd_file() -> None:
    with pytest.raises(ValueError, match="no CRD file"):
        crd_text("experiment-crd.yaml")
