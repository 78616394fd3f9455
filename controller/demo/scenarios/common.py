"""What the scenarios share: the setup a user does, and the waits and checks on the Rollout."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from controller.core.phase import rollout_phase
from controller.demo.engine import Run
from controller.demo.observe import OutcomeError
from controller.demo.options import CONTAINER, IMAGE, NAMESPACE, SERVICE
from controller.demo.setup import command_text
from controller.demo.timeline import Window

Obj = dict[str, Any]

#: the order new versions are released in: each run moves on from the stable colour
COLORS = ("blue", "green", "yellow", "orange", "purple", "red")
#: the most a rollout step may take on top of its pause before the demo calls it stuck
STEP_TIMEOUT = 90.0


def colour_of(image: str) -> str:
    """``argoproj/rollouts-demo:bad-green`` -> ``green``."""
    tag = image.rpartition(":")[2]
    return tag.split("-", 1)[1] if tag.startswith(("bad-", "slow-")) else tag


def next_colour(image: str) -> str:
    colour = colour_of(image)
    return COLORS[(COLORS.index(colour) + 1) % len(COLORS)] if colour in COLORS else COLORS[1]


def image(tag: str) -> str:
    return f"{IMAGE}:{tag}"


def version(image_ref: str) -> str:
    """The version the demo app answers with: the image's tag."""
    return image_ref.rpartition(":")[2]


def rollouts_command(*args: str, namespace: str = NAMESPACE) -> str:
    return f"rollouts {' '.join(args)} -n {namespace}"


async def prepare(
    run: Run,
    steps: list[Obj],
    *,
    before_migration: Callable[[Run], Awaitable[None]] | None = None,
) -> None:
    """localcluster, the controller, the demo app and its migration; then watch and send traffic."""
    await start_cluster(run)
    await install_controller(run)
    if before_migration is not None:
        await before_migration(run)
    async with run.step(
        "Deploy the demo app and migrate its frontend to a Rollout",
        say="playbooks/demo.yml deploys the seed's three-tier app (namespace services) as plain Deployments; "
        "playbooks/migrate.yml turns its frontend into the Rollout tracing-demo-frontend with this scenario's "
        "canary steps, starts its pods next to the Deployment's and scales the Deployment down once the "
        "Rollout is Healthy. Run again, both change nothing but the steps.",
    ) as handle:
        argv = run.target.playbook_argv(
            ["playbooks/demo.yml", "playbooks/migrate.yml"], {"rollouts_migrate_steps": steps}
        )
        run.narrator.commands("The same as:", [command_text(argv)])
        await run.target.playbook(
            ["playbooks/demo.yml", "playbooks/migrate.yml"],
            {"rollouts_migrate_steps": steps},
            on_play=lambda name: run.narrator.info(f"play: {name}"),
        )
        handle.note = "steps: " + ", ".join(_step_words(s) for s in steps)
    await run.connect()
    await run.watch_rollout()
    await settle(run)
    async with run.step(
        "Send traffic through the frontend's Service",
        say=f"The demo's own load test (what `just load-test` runs) sends {run.options.rps:g} requests a second "
        f"to {NAMESPACE}/{SERVICE}, a new connection each, so the Service spreads them over the ready pods as "
        "kube-proxy does: the traffic split follows the pod split.",
        look="the traffic lines: which version answered each share of the requests of the last 5 seconds.",
    ) as handle:
        traffic = await run.send_traffic()
        await run.show_live()
        await run.wait_traffic(2.0)
        now = run.window(run.now() - 2.0)
        run.check(
            now.answered > 0,
            f"the Service answers: {now.describe()}",
            f"nothing answered through {SERVICE}: {now.describe()}",
        )
        handle.note = traffic.test.target
    run.show_tree()


def _step_words(step: Obj) -> str:
    from controller.demo.timeline import describe_step

    return describe_step(step)


async def start_cluster(run: Run) -> None:
    if run.target.local:
        async with run.step(
            "Start localcluster",
            say="localcluster is an embedded Kubernetes-compatible cluster: an API server on 127.0.0.1 with "
            "the built-in controllers, a kubelet whose pods are real HTTP servers on 127.10.x.y, and Service "
            "proxies that spread connections over ready pods.",
        ) as handle:
            run.narrator.commands("The same as:", ["rollouts cluster up    # or: just cluster-up"])
            handle.note = await run.target.start_localcluster()
            run.mark("setup", "localcluster up")
    else:
        async with run.step(f"Use the cluster of context {run.options.context}") as handle:
            run.target.use_context()
            handle.note = run.target.describe()


async def install_controller(run: Run) -> None:
    async with run.step(
        "Install the Rollouts controller (playbooks/install.yml)",
        say="The CRDs (Rollout, AnalysisTemplate, AnalysisRun), the namespace rollouts, RBAC and the "
        "controller's Deployment. On localcluster the image rollouts-controller runs as `python -m controller` "
        "from this checkout. Idempotent: a second run changes nothing.",
    ) as handle:
        argv = run.target.playbook_argv(["playbooks/install.yml"])
        run.narrator.commands(
            "The same as:", [command_text(argv), "# or: just install (everything: site.yml)"]
        )
        result = await run.target.playbook(["playbooks/install.yml"])
        recap = next((line for line in reversed(result.lines) if " ok=" in line), "")
        handle.note = " ".join(recap.split()[2:6]) if recap else "installed"
        run.mark("setup", "controller installed")


async def settle(run: Run) -> None:
    """Bring a Rollout left mid-update by an earlier run back to Healthy before starting."""
    observer = run.watch
    phase, _ = rollout_phase(observer.rollout())
    if phase == "Healthy":
        run.stable_image = observer.image_of(str(observer.status().get("stableRS") or ""))
        return
    async with run.step("Finish the update an earlier run left behind") as handle:
        status = observer.status()
        stable = str(status.get("stableRS") or "")
        if status.get("abort") or phase == "Degraded":
            stable_image = observer.image_of(stable)
            run.narrator.say(f"The Rollout is {phase}; setting its image back to the stable {stable_image}.")
            await run.operation("set_image", CONTAINER, stable_image)
        else:
            run.narrator.say(f"The Rollout is {phase}; promoting it fully (`rollouts promote --full`).")
            await run.operation("promote", full=True)

        def healthy() -> bool:
            return rollout_phase(observer.rollout())[0] == "Healthy"

        await observer.until(healthy, "the Rollout to be Healthy again", STEP_TIMEOUT)
        run.stable_image = observer.image_of(str(observer.status().get("stableRS") or ""))
        handle.note = f"Healthy on {run.stable_image}"


async def release(run: Run, new_image: str) -> str:
    """``rollouts set image``: the update starts; the new revision's pod-template hash."""
    observer = run.watch
    before = str(observer.status().get("currentPodHash") or "")
    run.narrator.commands(
        "The same as:",
        [
            rollouts_command(
                "set", "image", observer.name, f"{CONTAINER}={new_image}", namespace=observer.namespace
            )
        ],
    )
    await run.operation("set_image", CONTAINER, new_image)
    run.mark("update", f"update to {version(new_image)}")

    def new_hash() -> str | None:
        rollout = observer.rollout()
        meta, status = rollout.get("metadata") or {}, rollout.get("status") or {}
        current = str(status.get("currentPodHash") or "")
        observed = str(status.get("observedGeneration") or "") == str(meta.get("generation") or "")
        return current if observed and current and current != before else None

    found: str = await observer.until(
        new_hash, f"the controller to start the update to {new_image}", STEP_TIMEOUT
    )
    run.narrator.info(f"revision {before or '-'} -> {found}")
    return found


async def wait_paused(run: Run, step_index: int, *, within: float = STEP_TIMEOUT) -> Obj:
    """Until the Rollout pauses at ``step_index`` (0-based)."""
    observer = run.watch

    def paused() -> Obj | None:
        status = observer.status()
        if status.get("abort"):
            raise_outcome(
                f"the Rollout aborted instead of pausing at step {step_index + 1}: {status.get('message')}"
            )
        if status.get("pauseConditions") and int(status.get("currentStepIndex") or 0) == step_index:
            return status
        return None

    status: Obj = await observer.until(paused, f"the pause at step {step_index + 1}", within)
    return status


def raise_outcome(message: str) -> None:
    raise OutcomeError(message)


async def wait_healthy(run: Run, pod_hash: str, *, within: float = STEP_TIMEOUT) -> None:
    """Until the Rollout is Healthy and fully on ``pod_hash``: its pods all available, others at 0."""
    observer = run.watch

    def healthy() -> bool:
        rollout = observer.rollout()
        status = rollout.get("status") or {}
        if status.get("abort"):
            raise_outcome(f"the Rollout aborted: {status.get('message')}")
        replicas = int((rollout.get("spec") or {}).get("replicas") or 1)
        counts = observer.counts()
        return (
            rollout_phase(rollout)[0] == "Healthy"
            and status.get("stableRS") == pod_hash
            and counts.get(pod_hash) == (replicas, replicas)
            and all(spec == 0 for h, (spec, _) in counts.items() if h != pod_hash)
        )

    await observer.until(healthy, f"Healthy with every pod on revision {pod_hash}", within)


async def wait_degraded(run: Run, *, within: float = STEP_TIMEOUT) -> Obj:
    observer = run.watch

    def degraded() -> Obj | None:
        rollout = observer.rollout()
        return rollout if rollout_phase(rollout)[0] == "Degraded" else None

    rollout: Obj = await observer.until(degraded, "phase Degraded", within)
    return rollout


async def back_on(run: Run, pod_hash: str, *, within: float = STEP_TIMEOUT) -> None:
    """Until every pod of the Rollout is on ``pod_hash`` (the others scaled to 0)."""
    observer = run.watch

    def only() -> bool:
        counts = observer.counts()
        replicas = int((observer.rollout().get("spec") or {}).get("replicas") or 1)
        return counts.get(pod_hash, (0, 0))[1] >= replicas and all(
            spec == 0 for h, (spec, _) in counts.items() if h != pod_hash
        )

    await observer.until(only, f"every pod back on revision {pod_hash}", within)


def check_split(run: Run, seen: Window, new: str, old: str, *, low: float = 10.0, high: float = 90.0) -> None:
    """During a 50% step both versions answer, each between ``low`` and ``high`` percent."""
    share = seen.percent(new)
    run.check(
        seen.answered >= 10 and low <= share <= high and seen.percent(old) > 0,
        f"at 50% both versions answer: {seen.describe()}",
        f"at 50% expected {new} and {old} to share the traffic ({low:g}-{high:g}% each), saw {seen.describe()}",
    )


def check_all_on(run: Run, seen: Window, only: str, *, errors_allowed: float = 0.0) -> None:
    share = seen.percent(only)
    run.check(
        seen.answered >= 5 and share >= 99.0 and seen.error_percent <= errors_allowed,
        f"all traffic on {only}: {seen.describe()}",
        f"expected every request on {only}, saw {seen.describe()}",
    )
