"""The Node object the kubelet registers and keeps up to date (``localcluster``: this machine), and its Lease."""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import socket
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from localcluster.kubelet.config import NODE_NAME
from localcluster.kubelet.env import HOST_IP

Obj = dict[str, Any]
KUBELET_VERSION = "v1.32.0-localcluster"
RUNTIME_VERSION = "localcluster://0.1.0"
MAX_PODS = 110

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm"}


def _os_image() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip().strip('"')
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}"


def _memory_ki() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024)
    except (ValueError, OSError, AttributeError):
        return 0


def _read_id(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@cache
def machine() -> Obj:
    """What the node reports about this machine (read once)."""
    machine_id = _read_id("/etc/machine-id") or uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname()).hex
    try:
        disk_ki = shutil.disk_usage("/").total // 1024
    except OSError:
        disk_ki = 0
    capacity = {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{_memory_ki()}Ki",
        "ephemeral-storage": f"{disk_ki}Ki",
        "pods": str(MAX_PODS),
    }
    return {
        "capacity": capacity,
        "nodeInfo": {
            "machineID": machine_id,
            "systemUUID": machine_id,
            "bootID": _read_id("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": RUNTIME_VERSION,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": platform.system().lower(),
            "architecture": _ARCH.get(platform.machine().lower(), platform.machine().lower()),
        },
    }


def node_labels() -> dict[str, str]:
    info = machine()["nodeInfo"]
    return {
        "kubernetes.io/hostname": NODE_NAME,
        "kubernetes.io/os": info["operatingSystem"],
        "kubernetes.io/arch": info["architecture"],
        "beta.kubernetes.io/os": info["operatingSystem"],
        "beta.kubernetes.io/arch": info["architecture"],
        "node-role.kubernetes.io/control-plane": "",
    }


def _condition(
    type_: str, status: str, reason: str, message: str, now: str, prev: Mapping[str, Mapping[str, Any]]
) -> Obj:
    before = prev.get(type_) or {}
    since = before.get("lastTransitionTime") if before.get("status") == status else None
    return {
        "type": type_,
        "status": status,
        "lastHeartbeatTime": now,
        "lastTransitionTime": since or now,
        "reason": reason,
        "message": message,
    }


def node_status(prev: Mapping[str, Any] | None, now: str) -> Obj:
    """The node's status, its heartbeat at ``now`` (transition times kept from ``prev``)."""
    info = machine()
    conditions = {
        str(c.get("type")): c for c in (prev or {}).get("conditions") or [] if isinstance(c, Mapping)
    }
    return {
        "capacity": dict(info["capacity"]),
        "allocatable": dict(info["capacity"]),
        "conditions": [
            _condition(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                now,
                conditions,
            ),
            _condition(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                now,
                conditions,
            ),
            _condition(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
                now,
                conditions,
            ),
            _condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", now, conditions),
        ],
        "addresses": [{"type": "InternalIP", "address": HOST_IP}, {"type": "Hostname", "address": NODE_NAME}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": dict(info["nodeInfo"]),
    }


def node_object(now: str) -> Obj:
    """A new Node object for this machine."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": node_labels(),
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": node_status(None, now),
    }


LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION = 40


def micro_time(epoch: float) -> str:
    """A ``MicroTime`` (RFC 3339 with microseconds), as Lease times are written."""
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def node_lease(node: Mapping[str, Any], epoch: float) -> Obj:
    """The node's heartbeat Lease in ``kube-node-lease``, renewed at ``epoch``."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": NODE_NAME,
            "namespace": LEASE_NAMESPACE,
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Node", "name": NODE_NAME, "uid": node["metadata"].get("uid")}
            ],
        },
        "spec": {
            "holderIdentity": NODE_NAME,
            "leaseDurationSeconds": LEASE_DURATION,
            "renewTime": micro_time(epoch),
        },
    }
