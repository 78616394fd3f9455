"""The object rules of the API, over HTTP against a running localcluster."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from tests.conftest import Cluster


def configmap(name: str, ns: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


def deployment(name: str, ns: str, image: str = "nginx:1.27", replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def test_request_without_valid_token_gets_401_status(cluster: Cluster) -> None:
    status, body, _ = cluster.request("GET", "/api/v1/namespaces", token="wrong")
    assert status == 401
    assert body["kind"] == "Status"
    assert body["code"] == 401
    assert body["reason"] == "Unauthorized"
    # /version and health checks are public, as on a real server
    assert cluster.request("GET", "/version", token="")[0] == 200


def test_create_sets_identity_and_get_returns_it(cluster: Cluster, namespace: str) -> None:
    status, created, _ = cluster.request(
        "POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap("a", namespace, k="v")
    )
    assert status == 201
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    status, got, _ = cluster.request("GET", f"/api/v1/namespaces/{namespace}/configmaps/a")
    assert status == 200
    assert got["metadata"]["uid"] == meta["uid"]
    assert got["data"] == {"k": "v"}


def test_create_twice_is_409_already_exists(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    assert cluster.request("POST", path, configmap("dup", namespace))[0] == 201
    status, body, _ = cluster.request("POST", path, configmap("dup", namespace))
    assert status == 409
    assert body["reason"] == "AlreadyExists"
    assert body["message"] == 'configmaps "dup" already exists'
    assert body["details"] == {"name": "dup", "kind": "configmaps"}


def test_missing_object_is_404_naming_it(cluster: Cluster, namespace: str) -> None:
    status, body, _ = cluster.request("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/nope")
    assert status == 404
    assert body["message"] == 'deployments.apps "nope" not found'


def test_generate_name(cluster: Cluster, namespace: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    status, created, _ = cluster.request("POST", f"/api/v1/namespaces/{namespace}/configmaps", body)
    assert status == 201
    name = created["metadata"]["name"]
    assert name.startswith("gen-")
    assert len(name) == len("gen-") + 5


def test_resource_version_is_global_and_increasing(cluster: Cluster, namespace: str) -> None:
    rvs = []
    for i in range(3):
        _, obj, _ = cluster.request(
            "POST", f"/api/v1/namespaces/{namespace}/configmaps", configmap(f"rv{i}", namespace)
        )
        rvs.append(int(obj["metadata"]["resourceVersion"]))
    _, dep, _ = cluster.request(
        "POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("d", namespace)
    )
    rvs.append(int(dep["metadata"]["resourceVersion"]))
    assert rvs == sorted(rvs)
    assert len(set(rvs)) == 4


def test_stale_resource_version_on_update_is_409_conflict(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, obj, _ = cluster.request("POST", path, configmap("c", namespace, a="1"))
    stale = dict(obj, data={"a": "2"})
    assert cluster.request("PUT", f"{path}/c", stale)[0] == 200
    stale["data"] = {"a": "3"}
    status, body, _ = cluster.request("PUT", f"{path}/c", stale)
    assert status == 409
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert cluster.request("GET", f"{path}/c")[1]["data"] == {"a": "2"}


def test_generation_bumps_only_on_spec_change(cluster: Cluster, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    _, dep, _ = cluster.request("POST", path, deployment("g", namespace))
    assert dep["metadata"]["generation"] == 1
    _, dep, _ = cluster.request(
        "PATCH",
        f"{path}/g",
        {"metadata": {"labels": {"x": "y"}}},
        content_type="application/merge-patch+json",
    )
    assert dep["metadata"]["generation"] == 1
    _, dep, _ = cluster.request(
        "PATCH", f"{path}/g", {"spec": {"replicas": 3}}, content_type="application/merge-patch+json"
    )
    assert dep["metadata"]["generation"] == 2


def ingress(name: str, ns: str) -> dict[str, Any]:
    """An Ingress: a kind with a spec, a status subresource and no controller touching it here."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }


def test_noop_write_changes_nothing(cluster: Cluster, namespace: str) -> None:
    path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    _, ing, _ = cluster.request("POST", path, ingress("n", namespace))
    status, again, _ = cluster.request(
        "PATCH",
        f"{path}/n",
        {"spec": {"defaultBackend": {"service": {"name": "web"}}}},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    assert again == ing


def test_status_and_main_resource_are_kept_apart(cluster: Cluster, namespace: str) -> None:
    path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    cluster.request("POST", path, ingress("s", namespace))
    lb = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
    # status in a main-resource write is ignored
    _, ing, _ = cluster.request(
        "PATCH",
        f"{path}/s",
        {"spec": {"ingressClassName": "nginx"}, "status": lb},
        content_type="application/merge-patch+json",
    )
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing.get("status", {}).get("loadBalancer", {}) == {}
    assert ing["metadata"]["generation"] == 2
    # spec in a status write is ignored, and status writes do not bump generation
    status, ing, _ = cluster.request(
        "PATCH",
        f"{path}/s/status",
        {"spec": {"ingressClassName": "other"}, "status": lb},
        content_type="application/merge-patch+json",
    )
    assert status == 200
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["status"] == lb
    assert ing["metadata"]["generation"] == 2


def test_dry_run_persists_nothing(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, obj, _ = cluster.request("POST", f"{path}?dryRun=All", configmap("dry", namespace))
    assert status == 201
    assert obj["metadata"]["name"] == "dry"
    assert cluster.request("GET", f"{path}/dry")[0] == 404


def test_scale_subresource(cluster: Cluster, namespace: str) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    cluster.request("POST", path, deployment("sc", namespace))
    status, scale, _ = cluster.request(
        "PATCH", f"{path}/sc/scale", {"spec": {"replicas": 5}}, content_type="application/merge-patch+json"
    )
    assert status == 200
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 5
    assert cluster.request("GET", f"{path}/sc")[1]["spec"]["replicas"] == 5


def test_finalizers_hold_deletion_until_removed(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = configmap("fin", namespace)
    body["metadata"]["finalizers"] = ["example.com/hold"]
    cluster.request("POST", path, body)
    status, obj, _ = cluster.request("DELETE", f"{path}/fin")
    assert status == 200
    assert obj["metadata"]["deletionTimestamp"]
    assert cluster.request("GET", f"{path}/fin")[0] == 200
    cluster.request(
        "PATCH",
        f"{path}/fin",
        {"metadata": {"finalizers": None}},
        content_type="application/merge-patch+json",
    )
    assert cluster.request("GET", f"{path}/fin")[0] == 404


def test_owner_deletion_collects_dependents(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, owner, _ = cluster.request("POST", path, configmap("owner", namespace))
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    child = configmap("child", namespace)
    child["metadata"]["ownerReferences"] = [ref]
    cluster.request("POST", path, child)
    orphan_owner = configmap("keeper", namespace)
    _, keeper, _ = cluster.request("POST", path, orphan_owner)
    kept = configmap("kept", namespace)
    kept["metadata"]["ownerReferences"] = [
        ref,
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": keeper["metadata"]["uid"]},
    ]
    cluster.request("POST", path, kept)
    cluster.request("DELETE", f"{path}/owner")
    wait_until(lambda: cluster.request("GET", f"{path}/child")[0] == 404)
    # a dependent with another live owner stays, without the dangling reference
    refs = wait_until(
        lambda: (
            [r["name"] for r in cluster.request("GET", f"{path}/kept")[1]["metadata"]["ownerReferences"]]
            == ["keeper"]
        )
    )
    assert refs


def test_orphan_propagation_keeps_dependents(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, owner, _ = cluster.request("POST", path, configmap("o", namespace))
    child = configmap("oc", namespace)
    child["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": owner["metadata"]["uid"]}
    ]
    cluster.request("POST", path, child)
    cluster.request("DELETE", f"{path}/o", {"propagationPolicy": "Orphan"})
    wait_until(lambda: cluster.request("GET", f"{path}/o")[0] == 404)
    status, orphan, _ = cluster.request("GET", f"{path}/oc")
    assert status == 200
    assert "ownerReferences" not in orphan["metadata"]


def test_foreground_deletion_removes_dependents_first(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _, owner, _ = cluster.request("POST", path, configmap("fg", namespace))
    child = configmap("fgc", namespace)
    child["metadata"]["ownerReferences"] = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "name": "fg",
            "uid": owner["metadata"]["uid"],
            "blockOwnerDeletion": True,
        }
    ]
    cluster.request("POST", path, child)
    status, pending, _ = cluster.request("DELETE", f"{path}/fg?propagationPolicy=Foreground")
    assert status == 200
    assert "foregroundDeletion" in pending["metadata"]["finalizers"]
    wait_until(lambda: cluster.request("GET", f"{path}/fg")[0] == 404)
    assert cluster.request("GET", f"{path}/fgc")[0] == 404


def test_namespace_deletion_removes_its_contents(cluster: Cluster) -> None:
    ns = "doomed-ns"
    cluster.request("POST", "/api/v1/namespaces", {"metadata": {"name": ns}})
    cluster.request("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap("x", ns))
    cluster.request("POST", f"/apis/apps/v1/namespaces/{ns}/deployments", deployment("y", ns))
    status, body, _ = cluster.request("DELETE", f"/api/v1/namespaces/{ns}")
    assert status == 200
    assert body["status"]["phase"] == "Terminating"
    wait_until(lambda: cluster.request("GET", f"/api/v1/namespaces/{ns}")[0] == 404)
    assert cluster.request("GET", f"/api/v1/namespaces/{ns}/configmaps/x")[0] == 404
    # creating in a missing namespace names it
    status, body, _ = cluster.request("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap("z", ns))
    assert status == 404
    assert body["message"] == f'namespaces "{ns}" not found'


def test_list_with_label_and_field_selectors(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, labels in [
        ("l1", {"tier": "web", "env": "prod"}),
        ("l2", {"tier": "db"}),
        ("l3", {"env": "dev"}),
    ]:
        body = configmap(name, namespace)
        body["metadata"]["labels"] = labels
        cluster.request("POST", path, body)

    def names(query: str) -> list[str]:
        status, body, _ = cluster.request("GET", f"{path}?{query}")
        assert status == 200, body
        return [i["metadata"]["name"] for i in body["items"]]

    assert names("labelSelector=tier%3Dweb") == ["l1"]
    assert names("labelSelector=tier%20in%20(web,db)") == ["l1", "l2"]
    assert names("labelSelector=!tier") == ["l3"]
    assert names("labelSelector=env,tier!%3Ddb") == ["l1", "l3"]
    assert names("fieldSelector=metadata.name%3Dl2") == ["l2"]
    status, body, _ = cluster.request("GET", f"{path}?labelSelector=a%20in%20b")
    assert status == 400
    status, body, _ = cluster.request("GET", f"{path}?fieldSelector=spec.bogus%3Dx")
    assert status == 400
    assert "spec.bogus" in body["message"]


def test_list_pagination_with_limit_and_continue(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(7):
        cluster.request("POST", path, configmap(f"p{i}", namespace))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        query = "limit=3" + (f"&continue={token}" if token else "")
        _, body, _ = cluster.request("GET", f"{path}?{query}")
        seen += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        token = body["metadata"].get("continue", "")
        if not token:
            break
    assert seen == [f"p{i}" for i in range(7)]
    assert pages == 3


def test_table_output_for_kubectl_get(cluster: Cluster, namespace: str) -> None:
    cluster.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", deployment("t", namespace))
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    status, table, _ = cluster.request(
        "GET", f"/apis/apps/v1/namespaces/{namespace}/deployments", headers={"Accept": accept}
    )
    assert status == 200
    assert table["kind"] == "Table"
    columns = [c["name"] for c in table["columnDefinitions"]]
    assert columns[:5] == ["Name", "Ready", "Up-to-date", "Available", "Age"]
    assert table["rows"][0]["cells"][:2] == ["t", "0/2"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_errors_are_status_objects_naming_the_problem(cluster: Cluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    status, body, _ = cluster.request("POST", path, raw=b"{not json")
    assert status == 400
    assert body["kind"] == "Status"
    status, body, _ = cluster.request("POST", path, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    assert status == 422
    assert body["reason"] == "Invalid"
    assert "metadata.name" in body["message"]
    status, body, _ = cluster.request(
        "POST", path + "?fieldValidation=Strict", {**configmap("u", namespace), "bogus": 1}
    )
    assert status == 400
    assert 'unknown field "bogus"' in body["message"]
    status, body, _ = cluster.request("GET", "/apis/nope.example.com/v1/things")
    assert status == 404
    assert body["kind"] == "Status"


def test_services_get_loopback_cluster_ips_and_node_ports_that_updates_keep(
    cluster: Cluster, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/services"
    body = {
        "metadata": {"name": "np"},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    status, svc, _ = cluster.request("POST", path, body)
    assert status == 201, svc
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in ipaddress.ip_network("127.96.0.0/12")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    # a PUT that leaves out the allocated addresses keeps them
    body["metadata"]["resourceVersion"] = svc["metadata"]["resourceVersion"]
    body["metadata"]["labels"] = {"changed": "yes"}
    status, updated, _ = cluster.request("PUT", f"{path}/np", body)
    assert status == 200, updated
    assert updated["spec"]["clusterIP"] == svc["spec"]["clusterIP"]
    assert updated["spec"]["ports"][0]["nodePort"] == node_port
    # the same node port cannot be taken twice
    taken = {
        "metadata": {"name": "np2"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": node_port}]},
    }
    status, err, _ = cluster.request("POST", path, taken)
    assert status == 422
    assert "already allocated" in err["message"]


def test_server_side_apply_needs_a_field_manager(cluster: Cluster, namespace: str) -> None:
    status, body, _ = cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/configmaps/ssa",
        configmap("ssa", namespace, a="b"),
        content_type="application/apply-patch+yaml",
    )
    assert status == 400
    assert "fieldManager" in body["message"]
    status, body, _ = cluster.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/configmaps/ssa?fieldManager=me",
        configmap("ssa", namespace, a="b"),
        content_type="application/apply-patch+yaml",
    )
    assert status == 201
    assert [(m["manager"], m["operation"]) for m in body["metadata"]["managedFields"]] == [("me", "Apply")]


def test_review_regressions_bad_input_and_options(cluster: Cluster, namespace: str) -> None:
    """Inputs that once gave 500s or did the wrong thing now answer as the real server."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cluster.request("POST", path, configmap("keep", namespace))
    # a dry-run delete of the collection, asked for in the body, deletes nothing
    status, _, _ = cluster.request("DELETE", path, {"dryRun": ["All"]})
    assert status == 200
    assert cluster.request("GET", f"{path}/keep")[0] == 200
    # malformed DeleteOptions and metadata are 400s, not 500s
    assert cluster.request("DELETE", f"{path}/keep", ["x"])[0] == 400
    assert cluster.request("DELETE", f"{path}/keep", {"dryRun": "All"})[0] == 400
    assert cluster.request("POST", path, {"metadata": {"name": "x", "labels": ["a"]}})[0] == 400
    assert cluster.request("POST", path, {"metadata": {"name": 5}})[0] == 400
    bad_refs = {"metadata": {"name": "refs", "ownerReferences": ["x"]}}
    assert cluster.request("POST", path, bad_refs)[0] == 400
    # YAML dates stay strings (server-side apply bodies are YAML)
    status, body, _ = cluster.request(
        "PATCH",
        f"{path}/dated?fieldManager=t",
        raw=f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: dated, namespace: {namespace}}}\ndata: {{day: 2024-01-01}}\n".encode(),
        content_type="application/apply-patch+yaml",
    )
    assert status == 201, body
    assert body["data"]["day"] == "2024-01-01"
    # a watch from a resourceVersion the server has not reached tells the client to re-list
    status, listed, _ = cluster.request("GET", path)
    too_new = int(listed["metadata"]["resourceVersion"]) + 1000
    status, text, _ = cluster.request("GET", f"{path}?watch=true&resourceVersion={too_new}&timeoutSeconds=2")
    event = text if isinstance(text, dict) else __import__("json").loads(str(text).splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"
