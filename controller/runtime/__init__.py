"""The running controller: :mod:`.reconciler` (one key: caches → plan → API writes),
:mod:`.controller` (informers, queue, workers, leader election), :mod:`.metrics`
(Prometheus, ``/healthz``) and :mod:`.cli` (``rollouts controller run``, ``python -m controller``).
"""
