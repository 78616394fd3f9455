"""Real Argo Rollouts manifests, unchanged, as test data: every one reads and validates cleanly.

Sources (argoproj/argo-rollouts): examples/rollout-canary.yaml, examples/rollout-bluegreen.yaml,
examples/rollout-analysis-step.yaml, examples/analysis-templates.yaml,
examples/cluster-analysis-templates.yaml, docs/getting-started/basic/rollout.yaml and
docs/features/analysis.md (background analysis, the Prometheus ``success-rate`` template); and
the seed project's frontend Rollout (ARGO-ROLLOUTS-SUMMARY.md). The integration test applies the
same manifests to a cluster with kubectl.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from controller.api import (
    AnalysisTemplate,
    ClusterAnalysisTemplate,
    Rollout,
    validate_rollout,
)

# examples/rollout-canary.yaml
CANARY = """\
# This example demonstrates a Rollout using the canary update strategy with a customized rollout
# plan. The prescribed steps initially sets a canary weight of 20%, then pauses indefinitely. Once
# resumed, the rollout performs a gradual, automated 20% weight increase until it reaches 100%.
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollout-canary
spec:
  replicas: 5
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollout-canary
  template:
    metadata:
      labels:
        app: rollout-canary
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        imagePullPolicy: Always
        ports:
        - containerPort: 8080
  strategy:
    canary:
      steps:
      - setWeight: 20
      # The following pause step will pause the rollout indefinitely until manually resumed.
      # Rollouts can be manually resumed by running `kubectl argo rollouts promote ROLLOUT`
      - pause: {}
      - setWeight: 40
      - pause: {duration: 40s}
      - setWeight: 60
      - pause: {duration: 20s}
      - setWeight: 80
      - pause: {duration: 20s}
"""

# examples/rollout-bluegreen.yaml (the Rollout and its two Services)
BLUE_GREEN = """\
# This example demonstrates a Rollout using the blue-green update strategy, which contains a manual
# gate before promoting the new stack.
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollout-bluegreen
spec:
  replicas: 2
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollout-bluegreen
  template:
    metadata:
      labels:
        app: rollout-bluegreen
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        imagePullPolicy: Always
        ports:
        - containerPort: 8080
  strategy:
    blueGreen:
      # activeService specifies the service to update with the new template hash at time of promotion.
      # This field is mandatory for the blueGreen update strategy.
      activeService: rollout-bluegreen-active
      # previewService specifies the service to update with the new template hash before promotion.
      # This allows the preview stack to be reachable without serving production traffic.
      # This field is optional.
      previewService: rollout-bluegreen-preview
      # autoPromotionEnabled disables automated promotion of the new stack by pausing the rollout
      # immediately before the promotion. If omitted, the default behavior is to promote the new
      # stack as soon as the ReplicaSet are completely ready/available.
      # Rollouts can be resumed using: `kubectl argo rollouts promote ROLLOUT`
      autoPromotionEnabled: false

---
kind: Service
apiVersion: v1
metadata:
  name: rollout-bluegreen-active
spec:
  selector:
    app: rollout-bluegreen
  ports:
  - protocol: TCP
    port: 80
    targetPort: 8080

---
kind: Service
apiVersion: v1
metadata:
  name: rollout-bluegreen-preview
spec:
  selector:
    app: rollout-bluegreen
  ports:
  - protocol: TCP
    port: 80
    targetPort: 8080
"""

# docs/getting-started/basic/rollout.yaml: pause durations as plain integers (seconds)
ROLLOUTS_DEMO = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
spec:
  replicas: 5
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 40
      - pause: {duration: 10}
      - setWeight: 60
      - pause: {duration: 10}
      - setWeight: 80
      - pause: {duration: 10}
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollouts-demo
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        resources:
          requests:
            memory: 32Mi
            cpu: 5m
"""

# examples/rollout-analysis-step.yaml
ANALYSIS_STEP = """\
# This example demonstrates a Rollout which starts and finishes analysis at a specific canary step
#
# Prerequisites:
# kubectl apply -f analysis-templates.yaml
#
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollout-analysis-step
spec:
  replicas: 4
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollout-analysis-step
  template:
    metadata:
      labels:
        app: rollout-analysis-step
    spec:
      containers:
      - name: rollouts-demo
        image: argoproj/rollouts-demo:blue
        imagePullPolicy: Always
        ports:
        - containerPort: 8080
  strategy:
    canary:
      steps:
      - setWeight: 25
      # An AnalysisTemplate is referenced at the second step, which starts an AnalysisRun after
      # the setWeight step. The rollout will not progress to the following step until the
      # AnalysisRun is complete. A failure/error of the analysis will cause the rollout's update to
      # abort, and set the canary weight to zero.
      - analysis:
          templates:
          - templateName: random-fail
          - templateName: always-pass
            clusterScope: true
"""

# docs/features/analysis.md, "Background Analysis"
BACKGROUND_ANALYSIS = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: guestbook
spec:
  selector:
    matchLabels:
      app: guestbook
  template:
    metadata:
      labels:
        app: guestbook
    spec:
      containers:
      - name: guestbook
        image: argoproj/rollouts-demo:blue
  strategy:
    canary:
      analysis:
        templates:
        - templateName: success-rate
        startingStep: 2 # delay starting analysis run until setWeight: 40%
        args:
        - name: service-name
          value: guestbook-svc.default.svc.cluster.local
      steps:
      - setWeight: 20
      - pause: {duration: 10m}
      - setWeight: 40
      - pause: {duration: 10m}
      - setWeight: 60
      - pause: {duration: 10m}
      - setWeight: 80
      - pause: {duration: 10m}
"""

# The seed project's frontend Rollout (ARGO-ROLLOUTS-SUMMARY.md): 2 replicas, 50% for two minutes,
# then 100%. The seed deploys it to namespace "services"; here it is namespace-free.
FRONTEND = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: tracing-demo-frontend
  labels:
    app: tracing-demo-frontend
spec:
  replicas: 2
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      app: tracing-demo-frontend
  template:
    metadata:
      labels:
        app: tracing-demo-frontend
    spec:
      containers:
      - name: frontend
        image: registry.lan.buetow.org:30001/tracing-demo-frontend:latest
        ports:
        - containerPort: 5000
  strategy:
    canary:
      steps:
      - setWeight: 50
      - pause:
          duration: 2m
      - setWeight: 100
"""

# examples/analysis-templates.yaml
ANALYSIS_TEMPLATES = """\
# This file contains AnalysisTemplates referenced by Rollouts and Experiments in the examples.
# Please apply this file first, before running any of the examples.

---
# This AnalysisTemplate will run a Kubernetes Job every 5 seconds that succeeds.
kind: AnalysisTemplate
apiVersion: argoproj.io/v1alpha1
metadata:
  name: pass
spec:
  metrics:
  - name: pass
    interval: 5s
    failureLimit: 1
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: sleep
                image: alpine:3.8
                command: [sh, -c]
                args: [exit 0]
              restartPolicy: Never
          backoffLimit: 0

---
# This AnalysisTemplate will run a Kubernetes Job every 5 seconds, with a 50% chance of failure.
# When the number of accumulated failures exceeds failureLimit, it will cause the analysis run to
# fail, and subsequently cause the rollout or experiment to abort.
kind: AnalysisTemplate
apiVersion: argoproj.io/v1alpha1
metadata:
  name: random-fail
spec:
  metrics:
  - name: random-fail
    interval: 5s
    failureLimit: 1
    provider:
      job:
        spec:
          template:
            spec:
              containers:
              - name: sleep
                image: alpine:3.8
                command: [sh, -c]
                args: [FLIP=$(($(($RANDOM%10))%2)) && exit $FLIP]
              restartPolicy: Never
          backoffLimit: 0
"""

# docs/features/analysis.md, the Prometheus template
SUCCESS_RATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
spec:
  args:
  - name: service-name
  metrics:
  - name: success-rate
    interval: 5m
    # NOTE: prometheus queries return results in the form of a vector.
    # So it is common to access the index 0 of the returned array to obtain the value
    successCondition: result[0] >= 0.95
    failureLimit: 3
    provider:
      prometheus:
        address: http://prometheus.example.com:9090
        query: |
          sum(irate(
            istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}",response_code!~"5.*"}[5m]
          )) /
          sum(irate(
            istio_requests_total{reporter="source",destination_service=~"{{args.service-name}}"}[5m]
          ))
"""

# examples/cluster-analysis-templates.yaml (the always-pass template ANALYSIS_STEP refers to)
ALWAYS_PASS = """\
kind: ClusterAnalysisTemplate
apiVersion: argoproj.io/v1alpha1
metadata:
  name: always-pass
spec:
  metrics:
    - name: pass
      count: 1
      interval: 5s
      failureLimit: 1
      provider:
        job:
          spec:
            template:
              spec:
                containers:
                  - name: sleep
                    image: alpine:3.8
                    command: [sh, -c]
                    args: [exit 0]
                restartPolicy: Never
            backoffLimit: 0
"""

VALID_ROLLOUTS = {
    "canary": CANARY,
    "blue-green": BLUE_GREEN,
    "rollouts-demo": ROLLOUTS_DEMO,
    "analysis-step": ANALYSIS_STEP,
    "background-analysis": BACKGROUND_ANALYSIS,
    "frontend": FRONTEND,
}


def documents(text: str) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a manifest."""
    return [d for d in yaml.safe_load_all(text) if d]


def rollout_doc(text: str) -> dict[str, Any]:
    """The Rollout document of a manifest."""
    return next(d for d in documents(text) if d["kind"] == "Rollout")


@pytest.mark.parametrize("name", VALID_ROLLOUTS)
def test_argo_examples_are_valid(name: str) -> None:
    obj = rollout_doc(VALID_ROLLOUTS[name])
    assert validate_rollout(obj) == []
    assert Rollout.from_dict(obj).metadata.name == obj["metadata"]["name"]


@pytest.mark.parametrize("text", [ANALYSIS_TEMPLATES, SUCCESS_RATE], ids=["examples", "success-rate"])
def test_argo_analysis_templates_read(text: str) -> None:
    for doc in documents(text):
        template = AnalysisTemplate.from_dict(doc)
        assert template.spec.metrics
        assert all(m.provider_name in ("job", "prometheus") for m in template.spec.metrics)


def test_cluster_analysis_template_reads() -> None:
    template = ClusterAnalysisTemplate.from_dict(documents(ALWAYS_PASS)[0])
    assert template.metadata.name == "always-pass"
    assert template.spec.metrics[0].effective_count == 1
