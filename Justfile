# rollouts: progressive delivery for Kubernetes. `just` lists the recipes.
# The logic lives in tasks.py (Invoke) and the Ansible roles; these recipes are the menu.
set shell := ["bash", "-euo", "pipefail", "-c"]

# The rollouts CLI (kubectl argo rollouts' verbs) from the project's environment.
rollouts := ".venv/bin/rollouts"
# The seed's Rollout: the demo frontend, migrated from its Deployment by `just install`.
rollout := "tracing-demo-frontend"
namespace := "services"
# The Service in front of it (NAMESPACE/NAME), for the load test.
service := "services/frontend-service"

# List the recipes.
default:
    @just --list --unsorted

# Create .venv, install the project and check the tools it uses (first run: a few minutes).
[group('setup')]
setup:
    ./dev setup

# Install localcluster (unless KUBECONFIG points elsewhere), the controller, the demo app, and migrate its frontend to a Rollout.
[group('setup')]
install:
    ./dev install

# Uninstall the controller; the CRDs and every Rollout stay (pass crds=true to delete them too).
[group('setup')]
[confirm("Uninstall the rollouts controller from the current cluster?")]
uninstall crds="false":
    ./dev uninstall {{ if crds == "true" { "--crds" } else { "" } }}

# Start localcluster (idempotent) and print its kubeconfig path.
[group('cluster')]
cluster-up:
    ./dev cluster.up

# Stop localcluster; its objects are kept.
[group('cluster')]
cluster-down:
    ./dev cluster.down

# Whether localcluster runs, where, and what it holds.
[group('cluster')]
cluster-status:
    ./dev cluster.status

# Watch a Rollout's progress live (Ctrl-C to stop).
[group('rollout')]
rollout-watch name=rollout ns=namespace: _venv
    {{ rollouts }} get rollout {{ name }} -n {{ ns }} -w

# Check a Rollout's current status (Healthy, Progressing, Paused, Degraded).
[group('rollout')]
rollout-status name=rollout ns=namespace: _venv
    {{ rollouts }} status {{ name }} -n {{ ns }} --watch=false

# Show a Rollout in detail: steps, revisions, ReplicaSets and pods.
[group('rollout')]
rollout-info name=rollout ns=namespace: _venv
    {{ rollouts }} get rollout {{ name }} -n {{ ns }}

# Skip the current pause: promote to the next step (add --full to skip every step).
[group('rollout')]
rollout-promote name=rollout ns=namespace *flags: _venv
    {{ rollouts }} promote {{ name }} -n {{ ns }} {{ flags }}

# Abort the current update: back to the stable version.
[group('rollout')]
rollout-abort name=rollout ns=namespace: _venv
    {{ rollouts }} abort {{ name }} -n {{ ns }}

# Show a Rollout's past revisions.
[group('rollout')]
rollout-history name=rollout ns=namespace: _venv
    {{ rollouts }} history {{ name }} -n {{ ns }}

# Start the demo by hand (the seed's rollout-demo.sh): check that everything is ready, then show how to watch and trigger a canary.
[group('rollout')]
rollout-demo:
    ./dev demo --scenario starter

# Send traffic through a Service and watch which versions answer (the seed's load test).
[group('rollout')]
load-test svc=service duration="30s":
    ./dev load-test --service {{ svc }} --duration {{ duration }}

# Run a demo scenario end to end: basic, manual, abort, prometheus, gitops, bluegreen or weighted (docs/demos.md); flags pass through, e.g. just demo abort --pause 30s --report abort.html
[group('demo')]
demo scenario="basic" *flags:
    ./dev demo --scenario {{ scenario }} {{ flags }}

# Lint, type-check and run the whole test suite.
[group('dev')]
test:
    ./dev test

[private]
_venv:
    @test -x {{ rollouts }} || { echo "error: {{ rollouts }} is missing: run \`just setup\` first" >&2; exit 1; }
