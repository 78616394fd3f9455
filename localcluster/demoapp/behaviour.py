"""What a demo container does, worked out from its image reference and its environment.

The public ``argoproj/rollouts-demo`` images are built from one Go program with three
build-time settings (its Makefile and ``release.sh``):

- ``<colour>`` (red, orange, yellow, green, blue, purple): ``COLOR=<colour>``;
- ``bad-<colour>``: also ``ERROR_RATE=15``. The program answers 500 when
  ``rand.Intn(100) >= ERROR_RATE``, so the published "bad" images fail about 85 % of
  ``/color`` requests (not 15 %): :data:`BAD_ERROR_RATE`;
- ``slow-<colour>``: also ``LATENCY=2``, a 2 s sleep before every ``/color`` answer:
  :data:`SLOW_LATENCY_MS`.

The registry has no ``bad-slow-`` images (the Makefile lets ``bad-`` win over ``slow-``);
here ``bad-slow-<colour>`` and ``slow-bad-<colour>`` are accepted as an extension and
combine both. Any other image shows its tag as the version and a colour picked from the tag
(a named colour when the tag is one, else a stable palette pick), so two versions differ.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "BAD_ERROR_RATE",
    "DEMO_COLORS",
    "PALETTE",
    "SLOW_LATENCY_MS",
    "Behaviour",
    "ImageRef",
    "behaviour_for",
    "color_for_tag",
    "parse_image",
    "resolve_behaviour",
]

logger = logging.getLogger("localcluster.demoapp")

#: The colours the rollouts-demo images come in.
DEMO_COLORS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple")
#: Fraction of requests a ``bad-`` image answers with 500 (the real image: ~85 %).
BAD_ERROR_RATE = 0.85
#: Latency a ``slow-`` image adds to each answer, in ms (the real image: 2 s).
SLOW_LATENCY_MS = 2000.0
#: Colours for images that are not rollouts-demo images, picked by a hash of the tag.
PALETTE: tuple[str, ...] = (
    "teal",
    "coral",
    "gold",
    "indigo",
    "crimson",
    "olive",
    "orchid",
    "steelblue",
    "chocolate",
    "seagreen",
    "slateblue",
    "tomato",
)

_DEMO_REPOSITORY = "rollouts-demo"
_COLOR_RE = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,32})$")
_MAX_VERSION_LEN = 128


@dataclass(frozen=True)
class Behaviour:
    """How a demo container behaves.

    ``error_rate`` is the fraction (0..1) of ``/`` and ``/color`` requests answered 500,
    ``latency_ms`` the delay added to each of them, and ``upstreams`` the base URLs whose
    ``/color`` each such request calls in turn.
    """

    color: str
    version: str
    error_rate: float
    latency_ms: float
    upstreams: tuple[str, ...]


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into its parts (``[registry/]path[:tag][@digest]``)."""

    repository: str
    tag: str | None
    digest: str | None

    @property
    def version(self) -> str:
        """The tag; else a short digest (``sha256:0123456789ab``); else ``latest``."""
        if self.tag:
            return self.tag
        if self.digest:
            algorithm, _, hexdigits = self.digest.partition(":")
            return f"{algorithm}:{hexdigits[:12]}" if hexdigits else algorithm
        return "latest"


def parse_image(image: str) -> ImageRef:
    """Split an image reference; a ``:`` before the last ``/`` is a registry port, not a tag."""
    name, _, digest = image.strip().partition("@")
    tag: str | None = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
    return ImageRef(repository=name, tag=tag or None, digest=digest or None)


def behaviour_for(image: str, env: Mapping[str, str]) -> Behaviour:
    """What a container of `image` with `env` does.

    Invalid environment values are ignored; each is logged as a warning on the
    ``localcluster.demoapp`` logger (:func:`resolve_behaviour` returns them instead).
    """
    behaviour, warnings = resolve_behaviour(image, env)
    for warning in warnings:
        logger.warning("%s: %s", image, warning)
    return behaviour


def resolve_behaviour(image: str, env: Mapping[str, str]) -> tuple[Behaviour, tuple[str, ...]]:
    """Like :func:`behaviour_for`, but returns the warnings about ignored values instead of logging.

    Environment overrides: ``COLOR``, ``VERSION``, ``ERROR_RATE`` (a fraction 0..1),
    ``LATENCY_MS`` (milliseconds, >= 0; ``LATENCY`` in seconds, as the real image reads it, is
    used when ``LATENCY_MS`` is absent) and ``UPSTREAM_URL`` (comma-separated base URLs).
    """
    warnings: list[str] = []
    ref = parse_image(image)
    color, version, error_rate, latency_ms = _image_defaults(ref)

    if (value := env.get("COLOR", "").strip()) and _check(
        _COLOR_RE.match(value) is not None,
        warnings,
        f"COLOR={value!r} ignored: want a colour name or #hex",
    ):
        color = value.lower()
    if (value := env.get("VERSION", "").strip()) and _check(
        len(value) <= _MAX_VERSION_LEN and value.isprintable(),
        warnings,
        f"VERSION={value[:40]!r} ignored: want at most {_MAX_VERSION_LEN} printable characters",
    ):
        version = value
    if "ERROR_RATE" in env:
        rate = _parse_float(env["ERROR_RATE"])
        if _check(
            rate is not None and 0.0 <= rate <= 1.0,
            warnings,
            f"ERROR_RATE={env['ERROR_RATE']!r} ignored: want a fraction from 0 to 1 (e.g. 0.15)",
        ):
            error_rate = float(rate or 0.0)
    if "LATENCY_MS" in env:
        latency = _parse_float(env["LATENCY_MS"])
        if _check(
            latency is not None and latency >= 0.0,
            warnings,
            f"LATENCY_MS={env['LATENCY_MS']!r} ignored: want milliseconds >= 0",
        ):
            latency_ms = float(latency or 0.0)
    elif "LATENCY" in env:
        seconds = _parse_float(env["LATENCY"])
        if _check(
            seconds is not None and seconds >= 0.0,
            warnings,
            f"LATENCY={env['LATENCY']!r} ignored: want seconds >= 0",
        ):
            latency_ms = float(seconds or 0.0) * 1000.0
    upstreams = _parse_upstreams(env.get("UPSTREAM_URL", ""), warnings)

    behaviour = Behaviour(
        color=color,
        version=version,
        error_rate=error_rate,
        latency_ms=latency_ms,
        upstreams=upstreams,
    )
    return behaviour, tuple(warnings)


def color_for_tag(tag: str) -> str:
    """A stable colour for a tag: the tag itself when it names a demo or palette colour."""
    if tag.lower() in DEMO_COLORS or tag.lower() in PALETTE:
        return tag.lower()
    digest = hashlib.sha256(tag.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:8], "big") % len(PALETTE)]


def _image_defaults(ref: ImageRef) -> tuple[str, str, float, float]:
    """Colour, version, error rate and latency that the image alone implies."""
    version = ref.version
    if ref.repository.rsplit("/", 1)[-1] == _DEMO_REPOSITORY and ref.tag:
        *flags, colour = ref.tag.lower().split("-")
        if colour in DEMO_COLORS and len(set(flags)) == len(flags) and set(flags) <= {"bad", "slow"}:
            error_rate = BAD_ERROR_RATE if "bad" in flags else 0.0
            latency_ms = SLOW_LATENCY_MS if "slow" in flags else 0.0
            return colour, version, error_rate, latency_ms
    return color_for_tag(version), version, 0.0, 0.0


def _parse_upstreams(raw: str, warnings: list[str]) -> tuple[str, ...]:
    """Comma-separated base URLs; a missing scheme means ``http://``; bad entries are dropped."""
    upstreams: list[str] = []
    for entry in (part.strip() for part in raw.split(",")):
        if not entry:
            continue
        url = entry if "://" in entry else f"http://{entry}"
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError for a port out of range or not a number
        except ValueError:
            valid = False
        if _check(
            valid, warnings, f"UPSTREAM_URL entry {entry!r} ignored: want http(s)://host[:port][/path]"
        ):
            upstreams.append(url)
    return tuple(upstreams)


def _parse_float(raw: str) -> float | None:
    """A finite float, or None."""
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _check(ok: bool, warnings: list[str], message: str) -> bool:
    """Return `ok`; when false, record `message`."""
    if not ok:
        warnings.append(message)
    return ok
