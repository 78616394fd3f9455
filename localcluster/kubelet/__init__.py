"""The kubelet: runs pods as real HTTP workloads (the demo app, or subprocesses) on loopback addresses.

- :mod:`.kubelet` — the controller: the Node, scheduling, pod workers, status writes;
- :mod:`.pods`, :mod:`.containers` — one pod's and one container's life;
- :mod:`.runtimes` — a run of a container: the demo app in-process, or a subprocess;
- :mod:`.probes` — readiness, liveness and startup probes;
- :mod:`.lifecycle` — the pure rules: restart policy, back-off, phase, conditions, status;
- :mod:`.images` — the image table (which images are subprocesses, with what command);
- :mod:`.env` — a container's environment (ConfigMaps, Secrets, downward API);
- :mod:`.ipam` — pod IPs unique across every server on the machine;
- :mod:`.logs` — container logs, served as ``pods/log``;
- :mod:`.events` — Events for ``kubectl describe pod``;
- :mod:`.node` — the Node object and its Lease;
- :mod:`.config` — settings (environment variables) and the state-directory layout.
"""
