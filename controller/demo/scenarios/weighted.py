"""weighted: a canary whose traffic share is set by the Ingress, not by the pod count.

Through ingress-nginx (``trafficRouting.nginx``) 2 replicas go 10% → 30% → 100%, where a plain
Service could only split them 0/50/100. The demo measures the split at each weight and checks it
against the binomial spread of the number of requests it sent.
"""

from __future__ import annotations

import asyncio
import math

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
    release,
    start_cluster,
    version,
    wait_healthy,
    wait_paused,
)
from controller.demo.scenarios.standalone import (
    REPLICAS,
    deploy,
    frontend_rollout,
    ingress,
    namespace_object,
    pods_gone,
    scale_down_delay,
    selector_hash,
    service,
    wait_for_address,
)
from controller.demo.timeline import Window
from controller.kube import resource_path
from controller.loadtest import Summary, run_load_test

NAMESPACE = "weighted"
STABLE, CANARY = "frontend-stable", "frontend-canary"
INGRESS = "frontend"
HOST = "frontend.weighted.test"
#: the Ingress the controller writes next to ``INGRESS`` (Argo's name for it)
CANARY_INGRESS = f"frontend-{INGRESS}-canary"
PREFIX = "nginx.ingress.kubernetes.io"
#: the header that picks a side whatever the weight (ingress-nginx's canary-by-header)
HEADER = "X-Canary"
WEIGHTS = (10, 30)
#: the pauses are at least this long here, so that each weight gets enough requests
MIN_PAUSE = 5.0
#: the fewest answers a weight's split is judged on, and how far from the weight it may be
MIN_REQUESTS = 300
SIGMAS = 4.0
#: the most requests a second the demo sends to reach MIN_REQUESTS in a short pause
MAX_RPS = 200.0
#: seconds of each header-route probe
PROBE_SECONDS = 1.0


def pause_seconds(options: DemoOptions) -> float:
    return max(options.pause, MIN_PAUSE)


def pause_text(options: DemoOptions) -> str:
    return options.pause_text if options.pause >= MIN_PAUSE else f"{MIN_PAUSE:g}s"


def traffic_rate(options: DemoOptions) -> float:
    """``--rps``, or more: enough for twice MIN_REQUESTS in a pause (less its first and last half second)."""
    window = pause_seconds(options) - 1.0
    return float(max(options.rps, min(MAX_RPS, math.ceil(2 * MIN_REQUESTS / window))))


def canary_steps(options: DemoOptions) -> list[Obj]:
    def pause() -> Obj:
        return {"pause": {"duration": pause_text(options)}}

    return [{"setWeight": WEIGHTS[0]}, pause(), {"setWeight": WEIGHTS[1]}, pause(), {"setWeight": 100}]


def strategy(options: DemoOptions) -> Obj:
    return {
        "canary": {
            "canaryService": CANARY,
            "stableService": STABLE,
            "trafficRouting": {
                "nginx": {
                    "stableIngress": INGRESS,
                    "additionalIngressAnnotations": {"canary-by-header": HEADER},
                }
            },
            "scaleDownDelaySeconds": scale_down_delay(pause_seconds(options)),
            "steps": canary_steps(options),
        }
    }


def manifests(options: DemoOptions) -> list[Obj]:
    return [
        namespace_object(NAMESPACE),
        service(NAMESPACE, STABLE),
        service(NAMESPACE, CANARY),
        ingress(NAMESPACE, INGRESS, HOST, STABLE),
        frontend_rollout(NAMESPACE, strategy(options)),
    ]


def binomial_band(total: int, weight: int, sigmas: float = SIGMAS) -> tuple[float, float]:
    """The canary answers expected of ``total`` requests at ``weight`` percent, plus or minus ``sigmas`` standard deviations."""
    p = weight / 100.0
    sigma = math.sqrt(total * p * (1.0 - p))
    return total * p - sigmas * sigma, total * p + sigmas * sigma


def check_weight(run: Run, seen: Window, new: str, old: str, weight: int) -> None:
    """The share ``new`` answered is ``weight`` percent, within the binomial spread of the sample."""
    total, hits = seen.answered, seen.by_version.get(new, 0)
    if total < MIN_REQUESTS:
        run.check(
            False,
            "",
            f"at {weight}% only {total} requests were answered, fewer than the {MIN_REQUESTS} needed to "
            f"measure the split: use a longer --pause or a higher --rps ({seen.describe()})",
        )
    low, high = binomial_band(total, weight)
    strangers = sorted(set(seen.by_version) - {new, old})
    run.check(
        low <= hits <= high and not strangers and seen.errors == 0,
        f"at {weight}%: {new} answered {hits} of {total} requests, {100.0 * hits / total:.1f}%, within "
        f"{SIGMAS:g} sigma of {weight}% ({100.0 * low / total:.1f}-{100.0 * high / total:.1f}%); "
        f"errors {seen.errors}",
        f"at {weight}% expected {new} to answer {100.0 * low / total:.1f}-{100.0 * high / total:.1f}% of the "
        f"{total} requests ({SIGMAS:g} sigma), saw {seen.describe()}",
    )


async def canary_weight(run: Run) -> str:
    """The ``canary-weight`` the controller wrote on the canary Ingress."""
    path = resource_path("networking.k8s.io/v1", "ingresses", namespace=NAMESPACE, name=CANARY_INGRESS)
    found = await run.client.get(path)
    return str(((found.get("metadata") or {}).get("annotations") or {}).get(f"{PREFIX}/canary-weight"))


async def check_routing(run: Run, weight: int, new_hash: str, stable_hash: str) -> None:
    """The Ingress is at ``weight`` while the pods stay 1 canary, 2 stable."""
    written = await canary_weight(run)
    counts = run.watch.counts()
    canary_pods, stable_pods = counts.get(new_hash, (0, 0))[1], counts.get(stable_hash, (0, 0))[1]
    run.check(
        written == str(weight) and canary_pods == 1 and stable_pods == REPLICAS,
        f"{CANARY_INGRESS} has canary-weight {written}; pods: {canary_pods} canary, {stable_pods} stable",
        f"expected canary-weight {weight} with 1 canary and {REPLICAS} stable pods, saw canary-weight "
        f"{written}, {canary_pods} canary and {stable_pods} stable pods",
    )


def shares(summary: Summary) -> str:
    return ", ".join(f"{v.version} {v.percent:.0f}% ({v.requests})" for v in summary.versions) or "no answers"


async def check_header_route(run: Run, new: str, old: str) -> None:
    """``X-Canary: always`` reaches the canary, ``never`` the stable version, whatever the weight."""
    assert run.traffic is not None
    target, host = run.traffic.test.target, run.traffic.test.headers
    run.narrator.commands(
        "The same as:",
        [
            f"rollouts load-test --ingress {NAMESPACE}/{INGRESS} -H '{HEADER}: {v}'"
            for v in ("always", "never")
        ],
    )
    always, never = await asyncio.gather(
        *(
            run_load_test(
                target, rps=run.options.rps, duration=PROBE_SECONDS, headers={**host, HEADER: value}
            )
            for value in ("always", "never")
        )
    )
    run.check(
        always.answered > 0
        and never.answered > 0
        and {v.version for v in always.versions} == {new}
        and {v.version for v in never.versions} == {old}
        and always.errors + never.errors == 0,
        f"{HEADER}: always → {shares(always)}; {HEADER}: never → {shares(never)}",
        f"expected {HEADER}: always to reach only {new} and never only {old}, saw {shares(always)} and "
        f"{shares(never)}",
    )


async def wait_resumed(run: Run, next_index: int, within: float) -> float:
    """Until the pause ends (the Rollout at step ``next_index``); the run time it did."""
    observer = run.watch

    def resumed() -> bool:
        status = observer.status()
        if status.get("abort"):
            raise OutcomeError(f"the Rollout aborted during the pause: {status.get('message')}")
        return int(status.get("currentStepIndex") or 0) >= next_index and not status.get("pauseConditions")

    await observer.until(resumed, "the pause to end", within + STEP_TIMEOUT)
    return run.now()


async def main(run: Run) -> None:
    pause = pause_text(run.options)
    delay = scale_down_delay(pause_seconds(run.options))
    rate = traffic_rate(run.options)
    await start_cluster(run)
    await install_controller(run)
    await deploy(
        run,
        NAMESPACE,
        manifests(run.options),
        title="Deploy the frontend as a canary behind an Ingress",
        say=f"In the namespace {NAMESPACE}: the Services {STABLE} and {CANARY}, the Ingress {INGRESS} (class "
        f"nginx, host {HOST}, to {STABLE}), and the seed's frontend as a Rollout of {REPLICAS} pods whose canary "
        f"uses trafficRouting.nginx with that Ingress. Its steps: setWeight 10, pause {pause}, setWeight 30, "
        f"pause {pause}, setWeight 100. The controller adds each revision's hash to the Services' selectors and "
        f"writes a second, canary Ingress ({CANARY_INGRESS}) to {CANARY}, at weight 0 for now.",
        look="the tree: one revision, marked stable.",
    )
    await wait_for_address(run, NAMESPACE, INGRESS)
    observer = run.watch
    stable_hash = str(observer.status().get("stableRS") or "")
    old = version(run.stable_image)
    new_image = image(next_colour(run.stable_image))
    new = version(new_image)
    async with run.step(
        "Send traffic through the Ingress",
        say=f"The demo's load test sends {rate:g} requests a second to the Ingress's address with the header "
        f"Host: {HOST}, as a browser would for that name. For each request ingress-nginx picks the canary with "
        f"the probability its weight gives, else the stable Service. (Faster than --rps {run.options.rps:g} when "
        f"the pause is short: each weight needs at least {MIN_REQUESTS} answers to be judged.)",
        look="the traffic lines: every answer from the stable version.",
    ) as handle:
        traffic = await run.send_traffic(ingress=f"{NAMESPACE}/{INGRESS}", rps=rate)
        await run.show_live()
        await run.wait_traffic(2.0)
        check_all_on(run, run.window(run.now() - 2.0), old)
        handle.note = f"{traffic.test.target} with Host: {HOST}, {rate:g} requests a second"
    run.show_tree()
    async with run.step(
        f"Release {new}",
        say=f"`rollouts set image` changes the template to {new}; the controller makes its ReplicaSet and starts "
        "step 1.",
    ) as handle:
        new_hash = await release(run, new_image)
        handle.note = f"new revision {new_hash}"
    async with run.step(
        f"Step 1, setWeight {WEIGHTS[0]}: one canary pod, {WEIGHTS[0]}% of the requests",
        say=f"With {REPLICAS} replicas, splitting by pods — what a plain Service does, as in the basic scenario — "
        "could only give 0, 50 or 100%. Here the pods and the traffic are decoupled: the canary ReplicaSet gets "
        f"ceil({WEIGHTS[0]}% of {REPLICAS}) = 1 pod, the stable one keeps its {REPLICAS} (so an abort is instant), "
        f"and the controller writes canary-weight: {WEIGHTS[0]} on {CANARY_INGRESS}.",
        look=f"about {WEIGHTS[0]}% of the answers from {new}; Status: Paused.",
    ) as handle:
        await wait_paused(run, 1)
        paused_at = run.now()
        await check_routing(run, WEIGHTS[0], new_hash, stable_hash)
        handle.note = f"1 canary pod, {REPLICAS} stable pods, canary-weight {WEIGHTS[0]}"
    run.show_tree()
    async with run.step(
        f"Step 2, pause {pause}: measure the split at {WEIGHTS[0]}%",
        say=f"Each request goes to the canary with probability {WEIGHTS[0] / 100:g}, so of n requests it answers "
        f"about {WEIGHTS[0] / 100:g}*n, give or take the binomial spread, sigma = sqrt(n*p*(1-p)); the demo checks "
        f"that the count is within {SIGMAS:g} sigma (a split of 0 or 50% fails; the right one fails about once in 15,000 runs).",
    ) as handle:
        resumed_at = await wait_resumed(run, 2, pause_seconds(run.options))
        seen = run.window(paused_at + 0.5, resumed_at - 0.2)
        check_weight(run, seen, new, old, WEIGHTS[0])
        handle.note = f"{new} {seen.percent(new):.1f}% of {seen.answered}"
    async with run.step(
        f"Step 3, setWeight {WEIGHTS[1]}: the same pod, {WEIGHTS[1]}% of the requests",
        say=f"ceil({WEIGHTS[1]}% of {REPLICAS}) is still 1 pod: only the Ingress's weight changes. The canary "
        f"Ingress also carries canary-by-header: {HEADER}, so a request with {HEADER}: always goes to the canary "
        "and one with never to the stable version, whatever the weight — how testers reach a canary on purpose.",
        look=f"about {WEIGHTS[1]}% of the answers from {new}.",
    ) as handle:
        await wait_paused(run, 3)
        paused_at = run.now()
        await check_routing(run, WEIGHTS[1], new_hash, stable_hash)
        await check_header_route(run, new, old)
        handle.note = f"canary-weight {WEIGHTS[1]}; {HEADER} routes by header"
    async with run.step(f"Step 4, pause {pause}: measure the split at {WEIGHTS[1]}%") as handle:
        resumed_at = await wait_resumed(run, 4, pause_seconds(run.options))
        seen = run.window(paused_at + 0.5, resumed_at - 0.2)
        check_weight(run, seen, new, old, WEIGHTS[1])
        handle.note = f"{new} {seen.percent(new):.1f}% of {seen.answered}"
    async with run.step(
        "Step 5, setWeight 100, then the new version is stable",
        say=f"The canary scales to {REPLICAS} pods and gets all the requests; with the steps done, {STABLE} "
        f"switches to {new}'s pods, the weight goes back to 0, and {old}'s pods go after scaleDownDelaySeconds "
        f"({delay}s).",
        look=f"Status: Healthy; every answer from {new}.",
    ) as handle:

        def promoted() -> bool:
            status = observer.status()
            return status.get("stableRS") == new_hash and status.get("phase") == "Healthy"

        await observer.until(promoted, f"{new} to become the stable revision", STEP_TIMEOUT)
        promoted_at = run.now()
        await wait_healthy(run, new_hash, within=delay + STEP_TIMEOUT)
        await pods_gone(run, stable_hash)
        stable_selects, written = await selector_hash(run, NAMESPACE, STABLE), await canary_weight(run)
        run.check(
            stable_selects == new_hash and written == "0",
            f"{STABLE} selects {new} (revision {stable_selects}), canary-weight back to {written}",
            f"expected {STABLE} on revision {new_hash} and canary-weight 0, saw {stable_selects} and {written}",
        )
        check_all_on(run, run.window(promoted_at + 0.5), new)
        handle.note = f"Healthy on {new}"
    run.show_tree()


SPEC = ScenarioSpec(
    name="weighted",
    title="a canary split by the Ingress: 10% → 30% → 100% on 2 pods",
    description="The frontend as a canary behind ingress-nginx (trafficRouting.nginx). With 2 pods a plain "
    "Service could only split 0/50/100%; here the Ingress sends 10%, then 30% of the requests to one canary pod, "
    "measured and checked against the binomial spread, a header routes testers to either side, and the new "
    "version ends with all the traffic.",
    main=main,
)
