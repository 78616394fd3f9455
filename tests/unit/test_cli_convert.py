"""``rollouts convert -f FILE``: Deployments in, Rollouts out (YAML that lint accepts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.cli.lint import lint_text
from controller.cli.main import main

DEPLOYMENT = """\
# the seed's frontend
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tracing-demo-frontend
  namespace: services
  annotations: {deployment.kubernetes.io/revision: "3", team: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: frontend}}
  template:
    metadata: {labels: {app: frontend}}
    spec:
      containers:
      - name: frontend
        image: argoproj/rollouts-demo:blue
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}}
---
apiVersion: v1
kind: Service
metadata: {name: frontend, namespace: services}
spec: {selector: {app: frontend}, ports: [{port: 80, targetPort: 8080}]}
"""


def convert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str, text: str = DEPLOYMENT
) -> tuple[int, str, str]:
    path = tmp_path / "deployment.yaml"
    path.write_text(text)
    code = main(["convert", "-f", str(path), *flags])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_template_moves_into_a_canary_with_the_seeds_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = convert(tmp_path, capsys)
    assert code == 0
    (rollout,) = list(yaml.safe_load_all(out))
    assert rollout["kind"] == "Rollout" and rollout["apiVersion"] == "argoproj.io/v1alpha1"
    assert rollout["metadata"]["annotations"] == {"team": "web"}  # the Deployment's revision is dropped
    container = rollout["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"] == {"httpGet": {"path": "/", "port": 8080}}
    assert rollout["spec"]["strategy"]["canary"]["steps"] == [
        {"setWeight": 50},
        {"pause": {"duration": "2m"}},
        {"setWeight": 100},
    ]
    assert lint_text(out, "converted.yaml") == []


def test_workload_ref_with_scale_down_and_own_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = convert(
        tmp_path,
        capsys,
        "--workload-ref",
        "--scale-down",
        "progressively",
        "--steps",
        "[{setWeight: 20}, {pause: {}}]",
    )
    assert code == 0
    rollout = yaml.safe_load(out)
    assert "template" not in rollout["spec"]
    assert rollout["spec"]["workloadRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tracing-demo-frontend",
        "scaleDown": "progressively",
    }
    assert rollout["spec"]["strategy"]["canary"]["steps"] == [{"setWeight": 20}, {"pause": {}}]


@pytest.mark.parametrize(
    ("flags", "text", "message"),
    [
        (("--scale-down", "onsuccess"), DEPLOYMENT, "--scale-down goes with --workload-ref"),
        (
            (),
            DEPLOYMENT.replace("  replicas: 2\n", "  replicas: 2\n  strategy: {type: Recreate}\n"),
            "Recreate",
        ),
        (("--steps", "setWeight: 5"), DEPLOYMENT, "give a list of steps"),
        ((), "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", "no Deployment in this file"),
    ],
)
def test_what_cannot_be_converted_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...], text: str, message: str
) -> None:
    code, out, err = convert(tmp_path, capsys, *flags, text=text)
    assert code == 1 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
