"""prometheus: a real Prometheus measures the canary's success rate; the analysis promotes a good
version and rolls a ``bad-`` one back with no human action."""

from __future__ import annotations

import yaml

from controller.demo.engine import Run, ScenarioSpec
from controller.demo.options import DEMOS, NAMESPACE, ROLLOUT, DemoOptions
from controller.demo.report import Measurement
from controller.demo.scenarios.common import (
    STEP_TIMEOUT,
    Obj,
    back_on,
    check_all_on,
    image,
    next_colour,
    prepare,
    release,
    rollouts_command,
    version,
    wait_degraded,
    wait_healthy,
)
from controller.kube import resource_path

TEMPLATE_FILE = DEMOS / "prometheus" / "analysis-template.yaml"
TEMPLATE = "success-rate"
FIELD_MANAGER = "rollouts-demo"
COUNT = 3
MIN_INTERVAL = 2.0


def interval(options: DemoOptions) -> float:
    """Seconds between measurements: the pause spread over the measurements."""
    return max(MIN_INTERVAL, round(options.pause / COUNT))


def canary_steps(options: DemoOptions) -> list[Obj]:
    analysis = {
        "templates": [{"templateName": TEMPLATE}],
        "args": [
            {"name": "namespace", "value": NAMESPACE},
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
        ],
    }
    return [{"setWeight": 50}, {"analysis": analysis}, {"setWeight": 100}]


def analysis_template(options: DemoOptions, prometheus_url: str) -> Obj:
    """demos/prometheus/analysis-template.yaml with the Prometheus address and the interval set."""
    template: Obj = yaml.safe_load(TEMPLATE_FILE.read_text())
    metric = template["spec"]["metrics"][0]
    metric["interval"] = f"{interval(options):g}s"
    metric["count"] = COUNT
    metric["provider"]["prometheus"]["address"] = prometheus_url
    return template


async def start_prometheus(run: Run) -> None:
    async with run.step(
        "Start Prometheus and add the AnalysisTemplate",
        say="A real Prometheus server (Debian's package), scraping every pod of the namespace services "
        "each second through localcluster's service discovery. The AnalysisTemplate success-rate asks it for "
        "the share of the canary's /color answers that are not 5xx, and fails below 95%.",
    ) as handle:
        if run.target.local:
            run.narrator.commands(
                "The same as:", ["rollouts prometheus up --scrape-interval 1s --namespace services"]
            )
        started = await run.target.start_prometheus()
        assert run.target.prometheus_url is not None
        await run.connect()
        body = analysis_template(run.options, run.target.prometheus_url)
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        await run.client.patch(
            resource_path("v1", "namespaces", name=NAMESPACE),
            namespace,
            patch_type="apply",
            field_manager=FIELD_MANAGER,
        )
        path = resource_path("argoproj.io/v1alpha1", "analysistemplates", namespace=NAMESPACE, name=TEMPLATE)
        await run.client.patch(path, body, patch_type="apply", field_manager=FIELD_MANAGER, force=True)
        metric = body["spec"]["metrics"][0]
        handle.note = f"Prometheus {started}; {COUNT} measurements, every {metric['interval']}"
        run.mark("setup", "Prometheus and the AnalysisTemplate ready")


def measurements(run: Run, pod_hash: str) -> list[Measurement]:
    out = []
    for analysis_run in run.watch.runs_of(pod_hash):
        name = str((analysis_run.get("metadata") or {}).get("name") or "")
        for result in (analysis_run.get("status") or {}).get("metricResults") or []:
            for m in result.get("measurements") or []:
                out.append(
                    Measurement(
                        run=name,
                        metric=str(result.get("name") or ""),
                        phase=str(m.get("phase") or ""),
                        value=str(m.get("value") or m.get("message") or ""),
                        at=str(m.get("finishedAt") or m.get("startedAt") or ""),
                    )
                )
    return out


def show_measurements(run: Run, found: list[Measurement]) -> None:
    for m in found:
        run.narrator.info(f"measurement {m.at}: success rate {m.value} → {m.phase}")
    run.record.measurements.extend(found)


async def run_phase(run: Run, pod_hash: str, phases: tuple[str, ...], within: float) -> Obj:
    """Until an AnalysisRun of ``pod_hash`` reaches one of ``phases``."""

    def done() -> Obj | None:
        for analysis_run in run.watch.runs_of(pod_hash):
            if ((analysis_run.get("status") or {}).get("phase") or "") in phases:
                return analysis_run
        return None

    found: Obj = await run.watch.until(
        done, f"the analysis of revision {pod_hash} to end {'/'.join(phases)}", within
    )
    return found


async def main(run: Run) -> None:
    await prepare(run, canary_steps(run.options), before_migration=start_prometheus)
    good_image = image(next_colour(run.stable_image))
    bad_image = image(f"bad-{next_colour(good_image)}")
    good, bad = version(good_image), version(bad_image)
    window = interval(run.options) * (COUNT - 1) + 5.0
    async with run.step(
        f"Release {good}: the analysis measures it",
        say=f"Steps: 50%, then an analysis step — {COUNT} measurements of the canary's success rate, "
        f"{interval(run.options):g}s apart — then 100%. While the analysis runs, the Rollout waits; if every "
        "measurement is at least 95%, it goes on by itself.",
        look="an AnalysisRun (\u03b1) under the new revision, its ✔ count growing.",
    ) as handle:
        good_hash = await release(run, good_image)
        passed = await run_phase(
            run, good_hash, ("Successful", "Failed", "Error", "Inconclusive"), window + STEP_TIMEOUT
        )
        found = measurements(run, good_hash)
        show_measurements(run, found)
        phase = str((passed.get("status") or {}).get("phase") or "")
        run.check(
            phase == "Successful"
            and sum(m.phase == "Successful" for m in found) >= COUNT
            and not any(m.phase == "Failed" for m in found),
            f"the analysis of {good} passed: {', '.join(f'{m.value} {m.phase}' for m in found)}",
            f"expected the analysis of {good} to pass, it ended {phase}: {[(m.value, m.phase) for m in found]}",
        )
        await wait_healthy(run, good_hash)
        healthy_at = run.now()
        await run.wait_traffic(2.0)
        check_all_on(run, run.window(healthy_at + 0.5), good)
        handle.note = f"promoted by the analysis; Healthy on {good}"
    run.show_tree()
    async with run.step(
        f"Release {bad}: the analysis fails it",
        say=f"{bad} answers about 85% of requests with HTTP 500, so its success rate is about 0.15. The first "
        "measurement fails the AnalysisRun, and a failed analysis aborts the Rollout: no one has to act.",
        look="the AnalysisRun turning ✖ Failed, Status: Degraded, the canary revision scaled to 0.",
    ) as handle:
        bad_hash = await release(run, bad_image)
        failed = await run_phase(
            run, bad_hash, ("Failed", "Error", "Successful", "Inconclusive"), window + STEP_TIMEOUT
        )
        failed_at = run.now()
        found = measurements(run, bad_hash)
        show_measurements(run, found)
        phase = str((failed.get("status") or {}).get("phase") or "")
        run.check(
            phase == "Failed" and any(m.phase == "Failed" for m in found),
            f"the analysis of {bad} failed: {', '.join(m.value for m in found)}",
            f"expected the analysis of {bad} to fail, it ended {phase}",
        )
        await back_on(run, good_hash)
        rollout = await wait_degraded(run)
        message = str((rollout.get("status") or {}).get("message") or "")
        run.check(
            "success-rate" in message,
            f"aborted by the analysis, with no human action: {message}",
            f"expected the Rollout's message to name the failed metric success-rate, it says {message!r}",
        )

        def quiet() -> float | None:
            seen = run.window(failed_at)
            last = seen.last_seen.get(bad, failed_at)
            return last if run.now() - last >= 2.0 else None

        last_bad = await run.watch.until(quiet, f"2 s without an answer from {bad}", STEP_TIMEOUT)
        run.check(
            last_bad - failed_at <= 10.0,
            f"traffic back on {good} {max(0.0, last_bad - failed_at):.1f}s after the analysis failed",
            f"{bad} still answered {last_bad - failed_at:.1f}s after the analysis failed",
        )
        handle.note = f"rolled back to {good} by the analysis"
    run.show_tree()
    async with run.step(
        f"Undo: back to {good} in the spec too",
        say=f"After an abort, spec.template still names {bad}, so the Rollout stays Degraded. "
        f"`rollouts undo` puts the previous revision's template back; as that is the stable revision, "
        "the controller goes straight to Healthy, with no steps (a fast rollback).",
        look="Status: Healthy; no new pods were needed.",
    ) as handle:
        run.narrator.commands("The same as:", [rollouts_command("undo", ROLLOUT)])
        result = await run.operation("undo")
        await wait_healthy(run, good_hash)
        healthy_at = run.now()
        await run.wait_traffic(2.0)
        check_all_on(run, run.window(healthy_at + 0.5), good)
        handle.note = result.message
    run.show_tree()


SPEC = ScenarioSpec(
    name="prometheus",
    title="analysis with a real Prometheus promotes a good version and rolls back a bad one",
    description="The canary's success rate, measured by a real Prometheus server scraping the demo app, "
    "decides instead of a person: a good version passes its analysis and is promoted; a bad- version fails "
    "it and is rolled back with no human action. The measurements are shown.",
    main=main,
)
