"""Apply a manifest to the current kubeconfig context with server-side apply, then list it.

Uses the `kubernetes` Python client, so it needs no kubectl; `kubectl` works just as well:
    KUBECONFIG=$(rollouts cluster kubeconfig --path) kubectl apply --server-side -f demos/sample/app.yaml
"""

from __future__ import annotations

import os
import sys
import time

import yaml
from kubernetes import client, config, dynamic


def main(path: str) -> int:
    config.load_kube_config()
    dyn = dynamic.DynamicClient(client.ApiClient())
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    for doc in docs:
        api = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        meta = doc["metadata"]
        api.server_side_apply(
            body=doc, namespace=meta.get("namespace"), field_manager="rollouts-demo", force_conflicts=True
        )
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        print(f"applied {doc['kind']} {where}{meta['name']}")
    print()
    for doc in docs:
        api = dyn.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
        meta = doc["metadata"]
        obj = api.get(name=meta["name"], namespace=meta.get("namespace"))
        print(
            f"{doc['kind']:<12} {meta['name']:<18} resourceVersion={obj.metadata.resourceVersion} uid={obj.metadata.uid}"
        )
    wait_until_available(dyn, docs)
    kubeconfig = os.environ.get("KUBECONFIG", "~/.kube/config")
    print(f"\nTry:  export KUBECONFIG={kubeconfig}; kubectl get all -n services")
    return 0


def wait_until_available(
    dyn: dynamic.DynamicClient, docs: list[dict[str, object]], timeout: float = 60
) -> None:
    """Wait until every Deployment in ``docs`` has all its replicas available."""
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    api = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    deadline = time.monotonic() + timeout
    for doc in deployments:
        meta = doc["metadata"]
        assert isinstance(meta, dict)
        while True:
            dep = api.get(name=meta["name"], namespace=meta.get("namespace"))
            want = dep.spec.replicas
            have = (dep.status or {}).get("availableReplicas") or 0
            if have == want and (dep.status or {}).get("observedGeneration") == dep.metadata.generation:
                print(f"Deployment {meta['name']}: {have}/{want} pods available")
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"Deployment {meta['name']} has {have}/{want} pods available after {timeout:g}s"
                )
            time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
