"""abort: a release that fails is aborted during its pause; then the fixed version goes out."""

from __future__ import annotations

import contextlib

from controller.demo.engine import Run, ScenarioSpec
from controller.demo.observe import OutcomeError
from controller.demo.options import ROLLOUT, DemoOptions
from controller.demo.scenarios.common import (
    STEP_TIMEOUT,
    Obj,
    back_on,
    check_all_on,
    check_split,
    image,
    next_colour,
    prepare,
    release,
    rollouts_command,
    version,
    wait_degraded,
    wait_healthy,
    wait_paused,
)
from controller.loadtest import format_duration

#: the pause is at least this long here, so that the abort lands inside it
MIN_PAUSE = 10.0
#: answers from the bad version looked at before deciding that it fails
ENOUGH = 10
#: the most the demo accepts for traffic to be back on stable after the abort
BACK_WITHIN = 10.0


def pause_text(options: DemoOptions) -> str:
    return options.pause_text if options.pause >= MIN_PAUSE else f"{MIN_PAUSE:g}s"


def canary_steps(options: DemoOptions) -> list[Obj]:
    return [{"setWeight": 50}, {"pause": {"duration": pause_text(options)}}, {"setWeight": 100}]


async def main(run: Run) -> None:
    await prepare(run, canary_steps(run.options))
    stable_hash = str(run.watch.status().get("stableRS") or "")
    old = version(run.stable_image)
    colour = next_colour(run.stable_image)
    bad_image, fixed_image = image(f"bad-{colour}"), image(colour)
    bad, fixed = version(bad_image), version(fixed_image)
    async with run.step(
        f"Release {bad}: a version that fails",
        say=f"{bad} is the demo app with a bug: it answers about 85% of requests with HTTP 500. "
        f"The steps are 50%, a pause of {pause_text(run.options)}, 100% (at least {MIN_PAUSE:g}s here, so "
        "the abort happens inside the pause).",
    ) as handle:
        bad_hash = await release(run, bad_image)
        handle.note = f"new revision {bad_hash}"
    async with run.step(
        "Step 1, setWeight 50: half the traffic reaches the bad version",
        look="the error rate of the traffic lines jumping to about 40%: half the requests, 85% of them failing.",
    ) as handle:
        await wait_paused(run, 1)
        paused_at = run.now()

        def enough() -> bool:
            return run.window(paused_at).by_version.get(bad, 0) >= ENOUGH

        with contextlib.suppress(OutcomeError):  # if it takes longer, judged on what there is
            await run.watch.until(
                enough, f"{ENOUGH} answers from {bad}", max(run.options.pause, MIN_PAUSE) / 2
            )
        seen = run.window(paused_at)
        failed = seen.errors_by_version.get(bad, 0)
        answered = seen.by_version.get(bad, 0)
        run.check(
            answered > 0 and failed / answered >= 0.5 and seen.errors_by_version.get(old, 0) == 0,
            f"{bad} fails {failed} of its {answered} requests, {old} none: {seen.describe()}",
            f"expected {bad} to fail most of its requests and {old} none, saw {seen.describe()}",
        )
        handle.note = f"errors {seen.error_percent:.0f}% of all requests"
    async with run.step(
        "Abort during the pause",
        say="`rollouts abort` (what `just rollout-abort` runs) sets status.abort: the controller scales the "
        "stable revision back up and the canary down to 0 at once, without waiting for the pause.",
        look="Status: Degraded with the reason, the canary revision with no pods, errors gone from the traffic.",
    ) as handle:
        run.narrator.commands(
            "The same as:", ["just rollout-abort", f"# or: {rollouts_command('abort', ROLLOUT)}"]
        )
        run.check(
            run.watch.status().get("pauseConditions") is not None,
            "the Rollout is still in its pause when the abort is sent",
            "the pause ended before the abort: use a longer --pause",
        )
        aborted_at = run.now()
        await run.operation("abort")
        await back_on(run, stable_hash)
        rollout = await wait_degraded(run)
        message = str((rollout.get("status") or {}).get("message") or "")
        run.check(
            "RolloutAborted" in message,
            f"phase Degraded with the reason: {message}",
            f"expected the message to say RolloutAborted, it says {message!r}",
        )
        # traffic: wait for 2 s in a row with no answer from the bad version
        observer = run.watch

        def quiet() -> float | None:
            seen = run.window(aborted_at)
            last = seen.last_seen.get(bad, aborted_at)
            return last if run.now() - last >= 2.0 else None

        last_bad = await observer.until(quiet, f"2 s without an answer from {bad}", STEP_TIMEOUT)
        back_after = max(0.0, last_bad - aborted_at)
        run.check(
            back_after <= BACK_WITHIN,
            f"traffic back on {old} {back_after:.1f}s after the abort",
            f"{bad} still answered {back_after:.1f}s after the abort (expected within {BACK_WITHIN:g}s)",
        )
        await run.wait_traffic(1.0)
        check_all_on(run, run.window(last_bad + 0.5), old)
        handle.note = f"back on {old} in {back_after:.1f}s"
    run.show_tree()
    async with run.step(
        f"Release the fixed version, {fixed}",
        say=f"spec.template still names {bad}: `rollouts retry rollout {ROLLOUT}` (status.abort: false) "
        f"would try it again — right for a failure that has gone away. This one is in the code, so a fixed "
        f"version goes out instead, with the same steps.",
        look="a new canary revision; errors stay at 0.",
    ) as handle:
        fixed_hash = await release(run, fixed_image)
        await wait_paused(run, 1)
        paused_at = run.now()
        await wait_healthy(run, fixed_hash, within=run.options.pause + MIN_PAUSE + STEP_TIMEOUT)
        healthy_at = run.now()
        check_split(run, run.window(paused_at + 0.5, healthy_at - 1.0), fixed, old)
        await run.wait_traffic(3.0)
        check_all_on(run, run.window(healthy_at + 0.5), fixed)
        handle.note = f"Healthy on {fixed} after {format_duration(healthy_at - paused_at)} of canary"
    run.show_tree()


SPEC = ScenarioSpec(
    name="abort",
    title="abort a failing release during its pause",
    description="A new version that answers most requests with errors reaches half the pods. During the "
    "pause the demo aborts it: every pod and every request is back on the stable version within seconds, the "
    "Rollout shows Degraded with the reason, and a fixed version then goes out and completes.",
    main=main,
)
