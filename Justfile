# rollouts: progressive delivery for Kubernetes. `just` lists the recipes.
set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list --unsorted

# Start localcluster (idempotent) and print its kubeconfig path.
cluster-up:
    ./dev cluster.up

# Stop localcluster; its objects are kept.
cluster-down:
    ./dev cluster.down

# Whether localcluster runs, where, and what it holds.
cluster-status:
    ./dev cluster.status

# Send traffic through a Service and watch which versions answer (the seed's load test).
load-test service="services/frontend" duration="30s":
    ./dev load-test --service {{service}} --duration {{duration}}

# Run a demo scenario on localcluster (basic so far).
demo scenario="basic":
    ./dev demo --scenario {{scenario}}

# Lint, type-check and run the whole test suite.
test:
    ./dev test
