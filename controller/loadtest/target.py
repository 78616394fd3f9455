"""What a load test sends to: a URL as given, or a Service's address resolved through the API.

A Service is reached at its cluster IP and port (localcluster's Service proxies listen there,
as kube-proxy makes them routable inside a real cluster); a NodePort or LoadBalancer Service
whose cluster IP does not answer from here is reached at ``127.0.0.1:<nodePort>`` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from controller.kube.client import ApiClient, KubeError, NotFound, Unauthorized
from controller.kube.config import KubeConfig

#: seconds to wait for a TCP connection when checking which address of a Service answers
PROBE_TIMEOUT = 0.5


class TargetError(Exception):
    """The target could not be worked out; the message says why, in one line."""


def parse_service_ref(text: str) -> tuple[str | None, str]:
    """``NS/NAME`` or ``NAME`` (namespace from the kubeconfig context)."""
    namespace, _, name = text.rpartition("/")
    if not name or "/" in namespace:
        raise TargetError(f'invalid service "{text}": use NAMESPACE/NAME or NAME')
    return (namespace or None), name


def url_for(host: str, port: int, path: str) -> str:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/{path.lstrip('/')}"


def _pick_port(svc: Mapping[str, Any], port: str | None, where: str) -> Mapping[str, Any]:
    ports = [p for p in (svc.get("spec") or {}).get("ports") or [] if isinstance(p, dict)]
    if not ports:
        raise TargetError(f"service {where} has no ports")
    if port is not None:
        for p in ports:
            if str(p.get("port")) == port or p.get("name") == port:
                return p
        known = ", ".join(f"{p.get('port')}" + (f" ({p['name']})" if p.get("name") else "") for p in ports)
        raise TargetError(f"service {where} has no port {port} (it has {known})")
    if len(ports) == 1:
        return ports[0]
    for p in ports:
        if p.get("name") == "http":
            return p
    tcp = [p for p in ports if p.get("protocol", "TCP") == "TCP"]
    return (tcp or ports)[0]


def service_addresses(svc: Mapping[str, Any], *, port: str | None = None) -> list[tuple[str, int]]:
    """Where a Service can be reached, best first: its cluster IP, then its node port."""
    meta = svc.get("metadata") or {}
    where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    spec = svc.get("spec") or {}
    chosen = _pick_port(svc, port, where)
    number = int(chosen.get("port") or 0)
    if spec.get("type") == "ExternalName":
        return [(str(spec.get("externalName")), number)]
    out: list[tuple[str, int]] = []
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        out.append((str(cluster_ip), number))
    if chosen.get("nodePort"):
        out.append(("127.0.0.1", int(chosen["nodePort"])))
    if not out:
        raise TargetError(
            f"service {where} is headless (clusterIP: None) and has no node port; use --url with a pod's address"
        )
    return out


async def _answers(host: str, port: int, within: float) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def resolve_service(
    config: KubeConfig,
    service: str,
    *,
    port: str | None = None,
    path: str = "/color",
    probe: bool = True,
    probe_timeout: float = PROBE_TIMEOUT,
) -> str:
    """The URL of ``service`` (``NS/NAME`` or ``NAME``) at ``path``; raises TargetError."""
    namespace, name = parse_service_ref(service)
    namespace = namespace or config.namespace
    async with ApiClient(config) as api:
        try:
            svc = await api.get(f"/api/v1/namespaces/{namespace}/services/{name}")
        except NotFound as e:
            raise TargetError(f"service {namespace}/{name} not found") from e
        except Unauthorized as e:
            raise TargetError(
                f"the Kubernetes API at {config.server} refused the credentials of "
                f"{config.context or config.source} (401 Unauthorized)"
            ) from e
        except KubeError as e:
            raise TargetError(str(e)) from e
    addresses = service_addresses(svc, port=port)
    if probe and len(addresses) > 1:
        for host, number in addresses:
            if await _answers(host, number, probe_timeout):
                return url_for(host, number, path)
    host, number = addresses[0]
    return url_for(host, number, path)


def ingress_address(ingress: Mapping[str, Any], path: str) -> tuple[str, dict[str, str]]:
    """The URL of an Ingress (its ``status.loadBalancer`` address and port, 80 when none is
    given) and the ``Host`` header of its first rule with a host; raises TargetError."""
    name = (ingress.get("metadata") or {}).get("name", "")
    entries = ((ingress.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not entries:
        raise TargetError(
            f"ingress {name} has no address yet (status.loadBalancer is empty): is an ingress controller serving it?"
        )
    entry = entries[0]
    host = str(entry.get("ip") or entry.get("hostname") or "")
    ports = entry.get("ports") or []
    port = int(ports[0].get("port") or 80) if ports else 80
    rule_host = next(
        (str(r["host"]) for r in (ingress.get("spec") or {}).get("rules") or [] if r.get("host")), ""
    )
    return url_for(host, port, path), ({"Host": rule_host} if rule_host else {})


async def resolve_ingress(
    config: KubeConfig, ingress: str, *, path: str = "/color"
) -> tuple[str, dict[str, str]]:
    """The URL and headers that reach ``ingress`` (``NS/NAME`` or ``NAME``); raises TargetError."""
    namespace, name = parse_service_ref(ingress)
    namespace = namespace or config.namespace
    async with ApiClient(config) as api:
        try:
            obj = await api.get(f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}")
        except NotFound as e:
            raise TargetError(f"ingress {namespace}/{name} not found") from e
        except KubeError as e:
            raise TargetError(str(e)) from e
    return ingress_address(obj, path)
