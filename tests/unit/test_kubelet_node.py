"""The Node the kubelet registers: Ready, this machine's facts, heartbeats that keep transition times."""

from __future__ import annotations

from localcluster.kubelet.node import KUBELET_VERSION, node_lease, node_object, node_status

T0, T1 = "2025-01-01T00:00:00Z", "2025-01-01T00:01:00Z"


def test_node_object_is_a_ready_node_on_loopback() -> None:
    node = node_object(T0)
    assert node["metadata"]["name"] == "localcluster"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "localcluster"
    status = node["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"], ready["lastHeartbeatTime"]) == ("True", "KubeletReady", T0)
    assert status["addresses"] == [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": "localcluster"},
    ]
    assert status["nodeInfo"]["kubeletVersion"] == KUBELET_VERSION == "v1.32.0-localcluster"
    assert status["nodeInfo"]["operatingSystem"] == "linux"
    assert status["nodeInfo"]["architecture"] in ("amd64", "arm64")
    assert int(status["capacity"]["cpu"]) >= 1
    assert status["capacity"]["memory"].endswith("Ki")
    assert status["allocatable"] == status["capacity"]


def test_heartbeat_moves_heartbeat_time_but_keeps_transition_time() -> None:
    first = node_status(None, T0)
    later = node_status(first, T1)
    for condition in later["conditions"]:
        assert condition["lastHeartbeatTime"] == T1
        assert condition["lastTransitionTime"] == T0


def test_lease_is_owned_by_the_node_and_renewed() -> None:
    node = node_object(T0)
    node["metadata"]["uid"] = "node-uid"
    lease = node_lease(node, 1_700_000_000.25)
    assert lease["metadata"]["namespace"] == "kube-node-lease"
    assert lease["metadata"]["ownerReferences"][0]["uid"] == "node-uid"
    assert lease["spec"] == {
        "holderIdentity": "localcluster",
        "leaseDurationSeconds": 40,
        "renewTime": "2023-11-14T22:13:20.250000Z",
    }
