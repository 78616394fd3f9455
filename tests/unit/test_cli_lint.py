"""``rollouts lint``: good files pass; each problem in a bad file is reported at its line and field."""

from __future__ import annotations

from pathlib import Path

from controller.cli.lint import lint_text

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
    - name: service
    - name: threshold
      value: "0.95"
  metrics:
    - name: success
      interval: 10s
      successCondition: result[0] >= 0.95
      provider:
        prometheus:
          address: http://prometheus:9090
          query: sum(rate(http_requests_total{service="{{args.service}}"}[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web, tier: front}
    spec:
      containers:
        - name: web
          image: argoproj/rollouts-demo:blue
  strategy:
    canary:
      stableService: web
      steps:
        - setWeight: 25
        - analysis:
            templates: [{templateName: success-rate}]
            args: [{name: service, value: web}]
        - pause: {duration: 30s}
"""

BAD = """\
apiVersion: v1
kind: Service
metadata: {name: web-stable}
spec:
  selector: {app: web}
---
apiVersion: v1
kind: Service
metadata: {name: web-canary}
spec:
  selector: {app: webb}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
    - name: service
  metrics:
    - name: success
      provider: {web: {url: "http://x"}}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: -1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
  strategy:
    canary:
      canaryService: web-canary
      stableService: web-stabel
      steps:
        - setWeight: 120
        - pause: {duraton: 10s}
        - analysis:
            templates:
              - templateName: success-rate
              - templateName: error-rate
"""


def test_a_good_file_has_no_problems() -> None:
    assert lint_text(GOOD, "good.yaml") == []


def test_the_demo_manifests_pass() -> None:
    for path in sorted((REPO / "demos").rglob("*.yaml")):
        assert lint_text(path.read_text(), str(path)) == [], path


def test_each_problem_at_its_line_and_field() -> None:
    found = [(p.line, p.kind, p.name, p.field, p.message) for p in lint_text(BAD, "bad.yaml")]
    assert found == [
        (27, "Rollout", "web", "spec.replicas", "Invalid value: -1: must be greater than or equal to 0"),
        (
            39,
            "Rollout",
            "web",
            "spec.strategy.canary.canaryService",
            'Service "web-canary" selects app=webb, which the pod template labels (app=web) do not match: '
            "it would send traffic to no pod of this Rollout",
        ),
        (
            40,
            "Rollout",
            "web",
            "spec.strategy.canary.stableService",
            'Service "web-stabel" is not in this file (its Services: web-canary, web-stable)',
        ),
        (
            42,
            "Rollout",
            "web",
            "spec.strategy.canary.steps[0].setWeight",
            "Invalid value: 120: SetWeight needs to be between 0 and 100",
        ),
        (43, "Rollout", "web", "spec.strategy.canary.steps[1].pause.duraton", 'unknown field "duraton"'),
        (
            46,
            "Rollout",
            "web",
            "spec.strategy.canary.steps[2].analysis.templates[0]",
            'AnalysisTemplate "success-rate" needs the argument "service", which this analysis does not pass',
        ),
        (
            47,
            "Rollout",
            "web",
            "spec.strategy.canary.steps[2].analysis.templates[1].templateName",
            'AnalysisTemplate "error-rate" is not in this file',
        ),
    ]
    first = lint_text(BAD, "bad.yaml")[0]
    assert (
        str(first)
        == 'bad.yaml:27: Rollout "web": spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    )


def test_a_missing_field_is_reported_where_its_parent_is() -> None:
    text = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  replicas: 1\n"
    problems = lint_text(text, "r.yaml")
    selector = next(p for p in problems if p.field == "spec.selector")
    assert selector.line == 4  # spec: is on line 4; spec.selector is missing
    assert "Required value" in selector.message


def test_references_are_not_checked_when_the_file_has_none_of_that_kind() -> None:
    only_rollout = GOOD.split("---\n")[2]
    assert lint_text(only_rollout, "r.yaml") == []


def test_broken_yaml_and_odd_documents() -> None:
    [problem] = lint_text("apiVersion: v1\nkind: Service\nmetadata: [\n", "x.yaml")
    assert problem.line == 4
    assert problem.message.startswith("invalid YAML:")
    problems = lint_text("- a\n- b\n---\nkind: Service\n", "y.yaml")
    assert [(p.line, p.message) for p in problems] == [
        (1, "a Kubernetes object must be a YAML mapping"),
        (4, "apiVersion is missing"),
    ]


def test_nginx_stable_ingress_must_route_to_the_stable_service() -> None:
    text = (
        GOOD.replace(
            "      stableService: web\n",
            "      stableService: web\n      canaryService: web-canary\n"
            "      trafficRouting: {nginx: {stableIngress: web}}\n",
        )
        + """---
apiVersion: v1
kind: Service
metadata: {name: web-canary}
spec: {selector: {app: web}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    - http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: other, port: {number: 80}}}}
"""
    )
    problems = lint_text(text, "n.yaml")
    assert [(p.field, p.message) for p in problems] == [
        (
            "spec.strategy.canary.trafficRouting.nginx.stableIngress",
            'Ingress "web" has no rule that routes to the stableService "web"',
        )
    ]
