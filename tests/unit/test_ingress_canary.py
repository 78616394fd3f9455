"""ingress-nginx's canary annotations and its per-request choice: header, then cookie, then weight."""

from __future__ import annotations

import random

import pytest

from localcluster.proxy.ingress_rules import CanaryPolicy, canary_policy, cookie_value, routes_to_canary

P = "nginx.ingress.kubernetes.io/"


def policy(**annotations: str) -> CanaryPolicy:
    parsed = canary_policy(
        {P + "canary": "true", **{P + k.replace("_", "-"): v for k, v in annotations.items()}}
    )
    assert parsed is not None
    return parsed


def choose(
    p: CanaryPolicy, headers: dict[str, str] | None = None, cookie: str | None = None, seed: int = 1
) -> bool:
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    return routes_to_canary(p, lambda name: lowered.get(name.lower()), cookie, random.Random(seed))


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "t", "T"])
def test_canary_takes_go_booleans(value: str) -> None:
    assert canary_policy({P + "canary": value}) == CanaryPolicy()


@pytest.mark.parametrize(
    "annotations", [{}, {P + "canary": "false"}, {P + "canary": "yes"}, {P + "canary-weight": "50"}]
)
def test_not_a_canary(annotations: dict[str, str]) -> None:
    assert canary_policy(annotations) is None


def test_only_the_default_annotation_prefix_is_read() -> None:
    assert canary_policy({"custom.ingress.kubernetes.io/canary": "true"}) is None


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"canary_weight": "10"}, CanaryPolicy(weight=10)),
        ({"canary_weight": "ten"}, CanaryPolicy(weight=0)),  # not an integer: 0
        ({"canary_weight": "10.5"}, CanaryPolicy(weight=0)),
        ({"canary_weight": "5", "canary_weight_total": "1000"}, CanaryPolicy(weight=5, weight_total=1000)),
        ({"canary_weight_total": "many"}, CanaryPolicy(weight_total=100)),
        ({"canary_by_header": "X-Canary"}, CanaryPolicy(header="X-Canary")),
        ({"canary_by_header": "X_Canary"}, CanaryPolicy(header="X-Canary")),  # nginx's $http_x_canary
        ({"canary_by_header": "X Canary"}, CanaryPolicy()),  # outside ingress-nginx's characters
        ({"canary_by_header_value": "on"}, CanaryPolicy(header_value="on")),
        ({"canary_by_cookie": "beta"}, CanaryPolicy(cookie="beta")),
        ({"canary_by_cookie": "be;ta"}, CanaryPolicy()),
    ],
)
def test_canary_annotations_parse_as_ingress_nginx_does(
    annotations: dict[str, str], expected: CanaryPolicy
) -> None:
    assert policy(**annotations) == expected


def test_a_header_pattern_that_does_not_compile_is_ignored() -> None:
    assert policy(canary_by_header="X-Canary", canary_by_header_pattern="(").header_pattern is None
    assert policy(canary_by_header_pattern="^v2").header_pattern is not None


# -- the choice ----------------------------------------------------------------------------------


def test_header_always_and_never_override_the_weight() -> None:
    p = policy(canary_by_header="X-Canary", canary_weight="100")
    assert choose(p, {"X-Canary": "always"})
    assert not choose(p, {"X-Canary": "never"})
    assert choose(p, {"x-canary": "something else"})  # any other value: on to the weight (100)
    assert choose(p)
    zero = policy(canary_by_header="X-Canary", canary_weight="0")
    assert choose(zero, {"X-Canary": "always"})
    assert not choose(zero, {"X-Canary": "maybe"})


def test_header_value_is_an_exact_match_and_otherwise_falls_through() -> None:
    p = policy(canary_by_header="X-Canary", canary_by_header_value="beta-testers")
    assert choose(p, {"X-Canary": "beta-testers"})
    assert not choose(p, {"X-Canary": "beta"})
    assert not choose(p, {"X-Canary": "always"})  # the value replaces always/never
    # a mismatch falls through to the cookie
    cookie_too = policy(canary_by_header="X-Canary", canary_by_header_value="on", canary_by_cookie="c")
    assert choose(cookie_too, {"X-Canary": "off"}, cookie="c=always")


def test_header_pattern_is_a_regex_search_and_the_value_takes_precedence() -> None:
    p = policy(canary_by_header="User-Agent", canary_by_header_pattern="Firefox|Safari")
    assert choose(p, {"User-Agent": "Mozilla/5.0 Firefox/120"})
    assert not choose(p, {"User-Agent": "curl/8"})
    both = policy(canary_by_header="X-Canary", canary_by_header_value="v2", canary_by_header_pattern=".*")
    assert not choose(both, {"X-Canary": "v3"})
    assert choose(both, {"X-Canary": "v2"})


def test_cookie_always_and_never_come_after_the_header() -> None:
    p = policy(canary_by_header="X-Canary", canary_by_cookie="canary", canary_weight="100")
    assert not choose(p, cookie="session=1; canary=never")
    assert choose(p, cookie="canary=always")
    assert not choose(p, {"X-Canary": "never"}, cookie="canary=always")  # the header decides first
    assert choose(p, {"X-Canary": "always"}, cookie="canary=never")
    assert choose(p, cookie="canary=other")  # neither: the weight (100)


@pytest.mark.parametrize(
    ("header", "name", "value"),
    [
        ("a=1; canary=always; b=2", "canary", "always"),
        ("canary=never;canary=always", "canary", "never"),
        ('canary="always"', "canary", "always"),
        ("xcanary=always", "canary", None),
        ("", "canary", None),
        (None, "canary", None),
    ],
)
def test_cookie_value(header: str | None, name: str, value: str | None) -> None:
    assert cookie_value(header, name) == value


@pytest.mark.parametrize(
    ("weight", "total", "share"),
    [
        ("0", None, 0.0),
        ("10", None, 0.10),
        ("50", None, 0.50),
        ("100", None, 1.0),
        ("150", None, 1.0),
        ("10", "1000", 0.01),
        ("25", "50", 0.25),  # a total below 100 is not used by the balancer: out of 100
    ],
)
def test_weight_sends_its_share_of_requests(weight: str, total: str | None, share: float) -> None:
    extra = {"canary_weight_total": total} if total else {}
    p = policy(canary_weight=weight, **extra)
    rng = random.Random(7)
    n = 20_000
    hits = sum(routes_to_canary(p, lambda _: None, None, rng) for _ in range(n))
    sigma = (n * share * (1 - share)) ** 0.5
    assert abs(hits - n * share) <= 4 * sigma + 1e-9, hits


def test_the_weighted_choice_is_reproducible_with_a_seeded_generator() -> None:
    p = policy(canary_weight="30")
    first = [
        routes_to_canary(p, lambda _: None, None, rng) for rng in [random.Random(42)] for _ in range(200)
    ]
    again = [
        routes_to_canary(p, lambda _: None, None, rng) for rng in [random.Random(42)] for _ in range(200)
    ]
    assert first == again
    assert 0 < sum(first) < 200
