"""The weighted scenario: a canary routed by ingress-nginx (trafficRouting.nginx) on 2 pods sends
10%, then 30% of the requests through the Ingress to one canary pod — measured, and checked against
the binomial spread — routes by header on request, and ends Healthy with all traffic on the new
version. The report shows each weight."""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import Cluster
from tests.e2e.demo import Demo, check_common_report, marker_labels, rendered

pytestmark = pytest.mark.slow


def test_weighted_splits_by_the_ingress_not_by_pods(demo: Demo, tmp_path: Path) -> None:
    demo.run("weighted")
    demo.assert_passed("weighted")
    out = demo.output
    assert "kubectl apply -f " in out and "weighted.yaml" in out
    assert "with Host: frontend.weighted.test" in out
    narration = " ".join(out.split())  # the narration is wrapped
    assert "splitting by pods" in narration and "could only give 0, 50 or 100%" in narration
    for weight in (10, 30):
        assert f"✔ frontend-frontend-canary has canary-weight {weight}; pods: 1 canary, 2 stable" in out
        # the demo's own verdict, checked again here from the counts it printed
        found = re.search(rf"✔ at {weight}%: green answered (\d+) of (\d+) requests, .*; errors 0", out)
        assert found is not None, out[-4000:]
        hits, total = int(found.group(1)), int(found.group(2))
        assert total >= 300
        assert abs(hits - total * weight / 100) <= 4 * math.sqrt(total * weight / 100 * (1 - weight / 100))
    assert "✔ X-Canary: always → green 100% (" in out and "X-Canary: never → blue 100% (" in out
    assert re.search(r"✔ frontend-stable selects green \(revision \w+\), canary-weight back to 0", out)
    assert "✔ all traffic on green: green 100%" in out
    assert "Healthy on green" in out
    assert not demo.cluster_running()

    dom = rendered(demo.report, tmp_path)
    svg = check_common_report(dom, "weighted", ["blue", "green"])
    assert marker_labels(svg, "weight") == ["weight 10%", "weight 30%", "weight 100%", "weight 0%"]
    assert marker_labels(svg, "pause") == ["paused", "paused"]
    steps = marker_labels(svg, "step")
    assert "step 1/5: setWeight 10" in steps and "step 3/5: setWeight 30" in steps
    assert "Healthy" in marker_labels(svg, "phase")
    assert "Healthy" in dom.one("pre", id="final-tree").text()


def test_weighted_on_a_cluster_without_ingress_nginx_fails_fast(fresh_cluster: Cluster, demo: Demo) -> None:
    # another cluster (a context of the kubeconfig, not the one the demo starts) with no ingress-nginx
    status, _, _ = fresh_cluster.request("DELETE", "/apis/networking.k8s.io/v1/ingressclasses/nginx")
    assert status == 200
    config = yaml.safe_load(fresh_cluster.kubeconfig.read_text())
    config["contexts"][0]["name"] = config["current-context"] = "lab"
    kubeconfig = demo.root / "lab-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    started = time.monotonic()
    proc = subprocess.run(
        [*demo.argv("weighted"), "--context", "lab", "--kubeconfig", str(kubeconfig)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert time.monotonic() - started < 15.0
    assert (
        'the weighted scenario needs ingress-nginx on context "lab": no IngressClass with controller '
        "k8s.io/ingress-nginx" in proc.stderr
    )
    assert not demo.report.exists()
