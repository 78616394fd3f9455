"""Ingress routing as ingress-nginx does it: which Ingresses, which host, which path, which backend."""

from __future__ import annotations

from typing import Any

import pytest

from localcluster.proxy.balancer import Endpoint
from localcluster.proxy.ingress_backends import RoundRobin, backend_endpoints
from localcluster.proxy.ingress_rules import (
    BackendRef,
    Route,
    build_table,
    is_served,
    normalize_path,
    request_host,
)

NS = "shop"
CANARY = "nginx.ingress.kubernetes.io/canary"


def ingress(
    name: str,
    *,
    rules: list[dict[str, Any]] | None = None,
    default: str | None = None,
    created: str = "2024-01-01T00:00:00Z",
    annotations: dict[str, str] | None = None,
    class_name: str | None = "nginx",
    namespace: str = NS,
) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if class_name:
        spec["ingressClassName"] = class_name
    if rules is not None:
        spec["rules"] = rules
    if default:
        spec["defaultBackend"] = {"service": {"name": default, "port": {"number": 80}}}
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": created,
            "annotations": annotations or {},
        },
        "spec": spec,
    }


def rule(host: str, *paths: tuple[str, str, str]) -> dict[str, Any]:
    """A rule: host and (path, pathType, service) triples, each on the service's port 80."""
    return {
        "host": host,
        "http": {
            "paths": [
                {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
                for p, t, s in paths
            ]
        },
    }


def ref(service: str, port: int | str = 80, namespace: str = NS) -> BackendRef:
    return BackendRef(namespace, service, port)


def nginx_class(
    name: str = "nginx", *, default: bool = False, controller: str = "k8s.io/ingress-nginx"
) -> Any:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}}


# -- which Ingresses -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "class_name", "classes", "served"),
    [
        ("nginx", None, {}, True),  # the legacy annotation alone is enough
        (None, "nginx", {"nginx": nginx_class()}, True),
        (None, "public", {"public": nginx_class("public")}, True),  # any class of this controller
        (None, "nginx", {}, False),  # a class that does not exist
        (None, "traefik", {"traefik": nginx_class("traefik", controller="traefik.io/ingress")}, False),
        ("traefik", "nginx", {"nginx": nginx_class()}, True),  # annotation first, then the class name
        ("traefik", None, {"nginx": nginx_class(default=True)}, False),
        (None, None, {"nginx": nginx_class()}, False),  # no class, and nginx is not the default
        (None, None, {"nginx": nginx_class(default=True)}, True),  # what admission would have set
    ],
)
def test_an_ingress_is_served_by_its_class(
    annotation: str | None, class_name: str | None, classes: dict[str, Any], served: bool
) -> None:
    ing = ingress("web", class_name=class_name)
    if annotation:
        ing["metadata"]["annotations"]["kubernetes.io/ingress.class"] = annotation
    assert is_served(ing, classes) is served


# -- hosts ---------------------------------------------------------------------------------------


def test_hosts_exact_then_single_label_wildcard_then_catch_all() -> None:
    table = build_table(
        [
            ingress("exact", rules=[rule("shop.example.com", ("/", "Prefix", "exact"))]),
            ingress("wild", rules=[rule("*.example.com", ("/", "Prefix", "wild"))]),
            ingress("any", rules=[rule("", ("/", "Prefix", "any"))]),
        ]
    )
    assert table.route("shop.example.com", "/").backend == ref("exact")
    assert table.route("blog.example.com", "/").backend == ref("wild")
    # a wildcard covers exactly one more label, as ingress-nginx's server_name regex does
    assert table.route("a.blog.example.com", "/").backend == ref("any")
    assert table.route("example.com", "/").backend == ref("any")
    assert table.route("elsewhere.org", "/").backend == ref("any")
    assert table.route("", "/").backend == ref("any")


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("Shop.Example.COM", "shop.example.com"),
        ("shop.example.com:8080", "shop.example.com"),
        ("127.0.0.1:31000", "127.0.0.1"),
        ("[::1]:8080", "[::1]"),
        (None, ""),
    ],
)
def test_the_request_host_drops_the_port_and_case(header: str | None, host: str) -> None:
    assert request_host(header) == host


def test_a_host_without_a_matching_path_answers_404_and_does_not_fall_to_the_catch_all() -> None:
    table = build_table(
        [
            ingress("api", rules=[rule("shop.example.com", ("/api", "Prefix", "api"))]),
            ingress("any", rules=[rule("", ("/", "Prefix", "any"))]),
        ]
    )
    assert table.route("shop.example.com", "/api/cart").backend == ref("api")
    assert table.route("shop.example.com", "/other") == Route(None)


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path_type", "path", "asked", "matches"),
    [
        ("Exact", "/foo", "/foo", True),
        ("Exact", "/foo", "/foo/", False),
        ("Exact", "/foo", "/foo/bar", False),
        ("Prefix", "/foo", "/foo", True),
        ("Prefix", "/foo", "/foo/", True),
        ("Prefix", "/foo", "/foo/bar", True),
        ("Prefix", "/foo", "/foobar", False),  # element-wise, not string prefix
        ("Prefix", "/foo/", "/foo/bar", True),
        ("Prefix", "/foo/", "/foo", False),  # ingress-nginx writes no exact twin for a trailing /
        ("Prefix", "/", "/anything/at/all", True),
        ("ImplementationSpecific", "/foo", "/foobar", True),  # nginx's own plain prefix
        ("ImplementationSpecific", "/foo", "/fo", False),
    ],
)
def test_path_types(path_type: str, path: str, asked: str, matches: bool) -> None:
    table = build_table([ingress("web", rules=[rule("h", (path, path_type, "web"))])])
    assert (table.route("h", asked).backend == ref("web")) is matches


def test_the_longest_prefix_wins_and_an_exact_path_beats_every_prefix() -> None:
    table = build_table(
        [
            ingress(
                "web",
                rules=[
                    rule(
                        "h",
                        ("/", "Prefix", "root"),
                        ("/api", "Prefix", "api"),
                        ("/api/v2", "Prefix", "v2"),
                        ("/api/v2/health", "Exact", "health"),
                    )
                ],
            )
        ]
    )
    assert table.route("h", "/index.html").backend == ref("root")
    assert table.route("h", "/api").backend == ref("api")
    assert table.route("h", "/api/v1/x").backend == ref("api")
    assert table.route("h", "/api/v2/x").backend == ref("v2")
    assert table.route("h", "/api/v2/health").backend == ref("health")
    assert table.route("h", "/api/v2/health/deep").backend == ref("v2")


def test_paths_are_matched_after_nginx_normalises_them() -> None:
    table = build_table(
        [ingress("web", rules=[rule("h", ("/api", "Prefix", "api"), ("/", "Prefix", "root"))])]
    )
    assert table.route("h", "//api//cart").backend == ref("api")
    assert table.route("h", "/static/../api/cart").backend == ref("api")
    assert table.route("h", "/api/../static").backend == ref("root")
    assert normalize_path("/a/./b/../c/") == "/a/c/"


def test_the_older_ingress_wins_a_conflict() -> None:
    newer = ingress("newer", rules=[rule("h", ("/", "Prefix", "new"))], created="2024-02-01T00:00:00Z")
    older = ingress("older", rules=[rule("h", ("/", "Prefix", "old"))], created="2024-01-01T00:00:00Z")
    table = build_table([newer, older])
    assert table.route("h", "/").backend == ref("old")
    assert table.route("h", "/").ingress == f"{NS}/older"


# -- default backends ----------------------------------------------------------------------------


def test_default_backends() -> None:
    table = build_table(
        [
            ingress("fallback", default="fallback"),  # no rules: the catch-all default
            ingress(
                "shop", default="shop-default", rules=[rule("shop.example.com", ("/api", "Prefix", "api"))]
            ),
        ]
    )
    assert table.route("shop.example.com", "/api").backend == ref("api")
    assert table.route("shop.example.com", "/elsewhere").backend == ref("shop-default")
    assert table.route("unknown.example.com", "/").backend == ref("fallback")


def test_nothing_served_answers_404() -> None:
    assert build_table([]).route("h", "/") == Route(None)


def test_a_resource_backend_is_left_to_the_default_backend() -> None:
    ing = ingress("web", default="fallback", rules=[rule("h", ("/", "Prefix", "web"))])
    ing["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
        "resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "b"}
    }
    assert build_table([ing]).route("h", "/x").backend == ref("fallback")


def test_a_backend_names_its_port_by_number_or_name() -> None:
    ing = ingress("web", rules=[rule("h", ("/", "Prefix", "web"))])
    ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"name": "http"}
    assert build_table([ing]).route("h", "/").backend == ref("web", "http")


# -- canary Ingresses ----------------------------------------------------------------------------


def canary(name: str, *rules: dict[str, Any], weight: str = "10", **extra: str) -> dict[str, Any]:
    annotations = {CANARY: "true", f"{CANARY}-weight": weight}
    annotations.update({f"{CANARY}-{k.replace('_', '-')}": v for k, v in extra.items()})
    return ingress(name, rules=list(rules), annotations=annotations, created="2024-03-01T00:00:00Z")


def test_a_canary_attaches_to_the_primary_backend_of_the_same_host_path_and_type() -> None:
    table = build_table(
        [
            ingress("stable", rules=[rule("h", ("/", "Prefix", "stable"))]),
            canary("canary", rule("h", ("/", "Prefix", "canary")), weight="25"),
        ]
    )
    # the canary routes nothing itself: the primary path keeps its backend ...
    assert table.route("h", "/").backend == ref("stable")
    # ... which now has the canary as its alternative
    attached = table.canaries[ref("stable")]
    assert attached.backend == ref("canary")
    assert attached.policy.weight == 25
    assert table.ingresses == {f"{NS}/stable", f"{NS}/canary"}
    assert ref("canary") in table.backends()


@pytest.mark.parametrize(
    "canary_rule",
    [
        rule("h", ("/", "Exact", "canary")),  # another path type
        rule("other", ("/", "Prefix", "canary")),  # another host
        rule("h", ("/api", "Prefix", "canary")),  # another path
    ],
)
def test_a_canary_without_a_matching_primary_path_does_nothing(canary_rule: dict[str, Any]) -> None:
    table = build_table(
        [ingress("stable", rules=[rule("h", ("/", "Prefix", "stable"))]), canary("c", canary_rule)]
    )
    assert table.canaries == {}
    assert table.route("other", "/") == Route(None)


def test_the_first_canary_of_a_backend_is_the_one_used() -> None:
    first = canary("first", rule("h", ("/", "Prefix", "first")))
    second = canary("second", rule("h", ("/", "Prefix", "second")))
    second["metadata"]["creationTimestamp"] = "2024-04-01T00:00:00Z"
    table = build_table([second, ingress("stable", rules=[rule("h", ("/", "Prefix", "stable"))]), first])
    assert table.canaries[ref("stable")].backend == ref("first")


def test_a_canary_on_its_own_primary_service_is_ignored() -> None:
    table = build_table(
        [
            ingress("stable", rules=[rule("h", ("/", "Prefix", "web"))]),
            canary("c", rule("h", ("/", "Prefix", "web"))),
        ]
    )
    assert table.canaries == {}


def test_a_canary_default_backend_attaches_to_the_catch_all_server() -> None:
    c = canary("c")
    c["spec"]["defaultBackend"] = {"service": {"name": "canary", "port": {"number": 80}}}
    table = build_table([ingress("fallback", default="fallback"), c])
    assert table.canaries[ref("fallback")].backend == ref("canary")


def test_canary_annotations_without_canary_true_make_a_primary() -> None:
    half = ingress(
        "half",
        rules=[rule("h", ("/", "Prefix", "half"))],
        annotations={f"{CANARY}-weight": "50"},
    )
    table = build_table([half])
    assert table.route("h", "/").backend == ref("half")
    assert table.canaries == {}


# -- backends ------------------------------------------------------------------------------------


def service(*ports: dict[str, Any], kind: str = "ClusterIP") -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": NS}, "spec": {"type": kind, "ports": list(ports)}}


ENDPOINTS = {
    "subsets": [
        {
            "addresses": [{"ip": "127.10.0.1"}, {"ip": "127.10.0.2"}],
            "notReadyAddresses": [{"ip": "127.10.0.3"}],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "admin", "port": 9090}],
        }
    ]
}


@pytest.mark.parametrize("port", [80, "http"])
def test_a_backend_resolves_to_the_ready_endpoints_of_its_service_port(port: int | str) -> None:
    svc = service({"name": "http", "port": 80, "targetPort": 8080}, {"name": "admin", "port": 9000})
    found = backend_endpoints(ref("web", port), svc, ENDPOINTS)
    assert found == (Endpoint("127.10.0.1", 8080), Endpoint("127.10.0.2", 8080))


@pytest.mark.parametrize(
    ("svc", "port"),
    [
        (None, 80),  # no such Service
        (service({"name": "http", "port": 80}), 81),  # no such port
        (service({"name": "http", "port": 80}), "grpc"),
        (service({"name": "http", "port": 80}, kind="ExternalName"), 80),
    ],
)
def test_a_backend_without_a_service_port_has_no_endpoints(
    svc: dict[str, Any] | None, port: int | str
) -> None:
    assert backend_endpoints(ref("web", port), svc, ENDPOINTS) == ()


def test_round_robin_takes_endpoints_in_turn_and_survives_updates() -> None:
    a, b, c = Endpoint("127.10.0.1", 80), Endpoint("127.10.0.2", 80), Endpoint("127.10.0.3", 80)
    rr = RoundRobin((a, b, c))
    assert [rr.pick() for _ in range(6)] == [a, b, c, a, b, c]
    rr.pick()
    rr.update((a, b))
    assert {rr.pick(), rr.pick()} == {a, b}
    rr.update(())
    assert not rr
    assert rr.pick() is None


def test_a_canary_applies_wherever_its_primary_service_port_is_used() -> None:
    """ingress-nginx attaches a canary to the upstream (namespace, Service, port), not to the path:
    another host sending to the same Service port gets the canary too (kubernetes/ingress-nginx#4667)."""
    table = build_table(
        [
            ingress("a", rules=[rule("a.example.com", ("/", "Prefix", "stable"))]),
            ingress("b", rules=[rule("b.example.com", ("/", "Prefix", "stable"))]),
            canary("c", rule("a.example.com", ("/", "Prefix", "canary"))),
        ]
    )
    route = table.route("b.example.com", "/")
    assert route.backend == ref("stable")
    assert table.canaries[route.backend].backend == ref("canary")
