"""basic: the seed's canary. 50% of the pods on the new version, a timed pause, then 100%, on its own."""

from __future__ import annotations

from controller.demo.engine import Run, ScenarioSpec
from controller.demo.options import DemoOptions
from controller.demo.scenarios.common import (
    STEP_TIMEOUT,
    Obj,
    check_all_on,
    check_split,
    image,
    next_colour,
    prepare,
    release,
    version,
    wait_healthy,
    wait_paused,
)


def canary_steps(options: DemoOptions) -> list[Obj]:
    return [{"setWeight": 50}, {"pause": {"duration": options.pause_text}}, {"setWeight": 100}]


async def main(run: Run) -> None:
    pause = run.options.pause_text
    await prepare(run, canary_steps(run.options))
    old = version(run.stable_image)
    new_image = image(next_colour(run.stable_image))
    new = version(new_image)
    async with run.step(
        f"Release {new}: the update starts",
        say=f"The Rollout's image changes from {old} to {new}, as `rollouts set image` (or a commit in Git) "
        "would change it. The controller makes a new ReplicaSet (revision) for it and starts step 1.",
        look="a second revision appears in the tree, marked canary.",
    ) as handle:
        new_hash = await release(run, new_image)
        handle.note = f"new revision {new_hash}"
    async with run.step(
        "Step 1, setWeight 50: one pod of each version",
        say="With 2 replicas and no traffic router, 50% means 1 canary pod and 1 stable pod: the canary "
        "ReplicaSet scales up while the stable one scales down. The Service sends to both.",
        look="the canary pod becoming Ready, then Status: Paused (CanaryPauseStep).",
    ) as handle:
        await wait_paused(run, 1)
        paused_at = run.now()
        handle.note = "1 canary pod, 1 stable pod"
    run.show_tree()
    async with run.step(
        f"Step 2, pause {pause}: the observation window",
        say=f"Nothing changes for {pause}: this is when a person (or Prometheus, in the prometheus scenario) "
        "watches error rates and latency before more users get the new version. `just rollout-promote` would "
        "skip the rest of the pause; `just rollout-abort` would go back.",
        look=f"the traffic lines: about half the answers come from {new}, half from {old}.",
    ) as handle:
        observer = run.watch

        def resumed() -> bool:
            status = observer.status()
            return int(status.get("currentStepIndex") or 0) >= 2 and not status.get("pauseConditions")

        await observer.until(resumed, f"the {pause} pause to end", run.options.pause + STEP_TIMEOUT)
        resumed_at = run.now()
        check_split(run, run.window(paused_at + 0.5, resumed_at), new, old)
        handle.note = f"paused for {resumed_at - paused_at:.1f}s"
    async with run.step(
        "Step 3, setWeight 100: every pod on the new version",
        say="The pause is over: the controller scales the canary to 2 pods and the old revision to 0, "
        f"and {new} becomes the stable revision.",
        look="Status: Healthy, one revision with 2 pods marked stable; every answer from the new version.",
    ) as handle:
        await wait_healthy(run, new_hash)
        healthy_at = run.now()
        await run.wait_traffic(3.0)
        check_all_on(run, run.window(healthy_at + 0.5), new)
        handle.note = f"Healthy on {new}"
    run.show_tree()


SPEC = ScenarioSpec(
    name="basic",
    title="a canary that promotes itself: 50% → pause → 100%",
    description="The seed's demo: the frontend of the three-tier demo app, migrated from a Deployment to a "
    "Rollout, gets a new version. Half the pods run it for the pause, then all of them — no one has to act. "
    "The traffic split follows the pod split, as with a plain Service.",
    main=main,
)
