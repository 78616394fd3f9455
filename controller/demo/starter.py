"""``just rollout-demo``: the seed's demo starter. Checks that the installed demo is ready, then
says how to run a canary by hand, watching in one terminal and triggering it in another."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.core.phase import rollout_phase
from controller.demo.options import CONTAINER, NAMESPACE, ROLLOUT, SERVICE, DemoOptions
from controller.demo.prereq import cluster_config
from controller.demo.scenarios.common import image, next_colour
from controller.kube import (
    ApiClient,
    ConfigError,
    KubeConfig,
    KubeError,
    NotFound,
    load_kubeconfig,
    resource_path,
)
from controller.kube.config import localcluster_kubeconfig

INSTALL = "run `just install` (localcluster, the controller, the demo app and its migration)"


class NotReadyError(Exception):
    """One line: what is not ready, and what to do."""


def _config(options: DemoOptions) -> KubeConfig:
    if not options.local:
        return cluster_config(options)
    path = options.state_dir / "kubeconfig" if options.state_dir else localcluster_kubeconfig()
    if not Path(path).exists():
        raise NotReadyError(f"localcluster has never run here (no kubeconfig at {path}): {INSTALL}")
    return load_kubeconfig(path)


async def _check(options: DemoOptions) -> tuple[KubeConfig, str]:
    config = _config(options)
    async with ApiClient(config, timeout=5) as api:
        try:
            await api.get("/version")
        except KubeError as e:
            cluster = "localcluster" if options.local else f'the cluster of context "{options.context}"'
            fix = (
                "start it with `just cluster-up`, then " + INSTALL
                if options.local
                else "start it or check the kubeconfig"
            )
            raise NotReadyError(f"{cluster} ({config.server}) does not answer ({e}): {fix}") from e
        print(f"✔ the cluster answers at {config.server}")
        try:
            await api.get(
                resource_path(
                    "apiextensions.k8s.io/v1", "customresourcedefinitions", name="rollouts.argoproj.io"
                )
            )
        except NotFound as e:
            raise NotReadyError(f"the Rollout CRD (rollouts.argoproj.io) is not installed: {INSTALL}") from e
        print("✔ the Rollout CRD is installed")
        try:
            controller = await api.get(
                resource_path("apps/v1", "deployments", namespace="rollouts", name="rollouts-controller")
            )
        except NotFound as e:
            raise NotReadyError(
                f"the controller is not installed (no deployment rollouts/rollouts-controller): {INSTALL}"
            ) from e
        available = int((controller.get("status") or {}).get("availableReplicas") or 0)
        if available < 1:
            raise NotReadyError(
                "the controller is not running (deployment rollouts/rollouts-controller has no available pod): "
                "see `kubectl -n rollouts logs deploy/rollouts-controller`, then run `just install` again"
            )
        print("✔ the controller runs (deployment rollouts/rollouts-controller)")
        try:
            rollout = await api.get(
                resource_path("argoproj.io/v1alpha1", "rollouts", namespace=NAMESPACE, name=ROLLOUT)
            )
        except NotFound as e:
            raise NotReadyError(f"the demo's Rollout {NAMESPACE}/{ROLLOUT} does not exist: {INSTALL}") from e
        phase, message = rollout_phase(rollout)
        if phase != "Healthy":
            raise NotReadyError(
                f"the Rollout {NAMESPACE}/{ROLLOUT} is {phase}"
                + (f" ({message})" if message else "")
                + ": finish the update first with `just rollout-promote --full`, or go back with `just rollout-abort`"
            )
        containers = ((rollout.get("spec") or {}).get("template") or {}).get("spec", {}).get(
            "containers"
        ) or [{}]
        current = str(containers[0].get("image") or "")
        print(f"✔ the Rollout {NAMESPACE}/{ROLLOUT} is Healthy on {current}")
        return config, current


def main(options: DemoOptions) -> int:
    try:
        config, current = asyncio.run(_check(options))
    except (NotReadyError, ConfigError) as e:
        print(f"error: {e}")
        return 1
    new = image(next_colour(current))
    kubeconfig = f"export KUBECONFIG={config.source}" if config.source and options.local else ""
    steps = "50%, a pause of 2m, 100%"
    lines = [
        "",
        f"The demo is ready for a canary ({steps}). In one terminal, watch it:",
        *(f"  {c}" for c in (kubeconfig, "just rollout-watch") if c),
        "In another, start the update and send traffic through the Service to see both versions answer:",
        *(f"  {c}" for c in (kubeconfig,) if c),
        f"  .venv/bin/rollouts set image {ROLLOUT} -n {NAMESPACE} {CONTAINER}={new}",
        f"  just load-test       # traffic through {NAMESPACE}/{SERVICE}",
        "Then: just rollout-promote (skip the pause), just rollout-abort (back to stable), just rollout-history.",
        "Or let a script do all of it and check the outcome: just demo basic (docs/demos.md).",
    ]
    print("\n".join(lines))
    return 0
