"""What the ingress proxy decides, without any I/O: which Ingresses it serves and where a request goes.

The rules are ingress-nginx's (the controller behind the IngressClass ``nginx``), read from its
controller and Lua balancer, so that manifests written for it route the same way here:

- **Which Ingresses** (:func:`is_served`): the legacy annotation
  ``kubernetes.io/ingress.class: nginx``; else ``spec.ingressClassName`` naming an IngressClass
  whose ``spec.controller`` is ``k8s.io/ingress-nginx``; else, for an Ingress with neither, when
  such an IngressClass is marked default (``ingressclass.kubernetes.io/is-default-class``) —
  what the API server's DefaultIngressClass admission would have written into it.
- **Hosts**: one virtual server per host. A request's ``Host`` (port stripped, lower-cased)
  picks the exact host; else a wildcard ``*.example.com``, which matches exactly one more DNS
  label (ingress-nginx turns it into ``^[\\w-]+\\.example\\.com$``); else the catch-all server
  that rules without a host make up.
- **Paths** within the server: an ``Exact`` path matches itself only; ``Prefix`` ``/foo``
  matches ``/foo`` and everything under ``/foo/`` (ingress-nginx writes a ``location /foo/``
  and a ``location = /foo``; a Prefix path that ends in ``/`` gets no exact twin, so ``/foo/``
  does not match ``/foo``); ``ImplementationSpecific`` is a plain string prefix (nginx's own
  ``location /foo``, which also matches ``/foobar``). Exact matches first, then the longest
  prefix, as nginx chooses. Two Ingresses defining the same host, path and path type: the
  older one wins.
- **No match**: the server's default — the ``spec.defaultBackend`` of the Ingress that first
  defined the host (for the catch-all server, of the oldest Ingress with a defaultBackend and no
  rules) — else 404.
- **Canaries**: an Ingress annotated ``nginx.ingress.kubernetes.io/canary: "true"`` routes
  nothing itself; each of its paths that equals (host, path and path type) a path of a primary
  Ingress attaches its backend, with its :class:`CanaryPolicy`, to that path's backend (the
  Service port, wherever else it is used, as ingress-nginx attaches it to the upstream). The
  first canary attached to a backend is the one used; its ``defaultBackend`` attaches to every
  backend of the catch-all server. :func:`routes_to_canary` is the per-request choice: header,
  then cookie, then weight.

Everything here is a plain function or a frozen value over Ingress objects (JSON dicts).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

#: The controller name of ingress-nginx's IngressClass, and the class this proxy answers to.
CONTROLLER = "k8s.io/ingress-nginx"
CLASS_NAME = "nginx"
#: The deprecated way to pick a class, still read by ingress-nginx (and written by Argo's examples).
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
#: ingress-nginx's default ``--annotations-prefix``; the only one read here.
ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"

EXACT = "Exact"
PREFIX = "Prefix"
IMPLEMENTATION_SPECIFIC = "ImplementationSpecific"

#: What ingress-nginx accepts in canary-by-header, -header-value and -cookie (else ignored).
_BASIC_CHARS = re.compile(r"[/A-Za-z0-9.\-_~:]*")
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: One DNS label, as the regex ingress-nginx writes for a wildcard host.
_LABEL = re.compile(r"[0-9A-Za-z_-]+")
_TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})


# -- which Ingresses -----------------------------------------------------------------------------


def is_served(ingress: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether ingress-nginx (IngressClass ``nginx``) serves this Ingress; ``classes`` by name."""
    annotations = (ingress.get("metadata") or {}).get("annotations") or {}
    legacy = annotations.get(CLASS_ANNOTATION)
    if legacy == CLASS_NAME:
        return True
    class_name = (ingress.get("spec") or {}).get("ingressClassName")
    if class_name:
        klass = classes.get(str(class_name))
        return klass is not None and _controller(klass) == CONTROLLER
    if legacy is not None:
        return False  # another controller's class, by annotation
    return any(_controller(c) == CONTROLLER and is_default_class(c) for c in classes.values())


def is_default_class(klass: Mapping[str, Any]) -> bool:
    annotations = (klass.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"


def _controller(klass: Mapping[str, Any]) -> str:
    return str((klass.get("spec") or {}).get("controller") or "")


# -- canary annotations --------------------------------------------------------------------------


@dataclass(frozen=True)
class CanaryPolicy:
    """How an ingress-nginx canary takes requests from its primary (its traffic shaping policy)."""

    weight: int = 0
    #: ``canary-weight-total``; the balancer uses it only when above 100
    weight_total: int = 100
    header: str = ""
    header_value: str = ""
    header_pattern: re.Pattern[str] | None = None
    cookie: str = ""

    @property
    def effective_total(self) -> int:
        return self.weight_total if self.weight_total > 100 else 100


def canary_policy(annotations: Mapping[str, str] | None) -> CanaryPolicy | None:
    """The canary policy of an Ingress, or None when it is not a canary.

    Parsed as ingress-nginx does: ``canary`` is a Go boolean (``true``, ``1``, ``t``, ...);
    a weight that is not an integer counts as 0, a total that is not one as 100; a header,
    header value or cookie name with characters outside ``[A-Za-z0-9/.-_~:]`` is ignored, and
    so is a header pattern that does not compile. Canary settings without ``canary: "true"``
    make no canary (ingress-nginx logs "configured but not enabled").
    """
    a = annotations or {}
    if a.get(ANNOTATION_PREFIX + "canary", "") not in _TRUE:
        return None
    pattern_text = a.get(ANNOTATION_PREFIX + "canary-by-header-pattern", "")
    pattern: re.Pattern[str] | None = None
    if pattern_text:
        try:
            pattern = re.compile(pattern_text)
        except re.error:
            pattern = None
    return CanaryPolicy(
        weight=_int_annotation(a, "canary-weight", 0),
        weight_total=_int_annotation(a, "canary-weight-total", 100),
        header=_basic_annotation(a, "canary-by-header").replace("_", "-"),
        header_value=_basic_annotation(a, "canary-by-header-value"),
        header_pattern=pattern,
        cookie=_basic_annotation(a, "canary-by-cookie"),
    )


def _int_annotation(annotations: Mapping[str, str], name: str, default: int) -> int:
    text = annotations.get(ANNOTATION_PREFIX + name, "")
    return int(text) if _INTEGER.fullmatch(text) else default


def _basic_annotation(annotations: Mapping[str, str], name: str) -> str:
    text = annotations.get(ANNOTATION_PREFIX + name, "")
    return text if _BASIC_CHARS.fullmatch(text) else ""


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header (the first, when repeated)."""
    if not cookie_header:
        return None
    for part in cookie_header.split(";"):
        key, eq, value = part.partition("=")
        if eq and key.strip() == name:
            return value.strip().strip('"')
    return None


def routes_to_canary(
    policy: CanaryPolicy,
    header: Callable[[str], str | None],
    cookie_header: str | None,
    rng: random.Random,
) -> bool:
    """Whether one request goes to the canary: by header, then by cookie, then by weight.

    - ``canary-by-header`` present in the request: with ``canary-by-header-value``, that exact
      value sends it to the canary; else with ``canary-by-header-pattern``, a regex search
      match does; else ``always`` does and ``never`` keeps it on the primary. Any other value
      falls through to the cookie, then the weight.
    - ``canary-by-cookie``: ``always`` / ``never``, else fall through.
    - weight: a uniform draw in ``1..total`` (total = ``canary-weight-total`` when above 100,
      else 100) at most ``canary-weight``.
    """
    if policy.header:
        value = header(policy.header)
        if value is not None:
            if policy.header_value:
                if value == policy.header_value:
                    return True
            elif policy.header_pattern is not None:
                if policy.header_pattern.search(value):
                    return True
            elif value == "always":
                return True
            elif value == "never":
                return False
    if policy.cookie:
        value = cookie_value(cookie_header, policy.cookie)
        if value == "always":
            return True
        if value == "never":
            return False
    if policy.weight <= 0:
        return False
    return rng.randint(1, policy.effective_total) <= policy.weight


# -- routes --------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class BackendRef:
    """A Service port an Ingress sends to: ingress-nginx's upstream (the port as written)."""

    namespace: str
    service: str
    port: int | str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.service}:{self.port}"


@dataclass(frozen=True)
class Location:
    """One path of a virtual server, from the Ingress that defined it (``namespace/name``)."""

    path: str
    path_type: str
    backend: BackendRef
    ingress: str


@dataclass(frozen=True)
class Canary:
    backend: BackendRef
    policy: CanaryPolicy
    ingress: str


@dataclass
class Server:
    """One virtual server (a host, or ``""`` for the catch-all) and its paths."""

    host: str
    #: where a request that matches no path goes (an Ingress's ``defaultBackend``), else 404
    default: BackendRef | None = None
    locations: list[Location] = field(default_factory=list)
    _exact: dict[str, Location] = field(default_factory=dict, init=False, repr=False)
    _prefixes: list[tuple[str, Location]] = field(default_factory=list, init=False, repr=False)

    def add(self, location: Location) -> bool:
        """Add a path unless the server has the same path and type already (the first wins)."""
        for known in self.locations:
            if known.path == location.path and known.path_type == location.path_type:
                return False
        self.locations.append(location)
        return True

    def compile(self) -> None:
        """Turn the paths into nginx's locations: exact ones, and prefixes longest first."""
        exact: dict[str, Location] = {}
        for loc in self.locations:
            if loc.path_type == EXACT:
                exact.setdefault(loc.path, loc)
        prefixes: dict[str, Location] = {}
        for loc in self.locations:
            if loc.path_type == EXACT:
                continue
            if loc.path_type == PREFIX and loc.path != "/":
                exact.setdefault(loc.path, loc)  # the `location = /foo` twin
                text = loc.path if loc.path.endswith("/") else loc.path + "/"
            else:
                text = loc.path
            prefixes.setdefault(text, loc)
        self._exact = exact
        self._prefixes = sorted(prefixes.items(), key=lambda item: len(item[0]), reverse=True)

    def match(self, path: str) -> Location | None:
        found = self._exact.get(path)
        if found is not None:
            return found
        for text, loc in self._prefixes:
            if path.startswith(text):
                return loc
        return None

    def backends(self) -> list[BackendRef]:
        refs = [loc.backend for loc in self.locations]
        return refs + ([self.default] if self.default is not None else [])


@dataclass(frozen=True)
class Route:
    """Where one request goes: a backend (None: answer 404) and the Ingress that says so."""

    backend: BackendRef | None
    ingress: str = ""


NOT_FOUND = Route(None)


@dataclass
class RouteTable:
    """Every served Ingress compiled into virtual servers, plus canaries by primary backend."""

    servers: dict[str, Server] = field(default_factory=dict)
    wildcards: dict[str, Server] = field(default_factory=dict)
    catch_all: Server = field(default_factory=lambda: Server(""))
    canaries: dict[BackendRef, Canary] = field(default_factory=dict)
    #: ``namespace/name`` of the Ingresses this table serves (primaries and canaries)
    ingresses: frozenset[str] = frozenset()

    def server_for(self, host: str) -> Server:
        server = self.servers.get(host)
        if server is not None:
            return server
        label, dot, rest = host.partition(".")
        if dot and _LABEL.fullmatch(label):
            server = self.wildcards.get(rest)
            if server is not None:
                return server
        return self.catch_all

    def route(self, host: str, path: str) -> Route:
        """Where a request for ``host`` (normalised by :func:`request_host`) and ``path`` goes."""
        server = self.server_for(host)
        location = server.match(normalize_path(path))
        if location is not None:
            return Route(location.backend, location.ingress)
        if server.default is not None:
            return Route(server.default)
        return NOT_FOUND

    def backends(self) -> set[BackendRef]:
        """Every backend a request can reach: primaries, defaults and canaries."""
        refs: set[BackendRef] = set()
        for server in [*self.servers.values(), *self.wildcards.values(), self.catch_all]:
            refs.update(server.backends())
        refs.update(c.backend for c in self.canaries.values())
        return refs

    def server_named(self, host: str) -> Server | None:
        if not host:
            return self.catch_all
        if host.startswith("*."):
            return self.wildcards.get(host[2:])
        return self.servers.get(host)

    def ensure_server(self, host: str, default: BackendRef | None) -> Server:
        if not host:
            return self.catch_all
        table = self.wildcards if host.startswith("*.") else self.servers
        key = host[2:] if host.startswith("*.") else host
        server = table.get(key)
        if server is None:
            server = table[key] = Server(host, default)
        return server


def ingress_key(ingress: Mapping[str, Any]) -> str:
    meta = ingress.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _age_order(ingress: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = ingress.get("metadata") or {}
    return (
        str(meta.get("creationTimestamp") or ""),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def service_backend(namespace: str, backend: Mapping[str, Any] | None) -> BackendRef | None:
    """The Service port of an Ingress backend (None for a resource backend or an incomplete one)."""
    service = (backend or {}).get("service") or {}
    name = service.get("name")
    port = service.get("port") or {}
    number = port.get("number")
    if not name:
        return None
    if isinstance(number, int) and not isinstance(number, bool) and number > 0:
        return BackendRef(namespace, str(name), number)
    if port.get("name"):
        return BackendRef(namespace, str(name), str(port["name"]))
    return None


def _paths(ingress: Mapping[str, Any]) -> Iterable[tuple[str, str, str, Mapping[str, Any]]]:
    """(host, path, pathType, backend) of every path of every rule."""
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        host = str(rule.get("host") or "").lower()
        for path in (rule.get("http") or {}).get("paths") or []:
            yield (
                host,
                str(path.get("path") or "/"),
                str(path.get("pathType") or IMPLEMENTATION_SPECIFIC),
                path.get("backend") or {},
            )


def build_table(ingresses: Iterable[Mapping[str, Any]]) -> RouteTable:
    """Compile the served Ingresses (any order; the oldest wins a conflict) into a route table."""
    table = RouteTable()
    ordered = sorted(ingresses, key=_age_order)
    primaries: list[Mapping[str, Any]] = []
    canaries: list[tuple[Mapping[str, Any], CanaryPolicy]] = []
    for ing in ordered:
        policy = canary_policy((ing.get("metadata") or {}).get("annotations"))
        if policy is None:
            primaries.append(ing)
        else:
            canaries.append((ing, policy))
    for ing in primaries:
        _add_primary(table, ing)
    for server in [*table.servers.values(), *table.wildcards.values(), table.catch_all]:
        server.compile()
    for ing, policy in canaries:
        _attach_canary(table, ing, policy)
    table.ingresses = frozenset(ingress_key(i) for i in ordered)
    return table


def _add_primary(table: RouteTable, ing: Mapping[str, Any]) -> None:
    namespace = str((ing.get("metadata") or {}).get("namespace", ""))
    key = ingress_key(ing)
    spec = ing.get("spec") or {}
    default = service_backend(namespace, spec.get("defaultBackend"))
    if default is not None and not spec.get("rules") and table.catch_all.default is None:
        table.catch_all.default = default
    for host, path, path_type, backend in _paths(ing):
        server = table.ensure_server(host, default)
        ref = service_backend(namespace, backend)
        if ref is not None:  # a resource backend: ingress-nginx leaves it to the default backend
            server.add(Location(path, path_type, ref, key))


def _attach_canary(table: RouteTable, ing: Mapping[str, Any], policy: CanaryPolicy) -> None:
    namespace = str((ing.get("metadata") or {}).get("namespace", ""))
    key = ingress_key(ing)
    default = service_backend(namespace, (ing.get("spec") or {}).get("defaultBackend"))
    if default is not None:
        for primary in table.catch_all.backends():
            if primary != default:
                table.canaries.setdefault(primary, Canary(default, policy, key))
    for host, path, path_type, backend in _paths(ing):
        ref = service_backend(namespace, backend)
        server = table.server_named(host)
        if ref is None or server is None:
            continue
        for loc in server.locations:
            if loc.path == path and loc.path_type == path_type and loc.backend != ref:
                table.canaries.setdefault(loc.backend, Canary(ref, policy, key))


# -- requests ------------------------------------------------------------------------------------


def request_host(host_header: str | None) -> str:
    """The host a request names: its ``Host`` header without the port, lower-cased."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):  # an IPv6 literal: keep the brackets, drop the port
        end = host.find("]")
        return host[: end + 1] if end >= 0 else host
    return host.rsplit(":", 1)[0] if ":" in host else host


def normalize_path(path: str) -> str:
    """The path nginx matches locations against: slashes merged, ``.`` and ``..`` resolved."""
    if "//" not in path and "/." not in path:
        return path or "/"
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    text = "/" + "/".join(parts)
    return text + "/" if trailing and text != "/" else text
