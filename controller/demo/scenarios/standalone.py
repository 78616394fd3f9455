"""What the bluegreen and weighted scenarios share: the demo frontend as a Rollout of their own, in a
namespace of their own.

The migration role turns a Deployment into a canary Rollout only: a Deployment names no preview
Service and no Ingress for a traffic router. So these two scenarios write their manifests
themselves — the seed's frontend (the demo app, 2 replicas, the same pod template) as a Rollout
with the strategy they show, and the Services (and Ingress) it refers to — save them in the work
directory, and create them through the API as ``kubectl apply -f`` would. Their own namespace keeps
them apart from the seed's app (whose Service selects every ``app=frontend`` pod of ``services``).

Run again on the same cluster, nothing is recreated: an existing Rollout gets only its strategy
(the pause and delays of this run), and the next colour after its stable one goes out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import yaml

from controller.cli.info import HASH_LABEL
from controller.demo.engine import Run
from controller.demo.observe import OutcomeError
from controller.demo.options import CONTAINER
from controller.demo.scenarios.common import COLORS, STEP_TIMEOUT, Obj, image, settle
from controller.demo.setup import command_text
from controller.kube import Conflict, NotFound, resource_path

#: the Rollout, its container and its pods' label, in each scenario's namespace
NAME = "frontend"
LABELS = {"app": "frontend"}
SELECTOR = "app=frontend"
REPLICAS = 2
#: the clamp on the delays (scaleDownDelaySeconds) the scenarios derive from --pause
MIN_DELAY, MAX_DELAY = 5, 30
INGRESS_CLASS = "nginx"
#: what owns the scenario's objects in managedFields
FIELD_MANAGER = "rollouts-demo"

PATHS = {
    "Namespace": ("v1", "namespaces"),
    "Service": ("v1", "services"),
    "Ingress": ("networking.k8s.io/v1", "ingresses"),
    "Rollout": ("argoproj.io/v1alpha1", "rollouts"),
}


def scale_down_delay(pause: float) -> int:
    """The demo's scaleDownDelaySeconds: the pause, kept between 5 s and Argo's default of 30 s."""
    return int(min(MAX_DELAY, max(MIN_DELAY, round(pause))))


def namespace_object(namespace: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}


def service(namespace: str, name: str) -> Obj:
    """A Service over every frontend pod; the controller adds the revision to its selector."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "selector": dict(LABELS),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def ingress(namespace: str, name: str, host: str, backend: str) -> Obj:
    """An ingress-nginx Ingress sending ``host`` to the Service ``backend``."""
    path = {
        "path": "/",
        "pathType": "Prefix",
        "backend": {"service": {"name": backend, "port": {"name": "http"}}},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ingressClassName": INGRESS_CLASS, "rules": [{"host": host, "http": {"paths": [path]}}]},
    }


def frontend_rollout(namespace: str, strategy: Obj, tag: str = COLORS[0]) -> Obj:
    """The seed's frontend (the demo app on port 8080, ready when ``/`` answers) as a Rollout."""
    container = {
        "name": CONTAINER,
        "image": image(tag),
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
    }
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": NAME, "namespace": namespace, "labels": dict(LABELS)},
        "spec": {
            "replicas": REPLICAS,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": dict(LABELS)},
            "template": {"metadata": {"labels": dict(LABELS)}, "spec": {"containers": [container]}},
            "strategy": strategy,
        },
    }


def write_manifest(path: Path, objects: list[Obj]) -> None:
    """The objects as one YAML file, what ``kubectl apply -f`` takes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False), encoding="utf-8")


def _path(obj: Obj, *, named: bool) -> str:
    api_version, plural = PATHS[str(obj["kind"])]
    meta = obj.get("metadata") or {}
    namespace = None if obj["kind"] == "Namespace" else str(meta.get("namespace") or "")
    return resource_path(api_version, plural, namespace=namespace, name=str(meta["name"]) if named else None)


async def create_missing(run: Run, objects: list[Obj]) -> tuple[list[str], bool]:
    """Create each object that does not exist; an existing Rollout gets the manifest's strategy.

    Returns what was created (``Service frontend-active``) and whether the Rollout was new.
    Existing Services are left alone: the controller has added the revision to their selectors.
    """
    created: list[str] = []
    rollout_new = False
    for obj in objects:
        try:
            await run.client.create(_path(obj, named=False), obj, field_manager=FIELD_MANAGER)
        except Conflict:
            if obj["kind"] == "Rollout":
                strategy = {"spec": {"strategy": obj["spec"]["strategy"]}}
                await run.client.patch(_path(obj, named=True), strategy, field_manager=FIELD_MANAGER)
            continue
        created.append(f"{obj['kind']} {obj['metadata']['name']}")
        rollout_new = rollout_new or obj["kind"] == "Rollout"
    return created, rollout_new


async def deploy(
    run: Run, namespace: str, objects: list[Obj], *, title: str, say: str, look: str = ""
) -> None:
    """Write the manifest, create what is missing, wait until the Rollout is Healthy, then watch it."""
    manifest = run.work / f"{namespace}.yaml"
    async with run.step(title, say=say, look=look) as handle:
        write_manifest(manifest, objects)
        run.narrator.commands("The same as:", [command_text(["kubectl", "apply", "-f", str(manifest)])])
        await run.connect()
        created, new = await create_missing(run, objects)
        path = resource_path("argoproj.io/v1alpha1", "rollouts", namespace=namespace, name=NAME)

        async def ready() -> bool:
            rollout = await run.client.get(path)
            meta, status = rollout.get("metadata") or {}, rollout.get("status") or {}
            observed = str(status.get("observedGeneration") or "") == str(meta.get("generation") or "")
            return observed and (
                not new or (status.get("phase") == "Healthy" and bool(status.get("stableRS")))
            )

        await poll(ready, f"the Rollout {namespace}/{NAME} to be {'Healthy' if new else 'observed'}")
        run.mark("setup", f"{namespace}/{NAME} deployed")
        handle.note = (
            f"created {', '.join(created)}"
            if created
            else "all there already; the Rollout takes this run's strategy"
        )
    # watched from here on: the first deploy's own changes are not part of the story
    await run.watch_rollout(namespace, NAME, SELECTOR)
    await settle(run)


async def poll(check: Callable[[], Awaitable[bool]], what: str, within: float = STEP_TIMEOUT) -> None:
    """Ask ``check`` every 0.3 s until it holds; OutcomeError naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise OutcomeError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.3)


async def pods_gone(run: Run, pod_hash: str, *, within: float = STEP_TIMEOUT) -> None:
    """Until no pod of revision ``pod_hash`` is left (a scaled-down ReplicaSet's pods deleted)."""

    def gone() -> bool:
        return not any(
            ((p.get("metadata") or {}).get("labels") or {}).get(HASH_LABEL) == pod_hash
            for p in run.watch.pods.objects()
        )

    await run.watch.until(gone, f"the pods of revision {pod_hash} to be deleted", within)


async def wait_for_address(run: Run, namespace: str, name: str, *, within: float = 60.0) -> None:
    """Until an ingress controller has given the Ingress an address (``status.loadBalancer``)."""
    path = resource_path("networking.k8s.io/v1", "ingresses", namespace=namespace, name=name)

    async def served() -> bool:
        try:
            found = await run.client.get(path)
        except NotFound:
            return False
        return bool(((found.get("status") or {}).get("loadBalancer") or {}).get("ingress"))

    try:
        await poll(served, f"an address for the Ingress {namespace}/{name}", within)
    except OutcomeError as e:
        raise OutcomeError(
            f"the Ingress {namespace}/{name} has no address after {within:g}s: no ingress-nginx serves the class "
            f"{INGRESS_CLASS} on this cluster"
        ) from e


async def selector_hash(run: Run, namespace: str, service_name: str) -> str:
    """The revision (``rollouts-pod-template-hash``) a Service selects now; empty when none."""
    svc = await run.client.get(resource_path("v1", "services", namespace=namespace, name=service_name))
    return str(((svc.get("spec") or {}).get("selector") or {}).get("rollouts-pod-template-hash") or "")
