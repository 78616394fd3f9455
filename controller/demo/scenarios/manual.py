"""manual: an indefinite pause. The canary waits at 50% until a person promotes it."""

from __future__ import annotations

import asyncio

from controller.demo.engine import Run, ScenarioSpec
from controller.demo.options import NAMESPACE, ROLLOUT, DemoOptions
from controller.demo.scenarios.common import (
    Obj,
    check_all_on,
    check_split,
    image,
    next_colour,
    prepare,
    release,
    rollouts_command,
    version,
    wait_healthy,
    wait_paused,
)
from controller.loadtest import format_duration

#: how long the demo waits for a person to promote, without --auto-promote-after
WAIT_FOR_PERSON = 24 * 3600.0


def canary_steps(options: DemoOptions) -> list[Obj]:
    return [{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}]


async def main(run: Run) -> None:
    await prepare(run, canary_steps(run.options))
    old = version(run.stable_image)
    new_image = image(next_colour(run.stable_image))
    new = version(new_image)
    async with run.step(
        f"Release {new}",
        say="This Rollout's steps are 50%, then a pause with no duration, then 100%: a pause without a "
        "duration lasts until someone promotes the Rollout.",
    ) as handle:
        new_hash = await release(run, new_image)
        handle.note = f"new revision {new_hash}"
    async with run.step(
        "Step 1, setWeight 50, then the indefinite pause",
        look="Status: Paused, Message: CanaryPauseStep; one pod of each version.",
    ) as handle:
        await wait_paused(run, 1)
        paused_at = run.now()
        handle.note = "paused at 50%, until promoted"
    run.show_tree()
    auto = run.options.auto_promote_after
    who = (
        f"the demo promotes it by itself in {format_duration(auto)} (--auto-promote-after)"
        if auto is not None
        else "the demo waits for you"
    )
    async with run.step(
        "Wait for a promotion",
        say=f"The canary stays at 50% for as long as it takes; {who}. Promoting sends the patch "
        '`kubectl argo rollouts promote` sends: {"status":{"pauseConditions":null}} to the status subresource.',
        look=f"the traffic split holding at about half {new}, half {old}.",
    ) as handle:
        kubeconfig = f"export KUBECONFIG={run.target.kubeconfig}" if run.target.kubeconfig else ""
        run.narrator.commands(
            "In another terminal:",
            [
                c
                for c in (kubeconfig, "just rollout-promote", f"# or: {rollouts_command('promote', ROLLOUT)}")
                if c
            ],
        )
        if auto is None:
            run.narrator.info(f"waiting for a promotion of {NAMESPACE}/{ROLLOUT} (Ctrl-C to stop)")
        observer = run.watch

        def promoted() -> bool:
            status = observer.status()
            return not status.get("pauseConditions") or int(status.get("currentStepIndex") or 0) >= 2

        by = "by someone else"
        if auto is not None:
            try:
                await asyncio.wait_for(observer.until(promoted, "a promotion", auto + 1.0), auto)
            except TimeoutError:
                await run.operation("promote")
                by = "by the demo (--auto-promote-after)"
        await observer.until(promoted, "a promotion", WAIT_FOR_PERSON)
        promoted_at = run.now()
        run.mark("promote", "promoted", by)
        seen = run.window(paused_at + 0.5, promoted_at)
        if seen.answered >= 10:
            check_split(run, seen, new, old)
        handle.note = f"promoted {by} after {format_duration(promoted_at - paused_at)}"
    async with run.step(
        "Step 3, setWeight 100: the update completes",
        look="Status: Healthy; every answer from the new version.",
    ) as handle:
        await wait_healthy(run, new_hash)
        healthy_at = run.now()
        await run.wait_traffic(3.0)
        check_all_on(run, run.window(healthy_at + 0.5), new)
        handle.note = f"Healthy on {new}"
    run.show_tree()


SPEC = ScenarioSpec(
    name="manual",
    title="an indefinite pause: the canary waits for a person",
    description="The canary stops at 50% and stays there: nothing happens until someone runs "
    "`just rollout-promote` (or `rollouts promote`) in another terminal — or, with --auto-promote-after, "
    "until the demo promotes it itself.",
    main=main,
)
