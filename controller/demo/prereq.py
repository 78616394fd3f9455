"""Prerequisites: everything a scenario needs, checked before anything starts.

Each missing piece is one :class:`Problem` saying what is missing and how to get it; the demo
prints them all and stops (exit 3) before touching any cluster.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from controller.demo.options import LOCALCLUSTER, ROOT, DemoOptions
from controller.kube import ApiClient, ConfigError, KubeConfig, KubeError, load_config, load_kubeconfig

SETUP = "run `./dev setup` (or `just setup`): it installs the project's tools into .venv"
PROMETHEUS_FIX = (
    "install it with `sudo apt-get install -y prometheus` (Debian/Ubuntu; any Prometheus 2.x on PATH works), "
    "or pass --prometheus-url with the address of a Prometheus that scrapes the cluster's pods"
)
#: seconds to wait for a cluster's /version before calling it down
REACH_TIMEOUT = 5.0
#: the playbooks a scenario runs, where not all three (these deploy their own frontend)
PLAYBOOKS = {"bluegreen": ("install.yml",), "weighted": ("install.yml",)}
#: what an IngressClass served by ingress-nginx names as its controller
INGRESS_NGINX = "k8s.io/ingress-nginx"


@dataclass(frozen=True)
class Problem:
    """One missing prerequisite."""

    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.what}: {self.fix}"


def find_tool(name: str) -> str | None:
    """A command next to this Python (.venv/bin) first, then on PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which(name)


def check_tools(options: DemoOptions) -> list[Problem]:
    """The programs and files the scenario needs on this machine."""
    problems: list[Problem] = []
    for playbook in PLAYBOOKS.get(options.scenario, ("install.yml", "demo.yml", "migrate.yml")):
        if not (ROOT / "playbooks" / playbook).is_file():
            problems.append(
                Problem(
                    f"the playbook playbooks/{playbook} is not in {ROOT}",
                    "run the demo from a checkout of the project (git clone, then ./dev demo)",
                )
            )
    if find_tool("ansible-playbook") is None:
        problems.append(Problem("ansible-playbook is not installed", SETUP))
    elif find_spec("ansible_collections.kubernetes.core") is None:
        problems.append(Problem("the Ansible collection kubernetes.core is not installed", SETUP))
    if options.scenario == "prometheus" and options.prometheus_url is None:
        if not options.local:
            problems.append(
                Problem(
                    f"the prometheus scenario on context {options.context!r} needs a Prometheus",
                    "pass --prometheus-url with the address of a Prometheus that scrapes the services namespace "
                    "(the demo starts one itself only on localcluster)",
                )
            )
        elif shutil.which("prometheus") is None:
            problems.append(Problem("the prometheus binary is not installed (not on PATH)", PROMETHEUS_FIX))
    if options.scenario == "gitops":
        if shutil.which("git") is None:
            problems.append(
                Problem("git is not installed (not on PATH)", "install it with `sudo apt-get install -y git`")
            )
        if find_tool("ansible-pull") is None:
            problems.append(Problem("ansible-pull is not installed (it comes with ansible-core)", SETUP))
    if options.report is not None and not options.report.parent.exists():
        problems.append(
            Problem(
                f"the report's directory {options.report.parent} does not exist",
                "create it, or name another file",
            )
        )
    return problems


def cluster_config(options: DemoOptions) -> KubeConfig:
    """The kubeconfig context of a cluster the demo does not start (``--context`` other than localcluster)."""
    if options.kubeconfig:
        return load_kubeconfig(options.kubeconfig, context=options.context)
    return load_config(None, context=options.context)


async def check_cluster(options: DemoOptions) -> list[Problem]:
    """For ``--context C`` (not localcluster): that the context exists and its API answers."""
    if options.context == LOCALCLUSTER:
        return []
    try:
        config = cluster_config(options)
    except ConfigError as e:
        return [
            Problem(
                str(e),
                "list the contexts with `kubectl config get-contexts`, or drop --context to use localcluster",
            )
        ]
    try:
        async with ApiClient(config, timeout=REACH_TIMEOUT) as api:
            await api.get("/version")
            if options.scenario == "weighted":
                return await _check_ingress_nginx(api, options)
    except (KubeError, OSError, TimeoutError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        return [
            Problem(
                f'the cluster of context "{options.context}" ({config.server}) does not answer ({reason})',
                "start it (or check the kubeconfig), or run the demo on localcluster: drop --context",
            )
        ]
    return []


async def _check_ingress_nginx(api: ApiClient, options: DemoOptions) -> list[Problem]:
    """weighted: an IngressClass of ingress-nginx, the router its Rollout's trafficRouting.nginx drives."""
    classes = (await api.get("/apis/networking.k8s.io/v1/ingressclasses")).get("items") or []
    if any((c.get("spec") or {}).get("controller") == INGRESS_NGINX for c in classes):
        return []
    return [
        Problem(
            f'the weighted scenario needs ingress-nginx on context "{options.context}": no IngressClass with '
            f"controller {INGRESS_NGINX}",
            "install ingress-nginx (kubernetes.github.io/ingress-nginx/deploy), or drop --context: localcluster "
            "serves the class nginx itself",
        )
    ]
