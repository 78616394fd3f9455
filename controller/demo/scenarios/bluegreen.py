"""bluegreen: the new version gets a full set of pods behind a preview Service while production stays
on the old one; promoted, the active Service switches every request at once, and the old pods go
after scaleDownDelaySeconds."""

from __future__ import annotations

from controller.demo.engine import Run, ScenarioSpec
from controller.demo.observe import OutcomeError
from controller.demo.options import DemoOptions
from controller.demo.scenarios.common import (
    STEP_TIMEOUT,
    Obj,
    check_all_on,
    image,
    install_controller,
    next_colour,
    raise_outcome,
    release,
    rollouts_command,
    start_cluster,
    version,
    wait_healthy,
)
from controller.demo.scenarios.standalone import (
    NAME,
    REPLICAS,
    deploy,
    frontend_rollout,
    namespace_object,
    pods_gone,
    scale_down_delay,
    selector_hash,
    service,
)
from controller.loadtest import Summary, TargetError, resolve_service, run_load_test

NAMESPACE = "bluegreen"
ACTIVE, PREVIEW = "frontend-active", "frontend-preview"
#: seconds of traffic sent through the preview Service to see what it serves
PREVIEW_SECONDS = 2.0
#: the most the two versions may both answer production requests across the switch
OVERLAP = 1.0
#: seconds without an answer from the old version that count as "production has left it"
QUIET = 2.0


def strategy(options: DemoOptions) -> Obj:
    return {
        "blueGreen": {
            "activeService": ACTIVE,
            "previewService": PREVIEW,
            "autoPromotionEnabled": False,
            "scaleDownDelaySeconds": scale_down_delay(options.pause),
        }
    }


def manifests(options: DemoOptions) -> list[Obj]:
    return [
        namespace_object(NAMESPACE),
        service(NAMESPACE, ACTIVE),
        service(NAMESPACE, PREVIEW),
        frontend_rollout(NAMESPACE, strategy(options)),
    ]


def shares(summary: Summary) -> str:
    parts = ", ".join(f"{v.version} {v.percent:.0f}% ({v.requests})" for v in summary.versions)
    return f"{parts or 'no answers'}; errors {summary.errors} of {summary.requests} requests"


async def look_at_preview(run: Run) -> Summary:
    """A short load test through the preview Service (not part of the production traffic)."""
    assert run.target.config is not None
    try:
        url = await resolve_service(run.target.config, f"{NAMESPACE}/{PREVIEW}", path="/color")
    except TargetError as e:
        raise OutcomeError(f"cannot send traffic to the preview: {e}") from e
    run.narrator.commands("The same as:", [f"just load-test {NAMESPACE}/{PREVIEW} {PREVIEW_SECONDS:g}s"])
    return await run_load_test(
        url, rps=run.options.rps, duration=PREVIEW_SECONDS, concurrency=10, request_timeout=5.0
    )


async def main(run: Run) -> None:
    delay = scale_down_delay(run.options.pause)
    pause = run.options.pause_text
    await start_cluster(run)
    await install_controller(run)
    await deploy(
        run,
        NAMESPACE,
        manifests(run.options),
        title="Deploy the frontend as a blue-green Rollout",
        say=f"In the namespace {NAMESPACE}: two Services over the frontend's pods, {ACTIVE} (production) and "
        f"{PREVIEW}, and the seed's frontend as a Rollout of {REPLICAS} pods with the blueGreen strategy. "
        "autoPromotionEnabled: false — a new version waits behind the preview until someone promotes it; "
        f"scaleDownDelaySeconds: {delay} — how long the old pods stay up after the switch. The controller "
        "adds the revision's rollouts-pod-template-hash to both Services' selectors.",
        look="the tree: one revision, marked stable and active.",
    )
    observer = run.watch
    stable_hash = str(observer.status().get("stableRS") or "")
    old = version(run.stable_image)
    new_image = image(next_colour(run.stable_image))
    new = version(new_image)
    async with run.step(
        "Send production traffic through the active Service",
        say=f"The demo's load test sends {run.options.rps:g} requests a second to {NAMESPACE}/{ACTIVE}, the "
        "Service users reach: this is production traffic.",
        look="the traffic lines: every answer from the active version.",
    ) as handle:
        traffic = await run.send_traffic(f"{NAMESPACE}/{ACTIVE}")
        await run.show_live()
        await run.wait_traffic(2.0)
        check_all_on(run, run.window(run.now() - 2.0), old)
        handle.note = traffic.test.target
    run.show_tree()
    async with run.step(
        f"Release {new}: a full set of pods behind the preview",
        say=f"`rollouts set image` changes the template to {new}. The controller starts a second ReplicaSet at "
        f"full size ({REPLICAS} pods: no previewReplicaCount), points {PREVIEW} at it, and — auto-promotion "
        f"being off — pauses once they are available (BlueGreenPause). {ACTIVE} still selects {old}'s pods.",
        look="a second revision marked preview, the first still active; Status: Paused (BlueGreenPause).",
    ) as handle:
        released_at = run.now()
        new_hash = await release(run, new_image)

        def paused() -> Obj | None:
            status = observer.status()
            if status.get("abort"):
                raise_outcome(
                    f"the Rollout aborted instead of pausing for the preview: {status.get('message')}"
                )
            reasons = [c.get("reason") for c in status.get("pauseConditions") or []]
            return (
                status if "BlueGreenPause" in reasons and status.get("currentPodHash") == new_hash else None
            )

        await observer.until(paused, "the pause for the preview (BlueGreenPause)", STEP_TIMEOUT)
        handle.note = f"paused with {REPLICAS} {new} pods behind {PREVIEW}"
    run.show_tree()
    async with run.step(
        f"Look at the preview for {pause}, production untouched",
        say=f"Now {new} can be tried by whoever uses {PREVIEW} — testers, smoke tests, a prePromotionAnalysis — "
        f"while every production request still goes to {old}. The demo sends a few requests to the preview, "
        f"then waits out {pause} as a person would before promoting.",
        look=f"the traffic lines: still {old} only.",
    ) as handle:
        paused_at = run.now()
        active, preview = (
            await selector_hash(run, NAMESPACE, ACTIVE),
            await selector_hash(run, NAMESPACE, PREVIEW),
        )
        run.check(
            active == stable_hash and preview == new_hash,
            f"{ACTIVE} selects {old} (revision {active}), {PREVIEW} selects {new} (revision {preview})",
            f"expected {ACTIVE} on revision {stable_hash} and {PREVIEW} on {new_hash}, "
            f"they select {active or 'no revision'} and {preview or 'no revision'}",
        )
        seen = await look_at_preview(run)
        run.check(
            seen.answered >= 5 and seen.errors == 0 and {v.version for v in seen.versions} == {new},
            f"the preview serves {new}: {shares(seen)}",
            f"expected every answer through {PREVIEW} from {new}, saw {shares(seen)}",
        )
        await run.wait_traffic(max(0.0, run.options.pause - (run.now() - paused_at)))
        production = run.window(released_at)
        run.check(
            production.answered >= 10 and production.percent(old) == 100.0 and production.errors == 0,
            f"production stayed on {old} since the release: {production.describe()}",
            f"expected every production request on {old} while {new} was in preview, saw {production.describe()}",
        )
        handle.note = f"previewed for {run.now() - paused_at:.1f}s"
    async with run.step(
        "Promote: the active Service switches to the new version",
        say="`rollouts promote` (what `just rollout-promote` runs) clears the pause: the controller points "
        f"{ACTIVE} at {new}'s revision — one selector change, so every new connection goes to {new} at once, "
        f"with {new}'s pods already up and ready. {old}'s pods stay for {delay}s, in case of a rollback.",
        look=f"the traffic lines turning {new} in one go, with no errors; the new revision marked active.",
    ) as handle:
        run.narrator.commands(
            "The same as:",
            [
                f"just rollout-promote {NAME} {NAMESPACE}",
                f"# or: {rollouts_command('promote', NAME, namespace=NAMESPACE)}",
            ],
        )
        promoted_at = run.now()
        await run.operation("promote")
        run.mark("promote", "promoted", "by the demo (rollouts promote)")

        def switched() -> bool:
            return str((observer.status().get("blueGreen") or {}).get("activeSelector") or "") == new_hash

        await observer.until(switched, f"{ACTIVE} to switch to revision {new_hash}", STEP_TIMEOUT)
        switched_at = run.now()
        kept = observer.counts().get(stable_hash, (0, 0))[0]
        run.check(
            kept == REPLICAS,
            f"{old} keeps its {REPLICAS} pods after the switch, for scaleDownDelaySeconds ({delay}s)",
            f"expected {old} to keep {REPLICAS} pods for {delay}s after the switch, it has {kept}",
        )

        def moved() -> float | None:
            seen = run.window(promoted_at)
            last = seen.last_seen.get(old, promoted_at)
            return last if new in seen.by_version and run.now() - last >= QUIET else None

        last_old = await observer.until(
            moved, f"{QUIET:g} s without a production answer from {old}", STEP_TIMEOUT
        )
        across = run.window(promoted_at)
        first_new = across.first_seen.get(new, last_old)
        overlap = max(0.0, last_old - first_new)
        run.check(
            overlap <= OVERLAP and across.errors == 0,
            f"the switch moved all production traffic at once: last {old} request {last_old - promoted_at:.2f}s "
            f"after the promotion, first {new} {first_new - promoted_at:.2f}s; both answered for {overlap:.2f}s; "
            f"errors {across.errors} of {across.requests} requests",
            f"expected the switch to move every request at once with no error: {old} and {new} both answered "
            f"for {overlap:.2f}s (at most {OVERLAP:g}s), {across.describe()}",
        )
        handle.note = f"switched {switched_at - promoted_at:.1f}s after the promotion, 0 errors"
    run.show_tree()
    async with run.step(
        f"Scale-down delay: {old}'s pods go after {delay}s",
        say=f"Until the delay is over, `rollouts undo` would switch back to {old}'s running pods at once. "
        f"Then the controller scales {old}'s ReplicaSet to 0; {new} is the stable revision.",
        look="the old revision's delay:Ns counting down, then ScaledDown; Status: Healthy.",
    ) as handle:

        def scaled_down() -> bool:
            return observer.counts().get(stable_hash, (0, 0))[0] == 0

        await observer.until(scaled_down, f"{old}'s ReplicaSet to scale down", delay + STEP_TIMEOUT)
        after = run.now() - switched_at
        run.mark("scaledown", f"{old} scaled down", f"{after:.1f}s after the switch")
        run.check(
            delay - 1.5 <= after <= delay + 10.0,
            f"{old} scaled down {after:.1f}s after the switch (scaleDownDelaySeconds {delay})",
            f"expected {old} to scale down {delay}s after the switch, it did after {after:.1f}s",
        )
        await wait_healthy(run, new_hash)
        await pods_gone(run, stable_hash)
        check_all_on(run, run.window(last_old + 0.5), new)
        handle.note = f"Healthy on {new}"
    run.show_tree()


SPEC = ScenarioSpec(
    name="bluegreen",
    title="blue-green: a preview, then all traffic switches at once",
    description="The frontend as a blue-green Rollout. A new version starts at full size behind a preview "
    "Service while production traffic stays on the old one; once promoted, the active Service switches "
    "every request at once, with no errors, and the old pods go after a short scale-down delay.",
    main=main,
)
