"""Where the Kubernetes API is and how to authenticate to it: kubeconfig and in-cluster config.

The search order is kubectl's, with localcluster's kubeconfig before ``~/.kube/config`` so that
the embedded cluster is the default target on a laptop:

1. ``--kubeconfig PATH`` (the ``path`` argument);
2. ``$KUBECONFIG``, a ``:``-separated list of files merged as kubectl merges them (the first
   file to name a cluster, user or context, or to set ``current-context``, wins);
3. localcluster's kubeconfig: ``$LOCALCLUSTER_STATE_DIR/kubeconfig``, else
   ``$XDG_STATE_HOME/rollouts/localcluster/kubeconfig``, else
   ``~/.local/state/rollouts/localcluster/kubeconfig``;
4. ``~/.kube/config``;
5. in-cluster config, inside a pod (``$KUBERNETES_SERVICE_HOST`` and the service account files).

Supported in a kubeconfig: contexts (``--context``), the context's namespace, bearer tokens
(``token``, ``tokenFile``), basic auth, CA data or file, client certificate and key (data or
file), ``insecure-skip-tls-verify``, and paths relative to the kubeconfig file. Credential
plugins (``exec``, ``auth-provider``) are not; using one is a clear :class:`ConfigError`.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """No usable configuration: the message says what was wrong and where."""


@dataclass(frozen=True)
class KubeConfig:
    """One resolved cluster + user + namespace: everything a client needs to connect."""

    server: str
    namespace: str = "default"
    context: str = ""
    #: where this came from: a kubeconfig path, or ``in-cluster``
    source: str = ""
    token: str | None = None
    username: str | None = None
    password: str | None = None
    #: PEM text of the CA bundle that verifies the server (None: the system's CAs)
    ca_pem: str | None = None
    #: PEM text of the client certificate and key, for TLS client authentication
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    insecure_skip_tls_verify: bool = False
    #: TLS server name to verify instead of the server URL's host
    tls_server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS settings for ``server``: an SSLContext for https, True for plain http."""
        if not self.server.startswith("https://"):
            return True
        if self.ca_pem:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=self.ca_pem)
        else:
            ctx = ssl.create_default_context()
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.client_cert_pem and self.client_key_pem:
            _load_client_cert(ctx, self.client_cert_pem, self.client_key_pem)
        return ctx

    def auth_headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.username is not None and self.password is not None:
            basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        return {}


def _load_client_cert(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    """ssl can only load a client certificate from files: write both to a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="rollouts-tls-") as tmp:
        cert, key = Path(tmp) / "client.crt", Path(tmp) / "client.key"
        for path, text in ((cert, cert_pem), (key, key_pem)):
            path.touch(mode=0o600)
            path.write_text(text)
        try:
            ctx.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as e:
            raise ConfigError(f"the client certificate or key is not valid PEM: {e}") from e


# -- where to look --------------------------------------------------------------------------------


def localcluster_kubeconfig(env: Mapping[str, str] | None = None) -> Path:
    """Where localcluster writes its kubeconfig (its default state directory's ``kubeconfig``)."""
    env = os.environ if env is None else env
    explicit = env.get("LOCALCLUSTER_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser() / "kubeconfig"
    base = env.get("XDG_STATE_HOME") or str(_home(env) / ".local" / "state")
    return Path(base) / "rollouts" / "localcluster" / "kubeconfig"


def _home(env: Mapping[str, str]) -> Path:
    return Path(env["HOME"]) if env.get("HOME") else Path.home()


def kubeconfig_paths(path: str | None = None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The kubeconfig files to read, in order; empty when only in-cluster config is left."""
    env = os.environ if env is None else env
    if path:
        return [Path(path).expanduser()]
    if env.get("KUBECONFIG"):
        return [Path(p).expanduser() for p in env["KUBECONFIG"].split(os.pathsep) if p]
    for candidate in (localcluster_kubeconfig(env), _home(env) / ".kube" / "config"):
        if candidate.is_file():
            return [candidate]
    return []


def load_config(
    kubeconfig: str | None = None,
    *,
    context: str | None = None,
    env: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> KubeConfig:
    """The configuration a command should use (see the module docstring for the order)."""
    env = os.environ if env is None else env
    paths = kubeconfig_paths(kubeconfig, env)
    if paths:
        return load_kubeconfig(paths, context=context)
    if env.get("KUBERNETES_SERVICE_HOST") and not context:
        return load_in_cluster(env, service_account_dir)
    raise ConfigError(
        f"no kubeconfig found (looked at $KUBECONFIG, {localcluster_kubeconfig(env)} and "
        f"{_home(env) / '.kube' / 'config'}); start one with `rollouts cluster up` or pass --kubeconfig"
    )


# -- kubeconfig files -----------------------------------------------------------------------------


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"cannot read kubeconfig {path}: {e.strerror or e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"kubeconfig {path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a mapping")
    return data


def _named(config: Mapping[str, Any], key: str, inner: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in config.get(key) or []:
        if isinstance(entry, dict) and entry.get("name") is not None:
            body = entry.get(inner)
            out[str(entry["name"])] = dict(body) if isinstance(body, dict) else {}
    return out


def merge_kubeconfigs(paths: Sequence[Path]) -> tuple[dict[str, Any], dict[str, Path]]:
    """Merge files as kubectl does; also returns, per cluster/user, the file that defined it."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    origin: dict[str, Path] = {}
    found = False
    for path in paths:
        if not path.is_file():
            continue
        found = True
        data = _read_yaml(path)
        for key, inner in (("clusters", "cluster"), ("users", "user"), ("contexts", "context")):
            for name, body in _named(data, key, inner).items():
                if name not in merged[key]:
                    merged[key][name] = body
                    origin[f"{key}/{name}"] = path
        if not merged["current-context"] and data.get("current-context"):
            merged["current-context"] = str(data["current-context"])
    if not found:
        raise ConfigError(f"kubeconfig not found: {', '.join(str(p) for p in paths)}")
    return merged, origin


def load_kubeconfig(paths: Sequence[Path] | Path | str, *, context: str | None = None) -> KubeConfig:
    """Resolve one context of the given kubeconfig file(s)."""
    if isinstance(paths, (str, Path)):
        paths = [Path(paths)]
    merged, origin = merge_kubeconfigs(paths)
    where = ", ".join(str(p) for p in paths)
    name = context or merged["current-context"]
    if not name:
        raise ConfigError(f"kubeconfig {where} has no current-context; pass --context")
    ctx = merged["contexts"].get(name)
    if ctx is None:
        raise ConfigError(f'context "{name}" not found in kubeconfig {where}')
    cluster_name, user_name = str(ctx.get("cluster") or ""), str(ctx.get("user") or "")
    cluster = merged["clusters"].get(cluster_name)
    if cluster is None:
        raise ConfigError(f'cluster "{cluster_name}" of context "{name}" not found in kubeconfig {where}')
    user = merged["users"].get(user_name, {}) if user_name else {}
    if user_name and user_name not in merged["users"]:
        raise ConfigError(f'user "{user_name}" of context "{name}" not found in kubeconfig {where}')
    server = str(cluster.get("server") or "").rstrip("/")
    if not server:
        raise ConfigError(f'cluster "{cluster_name}" in kubeconfig {where} has no server')
    cluster_dir = origin.get(f"clusters/{cluster_name}", paths[0]).parent
    user_dir = origin.get(f"users/{user_name}", paths[0]).parent
    for plugin in ("exec", "auth-provider"):
        if user.get(plugin):
            raise ConfigError(
                f'user "{user_name}" in kubeconfig {where} uses an {plugin} credential plugin, which '
                "rollouts does not support; use a token or a client certificate"
            )
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = _read_text(_relative(user_dir, str(user["tokenFile"])), "token file").strip()
    return KubeConfig(
        server=server,
        namespace=str(ctx.get("namespace") or "default"),
        context=name,
        source=where,
        token=str(token) if token else None,
        username=str(user["username"]) if user.get("username") is not None else None,
        password=str(user["password"]) if user.get("password") is not None else None,
        ca_pem=_pem(cluster, "certificate-authority", cluster_dir),
        client_cert_pem=_pem(user, "client-certificate", user_dir),
        client_key_pem=_pem(user, "client-key", user_dir),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=str(cluster["tls-server-name"]) if cluster.get("tls-server-name") else None,
    )


def _relative(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from e


def _pem(section: Mapping[str, Any], key: str, base: Path) -> str | None:
    """``<key>-data`` (base64) wins over ``<key>`` (a file path), as in kubectl."""
    data = section.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as e:
            raise ConfigError(f"{key}-data is not valid base64-encoded PEM") from e
    path = section.get(key)
    if path:
        return _read_text(_relative(base, str(path)), key)
    return None


# -- in a pod -------------------------------------------------------------------------------------


def load_in_cluster(env: Mapping[str, str] | None = None, root: Path = SERVICE_ACCOUNT_DIR) -> KubeConfig:
    """The pod's service account: the API at ``$KUBERNETES_SERVICE_HOST:PORT``, its token and CA."""
    env = os.environ if env is None else env
    host, port = env.get("KUBERNETES_SERVICE_HOST", ""), env.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        raise ConfigError("not running in a cluster: $KUBERNETES_SERVICE_HOST is not set")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    token = _read_text(root / "token", "service account token").strip()
    ca = root / "ca.crt"
    namespace = root / "namespace"
    return KubeConfig(
        server=f"https://{host}:{port}",
        namespace=namespace.read_text().strip() if namespace.is_file() else "default",
        source="in-cluster",
        token=token,
        ca_pem=_read_text(ca, "service account CA") if ca.is_file() else None,
    )
