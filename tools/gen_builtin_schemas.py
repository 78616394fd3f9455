"""Generate localcluster's schema data for the built-in kinds it serves.

The data is the Kubernetes 1.32 OpenAPI schemas as shipped by the `kubernetes-validate`
package (Apache-2.0), trimmed to the kinds localcluster serves and the definitions they
reach, with descriptions removed. It gives the strategic-merge-patch keys, the list types
server-side apply needs, and the known fields for `fieldValidation=Strict`.

Run it only to refresh the data (kubernetes-validate is not a runtime dependency):

    pip download --no-deps kubernetes-validate -d /tmp/kv
    python tools/gen_builtin_schemas.py /tmp/kv/kubernetes_validate-*.whl
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

K8S_VERSION = "v1.32.0"
OUT = Path(__file__).resolve().parent.parent / "localcluster" / "apiserver" / "data" / "builtin-schemas.json"

# "group/version/Kind" -> definition name
ROOTS: dict[str, str] = {
    "v1/Namespace": "io.k8s.api.core.v1.Namespace",
    "v1/Pod": "io.k8s.api.core.v1.Pod",
    "v1/Service": "io.k8s.api.core.v1.Service",
    "v1/Endpoints": "io.k8s.api.core.v1.Endpoints",
    "v1/ConfigMap": "io.k8s.api.core.v1.ConfigMap",
    "v1/Secret": "io.k8s.api.core.v1.Secret",
    "v1/ServiceAccount": "io.k8s.api.core.v1.ServiceAccount",
    "v1/Event": "io.k8s.api.core.v1.Event",
    "v1/Node": "io.k8s.api.core.v1.Node",
    "apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment",
    "apps/v1/ReplicaSet": "io.k8s.api.apps.v1.ReplicaSet",
    "apps/v1/ControllerRevision": "io.k8s.api.apps.v1.ControllerRevision",
    "batch/v1/Job": "io.k8s.api.batch.v1.Job",
    "networking.k8s.io/v1/Ingress": "io.k8s.api.networking.v1.Ingress",
    "networking.k8s.io/v1/IngressClass": "io.k8s.api.networking.v1.IngressClass",
    "coordination.k8s.io/v1/Lease": "io.k8s.api.coordination.v1.Lease",
    "rbac.authorization.k8s.io/v1/Role": "io.k8s.api.rbac.v1.Role",
    "rbac.authorization.k8s.io/v1/RoleBinding": "io.k8s.api.rbac.v1.RoleBinding",
    "rbac.authorization.k8s.io/v1/ClusterRole": "io.k8s.api.rbac.v1.ClusterRole",
    "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "io.k8s.api.rbac.v1.ClusterRoleBinding",
    "apiextensions.k8s.io/v1/CustomResourceDefinition": (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"
    ),
    "autoscaling/v1/Scale": "io.k8s.api.autoscaling.v1.Scale",
}

KEEP = {
    "type",
    "properties",
    "items",
    "additionalProperties",
    "required",
    "enum",
    "format",
    "oneOf",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-patch-strategy",
    "x-kubernetes-patch-merge-key",
    "x-kubernetes-map-type",
    "x-kubernetes-group-version-kind",
}


def _trim(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out["$ref"] = value.rsplit("/", 1)[-1]
            elif key == "properties":
                out[key] = {name: _trim(sub) for name, sub in value.items()}
            elif key in KEEP:
                out[key] = _trim(value)
        if isinstance(out.get("type"), list):
            kinds = [t for t in out["type"] if t != "null"]
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
        return out
    if isinstance(node, list):
        return [_trim(v) for v in node]
    return node


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            elif key == "properties":
                for sub in value.values():
                    found |= _refs(sub)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def main(wheel: str) -> None:
    member = f"kubernetes_validate/kubernetes-json-schema/{K8S_VERSION}-local/_definitions.json"
    with zipfile.ZipFile(wheel) as zf:
        all_defs = json.loads(zf.read(member))["$defs"]
    defs: dict[str, Any] = {}
    todo = list(ROOTS.values())
    while todo:
        name = todo.pop()
        if name in defs:
            continue
        defs[name] = _trim(all_defs[name])
        todo.extend(_refs(defs[name]) - defs.keys())
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = {"kubernetesVersion": K8S_VERSION, "roots": ROOTS, "defs": dict(sorted(defs.items()))}
    OUT.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n")
    print(f"wrote {OUT} ({len(defs)} definitions, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
