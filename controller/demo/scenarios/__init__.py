"""The scenarios, by name, in the order docs/demos.md tells them."""

from __future__ import annotations

from controller.demo.engine import ScenarioSpec
from controller.demo.scenarios import abort, basic, bluegreen, gitops, manual, prometheus, weighted

SCENARIOS: dict[str, ScenarioSpec] = {
    spec.name: spec
    for spec in (
        basic.SPEC,
        manual.SPEC,
        abort.SPEC,
        prometheus.SPEC,
        gitops.SPEC,
        bluegreen.SPEC,
        weighted.SPEC,
    )
}

__all__ = ["SCENARIOS"]
