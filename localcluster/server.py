"""Run localcluster: the API server and its in-process controllers, on 127.0.0.1.

Everything it keeps lives in a state directory:

- ``store.db``     the objects (SQLite, WAL)
- ``token``        the bearer token clients must send (mode 0600)
- ``ca.crt``, ``server.crt``, ``server.key``  the cluster's CA and serving certificate
- ``kubeconfig``   a kubeconfig with the context ``localcluster`` (mode 0600)
- ``server.json``  pid, address and start time of the running server, and its Ingress port
- ``server.log``   what a background server printed
- ``lock``         held by the running server, so one state directory has one server
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import fcntl
import json
import logging
import os
import secrets
import signal
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from aiohttp import web

from localcluster.apiserver.app import make_app
from localcluster.apiserver.objects import Objects
from localcluster.apiserver.registry import Registry
from localcluster.controllers.base import Controller, ControllerManager
from localcluster.controllers.deployment import DeploymentController
from localcluster.controllers.endpoints import EndpointsController
from localcluster.controllers.gc import GarbageCollector
from localcluster.controllers.job import JobController
from localcluster.controllers.replicaset import ReplicaSetController
from localcluster.kubelet.kubelet import Kubelet
from localcluster.pki import Pki
from localcluster.proxy.ingress import IngressProxy
from localcluster.proxy.services import ServiceProxy
from localcluster.store import Store

log = logging.getLogger("localcluster")

CONTEXT = "localcluster"
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CRD_KEY = "apiextensions.k8s.io/customresourcedefinitions"


def default_state_dir() -> Path:
    """``$LOCALCLUSTER_STATE_DIR``, else ``$XDG_STATE_HOME/rollouts/localcluster``."""
    explicit = os.environ.get("LOCALCLUSTER_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rollouts" / "localcluster"


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "store.db"

    @property
    def token(self) -> Path:
        return self.root / "token"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    @property
    def server_info(self) -> Path:
        return self.root / "server.json"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def lock(self) -> Path:
        return self.root / "lock"


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def ensure_token(paths: StatePaths) -> str:
    if paths.token.exists():
        return paths.token.read_text().strip()
    token = secrets.token_urlsafe(32)
    _write_private(paths.token, token + "\n")
    return token


def kubeconfig_text(server: str, token: str, ca_pem: bytes) -> str:
    ca_data = base64.b64encode(ca_pem).decode()
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": "default"}}
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def read_server_info(paths: StatePaths) -> dict[str, Any] | None:
    try:
        data = json.loads(paths.server_info.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _choose_port(paths: StatePaths, host: str, port: int | None, *, key: str = "port") -> int:
    """The given port; else the previous run's (``server.json[key]``), so kubeconfigs and
    URLs stay valid; else a free one."""
    if port is not None:
        return port
    previous = read_server_info(paths)
    if previous and isinstance(previous.get(key), int) and _port_free(host, previous[key]):
        return int(previous[key])
    return 0


class AlreadyRunningError(Exception):
    pass


def acquire_lock(paths: StatePaths) -> IO[str]:
    """Hold the state directory's lock for the life of the process."""
    handle = open(paths.lock, "a+")  # noqa: SIM115 - kept open on purpose
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        handle.close()
        raise AlreadyRunningError(f"a localcluster already runs on state directory {paths.root}") from e
    return handle


def controllers(objects: Objects, state_dir: Path, ingress: IngressProxy | None = None) -> list[Controller]:
    """The built-in controllers, the kubelet, the Service proxies and the ingress proxy, in start order."""
    kubelet = Kubelet(objects, state_dir=state_dir)
    started: list[Controller] = [
        kubelet,
        ReplicaSetController(objects),
        DeploymentController(objects),
        EndpointsController(objects),
        JobController(objects),
        ServiceProxy(objects),
    ]
    return started + ([ingress] if ingress is not None else [])


def build(store: Store) -> Objects:
    """The object layer over ``store``, with the CRDs it holds served and the usual namespaces."""
    registry = Registry()
    for crd in store.list(CRD_KEY):
        registry.set_crd(str(crd["metadata"]["name"]), crd)
    objects = Objects(store, registry)
    for name in DEFAULT_NAMESPACES:
        objects.ensure_namespace(name)
    return objects


async def serve(
    state_dir: Path, *, host: str = "127.0.0.1", port: int | None = None, ingress_port: int | None = None
) -> None:
    """Run until SIGTERM or SIGINT."""
    if not state_dir.exists():  # an existing directory keeps the permissions its owner gave it
        state_dir.mkdir(parents=True, mode=0o700)
    paths = StatePaths(state_dir)
    lock = acquire_lock(paths)
    store = Store(paths.db)
    objects = build(store)
    token = ensure_token(paths)
    pki = Pki.in_dir(state_dir)
    pki.ensure()
    chosen = _choose_port(paths, host, port)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, chosen))
    actual = int(sock.getsockname()[1])
    app = make_app(objects, token=token, server_address=f"{host}:{actual}")
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.SockSite(runner, sock, ssl_context=pki.server_context()).start()
    url = f"https://{host}:{actual}"
    ingress = IngressProxy(objects, host=host)
    try:
        ingress_actual = await ingress.listen(_choose_port(paths, host, ingress_port, key="ingressPort"))
    except OSError:
        await runner.cleanup()
        raise
    _write_private(paths.kubeconfig, kubeconfig_text(url, token, pki.ca_cert.read_bytes()))
    info = {
        "pid": os.getpid(),
        "host": host,
        "port": actual,
        "url": url,
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "kubeconfig": str(paths.kubeconfig),
        "caFile": str(pki.ca_cert),
        "ingressPort": ingress_actual,
        "ingressUrl": f"http://{host}:{ingress_actual}",
    }
    _write_private(paths.server_info, json.dumps(info) + "\n")
    log.info("localcluster serving on %s (state %s)", url, state_dir)

    gc_task = asyncio.create_task(GarbageCollector(objects).run(), name="garbage-collector")
    manager = ControllerManager(objects, controllers(objects, state_dir, ingress))
    manager_task = asyncio.create_task(manager.run(), name="controllers")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("localcluster stopping")
        for task in (manager_task, gc_task):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await ingress.close()
        await runner.cleanup()
        store.close()
        with contextlib.suppress(OSError):
            info_now = read_server_info(paths)
            if info_now and info_now.get("pid") == os.getpid():
                info_now["stopped"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                info_now.pop("pid", None)
                _write_private(paths.server_info, json.dumps(info_now) + "\n")
        lock.close()
