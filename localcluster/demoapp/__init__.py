"""The demo app that localcluster's pods run in-process: the ``argoproj/rollouts-demo`` images and more.

A container's image and environment give its :class:`Behaviour` (:func:`behaviour_for`):
colour, version, error rate, latency and upstreams. :func:`make_app` builds the aiohttp
application for it; :func:`serve` runs one on an exact loopback address and returns a
:class:`DemoServer` to stop it. See :mod:`.behaviour` for how images map to behaviour and
:mod:`.app` for the routes.
"""

from localcluster.demoapp.app import make_app
from localcluster.demoapp.behaviour import (
    BAD_ERROR_RATE,
    SLOW_LATENCY_MS,
    Behaviour,
    behaviour_for,
    resolve_behaviour,
)
from localcluster.demoapp.server import DemoServer, serve

__all__ = [
    "BAD_ERROR_RATE",
    "SLOW_LATENCY_MS",
    "Behaviour",
    "DemoServer",
    "behaviour_for",
    "make_app",
    "resolve_behaviour",
    "serve",
]
