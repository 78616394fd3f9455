"""Finding and reading kubeconfig (and in-cluster config), and the API client's typed errors.

The client tests run against a tiny aiohttp server over real HTTP and HTTPS on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.kube import (
    ApiClient,
    ApiError,
    ConfigError,
    Conflict,
    KubeConfig,
    NotFound,
    Unauthorized,
    Unreachable,
    load_config,
    load_in_cluster,
    load_kubeconfig,
)
from controller.kube.config import kubeconfig_paths, localcluster_kubeconfig


def kubeconfig(
    server: str = "https://127.0.0.1:6443",
    *,
    context: str = "dev",
    namespace: str | None = "team",
    user: dict[str, Any] | None = None,
    cluster: dict[str, Any] | None = None,
    current: str | None = "dev",
) -> dict[str, Any]:
    ctx: dict[str, Any] = {"cluster": f"{context}-cluster", "user": f"{context}-user"}
    if namespace:
        ctx["namespace"] = namespace
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": f"{context}-cluster", "cluster": {"server": server, **(cluster or {})}}],
        "users": [{"name": f"{context}-user", "user": user if user is not None else {"token": "t0k"}}],
        "contexts": [{"name": context, "context": ctx}],
        **({"current-context": current} if current else {}),
    }


def write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


# -- where the configuration comes from ---------------------------------------------------------


def test_explicit_path_wins_over_everything(tmp_path: Path) -> None:
    explicit = write(tmp_path / "explicit", kubeconfig("https://explicit:1"))
    env_file = write(tmp_path / "env", kubeconfig("https://env:1"))
    env = {"KUBECONFIG": str(env_file), "HOME": str(tmp_path)}
    assert load_config(str(explicit), env=env).server == "https://explicit:1"
    assert load_config(env=env).server == "https://env:1"


def test_localcluster_kubeconfig_comes_before_home_kube_config(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".kube" / "config", kubeconfig("https://home:1"))
    env = {"HOME": str(home)}
    assert load_config(env=env).server == "https://home:1"
    write(home / ".local/state/rollouts/localcluster/kubeconfig", kubeconfig("https://local:1"))
    assert load_config(env=env).server == "https://local:1"
    xdg = tmp_path / "xdg"
    write(xdg / "rollouts/localcluster/kubeconfig", kubeconfig("https://xdg:1"))
    assert load_config(env={**env, "XDG_STATE_HOME": str(xdg)}).server == "https://xdg:1"
    state = tmp_path / "state"
    write(state / "kubeconfig", kubeconfig("https://state-dir:1"))
    env_all = {**env, "XDG_STATE_HOME": str(xdg), "LOCALCLUSTER_STATE_DIR": str(state)}
    assert localcluster_kubeconfig(env_all) == state / "kubeconfig"
    assert load_config(env=env_all).server == "https://state-dir:1"


def test_no_configuration_at_all_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rollouts cluster up"):
        load_config(env={"HOME": str(tmp_path)})
    assert kubeconfig_paths(env={"HOME": str(tmp_path)}) == []


def test_kubeconfig_list_is_merged_first_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a", kubeconfig("https://a:1", current=None))
    second = write(tmp_path / "b", kubeconfig("https://b:1", current="dev"))
    other = kubeconfig("https://other:1", context="other", current="other")
    third = write(tmp_path / "c", other)
    env = {"KUBECONFIG": f"{first}:{tmp_path / 'missing'}:{second}:{third}", "HOME": str(tmp_path)}
    config = load_config(env=env)
    assert config.server == "https://a:1"  # "dev" is defined by the first file
    assert config.context == "dev"  # the first file to set current-context is the second
    assert load_config(env=env, context="other").server == "https://other:1"


def test_context_namespace_and_unknown_context(tmp_path: Path) -> None:
    path = write(tmp_path / "config", kubeconfig(namespace=None))
    assert load_kubeconfig(path).namespace == "default"
    path = write(tmp_path / "config", kubeconfig(namespace="team"))
    assert load_kubeconfig(path).namespace == "team"
    with pytest.raises(ConfigError, match='context "nope" not found'):
        load_kubeconfig(path, context="nope")
    write(path, kubeconfig(current=None))
    with pytest.raises(ConfigError, match="no current-context"):
        load_kubeconfig(path)


def test_broken_kubeconfigs_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text("clusters: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_kubeconfig(path)
    write(path, kubeconfig(user={"exec": {"command": "aws"}}))
    with pytest.raises(ConfigError, match="exec credential plugin"):
        load_kubeconfig(path)
    with pytest.raises(ConfigError, match="not found"):
        load_kubeconfig(tmp_path / "absent")


def test_credentials_from_data_and_files_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "token").write_text("from-file\n")
    (tmp_path / "secrets" / "ca.crt").write_text("CA PEM")
    user = {"tokenFile": "secrets/token", "client-key-data": base64.b64encode(b"KEY PEM").decode()}
    cluster = {"certificate-authority": "secrets/ca.crt", "insecure-skip-tls-verify": True}
    config = load_kubeconfig(write(tmp_path / "config", kubeconfig(user=user, cluster=cluster)))
    assert config.token == "from-file"
    assert config.ca_pem == "CA PEM"
    assert config.client_key_pem == "KEY PEM"
    assert config.insecure_skip_tls_verify
    assert config.auth_headers() == {"Authorization": "Bearer from-file"}
    basic = KubeConfig(server="https://x", username="ann", password="pw")
    assert basic.auth_headers() == {"Authorization": "Basic " + base64.b64encode(b"ann:pw").decode()}


def test_in_cluster_config_from_the_service_account(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("SA CA")
    (tmp_path / "namespace").write_text("rollouts\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443", "HOME": str(tmp_path)}
    config = load_config(env=env, service_account_dir=tmp_path)
    assert config.server == "https://10.96.0.1:443"
    assert (config.token, config.ca_pem, config.namespace) == ("sa-token", "SA CA", "rollouts")
    assert config.source == "in-cluster"
    ipv6 = load_in_cluster(
        {"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"}, tmp_path
    )
    assert ipv6.server == "https://[fd00::1]:6443"
    with pytest.raises(ConfigError, match="KUBERNETES_SERVICE_HOST"):
        load_in_cluster({}, tmp_path)


# -- TLS material ---------------------------------------------------------------------------------


def _tls_pair(tmp_path: Path) -> tuple[str, Path, Path]:
    """A CA PEM, and a server certificate/key (files) for 127.0.0.1 signed by it."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "server.crt", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_path, key_path


def test_client_certificate_from_data_loads(tmp_path: Path) -> None:
    _, cert, key = _tls_pair(tmp_path)
    config = KubeConfig(server="https://x", client_cert_pem=cert.read_text(), client_key_pem=key.read_text())
    assert isinstance(config.ssl_context(), ssl.SSLContext)
    broken = KubeConfig(server="https://x", client_cert_pem="junk", client_key_pem="junk")
    with pytest.raises(ConfigError, match="not valid PEM"):
        broken.ssl_context()
    assert KubeConfig(server="http://x").ssl_context() is True


# -- the client and its errors --------------------------------------------------------------------


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason}
    return web.json_response({**body, "code": code}, status=code)


async def handler(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") != "Bearer good":
        return status(401, "Unauthorized", "Unauthorized")
    name = request.match_info["name"]
    if name == "web":
        return web.json_response({"kind": "Service", "metadata": {"name": "web"}})
    if name == "taken":
        return status(409, "AlreadyExists", 'services "taken" already exists')
    if name == "broken":
        return web.Response(status=500, text="upstream exploded")
    return status(404, "NotFound", f'services "{name}" not found')


@asynccontextmanager
async def api_server(ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default/services/{name}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def run_with_client(config: Callable[[str], KubeConfig], fn: Callable[[ApiClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with api_server() as url, ApiClient(config(url)) as api:
            return await fn(api)

    return asyncio.run(main())


def path(name: str) -> str:
    return f"/api/v1/namespaces/default/services/{name}"


def test_client_returns_objects_and_maps_status_errors() -> None:
    def good(url: str) -> KubeConfig:
        return KubeConfig(server=url, token="good")

    async def calls(api: ApiClient) -> dict[str, Any]:
        out: dict[str, Any] = {"web": await api.get(path("web"))}
        for name in ("nope", "taken", "broken"):
            try:
                await api.get(path(name))
            except ApiError as e:
                out[name] = e
        return out

    out = run_with_client(good, calls)
    assert out["web"]["metadata"]["name"] == "web"
    assert isinstance(out["nope"], NotFound)
    assert (out["nope"].code, out["nope"].reason) == (404, "NotFound")
    assert out["nope"].message == 'services "nope" not found'
    assert isinstance(out["taken"], Conflict) and out["taken"].reason == "AlreadyExists"
    assert type(out["broken"]) is ApiError and out["broken"].code == 500
    assert "upstream exploded" in str(out["broken"])


def test_client_wrong_token_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        run_with_client(lambda url: KubeConfig(server=url, token="bad"), lambda api: api.get(path("web")))


def test_client_unreachable_server_is_a_typed_error() -> None:
    async def main() -> None:
        async with api_server() as url:
            pass  # stopped: nothing listens on its port any more
        async with ApiClient(KubeConfig(server=url, token="good")) as api:
            await api.get(path("web"))

    with pytest.raises(Unreachable, match="cannot reach the Kubernetes API"):
        asyncio.run(main())


def test_client_verifies_the_server_with_the_kubeconfig_ca(tmp_path: Path) -> None:
    ca_pem, cert, key = _tls_pair(tmp_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(str(cert), str(key))

    async def main(config: Callable[[str], KubeConfig]) -> Any:
        async with api_server(server_ctx) as url, ApiClient(config(url)) as api:
            return await api.get(path("web"))

    assert (
        asyncio.run(main(lambda url: KubeConfig(server=url, token="good", ca_pem=ca_pem)))["kind"]
        == "Service"
    )
    with pytest.raises(Unreachable, match="certificate"):
        asyncio.run(main(lambda url: KubeConfig(server=url, token="good")))
    insecure = asyncio.run(
        main(lambda url: KubeConfig(server=url, token="good", insecure_skip_tls_verify=True))
    )
    assert insecure["kind"] == "Service"
