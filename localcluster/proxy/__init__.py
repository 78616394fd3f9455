"""Service proxies: ClusterIP and NodePort traffic over ready endpoints, on loopback."""
