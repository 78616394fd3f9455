"""The operations on a Rollout that ``kubectl argo rollouts`` performs, as reusable functions.

Each sends exactly the patch Argo's plugin sends (pkg/kubectl-argo-rollouts/cmd/*), so a
controller — ours or Argo's — sees the same request whichever tool made it:

======================  =====================================================================
operation               what is sent
======================  =====================================================================
promote                 ``{"spec":{"paused":false}}`` if manually paused; then on ``/status``
                        ``{"status":{"pauseConditions":null}}`` when paused at a step, else
                        (canary mid-analysis) ``{"status":{"pauseConditions":null,
                        "currentStepIndex":i+1}}``
promote --full          ``{"status":{"promoteFull":true}}`` on ``/status`` (only when not
                        already fully promoted), plus the unpause above
abort                   ``{"status":{"abort":true}}`` on ``/status``
retry                   ``{"status":{"abort":false}}`` on ``/status``
pause                   ``{"spec":{"paused":true}}``
restart [--in D]        ``{"spec":{"restartAt":"<now + D, RFC 3339 UTC>"}}``
undo [--to-revision N]  JSON patch ``[{"op":"replace","path":"/spec/template","value":T}]``,
                        T the pod template of revision N's ReplicaSet without its
                        ``rollouts-pod-template-hash`` label (default: the previous revision)
set image C=IMAGE       read, change the image of container C (``*``: every container) among
                        initContainers, containers and ephemeralContainers, write back (PUT)
======================  =====================================================================

All are JSON merge patches unless said otherwise. Status patches go to the ``/status``
subresource and, as Argo's do, fall back to the main resource if that answers 404 (a CRD
without the status subresource). Every operation retries up to five times on 409 Conflict.
For ``set image`` and ``undo`` of a Rollout with ``spec.workloadRef``, the referenced
Deployment is changed instead, as Argo does.

The async functions take an :class:`~controller.kube.ApiClient`; :func:`run_operation` is a
synchronous wrapper for scripts (Invoke tasks, Ansible modules) that opens its own client.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

from controller.cli.errors import CliError
from controller.core.revisions import uninjected_template
from controller.kube import ApiClient, Conflict, NotFound, load_config, resource_path

ROLLOUT_API: Final = "argoproj.io/v1alpha1"
HASH_LABEL: Final = "rollouts-pod-template-hash"
REVISION_ANNOTATION: Final = "rollout.argoproj.io/revision"
#: attempts before a 409 Conflict is given up on (Argo's ``maxAttempts`` for set image)
MAX_ATTEMPTS: Final = 5

#: Argo's patches, as its plugin writes them
PAUSE_PATCH: Final = '{"spec":{"paused":true}}'
UNPAUSE_PATCH: Final = '{"spec":{"paused":false}}'
CLEAR_PAUSE_CONDITIONS_PATCH: Final = '{"status":{"pauseConditions":null}}'
CLEAR_PAUSE_CONDITIONS_WITH_STEP_PATCH: Final = '{"status":{"pauseConditions":null,"currentStepIndex":%d}}'
PROMOTE_FULL_PATCH: Final = '{"status":{"promoteFull":true}}'
ABORT_PATCH: Final = '{"status":{"abort":true}}'
RETRY_PATCH: Final = '{"status":{"abort":false}}'
RESTART_PATCH: Final = '{"spec":{"restartAt":"%s"}}'

Obj = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class Patches:
    """What one operation sends: a patch of the main resource and/or of ``/status`` (JSON text)."""

    spec: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Result:
    """What an operation did: a message for people and the Rollout (or workload) as written."""

    message: str
    object: Obj


def rollout_path(namespace: str, name: str | None = None) -> str:
    return resource_path(ROLLOUT_API, "rollouts", namespace=namespace, name=name)


# -- the patches (pure) ---------------------------------------------------------------------------


def promote_patches(rollout: Mapping[str, Any], *, full: bool = False) -> Patches:
    """Argo's ``getPatches`` for ``promote`` and ``promote --full``."""
    spec = rollout.get("spec") or {}
    status = rollout.get("status") or {}
    unpause = UNPAUSE_PATCH if spec.get("paused") else None
    if full:
        fully_promoted = (status.get("currentPodHash") or "") == (status.get("stableRS") or "")
        return Patches(spec=unpause, status=None if fully_promoted else PROMOTE_FULL_PATCH)
    if status.get("pauseConditions"):
        return Patches(spec=unpause, status=CLEAR_PAUSE_CONDITIONS_PATCH)
    canary = (spec.get("strategy") or {}).get("canary")
    if canary is not None:
        steps = canary.get("steps") or []
        index = int(status.get("currentStepIndex") or 0)
        if steps:
            if index < len(steps):
                index += 1
            return Patches(spec=unpause, status=CLEAR_PAUSE_CONDITIONS_WITH_STEP_PATCH % index)
    return Patches(spec=unpause)


def restart_patch(at: datetime) -> str:
    """``{"spec":{"restartAt":"..."}}`` for the instant ``at`` (sent in UTC, whole seconds)."""
    moment = at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return RESTART_PATCH % moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_image_argument(argument: str) -> tuple[str, str]:
    """``CONTAINER=IMAGE`` (or ``*=IMAGE``) as (container, image); a clear error otherwise."""
    parts = argument.split("=")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise CliError(
            f'invalid image argument "{argument}": expected CONTAINER=IMAGE (or *=IMAGE for every '
            "container), e.g. web=argoproj/rollouts-demo:green"
        )
    return parts[0], parts[1]


def with_image(obj: Mapping[str, Any], container: str, image: str) -> Obj:
    """A copy of a Rollout or Deployment with ``container``'s image (``*``: all) set to ``image``."""
    result = copy.deepcopy(dict(obj))
    pod = ((result.get("spec") or {}).get("template") or {}).get("spec") or {}
    found = False
    names: list[str] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for entry in pod.get(key) or []:
            if not isinstance(entry, dict):
                continue
            names.append(str(entry.get("name", "")))
            if container in ("*", entry.get("name")):
                entry["image"] = image
                found = True
    if not found:
        kind = str(obj.get("kind") or "rollout").lower()
        name = (obj.get("metadata") or {}).get("name", "")
        listed = ", ".join(names) if names else "none"
        raise CliError(
            f'unable to find container named "{container}" in {kind} "{name}" (containers: {listed})'
        )
    return result


def template_without_hash(template: Mapping[str, Any]) -> Obj:
    """A pod template without the ``rollouts-pod-template-hash`` label."""
    result = copy.deepcopy(dict(template))
    meta = result.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
        meta["labels"].pop(HASH_LABEL, None)
    return result


def derivative(wanted: Any, actual: Any) -> bool:
    """Kubernetes' ``Semantic.DeepDerivative(wanted, actual)``: fields unset in ``wanted`` are ignored."""
    if wanted is None or wanted in ({}, [], "", 0, False):
        return True
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(derivative(v, actual.get(k)) for k, v in wanted.items())
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(wanted) == len(actual)
            and all(derivative(a, b) for a, b in zip(wanted, actual, strict=True))
        )
    return bool(wanted == actual)


def revision_of(rs: Mapping[str, Any]) -> int | None:
    value = ((rs.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(str(value))
    except ValueError:
        return None


def owned_by(obj: Mapping[str, Any], owner_uid: str) -> bool:
    """Whether ``obj`` has a controller ownerReference to ``owner_uid``."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == owner_uid and r.get("controller") for r in refs if isinstance(r, Mapping))


def replica_set_for_revision(
    name: str, replica_sets: Sequence[Mapping[str, Any]], to_revision: int
) -> Mapping[str, Any]:
    """Argo's ``rolloutRevision``: revision ``to_revision``'s ReplicaSet, or (0) the previous one."""
    numbered = [(rev, rs) for rs in replica_sets if (rev := revision_of(rs)) is not None]
    if to_revision > 0:
        for rev, rs in numbered:
            if rev == to_revision:
                return rs
        known = ", ".join(str(r) for r, _ in sorted(numbered, key=lambda x: x[0])) or "none"
        raise CliError(
            f'unable to find revision {to_revision} of rollout "{name}" (revisions kept: {known}); '
            f"see them with `rollouts history {name}`"
        )
    ordered = sorted(numbered, key=lambda x: x[0], reverse=True)
    if len(ordered) < 2:
        raise CliError(f'no previous revision found for rollout "{name}"; there is nothing to undo to')
    return ordered[1][1]


# -- applying them --------------------------------------------------------------------------------


async def retry_on_conflict(action: Callable[[], Awaitable[T]], attempts: int = MAX_ATTEMPTS) -> T:
    """Run ``action`` again (re-reading what it read) when it meets a 409 Conflict."""
    for attempt in range(1, attempts + 1):
        try:
            return await action()
        except Conflict:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.05 * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


async def _patch(api: ApiClient, path: str, patch: str, *, status: bool) -> Obj:
    body = json.loads(patch)
    if not status:
        return await api.patch(path, body)
    try:
        return await api.patch_status(path, body)
    except NotFound:
        # a CRD without the status subresource (Argo's plugin does the same for pre-v0.10)
        return await api.patch(path, body)


async def promote(api: ApiClient, namespace: str, name: str, *, full: bool = False) -> Result:
    """``promote NAME [--full]``."""

    async def attempt() -> Obj:
        path = rollout_path(namespace, name)
        rollout = await api.get(path)
        patches = promote_patches(rollout, full=full)
        # Argo's plugin sends the status patch first. Then a reconcile between the two patches
        # sees spec.paused with no pause condition and drops status.controllerPause, so the
        # unpause that follows re-enters the pause step. Unpausing first avoids that race; the
        # patches themselves are Argo's.
        if patches.spec is not None:
            rollout = await _patch(api, path, patches.spec, status=False)
        if patches.status is not None:
            rollout = await _patch(api, path, patches.status, status=True)
        return rollout

    rollout = await retry_on_conflict(attempt)
    return Result(f"rollout '{name}' {'fully promoted' if full else 'promoted'}", rollout)


async def abort(api: ApiClient, namespace: str, name: str) -> Result:
    """``abort NAME``."""
    path = rollout_path(namespace, name)
    rollout = await retry_on_conflict(lambda: _patch(api, path, ABORT_PATCH, status=True))
    return Result(f"rollout '{name}' aborted", rollout)


async def retry(api: ApiClient, namespace: str, name: str) -> Result:
    """``retry rollout NAME``."""
    path = rollout_path(namespace, name)
    rollout = await retry_on_conflict(lambda: _patch(api, path, RETRY_PATCH, status=True))
    return Result(f"rollout '{name}' retried", rollout)


async def pause(api: ApiClient, namespace: str, name: str) -> Result:
    """``pause NAME``."""
    path = rollout_path(namespace, name)
    rollout = await retry_on_conflict(lambda: _patch(api, path, PAUSE_PATCH, status=False))
    return Result(f"rollout '{name}' paused", rollout)


async def restart(
    api: ApiClient, namespace: str, name: str, *, after: timedelta = timedelta(0), now: datetime | None = None
) -> Result:
    """``restart NAME [--in DURATION]``: pods older than now + ``after`` are replaced."""
    at = (now or datetime.now(UTC)) + after
    path = rollout_path(namespace, name)
    patch = restart_patch(at)
    rollout = await retry_on_conflict(lambda: _patch(api, path, patch, status=False))
    return Result(f"rollout '{name}' restarts in {_human(after)}", rollout)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0 and seconds:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0 and seconds:
        return f"{seconds // 60}m"
    return f"{seconds}s"


async def _workload(api: ApiClient, namespace: str, rollout: Mapping[str, Any]) -> tuple[str, Obj] | None:
    """The path and body of the Deployment named by ``spec.workloadRef``, if any."""
    ref = (rollout.get("spec") or {}).get("workloadRef")
    if not ref:
        return None
    kind, name = ref.get("kind"), ref.get("name")
    if kind != "Deployment" or not isinstance(name, str):
        raise CliError(f"spec.workloadRef names a {kind}; only a Deployment can be changed here")
    path = resource_path("apps/v1", "deployments", namespace=namespace, name=name)
    return path, await api.get(path)


async def set_image(api: ApiClient, namespace: str, name: str, container: str, image: str) -> Result:
    """``set image NAME CONTAINER=IMAGE``: read, change, write back (retried on conflict)."""

    async def attempt() -> Obj:
        path = rollout_path(namespace, name)
        rollout = await api.get(path)
        workload = await _workload(api, namespace, rollout)
        if workload is not None:
            deploy_path, deployment = workload
            return await api.replace(deploy_path, with_image(deployment, container, image))
        return await api.replace(path, with_image(rollout, container, image))

    written = await retry_on_conflict(attempt)
    kind = str(written.get("kind") or "rollout").lower()
    written_name = (written.get("metadata") or {}).get("name", name)
    return Result(f'{kind} "{written_name}" image updated', written)


async def list_replica_sets(api: ApiClient, namespace: str, rollout: Mapping[str, Any]) -> list[Obj]:
    """The ReplicaSets ``rollout`` controls (by its selector, then by controller ownerReference)."""
    labels = ((rollout.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None
    items = (
        await api.list(resource_path("apps/v1", "replicasets", namespace=namespace), label_selector=selector)
    ).get("items") or []
    uid = str((rollout.get("metadata") or {}).get("uid") or "")
    return [rs for rs in items if owned_by(rs, uid)]


async def undo(api: ApiClient, namespace: str, name: str, *, to_revision: int = 0) -> Result:
    """``undo NAME [--to-revision N]``: restore a revision's pod template (a JSON patch)."""

    async def attempt() -> Result:
        path = rollout_path(namespace, name)
        rollout = await api.get(path)
        rs = replica_set_for_revision(name, await list_replica_sets(api, namespace, rollout), to_revision)
        # without the role metadata and anti-affinity term the controller injected: copied back, they
        # would make a new template (a new hash) instead of restoring the revision
        template = uninjected_template(rs, rollout)
        target_path, target = path, rollout
        workload = await _workload(api, namespace, rollout)
        if workload is not None:
            target_path, target = workload
        current = ((target.get("spec") or {}).get("template")) or {}
        if derivative(template_without_hash(current), template_without_hash(template)):
            revision = revision_of(rs)
            message = f"skipped rollback (current template already matches revision {revision})"
            return Result(message, target)
        patch = [{"op": "replace", "path": "/spec/template", "value": template_without_hash(template)}]
        written = await api.patch(target_path, patch, patch_type="json")
        return Result(f"rollout '{name}' undo", written)

    return await retry_on_conflict(attempt)


# -- for scripts ----------------------------------------------------------------------------------

OPERATIONS: Final[dict[str, Callable[..., Awaitable[Result]]]] = {
    "promote": promote,
    "abort": abort,
    "retry": retry,
    "pause": pause,
    "restart": restart,
    "undo": undo,
    "set_image": set_image,
}


def run_operation(
    operation: str,
    name: str,
    *,
    namespace: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    **options: Any,
) -> Result:
    """Run one operation synchronously, e.g. ``run_operation("promote", "web", full=True)``.

    The cluster is chosen as the CLI chooses it (``kubeconfig``, ``$KUBECONFIG``,
    localcluster's kubeconfig, ``~/.kube/config``); ``namespace`` defaults to the context's.
    Raises :class:`~controller.cli.errors.CliError` or the API client's typed errors.
    """
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}; one of {', '.join(OPERATIONS)}")
    config = load_config(kubeconfig, context=context)

    async def main() -> Result:
        async with ApiClient(config) as api:
            return await OPERATIONS[operation](api, namespace or config.namespace, name, **options)

    return asyncio.run(main())
