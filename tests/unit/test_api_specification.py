"""Argo's documented Rollout with every field (docs/features/specification.md), unchanged.

It is not a valid spec (both strategies, both anti-affinity kinds, a workloadRef beside a
template, ...), but every field of it must read, and the CRD must accept it.
"""

from __future__ import annotations

from controller.api import Rollout, validate_rollout
from tests.unit.test_api_examples import rollout_doc

# docs/features/specification.md: every Rollout field at once. Not a valid spec (it lists both
# strategies, both anti-affinity kinds, a workloadRef with a template, ...), but the CRD must
# accept every field of it.
SPECIFICATION = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: example-rollout-canary
spec:
  replicas: 5
  analysis:
    successfulRunHistoryLimit: 10
    unsuccessfulRunHistoryLimit: 10
  selector:
    matchLabels:
      app: guestbook
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: rollout-ref-deployment
    scaleDown: never|onsuccess|progressively
  template:
    spec:
      containers:
        - name: guestbook
          image: argoproj/rollouts-demo:blue
  minReadySeconds: 30
  revisionHistoryLimit: 3
  paused: true
  progressDeadlineSeconds: 600
  progressDeadlineAbort: false
  restartAt: '2020-03-30T21:19:35Z'
  rollbackWindow:
    revisions: 3
  strategy:
    blueGreen:
      activeService: active-service
      prePromotionAnalysis:
        templates:
          - templateName: success-rate
        args:
          - name: service-name
            value: guestbook-svc.default.svc.cluster.local
      postPromotionAnalysis:
        templates:
          - templateName: success-rate
        args:
          - name: service-name
            value: guestbook-svc.default.svc.cluster.local
      previewService: preview-service
      previewReplicaCount: 1
      autoPromotionEnabled: false
      autoPromotionSeconds: 30
      scaleDownDelaySeconds: 30
      scaleDownDelayRevisionLimit: 2
      abortScaleDownDelaySeconds: 30
      antiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution: {}
        preferredDuringSchedulingIgnoredDuringExecution:
          weight: 1 # Between 1 - 100
      activeMetadata:
        labels:
          role: active
      previewMetadata:
        labels:
          role: preview
    canary:
      canaryService: canary-service
      stableService: stable-service
      canaryMetadata:
        annotations:
          role: canary
        labels:
          role: canary
      stableMetadata:
        annotations:
          role: stable
        labels:
          role: stable
      maxUnavailable: 1
      maxSurge: '20%'
      scaleDownDelaySeconds: 30
      minPodsPerReplicaSet: 2
      scaleDownDelayRevisionLimit: 2
      analysis:
        templates:
          - templateName: success-rate
        args:
          - name: service-name
            value: guestbook-svc.default.svc.cluster.local
          - name: stable-hash
            valueFrom:
              podTemplateHashValue: Stable
          - name: latest-hash
            valueFrom:
              podTemplateHashValue: Latest
          - name: region
            valueFrom:
              fieldRef:
                fieldPath: metadata.labels['region']
      steps:
        - setWeight: 20
        - pause:
            duration: 1h
        - pause: {}
        - setCanaryScale:
            replicas: 3
        - setCanaryScale:
            weight: 25
        - setCanaryScale:
            matchTrafficWeight: true
        - plugin:
            name: example
            config:
              key: value
        - setHeaderRoute:
            name: 'header-route-1'
            match:
              - headerName: 'version'
                headerValue:
                  exact: '2'
                  regex: '2.0.(.*)'
                  prefix: '2.0'
        - setMirrorRoute:
            name: 'header-route-1'
            percentage: 100
            match:
              - method:
                  exact: 'GET'
                  regex: 'P.*'
                  prefix: 'POST'
                path:
                  exact: '/test'
                  regex: '/test/.*'
                  prefix: '/'
                headers:
                  agent-1b:
                    exact: 'firefox'
                    regex: 'firefox2(.*)'
                    prefix: 'firefox'
        - analysis:
            templates:
              - templateName: success-rate
        - experiment:
            duration: 1h
            templates:
              - name: baseline
                specRef: stable
                service:
                  name: test-service
              - name: canary
                specRef: canary
                weight: 10
            analyses:
              - name: mann-whitney
                templateName: mann-whitney
                analysisRunMetadata:
                  labels:
                    app.service.io/analysisType: smoke-test
                  annotations:
                    link.argocd.argoproj.io/external-link: http://my-loggin-platform.com/pre-generated-link
      antiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution: {}
        preferredDuringSchedulingIgnoredDuringExecution:
          weight: 1 # Between 1 - 100
      trafficRouting:
        maxTrafficWeight: 1000
        managedRoutes:
          - name: set-header
          - name: mirror-route
        istio:
          virtualService:
            name: rollout-vsvc
            routes:
              - primary
          virtualServices:
            - name: rollouts-vsvc1
              routes:
                - primary
            - name: rollouts-vsvc2
              routes:
                - secondary
        nginx:
          stableIngress: primary-ingress
          stableIngresses:
            - primary-ingress
            - secondary-ingress
            - tertiary-ingress
          annotationPrefix: customingress.nginx.ingress.kubernetes.io
          additionalIngressAnnotations:
            canary-by-header: X-Canary
            canary-by-header-value: iwantsit
          canaryIngressAnnotations:
            my-custom-annotation.mygroup.com/key: value
        alb:
          ingress: ingress
          servicePort: 443
          annotationPrefix: custom.alb.ingress.kubernetes.io
        smi:
          rootService: root-svc
          trafficSplitName: rollout-example-traffic-split
      abortScaleDownDelaySeconds: 30
      dynamicStableScale: false
"""


def test_the_specification_reads_but_is_invalid() -> None:
    """Every field reads; Argo's validation stops at the two strategies (it checks neither then).

    The template beside the workloadRef passes, as in Argo: a template without labels or
    annotations counts as empty (``RolloutSpec.EmptyTemplate``).
    """
    obj = rollout_doc(SPECIFICATION)
    assert [(p.field, p.message) for p in validate_rollout(obj)] == [
        ("spec.strategy", "Multiple Strategies can not be listed")
    ]
    kinds = [type(s).__name__ for s in Rollout.from_dict(obj).spec.strategy.canary.steps]  # type: ignore[union-attr]
    assert kinds == [
        "SetWeight",
        "Pause",
        "Pause",
        "SetCanaryScale",
        "SetCanaryScale",
        "SetCanaryScale",
        "Plugin",
        "SetHeaderRoute",
        "SetMirrorRoute",
        "Analysis",
        "Experiment",
    ]
